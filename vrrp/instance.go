package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
)

// State is a VRRP instance state. Fault is keepalived's extra state for "a
// tracked interface is down": the instance holds no VIPs and stays out of
// elections until the interface returns.
type State int

const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Priority values with special meaning (RFC 5798 §5.2.4).
const (
	PriorityStop  = 0   // the master is leaving: backups take over after Skew_Time
	PriorityOwner = 255 // the address owner: becomes master at once
)

// GroupIPv4 returns the VRRP IPv4 multicast group 224.0.0.18 (a function
// because netip.Addr cannot be a constant).
func GroupIPv4() netip.Addr { return netip.AddrFrom4([4]byte{224, 0, 0, 18}) }

// VIPOwner adds and removes the virtual addresses; *vip.Owner satisfies it.
// Acquire must also announce the addresses (gratuitous ARP / NA), with
// garp_master_repeat packets each (the caller sets the owner up so).
type VIPOwner interface {
	Acquire(addrs ...netip.Addr) error
	Release(addrs ...netip.Addr) error
}

// RouteOwner adds and removes what else mastership holds: keepalived's
// virtual_routes and virtual_rules. *iproute.Set satisfies it.
type RouteOwner interface {
	Acquire() error
	Release() error
}

// Announcer is a VIPOwner that can announce held addresses again, n packets
// each: the later bursts of keepalived's garp_master_delay,
// garp_master_refresh and garp_lower_prio_*. *vip.Owner satisfies it; an
// owner without it gets only the burst of Acquire.
type Announcer interface {
	AnnounceN(n int, addrs ...netip.Addr) error
}

// Packet is one received IP datagram carrying VRRP.
type Packet struct {
	Data []byte // the VRRP message (IP header stripped)
	Src  netip.Addr
	Dst  netip.Addr
	TTL  int // IP TTL / hop limit as received; 255 unless from a unicast peer
}

// Transport sends and receives VRRP messages on one interface.
type Transport interface {
	// Send transmits an encoded message to Group from LocalAddr with TTL 255.
	Send(msg []byte) error
	// Receive blocks until a packet arrives, ctx ends, or the transport is
	// closed.
	Receive(ctx context.Context) (Packet, error)
	// LocalAddr is the interface's primary address: the packets' source,
	// the pseudo-header source, and the tie-breaker between equal priorities.
	LocalAddr() netip.Addr
	// Group is the destination (224.0.0.18 or ff02::12 unless mcast_dst_ip).
	Group() netip.Addr
	Close() error
}

// Unicaster is a Transport that sends each advert to a list of peers
// instead of the group (keepalived unicast_peer), for networks without
// multicast. The VRRPv3 checksum covers the destination, so every peer
// gets its own encoding.
type Unicaster interface {
	Peers() []netip.Addr
	SendTo(msg []byte, dst netip.Addr) error
}

// Clock is the time source of an Instance, injectable for tests.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once after d, and a stop func.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// linkEventGap is the least time between two checks that link and address
// events trigger.
const linkEventGap = 20 * time.Millisecond

// LinkStateFunc reports whether an interface is usable (administratively up
// and with carrier). An error means "unknown": the poll is skipped rather
// than faulting the instance on a transient netlink failure.
type LinkStateFunc func(name string) (bool, error)

// ScriptRunner runs a notify script as cred; the default runs it with
// /bin/sh -c.
type ScriptRunner func(ctx context.Context, script string, env []string, cred runas.Cred) error

// Stats are an instance's counters.
type Stats struct {
	AdvertsSent          uint64
	AdvertsReceived      uint64 // valid adverts for this VRID
	PriorityZeroSent     uint64
	PriorityZeroReceived uint64
	Invalid              map[Reason]uint64
	Transitions          uint64
	BecameMaster         uint64
	// OldUnicastChecksum: the unicast VRRPv3 adverts are checksummed in
	// keepalived's old form (configured, or a peer sent it).
	OldUnicastChecksum bool
}

// Option configures an Instance.
type Option func(*Instance)

// WithTransport sets the transport (default: a raw IPv4 socket on
// cfg.Interface, opened by NewInstance in the caller's network namespace).
func WithTransport(t Transport) Option { return func(i *Instance) { i.tr = t } }

// WithRoutes gives the instance the routes and rules that move with its
// VIPs (default: none): added after them, so a route with src VIP finds
// its address, and removed before them.
func WithRoutes(r RouteOwner) Option { return func(i *Instance) { i.routes = r } }

// WithClock sets the clock (default: wall clock).
func WithClock(c Clock) Option { return func(i *Instance) { i.clock = c } }

// WithLinkState sets the link checker for the interface and track_interface
// list (default: RawTransport.LinkUp, netlink in NewInstance's namespace;
// with a custom transport and no checker, links count as always up).
func WithLinkState(f LinkStateFunc) Option { return func(i *Instance) { i.linkState = f } }

// WithLinkPollInterval sets how often links are checked (default 500 ms).
func WithLinkPollInterval(d time.Duration) Option {
	return func(i *Instance) { i.linkPoll = d }
}

// WithScriptRunner replaces how notify scripts run (tests record calls).
func WithScriptRunner(r ScriptRunner) Option { return func(i *Instance) { i.runScript = r } }

// ScriptCreds are who an instance's notify scripts run as (see
// config.ScriptCred); the zero value runs them as root.
type ScriptCreds struct {
	Master, Backup, Fault, Stop runas.Cred
	// Notify is the generic notify script's.
	Notify runas.Cred
	// MasterRxLowerPri is notify_master_rx_lower_pri's.
	MasterRxLowerPri runas.Cred
}

// EventKind is what an Event reports.
type EventKind int

const (
	// EventState: the instance entered State (StateInit: it stopped; not
	// reported when a restart in place leaves the VIPs, see LeaveOnCancel).
	EventState EventKind = iota
	// EventPriority: the priority in effect changed while running
	// (keepalived's MASTER_PRIORITY / BACKUP_PRIORITY).
	EventPriority
	// EventMasterRxLowerPri: as master, the instance heard an advert of a
	// lower priority (keepalived's MASTER_RX_LOWER_PRI).
	EventMasterRxLowerPri
)

// Event is something that happened to an instance, with the state it is
// in afterwards and its priority in effect then: what keepalived writes
// to its notify FIFOs.
type Event struct {
	Kind     EventKind
	State    State
	Priority int
}

// WithEvents has f called with every Event, in order, outside the
// instance's lock (f may call State or Priority), from the goroutine that
// caused it.
func WithEvents(f func(Event)) Option { return func(i *Instance) { i.events = f } }

// forState is the cred of the notify script for entering st (StateInit:
// notify_stop).
func (c *ScriptCreds) forState(st State) runas.Cred {
	switch st {
	case StateMaster:
		return c.Master
	case StateBackup:
		return c.Backup
	case StateFault:
		return c.Fault
	default:
		return c.Stop
	}
}

// WithScriptCreds sets who the notify scripts run as (default root).
func WithScriptCreds(c ScriptCreds) Option { return func(i *Instance) { i.SetScriptCreds(c) } }

// SetScriptCreds changes who the notify scripts started from now on run
// as (a reload that changes script_user need not restart the instance).
func (i *Instance) SetScriptCreds(c ScriptCreds) { i.scriptCreds.Store(&c) }

// scriptCredsNow are the creds in force.
func (i *Instance) scriptCredsNow() *ScriptCreds {
	if c := i.scriptCreds.Load(); c != nil {
		return c
	}
	return &ScriptCreds{}
}

// TrackedScript is how one tracked vrrp_script moves an instance (its
// keepalived semantics are in config.TrackScript.Effective).
type TrackedScript struct {
	Weight int // 0: FAULT while failed; > 0 added while good; < 0 added while failed
	// Reverse negates what Weight adds, in the same states; with weight 0
	// the FAULT is while the script is good.
	Reverse  bool
	InitFail bool // failed until its first result says otherwise
}

// TrackedFile is how one tracked track_file moves an instance (keepalived's
// semantics, as in config.VRRPTrackFile): its value arrives through
// SetFileValue and is 0 until then, as a missing file reads.
type TrackedFile struct {
	Weight  int
	Reverse bool
}

