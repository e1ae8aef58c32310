// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include "health.h"
#include "log.h"

/* The scheduler's resolution: probes start and time out to within a tick. */
#define HC_TICK_MS	10
#define HC_TIMER_KEY	UINT64_MAX
/* Enough for any status line; the rest of a response is not read. */
#define HC_RESP_MAX	256

enum hc_phase {
	HC_IDLE,
	HC_CONNECTING,
	HC_READING,	/* http: request sent, waiting for the status line */
};

struct hc_entry {
	bool active;
	struct hc_target t;
	struct hc_state st;
	__u64 next_ms;
	__u64 deadline_ms;
	__u64 started_us;
	enum hc_phase phase;
	bool side;		/* the direct probe after a VIP-path failure */
	int fd;
	size_t len;
	char resp[HC_RESP_MAX];
};

struct prober {
	int ep;
	int tfd;
	__u32 max;
	struct hc_entry *e;	/* by backend id */
	__u32 *ids;		/* active ids, for the scheduler's scan */
	size_t n_ids;
	hc_change_fn fn;
	void *ctx;
};

__u64 health_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__u64 health_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void hc_init(struct hc_state *s, bool up, __u64 now_ms)
{
	memset(s, 0, sizeof(*s));
	s->up = up;
	s->changed_ms = now_ms;
}

bool hc_feed(struct hc_state *s, bool ok, const char *error, __u32 rise, __u32 fall,
	     __u64 now_ms)
{
	s->probed = true;
	s->last_ok = ok;
	if (ok) {
		s->ok_total++;
		s->ok_run++;
		s->fail_run = 0;
	} else {
		s->fail_total++;
		s->fail_run++;
		s->ok_run = 0;
		snprintf(s->last_error, sizeof(s->last_error), "%s", error ? error : "failed");
	}
	if (s->up && s->fail_run >= fall) {
		s->up = false;
		s->changed_ms = now_ms;
		return true;
	}
	if (!s->up && s->ok_run >= rise) {
		s->up = true;
		s->changed_ms = now_ms;
		return true;
	}
	return false;
}

int health_open(struct prober **pp, __u32 max_backends, hc_change_fn fn, void *ctx)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = HC_TICK_MS * 1000000L },
		.it_value = { .tv_nsec = HC_TICK_MS * 1000000L },
	};
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = HC_TIMER_KEY };
	struct prober *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->max = max_backends;
	p->fn = fn;
	p->ctx = ctx;
	p->e = calloc(max_backends, sizeof(*p->e));
	p->ids = calloc(max_backends, sizeof(*p->ids));
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!p->e || !p->ids || p->ep < 0 || p->tfd < 0) {
		err = -ENOMEM;
		goto err;
	}
	for (__u32 i = 0; i < max_backends; i++)
		p->e[i].fd = -1;
	if (timerfd_settime(p->tfd, 0, &its, NULL) || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->tfd, &ev)) {
		err = -errno;
		goto err;
	}
	*pp = p;
	return 0;
err:
	health_close(p);
	return err;
}

static void probe_stop(struct prober *p, struct hc_entry *e)
{
	/* Before close(), as in server.c: a child may hold a copy of the fd. */
	if (e->fd >= 0) {
		epoll_ctl(p->ep, EPOLL_CTL_DEL, e->fd, NULL);
		close(e->fd);
	}
	e->fd = -1;
	e->phase = HC_IDLE;
	e->side = false;
	e->len = 0;
}

void health_close(struct prober *p)
{
	if (!p)
		return;
	for (__u32 i = 0; p->e && i < p->max; i++)
		probe_stop(p, &p->e[i]);
	if (p->tfd >= 0)
		close(p->tfd);
	if (p->ep >= 0)
		close(p->ep);
	free(p->e);
	free(p->ids);
	free(p);
}

int health_fd(const struct prober *p)
{
	return p->ep;
}

const struct hc_state *health_state(const struct prober *p, __u32 id)
{
	return id < p->max && p->e[id].active ? &p->e[id].st : NULL;
}

/* addr:port of the backend, or (at) of the address the probe connects to. */
static void describe_at(const struct hc_entry *e, const struct xlb_addr *at, char *buf,
			size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(e->t.family == XLB_AF_INET ? AF_INET : AF_INET6, at, a, sizeof(a));
	snprintf(buf, len, e->t.family == XLB_AF_INET ? "%s:%u" : "[%s]:%u", a, e->t.port);
}

static void describe(const struct hc_entry *e, char *buf, size_t len)
{
	describe_at(e, &e->t.addr, buf, len);
}

static void probe_start(struct prober *p, struct hc_entry *e, __u64 now, bool direct);

