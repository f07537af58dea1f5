package director

import (
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/fixture"
	"github.com/xlb-project/xlb/health"
)

// reloadService is an rr service on 192.168.101.100:80 of real servers
// 192.168.101.(10+i), weight 1, as rrSpec has them (their MACs in
// reloadMACs).
func reloadService(rs ...config.RealServer) *config.Config {
	return &config.Config{Services: []config.Service{{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP,
		Scheduler: config.RR, Forward: config.DR, RealServers: rs,
	}}}
}

func reloadRS(i int, checks ...config.Check) config.RealServer {
	r := config.RealServer{Address: netip.AddrFrom4([4]byte{192, 168, 101, byte(10 + i)}), Port: 80, Weight: 1}
	if len(checks) > 0 {
		r.Check = &checks[0]
		r.MoreChecks = checks[1:]
	}
	return r
}

func reloadMACs() map[netip.Addr]net.HardwareAddr {
	out := map[netip.Addr]net.HardwareAddr{}
	for i := range 4 {
		out[netip.AddrFrom4([4]byte{192, 168, 101, byte(10 + i)})] = net.HardwareAddr{2, 0, 0, 0, 1, byte(10 + i)}
	}
	return out
}

// A reload keeps the state of the real servers it keeps, as keepalived's
// does: a check added to (or changed on) a server that is up starts up,
// so the server keeps serving and its service its quorum; a check of a
// server that was down, or of a server new to the configuration, starts
// down (alpha: it needs rise passes).
func TestReloadCarriesHealth(t *testing.T) {
	tcp := config.Check{Type: config.TCPCheck, Rise: 3, Fall: 2, DelayLoop: 2 * time.Second}
	tuned := tcp
	tuned.DelayLoop = 6 * time.Second
	http := config.Check{Type: config.HTTPCheck, Path: "/", Rise: 3, Fall: 2}
	misc := config.Check{Type: config.MiscCheck, Script: "/bin/true", Rise: 1, Fall: 1}
	svc := reloadService().Services[0]
	key := func(i int) string { return TargetKey(svc, reloadRS(i)) }
	for _, tc := range []struct {
		name     string
		old      []config.RealServer
		up       map[string]bool // the running health verdicts
		new      []config.RealServer
		want     []bool // available, by real server of new
		wantQuor bool
	}{
		{"check added to servers serving without one",
			[]config.RealServer{reloadRS(0), reloadRS(1)}, nil,
			[]config.RealServer{reloadRS(0, tcp), reloadRS(1, tcp)}, []bool{true, true}, true},
		{"check changed on a server that is up",
			[]config.RealServer{reloadRS(0, tcp)}, map[string]bool{key(0): true},
			[]config.RealServer{reloadRS(0, http)}, []bool{true}, true},
		{"check changed on a server that is down",
			[]config.RealServer{reloadRS(0, tcp)}, map[string]bool{key(0): false},
			[]config.RealServer{reloadRS(0, tuned)}, []bool{false}, false},
		{"second check added to a server that is up",
			[]config.RealServer{reloadRS(0, tcp)}, map[string]bool{key(0): true},
			[]config.RealServer{reloadRS(0, tcp, misc)}, []bool{true}, true},
		{"second check added to a server that is down",
			[]config.RealServer{reloadRS(0, tcp)}, map[string]bool{key(0): false},
			[]config.RealServer{reloadRS(0, tcp, misc)}, []bool{false}, false},
		{"server new to the configuration",
			[]config.RealServer{reloadRS(0)}, nil,
			[]config.RealServer{reloadRS(0), reloadRS(1, tcp)}, []bool{true, false}, true},
		// Removed while up, back with a check: new again, whatever an
		// earlier configuration left behind.
		{"server back after a reload removed it",
			[]config.RealServer{reloadRS(0, tcp)}, map[string]bool{key(0): false, key(1): true},
			[]config.RealServer{reloadRS(0, tcp), reloadRS(1, tcp)}, []bool{false, false}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, cfg := reloadService(tc.old...), reloadService(tc.new...)
			log := slog.New(slog.DiscardHandler)
			d := &Director{log: log, notify: newNotifier(log), cfg: old, macs: reloadMACs(), up: map[string]bool{}}
			maps.Copy(d.up, tc.up)
			d.mu.Lock()
			d.updateQuorumLocked(old) // the running judgement
			// The reload, as ApplyConfig takes it.
			d.cfg = cfg
			d.carryHealthLocked(old, cfg)
			d.updateQuorumLocked(cfg)
			specs := Specs(cfg, d.macs, d.up, 0, d.quorum)
			quorum := d.quorum[serviceKey(cfg.Services[0])]
			d.mu.Unlock()
			d.notify.close()
			for n, b := range specs[0].Backends {
				if b.Available != tc.want[n] {
					t.Errorf("%s: available %v, want %v", b.Addr, b.Available, tc.want[n])
				}
			}
			if quorum != tc.wantQuor {
				t.Errorf("quorum %v, want %v", quorum, tc.wantQuor)
			}
			// The checkers start as the datapath has them.
			for _, tg := range d.checkTargets(cfg, nil) {
				if tg.StartUp != d.up[tg.Key] {
					t.Errorf("%s: StartUp %v, director has up=%v", tg.Key, tg.StartUp, d.up[tg.Key])
				}
			}
		})
	}
}

