package loader_test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

const tcp = 6

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: loading XDP programs needs root (CI runs as root)")
	}
}

type rig struct {
	t   testing.TB
	dp  *loader.Datapath
	top fixture.Topology
}

func newRig(t testing.TB, connSize int) *rig {
	t.Helper()
	return newRigMAC(t, connSize, fixture.DirectorMAC)
}

// newRigMAC is newRig with the director's MAC mac (nil: none, as the
// benchmark rigs of bench/dpcost load it).
func newRigMAC(t testing.TB, connSize int, mac net.HardwareAddr) *rig {
	t.Helper()
	requireRoot(t)
	dp, err := loader.Load(loader.Options{ConnTableSize: connSize, PersistTableSize: connSize, DirectorMAC: mac})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { dp.Close(true) })
	return &rig{t: t, dp: dp, top: fixture.Seed()}
}

// service returns the fixture service with the given scheduler and weights
// (one weight per fixture real server, extra servers generated).
func (r *rig) service(s maps.Scheduler, weights ...uint32) maps.ServiceSpec {
	spec := maps.ServiceSpec{
		Key:       maps.Key{VIP: r.top.VIP, Port: r.top.Port, Proto: tcp},
		Scheduler: s, TCPSec: 900, TCPFinSec: 120, UDPSec: 300,
	}
	for i, w := range weights {
		spec.Backends = append(spec.Backends, maps.BackendSpec{
			Addr:   netip.AddrPortFrom(serverAddr(i), r.top.Port),
			MAC:    serverMAC(i),
			Weight: w, Available: true,
		})
	}
	return spec
}

func serverAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 168, 101, byte(3 + i)}) }
func serverMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0, 0, 0, 0, byte(3 + i)}
}

func (r *rig) apply(specs ...maps.ServiceSpec) {
	r.t.Helper()
	if err := r.dp.Maps.Services.Apply(specs); err != nil {
		r.t.Fatalf("apply: %v", err)
	}
}

// send runs one frame and returns the index of the real server it was
// sent to, or -1 when it was not forwarded.
func (r *rig) send(frame []byte) int {
	r.t.Helper()
	act, out, err := r.dp.Run(frame)
	if err != nil {
		r.t.Fatal(err)
	}
	if act != fixture.XDPTx {
		return -1
	}
	if !bytes.Equal(out[6:12], fixture.DirectorMAC) {
		r.t.Fatalf("forwarded frame has source MAC %x, want the director's", out[6:12])
	}
	if !bytes.Equal(out[12:len(frame)], frame[12:]) {
		r.t.Fatalf("DR forwarding changed bytes beyond the MAC header")
	}
	return int(out[5]) - 3
}

func (r *rig) syn(client netip.AddrPort) int {
	return r.send(fixture.Frame{Src: client, Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN}.Build())
}

// connect opens a connection as a client does: its SYN, then its ACK of
// the handshake (which makes the flow ESTABLISHED); it returns where the
// SYN went, after checking the ACK followed it.
func (r *rig) connect(client netip.AddrPort) int {
	r.t.Helper()
	s := r.syn(client)
	if a := r.pkt(client, fixture.ACK); a != s {
		r.t.Fatalf("%s: the handshake's ACK went to %d, its SYN to %d", client, a, s)
	}
	return s
}

func (r *rig) pkt(client netip.AddrPort, flags uint8) int {
	return r.send(fixture.Frame{Src: client, Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: tcp, TCPFlags: flags, Payload: 100}.Build())
}

func (r *rig) counters() map[string]uint64 {
	r.t.Helper()
	g, err := r.dp.Maps.Stats.Global()
	if err != nil {
		r.t.Fatal(err)
	}
	return g
}

