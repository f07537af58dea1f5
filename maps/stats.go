package maps

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/xlb-project/xlb/bpf"
)

// Stats reads the datapath's counters. Per-CPU values are summed here, at
// read time, so the packet path never contends on a shared cache line.
type Stats struct {
	m *bpf.XlbMaps
}

// CounterNames names the global datapath counters by their enum position
// (bpf/consts.h enum stat_counter); they become the reason label of
// xlb_datapath_packets_total.
func CounterNames() []string {
	n := map[bpf.XlbStatCounter]string{
		bpf.XlbStatCounterXLB_STAT_PASS_NON_IP:       "pass_non_ip",
		bpf.XlbStatCounterXLB_STAT_PASS_NOT_VIP:      "pass_not_vip",
		bpf.XlbStatCounterXLB_STAT_TX:                "tx",
		bpf.XlbStatCounterXLB_STAT_DROP_MALFORMED_L2: "drop_malformed_l2",
		bpf.XlbStatCounterXLB_STAT_DROP_MALFORMED_L3: "drop_malformed_l3",
		bpf.XlbStatCounterXLB_STAT_DROP_MALFORMED_L4: "drop_malformed_l4",
		bpf.XlbStatCounterXLB_STAT_PASS_FRAGMENT:     "pass_fragment",
		bpf.XlbStatCounterXLB_STAT_DROP_NO_BACKEND:   "drop_no_backend",
		bpf.XlbStatCounterXLB_STAT_CONN_NEW:          "conn_new",
		bpf.XlbStatCounterXLB_STAT_CONN_EXPIRED:      "conn_expired",
		bpf.XlbStatCounterXLB_STAT_CONN_RESCHED:      "conn_resched",
		bpf.XlbStatCounterXLB_STAT_CONN_INSERT_FAIL:  "conn_insert_fail",
		bpf.XlbStatCounterXLB_STAT_PERSIST_HIT:       "persist_hit",
		bpf.XlbStatCounterXLB_STAT_PASS_NO_CONN_RST:  "pass_no_conn_rst",
		bpf.XlbStatCounterXLB_STAT_SYN_GUARD:         "syn_guard",
		bpf.XlbStatCounterXLB_STAT_FRAGMENT_TX:       "fragment_tx",
		bpf.XlbStatCounterXLB_STAT_ICMP_TX:           "icmp_tx",
		bpf.XlbStatCounterXLB_STAT_PASS_ICMP:         "pass_icmp",
		bpf.XlbStatCounterXLB_STAT_FLOW_EVENT_LOST:   "flow_event_lost",
		bpf.XlbStatCounterXLB_STAT_TUN_TX:            "tun_tx",
		bpf.XlbStatCounterXLB_STAT_TUN_FRAG_NEEDED:   "tun_frag_needed",
		bpf.XlbStatCounterXLB_STAT_DROP_TUN:          "drop_tun",
		bpf.XlbStatCounterXLB_STAT_CONN_EVICTED:      "conn_evicted",
		bpf.XlbStatCounterXLB_STAT_DROP_CONN_BUSY:    "drop_conn_busy",
		bpf.XlbStatCounterXLB_STAT_DROP_TCP_NO_ACK:   "drop_tcp_no_ack",
		bpf.XlbStatCounterXLB_STAT_PASS_OTHER_HOST:   "pass_other_host",
	}
	names := make([]string, bpf.XlbStatCounterXLB_STAT_MAX)
	for i := range names {
		names[i] = n[bpf.XlbStatCounter(i)]
		if names[i] == "" {
			// A counter added in C but not here: still visible, by number.
			names[i] = fmt.Sprintf("counter_%d", i)
		}
	}
	return names
}

// Global returns every global counter summed over CPUs, by CounterNames.
func (s *Stats) Global() (map[string]uint64, error) {
	names := CounterNames()
	out := make(map[string]uint64, len(names))
	for i, name := range names {
		var per []uint64
		if err := s.m.Stats.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	// The datapath does not count forwarded packets globally (one lookup
	// less per packet); they are the sum of the per-backend counters.
	var id uint32
	var per []bpf.XlbBackendStats
	var tx uint64
	it := s.m.BackendCounters.Iterate()
	for it.Next(&id, &per) {
		for _, v := range per {
			tx += v.Packets
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read real server counters: %w", err)
	}
	out[names[bpf.XlbStatCounterXLB_STAT_TX]] = tx
	return out, nil
}

// BackendCounters are one real server's totals.
type BackendCounters struct {
	Packets, Bytes, Conns uint64
	Active, Inactive      int64
}

// resetBackendCounters zeroes slot id's per-CPU counters.
func resetBackendCounters(m *bpf.XlbMaps, id uint32) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("count possible CPUs: %w", err)
	}
	if err := m.BackendCounters.Update(id, make([]bpf.XlbBackendStats, n), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("reset counters of real server slot %d: %w", id, err)
	}
	return nil
}

