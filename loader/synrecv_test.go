package loader_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

// IPVS's input-only TCP states, which a DR director's table follows: a
// client's SYN records the flow as SYN_RECV, inactive, for 60 s (so an
// unanswered connect or a scan is gone within a minute and weighs 1 in
// wlc, not 256 for 15 minutes); the client's ACK of the handshake makes it
// ESTABLISHED, active, with the tcp timeout; its FIN makes it FIN_WAIT.
// The counts move with it, in the datapath and in the sweep's recount.
func TestSYNRecvUntilTheClientsACK(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.WLC, 1, 1))
	counts := func(when string) [2][2]int64 {
		t.Helper()
		list, err := r.dp.Maps.Services.List()
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: services %v %v", when, list, err)
		}
		var out [2][2]int64
		for i, b := range list[0].Backends {
			out[i] = [2]int64{b.Counters.Active, b.Counters.Inactive}
		}
		return out
	}
	entry := func(cl netip.AddrPort) maps.Conn {
		t.Helper()
		conns, err := r.dp.Maps.Conns.List(maps.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			if c.Client == cl {
				return c
			}
		}
		t.Fatalf("%s not in the table", cl)
		return maps.Conn{}
	}
	near := func(got, want time.Duration) bool { return got <= want && got > want-time.Second }

	cl := fixture.Client(1)
	s := r.syn(cl)
	if s != 0 {
		t.Fatalf("first SYN went to rs%d", s+1)
	}
	if c := entry(cl); !c.SynRecv || c.Fin || !near(c.Expires, 60*time.Second) {
		t.Fatalf("after the SYN: %+v, want SYN_RECV expiring in 60 s", c)
	}
	if got := counts("after the SYN"); got != [2][2]int64{{0, 1}, {0, 0}} {
		t.Fatalf("counts after a SYN %v, want rs1 0 active 1 inactive", got)
	}
	// A retransmitted SYN leaves it as it is.
	if r.syn(cl) != s {
		t.Fatal("the retransmitted SYN went elsewhere")
	}
	if got := counts("after the SYN again"); got != [2][2]int64{{0, 1}, {0, 0}} {
		t.Fatalf("counts after a retransmitted SYN %v", got)
	}
	// wlc: a SYN_RECV flow weighs 1, an established one 256.
	if n := r.connect(fixture.Client(2)); n != 1 {
		t.Fatalf("second flow went to rs%d, want rs2 (rs1 has one inactive)", n+1)
	}
	if n := r.syn(fixture.Client(3)); n != 0 {
		t.Fatalf("third flow went to rs%d, want rs1 (1 inactive < 1 active)", n+1)
	}
	if r.pkt(cl, fixture.ACK) != s {
		t.Fatal("the handshake's ACK went elsewhere")
	}
	if c := entry(cl); c.SynRecv || c.Fin || !near(c.Expires, 900*time.Second) {
		t.Fatalf("after the ACK: %+v, want ESTABLISHED expiring in 900 s", c)
	}
	if got := counts("after the ACK"); got != [2][2]int64{{1, 1}, {1, 0}} {
		t.Fatalf("counts after the ACK %v, want rs1 1 active (the ACKed flow) 1 inactive (client 3's SYN), rs2 1 active", got)
	}
	if r.pkt(cl, fixture.FIN|fixture.ACK) != s {
		t.Fatal("the FIN went elsewhere")
	}
	if c := entry(cl); !c.Fin || !near(c.Expires, 120*time.Second) {
		t.Fatalf("after the FIN: %+v, want FIN_WAIT expiring in 120 s", c)
	}
	// A SYN_RECV flow closed by the client's RST goes to FIN_WAIT too.
	if r.pkt(fixture.Client(3), fixture.RST) != 0 {
		t.Fatal("client 3's RST went elsewhere")
	}
	if c := entry(fixture.Client(3)); !c.Fin || c.SynRecv {
		t.Fatalf("after the RST: %+v, want FIN_WAIT", c)
	}
	if got := counts("after FIN and RST"); got != [2][2]int64{{0, 2}, {1, 0}} {
		t.Fatalf("counts after FIN and RST %v, want rs1 2 inactive, rs2 1 active", got)
	}
	// The sweep's recount agrees; a minute later the unanswered SYN is gone.
	lone := fixture.Client(4)
	if r.syn(lone) < 0 {
		t.Fatal("SYN not forwarded")
	}
	res, err := r.dp.Maps.Conns.Sweep(maps.Now())
	if err != nil {
		t.Fatal(err)
	}
	var act, inact int64
	for _, n := range res.Active {
		act += n
	}
	for _, n := range res.Inactive {
		inact += n
	}
	if act != 1 || inact != 3 {
		t.Fatalf("sweep counted %d active %d inactive, want 1 (client 2) and 3 (two closed, one SYN_RECV)", act, inact)
	}
	if _, err := r.dp.Maps.Conns.Sweep(maps.Now() + uint64(61*time.Second)); err != nil {
		t.Fatal(err)
	}
	conns, err := r.dp.Maps.Conns.List(maps.Now()+uint64(61*time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.Client == lone {
			t.Fatalf("the unanswered SYN outlived its 60 s: %+v", c)
		}
	}
}

// A real server's bytes are counted from the IP header on, as IPVS counts
// InBytes (skb->len at the IP layer): not the Ethernet header, nor the
// VLAN tag.
func TestBackendBytesAreIPBytes(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1))
	dst := netip.AddrPortFrom(r.top.VIP, r.top.Port)
	plain := fixture.Frame{Src: fixture.Client(1), Dst: dst, Proto: tcp, TCPFlags: fixture.SYN}.Build()
	tagged := fixture.Frame{Src: fixture.Client(2), Dst: dst, Proto: tcp, TCPFlags: fixture.SYN, VLAN: 100}.Build()
	for _, f := range [][]byte{plain, tagged} {
		if r.send(f) != 0 {
			t.Fatal("SYN not forwarded")
		}
	}
	list, err := r.dp.Maps.Services.List()
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	want := uint64(len(plain)-14) + uint64(len(tagged)-18)
	if got := list[0].Backends[0].Counters.Bytes; got != want {
		t.Fatalf("bytes %d for frames of %d and %d bytes, want %d (their IP packets)", got, len(plain), len(tagged), want)
	}
}
