package runas_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/internal/runas/runastest"
)

func nobody(t *testing.T) runas.Cred { return runastest.Nobody(t) }

// rootDir is a root-owned directory of the given mode holding an
// executable script; the path above it (t.TempDir under the sticky /tmp)
// is root's.
func rootDir(t *testing.T, mode os.FileMode) (dir, script string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "scripts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "check.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir, script
}

func TestLookup(t *testing.T) {
	c := nobody(t)
	if c.UID != 65534 || c.GID != 65534 || c.User != "nobody" || c.Group != "nogroup" {
		t.Errorf("nobody nogroup = %+v", c)
	}
	d, err := runas.Lookup("nobody", "")
	if err != nil || d.GID != 65534 {
		t.Errorf("nobody without group = %+v, %v; want its primary group 65534", d, err)
	}
	if _, err := runas.Lookup("no-such-user-xlb", ""); err == nil {
		t.Error("unknown user accepted")
	}
	if _, err := runas.Lookup("nobody", "no-such-group-xlb"); err == nil {
		t.Error("unknown group accepted")
	}
}

func TestCheckSecure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the rule is about root-owned paths")
	}
	_, safe := rootDir(t, 0o755)
	if err := runas.CheckSecure(safe+" arg", runas.Root()); err != nil {
		t.Errorf("script in a root-owned 0755 directory refused: %v", err)
	}
	_, unsafe := rootDir(t, 0o777)
	err := runas.CheckSecure(unsafe, runas.Root())
	if err == nil || !strings.Contains(err.Error(), "writable by any user") {
		t.Errorf("script in a world-writable directory, as root: %v; want refused", err)
	}
	// Group-writable by a group other than root's: refused too.
	gdir, gscript := rootDir(t, 0o775)
	if err := os.Chown(gdir, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := runas.CheckSecure(gscript, runas.Root()); err == nil {
		t.Error("script in a directory writable by group 65534 accepted as root")
	}
	// Not run with root's ids: nothing to protect, as in keepalived.
	if c, err := runas.Lookup("nobody", "nogroup"); err == nil {
		if err := runas.CheckSecure(unsafe, c); err != nil {
			t.Errorf("script run as nobody in a world-writable directory refused: %v", err)
		}
	}
	// A world-writable script itself.
	_, wfile := rootDir(t, 0o755)
	if err := os.Chmod(wfile, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := runas.CheckSecure(wfile, runas.Root()); err == nil {
		t.Error("world-writable script accepted as root")
	}
	// A bare name is found through PATH and its directory checked.
	t.Setenv("PATH", filepath.Dir(unsafe))
	if err := runas.CheckSecure("check.sh", runas.Root()); err == nil {
		t.Error("script found in a world-writable PATH directory accepted as root")
	}
	t.Setenv("PATH", filepath.Dir(safe))
	if err := runas.CheckSecure("check.sh x", runas.Root()); err != nil {
		t.Errorf("script found in a safe PATH directory refused: %v", err)
	}
	if err := runas.CheckSecure("no-such-command-xlb", runas.Root()); err == nil {
		t.Error("a command not in PATH accepted")
	}
	// keepalived's "</file" open test runs nothing.
	if err := runas.CheckSecure("</etc/passwd", runas.Root()); err != nil {
		t.Errorf("open test refused: %v", err)
	}
}

func TestApplyRunsAsUser(t *testing.T) {
	c := nobody(t)
	out := filepath.Join(runastest.WritableDir(t), "id")
	script := "id -u > " + out + "; id -g >> " + out + "; id -G >> " + out + "; pwd >> " + out
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := c.Apply(cmd, script); err != nil {
		t.Fatal(err)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	got, _ := os.ReadFile(out)
	if want := "65534\n65534\n65534\n/\n"; string(got) != want {
		t.Errorf("id -u, -g, -G, pwd = %q, want %q", got, want)
	}
	cmd = exec.Command("/bin/sh", "-c", "true")
	if err := runas.Refuse(os.ErrNotExist).Apply(cmd, "true"); err == nil {
		t.Error("a refused cred applied")
	}
}
