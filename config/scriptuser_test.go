package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlb-project/xlb/internal/runas"
)

// needNobody skips, saying why, where the users the tests name are missing.
func needNobody(t *testing.T) {
	t.Helper()
	if _, err := runas.Lookup("nobody", "nogroup"); err != nil {
		t.Skipf("skipped: no nobody:nogroup on this machine: %v", err)
	}
}

// kaScripts has a script of every kind that takes a user: a global
// script_user, a tracked vrrp_script with a user (no group) and a
// MISC_CHECK with user and group.
const kaScripts = `global_defs {
    script_user nobody
    enable_script_security
}
vrrp_script chk {
    script "/bin/true x"
    interval 2
    user nobody nogroup
}
vrrp_script plain {
    script /bin/true
    interval 2
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 3
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_script {
        chk
        plain
    }
}
virtual_server 10.0.0.1 80 {
    lb_kind DR
    protocol TCP
    real_server 10.0.0.2 80 {
        MISC_CHECK {
            misc_path "/bin/true y"
            user nobody nogroup
        }
    }
}
`

func TestKeepalivedScriptUsers(t *testing.T) {
	needNobody(t)
	c, warns, err := ParseKeepalived("k.conf", []byte(kaScripts))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if c.ScriptUser != (ScriptUser{User: "nobody"}) || !c.EnableScriptSecurity {
		t.Errorf("global script_user %+v, enable_script_security %v", c.ScriptUser, c.EnableScriptSecurity)
	}
	if u := c.VRRPScripts[0].User; u != (ScriptUser{User: "nobody", Group: "nogroup"}) {
		t.Errorf("vrrp_script user = %+v", u)
	}
	if u := c.VRRPScripts[1].User; !u.IsZero() {
		t.Errorf("vrrp_script without user got %+v", u)
	}
	if u := c.Services[0].RealServers[0].Check.User; u != (ScriptUser{User: "nobody", Group: "nogroup"}) {
		t.Errorf("MISC_CHECK user = %+v", u)
	}
	// Who each runs as: its own user over script_user.
	own, err := c.ScriptCred(c.VRRPScripts[0].User)
	if err != nil || own.UID != 65534 || own.GID != 65534 || !own.Secure {
		t.Errorf("vrrp_script cred = %+v, %v", own, err)
	}
	global, err := c.ScriptCred(ScriptUser{})
	if err != nil || global.User != "nobody" || global.GID != 65534 {
		t.Errorf("script_user cred = %+v, %v; want nobody with its primary group", global, err)
	}

	out := assertRoundTrip(t, c)
	for _, want := range []string{"script_user: nobody\n", "enable_script_security: true\n", "user: nobody nogroup\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("converted YAML lacks %q:\n%s", want, out)
		}
	}
}

func TestKeepalivedScriptUserErrors(t *testing.T) {
	needNobody(t)
	tests := []struct {
		name, old, new string
		line           int
		field, msg     string
	}{
		{"unknown script_user", "script_user nobody", "script_user no-such-user-xlb", 2, "script_user", `user "no-such-user-xlb"`},
		{"unknown script_user group", "script_user nobody", "script_user nobody no-such-group-xlb", 2, "script_user", `group "no-such-group-xlb"`},
		{"unknown vrrp_script group", "user nobody nogroup\n}", "user nobody no-such-group-xlb\n}", 8, "vrrp_scripts[0].user", `group "no-such-group-xlb"`},
		{"unknown misc user", "misc_path \"/bin/true y\"\n            user nobody nogroup", "misc_path \"/bin/true y\"\n            user no-such-user-xlb", 32, "services[0].real_servers[0].check.user", `user "no-such-user-xlb"`},
		{"script_user without name", "script_user nobody", "script_user", 2, "script_user", "want script_user USERNAME [GROUPNAME], got 0 values"},
		{"user in a TCP_CHECK", "MISC_CHECK {\n            misc_path \"/bin/true y\"", "TCP_CHECK {\n            connect_timeout 3", 32, "user", "not a keyword of TCP_CHECK: keepalived 2.2.7 documents it in vrrp_script, MISC_CHECK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(kaScripts, tc.old) {
				t.Fatalf("kaScripts lacks %q", tc.old)
			}
			_, _, err := ParseKeepalived("k.conf", []byte(strings.Replace(kaScripts, tc.old, tc.new, 1)))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

// scriptDir is a root-owned directory of the given mode holding an
// executable script.sh, under a root-owned 0755 path.
func scriptDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: enable_script_security is about root-owned paths; needs root")
	}
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return script
}

