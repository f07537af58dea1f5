package vrrp

import (
	"context"
	"github.com/xlb-project/xlb/internal/nstest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/vip"
)

// *vip.Owner is the production VIPOwner.
var _ VIPOwner = (*vip.Owner)(nil)

// node is one director in a namespace: a vip.Owner plus a running Instance.
type node struct {
	t      *testing.T
	ns     *nstest.NS
	nl     *netlink.Handle
	owner  *vip.Owner
	inst   *Instance
	cancel context.CancelFunc
	done   chan error
}

func newNode(t *testing.T, ns *nstest.NS) *node {
	t.Helper()
	n := &node{t: t, ns: ns}
	var err error
	n.nl, err = netlink.NewHandleAt(ns.H)
	if err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() error {
		n.owner, err = vip.New("veth0", testLogger().With("ns", ns.Name))
		return err
	})
	t.Cleanup(func() {
		n.stop()
		n.owner.ReleaseAll()
		n.owner.Close()
		n.nl.Close()
	})
	return n
}

// start builds the instance inside the namespace (so its socket lives
// there) and runs it on an ordinary goroutine.
func (n *node) start(cfg config.VRRPInstance, opts ...Option) {
	n.t.Helper()
	n.ns.Do(n.t, func() error {
		var err error
		n.inst, err = NewInstance(cfg, n.owner, testLogger().With("ns", n.ns.Name), append([]Option{WithLinkPollInterval(50 * time.Millisecond)}, opts...)...)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan error, 1)
	go func(inst *Instance) { n.done <- inst.Run(ctx) }(n.inst)
}

// stop ends Run; abrupt simulates SIGKILL (no priority 0, VIPs left).
func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		n.t.Errorf("Run did not return")
	}
	n.cancel = nil
}

// kill stops the node like SIGKILL and returns when the kill happened
// (Run may take a little longer to return while its reader notices).
func (n *node) kill() time.Time {
	n.inst.mu.Lock()
	n.inst.abrupt = true
	n.inst.mu.Unlock()
	at := time.Now()
	n.stop()
	return at
}

func (n *node) hasVIP(a netip.Addr) bool {
	link, err := n.nl.LinkByName("veth0")
	if err != nil {
		n.t.Fatal(err)
	}
	as, err := n.nl.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		n.t.Fatal(err)
	}
	return slices.ContainsFunc(as, func(x netlink.Addr) bool { return x.IP.Equal(a.AsSlice()) })
}

// waitVIP polls (every 2 ms, bounded by d) until the node holds the VIP
// and returns how long that took.
func (n *node) waitVIP(a netip.Addr, want bool, d time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if n.hasVIP(a) == want {
			return time.Since(start), true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start), false
}

func pairCfg(name string, prio, version int, adv time.Duration) config.VRRPInstance {
	c := config.VRRPInstance{
		Name: name, State: "BACKUP", Interface: "veth0", VirtualRouterID: 42,
		Priority: prio, AdvertInterval: adv, Version: version, Preempt: true,
		VirtualAddrs: []netip.Addr{netip.MustParseAddr("10.77.0.100")},
	}
	if version == 2 {
		c.AuthType, c.AuthPass = "PASS", "xlbpass"
	}
	return c
}

func setupPair(t *testing.T) (*node, *node) {
	nstest.RequireRoot(t)
	a := nstest.New(t, "vra")
	b := nstest.New(t, "vrb")
	nstest.VethPair(t, a, b, "10.77.0.1/24", "10.77.0.2/24")
	return newNode(t, a), newNode(t, b)
}

