package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/xlb-project/xlb/internal/runas"
)

const (
	// maxScriptOutput is how much of a script's stdout+stderr is kept for the
	// failure reason; the rest is read and dropped so the script never
	// blocks on a full pipe.
	maxScriptOutput = 256
	// scriptPipeGrace bounds the wait for the output pipe after the script
	// is gone: a grandchild that left the process group (setsid) may still
	// hold it open.
	scriptPipeGrace = time.Second
)

// miscProber is MISC_CHECK: the server is up when the script exits 0.
type miscProber struct {
	script  string
	timeout time.Duration // for messages only; ctx carries the deadline
	dynamic bool
	cred    runas.Cred // who the script runs as
	// weight is what the last successful probe of a dynamic check set
	// (weightSet); the checker reads it after each probe.
	weight    int
	weightSet bool
}

// dynamicWeight reports the weight the last probe set, if it set one.
func (p *miscProber) dynamicWeight() (int, bool) { return p.weight, p.weightSet }

func (p *miscProber) probe(ctx context.Context) error {
	p.weightSet = false
	out := &limitedBuffer{max: maxScriptOutput}
	cmd := exec.Command("/bin/sh", "-c", p.script)
	// Its own process group, so the script and everything it started can be
	// killed at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = out, out // same writer: one pipe, one copier
	cmd.WaitDelay = scriptPipeGrace
	if err := p.cred.Apply(cmd, p.script); err != nil {
		// A script that may not run fails the check, as keepalived's
		// removal of it would take away what the server depended on.
		return fmt.Errorf("misc check: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("misc check: starting script: %w", err)
	}
	pgid := cmd.Process.Pid

	exited := make(chan error, 1)
	go func() { exited <- waitExitedNoReap(pgid) }()
	var cause error
	select {
	case err := <-exited:
		if err != nil {
			cause = fmt.Errorf("waiting for script: %w", err)
		}
	case <-ctx.Done():
		cause = ctx.Err()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// The shell has exited (or failed to be waited for) but is not reaped
	// yet, so its pid - the group id - cannot belong to anyone else: this
	// kills only what the script started and left behind, which keepalived
	// would leak.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	err := cmd.Wait()

	switch {
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("misc check: script killed after timeout %v%s", p.timeout, out.suffix())
	case cause != nil:
		return fmt.Errorf("misc check: %w", cause)
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		// Exit 0; a pipe held open by an escaped grandchild is its problem.
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); p.dynamic && code >= 2 {
			// misc_dynamic: up, with weight status-2.
			p.weight, p.weightSet = code-2, true
			return nil
		}
		return fmt.Errorf("misc check: script %s%s", ee.ProcessState, out.suffix())
	}
	return fmt.Errorf("misc check: %w", err)
}

// waitExitedNoReap blocks until process pid has exited, leaving it a zombie
// (WNOWAIT) so its pid stays reserved until cmd.Wait reaps it.
func waitExitedNoReap(pid int) error {
	const pPID = 1     // P_PID from <sys/wait.h>; package syscall does not name it
	var info [128]byte // siginfo_t; its contents are not needed
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			if errno != 0 {
				return fmt.Errorf("waitid %d: %w", pid, errno)
			}
			return nil
		}
	}
}

// limitedBuffer keeps the first max bytes written and discards the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// suffix is the script's output for an error message, "" when there is none.
func (b *limitedBuffer) suffix() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(string(b.buf))
	if s == "" {
		return ""
	}
	return fmt.Sprintf(", output %q", s)
}
