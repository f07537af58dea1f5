// Package config holds xlb's configuration model: the native YAML file and
// keepalived.conf both parse into these types, and Validate checks a whole
// Config before anything is applied to the datapath.
package config

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Protocol is the layer-4 protocol of a virtual service.
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Scheduler names follow ipvsadm's -s values.
type Scheduler string

const (
	RR  Scheduler = "rr"  // round robin
	WRR Scheduler = "wrr" // weighted round robin
	WLC Scheduler = "wlc" // weighted least connections
	SH  Scheduler = "sh"  // source (client IP) hash
	MH  Scheduler = "mh"  // Maglev consistent hash
	LC  Scheduler = "lc"  // least connections (weights only drain)
	SED Scheduler = "sed" // shortest expected delay
	NQ  Scheduler = "nq"  // never queue
)

// Schedulers lists every scheduler xlb implements, in ipvsadm's spelling.
var Schedulers = []Scheduler{RR, WRR, WLC, SH, MH, LC, SED, NQ}

// Forward is the packet-forwarding method (ipvsadm -g / -i, keepalived lb_kind).
type Forward string

const (
	DR  Forward = "dr"  // direct routing: rewrite the destination MAC only
	TUN Forward = "tun" // IP-in-IP tunnel: IPIP (IPv4 services) or IP6IP6 (IPv6 services)
)

// TunnelType is how TUN forwarding encapsulates (IPVS --tun-type,
// keepalived "lvs_method TUN type T"): "" is IPIP (IP6IP6 for IPv6).
type TunnelType string

const (
	TunnelIPIP TunnelType = ""    // IPIP / IP6IP6, IPVS's default ("ipip" in the files)
	TunnelGRE  TunnelType = "gre" // an outer IP header (the service's family) and GRE
	TunnelGUE  TunnelType = "gue" // an outer IP header, UDP to the tunnel port and GUE
)

// ParseTunnelType reads IPVS's and keepalived's tunnel type words, ipip,
// gre and gue (as given: callers lower the case where their format
// allows it); ok is false for any other.
func ParseTunnelType(v string) (t TunnelType, ok bool) {
	switch v {
	case "ipip":
		return TunnelIPIP, true
	case string(TunnelGRE), string(TunnelGUE):
		return TunnelType(v), true
	}
	return "", false
}

// Timeouts are idle timeouts of the connection table (ipvsadm --set tcp tcpfin udp).
type Timeouts struct {
	TCP    time.Duration `json:"tcp"`
	TCPFin time.Duration `json:"tcp_fin"`
	UDP    time.Duration `json:"udp"`
}

// DefaultTimeouts are IPVS's defaults: ipvsadm --set 900 120 300.
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// Config is one complete, validated configuration of a director.
type Config struct {
	// Source is the file this config was read from (for messages).
	Source string
	// Timeouts apply to every service that does not set its own.
	Timeouts Timeouts
	// ConnTableSize is the capacity of the connection table in flows (the
	// datapath gets twice as many slots, see maps.FlowBuckets).
	ConnTableSize int
	Services      []Service
	VRRP          []VRRPInstance
	// VRRPScripts are keepalived's vrrp_script blocks, run for the VRRP
	// instances that track them.
	VRRPScripts []VRRPScript
	// VRRPSyncGroups are keepalived's vrrp_sync_group blocks: VRRP
	// instances that change state together.
	VRRPSyncGroups []VRRPSyncGroup
	// VRRPTrackFiles are keepalived's track_file (vrrp_track_file)
	// blocks, watched for the VRRP instances that track them.
	VRRPTrackFiles []VRRPTrackFile
	// VRRPTrackProcesses are keepalived's vrrp_track_process blocks:
	// processes counted for the VRRP instances that track them.
	VRRPTrackProcesses []VRRPTrackProcess
	// BGP, when set, announces service VIPs to routers (ECMP over several
	// directors); nil means no BGP speaker.
	BGP *BGP
	// ScriptUser (keepalived's global_defs script_user) runs every script
	// without a user of its own; unset, keepalived 2's default applies (see
	// ScriptCred).
	ScriptUser ScriptUser
	// EnableScriptSecurity (keepalived's enable_script_security) refuses
	// scripts that would run with root's uid or gid while a user other than
	// root could change them (see runas.CheckSecure).
	EnableScriptSecurity bool
	// StartupScript and ShutdownScript are keepalived 2.2's global_defs
	// startup_script / shutdown_script: run once when `xlb run` starts,
	// before the datapath is attached, and once when it stops, after
	// everything else.
	StartupScript, ShutdownScript LifeScript
	// VRRPGARP are the gratuitous ARP / unsolicited NA timings of the VRRP
	// instances that do not set their own (keepalived's global_defs
	// vrrp_garp_*, YAML's top-level vrrp_garp_*); each instance's GARP
	// already holds what applies to it.
	VRRPGARP GARP
	// VRRPStartupDelay (keepalived's vrrp_startup_delay) keeps every VRRP
	// instance from becoming master for this long after `xlb run` starts
	// (they listen as backups meanwhile); a hitless restart skips it.
	VRRPStartupDelay time.Duration
	// InterfaceDelays (keepalived's interface_up_down_delays) debounce
	// interfaces' link state for the VRRP instances: a change counts only
	// once the new state has lasted Down (going down) or Up (coming up).
	InterfaceDelays []InterfaceDelay
	// GARPGroups (keepalived's garp_group blocks) space the gratuitous
	// ARPs and NAs of several interfaces together; see GARPGroup.
	GARPGroups []GARPGroup
	// NotifyFIFO, VRRPNotifyFIFO and LVSNotifyFIFO are keepalived's
	// global_defs notify_fifo, vrrp_notify_fifo and lvs_notify_fifo (with
	// their *_fifo_script): named pipes that get a line per VRRP event
	// (NotifyFIFO and VRRPNotifyFIFO) and per real server or quorum change
	// (NotifyFIFO and LVSNotifyFIFO); the zero value is none.
	NotifyFIFO, VRRPNotifyFIFO, LVSNotifyFIFO NotifyFIFO
	// VRRPNotifyPriorityChanges (keepalived's vrrp_notify_priority_changes)
	// writes a line to the VRRP FIFOs at every change of an instance's
	// priority, for the instances and sync groups that do not say
	// otherwise (see PriorityChanges).
	VRRPNotifyPriorityChanges bool
	// FIFOWriteVRRPStatesOnReload (keepalived's
	// fifo_write_vrrp_states_on_reload) writes every instance's and sync
	// group's state to the VRRP FIFOs after a reload.
	FIFOWriteVRRPStatesOnReload bool
	// SSL (keepalived's top-level SSL block) is the client certificate of
	// the SSL_GET checks; nil: none.
	SSL *SSLContext
	// StaticAddrs, StaticRoutes and StaticRules are keepalived's top-level
	// static_ipaddress, static_routes and static_rules: lines as
	// keepalived writes them (read by package iproute), added when `xlb
	// run` starts, whatever the VRRP states, and removed when it stops.
	StaticAddrs, StaticRoutes, StaticRules []string
	// sources maps the lines recorded in the configuration's Line fields
	// to files, for a keepalived.conf read with includes (nil otherwise).
	sources sourceMap
}

