// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The rise/fall state machine, fed sequences of results. The sequences
 * that interleave results are the point: counting totals instead of runs
 * (a known bug class in other balancers) fails them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "check.h"
#include "health.h"

struct hc_case {
	const char *name;
	bool start_up;
	__u32 rise, fall;
	const char *results;	/* 'o' ok, 'f' failure */
	const char *states;	/* after each result: 'U' up, 'D' down */
};

static const struct hc_case cases[] = {
	{ "down after fall failures in a row", true, 2, 3, "fff", "UUD" },
	{ "interleaved failures never add up", true, 2, 3, "ffoffoffoff", "UUUUUUUUUUU" },
	{ "one success resets the failure run", true, 2, 3, "ffofff", "UUUUUD" },
	{ "up after rise successes in a row", false, 2, 3, "oo", "DU" },
	{ "interleaved successes never add up", false, 2, 3, "ofofofof", "DDDDDDDD" },
	{ "flap: down, up, down", true, 2, 2, "ffooff", "UDDUUD" },
	{ "fall 1: first failure is enough", true, 1, 1, "fo", "DU" },
	{ "stays up on successes", true, 3, 3, "oooooo", "UUUUUU" },
	{ "stays down on failures", false, 3, 3, "ffffff", "DDDDDD" },
	{ "rise counts only after the fall", true, 3, 2, "ooffoooo", "UUUDDDUU" },
	{ "fall 100", true, 1, 100,
	  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	  "ffffffffffffffff",
	  "UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUU"
	  "UUUUUUUUUUUUUUUD" },
};

static void test_sequences(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct hc_case *c = &cases[i];
		struct hc_state s;
		bool up = c->start_up;

		hc_init(&s, c->start_up, 1000);
		assert_int_equal(strlen(c->results), strlen(c->states));
		for (size_t k = 0; c->results[k]; k++) {
			bool changed = hc_feed(&s, c->results[k] == 'o', "timeout", c->rise, c->fall,
					       2000 + k);

			check(s.up == (c->states[k] == 'U'), "%s: after result %zu", c->name, k + 1);
			check(changed == (s.up != up), "%s: change reported at result %zu", c->name,
			      k + 1);
			if (changed)
				check(s.changed_ms == 2000 + k, "%s: change time", c->name);
			up = s.up;
		}
	}
}

static void test_counts_and_error(void **state)
{
	struct hc_state s;

	hc_init(&s, true, 0);
	check(!s.probed && s.ok_run == 0 && s.fail_run == 0, "fresh state");
	hc_feed(&s, false, "connection refused", 2, 3, 1);
	hc_feed(&s, false, "HTTP 503", 2, 3, 2);
	check(s.fail_run == 2 && s.ok_run == 0, "two failures counted");
	check(!strcmp(s.last_error, "HTTP 503"), "last error kept: %s", s.last_error);
	check(!s.last_ok && s.probed, "last result recorded");
	hc_feed(&s, true, NULL, 2, 3, 3);
	check(s.fail_run == 0 && s.ok_run == 1 && s.last_ok, "success resets failures");
	check(!strcmp(s.last_error, "HTTP 503"), "a success keeps the last error for display");
	check(s.ok_total == 1 && s.fail_total == 2, "totals count every result (for metrics): "
	      "%llu ok, %llu failed", (unsigned long long)s.ok_total,
	      (unsigned long long)s.fail_total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_counts_and_error),
	};

	return cmocka_run_group_tests_name("health state machine", tests, NULL, NULL);
}
