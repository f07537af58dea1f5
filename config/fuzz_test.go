package config

import (
	"os"
	"path/filepath"
	"testing"
)

// Both parsers read files an operator (or an attacker with write access to a
// config directory) controls; they must reject bad input with an error, never
// panic, and whatever they accept must convert to YAML and back unchanged,
// since `xlb config convert` relies on that. Seeds beyond these are in
// testdata/fuzz/<FuzzName>/.

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(fullYAML))
	f.Add([]byte(svcYAML(nil)))
	f.Add([]byte("services: [{vip: 10.0.0.1, port: 1, protocol: udp, real_servers: [{address: 10.0.0.2}]}]\n"))
	f.Add([]byte("services: [{vip: 10.0.0.1, port: 1, protocol: tcp, forward: tun, real_servers: [{address: 10.0.0.2, forward: dr}], sorry_server: {address: 10.0.0.3, forward: dr}}]\n"))
	f.Add([]byte("services: [{vip: 10.0.0.1, port: 1, protocol: tcp, forward: tun, tunnel_type: gre, real_servers: [{address: 10.0.0.2, forward: tun, tunnel_type: ipip}, {address: 10.0.0.3, forward: tun, tunnel_type: gue, tunnel_port: 6080}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseYAML("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned together with an error")
			}
			return
		}
		roundTrip(t, c)
	})
}

func FuzzParseKeepalived(f *testing.F) {
	f.Add([]byte(kaFull))
	f.Add([]byte(kaBase))
	f.Add([]byte(kaSyncSeed))
	if seed, err := os.ReadFile(filepath.Join("testdata", "seed-master.keepalived.conf")); err == nil {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParseKeepalived("fuzz.conf", data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned together with an error")
			}
			return
		}
		roundTrip(t, c)
	})
}

func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("accepted config fails Validate: %v", err)
	}
	out, err := MarshalYAML(c)
	if err != nil {
		t.Fatalf("marshal accepted config: %v", err)
	}
	back, err := ParseYAML("round.yaml", out)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
	}
	assertSameConfig(t, back, c)
}

// kaSyncSeed holds the sync group, source and link keywords.
const kaSyncSeed = `interface_up_down_delays {
 eth1 2 3
 eth2 0.5
}
garp_group {
 garp_interval 0.25
 gna_interval 0
 interfaces {
  eth1
  eth2
 }
}
track_file tf {
 file /run/tf
}
vrrp_script chk {
 script /bin/true
 weight -20
}
vrrp_sync_group G {
 group { VI_1 VI_2 }
 sync_group_tracking_weight
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 priority 100
 promote_secondaries
 unicast_src_ip 10.0.0.5
 track_src_ip
 unicast_peer {
  10.0.0.6
 }
 version 3
 old_unicast_checksum never
 track_script {
  chk
 }
 track_file {
  tf weight -2
 }
 track_interface {
  eth1 weight -10
 }
 virtual_ipaddress { 10.0.0.1 }
}
vrrp_instance VI_2 {
 interface eth0
 virtual_router_id 52
 priority 100
 native_ipv6
 virtual_ipaddress { fd00::1 }
}
`
