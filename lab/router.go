package lab

// Router mode (Options.Router): the seed's "LVS + OSPF cluster" with BGP.
//
//	client 10.99.0.10 ── eth1 router (bird) eth0 .1 ── br0 ── dir1 .8, dir2 .9, dir3 .52 …
//	        (10.99.0.0/24)                                └─ rs1 .3, rs2 .4 …  (192.168.101.0/24)
//
// The client sits on its own subnet behind a router namespace that runs
// Debian's bird2. bird waits (passive) for a BGP session from every
// director (AS DirectorASN; the router is AS RouterASN), learns each one's
// host route for the VIP and installs them into the kernel as one
// multipath route (`merge paths on`); the router's kernel hashes flows over
// the next hops by addresses and ports (fib_multipath_hash_policy=1).
// Directors and real servers route everything off-segment, so the replies
// to the client, through the router (default route via RouterIP). The
// client's replies therefore never touch a director, as in DR.
//
// Directors do not hold the VIP: the router reaches them by next hop.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// Router-mode addresses and autonomous systems.
const (
	RouterIP     = "192.168.101.1" // the router's leg on the lab segment
	ClientSubnet = "10.99.0.0/24"  // the client's network behind the router
	ClientIP     = "10.99.0.10"
	routerClient = "10.99.0.1" // the router's leg on the client network
	RouterASN    = 65000
	DirectorASN  = 65001 // one AS for all directors: equal AS paths, so bird merges them
)

// birdBinary is Debian bird2's daemon; birdc its client.
const (
	birdBinary  = "/usr/sbin/bird"
	birdcBinary = "/usr/sbin/birdc"
)

// Router is the router namespace in Router mode (Iface eth0 on the segment;
// eth1, the client's Peer, on the client network); the zero Host otherwise.
func (l *Lab) Router() Host { return l.router }

// RouterMode reports whether the lab was built with Options.Router.
func (l *Lab) RouterMode() bool { return l.opts.Router }

func checkRouterTools() error {
	for _, p := range []string{birdBinary, birdcBinary} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("router lab needs %s (apt-get install -y bird2): %w", p, os.ErrNotExist)
		}
	}
	return nil
}

// CheckRouterTools reports whether Options.Router can work here (bird2).
func CheckRouterTools() error { return checkRouterTools() }

func (l *Lab) birdSock() string { return filepath.Join(l.dir, "bird.ctl") }

// buildRouter makes the router (already on the bridge as a host), the
// client behind it, the routes, and starts bird.
func (l *Lab) buildRouter(ctx context.Context) error {
	r := l.router
	if err := l.addNS(ctx, l.client.NS); err != nil {
		return err
	}
	clientNS, err := l.handle(l.client.NS)
	if err != nil {
		return err
	}
	rh, err := l.netlinkAt(r.NS)
	if err != nil {
		return err
	}
	defer rh.Close()
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: l.client.Peer},
		PeerName:         l.client.Iface,
		PeerHardwareAddr: l.client.MAC,
		PeerNamespace:    netlink.NsFd(clientNS),
	}
	if err := rh.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s/%s: %w", l.client.Peer, l.client.Iface, err)
	}
	leg, err := rh.LinkByName(l.client.Peer)
	if err != nil {
		return fmt.Errorf("find %s: %w", l.client.Peer, err)
	}
	if err := rh.AddrAdd(leg, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(routerClient), Mask: net.CIDRMask(24, 32)}}); err != nil {
		return fmt.Errorf("add %s/24: %w", routerClient, err)
	}
	if err := rh.LinkSetUp(leg); err != nil {
		return fmt.Errorf("set %s up: %w", l.client.Peer, err)
	}

	ch, err := l.netlinkAt(l.client.NS)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := setLoUp(ch); err != nil {
		return err
	}
	eth, err := ch.LinkByName(l.client.Iface)
	if err != nil {
		return fmt.Errorf("find client %s: %w", l.client.Iface, err)
	}
	if err := ch.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: l.client.IP.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		return fmt.Errorf("add client address: %w", err)
	}
	if err := ch.LinkSetUp(eth); err != nil {
		return fmt.Errorf("set client %s up: %w", l.client.Iface, err)
	}
	if err := addDefaultRoute(ch, net.ParseIP(routerClient)); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	// Everything off-segment (the client's replies) goes via the router.
	for _, h := range append(l.Directors(), l.rss...) {
		nh, err := l.netlinkAt(h.NS)
		if err != nil {
			return err
		}
		err = addDefaultRoute(nh, net.ParseIP(RouterIP))
		nh.Close()
		if err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	// Forwarding, and ECMP by layer-4 hash so one client's connections
	// (distinct source ports) spread over the directors.
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"} {
		if _, err := l.Exec(ctx, r, "sysctl", "-qw", kv); err != nil {
			return err
		}
	}
	// The router forwards the client's segments that directors XDP_TX on
	// and sends replies the client must accept: full checksums (package doc).
	for _, dev := range []string{r.Iface, l.client.Peer} {
		if _, err := l.Exec(ctx, r, "ethtool", "-K", dev, "tx", "off"); err != nil {
			return err
		}
	}
	return l.startBird(ctx)
}

