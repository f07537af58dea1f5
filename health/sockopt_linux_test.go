package health

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/nstest"
)

// bind_if and fwmark reach the checks' sockets: from a namespace whose
// real server is on veth0 and whose fwmark 7 is routed nowhere, a TCP,
// ping and UDP check pass bound to veth0 or unmarked, fail bound to
// another interface or marked, and name a missing interface.
func TestCheckBindIfAndFWMark(t *testing.T) {
	nstest.RequireRoot(t)
	a, b := nstest.New(t, "ckif"), nstest.New(t, "cksrv")
	nstest.VethPair(t, a, b, "10.77.0.1/24", "10.77.0.2/24")
	a.Do(t, func() error {
		// A second interface, with a subnet of its own (a veth pair: the
		// kernel may lack the dummy driver and loads no modules).
		dum := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dum0"}, PeerName: "dum0p"}
		if err := netlink.LinkAdd(dum); err != nil {
			return err
		}
		ad, _ := netlink.ParseAddr("10.88.0.1/24")
		if err := netlink.AddrAdd(dum, ad); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(dum); err != nil {
			return err
		}
		// Marked packets look up table 100, where the server is unreachable.
		rule := netlink.NewRule()
		rule.Mark, rule.Table, rule.Priority = 7, 100, 100
		if err := netlink.RuleAdd(rule); err != nil {
			return err
		}
		_, dst, _ := net.ParseCIDR("10.77.0.0/24")
		return netlink.RouteAdd(&netlink.Route{Dst: dst, Table: 100, Type: 7 /* RTN_UNREACHABLE */})
	})
	var ln net.Listener
	b.Do(t, func() (err error) {
		ln, err = net.Listen("tcp", "10.77.0.2:8080")
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	srv := netip.MustParseAddrPort("10.77.0.2:8080")
	// A fresh veth pair may drop the first SYN while its carrier comes
	// up (one fresh-clone CI run saw it), and TCP retries only after a
	// second, past the probes' 500 ms: wait until a plain connect works.
	a.Do(t, func() error {
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", srv.String(), 300*time.Millisecond)
			if err == nil {
				c.Close()
				return nil
			}
			if time.Now().After(end) {
				return err
			}
		}
	})
	probe := func(ck config.Check) (err error) {
		ck.ConnectTimeout = 500 * time.Millisecond
		a.Do(t, func() error { err = probeOnce(t, Target{Addr: srv, Check: ck}); return nil })
		return err
	}
	for _, typ := range []config.CheckType{config.TCPCheck, config.PingCheck} {
		if err := probe(config.Check{Type: typ}); err != nil {
			t.Fatalf("%s check without options: %v", typ, err)
		}
		if err := probe(config.Check{Type: typ, BindIf: "veth0"}); err != nil {
			t.Errorf("%s check bound to the server's interface: %v", typ, err)
		}
		if err := probe(config.Check{Type: typ, BindIf: "dum0"}); err == nil {
			t.Errorf("%s check bound to dum0 reached the server on veth0", typ)
		}
		if err := probe(config.Check{Type: typ, FWMark: 7}); err == nil {
			t.Errorf("%s check marked 7 reached the server although table 100 makes it unreachable", typ)
		}
		if err := probe(config.Check{Type: typ, FWMark: 8}); err != nil {
			t.Errorf("%s check marked 8 (no rule): %v", typ, err)
		}
		if err := probe(config.Check{Type: typ, BindIf: "nosuch0"}); err == nil || !strings.Contains(err.Error(), "bind_if nosuch0") {
			t.Errorf("%s check bound to a missing interface: %v, want an error naming bind_if nosuch0", typ, err)
		}
	}
	// UDP's own socket options (IP_RECVERR) and these go together.
	if err := probe(config.Check{Type: config.UDPCheck, BindIf: "nosuch0"}); err == nil || !strings.Contains(err.Error(), "bind_if nosuch0") {
		t.Errorf("udp check bound to a missing interface: %v", err)
	}
}
