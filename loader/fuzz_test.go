package loader_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

// FuzzDatapath feeds arbitrary frames to the XDP program. Whatever the
// input, the program must not fail, and a frame it forwards must really be
// a complete IPv4 TCP/UDP packet to the configured VIP:port (or a fragment
// to the VIP, or an ICMP error about a packet from it) with only its MAC
// addresses changed. Run longer with:
//
//	go test -run x -fuzz FuzzDatapath -fuzztime 10m ./loader/
func FuzzDatapath(f *testing.F) {
	r := newRig(f, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	for _, c := range fixture.Cases(r.top) {
		f.Add(c.Frame)
	}
	vip := r.top.VIP.As4()
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
