// Package sched builds the per-service "rings" the XDP datapath schedules
// new flows from. A ring is a flat array of datapath backend IDs that the
// control plane writes into a BPF array map; the datapath only indexes it
// (ring[counter % len] for rr/wrr, ring[hash % len] for sh/mh, a candidate
// scan for wlc), so every scheduling decision that needs weights, ordering or
// hashing of backend identities is made here, in Go.
//
// Every builder is a pure function of the set of (Key, Weight, ID) triples:
// input order never matters, because backends are sorted by Key first. Two
// directors given the same backends therefore write byte-identical rings,
// which is what lets a flow that fails over from one director to another
// (VRRP) keep landing on the same real server for sh and mh.
//
// A backend with Weight <= 0 is drained and appears in no ring but SH's
// (see there); a builder with no backend of positive weight returns an
// empty ring.
package sched

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// Backend is one real server as the schedulers see it.
type Backend struct {
	// ID is the datapath backend slot written into rings.
	ID uint32
	// Key is the backend's stable identity, e.g. "192.168.101.3:80". It is
	// the same on every director, so it (not ID, which is a local slot
	// number) is what orders backends and what Maglev hashes.
	Key string
	// Weight 0 (or negative) means drained: never in a ring.
	Weight int
}

// MaxWeight is the largest weight the builders distinguish; larger weights
// are treated as MaxWeight. IPVS stores weights in a signed 32-bit int, so
// no IPVS configuration needs more, and the bound keeps every sum and
// product below in uint64 range.
const MaxWeight = math.MaxInt32

// SHTableSize is the size of IPVS's source-hashing table
// (1 << CONFIG_IP_VS_SH_TAB_BITS with the default of 8 bits).
const SHTableSize = 256

// WRRMaxRing caps the length of a WRR ring. The ring is one full period of
// IPVS's sequence, whose length is sum(weight)/gcd(weights); weights such as
// 65535 and 65534 would otherwise give a 131069-entry ring for two backends.
// When the period exceeds the cap the weights are scaled down (see WRR).
const WRRMaxRing = 65536

// active returns the backends with positive weight, sorted by Key (then ID
// and Weight, so duplicated keys still give an order-independent result),
// with weights clamped to MaxWeight.
func active(bs []Backend) []Backend {
	out := make([]Backend, 0, len(bs))
	for _, b := range bs {
		if b.Weight <= 0 {
			continue
		}
		if b.Weight > MaxWeight {
			b.Weight = MaxWeight
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Backend) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Weight, b.Weight))
	})
	return out
}

// smallestWeight is the smallest positive weight of bs, clamped to
// MaxWeight; 0 when none is positive.
func smallestWeight(bs []Backend) int {
	least := 0
	for _, b := range bs {
		if b.Weight > 0 && (least == 0 || b.Weight < least) {
			least = b.Weight
		}
	}
	return min(least, MaxWeight)
}

// withDrainedAt is bs with drained backends (weight <= 0) given weight w,
// for a table that keeps their place (SH).
func withDrainedAt(bs []Backend, w int) []Backend {
	out := slices.Clone(bs)
	for i := range out {
		if out[i].Weight <= 0 {
			out[i].Weight = w
		}
	}
	return out
}

