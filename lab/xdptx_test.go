package lab

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// miniDR is a DR director in 20 instructions: IPv4 packets to the VIP get
// the real server's MAC as destination, the director's as source, and go
// back out with XDP_TX; everything else passes. It exists to measure the
// veth conditions for XDP_TX documented in the package comment.
func miniDR(vip [4]byte, dirMAC, rsMAC net.HardwareAddr) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 34), // ethernet + minimal IPv4 header
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, 0x0008, "pass"), // ETH_P_IP, read little-endian
		asm.LoadMem(asm.R5, asm.R2, 30, asm.Word),
		asm.JNE.Imm(asm.R5, int32(binary.LittleEndian.Uint32(vip[:])), "pass"),
	}
	for i, b := range rsMAC {
		insns = append(insns, asm.StoreImm(asm.R2, int16(i), int64(b), asm.Byte))
	}
	for i, b := range dirMAC {
		insns = append(insns, asm.StoreImm(asm.R2, int16(6+i), int64(b), asm.Byte))
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 3), // XDP_TX
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
		asm.Return(),
	)
	return ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: insns})
}

// TestXDPTXNeedsPeerNAPI measures when a director's XDP_TX frames on a veth
// reach the real server, and checks the lab's set-up makes them pass.
func TestXDPTXNeedsPeerNAPI(t *testing.T) {
	l := newTestLab(t, Options{BigFileBytes: 4096})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir, rs, client := l.Directors()[0], l.RealServers()[0], l.Client()
	br := l.Bridge()

	prog, err := miniDR(l.VIP().As4(), dir.MAC, rs.MAC)
	if err != nil {
		t.Fatalf("load mini DR program: %v", err)
	}
	defer prog.Close()
	var lk link.Link
	err = l.InNS(dir, func() error {
		ifc, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		lk, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		t.Fatalf("attach mini DR to %s eth0: %v", dir.Name, err)
	}
	defer lk.Close()
	// Nobody answers ARP for the VIP in this experiment (xlb would).
	if _, err := l.Exec(ctx, client, "ip", "neigh", "replace", l.VIP().String(),
		"lladdr", dir.MAC.String(), "dev", "eth0", "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	vipURL := "http://" + l.VIP().String() + "/"
	try := func() (string, error) { return l.Curl(ctx, vipURL, "--max-time", "3") }
	xdpStats := func() string {
		out, _ := l.Exec(ctx, dir, "ethtool", "-S", "eth0")
		var keep []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "xdp") || strings.Contains(line, "drop") {
				keep = append(keep, strings.TrimSpace(line))
			}
		}
		return strings.Join(keep, ", ")
	}
	// expect asserts what the lab guarantees; observe only records kernel
	// behaviour (documented in the package comment) without failing, since
	// another kernel may differ.
	expect := func(what string) {
		t.Helper()
		got, err := try()
		if err != nil || got != rs.Name+"\n" {
			t.Errorf("%s: want %q through XDP_TX, got %q, %v; dir1 eth0: %s", what, rs.Name+"\n", got, err, xdpStats())
			return
		}
		t.Logf("%s: passes", what)
	}
	observe := func(what string) {
		t.Helper()
		got, err := try()
		verdict := "PASSES"
		if err != nil {
			verdict = "DROPPED"
		}
		t.Logf("observed: %s: %s (%q, %v); dir1 eth0: %s", what, verdict, got, err, xdpStats())
	}
	ethtool := func(h Host, args ...string) {
		t.Helper()
		if _, err := l.Exec(ctx, h, append([]string{"ethtool"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}

	expect("peer has XDP_PASS (lab default)")

	if err := l.detachPeerXDP(dir.Peer); err != nil {
		t.Fatal(err)
	}
	out, _ := l.Exec(ctx, br, "ethtool", "-k", dir.Peer)
	if !strings.Contains(string(out), "generic-receive-offload: off") {
		t.Logf("note: peer GRO is not off by default:\n%s", out)
	}
	observe("peer without XDP program, GRO off")

	ethtool(br, "-K", dir.Peer, "gro", "on")
	observe("peer without XDP program, GRO on")
	ethtool(br, "-K", dir.Peer, "gro", "off")
	observe("peer without XDP program, GRO back off")

	if err := l.attachPeerXDP(dir); err != nil {
		t.Fatal(err)
	}
	expect("peer XDP_PASS re-attached")

	ethtool(client, "-K", "eth0", "tx", "on")
	observe("client TX checksum offload on")
	ethtool(client, "-K", "eth0", "tx", "off")
	expect("client TX checksum offload off again")
}
