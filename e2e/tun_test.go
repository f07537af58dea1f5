package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// ipns runs a command in a namespace the test made itself.
func ipns(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v: %s", strings.Join(argv, " "), ns, err, out)
	}
	return string(out)
}

// TUN mode: the real server sits on another network (10.98.0.0/24) behind
// the router; the director wraps client packets in IPIP to it, the real
// server unwraps them with xlb's tc program (`xlb realserver up --tun`; this
// kernel has no ipip module) and answers the client directly through the
// router. A large upload with DF gets the director's ICMP frag-needed, the
// client's path MTU to the VIP drops by 20 and the upload goes through.
func TestTunnelToRealServerBehindRouter(t *testing.T) {
	l, _ := tunnelLab(t)
	dir := l.Directors()[0]
	cfg := fmt.Sprintf(`services:
  - vip: %s
    port: 80
    protocol: tcp
    scheduler: rr
    forward: tun
    real_servers:
      - {address: 10.98.0.2, port: 80}
`, l.VIP())
	runXLB(t, l, 0, cfg)
	url := "http://" + l.VIP().String() + "/"
	var body string
	for end := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := l.Curl(ctx, url, "--max-time", "2")
		cancel()
		if err == nil {
			body = strings.TrimSpace(out)
			break
		}
		if time.Now().After(end) {
			t.Fatalf("VIP never answered through the tunnel: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if body != "tunrs" {
		t.Fatalf("answer %q, want the tunnelled real server's", body)
	}
	for range 5 {
		if s := get(t, l, "/"); s != "tunrs" {
			t.Fatalf("answer %q", s)
		}
	}

	// A 200 KB upload: full-size DF segments do not fit the tunnel. The
	// real server answers with the bytes it received, so the upload
	// counts only when all of it went through (a server that answers
	// before reading, such as http.server's 501 to a POST, let curl
	// finish without sending the body, and the director had nothing to
	// lower).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blob := filepath.Join(l.Dir(), "blob")
	os.WriteFile(blob, make([]byte, 200<<10), 0o644)
	out, err := l.Exec(ctx, l.Client(), "curl", "-sS", "--fail", "--max-time", "20", "--data-binary", "@"+blob, url)
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(200<<10) {
		t.Fatalf("upload through the tunnel: %v %s", err, out)
	}
	route, _ := l.Exec(ctx, l.Client(), "ip", "route", "get", l.VIP().String())
	if !strings.Contains(string(route), "mtu 1480") {
		t.Fatalf("client's path MTU to the VIP not lowered by the director's ICMP:\n%s", route)
	}
	m, _ := l.Exec(ctx, dir, "curl", "-s", "--max-time", "2", "http://127.0.0.1:9273/metrics")
	if !strings.Contains(string(m), `xlb_datapath_packets_total{reason="tun_frag_needed"}`) ||
		strings.Contains(string(m), `xlb_datapath_packets_total{reason="tun_frag_needed"} 0`+"\n") {
		t.Fatalf("no frag-needed counted")
	}
}

// tunnelLab is a lab with a router and startTunnelRealServer's real
// server behind it (args: its `realserver up` flags); it skips the test
// where the lab has no router.
func tunnelLab(t *testing.T, args ...string) (*lab.Lab, tunnelRS) {
	t.Helper()
	l := newLab(t, lab.Options{Router: true})
	if !l.RouterMode() {
		t.Skip("skipped: the lab has no router")
	}
	return l, startTunnelRealServer(t, l, args...)
}

// tunnelRS is the TUN real server startTunnelRealServer made.
type tunnelRS struct {
	ns, pin, state string
}

// up prepares it with `xlb realserver up --tun` (args: more flags, such
// as --tun-type gre).
func (r tunnelRS) up(t *testing.T, l *lab.Lab, args ...string) {
	t.Helper()
	ipns(t, r.ns, append([]string{xlbBin(), "realserver", "up", "--vip", l.VIP().String(), "--tun", "--iface", "eth0",
		"--pin", r.pin, "--state-dir", r.state}, args...)...)
}

func (r tunnelRS) down(t *testing.T) {
	t.Helper()
	ipns(t, r.ns, xlbBin(), "realserver", "down", "--state-dir", r.state)
}

// startTunnelRealServer puts a TUN real server, 10.98.0.2 answering
// "tunrs" on port 80 (and a POST with the bytes it received: uploadServer),
// on a network of its own behind the lab's router (the router sends the
// VIP to the first director), unwrapping the director's IPIP with
// `xlb realserver up --tun` (args: more flags).
func startTunnelRealServer(t *testing.T, l *lab.Lab, args ...string) tunnelRS {
	t.Helper()
	router := l.Router()
	ns := l.Prefix() + "tunrs"
	startIn := addServerNS(t, ns)
	ipns(t, router.NS, "ip", "link", "add", "vtun", "type", "veth", "peer", "name", "eth0", "netns", ns)
	ipns(t, router.NS, "ip", "addr", "add", "10.98.0.1/24", "dev", "vtun")
	ipns(t, router.NS, "ip", "link", "set", "vtun", "up")
	ipns(t, router.NS, "ethtool", "-K", "vtun", "tx", "off")
	ipns(t, ns, "ip", "link", "set", "lo", "up")
	ipns(t, ns, "ip", "addr", "add", "10.98.0.2/24", "dev", "eth0")
	ipns(t, ns, "ip", "link", "set", "eth0", "up")
	ipns(t, ns, "ip", "route", "add", "default", "via", "10.98.0.1")
	ipns(t, ns, "ethtool", "-K", "eth0", "tx", "off")
	// The router sends the VIP to the director (no BGP in this test).
	ipns(t, router.NS, "ip", "route", "replace", l.VIP().String()+"/32", "via", l.Directors()[0].IP.String())

	rs := tunnelRS{ns: ns, pin: filepath.Join(pinRoot, strconv.Itoa(os.Getpid()), l.Prefix(), "decap"), state: filepath.Join(l.Dir(), "tunrs-state")}
	rs.up(t, l, args...)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "exec", ns, xlbBin(), "realserver", "down", "--state-dir", rs.state).Run()
	})
	www := filepath.Join(l.Dir(), "tunrs-www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("tunrs\n"), 0o644)
	startIn("python3", "-c", uploadServer, www)
	return rs
}

