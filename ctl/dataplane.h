/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The balancer program and its maps, as the control plane sees them: load,
 * then write VIPs, rings, backends, health and configuration in an order
 * that never lets the data plane see half a change. Every function returns
 * 0 or -errno.
 */
#ifndef XLB_DATAPLANE_H
#define XLB_DATAPLANE_H

#include <pthread.h>
#include <stdbool.h>
#include "xlb_abi.h"

struct xlb;
struct xlb_trace;

struct dp_opts {
	__u32 max_vips;		/* 0: XLB_MAX_VIPS */
	__u32 max_backends;	/* 0: XLB_MAX_BACKENDS */
	__u32 conns;		/* 0: XLB_CONNS_DEFAULT; rounded up to a power of two */
	__u32 ratelimit_entries;	/* rate-limited sources; 0: XLB_RATELIMIT_DEFAULT */
	__u32 nat_entries;	/* NAT translation entries, two per flow; 0: XLB_NAT_DEFAULT */
	const char *pin_dir;	/* maps and links pinned (and adopted) here; NULL: none */
	bool prog_async;	/* the program's load goes on after dp_load(): dp_prog_wait() */
};

struct dp {
	struct xlb *skel;	/* the maps: created or adopted, pinned; loads no program */
	struct xlb *prog;	/* the program, on skel's maps (fds of its own) */
	struct xlb_trace *traced;	/* the build with trace hooks, while a trace runs */
	char pin_dir[256];	/* "" when not pinning */
	__u32 max_vips;
	__u32 max_backends;
	int *ring_fds;		/* per VIP id, -1 when the VIP has no ring */
	void **rings;		/* per VIP id, the ring's slots mapped into memory */
	__u32 *ring_sizes;
	/* Bytes a ring slot: 2 if every backend id fits (include/xlb_abi.h), else 4. */
	__u32 ring_slot;
	/* conns was pinned by an earlier start and kept (dp_conns_rehome() walks it). */
	bool conns_adopted;
	/* An older build's pinned rings, of the other slot width, until copied (dp_load()). */
	int rings_old_fd;
	struct xlb_config cfg;	/* as last written, with the next-hop epoch */
	struct xlb_conn_set *conns;	/* the connection table, mapped */
	__u64 *conn_hints;		/* its sets' hint words (bpf/conns.h), mapped */
	__u32 conn_sets;
	struct xlb_rl_set *rl;	/* the rate limiter's source table, mapped */
	__u32 rl_sets;
	/* cfg.now goes on from what the maps held: time xlbd is stopped does not count. */
	__u32 now_base;
	__u64 now_started_s;	/* CLOCK_MONOTONIC seconds at load */
	/* Prefilter bits beyond the VIP addresses: the NAT pools', so that replies get in. */
	struct xlb_addr *filter_extra;
	__u32 n_filter_extra;
	/* Rings created but not yet in the outer map (dp_rings_defer()). */
	bool rings_deferred;
	__u32 *pending;		/* VIP ids, n_pending of them */
	__u32 n_pending;
	/* The program's load while dp_opts.prog_async has it go on in a thread. */
	pthread_t prog_loader;
	bool prog_loading;
	int prog_err;
};

/*
 * Load the program. With a pin dir, maps already pinned there are reused
 * (with their content: connections, rings, counters) and new ones pinned,
 * so a restarted daemon takes over where the last one stopped.
 */
int dp_load(struct dp *dp, const struct dp_opts *opts);
void dp_unload(struct dp *dp);
/*
 * With dp_opts.prog_async, the maps can be read and written as soon as dp_load() returns, but
 * the program is there only after this, whose result is the load's (0 or -errno): wait before
 * the first dp_attach(), dp_prog_fd() or dp_trace_begin().
 */
int dp_prog_wait(struct dp *dp);
/* The program the links run: the traced build while a trace runs. */
int dp_prog_fd(const struct dp *dp);

/*
 * `xlbctl trace`: the running program has no trace hook at all
 * (bpf/trace.h). dp_trace_begin() loads the build with the hooks on the
 * running program's maps (so one ring buffer, one filter, one set of
 * connections and counters) and switches every link that runs the program
 * to it, atomically (no packet without a program); dp_trace_end() switches them back and unloads it. The filter
 * must be written before dp_trace_begin(). A daemon killed mid-trace leaves
 * the links on the traced build: the next one's dp_attach() switches them
 * to its own program.
 */
