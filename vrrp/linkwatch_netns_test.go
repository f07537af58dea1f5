package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
)

// Link and address changes reach the instance as netlink events, as
// keepalived's do, not at its next poll: with the poll a minute apart, a
// tracked interface going down faults a master at once, coming back
// clears it at once, and so does the interface losing (and getting back)
// its only address, the adverts' source.
func TestNetnsLinkEvents(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, _ := setupPair(t)
	if err := a.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth2"}, PeerName: "veth3"}); err != nil {
		t.Fatal(err)
	}
	link := func(name string) netlink.Link {
		t.Helper()
		l, err := a.nl.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, n := range []string{"veth3", "veth2"} {
		if err := a.nl.LinkSetUp(link(n)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := pairCfg("A", 150, 3, 100*time.Millisecond)
	cfg.TrackInterfaces = []config.TrackInterface{{Name: "veth2"}}
	a.start(cfg, WithLinkPollInterval(time.Minute))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A never became master")
	}
	const soon = 250 * time.Millisecond
	within := func(what string, at time.Time, cond func() bool) {
		t.Helper()
		waitFor(t, what, 5*time.Second, cond)
		if d := time.Since(at); d > soon {
			t.Errorf("%s %v after the change, want at once (under %v; the poll is a minute)", what, d, soon)
		} else {
			t.Logf("%s %v after the change", what, d)
		}
	}

	at := time.Now()
	if err := a.nl.LinkSetDown(link("veth2")); err != nil {
		t.Fatal(err)
	}
	within("FAULT with veth2 down", at, func() bool { return a.inst.State() == StateFault })
	at = time.Now()
	if err := a.nl.LinkSetUp(link("veth2")); err != nil {
		t.Fatal(err)
	}
	within("out of FAULT with veth2 up", at, func() bool { return a.inst.State() != StateFault })
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A not master again")
	}

	own, err := netlink.ParseAddr("10.77.0.1/24")
	if err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	if err := a.nl.AddrDel(link("veth0"), own); err != nil {
		t.Fatal(err)
	}
	within("FAULT with no address on veth0", at, func() bool { return a.inst.State() == StateFault })
	at = time.Now()
	if err := a.nl.AddrAdd(link("veth0"), own); err != nil {
		t.Fatal(err)
	}
	within("out of FAULT with the address back", at, func() bool { return a.inst.State() != StateFault })
}
