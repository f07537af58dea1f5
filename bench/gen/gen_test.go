package gen

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

func testConfig(flows int) Config {
	return Config{
		Ifindex: 1,
		SrcMAC:  net.HardwareAddr{2, 0, 0xc0, 0xa8, 0x65, 0x32},
		DstMAC:  net.HardwareAddr{2, 0, 0xc0, 0xa8, 0x65, 0x08},
		SrcIP:   netip.MustParseAddr("192.168.101.200"),
		DstIP:   netip.MustParseAddr("192.168.101.100"),
		DstPort: 80,
		Flows:   flows,
	}
}

func TestFrameChecksum(t *testing.T) {
	f, err := Frame(testConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 60 {
		t.Fatalf("len %d", len(f))
	}
	if ipChecksum(f[14:34]) != 0 {
		t.Fatalf("IPv4 header checksum does not verify")
	}
}

// TestProgram runs the generator program (not in live mode) and checks that every
// rewritten frame has a valid IPv4 checksum and a flow inside the configured range.
func TestProgram(t *testing.T) {
	for _, flows := range []int{1, 1000, 175000} {
		c := testConfig(flows)
		insns, err := Program(c)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: insns})
		if err != nil {
			t.Skipf("cannot load XDP programs here: %v", err)
		}
		frame, _ := Frame(c)
		seenIP := map[uint16]bool{}
		for i := 0; i < 300; i++ {
			out := make([]byte, len(frame))
			ret, err := prog.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
			if err != nil {
				t.Fatal(err)
			}
			if ret != 3 {
				t.Fatalf("flows %d: returned %d, want XDP_TX", flows, ret)
			}
			if ipChecksum(out[14:34]) != 0 {
				t.Fatalf("flows %d: bad IPv4 checksum in % x", flows, out[14:34])
			}
			sport := int(binary.BigEndian.Uint16(out[34:36]))
			low := binary.BigEndian.Uint16(out[28:30])
			idx := int(low) - int(binary.BigEndian.Uint16(frame[28:30]))
			flow := idx*PortsPerIP + sport - FirstSrcPort
			if sport < FirstSrcPort || idx < 0 || flow >= flows {
				t.Fatalf("flows %d: flow %d (port %d, address index %d) out of range", flows, flow, sport, idx)
			}
			seenIP[low] = true
		}
		if want := (flows + PortsPerIP - 1) / PortsPerIP; len(seenIP) != want {
			t.Errorf("flows %d: saw %d source addresses, want %d", flows, len(seenIP), want)
		}
		prog.Close()
	}
}
