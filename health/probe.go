package health

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/xlb-project/xlb/config"
)

// maxBody bounds how much of an HTTP_GET response is read for the digest
// and the regex, so a server streaming endlessly cannot exhaust memory or
// time.
const maxBody = 1 << 20

// newProber builds the prober for t's check.
func newProber(t Target, p params) (prober, error) {
	ck := t.Check
	switch ck.Type {
	case config.TCPCheck:
		addr, err := connectAddr(t)
		if err != nil {
			return nil, err
		}
		return &tcpProber{addr: addr.String(), timeout: p.attemptTimeout, dialer: dialerFor(t.Check)}, nil
	case config.HTTPCheck, config.HTTPSCheck:
		addr, err := connectAddr(t)
		if err != nil {
			return nil, err
		}
		var certs []tls.Certificate
		if ck.Type == config.HTTPSCheck {
			// Validated with the configuration; a file changed since
			// fails the check, saying why.
			c, ok, err := t.SSL.ClientCertificate()
			if err != nil {
				return nil, fmt.Errorf("ssl: %w", err)
			}
			if ok {
				certs = []tls.Certificate{c}
			}
		}
		return newHTTPProber(addr, ck, p, certs)
	case config.MiscCheck:
		if strings.TrimSpace(ck.Script) == "" {
			return nil, errors.New("misc check without script")
		}
		return &miscProber{script: ck.Script, timeout: p.attemptTimeout, dynamic: ck.Dynamic, cred: t.RunAs}, nil
	case config.SMTPCheck:
		addr, err := connectAddr(t)
		if err != nil {
			return nil, err
		}
		helo := ck.HeloName
		if helo == "" {
			helo = config.DefaultHeloName
		}
		return &smtpProber{addr: addr.String(), helo: helo, timeout: p.attemptTimeout, dialer: dialerFor(ck)}, nil
	case config.UDPCheck:
		return newUDPProber(t, p)
	case config.PingCheck:
		return newPingProber(t, p)
	case config.DNSCheck:
		return newDNSProber(t, p)
	default:
		return nil, fmt.Errorf("unknown check type %q", ck.Type)
	}
}

// connectAddr is where TCP_CHECK, HTTP_GET, SMTP_CHECK, UDP_CHECK and
// DNS_CHECK connect: connect_ip and
// connect_port when set, else the real server's address and port.
func connectAddr(t Target) (netip.AddrPort, error) {
	ip, port := t.Addr.Addr(), t.Addr.Port()
	if t.Check.ConnectIP.IsValid() {
		ip = t.Check.ConnectIP
	}
	if t.Check.ConnectPort != 0 {
		port = t.Check.ConnectPort
	}
	if !ip.IsValid() || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address to check: ip %v port %d", ip, port)
	}
	return netip.AddrPortFrom(ip, port), nil
}

// tcpProber is TCP_CHECK: the server is up when it accepts a connection.
type tcpProber struct {
	addr    string
	timeout time.Duration // for messages only; ctx carries the deadline
	dialer  *net.Dialer
}

// dialerFor binds a check's connections to its bindto / bind_port, and
// sets its bind_if and fwmark.
func dialerFor(ck config.Check) *net.Dialer {
	d := &net.Dialer{}
	if o := checkSockOpts(ck); o != nil {
		d.Control = rawControl(o)
	}
	if ck.BindTo.IsValid() || ck.BindPort != 0 {
		a := &net.TCPAddr{Port: int(ck.BindPort)}
		if ck.BindTo.IsValid() {
			a.IP = ck.BindTo.AsSlice()
		}
		d.LocalAddr = a
	}
	return d
}

func (p *tcpProber) probe(ctx context.Context) error {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("tcp connect %s: no answer within %v: %w", p.addr, p.timeout, ctx.Err())
		}
		return err // "dial tcp ADDR: connect: connection refused" says it all
	}
	// keepalived's TCP_CHECK only connects; close at once.
	return conn.Close()
}

// httpProber is HTTP_GET, and SSL_GET over TLS: each of its urls in turn,
// each within the connect timeout; the first failing one fails the attempt.
type httpProber struct {
	urls    []*urlProber
	timeout time.Duration // per url
}

// urlProber fetches one url and judges the answer.
type urlProber struct {
	url    string
	host   string             // the Host header; "" for the URL's
	status []config.CodeRange // none: any 2xx
	want   config.StatusCodes
	digest string            // lower-case hex MD5, "" for none
	regex  *config.BodyRegex // nil for none
	rx     config.URLRegex   // what regex was compiled from, for messages
	client *http.Client
}

// newHTTPProber builds HTTP_GET / SSL_GET; certs is the client
// certificate an SSL_GET presents (keepalived's SSL block), if any.
func newHTTPProber(addr netip.AddrPort, ck config.Check, p params, certs []tls.Certificate) (*httpProber, error) {
	hp := &httpProber{timeout: p.urlTimeout}
	for _, cu := range ck.URLs() {
		up, err := newURLProber(addr, ck, cu, certs)
		if err != nil {
			return nil, err
		}
		hp.urls = append(hp.urls, up)
	}
	return hp, nil
}

