package vrrp

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var testVIP2 = netip.MustParseAddr("10.1.0.100")

// syncPair is two instances of one sync group on one director: VI_1
// (VRID 51, testVIP) and VI_2 (VRID 52, testVIP2).
func syncPair(t *testing.T) (a, b *harness) {
	t.Helper()
	g := NewSyncGroup("G1")
	a = newHarness(t, baseCfg(), "10.0.0.2", WithSyncGroup(g))
	cfg := baseCfg()
	cfg.Name, cfg.Interface, cfg.VirtualRouterID = "VI_2", "eth1", 52
	cfg.VirtualAddrs = []netip.Addr{testVIP2}
	b = newHarness(t, cfg, "10.1.0.2", WithSyncGroup(g))
	return a, b
}

// forVI2 turns a peer advert into one for VI_2.
func forVI2(a *Advert, _ *Packet) { a.VRID, a.Addrs = 52, []netip.Addr{testVIP2} }

// bothMaster starts the pair and lets both timers run out.
func bothMaster(t *testing.T, a, b *harness) time.Time {
	t.Helper()
	a.start(t0)
	b.start(t0)
	now := t0.Add(a.MasterDownInterval())
	a.tick(now)
	b.tick(now)
	a.expect(t, StateMaster, "a after both timers")
	b.expect(t, StateMaster, "b after both timers")
	return now
}

// A member whose master is gone waits in Backup while another member still
// hears its master, and both become Master when the last one is ready.
func TestSyncGroupBecomesMasterTogether(t *testing.T) {
	a, b := syncPair(t)
	a.start(t0)
	b.start(t0)
	mdi := a.MasterDownInterval()
	// VI_2's master is alive: its adverts keep b's timer running.
	b.receive(t0.Add(3*time.Second), advert(t, 2, 200, forVI2))
	a.tick(t0.Add(mdi))
	a.expect(t, StateBackup, "a's timer ran out while b still hears its master")
	if a.owner.holds() || slices.Contains(a.tr.sentPrios(), 100) {
		t.Fatalf("a holds its VIP or advertised while its group is not ready: held=%v sent=%v", a.owner.holds(), a.tr.sentPrios())
	}
	// Without a timer a waits for the group, however long.
	a.tick(t0.Add(mdi + 10*time.Second))
	a.expect(t, StateBackup, "a, later")

	// VI_2's master goes quiet: b's timer runs out and brings a along.
	b.tick(t0.Add(3*time.Second + mdi))
	b.expect(t, StateMaster, "b when its timer runs out")
	a.expect(t, StateMaster, "a, brought along by b")
	if !a.owner.holds() || !b.owner.holds() {
		t.Fatalf("VIPs held: a=%v b=%v, want both", a.owner.holds(), b.owner.holds())
	}
}

// Outside a group the same events make VI_1 Master on its own: the test
// above would fail without the group's rule.
func TestWithoutSyncGroupInstancesMoveAlone(t *testing.T) {
	a := newHarness(t, baseCfg(), "10.0.0.2")
	a.start(t0)
	a.tick(t0.Add(a.MasterDownInterval()))
	a.expect(t, StateMaster, "a alone")
}

// A Master that hears a better master takes the group to Backup; the other
// members send priority 0 so the other director takes them over at once.
func TestSyncGroupBackupTogether(t *testing.T) {
	a, b := syncPair(t)
	now := bothMaster(t, a, b)
	b.tr.reset()
	a.receive(now.Add(time.Second), advert(t, 2, 200))
	a.expect(t, StateBackup, "a after a better master")
	b.expect(t, StateBackup, "b, taken along")
	if got := b.tr.sentPrios(); !slices.Equal(got, []uint8{PriorityStop}) {
		t.Fatalf("b sent %v when leaving master with its group, want [0]", got)
	}
	if a.owner.holds() || b.owner.holds() {
		t.Fatalf("VIPs still held: a=%v b=%v", a.owner.holds(), b.owner.holds())
	}
	// b's own master (the other director's VI_2) now advertises: b stays
	// Backup; a hears its own.
	b.receive(now.Add(2*time.Second), advert(t, 2, 200, forVI2))
	b.tick(now.Add(2*time.Second + a.MasterDownInterval() - time.Millisecond))
	b.expect(t, StateBackup, "b hearing its master")
}

