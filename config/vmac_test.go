package config

import (
	"strings"
	"testing"
)

// use_vmac and vmac_xmit_base as keepalived 2.2.7 reads them: the default
// name vrrp.VRID, a name of one's own, a name keepalived ignores (with its
// warning), vmac_xmit_base without use_vmac ignored, and unicast with
// use_vmac setting vmac_xmit_base (both with keepalived's warnings). All
// survive `xlb config convert`.
func TestKeepalivedUseVMAC(t *testing.T) {
	conf := `vrrp_instance A {
 interface eth0
 virtual_router_id 51
 priority 100
 virtual_ipaddress { 10.0.0.1 }
 use_vmac
}
vrrp_instance B {
 interface eth0
 virtual_router_id 52
 priority 100
 virtual_ipaddress { 10.0.0.2 }
 use_vmac vip52
 vmac_xmit_base
}
vrrp_instance C {
 interface eth0
 virtual_router_id 53
 priority 100
 virtual_ipaddress { 10.0.0.3 }
 use_vmac averyveryverylongname
}
vrrp_instance D {
 interface eth0
 virtual_router_id 54
 priority 100
 virtual_ipaddress { 10.0.0.4 }
 vmac_xmit_base
}
vrrp_instance E {
 interface eth0
 virtual_router_id 55
 priority 100
 virtual_ipaddress { 10.0.0.5 }
 use_vmac
 unicast_peer {
  10.0.0.9
 }
}
`
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		use        bool
		iface      string
		xmitBase   bool
		configName string
	}{
		{true, "vrrp.51", false, ""},
		{true, "vip52", true, "vip52"},
		{true, "vrrp.53", false, ""},
		{false, "", false, ""},
		{true, "vrrp.55", true, ""},
	}
	for i, w := range want {
		v := c.VRRP[i]
		if v.UseVMAC != w.use || v.VMACInterface() != w.iface || v.VMACXmitBase != w.xmitBase || v.VMACName != w.configName {
			t.Errorf("%s: use_vmac %v (%q, name %q) vmac_xmit_base %v, want %+v", v.Name, v.UseVMAC, v.VMACInterface(), v.VMACName, v.VMACXmitBase, w)
		}
	}
	for _, w := range []string{
		`k.conf:21: vrrp_instance C: VMAC interface name "averyveryverylongname" ignored (longer than 15 characters (21)): vrrp.VRID is used, as keepalived does`,
		"k.conf:28: vrrp_instance D: vmac_xmit_base ignored: it is only valid with use_vmac",
		"k.conf:30: vrrp_instance E: unicast with use_vmac requires vmac_xmit_base: set, as keepalived does",
	} {
		if !hasWarning(warns, w) {
			t.Errorf("no warning %q in %v", w, warns)
		}
	}
	if len(warns) != 3 {
		t.Errorf("warnings: %v", warns)
	}
	out := assertRoundTrip(t, c)
	for _, w := range []string{"use_vmac: true", "use_vmac: vip52", "vmac_xmit_base: true"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("YAML lacks %q:\n%s", w, out)
		}
	}
}

// vrrp_strict resets vmac_xmit_base, with keepalived's warning.
func TestKeepalivedVMACStrict(t *testing.T) {
	conf := "global_defs {\n vrrp_strict\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n use_vmac\n vmac_xmit_base\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; !v.UseVMAC || v.VMACXmitBase {
		t.Errorf("use_vmac %v vmac_xmit_base %v, want true false", v.UseVMAC, v.VMACXmitBase)
	}
	if w := "k.conf:10: vrrp_instance A: vrrp_strict: vmac_xmit_base ignored, as keepalived does"; !hasWarning(warns, w) {
		t.Errorf("no warning %q in %v", w, warns)
	}
}

