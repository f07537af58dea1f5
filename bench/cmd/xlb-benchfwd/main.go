// Command xlb-benchfwd attaches one of the benchmark's trivial XDP programs to an
// interface and keeps it attached until it is killed (SIGINT/SIGTERM) or --timeout
// passes:
//
//	xlb-benchfwd --iface eth0 --prog fwd --dst-mac 02:00:c0:a8:65:03 --vip 192.168.101.100 # ceiling forwarder
//	xlb-benchfwd --iface p-dir --prog pass                             # peer of an XDP_TX veth
//	xlb-benchfwd --iface eth0 --prog drop                              # real-server sink
//
// Several --iface flags attach the same program to several interfaces.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/xlb-project/xlb/bench/fwd"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var ifaces listFlag
	flag.Var(&ifaces, "iface", "interface to attach to (repeatable)")
	progName := flag.String("prog", "fwd", "program: fwd (MAC rewrite + XDP_TX), pass, drop")
	dstMAC := flag.String("dst-mac", "", "destination MAC for --prog fwd")
	vipFlag := flag.String("vip", "", "--prog fwd: forward only IPv4 frames to this address (pass the rest)")
	mode := flag.String("xdp-mode", "native", "XDP mode: native, generic, auto")
	timeout := flag.Duration("timeout", time.Hour, "detach and exit after this long")
	flag.Parse()
	if len(ifaces) == 0 {
		fail("no --iface")
	}

	var insns asm.Instructions
	switch *progName {
	case "fwd":
		mac, err := net.ParseMAC(*dstMAC)
		if err != nil {
			fail("--dst-mac: %v", err)
		}
		var vip netip.Addr
		if *vipFlag != "" {
			if vip, err = netip.ParseAddr(*vipFlag); err != nil {
				fail("--vip: %v", err)
			}
		}
		if insns, err = fwd.MACSwapProgram(mac, vip); err != nil {
			fail("%v", err)
		}
	case "pass":
		insns = fwd.ReturnProgram(fwd.XDPPass)
	case "drop":
		insns = fwd.ReturnProgram(fwd.XDPDrop)
	default:
		fail("unknown --prog %q", *progName)
	}
	prog, err := fwd.Load("xlb_bench_"+*progName, insns)
	if err != nil {
		fail("load: %v", err)
	}
	defer prog.Close()

	var links []link.Link
	for _, name := range ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			fail("%s: %v", name, err)
		}
		l, err := fwd.Attach(prog, ifi.Index, fwd.Mode(*mode))
		if err != nil {
			fail("attach %s to %s (%s): %v", *progName, name, *mode, err)
		}
		links = append(links, l)
	}
	fmt.Printf("xlb-benchfwd: %s attached to %s (%s)\n", *progName, ifaces.String(), *mode)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(*timeout):
	}
	for _, l := range links {
		l.Close()
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "xlb-benchfwd: "+format+"\n", a...)
	os.Exit(1)
}
