// Package trackproc follows keepalived's vrrp_track_process: it counts
// the running processes that match a definition and tells the VRRP
// instances tracking it whether the count is within its quorum, with
// keepalived's fork and terminate delays. The counting is in monitor*.go
// (the kernel's proc connector, or /proc scans where there is none); this
// file holds the rules, which need no kernel.
package trackproc

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xlb-project/xlb/config"
)

// Subscriber is told whether a tracked process is up: a VRRP instance.
type Subscriber interface {
	SetProcessUp(name string, up bool)
}

// AfterFunc runs f once d has passed and returns a function that cancels
// it (time.AfterFunc's Stop); tests pass a fake one.
type AfterFunc func(d time.Duration, f func()) (stop func() bool)

func realAfter(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// cause is what changed a count: keepalived delays a change a fork
// brings by fork_delay and one an exit brings by terminate_delay; an exec
// or a rename that makes a process match or no longer match counts at
// once.
type cause int

const (
	causeOther cause = iota
	causeFork
	causeExit
)

// Tracker is one vrrp_track_process: the processes it counts and the
// state its subscribers were told.
type Tracker struct {
	name  string
	cfg   config.VRRPTrackProcess
	conf  []byte // the parameters as /proc/PID/cmdline has them: each NUL-terminated
	log   *slog.Logger
	after AfterFunc

	// mu is held while subscribers are told, so that they see the
	// changes in order (a timer and an event may race).
	mu   sync.Mutex
	pids map[int]bool
	up   bool
	stop func() bool // the pending delay's timer, nil when none
	gen  uint64      // which timer is current: a stopped one that fires anyway is ignored
	subs map[Subscriber]bool
}

func newTracker(name string, cfg config.VRRPTrackProcess, log *slog.Logger, after AfterFunc) *Tracker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if after == nil {
		after = realAfter
	}
	cfg.Params = append([]string(nil), cfg.Params...)
	var conf []byte
	for _, p := range cfg.Params {
		conf = append(append(conf, p...), 0)
	}
	return &Tracker{
		name: name, cfg: cfg, conf: conf, log: log.With("track_process", name), after: after,
		pids: map[int]bool{}, subs: map[Subscriber]bool{},
	}
}

// Name is the vrrp_track_process's name.
func (t *Tracker) Name() string { return t.name }

// Config is the definition the tracker counts by.
func (t *Tracker) Config() config.VRRPTrackProcess { return t.cfg }

// cmdlineNeed is how many bytes of /proc/PID/cmdline tell whether a
// process matches: the process, its parameters and one more byte (a
// longer command line then shows as longer).
func (t *Tracker) cmdlineNeed() int {
	if !t.cfg.FullCommand {
		return 0
	}
	return len(t.cfg.Process) + 1 + len(t.conf) + 1
}

// matches reports whether a process named comm (/proc/PID/comm) with
// command line cmdline (/proc/PID/cmdline: NUL-terminated words, maybe
// cut short after cmdlineNeed bytes) is one the tracker counts.
//
// keepalived's rules: without full_command the name is compared with
// comm, exactly; with it, with the first word of the command line, and
// then, per param_match, the words after it: exact wants the configured
// ones and no more (none configured: no parameters at all); partial the
// configured ones first; initial the same, the last configured word being
// only a prefix of the process's; none configured with partial or initial
// takes any.
func (t *Tracker) matches(comm string, cmdline []byte) bool {
	if !t.cfg.FullCommand {
		return comm == t.cfg.Process
	}
	argv0, rest, _ := bytes.Cut(cmdline, []byte{0})
	if string(argv0) != t.cfg.Process {
		return false
	}
	conf := t.conf
	switch t.cfg.ParamMatch {
	case config.ParamNone:
		return true
	case config.ParamExact:
		return bytes.Equal(rest, conf)
	case config.ParamPartial:
		return bytes.HasPrefix(rest, conf)
	default: // initial
		if len(conf) == 0 {
			return true
		}
		return len(rest) >= len(conf) && bytes.HasPrefix(rest, conf[:len(conf)-1])
	}
}

