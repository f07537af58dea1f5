package trackproc

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

func cmd(words ...string) []byte {
	return []byte(strings.Join(words, "\x00") + "\x00")
}

func tracker(cfg config.VRRPTrackProcess, after AfterFunc) *Tracker {
	if cfg.Quorum == 0 && !cfg.HasQuorumMax {
		cfg.Quorum = 1
	}
	cfg.Normalize()
	return newTracker("p", cfg, nil, after)
}

// keepalived's matching: exact, never a pattern; comm unless full_command;
// argv[0] and then the parameters per param_match.
func TestMatches(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.VRRPTrackProcess
		comm    string
		cmdline []byte
		want    bool
	}{
		{"comm equal", config.VRRPTrackProcess{Process: "sshd"}, "sshd", cmd("/usr/sbin/sshd", "-D"), true},
		{"comm is no pattern", config.VRRPTrackProcess{Process: "ssh"}, "sshd", cmd("ssh"), false},
		{"comm ignores cmdline", config.VRRPTrackProcess{Process: "/usr/sbin/sshd"}, "sshd", cmd("/usr/sbin/sshd"), false},
		{"full argv0", config.VRRPTrackProcess{Process: "/usr/sbin/sshd", FullCommand: true}, "sshd", cmd("/usr/sbin/sshd", "-D"), true},
		{"full argv0 other path", config.VRRPTrackProcess{Process: "/usr/sbin/sshd", FullCommand: true}, "sshd", cmd("sshd", "-D"), false},
		{"full argv0 prefix", config.VRRPTrackProcess{Process: "/usr/sbin/ssh", FullCommand: true}, "sshd", cmd("/usr/sbin/sshd"), false},
		{"exact", config.VRRPTrackProcess{Process: "ng", Params: []string{"-g", "daemon off;"}}, "ng", cmd("ng", "-g", "daemon off;"), true},
		{"exact more", config.VRRPTrackProcess{Process: "ng", Params: []string{"-g"}}, "ng", cmd("ng", "-g", "x"), false},
		{"exact fewer", config.VRRPTrackProcess{Process: "ng", Params: []string{"-g", "x"}}, "ng", cmd("ng", "-g"), false},
		{"exact other", config.VRRPTrackProcess{Process: "ng", Params: []string{"-g"}}, "ng", cmd("ng", "-h"), false},
		{"exact none wanted", config.VRRPTrackProcess{Process: "ng", ParamMatch: config.ParamExact}, "ng", cmd("ng"), true},
		{"exact none wanted, has some", config.VRRPTrackProcess{Process: "ng", ParamMatch: config.ParamExact}, "ng", cmd("ng", "-g"), false},
		{"partial", config.VRRPTrackProcess{Process: "ng", Params: []string{"-g"}, ParamMatch: config.ParamPartial}, "ng", cmd("ng", "-g", "x"), true},
		{"partial word prefix", config.VRRPTrackProcess{Process: "ng", Params: []string{"-g"}, ParamMatch: config.ParamPartial}, "ng", cmd("ng", "-gx"), false},
		{"partial none configured", config.VRRPTrackProcess{Process: "ng", ParamMatch: config.ParamPartial}, "ng", cmd("ng", "a"), true},
		{"initial", config.VRRPTrackProcess{Process: "java", Params: []string{"-jar", "app-"}, ParamMatch: config.ParamInitial}, "java", cmd("java", "-jar", "app-1.2.jar", "--x"), true},
		{"initial earlier word", config.VRRPTrackProcess{Process: "java", Params: []string{"-ja", "app-"}, ParamMatch: config.ParamInitial}, "java", cmd("java", "-jar", "app-1.2.jar"), false},
		{"initial shorter", config.VRRPTrackProcess{Process: "java", Params: []string{"-jar", "app-"}, ParamMatch: config.ParamInitial}, "java", cmd("java", "-jar", "ap"), false},
		{"no trailing NUL", config.VRRPTrackProcess{Process: "nginx: master", FullCommand: true}, "nginx", []byte("nginx: master"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tracker(tc.cfg, nil)
			cmdline := tc.cmdline
			if n := tr.cmdlineNeed(); n > 0 && len(cmdline) > n {
				cmdline = cmdline[:n] // as much as the monitor reads
			}
			if got := tr.matches(tc.comm, cmdline); got != tc.want {
				t.Errorf("matches(%q, %q) = %v, want %v", tc.comm, cmdline, got, tc.want)
			}
		})
	}
}

// fakeTimers runs timers when the test advances them.
type fakeTimers struct {
	mu  sync.Mutex
	now time.Duration
	ts  []*fakeTimer
}

type fakeTimer struct {
	at      time.Duration
	f       func()
	stopped bool
}

