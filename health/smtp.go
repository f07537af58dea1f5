package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxSMTPReply bounds what one SMTP_CHECK attempt reads from the server, so
// a server sending endless lines cannot exhaust memory; real greetings and
// HELO answers are a few hundred bytes.
const maxSMTPReply = 64 << 10

// smtpProber is SMTP_CHECK: the server is up when it greets with 220,
// answers "HELO name" with 250 and answers QUIT at all, as keepalived
// checks it.
type smtpProber struct {
	addr    string
	helo    string
	timeout time.Duration // for messages only; ctx carries the deadline
	dialer  *net.Dialer
}

func (p *smtpProber) probe(ctx context.Context) error {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("smtp connect %s: no answer within %v: %w", p.addr, p.timeout, ctx.Err())
		}
		return err
	}
	defer conn.Close()
	// The whole conversation has the connect timeout, as an HTTP_GET's
	// exchange has; a cancelled check (reload, Close) cuts it at once.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	err = p.talk(bufio.NewReader(io.LimitReader(conn, maxSMTPReply)), conn)
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err() // cut short by a reload: says nothing about the server
	case errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil:
		// The socket's deadline may fire a moment before ctx's.
		return fmt.Errorf("smtp %s: no complete answer within %v: %w", p.addr, p.timeout, context.DeadlineExceeded)
	}
	return err
}

// talk holds the conversation: greeting, HELO, QUIT.
func (p *smtpProber) talk(r *bufio.Reader, w io.Writer) error {
	if err := p.expect(r, 220, "greeting"); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "HELO %s\r\n", p.helo); err != nil {
		return fmt.Errorf("smtp %s: sending HELO: %w", p.addr, err)
	}
	if err := p.expect(r, 250, "answer to HELO"); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "QUIT\r\n"); err != nil {
		return fmt.Errorf("smtp %s: sending QUIT: %w", p.addr, err)
	}
	// keepalived waits for an answer to QUIT, whatever it says (221 by
	// the RFC): a server that hangs up without one fails the check there.
	if _, err := readLine(r); err != nil {
		return fmt.Errorf("smtp %s: no answer to QUIT: %w", p.addr, err)
	}
	return nil
}

// expect reads one reply and requires its code to be want.
func (p *smtpProber) expect(r *bufio.Reader, want int, what string) error {
	code, text, err := readSMTPReply(r)
	if err != nil {
		return fmt.Errorf("smtp %s: reading %s: %w", p.addr, what, err)
	}
	if code != want {
		return fmt.Errorf("smtp %s: %s %q, want %d", p.addr, what, text, want)
	}
	return nil
}

// readSMTPReply reads one SMTP reply, with its continuation lines
// ("250-first", "250 last", RFC 5321 4.2.1), and returns its code and its
// last line. keepalived reads only the first line and so fails a server
// whose greeting has several; xlb reads the reply as the RFC defines it.
func readSMTPReply(r *bufio.Reader) (int, string, error) {
	for {
		line, err := readLine(r)
		if err != nil {
			return 0, "", err
		}
		code, more, ok := parseSMTPLine(line)
		if !ok {
			return 0, "", fmt.Errorf("not an SMTP reply: %q", line)
		}
		if !more {
			return code, line, nil
		}
	}
}

// parseSMTPLine reads "NNN text", "NNN-text" (more lines follow) or "NNN".
func parseSMTPLine(line string) (code int, more, ok bool) {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, false, false
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil || code < 100 {
		return 0, false, false
	}
	return code, len(line) > 3 && line[3] == '-', true
}

// readLine reads one line without its CR LF (a bare LF ends it too).
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			if line == "" {
				return "", errors.New("connection closed")
			}
			return "", fmt.Errorf("connection closed inside the line %q", line)
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
