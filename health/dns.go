package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/xlb-project/xlb/config"
)

// dnsType maps keepalived's DNS_CHECK type names to query types.
func dnsType(name string) (dnsmessage.Type, bool) {
	switch strings.ToUpper(name) {
	case "A":
		return dnsmessage.TypeA, true
	case "NS":
		return dnsmessage.TypeNS, true
	case "CNAME":
		return dnsmessage.TypeCNAME, true
	case "SOA":
		return dnsmessage.TypeSOA, true
	case "MX":
		return dnsmessage.TypeMX, true
	case "TXT":
		return dnsmessage.TypeTXT, true
	case "AAAA":
		return dnsmessage.TypeAAAA, true
	}
	return 0, false
}

// dnsProber is DNS_CHECK: one query over UDP; as keepalived, the server is
// up when a response with the query's id comes with RCODE NOERROR, whether
// or not it holds an answer. Datagrams that are not that response (too
// short, another id, a query) are skipped; a response with any other RCODE
// (SERVFAIL, NXDOMAIN, REFUSED…) fails the attempt at once.
type dnsProber struct {
	addr    string
	q       dnsmessage.Question
	what    string        // the question for messages: "SOA ."
	timeout time.Duration // for messages only; ctx carries the deadline
	dialer  *net.Dialer
}

func newDNSProber(t Target, p params) (*dnsProber, error) {
	addr, err := connectAddr(t)
	if err != nil {
		return nil, err
	}
	ck := t.Check
	qt, qn := ck.QueryType, ck.QueryName
	if qt == "" {
		qt = config.DefaultQueryType
	}
	if qn == "" {
		qn = config.DefaultQueryName
	}
	typ, ok := dnsType(qt)
	if !ok {
		return nil, fmt.Errorf("dns check: unknown query type %q", qt)
	}
	if !strings.HasSuffix(qn, ".") {
		qn += "." // the query always names the name from the root
	}
	name, err := dnsmessage.NewName(qn)
	if err != nil {
		return nil, fmt.Errorf("dns check name %q: %w", ck.QueryName, err)
	}
	return &dnsProber{
		addr:    addr.String(),
		q:       dnsmessage.Question{Name: name, Type: typ, Class: dnsmessage.ClassINET},
		what:    strings.ToUpper(qt) + " " + qn,
		timeout: p.attemptTimeout,
		dialer:  udpDialer(ck),
	}, nil
}

func (p *dnsProber) probe(ctx context.Context) error {
	// Recursion desired, as keepalived asks; a fresh id per attempt, so a
	// late answer to an earlier attempt is not taken for this one's.
	id := uint16(rand.Uint32())
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return fmt.Errorf("dns check: building the query: %w", err)
	}
	if err := b.Question(p.q); err != nil {
		return fmt.Errorf("dns check: building the query: %w", err)
	}
	query, err := b.Finish()
	if err != nil {
		return fmt.Errorf("dns check: building the query: %w", err)
	}

	conn, stop, err := dialUDP(ctx, p.dialer, p.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer stop()
	if _, err := conn.Write(query); err != nil {
		return fmt.Errorf("dns %s: %w", p.addr, udpError(err))
	}
	buf := make([]byte, 4096) // only the header is read; a longer answer is cut
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if errors.Is(ctx.Err(), context.Canceled) {
					return ctx.Err()
				}
				return fmt.Errorf("dns %s: no answer to %s within %v", p.addr, p.what, p.timeout)
			}
			return fmt.Errorf("dns %s: %w", p.addr, udpError(err))
		}
		var parser dnsmessage.Parser
		h, err := parser.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue // not the answer to this query: keep waiting, as keepalived does
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return fmt.Errorf("dns %s: %s answered %s", p.addr, p.what, rcodeName(h.RCode))
		}
		return nil
	}
}

// rcodeName is an RCODE as dig prints it.
func rcodeName(rc dnsmessage.RCode) string {
	switch rc {
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return fmt.Sprintf("RCODE %d", rc)
}
