/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* tunnel.h: LVS "TUN" forwarding. The packet is wrapped in an outer IPv4
 * header (IPIP) or, for an IPv6 service, an outer IPv6 header (IP6IP6, RFC
 * 2473), or in GRE or GUE over the service's family (IPVS --tun-type), to
 * the real server, which may sit on another network; it unwraps it (tc
 * program xlb_decap, or a kernel ipip / ip6tnl / gre / fou device) and
 * answers the client directly from the VIP. */
#ifndef XLB_TUNNEL_H
#define XLB_TUNNEL_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hash.h"

#define IP_DF 0x4000

/* Addresses a frame from us to dst. own_mac is read element by element:
 * a memcpy from a cast-away-volatile pointer would let clang fold the
 * (then zero) constant. */
static __always_inline void eth_address(struct ethhdr *eth, const __u8 *dst, const volatile __u8 *own_mac)
{
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++)
		eth->h_source[i] = own_mac[i];
}

static __always_inline __u16 csum_fold(__u64 csum)
{
#pragma unroll
	for (int i = 0; i < 4; i++)
		csum = (csum & 0xffff) + (csum >> 16);
	return ~csum;
}

/* Turns the frame into an ICMP "fragmentation needed" from the VIP back
 * to its sender, as IPVS does when a tunnelled packet would not fit: the
 * client's path MTU drops by the tunnel's 20 bytes. Only option-less
 * headers are quoted (IP header + 8 bytes, as RFC 792 asks). */
static __always_inline int icmp_frag_needed(struct xdp_md *ctx, __u16 mtu, const volatile __u8 *own_mac)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	if ((void *)ip + 28 > end || ip->ihl != 5)
		return -1;
	__u8 quote[28];
	__builtin_memcpy(quote, ip, sizeof(quote));
	__u8 client_mac[ETH_ALEN];
	__builtin_memcpy(client_mac, eth->h_source, ETH_ALEN);
	__be32 client = ip->saddr, vip = ip->daddr;

	int len = sizeof(struct ethhdr) + sizeof(struct iphdr) + 8 + sizeof(quote);
	if (bpf_xdp_adjust_tail(ctx, len - (int)(ctx->data_end - ctx->data)))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	ip = data + sizeof(*eth);
	__u8 *icmp = (void *)(ip + 1);
	if ((void *)icmp + 8 + sizeof(quote) > end)
		return -1;
	eth_address(eth, client_mac, own_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0;
	ip->tot_len = bpf_htons(sizeof(struct iphdr) + 8 + sizeof(quote));
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = vip;
	ip->daddr = client;
	ip->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
	icmp[0] = 3; /* destination unreachable */
	icmp[1] = 4; /* fragmentation needed */
	icmp[2] = icmp[3] = icmp[4] = icmp[5] = 0;
	icmp[6] = mtu >> 8;
	icmp[7] = mtu & 0xff;
	__builtin_memcpy(icmp + 8, quote, sizeof(quote));
	__u64 sum = bpf_csum_diff(0, 0, (__be32 *)icmp, 8 + sizeof(quote), 0);
	__u16 ck = csum_fold(sum);
	icmp[2] = ck & 0xff; /* csum_fold's result is already in network order in memory */
	icmp[3] = ck >> 8;
	return 0;
}

/* The GRE header xlb sends (RFC 2784, no checksum, key or sequence
 * number: what IPVS's --tun-type gre sends without --tun-csum). */
struct gre_base {
	__be16 flags;    /* 0: no optional fields, version 0 */
	__be16 protocol; /* the payload's EtherType */
};

/* GUE's header (draft-ietf-intarea-gue, variant 0, what IPVS's --tun-type
 * gue sends without --tun-csum): version 0, no control flag, no optional
 * fields, the payload's IP protocol. */
struct gue_base {
	__u8 ver_c_hlen; /* 0 */
	__u8 proto;      /* IPPROTO_IPIP */
	__be16 flags;    /* 0 */
};

/* The forms of a tunnel, the same over both families. */
enum tun_kind {
	TUN_IPIP, /* IPIP or IP6IP6 */
	TUN_GRE,
	TUN_GUE,
};