// Service is one virtual service (ipvsadm -A, keepalived virtual_server).
type Service struct {
	Name      string
	VIP       netip.Addr
	Port      uint16
	Protocol  Protocol
	Scheduler Scheduler
	Forward   Forward
	// TunnelType is the encapsulation of TUN forwarding (Forward TUN);
	// TunnelPort the real servers' UDP port with GUE (IPVS --tun-port).
	TunnelType TunnelType
	TunnelPort uint16
	// PersistenceTimeout > 0 sends every connection of one client IP to the
	// same real server while the client was seen within this window (ipvsadm -p).
	PersistenceTimeout time.Duration
	// PersistenceGranularity > 0 makes persistence hold for the client's
	// network of this prefix length instead of its address (ipvsadm -M,
	// keepalived persistence_granularity).
	PersistenceGranularity int
	// Timeouts override Config.Timeouts field by field where non-zero.
	Timeouts Timeouts
	// DelayLoop is the interval between health checks of each real server.
	DelayLoop time.Duration
	// ExpireNodestConn reschedules established flows of a failed or removed
	// real server instead of keeping them on it (IPVS expire_nodest_conn).
	ExpireNodestConn bool
	// InhibitOnFailure sets a failed real server's weight to 0 instead of
	// removing it (keepalived inhibit_on_failure).
	InhibitOnFailure bool
	// HashPort makes the mh and sh schedulers hash the client port too (ipvsadm mh-port / sh-port).
	HashPort bool
	// HASuspend pauses the service's health checks while the director
	// does not hold its VIP (keepalived ha_suspend): a VRRP VIP while its
	// instance is not master. Servers keep the state they had.
	HASuspend bool
	// OPS schedules every datagram of a UDP service on its own and
	// records no flow (ipvsadm -o, keepalived ops): for DNS-like traffic.
	OPS bool
	// NoAnnounce keeps the VIP out of BGP (YAML bgp_announce: false); the
	// zero value announces, so services built in code behave like the file.
	NoAnnounce  bool
	RealServers []RealServer
	// SorryServer (keepalived sorry_server) takes the service's new flows
	// while the service has lost its quorum; nil for none.
	SorryServer *SorryServer
	// Quorum is the sum of the weights of the real servers able to take
	// flows that the service needs (keepalived quorum; 0 means 1); it is
	// lost below Quorum-Hysteresis and gained again at Quorum+Hysteresis.
	// While it is lost the sorry server, if any, takes every new flow;
	// QuorumUp and QuorumDown run (sh -c) when it is gained and lost.
	Quorum, Hysteresis   int
	QuorumUp, QuorumDown string
	// QuorumUpUser and QuorumDownUser run those scripts as another user
	// than Config.ScriptUser (keepalived's "quorum_up SCRIPT USER [GROUP]").
	QuorumUpUser, QuorumDownUser ScriptUser
	// Line is where the service is defined in Source (0 when unknown).
	Line int
}

// SorryServer is keepalived's sorry_server: a server outside the pool that
// gets the new flows while no real server is up with a weight above 0
// (keepalived's default quorum of 1), typically to say "down for
// maintenance". It is never health-checked. While the pool can serve it
// takes no new flows and keeps its existing ones, as a real server that
// failed its check.
type SorryServer struct {
	Address netip.Addr
	Port    uint16 // the service port unless set (DR and TUN cannot change it)
	// Inhibit (keepalived sorry_server_inhibit) keeps it listed at weight
	// 0 while not needed instead of taking it out; its flows then stay even
	// with expire_nodest_conn.
	Inhibit bool
	// Forward is its own forwarding method, "" for the service's
	// (keepalived's sorry_server_lvs_method), and TunnelType its
	// encapsulation with its own Forward TUN.
	Forward    Forward
	TunnelType TunnelType
	TunnelPort uint16
	Line       int
}

// ForwardOf is how the service forwards to real server r: r's own method
// (ipvsadm's -g / -i are per real server, so is keepalived's lvs_method
// in a real_server), else the service's.
func (s *Service) ForwardOf(r RealServer) Forward {
	if r.Forward != "" {
		return r.Forward
	}
	return s.Forward
}

// SorryForward is how the service forwards to its sorry server.
func (s *Service) SorryForward() Forward {
	if s.SorryServer != nil && s.SorryServer.Forward != "" {
		return s.SorryServer.Forward
	}
	return s.Forward
}

// TunnelOf is the encapsulation of TUN forwarding to r and its GUE port:
// r's own with a method of its own (keepalived's "lvs_method TUN type gre"
// in a real_server), else the service's.
func (s *Service) TunnelOf(r RealServer) (TunnelType, uint16) {
	if r.Forward != "" {
		return r.TunnelType, r.TunnelPort
	}
	return s.TunnelType, s.TunnelPort
}

// SorryTunnel is TunnelOf for the sorry server.
func (s *Service) SorryTunnel() (TunnelType, uint16) {
	if s.SorryServer != nil && s.SorryServer.Forward != "" {
		return s.SorryServer.TunnelType, s.SorryServer.TunnelPort
	}
	return s.TunnelType, s.TunnelPort
}

// MaxWeight is the largest real-server weight, keepalived's and ipvsadm's
// 65535; checks that move a weight keep it within 0..MaxWeight.
const MaxWeight = 65535

