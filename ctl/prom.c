// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The text format wants every sample of a metric right after its HELP and
 * TYPE lines, so the maps are read once into rows and the rows printed one
 * metric at a time.
 */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "daemon.h"
#include "health.h"
#include "log.h"
#include "natsweep.h"
#include "prom.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * vip="[ADDR]:PORT/PROTO",backend="ADDR" (a nat backend with a port: "ADDR:PORT" or
 * "[ADDR6]:PORT", one series each), each value escaped (at most doubled).
 */
#define LABELS_MAX (2 * SERVICE_STRLEN + 2 * BACKEND_STRLEN + 32)

struct vip_row {
	char labels[LABELS_MAX];
	struct xlb_vip_stats st;
	bool fail_open;
};

struct be_row {
	char labels[LABELS_MAX];
	const struct cfg_backend *b;
	struct xlb_backend_stats st;
	bool up;
	double share;			/* of the VIP's ring slots; < 0 when unknown */
	const struct hc_state *hc;	/* NULL when not checked */
};

struct snapshot {
	struct vip_row *vips;
	size_t n_vips;
	struct be_row *bes;
	size_t n_bes;
	struct xlb_outcomes oc;
};

/* Entries per lookup_batch call: about 0.3 ms of kernel time when the table is full. */
#define CONNS_BATCH 1024

struct prom {
	struct daemon *d;
	__u32 *counts;			/* ring slots per backend of one VIP (at most max_backends) */
	/* The connection-table count, a walk in batches spread over loop turns. */
	struct xlb_flow *keys;
	struct xlb_conn *vals;
	__u32 token;			/* where the walk goes on */
	bool walking;
	bool resume;			/* token is valid: not the walk's first batch */
	__u64 counted;			/* so far in this walk */
	__u64 walk_ms;			/* when the last walk started */
	__u64 conns;			/* the last complete walk's count */
	bool have_conns;
};

/* A counter of one stats struct, by offset: the tables below name them once. */
struct field {
	const char *name;
	const char *help;
	size_t off;
};

static const struct field vip_counters[] = {
	{ "xlb_vip_packets_total", "Packets to the VIP that were given a backend.",
	  offsetof(struct xlb_vip_stats, packets) },
	{ "xlb_vip_bytes_total", "Bytes of those packets as received, Ethernet header included.",
	  offsetof(struct xlb_vip_stats, bytes) },
	{ "xlb_vip_new_flows_total",
	  "Flows not in the connection table that the ring gave a backend.",
	  offsetof(struct xlb_vip_stats, new_flows) },
};

static const struct field backend_counters[] = {
	{ "xlb_backend_packets_total", "Packets forwarded to the backend.",
	  offsetof(struct xlb_backend_stats, packets) },
	{ "xlb_backend_bytes_total",
	  "Bytes of those packets as received, before encapsulation, Ethernet header included.",
	  offsetof(struct xlb_backend_stats, bytes) },
};

/* One field of struct xlb_outcomes, under the name `xlbctl stats` prints. */
struct outcome {
	const char *name;
	const char *verdict;
	size_t off;
};

#define OUTCOME(field, verdict) { #field, verdict, offsetof(struct xlb_outcomes, field) }

/* The partition: every packet the program saw is in exactly one of these. */
static const struct outcome outcomes[] = {
	OUTCOME(pass_not_ip, "pass"),	  OUTCOME(pass_not_vip, "pass"),
	OUTCOME(pass_truncated, "pass"),  OUTCOME(pass_no_neigh, "pass"),
	OUTCOME(pass_other, "pass"),	  OUTCOME(tx, "tx"),
	OUTCOME(redirect, "redirect"),	  OUTCOME(drop_malformed, "drop"),
	OUTCOME(drop_no_backend, "drop"), OUTCOME(drop_fragment, "drop"),
	OUTCOME(drop_no_route, "drop"),	  OUTCOME(drop_too_big, "drop"),
	OUTCOME(drop_no_tx_port, "drop"), OUTCOME(drop_ratelimit, "drop"),
	OUTCOME(drop_no_neigh, "drop"),	  OUTCOME(drop_internal, "drop"),
	OUTCOME(drop_nat_no_port, "drop"), OUTCOME(drop_nat_full, "drop"),
};