func (ft *fakeTimers) after(d time.Duration, f func()) func() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{at: ft.now + d, f: f}
	ft.ts = append(ft.ts, t)
	return func() bool {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

func (ft *fakeTimers) advance(d time.Duration) {
	ft.mu.Lock()
	ft.now += d
	var due []*fakeTimer
	for _, t := range ft.ts {
		if !t.stopped && t.at <= ft.now {
			t.stopped = true
			due = append(due, t)
		}
	}
	ft.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// recorder is a Subscriber that keeps what it is told.
type recorder struct {
	mu  sync.Mutex
	got []bool
}

func (r *recorder) SetProcessUp(_ string, up bool) {
	r.mu.Lock()
	r.got = append(r.got, up)
	r.mu.Unlock()
}

func (r *recorder) states() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.got...)
}

func wantStates(t *testing.T, r *recorder, what string, want ...bool) {
	t.Helper()
	got := r.states()
	if len(got) != len(want) {
		t.Fatalf("%s: told %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: told %v, want %v", what, got, want)
		}
	}
}

// Up while the count is within quorum..quorum_max: too few or too many
// is down; quorum_max 0 is up while none runs.
func TestQuorum(t *testing.T) {
	tr := tracker(config.VRRPTrackProcess{Process: "x", Quorum: 2, QuorumMax: 3, HasQuorumMax: true}, nil)
	tr.init(map[int]bool{})
	r := &recorder{}
	tr.Subscribe(r)
	wantStates(t, r, "subscribed with none running", false)
	tr.add(10, causeOther)
	wantStates(t, r, "one of two", false)
	tr.add(11, causeOther)
	tr.add(12, causeOther)
	wantStates(t, r, "two then three", false, true)
	tr.add(13, causeOther)
	wantStates(t, r, "four, above quorum_max", false, true, false)
	tr.remove(13, causeOther)
	tr.remove(12, causeOther)
	tr.remove(11, causeOther)
	wantStates(t, r, "back to three, two, one", false, true, false, true, false)
	tr.add(11, causeOther)
	tr.add(11, causeOther) // counted once
	if n := tr.Count(); n != 2 {
		t.Fatalf("count %d after adding pid 11 twice, want 2", n)
	}

	none := tracker(config.VRRPTrackProcess{Process: "x", HasQuorumMax: true}, nil)
	none.init(map[int]bool{})
	if !none.Up() {
		t.Fatal("quorum_max 0 with none running: down, want up")
	}
	none.add(5, causeOther)
	if none.Up() {
		t.Fatal("quorum_max 0 with one running: up, want down")
	}
	unlimited := tracker(config.VRRPTrackProcess{Process: "x"}, nil)
	unlimited.init(map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true})
	if !unlimited.Up() {
		t.Fatal("no quorum_max, five running: down, want up")
	}
}

// terminate_delay: an exit that loses the quorum is told only after the
// delay, and not at all if a process is back within it (a restart); an
// exec away or a rename is told at once. fork_delay: a fork that brings
// the quorum waits, an exit within the delay cancels it; an exec that
// brings it is told at once.
func TestDelays(t *testing.T) {
	ft := &fakeTimers{}
	tr := tracker(config.VRRPTrackProcess{Process: "x", ForkDelay: time.Second, TerminateDelay: 2 * time.Second}, ft.after)
	tr.init(map[int]bool{10: true})
	r := &recorder{}
	tr.Subscribe(r)
	wantStates(t, r, "initial scan, no delay", true)

	tr.remove(10, causeExit)
	ft.advance(1999 * time.Millisecond)
	wantStates(t, r, "1.999 s after the exit", true)
	ft.advance(time.Millisecond)
	wantStates(t, r, "2 s after the exit", true, false)

	// A fork of a counted process brings it back: after fork_delay.
	tr.add(11, causeOther) // exec: at once
	wantStates(t, r, "exec brings it back", true, false, true)
	tr.add(12, causeFork)
	tr.remove(11, causeExit)
	tr.remove(12, causeExit)
	ft.advance(500 * time.Millisecond)
	tr.add(13, causeFork) // a restart within terminate_delay: never seen down
	ft.advance(3 * time.Second)
	wantStates(t, r, "restart within terminate_delay", true, false, true)

	tr.remove(13, causeOther) // exec'd into something else: at once
	wantStates(t, r, "exec away", true, false, true, false)

	// A fork that brings the quorum is told after fork_delay.
	tr.add(21, causeFork)
	ft.advance(999 * time.Millisecond)
	wantStates(t, r, "0.999 s after the fork", true, false, true, false)
	ft.advance(time.Millisecond)
	wantStates(t, r, "1 s after the fork", true, false, true, false, true)

	// A fork's up undone within fork_delay is never told.
	tr.remove(21, causeExit)
	ft.advance(2 * time.Second)
	wantStates(t, r, "lost again", true, false, true, false, true, false)
	tr.add(22, causeFork)
	ft.advance(500 * time.Millisecond)
	tr.remove(22, causeExit)
	ft.advance(5 * time.Second)
	wantStates(t, r, "fork gone within fork_delay", true, false, true, false, true, false)

	// Unsubscribed: nothing more; close cancels a pending delay.
	tr.add(23, causeFork)
	tr.close()
	ft.advance(5 * time.Second)
	wantStates(t, r, "closed", true, false, true, false, true, false)
}
