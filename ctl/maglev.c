/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Weighted Maglev table builder.
 *
 * Each backend walks its own permutation of the slots, p(j) = (offset + j * skip) % size, and
 * the backends take turns claiming the next slot of their permutation that is still free. A
 * prime size makes every skip in [1, size - 1] coprime with it, so each permutation visits every
 * slot and the fill always terminates. The permutations are walked incrementally, one addition
 * per step, instead of being stored: 1000 backends x 65537 slots would be 250 MiB.
 *
 * Weights: in round r (1, 2, ...) a backend of weight w takes its k-th turn when r * w first
 * reaches k * max_weight, as if it added w to a credit every round and took a turn whenever the
 * credit reached max_weight. The heaviest backends take one turn per round, the others
 * proportionally fewer, so slot shares follow the weights. Instead of visiting every backend in
 * every round, which costs backends x rounds when one weight dwarfs the others, each backend
 * sits in a calendar under the round of its next turn: the work is one step per slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

/*
 * Nothing-up-my-sleeve seeds (the fractional hex digits of pi and e) so that offset and skip
 * come from two unrelated hashes of the same address.
 */
#define MAGLEV_SEED_OFFSET 0x243f6a8885a308d3ULL
#define MAGLEV_SEED_SKIP 0xb7e151628aed2a6aULL

struct maglev_entry {
	struct xlb_addr addr; /* IPv4: bytes 4..15 cleared, so they cannot change the table */
	__u8 family;
	__u16 port;
	__u32 id;
	__u32 weight;
	__u32 pos; /* next slot of this backend's permutation to try */
	__u32 skip;
	__u32 gap;     /* max_weight / weight: rounds between turns, or one more */
	__u32 gap_rem; /* max_weight % weight */
	__u32 excess;  /* (round of the last turn) * weight - turns * max_weight */
	__u32 next;    /* 1 + index of the next entry in the same calendar round; 0 = end */
};

