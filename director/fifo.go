package director

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/notifyfifo"
	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/vrrp"
)

// fifoSet is the director's notify FIFOs (keepalived's notify_fifo,
// vrrp_notify_fifo and lvs_notify_fifo): VRRP lines go to the first two,
// LVS lines (real servers, quorum) to the first and the last. A nil set
// writes nothing.
type fifoSet struct {
	log  *slog.Logger
	mu   sync.Mutex
	runs map[string]*fifoRun // by keyword
}

// fifoRun is one open FIFO and what it was opened with, to tell at a
// reload whether it changed.
type fifoRun struct {
	cfg         config.NotifyFIFO
	owner, cred runas.Cred
	f           *notifyfifo.FIFO
}

func newFIFOSet(log *slog.Logger) *fifoSet {
	return &fifoSet{log: log.With("component", "notify_fifo"), runs: map[string]*fifoRun{}}
}

// fifoRoles are the FIFOs of cfg by keyword, and whether each gets the
// VRRP and the LVS lines.
func fifoRoles(cfg *config.Config) []struct {
	key       string
	f         config.NotifyFIFO
	vrrp, lvs bool
} {
	return []struct {
		key       string
		f         config.NotifyFIFO
		vrrp, lvs bool
	}{
		{"notify_fifo", cfg.NotifyFIFO, true, true},
		{"vrrp_notify_fifo", cfg.VRRPNotifyFIFO, true, false},
		{"lvs_notify_fifo", cfg.LVSNotifyFIFO, false, true},
	}
}

// update opens the FIFOs cfg names. One whose path, owner, script and
// script user are unchanged stays open, its script running, so a reload
// does not interrupt its reader (keepalived closes and reopens them all);
// a changed or removed one is closed (its script SIGTERMed, the FIFO
// removed if xlb created it) before the new one opens. A FIFO that cannot
// be opened is logged and left out, as keepalived goes on without it.
func (s *fifoSet) update(cfg *config.Config) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]*fifoRun{}
	for _, r := range fifoRoles(cfg) {
		if r.f.Path == "" {
			continue
		}
		fr := &fifoRun{cfg: r.f}
		if !r.f.Owner.IsZero() {
			var err error
			if fr.owner, err = runas.Lookup(r.f.Owner.User, r.f.Owner.Group); err != nil {
				s.log.Error("notify fifo not opened", "fifo", r.key, "path", r.f.Path, "err", err)
				continue
			}
		}
		if r.f.Script != "" {
			fr.cred, _ = cfg.ScriptCred(r.f.ScriptUser) // an error refuses the script
		}
		want[r.key] = fr
	}
	for key, old := range s.runs {
		if w, ok := want[key]; ok && w.cfg == old.cfg && w.owner == old.owner && w.cred == old.cred {
			want[key] = old
			continue
		}
		if err := old.f.Close(); err != nil {
			s.log.Warn("close notify fifo", "fifo", key, "err", err)
		}
		delete(s.runs, key)
	}
	for key, fr := range want {
		if fr.f != nil {
			s.runs[key] = fr
			continue
		}
		f, err := notifyfifo.Open(notifyfifo.Options{
			Path: fr.cfg.Path, Owner: fr.owner, Chown: !fr.cfg.Owner.IsZero(),
			Script: fr.cfg.Script, ScriptCred: fr.cred, Log: s.log.With("fifo", key),
		})
		if err != nil {
			s.log.Error("notify fifo not opened", "fifo", key, "err", err)
			continue
		}
		fr.f = f
		s.runs[key] = fr
		s.log.Info("notify fifo open", "fifo", key, "path", fr.cfg.Path, "created", f.Created())
	}
}

// write sends line to the FIFOs of the VRRP lines (vrrpLine) or the LVS
// lines.
func (s *fifoSet) write(vrrpLine bool, line string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, r := range s.runs {
		if (key == "notify_fifo") || (vrrpLine && key == "vrrp_notify_fifo") || (!vrrpLine && key == "lvs_notify_fifo") {
			r.f.Write(line)
		}
	}
}

func (s *fifoSet) vrrp(line string) { s.write(true, line) }
func (s *fifoSet) lvs(line string)  { s.write(false, line) }

// terminate SIGTERMs the FIFO scripts: keepalived does so before it
// writes the STOP lines.
func (s *fifoSet) terminate() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		r.f.Terminate()
	}
}

// FIFOStatus is one open notify FIFO's line counts (since it was opened:
// a reload that keeps it keeps them).
type FIFOStatus struct {
	Keyword string // notify_fifo, vrrp_notify_fifo or lvs_notify_fifo
	Path    string
	Lines   uint64 // written whole
	Dropped uint64 // dropped: the pipe had no room (its reader is behind)
}

// status lists the open FIFOs by keyword.
func (s *fifoSet) status() []FIFOStatus {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FIFOStatus, 0, len(s.runs))
	for _, key := range slices.Sorted(maps.Keys(s.runs)) {
		f := s.runs[key].f
		out = append(out, FIFOStatus{Keyword: key, Path: f.Path(), Lines: f.Written(), Dropped: f.Dropped()})
	}
	return out
}

// closeAll closes every FIFO (see notifyfifo.FIFO.Close).
func (s *fifoSet) closeAll() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, r := range s.runs {
		if err := r.f.Close(); err != nil {
			s.log.Warn("close notify fifo", "fifo", key, "err", err)
		}
		delete(s.runs, key)
	}
}

// stateWord is keepalived's name of a state in its FIFO lines.
func stateWord(st vrrp.State) string {
	if st == vrrp.StateInit {
		return "STOP"
	}
	return st.String()
}

// instanceLine is keepalived's FIFO line for an instance's event:
// INSTANCE "NAME" STATE PRIORITY, STATE one of MASTER, BACKUP, FAULT, STOP,
// MASTER_PRIORITY, BACKUP_PRIORITY (a priority change, by the state it
// happened in) or MASTER_RX_LOWER_PRI.
func instanceLine(name string, ev vrrp.Event) string {
	word := stateWord(ev.State)
	switch ev.Kind {
	case vrrp.EventPriority:
		word = "BACKUP_PRIORITY"
		if ev.State == vrrp.StateMaster {
			word = "MASTER_PRIORITY"
		}
	case vrrp.EventMasterRxLowerPri:
		word = "MASTER_RX_LOWER_PRI"
	}
	return `INSTANCE "` + name + `" ` + word + " " + strconv.Itoa(ev.Priority)
}

// groupLine is keepalived's FIFO line for a sync group's state (its
// priority is always 0).
func groupLine(name string, st vrrp.State) string {
	return `GROUP "` + name + `" ` + stateWord(st) + " 0"
}

// endpoint is keepalived's FMT_VS / FMT_RS: [ADDRESS]:PROTO:PORT. A
// virtual_server_group is read as one service per member, so its
// services are written as plain ones (keepalived writes [GROUP]:PORT).
func endpoint(a netip.Addr, proto config.Protocol, port uint16) string {
	return "[" + a.WithZone("").String() + "]:" + string(proto) + ":" + strconv.Itoa(int(port))
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// rsLine is keepalived's FIFO line for a real server going up or down.
func rsLine(s config.Service, r config.RealServer, up bool) string {
	return "RS " + endpoint(r.Address, s.Protocol, r.Port) + " " + endpoint(s.VIP, s.Protocol, s.Port) + " " + upDown(up)
}

// vsLine is keepalived's FIFO line for a service gaining or losing its
// quorum.
func vsLine(s config.Service, up bool) string {
	return "VS " + endpoint(s.VIP, s.Protocol, s.Port) + " " + upDown(up)
}
