package control

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/director"
	"github.com/xlb-project/xlb/health"
	"github.com/xlb-project/xlb/maps"
	"golang.org/x/sys/unix"
)

// DirectorSource adapts a running *director.Director to Source (and to
// metrics.Source, which needs only Snapshot).
type DirectorSource struct {
	D       *director.Director
	Version string
	Iface   string
	// VRRP reports the VRRP instances' state.
	// Set by `xlb run` from the director's VRRP instances; nil reports none.
	VRRP func() []VRRPStatus
	// BGP and FlowSync report those subsystems; nil reports none.
	BGP      func() *BGPStatus
	FlowSync func() *FlowSyncStatus
}

// Config implements Source.
func (s *DirectorSource) Config() *config.Config { return s.D.Config() }

// ApplyConfig implements Source.
func (s *DirectorSource) ApplyConfig(ctx context.Context, cfg *config.Config) error {
	return s.D.ApplyConfig(ctx, cfg)
}

// Reload implements Source.
func (s *DirectorSource) Reload(ctx context.Context) error { return s.D.Reload(ctx) }

// Zero implements Source.
func (s *DirectorSource) Zero(_ context.Context, p ZeroParams) error {
	if p.All() {
		return s.D.Zero(nil)
	}
	k := maps.Key{VIP: p.Service.Addr(), Port: p.Service.Port(), Proto: unix.IPPROTO_TCP}
	switch p.Protocol {
	case "tcp":
	case "udp":
		k.Proto = unix.IPPROTO_UDP
	default:
		return fmt.Errorf("zero: protocol %q: want tcp or udp", p.Protocol)
	}
	return s.D.Zero(&k)
}

// Snapshot reads the maps, the health checks and the configuration.
func (s *DirectorSource) Snapshot(context.Context) (*Snapshot, error) {
	dp := s.D.Datapath()
	cfg := s.D.Config()
	list, err := dp.Maps.Services.List()
	if err != nil {
		return nil, err
	}
	counters, err := dp.Maps.Stats.Global()
	if err != nil {
		return nil, err
	}
	entries, err := dp.Maps.Conns.Len()
	if err != nil {
		return nil, err
	}
	retired, retiredSince := s.D.Retired()
	snap := &Snapshot{
		Version:       s.Version,
		Iface:         s.Iface,
		AttachMode:    string(dp.AttachedMode()),
		UptimeSeconds: s.D.Uptime().Seconds(),
		ConnEntries:   entries,
		ConnCapacity:  dp.Maps.Conns.Capacity(),
		ConnTableSize: cfg.ConnTableSize,
		Timeouts: TimeoutsSecs{
			TCP:    int(cfg.Timeouts.TCP / time.Second),
			TCPFin: int(cfg.Timeouts.TCPFin / time.Second),
			UDP:    int(cfg.Timeouts.UDP / time.Second),
		},
		Services: BuildServices(cfg, list, s.D.Health().Snapshot(), SlotExtras{
			PersistConns: s.D.PersistConns(),
			Baselines:    s.D.Baselines(),
			NoQuorum:     s.D.NoQuorum(),
			Retired:      retired, RetiredSinceZero: retiredSince,
		}),
		Counters: counters,
	}
	if s.VRRP != nil {
		snap.VRRP = s.VRRP()
	}
	if s.BGP != nil {
		snap.BGP = s.BGP()
	}
	if s.FlowSync != nil {
		snap.FlowSync = s.FlowSync()
	}
	for _, f := range s.D.NotifyFIFOs() {
		snap.NotifyFIFOs = append(snap.NotifyFIFOs, NotifyFIFO(f))
	}
	return snap, nil
}

// Conns lists the connection table with each flow's real server and the
// time it has left.
func (s *DirectorSource) Conns(_ context.Context, limit int) (ConnsResult, error) {
	dp := s.D.Datapath()
	list, err := dp.Maps.Services.List()
	if err != nil {
		return ConnsResult{}, err
	}
	ask := limit
	if limit > 0 {
		ask = limit + 1 // one more tells whether there were more
	}
	flows, err := dp.Maps.Conns.List(maps.Now(), ask)
	if err != nil {
		return ConnsResult{}, err
	}
	var res ConnsResult
	if limit > 0 && len(flows) > limit {
		flows, res.Truncated = flows[:limit], true
	}
	res.Conns = BuildConns(s.D.Config(), list, flows)
	if res.Truncated {
		return res, nil
	}
	// Persistence templates after the flows, as ipvsadm -Lnc lists
	// them among its entries: state NONE, client port 0. All of them
	// (the template maps are bounded, 80k entries): expired ones are
	// dropped only below, so a limit could not be applied here.
	tpls, err := dp.Maps.Conns.Templates(maps.Now())
	if err != nil {
		return ConnsResult{}, err
	}
	t := BuildTemplates(list, tpls)
	if limit > 0 && len(res.Conns)+len(t) > limit {
		t, res.Truncated = t[:limit-len(res.Conns)], true
	}
	res.Conns = append(res.Conns, t...)
	return res, nil
}

