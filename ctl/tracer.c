// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "cmd.h"
#include "daemon.h"
#include "health.h"
#include "log.h"
#include "output.h"
#include "prom.h"
#include "server.h"
#include "tracer.h"
#include "xlb_trace.h"
#include "xlb.skel.h"

struct tracer {
	struct daemon *d;
	struct server_call *call;
	struct ring_buffer *rb;
	bool json, pcap;
	bool draining;		/* at the start: what an earlier trace left is not ours */
	bool client_gone;	/* ended at the next tick: the ring buffer may be mid-read */
	__u32 count;		/* 0: no limit */
	__u64 end_ms;		/* 0: no timeout */
	__u64 wall_minus_mono_ns;
	__u64 status_ms;
	__u64 events, lost_client;
	struct xlb_trace_lost base;	/* the data plane's counters at the start */
};

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool tracer_running(const struct daemon *d)
{
	return d->tracer != NULL;
}

/* What the snapshot says about the packet: its flow, or ICMP type and code. */
struct pkt_info {
	struct xlb_addr src, dst;
	__u8 family, proto;
	__u16 sport, dport;	/* host order */
	int icmp_type, icmp_code;	/* -1 when not ICMP */
	bool fragment;
};

static void pkt_parse(const __u8 *p, __u32 len, struct pkt_info *pi)
{
	__u32 off = 14, l4 = 0;
	__u16 eth;

	memset(pi, 0, sizeof(*pi));
	pi->icmp_type = pi->icmp_code = -1;
	if (len < 14)
		return;
	eth = p[12] << 8 | p[13];
	if ((eth == 0x8100 || eth == 0x88a8) && len >= 18) {
		eth = p[16] << 8 | p[17];
		off = 18;
	}
	if (eth == 0x0800 && off + 20 <= len) {
		pi->family = XLB_AF_INET;
		pi->proto = p[off + 9];
		memcpy(&pi->src.v4, p + off + 12, 4);
		memcpy(&pi->dst.v4, p + off + 16, 4);
		pi->fragment = (p[off + 6] & 0x3f) || p[off + 7];
		if (!pi->fragment || !((p[off + 6] & 0x1f) || p[off + 7]))
			l4 = off + (p[off] & 0xf) * 4;
	} else if (eth == 0x86dd && off + 40 <= len) {
		pi->family = XLB_AF_INET6;
		pi->proto = p[off + 6];
		memcpy(&pi->src, p + off + 8, 16);
		memcpy(&pi->dst, p + off + 24, 16);
		pi->fragment = pi->proto == IPPROTO_FRAGMENT;
		l4 = off + 40;
	}
	if (!l4 || l4 + 4 > len)
		return;
	if (pi->proto == IPPROTO_TCP || pi->proto == IPPROTO_UDP) {
		pi->sport = p[l4] << 8 | p[l4 + 1];
		pi->dport = p[l4 + 2] << 8 | p[l4 + 3];
	} else if (pi->proto == IPPROTO_ICMP || pi->proto == IPPROTO_ICMPV6) {
		pi->icmp_type = p[l4];
		pi->icmp_code = p[l4 + 1];
	}
}

static const char *proto_name(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmp6";
	}
	return "ip";
}

static void endpoint(const struct xlb_addr *a, __u8 family, int port, char *buf, size_t len)
{
	char addr[ADDR_STRLEN] = "?";

	addr_format(a, family, addr, sizeof(addr));
	if (port < 0)
		snprintf(buf, len, "%s", addr);
	else
		snprintf(buf, len, family == XLB_AF_INET6 ? "[%s]:%d" : "%s:%d", addr, port);
}

static const struct cfg_vip *vip_by_id(struct daemon *d, __u32 id)
{
	for (size_t i = 0; i < d->cfg.n_vips; i++)
		if (d->cfg.vips[i].id == id)
			return &d->cfg.vips[i];
	return NULL;
}

/* How the backend was chosen, as far as the event and the maps tell. */
static const char *how_chosen(struct daemon *d, const struct xlb_trace_event *ev,
			      const struct pkt_info *pi)
{
	__u32 state = XLB_HEALTH_UP;

	if (!(ev->flags & XLB_TRACE_BACKEND))
		return NULL;
	if (ev->flags & XLB_TRACE_ICMP_STEERED)
		return "icmp_steered";
	dp_health_get(&d->dp, ev->backend_id, &state);
	if (state == XLB_HEALTH_DOWN_FAILOPEN)
		return "fail_open";
	if (ev->flags & XLB_TRACE_RING)
		return "ring";
	return "conns";
}

static void send_line(struct tracer *t, const char *line, size_t len)
{
	if (t->client_gone || server_stream_send(t->call, line, len))
		t->lost_client++;
}

static void hex_line(struct tracer *t, const char *dir, __u64 ns, __u32 len, const __u8 *p)
{
	char line[64 + 2 * XLB_TRACE_SNAP];
	__u32 cap = len < XLB_TRACE_SNAP ? len : XLB_TRACE_SNAP;
	int n;

	n = snprintf(line, sizeof(line), "%cP %s %llu %u ", TRACER_MARK, dir,
		     (unsigned long long)ns, len);
	for (__u32 i = 0; i < cap; i++)
		n += snprintf(line + n, sizeof(line) - n, "%02x", p[i]);
	line[n++] = '\n';
	send_line(t, line, n);
}

