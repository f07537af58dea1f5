package vrrp

import (
	"bytes"
	"fmt"
	"github.com/xlb-project/xlb/internal/nstest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// keepalivedProc is one keepalived we started in a namespace.
type keepalivedProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	vrrpPid string
	out     *lockedBuf
	done    chan struct{}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func keepalivedBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("keepalived")
	if err != nil {
		for _, c := range []string{"/usr/sbin/keepalived", "/sbin/keepalived"} {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		}
		t.Skip("keepalived binary not installed (apt-get install keepalived); skipping interop test")
	}
	return p
}

func startKeepalived(t *testing.T, bin string, ns *nstest.NS, state string, prio int) *keepalivedProc {
	t.Helper()
	return startKeepalivedConf(t, bin, ns, state, fmt.Sprintf(`global_defs {
    router_id xlb_interop_%s
}
vrrp_instance VI_1 {
    state %s
    interface veth0
    virtual_router_id 42
    priority %d
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass xlbpass
    }
    virtual_ipaddress {
        10.77.0.100/32
    }
}
`, ns.Name, state, prio))
}

func startKeepalivedConf(t *testing.T, bin string, ns *nstest.NS, state, conf string) *keepalivedProc {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &keepalivedProc{t: t, vrrpPid: filepath.Join(dir, "vrrp.pid"), out: &lockedBuf{}, done: make(chan struct{})}
	// -P: VRRP only; -n: stay in the foreground; -l -D: log to the console
	// in detail; -R: do not respawn a killed VRRP child (so SIGKILL is a
	// real crash). "ip netns exec" execs keepalived, so cmd's PID is
	// keepalived's parent process.
	k.cmd = exec.Command("ip", "netns", "exec", ns.Name, bin,
		"-P", "-n", "-l", "-D", "-R",
		"-f", cf,
		"-p", filepath.Join(dir, "keepalived.pid"),
		"-r", k.vrrpPid,
		"-c", filepath.Join(dir, "checkers.pid"),
	)
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start keepalived: %v", err)
	}
	go func() { k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.stopHard()
		if testing.Verbose() {
			t.Logf("keepalived (%s, %s) log:\n%s", ns.Name, state, k.out.String())
		}
	})
	return k
}

func (k *keepalivedProc) childPid() int {
	b, err := os.ReadFile(k.vrrpPid)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// terminate sends SIGTERM (keepalived then sends priority 0 and removes
// its VIPs) and waits for exit, bounded.
func (k *keepalivedProc) terminate() {
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		k.t.Errorf("keepalived did not exit on SIGTERM")
		k.stopHard()
	}
}

// kill SIGKILLs the VRRP child (the process that holds the VRRP socket)
// and then the parent, like a crash of the whole daemon.
func (k *keepalivedProc) kill() {
	if pid := k.childPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	k.cmd.Process.Kill()
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		k.t.Errorf("keepalived did not die on SIGKILL")
	}
}

func (k *keepalivedProc) stopHard() {
	select {
	case <-k.done:
		return
	default:
	}
	if pid := k.childPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	k.cmd.Process.Kill()
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
	}
}

