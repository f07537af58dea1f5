package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/xlb-project/xlb/bpf"
	"github.com/xlb-project/xlb/sched"
)

// Scheduler kinds as the datapath knows them.
type Scheduler uint8

const (
	RR  = Scheduler(bpf.XlbSchedKindXLB_SCHED_RR)
	WRR = Scheduler(bpf.XlbSchedKindXLB_SCHED_WRR)
	WLC = Scheduler(bpf.XlbSchedKindXLB_SCHED_WLC)
	SH  = Scheduler(bpf.XlbSchedKindXLB_SCHED_SH)
	MH  = Scheduler(bpf.XlbSchedKindXLB_SCHED_MH)
	LC  = Scheduler(bpf.XlbSchedKindXLB_SCHED_LC)
	SED = Scheduler(bpf.XlbSchedKindXLB_SCHED_SED)
	NQ  = Scheduler(bpf.XlbSchedKindXLB_SCHED_NQ)
)

// Service flags.
const (
	FlagHashPort        = uint8(bpf.XlbSvcFlagsXLB_SVC_HASH_PORT)
	FlagExpireNodest    = uint8(bpf.XlbSvcFlagsXLB_SVC_EXPIRE_NODEST)
	FlagExpireQuiescent = uint8(bpf.XlbSvcFlagsXLB_SVC_EXPIRE_QUIESCENT)
	FlagOPS             = uint8(bpf.XlbSvcFlagsXLB_SVC_OPS)
	backendInUse        = uint8(bpf.XlbBackendFlagsXLB_BE_IN_USE)
	backendAvailable    = uint8(bpf.XlbBackendFlagsXLB_BE_AVAILABLE)
	backendConfigured   = uint8(bpf.XlbBackendFlagsXLB_BE_CONFIGURED)
	defaultMaglevSize   = sched.MaglevSize
	shBuckets           = 256
)

// ServiceSpec is the desired state of one virtual service.
type ServiceSpec struct {
	Key        Key
	Scheduler  Scheduler
	Flags      uint8
	PersistSec uint32
	// PersistPrefix > 0 keys persistence by the client's prefix of that
	// many bits instead of its address (ipvsadm -M).
	PersistPrefix uint8
	TCPSec        uint32
	TCPFinSec     uint32
	UDPSec        uint32
	// MaglevSize is the mh table size (prime); 0 means sched.MaglevSize.
	MaglevSize uint64
	// HashSeed seeds Maglev permutations; directors sharing flows share it.
	HashSeed uint64
	Backends []BackendSpec
}

// BackendSpec is the desired state of one real server of a service.
type BackendSpec struct {
	Addr   netip.AddrPort
	MAC    net.HardwareAddr // nil while unresolved: the server takes no flows
	Weight uint32
	// Available is false while the health check says the server is down.
	Available bool
	// Tunnel forwards in IPIP or IP6IP6 (LVS TUN, by the address family);
	// MAC is then the next hop's. GRE tunnels in GRE instead (IPVS
	// --tun-type gre), GUEPort > 0 in GUE to that UDP port (--tun-type gue
	// --tun-port), over the real server's family.
	Tunnel, GRE bool
	GUEPort     uint16
	// UpperThreshold > 0 limits the server's connections (active and
	// inactive, ipvsadm -x): at the limit it takes no new flows until they
	// fall below LowerThreshold (ipvsadm -y; 0: three quarters of the
	// upper, as IPVS).
	UpperThreshold, LowerThreshold uint32
}

// eligible says whether a backend may take new flows.
func (b BackendSpec) eligible() bool { return b.Available && len(b.MAC) == 6 }

// Services manages the services, backends and rings maps together: they
// only make sense as one consistent state.
type Services struct {
	m *bpf.XlbMaps
	// gen counts changes to the backends, so readers can cache views of them.
	gen *atomic.Uint64
}

// current is what the maps hold, rebuilt from them so a restarted daemon
// adopts pinned state without keeping any of its own on disk.
type current struct {
	services map[Key]bpf.XlbSvcVal
	backends map[uint32]bpf.XlbBackend  // in-use slots
	index    map[uint32]bpf.XlbSvcEntry // non-empty svc_index entries by id
}

