package loader_test

import (
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/maps"
)

// The new-flow rows of xlb bench (and BenchmarkDatapath) are only a
// measure of new flows if every repetition of BenchFlows is one: a flow
// the table did not know, scheduled and recorded, from a client no other
// repetition used.
func TestBenchFlowsMakesEveryRepetitionANewFlow(t *testing.T) {
	const repeat = 1000
	r := newRigMAC(t, 1<<14, nil) // as xlb bench loads it (bench/dpcost.NewRig)
	r.apply(r.service(maps.RR, 1, 1))
	f := fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN}.Build()
	before := r.counters()
	if _, err := r.dp.BenchFlows(f, repeat); err != nil {
		t.Fatal(err)
	}
	after := r.counters()
	if got := after["conn_new"] - before["conn_new"]; got != repeat {
		t.Fatalf("%d of %d repetitions made a new flow", got, repeat)
	}
	if got := after["tx"] - before["tx"]; got != repeat {
		t.Fatalf("%d of %d repetitions forwarded", got, repeat)
	}
	conns, err := r.dp.Maps.Conns.List(maps.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[netip.AddrPort]bool{}
	perBackend := map[uint32]int{}
	for _, c := range conns {
		clients[c.Client] = true
		perBackend[c.Backend]++
	}
	if len(conns) != repeat || len(clients) != repeat {
		t.Fatalf("table holds %d flows from %d clients, want %d of each", len(conns), len(clients), repeat)
	}
	// rr over two servers: the new flows were scheduled, not sent to one.
	if len(perBackend) != 2 {
		t.Fatalf("flows per real server %v, want rr over both", perBackend)
	}
	for b, n := range perBackend {
		if n != repeat/2 {
			t.Fatalf("real server %d has %d flows, want %d (rr)", b, n, repeat/2)
		}
	}
}
