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
#include "flowtab.h"
#include "tunnel.h"
#include <linux/pkt_cls.h>

/* The director's own MAC, written as the source of forwarded frames
 * (set by the loader from the interface). */
const volatile __u8 director_mac[6] = {};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

/* Is the frame addressed to this director: its own MAC, or a VRRP virtual
 * MAC (00:00:5e:00:01:VRID for IPv4, :02: for IPv6; use_vmac puts the VIPs
 * behind one)? A switch floods unicast frames it has no port for to every
 * port, and a promiscuous interface (tcpdump, a bridge, many macvlans)
 * hands XDP frames for other hosts: forwarding those too would send a
 * backup director's copy of a client's SYN to a real server beside the
 * master's. The kernel drops them (PACKET_OTHERHOST); so they are passed
 * to it. An unset director_mac (tests loading the program without one)
 * checks nothing. */
static __always_inline int for_this_director(const struct ethhdr *eth)
{
	const __u8 *d = eth->h_dest;
	__u32 mine_lo = director_mac[0] | director_mac[1] << 8 | director_mac[2] << 16 | (__u32)director_mac[3] << 24;
	__u16 mine_hi = director_mac[4] | director_mac[5] << 8;
	if (!mine_lo && !mine_hi)
		return 1;
	__u32 lo = d[0] | d[1] << 8 | d[2] << 16 | (__u32)d[3] << 24;
	__u16 hi = d[4] | d[5] << 8;
	if (lo == mine_lo && hi == mine_hi)
		return 1;
	return d[0] == 0x00 && d[1] == 0x00 && d[2] == 0x5e && d[3] == 0x00 && (d[4] == 0x01 || d[4] == 0x02);
}

static __always_inline struct settings *get_settings(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&settings_map, &zero);
}

/* A flow's idle timeout in flow-clock ticks. */
static __always_inline __u32 conn_timeout(const struct svc_val *svc, __u8 proto, __u32 state)
{
	__u64 sec = svc->tcp_sec;
	if (proto == IPPROTO_UDP)
		sec = svc->udp_sec;
	else if (state == XLB_CONN_FIN)
		sec = svc->tcpfin_sec;
	else if (state == XLB_CONN_SYN && sec > XLB_SYN_RECV_SEC)
		sec = XLB_SYN_RECV_SEC; /* a half-open flow never outlives an open one */
	return flow_ticks(sec * XLB_NSEC);
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

/* Sets real server bid's overloaded flag once a new flow brings its
 * connections (active and inactive, as IPVS counts them) to its upper
 * limit. Flows scheduled on other CPUs at the same moment may pass it by
 * one each, as in IPVS. */
static __always_inline void mark_overload(__u32 bid)
{
	struct backend_limits *l = bpf_map_lookup_elem(&conn_limits, &bid);
	if (!l || !l->upper)
		return;
	struct backend_conns *bc = bpf_map_lookup_elem(&conn_counts, &bid);
	__u32 *o = bpf_map_lookup_elem(&backend_overload, &bid);
	if (bc && o && bc->active + bc->inactive >= (__s64)l->upper)
		*o = 1;
}

static __always_inline int closing(const struct flow *f)
{
	return f->proto == IPPROTO_TCP && (f->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST));
}

/* The state a flow in state moves to with packet f: IPVS's input-only
 * TCP states, as a DR director sees only the client's side. A SYN opens
 * SYN_RECV (inactive, 60 s: a scan or an unanswered connect weighs 1 in
 * wlc and goes within a minute), the client's ACK of the handshake makes
 * it ESTABLISHED (active), a FIN or RST from the client closes it. */