func (s *Services) read() (*current, error) {
	cur := &current{services: map[Key]bpf.XlbSvcVal{}, backends: map[uint32]bpf.XlbBackend{}, index: map[uint32]bpf.XlbSvcEntry{}}
	var k bpf.XlbSvcKey
	var v bpf.XlbSvcVal
	it := s.m.Services.Iterate()
	for it.Next(&k, &v) {
		cur.services[keyFromBPF(k)] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	if err := eachBackend(s.m, func(id uint32, b bpf.XlbBackend) { cur.backends[id] = b }); err != nil {
		return nil, err
	}
	keys := make([]uint32, MaxServices)
	vals := make([]bpf.XlbSvcEntry, MaxServices)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := s.m.SvcIndex.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			if vals[i] != (bpf.XlbSvcEntry{}) {
				cur.index[keys[i]] = vals[i]
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return cur, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read service index: %w", err)
		}
	}
}

// setIndex makes the datapath's by-id view of a service (what the
// established-flow path checks a flow's real server against) match val.
func (s *Services) setIndex(cur *current, id uint32, e bpf.XlbSvcEntry) error {
	if cur.index[id] == e {
		return nil
	}
	if err := s.m.SvcIndex.Update(id, e, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write service index %d: %w", id, err)
	}
	if e == (bpf.XlbSvcEntry{}) {
		delete(cur.index, id)
	} else {
		cur.index[id] = e
	}
	return nil
}

// writeFilter sets the datapath's filter to the ports and VIPs of keys:
// only traffic that may be for one of them is looked up at all.
func (s *Services) writeFilter(keys ...[]Key) error {
	var f bpf.XlbSvcFilter
	for _, ks := range keys {
		for _, k := range ks {
			f.Ports[k.Port>>6] |= 1 << (k.Port & 63)
			b := vipBucket(k.bpf().Addr)
			f.Vips[b>>6] |= 1 << (b & 63)
		}
	}
	if err := s.m.SvcFilterMap.Update(uint32(0), &f, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write service filter: %w", err)
	}
	return nil
}

// writeSlots points each service's slot (svcSlot) at its id, so new flows
// find it without the services hash; of services sharing a slot the
// lowest id has it, the others are found in the hash. It runs after the
// index and the hash hold every desired service: the datapath checks a
// slot's service against the packet's key, so a stale slot only costs
// the hash lookup it would have saved.
func (s *Services) writeSlots(desired []ServiceSpec, ids map[Key]uint32) error {
	want := make([]uint32, svcSlots)
	for _, d := range desired {
		id := ids[d.Key]
		slot := svcSlot(d.Key.bpf())
		if want[slot] == 0 || id+1 < want[slot] {
			want[slot] = id + 1
		}
	}
	keys := make([]uint32, svcSlots)
	cur := make([]uint32, svcSlots)
	var cursor ebpf.MapBatchCursor
	got := 0
	for got < svcSlots {
		n, err := s.m.SvcSlots.BatchLookup(&cursor, keys[got:], cur[got:], nil)
		got += n
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("read service slots: %w", err)
		}
	}
	have := make([]uint32, svcSlots)
	for i := range got {
		have[keys[i]] = cur[i]
	}
	for slot := range want {
		if want[slot] == have[slot] {
			continue
		}
		if err := s.m.SvcSlots.Update(uint32(slot), want[slot], ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write service slot %d: %w", slot, err)
		}
	}
	return nil
}

// svcSlots is XLB_SVC_SLOTS of bpf/consts.h.
const svcSlots = 4096

// svcSlot is the datapath's svc_slot(): a 12-bit hash of a service key's
// fields as they sit in memory.
func svcSlot(k bpf.XlbSvcKey) uint32 {
	h := k.Addr[0] ^ k.Addr[1] ^ k.Addr[2] ^ k.Addr[3] ^ (uint32(k.Port) | uint32(k.Proto)<<16 | uint32(k.Family)<<24)
	return (h * 0x9e3779b1) >> 20
}

// vipBucket is the datapath's vip_bucket(): a 12-bit hash of an address's
// words as they sit in memory.
func vipBucket(w [4]uint32) uint32 {
	return ((w[0] ^ w[1] ^ w[2] ^ w[3]) * 0x9e3779b1) >> 20
}

