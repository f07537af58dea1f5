package vip

import (
	"bytes"
	"errors"
	"github.com/xlb-project/xlb/internal/nstest"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func addrsOn(t *testing.T, ns *nstest.NS, iface string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	ns.Do(t, func() error {
		l, err := netlink.LinkByName(iface)
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range as {
			x, _ := netip.AddrFromSlice(a.IP)
			out = append(out, x.Unmap())
		}
		return nil
	})
	return out
}

type announcement struct {
	addr netip.Addr
	hw   net.HardwareAddr
	at   time.Time // when the capture saw it
}

// capture collects gratuitous ARPs and unsolicited NAs seen on ifi until
// deadline, using an ETH_P_ALL packet socket (no IP stack involved).
func capture(t *testing.T, ns *nstest.NS, ifi *net.Interface, d time.Duration) <-chan []announcement {
	t.Helper()
	var fd int
	ns.Do(t, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	out := make(chan []announcement, 1)
	go func() {
		defer unix.Close(fd)
		var got []announcement
		end := time.Now().Add(d)
		buf := make([]byte, 2048)
		for time.Now().Before(end) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // timeout: re-check the deadline
			}
			var f ethernet.Frame
			if f.UnmarshalBinary(buf[:n]) != nil {
				continue
			}
			switch f.EtherType {
			case ethernet.EtherTypeARP:
				p := f.Payload
				if len(p) < 28 || p[7] != 1 { // request
					continue
				}
				sip, _ := netip.AddrFromSlice(p[14:18])
				tip, _ := netip.AddrFromSlice(p[24:28])
				if sip == tip {
					got = append(got, announcement{sip, net.HardwareAddr(slices.Clone(p[8:14])), time.Now()})
				}
			case ethernet.EtherTypeIPv6:
				if len(f.Payload) < 41 || f.Payload[6] != 58 {
					continue
				}
				m, err := ndp.ParseMessage(f.Payload[40:])
				if err != nil {
					continue
				}
				na, ok := m.(*ndp.NeighborAdvertisement)
				if !ok || na.Solicited {
					continue
				}
				for _, o := range na.Options {
					if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
						got = append(got, announcement{na.TargetAddress, lla.Addr, time.Now()})
					}
				}
			}
		}
		out <- got
	}()
	return out
}

func TestAcquireReleaseNetns(t *testing.T) {
	nstest.RequireRoot(t)
	dir := nstest.New(t, "vipd")
	peer := nstest.New(t, "vipp")
	nstest.VethPair(t, dir, peer, "10.99.0.1/24", "10.99.0.2/24")
	dir.Do(t, func() error {
		l, err := netlink.LinkByName("veth0")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("10.99.0.50/32")
		return netlink.AddrAdd(l, a)
	})
	// arp_accept lets the peer create a neighbour entry from a gratuitous ARP.
	peer.Sysctl(t, "net/ipv4/conf/veth0/arp_accept", "1")

	vip4 := netip.MustParseAddr("10.99.0.100")
	pre := netip.MustParseAddr("10.99.0.50")
	vip6 := netip.MustParseAddr("fd00:99::100")

	var o *Owner
	dir.Do(t, func() error {
		var err error
		o, err = New("veth0", testLogger(), WithAnnounce(3, 50*time.Millisecond))
		return err
	})
	defer o.Close()

	capt := capture(t, peer, nstest.IfaceIn(t, peer, "veth0"), 800*time.Millisecond)
	time.Sleep(50 * time.Millisecond)

	// Acquire runs on a goroutine that is not in the namespace on purpose:
	// the Owner must use its own namespace-bound handles.
	if err := o.Acquire(vip4, pre, vip6); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	have := addrsOn(t, dir, "veth0")
	for _, a := range []netip.Addr{vip4, pre, vip6} {
		if !slices.Contains(have, a) {
			t.Errorf("%s not on interface after Acquire: %v", a, have)
		}
	}
	if got, want := o.Owned(), []netip.Addr{vip4, vip6}; !slices.Equal(got, want) {
		t.Errorf("Owned() = %v, want %v", got, want)
	}

	mac := o.HardwareAddr()
	counts := map[netip.Addr]int{}
	for _, a := range <-capt {
		if !bytes.Equal(a.hw, mac) {
			t.Errorf("announcement for %s carries %s, want %s", a.addr, a.hw, mac)
		}
		counts[a.addr]++
	}
	for _, a := range []netip.Addr{vip4, pre, vip6} {
		if counts[a] != 3 {
			t.Errorf("saw %d announcements for %s, want 3", counts[a], a)
		}
	}

	// The peer's neighbour table learned the director's MAC for the VIP.
	peer.Do(t, func() error {
		l, err := netlink.LinkByName("veth0")
		if err != nil {
			return err
		}
		ns, err := netlink.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.IP.Equal(vip4.AsSlice()) {
				if !bytes.Equal(n.HardwareAddr, mac) {
					return errors.New("neighbour entry has wrong MAC " + n.HardwareAddr.String())
				}
				return nil
			}
		}
		return errors.New("no neighbour entry for VIP on peer")
	})

	if err := o.Release(vip4, pre, vip6); err != nil {
		t.Fatalf("release: %v", err)
	}
	have = addrsOn(t, dir, "veth0")
	if slices.Contains(have, vip4) || slices.Contains(have, vip6) {
		t.Errorf("VIPs still present after Release: %v", have)
	}
	if !slices.Contains(have, pre) {
		t.Errorf("pre-existing %s removed by Release: %v", pre, have)
	}
	if len(o.Owned()) != 0 {
		t.Errorf("Owned() = %v after Release", o.Owned())
	}

	// Re-acquire and drop everything with ReleaseAll.
	if err := o.Acquire(vip4); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if err := o.ReleaseAll(); err != nil {
		t.Fatalf("release all: %v", err)
	}
	have = addrsOn(t, dir, "veth0")
	if slices.Contains(have, vip4) || !slices.Contains(have, pre) {
		t.Errorf("after ReleaseAll: %v", have)
	}
}

