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
// them sent or has scheduled.
type Pacer struct {
	mu           sync.Mutex
	last4, last6 time.Time // the latest packet of each family, sent or due
}

// NewPacer returns a Pacer no packet has gone through yet.
func NewPacer() *Pacer { return &Pacer{} }

// reserve returns when a packet of the family (v6: an NA) may go, at the
// earliest at t and at least gap after the family's last one, and holds
// that time as the last. Callers hold p.mu.
func (p *Pacer) reserve(v6 bool, t time.Time, gap time.Duration) time.Time {
	last := &p.last4
	if v6 {
		last = &p.last6
	}
	at := t
	if !last.IsZero() && gap > 0 {
		at = later(at, last.Add(gap))
	}
	*last = later(*last, at)
	return at
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
