// Package director is the control loop of `xlb run`: it turns the
// configuration, health-check results and resolved real-server MACs into
// the desired datapath state and applies it whenever any of them changes;
// it sweeps the connection table and owns the VIPs on the interface.
package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/flowsync"
	"github.com/xlb-project/xlb/health"
	"github.com/xlb-project/xlb/iproute"
	"github.com/xlb-project/xlb/loader"
	"github.com/xlb-project/xlb/maps"
	"github.com/xlb-project/xlb/neigh"
	"github.com/xlb-project/xlb/vip"
)

// Options configure a Director.
type Options struct {
	Iface  string
	Mode   loader.Mode
	PinDir string // "" disables pinning (and so hitless restart)
	// ManageVIPs adds each service VIP to the interface (and announces it)
	// at start and removes it at stop. Off when VRRP owns the VIPs.
	ManageVIPs bool
	// Load reads and validates the configuration; called at start and on
	// every reload.
	Load          func() (*config.Config, error)
	HashSeed      uint32
	SweepInterval time.Duration // connection-table sweep; default 2 s
	NeighInterval time.Duration // MAC refresh; default 10 s
	Log           *slog.Logger
	// SynGuard limits connection-table inserts per CPU (SYN floods).
	SynGuard SynGuard
	// Sync shares new flows with peer directors (nil: off).
	Sync *flowsync.Config
	// HandoffPath is the file in which a restart in place tells the next
	// run which VRRP instances were master (director/handoff.go); "":
	// the next run starts them all as backup.
	HandoffPath string
}

// Director runs one interface's load balancing.
type Director struct {
	o     Options
	log   *slog.Logger
	dp    *loader.Datapath
	neigh *neigh.Resolver
	vips  *vip.Owner
	// static holds keepalived's static_ipaddress, static_routes and
	// static_rules from New to Close (director/routes.go).
	static *iproute.Set
	hc     *health.Manager
	notify *notifier // the real servers' notify_up / notify_down scripts
	vrrp   *vrrpSet
	// fifos are the notify FIFOs (director/fifo.go); nil until VRRP
	// starts, which writes nothing.
	fifos *fifoSet
	// haKick asks haLoop to re-apply ha_suspend after a VRRP transition
	// (capacity 1: one pending refresh covers any number of transitions).
	haKick chan struct{}
	// haMu makes reading the configuration and handing its targets to hc
	// one step, so a refresh from haLoop that read the configuration
	// before a reload cannot undo the reload's targets.
	haMu  sync.Mutex
	start time.Time

	bgp *bgpState // BGP speaker (director/bgp.go); nil without a bgp section; guarded by mu

	sync     *flowsync.Syncer
	stopSync func()

	// stats are the templates counted per slot and the baselines of
	// `xlb zero` (director/counters.go).
	stats slotStats

	mu   sync.Mutex // serialises every apply and guards the fields below
	cfg  *config.Config
	macs map[netip.Addr]net.HardwareAddr
	up   map[string]bool // health by target key
	// weights are the weights dynamic MISC_CHECKs (misc_dynamic) set, by
	// target key; they stand in for the configured weight.
	weights map[string]int
	// fileWeights are what FILE_CHECKs add to their servers' weights, by
	// target key (keepalived's value × weight).
	fileWeights map[string]int
	quorum      map[maps.Key]bool // quorum by service (updateQuorumLocked)
	closed      bool
}

