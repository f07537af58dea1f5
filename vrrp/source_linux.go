package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// errNoSource is Send's error while the interface has no address to send
// from (the instance is in FAULT then, and sends nothing).
var errNoSource = errors.New("no source address on the interface")

// source is a transport's source address: read by the instance's sends
// and receives, replaced by FollowSource from its link poll.
type source struct {
	mu sync.Mutex
	a  netip.Addr
}

func (s *source) get() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.a
}

func (s *source) set(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a = a
}

// SourceFollower is a Transport whose source address follows the
// interface's addresses, as keepalived's does.
type SourceFollower interface {
	// FollowSource re-reads the interface's addresses. With
	// unicast_src_ip it says whether that address is there (the source
	// stays it either way). Otherwise the source stays while it is there;
	// once it is gone the interface's primary address (for IPv6 its
	// link-local one) not excluded by notSource (a VIP) becomes the
	// source, and none leaves it unset: ok false.
	FollowSource(notSource func(netip.Addr) bool) (addr netip.Addr, ok bool, err error)
}

// WithTrackSource is keepalived's track_src_ip: a unicast_src_ip missing
// from the interface at the start is no error (the instance waits for it
// in FAULT).
func WithTrackSource() ListenOption { return func(o *listenOpts) { o.trackSrc = true } }

// pickSource4 is src and whether the interface has it when src is valid;
// else cur when it is still there, else the first non-secondary address
// that is no VIP (notSource), else the first other one, else none.
func pickSource4(addrs []netlink.Addr, src netip.Addr, notSource func(netip.Addr) bool, cur ...netip.Addr) (netip.Addr, bool) {
	var primary, other netip.Addr
	for _, a := range addrs {
		x, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		if src.IsValid() {
			if x == src {
				return src, true
			}
			continue
		}
		if len(cur) > 0 && x == cur[0] {
			return x, true
		}
		if notSource != nil && notSource(x) {
			continue
		}
		switch {
		case a.Flags&unix.IFA_F_SECONDARY == 0 && !primary.IsValid():
			primary = x
		case !other.IsValid():
			other = x
		}
	}
	if src.IsValid() {
		return src, false
	}
	if primary.IsValid() {
		return primary, true
	}
	return other, other.IsValid()
}

// pickSource6 is pickSource4 for IPv6: the source is a link-local address.
func pickSource6(addrs []netlink.Addr, src netip.Addr, notSource func(netip.Addr) bool, cur ...netip.Addr) (netip.Addr, bool) {
	var first netip.Addr
	for _, a := range addrs {
		x, ok := netip.AddrFromSlice(a.IP)
		if !ok || x.Is4In6() {
			continue
		}
		if src.IsValid() {
			if x == src {
				return src, true
			}
			continue
		}
		if !x.IsLinkLocalUnicast() {
			continue
		}
		if len(cur) > 0 && x == cur[0] {
			return x, true
		}
		if (notSource == nil || !notSource(x)) && !first.IsValid() {
			first = x
		}
	}
	if src.IsValid() {
		return src, false
	}
	return first, first.IsValid()
}

// FollowSource implements SourceFollower.
func (t *RawTransport) FollowSource(notSource func(netip.Addr) bool) (netip.Addr, bool, error) {
	return follow(t.nl, t.base, netlink.FAMILY_V4, &t.local, t.src, notSource, pickSource4)
}

// FollowSource implements SourceFollower.
func (t *RawTransport6) FollowSource(notSource func(netip.Addr) bool) (netip.Addr, bool, error) {
	return follow(t.nl, t.base, netlink.FAMILY_V6, &t.local, t.src, notSource, pickSource6)
}

func follow(nl *netlink.Handle, iface string, family int, local *source, src netip.Addr, notSource func(netip.Addr) bool,
	pick func([]netlink.Addr, netip.Addr, func(netip.Addr) bool, ...netip.Addr) (netip.Addr, bool)) (netip.Addr, bool, error) {
	link, err := nl.LinkByName(iface)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("interface %q: %w", iface, err)
	}
	addrs, err := nl.AddrList(link, family)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("addresses of %s: %w", iface, err)
	}
	a, ok := pick(addrs, src, notSource, local.get())
	if !src.IsValid() {
		local.set(a)
	}
	return a, ok, nil
}
