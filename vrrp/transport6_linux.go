package vrrp

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
)

// GroupIPv6 returns the VRRP IPv6 multicast group ff02::12 (RFC 5798).
func GroupIPv6() netip.Addr { return netip.MustParseAddr("ff02::12") }

// RawTransport6 is VRRPv3 over a raw IPv6 socket (next header 112) on one
// interface: to ff02::12 (or WithGroup's, or the unicast peers) with hop
// limit 255 (to the peers: WithUnicastTTL's), from
// the interface's link-local address as RFC 5798 §5.1.2.1 wants (or
// unicast_src_ip). The checksum is the codec's (over the IPv6
// pseudo-header); the kernel leaves it alone for this protocol.
type RawTransport6 struct {
	ifi   *net.Interface
	conn  net.PacketConn
	pc    *ipv6.PacketConn
	nl    *netlink.Handle
	local source
	base  string // the instance's interface, whose addresses are the source's
	// watch wakes the instance at link and address changes; nil if the
	// subscription failed (the instance polls either way).
	watch *linkWatch
	listenOpts
}

// ListenIPv6 opens the VRRP socket for IPv6 on iface.
func ListenIPv6(iface string, opts ...ListenOption) (*RawTransport6, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	t := &RawTransport6{nl: nl}
	for _, o := range opts {
		o(&t.listenOpts)
	}
	if err := t.open(iface); err != nil {
		t.Close()
		return nil, err
	}
	t.watch, _ = watchLinks()
	return t, nil
}

// LinkChanges is LinkWatcher's.
func (t *RawTransport6) LinkChanges() <-chan struct{} { return t.watch.events() }

func (t *RawTransport6) open(iface string) error {
	t.base = iface
	link, err := t.nl.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", iface, err)
	}
	// With use_vmac the adverts leave from (and are heard on) the VMAC,
	// from the base's link-local address, which the VMAC holds a copy of
	// (vmac.Ensure), as keepalived's.
	sock := link
	if n := t.sockIface(iface); n != iface {
		if sock, err = t.nl.LinkByName(n); err != nil {
			return fmt.Errorf("VMAC interface %q: %w", n, err)
		}
	}
	t.ifi = netIface(sock)
	addrs, err := t.nl.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", iface, err)
	}
	a, present := pickSource6(addrs, t.src, nil)
	if t.src.IsValid() && !present && !t.trackSrc {
		return fmt.Errorf("unicast_src_ip %s is not an address of %s", t.src, iface)
	}
	// No link-local address (yet: DAD) is no error: the instance waits
	// in FAULT for one (FollowSource).
	t.local.set(a)
	conn, err := openRaw("ip6:112", "::", t.ifi.Name)
	if err != nil {
		return err
	}
	t.conn = conn
	pc := ipv6.NewPacketConn(conn)
	t.pc = pc
	group := &net.IPAddr{IP: t.Group().AsSlice()}
	return setUp(iface, []socketStep{
		{"join " + t.Group().String(), func() error { return pc.JoinGroup(t.ifi, group) }},
		{"multicast interface", func() error { return pc.SetMulticastInterface(t.ifi) }},
		{"multicast hop limit", func() error { return pc.SetMulticastHopLimit(255) }},
		{"hop limit", func() error { return pc.SetHopLimit(255) }},
		t.rcvBufStep(conn),
		{"multicast loopback", func() error { return pc.SetMulticastLoopback(false) }},
		{"traffic class", func() error { return pc.SetTrafficClass(0xc0) }},
		{"control messages", func() error {
			return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		}},
	})
}

// Peers implements Unicaster.
func (t *RawTransport6) Peers() []netip.Addr { return t.peers }

// SendTo implements Unicaster. Adverts to a unicast peer go with the
// unicast TTL as hop limit, to the group with 255.
func (t *RawTransport6) SendTo(msg []byte, dst netip.Addr) error {
	hops := 255
	if !dst.IsMulticast() {
		hops = t.unicastTTL()
	}
	src := t.local.get()
	if !src.IsValid() {
		return errNoSource
	}
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: t.ifi.Index, HopLimit: hops}
	_, err := t.pc.WriteTo(msg, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: t.ifi.Name})
	return err
}

// Send implements Transport.
func (t *RawTransport6) Send(msg []byte) error { return t.SendTo(msg, t.Group()) }

// Receive implements Transport (see RawTransport.Receive). The hop limit
// stands in Packet.TTL: RFC 5798 wants 255 of both.
func (t *RawTransport6) Receive(ctx context.Context) (Packet, error) {
	return receive(ctx, t.pc.SetReadDeadline, t.ifi.Index, t.peers, t.Group(), func(buf []byte) (int, Packet, int, error) {
		n, cm, src, err := t.pc.ReadFrom(buf)
		if err != nil || cm == nil {
			return n, Packet{}, -1, err
		}
		p := Packet{TTL: cm.HopLimit}
		if ia, ok := src.(*net.IPAddr); ok {
			p.Src, _ = netip.AddrFromSlice(ia.IP)
		}
		p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		return n, p, cm.IfIndex, nil
	})
}

// LocalAddr implements Transport.
func (t *RawTransport6) LocalAddr() netip.Addr { return t.local.get() }

// Group implements Transport.
func (t *RawTransport6) Group() netip.Addr { return t.groupOr(GroupIPv6()) }

// Close implements Transport.
func (t *RawTransport6) Close() error {
	t.watch.close()
	return closeRaw(t.conn, t.nl)
}

// LinkUp is RawTransport's, for this transport's namespace.
func (t *RawTransport6) LinkUp(name string) (bool, error) { return linkUp(t.nl, name) }
