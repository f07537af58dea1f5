package maps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/xlb-project/xlb/bpf"
	"golang.org/x/sys/unix"
)

// The IPv4 connection table (bpf/flowtab.h) is an array of buckets, each
// with a sequence lock. User space reads it through a read-only mapping
// (no syscall per flow) and changes it only through xlb_conns_ctl, which
// takes the same locks the datapath does: a user-space writer could be
// descheduled holding one, and the datapath must never wait for it.

// FlowWays is the number of slots per bucket (bpf/consts.h XLB_FLOW_WAYS).
const FlowWays = 6

// flowGuest marks a slot's state when its flow lives in its second bucket
// (XLB_FLOW_GUEST): the datapath's bookkeeping, not the flow's state.
const flowGuest = 0x80

// flowFill is the fill of the table at its nominal size (conn_table_size
// flows): at half full, a new flow finding both its buckets full (and so
// evicting a live flow) happened in none of 42 million simulated inserts
// (bpf/flowtab.h's placement); at two thirds, about once in 28,000.
const (
	flowFillNum = 1
	flowFillDen = 2
)

// FlowBuckets is the number of buckets holding flows IPv4 flows at the
// nominal fill.
func FlowBuckets(flows int) uint32 {
	slots := (max(flows, 1)*flowFillDen + flowFillNum - 1) / flowFillNum
	return uint32((slots + FlowWays - 1) / FlowWays)
}

// tickShift converts CLOCK_MONOTONIC_COARSE ns to the flow clock
// (XLB_FLOW_TICK_SHIFT).
const tickShift = 24

// Ticks is the flow clock at ns.
func Ticks(ns uint64) uint32 { return uint32(ns >> tickShift) }

// TicksOf is a duration in flow-clock ticks.
func TicksOf(d time.Duration) uint32 { return uint32(uint64(d) >> tickShift) }

// tickAfter reports whether a is later than b on the wrapping flow clock.
func tickAfter(a, b uint32) bool { return int32(a-b) > 0 }

// ticksDuration converts a tick difference back to time.
func ticksDuration(t int32) time.Duration { return time.Duration(int64(t) << tickShift) }

// bucketSize is sizeof(struct flow_bucket4).
const bucketSize = int(unsafe.Sizeof(bpf.XlbFlowBucket4{}))

// flowSlot is one slot of a bucket as read from the mapping.
type flowSlot struct {
	key     bpf.XlbConnKey4
	state   uint8
	backend uint16
	expires uint32
}

type flowTable4 struct {
	m       *ebpf.Map
	ctl     *ebpf.Program
	mem     []byte
	buckets int
}

func openFlowTable4(m *ebpf.Map, ctl *ebpf.Program) (*flowTable4, error) {
	if m.ValueSize() != uint32(bucketSize) {
		return nil, fmt.Errorf("connection table buckets are %d bytes, want %d", m.ValueSize(), bucketSize)
	}
	n := int(m.MaxEntries())
	page := os.Getpagesize()
	size := (n*bucketSize + page - 1) / page * page
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map connection table: %w", err)
	}
	return &flowTable4{m: m, ctl: ctl, mem: mem, buckets: n}, nil
}

func (t *flowTable4) close() error {
	if t.mem == nil {
		return nil
	}
	err := unix.Munmap(t.mem)
	t.mem = nil
	return err
}

// word reads the 32-bit word at byte offset off atomically: a sequence of
// atomic loads stays in order on every CPU, which the sequence lock needs.
func (t *flowTable4) word(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&t.mem[off])))
}

// bucket reads bucket i consistently into out (live and expired slots;
// empty ones are skipped). It reports false when writers kept changing it.
func (t *flowTable4) bucket(i int, out []flowSlot) ([]flowSlot, bool) {
	base := i * bucketSize
	var words [bucketSize / 4]uint32
	for range 64 {
		// The low half of the 64-bit seq (little endian) is odd while
		// a writer holds the bucket.
		seq := t.word(base)
		if seq&1 != 0 {
			runtime.Gosched()
			continue
		}
		for w := 2; w < len(words); w++ {
			words[w] = t.word(base + 4*w)
		}
		if t.word(base) != seq {
			continue
		}
		out = out[:0]
		for s := range FlowWays {
			w := words[2+5*s : 7+5*s]
			proto := uint8(w[3])
			if proto == 0 {
				continue
			}
			out = append(out, flowSlot{
				key: bpf.XlbConnKey4{
					Saddr: w[0], Daddr: w[1],
					Sport: uint16(w[2]), Dport: uint16(w[2] >> 16),
					Proto: proto,
				},
				state:   uint8(w[3]>>8) &^ flowGuest,
				backend: uint16(w[3] >> 16),
				expires: w[4],
			})
		}
		return out, true
	}
	return out, false
}