bool maglev_is_prime(__u32 n)
{
	__u32 d;

	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	/* d <= n / d rather than d * d <= n: the square cannot overflow. */
	for (d = 3; d <= n / d; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

/*
 * The 64-bit finalizer of MurmurHash3: a bijection in which every input bit flips each output
 * bit with probability close to 1/2.
 */
static __u64 maglev_mix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Assembled byte by byte so the result is the same on big- and little-endian hosts. */
static __u64 maglev_load_le64(const __u8 *p)
{
	__u64 v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static __u64 maglev_hash(const struct maglev_entry *e, __u64 seed)
{
	__u64 h = maglev_mix64(seed ^ e->family);

	h = maglev_mix64(h ^ maglev_load_le64(&e->addr.b[0]));
	h = maglev_mix64(h ^ maglev_load_le64(&e->addr.b[8]));
	/* Mixed in only when there is one: the tables of port-less backends stay as they were. */
	return e->port ? maglev_mix64(h ^ e->port) : h;
}

static int maglev_entry_cmp(const void *pa, const void *pb)
{
	const struct maglev_entry *a = pa, *b = pb;

	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr.b, b->addr.b, sizeof(a->addr.b));
	return c ? c : a->port < b->port ? -1 : a->port > b->port;
}

/*
 * Validate backends[] and copy it into e[], sorted by identity so that the order of the turns
 * does not depend on the caller's order, with the weight-0 backends dropped. Returns the number
 * of entries kept or -EINVAL.
 */
static long maglev_prepare(const struct maglev_backend *backends, size_t n, struct maglev_entry *e)
{
	size_t i, kept = 0;

	for (i = 0; i < n; i++) {
		const struct maglev_backend *b = &backends[i];

		if (b->family != XLB_AF_INET && b->family != XLB_AF_INET6)
			return -EINVAL;
		if (b->weight > MAGLEV_WEIGHT_MAX)
			return -EINVAL;
		/* Slots holding XLB_BACKEND_NONE read as empty in the data plane. */
		if (b->weight && b->id == XLB_BACKEND_NONE)
			return -EINVAL;
		memset(&e[i], 0, sizeof(e[i]));
		e[i].family = b->family;
		if (b->family == XLB_AF_INET)
			e[i].addr.v4 = b->addr.v4;
		else
			e[i].addr = b->addr;
		e[i].port = b->port;
		e[i].id = b->id;
		e[i].weight = b->weight;
	}
	qsort(e, n, sizeof(*e), maglev_entry_cmp);
	/* A duplicate may be draining: check before dropping the weight-0 entries. */
	for (i = 1; i < n; i++)
		if (!maglev_entry_cmp(&e[i - 1], &e[i]))
			return -EINVAL;
	for (i = 0; i < n; i++)
		if (e[i].weight)
			e[kept++] = e[i];
	return kept;
}

/* One step along the permutation, written so that pos + skip cannot overflow for any size. */
static inline __u32 maglev_advance(__u32 pos, __u32 skip, __u32 size)
{
	return pos >= size - skip ? pos - (size - skip) : pos + skip;
}

/*
 * The last free slots cost the most: with k of them left, a backend probes size / k slots on
 * average before it finds one (10 backends, 65537 slots: the last 1% of the slots took half of
 * the probes). With k left, each backend's k candidates are put in the order its permutation
 * reaches them, once (k multiplications by the inverse of its skip, and a radix sort), and each
 * turn then takes the first that is still free: the same slots, in the same turns. Worth it
 * only while backends x k stays small against size x log(size / k) probes.
 */
#define MAGLEV_LATE_BUDGET 32768	/* candidates of all backends together */
#define MAGLEV_LATE_MAX_FREE 128	/* at most 1 / 128 of the slots left */

/* Bits of each of the radix sort's two digits, for distances below size. */
#define MAGLEV_DIGIT_BITS(size) ((33 - __builtin_clz((size) - 1)) / 2)

struct maglev_fill {
	struct maglev_entry *e;
	size_t n;
	__u64 *taken;
	__u32 *table;
	__u32 size;
	__u32 late_at;		/* filled when the candidates are sorted; size: never */
	__u32 k;		/* candidates per backend */
	__u32 *cand;		/* backend i's: cand[i * k ...], in its permutation's order */
	__u32 *next;		/* backend i's first candidate that may still be free */
};

static inline bool maglev_taken(const __u64 *taken, __u32 pos)
{
	return taken[pos / 64] & (1ULL << (pos % 64));
}

/* Claim the next free slot of e's permutation; one must exist. */
static inline __u32 maglev_claim(struct maglev_entry *e, __u64 *taken, __u32 size)
{
	__u32 pos = e->pos;

	while (maglev_taken(taken, pos))
		pos = maglev_advance(pos, e->skip, size);
	taken[pos / 64] |= 1ULL << (pos % 64);
	e->pos = maglev_advance(pos, e->skip, size);
	return pos;
}

/*
 * x mod m for x < 2^40 and m < 2^20 with a precomputed recip = (2^64 - 1) / m: a division
 * by a variable is ~40 cycles, this two multiplications. The quotient estimate is at most one
 * short.
 */
static inline __u32 maglev_mod(__u64 x, __u32 m, __u64 recip)
{
	__u64 r = x - (__u64)(((unsigned __int128)x * recip) >> 64) * m;

	return r >= m ? r - m : r;
}

/* a^-1 mod m for a prime m and 0 < a < m (extended Euclid). */
static __u32 maglev_inverse(__u32 a, __u32 m)
{
	__s64 t = 0, nt = 1, r = m, nr = a, q, tmp;

	while (nr) {
		q = r / nr;
		tmp = t - q * nt, t = nt, nt = tmp;
		tmp = r - q * nr, r = nr, nr = tmp;
	}
	return t < 0 ? t + m : t;
}

/* Sort keys[0..n-1] by their upper 32 bits (two digits of lo bits), least significant first. */
static void maglev_radix_sort(__u64 *keys, __u64 *tmp, __u32 n, unsigned int lo, __u32 *count)
{
	unsigned int shift = 32;
	__u64 *swap;

	for (int pass = 0; pass < 2; pass++, shift += lo) {
		__u32 buckets = 1U << lo, mask = buckets - 1, sum = 0, c;

		memset(count, 0, buckets * sizeof(*count));
		for (__u32 i = 0; i < n; i++)
			count[keys[i] >> shift & mask]++;
		for (__u32 b = 0; b < buckets; b++)
			c = count[b], count[b] = sum, sum += c;
		for (__u32 i = 0; i < n; i++)
			tmp[count[keys[i] >> shift & mask]++] = keys[i];
		swap = keys, keys = tmp, tmp = swap;
	}
}

/* The free slots in each backend's order from where it stands; false: no memory, keep probing. */
static bool maglev_late_begin(struct maglev_fill *f)
{
	__u32 k = 0, lo = MAGLEV_DIGIT_BITS(f->size);
	__u64 *keys = calloc(2 * (size_t)f->k, sizeof(*keys));
	__u32 *count = calloc(1U << lo, sizeof(*count));
	__u32 *slots = calloc(f->k, sizeof(*slots));
	bool ok = false;

	f->cand = calloc((size_t)f->k * f->n, sizeof(*f->cand));
	f->next = calloc(f->n, sizeof(*f->next));
	if (!keys || !count || !slots || !f->cand || !f->next)
		goto out;
	for (__u32 w = 0; w <= (f->size - 1) / 64; w++)
		for (__u64 free_bits = ~f->taken[w]; free_bits; free_bits &= free_bits - 1) {
			__u32 pos = w * 64 + __builtin_ctzll(free_bits);

			if (pos < f->size && k < f->k)
				slots[k++] = pos;
		}
	if (k != f->k)
		goto out;
	for (size_t i = 0; i < f->n; i++) {
		const struct maglev_entry *e = &f->e[i];
		__u64 recip = ~0ULL / f->size, inv = maglev_inverse(e->skip, f->size);

		/* pos + d * skip = slot, so d = (slot - pos) / skip. */
		for (__u32 j = 0; j < k; j++) {
			__u64 diff = slots[j] >= e->pos ? slots[j] - e->pos : slots[j] + f->size - e->pos;

			keys[j] = (__u64)maglev_mod(diff * inv, f->size, recip) << 32 | slots[j];
		}
		maglev_radix_sort(keys, keys + k, k, lo, count);
		for (__u32 j = 0; j < k; j++)
			f->cand[i * k + j] = (__u32)keys[j];
	}
	ok = true;
out:
	if (!ok) {
		free(f->cand);
		free(f->next);
		f->cand = NULL;
		f->next = NULL;
	}
	free(keys);
	free(count);
	free(slots);
	return ok;
}

/* The slot backend i takes in its turn, `filled` slots being taken already. */
static inline __u32 maglev_take(struct maglev_fill *f, size_t i, __u32 filled)
{
	__u32 pos;

	if (filled == f->late_at && !maglev_late_begin(f))
		f->late_at = f->size;
	if (!f->cand)
		return maglev_claim(&f->e[i], f->taken, f->size);
	const __u32 *c = f->cand + i * f->k;

	while (maglev_taken(f->taken, c[f->next[i]]))
		f->next[i]++;
	pos = c[f->next[i]++];
	f->taken[pos / 64] |= 1ULL << (pos % 64);
	return pos;
}

/*
 * Put e (entry idx) in the calendar under the round of its next turn, its last turn having been
 * in round `round`. The next turn is in the first round r with r * weight >= (turns + 1) *
 * max_weight; tracking the excess of the last one turns that division into a comparison.
 */
static void maglev_schedule(struct maglev_entry *e, size_t idx, __u32 round, __u32 *calendar,
			    __u32 rounds)
{
	__u64 next = (__u64)round + e->gap;

	if (e->gap_rem > e->excess) {
		next++;
		e->excess += e->weight - e->gap_rem;
	} else {
		e->excess -= e->gap_rem;
	}
	/* Beyond the last round the table is already full. */
	if (next > rounds)
		return;
	e->next = calendar[next];
	calendar[next] = idx + 1;
}

/* Filled and the table kept in locals: a store into the table could be one into *f. */
static void maglev_fill_calendar(struct maglev_fill *f, __u32 *calendar, __u32 rounds)
{
	struct maglev_entry *e = f->e;
	__u32 r, k, next, filled = 0, size = f->size, *table = f->table;

	for (r = 1; r <= rounds; r++) {
		for (k = calendar[r]; k; k = next) {
			next = e[k - 1].next;
			table[maglev_take(f, k - 1, filled)] = e[k - 1].id;
			if (++filled == size)
				return;
			maglev_schedule(&e[k - 1], k - 1, r, calendar, rounds);
		}
	}
}

/*
 * maglev_fill_calendar() when every weight is the same: every backend takes a turn every round,
 * and the calendar, whose lists are pushed at their head, hands them out in reverse order in odd
 * rounds and in order in even ones. The same turns without the calendar's bookkeeping.
 */
static void maglev_fill_equal(struct maglev_fill *f)
{
	struct maglev_entry *e = f->e;
	__u32 filled = 0, size = f->size, *table = f->table, probe_end;
	__u64 *taken = f->taken;
	size_t i, n = f->n;

	/* Whole rounds of probes only, with nothing else to check per turn. */
	probe_end = f->late_at < size ? f->late_at : size - 1;
	probe_end -= probe_end % (2 * n);
	while (filled < probe_end) {
		for (i = n; i-- > 0;)
			table[maglev_claim(&e[i], taken, size)] = e[i].id;
		for (i = 0; i < n; i++)
			table[maglev_claim(&e[i], taken, size)] = e[i].id;
		filled += 2 * n;
	}
	for (;;) {
		for (i = n; i-- > 0;) {
			table[maglev_take(f, i, filled)] = e[i].id;
			if (++filled == size)
				return;
		}
		for (i = 0; i < n; i++) {
			table[maglev_take(f, i, filled)] = e[i].id;
			if (++filled == size)
				return;
		}
	}
}

int maglev_build(const struct maglev_backend *backends, size_t n, __u32 *table, __u32 size)
{
	struct maglev_entry *e = NULL;
	struct maglev_fill fill;
	__u32 *calendar = NULL, max_weight = 0, rounds;
	__u64 *taken = NULL, total_weight = 0;
	long active;
	size_t i;
	int err = 0;
	bool equal;

	if (!table || (n && !backends) || !maglev_is_prime(size) || n > XLB_MAX_BACKENDS)
		return -EINVAL;

	/* One spare entry: calloc(0) may legitimately return NULL. */
	e = calloc(n + 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	active = maglev_prepare(backends, n, e);
	if (active < 0) {
		err = active;
		goto out_entries;
	}
	if (!active) {
		for (i = 0; i < size; i++)
			table[i] = XLB_BACKEND_NONE;
		goto out_entries;
	}

	for (i = 0; i < (size_t)active; i++) {
		total_weight += e[i].weight;
		if (e[i].weight > max_weight)
			max_weight = e[i].weight;
	}
	/*
	 * After round r the backends have taken sum(floor(r * w / max_weight)) turns, more than
	 * r * total_weight / max_weight - active: at least size from the round below on. A
	 * heaviest backend alone takes a turn every round, so size rounds suffice as well.
	 */
	rounds = size;
	if ((size + (__u64)active) * max_weight / total_weight + 1 < rounds)
		rounds = (size + (__u64)active) * max_weight / total_weight + 1;

	taken = calloc(size / 64 + 1, sizeof(*taken));
	if (!taken) {
		err = -ENOMEM;
		goto out_entries;
	}
	/* Equal weights need no calendar (maglev_fill_equal()): 256 KiB to clear for 65537 slots. */
	equal = max_weight * (__u64)active == total_weight;
	calendar = equal ? NULL : calloc((size_t)rounds + 1, sizeof(*calendar));
	if (!equal && !calendar) {
		err = -ENOMEM;
		goto out_taken;
	}
	for (i = 0; i < (size_t)active; i++) {
		e[i].pos = maglev_hash(&e[i], MAGLEV_SEED_OFFSET) % size;
		e[i].skip = maglev_hash(&e[i], MAGLEV_SEED_SKIP) % (size - 1) + 1;
		e[i].gap = max_weight / e[i].weight;
		e[i].gap_rem = max_weight % e[i].weight;
		if (!equal)
			maglev_schedule(&e[i], i, 0, calendar, rounds);
	}
	fill = (struct maglev_fill){
		.e = e, .n = active, .taken = taken, .table = table, .size = size,
		.k = MAGLEV_LATE_BUDGET / active, .late_at = size,
	};
	if (fill.k > size / MAGLEV_LATE_MAX_FREE)
		fill.k = size / MAGLEV_LATE_MAX_FREE;
	/*
	 * Fewer candidates than the radix sort has buckets, and the sort costs more than the
	 * probes it saves (measured: 10 backends 0.74x the time, 1000 backends 1.5x without this).
	 */
	if (fill.k >= 1U << MAGLEV_DIGIT_BITS(size))
		fill.late_at = size - fill.k;
	if (equal)
		maglev_fill_equal(&fill);
	else
		maglev_fill_calendar(&fill, calendar, rounds);
	free(fill.cand);
	free(fill.next);

	free(calendar);
out_taken:
	free(taken);
out_entries:
	free(e);
	return err;
}

struct maglev_id_index {
	__u32 id;
	size_t idx;
};

static int maglev_id_cmp(const void *pa, const void *pb)
{
	const struct maglev_id_index *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* First position of ix[0..n-1] (sorted by id) whose id is >= id. */
static size_t maglev_lower_bound(const struct maglev_id_index *ix, size_t n, __u32 id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void maglev_count(const __u32 *table, __u32 size, const struct maglev_backend *backends, size_t n,
		  __u32 *counts)
{
	struct maglev_id_index *ix;
	size_t i, k;
	__u32 s;

	memset(counts, 0, n * sizeof(*counts));
	/* With a sorted index the count is O(size log n) instead of O(size * n). */
	ix = calloc(n + 1, sizeof(*ix));
	if (!ix) {
		/* Out of memory: still give the answer, just slower. */
		for (s = 0; s < size; s++)
			for (i = 0; i < n; i++)
				counts[i] += backends[i].id == table[s];
		return;
	}
	for (i = 0; i < n; i++) {
		ix[i].id = backends[i].id;
		ix[i].idx = i;
	}
	qsort(ix, n, sizeof(*ix), maglev_id_cmp);
	for (s = 0; s < size; s++)
		for (k = maglev_lower_bound(ix, n, table[s]); k < n && ix[k].id == table[s]; k++)
			counts[ix[k].idx]++;
	free(ix);
}
