package director

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

// countingDirector is a director over a loaded (unattached) datapath:
// frames go through BPF_PROG_TEST_RUN, and Sweep and Zero work on the
// real maps.
func countingDirector(t *testing.T) *Director {
	t.Helper()
	nstest.RequireRoot(t)
	dp, err := loader.Load(loader.Options{ConnTableSize: 4096, PersistTableSize: 1024, DirectorMAC: fixture.DirectorMAC})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { dp.Close(true) })
	return &Director{dp: dp, log: slog.New(slog.DiscardHandler)}
}

// rrSpec is an rr service on vip:port whose real server i is
// 192.168.101.(10+i) with MAC 02:00:00:00:01:(10+i), so a forwarded
// frame names its server.
func rrSpec(vip string, port uint16, servers int) maps.ServiceSpec {
	s := maps.ServiceSpec{
		Key:       maps.Key{VIP: netip.MustParseAddr(vip), Port: port, Proto: 6},
		Scheduler: maps.RR, TCPSec: 900, TCPFinSec: 120, UDPSec: 300,
	}
	for i := range servers {
		a := netip.AddrFrom4([4]byte{192, 168, 101, byte(10 + i)})
		if s.Key.VIP.Is6() {
			a = netip.MustParseAddr("2001:db8::" + string(rune('a'+i)))
		}
		s.Backends = append(s.Backends, maps.BackendSpec{
			Addr: netip.AddrPortFrom(a, port), MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(10 + i)}, Weight: 1, Available: true,
		})
	}
	return s
}

func apply(t *testing.T, d *Director, specs ...maps.ServiceSpec) {
	t.Helper()
	if err := d.dp.Maps.Services.Apply(specs); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// syn opens a connection from client to the service and returns the
// index of the real server it went to.
func syn(t *testing.T, d *Director, client netip.AddrPort, svc maps.Key) int {
	t.Helper()
	f := fixture.Frame{Src: client, Dst: netip.AddrPortFrom(svc.VIP, svc.Port), Proto: 6, TCPFlags: fixture.SYN, Payload: 10}
	act, out, err := d.dp.Run(f.Build())
	if err != nil {
		t.Fatal(err)
	}
	if act != fixture.XDPTx {
		t.Fatalf("%s -> %s not forwarded (action %d)", client, svc, act)
	}
	return int(out[5]) - 10
}

// backends reads the service's real servers as the maps hold them.
func backends(t *testing.T, d *Director, k maps.Key) []maps.BackendState {
	t.Helper()
	list, err := d.dp.Maps.Services.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		if st.Key == k {
			return st.Backends
		}
	}
	t.Fatalf("service %s not in the maps", k)
	return nil
}

// The sweep counts the live persistence templates of each real server
// (ipvsadm's PersistConn): one per client, not per connection, IPv4 and
// IPv6 alike; once the persistence timeout has passed they count no more.
func TestSweepCountsTemplatesPerRealServer(t *testing.T) {
	d := countingDirector(t)
	v4, v6 := rrSpec("192.168.101.100", 80, 2), rrSpec("2001:db8::100", 80, 1)
	v4.PersistSec, v6.PersistSec = 1, 1
	plain := rrSpec("192.168.101.100", 8080, 1) // no persistence: no templates
	apply(t, d, v4, v6, plain)

	got := map[int]int{}
	for i := range 3 {
		got[syn(t, d, fixture.Client(i), v4.Key)]++
	}
	// A second connection of a client reuses its template.
	c0 := fixture.Client(0)
	if s := syn(t, d, netip.AddrPortFrom(c0.Addr(), c0.Port()+1), v4.Key); s != 0 {
		t.Fatalf("persistent client moved to rs%d", s)
	}
	syn(t, d, netip.MustParseAddrPort("[2001:db8:7::5]:4000"), v6.Key)
	syn(t, d, fixture.Client(9), plain.Key)
	if got[0] != 2 || got[1] != 1 {
		t.Fatalf("rr sent three clients %v, want 2 and 1", got)
	}
	if err := d.Sweep(); err != nil {
		t.Fatal(err)
	}
	counts := d.PersistConns()
	b4, b6, bp := backends(t, d, v4.Key), backends(t, d, v6.Key), backends(t, d, plain.Key)
	if counts[b4[0].Slot] != 2 || counts[b4[1].Slot] != 1 || counts[b6[0].Slot] != 1 || counts[bp[0].Slot] != 0 {
		t.Fatalf("templates per slot %v; want %s 2, %s 1, %s 1, %s 0", counts, b4[0].Addr, b4[1].Addr, b6[0].Addr, bp[0].Addr)
	}

	time.Sleep(1500 * time.Millisecond)
	if err := d.Sweep(); err != nil {
		t.Fatal(err)
	}
	if counts := d.PersistConns(); len(counts) != 0 {
		t.Fatalf("templates after the persistence timeout: %v, want none", counts)
	}
}

