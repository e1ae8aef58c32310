/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The balancer program and its maps, as the control plane sees them: load,
 * then write VIPs, rings, backends, health and configuration in an order
 * that never lets the data plane see half a change. Every function returns
 * 0 or -errno.
 */
#ifndef XLB_DATAPLANE_H
#define XLB_DATAPLANE_H

#include <stdbool.h>
#include "xlb_abi.h"

struct xlb;

struct dp_opts {
	__u32 max_vips;		/* 0: XLB_MAX_VIPS */
	__u32 max_backends;	/* 0: XLB_MAX_BACKENDS */
	__u32 conns;		/* 0: XLB_CONNS_DEFAULT */
};

struct dp {
	struct xlb *skel;
	__u32 max_vips;
	__u32 max_backends;
	int *ring_fds;		/* per VIP id, -1 when the VIP has no ring */
	__u32 **rings;		/* per VIP id, the ring's slots mapped into memory */
	__u32 *ring_sizes;
};

int dp_load(struct dp *dp, const struct dp_opts *opts);
void dp_unload(struct dp *dp);
int dp_prog_fd(const struct dp *dp);

int dp_config_set(struct dp *dp, const struct xlb_config *cfg);
int dp_tx_port_add(struct dp *dp, __u32 ifindex);
int dp_tx_port_del(struct dp *dp, __u32 ifindex);

/*
 * Add or change a VIP. A new VIP id gets a ring of vip->ring_size slots, all
 * XLB_BACKEND_NONE, installed before the VIP itself is visible. Changing the
 * ring size of an existing VIP is refused (-EBUSY): delete and add it.
 */
int dp_vip_set(struct dp *dp, const struct xlb_vip_key *key, const struct xlb_vip *vip);
/* Remove the VIP, then its ring, then zero its counters. */
int dp_vip_del(struct dp *dp, const struct xlb_vip_key *key, __u32 vip_id);

/*
 * Write a VIP's Maglev table. Only slots that differ from `old` are written
 * (all of them when old is NULL), each with one aligned 32-bit store: a
 * slot goes straight from one backend to another, never through "nobody".
 */
int dp_ring_write(struct dp *dp, __u32 vip_id, const __u32 *table, const __u32 *old, __u32 size);
/* Read a VIP's table back (tests, `vip show`). */
int dp_ring_read(struct dp *dp, __u32 vip_id, __u32 *table, __u32 size);

int dp_backend_set(struct dp *dp, __u32 id, const struct xlb_backend *be);
/* Clear a backend slot and its counters; its connections die with it. */
int dp_backend_clear(struct dp *dp, __u32 id);
int dp_health_set(struct dp *dp, __u32 id, __u32 state);
/* Forget the cached next hop of a backend (neighbour or route changed). */
int dp_nexthop_flush(struct dp *dp, __u32 id);

/* VIP addresses (echo, fragments) and the prefilter bitmap derived from them. */
int dp_addr_set(struct dp *dp, const struct xlb_vip_addr_key *key, const struct xlb_vip_addr *val);
int dp_addr_del(struct dp *dp, const struct xlb_vip_addr_key *key);

/* Counters summed over CPUs. */
int dp_outcomes(struct dp *dp, struct xlb_outcomes *sum);
int dp_vip_stats(struct dp *dp, __u32 vip_id, struct xlb_vip_stats *sum);
int dp_backend_stats(struct dp *dp, __u32 id, struct xlb_backend_stats *sum);

/* Connection table entry for a flow, -ENOENT if none. */
int dp_conn_lookup(struct dp *dp, const struct xlb_flow *flow, struct xlb_conn *conn);

#endif /* XLB_DATAPLANE_H */
