package e2e

import (
	"context"
	"strings"
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
