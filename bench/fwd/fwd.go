// Package fwd holds the tiny XDP programs of the throughput benchmark, written with
// cilium/ebpf's asm package so that no C compiler is needed anywhere:
//
//   - MACSwap: the "ceiling" forwarder. It only rewrites the destination MAC address to
//     one real server's and returns XDP_TX, which is the least work any DR-mode director
//     can do per packet.
//   - Pass: returns XDP_PASS. Needed on the peer of a veth that receives XDP_TX or
//     live-frames traffic (veth's ndo_xdp_xmit needs NAPI on the receiving side).
//   - Drop: returns XDP_DROP, used as a cheap packet sink on the real servers.
package fwd

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// XDP action codes.
const (
	XDPAborted = 0
	XDPDrop    = 1
	XDPPass    = 2
	XDPTx      = 3
)

// Offsets into struct xdp_md.
const (
	xdpMdData    = 0
	xdpMdDataEnd = 4
)

// ReturnProgram returns the instructions of a program that returns action.
func ReturnProgram(action int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R0, action),
		asm.Return(),
	}
}

// MACSwapProgram returns the instructions of the ceiling forwarder: set the
// Ethernet destination to dst and return XDP_TX. If vip is a valid IPv4 address only
// IPv4 frames addressed to it are forwarded and everything else is passed to the
// stack; this matters on a bridge, where multicast from the real servers bounced back
// with their own source MAC would teach the bridge the wrong port. Frames shorter
// than the headers are passed to the stack.
func MACSwapProgram(dst net.HardwareAddr, vip netip.Addr) (asm.Instructions, error) {
	if len(dst) != 6 {
		return nil, fmt.Errorf("fwd: destination MAC %q is not 6 bytes", dst)
	}
	checkVIP := vip.IsValid()
	if checkVIP && !vip.Is4() {
		return nil, fmt.Errorf("fwd: VIP %s is not IPv4", vip)
	}
	// Loads and stores use host byte order, so build the immediates with it.
	w := int32(binary.NativeEndian.Uint32(dst[0:4]))
	h := int32(binary.NativeEndian.Uint16(dst[4:6]))
	need := int32(14)
	if checkVIP {
		need = 14 + 20
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, xdpMdData, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, xdpMdDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, need),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
	}
	if checkVIP {
		v4 := vip.As4()
		proto := []byte{0x08, 0x00}
		insns = append(insns,
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
			asm.JNE.Imm(asm.R4, int32(binary.NativeEndian.Uint16(proto)), "pass"),
			asm.LoadMem(asm.R4, asm.R2, 14+16, asm.Word),
			asm.JNE.Imm32(asm.R4, int32(binary.NativeEndian.Uint32(v4[:])), "pass"),
		)
	}
	return append(insns,
		asm.StoreImm(asm.R2, 0, int64(w), asm.Word),
		asm.StoreImm(asm.R2, 4, int64(h), asm.Half),
		asm.Mov.Imm(asm.R0, XDPTx),
		asm.Return(),
		asm.Mov.Imm(asm.R0, XDPPass).WithSymbol("pass"),
		asm.Return(),
	), nil
}

// Load loads insns as an XDP program.
func Load(name string, insns asm.Instructions) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: insns,
	})
}

// Mode is an XDP attach mode.
type Mode string

// Attach modes.
const (
	ModeNative  Mode = "native"
	ModeGeneric Mode = "generic"
	ModeAuto    Mode = "auto"
)

// Attach attaches prog to the interface with index ifindex through a bpf_link; the
// program stays attached until the link is closed (or the process exits).
func Attach(prog *ebpf.Program, ifindex int, mode Mode) (link.Link, error) {
	var flags link.XDPAttachFlags
	switch mode {
	case ModeNative:
		flags = link.XDPDriverMode
	case ModeGeneric:
		flags = link.XDPGenericMode
	case ModeAuto, "":
	default:
		return nil, fmt.Errorf("fwd: unknown XDP mode %q (native, generic, auto)", mode)
	}
	return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
}