// each visits every non-empty slot; buckets that stayed busy are skipped
// (counted in busy) rather than waited for.
func (t *flowTable4) each(fn func(flowSlot)) (busy int) {
	buf := make([]flowSlot, 0, FlowWays)
	for i := range t.buckets {
		var ok bool
		buf, ok = t.bucket(i, buf)
		if !ok {
			busy++
			continue
		}
		for _, s := range buf {
			fn(s)
		}
	}
	return busy
}

var errTableBusy = errors.New("connection table bucket stayed busy")

// op runs one request through xlb_conns_ctl, retrying while the bucket
// is locked by the datapath.
func (t *flowTable4) op(req bpf.XlbConnOp) (bpf.XlbConnOpResult, error) {
	in, err := binary.Append(nil, binary.NativeEndian, &req)
	if err != nil {
		return 0, fmt.Errorf("encode connection table request: %w", err)
	}
	for range 100 {
		opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in))}
		if _, err := t.ctl.Run(opts); err != nil {
			return 0, fmt.Errorf("run connection table program: %w", err)
		}
		var out bpf.XlbConnOp
		if _, err := binary.Decode(opts.DataOut, binary.NativeEndian, &out); err != nil {
			return 0, fmt.Errorf("decode connection table reply: %w", err)
		}
		res := bpf.XlbConnOpResult(out.Result)
		switch res {
		case bpf.XlbConnOpResultXLB_OP_BUSY:
			runtime.Gosched()
			continue
		case bpf.XlbConnOpResultXLB_OP_INVALID:
			return res, fmt.Errorf("connection table refused request %+v", req)
		}
		return res, nil
	}
	return bpf.XlbConnOpResultXLB_OP_BUSY, errTableBusy
}

func (t *flowTable4) insert(k bpf.XlbConnKey4, backend uint32, fin bool, expires uint32) (bool, error) {
	state := uint32(bpf.XlbConnStateXLB_CONN_ACTIVE)
	if fin {
		state = uint32(bpf.XlbConnStateXLB_CONN_FIN)
	}
	res, err := t.op(bpf.XlbConnOp{Key: k, Op: uint32(bpf.XlbConnOpKindXLB_OP_INSERT), Backend: backend, State: state, Expires: expires})
	if err != nil {
		return false, err
	}
	return res != bpf.XlbConnOpResultXLB_OP_EXISTS, nil
}

func (t *flowTable4) delete(k bpf.XlbConnKey4, onlyExpired bool) (bool, error) {
	op := bpf.XlbConnOpKindXLB_OP_DELETE
	if onlyExpired {
		op = bpf.XlbConnOpKindXLB_OP_DELETE_EXPIRED
	}
	res, err := t.op(bpf.XlbConnOp{Key: k, Op: uint32(op)})
	return res == bpf.XlbConnOpResultXLB_OP_DONE, err
}

func keyAddrs4(k bpf.XlbConnKey4) (client, vip netip.AddrPort) {
	return netip.AddrPortFrom(addrFromWords(4, [4]uint32{k.Saddr}), ntohs(k.Sport)),
		netip.AddrPortFrom(addrFromWords(4, [4]uint32{k.Daddr}), ntohs(k.Dport))
}

// layoutCheck proves the byte layout bucket() decodes by hand matches
// what bpf2go generated (run once, by New).
func layoutCheck() error {
	var b bpf.XlbFlowBucket4
	b.Seq = 2
	b.Slot[1] = bpf.XlbFlow4{Saddr: 1, Daddr: 2, Sport: 3, Dport: 4, Proto: 6, State: 1, Backend: 7, Expires: 9}
	raw, err := binary.Append(nil, binary.NativeEndian, &b)
	if err != nil {
		return err
	}
	if len(raw) != bucketSize {
		return fmt.Errorf("bucket encodes to %d bytes, want %d", len(raw), bucketSize)
	}
	t := &flowTable4{mem: raw, buckets: 1}
	got, ok := t.bucket(0, nil)
	want := flowSlot{key: bpf.XlbConnKey4{Saddr: 1, Daddr: 2, Sport: 3, Dport: 4, Proto: 6}, state: 1, backend: 7, expires: 9}
	if !ok || len(got) != 1 || got[0] != want || !bytes.Equal(raw[:8], []byte{2, 0, 0, 0, 0, 0, 0, 0}) {
		return fmt.Errorf("connection table layout is not what maps decodes: %+v", got)
	}
	return nil
}