/* The bytes GRE or GUE put after the outer IP header (none for IP-in-IP). */
#define TUN_EXTRA(kind)                                                                                        \
	((kind) == TUN_GRE   ? (int)sizeof(struct gre_base)                                                    \
	 : (kind) == TUN_GUE ? (int)(sizeof(struct udphdr) + sizeof(struct gue_base))                          \
			     : 0)

/* The outer headers' length of an IPv4 tunnel. */
#define TUN4_HLEN(kind) ((int)sizeof(struct iphdr) + TUN_EXTRA(kind))

/* The outer header's protocol (next header): GRE, UDP for GUE, or
 * ipip_proto, IP-in-IP's for the inner family. */
#define TUN_PROTO(kind, ipip_proto) ((kind) == TUN_GRE ? IPPROTO_GRE : (kind) == TUN_GUE ? IPPROTO_UDP : (ipip_proto))

/* Writes the GRE or GUE header at p, after the outer IP header (nothing
 * for IP-in-IP): GRE carrying ethertype; UDP from sport to dport, udp_len
 * bytes long, with a zero checksum (IPVS without --tun-csum), and GUE
 * carrying ipip_proto. kind is a constant at each call. */
static __always_inline void tunnel_extra(void *p, const int kind, __be16 ethertype, __u8 ipip_proto, __be16 sport,
					 __be16 dport, __u16 udp_len)
{
	if (kind == TUN_GRE) {
		struct gre_base *g = p;
		g->flags = 0;
		g->protocol = ethertype;
	} else if (kind == TUN_GUE) {
		struct udphdr *udp = p;
		struct gue_base *g = (void *)(udp + 1);
		udp->source = sport;
		udp->dest = dport;
		udp->len = bpf_htons(udp_len);
		udp->check = 0;
		g->ver_c_hlen = 0;
		g->proto = ipip_proto;
		g->flags = 0;
	}
}

/* The outer UDP source port of GUE: a hash of the inner flow in the
 * ephemeral range (as the kernel's udp_flow_src_port picks it), so ECMP
 * routers spread different flows while one flow keeps its path. */
static __always_inline __be16 tunnel_udp_sport(const struct iphdr *inner, const void *end)
{
	__u32 ports = 0;
	const __u32 *l4 = (const void *)(inner + 1);
	if (inner->ihl == 5 && (inner->protocol == IPPROTO_TCP || inner->protocol == IPPROTO_UDP) &&
	    (const void *)(l4 + 1) <= end)
		ports = *l4;
	__u32 h = jhash_3words(inner->saddr, inner->daddr, ports ^ inner->protocol, 0);
	return bpf_htons(49152 | (h & 0x3fff));
}

/* Wraps an untagged IPv4 frame in IPIP, GRE or GUE (to gue_port) to dst
 * via the next hop whose MAC is next_hop. kind is a constant at each call,
 * so each form compiles to fixed offsets. Returns XDP_TX, or -1 when it
 * cannot. */
static __always_inline int tunnel_ip4(struct xdp_md *ctx, __be32 src, __be32 dst, const __u8 *next_hop,
				      const volatile __u8 *own_mac, const int kind, __be16 gue_port)
{
	const int hlen = TUN4_HLEN(kind);
	if (bpf_xdp_adjust_head(ctx, -hlen))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ethhdr *old = data + hlen;
	struct iphdr *outer = data + sizeof(*eth);
	struct iphdr *inner = (void *)(old + 1);
	if ((void *)(inner + 1) > end)
		return -1;
	__builtin_memcpy(eth, old, sizeof(*eth));
	eth_address(eth, next_hop, own_mac);
	/* The inner header is intact: the outer ones are written over the
	 * old Ethernet header (already moved) and the new bytes before it. */
	__u8 tos = inner->tos;
	__be16 df = inner->frag_off & bpf_htons(IP_DF);
	__u16 len = bpf_ntohs(inner->tot_len) + hlen;
	tunnel_extra(outer + 1, kind, bpf_htons(ETH_P_IP), IPPROTO_IPIP, kind == TUN_GUE ? tunnel_udp_sport(inner, end) : 0,
		     gue_port, len - sizeof(struct iphdr));
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(len);
	outer->id = 0;
	outer->frag_off = df;
	outer->ttl = 64;
	outer->protocol = TUN_PROTO(kind, IPPROTO_IPIP);
	outer->check = 0;
	outer->saddr = src;
	outer->daddr = dst;
	outer->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)outer, sizeof(*outer), 0));
	return XDP_TX;
}

