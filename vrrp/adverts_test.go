package vrrp

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// masterAt100 is a harness that is master with priority 100 (started as
// the owner, then lowered, as TestMasterYields does), its sent adverts
// cleared.
func masterAt100(t *testing.T, lowerNoAdvert, higherSend bool) *harness {
	t.Helper()
	cfg := baseCfg()
	cfg.Priority = 255
	cfg.LowerPrioNoAdvert, cfg.HigherPrioSendAdvert = lowerNoAdvert, higherSend
	h := newHarness(t, cfg, "10.0.0.2")
	h.start(t0)
	h.expect(t, StateMaster, "owner at start")
	h.prio = 100
	h.tr.reset()
	return h
}

func from(src string) peerOpt {
	return func(_ *Advert, p *Packet) { p.Src = netip.MustParseAddr(src) }
}

// keepalived's default, seen on the wire with 2.2.7: a master that hears a
// lower priority (or an equal one from a lower address) answers at once
// with its own advert, and its advert timer restarts from that one;
// lower_prio_no_advert keeps it to the RFCs' silence.
func TestMasterAnswersLowerPriority(t *testing.T) {
	for _, c := range []struct {
		name string
		prio uint8
		src  string
	}{{"lower priority", 50, "10.0.0.3"}, {"equal priority, lower address", 100, "10.0.0.1"}} {
		h := masterAt100(t, false, false)
		at := t0.Add(300 * time.Millisecond)
		h.receive(at, advert(t, 2, c.prio, from(c.src)))
		if p := h.tr.sentPrios(); !slices.Equal(p, []uint8{100}) {
			t.Fatalf("%s: sent %v, want one advert of 100 at once", c.name, p)
		}
		h.expect(t, StateMaster, c.name)
		// The next advert is one interval after the answer, not after
		// the last periodic one.
		h.tick(at.Add(time.Second - time.Millisecond))
		if n := len(h.tr.sentPrios()); n != 1 {
			t.Fatalf("%s: %d adverts before the restarted interval ran out", c.name, n)
		}
		h.tick(at.Add(time.Second))
		if p := h.tr.sentPrios(); !slices.Equal(p, []uint8{100, 100}) {
			t.Fatalf("%s: sent %v after the interval, want two adverts", c.name, p)
		}

		q := masterAt100(t, true, false)
		q.receive(at, advert(t, 2, c.prio, from(c.src)))
		if p := q.tr.sentPrios(); len(p) != 0 {
			t.Fatalf("%s, lower_prio_no_advert: sent %v, want none", c.name, p)
		}
		q.tick(t0.Add(time.Second)) // the periodic advert still goes
		if p := q.tr.sentPrios(); !slices.Equal(p, []uint8{100}) {
			t.Fatalf("%s, lower_prio_no_advert: sent %v at the interval, want [100]", c.name, p)
		}
	}
}

// higher_prio_send_advert: a master hearing a higher priority (or an equal
// one from a higher address) sends one advert of its own priority, then
// yields; without it, it yields silently (keepalived's default).
func TestMasterSendsBeforeYielding(t *testing.T) {
	for _, c := range []struct {
		name string
		prio uint8
		src  string
	}{{"higher priority", 150, "10.0.0.1"}, {"equal priority, higher address", 100, "10.0.0.3"}} {
		for _, send := range []bool{false, true} {
			h := masterAt100(t, false, send)
			h.receive(t0.Add(300*time.Millisecond), advert(t, 2, c.prio, from(c.src)))
			h.expect(t, StateBackup, c.name)
			var want []uint8
			if send {
				want = []uint8{100}
			}
			if p := h.tr.sentPrios(); !slices.Equal(p, want) {
				t.Fatalf("%s, higher_prio_send_advert %v: sent %v, want %v", c.name, send, p, want)
			}
			if h.owner.holds() {
				t.Fatalf("%s: VIPs held after yielding", c.name)
			}
		}
	}
}

// unicast_fault_no_peer without unicast peers: FAULT from the start, no
// advert, no VIP, whatever the priority; with peers, it runs as usual.
func TestUnicastFaultNoPeer(t *testing.T) {
	cfg := baseCfg()
	cfg.Priority = 255
	cfg.UnicastFaultNoPeer = true
	h := newHarness(t, cfg, "10.0.0.2")
	h.start(t0)
	h.expect(t, StateFault, "unicast_fault_no_peer without peers")
	h.tick(t0.Add(time.Hour))
	h.checkLinks(t0.Add(time.Hour))
	h.expect(t, StateFault, "an hour later")
	if p := h.tr.sentPrios(); len(p) != 0 || h.owner.holds() {
		t.Fatalf("in FAULT: sent %v, VIP held %v", p, h.owner.holds())
	}

	cfg.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.9")}
	tr := &fakeUnicast{fakeTransport: newFakeTransport("10.0.0.2"), peers: cfg.UnicastPeers}
	inst, err := NewInstance(cfg, &fakeOwner{}, testLogger(), WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	inst.step(func(time.Time) { inst.startLocked(t0) })
	if st := inst.State(); st != StateMaster {
		t.Fatalf("unicast_fault_no_peer with a peer: state %v, want MASTER", st)
	}
}

// Adverts from a unicast peer are heard whatever their TTL, as keepalived
// hears them (a peer with unicast_ttl below 255, or routers away); a
// multicast instance still drops any TTL but 255.
func TestUnicastAcceptsAnyTTL(t *testing.T) {
	cfg := baseCfg()
	cfg.UnicastPeers = []netip.Addr{peerIP}
	tr := &fakeUnicast{fakeTransport: newFakeTransport("10.0.0.2"), peers: cfg.UnicastPeers}
	inst, err := NewInstance(cfg, &fakeOwner{}, testLogger(), WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	inst.step(func(time.Time) { inst.startLocked(t0) })
	ttl := func(n int) peerOpt {
		return func(_ *Advert, p *Packet) { p.TTL, p.Dst = n, netip.MustParseAddr("10.0.0.2") }
	}
	for _, n := range []int{1, 10, 64} {
		inst.receive(t0.Add(time.Second), advert(t, 2, 150, ttl(n)))
	}
	if st := inst.Stats(); st.AdvertsReceived != 3 || st.Invalid[ReasonBadTTL] != 0 {
		t.Fatalf("unicast: stats %+v, want 3 adverts heard", st)
	}

	h := newHarness(t, baseCfg(), "10.0.0.2")
	h.start(t0)
	h.receive(t0.Add(time.Second), advert(t, 2, 150, func(_ *Advert, p *Packet) { p.TTL = 10 }))
	if st := h.Stats(); st.AdvertsReceived != 0 || st.Invalid[ReasonBadTTL] != 1 {
		t.Fatalf("multicast: stats %+v, want the TTL 10 advert dropped", st)
	}
}
