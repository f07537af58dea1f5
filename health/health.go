// Package health checks real servers the way keepalived's checkers do
// (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK, UDP_CHECK,
// PING_CHECK, DNS_CHECK) and reports up/down transitions.
//
// Semantics, following keepalived:
//
//   - One goroutine per target, so a slow or hanging server never delays the
//     checks of another.
//   - A new target starts DOWN ("alpha" mode) and goes up after Rise
//     consecutive successful checks, unless Target.StartUp says it is a
//     check added to a server already serving: then it starts UP and needs
//     Fall failed checks to go down (keepalived without alpha). A target
//     without a check (Check.Type "") is always up and reported up once
//     when it starts.
//   - A check is one attempt plus up to Retry further attempts, each after
//     DelayBeforeRetry; the check fails only when every attempt fails. Fall
//     consecutive failed checks take an up target down.
//   - The next check starts DelayLoop after the previous one finished (as
//     keepalived re-arms its timer on completion); the first check of a new
//     target runs immediately, so servers come up quickly at startup.
//
// The checkers:
//
//   - TCP_CHECK connects to ConnectIP:ConnectPort (default: the real
//     server's address and port) within ConnectTimeout and closes at once.
//   - HTTP_GET sends "GET Path" (default "/") to the same address with that
//     address (or VirtualHost) as Host header, a fresh connection per attempt, no proxy, no
//     redirects followed and no compression; ConnectTimeout bounds the whole
//     exchange including the body. It succeeds when the status is one of
//     StatusCodes (codes and ranges; any 2xx when there are none) and, if Digest is set,
//     the hex MD5 of the body (as keepalived's genhash prints it; case is
//     ignored) matches, and, if Regex is set, the body holds a match of its
//     pattern starting within its offsets (or, with NoMatch, does not; see
//     config.URLRegex). At most 1 MiB of body is read; a larger body fails
//     a digest or regex check.
//     Further urls (Check.MoreURLs, keepalived's several url blocks) are
//     fetched in turn, each within ConnectTimeout with its own status codes,
//     digest, regex and virtualhost; the first failing one fails the attempt.
//   - SSL_GET is HTTP_GET over TLS. As keepalived's, it does not verify the
//     server's certificate (it asks whether the server answers); it sends
//     VirtualHost as the TLS server name only with EnableSNI.
//   - MISC_CHECK runs Script with /bin/sh -c in its own process group; exit
//     0 is success. At Timeout (default DelayLoop) the whole group is killed
//     with SIGKILL, and so are processes the script leaves behind when it
//     exits. Only the first 256 bytes of its output are kept, for the reason.
//   - SMTP_CHECK connects as TCP_CHECK does, and needs a 220 greeting, 250
//     to "HELO HeloName" and an answer to QUIT (replies of several lines
//     are read whole), all within ConnectTimeout.
//   - UDP_CHECK sends Payload (keepalived's 32 default bytes without one)
//     on a connected socket with IP_RECVERR: an ICMP port, host or network
//     unreachable fails it. With RequireReply a reply must come within
//     ConnectTimeout and, given a ReplyPattern, match it and have a length
//     within MinReplyLength..MaxReplyLength; without, silence passes.
//   - PING_CHECK sends one ICMP or ICMPv6 echo request on a raw socket and
//     needs the matching echo reply within ConnectTimeout.
//   - FILE_CHECK is not polled: it follows a track file (package
//     trackfile, inotify) and applies each value as it is written, up or
//     down at once without Rise, Fall or Retry; see FileResult.
//   - DNS_CHECK asks QueryType QueryName over UDP and needs the response
//     with the query's id and RCODE NOERROR (no answer record needed)
//     within ConnectTimeout; other datagrams are skipped, another RCODE
//     fails at once.
//
// A check that cannot be built (unknown type, bad digest, no port, ...) fails
// every time with that error, so the server stays down and Status says why.
//
// Detection bound: a server that stops answering at time t is reported down no
// later than t + Target.DetectionBound(), where
//
//	DetectionBound = Fall × (DelayLoop + (Retry+1)×AttemptTimeout + Retry×DelayBeforeRetry)
//
// and AttemptTimeout is ConnectTimeout (every checker but MISC_CHECK) or Timeout
// (MISC_CHECK). Why: the last successful check ended at or before t; the next
// check starts at most DelayLoop later and, every attempt failing, ends at most
// (Retry+1)×AttemptTimeout + Retry×DelayBeforeRetry after it started; each of
// the Fall failed checks needed costs at most that much again. The bound
// excludes scheduling jitter and the time onChange itself takes.
package health

import (
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
)