// complaints returns keepalived log lines about packets it rejected.
func (k *keepalivedProc) complaints() []string {
	// "bad" as a word only: keepalived logs the link-local address it
	// assigns, whose random hex once read "...:fe4c:1bad for interface".
	re := regexp.MustCompile(`(?i)(invalid|bogus|\bbad\b|mismatch|error|ignor|wrong|auth)`)
	var out []string
	for _, l := range strings.Split(k.out.String(), "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

func interopCfg(name string, prio int) config.VRRPInstance {
	return pairCfg(name, prio, 2, time.Second)
}

// keepalived MASTER, xlb BACKUP: xlb accepts keepalived's adverts, takes
// over when keepalived is SIGKILLed, yields when it returns (keepalived
// preempts), and takes over after Skew_Time on keepalived's priority 0.
func TestInteropKeepalivedMaster(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, b := setupPair(t)
	ka := startKeepalived(t, bin, a.ns, "MASTER", 150)
	if d, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
		t.Fatalf("keepalived never took the VIP; log:\n%s", ka.out.String())
	} else {
		t.Logf("keepalived master after %v", d)
	}
	b.start(interopCfg("xlb", 100))
	time.Sleep(4 * time.Second)
	st := b.inst.Stats()
	if b.inst.State() != StateBackup || b.hasVIP(vipAddr) {
		t.Fatalf("xlb state %v with VIP %v while keepalived is master; stats %+v", b.inst.State(), b.hasVIP(vipAddr), st)
	}
	if st.AdvertsReceived < 3 || len(st.Invalid) != 0 {
		t.Fatalf("xlb did not accept keepalived's adverts: %+v", st)
	}

	mdi := b.inst.MasterDownInterval()
	killed := time.Now()
	ka.kill()
	if _, ok := b.waitVIP(vipAddr, true, mdi+2*time.Second); !ok {
		t.Fatalf("xlb did not take over after keepalived was killed")
	}
	t.Logf("xlb took over %v after keepalived SIGKILL (Master_Down_Interval %v)", time.Since(killed), mdi)
	// keepalived died holding the VIP in its namespace (as a real crash
	// would); clear it before restarting keepalived there.
	a.ns.Do(t, func() error {
		out, err := exec.Command("ip", "addr", "del", "10.77.0.100/32", "dev", "veth0").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	ka2 := startKeepalived(t, bin, a.ns, "BACKUP", 150)
	if _, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
		t.Fatalf("keepalived did not preempt xlb; log:\n%s", ka2.out.String())
	}
	if _, ok := b.waitVIP(vipAddr, false, 3*time.Second); !ok {
		t.Fatal("xlb kept the VIP after keepalived preempted")
	}
	t.Logf("keepalived (priority 150) preempted xlb")
	time.Sleep(2 * time.Second)

	stopped := time.Now()
	ka2.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := b.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("xlb did not take over after keepalived's SIGTERM")
	}
	t.Logf("xlb took over %v after keepalived SIGTERM (priority 0; Skew_Time %v)", time.Since(stopped), b.inst.SkewTime())
	ka2.terminate()
	if b.inst.Stats().PriorityZeroReceived == 0 {
		t.Errorf("no priority-0 advert seen from keepalived: %+v", b.inst.Stats())
	}
	if c := append(ka.complaints(), ka2.complaints()...); len(c) != 0 {
		t.Logf("keepalived log lines worth a look:\n%s", strings.Join(c, "\n"))
	}
}

// xlb MASTER, keepalived BACKUP: keepalived accepts xlb's adverts (stays
// backup without the VIP) and takes over when xlb stops.
func TestInteropXLBMaster(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, b := setupPair(t)
	a.start(interopCfg("xlb", 150))
	if _, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
		t.Fatal("xlb never became master")
	}
	kb := startKeepalived(t, bin, b.ns, "BACKUP", 100)
	time.Sleep(6 * time.Second)
	if b.hasVIP(vipAddr) {
		t.Fatalf("keepalived took the VIP while xlb is master; log:\n%s", kb.out.String())
	}
	if a.inst.State() != StateMaster {
		t.Fatalf("xlb state %v", a.inst.State())
	}
	log := kb.out.String()
	if !strings.Contains(log, "BACKUP") {
		t.Logf("keepalived log:\n%s", log)
	}
	if c := kb.complaints(); len(c) != 0 {
		t.Errorf("keepalived complained about xlb's adverts:\n%s", strings.Join(c, "\n"))
	}

	// Graceful stop: xlb sends priority 0, keepalived takes over.
	stopped := time.Now()
	a.stop()
	if _, ok := b.waitVIP(vipAddr, true, 5*time.Second); !ok {
		t.Fatalf("keepalived did not take over after xlb stopped; log:\n%s", kb.out.String())
	}
	t.Logf("keepalived took over %v after xlb's priority 0", time.Since(stopped))

	// SIGKILL-like crash path: restart xlb (preempts keepalived), then kill.
	a.start(interopCfg("xlb", 150))
	if _, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
		t.Fatal("xlb did not preempt keepalived")
	}
	if _, ok := b.waitVIP(vipAddr, false, 3*time.Second); !ok {
		t.Fatal("keepalived kept the VIP after xlb preempted")
	}
	t.Logf("xlb (priority 150) preempted keepalived")
	time.Sleep(2 * time.Second)
	killed := a.kill()
	if _, ok := b.waitVIP(vipAddr, true, 8*time.Second); !ok {
		t.Fatalf("keepalived did not take over after xlb was killed; log:\n%s", kb.out.String())
	}
	t.Logf("keepalived took over %v after xlb was killed", time.Since(killed))
	a.owner.ReleaseAll()
	kb.terminate()
}

