package lab

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// newXDPPass loads the smallest XDP program: return XDP_PASS (2). Its only
// purpose is to exist on the bridge-side peer of a director's veth, which
// gives that peer a NAPI instance so it accepts the director's XDP_TX
// frames (see the package doc).
func newXDPPass() (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "xlb_lab_pass",
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load xdp pass program: %w", err)
	}
	return prog, nil
}

// attachPeerXDP attaches XDP_PASS in native mode to the director's
// bridge-side peer. The link is kept open for the lab's lifetime; closing it
// (Close) detaches the program.
func (l *Lab) attachPeerXDP(h Host) error {
	prog, err := newXDPPass()
	if err != nil {
		return err
	}
	// The link holds its own reference to the program.
	defer prog.Close()
	brh, err := l.netlinkAt(l.bridgeNS)
	if err != nil {
		return err
	}
	defer brh.Close()
	peer, err := brh.LinkByName(h.Peer)
	if err != nil {
		return fmt.Errorf("find %s: %w", h.Peer, err)
	}
	var lk link.Link
	// BPF_LINK_CREATE resolves the ifindex in the caller's namespace, so
	// the attach must run inside the bridge namespace.
	err = l.InNS(l.Bridge(), func() error {
		var err error
		lk, err = link.AttachXDP(link.XDPOptions{
			Program:   prog,
			Interface: peer.Attrs().Index,
			Flags:     link.XDPDriverMode,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("attach xdp to %s: %w", h.Peer, err)
	}
	l.mu.Lock()
	l.xdpLinks[h.Peer] = lk
	l.mu.Unlock()
	return nil
}

// detachPeerXDP removes the XDP_PASS program from a peer (for experiments).
func (l *Lab) detachPeerXDP(peer string) error {
	l.mu.Lock()
	lk := l.xdpLinks[peer]
	delete(l.xdpLinks, peer)
	l.mu.Unlock()
	if lk == nil {
		return nil
	}
	return lk.Close()
}