static __always_inline __u32 next_state(__u32 state, const struct flow *f)
{
	if (closing(f))
		return XLB_CONN_FIN;
	if (state == XLB_CONN_SYN && (f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_ACK)
		return XLB_CONN_ACTIVE;
	return state;
}

/* A TCP segment with none of SYN, ACK and RST is no packet of any
 * connection: a handshake starts with SYN, every segment after it carries
 * ACK (a synchronized TCP drops one with ACK off, RFC 9293 3.10.7.4), and
 * a reset is RST. Flags none, FIN, PSH or URG alone, FIN|PSH|URG without
 * ACK ("xmas") are scans or garbage. A later fragment is never one: it
 * carries no TCP header, so its flags are unknown, not absent
 * (frag_follow leaves them 0). */
static __always_inline int tcp_no_ack(const struct flow *f)
{
	return f->proto == IPPROTO_TCP && !(f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) &&
	       f->frag != XLB_FRAG_LATER;
}

/* One connection table per family keeps IPv4 entries at 16-byte keys
 * (under 100 bytes a flow); these helpers pick the table. */
union conn_key {
	struct conn_key4 k4;
	struct conn_key6 k6;
};

union persist_key {
	struct persist_key4 k4;
	struct persist_key6 k6;
};

static __always_inline void conn_key_of(const struct flow *f, union conn_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	if (f->family == 4) {
		k->k4.saddr = f->saddr[0];
		k->k4.daddr = f->daddr[0];
		k->k4.sport = f->sport;
		k->k4.dport = f->dport;
		k->k4.proto = f->proto;
	} else {
		__builtin_memcpy(k->k6.saddr, f->saddr, 16);
		__builtin_memcpy(k->k6.daddr, f->daddr, 16);
		k->k6.sport = f->sport;
		k->k6.dport = f->dport;
		k->k6.proto = f->proto;
	}
}

/* IPv6 flows live in an LRU hash (their 44-byte keys would leave a
 * bucket of flowtab.h few ways). A separate function on purpose: written
 * inline, clang merges it with other lookups into one whose map is chosen
 * at run time, and the verifier can then no longer inline the lookup. */
static __noinline int conn_find6(struct conn_key6 *k, struct conn_ref *r)
{
	struct conn_val *v = bpf_map_lookup_elem(&conns6, k);
	if (!v)
		return CONN_NONE;
	r->backend = v->backend;
	r->state = v->state;
	r->expires = v->expires;
	return CONN_FOUND;
}

/* Finds the flow's entry: CONN_FOUND (r says where and what it holds),
 * CONN_NONE, or CONN_BUSY (IPv4: its bucket stayed locked). */
static __always_inline int conn_find(const struct flow *f, union conn_key *k, struct conn_ref *r, __u32 now)
{
	if (f->family == 4)
		return xlb_flow4_find(&k->k4, r, now);
	r->now = now;
	return conn_find6(&k->k6, r);
}

/* Records the flow with this backend, state and expiry: in place when r
 * found it. Returns 0, 1 when a live flow was evicted for it, or a
 * negative value when it could not be recorded. */
static __always_inline int conn_put(const struct flow *f, union conn_key *k, struct conn_ref *r, __u32 backend,
				    __u32 state, __u32 expires)
{
	if (f->family == 4)
		return flow4_put(r, &k->k4, backend, state, expires);
	/* IPv6 writes the LRU entry (in place when it exists). */
	struct conn_val v = { .backend = backend, .state = state, .expires = expires };
	return bpf_map_update_elem(&conns6, &k->k6, &v, BPF_ANY) ? -1 : 0;
}

static __noinline struct persist_val *persist_lookup6(struct persist_key6 *k)
{
	return bpf_map_lookup_elem(&persist6, k);
}

/* Word w (0-3, network order) of a mask of plen leading bits; plen 0
 * keeps the whole address (no persistence granularity set). */
static __always_inline __u32 prefix_word(__u32 plen, __u32 w)
{
	__s32 bits = plen ? (__s32)plen - 32 * (__s32)w : 32;
	if (bits >= 32)
		return 0xffffffff;
	if (bits <= 0)
		return 0;
	return bpf_htonl(0xffffffffu << (32 - bits));
}

/* The client's persistence template: by its address, or by its prefix of
 * persist_plen bits (ipvsadm -M, keepalived persistence_granularity). */
static __always_inline struct persist_val *persist_get(const struct svc_val *svc, const struct flow *f, union persist_key *k)
{
	__u32 plen = svc->persist_plen;
	__builtin_memset(k, 0, sizeof(*k));
	if (f->family == 4) {
		k->k4.svc_id = svc->id;
		k->k4.saddr = f->saddr[0] & prefix_word(plen, 0);
		return bpf_map_lookup_elem(&persist4, &k->k4);
	}
	k->k6.svc_id = svc->id;
#pragma unroll
	for (int w = 0; w < 4; w++)
		k->k6.saddr[w] = f->saddr[w] & prefix_word(plen, w);
	return persist_lookup6(&k->k6);
}

/* SYN-flood guard: a per-CPU token bucket on connection-table inserts.
 * Without a token the flow is scheduled statelessly and not inserted, so a
 * flood of random sources cannot push established flows out of the LRU
 * table. Per CPU, so the packet path shares no counter. */
static __always_inline int guard_allows_insert(const struct settings *st, __u64 now)
{
	if (!st || st->syn_rate == 0)
		return 1;
	__u32 zero = 0;
	struct guard_state *g = bpf_map_lookup_elem(&guard_states, &zero);
	if (!g)
		return 1;
	__u64 cap = (__u64)st->syn_burst * XLB_NSEC;
	__u64 elapsed = since(now, g->last);
	if (elapsed >= XLB_NSEC)
		g->tokens = cap; /* a second is enough to refill any bucket we allow */
	else
		g->tokens += elapsed * st->syn_rate;
	if (g->tokens > cap)
		g->tokens = cap;
	g->last = now;
	if (g->tokens < XLB_NSEC)
		return 0;
	g->tokens -= XLB_NSEC;
	return 1;
}

/* Fills an IPv6 flow event. A function of its own because its prototype
 * is what puts struct flow_event6 in BTF for bpf2go (abi_info, which
 * does so for the other types, is a pinned value and must keep its size). */
static __noinline void flow_event6_fill(struct flow_event6 *ev, const struct conn_key6 *key, const struct backend *be)
{
	ev->key = *key;
	__builtin_memcpy(ev->backend_addr, be->addr, sizeof(ev->backend_addr));
	ev->backend_port = be->port;
	ev->family = be->family;
	ev->pad = 0;
}

/* Publishes a new IPv6 flow. Out of line, so the IPv4 path's code stays
 * as it was and clang cannot merge the two rings' reserve calls into one
 * whose map is chosen at run time. */
static __noinline void publish_flow6(const struct conn_key6 *key, __u32 backend)
{
	struct backend *be = bpf_map_lookup_elem(&backends, &backend);
	if (!be)
		return;
	struct flow_event6 *ev = bpf_ringbuf_reserve(&flow_events6, sizeof(*ev), 0);
	if (!ev) {
		count(XLB_STAT_FLOW_EVENT_LOST);
		return;
	}
	flow_event6_fill(ev, key, be);
	__u64 wake = bpf_ringbuf_query(&flow_events6, BPF_RB_AVAIL_DATA) >= XLB_FLOW_EVENT_BATCH * sizeof(*ev)
			     ? BPF_RB_FORCE_WAKEUP
			     : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(ev, wake);
}

/* Publishes a new flow for flow sharing between directors. */
static __always_inline void publish_flow(const struct settings *st, const struct flow *f, const union conn_key *key, __u32 backend)
{
	if (!st || !(st->flags & XLB_SET_FLOW_EVENTS))
		return;
	if (f->family != 4) {
		publish_flow6(&key->k6, backend);
		return;
	}
	struct backend *be = bpf_map_lookup_elem(&backends, &backend);
	if (!be)
		return;
	struct flow_event *ev = bpf_ringbuf_reserve(&flow_events, sizeof(*ev), 0);
	if (!ev) {
		count(XLB_STAT_FLOW_EVENT_LOST);
		return;
	}
	ev->key = key->k4;
	__builtin_memcpy(ev->backend_addr, be->addr, sizeof(ev->backend_addr));
	ev->backend_port = be->port;
	ev->family = be->family;
	ev->pad = 0;
	/* Waking the reader per event costs microseconds; wake it once a batch
	 * is waiting (it also polls every few milliseconds for the rest). */
	__u64 wake = bpf_ringbuf_query(&flow_events, BPF_RB_AVAIL_DATA) >= XLB_FLOW_EVENT_BATCH * sizeof(*ev)
			     ? BPF_RB_FORCE_WAKEUP
			     : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(ev, wake);
}

/* A persistence template sends a returning client to its earlier real
 * server while it is usable. IPVS keeps using weight-0 (quiesced) servers
 * unless expire_quiescent_template is set; we follow it. */
static __always_inline __s64 persist_lookup(const struct svc_val *svc, const struct flow *f, __u64 now)
{
	union persist_key pk;
	struct persist_val *pv = persist_get(svc, f, &pk);
	if (!pv)
		return -1;
	if (since(now, pv->last_seen) > (__u64)svc->persist_sec * XLB_NSEC)
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

static __always_inline void persist_store(const struct svc_val *svc, const struct flow *f, __u32 backend, __u64 now)
{
	union persist_key pk;
	struct persist_val pv = { .backend = backend, .last_seen = now };
	persist_get(svc, f, &pk);
	if (f->family == 4)
		bpf_map_update_elem(&persist4, &pk.k4, &pv, BPF_ANY);
	else
		bpf_map_update_elem(&persist6, &pk.k6, &pv, BPF_ANY);
}

/* Counts a connection of real server bid (ipvsadm's Conns). */
static __always_inline void count_backend_conn(__u32 bid)
{
	struct backend_stats *bs = bpf_map_lookup_elem(&backend_counters, &bid);
	if (bs)
		bs->conns += 1;
}

/* A flow is touched (its expiry pushed back) when it was last touched
 * more than XLB_TOUCH_TICKS ago. */
static __always_inline int needs_touch(__u32 timeout, const struct conn_ref *r, __u32 now)
{
	return (__s32)(now + timeout - r->expires) > (__s32)XLB_TOUCH_TICKS;
}

/* Pushes a flow's expiry back (and refreshes its client's persistence
 * template, which lives as long as the client's flows do). A busy bucket
 * skips it: the next packet touches it. */
static __always_inline void touch(const struct svc_val *svc, const struct flow *f, union conn_key *k,
				  struct conn_ref *r, __u32 timeout, __u32 now, __u64 tns)
{
	conn_put(f, k, r, r->backend, r->state, now + timeout);
	if (svc->persist_sec) {
		union persist_key pk;
		struct persist_val *pv = persist_get(svc, f, &pk);
		if (pv)
			pv->last_seen = tns;
	}
}

static __always_inline void frag_key_of(const struct flow *f, struct frag_track_key *k)
{
	__builtin_memcpy(k->saddr, f->saddr, sizeof(k->saddr));
	__builtin_memcpy(k->daddr, f->daddr, sizeof(k->daddr));
	k->id = f->frag_id;
	k->proto = f->frag_proto;
	k->family = f->family;
}

/* Refuses a tcp_no_ack() segment no live entry knows. Placed like a
 * mid-flow packet it would be recorded as an active flow for the whole TCP
 * timeout and reach a real server that can only answer it with a reset.
 * A refused first fragment's ports are forgotten too, or the rest of its
 * datagram would follow them and be recorded as the flow refused here. */
static __always_inline int drop_no_ack(const struct flow *f)
{
	if (f->frag == XLB_FRAG_FIRST) {
		struct frag_track_key k = {};
		frag_key_of(f, &k);
		bpf_map_delete_elem(&frag_track, &k);
	}
	count(XLB_STAT_DROP_TCP_NO_ACK);
	return XDP_DROP;
}

/* Finds the backend for a flow: its connection-table entry (r, when
 * found), then persistence, then the scheduler. Returns -1 when nothing
 * is available, or sets *verdict to the XDP action for a packet that is
 * to be neither scheduled nor forwarded. */
static __always_inline __s64 select_backend(const struct svc_val *svc, const struct flow *f, union conn_key *kp,
					     struct conn_ref *r, int found, __u64 tns, int *verdict)
{
	__u32 now = flow_ticks(tns);
	if (found == CONN_FOUND) {
		__u32 id = r->backend;
		struct backend *be = bpf_map_lookup_elem(&backends, &id);
		int usable = be && (be->flags & XLB_BE_IN_USE) &&
			     ((be->flags & XLB_BE_AVAILABLE) || !(svc->flags & XLB_SVC_EXPIRE_NODEST));
		int expired = tick_after(now, r->expires);
		if (usable && !expired) {
			__u32 next = next_state(r->state, f);
			if (next != r->state) {
				if (conn_put(f, kp, r, id, next, now + conn_timeout(svc, f->proto, next)) >= 0) {
					conns_add(id, r->state, -1);
					conns_add(id, next, 1);
				}
			} else {
				__u32 timeout = conn_timeout(svc, f->proto, r->state);
				if (needs_touch(timeout, r, now))
					touch(svc, f, kp, r, timeout, now, tns);
			}
			return id;
		}
		/* An expired entry is as good as none (the sweep may already
		 * have removed it): a segment without ACK does not revive it. */
		if (expired && tcp_no_ack(f)) {
			*verdict = drop_no_ack(f);
			return -1;
		}
		/* Expired or its real server is gone: the entry is rescheduled
		 * in place. A live entry gives back its count; an expired one
		 * no longer counts (the sweep counts live entries only). */
		if (!expired)
			conns_add(id, r->state, -1);
		count(usable ? XLB_STAT_CONN_EXPIRED : XLB_STAT_CONN_RESCHED);
	} else if (f->proto == IPPROTO_TCP && (f->tcp_flags & TCP_FLAG_RST)) {
		/* Scheduling a reset would only create a dead entry. */
		count(XLB_STAT_PASS_NO_CONN_RST);
		*verdict = XDP_PASS;
		return -1;
	} else if (tcp_no_ack(f)) {
		/* The new-flow path's one added test: a valid SYN or mid-flow
		 * segment never takes it. The established path never comes
		 * here, whatever its flags: the real server decides. */
		*verdict = drop_no_ack(f);
		return -1;
	}

	struct settings *st = get_settings();
	/* One-packet scheduling (ipvsadm -o): a UDP datagram is scheduled on
	 * its own and leaves no entry (DNS: each query is a "connection"). */
	int ops = (svc->flags & XLB_SVC_OPS) && f->proto == IPPROTO_UDP;
	int may_insert = !ops && found != CONN_BUSY && guard_allows_insert(st, tns);
	/* A TCP packet that is not a SYN is mid-flow: its flow began on
	 * another director, before a restart without pins, or during a flood.
	 * Only a stateless pick can agree with where its SYN went. (IPVS
	 * sloppy_tcp schedules such packets too.) One with none of SYN, ACK,
	 * RST never gets here: drop_no_ack() refused it. */
	int midflow = f->proto == IPPROTO_TCP && !(f->tcp_flags & TCP_FLAG_SYN);
	__s64 id = -1;
	if (svc->persist_sec) {
		id = persist_lookup(svc, f, tns);
		if (id >= 0)
			count(XLB_STAT_PERSIST_HIT);
	}
	if (id < 0) {
		id = (midflow || (!may_insert && !ops)) ? pick_stateless(svc, f) : schedule(svc, f);
		if (id < 0)
			return -1;
		if (svc->persist_sec && (may_insert || ops))
			persist_store(svc, f, id, tns);
	}
	if (ops) {
		count_backend_conn(id);
		return id;
	}
	if (!may_insert) {
		if (found != CONN_BUSY)
			count(XLB_STAT_SYN_GUARD);
		return id;
	}

	/* A SYN opens SYN_RECV, a mid-flow segment (sloppy) ESTABLISHED. */
	__u32 state = next_state(f->proto == IPPROTO_TCP && (f->tcp_flags & TCP_FLAG_SYN) ? XLB_CONN_SYN : XLB_CONN_ACTIVE, f);
	int put = conn_put(f, kp, r, id, state, now + conn_timeout(svc, f->proto, state));
	if (put < 0) {
		/* Not recorded: the flow's later packets will be placed
		 * statelessly, so this one must be too. */
		count(XLB_STAT_CONN_INSERT_FAIL);
		return svc->persist_sec ? id : pick_stateless(svc, f);
	}
	if (put > 0)
		count(XLB_STAT_CONN_EVICTED);
	conns_add(id, state, 1);
	count(XLB_STAT_CONN_NEW);
	__u32 bid = id;
	if (svc->flags & XLB_SVC_THRESHOLDS)
		mark_overload(bid);
	count_backend_conn(bid);
	publish_flow(st, f, kp, bid);
	return id;
}

static __always_inline void count_backend(__u32 bid, __u64 bytes)
{
	struct backend_stats *bs = bpf_map_lookup_elem(&backend_counters, &bid);
	if (bs) {
		bs->packets += 1;
		bs->bytes += bytes;
	}
}

/* The bytes of the frame at eth from its IP header on: what IPVS counts
 * (InBytes is skb->len at the IP layer), so xlb's byte counters read as
 * ipvsadm's do, without the Ethernet header or the one VLAN tag the
 * parser takes. */
static __always_inline __u64 ip_bytes(const struct xdp_md *ctx, const struct ethhdr *eth)
{
	__u64 len = ctx->data_end - ctx->data;
	__u64 l2 = sizeof(*eth);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		l2 += 4;
	return len > l2 ? len - l2 : 0;
}

/* The form real server be is tunnelled to in (enum tun_kind). */
static __always_inline int tun_kind(const struct backend *be)
{
	return be->flags & XLB_BE_TUN_GRE ? TUN_GRE : be->flags & XLB_BE_TUN_GUE ? TUN_GUE : TUN_IPIP;
}

/* The end both tunnels share: encapsulate toward the real server
 * through its next hop (be->mac), count, send. */
static __always_inline int send_tunnelled(struct xdp_md *ctx, const struct settings *st, struct backend *be, __u32 bid)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end) {
		count(XLB_STAT_DROP_TUN); /* parsed before: cannot happen */
		return XDP_DROP;
	}
	__u64 bytes = ip_bytes(ctx, eth);
	__u8 next_hop[ETH_ALEN];
	__builtin_memcpy(next_hop, be->mac, ETH_ALEN);
	int err;
	if (be->family == 6 && (be->flags & XLB_BE_TUN_GRE))
		err = tunnel_ip6(ctx, st->tun_src6, be->addr, next_hop, director_mac, TUN_GRE, 0);
	else if (be->family == 6 && (be->flags & XLB_BE_TUN_GUE))
		err = tunnel_ip6(ctx, st->tun_src6, be->addr, next_hop, director_mac, TUN_GUE, be->tun_port);
	else if (be->family == 6)
		err = tunnel_ip6(ctx, st->tun_src6, be->addr, next_hop, director_mac, TUN_IPIP, 0);
	else if (be->flags & XLB_BE_TUN_GRE)
		err = tunnel_ip4(ctx, st->tun_src, be->addr[0], next_hop, director_mac, TUN_GRE, 0);
	else if (be->flags & XLB_BE_TUN_GUE)
		err = tunnel_ip4(ctx, st->tun_src, be->addr[0], next_hop, director_mac, TUN_GUE, be->tun_port);
	else
		err = tunnel_ip4(ctx, st->tun_src, be->addr[0], next_hop, director_mac, TUN_IPIP, 0);
	if (err < 0) {
		count(XLB_STAT_DROP_TUN);
		return XDP_DROP;
	}
	count(XLB_STAT_TUN_TX);
	count_backend(bid, bytes);
	return XDP_TX;
}