// BuildTemplates shows persistence templates as ipvsadm -Lnc does: state
// NONE, the client's (masked) address with port 0, the service's VIP and
// port, the real server, and the time left in the service's persistence
// window. Expired templates (the sweep deletes them within its period;
// the datapath already ignores them) and those of services gone are left
// out.
func BuildTemplates(list []maps.ServiceState, tpls []maps.Template) []Conn {
	type svcInfo struct {
		key     maps.Key
		persist time.Duration
	}
	svcs := map[uint32]svcInfo{}
	slots := map[uint32]netip.AddrPort{}
	for _, st := range list {
		svcs[st.ID] = svcInfo{st.Key, time.Duration(st.PersistSec) * time.Second}
		for _, b := range st.Backends {
			slots[b.Slot] = b.Addr
		}
	}
	var out []Conn
	for _, t := range tpls {
		si, ok := svcs[t.SvcID]
		if !ok || si.persist == 0 || t.Idle > si.persist {
			continue
		}
		out = append(out, Conn{
			Protocol:      protoName(si.key.Proto),
			ExpireSeconds: int((si.persist - t.Idle) / time.Second),
			State:         "NONE",
			Source:        netip.AddrPortFrom(t.Client, 0),
			Virtual:       netip.AddrPortFrom(si.key.VIP, si.key.Port),
			Destination:   slots[t.Backend],
		})
	}
	return out
}

// SlotExtras are what the director keeps per real-server slot beside the
// maps.
type SlotExtras struct {
	// PersistConns are the live persistence templates per slot.
	PersistConns map[uint32]int
	// Baselines are the counters `xlb zero` took, per slot.
	Baselines map[uint32]director.Baseline
	// NoQuorum are the services whose quorum is lost (keepalived then
	// takes their real servers out, healthy or not).
	NoQuorum map[maps.Key]bool
	// Retired and RetiredSinceZero are the counters of each service's
	// real servers that are gone (Director.Retired).
	Retired, RetiredSinceZero map[maps.Key]director.Counts
}

