// Package dpcost measures the datapath's cost per packet with
// BPF_PROG_TEST_RUN: the kernel times the program itself, so the figures
// exclude syscall overhead. It serves the Go benchmarks and `xlb bench`.
package dpcost

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
)

// Case is one measured situation.
type Case struct {
	Name      string
	Scheduler maps.Scheduler
	Backends  int
	Proto     uint8 // 6 or 17
	Kind      Kind
	// Prefill puts this many unrelated flows in the connection table first.
	Prefill int
	// FlowEvents publishes every new flow for flow sharing (its cost).
	FlowEvents bool
	// Limited gives every real server a connection limit (uthreshold)
	// the run never reaches: the cost of keeping limits, not of skipping.
	Limited bool
	// Tunnel forwards to the real servers in LVS TUN (TunIPIP, TunGRE,
	// TunGUE) instead of DR.
	Tunnel Tunnel
}

// Tunnel is a TUN encapsulation of a Case.
type Tunnel int

const (
	NoTunnel Tunnel = iota // DR
	TunIPIP
	TunGRE
	TunGUE
)

// Kind of packet measured.
type Kind int

const (
	Established Kind = iota // a packet of a flow already in the table
	NewFlow                 // the first packet of a flow (scheduled, inserted)
	Pass                    // not for a virtual service
	Floor                   // an empty XDP program: the harness's own cost
	LRUInsert               // reference: a bare kernel LRU hash lookup + insert per new flow
	ColdRead                // reference: one read of a random bucket in an array the table's size
	// Restored is Established with every repetition on the frame as built
	// (loader.BenchRestored): a TUN packet grows the frame it leaves.
	Restored
	RestoreFloor // what Restored adds: its front program before an empty one
	FlowsFloor   // what NewFlow adds: its front program (a new client each repetition) before an empty one
)

func (k Kind) String() string {
	return [...]string{"established", "new-flow", "pass", "floor", "reference", "reference", "established", "floor", "floor"}[k]
}

// Result of one case.
type Result struct {
	Case
	NsPerPacket float64
	Packets     int
}

// SchedulerName spells a scheduler as ipvsadm does.
func SchedulerName(s maps.Scheduler) string {
	return map[maps.Scheduler]string{maps.RR: "rr", maps.WRR: "wrr", maps.WLC: "wlc", maps.SH: "sh", maps.MH: "mh",
		maps.LC: "lc", maps.SED: "sed", maps.NQ: "nq"}[s]
}

// Rig is a loaded datapath with the fixture service configured.
type Rig struct {
	DP  *loader.Datapath
	top fixture.Topology
	// nextFlow numbers new-flow clients, so measurements never reuse one.
	nextFlow  int
	tableSize int
}

// NewRig loads a datapath sized for connSize flows. It has no director
// MAC: BPF_PROG_TEST_RUN runs each repetition on the frame the one before
// rewrote, which is addressed to a real server's MAC by then, and a
// datapath that knows its own MAC passes frames for other hosts (only the
// first repetition would be forwarded). Unset, the check costs its test
// of the unset MAC: two loads and a branch fewer than a real director's.
func NewRig(connSize int) (*Rig, error) {
	dp, err := loader.Load(loader.Options{ConnTableSize: connSize, PersistTableSize: 1024})
	if err != nil {
		return nil, err
	}
	return &Rig{DP: dp, top: fixture.Seed(), tableSize: connSize}, nil
}

// Close unloads it.
func (r *Rig) Close() { r.DP.Close(true) }

// Configure installs the fixture service of c: c.Backends equal-weight
// backends, with c's scheduler, protocol (0: TCP), limits and forwarding.
func (r *Rig) Configure(c Case) error {
	spec := maps.ServiceSpec{
		Key:       maps.Key{VIP: r.top.VIP, Port: r.top.Port, Proto: c.proto()},
		Scheduler: c.Scheduler, TCPSec: 900, TCPFinSec: 120, UDPSec: 300,
	}
	if c.Tunnel != NoTunnel {
		// The director's address in the outer headers.
		if err := r.DP.Maps.Settings.Tunnel(netip.AddrFrom4([4]byte{192, 168, 1, 1}), netip.Addr{}, 1500); err != nil {
			return err
		}
	}
	for i := range c.Backends {
		be := maps.BackendSpec{
			Addr:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), r.top.Port),
			MAC:    net.HardwareAddr{2, 0, 0, 1, byte(i >> 8), byte(i)},
			Weight: 1, Available: true,
			Tunnel: c.Tunnel != NoTunnel, GRE: c.Tunnel == TunGRE,
		}
		if c.Tunnel == TunGUE {
			be.GUEPort = 6080
		}
		if c.Limited {
			be.UpperThreshold = 1 << 30
		}
		spec.Backends = append(spec.Backends, be)
	}
	return r.DP.Maps.Services.Apply([]maps.ServiceSpec{spec})
}

