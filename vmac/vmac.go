// Package vmac makes the VRRP virtual MAC interfaces of keepalived's
// use_vmac: a macvlan on top of an instance's interface whose MAC is the
// RFC 5798 virtual router MAC 00:00:5e:00:01:VRID (IPv6:
// 00:00:5e:00:02:VRID). The instance's VIPs live on it while master, so a
// failover moves the MAC with the addresses and the neighbours' ARP (ND)
// caches stay right without an update; DropIGMP and DropMLD keep the
// group reports the kernel would send from it off the wire.
//
// The macvlan adds its MAC to the base interface's filter, so frames to
// the VMAC arrive on the base interface first: xlb's XDP program there
// sees and forwards them before the macvlan does.
//
// Everything acts on the network namespace of the netlink handle given,
// and the sysctls and nftables on the calling thread's (/proc/sys/net
// follows it).
package vmac

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MAC is the IPv4 virtual router MAC of vrid (RFC 5798 7.3).
func MAC(vrid int) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, byte(vrid)}
}

// MAC6 is the IPv6 virtual router MAC of vrid (RFC 5798 7.3).
func MAC6(vrid int) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x02, byte(vrid)}
}

// isIPv6 says whether mac is an IPv6 virtual router MAC.
func isIPv6(mac net.HardwareAddr) bool { return len(mac) == 6 && mac[4] == 0x02 }

// Sysctl is one setting under /proc/sys.
type Sysctl struct{ Key, Value string }

// Sysctls are what keepalived 2.2.7 sets when it creates a VMAC (read
// from /proc/sys after it did): on the base interface arp_ignore=1 and
// arp_filter=1, so the base no longer answers ARP for the VIPs on the
// VMAC with its own MAC; on the VMAC arp_ignore=1 (it answers only for its
// own addresses), accept_local=1 and rp_filter=0 (the adverts and ARPs of
// the other directors, which may carry addresses of this host, are not
// dropped) and promote_secondaries=1. keepalived leaves the base's values
// at its stop; so does xlb (they also hold for the next start).
func Sysctls(base, name string) []Sysctl {
	b := "net/ipv4/conf/" + base + "/"
	v := "net/ipv4/conf/" + name + "/"
	return []Sysctl{
		{b + "arp_ignore", "1"},
		{b + "arp_filter", "1"},
		{v + "arp_ignore", "1"},
		{v + "accept_local", "1"},
		{v + "rp_filter", "0"},
		{v + "promote_secondaries", "1"},
	}
}

// Ensure makes name a macvlan (private mode, as keepalived's) on base
// with mac, its sysctls set and up. A matching one that is already there
// is kept (left by a restart in place, or by a killed run); created says
// whether Ensure made it. Another interface of that name is an error,
// never replaced.
func Ensure(nl *netlink.Handle, base, name string, mac net.HardwareAddr) (created bool, err error) {
	bl, err := nl.LinkByName(base)
	if err != nil {
		return false, fmt.Errorf("vmac: base interface %q: %w", base, err)
	}
	l, err := nl.LinkByName(name)
	switch {
	case err == nil:
		if why := mismatch(l, bl.Attrs().Index, mac); why != "" {
			return false, fmt.Errorf("vmac: interface %q already exists and %s", name, why)
		}
	case isNotFound(err):
		if l, err = add(nl, bl, name, mac); err != nil {
			return false, err
		}
		created = true
	default:
		return false, fmt.Errorf("vmac: interface %q: %w", name, err)
	}
	if err := setUp(nl, l, base, name, mac); err != nil {
		if created {
			nl.LinkDel(l)
		}
		return false, err
	}
	return created, nil
}

