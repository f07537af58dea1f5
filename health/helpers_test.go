package health

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slack absorbs scheduling jitter on a loaded CI machine under -race when a
// test asserts an upper time bound.
const slack = 300 * time.Millisecond

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// timedEvent is an Event with the time onChange received it.
type timedEvent struct {
	Event
	at time.Time
}

// recorder collects events delivered to onChange.
type recorder struct {
	ch chan timedEvent
	// hook, when set, runs inside onChange (to sample state at delivery).
	hook func(Event)
}

func newRecorder() *recorder { return &recorder{ch: make(chan timedEvent, 1000)} }

func (r *recorder) onChange(ev Event) {
	if r.hook != nil {
		r.hook(ev)
	}
	r.ch <- timedEvent{ev, time.Now()}
}

// wait returns the next event for key, failing the test if it is not the
// expected state or does not come within d. Events of other keys are skipped.
func (r *recorder) wait(t *testing.T, key string, up bool, d time.Duration) timedEvent {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case ev := <-r.ch:
			if ev.Key != key {
				continue
			}
			if ev.Up != up {
				t.Fatalf("event for %s: up=%v (%s), want up=%v", key, ev.Up, ev.Reason, up)
			}
			return ev
		case <-deadline.C:
			t.Fatalf("no up=%v event for %s within %v", up, key, d)
		}
	}
}

// none fails if an event for key arrives within d.
func (r *recorder) none(t *testing.T, key string, d time.Duration) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case ev := <-r.ch:
			if ev.Key == key {
				t.Fatalf("unexpected event %+v", ev.Event)
			}
		case <-deadline.C:
			return
		}
	}
}

// eventually polls cond every 5ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tcpServer accepts and immediately closes connections on 127.0.0.1 and can
// be stopped and restarted on the same port.
type tcpServer struct {
	t       *testing.T
	addr    netip.AddrPort
	mu      sync.Mutex
	ln      net.Listener
	wg      sync.WaitGroup
	accepts atomic.Int64
}

func newTCPServer(t *testing.T) *tcpServer {
	s := &tcpServer{t: t}
	s.listen("127.0.0.1:0")
	s.addr = netip.MustParseAddrPort(s.ln.Addr().String())
	t.Cleanup(s.stop)
	return s
}

func (s *tcpServer) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("listen %s: %v", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			c.Close()
		}
	}()
}

func (s *tcpServer) start() { s.listen(s.addr.String()) }

func (s *tcpServer) stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.wg.Wait()
}

// httpServer answers with a settable status and body, or hangs.
type httpServer struct {
	*httptest.Server
	addr netip.AddrPort

	mu     sync.Mutex
	status int
	body   string
	hang   bool
	hits   int // requests since the last set
}

func newHTTPServer(t *testing.T) *httpServer {
	s := &httpServer{status: http.StatusOK, body: "ok"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.addr = netip.MustParseAddrPort(s.Listener.Addr().String())
	t.Cleanup(s.Close)
	return s
}

func (s *httpServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits++
	status, body, hang := s.status, s.body, s.hang
	s.mu.Unlock()
	if hang {
		<-r.Context().Done() // the checker gives up; never answer
		return
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// set changes the answer and resets the hit counter in one step, so hits
// counts exactly the requests answered the new way.
func (s *httpServer) set(status int, body string, hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.hang, s.hits = status, body, hang, 0
}

func (s *httpServer) hitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// silentServer accepts connections and never sends a byte.
func silentServer(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// groupAlive reports whether any live (non-zombie) process is in process
// group pgid; zombies are dead and only await their (re)parent.
func groupAlive(t *testing.T, pgid int) bool {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// readPID reads a pid a script wrote to path.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	eventually(t, 2*time.Second, "script wrote "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}
