package loader_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

// Connection limits (ipvsadm -x/-y, keepalived uthreshold/lthreshold):
// a real server at its upper threshold takes no new flows, in every
// scheduler, until its connections fall below the lower one.

// limited is the rig's service with real server i limited to upper/lower.
func limited(svc maps.ServiceSpec, i int, upper, lower uint32) maps.ServiceSpec {
	svc.Backends = slices.Clone(svc.Backends)
	svc.Backends[i].UpperThreshold = upper
	svc.Backends[i].LowerThreshold = lower
	return svc
}

// sweepAt runs the connection-table sweep as if it ran after d, so flows
// idle for less than d are counted and older ones are reaped.
func (r *rig) sweepAt(d time.Duration) {
	r.t.Helper()
	if _, err := r.dp.Maps.Conns.Sweep(maps.Now() + uint64(d)); err != nil {
		r.t.Fatalf("sweep: %v", err)
	}
}

// overloaded reports the datapath's overloaded flag of real server i.
func (r *rig) overloaded(i int) bool {
	r.t.Helper()
	svcs, err := r.dp.Maps.Services.List()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, b := range svcs[0].Backends {
		if b.Addr.Addr() == serverAddr(i) {
			return b.Overloaded
		}
	}
	r.t.Fatalf("rs%d not listed", i+1)
	return false
}

func TestThresholdStopsNewFlowsInEveryScheduler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sched maps.Scheduler
		// weights make the limited rs1 the scheduler's favourite.
		weights []uint32
	}{
		{"rr", maps.RR, []uint32{1, 1, 1}},
		{"wrr", maps.WRR, []uint32{5, 1, 1}},
		{"wlc", maps.WLC, []uint32{100, 1, 1}},
		{"lc", maps.LC, []uint32{1, 1, 1}},
		{"sed", maps.SED, []uint32{100, 1, 1}},
		{"nq", maps.NQ, []uint32{100, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 4096)
			r.apply(limited(r.service(tc.sched, tc.weights...), 0, 3, 0))
			n := make([]int, 3)
			owner := make([]int, 30)
			for i := range owner {
				owner[i] = r.syn(fixture.Client(i))
				if owner[i] < 0 {
					t.Fatalf("flow %d not forwarded", i)
				}
				n[owner[i]]++
			}
			if n[0] != 3 {
				t.Fatalf("rs1 (upper threshold 3) got %d of 30 new flows (%v), want exactly 3", n[0], n)
			}
			if !r.overloaded(0) {
				t.Fatal("rs1 at its threshold is not flagged overloaded")
			}
			// Its flows stay with it.
			for i, s := range owner {
				if got := r.pkt(fixture.Client(i), fixture.ACK); got != s {
					t.Fatalf("flow %d moved from rs%d to rs%d", i, s+1, got+1)
				}
			}
		})
	}
}

// rr goes on after the server it took instead of giving the one after
// the overloaded server its turns too.
func TestThresholdKeepsRoundRobinEven(t *testing.T) {
	r := newRig(t, 4096)
	r.apply(limited(r.service(maps.RR, 1, 1, 1), 0, 1, 0))
	var got []int
	for i := range 9 {
		got = append(got, r.syn(fixture.Client(i))+1)
	}
	// rs1 takes one flow, then rs2 and rs3 alternate.
	if want := []int{1, 2, 3, 2, 3, 2, 3, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("rr with rs1 limited to 1 sent flows to %v, want %v", got, want)
	}
}

