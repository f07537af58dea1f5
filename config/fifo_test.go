package config

import (
	"strings"
	"testing"
)

// keepalived's notify FIFOs, notify_priority_changes and
// notify_master_rx_lower_pri, read from keepalived.conf, converted to YAML
// and read back.
func TestKeepalivedNotifyFIFOs(t *testing.T) {
	conf := `global_defs {
 notify_fifo /run/ka.fifo
 notify_fifo_script /usr/local/bin/all.sh
 vrrp_notify_fifo /run/ka_vrrp.fifo nobody nogroup
 vrrp_notify_fifo_script "/usr/local/bin/reader --vrrp" nobody
 lvs_notify_fifo /run/ka_lvs.fifo
 vrrp_notify_priority_changes
 fifo_write_vrrp_states_on_reload
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 priority 100
 virtual_ipaddress {
  10.0.0.10
 }
 notify_priority_changes off
 notify_master_rx_lower_pri "/usr/local/bin/reclaim.sh" nobody
}
vrrp_instance VI_2 {
 interface eth0
 virtual_router_id 52
 priority 100
 virtual_ipaddress {
  10.0.0.11
 }
}
vrrp_instance VI_3 {
 interface eth0
 virtual_router_id 53
 priority 100
 virtual_ipaddress {
  10.0.0.12
 }
}
vrrp_sync_group G1 {
 group {
  VI_1 VI_2
 }
 notify_priority_changes false
}
` + kaBase
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	if f := c.NotifyFIFO; f.Path != "/run/ka.fifo" || f.Script != "/usr/local/bin/all.sh" || !f.Owner.IsZero() || !f.ScriptUser.IsZero() {
		t.Errorf("notify_fifo read as %+v", f)
	}
	if f := c.VRRPNotifyFIFO; f.Path != "/run/ka_vrrp.fifo" || f.Owner != (ScriptUser{"nobody", "nogroup"}) ||
		f.Script != "/usr/local/bin/reader --vrrp" || f.ScriptUser != (ScriptUser{User: "nobody"}) {
		t.Errorf("vrrp_notify_fifo read as %+v", f)
	}
	if f := c.LVSNotifyFIFO; f != (NotifyFIFO{Path: "/run/ka_lvs.fifo"}) {
		t.Errorf("lvs_notify_fifo read as %+v", f)
	}
	if !c.VRRPNotifyPriorityChanges || !c.FIFOWriteVRRPStatesOnReload {
		t.Errorf("vrrp_notify_priority_changes %v, fifo_write_vrrp_states_on_reload %v, want both on", c.VRRPNotifyPriorityChanges, c.FIFOWriteVRRPStatesOnReload)
	}
	v := c.VRRP[0]
	if v.NotifyMasterRxLowerPri != "/usr/local/bin/reclaim.sh" || v.NotifyUsers.MasterRxLowerPri != (ScriptUser{User: "nobody"}) {
		t.Errorf("notify_master_rx_lower_pri read as %q as %+v", v.NotifyMasterRxLowerPri, v.NotifyUsers.MasterRxLowerPri)
	}
	// The instance's own setting, then its group's, then the global one.
	for i, want := range []bool{false, false, true} {
		if got := c.PriorityChanges(c.VRRP[i]); got != want {
			t.Errorf("PriorityChanges(%s) = %v, want %v", c.VRRP[i].Name, got, want)
		}
	}
	on := true
	c2 := c.Clone()
	c2.VRRP[0].NotifyPriorityChanges = &on
	if !c2.PriorityChanges(c2.VRRP[0]) || c.PriorityChanges(c.VRRP[0]) {
		t.Error("an instance's notify_priority_changes does not win, or Clone shares it")
	}
	out := assertRoundTrip(t, c)
	for _, frag := range []string{
		"notify_fifo: /run/ka.fifo\n", "notify_fifo_script: /usr/local/bin/all.sh\n",
		"vrrp_notify_fifo: {path: /run/ka_vrrp.fifo, user: nobody nogroup}\n",
		"vrrp_notify_fifo_script: {script: /usr/local/bin/reader --vrrp, user: nobody}\n",
		"vrrp_notify_priority_changes: true\n", "fifo_write_vrrp_states_on_reload: true\n",
		"notify_master_rx_lower_pri: {script: /usr/local/bin/reclaim.sh, user: nobody}\n",
		"notify_priority_changes: false\n",
	} {
		if !strings.Contains(string(out), frag) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}
	// Unset stays unset: the third instance says nothing of its own.
	if strings.Count(string(out), "    notify_priority_changes:") != 2 {
		t.Errorf("want notify_priority_changes on VI_1 and G1 only:\n%s", out)
	}
}

