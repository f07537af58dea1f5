// Package metrics exports a running director's state to Prometheus. The
// collector reads the datapath at scrape time (no background polling, so
// an unscraped daemon pays nothing); per-CPU counters are already summed by
// package maps. Packets and bytes are the director's view: DR replies go
// from the real server straight to the client, so there are no outbound
// counters.
//
// Series (service="tcp/VIP:PORT", realserver="RIP:PORT"):
//
//	xlb_service_{packets,bytes,connections}_total{service}
//	xlb_realserver_{packets,bytes,connections}_total{service,realserver}
//	xlb_realserver_{active,inactive,persistent}_connections{service,realserver}
//	xlb_realserver_weight, xlb_realserver_available,
//	xlb_realserver_overloaded{service,realserver}
//	xlb_realserver_health_up, xlb_realserver_health_check_latency_seconds,
//	xlb_realserver_health_checks_total, xlb_realserver_health_check_failures_total
//	  {service,realserver}  (only real servers with a health check)
//	xlb_datapath_packets_total{reason}  (maps.CounterNames)
//	xlb_conn_table_entries, xlb_conn_table_capacity
//	xlb_vrrp_master{instance}, xlb_build_info{version}, xlb_uptime_seconds
//	xlb_notify_fifo_lines_total, xlb_notify_fifo_dropped_lines_total{fifo,path}
//	  (the open notify FIFOs, fifo= notify_fifo|vrrp_notify_fifo|lvs_notify_fifo)
//
// plus the Go runtime (go_*) and process (process_*) collectors. The
// counters are the datapath's since the director started: `xlb zero`
// (ipvsadm -Z) zeroes what `xlb list --stats` prints, never these.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xlb-project/xlb/control"
)

// DefaultAddr serves metrics on loopback only: the endpoint has no
// authentication and reveals the whole topology.
const DefaultAddr = "127.0.0.1:9273"

// Source is what the collector needs; control.DirectorSource satisfies it.
type Source interface {
	Snapshot(ctx context.Context) (*control.Snapshot, error)
}

const namespace = "xlb"

var (
	svcLabels = []string{"service"}
	rsLabels  = []string{"service", "realserver"}
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src     Source
	log     *slog.Logger
	timeout time.Duration

	svcPackets, svcBytes, svcConns          *prometheus.Desc
	rsPackets, rsBytes, rsConns             *prometheus.Desc
	rsActive, rsInactive, rsWeight, rsAvail *prometheus.Desc
	rsOverloaded, rsPersist                 *prometheus.Desc
	rsHealthUp, rsLatency                   *prometheus.Desc
	rsChecks, rsFailures                    *prometheus.Desc
	datapath, connEntries, connCapacity     *prometheus.Desc
	vrrpMaster, buildInfo, uptime           *prometheus.Desc
	fifoLines, fifoDropped                  *prometheus.Desc
}

