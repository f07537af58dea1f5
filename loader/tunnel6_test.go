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

var (
	tun6Src    = netip.MustParseAddr("2001:db8:101::8")
	tun6RS     = netip.MustParseAddr("2001:db8:98::2")
	tun6Router = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	tun6VIP    = netip.MustParseAddr("2001:db8:101::100")
)

// tun6Rig is a datapath with one IPv6 TUN service (tcp/80 on tun6VIP) whose
// only real server, tun6RS, sits behind the router tun6Router.
func tun6Rig(t *testing.T, mtu uint32) *rig {
	t.Helper()
	r := newRig(t, 4096)
	if err := r.dp.Maps.Settings.Tunnel(netip.MustParseAddr("192.168.101.8"), tun6Src, mtu); err != nil {
		t.Fatal(err)
	}
	svc := v6service(maps.RR)
	svc.Backends = []maps.BackendSpec{{Addr: netip.AddrPortFrom(tun6RS, 80), MAC: tun6Router, Weight: 1, Available: true, Tunnel: true}}
	r.apply(svc)
	return r
}

func tun6Frame(client netip.AddrPort, flags uint8, payload int) []byte {
	return fixture.Frame{Src: client, Dst: netip.AddrPortFrom(tun6VIP, 80), Proto: tcp, TCPFlags: flags, Payload: payload}.Build()
}

// outerLabel is the flow label of an IP6IP6 frame's outer header.
func outerLabel(out []byte) uint32 { return binary.BigEndian.Uint32(out[14:]) & 0xfffff }

// icmp6ChecksumOK verifies an ICMPv6 message's checksum over the IPv6
// pseudo-header (RFC 8200 8.1), independently of the datapath's code.
func icmp6ChecksumOK(src, dst []byte, msg []byte) bool {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src)
	add(dst)
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + 58
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

// IP6IP6: the frame leaves wrapped in an outer IPv6 header (next header 41,
// hop limit 64, the inner traffic class, a per-flow label) from the
// director's address to the real server's, towards the next hop's MAC; the
// inner packet is byte-identical.
func TestTunnel6Encapsulation(t *testing.T) {
	r := tun6Rig(t, 1500)
	in := tun6Frame(v6client(1), fixture.SYN, 100)
	in[14], in[15] = 0x6b, 0x80 // traffic class 0xb8 (EF), inner flow label 0
	act, out, err := r.dp.Run(in)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("tunnelled SYN: action %d, %v", act, err)
	}
	if len(out) != len(in)+40 {
		t.Fatalf("encapsulated frame is %d bytes, want %d", len(out), len(in)+40)
	}
	if !bytes.Equal(out[0:6], tun6Router) || !bytes.Equal(out[6:12], fixture.DirectorMAC) || binary.BigEndian.Uint16(out[12:]) != 0x86dd {
		t.Fatalf("outer Ethernet header %x", out[:14])
	}
	outer := out[14:54]
	if outer[0]>>4 != 6 {
		t.Fatalf("outer version %d", outer[0]>>4)
	}
	if tc := byte(binary.BigEndian.Uint16(outer[0:]) >> 4); tc != 0xb8 {
		t.Fatalf("outer traffic class %#x, want the inner 0xb8", tc)
	}
	if pl := binary.BigEndian.Uint16(outer[4:]); int(pl) != len(in)-14 {
		t.Fatalf("outer payload length %d, want the inner packet's %d", pl, len(in)-14)
	}
	if outer[6] != 41 || outer[7] != 64 {
		t.Fatalf("outer next header %d hop limit %d, want 41 and 64", outer[6], outer[7])
	}
	s6, d6 := tun6Src.As16(), tun6RS.As16()
	if !bytes.Equal(outer[8:24], s6[:]) || !bytes.Equal(outer[24:40], d6[:]) {
		t.Fatalf("outer addresses %x -> %x", outer[8:24], outer[24:40])
	}
	if !bytes.Equal(out[54:], in[14:]) {
		t.Fatal("inner packet changed")
	}
	label := outerLabel(out)
	if label == 0 {
		t.Fatal("outer flow label is 0 (unlabelled)")
	}
	c := r.counters()
	if c["tun_tx"] != 1 || c["drop_tun"] != 0 {
		t.Fatalf("counters tun_tx %d drop_tun %d", c["tun_tx"], c["drop_tun"])
	}

	// The label belongs to the flow: the same for its later packets (other
	// flags, size, traffic class), different between flows.
	for _, p := range [][]byte{tun6Frame(v6client(1), fixture.ACK, 0), tun6Frame(v6client(1), fixture.ACK|fixture.PSH, 900)} {
		act, o, err := r.dp.Run(p)
		if err != nil || act != fixture.XDPTx {
			t.Fatalf("later packet of the flow: action %d, %v", act, err)
		}
		if outerLabel(o) != label {
			t.Fatalf("flow label changed within a flow: %#x then %#x", label, outerLabel(o))
		}
	}
	labels := map[uint32]bool{}
	for i := range 64 {
		// Same client address, other ports: ECMP must still spread them.
		cl := netip.AddrPortFrom(v6client(7).Addr(), uint16(30000+i))
		act, o, err := r.dp.Run(tun6Frame(cl, fixture.SYN, 0))
		if err != nil || act != fixture.XDPTx {
			t.Fatalf("flow %d: action %d, %v", i, act, err)
		}
		labels[outerLabel(o)] = true
	}
	if len(labels) < 60 {
		t.Fatalf("64 flows of one client got only %d distinct flow labels", len(labels))
	}

	// Untagged frames only, as for IPIP: a VLAN-tagged one is dropped and counted.
	tagged := fixture.Frame{Src: v6client(2), Dst: netip.AddrPortFrom(tun6VIP, 80), Proto: tcp, TCPFlags: fixture.SYN, VLAN: 10}.Build()
	if act, _, err := r.dp.Run(tagged); err != nil || act != fixture.XDPDrop {
		t.Fatalf("VLAN-tagged frame: action %d, %v", act, err)
	}
	if r.counters()["drop_tun"] != 1 {
		t.Fatal("VLAN-tagged frame not counted in drop_tun")
	}
}

