package dpcost

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/xlb-project/xlb/maps"
)

// SuiteCase is a Case with its table size (the rig is built per size).
type SuiteCase struct {
	Case
	TableSize int
	// Flows is the number of new flows a run of a new-flow case makes
	// (0: the suite's default, 1,000,000).
	Flows int
}

// Suite lists the cases of `xlb bench` (issue: datapath cost): every
// scheduler's new-flow cost, established TCP and UDP, pass-through, with
// 1/100/1000 real servers and 1k to 10M flows already in the table. Quick
// keeps one case of each kind, for CI's smoke run.
func Suite(quick bool) []SuiteCase {
	var out []SuiteCase
	add := func(c Case, size int) { out = append(out, SuiteCase{Case: c, TableSize: size}) }
	addN := func(c Case, size, flows int) { out = append(out, SuiteCase{Case: c, TableSize: size, Flows: flows}) }
	if quick {
		add(Case{Name: "harness-floor", Scheduler: maps.RR, Backends: 2, Kind: Floor}, 1<<16)
		add(Case{Name: "established-tcp", Scheduler: maps.RR, Backends: 2, Kind: Established}, 1<<16)
		add(Case{Name: "new-flow-tcp-rr", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<16)
		add(Case{Name: "new-flow-front-floor", Scheduler: maps.RR, Backends: 2, Kind: FlowsFloor}, 1<<16)
		add(Case{Name: "kernel-lru-insert-64k", Scheduler: maps.RR, Backends: 2, Kind: LRUInsert}, 1<<16)
		add(Case{Name: "cold-bucket-read-64k", Scheduler: maps.RR, Backends: 2, Kind: ColdRead}, 1<<16)
		add(Case{Name: "pass-non-vip", Scheduler: maps.RR, Backends: 2, Kind: Pass}, 1<<16)
		add(Case{Name: "established-tcp-tun-gue", Scheduler: maps.RR, Backends: 2, Kind: Restored, Tunnel: TunGUE}, 1<<16)
		return out
	}
	add(Case{Name: "harness-floor", Scheduler: maps.RR, Backends: 2, Kind: Floor}, 1<<16)
	add(Case{Name: "pass-non-vip", Scheduler: maps.RR, Backends: 2, Kind: Pass}, 1<<20)
	add(Case{Name: "established-tcp", Scheduler: maps.RR, Backends: 2, Kind: Established}, 1<<20)
	// What the new-flow rows' front program (a new client every
	// repetition) costs on its own: it is included in each of them.
	add(Case{Name: "new-flow-front-floor", Scheduler: maps.RR, Backends: 2, Kind: FlowsFloor}, 1<<16)
	// New flows filling a fresh 64k table to its nominal size (its 2.8 MB
	// of buckets mostly in cache), the same table overfilled (1M flows:
	// every insert from the 65,537th on evicts), and the default 1M table
	// (below), where every new flow misses the CPU caches.
	addN(Case{Name: "new-flow-tcp-rr-64k-table", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<16, 1<<16)
	// The same fill into tables of 4k and 16k flows (175 and 700 KB of
	// buckets: they stay in a core's L2), beside a random bucket read at
	// those sizes: how much of a new flow's cost is the table's memory.
	for _, size := range []int{1 << 12, 1 << 14} {
		addN(Case{Name: fmt.Sprintf("new-flow-tcp-rr-%dk-table", size>>10), Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, size, size)
		add(Case{Name: fmt.Sprintf("cold-bucket-read-%dk", size>>10), Scheduler: maps.RR, Backends: 2, Kind: ColdRead}, size)
	}
	add(Case{Name: "new-flow-tcp-rr-64k-table-overfull", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<16)
	// What the kernel's LRU hash alone costs a new flow (the table xlb
	// used before its own), at both sizes; and the latency of one read of
	// a random bucket in arrays of the tables' sizes: the floor under any
	// new flow there (see bench/README.md).
	addN(Case{Name: "kernel-lru-insert-64k", Scheduler: maps.RR, Backends: 2, Kind: LRUInsert}, 1<<16, 1<<16)
	add(Case{Name: "kernel-lru-insert-1m", Scheduler: maps.RR, Backends: 2, Kind: LRUInsert}, 1<<20)
	add(Case{Name: "cold-bucket-read-64k", Scheduler: maps.RR, Backends: 2, Kind: ColdRead}, 1<<16)
	add(Case{Name: "cold-bucket-read-1m", Scheduler: maps.RR, Backends: 2, Kind: ColdRead}, 1<<20)
	for _, s := range []maps.Scheduler{maps.RR, maps.WRR, maps.WLC, maps.SH, maps.MH, maps.LC, maps.SED, maps.NQ} {
		for _, n := range []int{1, 100, 1000} {
			add(Case{Name: fmt.Sprintf("new-flow-tcp-%s-%drs", SchedulerName(s), n), Scheduler: s, Backends: n, Kind: NewFlow}, 1<<20)
		}
	}
	// What connection limits (uthreshold) cost a new flow when no server
	// reaches its limit, beside the same cases without limits above.
	add(Case{Name: "new-flow-tcp-rr-2rs-limited", Scheduler: maps.RR, Backends: 2, Kind: NewFlow, Limited: true}, 1<<20)
	add(Case{Name: "new-flow-tcp-wlc-100rs-limited", Scheduler: maps.WLC, Backends: 100, Kind: NewFlow, Limited: true}, 1<<20)
	add(Case{Name: "new-flow-udp-rr", Scheduler: maps.RR, Backends: 2, Proto: 17, Kind: NewFlow}, 1<<20)
	add(Case{Name: "new-flow-tcp-rr-sharing-off", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<20)
	add(Case{Name: "new-flow-tcp-rr-sharing-on", Scheduler: maps.RR, Backends: 2, Kind: NewFlow, FlowEvents: true}, 1<<20)
	add(Case{Name: "established-udp", Scheduler: maps.RR, Backends: 2, Proto: 17, Kind: Established}, 1<<20)
	// LVS TUN: established packets encapsulated in IPIP, GRE and GUE,
	// beside DR in the same harness (each repetition on the frame as
	// built, so the rows differ by the encapsulation alone), and that
	// harness's own floor.
	add(Case{Name: "restore-front-floor", Scheduler: maps.RR, Backends: 2, Kind: RestoreFloor}, 1<<16)
	add(Case{Name: "established-tcp-dr-restored", Scheduler: maps.RR, Backends: 2, Kind: Restored}, 1<<20)
	for _, tun := range []struct {
		name string
		t    Tunnel
	}{{"ipip", TunIPIP}, {"gre", TunGRE}, {"gue", TunGUE}} {
		add(Case{Name: "established-tcp-tun-" + tun.name, Scheduler: maps.RR, Backends: 2, Kind: Restored, Tunnel: tun.t}, 1<<20)
	}
	for _, fill := range []int{1_000, 100_000, 1_000_000, 10_000_000} {
		size := max(fill+fill/4, 1<<16)
		add(Case{Name: fmt.Sprintf("established-tcp-%dflows", fill), Scheduler: maps.RR, Backends: 2, Kind: Established, Prefill: fill}, size)
		add(Case{Name: fmt.Sprintf("new-flow-tcp-rr-%dflows", fill), Scheduler: maps.RR, Backends: 2, Kind: NewFlow, Prefill: fill}, size)
	}
	return out
}

// SuiteResult is one measured case of the suite.
type SuiteResult struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Scheduler   string `json:"scheduler"`
	Proto       string `json:"proto"`
	RealServers int    `json:"real_servers"`
	TableFlows  int    `json:"table_flows"`
	TableSize   int    `json:"table_size"`
	Packets     int    `json:"packets"`
	// NsPerPacket is the median of Repeats runs of Packets packets each
	// (the machine's neighbours move single runs by ±30 %); NsMin the
	// fastest run.
	NsPerPacket float64 `json:"ns_per_packet"`
	NsMin       float64 `json:"ns_min"`
	Repeats     int     `json:"repeats"`
	// BytesPerFlow is the IPv4 connection table's kernel memory divided
	// by its nominal size (conn_table_size flows; it is preallocated).
	BytesPerFlow float64 `json:"bytes_per_flow"`
}

// RunSuite measures every case, printing a progress line per case.
//
// Each case runs several times and reports the median (the machine's
// neighbours move single runs by ±30 %) and the fastest run. A new-flow
// run is one BPF_PROG_TEST_RUN of 1,000,000 new flows (or the case's
// Flows) into a fresh table (a new rig each run: the 1M and the 64k
// tables then end exactly at their nominal fill, the overfilled 64k one
// evicts from its 65,537th flow); with a prefilled table, runs of 100,000
// share the rig rather than refill 10M flows.
// RunSuite runs the cases of Suite(quick) whose name want accepts (nil:
// all of them).
func RunSuite(w io.Writer, quick bool, want func(name string) bool) ([]SuiteResult, error) {
	packets, newFlows, repeats := 1_000_000, 1_000_000, 5
	if quick {
		packets, newFlows, repeats = 1_000_000, 20_000, 3
	}
	var out []SuiteResult
	for _, sc := range Suite(quick) {
		if want != nil && !want(sc.Name) {
			continue
		}
		start := time.Now()
		res, err := runCase(sc, packets, newFlows, repeats, quick)
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc.Name, err)
		}
		fmt.Fprintf(w, "%-34s %8.1f ns/packet (min %6.1f)  %6.1f B/flow  (%s)\n", res.Name, res.NsPerPacket, res.NsMin, res.BytesPerFlow, time.Since(start).Round(time.Millisecond))
		out = append(out, res)
	}
	return out, nil
}

func runCase(sc SuiteCase, packets, newFlows, repeats int, quick bool) (SuiteResult, error) {
	proto := sc.proto()
	newFlow := sc.Kind == NewFlow || sc.Kind == LRUInsert || sc.Kind == ColdRead
	n := packets
	if newFlow {
		n = newFlows
		if sc.Prefill > 0 {
			n = 100_000
		}
		if sc.Flows > 0 && !quick {
			n = sc.Flows
			repeats *= 3 // short runs: more of them steady the median
		}
	}
	freshEach := newFlow && sc.Prefill == 0 && !quick
	var r *Rig
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	setup := func() error {
		if r != nil {
			r.Close()
		}
		var err error
		if r, err = NewRig(sc.TableSize); err != nil {
			return err
		}
		if err := r.Configure(sc.Case); err != nil {
			return err
		}
		if sc.Prefill > 0 {
			return r.Prefill(sc.Prefill, proto)
		}
		return nil
	}
	if !newFlow && !quick {
		repeats *= 3 // 50 ms a run: more of them steady the median
	}
	runs := make([]float64, repeats)
	for i := range runs {
		if i == 0 || freshEach {
			if err := setup(); err != nil {
				return SuiteResult{}, err
			}
		}
		m, err := r.Measure(sc.Case, n)
		if err != nil {
			return SuiteResult{}, err
		}
		runs[i] = m.NsPerPacket
	}
	slices.Sort(runs)
	flows, _, err := r.DP.Maps.Conns.MemoryBytes()
	if err != nil {
		return SuiteResult{}, err
	}
	p := "tcp"
	if proto == 17 {
		p = "udp"
	}
	return SuiteResult{
		Name: sc.Name, Kind: sc.Kind.String(), Scheduler: SchedulerName(sc.Scheduler), Proto: p,
		RealServers: sc.Backends, TableFlows: sc.Prefill, TableSize: sc.TableSize,
		Packets: n, NsPerPacket: runs[len(runs)/2], NsMin: runs[0], Repeats: repeats,
		BytesPerFlow: float64(flows) / float64(sc.TableSize),
	}, nil
}