/* TUN over IPv6: wrap in IP6IP6 to the real server through its next hop
 * (be->mac); a packet that would not fit the path gets an ICMPv6 packet
 * too big back (IPv6 has no DF: routers never fragment). */
static __always_inline int forward_tunnel6(struct xdp_md *ctx, struct ethhdr *eth, const struct settings *st,
					   struct backend *be, __u32 bid)
{
	void *end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > end || !(st->tun_src6[0] | st->tun_src6[1] | st->tun_src6[2] | st->tun_src6[3])) {
		count(XLB_STAT_DROP_TUN);
		return XDP_DROP;
	}
	__u32 hlen = TUN6_HLEN(tun_kind(be));
	__u32 need = ntohs_bounded(ip6->payload_len) + sizeof(struct ipv6hdr) + hlen;
	if (st->tun_mtu && need > st->tun_mtu) {
		/* A reported MTU below IPv6's minimum would not be honoured
		 * (RFC 8201): such a path cannot carry the tunnel; dropped. */
		if (st->tun_mtu >= IP6_MIN_MTU + hlen && ptb_allowed(ip6) &&
		    icmp6_packet_too_big(ctx, st->tun_mtu - hlen, director_mac) == 0) {
			count(XLB_STAT_TUN_FRAG_NEEDED);
			return XDP_TX;
		}
		count(XLB_STAT_DROP_TUN);
		return XDP_DROP;
	}
	return send_tunnelled(ctx, st, be, bid);
}

