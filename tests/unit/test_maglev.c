/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maglev table builder: balance, weights, disruption on removal, determinism and input checks,
 * all on the production ring size.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "maglev.h"
#include "check.h"

#define RING XLB_RING_DEFAULT
#define MAX_TEST_N 1000
#define SENTINEL 0xdeadbeefU

static struct maglev_backend bk[MAX_TEST_N];
static __u32 table_a[RING], table_b[RING];
static __u32 counts[MAX_TEST_N];

/* Backend i: 10.x.y.z or 2001:db8::x:y:z, id i + 1 (id 0 is XLB_BACKEND_NONE). */
static void set_backend(struct maglev_backend *b, size_t i, __u8 family, __u32 weight)
{
	memset(b, 0, sizeof(*b));
	b->family = family;
	b->id = i + 1;
	b->weight = weight;
	if (family == XLB_AF_INET) {
		b->addr.b[0] = 10;
		b->addr.b[1] = i >> 16;
		b->addr.b[2] = i >> 8;
		b->addr.b[3] = i;
	} else {
		b->addr.b[0] = 0x20;
		b->addr.b[1] = 0x01;
		b->addr.b[2] = 0x0d;
		b->addr.b[3] = 0xb8;
		b->addr.b[13] = i >> 16;
		b->addr.b[14] = i >> 8;
		b->addr.b[15] = i;
	}
}

static void set_backends(size_t n, __u8 family, __u32 weight)
{
	size_t i;

	for (i = 0; i < n; i++)
		set_backend(&bk[i], i, family, weight);
}

static void fill_sentinel(__u32 *table)
{
	size_t i;

	for (i = 0; i < RING; i++)
		table[i] = SENTINEL;
}

/* Build on a poisoned table, so a slot the builder forgets to fill shows up. */
static void build_ok(const struct maglev_backend *b, size_t n, __u32 *table)
{
	size_t i;
	int err;

	fill_sentinel(table);
	err = maglev_build(b, n, table, RING);
	check(err == 0, "maglev_build of %zu backends failed with %d", n, err);
	for (i = 0; i < RING; i++)
		check(table[i] != SENTINEL, "%zu backends: slot %zu was left unfilled", n, i);
}