// New validates the configuration, loads and attaches the datapath and
// applies the configuration. Nothing is attached when the configuration is
// invalid.
func New(ctx context.Context, o Options) (_ *Director, err error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 2 * time.Second
	}
	if o.NeighInterval <= 0 {
		o.NeighInterval = 10 * time.Second
	}
	cfg, err := o.Load()
	if err != nil {
		return nil, err
	}
	// keepalived's startup_script runs before anything is set up; a start
	// that fails afterwards runs the shutdown script, which undoes it.
	runLifeScript(o.Log, cfg, "startup_script", cfg.StartupScript)
	defer func() {
		if err != nil {
			runLifeScript(o.Log, cfg, "shutdown_script", cfg.ShutdownScript)
		}
	}()
	ifi, err := net.InterfaceByName(o.Iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", o.Iface, err)
	}
	res, err := neigh.New(o.Iface, 2*time.Second)
	if err != nil {
		return nil, err
	}
	dp, err := loader.Load(loader.Options{
		PinDir:           o.PinDir,
		ConnTableSize:    cfg.ConnTableSize,
		PersistTableSize: max(cfg.ConnTableSize/4, 1024),
		DirectorMAC:      ifi.HardwareAddr,
		HashSeed:         o.HashSeed,
	})
	if err != nil {
		return nil, err
	}
	d := &Director{
		o: o, log: o.Log, dp: dp, neigh: res, start: time.Now(), notify: newNotifier(o.Log),
		cfg: cfg, macs: map[netip.Addr]net.HardwareAddr{}, up: map[string]bool{}, weights: map[string]int{},
		fileWeights: map[string]int{},
	}
	if err := dp.ClockCalibration(); err != nil {
		d.log.Warn("datapath clock not calibrated: using the slower helper", "err", err)
	}
	if dp.Adopted() {
		d.log.Info("adopting pinned datapath state", "pin_dir", o.PinDir)
		// Keep serving real servers as they were until checks say
		// otherwise: a restart must not take healthy servers out.
		d.seedFromMaps()
	}
	d.hc = health.NewManager(d.log.With("component", "health"), d.onHealth)
	d.refreshMACs(ctx, cfg)
	if err := d.applyLocked(); err != nil {
		d.hc.Close()
		dp.Close(!dp.Adopted())
		return nil, err
	}
	if err := d.startDatapathExtras(); err != nil {
		d.hc.Close()
		dp.Close(!dp.Adopted())
		return nil, err
	}
	if err := dp.Attach(o.Iface, o.Mode); err != nil {
		if d.stopSync != nil {
			d.stopSync()
		}
		d.hc.Close()
		dp.Close(!dp.Adopted())
		return nil, err
	}
	if o.ManageVIPs {
		owner, err := vip.New(o.Iface, d.log.With("component", "vip"))
		if err != nil {
			d.Close(true)
			return nil, err
		}
		d.vips = owner
		if err := owner.Acquire(directVIPs(cfg)...); err != nil {
			d.Close(true)
			return nil, fmt.Errorf("add vips: %w", err)
		}
	}
	// Before VRRP: a virtual route may go via a static address.
	if err := d.startStatic(cfg); err != nil {
		d.Close(true)
		return nil, err
	}
	d.haKick = make(chan struct{}, 1)
	go d.haLoop()
	// Open before VRRP starts, so its first BACKUP lines are written.
	fifos := newFIFOSet(d.log)
	fifos.update(cfg)
	d.mu.Lock()
	d.fifos = fifos
	d.mu.Unlock()
	d.vrrp = &vrrpSet{d: d, runs: map[string]*vrrpRun{}, resume: d.takeHandoff()}
	if err := d.vrrp.update(cfg); err != nil {
		d.Close(true)
		return nil, err
	}
	d.vrrp.mu.Lock()
	d.vrrp.resume = nil // only the first configuration's instances resume
	d.vrrp.mu.Unlock()
	// BGP (director/bgp.go): announce only once the datapath forwards.
	if err := d.startBGP(ctx, cfg); err != nil {
		d.Close(true)
		return nil, err
	}
	warnRootScripts(d.log, cfg)
	d.hc.Update(d.checkTargets(cfg, d.vrrp.heldVIPs()))
	d.log.Info("xlb running", "iface", o.Iface, "mode", dp.AttachedMode(), "services", len(cfg.Services))
	return d, nil
}

// Datapath exposes the loaded datapath to status and metrics code.
func (d *Director) Datapath() *loader.Datapath { return d.dp }

// Config returns the configuration in force.
func (d *Director) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Uptime since New.
func (d *Director) Uptime() time.Duration { return time.Since(d.start) }

// Health returns the health checker (for status and metrics).
func (d *Director) Health() *health.Manager { return d.hc }

// Run sweeps the connection table and refreshes MACs until ctx ends.
func (d *Director) Run(ctx context.Context) error {
	sweep := time.NewTicker(d.o.SweepInterval)
	defer sweep.Stop()
	// MACs are refreshed every NeighInterval, and every second while one
	// is still unknown: an unresolved real server takes no flows.
	nt := time.NewTicker(time.Second)
	defer nt.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if err := d.Sweep(); err != nil {
				d.log.Warn("connection table sweep", "err", err)
			}
			d.reconcileHealth()
		case <-nt.C:
			d.mu.Lock()
			cfg := d.cfg
			missing := d.unresolvedLocked()
			d.mu.Unlock()
			if !missing && time.Since(lastRefresh) < d.o.NeighInterval {
				continue
			}
			lastRefresh = time.Now()
			if d.refreshMACs(ctx, cfg) {
				d.mu.Lock()
				if err := d.applyLocked(); err != nil {
					d.log.Error("apply after mac change", "err", err)
				}
				d.mu.Unlock()
			}
		}
	}
}

