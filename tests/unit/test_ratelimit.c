/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-source rate limit arithmetic (include/xlb_ratelimit.h), the code the
 * XDP program runs per packet: exact bursts, refill, the cap after idling,
 * a clock that goes backwards, gaps of weeks and centuries, 100 Mpps, and a
 * randomised comparison against an independent token-bucket model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "xlb_ratelimit.h"
#include "check.h"

#define MS		1000000ULL
#define SEC		XLB_NSEC_PER_SEC
#define DAY		(86400 * SEC)
#define WEEK		(7 * DAY)

/* One source under one limit, as the data plane keeps it. */
struct src {
	__u64 tat;
	__u64 interval, tolerance;
};

static struct src src_new(__u32 rate, __u32 burst)
{
	struct src s = { 0 };

	assert_int_equal(xlb_rl_params(rate, burst, &s.interval, &s.tolerance), 0);
	return s;
}

/* One packet at now; stores the new state the way the data plane does. */
static int send1(struct src *s, __u64 now)
{
	__u64 next = 0xdeadbeef;
	int pass = xlb_rl_decide(s->tat, now, s->interval, s->tolerance, &next);

	check(pass == 0 || pass == 1, "decide answers 0 or 1, got %d", pass);
	s->tat = next;
	return pass;
}

/* n packets back to back at the same instant: how many passed. */
static unsigned int send_n(struct src *s, __u64 now, unsigned int n)
{
	unsigned int passed = 0;

	for (unsigned int i = 0; i < n; i++)
		passed += send1(s, now);
	return passed;
}

/* ---- parameters ------------------------------------------------------- */

static void test_params_round_up(void **state)
{
	static const struct {
		__u32 rate;
		__u64 interval;
	} cases[] = {
		{ 1, SEC }, { 2, 500000000 }, { 3, 333333334 }, { 7, 142857143 },
		{ 1000, 1000000 }, { 999999, 1001 }, { 1000000, 1000 }, { 30000000, 34 },
		{ 99999999, 11 }, { 100000000, 10 },
	};
	__u64 interval, tolerance;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(xlb_rl_params(cases[i].rate, 1, &interval, &tolerance), 0);
		check(interval == cases[i].interval, "rate %u: interval %llu", cases[i].rate,
		      (unsigned long long)interval);
		check(tolerance == 0, "burst 1 has no tolerance");
	}
	/* Over the whole range: never faster than asked, and the closest such. */
	for (__u64 rate = 1; rate <= XLB_RL_RATE_MAX; rate = rate * 13 / 10 + 1) {
		assert_int_equal(xlb_rl_params(rate, 1, &interval, &tolerance), 0);
		check(interval * rate >= SEC, "rate %llu: interval %llu lets more through",
		      (unsigned long long)rate, (unsigned long long)interval);
		check((interval - 1) * rate < SEC, "rate %llu: interval %llu not the tightest",
		      (unsigned long long)rate, (unsigned long long)interval);
	}
}

static void test_params_extremes(void **state)
{
	__u64 interval = 7, tolerance = 7;

	/* The largest tolerance there is: 1 pps with a burst of 1e8. */
	assert_int_equal(xlb_rl_params(1, XLB_RL_BURST_MAX, &interval, &tolerance), 0);
	assert_int_equal(interval, SEC);
	assert_int_equal(tolerance, 99999999ULL * SEC);
	assert_int_equal(xlb_rl_params(XLB_RL_RATE_MAX, XLB_RL_BURST_MAX, &interval, &tolerance),
			 0);
	assert_int_equal(interval, 10);
	assert_int_equal(tolerance, 999999990ULL);

	/* Out of range: refused, outputs untouched. */
	interval = tolerance = 7;
	assert_int_equal(xlb_rl_params(0, 10, &interval, &tolerance), -EINVAL);
	assert_int_equal(xlb_rl_params(XLB_RL_RATE_MAX + 1, 10, &interval, &tolerance), -EINVAL);
	assert_int_equal(xlb_rl_params(10, 0, &interval, &tolerance), -EINVAL);
	assert_int_equal(xlb_rl_params(10, XLB_RL_BURST_MAX + 1, &interval, &tolerance), -EINVAL);
	assert_int_equal(xlb_rl_params(UINT32_MAX, UINT32_MAX, &interval, &tolerance), -EINVAL);
	assert_int_equal(interval, 7);
	assert_int_equal(tolerance, 7);
}

