package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fullYAML is the schema example of the design brief, with every field set.
const fullYAML = `timeouts: {tcp: 900, tcp_fin: 120, udp: 300}
conn_table_size: 1048576
services:
  - name: web
    vip: 192.168.101.100
    port: 80
    protocol: tcp
    scheduler: wlc
    forward: dr
    persistence_timeout: 50
    hash_port: false
    timeouts: {tcp: 15m}
    delay_loop: 6
    expire_nodest_conn: true
    inhibit_on_failure: true
    real_servers:
      - address: 192.168.101.3
        port: 80
        weight: 3
        check: {type: tcp, connect_port: 80, connect_timeout: 3, retry: 3, delay_before_retry: 3, rise: 2, fall: 3}
      - address: 192.168.101.4
        port: 80
        weight: 0
        check:
          type: http
          path: /health
          status_code: 200
          digest: 9B3A0C85A887A256D6939DA88AABD8CD
  - name: dns
    vip: 192.168.101.100
    port: 53
    protocol: UDP
    scheduler: mh
    hash_port: true
    real_servers:
      - address: 192.168.101.5
        check: {type: misc, script: "/usr/local/bin/check_dns 192.168.101.5", timeout: 500ms}
vrrp:
  - name: VI_1
    state: master
    interface: eth0
    virtual_router_id: 51
    priority: 100
    advert_int: 1
    version: 2
    preempt: true
    preempt_delay: 0
    auth_type: PASS
    auth_pass: "1111"
    virtual_ipaddress: [192.168.101.100]
    track_interface: [eth0]
    notify_master: /path/script
  - name: VI_6
    interface: eth0
    virtual_router_id: 52
    priority: 50
    advert_int: 0.1
    version: 3
    preempt: false
    virtual_ipaddress: ["2001:db8::100"]
`

