package e2e

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// `xlb list` (ipvsadm -Ln layout) and /metrics agree with the traffic
// actually sent: N requests with Connection: close are N connections, all
// finished by the client (InActConn), split by rr.
func TestListAndMetricsMatchTraffic(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, rrConfig)
	dir := l.Directors()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	base := scrape(t, l, ctx) // waitVIP already made some connections
	const n = 20
	for range n {
		get(t, l, "/")
	}
	time.Sleep(300 * time.Millisecond)

	out, err := l.Exec(ctx, dir, xlbBin(), "list")
	if err != nil {
		t.Fatalf("xlb list: %v", err)
	}
	rows := parseList(t, string(out))
	if len(rows) != 2 {
		t.Fatalf("xlb list shows %d real servers, want 2:\n%s", len(rows), out)
	}
	if !strings.Contains(string(out), "TCP  192.168.101.100:80 rr") {
		t.Fatalf("service line missing:\n%s", out)
	}
	// The ipvsadm reflexes: -n, and one service by -t.
	if one, err := l.Exec(ctx, dir, xlbBin(), "list", "-n", "-t", "192.168.101.100:80"); err != nil || string(one) != string(out) {
		t.Fatalf("xlb list -n -t VIP:80: %v\n%s\nwant the same as xlb list:\n%s", err, one, out)
	}
	if none, err := l.Exec(ctx, dir, xlbBin(), "list", "-u", "192.168.101.100:80"); err == nil || !strings.Contains(err.Error()+string(none), "no such service udp/192.168.101.100:80") {
		t.Fatalf("xlb list -u of a service that is not there: %v\n%s", err, none)
	}
	// The same table as ipvsadm -S -n rules.
	saved, err := l.Exec(ctx, dir, xlbBin(), "list", "--save")
	if err != nil {
		t.Fatalf("xlb list --save: %v", err)
	}
	if want := "-A -t 192.168.101.100:80 -s rr\n-a -t 192.168.101.100:80 -r 192.168.101.3:80 -g -w 1\n-a -t 192.168.101.100:80 -r 192.168.101.4:80 -g -w 1\n"; string(saved) != want {
		t.Fatalf("xlb list --save:\n%s\nwant:\n%s", saved, want)
	}
	var active, inactive int
	for _, r := range rows {
		if r.forward != "Route" || r.weight != 1 {
			t.Fatalf("real server row %+v: want Route, weight 1", r)
		}
		active += r.active
		inactive += r.inactive
	}
	after := scrape(t, l, ctx)
	conns := func(m map[string]float64) float64 {
		return m[`xlb_service_connections_total{service="tcp/192.168.101.100:80"}`]
	}
	if got := conns(after) - conns(base); got != n {
		t.Fatalf("xlb_service_connections_total rose by %v for %d requests", got, n)
	}
	// Every connection so far (the ones waitVIP made too) was closed by the
	// client: all inactive, none active.
	if active != 0 || float64(inactive) != conns(after) {
		t.Fatalf("xlb list: ActiveConn %d InActConn %d, want 0 and %v:\n%s", active, inactive, conns(after), out)
	}
	rs1 := after[`xlb_realserver_connections_total{realserver="192.168.101.3:80",service="tcp/192.168.101.100:80"}`] -
		base[`xlb_realserver_connections_total{realserver="192.168.101.3:80",service="tcp/192.168.101.100:80"}`]
	if rs1 != n/2 {
		t.Fatalf("rs1 got %v of %d new connections under rr, want %d", rs1, n, n/2)
	}
	if after[`xlb_datapath_packets_total{reason="drop_malformed_l3"}`] != 0 {
		t.Fatalf("malformed drops counted on clean traffic")
	}
}

type listRow struct {
	addr             string
	forward          string
	weight           int
	active, inactive int
}

func parseList(t *testing.T, out string) []listRow {
	t.Helper()
	var rows []listRow
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || f[0] != "->" || f[1] == "RemoteAddress:Port" {
			continue
		}
		w, err1 := strconv.Atoi(f[3])
		a, err2 := strconv.Atoi(f[4])
		in, err3 := strconv.Atoi(f[5])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("unparsable row %q", sc.Text())
		}
		rows = append(rows, listRow{f[1], f[2], w, a, in})
	}
	return rows
}

