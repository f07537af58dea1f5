package director

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/maps"
)

// The sorry server takes new flows exactly while no real server can
// (keepalived's default quorum): down, weight 0 (drained or inhibited) or
// unresolved all count; otherwise it is out (keeping its flows) or, with
// sorry_server_inhibit, at weight 0.
func TestSpecsSorryServer(t *testing.T) {
	rs1, rs2, sorry := netip.MustParseAddr("192.168.101.3"), netip.MustParseAddr("192.168.101.4"), netip.MustParseAddr("192.168.101.9")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	allMACs := map[netip.Addr]net.HardwareAddr{rs1: mac, rs2: mac, sorry: mac}
	service := func(weight2 int, inhibitFailed, inhibitSorry bool) *config.Config {
		return &config.Config{Services: []config.Service{{
			VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.RR,
			Forward: config.DR, InhibitOnFailure: inhibitFailed,
			RealServers: []config.RealServer{
				{Address: rs1, Port: 80, Weight: 1, Check: &config.Check{Type: config.TCPCheck}},
				{Address: rs2, Port: 80, Weight: weight2},
			},
			SorryServer: &config.SorryServer{Address: sorry, Port: 80, Inhibit: inhibitSorry},
		}}}
	}
	up := func(cfg *config.Config, v bool) map[string]bool {
		s := cfg.Services[0]
		return map[string]bool{TargetKey(s, s.RealServers[0]): v}
	}
	for _, tc := range []struct {
		name                        string
		weight2                     int
		rs1Up, inhibitFail, inhibit bool
		macs                        map[netip.Addr]net.HardwareAddr
		wantAvail                   bool
		wantWeight                  uint32
	}{
		{name: "pool serving", weight2: 1, rs1Up: true, macs: allMACs, wantAvail: false, wantWeight: 1},
		{name: "one down, one serving", weight2: 1, rs1Up: false, macs: allMACs, wantAvail: false, wantWeight: 1},
		{name: "down and drained", weight2: 0, rs1Up: false, macs: allMACs, wantAvail: true, wantWeight: 1},
		{name: "down, inhibited to weight 0", weight2: 0, rs1Up: false, inhibitFail: true, macs: allMACs, wantAvail: true, wantWeight: 1},
		{name: "up one unresolved, other drained", weight2: 0, rs1Up: true,
			macs: map[netip.Addr]net.HardwareAddr{rs2: mac, sorry: mac}, wantAvail: true, wantWeight: 1},
		{name: "pool serving, sorry_server_inhibit", weight2: 1, rs1Up: true, inhibit: true, macs: allMACs, wantAvail: true, wantWeight: 0},
		{name: "pool down, sorry_server_inhibit", weight2: 0, rs1Up: false, inhibit: true, macs: allMACs, wantAvail: true, wantWeight: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := service(tc.weight2, tc.inhibitFail, tc.inhibit)
			specs := Specs(cfg, tc.macs, up(cfg, tc.rs1Up), 0, nil)
			if len(specs) != 1 || len(specs[0].Backends) != 3 {
				t.Fatalf("specs: %+v", specs)
			}
			b := specs[0].Backends[2]
			if b.Addr != netip.AddrPortFrom(sorry, 80) || b.Available != tc.wantAvail || b.Weight != tc.wantWeight || b.MAC.String() != mac.String() {
				t.Errorf("sorry backend %+v, want available %v weight %d", b, tc.wantAvail, tc.wantWeight)
			}
			// The real servers are what they would be without it, except
			// that while it serves none with a weight takes new flows
			// (keepalived takes them out).
			standsIn := tc.wantAvail && tc.wantWeight == 1
			cfg.Services[0].SorryServer = nil
			plain := Specs(cfg, tc.macs, up(cfg, tc.rs1Up), 0, nil)[0].Backends
			for i := range plain {
				want := plain[i]
				if standsIn && want.Weight > 0 {
					want.Available = false
				}
				if got := specs[0].Backends[i]; got.Available != want.Available || got.Weight != want.Weight {
					t.Errorf("real server %d: %+v with a sorry server, want %+v", i, got, want)
				}
			}
		})
	}
}

