package vrrp

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/internal/trackfile"
)

// fileChangeBound is how long a change may take to reach an instance in
// these tests. The change is read on the inotify event that the writer's
// close raises, typically within a millisecond; the bound leaves room for
// a loaded test machine.
const fileChangeBound = 250 * time.Millisecond

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitPriority waits up to fileChangeBound for the instance's priority and
// reports how long it took.
func waitPriority(t *testing.T, h *harness, want int, what string) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < fileChangeBound {
		if h.Priority() == want {
			t.Logf("%s: priority %d after %v", what, want, time.Since(start))
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: priority %d after %v, want %d", what, h.Priority(), fileChangeBound, want)
}

// A watched file's value reaches the subscribed instance on every write,
// rename onto it and removal (0), within fileChangeBound; text that is no
// number reads as 0, a number beyond 32 bits keeps the last value, and
// nothing is passed on after Close.
func TestFileWatchFollowsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prio")
	writeFile(t, path, "3\n")
	w, err := trackfile.New("f", path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if v := w.Value(); v != 3 {
		t.Fatalf("initial value %d, want 3", v)
	}
	h := newHarness(t, baseCfg(), "10.0.0.2", WithTrackedFiles(map[string]TrackedFile{"f": {Weight: 2}}))
	w.Subscribe(h.Instance)
	if p := h.Priority(); p != 106 {
		t.Fatalf("subscribed at value 3: priority %d, want 100+3×2", p)
	}
	h.start(t0)

	writeFile(t, path, "5\n")
	waitPriority(t, h, 110, "write 5")
	tmp := filepath.Join(dir, ".prio.new")
	writeFile(t, tmp, "-1")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitPriority(t, h, 98, "rename -1 onto it")
	writeFile(t, path, "maintenance")
	waitPriority(t, h, 100, "text that is no number")
	writeFile(t, path, "7")
	waitPriority(t, h, 114, "write 7")
	writeFile(t, path, "4294967296")
	// Out of range: ignored. Then a good write shows the watch still works.
	time.Sleep(50 * time.Millisecond)
	if p := h.Priority(); p != 114 {
		t.Fatalf("out-of-range value moved the priority to %d", p)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitPriority(t, h, 100, "file removed")
	// Another file in the directory is not ours.
	writeFile(t, filepath.Join(dir, "other"), "9")
	writeFile(t, path, "-50")
	waitPriority(t, h, 1, "recreated with -50 (-100: floored)")
	if h.State() != StateBackup {
		t.Fatalf("state %v, want backup (-100 is above -254)", h.State())
	}
	writeFile(t, path, "-127")
	start := time.Now()
	for h.State() != StateFault {
		if time.Since(start) > fileChangeBound {
			t.Fatal("-127 × 2 = -254 did not fault the instance")
		}
		time.Sleep(time.Millisecond)
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "1")
	time.Sleep(50 * time.Millisecond)
	if h.State() != StateFault {
		t.Fatal("a change after Close reached the instance")
	}
}

// A file missing at start is 0 (keepalived's rule) and is followed once
// created.
func TestFileWatchMissingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "later")
	w, err := trackfile.New("f", path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h := newHarness(t, baseCfg(), "10.0.0.2", WithTrackedFiles(map[string]TrackedFile{"f": {}}))
	w.Subscribe(h.Instance)
	h.start(t0)
	h.expect(t, StateBackup, "missing file, weight 0")
	writeFile(t, path, "1")
	start := time.Now()
	for h.State() != StateFault {
		if time.Since(start) > fileChangeBound {
			t.Fatal("creating the file with 1 did not fault the weight-0 instance")
		}
		time.Sleep(time.Millisecond)
	}
}

// A symlinked track file is followed at its target, as keepalived's
// realpath does.
func TestFileWatchSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(t.TempDir(), "link")
	writeFile(t, target, "2")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	w, err := trackfile.New("f", link, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h := newHarness(t, baseCfg(), "10.0.0.2", WithTrackedFiles(map[string]TrackedFile{"f": {Weight: 1}}))
	w.Subscribe(h.Instance)
	waitPriority(t, h, 102, "through the symlink")
	writeFile(t, target, "4")
	waitPriority(t, h, 104, "write to the target")
}

// Writing a track file moves the VIP between two directors: A (150)
// tracks a file with weight -1; 60 in it lowers A to 90, which it
// advertises at once, so B (100, preempt) takes over after its
// Master_Down_Interval; 0 gives A its 150 back and it preempts.
func TestNetnsTrackFileMovesVIP(t *testing.T) {
	nstest.RequireRoot(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	na, nb := nstest.NewWithPrefix(t, "trk-a-"), nstest.NewWithPrefix(t, "trk-b-")
	nstest.VethPair(t, na, nb, "10.77.0.1/24", "10.77.0.2/24")
	a, b := newNode(t, na), newNode(t, nb)
	path := filepath.Join(t.TempDir(), "maint")
	w, err := trackfile.New("maint", path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a.start(pairCfg("A", 150, 3, adv), WithTrackedFiles(map[string]TrackedFile{"maint": {Weight: -1}}))
	w.Subscribe(a.inst)
	b.start(pairCfg("B", 100, 3, adv))
	if _, ok := a.waitVIP(vipAddr, true, 2*time.Second); !ok {
		t.Fatal("A never became master")
	}
	time.Sleep(3 * adv)

	written := time.Now()
	writeFile(t, path, "60\n")
	mdi := b.inst.MasterDownInterval()
	if _, ok := b.waitVIP(vipAddr, true, mdi+time.Second); !ok {
		t.Fatalf("B did not take over after A's file said 60 (A priority %d, state %v)", a.inst.Priority(), a.inst.State())
	}
	t.Logf("B took the VIP %v after the write (its Master_Down_Interval %v)", time.Since(written), mdi)
	if _, ok := a.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatal("A kept the VIP at priority 90")
	}
	if a.inst.Priority() != 90 || a.inst.State() != StateBackup {
		t.Fatalf("A priority %d state %v, want 90 in backup", a.inst.Priority(), a.inst.State())
	}

	writeFile(t, path, "0\n")
	if _, ok := a.waitVIP(vipAddr, true, a.inst.MasterDownInterval()+time.Second); !ok {
		t.Fatalf("A did not preempt back at priority %d", a.inst.Priority())
	}
	if _, ok := b.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatal("B kept the VIP after A preempted")
	}
}