// scrape reads the director's /metrics (loopback inside its namespace).
func scrape(t *testing.T, l *lab.Lab, ctx context.Context) map[string]float64 {
	t.Helper()
	out, err := l.Exec(ctx, l.Directors()[0], "curl", "-sS", "--max-time", "5", "http://127.0.0.1:9273/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// uthreshold through the whole director: a real server at its limit takes
// no new connections (rr sends them to the other), `xlb list
// --thresholds` says so, and once its closed connections idle out
// (tcp_fin 3 s) the sweep gives it flows again.
func TestThresholdLimitsRealServer(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, `services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    timeouts: {tcp_fin: 3}
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1, uthreshold: 2}
      - {address: 192.168.101.4, port: 80, weight: 1}
`)
	list := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := l.Exec(ctx, l.Directors()[0], xlbBin(), "list", "--thresholds")
		if err != nil {
			t.Fatalf("xlb list --thresholds: %v", err)
		}
		return string(out)
	}
	// rs1's row: Uthreshold, Lthreshold (none set: three quarters of 2
	// applies), ActiveConn, InActConn, then "overloaded" while at its limit.
	const idle = "  -> 192.168.101.3:80             2          0          0          0         \n"
	waitList := func(want string) {
		t.Helper()
		var out string
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if out = list(); strings.Contains(out, want) {
				return
			}
		}
		t.Fatalf("xlb list --thresholds never showed %q:\n%s", want, out)
	}
	// The connections waitVIP made idle out first.
	waitList(idle)
	counts := map[string]int{}
	for range 10 {
		counts[get(t, l, "/")]++
	}
	if counts["rs1"] != 2 || counts["rs2"] != 8 {
		t.Fatalf("10 connections with rs1 limited to 2 went %v, want rs1 2, rs2 8", counts)
	}
	waitList("  -> 192.168.101.3:80             2          0          0          2          overloaded\n")
	waitList(idle)
	counts = map[string]int{}
	for range 4 {
		counts[get(t, l, "/")]++
	}
	if counts["rs1"] != 2 || counts["rs2"] != 2 {
		t.Fatalf("after rs1's connections idled out, 4 connections went %v, want 2 each", counts)
	}
}