// Sweep expires idle flows, corrects connection counts and frees slots
// of removed real servers that no flow uses any more.
func (d *Director) Sweep() error {
	res, err := d.dp.Maps.Conns.Sweep(maps.Now())
	if err != nil {
		return err
	}
	// Templates are counted whole even when flow buckets were busy.
	d.stats.setTemplates(res.Templates)
	if res.Busy > 0 {
		// Some buckets could not be read: a flow in one of them may still
		// use a drained slot, so none is freed this pass.
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	freed, err := d.dp.Maps.Services.Reclaim(res.Refs)
	// A freed slot's counters are read before anything can reuse it (an
	// apply needs d.mu): its service keeps them, so its totals never go
	// back when a removed server's last flow ends.
	for _, f := range freed {
		c, cerr := d.dp.Maps.Stats.Backend(f.Slot)
		if cerr != nil {
			d.log.Warn("counters of a freed real-server slot", "slot", f.Slot, "err", cerr)
			continue
		}
		d.stats.retire(f, Counts{Conns: c.Conns, Packets: c.Packets, Bytes: c.Bytes})
	}
	return err
}

// Reload re-reads the configuration and applies only what changed. An
// invalid configuration is rejected whole and the running one stays.
func (d *Director) Reload(ctx context.Context) error {
	cfg, err := d.o.Load()
	if err != nil {
		return fmt.Errorf("reload rejected, keeping the running configuration: %w", err)
	}
	return d.ApplyConfig(ctx, cfg)
}

// ApplyConfig validates cfg whole and makes it the running configuration,
// applying only the difference to the datapath (runtime edits use it).
func (d *Director) ApplyConfig(ctx context.Context, cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration rejected, keeping the running one: %w", err)
	}
	d.refreshMACs(ctx, cfg)
	d.mu.Lock()
	old := d.cfg
	gone := removedUpLocked(old, cfg, d.up)
	d.cfg = cfg
	d.carryHealthLocked(old, cfg)
	if err := d.applyLocked(); err != nil {
		d.cfg = old
		// Put back what the old configuration said.
		if rerr := d.applyLocked(); rerr != nil {
			d.log.Error("restoring previous configuration", "err", rerr)
		}
		d.mu.Unlock()
		return fmt.Errorf("reload failed, previous configuration restored: %w", err)
	}
	// A checked server the reload removed while it was up goes down, as
	// keepalived's reload reports it: its RS DOWN line and notify_down
	// (of the old configuration, which has them).
	for _, g := range gone {
		d.reportLocked(old, g.s, g.r, false)
	}
	d.mu.Unlock()
	d.fifos.update(cfg)
	d.reloadStatic(cfg)
	if err := d.vrrp.update(cfg); err != nil {
		d.log.Error("vrrp", "err", err)
	}
	if cfg.FIFOWriteVRRPStatesOnReload {
		d.vrrp.writeStates()
	}
	d.reloadBGP(ctx, cfg) // director/bgp.go
	if d.vips != nil {
		oldV, newV := directVIPs(old), directVIPs(cfg)
		if err := d.vips.Acquire(newV...); err != nil {
			d.log.Error("add vips", "err", err)
		}
		if gone := minus(oldV, newV); len(gone) > 0 {
			if err := d.vips.Release(gone...); err != nil {
				d.log.Error("remove vips", "err", err)
			}
		}
	}
	warnRootScripts(d.log, cfg)
	d.haMu.Lock()
	ts := d.checkTargets(cfg, d.vrrp.heldVIPs())
	d.hc.Update(ts)
	d.haMu.Unlock()
	// A check that is gone (or restarted) sets its weight anew.
	live := map[string]bool{}
	for _, t := range ts {
		live[t.Key] = t.Check.Dynamic
	}
	d.mu.Lock()
	for k := range d.weights {
		if !live[k] {
			delete(d.weights, k)
		}
	}
	// A file check gone leaves its server's weight; a changed one reports
	// its value again at once.
	for k := range d.fileWeights {
		if _, ok := live[k]; !ok {
			delete(d.fileWeights, k)
		}
	}
	d.mu.Unlock()
	d.log.Info("configuration reloaded", "services", len(cfg.Services))
	return nil
}

// Close stops checks and releases the datapath; detach removes the program
// and pins (a clean stop), otherwise the datapath keeps forwarding for the
// next run to adopt.
func (d *Director) Close(detach bool) error {
	// BGP (director/bgp.go) first: routers stop sending here while the
	// datapath still forwards what is in flight.
	bgpErr := d.closeBGP()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.hc.Close()
	d.notify.close() // no health event comes after hc.Close
	if d.stopSync != nil {
		d.stopSync()
	}
	// keepalived's order: the FIFO scripts get SIGTERM, then the STOP
	// lines are written (none at a restart in place, which keeps the
	// VIPs), then the FIFOs close.
	d.fifos.terminate()
	if d.vrrp != nil {
		d.vrrp.stopAll(!detach)
		close(d.haKick) // no instance runs, so none kicks any more
		if !detach && d.o.HandoffPath != "" {
			if err := writeHandoff(d.o.HandoffPath, handoff{Masters: d.vrrp.left}); err != nil {
				d.log.Warn("the next run will start its vrrp instances as backup", "err", err)
			}
		}
	}
	d.fifos.closeAll()
	errs := []error{bgpErr}
	errs = append(errs, d.stopStatic(detach))
	if d.vips != nil {
		if detach {
			errs = append(errs, d.vips.ReleaseAll())
		}
		errs = append(errs, d.vips.Close())
	}
	errs = append(errs, d.dp.Close(detach))
	// keepalived's shutdown_script, after everything else; the running
	// configuration's (a reload may have changed it).
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	runLifeScript(d.log, cfg, "shutdown_script", cfg.ShutdownScript)
	return errors.Join(errs...)
}

