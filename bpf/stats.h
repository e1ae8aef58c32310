/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: one named struct per purpose (include/xlb_abi.h). */
#ifndef XLB_BPF_STATS_H
#define XLB_BPF_STATS_H

#include "maps.h"
#include "trace.h"

static __always_inline struct xlb_outcomes *outcomes_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&outcomes, &zero);
}

/* Count one packet under `field` of struct xlb_outcomes and return `verdict`. */
#define done(verdict, field)                                      \
	({                                                        \
		struct xlb_outcomes *__o = outcomes_get();        \
		if (__o)                                          \
			__o->field++;                             \
		trace_outcome(__builtin_offsetof(struct xlb_outcomes, field) / 8); \
		(verdict);                                        \
	})

/*
 * How a packet's backend was found, for the counters and a trace. Every call
 * site passes a constant, so after inlining the tests below cost nothing.
 */
enum pick {
	PICK_CONN,	/* the flow's connection entry */
	PICK_BOUND,	/* the ring, and the flow was bound: a new flow */
	PICK_RING,	/* the ring, nothing bound (bare SYN, fragment, ICMP error) */
};

static __always_inline void count_vip(__u32 vip_id, __u64 bytes, enum pick how)
{
	struct xlb_vip_stats *s = bpf_map_lookup_elem(&vip_stats, &vip_id);

	trace_vip(vip_id, how == PICK_BOUND ? XLB_TRACE_NEW_FLOW | XLB_TRACE_RING :
			  how == PICK_RING  ? XLB_TRACE_RING : 0);
	if (!s)
		return;
	s->packets++;
	s->bytes += bytes;
	if (how == PICK_BOUND)
		s->new_flows++;
}

static __always_inline void count_vip_drop(__u32 vip_id)
{
	struct xlb_vip_stats *s = bpf_map_lookup_elem(&vip_stats, &vip_id);

	trace_vip(vip_id, 0);
	if (s)
		s->drops++;
}

/* Over a source's rate limit: a drop of the VIP, and the reason for it. */
static __always_inline void count_vip_ratelimited(__u32 vip_id)
{
	struct xlb_vip_stats *s = bpf_map_lookup_elem(&vip_stats, &vip_id);

	trace_vip(vip_id, XLB_TRACE_RATELIMITED);
	if (!s)
		return;
	s->drops++;
	s->ratelimited++;
}

static __always_inline void count_backend(__u32 id, __u64 bytes)
{
	struct xlb_backend_stats *s = bpf_map_lookup_elem(&backend_stats, &id);

	trace_backend(id);
	if (!s)
		return;
	s->packets++;
	s->bytes += bytes;
}

#endif /* XLB_BPF_STATS_H */