// Without an IPv6 tunnel source (the interface has no global IPv6
// address) IPv6 TUN packets are dropped and counted, never sent from ::.
func TestTunnel6WithoutSource(t *testing.T) {
	r := tun6Rig(t, 1500)
	if err := r.dp.Maps.Settings.Tunnel(netip.MustParseAddr("192.168.101.8"), netip.Addr{}, 1500); err != nil {
		t.Fatal(err)
	}
	if act, _, err := r.dp.Run(tun6Frame(v6client(1), fixture.SYN, 0)); err != nil || act != fixture.XDPDrop {
		t.Fatalf("no IPv6 source: action %d, %v", act, err)
	}
	if c := r.counters(); c["drop_tun"] != 1 || c["tun_tx"] != 0 {
		t.Fatalf("counters %v", c)
	}
}

// A packet that would exceed the tunnel MTU gets an ICMPv6 packet too big
// from the VIP back to the client: MTU = tunnel MTU - 40, as much of the
// packet as fits in 1280 bytes, a valid checksum.
func TestTunnel6PacketTooBig(t *testing.T) {
	for _, mtu := range []uint32{1500, 1400, 1320} {
		r := tun6Rig(t, mtu)
		// The largest inner packet that fits is tunnelled.
		fits := tun6Frame(v6client(1), fixture.ACK, int(mtu)-40-40-20)
		act, out, err := r.dp.Run(fits)
		if err != nil || act != fixture.XDPTx || len(out) != len(fits)+40 || out[14+6] != 41 {
			t.Fatalf("mtu %d: packet that fits exactly: action %d, %d bytes, %v", mtu, act, len(out), err)
		}
		// One byte more does not.
		client := v6client(2)
		big := tun6Frame(client, fixture.ACK, int(mtu)-40-40-20+1)
		act, out, err = r.dp.Run(big)
		if err != nil || act != fixture.XDPTx {
			t.Fatalf("mtu %d: too-big packet: action %d, %v", mtu, act, err)
		}
		if len(out) != 14+1280 {
			t.Fatalf("mtu %d: packet too big is %d bytes, want 14+1280", mtu, len(out))
		}
		if !bytes.Equal(out[0:6], fixture.ClientMAC) || !bytes.Equal(out[6:12], fixture.DirectorMAC) || binary.BigEndian.Uint16(out[12:]) != 0x86dd {
			t.Fatalf("mtu %d: reply Ethernet header %x, want the client's MAC from the director's", mtu, out[:14])
		}
		ip := out[14:54]
		vip, cl := tun6VIP.As16(), client.Addr().As16()
		if ip[0]>>4 != 6 || ip[6] != 58 || (ip[7] != 64 && ip[7] != 255) {
			t.Fatalf("mtu %d: reply IPv6 header %x", mtu, ip)
		}
		if !bytes.Equal(ip[8:24], vip[:]) || !bytes.Equal(ip[24:40], cl[:]) {
			t.Fatalf("mtu %d: reply goes %x -> %x, want VIP -> client", mtu, ip[8:24], ip[24:40])
		}
		msg := out[54:]
		if int(binary.BigEndian.Uint16(ip[4:])) != len(msg) || 40+len(msg) > 1280 {
			t.Fatalf("mtu %d: payload length %d, message %d bytes", mtu, binary.BigEndian.Uint16(ip[4:]), len(msg))
		}
		if msg[0] != 2 || msg[1] != 0 {
			t.Fatalf("mtu %d: ICMPv6 type %d code %d, want packet too big (2, 0)", mtu, msg[0], msg[1])
		}
		if got := binary.BigEndian.Uint32(msg[4:]); got != mtu-40 {
			t.Fatalf("mtu %d: reported MTU %d, want %d", mtu, got, mtu-40)
		}
		if !icmp6ChecksumOK(ip[8:24], ip[24:40], msg) {
			t.Fatalf("mtu %d: ICMPv6 checksum %#04x does not verify", mtu, binary.BigEndian.Uint16(msg[2:]))
		}
		if !bytes.Equal(msg[8:], big[14:14+1280-48]) {
			t.Fatalf("mtu %d: the quote is not the start of the offending packet", mtu)
		}
		if c := r.counters(); c["tun_frag_needed"] != 1 || c["tun_tx"] != 1 {
			t.Fatalf("mtu %d: counters %v", mtu, c)
		}
	}
}

