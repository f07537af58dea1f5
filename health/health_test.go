package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/runas"
	"github.com/xlb-project/xlb/internal/runas/runastest"
)

func newTestManager(t *testing.T, rec *recorder) *Manager {
	m := NewManager(testLogger(t), rec.onChange)
	t.Cleanup(m.Close)
	return m
}

func tcpTarget(key string, addr netip.AddrPort) Target {
	return Target{
		Key:       key,
		Addr:      addr,
		DelayLoop: 50 * time.Millisecond,
		Check: config.Check{
			Type:             config.TCPCheck,
			ConnectTimeout:   100 * time.Millisecond,
			Retry:            2,
			DelayBeforeRetry: 20 * time.Millisecond,
			Rise:             1,
			Fall:             1,
		},
	}
}

func TestDetectionBoundFormula(t *testing.T) {
	tg := Target{DelayLoop: 6 * time.Second, Check: config.Check{
		Type: config.TCPCheck, ConnectTimeout: 3 * time.Second, Retry: 3, DelayBeforeRetry: 3 * time.Second, Fall: 2,
	}}
	// 2 × (6 + 4×3 + 3×3) s, the SYSTEM.md example with fall 2.
	if got, want := tg.DetectionBound(), 54*time.Second; got != want {
		t.Errorf("tcp bound = %v, want %v", got, want)
	}
	misc := Target{DelayLoop: 10 * time.Second, Check: config.Check{Type: config.MiscCheck, ConnectTimeout: time.Hour}}
	// Timeout unset: defaults to delay_loop; ConnectTimeout is irrelevant.
	if got, want := misc.DetectionBound(), 20*time.Second; got != want {
		t.Errorf("misc bound = %v, want %v", got, want)
	}
	if got := (Target{}).DetectionBound(); got != 0 {
		t.Errorf("no-check bound = %v, want 0", got)
	}
}

// A TCP server goes up, dies and comes back; death is noticed within the
// documented bound, and only after the retries were made.
func TestTCPUpDownUp(t *testing.T) {
	srv := newTCPServer(t)
	rec := newRecorder()
	m := newTestManager(t, rec)
	tg := tcpTarget("tcp/a", srv.addr)
	m.Update([]Target{tg})
	rec.wait(t, tg.Key, true, time.Second)

	srv.stop()
	dead := time.Now()
	ev := rec.wait(t, tg.Key, false, tg.DetectionBound()+slack)
	took := ev.at.Sub(dead)
	t.Logf("down after %v (bound %v): %s", took, tg.DetectionBound(), ev.Reason)
	if took > tg.DetectionBound()+slack {
		t.Errorf("down after %v, bound %v", took, tg.DetectionBound())
	}
	// Refused connections fail at once, so the check takes at least the
	// pauses between its Retry+1 attempts.
	if min := time.Duration(tg.Check.Retry) * tg.Check.DelayBeforeRetry; took < min {
		t.Errorf("down after %v, before %d retries could be made (%v)", took, tg.Check.Retry, min)
	}
	if !strings.Contains(ev.Reason, "3 attempts failed") || !strings.Contains(ev.Reason, "refused") {
		t.Errorf("reason %q does not name the attempts and the refusal", ev.Reason)
	}
	st, ok := m.Status(tg.Key)
	if !ok || st.Up || st.Failures == 0 || st.LastErr == "" {
		t.Errorf("status after down = %+v, %v", st, ok)
	}

	srv.start()
	back := time.Now()
	ev = rec.wait(t, tg.Key, true, tg.DelayLoop+tg.Check.ConnectTimeout+slack)
	t.Logf("up again after %v", ev.at.Sub(back))
	st, _ = m.Status(tg.Key)
	if !st.Up || st.LastErr != "" || st.LastCheck.IsZero() || st.LastLatency <= 0 {
		t.Errorf("status after up = %+v", st)
	}
}

// A server that hangs (accepts, never answers) is cut by ConnectTimeout on
// every attempt; with Fall 2 the detection time lies between the time the
// timeouts alone take and the documented bound.
func TestDetectionBoundHungServer(t *testing.T) {
	srv := newHTTPServer(t)
	rec := newRecorder()
	m := newTestManager(t, rec)
	tg := Target{Key: "http/hang", Addr: srv.addr, DelayLoop: 50 * time.Millisecond, Check: config.Check{
		Type: config.HTTPCheck, Path: "/", ConnectTimeout: 150 * time.Millisecond,
		Retry: 1, DelayBeforeRetry: 30 * time.Millisecond, Rise: 1, Fall: 2,
	}}
	m.Update([]Target{tg})
	rec.wait(t, tg.Key, true, time.Second)

	srv.set(0, "", true)
	hung := time.Now()
	ev := rec.wait(t, tg.Key, false, tg.DetectionBound()+slack)
	took := ev.at.Sub(hung)
	bound := tg.DetectionBound() // 2 × (50 + 2×150 + 30) ms = 760ms
	t.Logf("down after %v (bound %v): %s", took, bound, ev.Reason)
	if took > bound+slack {
		t.Errorf("down after %v, bound %v", took, bound)
	}
	// Fall checks of Retry+1 timed-out attempts each cannot be faster.
	if min := time.Duration(tg.Check.Fall*(tg.Check.Retry+1)) * tg.Check.ConnectTimeout; took < min {
		t.Errorf("down after %v, faster than %v of timeouts", took, min)
	}
	if !strings.Contains(ev.Reason, "2 consecutive checks failed") || !strings.Contains(ev.Reason, "no complete answer within 150ms") {
		t.Errorf("reason %q", ev.Reason)
	}
}

