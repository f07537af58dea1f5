package loader_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

// Established packets take a short path that finds the service through
// the flow's real server instead of the services table. These tests hold
// it to the decisions of the full path.

// A removed service's flows pass to the stack, even after its id is
// handed to another service: the short path checks that the id still
// names the service the packet is for.
func TestRemovedServiceFlowsPassAfterIDReuse(t *testing.T) {
	r := newRig(t, 4096)
	a := r.service(maps.RR, 1, 1)
	c := r.service(maps.RR, 1)
	c.Key.Port = 8080
	for i := range c.Backends {
		c.Backends[i].Addr = netip.AddrPortFrom(c.Backends[i].Addr.Addr(), 8080)
	}
	r.apply(a, c)
	client := fixture.Client(7)
	if s := r.syn(client); s < 0 {
		t.Fatal("flow not forwarded while its service exists")
	}
	if s := r.pkt(client, fixture.ACK); s < 0 {
		t.Fatal("established packet not forwarded while its service exists")
	}

	r.apply(c) // a removed: its id is free
	d := r.service(maps.RR, 1)
	d.Key.VIP = netip.MustParseAddr("192.168.101.200")
	d.Backends[0].Addr = netip.AddrPortFrom(netip.MustParseAddr("192.168.101.50"), r.top.Port)
	r.apply(c, d) // d takes a's id; port 80 and a's VIP are still in use
	before := r.counters()["pass_not_vip"]
	if s := r.pkt(client, fixture.ACK); s != -1 {
		t.Fatalf("packet of a removed service's flow forwarded to slot of rs%d", s+1)
	}
	if got := r.counters()["pass_not_vip"]; got != before+1 {
		t.Fatalf("pass_not_vip went %d -> %d, want +1", before, got)
	}
}

// An entry idle longer than its timeout is not used: the flow is
// scheduled afresh, as when the sweep has already removed it.
func TestIdleExpiredFlowIsRescheduled(t *testing.T) {
	r := newRig(t, 4096)
	spec := r.service(maps.RR, 1, 1)
	spec.Key.Proto = 17
	spec.UDPSec = 1
	r.apply(spec)
	udp := func(client netip.AddrPort) int {
		return r.send(fixture.Frame{Src: client, Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: 17, Payload: 32}.Build())
	}
	client := fixture.Client(3)
	first := udp(client)
	if first < 0 || udp(client) != first {
		t.Fatal("udp flow not kept on its real server")
	}
	before := r.counters()["conn_expired"]
	time.Sleep(2100 * time.Millisecond) // > 1 s timeout at coarse-clock resolution
	next := udp(client)
	if next < 0 {
		t.Fatal("expired flow's packet not forwarded")
	}
	if got := r.counters()["conn_expired"]; got != before+1 {
		t.Fatalf("conn_expired went %d -> %d, want +1", before, got)
	}
	// rr moved on since the flow's first packet: the fresh pick is the other server.
	if next == first {
		t.Fatalf("expired flow kept rs%d; rr should have picked the other server", first+1)
	}
}

// Packets that are not for a service pass without being counted as
// anything else, whichever of port and address differs.
func TestFilterPassesOtherTraffic(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(r.service(maps.RR, 1, 1))
	other := netip.MustParseAddr("192.168.101.222")
	cases := map[string]netip.AddrPort{
		"vip, other port":  netip.AddrPortFrom(r.top.VIP, r.top.Port+1),
		"other address":    netip.AddrPortFrom(other, r.top.Port),
		"other everything": netip.AddrPortFrom(other, 22),
	}
	for name, dst := range cases {
		before := r.counters()["pass_not_vip"]
		if s := r.send(fixture.Frame{Src: fixture.Client(1), Dst: dst, Proto: tcp, TCPFlags: fixture.SYN}.Build()); s != -1 {
			t.Fatalf("%s: forwarded to rs%d", name, s+1)
		}
		if got := r.counters()["pass_not_vip"]; got != before+1 {
			t.Fatalf("%s: pass_not_vip went %d -> %d, want +1", name, before, got)
		}
	}
}

// The datapath reads the time as jiffies (calibrated at load) and gives a
// flow an expiry on the flow clock (CLOCK_MONOTONIC_COARSE >> 24), which
// user space compares with its own reading (sweeps, listings): a new flow
// must expire one full timeout from now, give or take the clock's ticks.
func TestDatapathClockAgreesWithUserSpace(t *testing.T) {
	r := newRig(t, 4096)
	if err := r.dp.ClockCalibration(); err != nil {
		t.Fatalf("clock not calibrated: %v", err)
	}
	r.apply(r.service(maps.RR, 1, 1))
	const timeout = 900 * time.Second
	// A flow-clock tick (16.8 ms) either way, plus the datapath's jiffy
	// behind CLOCK_MONOTONIC_COARSE (10 ms at HZ 100).
	const slack = 17*time.Millisecond + 10*time.Millisecond
	for i := range 5 {
		if s := r.connect(fixture.Client(100 + i)); s < 0 {
			t.Fatal("flow not forwarded")
		}
		conns, err := r.dp.Maps.Conns.List(maps.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range conns {
			if c.Client != fixture.Client(100+i) {
				continue
			}
			found = true
			if d := c.Expires - timeout; d > 17*time.Millisecond || d < -slack-17*time.Millisecond {
				t.Fatalf("new flow expires in %v, want %v: datapath clock disagrees with CLOCK_MONOTONIC_COARSE", c.Expires, timeout)
			}
		}
		if !found {
			t.Fatal("flow not in the table")
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// pinnedOptions are a small datapath's options pinning in a bpffs
// directory of this test, removed at its end.
func pinnedOptions(t *testing.T, name string) loader.Options {
	t.Helper()
	requireRoot(t)
	pins := filepath.Join("/sys/fs/bpf", fmt.Sprintf("xlb-test-%s-%d", name, os.Getpid()))
	t.Cleanup(func() { loader.Cleanup(pins) })
	return loader.Options{PinDir: pins, ConnTableSize: 4096, PersistTableSize: 1024, DirectorMAC: fixture.DirectorMAC}
}

// A restarted daemon adopts the pinned connection table: it must load the
// datapath with the hash seed the table was filled with, or every flow
// would be looked for in the wrong buckets.
func TestPinnedFlowsSurviveReload(t *testing.T) {
	opts := pinnedOptions(t, "adopt")
	dp, err := loader.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dp: dp, top: fixture.Seed()}
	r.apply(r.service(maps.RR, 1, 1, 1))
	owner := make([]int, 300)
	for i := range owner {
		owner[i] = r.syn(fixture.Client(i))
	}
	if err := dp.Close(false); err != nil {
		t.Fatal(err)
	}
	dp, err = loader.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close(true)
	if !dp.Adopted() {
		t.Fatal("pinned maps not adopted")
	}
	r.dp = dp
	for i, o := range owner {
		if s := r.pkt(fixture.Client(i), fixture.ACK); s != o {
			t.Fatalf("flow %d went to server %d after the reload, %d before", i, s, o)
		}
	}
	if c := r.counters(); c["conn_new"] != uint64(len(owner)) {
		t.Fatalf("conn_new %d after the reload: flows were not found and recorded again", c["conn_new"])
	}
}
