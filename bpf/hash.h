/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* hash.h: Bob Jenkins' lookup3 final mix (as in the kernel's jhash.h) for
 * the sh and mh schedulers. Directors that share hash_seed and a ring pick
 * the same real server for the same client: that is what makes mh flows
 * survive a failover to a director that never saw them. */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include <linux/types.h>

static __always_inline __u32 rol32(__u32 w, __u32 s)
{
	return (w << s) | (w >> (32 - s));
}

#define JHASH_FINAL(a, b, c)            \
	{                               \
		c ^= b;                 \
		c -= rol32(b, 14);      \
		a ^= c;                 \
		a -= rol32(c, 11);      \
		b ^= a;                 \
		b -= rol32(a, 25);      \
		c ^= b;                 \
		c -= rol32(b, 16);      \
		a ^= c;                 \
		a -= rol32(c, 4);       \
		b ^= a;                 \
		b -= rol32(a, 14);      \
		c ^= b;                 \
		c -= rol32(b, 24);      \
	}

#define JHASH_INITVAL 0xdeadbeef

static __always_inline __u32 jhash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
	a += JHASH_INITVAL + (3 << 2) + initval;
	b += JHASH_INITVAL + (3 << 2) + initval;
	c += JHASH_INITVAL + (3 << 2) + initval;
	JHASH_FINAL(a, b, c);
	return c;
}

#endif