// eachBackend visits every in-use slot of the backends array, reading it in
// batches: one syscall per thousand slots instead of one per slot.
func eachBackend(m *bpf.XlbMaps, fn func(id uint32, b bpf.XlbBackend)) error {
	keys := make([]uint32, 1024)
	vals := make([]bpf.XlbBackend, 1024)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.Backends.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			if vals[i].Flags&backendInUse != 0 {
				fn(keys[i], vals[i])
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read backends: %w", err)
		}
	}
}

// Apply makes the maps match desired. The order keeps the datapath
// consistent at every step: backend slots are written first, then each
// service's new ring is written to a fresh range, then the service entry is
// switched to it in one update, and only then are vanished services deleted
// and vanished backends marked unavailable. Flows of unchanged real servers
// are never touched; flows of removed ones stay on them unless the service
// expires them (expire_nodest_conn) — the slot is reclaimed by Reclaim once
// no connection uses it.
func (s *Services) Apply(desired []ServiceSpec) error {
	if err := validate(desired); err != nil {
		return err
	}
	cur, err := s.read()
	if err != nil {
		return err
	}
	defer s.gen.Add(1)

	// The filter first: a new service must pass it before its entry
	// exists; removed services are cleared from it at the end.
	var curKeys, desiredKeyList []Key
	for k := range cur.services {
		curKeys = append(curKeys, k)
	}
	for _, d := range desired {
		desiredKeyList = append(desiredKeyList, d.Key)
	}
	if err := s.writeFilter(curKeys, desiredKeyList); err != nil {
		return err
	}

	// Service ids: keep existing ones, hand out free ones lowest first.
	usedIDs := map[uint32]bool{}
	for _, v := range cur.services {
		usedIDs[v.Id] = true
	}
	ids := map[Key]uint32{}
	for _, d := range desired {
		if v, ok := cur.services[d.Key]; ok {
			ids[d.Key] = v.Id
		}
	}
	for _, d := range desired {
		if _, ok := ids[d.Key]; ok {
			continue
		}
		id, ok := lowestFree(usedIDs, MaxServices)
		if !ok {
			return fmt.Errorf("no free service slot (max %d)", MaxServices)
		}
		usedIDs[id] = true
		ids[d.Key] = id
		// A fresh id starts its rotation at zero.
		if err := s.m.SvcStates.Update(id, bpf.XlbSvcState{}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("reset service state %d: %w", id, err)
		}
	}

	// Backend slots: a (service id, address) keeps its slot.
	type slotKey struct {
		svc  uint32
		addr netip.AddrPort
	}
	slots := map[slotKey]uint32{}
	usedSlots := map[uint32]bool{}
	for id, b := range cur.backends {
		usedSlots[id] = true
		slots[slotKey{b.SvcId, backendAddr(b)}] = id
	}
	wanted := map[uint32]bool{}
	for _, d := range desired {
		sid := ids[d.Key]
		for _, b := range d.Backends {
			k := slotKey{sid, b.Addr}
			id, ok := slots[k]
			if !ok {
				id, ok = lowestFree(usedSlots, MaxBackends)
				if !ok {
					return fmt.Errorf("no free real-server slot (max %d)", MaxBackends)
				}
				usedSlots[id] = true
				slots[k] = id
				if err := s.m.ConnCounts.Update(id, bpf.XlbBackendConns{}, ebpf.UpdateAny); err != nil {
					return fmt.Errorf("reset connection counts of slot %d: %w", id, err)
				}
				// A reused slot's packet, byte and connection counters
				// are its last server's: the new one starts from zero
				// (its service's sums and metrics would jump otherwise).
				if err := resetBackendCounters(s.m, id); err != nil {
					return err
				}
			}
			wanted[id] = true
			// The limit before the server may take flows, so a new
			// server never starts without it.
			if err := writeLimits(s.m, id, limitsOf(b)); err != nil {
				return err
			}
			nb := toBPFBackend(sid, b)
			if old, ok := cur.backends[id]; !ok || old != nb {
				if err := s.m.Backends.Update(id, nb, ebpf.UpdateAny); err != nil {
					return fmt.Errorf("write real server %s: %w", b.Addr, err)
				}
			}
		}
	}

	// Rings and service entries.
	alloc := newRingAlloc(cur.services)
	for _, d := range desired {
		sid := ids[d.Key]
		ring, err := buildRing(d, func(a netip.AddrPort) uint32 { return slots[slotKey{sid, a}] })
		if err != nil {
			return fmt.Errorf("service %s: %w", d.Key, err)
		}
		old, had := cur.services[d.Key]
		nv := toBPFService(sid, d)
		nv.RingLen = uint32(len(ring))
		if had && old.RingLen == uint32(len(ring)) {
			same, err := s.ringEquals(old.RingOff, ring)
			if err != nil {
				return err
			}
			if same {
				nv.RingOff = old.RingOff
				if err := s.setIndex(cur, sid, bpf.XlbSvcEntry{Key: d.Key.bpf(), Val: nv}); err != nil {
					return err
				}
				if nv != old {
					if err := s.m.Services.Update(d.Key.bpf(), nv, ebpf.UpdateAny); err != nil {
						return fmt.Errorf("update service %s: %w", d.Key, err)
					}
				}
				continue
			}
		}
		off, err := alloc.take(uint32(len(ring)))
		if err != nil {
			return fmt.Errorf("service %s: %w", d.Key, err)
		}
		if err := s.writeRing(off, ring); err != nil {
			return err
		}
		nv.RingOff = off
		// The index entry before the service entry: a new service's
		// flows must find it as soon as they exist.
		if err := s.setIndex(cur, sid, bpf.XlbSvcEntry{Key: d.Key.bpf(), Val: nv}); err != nil {
			return err
		}
		if err := s.m.Services.Update(d.Key.bpf(), nv, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update service %s: %w", d.Key, err)
		}
		if had {
			alloc.release(old.RingOff, old.RingLen)
		}
	}

	if err := s.applyFragments(desired); err != nil {
		return err
	}

	// Vanished services stop matching: their packets pass to the stack.
	desiredKeys := map[Key]bool{}
	for _, d := range desired {
		desiredKeys[d.Key] = true
	}
	for k, v := range cur.services {
		if !desiredKeys[k] {
			if err := s.m.Services.Delete(k.bpf()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete service %s: %w", k, err)
			}
			if err := s.setIndex(cur, v.Id, bpf.XlbSvcEntry{}); err != nil {
				return err
			}
		}
	}
	// Index entries of ids no service has (left by an interrupted apply).
	live := map[uint32]bool{}
	for _, d := range desired {
		live[ids[d.Key]] = true
	}
	for id := range cur.index {
		if !live[id] {
			if err := s.setIndex(cur, id, bpf.XlbSvcEntry{}); err != nil {
				return err
			}
		}
	}
	if err := s.writeFilter(desiredKeyList); err != nil {
		return err
	}
	if err := s.writeSlots(desired, ids); err != nil {
		return err
	}
	// Vanished real servers drain: no new flows, existing ones continue
	// (or are rescheduled by expire_nodest_conn) until Reclaim frees them.
	for id, b := range cur.backends {
		if wanted[id] || b.Flags&(backendAvailable|backendConfigured) == 0 {
			continue
		}
		b.Flags &^= backendAvailable | backendConfigured
		if err := s.m.Backends.Update(id, b, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("drain real server slot %d: %w", id, err)
		}
	}
	return nil
}

