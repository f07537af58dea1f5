// Package control is the control socket of a running director and the
// client the CLI uses to talk to it (`xlb list`, `xlb status`, `xlb conns`,
// `xlb reload`, runtime edits), plus the ipvsadm-style formatting of what it
// returns.
//
// The protocol is one JSON request and one JSON response per connection on
// a unix socket (default /run/xlb/IFACE.sock, /run/xlb/netns/NS/IFACE.sock
// in a named network namespace) that only root may use: the
// socket file is mode 0600 and every peer's credentials (SO_PEERCRED) are
// checked, so a socket made reachable by mistake still refuses non-root.
package control

import (
	"fmt"
	"net/netip"
	"time"
)

// DefaultDir is where the daemons put their sockets, one per interface.
const DefaultDir = "/run/xlb"

// Methods of the protocol.
const (
	MethodSnapshot = "snapshot" // -> Snapshot
	MethodConns    = "conns"    // ConnsParams -> ConnsResult
	MethodReload   = "reload"   // -> nothing; the error says why a config was rejected
	MethodConfig   = "config"   // -> ConfigResult (running config as YAML)
	MethodEdit     = "edit"     // Edit -> nothing
	MethodZero     = "zero"     // ZeroParams -> nothing; an unknown service is an error
)

// Snapshot is the state of a running director: what `xlb list` and
// `xlb status` print and what the metrics collector exports.
type Snapshot struct {
	Version       string  `json:"version"`
	Iface         string  `json:"iface"`
	AttachMode    string  `json:"attach_mode"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// ConnEntries is the number of flows in the connection table (a full
	// pass over it); ConnCapacity its slots (a table sized for
	// ConnTableSize flows keeps room to spare), ConnTableSize the
	// configured conn_table_size, which `xlb list`'s header shows as
	// ipvsadm shows its table's size.
	ConnEntries   int          `json:"conn_entries"`
	ConnCapacity  int          `json:"conn_capacity"`
	ConnTableSize int          `json:"conn_table_size,omitempty"`
	Timeouts      TimeoutsSecs `json:"timeouts"`
	Services      []Service    `json:"services"`
	// Counters are the datapath's global counters by reason
	// (maps.CounterNames), summed over CPUs.
	Counters map[string]uint64 `json:"counters"`
	// VRRP is the state of each VRRP instance (DirectorSource.VRRP).
	VRRP []VRRPStatus `json:"vrrp,omitempty"`
	// BGP is the BGP speaker's state (DirectorSource.BGP); nil without one.
	BGP *BGPStatus `json:"bgp,omitempty"`
	// FlowSync counts flow sharing (DirectorSource.FlowSync); nil when off.
	FlowSync *FlowSyncStatus `json:"flow_sync,omitempty"`
	// NotifyFIFOs are the open notify FIFOs (keepalived's notify_fifo and
	// its VRRP and LVS kinds) with their line counts.
	NotifyFIFOs []NotifyFIFO `json:"notify_fifos,omitempty"`
}

// NotifyFIFO is one open notify FIFO: lines written whole and dropped
// because the pipe had no room (its reader fell behind), since it opened.
type NotifyFIFO struct {
	Keyword string `json:"keyword"` // notify_fifo, vrrp_notify_fifo or lvs_notify_fifo
	Path    string `json:"path"`
	Lines   uint64 `json:"lines"`
	Dropped uint64 `json:"dropped"`
}

// TimeoutsSecs are the global idle timeouts in seconds (ipvsadm --set).
type TimeoutsSecs struct {
	TCP    int `json:"tcp"`
	TCPFin int `json:"tcp_fin"`
	UDP    int `json:"udp"`
}

// Service is one virtual service as the datapath holds it.
type Service struct {
	// Key is "tcp/VIP:PORT", the service label of the metrics.
	Key       string     `json:"key"`
	Name      string     `json:"name,omitempty"` // from the configuration
	Protocol  string     `json:"protocol"`       // tcp or udp
	VIP       netip.Addr `json:"vip"`
	Port      uint16     `json:"port"`
	Scheduler string     `json:"scheduler"`
	// PersistenceSeconds > 0 is ipvsadm's -p; PersistencePrefix > 0 its -M
	// (a client network of that prefix length shares the template).
	PersistenceSeconds int  `json:"persistence_seconds,omitempty"`
	PersistencePrefix  int  `json:"persistence_prefix,omitempty"`
	HashPort           bool `json:"hash_port,omitempty"`
	// OPS is ipvsadm's -o: each UDP datagram scheduled on its own.
	OPS bool `json:"ops,omitempty"`
	// Forward is the service's forwarding method, Route (DR) or Tunnel;
	// a real server may have its own (RealServer.Forward).
	Forward     string       `json:"forward"`
	RealServers []RealServer `json:"real_servers"`
	// Retired are the counters of the service's real servers that are
	// gone (removed, then drained), which its totals keep, as IPVS keeps
	// a service's stats apart from its destinations'; RetiredSinceZero
	// the part since the last `xlb zero`. Nil: none.
	Retired          *Counters `json:"retired,omitempty"`
	RetiredSinceZero *Counters `json:"retired_since_zero,omitempty"`
}

// Only keeps the service proto VIP:PORT alone (ipvsadm -Ln -t VIP:PORT);
// one the snapshot does not have is an error, as in ipvsadm.
func (s *Snapshot) Only(proto string, addr netip.AddrPort) error {
	for _, svc := range s.Services {
		if svc.Protocol == proto && svc.Addr() == addr {
			s.Services = []Service{svc}
			return nil
		}
	}
	return fmt.Errorf("no such service %s/%s", proto, addr)
}

// Totals are the service's counters: its real servers' and its retired
// ones' (those the metrics export), or with sinceZero their parts since
// the last `xlb zero` (what --stats lists).
func (s Service) Totals(sinceZero bool) Counters {
	var sum Counters
	add := func(c *Counters) {
		if c != nil {
			sum.Conns, sum.Packets, sum.Bytes = sum.Conns+c.Conns, sum.Packets+c.Packets, sum.Bytes+c.Bytes
		}
	}
	for _, rs := range s.RealServers {
		c := Counters{Conns: rs.Conns, Packets: rs.Packets, Bytes: rs.Bytes}
		if sinceZero {
			c = rs.Listed()
		}
		add(&c)
	}
	if sinceZero {
		add(s.RetiredSinceZero)
	} else {
		add(s.Retired)
	}
	return sum
}

// Addr is the service's VIP:PORT.
func (s Service) Addr() netip.AddrPort { return netip.AddrPortFrom(s.VIP, s.Port) }

// RealServer is one real server of a service with its counters. Packets
// and bytes are those the director forwarded (client to server); in DR mode
// replies bypass the director, so xlb has no outbound counters.
type RealServer struct {
	Addr   netip.AddrPort `json:"addr"`
	Weight int            `json:"weight"`
	// Available: the datapath may give it new flows (configured, healthy or
	// inhibited to weight 0, MAC resolved).
	Available bool `json:"available"`
	// Configured is false for a real server removed from the configuration
	// that still carries flows (draining).
	Configured bool `json:"configured"`
	// Sorry marks the service's sorry server (keepalived sorry_server),
	// which takes new flows only while no real server can.
	Sorry bool `json:"sorry,omitempty"`
	// NoQuorum: the service's quorum is lost, which holds this real
	// server off new flows however healthy it is.
	NoQuorum bool `json:"no_quorum,omitempty"`
	// Forward is ipvsadm's forwarding column for this server: Route (DR)
	// or Tunnel; a service may mix them, as IPVS does.
	Forward string `json:"forward"`
	// TunnelType is "gre" or "gue" for a Tunnel in GRE or GUE (IPVS
	// --tun-type), "" for IPIP / IP6IP6; TunnelPort is GUE's UDP port.
	TunnelType string `json:"tunnel_type,omitempty"`
	TunnelPort uint16 `json:"tunnel_port,omitempty"`
	// UThreshold and LThreshold are the connection limit as configured
	// (ipvsadm -x/-y; 0: none, and a LThreshold of 0 means three quarters
	// of UThreshold); Overloaded says the limit holds new flows off now.
	UThreshold    uint32 `json:"uthreshold,omitempty"`
	LThreshold    uint32 `json:"lthreshold,omitempty"`
	Overloaded    bool   `json:"overloaded,omitempty"`
	ActiveConns   int64  `json:"active_conns"`
	InactiveConns int64  `json:"inactive_conns"`
	// PersistConns is ipvsadm's PersistConn: the live persistence
	// templates (clients a persistent service sends back here), as the
	// last connection-table sweep counted them.
	PersistConns int64 `json:"persistent_conns"`
	// Conns, Packets and Bytes are the datapath's counters since the
	// director started; like the metrics, they never go back.
	Conns   uint64 `json:"conns_total"`
	Packets uint64 `json:"packets_total"`
	Bytes   uint64 `json:"bytes_total"`
	// SinceZero are the same counters since the last `xlb zero`
	// (ipvsadm -Z), what `xlb list --stats` and --rate print; nil from a
	// daemon that predates them.
	SinceZero *Counters `json:"counters_since_zero,omitempty"`
	// Health is nil for a real server without a health check.
	Health *Health `json:"health,omitempty"`
}

// Counters are a real server's cumulative counters.
type Counters struct {
	Conns   uint64 `json:"conns"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Listed are the counters listings print: those since the last
// `xlb zero`, or the totals when the daemon sent none.
func (rs RealServer) Listed() Counters {
	if rs.SinceZero != nil {
		return *rs.SinceZero
	}
	return Counters{Conns: rs.Conns, Packets: rs.Packets, Bytes: rs.Bytes}
}

// ZeroParams name the service whose counters `xlb zero` zeroes; no
// service zeroes all, as ipvsadm -Z.
type ZeroParams struct {
	Protocol string         `json:"protocol,omitempty"` // tcp or udp
	Service  netip.AddrPort `json:"service,omitzero"`
}

// All says no service is named: every counter is zeroed.
func (p ZeroParams) All() bool { return !p.Service.IsValid() }

func (p ZeroParams) String() string {
	if p.All() {
		return "all"
	}
	return p.Protocol + "/" + p.Service.String()
}

// Health is the last result of a real server's health check.
type Health struct {
	Up             bool      `json:"up"`
	LastError      string    `json:"last_error,omitempty"`
	LatencySeconds float64   `json:"latency_seconds"`
	LastCheck      time.Time `json:"last_check,omitzero"`
	Checks         uint64    `json:"checks"`
	Failures       uint64    `json:"failures"`
}

// VRRPStatus is one VRRP instance's state.
type VRRPStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"` // MASTER, BACKUP, FAULT, ...
	VRID     int    `json:"vrid"`
	Priority int    `json:"priority"`
	// SyncGroup is the vrrp_sync_group the instance is in, if any.
	SyncGroup string `json:"sync_group,omitempty"`
	// OldUnicastChecksum: its unicast VRRPv3 adverts use the checksum of
	// keepalived before 1.3.6 (configured, or a peer sent it).
	OldUnicastChecksum bool `json:"old_unicast_checksum,omitempty"`
}

