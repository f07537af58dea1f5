package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// backends makes one backend per weight, the i-th (from 0) with Key
// "10.0.0.<i+1, 3 digits>:80" and ID 100+i, so IDs differ from Key-order positions and a builder that confused
// the two would be caught.
func backends(weights ...int) []Backend {
	bs := make([]Backend, len(weights))
	for i, w := range weights {
		bs[i] = Backend{ID: uint32(100 + i), Key: fmt.Sprintf("10.0.0.%03d:80", i+1), Weight: w}
	}
	return bs
}

func counts(ring []uint32) map[uint32]int {
	c := map[uint32]int{}
	for _, id := range ring {
		c[id]++
	}
	return c
}

func shuffled(bs []Backend, seed uint64) []Backend {
	out := slices.Clone(bs)
	r := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestRRAndWLCKeyOrderAndDrain(t *testing.T) {
	bs := []Backend{
		{ID: 7, Key: "10.0.0.3:80", Weight: 5},
		{ID: 1, Key: "10.0.0.1:80", Weight: 1},
		{ID: 9, Key: "10.0.0.2:80", Weight: 0},  // drained
		{ID: 4, Key: "10.0.0.0:80", Weight: -3}, // negative counts as drained
		{ID: 2, Key: "10.0.0.9:80", Weight: 1000},
	}
	want := []uint32{1, 7, 2} // Key order, weight ignored, drained left out
	for name, f := range map[string]func([]Backend) []uint32{"RR": RR, "WLC": WLC} {
		for s := range uint64(5) {
			if got := f(shuffled(bs, s)); !slices.Equal(got, want) {
				t.Errorf("%s(shuffle %d) = %v, want %v", name, s, got, want)
			}
		}
	}
}

func TestEmptyWhenNothingWeighted(t *testing.T) {
	for _, bs := range [][]Backend{nil, {}, backends(0, 0, -1)} {
		mg, err := Maglev(bs, MaglevSize, 1)
		if err != nil {
			t.Fatalf("Maglev(%v): %v", bs, err)
		}
		for name, ring := range map[string][]uint32{
			"RR": RR(bs), "WLC": WLC(bs), "WRR": WRR(bs), "SH": SH(bs, SHTableSize), "Maglev": mg,
		} {
			if ring == nil || len(ring) != 0 {
				t.Errorf("%s(%v) = %#v, want an empty non-nil ring", name, bs, ring)
			}
		}
	}
}

// ipvsWRR replays the state machine of ip_vs_wrr_schedule in
// net/netfilter/ipvs/ip_vs_wrr.c from the state ip_vs_wrr_init_svc sets up
// (cl = list head, di = gcd, mw = max - (di - 1), cw = mw), with static
// weights and no overloaded destinations, and returns the indices of the
// first n destinations it picks. It works on the raw weights, including the
// (di - 1) adjustment and zero-weight entries, so comparing it with WRR
// checks WRR's gcd division and level-by-level construction against the
// kernel's own loop rather than against a restatement of WRR.
func ipvsWRR(weights []int, n int) []int {
	di := 0
	mw := 0
	for _, w := range weights {
		if w > 0 {
			di = int(gcd(uint64(w), uint64(di)))
		}
		mw = max(mw, w)
	}
	if di == 0 {
		di = 1
	}
	mw -= di - 1
	cw := mw
	cl := -1 // the list head
	var out []int
	for len(out) < n {
		d := cl
		for {
			found := false
			// list_for_each_entry_continue: from the entry after d to the end.
			for d++; d < len(weights); d++ {
				if weights[d] >= cw {
					found = true
					break
				}
			}
			if found {
				break
			}
			d = -1 // back at the head
			cw -= di
			if cw <= 0 {
				cw = mw
			}
		}
		cl = d
		out = append(out, d)
	}
	return out
}

// letters renders a ring over backends(...) as letters, A for ID 100.
func letters(ring []uint32) string {
	b := make([]byte, len(ring))
	for i, id := range ring {
		b[i] = byte('A' + id - 100)
	}
	return string(b)
}

func TestWRRKnownSequences(t *testing.T) {
	// Derived by hand from ip_vs_wrr.c: cw runs max, max-gcd, ..., gcd and
	// each pass picks, in list order, every backend with weight >= cw.
	for _, tc := range []struct {
		weights []int
		want    string
	}{
		{[]int{3, 1}, "AAAB"},             // cw 3: A; 2: A; 1: A B
		{[]int{1, 3}, "BBAB"},             // cw 3: B; 2: B; 1: A B
		{[]int{4, 3, 2}, "AABABCABC"},     // cw 4: A; 3: A B; 2: A B C; 1: A B C
		{[]int{4, 2}, "AAB"},              // gcd 2 (kernel: mw 3): cw 3: A; 1: A B
		{[]int{6, 0, 4, 2}, "AACACD"},     // B drained; gcd 2: A; A C; A C D
		{[]int{2, 2, 2}, "ABC"},           // equal weights degenerate to rr
		{[]int{5, 1, 1}, "AAAAABC"},       // cw 5..2: A; 1: A B C
		{[]int{3, 2, 3}, "ACABCABC"},      // cw 3: A C; 2: A B C; 1: A B C
		{[]int{100, 100, 50}, "ABABC"},    // gcd 50: 2,2,1
		{[]int{7, 0, 0, 7, 0}, "AD"},      // only the weighted ones, once each
		{[]int{1, 2, 3, 4}, "DCDBCDABCD"}, // cw 4: D; 3: C D; 2: B C D; 1: A B C D
	} {
		bs := backends(tc.weights...)
		if got := letters(WRR(bs)); got != tc.want {
			t.Errorf("WRR(%v) = %s, want %s", tc.weights, got, tc.want)
		}
		if got := letters(WRR(shuffled(bs, 3))); got != tc.want {
			t.Errorf("WRR(shuffled %v) = %s, want %s", tc.weights, got, tc.want)
		}
	}
}

func TestWRRThreeToOnePerPeriod(t *testing.T) {
	ring := WRR(backends(3, 1))
	c := counts(ring)
	if len(ring) != 4 || c[100] != 3 || c[101] != 1 {
		t.Fatalf("WRR(3:1) = %v, want 4 entries split 3:1", ring)
	}
	// The datapath indexes ring[counter % len], so any window of one period
	// is a full period: check the 3:1 split holds at every phase.
	for start := range ring {
		w := counts(append(slices.Clone(ring[start:]), ring[:start]...))
		if w[100] != 3 || w[101] != 1 {
			t.Errorf("window from %d: %v, want 3:1", start, w)
		}
	}
}

// TestWRRMatchesKernelLoop compares WRR with a replay of the kernel's
// scheduling loop on random weights, over two periods: the ring must equal
// the kernel's first period, and the kernel's second period must repeat it
// (so ring[counter % len] reproduces IPVS's infinite sequence).
func TestWRRMatchesKernelLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		n := 1 + r.IntN(8)
		scale := 1 + r.IntN(4) // common factors exercise the gcd step
		ws := make([]int, n)
		for i := range ws {
			ws[i] = r.IntN(9) * scale // 0 = drained
		}
		ring := WRR(backends(ws...))
		if len(ring) == 0 {
			continue
		}
		ref := ipvsWRR(ws, 2*len(ring))
		for k, idx := range ref {
			if want := uint32(100 + idx); ring[k%len(ring)] != want {
				t.Fatalf("iter %d weights %v: entry %d = %d, kernel picks %d (ring %v, kernel %v)",
					iter, ws, k, ring[k%len(ring)], want, ring, ref)
			}
		}
		// Each backend appears weight/gcd times per period.
		g := 0
		for _, w := range ws {
			g = int(gcd(uint64(w), uint64(g)))
		}
		c := counts(ring)
		for i, w := range ws {
			if c[uint32(100+i)] != w/g {
				t.Fatalf("weights %v: backend %d appears %d times, want %d", ws, i, c[uint32(100+i)], w/g)
			}
		}
	}
}

