/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the balancer program. Types live in include/xlb_abi.h; sizes here
 * are defaults that the daemon may change with bpf_map__set_max_entries()
 * before loading.
 */
#ifndef XLB_BPF_MAPS_H
#define XLB_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, struct xlb_vip_key);
	__type(value, struct xlb_vip);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_VIP_ADDRS);
	__type(key, struct xlb_vip_addr_key);
	__type(value, struct xlb_vip_addr);
} vip_addrs SEC(".maps");

/*
 * The same struct xlb_vip by its id, for established packets: their
 * connection entry names the VIP, and an array read (inlined by the
 * verifier) replaces the VIP hash lookup. ring_size 0: no VIP has this id.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xlb_vip);
} vip_by_id SEC(".maps");

/* Per CPU: each CPU fills its own entries, so none is read half-written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_VIP_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct xlb_vip_cache_entry);
} vip_cache SEC(".maps");

/* An array lookup is inlined by the verifier: the cheapest first question. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_filter);
} filter SEC(".maps");

/*
 * One Maglev table per VIP, created by the daemon with the VIP's own prime
 * size: kernel memory follows the VIPs configured, 2 bytes a slot (eight
 * slots an element, struct xlb_ring16), or 4 when xlbd is started for more
 * backends than 16 bits number (struct xlb_ring32): xlbd sets this
 * template's value size and ring_wide (bpf/lb.h) before loading.
 * BPF_F_INNER_MAP lets the inner arrays differ in max_entries from this
 * template; BPF_F_MMAPABLE lets the daemon rewrite slots with plain stores
 * instead of a syscall each.
 */
struct ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_RING_ENTRIES(XLB_RING_MIN, XLB_RING16_SLOTS));
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	/*
	 * By size: clang leaves an inner map's value type a forward
	 * declaration, and the kernel takes a key type only with a value type.
	 */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xlb_ring16));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u32);
} health SEC(".maps");

/*
 * The connection table: our own set-associative table in an array
 * (include/xlb_abi.h, struct xlb_conn_set; access in bpf/conns.h). One for
 * all CPUs, so a flow keeps its entry whichever CPU its packets reach; an
 * array lookup is inlined by the verifier, and replacing a way costs a few
 * stores where the kernel's LRU hash evicting cost microseconds. Mappable:
 * xlbd reads and tests write entries with the same seq protocol as the data
 * plane. max_entries is the number of sets (xlbd -C / XLB_CONN_WAYS).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_CONNS_DEFAULT / XLB_CONN_WAYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xlb_conn_set);
} conns SEC(".maps");

/*
 * One word per set of conns (struct xlb_conn_set), in a separate array so
 * that they share cache lines: a filter of the set's tags (bpf/conns.h,
 * xlb_conn_hint_bit()). A bare SYN whose tag's bit is clear skips its set,
 * whose line is a likely cache miss in a SYN flood from new sources; the
 * words of all sets take one byte per entry (64 KiB at the default size),
 * which stays in cache. Mappable: xlbd's own binds (dp_conn_bind) set their
 * bit too. max_entries: conns' sets.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_CONNS_DEFAULT / XLB_CONN_WAYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} conn_hints SEC(".maps");

/*
 * NAT translation entries (struct xlb_nat), two per flow. A plain hash,
 * shared by all CPUs: a flow's two directions may arrive on different CPUs,
 * and BPF_NOEXIST on the shared map is what keeps two CPUs from taking one
 * port. Not an LRU: an entry must live as long as its flow, or its port
 * could be handed out again; xlbd's sweeper ends them. No preallocation, so
 * a daemon with few NAT flows holds little memory.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_NAT_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_flow);
	__type(value, struct xlb_nat);
} nat SEC(".maps");

/*
 * By VIP id, read only when a NAT flow is created: a hash without
 * preallocation, so that memory follows the nat VIPs (264 bytes a pool; an
 * array by id would hold a pool for every possible VIP, 1 MiB by default).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_VIPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xlb_nat_pool);
} nat_pools SEC(".maps");

/*
 * Per-source rate-limit state (include/xlb_ratelimit.h), only ever touched
 * for VIPs with XLB_VIP_RATELIMIT. A map of its own so that a flood of
 * spoofed sources replaces rate-limit entries, never connections. One
 * table for all CPUs: RSS spreads one source's flows over several queues.
 * Set-associative in an array (struct xlb_rl_set), like conns: the lookup
 * is inlined by the verifier, and a new source replaces a way in a few
 * stores where the LRU hash's lookup alone was a helper call. Mappable:
 * xlbd reads and clears ways with the data plane's protocol. max_entries
 * is the number of sets (xlbd -L / XLB_RL_WAYS).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_RATELIMIT_DEFAULT / XLB_RL_WAYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xlb_rl_set);
} ratelimit SEC(".maps");

/* Per CPU: refills never bounce a cache line between CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_nexthop);
} nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_config);
} config SEC(".maps");

/*
 * Read once per packet where it can be (an established packet: lb_flow())
 * and passed down: each read is an inlined lookup and a register to keep.
 */
static __always_inline struct xlb_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

/* Interfaces we may XDP_REDIRECT to, keyed by ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XLB_MAX_TX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xlb_vip_stats);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend_stats);
} backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_outcomes);
} outcomes SEC(".maps");

#endif /* XLB_BPF_MAPS_H */
