package config

import (
	"net/netip"
	"strings"
	"testing"
)

// keepalived's advert and transport settings of an instance, and their
// global_defs defaults, are read and survive `xlb config convert`:
// instance A takes the global ones, B its own, the IPv6 C the IPv6 group.
func TestKeepalivedVRRPAdvertSettings(t *testing.T) {
	conf := `global_defs {
 vrrp_lower_prio_no_advert
 vrrp_higher_prio_send_advert on
 vrrp_mcast_group4 224.0.0.99
 vrrp_mcast_group6 ff02::99
}
vrrp_instance A {
 interface eth0
 virtual_router_id 1
 priority 100
 virtual_ipaddress { 10.0.0.1 }
}
vrrp_instance B {
 interface eth0
 virtual_router_id 2
 priority 100
 virtual_ipaddress { 10.0.0.2 }
 lower_prio_no_advert false
 higher_prio_send_advert off
 mcast_dst_ip 239.1.2.3
 unicast_peer {
  10.0.0.9
 }
 unicast_ttl 10
 unicast_fault_no_peer
 kernel_rx_buf_size 65536
}
vrrp_instance C {
 interface eth0
 virtual_router_id 3
 priority 100
 virtual_ipaddress { fd00::3 }
}
`
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	a, b, v6 := c.VRRP[0], c.VRRP[1], c.VRRP[2]
	if !a.LowerPrioNoAdvert || !a.HigherPrioSendAdvert || a.McastDstIP != netip.MustParseAddr("224.0.0.99") {
		t.Errorf("A (global defaults): %+v", a)
	}
	if b.LowerPrioNoAdvert || b.HigherPrioSendAdvert || b.McastDstIP != netip.MustParseAddr("239.1.2.3") ||
		b.UnicastTTL != 10 || !b.UnicastFaultNoPeer || b.KernelRxBufSize != 65536 {
		t.Errorf("B (its own): %+v", b)
	}
	if v6.McastDstIP != netip.MustParseAddr("ff02::99") {
		t.Errorf("C (IPv6) group %v, want ff02::99", v6.McastDstIP)
	}
	out := string(assertRoundTrip(t, c))
	for _, frag := range []string{"unicast_ttl: 10", "unicast_fault_no_peer: true", "mcast_dst_ip: 239.1.2.3", "kernel_rx_buf_size: 65536", "mcast_dst_ip: ff02::99"} {
		if !strings.Contains(out, frag) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}
}

// keepalived's defaults: a master answers a lower priority (no
// lower_prio_no_advert), sends nothing before yielding, on 224.0.0.18; in
// strict mode it never answers and never sends before yielding, whatever
// the instance says (with a warning where it said otherwise).
func TestKeepalivedVRRPAdvertDefaultsAndStrict(t *testing.T) {
	inst := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n X\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(strings.Replace(inst, "X", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.LowerPrioNoAdvert || v.HigherPrioSendAdvert || v.McastDstIP.IsValid() || v.UnicastTTL != 0 {
		t.Errorf("defaults: %+v", v)
	}
	strict := "global_defs {\n vrrp_strict\n}\n" + strings.Replace(inst, "X", "lower_prio_no_advert off\n higher_prio_send_advert", 1)
	c, warns, err := ParseKeepalived("k.conf", []byte(strict))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; !v.LowerPrioNoAdvert || v.HigherPrioSendAdvert {
		t.Errorf("strict: lower_prio_no_advert %v, higher_prio_send_advert %v; want true, false", v.LowerPrioNoAdvert, v.HigherPrioSendAdvert)
	}
	for _, w := range []string{"k.conf:9: vrrp_instance A: vrrp_strict: lower_prio_no_advert off ignored", "k.conf:10: vrrp_instance A: vrrp_strict: higher_prio_send_advert ignored"} {
		if !hasWarning(warns, w) {
			t.Errorf("no warning %q in %v", w, warns)
		}
	}
}

// unicast_ttl without unicast peers is ignored with keepalived's warning;
// garp_extra_if is ignored saying why.
func TestKeepalivedVRRPIgnoredSettings(t *testing.T) {
	conf := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n unicast_ttl 10\n garp_extra_if all 60\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRP[0].UnicastTTL != 0 {
		t.Errorf("unicast_ttl without peers kept: %d", c.VRRP[0].UnicastTTL)
	}
	for _, w := range []string{"k.conf:6: vrrp_instance A: unicast_ttl ignored without unicast_peer", "k.conf:7: vrrp_instance A: garp_extra_if ignored: it repeats gratuitous ARPs on VMAC interfaces"} {
		if !hasWarning(warns, w) {
			t.Errorf("no warning %q in %v", w, warns)
		}
	}
}

func TestKeepalivedVRRPAdvertSettingsRefused(t *testing.T) {
	inst := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n unicast_peer {\n  10.0.0.9\n }\n X\n}\n"
	for _, tc := range []struct {
		name, conf  string
		line        int
		field, want string
	}{
		{"ttl 0", strings.Replace(inst, "X", "unicast_ttl 0", 1), 9, "unicast_ttl", "must be 1..255, got 0"},
		{"ttl 256", strings.Replace(inst, "X", "unicast_ttl 256", 1), 9, "unicast_ttl", "must be 1..255, got 256"},
		{"ttl word", strings.Replace(inst, "X", "unicast_ttl x", 1), 9, "unicast_ttl", `must be an integer, got "x"`},
		{"group unicast", strings.Replace(inst, "X", "mcast_dst_ip 10.1.1.1", 1), 9, "mcast_dst_ip", "must be an IPv4 multicast address (224.0.0.0/4), got 10.1.1.1"},
		{"group family", strings.Replace(inst, "X", "mcast_dst_ip ff02::12", 1), 9, "mcast_dst_ip", "must be an IPv4 multicast address for IPv4 adverts, got ff02::12"},
		{"buffer negative", strings.Replace(inst, "X", "kernel_rx_buf_size -1", 1), 9, "kernel_rx_buf_size", "must be 0..2147483647, got -1"},
		{"fault with value", strings.Replace(inst, "X", "unicast_fault_no_peer yes", 1), 9, "unicast_fault_no_peer", `takes no value, got "yes"`},
		{"global group4", "global_defs {\n vrrp_mcast_group4 ff02::12\n}\n", 2, "vrrp_mcast_group4", "must be an IPv4 multicast address for IPv4 adverts, got ff02::12"},
		{"global group6 scope", "global_defs {\n vrrp_mcast_group6 ff05::12\n}\n", 2, "vrrp_mcast_group6", "must be a link-local IPv6 multicast address (ffX2::), got ff05::12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.want)
		})
	}
}