// fileLowest is keepalived's floor for a track_file's value × weight: it
// is clamped to -254..253, and -254 means FAULT.
const fileLowest = -254

// status is what the file's value v does to the instance: the priority
// change, or a FAULT. With weight 0 a non-zero value is the FAULT (with
// reverse, zero is).
func (t TrackedFile) status(v int64) (delta int, fault bool) {
	if t.Weight == 0 {
		return 0, (v != 0) != t.Reverse
	}
	// |v| < 2^31 and |weight| <= 254: no overflow in 64 bits.
	s := v * int64(t.Weight)
	if t.Reverse {
		s = -s
	}
	s = min(max(s, fileLowest), PriorityOwner-2)
	return int(s), s == fileLowest
}

// trackWeight is what a weighted tracked script or interface adds to the
// priority, good (the script succeeds, the interface is up) or not, as
// keepalived's vrrp_track.c does: a positive weight while good, a
// negative one while not, negated by reverse (so weight 10 reverse is -10
// while good, weight -10 reverse +10 while not).
func trackWeight(weight int, reverse, good bool) int {
	if (weight > 0 && good) || (weight < 0 && !good) {
		if reverse {
			return -weight
		}
		return weight
	}
	return 0
}

// WithTrackedFiles names the track_files the instance tracks; their
// values arrive through SetFileValue.
func WithTrackedFiles(f map[string]TrackedFile) Option {
	return func(i *Instance) {
		i.files = maps.Clone(f)
		i.fileVal = map[string]int64{}
	}
}

// TrackedProcess is how one tracked vrrp_track_process moves an instance:
// as a script does, "up" (its quorum reached) standing for a success.
// Weight 0 faults the instance while the process is down (with Reverse,
// while it is up). Its state arrives through SetProcessUp and is down
// until then.
type TrackedProcess struct {
	Weight  int
	Reverse bool
}

// WithTrackedProcesses names the track processes the instance tracks;
// their states arrive through SetProcessUp.
func WithTrackedProcesses(p map[string]TrackedProcess) Option {
	return func(i *Instance) {
		i.procs = maps.Clone(p)
		i.procUp = map[string]bool{}
	}
}

// WithTrackedScripts names the scripts the instance tracks (track_script);
// their results arrive through SetScriptResult.
func WithTrackedScripts(s map[string]TrackedScript) Option {
	return func(i *Instance) {
		i.tracks = maps.Clone(s)
		i.scriptOK = map[string]bool{}
		for n, t := range s {
			i.scriptOK[n] = !t.InitFail
		}
	}
}

// WithScriptTimeout bounds each notify script (default 30 s); the process is
// killed when it expires.
func WithScriptTimeout(d time.Duration) Option { return func(i *Instance) { i.scriptTimeout = d } }

// LinkDelay is keepalived's interface_up_down_delays for one interface:
// going down counts once it has lasted Down, coming up once it has
// lasted Up.
type LinkDelay struct{ Down, Up time.Duration }

// WithLinkDelays debounces the link states the instance follows (its own
// interface and the tracked ones), by interface name.
func WithLinkDelays(m map[string]LinkDelay) Option { return func(i *Instance) { i.SetLinkDelays(m) } }

// SetLinkDelays replaces the link delays (a reload); a change already
// pending is judged by the new ones at the next poll.
func (i *Instance) SetLinkDelays(m map[string]LinkDelay) {
	m = maps.Clone(m)
	i.linkDelays.Store(&m)
}

// WithNotSource says which addresses must never become the adverts'
// source when the one in use leaves the interface (SourceFollower): the
// VIPs xlb adds there (its own VIPs are always excluded).
func WithNotSource(f func(netip.Addr) bool) Option { return func(i *Instance) { i.notSource = f } }

// WithNoMasterBefore keeps the instance from becoming master before t
// (keepalived's vrrp_startup_delay): it runs as a backup meanwhile, hearing
// adverts, and takes over at t if no master was heard by then.
func WithNoMasterBefore(t time.Time) Option { return func(i *Instance) { i.noMasterBefore = t } }

// WithResumeMaster tells the instance that the run before a restart in
// place (SIGUSR2) was its master, sent its last advert at since and left
// its VIPs up. It takes over at start instead of waiting
// Master_Down_Interval as a backup, if it starts before any peer can
// have declared that master down (down_timer_adverts advert intervals
// after since; a peer's Skew_Time only adds to that): so restarting the
// master moves nothing. A later start is an ordinary one, as the peers
// may have taken over by then.
func WithResumeMaster(since time.Time) Option { return func(i *Instance) { i.resumeSince = since } }

// Instance is one VRRP virtual router on one interface.
type Instance struct {
	name     string
	version  int
	vrid     uint8
	prio     uint8 // the priority in effect: basePrio moved by tracked scripts
	basePrio uint8
	advInt   time.Duration
	preempt  bool
	delay    time.Duration
	authType AuthType
	authData [8]byte
	vips     []netip.Addr // advertised and held
	excluded []netip.Addr // held with them, not advertised (virtual_ipaddress_excluded)
	ifaces   []string     // the VRRP interface (unless dont_track_primary) plus track_interface
	// upFaults are the weight-0 reverse track_interfaces: FAULT while up.
	upFaults  []string
	weighted  map[string]config.TrackInterface // track_interface with a weight: priority, not FAULT
	notify    map[State]string
	notifyAll string // keepalived's notify: every change, with arguments
	// notifyRxLower is notify_master_rx_lower_pri: run when a master
	// hears a lower priority.
	notifyRxLower string
	events        func(Event) // nil: none wanted
	tracks        map[string]TrackedScript
	files         map[string]TrackedFile
	procs         map[string]TrackedProcess
	sync          *SyncGroup // nil outside a vrrp_sync_group
	garp          config.GARP
	// downAdverts is down_timer_adverts: the master advert intervals of
	// Master_Down_Interval (3 in the RFCs).
	downAdverts    time.Duration
	noMasterBefore time.Time // vrrp_startup_delay's end (zero: none)
	// resumeSince is when the previous run's master sent its last advert
	// (WithResumeMaster; zero: an ordinary start); leftMaster, when this
	// one's did at a restart in place (LeftMaster).
	resumeSince, leftMaster time.Time
	// lowerPrioNoAdvert is lower_prio_no_advert: a master hearing a lower
	// priority stays quiet (the RFCs) instead of answering at once.
	lowerPrioNoAdvert bool
	// higherPrioSendAdvert is higher_prio_send_advert: a master hearing a
	// higher priority sends one advert before it yields.
	higherPrioSendAdvert bool
	// linkDelays are the interface_up_down_delays (SetLinkDelays); seen
	// is each followed interface's debounced state, touched only by Run's
	// goroutine (its polls and start).
	linkDelays atomic.Pointer[map[string]LinkDelay]
	seen       map[string]*linkSeen
	// notSource excludes the VIPs from the source addresses (WithNotSource);
	// own are the instance's own VIPs, excluded too.
	notSource func(netip.Addr) bool
	own       []netip.Addr
	// srcConfigured and trackSrc are unicast_src_ip and track_src_ip;
	// srcFault is why the source address keeps the instance in FAULT
	// ("" while it has one), as the last link poll found it.
	srcConfigured, trackSrc bool
	srcFault                string
	// noPeerFault is unicast_fault_no_peer without unicast peers: FAULT
	// for good, where keepalived would otherwise fall back to multicast.
	noPeerFault bool

	owner         VIPOwner
	routes        RouteOwner // nil: none
	log           *slog.Logger
	tr            Transport
	ownTransport  bool
	clock         Clock
	linkState     LinkStateFunc
	linkPoll      time.Duration
	runScript     ScriptRunner
	scriptTimeout time.Duration
	scriptCreds   atomic.Pointer[ScriptCreds] // nil: root

	// oldSumGroup is set for an IPv4 VRRPv3 unicast instance: the group
	// keepalived before 1.3.6 put in its adverts' pseudo-header. oldSum:
	// the adverts are checksummed (sent and checked) that way; oldSumAuto:
	// not yet, but a received one that checks only that way switches to
	// it (config.VRRPInstance.UnicastChecksum).
	oldSumGroup netip.Addr

	mu           sync.Mutex
	oldSum       bool
	oldSumAuto   bool
	state        State
	masterAdvInt time.Duration   // learned from the master (v3); advInt for v2
	masterDownAt time.Time       // zero when the Master_Down_Timer is not running
	advertAt     time.Time       // zero when the Adver_Timer is not running
	preemptAt    time.Time       // when preempt_delay allows preemption; zero = not started
	garpAt       time.Time       // the second burst after becoming master (garp_master_delay); zero = none
	refreshAt    time.Time       // the next garp_master_refresh is due at the first advert after it
	lowerAt      []time.Time     // the delayed bursts after lower-priority adverts (garp_lower_prio_delay)
	holding      bool            // VIPs acquired
	linksDown    []string        // tracked interfaces whose state is a FAULT (down, or up for upFaults)
	weightedDown map[string]bool // weighted interfaces last seen down
	scriptOK     map[string]bool
	fileVal      map[string]int64 // the tracked files' last values
	procUp       map[string]bool  // the tracked processes' quorum
	stats        Stats
	hooks        []func(from, to State)
	pending      [][2]State // transitions to report once mu is released
	pendingEv    []Event    // events to report once mu is released
	after        []func()   // sync-group moves of other members, run once mu is released
	scripts      sync.WaitGroup
	scriptCtx    context.Context
	abrupt       bool // tests: exit like SIGKILL (no priority 0, no release)
}

