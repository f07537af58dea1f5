package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// The seed's browser test: every request is a new connection (Connection:
// close), rr alternates, replies come straight from the real servers.
func TestRoundRobinThroughVIP(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, rrConfig)

	// Capture on the director what reaches its stack from port 80: in DR
	// mode no reply may pass through it.
	dir := l.Directors()[0]
	stop := startCapture(t, l, dir, "tcp src port 80")

	n := map[string]int{}
	for range 100 {
		n[get(t, l, "/")]++
	}
	if n["rs1"] != 50 || n["rs2"] != 50 {
		t.Fatalf("100 requests under rr gave %v, want rs1:50 rs2:50", n)
	}

	if lines := stop(); len(lines) != 0 {
		t.Fatalf("replies passed through the director (DR must bypass it):\n%s", strings.Join(lines, "\n"))
	}
}

// Client-side capture: replies arrive with the real servers' MACs as
// source, i.e. straight from them.
func TestRepliesComeFromRealServers(t *testing.T) {
	l := newLab(t, lab.Options{})
	startXLB(t, l, 0, rrConfig)
	stop := startCapture(t, l, l.Client(), "tcp src port 80")
	for range 10 {
		get(t, l, "/")
	}
	lines := stop()
	macs := map[string]bool{}
	for _, rs := range l.RealServers() {
		macs[rs.MAC.String()] = true
	}
	if len(lines) < 20 { // at least SYN-ACK and the answer per request
		t.Fatalf("captured only %d reply segments", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || !macs[f[1]] {
			t.Fatalf("reply not from a real server's MAC: %s", line)
		}
	}
}

// Removing rs1 and reloading (SIGHUP) keeps a long download from rs2 — and
// by IPVS's semantics the one already on rs1 too — intact.
func TestReloadRemovingServerKeepsDownloads(t *testing.T) {
	l := newLab(t, lab.Options{BigFileBytes: 6 << 20, BigRate: "1m"})
	xlb, cfgPath := startXLB(t, l, 0, rrConfig)

	want := sha(t, filepath.Join(l.Dir(), "big"))
	type dl struct {
		server string
		sum    [32]byte
		err    error
		out    string
	}
	results := make(chan dl, 2)
	for i := range 2 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			file := filepath.Join(l.Dir(), fmt.Sprintf("dl%d", i))
			hdr := file + ".hdr"
			out, err := l.Exec(ctx, l.Client(), "curl", "-sS", "--fail", "--max-time", "50", "-H", "Connection: close",
				"-D", hdr, "-o", file, "http://"+l.VIP().String()+"/big")
			r := dl{err: err, out: string(out)}
			if err == nil {
				b, _ := os.ReadFile(file)
				r.sum = sha256.Sum256(b)
				h, _ := os.ReadFile(hdr)
				r.server = header(string(h), "X-Real-Server")
			}
			results <- r
		}()
		time.Sleep(300 * time.Millisecond) // rr: one download per server
	}
	time.Sleep(2 * time.Second) // both downloads are mid-way (6 MiB at 1 MiB/s)
	only2 := strings.Replace(rrConfig, "      - {address: 192.168.101.3, port: 80, weight: 1}\n", "", 1)
	if err := os.WriteFile(cfgPath, []byte(only2), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := xlb.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// New connections now all go to rs2.
	time.Sleep(500 * time.Millisecond)
	for range 6 {
		if s := get(t, l, "/"); s != "rs2" {
			t.Fatalf("after removing rs1, a new request went to %s", s)
		}
	}
	servers := map[string]bool{}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("download failed across the reload: %v: %s", r.err, r.out)
		}
		if r.sum != want {
			t.Fatalf("download from %s corrupted across the reload", r.server)
		}
		servers[r.server] = true
	}
	if !servers["rs1"] || !servers["rs2"] {
		t.Fatalf("downloads were served by %v, want one from each real server", servers)
	}
}

// An invalid configuration is refused with file:line and field, and
// nothing is attached to the interface.
func TestInvalidConfigAttachesNothing(t *testing.T) {
	l := newLab(t, lab.Options{})
	dir := l.Directors()[0]
	cases := []struct{ name, cfg, want string }{
		{"unknown scheduler", strings.Replace(rrConfig, "scheduler: rr", "scheduler: fastest", 1), "scheduler"},
		{"bad ip", strings.Replace(rrConfig, "192.168.101.3", "192.168.101.300", 1), "address"},
		{"port mismatch", strings.Replace(rrConfig, "{address: 192.168.101.3, port: 80", "{address: 192.168.101.3, port: 8080", 1), "port"},
		{"duplicate service", rrConfig + strings.TrimPrefix(rrConfig, "services:\n"), "duplicate"},
		{"negative weight", strings.Replace(rrConfig, "port: 80, weight: 1}", "port: 80, weight: -1}", 1), "weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(l.Dir(), strings.ReplaceAll(c.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(c.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := l.Exec(ctx, dir, xlbBin(), "run", "--iface", "eth0", "--config", path)
			var ee *exec.ExitError
			if err == nil || !errors.As(err, &ee) {
				t.Fatalf("xlb run accepted a bad config (err %v): %s", err, out)
			}
			msg := string(out) + err.Error()
			if !strings.Contains(msg, filepath.Base(path)+":") || !strings.Contains(strings.ToLower(msg), c.want) {
				t.Fatalf("error does not name file:line and %q:\n%s", c.want, msg)
			}
			link, _ := l.Exec(ctx, dir, "ip", "link", "show", "eth0")
			if bytes.Contains(link, []byte("xdp")) {
				t.Fatalf("an XDP program is attached after a rejected config:\n%s", link)
			}
		})
	}
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func header(h, name string) string {
	for _, line := range strings.Split(h, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// startCapture runs tcpdump on h's eth0 for filter and returns a function
// that stops it and returns the captured packets (tcpdump -e lines). It
// only returns once tcpdump is provably capturing: ICMP pings from the
// client to the director are captured alongside (and left out of the
// result), so an empty result is never an artefact of a slow start.
func startCapture(t *testing.T, l *lab.Lab, h lab.Host, filter string) func() []string {
	t.Helper()
	file := filepath.Join(l.Dir(), fmt.Sprintf("%s-%d.pcap", h.Name, time.Now().UnixNano()))
	dump, err := l.Start(h, "tcpdump", "-Z", "root", "--immediate-mode", "-i", "eth0", "-n", "-e", "-U", "-w", file, "("+filter+") or icmp")
	if err != nil {
		t.Fatal(err)
	}
	read := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := l.Exec(ctx, h, "tcpdump", "-n", "-e", "-r", file)
		if err != nil && !strings.Contains(err.Error(), "No such file") {
			t.Logf("read capture: %v", err)
		}
		var lines []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				lines = append(lines, line)
			}
		}
		return lines
	}
	target := h.IP.String() // ping the capturing host itself...
	if h.Name == l.Client().Name {
		target = l.Directors()[0].IP.String() // ...or, from the client, the director
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		l.Exec(ctx, l.Client(), "ping", "-c", "1", "-W", "1", target)
		cancel()
		if slices.ContainsFunc(read(), func(s string) bool { return strings.Contains(s, "ICMP echo") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tcpdump never started capturing")
		}
	}
	return func() []string {
		time.Sleep(300 * time.Millisecond)
		l.Stop(dump)
		var out []string
		for _, line := range read() {
			if !strings.Contains(line, "ICMP echo") {
				out = append(out, line)
			}
		}
		return out
	}
}
