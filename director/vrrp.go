package director

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/internal/trackfile"
	"github.com/xlb-project/xlb/internal/trackproc"
	"github.com/xlb-project/xlb/iproute"
	"github.com/xlb-project/xlb/vip"
	"github.com/xlb-project/xlb/vmac"
	"github.com/xlb-project/xlb/vrrp"
	"golang.org/x/sys/unix"
)

// vrrpSet runs the configured VRRP instances. Each owns its virtual
// addresses through its own vip.Owner: the VIPs move with mastership.
type vrrpSet struct {
	d       *Director
	mu      sync.Mutex
	runs    map[string]*vrrpRun
	scripts map[string]*scriptRun // the vrrp_scripts some instance tracks
	files   map[string]*fileRun   // the track_files some instance tracks
	procs   map[string]*procRun   // the vrrp_track_processes some instance tracks
	groups  map[string]*syncRun   // the vrrp_sync_groups, by name
	// monitor counts the processes of procs (one proc connector socket
	// for all); nil until a process is first tracked.
	monitor *trackproc.Monitor
	// cfg is the configuration last applied, for who the notify scripts
	// of new instances and groups run as.
	cfg *config.Config
	// vips are the addresses xlb puts on interfaces (the services' and the
	// instances' VIPs): never a VRRP source address (vrrp.WithNotSource).
	// Read by the instances' link polls, so not under mu.
	vips atomic.Pointer[map[netip.Addr]bool]
	// igmp and mld are the IPv4 and IPv6 VMACs whose group reports the
	// kernel drops (vmac.DropIGMP, vmac.DropMLD).
	igmp, mld []string
	// promote holds promote_secondaries for the instances asking for it.
	promote promoteSet
	// pacers space the gratuitous ARPs and NAs of the instances on one
	// interface, or on the interfaces of one garp_group (pacerKey).
	pacers map[string]*vip.Pacer
	// resume are the instances the run before a restart in place left as
	// master (director/handoff.go), by name, until the first
	// configuration has started them; left are this run's, once stopAll
	// has stopped them for a restart in place.
	resume map[string]handoffMaster
	left   []handoffMaster
	// initDone is set once the first configuration's init_files are
	// written: later ones (reloads) only create missing files, as
	// keepalived never overwrites a track file at a reload.
	initDone bool
}

// fileRun is one watched track_file and the definition it watches.
type fileRun struct {
	cfg config.VRRPTrackFile // Line cleared
	w   *trackfile.Watch
}

// procRun is one counted vrrp_track_process and the definition it counts by.
type procRun struct {
	cfg config.VRRPTrackProcess // Line cleared
	t   *trackproc.Tracker
}

type vrrpRun struct {
	cfg    config.VRRPInstance
	tracks map[string]vrrp.TrackedScript
	files  map[string]vrrp.TrackedFile
	procs  map[string]vrrp.TrackedProcess
	sync   *config.VRRPSyncGroup // its group (Line cleared), nil if none
	// prioLines says whether its priority changes go to the VRRP FIFOs
	// (config.PriorityChanges; the global default may change at a reload
	// without restarting it).
	prioLines *atomic.Bool
	inst      *vrrp.Instance
	owner     *vip.Owner
	routes    *iproute.Set // its virtual_routes and virtual_rules
	// vmac is its use_vmac interface, "" without; keepVMAC keeps it at
	// the next stop, for a restart that uses the same one.
	vmac     string
	keepVMAC bool
	log      *slog.Logger
	cancel   context.CancelFunc
	done     chan struct{}
}

// VRRPStatus is one instance's state, for status and metrics.
type VRRPStatus struct {
	Name        string
	State       string
	VRID        int
	Priority    int
	SyncGroup   string
	Transitions uint64
	Invalid     uint64
	// OldUnicastChecksum: the instance checksums its unicast VRRPv3
	// adverts in keepalived's old form.
	OldUnicastChecksum bool
}

