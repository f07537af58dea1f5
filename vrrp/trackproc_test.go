package vrrp

import (
	"slices"
	"testing"
	"time"
)

// keepalived's track_process, as a script: a positive weight counts while
// the quorum is there, a negative one while it is lost, reverse negates
// it; a master advertises the change at once; a process is down until
// its first state arrives.
func TestTrackProcessWeights(t *testing.T) {
	h := newHarness(t, baseCfg(), "10.0.0.2", WithTrackedProcesses(map[string]TrackedProcess{
		"up": {Weight: 10}, "down": {Weight: -20}, "rev": {Weight: 5, Reverse: true},
	}))
	if p := h.Priority(); p != 80 {
		t.Fatalf("all down before any state: priority %d, want 100-20", p)
	}
	h.SetProcessUp("up", true)
	h.SetProcessUp("down", true)
	if p := h.Priority(); p != 110 {
		t.Fatalf("up and down have quorum: priority %d, want 100+10", p)
	}
	h.start(t0)
	h.tick(t0.Add(4 * time.Second))
	h.expect(t, StateMaster, "no other router")
	h.tr.reset()
	h.SetProcessUp("rev", true)
	if p := h.tr.sentPrios(); !slices.Equal(p, []uint8{105}) {
		t.Fatalf("master sent %v after rev gained its quorum, want one advert at once at 110-5", p)
	}
	h.tr.reset()
	h.SetProcessUp("down", false)
	if p := h.tr.sentPrios(); !slices.Equal(p, []uint8{85}) {
		t.Fatalf("master sent %v after down lost its quorum, want 105-20", p)
	}
	// The same state again sends nothing; an untracked name changes nothing.
	h.tr.reset()
	h.SetProcessUp("down", false)
	h.SetProcessUp("other", true)
	if p := h.tr.sentPrios(); len(p) != 0 || h.Priority() != 85 {
		t.Fatalf("repeated state or untracked name: sent %v, priority %d", p, h.Priority())
	}
}

// Weight 0: FAULT while the quorum is lost (from the start, before any
// state), left when it is back; with reverse FAULT while it is there.
// A weighted process cannot move the address owner.
func TestTrackProcessWeightZero(t *testing.T) {
	h := newHarness(t, baseCfg(), "10.0.0.2", WithTrackedProcesses(map[string]TrackedProcess{"p": {}}))
	h.start(t0)
	h.expect(t, StateFault, "weight 0, process down")
	h.SetProcessUp("p", true)
	h.expect(t, StateBackup, "quorum gained")
	// A master that loses the quorum leaves at once with priority 0.
	h = newHarness(t, baseCfg(), "10.0.0.2", WithTrackedProcesses(map[string]TrackedProcess{"p": {}}))
	h.SetProcessUp("p", true)
	h.start(t0)
	h.tick(t0.Add(4 * time.Second))
	h.expect(t, StateMaster, "no other router")
	h.tr.reset()
	h.SetProcessUp("p", false)
	h.expect(t, StateFault, "quorum lost")
	if h.owner.holds() {
		t.Fatal("VIPs held in fault")
	}
	if p := h.tr.sentPrios(); !slices.Equal(p, []uint8{0}) {
		t.Fatalf("sent %v entering fault, want a priority-0 advert", p)
	}
	if p := h.Priority(); p != 100 {
		t.Fatalf("weight 0 moved the priority to %d", p)
	}

	h = newHarness(t, baseCfg(), "10.0.0.2", WithTrackedProcesses(map[string]TrackedProcess{"p": {Reverse: true}}))
	h.start(t0)
	h.expect(t, StateBackup, "weight 0 reverse, process down")
	h.SetProcessUp("p", true)
	h.expect(t, StateFault, "weight 0 reverse, quorum there")

	owner := baseCfg()
	owner.Priority = 255
	if _, err := NewInstance(owner, &fakeOwner{}, nil, WithTransport(newFakeTransport("10.0.0.2")), WithTrackedProcesses(map[string]TrackedProcess{"p": {Weight: 1}})); err == nil {
		t.Error("a weighted track process accepted at priority 255")
	}
	if _, err := NewInstance(owner, &fakeOwner{}, nil, WithTransport(newFakeTransport("10.0.0.2")), WithTrackedProcesses(map[string]TrackedProcess{"p": {}})); err != nil {
		t.Errorf("a weight-0 track process refused at priority 255: %v", err)
	}
}
