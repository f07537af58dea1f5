package sched

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/cespare/xxhash/v2"
)

// MaglevSize is the default Maglev table size: a prime (the paper requires
// M prime so every skip generates a full permutation) about 100x the
// backend counts xlb expects, the paper's rule of thumb for keeping each
// backend's share within ~1% of its fair share.
const MaglevSize = 65537

// MaglevMaxSize bounds the table size Maglev accepts. The table is written
// into a BPF array map per service, and 2^24 entries (64 MiB of IDs) is far
// beyond any useful M; the bound turns a typo into an error instead of a
// multi-gigabyte allocation.
const MaglevMaxSize = 1 << 24

// ErrMaglevSize is returned (wrapped) by Maglev for an unusable table size.
var ErrMaglevSize = errors.New("sched: invalid maglev table size")

// IsPrime reports whether n is prime. It is exact for every uint64:
// math/big's ProbablyPrime is documented to be 100% accurate below 2^64
// (Baillie-PSW), so no probabilistic caveat applies to table sizes.
func IsPrime(n uint64) bool {
	return new(big.Int).SetUint64(n).ProbablyPrime(0)
}

// splitmix64 is the SplitMix64 output function. It turns the one
// user-supplied seed into the two xxhash seeds for h1 and h2 so that they are
// unrelated even for small or similar seeds, and it is a few lines in any
// language, so another implementation can reproduce the table exactly.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// maglevSeeds returns the xxhash64 seeds of h1 (offset) and h2 (skip): the
// first two outputs of a SplitMix64 generator started at seed, i.e.
// splitmix64(seed) and splitmix64(seed + 0x9e3779b97f4a7c15).
func maglevSeeds(seed uint64) (s1, s2 uint64) {
	return splitmix64(seed), splitmix64(seed + 0x9e3779b97f4a7c15)
}

// perm is a backend's Maglev preference list: permutation[j] =
// (offset + j*skip) mod M.
type perm struct {
	offset, skip uint64
}

// Maglev returns the lookup table of Maglev consistent hashing (Eisenbud et
// al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI
// 2016, section 3.4, Pseudocode 1): size entries, each the ID of the backend
// owning that slot; the datapath picks table[hash(flow) % size].
//
// Each backend (Key order) gets the preference list
//
//	offset = h1(Key) mod M
//	skip   = h2(Key) mod (M-1) + 1
//	permutation[j] = (offset + j*skip) mod M
//
// where h1 and h2 are xxhash64 of the Key bytes with seeds splitmix64(seed)
// and splitmix64(seed + 0x9e3779b97f4a7c15) (see maglevSeeds). Backends then
// take turns claiming their next still-free preferred slot until the table
// is full. The result depends only on seed and the backends' (Key, Weight,
// ID), so every director with the same configuration builds a byte-identical
// table, and a backend change moves few slots: removing one of N equally
// weighted backends reassigns its own ~1/N of the table plus a small
// fraction of other slots (see the tests for measured figures).
//
// Weights: the fill runs in rounds; the heaviest backends take a turn every
// round and a backend of weight w takes w turns in every max(weight) rounds,
// spread evenly (its turn p, from 0, falls in round ceil(p*max/w); within a
// round backends go in Key order). With equal weights this is exactly the paper's round-robin.
// IPVS's ip_vs_mh.c instead gives each backend weight/gcd consecutive turns
// (after shifting weights to at most 6 bits); when the turns of one round
// sum to more than M, as with 1000 backends of unequal weights, the table
// fills before the round ends and backends late in the order get nothing.
// Spreading the turns keeps every backend close to its weighted share: if the
// table fills in round r, a backend of weight w holds floor((r-1)*w/max)+1
// slots from the complete rounds plus at most one from round r, so its count differs
// from the exact share M*w/sum(w) by at most +2 and at least -2*n*w/sum(w)
// slots (the guaranteed first slot of every backend comes out of the others'
// shares). Every weighted backend gets at least one slot.
//
// size must be prime (IsPrime), at least the number of weighted backends
// (IPVS rejects more destinations than slots too: some would get no slot)
// and at most MaglevMaxSize; otherwise the error wraps ErrMaglevSize.
func Maglev(bs []Backend, size uint64, seed uint64) ([]uint32, error) {
	if size > MaglevMaxSize || !IsPrime(size) {
		return nil, fmt.Errorf("%w: %d is not a prime <= %d", ErrMaglevSize, size, MaglevMaxSize)
	}
	act := active(bs)
	if len(act) == 0 {
		return []uint32{}, nil
	}
	if uint64(len(act)) > size {
		return nil, fmt.Errorf("%w: %d backends do not fit in %d slots", ErrMaglevSize, len(act), size)
	}
	s1, s2 := maglevSeeds(seed)
	var d xxhash.Digest
	perms := make([]perm, len(act))
	weights := make([]uint64, len(act))
	for i, b := range act {
		d.ResetWithSeed(s1)
		_, _ = d.WriteString(b.Key) // never fails
		h1 := d.Sum64()
		d.ResetWithSeed(s2)
		_, _ = d.WriteString(b.Key)
		h2 := d.Sum64()
		perms[i] = perm{offset: h1 % size, skip: h2%(size-1) + 1}
		weights[i] = uint64(b.Weight)
	}
	owner := populate(perms, weights, size)
	table := make([]uint32, size)
	for slot, i := range owner {
		table[slot] = act[i].ID
	}
	return table, nil
}

