package loader_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

func v6service(s maps.Scheduler) maps.ServiceSpec {
	spec := maps.ServiceSpec{
		Key:       maps.Key{VIP: netip.MustParseAddr("2001:db8:101::100"), Port: 80, Proto: tcp},
		Scheduler: s, TCPSec: 900, TCPFinSec: 120, UDPSec: 300, PersistSec: 0,
	}
	for i := range 2 {
		spec.Backends = append(spec.Backends, maps.BackendSpec{
			Addr:   netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0x01, 15: byte(3 + i)}), 80),
			MAC:    net.HardwareAddr{0x02, 0, 0, 0, 0, byte(3 + i)},
			Weight: 1, Available: true,
		})
	}
	return spec
}

func v6client(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x99, 12: byte(n >> 24), 13: byte(n >> 16), 14: byte(n >> 8), 15: byte(n)}), uint16(2000+n%50000))
}

// IPv6 services: rr alternates, flows stick (with and without extension
// headers before TCP), truncated headers are dropped and counted,
// unplaceable fragments passed and counted, an IPv4 packet to the same port passes.
func TestIPv6Service(t *testing.T) {
	r := newRig(t, 4096)
	svc := v6service(maps.RR)
	r.apply(svc)
	vip := netip.AddrPortFrom(svc.Key.VIP, 80)
	send := func(f fixture.Frame) int { return r.send(f.Build()) }
	owner := map[int]int{}
	for i := range 50 {
		owner[i] = send(fixture.Frame{Src: v6client(i), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN})
		if owner[i] < 0 {
			t.Fatalf("IPv6 SYN %d not forwarded", i)
		}
		if i > 0 && owner[i] == owner[i-1] {
			t.Fatalf("IPv6 rr did not alternate at flow %d", i)
		}
	}
	for i, o := range owner {
		if s := send(fixture.Frame{Src: v6client(i), Dst: vip, Proto: tcp, TCPFlags: fixture.ACK, HopByHop: 2}); s != o {
			t.Fatalf("IPv6 flow %d with a hop-by-hop header moved from %d to %d", i, o, s)
		}
	}
	full := fixture.Frame{Src: v6client(1000), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN}.Build()
	for n := 14; n < len(full); n++ {
		before := r.counters()
		if s := r.send(full[:n]); s >= 0 {
			t.Fatalf("truncated IPv6 frame of %d bytes forwarded", n)
		}
		after := r.counters()
		if after["drop_malformed_l3"]+after["drop_malformed_l4"] != before["drop_malformed_l3"]+before["drop_malformed_l4"]+1 {
			t.Fatalf("truncated IPv6 frame of %d bytes not counted as malformed", n)
		}
	}
	// A later fragment whose first was not seen: its transport protocol
	// and ports are unknown, so it is passed.
	frag := fixture.Frame{Src: v6client(1), Dst: vip, Proto: tcp, Payload: 64, FragOff: 185, FragID: 77}.Build()
	before := r.counters()["pass_fragment"]
	if s := r.send(frag); s >= 0 {
		t.Fatal("IPv6 fragment forwarded")
	}
	if r.counters()["pass_fragment"] != before+1 {
		t.Fatal("IPv6 fragment not counted")
	}
	if s := r.syn(fixture.Client(1)); s >= 0 {
		t.Fatal("IPv4 SYN forwarded by an IPv6-only configuration")
	}
	conns, err := r.dp.Maps.Conns.List(maps.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 50 || !conns[0].Client.Addr().Is6() {
		t.Fatalf("connection listing shows %d flows, want the 50 IPv6 ones", len(conns))
	}
}

// An ICMPv6 packet-too-big about a packet a real server sent from the IPv6
// VIP reaches the real server of that flow.
func TestICMPv6TooBigFollowsFlow(t *testing.T) {
	r := newRig(t, 4096)
	svc := v6service(maps.RR)
	r.apply(svc)
	vip := netip.AddrPortFrom(svc.Key.VIP, 80)
	router := netip.MustParseAddr("2001:db8:101::1")
	for i := range 10 {
		owner := r.send(fixture.Frame{Src: v6client(i), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN}.Build())
		if s := r.send(fixture.ICMPv6TooBig(router, vip, v6client(i), tcp, 1280)); s != owner {
			t.Fatalf("IPv6 flow %d on rs%d: its packet-too-big went to %d", i, owner+1, s)
		}
	}
	before := r.counters()["pass_icmp"]
	if s := r.send(fixture.ICMPv6TooBig(router, vip, v6client(999), tcp, 1280)); s != -1 {
		t.Fatal("ICMPv6 error about an unknown flow was forwarded")
	}
	if r.counters()["pass_icmp"] != before+1 {
		t.Fatal("pass_icmp not counted")
	}
}
