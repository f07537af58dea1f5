package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

func haConfig(state string, prio int, version int, advert string, preempt bool) string {
	return fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: mh
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1}
      - {address: 192.168.101.4, port: 80, weight: 1}
vrrp:
  - name: VI_1
    state: %s
    interface: eth0
    virtual_router_id: 51
    priority: %d
    version: %d
    advert_int: %s
    preempt: %t
    virtual_ipaddress: [192.168.101.100]
`, state, prio, version, advert, preempt)
}

// holdsVIP reports whether director i has the VIP on eth0.
func holdsVIP(l *lab.Lab, i int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := l.Exec(ctx, l.Directors()[i], "ip", "-4", "addr", "show", "dev", "eth0")
	return strings.Contains(string(out), " "+l.VIP().String()+"/32")
}

// waitHolder waits until director i holds the VIP (and, with only, the
// other does not) and returns how long it took. A SIGKILLed director keeps
// the VIP on its interface (as a killed keepalived does), so after a kill
// only the new holder is checked.
func waitHolder(t *testing.T, l *lab.Lab, i int, within time.Duration, only bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within+5*time.Second {
		if holdsVIP(l, i) && (!only || !holdsVIP(l, 1-i)) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("director %d never became the only VIP holder", i+1)
	return 0
}

func writeCfg(t *testing.T, l *lab.Lab, name, cfg string) string {
	t.Helper()
	p := filepath.Join(l.Dir(), name)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The master xlb is SIGKILLed during a download and client load: the backup
// owns the VIP within 3×advert_int + skew, requests resume, the download
// (scheduled by mh, so the backup picks the same real server for a flow it
// never saw) completes intact. The master returns and preempts — or not,
// with preempt off.
func TestVRRPFailover(t *testing.T) {
	for _, v := range []struct {
		name    string
		version int
		advert  time.Duration
	}{{"v2-1s", 2, time.Second}, {"v3-100ms", 3, 100 * time.Millisecond}} {
		t.Run(v.name, func(t *testing.T) { vrrpFailover(t, v.version, v.advert) })
	}
}

func vrrpFailover(t *testing.T, version int, advert time.Duration) {
	l := newLab(t, lab.Options{Directors: 2, BigFileBytes: 6 << 20, BigRate: "1m"})
	adv := fmt.Sprintf("%g", advert.Seconds())
	skew := func(prio int) time.Duration { return time.Duration(256-prio) * advert / 256 }
	bound := 3*advert + skew(99)

	c1 := writeCfg(t, l, "dir1.yaml", haConfig("MASTER", 100, version, adv, true))
	c2 := writeCfg(t, l, "dir2.yaml", haConfig("BACKUP", 99, version, adv, true))
	start := func(i int, cfg string) *os.Process {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", cfg, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		return cmd.Process
	}
	m := start(0, c1)
	start(1, c2)
	waitHolder(t, l, 0, 3*advert+2*time.Second, true)
	waitVIP(t, l)

	dl := startDownload(t, l, "dl")
	time.Sleep(1500 * time.Millisecond)

	if err := m.Kill(); err != nil { // SIGKILL: no priority 0, nothing cleaned up
		t.Fatal(err)
	}
	took := waitHolder(t, l, 1, bound, false)
	if took > bound+500*time.Millisecond {
		t.Errorf("backup took the VIP after %v, bound 3×advert+skew = %v", took, bound)
	}
	t.Logf("failover took %v (bound %v)", took, bound)

	// The client's next packets go to the backup (gratuitous ARP), and are served.
	for range 6 {
		get(t, l, "/")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	neigh, _ := l.Exec(ctx, l.Client(), "ip", "neigh", "show", l.VIP().String())
	if !strings.Contains(string(neigh), l.Directors()[1].MAC.String()) {
		t.Errorf("client still sends the VIP to %s, want the backup's MAC %s", strings.TrimSpace(string(neigh)), l.Directors()[1].MAC)
	}
	if err := dl.wait(); err != nil {
		// What each director knew, to tell a wrong pick from a detached
		// program (the killed master's datapath must stay pinned).
		for i, d := range l.Directors() {
			link, _ := l.Exec(ctx, d, "ip", "-d", "link", "show", "eth0")
			m, _ := l.Exec(ctx, d, "curl", "-s", "--max-time", "2", "http://127.0.0.1:9273/metrics")
			var dp []string
			for _, line := range strings.Split(string(m), "\n") {
				if strings.HasPrefix(line, "xlb_datapath") || strings.HasPrefix(line, "xlb_realserver_connections") {
					dp = append(dp, line)
				}
			}
			t.Logf("director %d:\n%s\n%s", i+1, link, strings.Join(dp, "\n"))
		}
		t.Fatalf("download across the failover: %v", err)
	}

	// The old master returns: with preempt it takes the VIP back.
	m = start(0, c1)
	waitHolder(t, l, 0, 3*advert+skew(100)+2*time.Second, true)
	get(t, l, "/")

	// And with preempt off it stays backup.
	m.Kill()
	waitHolder(t, l, 1, bound, false)
	c1np := writeCfg(t, l, "dir1-nopreempt.yaml", haConfig("BACKUP", 100, version, adv, false))
	start(0, c1np)
	time.Sleep(3*advert + skew(100) + 2*time.Second)
	if holdsVIP(l, 0) || !holdsVIP(l, 1) {
		t.Fatal("with preempt off the returning director took the VIP back")
	}
	get(t, l, "/")
}

// Dual master (the seed's closing set-up): two instances, two VIPs, each
// director master of one. One dies: the other holds both. It returns: it
// takes its own VIP back.
func TestVRRPDualMaster(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	const vip2 = "192.168.101.101"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, rs := range l.RealServers() {
		if out, err := l.Exec(ctx, rs, "ip", "addr", "add", vip2+"/32", "dev", "lo"); err != nil {
			t.Fatalf("vip2 on %s: %v %s", rs.Name, err, out)
		}
	}
	cfg := func(p1, p2 int) string {
		return fmt.Sprintf(`services:
  - {vip: 192.168.101.100, port: 80, protocol: tcp, scheduler: mh, real_servers: [{address: 192.168.101.3, port: 80}, {address: 192.168.101.4, port: 80}]}
  - {vip: %s, port: 80, protocol: tcp, scheduler: mh, real_servers: [{address: 192.168.101.3, port: 80}, {address: 192.168.101.4, port: 80}]}