// NewInstance validates cfg and builds an instance. Unless WithTransport is
// given it opens the raw socket now, so the caller's network namespace is
// the one used.
func NewInstance(cfg config.VRRPInstance, owner VIPOwner, log *slog.Logger, opts ...Option) (*Instance, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if owner == nil {
		return nil, errors.New("vrrp: nil VIP owner")
	}
	i := &Instance{
		name:          cfg.Name,
		version:       cfg.Version,
		owner:         owner,
		log:           log.With("vrrp_instance", cfg.Name),
		clock:         realClock{},
		linkPoll:      500 * time.Millisecond,
		scriptTimeout: 30 * time.Second,
		preempt:       cfg.Preempt,
		delay:         cfg.PreemptDelay,
		notify: map[State]string{
			StateMaster: cfg.NotifyMaster,
			StateBackup: cfg.NotifyBackup,
			StateFault:  cfg.NotifyFault,
			StateInit:   cfg.NotifyStop, // entered only when stopping
		},
		notifyAll:     cfg.Notify,
		notifyRxLower: cfg.NotifyMasterRxLowerPri,
		scriptCtx:     context.Background(),
		garp:          cfg.GARP.OrDefault(),

		lowerPrioNoAdvert:    cfg.LowerPrioNoAdvert,
		higherPrioSendAdvert: cfg.HigherPrioSendAdvert,
		noPeerFault:          cfg.UnicastFaultNoPeer && len(cfg.UnicastPeers) == 0,
		own:                  append(slices.Clone(cfg.VirtualAddrs), cfg.ExcludedAddrs...),
		srcConfigured:        cfg.UnicastSrcIP.IsValid(),
		trackSrc:             cfg.TrackSrcIP && cfg.UnicastSrcIP.IsValid(),
	}
	i.runScript = i.shellScript
	if i.version == 0 {
		i.version = 2 // keepalived's default vrrp_version
	}
	if i.version != 2 && i.version != 3 {
		return nil, fmt.Errorf("vrrp: instance %s: version %d not supported", cfg.Name, cfg.Version)
	}
	if cfg.VirtualRouterID < 1 || cfg.VirtualRouterID > 255 {
		return nil, fmt.Errorf("vrrp: instance %s: virtual_router_id %d not in 1..255", cfg.Name, cfg.VirtualRouterID)
	}
	i.vrid = uint8(cfg.VirtualRouterID)
	if cfg.Priority < 1 || cfg.Priority > 255 {
		return nil, fmt.Errorf("vrrp: instance %s: priority %d not in 1..255", cfg.Name, cfg.Priority)
	}
	i.prio = uint8(cfg.Priority)
	i.basePrio = i.prio
	i.advInt = cfg.AdvertInterval
	if i.advInt == 0 {
		i.advInt = time.Second
	}
	if i.version == 2 && (i.advInt%time.Second != 0 || i.advInt > 255*time.Second) {
		return nil, fmt.Errorf("vrrp: instance %s: version 2 advert_int %v must be whole seconds 1..255", cfg.Name, i.advInt)
	}
	if i.version == 3 && (i.advInt%(10*time.Millisecond) != 0 || i.advInt > maxV3Int*10*time.Millisecond) {
		return nil, fmt.Errorf("vrrp: instance %s: version 3 advert_int %v must be centiseconds up to 40.95s", cfg.Name, i.advInt)
	}
	i.masterAdvInt = i.advInt
	i.downAdverts = time.Duration(cfg.DownTimerAdverts)
	if i.downAdverts == 0 {
		i.downAdverts = config.DefaultDownTimerAdverts
	}
	switch strings.ToUpper(cfg.AuthType) {
	case "":
	case "PASS":
		if i.version != 2 {
			return nil, fmt.Errorf("vrrp: instance %s: authentication exists only in version 2", cfg.Name)
		}
		i.authType = AuthPass
		i.authData = PassAuthData(cfg.AuthPass)
	default:
		return nil, fmt.Errorf("vrrp: instance %s: auth_type %q not supported (only PASS)", cfg.Name, cfg.AuthType)
	}
	if len(cfg.VirtualAddrs) == 0 || len(cfg.VirtualAddrs) > 255 {
		return nil, fmt.Errorf("vrrp: instance %s: need 1..255 virtual addresses, have %d", cfg.Name, len(cfg.VirtualAddrs))
	}
	// One family per instance; IPv6 is VRRPv3 over ff02::12.
	v6 := cfg.VirtualAddrs[0].Unmap().Is6()
	for n, a := range append(slices.Clone(cfg.VirtualAddrs), cfg.ExcludedAddrs...) {
		a = a.Unmap()
		if a.Is6() != v6 {
			return nil, fmt.Errorf("vrrp: instance %s: %v: an instance's addresses are of one family", cfg.Name, a)
		}
		if n < len(cfg.VirtualAddrs) {
			i.vips = append(i.vips, a)
		} else {
			i.excluded = append(i.excluded, a)
		}
	}
	if !v6 && i.version == 3 && len(cfg.UnicastPeers) > 0 {
		// keepalived's old checksum put its multicast group in the
		// pseudo-header.
		i.oldSumGroup = cfg.McastDstIP.Unmap()
		if !i.oldSumGroup.IsValid() {
			i.oldSumGroup = netip.AddrFrom4([4]byte{224, 0, 0, 18})
		}
		switch cfg.UnicastChecksum {
		case "old":
			i.oldSum, i.stats.OldUnicastChecksum = true, true
		case "":
			i.oldSumAuto = true
		}
	}
	if v6 && i.version != 3 {
		return nil, fmt.Errorf("vrrp: instance %s: IPv6 needs VRRP version 3", cfg.Name)
	}
	if g := cfg.McastDstIP; g.IsValid() && (!g.IsMulticast() || g.Unmap().Is6() != v6) {
		return nil, fmt.Errorf("vrrp: instance %s: mcast_dst_ip %s is not a multicast group of the instance's family", cfg.Name, g)
	}
	if cfg.Interface == "" {
		return nil, fmt.Errorf("vrrp: instance %s: no interface", cfg.Name)
	}
	i.ifaces = append([]string{cfg.Interface}, cfg.FaultInterfaces()...)
	if cfg.DontTrackPrimary {
		i.ifaces = cfg.FaultInterfaces()
	}
	i.ifaces = slices.Compact(i.ifaces)
	i.upFaults = cfg.UpFaultInterfaces()
	for _, t := range cfg.TrackInterfaces {
		if t.Weight == 0 {
			continue
		}
		if i.weighted == nil {
			i.weighted = map[string]config.TrackInterface{}
		}
		i.weighted[t.Name] = t
	}
	for _, o := range opts {
		o(i)
	}
	if i.tr == nil {
		var tr interface {
			Transport
			LinkUp(string) (bool, error)
		}
		var err error
		lo := []ListenOption{
			WithUnicast(cfg.UnicastSrcIP, cfg.UnicastPeers),
			WithGroup(cfg.McastDstIP.Unmap()),
			WithUnicastTTL(cfg.UnicastTTL),
			WithReceiveBuffer(cfg.KernelRxBufSize),
		}
		if i.trackSrc {
			lo = append(lo, WithTrackSource())
		}
		if cfg.UseVMAC && !cfg.VMACXmitBase {
			// keepalived sends and hears the adverts on the VMAC
			// unless vmac_xmit_base.
			lo = append(lo, WithVMAC(cfg.VMACInterface()))
		}
		if v6 {
			tr, err = ListenIPv6(cfg.Interface, lo...)
		} else {
			tr, err = ListenIPv4(cfg.Interface, lo...)
		}
		if err != nil {
			return nil, fmt.Errorf("vrrp: instance %s: %w", cfg.Name, err)
		}
		i.tr, i.ownTransport = tr, true
		if i.linkState == nil {
			i.linkState = tr.LinkUp
		}
	}
	if i.linkState == nil {
		i.linkState = func(string) (bool, error) { return true, nil }
	}
	for n, t := range i.tracks {
		if t.Weight != 0 && i.basePrio == PriorityOwner {
			return nil, fmt.Errorf("vrrp: instance %s: script %s: a weight cannot move priority 255", cfg.Name, n)
		}
	}
	if len(i.weighted) > 0 && i.basePrio == PriorityOwner {
		return nil, fmt.Errorf("vrrp: instance %s: a tracked interface's weight cannot move priority 255", cfg.Name)
	}
	for n, t := range i.files {
		if t.Weight != 0 && i.basePrio == PriorityOwner {
			return nil, fmt.Errorf("vrrp: instance %s: track file %s: a weight cannot move priority 255", cfg.Name, n)
		}
	}
	for n, t := range i.procs {
		if t.Weight != 0 && i.basePrio == PriorityOwner {
			return nil, fmt.Errorf("vrrp: instance %s: track process %s: a weight cannot move priority 255", cfg.Name, n)
		}
	}
	i.prio = i.effectivePriority()
	if i.sync != nil {
		i.sync.join(i)
	}
	return i, nil
}