func TestHTTPStatus(t *testing.T) {
	srv := newHTTPServer(t)
	cases := []struct {
		serve int
		want  string // status_code as written; "" = unset
		ok    bool
	}{
		{200, "", true},
		{204, "", true},  // unset accepts any 2xx
		{500, "", false}, // ...and nothing else
		{301, "", false}, // redirects are not followed
		{200, "200", true},
		{204, "200", false},
		{500, "500", true},
		{301, "301", true},
		{302, "200-299 301-302", true}, // keepalived 2's ranges and lists
		{303, "200-299 301-302", false},
		{299, "200-299 301-302", true},
		{503, "200,503", true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("serve%d_want%s", c.serve, c.want), func(t *testing.T) {
			srv.set(c.serve, "x", false)
			var want config.StatusCodes
			if c.want != "" {
				var err error
				if want, err = config.ParseStatusCodes(c.want); err != nil {
					t.Fatal(err)
				}
			}
			err := probeOnce(t, Target{Addr: srv.addr, Check: config.Check{
				Type: config.HTTPCheck, Path: "/health", StatusCodes: want, ConnectTimeout: time.Second,
			}})
			if (err == nil) != c.ok {
				t.Fatalf("probe = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("status %d", c.serve)) {
				t.Errorf("error %q does not name the status", err)
			}
		})
	}
}

// probeOnce runs a single attempt of t's check, as the checker would.
func probeOnce(t *testing.T, tg Target) error {
	t.Helper()
	p := paramsOf(tg)
	pr, err := newProber(tg, p)
	if err != nil {
		t.Fatalf("newProber: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.attemptTimeout)
	defer cancel()
	return pr.probe(ctx)
}

func TestHTTPDigest(t *testing.T) {
	srv := newHTTPServer(t)
	srv.set(200, "hello", false)
	const helloMD5 = "5d41402abc4b2a76b9719d911017c592" // genhash / md5sum of "hello"
	check := func(digest string) error {
		return probeOnce(t, Target{Addr: srv.addr, Check: config.Check{
			Type: config.HTTPCheck, Path: "/", Digest: digest, ConnectTimeout: time.Second,
		}})
	}
	if err := check(helloMD5); err != nil {
		t.Errorf("matching digest: %v", err)
	}
	if err := check(strings.ToUpper(helloMD5)); err != nil {
		t.Errorf("matching upper-case digest: %v", err)
	}
	err := check("00000000000000000000000000000000")
	if err == nil || !strings.Contains(err.Error(), "digest "+helloMD5) {
		t.Errorf("mismatching digest: %v", err)
	}
	// A body over the limit cannot be digested and fails.
	srv.set(200, strings.Repeat("a", maxBody+1), false)
	if err := check(helloMD5); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized body: %v", err)
	}
	// A malformed digest is a configuration error found before any check.
	if _, err := newProber(Target{Addr: srv.addr, Check: config.Check{Type: config.HTTPCheck, Digest: "xyz"}}, params{}); err == nil {
		t.Error("malformed digest accepted")
	}
}

// The url's regex judges the body after the status code and digest, as
// keepalived's does: each must hold for the server to be up.
func TestHTTPRegex(t *testing.T) {
	srv := newHTTPServer(t)
	srv.set(200, "status: OK\nload 0.5\n", false)
	check := func(codes config.StatusCodes, digest string, rx config.URLRegex) error {
		return probeOnce(t, Target{Addr: srv.addr, Check: config.Check{
			Type: config.HTTPCheck, Path: "/", StatusCodes: codes, Digest: digest, Regex: rx, ConnectTimeout: time.Second,
		}})
	}
	up := func(what string, rx config.URLRegex) {
		t.Helper()
		if err := check("", "", rx); err != nil {
			t.Errorf("%s: %v, want up", what, err)
		}
	}
	down := func(what string, rx config.URLRegex, msg string) {
		t.Helper()
		if err := check("", "", rx); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want down with %q", what, err, msg)
		}
	}
	up("matching body", config.URLRegex{Pattern: `load [0-9.]+`})
	down("body without a match", config.URLRegex{Pattern: `status: down`}, `no match of regex "status: down"`)
	up("regex_no_match, no match", config.URLRegex{Pattern: `error`, NoMatch: true})
	down("regex_no_match, a match", config.URLRegex{Pattern: `OK`, NoMatch: true}, "regex_no_match")
	down("case differs", config.URLRegex{Pattern: `status: ok`}, "no match")
	up("caseless", config.URLRegex{Pattern: `status: ok`, Options: "caseless"})
	up("multiline ^ and $", config.URLRegex{Pattern: `^load 0\.5$`, Options: "multiline"})

	// "OK" starts at byte 8: the offsets bound where a match may start.
	up("match within the offsets", config.URLRegex{Pattern: `OK`, MinOffset: 8, MaxOffset: 8, MaxOffsetSet: true})
	down("match before regex_min_offset", config.URLRegex{Pattern: `OK`, MinOffset: 9}, "starting at byte 9")
	down("match after regex_max_offset", config.URLRegex{Pattern: `OK`, MaxOffset: 7, MaxOffsetSet: true}, "starting at byte 0 to 7")

	// Status code and digest come first: a matching body does not save a
	// refused status, nor a wrong digest.
	srv.set(500, "status: OK\n", false)
	if err := check("", "", config.URLRegex{Pattern: "OK"}); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("500 with a matching body: %v, want down for the status", err)
	}
	if err := check("500", "", config.URLRegex{Pattern: "OK"}); err != nil {
		t.Errorf("accepted 500 with a matching body: %v, want up", err)
	}
	if err := check("500", "", config.URLRegex{Pattern: "down"}); err == nil {
		t.Error("accepted 500 with a body without a match: up, want down")
	}
	srv.set(200, "hello", false)
	const helloMD5 = "5d41402abc4b2a76b9719d911017c592"
	if err := check("", helloMD5, config.URLRegex{Pattern: "^hello$"}); err != nil {
		t.Errorf("digest and regex both hold: %v", err)
	}
	if err := check("", helloMD5, config.URLRegex{Pattern: "bye"}); err == nil {
		t.Error("digest holds, regex does not: up, want down")
	}
	if err := check("", "00000000000000000000000000000000", config.URLRegex{Pattern: "hello"}); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("regex holds, digest does not: %v, want down for the digest", err)
	}

	// The body is read only up to maxBody; a larger one fails rather than
	// being judged on a part.
	srv.set(200, "OK"+strings.Repeat("a", maxBody), false)
	down("oversized body", config.URLRegex{Pattern: "OK"}, "larger than")

	// A configuration built in code is compiled too.
	if _, err := newProber(Target{Addr: srv.addr, Check: config.Check{Type: config.HTTPCheck, Regex: config.URLRegex{Pattern: `(?<=a)b`}}}, params{}); err == nil {
		t.Error("lookbehind accepted")
	}
}