vrrp:
  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: %d, advert_int: 1, virtual_ipaddress: [192.168.101.100]}
  - {name: VI_2, interface: eth0, virtual_router_id: 52, priority: %d, advert_int: 1, virtual_ipaddress: [%s]}
`, vip2, p1, p2, vip2)
	}
	c1 := writeCfg(t, l, "dm1.yaml", cfg(100, 99))
	c2 := writeCfg(t, l, "dm2.yaml", cfg(99, 100))
	start := func(i int, c string) *os.Process {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", c, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		return cmd.Process
	}
	holds := func(i int, addr string) bool {
		out, _ := l.Exec(ctx, l.Directors()[i], "ip", "-4", "addr", "show", "dev", "eth0")
		return strings.Contains(string(out), " "+addr+"/32")
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting until %s", what)
	}
	serve := func(addr string) {
		t.Helper()
		if _, err := l.Curl(ctx, "http://"+addr+"/"); err != nil {
			t.Fatalf("GET via %s: %v", addr, err)
		}
	}
	p1 := start(0, c1)
	start(1, c2)
	wait("each director holds its own VIP", func() bool {
		return holds(0, "192.168.101.100") && !holds(1, "192.168.101.100") && holds(1, vip2) && !holds(0, vip2)
	})
	serve("192.168.101.100")
	serve(vip2)

	p1.Kill()
	wait("director 2 holds both VIPs", func() bool { return holds(1, "192.168.101.100") && holds(1, vip2) })
	serve("192.168.101.100")
	serve(vip2)

	start(0, c1)
	wait("director 1 takes VIP1 back and director 2 keeps VIP2", func() bool {
		return holds(0, "192.168.101.100") && !holds(1, "192.168.101.100") && holds(1, vip2) && !holds(0, vip2)
	})
	serve("192.168.101.100")
	serve(vip2)
}

// keepalived's track_script: the master tracks a script with weight -60;
// while it fails, the master's priority (150) drops below the backup's
// (100), which takes the VIP; once it succeeds again the master preempts
// back. VRRPv3 at 100 ms keeps the test short.
func TestVRRPTrackScriptMovesVIP(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	flag := filepath.Join(l.Dir(), "fail-chk")
	script := fmt.Sprintf(`vrrp_scripts:
  - {name: chk, script: "test ! -e %s", interval: 0.2, weight: -60, fall: 2, rise: 2}
