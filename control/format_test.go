package control

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// testSnapshot is the lab's service with one healthy and one failed real
// server (hidden by default, as keepalived would have removed it from IPVS)
// and a UDP service without checks.
func testSnapshot() *Snapshot {
	return &Snapshot{
		Version: "1.0.0", Iface: "eth1", AttachMode: "native", UptimeSeconds: 3723.4,
		ConnEntries: 7, ConnCapacity: 2359300, ConnTableSize: 1048576,
		Timeouts: TimeoutsSecs{TCP: 900, TCPFin: 120, UDP: 300},
		Services: []Service{
			{
				Key: "tcp/192.168.101.100:80", Protocol: "tcp", VIP: netip.MustParseAddr("192.168.101.100"), Port: 80,
				Scheduler: "wlc", PersistenceSeconds: 50, Forward: "Route",
				RealServers: []RealServer{
					{Addr: ap("192.168.101.3:80"), Weight: 3, Available: true, Configured: true, ActiveConns: 5, InactiveConns: 2,
						Conns: 12, Packets: 340, Bytes: 51234,
						Health: &Health{Up: true, LatencySeconds: 0.0012345, Checks: 10}},
					{Addr: ap("192.168.101.4:80"), Weight: 3, Available: false, Configured: true,
						Conns: 3, Packets: 30, Bytes: 2000,
						Health: &Health{Up: false, LastError: "dial tcp 192.168.101.4:80: connection refused", LatencySeconds: 0.0005, Checks: 10, Failures: 4}},
				},
			},
			{
				Key: "udp/192.168.101.100:53", Protocol: "udp", VIP: netip.MustParseAddr("192.168.101.100"), Port: 53,
				Scheduler: "mh", HashPort: true, Forward: "Route",
				RealServers: []RealServer{
					{Addr: ap("192.168.101.3:53"), Weight: 1, Available: true, Configured: true, Conns: 250_000_000, Packets: 123_456_789_012, Bytes: 9},
				},
			},
		},
		Counters: map[string]uint64{"tx": 370},
	}
}

func check(t *testing.T, got *bytes.Buffer, want string) {
	t.Helper()
	if got.String() != want {
		t.Errorf("output mismatch\n--- got:\n%s\n--- want:\n%s", got, want)
	}
}