// A server that accepts but never answers is cut by ConnectTimeout, both for
// the headers and, when a digest needs it, for a body that stalls.
func TestHTTPSilentServerCutByConnectTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	addr := silentServer(t)
	start := time.Now()
	err := probeOnce(t, Target{Addr: addr, Check: config.Check{Type: config.HTTPCheck, ConnectTimeout: timeout}})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no complete answer within 200ms") {
		t.Errorf("probe of silent server = %v", err)
	}
	if took < timeout || took > timeout+slack {
		t.Errorf("probe took %v, want about %v", took, timeout)
	}

	// Headers at once, then a body that never finishes.
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-stall:
		}
	}))
	t.Cleanup(srv.Close)
	start = time.Now()
	err = probeOnce(t, Target{Addr: netip.MustParseAddrPort(srv.Listener.Addr().String()), Check: config.Check{
		Type: config.HTTPCheck, ConnectTimeout: timeout, Digest: "5d41402abc4b2a76b9719d911017c592",
	}})
	took = time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no complete answer within 200ms") {
		t.Errorf("probe of stalling body = %v", err)
	}
	if took < timeout || took > timeout+slack {
		t.Errorf("probe took %v, want about %v", took, timeout)
	}
}

func TestTCPConnectCheckOverrides(t *testing.T) {
	srv := newTCPServer(t)
	// The real server's own port is closed; connect_port points at the listener.
	closed := newTCPServer(t)
	closed.stop()
	tg := Target{Addr: closed.addr, Check: config.Check{
		Type: config.TCPCheck, ConnectTimeout: time.Second,
		ConnectIP: srv.addr.Addr(), ConnectPort: srv.addr.Port(),
	}}
	if err := probeOnce(t, tg); err != nil {
		t.Errorf("connect_port override: %v", err)
	}
	tg.Check.ConnectPort = 0
	if err := probeOnce(t, tg); err == nil {
		t.Error("check of closed port succeeded")
	}
}

