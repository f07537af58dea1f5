package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// vip6 is the IPv6 VIP of the IPv6 tests.
const vip6 = "2001:db8:101::100"

// v6addr is a lab host's IPv6 address: its IPv4 address's last byte in
// 2001:db8:101::/64.
func v6addr(h lab.Host) string { return "2001:db8:101::" + strings.Split(h.IP.String(), ".")[3] }

// addIPv6 gives every host of the lab its v6addr and the real servers
// vip6 on lo (DR).
func addIPv6(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	hosts := append(append([]lab.Host{l.Client()}, l.Directors()...), l.RealServers()...)
	for _, h := range hosts {
		if out, err := l.Exec(ctx, h, "ip", "-6", "addr", "add", v6addr(h)+"/64", "dev", "eth0", "nodad"); err != nil {
			t.Fatalf("%s: %v %s", h.Name, err, out)
		}
	}
	for _, rs := range l.RealServers() {
		if out, err := l.Exec(ctx, rs, "ip", "-6", "addr", "add", vip6+"/128", "dev", "lo"); err != nil {
			t.Fatalf("%s: %v %s", rs.Name, err, out)
		}
	}
}

// IPv6 client → IPv6 VIP → two IPv6 nginx real servers under rr, DR mode:
// the director resolves the real servers' MACs by neighbour discovery and
// owns the VIP (answers NS for it); real servers hold it on lo.
func TestIPv6RoundRobin(t *testing.T) {
	l := newLab(t, lab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const vip = vip6
	addIPv6(ctx, t, l)
	addr := v6addr
	rs := l.RealServers()
	cfg := fmt.Sprintf(`services:
  - vip: %s
    port: 80
    protocol: tcp
    scheduler: rr
    real_servers:
      - {address: %s, port: 80}
      - {address: %s, port: 80}
`, vip, addr(rs[0]), addr(rs[1]))
	path := writeCfg(t, l, "v6.yaml", cfg)
	if _, err := l.Start(l.Directors()[0], xlbBin(), "run", "--iface", "eth0", "--config", path, "--pin-dir", pinDir(l, 0)); err != nil {
		t.Fatal(err)
	}
	url := "http://[" + vip + "]/"
	var first string
	for end := time.Now().Add(20 * time.Second); ; {
		c, cc := context.WithTimeout(ctx, 3*time.Second)
		out, err := l.Curl(c, url, "-g", "--max-time", "2")
		cc()
		if err == nil {
			first = strings.TrimSpace(out)
			break
		}
		if time.Now().After(end) {
			t.Fatalf("IPv6 VIP never answered: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	n := map[string]int{first: 1}
	for range 19 {
		out, err := l.Curl(ctx, url, "-g")
		if err != nil {
			t.Fatalf("GET over IPv6: %v", err)
		}
		n[strings.TrimSpace(out)]++
	}
	if n["rs1"] != 10 || n["rs2"] != 10 {
		t.Fatalf("20 IPv6 requests under rr gave %v, want 10/10", n)
	}
}
