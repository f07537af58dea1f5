package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/xlb-project/xlb/internal/procstat"
)

// nsScheme matches exactly the namespace names this package makes:
// "x" + 5 hex digits + "-" + a host name.
func nsScheme() *regexp.Regexp {
	return regexp.MustCompile(`^(x[0-9a-f]{5}-)(br|client|router|dir[0-9]+|rs[0-9]+)$`)
}

// owner is what a lab writes to ownerDir before making any namespace.
type owner struct {
	PID   int    `json:"pid"`
	Start string `json:"start"` // /proc/PID/stat start time, guards against PID reuse
	Dir   string `json:"dir"`
}

func ownerPath(prefix string) string {
	return filepath.Join(ownerDir, strings.TrimSuffix(prefix, "-")+".json")
}

// procStart returns a process's start time in clock ticks since boot.
func procStart(pid int) (string, error) {
	f, err := procstat.Fields(pid)
	if err != nil {
		return "", err
	}
	// starttime is field 22 overall, the 20th after the name.
	if len(f) < 20 {
		return "", errors.New("short stat")
	}
	return f[19], nil
}

func writeOwner(prefix, dir string) error {
	start, err := procStart(os.Getpid())
	if err != nil {
		return fmt.Errorf("own start time: %w", err)
	}
	if err := os.MkdirAll(ownerDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", ownerDir, err)
	}
	b, err := json.Marshal(owner{PID: os.Getpid(), Start: start, Dir: dir})
	if err != nil {
		return fmt.Errorf("encode owner: %w", err)
	}
	if err := os.WriteFile(ownerPath(prefix), b, 0o644); err != nil {
		return fmt.Errorf("write owner file: %w", err)
	}
	return nil
}

// ownerAlive reports whether the process that made the lab still runs. A
// lab without an owner file predates it or crashed before making anything.
func ownerAlive(prefix string) (bool, *owner) {
	b, err := os.ReadFile(ownerPath(prefix))
	if err != nil {
		return false, nil
	}
	var o owner
	if err := json.Unmarshal(b, &o); err != nil {
		return false, nil
	}
	start, err := procStart(o.PID)
	return err == nil && start == o.Start, &o
}

// Cleanup deletes the namespaces left behind by labs whose process died
// (a crashed or killed test run), kills what still runs inside them, and
// removes their temporary directories. It only touches namespace names of
// this package's scheme (x?????-br, -client, -router, -dirN, -rsN) and never a lab
// whose owning process is still alive, so it is safe while other test
// binaries run labs. prefixPattern is a path.Match pattern on the prefix
// (e.g. "x*-" or "x1a2b3-"); "" means every prefix. It returns the deleted
// namespace names.
func Cleanup(prefixPattern string) ([]string, error) {
	if prefixPattern == "" {
		prefixPattern = "*"
	}
	if _, err := path.Match(prefixPattern, ""); err != nil {
		return nil, fmt.Errorf("bad prefix pattern %q: %w", prefixPattern, err)
	}
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	re := nsScheme()
	byPrefix := map[string][]string{}
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if ok, _ := path.Match(prefixPattern, m[1]); ok {
			byPrefix[m[1]] = append(byPrefix[m[1]], e.Name())
		}
	}
	// Owner files of dead labs whose namespaces are already gone.
	if owners, err := os.ReadDir(ownerDir); err == nil {
		for _, e := range owners {
			p := strings.TrimSuffix(e.Name(), ".json") + "-"
			if !re.MatchString(p+"br") || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			if ok, _ := path.Match(prefixPattern, p); ok {
				if _, seen := byPrefix[p]; !seen {
					byPrefix[p] = nil
				}
			}
		}
	}

	var deleted []string
	var errs []error
	prefixes := make([]string, 0, len(byPrefix))
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		alive, o := ownerAlive(p)
		if alive {
			continue
		}
		names := byPrefix[p]
		sort.Strings(names)
		for _, name := range names {
			// Orphans of a crashed run (e.g. nginx workers whose master was
			// killed) would keep the namespace alive after the delete.
			pids, err := processesInNS(filepath.Join("/run/netns", name))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, pid := range pids {
				if pid == os.Getpid() {
					continue
				}
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("kill pid %d in %s: %w", pid, name, err))
				}
			}
			if err := deleteNS(name); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted = append(deleted, name)
		}
		if o != nil && isLabDir(o.Dir) {
			if err := os.RemoveAll(o.Dir); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", o.Dir, err))
			}
		}
		if err := os.Remove(ownerPath(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove owner file: %w", err))
		}
	}
	return deleted, errors.Join(errs...)
}

// isLabDir guards RemoveAll against a tampered owner file.
func isLabDir(dir string) bool {
	return dir != "" && filepath.Dir(dir) == filepath.Clean(os.TempDir()) &&
		strings.HasPrefix(filepath.Base(dir), "xlb-lab-")
}

// atoiPID parses a /proc entry name.
func atoiPID(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}
