package control

import (
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/config"
)

// xlb real add/edit -g / -i set a real server's own forwarding method,
// kept only where it differs from the service's (ipvsadm's -a/-e -g/-i);
// without either, an added server forwards as its service does.
func TestEditRealForward(t *testing.T) {
	svc := netip.MustParseAddrPort("10.0.0.1:80")
	cfg := &config.Config{Services: []config.Service{{VIP: svc.Addr(), Port: 80, Protocol: config.TCP, Forward: config.DR}}}
	edit := func(op EditOp, real string, f config.Forward) {
		t.Helper()
		e := Edit{Op: op, Protocol: config.TCP, Service: svc, Real: netip.MustParseAddrPort(real), Forward: f}
		if err := e.Apply(cfg); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
	}
	edit(RealAdd, "10.0.0.2:80", "")
	edit(RealAdd, "10.0.0.3:80", config.TUN)
	s := &cfg.Services[0]
	if s.ForwardOf(s.RealServers[0]) != config.DR || s.RealServers[1].Forward != config.TUN {
		t.Fatalf("after add: %+v", s.RealServers)
	}
	edit(RealEdit, "10.0.0.3:80", config.DR)
	if s.RealServers[1].Forward != "" {
		t.Errorf("-e -g on a DR service left an own method %q", s.RealServers[1].Forward)
	}
	edit(RealEdit, "10.0.0.2:80", config.TUN)
	edit(RealEdit, "10.0.0.2:80", "") // a weight-only edit keeps it
	if s.RealServers[0].Forward != config.TUN {
		t.Errorf("-e without -g/-i changed the method: %q", s.RealServers[0].Forward)
	}
	edit(RealAdd, "10.0.0.4:80", config.TUN)
	e := Edit{Op: RealEdit, Protocol: config.TCP, Service: svc, Real: netip.MustParseAddrPort("10.0.0.4:80"), Forward: config.TUN, TunnelType: config.TunnelGRE}
	if err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if r := s.RealServers[2]; s.ForwardOf(r) != config.TUN || r.TunnelType != config.TunnelGRE {
		t.Errorf("-e -i --tun-type gre: %+v", r)
	}
	if got := e.String(); got != "real-edit tcp/10.0.0.1:80 -r 10.0.0.4:80 -i --tun-type gre" {
		t.Errorf("String() = %q", got)
	}
	e.TunnelType, e.TunnelPort = config.TunnelGUE, 6080
	if err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if tt, port := s.TunnelOf(s.RealServers[2]); tt != config.TunnelGUE || port != 6080 {
		t.Errorf("-e -i --tun-type gue --tun-port 6080: %q %d", tt, port)
	}
	if got := e.String(); got != "real-edit tcp/10.0.0.1:80 -r 10.0.0.4:80 -i --tun-type gue --tun-port 6080" {
		t.Errorf("String() = %q", got)
	}
}