// inRange says the count is within quorum..quorum_max.
func (t *Tracker) inRange() bool {
	n := len(t.pids)
	return n >= t.cfg.Quorum && (!t.cfg.HasQuorumMax || n <= t.cfg.QuorumMax)
}

// init sets the first count (the initial /proc scan): the state follows
// at once, as keepalived's does at startup.
func (t *Tracker) init(pids map[int]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pids = pids
	t.up = t.inRange()
	t.log.Info("track process counted", "processes", len(pids), "up", t.up)
}

// add counts pid (again: counting is idempotent).
func (t *Tracker) add(pid int, c cause) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pids[pid] {
		return
	}
	t.pids[pid] = true
	t.evalLocked(c)
}

// remove stops counting pid.
func (t *Tracker) remove(pid int, c cause) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.pids[pid] {
		return
	}
	delete(t.pids, pid)
	t.evalLocked(c)
}

// has says pid is counted.
func (t *Tracker) has(pid int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pids[pid]
}

// replace sets the count from a new scan; c is what the change looks like.
func (t *Tracker) replace(pids map[int]bool, c cause) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := len(pids) != len(t.pids)
	for p := range pids {
		if !t.pids[p] {
			changed = true
		}
	}
	t.pids = pids
	if changed {
		t.evalLocked(c)
	}
}

// evalLocked follows a changed count, keepalived's way: a change back to
// the state last told cancels a pending delay (the bounce it is there to
// hide: a daemon restarting, or a worker forked and gone); a change a
// fork (exit) brings waits fork_delay (terminate_delay), and a pending
// delay is not restarted; anything else is told at once.
func (t *Tracker) evalLocked(c cause) {
	want := t.inRange()
	if want == t.up {
		t.stopTimerLocked()
		return
	}
	if t.stop != nil {
		return // the pending delay decides
	}
	var d time.Duration
	switch c {
	case causeFork:
		d = t.cfg.ForkDelay
	case causeExit:
		d = t.cfg.TerminateDelay
	}
	if d > 0 {
		t.gen++
		gen := t.gen
		t.stop = t.after(d, func() { t.expire(gen) })
		return
	}
	t.setLocked(want)
}

func (t *Tracker) stopTimerLocked() {
	if t.stop != nil {
		t.stop()
		t.stop = nil
		t.gen++
	}
}

// expire ends a delay: the state is whatever the count says now.
func (t *Tracker) expire(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen || t.stop == nil {
		return
	}
	t.stop = nil
	if want := t.inRange(); want != t.up {
		t.setLocked(want)
	}
}

func (t *Tracker) setLocked(up bool) {
	t.up = up
	if up {
		t.log.Info("track process quorum gained", "processes", len(t.pids))
	} else {
		t.log.Warn("track process quorum lost", "processes", len(t.pids), "quorum", quorumText(t.cfg))
	}
	for s := range t.subs {
		s.SetProcessUp(t.name, up)
	}
}

func quorumText(c config.VRRPTrackProcess) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(c.Quorum))
	b.WriteString("..")
	if c.HasQuorumMax {
		b.WriteString(strconv.Itoa(c.QuorumMax))
	} else {
		b.WriteString("any")
	}
	return b.String()
}

// Up says whether the quorum is there (as last told, delays included).
func (t *Tracker) Up() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.up
}

// Count is the number of matching processes now.
func (t *Tracker) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pids)
}

// Subscribe makes s follow the tracker, starting from its current state.
func (t *Tracker) Subscribe(s Subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subs[s] = true
	s.SetProcessUp(t.name, t.up)
}

// Unsubscribe stops telling s the tracker's changes.
func (t *Tracker) Unsubscribe(s Subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, s)
}

// close cancels a pending delay: nothing more is told.
func (t *Tracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopTimerLocked()
	t.subs = map[Subscriber]bool{}
}
