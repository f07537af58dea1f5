/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* clock.h: the datapath's clock. */
#ifndef XLB_CLOCK_H
#define XLB_CLOCK_H

#include "consts.h"
#include "structs.h"
#include "maps.h"

/* Now, in CLOCK_MONOTONIC_COARSE nanoseconds (see struct clock_ref). */
static __always_inline __u64 now_ns(void)
{
	__u32 zero = 0;
	struct clock_ref *c = bpf_map_lookup_elem(&clock_map, &zero);
	if (!c || !c->ns_per_jiffy)
		return bpf_ktime_get_coarse_ns();
	return c->base_ns + (bpf_jiffies64() - c->base_jiffies) * c->ns_per_jiffy;
}

/* Time since t; 0 for a t in the future (user space, e.g. flow sharing,
 * stamps entries with its own reading of the clock). */
static __always_inline __u64 since(__u64 now, __u64 t)
{
	return now > t ? now - t : 0;
}

/* The flow clock (XLB_FLOW_TICK_SHIFT) of a time in ns. */
static __always_inline __u32 flow_ticks(__u64 ns)
{
	return ns >> XLB_FLOW_TICK_SHIFT;
}

#endif
