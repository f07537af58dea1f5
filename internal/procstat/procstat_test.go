package procstat

import (
	"os"
	"strconv"
	"testing"
)

// This process's own stat gives its parent's PID, whatever its command
// name holds.
func TestFieldsParent(t *testing.T) {
	f, err := Fields(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(f) < 20 || f[1] != strconv.Itoa(os.Getppid()) {
		t.Fatalf("fields %v: want the parent %d at [1] and 20 fields at least", f, os.Getppid())
	}
	if _, err := Fields(-1); err == nil {
		t.Fatal("stat of PID -1 read")
	}
}
