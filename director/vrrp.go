package director

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sync"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/vip"
	"github.com/xlb-project/xlb/vrrp"
)

// vrrpSet runs the configured VRRP instances. Each owns its virtual
// addresses through its own vip.Owner: the VIPs move with mastership.
type vrrpSet struct {
	d    *Director
	mu   sync.Mutex
	runs map[string]*vrrpRun
}

type vrrpRun struct {
	cfg    config.VRRPInstance
	inst   *vrrp.Instance
	owner  *vip.Owner
	cancel context.CancelFunc
	done   chan struct{}
}

// VRRPStatus is one instance's state, for status and metrics.
type VRRPStatus struct {
	Name        string
	State       string
	VRID        int
	Priority    int
	Transitions uint64
	Invalid     uint64
}

// update makes the running instances match cfg: unchanged ones keep
// running (no transition), changed ones restart.
func (s *vrrpSet) update(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]config.VRRPInstance{}
	for _, v := range cfg.VRRP {
		if v.Interface == "" {
			v.Interface = s.d.o.Iface
		}
		want[v.Name] = v
	}
	for name, r := range s.runs {
		if w, ok := want[name]; ok && sameVRRP(w, r.cfg) {
			continue
		}
		r.stop(false)
		delete(s.runs, name)
	}
	for name, v := range want {
		if _, ok := s.runs[name]; ok {
			continue
		}
		r, err := s.start(v)
		if err != nil {
			return fmt.Errorf("vrrp instance %s: %w", name, err)
		}
		s.runs[name] = r
	}
	return nil
}

func sameVRRP(a, b config.VRRPInstance) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

func (s *vrrpSet) start(v config.VRRPInstance) (*vrrpRun, error) {
	log := s.d.log.With("component", "vrrp", "instance", v.Name)
	owner, err := vip.New(v.Interface, log)
	if err != nil {
		return nil, err
	}
	// A killed run may have left its VIPs; this instance starts as backup.
	if err := owner.ReleaseStale(v.VirtualAddrs...); err != nil {
		log.Warn("remove stale vips", "err", err)
	}
	inst, err := vrrp.NewInstance(v, owner, log)
	if err != nil {
		owner.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &vrrpRun{cfg: v, inst: inst, owner: owner, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := inst.Run(ctx); err != nil {
			log.Error("vrrp instance stopped", "err", err)
		}
	}()
	return r, nil
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
}

func (s *vrrpSet) stopAll(leave bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range s.runs {
		r.stop(leave)
		delete(s.runs, name)
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
		out = append(out, VRRPStatus{
			Name: r.cfg.Name, State: r.inst.State().String(), VRID: r.cfg.VirtualRouterID,
			Priority: r.cfg.Priority, Transitions: st.Transitions, Invalid: invalid,
		})
	}
	return out
}

// vrrpVIPs are the addresses VRRP owns: the director must not add them
// itself, or the backup would answer ARP for them too.
func vrrpVIPs(cfg *config.Config) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, v := range cfg.VRRP {
		for _, a := range v.VirtualAddrs {
			out[a] = true
		}
	}
	return out
}
