package health

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// udpServer answers every datagram with reply (none when reply is nil) and
// records what it received.
type udpServer struct {
	addr netip.AddrPort
	got  chan []byte
}

func newUDPServer(t *testing.T, network, laddr string, reply []byte) *udpServer {
	pc, err := net.ListenPacket(network, laddr)
	if err != nil {
		t.Skipf("no %s on loopback: %v", network, err)
	}
	s := &udpServer{addr: netip.MustParseAddrPort(pc.LocalAddr().String()), got: make(chan []byte, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.got <- append([]byte(nil), buf[:n]...)
			if reply != nil {
				pc.WriteTo(reply, from)
			}
		}
	}()
	return s
}

// closedUDPPort is a loopback port nothing listens on: datagrams to it
// draw an ICMP port unreachable.
func closedUDPPort(t *testing.T, network, laddr string) netip.AddrPort {
	pc, err := net.ListenPacket(network, laddr)
	if err != nil {
		t.Skipf("no %s on loopback: %v", network, err)
	}
	a := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return a
}

func udpTarget(addr netip.AddrPort, ck config.Check) Target {
	ck.Type = config.UDPCheck
	ck.ConnectTimeout = 300 * time.Millisecond
	if ck.MaxReplyLength == 0 {
		ck.MaxReplyLength = config.DefaultMaxReplyLength
	}
	return Target{Addr: addr, Check: ck}
}

func TestUDPCheck(t *testing.T) {
	for _, fam := range []struct{ network, laddr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(fam.network, func(t *testing.T) {
			answering := newUDPServer(t, fam.network, fam.laddr, []byte{0x01, 0x02, 0xff, 0x04, 0x05})
			if err := probeOnce(t, udpTarget(answering.addr, config.Check{RequireReply: true})); err != nil {
				t.Fatalf("answering server with require_reply: %v", err)
			}
			// Without payload, keepalived's 32 bytes go out.
			if got := string(<-answering.got); got != "keepalived check - keepalived ch" {
				t.Errorf("default payload %q", got)
			}
			if err := probeOnce(t, udpTarget(answering.addr, config.Check{Payload: "Ab12f 3"})); err != nil {
				t.Fatalf("answering server: %v", err)
			}
			if got := <-answering.got; string(got) != "\xab\x12\x0f\x03" {
				t.Errorf("payload Ab12f 3 sent as % x, want ab 12 0f 03", got)
			}

			// The reply's first bytes against the pattern, X any nibble.
			for _, tc := range []struct {
				pattern  string
				min, max int
				frag     string // "" for a pass
			}{
				{"01 02 xX 04", 0, 255, ""},
				{"0102ff0405 06 07", 0, 255, ""}, // only the reply's 5 bytes are compared, as keepalived does
				{"01 03", 0, 255, "does not match the pattern"},
				{"01", 6, 255, "reply of 5 bytes, want 6..255"},
				{"01", 0, 4, "reply of more than 4 bytes, want 0..4"},
			} {
				err := probeOnce(t, udpTarget(answering.addr, config.Check{RequireReply: true, ReplyPattern: tc.pattern, MinReplyLength: tc.min, MaxReplyLength: tc.max}))
				if tc.frag == "" && err != nil {
					t.Errorf("pattern %q: %v", tc.pattern, err)
				} else if tc.frag != "" {
					if err == nil || !strings.Contains(err.Error(), tc.frag) {
						t.Errorf("pattern %q min %d max %d: error %v, want one mentioning %q", tc.pattern, tc.min, tc.max, err, tc.frag)
					}
				}
			}

			// Nothing listening: the ICMP port unreachable fails the check,
			// with or without require_reply.
			closed := closedUDPPort(t, fam.network, fam.laddr)
			for _, rr := range []bool{false, true} {
				start := time.Now()
				err := probeOnce(t, udpTarget(closed, config.Check{RequireReply: rr}))
				wantErr(t, err, "port unreachable")
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("error %v is not ECONNREFUSED", err)
				}
				if d := time.Since(start); d > 200*time.Millisecond {
					t.Errorf("closed port took %v to fail: the ICMP error was not seen", d)
				}
			}

			// A server that takes the datagram and stays silent: up without
			// require_reply (keepalived's rule), down with it.
			silent := newUDPServer(t, fam.network, fam.laddr, nil)
			if err := probeOnce(t, udpTarget(silent.addr, config.Check{})); err != nil {
				t.Errorf("silent server without require_reply: %v", err)
			}
			start := time.Now()
			wantErr(t, probeOnce(t, udpTarget(silent.addr, config.Check{RequireReply: true})), "no reply within 300ms")
			if d := time.Since(start); d < 300*time.Millisecond || d > 300*time.Millisecond+slack {
				t.Errorf("silent server failed after %v, want the connect timeout 300ms", d)
			}
		})
	}
}

// The new checkers run under the Manager like the others: up, then down
// when the server goes away.
func TestNewCheckersUpDown(t *testing.T) {
	rec := newRecorder()
	m := newTestManager(t, rec)
	smtp := newSMTPServer(t, "220 mx\r\n", "250 ok\r\n", false)
	udpPC, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpAddr := netip.MustParseAddrPort(udpPC.LocalAddr().String())
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := udpPC.ReadFrom(buf)
			if err != nil {
				return
			}
			udpPC.WriteTo(buf[:n], from)
		}
	}()
	tg := func(key string, tgt Target) Target {
		tgt.Key, tgt.DelayLoop = key, 50*time.Millisecond
		tgt.Check.Rise, tgt.Check.Fall = 1, 1
		return tgt
	}
	m.Update([]Target{
		tg("smtp", smtpTarget(smtp.addr, "lb1")),
		tg("udp", udpTarget(udpAddr, config.Check{RequireReply: true})),
	})
	rec.wait(t, "udp", true, 2*time.Second) // drops smtp's events: its state is polled
	eventually(t, 2*time.Second, "smtp up", func() bool {
		st, _ := m.Status("smtp")
		return st.Up
	})
	udpPC.Close() // now the port is closed: ICMP unreachable
	ev := rec.wait(t, "udp", false, 2*time.Second)
	if !strings.Contains(ev.Reason, "port unreachable") {
		t.Errorf("down reason %q", ev.Reason)
	}
}
