package control

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/xlb-project/xlb/config"
)

// EditOp is a runtime edit, named after ipvsadm's commands.
type EditOp string

const (
	ServiceAdd  EditOp = "service-add"  // ipvsadm -A
	ServiceEdit EditOp = "service-edit" // ipvsadm -E
	ServiceDel  EditOp = "service-del"  // ipvsadm -D
	RealAdd     EditOp = "real-add"     // ipvsadm -a
	RealEdit    EditOp = "real-edit"    // ipvsadm -e
	RealDel     EditOp = "real-del"     // ipvsadm -d
	TimeoutsSet EditOp = "timeouts-set" // ipvsadm --set
)

// Edit is one runtime change of the running configuration. It lives until
// the next reload or restart, which re-read the configuration file.
type Edit struct {
	Op       EditOp          `json:"op"`
	Protocol config.Protocol `json:"protocol,omitempty"`
	Service  netip.AddrPort  `json:"service,omitzero"`
	// Scheduler "" leaves it unchanged (service-add: wlc, as ipvsadm).
	Scheduler config.Scheduler `json:"scheduler,omitempty"`
	// Persistence in seconds; nil leaves it unchanged, 0 turns it off.
	Persistence *int `json:"persistence,omitempty"`
	// Granularity is ipvsadm's -M as a prefix length; nil leaves it.
	Granularity *int `json:"persistence_granularity,omitempty"`
	// OPS is ipvsadm's -o (one-packet scheduling); nil leaves it.
	OPS *bool `json:"ops,omitempty"`
	// HashPort is ipvsadm's -b sh-port / mh-port; nil leaves it.
	HashPort *bool `json:"hash_port,omitempty"`
	// Real is the real server; port 0 means the service's port (DR cannot
	// change ports anyway).
	Real netip.AddrPort `json:"real,omitzero"`
	// Weight nil leaves it unchanged (real-add: 1, as ipvsadm).
	Weight *int `json:"weight,omitempty"`
	// UThreshold and LThreshold are ipvsadm's -x and -y (connection
	// limits); nil leaves one unchanged, 0 removes it.
	UThreshold *int `json:"uthreshold,omitempty"`
	LThreshold *int `json:"lthreshold,omitempty"`
	// Forward is ipvsadm's -g (dr) or -i (tun) of a real server; ""
	// leaves it unchanged (real-add: the service's).
	Forward config.Forward `json:"forward,omitempty"`
	// TunnelType goes with Forward TUN (--tun-type gre|gue; "": ipip),
	// TunnelPort with gue (--tun-port).
	TunnelType config.TunnelType `json:"tunnel_type,omitempty"`
	TunnelPort uint16            `json:"tunnel_port,omitempty"`
	// Timeouts in seconds; 0 leaves one unchanged, as ipvsadm --set.
	Timeouts TimeoutsSecs `json:"timeouts,omitzero"`
}

func (e Edit) String() string {
	var b strings.Builder
	b.WriteString(string(e.Op))
	if e.Op == TimeoutsSet {
		fmt.Fprintf(&b, " %d %d %d", e.Timeouts.TCP, e.Timeouts.TCPFin, e.Timeouts.UDP)
		return b.String()
	}
	fmt.Fprintf(&b, " %s/%s", e.Protocol, e.Service)
	if e.Scheduler != "" {
		fmt.Fprintf(&b, " -s %s", e.Scheduler)
	}
	if e.Persistence != nil {
		fmt.Fprintf(&b, " -p %d", *e.Persistence)
	}
	if e.Granularity != nil {
		fmt.Fprintf(&b, " -M %d", *e.Granularity)
	}
	if e.OPS != nil && *e.OPS {
		b.WriteString(" -o")
	}
	if e.HashPort != nil && *e.HashPort {
		fmt.Fprintf(&b, " -b %s-port", e.Scheduler)
	}
	if e.Real.IsValid() {
		fmt.Fprintf(&b, " -r %s", e.Real)
	}
	if e.Weight != nil {
		fmt.Fprintf(&b, " -w %d", *e.Weight)
	}
	if e.UThreshold != nil {
		fmt.Fprintf(&b, " -x %d", *e.UThreshold)
	}
	if e.LThreshold != nil {
		fmt.Fprintf(&b, " -y %d", *e.LThreshold)
	}
	switch e.Forward {
	case config.DR:
		b.WriteString(" -g")
	case config.TUN:
		b.WriteString(" -i")
		if e.TunnelType != "" {
			fmt.Fprintf(&b, " --tun-type %s", e.TunnelType)
		}
		if e.TunnelPort != 0 {
			fmt.Fprintf(&b, " --tun-port %d", e.TunnelPort)
		}
	}
	return b.String()
}

