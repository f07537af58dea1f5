package director

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vrrp"
)

// promote_secondaries as keepalived 2.2.7 does it (checked on a running
// 2.2.7: 0 before, 1 from its start while backup and master, 0 again after
// its stop): set while an instance asking for it runs, kept while another
// instance on the interface still asks, the value found restored at a
// clean stop; a restart in place (leave) keeps 1 for the next run.
func TestVRRPSetPromoteSecondaries(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "prom-d-")
	vethPair(t, ns, "10.80.0.1/24")
	value := func() string {
		t.Helper()
		var v string
		ns.Do(t, func() error {
			b, err := os.ReadFile(promotePath("veth0"))
			v = strings.TrimSpace(string(b))
			return err
		})
		return v
	}
	inst := func(name string, vrid int, vip string, promote bool) config.VRRPInstance {
		return config.VRRPInstance{
			Name: name, Interface: "veth0", VirtualRouterID: vrid, Priority: 100, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true, PromoteSecondaries: promote,
			VirtualAddrs: []netip.Addr{netip.MustParseAddr(vip)},
		}
	}
	update := func(s *vrrpSet, vs ...config.VRRPInstance) { t.Helper(); updateIn(t, ns, s, &config.Config{VRRP: vs}) }
	if v := value(); v != "0" {
		t.Fatalf("a new namespace's veth0 has promote_secondaries %s, want 0", v)
	}
	s := newTestVRRPSet()
	update(s, inst("VI_1", 61, "10.80.0.100", true), inst("VI_2", 62, "10.80.0.101", true), inst("VI_3", 63, "10.80.0.102", false))
	if v := value(); v != "1" {
		t.Fatalf("with instances asking for it (backups still): %s, want 1", v)
	}
	waitStates(t, s, vrrp.StateMaster, "started", "VI_1", "VI_2", "VI_3")
	// A reload that restarts VI_1 (new priority) and drops VI_2: VI_1
	// still asks, so it stays 1 throughout.
	v1 := inst("VI_1", 61, "10.80.0.100", true)
	v1.Priority = 101
	update(s, v1, inst("VI_3", 63, "10.80.0.102", false))
	if v := value(); v != "1" {
		t.Fatalf("after a reload keeping one instance that asks: %s, want 1", v)
	}
	// A reload that turns it off: back to the value found.
	v1.PromoteSecondaries = false
	update(s, v1, inst("VI_3", 63, "10.80.0.102", false))
	if v := value(); v != "0" {
		t.Fatalf("after a reload with no instance asking: %s, want 0", v)
	}
	// On again, then a restart in place: 1 is left for the next run.
	v1.PromoteSecondaries = true
	update(s, v1)
	if v := value(); v != "1" {
		t.Fatalf("on again: %s, want 1", v)
	}
	s.stopAll(true)
	if v := value(); v != "1" {
		t.Fatalf("after a restart in place: %s, want 1", v)
	}
	// A clean stop restores what its own start found (1, here): only a
	// value xlb changed is written back.
	s = newTestVRRPSet()
	update(s, v1)
	s.stopAll(false)
	if v := value(); v != "1" {
		t.Fatalf("clean stop of a run that found 1: %s, want 1", v)
	}
	ns.Sysctl(t, "net/ipv4/conf/veth0/promote_secondaries", "0")
	s = newTestVRRPSet()
	update(s, v1)
	if v := value(); v != "1" {
		t.Fatalf("started again: %s, want 1", v)
	}
	s.stopAll(false)
	if v := value(); v != "0" {
		t.Fatalf("after a clean stop: %s, want the 0 found", v)
	}
}