/* ---- bursts and refill ------------------------------------------------ */

static void test_new_source_full_burst(void **state)
{
	static const __u32 bursts[] = { 1, 2, 10, 1000, 65536 };

	for (size_t i = 0; i < ARRAY_SIZE(bursts); i++) {
		struct src s = src_new(10, bursts[i]);
		__u64 now = 5 * SEC;
		unsigned int first = 0;

		/* The first `burst` packets pass, every later one is dropped. */
		for (unsigned int k = 0; k < bursts[i] + 5; k++) {
			int pass = send1(&s, now);

			check(pass == (k < bursts[i]), "burst %u: packet %u %s", bursts[i], k,
			      pass ? "passed" : "dropped");
			first += pass;
		}
		assert_int_equal(first, bursts[i]);
		assert_int_equal(s.tat, now + (__u64)bursts[i] * s.interval);
	}
}

static void test_drop_writes_nothing(void **state)
{
	struct src s = src_new(100, 3);
	__u64 next = 0, before;

	send_n(&s, SEC, 3);
	before = s.tat;
	assert_int_equal(xlb_rl_decide(s.tat, SEC, s.interval, s.tolerance, &next), 0);
	check(next == before, "a drop leaves tat as it was");
}

static void test_refill(void **state)
{
	struct src s = src_new(1000, 5); /* one token per ms */
	__u64 t = 10 * SEC;

	assert_int_equal(send_n(&s, t, 10), 5);
	/* A token is back exactly one interval later, not a nanosecond before. */
	assert_int_equal(send_n(&s, t + 1 * MS - 1, 3), 0);
	assert_int_equal(send_n(&s, t + 1 * MS, 3), 1);
	/* Two more intervals, two more tokens. */
	assert_int_equal(send_n(&s, t + 3 * MS, 3), 2);
	/* Sending exactly at the rate from then on never drops. */
	for (__u64 k = 4; k < 10000; k++)
		check(send1(&s, t + k * MS), "packet at the rate, k %llu", (unsigned long long)k);
}

static void test_cap_after_idle(void **state)
{
	static const __u64 idle[] = { 5 * MS, 50 * MS, SEC, 3600 * SEC };
	struct src s = src_new(1000, 5);
	__u64 t = SEC;

	assert_int_equal(send_n(&s, t, 5), 5);
	for (size_t i = 0; i < ARRAY_SIZE(idle); i++) {
		/* Long enough to refill the whole bucket: never more than burst. */
		t += idle[i];
		assert_int_equal(send_n(&s, t, 20), 5);
	}
	/* Half the bucket's refill time: half the bucket. */
	t += 5 * MS / 2;
	assert_int_equal(send_n(&s, t, 20), 2);
}

/* ---- the clock -------------------------------------------------------- */

static void test_clock_backwards_small(void **state)
{
	struct src s = src_new(10, 10); /* 100 ms per token */
	__u64 t = 100 * SEC, tat;

	/* Bucket spent, then readings up to half a second older: nothing passes. */
	assert_int_equal(send_n(&s, t, 10), 10);
	tat = s.tat;
	assert_int_equal(send_n(&s, t - 500 * MS, 20), 0);
	assert_int_equal(send_n(&s, t - 1, 20), 0);
	check(s.tat == tat, "readings from the past leave tat alone");
	/* Time catches up: the next token is where it always was. */
	assert_int_equal(send_n(&s, t + 100 * MS - 1, 5), 0);
	assert_int_equal(send_n(&s, t + 100 * MS, 5), 1);

	/*
	 * Readings 300 ms older in the middle of a burst cost the source three
	 * tokens until the clock is back: never more than the bucket in all.
	 */
	s = src_new(10, 10);
	assert_int_equal(send_n(&s, t, 4), 4);
	assert_int_equal(send_n(&s, t - 300 * MS, 20), 3);
	assert_int_equal(send_n(&s, t, 20), 3);
	assert_int_equal(send_n(&s, t + 100 * MS - 1, 20), 0);
}

