/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* parse.h: a bounds-checked cursor over the packet. Every pull proves to the
 * verifier (and to us) that the bytes exist before anything reads them. */
#ifndef XLB_PARSE_H
#define XLB_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct cursor {
	void *pos;
	void *end;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline void cursor_init(struct cursor *c, struct xdp_md *ctx)
{
	c->pos = (void *)(long)ctx->data;
	c->end = (void *)(long)ctx->data_end;
}

/* A 16-bit network-order length as a bounded host integer. Kernels before
 * 6.x lose all bounds of a register through a byte swap, and then refuse
 * packet-pointer arithmetic with it; the masking, hidden from the compiler
 * so it is not folded away, restores the bounds [0, 65535]. */
static __always_inline __u32 ntohs_bounded(__be16 v)
{
	__u32 x = bpf_ntohs(v);
	asm volatile("%0 &= 0xffff" : "+r"(x));
	return x;
}

/* Returns a pointer to len bytes at the cursor and advances, or NULL. */
#define CURSOR_PULL(c, type)                                      \
	({                                                        \
		type *__p = (type *)(c)->pos;                     \
		if ((void *)(__p + 1) > (c)->end)                 \
			__p = NULL;                               \
		else                                              \
			(c)->pos = (void *)(__p + 1);             \
		__p;                                              \
	})

/* Ethernet plus at most one 802.1Q/802.1ad tag. Returns the inner
 * ethertype (network order) or 0 when truncated. */
static __always_inline __be16 parse_eth(struct cursor *c, struct ethhdr **eth)
{
	struct ethhdr *e = CURSOR_PULL(c, struct ethhdr);
	if (!e)
		return 0;
	*eth = e;
	__be16 proto = e->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *v = CURSOR_PULL(c, struct vlan_hdr);
		if (!v)
			return 0;
		proto = v->proto;
	}
	return proto;
}

enum parse_result {
	PARSE_OK = 0,
	PARSE_TRUNCATED_L3,
	PARSE_TRUNCATED_L4,
	PARSE_FRAGMENT,
	PARSE_OTHER_PROTO,
	PARSE_NOT_ICMP_ERROR,
};

/* What the scheduler needs of a packet, in network byte order. IPv4
 * addresses use word 0 with the others zero, as in struct svc_key. */
struct flow {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags; /* byte 13 of the TCP header; 0 for UDP */
	__u8 family;    /* 4 or 6 */
	__u8 frag;      /* enum frag_kind */
	/* A fragment's datagram: the IP identification (IPv4's 16 bits in
	 * network order, IPv6's 32) and the protocol the IP header (IPv4) or
	 * the fragment header (IPv6) names. */
	__u32 frag_id;
	__u8 frag_proto;
	__u8 pad[3];
};

enum frag_kind {
	XLB_FRAG_NONE = 0,
	XLB_FRAG_FIRST, /* offset 0, more to come: carries the ports */
	XLB_FRAG_LATER, /* carries no transport header */
};

/* The IPv6 fragment header (RFC 8200 4.5). */
struct frag_hdr6 {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, then the M flag */
	__be32 identification;
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

static __always_inline enum parse_result parse_l4(struct cursor *c, struct flow *f);

static __always_inline enum parse_result parse_ipv4(struct cursor *c, struct flow *f)
{
	struct iphdr *ip = CURSOR_PULL(c, struct iphdr);
	if (!ip)
		return PARSE_TRUNCATED_L3;
	__u32 ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip))
		return PARSE_TRUNCATED_L3;
	/* The datagram must fit in the frame (trailing padding is allowed). */
	__u32 tot = ntohs_bounded(ip->tot_len);
	if (tot < ihl || (void *)ip + tot > c->end)
		return PARSE_TRUNCATED_L3;
	f->family = 4;
	f->saddr[0] = ip->saddr;
	f->daddr[0] = ip->daddr;
	f->proto = ip->protocol;
	if (ip->frag_off & bpf_htons(0x3fff)) { /* MF or a fragment offset */
		f->frag_id = ip->id;
		f->frag_proto = ip->protocol;
		if (ip->frag_off & bpf_htons(0x1fff)) {
			f->frag = XLB_FRAG_LATER;
			return PARSE_FRAGMENT;
		}
		f->frag = XLB_FRAG_FIRST;
	}
	/* Skip options: a variable but bounded (<= 40 bytes) advance. */
	c->pos = (void *)ip + ihl;
	return parse_l4(c, f);
}

/* Extension headers skipped before the transport header. A bounded number
 * keeps the verifier's work (and an attacker's) bounded; more is passed. */
#define IPV6_MAX_EXT 4
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

struct ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

