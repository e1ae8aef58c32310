/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sections of `make bench` beyond the per-packet figures, and the few
 * helpers they share. Every section prints figures and returns; a section
 * that cannot run says why on stderr and leaves nothing behind.
 */
#ifndef XLB_BENCH_H
#define XLB_BENCH_H

#include <stddef.h>

/* CLOCK_MONOTONIC in milliseconds. */
double now_ms(void);
/* qsort() comparator for doubles, ascending. */
int cmp_double(const void *a, const void *b);

/*
 * A configuration of n_vips IPv4 TCP VIPs with n_backends each, as the
 * canonical lines `save` prints. Addresses are unique across the whole file
 * and unrouted in the bench's namespace. malloc()ed, NULL on failure.
 */
char *bench_config_text(size_t n_vips, size_t n_backends, size_t *len);

/*
 * Kernel memory charged to a map ("memlock:" in its fdinfo), -1 if fd is
 * not a map.
 */
long long bench_map_memlock(int fd);
/*
 * Every map pinned in pin_dir, and the rings its outer `rings` map holds:
 * memory charged to all of them. 0 or -errno.
 */
int bench_pins_memlock(const char *pin_dir, long long *maps, long long *rings);

/* xlbctl and xlbd round trips, start-up and restore (control.c). */
void bench_control(void);
/* Kernel memory locked by the maps for 1, 100, 1000 VIPs (memory.c). */
void bench_memory(void);

#endif /* XLB_BENCH_H */
