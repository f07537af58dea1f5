package director

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func addr(s string, flags int) netlink.Addr {
	p := netip.MustParsePrefix(s)
	return netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Flags: flags}
}

// The tunnel sources are the interface's own addresses: never a VIP (a
// host route), a link-local address, or an IPv6 address DAD has not
// accepted or that is deprecated.
func TestTunnelSources(t *testing.T) {
	addrs := []netlink.Addr{
		addr("192.168.101.100/32", 0),
		addr("2001:db8:101::100/128", unix.IFA_F_NODAD),
		addr("fe80::1/64", unix.IFA_F_PERMANENT),
		addr("2001:db8:101::7/64", unix.IFA_F_TENTATIVE),
		addr("2001:db8:101::6/64", unix.IFA_F_DEPRECATED),
		addr("2001:db8:101::5/64", unix.IFA_F_DADFAILED),
		addr("192.168.101.8/24", unix.IFA_F_PERMANENT),
		addr("2001:db8:101::8/64", unix.IFA_F_PERMANENT),
		addr("2001:db8:101::9/64", 0),
	}
	s4, s6 := tunnelSources(addrs)
	if s4 != netip.MustParseAddr("192.168.101.8") || s6 != netip.MustParseAddr("2001:db8:101::8") {
		t.Fatalf("sources %v %v, want 192.168.101.8 and 2001:db8:101::8", s4, s6)
	}
	if s4, s6 := tunnelSources(addrs[:3]); s4.IsValid() || s6.IsValid() {
		t.Fatalf("only VIPs and link-local: sources %v %v, want none", s4, s6)
	}
}
