package health

import (
	"fmt"
	"syscall"

	"github.com/xlb-project/xlb/config"
	"golang.org/x/sys/unix"
)

// checkSockOpts returns what a check's sockets need before they connect:
// keepalived's bind_if (SO_BINDTODEVICE) and fwmark (SO_MARK), nil for
// neither. Both are set before connect, so the route lookup already sees
// the interface and the mark.
func checkSockOpts(ck config.Check) func(fd int) error {
	if ck.BindIf == "" && ck.FWMark == 0 {
		return nil
	}
	return func(fd int) error {
		if ck.BindIf != "" {
			if err := unix.BindToDevice(fd, ck.BindIf); err != nil {
				return fmt.Errorf("bind_if %s: %w", ck.BindIf, err)
			}
		}
		if ck.FWMark != 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(ck.FWMark)); err != nil {
				return fmt.Errorf("fwmark %d: %w", ck.FWMark, err)
			}
		}
		return nil
	}
}

// rawControl runs each of opts (nil ones skipped) on a dialer's socket.
func rawControl(opts ...func(fd int) error) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range opts {
				if o == nil {
					continue
				}
				if serr = o(int(fd)); serr != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