int dp_trace_begin(struct dp *dp);
void dp_trace_end(struct dp *dp);

enum dp_mode {
	DP_MODE_NATIVE = 0,
	DP_MODE_GENERIC = 1,
};

/*
 * Attach the program to an interface through a bpf_link pinned in the pin
 * dir. A link pinned by an earlier run is adopted and switched to this
 * program, without a moment where the interface has none. Asking for native
 * mode on a driver without it falls back to generic, and *note says so.
 * Another XDP program on the interface is never replaced (-EBUSY).
 */
int dp_attach(struct dp *dp, const char *ifname, enum dp_mode mode, char *note, size_t notelen);
/* Remove our program from the interface (also when the interface is gone). */
int dp_detach(struct dp *dp, const char *ifname);

/*
 * Remove from the pin dir what the loaded program no longer needs: links
 * whose interface is gone, links of interfaces that wanted() does not want,
 * and maps of names the program does not have (an older version's). Call it
 * before attaching: unpinning takes nothing from a running program, which
 * holds its own maps, and the attach replaces what goes. fn is told of each
 * (the pin's name and why); returns how many, or -errno.
 */
typedef void (*dp_pin_fn)(const char *name, const char *why, void *ctx);
int dp_pins_prune(struct dp *dp, bool (*wanted)(const char *ifname, void *ctx), void *ctx,
		  dp_pin_fn fn, void *fnctx);

struct dp_iface_info {
	__u32 ifindex;
	__u32 prog_id;
	enum dp_mode mode;
	bool attached;		/* our link is pinned and the interface runs it */
};
int dp_iface_info(struct dp *dp, const char *ifname, struct dp_iface_info *info);

/*
 * Write cfg, but for the next-hop epoch, which goes on. The NAT clock (now) goes on from
 * cfg->now, or from where it was when that is 0.
 */
int dp_config_set(struct dp *dp, const struct xlb_config *cfg);
/* xlb_config.flags (XLB_CONFIG_NAT), written only when they change. */
int dp_config_flags(struct dp *dp, __u32 flags);
int dp_tx_port_add(struct dp *dp, __u32 ifindex);
int dp_tx_port_del(struct dp *dp, __u32 ifindex);

/*
 * Add or change a VIP. A new VIP id gets a ring of vip->ring_size slots, all
 * XLB_BACKEND_NONE, installed before the VIP itself is visible. Changing the
 * ring size of an existing VIP is refused (-EBUSY): delete and add it.
 */
int dp_vip_set(struct dp *dp, const struct xlb_vip_key *key, const struct xlb_vip *vip);
/* Remove the VIP, then its ring, then zero its counters and forget its sources. */
int dp_vip_del(struct dp *dp, const struct xlb_vip_key *key, __u32 vip_id);

/*
 * Write a VIP's Maglev table (backend ids, one per slot; below max_backends,
 * so each fits the ring's slot width). Only slots that differ from `old` are
 * written (all of them when old is NULL), each with one aligned store of the
 * slot's width: a slot goes straight from one backend to another, never
 * through "nobody". The table stays __u32 whatever the width: it is narrowed
 * here and widened by dp_ring_read().
 */
int dp_ring_write(struct dp *dp, __u32 vip_id, const __u32 *table, const __u32 *old, __u32 size);
/* Read a VIP's table back (tests, `vip show`). */
int dp_ring_read(struct dp *dp, __u32 vip_id, __u32 *table, __u32 size);
/* size slots of width bytes (2 or 4) at mem into a table of __u32 ids. */
void dp_ring_widen(const void *mem, __u32 width, __u32 *table, __u32 size);
/* size slots of the ring array fd whose value is vsz bytes, of any layout, into table. */
int dp_ring_fd_read(int fd, __u32 vsz, __u32 *table, __u32 size);
/* Slots of a VIP's ring, 0 if the VIP id has none. */
__u32 dp_ring_size(const struct dp *dp, __u32 vip_id);

/* What the maps hold, for adoption after a restart. -ENOENT when absent. */
int dp_vip_get(struct dp *dp, const struct xlb_vip_key *key, struct xlb_vip *vip);
int dp_backend_get(struct dp *dp, __u32 id, struct xlb_backend *be);