func (c Case) proto() uint8 {
	if c.Proto == 0 {
		return 6
	}
	return c.Proto
}

// Prefill inserts n flows from distinct clients by running their first
// packets through the program (so they are real entries).
func (r *Rig) Prefill(n int, proto uint8) error {
	f := r.frame(proto, fixture.Client(0), fixture.SYN)
	for i := range n {
		setClient(f, i+1_000_000)
		act, _, err := r.DP.Run(f)
		if err != nil {
			return err
		}
		if act != fixture.XDPTx {
			return fmt.Errorf("prefill flow %d not forwarded (action %d)", i, act)
		}
	}
	return nil
}

func (r *Rig) frame(proto uint8, client netip.AddrPort, flags uint8) []byte {
	return fixture.Frame{Src: client, Dst: netip.AddrPortFrom(r.top.VIP, r.top.Port), Proto: proto, TCPFlags: flags, Payload: 64}.Build()
}

// setClient rewrites the client address and port of an untagged IPv4
// frame in place, making it a different flow (checksums are not needed by
// the director and are left stale).
func setClient(f []byte, n int) {
	binary.BigEndian.PutUint32(f[26:], 0x0a000000|uint32(n&0xffffff))
	binary.BigEndian.PutUint16(f[34:], uint16(1024+(n>>24)))
}

// Measure runs a case with packets packets.
func (r *Rig) Measure(c Case, packets int) (Result, error) {
	res := Result{Case: c, Packets: packets}
	if err := r.DP.Maps.Settings.FlowEvents(c.FlowEvents); err != nil {
		return res, err
	}
	if c.FlowEvents {
		// Drain the ring buffer as the daemon would, so it never fills.
		rd, err := r.DP.Maps.Conns.FlowReader()
		if err != nil {
			return res, err
		}
		defer rd.Close()
		go func() {
			for {
				if _, err := rd.Read(); err != nil {
					return
				}
			}
		}()
	}
	proto := c.proto()
	switch c.Kind {
	case Established, Pass, Restored:
		f := r.frame(proto, fixture.Client(1), fixture.ACK)
		if c.Kind == Pass {
			binary.BigEndian.PutUint32(f[30:], 0x0a0a0a0a) // not the VIP
		} else if _, _, err := r.DP.Run(f); err != nil { // the flow's first packet
			return res, err
		}
		bench := r.DP.Bench
		if c.Kind == Restored {
			bench = r.DP.BenchRestored
		}
		ns, err := bench(f, uint32(packets))
		if err != nil {
			return res, err
		}
		res.NsPerPacket = ns
	case RestoreFloor, FlowsFloor:
		overhead := loader.BenchRestoredOverhead
		if c.Kind == FlowsFloor {
			overhead = loader.BenchFlowsOverhead
		}
		ns, err := overhead(r.frame(proto, fixture.Client(1), fixture.ACK), uint32(packets))
		if err != nil {
			return res, err
		}
		res.NsPerPacket = ns
	case NewFlow:
		// BPF_PROG_TEST_RUN repeats one frame; a front program makes
		// every repetition a new client (loader.BenchFlows), so the new
		// flows are measured like established packets: one run of
		// `packets` repetitions, the harness's fixed cost amortised. The
		// front program's few ns are included.
		f := r.frame(proto, fixture.Client(0), fixture.SYN)
		setClient(f, 2_000_000+r.nextFlow)
		r.nextFlow += packets
		ns, err := r.DP.BenchFlows(f, uint32(packets))
		if err != nil {
			return res, err
		}
		res.NsPerPacket = ns
	case Floor:
		ns, err := loader.BenchEmpty(r.frame(proto, fixture.Client(1), fixture.ACK), uint32(packets))
		if err != nil {
			return res, err
		}
		res.NsPerPacket = ns
	case LRUInsert:
		f := r.frame(proto, fixture.Client(0), fixture.SYN)
		setClient(f, 2_000_000+r.nextFlow)
		r.nextFlow += packets
		ns, err := loader.BenchLRUInsert(f, uint32(packets), r.tableSize)
		if err != nil {
			return res, err
		}
		res.NsPerPacket = ns
	case ColdRead:
		f := r.frame(proto, fixture.Client(0), fixture.SYN)
		ns, err := loader.BenchColdRead(f, uint32(packets), maps.FlowBuckets(r.tableSize))
		if err != nil {
			return res, err
		}
		res.NsPerPacket = ns
	}
	return res, nil
}
