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
					got = append(got, announcement{sip, net.HardwareAddr(slices.Clone(p[8:14]))})
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
						got = append(got, announcement{na.TargetAddress, lla.Addr})
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
