package control

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/director"
	"github.com/xlb-project/xlb/health"
	"github.com/xlb-project/xlb/maps"
)

func TestBuildServicesJoinsConfigAndHealth(t *testing.T) {
	cfg := labConfig(t)
	s := &cfg.Services[0]
	s.RealServers[0].Check = &config.Check{Type: config.TCPCheck}
	s.RealServers = append(s.RealServers, config.RealServer{Address: netip.MustParseAddr("192.168.101.4"), Port: 80, Weight: 1})
	key := maps.Key{VIP: s.VIP, Port: 80, Proto: 6}
	list := []maps.ServiceState{{
		Key: key, Scheduler: maps.WLC, PersistSec: 50,
		Backends: []maps.BackendState{
			{Slot: 0, Addr: ap("192.168.101.3:80"), Weight: 3, Available: true, Configured: true,
				Counters: maps.BackendCounters{Packets: 10, Bytes: 1000, Conns: 2, Active: 1, Inactive: 1}},
			{Slot: 1, Addr: ap("192.168.101.4:80"), Weight: 1, Available: true, Configured: true},
			// Removed from the configuration, still carrying a flow.
			{Slot: 2, Addr: ap("192.168.101.5:80"), Weight: 1, Configured: false, Counters: maps.BackendCounters{Active: 1}},
		},
	}}
	hs := map[string]health.Status{
		director.TargetKey(*s, s.RealServers[0]): {Up: true, LastLatency: 1500 * time.Microsecond, Checks: 4, Failures: 1, LastErr: ""},
	}
	got := BuildServices(cfg, list, hs, SlotExtras{})
	if len(got) != 1 {
		t.Fatalf("services: %+v", got)
	}
	svc := got[0]
	if svc.Key != "tcp/192.168.101.100:80" || svc.Name != "192.168.101.100:80/tcp" || svc.Scheduler != "wlc" ||
		svc.PersistenceSeconds != 50 || svc.Forward != "Route" || svc.Protocol != "tcp" {
		t.Errorf("service: %+v", svc)
	}
	rs := svc.RealServers
	if len(rs) != 3 {
		t.Fatalf("real servers: %+v", rs)
	}
	if h := rs[0].Health; h == nil || !h.Up || h.Checks != 4 || h.Failures != 1 || h.LatencySeconds != 0.0015 {
		t.Errorf("checked real server health: %+v", h)
	}
	if rs[0].Packets != 10 || rs[0].Bytes != 1000 || rs[0].Conns != 2 || rs[0].ActiveConns != 1 || rs[0].InactiveConns != 1 {
		t.Errorf("counters: %+v", rs[0])
	}
	if rs[1].Health != nil {
		t.Errorf("unchecked real server has health %+v", rs[1].Health)
	}
	if rs[2].Health != nil || RealServerState(rs[2]) != "draining" {
		t.Errorf("removed real server: %+v", rs[2])
	}
	for _, r := range rs {
		if r.Sorry {
			t.Errorf("%s marked as the sorry server; the service has none", r.Addr)
		}
	}

	// The sorry server is told apart from the real servers.
	s.SorryServer = &config.SorryServer{Address: netip.MustParseAddr("192.168.101.5"), Port: 80}
	list[0].Backends[2].Configured = true
	rs = BuildServices(cfg, list, hs, SlotExtras{})[0].RealServers
	if !rs[2].Sorry || rs[0].Sorry || rs[1].Sorry || rs[2].Health != nil {
		t.Errorf("with sorry_server 192.168.101.5:80: %+v", rs)
	}
}

