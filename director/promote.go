package director

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// promoteSet holds net.ipv4.conf.IFACE.promote_secondaries at 1 for the
// interfaces of the instances with promote_secondaries, as keepalived
// 2.2.7 does from their start (backup too) to its stop, where it writes
// back the value it found. Several instances on one interface share the
// setting: the last to go restores it.
type promoteSet map[string]*promoted

type promoted struct {
	// f is the sysctl, opened in the instance's network namespace (the
	// file stays bound to it), so a stop from any thread restores it there.
	f     *os.File
	orig  string // the value found; "" when it was 1 already
	users int
}

func promotePath(iface string) string {
	return filepath.Join("/proc/sys/net/ipv4/conf", iface, "promote_secondaries")
}

// acquire sets iface's promote_secondaries to 1 (in the calling thread's
// namespace) or counts one more user of it.
func (p promoteSet) acquire(iface string) error {
	if e := p[iface]; e != nil {
		e.users++
		return nil
	}
	f, err := os.OpenFile(promotePath(iface), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("promote_secondaries on %s: %w", iface, err)
	}
	b := make([]byte, 16)
	n, err := f.ReadAt(b, 0)
	if n == 0 {
		f.Close()
		return fmt.Errorf("promote_secondaries on %s: read: %w", iface, err)
	}
	e := &promoted{f: f, users: 1}
	if v := strings.TrimSpace(string(b[:n])); v != "1" {
		if _, err := f.WriteAt([]byte("1"), 0); err != nil {
			f.Close()
			return fmt.Errorf("promote_secondaries on %s: %w", iface, err)
		}
		e.orig = v
	}
	p[iface] = e
	return nil
}

// release drops one user of iface's setting; the last one writes the
// value found back when restore (a clean stop, or the instances' removal
// at a reload), else leaves 1 (a restart in place: the next run holds it).
func (p promoteSet) release(iface string, restore bool, log *slog.Logger) {
	e := p[iface]
	if e == nil {
		return
	}
	if e.users--; e.users > 0 {
		return
	}
	delete(p, iface)
	if restore && e.orig != "" {
		if _, err := e.f.WriteAt([]byte(e.orig), 0); err != nil {
			log.Warn("restore promote_secondaries", "iface", iface, "value", e.orig, "err", err)
		}
	}
	e.f.Close()
}
