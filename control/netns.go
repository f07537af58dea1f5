package control

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultSocketPath is the control socket of the director on iface in the
// caller's network namespace.
func DefaultSocketPath(iface string) string {
	return filepath.Join(SocketDir(), iface+".sock")
}

// SocketPathIn is the default control socket of the director on iface in
// the named network namespace (as `ip netns` names it), for callers outside
// it such as tests driving a lab.
func SocketPathIn(netns, iface string) string {
	return filepath.Join(DefaultDir, "netns", netns, iface+".sock")
}

// SocketDir holds the default sockets of the caller's network namespace:
// DefaultDir in the initial one, DefaultDir/netns/NAME in another. An
// interface name is only unique within its namespace, and /run is shared
// across them (ip netns exec), so directors on "eth0" in two namespaces
// (the lab's two directors) must not share a socket path.
func SocketDir() string {
	if ns := netnsName(); ns != "" {
		return filepath.Join(DefaultDir, "netns", ns)
	}
	return DefaultDir
}

// NetnsDir is "" in the initial network namespace, else "netns/NAME" (NAME
// as SocketDir names it): where per-namespace state goes under a shared
// root.
func NetnsDir() string {
	if ns := netnsName(); ns != "" {
		return filepath.Join("netns", ns)
	}
	return ""
}

// netnsName names the calling thread's network namespace: "" for the
// initial one (or when that cannot be told), its /run/netns name when it
// has one, else "ns-INODE".
func netnsName() string {
	self, err := os.Stat("/proc/thread-self/ns/net")
	if err != nil {
		return ""
	}
	// pid 1's namespace may be unreadable (a sandbox without ptrace
	// rights); then a /run/netns name alone marks a namespace as not the
	// initial one.
	initNS, err := os.Stat("/proc/1/ns/net")
	initKnown := err == nil
	if initKnown && os.SameFile(self, initNS) {
		return ""
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if fi, err := os.Stat(filepath.Join("/run/netns", e.Name())); err == nil && os.SameFile(fi, self) {
			return e.Name()
		}
	}
	if st, ok := self.Sys().(*syscall.Stat_t); ok && initKnown {
		return fmt.Sprintf("ns-%d", st.Ino)
	}
	return ""
}
