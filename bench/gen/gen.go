// Package gen is a packet generator for the throughput benchmark that needs no kernel
// module: it runs an XDP program with BPF_PROG_RUN in live-frames mode
// (BPF_F_TEST_XDP_LIVE_FRAMES). The program returns XDP_TX, so each repetition sends
// the frame out of the device named by the context's ingress_ifindex (the kernel
// redirects XDP_TX frames of a live-frames run to xdp_md.ingress_ifindex of the
// calling thread's network namespace). Before each send the program writes a random
// flow into the frame: a source port, and for more than PortsPerIP flows also a source
// address, fixing the IPv4 header checksum incrementally.
//
// On a veth the device's peer must have an XDP program attached (XDP_PASS will do):
// veth's ndo_xdp_xmit needs NAPI on the receiving side.
//
// Run must be called from a thread in the namespace of Config.Ifindex; RunInNetns
// does that for a named namespace.
package gen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// PortsPerIP is how many source ports one source address carries before the next
// address is used. Flow f is (SrcIP + f/PortsPerIP, FirstSrcPort + f%PortsPerIP).
const PortsPerIP = 50000

// FirstSrcPort is the lowest source port used.
const FirstSrcPort = 1024

// Config describes the traffic.
type Config struct {
	// Ifindex is the device the frames leave from (in the caller's namespace).
	Ifindex int
	// SrcMAC and DstMAC of the frames (DstMAC: the VIP's, i.e. the director's).
	SrcMAC, DstMAC net.HardwareAddr
	// SrcIP is the first source address, DstIP the VIP.
	SrcIP, DstIP netip.Addr
	// DstPort is the UDP destination port.
	DstPort uint16
	// Flows is the number of distinct (source address, source port) pairs, >= 1.
	Flows int
	// Size is the frame size without FCS (default 60, minimum 42).
	Size int
	// Packets bounds the run in frames (0: Duration alone bounds it).
	Packets uint64
	// Duration bounds the run in time (default 10s, never unbounded).
	Duration time.Duration
	// BatchSize is the kernel's live-frames batch (default 64).
	BatchSize uint32
	// Chunk is the number of repetitions per BPF_PROG_RUN call (default 1<<16); the
	// bounds are checked between calls.
	Chunk uint32
}

// Result of a run.
type Result struct {
	Sent    uint64        `json:"sent"`
	Elapsed time.Duration `json:"elapsed_ns"`
	PPS     float64       `json:"pps"`
}

func (c *Config) defaults() error {
	if c.Size == 0 {
		c.Size = 60
	}
	if c.Size < 42 || c.Size > 1500 {
		return fmt.Errorf("gen: frame size %d outside 42..1500", c.Size)
	}
	if c.Flows < 1 {
		c.Flows = 1
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.Chunk == 0 {
		c.Chunk = 1 << 16
	}
	if len(c.SrcMAC) != 6 || len(c.DstMAC) != 6 {
		return errors.New("gen: SrcMAC and DstMAC must be 6-byte MAC addresses")
	}
	if !c.SrcIP.Is4() || !c.DstIP.Is4() {
		return errors.New("gen: SrcIP and DstIP must be IPv4")
	}
	if c.Ifindex <= 0 {
		return errors.New("gen: no Ifindex")
	}
	nip := (c.Flows + PortsPerIP - 1) / PortsPerIP
	s := c.SrcIP.As4()
	if int(binary.BigEndian.Uint16(s[2:4]))+nip-1 > 0xffff {
		return fmt.Errorf("gen: %d flows need %d source addresses from %s: they would wrap", c.Flows, nip, c.SrcIP)
	}
	return nil
}

// Frame returns the template frame: Ethernet, IPv4 (TTL 64, no options), UDP with
// checksum 0, zero payload; source port FirstSrcPort.
func Frame(c Config) ([]byte, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	f := make([]byte, c.Size)
	copy(f[0:6], c.DstMAC)
	copy(f[6:12], c.SrcMAC)
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(c.Size-14))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	s, d := c.SrcIP.As4(), c.DstIP.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:2], FirstSrcPort)
	binary.BigEndian.PutUint16(udp[2:4], c.DstPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(c.Size-34))
	return f, nil
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Program returns the generator's XDP program for c (see the package comment).
func Program(c Config) (asm.Instructions, error) {
	frame, err := Frame(c)
	if err != nil {
		return nil, err
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R7, asm.R2),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 42),
		asm.JGT.Reg(asm.R4, asm.R3, "drop"),
	}
	if c.Flows > 1 {
		csum := binary.BigEndian.Uint16(frame[24:26])
		w0 := binary.BigEndian.Uint16(frame[28:30]) // low 16 bits of the source address
		insns = append(insns,
			asm.FnGetPrandomU32.Call(),
			asm.Mod.Imm32(asm.R0, int32(c.Flows)), // r0 = flow
			asm.Mov.Reg32(asm.R1, asm.R0),
			asm.Mod.Imm32(asm.R1, PortsPerIP),
			asm.Add.Imm32(asm.R1, FirstSrcPort),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.StoreMem(asm.R7, 34, asm.R1, asm.Half), // UDP source port
		)
		if c.Flows > PortsPerIP {
			insns = append(insns,
				asm.Div.Imm32(asm.R0, PortsPerIP), // r0 = address index
				asm.Mov.Imm32(asm.R1, int32(w0)),
				asm.Add.Reg32(asm.R1, asm.R0),
				asm.HostTo(asm.BE, asm.R1, asm.Half),
				asm.StoreMem(asm.R7, 28, asm.R1, asm.Half), // source address, low word
				// checksum = ~(~csum0 + index), ones' complement
				asm.Mov.Imm32(asm.R2, int32(^csum)),
				asm.Add.Reg32(asm.R2, asm.R0),
				asm.Mov.Reg32(asm.R3, asm.R2),
				asm.RSh.Imm32(asm.R3, 16),
				asm.And.Imm32(asm.R2, 0xffff),
				asm.Add.Reg32(asm.R2, asm.R3),
				asm.Xor.Imm32(asm.R2, 0xffff),
				asm.HostTo(asm.BE, asm.R2, asm.Half),
				asm.StoreMem(asm.R7, 24, asm.R2, asm.Half),
			)
		}
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, 3), // XDP_TX
		asm.Return(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("drop"), // XDP_DROP
		asm.Return(),
	), nil
}

