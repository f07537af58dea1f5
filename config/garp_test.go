package config

import (
	"strings"
	"testing"
	"time"
)

// garpConf has global_defs after the first instance on purpose: keepalived
// 2.2.7 applies them to every instance wherever they stand (checked with
// its SIGUSR1 dump).
const garpConf = `vrrp_instance A {
    interface eth0
    virtual_router_id 1
    priority 100
    garp_master_repeat 2
    virtual_ipaddress {
        10.0.0.1
    }
}
global_defs {
    vrrp_garp_master_delay 7
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 20
    vrrp_garp_interval 0.002
    vrrp_gna_interval 0.000001
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    priority 100
    garp_master_delay 0
    garp_master_refresh_repeat 4
    garp_lower_prio_repeat 0
    garp_lower_prio_delay 9
    virtual_ipaddress {
        10.0.0.2
    }
}
`

func TestKeepalivedGARP(t *testing.T) {
	c, warns, err := ParseKeepalived("garp.conf", []byte(garpConf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v, want none (the garp settings are honoured)", warns)
	}
	global := GARP{MasterDelay: 7 * time.Second, MasterRepeat: 3, MasterRefresh: 20 * time.Second, MasterRefreshRepeat: 1,
		LowerPrioDelay: 7 * time.Second, LowerPrioRepeat: 3, Interval: 2 * time.Millisecond, NAInterval: time.Microsecond}
	if c.VRRPGARP != global {
		t.Errorf("global GARP %+v, want %+v", c.VRRPGARP, global)
	}
	// A's own repeat does not move its lower-priority repeat: that comes
	// from the global one (keepalived's dump: "lower priority repeat = 3").
	a := global
	a.MasterRepeat = 2
	if got := c.VRRP[0].GARP; got != a {
		t.Errorf("A: GARP %+v, want %+v", got, a)
	}
	b := global
	b.MasterDelay, b.MasterRefreshRepeat, b.LowerPrioRepeat, b.LowerPrioDelay = 0, 4, 0, 9*time.Second
	if got := c.VRRP[1].GARP; got != b {
		t.Errorf("B: GARP %+v, want %+v", got, b)
	}

	// Round trip: the YAML says the global settings once and what each
	// instance changes, and reads back the same.
	out := assertRoundTrip(t, c)
	for _, frag := range []string{"vrrp_garp_master_delay: 7", "vrrp_garp_interval: 2ms", "garp_master_repeat: 2", "garp_lower_prio_repeat: 0"} {
		if !strings.Contains(string(out), frag) {
			t.Errorf("converted YAML lacks %q:\n%s", frag, out)
		}
	}
	if strings.Contains(string(out), "vrrp_garp_lower_prio_delay") {
		t.Errorf("converted YAML sets the global lower-priority delay that only follows garp_master_delay:\n%s", out)
	}
}

// Without any setting every instance has keepalived's defaults: 5 at once,
// 5 more after 5 s, no refresh, lower priority like the master's.
func TestKeepalivedGARPDefaults(t *testing.T) {
	c, _, err := ParseKeepalived("d.conf", []byte(`vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.1
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := GARP{MasterDelay: 5 * time.Second, MasterRepeat: 5, MasterRefreshRepeat: 1, LowerPrioDelay: 5 * time.Second, LowerPrioRepeat: 5}
	if got := c.VRRP[0].GARP; got != want {
		t.Errorf("GARP %+v, want %+v", got, want)
	}
}

// vrrp_min_garp: one packet, no second burst, no refresh, except where
// global_defs set them; a repeat of 0 is 1 with a warning, as keepalived
// says; strict mode sends nothing for a lower-priority advert.
func TestKeepalivedMinGARPAndStrict(t *testing.T) {
	c, warns, err := ParseKeepalived("m.conf", []byte(`global_defs {
    vrrp_min_garp
    vrrp_garp_master_delay 3
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    garp_master_refresh_repeat 0
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance S {
    interface eth0
    virtual_router_id 2
    strict_mode
    garp_lower_prio_repeat 2
    virtual_ipaddress {
        10.0.0.2
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.VRRP[0].GARP
	if a.MasterRepeat != 1 || a.MasterDelay != 3*time.Second || a.MasterRefresh != 0 || a.MasterRefreshRepeat != 1 ||
		a.LowerPrioRepeat != 1 || a.LowerPrioDelay != 3*time.Second {
		t.Errorf("min_garp: GARP %+v", a)
	}
	if s := c.VRRP[1].GARP; s.LowerPrioRepeat != 0 || s.LowerPrioDelay != 0 || s.MasterRepeat != 1 {
		t.Errorf("strict: GARP %+v", s)
	}
	var text []string
	for _, w := range warns {
		text = append(text, w.String())
	}
	all := strings.Join(text, "\n")
	for _, w := range []string{"m.conf:8: garp_master_refresh_repeat 0: using 1", "m.conf:17: vrrp_instance S: vrrp_strict: garp_lower_prio_repeat ignored"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
}

func TestKeepalivedGARPErrors(t *testing.T) {
	_, _, err := ParseKeepalived("e.conf", []byte(`global_defs {
    vrrp_garp_interval 5000
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    garp_master_delay 1.5
    garp_lower_prio_repeat -1
    garp_master_refresh x
    virtual_ipaddress {
        10.0.0.1
    }
}
`))
	wantProblem(t, err, "e.conf", 2, "vrrp_garp_interval", "0..4294 s")
	wantProblem(t, err, "e.conf", 7, "vrrp[0].garp_master_delay", "whole seconds")
	wantProblem(t, err, "e.conf", 8, "vrrp[0].garp_lower_prio_repeat", "at least 0")
	wantProblem(t, err, "e.conf", 9, "garp_master_refresh", "want seconds")
}

const garpYAML = `vrrp_garp_master_repeat: 2
vrrp_garp_lower_prio_delay: 1
vrrp:
  - name: A
    interface: eth0
    virtual_router_id: 1
    priority: 100
    virtual_ipaddress: [10.0.0.1]
    garp_master_delay: 2s
    garp_master_refresh: 60
    garp_master_refresh_repeat: 2
    garp_interval: 10ms
    gna_interval: 0.001
  - name: B
    interface: eth0
    virtual_router_id: 2
    priority: 100
    virtual_ipaddress: [10.0.0.2]
`

func TestYAMLGARP(t *testing.T) {
	c, err := ParseYAML("g.yaml", []byte(garpYAML))
	if err != nil {
		t.Fatal(err)
	}
	a := GARP{MasterDelay: 2 * time.Second, MasterRepeat: 2, MasterRefresh: time.Minute, MasterRefreshRepeat: 2,
		LowerPrioDelay: time.Second, LowerPrioRepeat: 2, Interval: 10 * time.Millisecond, NAInterval: time.Millisecond}
	if got := c.VRRP[0].GARP; got != a {
		t.Errorf("A: GARP %+v, want %+v", got, a)
	}
	b := GARP{MasterDelay: 5 * time.Second, MasterRepeat: 2, MasterRefreshRepeat: 1, LowerPrioDelay: time.Second, LowerPrioRepeat: 2}
	if got := c.VRRP[1].GARP; got != b {
		t.Errorf("B: GARP %+v, want %+v", got, b)
	}
	assertRoundTrip(t, c)

	_, err = ParseYAML("bad.yaml", []byte(`vrrp_garp_master_refresh_repeat: 0
vrrp:
  - name: A
    interface: eth0
    virtual_router_id: 1
    priority: 100
    virtual_ipaddress: [10.0.0.1]
    garp_master_repeat: 0
    garp_lower_prio_delay: 4295
    gna_interval: 1ns
`))
	wantProblem(t, err, "bad.yaml", 1, "vrrp_garp_master_refresh_repeat", "at least 1")
	wantProblem(t, err, "bad.yaml", 8, "vrrp[0].garp_master_repeat", "at least 1")
	wantProblem(t, err, "bad.yaml", 9, "vrrp[0].garp_lower_prio_delay", "whole seconds 0..4294")
	wantProblem(t, err, "bad.yaml", 10, "vrrp[0].gna_interval", "microseconds")
}