// No packet too big where RFC 4443 forbids one (a multicast or unspecified
// source, an ICMPv6 error) or where the MTU it would report is below IPv6's
// 1280: the packet is dropped and counted instead.
func TestTunnel6TooBigRefused(t *testing.T) {
	r := tun6Rig(t, 1500)
	for _, src := range []string{"ff02::1", "::"} {
		f := tun6Frame(netip.AddrPortFrom(netip.MustParseAddr(src), 4000), fixture.SYN, 1440)
		if act, _, err := r.dp.Run(f); err != nil || act != fixture.XDPDrop {
			t.Fatalf("too big from %s: action %d, %v", src, act, err)
		}
	}
	// An ICMPv6 error about a live flow goes to that flow's real server,
	// through the tunnel; one too big for it is dropped, not answered.
	client := v6client(3)
	if act, _, err := r.dp.Run(tun6Frame(client, fixture.SYN, 0)); err != nil || act != fixture.XDPTx {
		t.Fatalf("SYN: action %d, %v", act, err)
	}
	router := netip.MustParseAddr("2001:db8:99::1")
	icmp := fixture.ICMPv6TooBig(router, netip.AddrPortFrom(tun6VIP, 80), client, tcp, 1400)
	act, out, err := r.dp.Run(icmp)
	if err != nil || act != fixture.XDPTx || len(out) != len(icmp)+40 || out[14+6] != 41 || !bytes.Equal(out[54:], icmp[14:]) {
		t.Fatalf("ICMPv6 error about a live flow: action %d, %d bytes, %v", act, len(out), err)
	}
	huge := append([]byte(nil), icmp...)
	huge = append(huge, make([]byte, 1514-len(huge))...)
	binary.BigEndian.PutUint16(huge[14+4:], uint16(len(huge)-54))
	if act, _, err := r.dp.Run(huge); err != nil || act != fixture.XDPDrop {
		t.Fatalf("too-big ICMPv6 error: action %d, %v", act, err)
	}
	if c := r.counters(); c["drop_tun"] != 3 || c["tun_frag_needed"] != 0 {
		t.Fatalf("counters %v", c)
	}

	// A path MTU under 1320 cannot carry 1280-byte packets in the tunnel.
	small := tun6Rig(t, 1319)
	if act, _, err := small.dp.Run(tun6Frame(v6client(4), fixture.ACK, 1240)); err != nil || act != fixture.XDPDrop {
		t.Fatalf("mtu 1319: action %d, %v", act, err)
	}
	if c := small.counters(); c["drop_tun"] != 1 || c["tun_frag_needed"] != 0 {
		t.Fatalf("mtu 1319: counters %v", c)
	}
}