/* Also counted under tx or redirect: a metric of their own keeps sums honest. */
static const struct outcome icmp_outcomes[] = {
	OUTCOME(icmp_echo, NULL),
	OUTCOME(icmp_too_big, NULL),
	OUTCOME(icmp_too_big_sent, NULL),
	OUTCOME(icmp_nat, NULL),
};

/* Replies translated to clients, also tx or redirect: not ICMP, a metric of its own. */
static const struct outcome nat_replies = OUTCOME(nat_replies, NULL);

_Static_assert(ARRAY_SIZE(outcomes) + ARRAY_SIZE(icmp_outcomes) + 1 ==
		       sizeof(struct xlb_outcomes) / sizeof(__u64),
	       "a field of struct xlb_outcomes is not exported");

const char *prom_outcome_name(size_t off)
{
	for (size_t i = 0; i < ARRAY_SIZE(outcomes); i++)
		if (outcomes[i].off == off)
			return outcomes[i].name;
	for (size_t i = 0; i < ARRAY_SIZE(icmp_outcomes); i++)
		if (icmp_outcomes[i].off == off)
			return icmp_outcomes[i].name;
	return nat_replies.off == off ? nat_replies.name : NULL;
}

static __u64 at(const void *st, size_t off)
{
	return *(const __u64 *)((const char *)st + off);
}

/* Label values escape backslash, double quote and newline; interface names may hold them. */
static void escape(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src && n + 3 < size; src++) {
		if (*src == '\\' || *src == '"' || *src == '\n') {
			dst[n++] = '\\';
			dst[n++] = *src == '\n' ? 'n' : *src;
		} else {
			dst[n++] = *src;
		}
	}
	dst[n] = '\0';
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int prom_open(struct prom **pp, struct daemon *d)
{
	struct prom *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->d = d;
	p->counts = calloc(d->dp.max_backends, sizeof(*p->counts));
	p->keys = calloc(CONNS_BATCH, sizeof(*p->keys));
	p->vals = calloc(CONNS_BATCH, sizeof(*p->vals));
	if (!p->counts || !p->keys || !p->vals) {
		prom_close(p);
		return -ENOMEM;
	}
	*pp = p;
	return 0;
}

void prom_close(struct prom *p)
{
	if (!p)
		return;
	free(p->counts);
	free(p->keys);
	free(p->vals);
	free(p);
}

/*
 * The kernel keeps no count of a hash map's entries that a syscall reads, so
 * the count is a walk with lookup_batch, continued from the last bucket on
 * the next turn once the budget is spent. Entries come and go meanwhile:
 * the result is as good as a gauge needs.
 */
void prom_tick(struct prom *p)
{
	__u64 start = health_now_us();
	int err;
	__u32 count;

	if (!p->walking) {
		/* Also after a failed walk: no retry on every turn. */
		if (p->walk_ms && start / 1000 - p->walk_ms < PROM_CONNS_EVERY_MS)
			return;
		p->walking = true;
		p->resume = false;
		p->counted = 0;
		p->walk_ms = start / 1000;
	}
	do {
		count = CONNS_BATCH;
		err = dp_conn_batch(&p->d->dp, p->resume, &p->token, p->keys, p->vals, &count);
		if (err && err != -ENOENT) {
			/* Tried again at the next period; meanwhile the old count stands. */
			pr_debug("metrics: cannot count connections: %s\n", strerror(-err));
			p->walking = false;
			return;
		}
		p->resume = true;
		p->counted += count;	/* -ENOENT: the last batch, count still says how many */
		if (err) {
			p->conns = p->counted;
			p->have_conns = true;
			p->walking = false;
			return;
		}
	} while (health_now_us() - start < PROM_TICK_BUDGET_US);
}

/* Ring slots per backend of one VIP, as shares (< 0: the ring cannot be read). */
static void ring_shares(struct daemon *d, __u32 *counts, const struct cfg_vip *v,
			struct be_row *rows)
{
	bool ok = !sync_ring_read(&d->sync, v, counts, NULL);

	for (size_t j = 0; j < v->n_backends; j++)
		rows[j].share = ok ? (double)counts[j] / v->opts.ring : -1;
}

