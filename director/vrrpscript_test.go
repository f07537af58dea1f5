package director

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/internal/runas/runastest"
)

func countRuns(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("x"))
}

func waitGood(t *testing.T, r *scriptRun, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.good() != want {
		if time.Now().After(deadline) {
			t.Fatalf("script never became good=%v", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A vrrp_script changes state only after rise successes or fall failures
// in a row; init_fail starts it failed.
func TestScriptRunRiseFall(t *testing.T) {
	dir := t.TempDir()
	runs, flag := filepath.Join(dir, "runs"), filepath.Join(dir, "flag")
	r := startScript(config.VRRPScript{
		Name: "chk", Script: "echo x >> " + runs + "; test ! -e " + flag,
		Interval: 30 * time.Millisecond, Timeout: time.Second, Rise: 3, Fall: 3, InitFail: true,
	}, runas.Root(), slog.New(slog.DiscardHandler))
	defer r.stop()
	if r.good() {
		t.Fatal("init_fail script starts good")
	}
	waitGood(t, r, true)
	if n := countRuns(t, runs); n < 3 {
		t.Errorf("good after %d runs, want rise 3", n)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := countRuns(t, runs)
	waitGood(t, r, false)
	// One run may have been under way when the flag appeared.
	if n := countRuns(t, runs) - before; n < 2 {
		t.Errorf("failed after %d more runs, want fall 3", n)
	}
}

// A script that outlives its timeout is killed and counts as failed.
func TestScriptRunTimeout(t *testing.T) {
	r := startScript(config.VRRPScript{Name: "slow", Script: "sleep 30", Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1}, runas.Root(), slog.New(slog.DiscardHandler))
	start := time.Now()
	waitGood(t, r, false)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a hung script failed after %v, timeout 100ms", d)
	}
	t0 := time.Now()
	r.stop()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("stop took %v", d)
	}
}

// A vrrp_script runs as its user; one enable_script_security refuses fails
// (so the instances tracking it go to FAULT or lose its weight) instead of
// being dropped from them.
func TestScriptRunAsUser(t *testing.T) {
	nobody := runastest.Nobody(t)
	dir := runastest.WritableDir(t)
	out := filepath.Join(dir, "id")
	r := startScript(config.VRRPScript{
		Name: "chk", Script: runastest.IDScript(out), Interval: 30 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1,
	}, nobody, slog.New(slog.DiscardHandler))
	defer r.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if uid, gid, ok := runastest.ReadIDs(out); ok {
			if uid != 65534 || gid != 65534 {
				t.Errorf("vrrp_script ran as %d:%d, want nobody:nogroup 65534:65534", uid, gid)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vrrp_script wrote no ids")
		}
		time.Sleep(10 * time.Millisecond)
	}

	script := filepath.Join(dir, "check.sh") // dir is world-writable
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	secureRoot := runas.Root()
	secureRoot.Secure = true
	bad := startScript(config.VRRPScript{Name: "bad", Script: script, Interval: 30 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}, secureRoot, slog.New(slog.DiscardHandler))
	defer bad.stop()
	waitGood(t, bad, false)
}
