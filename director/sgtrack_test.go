package director

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vrrp"
)

// waitStates waits until each named instance of s is in want.
func waitStates(t *testing.T, s *vrrpSet, want vrrp.State, what string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		ok := true
		got := map[string]vrrp.State{}
		for _, n := range names {
			r := s.runs[n]
			if r == nil || r.inst.State() != want {
				ok = false
			}
			if r != nil {
				got[n] = r.inst.State()
			}
		}
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: states %v, want %v", what, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newTestVRRPSet is a vrrpSet of a bare Director, for the netns tests.
func newTestVRRPSet() *vrrpSet {
	log := slog.New(slog.DiscardHandler)
	d := &Director{log: log, notify: newNotifier(log), fifos: newFIFOSet(log)}
	return &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
}

// updateIn applies c to s in ns, as a reload does, failing the test on error.
func updateIn(t *testing.T, ns *nstest.NS, s *vrrpSet, c *config.Config) {
	t.Helper()
	var err error
	ns.Do(t, func() error { err = s.update(c); return nil })
	if err != nil {
		t.Fatal(err)
	}
}

// A sync group's track_script goes to every member, as keepalived 2.2.7
// does it: a failing weight-0 script faults the members (the group), a
// failing weighted one moves every member's priority by the group entry's
// weight (not the script's), so does a weighted track_interface, and a
// reload changing the group's tracking
// restarts the members while an unchanged one keeps them.
func TestVRRPSetSyncGroupTracking(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "sgt-d-")
	vethPair(t, ns, "10.77.0.1/24")
	// veth2 (with its peer veth3) is what the group's track_interface follows.
	link := func(up bool) {
		t.Helper()
		ns.Do(t, func() error {
			l, err := netlink.LinkByName("veth2")
			if err != nil {
				if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth2"}, PeerName: "veth3"}); err != nil {
					return err
				}
				if l, err = netlink.LinkByName("veth2"); err != nil {
					return err
				}
				peer, err := netlink.LinkByName("veth3")
				if err != nil {
					return err
				}
				if err := netlink.LinkSetUp(peer); err != nil {
					return err
				}
			}
			if up {
				return netlink.LinkSetUp(l)
			}
			return netlink.LinkSetDown(l)
		})
	}
	link(true)
	dir := t.TempDir()
	failA, failB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	inst := func(name string, vrid int, vip string) config.VRRPInstance {
		return config.VRRPInstance{
			Name: name, Interface: "veth0", VirtualRouterID: vrid, Priority: 100, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true,
			VirtualAddrs: []netip.Addr{netip.MustParseAddr(vip)},
		}
	}
	cfg := func(weight int) *config.Config {
		return &config.Config{
			ScriptUser: config.ScriptUser{User: "root"},
			VRRP:       []config.VRRPInstance{inst("VI_1", 31, "10.77.0.100"), inst("VI_2", 32, "10.77.0.101")},
			VRRPScripts: []config.VRRPScript{
				{Name: "chk", Script: "test ! -e " + failA, Interval: 50 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1},
				{Name: "chk2", Script: "test ! -e " + failB, Interval: 50 * time.Millisecond, Timeout: time.Second, Weight: -10, Rise: 1, Fall: 1},
			},
			VRRPSyncGroups: []config.VRRPSyncGroup{{Name: "G1", Group: []string{"VI_1", "VI_2"},
				TrackInterfaces: []config.TrackInterface{{Name: "veth2", Weight: -5}},
				TrackScripts:    []config.TrackScript{{Name: "chk"}, {Name: "chk2", Weight: weight, WeightSet: true}}}},
		}
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	d := &Director{log: log, notify: newNotifier(log), fifos: newFIFOSet(log)}
	s := &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
	defer s.stopAll(false)
	update := func(c *config.Config) {
		t.Helper()
		var err error
		ns.Do(t, func() error { err = s.update(c); return nil })
		if err != nil {
			t.Fatal(err)
		}
	}

	c := cfg(-20)
	update(c)
	waitStates(t, s, vrrp.StateMaster, "started", "VI_1", "VI_2")
	if len(c.VRRP[0].TrackScripts) != 0 {
		t.Errorf("the members' merged tracking went back into the configuration: %+v", c.VRRP[0].TrackScripts)
	}

	writeValue(t, failB, "1")
	waitPrio(t, s, "VI_1", 80, "group's chk2 weight -20 failing")
	waitPrio(t, s, "VI_2", 80, "group's chk2 weight -20 failing")

	writeValue(t, failA, "1")
	waitStates(t, s, vrrp.StateFault, "group's weight-0 chk failing", "VI_1", "VI_2")
	if err := os.Remove(failA); err != nil {
		t.Fatal(err)
	}
	waitStates(t, s, vrrp.StateMaster, "chk good again", "VI_1", "VI_2")

	link(false)
	waitPrio(t, s, "VI_1", 75, "group's veth2 weight -5 down")
	waitPrio(t, s, "VI_2", 75, "group's veth2 weight -5 down")
	link(true)
	waitPrio(t, s, "VI_1", 80, "veth2 up again")
	waitPrio(t, s, "VI_2", 80, "veth2 up again")

	first := map[string]*vrrp.Instance{"VI_1": s.runs["VI_1"].inst, "VI_2": s.runs["VI_2"].inst}
	update(cfg(-20))
	for n, i := range first {
		if s.runs[n].inst != i {
			t.Errorf("an unchanged group restarted %s", n)
		}
	}
	update(cfg(-30))
	waitPrio(t, s, "VI_1", 70, "reload: group's chk2 weight -30")
	waitPrio(t, s, "VI_2", 70, "reload: group's chk2 weight -30")
	for n, i := range first {
		if s.runs[n].inst == i {
			t.Errorf("a changed group tracking did not restart %s", n)
		}
	}
}

