// Package vip owns virtual IP addresses on a director's interface: it adds
// them (as /32 or /128), announces them with gratuitous ARP or unsolicited
// Neighbor Advertisements so switches and neighbours learn the new owner, and
// removes only the addresses it added itself, so an address an operator
// configured by hand survives a VRRP failover or an xlb restart.
package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Defaults for announcements of VIPs outside VRRP (a VRRP instance sets
// keepalived's garp_* timing instead). keepalived sends garp_master_repeat=5
// per burst; we send the same number but spread the rounds 100 ms apart so a
// switch port that is still coming up (or a lossy link) catches at least one.
const (
	DefaultAnnounceCount    = 5
	DefaultAnnounceInterval = 100 * time.Millisecond
)

// Option tunes an Owner.
type Option func(*Owner)

// WithAnnounce sets how many gratuitous ARP / unsolicited NA packets are sent
// per acquired address and how far apart the rounds are (a round is one
// packet for each address). count 0 disables announcements.
func WithAnnounce(count int, interval time.Duration) Option {
	return func(o *Owner) {
		o.announceCount = max(count, 0)
		o.announceInterval = max(interval, 0)
	}
}

// WithPacketIntervals sets the least time between two gratuitous ARPs (arp)
// and between two unsolicited NAs (na) sent on the interface: keepalived's
// garp_interval and gna_interval, for switches that drop a flood of them.
// They space every packet of a burst, also between different addresses,
// and the bursts of the Owners sharing its Pacer (WithPacer).
func WithPacketIntervals(arp, na time.Duration) Option {
	return func(o *Owner) {
		o.arpInterval = max(arp, 0)
		o.naInterval = max(na, 0)
	}
}

// WithPacer makes the Owner's packets wait for those of the other Owners
// sharing p (one per interface, or per keepalived garp_group). Without it
// the Owner only spaces its own.
func WithPacer(p *Pacer) Option {
	return func(o *Owner) {
		if p != nil {
			o.pacer = p
		}
	}
}

// Owner adds and removes VIPs on one interface. It is safe for concurrent use.
//
// Everything an Owner touches (netlink, the ARP socket, NDP sockets) lives in
// the network namespace of the thread that called New, so the Owner keeps
// working when later methods run on goroutines in another namespace; that is
// what lets tests and multi-namespace daemons use it.
type Owner struct {
	iface string
	log   *slog.Logger

	ns     netns.NsHandle
	nl     *netlink.Handle
	arpfd  int // AF_PACKET socket for gratuitous ARP, -1 if the link has no MAC
	index  int
	hwaddr net.HardwareAddr

	announceCount    int
	announceInterval time.Duration // between rounds
	arpInterval      time.Duration // between any two gratuitous ARPs
	naInterval       time.Duration // between any two unsolicited NAs
	pacer            *Pacer        // shared with the interface's other Owners

	mu    sync.Mutex
	owned []netip.Addr // addresses this Owner added, in acquisition order
	// gen is bumped for an address on Release so pending repeat
	// announcements stop claiming an address we no longer hold.
	gen    map[netip.Addr]uint64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// New returns an Owner for iface in the calling thread's network namespace.
func New(iface string, log *slog.Logger, opts ...Option) (*Owner, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Owner{
		iface:            iface,
		arpfd:            -1,
		gen:              map[netip.Addr]uint64{},
		log:              log.With("iface", iface),
		announceCount:    DefaultAnnounceCount,
		announceInterval: DefaultAnnounceInterval,
		pacer:            NewPacer(),
	}
	for _, opt := range opts {
		opt(o)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("vip: get network namespace: %w", err)
	}
	o.ns = ns
	// Route netlink only: asking for every family fails on kernels
	// built without xfrm (EPROTONOSUPPORT).
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("vip: netlink handle: %w", err)
	}
	o.nl = nl
	link, err := nl.LinkByName(iface)
	if err != nil {
		o.closeHandles()
		return nil, fmt.Errorf("vip: interface %q: %w", iface, err)
	}
	attrs := link.Attrs()
	o.index = attrs.Index
	o.hwaddr = slices.Clone(attrs.HardwareAddr)
	if len(o.hwaddr) == 6 {
		// Only Ethernet-like links have ARP; others (tun, lo) just get addresses.
		fd, err := openARPSocket(o.index)
		if err != nil {
			o.closeHandles()
			return nil, fmt.Errorf("vip: open ARP socket on %s: %w", iface, err)
		}
		o.arpfd = fd
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	return o, nil
}

func (o *Owner) closeHandles() {
	if o.arpfd >= 0 {
		unix.Close(o.arpfd)
	}
	if o.nl != nil {
		o.nl.Close()
	}
	o.ns.Close()
}

// Close stops pending announcements and closes sockets. It does not remove
// addresses: call ReleaseAll first when the VIPs should go away too, because
// a restarting daemon may want to keep serving while it comes back.
func (o *Owner) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.cancel()
	o.mu.Unlock()
	o.wg.Wait()
	o.closeHandles()
	return nil
}

// Interface returns the interface name.
func (o *Owner) Interface() string { return o.iface }

// SetPacing gives the Owner's later bursts other packet intervals and
// another Pacer (WithPacketIntervals, WithPacer; nil: one of its own), as a
// reload that changes a garp_group does. Packets already due keep their time.
func (o *Owner) SetPacing(p *Pacer, arp, na time.Duration) {
	if p == nil {
		p = NewPacer()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pacer, o.arpInterval, o.naInterval = p, max(arp, 0), max(na, 0)
}

// HardwareAddr returns the MAC address announced for acquired VIPs.
func (o *Owner) HardwareAddr() net.HardwareAddr { return slices.Clone(o.hwaddr) }

// Owned returns the addresses this Owner added and has not released.
func (o *Owner) Owned() []netip.Addr {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.owned)
}

func prefixFor(a netip.Addr) *net.IPNet {
	bits := 32
	if a.Is6() {
		bits = 128
	}
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}
}