static __always_inline enum parse_result parse_ipv6(struct cursor *c, struct flow *f)
{
	struct ipv6hdr *ip6 = CURSOR_PULL(c, struct ipv6hdr);
	if (!ip6)
		return PARSE_TRUNCATED_L3;
	if (ip6->version != 6)
		return PARSE_TRUNCATED_L3;
	if ((void *)(ip6 + 1) + ntohs_bounded(ip6->payload_len) > c->end)
		return PARSE_TRUNCATED_L3;
	f->family = 6;
	__builtin_memcpy(f->saddr, &ip6->saddr, 16);
	__builtin_memcpy(f->daddr, &ip6->daddr, 16);
	__u8 next = ip6->nexthdr;
#pragma unroll
	for (int i = 0; i < IPV6_MAX_EXT; i++) {
		if (next == NEXTHDR_FRAGMENT) {
			struct frag_hdr6 *fh = CURSOR_PULL(c, struct frag_hdr6);
			if (!fh)
				return PARSE_TRUNCATED_L3;
			f->frag_id = fh->identification;
			f->frag_proto = fh->nexthdr;
			if (fh->frag_off & bpf_htons(0xfff8)) {
				f->frag = XLB_FRAG_LATER;
				f->proto = fh->nexthdr;
				return PARSE_FRAGMENT;
			}
			/* Offset 0 without M is an atomic fragment: the whole
			 * datagram, read as unfragmented (RFC 6946). */
			if (fh->frag_off & bpf_htons(1))
				f->frag = XLB_FRAG_FIRST;
			next = fh->nexthdr;
			continue;
		}
		if (next != NEXTHDR_HOP && next != NEXTHDR_ROUTING && next != NEXTHDR_DEST && next != NEXTHDR_AUTH)
			break;
		struct ipv6_opt *opt = CURSOR_PULL(c, struct ipv6_opt);
		if (!opt)
			return PARSE_TRUNCATED_L3;
		/* AH counts 4-byte units minus 2; the others 8-byte units minus 1. */
		__u32 len = next == NEXTHDR_AUTH ? ((__u32)opt->hdrlen + 2) * 4 : ((__u32)opt->hdrlen + 1) * 8;
		next = opt->nexthdr;
		c->pos = (void *)opt + len;
		if (c->pos > c->end)
			return PARSE_TRUNCATED_L3;
	}
	f->proto = next;
	return parse_l4(c, f);
}

static __always_inline enum parse_result parse_l4(struct cursor *c, struct flow *f)
{
	if (f->proto == IPPROTO_TCP) {
		struct tcphdr *th = CURSOR_PULL(c, struct tcphdr);
		if (!th || th->doff < 5)
			return PARSE_TRUNCATED_L4;
		if ((void *)th + th->doff * 4 > c->end)
			return PARSE_TRUNCATED_L4;
		f->sport = th->source;
		f->dport = th->dest;
		f->tcp_flags = ((__u8 *)th)[13];
		return PARSE_OK;
	}
	if (f->proto == IPPROTO_UDP) {
		struct udphdr *uh = CURSOR_PULL(c, struct udphdr);
		if (!uh)
			return PARSE_TRUNCATED_L4;
		f->sport = uh->source;
		f->dport = uh->dest;
		f->tcp_flags = 0;
		return PARSE_OK;
	}
	return PARSE_OTHER_PROTO;
}

/* ICMP errors that carry the header of the packet they are about. */
#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

struct ports {
	__be16 source;
	__be16 dest;
};

/* Parses an ICMPv4 error at the cursor (after the outer IP header) and
 * fills inner with the embedded packet's addresses and ports. In DR mode
 * that packet was sent by a real server from the VIP to a client, so its
 * source is the VIP. */
static __always_inline enum parse_result parse_icmp4_error(struct cursor *c, struct flow *inner)
{
	__u8 *icmp = (__u8 *)c->pos;
	if ((void *)(icmp + 8) > c->end)
		return PARSE_TRUNCATED_L4;
	__u8 type = icmp[0];
	if (type != ICMP_DEST_UNREACH && type != ICMP_TIME_EXCEEDED && type != ICMP_PARAMETERPROB)
		return PARSE_NOT_ICMP_ERROR;
	c->pos = icmp + 8;
	struct iphdr *ip = CURSOR_PULL(c, struct iphdr);
	if (!ip)
		return PARSE_TRUNCATED_L4;
	__u32 ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip))
		return PARSE_TRUNCATED_L4;
	c->pos = (void *)ip + ihl;
	struct ports *p = CURSOR_PULL(c, struct ports);
	if (!p)
		return PARSE_TRUNCATED_L4;
	inner->family = 4;
	inner->saddr[0] = ip->saddr;
	inner->daddr[0] = ip->daddr;
	inner->proto = ip->protocol;
	inner->sport = p->source;
	inner->dport = p->dest;
	inner->tcp_flags = 0;
	return PARSE_OK;
}

/* ICMPv6 errors quoting the packet they are about (RFC 4443). */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4

/* Parses an ICMPv6 error at the cursor and fills inner with the quoted
 * packet's addresses and ports; only a quoted packet whose transport
 * header follows the IPv6 header directly is understood. */
static __always_inline enum parse_result parse_icmp6_error(struct cursor *c, struct flow *inner)
{
	__u8 *icmp = (__u8 *)c->pos;
	if ((void *)(icmp + 8) > c->end)
		return PARSE_TRUNCATED_L4;
	__u8 type = icmp[0];
	if (type < ICMPV6_DEST_UNREACH || type > ICMPV6_PARAMPROB)
		return PARSE_NOT_ICMP_ERROR;
	c->pos = icmp + 8;
	struct ipv6hdr *ip6 = CURSOR_PULL(c, struct ipv6hdr);
	if (!ip6)
		return PARSE_TRUNCATED_L4;
	struct ports *p = CURSOR_PULL(c, struct ports);
	if (!p || ip6->version != 6)
		return PARSE_TRUNCATED_L4;
	inner->family = 6;
	__builtin_memcpy(inner->saddr, &ip6->saddr, 16);
	__builtin_memcpy(inner->daddr, &ip6->daddr, 16);
	inner->proto = ip6->nexthdr;
	inner->sport = p->source;
	inner->dport = p->dest;
	inner->tcp_flags = 0;
	return PARSE_OK;
}

#endif
