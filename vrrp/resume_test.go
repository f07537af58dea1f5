package vrrp

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// leftUp is an owner holding testVIP, as a restart in place leaves it.
func leftUp(h *harness) {
	h.owner.mu.Lock()
	h.owner.held = map[netip.Addr]bool{testVIP: true}
	h.owner.mu.Unlock()
}

// A restart in place of the master (SIGUSR2): the old run sends one last
// advert at its own priority (not 0, which would hand over) and says when;
// the next run, started within down_timer_adverts advert intervals of
// that advert, is master at once, advertising, with the VIPs it found.
// Any later and its peers may have taken over, so it starts as a backup
// and gives the VIPs up.
func TestResumeMasterAfterRestartInPlace(t *testing.T) {
	old := newHarness(t, baseCfg(), "10.0.0.2")
	old.start(t0)
	old.tick(t0.Add(old.MasterDownInterval()))
	old.expect(t, StateMaster, "old run")
	old.tr.reset()
	stop := t0.Add(10 * time.Second)
	old.LeaveOnCancel()
	old.step(func(now time.Time) { old.shutdownLocked(stop, false) })
	if got := old.tr.sentPrios(); !slices.Equal(got, []uint8{100}) {
		t.Fatalf("adverts at a restart in place %v, want one at priority 100", got)
	}
	since, ok := old.LeftMaster()
	if !ok || !since.Equal(stop) {
		t.Fatalf("LeftMaster = %v %v, want %v true", since, ok, stop)
	}
	if !old.owner.holds() {
		t.Fatal("a restart in place gave the VIPs up")
	}

	window := 3 * time.Second // 3 adverts of 1 s (the peers' skew adds to it)
	for _, c := range []struct {
		name   string
		start  time.Time
		master bool
	}{
		{"at once", since.Add(300 * time.Millisecond), true},
		{"just in time", since.Add(window - time.Nanosecond), true},
		{"too late", since.Add(window), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, baseCfg(), "10.0.0.2", WithResumeMaster(since))
			leftUp(h)
			h.start(c.start)
			if !c.master {
				h.expect(t, StateBackup, "started after the window")
				if h.owner.holds() {
					t.Fatal("a backup kept the VIPs the previous run left")
				}
				return
			}
			h.expect(t, StateMaster, "started within the window")
			if got := h.tr.sentPrios(); !slices.Equal(got, []uint8{100}) {
				t.Fatalf("adverts at start %v, want one at priority 100 at once", got)
			}
			if !h.owner.holds() {
				t.Fatal("resumed master without the VIPs")
			}
			// A resumed master is an ordinary one: a better peer wins.
			h.receive(c.start.Add(time.Second), advert(t, 2, 200))
			h.expect(t, StateBackup, "hearing priority 200")
			if h.owner.holds() {
				t.Fatal("the backup it became kept the VIPs")
			}
		})
	}

	// A backup restarting in place has nothing to resume.
	b := newHarness(t, baseCfg(), "10.0.0.2")
	b.start(t0)
	b.LeaveOnCancel()
	b.step(func(now time.Time) { b.shutdownLocked(t0.Add(time.Second), false) })
	if _, ok := b.LeftMaster(); ok {
		t.Fatal("a backup's restart in place reported mastership")
	}
}

// A resumed instance whose interface is down at start is in FAULT, and
// gives up the VIPs the previous run left.
func TestResumeMasterFaultGivesVIPsUp(t *testing.T) {
	h := newHarness(t, baseCfg(), "10.0.0.2", WithResumeMaster(t0.Add(-time.Second)))
	leftUp(h)
	h.setLink("eth0", true)
	h.start(t0)
	h.expect(t, StateFault, "interface down at start")
	if h.owner.holds() {
		t.Fatal("FAULT kept the VIPs the previous run left")
	}
}
