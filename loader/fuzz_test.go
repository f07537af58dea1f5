package loader_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

// FuzzDatapath feeds arbitrary frames to the XDP program. Whatever the
// input, the program must not fail, and a frame it forwards must really be
// a complete IPv4 TCP/UDP packet to the configured VIP:port (or a first
// fragment of one, or a later fragment to the VIP, or an ICMP error about a packet from it) with only its MAC
// addresses changed — or, for the TUN service, that packet wrapped whole in
// an outer IPv4 header, or an ICMP frag-needed back to its sender; or a
// complete IPv6 TCP packet to the IPv6 service; or, for the IPv6 TUN
// service, that packet wrapped whole in an outer IPv6 header, or an ICMPv6
// packet too big back to its sender. Run longer with:
//
//	go test -run x -fuzz FuzzDatapath -fuzztime 10m ./loader/
func FuzzDatapath(f *testing.F) {
	r := newRig(f, 4096)
	dr := r.service(maps.RR, 1, 1)
	tun := r.service(maps.RR, 1)
	tun.Key.Port = tunPort
	tun.Backends[0].Addr = netip.AddrPortFrom(tun.Backends[0].Addr.Addr(), tunPort)
	tun.Backends[0].Tunnel = true
	tun6 := v6service(maps.RR)
	tun6.Key.Port = tunPort
	tun6.Backends = tun6.Backends[:1]
	tun6.Backends[0].Addr = netip.AddrPortFrom(tun6RS, tunPort)
	tun6.Backends[0].Tunnel = true
	r.apply(dr, tun, v6service(maps.SH), tun6)
	if err := r.dp.Maps.Settings.Tunnel(netip.MustParseAddr("192.168.101.8"), tun6Src, 1500); err != nil {
		f.Fatal(err)
	}
	for _, c := range fixture.Cases(r.top) {
		f.Add(c.Frame)
	}
	vip := r.top.VIP.As4()
	f.Add(fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, tunPort), Proto: tcp, TCPFlags: fixture.SYN}.Build())
	f.Add(fixture.Frame{Src: v6client(1), Dst: netip.MustParseAddrPort("[2001:db8:101::100]:80"), Proto: tcp, TCPFlags: fixture.SYN, HopByHop: 1}.Build())
	f.Add(fixture.Frame{Src: v6client(1), Dst: netip.AddrPortFrom(tun6VIP, tunPort), Proto: tcp, TCPFlags: fixture.SYN, HopByHop: 1}.Build())
	f.Add(fixture.Frame{Src: v6client(2), Dst: netip.AddrPortFrom(tun6VIP, tunPort), Proto: tcp, TCPFlags: fixture.ACK, Payload: 1420}.Build()) // too big: packet too big
	// Fragments of one datagram, to the DR and the TUN service: the later
	// ones follow the first (the table persists across inputs).
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(r.top.VIP, r.top.Port), netip.AddrPortFrom(r.top.VIP, tunPort)} {
		f.Add(fixture.Frame{Src: fixture.Client(3), Dst: dst, Proto: tcp, TCPFlags: fixture.ACK, Payload: 200, FragOff: 0x2000, FragID: 42}.Build())
		f.Add(fixture.Frame{Src: fixture.Client(3), Dst: dst, Proto: tcp, Payload: 100, FragOff: 28, FragID: 42}.Build())
	}
	f.Add(fixture.Frame{Src: v6client(3), Dst: netip.MustParseAddrPort("[2001:db8:101::100]:80"), Proto: tcp, TCPFlags: fixture.ACK, Payload: 200, FragOff: 0x2000, FragID: 42}.Build())
	f.Add(fixture.Frame{Src: v6client(3), Dst: netip.MustParseAddrPort("[2001:db8:101::100]:80"), Proto: tcp, Payload: 100, FragOff: 28, FragID: 42}.Build())
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 1500 {
			return // the kernel refuses test runs outside Ethernet sizes
		}
		act, out, err := r.dp.Run(frame)
		if err != nil {
			t.Fatalf("test run failed: %v", err)
		}
		if act != fixture.XDPTx {
			if act == fixture.XDPPass && !bytes.Equal(out[:len(frame)], frame) {
				t.Fatalf("passed frame was modified")
			}
			return
		}
		if binary.BigEndian.Uint16(frame[12:]) == 0x86dd {
			switch {
			case len(out) == len(frame) && bytes.Equal(out[12:], frame[12:]):
				checkIPv6(t, frame, out)
			case len(out) == len(frame)+40:
				checkTunnelled6(t, frame, out)
			default:
				checkPacketTooBig(t, frame, out)
			}
			return
		}
		if len(out) == len(frame)+20 {
			checkTunnelled(t, frame, out, vip)
			return
		}
		if len(out) != len(frame) {
			checkFragNeeded(t, frame, out, vip)
			return
		}
		if !bytes.Equal(out[12:len(frame)], frame[12:]) {
			t.Fatalf("forwarded frame changed beyond its MAC addresses")
		}
		l3 := 14
		et := binary.BigEndian.Uint16(frame[12:])
		if et == 0x8100 || et == 0x88a8 {
			l3 += 4
			et = binary.BigEndian.Uint16(frame[16:])
		}
		if et != 0x0800 || len(frame) < l3+20 {
			t.Fatalf("forwarded a frame without a complete IPv4 header")
		}
		ip := frame[l3:]
		ihl := int(ip[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if ip[0]>>4 != 4 || ihl < 20 || tot < ihl || l3+tot > len(frame) {
			t.Fatalf("forwarded a frame with an invalid IPv4 header")
		}
		l4 := l3 + ihl
		if ip[9] == 1 {
			// Only ICMP errors about a packet sent from the VIP:port.
			if len(frame) < l4+8+20+4 || (frame[l4] != 3 && frame[l4] != 11 && frame[l4] != 12) {
				t.Fatalf("forwarded an ICMP message that is not a complete error")
			}
			inner := frame[l4+8:]
			if !bytes.Equal(inner[12:16], vip[:]) {
				t.Fatalf("forwarded an ICMP error about a packet not from the VIP")
			}
			return
		}
		if !bytes.Equal(ip[16:20], vip[:]) || (ip[9] != 6 && ip[9] != 17) {
			t.Fatalf("forwarded a packet not addressed to the VIP's TCP/UDP service")
		}
		if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
			// A later fragment: no ports to check. It follows its first
			// fragment (which was checked) or is placed by its 3-tuple.
			return
		}
		need := 8
		if ip[9] == 6 {
			need = 20
		}
		if len(frame) < l4+need {
			t.Fatalf("forwarded a frame shorter than its transport header")
		}
		if port := binary.BigEndian.Uint16(frame[l4+2:]); port != r.top.Port {
			t.Fatalf("forwarded a packet to port %d", port)
		}
	})
}

