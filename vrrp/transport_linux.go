package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// RawTransport is VRRP over a raw IPv4 socket (protocol 112) on one
// interface, sending to 224.0.0.18 (or WithGroup's) from the interface's
// primary address with TTL 255 and the interface's own MAC (keepalived's
// default without use_vmac), or from a VMAC interface (WithVMAC). The socket and netlink handle belong to the network namespace
// of the thread that called ListenIPv4.
type RawTransport struct {
	ifi   *net.Interface
	conn  net.PacketConn
	pc    *ipv4.PacketConn
	nl    *netlink.Handle
	local source
	base  string // the instance's interface, whose addresses are the source's
	// watch wakes the instance at link and address changes; nil if the
	// subscription failed (the instance polls either way).
	watch *linkWatch
	listenOpts
}

// listenOpts are what ListenOptions set, for either family's transport.
type listenOpts struct {
	src    netip.Addr   // unicast_src_ip; invalid: the interface's default source
	peers  []netip.Addr // unicast_peer; none: multicast
	group  netip.Addr   // mcast_dst_ip; invalid: the family's VRRP group
	ttl    int          // unicast_ttl: the unicast adverts' TTL; 0: 255
	rcvBuf int          // kernel_rx_buf_size: SO_RCVBUF; 0: the system's
	vmac   string       // use_vmac: send and hear on this interface; "": the instance's
	// trackSrc (track_src_ip) lets src be missing from the interface at
	// the start: the instance waits for it in FAULT.
	trackSrc bool
}

// groupOr is the group set, or def.
func (o *listenOpts) groupOr(def netip.Addr) netip.Addr {
	if o.group.IsValid() {
		return o.group
	}
	return def
}

// unicastTTL is the TTL (hop limit) of adverts sent to the unicast peers.
func (o *listenOpts) unicastTTL() int {
	if o.ttl > 0 {
		return o.ttl
	}
	return 255
}

// rcvBufStep sets SO_RCVBUF when one is wanted (the kernel doubles it and
// caps it at net.core.rmem_max, as for keepalived's setsockopt).
func (o *listenOpts) rcvBufStep(conn net.PacketConn) socketStep {
	return socketStep{"receive buffer", func() error {
		if o.rcvBuf <= 0 {
			return nil
		}
		return setSockInt(conn, unix.SOL_SOCKET, unix.SO_RCVBUF, o.rcvBuf)
	}}
}

// ListenOption configures ListenIPv4 and ListenIPv6.
type ListenOption func(*listenOpts)

// WithUnicast sends adverts to peers instead of the group and accepts
// only theirs (keepalived unicast_peer), from src when it is valid
// (unicast_src_ip; else the interface's primary or link-local address).
// No peers: multicast.
func WithUnicast(src netip.Addr, peers []netip.Addr) ListenOption {
	return func(o *listenOpts) { o.src, o.peers = src, slices.Clone(peers) }
}

// WithGroup sends the multicast adverts to group and hears only those
// sent to it (keepalived's mcast_dst_ip, vrrp_mcast_group4/6); invalid:
// 224.0.0.18 or ff02::12.
func WithGroup(group netip.Addr) ListenOption {
	return func(o *listenOpts) { o.group = group }
}

// WithUnicastTTL sets the TTL (IPv6: hop limit) of the adverts sent to
// unicast peers (keepalived's unicast_ttl, 1..255); 0 keeps 255.
// Multicast adverts always go with 255, as the RFCs require.
func WithUnicastTTL(ttl int) ListenOption { return func(o *listenOpts) { o.ttl = ttl } }

// WithReceiveBuffer sets the socket's SO_RCVBUF to n bytes (keepalived's
// kernel_rx_buf_size); 0 keeps the system's default.
func WithReceiveBuffer(n int) ListenOption { return func(o *listenOpts) { o.rcvBuf = n } }

