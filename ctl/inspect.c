// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cmd.h"
#include "daemon.h"
#include "health.h"
#include "inspect.h"
#include "log.h"
#include "natsweep.h"
#include "output.h"
#include "server.h"
#include "sync.h"
#include "xlb_hash.h"
#include "xlb_nat.h"

/* One conns call's walk of the table. */
struct walk {
	struct walk *next;
	struct daemon *d;
	struct server_call *call;
	struct cmd cmd;
	struct out *o;
	__u32 token;
	bool resume;
	bool nat;		/* the connection table is done: walking the NAT table */
	__u64 entries, nat_entries, matched, shown;
	struct xlb_flow keys[INSPECT_BATCH];
	struct xlb_conn vals[INSPECT_BATCH];
	struct xlb_nat nat_vals[INSPECT_BATCH];
};

struct inspect {
	struct walk *walks;
};

static const char *proto_name(__u8 proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

/* "10.0.0.1:80" or "[fd00::1]:80". */
static void endpoint_format(const struct xlb_addr *a, __u8 family, __be16 port, char *buf,
			    size_t len)
{
	char addr[ADDR_STRLEN];

	if (addr_format(a, family, addr, sizeof(addr)) < 0)
		strcpy(addr, "?");
	snprintf(buf, len, family == XLB_AF_INET6 ? "[%s]:%u" : "%s:%u", addr, ntohs(port));
}

/*
 * Whether a connection-table entry still decides its flow, as pick_backend() tests it: the
 * backend is the VIP's (vip_id; CFG_ID_NONE: any VIP), of the same generation, and not down.
 * *be gets the backend (zeroed when there is none), *why the reason when it does not hold.
 */
static bool conn_holds(struct daemon *d, __u32 vip_id, const struct xlb_conn *conn,
		       struct xlb_backend *be, const char **why)
{
	__u32 state = XLB_HEALTH_UP;

	if (dp_backend_get(&d->dp, conn->backend_id, be))
		memset(be, 0, sizeof(*be));
	if (!(be->flags & XLB_BACKEND_ACTIVE) || (vip_id != CFG_ID_NONE && be->vip_id != vip_id)) {
		*why = "its backend left the VIP";
		return false;
	}
	if (be->gen != conn->gen) {
		*why = "its backend id was reused";
		return false;
	}
	dp_health_get(&d->dp, conn->backend_id, &state);
	if (state == XLB_HEALTH_DOWN) {
		*why = "its backend is down";
		return false;
	}
	return true;
}

/* ---- lookup ---- */

static int ring_slot(struct daemon *d, const struct cfg_vip *v, __u32 slot, __u32 *id)
{
	__u32 size = dp_ring_size(&d->dp, v->id), *table;
	int err;

	if (!size || slot >= size)
		return -ENOENT;
	table = malloc((size_t)size * sizeof(*table));
	if (!table)
		return -ENOMEM;
	err = dp_ring_read(&d->dp, v->id, table, size);
	if (!err)
		*id = table[slot];
	free(table);
	return err;
}

static const struct cfg_backend *backend_by_id(const struct cfg_vip *v, __u32 id)
{
	for (size_t j = 0; j < v->n_backends; j++)
		if (v->backends[j].id == id)
			return &v->backends[j];
	return NULL;
}

static void out_backend(struct out *o, const struct cfg_vip *v, __u32 id,
			const struct xlb_backend *be)
{
	const struct cfg_backend *b = backend_by_id(v, id);
	char addr[BACKEND_STRLEN];

	if (b)
		backend_format(&b->addr, b->family, b->port, addr, sizeof(addr));
	else if (be)
		backend_format(&be->addr, be->family, ntohs(be->port), addr, sizeof(addr));
	else
		strcpy(addr, "?");
	out_str(o, "backend", "backend %s", addr);
	out_u64(o, "backend_id", NULL, id);
}

/* A NAT flow's state from its two entries' flags. */
static const char *nat_state(__u8 proto, const struct xlb_nat *e, const struct xlb_nat *p)
{
	__u32 flags = e->flags | (p ? p->flags : 0);

	if (proto != IPPROTO_TCP)
		return "udp";
	if (flags & XLB_NAT_RST)
		return "reset";
	if (p && e->flags & p->flags & XLB_NAT_FIN)
		return "closed";
	return flags & XLB_NAT_FIN ? "closing" : "established";
}

/* Seconds since either direction of the flow carried a packet. */
static __u64 nat_idle(struct daemon *d, const struct xlb_nat *e, const struct xlb_nat *p)
{
	__u32 now = dp_now(&d->dp);
	__s32 a = now - e->seen, b = p ? (__s32)(now - p->seen) : a;
	__s32 quiet = a < b ? a : b;

	return quiet > 0 ? quiet : 0;
}

/*
 * lookup of a nat VIP's flow that has NAT entries: they decide it while its backend holds.
 * 0 when answered (o's object closed), else -ENOENT: the ring decides.
 */
static int nat_lookup(struct daemon *d, const struct cfg_vip *v, const struct xlb_flow *flow,
		      struct out *o)
{
	char snat[BACKEND_STRLEN];
	struct xlb_flow partner;
	struct xlb_nat e, p;
	struct xlb_backend be;
	struct xlb_conn conn;
	const char *why;
	bool have_p;

	if (dp_nat_lookup(&d->dp, flow, &e))
		return -ENOENT;
	conn = (struct xlb_conn){ .backend_id = e.backend_id, .gen = e.gen };
	if (!conn_holds(d, v->id, &conn, &be, &why))
		return -ENOENT;
	xlb_nat_partner(&partner, &e, flow);
	have_p = !dp_nat_lookup(&d->dp, &partner, &p);
	backend_format(&e.src, flow->family, ntohs(e.sport), snat, sizeof(snat));
	out_backend(o, v, e.backend_id, &be);
	out_str(o, "reason", " (%s: the NAT table's entry", "nat");
	out_str(o, "snat", ", from %s", snat);
	out_str(o, "state", ", %s", nat_state(flow->proto, &e, have_p ? &p : NULL));
	out_u64(o, "idle_seconds", ", idle %llus)\n", nat_idle(d, &e, have_p ? &p : NULL));
	out_obj_close(o);
	return 0;
}

int inspect_lookup(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	const struct cfg_vip *v = config_vip(&d->cfg, &cmd->service);
	bool src_only, has_port = cmd->has & CMD_HAS_PORT;
	struct xlb_flow flow = {};
	char svc[SERVICE_STRLEN];
	struct xlb_backend be;
	struct xlb_conn conn;
	const char *why = NULL;
	__u32 size, slot, id;
	int err;

	service_format(&cmd->service, svc, sizeof(svc));
	if (!v) {
		out_error(o, "no VIP %s", svc);
		return 1;
	}
	src_only = v->opts.hash == CMD_HASH_SRC;
	if (!src_only && !has_port) {
		out_error(o, "VIP %s hashes the 5-tuple: give the client's port (ADDR:PORT)", svc);
		return 2;
	}
	if (!src_only && !v->key.port) {
		out_error(o, "VIP %s takes every port and hashes the 5-tuple: the backend depends "
			     "on the destination port, which lookup cannot tell", svc);
		return 1;
	}
	flow.src = cmd->client.addr;
	flow.dst = v->key.addr;
	flow.sport = htons(cmd->client.port);
	flow.dport = v->key.port;
	flow.proto = v->key.proto;
	flow.family = v->key.family;

	out_obj_open(o, NULL);
	out_str(o, "vip", "%s: ", svc);
	if (has_port && v->opts.method == XLB_METHOD_NAT && !nat_lookup(d, v, &flow, o))
		return 0;
	/* Without a port there is no 5-tuple to find in the table. */
	if (has_port && v->key.port && !dp_conn_lookup(&d->dp, &flow, &conn)) {
		if (conn_holds(d, v->id, &conn, &be, &why)) {
			out_backend(o, v, conn.backend_id, &be);
			/* Entries carry no timestamp: the established path reads no clock. */
			out_str(o, "reason", " (%s: the connection table's entry)\n", "conns");
			out_obj_close(o);
			return 0;
		}
	}
	size = dp_ring_size(&d->dp, v->id);
	if (!size) {
		out_obj_close(o);
		out_error(o, "VIP %s has no ring in the data plane", svc);
		return 1;
	}
	slot = xlb_flow_hash(&flow, src_only) % size;
	err = ring_slot(d, v, slot, &id);
	if (err) {
		out_obj_close(o);
		out_error(o, "cannot read the ring of %s: %s", svc, strerror(-err));
		return 1;
	}
	if (id == XLB_BACKEND_NONE)
		out_str(o, "backend", "%s", NULL);
	else
		out_backend(o, v, id, NULL);
	out_str(o, "reason", " (%s", "ring");
	out_u64(o, "slot", " slot %llu", slot);
	out_u64(o, "ring_slots", " of %llu", size);
	out_str(o, "hash", ", %s hash", src_only ? "src" : "5tuple");
	out_bool(o, "fail_open", sync_vip_fails_open(v) ? ", fail-open" : NULL,
		 sync_vip_fails_open(v));
	out_str(o, "stale_conn", why ? "; the table's entry is ignored: %s" : NULL, why);
	out_text(o, ")%s\n", id == XLB_BACKEND_NONE ? ": no backend, packets are dropped" : "");
	out_obj_close(o);
	return 0;
}

/* ---- conns ---- */

static bool walk_wants(const struct walk *w, const struct xlb_flow *f)
{
	const struct cmd *cmd = &w->cmd;

	if (cmd->has & CMD_HAS_SERVICE &&
	    (f->family != cmd->service.family || f->proto != cmd->service.proto ||
	     memcmp(&f->dst, &cmd->service.addr, sizeof(f->dst)) ||
	     (cmd->service.port && f->dport != cmd->service.port)))
		return false;
	return !(cmd->has & CMD_HAS_FROM) || prefix_has(&cmd->from, &f->src, f->family);
}

static void walk_row(struct walk *w, const struct xlb_flow *f, const struct xlb_conn *c)
{
	char src[ADDR_STRLEN + 8], dst[ADDR_STRLEN + 8], addr[ADDR_STRLEN] = "?";
	struct out *o = w->o;
	struct xlb_backend be;
	const char *why = NULL;

	endpoint_format(&f->src, f->family, f->sport, src, sizeof(src));
	endpoint_format(&f->dst, f->family, f->dport, dst, sizeof(dst));
	conn_holds(w->d, CFG_ID_NONE, c, &be, &why);
	if (be.family)
		addr_format(&be.addr, be.family, addr, sizeof(addr));
	out_obj_open(o, NULL);
	out_str(o, "proto", "%-3s", proto_name(f->proto));
	out_str(o, "src", " %-24s", src);
	out_str(o, "vip", " -> %-24s", dst);
	out_str(o, "backend", " backend %-16s", addr);
	out_u64(o, "backend_id", NULL, c->backend_id);
	/* The data plane ignores such an entry: the ring decides the flow's next packet. */
	out_str(o, "stale", why ? " (stale: %s)" : NULL, why);
	out_text(o, "\n");
	out_obj_close(o);
}

/* One row per NAT flow, from its to-backend entry (keyed like a conns entry: client -> VIP). */
static void walk_nat_row(struct walk *w, const struct xlb_flow *f, const struct xlb_nat *e)
{
	char src[BACKEND_STRLEN], dst[BACKEND_STRLEN], be_text[BACKEND_STRLEN], snat[BACKEND_STRLEN];
	struct xlb_conn conn = { .backend_id = e->backend_id, .gen = e->gen };
	struct out *o = w->o;
	struct xlb_flow partner;
	struct xlb_backend be;
	const char *why = NULL;
	struct xlb_nat p;
	bool have_p;

	xlb_nat_partner(&partner, e, f);
	have_p = !dp_nat_lookup(&w->d->dp, &partner, &p);
	endpoint_format(&f->src, f->family, f->sport, src, sizeof(src));
	endpoint_format(&f->dst, f->family, f->dport, dst, sizeof(dst));
	endpoint_format(&e->dst, f->family, e->dport, be_text, sizeof(be_text));
	endpoint_format(&e->src, f->family, e->sport, snat, sizeof(snat));
	conn_holds(w->d, e->vip_id, &conn, &be, &why);
	out_obj_open(o, NULL);
	out_str(o, "proto", "%-3s", proto_name(f->proto));
	out_str(o, "src", " %-24s", src);
	out_str(o, "vip", " -> %-24s", dst);
	out_str(o, "backend", " backend %-22s", be_text);
	out_u64(o, "backend_id", NULL, e->backend_id);
	out_str(o, "snat", " nat %-22s", snat);
	out_str(o, "state", " %-11s", nat_state(f->proto, e, have_p ? &p : NULL));
	out_u64(o, "idle_seconds", " idle %llus", nat_idle(w->d, e, have_p ? &p : NULL));
	/* The sweeper ends such a flow: its next packet is a new one. */
	out_str(o, "stale", why ? " (ending: %s)" : NULL, why);
	out_text(o, "\n");
	out_obj_close(o);
}

static void walk_free(struct daemon *d, struct walk *w)
{
	struct walk **p;

	for (p = &d->inspect->walks; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	out_free(w->o);
	free(w);
}

static void walk_gone(void *arg)
{
	struct walk *w = arg;

	pr_debug("conns: xlbctl left before the walk ended\n");
	walk_free(w->d, w);
}

static void walk_finish(struct walk *w, int err)
{
	struct out *o = w->o;
	int status = 0;

	out_arr_close(o);
	if (err) {
		out_error(o, "cannot read the connection table: %s", strerror(-err));
		status = 1;
	} else {
		out_u64(o, "entries", "%llu entries in the table", w->entries);
		out_u64(o, "nat_entries", ", %llu in the NAT table", w->nat_entries);
		out_u64(o, "matched", ", %llu matched", w->matched);
		out_u64(o, "shown", ", %llu shown", w->shown);
		out_text(o, "%s\n", w->shown < w->matched ? " (count N shows more)" : "");
	}
	server_finish(w->call, status, o);
	walk_free(w->d, w);
}

/* One slice of a walk; the walk is finished and freed when the table ends. */
static void walk_step(struct walk *w, __u64 until_us)
{
	__u32 count;
	int err;

	do {
		count = INSPECT_BATCH;
		if (w->nat)
			err = dp_nat_batch(&w->d->dp, w->resume, &w->token, w->keys, w->nat_vals,
					   &count);
		else
			err = dp_conn_batch(&w->d->dp, w->resume, &w->token, w->keys, w->vals,
					    &count);
		if (err && err != -ENOENT) {
			walk_finish(w, err);
			return;
		}
		w->resume = true;
		for (__u32 i = 0; i < count; i++) {
			if (w->nat)
				w->nat_entries++;
			else
				w->entries++;
			/* A NAT flow is shown once, from its client's side. */
			if ((w->nat && w->nat_vals[i].flags & XLB_NAT_TO_CLIENT) ||
			    !walk_wants(w, &w->keys[i]))
				continue;
			if (w->matched++ >= w->cmd.count)
				continue;
			w->shown++;
			if (w->nat)
				walk_nat_row(w, &w->keys[i], &w->nat_vals[i]);
			else
				walk_row(w, &w->keys[i], &w->vals[i]);
		}
		if (err && !w->nat) { /* -ENOENT: that was the last batch; the NAT table next */
			w->nat = true;
			w->resume = false;
		} else if (err) {
			walk_finish(w, 0);
			return;
		}
	} while (health_now_us() < until_us);
}

int inspect_conns(struct daemon *d, struct server_call *call, const struct cmd *cmd,
		  struct out *o)
{
	char svc[SERVICE_STRLEN];
	struct walk *w;

	if (cmd->has & CMD_HAS_SERVICE && !config_vip(&d->cfg, &cmd->service)) {
		service_format(&cmd->service, svc, sizeof(svc));
		out_error(o, "no VIP %s", svc);
		return 1;
	}
	if (!d->inspect)
		d->inspect = calloc(1, sizeof(*d->inspect));
	w = calloc(1, sizeof(*w));
	if (!d->inspect || !w || !(w->o = out_new(out_is_json(o)))) {
		free(w);
		out_error(o, "xlbd is out of memory");
		return 1;
	}
	w->d = d;
	w->cmd = *cmd;
	w->call = server_hold(call, walk_gone, w);
	if (!w->call) {
		out_free(w->o);
		free(w);
		out_error(o, "xlbd is out of memory");
		return 1;
	}
	out_arr_open(w->o, "conns");
	w->next = d->inspect->walks;
	d->inspect->walks = w;
	return SERVER_HELD;
}

void inspect_tick(struct daemon *d)
{
	struct walk *w, *next;
	__u64 start;

	if (!d->inspect || !d->inspect->walks)
		return;
	start = health_now_us();
	for (w = d->inspect->walks; w; w = next) {
		next = w->next;
		walk_step(w, start + INSPECT_SLICE_US);
	}
}

bool inspect_busy(const struct daemon *d)
{
	return d->inspect && d->inspect->walks;
}

void inspect_free(struct daemon *d)
{
	struct walk *w;

	if (!d->inspect)
		return;
	while ((w = d->inspect->walks)) {
		/* The server drops the client later: it must not call back into freed memory. */
		w->call->gone = NULL;
		d->inspect->walks = w->next;
		out_free(w->o);
		free(w);
	}
	free(d->inspect);
	d->inspect = NULL;
}