// BuildServices joins what the maps hold with the configuration (names,
// forwarding method, which real servers are checked), the health checks'
// results and the director's per-slot extras.
func BuildServices(cfg *config.Config, list []maps.ServiceState, hs map[string]health.Status, ex SlotExtras) []Service {
	byKey := map[maps.Key]config.Service{}
	for _, cs := range cfg.Services {
		byKey[keyOf(cs)] = cs
	}
	out := make([]Service, 0, len(list))
	for _, st := range list {
		cs, known := byKey[st.Key]
		svc := Service{
			Key:                st.Key.String(),
			Name:               cs.Name,
			Protocol:           protoName(st.Key.Proto),
			VIP:                st.Key.VIP,
			Port:               st.Key.Port,
			Scheduler:          SchedulerName(st.Scheduler),
			PersistenceSeconds: int(st.PersistSec),
			PersistencePrefix:  int(st.PersistPrefix),
			HashPort:           st.Flags&maps.FlagHashPort != 0,
			OPS:                st.Flags&maps.FlagOPS != 0,
			Forward:            "Route",
			RealServers:        []RealServer{},
		}
		if known && cs.Forward == config.TUN {
			svc.Forward = "Tunnel"
		}
		if c, ok := ex.Retired[st.Key]; ok {
			svc.Retired = &Counters{Conns: c.Conns, Packets: c.Packets, Bytes: c.Bytes}
			z := ex.RetiredSinceZero[st.Key]
			svc.RetiredSinceZero = &Counters{Conns: z.Conns, Packets: z.Packets, Bytes: z.Bytes}
		}
		for _, b := range st.Backends {
			rs := RealServer{
				Addr:          b.Addr,
				Weight:        int(b.Weight),
				Available:     b.Available,
				Configured:    b.Configured,
				NoQuorum:      ex.NoQuorum[st.Key],
				UThreshold:    b.Upper,
				LThreshold:    b.Lower,
				Overloaded:    b.Overloaded,
				ActiveConns:   b.Counters.Active,
				InactiveConns: b.Counters.Inactive,
				PersistConns:  int64(ex.PersistConns[b.Slot]),
				Conns:         b.Counters.Conns,
				Packets:       b.Counters.Packets,
				Bytes:         b.Counters.Bytes,
				Forward:       "Route",
			}
			if b.Tunnel {
				rs.Forward = "Tunnel"
				switch {
				case b.GRE:
					rs.TunnelType = string(config.TunnelGRE)
				case b.GUEPort > 0:
					rs.TunnelType, rs.TunnelPort = string(config.TunnelGUE), b.GUEPort
				}
			}
			c, p, by := ex.Baselines[b.Slot].Since(st.Key, b)
			rs.SinceZero = &Counters{Conns: c, Packets: p, Bytes: by}
			if ss := cs.SorryServer; known && ss != nil && b.Addr == netip.AddrPortFrom(ss.Address, ss.Port) {
				rs.Sorry = true
			}
			if cr, ok := realServerOf(cs, b.Addr); known && ok {
				// The thresholds as configured, as ipvsadm lists them (a
				// lower one of 0 stays 0: three quarters of the upper).
				rs.UThreshold, rs.LThreshold = uint32(cr.UThreshold), uint32(cr.LThreshold)
			}
			if cr, ok := realServerOf(cs, b.Addr); known && ok && cr.Check != nil && b.Configured {
				// Several checks: up while all are; the first failing one's
				// error; the counts of all of them.
				h := &Health{Up: true}
				for n, key := range director.CheckKeys(cs, cr) {
					st, ok := hs[key]
					if !ok {
						h.Up = false
						continue
					}
					if n == 0 {
						h.LatencySeconds, h.LastCheck = st.LastLatency.Seconds(), st.LastCheck
					}
					if !st.Up {
						if h.Up {
							h.LastError = st.LastErr
						}
						h.Up = false
					}
					h.Checks += st.Checks
					h.Failures += st.Failures
				}
				rs.Health = h
			}
			svc.RealServers = append(svc.RealServers, rs)
		}
		out = append(out, svc)
	}
	return out
}

// BuildConns resolves each flow's real server and names its state as
// ipvsadm -Lnc does; the expiry is the datapath's own.
func BuildConns(_ *config.Config, list []maps.ServiceState, flows []maps.Conn) []Conn {
	slots := map[uint32]netip.AddrPort{}
	for _, st := range list {
		for _, b := range st.Backends {
			slots[b.Slot] = b.Addr
		}
	}
	out := make([]Conn, 0, len(flows))
	for _, f := range flows {
		c := Conn{
			Protocol:      protoName(f.Proto),
			Source:        f.Client,
			Virtual:       f.VIP,
			Destination:   slots[f.Backend],
			State:         "ESTABLISHED",
			ExpireSeconds: int(max(f.Expires, 0) / time.Second),
		}
		switch {
		case f.Proto == unix.IPPROTO_UDP:
			c.State = "UDP"
		case f.Fin:
			c.State = "FIN_WAIT"
		case f.SynRecv:
			c.State = "SYN_RECV"
		}
		out = append(out, c)
	}
	return out
}

// SchedulerName spells a datapath scheduler as ipvsadm does.
func SchedulerName(s maps.Scheduler) string {
	switch s {
	case maps.RR:
		return string(config.RR)
	case maps.WRR:
		return string(config.WRR)
	case maps.WLC:
		return string(config.WLC)
	case maps.SH:
		return string(config.SH)
	case maps.MH:
		return string(config.MH)
	case maps.LC:
		return string(config.LC)
	case maps.SED:
		return string(config.SED)
	case maps.NQ:
		return string(config.NQ)
	}
	return fmt.Sprintf("sched%d", s)
}

func keyOf(s config.Service) maps.Key {
	p := uint8(unix.IPPROTO_TCP)
	if s.Protocol == config.UDP {
		p = unix.IPPROTO_UDP
	}
	return maps.Key{VIP: s.VIP, Port: s.Port, Proto: p}
}

func protoName(p uint8) string {
	if p == unix.IPPROTO_UDP {
		return "udp"
	}
	return "tcp"
}

func realServerOf(s config.Service, a netip.AddrPort) (config.RealServer, bool) {
	for _, r := range s.RealServers {
		if r.Address == a.Addr() && r.Port == a.Port() {
			return r, true
		}
	}
	return config.RealServer{}, false
}
