// Package lab builds, on one machine, the seed's DR topology out of network
// namespaces, for end-to-end tests, `xlb lab` and benchmarks:
//
//	         <prefix>br: bridge br0
//	  ┌──────────┬───────┴──┬──────────┬──────────┐
//	client     dir1 (dir2…)  rs1        rs2 (rs3…)
//	.10        .8   .9       .3         .4          (192.168.101.0/24)
//
// Every host is a namespace `<prefix><name>` with one veth `eth0`; its peer,
// named `v<name>`, sits in the bridge namespace attached to br0. The VIP is
// 192.168.101.100. Real servers are prepared with realserver.Up (VIP on lo,
// ARP suppressed) and run nginx; directors get only their address: the caller
// starts xlb there with Start.
//
// # XDP_TX on veth
//
// A director's XDP program answers with XDP_TX, which on a veth hands the
// frame straight to the peer device's receive ring (veth_xdp_xmit), skipping
// the peer's normal receive path. Measured on kernel 6.18 with a 20-insn DR
// program on dir1's eth0 (TestXDPTXNeedsPeerNAPI, `go test -v -run XDPTX`):
//
//   - Peer (bridge side) without XDP program, GRO off (the default): every
//     XDP_TX frame is dropped; dir1's eth0 counts it in
//     rx_queue_0_xdp_tx_errors (ethtool -S), nothing reaches br0.
//   - Peer with an XDP program (here XDP_PASS, native mode): frames pass.
//   - Peer without program but GRO on (`ethtool -K vdir1 gro on`, with or
//     without a down/up of the link): NOT a substitute. veth_xdp_xmit now
//     accepts the frames (xdp_tx counts up, xdp_tx_errors stays 0) but they
//     never show up on the peer (tcpdump in the bridge namespace sees only
//     the client's frame going out of vdir1, nothing coming back in), so
//     they are lost silently, which is worse than the counted drop. Normal
//     (non-XDP) traffic through the GRO-enabled peer works.
//
// So the lab keeps an XDP_PASS program (a bpf_link, closed by Close) on each
// director's peer and leaves GRO alone. Checksums: veth TX checksum
// offload leaves only the pseudo-header sum in the client's TCP header and
// marks the skb CHECKSUM_PARTIAL; the director's XDP turns it into a bare
// frame without that mark, so the real server sees a bad checksum and drops
// the segment (observed: with the client's `tx` offload on, the connection
// through XDP_TX times out; with it off, it works). Hence the lab runs
// `ethtool -K eth0 tx off` on the client and on the real servers (replies).
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/xlb-project/xlb/control"
)

// Subnet is the lab's layer-2 segment, as in the seed.
const Subnet = "192.168.101.0/24"

// VIPAddr is the virtual IP of the seed.
const VIPAddr = "192.168.101.100"

// Limits keep names and addresses inside the /24 and the plan below.
const (
	maxDirectors   = 8
	maxRealServers = 16
)

// Options shape the lab. Zero values pick the defaults.
type Options struct {
	// Directors is the number of director hosts (default 1).
	Directors int
	// RealServers is the number of nginx real servers (default 2).
	RealServers int
	// BigFileBytes is the size of /big (default 8 MiB).
	BigFileBytes int64
	// BigRate is nginx's limit_rate for /big (default "2m", 2 MB/s), so a
	// download of the default file lasts about 4 s.
	BigRate string
	// Router puts the client on its own subnet (ClientSubnet) behind a
	// router namespace running bird2, which peers by BGP with every
	// director and spreads flows over them by ECMP; see router.go.
	// Directors then must not own the VIP (xlb does not with a bgp
	// section); real servers still hold it on lo.
	Router bool
	// Log receives progress lines and the output of started processes;
	// nil discards them.
	Log io.Writer
}

// Host is one namespace of the lab.
type Host struct {
	Name  string           // short name: "client", "dir1", "rs1"
	NS    string           // network namespace name (for ip netns exec)
	IP    netip.Addr       // address on Iface
	MAC   net.HardwareAddr // MAC of Iface
	Iface string           // "eth0"
	Peer  string           // bridge-side veth in the bridge namespace
}

