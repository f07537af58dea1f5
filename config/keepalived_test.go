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

// The seed guide's two keepalived.conf files (master and backup director),
// copied byte for byte from lvs-nginx-load-balancing.zh.txt, including the
// no-break spaces of the forum post; only a final newline was added.
func TestSeedKeepalivedConfigs(t *testing.T) {
	for _, tc := range []struct {
		file     string
		state    string
		priority int
	}{
		{"seed-master.keepalived.conf", "MASTER", 100},
		{"seed-backup.keepalived.conf", "BACKUP", 99},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			c, warns, err := LoadKeepalived(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.VRRP) != 1 {
				t.Fatalf("got %d vrrp instances, want 1", len(c.VRRP))
			}
			v := c.VRRP[0]
			want := VRRPInstance{
				Name: "VI_1", State: tc.state, Interface: "eth0", VirtualRouterID: 51, Priority: tc.priority,
				AdvertInterval: time.Second, Version: 2, Preempt: true, AuthType: "PASS", AuthPass: "1111",
				VirtualAddrs: []netip.Addr{netip.MustParseAddr("192.168.101.100")}, Line: 13,
				GARP: DefaultGARP(),
			}
			assertSameConfig(t, &Config{VRRP: []VRRPInstance{v}}, &Config{VRRP: []VRRPInstance{want}})
			if v.Line != 13 {
				t.Errorf("vrrp line = %d, want 13", v.Line)
			}

			if len(c.Services) != 1 {
				t.Fatalf("got %d services, want 1", len(c.Services))
			}
			s := c.Services[0]
			if s.VIP != netip.MustParseAddr("192.168.101.100") || s.Port != 80 || s.Protocol != TCP ||
				s.Scheduler != WLC || s.Forward != DR || s.PersistenceTimeout != 50*time.Second ||
				s.DelayLoop != 6*time.Second || s.InhibitOnFailure || s.Line != 28 {
				t.Errorf("service = %+v", s)
			}
			if c.Timeouts != DefaultTimeouts {
				t.Errorf("timeouts = %+v, want IPVS defaults", c.Timeouts)
			}
			if len(s.RealServers) != 2 {
				t.Fatalf("got %d real servers, want 2", len(s.RealServers))
			}
			for i, addr := range []string{"192.168.101.3", "192.168.101.4"} {
				r := s.RealServers[i]
				if r.Address != netip.MustParseAddr(addr) || r.Port != 80 || r.Weight != 3 {
					t.Errorf("real server %d = %+v", i, r)
				}
				wantCheck := Check{Type: TCPCheck, ConnectPort: 80, ConnectTimeout: 3 * time.Second, Retry: 3,
					DelayBeforeRetry: 3 * time.Second, Rise: 1, Fall: 1, Line: []int{38, 47}[i]}
				if r.Check == nil || !reflect.DeepEqual(*r.Check, wantCheck) {
					t.Errorf("real server %d check = %+v, want %+v", i, r.Check, wantCheck)
				}
			}

			// Everything ignored is named with its line; nothing else.
			got := map[int]string{}
			for _, w := range warns {
				if w.File != path {
					t.Errorf("warning file %q, want %q", w.File, path)
				}
				got[w.Line] += w.Msg + ";"
			}
			for line, frag := range map[int]string{
				4:  "notification_email ignored",
				9:  "smtp_connect_timeout ignored",
				10: "router_id ignored",
				32: "nat_mask ignored",
			} {
				if !strings.Contains(got[line], frag) {
					t.Errorf("no warning %q at line %d; warnings: %v", frag, line, warns)
				}
			}
			if !strings.Contains(got[4], "no-break spaces") {
				t.Errorf("no warning about the no-break spaces; warnings: %v", warns)
			}
			if len(warns) != 5 {
				t.Errorf("got %d warnings, want 5: %v", len(warns), warns)
			}
		})
	}
}

// kaFull exercises every supported keyword.
const kaFull = `global_defs {
   router_id LB1
   vrrp_version 3
   lvs_timeouts tcp 30 tcpfin 120 udp 300
}
vrrp_script chk { script "/bin/true" }
vrrp_instance VI_6 {
    state BACKUP
    interface eth1
    virtual_router_id 7
    priority 90
    advert_int 0.5
    nopreempt
    preempt_delay 30
    virtual_ipaddress {
        2001:db8::100/128 dev eth1 label eth1:vip
    }
    track_interface {
        eth1
        eth2
    }
    notify_master "/etc/keepalived/notify.sh master"
    notify_backup "/etc/keepalived/notify.sh backup"
    notify_fault /etc/keepalived/notify.sh
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 8
    priority 50
    version 2
    authentication {
        auth_type PASS
        auth_pass "a b#c!d"
    }
    virtual_ipaddress {
        10.0.0.100/24
    }
}
virtual_server 10.0.0.100 443
{
    lb_algo sh
    sh-port
    lb_kind TUN
    persistence_timeout
    protocol TCP
    real_server 10.0.0.3 {
        inhibit_on_failure
        HTTP_GET {
            url {
                path /healthz
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                status_code 204
            }
            connect_ip 10.0.1.3
            connect_port 8443
            connect_timeout 2.5
            retry 4
            delay_before_retry 2
        }
    }
    real_server 10.0.0.4 443 {
        weight 0
        inhibit_on_failure
        MISC_CHECK {
            misc_path "/usr/local/bin/check 10.0.0.4"
        }
    }
}
virtual_server 10.0.0.100 53 {
    delay_loop 10
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 10.0.0.5 53
}
`

func TestKeepalivedFeatures(t *testing.T) {
	c, warns, err := ParseKeepalived("full.conf", []byte(kaFull))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Timeouts{TCP: 30 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); c.Timeouts != want {
		t.Errorf("lvs_timeouts: %+v, want %+v", c.Timeouts, want)
	}
	v := c.VRRP[0]
	// global vrrp_version applies where the instance has no version.
	if v.Version != 3 || v.AdvertInterval != 500*time.Millisecond || v.Preempt || v.PreemptDelay != 30*time.Second ||
		v.Interface != "eth1" || v.VirtualAddrs[0] != netip.MustParseAddr("2001:db8::100") ||
		// eth1 is the instance's own interface: keepalived drops it from
		// track_interface (it is tracked anyway, without dont_track_primary).
		!slices.Equal(v.FaultInterfaces(), []string{"eth2"}) ||
		v.NotifyMaster != "/etc/keepalived/notify.sh master" || v.NotifyBackup != "/etc/keepalived/notify.sh backup" ||
		v.NotifyFault != "/etc/keepalived/notify.sh" {
		t.Errorf("VI_6 = %+v", v)
	}
	v2 := c.VRRP[1]
	// Quotes keep spaces and comment characters in a password.
	if v2.Version != 2 || v2.AuthPass != "a b#c!d" || v2.State != "BACKUP" || !v2.Preempt {
		t.Errorf("VI_2 = %+v", v2)
	}
	s := c.Services[0]
	if s.Scheduler != SH || !s.HashPort || s.Forward != TUN || s.PersistenceTimeout != 360*time.Second ||
		!s.InhibitOnFailure || s.DelayLoop != DefaultDelayLoop || s.Line != 39 {
		t.Errorf("https service = %+v", s)
	}
	r := s.RealServers[0]
	if r.Port != 443 || r.Weight != 1 {
		t.Errorf("real server without port: port %d weight %d, want the service port and weight 1", r.Port, r.Weight)
	}
	wantHTTP := Check{Type: HTTPCheck, ConnectIP: netip.MustParseAddr("10.0.1.3"), ConnectPort: 8443,
		ConnectTimeout: 2500 * time.Millisecond, Retry: 4, DelayBeforeRetry: 2 * time.Second,
		Path: "/healthz", StatusCodes: "204", Digest: "9b3a0c85a887a256d6939da88aabd8cd", Rise: 1, Fall: 1, Line: 48}
	if !reflect.DeepEqual(*r.Check, wantHTTP) {
		t.Errorf("HTTP_GET = %+v, want %+v", *r.Check, wantHTTP)
	}
	misc := s.RealServers[1].Check
	if s.RealServers[1].Weight != 0 || misc.Type != MiscCheck || misc.Script != "/usr/local/bin/check 10.0.0.4" || misc.Timeout != DefaultDelayLoop {
		t.Errorf("MISC_CHECK real server = %+v check %+v", s.RealServers[1], misc)
	}
	dns := c.Services[1]
	if dns.Protocol != UDP || dns.Scheduler != RR || dns.DelayLoop != 10*time.Second ||
		len(dns.RealServers) != 1 || dns.RealServers[0].Check != nil || dns.RealServers[0].Port != 53 {
		t.Errorf("dns service = %+v", dns)
	}
	for _, frag := range []string{"router_id ignored", "vrrp_script chk is tracked by no vrrp_instance", "label eth1:vip", "prefix /24 of 10.0.0.100 ignored"} {
		found := false
		for _, w := range warns {
			found = found || strings.Contains(w.Msg, frag)
		}
		if !found {
			t.Errorf("no warning %q in %v", frag, warns)
		}
	}
}

// kaBase is a valid minimal file; the error cases append to it or edit it.
//
//	1 virtual_server 10.0.0.1 80 {
//	2     lb_kind DR
//	3     real_server 10.0.0.2 80 {
//	4         weight 1
//	5     }
//	6     protocol TCP
//	7 }
const kaBase = "virtual_server 10.0.0.1 80 {\n    lb_kind DR\n    real_server 10.0.0.2 80 {\n        weight 1\n    }\n    protocol TCP\n}\n"

func kaEdit(old, new string) string {
	if !strings.Contains(kaBase, old) {
		panic("kaEdit: " + old)
	}
	return strings.Replace(kaBase, old, new, 1)
}

