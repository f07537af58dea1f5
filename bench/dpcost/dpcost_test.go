package dpcost_test

import (
	"os"
	"testing"

	"github.com/xlb-project/xlb/bench/dpcost"
	"github.com/xlb-project/xlb/maps"
)

// BenchmarkDatapath reports the kernel-measured ns per packet (ns/op) of
// the cases users care about. Run: go test -run x -bench Datapath ./bench/dpcost/
func BenchmarkDatapath(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipped: needs root to load the XDP program")
	}
	cases := []dpcost.Case{
		{Name: "established-tcp", Scheduler: maps.RR, Backends: 2, Kind: dpcost.Established},
		{Name: "pass-non-vip", Scheduler: maps.RR, Backends: 2, Kind: dpcost.Pass},
		{Name: "new-flow-rr-limited", Scheduler: maps.RR, Backends: 2, Kind: dpcost.NewFlow, Limited: true},
		{Name: "established-dr-restored", Scheduler: maps.RR, Backends: 2, Kind: dpcost.Restored},
		{Name: "established-tun-ipip", Scheduler: maps.RR, Backends: 2, Kind: dpcost.Restored, Tunnel: dpcost.TunIPIP},
		{Name: "established-tun-gre", Scheduler: maps.RR, Backends: 2, Kind: dpcost.Restored, Tunnel: dpcost.TunGRE},
		{Name: "established-tun-gue", Scheduler: maps.RR, Backends: 2, Kind: dpcost.Restored, Tunnel: dpcost.TunGUE},
	}
	cases = append(cases, dpcost.Case{Name: "new-flow-rr-sharing", Scheduler: maps.RR, Backends: 2, Kind: dpcost.NewFlow, FlowEvents: true})
	for _, s := range []maps.Scheduler{maps.RR, maps.WRR, maps.WLC, maps.SH, maps.MH} {
		cases = append(cases, dpcost.Case{Name: "new-flow-" + dpcost.SchedulerName(s), Scheduler: s, Backends: 2, Kind: dpcost.NewFlow})
	}
	for _, c := range cases {
		b.Run(c.Name, func(b *testing.B) {
			r, err := dpcost.NewRig(1 << 20)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if err := r.Configure(c); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			res, err := r.Measure(c, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.NsPerPacket, "ns/op")
		})
	}
}