// ownLabel is the IPv4 address label xlb puts on the VIPs it adds, so a
// restarted daemon (hitless restart) recognises them as its own and still
// removes them at a clean stop. Labels must start with the interface name
// and fit IFNAMSIZ; longer names go without (the VIP is then left in place
// after a restart, never wrongly removed).
func ownLabel(iface string) string {
	if l := iface + ":xlb"; len(l) <= 15 {
		return l
	}
	return ""
}

// present reports whether a is on the link, and whether it carries xlb's
// own label (an earlier run of xlb added it).
func (o *Owner) present(link netlink.Link, a netip.Addr) (found, ours bool, err error) {
	fam := netlink.FAMILY_V4
	if a.Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := o.nl.AddrList(link, fam)
	if err != nil {
		return false, false, fmt.Errorf("list addresses: %w", err)
	}
	for _, x := range addrs {
		if y, ok := netip.AddrFromSlice(x.IP); ok && y.Unmap() == a {
			lbl := ownLabel(o.iface)
			return true, lbl != "" && x.Label == lbl, nil
		}
	}
	return false, false, nil
}

// Acquire adds each address to the interface (unless already present) and
// announces it. An address that was already on the interface is announced
// but never counted as ours, so Release will not remove it.
func (o *Owner) Acquire(addrs ...netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("vip: owner closed")
	}
	link, err := o.nl.LinkByName(o.iface)
	if err != nil {
		return fmt.Errorf("vip: interface %q: %w", o.iface, err)
	}
	var errs []error
	var announce []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() {
			errs = append(errs, errors.New("vip: invalid address"))
			continue
		}
		if a.Zone() != "" {
			errs = append(errs, fmt.Errorf("vip: %s: zoned addresses are not supported", a))
			continue
		}
		ok, ours, err := o.present(link, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("vip: %s: %w", a, err))
			continue
		}
		if ok && ours && !slices.Contains(o.owned, a) {
			o.owned = append(o.owned, a)
			o.log.Info("vip adopted from an earlier run", "addr", a)
		}
		if !ok {
			na := &netlink.Addr{IPNet: prefixFor(a)}
			if a.Is4() {
				na.Label = ownLabel(o.iface)
			}
			if a.Is6() {
				// The VIP moves between directors; DAD would hold it
				// tentative (unusable) for a second right at takeover.
				na.Flags = unix.IFA_F_NODAD
			}
			if err := o.nl.AddrAdd(link, na); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("vip: add %s to %s: %w", a, o.iface, err))
				continue
			}
			if !slices.Contains(o.owned, a) {
				o.owned = append(o.owned, a)
			}
			o.log.Info("vip added", "addr", a)
		} else if !slices.Contains(o.owned, a) {
			o.log.Info("vip already present; leaving it unmanaged", "addr", a)
		}
		announce = append(announce, a)
	}
	if err := o.announceLocked(o.announceCount, announce); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Adopt counts each given address that is on the interface as this
