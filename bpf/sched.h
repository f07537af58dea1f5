/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* sched.h: picking a real server for a new flow. Rings are computed in Go
 * (package sched) and hold only available backends with weight > 0, so the
 * datapath never has to skip entries except in wlc's scan, past overloaded
 * servers, and in sh's table, which keeps drained (weight 0) servers in
 * their buckets so that draining one moves only its own clients. */
#ifndef XLB_SCHED_H
#define XLB_SCHED_H

#include "maps.h"
#include "hash.h"
#include "parse.h"

/* hash_seed is shared by all directors of a cluster (set from Go). */
const volatile __u32 hash_seed = 0;

/* An address as one word for hashing: IPv4 (words 1-3 zero) hashes as
 * itself. */
static __always_inline __u32 fold(const __u32 a[4])
{
	return a[0] ^ a[1] ^ a[2] ^ a[3];
}

/* The real server at idx of svc's ring, if it is the service's own: a
 * service read while package maps rewrote it may pair one version's
 * ring_off with another's ring_len (see find_service()), which can
 * point past its ring into another's. Such a pick is refused (-1: the
 * packet is dropped, and retransmitted). */
static __always_inline __s64 ring_at(const struct svc_val *svc, __u32 idx)
{
	__u32 slot = svc->ring_off + idx;
	__u32 *id = bpf_map_lookup_elem(&rings, &slot);
	if (!id)
		return -1;
	__u32 bid = *id;
	struct backend *be = bpf_map_lookup_elem(&backends, &bid);
	if (!be || be->svc_id != svc->id || !(be->flags & XLB_BE_IN_USE))
		return -1;
	return bid;
}

/* Whether real server bid of svc has reached its connection limit
 * (IPVS's overloaded flag, which all its schedulers pass over). Services
 * without limits skip the lookup. */
static __always_inline int overloaded(const struct svc_val *svc, __u32 bid)
{
	if (!(svc->flags & XLB_SVC_THRESHOLDS))
		return 0;
	__u32 *o = bpf_map_lookup_elem(&backend_overload, &bid);
	return o && *o;
}

/* Whether real server bid is drained (weight 0): only sh's table holds
 * such servers. */
static __always_inline int drained(__u32 bid)
{
	struct backend *be = bpf_map_lookup_elem(&backends, &bid);
	return !be || be->weight == 0;
}

struct skip_ctx {
	const struct svc_val *svc;
	__u32 start;
	__u32 skipped;
	__s64 found;
};

static long skip_step(__u32 i, void *data)
{
	struct skip_ctx *c = data;
	/* start < ring_len and i < ring_len - 1: one wrap at most. */
	__u32 idx = c->start + 1 + i;
	if (idx >= c->svc->ring_len)
		idx -= c->svc->ring_len;
	__s64 id = ring_at(c->svc, idx);
	if (id < 0)
		return 1;
	if (overloaded(c->svc, (__u32)id) || drained((__u32)id))
		return 0;
	c->found = id;
	c->skipped = i + 1;
	return 1;
}

/* The first server of svc's ring after slot start that is neither
 * overloaded nor drained, and how many slots on it is; -1 when every one
 * is. Only run when the scheduler's own pick was one of those. */
static __always_inline __s64 next_unloaded(const struct svc_val *svc, __u32 start, __u32 *skipped)
{
	struct skip_ctx c = { .svc = svc, .start = start, .found = -1 };
	bpf_loop(svc->ring_len - 1, skip_step, &c, 0);
	*skipped = c.skipped;
	return c.found;
}

static __always_inline __s64 pick_rotating(const struct svc_val *svc)
{
	__u32 sid = svc->id;
	struct svc_state *st = bpf_map_lookup_elem(&svc_states, &sid);
	if (!st)
		return -1;
	/* One shared counter: rr alternates exactly even when flows arrive on
	 * different CPUs. The atomic add costs only on new flows. */
	__u64 n = __sync_fetch_and_add(&st->rr_next, 1);
	__u32 idx = (__u32)(n % svc->ring_len);
	__s64 id = ring_at(svc, idx);
	if (id < 0 || !overloaded(svc, (__u32)id))
		return id;
	__u32 skipped = 0;
	id = next_unloaded(svc, idx, &skipped);
	/* The rotation goes on after the server taken, as IPVS's rr moves
	 * its pointer there: else the one after an overloaded server would
	 * take its turns too. */
	if (id >= 0)
		__sync_fetch_and_add(&st->rr_next, skipped);
	return id;
}