static void summary_line(struct tracer *t, char *buf, size_t len)
{
	struct xlb_trace_lost now = t->base;

	dp_trace_lost(&t->d->dp, &now);
	snprintf(buf, len, "%cS %llu %llu %llu %llu\n", TRACER_MARK, (unsigned long long)t->events,
		 (unsigned long long)(now.budget - t->base.budget),
		 (unsigned long long)(now.full - t->base.full), (unsigned long long)t->lost_client);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;
	const struct xlb_trace_event *ev = data;
	char src[ADDR_STRLEN + 8], dst[ADDR_STRLEN + 8], tstr[32], ifname[IF_NAMESIZE] = "?";
	char svc[SERVICE_STRLEN], be[ADDR_STRLEN], icmp[24];
	const struct cfg_vip *v = NULL;
	const char *outcome, *how;
	struct xlb_backend b;
	struct pkt_info pi;
	__u64 wall;
	time_t sec;
	struct tm tm;
	const char *data_out;
	size_t len;
	struct out *o;

	if (t->draining || t->client_gone || size < sizeof(*ev) ||
	    (t->count && t->events >= t->count))
		return 0;
	t->events++;
	pkt_parse(ev->rx, ev->rx_len < XLB_TRACE_SNAP ? ev->rx_len : XLB_TRACE_SNAP, &pi);
	wall = ev->ts_ns + t->wall_minus_mono_ns;
	sec = wall / 1000000000;
	localtime_r(&sec, &tm);
	len = strftime(tstr, sizeof(tstr), "%H:%M:%S", &tm);
	snprintf(tstr + len, sizeof(tstr) - len, ".%06llu",
		 (unsigned long long)(wall % 1000000000 / 1000));
	if_indextoname(ev->ifindex, ifname);
	endpoint(&pi.src, pi.family, pi.icmp_type < 0 && pi.proto != IPPROTO_FRAGMENT ? pi.sport : -1,
		 src, sizeof(src));
	endpoint(&pi.dst, pi.family, pi.icmp_type < 0 && pi.proto != IPPROTO_FRAGMENT ? pi.dport : -1,
		 dst, sizeof(dst));
	outcome = ev->outcome == XLB_TRACE_NO_OUTCOME ? NULL :
		  prom_outcome_name((size_t)ev->outcome * sizeof(__u64));
	if (ev->flags & XLB_TRACE_VIP)
		v = vip_by_id(t->d, ev->vip_id);
	if (v)
		service_format(&v->key, svc, sizeof(svc));
	be[0] = '\0';
	if (ev->flags & XLB_TRACE_BACKEND && !dp_backend_get(&t->d->dp, ev->backend_id, &b))
		addr_format(&b.addr, b.family, be, sizeof(be));
	how = how_chosen(t->d, ev, &pi);

	o = out_new(t->json);
	if (!o) {
		t->lost_client++;
		return 0;
	}
	out_obj_open(o, NULL);
	out_str(o, "time", "%s", tstr);
	out_u64(o, "ts_ns", NULL, wall);
	out_str(o, "ifname", " %s", ifname);
	out_str(o, "proto", " %s", proto_name(pi.proto));
	out_str(o, "src", " %s", src);
	out_str(o, "dst", " > %s", dst);
	if (pi.icmp_type >= 0) {
		snprintf(icmp, sizeof(icmp), "%d/%d", pi.icmp_type, pi.icmp_code);
		out_str(o, "icmp", " type %s", icmp);
	}
	out_str(o, "outcome", " %s", outcome ? outcome : "?");
	out_str(o, "vip", v ? " vip %s" : NULL, v ? svc : NULL);
	out_str(o, "backend", be[0] ? " backend %s" : NULL, be[0] ? be : NULL);
	out_str(o, "how", how ? " (%s)" : NULL, how);
	out_bool(o, "new_flow", ev->flags & XLB_TRACE_NEW_FLOW ? " new" : NULL,
		 ev->flags & XLB_TRACE_NEW_FLOW);
	out_bool(o, "ratelimited", ev->flags & XLB_TRACE_RATELIMITED ? " ratelimited" : NULL,
		 ev->flags & XLB_TRACE_RATELIMITED);
	out_bool(o, "icmp_echo", ev->flags & XLB_TRACE_ICMP_ECHO ? " echo-reply" : NULL,
		 ev->flags & XLB_TRACE_ICMP_ECHO);
	out_u64(o, "rx_bytes", NULL, ev->rx_len);
	out_u64(o, "tx_bytes", NULL, ev->tx_len);
	out_text(o, "\n");
	out_obj_close(o);
	data_out = out_data(o, &len);
	send_line(t, data_out, len);
	out_free(o);
	if (t->pcap) {
		hex_line(t, "rx", wall, ev->rx_len, ev->rx);
		if (ev->tx_len)
			hex_line(t, "tx", wall, ev->tx_len, ev->tx);
	}
	return 0;
}

