package health

import (
	"context"
	"fmt"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/trackfile"
)

// params are a target's timings and thresholds with nonsensical values
// replaced. The config parser fills keepalived's defaults; these guards only
// keep a hand-built or zero Target from spinning (DelayLoop 0) or failing
// every check instantly (ConnectTimeout 0). Retry 0 and DelayBeforeRetry 0
// are meaningful (no retry, retry at once) and kept.
type params struct {
	delayLoop        time.Duration
	attemptTimeout   time.Duration // bound of one attempt
	urlTimeout       time.Duration // HTTP: bound of one url of the attempt
	delayBeforeRetry time.Duration
	retry            int
	rise, fall       int
}

func paramsOf(t Target) params {
	ck := t.Check
	p := params{
		delayLoop:        t.DelayLoop, // the service's, unless the check has its own
		attemptTimeout:   ck.ConnectTimeout,
		delayBeforeRetry: max(ck.DelayBeforeRetry, 0),
		retry:            max(ck.Retry, 0),
		rise:             max(ck.Rise, 1),
		fall:             max(ck.Fall, 1),
	}
	if ck.DelayLoop > 0 {
		p.delayLoop = ck.DelayLoop
	}
	if p.delayLoop <= 0 {
		p.delayLoop = config.DefaultDelayLoop
	}
	if ck.Type == config.MiscCheck {
		// keepalived's misc_timeout defaults to delay_loop.
		p.attemptTimeout = ck.Timeout
		if p.attemptTimeout <= 0 {
			p.attemptTimeout = p.delayLoop
		}
	} else if p.attemptTimeout <= 0 {
		p.attemptTimeout = config.DefaultConnectTimeout
	}
	if ck.Type.IsHTTP() {
		// Each url of the attempt has the connect timeout.
		p.urlTimeout = p.attemptTimeout
		p.attemptTimeout *= time.Duration(1 + len(ck.MoreURLs))
	}
	return p
}

// DetectionBound is the longest time from a server failing to it being
// reported down (see the package comment for the derivation):
//
//	Fall × (DelayLoop + (Retry+1)×AttemptTimeout + Retry×DelayBeforeRetry)
//
// with AttemptTimeout = ConnectTimeout (times the number of urls of an
// HTTP or HTTPS check), or Timeout for MISC_CHECK, after the
// defaults of paramsOf. It is 0 for a target without a check, which is never
// reported down.
func (t Target) DetectionBound() time.Duration {
	if t.Check.Type == "" || t.Check.Type == config.FileCheck {
		// A file check is not polled: a value is applied as it is written.
		return 0
	}
	p := paramsOf(t)
	one := p.delayLoop + time.Duration(p.retry+1)*p.attemptTimeout + time.Duration(p.retry)*p.delayBeforeRetry
	return time.Duration(p.fall) * one
}

// prober runs one attempt of a check; ctx carries the attempt's deadline.
type prober interface {
	probe(ctx context.Context) error
}

// brokenProber fails every attempt with the reason the check could not be
// built, so a bad check keeps its server out of service and says why.
type brokenProber struct{ err error }

func (b brokenProber) probe(context.Context) error { return b.err }

// checker is the goroutine checking one target.
type checker struct {
	m      *Manager
	target Target
	p      params
	prober prober
	ctx    context.Context
	cancel context.CancelFunc

	// A FILE_CHECK's subscription to its file's watch (nil for other
	// checks), or why the file cannot be watched (the server stays down).
	file      *fileSub
	fileWatch *trackfile.Watch
	fileErr   error

	// Guarded by m.mu.
	stopped    bool
	st         Status
	succ, fail int // consecutive successful / failed checks
}

func newChecker(m *Manager, t Target, up bool) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{m: m, target: t, p: paramsOf(t), ctx: ctx, cancel: cancel}
	c.st.Up = up
	if t.Check.Type == config.FileCheck {
		// m.mu is held (Update): the shared watches are consistent.
		w, err := m.files.acquire(t.File, m)
		if err != nil {
			m.log.Error("health: file check cannot follow its file, server stays down", "key", t.Key, "err", err)
			c.fileErr = err
			return c
		}
		c.file, c.fileWatch = newFileSub(), w
		w.Subscribe(c.file) // pokes at once with the current value
		return c
	}
	if t.Check.Type != "" {
		pr, err := newProber(t, c.p)
		if err != nil {
			m.log.Error("health: invalid check, server stays down", "key", t.Key, "err", err)
			pr = brokenProber{err}
		}
		c.prober = pr
	}
	return c
}

