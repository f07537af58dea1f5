package vip

import (
	"sync"
	"time"
)

// Pacer spaces the gratuitous ARPs and unsolicited NAs of the Owners that
// share it: keepalived's garp_interval and gna_interval hold per interface
// (every instance on it, and its VMACs, wait for each other), and a
// garp_group makes several interfaces share one. Each packet waits the
// sender's own interval after the last packet of its family that any of
// them sent. A packet claims its time when it goes, not when its burst is
// planned, so a burst dropped half-way (its instance left MASTER) holds
// nobody up.
type Pacer struct {
	mu           sync.Mutex
	last4, last6 time.Time // when the latest packet of each family went
}

// NewPacer returns a Pacer no packet has gone through yet.
func NewPacer() *Pacer { return &Pacer{} }

// claim reports how much longer a packet of the family (v6: an NA) must
// wait to go gap after the family's last one; 0 means it may go now, and
// now is recorded as the family's last packet.
func (p *Pacer) claim(v6 bool, now time.Time, gap time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := &p.last4
	if v6 {
		last = &p.last6
	}
	if gap > 0 && !last.IsZero() {
		if due := last.Add(gap); due.After(now) {
			return due.Sub(now)
		}
	}
	if now.After(*last) {
		*last = now
	}
	return 0
}