// Reclaim frees drained backend slots that no connection references any
// more (refs from Conns.Sweep), so a reused slot can never inherit flows.
// It returns the slots it freed, so what callers keep per slot can go
// with them.
func (s *Services) Reclaim(refs map[uint32]int) ([]Freed, error) {
	cur, err := s.read()
	if err != nil {
		return nil, err
	}
	svcOf := map[uint32]Key{}
	for k, v := range cur.services {
		svcOf[v.Id] = k
	}
	var freed []Freed
	for id, b := range cur.backends {
		if b.Flags&backendConfigured != 0 || refs[id] > 0 {
			continue
		}
		if err := s.m.Backends.Update(id, bpf.XlbBackend{}, ebpf.UpdateAny); err != nil {
			return freed, fmt.Errorf("free real server slot %d: %w", id, err)
		}
		if err := writeLimits(s.m, id, bpf.XlbBackendLimits{}); err != nil {
			return freed, err
		}
		s.gen.Add(1)
		freed = append(freed, Freed{Slot: id, Service: svcOf[b.SvcId], Addr: backendAddr(b)})
	}
	return freed, nil
}

// Freed is a real-server slot Reclaim freed, and whose it was: its
// counters stay readable (Stats.Backend) until the slot is used again.
type Freed struct {
	Slot    uint32
	Service Key
	Addr    netip.AddrPort
}

