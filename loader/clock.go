package loader

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/xlb-project/xlb/bpf"
)

// tickNsec is the kernel's TICK_NSEC for a HZ value.
func tickNsec(hz uint64) uint64 { return (1_000_000_000 + hz/2) / hz }

// clockSample is one reading of jiffies and CLOCK_MONOTONIC_COARSE taken
// inside the kernel, with no tick in between.
type clockSample struct{ jiffies, ns uint64 }

// calibrateClock lets the datapath read the time as jiffies (one inlined
// load) instead of calling bpf_ktime_get_coarse_ns (~13 ns a packet here):
// it measures the tick length and the offset between the two clocks and
// writes them to the clock map. Both advance with the same ticks, so once
// written the relation holds until reboot; pinned maps keep it across
// restarts. The datapath falls back to the helper while the map is empty,
// so a failure here costs speed, never correctness.
func calibrateClock(m *ebpf.Map) error {
	var cur bpf.XlbClockRef
	if err := m.Lookup(uint32(0), &cur); err != nil {
		return fmt.Errorf("read clock map: %w", err)
	}
	if cur.NsPerJiffy != 0 {
		return nil // adopted from a running datapath
	}
	sampler, out, err := newClockSampler()
	if err != nil {
		return err
	}
	defer sampler.Close()
	defer out.Close()
	first, err := sampleClock(sampler, out)
	if err != nil {
		return err
	}
	// Wait for enough ticks that HZ 250 and 300 (20 % apart) cannot be
	// confused: 16 ticks is 16-64 ms at the usual HZ.
	deadline := time.Now().Add(2 * time.Second)
	last := first
	for last.jiffies-first.jiffies < 16 {
		if time.Now().After(deadline) {
			return fmt.Errorf("jiffies did not advance")
		}
		time.Sleep(4 * time.Millisecond)
		if last, err = sampleClock(sampler, out); err != nil {
			return err
		}
	}
	perJiffy := float64(last.ns-first.ns) / float64(last.jiffies-first.jiffies)
	var tick uint64
	for _, hz := range []uint64{100, 250, 300, 1000} { // the HZ values Linux offers
		t := tickNsec(hz)
		if math.Abs(perJiffy-float64(t)) < 0.08*float64(t) {
			tick = t
		}
	}
	if tick == 0 {
		return fmt.Errorf("tick length %.0f ns matches no HZ", perJiffy)
	}
	// One tick behind the coarse clock, so the datapath never stamps a
	// flow later than user space's reading of the same moment.
	ref := bpf.XlbClockRef{BaseNs: last.ns - tick, BaseJiffies: last.jiffies}
	if err := m.Update(uint32(0), &ref, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write clock map: %w", err)
	}
	// The tick length last: the datapath must never see it with a base
	// still zero.
	ref.NsPerJiffy = tick
	if err := m.Update(uint32(0), &ref, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write clock map: %w", err)
	}
	return nil
}

func newClockSampler() (*ebpf.Program, *ebpf.Map, error) {
	out, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 24, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("create clock sample map: %w", err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, AttachType: ebpf.AttachXDP, License: "GPL",
		Instructions: slices.Concat(asm.Instructions{
			asm.FnJiffies64.Call(),
			asm.Mov.Reg(asm.R6, asm.R0),
			asm.FnKtimeGetCoarseNs.Call(),
			asm.Mov.Reg(asm.R7, asm.R0),
			asm.FnJiffies64.Call(),
			asm.Mov.Reg(asm.R8, asm.R0),
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		}, mapLookup(out.FD(), -4), asm.Instructions{
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.StoreMem(asm.R0, 0, asm.R6, asm.DWord),
			asm.StoreMem(asm.R0, 8, asm.R7, asm.DWord),
			asm.StoreMem(asm.R0, 16, asm.R8, asm.DWord),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("out"),
			asm.Return(),
		}),
	})
	if err != nil {
		out.Close()
		return nil, nil, fmt.Errorf("load clock sampler: %w", err)
	}
	return p, out, nil
}

func sampleClock(p *ebpf.Program, out *ebpf.Map) (clockSample, error) {
	frame := make([]byte, 64)
	for range 10 {
		if _, err := p.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			return clockSample{}, fmt.Errorf("run clock sampler: %w", err)
		}
		var v [3]uint64
		if err := out.Lookup(uint32(0), &v); err != nil {
			return clockSample{}, fmt.Errorf("read clock sample: %w", err)
		}
		if v[0] == v[2] { // no tick between the readings
			return clockSample{jiffies: v[0], ns: v[1]}, nil
		}
	}
	return clockSample{}, fmt.Errorf("clock sample kept straddling a tick")
}
