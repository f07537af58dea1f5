package config

import (
	"strings"
	"testing"
)

// old_unicast_checksum as keepalived 2.2.7 reads it: "old" without an
// argument, "standard" with never, an unknown mode ignored with a warning,
// and a warning (nothing kept) where it cannot apply; YAML's
// unicast_checksum refuses what cannot apply and unknown values.
func TestKeepalivedOldUnicastChecksum(t *testing.T) {
	inst := func(extra string) string {
		return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n" + extra + " virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	}
	const unicastV3 = " version 3\n unicast_peer {\n  10.0.0.2\n }\n"
	for _, tc := range []struct {
		conf, want, warn string
	}{
		{inst(unicastV3 + " old_unicast_checksum\n"), "old", ""},
		{inst(unicastV3 + " old_unicast_checksum never\n"), "standard", ""},
		{inst(unicastV3 + " old_unicast_checksum sometimes\n"), "", "k.conf:9: vrrp_instance VI_1: unknown old_unicast_checksum mode sometimes ignored"},
		{inst(" unicast_peer {\n  10.0.0.2\n }\n old_unicast_checksum\n"), "", "k.conf:8: vrrp_instance VI_1: old_unicast_checksum has no effect"},
		{inst(" version 3\n old_unicast_checksum\n"), "", "k.conf:6: vrrp_instance VI_1: old_unicast_checksum has no effect"},
	} {
		c, warns, err := ParseKeepalived("k.conf", []byte(tc.conf))
		if err != nil {
			t.Fatalf("%s: %v", tc.conf, err)
		}
		if got := c.VRRP[0].UnicastChecksum; got != tc.want {
			t.Errorf("%s: unicast checksum %q, want %q", tc.conf, got, tc.want)
		}
		if tc.warn != "" && !hasWarning(warns, tc.warn) {
			t.Errorf("%s: no warning %q in %v", tc.conf, tc.warn, warns)
		}
		if tc.warn == "" && len(warns) != 0 {
			t.Errorf("%s: warnings %v", tc.conf, warns)
		}
		if out := assertRoundTrip(t, c); tc.want != "" && !strings.Contains(string(out), "unicast_checksum: "+tc.want) {
			t.Errorf("YAML lacks unicast_checksum %s:\n%s", tc.want, out)
		}
	}

	const doc = "vrrp:\n  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [10.0.0.1], version: 3, unicast_peer: [10.0.0.2], unicast_checksum: %s}\n"
	c, err := ParseYAML("t.yaml", []byte(strings.Replace(doc, "%s", "old", 1)))
	if err != nil || c.VRRP[0].UnicastChecksum != "old" {
		t.Fatalf("YAML unicast_checksum old: %v %+v", err, c)
	}
	if c, err = ParseYAML("t.yaml", []byte(strings.Replace(doc, "%s", "auto", 1))); err != nil || c.VRRP[0].UnicastChecksum != "" {
		t.Fatalf("YAML unicast_checksum auto: %v %+v", err, c)
	}
	_, err = ParseYAML("t.yaml", []byte(strings.Replace(doc, "%s", "new", 1)))
	wantProblem(t, err, "t.yaml", 2, "vrrp[0].unicast_checksum", `must be auto (the default`)
	_, err = ParseYAML("t.yaml", []byte(strings.Replace(strings.Replace(doc, "%s", "standard", 1), "version: 3", "version: 2", 1)))
	wantProblem(t, err, "t.yaml", 2, "vrrp[0].unicast_checksum", "applies to IPv4 VRRPv3 instances with unicast_peer only")
}