func TestNewMissingInterface(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t, "vipm")
	ns.Do(t, func() error {
		_, err := New("nope0", nil)
		if err == nil {
			return errors.New("New on a missing interface succeeded")
		}
		return nil
	})
}

// A burst goes round by round like keepalived's, and garp_interval /
// gna_interval space every packet of a family, across addresses too,
// while the other family keeps its own pace.
func TestScheduleSpacing(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	a6 := netip.MustParseAddr("fd00::1")
	ss := []sender{{addr: a4}, {addr: b4}, {addr: a6}}
	type want struct {
		addr netip.Addr
		at   time.Duration
	}
	check := func(name string, got []shot, w []want) {
		t.Helper()
		if len(got) != len(w) {
			t.Fatalf("%s: %d packets, want %d", name, len(got), len(w))
		}
		for i := range w {
			if got[i].s.addr != w[i].addr || got[i].at != w[i].at {
				t.Errorf("%s: packet %d is %s at %v, want %s at %v", name, i, got[i].s.addr, got[i].at, w[i].addr, w[i].at)
			}
		}
	}
	// keepalived's default: no spacing, everything at once, in rounds.
	check("no interval", schedule(ss, 2, 0, 0, 0), []want{
		{a4, 0}, {b4, 0}, {a6, 0}, {a4, 0}, {b4, 0}, {a6, 0},
	})
	ms := time.Millisecond
	check("garp_interval 200ms, gna_interval 50ms", schedule(ss, 2, 0, 200*ms, 50*ms), []want{
		{a4, 0}, {a6, 0}, {a6, 50 * ms}, {b4, 200 * ms}, {a4, 400 * ms}, {b4, 600 * ms},
	})
	// Outside VRRP: rounds 100 ms apart.
	check("rounds", schedule(ss[:2], 2, 100*ms, 0, 0), []want{
		{a4, 0}, {b4, 0}, {a4, 100 * ms}, {b4, 100 * ms},
	})
	if got := schedule(ss, 0, 0, 0, 0); len(got) != 0 {
		t.Errorf("count 0 sends %d packets", len(got))
	}
}