static void test_clock_backwards_large(void **state)
{
	struct src s = src_new(10, 10);
	__u64 t = 30 * DAY, now = 3600 * SEC, next;

	/*
	 * tat from a clock 30 days ahead: re-anchored as a just-emptied
	 * bucket. This packet is dropped, the next token comes an interval
	 * later, and only one: no burst for a source whose clock jumped.
	 */
	assert_int_equal(send_n(&s, t, 10), 10);
	assert_int_equal(send1(&s, now), 0);
	assert_int_equal(s.tat, now + s.tolerance + s.interval);
	assert_int_equal(send_n(&s, now + s.interval - 1, 5), 0);
	assert_int_equal(send_n(&s, now + s.interval, 5), 1);
	/* And idling refills it like any other. */
	assert_int_equal(send_n(&s, now + 10 * SEC, 50), 10);

	/* Garbage tat: re-anchored the same way, nothing wraps around. */
	s.tat = UINT64_MAX;
	assert_int_equal(send1(&s, now), 0);
	assert_int_equal(s.tat, now + s.tolerance + s.interval);

	/* The boundary: within the slack tat stays, one nanosecond beyond it moves. */
	s.tat = now + s.tolerance + s.interval + XLB_RL_CLOCK_SLACK_NS;
	assert_int_equal(xlb_rl_decide(s.tat, now, s.interval, s.tolerance, &next), 0);
	assert_int_equal(next, s.tat);
	s.tat++;
	assert_int_equal(xlb_rl_decide(s.tat, now, s.interval, s.tolerance, &next), 0);
	assert_int_equal(next, now + s.tolerance + s.interval);
}

/* ---- range ------------------------------------------------------------ */

static void test_huge_gaps(void **state)
{
	static const __u64 gaps[] = { WEEK, 3 * WEEK, 52 * WEEK, 1ULL << 62 };
	struct src s = src_new(1, 3);
	__u64 t = SEC;

	assert_int_equal(send_n(&s, t, 3), 3);
	for (size_t i = 0; i < ARRAY_SIZE(gaps); i++) {
		t += gaps[i];
		assert_int_equal(send_n(&s, t, 10), 3);
		assert_int_equal(s.tat, t + 3 * SEC);
	}
	/* 292 years of uptime, the largest tolerance, one token left: no overflow. */
	s = src_new(1, XLB_RL_BURST_MAX);
	t = (1ULL << 63) - 1;
	s.tat = t + s.tolerance;
	assert_int_equal(send1(&s, t), 1);
	assert_int_equal(s.tat, t + s.tolerance + SEC);
	check(s.tat > t, "tat did not wrap");
	assert_int_equal(send1(&s, t), 0);
}

static void test_100mpps_after_weeks(void **state)
{
	struct src s = src_new(XLB_RL_RATE_MAX, 1000000);
	__u64 t = 6 * WEEK + 123456789;
	unsigned int passed = 0;

	assert_int_equal(s.interval, 10);
	/* The whole burst at once, then exactly the rate: 10 ns apart, all pass. */
	assert_int_equal(send_n(&s, t, 2000000), 1000000);
	for (__u64 k = 1; k <= 10000000; k++)
		passed += send1(&s, t + k * 10);
	assert_int_equal(passed, 10000000);
	assert_int_equal(s.tat, t + 10 * (1000000 + 10000000ULL));
	/* Twice the rate for a second's worth of packets: half of them. */
	t = s.tat - s.tolerance;
	passed = 0;
	for (__u64 k = 1; k <= 2000000; k++)
		passed += send1(&s, t + k * 5);
	check(passed >= 999999 && passed <= 1000001, "passed %u of 2000000 at 2x the rate",
	      passed);
}

/*
 * An independent model: a token bucket holding `credit` nanoseconds of
 * sending time, at most burst * interval, refilled by the clock; a packet
 * needs (and spends) one interval of it. GCRA is this bucket turned inside
 * out, so both must take the same decision for every packet.
 */
