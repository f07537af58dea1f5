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
// datapath, expired and counted by Sweep.
type Conns struct {
	m   *bpf.XlbMaps
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
	Idle    time.Duration // since the datapath last refreshed it (1 s granularity)
}

// SweepResult is what one pass over the connection table found.
type SweepResult struct {
	Scanned  int
	Expired  int
	Active   map[uint32]int64 // per backend slot
	Inactive map[uint32]int64
	// Refs counts entries per backend slot, expired ones excluded: a
	// drained slot with no refs may be reclaimed.
	Refs map[uint32]int
}

const sweepBatch = 4096

// flowKey is an entry's key from either table, with what listings need.
type flowKey struct {
	proto  uint8
	client netip.AddrPort
	vip    netip.AddrPort
	k4     *bpf.XlbConnKey4
	k6     *bpf.XlbConnKey6
}

func (k flowKey) service() Key { return Key{VIP: k.vip.Addr(), Port: k.vip.Port(), Proto: k.proto} }

// each visits every entry of both connection tables.
func (c *Conns) each(fn func(k flowKey, v bpf.XlbConnVal)) error {
	err := eachIn(c.m.Conns4, func(k bpf.XlbConnKey4, v bpf.XlbConnVal) {
		fn(flowKey{
			proto:  k.Proto,
			client: netip.AddrPortFrom(addrFromWords(4, [4]uint32{k.Saddr}), ntohs(k.Sport)),
			vip:    netip.AddrPortFrom(addrFromWords(4, [4]uint32{k.Daddr}), ntohs(k.Dport)),
			k4:     &k,
		}, v)
	})
	if err != nil {
		return err
	}
	return eachIn(c.m.Conns6, func(k bpf.XlbConnKey6, v bpf.XlbConnVal) {
		fn(flowKey{
			proto:  k.Proto,
			client: netip.AddrPortFrom(addrFromWords(6, k.Saddr), ntohs(k.Sport)),
			vip:    netip.AddrPortFrom(addrFromWords(6, k.Daddr), ntohs(k.Dport)),
			k6:     &k,
		}, v)
	})
}

