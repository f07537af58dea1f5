package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// bgpConfig is one director's configuration in the router lab: mh (the
// same hash seed, default 0, on every director, so any of them sends a
// flow to the same real server) and a session to the router with short
// timers, so a dead director is noticed within 3 s.
func bgpConfig() string {
	return fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: mh
    real_servers:
      - {address: 192.168.101.3, port: 80}
      - {address: 192.168.101.4, port: 80}
bgp:
  local_asn: %d
  listen_port: -1
  communities: ["65001:100"]
  peers:
    - {address: %s, asn: %d, hold_time: 3, keepalive_interval: 1, connect_retry: 1}
`, lab.DirectorASN, lab.RouterIP, lab.RouterASN)
}

// serviceMetric reads one sample of the VIP's service from director i's
// metrics endpoint (127.0.0.1:9273 inside its namespace).
func serviceMetric(t *testing.T, l *lab.Lab, i int, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, l.Directors()[i], "curl", "-sS", "--max-time", "3", "http://127.0.0.1:9273/metrics")
	if err != nil {
		t.Fatalf("metrics of director %d: %v", i+1, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, `service="tcp/192.168.101.100:80"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("director %d has no %s for the VIP", i+1, name)
	return 0
}

// nextHops returns the router's ECMP next hops to the VIP, sorted.
func nextHops(t *testing.T, l *lab.Lab) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gws, err := l.RouteNextHops(ctx, l.VIP())
	if err != nil {
		t.Fatalf("router route: %v", err)
	}
	slices.SortFunc(gws, netip.Addr.Compare)
	return gws
}

