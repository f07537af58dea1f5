/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* tunnel.h: LVS "TUN" forwarding. The packet is wrapped in an outer IPv4
 * header (IPIP) to the real server, which may sit on another network; it
 * unwraps it (tc program xlb_decap, or a kernel ipip device) and answers the
 * client directly from the VIP. */
#ifndef XLB_TUNNEL_H
#define XLB_TUNNEL_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_DF 0x4000

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
	__builtin_memcpy(eth->h_dest, client_mac, ETH_ALEN);
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++)
		eth->h_source[i] = own_mac[i];
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

/* Wraps an untagged IPv4 frame in IPIP to dst via the next hop whose MAC is
 * next_hop. Returns XDP_TX, or -1 when it cannot. */
static __always_inline int tunnel_ipip(struct xdp_md *ctx, __be32 src, __be32 dst, const __u8 *next_hop,
				       const volatile __u8 *own_mac)
{
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ethhdr *old = data + sizeof(struct iphdr);
	struct iphdr *outer = data + sizeof(*eth);
	struct iphdr *inner = (void *)(old + 1);
	if ((void *)(inner + 1) > end)
		return -1;
	__builtin_memcpy(eth, old, sizeof(*eth));
	__builtin_memcpy(eth->h_dest, next_hop, ETH_ALEN);
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++)
		eth->h_source[i] = own_mac[i];
	/* The inner header is intact: the outer one is written over the old
	 * Ethernet header (already moved) and the 6 new bytes before it. */
	__u8 tos = inner->tos;
	__be16 df = inner->frag_off & bpf_htons(IP_DF);
	__u16 len = bpf_ntohs(inner->tot_len) + sizeof(struct iphdr);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(len);
	outer->id = 0;
	outer->frag_off = df;
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = src;
	outer->daddr = dst;
	outer->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)outer, sizeof(*outer), 0));
	return XDP_TX;
}

#endif
