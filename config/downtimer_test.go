package config

import (
	"strings"
	"testing"
	"time"
)

// vrrp_down_timer_adverts is the default of the instances that set no
// down_timer_adverts of their own; vrrp_startup_delay is read as seconds.
// Both survive `xlb config convert`.
func TestKeepalivedDownTimerAndStartupDelay(t *testing.T) {
	conf := "global_defs {\n vrrp_down_timer_adverts 5\n vrrp_startup_delay 5.5\n}\n" +
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priority 100\n down_timer_adverts 7\n virtual_ipaddress { 10.0.0.2 }\n}\n" +
		"vrrp_instance C {\n interface eth0\n virtual_router_id 3\n priority 100\n down_timer_adverts 3\n virtual_ipaddress { 10.0.0.3 }\n}\n"
	c, _, err := ParseKeepalived("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	// 3 (the RFCs') is kept as 0, the default.
	for i, want := range []int{5, 7, 0} {
		if got := c.VRRP[i].DownTimerAdverts; got != want {
			t.Errorf("%s down_timer_adverts = %d, want %d", c.VRRP[i].Name, got, want)
		}
	}
	if c.VRRPStartupDelay != 5500*time.Millisecond {
		t.Errorf("vrrp_startup_delay = %v, want 5.5s", c.VRRPStartupDelay)
	}
	out := assertRoundTrip(t, c)
	if !strings.Contains(string(out), "vrrp_startup_delay: 5.5s") || strings.Count(string(out), "down_timer_adverts:") != 2 {
		t.Errorf("converted YAML:\n%s", out)
	}
}

func TestDownTimerAndStartupDelayRefused(t *testing.T) {
	inst := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.1 }\n DT\n}\n"
	for _, tc := range []struct {
		name, conf  string
		line        int
		field, want string
	}{
		{"instance 0", strings.Replace(inst, "DT", "down_timer_adverts 0", 1), 6, "down_timer_adverts", "must be 1..100, got 0"},
		{"instance 101", strings.Replace(inst, "DT", "down_timer_adverts 101", 1), 6, "down_timer_adverts", "must be 1..100, got 101"},
		{"instance word", strings.Replace(inst, "DT", "down_timer_adverts x", 1), 6, "down_timer_adverts", `must be an integer, got "x"`},
		{"global 0", "global_defs {\n vrrp_down_timer_adverts 0\n}\n", 2, "vrrp_down_timer_adverts", "must be 1..100, got 0"},
		{"delay negative", "global_defs {\n vrrp_startup_delay -1\n}\n", 2, "vrrp_startup_delay", "must be 0..3600 s, got -1s"},
		{"delay too long", "global_defs {\n vrrp_startup_delay 3601\n}\n", 2, "vrrp_startup_delay", "must be 0..3600 s, got 1h0m1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.want)
		})
	}
}

func TestYAMLDownTimerAndStartupDelay(t *testing.T) {
	doc := `vrrp_startup_delay: 2s
vrrp_down_timer_adverts: 4
vrrp:
  - {name: A, interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [10.0.0.1]}
  - {name: B, interface: eth0, virtual_router_id: 2, priority: 100, virtual_ipaddress: [10.0.0.2], down_timer_adverts: 9}
`
	c, err := ParseYAML("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.VRRP[0].DownTimerAdverts != 4 || c.VRRP[1].DownTimerAdverts != 9 || c.VRRPStartupDelay != 2*time.Second {
		t.Errorf("got %d, %d, %v; want 4, 9, 2s", c.VRRP[0].DownTimerAdverts, c.VRRP[1].DownTimerAdverts, c.VRRPStartupDelay)
	}
	assertRoundTrip(t, c)
	_, err = ParseYAML("x.yaml", []byte(strings.Replace(doc, "down_timer_adverts: 9", "down_timer_adverts: 0", 1)))
	wantProblem(t, err, "x.yaml", 5, "vrrp[1].down_timer_adverts", "must be 1..100, got 0")
	_, err = ParseYAML("x.yaml", []byte(strings.Replace(doc, "vrrp_down_timer_adverts: 4", "vrrp_down_timer_adverts: 200", 1)))
	wantProblem(t, err, "x.yaml", 2, "vrrp_down_timer_adverts", "must be 1..100, got 200")
	_, err = ParseYAML("x.yaml", []byte(strings.Replace(doc, "2s", "-2s", 1)))
	wantProblem(t, err, "x.yaml", 1, "vrrp_startup_delay", "must be 0..3600 s, got -2s")
}