const tunPort = 8080

// checkTunnelled: the whole input IP packet follows an outer IPIP header.
func checkTunnelled(t *testing.T, in, out []byte, vip [4]byte) {
	if binary.BigEndian.Uint16(in[12:]) != 0x0800 || out[14+9] != 4 || !ipChecksumOK(out[14:34]) {
		t.Fatalf("tunnelled frame has a bad outer header")
	}
	if !bytes.Equal(out[34:], in[14:]) {
		t.Fatalf("tunnelled frame does not carry the input packet whole")
	}
	ip := in[14:]
	if len(ip) < 20+8 || !bytes.Equal(ip[16:20], vip[:]) {
		t.Fatalf("tunnelled a packet not for the VIP")
	}
	later := binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 // ports in its first fragment
	if !later && (len(ip) < 20+20 || binary.BigEndian.Uint16(ip[20+2:]) != tunPort) {
		t.Fatalf("tunnelled a packet not for the TUN service")
	}
}

// checkFragNeeded: an ICMP frag-needed from the VIP to the sender, only for
// a DF packet too big for the tunnel.
func checkFragNeeded(t *testing.T, in, out []byte, vip [4]byte) {
	ip := in[14:]
	if len(ip) < 28 || binary.BigEndian.Uint16(ip[2:]) <= 1480 || binary.BigEndian.Uint16(ip[6:])&0x4000 == 0 {
		t.Fatalf("answered ICMP frag-needed for a packet that fits or may be fragmented")
	}
	reply := out[14:]
	if len(reply) < 56 || reply[9] != 1 || reply[20] != 3 || reply[21] != 4 || !bytes.Equal(reply[12:16], vip[:]) || !ipChecksumOK(reply[:20]) || !ipChecksumOK(reply[20:56]) {
		t.Fatalf("malformed ICMP frag-needed reply")
	}
}

