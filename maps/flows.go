package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/xlb-project/xlb/bpf"
)

// Flow is a flow learnt by one director, as shared with its peers: real
// servers are named by address because backend slots are local.
type Flow struct {
	Proto   uint8
	Client  netip.AddrPort
	VIP     netip.AddrPort
	Backend netip.AddrPort
}

// FlowReader reads the flows the datapath publishes (Settings.FlowEvents):
// IPv4 flows from the flow_events ring, IPv6 flows from flow_events6. One
// goroutine per ring hands them to Read.
type FlowReader struct {
	r4, r6 *ringbuf.Reader
	out    chan flowRead
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

type flowRead struct {
	flow Flow
	err  error
}

// FlowReader opens the flow-event ring buffers.
func (c *Conns) FlowReader() (*FlowReader, error) {
	r4, err := ringbuf.NewReader(c.m.FlowEvents)
	if err != nil {
		return nil, fmt.Errorf("open flow events: %w", err)
	}
	r6, err := ringbuf.NewReader(c.m.FlowEvents6)
	if err != nil {
		r4.Close()
		return nil, fmt.Errorf("open ipv6 flow events: %w", err)
	}
	f := &FlowReader{r4: r4, r6: r6, out: make(chan flowRead), done: make(chan struct{})}
	f.wg.Add(2)
	go f.pump(r4, decodeFlowEvent4)
	go f.pump(r6, decodeFlowEvent6)
	return f, nil
}

// flowPoll bounds how late a flow is read: the datapath wakes the reader
// only once a batch is waiting, so a trickle is picked up by polling.
const flowPoll = 20 * time.Millisecond

// pump reads one ring until Close.
func (f *FlowReader) pump(r *ringbuf.Reader, decode func([]byte) (Flow, error)) {
	defer f.wg.Done()
	var rec ringbuf.Record
	for {
		r.SetDeadline(time.Now().Add(flowPoll))
		err := r.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if errors.Is(err, ringbuf.ErrClosed) {
			return
		}
		var fl Flow
		if err == nil {
			fl, err = decode(rec.RawSample)
		}
		select {
		case f.out <- flowRead{fl, err}:
		case <-f.done:
			return
		}
	}
}

// Read blocks for the next flow of either family; it fails with
// ringbuf.ErrClosed after Close.
func (f *FlowReader) Read() (Flow, error) {
	select {
	case r := <-f.out:
		return r.flow, r.err
	case <-f.done:
		return Flow{}, ringbuf.ErrClosed
	}
}

func decodeFlowEvent4(raw []byte) (Flow, error) {
	var ev bpf.XlbFlowEvent
	if _, err := binary.Decode(raw, binary.NativeEndian, &ev); err != nil {
		return Flow{}, fmt.Errorf("decode flow event: %w", err)
	}
	return Flow{
		Proto:   ev.Key.Proto,
		Client:  netip.AddrPortFrom(addrFromWords(4, [4]uint32{ev.Key.Saddr}), ntohs(ev.Key.Sport)),
		VIP:     netip.AddrPortFrom(addrFromWords(4, [4]uint32{ev.Key.Daddr}), ntohs(ev.Key.Dport)),
		Backend: netip.AddrPortFrom(addrFromWords(ev.Family, ev.BackendAddr), ev.BackendPort),
	}, nil
}

func decodeFlowEvent6(raw []byte) (Flow, error) {
	var ev bpf.XlbFlowEvent6
	if _, err := binary.Decode(raw, binary.NativeEndian, &ev); err != nil {
		return Flow{}, fmt.Errorf("decode ipv6 flow event: %w", err)
	}
	return Flow{
		Proto:   ev.Key.Proto,
		Client:  netip.AddrPortFrom(addrFromWords(6, ev.Key.Saddr), ntohs(ev.Key.Sport)),
		VIP:     netip.AddrPortFrom(addrFromWords(6, ev.Key.Daddr), ntohs(ev.Key.Dport)),
		Backend: netip.AddrPortFrom(addrFromWords(ev.Family, ev.BackendAddr), ev.BackendPort),
	}, nil
}

// Close unblocks Read and stops reading the rings.
func (f *FlowReader) Close() error {
	var err error
	f.once.Do(func() {
		close(f.done)
		err = errors.Join(f.r4.Close(), f.r6.Close())
		f.wg.Wait()
	})
	return err
}

// ErrUnknownFlow says a shared flow names a service or real server this
// director does not have.
var ErrUnknownFlow = errors.New("flow's service or real server is not configured here")

// Insert records flows learnt by a peer director, so that packets of them
// that reach this director (ECMP re-hashing, failover) keep their real
// server even where this director's own scheduler would pick another. Flows
// this director already knows are left alone. It returns how many flows it
// recorded; flows naming a service or real server not configured here are
// skipped and counted in unknown.
func (c *Conns) Insert(flows []Flow, now uint64) (inserted, unknown int, err error) {
	c.idxMu.Lock()
	if g := c.gen.Load(); c.idx == nil || c.idxGen != g {
		idx, err := c.backendIndex()
		if err != nil {
			c.idxMu.Unlock()
			return 0, 0, err
		}
		c.idx, c.idxGen = idx, g
	}
	slots := c.idx
	c.idxMu.Unlock()
	svcs := map[Key]bpf.XlbSvcVal{}
	for _, f := range flows {
		v4, ok := oneFamily(f.Client.Addr(), f.VIP.Addr())
		if !ok {
			unknown++
			continue
		}
		key := Key{VIP: f.VIP.Addr(), Port: f.VIP.Port(), Proto: f.Proto}
		sv, ok := svcs[key]
		if !ok {
			if err := c.m.Services.Lookup(key.bpf(), &sv); err != nil {
				unknown++
				continue
			}
			svcs[key] = sv
		}
		slot, ok := slots[backendRef{sv.Id, f.Backend}]
		if !ok {
			unknown++
			continue
		}
		// The flow idles out as one seen now would.
		timeout := sv.TcpSec
		if f.Proto == protoUDP {
			timeout = sv.UdpSec
		}
		expires := Ticks(now) + TicksOf(time.Duration(timeout)*time.Second)
		var added bool
		var err error
		if v4 {
			ck := bpf.XlbConnKey4{Saddr: key4(f.Client.Addr()), Daddr: key4(f.VIP.Addr()), Sport: htons(f.Client.Port()), Dport: htons(f.VIP.Port()), Proto: f.Proto}
			added, err = c.t4.insert(ck, slot, false, expires)
		} else {
			ck := bpf.XlbConnKey6{Saddr: key6(f.Client.Addr()), Daddr: key6(f.VIP.Addr()), Sport: htons(f.Client.Port()), Dport: htons(f.VIP.Port()), Proto: f.Proto}
			added, err = c.insert6(ck, slot, expires, now)
		}
		if err != nil {
			return inserted, unknown, fmt.Errorf("insert shared flow: %w", err)
		}
		if added {
			inserted++
		}
	}
	return inserted, unknown, nil
}

type backendRef struct {
	svc  uint32
	addr netip.AddrPort
}

// backendIndex maps (service, real server) to its slot. Only available
// servers: a drained slot must not take flows from a peer.
func (c *Conns) backendIndex() (map[backendRef]uint32, error) {
	out := map[backendRef]uint32{}
	err := eachBackend(c.m, func(id uint32, b bpf.XlbBackend) {
		if b.Flags&backendAvailable != 0 {
			out[backendRef{b.SvcId, backendAddr(b)}] = id
		}
	})
	return out, err
}

// oneFamily reports whether a and b are both IPv4 or both IPv6, as a
// service's flows are (an IPv4 address mapped into IPv6 names no service
// and no flow of one), and which.
func oneFamily(a, b netip.Addr) (v4, ok bool) {
	switch {
	case a.Is4() && b.Is4():
		return true, true
	case a.Is6() && b.Is6() && !a.Is4In6() && !b.Is4In6():
		return false, true
	}
	return false, false
}

// insert6 records an IPv6 flow in the conns6 LRU hash unless the table
// holds it live, as xlb_conns_ctl's insert does for IPv4: a new key is
// created atomically (UpdateNoExist), so a flow the datapath recorded in
// the meantime is never overwritten; an idled-out entry is replaced.
func (c *Conns) insert6(k bpf.XlbConnKey6, backend, expires uint32, now uint64) (bool, error) {
	v := bpf.XlbConnVal{Backend: backend, State: bpf.XlbConnStateXLB_CONN_ACTIVE, Expires: expires}
	err := c.m.Conns6.Update(k, v, ebpf.UpdateNoExist)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, ebpf.ErrKeyExist) {
		return false, err
	}
	var cur bpf.XlbConnVal
	if err := c.m.Conns6.Lookup(k, &cur); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) { // evicted or reaped since
			return false, nil
		}
		return false, err
	}
	if !tickAfter(Ticks(now), cur.Expires) {
		return false, nil
	}
	if err := c.m.Conns6.Update(k, v, ebpf.UpdateExist); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func key6(a netip.Addr) [4]uint32 {
	b := a.As16()
	var w [4]uint32
	for i := range 4 {
		w[i] = ne32(b[i*4:])
	}
	return w
}

func key4(a netip.Addr) uint32 {
	b := a.As4()
	return ne32(b[:])
}