// add creates the macvlan, down.
func add(nl *netlink.Handle, base netlink.Link, name string, mac net.HardwareAddr) (netlink.Link, error) {
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: base.Attrs().Index, HardwareAddr: mac},
		Mode:      netlink.MACVLAN_MODE_PRIVATE,
	}
	if err := nl.LinkAdd(mv); err != nil {
		return nil, fmt.Errorf("vmac: create macvlan %s on %s: %w", name, base.Attrs().Name, err)
	}
	l, err := nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("vmac: interface %q: %w", name, err)
	}
	return l, nil
}

// setUp gives the VMAC no IPv6 link-local address of its own (every
// director's would be the same, from the shared MAC, and fail DAD), sets
// the sysctls and brings it up. An IPv6 VMAC (mac) gets instead, as a
// running keepalived 2.2.7 gives it, a copy of the base's link-local
// address to send adverts from, nodad and deprecated (valid, never
// chosen as a source by the kernel itself), and none of the IPv4 sysctls.
func setUp(nl *netlink.Handle, l netlink.Link, base, name string, mac net.HardwareAddr) error {
	// IN6_ADDR_GEN_MODE_NONE; a kernel without IPv6 has nothing to stop.
	if err := nl.LinkSetIP6AddrGenMode(l, 1); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("vmac: %s: no IPv6 link-local address: %w", name, err)
	}
	if isIPv6(mac) {
		if err := copyLinkLocal(nl, l, base, name); err != nil {
			return err
		}
	} else {
		for _, s := range Sysctls(base, name) {
			if err := os.WriteFile(filepath.Join("/proc/sys", s.Key), []byte(s.Value), 0o644); err != nil {
				return fmt.Errorf("vmac: sysctl %s: %w", s.Key, err)
			}
		}
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("vmac: set %s up: %w", name, err)
	}
	return nil
}

// copyLinkLocal puts base's link-local address on the VMAC l.
func copyLinkLocal(nl *netlink.Handle, l netlink.Link, base, name string) error {
	bl, err := nl.LinkByName(base)
	if err != nil {
		return fmt.Errorf("vmac: base interface %q: %w", base, err)
	}
	addrs, err := nl.AddrList(bl, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("vmac: addresses of %s: %w", base, err)
	}
	for _, a := range addrs {
		if !a.IP.IsLinkLocalUnicast() || a.Flags&unix.IFA_F_DADFAILED != 0 {
			continue
		}
		ll := &netlink.Addr{IPNet: &net.IPNet{IP: a.IP, Mask: net.CIDRMask(64, 128)},
			Flags: unix.IFA_F_NODAD, PreferedLft: 0, ValidLft: math.MaxUint32}
		if err := nl.AddrReplace(l, ll); err != nil {
			return fmt.Errorf("vmac: %s: link-local address %s: %w", name, a.IP, err)
		}
		return nil
	}
	return fmt.Errorf("vmac: %s has no IPv6 link-local address for %s to send from", base, name)
}

// mismatch says why l is not the VMAC wanted on the base of index
// parent, "" when it is.
func mismatch(l netlink.Link, parent int, mac net.HardwareAddr) string {
	mv, ok := l.(*netlink.Macvlan)
	switch {
	case !ok:
		return "is a " + l.Type() + ", not a macvlan"
	case mv.Attrs().ParentIndex != parent:
		return "is on another interface"
	case !slices.Equal(mv.Attrs().HardwareAddr, mac):
		return fmt.Sprintf("has the MAC %s, not %s", mv.Attrs().HardwareAddr, mac)
	}
	return ""
}

// Remove deletes the VMAC name if it is the macvlan with mac that Ensure
// makes: an interface of another kind by that name is left alone. One
// that is gone already is fine.
func Remove(nl *netlink.Handle, name string, mac net.HardwareAddr) error {
	l, err := nl.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("vmac: interface %q: %w", name, err)
	}
	if why := mismatch(l, l.Attrs().ParentIndex, mac); why != "" {
		return fmt.Errorf("vmac: not removing %q: it %s", name, why)
	}
	if err := nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("vmac: remove %s: %w", name, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