func (d *Director) onHealth(ev health.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	changed := false
	if w, had := d.weights[ev.Key]; ev.WeightSet && (!had || w != ev.Weight) {
		d.weights[ev.Key] = ev.Weight
		d.log.Info("real server weight set by its check", "target", ev.Key, "weight", ev.Weight)
		changed = true
	}
	if d.fileWeights[ev.Key] != ev.FileWeight {
		d.fileWeights[ev.Key] = ev.FileWeight
		d.log.Info("real server weight moved by its file check", "target", ev.Key, "add", ev.FileWeight, "reason", ev.Reason)
		changed = true
	}
	if prev, ok := d.up[ev.Key]; !ok || prev != ev.Up {
		d.setUpLocked(ev.Key, ev.Up)
		state := "down"
		if ev.Up {
			state = "up"
		}
		d.log.Info("real server "+state, "target", ev.Key, "reason", ev.Reason, "latency", ev.Latency)
		changed = true
	}
	if !changed {
		return
	}
	if err := d.applyLocked(); err != nil {
		d.log.Error("apply after health change", "err", err)
	}
}

// setUpLocked records a real server's health and runs its notify_up when
// it goes up, its notify_down when it goes down from up (a new server
// starts down until its first check passes, as in keepalived's alpha mode:
// a first failing check is no transition; see carryHealthLocked for a
// check added to a server already up).
func (d *Director) setUpLocked(key string, up bool) {
	s, r, ok := d.serverOfCheck(key)
	if !ok {
		d.up[key] = up
		return
	}
	k := serviceKey(s)
	was := serverUp(k, r, d.up)
	d.up[key] = up
	// With several checks the server changes only when all of them agree.
	if now := serverUp(k, r, d.up); now != was {
		d.reportLocked(d.cfg, s, r, now)
	}
}

// reportLocked tells the lvs FIFO and the notify_up / notify_down script of
// real server r of s (as cfg has them) that it went up or down.
func (d *Director) reportLocked(cfg *config.Config, s config.Service, r config.RealServer, up bool) {
	d.fifos.lvs(rsLine(s, r, up))
	script, user, env := notifyScript(cfg, TargetKey(s, r), up)
	cred, _ := cfg.ScriptCred(user) // an error refuses the script
	d.notify.run(script, env, cred)
}

// checkedServer is a real server with checks, and its service.
type checkedServer struct {
	s config.Service
	r config.RealServer
}

// removedUpLocked lists the checked real servers of old that cfg no longer
// has and that were up.
func removedUpLocked(old, cfg *config.Config, up map[string]bool) []checkedServer {
	kept := map[string]bool{}
	for _, s := range cfg.Services {
		for _, r := range s.RealServers {
			kept[TargetKey(s, r)] = true
		}
	}
	var out []checkedServer
	for _, s := range old.Services {
		for _, r := range s.RealServers {
			if len(CheckKeys(s, r)) > 0 && !kept[TargetKey(s, r)] && serverUp(serviceKey(s), r, up) {
				out = append(out, checkedServer{s, r})
			}
		}
	}
	return out
}

// serverOfCheck finds the service and real server a health target checks.
func (d *Director) serverOfCheck(key string) (config.Service, config.RealServer, bool) {
	for _, s := range d.cfg.Services {
		for _, r := range s.RealServers {
			if slices.Contains(CheckKeys(s, r), key) {
				return s, r, true
			}
		}
	}
	return config.Service{}, config.RealServer{}, false
}

// reconcileHealth takes the checkers' current verdicts as the truth. Events
// carry only transitions, so a server seeded as up from adopted maps that
// is in fact down would otherwise never be taken out.
func (d *Director) reconcileHealth() {
	snap := d.hc.Snapshot()
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for k, st := range snap {
		if st.Checks > 0 && d.up[k] != st.Up {
			d.setUpLocked(k, st.Up)
			changed = true
		}
		if w, had := d.weights[k]; st.WeightSet && (!had || w != st.Weight) {
			d.weights[k] = st.Weight
			changed = true
		}
		if st.Checks > 0 && d.fileWeights[k] != st.FileWeight {
			d.fileWeights[k] = st.FileWeight
			changed = true
		}
	}
	if changed && !d.closed {
		if err := d.applyLocked(); err != nil {
			d.log.Error("apply after health reconcile", "err", err)
		}
	}
}

