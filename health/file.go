package health

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/trackfile"
)

// FileResult is keepalived's FILE_CHECK rule for a real server: what a
// track file's value v does with the check's weight and reverse. With
// weight 0 a non-zero value takes the server down (with reverse, zero
// does). Otherwise v × weight, negated with reverse, is added to the
// server's weight (delta, kept within 32 bits as keepalived's int); a
// product of math.MinInt32 or less takes the server down instead (up is
// false, delta 0). A server's weight below 0 after the deltas is 0: it
// stays up, drained (see WithFileWeights).
func FileResult(v int64, weight int, reverse bool) (delta int, up bool) {
	if weight == 0 {
		return 0, (v != 0) == reverse
	}
	// |v| ≤ 2^31 and |weight| < 2^31: the product fits 64 bits.
	p := v * int64(weight)
	if reverse {
		p = -p
	}
	switch {
	case p <= math.MinInt32:
		return 0, false
	case p > math.MaxInt32:
		p = math.MaxInt32
	}
	return int(p), true
}

// fileWatches shares one inotify watch among the FILE_CHECKs of the same
// track file (same name and path), so many real servers following one
// file cost one inotify instance, not one each (the kernel allows 128 per
// user by default). Guarded by Manager.mu.
type fileWatches map[config.VRRPTrackFile]*fileWatch

type fileWatch struct {
	w    *trackfile.Watch
	refs int
}

// acquire returns the watch of f, starting it if no check follows f yet.
func (fw fileWatches) acquire(f config.VRRPTrackFile, m *Manager) (*trackfile.Watch, error) {
	f.Line = 0
	if x := fw[f]; x != nil {
		x.refs++
		return x.w, nil
	}
	w, err := trackfile.New(f.Name, f.File, m.log)
	if err != nil {
		return nil, fmt.Errorf("health: file check: %w", err)
	}
	fw[f] = &fileWatch{w: w, refs: 1}
	return w, nil
}

// release drops one check's use of f's watch, closing it after the last.
func (fw fileWatches) release(f config.VRRPTrackFile, m *Manager) {
	f.Line = 0
	x := fw[f]
	if x == nil {
		return
	}
	if x.refs--; x.refs > 0 {
		return
	}
	delete(fw, f)
	// Close waits for the watch's goroutine, which never waits for m.mu
	// (fileSub only stores the value), so holding m.mu here is safe.
	if err := x.w.Close(); err != nil {
		m.log.Warn("health: close track file watch", "track_file", f.Name, "err", err)
	}
}

// fileSub is a FILE_CHECK's subscription: it keeps the newest value and
// wakes the checker, without blocking the watch.
type fileSub struct {
	mu   sync.Mutex
	v    int64
	poke chan struct{} // capacity 1
}

func newFileSub() *fileSub { return &fileSub{poke: make(chan struct{}, 1)} }

func (s *fileSub) SetFileValue(_ string, v int64) {
	s.mu.Lock()
	s.v = v
	s.mu.Unlock()
	select {
	case s.poke <- struct{}{}:
	default: // a wake-up is pending; it reads the newest value
	}
}

func (s *fileSub) value() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v
}

// runFile follows the track file of a FILE_CHECK until the checker stops:
// each value the watch reports is applied at once (keepalived knows a
// file check's state immediately: no rise, fall or retry).
func (c *checker) runFile() {
	if c.fileErr != nil {
		c.m.recordFile(c, 0, c.fileErr)
		<-c.ctx.Done()
		return
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.file.poke:
		}
		c.m.recordFile(c, c.file.value(), nil)
	}
}

// recordFile applies a file check's value (or the error that keeps it
// from watching its file) to c's state, queuing an event when the server
// goes up or down or its weight delta changes.
func (m *Manager) recordFile(c *checker, v int64, werr error) {
	weight, reverse := c.target.Check.FileEffective(c.target.File)
	delta, up := 0, false
	if werr == nil {
		delta, up = FileResult(v, weight, reverse)
	}
	m.mu.Lock()
	if c.stopped {
		m.mu.Unlock()
		return
	}
	st := &c.st
	first := st.Checks == 0
	st.Checks++
	st.LastCheck = time.Now()
	reason := fmt.Sprintf("track file %s value %d × weight %d", c.target.File.Name, v, weight)
	if reverse {
		reason += " reverse"
	}
	switch {
	case werr != nil:
		reason = werr.Error()
		st.Failures++
		st.LastErr = reason
	case !up:
		reason += ": down"
		st.Failures++
		st.LastErr = reason
	default:
		reason += fmt.Sprintf(": weight %+d", delta)
		st.LastErr = ""
	}
	wasUp, oldDelta := st.Up, st.FileWeight
	st.Up, st.FileWeight = up, delta
	var ev *Event
	if wasUp != up || oldDelta != delta || first && up {
		ev = &Event{Key: c.target.Key, Up: up, Reason: reason, FileWeight: delta}
		m.enqueueLocked(*ev)
	}
	m.mu.Unlock()
	switch {
	case ev != nil && ev.Up != wasUp && up:
		m.log.Info("health: server up", "key", c.target.Key, "reason", reason)
	case ev != nil && ev.Up != wasUp:
		m.log.Warn("health: server down", "key", c.target.Key, "reason", reason)
	case ev != nil:
		m.log.Info("health: file check weight", "key", c.target.Key, "reason", reason)
	}
}
