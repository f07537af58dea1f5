package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/xlb-project/xlb/control"
)

type fakeSource struct {
	snap *control.Snapshot
	err  error
}

func (f *fakeSource) Snapshot(context.Context) (*control.Snapshot, error) { return f.snap, f.err }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func snapshot() *control.Snapshot {
	return &control.Snapshot{
		Version: "1.2.3", UptimeSeconds: 42, ConnEntries: 7, ConnCapacity: 1048576,
		Counters: map[string]uint64{"tx": 370, "drop_malformed_l3": 2},
		VRRP:     []control.VRRPStatus{{Name: "VI_1", State: "MASTER"}, {Name: "VI_2", State: "BACKUP"}},
		NotifyFIFOs: []control.NotifyFIFO{{Keyword: "notify_fifo", Path: "/run/ka.fifo", Lines: 9, Dropped: 0},
			{Keyword: "vrrp_notify_fifo", Path: "/run/ka_vrrp.fifo", Lines: 4, Dropped: 17}},
		Services: []control.Service{{
			Key: "tcp/192.168.101.100:80",
			RealServers: []control.RealServer{
				{Addr: ap("192.168.101.3:80"), Weight: 3, Available: true, Configured: true, ActiveConns: 5, InactiveConns: 2,
					Conns: 12, Packets: 340, Bytes: 51234, PersistConns: 2,
					// Zeroed by `xlb zero`: the counters exported stay the totals.
					SinceZero: &control.Counters{Conns: 1, Packets: 4, Bytes: 300},
					Health:    &control.Health{Up: true, LatencySeconds: 0.0015, Checks: 10, Failures: 1}},
				{Addr: ap("192.168.101.4:80"), Weight: 3, Available: false, Configured: true, Conns: 3, Packets: 30, Bytes: 2000,
					Health: &control.Health{Up: false, Checks: 0}},
				{Addr: ap("192.168.101.5:80"), Weight: 1, Available: true, Configured: true, Packets: 1, UThreshold: 4, Overloaded: true},
			},
		}},
	}
}