func TestMiscExitStatus(t *testing.T) {
	misc := func(script string) error {
		return probeOnce(t, Target{Check: config.Check{Type: config.MiscCheck, Script: script, Timeout: 5 * time.Second}})
	}
	if err := misc("exit 0"); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	err := misc("echo broken >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("exit 3: %v", err)
	}
	// Output beyond the kept prefix is drained, so a chatty script neither
	// blocks on its pipe nor bloats the reason.
	err = misc("head -c 1000000 /dev/zero | tr '\\0' x; exit 1")
	if err == nil || len(err.Error()) > maxScriptOutput+100 {
		t.Errorf("chatty script: %.200v", err)
	}
}

// A hanging script is killed with its whole process group at Timeout.
func TestMiscTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	const timeout = 300 * time.Millisecond
	start := time.Now()
	err := probeOnce(t, Target{Check: config.Check{
		Type: config.MiscCheck, Timeout: timeout,
		Script: fmt.Sprintf("echo $$ > %s; sleep 100", pidFile),
	}})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "killed after timeout 300ms") {
		t.Errorf("hanging script: %v", err)
	}
	if took < timeout || took > timeout+slack {
		t.Errorf("hanging script took %v, want about %v", took, timeout)
	}
	pgid := readPID(t, pidFile)
	eventually(t, 2*time.Second, "sleep of the timed-out script is gone", func() bool { return !groupAlive(t, pgid) })
}

// Children a script leaves behind are killed when it exits.
func TestMiscKillsLeftoverChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	err := probeOnce(t, Target{Check: config.Check{
		Type: config.MiscCheck, Timeout: 5 * time.Second,
		// The background sleep must not hold the output pipe, or the check
		// would wait scriptPipeGrace for it.
		Script: fmt.Sprintf("sleep 100 >/dev/null 2>&1 & echo $$ > %s; exit 0", pidFile),
	}})
	if err != nil {
		t.Errorf("script: %v", err)
	}
	pgid := readPID(t, pidFile)
	eventually(t, 2*time.Second, "leftover sleep is gone", func() bool { return !groupAlive(t, pgid) })
}

// MISC_CHECK through the Manager: up on exit 0, down on exit 1.
func TestMiscUpDown(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "healthy")
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	m := newTestManager(t, rec)
	tg := Target{Key: "misc/a", DelayLoop: 50 * time.Millisecond, Check: config.Check{
		Type: config.MiscCheck, Script: "test -e " + flag, Timeout: time.Second, Rise: 1, Fall: 1,
	}}
	m.Update([]Target{tg})
	rec.wait(t, tg.Key, true, 2*time.Second)
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	ev := rec.wait(t, tg.Key, false, 2*time.Second)
	if !strings.Contains(ev.Reason, "exit status 1") {
		t.Errorf("reason %q", ev.Reason)
	}
}

// Rise and Fall count whole checks: up after exactly Rise successful
// requests (starting down), down after exactly Fall checks of Retry+1
// failed requests each.
func TestRiseFallAlpha(t *testing.T) {
	srv := newHTTPServer(t)
	rec := newRecorder()
	var hitsAtEvent atomic.Int64
	rec.hook = func(Event) { hitsAtEvent.Store(int64(srv.hitCount())) }
	m := newTestManager(t, rec)
	tg := Target{Key: "http/rf", Addr: srv.addr, DelayLoop: 40 * time.Millisecond, Check: config.Check{
		Type: config.HTTPCheck, Path: "/", ConnectTimeout: time.Second,
		Retry: 1, DelayBeforeRetry: 5 * time.Millisecond, Rise: 3, Fall: 2,
	}}
	m.Update([]Target{tg})
	// Alpha: a new target is down until Rise checks passed, healthy or not.
	if st, ok := m.Status(tg.Key); !ok || st.Up {
		t.Fatalf("new target status %+v, %v; want down", st, ok)
	}
	rec.wait(t, tg.Key, true, 2*time.Second)
	if got := hitsAtEvent.Load(); got != 3 {
		t.Errorf("up after %d successful checks, want rise=3", got)
	}

	srv.set(500, "", false)
	ev := rec.wait(t, tg.Key, false, 2*time.Second)
	if got := hitsAtEvent.Load(); got != 4 {
		t.Errorf("down after %d failed requests, want fall×(retry+1) = 4", got)
	}
	if !strings.Contains(ev.Reason, "2 consecutive checks failed") {
		t.Errorf("reason %q", ev.Reason)
	}

	srv.set(200, "ok", false)
	rec.wait(t, tg.Key, true, 2*time.Second)
	if got := hitsAtEvent.Load(); got != 3 {
		t.Errorf("up again after %d successful checks, want rise=3", got)
	}

	// One failed check (both attempts) is not enough to fall.
	srv.set(500, "", false)
	eventually(t, 2*time.Second, "two failed requests", func() bool { return srv.hitCount() >= 2 })
	srv.set(200, "ok", false)
	rec.none(t, tg.Key, 5*tg.DelayLoop)
	st, _ := m.Status(tg.Key)
	if !st.Up || st.Failures == 0 || st.Checks < st.Failures {
		t.Errorf("status %+v", st)
	}
}

