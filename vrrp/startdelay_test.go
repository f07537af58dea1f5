package vrrp

import (
	"testing"
	"time"
)

// down_timer_adverts N makes Master_Down_Interval N master advert
// intervals plus Skew_Time (keepalived's VRRP_MS_DOWN_TIMER), and a backup
// takes over exactly then.
func TestDownTimerAdverts(t *testing.T) {
	cfg := baseCfg()
	cfg.DownTimerAdverts = 5
	h := newHarness(t, cfg, "10.0.0.2")
	skew := 609375 * time.Microsecond // v2, priority 100: (256-100)/256 s
	if got, want := h.MasterDownInterval(), 5*time.Second+skew; got != want {
		t.Fatalf("master down interval %v, want %v", got, want)
	}
	h.start(t0)
	last := t0.Add(time.Second)
	h.receive(last, advert(t, 2, 200))
	h.tick(last.Add(5*time.Second + skew - time.Nanosecond))
	h.expect(t, StateBackup, "before 5 adverts + skew")
	h.tick(last.Add(5*time.Second + skew))
	h.expect(t, StateMaster, "after 5 adverts + skew")
}

// vrrp_startup_delay: until it ends the instance is a backup that hears
// adverts, even as the address owner or with no master about; it takes
// over at its end when no master was heard, and stays a backup while one
// keeps advertising.
func TestNoMasterBeforeStartupDelay(t *testing.T) {
	delay := 5 * time.Second
	t.Run("no master heard", func(t *testing.T) {
		h := newHarness(t, baseCfg(), "10.0.0.2", WithNoMasterBefore(t0.Add(delay)))
		h.start(t0)
		mdi := h.MasterDownInterval()
		h.tick(t0.Add(mdi))
		h.expect(t, StateBackup, "master down interval passed inside the delay")
		if h.owner.holds() {
			t.Fatal("VIP held during the startup delay")
		}
		h.tick(t0.Add(delay - time.Nanosecond))
		h.expect(t, StateBackup, "just before the delay ends")
		h.tick(t0.Add(delay))
		h.expect(t, StateMaster, "at the end of the delay")
		if !h.owner.holds() {
			t.Fatal("VIP not taken at the end of the delay")
		}
	})
	t.Run("address owner", func(t *testing.T) {
		cfg := baseCfg()
		cfg.Priority = PriorityOwner
		h := newHarness(t, cfg, "10.0.0.2", WithNoMasterBefore(t0.Add(delay)))
		h.start(t0)
		h.expect(t, StateBackup, "owner at start inside the delay")
		h.tick(t0.Add(delay))
		h.expect(t, StateMaster, "owner at the end of the delay")
	})
	t.Run("master alive", func(t *testing.T) {
		h := newHarness(t, baseCfg(), "10.0.0.2", WithNoMasterBefore(t0.Add(delay)))
		h.start(t0)
		for k := 1; k <= 10; k++ {
			now := t0.Add(time.Duration(k) * time.Second)
			h.receive(now, advert(t, 2, 200))
			h.tick(now)
			h.expect(t, StateBackup, "master advertising")
		}
		// The master stops after t0+10s: the usual interval applies.
		last := t0.Add(10 * time.Second)
		h.tick(last.Add(h.MasterDownInterval() - time.Nanosecond))
		h.expect(t, StateBackup, "before master down interval")
		h.tick(last.Add(h.MasterDownInterval()))
		h.expect(t, StateMaster, "master down interval after the delay")
	})
}