// Target is one real server to check.
type Target struct {
	// Key is the stable identity of the target, e.g.
	// "tcp/192.168.101.100:80/192.168.101.3:80"; events and Status use it.
	Key string
	// Addr is the real server; checks connect here unless Check overrides it.
	Addr netip.AddrPort
	// Check is the health check; Type "" means none (always up).
	Check config.Check
	// DelayLoop is the pause between the end of one check and the start of
	// the next (keepalived delay_loop); <= 0 means config.DefaultDelayLoop.
	DelayLoop time.Duration
	// RunAs is who a MISC_CHECK's script runs as (config.ScriptCred); the
	// zero value is root.
	RunAs runas.Cred
	// Suspended runs no checks and keeps the target's state (keepalived's
	// ha_suspend while the VIP is not on the director): setting or
	// clearing it through Update restarts the checker with its up/down
	// state, and a cleared one checks at once.
	Suspended bool
	// File is the track file a FILE_CHECK follows (Check.TrackFile's
	// definition); checks of the same file share one watch.
	File config.VRRPTrackFile
	// SSL is keepalived's SSL block, for an SSL_GET's client certificate
	// (loaded when the checker starts; the zero value presents none).
	SSL config.SSLContext
	// StartUp starts a key new to the Manager up instead of down:
	// keepalived (without alpha) starts a checker added to a real server
	// that is serving as succeeded, so a reload adding a check to such a
	// server must not take it out; Fall failed checks do. It is ignored
	// for a key already checked (its state carries over, see Update) and
	// is no part of the target's definition (changing it restarts nothing).
	StartUp bool
}

// Event reports a transition of a target between up and down.
type Event struct {
	Key string
	Up  bool
	// Reason says why: the last error for a down event, what succeeded for an up one.
	Reason string
	// Latency is the duration of the last attempt of the check that caused
	// the transition (0 for a target without a check).
	Latency time.Duration
	// WeightSet says a dynamic MISC_CHECK (misc_dynamic) set the server's
	// weight to Weight; such an event may come without a change of Up.
	Weight    int
	WeightSet bool
	// FileWeight is what a FILE_CHECK adds to the server's weight now
	// (value × weight; 0 while it holds the server down or for another
	// check); an event may come for a change of it alone.
	FileWeight int
}

// Status is the current health of one target.
type Status struct {
	Up bool
	// LastErr is the error of the last check, "" when it succeeded.
	LastErr string
	// LastLatency is the duration of the last attempt of the last check: the
	// response time when it succeeded, the time to fail when it did not.
	LastLatency time.Duration
	// LastCheck is when the last check finished (zero before the first).
	LastCheck time.Time
	// Checks counts finished checks and Failures the failed ones; a check
	// counts once however many attempts (retries) it took.
	Checks, Failures uint64
	// Weight is the weight a dynamic MISC_CHECK last set (WeightSet).
	Weight    int
	WeightSet bool
	// FileWeight is what a FILE_CHECK adds to the server's weight (see
	// Event.FileWeight).
	FileWeight int
}

