package dpcost

import (
	"fmt"
	"io"
	"time"

	"github.com/xlb-project/xlb/maps"
)

// SuiteCase is a Case with its table size (the rig is built per size).
type SuiteCase struct {
	Case
	TableSize int
}

// Suite lists the cases of `xlb bench` (issue: datapath cost): every
// scheduler's new-flow cost, established TCP and UDP, pass-through, with
// 1/100/1000 real servers and 1k to 10M flows already in the table. Quick
// keeps one case of each kind, for CI's smoke run.
func Suite(quick bool) []SuiteCase {
	var out []SuiteCase
	add := func(c Case, size int) { out = append(out, SuiteCase{Case: c, TableSize: size}) }
	if quick {
		add(Case{Name: "harness-floor", Scheduler: maps.RR, Backends: 2, Kind: Floor}, 1<<16)
		add(Case{Name: "established-tcp", Scheduler: maps.RR, Backends: 2, Kind: Established}, 1<<16)
		add(Case{Name: "new-flow-tcp-rr", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<16)
		add(Case{Name: "pass-non-vip", Scheduler: maps.RR, Backends: 2, Kind: Pass}, 1<<16)
		return out
	}
	add(Case{Name: "harness-floor", Scheduler: maps.RR, Backends: 2, Kind: Floor}, 1<<16)
	add(Case{Name: "pass-non-vip", Scheduler: maps.RR, Backends: 2, Kind: Pass}, 1<<20)
	add(Case{Name: "established-tcp", Scheduler: maps.RR, Backends: 2, Kind: Established}, 1<<20)
	// A table whose buckets stay in cache, and the default 1M table,
	// where every new flow misses the CPU caches (see bench/README.md).
	add(Case{Name: "new-flow-tcp-rr-64k-table", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<16)
	for _, s := range []maps.Scheduler{maps.RR, maps.WRR, maps.WLC, maps.SH, maps.MH} {
		for _, n := range []int{1, 100, 1000} {
			add(Case{Name: fmt.Sprintf("new-flow-tcp-%s-%drs", SchedulerName(s), n), Scheduler: s, Backends: n, Kind: NewFlow}, 1<<20)
		}
	}
	add(Case{Name: "new-flow-udp-rr", Scheduler: maps.RR, Backends: 2, Proto: 17, Kind: NewFlow}, 1<<20)
	add(Case{Name: "new-flow-tcp-rr-sharing-off", Scheduler: maps.RR, Backends: 2, Kind: NewFlow}, 1<<20)
	add(Case{Name: "new-flow-tcp-rr-sharing-on", Scheduler: maps.RR, Backends: 2, Kind: NewFlow, FlowEvents: true}, 1<<20)
	add(Case{Name: "established-udp", Scheduler: maps.RR, Backends: 2, Proto: 17, Kind: Established}, 1<<20)
	for _, fill := range []int{1_000, 100_000, 1_000_000, 10_000_000} {
		size := max(fill+fill/4, 1<<16)
		add(Case{Name: fmt.Sprintf("established-tcp-%dflows", fill), Scheduler: maps.RR, Backends: 2, Kind: Established, Prefill: fill}, size)
		add(Case{Name: fmt.Sprintf("new-flow-tcp-rr-%dflows", fill), Scheduler: maps.RR, Backends: 2, Kind: NewFlow, Prefill: fill}, size)
	}
	return out
}

// SuiteResult is one measured case of the suite.
type SuiteResult struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	Scheduler   string  `json:"scheduler"`
	Proto       string  `json:"proto"`
	RealServers int     `json:"real_servers"`
	TableFlows  int     `json:"table_flows"`
	TableSize   int     `json:"table_size"`
	Packets     int     `json:"packets"`
	NsPerPacket float64 `json:"ns_per_packet"`
	// BytesPerFlow is the connection table's kernel memory divided by its
	// capacity (LRU tables are preallocated).
	BytesPerFlow float64 `json:"bytes_per_flow"`
}

// RunSuite measures every case, printing a progress line per case.
func RunSuite(w io.Writer, quick bool) ([]SuiteResult, error) {
	packets := 1_000_000
	newFlows := 200_000
	if quick {
		packets, newFlows = 1_000_000, 20_000
	}
	var out []SuiteResult
	for _, sc := range Suite(quick) {
		start := time.Now()
		r, err := NewRig(sc.TableSize)
		if err != nil {
			return out, err
		}
		res, err := func() (SuiteResult, error) {
			defer r.Close()
			proto := sc.Proto
			if proto == 0 {
				proto = 6
			}
			if err := r.Configure(sc.Scheduler, proto, sc.Backends); err != nil {
				return SuiteResult{}, err
			}
			if sc.Prefill > 0 {
				if err := r.Prefill(sc.Prefill, proto); err != nil {
					return SuiteResult{}, err
				}
			}
			n := packets
			if sc.Kind == NewFlow {
				n = newFlows
			}
			m, err := r.Measure(sc.Case, n)
			if err != nil {
				return SuiteResult{}, err
			}
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
				Packets: n, NsPerPacket: m.NsPerPacket,
				BytesPerFlow: float64(flows) / float64(sc.TableSize),
			}, nil
		}()
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc.Name, err)
		}
		fmt.Fprintf(w, "%-34s %8.1f ns/packet  %6.1f B/flow  (%s)\n", res.Name, res.NsPerPacket, res.BytesPerFlow, time.Since(start).Round(time.Millisecond))
		out = append(out, res)
	}
	return out, nil
}
