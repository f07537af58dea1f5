package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// keepalived's old unicast VRRPv3 checksum (before 1.3.6: the multicast
// group in the pseudo-header instead of the peer), as keepalived 2.2.7
// handles it: by default an advert that checks only the old way switches
// the instance to the old form, for what it sends and what it accepts from
// then on; old_unicast_checksum uses the old form from the start; "never"
// (standard) never switches.
func TestOldUnicastChecksum(t *testing.T) {
	local := netip.MustParseAddr("10.0.0.2")
	peer := netip.MustParseAddr("10.0.0.9")
	group := GroupIPv4()
	advertFrom := func(t *testing.T, sumDst netip.Addr) Packet {
		t.Helper()
		a := &Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{testVIP}}
		b, err := a.Marshal(peer, sumDst)
		if err != nil {
			t.Fatal(err)
		}
		return Packet{Src: peer, Dst: local, TTL: 255, Data: b}
	}
	newInst := func(t *testing.T, mode string) (*Instance, *fakeUnicast) {
		t.Helper()
		cfg := baseCfg()
		cfg.Version, cfg.AuthType, cfg.AuthPass = 3, "", ""
		cfg.UnicastPeers = []netip.Addr{peer}
		cfg.UnicastChecksum = mode
		tr := &fakeUnicast{fakeTransport: newFakeTransport(local.String()), peers: cfg.UnicastPeers}
		inst, err := NewInstance(cfg, &fakeOwner{}, testLogger(), WithTransport(tr))
		if err != nil {
			t.Fatal(err)
		}
		inst.step(func(time.Time) { inst.startLocked(t0) })
		return inst, tr
	}
	// sentForm says how the instance's last advert checks: "old",
	// "standard", or "" if neither.
	sentForm := func(t *testing.T, inst *Instance, tr *fakeUnicast) string {
		t.Helper()
		inst.step(func(time.Time) { inst.sendAdvert(100) })
		tr.mu.Lock()
		msg := tr.msgs[len(tr.msgs)-1]
		tr.mu.Unlock()
		_, errStd := Unmarshal(msg, local, peer)
		_, errOld := Unmarshal(msg, local, group)
		switch {
		case errStd == nil:
			return "standard"
		case errOld == nil:
			return "old"
		}
		return ""
	}
	accepted := func(inst *Instance, p Packet) bool {
		before := inst.Stats().AdvertsReceived
		inst.receive(t0.Add(time.Second), p)
		return inst.Stats().AdvertsReceived == before+1
	}

	t.Run("auto", func(t *testing.T) {
		inst, tr := newInst(t, "")
		if !accepted(inst, advertFrom(t, local)) || inst.Stats().OldUnicastChecksum {
			t.Fatal("a standard advert: not accepted, or the instance switched")
		}
		if !accepted(inst, advertFrom(t, group)) {
			t.Fatalf("an old-form advert was refused: %+v", inst.Stats())
		}
		if !inst.Stats().OldUnicastChecksum {
			t.Error("the old-form advert did not switch the instance")
		}
		if accepted(inst, advertFrom(t, local)) || inst.Stats().Invalid[ReasonBadChecksum] != 1 {
			t.Errorf("after the switch a standard advert was accepted (keepalived refuses it): %+v", inst.Stats())
		}
		if f := sentForm(t, inst, tr); f != "old" {
			t.Errorf("after the switch the adverts go in the %q form, want old", f)
		}
	})
	t.Run("standard adverts keep the standard form", func(t *testing.T) {
		inst, tr := newInst(t, "")
		accepted(inst, advertFrom(t, local))
		if f := sentForm(t, inst, tr); f != "standard" {
			t.Errorf("adverts in the %q form, want standard", f)
		}
	})
	t.Run("never", func(t *testing.T) {
		inst, tr := newInst(t, "standard")
		if accepted(inst, advertFrom(t, group)) || inst.Stats().Invalid[ReasonBadChecksum] != 1 || inst.Stats().OldUnicastChecksum {
			t.Errorf("old_unicast_checksum never accepted an old-form advert or switched: %+v", inst.Stats())
		}
		if f := sentForm(t, inst, tr); f != "standard" {
			t.Errorf("adverts in the %q form, want standard", f)
		}
	})
	t.Run("old", func(t *testing.T) {
		inst, tr := newInst(t, "old")
		if !inst.Stats().OldUnicastChecksum {
			t.Error("old_unicast_checksum: not reported")
		}
		if f := sentForm(t, inst, tr); f != "old" {
			t.Errorf("adverts in the %q form, want old", f)
		}
		if accepted(inst, advertFrom(t, local)) || !accepted(inst, advertFrom(t, group)) {
			t.Errorf("old_unicast_checksum: a standard advert accepted or an old one refused: %+v", inst.Stats())
		}
	})
}