// A turn is a backend's next claim in populate's schedule, packed into one
// uint64 as round<<idxBits | index so that plain integer order is round
// order with ties broken by index. Rounds are clamped to maxRound: the
// heaviest backend claims a slot every round, so the table is full before
// round m (<= MaglevMaxSize) and a clamped turn is never taken.
const (
	idxBits  = 25 // indices < m <= MaglevMaxSize = 2^24
	maxRound = MaglevMaxSize + 1
)

// turnHeap is a binary min-heap of packed turns. It is hand-rolled rather
// than container/heap because populate does a pop and a push per table slot
// and interface calls would dominate the build time.
type turnHeap []uint64

// down restores the heap order after h[i] grew.
func (h turnHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r] < h[l] {
			m = r
		}
		if h[m] >= h[i] {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// populate is Pseudocode 1 of the Maglev paper generalised to weights: it
// returns, for each of the m slots, the index into perms of the backend that
// owns it. perms and weights are parallel; every weight must be >= 1,
// every skip in [1, m-1], m prime and len(perms) <= m.
//
// The paper's loop gives every backend one turn per round. Here backend i
// takes its p-th turn (p = 0, 1, ...) in round ceil(p*maxW/w_i): the
// heaviest backends claim a slot every round, one of half the weight every
// other round, and so on; ties within a round go by index, as in the paper.
// Because ceil((p+1)*maxW/w) > ceil(p*maxW/w), no backend takes two turns in
// a round, and with equal weights the rounds are exactly the paper's.
func populate(perms []perm, weights []uint64, m uint64) []int {
	const free = -1
	owner := make([]int, m)
	for i := range owner {
		owner[i] = free
	}
	var maxW uint64
	for _, w := range weights {
		maxW = max(maxW, w)
	}
	next := make([]uint64, len(perms)) // slot backend i tries next
	taken := make([]uint64, len(perms))
	h := make(turnHeap, len(perms))
	for i, p := range perms {
		next[i] = p.offset
		h[i] = uint64(i) // round 0; ascending, so already a heap
	}
	const idxMask = 1<<idxBits - 1
	for filled := uint64(0); filled < m; filled++ {
		i := int(h[0] & idxMask)
		// Walk i's permutation past slots other backends claimed first.
		// Adding skip modulo m steps j -> j+1 without multiplying, and
		// since m is prime and 0 < skip < m the walk visits every slot, so
		// it always finds the free one that must exist while filled < m.
		c := next[i]
		for owner[c] != free {
			c += perms[i].skip
			if c >= m {
				c -= m
			}
		}
		owner[c] = i
		next[i] = c
		taken[i]++
		// weights <= MaxWeight and taken <= m <= MaglevMaxSize, so the
		// product stays below 2^55.
		round := min((taken[i]*maxW+weights[i]-1)/weights[i], maxRound)
		h[0] = round<<idxBits | uint64(i)
		h.down(0)
	}
	return owner
}
