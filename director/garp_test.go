package director

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vrrp"
	"golang.org/x/sys/unix"
)

// garpSeen is one gratuitous ARP a capture saw, and when.
type garpSeen struct {
	addr netip.Addr
	at   time.Time
}

// captureGARPs collects the gratuitous ARPs (sender = target address)
// arriving on the given interfaces of ns for d, merged in time order.
func captureGARPs(t *testing.T, ns *nstest.NS, ifaces []string, d time.Duration) <-chan []garpSeen {
	t.Helper()
	out := make(chan []garpSeen, len(ifaces))
	for _, n := range ifaces {
		fd := nstest.PacketSocket(t, ns, nstest.IfaceIn(t, ns, n).Index, unix.ETH_P_ARP)
		go func() {
			defer unix.Close(fd)
			var got []garpSeen
			buf := make([]byte, 128)
			for end := time.Now().Add(d); time.Now().Before(end); {
				k, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil || k < 28 || buf[7] != 1 {
					continue
				}
				sip, _ := netip.AddrFromSlice(buf[14:18])
				tip, _ := netip.AddrFromSlice(buf[24:28])
				if sip == tip {
					got = append(got, garpSeen{sip, time.Now()})
				}
			}
			out <- got
		}()
	}
	merged := make(chan []garpSeen, 1)
	go func() {
		var all []garpSeen
		for range ifaces {
			all = append(all, <-out...)
		}
		slices.SortFunc(all, func(a, b garpSeen) int { return a.at.Compare(b.at) })
		merged <- all
	}()
	return merged
}

// smallestGap is the least time between two consecutive packets.
func smallestGap(got []garpSeen) time.Duration {
	least := time.Hour
	for i := 1; i < len(got); i++ {
		least = min(least, got[i].at.Sub(got[i-1].at))
	}
	return least
}

// garp_interval holds per interface and garp_group per group of
// interfaces, across instances, as keepalived 2.2.7 was seen to do
// (vrrp_garp_interval 0.2 with two instances on one interface: every
// gratuitous ARP 0.2 s after the previous, whichever instance sent it; a
// garp_group of two interfaces: 0.25 s apart across both). A reload that
// adds a garp_group paces the instances' next bursts without restarting
// them.
func TestVRRPSetGARPPacing(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.NewWithPrefix(t, "garp-d-")
	vethPair(t, ns, "10.81.0.1/24")
	nstest.LocalVeth(t, ns, "veth2", "veth3", "10.82.0.1/24")
	const gap = 100 * time.Millisecond
	inst := func(name, iface string, vrid int, interval time.Duration, refresh time.Duration, vips ...string) config.VRRPInstance {
		v := config.VRRPInstance{
			Name: name, Interface: iface, VirtualRouterID: vrid, Priority: 100, Version: 3,
			AdvertInterval: 100 * time.Millisecond, Preempt: true,
			GARP: config.GARP{MasterRepeat: 2, Interval: interval, MasterRefresh: refresh, MasterRefreshRepeat: 2, LowerPrioRepeat: 1},
		}
		for _, a := range vips {
			v.VirtualAddrs = append(v.VirtualAddrs, netip.MustParseAddr(a))
		}
		return v
	}
	update := func(s *vrrpSet, c *config.Config) { t.Helper(); updateIn(t, ns, s, c) }

	// Two instances on veth0 take over together: their bursts (2 VIPs × 2
	// each, 300 ms alone) overlap, and every packet still waits 100 ms
	// after the previous one on veth0.
	s := newTestVRRPSet()
	capt := captureGARPs(t, ns, []string{"veth1"}, 1500*time.Millisecond)
	update(s, &config.Config{VRRP: []config.VRRPInstance{
		inst("VI_1", "veth0", 71, gap, 0, "10.81.0.100", "10.81.0.101"),
		inst("VI_2", "veth0", 72, gap, 0, "10.81.0.110", "10.81.0.111"),
	}})
	waitStates(t, s, vrrp.StateMaster, "one interface", "VI_1", "VI_2")
	got := <-capt
	if len(got) != 8 {
		t.Fatalf("one interface: %d gratuitous ARPs, want 8: %v", len(got), got)
	}
	if g := smallestGap(got); g < gap-15*time.Millisecond {
		t.Errorf("one interface: two gratuitous ARPs %v apart, want at least %v", g, gap)
	}
	s.stopAll(false)

	// One instance on each interface, each spacing only its own: their
	// bursts overlap unpaced. Then a reload puts both interfaces in one
	// garp_group: the same runs' next refresh bursts queue behind each
	// other across veth0 and veth2.
	s = newTestVRRPSet()
	vs := []config.VRRPInstance{
		inst("VI_1", "veth0", 71, gap, time.Second, "10.81.0.100", "10.81.0.101"),
		inst("VI_2", "veth2", 72, gap, time.Second, "10.82.0.110", "10.82.0.111"),
	}
	capt = captureGARPs(t, ns, []string{"veth1", "veth3"}, 900*time.Millisecond)
	update(s, &config.Config{VRRP: vs})
	waitStates(t, s, vrrp.StateMaster, "two interfaces", "VI_1", "VI_2")
	got = <-capt
	if len(got) != 8 {
		t.Fatalf("two interfaces: %d gratuitous ARPs at takeover, want 8: %v", len(got), got)
	}
	if g := smallestGap(got); g >= gap-15*time.Millisecond {
		t.Errorf("two interfaces without a garp_group: least gap %v, want the overlapping bursts closer (the check below would prove nothing)", g)
	}
	before := map[string]*vrrpRun{"VI_1": s.runs["VI_1"], "VI_2": s.runs["VI_2"]}
	capt = captureGARPs(t, ns, []string{"veth1", "veth3"}, 1600*time.Millisecond)
	update(s, &config.Config{VRRP: vs, GARPGroups: []config.GARPGroup{{Interval: gap, Interfaces: []string{"veth0", "veth2"}}}})
	for n, r := range before {
		if s.runs[n] != r {
			t.Fatalf("the reload adding a garp_group restarted %s", n)
		}
	}
	got = <-capt
	if len(got) < 8 {
		t.Fatalf("garp_group: %d gratuitous ARPs in the refresh bursts, want at least 8: %v", len(got), got)
	}
	if g := smallestGap(got); g < gap-15*time.Millisecond {
		t.Errorf("garp_group: two gratuitous ARPs %v apart across veth0 and veth2, want at least %v", g, gap)
	}
	s.stopAll(false)
}
