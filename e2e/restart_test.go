package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// Restarting the daemon (SIGUSR2 leaves the datapath pinned and attached;
// the next run adopts it) keeps a long download on its real server and
// intact, and the VIP keeps answering while no daemon runs.
func TestHitlessRestart(t *testing.T) {
	l := newLab(t, lab.Options{BigFileBytes: 5 << 20, BigRate: "1m"})
	xlb, cfgPath := startXLB(t, l, 0, rrConfig)
	dl := startDownload(t, l, "dl")
	time.Sleep(1500 * time.Millisecond)

	if err := xlb.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := l.Wait(ctx, xlb); err != nil {
		t.Fatalf("xlb did not exit cleanly on SIGUSR2: %v", err)
	}
	// No daemon: the pinned program still serves new connections.
	for range 4 {
		get(t, l, "/")
	}
	link, _ := l.Exec(ctx, l.Directors()[0], "ip", "link", "show", "eth0")
	if !containsXDP(link) {
		t.Fatalf("program detached by SIGUSR2:\n%s", link)
	}

	// The next run adopts the pinned maps and swaps the program in place.
	next, err := l.Start(l.Directors()[0], xlbBin(), "run", "--iface", "eth0", "--config", cfgPath, "--pin-dir", pinDir(l, 0))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for range 4 {
		get(t, l, "/")
	}
	if err := dl.wait(); err != nil {
		t.Fatalf("download across the restart: %v", err)
	}
	// The restarted daemon adopted the VIP the first one added, so its
	// clean stop removes it (and detaches the program).
	if err := l.Stop(next); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	addrs, _ := l.Exec(ctx2, l.Directors()[0], "ip", "addr", "show", "eth0")
	if strings.Contains(string(addrs), l.VIP().String()) {
		t.Fatalf("VIP left on the director after a clean stop:\n%s", addrs)
	}
	link, _ = l.Exec(ctx2, l.Directors()[0], "ip", "link", "show", "eth0")
	if containsXDP(link) {
		t.Fatalf("program still attached after a clean stop:\n%s", link)
	}
}

func containsXDP(b []byte) bool {
	for i := 0; i+3 <= len(b); i++ {
		if string(b[i:i+3]) == "xdp" {
			return true
		}
	}
	return false
}

// logBuffer collects the lab's output (safe for its writers' goroutines)
// and passes it on to the test log.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
	t   *testing.T
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf.Write(p)
	b.mu.Unlock()
	b.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A second `xlb run` on the interface of a running one (and `--cleanup`)
// is refused before it touches anything: the running director keeps its
// VIP, its pins and its program, and goes on serving.
func TestSecondRunOnTheInterfaceChangesNothing(t *testing.T) {
	l := newLab(t, lab.Options{})
	_, cfgPath := startXLB(t, l, 0, rrConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := l.Directors()[0]
	pins := pinDir(l, 0)
	for _, extra := range [][]string{nil, {"--control-socket", "none", "--metrics-addr", ""}, {"--cleanup"}} {
		argv := append([]string{xlbBin(), "run", "--iface", "eth0", "--config", cfgPath, "--pin-dir", pins}, extra...)
		out, err := l.Exec(ctx, dir, argv...)
		if err == nil || !strings.Contains(err.Error()+string(out), "another xlb run (pid ") || !strings.Contains(err.Error()+string(out), "nothing was changed") {
			t.Fatalf("second xlb run %v: %v, want it refused as another run\n%s", extra, err, out)
		}
		addrs, _ := l.Exec(ctx, dir, "ip", "addr", "show", "eth0")
		if !strings.Contains(string(addrs), l.VIP().String()+"/") {
			t.Fatalf("VIP gone from the running director after a second run %v:\n%s", extra, addrs)
		}
		if ents, err := os.ReadDir(pins); err != nil || len(ents) == 0 {
			t.Fatalf("pins of the running director gone after a second run %v: %v %v", extra, ents, err)
		}
		link, _ := l.Exec(ctx, dir, "ip", "link", "show", "eth0")
		if !containsXDP(link) {
			t.Fatalf("program detached after a second run %v:\n%s", extra, link)
		}
		for range 2 {
			get(t, l, "/")
		}
	}
}

// Under `ip netns exec` without --pin-dir the pins sit on a bpffs of the
// process's own mount namespace: SIGUSR2 is refused (with a warning at
// start already) and the director goes on serving, instead of exiting
// "attached" and taking the program with it.
func TestSIGUSR2RefusedWhenPinsCannotOutliveTheProcess(t *testing.T) {
	logs := &logBuffer{t: t}
	l := newLab(t, lab.Options{Log: logs})
	path := filepath.Join(l.Dir(), "private-pins.yaml")
	if err := os.WriteFile(path, []byte(rrConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	xlb, err := l.Start(l.Directors()[0], xlbBin(), "run", "--iface", "eth0", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	waitVIP(t, l)
	waitLog := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), what); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the director's log", what)
			}
		}
	}
	waitLog("SIGUSR2 cannot restart hitlessly here") // at start
	if err := xlb.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitLog("SIGUSR2 refused, still running")
	for range 4 {
		get(t, l, "/")
	}
	if err := l.Stop(xlb); err != nil {
		t.Fatalf("stop after the refused SIGUSR2: %v", err)
	}
}