// The Pacer holds a packet back until the sender's own interval has passed
// since the family's last packet on it (any sender's), and a packet it lets
// go becomes the last; a sender without interval never waits, and each
// family keeps its own pace.
func TestPacerClaim(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	p := NewPacer()
	for _, c := range []struct {
		v6   bool
		at   time.Duration
		gap  time.Duration
		wait time.Duration
	}{
		{false, 0, 200 * ms, 0},              // the first goes at once
		{false, 50 * ms, 200 * ms, 150 * ms}, // held until 200 ms after it
		{true, 50 * ms, 200 * ms, 0},         // an NA: its own family
		{false, 60 * ms, 0, 0},               // no interval: at once, and now the last
		{false, 100 * ms, 200 * ms, 160 * ms},
		{false, 260 * ms, 200 * ms, 0},
		{false, 260 * ms, 100 * ms, 100 * ms},
	} {
		if got := p.claim(c.v6, t0.Add(c.at), c.gap); got != c.wait {
			t.Errorf("at %v (v6 %v, gap %v): wait %v, want %v", c.at, c.v6, c.gap, got, c.wait)
		}
	}
}

// On the wire: AnnounceN sends its own count per address, spaced by the
// packet interval, and with no interval all at once.
func TestAnnounceNSpacingNetns(t *testing.T) {
	nstest.RequireRoot(t)
	dir := nstest.NewWithPrefix(t, "garp-d")
	peer := nstest.NewWithPrefix(t, "garp-p")
	nstest.VethPair(t, dir, peer, "10.98.0.1/24", "10.98.0.2/24")
	a, b := netip.MustParseAddr("10.98.0.100"), netip.MustParseAddr("10.98.0.101")
	var o *Owner
	dir.Do(t, func() error {
		var err error
		o, err = New("veth0", testLogger(), WithAnnounce(1, 0), WithPacketIntervals(150*time.Millisecond, 0))
		return err
	})
	defer o.Close()
	capt := capture(t, peer, nstest.IfaceIn(t, peer, "veth0"), 1200*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if err := o.AnnounceN(2, a, b); err != nil {
		t.Fatalf("AnnounceN: %v", err)
	}
	got := <-capt
	var order []netip.Addr
	for _, x := range got {
		order = append(order, x.addr)
	}
	if want := []netip.Addr{a, b, a, b}; !slices.Equal(order, want) {
		t.Fatalf("saw %v, want %v", order, want)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < 120*time.Millisecond || gap > 400*time.Millisecond {
			t.Errorf("gap before packet %d is %v, want about 150ms", i, gap)
		}
	}

	var o2 *Owner
	dir.Do(t, func() error {
		var err error
		o2, err = New("veth0", testLogger(), WithAnnounce(1, 0))
		return err
	})
	defer o2.Close()
	capt = capture(t, peer, nstest.IfaceIn(t, peer, "veth0"), 300*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if err := o2.AnnounceN(3, a); err != nil {
		t.Fatalf("AnnounceN: %v", err)
	}
	got = <-capt
	if len(got) != 3 {
		t.Fatalf("saw %d announcements, want 3", len(got))
	}
	if span := got[2].at.Sub(got[0].at); span > 50*time.Millisecond {
		t.Errorf("a burst without interval took %v, want it at once", span)
	}
}

// On the wire: Owners sharing a Pacer (two on one interface, a third on a
// second interface of the same garp_group) space all their gratuitous ARPs
// by garp_interval between them, as keepalived 2.2.7 was seen to do (with
// vrrp_garp_interval 0.2 two instances on one interface sent 0.2 s apart,
// and a garp_group of two interfaces spaced both). Owners with Pacers of
// their own do not wait for each other.
func TestPacerSharedNetns(t *testing.T) {
	nstest.RequireRoot(t)
	dir := nstest.NewWithPrefix(t, "pace-d")
	peer := nstest.NewWithPrefix(t, "pace-p")
	nstest.VethPair(t, dir, peer, "10.97.0.1/24", "10.97.0.2/24")
	nstest.LocalVeth(t, dir, "veth1", "veth1p", "")
	const gap = 150 * time.Millisecond
	owners := func(iface []string, pacers []*Pacer) []*Owner {
		var out []*Owner
		dir.Do(t, func() error {
			for i, n := range iface {
				o, err := New(n, testLogger(), WithAnnounce(1, 0), WithPacketIntervals(gap, 0), WithPacer(pacers[i]))
				if err != nil {
					return err
				}
				t.Cleanup(func() { o.Close() })
				out = append(out, o)
			}
			return nil
		})
		return out
	}
	announce := func(owned []*Owner, counts []int, addrs []netip.Addr, d time.Duration) []announcement {
		t.Helper()
		c0 := capture(t, peer, nstest.IfaceIn(t, peer, "veth0"), d)
		c1 := capture(t, dir, nstest.IfaceIn(t, dir, "veth1p"), d)
		time.Sleep(50 * time.Millisecond)
		for i, o := range owned {
			if err := o.AnnounceN(counts[i], addrs[i]); err != nil {
				t.Fatalf("AnnounceN: %v", err)
			}
		}
		got := append(<-c0, <-c1...)
		slices.SortFunc(got, func(a, b announcement) int { return a.at.Compare(b.at) })
		return got
	}
	a, b, c := netip.MustParseAddr("10.97.0.100"), netip.MustParseAddr("10.97.0.101"), netip.MustParseAddr("10.97.1.100")

	p := NewPacer()
	got := announce(owners([]string{"veth0", "veth0", "veth1"}, []*Pacer{p, p, p}), []int{2, 2, 1}, []netip.Addr{a, b, c}, 1300*time.Millisecond)
	var order []netip.Addr
	for _, x := range got {
		order = append(order, x.addr)
	}
	slices.SortFunc(order, netip.Addr.Compare)
	if want := []netip.Addr{a, a, b, b, c}; !slices.Equal(order, want) {
		t.Fatalf("shared pacer: saw %v, want two of %s and %s and one of %s", got, a, b, c)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].at.Sub(got[i-1].at); d < gap-30*time.Millisecond || d > gap+200*time.Millisecond {
			t.Errorf("shared pacer: gap before packet %d (%s) is %v, want about %v", i, got[i].addr, d, gap)
		}
	}

	// A burst dropped half-way (its instance left MASTER: Release) holds
	// the next Owner up by one interval at most, not by its planned length.
	p = NewPacer()
	pair := owners([]string{"veth0", "veth0"}, []*Pacer{p, p})
	dir.Do(t, func() error { return pair[0].Acquire(a) })
	capt := capture(t, peer, nstest.IfaceIn(t, peer, "veth0"), 600*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if err := pair[0].AnnounceN(6, a); err != nil { // 750 ms planned
		t.Fatal(err)
	}
	if err := pair[0].Release(a); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	if err := pair[1].AnnounceN(1, b); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	for _, x := range <-capt {
		if x.addr == b {
			at = x.at
		}
		if x.addr == a && x.at.Sub(released) > 50*time.Millisecond {
			t.Errorf("the released address was announced %v after its Release", x.at.Sub(released))
		}
	}
	if at.IsZero() || at.Sub(released) > gap+100*time.Millisecond {
		t.Errorf("the next Owner's announcement came %v after the dropped burst (zero: never), want within %v", at.Sub(released), gap)
	}

	got = announce(owners([]string{"veth0", "veth1"}, []*Pacer{nil, nil}), []int{1, 1}, []netip.Addr{a, c}, 300*time.Millisecond)
	if len(got) != 2 {
		t.Fatalf("own pacers: saw %d announcements, want 2", len(got))
	}
	if d := got[1].at.Sub(got[0].at); d > 60*time.Millisecond {
		t.Errorf("own pacers: the second Owner waited %v for the first", d)
	}
}

// Adopt makes addresses a restart in place left up this Owner's (IPv6
// ones have no label to say so): Release then removes them. One that is
// not on the interface is not adopted.
func TestAdoptNetns(t *testing.T) {
	nstest.RequireRoot(t)
	dir := nstest.New(t, "vipa")
	peer := nstest.New(t, "vipq")
	nstest.VethPair(t, dir, peer, "10.99.0.1/24", "10.99.0.2/24")
	left := netip.MustParseAddr("fd00:99::100")
	gone := netip.MustParseAddr("10.99.0.101")
	dir.Do(t, func() error {
		l, err := netlink.LinkByName("veth0")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(left.String() + "/128")
		a.Flags = unix.IFA_F_NODAD
		return netlink.AddrAdd(l, a)
	})
	var o *Owner
	dir.Do(t, func() error {
		var err error
		o, err = New("veth0", testLogger())
		return err
	})
	defer o.Close()
	if err := o.Adopt(left, gone); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if got := o.Owned(); !slices.Equal(got, []netip.Addr{left}) {
		t.Fatalf("Owned() = %v after Adopt, want [%s]", got, left)
	}
	if err := o.Release(left); err != nil {
		t.Fatalf("release: %v", err)
	}
	if have := addrsOn(t, dir, "veth0"); slices.Contains(have, left) {
		t.Fatalf("adopted %s still on the interface after Release: %v", left, have)
	}
}
