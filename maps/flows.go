package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

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

// FlowReader reads the flows the datapath publishes (Settings.FlowEvents).
type FlowReader struct {
	r *ringbuf.Reader
}

// FlowReader opens the flow-event ring buffer.
func (c *Conns) FlowReader() (*FlowReader, error) {
	r, err := ringbuf.NewReader(c.m.FlowEvents)
	if err != nil {
		return nil, fmt.Errorf("open flow events: %w", err)
	}
	return &FlowReader{r: r}, nil
}

// flowPoll bounds how late a flow is read: the datapath wakes the reader
// only once a batch is waiting, so a trickle is picked up by polling.
const flowPoll = 20 * time.Millisecond

// Read blocks for the next flow; it fails with ringbuf.ErrClosed after Close.
func (f *FlowReader) Read() (Flow, error) {
	var rec ringbuf.Record
	for {
		f.r.SetDeadline(time.Now().Add(flowPoll))
		err := f.r.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return Flow{}, err
		}
		break
	}
	var ev bpf.XlbFlowEvent
	if _, err := binary.Decode(rec.RawSample, binary.NativeEndian, &ev); err != nil {
		return Flow{}, fmt.Errorf("decode flow event: %w", err)
	}
	return Flow{
		Proto:   ev.Key.Proto,
		Client:  netip.AddrPortFrom(addrFromWords(4, [4]uint32{ev.Key.Saddr}), ntohs(ev.Key.Sport)),
		VIP:     netip.AddrPortFrom(addrFromWords(4, [4]uint32{ev.Key.Daddr}), ntohs(ev.Key.Dport)),
		Backend: netip.AddrPortFrom(addrFromWords(ev.Family, ev.BackendAddr), ev.BackendPort),
	}, nil
}

// Close unblocks Read.
func (f *FlowReader) Close() error { return f.r.Close() }

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
		if !f.Client.Addr().Is4() || !f.VIP.Addr().Is4() {
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
		ck := bpf.XlbConnKey4{Saddr: key4(f.Client.Addr()), Daddr: key4(f.VIP.Addr()), Sport: htons(f.Client.Port()), Dport: htons(f.VIP.Port()), Proto: f.Proto}
		added, err := c.t4.insert(ck, slot, false, Ticks(now)+TicksOf(time.Duration(timeout)*time.Second))
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

func key4(a netip.Addr) uint32 {
	b := a.As4()
	return ne32(b[:])
}