// WithVMAC sends and hears the adverts on the VMAC interface name
// (keepalived's use_vmac without vmac_xmit_base), so they leave with the
// virtual MAC as their source; the source address is still the
// instance's interface's (the VMAC has none as backup), as keepalived's.
// "": on the instance's interface.
func WithVMAC(name string) ListenOption { return func(o *listenOpts) { o.vmac = name } }

// sockIface is the interface the socket is bound to: the VMAC, or iface.
func (o *listenOpts) sockIface(iface string) string {
	if o.vmac != "" {
		return o.vmac
	}
	return iface
}

// ListenIPv4 opens the VRRP socket on iface.
func ListenIPv4(iface string, opts ...ListenOption) (*RawTransport, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	t := &RawTransport{nl: nl}
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
func (t *RawTransport) LinkChanges() <-chan struct{} { return t.watch.events() }

func (t *RawTransport) open(iface string) error {
	t.base = iface
	link, err := t.nl.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", iface, err)
	}
	sock := link
	if n := t.sockIface(iface); n != iface {
		if sock, err = t.nl.LinkByName(n); err != nil {
			return fmt.Errorf("VMAC interface %q: %w", n, err)
		}
	}
	t.ifi = netIface(sock)
	addrs, err := t.nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", iface, err)
	}
	// The primary address is the first non-secondary IPv4 address, which
	// is also what keepalived picks as its source; unicast_src_ip must be
	// one of the interface's (unless track_src_ip: then the instance
	// waits for it). An interface without an address is no error: the
	// instance waits in FAULT for one (FollowSource), as keepalived does.
	a, present := pickSource4(addrs, t.src, nil)
	if t.src.IsValid() && !present && !t.trackSrc {
		return fmt.Errorf("unicast_src_ip %s is not an address of %s", t.src, iface)
	}
	t.local.set(a)
	conn, err := openRaw("ip4:112", "0.0.0.0", t.ifi.Name)
	if err != nil {
		return err
	}
	t.conn = conn
	pc := ipv4.NewPacketConn(conn)
	t.pc = pc
	group := &net.IPAddr{IP: t.Group().AsSlice()}
	return setUp(t.ifi.Name, []socketStep{
		{"join " + t.Group().String(), func() error { return pc.JoinGroup(t.ifi, group) }},
		{"multicast interface", func() error { return pc.SetMulticastInterface(t.ifi) }},
		{"multicast ttl", func() error { return pc.SetMulticastTTL(255) }},
		// IP_TTL is what unicast datagrams go with.
		{"ttl", func() error { return pc.SetTTL(t.unicastTTL()) }},
		t.rcvBufStep(conn),
		{"multicast loopback", func() error { return pc.SetMulticastLoopback(false) }},
		// keepalived marks adverts as network control (precedence 6).
		{"tos", func() error { return pc.SetTOS(0xc0) }},
		{"control messages", func() error {
			return pc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true)
		}},
	})
}

// netIface is l as a net.Interface, for the socket options that take one.
func netIface(l netlink.Link) *net.Interface {
	a := l.Attrs()
	return &net.Interface{Index: a.Index, Name: a.Name, MTU: a.MTU, HardwareAddr: a.HardwareAddr, Flags: a.Flags}
}

// openRaw opens a raw socket bound to iface.
func openRaw(network, addr, iface string) (net.PacketConn, error) {
	conn, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	if err := bindToDevice(conn, iface); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// socketStep is one option set on a VRRP socket.
type socketStep struct {
	what string
	err  func() error
}

// setUp applies the steps in order, naming the first that fails.
func setUp(iface string, steps []socketStep) error {
	for _, s := range steps {
		if err := s.err(); err != nil {
			return fmt.Errorf("vrrp socket on %s: %s: %w", iface, s.what, err)
		}
	}
	return nil
}

// setSockInt sets an integer socket option on conn's socket.
func setSockInt(conn net.PacketConn, level, opt, v int) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errors.New("unexpected connection type")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// bindToDevice restricts the socket to iface: the same VRID may be in use
// on other segments, and their adverts must not reach this instance.
func bindToDevice(conn net.PacketConn, iface string) error {
	ic, ok := conn.(*net.IPConn)
	if !ok {
		return errors.New("unexpected connection type")
	}
	raw, err := ic.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("bind to %s: %w", iface, serr)
	}
	return nil
}