func TestKeepalivedErrors(t *testing.T) {
	if _, _, err := ParseKeepalived("k.conf", []byte(kaBase)); err != nil {
		t.Fatalf("base config must be valid: %v", err)
	}
	tests := []struct {
		name  string
		conf  string
		line  int
		field string
		msg   string
	}{
		{"lb_kind NAT", kaEdit("lb_kind DR", "lb_kind NAT"), 2, "lb_kind", "NAT is not supported"},
		{"missing lb_kind", kaEdit("    lb_kind DR\n", ""), 1, "virtual_server", "keepalived would use NAT"},
		{"notify_down without a check", kaEdit("weight 1", "weight 1\n notify_down /bin/alert down"), 5, "services[0].real_servers[0].notify_down", "needs a check"},
		{"track_script unknown", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n track_script {\n  chk\n }\n}\n", 9, "vrrp[0].track_script[0]", `no vrrp script named "chk"`},
		{"track_script bad entry", "vrrp_instance VI_1 {\n track_script {\n  chk weight\n }\n}\n", 3, "track_script", "want NAME [weight W [reverse|noreverse]]"},
		{"track_script no_reverse", "vrrp_instance VI_1 {\n track_script {\n  chk weight 5 no_reverse\n }\n}\n", 3, "track_script", `got "no_reverse" after the weight`},
		{"vrrp_script noreverse", "vrrp_script chk {\n script /bin/true\n weight -10 noreverse\n}\n", 3, "weight", "want weight W [reverse]"},
		{"track_file without file", "track_file f {\n weight 2\n}\n", 1, "vrrp_track_files[0].file", "is required"},
		{"track_file relative", "track_file f {\n file run/f\n}\n", 2, "vrrp_track_files[0].file", `must be an absolute path, got "run/f"`},
		{"track_file weight range", "track_file f {\n file /run/f\n weight 300\n}\n", 3, "vrrp_track_files[0].weight", "must be -254..254, got 300"},
		{"track_file weight twice", "track_file f {\n file /run/f\n weight 3\n weight 4\n}\n", 4, "weight", "already set at line 3"},
		{"track_file noreverse", "vrrp_track_file f {\n file /run/f\n weight 2 noreverse\n}\n", 3, "weight", "want weight W [reverse]"},
		{"track_file init word", "track_file f {\n file /run/f\n init_file 5 keep\n}\n", 3, "init_file", `got "keep"`},
		{"track_file init value", "track_file f {\n file /run/f\n init_file 99999999999\n}\n", 3, "init_file", "must be an integer"},
		{"track_file keyword", "track_file f {\n file /run/f\n delay 2\n}\n", 3, "delay", "not a keyword of track_file: keepalived 2.2.7 documents it in vrrp_track_process"},
		{"track_file without name", "track_file {\n file /run/f\n}\n", 1, "track_file", "want track_file NAME"},
		{"track_file unknown", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n track_file {\n  tf\n }\n}\n", 9, "vrrp[0].track_file[0]", `no track file named "tf"`},
		{"track_file entry weight", "track_file tf {\n file /run/f\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n track_file {\n  tf weight -255\n }\n}\n", 12, "vrrp[0].track_file[0].weight", "must be -254..254, got -255"},
		{"track_file entry word", "vrrp_instance VI_1 {\n track_file {\n  tf weight 5 sideways\n }\n}\n", 3, "track_file", `got "sideways" after the weight`},
		{"track_file twice", "track_file tf {\n file /run/f\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n track_file {\n  tf\n  tf weight 0\n }\n}\n", 13, "vrrp[0].track_file[1]", `"tf" is tracked twice`},
		{"track_file owner weight", "track_file tf {\n file /run/f\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 255\n virtual_ipaddress {\n  10.0.0.1\n }\n track_file {\n  tf\n }\n}\n", 12, "vrrp[0].track_file[0]", "cannot move priority 255"},
		{"sync group track_file unknown", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_file { f }\n}\n", 35, "vrrp_sync_groups[1].track_file[0]", `no track file named "f"`},
		{"sync group track_process unknown", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_process {\n  p weight -5\n }\n}\n", 36, "vrrp_sync_groups[1].track_process[0]", "no track process named \"p\""},
		{"sync group script weight", kaSync + "vrrp_script chk {\n script /bin/true\n}\nvrrp_sync_group G2 {\n group { VI_3 }\n track_script {\n  chk weight 300\n }\n}\n", 39, "vrrp_sync_groups[1].track_script[0].weight", "must be -253..253, got 300"},
		{"sync group script twice", kaSync + "vrrp_script chk {\n script /bin/true\n}\nvrrp_sync_group G2 {\n group { VI_3 }\n track_script {\n  chk\n  chk weight -5\n }\n}\n", 40, "vrrp_sync_groups[1].track_script[1]", `"chk" is tracked twice`},
		{"sync group script on owner", strings.Replace(kaSync, "virtual_router_id 53\n    priority 100", "virtual_router_id 53\n    priority 255", 1) + "vrrp_script chk {\n script /bin/true\n}\nvrrp_sync_group G2 {\n group { VI_3 }\n track_script {\n  chk weight -5\n }\n}\n", 39, "vrrp_sync_groups[1].track_script[0]", "a weight cannot move VI_3's priority 255 (the address owner)"},
		{"sync group interface on owner", strings.Replace(kaSync, "virtual_router_id 53\n    priority 100", "virtual_router_id 53\n    priority 255", 1) + "vrrp_sync_group G2 {\n group { VI_3 }\n track_interface {\n  eth1 weight -5\n }\n}\n", 36, "vrrp_sync_groups[1].track_interface[0].weight", "a weight cannot move VI_3's priority 255"},
		{"sync group interface weight", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_interface {\n  eth1 weight 254\n }\n}\n", 36, "vrrp_sync_groups[1].track_interface[0].weight", "must be -253..253, got 254"},
		{"sync group interface twice", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_interface {\n  eth1\n  eth1 weight 5\n }\n}\n", 37, "vrrp_sync_groups[1].track_interface[1]", `"eth1" is tracked twice`},
		{"sync group interface word", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_interface {\n  eth1 weight 5 noreverse\n }\n}\n", 36, "track_interface", `got "noreverse" after the weight`},
		{"sync group track_bfd", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_bfd { b }\n}\n", 35, "track_bfd", "not supported in vrrp_sync_group"},
		{"vrrp_script unknown user", "vrrp_script chk {\n script /bin/true\n user no-such-user-xlb\n}\n", 3, "vrrp_scripts[0].user", `user "no-such-user-xlb"`},
		{"vrrp_script user with three words", "vrrp_script chk {\n script /bin/true\n user a b c\n}\n", 3, "user", "want user USERNAME [GROUPNAME], got 3 values"},
		{"vrrp_script without script", "vrrp_script chk {\n interval 2\n}\n", 1, "vrrp_scripts[0].script", "is required"},
		{"granularity not contiguous", kaEdit("lb_kind DR", "lb_kind DR\n    persistence_timeout 50\n    persistence_granularity 255.0.255.0"), 4, "persistence_granularity", "not contiguous"},
		{"sorry_server without port", kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server 10.0.0.9"), 3, "sorry_server", "want sorry_server IP PORT"},
		{"sorry_server port mismatch", kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server 10.0.0.9 8080"), 3, "services[0].sorry_server.port", "cannot change ports"},
		{"sorry_server is a real server", kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server 10.0.0.2 80"), 3, "services[0].sorry_server", "cannot be in it"},
		{"two sorry servers", kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server 10.0.0.9 80\n    sorry_server 10.0.0.8 80"), 4, "sorry_server", "only one sorry_server"},
		{"sorry_server_lvs_method", kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server 10.0.0.9 80\n    sorry_server_lvs_method NAT"), 4, "sorry_server_lvs_method", "NAT is not supported by xlb"},
		{"fwmark service", "virtual_server fwmark 1 {\n lb_kind DR\n}\n", 1, "virtual_server", "fwmark is not supported"},
		{"unknown service group", "virtual_server group G1 {\n lb_kind DR\n}\n", 1, "virtual_server", `no virtual_server_group "G1"`},
		{"fwmark group member", "virtual_server_group G1 {\n fwmark 1\n}\n", 2, "fwmark", "not supported"},
		{"bad group range", "virtual_server_group G1 {\n 10.0.0.9-3 80\n}\n", 2, "10.0.0.9-3", "at or above 9"},
		{"group range too long", "virtual_server_group G1 {\n 2001:db8::1-fff 80\n}\n", 2, "2001:db8::1-fff", "more than 256"},
		{"sync group of no instance", "vrrp_sync_group G {\n group {\n  VI_9\n }\n}\n", 3, "vrrp_sync_groups[0].group[0]", `no vrrp instance named "VI_9"`},
		{"sync group track_script unknown", kaSync + "vrrp_sync_group G2 {\n group { VI_3 }\n track_script { chk }\n}\n", 35, "vrrp_sync_groups[1].track_script[0]", `no vrrp script named "chk"`},
		{"instance in two sync groups", kaSync + "vrrp_sync_group G2 {\n group {\n  VI_1\n }\n}\n", 35, "vrrp_sync_groups[1].group[0]", `"VI_1" is already in sync group "G1"`},
		{"sync group without name", "vrrp_sync_group {\n group { VI_1 }\n}\n", 1, "vrrp_sync_group", "want vrrp_sync_group NAME"},
		{"unknown top-level", "virtual_servers 10.0.0.1 80 {\n}\n", 1, "virtual_servers", "unknown"},
		{"unknown real_server keyword", kaEdit("weight 1", "wieght 1"), 4, "wieght", "unknown keyword in real_server (keepalived 2.2.7 documents no such keyword there; did you mean weight?)"},
		{"unsupported checker", kaEdit("weight 1", "BFD_CHECK {\n  name bfd1\n }"), 4, "BFD_CHECK", "not supported"},
		{"SSL_GET without url", kaEdit("weight 1", "SSL_GET {\n connect_port 443\n }"), 4, "SSL_GET", "SSL_GET needs a url"},
		{"enable_sni on HTTP_GET", kaEdit("weight 1", "HTTP_GET {\n url { path / }\n enable_sni\n }"), 6, "enable_sni", "not a keyword of HTTP_GET: keepalived 2.2.7 documents it in SSL_GET"},
		{"enable_sni without virtualhost", kaEdit("weight 1", "SSL_GET {\n url { path / }\n enable_sni\n }"), 6, "services[0].real_servers[0].check.enable_sni", "needs virtualhost"},
		{"HTTP_GET without url", kaEdit("weight 1", "HTTP_GET {\n connect_port 80\n }"), 4, "HTTP_GET", "needs a url"},
		{"check without space before brace is fine but block required", kaEdit("weight 1", "TCP_CHECK"), 4, "TCP_CHECK", "want TCP_CHECK { ... }"},
		{"bad scheduler", kaEdit("lb_kind DR", "lb_kind DR\n    lb_algo lblc"), 3, "services[0].scheduler", `unknown scheduler "lblc"`},
		{"bad real server ip", kaEdit("10.0.0.2 80", "10.0.0.256 80"), 3, "real_server", "invalid IP address"},
		{"port mismatch", kaEdit("10.0.0.2 80", "10.0.0.2 8080"), 3, "services[0].real_servers[0].port", "cannot change ports"},
		{"tun family mismatch", strings.Replace(kaEdit("lb_kind DR", "lb_kind TUN"), "10.0.0.1 80", "2001:db8::1 80", 1), 3, "services[0].real_servers[0].address", "10.0.0.2 is IPv4 but the service VIP 2001:db8::1 is IPv6"},
		{"negative weight", kaEdit("weight 1", "weight -3"), 4, "services[0].real_servers[0].weight", "got -3"},
		{"duplicate service", kaBase + kaBase, 8, "services[1]", "duplicate service 10.0.0.1:80/tcp"},
		{"unbalanced: missing close", kaEdit("    protocol TCP\n}\n", "    protocol TCP\n"), 1, "", "never closed"},
		{"unbalanced: extra close", kaBase + "}\n", 8, "", "unexpected '}'"},
		{"unterminated quote", "vrrp_instance VI_1 {\n notify_master \"/bin/x\n}\n", 2, "", "unterminated quoted string"},
		// keepalived 2.2.7 takes "reverse" after a track_interface weight, not "noreverse".
		{"track_interface noreverse", "vrrp_instance VI_1 {\n interface eth0\n track_interface {\n  eth1 weight -10 noreverse\n }\n}\n", 4, "track_interface", `want NAME [weight W [reverse]], got "noreverse" after the weight`},
		{"track_interface weight range", "vrrp_instance VI_1 {\n interface eth0\n track_interface {\n  eth1 weight -254 reverse\n }\n}\n", 4, "vrrp[0].track_interface[0].weight", "must be -253..253"},
		{"vip on other dev", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 1\n virtual_ipaddress {\n  10.0.0.1 dev eth9\n }\n}\n", 6, "virtual_ipaddress", "differs from the instance's interface"},
		{"unicast peer options", "vrrp_instance VI_1 {\n interface eth0\n unicast_peer {\n  10.0.0.2 min_ttl 250\n }\n}\n", 4, "unicast_peer", "only a plain address"},
		{"unicast peer twice", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n unicast_peer {\n  10.0.0.2\n  10.0.0.2\n }\n}\n", 10, "vrrp[0].unicast_peer[1]", "listed twice"},
		{"vrrp_strict with unicast", "global_defs {\n vrrp_strict\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n unicast_peer {\n  10.0.0.2\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n", 9, "unicast_peer", "not allowed with vrrp_strict"},
		{"vrid range", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n priority 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n", 3, "vrrp[0].virtual_router_id", "must be 1..255"},
		{"auth_pass too long", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n authentication {\n  auth_type PASS\n  auth_pass 123456789\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n", 7, "vrrp[0].auth_pass", "at most 8"},
		{"no vips", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 3\n priority 1\n}\n", 1, "vrrp[0].virtual_ipaddress", "at least one"},
		{"non-integer priority", "vrrp_instance VI_1 {\n priority high\n}\n", 2, "priority", `must be an integer, got "high"`},
		{"not utf-8", "global_defs {\n router_id \xff\xfe\n}\n", 2, "", "not valid UTF-8"},
		{"lvs_timeouts odd", "global_defs {\n lvs_timeouts tcp\n}\n", 2, "lvs_timeouts", "want pairs"},
		{"lvs_timeouts unknown", "global_defs {\n lvs_timeouts sctp 5\n}\n", 2, "lvs_timeouts", `unknown timeout "sctp"`},
		{"bad service port", kaEdit("10.0.0.1 80", "10.0.0.1 http"), 1, "virtual_server", `invalid port "http"`},
		{"block after value keyword", kaEdit("weight 1", "weight 1 {\n }"), 4, "weight", "takes no { block }"},
		{"script without value", "vrrp_instance VI_1 {\n notify_master\n}\n", 2, "notify_master", "needs a value"},
		{"flag with value", "vrrp_instance VI_1 {\n nopreempt yes\n}\n", 2, "nopreempt", `takes no value, got "yes"`},
		{"status_code bad range", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n status_code 200-299 302-301\n }\n }"), 7, "status_code", `range "302-301" ends before it starts`},
		{"status_code out of range", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n status_code 200 600\n }\n }"), 7, "status_code", "100..599"},
		{"status_code word", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n status_code ok\n }\n }"), 7, "status_code", "not a status code"},
		{"url keyword", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex_foo ok\n }\n }"), 7, "regex_foo", "unknown keyword in url (keepalived 2.2.7 documents no such keyword there)"},
		{"regex lookbehind", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex \"(?<=a)b\"\n }\n }"), 7, "regex", "RE2 syntax, as Go's regexp"},
		// keepalived reads \( as (: the pattern is a(b.
		{"regex escapes", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex \"a\\(b\"\n }\n }"), 7, "regex", "missing closing )"},
		{"regex two words", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex a b\n }\n }"), 7, "regex", "one pattern"},
		{"regex twice", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex a\n regex b\n }\n }"), 8, "regex", "already set"},
		{"regex option RE2 lacks", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex_options caseless extended\n regex a\n }\n }"), 7, "regex_options", "RE2 syntax, as Go's regexp"},
		{"regex offset", kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n regex a\n regex_max_offset -1\n }\n }"), 8, "regex_max_offset", "byte offset"},
		{"tcp check keyword on misc", kaEdit("weight 1", "MISC_CHECK {\n misc_path /bin/true\n connect_port 80\n }"), 6, "connect_port", "not supported in MISC_CHECK"},
		{"auth keyword", "vrrp_instance VI_1 {\n authentication {\n  auth_type PASS\n  auth_key x\n }\n}\n", 4, "auth_key", "not supported in authentication"},
		{"bad vip prefix", "vrrp_instance VI_1 {\n virtual_ipaddress {\n  10.0.0.1/33\n }\n}\n", 3, "virtual_ipaddress", `invalid prefix length "33"`},
		{"two values", kaEdit("weight 1", "weight 1 2"), 4, "weight", "exactly one value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

// inhibit_on_failure per real server (keepalived 2: over its virtual
// server's, "off" too); on every server it is the service's.
func TestKeepalivedInhibit(t *testing.T) {
	two := "virtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.0.0.2 80 {\n  inhibit_on_failure\n }\n real_server 10.0.0.3 80 {\n  weight 2\n }\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Services[0]; s.InhibitOnFailure || !s.RealServers[0].InhibitOnFailure || s.RealServers[1].InhibitOnFailure {
		t.Errorf("one server inhibited: service %v, servers %v %v", s.InhibitOnFailure, s.RealServers[0].InhibitOnFailure, s.RealServers[1].InhibitOnFailure)
	}
	assertRoundTrip(t, c)

	both := strings.Replace(two, "weight 2", "inhibit_on_failure", 1)
	c, _, err = ParseKeepalived("k.conf", []byte(both))
	if err != nil || !c.Services[0].InhibitOnFailure || c.Services[0].RealServers[0].InhibitOnFailure {
		t.Fatalf("inhibit_on_failure on every real server must set it for the service: %v", err)
	}
	// The virtual server's, turned off for one real server.
	off := strings.Replace(strings.Replace(two, "lb_kind DR", "lb_kind DR\n inhibit_on_failure", 1), "  inhibit_on_failure\n", "  inhibit_on_failure off\n", 1)
	c, _, err = ParseKeepalived("k.conf", []byte(off))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Services[0]; s.InhibitOnFailure || s.RealServers[0].InhibitOnFailure || !s.RealServers[1].InhibitOnFailure {
		t.Errorf("off for the first: service %v, servers %v %v", s.InhibitOnFailure, s.RealServers[0].InhibitOnFailure, s.RealServers[1].InhibitOnFailure)
	}
}