func TestYAMLVRRPAdvertSettings(t *testing.T) {
	doc := `vrrp_lower_prio_no_advert: true
vrrp_higher_prio_send_advert: true
vrrp_mcast_group4: 224.0.0.99
vrrp:
  - {name: A, interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [10.0.0.1]}
  - name: B
    interface: eth0
    virtual_router_id: 2
    priority: 100
    virtual_ipaddress: [10.0.0.2]
    lower_prio_no_advert: false
    higher_prio_send_advert: false
    mcast_dst_ip: 224.0.0.100
    unicast_peer: [10.0.0.9]
    unicast_ttl: 64
    unicast_fault_no_peer: true
    kernel_rx_buf_size: 4096
`
	c, err := ParseYAML("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.VRRP[0], c.VRRP[1]
	if !a.LowerPrioNoAdvert || !a.HigherPrioSendAdvert || a.McastDstIP != netip.MustParseAddr("224.0.0.99") {
		t.Errorf("A (top-level defaults): %+v", a)
	}
	if b.LowerPrioNoAdvert || b.HigherPrioSendAdvert || b.McastDstIP != netip.MustParseAddr("224.0.0.100") ||
		b.UnicastTTL != 64 || !b.UnicastFaultNoPeer || b.KernelRxBufSize != 4096 {
		t.Errorf("B (its own): %+v", b)
	}
	assertRoundTrip(t, c)
	for _, tc := range []struct {
		from, to    string
		line        int
		field, want string
	}{
		{"unicast_ttl: 64", "unicast_ttl: 0", 15, "vrrp[1].unicast_ttl", "must be 1..255, got 0"},
		{"mcast_dst_ip: 224.0.0.100", "mcast_dst_ip: 10.0.0.100", 13, "vrrp[1].mcast_dst_ip", "must be an IPv4 multicast address (224.0.0.0/4), got 10.0.0.100"},
		{"vrrp_mcast_group4: 224.0.0.99", "vrrp_mcast_group4: 10.0.0.99", 3, "vrrp_mcast_group4", "must be an IPv4 multicast address (224.0.0.0/4), got 10.0.0.99"},
		{"kernel_rx_buf_size: 4096", "kernel_rx_buf_size: -1", 17, "vrrp[1].kernel_rx_buf_size", "must be 0..2147483647, got -1"},
	} {
		_, err := ParseYAML("x.yaml", []byte(strings.Replace(doc, tc.from, tc.to, 1)))
		wantProblem(t, err, "x.yaml", tc.line, tc.field, tc.want)
	}
}

// hasWarning reports whether a warning's text starts with prefix.
func hasWarning(warns []Warning, prefix string) bool {
	for _, w := range warns {
		if strings.HasPrefix(w.String(), prefix) {
			return true
		}
	}
	return false
}