// A sorry server keeps its VIP announced over BGP while the pool is down.
func TestServableVIPsCountsSorryServer(t *testing.T) {
	vip, rs, sorry := netip.MustParseAddr("192.168.101.100"), netip.MustParseAddr("192.168.101.3"), netip.MustParseAddr("192.168.101.9")
	cfg := &config.Config{Services: []config.Service{{
		VIP: vip, Port: 80, Protocol: config.TCP,
		RealServers: []config.RealServer{{Address: rs, Port: 80, Weight: 1, Check: &config.Check{Type: config.TCPCheck}}},
	}}}
	macs := map[netip.Addr]net.HardwareAddr{rs: {2, 0, 0, 0, 0, 1}, sorry: {2, 0, 0, 0, 0, 2}}
	if got := servableVIPs(cfg, macs, nil); len(got) != 0 {
		t.Fatalf("pool down, no sorry server: announced %v", got)
	}
	cfg.Services[0].SorryServer = &config.SorryServer{Address: sorry, Port: 80}
	if got := servableVIPs(cfg, macs, nil); len(got) != 1 || got[0] != vip {
		t.Errorf("pool down, sorry server resolved: announced %v, want %v", got, vip)
	}
	delete(macs, sorry)
	if got := servableVIPs(cfg, macs, nil); len(got) != 0 {
		t.Errorf("sorry server unresolved: announced %v", got)
	}
}

// keepalived's quorum: the sum of the weights of the servers able to take
// flows; lost below quorum-hysteresis, gained at quorum+hysteresis. While
// it is lost the sorry server takes every new flow, the remaining servers
// none.
func TestQuorumHysteresis(t *testing.T) {
	s := config.Service{Quorum: 4, Hysteresis: 1}
	for _, tc := range []struct {
		weight     int
		was, known bool
		want       bool
	}{
		{4, false, false, true}, {3, false, false, false}, // first judgement: the quorum alone
		{3, true, true, true}, {2, true, true, false}, // up: lost below 4-1
		{4, false, true, false}, {5, false, true, true}, // down: gained at 4+1
		{0, true, true, false},
	} {
		if got := hasQuorum(s, tc.weight, tc.was, tc.known); got != tc.want {
			t.Errorf("weight %d (was %v, known %v): quorum %v, want %v", tc.weight, tc.was, tc.known, got, tc.want)
		}
	}
	if !hasQuorum(config.Service{}, 1, false, false) || hasQuorum(config.Service{}, 0, true, true) {
		t.Error("quorum 0 must mean keepalived's default 1")
	}

	rs1, rs2, sorry := netip.MustParseAddr("192.168.101.3"), netip.MustParseAddr("192.168.101.4"), netip.MustParseAddr("192.168.101.9")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	cfg := &config.Config{Services: []config.Service{{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.RR, Forward: config.DR,
		Quorum:      3,
		RealServers: []config.RealServer{{Address: rs1, Port: 80, Weight: 1}, {Address: rs2, Port: 80, Weight: 1}},
		SorryServer: &config.SorryServer{Address: sorry, Port: 80},
	}}}
	macs := map[netip.Addr]net.HardwareAddr{rs1: mac, rs2: mac, sorry: mac}
	b := Specs(cfg, macs, nil, 0, nil)[0].Backends
	if b[0].Available || b[1].Available || !b[2].Available || b[2].Weight != 1 {
		t.Errorf("weights 1+1 below quorum 3: %+v, want the sorry server alone", b)
	}
	cfg.Services[0].RealServers[1].Weight = 2
	b = Specs(cfg, macs, nil, 0, nil)[0].Backends
	if !b[0].Available || !b[1].Available || b[2].Available {
		t.Errorf("weights 1+2 at quorum 3: %+v, want the real servers and no sorry server", b)
	}
	// The director's remembered state wins over the quorum alone.
	key := serviceKey(cfg.Services[0])
	b = Specs(cfg, macs, nil, 0, map[maps.Key]bool{key: false})[0].Backends
	if b[0].Available || !b[2].Available {
		t.Errorf("quorum remembered lost: %+v, want the sorry server", b)
	}
}