// Lab is a running topology. Its methods are safe for concurrent use.
type Lab struct {
	opts   Options
	prefix string
	dir    string // temp dir: nginx configs, logs, state, the big file
	log    *logger

	bridgeNS string
	client   Host
	router   Host // Router mode only
	dirs     []Host
	rss      []Host

	mu       sync.Mutex
	closed   bool
	nsNames  []string // every namespace made, in creation order
	handles  map[string]netns.NsHandle
	procs    []*proc              // every process started
	xdpLinks map[string]link.Link // peer iface -> XDP_PASS link
	nginx    map[int]*proc        // real server index -> nginx master
	status   map[int]int          // real server index -> HTTP code of / and /status
}

// ownerDir records, per lab, which process owns it, so Cleanup can tell a
// crashed run from a live one in a concurrent test binary.
const ownerDir = "/run/xlb-lab"

// New creates the whole lab or nothing: on error, whatever it made is torn
// down again.
func New(ctx context.Context, o Options) (l *Lab, err error) {
	if o.Directors == 0 {
		o.Directors = 1
	}
	if o.RealServers == 0 {
		o.RealServers = 2
	}
	if o.BigFileBytes == 0 {
		o.BigFileBytes = 8 << 20
	}
	if o.BigRate == "" {
		o.BigRate = "2m"
	}
	if o.Directors < 0 || o.Directors > maxDirectors {
		return nil, fmt.Errorf("directors %d out of range 1..%d", o.Directors, maxDirectors)
	}
	if o.RealServers < 0 || o.RealServers > maxRealServers {
		return nil, fmt.Errorf("real servers %d out of range 1..%d", o.RealServers, maxRealServers)
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	if o.Router {
		if err := checkRouterTools(); err != nil {
			return nil, err
		}
	}
	prefix, err := newPrefix()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "xlb-lab-"+strings.TrimSuffix(prefix, "-")+"-")
	if err != nil {
		return nil, fmt.Errorf("create lab dir: %w", err)
	}
	l = &Lab{
		opts:     o,
		prefix:   prefix,
		dir:      dir,
		log:      newLogger(o.Log),
		bridgeNS: prefix + "br",
		handles:  map[string]netns.NsHandle{},
		xdpLinks: map[string]link.Link{},
		nginx:    map[int]*proc{},
		status:   map[int]int{},
	}
	defer func() {
		if err != nil {
			if cerr := l.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("tear down half-built lab: %w", cerr))
			}
			l = nil
		}
	}()
	l.log.printf("creating lab %s", strings.TrimSuffix(prefix, "-"))
	if err := writeOwner(prefix, dir); err != nil {
		return l, err
	}
	l.plan()
	if err := l.build(ctx); err != nil {
		return l, err
	}
	return l, nil
}

// CheckTools reports which external programs the lab needs but cannot find.
// Tests skip on its error.
func CheckTools() error { return checkTools() }

func checkTools() error {
	var missing []string
	for _, p := range []string{"ip", "ethtool", "curl"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := os.Stat(nginxBinary); err != nil {
		missing = append(missing, nginxBinary)
	}
	if len(missing) > 0 {
		return fmt.Errorf("lab needs %s (apt-get install -y nginx iproute2 ethtool curl): %w",
			strings.Join(missing, ", "), os.ErrNotExist)
	}
	if os.Geteuid() != 0 {
		return errors.New("lab needs root to create network namespaces")
	}
	return nil
}

// newPrefix picks "x" + 5 random hex digits + "-": short enough that
// "<prefix>client" stays readable, random enough for concurrent test binaries.
func newPrefix() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random prefix: %w", err)
	}
	return "x" + hex.EncodeToString(b[:])[:5] + "-", nil
}

// hostIP returns the seed's address plan: real servers .3 .4 .5 …, directors
// .8 .9 …, client .10; extra hosts go to ranges that cannot collide.
func realServerIP(i int) netip.Addr {
	if i < 5 {
		return netip.AddrFrom4([4]byte{192, 168, 101, byte(3 + i)})
	}
	return netip.AddrFrom4([4]byte{192, 168, 101, byte(20 + i)})
}

func directorIP(i int) netip.Addr {
	if i < 2 {
		return netip.AddrFrom4([4]byte{192, 168, 101, byte(8 + i)})
	}
	return netip.AddrFrom4([4]byte{192, 168, 101, byte(50 + i)})
}