// One member's fault is the whole group's, until it clears.
func TestSyncGroupFaultTogether(t *testing.T) {
	a, b := syncPair(t)
	now := bothMaster(t, a, b)
	b.tr.reset()
	a.setLink("eth0", true)
	a.checkLinks(now.Add(time.Second))
	a.expect(t, StateFault, "a with its interface down")
	b.expect(t, StateFault, "b, in fault with its group")
	if got := b.tr.sentPrios(); !slices.Equal(got, []uint8{PriorityStop}) {
		t.Fatalf("b sent %v entering fault, want [0]", got)
	}
	if b.owner.holds() {
		t.Fatal("b still holds its VIP in fault")
	}
	// b's own interfaces are fine: polling them does not lift the fault.
	b.checkLinks(now.Add(2 * time.Second))
	b.expect(t, StateFault, "b while a is still down")

	a.setLink("eth0", false)
	a.checkLinks(now.Add(3 * time.Second))
	a.expect(t, StateBackup, "a with its interface back")
	b.expect(t, StateBackup, "b with the group's fault gone")
	// And they become Master together again.
	later := now.Add(3*time.Second + a.MasterDownInterval())
	a.tick(later)
	b.tick(later)
	a.expect(t, StateMaster, "a again")
	b.expect(t, StateMaster, "b again")
}

// A member that stops takes its fault with it.
func TestSyncGroupStoppedMemberLeaves(t *testing.T) {
	a, b := syncPair(t)
	a.setLink("eth0", true)
	a.start(t0)
	b.start(t0)
	b.expect(t, StateFault, "b starting while a is in fault")
	a.step(func(now time.Time) { a.shutdownLocked(now, true) })
	a.leaveGroup()
	b.expect(t, StateBackup, "b after a left the group")
}

// The members' own goroutines move each other (go test -race checks the
// locking): both become Master with real timers, a better master for VI_1
// takes both to Backup, and stopping VI_1 leaves VI_2 running alone.
func TestSyncGroupConcurrentRun(t *testing.T) {
	g := NewSyncGroup("G1")
	cfg := baseCfg()
	cfg.Version, cfg.AuthType, cfg.AuthPass, cfg.AdvertInterval = 3, "", "", 50*time.Millisecond
	a := newHarness(t, cfg, "10.0.0.2", WithSyncGroup(g))
	cfg2 := cfg
	cfg2.Name, cfg2.Interface, cfg2.VirtualRouterID, cfg2.VirtualAddrs = "VI_2", "eth1", 52, []netip.Addr{testVIP2}
	b := newHarness(t, cfg2, "10.1.0.2", WithSyncGroup(g))
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	go func() { doneB <- b.Run(ctxB) }()
	waitState := func(h *harness, want State, what string) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if h.State() == want {
				return
			}
		}
		t.Fatalf("%s: state %v, want %v", what, h.State(), want)
	}
	waitState(a, StateMaster, "a")
	waitState(b, StateMaster, "b")
	// A better VI_1 master appears and keeps advertising.
	better := advert(t, 3, 200, func(ad *Advert, _ *Packet) { ad.Interval = 50 * time.Millisecond })
	stopAds := make(chan struct{})
	go func() {
		for {
			select {
			case a.tr.in <- better:
			case <-stopAds:
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	waitState(a, StateBackup, "a under a better master")
	waitState(b, StateBackup, "b with its group")
	close(stopAds)
	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	// Alone in the group now, b takes over when its timer runs out.
	waitState(b, StateMaster, "b alone")
	stopB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
}
