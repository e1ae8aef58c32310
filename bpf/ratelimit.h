/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The per-source rate limit stage: right after the VIP lookup, before any
 * other per-flow work, so a source over its limit costs an inlined array
 * read of its set (struct xlb_rl_set), a clock read and a counter. The
 * arithmetic is GCRA, in include/xlb_ratelimit.h; this file is the table
 * access around it.
 *
 * Several CPUs may see the same source at once (RSS spreads its flows over
 * queues), and the limit must not multiply by their number. The entry is
 * shared, and its one word of bucket state, tat_ns, only changes by
 * compare-and-swap from the value the decision was made on: of two CPUs
 * racing for the last token, one wins and the other decides again on the
 * winner's tat. Drops write nothing, so a source over its limit does not
 * bounce the cache line around except for its counter.
 *
 * A pass takes the way for the few stores of its update: compare-and-swap
 * of tat to XLB_RL_BUSY from the value decided on, a plain add to passed,
 * then the new tat. One locked instruction per passed packet, and the
 * count exact (`xlbctl top`, the tests), where a locked add beside the
 * compare-and-swap measured ~20 ns more and per-CPU counts would cost
 * memory per CPU for every way. Drops keep a locked add to dropped.
 */
#ifndef XLB_BPF_RATELIMIT_H
#define XLB_BPF_RATELIMIT_H

#include "maps.h"
#include "stats.h"
#include "xlb_ratelimit.h"

/* Sets in ratelimit, a power of two: the loader sets it to the map's size. */
const volatile __u32 rl_sets = XLB_RATELIMIT_DEFAULT / XLB_RL_WAYS;

#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif

/*
 * Tries per packet after the first (ratelimit_slow()). A try fails when
 * another CPU holds a way of the source's set for its few stores (a pass,
 * a new source) or stored this source's tat first: running out takes
 * several CPUs in the same instant, or one interrupted while holding the
 * way. The packet is then dropped, which can cost a source a packet the
 * limit would have allowed, never let through one it would not; it is
 * counted in the source's way if a try found it, or one of XLB_RL_LOOKS
 * reads of the set's keys after the last (a source being inserted by
 * another CPU shows its key before its tat). Each try costs ~7,000
 * verified instructions, once (a global function).
 */
#define XLB_RL_TRIES 8
#define XLB_RL_LOOKS 32

static __always_inline __u64 rl_tat(const struct xlb_rl_way *w)
{
	return *(const volatile __u64 *)&w->tat_ns;
}

/*
 * The way of set s that holds key, *tat its state, read whole; -ENOENT if
 * none does, -EBUSY if one was being written (it may be this source's).
 * The tat is read before and after the key: a writer takes it (XLB_RL_BUSY)
 * before touching the key and sets it after, so an unchanged tat means the
 * key compared was not being rewritten in between (x86 keeps loads in
 * order, stores in order, and the JIT keeps program order).
 */
static __always_inline int rl_find(const struct xlb_rl_set *s, const struct xlb_rl_key *key,
				   __u64 *tat)
{
	int ret = -ENOENT;

#pragma unroll
	for (int i = 0; i < XLB_RL_WAYS; i++) {
		__u64 t = rl_tat(&s->way[i]);

		barrier();
		if (t == XLB_RL_BUSY) {
			ret = -EBUSY;
			continue;
		}
		if (!xlb_rl_key_eq(&s->way[i].key, key))
			continue;
		barrier();
		if (rl_tat(&s->way[i]) != t) {
			ret = -EBUSY;
			continue;
		}
		*tat = t;
		return i;
	}
	return ret;
}

/*
 * A new source's first packet, which a full bucket always passes: it takes
 * the way xlb_rl_victim() picks. 0 if written, -EBUSY if it must look
 * again: another CPU took that way first, or is writing the set, or wrote
 * this very source (its first packets on two queues at once).
 *
 * Two CPUs inserting one source must not both succeed: the source would get
 * two buckets, its first packet passed on each, and a count lost
 * (test_two_cpus_share_bucket saw 501 passed of a burst of 500 about one
 * round in 300). So the inserter takes the way, writes its counts and key,
 * then reads the rest of the set: if the source is already there, or
 * another way is being written, it lets go. Of two CPUs at it in the same
 * instant, at least one sees the other's way taken (each reads after its
 * own locked compare-and-swap); both letting go costs a try, not a packet.
 *
 * The key is written before that read, so that another CPU's packets of
 * this source, out of tries while the way is held (an inserter interrupted
 * in between), find it with rl_held() and count their drops on it. Letting
 * go then empties the way rather than put its occupant back: that is the
 * victim this insert would have replaced anyway, the source least in debt,
 * which gets back at most that debt. Putting it back would keep its key
 * and counts aside (40 bytes in the frames of xlb_lb and ratelimit_slow,
 * room the NAT path has had since the FIB refill left its frames) for a
 * race two CPUs must lose in the same instant.
 */
