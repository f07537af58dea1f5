package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/internal/nstest"
	"golang.org/x/sys/unix"
)

// listen4 opens an IPv4 VRRP transport on veth0 in ns.
func listen4(t *testing.T, ns *nstest.NS, opts ...ListenOption) *RawTransport {
	t.Helper()
	var tr *RawTransport
	ns.Do(t, func() error {
		var err error
		tr, err = ListenIPv4("veth0", opts...)
		return err
	})
	t.Cleanup(func() { tr.Close() })
	return tr
}

// recvWithin returns the first packet tr receives within d.
func recvWithin(tr Transport, d time.Duration) (Packet, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	p, err := tr.Receive(ctx)
	return p, err == nil
}

// testAdvert is an advert of VRID 42 for 10.77.0.100, as pairCfg's.
func testAdvert(t *testing.T, prio uint8, src, dst netip.Addr) []byte {
	t.Helper()
	a := &Advert{Version: 2, VRID: 42, Priority: prio, AuthType: AuthPass, AuthData: PassAuthData("xlbpass"),
		Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.77.0.100")}}
	b, err := a.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// On the wire: unicast adverts go with WithUnicastTTL's TTL, multicast ones
// still with 255; a transport with WithGroup sends to its group and hears
// it, and one on the default group does not hear that group.
func TestNetnsUnicastTTLAndGroup(t *testing.T) {
	a, b := setupPair(t)
	ipA, ipB := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	ta := listen4(t, a.ns, WithUnicast(netip.Addr{}, []netip.Addr{ipB}), WithUnicastTTL(7))
	tb := listen4(t, b.ns, WithUnicast(netip.Addr{}, []netip.Addr{ipA}))
	if err := ta.SendTo(testAdvert(t, 100, ipA, ipB), ipB); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvWithin(tb, time.Second); !ok || p.TTL != 7 || p.Dst != ipB {
		t.Fatalf("unicast advert: got %+v (received %v), want TTL 7 to %v", p, ok, ipB)
	}
	if err := ta.Send(testAdvert(t, 100, ipA, GroupIPv4())); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvWithin(tb, time.Second); !ok || p.TTL != 255 || p.Dst != GroupIPv4() {
		t.Fatalf("multicast advert: got %+v (received %v), want TTL 255 to 224.0.0.18", p, ok)
	}

	group := netip.MustParseAddr("224.0.0.99")
	ga := listen4(t, a.ns, WithGroup(group))
	gb := listen4(t, b.ns, WithGroup(group))
	plain := listen4(t, b.ns)
	if ga.Group() != group {
		t.Fatalf("Group() = %v, want %v", ga.Group(), group)
	}
	if err := ga.Send(testAdvert(t, 100, ipA, group)); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvWithin(gb, time.Second); !ok || p.Dst != group || p.TTL != 255 {
		t.Fatalf("advert to %v: got %+v (received %v)", group, p, ok)
	}
	if p, ok := recvWithin(plain, 300*time.Millisecond); ok {
		t.Fatalf("the default group's transport heard %+v", p)
	}
	// And the other way round: the group's transport does not hear
	// 224.0.0.18.
	if err := ta.Send(testAdvert(t, 100, ipA, GroupIPv4())); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvWithin(gb, 300*time.Millisecond); ok {
		t.Fatalf("the %v transport heard %+v", group, p)
	}
}

// kernel_rx_buf_size is the socket's SO_RCVBUF (which Linux doubles).
func TestNetnsReceiveBuffer(t *testing.T) {
	a, _ := setupPair(t)
	tr := listen4(t, a.ns, WithReceiveBuffer(65536))
	raw, err := tr.conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	if gerr != nil || got != 2*65536 {
		t.Fatalf("SO_RCVBUF = %d (%v), want %d", got, gerr, 2*65536)
	}
}

// answersWithin sends a priority-prio advert from probe to the group and
// reports whether the master's own advert comes back within d.
func answersWithin(t *testing.T, probe *RawTransport, prio uint8, d time.Duration) bool {
	t.Helper()
	// Wait for a periodic advert first, so the answer cannot be one.
	if _, ok := recvWithin(probe, 3*time.Second); !ok {
		t.Fatal("no advert from the master")
	}
	time.Sleep(100 * time.Millisecond)
	if err := probe.Send(testAdvert(t, prio, probe.LocalAddr(), GroupIPv4())); err != nil {
		t.Fatal(err)
	}
	_, ok := recvWithin(probe, d)
	return ok
}

// keepalived 2.2.7 and xlb masters alike answer a lower-priority advert at
// once, and neither does with lower_prio_no_advert; with
// higher_prio_send_advert both send one advert before yielding.
func TestInteropLowerAndHigherPriorityAdverts(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	for _, c := range []struct {
		option string
		prio   uint8
		answer bool
	}{{"", 50, true}, {"lower_prio_no_advert", 50, false}, {"", 200, false}, {"higher_prio_send_advert", 200, true}} {
		for _, who := range []string{"keepalived", "xlb"} {
			name := fmt.Sprintf("%s %s hearing %d", who, c.option, c.prio)
			a, b := setupPair(t)
			if who == "keepalived" {
				startKeepalivedConf(t, bin, a.ns, "MASTER", fmt.Sprintf(`vrrp_instance VI_1 {
    state MASTER
    interface veth0
    virtual_router_id 42
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass xlbpass
    }
    virtual_ipaddress {
        10.77.0.100/32
    }
    %s
}
`, c.option))
			} else {
				cfg := interopCfg("xlb", 150)
				cfg.LowerPrioNoAdvert = c.option == "lower_prio_no_advert"
				cfg.HigherPrioSendAdvert = c.option == "higher_prio_send_advert"
				a.start(cfg)
			}
			if _, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
				t.Fatalf("%s: never master", name)
			}
			probe := listen4(t, b.ns)
			// An answer comes within milliseconds; the next periodic
			// advert is about 900 ms away.
			if got := answersWithin(t, probe, c.prio, 400*time.Millisecond); got != c.answer {
				t.Errorf("%s: answered at once %v, want %v", name, got, c.answer)
			}
		}
	}
}

// Unicast with a TTL below 255 both ways: keepalived (unicast_ttl 10) and
// xlb (unicast_ttl 20) hear each other's adverts, as routed unicast VRRP
// needs; and keepalived's mcast_dst_ip group is heard by an xlb instance
// on the same group, and not by one on 224.0.0.18.
func TestInteropUnicastTTLAndGroup(t *testing.T) {
	bin := keepalivedBin(t)
	vipAddr := netip.MustParseAddr("10.77.0.100")
	a, b := setupPair(t)
	conf := func(extra string) string {
		return fmt.Sprintf(`vrrp_instance VI_1 {
    state MASTER
    interface veth0
    virtual_router_id 42
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass xlbpass
    }
    virtual_ipaddress {
        10.77.0.100/32
    }
%s
}
`, extra)
	}
	ka := startKeepalivedConf(t, bin, a.ns, "MASTER", conf("    unicast_peer {\n        10.77.0.2\n    }\n    unicast_ttl 10"))
	if _, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
		t.Fatalf("keepalived never master; log:\n%s", ka.out.String())
	}
	cfg := interopCfg("xlb", 100)
	cfg.UnicastPeers, cfg.UnicastTTL = []netip.Addr{netip.MustParseAddr("10.77.0.1")}, 20
	b.start(cfg)
	time.Sleep(3500 * time.Millisecond)
	if st := b.inst.Stats(); b.inst.State() != StateBackup || st.AdvertsReceived < 2 || len(st.Invalid) != 0 {
		t.Fatalf("xlb did not hear keepalived's TTL-10 unicast adverts: state %v, stats %+v", b.inst.State(), st)
	}
	// xlb with priority 200 preempts: keepalived must hear its TTL-20
	// adverts and yield.
	b.stop()
	cfg.Priority = 200
	b.start(cfg)
	if _, ok := a.waitVIP(vipAddr, false, 10*time.Second); !ok {
		t.Fatalf("keepalived did not yield to xlb's TTL-20 unicast adverts; log:\n%s", ka.out.String())
	}
	if c := ka.complaints(); len(c) != 0 {
		t.Errorf("keepalived complained:\n%s", strings.Join(c, "\n"))
	}
	b.stop()
	b.owner.ReleaseAll()
	ka.terminate()

	kg := startKeepalivedConf(t, bin, a.ns, "MASTER", conf("    mcast_dst_ip 224.0.0.99"))
	if _, ok := a.waitVIP(vipAddr, true, 10*time.Second); !ok {
		t.Fatalf("keepalived never master; log:\n%s", kg.out.String())
	}
	on := interopCfg("xlb", 100)
	on.McastDstIP = netip.MustParseAddr("224.0.0.99")
	b.start(on)
	time.Sleep(3500 * time.Millisecond)
	if st := b.inst.Stats(); b.inst.State() != StateBackup || st.AdvertsReceived < 2 || len(st.Invalid) != 0 {
		t.Fatalf("xlb on 224.0.0.99 did not hear keepalived: state %v, stats %+v", b.inst.State(), st)
	}
	b.stop()
	b.start(interopCfg("xlb", 100))
	time.Sleep(2 * time.Second)
	if st := b.inst.Stats(); st.AdvertsReceived != 0 {
		t.Fatalf("xlb on 224.0.0.18 heard keepalived's 224.0.0.99 adverts: %+v", st)
	}
	b.stop()
	b.owner.ReleaseAll()
	kg.terminate()
}