// effectivePriority is the configured priority moved by the tracked
// scripts', interfaces' and files' weights, kept within 1..254 as
// keepalived does (255 stays). A file in FAULT adds nothing, as in
// keepalived, which takes its share out while it faults.
func (i *Instance) effectivePriority() uint8 {
	if i.basePrio == PriorityOwner {
		return PriorityOwner
	}
	p := int(i.basePrio)
	for n, t := range i.tracks {
		p += trackWeight(t.Weight, t.Reverse, i.scriptOK[n])
	}
	for n, t := range i.weighted {
		p += trackWeight(t.Weight, t.Reverse, !i.weightedDown[n])
	}
	for n, t := range i.files {
		if d, fault := t.status(i.fileVal[n]); !fault {
			p += d
		}
	}
	for n, t := range i.procs {
		p += trackWeight(t.Weight, t.Reverse, i.procUp[n])
	}
	return uint8(min(max(p, 1), PriorityOwner-1))
}

// failedScripts are the tracked weight-0 scripts that failed (succeeded,
// with reverse) and the tracked files whose value is a FAULT: each keeps
// the instance in FAULT.
func (i *Instance) failedScripts() []string {
	var out []string
	for n, t := range i.tracks {
		if t.Weight == 0 && i.scriptOK[n] == t.Reverse {
			out = append(out, "script "+n)
		}
	}
	for n, t := range i.files {
		if _, fault := t.status(i.fileVal[n]); fault {
			out = append(out, "file "+n)
		}
	}
	for n, t := range i.procs {
		if t.Weight == 0 && i.procUp[n] == t.Reverse {
			out = append(out, "process "+n)
		}
	}
	slices.Sort(out)
	return out
}

// SetScriptResult reports a tracked script's state (good or failed, after
// its rise and fall): the priority follows at once (a master advertises
// it), and a failed weight-0 script puts the instance in FAULT until it is
// good again. It may be called before Run.
func (i *Instance) SetScriptResult(name string, ok bool) {
	i.step(func(now time.Time) {
		if _, tracked := i.tracks[name]; !tracked || i.scriptOK[name] == ok {
			return
		}
		i.scriptOK[name] = ok
		i.trackChangedLocked(now, "script", name, "ok", ok)
	})
}

// SetFileValue reports a tracked file's value (keepalived's track_file;
// the caller reads the file): the priority follows at once as for a
// script, and a value that is a FAULT (see TrackedFile) keeps the instance
// in FAULT until it is not. It may be called before Run.
func (i *Instance) SetFileValue(name string, v int64) {
	i.step(func(now time.Time) {
		if _, tracked := i.files[name]; !tracked || i.fileVal[name] == v {
			return
		}
		i.fileVal[name] = v
		i.trackChangedLocked(now, "file", name, "value", v)
	})
}

// SetProcessUp reports whether a tracked process has its quorum
// (keepalived's track_process; the caller counts the processes, with its
// fork and terminate delays): the priority follows at once as for a
// script, and a weight-0 process that is down (up, with reverse) keeps
// the instance in FAULT until it is not. It may be called before Run.
func (i *Instance) SetProcessUp(name string, up bool) {
	i.step(func(now time.Time) {
		if _, tracked := i.procs[name]; !tracked || i.procUp[name] == up {
			return
		}
		i.procUp[name] = up
		i.trackChangedLocked(now, "process", name, "up", up)
	})
}

// trackChangedLocked follows a tracked script's or file's change: FAULT
// is entered or left, and a master advertises a changed priority at once
// (so a backup with preempt takes over when it is now higher). FAULT
// first: a master a file faults sends only its priority 0, not the
// priority without the file's share just before.
func (i *Instance) trackChangedLocked(now time.Time, kind, name string, attrs ...any) {
	old := i.prio
	i.prio = i.effectivePriority()
	if i.state != StateInit {
		i.faultLocked(now)
	}
	if i.prio != old {
		i.priorityChanged()
		i.log.Info("vrrp priority changed by "+kind, append([]any{kind, name, "from", old, "to", i.prio}, attrs...)...)
		if i.state == StateMaster {
			i.sendAdvert(i.prio)
			i.advertAt = now.Add(i.advInt)
		}
	}
}

// Priority is the priority in effect (tracked scripts included).
func (i *Instance) Priority() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return int(i.prio)
}

// LeaveOnCancel makes Run, when its context ends, exit as if the process
// had been killed: no priority-0 advert and the VIPs stay. A daemon that is
// restarting in place (hitless restart) uses it so the backup does not take
// over for the few hundred milliseconds the restart takes.
func (i *Instance) LeaveOnCancel() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.abrupt = true
}

// LeftMaster reports, once Run has returned after LeaveOnCancel, whether
// the instance was master, and when it sent its last advert: what the
// next run needs for WithResumeMaster.
func (i *Instance) LeftMaster() (time.Time, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.leftMaster, !i.leftMaster.IsZero()
}

// Name returns the instance name.
func (i *Instance) Name() string { return i.name }

// State returns the current state.
func (i *Instance) State() State {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state
}

// Stats returns a snapshot of the counters.
func (i *Instance) Stats() Stats {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := i.stats
	s.Invalid = maps.Clone(i.stats.Invalid)
	if s.Invalid == nil {
		s.Invalid = map[Reason]uint64{}
	}
	return s
}

// OnTransition registers f to be called after every state change, outside
// the instance's lock (f may call State or Stats).
func (i *Instance) OnTransition(f func(from, to State)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.hooks = append(i.hooks, f)
}

// skew is Skew_Time: (256-Priority)/256 s in version 2 (RFC 3768 §6.1);
// ((256-Priority)*Master_Adver_Interval)/256 in centiseconds, truncated like
// RFC 5798's integer arithmetic and keepalived, in version 3.
func (i *Instance) skew() time.Duration {
	if i.version == 2 {
		return time.Duration(256-int(i.prio)) * time.Second / 256
	}
	cs := int64(i.masterAdvInt / (10 * time.Millisecond))
	return time.Duration((256-int64(i.prio))*cs/256) * 10 * time.Millisecond
}