func TestNoCheckAlwaysUp(t *testing.T) {
	rec := newRecorder()
	m := newTestManager(t, rec)
	tg := Target{Key: "none", Addr: netip.MustParseAddrPort("127.0.0.1:1")}
	m.Update([]Target{tg})
	ev := rec.wait(t, tg.Key, true, time.Second)
	if ev.Reason != "no health check configured" {
		t.Errorf("reason %q", ev.Reason)
	}
	m.Update([]Target{tg})
	rec.none(t, tg.Key, 100*time.Millisecond)
	if st, ok := m.Status(tg.Key); !ok || !st.Up || st.Checks != 0 {
		t.Errorf("status %+v, %v", st, ok)
	}
}

// Update leaves unchanged targets running with their state, stops removed
// ones, and restarts changed ones without losing their up state.
func TestUpdateKeepsStopsRestarts(t *testing.T) {
	a, b := newTCPServer(t), newTCPServer(t)
	rec := newRecorder()
	m := newTestManager(t, rec)
	ta, tb := tcpTarget("a", a.addr), tcpTarget("b", b.addr)

	m.Update([]Target{ta})
	rec.wait(t, ta.Key, true, time.Second)
	eventually(t, time.Second, "a checked a few times", func() bool {
		st, _ := m.Status(ta.Key)
		return st.Checks >= 3
	})
	before, _ := m.Status(ta.Key)

	ta.Check.Line = 42 // moved in the file: not a change
	m.Update([]Target{ta, tb})
	rec.wait(t, tb.Key, true, time.Second)
	after, ok := m.Status(ta.Key)
	if !ok || !after.Up || after.Checks < before.Checks {
		t.Errorf("unchanged target lost its state: before %+v, after %+v", before, after)
	}
	if st, _ := m.Status(tb.Key); !st.Up {
		t.Errorf("b status %+v", st)
	}

	// Remove a: its checker stops connecting.
	m.Update([]Target{tb})
	if _, ok := m.Status(ta.Key); ok {
		t.Error("removed target still has a status")
	}
	if _, ok := m.Snapshot()[ta.Key]; ok || len(m.Snapshot()) != 1 {
		t.Errorf("snapshot %v", m.Snapshot())
	}
	time.Sleep(tb.DelayLoop) // let a check that was in flight finish
	n := a.accepts.Load()
	time.Sleep(5 * tb.DelayLoop)
	if got := a.accepts.Load(); got != n {
		t.Errorf("removed target checked %d more times", got-n)
	}

	// Change b's check: restarted (counters reset) but still up, no event.
	eventually(t, time.Second, "b checked a few times", func() bool {
		st, _ := m.Status(tb.Key)
		return st.Checks >= 3
	})
	tb.DelayLoop = 30 * time.Millisecond
	m.Update([]Target{tb})
	st, _ := m.Status(tb.Key)
	if !st.Up || st.Checks >= 3 {
		t.Errorf("changed target status %+v, want up with fresh counters", st)
	}
	rec.none(t, tb.Key, 5*tb.DelayLoop)

	// A changed target that now fails goes down through Fall as usual.
	tb.Check.ConnectPort = a.addr.Port()
	a.stop()
	m.Update([]Target{tb})
	rec.wait(t, tb.Key, false, tb.DetectionBound()+slack)
}

// A target whose checks hang does not delay the detection of another.
func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	slow := newHTTPServer(t)
	slow.set(0, "", true)
	fast := newTCPServer(t)
	rec := newRecorder()
	m := newTestManager(t, rec)
	ts := Target{Key: "slow", Addr: slow.addr, DelayLoop: 50 * time.Millisecond, Check: config.Check{
		Type: config.HTTPCheck, ConnectTimeout: 2 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Rise: 1, Fall: 1,
	}}
	tf := tcpTarget("fast", fast.addr)
	m.Update([]Target{ts, tf})
	rec.wait(t, tf.Key, true, time.Second)
	fast.stop()
	dead := time.Now()
	ev := rec.wait(t, tf.Key, false, tf.DetectionBound()+slack)
	if took := ev.at.Sub(dead); took > tf.DetectionBound()+slack {
		t.Errorf("fast target down after %v, bound %v", took, tf.DetectionBound())
	}
	if st, _ := m.Status(ts.Key); st.Checks != 0 || st.Up {
		t.Errorf("slow target finished a check already? %+v", st)
	}
}

