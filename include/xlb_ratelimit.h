/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-source rate limit arithmetic, one copy for the XDP program (a decision
 * per packet) and the control plane (parameters per `ratelimit set`), so the
 * unit tests run the very code the data plane runs.
 *
 * GCRA, the generic cell rate algorithm of ATM (ITU-T I.371), is a token
 * bucket kept as a single number: the theoretical arrival time (tat) of the
 * source's next packet had it always sent at exactly the rate. A packet
 * conforms when it comes at most `tolerance` early, tat - now <= tolerance,
 * and then moves tat one interval on. An idle source's tat falls behind the
 * clock; starting from max(tat, now) caps what idling earns at a full bucket.
 * With tolerance = (burst - 1) * interval a full bucket lets exactly `burst`
 * packets through back to back, and then one per interval.
 *
 * One 64-bit word of state is what makes the limit exact over several CPUs:
 * a compare-and-swap of tat is the whole update (bpf/ratelimit.h), where a
 * tokens-plus-timestamp bucket needs two words and so a lock.
 *
 * All times are integer nanoseconds of bpf_ktime_get_ns() (CLOCK_MONOTONIC,
 * since boot). Ranges, from xlb_rl_params(): interval <= 1e9 (1 pps),
 * tolerance < XLB_RL_BURST_MAX * 1e9 = 1e17, and now < 2^63 for 292 years
 * of uptime. A stored tat never exceeds now + tolerance + interval, so no
 * sum below comes near 2^64 at any rate, burst or uptime.
 */
#ifndef XLB_RATELIMIT_H
#define XLB_RATELIMIT_H

#include <linux/errno.h>
#include "xlb_abi.h"
#include "xlb_hash.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Limits of `ratelimit set` (the CLI's CMD_RATE_MAX / CMD_BURST_MAX). */
#define XLB_RL_RATE_MAX		100000000U	/* pps: interval >= 10 ns */
#define XLB_RL_BURST_MAX	100000000U	/* packets */

#define XLB_NSEC_PER_SEC	1000000000ULL

/*
 * How far tat may run ahead of a CPU's clock reading beyond a just-emptied
 * bucket before xlb_rl_decide() calls it a clock that went backwards. In
 * normal operation the excess is the moment between one CPU reading the
 * clock and another storing a tat computed from a later reading: well under
 * a millisecond even in a preemptible BPF_PROG_TEST_RUN. A second leaves
 * room for that and still bounds how long a source can be shut out.
 */
#define XLB_RL_CLOCK_SLACK_NS	XLB_NSEC_PER_SEC

/*
 * GCRA parameters of `rate` packets per second with `burst` packets of
 * bucket: 0, or -EINVAL when either is outside 1..100,000,000.
 *
 * The interval is rounded up: a limit must never let more through than the
 * operator asked for. The cost is a rate slightly below the one asked for,
 * by less than rate / 1e9 relative: under 0.1 % up to 1 Mpps, under 1 % up to
 * 10 Mpps, about 9 % at worst near the 100 Mpps ceiling where nanoseconds
 * get coarse (rounding to nearest would halve the worst error, but could let
 * up to 5 % more through than asked). The burst is exact whatever the
 * rounding: the tolerance is a whole number of the rounded intervals.
 *
 * Largest product: (1e8 - 1) * 1e9 < 2^57.
 */
static __always_inline int xlb_rl_params(__u32 rate_pps, __u32 burst, __u64 *interval_ns,
					 __u64 *tolerance_ns)
{
	__u64 interval;

	if (rate_pps < 1 || rate_pps > XLB_RL_RATE_MAX || burst < 1 || burst > XLB_RL_BURST_MAX)
		return -EINVAL;
	interval = (XLB_NSEC_PER_SEC + rate_pps - 1) / rate_pps;
	*interval_ns = interval;
	*tolerance_ns = (__u64)(burst - 1) * interval;
	return 0;
}

