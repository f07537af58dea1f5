package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// IPv6 addresses of the IP6IP6 test, laid over the router lab's IPv4 plan.
const (
	tun6VIP      = "2001:db8:100::100"
	tun6Client   = "2001:db8:99::10"
	tun6RouterC  = "2001:db8:99::1"  // the router's leg on the client network
	tun6RouterS  = "2001:db8:101::1" // ... on the lab segment
	tun6RouterRS = "2001:db8:98::1"  // ... on the real server's network
	tun6Director = "2001:db8:101::8"
	tun6RS       = "2001:db8:98::2"
)

// uploadServer is python3's http.server (GET of files in argv[1]) on [::]:80
// (a dual-stack socket, so IPv4 too) that also takes a POST whole and
// answers with the number of bytes it received, so an upload counts only
// once all of it arrived.
const uploadServer = `
import http.server, os, socket, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        n, got = int(self.headers.get("Content-Length", 0)), 0
        while got < n:
            b = self.rfile.read(min(65536, n - got))
            if not b:
                break
            got += len(b)
        body = str(got).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
os.chdir(sys.argv[1])
S(("::", 80), H).serve_forever()
`

// linkBytes returns the RX and TX byte counters of dev in ns.
func linkBytes(t *testing.T, ns, dev string) (rx, tx uint64) {
	t.Helper()
	var st []struct {
		Stats64 struct {
			RX struct{ Bytes uint64 } `json:"rx"`
			TX struct{ Bytes uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(ipns(t, ns, "ip", "-s", "-j", "link", "show", dev)), &st); err != nil || len(st) != 1 {
		t.Fatalf("link statistics of %s in %s: %v", dev, ns, err)
	}
	return st[0].Stats64.RX.Bytes, st[0].Stats64.TX.Bytes
}

// TUN mode for an IPv6 service (IP6IP6), as TestTunnelToRealServerBehindRouter
// for IPv4: the real server sits on another network (2001:db8:98::/64)
// behind the router; the director wraps client packets in an outer IPv6
// header to it, the real server unwraps them with xlb's tc program
// (`xlb realserver up --tun`; this kernel has no ip6_tunnel module) and
// answers the client directly through the router. A large upload gets the
// director's ICMPv6 packet too big, the client's path MTU to the VIP drops
// by 40 and the upload arrives whole.
//
// The same goes through GRE and GUE over IPv6 (tunnel_type gre / gue,
// `realserver up --tun-type`), whose packet too big lowers the path MTU by
// their 44 and 52 bytes.
func TestTunnel6ToRealServerBehindRouter(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		up         []string
		mtu        int
	}{
		{"ip6ip6", "", nil, 1460},
		{"gre", "tunnel_type: gre", []string{"--tun-type", "gre"}, 1456},
		{"gue", "tunnel_type: gue\n    tunnel_port: 6080", []string{"--tun-type", "gue", "--tun-port", "6080"}, 1448},
	} {
		t.Run(tc.name, func(t *testing.T) { testTunnel6(t, tc.yaml, tc.up, tc.mtu) })
	}
}

func testTunnel6(t *testing.T, tunYAML string, upArgs []string, mtu int) {
	l := newLab(t, lab.Options{Router: true})
	if !l.RouterMode() {
		t.Skip("skipped: the lab has no router")
	}
	router, client, dir := l.Router(), l.Client(), l.Directors()[0]
	ns := l.Prefix() + "tunrs6"
	startIn := addServerNS(t, ns)
	addr6 := func(h, dev, a string) { ipns(t, h, "ip", "-6", "addr", "add", a+"/64", "dev", dev, "nodad") }
	// The router: a leg on each network, IPv6 forwarding, the VIP via the
	// director (no BGP in this test).
	ipns(t, router.NS, "ip", "link", "add", "vtun", "type", "veth", "peer", "name", "eth0", "netns", ns)
	ipns(t, router.NS, "ip", "link", "set", "vtun", "up")
	ipns(t, router.NS, "ethtool", "-K", "vtun", "tx", "off")
	ipns(t, router.NS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	addr6(router.NS, "vtun", tun6RouterRS)
	addr6(router.NS, router.Iface, tun6RouterS)
	addr6(router.NS, client.Peer, tun6RouterC)
	ipns(t, router.NS, "ip", "-6", "route", "replace", tun6VIP+"/128", "via", tun6Director)
	// The client and the director route off-link through the router.
	addr6(client.NS, client.Iface, tun6Client)
	ipns(t, client.NS, "ip", "-6", "route", "add", "default", "via", tun6RouterC)
	addr6(dir.NS, dir.Iface, tun6Director)
	ipns(t, dir.NS, "ip", "-6", "route", "add", "default", "via", tun6RouterS)
	// The real server, on its own network.
	ipns(t, ns, "ip", "link", "set", "lo", "up")
	ipns(t, ns, "ip", "link", "set", "eth0", "up")
	addr6(ns, "eth0", tun6RS)
	ipns(t, ns, "ip", "-6", "route", "add", "default", "via", tun6RouterRS)
	ipns(t, ns, "ethtool", "-K", "eth0", "tx", "off")

	state := filepath.Join(l.Dir(), "tunrs6-state")
	pin := filepath.Join(pinRoot, strconv.Itoa(os.Getpid()), l.Prefix(), "decap6")
	ipns(t, ns, append([]string{xlbBin(), "realserver", "up", "--vip", tun6VIP, "--tun", "--iface", "eth0", "--pin", pin, "--state-dir", state}, upArgs...)...)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "exec", ns, xlbBin(), "realserver", "down", "--state-dir", state).Run()
	})
	www := filepath.Join(l.Dir(), "tunrs6-www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("tunrs6\n"), 0o644)
	const bigSize = 1 << 20
	os.WriteFile(filepath.Join(www, "big"), make([]byte, bigSize), 0o644)
	startIn("python3", "-c", uploadServer, www)

	cfg := fmt.Sprintf(`services:
  - vip: %s
    port: 80
    protocol: tcp
    scheduler: rr
    forward: tun
    %s
    real_servers:
      - {address: %s, port: 80}
`, tun6VIP, tunYAML, tun6RS)
	runXLB(t, l, 0, cfg)
	url := "http://[" + tun6VIP + "]/"
	var body string
	for end := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := l.Curl(ctx, url, "-g", "--max-time", "2")
		cancel()
		if err == nil {
			body = strings.TrimSpace(out)
			break
		}
		if time.Now().After(end) {
			t.Fatalf("IPv6 VIP never answered through the tunnel: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if body != "tunrs6" {
		t.Fatalf("answer %q, want the tunnelled real server's", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 5 {
		out, err := l.Curl(ctx, url, "-g")
		if err != nil || strings.TrimSpace(out) != "tunrs6" {
			t.Fatalf("answer %q, %v", out, err)
		}
	}

	// Answered directly: the director does not forward (IPv6 forwarding
	// off), so a reply reaching it would be lost; a 1 MiB download leaves
	// the real server on its own link to the router, and the director
	// receives only the client's side of it.
	if f := strings.TrimSpace(ipns(t, dir.NS, "sysctl", "-n", "net.ipv6.conf.all.forwarding")); f != "0" {
		t.Fatalf("director forwards IPv6 (%s): the test could not tell the reply's path", f)
	}
	_, rsTX := linkBytes(t, ns, "eth0")
	dirRX, _ := linkBytes(t, dir.NS, dir.Iface)
	out, err := l.Exec(ctx, client, "curl", "-sS", "-g", "--fail", "--max-time", "20", "-o", "/dev/null", "-w", "%{size_download}", url+"big")
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(bigSize) {
		t.Fatalf("download through the tunnel: %v %s", err, out)
	}
	_, rsTX2 := linkBytes(t, ns, "eth0")
	dirRX2, _ := linkBytes(t, dir.NS, dir.Iface)
	t.Logf("1 MiB download: real server sent %d bytes, director received %d", rsTX2-rsTX, dirRX2-dirRX)
	if rsTX2-rsTX < bigSize {
		t.Fatalf("the real server sent %d bytes on its link for a %d-byte download", rsTX2-rsTX, bigSize)
	}
	if dirRX2-dirRX > bigSize/4 {
		t.Fatalf("the director received %d bytes during a %d-byte download: the reply went through it", dirRX2-dirRX, bigSize)
	}

	// A 200 KB upload: full-size segments do not fit the tunnel.
	blob := filepath.Join(l.Dir(), "blob6")
	os.WriteFile(blob, make([]byte, 200<<10), 0o644)
	out, err = l.Exec(ctx, client, "curl", "-sS", "-g", "--fail", "--max-time", "20", "--data-binary", "@"+blob, url)
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(200<<10) {
		t.Fatalf("upload through the tunnel: %v %s", err, out)
	}
	route, _ := l.Exec(ctx, client, "ip", "-6", "route", "get", tun6VIP)
	if !strings.Contains(string(route), fmt.Sprintf("mtu %d", mtu)) {
		t.Fatalf("client's path MTU to the VIP not lowered by the director's ICMPv6 packet too big:\n%s", route)
	}
	m, _ := l.Exec(ctx, dir, "curl", "-s", "--max-time", "2", "http://127.0.0.1:9273/metrics")
	for _, reason := range []string{"tun_tx", "tun_frag_needed"} {
		if !strings.Contains(string(m), `xlb_datapath_packets_total{reason="`+reason+`"}`) ||
			strings.Contains(string(m), `xlb_datapath_packets_total{reason="`+reason+`"} 0`+"\n") {
			t.Fatalf("no %s counted", reason)
		}
	}
}
