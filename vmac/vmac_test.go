package vmac

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/internal/nstest"
)

func TestMAC(t *testing.T) {
	if got := MAC(51).String(); got != "00:00:5e:00:01:33" {
		t.Errorf("MAC(51) = %s", got)
	}
}

// handle is a netlink handle in ns.
func handle(t *testing.T, ns *nstest.NS) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.H), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func readSysctl(t *testing.T, ns *nstest.NS, key string) string {
	t.Helper()
	var v string
	ns.Do(t, func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", key))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v
}

// Ensure makes a private macvlan vrrp.51 on veth0 with the VMAC, up,
// without an IPv6 link-local address and with keepalived's sysctls; a
// second Ensure keeps it; Remove deletes it and leaves veth0.
func TestEnsureRemove(t *testing.T) {
	nstest.RequireRoot(t)
	a, b := nstest.New(t, "vmac-a"), nstest.New(t, "vmac-b")
	nstest.VethPair(t, a, b, "10.91.0.1/24", "10.91.0.2/24")
	nl := handle(t, a)
	mac := MAC(51)
	var created bool
	a.Do(t, func() (err error) {
		created, err = Ensure(nl, "veth0", "vrrp.51", mac)
		return err
	})
	if !created {
		t.Error("Ensure did not report the macvlan created")
	}
	base, err := nl.LinkByName("veth0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := nl.LinkByName("vrrp.51")
	if err != nil {
		t.Fatal(err)
	}
	mv, ok := l.(*netlink.Macvlan)
	if !ok {
		t.Fatalf("vrrp.51 is a %s", l.Type())
	}
	at := mv.Attrs()
	if at.HardwareAddr.String() != "00:00:5e:00:01:33" || at.ParentIndex != base.Attrs().Index || mv.Mode != netlink.MACVLAN_MODE_PRIVATE || at.Flags&net.FlagUp == 0 {
		t.Errorf("vrrp.51: mac %s parent %d (veth0 %d) mode %v flags %v", at.HardwareAddr, at.ParentIndex, base.Attrs().Index, mv.Mode, at.Flags)
	}
	if addrs, err := nl.AddrList(l, netlink.FAMILY_V6); err != nil || len(addrs) != 0 {
		t.Errorf("vrrp.51 IPv6 addresses %v (%v), want none", addrs, err)
	}
	for _, s := range Sysctls("veth0", "vrrp.51") {
		if got := readSysctl(t, a, s.Key); got != s.Value {
			t.Errorf("%s = %s, want %s", s.Key, got, s.Value)
		}
	}
	a.Do(t, func() (err error) {
		created, err = Ensure(nl, "veth0", "vrrp.51", mac)
		return err
	})
	if created {
		t.Error("second Ensure created it again")
	}
	// Another VRID's MAC by that name is not ours: refused, kept.
	a.Do(t, func() error {
		if _, err := Ensure(nl, "veth0", "vrrp.51", MAC(52)); err == nil || !strings.Contains(err.Error(), "has the MAC 00:00:5e:00:01:33") {
			t.Errorf("Ensure with another MAC: %v", err)
		}
		if err := Remove(nl, "vrrp.51", MAC(52)); err == nil {
			t.Error("Remove with another MAC removed it")
		}
		if _, err := Ensure(nl, "veth0", "veth0", mac); err == nil || !strings.Contains(err.Error(), "not a macvlan") {
			t.Errorf("Ensure over veth0: %v", err)
		}
		return nil
	})
	if err := Remove(nl, "vrrp.51", mac); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.LinkByName("vrrp.51"); !isNotFound(err) {
		t.Errorf("vrrp.51 after Remove: %v", err)
	}
	if _, err := nl.LinkByName("veth0"); err != nil {
		t.Errorf("veth0 after Remove: %v", err)
	}
	if err := Remove(nl, "vrrp.51", mac); err != nil {
		t.Errorf("Remove of a gone VMAC: %v", err)
	}
}