func TestFixtureTable(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	for _, c := range fixture.Cases(r.top) {
		before := r.counters()
		flows := r.flows()
		act, out, err := r.dp.Run(c.Frame)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if act != c.Action {
			t.Errorf("%s (%d bytes): action %d, want %d", c.Name, len(c.Frame), act, c.Action)
		}
		after := r.counters()
		if got := after[c.Counter] - before[c.Counter]; got != 1 {
			t.Errorf("%s (%d bytes): counter %s rose by %d, want 1", c.Name, len(c.Frame), c.Counter, got)
		}
		if act == fixture.XDPPass && !bytes.Equal(out[:len(c.Frame)], c.Frame) {
			t.Errorf("%s: passed frame was modified", c.Name)
		}
		if act != fixture.XDPTx && after["tx"] != before["tx"] {
			t.Errorf("%s: tx counter moved for a frame that was not forwarded", c.Name)
		}
		// Only a row that opens a flow may leave one in the table.
		if c.Counter != "conn_new" {
			if after["conn_new"] != before["conn_new"] {
				t.Errorf("%s: conn_new went %d -> %d", c.Name, before["conn_new"], after["conn_new"])
			}
			if n := r.flows(); n != flows {
				t.Errorf("%s: the table went from %d to %d flows", c.Name, flows, n)
			}
		}
	}
}

// flows counts the live flows in the connection tables.
func (r *rig) flows() int {
	r.t.Helper()
	n, err := r.dp.Maps.Conns.Len()
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func TestRoundRobinAlternatesExactly(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	first := r.syn(fixture.Client(0))
	if first < 0 {
		t.Fatal("first SYN not forwarded")
	}
	for i := 1; i < 100; i++ {
		got := r.syn(fixture.Client(i))
		if want := (first + i) % 2; got != want {
			t.Fatalf("flow %d went to rs%d, want rs%d (rr must alternate)", i, got+1, want+1)
		}
	}
}

func TestWeightedRoundRobinFollowsWeights(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.WRR, 3, 1))
	n := [2]int{}
	for i := range 400 {
		s := r.syn(fixture.Client(i))
		if s < 0 {
			t.Fatalf("flow %d not forwarded", i)
		}
		n[s]++
	}
	if n[0] < 299 || n[0] > 301 || n[1] < 99 || n[1] > 101 {
		t.Fatalf("wrr 3:1 over 400 flows gave %d:%d, want 300:100 ±1", n[0], n[1])
	}
}

func TestWeightedLeastConnectionPicksLeastLoaded(t *testing.T) {
	r := newRig(t, 4096)
	// rs1 alone takes 10 flows; then rs2 joins with none.
	r.apply(r.service(maps.WLC, 1))
	for i := range 10 {
		if s := r.syn(fixture.Client(i)); s != 0 {
			t.Fatalf("flow %d: rs%d, want rs1 (only server)", i, s+1)
		}
	}
	r.apply(r.service(maps.WLC, 1, 1))
	for i := 10; i < 20; i++ {
		if s := r.syn(fixture.Client(i)); s != 1 {
			t.Fatalf("flow %d went to rs%d; rs2 has fewer connections and must get it", i, s+1)
		}
	}
	// Closing rs1's flows (FIN from the client) makes them inactive: rs1 is
	// now least loaded.
	for i := range 10 {
		if s := r.pkt(fixture.Client(i), fixture.FIN|fixture.ACK); s != 0 {
			t.Fatalf("FIN of flow %d went to rs%d, want its own rs1", i, s+1)
		}
	}
	if s := r.syn(fixture.Client(100)); s != 0 {
		t.Fatalf("after rs1's flows closed, new flow went to rs%d, want rs1", s+1)
	}
	// Weights: 1:3 gives rs2 three times the flows from an empty start.
	r2 := newRig(t, 4096)
	r2.apply(r2.service(maps.WLC, 1, 3))
	n := [2]int{}
	for i := range 400 {
		n[r2.syn(fixture.Client(i))]++
	}
	if n[0] < 95 || n[0] > 105 {
		t.Fatalf("wlc weights 1:3 over 400 flows gave %d:%d, want about 100:300", n[0], n[1])
	}
}

