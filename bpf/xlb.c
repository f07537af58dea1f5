//go:build ignore

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* xlb.c: the XDP director. A packet to a virtual service (VIP, port,
 * protocol) gets its destination MAC rewritten to the chosen real server's
 * and leaves through the same interface with XDP_TX (LVS "DR" mode); the
 * real server holds the VIP on lo and answers the client directly. Anything
 * else is XDP_PASS, untouched. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "consts.h"
#include "structs.h"
#include "maps.h"
#include "parse.h"
#include "sched.h"

/* The director's own MAC, written as the source of forwarded frames
 * (set by the loader from the interface). */
const volatile __u8 director_mac[6] = {};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline __u64 conn_timeout_ns(const struct svc_val *svc, __u8 proto, __u32 state)
{
	if (proto == IPPROTO_UDP)
		return svc->udp_sec * XLB_NSEC;
	if (state == XLB_CONN_FIN)
		return svc->tcpfin_sec * XLB_NSEC;
	return svc->tcp_sec * XLB_NSEC;
}

static __always_inline void conns_add(__u32 backend, __u32 state, __s64 delta)
{
	struct backend_conns *bc = bpf_map_lookup_elem(&conn_counts, &backend);
	if (!bc)
		return;
	if (state == XLB_CONN_ACTIVE)
		__sync_fetch_and_add(&bc->active, delta);
	else
		__sync_fetch_and_add(&bc->inactive, delta);
}

static __always_inline int closing(const struct flow4 *f)
{
	return f->proto == IPPROTO_TCP && (f->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST));
}

/* A persistence template sends a returning client to its earlier real
 * server while it is usable. IPVS keeps using weight-0 (quiesced) servers
 * unless expire_quiescent_template is set; we follow it. */
static __always_inline __s64 persist_lookup(const struct svc_val *svc, const struct flow4 *f, __u64 now)
{
	struct persist_key4 pk = { .svc_id = svc->id, .saddr = f->saddr };
	struct persist_val *pv = bpf_map_lookup_elem(&persist4, &pk);
	if (!pv)
		return -1;
	if (now - pv->last_seen > (__u64)svc->persist_sec * XLB_NSEC)
		return -1;
	__u32 id = pv->backend;
	struct backend *be = bpf_map_lookup_elem(&backends, &id);
	if (!be || !(be->flags & XLB_BE_AVAILABLE) || be->svc_id != svc->id)
		return -1;
	if (be->weight == 0 && (svc->flags & XLB_SVC_EXPIRE_QUIESCENT))
		return -1;
	pv->last_seen = now;
	return id;
}

static __always_inline void persist_store(const struct svc_val *svc, const struct flow4 *f, __u32 backend, __u64 now)
{
	struct persist_key4 pk = { .svc_id = svc->id, .saddr = f->saddr };
	struct persist_val pv = { .backend = backend, .last_seen = now };
	bpf_map_update_elem(&persist4, &pk, &pv, BPF_ANY);
}

/* Finds the backend for a flow: the connection table first, then
 * persistence, then the scheduler. Returns -1 when nothing is available. */