static int snapshot_take(struct prom *p, struct snapshot *s)
{
	struct daemon *d = p->d;
	char svc[SERVICE_STRLEN], addr[BACKEND_STRLEN], esvc[2 * SERVICE_STRLEN],
		eaddr[2 * BACKEND_STRLEN];
	size_t n_bes = 0, k = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < d->cfg.n_vips; i++)
		n_bes += d->cfg.vips[i].n_backends;
	s->vips = calloc(d->cfg.n_vips ? d->cfg.n_vips : 1, sizeof(*s->vips));
	s->bes = calloc(n_bes ? n_bes : 1, sizeof(*s->bes));
	if (!s->vips || !s->bes)
		return -ENOMEM;
	s->n_vips = d->cfg.n_vips;
	s->n_bes = n_bes;

	dp_outcomes(&d->dp, &s->oc);
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];
		struct vip_row *vr = &s->vips[i];

		service_format(&v->key, svc, sizeof(svc));
		escape(esvc, sizeof(esvc), svc);
		snprintf(vr->labels, sizeof(vr->labels), "vip=\"%s\"", esvc);
		if (v->id != CFG_ID_NONE)
			dp_vip_stats(&d->dp, v->id, &vr->st);
		vr->fail_open = sync_vip_fails_open(v);
		ring_shares(d, p->counts, v, &s->bes[k]);

		for (size_t j = 0; j < v->n_backends; j++, k++) {
			const struct cfg_backend *b = &v->backends[j];
			struct be_row *br = &s->bes[k];
			__u32 state = XLB_HEALTH_DOWN;

			backend_format(&b->addr, b->family, b->port, addr, sizeof(addr));
			escape(eaddr, sizeof(eaddr), addr);
			snprintf(br->labels, sizeof(br->labels), "vip=\"%s\",backend=\"%s\"", esvc,
				 eaddr);
			br->b = b;
			if (b->id == XLB_BACKEND_NONE)
				continue;	/* not in the data plane: no traffic, not up */
			dp_backend_stats(&d->dp, b->id, &br->st);
			/* What the data plane acts on: DOWN_FAILOPEN is down too. */
			dp_health_get(&d->dp, b->id, &state);
			br->up = state == XLB_HEALTH_UP;
			if (v->health.type != CMD_HEALTH_OFF)
				br->hc = health_state(d->prober, b->id);
		}
	}
	return 0;
}

static void snapshot_free(struct snapshot *s)
{
	free(s->vips);
	free(s->bes);
}

static void print_daemon(struct daemon *d, FILE *f)
{
	struct timespec mono, real;
	char name[2 * CMD_IFNAME_MAX + 2];
	double up;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	up = (mono.tv_sec - d->started.tv_sec) + (mono.tv_nsec - d->started.tv_nsec) / 1e9;

	family(f, "xlb_info", "gauge", "Always 1; the labels describe xlbd.");
	fprintf(f, "xlb_info{version=\"%s\"} 1\n", XLB_VERSION);
	family(f, "xlb_start_time_seconds", "gauge", "When xlbd started, in seconds since the epoch.");
	fprintf(f, "xlb_start_time_seconds %.3f\n", real.tv_sec + real.tv_nsec / 1e9 - up);
	family(f, "xlb_uptime_seconds", "gauge", "Seconds since xlbd started.");
	fprintf(f, "xlb_uptime_seconds %.3f\n", up);

	family(f, "xlb_interface_attached", "gauge",
	       "1 when the balancer runs on the configured interface, in the XDP mode the label "
	       "says; 0 when the interface is missing or runs another program.");
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		const struct cfg_iface *ifc = &d->cfg.ifaces[i];
		struct dp_iface_info info;
		bool ok = !dp_iface_info(&d->dp, ifc->name, &info);
		bool generic = ok ? info.mode == DP_MODE_GENERIC : ifc->mode == CMD_MODE_GENERIC;

		escape(name, sizeof(name), ifc->name);
		fprintf(f, "xlb_interface_attached{interface=\"%s\",mode=\"%s\"} %d\n", name,
			generic ? "generic" : "native", ok && info.attached);
	}
}