/* A probe ended: feed the state machine, tell the daemon if it changed. */
static void probe_done(struct prober *p, struct hc_entry *e, bool ok, const char *error)
{
	bool via_vip = e->t.check.via == CMD_VIA_VIP;
	__u32 id = e - p->e;
	char where[64];
	bool changed;

	if (e->side) {
		/* Only a diagnosis: it never counts towards rise or fall. */
		probe_stop(p, e);
		e->st.direct = ok ? HC_DIRECT_OK : HC_DIRECT_FAILS;
		return;
	}
	probe_stop(p, e);
	e->st.last_us = health_now_us() - e->started_us;
	e->st.sum_us += e->st.last_us;
	changed = hc_feed(&e->st, ok, error, e->t.check.rise, e->t.check.fall, health_now_ms());
	if (via_vip && ok)
		e->st.direct = HC_DIRECT_UNKNOWN;
	else if (via_vip)
		probe_start(p, e, health_now_ms(), true);
	if (!changed)
		return;
	describe(e, where, sizeof(where));
	if (e->st.up)
		pr_warn("health: backend %s is up (%u checks%s passed)\n", where, e->st.ok_run,
			via_vip ? " via the VIP" : "");
	else
		pr_warn("health: backend %s is down: %s (%u checks%s failed)\n", where,
			e->st.last_error, e->st.fail_run, via_vip ? " via the VIP" : "");
	p->fn(p->ctx, id, e->st.up);
}

static const char *errno_text(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	case ETIMEDOUT:
		return "timeout";
	case ECONNRESET:
		return "connection reset";
	default:
		return strerror(err);
	}
}

static void probe_connected(struct prober *p, struct hc_entry *e)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = e - p->e };
	char req[CMD_HTTP_PATH_MAX + 128], host[64];
	int n;

	if (e->t.check.type == CMD_HEALTH_TCP) {
		probe_done(p, e, true, NULL);
		return;
	}
	/* The Host a client would send: the VIP's, through the VIP path. */
	describe_at(e, e->t.check.via == CMD_VIA_VIP && !e->side ? &e->t.vip : &e->t.addr, host,
		    sizeof(host));
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: xlb-health\r\n"
		     "Connection: close\r\n\r\n",
		     e->t.check.path, host);
	/* A fresh socket's buffer takes a few hundred bytes at once. */
	if (send(e->fd, req, n, MSG_NOSIGNAL) != n) {
		probe_done(p, e, false, "cannot send the request");
		return;
	}
	e->phase = HC_READING;
	epoll_ctl(p->ep, EPOLL_CTL_MOD, e->fd, &ev);
}

static void probe_read(struct prober *p, struct hc_entry *e)
{
	char error[HC_ERROR_MAX];
	ssize_t n;
	int code;

	n = recv(e->fd, e->resp + e->len, sizeof(e->resp) - 1 - e->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		probe_done(p, e, false, errno_text(errno));
		return;
	}
	e->len += n;
	e->resp[e->len] = '\0';
	if (n > 0 && !strstr(e->resp, "\r\n") && e->len < sizeof(e->resp) - 1)
		return;
	if (sscanf(e->resp, "HTTP/%*d.%*d %3d", &code) != 1) {
		probe_done(p, e, false, n ? "bad HTTP response" : "connection closed");
		return;
	}
	if ((__u32)code == e->t.check.status) {
		probe_done(p, e, true, NULL);
		return;
	}
	snprintf(error, sizeof(error), "HTTP %d", code);
	probe_done(p, e, false, error);
}

/*
 * Through the VIP path: to the VIP, from the probe path's source, with the
 * mark that names the backend to bpf/probe.bpf.c.
 */