// Manager runs one checker per target and reports transitions to onChange.
//
// onChange is called from a single goroutine of the Manager, one event at a
// time, in the order the transitions happened, and never with a lock held
// that Update, Status or Snapshot need: a slow onChange delays only the
// delivery of later events, never checking or Update. If events pile up while
// onChange is busy, only the newest one per key is kept (the consumer needs
// the current state, not the history; transitions are logged anyway), so the
// queue is bounded by the number of targets. An event may arrive for a key
// shortly after an Update removed it; consumers should ignore unknown keys.
type Manager struct {
	log      *slog.Logger
	onChange func(Event)

	// mu guards everything below. It is also held while a checker records a
	// result, so the state a replaced checker hands over (see Update) and
	// the events it queued are always consistent.
	mu       sync.Mutex
	checkers map[string]*checker
	closed   bool
	queue    []string         // keys with a pending event, in order
	pending  map[string]Event // newest undelivered event per key
	files    fileWatches      // the track files FILE_CHECKs follow

	wake chan struct{} // poked when queue grows; capacity 1
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// NewManager returns a Manager with no targets. onChange may be nil. log may
// be nil (then slog.Default is used).
func NewManager(log *slog.Logger, onChange func(Event)) *Manager {
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{
		log:      log,
		onChange: onChange,
		checkers: make(map[string]*checker),
		pending:  make(map[string]Event),
		files:    fileWatches{},
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	m.wg.Add(1)
	go m.dispatch()
	return m
}

// Update makes targets the complete set of checked targets. New keys start a
// checker (down, or up with StartUp: see the package comment); keys no
// longer present are stopped; targets whose definition changed are
// restarted with fresh counters but keep their up/down state, so a reload
// that only tunes a check does not take a healthy server out of service
// (nor bring a failing one in); unchanged targets keep
// running untouched. Update never waits for a checker or for onChange. When
// targets holds a key twice, the last one wins. Update after Close does nothing.
func (m *Manager) Update(targets []Target) {
	want := make(map[string]Target, len(targets))
	for _, t := range targets {
		if t.Key == "" {
			m.log.Warn("health: ignoring target without key", "addr", t.Addr)
			continue
		}
		if _, dup := want[t.Key]; dup {
			m.log.Warn("health: duplicate target key, the last one wins", "key", t.Key)
		}
		want[t.Key] = t
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for key, c := range m.checkers {
		if _, ok := want[key]; !ok {
			m.stopLocked(c)
			delete(m.checkers, key)
			// The consumer has dropped the key; a pending event would only
			// confuse it.
			delete(m.pending, key)
			m.log.Info("health: stopped checking", "key", key)
		}
	}
	for key, t := range want {
		old, exists := m.checkers[key]
		if exists && sameTarget(old.target, t) {
			continue
		}
		// A new key starts as its target says (down unless StartUp); an
		// existing one keeps its state whatever StartUp says, so a server
		// that was down stays down until the new check passes Rise times.
		up := t.StartUp
		// The new checker first: a FILE_CHECK whose file is unchanged
		// keeps the watch it shares with the old one.
		c := newChecker(m, t, up)
		if exists {
			m.stopLocked(old)
			up = old.st.Up
			c.st.Up = up
		}
		m.checkers[key] = c
		m.wg.Add(1)
		go c.run()
		if exists {
			m.log.Info("health: restarted changed check", "key", key, "up", up)
		} else {
			m.log.Info("health: started checking", "key", key, "type", string(t.Check.Type), "addr", t.Addr, "up", up)
		}
	}
}

// sameTarget reports whether two targets check the same thing the same way.
// The config line is not part of that: editing comments above a real server
// must not restart its checker.
func sameTarget(a, b Target) bool {
	a.Check.Line, b.Check.Line = 0, 0
	a.StartUp, b.StartUp = false, false // only read for a new key
	return reflect.DeepEqual(a, b)
}

// stopLocked cancels c without waiting for it; m.mu must be held. Once
// stopped, c records nothing more, so a result that was in flight cannot
// overwrite the state handed to its successor.
func (m *Manager) stopLocked(c *checker) {
	c.stopped = true
	c.cancel()
	if c.file != nil {
		c.fileWatch.Unsubscribe(c.file)
		m.files.release(c.target.File, m)
	}
}

// Status returns the health of the target with key.
func (m *Manager) Status(key string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.checkers[key]
	if !ok {
		return Status{}, false
	}
	return c.st, true
}

// Snapshot returns the health of every target, by key.
func (m *Manager) Snapshot() map[string]Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Status, len(m.checkers))
	for k, c := range m.checkers {
		out[k] = c.st
	}
	return out
}

// Close stops every checker (killing running MISC_CHECK scripts) and waits for
// them and for an onChange call in progress; no event is delivered after
// Close returns. onChange must therefore neither call Close nor wait for the
// goroutine calling it. Close is idempotent.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for key, c := range m.checkers {
		m.stopLocked(c)
		delete(m.checkers, key)
	}
	m.queue, m.pending = nil, map[string]Event{}
	m.mu.Unlock()
	close(m.done)
	m.wg.Wait()
}

// enqueueLocked queues ev for onChange, replacing an undelivered event of the
// same key in place; m.mu must be held.
func (m *Manager) enqueueLocked(ev Event) {
	if m.onChange == nil {
		return
	}
	if _, ok := m.pending[ev.Key]; !ok {
		m.queue = append(m.queue, ev.Key)
	}
	m.pending[ev.Key] = ev
	select {
	case m.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// dispatch delivers queued events to onChange until Close.
func (m *Manager) dispatch() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case <-m.wake:
		}
		for {
			ev, ok := m.next()
			if !ok {
				break
			}
			m.onChange(ev)
		}
	}
}

// next pops the oldest pending event; false when there is none or the
// Manager is closed.
func (m *Manager) next() (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.queue) > 0 && !m.closed {
		key := m.queue[0]
		m.queue = m.queue[1:]
		// A key removed by Update leaves a stale entry in queue; skip it.
		if ev, ok := m.pending[key]; ok {
			delete(m.pending, key)
			return ev, true
		}
	}
	return Event{}, false
}