static __always_inline int rl_insert(struct xlb_rl_set *s, const struct xlb_rl_key *key,
				     __u64 now, __u64 interval, __u64 tolerance)
{
	__u64 tat[XLB_RL_WAYS], old, fresh;
	struct xlb_rl_way *w;

#pragma unroll
	for (int i = 0; i < XLB_RL_WAYS; i++)
		tat[i] = rl_tat(&s->way[i]);
	w = &s->way[xlb_rl_victim(tat) & (XLB_RL_WAYS - 1)];
	old = rl_tat(w);
	if (old == XLB_RL_BUSY || __sync_val_compare_and_swap(&w->tat_ns, old, XLB_RL_BUSY) != old)
		return -EBUSY;
	barrier();
	/* Already this source's (written since the tat was read): untouched. */
	if (xlb_rl_key_eq(&w->key, key)) {
		w->tat_ns = old;
		return -EBUSY;
	}
	/* Counts before the key: a drop counted once the key shows stays. */
	w->passed = 1;
	w->dropped = 0;
	barrier();
	w->key = *key;
	barrier();
#pragma unroll
	for (int i = 0; i < XLB_RL_WAYS; i++) {
		if (&s->way[i] == w)
			continue;
		if (rl_tat(&s->way[i]) == XLB_RL_BUSY)
			goto let_go;
		/* Key after tat: a writer stores the key before its tat. */
		barrier();
		if (xlb_rl_key_eq(&s->way[i].key, key))
			goto let_go;
	}
	xlb_rl_decide(0, now, interval, tolerance, &fresh);
	barrier();
	w->tat_ns = fresh;
	return 0;
let_go:
	__builtin_memset(&w->key, 0, sizeof(w->key));
	barrier();
	w->tat_ns = 0;
	return -EBUSY;
}

/* Count a packet of way w, passed or not: pass, for the caller to return. */
static __always_inline int rl_count(struct xlb_rl_way *w, int pass)
{
	if (pass)
		__sync_fetch_and_add(&w->passed, 1);
	else
		__sync_fetch_and_add(&w->dropped, 1);
	return pass;
}

/*
 * One try at key's way in set s: 1 or 0 as the decision if it was made
 * (and counted), -ENOENT if the set holds no such source, -EBUSY if the
 * try must be made again (a way being written, or another CPU stored this
 * source's tat first). *w: the way, once found.
 */
static __always_inline int rl_try(struct xlb_rl_set *s, const struct xlb_rl_key *key, __u64 now,
				  __u64 interval, __u64 tolerance, struct xlb_rl_way **w)
{
	__u64 tat, next;
	int i = rl_find(s, key, &tat), pass;

	if (i < 0)
		return i;
	*w = &s->way[i & (XLB_RL_WAYS - 1)];
	pass = xlb_rl_decide(tat, now, interval, tolerance, &next);
	/* Drops write no tat: a source over its limit shares the line. */
	if (next == tat)
		return rl_count(*w, pass);
	/*
	 * Take the way from the tat decided on (XLB_RL_BUSY), count, then
	 * store the new tat: the passed count is written by the one CPU
	 * holding the way, a plain add where a second locked instruction
	 * cost ~20 ns, and stays exact; readers wait out the few stores.
	 */
	if (__sync_val_compare_and_swap(&(*w)->tat_ns, tat, XLB_RL_BUSY) != tat)
		return -EBUSY;
	barrier();
	if (pass)
		(*w)->passed++;
	barrier();
	(*w)->tat_ns = next;
	return pass ? 1 : rl_count(*w, 0);
}

/*
 * The way holding key, held (XLB_RL_BUSY) or not: after the last try, so
 * that a drop is counted on its source even when another CPU held the way
 * through every try (a pass's few stores, whose line can take longer to
 * come back than a try takes: test_two_cpus_share_bucket saw it about one
 * run in twenty). A pass leaves the key as it is; a way whose key is being
 * written (rl_insert) could compare torn, which at worst counts one drop
 * on another source.
 */