// update makes the running instances match cfg: unchanged ones keep
// running (no transition), changed ones restart (a tracked script or file
// whose weight changed changes its instances). A vrrp_script runs while
// some instance tracks it; a changed one restarts from its initial state.
// A track_file is watched while some instance tracks it; a changed one is
// watched anew and its instances get its value at once. A track_file that
// cannot be watched fails the update before anything is changed. A
// vrrp_track_process is counted while some instance tracks it; a changed
// one is counted anew (its delays start over) and its instances get its
// state at once. A sync group's tracking is its members' (each restarts
// when it changes, as at any change of its group).
func (s *vrrpSet) update(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	scripts := map[string]config.VRRPScript{}
	for _, sc := range cfg.VRRPScripts {
		scripts[sc.Name] = sc
	}
	files := map[string]config.VRRPTrackFile{}
	for _, f := range cfg.VRRPTrackFiles {
		f.Line = 0
		files[f.Name] = f
	}
	procDefs := map[string]config.VRRPTrackProcess{}
	for _, tp := range cfg.VRRPTrackProcesses {
		tp.Line = 0
		procDefs[tp.Name] = tp
	}
	want := map[string]config.VRRPInstance{}
	wantProcTracks := map[string]map[string]vrrp.TrackedProcess{}
	wantProcs := map[string]config.VRRPTrackProcess{}
	wantTracks := map[string]map[string]vrrp.TrackedScript{}
	wantFileTracks := map[string]map[string]vrrp.TrackedFile{}
	wantScripts := map[string]config.VRRPScript{}
	wantFiles := map[string]config.VRRPTrackFile{}
	wantGroup := map[string]*config.VRRPSyncGroup{} // by member instance
	for _, g := range cfg.VRRPSyncGroups {
		g.Line = 0
		for _, m := range g.Group {
			wantGroup[m] = &g
		}
	}
	for _, v := range cfg.VRRP {
		if v.Interface == "" {
			v.Interface = s.d.o.Iface
		}
		// A member tracks its sync group's entries as its own, weights
		// included (keepalived's rule); a merged copy, so the group's
		// entries start the scripts, watches and counts below too.
		v = cfg.MemberTracking(v)
		want[v.Name] = v
		wantTracks[v.Name] = tracked(v, scripts)
		wantFileTracks[v.Name] = trackedFiles(v, files)
		for _, t := range v.TrackScripts {
			wantScripts[t.Name] = scripts[t.Name] // validated: it exists
		}
		for _, t := range v.TrackFiles {
			wantFiles[t.Name] = files[t.Name] // validated: it exists
		}
		wantProcTracks[v.Name] = trackedProcesses(v, procDefs)
		for _, t := range v.TrackProcesses {
			wantProcs[t.Name] = procDefs[t.Name] // validated: it exists
		}
	}
	watched, err := s.watchFiles(cfg.VRRPTrackFiles, wantFiles)
	if err != nil {
		return err
	}
	counted, err := s.countProcesses(wantProcs)
	if err != nil {
		for n, fr := range watched {
			if s.files[n] != fr {
				fr.close(s.d.log)
			}
		}
		return err
	}
	// Validated; a user gone since refuses the scripts instead of running
	// them as root. A vrrp_script whose user changes restarts (from its
	// initial state, as any changed script); notify scripts simply run as
	// the new user from now on, without restarting anything.
	s.cfg = cfg
	vips := map[netip.Addr]bool{}
	for _, svc := range cfg.Services {
		vips[svc.VIP] = true
	}
	for _, v := range cfg.VRRP {
		for _, a := range append(slices.Clone(v.VirtualAddrs), v.ExcludedAddrs...) {
			vips[a] = true
		}
	}
	s.vips.Store(&vips)
	wantCreds := map[string]runas.Cred{}
	for name, sc := range wantScripts {
		wantCreds[name], _ = cfg.ScriptCred(sc.User)
	}
	if s.scripts == nil {
		s.scripts = map[string]*scriptRun{}
	}
	// A changed group restarts all its members: each has the group in
	// r.sync, so none of them compares equal.
	for name, r := range s.runs {
		if w, ok := want[name]; ok && sameVRRP(w, r.cfg) && reflect.DeepEqual(wantTracks[name], r.tracks) &&
			reflect.DeepEqual(wantFileTracks[name], r.files) && reflect.DeepEqual(wantProcTracks[name], r.procs) &&
			reflect.DeepEqual(wantGroup[name], r.sync) {
			// Changed virtual_routes or virtual_rules alone are applied
			// in place: a master adds and removes the difference, without
			// a transition.
			if !sameRoutes(w, r.cfg) {
				s.updateRoutes(r, w)
			}
			continue
		}
		// A restart that keeps the same VMAC leaves it (and what the
		// neighbours learnt of it) in place.
		w, ok := want[name]
		r.keepVMAC = ok && r.vmac != "" && w.VMACInterface() == r.vmac && w.Interface == r.cfg.Interface && w.VirtualRouterID == r.cfg.VirtualRouterID
		s.stopRun(r, false)
		delete(s.runs, name)
		if r.cfg.PromoteSecondaries {
			// After the new instances took it: a restart keeps 1.
			defer s.promote.release(r.cfg.Interface, true, s.d.log)
		}
	}
	for name, fr := range s.files {
		if watched[name] != fr {
			fr.close(s.d.log)
		}
	}
	s.files = watched
	for name, pr := range s.procs {
		if counted[name] != pr {
			s.monitor.Untrack(pr.t)
		}
	}
	s.procs = counted
	if s.groups == nil {
		s.groups = map[string]*syncRun{}
	}
	for name, g := range s.groups {
		if len(g.members) == 0 {
			delete(s.groups, name) // a new one starts with the new members
			continue
		}
		g.setCreds(groupCreds(cfg, g.cfg))
	}
	for name, sr := range s.scripts {
		if w, ok := wantScripts[name]; ok && sameScript(w, sr.cfg) && wantCreds[name] == sr.cred {
			continue
		}
		sr.stop()
		delete(s.scripts, name)
	}
	for name, sc := range wantScripts {
		if _, ok := s.scripts[name]; !ok {
			s.scripts[name] = startScript(sc, wantCreds[name], s.d.log)
		}
	}
	// Before any instance joins the VRRP group on a new VMAC.
	s.filterIGMP(slices.Collect(maps.Values(want)))
	for name, v := range want {
		if r, ok := s.runs[name]; ok {
			// A changed garp_group paces its later bursts, without a
			// restart.
			r.owner.SetPacing(s.pacing(v))
			r.inst.SetScriptCreds(instanceCreds(cfg, v))
			r.inst.SetLinkDelays(linkDelays(cfg))
			r.prioLines.Store(cfg.PriorityChanges(v))
			s.subscribe(r) // to the scripts restarted above
			continue
		}
		r, err := s.start(v, wantTracks[name], wantFileTracks[name], wantProcTracks[name], wantGroup[name])
		if err != nil {
			return fmt.Errorf("vrrp instance %s: %w", name, err)
		}
		s.runs[name] = r
	}
	return nil
}