/* IP6IP6: the outer IPv6 header is 40 bytes, no extension headers. */
#define IP6_TUN_HLEN 40
#define IP6_TUN_NEXTHDR 41 /* IPPROTO_IPV6: the payload is an IPv6 packet */
#define IP6_MIN_MTU 1280
/* A packet-too-big quotes as much of the offending packet as fits in the
 * minimum MTU (RFC 4443 2.4(c)): 1280 - 40 (IPv6) - 8 (ICMPv6 header). The
 * director only sends one for a packet longer than the reported MTU, which
 * is never below 1280, so the quote always has exactly this length: fixed
 * sizes keep the checksum loop-free for the verifier. */
#define PTB_QUOTE (IP6_MIN_MTU - 40 - 8)
#define PTB_ICMP_LEN (8 + PTB_QUOTE)

/* The outer flow label (RFC 6438): a hash of the inner flow's addresses,
 * protocol and ports, so routers that hash on (src, dst, flow label) spread
 * the tunnels of different flows over their ECMP paths while every packet of
 * one flow takes the same path. Never 0 (0 means unlabelled). */
static __always_inline __u32 tunnel_flow_label(const struct ipv6hdr *inner, const void *end)
{
	const __u32 *s = (const __u32 *)&inner->saddr, *d = (const __u32 *)&inner->daddr;
	__u32 ports = 0;
	__u8 proto = inner->nexthdr;
	const __u32 *l4 = (const void *)(inner + 1);
	/* Ports only where the transport header follows directly (TCP, UDP):
	 * with extension headers the addresses and protocol still pin a flow. */
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && (const void *)(l4 + 1) <= end)
		ports = *l4;
	__u32 h = jhash_3words(s[0] ^ s[1], s[2] ^ s[3], d[0] ^ d[1], proto);
	h = jhash_3words(d[2] ^ d[3], ports, h, 0);
	h &= 0xfffff;
	return h ? h : 1;
}

/* The outer headers' length of an IPv6 tunnel. */
#define TUN6_HLEN(kind) (IP6_TUN_HLEN + TUN_EXTRA(kind))

/* Wraps an untagged IPv6 frame in IP6IP6, or GRE or GUE (to gue_port) over
 * IPv6, to dst (16 bytes, network order) via the next hop whose MAC is
 * next_hop; kind (enum tun_kind) is a constant at each call. The inner packet is left
 * byte-identical: the outer headers go in front of it, in the bytes
 * bpf_xdp_adjust_head adds and the old Ethernet header. GUE's UDP checksum
 * is 0, as IPVS sends it without --tun-csum (RFC 6935's zero checksum for
 * tunnels). Returns XDP_TX, or -1 when it cannot. */
static __always_inline int tunnel_ip6(struct xdp_md *ctx, const __u32 *src, const __u32 *dst, const __u8 *next_hop,
				      const volatile __u8 *own_mac, const int kind, __be16 gue_port)
{
	const int hlen = TUN6_HLEN(kind);
	if (bpf_xdp_adjust_head(ctx, -hlen))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *outer = data + sizeof(*eth);
	struct ipv6hdr *inner = (void *)outer + hlen;
	if ((void *)(inner + 1) > end)
		return -1;
	__u32 label = tunnel_flow_label(inner, end);
	/* The traffic class follows the inner packet's, as IPVS does. */
	__u8 tclass = (inner->priority << 4) | (inner->flow_lbl[0] >> 4);
	__u16 plen = bpf_ntohs(inner->payload_len) + hlen;
	eth_address(eth, next_hop, own_mac);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	tunnel_extra(outer + 1, kind, bpf_htons(ETH_P_IPV6), IP6_TUN_NEXTHDR, bpf_htons(49152 | (label & 0x3fff)), gue_port,
		     plen);
	outer->version = 6;
	outer->priority = tclass >> 4;
	outer->flow_lbl[0] = (tclass << 4) | (label >> 16);
	outer->flow_lbl[1] = label >> 8;
	outer->flow_lbl[2] = label;
	outer->payload_len = bpf_htons(plen);
	outer->nexthdr = TUN_PROTO(kind, IP6_TUN_NEXTHDR);
	outer->hop_limit = 64;
	__builtin_memcpy(&outer->saddr, src, 16);
	__builtin_memcpy(&outer->daddr, dst, 16);
	return XDP_TX;
}

