/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* consts.h: sizes, enums and flags shared by the datapath and (through
 * bpf2go -type) the Go control plane. Addresses never appear here: every
 * address reaches the datapath through maps written by the loader. */
#ifndef XLB_CONSTS_H
#define XLB_CONSTS_H

/* Map capacities. The loader may override the connection-table sizes
 * (MapSpec.MaxEntries) at load time; the others are ABI of the pinned maps. */
#define XLB_MAX_SERVICES 1024
#define XLB_MAX_BACKENDS 8192
#define XLB_RING_ENTRIES (1 << 21) /* all rings of all services, u32 each */
#define XLB_MAX_RING 65537          /* largest ring one service may use (Maglev M) */
#define XLB_MAX_WLC 4096            /* candidates scanned by wlc (lc, sed, nq) per new flow */
#define XLB_SVC_SLOTS 4096          /* direct-mapped service slots (svc_slot()) */

/* Flow events pending before the datapath wakes the flow-sharing reader. */
#define XLB_FLOW_EVENT_BATCH 64

/* Seconds to nanoseconds for timeouts stored in seconds. */
#define XLB_NSEC 1000000000ULL
/* How long a first fragment's ports are kept for the rest of its
 * datagram: Linux's default ipfrag_time, after which the real server
 * would have given up reassembling it anyway. */
#define XLB_FRAG_TRACK_SEC 30

/* The connection tables keep time in flow-clock ticks of 2^24 ns (16.8
 * ms): CLOCK_MONOTONIC_COARSE >> XLB_FLOW_TICK_SHIFT, 32 bits wide, so a
 * slot stays 20 bytes and the clock wraps only after 2.3 years (compared
 * as a signed difference). */
#define XLB_FLOW_TICK_SHIFT 24

/* A flow's expiry is pushed back at most this often (in ticks, ~1 s): a
 * write per packet would bounce the entry's cache line between CPUs. */
#define XLB_TOUCH_TICKS (XLB_NSEC >> XLB_FLOW_TICK_SHIFT)

/* Slots per bucket of the IPv4 connection table (20 bytes each after an
 * 8-byte sequence lock: 128 bytes). With two candidate buckets per flow,
 * 6 ways keep collisions from evicting live flows while the table is at
 * most half full (the loader sizes it so). */
#define XLB_FLOW_WAYS 6

/* Attempts a reader or writer makes while another CPU holds a bucket. */
#define XLB_FLOW_TRIES 4
/* A new flow stays in its first ("home") bucket while that has at least
 * this many free slots; else it takes the emptier of its two. */
#define XLB_FLOW_HOME_ROOM 4
/* A bucket's seq word: bits 0-47 the sequence, bits 48-63 the number of
 * flows whose home it is that live in their second bucket ("guests"). */
#define XLB_FLOW_GUEST_SHIFT 48
#define XLB_FLOW_GUEST_MAX 0x7fff
/* Set in a slot's state when the flow is a guest there. */
#define XLB_FLOW_GUEST 0x80

enum sched_kind {
	XLB_SCHED_RR = 0,
	XLB_SCHED_WRR = 1,
	XLB_SCHED_WLC = 2,
	XLB_SCHED_SH = 3,
	XLB_SCHED_MH = 4,
	XLB_SCHED_LC = 5,  /* least connections: wlc without weights */
	XLB_SCHED_SED = 6, /* shortest expected delay: (active + 1) / weight */
	XLB_SCHED_NQ = 7,  /* never queue: an idle server, else sed */
};

enum svc_flags {
	XLB_SVC_HASH_PORT = 1 << 0,        /* sh/mh hash the client port too */
	XLB_SVC_EXPIRE_NODEST = 1 << 1,    /* reschedule flows of unavailable backends */
	XLB_SVC_EXPIRE_QUIESCENT = 1 << 2, /* persistence ignores weight-0 backends */
	XLB_SVC_OPS = 1 << 3,              /* UDP: every datagram scheduled on its own (ipvsadm -o) */
	XLB_SVC_THRESHOLDS = 1 << 4,       /* a real server has a connection limit (conn_limits) */
};

enum backend_flags {
	XLB_BE_IN_USE = 1 << 0,    /* slot holds a real server: its MAC is valid */
	XLB_BE_AVAILABLE = 1 << 1, /* configured and healthy: may take flows */
	XLB_BE_CONFIGURED = 1 << 2, /* in the configuration (else draining until unused) */
	XLB_BE_TUNNEL = 1 << 3,     /* TUN: IPIP/IP6IP6 to addr via the next hop whose MAC is mac */
	XLB_BE_TUN_GRE = 1 << 4,    /* with XLB_BE_TUNNEL: GRE instead of IPIP/IP6IP6 (IPVS --tun-type gre) */
	XLB_BE_TUN_GUE = 1 << 5,    /* with XLB_BE_TUNNEL: GUE to tun_port (--tun-type gue) */
};