func (s *Services) ringEquals(off uint32, ring []uint32) (bool, error) {
	for i, want := range ring {
		var got uint32
		if err := s.m.Rings.Lookup(off+uint32(i), &got); err != nil {
			return false, fmt.Errorf("read ring: %w", err)
		}
		if got != want {
			return false, nil
		}
	}
	return true, nil
}

func (s *Services) writeRing(off uint32, ring []uint32) error {
	if len(ring) == 0 {
		return nil
	}
	keys := make([]uint32, len(ring))
	for i := range ring {
		keys[i] = off + uint32(i)
	}
	if _, err := s.m.Rings.BatchUpdate(keys, ring, nil); err != nil {
		// Older kernels lack batch ops on arrays: fall back to single updates.
		for i := range ring {
			if err := s.m.Rings.Update(keys[i], ring[i], ebpf.UpdateAny); err != nil {
				return fmt.Errorf("write ring: %w", err)
			}
		}
	}
	return nil
}

func buildRing(d ServiceSpec, slotOf func(netip.AddrPort) uint32) ([]uint32, error) {
	var bs []sched.Backend
	for _, b := range d.Backends {
		if !b.eligible() {
			continue
		}
		bs = append(bs, sched.Backend{ID: slotOf(b.Addr), Key: b.Addr.String(), Weight: int(b.Weight)})
	}
	switch d.Scheduler {
	case RR:
		return sched.RR(bs), nil
	case WRR:
		return sched.WRR(bs), nil
	case WLC, LC, SED, NQ:
		// The least-connection family: the datapath scans the candidates.
		return sched.WLC(bs), nil
	case SH:
		return sched.SH(bs, shBuckets), nil
	case MH:
		size := d.MaglevSize
		if size == 0 {
			size = defaultMaglevSize
		}
		return sched.Maglev(bs, size, d.HashSeed)
	}
	return nil, fmt.Errorf("unknown scheduler %d", d.Scheduler)
}

func validate(desired []ServiceSpec) error {
	seen := map[Key]bool{}
	for _, d := range desired {
		if seen[d.Key] {
			return fmt.Errorf("service %s given twice", d.Key)
		}
		seen[d.Key] = true
		addrs := map[netip.AddrPort]bool{}
		for _, b := range d.Backends {
			if addrs[b.Addr] {
				return fmt.Errorf("service %s: real server %s given twice", d.Key, b.Addr)
			}
			addrs[b.Addr] = true
			if b.MAC != nil && len(b.MAC) != 6 {
				return fmt.Errorf("service %s: real server %s: bad MAC %s", d.Key, b.Addr, b.MAC)
			}
			if b.LowerThreshold > b.UpperThreshold {
				// IPVS refuses it too (ERANGE): the server would never leave overload.
				return fmt.Errorf("service %s: real server %s: lower threshold %d above upper %d", d.Key, b.Addr, b.LowerThreshold, b.UpperThreshold)
			}
		}
		if d.MaglevSize > MaxRing {
			return fmt.Errorf("service %s: maglev size %d above %d", d.Key, d.MaglevSize, MaxRing)
		}
	}
	return nil
}

func toBPFService(id uint32, d ServiceSpec) bpf.XlbSvcVal {
	flags := d.Flags &^ FlagThresholds
	for _, b := range d.Backends {
		if b.UpperThreshold > 0 {
			flags |= FlagThresholds
		}
	}
	return bpf.XlbSvcVal{
		Id:          id,
		Sched:       uint8(d.Scheduler),
		Flags:       flags,
		PersistSec:  d.PersistSec,
		PersistPlen: d.PersistPrefix,
		TcpSec:      d.TCPSec,
		TcpfinSec:   d.TCPFinSec,
		UdpSec:      d.UDPSec,
	}
}