// sh and mh: a client whose server is full goes to the next one of the
// table (always the same one), as IPVS's sh-fallback.
func TestThresholdHashedFallsBack(t *testing.T) {
	for _, sched := range []maps.Scheduler{maps.SH, maps.MH} {
		r := newRig(t, 4096)
		svc := r.service(sched, 1, 1, 1)
		r.apply(svc)
		ip := fixture.Client(5).Addr()
		home := r.syn(netip.AddrPortFrom(ip, 2000))
		r.apply(limited(svc, home, 2, 0))
		var got []int
		for port := 1; port < 8; port++ {
			got = append(got, r.syn(netip.AddrPortFrom(ip, uint16(2000+port))))
		}
		if got[0] != home {
			t.Fatalf("%v: second flow went to rs%d, want its home rs%d (one connection of 2)", sched, got[0]+1, home+1)
		}
		other := got[1]
		if other == home || other < 0 {
			t.Fatalf("%v: flows after rs%d filled went to %v", sched, home+1, got)
		}
		for _, s := range got[1:] {
			if s != other {
				t.Fatalf("%v: the client's flows after its server filled spread over %v, want one fallback server", sched, got)
			}
		}
	}
}

// fillFirst configures wlc with rs1 (the favourite, weight 100) limited to
// upper/lower and closed flows idling out after 10 s, and opens flows
// until rs1 holds upper of them; it returns rs1's clients.
func (r *rig) fillFirst(upper, lower uint32) []netip.AddrPort {
	r.t.Helper()
	svc := limited(r.service(maps.WLC, 100, 1), 0, upper, lower)
	svc.TCPFinSec = 10
	r.apply(svc)
	var mine []netip.AddrPort
	for i := 0; len(mine) < int(upper); i++ {
		if i > 5*int(upper) {
			r.t.Fatalf("rs1 took %d of %d flows, want %d", len(mine), i, upper)
		}
		if c := fixture.Client(i); r.syn(c) == 0 {
			mine = append(mine, c)
		}
	}
	return mine
}

// IPVS's hysteresis: the flag set at the upper threshold is cleared only
// below the lower one (or three quarters of the upper without one), by
// the sweep that sees connections idle out. Closed connections still
// count until they expire, as IPVS counts inactive ones.
func TestThresholdHysteresis(t *testing.T) {
	r := newRig(t, 4096)
	mine := r.fillFirst(4, 2)
	if s := r.syn(fixture.Client(100)); s != 1 {
		t.Fatalf("rs1 with 4 connections of 4 took a new flow (rs%d)", s+1)
	}
	// Closing one: inactive, still counted.
	r.pkt(mine[0], fixture.FIN|fixture.ACK)
	r.sweepAt(0)
	if !r.overloaded(0) {
		t.Fatal("a closed but unexpired connection cleared the flag")
	}
	// Closed ones idle out (10 s) while the active ones (900 s) stay: 2
	// left, not below the lower threshold 2.
	r.pkt(mine[1], fixture.FIN|fixture.ACK)
	r.sweepAt(11 * time.Second)
	if !r.overloaded(0) {
		t.Fatal("2 connections (lower threshold 2) cleared the flag")
	}
	if s := r.syn(fixture.Client(101)); s != 1 {
		t.Fatalf("rs1 still overloaded took a new flow (rs%d)", s+1)
	}
	r.pkt(mine[2], fixture.FIN|fixture.ACK)
	r.sweepAt(11 * time.Second)
	if r.overloaded(0) {
		t.Fatal("1 connection, below the lower threshold 2, and rs1 still overloaded")
	}
	if s := r.syn(fixture.Client(102)); s != 0 {
		t.Fatalf("rs1 below its lower threshold did not take the new flow (rs%d)", s+1)
	}
}

// Without a lower threshold IPVS clears the flag below three quarters of
// the upper one: 4 → overloaded until under 3.
func TestThresholdDefaultLower(t *testing.T) {
	r := newRig(t, 4096)
	mine := r.fillFirst(4, 0)
	r.pkt(mine[0], fixture.FIN|fixture.ACK)
	r.sweepAt(11 * time.Second)
	if !r.overloaded(0) {
		t.Fatal("3 connections of upper 4 (clears under 3) cleared the flag")
	}
	r.pkt(mine[1], fixture.FIN|fixture.ACK)
	r.sweepAt(11 * time.Second)
	if r.overloaded(0) {
		t.Fatal("2 connections, under three quarters of 4, left rs1 overloaded")
	}
}