// carryHealthLocked sets the state of each check that cfg adds to a real
// server (a target key old does not have) before cfg is applied; d.mu must
// be held. keepalived's reload keeps a real server's state, and a checker
// added to a server that is up starts as succeeded unless alpha is set (xlb
// has no such switch): so a check added to, or replacing, the check of a
// server of old that is up (with no check it always is) starts up and
// takes it out only after fall failed checks. Without this the key would
// be unknown, the server down at once and its service perhaps without
// quorum until rise checks passed. A check of a server new to the
// configuration, or of one that was down, starts down (alpha: rise passes
// needed). Keys old has too keep their state (health.Manager.Update).
func (d *Director) carryHealthLocked(old, cfg *config.Config) {
	for _, s := range cfg.Services {
		k := serviceKey(s)
		for _, r := range s.RealServers {
			was, found := realServerOf(old, k, r)
			up := found && serverUp(k, was, d.up)
			var had []string
			if found {
				had = checkKeys(k, was)
			}
			for _, key := range checkKeys(k, r) {
				if !slices.Contains(had, key) {
					// Set even when down: an entry left by an earlier
					// configuration must not bring a new server up.
					d.up[key] = up
				}
			}
		}
	}
}

// realServerOf finds the real server at r's address and port in the
// service with key k of cfg; false when there is none (or no cfg).
func realServerOf(cfg *config.Config, k maps.Key, r config.RealServer) (config.RealServer, bool) {
	if cfg == nil {
		return config.RealServer{}, false
	}
	for _, s := range cfg.Services {
		if serviceKey(s) != k {
			continue
		}
		for _, o := range s.RealServers {
			if o.Address == r.Address && o.Port == r.Port {
				return o, true
			}
		}
	}
	return config.RealServer{}, false
}

// checkTargets is targets(cfg, held) with each check starting, should it be
// new to d.hc, in the state the director already holds for it
// (carryHealthLocked, seedFromMaps), so that the checker and the datapath
// agree from the start.
func (d *Director) checkTargets(cfg *config.Config, held map[netip.Addr]bool) []health.Target {
	ts := targets(cfg, held)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range ts {
		ts[i].StartUp = d.up[ts[i].Key]
	}
	return ts
}

// seedFromMaps marks every real server that the adopted maps had available
// as up, so a restart keeps them in service until their checks report
// them down (their checkers start up: checkTargets).
func (d *Director) seedFromMaps() {
	list, err := d.dp.Maps.Services.List()
	if err != nil {
		return
	}
	// A failed server that inhibit_on_failure keeps at weight 0 is
	// available too: weight 0 where the configuration gives more says
	// it was down (or drained by the script or a runtime edit, which a
	// restart forgets anyway), so its checks bring it back, not the
	// restart.
	configured := map[string]int{}
	for _, s := range d.cfg.Services {
		for _, r := range s.RealServers {
			configured[TargetKey(s, r)] = r.Weight
		}
	}
	for _, s := range list {
		for _, b := range s.Backends {
			if !b.Available {
				continue
			}
			d.macs[b.Addr.Addr()] = b.MAC
			key := targetKey(s.Key, b.Addr)
			if w, ok := configured[key]; ok && w > 0 && b.Weight == 0 {
				continue
			}
			d.up[key] = true
		}
	}
	// A server with several checks was available: all of them passed.
	for _, s := range d.cfg.Services {
		for _, r := range s.RealServers {
			keys := CheckKeys(s, r)
			if len(keys) > 1 && d.up[keys[0]] {
				for _, key := range keys[1:] {
					d.up[key] = true
				}
			}
		}
	}
}

func (d *Director) unresolvedLocked() bool {
	for _, s := range d.cfg.Services {
		for _, t := range forwardedTo(s) {
			if _, ok := d.macs[t.addr]; !ok {
				return true
			}
		}
	}
	return false
}

// target is an address a service forwards to, and how.
type target struct {
	addr netip.Addr
	fwd  config.Forward
}

// forwardedTo lists the addresses s may forward to: its real servers and
// its sorry server, each with its forwarding method.
func forwardedTo(s config.Service) []target {
	out := make([]target, 0, len(s.RealServers)+1)
	for _, r := range s.RealServers {
		out = append(out, target{r.Address, s.ForwardOf(r)})
	}
	if s.SorryServer != nil {
		out = append(out, target{s.SorryServer.Address, s.SorryForward()})
	}
	return out
}

// refreshMACs resolves every real server's MAC and reports whether any
// changed.
func (d *Director) refreshMACs(ctx context.Context, cfg *config.Config) bool {
	// DR needs the real server's own MAC; TUN the MAC of the next hop
	// towards it (the server itself when on-link).
	var ips, want []netip.Addr
	via := map[netip.Addr]netip.Addr{}
	seen := map[netip.Addr]bool{}
	for _, s := range cfg.Services {
		for _, t := range forwardedTo(s) {
			a := t.addr
			if _, ok := via[a]; ok {
				continue
			}
			// An address both tunnelled to and reached directly is
			// on-link: its next hop is itself.
			hop := a
			if t.fwd == config.TUN {
				hop = nextHop(a)
			}
			via[a] = hop
			ips = append(ips, a)
			if !seen[hop] {
				seen[hop] = true
				want = append(want, hop)
			}
		}
	}
	found := d.neigh.Resolve(ctx, want)
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for _, ip := range ips {
		mac, ok := found[via[ip]]
		if !ok {
			if _, had := d.macs[ip]; !had {
				d.log.Warn("real server mac unresolved; it takes no flows until it answers arp/nd", "addr", ip)
			}
			continue // keep a known MAC: a lost ARP reply must not drop a server
		}
		if old, had := d.macs[ip]; !had || old.String() != mac.String() {
			d.log.Info("real server mac", "addr", ip, "mac", mac.String())
			d.macs[ip] = mac
			changed = true
		}
	}
	return changed
}

