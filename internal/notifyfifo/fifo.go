// Package notifyfifo is keepalived's notify FIFOs (notify_fifo,
// vrrp_notify_fifo, lvs_notify_fifo and their *_fifo_script): a named pipe
// xlb writes one line per event to, and optionally a script started to read
// it.
//
// What keepalived 2.2.7 does and this package does too: the FIFO is
// created with mode 0644 (an existing FIFO is used as it is and left in
// place at the end), chowned to the configured user and group, the script
// is started with the FIFO's path as its last argument, and the FIFO is
// opened read-write and non-blocking, so opening never waits for a reader
// and a write never fails for want of one; a line that does not fit in the
// pipe is dropped rather than holding up failover. At the end the script
// gets SIGTERM first, then the last lines (keepalived's STOP lines) are
// written, so a reader that traps TERM still reads them, and the FIFO is
// closed and, if it was created here, removed.
package notifyfifo

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/internal/runas"
)

// DefaultScriptWait is how long Close waits for the script to exit after
// SIGTERM (and the FIFO's closing) before it kills its process group.
const DefaultScriptWait = 5 * time.Second

// Options say which FIFO to open and what reads it.
type Options struct {
	// Path is the FIFO's absolute path.
	Path string
	// Owner, when Chown is set, is who the FIFO is chowned to
	// (keepalived's "notify_fifo PATH USER [GROUP]").
	Owner runas.Cred
	Chown bool
	// Script, when set, is started with /bin/sh -c, as the notify scripts
	// are, with the path appended (shell-quoted) as its last argument, as
	// ScriptCred.
	Script     string
	ScriptCred runas.Cred
	// ScriptWait bounds the wait for the script at Close (0:
	// DefaultScriptWait).
	ScriptWait time.Duration
	Log        *slog.Logger
}

// FIFO is one open notify FIFO. Its methods may be called from several
// goroutines: a line shorter than the pipe's atomic size (4096 bytes) is
// never interleaved with another.
type FIFO struct {
	o       Options
	created bool // mkfifo made it: Close removes it
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the script has been reaped

	mu       sync.Mutex
	fd       int // -1 once closed
	dropping bool
	written  atomic.Uint64
	dropped  atomic.Uint64
}

// Open creates (or reuses) the FIFO, starts its script and opens it. A
// path that exists and is not a FIFO is refused, never replaced.
func Open(o Options) (*FIFO, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ScriptWait <= 0 {
		o.ScriptWait = DefaultScriptWait
	}
	f := &FIFO{o: o, fd: -1}
	if err := f.make(); err != nil {
		return nil, err
	}
	if o.Script != "" {
		if err := f.startScript(); err != nil {
			f.unlink()
			return nil, err
		}
	}
	fd, err := unix.Open(o.Path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		f.stopScript()
		f.unlink()
		return nil, fmt.Errorf("open fifo %s: %w", o.Path, err)
	}
	f.fd = fd
	return f, nil
}

// make creates the FIFO with mode 0644 (whatever the umask), or checks
// that what is at the path is one, and chowns it.
func (f *FIFO) make() error {
	p := f.o.Path
	switch err := unix.Mkfifo(p, 0o644); {
	case err == nil:
		f.created = true
		if err := os.Chmod(p, 0o644); err != nil {
			f.unlink()
			return fmt.Errorf("fifo %s: %w", p, err)
		}
	case errors.Is(err, unix.EEXIST):
		st, serr := os.Lstat(p)
		if serr != nil {
			return fmt.Errorf("fifo %s: %w", p, serr)
		}
		if st.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("fifo %s: exists and is not a fifo (%s)", p, st.Mode().Type())
		}
	default:
		return fmt.Errorf("create fifo %s: %w", p, err)
	}
	if f.o.Chown {
		if err := os.Lchown(p, int(f.o.Owner.UID), int(f.o.Owner.GID)); err != nil {
			f.unlink()
			return fmt.Errorf("fifo %s: chown to %s: %w", p, f.o.Owner, err)
		}
	}
	return nil
}

func (f *FIFO) unlink() {
	if !f.created {
		return
	}
	if err := os.Remove(f.o.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.o.Log.Warn("remove notify fifo", "fifo", f.o.Path, "err", err)
	}
}

