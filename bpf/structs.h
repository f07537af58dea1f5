/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* structs.h: map keys and values. Layouts are ABI with pinned maps across
 * restarts: only append fields, and bump XLB_ABI_VERSION in Go when a layout
 * changes so an upgrade refuses stale pins instead of misreading them. */
#ifndef XLB_STRUCTS_H
#define XLB_STRUCTS_H

#include <linux/types.h>
#include "consts.h"

/* A virtual service: (VIP, port, protocol). IPv4 addresses use addr[0]
 * with the rest zero, so one map serves both families. */
struct svc_key {
	__u32 addr[4];
	__u16 port; /* network byte order */
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family; /* 4 or 6 */
};

struct svc_val {
	__u32 id;       /* index into per-service arrays */
	__u32 ring_off; /* first slot of this service's ring in the rings map */
	__u32 ring_len; /* 0: no available backend */
	__u8 sched;     /* enum sched_kind */
	__u8 flags;     /* enum svc_flags */
	__u8 persist_plen; /* persistence by client prefix of this length; 0: the whole address */
	__u8 pad;
	__u32 persist_sec; /* 0: no client persistence */
	__u32 tcp_sec;
	__u32 tcpfin_sec;
	__u32 udp_sec;
};

/* A service by its id, for the established-flow path: it finds the
 * service through the flow's real server (backend.svc_id) instead of the
 * services hash, and the key proves the id still names the service the
 * packet is for (ids are reused after a service is removed). */
struct svc_entry {
	struct svc_key key; /* all zero: no service has this id */
	struct svc_val val;
};

/* A filter in front of the hash tables: one bit per port (host order)
 * some service uses, and one bit per VIP hash bucket (vip_bucket()).
 * Traffic to other ports or addresses passes without a table lookup. */
struct svc_filter {
	__u64 ports[1024];
	__u64 vips[64];
};

/* A real server slot. A slot is never reused while connections may still
 * point at it (the loader checks the connection table first). */
struct backend {
	__u8 mac[6];
	__u8 flags;  /* enum backend_flags */
	__u8 family;
	__u32 weight;
	__u32 svc_id;
	__u32 addr[4]; /* for tunnelling and listings */
	__u16 port;    /* host order; for listings */
	__be16 tun_port; /* GUE: the real server's UDP port (was padding: 0) */
};

/* Connection counts per backend, shared by all CPUs (atomic adds) because
 * wlc compares them across CPUs. The loader's sweep rewrites them from the
 * connection table, which is the source of truth. */
struct backend_conns {
	__s64 active;
	__s64 inactive;
};

/* A real server's connection limit (ipvsadm -x/-y, keepalived
 * uthreshold/lthreshold), written by the loader. A map of its own, so
 * the pinned backends and conn_counts keep their layout. */
struct backend_limits {
	__u32 upper; /* 0: no limit */
	__u32 lower; /* overloaded until active + inactive falls below this */
};

struct backend_stats {
	__u64 packets;
	__u64 bytes;
	__u64 conns;
};

struct svc_state {
	__u64 rr_next; /* rr/wrr position, shared so rotation is exact across CPUs */
};

/* IPv4 5-tuple: 16 bytes keeps an LRU entry under 100 bytes. */
struct conn_key4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* IPv6 5-tuple. */
struct conn_key6 {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* An IPv6 flow's entry in the conns6 LRU table. */
struct conn_val {
	__u32 backend;
	enum conn_state state;
	__u32 expires; /* flow clock (XLB_FLOW_TICK_SHIFT) at which it idles out */
	__u32 pad;
};

/* One IPv4 flow of the flows4 table: 20 bytes. proto 0 marks an empty
 * slot; a slot whose expiry has passed is free too. */
struct flow4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport; /* network order */
	__u16 dport;
	__u8 proto;
	__u8 state;     /* enum conn_state, | XLB_FLOW_GUEST */
	__u16 backend;  /* backend slot (< XLB_MAX_BACKENDS) */
	__u32 expires;  /* flow clock at which it idles out */
};

/* A bucket of the IPv4 connection table: two cache lines (the map is
 * mmapable, which page-aligns its values). seq is a sequence lock: odd
 * while a writer changes the slots, so readers retry instead of seeing a
 * half-written flow; its top 16 bits count the bucket's flows living in
 * their second bucket (see flowtab.h). */
struct flow_bucket4 {
	__u64 seq;
	struct flow4 slot[XLB_FLOW_WAYS];
};