func (c *Conns) delete(k flowKey) error {
	var err error
	if k.k4 != nil {
		err = c.m.Conns4.Delete(*k.k4)
	} else {
		err = c.m.Conns6.Delete(*k.k6)
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
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

type svcTimeouts struct {
	tcp, fin, udp, persist uint64
}

func (c *Conns) timeouts() (map[Key]svcTimeouts, map[uint32]svcTimeouts, error) {
	byKey := map[Key]svcTimeouts{}
	byID := map[uint32]svcTimeouts{}
	var k bpf.XlbSvcKey
	var v bpf.XlbSvcVal
	it := c.m.Services.Iterate()
	for it.Next(&k, &v) {
		t := svcTimeouts{
			tcp:     uint64(v.TcpSec) * 1e9,
			fin:     uint64(v.TcpfinSec) * 1e9,
			udp:     uint64(v.UdpSec) * 1e9,
			persist: uint64(v.PersistSec) * 1e9,
		}
		byKey[keyFromBPF(k)] = t
		byID[v.Id] = t
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("read services: %w", err)
	}
	return byKey, byID, nil
}

// Sweep deletes idle-expired flows (and flows of deleted services), expired
// persistence templates, and rewrites the per-backend connection counts
// from the table. The datapath keeps those counts with atomic adds on new
// flows and on FIN/RST; idle expiry and LRU eviction happen without it
// seeing them, so the table is the source of truth and each sweep corrects
// the counts. Flows created during the sweep may be missed by it and are
// counted by the next one.
func (c *Conns) Sweep(now uint64) (SweepResult, error) {
	res := SweepResult{Active: map[uint32]int64{}, Inactive: map[uint32]int64{}, Refs: map[uint32]int{}}
	byKey, byID, err := c.timeouts()
	if err != nil {
		return res, err
	}
	var dead []flowKey
	err = c.each(func(k flowKey, v bpf.XlbConnVal) {
		res.Scanned++
		t, ok := byKey[k.service()]
		limit := t.tcp
		switch {
		case k.proto == protoUDP:
			limit = t.udp
		case v.State == bpf.XlbConnStateXLB_CONN_FIN:
			limit = t.fin
		}
		if !ok || (now > v.LastSeen && now-v.LastSeen > limit) {
			dead = append(dead, k)
			return
		}
		res.Refs[v.Backend]++
		if v.State == bpf.XlbConnStateXLB_CONN_FIN {
			res.Inactive[v.Backend]++
		} else {
			res.Active[v.Backend]++
		}
	})
	if err != nil {
		return res, err
	}
	for _, k := range dead {
		if err := c.delete(k); err != nil {
			return res, fmt.Errorf("expire flow: %w", err)
		}
		res.Expired++
	}
	if err := c.rewriteCounts(res); err != nil {
		return res, err
	}
	return res, c.sweepPersist(now, byID)
}

func (c *Conns) rewriteCounts(res SweepResult) error {
	var ids []uint32
	if err := eachBackend(c.m, func(id uint32, _ bpf.XlbBackend) { ids = append(ids, id) }); err != nil {
		return err
	}
	for _, id := range ids {
		v := bpf.XlbBackendConns{Active: res.Active[id], Inactive: res.Inactive[id]}
		if err := c.m.ConnCounts.Update(id, v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write connection counts: %w", err)
		}
	}
	return nil
}

func (c *Conns) sweepPersist(now uint64, byID map[uint32]svcTimeouts) error {
	expired := func(svc uint32, v bpf.XlbPersistVal) bool {
		t, ok := byID[svc]
		return !ok || t.persist == 0 || (now > v.LastSeen && now-v.LastSeen > t.persist)
	}
	if err := sweepTemplates(c.m.Persist4, func(k bpf.XlbPersistKey4, v bpf.XlbPersistVal) bool { return expired(k.SvcId, v) }); err != nil {
		return err
	}
	return sweepTemplates(c.m.Persist6, func(k bpf.XlbPersistKey6, v bpf.XlbPersistVal) bool { return expired(k.SvcId, v) })
}

func sweepTemplates[K any](m *ebpf.Map, expired func(K, bpf.XlbPersistVal) bool) error {
	var k K
	var v bpf.XlbPersistVal
	var dead []K
	it := m.Iterate()
	for it.Next(&k, &v) {
		if expired(k, v) {
			dead = append(dead, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read persistence templates: %w", err)
	}
	for _, k := range dead {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("expire persistence template: %w", err)
		}
	}
	return nil
}

// List returns up to limit flows (all when limit <= 0).
func (c *Conns) List(now uint64, limit int) ([]Conn, error) {
	var out []Conn
	err := c.each(func(k flowKey, v bpf.XlbConnVal) {
		if limit > 0 && len(out) >= limit {
			return
		}
		var idle time.Duration
		if now > v.LastSeen {
			idle = time.Duration(now - v.LastSeen)
		}
		out = append(out, Conn{
			Proto:   k.proto,
			Client:  k.client,
			VIP:     k.vip,
			Backend: v.Backend,
			Fin:     v.State == bpf.XlbConnStateXLB_CONN_FIN,
			Idle:    idle,
		})
	})
	return out, err
}

// Len counts the flows in the table.
func (c *Conns) Len() (int, error) {
	n := 0
	err := c.each(func(flowKey, bpf.XlbConnVal) { n++ })
	return n, err
}

// Capacity is the tables' maximum number of flows (IPv4 and IPv6).
func (c *Conns) Capacity() int { return int(c.m.Conns4.MaxEntries() + c.m.Conns6.MaxEntries()) }

const protoUDP = 17

// MemoryBytes is the kernel memory the connection tables (flows and
// persistence templates) hold, as the kernel accounts it (fdinfo memlock).
// LRU tables are preallocated, so this is the cost at full capacity.
func (c *Conns) MemoryBytes() (flows, templates uint64, err error) {
	if flows, err = memlock(c.m.Conns4.FD()); err != nil {
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
