/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reconciler: makes the maps say what the configuration says, for one
 * VIP at a time (a command) or all of them (start-up, restore).
 *
 * Order is what keeps the data plane consistent while it runs: a backend is
 * written before any ring slot names it, a ring is rebuilt before a removed
 * backend is cleared, a VIP's ring exists before the VIP does, and a ring
 * slot only ever changes from one backend to another.
 *
 * Ids: a VIP id indexes rings and VIP counters; a backend id indexes
 * backends, health and counters, and belongs to one (VIP, address). When an
 * id is handed out again its generation changes, so connections bound to
 * its previous owner are re-hashed instead of following the id.
 */
#ifndef XLB_SYNC_H
#define XLB_SYNC_H

#include "config.h"
#include "dataplane.h"

struct sync_backend {
	__u32 vip_id;
	__u32 gen;
	__u32 health;	/* XLB_HEALTH_* as written */
	bool used;
};

/*
 * What the maps held that no VIP owned, and was removed: by sync_init() what no VIP entry names
 * (left by a crash, or by a restore that failed in an older xlbd), by sync_all() the VIPs its
 * configuration does not hold. Counted from sync_init() on, for xlbd to say at start.
 */
struct sync_swept {
	__u32 vips;		/* VIP entries (with their rings and backends) */
	__u32 rings;		/* rings of VIP ids that no VIP entry names */
	__u32 backends;		/* active backends of such ids */
	__u32 health;		/* down marks of backend ids nobody holds */
	__u32 counters;		/* non-zero counters of VIP and backend ids nobody holds */
};

/* What is known of a VIP id's ring until its table is next written. */
enum sync_ring_state {
	SYNC_RING_AS_READ = 0,	/* read it to see what changes */
	SYNC_RING_NEW,		/* created since: nothing in it to compare */
	SYNC_RING_FRESH,	/* built by sync_all() ahead of sync_vip() */
};

struct sync {
	struct dp *dp;
	struct sync_swept swept;
	bool *vip_used;			/* per VIP id */
	__u8 *ring_state;		/* per VIP id: enum sync_ring_state */
	struct sync_backend *be;	/* per backend id: what the maps hold */
	__u32 *vip_backends;		/* per VIP id: the ids of s->be used by it */
	__u32 be_free;			/* every backend id from 1 to below this is used */
	__u32 *table;			/* scratch: one ring */
	__u32 *old;
	__u32 *index;			/* scratch: backend id -> position in a VIP + 1 */
};

/*
 * Learn what the (possibly adopted) maps hold, and remove what no VIP entry names: nothing but
 * this process writes the maps, so nothing else is on its way to use it.
 */
int sync_init(struct sync *s, struct dp *dp);
void sync_free(struct sync *s);

/*
 * Give the model the ids the maps already use for its VIPs and backends
 * (after a restart), so that established connections keep their backend.
 */
void sync_adopt(struct sync *s, struct config *c);

/*
 * Whether all of a VIP's backends are down, so that it fails open: it
 * forwards over all of them (by weight) rather than over none.
 */
bool sync_vip_fails_open(const struct cfg_vip *v);

/*
 * Place one VIP of c (new or changed) in the maps. Backends marked down get
 * no ring slots and XLB_HEALTH_DOWN (their connections re-hash), unless the
 * VIP fails open. On error a VIP whose entry is not in the maps leaves
 * nothing there: its ring and backend ids are given back.
 */
int sync_vip(struct sync *s, struct config *c, struct cfg_vip *v);
/*
 * Read v's ring as the maps hold it, in one pass: counts[j] (may be NULL)
 * gets the slots v->backends[j] owns, *digest (may be NULL) a hash of the
 * table by backend address, not id, so that nodes that number backends
 * differently but configure the same set print the same. 0 or -errno.
 */
int sync_ring_read(struct sync *s, const struct cfg_vip *v, __u32 *counts, __u64 *digest);

/* What the health map holds for a backend id (as the maps had it at start). */
__u32 sync_health(const struct sync *s, __u32 id);

/* Remove a VIP, with all its backends, from the maps. */
int sync_vip_remove(struct sync *s, const struct xlb_vip_key *key);
/*
 * Everything: VIPs that are in the maps but not in c are removed, every VIP
 * of c is placed, VIP addresses rewritten.
 */
int sync_all(struct sync *s, struct config *c);
/* VIP addresses (echo, fragments), the prefilter (NAT pool addresses too) and the NAT flag. */
int sync_addrs(struct sync *s, const struct config *c);
/*
 * Rewrite the pools of c's nat VIPs, then sync_addrs(): after the balancer's own addresses
 * (the default pool) changed.
 */
int sync_pools(struct sync *s, const struct config *c);
/*
 * A nat VIP's pool as written: its snat addresses, else the balancer's own address of the
 * VIP's family (the outer source of ipip: the first attached interface's), else none.
 */
void sync_nat_pool(const struct sync *s, const struct cfg_vip *v, struct xlb_nat_pool *pool);

#endif /* XLB_SYNC_H */
