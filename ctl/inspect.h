/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Questions about what the data plane does with a client: `lookup` (which backend a flow goes
 * to, and why) and `conns` (what the connection table holds).
 *
 * lookup answers the way bpf/lb.h's pick_backend() decides: a connection-table entry whose
 * backend is still the VIP's, of the same generation and not down wins; otherwise the ring slot
 * of the flow's hash (include/xlb_hash.h, the data plane's own function) names the backend.
 *
 * For a nat VIP the NAT table's entries decide first (one per direction, include/xlb_abi.h),
 * while their backend holds, as the data plane does.
 *
 * conns walks the connection table, then the NAT table (one row per NAT flow: client -> VIP,
 * backend address and port, the pool address and port it leaves from, its TCP state and idle
 * seconds), with batched lookups in slices of INSPECT_SLICE_US per turn of the event loop (as
 * prom.c counts it), holding the xlbctl call until the walk is done, so that a full table
 * never stalls the loop. Each conns call has its own walk.
 */
#ifndef XLB_INSPECT_H
#define XLB_INSPECT_H

#include <stdbool.h>

#define INSPECT_SLICE_US	2000
#define INSPECT_BATCH		1024	/* entries per lookup_batch */

struct cmd;
struct daemon;
struct out;
struct server_call;
struct inspect;

/* lookup SERVICE CLIENT_ADDR[:PORT]; returns the exit status. */
int inspect_lookup(struct daemon *d, const struct cmd *cmd, struct out *o);
/*
 * conns [SERVICE] [from ADDR[/LEN]] [count N]: starts a walk and returns SERVER_HELD, or an
 * exit status when it answers at once (an unknown SERVICE, no memory).
 */
int inspect_conns(struct daemon *d, struct server_call *call, const struct cmd *cmd,
		  struct out *o);
/* Advance the walks; call it on every turn of the loop. */
void inspect_tick(struct daemon *d);
/* Whether a walk is under way: the loop should not sleep. */
bool inspect_busy(const struct daemon *d);
/* Abandon every walk (their clients are dropped by the server) and free the state. */
void inspect_free(struct daemon *d);

#endif /* XLB_INSPECT_H */
