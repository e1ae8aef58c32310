/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Active health checks, run inside xlbd's event loop: one non-blocking
 * socket per probe in flight, no thread or process per check.
 *
 * Counting is by consecutive results: a backend goes down after `fall`
 * failures in a row and comes back after `rise` successes in a row; any
 * result of the other kind resets the run.
 */
#ifndef XLB_HEALTH_H
#define XLB_HEALTH_H

#include <stdbool.h>
#include <time.h>
#include "cmd.h"

#define HC_ERROR_MAX 64

/* The rise/fall state machine of one backend (pure: unit-tested alone). */
struct hc_state {
	bool up;
	bool probed;			/* at least one result */
	bool last_ok;
	__u32 ok_run;			/* consecutive successes */
	__u32 fail_run;			/* consecutive failures */
	__u64 changed_ms;		/* CLOCK_MONOTONIC ms of the last state change */
	char last_error[HC_ERROR_MAX];	/* of the last failure: "connection refused" */
	/* Since the backend was first checked, for metrics. */
	__u64 ok_total;			/* results that were successes */
	__u64 fail_total;		/* results that were failures */
	__u64 last_us;			/* how long the last probe took */
	__u64 sum_us;			/* all probes' durations added up */
	/*
	 * via vip: after each failure, one probe of the backend's own
	 * address tells a broken VIP path from a dead backend.
	 */
	__u8 direct;			/* enum hc_direct */
};

enum hc_direct {
	HC_DIRECT_UNKNOWN = 0,		/* not tried since the last VIP-path failure */
	HC_DIRECT_OK,			/* the backend answers at its own address */
	HC_DIRECT_FAILS,
};

void hc_init(struct hc_state *s, bool up, __u64 now_ms);
/* Feed one result; true when it changed the state (up <-> down). */
bool hc_feed(struct hc_state *s, bool ok, const char *error, __u32 rise, __u32 fall,
	     __u64 now_ms);

/* One backend to check, as the daemon's configuration describes it. */
struct hc_target {
	__u32 id;			/* backend id (stable while the backend exists) */
	struct xlb_addr addr;
	__u8 family;
	__u16 port;			/* host order */
	struct cmd_health check;	/* type, path, status, interval, timeout, rise, fall */
	bool initially_up;		/* state to start in when the id is new */
	/* check.via == CMD_VIA_VIP: connect to vip from src with mark. */
	struct xlb_addr vip;
	struct xlb_addr src;
	bool has_src;			/* false: no probe path (nothing attached) */
	__u32 mark;
};

struct prober;

/*
 * on_change(ctx, id, up) runs inside health_dispatch() each time a
 * backend's state changes.
 */
typedef void (*hc_change_fn)(void *ctx, __u32 id, bool up);

int health_open(struct prober **p, __u32 max_backends, hc_change_fn fn, void *ctx);
void health_close(struct prober *p);
/* An epoll fd to watch for EPOLLIN; call health_dispatch() when readable. */
int health_fd(const struct prober *p);
int health_dispatch(struct prober *p);

/*
 * Replace the set of checked backends. Backends that stay (same id, same
 * address) keep their state and schedule; new ones start in initially_up
 * and are probed within one interval, spread so that many backends never
 * burst at once.
 */
int health_set_targets(struct prober *p, const struct hc_target *t, size_t n);

/* State of a backend id; NULL when it is not checked. */
const struct hc_state *health_state(const struct prober *p, __u32 id);

__u64 health_now_ms(void);
/* Probe durations: a check on a LAN takes well under a millisecond. */
__u64 health_now_us(void);

#endif /* XLB_HEALTH_H */
