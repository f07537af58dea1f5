// Package realserver prepares a Linux host to be a real server behind an xlb
// director in DR (direct routing) mode. It is the Go form of the classic
// `lvsdr` real-server script: the director only rewrites the destination MAC,
// so the real server must accept packets addressed to the VIP (the VIP is
// bound to `lo` as a host address) and must never answer ARP for it (the
// arp_ignore/arp_announce sysctls), or it would steal the VIP from the
// director.
//
// Up records what it changed in a JSON state file so that Down restores
// exactly the previous state: it removes only the VIPs Up added (a VIP that
// was already on lo stays) and writes back the sysctl values that were there
// before. Both are idempotent.
//
// IPv6 VIPs are added to lo as /128 with IFA_F_NODAD (a loopback address
// would otherwise sit in "tentative" state during duplicate address
// detection). IPv6 needs no ARP-like sysctls: neighbour discovery only answers
// for addresses on the interface the solicitation arrived on, and an address
// on lo is never advertised on eth0, so nothing has to be suppressed.
//
// TUN real servers (Options.Tunnel) also get xlb's tc decapsulation program
// on the interface tunnelled packets arrive on: it strips the director's
// outer IPv4 header (IPIP) or outer IPv6 header (IP6IP6, for IPv6 VIPs)
// before the kernel sees the packet, so the inner one is delivered to the
// VIP on lo like a DR packet; nothing else is needed for either family (the
// inner packet arrives on that interface from the client, so reverse-path
// filtering by the default route accepts it, and IPv6 has no rp_filter).
//
// Everything acts on the network namespace of the calling OS thread: netlink
// sockets and /proc/sys/net are both per network namespace. A caller that
// switches namespaces must hold runtime.LockOSThread. The state file lives
// in the file system, which namespaces (ip netns exec, containers sharing
// /run) share, so outside the host's own namespace its name carries the
// namespace's inode (StatePath): each real server on one host undoes its
// own changes, not a neighbour's.
package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xlb-project/xlb/loader"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultStateDir is where the state file lives when Options.StateDir is empty.
const DefaultStateDir = "/run/xlb"

// stateFileName is the file inside StateDir that remembers what Up changed
// in the host's own network namespace; other namespaces' files are named
// realserver-netns-INODE.json.
const stateFileName = "realserver.json"

// Options says which VIPs to serve and where to keep the undo state.
type Options struct {
	// VIPs are bound to lo as /32 (IPv4) or /128 (IPv6).
	VIPs []netip.Addr
	// StateDir holds the undo state; default DefaultStateDir.
	StateDir string
	// Tunnel prepares a TUN (IPIP / IP6IP6, with TunnelGRE GRE too) real
	// server: xlb's decapsulation program goes on TunnelIface's ingress
	// (the ipip, ip_gre and ip6_tunnel modules' job, which not every kernel
	// has), its link pinned at TunnelPin.
	Tunnel      bool
	TunnelIface string
	TunnelPin   string
	// TunnelGRE also strips GRE (the director's --tun-type gre / keepalived
	// "lvs_method TUN type gre"), TunnelGUEPort GUE to that UDP port
	// (--tun-type gue --tun-port); off, those are left to the kernel.
	TunnelGRE     bool
	TunnelGUEPort uint16
}

// arpSysctls are the settings of the lvsdr script: arp_ignore=1 answers ARP
// only for addresses configured on the receiving interface (so never for the
// VIP on lo), arp_announce=2 always uses the best local address of the
// outgoing interface as the ARP source (so the VIP is never announced).
// Both "lo" and "all" are set because the kernel uses the maximum of the
// per-interface and "all" values.
func arpSysctls() [4]struct{ key, value string } {
	return [4]struct{ key, value string }{
		{"net/ipv4/conf/lo/arp_ignore", "1"},
		{"net/ipv4/conf/all/arp_ignore", "1"},
		{"net/ipv4/conf/lo/arp_announce", "2"},
		{"net/ipv4/conf/all/arp_announce", "2"},
	}
}

// state is the JSON undo record.
type state struct {
	// Added lists the prefixes (e.g. "192.168.101.100/32") Up put on lo;
	// addresses that were there before Up are not listed, so Down keeps them.
	Added []string `json:"added"`
	// Sysctls maps a /proc/sys relative path to its value before the first Up.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// LoWasDown records that Up had to bring lo up.
	LoWasDown bool `json:"lo_was_down,omitempty"`
	// DecapPin is the pinned decapsulation link Up attached (TUN).
	DecapPin string `json:"decap_pin,omitempty"`
}

// sysctlRoot is where sysctls live; /proc/sys/net shows the network
// namespace of the thread that opens the file.
const sysctlRoot = "/proc/sys"