// addServerNS adds the namespace ns for a real server outside the lab and
// returns what starts a server process in it. When the test ends the
// process (its whole group) is killed and the namespace deleted.
func addServerNS(t *testing.T, ns string) (startIn func(args ...string)) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("netns add: %v %s", err, out)
	}
	var server *exec.Cmd
	t.Cleanup(func() {
		if server != nil && server.Process != nil {
			syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
			server.Wait()
		}
		exec.Command("ip", "netns", "del", ns).Run()
	})
	return func(args ...string) {
		t.Helper()
		server = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
	}
}

// One service, two ways, as IPVS forwards per real server: rs1 on the
// director's network by direct routing, the TUN real server behind the
// router in IPIP (`forward: tun` on that real server alone). rr alternates
// between them exactly, each answering from its own place, and `xlb list`
// shows each server's own method.
func TestMixedDirectAndTunnelledRealServers(t *testing.T) {
	l, _ := tunnelLab(t)
	rs1 := l.RealServers()[0]
	dir := l.Directors()[0]
	cfg := fmt.Sprintf(`services:
  - vip: %s
    port: 80
    protocol: tcp
    scheduler: rr
    forward: dr
    real_servers:
      - {address: %s, port: 80}
      - {address: 10.98.0.2, port: 80, forward: tun}
`, l.VIP(), rs1.IP)
	startXLB(t, l, 0, cfg)
	// Both servers in service: the tunnelled one once its next hop's MAC
	// is known.
	for end := time.Now().Add(20 * time.Second); get(t, l, "/") != "tunrs"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the tunnelled real server never answered")
		}
	}
	seen := map[string]int{}
	for range 20 {
		seen[get(t, l, "/")]++
	}
	if seen[rs1.Name] != 10 || seen["tunrs"] != 10 {
		t.Fatalf("answers %v, want 10 from %s (DR) and 10 from tunrs (TUN)", seen, rs1.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, dir, xlbBin(), "list")
	if err != nil {
		t.Fatalf("xlb list: %v %s", err, out)
	}
	for _, want := range []string{rs1.IP.String() + ":80", "10.98.0.2:80"} {
		fwd := "Route"
		if strings.HasPrefix(want, "10.98.") {
			fwd = "Tunnel"
		}
		if !strings.Contains(string(out), want) || !strings.Contains(lineOf(string(out), want), " "+fwd+" ") {
			t.Errorf("xlb list does not show %s as %s:\n%s", want, fwd, out)
		}
	}
	if s := get(t, l, "/"); s != rs1.Name && s != "tunrs" {
		t.Fatalf("answer %q", s)
	}
}

// lineOf is the first line of out holding s.
func lineOf(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// tunnel_type gre and gue (IPVS --tun-type gre / gue --tun-port,
// keepalived "lvs_method TUN type gre" / "type gue port N"): the director
// wraps the client's packets in GRE (GUE) to the real server behind the
// router. A real server that strips only IPIP never answers (so what
// arrives is not IPIP); once `xlb realserver up --tun-type gre` (gue
// --tun-port) strips it too, it does, and `xlb list --save` prints the
// tunnel type.
func TestTunnelGREAndGUEToRealServerBehindRouter(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, saved string
		up                []string
	}{
		{"gre", "tunnel_type: gre", "-i --tun-type gre", []string{"--tun-type", "gre"}},
		{"gue", "tunnel_type: gue\n    tunnel_port: 6080", "-i --tun-type gue --tun-port 6080", []string{"--tun-type", "gue", "--tun-port", "6080"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, rs := tunnelLab(t) // IPIP only, at first
			dir := l.Directors()[0]
			cfg := fmt.Sprintf(`services:
  - vip: %s
    port: 80
    protocol: tcp
    scheduler: rr
    forward: tun
    %s
    real_servers:
      - {address: 10.98.0.2, port: 80}
`, l.VIP(), tc.yaml)
			runXLB(t, l, 0, cfg)
			url := "http://" + l.VIP().String() + "/"
			answer := func(within time.Duration) (string, error) {
				var err error
				for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					var out string
					out, err = l.Curl(ctx, url, "--max-time", "1")
					cancel()
					if err == nil {
						return strings.TrimSpace(out), nil
					}
				}
				return "", err
			}
			if body, err := answer(4 * time.Second); err == nil {
				t.Fatalf("a real server stripping only IPIP answered %q: the director did not send %s", body, tc.name)
			}
			rs.down(t)
			rs.up(t, l, tc.up...)
			body, err := answer(20 * time.Second)
			if err != nil || body != "tunrs" {
				t.Fatalf("through %s: %q, %v; want the tunnelled real server's answer", tc.name, body, err)
			}
			for range 5 {
				if s := get(t, l, "/"); s != "tunrs" {
					t.Fatalf("answer %q", s)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			saved, err := l.Exec(ctx, dir, xlbBin(), "list", "--save")
			if err != nil || !strings.Contains(string(saved), "-r 10.98.0.2:80 "+tc.saved) {
				t.Fatalf("xlb list --save: %v\n%s", err, saved)
			}
		})
	}
}