// Broken braces stop interpretation: only the brace problem is reported,
// not a cascade of misplaced keywords.
func TestKeepalivedBraceErrorAlone(t *testing.T) {
	_, _, err := ParseKeepalived("k.conf", []byte("vrrp_instance VI_1 {\n state MASTER\n"))
	ve := wantProblemErr(t, err)
	if len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Msg, "never closed") || ve.Problems[0].Line != 1 {
		t.Errorf("want only the unclosed brace at line 1, got:\n%v", err)
	}
}

func wantProblemErr(t *testing.T, err error) *ValidationError {
	t.Helper()
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	return ve
}

func TestLoadKeepalivedMissing(t *testing.T) {
	_, _, err := LoadKeepalived(filepath.Join(t.TempDir(), "nope.conf"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestKeepalivedIPv6AndWarnings(t *testing.T) {
	conf := `vrrp_instance VI_6 {
    interface eth0
    version 3
    virtual_router_id 9
    priority 10
    advert_int 0.25
    garp_master_delay 1
    virtual_ipaddress {
        2001:db8::1
    }
}
virtual_server 2001:db8::1 443 {
    lb_kind DR
    protocol TCP
    lb_algo mh
    mh-port
    real_server 2001:db8::2 443 {
        notify_up /bin/up.sh
        TCP_CHECK {
        }
    }
}
`
	c, warns, err := ParseKeepalived("v6.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.Version != 3 || v.AdvertInterval != 250*time.Millisecond {
		t.Errorf("v3 instance = %+v", v)
	}
	if s := c.Services[0]; s.Name != "[2001:db8::1]:443/tcp" || s.Scheduler != MH || !s.HashPort ||
		s.RealServers[0].Check.Type != TCPCheck || s.RealServers[0].NotifyUp != "/bin/up.sh" {
		t.Errorf("IPv6 service = %+v", s)
	}
	// The global lower-priority delay stays keepalived's 5 s: only the
	// global garp_master_delay would move it.
	if g := c.VRRP[0].GARP; g.MasterDelay != time.Second || g.MasterRepeat != DefaultGARPMasterRepeat || g.LowerPrioDelay != 5*time.Second {
		t.Errorf("garp_master_delay 1: GARP %+v", g)
	}
	var want []string
	if len(warns) != len(want) {
		t.Fatalf("warnings %v, want %v", warns, want)
	}
	for i, w := range warns {
		if w.String() != want[i] {
			t.Errorf("warning %d = %q, want %q", i, w.String(), want[i])
		}
	}
}

// Callers can pick out single problems with errors.As, as with errors.Join.
func TestProblemsUnwrap(t *testing.T) {
	_, _, err := ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lb_kind NAT")))
	var p Problem
	if !errors.As(err, &p) || p.Line != 2 || p.Field != "lb_kind" {
		t.Fatalf("errors.As(Problem) = %+v from %v", p, err)
	}
}

// lb_kind TUN on an IPv6 virtual_server is IP6IP6.
func TestKeepalivedTunIPv6(t *testing.T) {
	conf := "virtual_server 2001:db8::1 80 {\n    lb_kind TUN\n    real_server 2001:db8:98::2 80 {\n        weight 1\n    }\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Services[0]; s.Forward != TUN || !s.VIP.Is6() || s.RealServers[0].Address != netip.MustParseAddr("2001:db8:98::2") {
		t.Fatalf("IPv6 TUN service = %+v", s)
	}
}

// A url's regex as keepalived 2.2.7 reads it: the pattern with its
// escapes decoded, options added up and in keepalived's order, the
// settings it ignores warned of and dropped; convert keeps all of it.
func TestKeepalivedURLRegex(t *testing.T) {
	conf := kaEdit("weight 1", `HTTP_GET {
            url {
                path /a
                status_code 200
                regex "status: (ok|up)\\s*$"
                regex_options caseless multiline
                regex_options caseless anchored
                regex_min_offset 2
                regex_max_offset 100
            }
            url {
                path /b
                regex_no_match
                regex error
                regex_stack 32768 65536
            }
            url {
                path /c
                regex_no_match
                regex_max_offset 4
            }
            url {
                path /d
                regex x
                regex_min_offset 5
                regex_max_offset 4
            }
        }`)
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := []URLRegex{
		{Pattern: `status: (ok|up)\s*$`, Options: "caseless multiline", MinOffset: 2, MaxOffset: 100, MaxOffsetSet: true},
		{Pattern: "error", NoMatch: true},
		{},             // regex settings without a regex
		{Pattern: "x"}, // offsets that leave no room
	}
	urls := c.Services[0].RealServers[0].Check.URLs()
	for i, u := range urls {
		if u.Regex != want[i] {
			t.Errorf("url %s regex %+v, want %+v", u.Path, u.Regex, want[i])
		}
	}
	got := map[int]string{}
	for _, w := range warns {
		got[w.Line] += w.Msg + ";"
	}
	for line, frag := range map[int]string{10: "regex_options anchored ignored", 18: "regex_stack ignored", 22: "regex_no_match ignored: the url has no regex",
		23: "regex_max_offset ignored: the url has no regex", 29: "regex_min_offset 5 is beyond regex_max_offset 4"} {
		if !strings.Contains(got[line], frag) {
			t.Errorf("line %d: warnings %q, want %q (all: %v)", line, got[line], frag, warns)
		}
	}
	out := string(assertRoundTrip(t, c))
	for _, frag := range []string{`regex: 'status: (ok|up)\s*$'`, "regex_options: caseless multiline", "regex_min_offset: 2", "regex_max_offset: 100", "regex_no_match: true"} {
		if !strings.Contains(out, frag) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}
}

func TestKeepalivedSSLGet(t *testing.T) {
	conf := kaEdit("weight 1", `SSL_GET {
            url {
                path /healthz
                digest 9b3a0c85a887a256d6939da88aabd8cd
                virtualhost shop.example.com
            }
            virtualhost www.example.com
            enable_sni
            connect_port 8443
            connect_timeout 2
        }`)
	c, _, err := ParseKeepalived("ssl.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Services[0].RealServers[0].Check
	// The url's own virtualhost wins over the checker's, as in keepalived 2.
	want := Check{Type: HTTPSCheck, ConnectPort: 8443, ConnectTimeout: 2 * time.Second, Retry: DefaultRetry, DelayBeforeRetry: 3 * time.Second, // keepalived 2: 3 s for SSL_GET
		Path: "/healthz", Digest: "9b3a0c85a887a256d6939da88aabd8cd",
		VirtualHost: "shop.example.com", EnableSNI: true, Rise: 1, Fall: 1, Line: 4}
	if !reflect.DeepEqual(*ck, want) {
		t.Errorf("SSL_GET = %+v, want %+v", *ck, want)
	}
	// HTTP_GET takes the checker-level virtualhost alone.
	c, _, err = ParseKeepalived("http.conf", []byte(kaEdit("weight 1", "HTTP_GET {\n url { path / }\n virtualhost www.example.com\n }")))
	if err != nil {
		t.Fatal(err)
	}
	if ck := c.Services[0].RealServers[0].Check; ck.Type != HTTPCheck || ck.VirtualHost != "www.example.com" || ck.EnableSNI {
		t.Errorf("HTTP_GET with virtualhost = %+v", *ck)
	}
}

func TestKeepalivedSorryServer(t *testing.T) {
	conf := kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server_inhibit\n    sorry_server 10.0.0.9 80")
	c, _, err := ParseKeepalived("sorry.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := SorryServer{Address: netip.MustParseAddr("10.0.0.9"), Port: 80, Inhibit: true, Line: 4}
	if ss := c.Services[0].SorryServer; ss == nil || *ss != want {
		t.Fatalf("sorry_server = %+v, want %+v", ss, want)
	}
	// It survives conversion to YAML and back.
	assertRoundTrip(t, c)
}

func TestKeepalivedTrackScript(t *testing.T) {
	conf := `vrrp_script chk_xlb {
    script "pidof xlb"
    interval 2
    weight -20
    fall 3
    rise 2
}
vrrp_script chk_up {
    script /bin/true
    init_fail
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.100
    }
    track_script {
        chk_xlb
        chk_up weight 10
    }
}
`
	c, warns, err := ParseKeepalived("track.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := []VRRPScript{
		{Name: "chk_xlb", Script: "pidof xlb", Interval: 2 * time.Second, Timeout: 2 * time.Second, Weight: -20, Rise: 2, Fall: 3, Line: 1},
		{Name: "chk_up", Script: "/bin/true", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, InitFail: true, Line: 8},
	}
	if !reflect.DeepEqual(c.VRRPScripts, want) {
		t.Errorf("scripts = %+v, want %+v", c.VRRPScripts, want)
	}
	wantTracks := []TrackScript{{Name: "chk_xlb"}, {Name: "chk_up", Weight: 10, WeightSet: true}}
	if !reflect.DeepEqual(c.VRRP[0].TrackScripts, wantTracks) {
		t.Errorf("track_script = %+v, want %+v", c.VRRP[0].TrackScripts, wantTracks)
	}
	assertRoundTrip(t, c)
}

// track_file (and its old name vrrp_track_file) with file, weight W
// reverse and init_file, tracked with the instance's own weight and
// reverse|noreverse; weight W reverse on vrrp_script, track_script and
// track_interface.
func TestKeepalivedTrackFileAndReverse(t *testing.T) {
	conf := `track_file tf_maint {
    file /run/xlb/maint
    weight -10 reverse
    init_file 3 overwrite
}
vrrp_track_file tf_old {
    file "/var/run/old state"
}
track_file tf_init {
    file /run/xlb/init
    init_file
}
vrrp_script chk {
    script /bin/true
    weight 10 reverse
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.100
    }
    track_file {
        tf_maint
        tf_old weight 0 reverse
        tf_init weight -3 noreverse
    }
    track_script {
        chk weight -5 noreverse
    }
    track_interface {
        eth1 weight 20 reverse
        eth2 weight 0 reverse
    }
}
`
	c, warns, err := ParseKeepalived("track.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	wantFiles := []VRRPTrackFile{
		{Name: "tf_maint", File: "/run/xlb/maint", Weight: -10, Reverse: true, InitFile: true, InitValue: 3, InitOverwrite: true, Line: 1},
		{Name: "tf_old", File: "/var/run/old state", Weight: 1, Line: 6},
		{Name: "tf_init", File: "/run/xlb/init", Weight: 1, InitFile: true, Line: 9},
	}
	if !reflect.DeepEqual(c.VRRPTrackFiles, wantFiles) {
		t.Errorf("track files = %+v, want %+v", c.VRRPTrackFiles, wantFiles)
	}
	v := c.VRRP[0]
	wantTF := []TrackFile{{Name: "tf_maint"}, {Name: "tf_old", WeightSet: true, Reverse: true, ReverseSet: true}, {Name: "tf_init", Weight: -3, WeightSet: true, ReverseSet: true}}
	if !reflect.DeepEqual(v.TrackFiles, wantTF) {
		t.Errorf("track_file = %+v, want %+v", v.TrackFiles, wantTF)
	}
	// The instance's entry wins over the file's, field by field.
	for i, want := range []struct {
		w   int
		rev bool
	}{{-10, true}, {0, true}, {-3, false}} {
		if w, rev := v.TrackFiles[i].Effective(c.VRRPTrackFiles[i]); w != want.w || rev != want.rev {
			t.Errorf("track_file %s: weight %d reverse %v, want %d %v", v.TrackFiles[i].Name, w, rev, want.w, want.rev)
		}
	}
	if !c.VRRPScripts[0].Reverse || c.VRRPScripts[0].Weight != 10 {
		t.Errorf("vrrp_script = %+v, want weight 10 reverse", c.VRRPScripts[0])
	}
	wantTS := []TrackScript{{Name: "chk", Weight: -5, WeightSet: true, ReverseSet: true}}
	if !reflect.DeepEqual(v.TrackScripts, wantTS) {
		t.Errorf("track_script = %+v, want %+v", v.TrackScripts, wantTS)
	}
	wantTI := []TrackInterface{{Name: "eth1", Weight: 20, Reverse: true}, {Name: "eth2", Reverse: true}}
	if !reflect.DeepEqual(v.TrackInterfaces, wantTI) {
		t.Errorf("track_interface = %+v, want %+v", v.TrackInterfaces, wantTI)
	}
	// A weight-0 reverse interface faults while up, not while down.
	if f, u := v.FaultInterfaces(), v.UpFaultInterfaces(); len(f) != 0 || !slices.Equal(u, []string{"eth2"}) {
		t.Errorf("fault interfaces %v, up-fault interfaces %v", f, u)
	}
	assertRoundTrip(t, c)

	// An untracked file is said so.
	_, warns, err = ParseKeepalived("k.conf", []byte("track_file lonely {\n file /run/l\n}\n"))
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].Msg, "track_file lonely is tracked by no vrrp_instance") {
		t.Errorf("untracked file: err %v warnings %v", err, warns)
	}

	// In a sync-group member without sync_group_tracking_weight the
	// weighted entries are what keepalived 2.2.7 makes of them: tf_maint
	// (its file's -10) and tf_init (its own -3) and chk (its own -5)
	// dropped, eth1 tracked with weight 0 (still reverse), each warned at
	// its line; tf_old (weight 0) and eth2 unchanged.
	c, warns, err = ParseKeepalived("k.conf", []byte("vrrp_sync_group G {\n group { VI_1 }\n}\n"+conf))
	if err != nil {
		t.Fatal(err)
	}
	v = c.VRRP[0]
	if want := []TrackFile{{Name: "tf_old", WeightSet: true, Reverse: true, ReverseSet: true}}; !reflect.DeepEqual(v.TrackFiles, want) {
		t.Errorf("member track_file = %+v, want %+v", v.TrackFiles, want)
	}
	if len(v.TrackScripts) != 0 {
		t.Errorf("member track_script = %+v, want none", v.TrackScripts)
	}
	if want := []TrackInterface{{Name: "eth1", Reverse: true}, {Name: "eth2", Reverse: true}}; !reflect.DeepEqual(v.TrackInterfaces, want) {
		t.Errorf("member track_interface = %+v, want %+v", v.TrackInterfaces, want)
	}
	for line, msg := range map[int]string{
		28: "track_file tf_maint with weight -10 ignored",
		30: "track_file tf_init with weight -3 ignored",
		33: "track_script chk with weight -5 ignored",
		36: "weight of track_interface eth1 ignored",
	} {
		if !slices.ContainsFunc(warns, func(w Warning) bool { return w.Line == line && strings.Contains(w.Msg, msg) }) {
			t.Errorf("no warning %q at line %d: %v", msg, line, warns)
		}
	}
	assertRoundTrip(t, c)

	// With sync_group_tracking_weight every weight stays, as outside a
	// group.
	c, warns, err = ParseKeepalived("k.conf", []byte("vrrp_sync_group G {\n group { VI_1 }\n sync_group_tracking_weight\n}\n"+conf))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; !reflect.DeepEqual(v.TrackFiles, wantTF) || !reflect.DeepEqual(v.TrackScripts, wantTS) || !reflect.DeepEqual(v.TrackInterfaces, wantTI) || len(warns) != 0 {
		t.Errorf("with sync_group_tracking_weight: files %+v scripts %+v interfaces %+v warnings %v", v.TrackFiles, v.TrackScripts, v.TrackInterfaces, warns)
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "sync_group_tracking_weight: true") {
		t.Errorf("YAML lacks sync_group_tracking_weight:\n%s", out)
	}
}

// A track_file left at keepalived's default weight 1 in a sync group
// member is tracked with weight 0 (a non-zero value faults the group), as
// keepalived 2.2.7 does ("ignoring weight from tracked file tf3 due to
// SYNC group. specify weight 0"); the deprecated global_tracking is read
// as sync_group_tracking_weight, with keepalived's warning.
func TestKeepalivedSyncGroupDefaultFileWeight(t *testing.T) {
	conf := "track_file tf3 {\n file /run/tf3\n}\nvrrp_sync_group G {\n group { VI_1 }\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n track_file {\n  tf3\n }\n virtual_ipaddress { 10.0.0.1 }\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if want := []TrackFile{{Name: "tf3", WeightSet: true}}; !reflect.DeepEqual(c.VRRP[0].TrackFiles, want) {
		t.Errorf("track_file %+v, want %+v", c.VRRP[0].TrackFiles, want)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool {
		return w.Line == 12 && strings.Contains(w.Msg, "default weight of track_file tf3 ignored")
	}) {
		t.Errorf("no warning at line 12: %v", warns)
	}
	assertRoundTrip(t, c)

	c, warns, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "group { VI_1 }", "group { VI_1 }\n global_tracking", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []TrackFile{{Name: "tf3"}}; !reflect.DeepEqual(c.VRRP[0].TrackFiles, want) || !c.VRRPSyncGroups[0].TrackingWeight {
		t.Errorf("global_tracking: track_file %+v, tracking weight %v", c.VRRP[0].TrackFiles, c.VRRPSyncGroups[0].TrackingWeight)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool { return w.Line == 6 && strings.Contains(w.Msg, "global_tracking is deprecated") }) {
		t.Errorf("no deprecation warning at line 6: %v", warns)
	}
}

func TestKeepalivedOPS(t *testing.T) {
	conf := strings.Replace(strings.Replace(kaEdit("lb_kind DR", "lb_kind DR\n    ops"), "protocol TCP", "protocol UDP", 1), "10.0.0.1 80", "10.0.0.1 53", 1)
	conf = strings.Replace(conf, "10.0.0.2 80", "10.0.0.2 53", 1)
	c, _, err := ParseKeepalived("ops.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Services[0]; !s.OPS || s.Protocol != UDP {
		t.Fatalf("ops service = %+v", s)
	}
	assertRoundTrip(t, c)
}

func TestKeepalivedPersistenceGranularity(t *testing.T) {
	for _, g := range []string{"255.255.255.0", "24"} {
		c, _, err := ParseKeepalived("g.conf", []byte(kaEdit("lb_kind DR", "lb_kind DR\n    persistence_timeout 50\n    persistence_granularity "+g)))
		if err != nil {
			t.Fatal(err)
		}
		if s := c.Services[0]; s.PersistenceGranularity != 24 || s.PersistenceTimeout != 50*time.Second {
			t.Errorf("persistence_granularity %s: %+v", g, s)
		}
		assertRoundTrip(t, c)
	}
}

func TestKeepalivedVirtualServerGroup(t *testing.T) {
	group := `virtual_server group WEB {
    lb_kind DR
    lb_algo rr
    real_server 10.0.0.2 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
virtual_server_group WEB {
    10.0.0.100 80
    10.0.0.101-103 80
}
`
	c, _, err := ParseKeepalived("group.conf", []byte(group))
	if err != nil {
		t.Fatal(err)
	}
	var vips []string
	for _, s := range c.Services {
		vips = append(vips, s.VIP.String())
		if s.Scheduler != RR || s.Port != 80 || len(s.RealServers) != 1 || s.RealServers[0].Weight != 2 ||
			s.RealServers[0].Check == nil || s.RealServers[0].Check.ConnectTimeout != 2*time.Second {
			t.Errorf("member %s: %+v", s.VIP, s)
		}
	}
	if want := []string{"10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.103"}; !slices.Equal(vips, want) {
		t.Errorf("services for %v, want %v", vips, want)
	}
	assertRoundTrip(t, c)

	// Each member is checked on its own and named.
	_, _, err = ParseKeepalived("group.conf", []byte(strings.Replace(group, "10.0.0.100 80", "10.0.0.100 80\n    2001:db8::a-b 80", 1)))
	for _, frag := range []string{
		"group.conf:4: services[1].real_servers[0].address: 10.0.0.2 is IPv4 but the service VIP 2001:db8::a is IPv6",
		"group.conf:4: services[2].real_servers[0].address: 10.0.0.2 is IPv4 but the service VIP 2001:db8::b is IPv6",
	} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("mixed-family member: %v, want %q", err, frag)
		}
	}
}