func newURLProber(addr netip.AddrPort, ck config.Check, cu config.CheckURL, certs []tls.Certificate) (*urlProber, error) {
	path := cu.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	ref, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("http check path %q: %w", cu.Path, err)
	}
	// The Host header is the address connected to, as keepalived sends
	// without a virtualhost.
	scheme := "http"
	if ck.Type == config.HTTPSCheck {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: addr.String(), Path: ref.Path, RawPath: ref.RawPath, RawQuery: ref.RawQuery}
	digest := strings.ToLower(strings.TrimSpace(cu.Digest))
	if digest != "" {
		if b, err := hex.DecodeString(digest); err != nil || len(b) != md5.Size {
			return nil, fmt.Errorf("http check digest %q: not a hex MD5", cu.Digest)
		}
	}
	codes, err := cu.StatusCodes.Ranges()
	if err != nil {
		return nil, fmt.Errorf("http check status_code: %w", err)
	}
	var rx *config.BodyRegex
	if cu.Regex.Pattern != "" {
		// Validation compiled it already; this is the copy the prober keeps.
		if rx, err = config.CompileRegex(cu.Regex); err != nil {
			return nil, fmt.Errorf("http check regex %q: %w", cu.Regex.Pattern, err)
		}
	}
	tr := &http.Transport{
		Proxy:                  nil, // never route checks through $HTTP_PROXY
		DialContext:            dialerFor(ck).DialContext,
		DisableKeepAlives:      true, // each check is a fresh connection, like keepalived's
		DisableCompression:     true, // the digest is over the body as sent, as genhash computes it
		MaxResponseHeaderBytes: 64 << 10,
	}
	if ck.Type == config.HTTPSCheck {
		// SSL_GET asks whether the server answers, not who it is:
		// keepalived does not verify the certificate either (real servers
		// are addressed by IP, which their certificates seldom name). A
		// server name goes in the handshake only with enable_sni (an IP
		// address never does).
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, Certificates: certs}
		if ck.EnableSNI {
			tr.TLSClientConfig.ServerName = cu.VirtualHost
		}
	}
	return &urlProber{
		url:    u.String(),
		host:   cu.VirtualHost,
		status: codes,
		want:   cu.StatusCodes,
		digest: digest,
		regex:  rx,
		rx:     cu.Regex,
		client: &http.Client{
			Transport: tr,
			// A redirect is an answer to judge by status_code, not to follow
			// to some other server.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func (p *httpProber) probe(ctx context.Context) error {
	for _, u := range p.urls {
		uctx, cancel := context.WithTimeout(ctx, p.timeout)
		err := u.get(uctx)
		if err != nil && errors.Is(uctx.Err(), context.DeadlineExceeded) {
			// The underlying error only repeats the URL and the deadline.
			err = fmt.Errorf("http get %s: no complete answer within %v: %w", u.url, p.timeout, uctx.Err())
		}
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *urlProber) get(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return fmt.Errorf("http get %s: %w", p.url, err)
	}
	// keepalived's: log filters and access rules written for its
	// checks keep matching.
	req.Header.Set("User-Agent", "KeepAliveClient")
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err // already names method and URL
	}
	defer resp.Body.Close()
	if !config.MatchCodes(p.status, resp.StatusCode) {
		return fmt.Errorf("http get %s: status %d, want %s", p.url, resp.StatusCode, p.want.Describe())
	}
	if p.digest == "" && p.regex == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("http get %s: reading body: %w", p.url, err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("http get %s: body larger than %d bytes, cannot digest or match it", p.url, maxBody)
	}
	// keepalived's order: status code, then digest, then regex; all must hold.
	if p.digest != "" {
		if sum := md5.Sum(body); hex.EncodeToString(sum[:]) != p.digest {
			return fmt.Errorf("http get %s: body digest %s, want %s", p.url, hex.EncodeToString(sum[:]), p.digest)
		}
	}
	if p.regex != nil && !p.regex.Passes(body) {
		return p.regexFailure()
	}
	return nil
}

// regexFailure says why the body failed the regex check.
func (p *urlProber) regexFailure() error {
	if p.rx.NoMatch {
		return fmt.Errorf("http get %s: body matches regex %q (regex_no_match)", p.url, p.rx.Pattern)
	}
	where := ""
	if p.rx.MinOffset > 0 || p.rx.MaxOffsetSet {
		where = fmt.Sprintf(" starting at byte %d", p.rx.MinOffset)
		if p.rx.MaxOffsetSet {
			where += fmt.Sprintf(" to %d", p.rx.MaxOffset)
		}
	}
	return fmt.Errorf("http get %s: body has no match of regex %q%s", p.url, p.rx.Pattern, where)
}
