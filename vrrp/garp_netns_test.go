package vrrp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
	"github.com/xlb-project/xlb/vip"
	"golang.org/x/sys/unix"
)

// garpsOn collects the times of gratuitous ARPs for a (sender = target =
// a) seen on ifindex in ns during d, with a raw packet socket.
func garpsOn(t *testing.T, ns *nstest.NS, ifindex int, a netip.Addr, d time.Duration) <-chan []time.Time {
	t.Helper()
	fd := nstest.PacketSocket(t, ns, ifindex, unix.ETH_P_ARP)
	out := make(chan []time.Time, 1)
	go func() {
		defer unix.Close(fd)
		var got []time.Time
		buf := make([]byte, 1500)
		ip := a.As4()
		for end := time.Now().Add(d); time.Now().Before(end); {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 28 || buf[7] != 1 { // ARP request
				continue
			}
			if string(buf[14:18]) == string(ip[:]) && string(buf[24:28]) == string(ip[:]) {
				got = append(got, time.Now())
			}
		}
		out <- got
	}()
	return out
}

// On the wire, a backup that takes over sends garp_master_repeat
// gratuitous ARPs at once and as many again garp_master_delay later, set up
// as the director sets up its vip.Owner.
func TestNetnsGARPAfterTakeover(t *testing.T) {
	nstest.RequireRoot(t)
	dir := nstest.NewWithPrefix(t, "garp-dir")
	obs := nstest.NewWithPrefix(t, "garp-obs")
	nstest.VethPair(t, dir, obs, "10.78.0.1/24", "10.78.0.2/24")
	vipAddr := netip.MustParseAddr("10.78.0.100")
	g := config.GARP{MasterDelay: time.Second, MasterRepeat: 2, MasterRefreshRepeat: 1}
	cfg := config.VRRPInstance{
		Name: "G", State: "BACKUP", Interface: "veth0", VirtualRouterID: 43, Priority: 100,
		AdvertInterval: 100 * time.Millisecond, Version: 3, Preempt: true,
		VirtualAddrs: []netip.Addr{vipAddr}, GARP: g,
	}
	var owner *vip.Owner
	var inst *Instance
	dir.Do(t, func() error {
		var err error
		if owner, err = vip.New("veth0", testLogger(), vip.WithAnnounce(g.MasterRepeat, 0), vip.WithPacketIntervals(g.Interval, g.NAInterval)); err != nil {
			return err
		}
		inst, err = NewInstance(cfg, owner, testLogger(), WithLinkPollInterval(50*time.Millisecond))
		return err
	})
	defer owner.Close()
	defer owner.ReleaseAll()
	capt := garpsOn(t, obs, nstest.IfaceIn(t, obs, "veth0").Index, vipAddr, 2500*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	got := <-capt
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if inst.Stats().BecameMaster != 1 {
		t.Fatalf("stats %+v: never became master", inst.Stats())
	}
	if len(got) != 4 {
		t.Fatalf("saw %d gratuitous ARPs, want 2 at the takeover and 2 a second later: %v", len(got), got)
	}
	if d := got[1].Sub(got[0]); d > 50*time.Millisecond {
		t.Errorf("first burst spread over %v, want at once", d)
	}
	if d := got[3].Sub(got[2]); d > 50*time.Millisecond {
		t.Errorf("second burst spread over %v, want at once", d)
	}
	if d := got[2].Sub(got[0]); d < 950*time.Millisecond || d > 1300*time.Millisecond {
		t.Errorf("second burst %v after the first, want garp_master_delay 1s", d)
	}
}
