package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newTestLab builds a lab or skips when the tools are truly missing.
func newTestLab(t *testing.T, o Options) *Lab {
	t.Helper()
	if err := CheckTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if o.Log == nil && testing.Verbose() {
		o.Log = testWriter{t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := New(ctx, o)
	if err != nil {
		t.Fatalf("new lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestLab(t *testing.T) {
	l := newTestLab(t, Options{BigFileBytes: 1 << 20, BigRate: "4m"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, h := range l.RealServers() {
		got, err := l.Curl(ctx, "http://"+h.IP.String()+"/")
		if err != nil {
			t.Fatalf("curl %s: %v", h.Name, err)
		}
		if got != h.Name+"\n" {
			t.Errorf("%s answered %q", h.Name, got)
		}
	}

	t.Run("vip unreachable without director", func(t *testing.T) {
		start := time.Now()
		out, err := l.Curl(ctx, "http://"+l.VIP().String()+"/", "--max-time", "5")
		if err == nil {
			t.Fatalf("VIP answered %q without a director: a real server answers ARP for it", out)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("curl took %v to fail", d)
		}
		t.Logf("curl to VIP failed as expected after %v: %v", time.Since(start).Round(time.Millisecond), err)
	})

	t.Run("big", func(t *testing.T) {
		out, err := l.Curl(ctx, "http://"+l.RealServers()[1].IP.String()+"/big",
			"-o", "/dev/null", "-w", "%{size_download}")
		if err != nil {
			t.Fatal(err)
		}
		if out != strconv.Itoa(1<<20) {
			t.Errorf("size %s, want %d", out, 1<<20)
		}
	})

	t.Run("status", func(t *testing.T) {
		rs := l.RealServers()[0]
		if err := l.SetNginxStatus(0, 500); err != nil {
			t.Fatal(err)
		}
		code, err := l.Curl(ctx, "http://"+rs.IP.String()+"/", "-o", "/dev/null", "-w", "%{http_code}")
		if err == nil || !strings.Contains(code, "500") {
			t.Errorf("after SetNginxStatus(500): %q, %v", code, err)
		}
		if err := l.SetNginxStatus(0, 200); err != nil {
			t.Fatal(err)
		}
		if got, err := l.Curl(ctx, "http://"+rs.IP.String()+"/status"); err != nil || got != "rs1\n" {
			t.Errorf("after SetNginxStatus(200): %q, %v", got, err)
		}
	})

	t.Run("stop and start nginx", func(t *testing.T) {
		rs := l.RealServers()[0]
		if err := l.StopNginx(0); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := l.Curl(ctx, "http://"+rs.IP.String()+"/", "--max-time", "3")
		if err == nil || !strings.Contains(err.Error(), "(7)") {
			t.Errorf("stopped rs1 did not refuse: %v", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("refusal took %v: should be an immediate RST", time.Since(start))
		}
		if got, err := l.Curl(ctx, "http://"+l.RealServers()[1].IP.String()+"/"); err != nil || got != "rs2\n" {
			t.Errorf("rs2 affected: %q, %v", got, err)
		}
		if err := l.StartNginx(0); err != nil {
			t.Fatal(err)
		}
		if got, err := l.Curl(ctx, "http://"+rs.IP.String()+"/"); err != nil || got != "rs1\n" {
			t.Errorf("after StartNginx: %q, %v", got, err)
		}
	})

	t.Run("vip on real server lo", func(t *testing.T) {
		out, err := l.Exec(ctx, l.RealServers()[0], "ip", "-o", "addr", "show", "dev", "lo")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), l.VIP().String()+"/32") {
			t.Errorf("VIP not on rs1 lo: %s", out)
		}
		out, err = l.Exec(ctx, l.RealServers()[0], "cat", "/proc/sys/net/ipv4/conf/all/arp_ignore", "/proc/sys/net/ipv4/conf/all/arp_announce")
		if err != nil || string(out) != "1\n2\n" {
			t.Errorf("arp sysctls %q, %v", out, err)
		}
		out, err = l.Exec(ctx, l.Client(), "ethtool", "-k", "eth0")
		if err != nil || !strings.Contains(string(out), "tx-checksumming: off") {
			t.Errorf("client tx checksum offload not off: %v\n%s", err, out)
		}
	})
}

// TestCloseLeavesNothing checks that Close kills every process (nginx
// masters and workers, and what Start ran) and deletes every namespace.
func TestCloseLeavesNothing(t *testing.T) {
	if err := CheckTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := New(ctx, Options{Directors: 2, RealServers: 3, BigFileBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	// A background process with a child of its own, like a daemon.
	cmd, err := l.Start(l.Directors()[1], "sh", "-c", "sleep 300 & sleep 300")
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Process.Pid <= 0 {
		t.Fatal("no pid")
	}
	// Remember namespace inodes, to look for any process left inside later.
	names := append([]string(nil), l.nsNames...)
	inodes := map[uint64]string{}
	for _, n := range names {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/run/netns", n), &st); err != nil {
			t.Fatal(err)
		}
		inodes[st.Ino] = n
	}
	// 3 nginx masters + 3 workers + sh + sleep + sleep; the shell needs a
	// moment to fork.
	var pidsBefore int
	for range 50 {
		pidsBefore = 0
		for _, n := range names {
			pids, err := processesInNS(filepath.Join("/run/netns", n))
			if err != nil {
				t.Fatal(err)
			}
			pidsBefore += len(pids)
		}
		if pidsBefore >= 9 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pidsBefore < 9 {
		t.Errorf("only %d processes in the lab before Close, want 9", pidsBefore)
	}
	dir := l.Dir()
	// What an xlb run in a director keeps under /run/xlb (its lock file).
	runDir := filepath.Join("/run/xlb/netns", l.Directors()[0].NS)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "eth0.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	closed = true
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still there", n)
		}
	}
	// Killed processes may need a moment to be reaped by init.
	var left []string
	for range 50 {
		left = left[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, ok := atoiPID(e.Name())
			if !ok {
				continue
			}
			var st syscall.Stat_t
			if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
				continue
			}
			if n, ok := inodes[st.Ino]; ok {
				comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
				left = append(left, strconv.Itoa(pid)+" "+strings.TrimSpace(string(comm))+" in "+n)
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("processes left behind: %v", left)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab dir %s still there", dir)
	}
	if _, err := os.Stat(ownerPath(l.Prefix())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file still there")
	}
	if _, err := os.Stat(runDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a director's run directory %s is still there", runDir)
	}
	if _, err := l.Exec(ctx, l.Client(), "true"); err == nil {
		t.Error("Exec works after Close")
	}
}

// TestNewFailureTearsDown makes New fail late (nginx rejects the rate) and
// checks that nothing of the half-built lab is left.
func TestNewFailureTearsDown(t *testing.T) {
	if err := CheckTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := New(ctx, Options{BigRate: "not-a-rate", BigFileBytes: 4096, Log: &log})
	if err == nil {
		l.Close()
		t.Fatal("want an error for an invalid limit_rate")
	}
	if l != nil {
		t.Error("New returned a lab with its error")
	}
	t.Logf("error as expected: %v", err)
	var prefix string
	for _, line := range strings.Split(log.String(), "\n") {
		if p, ok := strings.CutPrefix(line, "creating lab "); ok {
			prefix = p + "-"
		}
	}
	if prefix == "" {
		t.Fatalf("no prefix in log:\n%s", log.String())
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(ownerPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Error("owner file left behind")
	}
	tmp, _ := filepath.Glob(filepath.Join(os.TempDir(), "xlb-lab-"+prefix+"*"))
	if len(tmp) > 0 {
		t.Errorf("lab dir left behind: %v", tmp)
	}
}