static __always_inline __s64 pick_hashed(const struct svc_val *svc, const struct flow *f)
{
	__u32 port = (svc->flags & XLB_SVC_HASH_PORT) ? f->sport : 0;
	/* Only client fields and the shared seed: a service id is local to
	 * one director and would break cross-director agreement for mh. */
	__u32 h = jhash_3words(fold(f->saddr), port, f->proto, hash_seed);
	__u32 idx = h % svc->ring_len;
	__s64 id = ring_at(svc, idx);
	if (id < 0 || (!overloaded(svc, (__u32)id) && !(svc->sched == XLB_SCHED_SH && drained((__u32)id))))
		return id;
	/* The server the client hashes to is full, or drained (sh): the next
	 * one in the table takes the flow (sh-fallback, which xlb always
	 * applies). */
	__u32 skipped = 0;
	return next_unloaded(svc, idx, &skipped);
}

struct wlc_ctx {
	const struct svc_val *svc;
	__s64 best;
	__u64 best_overhead;
	__u64 best_weight;
};

/* A real server's load as IPVS's least-connection family weighs it:
 * wlc and lc count an active connection as 256 inactive ones; sed and nq
 * count the active ones plus the one to come. lc ignores weights. */
static __always_inline __u64 wlc_overhead(__u8 sched, __s64 active, __s64 inactive)
{
	__u64 a = active > 0 ? (__u64)active : 0;
	if (sched == XLB_SCHED_SED || sched == XLB_SCHED_NQ)
		return a + 1;
	return (a << 8) + (inactive > 0 ? (__u64)inactive : 0);
}

static long wlc_step(__u32 i, void *data)
{
	struct wlc_ctx *w = data;
	__s64 id = ring_at(w->svc, i);
	if (id < 0)
		return 1;
	__u32 key = (__u32)id;
	struct backend *be = bpf_map_lookup_elem(&backends, &key);
	struct backend_conns *bc = bpf_map_lookup_elem(&conn_counts, &key);
	if (!be || !bc)
		return 0;
	if (!(be->flags & XLB_BE_AVAILABLE) || be->weight == 0)
		return 0;
	/* Whether a server is overloaded matters only when it would be
	 * taken: most candidates of a long scan are not, and skip the lookup. */
	__u8 sched = w->svc->sched;
	if (sched == XLB_SCHED_NQ && bc->active <= 0) {
		/* nq: the first idle server, whatever its weight. */
		if (overloaded(w->svc, key))
			return 0;
		w->best = id;
		return 1;
	}
	__u64 overhead = wlc_overhead(sched, bc->active, bc->inactive);
	__u64 weight = sched == XLB_SCHED_LC ? 1 : be->weight;
	/* overhead/weight < best_overhead/best_weight, without division. */
	if ((w->best < 0 || overhead * w->best_weight < w->best_overhead * weight) && !overloaded(w->svc, key)) {
		w->best = id;
		w->best_overhead = overhead;
		w->best_weight = weight;
	}
	return 0;
}

static __always_inline __s64 pick_wlc(const struct svc_val *svc)
{
	struct wlc_ctx w = { .svc = svc, .best = -1 };
	__u32 n = svc->ring_len;
	if (n > XLB_MAX_WLC)
		n = XLB_MAX_WLC;
	bpf_loop(n, wlc_step, &w, 0);
	return w.best;
}

/* A pick that needs no state: the same packet fields always give the
 * same real server. Used for packets without a connection entry that are
 * not a flow's first (a consistent choice is all that can save them), for
 * new flows while the SYN-flood guard refuses inserts, and for fragments.
 * sh and mh keep their own client hash so these packets agree with the
 * flow's other packets. */
static __always_inline __s64 pick_stateless(const struct svc_val *svc, const struct flow *f)
{
	if (svc->ring_len == 0)
		return -1;
	if (svc->sched == XLB_SCHED_SH || svc->sched == XLB_SCHED_MH)
		return pick_hashed(svc, f);
	__u32 ports = ((__u32)f->sport << 16) | f->dport;
	__u32 h = jhash_3words(fold(f->saddr), fold(f->daddr) ^ ports, f->proto, hash_seed);
	return ring_at(svc, h % svc->ring_len);
}

/* Returns a backend id, or -1 when the service has none available. */
static __always_inline __s64 schedule(const struct svc_val *svc, const struct flow *f)
{
	if (svc->ring_len == 0)
		return -1;
	switch (svc->sched) {
	case XLB_SCHED_RR:
	case XLB_SCHED_WRR:
		return pick_rotating(svc);
	case XLB_SCHED_WLC:
	case XLB_SCHED_LC:
	case XLB_SCHED_SED:
	case XLB_SCHED_NQ:
		return pick_wlc(svc);
	case XLB_SCHED_SH:
	case XLB_SCHED_MH:
		return pick_hashed(svc, f);
	}
	return -1;
}

#endif
