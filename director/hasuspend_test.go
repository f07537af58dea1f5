package director

import (
	"net/netip"
	"testing"

	"github.com/xlb-project/xlb/config"
)

// ha_suspend pauses the checks of a service whose VRRP VIP the director
// does not hold, and only those: a VIP the director owns itself is always
// on its interface, and a service without ha_suspend is always checked.
func TestTargetsHASuspend(t *testing.T) {
	vvip, own := netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.200")
	svc := func(vip netip.Addr, ha bool) config.Service {
		return config.Service{VIP: vip, Port: 80, Protocol: config.TCP, HASuspend: ha, RealServers: []config.RealServer{
			{Address: netip.MustParseAddr("10.0.0.3"), Port: 80, Check: &config.Check{Type: config.TCPCheck}},
		}}
	}
	cfg := &config.Config{
		VRRP:     []config.VRRPInstance{{Name: "VI_1", VirtualAddrs: []netip.Addr{vvip}}},
		Services: []config.Service{svc(vvip, true), svc(vvip, false), svc(own, true)},
	}
	cfg.Services[1].Port = 81
	for _, tc := range []struct {
		name string
		held map[netip.Addr]bool
		want []bool
	}{
		{"backup", nil, []bool{true, false, false}},
		{"master", map[netip.Addr]bool{vvip: true}, []bool{false, false, false}},
	} {
		ts := targets(cfg, tc.held)
		if len(ts) != 3 {
			t.Fatalf("%s: %d targets", tc.name, len(ts))
		}
		for n, tg := range ts {
			if tg.Suspended != tc.want[n] {
				t.Errorf("%s: %s suspended = %v, want %v", tc.name, tg.Key, tg.Suspended, tc.want[n])
			}
		}
	}
}