// macFor gives a locally administered MAC derived from the IP, which makes
// packet dumps readable.
func macFor(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

func (l *Lab) newHost(name string, ip netip.Addr) Host {
	return Host{Name: name, NS: l.prefix + name, IP: ip, MAC: macFor(ip), Iface: "eth0", Peer: "v" + name}
}

func (l *Lab) plan() {
	l.client = l.newHost("client", netip.AddrFrom4([4]byte{192, 168, 101, 10}))
	if l.opts.Router {
		// The client's veth peer is the router's eth1, in the router namespace.
		l.client = l.newHost("client", netip.MustParseAddr(ClientIP))
		l.client.Peer = "eth1"
		l.router = l.newHost("router", netip.MustParseAddr(RouterIP))
	}
	for i := range l.opts.Directors {
		l.dirs = append(l.dirs, l.newHost(fmt.Sprintf("dir%d", i+1), directorIP(i)))
	}
	for i := range l.opts.RealServers {
		l.rss = append(l.rss, l.newHost(fmt.Sprintf("rs%d", i+1), realServerIP(i)))
	}
}

// hosts are the hosts on the bridge: the client, or in Router mode the
// router in its place.
func (l *Lab) hosts() []Host {
	hs := []Host{l.client}
	if l.opts.Router {
		hs = []Host{l.router}
	}
	hs = append(hs, l.dirs...)
	return append(hs, l.rss...)
}

func (l *Lab) build(ctx context.Context) error {
	if err := l.addNS(ctx, l.bridgeNS); err != nil {
		return err
	}
	brh, err := l.netlinkAt(l.bridgeNS)
	if err != nil {
		return err
	}
	defer brh.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := brh.LinkAdd(br); err != nil {
		return fmt.Errorf("create br0: %w", err)
	}
	if err := brh.LinkSetUp(br); err != nil {
		return fmt.Errorf("set br0 up: %w", err)
	}
	if err := setLoUp(brh); err != nil {
		return err
	}

	for _, h := range l.hosts() {
		if err := l.addHost(ctx, brh, br, h); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	for _, h := range l.dirs {
		if err := l.attachPeerXDP(h); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if l.opts.Router {
		if err := l.buildRouter(ctx); err != nil {
			return fmt.Errorf("router: %w", err)
		}
	}
	// Checksum offload off where frames may be forwarded by XDP_TX (client
	// requests) or that the client must accept (replies); see package doc.
	for _, h := range append([]Host{l.client}, l.rss...) {
		if _, err := l.Exec(ctx, h, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if err := l.writeBigFile(); err != nil {
		return err
	}
	for i := range l.rss {
		if err := l.setupRealServer(ctx, i); err != nil {
			return fmt.Errorf("host %s: %w", l.rss[i].Name, err)
		}
	}
	l.log.printf("lab %s ready: client %v, directors %d, real servers %d, dir %s",
		strings.TrimSuffix(l.prefix, "-"), l.client.IP, len(l.dirs), len(l.rss), l.dir)
	return nil
}

func setLoUp(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// addNS creates a named namespace and keeps a handle for InNS.
func (l *Lab) addNS(ctx context.Context, name string) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("lab closed")
	}
	// Record before creating so a failure half-way is still cleaned up.
	l.nsNames = append(l.nsNames, name)
	l.mu.Unlock()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	l.mu.Lock()
	l.handles[name] = h
	l.mu.Unlock()
	return nil
}

func (l *Lab) handle(name string) (netns.NsHandle, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.handles[name]
	if !ok || l.closed {
		return 0, fmt.Errorf("no namespace %s in this lab", name)
	}
	return h, nil
}

// netlinkAt opens a netlink handle whose socket lives in the namespace, so
// no thread has to switch namespaces for link and address work.
func (l *Lab) netlinkAt(name string) (*netlink.Handle, error) {
	ns, err := l.handle(name)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", name, err)
	}
	return h, nil
}

func (l *Lab) addHost(ctx context.Context, brh *netlink.Handle, br *netlink.Bridge, h Host) error {
	if err := l.addNS(ctx, h.NS); err != nil {
		return err
	}
	hostNS, err := l.handle(h.NS)
	if err != nil {
		return err
	}
	// Create the pair inside the bridge namespace with the host end placed
	// straight into the host namespace as eth0: nothing ever appears in the
	// root namespace, so concurrent labs cannot clash on names there.
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: h.Peer},
		PeerName:         h.Iface,
		PeerHardwareAddr: h.MAC,
		PeerNamespace:    netlink.NsFd(hostNS),
	}
	if err := brh.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s/%s: %w", h.Peer, h.Iface, err)
	}
	peer, err := brh.LinkByName(h.Peer)
	if err != nil {
		return fmt.Errorf("find %s: %w", h.Peer, err)
	}
	if err := brh.LinkSetMaster(peer, br); err != nil {
		return fmt.Errorf("attach %s to br0: %w", h.Peer, err)
	}
	if err := brh.LinkSetUp(peer); err != nil {
		return fmt.Errorf("set %s up: %w", h.Peer, err)
	}

	nh, err := l.netlinkAt(h.NS)
	if err != nil {
		return err
	}
	defer nh.Close()
	if err := setLoUp(nh); err != nil {
		return err
	}
	eth, err := nh.LinkByName(h.Iface)
	if err != nil {
		return fmt.Errorf("find %s: %w", h.Iface, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: h.IP.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	if err := nh.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("add %v/24: %w", h.IP, err)
	}
	if err := nh.LinkSetUp(eth); err != nil {
		return fmt.Errorf("set %s up: %w", h.Iface, err)
	}
	return nil
}

// Client is the host that sends requests.
func (l *Lab) Client() Host { return l.client }

// Directors are the hosts where the caller runs xlb.
func (l *Lab) Directors() []Host { return append([]Host(nil), l.dirs...) }

// RealServers are the nginx hosts, rs1 first.
func (l *Lab) RealServers() []Host { return append([]Host(nil), l.rss...) }

// VIP is the virtual IP the real servers hold on lo.
func (l *Lab) VIP() netip.Addr { return netip.MustParseAddr(VIPAddr) }

// BridgeNS is the namespace holding br0 and every host's peer veth; useful
// for packet captures.
func (l *Lab) BridgeNS() string { return l.bridgeNS }

// Bridge is the bridge namespace as a Host (Iface "br0", no address), so
// Exec, Start and InNS work there too, e.g. for tcpdump on a peer veth.
func (l *Lab) Bridge() Host { return Host{Name: "br", NS: l.bridgeNS, Iface: "br0"} }

// Prefix is the namespace name prefix of this lab, e.g. "x1a2b3-".
func (l *Lab) Prefix() string { return l.prefix }

// Dir is the lab's temporary directory (configs and logs); removed by Close.
func (l *Lab) Dir() string { return l.dir }

// Close kills every process the lab started (by PID, whole process group),
// detaches the peer XDP programs and deletes every namespace it made. It is
// idempotent and reports all errors, not just the first.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	links := l.xdpLinks
	handles := l.handles
	names := l.nsNames
	l.procs, l.xdpLinks, l.handles = nil, map[string]link.Link{}, map[string]netns.NsHandle{}
	l.mu.Unlock()

	var errs []error
	// Processes first: a namespace lingers as long as a process is in it.
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].kill(); err != nil {
			errs = append(errs, err)
		}
	}
	for name, lk := range links {
		if err := lk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach xdp from %s: %w", name, err))
		}
	}
	// Open handles also pin a namespace; close them before deleting.
	for _, h := range handles {
		h.Close()
	}
	for i := len(names) - 1; i >= 0; i-- {
		if err := deleteNS(names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove lab dir: %w", err))
	}
	if err := os.Remove(filepath.Join(ownerDir, strings.TrimSuffix(l.prefix, "-")+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove owner file: %w", err))
	}
	return errors.Join(errs...)
}

// deleteNS removes a named namespace; a name that no longer exists is fine.
func deleteNS(name string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	// What an xlb run in it kept under /run/xlb (control.SocketDir: its
	// lock, socket and VRRP handoff) is of no use once it is gone; left,
	// one directory a lab piles up.
	if err := os.RemoveAll(filepath.Join(control.DefaultDir, "netns", name)); err != nil {
		return fmt.Errorf("remove the run directory of %s: %w", name, err)
	}
	return nil
}