func TestNotifyFIFORefusals(t *testing.T) {
	tests := []struct {
		name, defs string
		line       int
		field, msg string
	}{
		{"script without its fifo", " lvs_notify_fifo_script /bin/cat\n", 2, "lvs_notify_fifo_script", "needs lvs_notify_fifo"},
		{"relative path", " vrrp_notify_fifo run/ka.fifo\n", 2, "vrrp_notify_fifo", "absolute path"},
		{"same fifo twice", " notify_fifo /run/ka.fifo\n vrrp_notify_fifo /run/./ka.fifo\n", 3, "vrrp_notify_fifo", "is also notify_fifo at line 2: the FIFOs must all be different"},
		{"unknown owner", " notify_fifo /run/ka.fifo no-such-user-xlb\n", 2, "notify_fifo.user", "no-such-user-xlb"},
		{"too many words", " notify_fifo /run/ka.fifo a b c\n", 2, "notify_fifo", "PATH [USERNAME [GROUPNAME]]"},
		{"bool with two words", " vrrp_notify_priority_changes on off\n", 2, "vrrp_notify_priority_changes", "[on|off]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte("global_defs {\n"+tc.defs+"}\n"+kaBase))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

func TestYAMLNotifyFIFOs(t *testing.T) {
	y := `notify_fifo: /run/ka.fifo
lvs_notify_fifo: {path: /run/ka_lvs.fifo, user: {user: nobody, group: nogroup}}
lvs_notify_fifo_script: {script: /usr/local/bin/lvs.sh, user: nobody}
vrrp_notify_priority_changes: true
services:
  - vip: 10.0.0.1
    port: 80
    protocol: tcp
    real_servers:
      - {address: 10.0.0.2, port: 80}
vrrp:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    priority: 100
    virtual_ipaddress: [10.0.0.10]
    notify_priority_changes: false
    notify_master_rx_lower_pri: /usr/local/bin/reclaim.sh
`
	c, err := ParseYAML("x.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.LVSNotifyFIFO; f.Path != "/run/ka_lvs.fifo" || f.Owner != (ScriptUser{"nobody", "nogroup"}) || f.Script != "/usr/local/bin/lvs.sh" {
		t.Errorf("lvs_notify_fifo read as %+v", f)
	}
	if c.PriorityChanges(c.VRRP[0]) || c.VRRP[0].NotifyMasterRxLowerPri != "/usr/local/bin/reclaim.sh" {
		t.Errorf("vrrp[0] read as %+v", c.VRRP[0])
	}
	assertRoundTrip(t, c)
	_, err = ParseYAML("x.yaml", []byte(strings.Replace(y, "lvs_notify_fifo: {path: /run/ka_lvs.fifo", "lvs_notify_fifo: {path: /run/ka.fifo", 1)))
	wantProblem(t, err, "x.yaml", 2, "lvs_notify_fifo", "is also notify_fifo at line 1")
	_, err = ParseYAML("x.yaml", []byte("notify_fifo: {user: nobody}\n"+y[strings.Index(y, "lvs"):]))
	wantProblem(t, err, "x.yaml", 1, "notify_fifo", "needs a path")
}