// VRRPv3 with a 100 ms advert interval against keepalived: exercises the
// pseudo-header checksum and centisecond intervals in both directions.
func TestInteropV3(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	a.start(pairCfg("xlb", 150, 3, adv))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("xlb never became master")
	}
	kb := startKeepalivedConf(t, bin, b.ns, "BACKUP", fmt.Sprintf(`global_defs {
    router_id xlb_interop_%s
    vrrp_version 3
}
vrrp_instance VI_1 {
    state BACKUP
    interface veth0
    virtual_router_id 42
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        10.77.0.100/32
    }
}
`, b.ns.Name))
	time.Sleep(2 * time.Second)
	// On a loaded machine a 100 ms advert can be late enough for keepalived
	// to step up briefly; it must hand back at once, so judge the end state.
	if _, ok := a.waitVIP(vipAddr, true, time.Second); !ok || a.inst.State() != StateMaster {
		t.Fatalf("xlb lost mastership to keepalived (v3): keepalived VIP %v, xlb state %v, stats %+v; log:\n%s",
			b.hasVIP(vipAddr), a.inst.State(), a.inst.Stats(), kb.out.String())
	}
	if _, ok := b.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatalf("keepalived holds the VIP while xlb is master; log:\n%s", kb.out.String())
	}
	if c := kb.complaints(); len(c) != 0 {
		t.Errorf("keepalived complained about xlb's v3 adverts:\n%s", strings.Join(c, "\n"))
	}
	mdi := 3*adv + (256-100)*10/256*10*time.Millisecond // keepalived's own v3 arithmetic
	killed := a.kill()
	if _, ok := b.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("keepalived did not take over; log:\n%s", kb.out.String())
	}
	t.Logf("v3: keepalived took over %v after xlb was killed (its Master_Down_Interval ≈ %v)", time.Since(killed), mdi)
	a.owner.ReleaseAll()

	// A lower-priority xlb backup must accept keepalived's v3 adverts.
	a.start(pairCfg("xlb", 50, 3, adv))
	time.Sleep(time.Second)
	// Judge acceptance by counters, not state: under heavy CPU load a
	// late 100 ms advert can make the backup step up for a moment.
	st := a.inst.Stats()
	if st.AdvertsReceived < 5 || len(st.Invalid) != 0 {
		t.Fatalf("xlb v3 backup did not accept keepalived's adverts: state %v, stats %+v", a.inst.State(), st)
	}
	if _, ok := a.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatal("xlb v3 backup holds the VIP while keepalived is master")
	}
	stopped := time.Now()
	kb.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("xlb did not take over after keepalived's priority 0")
	}
	t.Logf("v3: xlb took over %v after keepalived SIGTERM (Skew_Time %v)", time.Since(stopped), a.inst.SkewTime())
	kb.terminate()
}

// VRRPv3 over IPv6 with keepalived: keepalived accepts xlb's adverts (it
// stays backup and complains of nothing) and takes over when xlb dies; an
// xlb backup accepts keepalived's and takes over at its priority 0.
func TestInteropV3IPv6(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("fd00:77::100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	cfg := func(prio int) config.VRRPInstance {
		c := pairCfg("xlb", prio, 3, adv)
		c.VirtualAddrs = []netip.Addr{vipAddr}
		return c
	}
	a.start(cfg(150))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("xlb never became master")
	}
	kb := startKeepalivedConf(t, bin, b.ns, "BACKUP", fmt.Sprintf(`global_defs {
    router_id xlb_interop_%s
}
vrrp_instance VI_6 {
    state BACKUP
    interface veth0
    virtual_router_id 42
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        fd00:77::100/128
    }
}
`, b.ns.Name))
	time.Sleep(2 * time.Second)
	if _, ok := a.waitVIP(vipAddr, true, time.Second); !ok || a.inst.State() != StateMaster {
		t.Fatalf("xlb lost mastership to keepalived (IPv6): keepalived VIP %v, xlb state %v; log:\n%s", b.hasVIP(vipAddr), a.inst.State(), kb.out.String())
	}
	if _, ok := b.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatalf("keepalived holds the IPv6 VIP while xlb is master; log:\n%s", kb.out.String())
	}
	var complaints []string
	for _, c := range kb.complaints() {
		// keepalived's advice for any global first VIP, not about packets.
		if !strings.Contains(c, "should be link local") {
			complaints = append(complaints, c)
		}
	}
	if len(complaints) != 0 {
		t.Errorf("keepalived complained about xlb's IPv6 adverts:\n%s", strings.Join(complaints, "\n"))
	}
	killed := a.kill()
	if _, ok := b.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("keepalived did not take over; log:\n%s", kb.out.String())
	}
	t.Logf("IPv6: keepalived took over %v after xlb was killed", time.Since(killed))
	a.owner.ReleaseAll()

	a.start(cfg(50))
	time.Sleep(time.Second)
	if st := a.inst.Stats(); st.AdvertsReceived < 5 || len(st.Invalid) != 0 {
		t.Fatalf("xlb IPv6 backup did not accept keepalived's adverts: state %v, stats %+v", a.inst.State(), st)
	}
	stopped := time.Now()
	kb.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("xlb did not take over after keepalived's priority 0")
	}
	t.Logf("IPv6: xlb took over %v after keepalived SIGTERM", time.Since(stopped))
	kb.terminate()
}