// Owner's, so Release removes it: the VIPs a restart in place left up for
// the run that carries on as their master. (An IPv6 address carries no
// label to tell xlb's from another's, so only the previous run's word
// can make it ours.)
func (o *Owner) Adopt(addrs ...netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.eachPresentLocked(addrs, func(_ netlink.Link, a netip.Addr, _ bool) error {
		o.owned = append(o.owned, a)
		o.log.Info("vip adopted from the run before a restart in place", "addr", a)
		return nil
	})
}

// eachPresentLocked calls fn for each of addrs (unmapped) that is on the
// interface and not already this Owner's, with whether it carries xlb's
// label.
func (o *Owner) eachPresentLocked(addrs []netip.Addr, fn func(link netlink.Link, a netip.Addr, ours bool) error) error {
	link, err := o.nl.LinkByName(o.iface)
	if err != nil {
		return fmt.Errorf("vip: interface %q: %w", o.iface, err)
	}
	var errs []error
	for _, a := range addrs {
		a = a.Unmap()
		if slices.Contains(o.owned, a) {
			continue
		}
		found, ours, err := o.present(link, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("vip: %s: %w", a, err))
			continue
		}
		if found {
			errs = append(errs, fn(link, a, ours))
		}
	}
	return errors.Join(errs...)
}

// Release removes the given addresses, but only those this Owner added.
func (o *Owner) Release(addrs ...netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.releaseLocked(addrs)
}

// ReleaseAll removes every address this Owner added.
func (o *Owner) ReleaseAll() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.releaseLocked(slices.Clone(o.owned))
}

func (o *Owner) releaseLocked(addrs []netip.Addr) error {
	var errs []error
	var link netlink.Link
	for _, a := range addrs {
		a = a.Unmap()
		o.gen[a]++
		i := slices.Index(o.owned, a)
		if i < 0 {
			continue // not ours: someone else configured it, leave it
		}
		if link == nil {
			l, err := o.nl.LinkByName(o.iface)
			if err != nil {
				return fmt.Errorf("vip: interface %q: %w", o.iface, err)
			}
			link = l
		}
		err := o.nl.AddrDel(link, &netlink.Addr{IPNet: prefixFor(a)})
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("vip: remove %s from %s: %w", a, o.iface, err))
			continue
		}
		o.owned = slices.Delete(o.owned, i, i+1)
		o.log.Info("vip removed", "addr", a)
	}
	return errors.Join(errs...)
}

// Announce sends gratuitous ARP / unsolicited NA for addrs without touching
// the interface's addresses (a VRRP master re-announces on request).
func (o *Owner) Announce(addrs ...netip.Addr) error {
	return o.AnnounceN(o.announceCount, addrs...)
}

// AnnounceN is Announce with count packets per address: a VRRP master's
// later bursts (keepalived's garp_master_delay, garp_master_refresh,
// garp_lower_prio_*) each have their own repeat.
func (o *Owner) AnnounceN(count int, addrs ...netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("vip: owner closed")
	}
	return o.announceLocked(count, addrs)
}

// sender sends one announcement of addr, while addr's generation is gen.
type sender struct {
	addr netip.Addr
	gen  uint64
	send func() error
}

