package loader_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

func ipChecksumOK(h []byte) bool {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

// TUN (IPIP): the frame leaves wrapped in an outer IPv4 header from the
// director's address to the real server's, towards the next hop's MAC; the
// inner packet is untouched. Too big with DF: an ICMP frag-needed goes back
// to the client instead (path MTU minus the tunnel's 20 bytes).
// The IPv4 tunnel tests' director source, next hop and real server.
var (
	tunSrc    = netip.MustParseAddr("192.168.101.8")
	tunRouter = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	tunRS     = netip.MustParseAddr("10.98.0.2")
)

// tunnelRig is a rig whose IPv4 tunnels go from tunSrc on a 1500-byte link.
func tunnelRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t, 4096)
	if err := r.dp.Maps.Settings.Tunnel(tunSrc, netip.Addr{}, 1500); err != nil {
		t.Fatal(err)
	}
	return r
}

// tunnelTo makes the rig's service tunnel to tunRS via tunRouter in be's
// form (be.GRE, be.GUEPort).
func (r *rig) tunnelTo(be maps.BackendSpec) {
	be.Addr, be.MAC, be.Weight, be.Available, be.Tunnel = netip.AddrPortFrom(tunRS, 80), tunRouter, 1, true, true
	svc := r.service(maps.RR)
	svc.Backends = []maps.BackendSpec{be}
	r.apply(svc)
}

func TestTunnelEncapsulation(t *testing.T) {
	r := tunnelRig(t)
	r.tunnelTo(maps.BackendSpec{})
	src, router, rs := tunSrc, tunRouter, tunRS

	vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
	in := fixture.Frame{Src: fixture.Client(1), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build()
	act, out, err := r.dp.Run(in)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("tunnelled SYN: action %d, %v", act, err)
	}
	if len(out) != len(in)+20 {
		t.Fatalf("encapsulated frame is %d bytes, want %d", len(out), len(in)+20)
	}
	if !bytes.Equal(out[0:6], router) || !bytes.Equal(out[6:12], fixture.DirectorMAC) || binary.BigEndian.Uint16(out[12:]) != 0x0800 {
		t.Fatalf("outer Ethernet header %x", out[:14])
	}
	outer := out[14:34]
	s4, r4 := src.As4(), rs.As4()
	if outer[0] != 0x45 || outer[9] != 4 || !bytes.Equal(outer[12:16], s4[:]) || !bytes.Equal(outer[16:20], r4[:]) {
		t.Fatalf("outer IPv4 header %x", outer)
	}
	if int(binary.BigEndian.Uint16(outer[2:])) != len(in)-14+20 || !ipChecksumOK(outer) {
		t.Fatalf("outer length %d or checksum wrong", binary.BigEndian.Uint16(outer[2:]))
	}
	if !bytes.Equal(out[34:], in[14:]) {
		t.Fatal("inner packet changed")
	}
	if r.counters()["tun_tx"] != 1 {
		t.Fatal("tun_tx not counted")
	}

	// 1500-byte packet with DF: no room for 20 more bytes.
	big := fixture.Frame{Src: fixture.Client(2), Dst: vip, Proto: tcp, TCPFlags: fixture.ACK, Payload: 1460}.Build()
	binary.BigEndian.PutUint16(big[14+6:], 0x4000) // DF
	act, out, err = r.dp.Run(big)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("too-big DF packet: action %d, %v", act, err)
	}
	ip := out[14:34]
	c4, v4 := fixture.Client(2).Addr().As4(), r.top.VIP.As4()
	if ip[9] != 1 || !bytes.Equal(ip[12:16], v4[:]) || !bytes.Equal(ip[16:20], c4[:]) || !ipChecksumOK(ip) {
		t.Fatalf("ICMP reply IP header %x", ip)
	}
	if !bytes.Equal(out[0:6], fixture.ClientMAC) {
		t.Fatalf("ICMP reply goes to %x, want the sender %x", out[0:6], fixture.ClientMAC)
	}
	icmp := out[34:]
	if icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[6:]) != 1480 || !ipChecksumOK(icmp) {
		t.Fatalf("ICMP frag-needed %x", icmp[:8])
	}
	if !bytes.Equal(icmp[8:8+20], big[14:34]) {
		t.Fatal("ICMP does not quote the offending header")
	}
	if r.counters()["tun_frag_needed"] != 1 {
		t.Fatal("tun_frag_needed not counted")
	}
	// Without DF it cannot be fragmented here: dropped and counted.
	binary.BigEndian.PutUint16(big[14+6:], 0)
	if s := r.send(big); s != -1 {
		t.Fatal("too-big packet without DF forwarded")
	}
	if r.counters()["drop_tun"] != 1 {
		t.Fatal("drop_tun not counted")
	}
}