func ids(bs []Backend) []uint32 {
	out := make([]uint32, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

// RR returns every backend of positive weight once, in Key order. Like IPVS's
// rr scheduler it ignores weight beyond "zero means drained".
func RR(bs []Backend) []uint32 {
	return ids(active(bs))
}

// WLC returns the candidates (positive weight, Key order) for the datapath's
// weighted-least-connection loop. The datapath reads the current weights and
// connection counts itself, so only membership and a stable order (which
// breaks ties between equally loaded backends) are decided here.
func WLC(bs []Backend) []uint32 {
	return ids(active(bs))
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func gcdAll(ws []uint64) uint64 {
	var g uint64
	for _, w := range ws {
		g = gcd(w, g)
	}
	return g
}

func sum(ws []uint64) uint64 {
	var s uint64
	for _, w := range ws {
		s += w
	}
	return s
}

// fitWeights returns the weights of bs divided by their gcd and, if their sum
// still exceeds limit, scaled down proportionally so that it does not. Each
// scaled weight is max(1, floor(w*(limit-n)/sum)): reserving n units of the
// budget for the max(1, ...) bumps guarantees sum <= limit, and keeping every
// backend at >= 1 keeps every weighted backend in the ring. When n >= limit
// no proportional fit exists and every weight becomes 1.
func fitWeights(bs []Backend, limit uint64) []uint64 {
	ws := make([]uint64, len(bs))
	for i, b := range bs {
		ws[i] = uint64(b.Weight)
	}
	if len(ws) == 0 {
		return ws
	}
	g := gcdAll(ws)
	for i := range ws {
		ws[i] /= g
	}
	s := sum(ws)
	if s <= limit {
		return ws
	}
	n := uint64(len(ws))
	if n >= limit {
		for i := range ws {
			ws[i] = 1
		}
		return ws
	}
	budget := limit - n
	for i, w := range ws {
		// w*budget can exceed 64 bits when limit is huge; the 128-bit
		// product keeps it exact, and w <= s keeps the quotient in range.
		hi, lo := bits.Mul64(w, budget)
		q, _ := bits.Div64(hi, lo, s)
		ws[i] = max(1, q)
	}
	g = gcdAll(ws)
	for i := range ws {
		ws[i] /= g
	}
	return ws
}

// WRR returns one full period of IPVS's weighted round-robin sequence
// (net/netfilter/ipvs/ip_vs_wrr.c) over the backends in Key order. IPVS keeps
// a current weight cw that starts at the maximum weight and steps down by the
// gcd of all weights each time the scan passes the end of the list, wrapping
// back to the maximum below 1; each scan picks, in list order, every backend
// whose weight is >= cw. For weights A=3, B=1 that is A A A B; for A=4, B=3,
// C=2 it is A, A B, A B C, A B C. Each backend appears weight/gcd times, so
// the period is sum(weight)/gcd(weights) entries.
//
// Dividing by the gcd does not change the sequence (cw steps by the gcd, and
// every weight is a multiple of it, so each pass picks the same backends as
// the pass at the corresponding multiple), so WRR computes on weight/gcd. If
// the period would exceed WRRMaxRing, the weights are first scaled down
// proportionally (every backend keeps weight >= 1, see fitWeights), which
// keeps each backend's share within n+1 entries of the exact proportion for
// n backends; e.g. 65535:65534 becomes a 65533-entry ring of 32767:32766,
// and 1000000:1:999999 a ring of 32766:1:32766. Only with
// more than WRRMaxRing backends is the ring longer than the cap: it then
// holds every backend exactly once.
func WRR(bs []Backend) []uint32 {
	act := active(bs)
	ws := fitWeights(act, WRRMaxRing)
	// The backends picked at threshold cw only change when cw crosses a
	// distinct weight, so the ring is built level by level: for cw in
	// (next lower weight, this weight] the picks are the same list. Walking
	// cw one step at a time would cost max(weight) * n, up to 65536 * n;
	// level by level costs n per distinct weight, and distinct weights
	// summing to at most WRRMaxRing number at most 362.
	levels := slices.Clone(ws)
	slices.Sort(levels)
	levels = slices.Compact(levels)
	slices.Reverse(levels)
	ring := make([]uint32, 0, sum(ws))
	var members []uint32
	for j, lv := range levels {
		var below uint64
		if j+1 < len(levels) {
			below = levels[j+1]
		}
		members = members[:0]
		for i, w := range ws {
			if w >= lv {
				members = append(members, act[i].ID)
			}
		}
		for range lv - below {
			ring = append(ring, members...)
		}
	}
	return ring
}

// SH returns a source-hashing table of size buckets built like IPVS's
// ip_vs_sh_reassign (net/netfilter/ipvs/ip_vs_sh.c): buckets are assigned
// round-robin over the backends in Key order, each backend taking weight
// consecutive buckets before the next one's turn, wrapping until the table
// is full. The datapath picks ring[hash(client) % size]. IPVS uses
// SHTableSize (256) buckets.
//
// Drained backends (weight 0) keep buckets, as in IPVS, which rejects them
// at lookup time: the datapath passes a new flow that hashes to one on to
// the next bucket's server (sh-fallback), so draining a server moves its
// clients only, where rebuilding the table without it would move most of
// everyone's. IPVS gives a drained server one bucket a turn, which keeps
// the layout when the weights were 1; here it takes the smallest weight of
// the others, which keeps it whenever the weights were equal. Weights are
// divided by their gcd and, if they still sum to more than size, scaled
// down to fit (fitWeights), so that bucket shares follow the weights.
// IPVS uses raw weights, so weights 100:100 would give it 156:100 buckets;
// here they give 128:128. Since the datapath's client hash differs from
// IPVS's anyway, matching IPVS's table bucket for bucket would buy nothing.
// With more backends than buckets the last ones in Key order get no bucket,
// as in IPVS.
//
// size <= 0 yields an empty table.
func SH(bs []Backend, size int) []uint32 {
	least := smallestWeight(bs)
	if least == 0 || size <= 0 {
		return []uint32{} // none to fall back to: as if drained ones were not there
	}
	act := active(withDrainedAt(bs, least))
	ws := fitWeights(act, uint64(size))
	ring := make([]uint32, size)
	i, turns := 0, uint64(0)
	for b := range ring {
		ring[b] = act[i].ID
		if turns++; turns >= ws[i] {
			i, turns = (i+1)%len(act), 0
		}
	}
	return ring
}