// nextHop is the gateway the kernel routes ip through, or ip itself when
// it is on-link (or the lookup fails: then ARP for it tells).
func nextHop(ip netip.Addr) netip.Addr {
	routes, err := netlink.RouteGet(ip.AsSlice())
	if err != nil || len(routes) == 0 || routes[0].Gw == nil {
		return ip
	}
	if gw, ok := netip.AddrFromSlice(routes[0].Gw); ok {
		return gw.Unmap()
	}
	return ip
}

func (d *Director) applyLocked() error {
	cfg := withDynamicWeights(d.cfg, d.weights, d.fileWeights)
	d.updateQuorumLocked(cfg)
	if err := d.dp.Maps.Services.Apply(Specs(cfg, d.macs, d.up, d.o.HashSeed, d.quorum)); err != nil {
		return err
	}
	d.syncBGPLocked() // director/bgp.go: announce what can be served now
	return nil
}

// updateQuorumLocked follows every service's quorum (with its hysteresis)
// and runs quorum_up / quorum_down when it is gained or lost; a service
// seen for the first time starts from its quorum alone, without a script.
func (d *Director) updateQuorumLocked(cfg *config.Config) {
	states := make(map[maps.Key]bool, len(cfg.Services))
	for _, s := range cfg.Services {
		key := serviceKey(s)
		was, known := d.quorum[key]
		has := hasQuorum(s, quorumWeight(s, key, d.macs, d.up), was, known)
		states[key] = has
		if !known || has == was {
			continue
		}
		script, user, state := s.QuorumDown, s.QuorumDownUser, "DOWN"
		if has {
			script, user, state = s.QuorumUp, s.QuorumUpUser, "UP"
		}
		d.fifos.lvs(vsLine(s, has))
		d.log.Info("service quorum "+strings.ToLower(state), "service", key.String(), "quorum", max(s.Quorum, 1), "hysteresis", s.Hysteresis)
		cred, _ := cfg.ScriptCred(user) // an error refuses the script
		d.notify.run(script, []string{"XLB_SERVICE=" + key.String(), "XLB_STATE=" + state}, cred)
	}
	d.quorum = states
}

// withDynamicWeights is cfg with the weights its dynamic MISC_CHECKs set
// in place of the configured ones (the first such check of a server
// decides), plus what its FILE_CHECKs add (fileWeights), kept within
// 0..config.MaxWeight as keepalived keeps the IPVS weight within its
// range (below 0 is weight 0: drained, not down); cfg itself when no check
// moves a weight.
func withDynamicWeights(cfg *config.Config, weights, fileWeights map[string]int) *config.Config {
	moved := len(weights) > 0
	for _, w := range fileWeights {
		moved = moved || w != 0
	}
	if !moved {
		return cfg
	}
	out := cfg.Clone()
	for i := range out.Services {
		s := &out.Services[i]
		for j := range s.RealServers {
			r := &s.RealServers[j]
			keys := CheckKeys(*s, *r)
			for n, ck := range r.Checks() {
				if w, ok := weights[keys[n]]; ok && ck.Dynamic {
					r.Weight = w
					break
				}
			}
			add := 0
			for n, ck := range r.Checks() {
				if ck.Type == config.FileCheck {
					add += fileWeights[keys[n]]
				}
			}
			if add != 0 {
				r.Weight = min(max(r.Weight+add, 0), config.MaxWeight)
			}
		}
	}
	return out
}

// quorumWeight is what keepalived's quorum counts: the sum of the weights
// of s's real servers that can take a new flow (up, weight above 0, MAC
// resolved).
func quorumWeight(s config.Service, key maps.Key, macs map[netip.Addr]net.HardwareAddr, up map[string]bool) int {
	sum := 0
	for _, r := range s.RealServers {
		if serverUp(key, r, up) && r.Weight > 0 && len(macs[r.Address]) == 6 {
			sum += r.Weight
		}
	}
	return sum
}

// hasQuorum decides a service's quorum from that weight: lost below
// quorum-hysteresis, gained again at quorum+hysteresis (keepalived); was
// is the previous state, known whether there was one.
func hasQuorum(s config.Service, weight int, was, known bool) bool {
	q := max(s.Quorum, 1)
	switch {
	case !known:
		return weight >= q
	case was:
		return weight > 0 && weight >= q-s.Hysteresis
	}
	return weight >= q+s.Hysteresis
}