/* TUN: wrap in IPIP (IPv4) or IP6IP6 (IPv6) to the real server through
 * its next hop (be->mac). Untagged frames only; the packet's family must
 * be the real server's. A function of its own (not inlined): it is large,
 * and forward() is inlined at every place that sends a packet. */
static __noinline int forward_tunnel(struct xdp_md *ctx, __u32 bid)
{
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	struct backend *be = bpf_map_lookup_elem(&backends, &bid);
	if (!be)
		return XDP_DROP;
	struct settings *st = get_settings();
	struct iphdr *ip = (void *)(eth + 1);
	if (st && be->family == 6 && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return forward_tunnel6(ctx, eth, st, be, bid);
	if (!st || !st->tun_src || be->family != 4 || eth->h_proto != bpf_htons(ETH_P_IP) || (void *)(ip + 1) > end) {
		count(XLB_STAT_DROP_TUN);
		return XDP_DROP;
	}
	__u32 hlen = TUN4_HLEN(tun_kind(be));
	__u32 need = bpf_ntohs(ip->tot_len) + hlen;
	if (st->tun_mtu && need > st->tun_mtu) {
		if ((ip->frag_off & bpf_htons(IP_DF)) &&
		    icmp_frag_needed(ctx, st->tun_mtu - hlen, director_mac) == 0) {
			count(XLB_STAT_TUN_FRAG_NEEDED);
			return XDP_TX;
		}
		count(XLB_STAT_DROP_TUN);
		return XDP_DROP;
	}
	return send_tunnelled(ctx, st, be, bid);
}

/* Sends the frame to real server bid (its slot be): DR rewrites the MACs,
 * TUN encapsulates. */
static __always_inline int forward_to(struct xdp_md *ctx, struct ethhdr *eth, const struct backend *be, __u32 bid)
{
	if (be->flags & XLB_BE_TUNNEL)
		return forward_tunnel(ctx, bid);
	eth_address(eth, be->mac, director_mac);

	/* No global tx counter: it is the sum of the per-backend packets,
	 * and one less per-CPU lookup on the hottest path. */
	count_backend(bid, ip_bytes(ctx, eth));
	return XDP_TX;
}

/* Sends the frame to real server id, or drops it when there is none. */
static __always_inline int forward(struct xdp_md *ctx, struct ethhdr *eth, __s64 id)
{
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
	return forward_to(ctx, eth, be, bid);
}

/* The VIP filter's bucket of an address (its words as they sit in
 * memory); package maps computes the same. */
static __always_inline __u32 vip_bucket(const __u32 a[4])
{
	return ((a[0] ^ a[1] ^ a[2] ^ a[3]) * 0x9e3779b1u) >> 20;
}

/* Can this packet be for a virtual service? False positives only cost the
 * lookups they were meant to save. */
static __always_inline int maybe_service(const struct flow *f)
{
	__u32 zero = 0;
	struct svc_filter *sf = bpf_map_lookup_elem(&svc_filter_map, &zero);
	if (!sf)
		return 1;
	__u32 p = bpf_ntohs(f->dport);
	__u32 b = vip_bucket(f->daddr);
	return (sf->ports[(p >> 6) & 1023] >> (p & 63)) & (sf->vips[(b >> 6) & 63] >> (b & 63)) & 1;
}

static __always_inline int svc_matches(const struct svc_key *k, const struct flow *f)
{
	return k->addr[0] == f->daddr[0] && k->addr[1] == f->daddr[1] && k->addr[2] == f->daddr[2] &&
	       k->addr[3] == f->daddr[3] && k->port == f->dport && k->proto == f->proto && k->family == f->family;
}

/* The service slot of a packet's (VIP, port, protocol); package maps
 * computes the same. */
static __always_inline __u32 svc_slot(const struct flow *f)
{
	__u32 h = (f->daddr[0] ^ f->daddr[1] ^ f->daddr[2] ^ f->daddr[3]) ^
		  ((__u32)f->dport | (__u32)f->proto << 16 | (__u32)f->family << 24);
	return (h * 0x9e3779b1u) >> 20; /* 12 bits: XLB_SVC_SLOTS */
}

/* Finds the packet's service: through its slot and the by-id index (two
 * array reads the verifier inlines), else in the services hash (a
 * hashed key and a bucket walk: ~20 ns more). The index entry is the
 * hash's value written a step earlier by package maps; a read racing
 * that write may see a torn ring_off/ring_len, which ring_at() catches
 * by checking the real server it reads belongs to the service. */
static __always_inline const struct svc_val *find_service(const struct flow *f)
{
	__u32 slot = svc_slot(f);
	__u32 *sid = bpf_map_lookup_elem(&svc_slots, &slot);
	if (sid && *sid) {
		__u32 id = *sid - 1;
		struct svc_entry *se = bpf_map_lookup_elem(&svc_index, &id);
		if (se && svc_matches(&se->key, f))
			return &se->val;
	}
	struct svc_key sk = {
		.port = f->dport,
		.proto = f->proto,
		.family = f->family,
	};
	__builtin_memcpy(sk.addr, f->daddr, sizeof(sk.addr));
	return bpf_map_lookup_elem(&services, &sk);
}

/* The established-flow path: a packet of a flow the table knows. It checks
 * what the full path would (the flow's real server is in use and still
 * belongs to the service this packet is for, it may keep its flows, the
 * entry has not idled out) but finds the service through the real server's
 * slot instead of the services hash. Returns the XDP action, or -1 to leave
 * the packet to the full path, which then decides the same way it always
 * has. FIN and RST packets always take the full path: they change the
 * flow's state and the wlc counts. */
static __always_inline int forward_established(struct xdp_md *ctx, struct ethhdr *eth, const struct flow *f,
					       union conn_key *k, struct conn_ref *r, __u64 tns)
{
	__u32 bid = r->backend;
	struct backend *be = bpf_map_lookup_elem(&backends, &bid);
	if (!be || !(be->flags & XLB_BE_IN_USE))
		return -1;
	__u32 sid = be->svc_id;
	struct svc_entry *se = bpf_map_lookup_elem(&svc_index, &sid);
	if (!se || !svc_matches(&se->key, f))
		return -1;
	const struct svc_val *svc = &se->val;
	if (!(be->flags & XLB_BE_AVAILABLE) && (svc->flags & XLB_SVC_EXPIRE_NODEST))
		return -1;
	__u32 now = flow_ticks(tns);
	if (tick_after(now, r->expires))
		return -1;
	__u32 timeout = conn_timeout(svc, f->proto, r->state);
	if (needs_touch(timeout, r, now))
		touch(svc, f, k, r, timeout, now, tns);
	return forward_to(ctx, eth, be, bid);
}

/* How long a first fragment's ports wait for the rest of its datagram, in
 * seconds (loader.Options.FragmentTimeout; by default XLB_FRAG_TRACK_SEC). */
const volatile __u32 frag_track_sec = XLB_FRAG_TRACK_SEC;

/* A first fragment to a VIP leaves its ports for the rest of its datagram
 * (IPVS reassembles before it schedules; xlb cannot, so it remembers). */
static __always_inline void frag_remember(const struct flow *f, __u64 tns)
{
	struct frag_track_key k = {};
	frag_key_of(f, &k);
	struct frag_ports v = {
		.sport = f->sport, .dport = f->dport, .proto = f->proto,
		.expires = flow_ticks(tns + (__u64)frag_track_sec * XLB_NSEC),
	};
	bpf_map_update_elem(&frag_track, &k, &v, BPF_ANY);
}

/* A later fragment takes the ports its first fragment left, and is then
 * forwarded as a packet of that flow: to the real server the flow's other
 * packets go to. Returns 0 when its first fragment was not seen. */
static __always_inline int frag_follow(struct flow *f)
{
	struct frag_track_key k = {};
	frag_key_of(f, &k);
	struct frag_ports *v = bpf_map_lookup_elem(&frag_track, &k);
	if (!v || tick_after(flow_ticks(now_ns()), v->expires))
		return 0;
	f->sport = v->sport;
	f->dport = v->dport;
	f->proto = v->proto;
	f->tcp_flags = 0; /* a later fragment carries no flags to act on */
	return 1;
}

/* A later fragment whose first fragment was not seen (it came first, or
 * went elsewhere) carries no ports, so it is placed by its 3-tuple
 * (sh/mh: by the service's own client hash), never by a port read from
 * the wrong bytes. Only when one service of the protocol exists on the
 * VIP is the service known. */
static __always_inline int handle_fragment(struct xdp_md *ctx, struct ethhdr *eth, struct flow *f)
{
	if (f->family != 4) {
		/* IPv6 fragments: the upper protocol is known only from the
		 * first; passed (and counted) rather than guessed. */
		count(XLB_STAT_PASS_FRAGMENT);
		return XDP_PASS;
	}
	struct frag_key fk = { .addr = { f->daddr[0] }, .proto = f->proto, .family = 4 };
	struct svc_key *sk = bpf_map_lookup_elem(&frag_services, &fk);
	struct svc_val *svc = sk ? bpf_map_lookup_elem(&services, sk) : NULL;
	if (!svc) {
		count(XLB_STAT_PASS_FRAGMENT);
		return XDP_PASS;
	}
	f->sport = 0;
	f->dport = 0;
	count(XLB_STAT_FRAGMENT_TX);
	return forward(ctx, eth, pick_stateless(svc, f));
}

/* An ICMP error about a packet a real server sent from the VIP (e.g.
 * fragmentation needed / packet too big on the path back to the client)
 * reaches the director, which owns the VIP. It belongs to the real server of
 * that flow, so path MTU discovery works through the director. */
static __always_inline int handle_icmp(struct xdp_md *ctx, struct ethhdr *eth, struct cursor *c, __u8 family)
{
	struct flow in = {};
	enum parse_result pr = family == 4 ? parse_icmp4_error(c, &in) : parse_icmp6_error(c, &in);
	if (pr != PARSE_OK) {
		count(XLB_STAT_PASS_ICMP);
		return XDP_PASS;
	}
	struct svc_key sk = { .port = in.sport, .proto = in.proto, .family = family };
	__builtin_memcpy(sk.addr, in.saddr, sizeof(sk.addr));
	if (!bpf_map_lookup_elem(&services, &sk)) {
		count(XLB_STAT_PASS_ICMP);
		return XDP_PASS;
	}
	/* The quoted packet went VIP -> client; its flow is client -> VIP. */
	struct flow rev = { .sport = in.dport, .dport = in.sport, .proto = in.proto, .family = family };
	__builtin_memcpy(rev.saddr, in.daddr, sizeof(rev.saddr));
	__builtin_memcpy(rev.daddr, in.saddr, sizeof(rev.daddr));
	union conn_key key;
	conn_key_of(&rev, &key);
	struct conn_ref r = {};
	if (conn_find(&rev, &key, &r, flow_ticks(now_ns())) != CONN_FOUND) {
		count(XLB_STAT_PASS_ICMP);
		return XDP_PASS;
	}
	count(XLB_STAT_ICMP_TX);
	return forward(ctx, eth, r.backend);
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
	if ((proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6)) && !for_this_director(eth)) {
		count(XLB_STAT_PASS_OTHER_HOST);
		return XDP_PASS;
	}
	struct flow f = {};
	enum parse_result pr;
	if (proto == bpf_htons(ETH_P_IP)) {
		pr = parse_ipv4(&c, &f);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		pr = parse_ipv6(&c, &f);
	} else {
		count(XLB_STAT_PASS_NON_IP);
		return XDP_PASS;
	}

	switch (pr) {
	case PARSE_OK:
		break;
	case PARSE_TRUNCATED_L3:
		count(XLB_STAT_DROP_MALFORMED_L3);
		return XDP_DROP;
	case PARSE_TRUNCATED_L4:
		count(XLB_STAT_DROP_MALFORMED_L4);
		return XDP_DROP;
	case PARSE_FRAGMENT:
		if (!frag_follow(&f))
			return handle_fragment(ctx, eth, &f);
		break;
	default:
		if ((f.family == 4 && f.proto == IPPROTO_ICMP) || (f.family == 6 && f.proto == IPPROTO_ICMPV6))
			return handle_icmp(ctx, eth, &c, f.family);
		count(XLB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}

	/* Two bit tests keep most traffic that is not for a VIP off the hash
	 * tables. */
	if (!maybe_service(&f)) {
		count(XLB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}
	__u64 tns = now_ns();
	if (f.frag == XLB_FRAG_FIRST)
		frag_remember(&f, tns);
	/* The connection table first: most packets belong to a known flow. */
	union conn_key key;
	conn_key_of(&f, &key);
	struct conn_ref r = {};
	int found = conn_find(&f, &key, &r, flow_ticks(tns));
	/* Packets that change a flow's state (a FIN or RST, the ACK that
	 * ends a SYN_RECV) take select_backend's path. */
	if (found == CONN_FOUND && !closing(&f) && r.state != XLB_CONN_SYN) {
		int act = forward_established(ctx, eth, &f, &key, &r, tns);
		if (act >= 0)
			return act;
	}

	const struct svc_val *svc = find_service(&f);
	if (!svc) {
		count(XLB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}

	if (found == CONN_BUSY && !(f.proto == IPPROTO_TCP && (f.tcp_flags & TCP_FLAG_SYN))) {
		/* Another CPU kept the flow's bucket locked, so whether the
		 * table knows it is unknown. A packet guessed elsewhere could
		 * reset a connection; a drop is only retransmitted. (A SYN
		 * starts a flow: it is placed statelessly, not recorded.) */
		count(XLB_STAT_DROP_CONN_BUSY);
		return XDP_DROP;
	}
	int verdict = 0; /* XDP_PASS or XDP_DROP: neither is 0 (XDP_ABORTED) */
	__s64 id = select_backend(svc, &f, &key, &r, found, tns, &verdict);
	if (verdict)
		return verdict;
	return forward(ctx, eth, id);
}

/* xlb_conns_ctl is never attached: user space runs it (BPF_PROG_TEST_RUN)
 * on one struct conn_op to change the IPv4 connection table under the
 * same bucket locks the datapath takes, and reads the result back from
 * the op. */
SEC("xdp")
int xlb_conns_ctl(struct xdp_md *ctx)
{
	void *end = (void *)(long)ctx->data_end;
	struct conn_op *op = (void *)(long)ctx->data;
	if ((void *)(op + 1) > end)
		return XDP_ABORTED;
	struct conn_key4 k = op->key;
	__u32 now = flow_ticks(now_ns());
	if (k.proto == 0) {
		op->result = XLB_OP_INVALID;
		return XDP_PASS;
	}
	struct conn_ref r = {};
	int res;
	switch (op->op) {
	case XLB_OP_INSERT:
		res = xlb_flow4_find(&k, &r, now);
		if (res == CONN_FOUND && !tick_after(now, r.expires)) {
			op->result = XLB_OP_EXISTS;
			break;
		}
		if (res == CONN_BUSY || op->backend >= XLB_MAX_BACKENDS || op->state > XLB_CONN_SYN) {
			op->result = res == CONN_BUSY ? XLB_OP_BUSY : XLB_OP_INVALID;
			break;
		}
		res = flow4_put(&r, &k, op->backend, op->state, op->expires);
		op->result = res < 0 ? XLB_OP_BUSY : res > 0 ? XLB_OP_EVICTED : XLB_OP_DONE;
		break;
	case XLB_OP_DELETE:
	case XLB_OP_DELETE_EXPIRED:
		res = flow4_delete(&k, op->op == XLB_OP_DELETE_EXPIRED, now);
		op->result = res < 0 ? XLB_OP_BUSY : res > 0 ? XLB_OP_DONE : XLB_OP_ABSENT;
		break;
	default:
		op->result = XLB_OP_INVALID;
	}
	return XDP_PASS;
}

/* decap_gre makes xlb_decap strip GRE too (`xlb realserver up --tun
 * --tun-type gre`): off by default, as a real server may carry GRE tunnels
 * of its own. */
const volatile __u8 decap_gre = 0;
/* decap_gue_port, when set, makes xlb_decap strip GUE sent to that UDP
 * port (`--tun-type gue --tun-port PORT`). */
const volatile __u16 decap_gue_port = 0;

/* decap_extra is how many bytes of GRE or GUE follow an outer IP header
 * of protocol (next header) proto, at l4, in the director's form (GRE
 * without optional fields carrying ethertype; GUE variant 0, to
 * decap_gue_port, carrying ipip_proto), each only where its knob is on:
 * 0 for plain IP-in-IP (ipip_proto), -1 for anything else, which is left
 * to the kernel. */
static __always_inline int decap_extra(void *l4, void *end, __u8 proto, __u8 ipip_proto, __be16 ethertype)
{
	if (proto == IPPROTO_GRE && decap_gre) {
		struct gre_base *g = l4;
		if ((void *)(g + 1) > end || g->flags || g->protocol != ethertype)
			return -1;
		return sizeof(*g);
	}
	if (proto == IPPROTO_UDP && decap_gue_port) {
		struct udphdr *udp = l4;
		struct gue_base *g = (void *)(udp + 1);
		if ((void *)(g + 1) > end || udp->dest != bpf_htons(decap_gue_port) || g->ver_c_hlen ||
		    g->proto != ipip_proto || g->flags)
			return -1;
		return sizeof(*udp) + sizeof(*g);
	}
	return proto == ipip_proto ? 0 : -1;
}

/* xlb_decap runs on a TUN real server (tc ingress, `xlb realserver up
 * --tun`): it strips the outer IPIP header or the outer IPv6 header of
 * IP6IP6 (next header 41, no extension headers: what the director sends),
 * and with decap_gre / decap_gue_port the outer headers of the GRE / GUE
 * the director's --tun-type gre / gue sends over either family, so the
 * kernel delivers the inner packet, addressed to the VIP on lo. It stands
 * in for the ipip, ip_gre, ip6_gre, fou and ip6_tunnel modules, which not
 * every kernel has. Everything else passes untouched. */
SEC("tc")
int xlb_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) <= end && eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *outer = (void *)(eth + 1);
		if ((void *)(outer + 1) > end || outer->version != 6)
			return TC_ACT_OK;
		int extra = decap_extra(outer + 1, end, outer->nexthdr, IP6_TUN_NEXTHDR, bpf_htons(ETH_P_IPV6));
		if (extra < 0)
			return TC_ACT_OK;
		__s32 hlen = IP6_TUN_HLEN + extra;
		struct ipv6hdr *inner = (void *)outer + hlen;
		if ((void *)(inner + 1) > end || inner->version != 6)
			return TC_ACT_OK;
		if (bpf_skb_adjust_room(skb, -hlen, BPF_ADJ_ROOM_MAC, 0))
			return TC_ACT_SHOT;
		return TC_ACT_OK;
	}
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return TC_ACT_OK;
	int extra = decap_extra(ip + 1, end, ip->protocol, IPPROTO_IPIP, bpf_htons(ETH_P_IP));
	if (extra < 0)
		return TC_ACT_OK;
	__s32 hlen = sizeof(struct iphdr) + extra;
	if (bpf_skb_adjust_room(skb, -hlen, BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