// filterIGMP keeps the kernel from reporting the VRRP groups from the
// VMACs of instances (vmac.DropIGMP; for IPv6 ones vmac.DropMLD, which
// also drops their router solicitations), rewriting the rules when the
// set changed. Without nftables the VMACs still work; a switch may then
// learn a virtual MAC at a backup until the master's next advert.
func (s *vrrpSet) filterIGMP(instances []config.VRRPInstance) {
	var v4, v6 []string
	for _, v := range instances {
		if n := v.VMACInterface(); n != "" && !v.VMACXmitBase && isIPv6(v) {
			v6 = append(v6, n)
		} else if n != "" && !v.VMACXmitBase {
			v4 = append(v4, n)
		}
	}
	for _, f := range []struct {
		names []string
		have  *[]string
		drop  func([]string) error
	}{{v4, &s.igmp, vmac.DropIGMP}, {v6, &s.mld, vmac.DropMLD}} {
		slices.Sort(f.names)
		if slices.Equal(f.names, *f.have) {
			continue
		}
		if err := f.drop(f.names); err != nil {
			s.d.log.Warn("vmac: group reports not kept off the virtual MACs", "vmacs", f.names, "err", err)
			continue
		}
		*f.have = f.names
	}
}

// subscribe connects r's instance to the scripts and files it tracks.
func (s *vrrpSet) subscribe(r *vrrpRun) {
	for n := range r.tracks {
		if sr := s.scripts[n]; sr != nil {
			sr.subscribe(r.inst)
		}
	}
	for n := range r.files {
		if fr := s.files[n]; fr != nil {
			fr.w.Subscribe(r.inst)
		}
	}
	for n := range r.procs {
		if pr := s.procs[n]; pr != nil {
			pr.t.Subscribe(r.inst)
		}
	}
}

// countProcesses returns the trackers for the processes some instance
// tracks: the running ones whose definition is unchanged, new ones (each
// counted at once from /proc) for the rest. It stops nothing.
func (s *vrrpSet) countProcesses(want map[string]config.VRRPTrackProcess) (map[string]*procRun, error) {
	out := map[string]*procRun{}
	if len(want) == 0 {
		return out, nil
	}
	if s.monitor == nil {
		s.monitor = trackproc.NewMonitor(s.d.log.With("component", "vrrp"), nil)
	}
	for name, tp := range want {
		if pr := s.procs[name]; pr != nil && reflect.DeepEqual(pr.cfg, tp) {
			out[name] = pr
			continue
		}
		t, err := s.monitor.Track(name, tp)
		if err != nil {
			for n, pr := range out {
				if s.procs[n] != pr {
					s.monitor.Untrack(pr.t)
				}
			}
			return nil, fmt.Errorf("vrrp_track_process %s: %w", name, err)
		}
		out[name] = &procRun{cfg: tp, t: t}
	}
	return out, nil
}