// RealServer is one real server of a service (ipvsadm -a, keepalived real_server).
type RealServer struct {
	Address netip.Addr
	Port    uint16
	// Weight 0 means drain: no new flows, existing flows stay.
	Weight int
	Check  *Check
	// MoreChecks are further checks (keepalived's several checkers in a
	// real_server): the server is up only while Check and every one of
	// these pass.
	MoreChecks []Check
	// InhibitOnFailure is the service's InhibitOnFailure for this server
	// alone (keepalived's real_server inhibit_on_failure).
	InhibitOnFailure bool
	// UThreshold > 0 caps the server's connections, active and inactive
	// (keepalived uthreshold, ipvsadm -x): at the cap it takes no new flows
	// until they fall below LThreshold (lthreshold, -y; 0: three quarters
	// of UThreshold, as IPVS).
	UThreshold, LThreshold int
	// NotifyUp and NotifyDown (keepalived notify_up / notify_down) run
	// with /bin/sh -c when the health check takes the server up or down.
	NotifyUp, NotifyDown string
	// NotifyUpUser and NotifyDownUser run those scripts as another user
	// than Config.ScriptUser ("notify_up SCRIPT USER [GROUP]").
	NotifyUpUser, NotifyDownUser ScriptUser
	// Forward is the server's own forwarding method, "" for the
	// service's (see Service.ForwardOf): a service may send to some real
	// servers directly (DR) and tunnel to others (TUN), as IPVS does;
	// TunnelType and TunnelPort go with it (see Service.TunnelOf).
	Forward    Forward
	TunnelType TunnelType
	TunnelPort uint16
	Line       int
}

// NotifyFIFO is one of keepalived's notify FIFOs: "notify_fifo PATH [USER
// [GROUP]]" and "notify_fifo_script SCRIPT [USER [GROUP]]".
type NotifyFIFO struct {
	// Path is the FIFO, absolute; created with mode 0644 unless it exists.
	Path string
	// Owner, when set, is who the FIFO is chowned to.
	Owner ScriptUser
	// Script, when set, is started with the FIFO's path as its last
	// argument, to read it; ScriptUser runs it instead of the script_user
	// rules.
	Script     string
	ScriptUser ScriptUser
}

// IsZero says no FIFO is configured.
func (f NotifyFIFO) IsZero() bool { return f == NotifyFIFO{} }

// PriorityChanges says whether instance v's priority changes are written
// to the VRRP FIFOs: v's own notify_priority_changes when it has one, else
// that of the sync group it is in, else vrrp_notify_priority_changes
// (keepalived's precedence, vrrp.c: the instance, then its group, then the
// global default).
func (c *Config) PriorityChanges(v VRRPInstance) bool {
	if v.NotifyPriorityChanges != nil {
		return *v.NotifyPriorityChanges
	}
	for _, g := range c.VRRPSyncGroups {
		if g.NotifyPriorityChanges != nil && slices.Contains(g.Group, v.Name) {
			return *g.NotifyPriorityChanges
		}
	}
	return c.VRRPNotifyPriorityChanges
}

// LifeScript is a script run once at start or at stop, waited for and
// killed after Timeout (0: DefaultLifeScriptTimeout, keepalived's 10 s).
type LifeScript struct {
	Script  string
	User    ScriptUser // "": Config.ScriptUser's rules
	Timeout time.Duration
}

// TimeoutOrDefault is the time the script may take.
func (l LifeScript) TimeoutOrDefault() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultLifeScriptTimeout
}

// CheckType is a keepalived checker kind.
type CheckType string

const (
	TCPCheck   CheckType = "tcp"   // TCP_CHECK
	HTTPCheck  CheckType = "http"  // HTTP_GET
	HTTPSCheck CheckType = "https" // SSL_GET
	MiscCheck  CheckType = "misc"  // MISC_CHECK
	SMTPCheck  CheckType = "smtp"  // SMTP_CHECK
	UDPCheck   CheckType = "udp"   // UDP_CHECK
	PingCheck  CheckType = "ping"  // PING_CHECK
	DNSCheck   CheckType = "dns"   // DNS_CHECK
	FileCheck  CheckType = "file"  // FILE_CHECK
)

// CheckTypes lists every check type xlb implements, for messages.
var CheckTypes = []CheckType{TCPCheck, HTTPCheck, HTTPSCheck, MiscCheck, SMTPCheck, UDPCheck, PingCheck, DNSCheck, FileCheck}

// DNSQueryTypes are the query types keepalived's DNS_CHECK takes.
var DNSQueryTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

// IsHTTP says whether the check is an HTTP GET (plain or over TLS), the
// checks that take a path, status code, digest and virtual host.
func (t CheckType) IsHTTP() bool { return t == HTTPCheck || t == HTTPSCheck }

// Check is a real-server health check with keepalived's semantics.
type Check struct {
	Type CheckType
	// ConnectIP/ConnectPort override the real server's address/port for the check.
	ConnectIP      netip.Addr
	ConnectPort    uint16
	ConnectTimeout time.Duration
	// BindTo / BindPort are the source of the check's connections
	// (keepalived's bindto, bind_port); unset: the kernel's choice.
	BindTo   netip.Addr
	BindPort uint16
	// BindIf ties the check's sockets to one interface (keepalived's
	// bind_if: SO_BINDTODEVICE; what a link-local connect_ip needs).
	BindIf string
	// FWMark marks the check's packets (keepalived's fwmark: SO_MARK),
	// for policy routing of the checks.
	FWMark uint32
	// DelayLoop, when set, is this check's pause between checks instead
	// of the service's delay_loop.
	DelayLoop time.Duration
	// Retry is keepalived's nb_get_retry / retry: attempts before declaring failure.
	Retry            int
	DelayBeforeRetry time.Duration
	// HTTP_GET and SSL_GET
	Path        string
	StatusCodes StatusCodes // accepted answers (none: any 2xx)
	Digest      string      // hex MD5 of the body, as keepalived's genhash prints; empty = not checked
	// VirtualHost is sent as the Host header (keepalived's virtualhost);
	// empty: the address connected to.
	VirtualHost string
	Regex       URLRegex // the body must (or must not) match; zero = not checked
	// MoreURLs are further urls to fetch (keepalived's several url
	// blocks): the check passes only when every one does. Path,
	// StatusCodes, Digest, VirtualHost and Regex above are the first.
	MoreURLs []CheckURL
	// EnableSNI (SSL_GET) names VirtualHost in the TLS handshake too.
	EnableSNI bool
	// MISC_CHECK
	Script  string
	Timeout time.Duration
	// Dynamic (keepalived's misc_dynamic): the script's exit status sets
	// the server's weight: 0 success (weight unchanged), 1 failure,
	// 2..255 success with weight status-2.
	Dynamic bool
	// User runs the script as this user instead of Config.ScriptUser
	// (keepalived's user in a MISC_CHECK).
	User ScriptUser
	// SMTP_CHECK: HeloName is the name sent with HELO (keepalived's
	// helo_name; the parsers fill DefaultHeloName).
	HeloName string
	// UDP_CHECK: Payload is the datagram sent, in keepalived's hex
	// notation ("" sends keepalived's default 32 bytes). With
	// RequireReply, no reply within ConnectTimeout fails the check; a
	// ReplyPattern (hex, X for a nibble that may be anything) must then
	// match the reply's first bytes, and its length be within
	// MinReplyLength..MaxReplyLength (checked only with a pattern, as
	// keepalived does; the parsers fill DefaultMaxReplyLength). Without RequireReply only an ICMP unreachable
	// fails it.
	Payload                        string
	RequireReply                   bool
	ReplyPattern                   string
	MinReplyLength, MaxReplyLength int
	// DNS_CHECK: QueryType (one of DNSQueryTypes) and QueryName are the
	// question asked (keepalived's type and name; the parsers fill SOA and
	// ".").
	QueryType, QueryName string
	// FILE_CHECK: TrackFile names the VRRPTrackFile whose value moves the
	// server (see FileEffective for the rule). FileWeight and FileReverse,
	// when FileWeightSet, replace the track file's weight and reverse
	// (keepalived's "weight W [reverse]" in the FILE_CHECK). A file check
	// has none of the other settings: it is not polled but follows the
	// file, and it is up or down at once, without rise or fall.
	TrackFile     string
	FileWeight    int
	FileWeightSet bool
	FileReverse   bool
	// Rise consecutive successes mark a down server up; Fall consecutive
	// failed checks (each already retried Retry times) mark an up server down.
	Rise int
	Fall int
	Line int
}