// enable_script_security refuses, with file:line, a vrrp_script or
// MISC_CHECK that would run as root from a world-writable directory, and
// accepts it from a root-owned 0755 one or as another user; a notify
// script is only warned about (keepalived does not run it).
func TestScriptSecurity(t *testing.T) {
	needNobody(t)
	safe, unsafe := scriptDir(t, 0o755), scriptDir(t, 0o777)
	asRoot := strings.Replace(kaScripts, "script_user nobody", "script_user root", 1)
	asRoot = strings.ReplaceAll(asRoot, "user nobody nogroup", "user root")

	conf := strings.Replace(asRoot, `"/bin/true x"`, unsafe, 1)
	_, _, err := ParseKeepalived("k.conf", []byte(conf))
	wantProblem(t, err, "k.conf", 6, "vrrp_scripts[0].script", "refused by enable_script_security")
	if !strings.Contains(err.Error(), "writable by any user") {
		t.Errorf("error does not say why: %v", err)
	}
	conf = strings.Replace(asRoot, `"/bin/true y"`, unsafe, 1)
	_, _, err = ParseKeepalived("k.conf", []byte(conf))
	wantProblem(t, err, "k.conf", 31, "services[0].real_servers[0].check.script", "refused by enable_script_security")

	for _, ok := range []string{strings.Replace(asRoot, `"/bin/true x"`, safe, 1), strings.Replace(kaScripts, `"/bin/true x"`, unsafe, 1)} {
		if _, _, err := ParseKeepalived("k.conf", []byte(ok)); err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	// Without enable_script_security nothing is checked.
	if _, _, err := ParseKeepalived("k.conf", []byte(strings.Replace(strings.Replace(asRoot, `"/bin/true x"`, unsafe, 1), "enable_script_security\n", "", 1))); err != nil {
		t.Errorf("refused without enable_script_security: %v", err)
	}
	// An untracked vrrp_script never runs: not checked.
	untracked := strings.Replace(strings.Replace(asRoot, `"/bin/true x"`, unsafe, 1), "        chk\n", "", 1)
	if _, _, err := ParseKeepalived("k.conf", []byte(untracked)); err != nil {
		t.Errorf("untracked script refused: %v", err)
	}

	notify := strings.Replace(asRoot, "    track_script {", "    notify_master "+unsafe+"\n    track_script {", 1)
	_, warns, err := ParseKeepalived("k.conf", []byte(notify))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Line != 21 || !strings.Contains(warns[0].Msg, "vrrp[0].notify_master will not run") {
		t.Errorf("warnings %v, want one at line 21 saying notify_master will not run", warns)
	}
}

// With enable_script_security keepalived runs no script without a user when
// neither script_user nor the user keepalived_script exists.
func TestScriptSecurityNeedsAUser(t *testing.T) {
	needNobody(t)
	if _, found, err := runas.Default(); err != nil || found {
		t.Skipf("skipped: the user %s exists here (or cannot be looked up: %v)", runas.DefaultUser, err)
	}
	conf := strings.Replace(kaScripts, "    script_user nobody\n", "", 1)
	_, _, err := ParseKeepalived("k.conf", []byte(conf))
	wantProblem(t, err, "k.conf", 10, "vrrp_scripts[1].script", "keepalived_script does not exist")
	// Without it, root (with a warning from the daemon, see RootByDefault).
	conf = strings.Replace(conf, "    enable_script_security\n", "", 1)
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if cred, err := c.ScriptCred(ScriptUser{}); err != nil || cred.UID != 0 || cred.Secure {
		t.Errorf("default cred = %+v, %v; want root", cred, err)
	}
	if f := c.RootByDefault(); f != "vrrp_scripts[1].script" {
		t.Errorf("RootByDefault = %q, want the vrrp_script without a user", f)
	}
}

const yamlScripts = `script_user: {user: nobody, group: nogroup}
enable_script_security: true
vrrp_scripts:
  - name: chk
    script: /bin/true
    interval: 2s
    user: nobody
vrrp:
  - name: VI_1
    interface: eth0
    virtual_router_id: 3
    priority: 100
    virtual_ipaddress: [10.0.0.1]
    track_script: [chk]
services:
  - vip: 10.0.0.1
    port: 80
    protocol: tcp
    forward: dr
    real_servers:
      - address: 10.0.0.2
        check:
          type: misc
          script: /bin/true
          user: "nobody nogroup"
`

func TestYAMLScriptUsers(t *testing.T) {
	needNobody(t)
	c, err := ParseYAML("x.yaml", []byte(yamlScripts))
	if err != nil {
		t.Fatal(err)
	}
	if c.ScriptUser != (ScriptUser{User: "nobody", Group: "nogroup"}) || !c.EnableScriptSecurity ||
		c.VRRPScripts[0].User != (ScriptUser{User: "nobody"}) ||
		c.Services[0].RealServers[0].Check.User != (ScriptUser{User: "nobody", Group: "nogroup"}) {
		t.Errorf("read %+v %v %+v %+v", c.ScriptUser, c.EnableScriptSecurity, c.VRRPScripts[0].User, c.Services[0].RealServers[0].Check.User)
	}
	assertRoundTrip(t, c)

	tests := []struct {
		name, old, new string
		line           int
		field, msg     string
	}{
		{"unknown user", "    user: nobody\n", "    user: no-such-user-xlb\n", 7, "vrrp_scripts[0].user", `user "no-such-user-xlb"`},
		{"unknown group", `"nobody nogroup"`, `"nobody no-such-group-xlb"`, 25, "services[0].real_servers[0].check.user", `group "no-such-group-xlb"`},
		{"unknown global user", "{user: nobody, group: nogroup}", "{user: no-such-user-xlb}", 1, "script_user", `user "no-such-user-xlb"`},
		{"three words", `"nobody nogroup"`, `"a b c"`, 25, "services[0].real_servers[0].check.user", "want \"USER\""},
		{"mapping without user", "{user: nobody, group: nogroup}", "{group: nogroup}", 1, "script_user", "needs a user"},
		{"unknown key", "{user: nobody, group: nogroup}", "{user: nobody, gid: 1}", 1, "script_user.gid", "unknown key"},
		{"user on a tcp check", "type: misc\n          script: /bin/true\n", "type: tcp\n", 24, "services[0].real_servers[0].check.user", "applies only to misc checks"},
		{"security not a bool", "enable_script_security: true", "enable_script_security: maybe", 2, "enable_script_security", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(yamlScripts, tc.old) {
				t.Fatalf("yamlScripts lacks %q", tc.old)
			}
			_, err := ParseYAML("x.yaml", []byte(strings.Replace(yamlScripts, tc.old, tc.new, 1)))
			wantProblem(t, err, "x.yaml", tc.line, tc.field, tc.msg)
		})
	}
}

