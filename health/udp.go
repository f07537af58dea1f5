package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xlb-project/xlb/config"
)

// defaultUDPPayload is what keepalived's UDP_CHECK sends without a payload:
// its text repeated to 32 bytes. Some services drop an empty datagram
// unanswered, so an empty one would not do the same.
const defaultUDPPayload = "keepalived check - keepalived ch"

// udpProber is UDP_CHECK: a datagram to the server on a connected socket,
// so the ICMP errors it draws (port, host or network unreachable) fail the
// attempt; with requireReply, so does silence until the deadline, and a
// reply must match pattern.
type udpProber struct {
	addr         string
	payload      []byte
	requireReply bool
	pattern      []byte // nil: any reply
	mask         []byte // nibbles of pattern that may be anything; nil for none
	minLen       int
	maxLen       int
	timeout      time.Duration // for messages only; ctx carries the deadline
	dialer       *net.Dialer
}

func newUDPProber(t Target, p params) (*udpProber, error) {
	addr, err := connectAddr(t)
	if err != nil {
		return nil, err
	}
	ck := t.Check
	up := &udpProber{
		addr: addr.String(), payload: []byte(defaultUDPPayload), requireReply: ck.RequireReply,
		minLen: ck.MinReplyLength, maxLen: ck.MaxReplyLength, timeout: p.attemptTimeout, dialer: udpDialer(ck),
	}
	if ck.Payload != "" {
		if up.payload, _, err = config.ParseHex(ck.Payload, false); err != nil {
			return nil, fmt.Errorf("udp check payload: %w", err)
		}
	}
	if ck.ReplyPattern != "" {
		if up.pattern, up.mask, err = config.ParseHex(ck.ReplyPattern, true); err != nil {
			return nil, fmt.Errorf("udp check require_reply: %w", err)
		}
	}
	return up, nil
}

// udpDialer binds a check's datagrams to its bindto / bind_port and asks
// for every ICMP error: without IP_RECVERR Linux reports only a port
// unreachable on a connected UDP socket, not a host or network
// unreachable, which keepalived also counts as failures.
func udpDialer(ck config.Check) *net.Dialer {
	d := &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		recvErr := func(fd int) error {
			var err error
			if network == "udp6" {
				err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
			} else {
				err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
			}
			if err != nil {
				return fmt.Errorf("setting RECVERR: %w", err)
			}
			return nil
		}
		return rawControl(recvErr, checkSockOpts(ck))(network, address, c)
	}}
	if ck.BindTo.IsValid() || ck.BindPort != 0 {
		a := &net.UDPAddr{Port: int(ck.BindPort)}
		if ck.BindTo.IsValid() {
			a.IP = ck.BindTo.AsSlice()
		}
		d.LocalAddr = a
	}
	return d
}

// dialUDP opens a connected UDP socket to addr whose reads and writes end
// at ctx's deadline, or at once when ctx is cancelled; stop undoes that.
func dialUDP(ctx context.Context, d *net.Dialer, addr string) (conn net.Conn, stop func() bool, err error) {
	conn, err = d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return conn, context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }), nil
}

func (p *udpProber) probe(ctx context.Context) error {
	conn, stop, err := dialUDP(ctx, p.dialer, p.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer stop()
	if _, err := conn.Write(p.payload); err != nil {
		return fmt.Errorf("udp %s: %w", p.addr, udpError(err))
	}
	// One byte more than the longest reply allowed shows a longer one.
	buf := make([]byte, max(p.maxLen, 0)+1)
	n, err := conn.Read(buf)
	switch {
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err() // cut short by a reload: says nothing about the server
		}
		if p.requireReply {
			return fmt.Errorf("udp %s: no reply within %v", p.addr, p.timeout)
		}
		// Silence and no ICMP error: keepalived takes the port as open.
		return nil
	case err != nil:
		return fmt.Errorf("udp %s: %w", p.addr, udpError(err))
	}
	if p.pattern == nil {
		return nil // any reply will do
	}
	if n < p.minLen || n > p.maxLen {
		return fmt.Errorf("udp %s: reply of %s, want %d..%d", p.addr, replyLen(n, p.maxLen), p.minLen, p.maxLen)
	}
	// As keepalived: the first min(reply, pattern) bytes must match.
	for i := range min(n, len(p.pattern)) {
		var m byte
		if p.mask != nil {
			m = p.mask[i]
		}
		if (buf[i]^p.pattern[i])&^m != 0 {
			return fmt.Errorf("udp %s: reply % x does not match the pattern % x at byte %d", p.addr, buf[:min(n, 16)], p.pattern[:min(len(p.pattern), 16)], i)
		}
	}
	return nil
}

// replyLen describes a reply's length; one longer than the buffer held is
// "more than".
func replyLen(n, maxLen int) string {
	if n > maxLen {
		return fmt.Sprintf("more than %d bytes", maxLen)
	}
	return fmt.Sprintf("%d bytes", n)
}

// udpError names the ICMP error behind a socket error.
func udpError(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("port unreachable (ICMP): %w", err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("unreachable (ICMP): %w", err)
	}
	return err
}