// A lowered limit applies at once to the connections already there; a
// removed limit frees the server.
func TestThresholdChangedByReload(t *testing.T) {
	r := newRig(t, 4096)
	svc := r.service(maps.WLC, 100, 1)
	r.apply(svc)
	for i := range 5 {
		r.syn(fixture.Client(i))
	}
	r.apply(limited(svc, 0, 3, 0))
	if s := r.syn(fixture.Client(50)); s != 1 {
		t.Fatalf("rs1 above its new limit took a new flow (rs%d)", s+1)
	}
	r.apply(svc)
	if s := r.syn(fixture.Client(51)); s != 0 {
		t.Fatalf("rs1 without a limit any more did not take the new flow (rs%d)", s+1)
	}
}

// Every server full: the flow is refused, as IPVS has no destination.
func TestThresholdAllFullDrops(t *testing.T) {
	r := newRig(t, 4096)
	svc := limited(limited(r.service(maps.RR, 1, 1), 0, 1, 0), 1, 1, 0)
	r.apply(svc)
	r.syn(fixture.Client(0))
	r.syn(fixture.Client(1))
	before := r.counters()["drop_no_backend"]
	if s := r.syn(fixture.Client(2)); s != -1 {
		t.Fatalf("third flow went to rs%d with both servers at their limit of 1", s+1)
	}
	if r.counters()["drop_no_backend"] != before+1 {
		t.Fatal("refused flow not counted in drop_no_backend")
	}
}

// A client's persistence template outranks the limit, as in IPVS (the
// template's server is used while it is available).
func TestThresholdPersistentClientStays(t *testing.T) {
	r := newRig(t, 4096)
	svc := limited(r.service(maps.RR, 1, 1), 0, 1, 0)
	svc.PersistSec = 60
	r.apply(svc)
	ip := fixture.Client(3).Addr()
	first := r.syn(netip.AddrPortFrom(ip, 3000))
	if first != 0 {
		t.Fatalf("first flow went to rs%d, want rs1", first+1)
	}
	if s := r.syn(netip.AddrPortFrom(ip, 3001)); s != 0 {
		t.Fatalf("persistent client's second flow went to rs%d, want its template's rs1", s+1)
	}
	if s := r.syn(fixture.Client(9)); s != 1 {
		t.Fatalf("another client's flow went to the full rs%d", s+1)
	}
}

// An upgrade from an xlb without connection limits: its pinned maps lack
// conn_limits and backend_overload. They are created beside the adopted
// ones, the flows stay put, and limits work at once.
func TestThresholdMapsAddedToOlderPins(t *testing.T) {
	opts := pinnedOptions(t, "limits")
	pins := opts.PinDir
	dp, err := loader.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dp: dp, top: fixture.Seed()}
	svc := r.service(maps.WLC, 100, 1)
	r.apply(svc)
	owner := make([]int, 10)
	for i := range owner {
		owner[i] = r.syn(fixture.Client(i))
	}
	if err := dp.Close(false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"conn_limits", "backend_overload"} {
		if err := os.Remove(filepath.Join(pins, name)); err != nil {
			t.Fatalf("pinned %s: %v", name, err)
		}
	}
	dp, err = loader.Load(opts)
	if err != nil {
		t.Fatalf("pins of an xlb without limits: %v", err)
	}
	defer dp.Close(true)
	if !dp.Adopted() {
		t.Fatal("pinned maps not adopted")
	}
	r.dp = dp
	for i, o := range owner {
		if s := r.pkt(fixture.Client(i), fixture.ACK); s != o {
			t.Fatalf("flow %d went to rs%d after the upgrade, rs%d before", i, s+1, o+1)
		}
	}
	r.apply(limited(svc, 0, 5, 0))
	if s := r.syn(fixture.Client(50)); s != 1 {
		t.Fatalf("rs1 above its new limit of 5 took a new flow (rs%d)", s+1)
	}
}