// VRRPInstance is a keepalived vrrp_instance.
type VRRPInstance struct {
	Name            string
	State           string // MASTER or BACKUP (initial state)
	Interface       string
	VirtualRouterID int
	Priority        int
	AdvertInterval  time.Duration
	Version         int // 2 or 3
	Preempt         bool
	PreemptDelay    time.Duration
	AuthType        string // "" or "PASS"
	AuthPass        string
	VirtualAddrs    []netip.Addr
	// TrackInterfaces are track_interface: down, one of weight 0 puts the
	// instance in FAULT; one with a weight moves the priority instead.
	TrackInterfaces []TrackInterface
	// DontTrackPrimary (keepalived's dont_track_primary): a down
	// Interface does not put the instance in FAULT, only TrackInterfaces.
	DontTrackPrimary bool
	// PromoteSecondaries (keepalived's promote_secondaries) sets
	// net.ipv4.conf.INTERFACE.promote_secondaries to 1 while the instance
	// runs, so removing the VIP the kernel holds as a subnet's primary
	// address promotes the other addresses of that subnet instead of
	// deleting them with it; the value found is restored at a clean stop.
	PromoteSecondaries bool
	// ExcludedAddrs (virtual_ipaddress_excluded) move with mastership
	// like VirtualAddrs but are not listed in the adverts.
	ExcludedAddrs []netip.Addr
	// VirtualRoutes and VirtualRules (virtual_routes, virtual_rules) are
	// route and rule lines as keepalived writes them (read by package
	// iproute), added when the instance becomes master, after its
	// addresses, and removed when it leaves mastership, before them.
	VirtualRoutes, VirtualRules []string
	// UnicastPeers, when set, get the adverts instead of the multicast
	// group, and only theirs are heard (keepalived unicast_peer); they go
	// from UnicastSrcIP when set (unicast_src_ip), else from the
	// interface's primary address.
	UnicastSrcIP netip.Addr
	UnicastPeers []netip.Addr
	// TrackScripts name VRRPScripts whose results move this instance's
	// priority or put it in FAULT (keepalived track_script).
	TrackScripts []TrackScript
	// TrackFiles name VRRPTrackFiles whose values move this instance's
	// priority or put it in FAULT (keepalived track_file).
	TrackFiles []TrackFile
	// TrackProcesses name VRRPTrackProcesses whose quorum moves this
	// instance's priority or puts it in FAULT (keepalived track_process).
	TrackProcesses []TrackProcess
	// Notify (keepalived's notify) runs at every state change with the
	// arguments INSTANCE NAME STATE PRIORITY (STATE one of MASTER, BACKUP,
	// FAULT, or STOP when xlb stops).
	Notify       string
	NotifyMaster string
	NotifyBackup string
	NotifyFault  string
	// NotifyStop runs when xlb stops the instance (not at a restart in
	// place, which keeps its VIPs).
	NotifyStop string
	// NotifyMasterRxLowerPri (keepalived's notify_master_rx_lower_pri)
	// runs, without arguments, when the instance is master and hears an
	// advert of a lower priority (another director that became master
	// meanwhile, whose notify_master may have moved the addresses).
	NotifyMasterRxLowerPri string
	// NotifyPriorityChanges (keepalived's notify_priority_changes), when
	// set, says whether the instance's priority changes are written to the
	// VRRP FIFOs; nil: as its sync group or the global default say (see
	// Config.PriorityChanges).
	NotifyPriorityChanges *bool
	// NotifyUsers are who the notify scripts run as when not
	// Config.ScriptUser ("notify_master SCRIPT USER [GROUP]").
	NotifyUsers NotifyUsers
	// GARP is when a master announces its addresses (keepalived's garp_*):
	// the global defaults filled in for what the instance leaves out.
	GARP GARP

	// DownTimerAdverts is how many of the master's advert intervals a
	// backup waits (plus Skew_Time) before it takes over: keepalived's
	// down_timer_adverts, the RFCs' 3 by default (0 means 3 too).
	DownTimerAdverts int

	// LowerPrioNoAdvert (keepalived's lower_prio_no_advert, default
	// global_defs' vrrp_lower_prio_no_advert) keeps a master quiet when
	// it hears a lower priority, as the RFCs say. Without it a master
	// answers such an advert at once with its own, as keepalived does by
	// default, so the other one yields without waiting for the next one.
	LowerPrioNoAdvert bool
	// HigherPrioSendAdvert (keepalived's higher_prio_send_advert, default
	// vrrp_higher_prio_send_advert) makes a master that hears a higher
	// priority send one advert of its own before it becomes backup: the
	// other master's garp_lower_prio_repeat then announces the VIPs again,
	// after a split brain in which this one's gratuitous ARPs came last.
	HigherPrioSendAdvert bool
	// UnicastTTL (keepalived's unicast_ttl, 1..255; 0: 255) is the TTL of
	// the adverts sent to UnicastPeers. Adverts from unicast peers are
	// heard whatever their TTL, as keepalived hears them (routed unicast
	// VRRP); multicast ones must still arrive with 255.
	UnicastTTL int
	// UnicastFaultNoPeer (keepalived's unicast_fault_no_peer) keeps an
	// instance without UnicastPeers in FAULT instead of running it over
	// multicast.
	UnicastFaultNoPeer bool
	// TrackSrcIP (keepalived's track_src_ip) puts the instance in FAULT
	// while UnicastSrcIP is not an address of its interface (it may be
	// missing at the start too), and out of it when the address is back.
	// Without it a missing unicast_src_ip only makes the adverts fail, as
	// in keepalived. (Without unicast_src_ip the source follows the
	// interface anyway: FAULT while it has no address, the next primary
	// address once the one in use is removed.)
	TrackSrcIP bool
	// UnicastChecksum is how an IPv4 VRRPv3 instance with unicast peers
	// checksums its adverts. keepalived before 1.3.6 put the multicast
	// group in the pseudo-header in place of the peer's address; keepalived
	// 2 checks a failing checksum again that way and, if it then holds,
	// keeps to the old form from then on. "" (auto): that, as keepalived
	// does by default; "old" (keepalived's old_unicast_checksum): the old
	// form from the start; "standard" (old_unicast_checksum never): the
	// RFC's, never switching.
	UnicastChecksum string
	// McastDstIP (keepalived's mcast_dst_ip; default global_defs'
	// vrrp_mcast_group4 or vrrp_mcast_group6, else 224.0.0.18 or
	// ff02::12) is the group the adverts go to and are heard on; adverts
	// to another group are not this instance's.
	McastDstIP netip.Addr
	// KernelRxBufSize (keepalived's kernel_rx_buf_size; 0: the system's)
	// is the VRRP socket's receive buffer (SO_RCVBUF), in bytes.
	KernelRxBufSize int

	// UseVMAC (keepalived's use_vmac) puts the VIPs on a macvlan
	// interface on top of Interface whose MAC is the VRRP virtual MAC
	// 00:00:5e:00:01:VRID: a failover moves the MAC with the addresses,
	// so the neighbours' ARP caches need no update. The interface is
	// VMACName, or vrrp.VRID when empty (see VMACInterface).
	UseVMAC  bool
	VMACName string
	// VMACXmitBase (keepalived's vmac_xmit_base) sends and hears the
	// adverts on Interface, with its own MAC, instead of on the VMAC
	// interface.
	VMACXmitBase bool

	Line int
}

