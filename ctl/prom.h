/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The daemon's state as Prometheus text format 0.0.4: counters summed over
 * CPUs per outcome, VIP and backend, health, ring shares, connection-table
 * fill and the daemon's own facts. Names follow Prometheus conventions:
 * xlb_ prefix, base units, _total on counters; every label value escaped.
 */
#ifndef XLB_PROM_H
#define XLB_PROM_H

#include <stddef.h>
#include "version.h"

struct daemon;
struct prom;

/* State kept between scrapes of d; 0 or -ENOMEM. */
int prom_open(struct prom **p, struct daemon *d);
void prom_close(struct prom *p);

/*
 * Background work in slices of about PROM_TICK_BUDGET_US: counting the
 * connection table, which costs about 0.3 us an entry in the kernel, tens of
 * milliseconds for a full table: too long to spend at once in a scrape.
 * A count starts every PROM_CONNS_EVERY_MS. Call this on every turn of the
 * event loop.
 */
#define PROM_TICK_BUDGET_US	2000
#define PROM_CONNS_EVERY_MS	5000
void prom_tick(struct prom *p);

/*
 * Render everything into *text (malloc()ed), *len bytes. 0 or -ENOMEM.
 * Reads the counters of every configured VIP and backend: about a
 * millisecond per hundred backends.
 */
int prom_render(struct prom *p, char **text, size_t *len);

/* The name of the struct xlb_outcomes field at off ("tx", "drop_ratelimit"), NULL if none. */
const char *prom_outcome_name(size_t off);

#endif /* XLB_PROM_H */