// Specs computes the desired datapath state. A real server without a
// health check is up; with one it is up only once its checker says so.
// quorum holds each service's quorum state (updateQuorumLocked); a service
// missing from it is judged by its quorum alone.
func Specs(cfg *config.Config, macs map[netip.Addr]net.HardwareAddr, up map[string]bool, seed uint32, quorum map[maps.Key]bool) []maps.ServiceSpec {
	var out []maps.ServiceSpec
	for _, s := range cfg.Services {
		t := cfg.ServiceTimeouts(s)
		spec := maps.ServiceSpec{
			Key:        serviceKey(s),
			Scheduler:  schedulerOf(s.Scheduler),
			PersistSec: uint32(s.PersistenceTimeout / time.Second),
			// Validated: a prefix length of the VIP's family.
			PersistPrefix: uint8(s.PersistenceGranularity),
			TCPSec:        uint32(t.TCP / time.Second),
			TCPFinSec:     uint32(t.TCPFin / time.Second),
			UDPSec:        uint32(t.UDP / time.Second),
			HashSeed:      uint64(seed),
		}
		if s.HashPort {
			spec.Flags |= maps.FlagHashPort
		}
		if s.ExpireNodestConn {
			spec.Flags |= maps.FlagExpireNodest
		}
		if s.OPS {
			spec.Flags |= maps.FlagOPS
		}
		for _, r := range s.RealServers {
			addr := netip.AddrPortFrom(r.Address, r.Port)
			healthy := serverUp(spec.Key, r, up)
			b := maps.BackendSpec{
				Addr: addr, MAC: macs[r.Address], Weight: uint32(r.Weight), Available: healthy,
				// Validated: 0..maxThreshold, lower not above upper.
				UpperThreshold: uint32(r.UThreshold), LowerThreshold: uint32(r.LThreshold),
			}
			tt, port := s.TunnelOf(r)
			setTunnel(&b, s.ForwardOf(r), tt, port)
			if !healthy && (s.InhibitOnFailure || r.InhibitOnFailure) {
				// keepalived inhibit_on_failure: weight 0 instead of
				// removal, so the server keeps its existing flows.
				b.Available, b.Weight = true, 0
			}
			spec.Backends = append(spec.Backends, b)
		}
		serving, known := quorum[spec.Key]
		if !known {
			serving = hasQuorum(s, quorumWeight(s, spec.Key, macs, up), false, false)
		}
		if ss := s.SorryServer; ss != nil {
			if !serving {
				// keepalived takes the remaining servers out while the
				// sorry server stands in (their flows stay, as a failed
				// server's).
				for i := range spec.Backends {
					if spec.Backends[i].Weight > 0 {
						spec.Backends[i].Available = false
					}
				}
			}
			spec.Backends = append(spec.Backends, sorryBackend(s, ss, macs, serving))
		}
		out = append(out, spec)
	}
	return out
}

// setTunnel marks b as forwarded by f, with TUN in encapsulation t (port:
// GUE's).
func setTunnel(b *maps.BackendSpec, f config.Forward, t config.TunnelType, port uint16) {
	b.Tunnel = f == config.TUN
	if !b.Tunnel {
		return
	}
	switch t {
	case config.TunnelGRE:
		b.GRE = true
	case config.TunnelGUE:
		b.GUEPort = port
	}
}

// sorryBackend is s's sorry server: in service at weight 1 while the
// service has lost its quorum (by default: no server up with a weight
// above 0; an unresolved MAC counts as not up, as such a server gets no
// flows). Otherwise it is out, keeping its flows as a failed real server
// does, or with sorry_server_inhibit at weight 0.
func sorryBackend(s config.Service, ss *config.SorryServer, macs map[netip.Addr]net.HardwareAddr, serving bool) maps.BackendSpec {
	b := maps.BackendSpec{
		Addr: netip.AddrPortFrom(ss.Address, ss.Port), MAC: macs[ss.Address],
		Weight: 1, Available: !serving,
	}
	tt, port := s.SorryTunnel()
	setTunnel(&b, s.SorryForward(), tt, port)
	if serving && ss.Inhibit {
		b.Available, b.Weight = true, 0
	}
	return b
}

func serviceKey(s config.Service) maps.Key {
	proto := uint8(6)
	if s.Protocol == config.UDP {
		proto = 17
	}
	return maps.Key{VIP: s.VIP, Port: s.Port, Proto: proto}
}

func schedulerOf(s config.Scheduler) maps.Scheduler {
	switch s {
	case config.RR:
		return maps.RR
	case config.WRR:
		return maps.WRR
	case config.SH:
		return maps.SH
	case config.MH:
		return maps.MH
	case config.LC:
		return maps.LC
	case config.SED:
		return maps.SED
	case config.NQ:
		return maps.NQ
	}
	return maps.WLC
}

func targetKey(k maps.Key, rs netip.AddrPort) string { return k.String() + "/" + rs.String() }

