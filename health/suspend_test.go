package health

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// probes counts the runs of a MISC_CHECK that appends a line to a file.
func probes(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// A suspended target (ha_suspend without the VIP) runs no check and keeps
// its state; cleared, it checks again at once.
func TestSuspendedTargetRunsNoChecksAndKeepsState(t *testing.T) {
	log := filepath.Join(t.TempDir(), "runs")
	tg := Target{Key: "misc/a", DelayLoop: 30 * time.Millisecond, Check: config.Check{
		Type: config.MiscCheck, Script: "echo x >> " + log, Timeout: time.Second, Rise: 1, Fall: 1,
	}}
	rec := newRecorder()
	m := newTestManager(t, rec)

	tg.Suspended = true
	m.Update([]Target{tg})
	time.Sleep(300 * time.Millisecond)
	if n := probes(t, log); n != 0 {
		t.Fatalf("suspended from the start: %d checks ran", n)
	}
	if st, _ := m.Status(tg.Key); st.Up {
		t.Fatal("a never-checked suspended target is up")
	}

	tg.Suspended = false
	m.Update([]Target{tg})
	rec.wait(t, tg.Key, true, 2*time.Second)

	tg.Suspended = true
	m.Update([]Target{tg})
	time.Sleep(100 * time.Millisecond) // a check in flight may finish
	before := probes(t, log)
	time.Sleep(300 * time.Millisecond)
	if n := probes(t, log); n != before {
		t.Fatalf("suspended: checks went on (%d, then %d)", before, n)
	}
	if st, _ := m.Status(tg.Key); !st.Up {
		t.Fatal("suspending took the server down; keepalived keeps its last state")
	}
	rec.none(t, tg.Key, 50*time.Millisecond)

	tg.Suspended = false
	m.Update([]Target{tg})
	eventually(t, 2*time.Second, "checks resume", func() bool { return probes(t, log) > before })
}