// watchFiles writes the init_files of all track files (at the first
// configuration, overwrite too) and returns the watches for those some
// instance tracks: the running ones whose definition is unchanged, new
// ones for the rest. It stops nothing: on an error the new watches are
// closed again and the running ones go on as they were.
func (s *vrrpSet) watchFiles(all []config.VRRPTrackFile, want map[string]config.VRRPTrackFile) (map[string]*fileRun, error) {
	for _, f := range all {
		if !f.InitFile {
			continue
		}
		// keepalived reports a failed init_file and goes on; so does xlb
		// (the file then reads as whatever it holds, or 0).
		if written, err := trackfile.Init(f.File, f.InitValue, f.InitOverwrite && !s.initDone); err != nil {
			s.d.log.Error("track file init_file", "track_file", f.Name, "err", err)
		} else if written {
			s.d.log.Info("track file initialised", "track_file", f.Name, "file", f.File, "value", f.InitValue)
		}
	}
	s.initDone = true
	out := map[string]*fileRun{}
	for name, f := range want {
		if fr := s.files[name]; fr != nil && fr.cfg == f {
			out[name] = fr
			continue
		}
		w, err := trackfile.New(name, f.File, s.d.log.With("component", "vrrp"))
		if err != nil {
			for n, fr := range out {
				if s.files[n] != fr {
					fr.close(s.d.log)
				}
			}
			return nil, err
		}
		out[name] = &fileRun{cfg: f, w: w}
	}
	return out, nil
}

func (fr *fileRun) close(log *slog.Logger) {
	if err := fr.w.Close(); err != nil {
		log.Warn("close track file watch", "err", err)
	}
}

func (s *vrrpSet) stopRun(r *vrrpRun, leave bool) {
	for n := range r.tracks {
		if sr := s.scripts[n]; sr != nil {
			sr.unsubscribe(r.inst)
		}
	}
	for n := range r.files {
		if fr := s.files[n]; fr != nil {
			fr.w.Unsubscribe(r.inst)
		}
	}
	for n := range r.procs {
		if pr := s.procs[n]; pr != nil {
			pr.t.Unsubscribe(r.inst)
		}
	}
	r.stop(leave)
	if r.sync != nil {
		if g := s.groups[r.sync.Name]; g != nil {
			g.remove(r.cfg.Name)
		}
	}
}

func sameScript(a, b config.VRRPScript) bool {
	a.Line, b.Line = 0, 0
	return a == b
}

