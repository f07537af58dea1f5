package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// curlMaxTime bounds every Curl; callers may pass a shorter --max-time.
const curlMaxTime = "10"

// killGrace is how long a process group gets between SIGTERM and SIGKILL.
const killGrace = 3 * time.Second

// Exec runs argv in the host's namespace (ip netns exec) and returns its
// standard output; on failure the error carries standard error.
func (l *Lab) Exec(ctx context.Context, h Host, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec: empty command")
	}
	if _, err := l.handle(h.NS); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Own process group and death signal: a cancelled context or a dying
	// test binary takes the whole command with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s in %s: %w: %s", argv[0], h.Name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// proc is a process started by the lab. The lab reaps it itself (so Close
// can wait for the exit without racing anyone); callers use Lab.Wait.
type proc struct {
	cmd  *exec.Cmd
	name string
	done chan struct{}
	err  error // valid after done is closed
}

// Start runs argv in the background in the host's namespace. Output goes to
// Options.Log, each line prefixed with the host name. The process gets its
// own process group, which Close kills (SIGTERM, then SIGKILL).
//
// The lab reaps the process: do not call cmd.Wait; use Lab.Wait, Lab.Exited
// or Lab.Stop. cmd.Process.Pid and, after exit, cmd.ProcessState are valid.
// The process also gets SIGKILL if the test binary dies (Pdeathsig), so a
// crashed test leaves no daemon behind; as Pdeathsig follows the calling OS
// thread, do not call Start from a goroutine that exits while holding
// runtime.LockOSThread.
func (l *Lab) Start(h Host, argv ...string) (*exec.Cmd, error) {
	p, err := l.start(h, argv...)
	if err != nil {
		return nil, err
	}
	return p.cmd, nil
}

func (l *Lab) start(h Host, argv ...string) (*proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("start: empty command")
	}
	if _, err := l.handle(h.NS); err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	w := l.log.prefixed(h.Name)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, name: h.Name + ": " + strings.Join(argv, " "), done: make(chan struct{})}
	// Hold the lock across Start so Close cannot miss a process that is
	// being started.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("lab closed")
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", argv[0], h.Name, err)
	}
	l.procs = append(l.procs, p)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (l *Lab) findProc(cmd *exec.Cmd) (*proc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.cmd == cmd {
			return p, nil
		}
	}
	return nil, errors.New("process not started by this lab (or lab closed)")
}

// Wait waits until a process from Start exits or ctx ends, and returns its
// exit error.
func (l *Lab) Wait(ctx context.Context, cmd *exec.Cmd) error {
	p, err := l.findProc(cmd)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited returns a channel closed when a process from Start has exited.
func (l *Lab) Exited(cmd *exec.Cmd) <-chan struct{} {
	p, err := l.findProc(cmd)
	if err != nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// Stop ends one process from Start the way Close would (SIGTERM to its
// process group, SIGKILL after a grace period) and waits for it.
func (l *Lab) Stop(cmd *exec.Cmd) error {
	p, err := l.findProc(cmd)
	if err != nil {
		return err
	}
	return p.kill()
}

// kill ends the process group and waits for the leader to be reaped.
func (p *proc) kill() error {
	select {
	case <-p.done:
		// The leader is gone, but children in its group may not be.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(killGrace):
			return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pgid)
		}
	}
	// Leftover members of the group (e.g. workers of a master that died
	// first) must not outlive the lab.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// Curl fetches url from the client with a bounded --max-time and
// "Connection: close" (every request is a new connection and is scheduled
// again, as in the seed's test). extra arguments come before the URL, so a
// later --max-time overrides the default. It returns the body; HTTP errors
// (>= 400) are errors (curl --fail-with-body).
func (l *Lab) Curl(ctx context.Context, url string, extra ...string) (string, error) {
	argv := []string{"curl", "-sS", "--fail-with-body", "--max-time", curlMaxTime, "-H", "Connection: close"}
	argv = append(argv, extra...)
	argv = append(argv, url)
	out, err := l.Exec(ctx, l.client, argv...)
	return string(out), err
}

// InNS runs fn on a locked OS thread switched into the host's namespace.
// Sockets created in fn stay in that namespace after fn returns; goroutines
// started by fn do not run in it.
func (l *Lab) InNS(h Host, fn func() error) error {
	target, err := l.handle(h.NS)
	if err != nil {
		return err
	}
	return inNS(target, fn)
}

func inNS(target netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns: %w", err)
	}
	defer func() {
		// A thread that cannot go back stays locked and is thrown away
		// when this goroutine ends, instead of poisoning other goroutines.
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}

// logger serialises writes of several processes into one io.Writer.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger {
	if w == nil {
		w = io.Discard
	}
	return &logger{w: w}
}

func (g *logger) printf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fmt.Fprintf(g.w, format+"\n", args...)
}

func (g *logger) prefixed(name string) io.Writer {
	if g.w == io.Discard {
		return io.Discard
	}
	return &lineWriter{g: g, prefix: "[" + name + "] "}
}

// lineWriter prefixes every complete line; a partial last line is held
// until its newline arrives.
type lineWriter struct {
	g      *logger
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.g.mu.Lock()
		fmt.Fprintf(w.g.w, "%s%s\n", w.prefix, w.buf[:i])
		w.g.mu.Unlock()
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		// Bound memory for output without newlines.
		w.g.mu.Lock()
		fmt.Fprintf(w.g.w, "%s%s\n", w.prefix, w.buf)
		w.g.mu.Unlock()
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

// processesInNS lists PIDs whose network namespace is the given one
// (compared by inode). Used by tests and Cleanup.
func processesInNS(nsPath string) ([]int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(nsPath, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", nsPath, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	var pids []int
	for _, e := range ents {
		pid, ok := atoiPID(e.Name())
		if !ok {
			continue
		}
		var pst syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &pst); err != nil {
			continue
		}
		if pst.Ino == st.Ino && pst.Dev == st.Dev {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