// IPVS's other least-connection schedulers: lc ignores weights (beyond 0
// draining), sed counts active connections plus the new one over the
// weight (so the first flow goes to the heavier server, where wlc's tie
// goes to the first), nq takes an idle server first whatever its weight.
func TestLeastConnectionFamily(t *testing.T) {
	lc := newRig(t, 4096)
	lc.apply(lc.service(maps.LC, 1, 3))
	n := [2]int{}
	for i := range 400 {
		n[lc.connect(fixture.Client(i))]++
	}
	if n[0] != 200 || n[1] != 200 {
		t.Errorf("lc with weights 1:3 gave %d:%d over 400 flows, want 200:200 (weights ignored)", n[0], n[1])
	}

	sed := newRig(t, 4096)
	sed.apply(sed.service(maps.SED, 1, 3))
	if s := sed.connect(fixture.Client(0)); s != 1 {
		t.Errorf("sed's first flow went to rs%d, want rs2: (0+1)/3 < (0+1)/1", s+1)
	}
	n = [2]int{}
	for i := 1; i < 400; i++ {
		n[sed.connect(fixture.Client(i))]++
	}
	if n[0] < 95 || n[0] > 105 {
		t.Errorf("sed with weights 1:3 gave %d:%d, want about 100:300", n[0], n[1])
	}
	wlc := newRig(t, 4096)
	wlc.apply(wlc.service(maps.WLC, 1, 3))
	if s := wlc.connect(fixture.Client(0)); s != 0 {
		t.Errorf("wlc's first flow went to rs%d, want rs1 (0/1 = 0/3: the first wins the tie)", s+1)
	}

	nq := newRig(t, 4096)
	nq.apply(nq.service(maps.NQ, 1, 3))
	var got []int
	for i := range 4 {
		got = append(got, nq.connect(fixture.Client(i))+1)
	}
	// rs1 and rs2 idle: taken in turn; then sed: (1+1)/3 < (1+1)/1, and
	// (2+1)/3 = 1 < (1+1)/1.
	if !slices.Equal(got, []int{1, 2, 2, 2}) {
		t.Errorf("nq sent 4 flows to %v, want [1 2 2 2]", got)
	}
	// A closed flow is not active: rs1 is idle again and gets the next.
	if s := nq.pkt(fixture.Client(0), fixture.FIN|fixture.ACK); s != 0 {
		t.Fatalf("FIN went to rs%d, want rs1", s+1)
	}
	if s := nq.connect(fixture.Client(10)); s != 0 {
		t.Errorf("nq's flow after rs1's only flow closed went to rs%d, want the idle rs1", s+1)
	}
}

// One-packet scheduling (ipvsadm -o) on a UDP service: every datagram of
// one client 5-tuple is scheduled again (rr alternates) and none is
// recorded; without it the datagrams stick to the first pick.
func TestOnePacketSchedulingUDP(t *testing.T) {
	for _, ops := range []bool{true, false} {
		r := newRig(t, 4096)
		spec := r.service(maps.RR, 1, 1)
		spec.Key.Proto = 17
		if ops {
			spec.Flags |= maps.FlagOPS
		}
		r.apply(spec)
		dgram := fixture.Frame{Src: fixture.Client(1), Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: 17, Payload: 40}.Build()
		var got []int
		for range 6 {
			got = append(got, r.send(dgram))
		}
		n, err := r.dp.Maps.Conns.Len()
		if err != nil {
			t.Fatal(err)
		}
		want, wantFlows := []int{0, 1, 0, 1, 0, 1}, 0
		if !ops {
			want, wantFlows = []int{0, 0, 0, 0, 0, 0}, 1
		}
		if !slices.Equal(got, want) || n != wantFlows {
			t.Errorf("ops=%v: 6 datagrams of one flow went to %v with %d flows recorded, want %v and %d", ops, got, n, want, wantFlows)
		}
	}
}

func TestSourceHashKeepsClientOnOneServer(t *testing.T) {
	r := newRig(t, 8192)
	r.apply(r.service(maps.SH, 1, 1))
	seen := [2]int{}
	for c := range 200 {
		ip := fixture.Client(c).Addr()
		first := -1
		for port := range 5 {
			s := r.syn(netip.AddrPortFrom(ip, uint16(2000+port)))
			if first == -1 {
				first = s
			} else if s != first {
				t.Fatalf("client %s: port %d went to rs%d, earlier ports to rs%d", ip, port, s+1, first+1)
			}
		}
		seen[first]++
	}
	if seen[0] < 60 || seen[1] < 60 {
		t.Fatalf("sh spread 200 clients %d:%d; both servers must get a fair share", seen[0], seen[1])
	}
}

