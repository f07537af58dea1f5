package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// Short keepalived timings so the detection bound is a few seconds:
// delay_loop + (retry+1)×connect_timeout + retry×delay_before_retry.
const (
	delayLoop        = 1 * time.Second
	connectTimeout   = 1 * time.Second
	retry            = 1
	delayBeforeRetry = 1 * time.Second
	detectionBound   = delayLoop + (retry+1)*connectTimeout + retry*delayBeforeRetry
)

func checkedConfig(check string) string {
	return fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    delay_loop: 1
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1, check: %[1]s}
      - {address: 192.168.101.4, port: 80, weight: 1, check: %[1]s}
`, check)
}

const tcpCheck = `{type: tcp, connect_timeout: 1, retry: 1, delay_before_retry: 1, rise: 2, fall: 1}`

type sample struct {
	at     time.Time
	server string
	err    error
}

// load sends one request every 50 ms until stop is closed (and at most
// for limit), recording who answered.
func load(l *lab.Lab, stop <-chan struct{}, limit time.Duration) []sample {
	var out []sample
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		select {
		case <-stop:
			return out
		default:
		}
		at := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		body, err := l.Curl(ctx, "http://"+l.VIP().String()+"/", "--max-time", "2")
		cancel()
		out = append(out, sample{at: at, server: strings.TrimSpace(body), err: err})
		time.Sleep(50 * time.Millisecond)
	}
	return out
}

// A real server whose nginx stops is out of the rotation within the
// keepalived detection bound; after that no request fails; when nginx
// returns the server takes new flows again once `rise` checks pass.
func TestTCPCheckRemovesAndRestoresServer(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, checkedConfig(tcpCheck))
	waitBoth(t, l)

	stop := make(chan struct{})
	var samples []sample
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); samples = load(l, stop, 60*time.Second) }()
	time.Sleep(time.Second)
	stoppedAt := time.Now()
	if err := l.StopNginx(0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(detectionBound + 3*time.Second)
	startedAt := time.Now()
	if err := l.StartNginx(0); err != nil {
		t.Fatal(err)
	}
	// rise 2: two passing checks, delay_loop apart.
	riseBound := 2*delayLoop + 3*time.Second
	time.Sleep(riseBound + time.Second)
	close(stop)
	wg.Wait()

	detected := stoppedAt.Add(detectionBound + 500*time.Millisecond)
	var lastRS1 time.Time
	var backAt time.Time
	for _, s := range samples {
		switch {
		case s.at.After(detected) && s.at.Before(startedAt):
			if s.err != nil {
				t.Errorf("request at +%v after detection failed: %v", s.at.Sub(stoppedAt), s.err)
			} else if s.server != "rs2" {
				t.Errorf("request at +%v after detection reached %s", s.at.Sub(stoppedAt), s.server)
			}
		case s.at.After(stoppedAt) && s.at.Before(startedAt) && s.server == "rs1":
			lastRS1 = s.at
		case s.at.After(startedAt) && s.server == "rs1" && backAt.IsZero():
			backAt = s.at
		}
	}
	if !lastRS1.IsZero() && lastRS1.Sub(stoppedAt) > detectionBound {
		t.Errorf("rs1 still answered %v after its nginx stopped (bound %v)", lastRS1.Sub(stoppedAt), detectionBound)
	}
	if backAt.IsZero() {
		t.Fatalf("rs1 never came back within %v of nginx restarting", riseBound)
	}
	if d := backAt.Sub(startedAt); d > riseBound {
		t.Errorf("rs1 came back after %v, bound %v", d, riseBound)
	}
	t.Logf("%d requests; rs1 back %v after restart", len(samples), backAt.Sub(startedAt))
}

// HTTP_GET takes out a server answering 500; MISC_CHECK follows a script.
func TestHTTPAndMiscChecks(t *testing.T) {
	l := newLab(t, lab.Options{})
	flag := filepath.Join(l.Dir(), "rs2-down")
	cfg := fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    delay_loop: 1
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1, check: {type: http, path: /status, status_code: 200, connect_timeout: 1, retry: 0}}
      - {address: 192.168.101.4, port: 80, weight: 1, check: {type: misc, script: "test ! -e %s", timeout: 2, retry: 0}}
`, flag)
	startXLB(t, l, 0, cfg)
	waitBoth(t, l)

	if err := l.SetNginxStatus(0, 500); err != nil {
		t.Fatal(err)
	}
	waitOnly(t, l, "rs2", 3*delayLoop+2*time.Second)
	if err := l.SetNginxStatus(0, 200); err != nil {
		t.Fatal(err)
	}
	waitBoth(t, l)

	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitOnly(t, l, "rs1", 3*delayLoop+3*time.Second)
	os.Remove(flag)
	waitBoth(t, l)
}