// VMACInterface is the name of v's VMAC interface, "" without use_vmac.
func (v *VRRPInstance) VMACInterface() string {
	switch {
	case !v.UseVMAC:
		return ""
	case v.VMACName != "":
		return v.VMACName
	}
	return fmt.Sprintf("vrrp.%d", v.VirtualRouterID)
}

// GARP is keepalived's timing of the gratuitous ARPs (IPv4) and unsolicited
// neighbour advertisements (IPv6) a VRRP master sends so that switches and
// neighbours learn its MAC for the VIPs. A burst is Repeat packets per
// address, sent round by round.
type GARP struct {
	// MasterDelay (garp_master_delay) sends a second burst this long after
	// becoming master, for switches that were still learning; 0: none.
	MasterDelay time.Duration
	// MasterRepeat (garp_master_repeat) is the size of the bursts at and
	// MasterDelay after becoming master.
	MasterRepeat int
	// MasterRefresh (garp_master_refresh) re-announces, at the first
	// advert at least this long after the last burst, while master; 0: never.
	MasterRefresh       time.Duration
	MasterRefreshRepeat int // garp_master_refresh_repeat
	// LowerPrioRepeat (garp_lower_prio_repeat) packets per address go out
	// when a master hears a lower-priority advert (a second master whose
	// MAC the network may have learnt), and again LowerPrioDelay
	// (garp_lower_prio_delay) later unless 0. Repeat 0: none.
	LowerPrioDelay  time.Duration
	LowerPrioRepeat int
	// Interval (garp_interval) and NAInterval (gna_interval) space every
	// two gratuitous ARPs or unsolicited NAs, for switches that drop a
	// flood of them; 0: a burst goes at once.
	Interval, NAInterval time.Duration
}

// VRRPScript is keepalived's vrrp_script: a command run every Interval
// whose exit status (0 = success, within Timeout) changes the priority of
// the instances tracking it. With Weight 0 a failed script puts them in
// FAULT; a positive weight is added to the priority while the script
// succeeds, a negative one while it fails.
type VRRPScript struct {
	Name     string
	Script   string
	Interval time.Duration
	Timeout  time.Duration
	Weight   int
	// Reverse (keepalived's "weight W reverse") turns the weight's
	// direction round: see TrackScript.Effective.
	Reverse bool
	// Rise consecutive successes make a failed script good again, Fall
	// consecutive failures make a good one failed.
	Rise, Fall int
	// InitFail starts the script failed (keepalived init_fail) instead of
	// good until its results say otherwise.
	InitFail bool
	// User runs the script as this user instead of Config.ScriptUser
	// (keepalived's user in a vrrp_script).
	User ScriptUser
	Line int
}

// ScriptUser is who a script runs as: keepalived's "USERNAME [GROUPNAME]"
// of script_user and user. An empty Group is the user's primary group;
// the zero value means "not set here".
type ScriptUser struct {
	User, Group string
}

// IsZero says the user is not set.
func (u ScriptUser) IsZero() bool { return u.User == "" && u.Group == "" }

// String is keepalived's spelling: "USER" or "USER GROUP".
func (u ScriptUser) String() string {
	if u.Group == "" {
		return u.User
	}
	return u.User + " " + u.Group
}

// TrackScript is one entry of an instance's track_script.
type TrackScript struct {
	Name string
	// Weight, when WeightSet, replaces the script's weight for this
	// instance ("track_script { chk weight -20 }").
	Weight    int
	WeightSet bool
	// Reverse, when ReverseSet, replaces the script's reverse ("chk
	// weight -20 reverse" or "noreverse"); unset, the script's applies
	// even when the entry sets its own weight, as in keepalived.
	Reverse    bool
	ReverseSet bool
}

// Effective is the weight and direction the entry tracks sc with: the
// entry's own where it sets them, else the script's.
//
// keepalived's meaning, which xlb follows: a positive weight is added
// while the script succeeds, a negative one while it fails, nothing
// otherwise; reverse negates what is added, in the same states (weight 10
// reverse: -10 while it succeeds; weight -10 reverse: +10 while it fails).
// Weight 0 faults the instance while the script fails, or with reverse
// while it succeeds. (keepalived 2.2.7's man page only says "reverse causes
// the direction of the adjustment of the priority to be reversed"; the
// states are from its source, vrrp_track.c, and a run of 2.2.7.)
func (t TrackScript) Effective(sc VRRPScript) (weight int, reverse bool) {
	return t.over(sc.Weight, sc.Reverse)
}

