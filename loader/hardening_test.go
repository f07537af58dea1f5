package loader_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

// A bounded flood of random-source SYNs does not evict established flows:
// above the guard's rate they are scheduled statelessly, never inserted.
func TestSynGuardProtectsEstablishedFlows(t *testing.T) {
	for _, guard := range []bool{false, true} {
		r := newRig(t, 1024) // a small table, so a flood could fill it 50 times
		r.apply(r.service(maps.RR, 1, 1))
		owner := make([]int, 200)
		for i := range owner {
			owner[i] = r.syn(fixture.Client(i))
		}
		if guard {
			if err := r.dp.Maps.Settings.SynGuard(1, 1); err != nil {
				t.Fatal(err)
			}
		}
		before := r.counters()["syn_guard"]
		rng := rand.New(rand.NewPCG(1, 2))
		vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
		frame := fixture.Frame{Src: fixture.Client(0), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN}.Build()
		for range 50_000 {
			binary.BigEndian.PutUint32(frame[26:], rng.Uint32()|0x80000000) // random source outside the clients
			binary.BigEndian.PutUint16(frame[34:], uint16(rng.Uint32()))
			if s := r.send(frame); s < 0 {
				t.Fatal("flood SYN not forwarded (the guard must still serve new flows)")
			}
		}
		moved := 0
		for i, o := range owner {
			if s := r.pkt(fixture.Client(i), fixture.ACK); s != o {
				moved++
			}
		}
		guarded := r.counters()["syn_guard"] - before
		if guard {
			if moved != 0 {
				t.Fatalf("with the guard on, %d of %d established flows lost their real server", moved, len(owner))
			}
			if guarded < 49_000 {
				t.Fatalf("guard counter rose by %d during a 50000-SYN flood", guarded)
			}
		} else if moved == 0 {
			// Without the guard the flood must evict: this shows the test
			// can fail, so the guarded run above means something.
			t.Fatal("without the guard the flood evicted nothing; the test proves nothing")
		}
	}
}

// Every fragment of a datagram goes to the same real server, chosen by
// the 3-tuple, whatever bytes sit where ports would be.
func TestFragmentsGoTogether(t *testing.T) {
	r := newRig(t, 4096)
	svc := r.service(maps.RR, 1, 1)
	svc.Key.Proto = 17
	r.apply(svc)
	vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
	seen := map[int]int{}
	for c := range 64 {
		cl := fixture.Client(c)
		first := fixture.Frame{Src: cl, Dst: vip, Proto: 17, Payload: 1000, FragOff: 0x2000}.Build()
		later := fixture.Frame{Src: cl, Dst: vip, Proto: 17, Payload: 1000, FragOff: 0x2000 | 126}.Build()
		last := fixture.Frame{Src: cl, Dst: vip, Proto: 17, Payload: 300, FragOff: 252}.Build()
		// Later fragments start with payload bytes, not ports.
		binary.BigEndian.PutUint32(later[34:], uint32(c)*7919)
		binary.BigEndian.PutUint32(last[34:], uint32(c)*104729)
		a, b, z := r.send(first), r.send(later), r.send(last)
		if a < 0 || a != b || a != z {
			t.Fatalf("client %d: fragments went to %d, %d, %d", c, a, b, z)
		}
		seen[a]++
	}
	if len(seen) != 2 {
		t.Fatalf("fragments of 64 clients all went to one server: %v", seen)
	}
}

// An ICMP "fragmentation needed" about a packet a real server sent from
// the VIP goes to that flow's real server.
func TestICMPErrorFollowsFlow(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
	router := netip.MustParseAddr("192.168.101.1")
	for c := range 10 {
		cl := fixture.Client(c)
		owner := r.syn(cl)
		if s := r.send(fixture.ICMPError(router, vip, cl, tcp, 1400)); s != owner {
			t.Fatalf("flow %d on rs%d: its ICMP error went to %d", c, owner+1, s)
		}
	}
	before := r.counters()["pass_icmp"]
	if s := r.send(fixture.ICMPError(router, vip, fixture.Client(999), tcp, 1400)); s != -1 {
		t.Fatal("ICMP error about an unknown flow was forwarded")
	}
	if r.counters()["pass_icmp"] != before+1 {
		t.Fatal("pass_icmp not counted")
	}
}
