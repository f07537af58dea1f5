package loader_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

// TCP segments with none of SYN, ACK and RST belong to no connection
// (every segment after the handshake carries ACK). With no entry they are
// dropped and counted (drop_tcp_no_ack); a flow the table knows keeps
// getting its packets whatever their flags.

var noACKFlags = []struct {
	name  string
	flags uint8
}{
	{"no flags", 0},
	{"fin", fixture.FIN},
	{"psh", fixture.PSH},
	{"urg", fixture.URG},
	{"fin|psh|urg (xmas)", fixture.FIN | fixture.PSH | fixture.URG},
}

// vipOf is the fixture VIP:port of either family (v6service's for IPv6).
func (r *rig) vipOf(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(v6service(maps.RR).Key.VIP, 80)
	}
	return netip.AddrPortFrom(r.top.VIP, r.top.Port)
}

func clientOf(v6 bool, n int) netip.AddrPort {
	if v6 {
		return v6client(n)
	}
	return fixture.Client(n)
}

// The defect QA reproduced: 1000 identical flag-less packets to VIP:80
// made one active connection (for the 900 s TCP timeout) and all 1000
// reached the real server; each new source port made another entry.
func TestSegmentsWithoutACKOpenNoFlow(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1), v6service(maps.RR))
	n := 0
	for _, v6 := range []bool{false, true} {
		for _, fl := range noACKFlags {
			before := r.counters()
			same := fixture.Frame{Src: clientOf(v6, n), Dst: r.vipOf(v6), Proto: tcp, TCPFlags: fl.flags, Payload: 10}.Build()
			for i := range 1000 {
				if s := r.send(same); s >= 0 {
					t.Fatalf("v6=%v %s: packet %d of one unknown flow forwarded to rs%d", v6, fl.name, i, s+1)
				}
			}
			for i := range 100 { // a new source port each
				f := fixture.Frame{Src: clientOf(v6, n+1+i), Dst: r.vipOf(v6), Proto: tcp, TCPFlags: fl.flags}.Build()
				if s := r.send(f); s >= 0 {
					t.Fatalf("v6=%v %s: packet of unknown client %d forwarded to rs%d", v6, fl.name, i, s+1)
				}
			}
			n += 101
			after := r.counters()
			if got := after["drop_tcp_no_ack"] - before["drop_tcp_no_ack"]; got != 1100 {
				t.Errorf("v6=%v %s: drop_tcp_no_ack rose by %d, want 1100", v6, fl.name, got)
			}
			for _, c := range []string{"conn_new", "tx", "drop_no_backend", "syn_guard", "conn_insert_fail"} {
				if after[c] != before[c] {
					t.Errorf("v6=%v %s: %s went %d -> %d", v6, fl.name, c, before[c], after[c])
				}
			}
			if f := r.flows(); f != 0 {
				t.Errorf("v6=%v %s: %d flows in the table, want none", v6, fl.name, f)
			}
		}
	}
	list, err := r.dp.Maps.Services.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		for _, b := range s.Backends {
			if c := b.Counters; c.Packets != 0 || c.Conns != 0 || c.Active != 0 || c.Inactive != 0 {
				t.Errorf("%v: real server %v got %+v, want nothing", s.Key, b.Addr, c)
			}
		}
	}
}

// A flow the table knows is forwarded to its real server whatever the
// flags of its packets: the real server, which holds the connection,
// decides what they mean.
func TestSegmentsWithoutACKOfKnownFlowForwarded(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1), v6service(maps.RR))
	n := 0
	for _, v6 := range []bool{false, true} {
		for _, fl := range noACKFlags {
			for range 2 { // one flow on each real server
				cl := clientOf(v6, n)
				n++
				owner := r.send(fixture.Frame{Src: cl, Dst: r.vipOf(v6), Proto: tcp, TCPFlags: fixture.SYN}.Build())
				if owner < 0 {
					t.Fatalf("v6=%v: SYN not forwarded", v6)
				}
				before := r.counters()
				for i := range 3 {
					if s := r.send(fixture.Frame{Src: cl, Dst: r.vipOf(v6), Proto: tcp, TCPFlags: fl.flags, Payload: 10}.Build()); s != owner {
						t.Fatalf("v6=%v %s: packet %d of a flow on rs%d went to %d", v6, fl.name, i, owner+1, s)
					}
				}
				if s := r.send(fixture.Frame{Src: cl, Dst: r.vipOf(v6), Proto: tcp, TCPFlags: fixture.ACK}.Build()); s != owner {
					t.Fatalf("v6=%v %s: the flow's next ACK went to %d, want rs%d", v6, fl.name, s, owner+1)
				}
				after := r.counters()
				if after["drop_tcp_no_ack"] != before["drop_tcp_no_ack"] || after["conn_new"] != before["conn_new"] {
					t.Fatalf("v6=%v %s: a known flow's packets counted as dropped (%d -> %d) or new (%d -> %d)", v6, fl.name,
						before["drop_tcp_no_ack"], after["drop_tcp_no_ack"], before["conn_new"], after["conn_new"])
				}
			}
		}
	}
}