func TestParseYAMLFull(t *testing.T) {
	c, err := ParseYAML("full.yaml", []byte(fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "full.yaml" || c.ConnTableSize != 1<<20 || c.Timeouts != DefaultTimeouts {
		t.Errorf("globals: source %q size %d timeouts %+v", c.Source, c.ConnTableSize, c.Timeouts)
	}
	if len(c.Services) != 2 || len(c.VRRP) != 2 {
		t.Fatalf("got %d services, %d vrrp instances; want 2, 2", len(c.Services), len(c.VRRP))
	}
	web := c.Services[0]
	if web.Name != "web" || web.VIP != netip.MustParseAddr("192.168.101.100") || web.Port != 80 ||
		web.Protocol != TCP || web.Scheduler != WLC || web.Forward != DR ||
		web.PersistenceTimeout != 50*time.Second || web.DelayLoop != 6*time.Second ||
		!web.ExpireNodestConn || !web.InhibitOnFailure || web.HashPort || web.Line != 4 {
		t.Errorf("web service: %+v", web)
	}
	// The per-service override sets only tcp; zero fields inherit.
	if web.Timeouts != (Timeouts{TCP: 15 * time.Minute}) {
		t.Errorf("web timeouts = %+v, want only tcp 15m", web.Timeouts)
	}
	rs0 := web.RealServers[0]
	if rs0.Address != netip.MustParseAddr("192.168.101.3") || rs0.Port != 80 || rs0.Weight != 3 || rs0.Line != 17 {
		t.Errorf("rs0: %+v", rs0)
	}
	wantTCP := Check{Type: TCPCheck, ConnectPort: 80, ConnectTimeout: 3 * time.Second, Retry: 3,
		DelayBeforeRetry: 3 * time.Second, Rise: 2, Fall: 3, Line: 20}
	if !reflect.DeepEqual(*rs0.Check, wantTCP) {
		t.Errorf("rs0 check = %+v, want %+v", *rs0.Check, wantTCP)
	}
	rs1 := web.RealServers[1]
	if rs1.Weight != 0 {
		t.Errorf("explicit weight 0 (drain) became %d", rs1.Weight)
	}
	if ck := rs1.Check; ck.Type != HTTPCheck || ck.Path != "/health" || ck.StatusCodes != "200" ||
		ck.Digest != "9b3a0c85a887a256d6939da88aabd8cd" || ck.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("http check = %+v", ck)
	}
	dns := c.Services[1]
	if dns.Protocol != UDP || dns.Scheduler != MH || !dns.HashPort || dns.Forward != DR {
		t.Errorf("dns service: %+v", dns)
	}
	// A real server without a port takes the service port (DR cannot map ports).
	if dns.RealServers[0].Port != 53 || dns.RealServers[0].Weight != 1 {
		t.Errorf("dns rs port %d weight %d, want 53 and default 1", dns.RealServers[0].Port, dns.RealServers[0].Weight)
	}
	if ck := dns.RealServers[0].Check; ck.Type != MiscCheck || ck.Script != "/usr/local/bin/check_dns 192.168.101.5" || ck.Timeout != 500*time.Millisecond {
		t.Errorf("misc check = %+v", ck)
	}
	v := c.VRRP[0]
	if v.Name != "VI_1" || v.State != "MASTER" || v.Interface != "eth0" || v.VirtualRouterID != 51 ||
		v.Priority != 100 || v.AdvertInterval != time.Second || v.Version != 2 || !v.Preempt ||
		v.AuthType != "PASS" || v.AuthPass != "1111" || len(v.VirtualAddrs) != 1 ||
		v.VirtualAddrs[0] != netip.MustParseAddr("192.168.101.100") || len(v.TrackInterfaces) != 1 ||
		v.NotifyMaster != "/path/script" || v.Line != 39 {
		t.Errorf("VI_1: %+v", v)
	}
	v6 := c.VRRP[1]
	if v6.State != "BACKUP" || v6.AdvertInterval != 100*time.Millisecond || v6.Version != 3 || v6.Preempt {
		t.Errorf("VI_6: %+v", v6)
	}
}

func TestYAMLDefaults(t *testing.T) {
	c, err := ParseYAML("d.yaml", []byte(`services:
  - vip: 10.0.0.1
    port: 443
    protocol: tcp
    real_servers:
      - address: 10.0.0.2
        check: {type: tcp}
      - address: 10.0.0.3
        check: {type: misc, script: /bin/true}
vrrp:
  - name: VI_1
    interface: eth0
    virtual_router_id: 1
    priority: 100
    virtual_ipaddress: [10.0.0.1]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeouts != DefaultTimeouts || c.ConnTableSize != 1048576 {
		t.Errorf("global defaults: %+v, %d", c.Timeouts, c.ConnTableSize)
	}
	s := c.Services[0]
	if s.Name != "10.0.0.1:443/tcp" || s.Scheduler != WLC || s.Forward != DR || s.DelayLoop != 60*time.Second ||
		s.PersistenceTimeout != 0 || s.Timeouts != (Timeouts{}) {
		t.Errorf("service defaults: %+v", s)
	}
	r := s.RealServers[0]
	if r.Port != 443 || r.Weight != 1 {
		t.Errorf("real server defaults: port %d weight %d", r.Port, r.Weight)
	}
	want := Check{Type: TCPCheck, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Fall: 1, Line: 7}
	if !reflect.DeepEqual(*r.Check, want) {
		t.Errorf("check defaults = %+v, want %+v", *r.Check, want)
	}
	// keepalived's misc_timeout defaults to the delay_loop.
	if got := s.RealServers[1].Check.Timeout; got != 60*time.Second {
		t.Errorf("misc timeout default = %s, want delay_loop 60s", got)
	}
	v := c.VRRP[0]
	if v.State != "BACKUP" || v.AdvertInterval != time.Second || v.Version != 2 || !v.Preempt || v.PreemptDelay != 0 {
		t.Errorf("vrrp defaults: %+v", v)
	}
}

func TestYAMLEmptyAndDurations(t *testing.T) {
	// A file with nothing in it is refused (a reload of a truncated file
	// must not take every service down); an explicit empty list is not.
	for _, text := range []string{"", "\n  \n", "# all commented out\n# services:\n", "~\n"} {
		if c, err := ParseYAML("empty.yaml", []byte(text)); err == nil ||
			!strings.HasPrefix(err.Error(), "empty.yaml: no configuration in the file") {
			t.Errorf("file %q: %+v, %v; want it refused as empty", text, c, err)
		}
	}
	c, err := ParseYAML("none.yaml", []byte("services: []\n"))
	if err != nil || len(c.Services) != 0 || c.Timeouts != DefaultTimeouts {
		t.Fatalf("services: []: %+v, %v; want an empty config with defaults", c, err)
	}
	c, err = ParseYAML("t.yaml", []byte("timeouts: {tcp: 15m, tcp_fin: 1.5, udp: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// 0 keeps the default, as with ipvsadm --set.
	want := Timeouts{TCP: 15 * time.Minute, TCPFin: 1500 * time.Millisecond, UDP: 300 * time.Second}
	if c.Timeouts != want {
		t.Errorf("timeouts = %+v, want %+v", c.Timeouts, want)
	}
}

// svcYAML is a valid one-service file; cases below change single lines.
//
//	1 services:
//	2   - name: web
//	3     vip: 192.168.101.100
//	4     port: 80
//	5     protocol: tcp
//	6     real_servers:
//	7       - address: 192.168.101.3
//	8         port: 80
func svcYAML(replace map[int]string, extra ...string) string {
	lines := []string{
		"services:",
		"  - name: web",
		"    vip: 192.168.101.100",
		"    port: 80",
		"    protocol: tcp",
		"    real_servers:",
		"      - address: 192.168.101.3",
		"        port: 80",
	}
	for n, l := range replace {
		lines[n-1] = l
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

func TestYAMLErrors(t *testing.T) {
	if _, err := ParseYAML("t.yaml", []byte(svcYAML(nil))); err != nil {
		t.Fatalf("base config must be valid: %v", err)
	}
	vrrpBase := []string{
		"vrrp:",                     // 9
		"  - name: VI_1",            // 10
		"    interface: eth0",       // 11
		"    virtual_router_id: 51", // 12
		"    priority: 100",         // 13
		"    virtual_ipaddress: [192.168.101.100]", // 14
	}
	vrrpWith := func(extra ...string) string {
		return svcYAML(nil, append(append([]string{}, vrrpBase...), extra...)...)
	}

	tests := []struct {
		name  string
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"unknown scheduler", svcYAML(map[int]string{5: "    scheduler: fifo"}, "    protocol: tcp"), 5, "services[0].scheduler", `unknown scheduler "fifo"`},
		{"bad vip", svcYAML(map[int]string{3: "    vip: 192.168.101.300"}), 3, "services[0].vip", "invalid IP address"},
		{"bad real server ip", svcYAML(map[int]string{7: "      - address: web1"}), 7, "services[0].real_servers[0].address", "invalid IP address"},
		{"mixed families", svcYAML(map[int]string{7: "      - address: 2001:db8::3"}), 7, "services[0].real_servers[0].address", "IPv6 but the service VIP 192.168.101.100 is IPv4"},
		{"dr port mismatch", svcYAML(map[int]string{8: "        port: 8080"}), 8, "services[0].real_servers[0].port", "cannot change ports"},
		{"tun ipv6 vip, ipv4 real server", svcYAML(map[int]string{3: "    vip: 2001:db8::100", 5: "    protocol: tcp\n    forward: tun"}), 8, "services[0].real_servers[0].address", "192.168.101.3 is IPv4 but the service VIP 2001:db8::100 is IPv6"},
		{"tun ipv4 vip, ipv6 real server", svcYAML(map[int]string{5: "    protocol: tcp\n    forward: tun", 7: "      - address: 2001:db8::3"}), 8, "services[0].real_servers[0].address", "2001:db8::3 is IPv6 but the service VIP 192.168.101.100 is IPv4"},
		{"duplicate service", svcYAML(nil, "  - name: web2", "    vip: 192.168.101.100", "    port: 80", "    protocol: tcp"), 9, "services[1]", "duplicate service 192.168.101.100:80/tcp"},
		{"duplicate service name", svcYAML(nil, "  - name: web", "    vip: 192.168.101.100", "    port: 443", "    protocol: tcp"), 9, "services[1].name", `duplicate service name "web"`},
		{"duplicate real server", svcYAML(nil, "      - address: 192.168.101.3"), 9, "services[0].real_servers[1]", "duplicate real server 192.168.101.3:80"},
		{"negative weight", svcYAML(nil, "        weight: -1"), 9, "services[0].real_servers[0].weight", "must be 0..65535, got -1"},
		{"lthreshold above uthreshold", svcYAML(nil, "        uthreshold: 10", "        lthreshold: 20"), 10, "services[0].real_servers[0].lthreshold", "20 is above uthreshold 10"},
		{"uthreshold negative", svcYAML(nil, "        uthreshold: -5"), 9, "services[0].real_servers[0].uthreshold", "got -5"},
		{"weight too big", svcYAML(nil, "        weight: 65536"), 9, "services[0].real_servers[0].weight", "must be 0..65535"},
		{"unknown key", svcYAML(map[int]string{5: "    protocl: tcp"}), 5, "services[0].protocl", `unknown key "protocl"`},
		{"unknown top-level key", svcYAML(nil, "service: {}"), 9, "service", "unknown key"},
		{"missing protocol", svcYAML(map[int]string{5: "    forward: dr"}), 2, "services[0].protocol", "is required"},
		{"unknown protocol", svcYAML(map[int]string{5: "    protocol: sctp"}), 5, "services[0].protocol", `unknown protocol "sctp"`},
		{"nat forward", svcYAML(nil, "    forward: nat"), 9, "services[0].forward", "NAT is not supported"},
		{"negative persistence", svcYAML(nil, "    persistence_timeout: -5"), 9, "services[0].persistence_timeout", "must not be negative"},
		{"negative service timeout", svcYAML(nil, "    timeouts: {udp: -1s}"), 9, "services[0].timeouts.udp", "must not be negative"},
		{"negative global timeout", "timeouts:\n  tcp: -30\n", 2, "timeouts.tcp", "must not be negative"},
		{"timeout beyond IPVS's limit", "timeouts:\n  tcp: 720h\n", 2, "timeouts.tcp", "must be at most"},
		{"zero conn table", "conn_table_size: 0\n", 1, "conn_table_size", "must be > 0"},
		{"port out of range", svcYAML(map[int]string{4: "    port: 70000"}), 4, "services[0].port", "must be 0..65535"},
		{"port not a number", svcYAML(map[int]string{4: "    port: http"}), 4, "services[0].port", `must be an integer, got "http"`},
		{"bad duration", svcYAML(nil, "    delay_loop: soon"), 9, "services[0].delay_loop", `got "soon"`},
		{"hash_port with wlc", svcYAML(nil, "    hash_port: true"), 9, "services[0].hash_port", "only applies to the sh and mh"},
		{"duplicate key", svcYAML(nil, "    port: 81"), 9, "services[0].port", "duplicate key (first at line 4)"},
		{"services not a list", "services: web\n", 1, "services", "must be a list"},
		{"malformed yaml", "services:\n  - name: web\n   vip: [1.2.3.4\n", 2, "", "invalid YAML: did not find expected '-' indicator (in the block that starts on this line)"},
		{"yaml tab", "conn_table_size: 1\n\tservices: []\n", 2, "", "invalid YAML: found a tab character"},
		{"second document", "conn_table_size: 5\n---\nconn_table_size: 6\n", 2, "", "only one YAML document"},
		{"unknown check type", svcYAML(nil, "        check: {type: icmp}"), 9, "services[0].real_servers[0].check.type", `unknown check type "icmp"`},
		{"http without path", svcYAML(nil, "        check: {type: http}"), 9, "services[0].real_servers[0].check.path", "required for http"},
		{"misc without script", svcYAML(nil, "        check: {type: misc}"), 9, "services[0].real_servers[0].check.script", "required for misc"},
		{"rise below 1", svcYAML(nil, "        check: {type: tcp, rise: 0}"), 9, "services[0].real_servers[0].check.rise", "must be >= 1"},
		{"fall below 1", svcYAML(nil, "        check:", "          type: tcp", "          fall: 0"), 11, "services[0].real_servers[0].check.fall", "must be >= 1"},
		{"path on tcp check", svcYAML(nil, "        check: {type: tcp, path: /}"), 9, "services[0].real_servers[0].check.path", "only applies to http"},
		{"connect_timeout on misc check", svcYAML(nil, "        check:", "          type: misc", "          script: /bin/true", "          connect_timeout: 3"), 12, "services[0].real_servers[0].check.connect_timeout", "does not apply to misc"},
		{"huge duration", svcYAML(nil, "    delay_loop: 99999999999999"), 9, "services[0].delay_loop", "out of range"},
		{"unspecified vip", svcYAML(map[int]string{3: "    vip: 0.0.0.0"}), 3, "services[0].vip", "unspecified address"},
		{"multicast real server", svcYAML(map[int]string{7: "      - address: 224.0.0.18"}), 7, "services[0].real_servers[0].address", "multicast"},
		{"zoned address", svcYAML(map[int]string{3: "    vip: fe80::1%eth0"}), 3, "services[0].vip", "zoned address"},
		{"status code range", svcYAML(nil, "        check: {type: http, path: /, status_code: 99}"), 9, "services[0].real_servers[0].check.status_code", `status codes are 100..599, got "99"`},
		{"status code empty list", svcYAML(nil, "        check: {type: http, path: /, status_code: []}"), 9, "services[0].real_servers[0].check.status_code", "empty list"},
		{"status code reversed", svcYAML(nil, "        check: {type: http, path: /, status_code: [200, 399-300]}"), 9, "services[0].real_servers[0].check.status_code", "ends before it starts"},
		{"script on tcp check", svcYAML(nil, "        check: {type: tcp, script: /bin/true}"), 9, "services[0].real_servers[0].check.script", "only applies to misc"},
		{"connect_port on misc check", svcYAML(nil, "        check: {type: misc, script: /bin/true, connect_port: 80}"), 9, "services[0].real_servers[0].check.connect_port", "do not apply to misc"},
		{"bool field", svcYAML(nil, "    hash_port: yes please"), 9, "services[0].hash_port", "must be true or false"},
		{"list where value expected", svcYAML(map[int]string{3: "    vip: [10.0.0.1]"}), 3, "services[0].vip", "must be a single value, got a list"},
		{"bad digest", svcYAML(nil, "        check: {type: http, path: /, digest: abc}"), 9, "services[0].real_servers[0].check.digest", "32 hex digits"},
		{"notify_up without a check", svcYAML(nil, "        notify_up: /bin/alert"), 9, "services[0].real_servers[0].notify_up", "needs a check"},
		{"blank notify_down", svcYAML(nil, "        check: {type: tcp}", "        notify_down: ' '"), 10, "services[0].real_servers[0].notify_down", "is blank"},
		{"script weight range", vrrpWith("vrrp_scripts:", "  - {name: chk, script: /bin/true, weight: 300}"), 16, "vrrp_scripts[0].weight", "must be -253..253"},
		{"duplicate script", vrrpWith("vrrp_scripts:", "  - {name: chk, script: /bin/true}", "  - {name: chk, script: /bin/false}"), 17, "vrrp_scripts[1].name", `duplicate vrrp script name "chk"`},
		{"ipv6 unicast peer", vrrpWith("    unicast_peer: ['2001:db8::9']"), 15, "vrrp[0].unicast_peer[0]", "must be an IPv4 unicast address"},
		{"track unknown script", vrrpWith("    track_script: [chk]"), 15, "vrrp[0].track_script[0]", `no vrrp script named "chk"`},
		{"track unknown file", vrrpWith("    track_file: [f]"), 15, "vrrp[0].track_file[0]", `no track file named "f"`},
		{"track file weight range", vrrpWith("vrrp_track_files:", "  - {name: f, file: /run/f, weight: 255}"), 16, "vrrp_track_files[0].weight", "must be -254..254, got 255"},
		{"track file entry weight range", vrrpWith("    track_file: [{name: f, weight: -300}]", "vrrp_track_files:", "  - {name: f, file: /run/f}"), 15, "vrrp[0].track_file[0].weight", "must be -254..254, got -300"},
		{"track file relative", vrrpWith("vrrp_track_files:", "  - {name: f, file: run/f}"), 16, "vrrp_track_files[0].file", "must be an absolute path"},
		{"track file without file", vrrpWith("vrrp_track_files:", "  - {name: f}"), 16, "vrrp_track_files[0].file", "is required"},
		{"track file duplicate", vrrpWith("vrrp_track_files:", "  - {name: f, file: /run/f}", "  - {name: f, file: /run/g}"), 17, "vrrp_track_files[1].name", `duplicate track file name "f"`},
		{"track file unknown key", vrrpWith("vrrp_track_files:", "  - {name: f, file: /run/f, inti_file: {}}"), 16, "vrrp_track_files[0].inti_file", `unknown key "inti_file"`},
		{"track file init value", vrrpWith("vrrp_track_files:", "  - {name: f, file: /run/f, init_file: {value: 5000000000}}"), 16, "vrrp_track_files[0].init_file.value", "must be -2147483648..2147483647"},
		{"track file init key", vrrpWith("vrrp_track_files:", "  - {name: f, file: /run/f, init_file: {overwrite: yes, create: true}}"), 16, "vrrp_track_files[0].init_file.create", `unknown key "create"`},
		{"reverse not a bool", vrrpWith("    track_interface: [{name: eth1, weight: 5, reverse: maybe}]"), 15, "vrrp[0].track_interface[0].reverse", ""},
		{"file weight on owner", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 255", "    virtual_ipaddress: [192.168.101.100]", "    track_file: [f]", "vrrp_track_files:", "  - {name: f, file: /run/f}"), 15, "vrrp[0].track_file[0]", "cannot move priority 255"},
		{"weight on owner", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 255", "    virtual_ipaddress: [192.168.101.100]", "    track_script: [{name: chk, weight: -10}]", "vrrp_scripts:", "  - {name: chk, script: /bin/true}"), 15, "vrrp[0].track_script[0]", "cannot move priority 255"},
		{"granularity without persistence", svcYAML(nil, "    persistence_granularity: 24"), 9, "services[0].persistence_granularity", "only applies with persistence_timeout"},
		{"granularity too long", svcYAML(nil, "    persistence_timeout: 50", "    persistence_granularity: 33"), 10, "services[0].persistence_granularity", "prefix length 1..32"},
		{"hysteresis at quorum", svcYAML(nil, "    quorum: 2", "    hysteresis: 2"), 10, "services[0].hysteresis", "must be 0..1"},
		{"ops on tcp", svcYAML(nil, "    ops: true"), 9, "services[0].ops", "only applies to udp"},
		{"sorry server family", svcYAML(nil, "    sorry_server: {address: 2001:db8::9}"), 9, "services[0].sorry_server.address", "IPv6 but the service VIP 192.168.101.100 is IPv4"},
		{"sorry server port 0", svcYAML(nil, "    sorry_server: {address: 192.168.101.9, port: 0}"), 9, "services[0].sorry_server.port", "must be 1..65535"},
		{"sorry server without address", svcYAML(nil, "    sorry_server: {port: 80}"), 9, "services[0].sorry_server.address", "is required"},
		{"sorry server unknown field", svcYAML(nil, "    sorry_server: {address: 192.168.101.9, weight: 2}"), 9, "services[0].sorry_server.weight", "unknown"},
		{"https without path", svcYAML(nil, "        check: {type: https}"), 9, "services[0].real_servers[0].check.path", "required for http and https"},
		{"virtualhost on tcp check", svcYAML(nil, "        check: {type: tcp, virtualhost: www.example.com}"), 9, "services[0].real_servers[0].check.virtualhost", "only applies to http and https"},
		{"virtualhost with a path", svcYAML(nil, "        check: {type: http, path: /, virtualhost: www.example.com/x}"), 9, "services[0].real_servers[0].check.virtualhost", "must be a host name"},
		{"enable_sni on http check", svcYAML(nil, "        check: {type: http, path: /, virtualhost: a.example, enable_sni: true}"), 9, "services[0].real_servers[0].check.enable_sni", "only applies to https"},
		{"enable_sni without virtualhost", svcYAML(nil, "        check: {type: https, path: /, enable_sni: true}"), 9, "services[0].real_servers[0].check.enable_sni", "needs virtualhost"},
		{"vrid 0", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 0", "    priority: 100", "    virtual_ipaddress: [192.168.101.100]"), 12, "vrrp[0].virtual_router_id", "must be 1..255, got 0"},
		{"priority 256", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 256", "    virtual_ipaddress: [192.168.101.100]"), 13, "vrrp[0].priority", "must be 1..255, got 256"},
		{"auth_pass too long", vrrpWith("    auth_type: PASS", "    auth_pass: 123456789"), 16, "vrrp[0].auth_pass", "at most 8 characters"},
		{"version 4", vrrpWith("    version: 4"), 15, "vrrp[0].version", "must be 2 or 3"},
		{"v2 fractional advert", vrrpWith("    advert_int: 0.5"), 15, "vrrp[0].advert_int", "whole seconds"},
		{"no vips", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 100"), 10, "vrrp[0].virtual_ipaddress", "at least one"},
		{"bad vip in vrrp", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 100", "    virtual_ipaddress: [192.168.101.1000]"), 14, "vrrp[0].virtual_ipaddress[0]", "invalid IP address"},
		{"unknown vrrp key", vrrpWith("    prio: 1"), 15, "vrrp[0].prio", "unknown key"},
		{"v3 with auth", vrrpWith("    version: 3", "    auth_type: PASS", "    auth_pass: x"), 16, "vrrp[0].auth_type", "VRRPv3 has no authentication"},
		{"auth_pass without type", vrrpWith("    auth_pass: x"), 15, "vrrp[0].auth_pass", "auth_type is not PASS"},
		{"AH auth", vrrpWith("    auth_type: AH"), 15, "vrrp[0].auth_type", `unsupported auth_type "AH"`},
		{"v3 advert too long", vrrpWith("    version: 3", "    advert_int: 41"), 16, "vrrp[0].advert_int", "0.01..40.95"},
		{"preempt_delay too long", vrrpWith("    preempt_delay: 1001"), 15, "vrrp[0].preempt_delay", "0..1000"},
		{"bad state", vrrpWith("    state: primary"), 15, "vrrp[0].state", `got "PRIMARY"`},
		{"ipv6 vip with v2", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 100", "    virtual_ipaddress: ['2001:db8::1']"), 14, "vrrp[0].virtual_ipaddress[0]", "needs VRRP version 3"},
		{"mixed vip families", svcYAML(nil, "vrrp:", "  - name: VI_1", "    interface: eth0", "    virtual_router_id: 51", "    priority: 100", "    version: 3", "    virtual_ipaddress:", "      - 10.0.0.1", "      - 2001:db8::1"), 17, "vrrp[0].virtual_ipaddress[1]", "one instance carries one address family"},
		{"vip in two instances", vrrpWith("  - name: VI_2", "    interface: eth0", "    virtual_router_id: 52", "    priority: 100", "    virtual_ipaddress: [192.168.101.100]"), 19, "vrrp[1].virtual_ipaddress[0]", "already a virtual address of vrrp[0]"},
		{"duplicate instance name", vrrpWith("  - name: VI_1", "    interface: eth0", "    virtual_router_id: 52", "    priority: 100", "    virtual_ipaddress: [192.168.101.101]"), 15, "vrrp[1].name", `duplicate vrrp instance name "VI_1"`},
		{"duplicate vrid on interface", vrrpWith("  - name: VI_2", "    interface: eth0", "    virtual_router_id: 51", "    priority: 100", "    virtual_ipaddress: [192.168.101.101]"), 17, "vrrp[1].virtual_router_id", "already used on interface \"eth0\" by vrrp[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("t.yaml", []byte(tc.yaml))
			wantProblem(t, err, "t.yaml", tc.line, tc.field, tc.msg)
		})
	}
}

// One reload must show every mistake, not just the first.
func TestYAMLReportsAllProblems(t *testing.T) {
	src := svcYAML(map[int]string{3: "    vip: 10.0.0.300", 5: "    scheduler: fifo"}, "        weight: -2")
	_, err := ParseYAML("t.yaml", []byte(src))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	wantProblem(t, err, "t.yaml", 3, "services[0].vip", "invalid IP")
	wantProblem(t, err, "t.yaml", 5, "services[0].scheduler", "unknown scheduler")
	wantProblem(t, err, "t.yaml", 9, "services[0].real_servers[0].weight", "got -2")
	// The missing protocol (line 5 was replaced) is reported too.
	wantProblem(t, err, "t.yaml", 2, "services[0].protocol", "is required")
	// An unparsable VIP is not also reported as missing.
	if n := strings.Count(err.Error(), "services[0].vip"); n != 1 {
		t.Errorf("vip reported %d times, want once:\n%v", n, err)
	}
	for i := 1; i < len(ve.Problems); i++ {
		if ve.Problems[i].Line < ve.Problems[i-1].Line {
			t.Errorf("problems not in file order:\n%v", err)
			break
		}
	}
	if got := len(strings.Split(err.Error(), "\n")); got != len(ve.Problems) {
		t.Errorf("printed %d lines for %d problems", got, len(ve.Problems))
	}
}

// Validate works on configs built in code too (no file, no lines).
func TestValidateProgrammatic(t *testing.T) {
	c := &Config{ConnTableSize: 10, Timeouts: DefaultTimeouts, Services: []Service{{
		Name: "x", VIP: netip.MustParseAddr("10.0.0.1"), Port: 80, Protocol: TCP, Scheduler: RR, Forward: DR, DelayLoop: time.Second,
		RealServers: []RealServer{{Address: netip.MustParseAddr("10.0.0.2"), Port: 80, Weight: 1}},
	}}}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	c.Services[0].RealServers[0].Weight = -1
	c.Services[0].Scheduler = "lblc"
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "services[0].scheduler: unknown scheduler \"lblc\"") {
		t.Errorf("without a file the message starts with the field: %q", err.Error())
	}
}

func TestLoadYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xlb.yaml")
	if err := os.WriteFile(path, []byte(svcYAML(map[int]string{5: "    protocol: icmp"})), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadYAML(path)
	wantProblem(t, err, path, 5, "services[0].protocol", "unknown protocol")
	if _, err := LoadYAML(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want an error wrapping os.ErrNotExist", err)
	}
}

// A few kilobytes of aliases must not make the control plane decode millions
// of entries.
func TestYAMLAliasBomb(t *testing.T) {
	const n = 2000
	var b strings.Builder
	b.WriteString("services:\n  - &s {vip: 10.0.0.1, port: 80, protocol: tcp, real_servers: [&r {address: 10.0.0.2}")
	b.WriteString(strings.Repeat(", *r", n))
	b.WriteString("]}\n")
	b.WriteString(strings.Repeat("  - *s\n", n))
	start := time.Now()
	_, err := ParseYAML("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand the document") {
		t.Fatalf("want the alias expansion refused, got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
	// Ordinary anchor use stays fine.
	ok := "services:\n  - vip: 10.0.0.1\n    port: 80\n    protocol: tcp\n    real_servers: [&c {address: 10.0.0.2, check: {type: tcp}}]\n  - vip: 10.0.0.1\n    port: 81\n    protocol: tcp\n    real_servers: [{address: 10.0.0.3, port: 81}]\n"
	if _, err := ParseYAML("ok.yaml", []byte(ok)); err != nil {
		t.Fatal(err)
	}
}

// TUN serves IPv6 services too (IP6IP6, as ipvsadm -i does).
func TestYAMLTunIPv6(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(map[int]string{3: "    vip: 2001:db8::100", 5: "    protocol: tcp\n    forward: tun", 7: "      - address: 2001:db8:98::2"})))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if s.Forward != TUN || s.VIP != netip.MustParseAddr("2001:db8::100") || s.RealServers[0].Address != netip.MustParseAddr("2001:db8:98::2") {
		t.Fatalf("IPv6 TUN service = %+v", s)
	}
}

func TestYAMLHTTPSCheck(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: {type: HTTPS, path: /healthz, status_code: 204, virtualhost: www.example.com, enable_sni: true}")))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Services[0].RealServers[0].Check
	if ck.Type != HTTPSCheck || ck.Path != "/healthz" || ck.StatusCodes != "204" || ck.VirtualHost != "www.example.com" || !ck.EnableSNI {
		t.Errorf("https check = %+v", *ck)
	}
	// It survives printing and parsing back.
	assertRoundTrip(t, c)
}

// status_code takes keepalived 2's codes and ranges in each form a YAML
// writer would reach for, and prints back in one.
func TestYAMLStatusCodeRanges(t *testing.T) {
	for _, form := range []string{`"200-299 301-302"`, `"200-299,301-302"`, `[200-299, 301-302]`, `["200-299", "301-302"]`} {
		c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: {type: http, path: /, status_code: "+form+"}")))
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if got := c.Services[0].RealServers[0].Check.StatusCodes; got != "200-299 301-302" {
			t.Errorf("%s read as %q", form, got)
		}
		assertRoundTrip(t, c)
	}
	// One code stays an integer when printed.
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: {type: http, path: /, status_code: [204]}")))
	if err != nil {
		t.Fatal(err)
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "status_code: 204\n") {
		t.Errorf("one code printed as:\n%s", out)
	}
}

func TestYAMLNotifyScripts(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: {type: tcp}", "        notify_up: /bin/alert up", "        notify_down: /bin/alert down")))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Services[0].RealServers[0]; r.NotifyUp != "/bin/alert up" || r.NotifyDown != "/bin/alert down" {
		t.Errorf("notify scripts = %q, %q", r.NotifyUp, r.NotifyDown)
	}
	assertRoundTrip(t, c)
}

func TestYAMLSorryServer(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "    sorry_server: {address: 192.168.101.9}")))
	if err != nil {
		t.Fatal(err)
	}
	// The port defaults to the service's, as DR cannot change it.
	want := SorryServer{Address: netip.MustParseAddr("192.168.101.9"), Port: 80, Line: 9}
	if ss := c.Services[0].SorryServer; ss == nil || *ss != want {
		t.Fatalf("sorry_server = %+v, want %+v", ss, want)
	}
	if c.Services[0].RealServers[0].Address != netip.MustParseAddr("192.168.101.3") {
		t.Errorf("real servers changed: %+v", c.Services[0].RealServers)
	}
}

func TestYAMLSyncGroups(t *testing.T) {
	const two = `vrrp:
  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [10.0.0.1]}
  - {name: VI_2, interface: eth1, virtual_router_id: 52, priority: 100, virtual_ipaddress: [10.1.0.1]}
vrrp_sync_groups:
  - name: G1
    group: [VI_1, VI_2]
    notify_master: /bin/alert master
`
	c, err := ParseYAML("t.yaml", []byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.VRRPSyncGroups; len(g) != 1 || g[0].Name != "G1" || !slices.Equal(g[0].Group, []string{"VI_1", "VI_2"}) || g[0].NotifyMaster != "/bin/alert master" {
		t.Fatalf("sync groups %+v", g)
	}
	assertRoundTrip(t, c)

	_, err = ParseYAML("t.yaml", []byte(strings.Replace(two, "[VI_1, VI_2]", "[VI_1, VI_3]", 1)))
	wantProblem(t, err, "t.yaml", 6, "vrrp_sync_groups[0].group[1]", `no vrrp instance named "VI_3"`)
	_, err = ParseYAML("t.yaml", []byte(two+"  - {name: G1, group: [VI_2]}\n"))
	wantProblem(t, err, "t.yaml", 8, "vrrp_sync_groups[1].name", `duplicate sync group name "G1"`)
	_, err = ParseYAML("t.yaml", []byte(two+"  - {name: G2, group: []}\n"))
	wantProblem(t, err, "t.yaml", 8, "vrrp_sync_groups[1].group", "at least one")
	_, err = ParseYAML("t.yaml", []byte(two+"    track_script: [chk]\n"))
	wantProblem(t, err, "t.yaml", 8, "vrrp_sync_groups[0].track_script", "")
}

// A weighted track_script in a sync group member is refused with the ways
// out (sync_group_tracking_weight, or weight 0); with either the same
// configuration is accepted. A weighted track_process is accepted without
// it (keepalived 2.2.7 applies those weights in a group).
func TestYAMLSyncGroupWeightedScript(t *testing.T) {
	conf := `vrrp:
  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [10.0.0.1], track_script: [chk]}
  - {name: VI_2, interface: eth1, virtual_router_id: 52, priority: 100, virtual_ipaddress: [10.1.0.1]}
vrrp_scripts:
  - {name: chk, script: /bin/true, weight: -20}
vrrp_sync_groups:
  - {name: G1, group: [VI_1, VI_2]}
`
	_, err := ParseYAML("t.yaml", []byte(conf))
	wantProblem(t, err, "t.yaml", 2, "vrrp[0].track_script[0]", "set it for the weight to move VI_1's priority")
	wantProblem(t, err, "t.yaml", 2, "vrrp[0].track_script[0]", "give it weight 0")
	if _, err := ParseYAML("t.yaml", []byte(strings.Replace(conf, "weight: -20", "weight: 0", 1))); err != nil {
		t.Fatalf("weight 0 refused: %v", err)
	}
	c, err := ParseYAML("t.yaml", []byte(strings.Replace(conf, "group: [VI_1, VI_2]}", "group: [VI_1, VI_2], sync_group_tracking_weight: true}", 1)))
	if err != nil {
		t.Fatalf("sync_group_tracking_weight: %v", err)
	}
	if !c.VRRPSyncGroups[0].TrackingWeight {
		t.Error("sync_group_tracking_weight not read")
	}
	assertRoundTrip(t, c)
	_, err = ParseYAML("t.yaml", []byte(strings.Replace(conf, "group: [VI_1, VI_2]}", "group: [VI_1, VI_2], sync_group_tracking_weight: 1}", 1)))
	wantProblem(t, err, "t.yaml", 7, "vrrp_sync_groups[0].sync_group_tracking_weight", "must be true or false")

	procs := strings.NewReplacer("track_script: [chk]", "track_process: [{name: p, weight: -5}]", "vrrp_scripts:\n  - {name: chk, script: /bin/true, weight: -20}", "vrrp_track_processes:\n  - {name: p, process: haproxy}").Replace(conf)
	if _, err := ParseYAML("t.yaml", []byte(procs)); err != nil {
		t.Fatalf("weighted track_process in a member: %v", err)
	}
}

func TestYAMLCheckURLs(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: http", "          urls:", "            - {path: /a, status_code: 200}", "            - {path: /b, digest: 9B3A0C85A887A256D6939DA88AABD8CD}")))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Services[0].RealServers[0].Check
	want := []CheckURL{{Path: "/a", StatusCodes: "200"}, {Path: "/b", Digest: "9b3a0c85a887a256d6939da88aabd8cd"}}
	if got := ck.URLs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("urls %+v, want %+v", got, want)
	}
	assertRoundTrip(t, c)

	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: http", "          path: /", "          urls: [{path: /b}]")))
	wantProblem(t, err, "t.yaml", 11, "check.path", "not both")
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: http", "          urls: []")))
	wantProblem(t, err, "t.yaml", 11, "check.urls", "at least one url")
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: http", "          urls:", "            - {path: /a}", "            - {path: b}")))
	wantProblem(t, err, "t.yaml", 13, "check.urls[1].path", "must start with /")
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: tcp", "          urls: [{path: /a}, {path: /b}]")))
	wantProblem(t, err, "t.yaml", 11, "check.urls", "only applies to http")
}

// A url's regex under keepalived's names, in a check's one url and in a
// list of urls; what Go's regexp cannot do is refused at its line.
func TestYAMLURLRegex(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: http", "          path: /",
		`          regex: 'ok\s'`, "          regex_options: [dotall, caseless]", "          regex_no_match: true",
		"          regex_min_offset: 1", "          regex_max_offset: 9")))
	if err != nil {
		t.Fatal(err)
	}
	want := URLRegex{Pattern: `ok\s`, Options: "caseless dotall", NoMatch: true, MinOffset: 1, MaxOffset: 9, MaxOffsetSet: true}
	if got := c.Services[0].RealServers[0].Check.Regex; got != want {
		t.Errorf("regex %+v, want %+v", got, want)
	}
	assertRoundTrip(t, c)
	c, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check:", "          type: https", "          urls:",
		"            - {path: /a, regex: up, regex_max_offset: 0}", "            - {path: /b, regex: down, regex_no_match: true, regex_options: firstline}")))
	if err != nil {
		t.Fatal(err)
	}
	wantURLs := []URLRegex{{Pattern: "up", MaxOffsetSet: true}, {Pattern: "down", NoMatch: true, Options: "firstline"}}
	for i, u := range c.Services[0].RealServers[0].Check.URLs() {
		if u.Regex != wantURLs[i] {
			t.Errorf("url %s regex %+v, want %+v", u.Path, u.Regex, wantURLs[i])
		}
	}
	assertRoundTrip(t, c)

	ck := "services[0].real_servers[0].check"
	for _, tc := range []struct {
		name, extra string
		line        int
		field, msg  string
	}{
		{"lookbehind", "{type: http, path: /, regex: '(?<=a)b'}", 9, ck + ".regex", "RE2 syntax, as Go's regexp"},
		{"unknown option", "{type: http, path: /, regex: a, regex_options: anchored}", 9, ck + ".regex_options", `unknown regex option "anchored"`},
		{"option RE2 lacks", "{type: http, path: /, regex: a, regex_options: ucp}", 9, ck + ".regex_options", "RE2 syntax, as Go's regexp"},
		{"settings without regex", "{type: http, path: /, regex_no_match: true}", 9, ck + ".regex", "is required"},
		{"offsets crossed", "{type: http, path: /, regex: a, regex_min_offset: 5, regex_max_offset: 4}", 9, ck + ".regex_max_offset", "at least regex_min_offset"},
		{"negative offset", "{type: http, path: /, regex: a, regex_min_offset: -1}", 9, ck + ".regex_min_offset", "0 or more"},
		{"regex on tcp", "{type: tcp, regex: a}", 9, ck + ".regex", "only applies to http"},
		{"in urls", "{type: http, urls: [{path: /a}, {path: /b, regex: 'a)'}]}", 9, ck + ".urls[1].regex", "unexpected )"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: "+tc.extra)))
			wantProblem(t, err, "t.yaml", tc.line, tc.field, tc.msg)
		})
	}
}

func TestYAMLSeveralChecks(t *testing.T) {
	c, err := ParseYAML("t.yaml", []byte(svcYAML(nil, "        checks:", "          - {type: tcp}", "          - {type: misc, script: /bin/true}")))
	if err != nil {
		t.Fatal(err)
	}
	if cs := c.Services[0].RealServers[0].Checks(); len(cs) != 2 || cs[1].Type != MiscCheck {
		t.Fatalf("checks %+v", cs)
	}
	assertRoundTrip(t, c)
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: {type: tcp}", "        checks: [{type: tcp}]")))
	wantProblem(t, err, "t.yaml", 10, "real_servers[0].checks", "not both")
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        checks: []")))
	wantProblem(t, err, "t.yaml", 9, "real_servers[0].checks", "at least one")
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        checks:", "          - {type: tcp}", "          - {type: htp}")))
	wantProblem(t, err, "t.yaml", 11, "real_servers[0].checks[1].type", "unknown check type")
}

// vrrp_track_files and track_file, and reverse on scripts, script entries
// and interfaces, read as the keepalived.conf equivalents are and survive
// a round trip.
func TestYAMLTrackFilesAndReverse(t *testing.T) {
	conf := `vrrp:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    priority: 100
    virtual_ipaddress: [10.0.0.1]
    track_interface: [eth1, {name: eth2, weight: -20, reverse: true}, {name: eth3, reverse: true}]
    track_script: [chk, {name: chk2, weight: 5, reverse: false}]
    track_file: [maint, {name: drain, weight: -2, reverse: true}, {name: plain, reverse: true}]
vrrp_scripts:
  - {name: chk, script: /bin/true, weight: 10, reverse: true}
  - {name: chk2, script: /bin/true, weight: 3, reverse: true}
vrrp_track_files:
  - {name: maint, file: /run/xlb/maint, weight: -10, reverse: true, init_file: {value: 2, overwrite: true}}
  - {name: drain, file: /run/xlb/drain, init_file: {}}
  - {name: plain, file: /run/xlb/plain}
`
	c, err := ParseYAML("t.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []VRRPTrackFile{
		{Name: "maint", File: "/run/xlb/maint", Weight: -10, Reverse: true, InitFile: true, InitValue: 2, InitOverwrite: true, Line: 14},
		{Name: "drain", File: "/run/xlb/drain", Weight: 1, InitFile: true, Line: 15},
		{Name: "plain", File: "/run/xlb/plain", Weight: 1, Line: 16},
	}
	if !reflect.DeepEqual(c.VRRPTrackFiles, wantFiles) {
		t.Errorf("track files = %+v, want %+v", c.VRRPTrackFiles, wantFiles)
	}
	v := c.VRRP[0]
	wantTF := []TrackFile{{Name: "maint"}, {Name: "drain", Weight: -2, WeightSet: true, Reverse: true, ReverseSet: true}, {Name: "plain", Reverse: true, ReverseSet: true}}
	if !reflect.DeepEqual(v.TrackFiles, wantTF) {
		t.Errorf("track_file = %+v, want %+v", v.TrackFiles, wantTF)
	}
	if w, rev := v.TrackFiles[2].Effective(c.VRRPTrackFiles[2]); w != 1 || !rev {
		t.Errorf("plain: weight %d reverse %v, want the file's weight 1, reversed", w, rev)
	}
	wantTS := []TrackScript{{Name: "chk"}, {Name: "chk2", Weight: 5, WeightSet: true, ReverseSet: true}}
	if !reflect.DeepEqual(v.TrackScripts, wantTS) {
		t.Errorf("track_script = %+v, want %+v", v.TrackScripts, wantTS)
	}
	if w, rev := v.TrackScripts[0].Effective(c.VRRPScripts[0]); w != 10 || !rev {
		t.Errorf("chk: weight %d reverse %v, want the script's 10 reverse", w, rev)
	}
	if w, rev := v.TrackScripts[1].Effective(c.VRRPScripts[1]); w != 5 || rev {
		t.Errorf("chk2: weight %d reverse %v, want the entry's 5 without reverse", w, rev)
	}
	wantTI := []TrackInterface{{Name: "eth1"}, {Name: "eth2", Weight: -20, Reverse: true}, {Name: "eth3", Reverse: true}}
	if !reflect.DeepEqual(v.TrackInterfaces, wantTI) {
		t.Errorf("track_interface = %+v, want %+v", v.TrackInterfaces, wantTI)
	}
	out := assertRoundTrip(t, c)
	for _, frag := range []string{"init_file: {value: 2, overwrite: true}", "{name: eth3, weight: 0, reverse: true}", "{name: plain, reverse: true}", "{name: chk2, weight: 5, reverse: false}"} {
		if !strings.Contains(string(out), frag) {
			t.Errorf("output lacks %q:\n%s", frag, out)
		}
	}
}

// A weighted track_file in a sync group member is refused like a weighted
// script; weight 0 is accepted.
func TestYAMLSyncGroupWeightedFile(t *testing.T) {
	conf := `vrrp:
  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [10.0.0.1], track_file: [f]}
vrrp_track_files:
  - {name: f, file: /run/f}
vrrp_sync_groups:
  - {name: G1, group: [VI_1]}
`
	_, err := ParseYAML("t.yaml", []byte(conf))
	wantProblem(t, err, "t.yaml", 2, "vrrp[0].track_file[0]", `"f" has weight 1, but VI_1 is in sync group "G1"`)
	if _, err := ParseYAML("t.yaml", []byte(strings.Replace(conf, "/run/f}", "/run/f, weight: 0}", 1))); err != nil {
		t.Fatalf("weight 0 refused: %v", err)
	}
}

// Timeouts are written in seconds (YAML numbers, ipvsadm --set), so their
// limits are told in seconds too.
func TestTimeoutLimitsInSeconds(t *testing.T) {
	_, err := ParseYAML("t.yaml", []byte("services: []\ntimeouts: {tcp: 3000000, udp: -1}\n"))
	for _, want := range []string{
		"t.yaml:2: timeouts.tcp: must be at most 2147483 s (596h31m23s, as IPVS allows), got 3000000 s (833h20m0s)",
		"t.yaml:2: timeouts.udp: must not be negative, got -1 s",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