// sameVRRP compares two instances but for their lines and their
// virtual_routes and virtual_rules, which change without a restart.
func sameVRRP(a, b config.VRRPInstance) bool {
	a.Line, b.Line = 0, 0
	a.VirtualRoutes, a.VirtualRules, b.VirtualRoutes, b.VirtualRules = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

func sameRoutes(a, b config.VRRPInstance) bool {
	return slices.Equal(a.VirtualRoutes, b.VirtualRoutes) && slices.Equal(a.VirtualRules, b.VirtualRules)
}

// updateRoutes gives a running instance the virtual_routes and
// virtual_rules of v. An entry that fails to be added is logged, as at a
// transition, and tried again at the next one: restarting the instance
// would not make it work.
func (s *vrrpSet) updateRoutes(r *vrrpRun, v config.VRRPInstance) {
	e, err := virtualEntries(v)
	if err == nil {
		err = r.routes.Update(e)
	}
	if err != nil {
		s.d.log.Error("vrrp instance: virtual routes and rules", "instance", v.Name, "err", err)
	}
	r.cfg.VirtualRoutes, r.cfg.VirtualRules = v.VirtualRoutes, v.VirtualRules
}

func (s *vrrpSet) start(v config.VRRPInstance, tracks map[string]vrrp.TrackedScript, files map[string]vrrp.TrackedFile, procs map[string]vrrp.TrackedProcess, group *config.VRRPSyncGroup) (*vrrpRun, error) {
	log := s.d.log.With("component", "vrrp", "instance", v.Name)
	if v.PromoteSecondaries {
		if s.promote == nil {
			s.promote = promoteSet{}
		}
		if err := s.promote.acquire(v.Interface); err != nil {
			return nil, err
		}
	}
	r, err := s.startInstance(v, tracks, files, procs, group, log)
	if err != nil && v.PromoteSecondaries {
		s.promote.release(v.Interface, true, log)
	}
	return r, err
}

// startInstance is start once promote_secondaries is held.
func (s *vrrpSet) startInstance(v config.VRRPInstance, tracks map[string]vrrp.TrackedScript, files map[string]vrrp.TrackedFile, procs map[string]vrrp.TrackedProcess, group *config.VRRPSyncGroup, log *slog.Logger) (*vrrpRun, error) {
	// Acquire sends keepalived's first burst; the instance sends the
	// later ones with their own repeats, all spaced by garp_interval /
	// gna_interval.
	garp := v.GARP.OrDefault()
	// With use_vmac the VIPs live (and are announced) on the VMAC.
	ownerIface := v.Interface
	if n := v.VMACInterface(); n != "" {
		if err := ensureVMAC(v, log); err != nil {
			return nil, err
		}
		ownerIface = n
	}
	pacer, arp, na := s.pacing(v)
	owner, err := vip.New(ownerIface, log, vip.WithAnnounce(garp.MasterRepeat, 0), vip.WithPacketIntervals(arp, na), vip.WithPacer(pacer))
	if err != nil {
		removeVMAC(v.VMACInterface(), vmacOf(v), log)
		return nil, err
	}
	// An instance that cannot start leaves no VMAC behind.
	closeOwner := func() {
		owner.Close()
		removeVMAC(v.VMACInterface(), vmacOf(v), log)
	}
	held := append(slices.Clone(v.VirtualAddrs), v.ExcludedAddrs...)
	// The run before a restart in place was master and left the VIPs up:
	// carry on with them (those this configuration no longer holds go).
	resume, resuming := s.resumeOf(v)
	if resuming {
		if err := owner.Adopt(resume.Addrs...); err != nil {
			log.Warn("adopt the vips of the run before the restart", "err", err)
		}
		dropped := slices.DeleteFunc(slices.Clone(resume.Addrs), func(a netip.Addr) bool { return slices.Contains(held, a) })
		if err := owner.Release(dropped...); err != nil {
			log.Warn("remove vips no longer configured", "err", err)
		}
	}
	// A killed run may have left its VIPs; this instance starts as backup
	// (unless it resumes, whose adopted VIPs this leaves alone).
	if err := owner.ReleaseStale(held...); err != nil {
		log.Warn("remove stale vips", "err", err)
	}
	e, err := virtualEntries(v)
	if err != nil {
		closeOwner()
		return nil, err
	}
	routes, err := iproute.New(e, log)
	if err != nil {
		closeOwner()
		return nil, err
	}
	// And its routes and rules, which keepalived removes at start too (a
	// resumed master keeps them: it adds them again, which adopts them).
	if !resuming {
		routes.Purge()
	}
	opts := []vrrp.Option{vrrp.WithNotSource(s.isVIP), vrrp.WithLinkDelays(linkDelays(s.cfg)), vrrp.WithRoutes(routes), vrrp.WithTrackedScripts(tracks), vrrp.WithTrackedFiles(files), vrrp.WithTrackedProcesses(procs), vrrp.WithScriptCreds(instanceCreds(s.cfg, v))}
	// vrrp_startup_delay counts from the start of `xlb run`, for instances
	// a reload adds within it too (keepalived's is one global deadline).
	// A hitless restart skips it: the peers would take over meanwhile.
	if d := s.cfg.VRRPStartupDelay; d > 0 && !s.d.dp.Adopted() {
		opts = append(opts, vrrp.WithNoMasterBefore(s.d.start.Add(d)))
	}
	if resuming {
		opts = append(opts, vrrp.WithResumeMaster(resume.LastAdv))
	}
	var g *syncRun
	if group != nil {
		if g = s.groups[group.Name]; g == nil {
			g = &syncRun{cfg: *group, group: vrrp.NewSyncGroup(group.Name), members: map[string]*vrrp.Instance{}, creds: groupCreds(s.cfg, *group)}
			s.groups[group.Name] = g
		}
		opts = append(opts, vrrp.WithSyncGroup(g.group))
	}
	prioLines := &atomic.Bool{}
	prioLines.Store(s.cfg.PriorityChanges(v))
	opts = append(opts, vrrp.WithEvents(func(ev vrrp.Event) { s.onEvent(v.Name, g, prioLines, ev) }))
	inst, err := vrrp.NewInstance(v, owner, log, opts...)
	if err != nil {
		closeOwner()
		routes.Close()
		return nil, err
	}
	// ha_suspend follows mastership: the VIPs come and go with it.
	inst.OnTransition(func(vrrp.State, vrrp.State) { s.d.kickHA() })
	if g != nil {
		g.add(v.Name, inst) // its state changes move the group: onEvent
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &vrrpRun{cfg: v, tracks: tracks, files: files, procs: procs, sync: group, prioLines: prioLines, inst: inst, owner: owner, routes: routes, vmac: v.VMACInterface(), log: log, cancel: cancel, done: make(chan struct{})}
	// The scripts' states and files' values first, so the instance starts
	// in the right state.
	s.subscribe(r)
	go func() {
		defer close(r.done)
		if err := inst.Run(ctx); err != nil {
			log.Error("vrrp instance stopped", "err", err)
		}
	}()
	return r, nil
}

// resumeOf returns what the run before a restart in place left of
// instance v as master, once: only for the same virtual router (name,
// interface and VRID), as another one's peers never heard that master.
func (s *vrrpSet) resumeOf(v config.VRRPInstance) (handoffMaster, bool) {
	h, ok := s.resume[v.Name]
	delete(s.resume, v.Name)
	return h, ok && h.Interface == v.Interface && h.VRID == v.VirtualRouterID
}

// pacing returns the Pacer and the gratuitous ARP and NA intervals of
// instance v: its interface's garp_group's if it has one, or else its own
// garp_interval and gna_interval on a Pacer of its interface, which its
// VMAC shares (keepalived paces by base interface). Called with s.mu held,
// with s.cfg the configuration being applied.
func (s *vrrpSet) pacing(v config.VRRPInstance) (*vip.Pacer, time.Duration, time.Duration) {
	garp := v.GARP.OrDefault()
	key, arp, na := "if "+v.Interface, garp.Interval, garp.NAInterval
	if g := s.cfg.GARPGroupOf(v.Interface); g != nil {
		key, arp, na = "group "+strings.Join(slices.Sorted(slices.Values(g.Interfaces)), " "), g.Interval, g.NAInterval
	}
	if s.pacers == nil {
		s.pacers = map[string]*vip.Pacer{}
	}
	p := s.pacers[key]
	if p == nil {
		p = vip.NewPacer()
		s.pacers[key] = p
	}
	return p, arp, na
}

// linkDelays are cfg's interface_up_down_delays, by interface.
func linkDelays(cfg *config.Config) map[string]vrrp.LinkDelay {
	m := map[string]vrrp.LinkDelay{}
	for _, e := range cfg.InterfaceDelays {
		m[e.Interface] = vrrp.LinkDelay{Down: e.Down, Up: e.Up}
	}
	return m
}

// isVIP reports whether xlb puts a on an interface as a VIP.
func (s *vrrpSet) isVIP(a netip.Addr) bool {
	m := s.vips.Load()
	return m != nil && (*m)[a]
}

// stop ends an instance. leave (hitless restart) keeps the VIPs and sends
// no priority 0, so the restarted daemon resumes mastership unnoticed.
func (r *vrrpRun) stop(leave bool) {
	if leave {
		r.inst.LeaveOnCancel()
	}
	r.cancel()
	<-r.done
	r.owner.Close()
	r.routes.Close()
	// keepalived removes its VMACs when it stops; a restart in place
	// keeps them, as it keeps the VIPs on them.
	if !leave && !r.keepVMAC {
		removeVMAC(r.vmac, vmacOf(r.cfg), r.log)
	}
}

// onEvent follows an instance's event: its sync group's state (and
// scripts), and keepalived's FIFO lines. A group line comes before the
// member's when the group goes to BACKUP or FAULT and after it when the
// member's MASTER makes the group MASTER, the order keepalived 2.2.7
// writes them in (the group leaves mastership first, and reaches it
// last). It runs on the instance's goroutine, outside its lock; it must
// not take s.mu, which update holds while it stops instances.
func (s *vrrpSet) onEvent(name string, g *syncRun, prioLines *atomic.Bool, ev vrrp.Event) {
	fifos := s.d.fifos
	switch ev.Kind {
	case vrrp.EventPriority:
		// Priority changes call no notify script, only these lines.
		if prioLines.Load() {
			fifos.vrrp(instanceLine(name, ev))
		}
		return
	case vrrp.EventMasterRxLowerPri:
		fifos.vrrp(instanceLine(name, ev))
		return
	}
	if g == nil {
		fifos.vrrp(instanceLine(name, ev))
		return
	}
	gst, changed := g.changed(s.d.notify, s.d.log)
	if changed && gst != vrrp.StateMaster {
		fifos.vrrp(groupLine(g.cfg.Name, gst))
		fifos.vrrp(instanceLine(name, ev))
		return
	}
	fifos.vrrp(instanceLine(name, ev))
	if changed {
		fifos.vrrp(groupLine(g.cfg.Name, gst))
	}
}

// writeStates writes every instance's and sync group's state to the VRRP
// FIFOs (keepalived's fifo_write_vrrp_states_on_reload).
func (s *vrrpSet) writeStates() {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.runs))
	for _, n := range names {
		r := s.runs[n]
		if st := r.inst.State(); st != vrrp.StateInit {
			s.d.fifos.vrrp(instanceLine(n, vrrp.Event{Kind: vrrp.EventState, State: st, Priority: r.inst.Priority()}))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.groups)) {
		if st := s.groups[n].announced(); st != vrrp.StateInit {
			s.d.fifos.vrrp(groupLine(n, st))
		}
	}
}