// A slow onChange never blocks Update, Status or checking; events that pile
// up meanwhile collapse to the newest per key.
func TestSlowOnChangeDoesNotBlock(t *testing.T) {
	srv := newTCPServer(t)
	release := make(chan struct{})
	got := make(chan Event, 100)
	m := NewManager(testLogger(t), func(ev Event) {
		got <- ev
		<-release
	})
	t.Cleanup(m.Close)
	t.Cleanup(func() { close(release) }) // runs before m.Close
	tg := tcpTarget("a", srv.addr)
	m.Update([]Target{tg})
	first := <-got // up; onChange now blocks
	if !first.Up {
		t.Fatalf("first event %+v", first)
	}

	srv.stop()
	eventually(t, tg.DetectionBound()+slack, "down while onChange blocks", func() bool {
		st, _ := m.Status(tg.Key)
		return !st.Up
	})
	srv.start()
	eventually(t, time.Second, "up again while onChange blocks", func() bool {
		st, _ := m.Status(tg.Key)
		return st.Up
	})
	done := make(chan struct{})
	go func() {
		m.Update([]Target{tg, tcpTarget("b", srv.addr)})
		m.Snapshot()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Update blocked behind onChange")
	}
	release <- struct{}{} // finish the first call
	// Down and up of "a" collapsed into the newest: up.
	timeout := time.After(time.Second)
	for seen := 0; seen < 2; {
		select {
		case ev := <-got:
			if !ev.Up {
				t.Errorf("stale event delivered: %+v", ev)
			}
			seen++
			release <- struct{}{}
		case <-timeout:
			t.Fatalf("only %d of 2 events (a up, b up) delivered", seen)
		}
	}
}

// Close stops everything promptly, including hanging HTTP checks and
// scripts, and kills the scripts' processes.
func TestCloseStopsEverything(t *testing.T) {
	slow := newHTTPServer(t)
	slow.set(0, "", true)
	pidFile := filepath.Join(t.TempDir(), "pid")
	rec := newRecorder()
	m := NewManager(testLogger(t), rec.onChange)
	t.Cleanup(m.Close)
	m.Update([]Target{
		{Key: "http", Addr: slow.addr, DelayLoop: time.Second, Check: config.Check{Type: config.HTTPCheck, ConnectTimeout: time.Hour}},
		{Key: "misc", DelayLoop: time.Second, Check: config.Check{Type: config.MiscCheck, Timeout: time.Hour,
			Script: fmt.Sprintf("echo $$ > %s; sleep 100", pidFile)}},
	})
	pgid := readPID(t, pidFile)
	start := time.Now()
	m.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	eventually(t, 2*time.Second, "script killed by Close", func() bool { return !groupAlive(t, pgid) })
	if len(m.Snapshot()) != 0 {
		t.Errorf("snapshot after Close: %v", m.Snapshot())
	}
	m.Update([]Target{{Key: "late"}}) // no-op, must not panic or start anything
	m.Close()                         // idempotent
}

func TestInvalidCheckStaysDown(t *testing.T) {
	rec := newRecorder()
	m := newTestManager(t, rec)
	tg := Target{Key: "bad", Addr: netip.MustParseAddrPort("127.0.0.1:1"), DelayLoop: 20 * time.Millisecond,
		Check: config.Check{Type: "bfd"}}
	m.Update([]Target{tg})
	eventually(t, time.Second, "bad check ran", func() bool {
		st, _ := m.Status(tg.Key)
		return st.Checks >= 2
	})
	st, _ := m.Status(tg.Key)
	if st.Up || !strings.Contains(st.LastErr, `unknown check type "bfd"`) {
		t.Errorf("status %+v", st)
	}
}