func toBPFBackend(svcID uint32, b BackendSpec) bpf.XlbBackend {
	nb := bpf.XlbBackend{Flags: backendInUse | backendConfigured, Weight: b.Weight, SvcId: svcID, Port: b.Addr.Port()}
	if b.Tunnel {
		nb.Flags |= uint8(bpf.XlbBackendFlagsXLB_BE_TUNNEL)
		switch {
		case b.GRE:
			nb.Flags |= uint8(bpf.XlbBackendFlagsXLB_BE_TUN_GRE)
		case b.GUEPort > 0:
			nb.Flags |= uint8(bpf.XlbBackendFlagsXLB_BE_TUN_GUE)
			nb.TunPort = b.GUEPort<<8 | b.GUEPort>>8 // network order
		}
	}
	if b.eligible() {
		nb.Flags |= backendAvailable
		copy(nb.Mac[:], b.MAC)
	} else if len(b.MAC) == 6 {
		// Known MAC but down: existing flows still need it.
		copy(nb.Mac[:], b.MAC)
	}
	ip := b.Addr.Addr()
	if ip.Is4() {
		nb.Family = 4
		a := ip.As4()
		nb.Addr[0] = ne32(a[:])
	} else {
		nb.Family = 6
		a := ip.As16()
		for i := range 4 {
			nb.Addr[i] = ne32(a[i*4:])
		}
	}
	return nb
}

func backendAddr(b bpf.XlbBackend) netip.AddrPort {
	return netip.AddrPortFrom(addrFromWords(b.Family, b.Addr), b.Port)
}

func lowestFree(used map[uint32]bool, max uint32) (uint32, bool) {
	for i := uint32(0); i < max; i++ {
		if !used[i] {
			return i, true
		}
	}
	return 0, false
}

// ringAlloc hands out ranges of the flat rings map. Its state is derived
// from the services map every Apply, so it survives restarts for free.
type ringAlloc struct {
	used [][2]uint32 // sorted [off, end)
}

func newRingAlloc(svcs map[Key]bpf.XlbSvcVal) *ringAlloc {
	a := &ringAlloc{}
	for _, v := range svcs {
		if v.RingLen > 0 {
			a.used = append(a.used, [2]uint32{v.RingOff, v.RingOff + v.RingLen})
		}
	}
	sort.Slice(a.used, func(i, j int) bool { return a.used[i][0] < a.used[j][0] })
	return a
}

func (a *ringAlloc) take(n uint32) (uint32, error) {
	if n == 0 {
		return 0, nil
	}
	var off uint32
	for i, r := range a.used {
		if r[0]-off >= n {
			a.used = slices.Insert(a.used, i, [2]uint32{off, off + n})
			return off, nil
		}
		off = max(off, r[1])
	}
	if RingEntries-off < n {
		return 0, fmt.Errorf("rings map full: %d entries needed", n)
	}
	a.used = append(a.used, [2]uint32{off, off + n})
	return off, nil
}

func (a *ringAlloc) release(off, n uint32) {
	for i, r := range a.used {
		if r[0] == off && r[1] == off+n {
			a.used = slices.Delete(a.used, i, i+1)
			return
		}
	}
}

type fragKey struct {
	vip   netip.Addr
	proto uint8
}

// applyFragments tells the datapath which service the fragments to a VIP
// belong to: only when one service of the protocol exists on the VIP, as
// later fragments carry no port to tell services apart.
func (s *Services) applyFragments(desired []ServiceSpec) error {
	count := map[fragKey]int{}
	owner := map[fragKey]Key{}
	for _, d := range desired {
		k := fragKey{d.Key.VIP, d.Key.Proto}
		count[k]++
		owner[k] = d.Key
	}
	want := map[bpf.XlbFragKey]bpf.XlbSvcKey{}
	for k, n := range count {
		if n == 1 {
			sk := owner[k].bpf()
			want[bpf.XlbFragKey{Addr: sk.Addr, Proto: sk.Proto, Family: sk.Family}] = sk
		}
	}
	var fk bpf.XlbFragKey
	var sv bpf.XlbSvcKey
	var stale []bpf.XlbFragKey
	it := s.m.FragServices.Iterate()
	for it.Next(&fk, &sv) {
		if w, ok := want[fk]; !ok || w != sv {
			stale = append(stale, fk)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read fragment services: %w", err)
	}
	for k, v := range want {
		if err := s.m.FragServices.Update(k, v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write fragment service: %w", err)
		}
	}
	for _, k := range stale {
		if _, ok := want[k]; ok {
			continue
		}
		if err := s.m.FragServices.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete fragment service: %w", err)
		}
	}
	return nil
}
