package health

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
)

// wantErr asserts err is non-nil and mentions frag.
func wantErr(t *testing.T, err error, frag string) {
	t.Helper()
	if err == nil {
		t.Fatalf("check passed, want a failure mentioning %q", frag)
	}
	if !strings.Contains(err.Error(), frag) {
		t.Fatalf("error %q does not mention %q", err, frag)
	}
}

// smtpServer answers each connection with greeting, then answers HELO with
// helo and QUIT with "221 bye" (unless noQuitReply), recording the HELO lines.
type smtpServer struct {
	addr netip.AddrPort
	mu   sync.Mutex
	helo []string
}

func newSMTPServer(t *testing.T, greeting, helo string, noQuitReply bool) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: netip.MustParseAddrPort(ln.Addr().String())}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				c.Write([]byte(greeting))
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				s.mu.Lock()
				s.helo = append(s.helo, strings.TrimRight(line, "\r\n"))
				s.mu.Unlock()
				c.Write([]byte(helo))
				if _, err := r.ReadString('\n'); err != nil || noQuitReply {
					return
				}
				c.Write([]byte("221 bye\r\n"))
			}()
		}
	}()
	return s
}

func (s *smtpServer) heloLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.helo...)
}

func smtpTarget(addr netip.AddrPort, helo string) Target {
	return Target{Addr: addr, Check: config.Check{Type: config.SMTPCheck, HeloName: helo, ConnectTimeout: 500 * time.Millisecond}}
}

func TestSMTPCheck(t *testing.T) {
	good := newSMTPServer(t, "220 mx.example ESMTP\r\n", "250 mx.example\r\n", false)
	if err := probeOnce(t, smtpTarget(good.addr, "lb1.example")); err != nil {
		t.Fatalf("good server: %v", err)
	}
	// Without helo_name, keepalived 2's name.
	if err := probeOnce(t, smtpTarget(good.addr, "")); err != nil {
		t.Fatalf("good server, default HELO: %v", err)
	}
	if got, want := good.heloLines(), []string{"HELO lb1.example", "HELO smtpchecker.keepalived.org"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("server got %q, want %q", got, want)
	}

	// A greeting and a HELO answer of several lines (RFC 5321) pass.
	multi := newSMTPServer(t, "220-mx.example ESMTP\r\n220 no UCE\r\n", "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", false)
	if err := probeOnce(t, smtpTarget(multi.addr, "lb1")); err != nil {
		t.Fatalf("multi-line replies: %v", err)
	}

	for _, tc := range []struct {
		name, greeting, helo string
		noQuit               bool
		frag                 string
	}{
		{"554 greeting", "554 no service\r\n", "250 ok\r\n", false, `greeting "554 no service", want 220`},
		{"HELO refused", "220 mx\r\n", "501 bad name\r\n", false, `answer to HELO "501 bad name", want 250`},
		{"not SMTP", "SSH-2.0-OpenSSH_9.6\r\n", "", false, "not an SMTP reply"},
		{"no answer to QUIT", "220 mx\r\n", "250 ok\r\n", true, "no answer to QUIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSMTPServer(t, tc.greeting, tc.helo, tc.noQuit)
			wantErr(t, probeOnce(t, smtpTarget(s.addr, "lb1")), tc.frag)
		})
	}

	// A server that accepts and never greets fails at the connect timeout.
	start := time.Now()
	wantErr(t, probeOnce(t, smtpTarget(silentServer(t), "lb1")), "no complete answer within 500ms")
	if d := time.Since(start); d > 500*time.Millisecond+slack {
		t.Errorf("silent server took %v to fail, want about 500ms", d)
	}
	// Nothing listening: refused.
	wantErr(t, probeOnce(t, smtpTarget(closedTCPPort(t), "lb1")), "connection refused")
}

// closedTCPPort is a loopback port nothing listens on.
func closedTCPPort(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}
