package director

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/vrrp"
)

// scriptRun runs one vrrp_script every interval and tells the instances
// tracking it when its state changes (after rise successes or fall
// failures in a row).
type scriptRun struct {
	cfg    config.VRRPScript
	cred   runas.Cred // who it runs as
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	ok   bool
	subs map[*vrrp.Instance]bool
}

func startScript(sc config.VRRPScript, cred runas.Cred, log *slog.Logger) *scriptRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &scriptRun{
		cfg: sc, cred: cred, log: log.With("component", "vrrp", "vrrp_script", sc.Name),
		cancel: cancel, done: make(chan struct{}), ok: !sc.InitFail, subs: map[*vrrp.Instance]bool{},
	}
	go r.loop(ctx)
	return r
}

func (r *scriptRun) loop(ctx context.Context) {
	defer close(r.done)
	good, bad := 0, 0
	for {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		// A script that may not run (its user is gone, or
		// enable_script_security refuses it now) fails, loudly, instead
		// of being dropped from the instances as keepalived does at
		// startup: the failover it guards stays in force.
		out, err := runShell(rctx, r.cfg.Script, nil, r.cred)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			good, bad = good+1, 0
		} else {
			good, bad = 0, bad+1
		}
		r.mu.Lock()
		flip := (err == nil && !r.ok && good >= r.cfg.Rise) || (err != nil && r.ok && bad >= r.cfg.Fall)
		var subs []*vrrp.Instance
		if flip {
			r.ok = !r.ok
			subs = make([]*vrrp.Instance, 0, len(r.subs))
			for inst := range maps.Keys(r.subs) {
				subs = append(subs, inst)
			}
		}
		ok := r.ok
		r.mu.Unlock()
		if flip {
			if ok {
				r.log.Info("vrrp script succeeded", "successes", good)
			} else {
				r.log.Warn("vrrp script failed", "failures", bad, "err", err, "output", strings.TrimSpace(string(out)))
			}
			for _, inst := range subs {
				inst.SetScriptResult(r.cfg.Name, ok)
			}
		}
		// The next run starts an interval after this one started, as
		// keepalived's timer does (a slow script runs back to back).
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(r.cfg.Interval-time.Since(start), 0)):
		}
	}
}

// subscribe makes inst follow the script, starting from its current state.
func (r *scriptRun) subscribe(inst *vrrp.Instance) {
	r.mu.Lock()
	r.subs[inst] = true
	ok := r.ok
	r.mu.Unlock()
	inst.SetScriptResult(r.cfg.Name, ok)
}

func (r *scriptRun) unsubscribe(inst *vrrp.Instance) {
	r.mu.Lock()
	delete(r.subs, inst)
	r.mu.Unlock()
}

// good reports the script's state.
func (r *scriptRun) good() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok
}

// stop ends the script's loop, killing a run in progress.
func (r *scriptRun) stop() {
	r.cancel()
	<-r.done
}

// tracked resolves v's track_script entries to what the instance needs:
// each script's weight and reverse (the entry's own when it sets them) and
// init_fail.
func tracked(v config.VRRPInstance, scripts map[string]config.VRRPScript) map[string]vrrp.TrackedScript {
	if len(v.TrackScripts) == 0 {
		return nil
	}
	out := map[string]vrrp.TrackedScript{}
	for _, t := range v.TrackScripts {
		sc := scripts[t.Name]
		w, rev := t.Effective(sc)
		out[t.Name] = vrrp.TrackedScript{Weight: w, Reverse: rev, InitFail: sc.InitFail}
	}
	return out
}

// trackedFiles resolves v's track_file entries to each file's weight and
// reverse (the entry's own when it sets them).
func trackedFiles(v config.VRRPInstance, files map[string]config.VRRPTrackFile) map[string]vrrp.TrackedFile {
	if len(v.TrackFiles) == 0 {
		return nil
	}
	out := map[string]vrrp.TrackedFile{}
	for _, t := range v.TrackFiles {
		w, rev := t.Effective(files[t.Name])
		out[t.Name] = vrrp.TrackedFile{Weight: w, Reverse: rev}
	}
	return out
}

// trackedProcesses resolves v's track_process entries to each process's
// weight and reverse (the entry's own when it sets them).
func trackedProcesses(v config.VRRPInstance, procs map[string]config.VRRPTrackProcess) map[string]vrrp.TrackedProcess {
	if len(v.TrackProcesses) == 0 {
		return nil
	}
	out := map[string]vrrp.TrackedProcess{}
	for _, t := range v.TrackProcesses {
		w, rev := t.Effective(procs[t.Name])
		out[t.Name] = vrrp.TrackedProcess{Weight: w, Reverse: rev}
	}
	return out
}
