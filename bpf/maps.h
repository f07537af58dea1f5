/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* maps.h: every map of the datapath. Only the Go package maps/ touches them
 * from user space. */
#ifndef XLB_MAPS_H
#define XLB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "structs.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct svc_state);
} svc_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct svc_entry);
} svc_index SEC(".maps");

/* A new flow's way to its service without the services hash: slot
 * svc_slot(key) holds 1 + the id of a service with that key (0: none
 * there). Direct-mapped, so two services may want one slot: the other
 * is found in the hash, as is any key whose slot names another service. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SVC_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} svc_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct svc_filter);
} svc_filter_map SEC(".maps");

/* Flat array of backend slots; each service's ring is a range of it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_RING_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend_conns);
} conn_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend_limits);
} conn_limits SEC(".maps");

/* IPVS's IP_VS_DEST_F_OVERLOAD per real server: set by the datapath when
 * a new flow brings it to its upper limit, cleared by the loader's sweep
 * once the recounted connections fall below the lower one (the datapath
 * never sees a flow idle out). Apart from conn_limits so that the
 * sweep's writes never race the configuration's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u32);
} backend_overload SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend_stats);
} backend_counters SEC(".maps");

/* The IPv4 connection table (flowtab.h): buckets, sized by the loader
 * from the configuration (conn_table_size). Mmapable so user space reads
 * it without a syscall per entry (and so buckets are cache-line aligned). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct flow_bucket4);
} flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct persist_key4);
	__type(value, struct persist_val);
} persist4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key6);
	__type(value, struct conn_val);
} conns6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct persist_key6);
	__type(value, struct persist_val);
} persist6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_STAT_SLOTS);
	__type(key, __u32); /* enum stat_counter */
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct abi_info);
} abi SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} settings_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_ref);
} clock_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_state);
} guard_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, struct frag_key);
	__type(value, struct svc_key);
} frag_services SEC(".maps");

/* The fragmented datagrams in flight whose first fragment was seen.
 * Fragments of one datagram arrive within moments of each other; an LRU
 * of 16k covers 16k datagrams in flight at once, and an entry is good for
 * frag_track_sec (by default the kernel's ipfrag_time) at most. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct frag_track_key);
	__type(value, struct frag_ports);
} frag_track SEC(".maps");

/* New flows for flow sharing (read by the loader when enabled). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} flow_events SEC(".maps");

/* New IPv6 flows (struct flow_event6): a ring of their own, so the
 * records of flow_events keep their layout for an adopting xlb of
 * another version. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} flow_events6 SEC(".maps");

#endif
