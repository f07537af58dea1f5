package vrrp

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/iproute"
)

// *iproute.Set is the production RouteOwner.
var _ RouteOwner = (*iproute.Set)(nil)

// withRoutes gives node n an iproute.Set of a route with src VIP (which
// the kernel refuses before the VIP is there) and a rule.
func (n *node) withRoutes(via string) *iproute.Set {
	n.t.Helper()
	r, err := iproute.ParseRoute("src 10.77.0.100 198.51.100.0/24 via " + via + " dev veth0")
	if err != nil {
		n.t.Fatal(err)
	}
	u, err := iproute.ParseRule("to 198.51.100.0/24 table 100 priority 300")
	if err != nil {
		n.t.Fatal(err)
	}
	var s *iproute.Set
	n.ns.Do(n.t, func() error {
		s, err = iproute.New(iproute.Entries{Routes: []iproute.Route{r}, Rules: []netlink.Rule{u}}, testLogger().With("ns", n.ns.Name))
		return err
	})
	n.t.Cleanup(func() { s.Close() })
	return s
}

// routed says whether n has the virtual route and rule, each.
func (n *node) routed() (route, rule bool) {
	n.t.Helper()
	out := func(args ...string) string {
		b, err := exec.Command("ip", append([]string{"-n", n.ns.Name}, args...)...).CombinedOutput()
		if err != nil {
			n.t.Fatalf("ip %v: %v: %s", args, err, b)
		}
		return string(b)
	}
	return strings.Contains(out("route"), "198.51.100.0/24 via"), strings.Contains(out("rule"), "to 198.51.100.0/24 lookup 100")
}

func (n *node) waitRouted(want bool, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		route, rule := n.routed()
		if route == want && rule == want {
			return true
		}
		if time.Now().After(end) {
			n.t.Logf("%s: route %v rule %v, want %v", n.ns.Name, route, rule, want)
			return false
		}
	}
}

// virtual_routes and virtual_rules come with mastership and go with it: on
// the master only, moved to the backup when the master stops, and removed
// when the last one stops.
func TestNetnsVirtualRoutes(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	a.start(pairCfg("A", 150, 3, adv), WithRoutes(a.withRoutes("10.77.0.2")))
	b.start(pairCfg("B", 100, 3, adv), WithRoutes(b.withRoutes("10.77.0.1")))
	if _, ok := a.waitVIP(vipAddr, true, 2*time.Second); !ok {
		t.Fatal("A never became master")
	}
	if !a.waitRouted(true, time.Second) {
		t.Fatal("master A lacks its virtual route or rule")
	}
	time.Sleep(3 * adv)
	if route, rule := b.routed(); route || rule {
		t.Fatalf("backup B has route %v rule %v", route, rule)
	}

	a.stop() // graceful: A leaves MASTER, B takes over
	if route, rule := a.routed(); route || rule {
		t.Errorf("stopped A kept route %v rule %v", route, rule)
	}
	if _, ok := b.waitVIP(vipAddr, true, time.Second); !ok {
		t.Fatal("B did not take over")
	}
	if !b.waitRouted(true, time.Second) {
		t.Fatal("new master B lacks the virtual route or rule")
	}

	// A preempts back: B, now backup, gives them up.
	a.start(pairCfg("A", 150, 3, adv), WithRoutes(a.withRoutes("10.77.0.2")))
	if !a.waitRouted(true, 2*time.Second) {
		t.Fatal("A preempted without its virtual route or rule")
	}
	if !b.waitRouted(false, time.Second) {
		t.Error("B, back to BACKUP, kept its virtual route or rule")
	}
	a.stop()
	b.stop()
	if !b.waitRouted(false, time.Second) || !a.waitRouted(false, 0) {
		t.Error("virtual routes or rules left after stop")
	}
}
