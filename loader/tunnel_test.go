package loader_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
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