// The real server's tc program strips the outer header of IP6IP6 (and
// IPIP) frames the director sends, leaving the inner packet intact behind
// the frame's Ethernet header; anything else passes untouched.
func TestDecap(t *testing.T) {
	r := tun6Rig(t, 1500)
	if err := r.dp.Maps.Settings.Tunnel(netip.MustParseAddr("192.168.101.8"), tun6Src, 1500); err != nil {
		t.Fatal(err)
	}
	v4 := r.service(maps.RR)
	v4.Backends = []maps.BackendSpec{{Addr: netip.AddrPortFrom(netip.MustParseAddr("10.98.0.2"), 80), MAC: tun6Router, Weight: 1, Available: true, Tunnel: true}}
	v6 := v6service(maps.RR)
	v6.Backends = []maps.BackendSpec{{Addr: netip.AddrPortFrom(tun6RS, 80), MAC: tun6Router, Weight: 1, Available: true, Tunnel: true}}
	r.apply(v4, v6)

	const tcOK = 0
	for _, in := range [][]byte{
		tun6Frame(v6client(1), fixture.SYN, 100),
		fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build(),
	} {
		act, wrapped, err := r.dp.Run(in)
		if err != nil || act != fixture.XDPTx || len(wrapped) <= len(in) {
			t.Fatalf("encapsulate: action %d, %v", act, err)
		}
		verdict, out, err := r.dp.RunDecap(wrapped)
		if err != nil || verdict != tcOK {
			t.Fatalf("decap: verdict %d, %v", verdict, err)
		}
		if len(out) != len(in) || !bytes.Equal(out[:14], wrapped[:14]) || !bytes.Equal(out[14:], in[14:]) {
			t.Fatalf("decapsulated frame (%d bytes) is not the tunnel's Ethernet header and the inner packet (%d bytes)", len(out), len(in))
		}
	}

	// Not a tunnel: plain IPv6 and IPv4, an outer IPv6 header whose payload
	// is cut short or not IPv6, other protocols.
	plain6 := tun6Frame(v6client(1), fixture.SYN, 100)
	cut := append([]byte(nil), plain6[:14+40+30]...)
	cut[14+6] = 41
	binary.BigEndian.PutUint16(cut[14+4:], 30)
	notV6 := append([]byte(nil), plain6...)
	notV6[14+6] = 41 // claims IPv6 inside, but the next bytes are TCP
	ipip6 := fixture.Frame{Src: v6client(1), Dst: netip.AddrPortFrom(tun6VIP, 0), Proto: 4, Payload: 60}.Build()
	for name, in := range map[string][]byte{
		"ipv6 tcp":            plain6,
		"ipv4 tcp":            fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, 80), Proto: tcp, TCPFlags: fixture.SYN}.Build(),
		"ipv6 udp":            fixture.Frame{Src: v6client(1), Dst: netip.AddrPortFrom(tun6VIP, 53), Proto: 17, Payload: 20}.Build(),
		"ip6ip6 inner cut":    cut,
		"next header 41, tcp": notV6,
		"ipv4 in ipv6":        ipip6,
	} {
		verdict, out, err := r.dp.RunDecap(in)
		if err != nil || verdict != tcOK {
			t.Fatalf("%s: verdict %d, %v", name, verdict, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("%s: frame changed by the decap program", name)
		}
	}
}

