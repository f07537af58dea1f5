package director

import (
	"net"
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/config"
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
			specs := Specs(cfg, tc.macs, up(cfg, tc.rs1Up), 0)
			if len(specs) != 1 || len(specs[0].Backends) != 3 {
				t.Fatalf("specs: %+v", specs)
			}
			b := specs[0].Backends[2]
			if b.Addr != netip.AddrPortFrom(sorry, 80) || b.Available != tc.wantAvail || b.Weight != tc.wantWeight || b.MAC.String() != mac.String() {
				t.Errorf("sorry backend %+v, want available %v weight %d", b, tc.wantAvail, tc.wantWeight)
			}
			// The real servers are what they would be without it.
			cfg.Services[0].SorryServer = nil
			plain := Specs(cfg, tc.macs, up(cfg, tc.rs1Up), 0)[0].Backends
			for i := range plain {
				if plain[i].Available != specs[0].Backends[i].Available || plain[i].Weight != specs[0].Backends[i].Weight {
					t.Errorf("real server %d: %+v with a sorry server, %+v without", i, specs[0].Backends[i], plain[i])
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