static const char *via_vip_setup(struct hc_entry *e, int fd, struct sockaddr *src,
				 socklen_t srclen)
{
	int one = 1;

	if (!e->t.has_src)
		return "no probe path: attach an interface with an address of the VIP's family";
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &e->t.mark, sizeof(e->t.mark)))
		return errno_text(errno);
	/* The port is chosen at connect(): thousands of probes do not exhaust bind()'s. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, src, srclen))
		return errno_text(errno);
	return NULL;
}

static void probe_start(struct prober *p, struct hc_entry *e, __u64 now, bool direct)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = e - p->e };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(e->t.port) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(e->t.port) };
	struct sockaddr_in6 src6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in src4 = { .sin_family = AF_INET };
	bool via_vip = !direct && e->t.check.via == CMD_VIA_VIP;
	const struct xlb_addr *dst = via_vip ? &e->t.vip : &e->t.addr;
	struct sockaddr *sa = (struct sockaddr *)&sin, *src = (struct sockaddr *)&src4;
	socklen_t salen = sizeof(sin);
	const char *why;
	int fam = AF_INET;

	if (!direct)
		e->started_us = health_now_us();
	if (e->t.family == XLB_AF_INET6) {
		memcpy(&sin6.sin6_addr, dst, sizeof(sin6.sin6_addr));
		memcpy(&src6.sin6_addr, &e->t.src, sizeof(src6.sin6_addr));
		sa = (struct sockaddr *)&sin6;
		src = (struct sockaddr *)&src6;
		salen = sizeof(sin6);
		fam = AF_INET6;
	} else {
		sin.sin_addr.s_addr = dst->v4;
		src4.sin_addr.s_addr = e->t.src.v4;
	}
	e->deadline_ms = now + e->t.check.timeout_ms;
	e->side = direct;
	e->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (e->fd < 0) {
		probe_done(p, e, false, errno_text(errno));
		return;
	}
	e->phase = HC_CONNECTING;
	why = via_vip ? via_vip_setup(e, e->fd, src, salen) : NULL;
	if (why) {
		probe_done(p, e, false, why);
		return;
	}
	if (!connect(e->fd, sa, salen)) {
		probe_connected(p, e);
		return;
	}
	if (errno != EINPROGRESS) {
		probe_done(p, e, false, errno_text(errno));
		return;
	}
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, e->fd, &ev))
		probe_done(p, e, false, errno_text(errno));
}

static void probe_event(struct prober *p, struct hc_entry *e)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (e->phase == HC_READING) {
		probe_read(p, e);
		return;
	}
	if (e->phase != HC_CONNECTING)
		return;
	if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		probe_done(p, e, false, errno_text(err ? err : errno));
		return;
	}
	probe_connected(p, e);
}

/* Start what is due, time out what is late. */
static void tick(struct prober *p)
{
	__u64 now = health_now_ms();

	for (size_t i = 0; i < p->n_ids; i++) {
		struct hc_entry *e = &p->e[p->ids[i]];

		if (e->side && now >= e->next_ms)
			probe_stop(p, e);	/* the diagnosis never delays a check */
		if (e->phase != HC_IDLE) {
			if (now >= e->deadline_ms)
				probe_done(p, e, false, "timeout");
			continue;
		}
		if (now < e->next_ms)
			continue;
		/* A fixed rate, not catching up after a stall: no burst follows one. */
		e->next_ms += e->t.check.interval_ms;
		if (e->next_ms <= now)
			e->next_ms = now + e->t.check.interval_ms;
		probe_start(p, e, now, false);
	}
}

int health_dispatch(struct prober *p)
{
	struct epoll_event events[64];
	__u64 expirations;
	int n;

	n = epoll_wait(p->ep, events, 64, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (events[i].data.u64 == HC_TIMER_KEY) {
			if (read(p->tfd, &expirations, sizeof(expirations)) > 0)
				tick(p);
			continue;
		}
		if (events[i].data.u64 < p->max && p->e[events[i].data.u64].fd >= 0)
			probe_event(p, &p->e[events[i].data.u64]);
	}
	return 0;
}

/* Spread first probes over the interval by id, so thousands never start together. */
static __u64 first_due(__u32 id, __u32 interval_ms, __u64 now)
{
	__u32 h = id * 2654435761U;	/* Knuth's multiplicative hash */

	return now + h % (interval_ms ? interval_ms : 1);
}

int health_set_targets(struct prober *p, const struct hc_target *t, size_t n)
{
	__u64 now = health_now_ms();
	bool *keep = calloc(p->max, sizeof(*keep));

	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct hc_entry *e;

		if (t[i].id >= p->max)
			continue;
		e = &p->e[t[i].id];
		keep[t[i].id] = true;
		if (e->active && e->t.family == t[i].family &&
		    !memcmp(&e->t.addr, &t[i].addr, sizeof(e->t.addr))) {
			bool resched = e->t.check.interval_ms != t[i].check.interval_ms;

			e->t = t[i];
			if (resched)
				e->next_ms = first_due(t[i].id, t[i].check.interval_ms, now);
			continue;
		}
		probe_stop(p, e);
		e->active = true;
		e->t = t[i];
		hc_init(&e->st, t[i].initially_up, now);
		e->next_ms = first_due(t[i].id, t[i].check.interval_ms, now);
	}
	p->n_ids = 0;
	for (__u32 id = 0; id < p->max; id++) {
		if (p->e[id].active && !keep[id]) {
			probe_stop(p, &p->e[id]);
			p->e[id].active = false;
		}
		if (p->e[id].active)
			p->ids[p->n_ids++] = id;
	}
	free(keep);
	return 0;
}