// A real server with several checks is available only while every one
// passes; each check is its own health target.
func TestSpecsSeveralChecks(t *testing.T) {
	rs := netip.MustParseAddr("192.168.101.3")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	s := config.Service{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.RR, Forward: config.DR,
		RealServers: []config.RealServer{{Address: rs, Port: 80, Weight: 1,
			Check: &config.Check{Type: config.TCPCheck}, MoreChecks: []config.Check{{Type: config.MiscCheck, Script: "/bin/true"}}}},
	}
	cfg := &config.Config{Services: []config.Service{s}}
	keys := CheckKeys(s, s.RealServers[0])
	if len(keys) != 2 || keys[0] != TargetKey(s, s.RealServers[0]) || keys[1] == keys[0] {
		t.Fatalf("check keys %q", keys)
	}
	if ts := targets(cfg, nil); len(ts) != 2 || ts[0].Key != keys[0] || ts[1].Key != keys[1] || ts[1].Check.Type != config.MiscCheck {
		t.Fatalf("targets %+v", ts)
	}
	for _, tc := range []struct {
		first, second, want bool
	}{{true, true, true}, {true, false, false}, {false, true, false}} {
		up := map[string]bool{keys[0]: tc.first, keys[1]: tc.second}
		specs := Specs(cfg, map[netip.Addr]net.HardwareAddr{rs: mac}, up, 0, nil)
		if got := specs[0].Backends[0].Available; got != tc.want {
			t.Errorf("checks up %v/%v: available %v, want %v", tc.first, tc.second, got, tc.want)
		}
	}
}

// inhibit_on_failure of one real server: when down it stays at weight 0
// (keeping its flows), while the other is taken out.
func TestSpecsInhibitPerRealServer(t *testing.T) {
	rs1, rs2 := netip.MustParseAddr("192.168.101.3"), netip.MustParseAddr("192.168.101.4")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	ck := &config.Check{Type: config.TCPCheck}
	cfg := &config.Config{Services: []config.Service{{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.RR, Forward: config.DR,
		RealServers: []config.RealServer{
			{Address: rs1, Port: 80, Weight: 3, Check: ck, InhibitOnFailure: true},
			{Address: rs2, Port: 80, Weight: 3, Check: ck},
		},
	}}}
	specs := Specs(cfg, map[netip.Addr]net.HardwareAddr{rs1: mac, rs2: mac}, map[string]bool{}, 0, nil)
	b1, b2 := specs[0].Backends[0], specs[0].Backends[1]
	if !b1.Available || b1.Weight != 0 || b2.Available {
		t.Errorf("down servers: inhibited %+v (want available, weight 0), other %+v (want unavailable)", b1, b2)
	}
}

// A dynamic MISC_CHECK's weight replaces the configured one, for the
// datapath and for the quorum, only while the check is dynamic.
func TestDynamicWeights(t *testing.T) {
	rs := netip.MustParseAddr("192.168.101.3")
	s := config.Service{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.WRR, Forward: config.DR,
		RealServers: []config.RealServer{{Address: rs, Port: 80, Weight: 1,
			Check: &config.Check{Type: config.MiscCheck, Script: "/bin/true", Dynamic: true}}},
	}
	cfg := &config.Config{Services: []config.Service{s}}
	key := TargetKey(s, s.RealServers[0])
	eff := withDynamicWeights(cfg, map[string]int{key: 7}, nil)
	if got := eff.Services[0].RealServers[0].Weight; got != 7 {
		t.Fatalf("dynamic weight %d, want 7", got)
	}
	if cfg.Services[0].RealServers[0].Weight != 1 {
		t.Fatal("the configuration itself was changed")
	}
	specs := Specs(eff, map[netip.Addr]net.HardwareAddr{rs: {2, 0, 0, 0, 0, 1}}, map[string]bool{key: true}, 0, nil)
	if w := specs[0].Backends[0].Weight; w != 7 {
		t.Errorf("datapath weight %d, want 7", w)
	}
	cfg.Services[0].RealServers[0].Check.Dynamic = false
	if got := withDynamicWeights(cfg, map[string]int{key: 7}, nil).Services[0].RealServers[0].Weight; got != 1 {
		t.Errorf("weight %d after the check stopped being dynamic, want the configured 1", got)
	}
}