func TestFormatList(t *testing.T) {
	var b bytes.Buffer
	FormatList(&b, testSnapshot(), ListOptions{})
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.101.100:80 wlc persistent 50
  -> 192.168.101.3:80             Route   3      5          2         
UDP  192.168.101.100:53 mh mh-port
  -> 192.168.101.3:53             Route   1      0          0         
`)
}

func TestFormatListPersistenceMask(t *testing.T) {
	s := testSnapshot()
	s.Services[0].PersistencePrefix = 24
	var b bytes.Buffer
	FormatList(&b, s, ListOptions{})
	if !strings.Contains(b.String(), "TCP  192.168.101.100:80 wlc persistent 50 mask 255.255.255.0\n") {
		t.Errorf("persistence granularity not listed as ipvsadm does:\n%s", &b)
	}
}

// A full mask is no mask: ipvsadm (and xlb's own --save) leave it out.
func TestFormatListFullPersistenceMask(t *testing.T) {
	s := testSnapshot()
	s.Services[0].PersistencePrefix = 32
	var b bytes.Buffer
	FormatList(&b, s, ListOptions{})
	if !strings.Contains(b.String(), "TCP  192.168.101.100:80 wlc persistent 50\n") {
		t.Errorf("a full persistence mask listed:\n%s", &b)
	}
}

// --save prints the configured table, as ipvsadm-save prints IPVS's: a
// server failed right now is in it (restoring the file must not lose
// it); one removed and draining, or the standby sorry server, is not.
func TestFormatRulesConfiguredTable(t *testing.T) {
	s := testSnapshot()
	s.Services[0].RealServers = append(s.Services[0].RealServers,
		RealServer{Addr: ap("192.168.101.5:80"), Weight: 1, Available: true, Configured: false, ActiveConns: 1},
		RealServer{Addr: ap("192.168.101.9:80"), Weight: 1, Available: false, Configured: true, Sorry: true})
	for _, all := range []bool{false, true} {
		var b bytes.Buffer
		FormatRules(&b, s, ListOptions{All: all})
		out := b.String()
		if !strings.Contains(out, "-a -t 192.168.101.100:80 -r 192.168.101.4:80 -g -w 3\n") {
			t.Errorf("all=%v: the failed server is missing from the saved table:\n%s", all, out)
		}
		if strings.Contains(out, "192.168.101.5:80") || strings.Contains(out, "192.168.101.9:80") {
			t.Errorf("all=%v: a draining removed server or the sorry server saved:\n%s", all, out)
		}
	}
}

func TestFormatListOPS(t *testing.T) {
	s := testSnapshot()
	s.Services[1].OPS = true
	var b bytes.Buffer
	FormatList(&b, s, ListOptions{})
	if !strings.Contains(b.String(), "UDP  192.168.101.100:53 mh mh-port ops\n") {
		t.Errorf("one-packet scheduling not listed as ipvsadm does:\n%s", &b)
	}
}

func TestFormatListAll(t *testing.T) {
	var b bytes.Buffer
	FormatList(&b, testSnapshot(), ListOptions{All: true})
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.101.100:80 wlc persistent 50
  -> 192.168.101.3:80             Route   3      5          2         
  -> 192.168.101.4:80             Route   3      0          0         
UDP  192.168.101.100:53 mh mh-port
  -> 192.168.101.3:53             Route   1      0          0         
`)
}

func TestFormatStats(t *testing.T) {
	var b bytes.Buffer
	FormatStats(&b, testSnapshot(), ListOptions{})
	// The service sums both real servers although only one is listed.
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.101.100:80                 15      370        0    53234        0
  -> 192.168.101.3:80                   12      340        0    51234        0
UDP  192.168.101.100:53            250000K     123G        0        9        0
  -> 192.168.101.3:53              250000K     123G        0        9        0
`)
	b.Reset()
	FormatStats(&b, testSnapshot(), ListOptions{Exact: true})
	want := "UDP  192.168.101.100:53           250000000 123456789012        0        9        0\n"
	if !bytes.Contains(b.Bytes(), []byte(want)) {
		t.Errorf("--exact: want line %q in\n%s", want, &b)
	}
}

func TestFormatThresholds(t *testing.T) {
	s := testSnapshot()
	rs := &s.Services[0].RealServers[0]
	rs.UThreshold, rs.LThreshold, rs.Overloaded = 7, 6, true
	var b bytes.Buffer
	FormatThresholds(&b, s, ListOptions{})
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn
  -> RemoteAddress:Port
TCP  192.168.101.100:80
  -> 192.168.101.3:80             7          6          5          2          overloaded
UDP  192.168.101.100:53
  -> 192.168.101.3:53             0          0          0          0         
`)
	if got := RealServerState(*rs); got != "overloaded" {
		t.Errorf("status of a server at its limit: %q, want overloaded", got)
	}
}

