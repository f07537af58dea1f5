// Package iproute reads the route, rule and address lines of keepalived's
// static_routes, static_rules, static_ipaddress, virtual_routes and
// virtual_rules, and adds and removes them (Set). One parser serves both
// configuration readers, so a line means the same in keepalived.conf and
// in xlb's YAML.
package iproute

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ProtoKeepalived is RTPROT_KEEPALIVED, the protocol keepalived gives its
// routes and rules unless told otherwise; xlb does the same, so `ip route`
// shows them as keepalived's were.
const ProtoKeepalived = 18

// DefaultRulePriority is the preference keepalived 2.2.7 gives a rule
// without one ("Rule has no preference specified - setting to 16384").
const DefaultRulePriority = 16384

// Route is one route line. Dev names the output interface; its index is
// looked up when the route is added, as the interface may come later.
type Route struct {
	netlink.Route
	Dev string
}

// Addr is one address line: the address and the interface it goes on.
type Addr struct {
	netlink.Addr
	Dev string
}

// String is the line, for logs.
func (r Route) String() string {
	s := r.Route.String()
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

// words splits a line; a trailing comment (keepalived's "#" or "!") is
// the config reader's business, so none is expected here.
// words walks the words of a route or rule line: next gives each option
// word, value the word after it.
type words struct {
	w []string
	i int // index of the word next returned last; -1 before the first
}

func newWords(line string) *words { return &words{w: strings.Fields(line), i: -1} }

func (c *words) empty() bool { return len(c.w) == 0 }

// first says whether the option next returned last started the line.
func (c *words) first() bool { return c.i == 0 }

func (c *words) next() (string, bool) {
	if c.i+1 >= len(c.w) {
		return "", false
	}
	c.i++
	return c.w[c.i], true
}

// value takes the word after option opt.
func (c *words) value(opt string) (string, error) {
	v, ok := c.next()
	if !ok {
		return "", fmt.Errorf("%s needs a value", opt)
	}
	return v, nil
}

// ParseRoute reads a keepalived route line:
//
//	[src IP] [to] PREFIX [via|gw IP] [dev IF] [scope S] [table T]
//	    [metric|priority|preference N] [protocol P] [inet6] [no_track]
//	blackhole|unreachable|prohibit|throw PREFIX [table T] [metric N] ...
//
// PREFIX may be a bare address (a host route) or "default".
func ParseRoute(line string) (Route, error) {
	w := newWords(line)
	r := Route{Route: netlink.Route{Protocol: ProtoKeepalived, Type: unix.RTN_UNICAST}}
	scopeSet, v6 := false, false
	var dst, src, via string
	if w.empty() {
		return r, fmt.Errorf("empty route")
	}
	for opt, ok := w.next(); ok; opt, ok = w.next() {
		var err error
		switch opt {
		case "inet6":
			v6 = true
		case "no_track":
			// xlb does not watch its routes for deletion: what
			// no_track asks of keepalived.
		case "blackhole", "unreachable", "prohibit", "throw":
			if !w.first() {
				return r, fmt.Errorf("%s must start the route", opt)
			}
			r.Type = map[string]int{"blackhole": unix.RTN_BLACKHOLE, "unreachable": unix.RTN_UNREACHABLE,
				"prohibit": unix.RTN_PROHIBIT, "throw": unix.RTN_THROW}[opt]
		case "src":
			src, err = w.value(opt)
		case "to":
			dst, err = w.value(opt)
		case "via", "gw":
			via, err = w.value(opt)
		case "dev":
			r.Dev, err = w.value(opt)
			if err == nil && (r.Dev == "" || len(r.Dev) > unix.IFNAMSIZ-1) {
				err = fmt.Errorf("invalid interface name %q", r.Dev)
			}
		case "scope":
			var s string
			if s, err = w.value(opt); err == nil {
				var n int
				n, err = scope(s)
				r.Scope, scopeSet = netlink.Scope(n), true
			}
		case "table":
			var s string
			if s, err = w.value(opt); err == nil {
				r.Table, err = table(s)
			}
		case "metric", "priority", "preference":
			var s string
			if s, err = w.value(opt); err == nil {
				r.Priority, err = number(opt, s, 0, 1<<32-1)
			}
		case "protocol":
			var s string
			if s, err = w.value(opt); err == nil {
				var p int
				p, err = protocol(s)
				r.Protocol = netlink.RouteProtocol(p)
			}
		case "proto":
			return r, fmt.Errorf("unknown route option proto: keepalived's keyword is protocol")
		default:
			if dst != "" || strings.HasPrefix(opt, "-") || (opt != "default" && !strings.ContainsAny(opt, ".:")) {
				return r, fmt.Errorf("unsupported route option %q (xlb reads src, to, via, gw, dev, scope, table, metric, priority, preference, protocol, inet6, no_track and the types blackhole, unreachable, prohibit, throw)", opt)
			}
			dst = opt
		}
		if err != nil {
			return r, err
		}
	}
	if dst == "" {
		return r, fmt.Errorf("no destination prefix")
	}
	p, err := prefix(dst, v6)
	if err != nil {
		return r, err
	}
	r.Dst = ipnet(p)
	r.Family = family(p.Addr())
	if src != "" {
		a, err := addrOf(src, "src", p.Addr().Is6())
		if err != nil {
			return r, err
		}
		r.Src = net.IP(a.AsSlice())
	}
	if via != "" {
		if r.Type != unix.RTN_UNICAST {
			return r, fmt.Errorf("a %s route takes no via", typeName(r.Type))
		}
		a, err := addrOf(via, "via", p.Addr().Is6())
		if err != nil {
			return r, err
		}
		r.Gw = net.IP(a.AsSlice())
	}
	if r.Type != unix.RTN_UNICAST && r.Dev != "" {
		return r, fmt.Errorf("a %s route takes no dev", typeName(r.Type))
	}
	if r.Type == unix.RTN_UNICAST && via == "" && r.Dev == "" {
		return r, fmt.Errorf("a route to %s needs via or dev", p)
	}
	if !scopeSet && r.Type == unix.RTN_UNICAST && via == "" {
		// What `ip route add` does: a route without a gateway reaches a
		// directly connected network.
		r.Scope = netlink.SCOPE_LINK
	}
	return r, nil
}

func typeName(t int) string {
	switch t {
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_PROHIBIT:
		return "prohibit"
	case unix.RTN_THROW:
		return "throw"
	}
	return "unicast"
}

// ParseRule reads a keepalived rule line:
//
//	[not] [from PREFIX|all] [to PREFIX|all] table|lookup T
//	    [priority|preference N] [fwmark M[/MASK]] [iif IF] [oif IF]
//	    [protocol P] [inet6] [no_track]
//
// A rule needs a table: keepalived ignores one without an action.
func ParseRule(line string) (netlink.Rule, error) {
	w := newWords(line)
	r := *netlink.NewRule()
	r.Protocol = ProtoKeepalived
	r.Table = -1
	v6 := false
	var from, to string
	if w.empty() {
		return r, fmt.Errorf("empty rule")
	}
	for opt, ok := w.next(); ok; opt, ok = w.next() {
		var s string
		var err error
		switch opt {
		case "inet6":
			v6 = true
		case "no_track":
		case "not":
			r.Invert = true
		case "from":
			from, err = w.value(opt)
		case "to":
			to, err = w.value(opt)
		case "table", "lookup":
			if s, err = w.value(opt); err == nil {
				r.Table, err = table(s)
			}
		case "priority", "preference":
			if s, err = w.value(opt); err == nil {
				r.Priority, err = number(opt, s, 0, 1<<32-1)
			}
		case "fwmark":
			if s, err = w.value(opt); err == nil {
				err = fwmark(s, &r)
			}
		case "iif":
			r.IifName, err = w.value(opt)
		case "oif":
			r.OifName, err = w.value(opt)
		case "protocol":
			if s, err = w.value(opt); err == nil {
				var p int
				p, err = protocol(s)
				r.Protocol = uint8(p)
			}
		default:
			return r, fmt.Errorf("unsupported rule option %q (xlb reads not, from, to, table, lookup, priority, preference, fwmark, iif, oif, protocol, inet6, no_track)", opt)
		}
		if err != nil {
			return r, err
		}
	}
	if r.Table < 0 {
		return r, fmt.Errorf("no table: keepalived ignores a rule without one")
	}
	r.Family = unix.AF_INET
	if v6 {
		r.Family = unix.AF_INET6
	}
	fam := 0
	for _, e := range []struct {
		name, val string
		dst       **net.IPNet
	}{{"from", from, &r.Src}, {"to", to, &r.Dst}} {
		if e.val == "" || e.val == "all" {
			continue
		}
		p, err := prefix(e.val, v6)
		if err != nil {
			return r, fmt.Errorf("%s: %w", e.name, err)
		}
		f := family(p.Addr())
		if fam != 0 && f != fam {
			return r, fmt.Errorf("from and to are of different address families")
		}
		fam = f
		*e.dst = ipnet(p)
		r.Family = f
	}
	if r.Priority < 0 {
		r.Priority = DefaultRulePriority
	}
	return r, nil
}

// ParseAddr reads an address line as static_ipaddress has them:
//
//	ADDR[/LEN] dev IF [label L] [scope S] [brd|broadcast B] [no_track]
//
// A bare address is a host address (/32, /128), as keepalived reads it.
func ParseAddr(line string) (Addr, error) {
	w := newWords(line)
	var a Addr
	first, ok := w.next()
	if !ok {
		return a, fmt.Errorf("empty address")
	}
	// An address keeps its host bits: 192.0.2.50/24 is .50 on a /24.
	p, err := netip.ParsePrefix(addrWithLen(first))
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return a, fmt.Errorf("invalid address %q", first)
	}
	a.IPNet = &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	for opt, ok := w.next(); ok; opt, ok = w.next() {
		if opt == "no_track" {
			continue
		}
		v, err := w.value(opt)
		if err != nil {
			return a, err
		}
		switch opt {
		case "dev":
			if len(v) > unix.IFNAMSIZ-1 {
				return a, fmt.Errorf("invalid interface name %q", v)
			}
			a.Dev = v
		case "label":
			if len(v) > unix.IFNAMSIZ-1 {
				return a, fmt.Errorf("label %q is longer than %d characters", v, unix.IFNAMSIZ-1)
			}
			a.Label = v
		case "scope":
			if a.Scope, err = scope(v); err != nil {
				return a, err
			}
		case "brd", "broadcast":
			b, err := addrOf(v, opt, p.Addr().Is6())
			if err != nil || !b.Is4() {
				return a, fmt.Errorf("invalid %s %q: an IPv4 address is needed", opt, v)
			}
			a.Broadcast = net.IP(b.AsSlice())
		default:
			return a, fmt.Errorf("unsupported address option %q (xlb reads dev, label, scope, brd, broadcast, no_track)", opt)
		}
	}
	if a.Dev == "" {
		return a, fmt.Errorf("no dev: xlb needs the interface of each address")
	}
	if a.Label != "" && a.Label != a.Dev && !strings.HasPrefix(a.Label, a.Dev+":") {
		return a, fmt.Errorf("label %s must be %s or start with %s: (the kernel's rule)", a.Label, a.Dev, a.Dev)
	}
	return a, nil
}