// waitNextHops waits until the router's route to the VIP goes exactly via
// the given directors and returns how long that took.
func waitNextHops(t *testing.T, l *lab.Lab, within time.Duration, dirs ...int) time.Duration {
	t.Helper()
	var want []netip.Addr
	for _, i := range dirs {
		want = append(want, l.Directors()[i].IP)
	}
	slices.SortFunc(want, netip.Addr.Compare)
	start := time.Now()
	var got []netip.Addr
	for time.Since(start) < within {
		if got = nextHops(t, l); slices.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	protos, _ := l.BirdC(ctx, "show", "protocols", "all")
	t.Fatalf("router's next hops to the VIP are %v after %v, want %v\n%s", got, within, want, protos)
	return 0
}

// Scale-out with BGP/ECMP (the seed's "LVS + OSPF cluster"): four
// directors announce the VIP to a bird router, which installs one route
// with four next hops and spreads one client's connections over all of
// them. Then each way a director can go:
//   - SIGKILL: the kernel closes the dead daemon's TCP session, so the
//     router drops its route at once; a download it carried moves to
//     another director and completes intact (mh: same real server);
//   - the whole host vanishes (its link goes down, nothing is sent): the
//     router drops the route when the 3 s hold time expires;
//   - SIGTERM: the daemon withdraws and sends a cease, the route goes at once.
//
// Clients are served throughout.
func TestBGPECMP(t *testing.T) {
	if err := lab.CheckRouterTools(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	const dirs = 4
	l := newLab(t, lab.Options{Router: true, Directors: dirs, BigFileBytes: 6 << 20, BigRate: "1m"})
	cfg := writeCfg(t, l, "bgp.yaml", bgpConfig())
	cmds := make([]*exec.Cmd, dirs)
	for i := range dirs {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", cfg, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}

	// (a) The router learns the VIP from every director: one route, three
	// next hops, installed by bird's kernel protocol with merge paths.
	took := waitNextHops(t, l, 20*time.Second, 0, 1, 2, 3)
	t.Logf("router has 4 ECMP next hops %v %v after start", nextHops(t, l), took)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	route, _ := l.Exec(ctx, l.Router(), "ip", "route", "show", l.VIP().String())
	t.Logf("router: ip route show %s:\n%s", l.VIP(), route)
	bird, _ := l.BirdC(ctx, "show", "route", "all", l.VIP().String()+"/32")
	if !strings.Contains(string(bird), "(65001,100)") {
		t.Errorf("announcement lacks community 65001:100:\n%s", bird)
	}
	for i := range dirs {
		if holdsVIP(l, i) {
			t.Errorf("director %d owns the VIP on eth0; with BGP it must not", i+1)
		}
	}
	status, err := l.Exec(ctx, l.Directors()[0], xlbBin(), "status")
	if err != nil || !strings.Contains(string(status), "bgp: announcing "+l.VIP().String()+"/32") || !strings.Contains(string(status), "established") {
		t.Errorf("xlb status does not show the announcement and an established session (%v):\n%s", err, status)
	}

	// (b) One client, many connections (distinct source ports): the
	// router's layer-4 hash spreads them over every director.
	const conns = 120
	before := make([]float64, dirs)
	for i := range dirs {
		before[i] = serviceMetric(t, l, i, "xlb_service_connections_total")
	}
	out, err := l.Exec(ctx, l.Client(), "curl", "-sS", "--max-time", "60", "-o", "/dev/null", "-w", "%{http_code}\n",
		"-H", "Connection: close", fmt.Sprintf("http://%s/?n=[1-%d]", l.VIP(), conns))
	if err != nil {
		t.Fatalf("client connections: %v", err)
	}
	if n := strings.Count(string(out), "200\n"); n != conns {
		t.Fatalf("%d of %d requests answered 200:\n%s", n, conns, out)
	}
	spread := make([]int, dirs)
	total := 0
	for i := range dirs {
		spread[i] = int(serviceMetric(t, l, i, "xlb_service_connections_total") - before[i])
		total += spread[i]
	}
	t.Logf("%d connections spread over the directors: %v", conns, spread)
	if total != conns {
		t.Errorf("directors scheduled %d connections, want %d", total, conns)
	}
	for i, n := range spread {
		// Uniform would be 30 each; below 10 means the hash is not spreading.
		if n < conns/dirs/3 {
			t.Errorf("director %d took only %d of %d connections: %v", i+1, n, conns, spread)
		}
	}

	// (d) A long download; find the director carrying it by its packets.
	dl := startDownload(t, l, "dl")
	time.Sleep(1500 * time.Millisecond)
	p0 := make([]float64, dirs)
	for i := range dirs {
		p0[i] = serviceMetric(t, l, i, "xlb_service_packets_total")
	}
	time.Sleep(500 * time.Millisecond)
	carrier := -1
	for i := range dirs {
		if serviceMetric(t, l, i, "xlb_service_packets_total") > p0[i] {
			if carrier >= 0 {
				t.Fatalf("the download's packets cross directors %d and %d", carrier+1, i+1)
			}
			carrier = i
		}
	}
	if carrier < 0 {
		t.Fatal("no director forwards the download")
	}
	t.Logf("the download goes through director %d", carrier+1)

	// (c) SIGKILL it: no NOTIFICATION, but the kernel closes the dead
	// daemon's socket, so bird drops the session and the route at once.
	if err := cmds[carrier].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var atKill int64
	if st, err := os.Stat(dl.file); err == nil {
		atKill = st.Size()
	}
	var rest []int
	for i := range dirs {
		if i != carrier {
			rest = append(rest, i)
		}
	}
	took = waitNextHops(t, l, 10*time.Second, rest...)
	t.Logf("route via the SIGKILLed director %d withdrawn %v after the kill", carrier+1, took)
	if took > 5*time.Second {
		t.Errorf("withdrawal after SIGKILL took %v, want at most about the 3 s hold time", took)
	}
	select {
	case err := <-dl.done:
		t.Fatalf("the download ended (%v) before its director was killed; make it longer", err)
	default:
	}
	pRest := map[int]float64{}
	for _, i := range rest {
		pRest[i] = serviceMetric(t, l, i, "xlb_service_packets_total")
	}
	// (d) The router now hashes the download's ACKs to another director,
	// which has never seen the flow: mh sends it to the same real server.
	if err := dl.wait(); err != nil {
		t.Fatalf("download across the director's death: %v", err)
	}
	size := int64(6 << 20)
	if st, err := os.Stat(dl.file); err == nil {
		size = st.Size()
	}
	var acks float64
	for _, i := range rest {
		acks += serviceMetric(t, l, i, "xlb_service_packets_total") - pRest[i]
	}
	t.Logf("the download had %d of %d bytes when its director was killed; the surviving directors then forwarded %.0f of its packets (the client's ACKs)",
		atKill, size, acks)
	if atKill > size*3/4 {
		t.Errorf("the download was almost done (%d of %d bytes) when its director was killed", atKill, size)
	}
	if acks < 10 {
		t.Errorf("surviving directors forwarded only %.0f packets: the download did not move to them", acks)
	}
	for range 10 {
		get(t, l, "/")
	}

	// The host of another director vanishes (link down: no FIN, no
	// cease, no keepalive): the router notices by the hold time.
	gone := rest[0]
	rest = rest[1:]
	if _, err := l.Exec(ctx, l.Directors()[gone], "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatal(err)
	}
	took = waitNextHops(t, l, 10*time.Second, rest...)
	t.Logf("route via director %d (link down) withdrawn %v later (hold time 3 s, keepalive 1 s)", gone+1, took)
	// At least 1 s: with keepalives every second the last one came at most
	// 1 s before the link went down, 2 s on the hold time's 3; a keepalive
	// sent late on a loaded machine (once: 1.55 s apart) moves that earlier.
	if took < time.Second || took > 5*time.Second {
		t.Errorf("a silent director's route went after %v, want the 3 s hold time (1..3 s after its last keepalive)", took)
	}
	for range 10 {
		get(t, l, "/")
	}

	// A clean stop (SIGTERM) withdraws at once: gobgp sends a cease.
	stopped := rest[0]
	if err := cmds[stopped].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	took = waitNextHops(t, l, 5*time.Second, rest[1])
	t.Logf("route via director %d withdrawn %v after SIGTERM", stopped+1, took)
	if took > 1500*time.Millisecond {
		t.Errorf("clean stop withdrew after %v; want well under the 3 s hold time", took)
	}
	select {
	case <-l.Exited(cmds[stopped]):
	case <-time.After(10 * time.Second):
		t.Error("director did not exit after SIGTERM")
	}
	for range 10 {
		get(t, l, "/")
	}
}

// A director announces the VIP only while it has a real server to send
// flows to: when every real server fails its check, both directors withdraw
// (the router has no route, as an LVS director with no servers stops
// attracting traffic) and announce again when one recovers. A reload
// follows bgp_announce per service, and a changed bgp section restarts the
// speaker with the new attributes.
func TestBGPFollowsHealthAndReload(t *testing.T) {
	if err := lab.CheckRouterTools(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	l := newLab(t, lab.Options{Router: true, Directors: 2})
	cfg := func(announce bool, community string) string {
		return fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: mh
    delay_loop: 1
    bgp_announce: %t
    real_servers:
      - {address: 192.168.101.3, port: 80, check: {type: http, path: /status, status_code: 200, connect_timeout: 1, retry: 0}}
      - {address: 192.168.101.4, port: 80, check: {type: http, path: /status, status_code: 200, connect_timeout: 1, retry: 0}}
bgp:
  local_asn: %d
  communities: [%q]
  peers:
    - {address: %s, asn: %d, hold_time: 3, keepalive_interval: 1, connect_retry: 1}
`, announce, lab.DirectorASN, community, lab.RouterIP, lab.RouterASN)
	}
	paths := []string{writeCfg(t, l, "h1.yaml", cfg(true, "65001:1")), writeCfg(t, l, "h2.yaml", cfg(true, "65001:1"))}
	cmds := make([]*exec.Cmd, 2)
	for i := range 2 {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", paths[i], "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	waitNextHops(t, l, 20*time.Second, 0, 1)
	get(t, l, "/")

	for i := range l.RealServers() {
		if err := l.SetNginxStatus(i, 500); err != nil {
			t.Fatal(err)
		}
	}
	took := waitNextHops(t, l, 10*time.Second)
	t.Logf("all real servers failing: both directors withdrew within %v", took)
	if err := l.SetNginxStatus(1, 200); err != nil {
		t.Fatal(err)
	}
	took = waitNextHops(t, l, 10*time.Second, 0, 1)
	t.Logf("rs2 recovered: both directors announce again within %v", took)
	if s := get(t, l, "/"); s != "rs2" {
		t.Errorf("answered by %q, want rs2 (the only healthy server)", s)
	}

	// Reload director 1 with the service opted out of BGP.
	reload := func(i int, text string) {
		t.Helper()
		if err := os.WriteFile(paths[i], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cmds[i].Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	reload(0, cfg(false, "65001:1"))
	waitNextHops(t, l, 5*time.Second, 1)
	reload(0, cfg(true, "65001:1"))
	waitNextHops(t, l, 5*time.Second, 0, 1)

	// A changed bgp section restarts the speaker: the route comes back
	// with the new community.
	reload(0, cfg(true, "65001:2"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := l.BirdC(ctx, "show", "route", "all", l.VIP().String()+"/32", "protocol", "dir1")
		if strings.Contains(string(out), "(65001,2)") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("dir1's route never carried the new community:\n%s", out)
		}
	}
	waitNextHops(t, l, 10*time.Second, 0, 1)
	get(t, l, "/")
}
