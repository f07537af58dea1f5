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

// frameSources collects, for d, the frames arriving on ifindex in ns
// that kind sorts: it returns the frame's slot in the result (-1: not
// collected) and the MAC to record, given the ethertype, the frame from
// its network header on and the source MAC. It taps ETH_P_ALL: a
// macvlan takes the frames that come from its own MAC (the other VMAC's)
// off the base before protocol taps see them.
func frameSources(t *testing.T, ns *nstest.NS, ifindex int, d time.Duration, kind func(proto uint16, f []byte, src string) (int, string)) <-chan [2][]string {
	t.Helper()
	fd := nstest.PacketSocket(t, ns, ifindex, unix.ETH_P_ALL)
	out := make(chan [2][]string, 1)
	go func() {
		defer unix.Close(fd)
		var got [2][]string
		buf := make([]byte, 1500)
		for end := time.Now().Add(d); time.Now().Before(end); {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			ll, ok := from.(*unix.SockaddrLinklayer)
			if err != nil || !ok || ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if i, mac := kind(htons(ll.Protocol), buf[:n], net.HardwareAddr(ll.Addr[:6]).String()); i >= 0 {
				got[i] = append(got[i], mac)
			}
		}
		out <- got
	}()
	return out
}

// advertsAndARPs sorts IPv4 VRRP adverts (by source MAC) and ARP senders.
func advertsAndARPs(proto uint16, f []byte, src string) (int, string) {
	switch {
	case proto == unix.ETH_P_IP && len(f) >= 20 && f[9] == 112:
		return 0, src
	case proto == unix.ETH_P_ARP && len(f) >= 14:
		return 1, net.HardwareAddr(f[8:14]).String()
	}
	return -1, ""
}

// advertsAndNAs6 sorts IPv6 VRRP adverts and neighbour advertisements, by
// source MAC.
func advertsAndNAs6(proto uint16, f []byte, src string) (int, string) {
	switch {
	case proto != unix.ETH_P_IPV6 || len(f) < 41:
	case f[6] == 112:
		return 0, src
	case f[6] == unix.IPPROTO_ICMPV6 && f[40] == 136:
		return 1, src
	}
	return -1, ""
}

// vmacNode is a director of the pair with its VIPs on the VMAC vrrp.42
// of mac (vmac.MAC(42), or vmac.MAC6(42) for IPv6).
func vmacNode(t *testing.T, ns *nstest.NS, mac net.HardwareAddr) *node {
	t.Helper()
	n := &node{t: t, ns: ns}
	var err error
	if n.nl, err = netlink.NewHandleAt(ns.H); err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() error {
		if _, err := vmac.Ensure(n.nl, "veth0", "vrrp.42", mac); err != nil {
			return err
		}
		n.owner, err = vip.New("vrrp.42", testLogger().With("ns", ns.Name))
		return err
	})
	t.Cleanup(func() {
		n.stop()
		n.owner.ReleaseAll()
		n.owner.Close()
		if err := vmac.Remove(n.nl, "vrrp.42", mac); err != nil {
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
	as, err := n.nl.AddrList(l, netlink.FAMILY_ALL)
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
	a, b := vmacNode(t, na, vmac.MAC(42)), vmacNode(t, nb, vmac.MAC(42))
	cfg := func(name string, prio int) config.VRRPInstance {
		c := pairCfg(name, prio, 3, adv)
		c.UseVMAC, c.VMACName, c.VMACXmitBase = true, "vrrp.42", xmitBase
		return c
	}
	bIfi := nstest.IfaceIn(t, nb, "veth0")
	aBase := nstest.IfaceIn(t, na, "veth0").HardwareAddr.String()
	seen := frameSources(t, nb, bIfi.Index, 2*time.Second, advertsAndARPs)
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
	backupTakesOver(t, a, b, vipAddr)
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
	a, b := vmacNode(t, na, vmac.MAC6(42)), vmacNode(t, nb, vmac.MAC6(42))
	cfg := func(name string, prio int) config.VRRPInstance {
		c := pairCfg(name, prio, 3, adv)
		c.VirtualAddrs = []netip.Addr{vipAddr}
		c.UseVMAC, c.VMACName = true, "vrrp.42"
		return c
	}
	seen := frameSources(t, nb, nstest.IfaceIn(t, nb, "veth0").Index, 2*time.Second, advertsAndNAs6)
	a.start(cfg("A", 150))
	b.start(cfg("B", 100))
	if _, ok := a.waitVIPOn(vipAddr, 3*time.Second); !ok {
		t.Fatal("A never put the VIP on its VMAC")
	}
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
	backupTakesOver(t, a, b, vipAddr)
}

// backupTakesOver checks that B, a backup on its VMAC that heard master A
// (no VIP), takes vipAddr on its VMAC once A is killed, having counted no
// invalid packet.
func backupTakesOver(t *testing.T, a, b *node, vipAddr netip.Addr) {
	t.Helper()
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