func TestBuildConnsStatesAndExpiry(t *testing.T) {
	cfg := labConfig(t)
	list := []maps.ServiceState{{
		Key:      maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Proto: 6},
		Backends: []maps.BackendState{{Slot: 7, Addr: ap("192.168.101.3:80")}},
	}}
	flows := []maps.Conn{
		{Proto: 6, Client: ap("10.0.0.5:1000"), VIP: ap("192.168.101.100:80"), Backend: 7, Expires: 800*time.Second + 400*time.Millisecond},
		{Proto: 6, Client: ap("10.0.0.5:1001"), VIP: ap("192.168.101.100:80"), Backend: 7, Fin: true, Expires: 20 * time.Second},
		// A service gone from the configuration: an already freed slot
		// shows no destination.
		{Proto: 17, Client: ap("10.0.0.5:1002"), VIP: ap("192.168.101.100:53"), Backend: 9, Expires: 0},
	}
	got := BuildConns(cfg, list, flows)
	want := []Conn{
		{Protocol: "tcp", ExpireSeconds: 800, State: "ESTABLISHED", Source: ap("10.0.0.5:1000"), Virtual: ap("192.168.101.100:80"), Destination: ap("192.168.101.3:80")},
		{Protocol: "tcp", ExpireSeconds: 20, State: "FIN_WAIT", Source: ap("10.0.0.5:1001"), Virtual: ap("192.168.101.100:80"), Destination: ap("192.168.101.3:80")},
		{Protocol: "udp", ExpireSeconds: 0, State: "UDP", Source: ap("10.0.0.5:1002"), Virtual: ap("192.168.101.100:53")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("conn %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Persistence templates read as ipvsadm -Lnc's: NONE, port 0, the time left
// in the window; expired ones, and those of services gone or without
// persistence, are not shown.
func TestBuildTemplates(t *testing.T) {
	list := []maps.ServiceState{
		{ID: 3, Key: maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Proto: 6}, PersistSec: 60,
			Backends: []maps.BackendState{{Slot: 7, Addr: ap("192.168.101.3:80")}}},
		{ID: 4, Key: maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 53, Proto: 17},
			Backends: []maps.BackendState{{Slot: 8, Addr: ap("192.168.101.4:53")}}},
	}
	client := netip.MustParseAddr("10.0.0.0")
	got := BuildTemplates(list, []maps.Template{
		{SvcID: 3, Client: client, Backend: 7, Idle: 10*time.Second + 300*time.Millisecond},
		{SvcID: 3, Client: netip.MustParseAddr("10.0.1.0"), Backend: 7, Idle: 61 * time.Second}, // expired
		{SvcID: 4, Client: client, Backend: 8},                                                  // no persistence
		{SvcID: 9, Client: client, Backend: 7},                                                  // service gone
	})
	want := []Conn{{Protocol: "tcp", ExpireSeconds: 49, State: "NONE", Source: ap("10.0.0.0:0"),
		Virtual: ap("192.168.101.100:80"), Destination: ap("192.168.101.3:80")}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// The director's per-slot extras land on their real servers: templates
// as PersistConn, and the counters less the baseline of `xlb zero` as
// counters_since_zero, while the totals stay the datapath's. A baseline
// of another real server (its slot freed and reused) does not apply.
func TestBuildServicesPersistConnsAndBaselines(t *testing.T) {
	cfg := labConfig(t)
	key := maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Proto: 6}
	list := []maps.ServiceState{{
		Key: key, Scheduler: maps.WLC, PersistSec: 50,
		Backends: []maps.BackendState{
			{Slot: 0, Addr: ap("192.168.101.3:80"), Configured: true, Counters: maps.BackendCounters{Conns: 10, Packets: 100, Bytes: 9000}},
			{Slot: 1, Addr: ap("192.168.101.4:80"), Configured: true, Counters: maps.BackendCounters{Conns: 4, Packets: 40, Bytes: 4000}},
			{Slot: 2, Addr: ap("192.168.101.5:80"), Configured: true, Counters: maps.BackendCounters{Conns: 1, Packets: 1, Bytes: 60}},
		},
	}}
	ex := SlotExtras{
		PersistConns: map[uint32]int{0: 3, 1: 1, 7: 9},
		Baselines: map[uint32]director.Baseline{
			0: {Service: key, Addr: ap("192.168.101.3:80"), Conns: 8, Packets: 90, Bytes: 8000},
			1: {Service: key, Addr: ap("192.168.101.4:80"), Conns: 4, Packets: 40, Bytes: 4000},
			2: {Service: key, Addr: ap("192.168.101.9:80"), Conns: 1, Packets: 1, Bytes: 60},
		},
	}
	rs := BuildServices(cfg, list, nil, ex)[0].RealServers
	want := []struct {
		persist int64
		since   Counters
	}{
		{3, Counters{Conns: 2, Packets: 10, Bytes: 1000}},
		{1, Counters{}},
		{0, Counters{Conns: 1, Packets: 1, Bytes: 60}},
	}
	for i, w := range want {
		if rs[i].PersistConns != w.persist || rs[i].SinceZero == nil || *rs[i].SinceZero != w.since {
			t.Errorf("%s: PersistConns %d, since zero %+v; want %d, %+v", rs[i].Addr, rs[i].PersistConns, rs[i].SinceZero, w.persist, w.since)
		}
		if rs[i].Conns != list[0].Backends[i].Counters.Conns || rs[i].Packets != list[0].Backends[i].Counters.Packets {
			t.Errorf("%s: totals %d/%d changed by the baseline", rs[i].Addr, rs[i].Conns, rs[i].Packets)
		}
	}
	j, err := json.Marshal(rs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"persistent_conns":3`, `"conns_total":10`, `"counters_since_zero":{"conns":2,"packets":10,"bytes":1000}`} {
		if !strings.Contains(string(j), field) {
			t.Errorf("json %s lacks %s", j, field)
		}
	}
}

// A service whose quorum is lost marks its real servers, so that `xlb
// status` says why a healthy one takes no flows (not "unresolved").
func TestBuildServicesNoQuorum(t *testing.T) {
	cfg := labConfig(t)
	key := maps.Key{VIP: netip.MustParseAddr("192.168.101.100"), Port: 80, Proto: 6}
	list := []maps.ServiceState{{Key: key, Backends: []maps.BackendState{{Slot: 0, Addr: ap("192.168.101.3:80"), Configured: true}}}}
	hs := map[string]health.Status{}
	for _, lost := range []bool{false, true} {
		rs := BuildServices(cfg, list, hs, SlotExtras{NoQuorum: map[maps.Key]bool{key: lost}})[0].RealServers[0]
		if rs.NoQuorum != lost {
			t.Errorf("quorum lost %v: real server NoQuorum %v", lost, rs.NoQuorum)
		}
	}
}
