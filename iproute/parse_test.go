package iproute

import (
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func cidr(s string) *net.IPNet {
	_, n, _ := net.ParseCIDR(s) // the tests' own constants
	return n
}

func TestParseRoute(t *testing.T) {
	uni := func(r netlink.Route) netlink.Route {
		if r.Protocol == 0 {
			r.Protocol = ProtoKeepalived
		}
		if r.Type == 0 {
			r.Type = unix.RTN_UNICAST
		}
		return r
	}
	for _, tc := range []struct {
		line string
		want Route
	}{
		{"198.51.100.0/24 via 192.0.2.1", Route{Route: uni(netlink.Route{Dst: cidr("198.51.100.0/24"), Gw: net.ParseIP("192.0.2.1").To4(), Family: unix.AF_INET})}},
		{"src 192.0.2.10 to 198.51.100.0/24 via 192.0.2.1 dev eth0", Route{Dev: "eth0", Route: uni(netlink.Route{Dst: cidr("198.51.100.0/24"),
			Src: net.ParseIP("192.0.2.10").To4(), Gw: net.ParseIP("192.0.2.1").To4(), Family: unix.AF_INET})}},
		{"0.0.0.0/0 gw 192.0.2.1 table 100", Route{Route: uni(netlink.Route{Dst: cidr("0.0.0.0/0"), Gw: net.ParseIP("192.0.2.1").To4(), Table: 100, Family: unix.AF_INET})}},
		{"default via 192.0.2.1 table main metric 7", Route{Route: uni(netlink.Route{Dst: cidr("0.0.0.0/0"), Gw: net.ParseIP("192.0.2.1").To4(), Table: 254, Priority: 7, Family: unix.AF_INET})}},
		{"inet6 default via 2001:db8::1", Route{Route: uni(netlink.Route{Dst: cidr("::/0"), Gw: net.ParseIP("2001:db8::1"), Family: unix.AF_INET6})}},
		// Without a gateway a route is on-link, as ip route add makes it.
		{"198.51.100.0/24 dev eth1", Route{Dev: "eth1", Route: uni(netlink.Route{Dst: cidr("198.51.100.0/24"), Scope: netlink.SCOPE_LINK, Family: unix.AF_INET})}},
		{"198.51.100.7 dev eth1 scope host preference 3 protocol static", Route{Dev: "eth1", Route: uni(netlink.Route{Dst: cidr("198.51.100.7/32"),
			Scope: netlink.SCOPE_HOST, Priority: 3, Protocol: unix.RTPROT_STATIC, Family: unix.AF_INET})}},
		{"2001:db8:1::/64 via 2001:db8::1 priority 9 protocol 99 no_track", Route{Route: uni(netlink.Route{Dst: cidr("2001:db8:1::/64"),
			Gw: net.ParseIP("2001:db8::1"), Priority: 9, Protocol: 99, Family: unix.AF_INET6})}},
		{"blackhole 203.0.113.0/24", Route{Route: uni(netlink.Route{Dst: cidr("203.0.113.0/24"), Type: unix.RTN_BLACKHOLE, Family: unix.AF_INET})}},
		{"unreachable 203.0.113.0/24 table 5", Route{Route: uni(netlink.Route{Dst: cidr("203.0.113.0/24"), Type: unix.RTN_UNREACHABLE, Table: 5, Family: unix.AF_INET})}},
		{"prohibit 203.0.113.0/24", Route{Route: uni(netlink.Route{Dst: cidr("203.0.113.0/24"), Type: unix.RTN_PROHIBIT, Family: unix.AF_INET})}},
		{"throw 203.0.113.0/24", Route{Route: uni(netlink.Route{Dst: cidr("203.0.113.0/24"), Type: unix.RTN_THROW, Family: unix.AF_INET})}},
	} {
		got, err := ParseRoute(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseRouteRefused(t *testing.T) {
	for _, tc := range []struct{ line, msg string }{
		{"", "empty"},
		{"198.51.100.0/24", "needs via or dev"},
		{"198.51.100.1/24 via 192.0.2.1", "host bits"},
		{"198.51.100.0/24 via 2001:db8::1", "address family"},
		{"src 2001:db8::1 198.51.100.0/24 dev eth0", "address family"},
		{"198.51.100.0/24 via 192.0.2.1 proto static", "keyword is protocol"},
		{"198.51.100.0/24 via 192.0.2.1 mtu 1400", `unsupported route option "mtu"`},
		{"198.51.100.0/24 via 192.0.2.1 or 192.0.2.2", `unsupported route option "or"`},
		{"198.51.100.0/24 table 1 nexthop via 192.0.2.1", `unsupported route option "nexthop"`},
		{"198.51.100.0/24 via 192.0.2.1 table red", "table numbers"},
		{"198.51.100.0/24 via 192.0.2.1 table 0", "invalid table"},
		{"198.51.100.0/24 via 192.0.2.1 metric -1", "invalid metric"},
		{"198.51.100.0/24 via 192.0.2.1 scope far", "invalid scope"},
		{"198.51.100.0/24 via", "via needs a value"},
		{"blackhole 203.0.113.0/24 via 192.0.2.1", "takes no via"},
		{"blackhole 203.0.113.0/24 dev eth0", "takes no dev"},
		{"203.0.113.0/24 blackhole", "must start"},
		{"inet6 198.51.100.0/24 dev eth0", "inet6"},
		{"198.51.100.0/33 dev eth0", "invalid prefix"},
	} {
		_, err := ParseRoute(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want one saying %q", tc.line, err, tc.msg)
		}
	}
}

func TestParseRule(t *testing.T) {
	rule := func(f func(*netlink.Rule)) netlink.Rule {
		r := *netlink.NewRule()
		r.Protocol = ProtoKeepalived
		r.Family = unix.AF_INET
		r.Priority = DefaultRulePriority
		f(&r)
		return r
	}
	mask := uint32(0xff)
	for _, tc := range []struct {
		line string
		want netlink.Rule
	}{
		{"from 192.0.2.0/24 table 1", rule(func(r *netlink.Rule) { r.Src, r.Table = cidr("192.0.2.0/24"), 1 })},
		{"to 198.51.100.0/24 lookup 100 priority 300", rule(func(r *netlink.Rule) { r.Dst, r.Table, r.Priority = cidr("198.51.100.0/24"), 100, 300 })},
		{"from 192.0.2.0/24 to 198.51.100.0/26 table main preference 39 iif eth0 oif eth1", rule(func(r *netlink.Rule) {
			r.Src, r.Dst, r.Table, r.Priority, r.IifName, r.OifName = cidr("192.0.2.0/24"), cidr("198.51.100.0/26"), 254, 39, "eth0", "eth1"
		})},
		{"fwmark 0x10/0xff table 7", rule(func(r *netlink.Rule) { r.Mark, r.Mask, r.Table = 16, &mask, 7 })},
		{"fwmark 24 table 7", rule(func(r *netlink.Rule) { r.Mark, r.Table = 24, 7 })},
		{"not from all table 7 no_track", rule(func(r *netlink.Rule) { r.Invert, r.Table = true, 7 })},
		{"from 2001:db8::/32 table 7 protocol 4", rule(func(r *netlink.Rule) {
			r.Src, r.Table, r.Family, r.Protocol = cidr("2001:db8::/32"), 7, unix.AF_INET6, 4
		})},
		{"inet6 table 7", rule(func(r *netlink.Rule) { r.Table, r.Family = 7, unix.AF_INET6 })},
	} {
		got, err := ParseRule(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseRuleRefused(t *testing.T) {
	for _, tc := range []struct{ line, msg string }{
		{"", "empty"},
		{"from 192.0.2.0/24", "no table"},
		{"from 192.0.2.0/24 to 2001:db8::/32 table 1", "different address families"},
		{"from 192.0.2.0/24 table 1 pref 5", `unsupported rule option "pref"`},
		{"from 192.0.2.0/24 table 1 prio 5", `unsupported rule option "prio"`},
		{"from 192.0.2.0/24 table 1 goto 40", `unsupported rule option "goto"`},
		{"from 192.0.2.0/24 table 1 uidrange 1-2", `unsupported rule option "uidrange"`},
		{"fwmark x table 1", "invalid fwmark"},
		{"fwmark 1/y table 1", "invalid fwmark mask"},
		{"from 192.0.2.1/24 table 1", "host bits"},
		{"from 192.0.2 table 1", "invalid prefix"},
	} {
		_, err := ParseRule(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want one saying %q", tc.line, err, tc.msg)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Addr
	}{
		{"192.0.2.50/24 dev eth0", Addr{Dev: "eth0", Addr: netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("192.0.2.50").To4(), Mask: net.CIDRMask(24, 32)}}}},
		{"192.0.2.51 dev eth0 label eth0:st scope link brd 192.0.2.255", Addr{Dev: "eth0", Addr: netlink.Addr{
			IPNet: &net.IPNet{IP: net.ParseIP("192.0.2.51").To4(), Mask: net.CIDRMask(32, 32)}, Label: "eth0:st", Scope: unix.RT_SCOPE_LINK,
			Broadcast: net.ParseIP("192.0.2.255").To4()}}},
		{"2001:db8::5/64 dev eth0 no_track", Addr{Dev: "eth0", Addr: netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("2001:db8::5"), Mask: net.CIDRMask(64, 128)}}}},
	} {
		got, err := ParseAddr(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
	for _, tc := range []struct{ line, msg string }{
		{"192.0.2.50/24", "no dev"},
		{"192.0.2.500/24 dev eth0", "invalid address"},
		{"192.0.2.50/24 dev eth0 peer 192.0.2.1", `unsupported address option "peer"`},
		{"192.0.2.50/24 dev eth0 label foo", "must be eth0"},
		{"192.0.2.50/24 dev eth0 label", "label needs a value"},
	} {
		_, err := ParseAddr(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want one saying %q", tc.line, err, tc.msg)
		}
	}
}