// stopAll stops every instance; unless leave (a restart in place), each
// writes its STOP line, and every sync group's STOP line follows, as
// keepalived writes them at its exit.
func (s *vrrpSet) stopAll(leave bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range s.runs {
		s.stopRun(r, leave)
		delete(s.runs, name)
		if since, ok := r.inst.LeftMaster(); ok && leave {
			s.left = append(s.left, handoffMaster{
				Name: r.cfg.Name, Interface: r.cfg.Interface, VRID: r.cfg.VirtualRouterID,
				LastAdv: since, Addrs: append(slices.Clone(r.cfg.VirtualAddrs), r.cfg.ExcludedAddrs...),
			})
		}
		if r.cfg.PromoteSecondaries {
			s.promote.release(r.cfg.Interface, !leave, s.d.log)
		}
	}
	if !leave {
		for _, n := range slices.Sorted(maps.Keys(s.groups)) {
			s.d.fifos.vrrp(groupLine(n, vrrp.StateInit))
		}
		// The VMACs are gone (a restart in place keeps them, and the
		// rules with them).
		s.filterIGMP(nil)
	}
	for name, sr := range s.scripts {
		sr.stop()
		delete(s.scripts, name)
	}
	for name, fr := range s.files {
		fr.close(s.d.log)
		delete(s.files, name)
	}
	for name := range s.procs {
		delete(s.procs, name)
	}
	if s.monitor != nil {
		s.monitor.Close()
	}
}

