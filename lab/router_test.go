package lab

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// Router mode: the client reaches the segment only through the router, bird
// runs there with a (passive) session per director, the router hashes by
// layer 4, and everything is gone after Close.
func TestRouterLab(t *testing.T) {
	if err := CheckRouterTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	l := newTestLab(t, Options{Router: true, Directors: 2, BigFileBytes: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if l.Client().IP != netip.MustParseAddr(ClientIP) || l.Router().IP != netip.MustParseAddr(RouterIP) {
		t.Fatalf("client %v router %v", l.Client().IP, l.Router().IP)
	}
	// Real servers answer the client across the router (their replies take
	// the default route back through it).
	for _, h := range l.RealServers() {
		got, err := l.Curl(ctx, "http://"+h.IP.String()+"/")
		if err != nil || got != h.Name+"\n" {
			t.Fatalf("curl %s through the router: %q %v", h.Name, got, err)
		}
	}
	out, err := l.BirdC(ctx, "show", "protocols")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range l.Directors() {
		if !strings.Contains(string(out), d.Name) {
			t.Errorf("bird has no session for %s:\n%s", d.Name, out)
		}
	}
	pol, err := l.Exec(ctx, l.Router(), "sysctl", "-n", "net.ipv4.fib_multipath_hash_policy")
	if err != nil || strings.TrimSpace(string(pol)) != "1" {
		t.Errorf("multipath hash policy %q %v, want 1", pol, err)
	}
	// No director announces yet: no route to the VIP.
	if gws, err := l.RouteNextHops(ctx, l.VIP()); err != nil || len(gws) != 0 {
		t.Errorf("route to the VIP before any announcement: %v %v", gws, err)
	}

	ns := l.Router().NS
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
		t.Errorf("router namespace %s left behind: %v", ns, err)
	}
}