func testFailover(t *testing.T, version int, adv time.Duration) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, b := setupPair(t)
	a.start(pairCfg("A", 150, version, adv))
	b.start(pairCfg("B", 100, version, adv))

	// Both start in Backup; A's shorter Master_Down_Interval elects it.
	if d, ok := a.waitVIP(vipAddr, true, 3*a.inst.MasterDownInterval()); !ok {
		t.Fatalf("A never became master (waited %v)", d)
	} else {
		t.Logf("initial election: A master after %v", d)
	}
	time.Sleep(3 * adv) // let B hear several adverts
	if b.inst.State() != StateBackup || b.hasVIP(vipAddr) {
		t.Fatalf("B state %v, holds VIP %v; want backup without VIP", b.inst.State(), b.hasVIP(vipAddr))
	}

	// SIGKILL-like death of A: no priority 0.
	mdi := b.inst.MasterDownInterval()
	killed := a.kill()
	if _, ok := b.waitVIP(vipAddr, true, mdi+2*adv+time.Second); !ok {
		t.Fatalf("B did not take the VIP within %v", time.Since(killed))
	}
	d := time.Since(killed)
	t.Logf("v%d advert %v: B took over %v after A was killed (Master_Down_Interval %v)", version, adv, d, mdi)
	// The kill lands somewhere in A's advert period, so the takeover is
	// between MDI-adv and MDI after it. Early is a bug; late is allowed
	// some scheduling slack because test machines can be heavily loaded.
	if d < mdi-adv-20*time.Millisecond || d > mdi+150*time.Millisecond+adv/2 {
		t.Errorf("takeover after %v, want within [%v, %v]", d, mdi-adv, mdi)
	}
	if b.inst.State() != StateMaster {
		t.Fatalf("B state %v", b.inst.State())
	}
	st := b.inst.Stats()
	if st.AdvertsReceived == 0 || st.BecameMaster != 1 {
		t.Errorf("B stats %+v", st)
	}
	if len(st.Invalid) != 0 {
		t.Errorf("B counted invalid packets: %v", st.Invalid)
	}
}

func TestNetnsFailoverV2(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~8 s")
	}
	testFailover(t, 2, time.Second)
}

func TestNetnsFailoverV3Fast(t *testing.T) {
	testFailover(t, 3, 100*time.Millisecond)
}

// Graceful stop (priority 0) hands over after Skew_Time, and the
// higher-priority node preempts back when it returns.
func TestNetnsGracefulAndPreemptBack(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	a.start(pairCfg("A", 150, 3, adv))
	b.start(pairCfg("B", 100, 3, adv))
	if _, ok := a.waitVIP(vipAddr, true, 2*time.Second); !ok {
		t.Fatal("A never became master")
	}
	time.Sleep(3 * adv)

	var mu sync.Mutex
	var trans [][2]State
	b.inst.OnTransition(func(from, to State) {
		mu.Lock()
		trans = append(trans, [2]State{from, to})
		mu.Unlock()
	})
	start := time.Now()
	a.stop() // graceful: priority 0 and release
	if a.hasVIP(vipAddr) {
		t.Fatal("A kept the VIP after a graceful stop")
	}
	d, ok := b.waitVIP(vipAddr, true, time.Second)
	if !ok {
		t.Fatal("B did not take over after priority 0")
	}
	d = time.Since(start)
	skew := b.inst.SkewTime()
	t.Logf("graceful handover took %v (Skew_Time %v)", d, skew)
	if d > skew+2*adv {
		t.Errorf("handover after priority 0 took %v, want about Skew_Time %v", d, skew)
	}
	if b.inst.Stats().PriorityZeroReceived != 1 {
		t.Errorf("B stats %+v", b.inst.Stats())
	}

	// A comes back with higher priority and preempts.
	a.start(pairCfg("A", 150, 3, adv))
	if d, ok := a.waitVIP(vipAddr, true, 2*time.Second); !ok {
		t.Fatal("A did not preempt")
	} else {
		t.Logf("A preempted back after %v", d)
	}
	if _, ok := b.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatal("B kept the VIP after A preempted")
	}
	// Transition hooks run after the instance released the VIP (outside
	// its lock): wait for the second one rather than race it.
	want := [][2]State{{StateBackup, StateMaster}, {StateMaster, StateBackup}}
	var got [][2]State
	for end := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got = slices.Clone(trans)
		mu.Unlock()
		if len(got) >= len(want) || time.Now().After(end) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("B transitions %v, want %v", got, want)
	}
}