// checkIPv6: a complete TCP packet to the IPv6 service, only MACs changed.
func checkIPv6(t *testing.T, in, out []byte) {
	if len(out) != len(in) || !bytes.Equal(out[12:], in[12:]) {
		t.Fatalf("IPv6 frame changed beyond its MAC addresses")
	}
	if len(in) < 14+40+20 || in[14]>>4 != 6 || int(binary.BigEndian.Uint16(in[18:]))+54 > len(in) {
		t.Fatalf("forwarded an incomplete IPv6 packet")
	}
	if !bytes.Equal(in[38:54], netip.MustParseAddr("2001:db8:101::100").AsSlice()) {
		t.Fatalf("forwarded an IPv6 packet not for the VIP")
	}
}

// checkTunnelled6: the whole input IPv6 packet, complete and for the IPv6
// TUN service (or an ICMPv6 error about it), follows an outer IPv6 header.
func checkTunnelled6(t *testing.T, in, out []byte) {
	outer := out[14:54]
	s6, d6 := tun6Src.As16(), tun6RS.As16()
	if binary.BigEndian.Uint16(out[12:]) != 0x86dd || outer[0]>>4 != 6 || outer[6] != 41 || outer[7] != 64 ||
		!bytes.Equal(outer[8:24], s6[:]) || !bytes.Equal(outer[24:40], d6[:]) || binary.BigEndian.Uint32(outer[0:])&0xfffff == 0 {
		t.Fatalf("IP6IP6 frame has a bad outer header %x", outer)
	}
	if !bytes.Equal(out[54:], in[14:]) {
		t.Fatalf("IP6IP6 frame does not carry the input packet whole")
	}
	ip := in[14:]
	if len(ip) < 40+8 || ip[0]>>4 != 6 || 40+int(binary.BigEndian.Uint16(ip[4:])) > len(ip) {
		t.Fatalf("tunnelled an incomplete IPv6 packet")
	}
	if int(binary.BigEndian.Uint16(outer[4:])) != 40+int(binary.BigEndian.Uint16(ip[4:])) {
		t.Fatalf("outer payload length does not match the inner packet")
	}
	vip := tun6VIP.As16()
	if ip[6] == 58 {
		return // an ICMPv6 error about a flow of the service
	}
	if !bytes.Equal(ip[24:40], vip[:]) {
		t.Fatalf("tunnelled an IPv6 packet not for the VIP")
	}
	if ip[6] == tcp && (len(ip) < 40+20 || binary.BigEndian.Uint16(ip[40+2:]) != tunPort) {
		t.Fatalf("tunnelled a TCP packet not for the TUN service")
	}
}

// checkPacketTooBig: an ICMPv6 packet too big from the VIP to the sender,
// only for a packet too big for the tunnel, at most 1280 bytes, quoting it.
func checkPacketTooBig(t *testing.T, in, out []byte) {
	ip := in[14:]
	if len(ip) < 40 || 40+40+int(binary.BigEndian.Uint16(ip[4:])) <= 1500 {
		t.Fatalf("answered packet too big for a packet that fits the tunnel")
	}
	reply := out[14:]
	vip := tun6VIP.As16()
	if len(reply) != 1280 || reply[6] != 58 || reply[40] != 2 || reply[41] != 0 || binary.BigEndian.Uint32(reply[44:]) != 1460 ||
		!bytes.Equal(reply[8:24], vip[:]) || !bytes.Equal(reply[24:40], ip[8:24]) || !bytes.Equal(out[0:6], in[6:12]) ||
		!icmp6ChecksumOK(reply[8:24], reply[24:40], reply[40:]) || !bytes.Equal(reply[48:], ip[:1232]) {
		t.Fatalf("malformed ICMPv6 packet too big")
	}
}
