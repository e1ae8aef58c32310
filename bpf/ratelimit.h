/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-source rate limit stage: right after the VIP lookup, before any
 * other per-flow work, so a source over its limit costs a hash lookup, a
 * clock read and a counter. The arithmetic is GCRA, in
 * include/xlb_ratelimit.h; this file is the map access around it.
 *
 * Several CPUs may see the same source at once (RSS spreads its flows over
 * queues), and the limit must not multiply by their number. The entry is
 * shared, and its one word of bucket state, tat_ns, only changes by
 * compare-and-swap from the value the decision was made on: of two CPUs
 * racing for the last token, one wins and the other decides again on the
 * winner's tat. Drops write nothing, so a source over its limit does not
 * bounce the cache line around except for its counter.
 */
#ifndef XLB_BPF_RATELIMIT_H
#define XLB_BPF_RATELIMIT_H

#include "maps.h"
#include "stats.h"
#include "xlb_ratelimit.h"

/*
 * Compare-and-swap attempts per packet. Each failure means another CPU has
 * just stored a new tat for this very source, so running out takes a source
 * arriving on several CPUs in the same instant: the packet is then dropped,
 * which can cost that source a packet the limit would have allowed, never
 * let through one it would not.
 */
#define XLB_RL_CAS_TRIES 4

/*
 * 1 if the packet of flow f, arrived at now (bpf_ktime_get_ns(): the coarse
 * clock's jiffy would let whole bursts through at rates above HZ), is within
 * its source's limit on vip, 0 if not. Counts it in the source's entry
 * either way.
 */
static __always_inline int ratelimit_pass(const struct xlb_vip *vip, const struct xlb_flow *f,
					  __u64 now)
{
	__u64 interval = vip->rl_interval_ns, tolerance = vip->rl_tolerance_ns;
	struct xlb_rl_state *st, fresh = {};
	struct xlb_rl_key key;
	__u64 tat, next, seen;
	int pass = 0;

	xlb_rl_key_init(&key, vip->id, &f->src, f->family);
	st = bpf_map_lookup_elem(&ratelimit, &key);
	if (!st) {
		/*
		 * A new source: insert its state after this packet, which a
		 * full bucket always passes. BPF_NOEXIST, because another CPU
		 * may have inserted the source since our lookup; its entry is
		 * then used like any other.
		 */
		xlb_rl_decide(0, now, interval, tolerance, &fresh.tat_ns);
		fresh.passed = 1;
		if (!bpf_map_update_elem(&ratelimit, &key, &fresh, BPF_NOEXIST))
			return 1;
		st = bpf_map_lookup_elem(&ratelimit, &key);
		/*
		 * Neither inserted nor there: the LRU found no free node. The
		 * source's standing is unknown rather than bad, and a limiter
		 * that fails closed would turn its own trouble into an outage
		 * for every new client, so the packet passes, uncounted.
		 */
		if (!st)
			return 1;
	}

	tat = *(volatile __u64 *)&st->tat_ns;
	for (int i = 0; i < XLB_RL_CAS_TRIES; i++) {
		pass = xlb_rl_decide(tat, now, interval, tolerance, &next);
		if (next == tat)
			goto count;
		seen = __sync_val_compare_and_swap(&st->tat_ns, tat, next);
		if (seen == tat)
			goto count;
		tat = seen;
	}
	pass = 0;
count:
	if (pass)
		__sync_fetch_and_add(&st->passed, 1);
	else
		__sync_fetch_and_add(&st->dropped, 1);
	return pass;
}

/*
 * The stage: 1 if a packet to vip goes on, 0 if it is over its source's
 * limit. VIPs without a limit never touch the map nor read the clock: no
 * other stage needs the time (connection entries carry no timestamp, the
 * next-hop cache is refreshed by epoch), so the clock read, a helper call,
 * is paid by rate-limited VIPs only.
 */
static __always_inline int ratelimit_admit(const struct xlb_vip *vip, const struct xlb_flow *f)
{
	if (!(vip->flags & XLB_VIP_RATELIMIT))
		return 1;
	return ratelimit_pass(vip, f, bpf_ktime_get_ns());
}

/* Drop a packet over its source's limit, counted on the VIP and globally. */
static __always_inline int ratelimit_drop(__u32 vip_id)
{
	count_vip_ratelimited(vip_id);
	return done(XDP_DROP, drop_ratelimit);
}

#endif /* XLB_BPF_RATELIMIT_H */