func TestWRRCap(t *testing.T) {
	for _, ws := range [][]int{
		{65535, 65534},             // coprime: period 131069
		{1_000_000, 1, 999_999},    // extreme ratio
		{MaxWeight, MaxWeight - 1}, // clamp boundary
		{MaxWeight + 5, 1},         // above MaxWeight: clamped, not overflowed
	} {
		ring := WRR(backends(ws...))
		if len(ring) > WRRMaxRing {
			t.Errorf("WRR(%v): %d entries, cap is %d", ws, len(ring), WRRMaxRing)
		}
		c := counts(ring)
		var total float64
		for _, w := range ws {
			total += float64(min(w, MaxWeight))
		}
		for i, w := range ws {
			got := c[uint32(100+i)]
			if got == 0 {
				t.Errorf("WRR(%v): backend %d missing", ws, i)
			}
			want := float64(min(w, MaxWeight)) / total * float64(len(ring))
			// Scaled weights are within 1 of w*budget/sum and their total
			// within n of budget, so a share is within n+1 entries of exact.
			if d := float64(got) - want; d > float64(len(ws)+1) || d < -float64(len(ws)+1) {
				t.Errorf("WRR(%v): backend %d has %d of %d entries, proportional share %.1f", ws, i, got, len(ring), want)
			}
		}
	}
}

