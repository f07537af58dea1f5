package loader

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// BenchFlows measures the ns per packet of repeat packets that each start
// a new flow. BPF_PROG_TEST_RUN repeats one frame, so a small front
// program makes every repetition a different flow: it adds one to the
// IPv4 source address (bytes 26-29 of an untagged frame) and tail-calls
// the datapath. The figure includes that front program (a few ns, see
// BenchFlowsOverhead), so it is an upper bound of the datapath's own cost.
func (d *Datapath) BenchFlows(frame []byte, repeat uint32) (float64, error) {
	return benchThroughFront(d.objs.XlbMain, frame, repeat)
}

// BenchFlowsOverhead is what BenchFlows adds: the front program
// tail-calling a program that only returns.
func BenchFlowsOverhead(frame []byte, repeat uint32) (float64, error) {
	return frontOverhead(benchThroughFront, frame, repeat)
}

// benchInsnsThroughFront loads an XDP program and times it behind the
// front program (a new flow every repetition).
func benchInsnsThroughFront(what string, insns asm.Instructions, frame []byte, repeat uint32) (float64, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, AttachType: ebpf.AttachXDP, License: "GPL", Instructions: insns})
	if err != nil {
		return 0, fmt.Errorf("load %s program: %w", what, err)
	}
	defer p.Close()
	return benchThroughFront(p, frame, repeat)
}

// BenchEmpty measures an XDP program that only returns XDP_PASS: the
// harness's own cost per packet, a floor under every other figure.
func BenchEmpty(frame []byte, repeat uint32) (float64, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, AttachType: ebpf.AttachXDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		return 0, fmt.Errorf("load empty program: %w", err)
	}
	defer p.Close()
	_, dur, err := p.Benchmark(frame, int(repeat), nil)
	if err != nil {
		return 0, fmt.Errorf("benchmark: %w", err)
	}
	return float64(dur.Nanoseconds()), nil
}

func benchThroughFront(target *ebpf.Program, frame []byte, repeat uint32) (float64, error) {
	return benchBehind(target, slices.Concat(frameReach(asm.R6, 34), asm.Instructions{
		// A new client every repetition: the source address plus one.
		asm.LoadMem(asm.R5, asm.R2, 26, asm.Word),
		asm.HostTo(asm.BE, asm.R5, asm.Word),
		asm.Add.Imm(asm.R5, 1),
		asm.HostTo(asm.BE, asm.R5, asm.Word),
		asm.StoreMem(asm.R2, 26, asm.R5, asm.Word),
	}), frame, repeat)
}

// BenchRestored measures the ns per packet of repeat repetitions of frame
// through the datapath, each of them seeing frame as it was given.
// BPF_PROG_TEST_RUN runs every repetition on the frame the previous one
// left, and a TUN packet grows it by its outer headers: without a reset
// the second repetition sees the encapsulated packet, addressed to the
// real server, and passes it, so only the first is encapsulated. A front
// program moves the frame's start back to frame's length and rewrites its
// Ethernet header, then tail-calls the datapath. That restores the frame
// whole: an encapsulation writes only in front of the inner IP header,
// and a DR packet changes only the Ethernet header. The front's cost
// (BenchRestoredOverhead) is included.
func (d *Datapath) BenchRestored(frame []byte, repeat uint32) (float64, error) {
	return benchRestored(d.objs.XlbMain, frame, repeat)
}

// BenchRestoredOverhead is what BenchRestored adds: its front program
// tail-calling a program that only returns.
func BenchRestoredOverhead(frame []byte, repeat uint32) (float64, error) {
	return frontOverhead(benchRestored, frame, repeat)
}

// frontOverhead times a front program (bench) before a target that only
// returns XDP_TX: the front's own cost.
func frontOverhead(bench func(*ebpf.Program, []byte, uint32) (float64, error), frame []byte, repeat uint32) (float64, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, AttachType: ebpf.AttachXDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 3), asm.Return()}})
	if err != nil {
		return 0, fmt.Errorf("load return program: %w", err)
	}
	defer p.Close()
	return bench(p, frame, repeat)
}

func benchRestored(target *ebpf.Program, frame []byte, repeat uint32) (float64, error) {
	if len(frame) < 14 {
		return 0, fmt.Errorf("frame of %d bytes has no Ethernet header", len(frame))
	}
	eth := func(off int, size asm.Size) asm.Instruction {
		// StoreImm writes the immediate in host order: the frame's bytes
		// read as a host-order integer come out as the bytes.
		v := int64(int32(binary.NativeEndian.Uint32(frame[off:])))
		if size == asm.Half {
			v = int64(binary.NativeEndian.Uint16(frame[off:]))
		}
		return asm.StoreImm(asm.R2, int16(off), v, size)
	}
	return benchBehind(target, slices.Concat(asm.Instructions{
		// delta = current length - frame's: what the last repetition grew
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnXdpGetBuffLen.Call(),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.Add.Imm(asm.R2, -int32(len(frame))),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnXdpAdjustHead.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
	}, frameReach(asm.R6, 14), asm.Instructions{
		eth(0, asm.Word), eth(4, asm.Word), eth(8, asm.Word), eth(12, asm.Half),
	}), frame, repeat)
}