// StatePath is the state file of the calling thread's network namespace.
// The host's namespace (the one PID 1 is in) keeps the plain name, which is
// what earlier versions used everywhere.
func StatePath(opts Options) string {
	dir := opts.StateDir
	if dir == "" {
		dir = DefaultStateDir
	}
	var self, host unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return filepath.Join(dir, stateFileName)
	}
	if err := unix.Stat("/proc/1/ns/net", &host); err == nil && host.Dev == self.Dev && host.Ino == self.Ino {
		return filepath.Join(dir, stateFileName)
	}
	return filepath.Join(dir, fmt.Sprintf("realserver-netns-%d.json", self.Ino))
}

func vipPrefix(a netip.Addr) (netip.Prefix, error) {
	if !a.IsValid() {
		return netip.Prefix{}, errors.New("invalid vip")
	}
	a = a.Unmap()
	return a.Prefix(a.BitLen())
}

// Up binds every VIP to lo and sets the ARP sysctls, recording the previous
// state. Calling it again is harmless: VIPs already present are skipped and
// the originally saved sysctl values are kept.
func Up(opts Options) error {
	path := StatePath(opts)
	st, err := loadState(path)
	if err != nil {
		return err
	}
	if st == nil {
		st = &state{Sysctls: map[string]string{}}
	}
	if st.Sysctls == nil {
		st.Sysctls = map[string]string{}
	}

	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		st.LoWasDown = true
	}

	present, err := loPrefixes(lo)
	if err != nil {
		return err
	}
	needARP := false
	for _, vip := range opts.VIPs {
		p, err := vipPrefix(vip)
		if err != nil {
			return fmt.Errorf("vip %v: %w", vip, err)
		}
		if p.Addr().Is4() {
			needARP = true
		}
		if present[p.Addr()] {
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(lo, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			// Save what was done so far so Down can still undo it.
			_ = saveState(path, st)
			return fmt.Errorf("add %v to lo: %w", p, err)
		}
		present[p.Addr()] = true
		if !slices.Contains(st.Added, p.String()) {
			st.Added = append(st.Added, p.String())
		}
	}

	if needARP {
		for _, s := range arpSysctls() {
			if _, saved := st.Sysctls[s.key]; !saved {
				old, err := readSysctl(s.key)
				if err != nil {
					_ = saveState(path, st)
					return err
				}
				st.Sysctls[s.key] = old
			}
			if err := writeSysctl(s.key, s.value); err != nil {
				_ = saveState(path, st)
				return err
			}
		}
	}
	if opts.Tunnel && st.DecapPin == "" {
		pin := opts.TunnelPin
		if pin == "" {
			pin = filepath.Join(loader.DefaultPinRoot, "realserver-decap-"+opts.TunnelIface)
		}
		if err := loader.AttachDecap(opts.TunnelIface, pin, loader.DecapOptions{GRE: opts.TunnelGRE, GUEPort: opts.TunnelGUEPort}); err != nil {
			saveState(path, st) // what was done so far can still be undone
			return err
		}
		st.DecapPin = pin
	}
	return saveState(path, st)
}

// Down undoes everything recorded by Up in this network namespace (all VIPs
// Up added, whatever opts.VIPs says) and removes the state file. Without a
// state file it does nothing and reports undone false, so calling it twice
// is harmless.
func Down(opts Options) (undone bool, err error) {
	path := StatePath(opts)
	st, err := loadState(path)
	if err != nil || st == nil {
		return false, err
	}
	var errs []error
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return false, fmt.Errorf("find lo: %w", err)
	}
	for _, s := range st.Added {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("state file: %w", err))
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if err := netlink.AddrDel(lo, addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove %v from lo: %w", p, err))
		}
	}
	for _, s := range arpSysctls() {
		key := s.key
		old, ok := st.Sysctls[key]
		if !ok {
			continue
		}
		if err := writeSysctl(key, old); err != nil {
			errs = append(errs, err)
		}
	}
	if st.LoWasDown {
		if err := netlink.LinkSetDown(lo); err != nil {
			errs = append(errs, fmt.Errorf("set lo down: %w", err))
		}
	}
	if st.DecapPin != "" {
		if err := loader.DetachDecap(st.DecapPin); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Keep the state file so a later Down can retry.
		return false, errors.Join(errs...)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return true, fmt.Errorf("remove state file: %w", err)
	}
	return true, nil
}

// loPrefixes returns the addresses currently on lo.
func loPrefixes(lo netlink.Link) (map[netip.Addr]bool, error) {
	addrs, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list lo addresses: %w", err)
	}
	m := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			m[ip.Unmap()] = true
		}
	}
	return m, nil
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(sysctlRoot, key))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join(sysctlRoot, key), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse state file: %w", err)
	}
	return &st, nil
}

// saveState writes atomically (temp file + rename) so a crash never leaves a
// half-written record that would make Down fail.
func saveState(path string, st *state) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create state file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("install state file: %w", err)
	}
	return nil
}