// keepalived 2.2.7 with old_unicast_checksum (the checksum of keepalived
// before 1.3.6, which a cluster still running one needs) and xlb with
// unicast VRRPv3: xlb, left at its default, switches to the old form on
// keepalived's first advert and stays backup; keepalived then accepts
// xlb's adverts (no complaint, it stays backup) once xlb is master. With
// unicast_checksum standard xlb refuses them and both become master, which
// is why the default switches.
func TestInteropOldUnicastChecksum(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, b := setupPair(t)
	conf := func(prio int) string {
		return fmt.Sprintf(`global_defs {
    router_id xlb_interop_%s
    vrrp_version 3
}
vrrp_instance VI_1 {
    state BACKUP
    interface veth0
    virtual_router_id 42
    priority %d
    advert_int 0.1
    unicast_src_ip 10.77.0.2
    unicast_peer {
        10.77.0.1
    }
    old_unicast_checksum
    virtual_ipaddress {
        10.77.0.100/32
    }
}
`, b.ns.Name, prio)
	}
	xlb := func(mode string) config.VRRPInstance {
		c := pairCfg("xlb", 100, 3, 100*time.Millisecond)
		c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.77.0.2")}
		c.UnicastChecksum = mode
		return c
	}
	kb := startKeepalivedConf(t, bin, b.ns, "BACKUP", conf(150))
	if _, ok := b.waitVIP(vipAddr, true, 5*time.Second); !ok {
		t.Fatalf("keepalived never became master; log:\n%s", kb.out.String())
	}

	// unicast_checksum standard: every advert refused, and xlb takes the
	// VIP too.
	a.start(xlb("standard"))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("with the standard checksum xlb did not step up: state %v, stats %+v", a.inst.State(), a.inst.Stats())
	}
	if st := a.inst.Stats(); st.Invalid[ReasonBadChecksum] == 0 || st.OldUnicastChecksum {
		t.Fatalf("with the standard checksum: stats %+v, want bad checksums and no switch", st)
	}
	a.stop()
	a.owner.ReleaseAll()
	// keepalived heard xlb's standard adverts (priority 100 < 150) as bad
	// checksums; it must still be master.
	if _, ok := b.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("keepalived lost the VIP; log:\n%s", kb.out.String())
	}

	// The default: the first advert switches xlb, which stays backup.
	a.start(xlb(""))
	time.Sleep(time.Second)
	st := a.inst.Stats()
	if !st.OldUnicastChecksum || st.AdvertsReceived < 5 || len(st.Invalid) != 0 {
		t.Fatalf("xlb did not switch to keepalived's old checksum: state %v, stats %+v", a.inst.State(), st)
	}
	if _, ok := a.waitVIP(vipAddr, false, time.Second); !ok || a.inst.State() != StateBackup {
		t.Fatalf("xlb holds the VIP (state %v) while keepalived is master", a.inst.State())
	}

	// Now xlb is master and keepalived a lower-priority backup that
	// checks the old form: it must accept xlb's adverts.
	kb.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("xlb did not take over after keepalived's priority 0")
	}
	kb.terminate()
	kb2 := startKeepalivedConf(t, bin, b.ns, "BACKUP", conf(50))
	time.Sleep(2 * time.Second)
	if b.hasVIP(vipAddr) || a.inst.State() != StateMaster {
		t.Fatalf("keepalived took the VIP from xlb (xlb state %v): it refused xlb's old-form adverts; log:\n%s", a.inst.State(), kb2.out.String())
	}
	if c := kb2.complaints(); len(c) != 0 {
		t.Errorf("keepalived complained about xlb's adverts:\n%s", strings.Join(c, "\n"))
	}
	kb2.terminate()
}