// over is the entry's own weight and reverse where it sets them, else the
// tracked object's (TrackFile and TrackProcess share the layout).
func (t TrackScript) over(weight int, reverse bool) (int, bool) {
	if t.WeightSet {
		weight = t.Weight
	}
	if t.ReverseSet {
		reverse = t.Reverse
	}
	return weight, reverse
}

// VRRPTrackFile is keepalived's track_file (vrrp_track_file is its older
// name): a file holding an integer, read again whenever a writer closes
// it, renames a file onto it or removes it (keepalived's inotify events).
// For an instance tracking it with weight 0, a non-zero value is a FAULT
// (with reverse, zero is); otherwise value × weight (negated with
// reverse) is added to the priority, and a result of -254 or less is a
// FAULT. A missing, unreadable or empty file reads as 0, text that is no
// number as 0 (keepalived's strtol: leading digits count, 0x is hex, a
// leading 0 octal), a number beyond 32 bits leaves the last value.
type VRRPTrackFile struct {
	Name string
	File string // an absolute path; its directory must exist
	// Weight is the default for the instances tracking the file (1 unless
	// set; -254..254).
	Weight  int
	Reverse bool
	// InitFile (keepalived's init_file [VALUE] [overwrite]) writes
	// InitValue to File when xlb starts or reloads and the file is
	// missing; InitOverwrite also replaces an existing file's value when
	// xlb starts (not at a reload, as keepalived).
	InitFile      bool
	InitValue     int
	InitOverwrite bool
	Line          int
}

// TrackFile is one entry of an instance's track_file.
type TrackFile struct {
	Name string
	// Weight and Reverse, when set, replace the file's for this instance
	// ("track_file { f weight -5 reverse }").
	Weight     int
	WeightSet  bool
	Reverse    bool
	ReverseSet bool
}

// Effective is the weight and direction the entry tracks f with: the
// entry's own where it sets them, else the file's.
func (t TrackFile) Effective(f VRRPTrackFile) (weight int, reverse bool) {
	return TrackScript(t).over(f.Weight, f.Reverse)
}

// ParamMatch is how a track process compares the parameters of a
// command line (keepalived's param_match).
type ParamMatch string

const (
	// ParamNone compares only the process name (or argv[0]).
	ParamNone ParamMatch = ""
	// ParamExact wants exactly the configured parameters (none when none
	// are configured): keepalived's default once parameters are given,
	// and its bare "param_match".
	ParamExact ParamMatch = "exact"
	// ParamPartial wants the configured parameters first; more may follow.
	ParamPartial ParamMatch = "partial"
	// ParamInitial is ParamPartial, the last configured parameter being
	// only a prefix of the process's.
	ParamInitial ParamMatch = "initial"
)

// VRRPTrackProcess is keepalived's vrrp_track_process: the processes
// matching Process (and Params) are counted, and the process is up while
// the count is within Quorum..QuorumMax. For an instance tracking it with
// weight 0 a process that is down is a FAULT (with reverse, one that is
// up is); otherwise the weight moves the priority as a vrrp_script's does
// (a positive weight is added while up, a negative one while down;
// reverse negates it).
//
// Matching is keepalived's, exact (no pattern): Process is compared with
// the process name, /proc/PID/comm (at most 15 characters), unless
// FullCommand, when it is compared with the command line's first word
// (argv[0]) and Params with the words after it as ParamMatch says.
// Parameters, or a param_match, turn FullCommand on (keepalived's rule).
type VRRPTrackProcess struct {
	Name       string
	Process    string
	Params     []string
	ParamMatch ParamMatch
	// Weight is the default for the instances tracking it (keepalived
	// 2.2.7's default is 0, whatever its manual says; -254..254).
	Weight  int
	Reverse bool
	// Quorum is the fewest matching processes that count as up (default
	// 1); QuorumMax, when HasQuorumMax, the most (keepalived's
	// quorum_max; 0 means up only while none runs, and sets Quorum to 0).
	Quorum       int
	QuorumMax    int
	HasQuorumMax bool
	// ForkDelay delays the up (or, above QuorumMax, the down) that a fork
	// of a counted process brings; TerminateDelay the change an exit
	// brings. A change undone within the delay is never seen (a daemon
	// restarting, or forking a worker). keepalived's delay sets both.
	ForkDelay, TerminateDelay time.Duration
	FullCommand               bool
	Line                      int
}

// Normalize applies keepalived's implied settings: parameters without a
// param_match are matched exactly, parameters or a param_match compare
// the full command line, and quorum_max 0 lowers the default quorum to 0.
func (tp *VRRPTrackProcess) Normalize() {
	if len(tp.Params) > 0 && tp.ParamMatch == ParamNone {
		tp.ParamMatch = ParamExact
	}
	if tp.ParamMatch != ParamNone {
		tp.FullCommand = true
	}
	if tp.HasQuorumMax && tp.QuorumMax == 0 && tp.Quorum <= 1 {
		tp.Quorum = 0
	}
}

// TrackProcess is one entry of an instance's track_process.
type TrackProcess struct {
	Name string
	// Weight and Reverse, when set, replace the process's for this
	// instance ("track_process { p weight -5 reverse }").
	Weight     int
	WeightSet  bool
	Reverse    bool
	ReverseSet bool
}

// Effective is the weight and direction the entry tracks tp with: the
// entry's own where it sets them, else the process's.
func (t TrackProcess) Effective(tp VRRPTrackProcess) (weight int, reverse bool) {
	return TrackScript(t).over(tp.Weight, tp.Reverse)
}

// FileEffective is the weight and direction a FILE_CHECK follows f with:
// its own when it sets a weight (then reverse only if it says so, as in
// keepalived 2.2.7), else the track file's.
//
// keepalived's rule for real servers, which xlb follows: with weight 0 a
// non-zero value takes the server down (with reverse, zero does);
// otherwise value × weight (negated with reverse), kept within 32 bits, is
// added to the server's weight, the sum kept within 0..65535 (0: drained,
// still up), and a product of -2147483648 or less takes the server down.
func (ck Check) FileEffective(f VRRPTrackFile) (weight int, reverse bool) {
	if ck.FileWeightSet {
		return ck.FileWeight, ck.FileReverse
	}
	return f.Weight, f.Reverse
}

