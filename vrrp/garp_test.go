package vrrp

import (
	"slices"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// garpHarness is a backup that takes over (nothing heard) at the returned
// instant, with the given gratuitous ARP timing and 1 s adverts.
func garpHarness(t *testing.T, g config.GARP) (*harness, time.Time) {
	t.Helper()
	cfg := baseCfg()
	cfg.GARP = g
	h := newHarness(t, cfg, "10.0.0.2")
	h.start(t0)
	up := t0.Add(h.MasterDownInterval())
	h.tick(up)
	h.expect(t, StateMaster, "after master down")
	if h.owner.acquires != 1 {
		t.Fatalf("acquired %d times, want once (its burst is the first)", h.owner.acquires)
	}
	return h, up
}

// ticks runs the instance every 100 ms from after `from` through `to` and
// returns, per instant, the repeats announced then.
func (h *harness) ticks(from, to time.Time) map[time.Duration][]int {
	got := map[time.Duration][]int{}
	for now := from.Add(100 * time.Millisecond); !now.After(to); now = now.Add(100 * time.Millisecond) {
		h.tick(now)
		if a := h.owner.takeAnnounced(); len(a) > 0 {
			got[now.Sub(from)] = a
		}
	}
	return got
}

func sameBursts(t *testing.T, what string, got, want map[time.Duration][]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: bursts %v, want %v", what, got, want)
		return
	}
	for at, w := range want {
		if !slices.Equal(got[at], w) {
			t.Errorf("%s: bursts %v, want %v", what, got, want)
			return
		}
	}
}

// keepalived's defaults: the burst of Acquire, then one more of 5 after
// 5 s, and nothing else while master.
func TestGARPDefaultSecondBurst(t *testing.T) {
	h, up := garpHarness(t, config.DefaultGARP())
	sameBursts(t, "defaults", h.ticks(up, up.Add(30*time.Second)), map[time.Duration][]int{
		5 * time.Second: {5},
	})
}

// garp_master_delay 0: no second burst; garp_master_refresh: refresh_repeat
// packets with the first advert once each refresh is due, while master.
func TestGARPRefreshWithAdverts(t *testing.T) {
	h, up := garpHarness(t, config.GARP{MasterDelay: 3 * time.Second, MasterRepeat: 2,
		MasterRefresh: 2500 * time.Millisecond, MasterRefreshRepeat: 4, LowerPrioRepeat: 1})
	// Adverts at +1 s, +2 s…: a refresh due at +2.5 s goes at +3 s (with
	// the delayed burst), the next due at +5.5 s goes at +6 s.
	sameBursts(t, "refresh", h.ticks(up, up.Add(7*time.Second)), map[time.Duration][]int{
		3 * time.Second: {2, 4},
		6 * time.Second: {4},
	})

	h, up = garpHarness(t, config.GARP{MasterRepeat: 1, MasterRefreshRepeat: 1})
	if got := h.ticks(up, up.Add(20*time.Second)); len(got) != 0 {
		t.Errorf("garp_master_delay 0, no refresh: bursts %v, want none", got)
	}
}

// A master that loses mastership sends none of the bursts it had pending
// (delayed, lower-priority), as backup or once master again.
func TestGARPStopsWhenNoLongerMaster(t *testing.T) {
	h, up := garpHarness(t, config.GARP{MasterDelay: 5 * time.Second, MasterRepeat: 3,
		MasterRefreshRepeat: 1, LowerPrioDelay: 2 * time.Second, LowerPrioRepeat: 2})
	h.receive(up.Add(500*time.Millisecond), advert(t, 2, 50))
	if got := h.owner.takeAnnounced(); !slices.Equal(got, []int{2}) {
		t.Fatalf("lower-priority advert: bursts %v, want [2]", got)
	}
	back := up.Add(time.Second)
	h.receive(back, advert(t, 2, 200))
	h.expect(t, StateBackup, "after a higher-priority advert")
	// Master again after Master_Down_Interval (the first 100 ms tick past
	// 3.609 s): only that takeover's own second burst, 5 s later.
	got := h.ticks(back, back.Add(10*time.Second))
	h.expect(t, StateMaster, "after master down")
	if h.owner.acquires != 2 {
		t.Errorf("acquired %d times, want 2", h.owner.acquires)
	}
	sameBursts(t, "after losing mastership", got, map[time.Duration][]int{
		3700*time.Millisecond + 5*time.Second: {3},
	})
}

// A master hearing a lower-priority advert (another master that will
// yield) announces garp_lower_prio_repeat at once and again after
// garp_lower_prio_delay; repeat 0 sends nothing.
func TestGARPLowerPriorityAdvert(t *testing.T) {
	h, up := garpHarness(t, config.GARP{MasterRepeat: 5, MasterRefreshRepeat: 1,
		LowerPrioDelay: 2 * time.Second, LowerPrioRepeat: 3})
	at := up.Add(500 * time.Millisecond)
	h.receive(at, advert(t, 2, 50))
	h.expect(t, StateMaster, "after a lower-priority advert")
	if got := h.owner.takeAnnounced(); !slices.Equal(got, []int{3}) {
		t.Errorf("on the lower-priority advert: bursts %v, want [3]", got)
	}
	sameBursts(t, "lower priority", h.ticks(at, at.Add(5*time.Second)), map[time.Duration][]int{
		2 * time.Second: {3},
	})
	// Equal priority from a lower address counts as lower (it yields).
	h.receive(at.Add(6*time.Second), advert(t, 2, 100))
	if got := h.owner.takeAnnounced(); !slices.Equal(got, []int{3}) {
		t.Errorf("on an equal-priority advert from a lower address: bursts %v, want [3]", got)
	}

	h, up = garpHarness(t, config.GARP{MasterRepeat: 5, MasterRefreshRepeat: 1, LowerPrioDelay: 2 * time.Second})
	h.receive(up.Add(time.Second), advert(t, 2, 50))
	if got := h.owner.takeAnnounced(); len(got) != 0 {
		t.Errorf("garp_lower_prio_repeat 0: bursts %v, want none", got)
	}
	if got := h.ticks(up.Add(time.Second), up.Add(5*time.Second)); len(got) != 0 {
		t.Errorf("garp_lower_prio_repeat 0: later bursts %v, want none", got)
	}
}
