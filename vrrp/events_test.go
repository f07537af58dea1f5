package vrrp

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
)

// eventLog records an instance's events as "KIND STATE PRIORITY".
type eventLog struct {
	mu  sync.Mutex
	evs []string
}

func (l *eventLog) add(ev Event) {
	kind := map[EventKind]string{EventState: "STATE", EventPriority: "PRIORITY", EventMasterRxLowerPri: "RX_LOWER"}[ev.Kind]
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, fmt.Sprintf("%s %s %d", kind, ev.State, ev.Priority))
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.evs
	l.evs = nil
	return out
}

func wantEvents(t *testing.T, l *eventLog, when string, want ...string) {
	t.Helper()
	if got := l.take(); !slices.Equal(got, want) {
		t.Fatalf("%s: events %q, want %q", when, got, want)
	}
}

// The sequence of the coordinator's keepalived 2.2.7 run (a track_script
// of weight -20 failing, then good, then failing again):
// BACKUP 100, BACKUP_PRIORITY 80, MASTER 80, MASTER_PRIORITY 100,
// MASTER_PRIORITY 80, STOP 80.
func TestEventsStatesAndPriorities(t *testing.T) {
	l := &eventLog{}
	h := newHarness(t, baseCfg(), "10.0.0.2", WithEvents(l.add), WithTrackedScripts(map[string]TrackedScript{"chk": {Weight: -20}}))
	// A result before the start is the priority it starts with, no change.
	h.SetScriptResult("chk", true)
	h.start(t0)
	wantEvents(t, l, "start", "STATE BACKUP 100")
	h.SetScriptResult("chk", false)
	wantEvents(t, l, "script failed", "PRIORITY BACKUP 80")
	h.tick(t0.Add(h.MasterDownInterval()))
	wantEvents(t, l, "master down", "STATE MASTER 80")
	h.SetScriptResult("chk", true)
	h.SetScriptResult("chk", false)
	wantEvents(t, l, "script good, failed", "PRIORITY MASTER 100", "PRIORITY MASTER 80")
	h.SetScriptResult("chk", false) // no change, no event
	h.step(func(now time.Time) { h.shutdownLocked(now, true) })
	wantEvents(t, l, "stop", "STATE INIT 80")
}

// A weighted track_interface moves the priority as a script does, and a
// FAULT is a state like the others.
func TestEventsInterfaceWeightAndFault(t *testing.T) {
	cfg := baseCfg()
	cfg.TrackInterfaces = []config.TrackInterface{{Name: "eth1", Weight: -30}, {Name: "eth2"}}
	l := &eventLog{}
	h := newHarness(t, cfg, "10.0.0.2", WithEvents(l.add))
	h.start(t0)
	wantEvents(t, l, "start", "STATE BACKUP 100")
	h.setLink("eth1", true)
	h.checkLinks(t0.Add(time.Second))
	wantEvents(t, l, "eth1 down", "PRIORITY BACKUP 70")
	h.setLink("eth2", true)
	h.checkLinks(t0.Add(2 * time.Second))
	wantEvents(t, l, "eth2 down", "STATE FAULT 70")
}

// A restart in place (LeaveOnCancel) reports no stop: the VIPs stay.
func TestEventsNoStopOnRestartInPlace(t *testing.T) {
	cfg := baseCfg()
	cfg.Priority = 255
	l := &eventLog{}
	h := newHarness(t, cfg, "10.0.0.2", WithEvents(l.add))
	h.start(t0)
	wantEvents(t, l, "start", "STATE MASTER 255")
	h.LeaveOnCancel()
	h.step(func(now time.Time) { h.shutdownLocked(now, false) })
	wantEvents(t, l, "restart in place")
}

// keepalived's notify_master_rx_lower_pri: a master that hears a lower
// priority (or an equal one from a lower address, which yields to it)
// runs the script, without arguments, and reports the event; a backup, or
// a master hearing a better one, does not.
func TestMasterRxLowerPri(t *testing.T) {
	cfg := baseCfg()
	cfg.NotifyMasterRxLowerPri = "/usr/local/bin/reclaim.sh"
	l := &eventLog{}
	h := newHarness(t, cfg, "10.0.0.2", WithEvents(l.add), WithScriptCreds(ScriptCreds{MasterRxLowerPri: runas.Cred{User: "reclaimer"}}))
	h.start(t0)
	h.receive(t0.Add(100*time.Millisecond), advert(t, 2, 50))
	wantEvents(t, l, "backup hears a lower priority", "STATE BACKUP 100")
	up := t0.Add(h.MasterDownInterval() + time.Second)
	h.tick(up)
	h.expect(t, StateMaster, "after master down")
	l.take()
	h.receive(up.Add(100*time.Millisecond), advert(t, 2, 50))
	h.receive(up.Add(200*time.Millisecond), advert(t, 2, 100)) // equal, from 10.0.0.1 < 10.0.0.2
	wantEvents(t, l, "master hears lower", "RX_LOWER MASTER 100", "RX_LOWER MASTER 100")
	h.Instance.scripts.Wait()
	h.scripts.mu.Lock()
	users := slices.Clone(h.scripts.users)
	calls := slices.Clone(h.scripts.calls)
	h.scripts.mu.Unlock()
	n := 0
	for i, u := range users {
		if strings.HasPrefix(calls[i], "/usr/local/bin/reclaim.sh ") {
			n++
			if u != "/usr/local/bin/reclaim.sh MASTER reclaimer" {
				t.Errorf("script ran as %q, want its own user", u)
			}
			if strings.Contains(strings.SplitN(calls[i], " XLB_", 2)[0], " ") {
				t.Errorf("script got arguments: %q", calls[i])
			}
		}
	}
	if n != 2 {
		t.Errorf("notify_master_rx_lower_pri ran %d times, want 2: %q", n, calls)
	}
	h.receive(up.Add(300*time.Millisecond), advert(t, 2, 150))
	wantEvents(t, l, "master hears higher", "STATE BACKUP 100")
}
