package vrrp

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vip"
	"github.com/xlb-project/xlb/vmac"
)

// frameSources collects, for d, the source MACs of the VRRP adverts and
// the ARP senders' MACs that arrive on ifindex in ns.
func frameSources(t *testing.T, ns *nstest.NS, ifindex int, d time.Duration) <-chan [2][]string {
	t.Helper()
	fd := nstest.PacketSocket(t, ns, ifindex, unix.ETH_P_ALL)
	out := make(chan [2][]string, 1)
	go func() {
		defer unix.Close(fd)
		var adverts, arps []string
		buf := make([]byte, 1500)
		for end := time.Now().Add(d); time.Now().Before(end); {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			ll, ok := from.(*unix.SockaddrLinklayer)
			if err != nil || !ok || ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			switch htons(ll.Protocol) {
			case unix.ETH_P_IP:
				if n >= 20 && buf[9] == 112 {
					adverts = append(adverts, net.HardwareAddr(ll.Addr[:6]).String())
				}
			case unix.ETH_P_ARP:
				if n >= 14 {
					arps = append(arps, net.HardwareAddr(buf[8:14]).String())
				}
			}
		}
		out <- [2][]string{adverts, arps}
	}()
	return out
}

// vmacNode is a director of the pair with its VIPs on the VMAC vrrp.42.
func vmacNode(t *testing.T, ns *nstest.NS) *node {
	t.Helper()
	n := &node{t: t, ns: ns}
	var err error
	if n.nl, err = netlink.NewHandleAt(ns.H); err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() error {
		if _, err := vmac.Ensure(n.nl, "veth0", "vrrp.42", vmac.MAC(42)); err != nil {
			return err
		}
		n.owner, err = vip.New("vrrp.42", testLogger().With("ns", ns.Name))
		return err
	})
	t.Cleanup(func() {
		n.stop()
		n.owner.ReleaseAll()
		n.owner.Close()
		if err := vmac.Remove(n.nl, "vrrp.42", vmac.MAC(42)); err != nil {
			t.Error(err)
		}
		n.nl.Close()
	})
	return n
}

func (n *node) vmacHolds(a netip.Addr) bool {
	l, err := n.nl.LinkByName("vrrp.42")
	if err != nil {
		n.t.Fatal(err)
	}
	as, err := n.nl.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		n.t.Fatal(err)
	}
	return slices.ContainsFunc(as, func(x netlink.Addr) bool { return x.IP.Equal(a.AsSlice()) })
}

// With use_vmac the master's adverts and gratuitous ARPs leave with the
// VMAC as their source (vmac_xmit_base: the adverts with the base's
// MAC), the backup hears them on its own VMAC, and a killed master's VIP
// moves to the backup's VMAC.
func TestNetnsVMAC(t *testing.T) {
	for _, xmitBase := range []bool{false, true} {
		t.Run(map[bool]string{false: "vmac", true: "xmit_base"}[xmitBase], func(t *testing.T) {
			testVMAC(t, xmitBase)
		})
	}
}

