package loader_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xlb-project/xlb/maps"
)

// A real server removed from the configuration keeps its slot while its
// flows drain; once the sweep frees the slot, a new server that takes it
// starts with zero packets, bytes and connections, not the old server's.
func TestReusedSlotStartsWithZeroCounters(t *testing.T) {
	r := newRig(t, 4096)
	svc := r.service(maps.RR, 1)
	r.apply(svc)
	for i := range 5 {
		r.syn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}), 40000))
	}
	counters := func(addr netip.Addr) (maps.BackendCounters, uint32) {
		t.Helper()
		svcs, err := r.dp.Maps.Services.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range svcs[0].Backends {
			if b.Addr.Addr() == addr {
				return b.Counters, b.Slot
			}
		}
		t.Fatalf("real server %s not listed", addr)
		return maps.BackendCounters{}, 0
	}
	old, oldSlot := counters(serverAddr(0))
	if old.Conns != 5 || old.Packets != 5 {
		t.Fatalf("first server counted %+v, want 5 connections and packets", old)
	}

	// The server leaves; its flows idle out and the sweep frees its slot.
	next := svc
	next.Backends = []maps.BackendSpec{svc.Backends[0]}
	next.Backends[0].Addr = netip.AddrPortFrom(serverAddr(1), r.top.Port)
	next.Backends[0].MAC = serverMAC(1)
	r.apply(next)
	res, err := r.dp.Maps.Conns.Sweep(maps.Now() + uint64(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.dp.Maps.Services.Reclaim(res.Refs); err != nil {
		t.Fatal(err)
	}
	// A third server takes the freed slot (lowest free first).
	third := next
	third.Backends = append(third.Backends, svc.Backends[0])
	third.Backends[1].Addr = netip.AddrPortFrom(serverAddr(2), r.top.Port)
	third.Backends[1].MAC = serverMAC(2)
	r.apply(third)
	got, slot := counters(serverAddr(2))
	if slot != oldSlot {
		t.Fatalf("the new server took slot %d, not the freed slot %d: the test does not reuse a slot", slot, oldSlot)
	}
	if got != (maps.BackendCounters{}) {
		t.Errorf("a new server in a reused slot starts with %+v, want zero", got)
	}
}