// What FILE_CHECKs add is summed onto the server's weight (the configured
// one, or a dynamic MISC_CHECK's), kept within 0..65535: below 0 the
// server is drained at weight 0, not taken out.
func TestFileCheckWeights(t *testing.T) {
	rs := netip.MustParseAddr("192.168.101.3")
	s := config.Service{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.WRR, Forward: config.DR,
		RealServers: []config.RealServer{{Address: rs, Port: 80, Weight: 10,
			Check:      &config.Check{Type: config.FileCheck, TrackFile: "a"},
			MoreChecks: []config.Check{{Type: config.FileCheck, TrackFile: "b"}, {Type: config.MiscCheck, Script: "/bin/true", Dynamic: true}}}},
	}
	cfg := &config.Config{Services: []config.Service{s}}
	keys := CheckKeys(s, s.RealServers[0])
	weight := func(dyn map[string]int, a, b int) int {
		return withDynamicWeights(cfg, dyn, map[string]int{keys[0]: a, keys[1]: b}).Services[0].RealServers[0].Weight
	}
	for _, tc := range []struct {
		name      string
		dyn       map[string]int
		a, b, exp int
	}{
		{"nothing added", nil, 0, 0, 10},
		{"both files add", nil, 5, -2, 13},
		{"onto misc_dynamic's weight", map[string]int{keys[2]: 40}, 5, 0, 45},
		{"below 0 is 0", nil, -30, 0, 0},
		{"above 65535 is 65535", nil, 2147483647, 5, 65535},
	} {
		if got := weight(tc.dyn, tc.a, tc.b); got != tc.exp {
			t.Errorf("%s: weight %d, want %d", tc.name, got, tc.exp)
		}
	}
	mac := map[netip.Addr]net.HardwareAddr{rs: {2, 0, 0, 0, 0, 1}}
	up := map[string]bool{keys[0]: true, keys[1]: true, keys[2]: true}
	b := Specs(withDynamicWeights(cfg, nil, map[string]int{keys[0]: -30}), mac, up, 0, nil)[0].Backends[0]
	if !b.Available || b.Weight != 0 {
		t.Errorf("weight pushed below 0: backend %+v, want available at weight 0 (drained)", b)
	}
}

// Each real server (and the sorry server) is tunnelled to or routed to by
// its own method, the service's where it has none.
func TestSpecsForwardPerServer(t *testing.T) {
	rs1, rs2, sorry := netip.MustParseAddr("192.168.101.3"), netip.MustParseAddr("192.168.101.4"), netip.MustParseAddr("192.168.101.9")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	cfg := &config.Config{Services: []config.Service{{
		VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Protocol: config.TCP, Scheduler: config.RR, Forward: config.DR,
		RealServers: []config.RealServer{{Address: rs1, Port: 80, Weight: 1}, {Address: rs2, Port: 80, Weight: 1, Forward: config.TUN}},
		SorryServer: &config.SorryServer{Address: sorry, Port: 80, Forward: config.TUN},
	}}}
	macs := map[netip.Addr]net.HardwareAddr{rs1: mac, rs2: mac, sorry: mac}
	b := Specs(cfg, macs, nil, 0, nil)[0].Backends
	if len(b) != 3 || b[0].Tunnel || !b[1].Tunnel || !b[2].Tunnel {
		t.Fatalf("backends %+v: want rs1 routed, rs2 and the sorry server tunnelled", b)
	}
	cfg.Services[0].Forward = config.TUN
	cfg.Services[0].RealServers[1].Forward = config.DR
	cfg.Services[0].SorryServer.Forward = ""
	b = Specs(cfg, macs, nil, 0, nil)[0].Backends
	if !b[0].Tunnel || b[1].Tunnel || !b[2].Tunnel {
		t.Fatalf("TUN service, rs2 DR: %+v", b)
	}
	cfg.Services[0].TunnelType = config.TunnelGRE
	b = Specs(cfg, macs, nil, 0, nil)[0].Backends
	if !b[0].GRE || b[1].GRE || !b[2].GRE {
		t.Fatalf("TUN type gre service, rs2 DR: %+v, want GRE for rs1 and the sorry server", b)
	}
	cfg.Services[0].TunnelType, cfg.Services[0].TunnelPort = config.TunnelGUE, 6080
	b = Specs(cfg, macs, nil, 0, nil)[0].Backends
	if b[0].GRE || b[0].GUEPort != 6080 || b[1].GUEPort != 0 || b[2].GUEPort != 6080 {
		t.Fatalf("TUN type gue service, rs2 DR: %+v, want GUE to 6080 for rs1 and the sorry server", b)
	}
	var got []target
	got = forwardedTo(cfg.Services[0])
	if want := []target{{rs1, config.TUN}, {rs2, config.DR}, {sorry, config.TUN}}; !slices.Equal(got, want) {
		t.Errorf("forwardedTo %v, want %v", got, want)
	}
}