func TestKeepalivedUnicastPeer(t *testing.T) {
	conf := `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    unicast_src_ip 192.168.101.8
    unicast_peer {
        192.168.101.9
        192.168.101.10
    }
    virtual_ipaddress {
        192.168.101.100
    }
}
`
	c, _, err := ParseKeepalived("uni.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	v := c.VRRP[0]
	if v.UnicastSrcIP != netip.MustParseAddr("192.168.101.8") ||
		!slices.Equal(v.UnicastPeers, []netip.Addr{netip.MustParseAddr("192.168.101.9"), netip.MustParseAddr("192.168.101.10")}) {
		t.Errorf("unicast: src %v peers %v", v.UnicastSrcIP, v.UnicastPeers)
	}
	assertRoundTrip(t, c)
}

func TestKeepalivedQuorum(t *testing.T) {
	c, warns, err := ParseKeepalived("q.conf", []byte(strings.Replace(kaEdit("lb_kind DR", "lb_kind DR\n    quorum 3\n    hysteresis 1\n    quorum_up \"/bin/alert up\"\n    quorum_down \"/bin/alert down\""), "weight 1", "weight 3", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Services[0]; s.Quorum != 3 || s.Hysteresis != 1 || s.QuorumUp != "/bin/alert up" || s.QuorumDown != "/bin/alert down" {
		t.Errorf("quorum = %d/%d, scripts %q %q", s.Quorum, s.Hysteresis, s.QuorumUp, s.QuorumDown)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	assertRoundTrip(t, c)
}

// keepalived 2's status_code list (man keepalived.conf: "status_code 200-299
// 400-499 503 505") reads whole, and converts to YAML and back unchanged.
func TestKeepalivedStatusCodeList(t *testing.T) {
	conf := kaEdit("weight 1", "HTTP_GET {\n url {\n path /\n status_code 200-299 400-499 503 505\n }\n }")
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].RealServers[0].Check.StatusCodes; got != "200-299 400-499 503 505" {
		t.Fatalf("status codes %q", got)
	}
	assertRoundTrip(t, c)
}

// kaSync is two instances (the seed's dual set-up on two networks) kept
// together by a sync group, and a third one outside it.
const kaSync = `vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
    notify_master "/etc/keepalived/notify.sh master"
    notify_backup "/etc/keepalived/notify.sh backup"
    notify_fault "/etc/keepalived/notify.sh fault"
    smtp_alert
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.101.100
    }
}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 52
    priority 100
    virtual_ipaddress {
        10.10.0.1
    }
}
vrrp_instance VI_3 {
    interface eth0
    virtual_router_id 53
    priority 100
    virtual_ipaddress { 192.168.101.101 }
}
`

func TestKeepalivedSyncGroup(t *testing.T) {
	c, warns, err := ParseKeepalived("sync.conf", []byte(kaSync))
	if err != nil {
		t.Fatal(err)
	}
	want := []VRRPSyncGroup{{Name: "G1", Group: []string{"VI_1", "VI_2"}, NotifyMaster: "/etc/keepalived/notify.sh master",
		NotifyBackup: "/etc/keepalived/notify.sh backup", NotifyFault: "/etc/keepalived/notify.sh fault", Line: 1}}
	if !reflect.DeepEqual(c.VRRPSyncGroups, want) {
		t.Fatalf("sync groups\n got %+v\nwant %+v", c.VRRPSyncGroups, want)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool { return w.Line == 9 && strings.Contains(w.Msg, "smtp_alert ignored") }) {
		t.Errorf("want smtp_alert warned about at line 9, got %v", warns)
	}
	// Names on one line read the same.
	one, _, err := ParseKeepalived("one.conf", []byte(strings.Replace(kaSync, "VI_1\n        VI_2", "VI_1 VI_2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	assertSameConfig(t, one, c)
	assertRoundTrip(t, c)
}

// vrrp_strict (in keepalived's sample configuration) does what keepalived
// does to an instance: authentication and preempt_delay are dropped with a
// warning each; and it says that no firewall rules are added.
func TestKeepalivedVRRPStrict(t *testing.T) {
	conf := `global_defs {
    vrrp_strict
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    preempt_delay 10
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.101.100
    }
}
`
	c, warns, err := ParseKeepalived("strict.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.AuthType != "" || v.AuthPass != "" || v.PreemptDelay != 0 {
		t.Errorf("strict instance kept auth %q/%q or preempt_delay %v", v.AuthType, v.AuthPass, v.PreemptDelay)
	}
	for _, w := range []struct {
		line int
		msg  string
	}{{2, "no firewall rules"}, {11, "authentication ignored"}, {9, "preempt_delay ignored"}} {
		if !slices.ContainsFunc(warns, func(x Warning) bool { return x.Line == w.line && strings.Contains(x.Msg, w.msg) }) {
			t.Errorf("no warning %q at line %d in %v", w.msg, w.line, warns)
		}
	}
	// Without vrrp_strict the same instance keeps both.
	c, _, err = ParseKeepalived("plain.conf", []byte(strings.Replace(conf, "vrrp_strict", "router_id lb1", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.AuthType != "PASS" || v.PreemptDelay != 10*time.Second {
		t.Errorf("plain instance lost auth %q or preempt_delay %v", v.AuthType, v.PreemptDelay)
	}
}

// Without a priority keepalived takes 100, or 255 (address owner) for
// state MASTER; xlb reads the file the same way.
func TestKeepalivedDefaultPriority(t *testing.T) {
	conf := "vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 10.0.0.1 }\n}\n" +
		"vrrp_instance VI_2 {\n state MASTER\n interface eth0\n virtual_router_id 52\n virtual_ipaddress { 10.0.0.2 }\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRP[0].Priority != 100 || c.VRRP[1].Priority != 255 {
		t.Errorf("priorities %d, %d; want 100 (BACKUP) and 255 (MASTER)", c.VRRP[0].Priority, c.VRRP[1].Priority)
	}
	// A priority written as 0 is still refused.
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, " state BACKUP\n", " state BACKUP\n priority 0\n", 1)))
	wantProblem(t, err, "k.conf", 3, "priority", "1..255")
}

// keepalived 2's checker settings in a virtual_server or real_server apply
// to the checks below them (a check's own win, then its real server's);
// alpha is what xlb always does; warmup and the like are warned about.
func TestKeepalivedCheckerDefaults(t *testing.T) {
	conf := `virtual_server 10.0.0.1 80 {
    lb_kind DR
    connect_timeout 2
    retry 4
    virtualhost www.example.com
    alpha
    omega
    mh-fallback
    flag-2
    lb_algo mh
    real_server 10.0.0.2 80 {
        delay_loop 7
        connect_timeout 9
        warmup 5
        lvs_method DR
        HTTP_GET {
            url { path / }
            retry 1
            bindto 10.0.0.250
            bind_port 4000
            log_all_failures
        }
    }
    real_server 10.0.0.3 80 {
        MISC_CHECK {
            misc_path /bin/true
        }
    }
    real_server 10.0.0.4 80 {
        TCP_CHECK {
        }
    }
}
`
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if !s.HashPort {
		t.Error("flag-2 did not set mh-port")
	}
	http, misc, tcp := s.RealServers[0].Check, s.RealServers[1].Check, s.RealServers[2].Check
	if http.ConnectTimeout != 9*time.Second || http.Retry != 1 || http.DelayLoop != 7*time.Second || http.VirtualHost != "www.example.com" ||
		http.BindTo != netip.MustParseAddr("10.0.0.250") || http.BindPort != 4000 || http.DelayBeforeRetry != 3*time.Second {
		t.Errorf("http check %+v", *http)
	}
	// MISC_CHECK: the virtual_server's retry, none of its connect_timeout
	// or virtualhost; keepalived's misc_timeout default (delay_loop).
	if misc.Retry != 4 || misc.VirtualHost != "" || misc.Timeout != s.DelayLoop {
		t.Errorf("misc check %+v", *misc)
	}
	if tcp.ConnectTimeout != 2*time.Second || tcp.Retry != 4 || tcp.VirtualHost != "" {
		t.Errorf("tcp check %+v", *tcp)
	}
	for _, w := range []struct {
		line int
		msg  string
	}{{7, "omega ignored"}, {14, "warmup ignored"}, {21, "log_all_failures ignored"}} {
		if !slices.ContainsFunc(warns, func(x Warning) bool { return x.Line == w.line && strings.Contains(x.Msg, w.msg) }) {
			t.Errorf("no warning %q at line %d in %v", w.msg, w.line, warns)
		}
	}
	if slices.ContainsFunc(warns, func(x Warning) bool { return strings.Contains(x.Msg, "alpha") }) {
		t.Errorf("plain alpha warned about: %v", warns)
	}
	assertRoundTrip(t, c)

	// A bad default is one problem, however many checks read it.
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "retry 4", "retry many", 1)))
	printed := wantProblem(t, err, "k.conf", 4, "retry", "must be an integer")
	if n := strings.Count(printed, "k.conf:4:"); n != 1 {
		t.Errorf("the bad default is reported %d times:\n%s", n, printed)
	}
	// A real server may forward its own way (keepalived's lvs_method in
	// a real_server; IPVS forwards per real server); the others keep the
	// service's.
	c, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "lvs_method DR", "lvs_method TUN", 1)))
	if err != nil {
		t.Fatal(err)
	}
	s = c.Services[0]
	if f := []Forward{s.ForwardOf(s.RealServers[0]), s.ForwardOf(s.RealServers[1]), s.ForwardOf(s.RealServers[2])}; !slices.Equal(f, []Forward{TUN, DR, DR}) || s.Forward != DR {
		t.Errorf("forwarding %v (service %s), want the first real server's TUN and the service's DR", f, s.Forward)
	}
	assertRoundTrip(t, c)
}

