package director

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vrrp"
)

// An instance's track_file and track_script entries resolve to the
// entry's weight and reverse where it sets them, else the file's
// (script's).
func TestTrackedResolvesWeightAndReverse(t *testing.T) {
	v := config.VRRPInstance{
		TrackFiles:   []config.TrackFile{{Name: "f"}, {Name: "g", Weight: -4, WeightSet: true}, {Name: "h", ReverseSet: true}},
		TrackScripts: []config.TrackScript{{Name: "s", Weight: 7, WeightSet: true, Reverse: true, ReverseSet: true}},
	}
	files := map[string]config.VRRPTrackFile{"f": {Weight: 3, Reverse: true}, "g": {Weight: 1, Reverse: true}, "h": {Weight: 2, Reverse: true}}
	want := map[string]vrrp.TrackedFile{"f": {Weight: 3, Reverse: true}, "g": {Weight: -4, Reverse: true}, "h": {Weight: 2}}
	if got := trackedFiles(v, files); len(got) != len(want) || got["f"] != want["f"] || got["g"] != want["g"] || got["h"] != want["h"] {
		t.Errorf("trackedFiles = %v, want %v", got, want)
	}
	got := tracked(v, map[string]config.VRRPScript{"s": {Weight: -1, InitFail: true}})
	if got["s"] != (vrrp.TrackedScript{Weight: 7, Reverse: true, InitFail: true}) {
		t.Errorf("tracked = %v", got)
	}
}

func writeValue(t *testing.T, path, v string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readValue(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitPrio(t *testing.T, s *vrrpSet, name string, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		r := s.runs[name]
		s.mu.Unlock()
		if r != nil && r.inst.Priority() == want {
			return
		}
		if time.Now().After(deadline) {
			got := -1
			if r != nil {
				got = r.inst.Priority()
			}
			t.Fatalf("%s: priority %d, want %d", what, got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// vethPair gives the namespace an up veth pair, veth0 with addr, for an
// instance's interface.
func vethPair(t *testing.T, ns *nstest.NS, addr string) {
	t.Helper()
	nstest.LocalVeth(t, ns, "veth0", "veth1", addr)
}

// The director's side of track_file, through the reloads SIGHUP does:
// init_file writes the file before the instance starts (which starts at
// the value × weight), a write moves the running instance, a reload with
// a changed weight restarts the instance without overwriting the file
// again, a reload pointing the file elsewhere keeps the instance and
// follows the new file, and a reload naming a file in a missing directory
// fails and leaves everything as it was.
func TestVRRPSetTrackFileReload(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "trk-d-")
	vethPair(t, ns, "10.78.0.1/24")
	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeValue(t, fileA, "1")
	cfg := func(file string, weight int) *config.Config {
		return &config.Config{
			VRRP: []config.VRRPInstance{{
				Name: "VI_1", Interface: "veth0", VirtualRouterID: 9, Priority: 100, Version: 3,
				AdvertInterval: 100 * time.Millisecond, Preempt: true,
				VirtualAddrs: []netip.Addr{netip.MustParseAddr("10.78.0.100")},
				TrackFiles:   []config.TrackFile{{Name: "f"}},
			}},
			VRRPTrackFiles: []config.VRRPTrackFile{{Name: "f", File: file, Weight: weight, InitFile: true, InitValue: 5, InitOverwrite: true}},
		}
	}
	d := &Director{log: slog.New(slog.DiscardHandler)}
	s := &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
	defer s.stopAll(false)
	update := func(c *config.Config) (err error) {
		ns.Do(t, func() error { err = s.update(c); return nil })
		return err
	}

	if err := update(cfg(fileA, 2)); err != nil {
		t.Fatal(err)
	}
	if v := readValue(t, fileA); v != "5\n" {
		t.Fatalf("init_file overwrite at start: file holds %q, want 5", v)
	}
	waitPrio(t, s, "VI_1", 110, "started at init value 5 × 2")
	writeValue(t, fileA, "7")
	waitPrio(t, s, "VI_1", 114, "write 7")

	first := s.runs["VI_1"].inst
	if err := update(cfg(fileA, 3)); err != nil {
		t.Fatal(err)
	}
	if v := readValue(t, fileA); v != "7\n" {
		t.Fatalf("a reload overwrote the track file: %q", v)
	}
	waitPrio(t, s, "VI_1", 121, "reload with weight 3")
	second := s.runs["VI_1"].inst
	if second == first {
		t.Error("a changed track_file weight did not restart its instance")
	}

	// Pointed at b (missing: init_file creates it with 5 at a reload too).
	if err := update(cfg(fileB, 3)); err != nil {
		t.Fatal(err)
	}
	if v := readValue(t, fileB); v != "5\n" {
		t.Fatalf("init_file at a reload: b holds %q, want 5", v)
	}
	waitPrio(t, s, "VI_1", 115, "reload pointing at b")
	if s.runs["VI_1"].inst != second {
		t.Error("a track_file's new path restarted its instance (its weights are the same)")
	}
	writeValue(t, fileA, "-3")
	writeValue(t, fileB, "2")
	waitPrio(t, s, "VI_1", 106, "write to b")

	err := update(cfg(filepath.Join(dir, "missing", "c"), 3))
	if err == nil {
		t.Fatal("a track_file in a missing directory was accepted")
	}
	t.Logf("refused: %v", err)
	writeValue(t, fileB, "1")
	waitPrio(t, s, "VI_1", 103, "still following b after the refused reload")
	if s.runs["VI_1"].inst != second {
		t.Error("the refused reload restarted the instance")
	}
}
