package config

import (
	"strings"
	"testing"
)

// "lvs_method TUN type gre" (IPVS --tun-type gre) at the virtual_server
// or, with its own method, a real_server, as keepalived 2.2.7 reads it;
// type ipip and nocsum are the defaults, GUE and GRE checksums are refused;
// YAML's tunnel_type goes with forward: tun beside it (either family).
func TestTunnelTypeGRE(t *testing.T) {
	c, warns, err := ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lvs_method TUN type gre nocsum")+
		strings.NewReplacer("10.0.0.1 80", "10.0.0.1 81", "10.0.0.2 80", "10.0.0.2 81", "weight 1", "weight 1\n        lvs_method TUN type gre").Replace(kaBase)))
	if err != nil || len(warns) != 0 {
		t.Fatalf("%v %v", err, warns)
	}
	if s := c.Services[0]; s.Forward != TUN || s.TunnelType != TunnelGRE || tunnelOf(s, 0) != TunnelGRE {
		t.Errorf("service forward %s type %q, real server %q", s.Forward, s.TunnelType, tunnelOf(s, 0))
	}
	if s := c.Services[1]; s.Forward != DR || s.ForwardOf(s.RealServers[0]) != TUN || tunnelOf(s, 0) != TunnelGRE {
		t.Errorf("DR service's GRE real server: %s %q", s.ForwardOf(s.RealServers[0]), tunnelOf(s, 0))
	}
	if out := assertRoundTrip(t, c); strings.Count(string(out), "tunnel_type: gre") != 2 {
		t.Errorf("YAML lacks the tunnel types:\n%s", out)
	}
	if c, _, err := ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lvs_method TUN type ipip"))); err != nil || c.Services[0].TunnelType != TunnelIPIP {
		t.Errorf("type ipip: %v", err)
	}
	for _, tc := range []struct {
		method     string
		line       int
		field, msg string
	}{
		{"lvs_method TUN type gue", 1, "services[0].tunnel_port", "gue needs the real servers' UDP port"},
		{"lvs_method TUN type gre port 6080", 2, "services[0].tunnel_port", "goes with tunnel_type: gue"},
		{"lvs_method TUN type gue port 70000", 2, "lvs_method", `TUN port "70000": want 1..65535`},
		{"lvs_method TUN type gre csum", 2, "lvs_method", "TUN csum is not supported"},
		{"lvs_method TUN type vxlan", 2, "lvs_method", `unknown TUN type "vxlan"`},
		{"lvs_method DR type gre", 2, "lvs_method", "DR takes no options"},
	} {
		_, _, err := ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", tc.method)))
		wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
	}

	const docFmt = "services:\n  - {vip: %s, port: 80, protocol: tcp, forward: %s, tunnel_type: %s, real_servers: [{address: %s, port: 80}]}\n"
	yml := func(vip, fwd, typ, rs string) string {
		doc := docFmt
		for _, v := range []string{vip, fwd, typ, rs} {
			doc = strings.Replace(doc, "%s", v, 1)
		}
		return doc
	}
	if c, err := ParseYAML("t.yaml", []byte(yml("10.0.0.1", "tun", "GRE", "10.0.0.2"))); err != nil || c.Services[0].TunnelType != TunnelGRE {
		t.Fatalf("YAML tunnel_type GRE: %v", err)
	}
	if c, err := ParseYAML("t.yaml", []byte(yml("10.0.0.1", "tun", "ipip", "10.0.0.2"))); err != nil || c.Services[0].TunnelType != TunnelIPIP {
		t.Fatalf("YAML tunnel_type ipip: %v", err)
	}
	_, err = ParseYAML("t.yaml", []byte(yml("10.0.0.1", "dr", "gre", "10.0.0.2")))
	wantProblem(t, err, "t.yaml", 2, "services[0].tunnel_type", `goes with forward: tun beside it, got forward "dr"`)
	if c, err := ParseYAML("t.yaml", []byte(yml("fd00::1", "tun", "gre", "fd00::2"))); err != nil || c.Services[0].TunnelType != TunnelGRE {
		t.Fatalf("YAML tunnel_type gre for an IPv6 service (GRE over IPv6): %v", err)
	}
	_, err = ParseYAML("t.yaml", []byte(yml("10.0.0.1", "tun", "vxlan", "10.0.0.2")))
	wantProblem(t, err, "t.yaml", 2, "services[0].tunnel_type", `unknown tunnel type "vxlan"`)
	_, err = ParseYAML("t.yaml", []byte("services:\n  - {vip: 10.0.0.1, port: 80, protocol: tcp, forward: tun, real_servers: [{address: 10.0.0.2, port: 80, tunnel_type: gre}]}\n"))
	wantProblem(t, err, "t.yaml", 2, "services[0].real_servers[0].tunnel_type", "goes with forward: tun beside it")
}

func tunnelOf(s Service, i int) TunnelType {
	t, _ := s.TunnelOf(s.RealServers[i])
	return t
}

// "lvs_method TUN type gue port N" (IPVS --tun-type gue --tun-port N):
// GUE to the real servers' UDP port N, read at the virtual_server and in a
// real_server, and into YAML (tunnel_port) and back.
func TestTunnelTypeGUE(t *testing.T) {
	c, warns, err := ParseKeepalived("k.conf", []byte(strings.Replace(kaEdit("lb_kind DR", "lvs_method TUN type gue port 6080 nocsum"), "weight 1", "weight 1\n        lvs_method TUN type gue port 6081", 1)))
	if err != nil || len(warns) != 0 {
		t.Fatalf("%v %v", err, warns)
	}
	s := c.Services[0]
	rt, rp := s.TunnelOf(s.RealServers[0])
	if s.TunnelType != TunnelGUE || s.TunnelPort != 6080 || rt != TunnelGUE || rp != 6081 {
		t.Errorf("service %q:%d, real server %q:%d", s.TunnelType, s.TunnelPort, rt, rp)
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "tunnel_port: 6080") || !strings.Contains(string(out), "tunnel_port: 6081") {
		t.Errorf("YAML lacks the ports:\n%s", out)
	}
	_, err = ParseYAML("t.yaml", []byte("services:\n  - {vip: 10.0.0.1, port: 80, protocol: tcp, forward: tun, tunnel_type: gue, tunnel_port: 0, real_servers: [{address: 10.0.0.2, port: 80}]}\n"))
	if err == nil {
		t.Fatal("tunnel_port 0 with gue accepted")
	}
	if _, err = ParseYAML("t.yaml", []byte("services:\n  - {vip: fd00::1, port: 80, protocol: tcp, forward: tun, tunnel_type: gue, tunnel_port: 6080, real_servers: [{address: fd00::2, port: 80}]}\n")); err != nil {
		t.Fatalf("GUE over IPv6: %v", err)
	}
}
