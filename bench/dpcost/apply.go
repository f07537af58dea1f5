package dpcost

import (
	"net"
	"net/netip"
	"time"

	"github.com/xlb-project/xlb/maps"
)

// ApplyResult is the control plane's cost of configuring a service.
type ApplyResult struct {
	Scheduler   string  `json:"scheduler"`
	RealServers int     `json:"real_servers"`
	FirstMs     float64 `json:"first_apply_ms"`  // from empty maps
	ChangeMs    float64 `json:"change_apply_ms"` // one real server's weight changed
}

// ApplyCost measures maps.Services.Apply for a service of n real servers:
// the first apply (slots, ring, service) and an apply that changes one
// weight (a diff: one slot and a new ring).
func ApplyCost(n int, s maps.Scheduler) (ApplyResult, error) {
	r, err := NewRig(1 << 16)
	if err != nil {
		return ApplyResult{}, err
	}
	defer r.Close()
	spec := maps.ServiceSpec{Key: maps.Key{VIP: r.top.VIP, Port: r.top.Port, Proto: 6}, Scheduler: s, TCPSec: 900, TCPFinSec: 120, UDPSec: 300}
	for i := range n {
		spec.Backends = append(spec.Backends, maps.BackendSpec{
			Addr:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), r.top.Port),
			MAC:    net.HardwareAddr{2, 0, 0, 1, byte(i >> 8), byte(i)},
			Weight: 1, Available: true,
		})
	}
	start := time.Now()
	if err := r.DP.Maps.Services.Apply([]maps.ServiceSpec{spec}); err != nil {
		return ApplyResult{}, err
	}
	first := time.Since(start)
	spec.Backends[n/2].Weight = 2
	start = time.Now()
	if err := r.DP.Maps.Services.Apply([]maps.ServiceSpec{spec}); err != nil {
		return ApplyResult{}, err
	}
	change := time.Since(start)
	return ApplyResult{Scheduler: SchedulerName(s), RealServers: n, FirstMs: ms(first), ChangeMs: ms(change)}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