func TestFlowsStickToTheirServer(t *testing.T) {
	r := newRig(t, 1<<16)
	r.apply(r.service(maps.RR, 1, 1))
	owner := make([]int, 1000)
	for i := range owner {
		owner[i] = r.syn(fixture.Client(i))
	}
	for round := range 4 {
		for i := range owner {
			if s := r.pkt(fixture.Client(i), fixture.ACK|fixture.PSH); s != owner[i] {
				t.Fatalf("round %d: flow %d switched from rs%d to rs%d", round, i, owner[i]+1, s+1)
			}
		}
	}
}

func TestPersistenceWindow(t *testing.T) {
	r := newRig(t, 4096)
	svc := r.service(maps.RR, 1, 1)
	svc.PersistSec = 2
	svc.TCPSec = 1 // connections expire quickly too, so only the template can hold a client
	r.apply(svc)
	client := fixture.Client(7).Addr()
	first := r.syn(netip.AddrPortFrom(client, 3000))
	for port := uint16(3001); port < 3020; port++ {
		if s := r.syn(netip.AddrPortFrom(client, port)); s != first {
			t.Fatalf("persistent client: new connection went to rs%d, want rs%d", s+1, first+1)
		}
	}
	// Another client is scheduled normally (rr moves on).
	if s := r.syn(fixture.Client(8)); s != 1-first {
		t.Fatalf("second client went to rs%d, want the other server", s+1)
	}
	// After the window the client is scheduled afresh: rr's next pick is
	// the server after the second client's, i.e. `first` again, so use two
	// more clients to move rr to the other one first.
	time.Sleep(2200 * time.Millisecond)
	r.syn(fixture.Client(9))
	got := r.syn(netip.AddrPortFrom(client, 4000))
	if got != 1-first {
		// rr order after Client(9) (first) is 1-first.
		t.Fatalf("after the persistence window the client went to rs%d, want a fresh rr pick rs%d", got+1, 2-first)
	}
}

// Persistence granularity (ipvsadm -M, keepalived
// persistence_granularity): clients of one network share a template.
func TestPersistenceGranularity(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		r := newRig(t, 4096)
		svc := r.service(maps.RR, 1, 1)
		svc.PersistSec = 300
		svc.PersistPrefix = 24
		addr := func(s string) netip.Addr { return netip.MustParseAddr(s) }
		a, b, c := addr("10.7.1.5"), addr("10.7.1.77"), addr("10.7.2.5")
		if v6 {
			svc.Key.VIP = addr("2001:db8::100")
			svc.PersistPrefix = 64
			a, b, c = addr("2001:db8:7:1::5"), addr("2001:db8:7:1:ff::77"), addr("2001:db8:7:2::5")
		}
		r.apply(svc)
		syn := func(ip netip.Addr, port uint16) int {
			return r.send(fixture.Frame{Src: netip.AddrPortFrom(ip, port), Dst: netip.AddrPortFrom(svc.Key.VIP, r.top.Port), Proto: tcp, TCPFlags: fixture.SYN}.Build())
		}
		first := syn(a, 3000)
		if first < 0 {
			t.Fatalf("v6=%v: first client not forwarded", v6)
		}
		if s := syn(b, 3001); s != first {
			t.Errorf("v6=%v: a client of the same /%d went to rs%d, want rs%d", v6, svc.PersistPrefix, s+1, first+1)
		}
		if s := syn(c, 3002); s != 1-first {
			t.Errorf("v6=%v: a client of another network went to rs%d, want rr's next rs%d", v6, s+1, 2-first)
		}
		// What xlb conns lists as ipvsadm's templates: one per client
		// network, the network's address, on the real server it chose.
		list, err := r.dp.Maps.Services.List()
		if err != nil || len(list) != 1 || len(list[0].Backends) != 2 {
			t.Fatalf("services: %+v, %v", list, err)
		}
		tpls, err := r.dp.Maps.Conns.Templates(maps.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := map[netip.Addr]netip.AddrPort{
			netip.PrefixFrom(a, int(svc.PersistPrefix)).Masked().Addr(): list[0].Backends[first].Addr,
			netip.PrefixFrom(c, int(svc.PersistPrefix)).Masked().Addr(): list[0].Backends[1-first].Addr,
		}
		slots := map[uint32]netip.AddrPort{}
		for _, b := range list[0].Backends {
			slots[b.Slot] = b.Addr
		}
		if len(tpls) != len(want) {
			t.Fatalf("v6=%v: templates %+v, want one per client network %v", v6, tpls, want)
		}
		for _, tp := range tpls {
			if tp.SvcID != list[0].ID || slots[tp.Backend] != want[tp.Client] || tp.Idle < 0 || tp.Idle > time.Minute {
				t.Errorf("v6=%v: template %+v (to %v), want one of %v of service %d, just used", v6, tp, slots[tp.Backend], want, list[0].ID)
			}
		}
	}
}

