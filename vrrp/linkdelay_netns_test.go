package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
)

// interface_up_down_delays as keepalived 2.2.7 applies them (checked by
// running it with "veth9 2 3": a 1 s down never seen, a longer one seen
// 2 s after it began, the way back 3 s after the link came up): a tracked
// interface down for less than its down delay changes nothing, one down
// longer faults the instance once the delay has passed, and coming back
// counts once the up delay has.
func TestNetnsLinkDelays(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, _ := setupPair(t)
	if err := a.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth2"}, PeerName: "veth3"}); err != nil {
		t.Fatal(err)
	}
	set := func(name string, up bool) {
		t.Helper()
		l, err := a.nl.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if up {
			err = a.nl.LinkSetUp(l)
		} else {
			err = a.nl.LinkSetDown(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	set("veth3", true)
	set("veth2", true)
	const down, up = time.Second, 600 * time.Millisecond
	cfg := pairCfg("A", 150, 3, 100*time.Millisecond)
	cfg.TrackInterfaces = []config.TrackInterface{{Name: "veth2"}}
	a.start(cfg, WithLinkDelays(map[string]LinkDelay{"veth2": {Down: down, Up: up}}))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A never became master")
	}

	// Down for 0.3 s: never seen.
	set("veth2", false)
	time.Sleep(300 * time.Millisecond)
	set("veth2", true)
	for end := time.Now().Add(down + 300*time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if s := a.inst.State(); s != StateMaster {
			t.Fatalf("a 0.3 s link loss under a %v down delay was seen: %v", down, s)
		}
	}

	// Down for good: FAULT once the delay has passed, not before.
	set("veth2", false)
	at := time.Now()
	a.waitState(StateFault, "A in FAULT with veth2 down")
	if d := time.Since(at); d < down || d > down+400*time.Millisecond {
		t.Errorf("FAULT %v after veth2 went down, want %v (+ a poll)", d, down)
	} else {
		t.Logf("FAULT %v after veth2 went down (down delay %v)", d, down)
	}
	set("veth2", true)
	at = time.Now()
	waitFor(t, "A out of FAULT", 5*time.Second, func() bool { return a.inst.State() != StateFault })
	if d := time.Since(at); d < up || d > up+400*time.Millisecond {
		t.Errorf("out of FAULT %v after veth2 came up, want %v (+ a poll)", d, up)
	}
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A not master again")
	}
}