int dp_backend_set(struct dp *dp, __u32 id, const struct xlb_backend *be);
/* Clear a backend slot and its counters; its connections die with it. */
int dp_backend_clear(struct dp *dp, __u32 id);
int dp_health_set(struct dp *dp, __u32 id, __u32 state);
int dp_health_get(struct dp *dp, __u32 id, __u32 *state);
/*
 * Have every cached next hop looked up again in the FIB on its next packet
 * (neighbours or routes may have changed), and move xlb_config.now (the NAT
 * entries' clock) to dp_now(): the data plane reads no clock, so the daemon
 * calls this about once a second.
 */
int dp_nexthop_refresh(struct dp *dp);
/*
 * Seconds on the NAT entries' clock: it resumes where the adopted maps' left
 * off, so entries do not age while no xlbd runs; never 0.
 */
__u32 dp_now(const struct dp *dp);

/*
 * VIP addresses (echo, fragments). The prefilter bitmap is derived from
 * them by dp_filter_rebuild(), once after a batch: add addresses then
 * rebuild; delete addresses then rebuild.
 */
int dp_addr_set(struct dp *dp, const struct xlb_vip_addr_key *key, const struct xlb_vip_addr *val);
int dp_addr_del(struct dp *dp, const struct xlb_vip_addr_key *key);
/* Next address key after prev (NULL: the first); -ENOENT at the end. */
int dp_addr_next(struct dp *dp, const struct xlb_vip_addr_key *prev,
		 struct xlb_vip_addr_key *next);
int dp_filter_rebuild(struct dp *dp);
/* Replace the extra prefilter addresses (NAT pools), then rebuild. */
int dp_filter_extra_set(struct dp *dp, const struct xlb_addr *addrs, __u32 n);
/* Next VIP key after prev (NULL: the first); -ENOENT at the end. */
int dp_vip_next(struct dp *dp, const struct xlb_vip_key *prev, struct xlb_vip_key *next);
/* Make sure VIP id has a ring of `size` slots (new rings say "nobody"). */
int dp_ring_ensure(struct dp *dp, __u32 vip_id, __u32 size);
/* Remove VIP id's ring, which no VIP entry may name any more. */
int dp_ring_remove(struct dp *dp, __u32 vip_id);
/* Zero a VIP id's counters. */
int dp_vip_stats_clear(struct dp *dp, __u32 vip_id);
/*
 * Installing a ring into the outer map waits for an RCU grace period (the
 * kernel's guarantee that no program still sees the old entry): ~13 ms, a
 * second per 80 VIPs. Between dp_rings_defer() and dp_rings_install(), new
 * rings are created and writable but put into the outer map together, in
 * one batch, one wait. No VIP may be written (dp_vip_set) in between: its
 * ring would not be there yet.
 */
void dp_rings_defer(struct dp *dp);
int dp_rings_install(struct dp *dp);

/* Counters summed over CPUs. */
int dp_outcomes(struct dp *dp, struct xlb_outcomes *sum);
int dp_vip_stats(struct dp *dp, __u32 vip_id, struct xlb_vip_stats *sum);
/* Trace events the data plane could not send, since it was loaded (xlb_trace.h). */
struct xlb_trace_lost;
int dp_trace_lost(struct dp *dp, struct xlb_trace_lost *sum);
int dp_backend_stats(struct dp *dp, __u32 id, struct xlb_backend_stats *sum);
/*
 * Many ids at once (dp_batch.c): the backend and health entries of all max_backends ids; the
 * counters of VIP or backend ids 0..n-1, summed over CPUs. A few syscalls instead of one per id.
 */
int dp_backends_read(struct dp *dp, struct xlb_backend *be, __u32 *health);
int dp_vip_stats_read(struct dp *dp, __u32 n, struct xlb_vip_stats *sums);
int dp_backend_stats_read(struct dp *dp, __u32 n, struct xlb_backend_stats *sums);
/*
 * Per-CPU values as the kernel returns them (n entries, ncpus values of vsz bytes each) added
 * into n structs of size bytes of 8-byte counters: every reader of per-CPU counters sums here.
 */
void dp_percpu_fold(const __u64 *vals, __u32 n, int ncpus, size_t vsz, void *sums, size_t size);
/*
 * dp_health_set(UP) and dp_backend_set() of n new backends, in two batches, then one
 * dp_nexthop_refresh() for them all; one by one where the kernel has no batches.
 */