// SSL_GET: the check speaks TLS to a server whose certificate names
// nothing it was asked for (httptest's self-signed one), judges the answer
// as HTTP_GET does, and sends the virtual host as Host and, only with
// enable_sni, as the TLS server name.
func TestHTTPSCheck(t *testing.T) {
	var mu sync.Mutex
	var gotHost, gotSNI string
	status := http.StatusOK
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotSNI = r.Host, r.TLS.ServerName
		st := status
		mu.Unlock()
		w.WriteHeader(st)
		io.WriteString(w, "hello")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	check := func(ck config.Check) error {
		ck.Type, ck.Path, ck.ConnectTimeout = config.HTTPSCheck, "/health", time.Second
		return probeOnce(t, Target{Addr: addr, Check: ck})
	}
	seen := func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return gotHost, gotSNI
	}

	if err := check(config.Check{}); err != nil {
		t.Fatalf("https check of a self-signed server: %v", err)
	}
	if host, sni := seen(); host != addr.String() || sni != "" {
		t.Errorf("plain check sent Host %q, SNI %q; want %q and none", host, sni, addr)
	}
	if err := check(config.Check{VirtualHost: "www.example.test"}); err != nil {
		t.Fatal(err)
	}
	if host, sni := seen(); host != "www.example.test" || sni != "" {
		t.Errorf("virtualhost: Host %q, SNI %q; want www.example.test and no SNI (enable_sni is off)", host, sni)
	}
	if err := check(config.Check{VirtualHost: "www.example.test", EnableSNI: true}); err != nil {
		t.Fatal(err)
	}
	if host, sni := seen(); host != "www.example.test" || sni != "www.example.test" {
		t.Errorf("enable_sni: Host %q, SNI %q; want www.example.test for both", host, sni)
	}
	const helloMD5 = "5d41402abc4b2a76b9719d911017c592"
	if err := check(config.Check{Digest: helloMD5}); err != nil {
		t.Errorf("matching digest over TLS: %v", err)
	}
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	if err := check(config.Check{}); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("503 over TLS: %v, want a failure naming the status", err)
	}

	// The check really speaks TLS: a plain HTTP server fails it, and the
	// http check of the same server passes, sending its virtualhost too.
	var plainHost, plainUA atomic.Value
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHost.Store(r.Host)
		plainUA.Store(r.UserAgent())
	}))
	t.Cleanup(plain.Close)
	plainAddr := netip.MustParseAddrPort(plain.Listener.Addr().String())
	if err := probeOnce(t, Target{Addr: plainAddr, Check: config.Check{Type: config.HTTPSCheck, Path: "/", ConnectTimeout: time.Second}}); err == nil {
		t.Error("https check passed against a plain HTTP server")
	}
	if err := probeOnce(t, Target{Addr: plainAddr, Check: config.Check{Type: config.HTTPCheck, Path: "/", VirtualHost: "v.example.test", ConnectTimeout: time.Second}}); err != nil {
		t.Errorf("http check with a virtualhost: %v", err)
	}
	if h, _ := plainHost.Load().(string); h != "v.example.test" {
		t.Errorf("http check sent Host %q, want v.example.test", h)
	}
	// keepalived's User-Agent, which access rules and log filters match.
	if ua, _ := plainUA.Load().(string); ua != "KeepAliveClient" {
		t.Errorf("http check sent User-Agent %q, want keepalived's KeepAliveClient", ua)
	}
}

// bindto / bind_port set the source of a check's connections, for TCP and
// HTTP checks alike: the server sees the connection come from there.
func TestChecksBindTo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	from := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			from <- c.RemoteAddr().String()
			c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
			c.Close()
		}
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	src := netip.MustParseAddr("127.0.0.2") // all of 127/8 is local on Linux
	for _, ck := range []config.Check{
		{Type: config.TCPCheck, ConnectTimeout: time.Second, BindTo: src},
		{Type: config.HTTPCheck, Path: "/", ConnectTimeout: time.Second, BindTo: src},
	} {
		if err := probeOnce(t, Target{Addr: addr, Check: ck}); err != nil {
			t.Fatalf("%s check bound to %v: %v", ck.Type, src, err)
		}
		got := netip.MustParseAddrPort(<-from)
		if got.Addr() != src {
			t.Errorf("%s check came from %v, want %v", ck.Type, got, src)
		}
	}
	// bind_port too (once: the port then waits out TIME_WAIT).
	port := uint16(40000 + os.Getpid()%20000)
	if err := probeOnce(t, Target{Addr: addr, Check: config.Check{Type: config.TCPCheck, ConnectTimeout: time.Second, BindTo: src, BindPort: port}}); err != nil {
		t.Fatal(err)
	}
	if got := netip.MustParseAddrPort(<-from); got != netip.AddrPortFrom(src, port) {
		t.Errorf("check came from %v, want %v", got, netip.AddrPortFrom(src, port))
	}
}

// A check's own delay_loop wins over the service's.
func TestCheckDelayLoop(t *testing.T) {
	tg := Target{DelayLoop: time.Minute, Check: config.Check{Type: config.TCPCheck, DelayLoop: 2 * time.Second}}
	if got := paramsOf(tg).delayLoop; got != 2*time.Second {
		t.Errorf("delay loop %v, want the check's 2s", got)
	}
	tg.Check.DelayLoop = 0
	if got := paramsOf(tg).delayLoop; got != time.Minute {
		t.Errorf("delay loop %v, want the service's 1m", got)
	}
}

