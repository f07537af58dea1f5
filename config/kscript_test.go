package config

import (
	"slices"
	"strings"
	"testing"
)

// The expected words of these cases are what keepalived 2.2.7 ran (its -d
// dump and the arguments a script recorded), in a network namespace.
func TestScriptWords(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want []string
	}{
		{`/bin/check`, []string{"/bin/check"}},
		{`'/usr/bin/check x'`, []string{"/usr/bin/check x"}},
		{`'/x nm "x y"' root`, []string{`/x nm "x y"`, "root"}},
		{`"/x stop 'e f' g\tz"`, []string{"/x stop 'e f' g\tz"}},
		{`'/x vs "one two" th\ ree'`, []string{`/x vs "one two" th ree`}},
		{`/x' nb q'`, []string{"/x nb q"}},
		{`/x" a"'b c'\ d root`, []string{"/x ab c d", "root"}},
		{`"/x \"a b\" c"`, []string{`/x "a b" c`}},
		{`"/x vs3 a\#b" x`, []string{"/x vs3 a#b", "x"}},
		// \x takes every hex digit after it; a C char keeps the low 8 bits.
		{`'a\x41b'`, []string{"a\x1b"}},
		{`\x41\101\cA\E\q\\`, []string{"AA\x01\x1bq\\"}},
		{`\777`, []string{"\xff"}},
		{`\xg`, []string{"xg"}},
		{"a \t b", []string{"a", "b"}},
		{`''`, []string{""}},
		{``, nil},
	} {
		got, err := scriptWords(tc.raw)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("scriptWords(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	for _, raw := range []string{`'/x`, `"/x 'a`, `/x\`, `a'b"c'"`} {
		if got, err := scriptWords(raw); err == nil {
			t.Errorf("scriptWords(%q) = %q, want an error", raw, got)
		}
	}
}

// A backslash inside double quotes keeps the next character from ending
// the string, so a '#' after an escaped quote is no comment (keepalived's
// decomment; keepalived 2.2.7 ran this notify_fault with ' # x' and 'y').
func TestKtokenizeEscapedQuote(t *testing.T) {
	ps := newProblems("t.conf")
	toks, _ := ktokenize(ps, []byte(`notify_fault "/x \" # x\" y" nobody`+"\n"), 0)
	if len(ps.list) > 0 {
		t.Fatal(ps.err())
	}
	var words []string
	for _, tk := range toks {
		if tk.kind == 'w' {
			words = append(words, tk.text)
		}
	}
	if want := []string{"notify_fault", `/x \" # x\" y`, "nobody"}; !slices.Equal(words, want) {
		t.Fatalf("words = %q, want %q", words, want)
	}
}

func TestKeepalivedSingleQuotedScripts(t *testing.T) {
	conf := `vrrp_script chk {
    script '/bin/check "one two" x'
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.100
    }
    track_script {
        chk
    }
    notify_master '/bin/true master' root
    notify_backup "/bin/true 'a b'"
}
virtual_server 10.0.0.1 80 {
    lb_kind DR
    protocol TCP
    real_server 10.0.0.2 80 {
        MISC_CHECK {
            misc_path '/bin/true  --flag' # two spaces kept
        }
        notify_down '/bin/true down' root root
    }
}
`
	c, warns, err := ParseKeepalived("q.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	v := c.VRRP[0]
	if got := c.VRRPScripts[0].Script; got != `/bin/check "one two" x` {
		t.Errorf("vrrp script = %q", got)
	}
	if v.NotifyMaster != "/bin/true master" || v.NotifyUsers.Master != (ScriptUser{User: "root"}) {
		t.Errorf("notify_master = %q as %+v", v.NotifyMaster, v.NotifyUsers.Master)
	}
	if v.NotifyBackup != "/bin/true 'a b'" || v.NotifyUsers.Backup != (ScriptUser{}) {
		t.Errorf("notify_backup = %q as %+v", v.NotifyBackup, v.NotifyUsers.Backup)
	}
	r := c.Services[0].RealServers[0]
	if r.Check.Script != "/bin/true  --flag" {
		t.Errorf("misc_path = %q", r.Check.Script)
	}
	if r.NotifyDown != "/bin/true down" || r.NotifyDownUser != (ScriptUser{User: "root", Group: "root"}) {
		t.Errorf("notify_down = %q as %+v", r.NotifyDown, r.NotifyDownUser)
	}
	assertRoundTrip(t, c)
}

func TestKeepalivedScriptQuoteErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		line           int
		field, msg     string
	}{
		// keepalived: "missing terminating '", the script is not run.
		{"unterminated", "weight 1", "weight 1\n notify_up '/bin/true up", 5, "notify_up", "missing its closing '"},
		// '#' starts a comment inside single quotes (keepalived 2.2.7 too).
		{"comment in single quotes", "weight 1", "weight 1\n notify_up '/bin/true #1'", 5, "notify_up", "missing its closing '"},
		{"trailing backslash", "weight 1", "weight 1\n MISC_CHECK {\n misc_path /bin/true\\\n }", 6, "misc_path", "escapes nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("e.conf", []byte(kaEdit(tc.old, tc.new)))
			wantProblem(t, err, "e.conf", tc.line, tc.field, tc.msg)
		})
	}
}

// keepalived 2.2.7 runs "script /bin/check arg" as /bin/check alone (its
// dump shows Command = '/bin/check'): xlb does too, and says so.
func TestKeepalivedScriptExtraWordsDropped(t *testing.T) {
	c, warns, err := ParseKeepalived("w.conf", []byte(kaEdit("weight 1", "weight 1\n MISC_CHECK {\n misc_path /bin/true extra words\n }")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].RealServers[0].Check.Script; got != "/bin/true" {
		t.Errorf("script = %q, want /bin/true", got)
	}
	if len(warns) != 1 || warns[0].Line != 6 || !strings.Contains(warns[0].Msg, `without "extra words"`) {
		t.Errorf("warnings = %v, want one at line 6 about the dropped words", warns)
	}
}

func TestHASuspend(t *testing.T) {
	c, warns, err := ParseKeepalived("h.conf", []byte(strings.Replace(kaBase, "lb_kind DR", "lb_kind DR\n    ha_suspend", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 || !c.Services[0].HASuspend {
		t.Fatalf("ha_suspend = %v, warnings %v", c.Services[0].HASuspend, warns)
	}
	out := assertRoundTrip(t, c)
	if !strings.Contains(string(out), "ha_suspend: true") {
		t.Errorf("YAML lacks ha_suspend:\n%s", out)
	}
	_, _, err = ParseKeepalived("h.conf", []byte(strings.Replace(kaBase, "lb_kind DR", "lb_kind DR\n    ha_suspend yes", 1)))
	wantProblem(t, err, "h.conf", 3, "ha_suspend", "")
	y := "services:\n  - vip: 10.0.0.1\n    port: 80\n    ha_suspend: maybe\n    real_servers: [{address: 10.0.0.2}]\n"
	_, err = ParseYAML("h.yaml", []byte(y))
	wantProblem(t, err, "h.yaml", 4, "services[0].ha_suspend", "")
}
