package maps

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/xlb-project/xlb/bpf"
)

// Conns is the connection table: one entry per flow, written by the
// datapath, counted (and reaped once idle) by Sweep. IPv4 flows live in
// the bucket table of bpf/flowtab.h, IPv6 flows in an LRU hash.
type Conns struct {
	m   *bpf.XlbMaps
	t4  *flowTable4
	gen *atomic.Uint64

	// A cached (service, real server) -> slot index for Insert, valid
	// while gen has not moved.
	idxMu  sync.Mutex
	idx    map[backendRef]uint32
	idxGen uint64
}

// Conn is one flow of the connection table.
type Conn struct {
	Proto   uint8
	Client  netip.AddrPort
	VIP     netip.AddrPort
	Backend uint32
	Fin     bool          // FIN or RST seen from the client
	SynRecv bool          // only the client's SYN so far (IPVS SYN_RECV): inactive
	Expires time.Duration // until it idles out (pushed back at most once a second)
}

// SweepResult is what one pass over the connection table found.
type SweepResult struct {
	Scanned int
	Expired int // idled-out flows reaped (at most sweepReap a pass)
	Dead    int // flows of services that no longer exist, removed
	// Busy counts buckets skipped because the datapath kept writing them.
	Busy     int
	Active   map[uint32]int64 // per backend slot
	Inactive map[uint32]int64
	// Refs counts entries per backend slot, expired ones excluded: a
	// drained slot with no refs may be reclaimed.
	Refs map[uint32]int
	// Templates counts the live persistence templates per backend slot
	// (ipvsadm's PersistConn): clients a persistent service sends back to
	// that real server. A template naming a slot of another service is
	// left out, as the datapath ignores it.
	Templates map[uint32]int
}

// sweepReap bounds the idled-out flows one sweep removes: the datapath
// reuses their slots anyway, so reaping only keeps listings short and is
// spread over sweeps.
const sweepReap = 16384

const sweepBatch = 4096

// flowEntry is one entry of either table, with what listings need.
type flowEntry struct {
	proto   uint8
	client  netip.AddrPort
	vip     netip.AddrPort
	k4      *bpf.XlbConnKey4
	k6      *bpf.XlbConnKey6
	backend uint32
	state   uint8  // bpf.XlbConnState*
	expires uint32 // flow clock
}

// fin: the client sent FIN or RST; syn: only its SYN so far (SYN_RECV).
// Both are inactive connections, as IPVS counts them.
func (e flowEntry) fin() bool { return e.state == uint8(bpf.XlbConnStateXLB_CONN_FIN) }
func (e flowEntry) syn() bool { return e.state == uint8(bpf.XlbConnStateXLB_CONN_SYN) }

func (e flowEntry) service() Key { return Key{VIP: e.vip.Addr(), Port: e.vip.Port(), Proto: e.proto} }

// each visits every entry of both tables, idled-out ones included (the
// caller decides what they mean).
func (c *Conns) each(fn func(e flowEntry)) (busy int, err error) {
	busy = c.t4.each(func(s flowSlot) {
		client, vip := keyAddrs4(s.key)
		k := s.key
		fn(flowEntry{
			proto: k.Proto, client: client, vip: vip, k4: &k,
			backend: uint32(s.backend), state: s.state, expires: s.expires,
		})
	})
	err = eachIn(c.m.Conns6, func(k bpf.XlbConnKey6, v bpf.XlbConnVal) {
		fn(flowEntry{
			proto:   k.Proto,
			client:  netip.AddrPortFrom(addrFromWords(6, k.Saddr), ntohs(k.Sport)),
			vip:     netip.AddrPortFrom(addrFromWords(6, k.Daddr), ntohs(k.Dport)),
			k6:      &k,
			backend: v.Backend,
			state:   uint8(v.State),
			expires: v.Expires,
		})
	})
	return busy, err
}

// delete removes an entry; onlyExpired leaves it if the datapath has
// pushed its expiry back since it was read.
func (c *Conns) delete(e flowEntry, onlyExpired bool) (bool, error) {
	if e.k4 != nil {
		return c.t4.delete(*e.k4, onlyExpired)
	}
	if onlyExpired {
		var v bpf.XlbConnVal
		if err := c.m.Conns6.Lookup(*e.k6, &v); err != nil || !tickAfter(Ticks(Now()), v.Expires) {
			return false, nil
		}
	}
	err := c.m.Conns6.Delete(*e.k6)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, err
	}
	return err == nil, nil
}

