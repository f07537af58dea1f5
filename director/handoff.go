package director

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// handoff is what a restart in place (SIGUSR2) tells the next run about
// VRRP: which instances were master, when each sent its last advert and
// which addresses it held (and left up). The next run, if it adopts the
// datapath and starts soon enough, carries on as their master instead of
// starting as a backup and letting a peer take the VIPs for a few
// seconds (vrrp.WithResumeMaster). It lives in a file beside the run
// lock, not in the pins: a bpf filesystem holds no plain files.
type handoff struct {
	Masters []handoffMaster `json:"masters"`
}

type handoffMaster struct {
	Name      string       `json:"name"`
	Interface string       `json:"interface"`
	VRID      int          `json:"virtual_router_id"`
	LastAdv   time.Time    `json:"last_advert"`
	Addrs     []netip.Addr `json:"addresses"`
}

// writeHandoff replaces the file at path with h (atomically: a run that
// reads it sees all of it or nothing); no masters removes it.
func writeHandoff(path string, h handoff) error {
	if len(h.Masters) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove vrrp handoff: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("vrrp handoff: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("vrrp handoff: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("vrrp handoff: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vrrp handoff: %w", err)
	}
	return nil
}

// takeHandoff reads and removes the file at path, so that it is used by
// one run at most: a run after that one (a crash, a plain stop and start)
// must not mistake it for news. A missing file is an empty handoff.
func takeHandoff(path string) (handoff, error) {
	var h handoff
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read vrrp handoff: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return h, fmt.Errorf("remove vrrp handoff: %w", err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return handoff{}, fmt.Errorf("vrrp handoff %s: %w", path, err)
	}
	return h, nil
}

// takeHandoff is the handoff the run before a restart in place left, by
// instance name, if this run adopted its datapath; the file is removed
// either way, so no later run reads it.
func (d *Director) takeHandoff() map[string]handoffMaster {
	if d.o.HandoffPath == "" {
		return nil
	}
	h, err := takeHandoff(d.o.HandoffPath)
	if err != nil {
		d.log.Warn("vrrp instances start as backup", "err", err)
		return nil
	}
	if !d.dp.Adopted() {
		return nil
	}
	m := map[string]handoffMaster{}
	for _, x := range h.Masters {
		m[x.Name] = x
	}
	return m
}
