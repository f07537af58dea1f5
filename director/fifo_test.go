package director

import (
	"bufio"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/health"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vrrp"
)

// keepalived 2.2.7's lines, as seen in its FIFOs.
func TestFIFOLineFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{instanceLine("VI_1", vrrp.Event{Kind: vrrp.EventState, State: vrrp.StateBackup, Priority: 100}), `INSTANCE "VI_1" BACKUP 100`},
		{instanceLine("VI_1", vrrp.Event{Kind: vrrp.EventState, State: vrrp.StateInit, Priority: 80}), `INSTANCE "VI_1" STOP 80`},
		{instanceLine("VI_1", vrrp.Event{Kind: vrrp.EventState, State: vrrp.StateFault, Priority: 100}), `INSTANCE "VI_1" FAULT 100`},
		{instanceLine("VI_1", vrrp.Event{Kind: vrrp.EventPriority, State: vrrp.StateMaster, Priority: 100}), `INSTANCE "VI_1" MASTER_PRIORITY 100`},
		{instanceLine("VI_1", vrrp.Event{Kind: vrrp.EventPriority, State: vrrp.StateFault, Priority: 80}), `INSTANCE "VI_1" BACKUP_PRIORITY 80`},
		{instanceLine("VI_1", vrrp.Event{Kind: vrrp.EventMasterRxLowerPri, State: vrrp.StateMaster, Priority: 100}), `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`},
		{groupLine("G1", vrrp.StateMaster), `GROUP "G1" MASTER 0`},
		{groupLine("G1", vrrp.StateInit), `GROUP "G1" STOP 0`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	s := config.Service{VIP: netip.MustParseAddr("192.168.201.15"), Port: 80, Protocol: config.TCP}
	r := config.RealServer{Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if got := rsLine(s, r, true); got != "RS [10.0.0.1]:tcp:80 [192.168.201.15]:tcp:80 UP" {
		t.Errorf("rsLine = %q", got)
	}
	s6 := config.Service{VIP: netip.MustParseAddr("2001:db8::15"), Port: 53, Protocol: config.UDP}
	r6 := config.RealServer{Address: netip.MustParseAddr("fe80::1%eth0"), Port: 5353}
	if got := rsLine(s6, r6, false); got != "RS [fe80::1]:udp:5353 [2001:db8::15]:udp:53 DOWN" {
		t.Errorf("rsLine = %q", got)
	}
	if got := vsLine(s, false); got != "VS [192.168.201.15]:tcp:80 DOWN" {
		t.Errorf("vsLine = %q", got)
	}
}

// fifoReader reads a FIFO's lines from now on.
type fifoReader struct {
	mu    sync.Mutex
	lines []string
	eof   chan struct{}
}

func readFIFO(t *testing.T, path string) *fifoReader {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &fifoReader{eof: make(chan struct{})}
	go func() {
		defer close(r.eof)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { f.Close() })
	return r
}

func (r *fifoReader) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// waitLines waits until the lines read end with want (and returns them).
func waitLines(t *testing.T, got func() []string, what string, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g := got()
		if len(g) >= len(want) && slices.Equal(g[len(g)-len(want):], want) {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: lines\n%s\nwant them to end with\n%s", what, strings.Join(g, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Priority lines only with notify_priority_changes; the others always.
func TestVRRPEventLinesFollowPriorityOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vrrp.fifo")
	log := slog.New(slog.DiscardHandler)
	fifos := newFIFOSet(log)
	fifos.update(&config.Config{VRRPNotifyFIFO: config.NotifyFIFO{Path: path}})
	defer fifos.closeAll()
	rd := readFIFO(t, path)
	s := &vrrpSet{d: &Director{log: log, fifos: fifos}}
	on, off := &atomic.Bool{}, &atomic.Bool{}
	on.Store(true)
	prio := vrrp.Event{Kind: vrrp.EventPriority, State: vrrp.StateBackup, Priority: 80}
	s.onEvent("VI_1", nil, off, vrrp.Event{Kind: vrrp.EventState, State: vrrp.StateBackup, Priority: 100})
	s.onEvent("VI_1", nil, off, prio)
	s.onEvent("VI_1", nil, off, vrrp.Event{Kind: vrrp.EventMasterRxLowerPri, State: vrrp.StateMaster, Priority: 100})
	s.onEvent("VI_2", nil, on, prio)
	waitLines(t, rd.got, "lines", `INSTANCE "VI_1" BACKUP 100`, `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`, `INSTANCE "VI_2" BACKUP_PRIORITY 80`)
}

// A director's FIFOs, as SIGHUP and stop drive them: the VRRP lines of a
// sync group's instance (group and instance in keepalived's order, the
// priority moved by a failing track_script) reach notify_fifo and
// vrrp_notify_fifo's script; a real server whose TCP check fails writes
// RS DOWN, and VS DOWN as the service loses its quorum, to notify_fifo
// and lvs_notify_fifo only; a reload keeps the FIFOs open (the same
// script) and, with fifo_write_vrrp_states_on_reload, writes the states;
// at stop the script gets SIGTERM, then the STOP lines, then end of file.
func TestNotifyFIFOsThroughReloadAndStop(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "fifo-d-")
	vethPair(t, ns, "10.79.0.1/24")
	dir := t.TempDir()
	all, vrrpF, lvsF := filepath.Join(dir, "all.fifo"), filepath.Join(dir, "vrrp.fifo"), filepath.Join(dir, "lvs.fifo")
	logFile, fail := filepath.Join(dir, "reader.log"), filepath.Join(dir, "fail")
	reader := filepath.Join(dir, "reader.sh")
	if err := os.WriteFile(reader, []byte(`#!/bin/bash
echo "args: $*" >> `+logFile+`
trap 'echo GOT-TERM >> `+logFile+`' TERM
while read -r line; do echo "$line" >> `+logFile+`; done < "$1"
echo EOF >> `+logFile+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rsAddr, stopRS := acceptingPort(t)
	port := rsAddr.Port()
	rs := netip.MustParseAddr("127.0.0.1")
	on := true
	mk := func(statesOnReload bool) *config.Config {
		return &config.Config{
			NotifyFIFO:                  config.NotifyFIFO{Path: all},
			VRRPNotifyFIFO:              config.NotifyFIFO{Path: vrrpF, Script: reader},
			LVSNotifyFIFO:               config.NotifyFIFO{Path: lvsF},
			FIFOWriteVRRPStatesOnReload: statesOnReload,
			ScriptUser:                  config.ScriptUser{User: "root"},
			VRRP: []config.VRRPInstance{{
				Name: "VI_1", Interface: "veth0", VirtualRouterID: 19, Priority: 100, Version: 3,
				AdvertInterval: 100 * time.Millisecond, Preempt: true,
				VirtualAddrs: []netip.Addr{netip.MustParseAddr("10.79.0.100")},
				TrackScripts: []config.TrackScript{{Name: "chk"}}, NotifyPriorityChanges: &on,
			}},
			VRRPScripts:    []config.VRRPScript{{Name: "chk", Script: "test ! -e " + fail, Interval: 100 * time.Millisecond, Timeout: time.Second, Weight: -20, Rise: 1, Fall: 1}},
			VRRPSyncGroups: []config.VRRPSyncGroup{{Name: "G1", Group: []string{"VI_1"}}},
			Services: []config.Service{{
				VIP: netip.MustParseAddr("10.79.0.100"), Port: 80, Protocol: config.TCP, DelayLoop: 100 * time.Millisecond,
				RealServers: []config.RealServer{{Address: rs, Port: port, Weight: 1,
					Check: &config.Check{Type: config.TCPCheck, ConnectTimeout: 200 * time.Millisecond, Rise: 1, Fall: 1}}},
			}},
		}
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg := mk(false)
	d := &Director{log: log, notify: newNotifier(log), cfg: cfg, up: map[string]bool{},
		macs: map[netip.Addr]net.HardwareAddr{rs: {2, 0, 0, 0, 0, 1}}}
	d.fifos = newFIFOSet(log)
	d.fifos.update(cfg)
	defer d.fifos.closeAll()
	// vrrp_notify_fifo is its script's alone: two readers would share its lines.
	allRd, lvsRd := readFIFO(t, all), readFIFO(t, lvsF)
	readerLog := func() []string {
		b, _ := os.ReadFile(logFile)
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}

	// The LVS side: health events as the director takes them, minus the
	// datapath.
	d.mu.Lock()
	d.updateQuorumLocked(d.cfg) // first judgement: no line
	d.mu.Unlock()
	hc := health.NewManager(log, func(ev health.Event) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if prev, ok := d.up[ev.Key]; !ok || prev != ev.Up {
			d.setUpLocked(ev.Key, ev.Up)
			d.updateQuorumLocked(d.cfg)
		}
	})
	defer hc.Close()
	hc.Update(targets(cfg, nil))

	s := &vrrpSet{d: d, runs: map[string]*vrrpRun{}}
	d.vrrp = s
	update := func(c *config.Config) {
		ns.Do(t, func() error { return s.update(c) })
	}
	update(cfg)
	rsUp := "RS [127.0.0.1]:tcp:" + strconv.Itoa(int(port)) + " [10.79.0.100]:tcp:80 UP"
	vsUp := "VS [10.79.0.100]:tcp:80 UP"
	waitLines(t, lvsRd.got, "server up", rsUp, vsUp)
	waitLines(t, readerLog, "backup then master",
		"args: "+vrrpF, `GROUP "G1" BACKUP 0`, `INSTANCE "VI_1" BACKUP 100`, `INSTANCE "VI_1" MASTER 100`, `GROUP "G1" MASTER 0`)
	writeValue(t, fail, "1")
	waitLines(t, readerLog, "script failing", `INSTANCE "VI_1" MASTER_PRIORITY 80`)

	stopRS() // the real server goes away: its check fails
	waitLines(t, lvsRd.got, "server down", rsUp, vsUp, strings.Replace(rsUp, "UP", "DOWN", 1), "VS [10.79.0.100]:tcp:80 DOWN")

	// SIGHUP: same FIFOs, states written.
	cfg2 := mk(true)
	d.fifos.update(cfg2)
	update(cfg2)
	s.writeStates()
	waitLines(t, readerLog, "reload", `INSTANCE "VI_1" MASTER_PRIORITY 80`, `INSTANCE "VI_1" MASTER 80`, `GROUP "G1" MASTER 0`)

	// Stop as Director.Close does.
	d.fifos.terminate()
	s.stopAll(false)
	d.fifos.closeAll()
	lines := waitLines(t, readerLog, "stop", "GOT-TERM", `INSTANCE "VI_1" STOP 80`, `GROUP "G1" STOP 0`, "EOF")
	if n := strings.Count(strings.Join(lines, "\n"), "args: "); n != 1 {
		t.Errorf("the fifo script started %d times, want once (a reload keeps it): %q", n, lines)
	}
	<-allRd.eof
	<-lvsRd.eof
	// notify_fifo got both kinds of lines; vrrp_notify_fifo none of LVS.
	allLines := allRd.got()
	for _, want := range []string{rsUp, `INSTANCE "VI_1" MASTER 100`, `GROUP "G1" STOP 0`, "VS [10.79.0.100]:tcp:80 DOWN"} {
		if !slices.Contains(allLines, want) {
			t.Errorf("notify_fifo lacks %q: %q", want, allLines)
		}
	}
	for _, l := range lvsRd.got() {
		if !strings.HasPrefix(l, "VS ") && !strings.HasPrefix(l, "RS ") {
			t.Errorf("lvs_notify_fifo got a VRRP line %q", l)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "VS ") || strings.HasPrefix(l, "RS ") {
			t.Errorf("vrrp_notify_fifo got an LVS line %q", l)
		}
	}
	for _, p := range []string{all, vrrpF, lvsF} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}

// The director reports each open FIFO's written and dropped lines (for
// xlb_notify_fifo_*_lines_total), by keyword; a reload that keeps a FIFO
// keeps its counts, and a closed one is no longer listed.
func TestFIFOStatusCounts(t *testing.T) {
	dir := t.TempDir()
	all, lvs := filepath.Join(dir, "all.fifo"), filepath.Join(dir, "lvs.fifo")
	s := newFIFOSet(slog.New(slog.DiscardHandler))
	defer s.closeAll()
	s.update(&config.Config{NotifyFIFO: config.NotifyFIFO{Path: all}, LVSNotifyFIFO: config.NotifyFIFO{Path: lvs}})
	s.vrrp(`INSTANCE "VI_1" MASTER 100`)
	s.lvs(`VS [10.0.0.1]:tcp:80 UP`)
	s.lvs(`VS [10.0.0.1]:tcp:80 DOWN`)
	want := []FIFOStatus{{Keyword: "lvs_notify_fifo", Path: lvs, Lines: 2}, {Keyword: "notify_fifo", Path: all, Lines: 3}}
	if got := s.status(); !slices.Equal(got, want) {
		t.Fatalf("status %+v, want %+v", got, want)
	}
	// Nobody reads: a 64 KB pipe fills and the rest is dropped, counted.
	line := strings.Repeat("x", 1000)
	for range 100 {
		s.lvs(line)
	}
	st := s.status()
	if len(st) != 2 || st[0].Dropped == 0 || st[0].Lines+st[0].Dropped != 102 {
		t.Fatalf("after filling the pipes: %+v", st)
	}
	s.update(&config.Config{NotifyFIFO: config.NotifyFIFO{Path: all}})
	if got := s.status(); len(got) != 1 || got[0] != st[1] {
		t.Fatalf("after a reload keeping notify_fifo only: %+v, want [%+v]", got, st[1])
	}
}
