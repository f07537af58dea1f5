package maps

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/xlb-project/xlb/bpf"
)

// FlagThresholds marks a service some real server of which has a
// connection limit; the datapath checks limits for these services only.
const FlagThresholds = uint8(bpf.XlbSvcFlagsXLB_SVC_THRESHOLDS)

// limitsOf is the datapath's form of a real server's connection limit.
// IPVS clears a server's overloaded flag once its connections fall below
// the lower threshold or, without one, below three quarters of the upper
// (ip_vs_unbind_dest: conns*4 < upper*3, i.e. conns < ceil(upper*3/4)).
func limitsOf(b BackendSpec) bpf.XlbBackendLimits {
	if b.UpperThreshold == 0 {
		return bpf.XlbBackendLimits{}
	}
	lower := b.LowerThreshold
	if lower == 0 {
		lower = uint32((uint64(b.UpperThreshold)*3 + 3) / 4)
	}
	return bpf.XlbBackendLimits{Upper: b.UpperThreshold, Lower: lower}
}

// overloadAfter is a server's overloaded flag once its connections are
// counted afresh: set at the upper limit, cleared below the lower one,
// kept in between (the hysteresis IPVS applies).
func overloadAfter(l bpf.XlbBackendLimits, was bool, conns int64) bool {
	switch {
	case l.Upper == 0:
		return false
	case conns >= int64(l.Upper):
		return true
	case conns < int64(l.Lower):
		return false
	}
	return was
}

// writeLimits sets slot id's connection limit. A changed limit is judged
// at once against the slot's current connections, so lowering it below
// them stops new flows now rather than at the next sweep.
func writeLimits(m *bpf.XlbMaps, id uint32, l bpf.XlbBackendLimits) error {
	var old bpf.XlbBackendLimits
	if err := m.ConnLimits.Lookup(id, &old); err != nil {
		return fmt.Errorf("read connection limit of slot %d: %w", id, err)
	}
	if old == l {
		return nil
	}
	if err := m.ConnLimits.Update(id, l, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write connection limit of slot %d: %w", id, err)
	}
	var cc bpf.XlbBackendConns
	if err := m.ConnCounts.Lookup(id, &cc); err != nil {
		return fmt.Errorf("read connection counts of slot %d: %w", id, err)
	}
	return writeOverload(m, id, overloadAfter(l, false, max(cc.Active, 0)+max(cc.Inactive, 0)))
}

func writeOverload(m *bpf.XlbMaps, id uint32, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	if err := m.BackendOverload.Update(id, v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write overloaded flag of slot %d: %w", id, err)
	}
	return nil
}

// readLimits returns slot id's limit and overloaded flag.
func readLimits(m *bpf.XlbMaps, id uint32) (bpf.XlbBackendLimits, bool, error) {
	var l bpf.XlbBackendLimits
	var o uint32
	if err := m.ConnLimits.Lookup(id, &l); err != nil {
		return l, false, fmt.Errorf("read connection limit of slot %d: %w", id, err)
	}
	if err := m.BackendOverload.Lookup(id, &o); err != nil {
		return l, false, fmt.Errorf("read overloaded flag of slot %d: %w", id, err)
	}
	return l, o != 0, nil
}

// updateOverload re-judges every limited slot against the counts a sweep
// just wrote: the datapath only ever sets the flag (it does not see
// flows idle out), so clearing it is the sweep's job.
func updateOverload(m *bpf.XlbMaps, ids []uint32, res SweepResult) error {
	for _, id := range ids {
		var l bpf.XlbBackendLimits
		if err := m.ConnLimits.Lookup(id, &l); err != nil {
			return fmt.Errorf("read connection limit of slot %d: %w", id, err)
		}
		if l.Upper == 0 {
			// Unlimited: writeLimits cleared its flag when the limit
			// went, and the datapath sets it only against a limit.
			continue
		}
		var o uint32
		if err := m.BackendOverload.Lookup(id, &o); err != nil {
			return fmt.Errorf("read overloaded flag of slot %d: %w", id, err)
		}
		was := o != 0
		if now := overloadAfter(l, was, res.Active[id]+res.Inactive[id]); now != was {
			if err := writeOverload(m, id, now); err != nil {
				return err
			}
		}
	}
	return nil
}
