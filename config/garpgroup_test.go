package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// garp_group as keepalived 2.2.7 reads it: decimal seconds, one interface
// or an interfaces block, an interval of 0 kept (its interfaces go
// unpaced, whatever vrrp_garp_interval says: seen on a running 2.2.7); an
// interface already in a group stays in the first, and a group without
// any interval is dropped, with warnings; into YAML and back.
func TestKeepalivedGARPGroup(t *testing.T) {
	conf := `garp_group {
 garp_interval 0.25
 gna_interval 0.1
 interfaces {
  eth0
  eth1
 }
}
garp_group {
 garp_interval 0
 interface eth2
}
garp_group {
 gna_interval 0.5
 interfaces {
  eth1
  eth3
 }
}
garp_group {
 interface eth4
}
`
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := []GARPGroup{
		{Interval: 250 * time.Millisecond, NAInterval: 100 * time.Millisecond, Interfaces: []string{"eth0", "eth1"}, Line: 1},
		{Interfaces: []string{"eth2"}, Line: 9},
		{NAInterval: 500 * time.Millisecond, Interfaces: []string{"eth3"}, Line: 13},
	}
	if !reflect.DeepEqual(c.GARPGroups, want) {
		t.Errorf("groups %+v, want %+v", c.GARPGroups, want)
	}
	for _, w := range []string{
		"k.conf:16: garp_group: eth1 is in an earlier garp_group already (line 1)",
		"k.conf:20: garp_group without garp_interval or gna_interval ignored",
	} {
		if !hasWarning(warns, w) {
			t.Errorf("no warning %q in %v", w, warns)
		}
	}
	if g := c.GARPGroupOf("eth3"); g == nil || g.Line != 13 {
		t.Errorf("GARPGroupOf(eth3) = %+v, want the third block", g)
	}
	if g := c.GARPGroupOf("eth4"); g != nil {
		t.Errorf("GARPGroupOf(eth4) = %+v, want none (its group was dropped)", g)
	}
	out := assertRoundTrip(t, c)
	if !strings.Contains(string(out), "garp_groups:") || !strings.Contains(string(out), "interfaces: [eth2]") {
		t.Errorf("YAML lacks the groups (or the unpaced one):\n%s", out)
	}

	for _, tc := range []struct {
		conf  string
		line  int
		field string
		msg   string
	}{
		{"garp_group eth0 {\n garp_interval 1\n}\n", 1, "garp_group", "want garp_group {"},
		{"garp_group {\n garp_interval soon\n interface eth0\n}\n", 2, "garp_interval", `want seconds, got "soon"`},
		{"garp_group {\n garp_interval 1\n garp_interval 2\n interface eth0\n}\n", 3, "garp_interval", "garp_interval is already set"},
		{"garp_group {\n garp_interval 0.0000001\n interface eth0\n}\n", 2, "garp_groups[0].garp_interval", "must be 0..4294 s in microseconds"},
		{"garp_group {\n garp_interval 1\n interfaces {\n  eth0 eth1\n }\n}\n", 4, "interfaces", "want one interface name a line"},
		{"garp_group {\n garp_interval 1\n interface eth0\n delay 3\n}\n", 4, "delay", "not supported in garp_group"},
		{"garp_group {\n garp_interval 1\n interface this-name-is-too-long\n}\n", 3, "garp_groups[0].interfaces[0]", "longer than 15 characters"},
		{"garp_group {\n garp_interval 1\n interface vrrp.51\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n use_vmac\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
			3, "garp_groups[0].interfaces[0]", "vrrp.51 is the VMAC of vrrp instance VI_1"},
	} {
		_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
		wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
	}
}

// The YAML form refuses what keepalived would drop or ignore: an
// interface in two groups, a group with no interface or no interval.
func TestYAMLGARPGroups(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte("garp_groups:\n  - {garp_interval: 0.2, interfaces: [eth0, eth1]}\n  - {gna_interval: 0, interfaces: [eth2]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []GARPGroup{{Interval: 200 * time.Millisecond, Interfaces: []string{"eth0", "eth1"}, Line: 2}, {Interfaces: []string{"eth2"}, Line: 3}}
	if !reflect.DeepEqual(c.GARPGroups, want) {
		t.Errorf("groups %+v, want %+v", c.GARPGroups, want)
	}
	for _, tc := range []struct {
		doc   string
		line  int
		field string
		msg   string
	}{
		{"garp_groups:\n  - {garp_interval: 1, interfaces: [eth0]}\n  - {garp_interval: 1, interfaces: [eth1, eth0]}\n", 3, "garp_groups[1].interfaces[1]", "eth0 is in a garp_group already at line 2"},
		{"garp_groups:\n  - {interfaces: [eth0]}\n", 2, "garp_groups[0]", "a garp_group needs garp_interval or gna_interval"},
		{"garp_groups:\n  - {garp_interval: 1}\n", 2, "garp_groups[0].interfaces", "a garp_group needs at least one interface"},
		{"garp_groups:\n  - {garp_interval: -1s, interfaces: [eth0]}\n", 2, "garp_groups[0].garp_interval", "must be 0..4294 s"},
		{"garp_groups:\n  - {garp_interval: 1, interfaces: [eth0], delay: 2}\n", 2, "garp_groups[0].delay", "unknown"},
	} {
		_, err := ParseYAML("t.yaml", []byte(tc.doc))
		wantProblem(t, err, "t.yaml", tc.line, tc.field, tc.msg)
	}
}
