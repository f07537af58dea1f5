package loader

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/xlb-project/xlb/bpf"
)

// DecapOptions say which tunnels xlb_decap strips besides IPIP and
// IP6IP6: GRE (the director's --tun-type gre), GUE to GUEPort (--tun-type
// gue --tun-port; 0: none). Off, those packets are left to the kernel: a
// host may run such tunnels of its own.
type DecapOptions struct {
	GRE     bool
	GUEPort uint16
}

// AttachDecap attaches the TUN real-server program (xlb_decap: strip the
// outer IPIP or IP6IP6 header, and the GRE or GUE of o) to iface's ingress
// with tcx and pins the link at pin, so it stays after the command that
// attached it exits. It replaces the kernel's ipip, ip_gre, fou and
// ip6_tunnel modules, which this kernel may lack.
func AttachDecap(iface, pin string, o DecapOptions) error {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", iface, err)
	}
	if err := ensureBPFFS(filepath.Dir(pin)); err != nil {
		return err
	}
	if _, err := os.Stat(pin); err == nil {
		return nil // already attached by an earlier `up`
	}
	prog, err := loadDecap(o)
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attach decap to %s ingress: %w", iface, err)
	}
	defer l.Close()
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pin decap link: %w", err)
	}
	return nil
}

// DetachDecap removes what AttachDecap attached.
func DetachDecap(pin string) error {
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("load decap link: %w", err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin decap link: %w", err)
	}
	return nil
}

// loadDecap loads xlb_decap alone (with the read-only data its knobs
// live in), stripping what o says too.
func loadDecap(o DecapOptions) (*ebpf.Program, error) {
	spec, err := bpf.LoadXlb()
	if err != nil {
		return nil, fmt.Errorf("read embedded bpf object: %w", err)
	}
	if err := spec.Variables[bpf.XlbVarDecapGre].Set(boolByte(o.GRE)); err != nil {
		return nil, fmt.Errorf("set decap_gre: %w", err)
	}
	if err := spec.Variables[bpf.XlbVarDecapGuePort].Set(o.GUEPort); err != nil {
		return nil, fmt.Errorf("set decap_gue_port: %w", err)
	}
	var objs struct {
		Prog *ebpf.Program `ebpf:"xlb_decap"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("kernel verifier rejected the decap program:\n%+v", ve)
		}
		return nil, fmt.Errorf("load decap program: %w", err)
	}
	return objs.Prog, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// RunDecap runs the decapsulation program (xlb_decap, the tc program of
// AttachDecap, as the director's object holds it: GRE and GUE off) once on frame
// through BPF_PROG_TEST_RUN and returns its tc verdict and the frame as it
// left it. For tests.
func (d *Datapath) RunDecap(frame []byte) (uint32, []byte, error) {
	return runDecap(d.objs.XlbDecap, frame)
}

// RunDecapAs is RunDecap for the program as AttachDecap loads it with o:
// loaded for this one run. For tests.
func RunDecapAs(o DecapOptions, frame []byte) (uint32, []byte, error) {
	prog, err := loadDecap(o)
	if err != nil {
		return 0, nil, err
	}
	defer prog.Close()
	return runDecap(prog, frame)
}

func runDecap(prog *ebpf.Program, frame []byte) (uint32, []byte, error) {
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256)}
	ret, err := prog.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("test run: %w", err)
	}
	return ret, opts.DataOut, nil
}