// A reload that changes one real server's weight resets no connection: a
// long download through the VIP completes byte for byte.
func TestReloadWeightChangeKeepsDownload(t *testing.T) {
	l := newLab(t, lab.Options{BigFileBytes: 5 << 20, BigRate: "1m"})
	xlb, cfgPath := startXLB(t, l, 0, rrConfig)
	dl := startDownload(t, l, "dl")
	time.Sleep(1500 * time.Millisecond)
	for _, w := range []string{"5", "0", "2"} {
		cfg := strings.ReplaceAll(rrConfig, "weight: 1}", "weight: "+w+"}")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := xlb.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
	}
	if err := dl.wait(); err != nil {
		t.Fatalf("download across weight reloads: %v", err)
	}
}

// The seed guide's keepalived.conf (its exact text; the lab uses its
// addresses) runs as is: wlc with persistence_timeout 50 keeps the client
// on one real server, as IPVS would.
func TestSeedKeepalivedConf(t *testing.T) {
	l := newLab(t, lab.Options{})
	conf, err := filepath.Abs("../config/testdata/seed-master.keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{xlbBin(), "run", "--iface", "eth0", "--keepalived-conf", conf}
	if _, err := l.Start(l.Directors()[0], argv...); err != nil {
		t.Fatal(err)
	}
	waitVIP(t, l)
	first := get(t, l, "/")
	for i := range 20 {
		if s := get(t, l, "/"); s != first {
			t.Fatalf("request %d went to %s; persistence_timeout 50 must keep the client on %s", i, s, first)
		}
	}
}

// A malformed keepalived.conf is refused with its line, nothing attached.
func TestMalformedKeepalivedConf(t *testing.T) {
	l := newLab(t, lab.Options{})
	path := filepath.Join(l.Dir(), "bad.conf")
	bad := "virtual_server 192.168.101.100 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n    real_server 192.168.101.3 80 {\n        weight three\n    }\n}\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, l.Directors()[0], xlbBin(), "run", "--iface", "eth0", "--keepalived-conf", path)
	if err == nil {
		t.Fatalf("malformed keepalived.conf accepted: %s", out)
	}
	if !strings.Contains(err.Error(), "bad.conf:6") {
		t.Fatalf("error does not name bad.conf:6: %v", err)
	}
	link, _ := l.Exec(ctx, l.Directors()[0], "ip", "link", "show", "eth0")
	if strings.Contains(string(link), "xdp") {
		t.Fatalf("XDP attached after a rejected config:\n%s", link)
	}
}

// waitBoth waits until requests through the VIP reach both real servers.
func waitBoth(t *testing.T, l *lab.Lab) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	seen := map[string]bool{}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		body, err := l.Curl(ctx, "http://"+l.VIP().String()+"/", "--max-time", "2")
		cancel()
		if err == nil {
			seen[strings.TrimSpace(body)] = true
		}
		if seen["rs1"] && seen["rs2"] {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("both real servers never answered through the VIP (saw %v)", seen)
}

// waitOnly waits until 10 requests in a row reach only server.
func waitOnly(t *testing.T, l *lab.Lab, server string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within + 10*time.Second)
	streak := 0
	start := time.Now()
	var streakStart time.Time
	for time.Now().Before(deadline) {
		at := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		body, err := l.Curl(ctx, "http://"+l.VIP().String()+"/", "--max-time", "2")
		cancel()
		if err == nil && strings.TrimSpace(body) == server {
			if streak == 0 {
				streakStart = at
			}
			streak++
		} else {
			streak = 0
		}
		if streak == 10 {
			// The first request of the streak is when only server was left.
			if d := streakStart.Sub(start); d > within+time.Second {
				t.Errorf("took %v to leave only %s, bound %v", d, server, within)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("traffic never settled on %s alone", server)
}

// keepalived's sorry_server: while the pool's only real server fails its
// check (and before its first check passes), new requests reach the sorry
// server; once the real server passes again they reach it alone. The real
// server's notify_down and notify_up run at those transitions.
func TestSorryServerAndNotifyScripts(t *testing.T) {
	l := newLab(t, lab.Options{})
	events := filepath.Join(l.Dir(), "rs1-events")
	startXLB(t, l, 0, fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    delay_loop: 1
    real_servers:
      - address: 192.168.101.3
        check: {type: http, path: /status, status_code: 200, connect_timeout: 1, retry: 0}
        notify_up: echo "up $XLB_REAL_SERVER" >> %[1]s
        notify_down: echo "down $XLB_REAL_SERVER" >> %[1]s
    sorry_server: {address: 192.168.101.4}
`, events))
	waitEvents := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile(events)
			if got := strings.TrimSpace(string(b)); got == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("notify scripts wrote %q, want %q", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOnly(t, l, "rs1", 10*time.Second)
	waitEvents("up 192.168.101.3:80")
	if err := l.SetNginxStatus(0, 500); err != nil {
		t.Fatal(err)
	}
	waitOnly(t, l, "rs2", 3*delayLoop+2*time.Second)
	waitEvents("up 192.168.101.3:80\ndown 192.168.101.3:80")
	if err := l.SetNginxStatus(0, 200); err != nil {
		t.Fatal(err)
	}
	waitOnly(t, l, "rs1", 3*delayLoop+2*time.Second)
	waitEvents("up 192.168.101.3:80\ndown 192.168.101.3:80\nup 192.168.101.3:80")
}

// keepalived's several checkers in one real_server (here TCP_CHECK and a
// MISC_CHECK): the server leaves the pool when either fails, though the
// other still passes, and comes back when both pass; notify_down and
// notify_up run once each, for the server, not per check.
func TestSeveralChecksPerRealServer(t *testing.T) {
	l := newLab(t, lab.Options{})
	flag := filepath.Join(l.Dir(), "rs2-down")
	notes := filepath.Join(l.Dir(), "notes")
	conf := fmt.Sprintf(`virtual_server 192.168.101.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.101.3 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 192.168.101.4 80 {
        notify_up "echo up >> %[2]s"
        notify_down "echo down >> %[2]s"
        TCP_CHECK {
            connect_timeout 1
        }
        MISC_CHECK {
            misc_path "test ! -e %[1]s"
            misc_timeout 2
        }
    }
}
`, flag, notes)
	path := filepath.Join(l.Dir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Start(l.Directors()[0], xlbBin(), "run", "--iface", "eth0", "--keepalived-conf", path); err != nil {
		t.Fatal(err)
	}
	waitBoth(t, l)
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitOnly(t, l, "rs1", 3*delayLoop+3*time.Second)
	os.Remove(flag)
	waitBoth(t, l)
	// up at the first pass of both checks, then down and up once each.
	waitFileWords(t, notes, []string{"up", "down", "up"}, 3*time.Second)
}

// keepalived's misc_dynamic: the script's exit status sets the real
// server's weight (status-2), which `xlb list` shows and wrr follows.
func TestMiscDynamicWeight(t *testing.T) {
	l := newLab(t, lab.Options{})
	code := filepath.Join(l.Dir(), "rs2-code")
	if err := os.WriteFile(code, []byte("5"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: wrr
    delay_loop: 1
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1}
      - {address: 192.168.101.4, port: 80, weight: 1, check: {type: misc, script: "exit $(cat %s)", timeout: 2, dynamic: true}}
`, code)
	startXLB(t, l, 0, cfg)
	weightOf := func(addr string) int { return listedWeight(t, l, addr) }
	waitWeight := func(want int) {
		t.Helper()
		for end := time.Now().Add(3*delayLoop + 3*time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if weightOf("192.168.101.4") == want {
				return
			}
		}
		t.Fatalf("rs2's weight is %d, want %d", weightOf("192.168.101.4"), want)
	}
	waitWeight(3)
	// wrr 1:3 over 40 new connections.
	counts := map[string]int{}
	for range 40 {
		counts[get(t, l, "/")]++
	}
	if counts["rs1"] != 10 || counts["rs2"] != 30 {
		t.Fatalf("wrr with weights 1 and 3 sent %v", counts)
	}
	if err := os.WriteFile(code, []byte("9"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitWeight(7)
}

// A FILE_CHECK moves a real server's weight by the file's value × its
// weight as soon as the file is written (wrr follows, `xlb list` shows
// it), and a value whose product reaches -2^31 takes the server down.
func TestFileCheckWeight(t *testing.T) {
	l := newLab(t, lab.Options{})
	path := filepath.Join(l.Dir(), "rs2-boost")
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`vrrp_track_files:
  - {name: boost, file: %s}
services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: wrr
    real_servers:
      - {address: 192.168.101.3, port: 80, weight: 1}
      - {address: 192.168.101.4, port: 80, weight: 1, check: {type: file, track_file: boost, weight: 2}}
`, path)
	startXLB(t, l, 0, cfg)
	weightOf := func(addr string) int { return listedWeight(t, l, addr) }
	// The change is read when the writer closes the file; the bound
	// covers that, the datapath update and one `xlb list` under load.
	const bound = 2 * time.Second
	waitWeight := func(want int) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < bound {
			if weightOf("192.168.101.4") == want {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("rs2's weight is %d after %v, want %d", weightOf("192.168.101.4"), bound, want)
		return 0
	}
	waitWeight(3) // 1 + 1 × 2
	counts := map[string]int{}
	for range 40 {
		counts[get(t, l, "/")]++
	}
	if counts["rs1"] != 10 || counts["rs2"] != 30 {
		t.Fatalf("wrr with weights 1 and 3 sent %v", counts)
	}
	if err := os.WriteFile(path, []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 written: weight 7 listed after %v", waitWeight(7))
	// -2^30 × 2 = -2^31: keepalived's fault, the server goes down.
	if err := os.WriteFile(path, []byte("-1073741824\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); weightOf("192.168.101.4") != -1; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > bound {
			t.Fatalf("rs2 still listed (weight %d) after the fault value", weightOf("192.168.101.4"))
		}
	}
	counts = map[string]int{}
	for range 10 {
		counts[get(t, l, "/")]++
	}
	if counts["rs1"] != 10 {
		t.Fatalf("with rs2 down, 10 connections went %v", counts)
	}
}

// listedWeight is the weight `xlb list` shows for the real server at addr
// (director 1), -1 when it is not listed.
func listedWeight(t *testing.T, l *lab.Lab, addr string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, l.Directors()[0], xlbBin(), "list")
	if err != nil {
		t.Fatalf("xlb list: %v", err)
	}
	for _, r := range parseList(t, string(out)) {
		if strings.HasPrefix(r.addr, addr+":") {
			return r.weight
		}
	}
	return -1
}
