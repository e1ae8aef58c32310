// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "daemon.h"
#include "health.h"
#include "log.h"
#include "natsweep.h"
#include "xlb_nat.h"

/* A nat VIP's timeouts in seconds, by VIP id; tcp 0: the id is no nat VIP's. */
struct vip_timeouts {
	__u32 tcp, fin, udp;
};

struct natsweep {
	struct xlb_flow keys[NATSWEEP_BATCH];
	struct xlb_nat vals[NATSWEEP_BATCH];
	struct vip_timeouts *vips;	/* max_vips of them */
	__u32 n_vips;
	__u32 token;
	bool walking;
	bool resume;			/* token is valid: not the walk's first batch */
	bool soon;
	__u32 now;			/* dp_now() when the walk started */
	__u64 walk_ms;			/* when it started */
	__u64 kept;			/* entries left in the map so far in this walk */
	struct natsweep_report report;
};

int natsweep_open(struct natsweep **ns)
{
	*ns = calloc(1, sizeof(**ns));
	return *ns ? 0 : -ENOMEM;
}

void natsweep_close(struct natsweep *ns)
{
	if (!ns)
		return;
	free(ns->vips);
	free(ns);
}

/* The timeouts of every nat VIP, from the configuration as it is now: how many, or -ENOMEM. */
static int vips_load(struct natsweep *ns, const struct daemon *d)
{
	int n = 0;

	if (ns->n_vips != d->dp.max_vips) {
		free(ns->vips);
		ns->vips = calloc(d->dp.max_vips, sizeof(*ns->vips));
		if (!ns->vips) {
			ns->n_vips = 0;
			return -ENOMEM;
		}
		ns->n_vips = d->dp.max_vips;
	}
	memset(ns->vips, 0, ns->n_vips * sizeof(*ns->vips));
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];

		if (v->opts.method != XLB_METHOD_NAT || v->id >= ns->n_vips)
			continue;
		ns->vips[v->id].tcp = v->opts.tcp_timeout_ms / 1000;
		ns->vips[v->id].fin = v->opts.fin_timeout_ms / 1000;
		ns->vips[v->id].udp = v->opts.udp_timeout_ms / 1000;
		n++;
	}
	return n;
}

/* Whether the entry's backend still takes its flow, as the data plane checks a conns entry. */
static bool backend_holds(const struct daemon *d, const struct xlb_nat *e)
{
	const struct sync_backend *b;

	if (e->backend_id == XLB_BACKEND_NONE || e->backend_id >= d->dp.max_backends)
		return false;
	b = &d->sync.be[e->backend_id];
	return b->used && b->vip_id == e->vip_id && b->gen == e->gen &&
	       b->health != XLB_HEALTH_DOWN;
}

/* Seconds since seen; 0 for a stamp from the future (a clock that went back). */
static __u32 idle(__u32 now, __u32 seen)
{
	return (__s32)(now - seen) > 0 ? now - seen : 0;
}

/*
 * Whether a flow idle `quiet` seconds of the data plane's clock has been quiet for at
 * least `limit` seconds. The clock counts whole seconds (seen is the second of the last
 * packet), so quiet == limit may be as little as limit - 1 seconds of real time: a UDP
 * flow sending every 0.3 s was ended with udp-timeout 1s. Past the limit, it is limit to
 * limit + 2 seconds. Also, no CPU still trusts a copy of the entry (bpf/nat.h: a copy is
 * good only in the second of its entry's seen).
 */
static bool quiet_for(__u32 quiet, __u32 limit)
{
	return quiet > limit;
}

enum verdict { KEEP, END_CLOSED, END_IDLE, END_VIP, END_BACKEND, END_ORPHAN };

/* What becomes of the flow of entry (key, e); *partner gets the other entry's key. */
static enum verdict judge(struct daemon *d, struct natsweep *ns, const struct xlb_flow *key,
			  const struct xlb_nat *e, struct xlb_flow *partner)
{
	const struct vip_timeouts *t = e->vip_id < ns->n_vips ? &ns->vips[e->vip_id] : NULL;
	bool tcp = key->proto == IPPROTO_TCP;
	__u32 quiet = idle(ns->now, e->seen), limit;
	struct xlb_nat p;

	xlb_nat_partner(partner, e, key);
	if (!t || !t->tcp)
		return END_VIP;
	if (!backend_holds(d, e))
		return END_BACKEND;
	limit = tcp ? t->tcp : t->udp;
	/*
	 * Most entries of a busy table are seen recently and not closing: no lookup. Past
	 * that, either entry may end the flow (a RST may be on either side only). A to-client
	 * entry is never mid-creation here: the data plane inserts it first, then its partner,
	 * within one packet, and this one is older or carries a flag of a later packet.
	 */
	if (!quiet_for(quiet, limit) && !(e->flags & (XLB_NAT_FIN | XLB_NAT_RST)))
		return KEEP;
	if (dp_nat_lookup(&d->dp, partner, &p))
		return END_ORPHAN;
	/* The flow is as quiet as its busier direction. */
	if (idle(ns->now, p.seen) < quiet)
		quiet = idle(ns->now, p.seen);
	if (tcp && ((e->flags | p.flags) & XLB_NAT_RST || (e->flags & p.flags & XLB_NAT_FIN)))
		return quiet_for(quiet, t->fin) ? END_CLOSED : KEEP;
	return quiet_for(quiet, limit) ? END_IDLE : KEEP;
}