// BGP configures the director's BGP speaker: it announces each service VIP
// as a host route (/32, /128) with itself as next hop while the service has
// a real server to send flows to, so routers spread clients over every
// director by ECMP (the seed's "LVS + OSPF cluster", with BGP).
type BGP struct {
	// RouterID defaults to the director's IPv4 address on its interface.
	RouterID netip.Addr
	LocalASN uint32
	// ListenPort is where the speaker accepts sessions: 179 by default,
	// -1 for none (only outgoing sessions).
	ListenPort int
	// NextHop defaults to the director's address on its interface (of the
	// VIP's family).
	NextHop netip.Addr
	// Communities are attached to every announcement: "ASN:VALUE" or a
	// well-known name (no-export, no-advertise, no-peer, blackhole).
	Communities []string
	Peers       []BGPPeer
	Line        int
}

// BGPPeer is one router the speaker talks to.
type BGPPeer struct {
	Address netip.Addr
	ASN     uint32
	// Port is the peer's BGP port (default 179).
	Port uint16
	// HoldTime: a peer that dies is noticed, and its routes through this
	// director dropped, after this long (RFC 4271 default 90 s; 0 or >= 3 s).
	HoldTime time.Duration
	// KeepaliveInterval defaults to a third of HoldTime.
	KeepaliveInterval time.Duration
	// ConnectRetry is the wait between connection attempts (default 5 s,
	// shorter than gobgp's 120 s so a restarted router is found quickly).
	ConnectRetry time.Duration
	// Passive waits for the peer to connect instead of connecting.
	Passive bool
	Line    int
}

// ServiceTimeouts are the idle timeouts in force for s: its own where set,
// the configuration's otherwise.
func (c *Config) ServiceTimeouts(s Service) Timeouts {
	t := s.Timeouts
	if t.TCP == 0 {
		t.TCP = c.Timeouts.TCP
	}
	if t.TCPFin == 0 {
		t.TCPFin = c.Timeouts.TCPFin
	}
	if t.UDP == 0 {
		t.UDP = c.Timeouts.UDP
	}
	return t
}

// VRRPSyncGroup is keepalived's vrrp_sync_group: its instances are Master,
// Backup or in FAULT together, so addresses that only work together are
// held by one director (see vrrp.SyncGroup for the rules).
type VRRPSyncGroup struct {
	Name string
	// Group names the member vrrp instances.
	Group []string
	// Notify scripts run when the group as a whole becomes Master (every
	// member), Backup (every member) or enters FAULT (any member); Notify
	// at each of those with the arguments GROUP NAME STATE.
	Notify       string
	NotifyMaster string
	NotifyBackup string
	NotifyFault  string
	// NotifyUsers are who they run as when not Config.ScriptUser (its
	// Stop is unused: xlb has no notify_stop for groups).
	NotifyUsers NotifyUsers
	// NotifyPriorityChanges, when set, is the notify_priority_changes of
	// the members that do not set their own (see Config.PriorityChanges).
	NotifyPriorityChanges *bool
	// TrackInterfaces, TrackScripts, TrackFiles and TrackProcesses are the
	// group's own track_interface, track_script, track_file and
	// track_process: every member tracks them as its own, weights
	// included (see Config.MemberTracking).
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
	TrackFiles      []TrackFile
	TrackProcesses  []TrackProcess
	// TrackingWeight (keepalived's sync_group_tracking_weight) lets the
	// members' own weighted track_interface, track_script and track_file
	// entries move their priorities. Without it keepalived 2.2.7 drops a
	// member's weighted scripts and files and tracks its weighted
	// interfaces with weight 0; xlb refuses them instead (a keepalived.conf
	// is read as keepalived reads it, with warnings). A member's weighted
	// track_process applies either way, as it does in keepalived 2.2.7.
	TrackingWeight bool
	Line           int
}

// MemberTracking is v with the tracking of its sync group added, as
// keepalived 2.2.7 gives a group's track_interface, track_script,
// track_file and track_process to each member: a weighted entry moves
// every member's priority, a weight-0 one faults a member and so the
// group. A group entry naming what v tracks itself is left out for v, v's
// own entry applying (keepalived: "track_script chk is configured on VRRP
// instance and sync group"; counted once, with v's weight); so is a
// track_interface of v's own interface, which v follows already, unless v
// has dont_track_primary (then keepalived adds it, weight and all).
// v.Interface must be set. Outside a group v is returned as it is; the
// merged slices never share the configuration's arrays.
func (c *Config) MemberTracking(v VRRPInstance) VRRPInstance {
	for i := range c.VRRPSyncGroups {
		if g := &c.VRRPSyncGroups[i]; slices.Contains(g.Group, v.Name) {
			return g.merge(v, func(string, int, bool) {})
		}
	}
	return v
}

// merge adds g's tracking to member v (see Config.MemberTracking), calling
// skipped with the kind ("track_script") and index of each group entry
// left out for v; ownIface says it names v's own interface.
func (g *VRRPSyncGroup) merge(v VRRPInstance, skipped func(kind string, n int, ownIface bool)) VRRPInstance {
	ifaces := map[string]bool{}
	for _, t := range v.TrackInterfaces {
		ifaces[t.Name] = true
	}
	v.TrackInterfaces = mergeNamed(v.TrackInterfaces, g.TrackInterfaces, func(t TrackInterface) string { return t.Name },
		func(name string, n int) bool {
			own := name == v.Interface && !v.DontTrackPrimary
			if own || ifaces[name] {
				skipped("track_interface", n, own && !ifaces[name])
				return true
			}
			return false
		})
	v.TrackScripts = mergeEntries(v.TrackScripts, g.TrackScripts, "track_script", func(t TrackScript) string { return t.Name }, skipped)
	v.TrackFiles = mergeEntries(v.TrackFiles, g.TrackFiles, "track_file", func(t TrackFile) string { return t.Name }, skipped)
	v.TrackProcesses = mergeEntries(v.TrackProcesses, g.TrackProcesses, "track_process", func(t TrackProcess) string { return t.Name }, skipped)
	return v
}

// tracking points at the tracking of an instance or a sync group, for the
// code that reads, writes and checks both alike.
type tracking struct {
	ifaces  *[]TrackInterface
	scripts *[]TrackScript
	files   *[]TrackFile
	procs   *[]TrackProcess
}

func (v *VRRPInstance) tracking() tracking {
	return tracking{&v.TrackInterfaces, &v.TrackScripts, &v.TrackFiles, &v.TrackProcesses}
}

func (g *VRRPSyncGroup) tracking() tracking {
	return tracking{&g.TrackInterfaces, &g.TrackScripts, &g.TrackFiles, &g.TrackProcesses}
}

