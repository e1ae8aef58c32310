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

/*
 * The outcome a packet is counted under travels in its verdict: done()
 * returns the verdict with 1 + the counter's index above OUTCOME_SHIFT, the
 * functions between pass it up untouched, and the program counts it once,
 * at its end (outcome_count()). Counting at each done() put an inlined map
 * lookup and an increment at every exit of every inlined copy, about 260
 * places: measured, 18% of the loaded program's instructions and 26% of
 * the verifier's time, which every start of xlbd and every trace pays.
 */
#define OUTCOME_SHIFT 8
#define outcome_idx(field) (__builtin_offsetof(struct xlb_outcomes, field) / 8)

/* `verdict`, to be counted under `field` of struct xlb_outcomes. */
#define done(verdict, field) ((verdict) | (int)(outcome_idx(field) + 1) << OUTCOME_SHIFT)

/*
 * A counter beside the outcome (an ICMP or NAT note, "also tx"), counted
 * where it happens: the packet still ends under an outcome of its own.
 */
#define count_note(field)                                         \
	({                                                        \
		struct xlb_outcomes *__o = outcomes_get();        \
		if (__o)                                          \
			__o->field++;                             \
		trace_outcome(outcome_idx(field));                \
	})

/*
 * The program's verdict, its outcome counted: one lookup and increment per
 * packet, as before, with the index a register. rc from a path that did
 * not end in done() (none should) carries index 0 and is not counted.
 */
static __always_inline int outcome_count(int rc)
{
	__u32 idx = ((__u32)rc >> OUTCOME_SHIFT) - 1;
	struct xlb_outcomes *o;

	if (idx < sizeof(struct xlb_outcomes) / sizeof(__u64)) {
		o = outcomes_get();
		if (o)
			((__u64 *)o)[idx]++;
		trace_outcome(idx);
	}
	return rc & ((1 << OUTCOME_SHIFT) - 1);
}

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

/*
 * Out of line: a drop's path is not a forwarded packet's, and vip_drop()
 * ends some 120 paths after inlining. Inlined, its lookup and increments
 * were 8% of the loaded program and 9% of the verifier's time (measured);
 * the call costs a drop a few ns.
 */
static __noinline void count_vip_drop(__u32 vip_id)
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
