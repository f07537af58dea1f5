package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xlb-project/xlb/internal/procstat"
	"golang.org/x/sys/unix"
)

// PinsOutliveProcess reports whether pins in dir stay once this process
// exits, which a hitless restart (SIGUSR2) relies on. Pins live as long as
// their bpf filesystem stays mounted somewhere: they stay when a process
// outside this one's own line (its ancestors and descendants, which may
// exit with it) shares its mount namespace, or when another mount
// namespace has the same bpffs mounted (the host's, seen from a private
// namespace as a copy). They do not under `ip netns exec` without such a
// --pin-dir: it gives the process a mount namespace of its own with a
// fresh /sys, and the bpffs ensureBPFFS mounts there dies with the
// process, taking the program off the interface at once. When the
// namespaces cannot be read, it answers true: the restart is then tried,
// as before.
func PinsOutliveProcess(dir string) bool {
	self, err := os.Stat("/proc/self/ns/mnt")
	var st unix.Stat_t
	if err != nil || unix.Stat(dir, &st) != nil {
		return true
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	procs, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range procs {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if f, err := procstat.Fields(pid); err == nil && len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	me := os.Getpid()
	ancestors := map[int]bool{}
	for p := parent[me]; p > 0 && !ancestors[p]; p = parent[p] {
		ancestors[p] = true
	}
	var seen []os.FileInfo // mount namespaces whose mounts were read
	for pid := range parent {
		if pid == me || descendsFrom(parent, pid, me) {
			continue
		}
		ns, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "ns", "mnt"))
		if err != nil {
			continue
		}
		if os.SameFile(self, ns) {
			if !ancestors[pid] {
				return true
			}
			continue
		}
		if slices.ContainsFunc(seen, func(fi os.FileInfo) bool { return os.SameFile(fi, ns) }) {
			continue
		}
		seen = append(seen, ns)
		if mountsDevice(pid, dev) {
			return true
		}
	}
	return false
}

// mountsDevice reports whether pid's mount namespace has a mount of the
// file system with device number dev ("MAJOR:MINOR", as mountinfo writes
// it).
func mountsDevice(pid int, dev string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == dev {
			return true
		}
	}
	return false
}

// descendsFrom reports whether pid is a descendant of root, by the
// parent PIDs read once (parent).
func descendsFrom(parent map[int]int, pid, root int) bool {
	for depth := 0; pid > 1 && depth < 64; depth++ {
		pid = parent[pid]
		if pid == root {
			return true
		}
	}
	return false
}