static __always_inline struct xlb_rl_way *rl_held(struct xlb_rl_set *s,
						  const struct xlb_rl_key *key)
{
#pragma unroll
	for (int i = 0; i < XLB_RL_WAYS; i++)
		if (xlb_rl_key_eq(&s->way[i].key, key))
			return &s->way[i];
	return NULL;
}

/*
 * The tries again after a race (a way being written, or a tat stored by
 * another CPU first). A global function, so the verifier checks its loop
 * once rather than on every path into the stage (inlined, the loop doubled
 * the program's verification and took the traced build past a million
 * instructions); the BPF-to-BPF call is paid by races only. 1 to pass, 0
 * to drop. s and key are never NULL: the verifier asks.
 */
__noinline int ratelimit_slow(struct xlb_rl_set *s, const struct xlb_rl_key *key, __u64 now,
			      __u64 interval, __u64 tolerance)
{
	struct xlb_rl_way *w = NULL;
	int ret;

	if (!s || !key)
		return 1;
	for (int try = 0; try < XLB_RL_TRIES; try++) {
		ret = rl_try(s, key, now, interval, tolerance, &w);
		if (ret == -ENOENT && !rl_insert(s, key, now, interval, tolerance))
			return 1;
		if (ret >= 0)
			return ret;
	}
	/*
	 * Out of tries: dropped, counted in the way last seen. If none was,
	 * another CPU may be inserting this very source, its way held from
	 * before its key is written: look a few times more, so that the drop
	 * is counted on the source.
	 */
	for (int look = 0; !w && look < XLB_RL_LOOKS; look++) {
		barrier();	/* each look reads the keys again */
		w = rl_held(s, key);
	}
	return w ? rl_count(w, 0) : 0;
}

/*
 * 1 if the packet of flow f, arrived at now (bpf_ktime_get_ns(): the coarse
 * clock's jiffy would let whole bursts through at rates above HZ), is within
 * its source's limit on vip, 0 if not. Counts it in the source's way.
 */
static __always_inline int ratelimit_pass(const struct xlb_vip *vip, const struct xlb_flow *f,
					  __u64 now)
{
	__u64 interval = vip->rl_interval_ns, tolerance = vip->rl_tolerance_ns;
	struct xlb_rl_way *w = NULL;
	struct xlb_rl_key key;
	struct xlb_rl_set *s;
	__u32 set;
	int ret;

	xlb_rl_key_init(&key, vip->id, &f->src, f->family);
	set = xlb_rl_set_of(&key, rl_sets);
	/* An array lookup, inlined by the verifier: no helper call. */
	s = bpf_map_lookup_elem(&ratelimit, &set);
	if (!s)
		return 1;	/* only if rl_sets outgrew the map: not a packet's fault */
	ret = rl_try(s, &key, now, interval, tolerance, &w);
	if (ret >= 0)
		return ret;
	/* A new source's insert inline too: a flood of them is what it costs. */
	if (ret == -ENOENT && !rl_insert(s, &key, now, interval, tolerance))
		return 1;
	return ratelimit_slow(s, &key, now, interval, tolerance);
}

/*
 * The stage: 1 if a packet to vip goes on, 0 if it is over its source's
 * limit. VIPs without a limit never touch the map nor read the clock: no
 * other stage needs the time (connection entries carry no timestamp, the
 * next-hop cache is refreshed by epoch), so the clock read, a helper call,
 * is paid by rate-limited VIPs only.
 *
 * It is most of what the limit costs a passed packet (measured on the
 * bench machine, an AMD VM whose returns go through the SRSO "safe RET"
 * thunk: bpf_ktime_get_ns() +38-47 ns, bpf_ktime_get_coarse_ns() +17-22,
 * bpf_jiffies64(), which the verifier inlines, +2-5). The cheaper clocks
 * tick at HZ (4 ms here), and a source's tat must be set from the precise
 * time whenever its bucket has refilled (tat behind the clock: every packet
 * of a source below its rate): anchored on a clock up to a tick late, each
 * refill would hand out up to a tick's worth of the rate on top of the
 * burst, thousands of packets at rates of Mpps. The limit stays exact.
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