// An entry that has idled out is as good as none: a flag-less packet
// does not revive it (nor count it as conn_expired), an ACK does.
func TestSegmentWithoutACKDoesNotReviveExpiredFlow(t *testing.T) {
	r := newRig(t, 4096)
	spec := r.service(maps.RR, 1, 1)
	spec.TCPSec = 1
	r.apply(spec)
	vip := r.vipOf(false)
	cl := fixture.Client(5)
	if s := r.connect(cl); s < 0 {
		t.Fatal("SYN not forwarded")
	}
	time.Sleep(2100 * time.Millisecond) // > 1 s timeout at coarse-clock resolution
	before := r.counters()
	if s := r.send(fixture.Frame{Src: cl, Dst: vip, Proto: tcp, Payload: 10}.Build()); s >= 0 {
		t.Fatalf("flag-less packet of an expired flow forwarded to rs%d", s+1)
	}
	after := r.counters()
	if after["drop_tcp_no_ack"] != before["drop_tcp_no_ack"]+1 || after["conn_expired"] != before["conn_expired"] || after["conn_new"] != before["conn_new"] {
		t.Fatalf("drop_tcp_no_ack %d -> %d (want +1), conn_expired %d -> %d, conn_new %d -> %d (want unchanged)",
			before["drop_tcp_no_ack"], after["drop_tcp_no_ack"], before["conn_expired"], after["conn_expired"], before["conn_new"], after["conn_new"])
	}
	if f := r.flows(); f != 0 {
		t.Fatalf("%d live flows after the drop, want none", f)
	}
	if s := r.pkt(cl, fixture.ACK); s < 0 {
		t.Fatal("ACK of the expired flow not forwarded")
	}
	if got := r.counters()["conn_expired"]; got != after["conn_expired"]+1 {
		t.Fatalf("conn_expired went %d -> %d on the ACK, want +1", after["conn_expired"], got)
	}
}

// A mid-flow ACK with no entry (its SYN went through another director, or
// before a restart) is placed statelessly, so every director with the same
// configuration agrees where it goes whatever its scheduler state, and is
// recorded.
func TestACKWithoutEntryPlacedStatelesslyAndRecorded(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		a, b := newRig(t, 4096), newRig(t, 4096)
		for _, r := range []*rig{a, b} {
			if v6 {
				svc := v6service(maps.RR)
				svc.Backends = append(svc.Backends, svc.Backends[0])
				svc.Backends[2].Addr = netip.AddrPortFrom(netip.MustParseAddr("2001:db8:101::5"), 80)
				svc.Backends[2].MAC = serverMAC(2)
				r.apply(svc)
			} else {
				r.apply(r.service(maps.RR, 1, 1, 1))
			}
		}
		// b's rr has moved on by one flow: a scheduled ACK would land
		// elsewhere on the two directors.
		if b.send(fixture.Frame{Src: clientOf(v6, 999), Dst: b.vipOf(v6), Proto: tcp, TCPFlags: fixture.SYN}.Build()) < 0 {
			t.Fatal("SYN not forwarded")
		}
		const n = 40
		ack := func(r *rig, i int) int {
			return r.send(fixture.Frame{Src: clientOf(v6, i), Dst: r.vipOf(v6), Proto: tcp, TCPFlags: fixture.ACK, Payload: 10}.Build())
		}
		beforeA, beforeB := a.counters()["conn_new"], b.counters()["conn_new"]
		got := make([]int, n)
		used := map[int]bool{}
		for i := range n {
			got[i] = ack(a, i)
			if got[i] < 0 {
				t.Fatalf("v6=%v: mid-flow ACK %d not forwarded", v6, i)
			}
			used[got[i]] = true
		}
		for i := n - 1; i >= 0; i-- {
			if s := ack(b, i); s != got[i] {
				t.Fatalf("v6=%v: mid-flow ACK of client %d went to rs%d on one director, rs%d on the other", v6, i, got[i]+1, s+1)
			}
		}
		if len(used) < 2 {
			t.Fatalf("v6=%v: %d mid-flow ACKs all went to one real server", v6, n)
		}
		for _, r := range []struct {
			r      *rig
			before uint64
		}{{a, beforeA}, {b, beforeB}} {
			if c := r.r.counters()["conn_new"]; c != r.before+n {
				t.Fatalf("v6=%v: conn_new went %d -> %d, want +%d: mid-flow ACKs are recorded", v6, r.before, c, n)
			}
		}
		if f := a.flows(); f != n {
			t.Fatalf("v6=%v: %d flows recorded, want %d", v6, f, n)
		}
		for i := range n { // and then found
			if s := ack(a, i); s != got[i] {
				t.Fatalf("v6=%v: recorded mid-flow client %d moved from rs%d to rs%d", v6, i, got[i]+1, s+1)
			}
		}
	}
}

