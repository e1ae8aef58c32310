/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The NAT sweeper: the data plane creates NAT entries (two per flow, include/xlb_abi.h) and
 * never ends them, so that a port is never handed out while its flow lives; xlbd does, here.
 *
 * About once a second the `nat` map is walked in batches, NATSWEEP_SLICE_US of work per turn
 * of the event loop (a full table never stalls it); not while no VIP is nat and the last walk
 * left the table empty. Both entries of a flow are deleted when:
 *   - TCP saw a FIN each way, or a RST, and the flow has been quiet for the VIP's fin-timeout;
 *   - TCP otherwise, or UDP, has been idle for the VIP's tcp-timeout or udp-timeout;
 *   - its VIP is gone (or no longer nat);
 *   - its backend left the VIP, its id was reused, or it is down (health checks): a NAT flow
 *     cannot move to another backend, which would reset it, so it ends and the client's next
 *     packet is a new flow. A backend at weight 0 (draining) keeps its flows.
 * Idle time is counted on xlb_config.now (dp_now()), which stands still while no xlbd runs:
 * nothing expires while it is stopped, and the pinned map keeps every flow across restarts.
 *
 * An entry whose partner is gone (a data-plane insert that lost a race) is deleted once it
 * has been idle for a second.
 */
#ifndef XLB_NATSWEEP_H
#define XLB_NATSWEEP_H

#include <stdbool.h>
#include <linux/types.h>

#define NATSWEEP_EVERY_MS	1000
#define NATSWEEP_SLICE_US	2000
#define NATSWEEP_BATCH		1024	/* entries per lookup_batch */

struct daemon;
struct natsweep;

/* Flows the sweeper ended, by reason, since xlbd started. */
struct natsweep_ended {
	__u64 closed;		/* FIN both ways or RST, then fin-timeout */
	__u64 idle;		/* tcp-timeout or udp-timeout */
	__u64 vip;		/* its VIP was deleted */
	__u64 backend;		/* its backend was deleted or is down */
	__u64 orphan;		/* an entry without its partner */
};

struct natsweep_report {
	bool counted;		/* a walk has completed: entries is known */
	/*
	 * NAT entries (two per flow) the last complete walk left, counted as it went: an entry
	 * kept before its partner ended the flow is in it until the next walk.
	 */
	__u64 entries;
	struct natsweep_ended ended;
};

int natsweep_open(struct natsweep **ns);
void natsweep_close(struct natsweep *ns);
/* Walk on (or start a walk when one is due); call it on every turn of the loop. */
void natsweep_tick(struct daemon *d);
/* A VIP or backend went, or went down: start the next walk at the next turn, not in a second. */
void natsweep_soon(struct daemon *d);
/* Whether a walk is under way: the loop should not sleep. */
bool natsweep_busy(const struct daemon *d);
void natsweep_report(const struct daemon *d, struct natsweep_report *r);

#endif /* XLB_NATSWEEP_H */
