// Command xlb-benchgen sends UDP frames out of an interface with the live-frames
// generator of package bench/gen, bounded in packets and time, and prints a JSON
// result. Run it inside the client's namespace (ip netns exec NS xlb-benchgen ...).
// The interface's veth peer needs an XDP program (xlb-benchfwd --prog pass).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xlb-project/xlb/bench/gen"
)

func main() {
	iface := flag.String("iface", "eth0", "egress interface")
	netnsName := flag.String("netns", "", "switch to this network namespace first (name or path)")
	dstMAC := flag.String("dst-mac", "", "destination MAC (the director's)")
	srcMAC := flag.String("src-mac", "", "source MAC (default: the interface's)")
	srcIP := flag.String("src-ip", "", "first source address")
	dstIP := flag.String("dst-ip", "", "destination address (VIP)")
	dstPort := flag.Uint("dst-port", 80, "UDP destination port")
	flows := flag.Int("flows", 1, "number of flows")
	size := flag.Int("size", 60, "frame size without FCS")
	duration := flag.Duration("duration", 10*time.Second, "stop after this long")
	packets := flag.Uint64("packets", 100_000_000, "stop after this many frames")
	batch := flag.Uint("batch", 64, "live-frames batch size")
	flag.Parse()

	var c gen.Config
	var err error
	if c.DstMAC, err = net.ParseMAC(*dstMAC); err != nil {
		fail("--dst-mac: %v", err)
	}
	if *srcMAC != "" {
		if c.SrcMAC, err = net.ParseMAC(*srcMAC); err != nil {
			fail("--src-mac: %v", err)
		}
	}
	if c.SrcIP, err = netip.ParseAddr(*srcIP); err != nil {
		fail("--src-ip: %v", err)
	}
	if c.DstIP, err = netip.ParseAddr(*dstIP); err != nil {
		fail("--dst-ip: %v", err)
	}
	c.DstPort = uint16(*dstPort)
	c.Flows = *flows
	c.Size = *size
	c.Duration = *duration
	c.Packets = *packets
	c.BatchSize = uint32(*batch)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var r gen.Result
	if *netnsName != "" {
		r, err = gen.RunInNetns(ctx, *netnsName, *iface, c)
	} else {
		ifi, ierr := net.InterfaceByName(*iface)
		if ierr != nil {
			fail("%v", ierr)
		}
		c.Ifindex = ifi.Index
		if c.SrcMAC == nil {
			c.SrcMAC = ifi.HardwareAddr
		}
		r, err = gen.Run(ctx, c)
	}
	if err != nil {
		fail("%v", err)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "xlb-benchgen: "+format+"\n", a...)
	os.Exit(1)
}
