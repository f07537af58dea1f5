package loader

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
	me := os.Getpid()
	ancestors := map[int]bool{}
	for p := parentPID(me); p > 0 && !ancestors[p]; p = parentPID(p) {
		ancestors[p] = true
	}
	var seen []os.FileInfo // mount namespaces whose mounts were read
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == me || descendsFrom(pid, me) {
			continue
		}
		ns, err := os.Stat(filepath.Join("/proc", e.Name(), "ns", "mnt"))
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

// parentPID is pid's parent (0 when it cannot be read).
func parentPID(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// descendsFrom reports whether pid is a descendant of root.
func descendsFrom(pid, root int) bool {
	for depth := 0; pid > 1 && depth < 64; depth++ {
		pid = parentPID(pid)
		if pid == root {
			return true
		}
	}
	return false
}