/* Whether a too-big packet may be answered with a packet-too-big (RFC
 * 4443 2.4(e)): not about an ICMPv6 error (nor any ICMPv6: the VIP only
 * serves TCP and UDP), and never to an unspecified or multicast source. */
static __always_inline int ptb_allowed(const struct ipv6hdr *ip6)
{
	const __u32 *s = (const __u32 *)&ip6->saddr;
	if (ip6->nexthdr == 58 /* ICMPv6 */)
		return 0;
	if (ip6->saddr.in6_u.u6_addr8[0] == 0xff)
		return 0;
	return (s[0] | s[1] | s[2] | s[3]) != 0;
}

/* Turns the frame (an untagged IPv6 packet longer than the quote) into an
 * ICMPv6 packet-too-big (type 2, code 0) from the VIP back to its sender,
 * the IPv6 counterpart of icmp_frag_needed: the client's path MTU drops by
 * the tunnel's 40 bytes. The reply is exactly 1280 bytes of IPv6: header,
 * ICMPv6 header and the first PTB_QUOTE bytes of the offending packet,
 * which stay where they are (bpf_xdp_adjust_head makes room in front of
 * them). Returns 0, or -1 when it cannot. */
static __always_inline int icmp6_packet_too_big(struct xdp_md *ctx, __u32 mtu, const volatile __u8 *own_mac)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	if ((void *)ip6 + PTB_QUOTE > end)
		return -1;
	__u8 client_mac[ETH_ALEN];
	__builtin_memcpy(client_mac, eth->h_source, ETH_ALEN);

	int len = sizeof(struct ethhdr) + PTB_QUOTE;
	if (bpf_xdp_adjust_tail(ctx, len - (int)(ctx->data_end - ctx->data)))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct ipv6hdr) + 8)))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	struct ipv6hdr *hdr = data + sizeof(*eth);
	__u8 *icmp = (void *)(hdr + 1);
	struct ipv6hdr *quoted = (void *)(icmp + 8);
	if ((void *)icmp + PTB_ICMP_LEN > end)
		return -1;
	eth_address(eth, client_mac, own_mac);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	/* The quoted header is intact: its addresses give the reply's. */
	__builtin_memset(hdr, 0, 4); /* version below; traffic class, flow label 0 */
	hdr->version = 6;
	hdr->payload_len = bpf_htons(PTB_ICMP_LEN);
	hdr->nexthdr = 58; /* ICMPv6 */
	hdr->hop_limit = 64;
	__builtin_memcpy(&hdr->saddr, &quoted->daddr, 16); /* the VIP */
	__builtin_memcpy(&hdr->daddr, &quoted->saddr, 16); /* the client */
	icmp[0] = 2; /* packet too big */
	icmp[1] = 0;
	icmp[2] = icmp[3] = 0;
	icmp[4] = mtu >> 24;
	icmp[5] = mtu >> 16;
	icmp[6] = mtu >> 8;
	icmp[7] = mtu;
	/* Checksum over the pseudo-header (addresses, upper-layer length,
	 * next header) and the message; bpf_csum_diff takes at most 512 bytes
	 * a call, all in 4-byte multiples. */
	__u32 sum = bpf_csum_diff(0, 0, (__be32 *)&hdr->saddr, 32, 0);
	sum = bpf_csum_diff(0, 0, (__be32 *)icmp, 512, sum);
	sum = bpf_csum_diff(0, 0, (__be32 *)(icmp + 512), 512, sum);
	sum = bpf_csum_diff(0, 0, (__be32 *)(icmp + 1024), PTB_ICMP_LEN - 1024, sum);
	__u64 total = (__u64)sum + bpf_htonl(PTB_ICMP_LEN) + bpf_htonl(58);
	__u16 ck = csum_fold(total);
	icmp[2] = ck & 0xff; /* csum_fold's result is already in network order in memory */
	icmp[3] = ck >> 8;
	return 0;
}

#endif
