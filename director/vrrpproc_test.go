package director

import (
	"log/slog"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/internal/trackproc/trackproctest"
	"github.com/xlb-project/xlb/vrrp"
)

// An instance's track_process entries resolve to the entry's weight and
// reverse where it sets them, else the process's.
func TestTrackedProcessesResolve(t *testing.T) {
	v := config.VRRPInstance{TrackProcesses: []config.TrackProcess{{Name: "a"}, {Name: "b", Weight: -4, WeightSet: true}, {Name: "c", ReverseSet: true}}}
	procs := map[string]config.VRRPTrackProcess{"a": {Weight: 3, Reverse: true}, "b": {Weight: 1, Reverse: true}, "c": {Weight: 2, Reverse: true}}
	got := trackedProcesses(v, procs)
	want := map[string]vrrp.TrackedProcess{"a": {Weight: 3, Reverse: true}, "b": {Weight: -4, Reverse: true}, "c": {Weight: 2}}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] || got["c"] != want["c"] {
		t.Errorf("trackedProcesses = %v, want %v", got, want)
	}
	if trackedProcesses(config.VRRPInstance{}, procs) != nil {
		t.Error("no entries resolve to something")
	}
}

// The director's side of track_process, through the reloads SIGHUP does:
// the instance starts at the running process's weight, a reload with a
// changed weight restarts the instance, a reload changing what is matched
// keeps the instance and counts anew (the process no longer matches), and
// a reload dropping the last track_process stops counting.
func TestVRRPSetTrackProcessReload(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "tp-d-")
	vethPair(t, ns, "10.79.0.1/24")
	bin := trackproctest.SleepCopy(t, "xlbtp-dir")
	cmd := exec.Command(bin, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	cfg := func(process string, weight int, tracked bool) *config.Config {
		c := &config.Config{
			VRRP: []config.VRRPInstance{{
				Name: "VI_1", Interface: "veth0", VirtualRouterID: 9, Priority: 100, Version: 3,
				AdvertInterval: 100 * time.Millisecond, Preempt: true,
				VirtualAddrs: []netip.Addr{netip.MustParseAddr("10.79.0.100")},
			}},
			VRRPTrackProcesses: []config.VRRPTrackProcess{{Name: "p", Process: process, Weight: weight, Quorum: 1}},
		}
		if tracked {
			c.VRRP[0].TrackProcesses = []config.TrackProcess{{Name: "p"}}
		}
		return c
	}
	d := &Director{log: slog.New(slog.DiscardHandler)}
	s := &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
	defer s.stopAll(false)
	update := func(c *config.Config) (err error) {
		ns.Do(t, func() error { err = s.update(c); return nil })
		return err
	}

	if err := update(cfg("xlbtp-dir", 10, true)); err != nil {
		t.Fatal(err)
	}
	// Counted by the first scan, before the instance starts.
	waitPrio(t, s, "VI_1", 110, "started with the process running")
	first := s.runs["VI_1"].inst

	if err := update(cfg("xlbtp-dir", 20, true)); err != nil {
		t.Fatal(err)
	}
	waitPrio(t, s, "VI_1", 120, "reload with weight 20")
	second := s.runs["VI_1"].inst
	if second == first {
		t.Error("a changed track_process weight did not restart its instance")
	}

	if err := update(cfg("xlbtp-none", 20, true)); err != nil {
		t.Fatal(err)
	}
	waitPrio(t, s, "VI_1", 100, "reload matching another name")
	if s.runs["VI_1"].inst != second {
		t.Error("a track_process's new name restarted its instance (its weights are the same)")
	}

	if err := update(cfg("xlbtp-dir", 20, false)); err != nil {
		t.Fatal(err)
	}
	if len(s.procs) != 0 {
		t.Errorf("still counting %d processes no instance tracks", len(s.procs))
	}
	if s.runs["VI_1"].inst.Priority() != 100 {
		t.Errorf("untracked: priority %d, want 100", s.runs["VI_1"].inst.Priority())
	}
}