`, flag)
	master := strings.Replace(haConfig("MASTER", 150, 3, "0.1", true), "    virtual_ipaddress:", "    track_script: [chk]\n    virtual_ipaddress:", 1) + script
	c1 := writeCfg(t, l, "dir1.yaml", master)
	c2 := writeCfg(t, l, "dir2.yaml", haConfig("BACKUP", 100, 3, "0.1", true))
	for i, cfg := range []string{c1, c2} {
		if _, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", cfg, "--pin-dir", pinDir(l, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitHolder(t, l, 0, 3*time.Second, true)
	// fall 2 × interval 0.2 s, then the backup's Master_Down_Interval
	// (3 × 0.1 s + skew) once it discards the lower-priority adverts.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	took := waitHolder(t, l, 1, 2*time.Second, true)
	t.Logf("backup took the VIP %v after the script started failing", took)
	get(t, l, "/")
	os.Remove(flag)
	took = waitHolder(t, l, 0, 2*time.Second, true)
	t.Logf("master took it back %v after the script succeeded again", took)
	get(t, l, "/")
}

// keepalived's unicast_peer: the directors send their adverts to each
// other's address instead of 224.0.0.18 (networks without multicast); the
// backup still takes the VIP when the master dies.
func TestVRRPUnicastPeers(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	d1, d2 := l.Directors()[0], l.Directors()[1]
	uni := func(state string, prio int, peer netip.Addr) string {
		return strings.Replace(haConfig(state, prio, 3, "0.1", true), "    virtual_ipaddress:", "    unicast_peer: ["+peer.String()+"]\n    virtual_ipaddress:", 1)
	}
	capture := startCapture(t, l, d2, "ip proto 112")
	var procs []*os.Process
	for i, cfg := range []string{uni("MASTER", 150, d2.IP), uni("BACKUP", 100, d1.IP)} {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", writeCfg(t, l, fmt.Sprintf("dir%d.yaml", i+1), cfg), "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd.Process)
	}
	waitHolder(t, l, 0, 3*time.Second, true)
	get(t, l, "/")
	// What the backup hears: adverts addressed to it, none to the group.
	var toPeer, toGroup int
	for _, line := range capture() {
		switch {
		case strings.Contains(line, d1.IP.String()+" > "+d2.IP.String()+": VRRP"):
			toPeer++
		case strings.Contains(line, "> 224.0.0.18"):
			toGroup++
		}
	}
	if toPeer == 0 || toGroup != 0 {
		t.Fatalf("backup saw %d unicast adverts from the master and %d multicast ones; want unicast only", toPeer, toGroup)
	}
	if err := procs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	took := waitHolder(t, l, 1, 2*time.Second, false)
	t.Logf("backup took the VIP %v after the master was killed (%d unicast adverts seen before)", took, toPeer)
	get(t, l, "/")
}

// keepalived's vrrp_sync_group: two VRRP instances (VIPs .100 and .101)
// kept together. Only VI_1 tracks the failing script (weight 0: FAULT) on
// the master, yet both VIPs move to the backup, and both come back when
// the script recovers; the group's notify scripts run on the backup
// director. Without the group only .100 would move.
func TestVRRPSyncGroupMovesTogether(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	flag := filepath.Join(l.Dir(), "fail-chk")
	notified := filepath.Join(l.Dir(), "group-states")
	second := netip.MustParseAddr("192.168.101.101")
	cfg := func(state string, prio int, track bool) string {
		c := haConfig(state, prio, 3, "0.1", true)
		if track {
			c = strings.Replace(c, "    virtual_ipaddress:", "    track_script: [chk]\n    virtual_ipaddress:", 1)
		}
		c += fmt.Sprintf(`  - name: VI_2
    state: %s
    interface: eth0
    virtual_router_id: 52
    priority: %d
    version: 3
    advert_int: 0.1
    virtual_ipaddress: [%s]
