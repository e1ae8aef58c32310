/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet and bit rates of every VIP and backend for `stats`, from their counters sampled once a
 * second by a thread of their own, beside the event loop: there, the lookups (11,000 with 1000
 * VIPs x 10 backends) held any command that came meanwhile 17-50 ms, once a second.
 */
#ifndef XLB_RATES_H
#define XLB_RATES_H

#include "config.h"
#include "dataplane.h"

/* A counter sampled once a second, and its rate over the last second. */
struct rate {
	__u64 packets, bytes;
	__u64 at_ms;		/* when they were read (CLOCK_MONOTONIC); 0: never */
	double pps, bps;
};

struct rates;

/* Start sampling dp's counters (none until rates_watch()). 0 or -errno. */
int rates_open(struct rates **r, struct dp *dp);
void rates_close(struct rates *r);
/* The ids to sample from now on: c's VIPs and their backends. */
void rates_watch(struct rates *r, const struct config *c);
/* The last rates of a VIP id or a backend id; all zero before two samples. */
struct rate rates_vip(struct rates *r, __u32 id);
struct rate rates_backend(struct rates *r, __u32 id);

#endif /* XLB_RATES_H */