// A tracked interface going down puts the master in Fault (VIPs released,
// priority 0 sent) and the backup takes over; when it comes back the node
// rejoins the election and preempts. (The VRRP veth itself is not used:
// downing one end drops the peer's carrier and faults both nodes.)
func TestNetnsFaultOnTrackedInterface(t *testing.T) { netnsTrackedInterface(t, 0) }

// With a weight the interface moves the priority instead: 150-60 is below
// the backup's 100, which preempts; the node stays in Backup, not Fault,
// and takes the VIP back when the interface returns.
func TestNetnsWeightedTrackedInterface(t *testing.T) { netnsTrackedInterface(t, -60) }

func netnsTrackedInterface(t *testing.T, weight int) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	// A veth pair inside A's namespace stands in for an uplink (the dummy
	// driver may be unavailable); downing trk1 drops trk0's carrier.
	if err := a.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "trk0"}, PeerName: "trk1"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"trk0", "trk1"} {
		l, err := a.nl.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.nl.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	trk, err := a.nl.LinkByName("trk1")
	if err != nil {
		t.Fatal(err)
	}
	cfgA := pairCfg("A", 150, 3, adv)
	cfgA.TrackInterfaces = []config.TrackInterface{{Name: "trk0", Weight: weight}}
	a.start(cfgA)
	b.start(pairCfg("B", 100, 3, adv))
	if _, ok := a.waitVIP(vipAddr, true, 2*time.Second); !ok {
		t.Fatal("A never became master")
	}
	time.Sleep(3 * adv)
	if err := a.nl.LinkSetDown(trk); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.waitVIP(vipAddr, false, 2*time.Second); !ok {
		t.Fatal("A kept the VIP with its tracked interface down")
	}
	if want := map[bool]State{true: StateFault, false: StateBackup}[weight == 0]; a.inst.State() != want {
		t.Fatalf("A state %v, want %v", a.inst.State(), want)
	}
	if d, ok := b.waitVIP(vipAddr, true, 2*time.Second); !ok {
		t.Fatal("B did not take over")
	} else {
		t.Logf("B took over %v after A released (weight %d)", d, weight)
	}
	if err := a.nl.LinkSetUp(trk); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("A did not return to master (state %v)", a.inst.State())
	}
	if _, ok := b.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatal("B kept the VIP")
	}
}

// VRRPv3 over IPv6 (ff02::12, from the link-local address): the backup
// takes the IPv6 VIP when the master dies, and a returning master with the
// higher priority preempts.
func TestNetnsFailoverIPv6(t *testing.T) {
	vipAddr := netip.MustParseAddr("fd00:77::100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	cfg := func(name string, prio int) config.VRRPInstance {
		c := pairCfg(name, prio, 3, adv)
		c.VirtualAddrs = []netip.Addr{vipAddr}
		return c
	}
	a.start(cfg("A", 150))
	b.start(cfg("B", 100))
	if d, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("A never became master (waited %v)", d)
	}
	time.Sleep(3 * adv)
	if b.inst.State() != StateBackup || b.hasVIP(vipAddr) {
		t.Fatalf("B state %v, holds the VIP %v: it does not hear A's IPv6 adverts", b.inst.State(), b.hasVIP(vipAddr))
	}
	if st := b.inst.Stats(); st.AdvertsReceived == 0 || len(st.Invalid) != 0 {
		t.Fatalf("B stats %+v", st)
	}
	killed := a.kill()
	if _, ok := b.waitVIP(vipAddr, true, b.inst.MasterDownInterval()+time.Second); !ok {
		t.Fatal("B did not take the IPv6 VIP")
	}
	t.Logf("B took the IPv6 VIP %v after A was killed", time.Since(killed))
	a.owner.ReleaseAll()
	a.start(cfg("A", 150))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A did not preempt")
	}
	if _, ok := b.waitVIP(vipAddr, false, time.Second); !ok {
		t.Fatal("B kept the VIP")
	}
}
