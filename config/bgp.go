package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the bgp section.
const (
	DefaultBGPPort      = 179
	DefaultHoldTime     = 90 * time.Second // RFC 4271's suggested value
	DefaultConnectRetry = 5 * time.Second
	// NoBGPListener as listen_port: make only outgoing sessions.
	NoBGPListener = -1
)

// RFC 4271 4.2: a hold time is 0 (no keepalives) or at least 3 s, and is
// carried in a 16-bit number of seconds.
const (
	minHoldTime = 3 * time.Second
	maxHoldTime = 65535 * time.Second
)

// wellKnownCommunities are the RFC 1997/7999/3765 names an operator writes
// instead of numbers.
var wellKnownCommunities = map[string]uint32{
	"no-export":    0xFFFFFF01,
	"no-advertise": 0xFFFFFF02,
	"no-peer":      0xFFFFFF04,
	"blackhole":    0xFFFF029A,
}

// ParseCommunity turns "ASN:VALUE" (each 0..65535) or a well-known name into
// the 32-bit community carried on the wire.
func ParseCommunity(s string) (uint32, error) {
	if v, ok := wellKnownCommunities[strings.ToLower(s)]; ok {
		return v, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("community %q: want ASN:VALUE (e.g. 65000:100) or no-export, no-advertise, no-peer, blackhole", s)
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("community %q: both halves must be 0..65535", s)
	}
	return uint32(a)<<16 | uint32(b), nil
}

func newBGP() *BGP { return &BGP{ListenPort: DefaultBGPPort} }

func newBGPPeer() BGPPeer {
	return BGPPeer{Port: DefaultBGPPort, HoldTime: DefaultHoldTime, ConnectRetry: DefaultConnectRetry}
}

// Keepalive is the interval between keepalives sent to the peer: the
// configured one, else a third of the hold time (RFC 4271 10).
func (p BGPPeer) Keepalive() time.Duration {
	if p.KeepaliveInterval > 0 {
		return p.KeepaliveInterval
	}
	return (p.HoldTime / 3).Truncate(time.Second)
}

func (d *yamlDecoder) asn(n *yaml.Node, field string, dst *uint32) {
	if v, ok := d.integer(n, field, 0, math.MaxUint32); ok {
		*dst = uint32(v)
	}
}

func (d *yamlDecoder) bgp(n *yaml.Node, path string) *BGP {
	b := newBGP()
	b.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "router_id":
			d.addr(v, field, &b.RouterID)
		case "local_asn":
			d.asn(v, field, &b.LocalASN)
		case "listen_port":
			if p, ok := d.integer(v, field, NoBGPListener, 65535); ok {
				b.ListenPort = int(p)
			}
		case "next_hop":
			d.addr(v, field, &b.NextHop)
		case "communities":
			b.Communities = d.strs(v, field)
		case "peers":
			for i, pn := range d.sequence(v, field) {
				b.Peers = append(b.Peers, d.bgpPeer(pn, fmt.Sprintf("%s[%d]", field, i)))
			}
		default:
			return false
		}
		return true
	})
	return b
}

func (d *yamlDecoder) bgpPeer(n *yaml.Node, path string) BGPPeer {
	p := newBGPPeer()
	p.Line = deref(n).Line
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "address":
			d.addr(v, field, &p.Address)
		case "asn":
			d.asn(v, field, &p.ASN)
		case "port":
			d.port(v, field, &p.Port)
		case "hold_time":
			d.duration(v, field, &p.HoldTime)
		case "keepalive_interval":
			d.duration(v, field, &p.KeepaliveInterval)
		case "connect_retry":
			d.duration(v, field, &p.ConnectRetry)
		case "passive":
			d.boolean(v, field, &p.Passive)
		default:
			return false
		}
		return true
	})
	return p
}

