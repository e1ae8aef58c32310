// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * parallel_for() (ctl/parallel.c): every item runs once whatever the number of threads, each
 * thread's worker number is its own, and the first error stops new items and is returned.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parallel.h"
#include "check.h"

#define ITEMS 10000

struct run {
	int ran[ITEMS];		/* times each item ran (atomic) */
	unsigned int workers;
	int bad_worker;		/* a worker number out of range was seen */
	size_t fail_at;		/* the item that fails, ITEMS: none */
};

static int item(size_t i, unsigned int worker, void *ctx)
{
	struct run *r = ctx;

	__atomic_fetch_add(&r->ran[i], 1, __ATOMIC_RELAXED);
	if (worker >= r->workers)
		__atomic_store_n(&r->bad_worker, 1, __ATOMIC_RELAXED);
	return i == r->fail_at ? -EIO : 0;
}

static void test_every_item_once(void **state)
{
	static const unsigned int workers[] = { 1, 2, 4, 16 };
	static struct run r;

	for (size_t k = 0; k < ARRAY_SIZE(workers); k++) {
		memset(&r, 0, sizeof(r));
		r.workers = workers[k];
		r.fail_at = ITEMS;
		check(parallel_for(ITEMS, r.workers, item, &r) == 0, "%u workers: no error",
		      r.workers);
		for (size_t i = 0; i < ITEMS; i++)
			check(r.ran[i] == 1, "%u workers: item %zu ran %d times", r.workers, i,
			      r.ran[i]);
		check(!r.bad_worker, "%u workers: worker numbers below %u", r.workers, r.workers);
	}
}

static void test_error_stops(void **state)
{
	static struct run r;
	size_t ran;

	/*
	 * One thread: nothing after the failing item. Several: the others finish the item they
	 * hold and may take more before they see the error (a thread can be preempted between
	 * its item and the flag), so only the result and "at most once" are sure.
	 */
	for (unsigned int workers = 1; workers <= 2; workers++) {
		memset(&r, 0, sizeof(r));
		r.workers = workers;
		r.fail_at = 10;
		check(parallel_for(ITEMS, r.workers, item, &r) == -EIO,
		      "%u workers: the item's error is returned", workers);
		ran = 0;
		for (size_t i = 0; i < ITEMS; i++) {
			check(r.ran[i] <= 1, "%u workers: item %zu ran %d times", workers, i,
			      r.ran[i]);
			ran += r.ran[i];
		}
		if (workers == 1)
			check(ran == 11, "one thread: items 0-10 ran, not %zu", ran);
	}
	check(parallel_workers(3, 16) >= 1 && parallel_workers(3, 16) <= 3,
	      "no more workers than items");
	check(parallel_workers(1000, 1) == 1, "no more workers than the maximum");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_item_once),
		cmocka_unit_test(test_error_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
