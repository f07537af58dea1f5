package vrrp

import (
	"os/exec"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/internal/trackproc"
	"github.com/xlb-project/xlb/internal/trackproc/trackproctest"
)

// procEventBound is how long a process's start or exit may take to reach
// an instance with the kernel's proc connector (the events come as they
// happen, typically within a millisecond); without it the monitor scans
// /proc every trackproc.PollInterval.
const procEventBound = 250 * time.Millisecond

// startNamed runs /bin/sleep 300 under the name name (a copy of the
// binary, so comm and argv[0] are name) and returns the command and the
// copy's path. The test kills it by its PID at the end.
func startNamed(t *testing.T, name string) (*exec.Cmd, string) {
	t.Helper()
	bin := trackproctest.SleepCopy(t, name)
	cmd := exec.Command(bin, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bin
}

// waitProcPriority waits up to bound for the instance's priority and
// returns how long it took.
func waitProcPriority(t *testing.T, h *harness, want int, bound time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < bound {
		if h.Priority() == want {
			t.Logf("%s: priority %d after %v", what, want, time.Since(start))
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: priority %d after %v, want %d", what, h.Priority(), bound, want)
	return 0
}

// A real process: the tracker counts it by name (comm) and by its command
// line (full_command, exact parameters), the instance's priority follows
// its start, and its kill after terminate_delay (not before), without the
// process being reaped (a zombie is not running); a definition whose
// parameters differ never counts it.
func TestTrackProcessRealProcess(t *testing.T) {
	nstest.RequireRoot(t)
	m := trackproc.NewMonitor(testLogger(), nil)
	defer m.Close()
	const terminate = 300 * time.Millisecond
	byName := config.VRRPTrackProcess{Process: "xlbtp-test", Quorum: 1, TerminateDelay: terminate}
	tn, err := m.Track("name", byName)
	if err != nil {
		t.Fatal(err)
	}
	bound := procEventBound
	if m.Polling() {
		t.Logf("no proc connector here: /proc is scanned every %v", trackproc.PollInterval)
		bound += trackproc.PollInterval
	}
	h := newHarness(t, baseCfg(), "10.0.0.2", WithTrackedProcesses(map[string]TrackedProcess{"name": {Weight: 10}, "cmd": {Weight: 20}, "other": {Weight: 40}}))
	tn.Subscribe(h.Instance)
	if p := h.Priority(); p != 100 {
		t.Fatalf("before the process: priority %d, want 100", p)
	}

	cmd, bin := startNamed(t, "xlbtp-test")
	waitProcPriority(t, h, 110, bound, "process started, counted by name")

	// Tracked now: the initial /proc scan counts it at once.
	byCmd := config.VRRPTrackProcess{Process: bin, Params: []string{"300"}, Quorum: 1}
	byCmd.Normalize()
	other := config.VRRPTrackProcess{Process: bin, Params: []string{"301"}, Quorum: 1}
	other.Normalize()
	tc, err := m.Track("cmd", byCmd)
	if err != nil {
		t.Fatal(err)
	}
	to, err := m.Track("other", other)
	if err != nil {
		t.Fatal(err)
	}
	tc.Subscribe(h.Instance)
	to.Subscribe(h.Instance)
	if p := h.Priority(); p != 130 {
		t.Fatalf("full command counted by the initial scan: priority %d, want 100+10+20 (the other parameters not counted)", p)
	}

	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: a zombie, which does not count. The exit is seen
	// (at once with the connector, at the next scan without) and the
	// full-command one, without a delay, goes then; the by-name one
	// terminate_delay later.
	waitProcPriority(t, h, 110, bound, "killed: the full-command one at once")
	seen := time.Now()
	waitProcPriority(t, h, 100, terminate+bound, "killed: the by-name one after terminate_delay")
	if d := time.Since(seen); d < terminate-20*time.Millisecond {
		t.Fatalf("by-name down %v after the exit was seen, before terminate_delay %v", d, terminate)
	}
	if d := time.Since(killed); d < terminate {
		t.Fatalf("down after %v, before terminate_delay %v", d, terminate)
	}
	_ = cmd.Wait()
}