// eachIn visits every entry of one table, in batches where the kernel
// allows it.
func eachIn[K any](m *ebpf.Map, fn func(k K, v bpf.XlbConnVal)) error {
	keys := make([]K, sweepBatch)
	vals := make([]bpf.XlbConnVal, sweepBatch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			fn(keys[i], vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			break
		}
		if err != nil {
			return fmt.Errorf("read connection table: %w", err)
		}
	}
	var k K
	var v bpf.XlbConnVal
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(k, v)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read connection table: %w", err)
	}
	return nil
}

// services reads which services exist and, by service id, their
// persistence timeouts in ns (0: no persistence). Flows carry their own
// expiry, so the sweep needs no other timeout.
func (c *Conns) services() (map[Key]bool, map[uint32]uint64, error) {
	exists := map[Key]bool{}
	persist := map[uint32]uint64{}
	var k bpf.XlbSvcKey
	var v bpf.XlbSvcVal
	it := c.m.Services.Iterate()
	for it.Next(&k, &v) {
		exists[keyFromBPF(k)] = true
		persist[v.Id] = uint64(v.PersistSec) * 1e9
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("read services: %w", err)
	}
	return exists, persist, nil
}

// Sweep removes flows of services that no longer exist, reaps idled-out
// flows (bounded per pass), expires persistence templates (counting the
// live ones), and rewrites the per-backend connection counts from the
// table. The datapath keeps
// those counts with atomic adds on new flows and on FIN/RST; idle expiry
// and eviction happen without it seeing them, so the table is the source
// of truth and each sweep corrects the counts. Flows created during the
// sweep may be missed by it and are counted by the next one.
func (c *Conns) Sweep(now uint64) (SweepResult, error) {
	res := SweepResult{Active: map[uint32]int64{}, Inactive: map[uint32]int64{}, Refs: map[uint32]int{}}
	exists, persist, err := c.services()
	if err != nil {
		return res, err
	}
	tick := Ticks(now)
	var dead, idle []flowEntry
	res.Busy, err = c.each(func(e flowEntry) {
		res.Scanned++
		if !exists[e.service()] {
			dead = append(dead, e)
			return
		}
		if tickAfter(tick, e.expires) {
			if len(idle) < sweepReap {
				idle = append(idle, e)
			}
			return
		}
		res.Refs[e.backend]++
		if e.fin() || e.syn() {
			res.Inactive[e.backend]++
		} else {
			res.Active[e.backend]++
		}
	})
	if err != nil {
		return res, err
	}
	if res.Dead, err = c.deleteAll(dead, false); err != nil {
		return res, fmt.Errorf("remove flow of a deleted service: %w", err)
	}
	if res.Expired, err = c.deleteAll(idle, true); err != nil {
		return res, fmt.Errorf("expire flow: %w", err)
	}
	owners, err := c.backendOwners()
	if err != nil {
		return res, err
	}
	if err := c.rewriteCounts(res, owners); err != nil {
		return res, err
	}
	res.Templates, err = c.sweepPersist(now, persist, owners)
	return res, err
}

// backendOwners maps every in-use backend slot to its service id.
func (c *Conns) backendOwners() (map[uint32]uint32, error) {
	owners := map[uint32]uint32{}
	err := eachBackend(c.m, func(id uint32, b bpf.XlbBackend) { owners[id] = b.SvcId })
	return owners, err
}