/* The NAT table as the sweeper counts it while it walks, once a second. */
static void print_nat(const struct prom *p, FILE *f)
{
	struct natsweep_report r;

	natsweep_report(p->d, &r);
	if (r.counted) {
		family(f, "xlb_nat_entries", "gauge",
		       "NAT translation entries, two per flow, counted by the sweeper every second.");
		fprintf(f, "xlb_nat_entries %llu\n", (unsigned long long)r.entries);
	}
	family(f, "xlb_nat_max_entries", "gauge", "Size of the NAT table (xlbd -T).");
	fprintf(f, "xlb_nat_max_entries %u\n", dp_nat_max(&p->d->dp));
	family(f, "xlb_nat_flows_ended_total", "counter",
	       "NAT flows the sweeper ended since xlbd started, by reason: closed (FIN both ways "
	       "or RST, then fin-timeout), idle (tcp-timeout, udp-timeout), vip_deleted, "
	       "backend_gone (deleted or down), orphan (an entry without its partner).");
	fprintf(f, "xlb_nat_flows_ended_total{reason=\"closed\"} %llu\n",
		(unsigned long long)r.ended.closed);
	fprintf(f, "xlb_nat_flows_ended_total{reason=\"idle\"} %llu\n",
		(unsigned long long)r.ended.idle);
	fprintf(f, "xlb_nat_flows_ended_total{reason=\"vip_deleted\"} %llu\n",
		(unsigned long long)r.ended.vip);
	fprintf(f, "xlb_nat_flows_ended_total{reason=\"backend_gone\"} %llu\n",
		(unsigned long long)r.ended.backend);
	fprintf(f, "xlb_nat_flows_ended_total{reason=\"orphan\"} %llu\n",
		(unsigned long long)r.ended.orphan);
}

static void print_dataplane(const struct prom *p, const struct snapshot *s, FILE *f)
{
	family(f, "xlb_packets_total", "counter",
	       "Packets the XDP program saw, by what became of them: the verdict, and the "
	       "outcome as xlbctl stats names it.");
	for (size_t i = 0; i < ARRAY_SIZE(outcomes); i++)
		fprintf(f, "xlb_packets_total{outcome=\"%s\",verdict=\"%s\"} %llu\n",
			outcomes[i].name, outcomes[i].verdict, at(&s->oc, outcomes[i].off));
	family(f, "xlb_icmp_packets_total", "counter",
	       "ICMP packets handled: echo requests answered, too-big errors steered to the "
	       "backend of their flow or sent to clients, errors about a NAT flow translated "
	       "(also counted in xlb_packets_total as tx or redirect).");
	for (size_t i = 0; i < ARRAY_SIZE(icmp_outcomes); i++)
		fprintf(f, "xlb_icmp_packets_total{outcome=\"%s\"} %llu\n", icmp_outcomes[i].name,
			at(&s->oc, icmp_outcomes[i].off));
	family(f, "xlb_nat_replies_total", "counter",
	       "Backend replies of NAT flows translated and sent to their clients (also counted "
	       "in xlb_packets_total as tx or redirect).");
	fprintf(f, "xlb_nat_replies_total %llu\n", at(&s->oc, nat_replies.off));

	/* Absent until the first count is complete, rather than a false 0. */
	if (p->have_conns) {
		family(f, "xlb_conn_table_entries", "gauge",
		       "Flows in the connection table, counted every few seconds.");
		fprintf(f, "xlb_conn_table_entries %llu\n", p->conns);
	}
	family(f, "xlb_conn_table_max_entries", "gauge",
	       "Size of the connection table. Each CPU evicts from its own share of it, "
	       "max_entries / CPUs, so the table may stop growing before it is full.");
	fprintf(f, "xlb_conn_table_max_entries %u\n",
		dp_conn_max(&p->d->dp));
	print_nat(p, f);
}

/*
 * Each field a counter family, with a sample per row. Rows are `size` bytes
 * apart: labels points into the first row's labels, stats to its stats.
 */
static void print_fields(FILE *f, const struct field *fields, size_t n_fields, const char *labels,
			 const void *stats, size_t n_rows, size_t size)
{
	for (size_t m = 0; m < n_fields; m++) {
		family(f, fields[m].name, "counter", fields[m].help);
		for (size_t i = 0; i < n_rows; i++)
			fprintf(f, "%s{%s} %llu\n", fields[m].name, labels + i * size,
				at((const char *)stats + i * size, fields[m].off));
	}
}