func (s *vrrpSet) status() []VRRPStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []VRRPStatus
	for _, r := range s.runs {
		st := r.inst.Stats()
		var invalid uint64
		for _, n := range st.Invalid {
			invalid += n
		}
		vs := VRRPStatus{
			Name: r.cfg.Name, State: r.inst.State().String(), VRID: r.cfg.VirtualRouterID,
			Priority: r.inst.Priority(), Transitions: st.Transitions, Invalid: invalid,
			OldUnicastChecksum: st.OldUnicastChecksum,
		}
		if r.sync != nil {
			vs.SyncGroup = r.sync.Name
		}
		out = append(out, vs)
	}
	return out
}

// heldVIPs are the VRRP addresses on the interface now: those of the
// instances in MASTER (a nil set is safe and holds none).
func (s *vrrpSet) heldVIPs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if s == nil {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if r.inst.State() == vrrp.StateMaster {
			for _, a := range append(slices.Clone(r.cfg.VirtualAddrs), r.cfg.ExcludedAddrs...) {
				out[a] = true
			}
		}
	}
	return out
}

// vrrpVIPs are the addresses VRRP owns: the director must not add them
// itself, or the backup would answer ARP for them too.
func vrrpVIPs(cfg *config.Config) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, v := range cfg.VRRP {
		for _, a := range append(slices.Clone(v.VirtualAddrs), v.ExcludedAddrs...) {
			out[a] = true
		}
	}
	return out
}

// syncRun is one vrrp_sync_group: the vrrp.SyncGroup its running members
// share, and the group state its notify scripts last announced.
type syncRun struct {
	cfg   config.VRRPSyncGroup
	group *vrrp.SyncGroup

	mu      sync.Mutex
	members map[string]*vrrp.Instance
	state   vrrp.State       // last announced; StateInit before the first
	creds   vrrp.ScriptCreds // who its notify scripts run as (Stop unused)
}

func (g *syncRun) setCreds(c vrrp.ScriptCreds) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.creds = c
}

// instanceCreds are who v's notify scripts run as: each its own user, else
// script_user or keepalived's default. Validated; a user gone since
// refuses the script rather than running it as root.
func instanceCreds(cfg *config.Config, v config.VRRPInstance) vrrp.ScriptCreds {
	return notifyCreds(cfg, v.NotifyUsers)
}

func groupCreds(cfg *config.Config, g config.VRRPSyncGroup) vrrp.ScriptCreds {
	return notifyCreds(cfg, g.NotifyUsers)
}