func addDefaultRoute(h *netlink.Handle, gw net.IP) error {
	if err := h.RouteAdd(&netlink.Route{Gw: gw}); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}

// birdConf is the router's configuration: a passive session per director,
// everything learnt exported to the kernel with multipath merging. Timers
// are short so a test sees a restarted director's session within seconds
// (bird's defaults wait a minute after a session error).
func (l *Lab) birdConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, `router id %s;
log stderr { info, remote, warning, error, auth, fatal, bug };
protocol device { scan time 1; }
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
template bgp director {
	local %s as %d;
	passive on;
	connect retry time 1;
	connect delay time 1;
	error wait time 1, 2;
	ipv4 { import all; export none; };
}
`, RouterIP, RouterIP, RouterASN)
	for _, d := range l.dirs {
		fmt.Fprintf(&b, "protocol bgp %s from director { neighbor %s as %d; }\n", d.Name, d.IP, DirectorASN)
	}
	return b.String()
}

func (l *Lab) startBird(ctx context.Context) error {
	conf := filepath.Join(l.dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(l.birdConf()), 0o644); err != nil {
		return fmt.Errorf("write bird.conf: %w", err)
	}
	p, err := l.start(l.router, birdBinary, "-f", "-c", conf, "-s", l.birdSock())
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := l.BirdC(ctx, "show", "status")
		if err == nil && strings.Contains(string(out), "Daemon is up") {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("bird exited: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bird did not come up: %v: %s", err, out)
		}
	}
}

// BirdC runs birdc against the lab's bird (Router mode) and returns its
// output, e.g. BirdC(ctx, "show", "protocols").
func (l *Lab) BirdC(ctx context.Context, args ...string) ([]byte, error) {
	if !l.opts.Router {
		return nil, errors.New("lab has no router (Options.Router)")
	}
	return l.Exec(ctx, l.router, append([]string{birdcBinary, "-s", l.birdSock()}, args...)...)
}

// RouteNextHops returns the gateways of the router's kernel route to dst
// (one per ECMP path; nil when there is no route). Router mode only.
func (l *Lab) RouteNextHops(ctx context.Context, dst netip.Addr) ([]netip.Addr, error) {
	if !l.opts.Router {
		return nil, errors.New("lab has no router (Options.Router)")
	}
	out, err := l.Exec(ctx, l.router, "ip", "-j", "route", "show", "exact", netip.PrefixFrom(dst, dst.BitLen()).String())
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("parse ip route: %w: %s", err, out)
	}
	var gws []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			gws = append(gws, a)
		}
	}
	for _, r := range routes {
		add(r.Gateway)
		for _, nh := range r.Nexthops {
			add(nh.Gateway)
		}
	}
	return gws, nil
}