// tunnel_type gre and gue (IPVS --tun-type gre / gue): the outer IPv4
// header says GRE (47) with a 4-byte GRE header without options (EtherType
// IPv4), or UDP (17) to the GUE port from a source port hashed from the
// inner flow (ephemeral range, one per flow), no UDP checksum, and a GUE
// header of variant 0 carrying IPIP; the inner packet follows intact. The
// path MTU check counts the 24 or 32 bytes: a DF packet that would still
// fit in IPIP gets a frag-needed of 1476 or 1468.
func TestTunnelIPv4Forms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gre    bool
		gue    uint16
		hlen   int
		proto  byte
		header func(t *testing.T, h []byte) // the bytes between the outer IPv4 header and the inner packet
	}{
		{"gre", true, 0, 24, 47, func(t *testing.T, h []byte) {
			if !bytes.Equal(h, []byte{0, 0, 0x08, 0x00}) {
				t.Fatalf("GRE header %x, want no flags and EtherType IPv4", h)
			}
		}},
		{"gue", false, 6080, 32, 17, func(t *testing.T, h []byte) {
			sport, dport := binary.BigEndian.Uint16(h[0:]), binary.BigEndian.Uint16(h[2:])
			if sport < 49152 || dport != 6080 || binary.BigEndian.Uint16(h[6:]) != 0 || !bytes.Equal(h[8:12], []byte{0, 4, 0, 0}) {
				t.Fatalf("UDP %x (source port %d, port %d) and GUE %x: want an ephemeral source, 6080, no checksum, variant 0 with IPIP", h[:8], sport, dport, h[8:12])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tunnelRig(t)
			r.tunnelTo(maps.BackendSpec{GRE: tc.gre, GUEPort: tc.gue})
			src, router, rs := tunSrc, tunRouter, tunRS

			vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
			wrap := func(client int) []byte {
				t.Helper()
				in := fixture.Frame{Src: fixture.Client(client), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build()
				act, out, err := r.dp.Run(in)
				if err != nil || act != fixture.XDPTx || len(out) != len(in)+tc.hlen {
					t.Fatalf("tunnelled SYN: action %d, %d bytes (want %d), %v", act, len(out), len(in)+tc.hlen, err)
				}
				if !bytes.Equal(out[0:6], router) || !bytes.Equal(out[6:12], fixture.DirectorMAC) || binary.BigEndian.Uint16(out[12:]) != 0x0800 {
					t.Fatalf("outer Ethernet header %x", out[:14])
				}
				outer := out[14:34]
				s4, r4 := src.As4(), rs.As4()
				if outer[0] != 0x45 || outer[9] != tc.proto || !bytes.Equal(outer[12:16], s4[:]) || !bytes.Equal(outer[16:20], r4[:]) {
					t.Fatalf("outer IPv4 header %x", outer)
				}
				if int(binary.BigEndian.Uint16(outer[2:])) != len(in)-14+tc.hlen || !ipChecksumOK(outer) {
					t.Fatalf("outer length %d or checksum wrong", binary.BigEndian.Uint16(outer[2:]))
				}
				tc.header(t, out[34:14+tc.hlen])
				if !bytes.Equal(out[14+tc.hlen:], in[14:]) {
					t.Fatal("inner packet changed")
				}
				return out
			}
			a, again := wrap(1), wrap(1)
			if !bytes.Equal(a, again) {
				t.Error("two packets of one flow were wrapped differently")
			}
			if tc.gue != 0 {
				sports := map[uint16]bool{}
				for c := range 16 {
					sports[binary.BigEndian.Uint16(wrap(10 + c)[34:])] = true
				}
				if len(sports) < 8 {
					t.Errorf("16 flows got %d GUE source ports: the flows are not spread", len(sports))
				}
			}
			if r.counters()["tun_tx"] == 0 {
				t.Fatal("tun_tx not counted")
			}

			// 1480 bytes of IPv4 with DF: 1500 in IPIP would fit, not in these.
			big := fixture.Frame{Src: fixture.Client(2), Dst: vip, Proto: tcp, TCPFlags: fixture.ACK, Payload: 1440}.Build()
			binary.BigEndian.PutUint16(big[14+6:], 0x4000) // DF
			act, out, err := r.dp.Run(big)
			if err != nil || act != fixture.XDPTx {
				t.Fatalf("too-big DF packet: action %d, %v", act, err)
			}
			if icmp := out[34:]; out[14+9] != 1 || icmp[0] != 3 || icmp[1] != 4 || int(binary.BigEndian.Uint16(icmp[6:])) != 1500-tc.hlen {
				t.Fatalf("want ICMP frag-needed with MTU %d, got protocol %d, ICMP %x", 1500-tc.hlen, out[14+9], icmp[:8])
			}
		})
	}
}

// With --tun-type gre (gue --tun-port) the real server's decap program
// strips the GRE (GUE) the director sends, as it strips IPIP; without it,
// for GUE to another port, or for a form the director does not send (GRE
// with a key, GRE of IPv6, GUE with the control bit), the frame passes
// untouched to the kernel.
func TestDecapGREAndGUE(t *testing.T) {
	r := tunnelRig(t)
	wrap := func(be maps.BackendSpec, client int) (in, out []byte) {
		t.Helper()
		r.tunnelTo(be)
		in = fixture.Frame{Src: fixture.Client(client), Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build()
		act, out, err := r.dp.Run(in)
		if err != nil || act != fixture.XDPTx {
			t.Fatalf("encapsulate: action %d, %v", act, err)
		}
		return in, out
	}
	const tcOK = 0
	greIn, gre := wrap(maps.BackendSpec{GRE: true}, 1)
	gueIn, gue := wrap(maps.BackendSpec{GUEPort: 6080}, 2)
	ipipIn, ipip := wrap(maps.BackendSpec{}, 3)
	both := loader.DecapOptions{GRE: true, GUEPort: 6080}
	for name, c := range map[string]struct {
		o         loader.DecapOptions
		in, frame []byte
	}{
		"gre":          {both, greIn, gre},
		"gue":          {both, gueIn, gue},
		"ipip, gre on": {both, ipipIn, ipip},
		"ipip":         {loader.DecapOptions{}, ipipIn, ipip},
	} {
		verdict, out, err := loader.RunDecapAs(c.o, c.frame)
		if err != nil || verdict != tcOK || len(out) != len(c.in) || !bytes.Equal(out[:14], c.frame[:14]) || !bytes.Equal(out[14:], c.in[14:]) {
			t.Errorf("%s: verdict %d, %d bytes, %v; want the inner packet behind the frame's Ethernet header", name, verdict, len(out), err)
		}
	}

	withKey := append([]byte(nil), gre...)
	withKey[34] = 0x20 // K bit: a key follows
	ipv6Inside := append([]byte(nil), gre...)
	binary.BigEndian.PutUint16(ipv6Inside[36:], 0x86dd)
	control := append([]byte(nil), gue...)
	control[42] = 0x20 // GUE's C bit: a control message
	for name, c := range map[string]struct {
		o     loader.DecapOptions
		frame []byte
	}{
		"gre off":         {loader.DecapOptions{GUEPort: 6080}, gre},
		"gue off":         {loader.DecapOptions{GRE: true}, gue},
		"gue, other port": {loader.DecapOptions{GUEPort: 6081}, gue},
		"gre with a key":  {both, withKey},
		"gre of ipv6":     {both, ipv6Inside},
		"gue control":     {both, control},
	} {
		verdict, out, err := loader.RunDecapAs(c.o, c.frame)
		if err != nil || verdict != tcOK || !bytes.Equal(out, c.frame) {
			t.Errorf("%s: verdict %d, %v, frame changed %v", name, verdict, err, !bytes.Equal(out, c.frame))
		}
	}
}

// The benchmark of tunnelled packets (xlb bench's established-tcp-tun-*
// rows) is only a measure of encapsulation if every repetition is
// encapsulated: BPF_PROG_TEST_RUN runs each on the frame the previous one
// grew, so without BenchRestored's reset the second one already sees the
// outer packet (to the real server, not the VIP) and passes it.
func TestBenchRestoredEncapsulatesEveryRepetition(t *testing.T) {
	const repeat = 1000
	for _, tc := range []struct {
		name string
		be   maps.BackendSpec
	}{{"ipip", maps.BackendSpec{}}, {"gre", maps.BackendSpec{GRE: true}}, {"gue", maps.BackendSpec{GUEPort: 6080}}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tunnelRig(t)
			r.tunnelTo(tc.be)
			vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
			f := fixture.Frame{Src: fixture.Client(1), Dst: vip, Proto: tcp, TCPFlags: fixture.ACK, Payload: 64}.Build()
			if act, _, err := r.dp.Run(f); err != nil || act != fixture.XDPTx {
				t.Fatalf("the flow's first packet: action %d, %v", act, err)
			}
			before := r.counters()
			if _, err := r.dp.Bench(f, repeat); err != nil {
				t.Fatal(err)
			}
			bare := r.counters()
			if got := bare["tun_tx"] - before["tun_tx"]; got >= repeat {
				t.Fatalf("without the reset %d of %d repetitions were encapsulated: the test no longer shows the reset is needed", got, repeat)
			}
			if _, err := r.dp.BenchRestored(f, repeat); err != nil {
				t.Fatal(err)
			}
			after := r.counters()
			if got := after["tun_tx"] - bare["tun_tx"]; got != repeat {
				t.Fatalf("BenchRestored: %d of %d repetitions encapsulated (drop_tun %d)", got, repeat, after["drop_tun"]-bare["drop_tun"])
			}
		})
	}
}