func (c *Config) validateBGP(ps *problems) {
	if c.BGP == nil {
		for i, s := range c.Services {
			if s.NoAnnounce {
				ps.field(s.Line, fmt.Sprintf("services[%d].bgp_announce", i), "only applies with a bgp section")
			}
		}
		return
	}
	b, l := c.BGP, c.BGP.Line
	if b.LocalASN == 0 {
		ps.field(l, "bgp.local_asn", "is required (1..4294967295)")
	}
	if b.RouterID.IsValid() && !b.RouterID.Is4() {
		ps.field(l, "bgp.router_id", "must be an IPv4 address (a 32-bit BGP identifier), got %s", b.RouterID)
	} else if b.RouterID.IsValid() && b.RouterID.IsUnspecified() {
		ps.field(l, "bgp.router_id", "must not be 0.0.0.0")
	}
	if b.ListenPort < NoBGPListener || b.ListenPort == 0 || b.ListenPort > 65535 {
		ps.field(l, "bgp.listen_port", "must be 1..65535, or -1 for no listener, got %d", b.ListenPort)
	}
	if b.NextHop.IsValid() {
		if msg := checkAddr(b.NextHop); msg != "" {
			ps.field(l, "bgp.next_hop", "%s", msg)
		}
		// One next hop serves one address family; a VIP of the other
		// could never be announced.
		for i, s := range c.Services {
			if !s.NoAnnounce && s.VIP.IsValid() && s.VIP.Is4() != b.NextHop.Is4() {
				ps.field(s.Line, fmt.Sprintf("services[%d].vip", i), "%s VIP %s cannot be announced with the %s bgp.next_hop %s (set bgp_announce: false)",
					family(s.VIP), s.VIP, family(b.NextHop), b.NextHop)
			}
		}
	}
	for i, s := range b.Communities {
		if _, err := ParseCommunity(s); err != nil {
			ps.field(l, fmt.Sprintf("bgp.communities[%d]", i), "%v", err)
		}
	}
	if len(b.Peers) == 0 {
		ps.field(l, "bgp.peers", "at least one peer is required")
	}
	seen := map[netip.Addr]int{}
	passive := 0
	for i := range b.Peers {
		p := &b.Peers[i]
		fp := fmt.Sprintf("bgp.peers[%d]", i)
		if msg := checkAddr(p.Address); msg != "" {
			ps.field(p.Line, fp+".address", "%s", msg)
		} else if j, dup := seen[p.Address]; dup {
			ps.field(p.Line, fp+".address", "duplicate peer %s (also bgp.peers[%d]%s)", p.Address, j, ps.lineRef(b.Peers[j].Line))
		} else {
			seen[p.Address] = i
		}
		if p.ASN == 0 {
			ps.field(p.Line, fp+".asn", "is required (1..4294967295)")
		}
		if p.Port == 0 {
			ps.field(p.Line, fp+".port", "must be 1..65535")
		}
		if p.HoldTime != 0 && (p.HoldTime < minHoldTime || p.HoldTime > maxHoldTime) || p.HoldTime%time.Second != 0 {
			ps.field(p.Line, fp+".hold_time", "must be 0 or 3..65535 whole seconds (RFC 4271), got %s", p.HoldTime)
		}
		if p.KeepaliveInterval < 0 || p.KeepaliveInterval%time.Second != 0 {
			ps.field(p.Line, fp+".keepalive_interval", "must be whole seconds >= 0, got %s", p.KeepaliveInterval)
		} else if p.HoldTime > 0 && p.KeepaliveInterval >= p.HoldTime {
			ps.field(p.Line, fp+".keepalive_interval", "must be shorter than hold_time %s, got %s", p.HoldTime, p.KeepaliveInterval)
		}
		if p.ConnectRetry < time.Second || p.ConnectRetry%time.Second != 0 {
			ps.field(p.Line, fp+".connect_retry", "must be whole seconds >= 1, got %s", p.ConnectRetry)
		}
		if p.Passive {
			passive++
		}
	}
	if passive > 0 && b.ListenPort == NoBGPListener {
		ps.field(l, "bgp.listen_port", "is -1 (no listener) but %d passive peer(s) wait to be connected to", passive)
	}
}

func bgpNode(b *BGP) *yaml.Node {
	m := mapping()
	if b.RouterID.IsValid() {
		add(m, "router_id", addrNode(b.RouterID))
	}
	add(m, "local_asn", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(uint64(b.LocalASN), 10)})
	add(m, "listen_port", intNode(b.ListenPort))
	if b.NextHop.IsValid() {
		add(m, "next_hop", addrNode(b.NextHop))
	}
	if len(b.Communities) > 0 {
		cs := sequence()
		cs.Style = yaml.FlowStyle
		for _, c := range b.Communities {
			cs.Content = append(cs.Content, strNode(c))
		}
		add(m, "communities", cs)
	}
	peers := sequence()
	for _, p := range b.Peers {
		pm := mapping()
		add(pm, "address", addrNode(p.Address))
		add(pm, "asn", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(uint64(p.ASN), 10)})
		add(pm, "port", intNode(int(p.Port)))
		add(pm, "hold_time", durNode(p.HoldTime))
		if p.KeepaliveInterval != 0 {
			add(pm, "keepalive_interval", durNode(p.KeepaliveInterval))
		}
		add(pm, "connect_retry", durNode(p.ConnectRetry))
		add(pm, "passive", boolNode(p.Passive))
		peers.Content = append(peers.Content, pm)
	}
	add(m, "peers", peers)
	return m
}