vrrp_scripts:
  - {name: chk, script: "test ! -e %s", interval: 0.2, weight: 0, fall: 2, rise: 2}
vrrp_sync_groups:
  - {name: G1, group: [VI_1, VI_2]`, state, prio, second, flag)
		if !track {
			c += fmt.Sprintf(`, notify_master: "echo MASTER >> %[1]s", notify_backup: "echo BACKUP >> %[1]s"`, notified)
		}
		return c + "}\n"
	}
	for i, c := range []string{cfg("MASTER", 150, true), cfg("BACKUP", 100, false)} {
		if _, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", writeCfg(t, l, fmt.Sprintf("dir%d.yaml", i+1), c), "--pin-dir", pinDir(l, i)); err != nil {
			t.Fatal(err)
		}
	}
	holds := func(i int, a netip.Addr) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, _ := l.Exec(ctx, l.Directors()[i], "ip", "-4", "addr", "show", "dev", "eth0")
		return strings.Contains(string(out), " "+a.String()+"/32")
	}
	// waitBoth waits until director i alone holds both VIPs.
	waitBoth := func(i int, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < within {
			if holds(i, l.VIP()) && holds(i, second) && !holds(1-i, l.VIP()) && !holds(1-i, second) {
				return time.Since(start)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("director %d never held both VIPs alone (it holds .100 %v, .101 %v; the other .100 %v, .101 %v)",
			i+1, holds(i, l.VIP()), holds(i, second), holds(1-i, l.VIP()), holds(1-i, second))
		return 0
	}
	states := func() []string { return fileWords(notified) }
	waitBoth(0, 8*time.Second)
	// The backup's group announced BACKUP at start (and, when it started
	// first, MASTER then BACKUP as the master preempted it).
	// (The scripts run in the background: give the last one a moment.)
	before := states()
	for end := time.Now().Add(2 * time.Second); len(before) == 0 || before[len(before)-1] != "BACKUP"; before = states() {
		if time.Now().After(end) {
			t.Fatalf("the backup's group scripts ran %q at start, want BACKUP last", before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if before[0] != "BACKUP" {
		t.Fatalf("the backup's group scripts ran %q at start, want BACKUP first", before)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	took := waitBoth(1, 5*time.Second)
	t.Logf("both VIPs moved to the backup %v after VI_1's script started failing", took)
	get(t, l, "/")
	os.Remove(flag)
	took = waitBoth(0, 5*time.Second)
	t.Logf("both came back %v after the script succeeded again", took)
	get(t, l, "/")
	// Then MASTER with the VIPs, and BACKUP when they went back.
	waitFileWords(t, notified, append(slices.Clone(before), "MASTER", "BACKUP"), 3*time.Second)
}

// One keepalived.conf for both directors, as keepalived's templated
// set-ups write it: the VRRP instance in an included file, each director's
// state and priority on "@id" lines, the VIP a $parameter. Each director
// reads its own lines (--config-id); the master holds the VIP, the backup
// takes it when the master is killed.
func TestSharedKeepalivedConfForBothDirectors(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	dir := filepath.Join(l.Dir(), "keepalived")
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	main := `$VIP=192.168.101.100
include conf.d/*.conf
virtual_server ${VIP} 80 {
    lb_algo mh
    lb_kind DR
    protocol TCP
    real_server 192.168.101.3 80 {
    }
    real_server 192.168.101.4 80 {
    }
}
`
	vrrp := `vrrp_instance VI_1 {
    @lb1 state MASTER
    @lb1 priority 150
    @lb2 priority 100
    interface eth0
    virtual_router_id 51
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $VIP
    }
}
`
	for name, text := range map[string]string{"keepalived.conf": main, "conf.d/vrrp.conf": vrrp} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var procs []*os.Process
	for i, id := range []string{"lb1", "lb2"} {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--keepalived-conf", filepath.Join(dir, "keepalived.conf"),
			"--config-id", id, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd.Process)
	}
	waitHolder(t, l, 0, 3*time.Second, true)
	get(t, l, "/")
	// Each read its own @ lines.
	for i, want := range []string{"VI_1: MASTER (vrid 51, priority 150)", "VI_1: BACKUP (vrid 51, priority 100)"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := l.Exec(ctx, l.Directors()[i], xlbBin(), "status")
		cancel()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("director %d status (%v) lacks %q:\n%s", i+1, err, want, out)
		}
	}
	if err := procs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	took := waitHolder(t, l, 1, 2*time.Second, false)
	t.Logf("lb2 took the VIP %v after lb1 was killed", took)
	get(t, l, "/")
}

// keepalived's vrrp_startup_delay and down_timer_adverts, on real
// daemons: director 1 (priority 100, startup delay 4 s) does not take the
// VIP before its delay ends, although director 2 (priority 99) is master
// by then; at its end it preempts. Director 2 waits 10 adverts (not 3)
// after the master is killed. The delay counts from when xlb has attached
// (a second or so after the process starts on a loaded machine), so the
// test's clock, started before the processes, only bounds it from below.
func TestVRRPStartupDelayAndDownTimerAdverts(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	const advert = 100 * time.Millisecond
	delay := 4 * time.Second
	c1 := writeCfg(t, l, "dir1.yaml", "vrrp_startup_delay: 4s\n"+haConfig("MASTER", 100, 3, "0.1", true))
	c2 := writeCfg(t, l, "dir2.yaml", haConfig("BACKUP", 99, 3, "0.1", true)+"    down_timer_adverts: 10\n")
	start := func(i int, cfg string) *os.Process {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", cfg, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		return cmd.Process
	}
	started := time.Now()
	m := start(0, c1)
	start(1, c2)
	// Director 2 becomes master 10 adverts + skew after its start.
	waitHolder(t, l, 1, 10*advert+2*time.Second, true)
	if el := time.Since(started); el > delay-200*time.Millisecond {
		t.Fatalf("director 2 took the VIP only %v after the start; the test needs it before director 1's %v delay ends", el, delay)
	}
	for time.Since(started) < delay-300*time.Millisecond {
		if holdsVIP(l, 0) {
			t.Fatalf("director 1 held the VIP %v after its start, within its vrrp_startup_delay of %v", time.Since(started), delay)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitHolder(t, l, 0, 3*time.Second, true)
	t.Logf("director 1 took the VIP %v after its start (vrrp_startup_delay %v)", time.Since(started), delay)
	get(t, l, "/")

	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	took := waitHolder(t, l, 1, 10*advert+time.Second, false)
	// Master_Down_Interval = 10 × 100 ms + skew (156×10 cs/256 = 6 cs).
	bound := 10*advert + 60*time.Millisecond
	if el := time.Since(killed); el < bound-advert-50*time.Millisecond {
		t.Errorf("director 2 took over %v after the kill; down_timer_adverts 10 makes it wait about %v (3 adverts would be 360ms)", el, bound)
	}
	if took > bound+500*time.Millisecond {
		t.Errorf("director 2 took over after %v, bound %v", took, bound)
	}
	t.Logf("failover took %v (down_timer_adverts 10: %v)", took, bound)
	get(t, l, "/")
}
