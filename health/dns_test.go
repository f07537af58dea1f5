package health

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/xlb-project/xlb/config"
)

// dnsServer answers each query as answer says; it records the questions.
type dnsServer struct {
	addr      netip.AddrPort
	questions chan dnsmessage.Question
}

// answer returns the datagrams to send for a query (none: stay silent).
type dnsAnswer func(q dnsmessage.Header) []dnsmessage.Header

func newDNSServer(t *testing.T, answer dnsAnswer) *dnsServer {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: netip.MustParseAddrPort(pc.LocalAddr().String()), questions: make(chan dnsmessage.Question, 16)}
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
			var m dnsmessage.Message
			if err := m.Unpack(buf[:n]); err != nil || len(m.Questions) != 1 {
				t.Errorf("server got a bad query: %v", err)
				continue
			}
			s.questions <- m.Questions[0]
			for _, h := range answer(m.Header) {
				r := dnsmessage.Message{Header: h, Questions: m.Questions}
				out, err := r.Pack()
				if err != nil {
					t.Errorf("pack: %v", err)
					continue
				}
				pc.WriteTo(out, from)
			}
		}
	}()
	return s
}

func dnsTarget(addr netip.AddrPort, typ, name string) Target {
	return Target{Addr: addr, Check: config.Check{Type: config.DNSCheck, QueryType: typ, QueryName: name, ConnectTimeout: 300 * time.Millisecond}}
}

// reply is the response to q with rcode.
func reply(q dnsmessage.Header, rcode dnsmessage.RCode) dnsmessage.Header {
	return dnsmessage.Header{ID: q.ID, Response: true, RecursionDesired: q.RecursionDesired, RCode: rcode}
}

func TestDNSCheck(t *testing.T) {
	// NOERROR without any answer is up: keepalived needs no answer record.
	ok := newDNSServer(t, func(q dnsmessage.Header) []dnsmessage.Header {
		if !q.RecursionDesired || q.Response {
			t.Errorf("query header %+v, want a query with recursion desired", q)
		}
		return []dnsmessage.Header{reply(q, dnsmessage.RCodeSuccess)}
	})
	if err := probeOnce(t, dnsTarget(ok.addr, "", "")); err != nil {
		t.Fatalf("NOERROR: %v", err)
	}
	if q := <-ok.questions; q.Type != dnsmessage.TypeSOA || q.Name.String() != "." || q.Class != dnsmessage.ClassINET {
		t.Errorf("default question %v, want . IN SOA", q)
	}
	if err := probeOnce(t, dnsTarget(ok.addr, "AAAA", "www.example.com")); err != nil {
		t.Fatalf("NOERROR: %v", err)
	}
	if q := <-ok.questions; q.Type != dnsmessage.TypeAAAA || q.Name.String() != "www.example.com." {
		t.Errorf("question %v, want www.example.com. IN AAAA", q)
	}

	// Any other RCODE fails at once.
	for rc, name := range map[dnsmessage.RCode]string{dnsmessage.RCodeServerFailure: "SERVFAIL", dnsmessage.RCodeNameError: "NXDOMAIN", dnsmessage.RCodeRefused: "REFUSED"} {
		s := newDNSServer(t, func(q dnsmessage.Header) []dnsmessage.Header { return []dnsmessage.Header{reply(q, rc)} })
		start := time.Now()
		wantErr(t, probeOnce(t, dnsTarget(s.addr, "A", "example.com")), "A example.com. answered "+name)
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%v took %v to fail, want at once", rc, d)
		}
	}

	// An answer with another id, or a query, is not the answer: ignored;
	// the real answer after it counts.
	wrongFirst := newDNSServer(t, func(q dnsmessage.Header) []dnsmessage.Header {
		other := reply(q, dnsmessage.RCodeServerFailure)
		other.ID++
		notResponse := reply(q, dnsmessage.RCodeServerFailure)
		notResponse.Response = false
		return []dnsmessage.Header{other, notResponse, reply(q, dnsmessage.RCodeSuccess)}
	})
	if err := probeOnce(t, dnsTarget(wrongFirst.addr, "A", "example.com")); err != nil {
		t.Errorf("answer after a wrong id: %v", err)
	}
	// Only a wrong id: down at the timeout.
	wrongOnly := newDNSServer(t, func(q dnsmessage.Header) []dnsmessage.Header {
		h := reply(q, dnsmessage.RCodeSuccess)
		h.ID++
		return []dnsmessage.Header{h}
	})
	start := time.Now()
	wantErr(t, probeOnce(t, dnsTarget(wrongOnly.addr, "A", "example.com")), "no answer to A example.com. within 300ms")
	if d := time.Since(start); d < 300*time.Millisecond || d > 300*time.Millisecond+slack {
		t.Errorf("wrong id failed after %v, want the connect timeout", d)
	}
	// No DNS server: port unreachable.
	wantErr(t, probeOnce(t, dnsTarget(closedUDPPort(t, "udp4", "127.0.0.1:0"), "A", "example.com")), "port unreachable")
}