func testVMAC(t *testing.T, xmitBase bool) {
	nstest.RequireRoot(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	na, nb := nstest.New(t, "vma"), nstest.New(t, "vmb")
	nstest.VethPair(t, na, nb, "10.77.0.1/24", "10.77.0.2/24")
	a, b := vmacNode(t, na), vmacNode(t, nb)
	cfg := func(name string, prio int) config.VRRPInstance {
		c := pairCfg(name, prio, 3, adv)
		c.UseVMAC, c.VMACName, c.VMACXmitBase = true, "vrrp.42", xmitBase
		return c
	}
	bIfi := nstest.IfaceIn(t, nb, "veth0")
	aBase := nstest.IfaceIn(t, na, "veth0").HardwareAddr.String()
	seen := frameSources(t, nb, bIfi.Index, 2*time.Second)
	a.start(cfg("A", 150))
	b.start(cfg("B", 100))
	if _, ok := a.waitVIPOn(vipAddr, 3*time.Second); !ok {
		t.Fatal("A never put the VIP on its VMAC")
	}
	got := <-seen
	wantAdvert := "00:00:5e:00:01:2a"
	if xmitBase {
		wantAdvert = aBase
	}
	if len(got[0]) == 0 || slices.IndexFunc(got[0], func(s string) bool { return s != wantAdvert }) >= 0 {
		t.Errorf("adverts' source MACs %v, want all %s", got[0], wantAdvert)
	}
	if !slices.Contains(got[1], "00:00:5e:00:01:2a") {
		t.Errorf("ARP senders %v, want the VMAC's gratuitous ARPs", got[1])
	}
	if b.inst.State() != StateBackup || b.vmacHolds(vipAddr) {
		t.Fatalf("B %v, holds the VIP %v: it did not hear A", b.inst.State(), b.vmacHolds(vipAddr))
	}
	a.kill()
	if _, ok := b.waitVIPOn(vipAddr, 2*time.Second); !ok {
		t.Fatal("B did not take the VIP on its VMAC")
	}
	if len(b.inst.Stats().Invalid) != 0 {
		t.Errorf("B counted invalid packets: %v", b.inst.Stats().Invalid)
	}
}

func (n *node) waitVIPOn(a netip.Addr, d time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if n.vmacHolds(a) {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), false
}

// htons swaps a 16-bit value to (or from) network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// frameSources6 collects, for d, the source MACs of the IPv6 VRRP adverts
// and of the neighbour advertisements that arrive on ifindex in ns.
func frameSources6(t *testing.T, ns *nstest.NS, ifindex int, d time.Duration) <-chan [2][]string {
	t.Helper()
	// ETH_P_ALL: the taps before the macvlan, which takes the frames
	// that come from its own MAC (the other VMAC's) off the base.
	fd := nstest.PacketSocket(t, ns, ifindex, unix.ETH_P_ALL)
	out := make(chan [2][]string, 1)
	go func() {
		defer unix.Close(fd)
		var adverts, nas []string
		buf := make([]byte, 1500)
		for end := time.Now().Add(d); time.Now().Before(end); {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			ll, ok := from.(*unix.SockaddrLinklayer)
			if err != nil || !ok || ll.Pkttype == unix.PACKET_OUTGOING || htons(ll.Protocol) != unix.ETH_P_IPV6 || n < 41 {
				continue
			}
			src := net.HardwareAddr(ll.Addr[:6]).String()
			switch {
			case buf[6] == 112:
				adverts = append(adverts, src)
			case buf[6] == unix.IPPROTO_ICMPV6 && buf[40] == 136:
				nas = append(nas, src)
			}
		}
		out <- [2][]string{adverts, nas}
	}()
	return out
}

// An IPv6 VMAC as a running keepalived 2.2.7 makes it: 00:00:5e:00:02:VRID
// with a copy of the base's link-local address. The master's adverts and
// neighbour advertisements leave with the VMAC as their source MAC (from
// the base's link-local address), the backup hears them on its own VMAC,
// and a killed master's VIP moves to the backup's VMAC.
func TestNetnsVMACIPv6(t *testing.T) {
	nstest.RequireRoot(t)
	vipAddr := netip.MustParseAddr("fd00:77::100")
	adv := 100 * time.Millisecond
	na, nb := nstest.New(t, "vm6a"), nstest.New(t, "vm6b")
	nstest.VethPair(t, na, nb, "10.77.0.1/24", "10.77.0.2/24")
	mk := func(ns *nstest.NS) *node {
		n := &node{t: t, ns: ns}
		var err error
		if n.nl, err = netlink.NewHandleAt(ns.H); err != nil {
			t.Fatal(err)
		}
		ns.Do(t, func() error {
			if _, err := vmac.Ensure(n.nl, "veth0", "vrrp.42", vmac.MAC6(42)); err != nil {
				return err
			}
			n.owner, err = vip.New("vrrp.42", testLogger().With("ns", ns.Name))
			return err
		})
		t.Cleanup(func() {
			n.stop()
			n.owner.ReleaseAll()
			n.owner.Close()
			if err := vmac.Remove(n.nl, "vrrp.42", vmac.MAC6(42)); err != nil {
				t.Error(err)
			}
			n.nl.Close()
		})
		return n
	}
	a, b := mk(na), mk(nb)
	holds := func(n *node) bool {
		l, err := n.nl.LinkByName("vrrp.42")
		if err != nil {
			t.Fatal(err)
		}
		as, _ := n.nl.AddrList(l, netlink.FAMILY_V6)
		return slices.ContainsFunc(as, func(x netlink.Addr) bool { return x.IP.Equal(vipAddr.AsSlice()) })
	}
	cfg := func(name string, prio int) config.VRRPInstance {
		c := pairCfg(name, prio, 3, adv)
		c.VirtualAddrs = []netip.Addr{vipAddr}
		c.UseVMAC, c.VMACName = true, "vrrp.42"
		return c
	}
	seen := frameSources6(t, nb, nstest.IfaceIn(t, nb, "veth0").Index, 2*time.Second)
	a.start(cfg("A", 150))
	b.start(cfg("B", 100))
	waitFor(t, "A's VIP on its VMAC", 3*time.Second, func() bool { return holds(a) })
	got := <-seen
	if len(got[0]) == 0 || slices.IndexFunc(got[0], func(s string) bool { return s != "00:00:5e:00:02:2a" }) >= 0 {
		t.Errorf("adverts' source MACs %v, want all the VMAC's", got[0])
	}
	if !slices.Contains(got[1], "00:00:5e:00:02:2a") {
		t.Errorf("neighbour advertisements from %v, want the VMAC's", got[1])
	}
	if src := a.inst.tr.LocalAddr(); !src.IsLinkLocalUnicast() {
		t.Errorf("A sends from %v, want the base's link-local address", src)
	}
	if b.inst.State() != StateBackup || holds(b) {
		t.Fatalf("B %v, holds the VIP %v: it did not hear A", b.inst.State(), holds(b))
	}
	a.kill()
	waitFor(t, "B's VIP on its VMAC", 2*time.Second, func() bool { return holds(b) })
	if len(b.inst.Stats().Invalid) != 0 {
		t.Errorf("B counted invalid packets: %v", b.inst.Stats().Invalid)
	}
}
