package loader_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
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

// A fragmented datagram goes where the rest of its flow goes: its first
// fragment carries the ports and is scheduled (or found) as a packet of
// the flow; the later ones, which carry none, follow the first. So under
// rr a client's small and large datagrams of one flow meet at one real
// server, whatever bytes sit where later fragments' ports would be. Both
// families, UDP and TCP.
func TestFragmentsFollowTheirFlow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		proto  uint8
		svc    func(r *rig) maps.ServiceSpec
		client func(c int) netip.AddrPort
	}{
		{"ipv4 udp", 17, func(r *rig) maps.ServiceSpec { return r.service(maps.RR, 1, 1) }, fixture.Client},
		{"ipv4 tcp", tcp, func(r *rig) maps.ServiceSpec { return r.service(maps.RR, 1, 1) }, fixture.Client},
		{"ipv6 udp", 17, func(*rig) maps.ServiceSpec { return v6service(maps.RR) }, v6client},
		{"ipv6 tcp", tcp, func(*rig) maps.ServiceSpec { return v6service(maps.RR) }, v6client},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 4096)
			svc := tc.svc(r)
			svc.Key.Proto = tc.proto
			r.apply(svc)
			vip := netip.AddrPortFrom(svc.Key.VIP, svc.Key.Port)
			seen := map[int]int{}
			for c := range 16 {
				cl := tc.client(c)
				flags := uint8(fixture.SYN)
				if tc.proto != tcp {
					flags = 0
				}
				small := r.send(fixture.Frame{Src: cl, Dst: vip, Proto: tc.proto, TCPFlags: flags, Payload: 10}.Build())
				id := uint32(1000 + c)
				first := fixture.Frame{Src: cl, Dst: vip, Proto: tc.proto, TCPFlags: fixture.ACK, Payload: 1000, FragOff: 0x2000, FragID: id}.Build()
				later := fixture.Frame{Src: cl, Dst: vip, Proto: tc.proto, Payload: 1000, FragOff: 0x2000 | 126, FragID: id}.Build()
				last := fixture.Frame{Src: cl, Dst: vip, Proto: tc.proto, Payload: 300, FragOff: 252, FragID: id}.Build()
				// Later fragments start with payload bytes, not ports.
				l4 := len(later) - (1000 + 8)
				if tc.proto == tcp {
					l4 = len(later) - (1000 + 20)
				}
				binary.BigEndian.PutUint32(later[l4:], uint32(c)*7919)
				binary.BigEndian.PutUint32(last[l4:], uint32(c)*104729)
				a, b, z := r.send(first), r.send(later), r.send(last)
				if small < 0 || a != small || b != small || z != small {
					t.Fatalf("client %d: its flow went to %d, its datagram's fragments to %d, %d, %d", c, small, a, b, z)
				}
				seen[small]++
			}
			if len(seen) != 2 {
				t.Fatalf("flows of 16 clients all went to one server under rr: %v", seen)
			}
		})
	}
}

// Later fragments follow their own datagram's first fragment: two
// datagrams of one client to two services of one VIP (so the 3-tuple
// cannot tell them apart) reach each its own service's real server, and
// a later fragment of an identification never seen is not taken for
// either.
func TestFragmentsOfTwoServicesOnOneVIP(t *testing.T) {
	r := newRig(t, 4096)
	a := r.service(maps.RR, 1, 0)
	a.Key.Proto = 17
	a.Backends = a.Backends[:1] // real server 0
	b := r.service(maps.RR, 0, 1)
	b.Key.Proto, b.Key.Port = 17, r.top.Port+1
	b.Backends = b.Backends[1:] // real server 1
	for i := range b.Backends {
		b.Backends[i].Addr = netip.AddrPortFrom(b.Backends[i].Addr.Addr(), b.Key.Port)
	}
	r.apply(a, b)
	cl := fixture.Client(3)
	for i, svc := range []maps.ServiceSpec{a, b} {
		dst := netip.AddrPortFrom(svc.Key.VIP, svc.Key.Port)
		id := uint32(500 + i)
		first := fixture.Frame{Src: cl, Dst: dst, Proto: 17, Payload: 1000, FragOff: 0x2000, FragID: id}.Build()
		last := fixture.Frame{Src: cl, Dst: dst, Proto: 17, Payload: 300, FragOff: 126, FragID: id}.Build()
		if got, gotLast := r.send(first), r.send(last); got != i || gotLast != i {
			t.Fatalf("datagram to port %d: first fragment to server %d, last to %d, want %d", svc.Key.Port, got, gotLast, i)
		}
	}
	before := r.counters()
	stray := fixture.Frame{Src: cl, Dst: netip.AddrPortFrom(a.Key.VIP, a.Key.Port), Proto: 17, Payload: 300, FragOff: 126, FragID: 999}.Build()
	if s := r.send(stray); s >= 0 {
		t.Fatalf("a later fragment of an unknown datagram, on a VIP of two services, went to server %d", s)
	}
	if after := r.counters(); after["pass_fragment"] != before["pass_fragment"]+1 {
		t.Fatal("the unplaceable fragment was not counted")
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

// A first fragment's ports serve its datagram for the fragment timeout
// only (30 s by default, Linux's ipfrag_time; 1 s here): a later fragment
// after that is no longer taken for the flow, as the identification may
// have been reused by then.
func TestFragmentTrackingExpires(t *testing.T) {
	requireRoot(t)
	dp, err := loader.Load(loader.Options{ConnTableSize: 4096, PersistTableSize: 4096, DirectorMAC: fixture.DirectorMAC, FragmentTimeout: time.Second})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { dp.Close(true) })
	r := &rig{t: t, dp: dp, top: fixture.Seed()}
	svc := r.service(maps.RR, 1, 1)
	svc.Key.Proto = 17
	r.apply(svc)
	vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
	cl := fixture.Client(9)
	first := fixture.Frame{Src: cl, Dst: vip, Proto: 17, Payload: 1000, FragOff: 0x2000, FragID: 4242}.Build()
	later := fixture.Frame{Src: cl, Dst: vip, Proto: 17, Payload: 300, FragOff: 126, FragID: 4242}.Build()
	if r.send(first) < 0 {
		t.Fatal("first fragment not forwarded")
	}
	before := r.counters()["fragment_tx"]
	if r.send(later) < 0 || r.counters()["fragment_tx"] != before {
		t.Fatal("a later fragment within the timeout did not follow its first fragment")
	}
	time.Sleep(1200 * time.Millisecond)
	if r.send(later); r.counters()["fragment_tx"] != before+1 {
		t.Fatal("a later fragment after the timeout still followed the first fragment's ports")
	}
	if _, err := loader.Load(loader.Options{FragmentTimeout: 1500 * time.Millisecond}); err == nil {
		t.Fatal("a fragment timeout of 1.5 s was accepted")
	}
}