// Several url blocks (as keepalived's own sample configuration has) are
// all checked; the checker's virtualhost fills in those without one.
func TestKeepalivedSeveralURLs(t *testing.T) {
	conf := kaEdit("weight 1", `SSL_GET {
            url {
              path /
              digest ff20ad2481f97b1754ef3e12ecd3a9cc
            }
            url {
              path /mrtg/
              digest 9b3a0c85a887a256d6939da88aabd8cd
              virtualhost mrtg.example
            }
            virtualhost www.example
            connect_timeout 3
        }`)
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Services[0].RealServers[0].Check
	want := []CheckURL{
		{Path: "/", Digest: "ff20ad2481f97b1754ef3e12ecd3a9cc", VirtualHost: "www.example"},
		{Path: "/mrtg/", Digest: "9b3a0c85a887a256d6939da88aabd8cd", VirtualHost: "mrtg.example"},
	}
	if got := ck.URLs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("urls\n got %+v\nwant %+v", got, want)
	}
	out := assertRoundTrip(t, c)
	if !strings.Contains(string(out), "urls:") {
		t.Errorf("several urls not printed as urls:\n%s", out)
	}
	// A bad digest in the second url is reported at its line.
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "9b3a0c85a887a256d6939da88aabd8cd", "nothex", 1)))
	wantProblem(t, err, "k.conf", 11, "check.urls[1].digest", "32 hex digits")
}

