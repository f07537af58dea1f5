package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/xlb-project/xlb/bpf"
	"golang.org/x/sys/unix"
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
// IPv4 flows from the flow_events ring, IPv6 flows from flow_events6. Read
// takes them from the rings itself and waits on both at once (an epoll of
// its own holding both rings): a goroutine per ring handing flows over
// would drain the rings slower, and the datapath wakes a reader that lags
// at every new flow (publish_flow), which costs each new flow hundreds of
// ns.
type FlowReader struct {
	mu     sync.Mutex // held by Read, so Close never closes the epoll under it
	r4, r6 *ringbuf.Reader
	rec    ringbuf.Record
	epfd   int
	events [2]unix.EpollEvent
	closed atomic.Bool
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
	f := &FlowReader{r4: r4, r6: r6, epfd: -1}
	if err := f.poll(c.m.FlowEvents.FD(), c.m.FlowEvents6.FD()); err != nil {
		f.closeAll()
		return nil, err
	}
	// Past deadlines: the readers never wait themselves, Read's epoll does.
	r4.SetDeadline(time.Unix(0, 1))
	r6.SetDeadline(time.Unix(0, 1))
	return f, nil
}

func (f *FlowReader) poll(fds ...int) error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll for flow events: %w", err)
	}
	f.epfd = epfd
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("epoll for flow events: %w", err)
		}
	}
	return nil
}

// flowPoll bounds how late a flow is read, and how long Close waits for
// Read: the datapath wakes the reader only once a batch is waiting, so a
// trickle is picked up by polling.
const flowPoll = 20 * time.Millisecond

// Read blocks for the next flow of either family; it fails with
// ringbuf.ErrClosed after Close.
func (f *FlowReader) Read() (Flow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.closed.Load() {
			return Flow{}, fmt.Errorf("flow events: %w", ringbuf.ErrClosed)
		}
		if fl, ok, err := f.next(f.r4, decodeFlowEvent4); ok || err != nil {
			return fl, err
		}
		if fl, ok, err := f.next(f.r6, decodeFlowEvent6); ok || err != nil {
			return fl, err
		}
		_, err := unix.EpollWait(f.epfd, f.events[:], int(flowPoll/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return Flow{}, fmt.Errorf("wait for flow events: %w", err)
		}
	}
}

// next reads a flow from r if it holds one, without waiting.
func (f *FlowReader) next(r *ringbuf.Reader, decode func([]byte) (Flow, error)) (Flow, bool, error) {
	if r.AvailableBytes() == 0 {
		return Flow{}, false, nil
	}
	err := r.ReadInto(&f.rec)
	if errors.Is(err, os.ErrDeadlineExceeded) { // only discarded records were there
		return Flow{}, false, nil
	}
	if err != nil {
		return Flow{}, false, err
	}
	fl, err := decode(f.rec.RawSample)
	return fl, err == nil, err
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

// Close unblocks Read (within flowPoll) and releases the rings.
func (f *FlowReader) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closeAll()
}

func (f *FlowReader) closeAll() error {
	var errs []error
	if f.epfd >= 0 {
		errs = append(errs, unix.Close(f.epfd))
		f.epfd = -1
	}
	return errors.Join(append(errs, f.r4.Close(), f.r6.Close())...)
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