// Backend returns the counters of one backend slot.
func (s *Stats) Backend(id uint32) (BackendCounters, error) {
	var per []bpf.XlbBackendStats
	if err := s.m.BackendCounters.Lookup(id, &per); err != nil {
		return BackendCounters{}, fmt.Errorf("read real server counters: %w", err)
	}
	var c BackendCounters
	for _, v := range per {
		c.Packets += v.Packets
		c.Bytes += v.Bytes
		c.Conns += v.Conns
	}
	var cc bpf.XlbBackendConns
	if err := s.m.ConnCounts.Lookup(id, &cc); err != nil {
		return BackendCounters{}, fmt.Errorf("read connection counts: %w", err)
	}
	c.Active, c.Inactive = max(cc.Active, 0), max(cc.Inactive, 0)
	return c, nil
}

// ServiceState is a service as the maps hold it, for listings.
type ServiceState struct {
	Key           Key
	ID            uint32
	Scheduler     Scheduler
	Flags         uint8
	PersistSec    uint32
	PersistPrefix uint8
	RingLen       uint32
	Backends      []BackendState
}

// BackendState is one real-server slot as the maps hold it.
type BackendState struct {
	Slot       uint32
	Addr       netip.AddrPort
	MAC        net.HardwareAddr
	Weight     uint32
	Available  bool
	Configured bool
	Counters   BackendCounters
	// Upper and Lower are the connection limit (0: none; Lower as the
	// datapath applies it); Overloaded says the limit holds new flows off.
	Upper, Lower uint32
	Overloaded   bool
	// Tunnel: the slot forwards in IPIP / IP6IP6 (TUN), not by MAC (DR);
	// GRE: in GRE rather than IPIP; GUEPort > 0: in GUE to that port.
	Tunnel, GRE bool
	GUEPort     uint16
}

// List returns every service with its real servers (drained ones included).
func (s *Services) List() ([]ServiceState, error) {
	cur, err := s.read()
	if err != nil {
		return nil, err
	}
	st := &Stats{m: s.m}
	byID := map[uint32]*ServiceState{}
	var out []*ServiceState
	for k, v := range cur.services {
		ss := &ServiceState{Key: k, ID: v.Id, Scheduler: Scheduler(v.Sched), Flags: v.Flags, PersistSec: v.PersistSec, PersistPrefix: v.PersistPlen, RingLen: v.RingLen}
		byID[v.Id] = ss
		out = append(out, ss)
	}
	for id, b := range cur.backends {
		ss := byID[b.SvcId]
		if ss == nil {
			continue
		}
		c, err := st.Backend(id)
		if err != nil {
			return nil, err
		}
		l, over, err := readLimits(s.m, id)
		if err != nil {
			return nil, err
		}
		ss.Backends = append(ss.Backends, BackendState{
			Slot: id, Addr: backendAddr(b), MAC: macOf(b.Mac), Weight: b.Weight,
			Available: b.Flags&backendAvailable != 0, Configured: b.Flags&backendConfigured != 0,
			Counters: c, Upper: l.Upper, Lower: l.Lower, Overloaded: over,
			Tunnel:  b.Flags&uint8(bpf.XlbBackendFlagsXLB_BE_TUNNEL) != 0,
			GRE:     b.Flags&uint8(bpf.XlbBackendFlagsXLB_BE_TUN_GRE) != 0,
			GUEPort: guePort(b),
		})
	}
	res := make([]ServiceState, 0, len(out))
	for _, ss := range out {
		sortBackends(ss.Backends)
		res = append(res, *ss)
	}
	sortServices(res)
	return res, nil
}

func sortServices(s []ServiceState) {
	slices.SortFunc(s, func(a, b ServiceState) int { return strings.Compare(a.Key.sortKey(), b.Key.sortKey()) })
}

func sortBackends(b []BackendState) {
	slices.SortFunc(b, func(x, y BackendState) int { return x.Addr.Compare(y.Addr) })
}

func (k Key) sortKey() string {
	return fmt.Sprintf("%s|%05d|%03d", k.VIP.StringExpanded(), k.Port, k.Proto)
}

// guePort is a GUE backend's UDP port (host order), 0 for any other.
func guePort(b bpf.XlbBackend) uint16 {
	if b.Flags&uint8(bpf.XlbBackendFlagsXLB_BE_TUN_GUE) == 0 {
		return 0
	}
	return b.TunPort<<8 | b.TunPort>>8
}
