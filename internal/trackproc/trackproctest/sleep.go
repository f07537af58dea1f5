// Package trackproctest gives the track_process tests a process of their
// own to count.
package trackproctest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// SleepCopy copies /bin/sleep to a temporary file named name and returns
// its path: run it, and its comm and argv[0] are name, which no other
// process on the machine has. The test is skipped without /bin/sleep.
func SleepCopy(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	src, err := os.Open("/bin/sleep")
	if err != nil {
		t.Skipf("no /bin/sleep: %v", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}
