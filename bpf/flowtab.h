/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* flowtab.h: the IPv4 connection table.
 *
 * Why not a kernel LRU hash: on the machines xlb is measured on, one
 * bpf_map_update_elem() into an LRU hash costs 230-450 ns (locks, list
 * moves, an element pulled from a free list), which alone is more than
 * the whole new-flow budget. This table is a flat array map of buckets the
 * verifier inlines lookups into: a new flow costs one or two hashes, one
 * or two bucket reads and one locked write.
 *
 * Layout: every flow has two candidate buckets (two hashes of its 5-tuple
 * with a secret seed, so nobody can aim collisions at a victim flow) of
 * XLB_FLOW_WAYS slots each. A new flow goes into its first ("home")
 * bucket while that has XLB_FLOW_HOME_ROOM free slots, else into the
 * emptier of the two ("power of two choices"). With 6 ways and the table
 * at most half full (the loader's sizing), simulated: a new flow found
 * both its buckets full in none of 42 million inserts (at two thirds full,
 * once in 28,000); when it does, the slot expiring first is taken (an LRU
 * by expiry, as the kernel's LRU hash would evict), and counted. Going
 * home first while there is room is what the guest count below pays
 * off: filling the table to half, 27% of new flows read (and hash) their
 * second bucket, against all of them with the plain two choices.
 *
 * Each bucket counts its guests elsewhere: the flows whose home it is
 * that live in their second bucket (top bits of seq). A lookup that
 * misses in the home bucket reads the second only when that count is not
 * zero (so most new flows cost one bucket read, not two), and the writer
 * reads it only when home is short of room. The count may
 * run high (a decrement that found the bucket busy is given up), which
 * only costs reads; it is never low: it goes up before a guest is
 * written and down after the guest is gone.
 *
 * Concurrency: each bucket has a sequence lock. Writers (any CPU's
 * datapath, and xlb_conns_ctl run by user space) take it with a
 * compare-and-swap and never wait for it: after XLB_FLOW_TRIES they give
 * up (the caller decides what that means). Readers never write: they
 * copy what they need between two reads of seq and retry when it moved,
 * so a half-written slot is never used. Established packets therefore
 * share no cache line writes; a flow's expiry is pushed back at most
 * once a second (XLB_TOUCH_TICKS), under the lock.
 *
 * The lookup and the writer are global functions, which the verifier
 * checks once on their own rather than at every caller (inlined, their
 * scans multiplied the states older kernels explore past their limits).
 * Such functions take no pointers into map values: buckets travel by
 * index, the writer's key and value packed into scalars. */
#ifndef XLB_FLOWTAB_H
#define XLB_FLOWTAB_H

#include "consts.h"
#include "structs.h"
#include "maps.h"
#include "hash.h"
#include "clock.h"

/* Set by the loader: the number of buckets of flows4, and the table's
 * hash seed (random per table, kept in settings across restarts). */
const volatile __u32 flow_buckets4 = 1;
const volatile __u32 flow_seed = 0;
/* Set by the loader on CPUs that may reorder loads (not x86): the
 * reader's second read of seq becomes an atomic, which orders it. */
const volatile __u8 flow_fence = 0;

#define FLOW_READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define FLOW_BARRIER() asm volatile("" ::: "memory")

enum {
	CONN_BUSY = -1, /* a writer kept the bucket locked */
	CONN_NONE = 0,
	CONN_FOUND = 1,
};

/* What a lookup found, or where the flow would go: scalars only, so the
 * table's global functions (see below) can fill it. */
struct conn_ref {
	__u64 idx;     /* IPv4: the flow's two buckets, first | second << 32 */
	__u32 where;   /* IPv4 found: 1 first bucket, 2 second; else 0 */
	__u32 room;    /* IPv4, not found: free slots of the first | second's << 8 */
	__u32 now;     /* the flow clock of the lookup */
	__u32 backend; /* found: the entry */
	__u32 state;
	__u32 expires;
};
/* a is later than b on the (wrapping) flow clock. */
static __always_inline int tick_after(__u32 a, __u32 b)
{
	return (__s32)(a - b) > 0;
}

/* h scaled to [0, n) without a division (Lemire's multiply-shift). */
static __always_inline __u32 fastrange32(__u32 h, __u32 n)
{
	return ((__u64)h * n) >> 32;
}

/* k's two buckets: two hashes of its 5-tuple under different seeds. The
 * second is computed only when it is needed (the home bucket has guests,
 * or a new flow may not fit at home): one hash per lookup most of the
 * time. */
static __always_inline __u32 flow4_hash(const struct conn_key4 *k, __u32 seed)
{
	__u32 ports = ((__u32)k->sport << 16) | k->dport;
	return fastrange32(jhash_3words(k->saddr, k->daddr ^ k->proto, ports, seed), flow_buckets4);
}

static __always_inline __u32 flow4_first(const struct conn_key4 *k)
{
	return flow4_hash(k, flow_seed);
}

static __always_inline __u32 flow4_second(const struct conn_key4 *k)
{
	return flow4_hash(k, flow_seed ^ 0x5bd1e995);
}

static __always_inline int slot_is(const struct flow4 *s, const struct conn_key4 *k)
{
	return s->saddr == k->saddr && s->daddr == k->daddr && s->sport == k->sport && s->dport == k->dport &&
	       s->proto == k->proto;
}

static __always_inline int slot_free(const struct flow4 *s, __u32 now)
{
	return s->proto == 0 || tick_after(now, s->expires);
}

/* A room count the lookup did not take (it read one bucket only). */
#define ROOM_UNKNOWN 0xff

/* Looks for k in bucket idx. A consistent read or CONN_BUSY: never a
 * torn slot. When k is not there, *room is the number of free slots (the
 * scan reads every slot anyway; the writer uses it to choose a bucket);
 * *guests is the bucket's count of guests elsewhere. */
static __always_inline int bucket_find(__u32 idx, const struct conn_key4 *k, struct conn_ref *r, __u32 *room,
				       __u32 *guests)
{
	struct flow_bucket4 *b = bpf_map_lookup_elem(&flows4, &idx);
	if (!b)
		return CONN_NONE;
	for (int t = 0; t < XLB_FLOW_TRIES; t++) {
		__u64 seq = FLOW_READ_ONCE(b->seq);
		if (seq & 1)
			continue;
		int found = 0;
		__u32 be = 0, st = 0, ex = 0, n = 0;
#pragma unroll
		for (int i = 0; i < XLB_FLOW_WAYS; i++) {
			struct flow4 *s = &b->slot[i];
			n += slot_free(s, r->now);
			if (slot_is(s, k)) {
				found = 1;
				be = s->backend;
				st = s->state;
				ex = s->expires;
				break;
			}
		}
		FLOW_BARRIER();
		__u64 again = flow_fence ? __sync_fetch_and_add(&b->seq, 0) : FLOW_READ_ONCE(b->seq);
		if (again != seq)
			continue;
		if (!found) {
			*room = n;
			*guests = seq >> XLB_FLOW_GUEST_SHIFT;
			return CONN_NONE;
		}
		r->backend = be;
		r->state = st & ~XLB_FLOW_GUEST;
		r->expires = ex;
		return CONN_FOUND;
	}
	return CONN_BUSY;
}

/* Finds an IPv4 flow in its buckets at flow clock now, filling r. */
__noinline int xlb_flow4_find(const struct conn_key4 *k, struct conn_ref *r, __u32 now)
{
	if (!k || !r)
		return CONN_NONE;
	__u32 first = flow4_first(k);
	__u32 room1 = 0, room2 = 0, guests = 0;
	r->idx = first;
	r->now = now;
	r->where = 0;
	r->room = 0;
	int res = bucket_find(first, k, r, &room1, &guests);
	if (res == CONN_FOUND)
		r->where = 1;
	if (res != CONN_NONE)
		return res;
	/* None of the home bucket's flows lives elsewhere (or k's buckets
	 * are one): k is not in the table. */
	__u32 second = guests ? flow4_second(k) : first;
	if (second == first) {
		r->room = room1 | ROOM_UNKNOWN << 8;
		return CONN_NONE;
	}
	r->idx = first | (__u64)second << 32;
	res = bucket_find(second, k, r, &room2, &guests);
	if (res == CONN_FOUND)
		r->where = 2;
	r->room = room1 | room2 << 8;
	return res;
}

/* Bucket second ? idx's second : its first. */
static __always_inline struct flow_bucket4 *bucket_at(__u64 idx, int second)
{
	__u32 i = second ? (__u32)(idx >> 32) : (__u32)idx;
	return bpf_map_lookup_elem(&flows4, &i);
}

static __always_inline int bucket_lock(struct flow_bucket4 *b, __u64 *held)
{
	for (int t = 0; t < XLB_FLOW_TRIES; t++) {
		__u64 seq = FLOW_READ_ONCE(b->seq);
		if (seq & 1)
			continue;
		if (__sync_val_compare_and_swap(&b->seq, seq, seq + 1) == seq) {
			*held = seq + 1;
			return 0;
		}
	}
	return -1;
}

/* Releases b, adding delta to its guest count. On x86 a plain store
 * does (stores stay in order there, and the compiler barrier keeps clang
 * from sinking the slot writes below it; every change of the word is
 * made under the lock): it saves a locked instruction per write.
 * Elsewhere a compare-and-swap orders the slot writes before the
 * release. */
static __always_inline void bucket_unlock(struct flow_bucket4 *b, __u64 held, __s64 delta)
{
	__u64 next = held + 1 + ((__u64)delta << XLB_FLOW_GUEST_SHIFT);
	if (flow_fence) {
		__sync_val_compare_and_swap(&b->seq, held, next);
		return;
	}
	FLOW_BARRIER();
	FLOW_READ_ONCE(b->seq) = next;
}

/* Adds delta (+1 or -1) to the guest count of bucket idx. Returns 0, or
 * -1 when the bucket stayed busy or (+1) the count is at its limit. */
__noinline int xlb_flow4_guests(__u32 idx, __s32 delta)
{
	struct flow_bucket4 *b = bpf_map_lookup_elem(&flows4, &idx);
	if (!b)
		return -1;
	__u64 held;
	if (bucket_lock(b, &held) < 0)
		return -1;
	if (delta > 0 && (held >> XLB_FLOW_GUEST_SHIFT) >= XLB_FLOW_GUEST_MAX) {
		bucket_unlock(b, held, 0);
		return -1;
	}
	bucket_unlock(b, held, delta);
	return 0;
}

/* Free slots of bucket idx, read without the lock: a hint for choosing
 * where a new flow goes, not a promise. */
static __always_inline __u32 bucket_room(__u32 idx, __u32 now)
{
	struct flow_bucket4 *b = bpf_map_lookup_elem(&flows4, &idx);
	if (!b)
		return 0;
	__u32 n = 0;
#pragma unroll
	for (int i = 0; i < XLB_FLOW_WAYS; i++)
		n += slot_free(&b->slot[i], now);
	return n;
}

static __always_inline void slot_write(struct flow4 *s, const struct conn_key4 *k, __u32 backend, __u32 state,
				       __u32 expires)
{
	s->saddr = k->saddr;
	s->daddr = k->daddr;
	s->sport = k->sport;
	s->dport = k->dport;
	s->proto = k->proto;
	s->state = state;
	s->backend = backend;
	s->expires = expires;
}

enum { SLOT_SAME, SLOT_FREE, SLOT_EVICT };

/* With b locked: the slot for k. The one holding it (*how SLOT_SAME),
 * else a free one (SLOT_FREE), else the one expiring first (SLOT_EVICT). */
static __always_inline int slot_for(struct flow_bucket4 *b, const struct conn_key4 *k, __u32 now, int *how)
{
	*how = SLOT_SAME;
#pragma unroll
	for (int i = 0; i < XLB_FLOW_WAYS; i++)
		if (slot_is(&b->slot[i], k))
			return i;
	*how = SLOT_FREE;
#pragma unroll
	for (int i = 0; i < XLB_FLOW_WAYS; i++)
		if (slot_free(&b->slot[i], now))
			return i;
	*how = SLOT_EVICT;
	__u32 first = b->slot[0].expires;
	int oldest = 0;
#pragma unroll
	for (int i = 1; i < XLB_FLOW_WAYS; i++) {
		if (tick_after(first, b->slot[i].expires)) {
			first = b->slot[i].expires;
			oldest = i;
		}
	}
	return oldest;
}

/* Records an IPv4 flow into one of its buckets (idx: the first, and in
 * the high word the second when the lookup computed it; always when it
 * found the flow there): the one it was found in (hint bits 0-1: 1 or 2),
 * else home while it has room, else the one with more free slots (hint
 * bits 8-15 and 16-23, as the lookup counted them; ROOM_UNKNOWN when it
 * did not read the second). addrs: saddr | daddr << 32; meta: sport |
 * dport << 16 | proto << 32 | state << 40 | backend << 48; times: the
 * expiry | the lookup's flow clock << 32. Returns 0, 1 when a live flow
 * was evicted for it, or CONN_BUSY when the bucket stayed locked. */
__noinline int xlb_flow4_put(__u64 addrs, __u64 meta, __u64 times, __u64 idx, __u32 hint)
{
	__u32 expires = (__u32)times;
	__u32 now = (__u32)(times >> 32);
	struct conn_key4 k = {
		.saddr = (__u32)addrs,
		.daddr = (__u32)(addrs >> 32),
		.sport = (__u16)meta,
		.dport = (__u16)(meta >> 16),
		.proto = (__u8)(meta >> 32),
	};
	__u32 state = (__u8)(meta >> 40) & ~XLB_FLOW_GUEST;
	__u32 backend = (__u16)(meta >> 48);
	__u32 where = hint & 3;
	__u32 first = (__u32)idx, second = (__u32)(idx >> 32);
	int guest = where == 2;
	__u32 room1 = (hint >> 8) & 0xff, room2 = (hint >> 16) & 0xff;
	if (where == 0 && room1 < XLB_FLOW_HOME_ROOM) {
		/* 0 is also a bucket: then it is only hashed again. */
		if (!second)
			second = flow4_second(&k);
		if (second != first) {
			if (room2 == ROOM_UNKNOWN)
				room2 = bucket_room(second, now);
			guest = room2 > room1;
		}
	}
	/* A guest is counted before it can be found: had its slot in the
	 * second bucket gone meanwhile, the write below makes a new one.
	 * When the count cannot go up, the flow goes home instead (a copy
	 * left in the second bucket is shadowed: home is read first). */
	if (guest && xlb_flow4_guests(first, 1) < 0)
		guest = 0;
	__u32 bi = guest ? second : first;
	struct flow_bucket4 *b = bpf_map_lookup_elem(&flows4, &bi);
	__u64 held;
	if (!b || bucket_lock(b, &held) < 0) {
		if (guest)
			xlb_flow4_guests(first, -1);
		return CONN_BUSY;
	}
	int how;
	int i = slot_for(b, &k, now, &how);
	if (i < 0 || i >= XLB_FLOW_WAYS) {
		bucket_unlock(b, held, 0);
		return CONN_BUSY;
	}
	struct flow4 *s = &b->slot[i];
	/* A guest pushed out of this slot leaves its home's count. */
	struct conn_key4 gone = {};
	int gone_guest = how != SLOT_SAME && s->proto && (s->state & XLB_FLOW_GUEST);
	if (gone_guest) {
		gone.saddr = s->saddr;
		gone.daddr = s->daddr;
		gone.sport = s->sport;
		gone.dport = s->dport;
		gone.proto = s->proto;
	}
	slot_write(s, &k, backend, state | (guest ? XLB_FLOW_GUEST : 0), expires);
	bucket_unlock(b, held, 0);
	/* The slot already held k (as a guest): it was counted before. */
	if (guest && how == SLOT_SAME)
		xlb_flow4_guests(first, -1);
	if (gone_guest)
		xlb_flow4_guests(flow4_first(&gone), -1);
	return how == SLOT_EVICT;
}

/* flow4_put records a flow found (or looked for) with r. */
static __always_inline int flow4_put(struct conn_ref *r, const struct conn_key4 *k, __u32 backend, __u32 state,
				     __u32 expires)
{
	__u32 hint = r->where ? r->where : r->room << 8;
	__u64 addrs = k->saddr | (__u64)k->daddr << 32;
	__u64 meta = k->sport | (__u64)k->dport << 16 | (__u64)k->proto << 32 | (__u64)(state & 0xff) << 40 |
		     (__u64)(backend & 0xffff) << 48;
	return xlb_flow4_put(addrs, meta, expires | (__u64)r->now << 32, r->idx, hint);
}

/* Forgets an IPv4 flow (only if it has idled out, with only_expired).
 * Returns 1 when it was removed, 0 when absent, CONN_BUSY. */
static __always_inline int flow4_delete(const struct conn_key4 *k, int only_expired, __u32 now)
{
	struct conn_ref r = {};
	int res = xlb_flow4_find(k, &r, now);
	if (res != CONN_FOUND)
		return res;
	struct flow_bucket4 *b = bucket_at(r.idx, r.where == 2);
	if (!b)
		return CONN_NONE;
	__u64 held;
	if (bucket_lock(b, &held) < 0)
		return CONN_BUSY;
	int done = 0, guest = 0;
#pragma unroll
	for (int i = 0; i < XLB_FLOW_WAYS; i++) {
		struct flow4 *s = &b->slot[i];
		if (!done && slot_is(s, k) && (!only_expired || tick_after(now, s->expires))) {
			guest = s->state & XLB_FLOW_GUEST;
			s->proto = 0;
			s->state = 0;
			done = 1;
		}
	}
	bucket_unlock(b, held, 0);
	if (guest)
		xlb_flow4_guests((__u32)r.idx, -1);
	return done;
}

#endif
