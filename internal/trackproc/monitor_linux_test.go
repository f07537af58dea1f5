package trackproc

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/trackproc/trackproctest"
)

// Without the proc connector the monitor scans /proc every PollInterval:
// a started process is counted, and a killed one (a zombie, not yet
// reaped) is not, within an interval, after terminate_delay. The tracker
// is told nothing before the scan that sees the change.
func TestPollingFallback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (as the connector does)")
	}
	bin := trackproctest.SleepCopy(t, "xlbtp-poll")

	m := NewMonitor(nil, nil)
	m.noConnector = true
	defer m.Close()
	tr, err := m.Track("p", config.VRRPTrackProcess{Process: "xlbtp-poll", Quorum: 1, TerminateDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Polling() {
		t.Fatal("not polling")
	}
	r := &recorder{}
	tr.Subscribe(r)
	cmd := exec.Command(bin, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	waitUp := func(want bool, bound time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < bound {
			if tr.Up() == want {
				return time.Since(start)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("up %v after %v, want %v", tr.Up(), bound, want)
		return 0
	}
	d := waitUp(true, PollInterval+500*time.Millisecond)
	t.Logf("started: up after %v", d)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	d = waitUp(false, PollInterval+200*time.Millisecond+500*time.Millisecond)
	t.Logf("killed: down after %v", d)
	if d < 200*time.Millisecond {
		t.Errorf("down after %v, before terminate_delay", d)
	}
	wantStates(t, r, "polled", false, true, false)
}

// A shell forking children that exec sleep: each fork is briefly a second
// xlbtp-sh (until the exec renames it). With quorum 2 and no fork_delay
// the tracker sees those forks; with fork_delay they are hidden, the
// keepalived option for exactly this. Needs the connector (a /proc scan
// would rarely catch a fork before its exec).
func TestForkDelayHidesForks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bin := filepath.Join(t.TempDir(), "xlbtp-sh")
	src, err := os.Open("/bin/sh")
	if err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()

	m := NewMonitor(nil, nil)
	defer m.Close()
	plain, err := m.Track("plain", config.VRRPTrackProcess{Process: "xlbtp-sh", Quorum: 2})
	if err != nil {
		t.Fatal(err)
	}
	if m.Polling() {
		t.Skip("no proc connector here")
	}
	delayed, err := m.Track("delayed", config.VRRPTrackProcess{Process: "xlbtp-sh", Quorum: 2, ForkDelay: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rp, rd := &recorder{}, &recorder{}
	plain.Subscribe(rp)
	delayed.Subscribe(rd)
	cmd := exec.Command(bin, "-c", "while :; do /bin/sleep 0.05; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	time.Sleep(time.Second)
	if n := len(rp.states()); n < 3 {
		t.Errorf("without fork_delay: told %v, want the forks seen (down, up, down, ...)", rp.states())
	}
	wantStates(t, rd, "with fork_delay 500ms", false)
}
