package iproute

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/xlb-project/xlb/internal/nstest"
)

// ipShow is what `ip` shows in ns: addresses of veth0, every table's
// routes and the rules.
func ipShow(t *testing.T, ns *nstest.NS) string {
	t.Helper()
	var out []string
	for _, args := range [][]string{{"-4", "addr", "show", "dev", "veth0"}, {"route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"}, {"rule"}, {"-6", "rule"}} {
		b, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, b)
		}
		out = append(out, string(b))
	}
	return strings.Join(out, "")
}

func mustEntries(t *testing.T, addrs, routes, rules []string) Entries {
	t.Helper()
	var e Entries
	for _, l := range addrs {
		a, err := ParseAddr(l)
		if err != nil {
			t.Fatal(err)
		}
		e.Addrs = append(e.Addrs, a)
	}
	for _, l := range routes {
		r, err := ParseRoute(l)
		if err != nil {
			t.Fatal(err)
		}
		e.Routes = append(e.Routes, r)
	}
	for _, l := range rules {
		r, err := ParseRule(l)
		if err != nil {
			t.Fatal(err)
		}
		e.Rules = append(e.Rules, r)
	}
	return e
}

// A Set adds its addresses, routes (one with src on its own address) and
// rules, applies an Update's difference and removes all at Release, from
// whichever thread, in the namespace it was made in.
func TestNetnsSet(t *testing.T) {
	nstest.RequireRoot(t)
	a := nstest.New(t, "iproute-a")
	b := nstest.New(t, "iproute-b")
	nstest.VethPair(t, a, b, "10.79.0.1/24", "10.79.0.2/24")
	e := mustEntries(t,
		[]string{"192.0.2.50/24 dev veth0 label veth0:st"},
		[]string{"src 192.0.2.50 198.51.100.0/24 via 10.79.0.2 dev veth0 metric 7", "blackhole 203.0.113.0/24 table 100", "198.51.101.0/24 dev veth0"},
		[]string{"from 192.0.2.0/24 table 100 priority 200", "fwmark 0x10/0xff lookup 100"})
	var s *Set
	a.Do(t, func() error {
		var err error
		s, err = New(e, nil)
		return err
	})
	defer s.Close()
	if err := s.Acquire(); err != nil {
		t.Fatal(err)
	}
	got := ipShow(t, a)
	for _, want := range []string{
		"inet 192.0.2.50/24 brd 192.0.2.255 scope global veth0:st",
		"198.51.100.0/24 via 10.79.0.2 dev veth0 proto keepalived src 192.0.2.50 metric 7",
		"blackhole 203.0.113.0/24 table 100 proto keepalived",
		"198.51.101.0/24 dev veth0 proto keepalived scope link",
		"200:\tfrom 192.0.2.0/24 lookup 100 proto keepalived",
		"16384:\tfrom all fwmark 0x10/0xff lookup 100 proto keepalived",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("after Acquire, no %q in\n%s", want, got)
		}
	}
	// Acquire again adds nothing twice (and fails on nothing).
	if err := s.Acquire(); err != nil {
		t.Fatal(err)
	}
	e2 := mustEntries(t,
		[]string{"192.0.2.50/24 dev veth0 label veth0:st"},
		[]string{"src 192.0.2.50 198.51.100.0/24 via 10.79.0.2 dev veth0 metric 7", "198.51.102.0/24 via 10.79.0.2"},
		nil)
	if err := s.Update(e2); err != nil {
		t.Fatal(err)
	}
	got = ipShow(t, a)
	for _, want := range []string{"198.51.100.0/24 via 10.79.0.2", "198.51.102.0/24 via 10.79.0.2 dev veth0 proto keepalived"} {
		if !strings.Contains(got, want) {
			t.Errorf("after Update, no %q in\n%s", want, got)
		}
	}
	for _, gone := range []string{"203.0.113.0", "198.51.101.0", "lookup 100"} {
		if strings.Contains(got, gone) {
			t.Errorf("after Update, %q still in\n%s", gone, got)
		}
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	got = ipShow(t, a)
	for _, gone := range []string{"192.0.2.50", "198.51.10", "keepalived"} {
		if strings.Contains(got, gone) {
			t.Errorf("after Release, %q still in\n%s", gone, got)
		}
	}
	// Released, an Update changes only what the next Acquire adds.
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	if got := ipShow(t, a); strings.Contains(got, "keepalived") {
		t.Errorf("Update of a released set added:\n%s", got)
	}
}

// Purge removes the routes and rules of the set a killed run left.
func TestNetnsSetPurge(t *testing.T) {
	nstest.RequireRoot(t)
	a := nstest.New(t, "iproute-p")
	b := nstest.New(t, "iproute-q")
	nstest.VethPair(t, a, b, "10.79.1.1/24", "10.79.1.2/24")
	e := mustEntries(t, nil, []string{"198.51.100.0/24 via 10.79.1.2"}, []string{"to 198.51.100.0/24 table 100 priority 300"})
	var old, s *Set
	a.Do(t, func() error {
		var err error
		if old, err = New(e, nil); err != nil {
			return err
		}
		s, err = New(e, nil)
		return err
	})
	defer old.Close()
	defer s.Close()
	if err := old.Acquire(); err != nil {
		t.Fatal(err)
	}
	s.Purge()
	if got := ipShow(t, a); strings.Contains(got, "198.51.100.0/24") {
		t.Errorf("after Purge:\n%s", got)
	}
}
