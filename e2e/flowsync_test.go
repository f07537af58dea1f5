package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/lab"
)

// Flow sharing (the IPVS sync daemon's job) across a VRRP failover, for
// both families: downloads scheduled by rr on the master keep their real
// server on the backup after the master is SIGKILLed, because the backup
// learnt every flow from it; rr on its own would place half of them
// elsewhere (and reset them).
func TestFlowSharingKeepsDownloadsAcrossFailover(t *testing.T) {
	for _, family := range []string{"ipv4", "ipv6"} {
		t.Run(family, func(t *testing.T) { flowSharingFailover(t, family == "ipv6") })
	}
}

func flowSharingFailover(t *testing.T, v6 bool) {
	l := newLab(t, lab.Options{Directors: 2, BigFileBytes: 6 << 20, BigRate: "1m"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	vip, url := l.VIP().String(), "http://"+l.VIP().String()+"/big"
	rsAddr := func(h lab.Host) string { return h.IP.String() }
	if v6 {
		vip, url, rsAddr = vip6, "http://["+vip6+"]/big", v6addr
		addIPv6(ctx, t, l)
	}
	key := filepath.Join(l.Dir(), "sync.key")
	if err := os.WriteFile(key, []byte("a shared secret of the two directors"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := l.RealServers()
	cfg := func(state string, prio int) string {
		return fmt.Sprintf(`services:
  - vip: %s
    port: 80
    protocol: tcp
    scheduler: rr
    real_servers:
      - {address: %s, port: 80}
      - {address: %s, port: 80}
vrrp:
  - name: VI_1
    state: %s
    interface: eth0
    virtual_router_id: 51
    priority: %d
    version: 3
    advert_int: 0.2
    virtual_ipaddress: [%s]
`, vip, rsAddr(rs[0]), rsAddr(rs[1]), state, prio, vip)
	}
	dirs := l.Directors()
	start := func(i int, c string) *os.Process {
		path := writeCfg(t, l, fmt.Sprintf("dir%d.yaml", i+1), c)
		cmd, err := l.Start(dirs[i], xlbBin(), "run", "--iface", "eth0", "--config", path, "--pin-dir", pinDir(l, i),
			"--sync-listen", dirs[i].IP.String()+":8848", "--sync-peer", dirs[1-i].IP.String()+":8848", "--sync-key-file", key)
		if err != nil {
			t.Fatal(err)
		}
		return cmd.Process
	}
	master := start(0, cfg("MASTER", 150))
	start(1, cfg("BACKUP", 100))
	// The master answers through the VIP.
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, cc := context.WithTimeout(ctx, 3*time.Second)
		_, err := l.Curl(c, strings.TrimSuffix(url, "big"), "-g", "--max-time", "2")
		cc()
		if err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("VIP %s never answered: %v", vip, err)
		}
	}
	// The backup takes shared flows only for real servers it can send to:
	// wait until it has resolved both (IPv6 neighbour discovery may take
	// it a second longer than the master).
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := l.Exec(ctx, dirs[1], xlbBin(), "list")
		if err != nil {
			t.Fatalf("xlb list on the backup: %v", err)
		}
		if rows := parseList(t, string(out)); len(rows) == 2 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the backup never listed both real servers:\n%s", out)
		}
	}
	var dls []*download
	for i := range 4 {
		dls = append(dls, startDownloadFrom(t, l, fmt.Sprintf("dl%d", i), url))
	}
	// The backup holds the downloads' flows, learnt from the master.
	want := 4
	var conns string
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := l.Exec(ctx, dirs[1], xlbBin(), "conns")
		if err != nil {
			t.Fatalf("xlb conns on the backup: %v", err)
		}
		conns = string(out)
		if n := strings.Count(conns, "ESTABLISHED"); n >= want {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the backup learnt fewer than %d established flows from the master:\n%s", want, conns)
		}
	}
	time.Sleep(time.Second)
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	for i, d := range dls {
		if err := d.wait(); err != nil {
			t.Fatalf("download %d across the failover: %v\nthe backup's flows before it:\n%s", i+1, err, conns)
		}
	}
}