func TestWeightZeroDrains(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	owner := map[int]int{}
	for i := range 20 {
		owner[i] = r.syn(fixture.Client(i))
	}
	r.apply(r.service(maps.RR, 0, 1))
	for i := 20; i < 60; i++ {
		if s := r.syn(fixture.Client(i)); s != 1 {
			t.Fatalf("new flow %d went to drained rs1", i)
		}
	}
	for i, o := range owner {
		if s := r.pkt(fixture.Client(i), fixture.ACK); s != o {
			t.Fatalf("existing flow %d moved from rs%d to rs%d after drain", i, o+1, s+1)
		}
	}
}

func TestRemovedServerKeepsOthersFlows(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	owner := map[int]int{}
	for i := range 20 {
		owner[i] = r.syn(fixture.Client(i))
	}
	only2 := r.service(maps.RR, 1, 1)
	only2.Backends = only2.Backends[1:]
	r.apply(only2)
	for i, o := range owner {
		if s := r.pkt(fixture.Client(i), fixture.ACK); s != o {
			t.Fatalf("flow %d moved from rs%d to rs%d when rs1 was removed", i, o+1, s+1)
		}
	}
	for i := 100; i < 120; i++ {
		if s := r.syn(fixture.Client(i)); s != 1 {
			t.Fatalf("new flow went to removed rs1")
		}
	}
	// expire_nodest_conn: rs1's flows are rescheduled to rs2.
	only2.Flags = maps.FlagExpireNodest
	r.apply(only2)
	for i, o := range owner {
		if s := r.pkt(fixture.Client(i), fixture.ACK); s != 1 {
			t.Fatalf("expire_nodest_conn: flow %d (was rs%d) went to rs%d, want rs2", i, o+1, s+1)
		}
	}
}

func TestNoBackendDrops(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 0, 0))
	before := r.counters()["drop_no_backend"]
	if s := r.syn(fixture.Client(1)); s != -1 {
		t.Fatalf("flow forwarded to rs%d with no available server", s+1)
	}
	if r.counters()["drop_no_backend"] != before+1 {
		t.Fatal("drop_no_backend not counted")
	}
}

// sh keeps a drained server's buckets (IPVS does too): draining one of
// four equally weighted servers moves its own clients only, each to a
// server that can take them, and every other client stays where it was.
func TestSHDrainMovesOnlyTheDrainedServersClients(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.SH, 1, 1, 1, 1))
	const clients = 400
	// A client is its address: sh hashes no port, so every connection of
	// one client (here one SYN each from two ports) goes to one server.
	client := func(i, port int) netip.AddrPort {
		return netip.AddrPortFrom(fixture.Client(i).Addr(), uint16(2000+port))
	}
	before := make([]int, clients)
	perServer := map[int]int{}
	for i := range clients {
		before[i] = r.syn(client(i, 0))
		perServer[before[i]]++
	}
	if len(perServer) != 4 || perServer[2] == 0 {
		t.Fatalf("clients per server before the drain: %v", perServer)
	}
	r.apply(r.service(maps.SH, 1, 1, 0, 1))
	moved := 0
	for i := range clients {
		s := r.syn(client(i, 1))
		switch {
		case s < 0 || s == 2:
			t.Fatalf("client %d went to %d after server 2 was drained", i, s)
		case before[i] != 2 && s != before[i]:
			t.Errorf("client %d of server %d moved to %d when server 2 was drained", i, before[i], s)
		case before[i] == 2:
			moved++
		}
	}
	if moved != perServer[2] {
		t.Errorf("%d clients moved, want server 2's %d", moved, perServer[2])
	}
}