// NewCollector returns a collector reading src at every scrape.
func NewCollector(src Source, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.Default()
	}
	return &Collector{
		src: src, log: log, timeout: 10 * time.Second,
		svcPackets:   desc("service_packets_total", "Packets forwarded for the virtual service (client to real server).", svcLabels),
		svcBytes:     desc("service_bytes_total", "Bytes forwarded for the virtual service (client to real server).", svcLabels),
		svcConns:     desc("service_connections_total", "Connections scheduled for the virtual service.", svcLabels),
		rsPackets:    desc("realserver_packets_total", "Packets forwarded to the real server.", rsLabels),
		rsBytes:      desc("realserver_bytes_total", "Bytes forwarded to the real server.", rsLabels),
		rsConns:      desc("realserver_connections_total", "Connections scheduled to the real server.", rsLabels),
		rsActive:     desc("realserver_active_connections", "Established connections of the real server (ipvsadm ActiveConn).", rsLabels),
		rsInactive:   desc("realserver_inactive_connections", "Closing connections of the real server (ipvsadm InActConn).", rsLabels),
		rsPersist:    desc("realserver_persistent_connections", "Live persistence templates sending clients to the real server (ipvsadm PersistConn), as the last connection-table sweep counted them.", rsLabels),
		rsWeight:     desc("realserver_weight", "Weight of the real server in the datapath: the configured one, 0 while inhibit_on_failure holds it failed, or what misc_dynamic set (0 drains it).", rsLabels),
		rsAvail:      desc("realserver_available", "1 if the real server may take new flows (configured, healthy, weight above 0, MAC resolved), else 0.", rsLabels),
		rsOverloaded: desc("realserver_overloaded", "1 while the real server is at its connection limit (uthreshold) and takes no new flows, else 0.", rsLabels),
		rsHealthUp:   desc("realserver_health_up", "1 if the real server's health check says up, else 0 (only checked real servers).", rsLabels),
		rsLatency:    desc("realserver_health_check_latency_seconds", "Duration of the last attempt of the last health check.", rsLabels),
		rsChecks:     desc("realserver_health_checks_total", "Health checks finished (retries count once).", rsLabels),
		rsFailures:   desc("realserver_health_check_failures_total", "Health checks that failed.", rsLabels),
		datapath:     desc("datapath_packets_total", "Datapath events by reason (bpf stat counters), summed over CPUs.", []string{"reason"}),
		connEntries:  desc("conn_table_entries", "Flows in the connection table.", nil),
		connCapacity: desc("conn_table_capacity", "Flows the connection tables hold at most (IPv4 slots plus IPv6 entries); beyond conn_table_size IPv4 flows, collisions start to evict live ones.", nil),
		vrrpMaster:   desc("vrrp_master", "1 if the VRRP instance is MASTER, else 0.", []string{"instance"}),
		buildInfo:    desc("build_info", "Always 1; the version label says which xlb runs.", []string{"version"}),
		uptime:       desc("uptime_seconds", "Seconds since the director started.", nil),
		fifoLines:    desc("notify_fifo_lines_total", "Lines written to the notify FIFO since it was opened.", []string{"fifo", "path"}),
		fifoDropped:  desc("notify_fifo_dropped_lines_total", "Lines dropped because the notify FIFO's pipe was full (its reader fell behind) since it was opened.", []string{"fifo", "path"}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.svcPackets, c.svcBytes, c.svcConns, c.rsPackets, c.rsBytes, c.rsConns,
		c.rsActive, c.rsInactive, c.rsPersist, c.rsWeight, c.rsAvail, c.rsOverloaded, c.rsHealthUp, c.rsLatency,
		c.rsChecks, c.rsFailures, c.datapath, c.connEntries, c.connCapacity,
		c.vrrpMaster, c.buildInfo, c.uptime, c.fifoLines, c.fifoDropped,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed read reports an
// invalid metric, which the handler logs and (with ContinueOnError) leaves
// out while still serving the Go and process metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s, err := c.src.Snapshot(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.connEntries, fmt.Errorf("read director state: %w", err))
		return
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	gauge(c.buildInfo, 1, s.Version)
	gauge(c.uptime, s.UptimeSeconds)
	gauge(c.connEntries, float64(s.ConnEntries))
	gauge(c.connCapacity, float64(s.ConnCapacity))
	for reason, v := range s.Counters {
		counter(c.datapath, float64(v), reason)
	}
	for _, v := range s.VRRP {
		gauge(c.vrrpMaster, b2f(v.State == "MASTER"), v.Name)
	}
	for _, f := range s.NotifyFIFOs {
		counter(c.fifoLines, float64(f.Lines), f.Keyword, f.Path)
		counter(c.fifoDropped, float64(f.Dropped), f.Keyword, f.Path)
	}
	seenSvc := map[string]bool{}
	for _, svc := range s.Services {
		// A duplicate label set would fail the whole scrape; the maps
		// cannot hold one, but a bug elsewhere must not blind monitoring.
		if seenSvc[svc.Key] {
			c.log.Warn("metrics: service listed twice", "service", svc.Key)
			continue
		}
		seenSvc[svc.Key] = true
		seenRS := map[string]bool{}
		for _, rs := range svc.RealServers {
			a := rs.Addr.String()
			if seenRS[a] {
				c.log.Warn("metrics: real server listed twice", "service", svc.Key, "realserver", a)
				continue
			}
			seenRS[a] = true
			counter(c.rsPackets, float64(rs.Packets), svc.Key, a)
			counter(c.rsBytes, float64(rs.Bytes), svc.Key, a)
			counter(c.rsConns, float64(rs.Conns), svc.Key, a)
			gauge(c.rsActive, float64(rs.ActiveConns), svc.Key, a)
			gauge(c.rsInactive, float64(rs.InactiveConns), svc.Key, a)
			gauge(c.rsPersist, float64(rs.PersistConns), svc.Key, a)
			gauge(c.rsWeight, float64(rs.Weight), svc.Key, a)
			gauge(c.rsOverloaded, b2f(rs.Overloaded), svc.Key, a)
			// Available covers a failed server inhibit_on_failure holds
			// at weight 0 (it stays in the table, as in IPVS); it takes
			// no new flows, so an alert on this gauge must see it.
			gauge(c.rsAvail, b2f(rs.Available && rs.Configured && rs.Weight > 0), svc.Key, a)
			if h := rs.Health; h != nil {
				gauge(c.rsHealthUp, b2f(h.Up), svc.Key, a)
				counter(c.rsChecks, float64(h.Checks), svc.Key, a)
				counter(c.rsFailures, float64(h.Failures), svc.Key, a)
				if h.Checks > 0 {
					gauge(c.rsLatency, h.LatencySeconds, svc.Key, a)
				}
			}
		}
		// With the servers that are gone, so the totals never go back.
		t := svc.Totals(false)
		counter(c.svcPackets, float64(t.Packets), svc.Key)
		counter(c.svcBytes, float64(t.Bytes), svc.Key)
		counter(c.svcConns, float64(t.Conns), svc.Key)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry registers the xlb collector with the Go runtime and process
// collectors.
func NewRegistry(src Source, log *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src, log),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg on /metrics semantics.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrintln{log},
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       30 * time.Second,
	})
}

type slogPrintln struct{ log *slog.Logger }

func (l slogPrintln) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

// Serve listens on addr and serves the metrics of src on /metrics until
// ctx ends. It returns once listening (so a busy port fails `xlb run` at
// start), with the bound address; serving continues in the background.
func Serve(ctx context.Context, addr string, src Source, log *slog.Logger) (net.Addr, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener (another xlb on this host? give --metrics-addr, or an empty one to disable): %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		log.Warn("metrics endpoint is reachable from the network; it has no authentication", "addr", ln.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(NewRegistry(src, log), log))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "xlb: metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return ln.Addr(), nil
}