// shot is one packet of a burst, due at offset at from the burst's start.
type shot struct {
	at time.Duration
	s  sender
}

// schedule orders a burst of count packets per address: round by round
// (each address once per round, as keepalived sends them), rounds at least
// round apart, and two packets of one family at least arp (IPv4) or na
// (IPv6) apart, so the spacing holds across addresses too. The Pacer then
// holds each packet back further while another Owner's went too recently.
func schedule(senders []sender, count int, round, arp, na time.Duration) []shot {
	var out []shot
	var next4, next6 time.Duration // when the family's next packet may go
	for r := range count {
		start := time.Duration(r) * round
		for _, s := range senders {
			next, gap := &next4, arp
			if s.addr.Is6() {
				next, gap = &next6, na
			}
			at := max(*next, start)
			out = append(out, shot{at, s})
			*next = at + gap
		}
	}
	slices.SortStableFunc(out, func(a, b shot) int { return int(a.at - b.at) })
	return out
}

// announceLocked sends the packets due at once synchronously (so errors
// reach the caller and the network learns the owner before Acquire returns)
// and the later ones from a goroutine, so a VRRP takeover is not delayed by
// the spacing.
func (o *Owner) announceLocked(count int, addrs []netip.Addr) error {
	if count <= 0 || len(addrs) == 0 {
		return nil
	}
	var errs []error
	var senders []sender
	var closers []func()
	for _, a := range addrs {
		a = a.Unmap()
		g := o.gen[a]
		switch {
		case a.Is4():
			if o.arpfd < 0 {
				continue
			}
			frame, err := garpFrame(o.hwaddr, a)
			if err != nil {
				errs = append(errs, fmt.Errorf("vip: gratuitous ARP for %s: %w", a, err))
				continue
			}
			senders = append(senders, sender{a, g, func() error {
				if err := o.sendFrame(frame); err != nil {
					return fmt.Errorf("vip: gratuitous ARP for %s: %w", a, err)
				}
				return nil
			}})
		case a.Is6():
			if len(o.hwaddr) == 0 {
				continue
			}
			c, err := o.listenNDP(a)
			if err != nil {
				errs = append(errs, fmt.Errorf("vip: NDP socket for %s: %w", a, err))
				continue
			}
			closers = append(closers, func() { c.Close() })
			na := &ndp.NeighborAdvertisement{
				Override:      true,
				TargetAddress: a,
				Options: []ndp.Option{&ndp.LinkLayerAddress{
					Direction: ndp.Target,
					Addr:      o.hwaddr,
				}},
			}
			senders = append(senders, sender{a, g, func() error {
				if err := c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
					return fmt.Errorf("vip: unsolicited NA for %s: %w", a, err)
				}
				return nil
			}})
		}
	}
	shots := schedule(senders, count, o.announceInterval, o.arpInterval, o.naInterval)
	begin := time.Now()
	// try runs with o.mu held (directly from Acquire, or taken by the
	// repeat goroutine) so it sees Release's generation bumps: a released
	// address's packets are dropped without claiming a time on the Pacer.
	// It returns how long the Pacer holds the packet back (nothing sent).
	try := func(s sender) (time.Duration, error) {
		if o.gen[s.addr] != s.gen {
			return 0, nil
		}
		gap := o.arpInterval
		if s.addr.Is6() {
			gap = o.naInterval
		}
		if wait := o.pacer.claim(s.addr.Is6(), time.Now(), gap); wait > 0 {
			return wait, nil
		}
		return 0, s.send()
	}
	n := 0
	for ; n < len(shots) && shots[n].at == 0; n++ {
		wait, err := try(shots[n].s)
		if wait > 0 {
			break // another Owner's packet just went: the rest go later
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	later := shots[n:]
	if len(later) == 0 {
		for _, c := range closers {
			c()
		}
		return errors.Join(errs...)
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer func() {
			for _, c := range closers {
				c()
			}
		}()
		sleep := func(d time.Duration) bool {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-o.ctx.Done():
				return false
			case <-t.C:
				return true
			}
		}
		for _, sh := range later {
			if !sleep(time.Until(begin.Add(sh.at))) {
				return
			}
			for {
				o.mu.Lock()
				wait, err := try(sh.s)
				o.mu.Unlock()
				if err != nil {
					o.log.Warn("repeat announcement failed", "err", err)
				}
				if wait == 0 {
					break
				}
				if !sleep(wait) {
					return
				}
			}
		}
	}()
	return errors.Join(errs...)
}

