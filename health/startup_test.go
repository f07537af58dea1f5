package health

import (
	"sync/atomic"
	"testing"
	"time"
)

// A check that a reload gives to a real server already serving (StartUp)
// starts up and takes the server out only after Fall failed checks, as
// keepalived starts a checker without alpha; a new server starts down and
// goes up only after Rise passed checks (alpha), however healthy it is.
func TestStartUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		startUp bool
		healthy bool
		// event is the Up of the first event, after checks checks; none
		// when no event may come.
		event  bool
		checks uint64
		none   bool
	}{
		{name: "serving server given a failing check", startUp: true, healthy: false, event: false, checks: 2},
		{name: "serving server given a passing check", startUp: true, healthy: true, none: true},
		{name: "new server", startUp: false, healthy: true, event: true, checks: 3},
		{name: "new server failing", startUp: false, healthy: false, none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTCPServer(t)
			if !tc.healthy {
				srv.stop() // connections refused
			}
			m, rec, checksAtEvent := countingManager(t)
			tg := tcpTarget("tcp/rs", srv.addr)
			tg.Check.Rise, tg.Check.Fall = 3, 2
			tg.StartUp = tc.startUp
			m.Update([]Target{tg})
			if st, _ := m.Status(tg.Key); st.Up != tc.startUp {
				t.Fatalf("right after Update: up=%v, want %v", st.Up, tc.startUp)
			}
			if tc.none {
				eventually(t, 2*time.Second, "three checks", func() bool {
					st, _ := m.Status(tg.Key)
					return st.Checks >= 3
				})
				rec.none(t, tg.Key, 10*time.Millisecond) // none came meanwhile
				if st, _ := m.Status(tg.Key); st.Up != tc.startUp {
					t.Fatalf("status %+v, want up=%v", st, tc.startUp)
				}
				return
			}
			rec.wait(t, tg.Key, tc.event, 2*time.Second)
			if got := checksAtEvent.Load(); got != tc.checks {
				t.Errorf("up=%v after %d checks, want %d", tc.event, got, tc.checks)
			}
		})
	}
}

// StartUp applies to a new key only: a target already checked keeps its
// state through a changed check, so a server that was down stays down
// until the new check passes Rise times; and StartUp alone is no change
// of the target (the checker keeps running).
func TestStartUpIgnoredForCheckedTarget(t *testing.T) {
	srv := newTCPServer(t)
	srv.stop()
	m, rec, checksAtEvent := countingManager(t)
	tg := tcpTarget("tcp/rs", srv.addr)
	tg.Check.Rise, tg.Check.Fall = 3, 2
	m.Update([]Target{tg})
	eventually(t, 2*time.Second, "two failed checks", func() bool {
		st, _ := m.Status(tg.Key)
		return st.Failures >= 2
	})

	tg.StartUp = true
	m.Update([]Target{tg})
	st, _ := m.Status(tg.Key)
	if st.Up || st.Failures < 2 {
		t.Fatalf("StartUp on a checked target: status %+v, want still down, not restarted", st)
	}

	tg.DelayLoop = 30 * time.Millisecond // a changed check: restarted
	m.Update([]Target{tg})
	if st2, _ := m.Status(tg.Key); st2.Up || st2.Checks >= st.Checks {
		t.Fatalf("changed check of a down server: status %+v, want down with fresh counters", st2)
	}
	srv.start()
	rec.wait(t, tg.Key, true, 2*time.Second)
	if got := checksAtEvent.Load(); got != 3 {
		t.Errorf("up after %d checks of the new check, want rise=3", got)
	}
}

// countingManager is a manager whose recorder notes, at each event, how
// many checks its target had run by then.
func countingManager(t *testing.T) (*Manager, *recorder, *atomic.Uint64) {
	rec := newRecorder()
	m := newTestManager(t, rec)
	checksAtEvent := new(atomic.Uint64)
	rec.hook = func(ev Event) {
		st, _ := m.Status(ev.Key)
		checksAtEvent.Store(st.Checks)
	}
	return m, rec, checksAtEvent
}