// serverUp says whether real server r of the service with key k passes
// its health check (one without a check is always up).
func serverUp(k maps.Key, r config.RealServer, up map[string]bool) bool {
	for _, key := range checkKeys(k, r) {
		if !up[key] {
			return false
		}
	}
	return true
}

// checkKeys names the health targets of a real server's checks: the
// server's own key (TargetKey) for the first, "KEY#N" for the N-th after
// it; none without a check.
func checkKeys(k maps.Key, r config.RealServer) []string {
	base := targetKey(k, netip.AddrPortFrom(r.Address, r.Port))
	var out []string
	for n := range r.Checks() {
		if n == 0 {
			out = append(out, base)
		} else {
			out = append(out, fmt.Sprintf("%s#%d", base, n+1))
		}
	}
	return out
}

// CheckKeys is checkKeys for a service of the configuration: the health
// targets whose verdicts together say whether r is up.
func CheckKeys(s config.Service, r config.RealServer) []string {
	return checkKeys(serviceKey(s), r)
}

// warnRootScripts says, as keepalived 2 does at startup, when scripts run
// as root only because no user is configured for them.
func warnRootScripts(log *slog.Logger, cfg *config.Config) {
	if f := cfg.RootByDefault(); f != "" {
		log.Warn("scripts without a user of their own run as root: set script_user (global_defs or YAML), or create the user keepalived_script", "script", f)
	}
}

// TargetKey names a real server of a service for health and status.
func TargetKey(s config.Service, r config.RealServer) string {
	return targetKey(serviceKey(s), netip.AddrPortFrom(r.Address, r.Port))
}

// haLoop re-applies ha_suspend whenever a VRRP instance changed state,
// outside the instance's goroutine: that one may be stopping under the
// vrrpSet's lock, which heldVIPs takes.
func (d *Director) haLoop() {
	for range d.haKick {
		d.haMu.Lock()
		d.hc.Update(d.checkTargets(d.Config(), d.vrrp.heldVIPs()))
		d.haMu.Unlock()
	}
}

// kickHA asks haLoop for a refresh without ever blocking a VRRP instance.
func (d *Director) kickHA() {
	select {
	case d.haKick <- struct{}{}:
	default:
	}
}

// targets returns the health checks of cfg. held are the VRRP VIPs the
// director holds (instances in MASTER): a service with ha_suspend whose
// VIP is a VRRP VIP not held is checked by nobody (keepalived suspends its
// checkers while the VIP is on no local interface), its servers keep their
// state. The director's own VIPs are always held.
func targets(cfg *config.Config, held map[netip.Addr]bool) []health.Target {
	var out []health.Target
	moved := vrrpVIPs(cfg)
	for _, s := range cfg.Services {
		suspended := s.HASuspend && moved[s.VIP] && !held[s.VIP]
		for _, r := range s.RealServers {
			keys := CheckKeys(s, r)
			for n, ck := range r.Checks() {
				tg := health.Target{
					Key:       keys[n],
					Addr:      netip.AddrPortFrom(r.Address, r.Port),
					Check:     *ck,
					DelayLoop: s.DelayLoop,
					Suspended: suspended,
				}
				if ck.Type == config.HTTPSCheck && cfg.SSL != nil {
					tg.SSL = *cfg.SSL
					tg.SSL.Line = 0 // moving the block restarts no check
				}
				if ck.Type == config.MiscCheck {
					// Validated; a user gone since refuses the script
					// (the check fails) rather than running it as root.
					tg.RunAs, _ = cfg.ScriptCred(ck.User)
				}
				if ck.Type == config.FileCheck {
					// Validated: the track file exists. Its line is no
					// part of it, so moving it restarts nothing.
					for _, f := range cfg.VRRPTrackFiles {
						if f.Name == ck.TrackFile {
							f.Line = 0
							tg.File = f
						}
					}
				}
				out = append(out, tg)
			}
		}
	}
	return out
}

// NotifyFIFOs reports the open notify FIFOs' line counts.
func (d *Director) NotifyFIFOs() []FIFOStatus { return d.fifos.status() }

// VRRPStatus reports every VRRP instance.
func (d *Director) VRRPStatus() []VRRPStatus {
	if d.vrrp == nil {
		return nil
	}
	return d.vrrp.status()
}

// directVIPs are the service VIPs the director owns itself: all of them
// except those a VRRP instance moves between directors, and none when BGP
// announces them (routers reach the director by next hop; see bgp.go).
func directVIPs(cfg *config.Config) []netip.Addr {
	if cfg.BGP != nil {
		return nil
	}
	var out []netip.Addr
	seen := vrrpVIPs(cfg)
	for _, s := range cfg.Services {
		if !seen[s.VIP] {
			seen[s.VIP] = true
			out = append(out, s.VIP)
		}
	}
	return out
}

func minus(a, b []netip.Addr) []netip.Addr {
	in := map[netip.Addr]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []netip.Addr
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
