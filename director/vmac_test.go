package director

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vmac"
	"golang.org/x/sys/unix"
)

// The director's side of use_vmac, through reloads: the instance's VMAC
// is made at its start and its VIP goes there; a reload that restarts the
// instance with the same VMAC keeps the interface; one that renames it or
// drops use_vmac removes it; a restart in place keeps it, and the next
// run takes it over and removes it at its clean stop.
func TestVRRPSetVMACReload(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "vmac-d-")
	vethPair(t, ns, "10.79.0.1/24")
	nl, err := netlink.NewHandleAt(ns.H)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	vip := netip.MustParseAddr("10.79.0.100")
	cfg := func(prio int, use bool, name string) *config.Config {
		return &config.Config{VRRP: []config.VRRPInstance{{
			Name: "VI_1", Interface: "veth0", VirtualRouterID: 9, Priority: prio, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true,
			VirtualAddrs: []netip.Addr{vip}, UseVMAC: use, VMACName: name,
		}}}
	}
	index := func(name string) int {
		l, err := nl.LinkByName(name)
		if err != nil {
			return 0
		}
		return l.Attrs().Index
	}
	holds := func(iface string) bool {
		l, err := nl.LinkByName(iface)
		if err != nil {
			return false
		}
		as, _ := nl.AddrList(l, netlink.FAMILY_V4)
		return slices.ContainsFunc(as, func(a netlink.Addr) bool { return a.IP.Equal(vip.AsSlice()) })
	}
	waitHolds := func(iface string) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); !holds(iface); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("the VIP never went on %s", iface)
			}
		}
	}
	s := newTestVRRPSet()
	defer s.stopAll(false)
	update := func(s *vrrpSet, c *config.Config) { t.Helper(); updateIn(t, ns, s, c) }
	stop := func(s *vrrpSet, leave bool) { ns.Do(t, func() error { s.stopAll(leave); return nil }) }
	// igmpRules are the interfaces the IGMP filter names (nil: no table).
	igmpRules := func() []string {
		t.Helper()
		var names []string
		ns.Do(t, func() error {
			c, err := nftables.New()
			if err != nil {
				return err
			}
			tab := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: vmac.IGMPTable}
			rules, err := c.GetRules(tab, &nftables.Chain{Name: "out", Table: tab})
			if err != nil {
				return nil // no table
			}
			for _, r := range rules {
				for _, e := range r.Exprs {
					if c, ok := e.(*expr.Cmp); ok && len(c.Data) == unix.IFNAMSIZ {
						names = append(names, strings.TrimRight(string(c.Data), "\x00"))
					}
				}
			}
			return nil
		})
		return names
	}

	update(s, cfg(100, true, ""))
	first := index("vrrp.9")
	if first == 0 {
		t.Fatal("no vrrp.9 after the start")
	}
	waitHolds("vrrp.9")
	if holds("veth0") {
		t.Error("the VIP is on veth0 too")
	}
	if got := igmpRules(); !slices.Equal(got, []string{"vrrp.9"}) {
		t.Errorf("IGMP filter on %v, want vrrp.9", got)
	}

	inst := s.runs["VI_1"].inst
	update(s, cfg(110, true, ""))
	if s.runs["VI_1"].inst == inst {
		t.Fatal("a changed priority did not restart the instance")
	}
	if index("vrrp.9") != first {
		t.Errorf("a restart with the same VMAC made vrrp.9 anew (index %d, was %d)", index("vrrp.9"), first)
	}
	waitHolds("vrrp.9")

	update(s, cfg(110, true, "vip9"))
	if index("vrrp.9") != 0 || index("vip9") == 0 {
		t.Fatalf("renamed: vrrp.9 index %d, vip9 index %d", index("vrrp.9"), index("vip9"))
	}
	waitHolds("vip9")
	if got := igmpRules(); !slices.Equal(got, []string{"vip9"}) {
		t.Errorf("IGMP filter on %v after the rename, want vip9", got)
	}

	update(s, cfg(110, false, ""))
	if index("vip9") != 0 {
		t.Error("dropping use_vmac left vip9")
	}
	waitHolds("veth0")
	if got := igmpRules(); got != nil {
		t.Errorf("IGMP filter on %v without a VMAC", got)
	}

	// A restart in place keeps the VMAC and the VIP; the next run adopts
	// both and removes the VMAC at its clean stop.
	update(s, cfg(110, true, ""))
	waitHolds("vrrp.9")
	kept := index("vrrp.9")
	stop(s, true)
	if index("vrrp.9") != kept || !holds("vrrp.9") {
		t.Fatal("the restart in place did not keep vrrp.9 and the VIP on it")
	}
	if got := igmpRules(); !slices.Equal(got, []string{"vrrp.9"}) {
		t.Errorf("IGMP filter on %v after a restart in place, want vrrp.9 kept", got)
	}
	s2 := newTestVRRPSet()
	update(s2, cfg(110, true, ""))
	if index("vrrp.9") != kept {
		t.Error("the next run made vrrp.9 anew")
	}
	waitHolds("vrrp.9")
	stop(s2, false)
	if index("vrrp.9") != 0 {
		t.Error("a clean stop left vrrp.9")
	}
	if got := igmpRules(); got != nil {
		t.Errorf("a clean stop left the IGMP filter on %v", got)
	}
}