// keepalived 2's notify scripts take [USERNAME [GROUPNAME]] after the
// script: the words after the first (a quoted string is one word).
func TestKeepalivedNotifyUsers(t *testing.T) {
	needNobody(t)
	conf := strings.Replace(kaScripts, "    track_script {", `    notify_master /bin/true nobody nogroup
    notify "/bin/true arg" nobody
    notify_backup "/bin/true b"
    track_script {`, 1)
	conf = strings.Replace(conf, "        MISC_CHECK {", "        notify_up \"/bin/true up\" nobody\n        MISC_CHECK {", 1)
	conf = strings.Replace(conf, "    lb_kind DR\n", "    lb_kind DR\n    quorum_down /bin/true nobody\n", 1)
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	v := c.VRRP[0]
	if v.NotifyMaster != "/bin/true" || v.NotifyUsers.Master != (ScriptUser{User: "nobody", Group: "nogroup"}) ||
		v.Notify != "/bin/true arg" || v.NotifyUsers.Notify != (ScriptUser{User: "nobody"}) ||
		v.NotifyBackup != "/bin/true b" || !v.NotifyUsers.Backup.IsZero() {
		t.Errorf("instance notify scripts %q %q %q, users %+v", v.NotifyMaster, v.Notify, v.NotifyBackup, v.NotifyUsers)
	}
	s := c.Services[0]
	if r := s.RealServers[0]; r.NotifyUp != "/bin/true up" || r.NotifyUpUser != (ScriptUser{User: "nobody"}) {
		t.Errorf("notify_up %q as %+v", r.NotifyUp, r.NotifyUpUser)
	}
	if s.QuorumDown != "/bin/true" || s.QuorumDownUser != (ScriptUser{User: "nobody"}) {
		t.Errorf("quorum_down %q as %+v", s.QuorumDown, s.QuorumDownUser)
	}
	// The unquoted scripts followed by words are pointed out: an operator
	// may have meant arguments.
	var unquoted []int
	for _, w := range warns {
		if strings.Contains(w.Msg, "as keepalived 2 reads the words after a script") {
			unquoted = append(unquoted, w.Line)
		}
	}
	if len(unquoted) != 2 || unquoted[0] != 21 || unquoted[1] != 31 {
		t.Errorf("warnings %v, want the unquoted notify_master (line 21) and quorum_down (line 31)", warns)
	}
	out := assertRoundTrip(t, c)
	if !strings.Contains(string(out), `notify_master: {script: /bin/true, user: nobody nogroup}`) {
		t.Errorf("converted YAML lacks the notify_master's user:\n%s", out)
	}
	if cred, err := c.ScriptCred(v.NotifyUsers.Master); err != nil || cred.UID != 65534 {
		t.Errorf("notify_master cred %+v, %v", cred, err)
	}

	for _, tc := range []struct {
		edit       string
		line       int
		field, msg string
	}{
		{"notify_master /bin/true no-such-user-xlb", 21, "vrrp[0].notify_master.user", `user "no-such-user-xlb"`},
		{"notify_master /bin/true a b c", 21, "notify_master", "quote a script with arguments"},
	} {
		bad := strings.Replace(conf, "notify_master /bin/true nobody nogroup", tc.edit, 1)
		_, _, err := ParseKeepalived("k.conf", []byte(bad))
		wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
	}
}