struct bucket {
	__u64 credit, cap, last;
};

static int bucket_send(struct bucket *b, __u64 now, __u64 interval)
{
	if (now > b->last) {
		b->credit = now - b->last >= b->cap - b->credit ? b->cap : b->credit + now - b->last;
		b->last = now;
	}
	if (b->credit < interval)
		return 0;
	b->credit -= interval;
	return 1;
}

static __u64 xorshift(__u64 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_matches_token_bucket(void **state)
{
	__u64 seed = 0x9e3779b97f4a7c15ULL, drops = 0, passes = 0;

	for (int round = 0; round < 200; round++) {
		__u32 rate = 1 + xorshift(&seed) % (round % 4 == 0 ? XLB_RL_RATE_MAX : 10000);
		__u32 burst = 1 + xorshift(&seed) % (round % 3 == 0 ? 1000000 : 50);
		struct src s = src_new(rate, burst);
		__u64 t = xorshift(&seed) % (8 * WEEK) + 1;
		struct bucket b = { .cap = (__u64)burst * s.interval, .last = t };

		b.credit = b.cap;
		for (int i = 0; i < 5000; i++) {
			__u64 r = xorshift(&seed), gap;
			int want, got;

			/*
			 * Back to back or about the rate, twice the rate on
			 * average, and now and then an idle stretch that may
			 * refill the bucket.
			 */
			if (r % 64 == 0)
				gap = (r >> 8) % (s.interval * (burst + 2ULL));
			else if (r % 2)
				gap = 0;
			else
				gap = (r >> 8) % (2 * s.interval + 1);
			t += gap;
			want = bucket_send(&b, t, s.interval);
			got = send1(&s, t);
			if (want != got)
				fail_msg("rate %u burst %u, packet %d at %llu: GCRA %d, bucket %d", rate,
					 burst, i, (unsigned long long)t, got, want);
			passes += got;
			drops += !got;
		}
	}
	/* The sequences did exercise both answers. */
	check(passes > 100000 && drops > 100000, "%llu passes, %llu drops",
	      (unsigned long long)passes, (unsigned long long)drops);
}

/* ---- keys ------------------------------------------------------------- */

static void test_key_masks_source(void **state)
{
	struct xlb_addr v4 = { .w = { 0x0a000001, 0x11111111, 0x22222222, 0x33333333 } };
	struct xlb_addr v6 = { .w = { 0x20010db8, 0x00010002, 0x33333333, 0x44444444 } };
	struct xlb_rl_key key, other;

	memset(&key, 0xff, sizeof(key));
	xlb_rl_key_init(&key, 7, &v4, XLB_AF_INET);
	assert_int_equal(key.vip_id, 7);
	assert_int_equal(key.family, XLB_AF_INET);
	assert_int_equal(key.src.w[0], 0x0a000001);
	check(!key.src.w[1] && !key.src.w[2] && !key.src.w[3], "IPv4 source is the /32");
	check(!key.pad[0] && !key.pad[1] && !key.pad[2], "padding cleared");

	memset(&key, 0xff, sizeof(key));
	xlb_rl_key_init(&key, 9, &v6, XLB_AF_INET6);
	assert_int_equal(key.src.w[0], 0x20010db8);
	assert_int_equal(key.src.w[1], 0x00010002);
	check(!key.src.w[2] && !key.src.w[3], "IPv6 source is the /64");
	check(!key.pad[0] && !key.pad[1] && !key.pad[2], "padding cleared");

	/* Same /64, other interface id: the same bucket, byte for byte. */
	v6.w[3] = 0x55555555;
	xlb_rl_key_init(&other, 9, &v6, XLB_AF_INET6);
	assert_memory_equal(&key, &other, sizeof(key));
}

/* ---- the source table's choices --------------------------------------- */

static void test_victim(void **state)
{
	static const struct {
		const char *what;
		__u64 tat[XLB_RL_WAYS];
		__u32 victim;
	} cases[] = {
		{ "empty set: the first way", { 0, 0, 0, 0 }, 0 },
		{ "an empty way before any source", { 50, 0, 70, 0 }, 1 },
		{ "the least debt", { 500, 300, 400, 900 }, 1 },
		{ "ties: the first", { 700, 200, 200, 900 }, 1 },
		{ "a way being written only when all are", { XLB_RL_BUSY, 900, 800, 700 }, 3 },
		{ "all being written", { XLB_RL_BUSY, XLB_RL_BUSY, XLB_RL_BUSY, XLB_RL_BUSY }, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check(xlb_rl_victim(cases[i].tat) == cases[i].victim, "%s: way %u, not %u",
		      cases[i].what, xlb_rl_victim(cases[i].tat), cases[i].victim);
}

/*
 * A source kept over its limit shares a set with a flood of new sources,
 * one packet each, arriving faster than the source's own packets: the
 * flood replaces its own entries, the source keeps its bucket, and the
 * source gets no more than its rate whatever the flood does.
 */
static void test_flood_cannot_reset_abuser(void **state)
{
	__u64 interval, tolerance, tat[XLB_RL_WAYS] = { 0 }, t = 1000000000ULL, next;
	unsigned int passed = 0;
	__u32 abuser = 0;

	/* Its burst spent first: its tat a whole tolerance ahead. */
	assert_int_equal(xlb_rl_params(1000, 10, &interval, &tolerance), 0);
	for (int i = 0; i < 20; i++) {
		passed += xlb_rl_decide(tat[abuser], t, interval, tolerance, &next);
		tat[abuser] = next;
	}
	for (int i = 0; i < 100000; i++, t += 1000) {
		__u32 w;

		if (i % 10 == 0) {
			/* The source, every 10 us: 100 times its rate of 1000 pps. */
			passed += xlb_rl_decide(tat[abuser], t, interval, tolerance, &next);
			tat[abuser] = next;
			continue;
		}
		/* A new source of the flood: the way it replaces. */
		w = xlb_rl_victim(tat);
		check(w != abuser, "packet %d of the flood replaced the source's bucket", i);
		xlb_rl_decide(0, t, interval, tolerance, &tat[w]);
	}
	/* 0.1 s at 1000 pps after a burst of 10: 10 + 100, and not one more. */
	check(passed <= 10 + 100 + 1, "%u passed", passed);
	check(passed >= 10 + 100 - 1, "%u passed", passed);
}

static void test_set_of_spreads(void **state)
{
	enum { SETS = 1024, KEYS = 8 * SETS };
	static unsigned int load[SETS];
	struct xlb_addr a = { 0 };
	struct xlb_rl_key key, other;
	unsigned int most = 0;

	for (__u32 i = 0; i < KEYS; i++) {
		a.w[0] = htonl(0x0a000000 + i);
		xlb_rl_key_init(&key, 1, &a, XLB_AF_INET);
		load[xlb_rl_set_of(&key, SETS)]++;
	}
	for (int i = 0; i < SETS; i++)
		most = load[i] > most ? load[i] : most;
	/* 8 a set on average: a poor hash would pile consecutive addresses up. */
	check(most <= 24, "a set got %u of %u consecutive sources", most, KEYS);

	/* The same source of another VIP is another key, and likely another set. */
	xlb_rl_key_init(&other, 2, &a, XLB_AF_INET);
	check(!xlb_rl_key_eq(&key, &other), "VIPs kept apart");
	check(xlb_rl_key_eq(&key, &key), "a key equals itself");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_round_up),
		cmocka_unit_test(test_params_extremes),
		cmocka_unit_test(test_new_source_full_burst),
		cmocka_unit_test(test_drop_writes_nothing),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_cap_after_idle),
		cmocka_unit_test(test_clock_backwards_small),
		cmocka_unit_test(test_clock_backwards_large),
		cmocka_unit_test(test_huge_gaps),
		cmocka_unit_test(test_100mpps_after_weeks),
		cmocka_unit_test(test_matches_token_bucket),
		cmocka_unit_test(test_key_masks_source),
		cmocka_unit_test(test_victim),
		cmocka_unit_test(test_flood_cannot_reset_abuser),
		cmocka_unit_test(test_set_of_spreads),
	};

	return cmocka_run_group_tests_name("rate limit arithmetic", tests, NULL, NULL);
}