func TestFormatRate(t *testing.T) {
	prev := testSnapshot()
	cur := testSnapshot()
	rs := &cur.Services[0].RealServers[0]
	rs.Conns += 20
	rs.Packets += 400
	rs.Bytes += 60000
	// A counter that went backwards must not print 2^64/2.
	cur.Services[0].RealServers[1].Packets = 0
	var b bytes.Buffer
	FormatRate(&b, prev, cur, 2*time.Second, ListOptions{})
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  192.168.101.100:80                 10      200        0    30000        0
  -> 192.168.101.3:80                   10      200        0    30000        0
UDP  192.168.101.100:53                  0        0        0        0        0
  -> 192.168.101.3:53                    0        0        0        0        0
`)
}

func TestFormatConns(t *testing.T) {
	var b bytes.Buffer
	FormatConns(&b, ConnsResult{Conns: []Conn{
		{Protocol: "tcp", ExpireSeconds: 899, State: "ESTABLISHED", Source: ap("10.0.0.5:51234"), Virtual: ap("192.168.101.100:80"), Destination: ap("192.168.101.3:80")},
		{Protocol: "udp", ExpireSeconds: 5, State: "UDP", Source: ap("10.0.0.6:5353"), Virtual: ap("192.168.101.100:53")},
	}, Truncated: true})
	check(t, &b, `xlb connection entries
pro expire state       source                virtual               destination
TCP 14:59  ESTABLISHED 10.0.0.5:51234        192.168.101.100:80    192.168.101.3:80
UDP 00:05  UDP         10.0.0.6:5353         192.168.101.100:53    -
(more flows not shown: raise --limit)
`)
}

func TestFormatStatus(t *testing.T) {
	var b bytes.Buffer
	FormatStatus(&b, testSnapshot())
	check(t, &b, `xlb 1.0.0 on eth1: xdp native, up 1h2m3s
connection table: 7 of 2359300 entries (sized for conn_table_size 1048576)
timeouts (tcp tcpfin udp): 900 120 300
vrrp: none

SERVICE                 REAL SERVER       STATE  WEIGHT  ACTIVE  INACTIVE  LATENCY  CHECKS/FAILED  LAST ERROR
tcp/192.168.101.100:80  192.168.101.3:80  up     3       5       2         1.23ms   10/0           -
tcp/192.168.101.100:80  192.168.101.4:80  down   3       0       0         500µs    10/4           dial tcp 192.168.101.4:80: connection refused
udp/192.168.101.100:53  192.168.101.3:53  up     1       0       0         -        -              -
`)
	s := testSnapshot()
	s.VRRP = []VRRPStatus{{Name: "VI_1", State: "MASTER", VRID: 51, Priority: 100}}
	b.Reset()
	FormatStatus(&b, s)
	if !bytes.Contains(b.Bytes(), []byte("vrrp:\n  VI_1: MASTER (vrid 51, priority 100)\n")) {
		t.Errorf("vrrp section missing:\n%s", &b)
	}
}

func TestRealServerState(t *testing.T) {
	for _, tc := range []struct {
		rs   RealServer
		want string
	}{
		{RealServer{Available: true, Configured: true}, "up"},
		{RealServer{Available: true, Configured: true, Health: &Health{Up: true}}, "up"},
		// inhibit_on_failure: still available at weight 0, but down.
		{RealServer{Available: true, Configured: true, Health: &Health{Checks: 1, Failures: 1}}, "down"},
		// A new checker starts down; it has not failed anything yet.
		{RealServer{Available: false, Configured: true, Health: &Health{}}, "pending"},
		{RealServer{Available: false, Configured: true}, "unresolved"},
		// Healthy and resolved, but its service lost quorum.
		{RealServer{Available: false, Configured: true, NoQuorum: true, Health: &Health{Up: true, Checks: 3}}, "no quorum"},
		// Its quorum lost too, but its own check failing says more.
		{RealServer{Available: false, Configured: true, NoQuorum: true, Health: &Health{Checks: 3, Failures: 3}}, "down"},
		{RealServer{Available: false, Configured: false}, "draining"},
		{RealServer{Available: true, Configured: true, Weight: 1, Sorry: true}, "sorry"},
		{RealServer{Available: false, Configured: true, Weight: 1, Sorry: true}, "sorry standby"},
		// sorry_server_inhibit: at weight 0 while the pool serves.
		{RealServer{Available: true, Configured: true, Weight: 0, Sorry: true}, "sorry standby"},
	} {
		if got := RealServerState(tc.rs); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.rs, got, tc.want)
		}
	}
}

// ipvsadm -Ln --persistent-conn prints its own title, printf'd as
// "%-33s %-9s %-11s %-10s %-10s" (Prot LocalAddress:Port, Weight,
// PersistConn, ActiveConn, InActConn), the service lines of -Ln, and per
// real server "  -> %-28s %-9u %-11u %-10u %-10u": no Forward column.
func TestFormatPersistConns(t *testing.T) {
	s := testSnapshot()
	s.Services[0].RealServers[0].PersistConns = 2
	s.Services[0].RealServers[1].PersistConns = 1 // hidden, as in -Ln
	var b bytes.Buffer
	FormatPersistConns(&b, s, ListOptions{})
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  192.168.101.100:80 wlc persistent 50
  -> 192.168.101.3:80             3         2           5          2         
UDP  192.168.101.100:53 mh mh-port
  -> 192.168.101.3:53             1         0           0          0         
`)
	b.Reset()
	FormatPersistConns(&b, s, ListOptions{All: true})
	if want := "  -> 192.168.101.4:80             3         1           0          0         \n"; !strings.Contains(b.String(), want) {
		t.Errorf("--all: want line %q in\n%s", want, &b)
	}
}

