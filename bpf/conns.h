/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The connection table (include/xlb_abi.h, struct xlb_conn_set): finding a
 * flow's entry and binding a new one, without locks, from any CPU at once.
 *
 * Why no entry is ever read half-written. A way is written only by the one
 * writer that moved its seq from an even s to s + 1 by compare-and-swap; it
 * stores key and conn, then adds 1 (s + 2). A reader reads seq, then key
 * and conn, then seq again, and takes the entry only if both reads gave the
 * same even number: had any store of a writer fallen between them, seq
 * would have been odd or changed. So the key and backend a reader takes
 * were written together, by one bind. Ordering: the compare-and-swap and the
 * add are locked instructions on x86, full barriers; x86 keeps stores in
 * order and loads in order (TSO); the JIT emits them in program order, and
 * barrier() keeps clang from moving them. A weakly ordered CPU would need
 * the reader's seq loads to be load-acquires (BPF_LOAD_ACQ, kernel 6.15),
 * which clang 14 cannot emit.
 *
 * A way being written reads as a miss: the packet goes by the ring, and a
 * bind that finds its way taken gives up, leaving the flow to be bound by
 * its next packet (and counted then).
 */
#ifndef XLB_BPF_CONNS_H
#define XLB_BPF_CONNS_H

#include "maps.h"
#include "xlb_hash.h"

/* Sets in conns, a power of two: the loader sets it to the map's size. */
const volatile __u32 conn_sets = XLB_CONNS_DEFAULT / XLB_CONN_WAYS;

#define barrier() asm volatile("" ::: "memory")

static __always_inline int flow_eq(const struct xlb_flow *a, const struct xlb_flow *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}
_Static_assert(sizeof(struct xlb_flow) == 5 * sizeof(__u64), "flow_eq");

static __always_inline __u64 way_seq(const struct xlb_conn_way *w)
{
	return *(const volatile __u64 *)&w->seq;
}

/* The epoch entries are stamped with (struct xlb_conn.used). */
static __always_inline __u32 conn_epoch(void)
{
	__u32 zero = 0;
	struct xlb_config *cfg = bpf_map_lookup_elem(&config, &zero);

	return cfg ? cfg->nh_epoch : 0;
}

/* The set of a flow whose xlb_conn_hash(f) is hash. */
static __always_inline struct xlb_conn_set *conn_set_at(__u32 hash)
{
	__u32 set = xlb_conn_set_of(hash, conn_sets);

	return bpf_map_lookup_elem(&conns, &set);
}

/*
 * 0 if set's word in conn_hints says no way of it holds a flow with this
 * hash's tag, 1 if one may (or the word is not computed yet). A bare SYN
 * asks this before conn_find(): the word is an inlined array read from a
 * line that stays in cache (a word per set), the set's first line a likely
 * miss when the SYNs come from new sources. Exact for a finished way: its
 * bit is set before its seq turns even (conn_hint_add()), so a flow the
 * word does not name is at most being written, which reads as a miss too.
 */
static __always_inline int conn_may_hold(__u32 hash)
{
	__u32 set = xlb_conn_set_of(hash, conn_sets);
	__u64 *h = bpf_map_lookup_elem(&conn_hints, &set);
	__u64 w;

	if (!h)
		return 1;
	w = *(volatile __u64 *)h;
	return !(w & XLB_HINT_VALID) || (w & xlb_conn_hint_bit(xlb_conn_tag(hash)));
}

/*
 * After a bind stored tag in set s (its way's seq still odd): the set's
 * word recomputed from its tags, bits of evicted flows dropped, by one
 * compare-and-swap against the word read before the tags. Another bind
 * that stored its tag after our read of it bumps the word's count before
 * setting its bit, so our swap then fails and theirs stands. If the swap
 * fails, our own bit and a count, the count first for the same reason.
 */
