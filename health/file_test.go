package health

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// keepalived's FILE_CHECK rule (track_file.c in 2.2.7): weight 0 is down
// on a non-zero value (reverse: on zero); otherwise value × weight,
// negated by reverse, is added, and a product of -2^31 or less is down.
func TestFileResult(t *testing.T) {
	for _, tc := range []struct {
		v       int64
		weight  int
		reverse bool
		delta   int
		up      bool
	}{
		{0, 0, false, 0, true},
		{3, 0, false, 0, false},
		{-1, 0, false, 0, false},
		{0, 0, true, 0, false},
		{3, 0, true, 0, true},
		{5, 2, false, 10, true},
		{5, 2, true, -10, true},
		{-5, 2, false, -10, true},
		{-4, -3, true, -12, true},
		{0, 7, false, 0, true},                         // missing file: nothing added
		{-50, 1, false, -50, true},                     // below the server's weight: drained, not down
		{math.MinInt32, 1, false, 0, false},            // the fault value itself
		{-2, math.MaxInt32, false, 0, false},           // the product past -2^31
		{2, math.MaxInt32, false, math.MaxInt32, true}, // kept within 32 bits
		{2, math.MaxInt32, true, 0, false},
	} {
		delta, up := FileResult(tc.v, tc.weight, tc.reverse)
		if delta != tc.delta || up != tc.up {
			t.Errorf("FileResult(%d, %d, %v) = %d, %v; want %d, %v", tc.v, tc.weight, tc.reverse, delta, up, tc.delta, tc.up)
		}
	}
}

// fileChangeBound is how long a write may take to reach the Manager's
// events: the value is read on the inotify event of the writer's close,
// typically within a millisecond; the bound leaves room for a loaded machine.
const fileChangeBound = 250 * time.Millisecond

func fileTarget(key, path string, ck config.Check) Target {
	ck.Type = config.FileCheck
	ck.TrackFile = "f"
	return Target{Key: key, Check: ck, File: config.VRRPTrackFile{Name: "f", File: path, Weight: 1}}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A FILE_CHECK is up at once on a good value (no rise), moves the weight
// by value × weight on each write within fileChangeBound, goes down on
// weight 0's non-zero value and on the fault product, and reads a missing
// file as 0; both servers following the file share one watch.
func TestFileCheckFollowsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v")
	write(t, path, "2\n")
	rec := newRecorder()
	m := NewManager(testLogger(t), rec.onChange)
	defer m.Close()
	m.Update([]Target{
		fileTarget("w", path, config.Check{FileWeight: 5, FileWeightSet: true}),
		fileTarget("z", path, config.Check{FileWeightSet: true}), // weight 0
	})
	if ev := rec.wait(t, "w", true, fileChangeBound); ev.FileWeight != 10 {
		t.Fatalf("initial 2 × 5: %+v", ev.Event)
	}
	if n := len(m.files); n != 1 {
		t.Errorf("%d watches for one file, want 1", n)
	}
	rec.none(t, "z", 20*time.Millisecond) // weight 0, value 2: down, as it started

	start := time.Now()
	write(t, path, "-3\n")
	if ev := rec.wait(t, "w", true, fileChangeBound); ev.FileWeight != -15 {
		t.Fatalf("-3 × 5: %+v", ev.Event)
	}
	t.Logf("write reached the events after %v", time.Since(start))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if ev := rec.wait(t, "w", true, fileChangeBound); ev.FileWeight != 0 {
		t.Fatalf("removed file (0): %+v", ev.Event)
	}
	zUp := func(want bool) func() bool {
		return func() bool { st, _ := m.Status("z"); return st.Up == want }
	}
	// recorder.wait skips other keys' events: ask z's status instead.
	eventually(t, fileChangeBound, "weight 0, value 0: up", zUp(true))
	write(t, path, "-2147483648")
	if ev := rec.wait(t, "w", false, fileChangeBound); ev.FileWeight != 0 {
		t.Fatalf("the fault product: %+v", ev.Event)
	}
	eventually(t, fileChangeBound, "weight 0, a non-zero value: down", zUp(false))
	if st, _ := m.Status("w"); st.Up || st.LastErr == "" {
		t.Errorf("status after the fault value: %+v", st)
	}
	m.Update(nil)
	if n := len(m.files); n != 0 {
		t.Errorf("%d watches left after the checks went", n)
	}
}

// Reverse without its own weight comes from the track file; a reload that
// changes another target keeps the file check's watch and state.
func TestFileCheckReverseAndReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v")
	write(t, path, "4")
	rec := newRecorder()
	m := NewManager(testLogger(t), rec.onChange)
	defer m.Close()
	tg := fileTarget("r", path, config.Check{})
	tg.File.Weight, tg.File.Reverse = 3, true
	m.Update([]Target{tg})
	if ev := rec.wait(t, "r", true, fileChangeBound); ev.FileWeight != -12 {
		t.Fatalf("4 × 3 reversed: %+v", ev.Event)
	}
	w := m.files[tg.File].w
	m.Update([]Target{tg, {Key: "plain"}})
	if m.files[tg.File].w != w {
		t.Error("a reload of another target replaced the watch")
	}
	write(t, path, "1")
	if ev := rec.wait(t, "r", true, fileChangeBound); ev.FileWeight != -3 {
		t.Fatalf("1 × 3 reversed: %+v", ev.Event)
	}
}

// A file in a missing directory cannot be watched: the server stays down
// and says why.
func TestFileCheckUnwatchable(t *testing.T) {
	m := NewManager(testLogger(t), nil)
	defer m.Close()
	m.Update([]Target{fileTarget("x", filepath.Join(t.TempDir(), "no", "v"), config.Check{})})
	eventually(t, time.Second, "the error shows", func() bool {
		st, _ := m.Status("x")
		return st.Checks > 0 && !st.Up && st.LastErr != ""
	})
}