// garpFrame builds a gratuitous ARP request (sender IP = target IP = VIP,
// broadcast destination), the form keepalived and arping -U send; requests
// update caches on hosts that ignore unsolicited replies.
//
// The ARP body is encoded here rather than with github.com/mdlayher/arp
// because that package pulls in github.com/mdlayher/packet v1.0.0, which
// does not compile against the mdlayher/socket v0.5.1 pinned in go.mod.
func garpFrame(hw net.HardwareAddr, a netip.Addr) ([]byte, error) {
	if len(hw) != 6 || !a.Is4() {
		return nil, errors.New("need an Ethernet MAC and an IPv4 address")
	}
	ip := a.As4()
	body := make([]byte, 0, 28)
	body = append(body,
		0x00, 0x01, // hardware type Ethernet
		0x08, 0x00, // protocol type IPv4
		6, 4, // address lengths
		0x00, 0x01, // operation: request
	)
	body = append(body, hw...)
	body = append(body, ip[:]...)
	body = append(body, ethernet.Broadcast...)
	body = append(body, ip[:]...)
	f := &ethernet.Frame{
		Destination: ethernet.Broadcast,
		Source:      hw,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     body,
	}
	return f.MarshalBinary()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openARPSocket opens a send-only AF_PACKET socket bound to the interface.
// Protocol 0 means the kernel delivers no received frames to it, so it never
// needs draining.
func openARPSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	return fd, nil
}

func (o *Owner) sendFrame(frame []byte) error {
	sa := &unix.SockaddrLinklayer{
		Protocol: htons(uint16(ethernet.EtherTypeARP)),
		Ifindex:  o.index,
		Halen:    6,
	}
	copy(sa.Addr[:], ethernet.Broadcast)
	return unix.Sendto(o.arpfd, frame, 0, sa)
}

// listenNDP opens an ICMPv6 socket bound to the VIP itself (so the NA's
// source is the announced address, which needs no DAD thanks to NODAD) in
// the Owner's namespace.
func (o *Owner) listenNDP(a netip.Addr) (*ndp.Conn, error) {
	var c *ndp.Conn
	err := o.inNetns(func() error {
		ifi, err := net.InterfaceByIndex(o.index)
		if err != nil {
			return err
		}
		c, _, err = ndp.Listen(ifi, ndp.Addr(a.String()))
		return err
	})
	return c, err
}

// inNetns runs fn on a thread switched into the Owner's namespace, because
// socket(2) creates sockets in the calling thread's namespace.
func (o *Owner) inNetns(fn func() error) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get network namespace: %w", err)
	}
	defer cur.Close()
	if cur.Equal(o.ns) {
		defer runtime.UnlockOSThread()
		return fn()
	}
	if err := netns.Set(o.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(cur); err != nil {
		// Leave the thread locked: the runtime destroys it when this
		// goroutine exits instead of reusing a thread in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("restore network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// ReleaseStale removes addresses that carry xlb's label but that this
// Owner does not hold: left on the interface by a run that was killed. A
// VRRP instance starts as backup, and a backup must not keep answering ARP
// for a VIP the master now holds.
func (o *Owner) ReleaseStale(addrs ...netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.eachPresentLocked(addrs, func(link netlink.Link, a netip.Addr, ours bool) error {
		if !ours {
			return nil
		}
		if err := o.nl.AddrDel(link, &netlink.Addr{IPNet: prefixFor(a)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("vip: remove stale %s: %w", a, err)
		}
		o.log.Info("stale vip of an earlier run removed", "addr", a)
		return nil
	})
}