// Apply makes the edit on cfg (a copy: see config.Config.Clone). It checks only
// what the edit itself needs (the service or real server exists or not);
// the caller validates the whole result.
func (e Edit) Apply(cfg *config.Config) error {
	if e.Op == TimeoutsSet {
		for _, v := range []int{e.Timeouts.TCP, e.Timeouts.TCPFin, e.Timeouts.UDP} {
			if v < 0 {
				return fmt.Errorf("timeouts must not be negative")
			}
		}
		setSecs(&cfg.Timeouts.TCP, e.Timeouts.TCP)
		setSecs(&cfg.Timeouts.TCPFin, e.Timeouts.TCPFin)
		setSecs(&cfg.Timeouts.UDP, e.Timeouts.UDP)
		return nil
	}
	if e.Protocol != config.TCP && e.Protocol != config.UDP {
		return fmt.Errorf("protocol %q: want tcp or udp", e.Protocol)
	}
	if !e.Service.IsValid() || e.Service.Port() == 0 {
		return fmt.Errorf("service address %q: want VIP:PORT", e.Service)
	}
	name := fmt.Sprintf("%s/%s", e.Protocol, e.Service)
	i := slices.IndexFunc(cfg.Services, func(s config.Service) bool {
		return s.Protocol == e.Protocol && s.VIP == e.Service.Addr() && s.Port == e.Service.Port()
	})
	switch e.Op {
	case ServiceAdd:
		if i >= 0 {
			return fmt.Errorf("service %s already exists", name)
		}
		s := config.Service{
			// Named the way the configuration names services without one.
			Name:      e.Service.String() + "/" + string(e.Protocol),
			VIP:       e.Service.Addr(),
			Port:      e.Service.Port(),
			Protocol:  e.Protocol,
			Scheduler: config.DefaultScheduler,
			Forward:   config.DefaultForward,
			DelayLoop: config.DefaultDelayLoop,
		}
		editService(&s, e)
		cfg.Services = append(cfg.Services, s)
		return nil
	}
	if i < 0 {
		return fmt.Errorf("no such service %s", name)
	}
	s := &cfg.Services[i]
	switch e.Op {
	case ServiceEdit:
		editService(s, e)
		return nil
	case ServiceDel:
		cfg.Services = slices.Delete(cfg.Services, i, i+1)
		return nil
	}
	if !e.Real.IsValid() {
		return fmt.Errorf("real server address missing")
	}
	rport := e.Real.Port()
	if rport == 0 {
		rport = s.Port
	}
	raddr := netip.AddrPortFrom(e.Real.Addr(), rport)
	j := slices.IndexFunc(s.RealServers, func(r config.RealServer) bool {
		return r.Address == raddr.Addr() && r.Port == rport
	})
	switch e.Op {
	case RealAdd:
		if j >= 0 {
			return fmt.Errorf("real server %s of %s already exists", raddr, name)
		}
		r := config.RealServer{Address: raddr.Addr(), Port: rport, Weight: config.DefaultWeight}
		editReal(s, &r, e)
		s.RealServers = append(s.RealServers, r)
		return nil
	case RealEdit, RealDel:
		if j < 0 {
			return fmt.Errorf("no such real server %s of %s", raddr, name)
		}
		if e.Op == RealDel {
			s.RealServers = slices.Delete(s.RealServers, j, j+1)
		} else {
			editReal(s, &s.RealServers[j], e)
		}
		return nil
	}
	return fmt.Errorf("unknown edit %q", e.Op)
}

func editReal(s *config.Service, r *config.RealServer, e Edit) {
	if e.Forward != "" {
		// Its own method only where it differs from the service's.
		r.Forward, r.TunnelType, r.TunnelPort = e.Forward, e.TunnelType, e.TunnelPort
		if e.Forward == s.Forward && e.TunnelType == s.TunnelType && e.TunnelPort == s.TunnelPort {
			r.Forward, r.TunnelType, r.TunnelPort = "", "", 0
		}
	}
	if e.Weight != nil {
		r.Weight = *e.Weight
	}
	if e.UThreshold != nil {
		r.UThreshold = *e.UThreshold
	}
	if e.LThreshold != nil {
		r.LThreshold = *e.LThreshold
	}
}

func editService(s *config.Service, e Edit) {
	if e.Scheduler != "" {
		s.Scheduler = e.Scheduler
	}
	if e.Persistence != nil {
		s.PersistenceTimeout = time.Duration(*e.Persistence) * time.Second
		if *e.Persistence == 0 {
			// No persistence, no granularity (as ipvsadm -E without -p).
			s.PersistenceGranularity = 0
		}
	}
	if e.Granularity != nil {
		s.PersistenceGranularity = *e.Granularity
	}
	if e.OPS != nil {
		s.OPS = *e.OPS
	}
	if e.HashPort != nil {
		s.HashPort = *e.HashPort
	}
}

func setSecs(d *time.Duration, secs int) {
	if secs > 0 {
		*d = time.Duration(secs) * time.Second
	}
}