// deleteAll deletes entries and counts those that went.
func (c *Conns) deleteAll(entries []flowEntry, onlyExpired bool) (int, error) {
	n := 0
	for _, e := range entries {
		done, err := c.delete(e, onlyExpired)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

func (c *Conns) rewriteCounts(res SweepResult, owners map[uint32]uint32) error {
	ids := make([]uint32, 0, len(owners))
	for id := range owners {
		ids = append(ids, id)
	}
	for _, id := range ids {
		v := bpf.XlbBackendConns{Active: res.Active[id], Inactive: res.Inactive[id]}
		if err := c.m.ConnCounts.Update(id, v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write connection counts: %w", err)
		}
	}
	return updateOverload(c.m, ids, res)
}

// sweepPersist deletes expired persistence templates and counts the live
// ones per backend slot. Counting here, in the pass that expires them,
// keeps the datapath untouched and gives numbers that agree with the
// expiry the datapath applies (a template older than the service's
// timeout is not used, so it is not counted either).
func (c *Conns) sweepPersist(now uint64, persist map[uint32]uint64, owners map[uint32]uint32) (map[uint32]int, error) {
	expired := func(svc uint32, v bpf.XlbPersistVal) bool {
		t := persist[svc] // 0 for a service gone or without persistence
		return t == 0 || (now > v.LastSeen && now-v.LastSeen > t)
	}
	live := map[uint32]int{}
	judge := func(svc uint32, v bpf.XlbPersistVal) bool {
		if expired(svc, v) {
			return true
		}
		if o, ok := owners[v.Backend]; ok && o == svc {
			live[v.Backend]++
		}
		return false
	}
	if err := sweepTemplates(c.m.Persist4, func(k bpf.XlbPersistKey4, v bpf.XlbPersistVal) bool { return judge(k.SvcId, v) }); err != nil {
		return live, err
	}
	err := sweepTemplates(c.m.Persist6, func(k bpf.XlbPersistKey6, v bpf.XlbPersistVal) bool { return judge(k.SvcId, v) })
	return live, err
}

// eachTemplate calls fn on every template of m.
func eachTemplate[K any](m *ebpf.Map, fn func(K, bpf.XlbPersistVal)) error {
	var k K
	var v bpf.XlbPersistVal
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(k, v)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read persistence templates: %w", err)
	}
	return nil
}

// sweepTemplates deletes the templates of m that expired says are.
func sweepTemplates[K any](m *ebpf.Map, expired func(K, bpf.XlbPersistVal) bool) error {
	var dead []K
	if err := eachTemplate(m, func(k K, v bpf.XlbPersistVal) {
		if expired(k, v) {
			dead = append(dead, k)
		}
	}); err != nil {
		return err
	}
	for _, k := range dead {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("expire persistence template: %w", err)
		}
	}
	return nil
}

// List returns up to limit live flows (all when limit <= 0).
func (c *Conns) List(now uint64, limit int) ([]Conn, error) {
	tick := Ticks(now)
	var out []Conn
	_, err := c.each(func(e flowEntry) {
		if (limit > 0 && len(out) >= limit) || tickAfter(tick, e.expires) {
			return
		}
		out = append(out, Conn{
			Proto:   e.proto,
			Client:  e.client,
			VIP:     e.vip,
			Backend: e.backend,
			Fin:     e.fin(),
			SynRecv: e.syn(),
			Expires: ticksDuration(int32(e.expires - tick)),
		})
	})
	return out, err
}

// Template is a client's persistence template (IPVS's: the entry that
// sends a returning client to its earlier real server): for service SvcID,
// Client (masked by the service's persistence granularity) goes to Backend,
// last used Idle ago.
type Template struct {
	SvcID   uint32
	Client  netip.Addr
	Backend uint32
	Idle    time.Duration
}

// Templates returns every persistence template as of now, expired ones
// included: only the caller knows each service's timeout (the sweep
// deletes them within its period).
func (c *Conns) Templates(now uint64) ([]Template, error) {
	var out []Template
	add := func(svc uint32, client netip.Addr, v bpf.XlbPersistVal) {
		idle := time.Duration(0)
		if now > v.LastSeen {
			idle = time.Duration(now - v.LastSeen)
		}
		out = append(out, Template{SvcID: svc, Client: client, Backend: v.Backend, Idle: idle})
	}
	if err := eachTemplate(c.m.Persist4, func(k bpf.XlbPersistKey4, v bpf.XlbPersistVal) {
		add(k.SvcId, addrFromWords(4, [4]uint32{k.Saddr}), v)
	}); err != nil {
		return out, err
	}
	err := eachTemplate(c.m.Persist6, func(k bpf.XlbPersistKey6, v bpf.XlbPersistVal) {
		add(k.SvcId, addrFromWords(6, k.Saddr), v)
	})
	return out, err
}

// Len counts the live flows in the tables.
func (c *Conns) Len() (int, error) {
	tick := Ticks(Now())
	n := 0
	_, err := c.each(func(e flowEntry) {
		if !tickAfter(tick, e.expires) {
			n++
		}
	})
	return n, err
}

// Capacity is the number of flows the tables hold at most: every IPv4
// slot (collisions may evict live flows once they are ~70 % full) and
// the IPv6 LRU's entries.
func (c *Conns) Capacity() int { return c.t4.buckets*FlowWays + int(c.m.Conns6.MaxEntries()) }

const protoUDP = 17

// MemoryBytes is the kernel memory the IPv4 connection table and the
// IPv4 persistence templates hold, as the kernel accounts it (fdinfo
// memlock). Both are preallocated, so this is the cost at full capacity.
func (c *Conns) MemoryBytes() (flows, templates uint64, err error) {
	if flows, err = memlock(c.m.Flows4.FD()); err != nil {
		return 0, 0, err
	}
	templates, err = memlock(c.m.Persist4.FD())
	return flows, templates, err
}

func memlock(fd int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return 0, fmt.Errorf("read map info: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "memlock:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no memlock in map info")
}