// startScript starts the reader in its own process group, so SIGTERM
// reaches it whether or not the shell execs it.
func (f *FIFO) startScript() error {
	line := f.o.Script + " " + shellQuote(f.o.Path)
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := f.o.ScriptCred.Apply(cmd, f.o.Script); err != nil {
		return fmt.Errorf("fifo script %s: %w", f.o.Script, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("fifo script %s: %w", f.o.Script, err)
	}
	f.cmd = cmd
	f.exited = make(chan struct{})
	go func() {
		defer close(f.exited)
		err := cmd.Wait()
		f.o.Log.Info("notify fifo script exited", "fifo", f.o.Path, "script", f.o.Script, "status", fmt.Sprint(err))
	}()
	f.o.Log.Info("notify fifo script started", "fifo", f.o.Path, "script", f.o.Script, "user", f.o.ScriptCred.String(), "pid", cmd.Process.Pid)
	return nil
}

// signalScript sends sig to the script's process group.
func (f *FIFO) signalScript(sig syscall.Signal) {
	if f.cmd == nil {
		return
	}
	select {
	case <-f.exited:
		return
	default:
	}
	if err := syscall.Kill(-f.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		f.o.Log.Warn("signal notify fifo script", "fifo", f.o.Path, "signal", sig.String(), "err", err)
	}
}

// stopScript waits for the script to exit after SIGTERM, and kills it at
// the deadline.
func (f *FIFO) stopScript() {
	if f.cmd == nil {
		return
	}
	f.signalScript(syscall.SIGTERM)
	f.waitScript()
}

func (f *FIFO) waitScript() {
	if f.cmd == nil {
		return
	}
	select {
	case <-f.exited:
	case <-time.After(f.o.ScriptWait):
		f.o.Log.Warn("notify fifo script still running after SIGTERM; killing it", "fifo", f.o.Path, "wait", f.o.ScriptWait)
		f.signalScript(syscall.SIGKILL)
		<-f.exited
	}
}

// Path is the FIFO's path.
func (f *FIFO) Path() string { return f.o.Path }

// Created says whether Open created the FIFO (and Close removes it).
func (f *FIFO) Created() bool { return f.created }

// Dropped is the number of lines dropped because the pipe was full.
func (f *FIFO) Dropped() uint64 { return f.dropped.Load() }

// Written is the number of lines written whole.
func (f *FIFO) Written() uint64 { return f.written.Load() }

// Write writes line and a newline, without ever blocking: a line the pipe
// has no room for is dropped and counted, and the first of a run of drops
// is logged (the last one with the count when writes succeed again).
func (f *FIFO) Write(line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeLocked(line)
}

func (f *FIFO) writeLocked(line string) {
	if f.fd < 0 {
		return
	}
	b := []byte(line + "\n")
	for {
		n, err := unix.Write(f.fd, b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil || n < len(b):
			// A partial write happens only for lines longer than the
			// pipe's atomic size; what was left is dropped with it.
			total := f.dropped.Add(1)
			if !f.dropping {
				f.dropping = true
				f.o.Log.Warn("notify fifo full or failing: dropping lines until its reader catches up", "fifo", f.o.Path, "err", fmt.Sprint(err), "dropped_total", total)
			}
			return
		}
		f.written.Add(1)
		if f.dropping {
			f.dropping = false
			f.o.Log.Info("notify fifo writable again", "fifo", f.o.Path, "dropped_total", f.dropped.Load())
		}
		return
	}
}

// Terminate sends the script SIGTERM now, keeping the FIFO open: a caller
// that writes its last lines through others' hands (the VRRP instances'
// STOP lines as they stop) terminates first, writes them, then closes, in
// keepalived's order.
func (f *FIFO) Terminate() { f.signalScript(syscall.SIGTERM) }

// Close ends the FIFO as keepalived does: SIGTERM to the script, then the
// last lines, then the FIFO closed (its reader sees end of file once no
// other writer holds it) and removed if Open created it. It waits for the
// script to exit, killing it after Options.ScriptWait.
func (f *FIFO) Close(last ...string) error {
	f.signalScript(syscall.SIGTERM)
	f.mu.Lock()
	if f.fd < 0 {
		f.mu.Unlock()
		return nil
	}
	for _, l := range last {
		f.writeLocked(l)
	}
	err := unix.Close(f.fd)
	f.fd = -1
	f.mu.Unlock()
	f.unlink()
	f.waitScript()
	if err != nil {
		return fmt.Errorf("close fifo %s: %w", f.o.Path, err)
	}
	return nil
}

// shellQuote quotes s as one word for /bin/sh.
func shellQuote(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, `'\''`...)
			continue
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