// GRE and GUE over IPv6 (IPVS --tun-type gre / gue for IPv6 services): the
// outer IPv6 header (per-flow label, hop limit 64) says GRE (47, a 4-byte
// header of EtherType IPv6) or UDP (17) to the GUE port from a source port
// hashed from the flow, with a zero checksum (RFC 6935, IPVS without
// --tun-csum) and a GUE header carrying IPv6 (41); the inner packet
// follows intact, and the real server's decap program strips it again.
// The packet-too-big accounts for the 44 or 52 bytes.
func TestTunnel6GREAndGUE(t *testing.T) {
	for _, tc := range []struct {
		name   string
		be     maps.BackendSpec
		o      loader.DecapOptions
		hlen   int
		next   byte
		header func(t *testing.T, h []byte)
	}{
		{"gre", maps.BackendSpec{GRE: true}, loader.DecapOptions{GRE: true}, 44, 47, func(t *testing.T, h []byte) {
			if !bytes.Equal(h, []byte{0, 0, 0x86, 0xdd}) {
				t.Fatalf("GRE header %x, want no flags and EtherType IPv6", h)
			}
		}},
		{"gue", maps.BackendSpec{GUEPort: 6080}, loader.DecapOptions{GUEPort: 6080}, 52, 17, func(t *testing.T, h []byte) {
			if sport := binary.BigEndian.Uint16(h); sport < 49152 || binary.BigEndian.Uint16(h[2:]) != 6080 ||
				binary.BigEndian.Uint16(h[4:]) != 12+40+20+100 || binary.BigEndian.Uint16(h[6:]) != 0 || !bytes.Equal(h[8:12], []byte{0, 41, 0, 0}) {
				t.Fatalf("UDP %x and GUE %x: want an ephemeral source, port 6080, length, zero checksum, GUE carrying IPv6", h[:8], h[8:12])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tun6Rig(t, 1500)
			be := tc.be
			be.Addr, be.MAC, be.Weight, be.Available, be.Tunnel = netip.AddrPortFrom(tun6RS, 80), tun6Router, 1, true, true
			svc := v6service(maps.RR)
			svc.Backends = []maps.BackendSpec{be}
			r.apply(svc)
			in := tun6Frame(v6client(1), fixture.SYN, 100)
			act, out, err := r.dp.Run(in)
			if err != nil || act != fixture.XDPTx || len(out) != len(in)+tc.hlen {
				t.Fatalf("tunnelled SYN: action %d, %d bytes (want %d), %v", act, len(out), len(in)+tc.hlen, err)
			}
			outer := out[14:54]
			if outer[0]>>4 != 6 || outer[6] != tc.next || outer[7] != 64 || !bytes.Equal(outer[8:24], tun6Src.AsSlice()) || !bytes.Equal(outer[24:40], tun6RS.AsSlice()) ||
				int(binary.BigEndian.Uint16(outer[4:])) != len(in)-14+tc.hlen-40 || outerLabel(out) == 0 {
				t.Fatalf("outer IPv6 header %x", outer)
			}
			tc.header(t, out[54:14+tc.hlen])
			if !bytes.Equal(out[14+tc.hlen:], in[14:]) {
				t.Fatal("inner packet changed")
			}
			verdict, dec, err := loader.RunDecapAs(tc.o, out)
			if err != nil || verdict != 0 || !bytes.Equal(dec[14:], in[14:]) || len(dec) != len(in) {
				t.Fatalf("decap: verdict %d, %d bytes, %v", verdict, len(dec), err)
			}
			if _, dec, _ := loader.RunDecapAs(loader.DecapOptions{}, out); !bytes.Equal(dec, out) {
				t.Fatal("decap without the option changed the frame")
			}

			// A packet that would fit IP6IP6 (1460 + 40) but not this.
			big := tun6Frame(v6client(2), fixture.ACK, 1460-40-20)
			act, out, err = r.dp.Run(big)
			if err != nil || act != fixture.XDPTx || out[14+6] != 58 || out[54] != 2 || int(binary.BigEndian.Uint32(out[58:])) != 1500-tc.hlen {
				t.Fatalf("too big: action %d, %v, next header %d, ICMPv6 %x; want a packet too big of MTU %d", act, err, out[14+6], out[54:62], 1500-tc.hlen)
			}
		})
	}
}
