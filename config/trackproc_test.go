package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const kaTrackProc = `vrrp_track_process haproxy {
    process haproxy
    weight -20 reverse
    quorum 2
    quorum_max 4
    fork_delay 0.5
    terminate_delay 2
}
vrrp_track_process nginx_master {
    process /usr/sbin/nginx -g "daemon off;"
    param_match partial
}
vrrp_track_process none_allowed {
    process "/opt/my tool"
    full_command
    quorum_max 0
    delay 1.25
}
vrrp_track_process bare {
    process sshd
    param_match
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.100
    }
    track_process {
        haproxy
        nginx_master weight 10 noreverse
        none_allowed weight 0 reverse
        bare
    }
}
`

// vrrp_track_process with keepalived 2.2.7's keywords and implied
// settings: parameters match exactly unless param_match says otherwise
// and turn full_command on, a bare param_match is an exact match (no
// parameters), quorum_max 0 sets quorum 0, delay sets both delays, the
// default weight is 0; the instance's entry overrides weight and reverse.
func TestKeepalivedTrackProcess(t *testing.T) {
	c, warns, err := ParseKeepalived("tp.conf", []byte(kaTrackProc))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := []VRRPTrackProcess{
		{Name: "haproxy", Process: "haproxy", Weight: -20, Reverse: true, Quorum: 2, QuorumMax: 4, HasQuorumMax: true,
			ForkDelay: 500 * time.Millisecond, TerminateDelay: 2 * time.Second, Line: 1},
		{Name: "nginx_master", Process: "/usr/sbin/nginx", Params: []string{"-g", "daemon off;"}, ParamMatch: ParamPartial, Quorum: 1, FullCommand: true, Line: 9},
		{Name: "none_allowed", Process: "/opt/my tool", Quorum: 0, HasQuorumMax: true, FullCommand: true,
			ForkDelay: 1250 * time.Millisecond, TerminateDelay: 1250 * time.Millisecond, Line: 13},
		{Name: "bare", Process: "sshd", ParamMatch: ParamExact, Quorum: 1, FullCommand: true, Line: 19},
	}
	if !reflect.DeepEqual(c.VRRPTrackProcesses, want) {
		t.Errorf("track processes =\n%+v\nwant\n%+v", c.VRRPTrackProcesses, want)
	}
	v := c.VRRP[0]
	wantTP := []TrackProcess{{Name: "haproxy"}, {Name: "nginx_master", Weight: 10, WeightSet: true, ReverseSet: true},
		{Name: "none_allowed", WeightSet: true, Reverse: true, ReverseSet: true}, {Name: "bare"}}
	if !reflect.DeepEqual(v.TrackProcesses, wantTP) {
		t.Errorf("track_process = %+v, want %+v", v.TrackProcesses, wantTP)
	}
	for i, w := range []struct {
		w   int
		rev bool
	}{{-20, true}, {10, false}, {0, true}, {0, false}} {
		if gw, grev := v.TrackProcesses[i].Effective(c.VRRPTrackProcesses[i]); gw != w.w || grev != w.rev {
			t.Errorf("track_process %s: weight %d reverse %v, want %d %v", v.TrackProcesses[i].Name, gw, grev, w.w, w.rev)
		}
	}
	out := assertRoundTrip(t, c)
	for _, s := range []string{"vrrp_track_processes:", "params: [-g, daemon off;]", "param_match: partial", "quorum_max: 0", "fork_delay: 1.25s", "track_process:"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("YAML lacks %q:\n%s", s, out)
		}
	}

	// An untracked one is said so.
	_, warns, err = ParseKeepalived("k.conf", []byte("vrrp_track_process lonely {\n process x\n}\n"))
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].Msg, "vrrp_track_process lonely is tracked by no vrrp_instance") {
		t.Errorf("untracked process: err %v warnings %v", err, warns)
	}
	// In a sync-group member the weights stay, with no warning: keepalived
	// 2.2.7 applies track_process weights there (a running 2.2.7 moved a
	// member's priority by -7 and -4), unlike scripts' and files'.
	c, warns, err = ParseKeepalived("k.conf", []byte("vrrp_sync_group G {\n group { VI_1 }\n}\n"+kaTrackProc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.VRRP[0].TrackProcesses, wantTP) {
		t.Errorf("member track_process %+v, want %+v", c.VRRP[0].TrackProcesses, wantTP)
	}
	if slices.ContainsFunc(warns, func(w Warning) bool { return strings.Contains(w.Msg, "track_process") }) {
		t.Errorf("warned: %v", warns)
	}
}