/* Deterministic xorshift32 so a failing shuffle can be replayed. */
static __u32 rng_next(__u32 *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void shuffle(struct maglev_backend *b, size_t n, __u32 *state)
{
	struct maglev_backend tmp;
	size_t i, j;

	for (i = n - 1; i > 0; i--) {
		j = rng_next(state) % (i + 1);
		tmp = b[i];
		b[i] = b[j];
		b[j] = tmp;
	}
}

static void test_is_prime(void **state)
{
	static const struct {
		__u32 n;
		bool prime;
	} cases[] = {
	    {0, false},
	    {1, false},
	    {2, true},
	    {3, true},
	    {4, false},
	    {25, false},
	    {49, false},
	    {1021, true},
	    {65536, false},
	    {65537, true},
	    {1048573, true},
	    {1048575, false},
	    {65537U * 65521U, false},
	    {4294967291U, true},
	    {4294967295U, false},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check(maglev_is_prime(cases[i].n) == cases[i].prime,
		      "maglev_is_prime(%u) should be %s", cases[i].n,
		      cases[i].prime ? "true" : "false");
}

struct equal_case {
	size_t n;
	__u8 family;
};

static void test_equal_weights(void **state)
{
	const struct equal_case *c = *state;
	double mean = (double)RING / c->n;
	size_t i;

	/* Any equal weight must do; 1 would hide a credit scheme that ignores weights. */
	set_backends(c->n, c->family, 100);
	build_ok(bk, c->n, table_a);
	maglev_count(table_a, RING, bk, c->n, counts);
	for (i = 0; i < c->n; i++)
		check(fabs(counts[i] - mean) <= 0.01 * mean,
		      "N=%zu: backend %zu owns %u slots, more than 1%% away from the mean %.2f",
		      c->n, i, counts[i], mean);
}

struct weight_case {
	const __u32 *weights;
	size_t n;
};

static void test_weights(void **state)
{
	const struct weight_case *c = *state;
	double total = 0, share, want;
	size_t i;

	for (i = 0; i < c->n; i++) {
		set_backend(&bk[i], i, XLB_AF_INET, c->weights[i]);
		total += c->weights[i];
	}
	build_ok(bk, c->n, table_a);
	maglev_count(table_a, RING, bk, c->n, counts);
	for (i = 0; i < c->n; i++) {
		share = (double)counts[i] / RING;
		want = c->weights[i] / total;
		check(fabs(share - want) <= 0.01,
		      "weight %u of %.0f: share %.4f is more than 1pp from %.4f", c->weights[i],
		      total, share, want);
	}
}

static void test_removal(void **state)
{
	static struct maglev_backend rest[MAX_TEST_N];
	const size_t n = *(const size_t *)*state;
	/* Every backend for small sets; first, middle and last for the large one. */
	const size_t picks[] = {0, n / 2 - 1, n - 1};
	size_t p, r, i, changed, npicks = n <= 10 ? n : ARRAY_SIZE(picks);
	double moved, bound = 1.0 / n + 0.01;

	set_backends(n, XLB_AF_INET6, 1);
	build_ok(bk, n, table_a);
	for (p = 0; p < npicks; p++) {
		r = n <= 10 ? p : picks[p];
		/* The last backend fills the hole, so the array order changes too. */
		memcpy(rest, bk, n * sizeof(bk[0]));
		rest[r] = rest[n - 1];
		build_ok(rest, n - 1, table_b);
		changed = 0;
		for (i = 0; i < RING; i++) {
			check(table_b[i] != bk[r].id,
			      "N=%zu: slot %zu still holds removed backend %zu", n, i, r);
			changed += table_a[i] != table_b[i];
		}
		moved = (double)changed / RING;
		check(moved <= bound,
		      "N=%zu: removing backend %zu moved %.4f of the slots, over 1/N + 1pp = %.4f",
		      n, r, moved, bound);
	}
}

static void test_weight_zero(void **state)
{
	const size_t n = 5, drained = 2;
	size_t i;

	set_backends(n, XLB_AF_INET, 3);
	bk[drained].weight = 0;
	build_ok(bk, n, table_a);
	maglev_count(table_a, RING, bk, n, counts);
	check(counts[drained] == 0, "a weight-0 backend owns %u slots, should own none",
	      counts[drained]);
	for (i = 0; i < n; i++)
		check(i == drained || fabs(counts[i] - RING / 4.0) <= 0.01 * RING / 4.0,
		      "backend %zu owns %u slots: the 4 weighted backends should share the ring", i,
		      counts[i]);
	for (i = 0; i < RING; i++)
		check(table_a[i] != XLB_BACKEND_NONE, "slot %zu is empty with 4 weighted backends",
		      i);
}

static void test_all_weights_zero(void **state)
{
	size_t i;

	set_backends(10, XLB_AF_INET, 0);
	build_ok(bk, 10, table_a);
	for (i = 0; i < RING; i++)
		check(table_a[i] == XLB_BACKEND_NONE,
		      "slot %zu holds %u, all-zero weights must leave every slot empty", i,
		      table_a[i]);

	build_ok(NULL, 0, table_a);
	for (i = 0; i < RING; i++)
		check(table_a[i] == XLB_BACKEND_NONE,
		      "slot %zu holds %u, no backends must leave every slot empty", i, table_a[i]);
}

static void test_order_independence(void **state)
{
	const size_t n = 100;
	__u32 seed = 0x12345678;
	size_t i, round;

	/* Mixed families and weights, one draining, so the sort key and turns all matter. */
	for (i = 0; i < n; i++)
		set_backend(&bk[i], i, i % 3 ? XLB_AF_INET : XLB_AF_INET6, i % 7 + 1);
	bk[17].weight = 0;
	build_ok(bk, n, table_a);
	for (round = 0; round < 20; round++) {
		shuffle(bk, n, &seed);
		build_ok(bk, n, table_b);
		check(!memcmp(table_a, table_b, sizeof(table_a)),
		      "shuffle %zu of the backends gave a different table", round);
	}
}

static void test_families(void **state)
{
	size_t i;

	/*
	 * 10.0.0.1 and the IPv6 address 0a00:0001:: have the same bytes: only the family tells
	 * them apart, and it must, or they would be duplicates.
	 */
	set_backend(&bk[0], 1, XLB_AF_INET, 1);
	set_backend(&bk[1], 1, XLB_AF_INET6, 1);
	memcpy(&bk[1].addr, &bk[0].addr, sizeof(bk[1].addr));
	set_backend(&bk[2], 7, XLB_AF_INET6, 1);
	set_backend(&bk[3], 7, XLB_AF_INET, 1);
	for (i = 0; i < 4; i++)
		bk[i].id = i + 1;
	build_ok(bk, 4, table_a);
	maglev_count(table_a, RING, bk, 4, counts);
	for (i = 0; i < 4; i++)
		check(fabs(counts[i] - RING / 4.0) <= 0.01 * RING / 4.0,
		      "%s backend %zu owns %u slots, not a quarter of the ring",
		      bk[i].family == XLB_AF_INET ? "IPv4" : "IPv6", i, counts[i]);

	/* Bytes past the first four of an IPv4 address are not part of its identity. */
	bk[0].addr.w[3] = 0xffffffff;
	build_ok(bk, 4, table_b);
	check(!memcmp(table_a, table_b, sizeof(table_a)),
	      "junk after an IPv4 address changed the table");
}

/*
 * method nat: one address, several ports are several backends, each with its own permutation;
 * the same address and port twice is a duplicate. (test_golden pins port 0's tables.)
 */
static void expect_einval(const char *what, const struct maglev_backend *b, size_t n,
			  __u32 size);

static void test_ports(void **state)
{
	static const __u16 ports[] = { 0, 8080, 8081 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		set_backend(&bk[i], 1, XLB_AF_INET, 1);
		bk[i].port = ports[i];
		bk[i].id = i + 1;
	}
	build_ok(bk, ARRAY_SIZE(ports), table_a);
	maglev_count(table_a, RING, bk, ARRAY_SIZE(ports), counts);
	for (i = 0; i < ARRAY_SIZE(ports); i++)
		check(fabs(counts[i] - RING / 3.0) <= 0.01 * RING / 3.0,
		      "port %u owns %u slots, not a third of the ring", ports[i], counts[i]);
	bk[2].port = 8080;
	expect_einval("one address and port twice", bk, ARRAY_SIZE(ports), RING);
}

/* Rings smaller than the backend set: some backends get nothing, but every slot is filled. */
static void test_tiny_rings(void **state)
{
	static const __u32 sizes[] = {2, 3, 5, 7};
	__u32 i, s;
	int err;

	set_backends(10, XLB_AF_INET, 5);
	bk[3].weight = 1;
	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		fill_sentinel(table_a);
		err = maglev_build(bk, 10, table_a, sizes[s]);
		check(err == 0, "maglev_build on a %u-slot ring failed with %d", sizes[s], err);
		for (i = 0; i < sizes[s]; i++)
			check(table_a[i] >= 1 && table_a[i] <= 10,
			      "%u-slot ring: slot %u holds %#x, not a backend id", sizes[s], i,
			      table_a[i]);
		check(table_a[sizes[s]] == SENTINEL, "%u-slot ring: wrote past the end", sizes[s]);
	}
}

/*
 * Every node must build the same table, across hosts and across versions during a rolling
 * upgrade: a change to the hash or the turn order would move flows between backends. These
 * values were produced by this implementation; on a big-endian host they must match too.
 */
static void test_golden(void **state)
{
	static const __u32 want_head[] = {5, 2, 4, 4, 4, 5, 5, 5, 5, 3, 3, 3};
	const __u32 size = XLB_RING_MIN;
	__u32 fnv = 2166136261U, i;
	int err;

	set_backend(&bk[0], 1, XLB_AF_INET, 1);
	set_backend(&bk[1], 2, XLB_AF_INET, 2);
	set_backend(&bk[2], 3, XLB_AF_INET6, 3);
	set_backend(&bk[3], 4, XLB_AF_INET6, 4);
	err = maglev_build(bk, 4, table_a, size);
	check(err == 0, "maglev_build on a %u-slot ring failed with %d", size, err);
	for (i = 0; i < ARRAY_SIZE(want_head); i++)
		check(table_a[i] == want_head[i], "slot %u holds %u, the pinned table has %u", i,
		      table_a[i], want_head[i]);
	/* FNV-1a over the ids covers the rest of the table. */
	for (i = 0; i < size; i++)
		fnv = (fnv ^ table_a[i]) * 16777619U;
	check(fnv == 0xff16b40aU, "table hash %#x differs from the pinned one", fnv);
}

/*
 * The builder's shortcuts (equal weights without the calendar; the last slots handed out from
 * sorted candidates instead of probed; neither for many backends or small rings) must give the
 * tables of the plain algorithm. These hashes were produced by the builder before the shortcuts
 * (commit 3ed98ed), over backends i = 0..n-1 of weight 1, or 1 + i % 3 when weighted, every
 * odd one IPv6 when mixed.
 */
static void test_golden_paths(void **state)
{
	static const struct {
		size_t n;
		__u32 size;
		bool weighted, mixed;
		__u32 fnv;
	} cases[] = {
		{ 10, 65537, false, false, 0xddfb9cd6 },	/* equal, sorted candidates */
		{ 10, 65537, true, false, 0x146559ed },		/* calendar, sorted candidates */
		{ 30, 65537, false, true, 0x811cb905 },
		{ 1000, 65537, false, false, 0xfae95484 },	/* too many to sort: probes only */
		{ 3, 1021, false, false, 0x5f839d8c },		/* too small to sort */
		{ 64, 65537, true, true, 0x429627dd },
		{ 2, 1048573, false, false, 0x62a582db },	/* the largest ring */
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		__u32 *table = malloc(cases[k].size * sizeof(*table)), fnv = 2166136261U;
		int err;

		check(table, "memory for %u slots", cases[k].size);
		for (size_t i = 0; i < cases[k].n; i++)
			set_backend(&bk[i], i, cases[k].mixed && (i & 1) ? XLB_AF_INET6 : XLB_AF_INET,
				    cases[k].weighted ? 1 + i % 3 : 1);
		err = maglev_build(bk, cases[k].n, table, cases[k].size);
		check(err == 0, "case %zu: maglev_build failed with %d", k, err);
		for (__u32 i = 0; i < cases[k].size; i++)
			fnv = (fnv ^ table[i]) * 16777619U;
		check(fnv == cases[k].fnv, "case %zu (%zu backends, %u slots): table hash %#x, the "
		      "plain algorithm's is %#x", k, cases[k].n, cases[k].size, fnv, cases[k].fnv);
		free(table);
	}
}

/*
 * Tables pinned before the builder's speed work of issue 13 (commit 532870b): every later change
 * to maglev.c must leave them byte for byte as they were, or nodes in a rolling upgrade would
 * send the same flow to different backends. Each case draws its backends from an xorshift32
 * seed: addresses (IPv6 when mixed and the draw says so), ports (nat, when ported), weights up
 * to max_weight (0 = draining, when drains), in the order drawn, ids 1..n.
 */
static void test_golden_seeds(void **state)
{
	static const struct {
		__u32 seed;
		size_t n;
		__u32 size, max_weight;
		bool mixed, ported, drains;
		__u32 fnv;
	} cases[] = {
		{ 1, 10, 65537, 1, false, false, false, 0x1ee3dc87 },	/* the start bench's shape */
		{ 2, 10, 65537, 1, true, true, false, 0x9459ab46 },
		{ 3, 10, 65537, 100, false, false, true, 0x8e571095 },
		{ 4, 1, 65537, 1, false, false, false, 0x9a2b5b8c },
		{ 5, 2, 1021, 1, true, false, false, 0x1e0f7ad3 },
		{ 6, 7, 1021, 3, true, true, true, 0xa371a43c },
		{ 7, 16, 131071, 1, false, true, false, 0x0d5f4a65 },
		{ 8, 33, 65537, 65535, true, false, true, 0x9e1e6cf3 },
		{ 9, 100, 65537, 1, true, false, false, 0xe4cac13a },
		{ 10, 100, 65537, 5, false, true, true, 0xa2eaad78 },
		{ 11, 257, 262139, 1, false, false, false, 0x2f3601fd },
		{ 12, 5, 1048573, 1, false, false, false, 0x24ee9773 },
		{ 13, 3, 4093, 2, true, true, false, 0x388ae4ae },
		{ 14, 1000, 65537, 1, false, false, false, 0x7316d992 },
		{ 15, 12, 65537, 2, false, false, true, 0xe261cfc0 },
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		__u32 *table = malloc(cases[k].size * sizeof(*table)), fnv = 2166136261U;
		__u32 rng = cases[k].seed;
		int err;

		check(table, "memory for %u slots", cases[k].size);
		for (size_t i = 0; i < cases[k].n; i++) {
			__u32 r = rng_next(&rng);

			set_backend(&bk[i], r & 0xffffff,
				    cases[k].mixed && (r >> 24 & 1) ? XLB_AF_INET6 : XLB_AF_INET, 1);
			bk[i].id = i + 1;
			bk[i].port = cases[k].ported ? 1 + rng_next(&rng) % 65535 : 0;
			bk[i].weight = 1 + rng_next(&rng) % cases[k].max_weight;
			if (cases[k].drains && !(rng_next(&rng) % 4))
				bk[i].weight = 0;
		}
		err = maglev_build(bk, cases[k].n, table, cases[k].size);
		check(err == 0, "seed %u: maglev_build failed with %d", cases[k].seed, err);
		for (__u32 i = 0; i < cases[k].size; i++)
			fnv = (fnv ^ table[i]) * 16777619U;
		check(fnv == cases[k].fnv, "seed %u (%zu backends, %u slots): table hash %#x, the "
		      "pinned one is %#x", cases[k].seed, cases[k].n, cases[k].size, fnv,
		      cases[k].fnv);
		free(table);
	}
}

/* A rejected build must leave the table as it was: the caller may still be serving it. */
static void expect_einval(const char *what, const struct maglev_backend *b, size_t n, __u32 size)
{
	int err;
	size_t i;

	fill_sentinel(table_a);
	err = maglev_build(b, n, table_a, size);
	check(err == -EINVAL, "%s: maglev_build returned %d, want -EINVAL", what, err);
	for (i = 0; i < RING; i++)
		check(table_a[i] == SENTINEL, "%s: slot %zu was written by a rejected build", what,
		      i);
}

static void test_bad_input(void **state)
{
	struct maglev_backend *many;
	size_t i;

	set_backends(10, XLB_AF_INET, 1);
	expect_einval("size 65536 (not prime)", bk, 10, 65536);
	expect_einval("size 65535 (not prime)", bk, 10, 65535);
	expect_einval("size 0", bk, 10, 0);
	expect_einval("size 1", bk, 10, 1);
	check(maglev_build(bk, 10, NULL, RING) == -EINVAL, "a NULL table must be rejected");

	bk[7].addr = bk[3].addr;
	expect_einval("duplicate IPv4 address", bk, 10, RING);
	bk[7].weight = 0;
	expect_einval("duplicate IPv4 address, one draining", bk, 10, RING);

	set_backends(10, XLB_AF_INET6, 1);
	bk[9].addr = bk[0].addr;
	expect_einval("duplicate IPv6 address", bk, 10, RING);

	set_backends(10, XLB_AF_INET, 1);
	bk[4].addr.w[2] = 0x01020304;
	bk[4].addr.v4 = bk[5].addr.v4;
	expect_einval("duplicate IPv4 address differing past byte 4", bk, 10, RING);

	set_backends(10, XLB_AF_INET, 1);
	bk[2].family = 0;
	expect_einval("family 0", bk, 10, RING);

	set_backends(10, XLB_AF_INET, 1);
	bk[2].weight = MAGLEV_WEIGHT_MAX + 1;
	expect_einval("weight above MAGLEV_WEIGHT_MAX", bk, 10, RING);

	set_backends(10, XLB_AF_INET, 1);
	bk[2].id = XLB_BACKEND_NONE;
	expect_einval("weighted backend with id XLB_BACKEND_NONE", bk, 10, RING);
	bk[2].weight = 0;
	build_ok(bk, 10, table_a);

	many = calloc(XLB_MAX_BACKENDS + 1, sizeof(*many));
	assert_non_null(many);
	for (i = 0; i <= XLB_MAX_BACKENDS; i++)
		set_backend(&many[i], i, XLB_AF_INET6, 1);
	expect_einval("more than XLB_MAX_BACKENDS backends", many, XLB_MAX_BACKENDS + 1, RING);
	free(many);
}

static void test_count(void **state)
{
	static const __u32 table[] = {1, 2, 2, 3, 3, 3, XLB_BACKEND_NONE, 9, 2};
	static const __u32 ids[] = {3, 1, 2, 7, 2};
	static const __u32 want[] = {3, 1, 3, 0, 3};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ids); i++)
		set_backend(&bk[i], i, XLB_AF_INET, 1);
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		bk[i].id = ids[i];
	maglev_count(table, ARRAY_SIZE(table), bk, ARRAY_SIZE(ids), counts);
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		check(counts[i] == want[i], "backend %zu (id %u) counted %u slots, want %u", i,
		      ids[i], counts[i], want[i]);
}