/* Switch the data plane off and free; end the stream when the client is still there. */
static void tracer_end(struct daemon *d)
{
	struct tracer *t = d->tracer;
	char line[128];

	/* Back to the program without hooks: nothing more enters the ring. */
	dp_trace_end(&d->dp);
	/* What the ring still holds, then the final summary (a send may find xlbctl gone). */
	if (!t->client_gone)
		ring_buffer__consume(t->rb);
	if (!t->client_gone) {
		summary_line(t, line, sizeof(line));
		server_stream_end(t->call, line, strlen(line));
	}
	pr_info("trace: ended%s\n", t->client_gone ? " (xlbctl left)" : "");
	ring_buffer__free(t->rb);
	free(t);
	d->tracer = NULL;
}

/* From inside a send, maybe inside ring_buffer__consume(): only mark it. */
static void tracer_gone(void *arg)
{
	struct tracer *t = arg;

	t->call = NULL;
	t->client_gone = true;
}

void tracer_stop(struct daemon *d)
{
	if (d->tracer)
		tracer_end(d);
}

int tracer_start(struct daemon *d, struct server_call *call, const struct cmd *cmd,
		 struct out *o)
{
	struct xlb_trace_filter f = { .budget = TRACER_BUDGET };
	struct xlb *skel = d->dp.skel;
	__u32 zero = 0;
	char svc[SERVICE_STRLEN];
	struct tracer *t;
	__u64 t0;
	int err;

	if (d->tracer) {
		out_error(o, "a trace is already running: one at a time (end it first)");
		return 1;
	}
	if (cmd->has & CMD_HAS_SERVICE && !config_vip(&d->cfg, &cmd->service)) {
		service_format(&cmd->service, svc, sizeof(svc));
		out_error(o, "no VIP %s", svc);
		return 1;
	}
	if (cmd->has & CMD_HAS_SERVICE && cmd->has & CMD_HAS_FROM &&
	    cmd->from.family != cmd->service.family) {
		out_error(o, "from and SERVICE are of different families: nothing could match");
		return 2;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto err_nomem;
	t->d = d;
	t->json = out_is_json(o);
	t->pcap = cmd->has & CMD_HAS_FILE;
	t->count = cmd->count;
	t->status_ms = health_now_ms();
	if (cmd->timeout_ms)
		t->end_ms = health_now_ms() + cmd->timeout_ms;
	t->wall_minus_mono_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	dp_trace_lost(&d->dp, &t->base);
	t->rb = ring_buffer__new(bpf_map__fd(skel->maps.trace_events), on_event, t, NULL);
	if (!t->rb) {
		free(t);
		out_error(o, "cannot read the trace ring buffer: %s", strerror(errno));
		return 1;
	}
	t->draining = true;
	ring_buffer__consume(t->rb);
	t->draining = false;
	if (cmd->has & CMD_HAS_SERVICE) {
		f.has_dst = 1;
		f.dst = cmd->service.addr;
		f.family = cmd->service.family;
		f.proto = cmd->service.proto;
		f.dport = cmd->service.port;
	}
	if (cmd->has & CMD_HAS_FROM) {
		/* A /0 is every source of the family. */
		f.family = cmd->from.family;
		f.src = cmd->from.addr;
		f.src_len = cmd->from.len;
	}
	f.port = htons(cmd->port);
	/* The filter before the traced program: no packet sees a half-written one. */
	err = bpf_map__update_elem(skel->maps.trace_filter, &zero, sizeof(zero), &f, sizeof(f), 0) ?
	      -errno : 0;
	t0 = health_now_ms();
	if (!err)
		err = dp_trace_begin(&d->dp);
	if (err) {
		ring_buffer__free(t->rb);
		free(t);
		out_error(o, "cannot start tracing: %s", strerror(-err));
		return 1;
	}
	t->call = server_hold(call, tracer_gone, t);
	if (!t->call) {
		dp_trace_end(&d->dp);
		ring_buffer__free(t->rb);
		free(t);
		goto err_nomem;
	}
	d->tracer = t;
	server_stream_begin(t->call);
	pr_info("trace: started (traced program loaded and attached in %llu ms)\n",
		(unsigned long long)(health_now_ms() - t0));
	return SERVER_HELD;

err_nomem:
	out_error(o, "xlbd is out of memory");
	return 1;
}

void tracer_tick(struct daemon *d)
{
	struct tracer *t = d->tracer;
	char line[128];
	__u64 now;

	if (!t)
		return;
	ring_buffer__consume(t->rb);
	if (t->client_gone) {
		tracer_end(d);
		return;
	}
	now = health_now_ms();
	if ((t->count && t->events >= t->count) || (t->end_ms && now >= t->end_ms)) {
		tracer_end(d);
		return;
	}
	if (now - t->status_ms >= 1000) {
		t->status_ms = now;
		summary_line(t, line, sizeof(line));
		send_line(t, line, strlen(line));
	}
}
