package health

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingPayload follows the random token of each echo request; like
// keepalived's, its content does not matter.
const pingPayload = "xlb health check"

// pingProber is PING_CHECK: one ICMP (or ICMPv6) echo request; the server is
// up when the matching echo reply comes within the deadline.
//
// It uses a raw ICMP socket, connected to the server so the kernel hands it
// only that server's packets, rather than keepalived's unprivileged ping
// socket: xlb runs as root with CAP_NET_RAW anyway (VRRP needs it), and ping
// sockets are off for root by default (net.ipv4.ping_group_range "1 0"),
// which keepalived changes for the whole machine to get one. Replies are
// matched by id, sequence and a random token, since every raw socket to the
// same server sees every reply from it.
type pingProber struct {
	ip      netip.Addr
	bind    netip.Addr         // the source address, unset for the kernel's choice
	opts    func(fd int) error // bind_if, fwmark (nil: neither)
	timeout time.Duration
}

func newPingProber(t Target, p params) (*pingProber, error) {
	ip := t.Addr.Addr()
	if t.Check.ConnectIP.IsValid() {
		ip = t.Check.ConnectIP
	}
	if !ip.IsValid() {
		return nil, errors.New("ping check: no address to ping")
	}
	return &pingProber{ip: ip.Unmap(), bind: t.Check.BindTo, opts: checkSockOpts(t.Check), timeout: p.attemptTimeout}, nil
}

func (p *pingProber) probe(ctx context.Context) error {
	network, proto := "ip4:icmp", 1
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if p.ip.Is6() {
		network, proto = "ip6:ipv6-icmp", 58
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	d := &net.Dialer{}
	if p.bind.IsValid() {
		d.LocalAddr = &net.IPAddr{IP: p.bind.AsSlice()}
	}
	if p.opts != nil {
		d.Control = rawControl(p.opts)
	}
	c, err := d.DialContext(ctx, network, (&net.IPAddr{IP: p.ip.AsSlice(), Zone: p.ip.Zone()}).String())
	if err != nil {
		return fmt.Errorf("ping %s: %w", p.ip, err)
	}
	defer c.Close()
	conn := c.(*net.IPConn) // what an ip4:/ip6: network dials
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	var token [8]byte
	binary.BigEndian.PutUint64(token[:], rand.Uint64())
	echo := &icmp.Echo{ID: int(rand.Uint32() & 0xffff), Seq: int(rand.Uint32() & 0xffff), Data: append(token[:], pingPayload...)}
	// IPv4 needs the checksum here; for ICMPv6 the kernel fills it in.
	msg, err := (&icmp.Message{Type: reqType, Body: echo}).Marshal(nil)
	if err != nil {
		return fmt.Errorf("ping %s: building the echo request: %w", p.ip, err)
	}
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("ping %s: %w", p.ip, udpError(err))
	}
	buf := make([]byte, 1500)
	for {
		// ReadFrom, not Read: only it strips the IPv4 header.
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if errors.Is(ctx.Err(), context.Canceled) {
					return ctx.Err()
				}
				return fmt.Errorf("ping %s: no echo reply within %v", p.ip, p.timeout)
			}
			return fmt.Errorf("ping %s: %w", p.ip, udpError(err))
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType {
			continue // our own request on loopback, another kind of ICMP
		}
		if r, ok := m.Body.(*icmp.Echo); ok && r.ID == echo.ID && r.Seq == echo.Seq && bytes.Equal(r.Data, echo.Data) {
			return nil
		}
	}
}
