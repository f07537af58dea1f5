// Package maps is the only code that reads or writes the datapath's BPF
// maps. It exposes domain types (services, real servers, connections,
// counters) and applies a desired configuration by diffing it against what
// the maps hold, in an order that never exposes a half-written service to
// the datapath.
package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/xlb-project/xlb/bpf"
	"golang.org/x/sys/unix"
)

// ABIVersion is the layout version of the pinned maps. Bump it whenever a
// struct in bpf/structs.h or a map's meaning changes, so a restarted daemon
// refuses incompatible pinned state instead of misreading it.
const ABIVersion = 7

// Capacities fixed by the datapath (bpf/consts.h).
const (
	MaxServices = 1024
	MaxBackends = 8192
	RingEntries = 1 << 21
	MaxRing     = 65537
)

// Maps wraps the datapath's maps. Create it with New from the loaded objects.
type Maps struct {
	m        *bpf.XlbMaps
	Services *Services
	Conns    *Conns
	Stats    *Stats
	Settings *Settings
}

// New wraps loaded maps. It checks (or, on fresh maps, writes) the ABI
// version, so pinned maps of an incompatible xlb are refused. connsCtl is
// the datapath's xlb_conns_ctl program, through which the IPv4
// connection table is changed.
func New(m *bpf.XlbMaps, connsCtl *ebpf.Program) (*Maps, error) {
	if err := checkABI(m.Abi); err != nil {
		return nil, err
	}
	if err := layoutCheck(); err != nil {
		return nil, err
	}
	t4, err := openFlowTable4(m.Flows4, connsCtl)
	if err != nil {
		return nil, err
	}
	gen := new(atomic.Uint64)
	return &Maps{
		m:        m,
		Services: &Services{m: m, gen: gen},
		Conns:    &Conns{m: m, t4: t4, gen: gen},
		Stats:    &Stats{m: m},
		Settings: &Settings{m: m},
	}, nil
}

// Close releases the mapping of the connection table (the maps
// themselves belong to the loader).
func (m *Maps) Close() error { return m.Conns.t4.close() }

// ErrIncompatible reports pinned maps written by an xlb with another layout.
var ErrIncompatible = errors.New("pinned maps have an incompatible layout")

func checkABI(abi *ebpf.Map) error {
	var cur bpf.XlbAbiInfo
	if err := abi.Lookup(uint32(0), &cur); err != nil {
		return fmt.Errorf("read abi map: %w", err)
	}
	switch cur.Version {
	case ABIVersion:
		return nil
	case 0: // fresh map
		cur.Version = ABIVersion
		if err := abi.Update(uint32(0), &cur, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write abi map: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("%w: version %d, this xlb uses %d (run `xlb run --cleanup` to start afresh)", ErrIncompatible, cur.Version, ABIVersion)
	}
}

// Now returns the datapath clock (CLOCK_MONOTONIC_COARSE, as the
// datapath reads it) in nanoseconds.
func Now() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts)
	return uint64(ts.Nano())
}

// Key names a virtual service.
type Key struct {
	VIP   netip.Addr
	Port  uint16
	Proto uint8 // unix.IPPROTO_TCP or IPPROTO_UDP
}

func (k Key) String() string {
	p := "tcp"
	if k.Proto == unix.IPPROTO_UDP {
		p = "udp"
	}
	return fmt.Sprintf("%s/%s", p, netip.AddrPortFrom(k.VIP, k.Port))
}

func (k Key) bpf() bpf.XlbSvcKey {
	var sk bpf.XlbSvcKey
	sk.Port = htons(k.Port)
	sk.Proto = k.Proto
	if k.VIP.Is4() {
		sk.Family = 4
		b := k.VIP.As4()
		sk.Addr[0] = ne32(b[:])
	} else {
		sk.Family = 6
		b := k.VIP.As16()
		for i := range 4 {
			sk.Addr[i] = ne32(b[i*4:])
		}
	}
	return sk
}

func keyFromBPF(sk bpf.XlbSvcKey) Key {
	return Key{VIP: addrFromWords(sk.Family, sk.Addr), Port: ntohs(sk.Port), Proto: sk.Proto}
}

func addrFromWords(family uint8, w [4]uint32) netip.Addr {
	if family == 4 {
		var b [4]byte
		putNE32(b[:], w[0])
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	for i := range 4 {
		putNE32(b[i*4:], w[i])
	}
	return netip.AddrFrom16(b)
}

// The datapath compares raw network-order bytes, so addresses are stored
// as they sit in memory, not converted to host integers.
func ne32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func putNE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
func ntohs(v uint16) uint16 { return v<<8 | v>>8 }

func macOf(b [6]uint8) net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	copy(m, b[:])
	return m
}

// Settings are the datapath's runtime knobs.
type Settings struct {
	m *bpf.XlbMaps
}

// SynGuard sets the SYN-flood guard: at most rate connection-table inserts
// per second per CPU (bursts of burst); beyond it new flows are scheduled
// statelessly and not recorded. rate 0 turns the guard off.
func (s *Settings) SynGuard(rate, burst uint32) error {
	return s.update(func(v *bpf.XlbSettings) {
		v.SynRate, v.SynBurst = rate, max(burst, 1)
	})
}

// FlowSeed is the connection table's hash seed as kept in the settings
// (0: never written, a fresh table).
func (s *Settings) FlowSeed() (uint32, error) {
	var v bpf.XlbSettings
	if err := s.m.SettingsMap.Lookup(uint32(0), &v); err != nil {
		return 0, fmt.Errorf("read settings: %w", err)
	}
	return v.FlowSeed, nil
}

// SetFlowSeed keeps the connection table's hash seed, so a restarted
// daemon loads its datapath with the seed the table was filled with.
func (s *Settings) SetFlowSeed(seed uint32) error {
	return s.update(func(v *bpf.XlbSettings) { v.FlowSeed = seed })
}

// FlowEvents turns publishing of new flows (for flow sharing) on or off.
func (s *Settings) FlowEvents(on bool) error {
	return s.update(func(v *bpf.XlbSettings) {
		v.Flags &^= uint32(bpf.XlbSettingsFlagsXLB_SET_FLOW_EVENTS)
		if on {
			v.Flags |= uint32(bpf.XlbSettingsFlagsXLB_SET_FLOW_EVENTS)
		}
	})
}

// Tunnel sets TUN forwarding's outer source addresses — src4 for IPIP
// (IPv4 services), src6 for IP6IP6 (IPv6 services); an invalid or
// wrong-family address leaves that family without a source, and its
// tunnelled packets are dropped and counted — and the largest outer packet
// the path carries (the interface MTU). Bigger packets get an ICMP
// frag-needed (IPv4 with DF) or an ICMPv6 packet-too-big (IPv6).
func (s *Settings) Tunnel(src4, src6 netip.Addr, mtu uint32) error {
	return s.update(func(v *bpf.XlbSettings) {
		v.TunSrc, v.TunSrc6, v.TunMtu = 0, [4]uint32{}, mtu
		if src4.Is4() {
			b := src4.As4()
			v.TunSrc = ne32(b[:])
		}
		if src6.Is6() && !src6.Is4In6() {
			b := src6.As16()
			for i := range 4 {
				v.TunSrc6[i] = ne32(b[i*4:])
			}
		}
	})
}

func (s *Settings) update(f func(*bpf.XlbSettings)) error {
	var v bpf.XlbSettings
	if err := s.m.SettingsMap.Lookup(uint32(0), &v); err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	f(&v)
	if err := s.m.SettingsMap.Update(uint32(0), &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}
