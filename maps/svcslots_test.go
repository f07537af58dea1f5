package maps_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

// slotServices returns n service keys on port 80: the first two share a
// service slot, the others have slots of their own.
func slotServices(t *testing.T, n int) []maps.Key {
	t.Helper()
	key := func(i int) maps.Key {
		return maps.Key{VIP: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), Port: 80, Proto: 6}
	}
	keys := []maps.Key{key(1)}
	used := map[uint32]bool{maps.SlotOf(key(1)): true}
	for i := 2; i < 1<<16 && len(keys) < 2; i++ {
		if maps.SlotOf(key(i)) == maps.SlotOf(keys[0]) {
			keys = append(keys, key(i))
		}
	}
	for i := 2; i < 1<<16 && len(keys) < n; i++ {
		if s := maps.SlotOf(key(i)); !used[s] && s != maps.SlotOf(keys[0]) {
			used[s] = true
			keys = append(keys, key(i))
		}
	}
	if len(keys) < n {
		t.Fatalf("found only %d keys", len(keys))
	}
	return keys
}

// specs gives service i one real server with MAC 02:00:00:00:02:i.
func specs(keys []maps.Key) []maps.ServiceSpec {
	var out []maps.ServiceSpec
	for i, k := range keys {
		out = append(out, maps.ServiceSpec{
			Key: k, Scheduler: maps.RR, TCPSec: 900, TCPFinSec: 120, UDPSec: 300,
			Backends: []maps.BackendSpec{{
				Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 102, byte(10 + i)}), 80),
				MAC:  net.HardwareAddr{2, 0, 0, 0, 2, byte(i)}, Weight: 1, Available: true,
			}},
		})
	}
	return out
}

func syn(dp *loader.Datapath, t *testing.T, k maps.Key, client int) int {
	t.Helper()
	f := fixture.Frame{
		Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(client >> 8), byte(client)}), uint16(20000+client)),
		Dst: netip.AddrPortFrom(k.VIP, k.Port), Proto: 6, TCPFlags: fixture.SYN, Payload: 10,
	}
	return server(t, dp, f.Build())
}

// New flows find their service through its slot, and a service that
// lost its slot to another through the hash.
func TestServiceSlots(t *testing.T) {
	dp := load(t, 1024)
	keys := slotServices(t, 4)
	if err := dp.Maps.Services.Apply(specs(keys)); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if got := syn(dp, t, k, i); got != i {
			t.Errorf("service %d (%s): new flow went to %d, want its own server", i, k, got)
		}
	}
	// The slot path is the datapath's: with service 2 gone from the hash,
	// its new flows still find it (Go and C agree on the slot).
	if err := dp.Maps.Services.Unhash(keys[2]); err != nil {
		t.Fatal(err)
	}
	if got := syn(dp, t, keys[2], 100); got != 2 {
		t.Errorf("service found only through its slot: new flow went to %d, want 2", got)
	}
	// Service 1 shares service 0's slot and lost it (the lower id keeps
	// it): it is found in the hash, and without it the packet is no
	// service's.
	if err := dp.Maps.Services.Unhash(keys[1]); err != nil {
		t.Fatal(err)
	}
	if act, _, err := dp.Run(frameTo(keys[1], 101)); err != nil || act != fixture.XDPPass {
		t.Errorf("service sharing another's slot, gone from the hash: action %d (%v), want pass", act, err)
	}
}

// The slots follow the config: when the service holding a shared slot
// goes, the other takes it, and the one gone is found by neither path.
func TestServiceSlotsFollowConfig(t *testing.T) {
	dp := load(t, 1024)
	keys := slotServices(t, 3)
	all := specs(keys)
	if err := dp.Maps.Services.Apply(all); err != nil {
		t.Fatal(err)
	}
	slot := maps.SlotOf(keys[0])
	before, err := dp.Maps.Services.SlotHolder(slot)
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Maps.Services.Apply(all[1:]); err != nil {
		t.Fatal(err)
	}
	after, err := dp.Maps.Services.SlotHolder(slot)
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 || after == 0 || before == after {
		t.Fatalf("shared slot held %d, then %d: want service 0's id, then service 1's", before, after)
	}
	if err := dp.Maps.Services.Unhash(keys[1]); err != nil {
		t.Fatal(err)
	}
	if got := syn(dp, t, keys[1], 1); got != 1 {
		t.Errorf("service 1 after service 0 left, found by its slot: new flow went to %d, want its server 1", got)
	}
	if act, _, err := dp.Run(frameTo(keys[0], 2)); err != nil || act != fixture.XDPPass {
		t.Errorf("removed service: action %d (%v), want pass", act, err)
	}
}

func frameTo(k maps.Key, client int) []byte {
	return fixture.Frame{
		Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, 0, byte(client)}), uint16(30000+client)),
		Dst: netip.AddrPortFrom(k.VIP, k.Port), Proto: 6, TCPFlags: fixture.SYN, Payload: 10,
	}.Build()
}
