package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const bgpYAML = `services:
  - vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: mh
    real_servers: [{address: 192.168.101.3}]
  - vip: 192.168.101.101
    port: 80
    protocol: tcp
    bgp_announce: false
    real_servers: [{address: 192.168.101.3}]
bgp:
  local_asn: 65001
  router_id: 192.168.101.8
  next_hop: 192.168.101.8
  communities: ["65000:100", no-export]
  peers:
    - {address: 192.168.101.1, asn: 65000, hold_time: 3, keepalive_interval: 1}
    - address: 192.168.101.2
      asn: 65000
      passive: true
      port: 1179
`

func TestBGPParse(t *testing.T) {
	c, err := ParseYAML("b.yaml", []byte(bgpYAML))
	if err != nil {
		t.Fatal(err)
	}
	b := c.BGP
	if b == nil || b.LocalASN != 65001 || b.RouterID != netip.MustParseAddr("192.168.101.8") || b.ListenPort != 179 {
		t.Fatalf("bgp = %+v", b)
	}
	if len(b.Peers) != 2 {
		t.Fatalf("peers = %+v", b.Peers)
	}
	p0, p1 := b.Peers[0], b.Peers[1]
	if p0.HoldTime != 3*time.Second || p0.Keepalive() != time.Second || p0.Port != 179 || p0.Passive || p0.ConnectRetry != DefaultConnectRetry {
		t.Errorf("peer 0 = %+v", p0)
	}
	if p1.HoldTime != DefaultHoldTime || p1.Keepalive() != 30*time.Second || p1.Port != 1179 || !p1.Passive || p1.Line != 19 {
		t.Errorf("peer 1 = %+v", p1)
	}
	if c.Services[0].NoAnnounce || !c.Services[1].NoAnnounce {
		t.Errorf("bgp_announce not read: %v %v", c.Services[0].NoAnnounce, c.Services[1].NoAnnounce)
	}
	if v, _ := ParseCommunity("65000:100"); v != 65000<<16|100 {
		t.Errorf("community 65000:100 = %#x", v)
	}
	if v, _ := ParseCommunity("no-export"); v != 0xFFFFFF01 {
		t.Errorf("no-export = %#x", v)
	}

	out := assertRoundTrip(t, c)
	for _, frag := range []string{"bgp_announce: false", "bgp_announce: true", "local_asn: 65001", "hold_time: 3", `communities: ['65000:100', no-export]`} {
		if !strings.Contains(string(out), frag) {
			t.Errorf("output lacks %q:\n%s", frag, out)
		}
	}
}

func TestBGPErrors(t *testing.T) {
	base := strings.Split(strings.TrimSuffix(bgpYAML, "\n"), "\n")
	with := func(repl map[int]string) string {
		lines := append([]string(nil), base...)
		for n, s := range repl {
			lines[n-1] = s
		}
		return strings.Join(lines, "\n") + "\n"
	}
	tests := []struct {
		name  string
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"no asn", with(map[int]string{13: "  local_asn: 0"}), 13, "bgp.local_asn", "is required"},
		{"v6 router id", with(map[int]string{14: "  router_id: 2001:db8::1"}), 14, "bgp.router_id", "IPv4"},
		{"bad community", with(map[int]string{16: `  communities: ["65000:70000"]`}), 16, "bgp.communities[0]", "0..65535"},
		{"short hold", with(map[int]string{18: "    - {address: 192.168.101.1, asn: 65000, hold_time: 2}"}), 18, "bgp.peers[0].hold_time", "3..65535"},
		{"keepalive too long", with(map[int]string{18: "    - {address: 192.168.101.1, asn: 65000, hold_time: 3, keepalive_interval: 3}"}), 18, "bgp.peers[0].keepalive_interval", "shorter than hold_time"},
		{"dup peer", with(map[int]string{19: "    - address: 192.168.101.1"}), 19, "bgp.peers[1].address", "duplicate peer"},
		{"no peer asn", with(map[int]string{20: "      asn: 0"}), 20, "bgp.peers[1].asn", "is required"},
		{"unknown key", with(map[int]string{21: "      passiv: true"}), 21, "bgp.peers[1].passiv", "unknown key"},
		{"listen -2", with(map[int]string{15: "  listen_port: -2"}), 15, "bgp.listen_port", "must be -1..65535"},
		{"passive without listener", with(map[int]string{15: "  listen_port: -1"}), 15, "bgp.listen_port", "passive peer"},
		{"bad next hop", with(map[int]string{15: "  next_hop: 224.0.0.5"}), 15, "bgp.next_hop", "multicast"},
		{"next hop family", with(map[int]string{15: "  next_hop: 2001:db8::8"}), 2, "services[0].vip", "cannot be announced with the IPv6 bgp.next_hop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("b.yaml", []byte(tc.yaml))
			wantProblem(t, err, "b.yaml", tc.line, tc.field, tc.msg)
		})
	}
	// bgp_announce without a bgp section would silently do nothing.
	noBGP := strings.Join(base[:11], "\n") + "\n"
	_, err := ParseYAML("b.yaml", []byte(noBGP))
	wantProblem(t, err, "b.yaml", 10, "services[1].bgp_announce", "only applies with a bgp section")
	// No peers at all.
	_, err = ParseYAML("b.yaml", []byte(strings.Join(base[:13], "\n")+"\n"))
	wantProblem(t, err, "b.yaml", 13, "bgp.peers", "at least one peer")
}
