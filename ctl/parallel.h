/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Independent pieces of work spread over the CPUs xlbd may run on. */
#ifndef XLB_PARALLEL_H
#define XLB_PARALLEL_H

#include <stddef.h>

/*
 * Threads worth starting for n pieces of work: one per CPU of the process's
 * affinity mask, at most max and at most n, at least 1.
 */
unsigned int parallel_workers(size_t n, unsigned int max);

/*
 * fn(i, worker, ctx) for every i in [0, n), on `workers` threads (this one
 * among them); worker in [0, workers) names the thread, for its scratch.
 * Items are handed out one at a time, so slow ones do not hold up a thread's
 * share. After an error no new item is started. Returns the first error (by
 * time) or 0. A thread that cannot start leaves its share to the others.
 */
int parallel_for(size_t n, unsigned int workers, int (*fn)(size_t i, unsigned int worker, void *ctx),
		 void *ctx);

#endif /* XLB_PARALLEL_H */