// With sync_group_tracking_weight a member's own weighted track_script
// moves that member's priority alone (keepalived 2.2.7: "(VI_1) Changing
// effective priority from 100 to 80" while VI_2 stays at 100), and both
// stay Master: a lower priority is no fault.
func TestVRRPSetSyncGroupTrackingWeight(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "sgw-d-")
	vethPair(t, ns, "10.78.0.1/24")
	fail := filepath.Join(t.TempDir(), "fail")
	inst := func(name string, vrid int, vip string) config.VRRPInstance {
		return config.VRRPInstance{
			Name: name, Interface: "veth0", VirtualRouterID: vrid, Priority: 100, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true,
			VirtualAddrs: []netip.Addr{netip.MustParseAddr(vip)},
		}
	}
	vi1 := inst("VI_1", 41, "10.78.0.100")
	vi1.TrackScripts = []config.TrackScript{{Name: "chk", Weight: -20, WeightSet: true}}
	cfg := &config.Config{
		ScriptUser: config.ScriptUser{User: "root"},
		VRRP:       []config.VRRPInstance{vi1, inst("VI_2", 42, "10.78.0.101")},
		VRRPScripts: []config.VRRPScript{
			{Name: "chk", Script: "test ! -e " + fail, Interval: 50 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1},
		},
		VRRPSyncGroups: []config.VRRPSyncGroup{{Name: "G1", Group: []string{"VI_1", "VI_2"}, TrackingWeight: true}},
	}
	log := slog.New(slog.DiscardHandler)
	d := &Director{log: log, notify: newNotifier(log), fifos: newFIFOSet(log)}
	s := &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
	defer s.stopAll(false)
	var err error
	ns.Do(t, func() error { err = s.update(cfg); return nil })
	if err != nil {
		t.Fatal(err)
	}
	waitStates(t, s, vrrp.StateMaster, "started", "VI_1", "VI_2")
	writeValue(t, fail, "1")
	waitPrio(t, s, "VI_1", 80, "VI_1's own chk weight -20 failing")
	waitStates(t, s, vrrp.StateMaster, "a lower priority", "VI_1", "VI_2")
	if p := s.runs["VI_2"].inst.Priority(); p != 100 {
		t.Errorf("VI_2's priority %d, want 100: VI_1's own tracking moved it", p)
	}
	if err := os.Remove(fail); err != nil {
		t.Fatal(err)
	}
	waitPrio(t, s, "VI_1", 100, "chk good again")
}