func TestWRRManyBackendsKeepEveryone(t *testing.T) {
	// More backends than WRRMaxRing: the ring cannot respect the cap, and
	// must still hold every backend exactly once rather than drop some.
	ws := make([]int, WRRMaxRing+10)
	for i := range ws {
		ws[i] = 1 + i%7
	}
	ring := WRR(backends(ws...))
	if len(ring) != len(ws) {
		t.Fatalf("len = %d, want %d", len(ring), len(ws))
	}
	if c := counts(ring); len(c) != len(ws) {
		t.Fatalf("%d distinct backends, want %d", len(c), len(ws))
	}
}

func TestSHLayoutLikeIPVS(t *testing.T) {
	// ip_vs_sh_reassign: weight consecutive buckets per backend, wrapping.
	ring := SH(backends(3, 1, 2), 16)
	if got, want := letters(ring), "AAABCCAAABCCAAAB"; got != want {
		t.Fatalf("SH(3:1:2, 16) = %s, want %s", got, want)
	}
	// A drained backend keeps a place (the datapath passes its clients
	// on), at the smallest weight of the others.
	if got := SH(backends(3, 0, 1), 8); letters(got) != "AAABCAAA" {
		t.Fatalf("SH with drained B = %s, want AAABCAAA", letters(got))
	}
	// More backends than buckets: the last in Key order get none, as in IPVS.
	if got := SH(backends(5, 1, 9), 2); letters(got) != "AB" {
		t.Fatalf("SH(3 backends, 2 buckets) = %s, want AB", letters(got))
	}
	if got := SH(backends(1, 1), 0); len(got) != 0 {
		t.Fatalf("SH(size 0) = %v, want empty", got)
	}
}

func TestSHSharesProportional(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		size    int
		exact   bool // size is a multiple of sum(w)/gcd: shares are exact
	}{
		{[]int{3, 1}, SHTableSize, true},
		{[]int{100, 100}, SHTableSize, true}, // IPVS itself would give 156:100
		{[]int{1, 2, 5}, SHTableSize, true},
		{[]int{5, 3, 2, 1}, SHTableSize, false},
		{[]int{200, 100, 57}, SHTableSize, false}, // sum > size: scaled down
		{[]int{7, 11, 13, 17, 19}, 1021, false},
	} {
		bs := backends(tc.weights...)
		ring := SH(bs, tc.size)
		if len(ring) != tc.size {
			t.Fatalf("SH(%v, %d) has %d buckets", tc.weights, tc.size, len(ring))
		}
		if !slices.Equal(ring, SH(shuffled(bs, 9), tc.size)) {
			t.Errorf("SH(%v) depends on input order", tc.weights)
		}
		c := counts(ring)
		total := 0
		for _, w := range tc.weights {
			total += w
		}
		for i, w := range tc.weights {
			got := float64(c[uint32(100+i)])
			want := float64(tc.size) * float64(w) / float64(total)
			d := got - want
			if tc.exact && d != 0 {
				t.Errorf("SH(%v): backend %d has %v buckets, want exactly %v", tc.weights, i, got, want)
			}
			// A partial last round can give a backend up to its whole turn
			// more or less than its share; scaled weights add one bucket of
			// rounding per round. 3% of the table bounds both here.
			if d > 0.03*float64(tc.size) || d < -0.03*float64(tc.size) {
				t.Errorf("SH(%v): backend %d has %v buckets, proportional share %.1f", tc.weights, i, got, want)
			}
		}
	}
}

// Draining one of equally weighted servers changes no bucket: the
// datapath sends the drained server's clients on to the next bucket's
// server and everyone else stays put (IPVS keeps the drained server's
// bucket too). Its removal rebuilds the table, as in IPVS.
func TestSHDrainKeepsEveryBucket(t *testing.T) {
	for _, w := range []int{1, 2, 5} {
		bs := backends(w, w, w, w)
		before := SH(bs, SHTableSize)
		bs[2].Weight = 0
		if after := SH(bs, SHTableSize); !slices.Equal(before, after) {
			t.Errorf("weights %d: draining C moved buckets:\n%s\n%s", w, letters(before), letters(after))
		}
	}
	bs := backends(1, 1, 1, 1)
	before := SH(bs, SHTableSize)
	if after := SH(append(bs[:2:2], bs[3]), SHTableSize); slices.Equal(before, after) {
		t.Error("removing C left the table as it was")
	}
}
