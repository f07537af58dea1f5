package director

import (
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vrrp"
)

// ipOut is `ip ARGS` in ns.
func ipOut(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	b, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, b)
	}
	return string(b)
}

// waitIP polls `ip ARGS` until it shows (or, with !want, no longer
// shows) each of frags.
func waitIP(t *testing.T, ns *nstest.NS, want bool, what string, args []string, frags ...string) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		out := ipOut(t, ns, args...)
		ok := true
		for _, f := range frags {
			ok = ok && strings.Contains(out, f) == want
		}
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: ip %v shows\n%s\nwant %v of %q", what, args, out, want, frags)
		}
	}
}

// An instance's virtual_routes and virtual_rules are added when it becomes
// master; a reload that changes only them applies the difference without
// restarting it (no transition); stopping removes them.
func TestVRRPSetVirtualRoutesReload(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "vroute-")
	vethPair(t, ns, "10.78.0.1/24")
	cfg := func(routes, rules []string) *config.Config {
		return &config.Config{VRRP: []config.VRRPInstance{{
			Name: "VI_1", Interface: "veth0", VirtualRouterID: 9, Priority: 100, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true,
			VirtualAddrs:  []netip.Addr{netip.MustParseAddr("10.78.0.100")},
			VirtualRoutes: routes, VirtualRules: rules,
		}}}
	}
	d := &Director{log: slog.New(slog.DiscardHandler)}
	s := &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
	update := func(c *config.Config) {
		t.Helper()
		var err error
		ns.Do(t, func() error { err = s.update(c); return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	route := []string{"route", "show", "table", "all"}
	update(cfg([]string{"src 10.78.0.100 198.51.100.0/24 via 10.78.0.2 dev veth0"}, nil))
	waitStates(t, s, vrrp.StateMaster, "alone", "VI_1")
	waitIP(t, ns, true, "master", route, "198.51.100.0/24 via 10.78.0.2 dev veth0 proto keepalived src 10.78.0.100")
	inst := s.runs["VI_1"].inst
	moves := inst.Stats().BecameMaster

	update(cfg([]string{"blackhole 203.0.113.0/24 table 100"}, []string{"from 10.78.0.0/24 table 100 priority 300"}))
	waitIP(t, ns, false, "reload: old route", route, "198.51.100.0/24")
	waitIP(t, ns, true, "reload: new route", route, "blackhole 203.0.113.0/24 table 100 proto keepalived")
	waitIP(t, ns, true, "reload: new rule", []string{"rule"}, "300:\tfrom 10.78.0.0/24 lookup 100 proto keepalived")
	if s.runs["VI_1"].inst != inst || inst.State() != vrrp.StateMaster || inst.Stats().BecameMaster != moves {
		t.Error("a reload changing only virtual_routes/virtual_rules restarted the instance or moved its state")
	}
	// A change of anything else still restarts it, with the routes.
	c := cfg([]string{"blackhole 203.0.113.0/24 table 100"}, nil)
	c.VRRP[0].Priority = 120
	update(c)
	if s.runs["VI_1"].inst == inst {
		t.Error("a changed priority did not restart the instance")
	}
	waitIP(t, ns, false, "restarted: rule gone", []string{"rule"}, "lookup 100")
	waitStates(t, s, vrrp.StateMaster, "restarted", "VI_1")
	waitIP(t, ns, true, "restarted master", route, "blackhole 203.0.113.0/24 table 100")

	s.stopAll(false)
	waitIP(t, ns, false, "stopped", route, "203.0.113.0")
}

// static_ipaddress, static_routes and static_rules are there from start,
// whatever VRRP does; a reload applies their difference; a stop removes
// them (keepalived 2.2.7 does), a restart in place keeps them.
func TestStaticRoutes(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "sroute-")
	vethPair(t, ns, "10.78.1.1/24")
	cfg := &config.Config{
		StaticAddrs:  []string{"192.0.2.50/24 dev veth0 label veth0:st"},
		StaticRoutes: []string{"src 192.0.2.50 198.51.100.0/24 via 10.78.1.2 dev veth0", "blackhole 203.0.113.0/24"},
		StaticRules:  []string{"from 192.0.2.0/24 table 100 priority 200"},
	}
	d := &Director{log: slog.New(slog.DiscardHandler)}
	ns.Do(t, func() error { return d.startStatic(cfg) })
	addr := []string{"-4", "addr", "show", "dev", "veth0"}
	waitIP(t, ns, true, "start", addr, "192.0.2.50/24", "veth0:st")
	waitIP(t, ns, true, "start", []string{"route"}, "198.51.100.0/24 via 10.78.1.2 dev veth0 proto keepalived src 192.0.2.50", "blackhole 203.0.113.0/24 proto keepalived")
	waitIP(t, ns, true, "start", []string{"rule"}, "200:\tfrom 192.0.2.0/24 lookup 100 proto keepalived")

	next := cfg.Clone()
	next.StaticRoutes = next.StaticRoutes[:1]
	next.StaticRules = []string{"to 198.51.101.0/24 table 100 priority 201"}
	d.reloadStatic(next)
	waitIP(t, ns, false, "reload", []string{"route"}, "blackhole")
	waitIP(t, ns, true, "reload", []string{"route"}, "198.51.100.0/24 via 10.78.1.2")
	waitIP(t, ns, true, "reload", []string{"rule"}, "201:\tfrom all to 198.51.101.0/24 lookup 100")
	waitIP(t, ns, false, "reload", []string{"rule"}, "200:")

	if err := d.stopStatic(true); err != nil {
		t.Fatal(err)
	}
	waitIP(t, ns, false, "stop", addr, "192.0.2.50")
	waitIP(t, ns, false, "stop", []string{"route"}, "198.51.100.0/24")
	waitIP(t, ns, false, "stop", []string{"rule"}, "lookup 100")

	// A restart in place keeps them for the next run.
	d = &Director{log: slog.New(slog.DiscardHandler)}
	ns.Do(t, func() error { return d.startStatic(cfg) })
	if err := d.stopStatic(false); err != nil {
		t.Fatal(err)
	}
	waitIP(t, ns, true, "restart in place", []string{"route"}, "198.51.100.0/24 via 10.78.1.2")
}