// Peers implements Unicaster: the unicast peers, none for multicast.
func (t *RawTransport) Peers() []netip.Addr { return t.peers }

// SendTo implements Unicaster.
func (t *RawTransport) SendTo(msg []byte, dst netip.Addr) error {
	src := t.local.get()
	if !src.IsValid() {
		return errNoSource
	}
	cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: t.ifi.Index}
	_, err := t.pc.WriteTo(msg, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// Send implements Transport.
func (t *RawTransport) Send(msg []byte) error { return t.SendTo(msg, t.Group()) }

// Receive implements Transport. It wakes every 200 ms to notice ctx, which
// bounds how long Run waits for the reader on shutdown.
func (t *RawTransport) Receive(ctx context.Context) (Packet, error) {
	return receive(ctx, t.pc.SetReadDeadline, t.ifi.Index, t.peers, t.Group(), func(buf []byte) (int, Packet, int, error) {
		n, cm, src, err := t.pc.ReadFrom(buf)
		if err != nil || cm == nil {
			return n, Packet{}, -1, err
		}
		p := Packet{TTL: cm.TTL}
		if ia, ok := src.(*net.IPAddr); ok {
			p.Src, _ = netip.AddrFromSlice(ia.IP.To4())
		}
		p.Dst, _ = netip.AddrFromSlice(cm.Dst.To4())
		return n, p, cm.IfIndex, nil
	})
}

// receive is Receive of either family: read returns the length, the
// packet without its data, the interface it came in on (-1: no control
// message, skip it) and an error. Packets to a multicast group other than
// group are skipped: a raw socket hears every group joined on the host.
func receive(ctx context.Context, deadline func(time.Time) error, ifIndex int, peers []netip.Addr, group netip.Addr,
	read func([]byte) (int, Packet, int, error)) (Packet, error) {
	buf := make([]byte, 1500)
	for {
		if err := ctx.Err(); err != nil {
			return Packet{}, err
		}
		if err := deadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			return Packet{}, err
		}
		n, p, in, err := read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return Packet{}, err
		}
		if in < 0 || (in != 0 && in != ifIndex) {
			continue
		}
		if p.Dst.IsMulticast() && p.Dst != group {
			// keepalived's mcast_dst_ip: routers on another group are
			// another cluster, even with the same VRID.
			continue
		}
		if len(peers) > 0 && !slices.Contains(peers, p.Src) {
			// Unicast: only the configured peers take part (a multicast
			// router of the same VRID on the segment is another cluster).
			continue
		}
		p.Data = append([]byte(nil), buf[:n]...)
		return p, nil
	}
}

// LocalAddr implements Transport.
func (t *RawTransport) LocalAddr() netip.Addr { return t.local.get() }

// Group implements Transport.
func (t *RawTransport) Group() netip.Addr { return t.groupOr(GroupIPv4()) }

// Close implements Transport.
func (t *RawTransport) Close() error {
	t.watch.close()
	return closeRaw(t.conn, t.nl)
}

// closeRaw closes a transport's socket and netlink handle, either nil.
func closeRaw(conn net.PacketConn, nl *netlink.Handle) error {
	var err error
	if conn != nil {
		err = conn.Close()
	}
	if nl != nil {
		nl.Close()
	}
	return err
}

// LinkUp reports whether an interface in the transport's namespace is up
// with carrier; it is the default LinkStateFunc.
func (t *RawTransport) LinkUp(name string) (bool, error) { return linkUp(t.nl, name) }

// linkUp reports whether interface name (in nl's namespace) is up with
// carrier.
func linkUp(nl *netlink.Handle, name string) (bool, error) {
	l, err := nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil // a deleted interface is down
		}
		return false, err
	}
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return false, nil
	}
	switch a.OperState {
	case netlink.OperUp, netlink.OperUnknown:
		return true, nil
	}
	return false, nil
}
