package ipvsrules

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/control"
)

// What `ipvsadm-save -n` prints for the seed's director, persistence and
// a UDP service with one-packet scheduling and a tunnelled IPv6 service.
const saved = `-A -t 192.168.101.100:80 -s wlc -p 50 -M 255.255.255.0
-a -t 192.168.101.100:80 -r 192.168.101.3:80 -g -w 3
-a -t 192.168.101.100:80 -r 192.168.101.4:80 -g -w 1 -x 100 -y 60
-A -u 192.168.101.100:53 -s sh -b sh-fallback,sh-port -o
-a -u 192.168.101.100:53 -r 192.168.101.3:53 -g -w 1
-A -t [2001:db8::100]:443 -s mh
-a -t [2001:db8::100]:443 -r [2001:db8::3]:443 -i -w 2
`

func TestParseIPVSADMSave(t *testing.T) {
	cfg, err := Parse("ipvsadm.rules", []byte(saved))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 3 {
		t.Fatalf("%d services, want 3", len(cfg.Services))
	}
	web, dns, v6 := cfg.Services[0], cfg.Services[1], cfg.Services[2]
	if web.Protocol != config.TCP || web.Scheduler != config.WLC || web.PersistenceTimeout != 50*time.Second ||
		web.PersistenceGranularity != 24 || web.Forward != config.DR || web.Line != 1 {
		t.Errorf("web service read as %+v", web)
	}
	if len(web.RealServers) != 2 {
		t.Fatalf("web has %d real servers", len(web.RealServers))
	}
	if r := web.RealServers[0]; r.Address != netip.MustParseAddr("192.168.101.3") || r.Port != 80 || r.Weight != 3 || r.Line != 2 {
		t.Errorf("rs1 read as %+v", r)
	}
	if r := web.RealServers[1]; r.Weight != 1 || r.UThreshold != 100 || r.LThreshold != 60 {
		t.Errorf("rs2 read as %+v, want weight 1, thresholds 100/60", r)
	}
	if dns.Protocol != config.UDP || dns.Scheduler != config.SH || !dns.HashPort || !dns.OPS {
		t.Errorf("dns service read as %+v", dns)
	}
	if v6.Forward != config.TUN || v6.Scheduler != config.MH || v6.RealServers[0].Weight != 2 {
		t.Errorf("IPv6 service read as %+v", v6)
	}
}

