package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// keepalived's notify FIFOs through a running `xlb run`: the FIFO script
// is started with the FIFO's path, reads the VRRP lines (BACKUP, then
// MASTER), the real server's DOWN and UP lines when its check fails and
// passes, and, after it is SIGTERMed at the director's stop, the STOP
// line; the FIFO xlb created is removed.
func TestNotifyFIFOLinesFromRunningDirector(t *testing.T) {
	l := newLab(t, lab.Options{})
	dir := l.Dir()
	fifo, log := filepath.Join(dir, "xlb.fifo"), filepath.Join(dir, "fifo.log")
	reader := filepath.Join(dir, "reader.sh")
	// Like keepalived's sample reader it keeps reading after SIGTERM, since
	// the STOP lines come after it (bash: dash's read returns at a trap).
	script := fmt.Sprintf("#!/bin/bash\necho \"args: $*\" >> %[1]s\ntrap 'echo TERM >> %[1]s' TERM\nwhile read -r line; do echo \"$line\" >> %[1]s; done < \"$1\"\necho EOF >> %[1]s\n", log)
	if err := os.WriteFile(reader, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, _ := startXLB(t, l, 0, fmt.Sprintf(`notify_fifo: %s
notify_fifo_script: %s
services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: rr
    delay_loop: 1
    real_servers:
      - address: 192.168.101.3
        check: {type: http, path: /status, status_code: 200, connect_timeout: 1, retry: 0}
      - address: 192.168.101.4
vrrp:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    priority: 100
    version: 3
    advert_int: 0.1
    virtual_ipaddress: [192.168.101.100]
`, fifo, reader))
	waitLines := func(what string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(log)
			got := strings.Split(strings.TrimSpace(string(b)), "\n")
			if containsInOrder(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the FIFO reader saw\n%s\nwant, in this order:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rs := `RS [192.168.101.3]:tcp:80 [192.168.101.100]:tcp:80 `
	waitLines("start", "args: "+fifo, `INSTANCE "VI_1" BACKUP 100`, `INSTANCE "VI_1" MASTER 100`)
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o644 {
		t.Fatalf("notify_fifo %s: %v %v, want a FIFO of mode 0644", fifo, fi.Mode(), err)
	}
	if err := l.SetNginxStatus(0, 500); err != nil {
		t.Fatal(err)
	}
	waitLines("check fails", `INSTANCE "VI_1" MASTER 100`, rs+"DOWN")
	if err := l.SetNginxStatus(0, 200); err != nil {
		t.Fatal(err)
	}
	waitLines("check passes", rs+"DOWN", rs+"UP")
	// The reader keeps up, so /metrics counts every line it got, none
	// dropped.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, _ := os.ReadFile(log)
	read := float64(strings.Count(string(b), "\n") - 1) // less its "args:" line
	series := fmt.Sprintf(`{fifo="notify_fifo",path=%q}`, fifo)
	m := scrape(t, l, ctx)
	if got := m["xlb_notify_fifo_lines_total"+series]; got < read || got < 4 {
		t.Errorf("xlb_notify_fifo_lines_total%s = %v, want at least the %v lines the reader got", series, got, read)
	}
	if got, ok := m["xlb_notify_fifo_dropped_lines_total"+series]; !ok || got != 0 {
		t.Errorf("xlb_notify_fifo_dropped_lines_total%s = %v (present %v), want 0", series, got, ok)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLines("stop", rs+"UP", "TERM", `INSTANCE "VI_1" STOP 100`, "EOF")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Lstat(fifo); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the FIFO xlb created is still there after its stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// containsInOrder reports whether want appears in got as a subsequence.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