// After `xlb zero` --stats and --rate print the counters since then;
// the totals (what the metrics export) stay where they were.
func TestFormatStatsSinceZero(t *testing.T) {
	s := testSnapshot()
	s.Services[0].RealServers[0].SinceZero = &Counters{Conns: 2, Packets: 20, Bytes: 1500}
	s.Services[0].RealServers[1].SinceZero = &Counters{}
	s.Services[1].RealServers[0].SinceZero = &Counters{}
	var b bytes.Buffer
	FormatStats(&b, s, ListOptions{})
	check(t, &b, `xlb 1.0.0 (conn table size=1048576)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.101.100:80                  2       20        0     1500        0
  -> 192.168.101.3:80                    2       20        0     1500        0
UDP  192.168.101.100:53                  0        0        0        0        0
  -> 192.168.101.3:53                    0        0        0        0        0
`)
	// A zero between --rate's two samples makes the counters go back:
	// that interval's rate is 0, not 2^64.
	prev := testSnapshot()
	b.Reset()
	FormatRate(&b, prev, s, time.Second, ListOptions{})
	if want := "  -> 192.168.101.3:80                    0        0        0        0        0\n"; !strings.Contains(b.String(), want) {
		t.Errorf("rate across a zero: want line %q in\n%s", want, &b)
	}
}

// Each band of ipvsadm's print_largenum, at its edges.
func TestLargeNumBands(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{99_999_999, " 99999999"},
		{100_000_000, "  100000K"},
		{999_999_999, "  999999K"},
		{1_000_000_000, "    1000M"},
		{99_999_999_999, "   99999M"},
		{100_000_000_000, "     100G"},
		{99_999_999_999_999, "   99999G"},
		{100_000_000_000_000, "     100T"},
	} {
		var b bytes.Buffer
		largeNum(&b, c.n, false)
		if got := b.String(); got != c.want {
			t.Errorf("largeNum(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// ipvsadm -Ln -t VIP:PORT lists that service alone; an unknown one is an
// error.
func TestSnapshotOnly(t *testing.T) {
	s := testSnapshot()
	if err := s.Only("udp", ap("192.168.101.100:53")); err != nil {
		t.Fatal(err)
	}
	if len(s.Services) != 1 || s.Services[0].Key != "udp/192.168.101.100:53" {
		t.Fatalf("kept %+v, want the UDP service alone", s.Services)
	}
	if err := testSnapshot().Only("tcp", ap("192.168.101.100:53")); err == nil || !strings.Contains(err.Error(), "no such service tcp/192.168.101.100:53") {
		t.Fatalf("unknown service: %v", err)
	}
}
