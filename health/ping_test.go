package health

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xlb-project/xlb/config"
)

func pingTarget(ip string) Target {
	return Target{Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), 80), Check: config.Check{Type: config.PingCheck, ConnectTimeout: 300 * time.Millisecond}}
}

// skipWithoutRawICMP skips when this process may not open raw ICMP sockets
// of the family, saying why (not root, or a kernel without IPv6).
func skipWithoutRawICMP(t *testing.T, network string) {
	t.Helper()
	c, err := net.ListenPacket(network, "")
	if err != nil {
		t.Skipf("cannot open a raw %s socket (PING_CHECK needs root or CAP_NET_RAW): %v", network, err)
	}
	c.Close()
}

func TestPingCheckLoopback(t *testing.T) {
	for _, tc := range []struct{ network, ip string }{{"ip4:icmp", "127.0.0.1"}, {"ip6:ipv6-icmp", "::1"}} {
		t.Run(tc.ip, func(t *testing.T) {
			skipWithoutRawICMP(t, tc.network)
			// Twice: each attempt matches its own reply.
			for range 2 {
				if err := probeOnce(t, pingTarget(tc.ip)); err != nil {
					t.Fatalf("ping %s: %v", tc.ip, err)
				}
			}
		})
	}
}

// A server that does not answer is down at the connect timeout. It sits in
// a network namespace of the test's own, behind an interface without a
// carrier, so the echo requests never leave the namespace.
func TestPingCheckNoReply(t *testing.T) {
	skipWithoutRawICMP(t, "ip4:icmp")
	runtime.LockOSThread()
	// The thread is left in no namespace it did not start in: it is
	// switched back, and kept locked (so discarded) if that fails.
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	name := "ckr-ping"
	_ = netns.DeleteNamed(name) // a leftover of an interrupted run
	ns, err := netns.NewNamed(name)
	if err != nil {
		runtime.UnlockOSThread()
		t.Skipf("cannot create a network namespace: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("deleting netns %s: %v", name, err)
		}
	}()
	// A veth pair whose peer stays down: 10.200.0.0/24 is routed out of
	// ckr0, and what goes there is dropped for want of a carrier, so
	// 10.200.0.2 never answers.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ckr0"}, PeerName: "ckr1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr("10.200.0.1/24")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(veth, a); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	// This thread is in the namespace (and so is the socket the probe
	// opens on it): the address is reached through ckr0 only.
	if r, err := netlink.RouteGet(net.ParseIP("10.200.0.2")); err != nil || len(r) != 1 || r[0].LinkIndex != veth.Attrs().Index {
		t.Fatalf("route to 10.200.0.2 in %s: %+v, %v; want one through ckr0", name, r, err)
	}
	start := time.Now()
	wantErr(t, probeOnce(t, pingTarget("10.200.0.2")), "no echo reply within 300ms")
	if d := time.Since(start); d < 300*time.Millisecond || d > 300*time.Millisecond+slack {
		t.Errorf("silent address failed after %v, want the connect timeout 300ms", d)
	}
}