// A director's init script: "ipvsadm" commands, comments, -C first,
// --set, -p without a value (300 s), a real server without a port (the
// service's) and later edits and deletions, applied in order.
func TestParseCommandLines(t *testing.T) {
	script := `# /etc/init.d/lvsdr
/sbin/ipvsadm -C
ipvsadm --set 30 120 300
ipvsadm -A -t 192.168.101.100:80 -s rr -p
ipvsadm -a -t 192.168.101.100:80 -r 192.168.101.3 -g
ipvsadm -a -t 192.168.101.100:80 -r 192.168.101.4 -g
ipvsadm -a -t 192.168.101.100:80 -r 192.168.101.5 -g

ipvsadm -e -t 192.168.101.100:80 -r 192.168.101.4 -w 0
ipvsadm -d -t 192.168.101.100:80 -r 192.168.101.5
ipvsadm -E -t 192.168.101.100:80 -s wrr
`
	cfg, err := Parse("lvsdr", []byte(script))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeouts.TCP != 30*time.Second || cfg.Timeouts.TCPFin != 120*time.Second || cfg.Timeouts.UDP != 300*time.Second {
		t.Errorf("--set 30 120 300 gave %+v", cfg.Timeouts)
	}
	s := cfg.Services[0]
	if s.Scheduler != config.WRR || s.PersistenceTimeout != 300*time.Second {
		t.Errorf("service %+v: want wrr (edited), -p alone 300 s", s)
	}
	if len(s.RealServers) != 2 || s.RealServers[0].Port != 80 || s.RealServers[1].Weight != 0 {
		t.Errorf("real servers %+v: want .3:80 and .4:80 at weight 0 (.5 deleted)", s.RealServers)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, rules string
		line        int
		msg         string
	}{
		{"NAT", "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n", 2, "-m (NAT) is not supported"},
		{"fwmark", "-A -f 1 -s rr\n", 1, "fwmark services are not supported"},
		{"unknown scheduler", "-A -t 10.0.0.1:80 -s lblc\n", 1, `unknown scheduler "lblc"`},
		{"real server of no service", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g\n", 1, "no such service"},
		{"port mapping in DR", "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -g\n", 2, "cannot change ports"},
		{"shell variable", "ipvsadm -A -t $VIP:80 -s rr\n", 1, `service "$VIP:80"`},
		{"gue without port", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue\n", 2, "--tun-type gue and --tun-port go together"},
		{"tun-port out of range", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 70000\n", 2, "--tun-port 70000: want 1..65535"},
		{"tun-type without -i", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -g --tun-type gre\n", 2, "--tun-type goes with -i"},
		{"gre checksum", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-csum\n", 2, "--tun-csum is not supported"},
		{"not ipvsadm", "-A -t 10.0.0.1:80\nifconfig eth0:0 10.0.0.1 up\n", 2, `"ifconfig" is not an ipvsadm command`},
		{"weight word", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w heavy\n", 2, `-w "heavy"`},
		{"scheduler on a real server", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -s rr\n", 2, "-s belongs to -A or -E"},
		{"lower above upper", "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -x 10 -y 20\n", 2, "20 is above uthreshold 10"},
		{"port name (saved without -n)", "-A -t 10.0.0.1:http -s rr\n", 1, `service "10.0.0.1:http": want VIP:PORT ([V6]:PORT for IPv6); names (a host or port name, as ipvsadm-save prints without -n) are not read: save the rules with ipvsadm-save -n`},
		{"host name (saved without -n)", "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r web1.example:80 -g\n", 2, "save the rules with ipvsadm-save -n"},
		{"mistyped address: no advice on names", "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.300 -g\n", 2, `real server "10.0.0.300": want RIP[:PORT]`},
		{"persistence engine", "-A -u 10.0.0.1:5060 -s rr -p 60 --pe sip\n", 1, "persistence engines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("r.rules", []byte(tc.rules))
			if err == nil {
				t.Fatalf("accepted:\n%s\nas %+v", tc.rules, cfg)
			}
			var p config.Problem
			if !errors.As(err, &p) {
				t.Fatalf("error %v is not a config.Problem", err)
			}
			found := false
			var ve *config.ValidationError
			errors.As(err, &ve)
			for _, p := range ve.Problems {
				if p.File == "r.rules" && p.Line == tc.line && strings.Contains(p.Error(), tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("want r.rules:%d: …%s…, got:\n%v", tc.line, tc.msg, err)
			}
			if strings.Contains(tc.name, "no advice on names") && strings.Contains(err.Error(), "ipvsadm-save -n") {
				t.Errorf("advice on names for a mistyped number: %v", err)
			}
		})
	}
}

// `xlb list --save` prints what Parse reads back as the same services.
func TestFormatRulesRoundTrip(t *testing.T) {
	cfg, err := Parse("ipvsadm.rules", []byte(saved))
	if err != nil {
		t.Fatal(err)
	}
	snap := &control.Snapshot{}
	for _, s := range cfg.Services {
		svc := control.Service{
			Protocol: string(s.Protocol), VIP: s.VIP, Port: s.Port, Scheduler: string(s.Scheduler),
			PersistenceSeconds: int(s.PersistenceTimeout / time.Second), PersistencePrefix: s.PersistenceGranularity,
			HashPort: s.HashPort, OPS: s.OPS, Forward: "Route",
		}
		if s.Forward == config.TUN {
			svc.Forward = "Tunnel"
		}
		for _, r := range s.RealServers {
			svc.RealServers = append(svc.RealServers, control.RealServer{
				Addr: netip.AddrPortFrom(r.Address, r.Port), Weight: r.Weight, Available: true, Configured: true,
				UThreshold: uint32(r.UThreshold), LThreshold: uint32(r.LThreshold),
			})
		}
		snap.Services = append(snap.Services, svc)
	}
	var b bytes.Buffer
	control.FormatRules(&b, snap, control.ListOptions{})
	// ipvsadm prints the flags it knows: sh-fallback is what xlb always
	// does, so only sh-port comes back.
	want := strings.Replace(saved, "-b sh-fallback,sh-port", "-b sh-port", 1)
	if b.String() != want {
		t.Errorf("FormatRules:\n%s\nwant:\n%s", &b, want)
	}
}

// IPVS forwards per real server: a service may route to some (-g) and
// tunnel to others (-i). The first real server sets the service's method,
// a later different one keeps its own; -e -i changes it; the saved rules
// print each server's own flag again.
func TestMixedForwarding(t *testing.T) {
	const rules = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n-a -t 10.0.0.1:80 -r 10.0.0.3:80 -i -w 1\n-a -t 10.0.0.1:80 -r 10.0.0.4:80 -w 1\n-e -t 10.0.0.1:80 -r 10.0.0.4:80 -i\n" +
		"-a -t 10.0.0.1:80 -r 10.0.0.5:80 -i --tun-type gre --tun-nocsum -w 1\n" +
		"-a -t 10.0.0.1:80 -r 10.0.0.6:80 -i --tun-type gue --tun-port 6080 -w 1\n"
	cfg, err := Parse("ipvsadm.rules", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	var got []config.Forward
	for _, r := range s.RealServers {
		got = append(got, s.ForwardOf(r))
	}
	if want := []config.Forward{config.DR, config.TUN, config.TUN, config.TUN, config.TUN}; s.Forward != config.DR || !slices.Equal(got, want) {
		t.Fatalf("service %s, real servers %v; want dr and %v", s.Forward, got, want)
	}
	t1, _ := s.TunnelOf(s.RealServers[1])
	t3, _ := s.TunnelOf(s.RealServers[3])
	t4, p4 := s.TunnelOf(s.RealServers[4])
	if t1 != config.TunnelIPIP || t3 != config.TunnelGRE || t4 != config.TunnelGUE || p4 != 6080 {
		t.Fatalf("tunnel types %q %q %q:%d, want ipip, gre, gue:6080", t1, t3, t4, p4)
	}
	snap := &control.Snapshot{Services: []control.Service{{Protocol: "tcp", VIP: s.VIP, Port: s.Port, Scheduler: "rr", Forward: "Route"}}}
	for _, r := range s.RealServers {
		rs := control.RealServer{Addr: netip.AddrPortFrom(r.Address, r.Port), Weight: r.Weight, Available: true, Configured: true, Forward: "Route"}
		if s.ForwardOf(r) == config.TUN {
			tt, port := s.TunnelOf(r)
			rs.Forward, rs.TunnelType, rs.TunnelPort = "Tunnel", string(tt), port
		}
		snap.Services[0].RealServers = append(snap.Services[0].RealServers, rs)
	}
	var b bytes.Buffer
	control.FormatRules(&b, snap, control.ListOptions{})
	for _, line := range []string{"-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1", "-a -t 10.0.0.1:80 -r 10.0.0.3:80 -i -w 1", "-a -t 10.0.0.1:80 -r 10.0.0.4:80 -i -w 1",
		"-a -t 10.0.0.1:80 -r 10.0.0.5:80 -i --tun-type gre -w 1", "-a -t 10.0.0.1:80 -r 10.0.0.6:80 -i --tun-type gue --tun-port 6080 -w 1"} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("saved rules lack %q:\n%s", line, &b)
		}
	}
}