// An IPv6 instance's VMAC: the IPv6 virtual MAC, its VIP there as master,
// the ip6 report filter while it runs, both gone at a clean stop.
func TestVRRPSetVMACIPv6(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "vmac6-d-")
	vethPair(t, ns, "10.79.0.1/24")
	ns.Sysctl(t, "net/ipv6/conf/veth0/accept_dad", "0")
	nl, err := netlink.NewHandleAt(ns.H)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	vip := netip.MustParseAddr("fd00:79::100")
	s := newTestVRRPSet()
	var uerr error
	// veth0's link-local address is there once the link is up.
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l, _ := nl.LinkByName("veth0")
		if as, _ := nl.AddrList(l, netlink.FAMILY_V6); len(as) > 0 || time.Now().After(end) {
			break
		}
	}
	ns.Do(t, func() error {
		uerr = s.update(&config.Config{VRRP: []config.VRRPInstance{{
			Name: "VI_6", Interface: "veth0", VirtualRouterID: 9, Priority: 100, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true, VirtualAddrs: []netip.Addr{vip}, UseVMAC: true,
		}}})
		return nil
	})
	if uerr != nil {
		t.Fatal(uerr)
	}
	l, err := nl.LinkByName("vrrp.9")
	if err != nil || l.Attrs().HardwareAddr.String() != "00:00:5e:00:02:09" {
		t.Fatalf("vrrp.9: %v %v, want the IPv6 virtual MAC", l, err)
	}
	waitFor := func(what string, f func() bool) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); !f(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal(what)
			}
		}
	}
	waitFor("the VIP never went on vrrp.9", func() bool {
		as, _ := nl.AddrList(l, netlink.FAMILY_V6)
		return slices.ContainsFunc(as, func(a netlink.Addr) bool { return a.IP.Equal(vip.AsSlice()) })
	})
	tables := func() (v4, v6 bool) {
		ns.Do(t, func() error {
			c, err := nftables.New()
			if err != nil {
				return err
			}
			for fam, dst := range map[nftables.TableFamily]*bool{nftables.TableFamilyIPv4: &v4, nftables.TableFamilyIPv6: &v6} {
				ts, _ := c.ListTablesOfFamily(fam)
				*dst = slices.ContainsFunc(ts, func(x *nftables.Table) bool { return x.Name == vmac.IGMPTable })
			}
			return nil
		})
		return
	}
	if v4, v6 := tables(); v4 || !v6 {
		t.Errorf("report filters: ip %v ip6 %v, want the ip6 one only", v4, v6)
	}
	ns.Do(t, func() error { s.stopAll(false); return nil })
	if _, err := nl.LinkByName("vrrp.9"); err == nil {
		t.Error("a clean stop left vrrp.9")
	}
	if v4, v6 := tables(); v4 || v6 {
		t.Errorf("a clean stop left report filters: ip %v ip6 %v", v4, v6)
	}
}