// addrWithLen gives a bare address its host length.
func addrWithLen(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return fmt.Sprintf("%s/%d", s, a.BitLen())
	}
	return s
}

// prefix reads a destination: "default", an address (a host) or a
// prefix without host bits.
func prefix(s string, v6 bool) (netip.Prefix, error) {
	if s == "default" {
		if v6 {
			return netip.MustParsePrefix("::/0"), nil
		}
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	p, err := netip.ParsePrefix(addrWithLen(s))
	if err != nil || p.Addr().Zone() != "" {
		return p, fmt.Errorf("invalid prefix %q", s)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen()))
	if v6 && p.Addr().Is4() {
		return p, fmt.Errorf("%s is IPv4 but the line says inet6", s)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("prefix %s has host bits set (the network is %s)", s, p.Masked())
	}
	return p, nil
}

// addrOf reads an address that must be of the destination's family.
func addrOf(s, what string, v6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return a, fmt.Errorf("invalid %s address %q", what, s)
	}
	a = a.Unmap()
	if a.Is6() != v6 {
		return a, fmt.Errorf("%s %s is not of the destination's address family", what, s)
	}
	return a, nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func number(what, s string, lo, hi int64) (int, error) {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("invalid %s %q: want %d..%d", what, s, lo, hi)
	}
	return int(n), nil
}