func TestKeepalivedUseVMACRefused(t *testing.T) {
	inst := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { X }\n Y\n}\n"
	for _, tc := range []struct {
		name, vip, stmt string
		line            int
		field, want     string
	}{
		{"mac", "10.0.0.1", "use_vmac vrrp.1 00:00:5e:00:01:aa", 6, "use_vmac", "use_vmac with a MAC address is not supported by xlb"},
		{"mac only", "10.0.0.1", "use_vmac 00:00:5e:00:01:aa", 6, "use_vmac", "use_vmac with a MAC address is not supported by xlb"},
		{"five octets", "10.0.0.1", "use_vmac 00:00:5e:00:01", 6, "use_vmac", "use_vmac with a MAC address is not supported by xlb"},
		{"own interface", "10.0.0.1", "use_vmac eth0", 6, "use_vmac", `VMAC interface "eth0" is the instance's own interface`},
		{"xmit base with value", "10.0.0.1", "vmac_xmit_base yes", 6, "vmac_xmit_base", `takes no value, got "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strings.Replace(strings.Replace(inst, "X", tc.vip, 1), "Y", tc.stmt, 1)
			_, _, err := ParseKeepalived("k.conf", []byte(conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.want)
		})
	}
}

func TestYAMLUseVMAC(t *testing.T) {
	doc := `vrrp:
  - {name: A, interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [10.0.0.1], use_vmac: true}
  - {name: B, interface: eth0, virtual_router_id: 2, priority: 100, virtual_ipaddress: [10.0.0.2], use_vmac: vip2, vmac_xmit_base: true}
  - {name: C, interface: eth0, virtual_router_id: 3, priority: 100, virtual_ipaddress: [10.0.0.3], use_vmac: false}
`
	c, err := ParseYAML("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc := c.VRRP[0], c.VRRP[1], c.VRRP[2]
	if a.VMACInterface() != "vrrp.1" || a.VMACXmitBase || b.VMACInterface() != "vip2" || !b.VMACXmitBase || cc.UseVMAC || cc.VMACInterface() != "" {
		t.Errorf("A %+v\nB %+v\nC %+v", a, b, cc)
	}
	assertRoundTrip(t, c)
	head := "vrrp:\n  - name: A\n    interface: eth0\n    virtual_router_id: 1\n    priority: 100\n    virtual_ipaddress: [X]\n"
	for _, tc := range []struct {
		name, vip, extra string
		line             int
		field, want      string
	}{
		{"long name", "10.0.0.1", "    use_vmac: averyveryverylongname\n", 7, "vrrp[0].use_vmac", `VMAC interface name "averyveryverylongname": longer than 15 characters (21)`},
		{"slash", "10.0.0.1", "    use_vmac: a/b\n", 7, "vrrp[0].use_vmac", "contains a /, : or white space"},
		{"own interface", "10.0.0.1", "    use_vmac: eth0\n", 7, "vrrp[0].use_vmac", `VMAC interface "eth0" is the instance's own interface`},
		{"empty", "10.0.0.1", "    use_vmac: \"\"\n", 7, "vrrp[0].use_vmac", "must be true, false or the VMAC interface's name"},
		{"xmit base alone", "10.0.0.1", "    vmac_xmit_base: true\n", 7, "vrrp[0].vmac_xmit_base", "is only valid with use_vmac"},
		{"unicast", "10.0.0.1", "    use_vmac: true\n    unicast_peer: [10.0.0.9]\n", 7, "vrrp[0].use_vmac", "unicast_peer with use_vmac needs vmac_xmit_base"},
		{"twice", "10.0.0.1", "    use_vmac: vip\n  - {name: B, interface: eth0, virtual_router_id: 2, priority: 100, virtual_ipaddress: [10.0.0.2], use_vmac: vip}\n", 8, "vrrp[1].use_vmac", `VMAC interface "vip" is already vrrp[0]'s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("x.yaml", []byte(strings.Replace(head, "X", tc.vip, 1)+tc.extra))
			wantProblem(t, err, "x.yaml", tc.line, tc.field, tc.want)
		})
	}
}

// An IPv6 instance's use_vmac is read as an IPv4 one's (its MAC,
// 00:00:5e:00:02:VRID, is the director's business).
func TestKeepalivedUseVMACIPv6(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { fd00::1 }\n use_vmac\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; !v.UseVMAC || v.VMACInterface() != "vrrp.1" {
		t.Errorf("use_vmac %v on %q", v.UseVMAC, v.VMACInterface())
	}
	assertRoundTrip(t, c)
}