static __always_inline void conn_hint_add(const struct xlb_conn_set *s, __u32 hash, __u32 tag)
{
	__u32 set = xlb_conn_set_of(hash, conn_sets);
	__u64 *h = bpf_map_lookup_elem(&conn_hints, &set);
	__u64 w, fresh = XLB_HINT_VALID;

	if (!h)
		return;
	w = *(volatile __u64 *)h;
	barrier();
#pragma unroll
	for (int i = 0; i < XLB_CONN_WAYS; i++) {
		__u32 t = *(const volatile __u32 *)&s->tag[i];

		if (t)
			fresh |= xlb_conn_hint_bit(t);
	}
	fresh |= xlb_conn_hint_bit(tag);
	fresh |= (w + XLB_HINT_COUNT) & ~(XLB_HINT_COUNT - 1);
	if (__sync_val_compare_and_swap(h, w, fresh) == w)
		return;
	__sync_fetch_and_add(h, XLB_HINT_COUNT);
	__sync_fetch_and_or(h, xlb_conn_hint_bit(tag));
}

/* 1 and *c if way w holds flow f, read whole; 0 if not (or being written). */
static __always_inline int way_read(const struct xlb_conn_way *w, const struct xlb_flow *f,
				    struct xlb_conn *c)
{
	__u64 seq = way_seq(w);

	barrier();
	if ((seq & 1) || !flow_eq(&w->key, f))
		return 0;
	*c = w->conn;
	barrier();
	return way_seq(w) == seq;
}

/*
 * Flow f's entry in set s: its way's index, *c filled; -1 if none. Only
 * ways whose tag matches are read: a miss reads the set's first line alone.
 */
static __always_inline int conn_find(const struct xlb_conn_set *s, const struct xlb_flow *f,
				     __u32 hash, struct xlb_conn *c)
{
	__u32 tag = xlb_conn_tag(hash);

#pragma unroll
	for (int i = 0; i < XLB_CONN_WAYS; i++)
		if (s->tag[i] == tag && way_read(&s->way[i], f, c))
			return i;
	return -1;
}

/*
 * A hit's way is stamped with the epoch (the caller's config read), at most
 * once an epoch: an established packet writes nothing, so the line stays
 * shared between CPUs.
 */
static __always_inline void conn_touch(struct xlb_conn_set *s, int way, __u32 epoch)
{
	__u32 *used = &s->used[way & (XLB_CONN_WAYS - 1)];

	if (*used != epoch)
		*used = epoch;
}

/*
 * The way to bind flow f in: its own if the set still holds it (a stale
 * entry being replaced), else an empty one, else the one unused for the
 * most epochs (ties: the first). Read without the seq protocol: a torn read
 * only makes a poorer choice, the compare-and-swap in conn_write() decides.
 */
static __always_inline __u32 conn_victim(const struct xlb_conn_set *s, const struct xlb_flow *f,
					 __u32 tag, __u32 epoch)
{
	__u32 victim = 0, oldest = 0, age;

#pragma unroll
	for (int i = 0; i < XLB_CONN_WAYS; i++) {
		if (s->tag[i] == tag && flow_eq(&s->way[i].key, f))
			return i;
		age = s->tag[i] ? epoch - s->used[i] : 0xffffffffU;
		if (age > oldest || !i) {
			oldest = age;
			victim = i;
		}
	}
	return victim;
}

/*
 * Bind flow f to c: 1 if written, 0 if its way was being written. The tag
 * goes first, while seq is odd: a reader it sends to the way finds it busy
 * until key and entry are whole, and never misses a finished way.
 */
static __always_inline int conn_write(struct xlb_conn_set *s, const struct xlb_flow *f,
				      __u32 hash, const struct xlb_conn *c)
{
	__u32 epoch = conn_epoch(), tag = xlb_conn_tag(hash);
	__u32 i = conn_victim(s, f, tag, epoch) & (XLB_CONN_WAYS - 1);
	struct xlb_conn_way *w = &s->way[i];
	__u64 seq = way_seq(w);

	if ((seq & 1) || __sync_val_compare_and_swap(&w->seq, seq, seq + 1) != seq)
		return 0;
	barrier();
	s->tag[i] = tag;
	s->used[i] = epoch;
	w->key = *f;
	w->conn = *c;
	barrier();
	conn_hint_add(s, hash, tag);
	barrier();
	__sync_fetch_and_add(&w->seq, 1);
	return 1;
}

#endif /* XLB_BPF_CONNS_H */
