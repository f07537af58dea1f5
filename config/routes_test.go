package config

import (
	"slices"
	"testing"
)

const routesConf = `global_defs {
  default_interface eth1
}
static_ipaddress {
  192.0.2.50/24 dev eth0 label eth0:st
  192.0.2.51/24
}
static_routes {
  198.51.100.0/24 via 192.0.2.1 dev eth0
  blackhole 203.0.113.0/24
}
static_rules {
  from 192.0.2.0/24 table 100 priority 200
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.10
  }
  virtual_routes {
    src 192.0.2.10 198.51.101.0/24 via 192.0.2.1 dev eth0 metric 7
    unreachable 198.51.102.0/24 table 100
  }
  virtual_rules {
    to 198.51.101.0/24 lookup 100 preference 300
  }
}
`

// keepalived's route, rule and address lines are kept as written (an
// address without dev gets default_interface's) and survive xlb config
// convert.
func TestKeepalivedRoutes(t *testing.T) {
	c, warns, err := ParseKeepalived("r.conf", []byte(routesConf))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	for _, tc := range []struct {
		name      string
		got, want []string
	}{
		{"static_ipaddress", c.StaticAddrs, []string{"192.0.2.50/24 dev eth0 label eth0:st", "192.0.2.51/24 dev eth1"}},
		{"static_routes", c.StaticRoutes, []string{"198.51.100.0/24 via 192.0.2.1 dev eth0", "blackhole 203.0.113.0/24"}},
		{"static_rules", c.StaticRules, []string{"from 192.0.2.0/24 table 100 priority 200"}},
		{"virtual_routes", c.VRRP[0].VirtualRoutes, []string{"src 192.0.2.10 198.51.101.0/24 via 192.0.2.1 dev eth0 metric 7", "unreachable 198.51.102.0/24 table 100"}},
		{"virtual_rules", c.VRRP[0].VirtualRules, []string{"to 198.51.101.0/24 lookup 100 preference 300"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	assertRoundTrip(t, c)
	// A deep copy: the clone's lines are its own.
	n := c.Clone()
	n.StaticRoutes[0], n.VRRP[0].VirtualRoutes[0] = "x", "x"
	if c.StaticRoutes[0] == "x" || c.VRRP[0].VirtualRoutes[0] == "x" {
		t.Error("Clone shares the route lines")
	}
}

// A line the parser refuses is an error at its own line, in both readers.
func TestRoutesRefused(t *testing.T) {
	_, _, err := ParseKeepalived("r.conf", []byte(`static_routes {
  198.51.100.0/24 via 192.0.2.1 mtu 1400
}
static_ipaddress {
  192.0.2.50/24
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    192.0.2.10
  }
  virtual_rules {
    from 192.0.2.0/24 table 1 pref 5
  }
  virtual_routes {
    198.51.100.0/24 via 192.0.2.1
    198.51.101.0/24 via 192.0.2.1 proto static
  }
}
`))
	wantProblem(t, err, "r.conf", 2, "static_routes", `unsupported route option "mtu"`)
	wantProblem(t, err, "r.conf", 5, "static_ipaddress", "no dev")
	wantProblem(t, err, "r.conf", 14, "virtual_rules", `unsupported rule option "pref"`)
	wantProblem(t, err, "r.conf", 18, "virtual_routes", "keyword is protocol")

	_, err = ParseYAML("r.yaml", []byte(`static_routes:
  - 198.51.100.0/24 via 192.0.2.1
  - 198.51.100.0/24
static_rules: ["from 192.0.2.0/24"]
static_ipaddress: [192.0.2.50/24 dev eth0 peer 192.0.2.1]
vrrp:
  - name: A
    interface: eth0
    virtual_router_id: 1
    priority: 100
    virtual_ipaddress: [10.0.0.1]
    virtual_routes:
      - blackhole 203.0.113.0/24 via 192.0.2.1
    virtual_rules:
      - to 198.51.101.0/24 lookup red
`))
	wantProblem(t, err, "r.yaml", 3, "static_routes[1]", "needs via or dev")
	wantProblem(t, err, "r.yaml", 4, "static_rules[0]", "no table")
	wantProblem(t, err, "r.yaml", 5, "static_ipaddress[0]", `"peer"`)
	wantProblem(t, err, "r.yaml", 13, "vrrp[0].virtual_routes[0]", "takes no via")
	wantProblem(t, err, "r.yaml", 15, "vrrp[0].virtual_rules[0]", "table numbers")
}
