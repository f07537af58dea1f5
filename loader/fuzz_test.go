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
// a complete IPv4 TCP/UDP packet to the configured VIP:port (or a fragment
// to the VIP, or an ICMP error about a packet from it) with only its MAC
// addresses changed — or, for the TUN service, that packet wrapped whole in
// an outer IPv4 header, or an ICMP frag-needed back to its sender; or a
// complete IPv6 TCP packet to the IPv6 service. Run longer with:
//
//	go test -run x -fuzz FuzzDatapath -fuzztime 10m ./loader/
func FuzzDatapath(f *testing.F) {
	r := newRig(f, 4096)
	dr := r.service(maps.RR, 1, 1)
	tun := r.service(maps.RR, 1)
	tun.Key.Port = tunPort
	tun.Backends[0].Addr = netip.AddrPortFrom(tun.Backends[0].Addr.Addr(), tunPort)
	tun.Backends[0].Tunnel = true
	r.apply(dr, tun, v6service(maps.SH))
	if err := r.dp.Maps.Settings.Tunnel(netip.MustParseAddr("192.168.101.8"), netip.Addr{}, 1500); err != nil {
		f.Fatal(err)
	}
	for _, c := range fixture.Cases(r.top) {
		f.Add(c.Frame)
	}
	vip := r.top.VIP.As4()
	f.Add(fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, tunPort), Proto: tcp, TCPFlags: fixture.SYN}.Build())
	f.Add(fixture.Frame{Src: v6client(1), Dst: netip.MustParseAddrPort("[2001:db8:101::100]:80"), Proto: tcp, TCPFlags: fixture.SYN, HopByHop: 1}.Build())
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
			checkIPv6(t, frame, out)
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
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return // a fragment: placed by its 3-tuple, no ports to check
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
	if len(ip) < 20+20 || !bytes.Equal(ip[16:20], vip[:]) || binary.BigEndian.Uint16(ip[20+2:]) != tunPort {
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