enum settings_flags {
	XLB_SET_FLOW_EVENTS = 1 << 0, /* publish new flows for flow sharing */
};

/* What xlb_conns_ctl is asked to do (struct conn_op). */
enum conn_op_kind {
	XLB_OP_INSERT = 1,         /* record the flow unless the table knows it */
	XLB_OP_DELETE = 2,         /* forget the flow */
	XLB_OP_DELETE_EXPIRED = 3, /* forget the flow if it has idled out */
};

enum conn_op_result {
	XLB_OP_DONE = 0,
	XLB_OP_EXISTS = 1,   /* insert: already known, left alone */
	XLB_OP_ABSENT = 2,   /* delete: not there (or not expired) */
	XLB_OP_BUSY = 3,     /* the bucket stayed locked: try again */
	XLB_OP_EVICTED = 4,  /* insert done, a live flow gave way */
	XLB_OP_INVALID = 5,  /* malformed request */
};

enum conn_state {
	XLB_CONN_ACTIVE = 0, /* counted in backend active connections */
	XLB_CONN_FIN = 1,    /* FIN or RST seen from the client: inactive */
	XLB_CONN_SYN = 2,    /* a SYN, no ACK from the client yet: inactive (IPVS SYN_RECV) */
};

/* How long a flow that is only a SYN lives: IPVS's SYN_RECV timeout, which
 * ipvsadm --set does not change either (or the tcp timeout, if shorter). */
enum { XLB_SYN_RECV_SEC = 60 };

/* Global per-CPU counters, indexed by this enum (the Stats map). */
enum stat_counter {
	XLB_STAT_PASS_NON_IP = 0,   /* not IPv4/IPv6: passed to the stack */
	XLB_STAT_PASS_NOT_VIP,      /* IP but not a virtual service: passed */
	XLB_STAT_TX,                /* forwarded: user space sums it from backend counters */
	XLB_STAT_DROP_MALFORMED_L2, /* truncated Ethernet or VLAN header */
	XLB_STAT_DROP_MALFORMED_L3, /* truncated or invalid IP header */
	XLB_STAT_DROP_MALFORMED_L4, /* truncated TCP/UDP header */
	XLB_STAT_PASS_FRAGMENT,     /* IP fragment not placed (first fragment not seen; not a VIP's): passed */
	XLB_STAT_DROP_NO_BACKEND,   /* service has no available real server */
	XLB_STAT_CONN_NEW,          /* flow scheduled and inserted */
	XLB_STAT_CONN_EXPIRED,      /* idle-expired entry found and rescheduled */
	XLB_STAT_CONN_RESCHED,      /* flow moved off an unavailable backend */
	XLB_STAT_CONN_INSERT_FAIL,  /* connection table update failed */
	XLB_STAT_PERSIST_HIT,       /* new flow placed by a persistence template */
	XLB_STAT_PASS_NO_CONN_RST,  /* RST for a flow we do not know: passed */
	XLB_STAT_SYN_GUARD,         /* new flow scheduled statelessly: insert rate exceeded */
	XLB_STAT_FRAGMENT_TX,       /* IP fragment of a datagram whose first fragment was not seen: forwarded by its 3-tuple hash */
	XLB_STAT_ICMP_TX,           /* ICMP error forwarded to the flow's real server */
	XLB_STAT_PASS_ICMP,         /* ICMP not about a known flow: passed */
	XLB_STAT_FLOW_EVENT_LOST,   /* flow-sharing event dropped: ring buffer full */
	XLB_STAT_TUN_TX,            /* forwarded in an IPIP or IP6IP6 tunnel */
	XLB_STAT_TUN_FRAG_NEEDED,   /* too big to tunnel: ICMP frag-needed / ICMPv6 packet-too-big sent */
	XLB_STAT_DROP_TUN,          /* could not tunnel (no source, family mismatch, VLAN, too big and no ICMP allowed) */
	XLB_STAT_CONN_EVICTED,      /* a live flow gave its slot to a new one: both its buckets were full */
	XLB_STAT_DROP_CONN_BUSY,    /* VIP packet dropped: its bucket stayed locked by another CPU (TCP retransmits) */
	XLB_STAT_DROP_TCP_NO_ACK,   /* TCP with none of SYN, ACK, RST and no live entry (flags none, FIN, PSH, xmas...): dropped */
	XLB_STAT_PASS_OTHER_HOST,   /* frame addressed to another host's MAC (flooded, promiscuous): passed */
	XLB_STAT_MAX,
};

/* The stats map's size: room for counters to come, so that adding one
 * leaves the pinned map as it is and a hitless restart can adopt it
 * (a map of another size is refused). */
#define XLB_STAT_SLOTS 64
_Static_assert(XLB_STAT_MAX <= XLB_STAT_SLOTS, "stats map too small for the counters");

#endif