static void print_vips(const struct snapshot *s, FILE *f)
{
	print_fields(f, vip_counters, ARRAY_SIZE(vip_counters), s->vips->labels, &s->vips->st,
		     s->n_vips, sizeof(*s->vips));
	family(f, "xlb_vip_dropped_packets_total", "counter",
	       "Packets to the VIP that were dropped: over a source's rate limit, or for any "
	       "other reason (no backend, no route, too big...).");
	for (size_t i = 0; i < s->n_vips; i++) {
		const struct xlb_vip_stats *st = &s->vips[i].st;

		fprintf(f, "xlb_vip_dropped_packets_total{%s,reason=\"ratelimit\"} %llu\n",
			s->vips[i].labels, st->ratelimited);
		/* Both move together on each CPU; a torn read must not go negative. */
		fprintf(f, "xlb_vip_dropped_packets_total{%s,reason=\"other\"} %llu\n",
			s->vips[i].labels,
			st->drops > st->ratelimited ? st->drops - st->ratelimited : 0);
	}
	family(f, "xlb_vip_fail_open", "gauge",
	       "1 when every backend of the VIP is down and it forwards over all of them.");
	for (size_t i = 0; i < s->n_vips; i++)
		fprintf(f, "xlb_vip_fail_open{%s} %d\n", s->vips[i].labels, s->vips[i].fail_open);
}

static void print_backends(const struct snapshot *s, FILE *f)
{
	print_fields(f, backend_counters, ARRAY_SIZE(backend_counters), s->bes->labels,
		     &s->bes->st, s->n_bes, sizeof(*s->bes));
	family(f, "xlb_backend_up", "gauge",
	       "1 when the data plane treats the backend as up; 0 when health checks say down, "
	       "also while its VIP fails open.");
	for (size_t i = 0; i < s->n_bes; i++)
		fprintf(f, "xlb_backend_up{%s} %d\n", s->bes[i].labels, s->bes[i].up);
	family(f, "xlb_backend_weight", "gauge", "Configured weight; 0 drains the backend.");
	for (size_t i = 0; i < s->n_bes; i++)
		fprintf(f, "xlb_backend_weight{%s} %u\n", s->bes[i].labels, s->bes[i].b->weight);
	family(f, "xlb_backend_ring_share", "gauge",
	       "Fraction of the VIP's Maglev ring slots the backend owns: the share of new "
	       "flows it gets.");
	for (size_t i = 0; i < s->n_bes; i++)
		if (s->bes[i].share >= 0)
			fprintf(f, "xlb_backend_ring_share{%s} %.6f\n", s->bes[i].labels,
				s->bes[i].share);
}

static void print_health(const struct snapshot *s, FILE *f)
{
	family(f, "xlb_backend_health_checks_total", "counter",
	       "Health-check probes of the backend by result, since it was first checked.");
	for (size_t i = 0; i < s->n_bes; i++) {
		if (!s->bes[i].hc)
			continue;
		fprintf(f, "xlb_backend_health_checks_total{%s,result=\"ok\"} %llu\n",
			s->bes[i].labels, s->bes[i].hc->ok_total);
		fprintf(f, "xlb_backend_health_checks_total{%s,result=\"failed\"} %llu\n",
			s->bes[i].labels, s->bes[i].hc->fail_total);
	}
	family(f, "xlb_backend_health_check_duration_seconds", "summary",
	       "Time health-check probes took, to a result or to the timeout.");
	for (size_t i = 0; i < s->n_bes; i++) {
		const struct hc_state *hc = s->bes[i].hc;

		if (!hc)
			continue;
		fprintf(f, "xlb_backend_health_check_duration_seconds_sum{%s} %.6f\n",
			s->bes[i].labels, hc->sum_us / 1e6);
		fprintf(f, "xlb_backend_health_check_duration_seconds_count{%s} %llu\n",
			s->bes[i].labels, hc->ok_total + hc->fail_total);
	}
	family(f, "xlb_backend_health_check_last_duration_seconds", "gauge",
	       "Time the last health-check probe took.");
	for (size_t i = 0; i < s->n_bes; i++)
		if (s->bes[i].hc && s->bes[i].hc->probed)
			fprintf(f, "xlb_backend_health_check_last_duration_seconds{%s} %.6f\n",
				s->bes[i].labels, s->bes[i].hc->last_us / 1e6);
}

int prom_render(struct prom *p, char **text, size_t *len)
{
	struct snapshot s;
	FILE *f;
	int err;

	*text = NULL;
	err = snapshot_take(p, &s);
	if (err)
		goto out;
	f = open_memstream(text, len);
	if (!f) {
		err = -ENOMEM;
		goto out;
	}
	print_daemon(p->d, f);
	print_dataplane(p, &s, f);
	print_vips(&s, f);
	print_backends(&s, f);
	print_health(&s, f);
	if (ferror(f))
		err = -ENOMEM;
	if (fclose(f))
		err = -ENOMEM;
	if (err) {
		free(*text);
		*text = NULL;
	}
out:
	snapshot_free(&s);
	return err;
}