func notifyCreds(cfg *config.Config, u config.NotifyUsers) vrrp.ScriptCreds {
	cred := func(own config.ScriptUser) runas.Cred {
		c, _ := cfg.ScriptCred(own)
		return c
	}
	return vrrp.ScriptCreds{Master: cred(u.Master), Backup: cred(u.Backup), Fault: cred(u.Fault), Stop: cred(u.Stop), Notify: cred(u.Notify), MasterRxLowerPri: cred(u.MasterRxLowerPri)}
}

func (g *syncRun) add(name string, inst *vrrp.Instance) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members[name] = inst
}

func (g *syncRun) remove(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.members, name)
}

// changed runs the group's notify script when the group as a whole has
// a new state: FAULT when any member is in FAULT, MASTER or BACKUP when
// every member is; members on their way between states announce nothing.
// keepalived runs these scripts without arguments; the state is in the
// environment as for instances (XLB_VRRP_TYPE=GROUP).
// announced is the group state last announced.
func (g *syncRun) announced() vrrp.State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

// changed returns the group's new state and true when it has one.
func (g *syncRun) changed(n *notifier, log *slog.Logger) (vrrp.State, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.members) < len(g.cfg.Group) {
		return vrrp.StateInit, false // starting or stopping
	}
	counts := map[vrrp.State]int{}
	for _, m := range g.members {
		counts[m.State()]++
	}
	var st vrrp.State
	switch {
	case counts[vrrp.StateFault] > 0:
		st = vrrp.StateFault
	case counts[vrrp.StateMaster] == len(g.members):
		st = vrrp.StateMaster
	case counts[vrrp.StateBackup] == len(g.members):
		st = vrrp.StateBackup
	default:
		return vrrp.StateInit, false
	}
	if st == g.state {
		return st, false
	}
	g.state = st
	log.Info("vrrp sync group", "group", g.cfg.Name, "state", st)
	script := map[vrrp.State]string{vrrp.StateMaster: g.cfg.NotifyMaster, vrrp.StateBackup: g.cfg.NotifyBackup, vrrp.StateFault: g.cfg.NotifyFault}[st]
	env := []string{"XLB_VRRP_TYPE=GROUP", "XLB_VRRP_NAME=" + g.cfg.Name, "XLB_VRRP_STATE=" + st.String()}
	cred := map[vrrp.State]runas.Cred{vrrp.StateMaster: g.creds.Master, vrrp.StateBackup: g.creds.Backup, vrrp.StateFault: g.creds.Fault}[st]
	n.run(script, env, cred)
	if g.cfg.Notify != "" {
		// keepalived's notify of a group: "GROUP NAME STATE".
		n.run(g.cfg.Notify+" GROUP "+vrrp.ShellQuote(g.cfg.Name)+" "+st.String(), env, g.creds.Notify)
	}
	return st, true
}

// ensureVMAC creates v's VMAC interface on its interface, or keeps the
// one a restart in place (or a killed run) left.
func ensureVMAC(v config.VRRPInstance, log *slog.Logger) error {
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	defer nl.Close()
	created, err := vmac.Ensure(nl, v.Interface, v.VMACInterface(), vmacOf(v))
	if err != nil {
		return err
	}
	if created {
		log.Info("vmac interface created", "vmac", v.VMACInterface(), "iface", v.Interface, "mac", vmacOf(v).String())
	} else {
		log.Info("vmac interface kept from an earlier run", "vmac", v.VMACInterface(), "iface", v.Interface)
	}
	return nil
}

// removeVMAC deletes the VMAC name ("": none) of vrid; a failure is
// logged, as it cannot be undone by the stop that causes it.
// vmacOf is the virtual MAC of v's VMAC: RFC 5798's for its family.
func vmacOf(v config.VRRPInstance) net.HardwareAddr {
	if isIPv6(v) {
		return vmac.MAC6(v.VirtualRouterID)
	}
	return vmac.MAC(v.VirtualRouterID)
}

// isIPv6 says whether v is an IPv6 instance (its addresses are all of one
// family: config checks it).
func isIPv6(v config.VRRPInstance) bool {
	return len(v.VirtualAddrs) > 0 && v.VirtualAddrs[0].Unmap().Is6()
}

func removeVMAC(name string, mac net.HardwareAddr, log *slog.Logger) {
	if name == "" {
		return
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err == nil {
		err = vmac.Remove(nl, name, mac)
		nl.Close()
	}
	if err != nil {
		log.Error("remove vmac interface", "vmac", name, "err", err)
		return
	}
	log.Info("vmac interface removed", "vmac", name)
}
