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

// vmacMAC is VRID 51's virtual MAC, the address of vrrp.51.
const vmacMAC = "00:00:5e:00:01:33"

// use_vmac (keepalived's VMAC): each director makes vrrp.51 on eth0 with
// the VMAC, and the master holds the VIP there; the XDP program on eth0
// forwards what the client sends to the VMAC, so requests are served. A
// SIGKILLed master's VMAC and VIP move to the backup without the client's
// neighbour entry changing. A restart in place (SIGUSR2) keeps the VMAC
// interface, a returning director keeps what its killed run left and
// preempts, and a clean stop removes the VMAC.
func TestVRRPVMAC(t *testing.T) {
	l := newLab(t, lab.Options{Directors: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	advert := 100 * time.Millisecond
	vmacCfg := func(state string, prio int) string {
		return haConfig(state, prio, 3, "0.1", true) + "    use_vmac: true\n"
	}
	c1 := writeCfg(t, l, "vmac1.yaml", vmacCfg("MASTER", 100))
	c2 := writeCfg(t, l, "vmac2.yaml", vmacCfg("BACKUP", 99))
	start := func(i int, cfg string) *exec.Cmd {
		cmd, err := l.Start(l.Directors()[i], xlbBin(), "run", "--iface", "eth0", "--config", cfg, "--pin-dir", pinDir(l, i))
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	link := func(i int) string {
		out, _ := l.Exec(ctx, l.Directors()[i], "ip", "-d", "link", "show", "dev", "vrrp.51")
		return string(out)
	}
	holds := func(i int) bool {
		out, _ := l.Exec(ctx, l.Directors()[i], "ip", "-4", "addr", "show", "dev", "vrrp.51")
		return strings.Contains(string(out), " "+l.VIP().String()+"/32")
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting until %s", what)
	}
	clientNeigh := func() string {
		out, _ := l.Exec(ctx, l.Client(), "ip", "neigh", "show", l.VIP().String())
		return strings.TrimSpace(string(out))
	}
	served := func(what string) {
		t.Helper()
		for range 4 {
			get(t, l, "/")
		}
		if n := clientNeigh(); !strings.Contains(n, vmacMAC) {
			t.Errorf("%s: the client's neighbour entry for the VIP is %q, want the VMAC %s", what, n, vmacMAC)
		}
	}

	p1 := start(0, c1)
	p2 := start(1, c2)
	wait("director 1 holds the VIP on vrrp.51", func() bool { return holds(0) && !holds(1) })
	// Director 1 may be master (its down timer is 360 ms) before director
	// 2, started just after it, has made its VMAC (once in a loaded CI
	// run): wait for both links before looking at them.
	wait("both directors made vrrp.51", func() bool {
		return strings.Contains(link(0), "vrrp.51@eth0") && strings.Contains(link(1), "vrrp.51@eth0")
	})
	for i := range 2 {
		if ln := link(i); !strings.Contains(ln, "link/ether "+vmacMAC) || !strings.Contains(ln, "macvlan mode private") || !strings.Contains(ln, "vrrp.51@eth0") {
			t.Fatalf("director %d's vrrp.51:\n%s", i+1, ln)
		}
	}
	out, _ := l.Exec(ctx, l.Directors()[0], "ip", "-4", "addr", "show", "dev", "eth0")
	if strings.Contains(string(out), l.VIP().String()) {
		t.Errorf("the VIP is on eth0 too:\n%s", out)
	}
	waitVIP(t, l)
	served("master")

	if err := p1.Process.Kill(); err != nil { // SIGKILL: no priority 0, nothing cleaned up
		t.Fatal(err)
	}
	killed := time.Now()
	wait("director 2 holds the VIP on vrrp.51", func() bool { return holds(1) })
	t.Logf("failover took %v (advert %v)", time.Since(killed), advert)
	served("after the failover")

	// A restart in place keeps the VMAC (the same interface) and, until
	// the next run starts as backup, the VIP on it.
	index := func(i int) string {
		out, _ := l.Exec(ctx, l.Directors()[i], "ip", "-o", "link", "show", "dev", "vrrp.51")
		idx, _, _ := strings.Cut(string(out), ":")
		return idx
	}
	before := index(1)
	if err := p2.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, p2); err != nil {
		t.Fatalf("xlb did not exit cleanly on SIGUSR2: %v", err)
	}
	if !holds(1) {
		t.Fatalf("the restart in place dropped the VIP or the VMAC:\n%s", link(1))
	}
	p2 = start(1, c2)
	wait("the restarted director 2 holds the VIP on vrrp.51", func() bool { return holds(1) })
	if after := index(1); after != before || before == "" {
		t.Errorf("vrrp.51 was made anew by the restart in place (index %q, was %q)", after, before)
	}
	served("after the restart in place")

	// The killed director returns: it keeps the VMAC its run left, drops
	// the stale VIP as backup and preempts.
	p1 = start(0, c1)
	wait("director 1 takes the VIP back", func() bool { return holds(0) && !holds(1) })
	served("after the preemption")

	// A clean stop removes the VMAC, as keepalived's does.
	for i, p := range []*exec.Cmd{p1, p2} {
		if err := l.Stop(p); err != nil {
			t.Fatal(err)
		}
		if ln := link(i); ln != "" {
			t.Errorf("director %d kept vrrp.51 after a clean stop:\n%s", i+1, ln)
		}
	}
}
