// Package runastest helps tests run scripts as an unprivileged user.
package runastest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xlb-project/xlb/internal/runas"
)

// Nobody is nobody:nogroup; the test is skipped, saying why, without root
// (only root can start a process as another user) or without that user.
func Nobody(t testing.TB) runas.Cred {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: running scripts as another user needs root")
	}
	c, err := runas.Lookup("nobody", "nogroup")
	if err != nil {
		t.Skipf("skipped: no nobody:nogroup on this machine: %v", err)
	}
	return c
}

// WritableDir is a fresh directory any user can write to (its parent, a
// t.TempDir, opened for traversal), for scripts run as another user to
// leave their output in.
func WritableDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's own parent is private (0700) too.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	return out
}

// IDScript is a script that writes its uid and gid, one a line, to file.
func IDScript(file string) string {
	return "id -u > " + file + "; id -g >> " + file
}

// ReadIDs reads what IDScript wrote; ok is false until it has.
func ReadIDs(file string) (uid, gid int, ok bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	u, err1 := strconv.Atoi(f[0])
	g, err2 := strconv.Atoi(f[1])
	return u, g, err1 == nil && err2 == nil
}
