package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// fakeXLBEnv makes the test binary act as a stand-in for `xlb run` (the
// real daemon is built elsewhere): it binds the VIP on eth0 so the kernel
// answers ARP for it, and sends every VIP packet to rs1 with the mini DR
// program. Enough to exercise Demo's plumbing end to end.
const fakeXLBEnv = "XLB_LAB_FAKE_XLB"

func TestMain(m *testing.M) {
	if os.Getenv(fakeXLBEnv) == "1" {
		if err := fakeXLB(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake xlb:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeXLB(args []string) error {
	if len(args) != 5 || args[0] != "run" || args[1] != "--iface" || args[3] != "--config" {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	conf, err := os.ReadFile(args[4])
	if err != nil {
		return err
	}
	if !strings.Contains(string(conf), "scheduler: rr") {
		return fmt.Errorf("config lacks the rr service:\n%s", conf)
	}
	eth, err := netlink.LinkByName(args[2])
	if err != nil {
		return err
	}
	vip := netip.MustParseAddr(VIPAddr)
	if err := netlink.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: vip.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		return err
	}
	prog, err := miniDR(vip.As4(), eth.Attrs().HardwareAddr, macFor(realServerIP(0)))
	if err != nil {
		return err
	}
	lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: eth.Attrs().Index, Flags: link.XDPDriverMode})
	if err != nil {
		return err
	}
	defer lk.Close()
	fmt.Println("fake xlb running")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(2 * time.Minute):
	}
	return nil
}

func TestDemo(t *testing.T) {
	if err := CheckTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeXLBEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Demo(ctx, self, &out, false); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	t.Logf("demo output:\n%s", out.String())
	if n := strings.Count(out.String(), "-> rs1"); n != 10 {
		t.Errorf("want 10 answers from rs1 through the fake director, got %d", n)
	}
	if !strings.Contains(out.String(), "fake xlb running") {
		t.Error("xlb output not forwarded to the demo output")
	}
}