/*
 * Delete the flow's entries, the client's side first: the port is free only once no entry
 * names it, and a client packet in between starts a new flow on another port. The flow is
 * counted once: met again later in the same batch, both entries are gone.
 */
static void end_flow(struct daemon *d, struct natsweep *ns, const struct xlb_flow *key,
		     const struct xlb_nat *e, const struct xlb_flow *partner, enum verdict v)
{
	struct natsweep_ended *n = &ns->report.ended;
	bool to_client = e->flags & XLB_NAT_TO_CLIENT;
	int gone;

	if (v == END_ORPHAN) {
		gone = !dp_nat_delete(&d->dp, key);
	} else {
		gone = !dp_nat_delete(&d->dp, to_client ? partner : key);
		gone |= !dp_nat_delete(&d->dp, to_client ? key : partner);
	}
	if (!gone)
		return;
	n->closed += v == END_CLOSED;
	n->idle += v == END_IDLE;
	n->vip += v == END_VIP;
	n->backend += v == END_BACKEND;
	n->orphan += v == END_ORPHAN;
}

/* One slice of a walk. */
static void step(struct daemon *d, struct natsweep *ns, __u64 until_us)
{
	struct xlb_flow partner;
	enum verdict v;
	__u32 count;
	int err;

	do {
		count = NATSWEEP_BATCH;
		err = dp_nat_batch(&d->dp, ns->resume, &ns->token, ns->keys, ns->vals, &count);
		if (err && err != -ENOENT) {
			/* Tried again at the next period; the last count stands. */
			pr_debug("nat sweeper: cannot read the NAT table: %s\n", strerror(-err));
			ns->walking = false;
			return;
		}
		ns->resume = true;
		for (__u32 i = 0; i < count; i++) {
			v = judge(d, ns, &ns->keys[i], &ns->vals[i], &partner);
			if (v == KEEP)
				ns->kept++;
			else
				end_flow(d, ns, &ns->keys[i], &ns->vals[i], &partner, v);
		}
		if (err) { /* -ENOENT: that was the last batch */
			ns->report.entries = ns->kept;
			ns->report.counted = true;
			ns->walking = false;
			return;
		}
	} while (health_now_us() < until_us);
}

void natsweep_tick(struct daemon *d)
{
	struct natsweep *ns = d->natsweep;
	__u64 start = health_now_us();

	if (!ns)
		return;
	if (!ns->walking) {
		if (!ns->soon && ns->walk_ms && start / 1000 - ns->walk_ms < NATSWEEP_EVERY_MS)
			return;
		/*
		 * Only nat VIPs make entries: without one, a table found empty stays empty, and a
		 * walk of it is one lookup_batch over every bucket, ~3 ms of the event loop (its
		 * longest turn with 1000 DSR VIPs, once a second). A nat VIP deleted is a walk
		 * soon.
		 */
		if (!ns->soon && ns->report.counted && !ns->report.entries && !vips_load(ns, d)) {
			ns->walk_ms = start / 1000;
			return;
		}
		ns->walking = true;
		ns->resume = false;
		ns->soon = false;
		ns->kept = 0;
		ns->walk_ms = start / 1000;
		ns->now = dp_now(&d->dp);
	}
	/* Every slice: the configuration may have changed since the last. */
	if (vips_load(ns, d) < 0) {
		ns->walking = false;
		return;
	}
	step(d, ns, start + NATSWEEP_SLICE_US);
}

void natsweep_soon(struct daemon *d)
{
	if (d->natsweep)
		d->natsweep->soon = true;
}

bool natsweep_busy(const struct daemon *d)
{
	return d->natsweep && d->natsweep->walking;
}

void natsweep_report(const struct daemon *d, struct natsweep_report *r)
{
	if (d->natsweep)
		*r = d->natsweep->report;
	else
		memset(r, 0, sizeof(*r));
}