#define CASE(label, fn, arg)                                                   \
	{                                                                      \
		.name = label, .test_func = fn, .initial_state = (void *)(arg) \
	}

int main(void)
{
	static const struct equal_case eq3 = {3, XLB_AF_INET}, eq10 = {10, XLB_AF_INET6},
				       eq100 = {100, XLB_AF_INET}, eq1000 = {1000, XLB_AF_INET6};
	static const __u32 w123[] = {1, 2, 3}, w1_10[] = {1, 10}, w10_1[] = {10, 1};
	static const __u32 w_extreme[] = {1, MAGLEV_WEIGHT_MAX};
	static __u32 w_ramp[20];
	static const struct weight_case wc123 = {w123, 3}, wc1_10 = {w1_10, 2}, wc10_1 = {w10_1, 2},
					wc_extreme = {w_extreme, 2},
					wc_ramp = {w_ramp, ARRAY_SIZE(w_ramp)};
	static const size_t rm3 = 3, rm10 = 10, rm100 = 100;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_prime),
	    CASE("equal_weights_3_ipv4", test_equal_weights, &eq3),
	    CASE("equal_weights_10_ipv6", test_equal_weights, &eq10),
	    CASE("equal_weights_100_ipv4", test_equal_weights, &eq100),
	    CASE("equal_weights_1000_ipv6", test_equal_weights, &eq1000),
	    CASE("weights_1_2_3", test_weights, &wc123),
	    CASE("weights_1_10", test_weights, &wc1_10),
	    CASE("weights_10_1", test_weights, &wc10_1),
	    CASE("weights_1_65535", test_weights, &wc_extreme),
	    CASE("weights_1_to_20", test_weights, &wc_ramp),
	    CASE("removal_of_1_in_3", test_removal, &rm3),
	    CASE("removal_of_1_in_10", test_removal, &rm10),
	    CASE("removal_of_1_in_100", test_removal, &rm100),
	    cmocka_unit_test(test_weight_zero),
	    cmocka_unit_test(test_all_weights_zero),
	    cmocka_unit_test(test_order_independence),
	    cmocka_unit_test(test_families),
	    cmocka_unit_test(test_tiny_rings),
	    cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_golden_paths),
	    cmocka_unit_test(test_golden_seeds),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_count),
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(w_ramp); i++)
		w_ramp[i] = i + 1;
	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