/*
 * One packet at `now` from a source whose state is `tat`: 1 to pass it, 0 to
 * drop it. *new_tat is the state to store, equal to tat when nothing changes
 * (the caller then writes nothing). No division: this runs per packet.
 *
 * A source never seen before (tat 0) is a full bucket, like one idle for
 * weeks. A drop leaves tat alone: a source over its limit digs no deeper
 * hole and gets its rate back as soon as it slows down.
 *
 * The clock going backwards. A little (now older than the clock reading
 * behind tat) only makes tat look further ahead: the source waits that much
 * longer and never gets an extra packet. A lot means tat is more than
 * tolerance + interval + XLB_RL_CLOCK_SLACK_NS ahead, which no arrival can
 * produce: left alone, the source would be shut out until the clock caught
 * up, for ever if tat is garbage. It is re-anchored as a bucket emptied just
 * now instead: this packet is dropped, the next passes an interval later,
 * which is what the source would get had it just spent its whole burst, so
 * even then nobody gets extra packets.
 *
 * Overflow: start <= now + tolerance whenever an interval is added to it;
 * ahead is formed only with start >= now, and its excess over tolerance only
 * when ahead > tolerance.
 */
static __always_inline int xlb_rl_decide(__u64 tat, __u64 now, __u64 interval, __u64 tolerance,
					 __u64 *new_tat)
{
	__u64 start = tat > now ? tat : now;
	__u64 ahead = start - now;

	if (ahead <= tolerance) {
		*new_tat = start + interval;
		return 1;
	}
	if (ahead - tolerance > interval + XLB_RL_CLOCK_SLACK_NS)
		*new_tat = now + tolerance + interval;
	else
		*new_tat = tat;
	return 0;
}

/*
 * The bucket a packet from `src` to VIP `vip_id` counts against: IPv4 by /32,
 * IPv6 by /64, since one attacker usually holds a whole /64. The key is
 * cleared first: its padding is part of the hashed bytes.
 */
static __always_inline void xlb_rl_key_init(struct xlb_rl_key *key, __u32 vip_id,
					    const struct xlb_addr *src, __u8 family)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->vip_id = vip_id;
	key->family = family;
	key->src.w[0] = src->w[0];
	if (family == XLB_AF_INET6)
		key->src.w[1] = src->w[1];
}

/*
 * The set of the table (struct xlb_rl_set) a source's key lives in, `sets`
 * a power of two: one round of the flow hash's final mix over the words
 * that differ between keys (an IPv4 key's src.w[1] is 0).
 */
static __always_inline __u32 xlb_rl_set_of(const struct xlb_rl_key *key, __u32 sets)
{
	__u32 a = XLB_HASH_SEED + key->src.w[0], b = XLB_HASH_SEED + key->src.w[1];
	__u32 c = XLB_HASH_SEED + (key->vip_id ^ (__u32)key->family << 24);

	XLB_FINAL(a, b, c);
	return c & (sets - 1);
}

/* 1 if two keys are the same source of the same VIP (pad included: cleared). */
static __always_inline int xlb_rl_key_eq(const struct xlb_rl_key *a, const struct xlb_rl_key *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}
_Static_assert(sizeof(struct xlb_rl_key) == 3 * sizeof(__u64), "xlb_rl_key_eq");

/*
 * The way a new source takes in a set: the one whose tat is least far
 * ahead (ties: the first). An empty way has tat 0, and a source whose tat
 * has fallen behind the clock has a full bucket, exactly what it would get
 * back as a new source: replacing either loses nothing but its counters.
 * Otherwise the occupant replaced gets back at most the debt its tat holds,
 * and the smallest debt goes first: a flood of new sources, each owing one
 * interval after its first packet, replaces its own entries long before a
 * source kept over its limit (tat about a whole tolerance ahead). To reset
 * that source's bucket, a flood would have to put XLB_RL_WAYS - 1 sources
 * of the same set deeper in debt, sending more over their limits than the
 * reset gives back. A way being written (XLB_RL_BUSY) is never chosen
 * unless all are.
 */
static __always_inline __u32 xlb_rl_victim(const __u64 *tat)
{
	__u32 victim = 0;
	__u64 least = tat[0];

	for (int i = 1; i < XLB_RL_WAYS; i++)
		if (tat[i] < least) {
			least = tat[i];
			victim = i;
		}
	return victim;
}

#endif /* XLB_RATELIMIT_H */