// masterDownInterval is 3×Master_Adver_Interval + Skew_Time, or
// down_timer_adverts× instead of 3× (keepalived's VRRP_MS_DOWN_TIMER).
func (i *Instance) masterDownInterval() time.Duration {
	return i.downAdverts*i.masterAdvInt + i.skew()
}

// SkewTime reports the current Skew_Time.
func (i *Instance) SkewTime() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.skew()
}

// MasterDownInterval reports the current Master_Down_Interval.
func (i *Instance) MasterDownInterval() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.masterDownInterval()
}

// Run drives the instance until ctx ends and returns nil then. On return a
// master sends a priority-0 advert (so a backup takes over after Skew_Time
// instead of Master_Down_Interval) and releases its VIPs. Run may be called
// once: it closes the transport NewInstance opened.
func (i *Instance) Run(ctx context.Context) error {
	if i.ownTransport {
		defer i.tr.Close()
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	i.mu.Lock()
	i.scriptCtx = context.WithoutCancel(ctx)
	i.mu.Unlock()
	pkts := make(chan Packet, 64)
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			p, err := i.tr.Receive(rctx)
			if err != nil {
				if rctx.Err() != nil {
					return
				}
				i.log.Warn("vrrp receive failed", "err", err)
				// Back off so a persistently failing socket cannot spin.
				select {
				case <-rctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			select {
			case pkts <- p:
			case <-rctx.Done():
				return
			}
		}
	}()
	defer rwg.Wait()
	defer i.scripts.Wait()

	defer i.leaveGroup()
	i.step(func(now time.Time) { i.startLocked(now) })
	linkC, stopLink := i.clock.NewTimer(i.linkPoll)
	// Link and address changes are checked when they happen; the poll
	// stays, for the delays' ends and for a transport that cannot watch.
	var linkEv <-chan struct{}
	if w, ok := i.tr.(LinkWatcher); ok {
		linkEv = w.LinkChanges()
	}
	// A storm of events (a host adding hundreds of addresses) is checked
	// at most every linkEventGap: the first at once, the rest together.
	var lastEvCheck time.Time
	for {
		var timerC <-chan time.Time
		stop := func() bool { return false }
		if d, ok := i.nextDeadline(); ok {
			timerC, stop = i.clock.NewTimer(max(d.Sub(i.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			stop()
			stopLink()
			i.step(func(now time.Time) { i.shutdownLocked(now, !i.abrupt) })
			return nil
		case p := <-pkts:
			i.receive(i.clock.Now(), p)
		case <-timerC:
			i.tick(i.clock.Now())
		case <-linkC:
			now := i.clock.Now()
			i.checkLinks(now)
			linkC, stopLink = i.clock.NewTimer(i.nextLinkPoll(now))
		case <-linkEv:
			now := i.clock.Now()
			stopLink()
			if wait := lastEvCheck.Add(linkEventGap).Sub(now); wait > 0 {
				linkC, stopLink = i.clock.NewTimer(wait) // the poll case checks
				break
			}
			lastEvCheck = now
			i.checkLinks(now)
			linkC, stopLink = i.clock.NewTimer(i.nextLinkPoll(now))
		}
		stop()
	}
}

// step runs f under the lock, then reports transitions to hooks and moves
// the other members of a sync group as f decided.
func (i *Instance) step(f func(now time.Time)) {
	i.mu.Lock()
	f(i.clock.Now())
	pending, hooks, after, events := i.pending, slices.Clone(i.hooks), i.after, i.pendingEv
	i.pending, i.after, i.pendingEv = nil, nil, nil
	i.mu.Unlock()
	for _, ev := range events {
		i.events(ev)
	}
	for _, t := range pending {
		for _, h := range hooks {
			h(t[0], t[1])
		}
	}
	for _, f := range after {
		f()
	}
}

// syncOthers applies f to each other member of the sync group at the same
// instant now, in that member's own step, once i's lock is released (see
// SyncGroup).
func (i *Instance) syncOthers(now time.Time, f func(o *Instance, now time.Time)) {
	for _, o := range i.sync.others(i) {
		i.after = append(i.after, func() { o.stepAt(now, func(now time.Time) { f(o, now) }) })
	}
}

// leaveGroup takes a stopped instance out of its sync group; the others
// no longer share its fault.
func (i *Instance) leaveGroup() {
	if i.sync == nil {
		return
	}
	for _, o := range i.sync.leave(i) {
		o.step(func(now time.Time) { o.refaultLocked(now) })
	}
}

// refaultLocked re-evaluates FAULT after another member's changed.
func (i *Instance) refaultLocked(now time.Time) {
	if i.state != StateInit {
		i.faultLocked(now)
	}
}

func (i *Instance) stepAt(now time.Time, f func(now time.Time)) {
	i.step(func(time.Time) { f(now) })
}

// tick fires whichever timers are due at now.
func (i *Instance) tick(now time.Time) { i.stepAt(now, i.tickLocked) }

// receive processes one packet at now.
func (i *Instance) receive(now time.Time, p Packet) {
	i.stepAt(now, func(now time.Time) { i.receiveLocked(now, p) })
}

// checkLinks polls link state and enters or leaves Fault.
func (i *Instance) checkLinks(now time.Time) {
	down, err := i.downLinks()
	if err != nil {
		i.log.Warn("link state unknown; keeping state", "err", err)
		return
	}
	src, srcOK := i.sourceFault()
	i.stepAt(now, func(now time.Time) {
		if srcOK {
			i.srcFault = src
		}
		i.linksLocked(now, down)
	})
}

// sourceFault follows the adverts' source address (SourceFollower) and
// says why it keeps the instance in FAULT, as keepalived 2.2.7 does: its
// interface's own address removed with no other to take over (a
// successor is taken at once, announced in the log), or with
// track_src_ip the unicast_src_ip missing. ok is false when the
// addresses could not be read (the last finding stands).
func (i *Instance) sourceFault() (why string, ok bool) {
	f, is := i.tr.(SourceFollower)
	if !is {
		return "", true
	}
	before := i.tr.LocalAddr()
	a, present, err := f.FollowSource(func(x netip.Addr) bool {
		return slices.Contains(i.own, x) || (i.notSource != nil && i.notSource(x))
	})
	if err != nil {
		i.log.Warn("source address unknown; keeping state", "err", err)
		return "", false
	}
	switch {
	case i.srcConfigured && !present && i.trackSrc:
		return fmt.Sprintf("unicast_src_ip %s not on the interface (track_src_ip)", a), true
	case i.srcConfigured:
		return "", true
	case !present:
		return "no address on the interface to send VRRP from", true
	}
	if a != before && before.IsValid() {
		i.log.Info("vrrp source address changed: the one in use left the interface", "from", before, "to", a)
	}
	return "", true
}

func (i *Instance) downLinks() ([]string, error) {
	var down []string
	names := append(slices.Clone(i.ifaces), i.upFaults...)
	for n := range i.weighted {
		names = append(names, n)
	}
	now := i.clock.Now()
	for _, n := range names {
		up, err := i.linkState(n)
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", n, err)
		}
		if !i.debounce(n, up, now) {
			down = append(down, n)
		}
	}
	return down, nil
}

// linkSeen is an interface's state as the instance counts it, and since
// when the link has been in the other state (zero: it is not).
type linkSeen struct {
	up      bool
	changed time.Time
}

// debounce is the state of link n the instance counts, raw being what the
// link says now: a change counts once it has lasted the interface's delay
// (none: at once); one undone before that is never seen, as keepalived's
// interface_up_down_delays. The first state seen counts as it is.
func (i *Instance) debounce(n string, raw bool, now time.Time) bool {
	if i.seen == nil {
		i.seen = map[string]*linkSeen{}
	}
	s := i.seen[n]
	if s == nil {
		i.seen[n] = &linkSeen{up: raw}
		return raw
	}
	if raw == s.up {
		s.changed = time.Time{}
		return s.up
	}
	if s.changed.IsZero() {
		s.changed = now
	}
	if now.Sub(s.changed) >= i.linkDelay(n, raw) {
		if !s.changed.Equal(now) {
			i.log.Info("link state change counted after its delay (interface_up_down_delays)", "interface", n, "up", raw, "after", now.Sub(s.changed))
		}
		s.up, s.changed = raw, time.Time{}
	}
	return s.up
}

// linkDelay is how long link n must be up (up) or down before it counts.
func (i *Instance) linkDelay(n string, up bool) time.Duration {
	m := i.linkDelays.Load()
	if m == nil {
		return 0
	}
	d := (*m)[n]
	if up {
		return d.Up
	}
	return d.Down
}

// nextLinkPoll is when the links are polled next: after the poll
// interval, or sooner when a pending change's delay ends first.
func (i *Instance) nextLinkPoll(now time.Time) time.Duration {
	next := i.linkPoll
	for n, s := range i.seen {
		if s.changed.IsZero() {
			continue
		}
		if d := s.changed.Add(i.linkDelay(n, !s.up)).Sub(now); d < next {
			next = max(d, time.Millisecond)
		}
	}
	return next
}

// nextDeadline is the earliest running protocol timer.
func (i *Instance) nextDeadline() (time.Time, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var ts []time.Time
	switch i.state {
	case StateBackup:
		ts = append(ts, i.masterDownAt)
	case StateMaster:
		ts = append(ts, i.advertAt, i.garpAt)
		ts = append(ts, i.lowerAt...)
	}
	var best time.Time
	for _, t := range ts {
		if !t.IsZero() && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	return best, !best.IsZero()
}

func (i *Instance) setState(to State) {
	from := i.state
	if from == to {
		return
	}
	i.state = to
	i.stats.Transitions++
	if to == StateMaster {
		i.stats.BecameMaster++
	}
	i.pending = append(i.pending, [2]State{from, to})
	if to != StateInit || !i.abrupt {
		i.event(EventState)
	}
	i.log.Info("vrrp transition", "from", from, "to", to, "priority", i.prio)
	creds := i.scriptCredsNow()
	if s := i.notify[to]; s != "" && (to != StateInit || !i.abrupt) {
		i.startScript(s, to, creds.forState(to))
	}
	if i.notifyAll != "" {
		// keepalived's notify: "TYPE NAME STATE PRIORITY", STOP when
		// stopping (not when a restart leaves the VIPs in place).
		word := to.String()
		if to == StateInit {
			word = "STOP"
		}
		if to != StateInit || !i.abrupt {
			i.startScript(i.notifyAll+" INSTANCE "+ShellQuote(i.name)+" "+word+" "+strconv.Itoa(int(i.prio)), to, creds.Notify)
		}
	}
}

// event queues an event of kind in the current state and priority, for
// step to report.
func (i *Instance) event(kind EventKind) {
	if i.events != nil {
		i.pendingEv = append(i.pendingEv, Event{Kind: kind, State: i.state, Priority: int(i.prio)})
	}
}

// priorityChanged reports a change of the priority in effect once the
// instance runs (the priority it starts with is in its first state).
func (i *Instance) priorityChanged() {
	if i.state != StateInit {
		i.event(EventPriority)
	}
}

// ShellQuote quotes s as one word for /bin/sh.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// startLocked is the Initialize state's startup event (RFC 5798 §6.4.1).
// A configured "state MASTER" below priority 255 still waits in Backup for
// Master_Down_Interval like the RFC says, so a restarting node cannot
// briefly duplicate a live master; a restart in place that resumes
// (WithResumeMaster) does not, as the live master it would duplicate is
// the run it continues.
func (i *Instance) startLocked(now time.Time) {
	if !i.resumeSince.IsZero() {
		// The previous run left the VIPs up: whatever this run does
		// other than carry on as master (a fault, a late start, a sync
		// group's wait) gives them up.
		i.holding = true
	}
	down, err := i.downLinks()
	if err != nil {
		// Unknown at startup: proceed; the next poll corrects it.
		i.log.Warn("link state unknown at start", "err", err)
	}
	if why, ok := i.sourceFault(); ok {
		i.srcFault = why
	}
	i.setLinksLocked(now, down)
	if why := i.faultReasons(now); len(why) > 0 {
		i.enterFault(now, why)
		return
	}
	if i.prio == PriorityOwner {
		i.takeOver(now)
		return
	}
	if !i.resumeSince.IsZero() {
		if until := i.resumeSince.Add(i.downAdverts * i.advInt); now.Before(until) {
			i.log.Info("resuming mastership after a restart in place", "last_advert", i.resumeSince)
			i.takeOver(now)
			return
		}
		i.log.Info("restarted too late to resume mastership: starting as backup", "last_advert", i.resumeSince)
	}
	i.becomeBackup(now)
}

// takeOver makes the instance Master, unless it is in a sync group whose
// other members are not all ready: then it waits in Backup, with no timer
// running, for the last of them, which brings it along.
func (i *Instance) takeOver(now time.Time) {
	if now.Before(i.noMasterBefore) {
		// vrrp_startup_delay: wait as a backup until it ends (keepalived
		// defers the move to master the same way); a master heard
		// meanwhile restarts the down timer as usual.
		if i.state != StateBackup {
			i.becomeBackup(now)
		}
		i.masterDownAt = i.noMasterBefore
		i.log.Info("vrrp_startup_delay: not master before its end", "until", i.noMasterBefore)
		return
	}
	if i.sync != nil {
		if i.state != StateBackup {
			i.becomeBackup(now)
		}
		if !i.sync.readyAll(i) {
			i.masterDownAt = time.Time{}
			i.log.Info("ready to be master; waiting for the rest of the sync group", "group", i.sync.name)
			return
		}
	}
	i.becomeMaster(now)
	if i.sync != nil {
		i.syncOthers(now, func(o *Instance, now time.Time) {
			if o.state == StateBackup {
				o.log.Info("master with its sync group", "group", o.sync.name, "led_by", i.name)
				o.becomeMaster(now)
			}
		})
	}
}

// faultReasons are why the instance must be in FAULT: a tracked interface
// down, a weight-0 script failed or, in a sync group, another member in
// FAULT of its own. A change of its own is passed on to the group.
func (i *Instance) faultReasons(now time.Time) []string {
	own := append(slices.Clone(i.linksDown), i.failedScripts()...)
	if i.noPeerFault {
		own = append(own, "unicast_fault_no_peer without unicast peers")
	}
	if i.srcFault != "" {
		own = append(own, i.srcFault)
	}
	if i.sync == nil {
		return own
	}
	if i.sync.setFault(i, len(own) > 0) {
		i.syncOthers(now, func(o *Instance, now time.Time) { o.refaultLocked(now) })
	}
	return append(own, i.sync.faultsBesides(i)...)
}

func (i *Instance) becomeMaster(now time.Time) {
	i.masterDownAt = time.Time{}
	i.preemptAt = time.Time{}
	i.sendAdvert(i.prio)
	i.advertAt = now.Add(i.advInt)
	if err := i.owner.Acquire(i.held()...); err != nil {
		i.log.Error("acquire VIPs", "err", err)
	}
	if i.routes != nil {
		if err := i.routes.Acquire(); err != nil {
			i.log.Error("add virtual routes and rules", "err", err)
		}
	}
	i.holding = true
	// keepalived: a second burst garp_master_delay later (switches that
	// were still flushing the old master's MAC), and refreshes after
	// garp_master_refresh.
	if i.garp.MasterDelay > 0 {
		i.garpAt = now.Add(i.garp.MasterDelay)
	}
	if i.garp.MasterRefresh > 0 {
		i.refreshAt = now.Add(i.garp.MasterRefresh)
	}
	i.setState(StateMaster)
}

// announce sends n more gratuitous ARPs / NAs per held address.
func (i *Instance) announce(n int, why string) {
	a, ok := i.owner.(Announcer)
	if !ok || n <= 0 || !i.holding {
		return
	}
	i.log.Debug("announcing vips", "why", why, "repeat", n)
	if err := a.AnnounceN(n, i.held()...); err != nil {
		i.log.Warn("announce VIPs", "why", why, "err", err)
	}
}

func (i *Instance) becomeBackup(now time.Time) {
	i.syncWant(false)
	i.advertAt = time.Time{}
	i.releaseVIPs()
	i.masterAdvInt = i.advInt
	i.masterDownAt = now.Add(i.masterDownInterval())
	i.setState(StateBackup)
}

// syncWant records in the sync group whether the instance is ready to be
// Master.
func (i *Instance) syncWant(ready bool) {
	if i.sync != nil {
		i.sync.setWant(i, ready)
	}
}

// held is every address mastership holds: the advertised and the
// excluded ones.
func (i *Instance) held() []netip.Addr {
	return append(slices.Clone(i.vips), i.excluded...)
}

func (i *Instance) releaseVIPs() {
	// No later burst may claim addresses given up.
	i.garpAt, i.refreshAt, i.lowerAt = time.Time{}, time.Time{}, nil
	if !i.holding {
		return
	}
	if i.routes != nil {
		if err := i.routes.Release(); err != nil {
			i.log.Error("remove virtual routes and rules", "err", err)
		}
	}
	if err := i.owner.Release(i.held()...); err != nil {
		i.log.Error("release VIPs", "err", err)
	}
	i.holding = false
}

func (i *Instance) tickLocked(now time.Time) {
	switch i.state {
	case StateBackup:
		if !i.masterDownAt.IsZero() && !now.Before(i.masterDownAt) {
			i.log.Info("master down timer expired", "interval", i.masterDownInterval())
			i.takeOver(now)
		}
	case StateMaster:
		if !i.garpAt.IsZero() && !now.Before(i.garpAt) {
			i.garpAt = time.Time{}
			i.announce(i.garp.MasterRepeat, "garp_master_delay")
		}
		for len(i.lowerAt) > 0 && !now.Before(i.lowerAt[0]) {
			i.lowerAt = i.lowerAt[1:]
			i.announce(i.garp.LowerPrioRepeat, "garp_lower_prio_delay")
		}
		if !i.advertAt.IsZero() && !now.Before(i.advertAt) {
			i.sendAdvert(i.prio)
			// keepalived checks the refresh when it sends an advert, so
			// it goes with the first advert once it is due (its adverts
			// run a little late, so a refresh of N advert intervals
			// goes every N: seen on the wire).
			if !i.refreshAt.IsZero() && !now.Before(i.refreshAt) {
				i.announce(i.garp.MasterRefreshRepeat, "garp_master_refresh")
				i.refreshAt = now.Add(i.garp.MasterRefresh)
			}
			// Schedule from the due time, not from now, so a late wakeup
			// does not stretch the advert period.
			i.advertAt = i.advertAt.Add(i.advInt)
			if i.advertAt.Before(now) {
				i.advertAt = now.Add(i.advInt)
			}
		}
	}
}

func (i *Instance) shutdownLocked(now time.Time, graceful bool) {
	switch {
	case i.state == StateMaster && graceful:
		i.sendAdvert(PriorityStop)
	case i.state == StateMaster:
		// A restart in place: one more advert, so the peers' down timers
		// count from now and the next run has their whole
		// Master_Down_Interval to resume (WithResumeMaster).
		i.sendAdvert(i.prio)
		i.leftMaster = now
	}
	if graceful {
		i.releaseVIPs()
	}
	i.advertAt, i.masterDownAt = time.Time{}, time.Time{}
	i.setState(StateInit)
}

func (i *Instance) linksLocked(now time.Time, down []string) {
	i.setLinksLocked(now, down)
	i.faultLocked(now)
}

// setLinksLocked splits the interfaces seen down into those that put the
// instance in FAULT and the weighted ones, whose change moves the priority
// (a master advertises it at once, as for a script). A weight-0 reverse
// interface not seen down is up: a FAULT.
func (i *Instance) setLinksLocked(now time.Time, down []string) {
	i.linksDown = nil
	wd := map[string]bool{}
	for _, n := range down {
		if slices.Contains(i.ifaces, n) {
			i.linksDown = append(i.linksDown, n)
		}
		if _, ok := i.weighted[n]; ok {
			wd[n] = true
		}
	}
	for _, n := range i.upFaults {
		if !slices.Contains(down, n) {
			i.linksDown = append(i.linksDown, n+" up (reverse)")
		}
	}
	i.weightedDown = wd
	old := i.prio
	i.prio = i.effectivePriority()
	if i.prio != old {
		i.priorityChanged()
		i.log.Info("vrrp priority changed by a tracked interface", "down", down, "from", old, "to", i.prio)
		if i.state == StateMaster {
			i.sendAdvert(i.prio)
			i.advertAt = now.Add(i.advInt)
		}
	}
}

// faultLocked enters FAULT while a tracked interface is down or a tracked
// weight-0 script failed, and leaves it when none is.
func (i *Instance) faultLocked(now time.Time) {
	why := i.faultReasons(now)
	switch {
	case len(why) > 0 && i.state != StateFault:
		i.enterFault(now, why)
	case len(why) == 0 && i.state == StateFault:
		i.log.Info("tracked interfaces, scripts and files good again; leaving fault")
		if i.prio == PriorityOwner {
			i.takeOver(now)
		} else {
			i.becomeBackup(now)
		}
	}
}

func (i *Instance) enterFault(now time.Time, down []string) {
	i.log.Warn("a tracked interface, script or file faults; entering fault", "why", down)
	if i.state == StateMaster {
		// Best effort: if the VRRP interface itself is down this fails,
		// and the backup takes over after Master_Down_Interval instead.
		i.sendAdvert(PriorityStop)
	}
	i.releaseVIPs()
	i.syncWant(false)
	i.advertAt, i.masterDownAt = time.Time{}, time.Time{}
	i.setState(StateFault)
}

func (i *Instance) sendAdvert(prio uint8) {
	a := &Advert{
		Version:  i.version,
		VRID:     i.vrid,
		Priority: prio,
		AuthType: i.authType,
		AuthData: i.authData,
		Interval: i.advInt,
		Addrs:    i.vips,
	}
	dsts := []netip.Addr{i.tr.Group()}
	send := func(b []byte, _ netip.Addr) error { return i.tr.Send(b) }
	if u, ok := i.unicaster(); ok {
		dsts, send = u.Peers(), u.SendTo
	}
	src := i.tr.LocalAddr()
	if !src.IsValid() {
		// The interface lost its last address (FAULT follows, whose
		// priority-0 advert lands here): nothing to send from.
		i.log.Debug("no source address: advert not sent", "priority", prio)
		return
	}
	sent := false
	for _, dst := range dsts {
		sumDst := dst
		if i.oldSum {
			sumDst = i.oldSumGroup
		}
		b, err := a.Marshal(src, sumDst)
		if err != nil {
			i.log.Error("encode advert", "err", err)
			return
		}
		if err := send(b, dst); err != nil {
			i.log.Warn("send advert", "dst", dst, "err", err)
			continue
		}
		sent = true
	}
	if !sent {
		return
	}
	i.stats.AdvertsSent++
	if prio == PriorityStop {
		i.stats.PriorityZeroSent++
	}
}

// unicaster is the transport when it sends to unicast peers.
func (i *Instance) unicaster() (Unicaster, bool) {
	u, ok := i.tr.(Unicaster)
	return u, ok && len(u.Peers()) > 0
}

func (i *Instance) countInvalid(err error, p Packet) {
	r := ReasonOf(err)
	if i.stats.Invalid == nil {
		i.stats.Invalid = map[Reason]uint64{}
	}
	i.stats.Invalid[r]++
	lvl := slog.LevelWarn
	if r == ReasonWrongVRID {
		// Other routers on the segment are normal, not an error.
		lvl = slog.LevelDebug
	}
	i.log.Log(context.Background(), lvl, "vrrp packet ignored", "src", p.Src, "err", err)
}

// validate applies the receive checks of RFC 3768 §7.1 / RFC 5798 §7.1
// that depend on this instance's configuration.
func (i *Instance) validate(p Packet) (*Advert, error) {
	// keepalived checks the TTL of multicast adverts only: a unicast peer
	// may be routers away (unicast_ttl below 255), and only the
	// configured peers are heard.
	if _, unicast := i.unicaster(); p.TTL != 255 && !unicast {
		return nil, invalid(ReasonBadTTL, "ttl %d", p.TTL)
	}
	if p.Src == i.tr.LocalAddr() {
		return nil, invalid(ReasonBadSource, "our own address")
	}
	dst := p.Dst
	if i.oldSum {
		dst = i.oldSumGroup
	}
	a, err := Unmarshal(p.Data, p.Src, dst)
	if err != nil && i.oldSumAuto && ReasonOf(err) == ReasonBadChecksum && p.Dst != i.oldSumGroup {
		// As keepalived 2: the peer is older than 1.3.6 (or set
		// old_unicast_checksum); answer in its form from now on.
		if old, oerr := Unmarshal(p.Data, p.Src, i.oldSumGroup); oerr == nil {
			i.oldSum, i.oldSumAuto = true, false
			i.stats.OldUnicastChecksum = true
			i.log.Info("unicast VRRPv3 checksum set to the old form (keepalived before 1.3.6, or old_unicast_checksum): a peer sends it", "peer", p.Src)
			a, err = old, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if a.Version != i.version {
		return nil, invalid(ReasonBadVersion, "version %d, configured %d", a.Version, i.version)
	}
	if a.VRID != i.vrid {
		return nil, invalid(ReasonWrongVRID, "vrid %d", a.VRID)
	}
	if i.version == 2 {
		if a.AuthType != i.authType {
			return nil, invalid(ReasonAuthMismatch, "auth type %v, configured %v", a.AuthType, i.authType)
		}
		if i.authType == AuthPass && a.AuthData != i.authData {
			return nil, invalid(ReasonAuthMismatch, "wrong password")
		}
		// RFC 3768: a mismatched Adver Int MUST be discarded.
		if a.Interval != i.advInt {
			return nil, invalid(ReasonIntervalMismatch, "interval %v, configured %v", a.Interval, i.advInt)
		}
	} else if a.Interval == 0 {
		return nil, invalid(ReasonIntervalMismatch, "zero interval")
	}
	if !sameAddrs(a.Addrs, i.vips) {
		// RFC 3768 says drop; RFC 5798 says drop unless the sender is the
		// address owner (priority 255). keepalived logs the mismatch; we
		// log it too, count it, and follow the RFCs.
		err := invalid(ReasonAddrMismatch, "addresses %v, configured %v", a.Addrs, i.vips)
		if i.version == 2 || a.Priority != PriorityOwner {
			return nil, err
		}
		i.countInvalid(err, p)
	}
	return a, nil
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

func (i *Instance) receiveLocked(now time.Time, p Packet) {
	a, err := i.validate(p)
	if err != nil {
		i.countInvalid(err, p)
		return
	}
	i.stats.AdvertsReceived++
	if a.Priority == PriorityStop {
		i.stats.PriorityZeroReceived++
	}
	switch i.state {
	case StateBackup:
		switch {
		case a.Priority == PriorityStop:
			i.masterDownAt = now.Add(i.skew())
		case !i.preempt || a.Priority >= i.prio || !i.preemptAllowed(now):
			if i.version == 3 {
				i.masterAdvInt = a.Interval
			}
			i.masterDownAt = now.Add(i.masterDownInterval())
			i.syncWant(false) // a master is alive
		default:
			// Lower-priority master and we may preempt: discard, so our
			// Master_Down_Timer runs out and we take over (RFC 5798 §6.4.2).
		}
	case StateMaster:
		switch {
		case a.Priority == PriorityStop:
			i.sendAdvert(i.prio)
			i.advertAt = now.Add(i.advInt)
		case a.Priority < i.prio || (a.Priority == i.prio && p.Src.Compare(i.tr.LocalAddr()) < 0):
			// keepalived, unless lower_prio_no_advert: answer at once, so
			// the other master yields now rather than at our next advert
			// (seen on the wire: the timer restarts from this one).
			if !i.lowerPrioNoAdvert {
				i.sendAdvert(i.prio)
				i.advertAt = now.Add(i.advInt)
			}
			// Another master that will yield: the network may have
			// learnt its MAC for our VIPs meanwhile (keepalived's
			// garp_lower_prio_repeat, again garp_lower_prio_delay later).
			if i.garp.LowerPrioRepeat > 0 {
				i.log.Info("lower-priority master seen; announcing vips", "src", p.Src, "priority", a.Priority)
				i.announce(i.garp.LowerPrioRepeat, "lower-priority advert")
				if i.garp.LowerPrioDelay > 0 {
					i.lowerAt = append(i.lowerAt, now.Add(i.garp.LowerPrioDelay))
				}
			}
			// keepalived's notify_master_rx_lower_pri, for a master whose
			// addresses the other one's notify_master may have taken
			// (cloud APIs that move secondary addresses): run at every such
			// advert, as keepalived does (vrrp.c, vrrp_state_master_rx).
			i.event(EventMasterRxLowerPri)
			if i.notifyRxLower != "" {
				i.startScript(i.notifyRxLower, StateMaster, i.scriptCredsNow().MasterRxLowerPri)
			}
		case a.Priority > i.prio || (a.Priority == i.prio && p.Src.Compare(i.tr.LocalAddr()) > 0):
			i.log.Info("higher-priority master seen", "src", p.Src, "priority", a.Priority)
			if i.higherPrioSendAdvert {
				// Our advert makes the other master's
				// garp_lower_prio_repeat announce the VIPs again, after a
				// split brain in which our gratuitous ARPs came last.
				i.sendAdvert(i.prio)
			}
			i.advertAt = time.Time{}
			i.releaseVIPs()
			if i.version == 3 {
				i.masterAdvInt = a.Interval
			} else {
				i.masterAdvInt = i.advInt
			}
			i.masterDownAt = now.Add(i.masterDownInterval())
			i.syncWant(false)
			i.setState(StateBackup)
			if i.sync != nil {
				// The rest of the group follows, with priority 0 so that
				// the other director's members take over at once.
				i.syncOthers(now, func(o *Instance, now time.Time) {
					if o.state == StateMaster {
						o.log.Info("backup with its sync group", "group", o.sync.name, "led_by", i.name)
						o.sendAdvert(PriorityStop)
						o.becomeBackup(now)
					}
				})
			}
		}
	}
}

// preemptAllowed implements preempt_delay: the first lower-priority advert
// seen in Backup starts the delay, and until it has passed such adverts
// still reset the Master_Down_Timer as if preemption were off.
func (i *Instance) preemptAllowed(now time.Time) bool {
	if i.delay <= 0 {
		return true
	}
	if i.preemptAt.IsZero() {
		i.preemptAt = now.Add(i.delay)
		i.log.Info("lower-priority master seen; preempting after delay", "delay", i.delay)
	}
	return !now.Before(i.preemptAt)
}

// startScript runs a notify script in the background. keepalived runs
// notify_master/backup/fault without arguments, so we do too (the command
// line is the script text verbatim) and pass the generic "notify" arguments
// as environment: XLB_VRRP_TYPE=INSTANCE, XLB_VRRP_NAME, XLB_VRRP_STATE,
// XLB_VRRP_PRIORITY.
func (i *Instance) startScript(script string, st State, cred runas.Cred) {
	env := []string{
		"XLB_VRRP_TYPE=INSTANCE",
		"XLB_VRRP_NAME=" + i.name,
		"XLB_VRRP_STATE=" + st.String(),
		"XLB_VRRP_PRIORITY=" + strconv.Itoa(int(i.prio)),
	}
	ctx, cancel := context.WithTimeout(i.scriptCtx, i.scriptTimeout)
	run := i.runScript
	i.scripts.Add(1)
	go func() {
		defer i.scripts.Done()
		defer cancel()
		if err := run(ctx, script, env, cred); err != nil {
			i.log.Warn("notify script failed", "state", st, "script", script, "err", err)
		}
	}()
}

func (i *Instance) shellScript(ctx context.Context, script string, env []string, cred runas.Cred) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	if err := cred.Apply(cmd, script); err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