// since is a real server's counters less its baseline, as listings
// print them.
func since(d *Director, svc maps.Key, b maps.BackendState) uint64 {
	c, _, _ := d.Baselines()[b.Slot].Since(svc, b)
	return c
}

// Zero is ipvsadm -Z: the listed counters of one service (or all) start
// from zero again while the datapath's, which the metrics export, keep
// growing; an unknown service is an error; a reload keeping the service
// keeps the zero; a removed real server's baseline goes with its slot.
func TestZeroBaselines(t *testing.T) {
	d := countingDirector(t)
	a, b := rrSpec("192.168.101.100", 80, 2), rrSpec("192.168.101.100", 8080, 1)
	a.TCPSec = 1 // so the removed real server's flows idle out quickly
	apply(t, d, a, b)
	for i := range 4 {
		syn(t, d, fixture.Client(i), a.Key)
	}
	for i := range 2 {
		syn(t, d, fixture.Client(10+i), b.Key)
	}

	missing := maps.Key{VIP: a.Key.VIP, Port: 9, Proto: 6}
	if err := d.Zero(&missing); err == nil || !strings.Contains(err.Error(), "no such service tcp/192.168.101.100:9") {
		t.Fatalf("zero of an unknown service: %v", err)
	}
	if err := d.Zero(&a.Key); err != nil {
		t.Fatal(err)
	}
	ba, bb := backends(t, d, a.Key), backends(t, d, b.Key)
	if since(d, a.Key, ba[0]) != 0 || since(d, a.Key, ba[1]) != 0 || since(d, b.Key, bb[0]) != 2 {
		t.Fatalf("after zeroing %s: %d %d, and %d for %s (want 0 0 2)", a.Key, since(d, a.Key, ba[0]), since(d, a.Key, ba[1]), since(d, b.Key, bb[0]), b.Key)
	}

	syn(t, d, fixture.Client(20), a.Key)
	syn(t, d, fixture.Client(21), a.Key)
	ba = backends(t, d, a.Key)
	for _, rs := range ba {
		c, p, by := d.Baselines()[rs.Slot].Since(a.Key, rs)
		if c != 1 || p != 1 || by == 0 || by >= rs.Counters.Bytes {
			t.Errorf("%s since zero: %d conns, %d packets, %d bytes; want 1, 1, one frame's", rs.Addr, c, p, by)
		}
		if rs.Counters.Conns != 3 {
			t.Errorf("%s: datapath counter %d, want 3: zero must not reset it", rs.Addr, rs.Counters.Conns)
		}
	}

	// A reload that keeps the service keeps its slots, so its zero.
	a2 := a
	a2.Backends = append([]maps.BackendSpec(nil), a.Backends...)
	a2.Backends[1].Weight = 5
	apply(t, d, a2, b)
	if ba := backends(t, d, a.Key); since(d, a.Key, ba[0]) != 1 || since(d, a.Key, ba[1]) != 1 {
		t.Errorf("after a reload keeping %s: %d %d since zero, want 1 1", a.Key, since(d, a.Key, ba[0]), since(d, a.Key, ba[1]))
	}

	if err := d.Zero(nil); err != nil {
		t.Fatal(err)
	}
	if bb := backends(t, d, b.Key); since(d, b.Key, bb[0]) != 0 {
		t.Errorf("zero of all left %s at %d", b.Key, since(d, b.Key, bb[0]))
	}

	// Removed: it drains, and once its flows idled out the sweep frees
	// the slot and its baseline.
	removed := ba[1].Slot
	a2.Backends = a2.Backends[:1]
	apply(t, d, a2, b)
	if _, ok := d.Baselines()[removed]; !ok {
		t.Fatal("a draining real server lost its baseline")
	}
	time.Sleep(2200 * time.Millisecond)
	if err := d.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Baselines()[removed]; ok {
		t.Errorf("the baseline of %s outlived its slot", ba[1].Addr)
	}
	// Its counters stay with the service, so its totals never go back:
	// all three connections in total, none since the zero of all.
	total, since := d.Retired()
	if got := total[a.Key]; got.Conns != 3 || got.Packets != 3 || got.Bytes != ba[1].Counters.Bytes {
		t.Errorf("retired counters of %s: %+v, want %s's 3 conns, 3 packets, %d bytes", a.Key, got, ba[1].Addr, ba[1].Counters.Bytes)
	}
	if got := since[a.Key]; got != (Counts{}) {
		t.Errorf("retired since the zero: %+v, want none", got)
	}
	if err := d.Zero(&a.Key); err != nil {
		t.Fatal(err)
	}
	if total, since := d.Retired(); total[a.Key].Conns != 3 || since[a.Key] != (Counts{}) {
		t.Errorf("after a zero: retired %+v, since %+v; want the total kept", total[a.Key], since[a.Key])
	}
}
