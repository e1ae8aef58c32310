/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's state and command handlers, apart from its event loop (xlbd.c) so
 * that tests and benchmarks can drive them directly.
 */
#ifndef XLB_DAEMON_H
#define XLB_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "bird.h"
#include "config.h"
#include "dataplane.h"
#include "probe_path.h"
#include "statetext.h"
#include "sync.h"

struct out;
struct server_call;

#define XLBD_SOCKET_DEFAULT	"/run/xlb/xlbd.sock"
#define XLBD_STATE_DEFAULT	"/var/lib/xlb/xlb.conf"
#define XLBD_PIN_DEFAULT	"/sys/fs/bpf/xlb"

struct daemon_opts {
	const char *socket;
	const char *state;
	const char *pin_dir;
	__u32 max_vips, max_backends, conns;	/* 0: defaults */
	__u32 ratelimit_entries;		/* 0: default */
	__u32 nat_entries;			/* -T; 0: default */
	const char *bird_fragment;		/* -b: NULL, nothing BGP-related */
	const char *bird_reload;		/* -r: NULL, BIRD_RELOAD_DEFAULT */
};

struct prober;
struct rates;
struct inspect;
struct natsweep;
struct tracer;

/* The whole state file written by a thread (daemon.c: rewrite_begin() to rewrite_end()). */
struct state_rewrite {
	char *text;		/* the file's text, freed at the end if owned */
	size_t len;
	size_t ckpt_from;	/* the log's offset of the checkpoint naming it */
	const char *path;
	int log_fd;		/* fdatasync'd before the rename: the checkpoint is on disk */
	int err;
	pthread_t thread;
	atomic_bool done;	/* the thread's work is over */
	bool running, thread_running, owned;
};

struct daemon {
	struct daemon_opts opts;
	struct dp dp;
	struct sync sync;
	struct config cfg;
	struct cfg_limits limits;	/* cfg's: the maps' capacity, the host's addresses */
	struct prober *prober;
	struct probe_path probe_path;	/* health checks via vip */
	struct bird_link bird;
	struct timespec started;
	__u64 neigh_polled_ms, neigh_warmed_ms, neigh_missed;
	size_t warm_vip, warm_backend;	/* the next neighbour to warm */
	bool warming;			/* a round of them under way */
	struct rates *rates;		/* of the counters, for `stats` (rates.h) */
	struct inspect *inspect;	/* conns walks under way (inspect.h) */
	struct tracer *tracer;		/* the trace under way (tracer.h) */
	struct natsweep *natsweep;	/* ends NAT flows (natsweep.h) */
	__u64 nexthops_ms;		/* last dp_nexthop_refresh() */
	struct state_text saved;	/* the state file's text with every change (its log's) */
	struct state_prime prime;	/* saved's first text, after the start */
	int log_fd;			/* the state file's change log (statelog.h), appended to */
	size_t log_len;			/* its length: a failed append is cut back to it */
	size_t log_changes;		/* changes since its last checkpoint */
	__u64 log_last_ms;		/* when the last one came */
	struct state_rewrite rewrite;	/* of the whole file, from saved */
};

/* Neighbour entries go stale after ~30 s unconfirmed: refresh well before. */
#define DAEMON_WARM_S		10
#define DAEMON_NEIGH_POLL_MS	200
/*
 * The data plane's next-hop cache follows route and neighbour changes this
 * late at most: it reads no clock, the daemon starts a new epoch instead.
 */
#define DAEMON_NEXTHOP_MS	1000
/*
 * The state file is rewritten whole (and its log started again) once the log holds this many
 * changes, or once changes paused this long: a burst of commands does not share the disk with
 * the rewrite's fsync.
 */
#define DAEMON_LOG_CHANGES	1024
#define DAEMON_LOG_QUIET_MS	1000

/*
 * Load (or adopt) the data plane, read the state file and make the maps and
 * interfaces match it. Errors are logged; 0 or -errno.
 */
int daemon_start(struct daemon *d, const struct daemon_opts *opts);
/* Leave the data plane running: only userspace state is released. */
void daemon_stop(struct daemon *d);

/* One xlbctl command; returns the exit status (0, 1, 2) and fills o. */
int daemon_handle(void *ctx, struct server_call *call, int argc, char **argv, struct out *o);

/* The health checker's fd for the event loop, and its work when readable. */
int daemon_health_fd(const struct daemon *d);
void daemon_health_dispatch(struct daemon *d);

/* Ask the kernel to resolve every backend's neighbour entry, all at once. */
void daemon_warm_neighbours(struct daemon *d);
/* Periodic work of the event loop (neighbour warming); call it every turn. */
void daemon_tick(struct daemon *d);
/* Whether daemon_tick() has work left for the next turn at once (a warming round). */
bool daemon_busy(const struct daemon *d);

/* Write text to path so that a crash leaves the old or the new file whole. */
int state_write(const char *path, const char *text, size_t len);

#endif /* XLB_DAEMON_H */