// lvs_sync_daemon is not read, but the warning says what does its job.
func TestKeepalivedLVSSyncDaemon(t *testing.T) {
	_, warns, err := ParseKeepalived("k.conf", []byte("global_defs {\n lvs_sync_daemon eth0 VI_1\n}\n"+kaBase))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool { return w.Line == 2 && strings.Contains(w.Msg, "--sync-peer") }) {
		t.Errorf("warnings %v", warns)
	}
}

// Several checkers in a real_server: all are kept (the server is up while
// all pass), each under its own field path, and they convert to YAML checks.
func TestKeepalivedSeveralCheckers(t *testing.T) {
	conf := kaEdit("weight 1", "TCP_CHECK {\n connect_port 8080\n }\n MISC_CHECK {\n misc_path /bin/true\n }")
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Services[0].RealServers[0]
	if cs := r.Checks(); len(cs) != 2 || cs[0].Type != TCPCheck || cs[0].ConnectPort != 8080 || cs[1].Type != MiscCheck || cs[1].Script != "/bin/true" {
		t.Fatalf("checks %+v", r.Checks())
	}
	// The MISC_CHECK's timeout defaults to delay_loop as a first one's would.
	if r.MoreChecks[0].Timeout != c.Services[0].DelayLoop {
		t.Errorf("second check's timeout %v", r.MoreChecks[0].Timeout)
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "checks:") {
		t.Errorf("not printed as checks:\n%s", out)
	}
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "misc_path /bin/true", "misc_timeout 3", 1)))
	wantProblem(t, err, "k.conf", 7, "services[0].real_servers[0].checks[1].script", "is required")
}

