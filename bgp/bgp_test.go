package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/xlb-project/xlb/config"
)

// netnsEnv marks the re-executed test binary running in its own network
// namespace: BGP speakers of the tests never run in the host's namespace.
const netnsEnv = "XLB_BGP_TEST_NETNS"

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" && os.Geteuid() == 0 {
		if _, err := exec.LookPath("unshare"); err == nil {
			cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
			cmd.Env = append(os.Environ(), netnsEnv+"=1")
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					os.Exit(ee.ExitCode())
				}
				fmt.Fprintln(os.Stderr, "re-exec in a network namespace:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	if os.Getenv(netnsEnv) != "" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			fmt.Fprintln(os.Stderr, "lo up:", err, string(out))
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func needNetns(t *testing.T) {
	t.Helper()
	if os.Getenv(netnsEnv) == "" {
		t.Skip("skipped: needs root and unshare(1) to run BGP speakers in a private network namespace")
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// observer is a plain gobgp router on 127.0.0.2 (AS 65000) that waits for
// the speaker under test (127.0.0.1, AS 65001).
func observer(t *testing.T, port int) *server.BgpServer {
	t.Helper()
	s := server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: slog.New(slog.DiscardHandler)}))
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "127.0.0.2", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.2"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65001},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 3, KeepaliveInterval: 1}},
		Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

type route struct {
	prefix  string
	nextHop string
	comms   []uint32
}

// learnt lists the IPv4 routes the observer received.
func learnt(t *testing.T, s *server.BgpServer) []route {
	t.Helper()
	var out []route
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	err := s.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam}, func(d *api.Destination) {
		for _, p := range d.GetPaths() {
			r := route{prefix: d.GetPrefix()}
			for _, a := range p.GetPattrs() {
				m, err := a.UnmarshalNew()
				if err != nil {
					t.Errorf("attribute: %v", err)
					continue
				}
				switch v := m.(type) {
				case *api.NextHopAttribute:
					r.nextHop = v.GetNextHop()
				case *api.CommunitiesAttribute:
					r.comms = v.GetCommunities()
				}
			}
			out = append(out, r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b route) int {
		if a.prefix < b.prefix {
			return -1
		}
		if a.prefix > b.prefix {
			return 1
		}
		return 0
	})
	return out
}

func prefixes(rs []route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.prefix)
	}
	return out
}

// waitPrefixes waits until the observer holds exactly want and returns how
// long that took.
func waitPrefixes(t *testing.T, s *server.BgpServer, within time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	var got []string
	for time.Since(start) < within {
		if got = prefixes(learnt(t, s)); slices.Equal(got, want) || len(got) == 0 && len(want) == 0 {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("observer has %v after %v, want %v", got, within, want)
	return 0
}

func TestSpeakerAnnounceWithdrawClose(t *testing.T) {
	needNetns(t)
	const port = 10179
	obs := observer(t, port)
	sp, err := New(config.BGP{
		LocalASN: 65001, ListenPort: config.NoBGPListener,
		NextHop:     netip.MustParseAddr("192.0.2.8"),
		Communities: []string{"65000:100", "no-export"},
		Peers: []config.BGPPeer{{
			Address: netip.MustParseAddr("127.0.0.2"), ASN: 65000, Port: port,
			HoldTime: 3 * time.Second, KeepaliveInterval: time.Second, ConnectRetry: time.Second,
		}},
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	// Asked for before Start: recorded, announced once running.
	vip1 := netip.MustParseAddr("10.0.0.1")
	if err := sp.Announce(vip1); err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitPrefixes(t, obs, 10*time.Second, "10.0.0.1/32")
	r := learnt(t, obs)[0]
	if r.nextHop != "192.0.2.8" || !slices.Equal(r.comms, []uint32{65000<<16 | 100, 0xFFFFFF01}) {
		t.Errorf("route %+v, want next hop 192.0.2.8 and communities 65000:100 no-export", r)
	}
	st := sp.Status()
	if len(st.Peers) != 1 || st.Peers[0].State != "established" || st.Peers[0].Since.IsZero() || st.RouterID != netip.MustParseAddr("192.0.2.8") {
		t.Errorf("status %+v", st)
	}
	if !slices.Equal(st.Announced, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}) {
		t.Errorf("announced %v", st.Announced)
	}

	// Idempotent: announcing again changes nothing; Set replaces the set.
	if err := sp.Announce(vip1, vip1); err != nil {
		t.Fatal(err)
	}
	if err := sp.Set(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")); err != nil {
		t.Fatal(err)
	}
	waitPrefixes(t, obs, 5*time.Second, "10.0.0.2/32", "10.0.0.3/32")
	if err := sp.Withdraw(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	waitPrefixes(t, obs, 5*time.Second, "10.0.0.3/32")
	// An IPv6 VIP cannot take an IPv4 next hop: refused, the rest stays.
	if err := sp.Announce(netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Error("IPv6 VIP with an IPv4 next hop was accepted")
	}
	waitPrefixes(t, obs, 5*time.Second, "10.0.0.3/32")

	// Close withdraws at once (cease), well inside the 3 s hold time.
	start := time.Now()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	waitPrefixes(t, obs, 2*time.Second)
	t.Logf("routes gone %v after Close", time.Since(start))
	if err := sp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	base := config.BGP{LocalASN: 65001, NextHop: netip.MustParseAddr("192.0.2.8")}
	for name, c := range map[string]config.BGP{
		"no next hop":   {LocalASN: 65001},
		"no asn":        {NextHop: base.NextHop},
		"v6 without id": {LocalASN: 65001, NextHop: netip.MustParseAddr("2001:db8::8")},
		"bad community": {LocalASN: 65001, NextHop: base.NextHop, Communities: []string{"x"}},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	sp, err := New(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Config().RouterID != base.NextHop {
		t.Errorf("router id defaults to %v, want the next hop", sp.Config().RouterID)
	}
	// Never started: Status lists nothing announced; Close is harmless.
	if err := sp.Announce(netip.MustParseAddr("10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if st := sp.Status(); len(st.Announced) != 0 {
		t.Errorf("announced before Start: %v", st.Announced)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}