// xdpMD is struct xdp_md as BPF_PROG_RUN takes it as context.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Run sends frames until c.Packets or c.Duration is reached, or ctx is done. The
// calling goroutine's thread must be in the namespace of c.Ifindex.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.defaults(); err != nil {
		return Result{}, err
	}
	frame, err := Frame(c)
	if err != nil {
		return Result{}, err
	}
	insns, err := Program(c)
	if err != nil {
		return Result{}, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xlb_bench_gen", Type: ebpf.XDP, License: "GPL", Instructions: insns,
	})
	if err != nil {
		return Result{}, fmt.Errorf("gen: load: %w", err)
	}
	defer prog.Close()

	md := &xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(c.Ifindex)}
	var res Result
	start := time.Now()
	deadline := start.Add(c.Duration)
	for {
		n := c.Chunk
		if c.Packets > 0 {
			left := c.Packets - res.Sent
			if left == 0 {
				break
			}
			if left < uint64(n) {
				n = uint32(left)
			}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		_, err := prog.Run(&ebpf.RunOptions{
			Data:      frame,
			Context:   md,
			Repeat:    n,
			Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			BatchSize: c.BatchSize,
		})
		if err != nil {
			return res, fmt.Errorf("gen: BPF_PROG_RUN (live frames, ifindex %d): %w", c.Ifindex, err)
		}
		res.Sent += uint64(n)
	}
	res.Elapsed = time.Since(start)
	if res.Elapsed > 0 {
		res.PPS = float64(res.Sent) / res.Elapsed.Seconds()
	}
	return res, nil
}

// RunInNetns runs Run on a thread switched into the named network namespace (a name
// under /run/netns, or a path), with c.Ifindex resolved from ifname there if c.Ifindex
// is 0 (and c.SrcMAC taken from it if unset).
func RunInNetns(ctx context.Context, ns, ifname string, c Config) (Result, error) {
	type out struct {
		r   Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked on purpose: it ends with the goroutine instead of
		// going back to the pool in a foreign namespace.
		var h netns.NsHandle
		var err error
		if len(ns) > 0 && ns[0] == '/' {
			h, err = netns.GetFromPath(ns)
		} else {
			h, err = netns.GetFromName(ns)
		}
		if err != nil {
			ch <- out{err: fmt.Errorf("gen: namespace %s: %w", ns, err)}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- out{err: fmt.Errorf("gen: setns %s: %w", ns, err)}
			return
		}
		if c.Ifindex == 0 || c.SrcMAC == nil {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				ch <- out{err: fmt.Errorf("gen: %s in %s: %w", ifname, ns, err)}
				return
			}
			if c.Ifindex == 0 {
				c.Ifindex = ifi.Index
			}
			if c.SrcMAC == nil {
				c.SrcMAC = ifi.HardwareAddr
			}
		}
		r, err := Run(ctx, c)
		ch <- out{r, err}
	}()
	o := <-ch
	return o.r, o.err
}