// benchBehind times target behind a front program: body (ctx in R6; it
// may jump to "out" to abort) runs before every repetition, then a tail
// call enters target.
func benchBehind(target *ebpf.Program, body asm.Instructions, frame []byte, repeat uint32) (float64, error) {
	progs, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return 0, fmt.Errorf("create program array: %w", err)
	}
	defer progs.Close()
	if err := progs.Put(uint32(0), target); err != nil {
		return 0, fmt.Errorf("install program: %w", err)
	}
	front, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, AttachType: ebpf.AttachXDP, License: "GPL",
		Instructions: slices.Concat(asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}, body, asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, progs.FD()),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnTailCall.Call(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		}),
	})
	if err != nil {
		return 0, fmt.Errorf("load front program: %w", err)
	}
	defer front.Close()
	_, dur, err := front.Benchmark(frame, int(repeat), nil)
	if err != nil {
		return 0, fmt.Errorf("benchmark: %w", err)
	}
	return float64(dur.Nanoseconds()), nil
}

// BenchLRUInsert measures what one kernel LRU hash costs a new flow in
// the same harness as BenchFlows: a program that builds a 16-byte key
// from the frame's source address, looks it up and, missing, inserts a
// 16-byte value into an LRU hash of size entries. It is the reference
// xlb's own connection table is measured against (bench/README.md).
func BenchLRUInsert(frame []byte, repeat uint32, size int) (float64, error) {
	lru, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LRUHash, KeySize: 16, ValueSize: 16, MaxEntries: uint32(size)})
	if err != nil {
		return 0, fmt.Errorf("create lru hash: %w", err)
	}
	defer lru.Close()
	return benchInsnsThroughFront("lru reference", slices.Concat(frameReach(asm.R1, 38), asm.Instructions{
		// key: saddr, daddr, ports, proto
		asm.LoadMem(asm.R4, asm.R2, 26, asm.Word),
		asm.StoreMem(asm.RFP, -16, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, 30, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, 34, asm.Word),
		asm.StoreMem(asm.RFP, -8, asm.R4, asm.Word),
		asm.Mov.Imm(asm.R4, 6),
		asm.StoreMem(asm.RFP, -4, asm.R4, asm.Word),
	}, mapLookup(lru.FD(), -16), asm.Instructions{
		asm.JNE.Imm(asm.R0, 0, "out"),
		// value: backend 1, state 0, expiry
		asm.Mov.Imm(asm.R4, 1),
		asm.StoreMem(asm.RFP, -32, asm.R4, asm.DWord),
		asm.Mov.Imm(asm.R4, 5),
		asm.StoreMem(asm.RFP, -24, asm.R4, asm.DWord),
		asm.LoadMapPtr(asm.R1, lru.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -32),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"),
		asm.Return(),
	}), frame, repeat)
}

// BenchColdRead measures the floor under a new flow in a large table: a
// program that reads one word of one 128-byte value, chosen by a hash of
// the frame's source address, in an mmapable array of buckets values
// (the IPv4 connection table's shape: pass maps.FlowBuckets(flows)), in
// the same harness as BenchFlows. The word read is folded back into the
// frame's source address, so the next repetition's read waits for this
// one: it measures the read's latency (TLB miss and page walk included),
// which xlb's lookup, branching on what it reads, pays too; independent
// reads of consecutive repetitions would overlap and hide it.
func BenchColdRead(frame []byte, repeat uint32, buckets uint32) (float64, error) {
	arr, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 128, MaxEntries: buckets, Flags: unix.BPF_F_MMAPABLE})
	if err != nil {
		return 0, fmt.Errorf("create array: %w", err)
	}
	defer arr.Close()
	return benchInsnsThroughFront("cold read reference", slices.Concat(asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}, frameReach(asm.R1, 34), asm.Instructions{
		// index: (saddr * golden ratio, 32 bits) * buckets >> 32
		asm.LoadMem(asm.R4, asm.R2, 26, asm.Word),
		asm.Mul.Imm32(asm.R4, -1640531535), // 0x9e3779b1
		asm.Mul.Imm(asm.R4, int32(buckets)),
		asm.RSh.Imm(asm.R4, 32),
		asm.StoreMem(asm.RFP, -4, asm.R4, asm.Word),
	}, mapLookup(arr.FD(), -4), asm.Instructions{
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R5, asm.R0, 0, asm.Word),
	}, frameReach(asm.R6, 34), asm.Instructions{
		// saddr ^= the word read (zero: the address is unchanged, but
		// the CPU cannot know that before the read completes)
		asm.LoadMem(asm.R4, asm.R2, 26, asm.Word),
		asm.Xor.Reg(asm.R4, asm.R5),
		asm.StoreMem(asm.R2, 26, asm.R4, asm.Word),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"),
		asm.Return(),
	}), frame, repeat)
}
