package lab

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// TestCleanup simulates a crashed run (namespaces, a process inside one,
// an owner file naming a dead process) and checks that Cleanup removes it
// all, while a live lab and names outside the scheme stay untouched.
func TestCleanup(t *testing.T) {
	if err := CheckTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	live := newTestLab(t, Options{RealServers: 1, BigFileBytes: 4096})

	prefix, err := newPrefix()
	if err != nil {
		t.Fatal(err)
	}
	crashed := []string{prefix + "br", prefix + "client", prefix + "rs1"}
	foreign := prefix + "keepme" // outside the scheme
	for _, n := range append(crashed, foreign) {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v %s", n, err, out)
		}
	}
	t.Cleanup(func() {
		for _, n := range append(crashed, foreign) {
			_ = deleteNS(n)
		}
	})
	// A leftover process of the crashed run, started by this test.
	orphan := exec.Command("ip", "netns", "exec", prefix+"rs1", "sleep", "120")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	orphanDone := make(chan error, 1)
	go func() { orphanDone <- orphan.Wait() }()
	t.Cleanup(func() { _ = orphan.Process.Kill() })

	dir, err := os.MkdirTemp("", "xlb-lab-"+prefix)
	if err != nil {
		t.Fatal(err)
	}
	// The owner "died": a PID that exists but with another start time.
	b, _ := json.Marshal(owner{PID: os.Getpid(), Start: "1", Dir: dir})
	if err := os.MkdirAll(ownerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ownerPath(prefix), b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The live lab is never cleaned, even when named explicitly.
	deleted, err := Cleanup(live.Prefix())
	if err != nil || len(deleted) != 0 {
		t.Fatalf("cleanup of a live lab deleted %v, %v", deleted, err)
	}
	if _, err := live.Exec(context.Background(), live.Client(), "true"); err != nil {
		t.Fatalf("live lab broken after Cleanup: %v", err)
	}

	deleted, err = Cleanup(prefix)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	slices.Sort(deleted)
	want := slices.Clone(crashed)
	slices.Sort(want)
	if !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	for _, n := range crashed {
		if nsExists(n) {
			t.Errorf("%s survived Cleanup", n)
		}
	}
	if !nsExists(foreign) {
		t.Errorf("%s (outside the scheme) was deleted", foreign)
	}
	select {
	case <-orphanDone:
	case <-time.After(5 * time.Second):
		t.Error("process in the crashed namespace was not killed")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("crashed run's dir %s survived", dir)
	}
	if _, err := os.Stat(ownerPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Error("owner file survived")
	}
	if _, err := Cleanup("[bad"); err == nil {
		t.Error("want error for a bad pattern")
	}
}