func TestYAMLNotifyUsers(t *testing.T) {
	needNobody(t)
	y := strings.Replace(yamlScripts, "    track_script: [chk]\n", "    track_script: [chk]\n    notify_master: {script: /bin/true master, user: nobody nogroup}\n    notify_backup: /bin/true backup\n", 1)
	c, err := ParseYAML("x.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.NotifyMaster != "/bin/true master" || v.NotifyUsers.Master != (ScriptUser{User: "nobody", Group: "nogroup"}) ||
		v.NotifyBackup != "/bin/true backup" || !v.NotifyUsers.Backup.IsZero() {
		t.Errorf("notify %q %q, users %+v", v.NotifyMaster, v.NotifyBackup, v.NotifyUsers)
	}
	assertRoundTrip(t, c)
	for _, tc := range []struct {
		old, new   string
		field, msg string
	}{
		{"user: nobody nogroup}", "user: no-such-user-xlb}", "vrrp[0].notify_master.user", `user "no-such-user-xlb"`},
		{"{script: /bin/true master, user: nobody nogroup}", "{user: nobody}", "vrrp[0].notify_master", "needs a script"},
	} {
		_, err := ParseYAML("x.yaml", []byte(strings.Replace(y, tc.old, tc.new, 1)))
		wantProblem(t, err, "x.yaml", 15, tc.field, tc.msg)
	}
}