int dp_backends_write(struct dp *dp, const __u32 *ids, const struct xlb_backend *be, size_t n);

/*
 * Read up to *count connection-table entries after *token (from the start
 * when resume is false), for counting: 0 with more to come, -ENOENT after
 * the last batch (*count still says how many it held), or -errno.
 */
int dp_conn_batch(struct dp *dp, bool resume, __u32 *token, struct xlb_flow *keys,
		  struct xlb_conn *vals, __u32 *count);
__u32 dp_conn_max(const struct dp *dp);

/* Connection table entry for a flow, -ENOENT if none. */
int dp_conn_lookup(struct dp *dp, const struct xlb_flow *flow, struct xlb_conn *conn);
/*
 * Bind a flow as the data plane does (bpf/conns.h), for tests and tools:
 * 0, or -EBUSY if its way was being written.
 */
int dp_conn_bind(struct dp *dp, const struct xlb_flow *flow, const struct xlb_conn *conn);
/*
 * Entries that are not where this build looks for them (xlb_conn_hash()), left by a build
 * that placed them by another hash (IPv6 flows before xlb_conn_hash() existed): each is
 * copied where it belongs, unless the flow has an entry there already, keeping its epoch
 * stamp; with clear, the misplaced way is emptied too. Called at start on the adopted
 * table, before the links switch to this build's program (which looks only where it
 * belongs) and, with clear, after (for binds the old program made in between), which also
 * records in the pinned config that the table is placed (xlb_config.conns_placed): later
 * starts of this build skip the walk. *moved: entries copied. -EBUSY if a way was being
 * written (that flow re-binds by the ring).
 */
int dp_conns_rehome(struct dp *dp, bool clear, __u32 *moved);

/* A nat VIP's pool (nat_pools), written before the VIP is. */
int dp_nat_pool_set(struct dp *dp, __u32 vip_id, const struct xlb_nat_pool *pool);
/* NAT translation entries: read in batches as dp_conn_batch(), one by key, deleted by key. */
int dp_nat_batch(struct dp *dp, bool resume, __u32 *token, struct xlb_flow *keys,
		 struct xlb_nat *vals, __u32 *count);
int dp_nat_lookup(struct dp *dp, const struct xlb_flow *key, struct xlb_nat *val);
int dp_nat_delete(struct dp *dp, const struct xlb_flow *key);
__u32 dp_nat_max(const struct dp *dp);

/*
 * Per-source rate-limit entries (bpf/ratelimit.h), read and written in the
 * mapped table with the data plane's protocol. The data plane keeps
 * changing them while they are read: a walk sees every entry that stays in
 * the table throughout, each read whole.
 *
 * dp_ratelimit_next: the entry after prev (NULL: the first), key and state;
 * -ENOENT at the end. dp_ratelimit_lookup: one source's state, -ENOENT if
 * the table holds none. dp_ratelimit_put: write a source's state as the
 * data plane would (its way, or the one a new source would replace), for
 * tests and tools; -EBUSY if the data plane wrote that way meanwhile.
 */
int dp_ratelimit_next(struct dp *dp, const struct xlb_rl_key *prev, struct xlb_rl_key *next,
		      struct xlb_rl_state *st);
int dp_ratelimit_lookup(struct dp *dp, const struct xlb_rl_key *key, struct xlb_rl_state *st);
int dp_ratelimit_put(struct dp *dp, const struct xlb_rl_key *key, const struct xlb_rl_state *st);
/* Sources the table holds at most (xlbd -L, rounded up to a power of two). */
__u32 dp_ratelimit_max(const struct dp *dp);

/*
 * Call fn for every entry. A non-zero return from fn stops the walk and is
 * returned.
 */
typedef int (*dp_ratelimit_fn)(const struct xlb_rl_key *key, const struct xlb_rl_state *st,
			       void *ctx);
int dp_ratelimit_walk(struct dp *dp, dp_ratelimit_fn fn, void *ctx);

/*
 * Forget every source of one VIP once its limit is switched off or changed
 * (call it after writing the VIP): the old buckets mean nothing under new
 * parameters, and a VIP without a limit should leave nothing behind. A
 * packet already past the VIP lookup may still add one entry afterwards, a
 * full bucket: harmless, and the next new source of its set replaces it.
 */
int dp_ratelimit_clear_vip(struct dp *dp, __u32 vip_id);

#endif /* XLB_DATAPLANE_H */