// run checks until the checker is stopped.
func (c *checker) run() {
	defer c.m.wg.Done()
	defer c.cancel()
	if c.target.Check.Type == "" {
		c.m.markAlwaysUp(c)
		<-c.ctx.Done()
		return
	}
	if c.target.Suspended {
		<-c.ctx.Done()
		return
	}
	if c.target.Check.Type == config.FileCheck {
		c.runFile()
		return
	}
	timer := time.NewTimer(0) // first check at once
	defer timer.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-timer.C:
		}
		lat, err := c.check()
		if c.ctx.Err() != nil {
			return // cut short by Update or Close: says nothing about the server
		}
		w, wset := 0, false
		if dw, ok := c.prober.(interface{ dynamicWeight() (int, bool) }); ok && err == nil {
			w, wset = dw.dynamicWeight()
		}
		c.m.record(c, lat, err, w, wset)
		// keepalived re-arms delay_loop when a check completes, so a slow
		// check never runs back to back with the next one.
		timer.Reset(c.p.delayLoop)
	}
}

// check runs one check: an attempt and up to retry more, each after
// delayBeforeRetry. It returns the duration of the last attempt and nil if
// an attempt succeeded, else the last attempt's error.
func (c *checker) check() (time.Duration, error) {
	var lat time.Duration
	var err error
	attempts := 0
	for attempts <= c.p.retry {
		if attempts > 0 && !sleep(c.ctx, c.p.delayBeforeRetry) {
			break
		}
		attempts++
		ctx, cancel := context.WithTimeout(c.ctx, c.p.attemptTimeout)
		start := time.Now()
		err = c.prober.probe(ctx)
		lat = time.Since(start)
		cancel()
		if err == nil {
			return lat, nil
		}
	}
	if attempts > 1 {
		err = fmt.Errorf("%d attempts failed, last: %w", attempts, err)
	}
	return lat, err
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// markAlwaysUp brings a target without a check up.
func (m *Manager) markAlwaysUp(c *checker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.stopped || c.st.Up {
		return
	}
	c.st.Up = true
	m.enqueueLocked(Event{Key: c.target.Key, Up: true, Reason: "no health check configured"})
}

// record applies the result of one check to c's state and queues an event
// when the state flips. Holding m.mu makes the flip and the queued event one
// step for Update, which may hand c's state to a successor.
func (m *Manager) record(c *checker, lat time.Duration, err error, weight int, weightSet bool) {
	m.mu.Lock()
	if c.stopped {
		m.mu.Unlock()
		return
	}
	st := &c.st
	st.Checks++
	st.LastCheck = time.Now()
	st.LastLatency = lat
	var ev *Event
	wasUp := st.Up
	if err != nil {
		st.Failures++
		st.LastErr = err.Error()
		c.succ = 0
		c.fail++
		if st.Up && c.fail >= c.p.fall {
			st.Up = false
			reason := st.LastErr
			if c.p.fall > 1 {
				reason = fmt.Sprintf("%d consecutive checks failed, last: %s", c.fail, st.LastErr)
			}
			ev = &Event{Key: c.target.Key, Up: false, Reason: reason, Latency: lat}
		}
	} else {
		st.LastErr = ""
		c.fail = 0
		c.succ++
		if !st.Up && c.succ >= c.p.rise {
			st.Up = true
			ev = &Event{Key: c.target.Key, Up: true, Reason: fmt.Sprintf("%d consecutive checks succeeded", c.succ), Latency: lat}
		}
	}
	if weightSet && (!st.WeightSet || st.Weight != weight) {
		st.Weight, st.WeightSet = weight, true
		if ev == nil {
			ev = &Event{Key: c.target.Key, Up: st.Up, Reason: fmt.Sprintf("misc_dynamic set weight %d", weight), Latency: lat}
		}
	}
	if ev != nil {
		ev.Weight, ev.WeightSet = st.Weight, st.WeightSet
		m.enqueueLocked(*ev)
	}
	fail, succ := c.fail, c.succ
	m.mu.Unlock()

	// Log outside the lock: a slow log handler must not stall Update.
	key := c.target.Key
	flipped := ev != nil && ev.Up != wasUp
	switch {
	case flipped && ev.Up:
		m.log.Info("health: server up", "key", key, "reason", ev.Reason, "latency", lat)
	case flipped:
		m.log.Warn("health: server down", "key", key, "reason", ev.Reason)
	case ev != nil:
		m.log.Info("health: dynamic weight", "key", key, "weight", ev.Weight)
	case err != nil && wasUp:
		m.log.Warn("health: check failed", "key", key, "failed", fail, "fall", c.p.fall, "err", err)
	case err != nil:
		m.log.Debug("health: check failed", "key", key, "err", err)
	default:
		m.log.Debug("health: check ok", "key", key, "succeeded", succ, "latency", lat)
	}
}