// trackedNames are the vrrp_scripts, track_files and vrrp_track_processes
// some instance or sync group tracks.
func (c *Config) trackedNames() (scripts, files, procs map[string]bool) {
	scripts, files, procs = map[string]bool{}, map[string]bool{}, map[string]bool{}
	all := make([]tracking, 0, len(c.VRRP)+len(c.VRRPSyncGroups))
	for i := range c.VRRP {
		all = append(all, c.VRRP[i].tracking())
	}
	for i := range c.VRRPSyncGroups {
		all = append(all, c.VRRPSyncGroups[i].tracking())
	}
	for _, t := range all {
		for _, e := range *t.scripts {
			scripts[e.Name] = true
		}
		for _, e := range *t.files {
			files[e.Name] = true
		}
		for _, e := range *t.procs {
			procs[e.Name] = true
		}
	}
	return scripts, files, procs
}

// mergeEntries appends to own the entries of group naming nothing own
// names, reporting the others to skipped.
func mergeEntries[T any](own, group []T, kind string, name func(T) string, skipped func(string, int, bool)) []T {
	has := map[string]bool{}
	for _, t := range own {
		has[name(t)] = true
	}
	return mergeNamed(own, group, name, func(n string, i int) bool {
		if has[n] {
			skipped(kind, i, false)
		}
		return has[n]
	})
}

// mergeNamed appends to a copy of own the entries of group that skip does
// not refuse (skip gets each entry's name and index).
func mergeNamed[T any](own, group []T, name func(T) string, skip func(string, int) bool) []T {
	if len(group) == 0 {
		return own
	}
	out := slices.Clone(own)
	for i, t := range group {
		if !skip(name(t), i) {
			out = append(out, t)
		}
	}
	return out
}

// NotifyUsers are the users of a VRRP instance's or sync group's notify
// scripts, each the zero ScriptUser unless the script names one.
type NotifyUsers struct {
	Notify, Master, Backup, Fault, Stop ScriptUser
	// MasterRxLowerPri is notify_master_rx_lower_pri's (instances only).
	MasterRxLowerPri ScriptUser
}

// CheckURL is one url of an HTTP or HTTPS check: what to fetch and which
// answer passes (see Check's fields of the same names).
type CheckURL struct {
	Path        string
	StatusCodes StatusCodes
	Digest      string
	VirtualHost string
	Regex       URLRegex
}

// URLs is every url of an HTTP or HTTPS check, the first one first.
func (ck *Check) URLs() []CheckURL {
	return append([]CheckURL{ck.FirstURL()}, ck.MoreURLs...)
}

// FirstURL is the url held in the check's own fields.
func (ck *Check) FirstURL() CheckURL {
	return CheckURL{Path: ck.Path, StatusCodes: ck.StatusCodes, Digest: ck.Digest, VirtualHost: ck.VirtualHost, Regex: ck.Regex}
}

// SetFirstURL stores u in the check's own fields, the one place that
// lists them, so a new url field cannot be dropped on the way in.
func (ck *Check) SetFirstURL(u CheckURL) {
	ck.Path, ck.StatusCodes, ck.Digest, ck.VirtualHost, ck.Regex = u.Path, u.StatusCodes, u.Digest, u.VirtualHost, u.Regex
}

// Checks is every health check of the real server, Check first; none when
// it has no check (it is then always up).
func (r *RealServer) Checks() []*Check {
	if r.Check == nil {
		return nil
	}
	out := []*Check{r.Check}
	for i := range r.MoreChecks {
		out = append(out, &r.MoreChecks[i])
	}
	return out
}

// URLField is the field path of a check's n-th url (0-based), as parsers
// and validation name it: the check's own fields for the first, then
// ck.urls[1], ….
func URLField(ck string, n int) string {
	if n == 0 {
		return ck
	}
	return fmt.Sprintf("%s.urls[%d]", ck, n)
}

// CheckField is the field path of a real server's n-th check (0-based),
// as parsers and validation name it: rp.check, then rp.checks[1], ….
func CheckField(rp string, n int) string {
	if n == 0 {
		return rp + ".check"
	}
	return fmt.Sprintf("%s.checks[%d]", rp, n)
}

// TrackInterface is a tracked interface (keepalived's track_interface
// { IF [weight W [reverse]] }): with weight 0 its loss is a FAULT; else a
// negative W is added to the priority while it is down, a positive one
// while it is up. Reverse negates what is added, in the same states
// (weight 10 reverse: -10 while up; weight -10 reverse: +10 while down),
// and with weight 0 makes the interface being up the FAULT (keepalived's
// source and a run of 2.2.7; its man page only says the direction of the
// adjustment is reversed).
type TrackInterface struct {
	Name    string
	Weight  int
	Reverse bool
}

// FaultInterfaces are the names of the tracked interfaces of weight 0
// without reverse (those whose loss faults the instance).
func (v *VRRPInstance) FaultInterfaces() []string {
	var out []string
	for _, t := range v.TrackInterfaces {
		if t.Weight == 0 && !t.Reverse {
			out = append(out, t.Name)
		}
	}
	return out
}

// UpFaultInterfaces are the tracked interfaces of weight 0 with reverse:
// while one is up the instance is in FAULT.
func (v *VRRPInstance) UpFaultInterfaces() []string {
	var out []string
	for _, t := range v.TrackInterfaces {
		if t.Weight == 0 && t.Reverse {
			out = append(out, t.Name)
		}
	}
	return out
}

// GARPGroup is keepalived's garp_group: interfaces whose gratuitous ARPs
// go at least Interval apart and unsolicited NAs NAInterval apart, taken
// together, whichever VRRP instance (or VMAC on them) sends them. Elsewhere
// each interface is paced alone, by the instance's garp_interval and
// gna_interval. As in keepalived, the group's intervals replace those on
// its interfaces: one left 0 spaces nothing there, whatever
// vrrp_garp_interval says.
type GARPGroup struct {
	Interval, NAInterval time.Duration
	Interfaces           []string
	Line                 int
}

// GARPGroupOf returns the garp_group of interface iface, or nil.
func (c *Config) GARPGroupOf(iface string) *GARPGroup {
	for i := range c.GARPGroups {
		if slices.Contains(c.GARPGroups[i].Interfaces, iface) {
			return &c.GARPGroups[i]
		}
	}
	return nil
}

// InterfaceDelay is one interface_up_down_delays entry ("eth1 2 3"): the
// VRRP instances see the interface go down only once it has been down
// for Down, and come back up only once it has been up for Up (keepalived
// 2.2.7, checked by running it: a change undone within its delay is never
// seen; a single value sets Down, Up staying 0).
type InterfaceDelay struct {
	Interface string
	Down, Up  time.Duration
	Line      int
}