// The QA case end to end, over a loaded datapath and real checkers: real
// servers serving without a check are given a tcp check (rise 3) by
// reload. New connections are forwarded at once after it and the service
// keeps its quorum; the server whose check fails goes out only after fall
// failed checks. A later reload pointing that server's check at a live
// port keeps it out until rise passes, and so does a server it adds.
func TestReloadAddingCheckKeepsServing(t *testing.T) {
	d := countingDirector(t)
	live, _ := acceptingPort(t)
	dead := func() uint16 { // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return netip.MustParseAddrPort(l.Addr().String()).Port()
	}()
	check := func(port uint16) config.Check {
		return config.Check{Type: config.TCPCheck, ConnectIP: live.Addr(), ConnectPort: port,
			ConnectTimeout: 100 * time.Millisecond, DelayLoop: 50 * time.Millisecond, Rise: 3, Fall: 2}
	}

	d.log = slog.New(slog.DiscardHandler)
	d.notify = newNotifier(d.log)
	d.cfg = reloadService(reloadRS(0), reloadRS(1))
	d.macs, d.up, d.weights, d.fileWeights = reloadMACs(), map[string]bool{}, map[string]int{}, map[string]int{}
	d.hc = health.NewManager(d.log, d.onHealth)
	t.Cleanup(func() { d.hc.Close(); d.notify.close() })
	d.mu.Lock()
	if err := d.applyLocked(); err != nil {
		t.Fatal(err)
	}
	d.mu.Unlock()
	k := serviceKey(d.cfg.Services[0])
	svc := d.cfg.Services[0]

	// reload does what ApplyConfig does with the real servers and checks.
	reload := func(cfg *config.Config) {
		t.Helper()
		d.mu.Lock()
		old := d.cfg
		d.cfg = cfg
		d.carryHealthLocked(old, cfg)
		err := d.applyLocked()
		d.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		d.hc.Update(d.checkTargets(cfg, nil))
	}
	// available is what the datapath holds after a sweep's reconcileHealth
	// (Run's), which takes the checkers' verdicts as the truth.
	available := func() map[netip.Addr]bool {
		d.reconcileHealth()
		out := map[netip.Addr]bool{}
		for _, b := range backends(t, d, k) {
			if b.Configured {
				out[b.Addr.Addr()] = b.Available
			}
		}
		return out
	}
	quorum := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.quorum[k]
	}
	waitAvailable := func(i int, want bool, within time.Duration) {
		t.Helper()
		a := reloadRS(i).Address
		deadline := time.Now().Add(within)
		for available()[a] != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: available not %v within %v", a, want, within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	rs0, rs1, rs2 := reloadRS(0).Address, reloadRS(1).Address, reloadRS(2).Address

	reload(reloadService(reloadRS(0, check(live.Port())), reloadRS(1, check(dead))))
	if got := available(); !got[rs0] || !got[rs1] || !quorum() {
		t.Fatalf("right after the reload adding checks: available %v, quorum %v; want both serving", got, quorum())
	}
	syn(t, d, fixture.Client(0), k) // a new connection is forwarded
	bad := TargetKey(svc, reloadRS(1))
	waitAvailable(1, false, health.Target{Check: check(dead)}.DetectionBound()+time.Second)
	if st, _ := d.hc.Status(bad); st.Failures < 2 {
		t.Errorf("out after %d failed checks, want fall=2", st.Failures)
	}
	if got := available(); !got[rs0] || !quorum() {
		t.Fatalf("the server passing its check: available %v, quorum %v", got, quorum())
	}

	// rs1, down, now checked on the live port; rs2 is new.
	reload(reloadService(reloadRS(0, check(live.Port())), reloadRS(1, check(live.Port())), reloadRS(2, check(live.Port()))))
	if got := available(); !got[rs0] || got[rs1] || got[rs2] {
		t.Fatalf("right after the second reload: available %v; want only %s", got, rs0)
	}
	waitAvailable(1, true, 2*time.Second)
	waitAvailable(2, true, 2*time.Second)
	for _, i := range []int{1, 2} {
		if st, _ := d.hc.Status(TargetKey(svc, reloadRS(i))); st.Checks < 3 {
			t.Errorf("%s up after %d checks, want rise=3", reloadRS(i).Address, st.Checks)
		}
	}
}

