package e2e

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// Restarting the VRRP master in place (SIGUSR2, then `xlb run` again at
// once) keeps it master: the old run's last advert restarts the backup's
// down timer, the next run adopts the datapath and the VIP and advertises
// at once, so the backup never takes the VIP and a download through the
// master (rr, no flow sharing: a move to the backup would break it) goes
// on. Before, the next run started as a backup, the peer took the VIP
// after ~3.5 s and the master preempted it back ~3 s later.
func TestVRRPMasterRestartInPlaceKeepsMastership(t *testing.T) {
	logs := &logBuffer{t: t}
	l := newLab(t, lab.Options{Directors: 2, BigFileBytes: 6 << 20, BigRate: "1m", Log: logs})
	rr := func(cfg string) string { return strings.Replace(cfg, "scheduler: mh", "scheduler: rr", 1) }
	c1 := writeCfg(t, l, "dir1.yaml", rr(haConfig("MASTER", 100, 2, "1", true)))
	c2 := writeCfg(t, l, "dir2.yaml", rr(haConfig("BACKUP", 99, 2, "1", true)))
	start := func(i int, cfg string) *exec.Cmd {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", cfg, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	m := start(0, c1)
	start(1, c2)
	waitHolder(t, l, 0, 5*time.Second, true)
	waitVIP(t, l)

	dl := startDownload(t, l, "dl")
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, m); err != nil {
		t.Fatalf("xlb did not exit cleanly on SIGUSR2: %v", err)
	}
	restarted := time.Now()
	m = start(0, c1)
	// For longer than the backup's Master_Down_Interval (3 s + skew)
	// after the restart: director 1 holds the VIP all along, director 2
	// never does.
	for time.Since(restarted) < 6*time.Second {
		if holdsVIP(l, 1) {
			t.Fatalf("the backup took the VIP %v after the master restarted in place", time.Since(restarted).Round(time.Millisecond))
		}
		if !holdsVIP(l, 0) {
			t.Fatalf("the master lost the VIP %v after it restarted in place", time.Since(restarted).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "resuming mastership after a restart in place") {
		t.Fatal(`no "resuming mastership" in the restarted director's log`)
	}
	if err := dl.wait(); err != nil {
		t.Fatalf("download across the master's restart in place: %v", err)
	}
	get(t, l, "/")
	// A clean stop still hands over, at once (priority 0).
	if err := l.Stop(m); err != nil {
		t.Fatal(err)
	}
	waitHolder(t, l, 1, 2*time.Second, true)
}