// Fragments: a refused first fragment leaves no ports behind, so the rest
// of its datagram is not recorded as its flow (it goes as a fragment
// whose first was not seen); a later fragment, which carries no TCP
// header and so no flags, still follows a mid-flow first fragment that
// the SYN guard kept out of the table.
func TestFragmentsOfSegmentsWithoutACK(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	vip := r.vipOf(false)

	cl := fixture.Client(1)
	first := fixture.Frame{Src: cl, Dst: vip, Proto: tcp, Payload: 1000, FragOff: 0x2000, FragID: 500}.Build()
	later := fixture.Frame{Src: cl, Dst: vip, Proto: tcp, Payload: 300, FragOff: 126, FragID: 500}.Build()
	before := r.counters()
	if s := r.send(first); s >= 0 {
		t.Fatalf("flag-less first fragment forwarded to rs%d", s+1)
	}
	r.send(later)
	after := r.counters()
	if after["drop_tcp_no_ack"] != before["drop_tcp_no_ack"]+1 {
		t.Fatalf("drop_tcp_no_ack went %d -> %d, want +1", before["drop_tcp_no_ack"], after["drop_tcp_no_ack"])
	}
	if after["conn_new"] != before["conn_new"] || r.flows() != 0 {
		t.Fatalf("the refused datagram's later fragment was recorded as a flow (conn_new %d -> %d, %d flows)",
			before["conn_new"], after["conn_new"], r.flows())
	}
	if after["fragment_tx"] != before["fragment_tx"]+1 {
		t.Fatalf("later fragment not placed as one whose first was not seen (fragment_tx %d -> %d)", before["fragment_tx"], after["fragment_tx"])
	}

	if err := r.dp.Maps.Settings.SynGuard(1, 1); err != nil {
		t.Fatal(err)
	}
	guarded := 0
	for c := 10; c < 40; c++ {
		cl := fixture.Client(c)
		id := uint32(600 + c)
		first := fixture.Frame{Src: cl, Dst: vip, Proto: tcp, TCPFlags: fixture.ACK, Payload: 1000, FragOff: 0x2000, FragID: id}.Build()
		later := fixture.Frame{Src: cl, Dst: vip, Proto: tcp, Payload: 300, FragOff: 126, FragID: id}.Build()
		before := r.counters()
		a := r.send(first)
		if r.counters()["syn_guard"] > before["syn_guard"] {
			guarded++ // placed statelessly, not recorded
		}
		if b := r.send(later); a < 0 || b != a {
			t.Fatalf("client %d: mid-flow first fragment went to %d, its later fragment to %d", c, a, b)
		}
		if got := r.counters()["drop_tcp_no_ack"]; got != before["drop_tcp_no_ack"] {
			t.Fatalf("client %d: a later fragment was taken for a flag-less segment", c)
		}
	}
	// The guard's tokens are per CPU: a first fragment may take one.
	if guarded < 20 {
		t.Fatalf("only %d of 30 first fragments were kept out of the table: the test proves little", guarded)
	}
}
