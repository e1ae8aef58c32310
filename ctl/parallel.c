// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include "parallel.h"

struct pool {
	size_t n;
	size_t next;		/* next item to hand out (atomic) */
	int err;		/* first error (atomic) */
	int (*fn)(size_t i, unsigned int worker, void *ctx);
	void *ctx;
};

struct worker {
	struct pool *pool;
	unsigned int id;
	pthread_t thread;
};

unsigned int parallel_workers(size_t n, unsigned int max)
{
	cpu_set_t cpus;
	unsigned int w = 1;

	if (!sched_getaffinity(0, sizeof(cpus), &cpus))
		w = CPU_COUNT(&cpus);
	if (w > max)
		w = max;
	if (w > n)
		w = n;
	return w ? w : 1;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	size_t i;
	int err;

	while (!__atomic_load_n(&p->err, __ATOMIC_RELAXED)) {
		i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
		if (i >= p->n)
			break;
		err = p->fn(i, w->id, p->ctx);
		if (err) {
			int none = 0;

			__atomic_compare_exchange_n(&p->err, &none, err, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

int parallel_for(size_t n, unsigned int workers, int (*fn)(size_t i, unsigned int worker, void *ctx),
		 void *ctx)
{
	struct pool p = { .n = n, .fn = fn, .ctx = ctx };
	struct worker *w = calloc(workers ? workers : 1, sizeof(*w));
	unsigned int started = 1;

	if (!w) {
		/* No memory for the threads: the work itself may still fit. */
		struct worker self = { .pool = &p };

		work(&self);
		return p.err;
	}
	for (unsigned int k = 0; k < workers; k++) {
		w[k].pool = &p;
		w[k].id = k;
	}
	/* Thread 0 is this one. */
	for (; started < workers; started++)
		if (pthread_create(&w[started].thread, NULL, work, &w[started]))
			break;
	work(&w[0]);
	for (unsigned int k = 1; k < started; k++)
		pthread_join(w[k].thread, NULL);
	free(w);
	return p.err;
}