// table reads a routing table: a number, or one of the names every
// system has. Other names live in /etc/iproute2/rt_tables, which would
// make a file's meaning depend on the host reading it: give the number.
func table(s string) (int, error) {
	switch s {
	case "main":
		return unix.RT_TABLE_MAIN, nil
	case "local":
		return unix.RT_TABLE_LOCAL, nil
	case "default":
		return unix.RT_TABLE_DEFAULT, nil
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("table %q: xlb reads table numbers and main, local, default (not /etc/iproute2/rt_tables)", s)
	}
	if n < 1 || n > 1<<32-1 {
		return 0, fmt.Errorf("invalid table %q: want 1..%d", s, uint32(1<<32-1))
	}
	return int(n), nil
}

func scope(s string) (int, error) {
	switch s {
	case "global", "universe":
		return unix.RT_SCOPE_UNIVERSE, nil
	case "site":
		return unix.RT_SCOPE_SITE, nil
	case "link":
		return unix.RT_SCOPE_LINK, nil
	case "host":
		return unix.RT_SCOPE_HOST, nil
	case "nowhere":
		return unix.RT_SCOPE_NOWHERE, nil
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("invalid scope %q: want global, site, link, host, nowhere or 0..255", s)
	}
	return int(n), nil
}

func protocol(s string) (int, error) {
	switch s {
	case "kernel":
		return unix.RTPROT_KERNEL, nil
	case "boot":
		return unix.RTPROT_BOOT, nil
	case "static":
		return unix.RTPROT_STATIC, nil
	case "keepalived":
		return ProtoKeepalived, nil
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("invalid protocol %q: want kernel, boot, static, keepalived or 0..255", s)
	}
	return int(n), nil
}

// fwmark reads M[/MASK].
func fwmark(s string, r *netlink.Rule) error {
	m, k, hasMask := strings.Cut(s, "/")
	n, err := strconv.ParseUint(m, 0, 32)
	if err != nil {
		return fmt.Errorf("invalid fwmark %q", s)
	}
	r.Mark = uint32(n)
	if hasMask {
		mk, err := strconv.ParseUint(k, 0, 32)
		if err != nil {
			return fmt.Errorf("invalid fwmark mask %q", s)
		}
		mask := uint32(mk)
		r.Mask = &mask
	}
	return nil
}
