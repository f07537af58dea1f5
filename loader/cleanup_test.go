package loader_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/xlb-project/xlb/loader"
	"golang.org/x/sys/unix"
)

// Cleanup (a clean stop, or --cleanup) leaves nothing of a default pin
// directory behind: its netns/NAME parent goes when empty, other
// namespaces' directories and the root stay.
func TestCleanupRemovesEmptyParents(t *testing.T) {
	requireRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		t.Skip("skipped: /sys/fs/bpf is not a bpf filesystem here")
	}
	ns := fmt.Sprintf("xlb-cleanup-test-%d", os.Getpid())
	mine := loader.DefaultPinDir(filepath.Join("netns", ns), "eth0")
	other := loader.DefaultPinDir(filepath.Join("netns", ns+"-other"), "eth0")
	for _, d := range []string{mine, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { loader.Cleanup(other) })
	if err := loader.Cleanup(mine); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(mine)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", filepath.Dir(mine), err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another namespace's pin directory went too: %v", err)
	}
	if _, err := os.Stat(loader.DefaultPinRoot); err != nil {
		t.Errorf("the pin root went: %v", err)
	}
}