// keepalived 2.2's startup_script and shutdown_script: the first runs
// before the director forwards (its mark is there once the VIP answers),
// the second at a clean stop, after the datapath is gone; both as
// script_user.
func TestStartupAndShutdownScripts(t *testing.T) {
	l := newLab(t, lab.Options{})
	marks := filepath.Join(l.Dir(), "life")
	cfg := fmt.Sprintf(`startup_script: "echo start $XLB_SCRIPT >> %[1]s"
shutdown_script: "ip link show dev eth0 | grep -q xdp || echo stop-after-detach >> %[1]s"
shutdown_script_timeout: 5
%[2]s`, marks, rrConfig)
	cmd, _ := startXLB(t, l, 0, cfg)
	if got := fileWords(marks); strings.Join(got, " ") != "start startup_script" {
		t.Fatalf("after start, the scripts wrote %q, want the startup script's mark only", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Exited(cmd):
	case <-time.After(15 * time.Second):
		t.Fatal("director did not exit after SIGTERM")
	}
	if got := fileWords(marks); strings.Join(got, " ") != "start startup_script stop-after-detach" {
		t.Fatalf("after a clean stop the scripts wrote %q, want the shutdown mark after the program was detached", got)
	}
}

// ipvsadm --persistent-conn and -Z through the whole director: the one
// client of a persistent service has one template, on the real server
// that answered it; `xlb zero` makes --stats start from 0 while the
// Prometheus counter keeps growing.
func TestPersistentConnAndZero(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, `services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    persistence_timeout: 60
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1}
      - {address: 192.168.101.4, port: 80, weight: 1}
`)
	xlbOut := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := l.Exec(ctx, l.Directors()[0], append([]string{xlbBin()}, args...)...)
		if err != nil {
			t.Fatalf("xlb %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	chosen, other := "192.168.101.3:80", "192.168.101.4:80"
	if get(t, l, "/") == "rs2" {
		chosen, other = other, chosen
	}
	for range 3 {
		if got := get(t, l, "/"); (got == "rs1") != (chosen == "192.168.101.3:80") {
			t.Fatalf("persistent client answered by %s, want %s", got, chosen)
		}
	}
	// PersistConn is the sweep's count (every 2 s).
	want := []string{"  -> " + chosen + "             1         1 ", "  -> " + other + "             1         0 "}
	var out string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if out = xlbOut("list", "--persistent-conn"); strings.Contains(out, want[0]) && strings.Contains(out, want[1]) {
			break
		}
	}
	if !strings.Contains(out, want[0]) || !strings.Contains(out, want[1]) {
		t.Fatalf("xlb list --persistent-conn: want lines starting %q and %q in\n%s", want[0], want[1], out)
	}
	// xlb conns lists the template as ipvsadm -Lnc does: NONE, port 0.
	tpl := regexp.MustCompile(`(?m)^TCP 00:[0-5][0-9]  NONE +192\.168\.101\.10:0 +192\.168\.101\.100:80 +` + regexp.QuoteMeta(chosen) + `$`)
	if out := xlbOut("conns"); len(tpl.FindAllString(out, -1)) != 1 {
		t.Fatalf("xlb conns: want the client's one template to %s in\n%s", chosen, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const metric = `xlb_service_connections_total{service="tcp/192.168.101.100:80"}`
	before := scrape(t, l, ctx)[metric]
	if before < 4 {
		t.Fatalf("%s = %v before zero, want at least the 4 requests", metric, before)
	}
	if out := xlbOut("zero"); out != "" {
		t.Fatalf("xlb zero printed %q", out)
	}
	if conns := statsConns(t, xlbOut("list", "--stats")); conns["TCP 192.168.101.100:80"] != 0 || conns[chosen] != 0 {
		t.Fatalf("xlb list --stats after xlb zero: %v, want 0 conns", conns)
	}
	get(t, l, "/")
	if conns := statsConns(t, xlbOut("list", "--stats")); conns["TCP 192.168.101.100:80"] != 1 || conns[chosen] != 1 || conns[other] != 0 {
		t.Fatalf("xlb list --stats after one request: %v, want 1 conn on %s", conns, chosen)
	}
	if after := scrape(t, l, ctx)[metric]; after != before+1 {
		t.Fatalf("%s went from %v to %v across xlb zero and one request, want +1", metric, before, after)
	}
	if _, err := l.Exec(ctx, l.Directors()[0], xlbBin(), "zero", "-u", "192.168.101.100:80"); err == nil {
		t.Fatal("xlb zero of a service that does not run succeeded")
	}
}

// statsConns reads the Conns column of `xlb list --stats`, by service
// ("TCP VIP:PORT") and real server ("RIP:PORT").
func statsConns(t *testing.T, out string) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || f[0] == "Prot" {
			continue
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("unparsable --stats line %q", line)
		}
		if f[0] == "->" {
			m[f[1]] = n
		} else {
			m[f[0]+" "+f[1]] = n
		}
	}
	return m
}

// A client frame to the VIP that a switch floods (its destination MAC is
// no port's: here a neighbour entry pointing at a MAC nobody has) reaches
// the director too, and is the kernel's to drop, not xlb's to forward: a
// backup director forwarding its copy would put a second SYN on another
// real server. Counted as pass_other_host; nothing forwarded.
func TestFloodedFramesAreNotForwarded(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, rrConfig)
	get(t, l, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const tx, other = `xlb_datapath_packets_total{reason="tx"}`, `xlb_datapath_packets_total{reason="pass_other_host"}`
	before := scrape(t, l, ctx)
	if out, err := l.Exec(ctx, l.Client(), "ip", "neigh", "replace", l.VIP().String(), "lladdr", "02:00:00:00:00:99", "nud", "permanent", "dev", "eth0"); err != nil {
		t.Fatalf("point the VIP at a MAC nobody has: %v\n%s", err, out)
	}
	if out, err := l.Curl(ctx, "http://"+l.VIP().String()+"/", "--max-time", "2"); err == nil {
		t.Fatalf("a request to a MAC nobody has was answered: %s", out)
	}
	after := scrape(t, l, ctx)
	if after[other] <= before[other] {
		t.Errorf("%s went from %v to %v, want the flooded SYNs counted", other, before[other], after[other])
	}
	if after[tx] != before[tx] {
		t.Errorf("%s went from %v to %v: flooded frames were forwarded", tx, before[tx], after[tx])
	}
	if out, err := l.Exec(ctx, l.Client(), "ip", "neigh", "del", l.VIP().String(), "dev", "eth0"); err != nil {
		t.Fatalf("restore the neighbour entry: %v\n%s", err, out)
	}
	get(t, l, "/")
}