// An HTTP check of several urls (keepalived's several url blocks) passes
// only when every url does, each judged by its own status_code, digest and
// virtualhost.
func TestHTTPSeveralURLs(t *testing.T) {
	var mu sync.Mutex
	status := map[string]int{"/a": 200, "/b": 200}
	hosts := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code, ok := status[r.URL.Path]
		hosts[r.URL.Path] = r.Host
		mu.Unlock()
		if !ok {
			code = 404
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	ck := config.Check{Type: config.HTTPCheck, Path: "/a", ConnectTimeout: time.Second,
		MoreURLs: []config.CheckURL{{Path: "/b", StatusCodes: "200-299 503", VirtualHost: "b.example"}}}
	if err := probeOnce(t, Target{Addr: addr, Check: ck}); err != nil {
		t.Fatalf("both urls answer 200: %v", err)
	}
	mu.Lock()
	if hosts["/b"] != "b.example" || hosts["/a"] != addr.String() {
		t.Errorf("Host headers %v, want /b's virtualhost and /a's address", hosts)
	}
	status["/b"] = 503 // accepted by /b's own status_code
	mu.Unlock()
	if err := probeOnce(t, Target{Addr: addr, Check: ck}); err != nil {
		t.Fatalf("/b answering 503 (accepted): %v", err)
	}
	mu.Lock()
	status["/b"] = 500
	mu.Unlock()
	err := probeOnce(t, Target{Addr: addr, Check: ck})
	if err == nil || !strings.Contains(err.Error(), "/b") || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("/b answering 500: %v, want a failure naming /b", err)
	}
	// Each url has the connect timeout: the attempt bound counts them.
	if got := paramsOf(Target{Check: ck}).attemptTimeout; got != 2*time.Second {
		t.Errorf("attempt timeout %v, want 2 × 1s", got)
	}
}

// misc_dynamic: the script's exit status is the weight plus 2 (the server
// up), 1 takes it down, 0 leaves the weight as it was; a new weight is an
// event of its own, without a change of state.
func TestMiscDynamicWeight(t *testing.T) {
	code := filepath.Join(t.TempDir(), "code")
	set := func(c string) {
		if err := os.WriteFile(code, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set("7")
	rec := newRecorder()
	m := newTestManager(t, rec)
	tg := Target{Key: "misc/dyn", DelayLoop: 50 * time.Millisecond, Check: config.Check{
		Type: config.MiscCheck, Script: "exit $(cat " + code + ")", Timeout: time.Second, Rise: 1, Fall: 1, Dynamic: true,
	}}
	m.Update([]Target{tg})
	if ev := rec.wait(t, tg.Key, true, 2*time.Second); !ev.WeightSet || ev.Weight != 5 {
		t.Fatalf("first event %+v, want up with weight 5", ev.Event)
	}
	set("12")
	if ev := rec.wait(t, tg.Key, true, 2*time.Second); !ev.WeightSet || ev.Weight != 10 {
		t.Fatalf("event %+v, want weight 10 (still up)", ev.Event)
	}
	set("1")
	rec.wait(t, tg.Key, false, 2*time.Second)
	set("0")
	if ev := rec.wait(t, tg.Key, true, 2*time.Second); !ev.WeightSet || ev.Weight != 10 {
		t.Fatalf("event %+v, want up keeping weight 10", ev.Event)
	}
	// Without dynamic, an exit status of 2 is a failure.
	tg.Check.Dynamic = false
	set("2")
	m.Update([]Target{tg})
	rec.wait(t, tg.Key, false, 2*time.Second)
}

// A MISC_CHECK's script runs as the check's user (its uid and gid), and
// with enable_script_security a script it may not run fails the check.
func TestMiscRunsAsUser(t *testing.T) {
	nobody := runastest.Nobody(t)
	dir := runastest.WritableDir(t)
	out := filepath.Join(dir, "id")
	tg := Target{RunAs: nobody, Check: config.Check{Type: config.MiscCheck, Script: runastest.IDScript(out), Timeout: 5 * time.Second}}
	if err := probeOnce(t, tg); err != nil {
		t.Fatal(err)
	}
	if uid, gid, ok := runastest.ReadIDs(out); !ok || uid != 65534 || gid != 65534 {
		t.Errorf("script ran as %d:%d (read %v), want nobody:nogroup 65534:65534", uid, gid, ok)
	}

	// dir is world-writable: a script in it may not run as root.
	script := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	secureRoot := runas.Root()
	secureRoot.Secure = true
	tg = Target{RunAs: secureRoot, Check: config.Check{Type: config.MiscCheck, Script: script, Timeout: 5 * time.Second}}
	if err := probeOnce(t, tg); err == nil || !strings.Contains(err.Error(), "enable_script_security") {
		t.Errorf("insecure script as root: %v, want refused", err)
	}
	// As nobody it is nobody's risk: it runs, as in keepalived.
	secureNobody := nobody
	secureNobody.Secure = true
	tg.RunAs = secureNobody
	if err := probeOnce(t, tg); err != nil {
		t.Errorf("script as nobody refused: %v", err)
	}
}
