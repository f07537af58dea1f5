package director

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/internal/runas/runastest"
)

func TestNotifyScriptFindsTheServer(t *testing.T) {
	cfg := &config.Config{Services: []config.Service{{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP,
		RealServers: []config.RealServer{
			{Address: netip.MustParseAddr("192.168.101.3"), Port: 80, NotifyUp: "up3", NotifyDown: "down3", NotifyDownUser: config.ScriptUser{User: "nobody"}},
			{Address: netip.MustParseAddr("192.168.101.4"), Port: 80, NotifyUp: "up4"},
		},
	}}}
	s := cfg.Services[0]
	script, user, env := notifyScript(cfg, TargetKey(s, s.RealServers[1]), true)
	if script != "up4" || !user.IsZero() || !slices.Contains(env, "XLB_REAL_SERVER=192.168.101.4:80") ||
		!slices.Contains(env, "XLB_STATE=UP") || !slices.Contains(env, "XLB_SERVICE=tcp/192.168.101.100:80") {
		t.Errorf("rs 4 up: %q %v", script, env)
	}
	if script, user, env := notifyScript(cfg, TargetKey(s, s.RealServers[0]), false); script != "down3" || user.User != "nobody" || !slices.Contains(env, "XLB_STATE=DOWN") {
		t.Errorf("rs 3 down: %q as %+v, %v", script, user, env)
	}
	if script, _, _ := notifyScript(cfg, TargetKey(s, s.RealServers[1]), false); script != "" {
		t.Errorf("rs 4 has no notify_down, got %q", script)
	}
	if script, _, _ := notifyScript(cfg, "tcp/10.0.0.1:80/10.0.0.2:80", true); script != "" {
		t.Errorf("unknown target: %q", script)
	}
}