/* A request to xlb_conns_ctl, the program user space runs (never
 * attaches) to change the IPv4 connection table under its lock. */
struct conn_op {
	struct conn_key4 key;
	__u32 op;      /* enum conn_op_kind */
	__u32 backend; /* insert */
	__u32 state;   /* insert */
	__u32 expires; /* insert */
	__s32 result;  /* written back: enum conn_op_result */
	__u32 pad;
};

struct persist_key4 {
	__u32 svc_id;
	__u32 saddr;
};

struct persist_key6 {
	__u32 svc_id;
	__u32 saddr[4];
};

struct persist_val {
	__u32 backend;
	__u32 pad;
	__u64 last_seen;
};

/* Runtime knobs written by the loader (the settings map, one entry). */
struct settings {
	__u32 flags;     /* enum settings_flags */
	__u32 syn_rate;  /* new-flow inserts per second per CPU; 0 = no guard */
	__u32 syn_burst; /* bucket depth in flows */
	__u32 tun_src;   /* TUN: outer source address (IPv4, network order) */
	__u32 tun_mtu;   /* TUN: largest outer packet the path carries */
	__u32 pad;
	__u32 tun_src6[4]; /* TUN: outer source address of IP6IP6 (network order); 0: none */
	__u32 flow_seed;   /* the connection table's hash seed, kept here across restarts (the datapath reads its copy in a const) */
	__u32 pad2;
};

/* The datapath's clock: CLOCK_MONOTONIC_COARSE (what Go's maps.Now()
 * reads) computed from jiffies, which the verifier inlines to one load
 * instead of a helper call. Jiffies advance with the same ticks, so the
 * relation, calibrated by the loader, holds for the whole boot. While
 * ns_per_jiffy is 0 the datapath calls bpf_ktime_get_coarse_ns(). */
struct clock_ref {
	__u64 base_ns;      /* CLOCK_MONOTONIC_COARSE at base_jiffies, minus a tick */
	__u64 base_jiffies;
	__u64 ns_per_jiffy; /* the kernel's TICK_NSEC */
};

/* Per-CPU token bucket of the SYN-flood guard. */
struct guard_state {
	__u64 tokens; /* in 1e-9 flow units, so refills need no division */
	__u64 last;   /* ns of the last refill */
};

/* Fragments carry no ports after the first: the service a VIP's
 * fragments belong to, when only one service of that protocol exists. */
struct frag_key {
	__u32 addr[4];
	__u8 proto;
	__u8 family;
	__u16 pad;
};

/* One fragmented datagram, as its fragments name it (RFC 791: source,
 * destination, protocol, identification; RFC 8200 the same with 32 bits
 * of identification): the ports its first fragment carried, so the later
 * ones, which carry none, follow the first to its flow's real server. */
struct frag_track_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 id;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct frag_ports {
	__be16 sport;
	__be16 dport;
	__u8 proto;  /* the transport protocol the first fragment carried */
	__u8 pad[3];
	__u32 expires; /* flow clock */
};

/* A new flow, published for flow sharing between directors. Real servers
 * are named by address, since backend slots are local to each director. */
struct flow_event {
	struct conn_key4 key;
	__u32 backend_addr[4];
	__u16 backend_port;
	__u8 family;
	__u8 pad;
};

/* A new IPv6 flow, published in a ring of its own (flow_events6): the
 * flow_events ring keeps its IPv4 records, so an xlb of either version
 * adopting the pinned rings never reads a record of the other layout.
 * Not in abi_info, whose pinned value would change size with it. */
struct flow_event6 {
	struct conn_key6 key;
	__u32 backend_addr[4];
	__u16 backend_port; /* host order */
	__u8 family;
	__u8 pad;
};

/* The single entry of the abi map: the layout version of every pinned map.
 * Its enum fields also put those enums in BTF so bpf2go emits them for Go. */
struct abi_info {
	__u32 version;
	enum sched_kind sched;
	enum svc_flags svc_flags;
	enum backend_flags backend_flags;
	enum conn_state conn_state;
	enum stat_counter stat;
	enum settings_flags settings_flags;
	struct flow_event flow_event; /* layout of the flow_events ring buffer */
	enum conn_op_kind conn_op_kind;
	enum conn_op_result conn_op_result;
	struct conn_op conn_op; /* layout of xlb_conns_ctl's requests */
};

#endif