// render gathers reg and prints each xlb_ sample as `name{l="v",...} value`,
// sorted, so tests compare plain lines.
func render(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "xlb_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			var v float64
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			default:
				t.Fatalf("%s: unexpected type %v", mf.GetName(), mf.GetType())
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), v))
		}
	}
	sort.Strings(out)
	return out
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(&fakeSource{snap: snapshot()}, nil))
	got := render(t, reg)
	const svc = `service="tcp/192.168.101.100:80"`
	// Gathered labels come sorted by name.
	rs3 := `realserver="192.168.101.3:80",` + svc
	rs4 := `realserver="192.168.101.4:80",` + svc
	rs5 := `realserver="192.168.101.5:80",` + svc
	want := []string{
		`xlb_build_info{version="1.2.3"} 1`,
		`xlb_conn_table_capacity{} 1.048576e+06`,
		`xlb_conn_table_entries{} 7`,
		`xlb_datapath_packets_total{reason="drop_malformed_l3"} 2`,
		`xlb_datapath_packets_total{reason="tx"} 370`,
		`xlb_notify_fifo_dropped_lines_total{fifo="notify_fifo",path="/run/ka.fifo"} 0`,
		`xlb_notify_fifo_dropped_lines_total{fifo="vrrp_notify_fifo",path="/run/ka_vrrp.fifo"} 17`,
		`xlb_notify_fifo_lines_total{fifo="notify_fifo",path="/run/ka.fifo"} 9`,
		`xlb_notify_fifo_lines_total{fifo="vrrp_notify_fifo",path="/run/ka_vrrp.fifo"} 4`,
		`xlb_realserver_active_connections{` + rs3 + `} 5`,
		`xlb_realserver_active_connections{` + rs4 + `} 0`,
		`xlb_realserver_active_connections{` + rs5 + `} 0`,
		`xlb_realserver_available{` + rs3 + `} 1`,
		`xlb_realserver_available{` + rs4 + `} 0`,
		`xlb_realserver_available{` + rs5 + `} 1`,
		`xlb_realserver_bytes_total{` + rs3 + `} 51234`,
		`xlb_realserver_bytes_total{` + rs4 + `} 2000`,
		`xlb_realserver_bytes_total{` + rs5 + `} 0`,
		`xlb_realserver_connections_total{` + rs3 + `} 12`,
		`xlb_realserver_connections_total{` + rs4 + `} 3`,
		`xlb_realserver_connections_total{` + rs5 + `} 0`,
		`xlb_realserver_health_check_failures_total{` + rs3 + `} 1`,
		`xlb_realserver_health_check_failures_total{` + rs4 + `} 0`,
		// No latency before the first check finished, none without a check.
		`xlb_realserver_health_check_latency_seconds{` + rs3 + `} 0.0015`,
		`xlb_realserver_health_checks_total{` + rs3 + `} 10`,
		`xlb_realserver_health_checks_total{` + rs4 + `} 0`,
		`xlb_realserver_health_up{` + rs3 + `} 1`,
		`xlb_realserver_health_up{` + rs4 + `} 0`,
		`xlb_realserver_inactive_connections{` + rs3 + `} 2`,
		`xlb_realserver_inactive_connections{` + rs4 + `} 0`,
		`xlb_realserver_inactive_connections{` + rs5 + `} 0`,
		`xlb_realserver_overloaded{` + rs3 + `} 0`,
		`xlb_realserver_overloaded{` + rs4 + `} 0`,
		`xlb_realserver_overloaded{` + rs5 + `} 1`,
		`xlb_realserver_packets_total{` + rs3 + `} 340`,
		`xlb_realserver_packets_total{` + rs4 + `} 30`,
		`xlb_realserver_packets_total{` + rs5 + `} 1`,
		`xlb_realserver_persistent_connections{` + rs3 + `} 2`,
		`xlb_realserver_persistent_connections{` + rs4 + `} 0`,
		`xlb_realserver_persistent_connections{` + rs5 + `} 0`,
		`xlb_realserver_weight{` + rs3 + `} 3`,
		`xlb_realserver_weight{` + rs4 + `} 3`,
		`xlb_realserver_weight{` + rs5 + `} 1`,
		`xlb_service_bytes_total{` + svc + `} 53234`,
		`xlb_service_connections_total{` + svc + `} 15`,
		`xlb_service_packets_total{` + svc + `} 371`,
		`xlb_uptime_seconds{} 42`,
		`xlb_vrrp_master{instance="VI_1"} 1`,
		`xlb_vrrp_master{instance="VI_2"} 0`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("metrics:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestCollectorDuplicateDoesNotBreakScrape(t *testing.T) {
	s := snapshot()
	s.Services[0].RealServers = append(s.Services[0].RealServers, s.Services[0].RealServers[0])
	s.Services = append(s.Services, s.Services[0])
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(&fakeSource{snap: s}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("duplicate series broke the scrape: %v", err)
	}
}

func TestCollectorErrorKeepsProcessMetrics(t *testing.T) {
	reg := NewRegistry(&fakeSource{err: errors.New("map read failed")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mfs, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "map read failed") {
		t.Errorf("gather error: %v", err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "go_goroutines" {
			found = true
		}
	}
	if !found {
		t.Error("go collector metrics missing when the director read fails")
	}
}

func TestMetricNamesLint(t *testing.T) {
	reg := NewRegistry(&fakeSource{snap: snapshot()}, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "xlb_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "127.0.0.1:0", &fakeSource{snap: snapshot()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`xlb_realserver_packets_total{realserver="192.168.101.3:80",service="tcp/192.168.101.100:80"} 340`,
		`xlb_datapath_packets_total{reason="drop_malformed_l3"} 2`,
		"process_start_time_seconds",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// A busy port fails at start, not later in the background.
	if _, err := Serve(ctx, addr.String(), &fakeSource{}, nil); err == nil {
		t.Error("second Serve on a busy port succeeded")
	}
}

// A failed server that inhibit_on_failure holds at weight 0 stays in the
// table (available to the datapath, as IPVS keeps it) but takes no new
// flows: xlb_realserver_available says 0, as an alert on it needs.
func TestInhibitedServerIsNotAvailable(t *testing.T) {
	snap := &control.Snapshot{Services: []control.Service{{
		Key: "tcp/192.168.101.100:80",
		RealServers: []control.RealServer{{Addr: ap("192.168.101.4:80"), Weight: 0, Available: true, Configured: true,
			Health: &control.Health{Up: false, Checks: 3, Failures: 3}}},
	}}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(&fakeSource{snap: snap}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	want := `xlb_realserver_available{realserver="192.168.101.4:80",service="tcp/192.168.101.100:80"} 0`
	if got := render(t, reg); !slices.Contains(got, want) {
		t.Fatalf("metrics lack %s:\n%s", want, strings.Join(got, "\n"))
	}
}

// A service's totals keep the counters of its real servers that are gone
// (removed, then drained): a Prometheus counter must never go back.
func TestServiceTotalsKeepRetiredServers(t *testing.T) {
	snap := &control.Snapshot{Services: []control.Service{{
		Key:         "udp/192.168.101.100:53",
		RealServers: []control.RealServer{{Addr: ap("192.168.101.3:53"), Weight: 1, Available: true, Configured: true, Conns: 11, Packets: 11, Bytes: 300}},
		Retired:     &control.Counters{Conns: 2, Packets: 2, Bytes: 56},
	}}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(&fakeSource{snap: snap}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	got := render(t, reg)
	for _, want := range []string{
		`xlb_service_connections_total{service="udp/192.168.101.100:53"} 13`,
		`xlb_service_packets_total{service="udp/192.168.101.100:53"} 13`,
		`xlb_service_bytes_total{service="udp/192.168.101.100:53"} 356`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("metrics lack %s:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
