package notifyfifo

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/internal/runas/runastest"
)

func TestCreatesFIFOAndRemovesItsOwn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ka.fifo")
	old := syscall.Umask(0o077) // the mode must not depend on the umask
	f, err := Open(Options{Path: p})
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeNamedPipe == 0 || st.Mode().Perm() != 0o644 {
		t.Errorf("fifo mode %v, want named pipe 0644", st.Mode())
	}
	if !f.Created() {
		t.Error("Created() is false for a fifo Open made")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("fifo created by Open still there after Close: %v", err)
	}
}

func TestReusesExistingFIFOAndKeepsIt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ka.fifo")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(Options{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	if f.Created() {
		t.Error("Created() is true for an existing fifo")
	}
	f.Write(`INSTANCE "VI_1" BACKUP 100`)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("existing fifo removed by Close: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("existing fifo's mode changed to %v", st.Mode().Perm())
	}
}

func TestRefusesRegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "not-a-fifo")
	if err := os.WriteFile(p, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: p}); err == nil || !strings.Contains(err.Error(), "not a fifo") {
		t.Fatalf("Open of a regular file: %v, want a refusal saying it is not a fifo", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "keep me\n" {
		t.Errorf("regular file changed to %q", b)
	}
	// Nor a symlink to a fifo (keepalived's O_NOFOLLOW).
	dir := t.TempDir()
	real := filepath.Join(dir, "real.fifo")
	if err := unix.Mkfifo(real, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.fifo")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: link}); err == nil {
		t.Fatal("Open followed a symlink")
	}
}

// A write never blocks, with no reader and with a full pipe; what does not
// fit is counted.
func TestWritesNeverBlock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ka.fifo")
	f, err := Open(Options{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := `INSTANCE "VI_1" MASTER_PRIORITY 100 ` + strings.Repeat("x", 200)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 { // ~400 KB, far more than a 64 KB pipe holds
			f.Write(line)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes to a fifo nobody reads blocked")
	}
	if f.Dropped() == 0 {
		t.Error("no line counted as dropped with the pipe full")
	}
	if w, d := f.Written(), f.Dropped(); w == 0 || w+d != 2000 {
		t.Errorf("%d lines counted written and %d dropped, want them to add up to the 2000 written", w, d)
	}
	// Once read, lines get through again: the first line is whole.
	r, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("first line read %q, %v", got, err)
	}
}

// The script gets the path as its last argument, and SIGTERM before the
// last lines: one that traps TERM and goes on reading still gets them.
func TestScriptGetsPathAndTermBeforeLastLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ka.fifo")
	log := filepath.Join(dir, "reader.log")
	script := filepath.Join(dir, "reader.sh")
	// The reader of the coordinator's keepalived 2.2.7 run.
	body := `#!/bin/bash
echo "args: $*" >> ` + log + `
trap 'echo GOT-TERM >> ` + log + `' TERM
while read -r line; do echo "$line" >> ` + log + `; done < "$2"
echo EOF >> ` + log + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Open(Options{Path: p, Script: script + " first", ScriptCred: runas.Root()})
	if err != nil {
		t.Fatal(err)
	}
	f.Write(`INSTANCE "VI_1" BACKUP 100`)
	waitFor(t, log, `INSTANCE "VI_1" BACKUP 100`)
	if err := f.Close(`INSTANCE "VI_1" STOP 100`, `GROUP "G1" STOP 0`); err != nil {
		t.Fatal(err)
	}
	want := "args: first " + p + "\nINSTANCE \"VI_1\" BACKUP 100\nGOT-TERM\nINSTANCE \"VI_1\" STOP 100\nGROUP \"G1\" STOP 0\nEOF\n"
	waitFor(t, log, "EOF")
	if b, _ := os.ReadFile(log); string(b) != want {
		t.Errorf("reader saw:\n%s\nwant:\n%s", b, want)
	}
}

// A script that ignores TERM and holds the fifo open is killed after
// ScriptWait, so Close cannot hang.
func TestCloseKillsStubbornScript(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ka.fifo")
	// The path goes after the comment sign; sleep inherits the ignored TERM.
	f, err := Open(Options{Path: p, Script: "trap '' TERM; sleep 30 #", ScriptWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("Close took %v, want about the 300ms wait", took)
	}
}

func TestChownsToUserAndGroup(t *testing.T) {
	nobody := runastest.Nobody(t)
	p := filepath.Join(t.TempDir(), "ka.fifo")
	f, err := Open(Options{Path: p, Owner: nobody, Chown: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != nobody.UID || sys.Gid != nobody.GID {
		t.Errorf("fifo owned by %d:%d, want %s", sys.Uid, sys.Gid, nobody)
	}
}

func TestRefusedScriptCredOpensNothing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ka.fifo")
	_, err := Open(Options{Path: p, Script: "/bin/cat", ScriptCred: runas.Refuse(os.ErrPermission)})
	if err == nil {
		t.Fatal("a refused script user started the script")
	}
	if _, serr := os.Lstat(p); !os.IsNotExist(serr) {
		t.Errorf("fifo left behind after a failed Open: %v", serr)
	}
}

func waitFor(t *testing.T, file, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(file); strings.Contains(string(b), text) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(file)
	t.Fatalf("%s never contained %q; it has:\n%s", file, text, b)
}