static __always_inline __s64 select_backend(const struct svc_val *svc, const struct flow4 *f, int *pass)
{
	struct conn_key4 key = {
		.saddr = f->saddr,
		.daddr = f->daddr,
		.sport = f->sport,
		.dport = f->dport,
		.proto = f->proto,
	};
	__u64 now = bpf_ktime_get_coarse_ns();
	struct conn_val *cv = bpf_map_lookup_elem(&conns4, &key);
	if (cv) {
		__u32 id = cv->backend;
		struct backend *be = bpf_map_lookup_elem(&backends, &id);
		int usable = be && (be->flags & XLB_BE_IN_USE) &&
			     ((be->flags & XLB_BE_AVAILABLE) || !(svc->flags & XLB_SVC_EXPIRE_NODEST));
		__u64 idle = now - cv->last_seen;
		if (usable && idle <= conn_timeout_ns(svc, f->proto, cv->state)) {
			if (cv->state == XLB_CONN_ACTIVE && closing(f)) {
				cv->state = XLB_CONN_FIN;
				conns_add(id, XLB_CONN_ACTIVE, -1);
				conns_add(id, XLB_CONN_FIN, 1);
				cv->last_seen = now;
			} else if (idle > XLB_TOUCH_NS) {
				cv->last_seen = now;
				if (svc->persist_sec) {
					struct persist_key4 pk = { .svc_id = svc->id, .saddr = f->saddr };
					struct persist_val *pv = bpf_map_lookup_elem(&persist4, &pk);
					if (pv)
						pv->last_seen = now;
				}
			}
			return id;
		}
		/* Expired or its real server is gone: the entry is rescheduled
		 * in place; give back its count first. */
		conns_add(id, cv->state, -1);
		count(usable ? XLB_STAT_CONN_EXPIRED : XLB_STAT_CONN_RESCHED);
	} else if (f->proto == IPPROTO_TCP && (f->tcp_flags & TCP_FLAG_RST)) {
		/* Scheduling a reset would only create a dead entry. */
		count(XLB_STAT_PASS_NO_CONN_RST);
		*pass = 1;
		return -1;
	}

	__s64 id = -1;
	if (svc->persist_sec) {
		id = persist_lookup(svc, f, now);
		if (id >= 0)
			count(XLB_STAT_PERSIST_HIT);
	}
	if (id < 0) {
		id = schedule(svc, f);
		if (id < 0)
			return -1;
		if (svc->persist_sec)
			persist_store(svc, f, id, now);
	}

	/* Mid-flow packets are scheduled too (IPVS sloppy_tcp): with a
	 * consistent scheduler a flow that moved here from another director or
	 * survived a restart without its entry keeps its real server. */
	struct conn_val nv = {
		.backend = id,
		.state = closing(f) ? XLB_CONN_FIN : XLB_CONN_ACTIVE,
		.last_seen = now,
	};
	if (bpf_map_update_elem(&conns4, &key, &nv, BPF_ANY)) {
		count(XLB_STAT_CONN_INSERT_FAIL);
	} else {
		conns_add(id, nv.state, 1);
		count(XLB_STAT_CONN_NEW);
		__u32 bid = id;
		struct backend_stats *bs = bpf_map_lookup_elem(&backend_counters, &bid);
		if (bs)
			bs->conns += 1;
	}
	return id;
}

SEC("xdp")
int xlb_main(struct xdp_md *ctx)
{
	struct cursor c;
	struct ethhdr *eth = NULL;
	cursor_init(&c, ctx);

	__be16 proto = parse_eth(&c, &eth);
	if (!eth || !proto) {
		count(XLB_STAT_DROP_MALFORMED_L2);
		return XDP_DROP;
	}
	if (proto != bpf_htons(ETH_P_IP)) {
		count(XLB_STAT_PASS_NON_IP);
		return XDP_PASS;
	}

	struct flow4 f = {};
	switch (parse_ipv4(&c, &f)) {
	case PARSE_OK:
		break;
	case PARSE_TRUNCATED_L3:
		count(XLB_STAT_DROP_MALFORMED_L3);
		return XDP_DROP;
	case PARSE_TRUNCATED_L4:
		count(XLB_STAT_DROP_MALFORMED_L4);
		return XDP_DROP;
	case PARSE_FRAGMENT:
		count(XLB_STAT_PASS_FRAGMENT);
		return XDP_PASS;
	default:
		count(XLB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}

	struct svc_key sk = {
		.addr = { f.daddr },
		.port = f.dport,
		.proto = f.proto,
		.family = 4,
	};
	struct svc_val *svc = bpf_map_lookup_elem(&services, &sk);
	if (!svc) {
		count(XLB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}

	int pass = 0;
	__s64 id = select_backend(svc, &f, &pass);
	if (pass)
		return XDP_PASS;
	if (id < 0) {
		count(XLB_STAT_DROP_NO_BACKEND);
		return XDP_DROP;
	}
	__u32 bid = id;
	struct backend *be = bpf_map_lookup_elem(&backends, &bid);
	if (!be) {
		count(XLB_STAT_DROP_NO_BACKEND);
		return XDP_DROP;
	}

	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	/* Element-wise volatile reads: a memcpy from a cast-away-volatile
	 * pointer would let clang fold the (then zero) constant. */
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++)
		eth->h_source[i] = director_mac[i];

	struct backend_stats *bs = bpf_map_lookup_elem(&backend_counters, &bid);
	if (bs) {
		bs->packets += 1;
		bs->bytes += ctx->data_end - ctx->data;
	}
	/* No global tx counter: it is the sum of the per-backend packets,
	 * and one less per-CPU lookup on the hottest path. */
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