func TestKeepalivedTrackProcessErrors(t *testing.T) {
	inst := func(entries string) string {
		return "vrrp_track_process p {\n process x\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n track_process {\n" + entries + " }\n}\n"
	}
	tests := []struct {
		name  string
		conf  string
		line  int
		field string
		msg   string
	}{
		{"no process", "vrrp_track_process p {\n weight 2\n}\n", 1, "vrrp_track_processes[0].process", "is required"},
		{"process twice", "vrrp_track_process p {\n process a\n process b\n}\n", 3, "process", "already set at line 2"},
		{"long comm", "vrrp_track_process p {\n process a-very-long-daemon-name\n}\n", 2, "vrrp_track_processes[0].process", "longer than a process name can be"},
		{"param_match exact", "vrrp_track_process p {\n process a b\n param_match exact\n}\n", 3, "param_match", `want param_match [initial|partial]`},
		{"weight range", "vrrp_track_process p {\n process a\n weight 255\n}\n", 3, "vrrp_track_processes[0].weight", "must be -254..254, got 255"},
		{"weight twice", "vrrp_track_process p {\n process a\n weight 2\n weight 3\n}\n", 4, "weight", "already set at line 3"},
		{"weight noreverse", "vrrp_track_process p {\n process a\n weight 2 noreverse\n}\n", 3, "weight", "want weight W [reverse]"},
		{"quorum 0", "vrrp_track_process p {\n process a\n quorum 0\n}\n", 3, "vrrp_track_processes[0].quorum", "must be 1..65535, got 0"},
		{"quorum above max", "vrrp_track_process p {\n process a\n quorum 3\n quorum_max 2\n}\n", 3, "vrrp_track_processes[0].quorum", "3 is more than quorum_max 2"},
		{"quorum_max 0 with quorum", "vrrp_track_process p {\n process a\n quorum 2\n quorum_max 0\n}\n", 4, "vrrp_track_processes[0].quorum_max", "is 0 (up while none runs), but quorum is 2"},
		{"quorum word", "vrrp_track_process p {\n process a\n quorum many\n}\n", 3, "quorum", `must be an integer, got "many"`},
		{"delay range", "vrrp_track_process p {\n process a\n terminate_delay 3601\n}\n", 3, "vrrp_track_processes[0].terminate_delay", "must be 0..3600 seconds"},
		{"delay word", "vrrp_track_process p {\n process a\n fork_delay soon\n}\n", 3, "fork_delay", `want seconds, got "soon"`},
		{"full_command value", "vrrp_track_process p {\n process a\n full_command yes\n}\n", 3, "full_command", `takes no value`},
		{"unknown keyword", "vrrp_track_process p {\n process a\n pidfile /run/a.pid\n}\n", 3, "pidfile", "unknown keyword in vrrp_track_process"},
		{"no name", "vrrp_track_process {\n process a\n}\n", 1, "vrrp_track_process", "want vrrp_track_process NAME"},
		{"duplicate", "vrrp_track_process p {\n process a\n}\nvrrp_track_process p {\n process b\n}\n", 4, "vrrp_track_processes[1].name", `duplicate track process name "p"`},
		{"entry unknown", inst("  q\n"), 12, "vrrp[0].track_process[0]", `no track process named "q"`},
		{"entry weight range", inst("  p weight -255\n"), 12, "vrrp[0].track_process[0].weight", "must be -254..254, got -255"},
		{"entry word", inst("  p weight 5 sideways\n"), 12, "track_process", `got "sideways" after the weight`},
		{"entry twice", inst("  p\n  p weight 0\n"), 13, "vrrp[0].track_process[1]", `"p" is tracked twice`},
		{"owner weight", strings.Replace(inst("  p weight 5\n"), "priority 1\n", "priority 255\n", 1), 12, "vrrp[0].track_process[0]", "cannot move priority 255"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

// The YAML names, the same implied settings as keepalived.conf (params
// turn exact matching and full_command on), and errors by field.
func TestYAMLTrackProcess(t *testing.T) {
	base := []string{
		"vrrp:",
		"  - name: VI_1",
		"    interface: eth0",
		"    virtual_router_id: 51",
		"    priority: 100",
		"    virtual_ipaddress: [192.168.101.100]",
	}
	doc := func(extra ...string) []byte {
		return []byte(strings.Join(append(append([]string{}, base...), extra...), "\n") + "\n")
	}
	c, err := ParseYAML("x.yaml", doc(
		"    track_process: [ha, {name: ng, weight: -5, reverse: true}]",
		"vrrp_track_processes:",
		"  - {name: ha, process: haproxy, weight: 10, quorum: 2, quorum_max: 3, fork_delay: 500ms, terminate_delay: 2}",
		"  - {name: ng, process: /usr/sbin/nginx, params: [-g, 'daemon off;'], param_match: initial}",
	))
	if err != nil {
		t.Fatal(err)
	}
	want := []VRRPTrackProcess{
		{Name: "ha", Process: "haproxy", Weight: 10, Quorum: 2, QuorumMax: 3, HasQuorumMax: true, ForkDelay: 500 * time.Millisecond, TerminateDelay: 2 * time.Second, Line: 9},
		{Name: "ng", Process: "/usr/sbin/nginx", Params: []string{"-g", "daemon off;"}, ParamMatch: ParamInitial, Quorum: 1, FullCommand: true, Line: 10},
	}
	if !reflect.DeepEqual(c.VRRPTrackProcesses, want) {
		t.Errorf("track processes =\n%+v\nwant\n%+v", c.VRRPTrackProcesses, want)
	}
	wantTP := []TrackProcess{{Name: "ha"}, {Name: "ng", Weight: -5, WeightSet: true, Reverse: true, ReverseSet: true}}
	if !reflect.DeepEqual(c.VRRP[0].TrackProcesses, wantTP) {
		t.Errorf("track_process = %+v, want %+v", c.VRRP[0].TrackProcesses, wantTP)
	}
	assertRoundTrip(t, c)
	c, err = ParseYAML("x.yaml", doc("    track_process: [p]", "vrrp_track_processes:", "  - {name: p, process: ssh, params: [-N]}"))
	if err != nil {
		t.Fatal(err)
	}
	if tp := c.VRRPTrackProcesses[0]; tp.ParamMatch != ParamExact || !tp.FullCommand {
		t.Errorf("params alone: param_match %q full_command %v, want exact and true", tp.ParamMatch, tp.FullCommand)
	}

	tests := []struct {
		name  string
		yaml  []byte
		line  int
		field string
		msg   string
	}{
		{"param_match word", doc("vrrp_track_processes:", "  - {name: p, process: a, param_match: fuzzy}"), 8, "vrrp_track_processes[0].param_match", `want exact, partial or initial, got "fuzzy"`},
		{"unknown key", doc("vrrp_track_processes:", "  - {name: p, process: a, pid_file: /run/a}"), 8, "vrrp_track_processes[0].pid_file", `unknown key "pid_file"`},
		{"no process", doc("vrrp_track_processes:", "  - {name: p}"), 8, "vrrp_track_processes[0].process", "is required"},
		{"quorum_max range", doc("vrrp_track_processes:", "  - {name: p, process: a, quorum_max: 70000}"), 8, "vrrp_track_processes[0].quorum_max", "must be 0..65535"},
		{"negative delay", doc("vrrp_track_processes:", "  - {name: p, process: a, fork_delay: -1s}"), 8, "vrrp_track_processes[0].fork_delay", "must be 0..3600 seconds"},
		{"unknown entry", doc("    track_process: [q]", "vrrp_track_processes:", "  - {name: p, process: a}"), 7, "vrrp[0].track_process[0]", `no track process named "q"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("x.yaml", tc.yaml)
			wantProblem(t, err, "x.yaml", tc.line, tc.field, tc.msg)
		})
	}
}