// misc_dynamic: the script's exit status sets the weight; YAML dynamic.
func TestKeepalivedMiscDynamic(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte(kaEdit("weight 1", "MISC_CHECK {\n misc_path /usr/local/bin/load\n misc_dynamic\n }")))
	if err != nil {
		t.Fatal(err)
	}
	if ck := c.Services[0].RealServers[0].Check; !ck.Dynamic {
		t.Fatalf("check %+v", *ck)
	}
	assertRoundTrip(t, c)
	_, err = ParseYAML("t.yaml", []byte(svcYAML(nil, "        check: {type: tcp, dynamic: true}")))
	wantProblem(t, err, "t.yaml", 9, "check.dynamic", "only applies to misc checks")
}

// More of vrrp_instance as keepalived reads it: mcast_src_ip (the adverts'
// source, as unicast_src_ip), virtual_ipaddress_excluded,
// dont_track_primary, accept / check_unicast_src (what xlb does) and
// strict_mode for one instance.
func TestKeepalivedVRRPInstanceKeywords(t *testing.T) {
	conf := `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    mcast_src_ip 10.0.0.8
    dont_track_primary
    accept
    check_unicast_src
    virtual_ipaddress {
        10.0.0.1
    }
    virtual_ipaddress_excluded {
        10.0.0.2
        10.0.0.3
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    strict_mode
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.4
    }
}
`
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	v := c.VRRP[0]
	if v.UnicastSrcIP.String() != "10.0.0.8" || !v.DontTrackPrimary || len(v.ExcludedAddrs) != 2 || v.ExcludedAddrs[1].String() != "10.0.0.3" {
		t.Errorf("VI_1: src %v dont_track_primary %v excluded %v", v.UnicastSrcIP, v.DontTrackPrimary, v.ExcludedAddrs)
	}
	if c.VRRP[1].AuthType != "" || !slices.ContainsFunc(warns, func(w Warning) bool { return w.Line == 21 && strings.Contains(w.Msg, "no firewall rules") }) {
		t.Errorf("VI_2 strict_mode: auth %q, warnings %v", c.VRRP[1].AuthType, warns)
	}
	assertRoundTrip(t, c)
	// An excluded address may not be another instance's VIP.
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "        10.0.0.3\n", "        10.0.0.4\n", 1)))
	wantProblem(t, err, "k.conf", 27, "vrrp[1].virtual_ipaddress[0]", "already a virtual address of vrrp[0]")
}

// keepalived's generic notify (instance and sync group) is kept, not
// ignored: it runs with TYPE NAME STATE [PRIORITY] arguments.
func TestKeepalivedGenericNotify(t *testing.T) {
	conf := "vrrp_sync_group G {\n group { VI_1 }\n notify \"/bin/g.sh\"\n}\n" +
		"vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n notify \"/bin/i.sh arg\"\n notify_stop /bin/stop.sh\n virtual_ipaddress { 10.0.0.1 }\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRP[0].Notify != "/bin/i.sh arg" || c.VRRPSyncGroups[0].Notify != "/bin/g.sh" || c.VRRP[0].NotifyStop != "/bin/stop.sh" {
		t.Errorf("notify %q, group notify %q", c.VRRP[0].Notify, c.VRRPSyncGroups[0].Notify)
	}
	if slices.ContainsFunc(warns, func(w Warning) bool { return strings.Contains(w.Msg, "notify") }) {
		t.Errorf("notify warned about: %v", warns)
	}
	assertRoundTrip(t, c)
}

// track_interface { eth1 weight -10 } moves the priority (weight 0 is a
// plain, faulting one); in a sync-group member it is tracked with weight
// 0, as keepalived 2.2.7 does there.
func TestKeepalivedWeightedTrackInterface(t *testing.T) {
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n track_interface {\n  eth1 weight -10\n  eth2 weight 0\n  eth3\n }\n virtual_ipaddress { 10.0.0.1 }\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	v := c.VRRP[0]
	if !slices.Equal(v.TrackInterfaces, []TrackInterface{{Name: "eth1", Weight: -10}, {Name: "eth2"}, {Name: "eth3"}}) {
		t.Fatalf("track_interface %v", v.TrackInterfaces)
	}
	assertRoundTrip(t, c)
	c, warns, err := ParseKeepalived("k.conf", []byte("vrrp_sync_group G {\n group { VI_1 }\n}\n"+conf))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.VRRP[0].TrackInterfaces, []TrackInterface{{Name: "eth1"}, {Name: "eth2"}, {Name: "eth3"}}) {
		t.Errorf("member track_interface %v", c.VRRP[0].TrackInterfaces)
	}
	if len(warns) != 1 || warns[0].Line != 9 || !strings.Contains(warns[0].Msg, "weight of track_interface eth1 ignored") {
		t.Errorf("warnings %v, want one at line 9", warns)
	}
}

// sorry_server_lvs_method equal to the service's method is accepted.
func TestKeepalivedSorryServerMethod(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lb_kind DR\n    sorry_server 10.0.0.9 80\n    sorry_server_lvs_method DR")))
	if err != nil || c.Services[0].SorryServer == nil {
		t.Fatalf("sorry_server_lvs_method DR: %v", err)
	}
}

// An IPv6 vrrp_instance without a version is VRRPv3, as in keepalived.
func TestKeepalivedIPv6Instance(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte("vrrp_instance VI_6 {\n interface eth0\n virtual_router_id 61\n priority 100\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.Version != 3 {
		t.Errorf("version %d, want 3", v.Version)
	}
	// Written as version 2 it is refused.
	_, _, err = ParseKeepalived("k.conf", []byte("vrrp_instance VI_6 {\n interface eth0\n version 2\n virtual_router_id 61\n priority 100\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n"))
	wantProblem(t, err, "k.conf", 7, "virtual_ipaddress[0]", "needs VRRP version 3")
}

