package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// addr adds (or, !add, removes) a on n's veth0.
func (n *node) addr(a string, add bool) {
	n.t.Helper()
	link, err := n.nl.LinkByName("veth0")
	if err != nil {
		n.t.Fatal(err)
	}
	x, err := netlink.ParseAddr(a)
	if err != nil {
		n.t.Fatal(err)
	}
	if add {
		err = n.nl.AddrAdd(link, x)
	} else {
		err = n.nl.AddrDel(link, x)
	}
	if err != nil {
		n.t.Fatalf("address %s (add %v): %v", a, add, err)
	}
}

func (n *node) waitState(want State, what string) {
	n.t.Helper()
	waitFor(n.t, what, 5*time.Second, func() bool { return n.inst.State() == want })
}

// The adverts' source follows the interface as keepalived 2.2.7's does
// (checked on a running 2.2.7: its primary address deleted → "Entering
// FAULT STATE", a new one added → "Entering BACKUP STATE" with it as
// src_ip): the address in use removed, the interface's next primary
// address takes over at once (never the VIP the master holds there); the
// last one removed, the instance goes to FAULT and the peer takes over;
// an address added, it comes back, sends from it, and preempts.
func TestNetnsSourceFollowsInterface(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	a.addr("10.88.0.1/24", true)
	a.start(pairCfg("A", 150, 3, adv))
	b.start(pairCfg("B", 100, 3, adv))
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A never became master")
	}
	if got := a.inst.tr.LocalAddr(); got != netip.MustParseAddr("10.77.0.1") {
		t.Fatalf("A sends from %v, want its primary 10.77.0.1", got)
	}

	a.addr("10.77.0.1/24", false)
	waitFor(t, "A's source to move to 10.88.0.1", 2*time.Second, func() bool { return a.inst.tr.LocalAddr() == netip.MustParseAddr("10.88.0.1") })
	time.Sleep(5 * adv)
	if a.inst.State() != StateMaster || b.inst.State() != StateBackup {
		t.Fatalf("after A's source moved: A %v, B %v; want A still master, B hearing it", a.inst.State(), b.inst.State())
	}

	// Only the VIP is left: it is no source.
	a.addr("10.88.0.1/24", false)
	a.waitState(StateFault, "A in FAULT with no address of its own")
	if _, ok := b.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("B did not take over from A in FAULT")
	}
	if a.hasVIP(vipAddr) {
		t.Error("A in FAULT still holds the VIP")
	}

	a.addr("10.77.0.7/24", true)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("A (priority 150) did not come back with its new address: %v", a.inst.State())
	}
	if got := a.inst.tr.LocalAddr(); got != netip.MustParseAddr("10.77.0.7") {
		t.Errorf("A sends from %v, want its new 10.77.0.7", got)
	}
	b.waitState(StateBackup, "B back to backup")
}

// An instance whose interface has no address yet starts in FAULT (it used
// to refuse to start) and runs once one is added, as keepalived does.
func TestNetnsStartWithoutAddress(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, _ := setupPair(t)
	a.addr("10.77.0.1/24", false)
	a.start(pairCfg("A", 150, 3, 100*time.Millisecond))
	a.waitState(StateFault, "A in FAULT without an address")
	time.Sleep(500 * time.Millisecond)
	if a.inst.State() != StateFault || a.hasVIP(vipAddr) {
		t.Fatalf("A without an address: %v, VIP %v", a.inst.State(), a.hasVIP(vipAddr))
	}
	a.addr("10.77.0.1/24", true)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("A did not run once it had an address: %v", a.inst.State())
	}
}

// track_src_ip: the unicast_src_ip leaving the interface puts the
// instance in FAULT (the peer takes over), its return brings it back;
// missing at the start it waits in FAULT instead of refusing to start.
func TestNetnsTrackSrcIP(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.77.0.100")
	adv := 100 * time.Millisecond
	a, b := setupPair(t)
	a.addr("10.77.0.5/24", true)
	cfgA := pairCfg("A", 150, 3, adv)
	cfgA.UnicastSrcIP = netip.MustParseAddr("10.77.0.5")
	cfgA.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.77.0.2")}
	cfgA.TrackSrcIP = true
	cfgB := pairCfg("B", 100, 3, adv)
	cfgB.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.77.0.5")}
	a.start(cfgA)
	b.start(cfgB)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("A never became master")
	}
	time.Sleep(5 * adv)
	if b.inst.State() != StateBackup {
		t.Fatalf("B %v: it does not hear A's unicast adverts from 10.77.0.5", b.inst.State())
	}
	a.addr("10.77.0.5/24", false)
	a.waitState(StateFault, "A in FAULT without its unicast_src_ip")
	if _, ok := b.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatal("B did not take over")
	}
	a.addr("10.77.0.5/24", true)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("A did not come back with its unicast_src_ip: %v", a.inst.State())
	}

	// Missing at the start: FAULT, not an error.
	a.stop()
	a.owner.ReleaseAll()
	a.addr("10.77.0.5/24", false)
	a.start(cfgA)
	a.waitState(StateFault, "A started without its unicast_src_ip")
	a.addr("10.77.0.5/24", true)
	if _, ok := a.waitVIP(vipAddr, true, 3*time.Second); !ok {
		t.Fatalf("A did not run once its unicast_src_ip was added: %v", a.inst.State())
	}
}
