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
func TestTunnelEncapsulation(t *testing.T) {
	r := newRig(t, 4096)
	src := netip.MustParseAddr("192.168.101.8")
	if err := r.dp.Maps.Settings.Tunnel(src, netip.Addr{}, 1500); err != nil {
		t.Fatal(err)
	}
	router := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	rs := netip.MustParseAddr("10.98.0.2")
	svc := r.service(maps.RR)
	svc.Backends = []maps.BackendSpec{{Addr: netip.AddrPortFrom(rs, 80), MAC: router, Weight: 1, Available: true, Tunnel: true}}
	r.apply(svc)

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

// tunnel_type gre (IPVS --tun-type gre): the outer IPv4 header says GRE
// (47) and a 4-byte GRE header without options (EtherType IPv4) sits
// before the intact inner packet; the path MTU check counts the 24 bytes,
// so a packet that would still fit in IPIP gets a frag-needed of 1476.
func TestTunnelGREEncapsulation(t *testing.T) {
	r := newRig(t, 4096)
	src := netip.MustParseAddr("192.168.101.8")
	if err := r.dp.Maps.Settings.Tunnel(src, netip.Addr{}, 1500); err != nil {
		t.Fatal(err)
	}
	router := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	rs := netip.MustParseAddr("10.98.0.2")
	svc := r.service(maps.RR)
	svc.Backends = []maps.BackendSpec{{Addr: netip.AddrPortFrom(rs, 80), MAC: router, Weight: 1, Available: true, Tunnel: true, GRE: true}}
	r.apply(svc)

	vip := netip.AddrPortFrom(r.top.VIP, r.top.Port)
	in := fixture.Frame{Src: fixture.Client(1), Dst: vip, Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build()
	act, out, err := r.dp.Run(in)
	if err != nil || act != fixture.XDPTx || len(out) != len(in)+24 {
		t.Fatalf("GRE-tunnelled SYN: action %d, %d bytes (want %d), %v", act, len(out), len(in)+24, err)
	}
	if !bytes.Equal(out[0:6], router) || !bytes.Equal(out[6:12], fixture.DirectorMAC) || binary.BigEndian.Uint16(out[12:]) != 0x0800 {
		t.Fatalf("outer Ethernet header %x", out[:14])
	}
	outer := out[14:34]
	s4, r4 := src.As4(), rs.As4()
	if outer[0] != 0x45 || outer[9] != 47 || !bytes.Equal(outer[12:16], s4[:]) || !bytes.Equal(outer[16:20], r4[:]) {
		t.Fatalf("outer IPv4 header %x", outer)
	}
	if int(binary.BigEndian.Uint16(outer[2:])) != len(in)-14+24 || !ipChecksumOK(outer) {
		t.Fatalf("outer length %d or checksum wrong", binary.BigEndian.Uint16(outer[2:]))
	}
	if !bytes.Equal(out[34:38], []byte{0, 0, 0x08, 0x00}) {
		t.Fatalf("GRE header %x, want no flags and EtherType IPv4", out[34:38])
	}
	if !bytes.Equal(out[38:], in[14:]) {
		t.Fatal("inner packet changed")
	}
	if r.counters()["tun_tx"] != 1 {
		t.Fatal("tun_tx not counted")
	}

	// 1478 bytes of IPv4 with DF: 1498 in IPIP would fit, 1502 in GRE not.
	big := fixture.Frame{Src: fixture.Client(2), Dst: vip, Proto: tcp, TCPFlags: fixture.ACK, Payload: 1438}.Build()
	binary.BigEndian.PutUint16(big[14+6:], 0x4000) // DF
	act, out, err = r.dp.Run(big)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("too-big DF packet: action %d, %v", act, err)
	}
	if icmp := out[34:]; out[14+9] != 1 || icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[6:]) != 1476 {
		t.Fatalf("want ICMP frag-needed with MTU 1476, got protocol %d, ICMP %x", out[14+9], icmp[:8])
	}
}

// With --tun-type gre the real server's decap program strips the GRE the
// director sends (as it strips IPIP); without it, or for GRE with options
// or another payload, the frame passes untouched to the kernel.
func TestDecapGRE(t *testing.T) {
	r := newRig(t, 4096)
	if err := r.dp.Maps.Settings.Tunnel(netip.MustParseAddr("192.168.101.8"), netip.Addr{}, 1500); err != nil {
		t.Fatal(err)
	}
	svc := r.service(maps.RR)
	svc.Backends = []maps.BackendSpec{{Addr: netip.AddrPortFrom(netip.MustParseAddr("10.98.0.2"), 80), MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Weight: 1, Available: true, Tunnel: true, GRE: true}}
	r.apply(svc)
	in := fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build()
	act, wrapped, err := r.dp.Run(in)
	if err != nil || act != fixture.XDPTx {
		t.Fatalf("encapsulate: action %d, %v", act, err)
	}
	const tcOK = 0
	verdict, out, err := loader.RunDecapAs(true, wrapped)
	if err != nil || verdict != tcOK || len(out) != len(in) || !bytes.Equal(out[:14], wrapped[:14]) || !bytes.Equal(out[14:], in[14:]) {
		t.Fatalf("decap of GRE: verdict %d, %d bytes, %v; want the inner packet behind the frame's Ethernet header", verdict, len(out), err)
	}
	// IPIP is still stripped with GRE on.
	svc.Backends[0].GRE = false
	r.apply(svc)
	_, ipip, _ := r.dp.Run(fixture.Frame{Src: fixture.Client(2), Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN, Payload: 100}.Build())
	if _, out, err := loader.RunDecapAs(true, ipip); err != nil || len(out) != len(ipip)-20 {
		t.Fatalf("decap of IPIP with GRE on: %d bytes from %d, %v", len(out), len(ipip), err)
	}

	withKey := append([]byte(nil), wrapped...)
	withKey[34] = 0x20 // K bit: a key follows, not the director's form
	ipv6Inside := append([]byte(nil), wrapped...)
	binary.BigEndian.PutUint16(ipv6Inside[36:], 0x86dd)
	for name, c := range map[string]struct {
		gre   bool
		frame []byte
	}{
		"gre off":        {false, wrapped},
		"gre with a key": {true, withKey},
		"gre of ipv6":    {true, ipv6Inside},
	} {
		verdict, out, err := loader.RunDecapAs(c.gre, c.frame)
		if err != nil || verdict != tcOK || !bytes.Equal(out, c.frame) {
			t.Errorf("%s: verdict %d, %v, frame changed %v", name, verdict, err, !bytes.Equal(out, c.frame))
		}
	}
}