// A notify script runs in the background with its environment; close
// kills one that is still running (and what it started) and waits for it.
func TestNotifierRunsAndCloseKills(t *testing.T) {
	dir := t.TempDir()
	n := newNotifier(slog.New(slog.DiscardHandler))
	out := filepath.Join(dir, "out")
	n.run(`echo "$XLB_STATE $XLB_REAL_SERVER" > `+out, []string{"XLB_STATE=UP", "XLB_REAL_SERVER=192.168.101.3:80"}, runas.Root())
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(out)
		if err == nil && strings.TrimSpace(string(b)) == "UP 192.168.101.3:80" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("script output %q, %v", b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	started, marker := filepath.Join(dir, "started"), filepath.Join(dir, "survived")
	n.run("(sleep 2; touch "+marker+") & touch "+started+"; sleep 60", nil, runas.Root())
	for i := 0; i < 250; i++ {
		if _, err := os.Stat(started); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	n.close()
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("close took %v with a script sleeping 60 s", d)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("a process the script started outlived close")
	}
}

// quorum_up / quorum_down run when a service's quorum is gained or lost,
// not when it is first judged.
func TestQuorumScripts(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	rs := netip.MustParseAddr("192.168.101.3")
	svc := config.Service{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Quorum: 1,
		RealServers: []config.RealServer{{Address: rs, Port: 80, Weight: 1, Check: &config.Check{Type: config.TCPCheck}}},
		QuorumUp:    `echo "$XLB_STATE $XLB_SERVICE" >> ` + events,
		QuorumDown:  `echo "$XLB_STATE $XLB_SERVICE" >> ` + events,
	}
	d := &Director{
		log: slog.New(slog.DiscardHandler), notify: newNotifier(slog.New(slog.DiscardHandler)),
		cfg:  &config.Config{Services: []config.Service{svc}},
		macs: map[netip.Addr]net.HardwareAddr{rs: {2, 0, 0, 0, 0, 3}}, up: map[string]bool{},
	}
	key := TargetKey(svc, svc.RealServers[0])
	update := func() {
		d.updateQuorumLocked(d.cfg)
		d.notify.wg.Wait() // scripts run in the background; keep their order here
	}
	update() // first judgement: down, no script
	d.up[key] = true
	update()
	update() // no change, no script
	d.up[key] = false
	update()
	d.notify.close()
	b, _ := os.ReadFile(events)
	if got, want := strings.TrimSpace(string(b)), "UP tcp/192.168.101.100:80\nDOWN tcp/192.168.101.100:80"; got != want {
		t.Errorf("quorum scripts wrote %q, want %q", got, want)
	}
}

// Notify scripts run as their own user, else the configuration's
// script_user: a real server's notify_up (own user nobody, group daemon)
// through the notifier, a service's quorum_up (script_user) from the
// director.
func TestNotifyScriptsRunAsScriptUser(t *testing.T) {
	runastest.Nobody(t)
	daemon, err := runas.Lookup("nobody", "daemon")
	if err != nil {
		t.Skipf("skipped: no group daemon: %v", err)
	}
	dir := runastest.WritableDir(t)
	rsOut, quorumOut := filepath.Join(dir, "rs"), filepath.Join(dir, "quorum")
	rs := netip.MustParseAddr("192.168.101.3")
	svc := config.Service{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Quorum: 1,
		RealServers: []config.RealServer{{Address: rs, Port: 80, Weight: 1, Check: &config.Check{Type: config.TCPCheck},
			NotifyUp: runastest.IDScript(rsOut), NotifyUpUser: config.ScriptUser{User: "nobody", Group: "daemon"}}},
		QuorumUp: runastest.IDScript(quorumOut),
	}
	d := &Director{
		log: slog.New(slog.DiscardHandler), notify: newNotifier(slog.New(slog.DiscardHandler)),
		cfg:  &config.Config{Services: []config.Service{svc}, ScriptUser: config.ScriptUser{User: "nobody", Group: "nogroup"}},
		macs: map[netip.Addr]net.HardwareAddr{rs: {2, 0, 0, 0, 0, 3}}, up: map[string]bool{},
	}
	key := CheckKeys(svc, svc.RealServers[0])[0]
	d.updateQuorumLocked(d.cfg) // first judgement: no script
	d.setUpLocked(key, true)
	d.updateQuorumLocked(d.cfg)
	d.notify.wg.Wait() // close would kill them
	d.notify.close()
	if uid, gid, ok := runastest.ReadIDs(rsOut); !ok || uid != 65534 || gid != int(daemon.GID) {
		t.Errorf("notify_up ran as %d:%d (read %v), want its own nobody:daemon", uid, gid, ok)
	}
	if uid, gid, ok := runastest.ReadIDs(quorumOut); !ok || uid != 65534 || gid != 65534 {
		t.Errorf("quorum_up ran as %d:%d (read %v), want script_user nobody:nogroup", uid, gid, ok)
	}
}

// A MISC_CHECK's health target carries who its script runs as: its own
// user, else script_user; other checks run no script.
func TestTargetsRunAs(t *testing.T) {
	runastest.Nobody(t)
	misc := func(u config.ScriptUser) *config.Check {
		return &config.Check{Type: config.MiscCheck, Script: "true", User: u}
	}
	cfg := &config.Config{ScriptUser: config.ScriptUser{User: "nobody"}, EnableScriptSecurity: true, Services: []config.Service{{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP,
		RealServers: []config.RealServer{
			{Address: netip.MustParseAddr("192.168.101.3"), Port: 80, Check: misc(config.ScriptUser{User: "root"})},
			{Address: netip.MustParseAddr("192.168.101.4"), Port: 80, Check: misc(config.ScriptUser{})},
			{Address: netip.MustParseAddr("192.168.101.5"), Port: 80, Check: &config.Check{Type: config.TCPCheck}},
		},
	}}}
	ts := targets(cfg, nil)
	if c := ts[0].RunAs; c.UID != 0 || !c.Secure {
		t.Errorf("own user root: %+v", c)
	}
	if c := ts[1].RunAs; c.UID != 65534 || c.GID != 65534 || !c.Secure {
		t.Errorf("script_user nobody: %+v", c)
	}
	if c := ts[2].RunAs; c != (runas.Cred{}) {
		t.Errorf("a TCP check got a script user: %+v", c)
	}
}

// A VRRP instance's or sync group's notify scripts run as their own user,
// else script_user.
func TestNotifyCreds(t *testing.T) {
	runastest.Nobody(t)
	cfg := &config.Config{ScriptUser: config.ScriptUser{User: "nobody"}}
	c := instanceCreds(cfg, config.VRRPInstance{NotifyUsers: config.NotifyUsers{Master: config.ScriptUser{User: "root"}}})
	if c.Master.UID != 0 || c.Backup.UID != 65534 || c.Fault.UID != 65534 || c.Stop.UID != 65534 || c.Notify.UID != 65534 {
		t.Errorf("instance creds %+v", c)
	}
	g := groupCreds(cfg, config.VRRPSyncGroup{NotifyUsers: config.NotifyUsers{Notify: config.ScriptUser{User: "root"}}})
	if g.Notify.UID != 0 || g.Master.UID != 65534 {
		t.Errorf("group creds %+v", g)
	}
	// A user that cannot be resolved refuses the script, never root.
	if c := instanceCreds(cfg, config.VRRPInstance{NotifyUsers: config.NotifyUsers{Fault: config.ScriptUser{User: "no-such-user-xlb"}}}); c.Fault.Refused == "" {
		t.Errorf("unknown user gave %+v", c.Fault)
	}
}
