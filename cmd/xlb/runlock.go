package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xlb-project/xlb/control"
	"golang.org/x/sys/unix"
)

// lockIface makes this process the only `xlb run` on iface in its network
// namespace, before anything shared is touched: a second run used to
// adopt the first one's pins and VIP and then, failing on the control
// socket, remove them on its way out, leaving the running director
// without either. The lock is an flock on a file beside the control
// socket's default path (per namespace, as interface names are); the
// kernel drops it when the process exits however it exits, so a SIGUSR2
// restart or a crash never leaves it held. The file holds the holder's
// PID, for the message.
func lockIface(iface string) (release func(), err error) {
	dir := control.SocketDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", iface, err)
	}
	path := filepath.Join(dir, iface+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", iface, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fmt.Errorf("another xlb run (pid %s) is running on %s in this network namespace (lock %s): nothing was changed", pid, iface, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