// BGPStatus is the VIP announcement state.
type BGPStatus struct {
	Announced []string        `json:"announced"`
	Peers     []BGPPeerStatus `json:"peers"`
}

// BGPPeerStatus is one BGP session.
type BGPPeerStatus struct {
	Address    string `json:"address"`
	ASN        uint32 `json:"asn"`
	State      string `json:"state"`
	Advertised uint64 `json:"advertised"`
}

// FlowSyncStatus counts flows shared with peer directors.
type FlowSyncStatus struct {
	Sent, Received, Inserted, Unknown, Rejected uint64
}

// ConnsParams ask for the connection table.
type ConnsParams struct {
	// Limit caps the number of flows returned; <= 0 means all.
	Limit int `json:"limit"`
}

// ConnsResult is (part of) the connection table.
type ConnsResult struct {
	Conns []Conn `json:"conns"`
	// Truncated: the table held more flows than Limit.
	Truncated bool `json:"truncated,omitempty"`
}

// Conn is one flow, as ipvsadm -Lnc shows it.
type Conn struct {
	Protocol string `json:"protocol"`
	// ExpireSeconds is the time left before the flow expires idle.
	ExpireSeconds int            `json:"expire_seconds"`
	State         string         `json:"state"` // ESTABLISHED, FIN_WAIT, UDP; NONE: a persistence template
	Source        netip.AddrPort `json:"source"`
	Virtual       netip.AddrPort `json:"virtual"`
	// Destination is the real server; invalid if its slot was freed.
	Destination netip.AddrPort `json:"destination"`
}

// ConfigResult carries the running configuration.
type ConfigResult struct {
	YAML string `json:"yaml"`
}