// uthreshold / lthreshold of a real server (IPVS -x / -y): read, checked
// as IPVS checks them, and carried through the conversion to YAML.
func TestKeepalivedThresholds(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte(kaEdit("weight 1", "weight 1\n        uthreshold 100\n        lthreshold 60")))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Services[0].RealServers[0]; r.UThreshold != 100 || r.LThreshold != 60 {
		t.Fatalf("uthreshold/lthreshold read as %d/%d, want 100/60", r.UThreshold, r.LThreshold)
	}
	assertRoundTrip(t, c)
	for _, tc := range []struct {
		name, edit string
		line       int
		field, msg string
	}{
		{"lower above upper", "uthreshold 10\n lthreshold 11", 6, "services[0].real_servers[0].lthreshold", "above uthreshold 10"},
		{"lower alone", "lthreshold 5", 5, "services[0].real_servers[0].lthreshold", "needs a uthreshold"},
		{"negative", "uthreshold -1", 5, "services[0].real_servers[0].uthreshold", "got -1"},
		{"not a number", "uthreshold many", 5, "uthreshold", `must be an integer, got "many"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(kaEdit("weight 1", "weight 1\n "+tc.edit)))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

// keepalived 2.2's startup_script / shutdown_script and their timeouts.
func TestKeepalivedLifeScripts(t *testing.T) {
	conf := "global_defs {\n startup_script \"/etc/keepalived/up.sh start\"\n startup_script_timeout 30\n shutdown_script /etc/keepalived/down.sh nobody\n}\n" + kaBase
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.StartupScript; s.Script != "/etc/keepalived/up.sh start" || s.Timeout != 30*time.Second || !s.User.IsZero() {
		t.Errorf("startup_script read as %+v", s)
	}
	if s := c.ShutdownScript; s.Script != "/etc/keepalived/down.sh" || s.User.User != "nobody" || s.TimeoutOrDefault() != 10*time.Second {
		t.Errorf("shutdown_script read as %+v (timeout %v), want its user nobody and keepalived's 10 s", s, s.TimeoutOrDefault())
	}
	assertRoundTrip(t, c)
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "startup_script_timeout 30", "startup_script_timeout 5000", 1)))
	wantProblem(t, err, "k.conf", 3, "startup_script_timeout", "1..1000")
}

// keepalived 2.2.7 ignores a track_interface naming the instance's own
// interface ("Ignoring track_interface eth0 since own interface"), weighted
// or not and wherever the interface line is; xlb drops it with a warning
// at its line, and problems of the entries after it still name their own
// lines.
func TestKeepalivedTrackOwnInterfaceIgnored(t *testing.T) {
	conf := "vrrp_instance VI_1 {\n track_interface {\n  eth0 weight -20\n  eth1\n }\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.VRRP[0].TrackInterfaces; !slices.Equal(got, []TrackInterface{{Name: "eth1"}}) {
		t.Fatalf("track_interface %v, want only eth1", got)
	}
	if !slices.ContainsFunc(warns, func(w Warning) bool {
		return w.Line == 3 && strings.Contains(w.Msg, "track_interface eth0 ignored") && strings.Contains(w.Msg, "own interface")
	}) {
		t.Errorf("no warning at line 3 about the own interface: %v", warns)
	}
	assertRoundTrip(t, c)

	bad := strings.Replace(conf, "  eth1\n", "  eth1 weight -254\n", 1)
	_, _, err = ParseKeepalived("k.conf", []byte(bad))
	wantProblem(t, err, "k.conf", 4, "vrrp[0].track_interface[0].weight", "must be -253..253")
}

// promote_secondaries is read onto the instance (and into YAML); it takes
// no value.
func TestKeepalivedPromoteSecondaries(t *testing.T) {
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n promote_secondaries\n virtual_ipaddress { 10.0.0.1/24 }\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if !c.VRRP[0].PromoteSecondaries {
		t.Error("promote_secondaries not read")
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "promote_secondaries: true") {
		t.Errorf("YAML lacks promote_secondaries:\n%s", out)
	}
	_, _, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "promote_secondaries", "promote_secondaries yes", 1)))
	wantProblem(t, err, "k.conf", 5, "promote_secondaries", "")
}

// track_src_ip is read with a unicast_src_ip (in either order), and
// ignored with a warning without one, as keepalived clears it; YAML
// refuses it there.
func TestKeepalivedTrackSrcIP(t *testing.T) {
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n track_src_ip\n unicast_src_ip 10.0.0.5\n unicast_peer {\n  10.0.0.6\n }\n virtual_ipaddress { 10.0.0.1 }\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if !c.VRRP[0].TrackSrcIP || len(warns) != 0 {
		t.Errorf("track_src_ip %v, warnings %v", c.VRRP[0].TrackSrcIP, warns)
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "track_src_ip: true") {
		t.Errorf("YAML lacks track_src_ip:\n%s", out)
	}
	c, warns, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, " unicast_src_ip 10.0.0.5\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRP[0].TrackSrcIP || len(warns) != 1 || warns[0].Line != 5 || !strings.Contains(warns[0].Msg, "track_src_ip ignored without unicast_src_ip") {
		t.Errorf("without unicast_src_ip: track_src_ip %v, warnings %v", c.VRRP[0].TrackSrcIP, warns)
	}
	_, err = ParseYAML("t.yaml", []byte("vrrp:\n  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [10.0.0.1], track_src_ip: true}\n"))
	wantProblem(t, err, "t.yaml", 2, "vrrp[0].track_src_ip", "needs unicast_src_ip")
}

// interface_up_down_delays: seconds (decimals too), the up delay 0 when
// not given; into YAML and back; bad entries named at their line.
func TestKeepalivedInterfaceDelays(t *testing.T) {
	conf := "interface_up_down_delays {\n eth1 2 3\n eth2 1.5\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := []InterfaceDelay{{Interface: "eth1", Down: 2 * time.Second, Up: 3 * time.Second, Line: 2}, {Interface: "eth2", Down: 1500 * time.Millisecond, Line: 3}}
	if !reflect.DeepEqual(c.InterfaceDelays, want) {
		t.Errorf("delays %+v, want %+v", c.InterfaceDelays, want)
	}
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "interface_up_down_delays:") {
		t.Errorf("YAML lacks the delays:\n%s", out)
	}
	for _, tc := range []struct {
		conf  string
		line  int
		field string
		msg   string
	}{
		{"interface_up_down_delays {\n eth1\n}\n", 2, "interface_up_down_delays", "want IFNAME DOWN_DELAY [UP_DELAY]"},
		{"interface_up_down_delays {\n eth1 2 3 4\n}\n", 2, "interface_up_down_delays", "want IFNAME DOWN_DELAY [UP_DELAY]"},
		{"interface_up_down_delays {\n eth1 soon\n}\n", 2, "interface_up_down_delays", `want seconds, got "soon"`},
		{"interface_up_down_delays {\n eth1 1\n eth1 2\n}\n", 3, "interface_up_down_delays[1].interface", "eth1 has delays already"},
		{"interface_up_down_delays {\n eth1 -1\n}\n", 2, "interface_up_down_delays[0].down", "must be 0..3600 s"},
	} {
		_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
		wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
	}
	_, err = ParseYAML("t.yaml", []byte("interface_up_down_delays:\n  - {interface: eth1, down: 2, up: 1h1s}\n"))
	wantProblem(t, err, "t.yaml", 2, "interface_up_down_delays[0].up", "must be 0..3600 s")
}

// ip_family must be the virtual server's own family, as keepalived
// checks it; it sets nothing.
func TestKeepalivedIPFamily(t *testing.T) {
	c, _, err := ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lb_kind DR\n    ip_family inet")))
	if err != nil {
		t.Fatalf("ip_family inet on an IPv4 service: %v", err)
	}
	base, _, _ := ParseKeepalived("k.conf", []byte(kaBase))
	assertSameConfig(t, c, base)
	_, _, err = ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lb_kind DR\n    ip_family inet6")))
	wantProblem(t, err, "k.conf", 3, "ip_family", "inet6 conflicts with the virtual_server's address 10.0.0.1")
	_, _, err = ParseKeepalived("k.conf", []byte(kaEdit("lb_kind DR", "lb_kind DR\n    ip_family ipx")))
	wantProblem(t, err, "k.conf", 3, "ip_family", `unknown address family "ipx"`)
}

// A virtual_server whose address does not parse draws that one problem, not
// also one about the name that would have been derived from it.
func TestKeepalivedBadVIPIsOneProblem(t *testing.T) {
	_, _, err := ParseKeepalived("k.conf", []byte(strings.Replace(kaBase, "10.0.0.1 80", "10.0.0.300 80", 1)))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Msg, `invalid IP address "10.0.0.300"`) {
		t.Fatalf("got %v, want the one invalid-address problem", err)
	}
}

// keepalived 2.2.7 clears nopreempt and preempt_delay of an instance whose
// initial state is MASTER, with a warning each ("nopreempt will not work
// with initial state MASTER - clearing", seen from keepalived -t); xlb reads
// the file the same way. A BACKUP keeps both.
func TestKeepalivedMasterClearsNopreempt(t *testing.T) {
	conf := "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 100\n nopreempt\n preempt_delay 10\n virtual_ipaddress {\n  192.168.101.100\n }\n}\n"
	c, warns, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; !v.Preempt || v.PreemptDelay != 0 {
		t.Errorf("MASTER kept nopreempt (preempt %v) or preempt_delay %v", v.Preempt, v.PreemptDelay)
	}
	for _, w := range []struct {
		line int
		msg  string
	}{{6, "nopreempt does not work with initial state MASTER: cleared"}, {7, "preempt_delay does not work with initial state MASTER: cleared"}} {
		if !slices.ContainsFunc(warns, func(x Warning) bool { return x.Line == w.line && strings.Contains(x.Msg, w.msg) }) {
			t.Errorf("no warning %q at line %d in %v", w.msg, w.line, warns)
		}
	}
	c, warns, err = ParseKeepalived("k.conf", []byte(strings.Replace(conf, "state MASTER", "state BACKUP", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.VRRP[0]; v.Preempt || v.PreemptDelay != 10*time.Second || len(warns) != 0 {
		t.Errorf("BACKUP: preempt %v, preempt_delay %v, warnings %v; want nopreempt and 10s kept, silently", v.Preempt, v.PreemptDelay, warns)
	}
}

// What keepalived 2.2.7 settles at the end of a virtual_server, with the
// warnings `keepalived -t` prints for this very file: no protocol is UDP,
// a quorum above the total weight comes down to it, a hysteresis not below
// the quorum to quorum-1.
// Several status_code lines in one url add up, as in keepalived (a set of
// codes), rather than the last one winning.
func TestKeepalivedStatusCodeLinesAddUp(t *testing.T) {
	c, _, err := ParseKeepalived("s.conf", []byte(kaEdit("weight 1", "HTTP_GET {\n url {\n path /health\n status_code 200\n status_code 301-302\n }\n }")))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Services[0].RealServers[0].Check
	ranges, err := ck.StatusCodes.Ranges()
	if err != nil || len(ranges) != 2 || ranges[0] != (CodeRange{200, 200}) || ranges[1] != (CodeRange{301, 302}) {
		t.Fatalf("status codes %q (%v, %v), want 200 and 301-302", ck.StatusCodes, ranges, err)
	}
}

func TestKeepalivedVirtualServerDefaults(t *testing.T) {
	conf := "virtual_server 192.168.101.100 53 {\n    lb_kind DR\n    quorum 10\n    hysteresis 12\n" +
		"    real_server 192.168.101.3 53 {\n        weight 3\n    }\n    real_server 192.168.101.4 53 {\n        weight 3\n    }\n}\n"
	c, warns, err := ParseKeepalived("d.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if s.Protocol != UDP || s.Quorum != 6 || s.Hysteresis != 5 {
		t.Fatalf("protocol %s quorum %d hysteresis %d, want udp 6 5 (keepalived's)", s.Protocol, s.Quorum, s.Hysteresis)
	}
	var msgs []string
	for _, w := range warns {
		if w.Line == 1 {
			msgs = append(msgs, w.Msg)
		}
	}
	want := []string{"no protocol set: UDP", "quorum 10 exceeds the real servers' total weight 6: reducing it to 6", "hysteresis 12 >= quorum 6: setting it to 5"}
	if len(msgs) != len(want) {
		t.Fatalf("warnings at line 1 %q, want %d", msgs, len(want))
	}
	for i, w := range want {
		if !strings.Contains(msgs[i], w) {
			t.Errorf("warning %q, want it to say %q", msgs[i], w)
		}
	}
	// Written out, the protocol is there, so the YAML says what runs.
	if out := assertRoundTrip(t, c); !strings.Contains(string(out), "protocol: udp") {
		t.Errorf("YAML lacks the protocol:\n%s", out)
	}
}