// A hitless restart keeps serving the real servers the adopted maps had
// available: their checks start up, so a first result short of rise (or
// fall) does not take them out; a server the maps had out starts down.
func TestAdoptedServersChecksStartUp(t *testing.T) {
	d := countingDirector(t)
	spec := rrSpec("192.168.101.100", 80, 2)
	spec.Backends[1].Available = false
	apply(t, d, spec)
	tcp := config.Check{Type: config.TCPCheck, Rise: 3, Fall: 2}
	d.cfg = reloadService(reloadRS(0, tcp), reloadRS(1, tcp))
	d.macs, d.up = map[netip.Addr]net.HardwareAddr{}, map[string]bool{}
	d.seedFromMaps()
	ts := d.checkTargets(d.cfg, nil)
	if len(ts) != 2 {
		t.Fatalf("%d targets, want 2", len(ts))
	}
	if !ts[0].StartUp || ts[1].StartUp {
		t.Fatalf("StartUp %v, %v; want the available server's check to start up, the other's down", ts[0].StartUp, ts[1].StartUp)
	}
}

// acceptingPort is a loopback TCP port that accepts every connection and
// closes it (what a TCP_CHECK needs to pass), until the test ends or stop
// is called (then connections are refused).
func acceptingPort(t *testing.T) (addr netip.AddrPort, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), func() { ln.Close() }
}

// A failed server that inhibit_on_failure keeps at weight 0 is still
// available in the maps; a hitless restart must find it down (its checks
// bring it back), not put it back in service until its checks fail again.
// A server configured at weight 0 (drained) is up as before.
func TestAdoptedInhibitedServerStartsDown(t *testing.T) {
	d := countingDirector(t)
	spec := rrSpec("192.168.101.100", 80, 3)
	spec.Backends[1].Weight = 0 // inhibited: configured 1, failed
	spec.Backends[2].Weight = 0 // drained: configured 0
	apply(t, d, spec)
	tcp := config.Check{Type: config.TCPCheck, Rise: 3, Fall: 2}
	drained := reloadRS(2, tcp)
	drained.Weight = 0
	d.cfg = reloadService(reloadRS(0, tcp), reloadRS(1, tcp), drained)
	d.cfg.Services[0].RealServers[1].InhibitOnFailure = true
	d.macs, d.up = map[netip.Addr]net.HardwareAddr{}, map[string]bool{}
	d.seedFromMaps()
	ts := d.checkTargets(d.cfg, nil)
	if len(ts) != 3 {
		t.Fatalf("%d targets, want 3", len(ts))
	}
	if !ts[0].StartUp || ts[1].StartUp || !ts[2].StartUp {
		t.Fatalf("StartUp %v, %v, %v; want the serving and the drained servers' checks up, the inhibited one's down", ts[0].StartUp, ts[1].StartUp, ts[2].StartUp)
	}
	if len(d.macs) != 3 {
		t.Fatalf("MACs of %d servers kept, want all 3", len(d.macs))
	}
}

// A reload that removes a checked real server while it is up reports it
// down (keepalived's reload writes its RS DOWN line and runs its
// notify_down); one that was down already, one without checks, or one the
// new configuration keeps, is not reported.
func TestRemovedUpServersAreReportedDown(t *testing.T) {
	tcp := config.Check{Type: config.TCPCheck, Rise: 1, Fall: 1}
	old := reloadService(reloadRS(0, tcp), reloadRS(1, tcp), reloadRS(2, tcp), reloadRS(3))
	cfg := reloadService(reloadRS(2, tcp))
	s := old.Services[0]
	up := map[string]bool{
		TargetKey(s, s.RealServers[0]): true,  // removed, up: reported
		TargetKey(s, s.RealServers[1]): false, // removed, down already
		TargetKey(s, s.RealServers[2]): true,  // kept
	}
	got := removedUpLocked(old, cfg, up)
	if len(got) != 1 || got[0].r.Address != s.RealServers[0].Address {
		t.Fatalf("reported %+v, want only %s", got, s.RealServers[0].Address)
	}
	if line := rsLine(got[0].s, got[0].r, false); !strings.Contains(line, "DOWN") || !strings.Contains(line, s.RealServers[0].Address.String()) {
		t.Fatalf("FIFO line %q", line)
	}
}
