package director

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/xlb-project/xlb/maps"
)

// Baseline is a real server's counters as `xlb zero` (ipvsadm -Z) found
// them. The datapath's counters are per-CPU and only ever grow (Prometheus
// relies on it), so zeroing keeps them and listings subtract this instead.
type Baseline struct {
	// Service and Addr say whose counters these are: a slot freed and
	// given to another real server must not inherit them.
	Service               maps.Key
	Addr                  netip.AddrPort
	Conns, Packets, Bytes uint64
}

// Since is c less the baseline, for the real server of slot st. A
// baseline of another real server, or one above the counters (the slot
// was reset), does not apply: the counters are then all new.
func (b Baseline) Since(svc maps.Key, st maps.BackendState) (conns, packets, bytes uint64) {
	c := b.of(svc, st.Addr, Counts{Conns: st.Counters.Conns, Packets: st.Counters.Packets, Bytes: st.Counters.Bytes})
	return c.Conns, c.Packets, c.Bytes
}

// of is c, the counters of real server addr of svc, less the baseline,
// under Since's rule.
func (b Baseline) of(svc maps.Key, addr netip.AddrPort, c Counts) Counts {
	if b.Service != svc || b.Addr != addr || c.Conns < b.Conns || c.Packets < b.Packets || c.Bytes < b.Bytes {
		return c
	}
	return Counts{c.Conns - b.Conns, c.Packets - b.Packets, c.Bytes - b.Bytes}
}

// slotStats is what the director keeps per real-server slot beside the
// maps: the persistence templates the last sweep counted and the
// baselines of `xlb zero`. Its own lock: listings and scrapes read it
// while an apply holds the director's.
type slotStats struct {
	mu        sync.Mutex
	templates map[uint32]int
	baselines map[uint32]Baseline
	// retired are, per service, the counters of its real servers whose
	// slots were freed (removed, then drained): in total and since the
	// service's last zero.
	retired, retiredSince map[maps.Key]Counts
}

// Counts are a real server's counters, or a sum of them.
type Counts struct{ Conns, Packets, Bytes uint64 }

func (c Counts) add(o Counts) Counts {
	return Counts{c.Conns + o.Conns, c.Packets + o.Packets, c.Bytes + o.Bytes}
}

// retire adds the counters c of freed slot f to its service's and drops
// the slot's baseline.
func (s *slotStats) retire(f maps.Freed, c Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired == nil {
		s.retired, s.retiredSince = map[maps.Key]Counts{}, map[maps.Key]Counts{}
	}
	s.retired[f.Service] = s.retired[f.Service].add(c)
	s.retiredSince[f.Service] = s.retiredSince[f.Service].add(s.baselines[f.Slot].of(f.Service, f.Addr, c))
	delete(s.baselines, f.Slot)
}

// Retired returns, per service, the counters of its real servers that are
// gone (their slots freed): in total, and since the last `xlb zero`.
func (d *Director) Retired() (total, sinceZero map[maps.Key]Counts) {
	d.stats.mu.Lock()
	defer d.stats.mu.Unlock()
	total, sinceZero = map[maps.Key]Counts{}, map[maps.Key]Counts{}
	for k, v := range d.stats.retired {
		total[k] = v
	}
	for k, v := range d.stats.retiredSince {
		sinceZero[k] = v
	}
	return total, sinceZero
}

func (s *slotStats) setTemplates(t map[uint32]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates = t
}

// zero takes list's counters as the baselines of the services in it that
// want says to zero, and drops those of slots list no longer has.
func (s *slotStats) zero(list []maps.ServiceState, want func(maps.Key) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[uint32]Baseline{}
	for _, st := range list {
		for _, b := range st.Backends {
			old, ok := s.baselines[b.Slot]
			switch {
			case want(st.Key):
				c := b.Counters
				next[b.Slot] = Baseline{Service: st.Key, Addr: b.Addr, Conns: c.Conns, Packets: c.Packets, Bytes: c.Bytes}
			case ok && old.Service == st.Key && old.Addr == b.Addr:
				next[b.Slot] = old
			}
		}
		if want(st.Key) {
			delete(s.retiredSince, st.Key)
		}
	}
	s.baselines = next
}

// PersistConns returns the live persistence templates per real-server
// slot (ipvsadm's PersistConn) as the last sweep counted them, so they
// lag new clients by up to a sweep interval.
func (d *Director) PersistConns() map[uint32]int {
	d.stats.mu.Lock()
	defer d.stats.mu.Unlock()
	out := make(map[uint32]int, len(d.stats.templates))
	for k, v := range d.stats.templates {
		out[k] = v
	}
	return out
}

// NoQuorum returns the services whose quorum is lost now.
func (d *Director) NoQuorum() map[maps.Key]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[maps.Key]bool{}
	for k, has := range d.quorum {
		if !has {
			out[k] = true
		}
	}
	return out
}

// Baselines returns the counters `xlb zero` took, by real-server slot.
func (d *Director) Baselines() map[uint32]Baseline {
	d.stats.mu.Lock()
	defer d.stats.mu.Unlock()
	out := make(map[uint32]Baseline, len(d.stats.baselines))
	for k, v := range d.stats.baselines {
		out[k] = v
	}
	return out
}

// Zero makes the listed counters of svc (all services when nil) start
// from zero again, as ipvsadm -Z: the datapath's counters and the metrics
// keep counting, listings subtract what they are now. A service that
// does not run is an error.
func (d *Director) Zero(svc *maps.Key) error {
	// The director's lock keeps an apply from moving slots between the
	// read and the baselines taken from it.
	d.mu.Lock()
	defer d.mu.Unlock()
	list, err := d.dp.Maps.Services.List()
	if err != nil {
		return err
	}
	want := func(maps.Key) bool { return true }
	if svc != nil {
		found := false
		for _, st := range list {
			found = found || st.Key == *svc
		}
		if !found {
			return fmt.Errorf("no such service %s", svc)
		}
		want = func(k maps.Key) bool { return k == *svc }
	}
	d.stats.zero(list, want)
	return nil
}
