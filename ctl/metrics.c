// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "log.h"
#include "metrics.h"

#define METRICS_BACKLOG		64
#define METRICS_BATCH		16	/* events per epoll_wait, accepts and reads per round */
#define METRICS_TICK_S		1	/* how late a deadline may be noticed */

/* The exposition format Prometheus asks for first and every version reads. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* Written without a look at the request, to a client there is no room for. */
static const char busy_reply[] = "HTTP/1.1 503 Service Unavailable\r\n"
				 "Content-Length: 0\r\nConnection: close\r\n\r\n";

enum mc_phase {
	MC_REQUEST,	/* reading the request line and headers */
	MC_REPLY,	/* writing the reply */
	MC_LINGER,	/* reply out and our side shut: waiting for the client to close */
};

struct mclient {
	struct mclient *prev;
	struct mclient *next;
	int fd;
	enum mc_phase phase;
	uint64_t idle_at;	/* CLOCK_MONOTONIC ms: dropped then unless it makes progress */
	uint64_t deadline;	/* dropped then whatever it does */
	char *reply;
	size_t reply_len;
	size_t sent;
	size_t len;
	char req[METRICS_REQUEST_MAX];
};

struct metrics {
	int ep;
	int lfd;
	int tfd;
	bool paused;		/* accept() ran out of fds or memory: listener off until a tick */
	metrics_render_fn fn;
	void *ctx;
	struct mclient *clients;	/* newest first */
	unsigned int n;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		       size_t errlen)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *h = s, *sep;
	unsigned long port;
	bool v6 = s[0] == '[';
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		h = s + 1;
		sep = strchr(h, ']');
		if (!sep || sep[1] != ':') {
			snprintf(err, errlen, "expected [IPV6]:PORT, as [::1]:9100");
			return -EINVAL;
		}
		sep++;
	} else {
		sep = strrchr(s, ':');
		if (!sep) {
			snprintf(err, errlen, "no port: expected ADDR:PORT, as 127.0.0.1:9100");
			return -EINVAL;
		}
		if (memchr(s, ':', sep - s)) {
			snprintf(err, errlen, "an IPv6 address goes in brackets, as [::1]:9100");
			return -EINVAL;
		}
	}
	/* ":9100" would be every address: that has to be asked for by name. */
	if (sep - h - v6 == 0) {
		snprintf(err, errlen, "no address (0.0.0.0 or [::] listen on all of them)");
		return -EINVAL;
	}
	if ((size_t)(sep - h - v6) >= sizeof(host)) {
		snprintf(err, errlen, "not a numeric IPv4 or IPv6 address");
		return -EINVAL;
	}
	memcpy(host, h, sep - h - v6);
	host[sep - h - v6] = '\0';

	errno = 0;
	port = strtoul(sep + 1, &end, 10);
	if (sep[1] < '0' || sep[1] > '9' || *end || errno || port < 1 || port > 65535) {
		snprintf(err, errlen, "the port must be a number from 1 to 65535");
		return -EINVAL;
	}
	if (v6 && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	if (!v6 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	snprintf(err, errlen, "'%s' is not a numeric %s address%s", host, v6 ? "IPv6" : "IPv4",
		 v6 ? "" : " (IPv6 goes in brackets, names are not resolved)");
	return -EINVAL;
}

int metrics_open(struct metrics **mp, const char *addr, metrics_render_fn fn, void *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_storage ss;
	struct metrics *m;
	socklen_t len;
	int one = 1, err;

	err = metrics_parse_addr(addr, &ss, &len, NULL, 0);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ep = m->tfd = -1;
	m->fn = fn;
	m->ctx = ctx;
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->lfd < 0) {
		err = -errno;
		goto err_free;
	}
	/*
	 * We close first, so the TIME_WAITs are ours: without this a restarted
	 * xlbd could not bind for a minute. A live listener still refuses it.
	 */
	if (setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(m->lfd, (struct sockaddr *)&ss, len) || listen(m->lfd, METRICS_BACKLOG))
		goto err_errno;
	m->ep = epoll_create1(EPOLL_CLOEXEC);
	m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->ep < 0 || m->tfd < 0)
		goto err_errno;
	ev.data.ptr = &m->lfd;
	if (epoll_ctl(m->ep, EPOLL_CTL_ADD, m->lfd, &ev))
		goto err_errno;
	ev.data.ptr = &m->tfd;
	if (epoll_ctl(m->ep, EPOLL_CTL_ADD, m->tfd, &ev))
		goto err_errno;
	*mp = m;
	return 0;

err_errno:
	err = -errno;
	if (m->tfd >= 0)
		close(m->tfd);
	if (m->ep >= 0)
		close(m->ep);
	close(m->lfd);
err_free:
	free(m);
	return err;
}

int metrics_fd(const struct metrics *m)
{
	return m->ep;
}

/* The timer runs only while a deadline or a paused listener needs it. */
static void arm_timer(struct metrics *m)
{
	struct itimerspec its = { 0 };

	if (m->n || m->paused) {
		its.it_value.tv_sec = METRICS_TICK_S;
		its.it_interval.tv_sec = METRICS_TICK_S;
	}
	timerfd_settime(m->tfd, 0, &its, NULL);
}

static void drop(struct metrics *m, struct mclient *c)
{
	/* Before close(), as in server.c: a child may hold a copy of the fd. */
	epoll_ctl(m->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->reply);
	free(c);
	m->n--;
	if (!m->n)
		arm_timer(m);
}

static bool watch(struct metrics *m, struct mclient *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return !epoll_ctl(m->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Wait for the client's FIN: closing with its data unread would reset the reply. */
static void linger_read(struct metrics *m, struct mclient *c)
{
	char sink[512];
	ssize_t n;

	for (int i = 0; i < METRICS_BATCH; i++) {
		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
	}
	drop(m, c);
}

static void reply_write(struct metrics *m, struct mclient *c)
{
	ssize_t n;

	while (c->sent < c->reply_len) {
		n = send(c->fd, c->reply + c->sent, c->reply_len - c->sent,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;	/* EPOLLOUT brings us back */
		if (n < 0) {
			drop(m, c);
			return;
		}
		c->sent += n;
		c->idle_at = mono_ms() + METRICS_IDLE_MS;
	}
	free(c->reply);
	c->reply = NULL;
	if (shutdown(c->fd, SHUT_WR) || !watch(m, c, EPOLLIN)) {
		drop(m, c);
		return;
	}
	c->phase = MC_LINGER;
	c->idle_at = c->deadline = mono_ms() + METRICS_LINGER_MS;
	linger_read(m, c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/*
 * Start sending status with body (not for HEAD). A body of NULL is the
 * status's own one-line text. The client is dropped when there is no memory.
 */
static void reply(struct metrics *m, struct mclient *c, int status, const char *body,
		  size_t blen, bool head)
{
	char hdr[256], text[64];
	int hlen;

	if (!body) {
		blen = snprintf(text, sizeof(text), "%d %s\n", status, reason(status));
		body = text;
	}
	hlen = snprintf(hdr, sizeof(hdr),
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			"Connection: close\r\n\r\n",
			status, reason(status),
			status == 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8", blen,
			status == 405 ? "Allow: GET, HEAD\r\n" : "");
	c->reply_len = hlen + (head ? 0 : blen);
	c->reply = malloc(c->reply_len);
	if (!c->reply || !watch(m, c, EPOLLOUT)) {
		drop(m, c);
		return;
	}
	memcpy(c->reply, hdr, hlen);
	if (!head)
		memcpy(c->reply + hlen, body, blen);
	c->sent = 0;
	c->phase = MC_REPLY;
	/* Rendering took our time, not the client's. */
	c->idle_at = mono_ms() + METRICS_IDLE_MS;
	c->deadline = mono_ms() + METRICS_REPLY_MS;
	reply_write(m, c);
}

/* The request line is "METHOD TARGET VERSION", single spaces, nothing empty. */
static void answer(struct metrics *m, struct mclient *c)
{
	char *line = c->req, *eol = memchr(c->req, '\n', c->len);
	char *target, *version, *query;
	size_t blen;
	char *body;
	bool head;
	int err;

	*eol = '\0';
	if (eol > line && eol[-1] == '\r')
		eol[-1] = '\0';
	target = strchr(line, ' ');
	version = target ? strchr(target + 1, ' ') : NULL;
	if (!version || target == line || version == target + 1 || !version[1] ||
	    strchr(version + 1, ' ')) {
		reply(m, c, 400, NULL, 0, false);
		return;
	}
	*target++ = '\0';
	*version++ = '\0';
	if (strncmp(version, "HTTP/", 5)) {
		reply(m, c, 400, NULL, 0, false);
		return;
	}
	head = !strcmp(line, "HEAD");
	if (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0")) {
		reply(m, c, 505, NULL, 0, head);
		return;
	}
	query = strchr(target, '?');
	if (query)
		*query = '\0';
	if (strcmp(target, "/metrics")) {
		reply(m, c, 404, NULL, 0, head);
		return;
	}
	if (!head && strcmp(line, "GET")) {
		reply(m, c, 405, NULL, 0, false);
		return;
	}
	err = m->fn(m->ctx, &body, &blen);
	if (err) {
		pr_warn("metrics: cannot render: %s\n", strerror(-err));
		reply(m, c, 500, NULL, 0, head);
		return;
	}
	reply(m, c, 200, body, blen, head);
	free(body);
}

/* Where the empty line that ends the headers starts, searching from `from`; 0 if not yet. */
static size_t headers_end(const char *buf, size_t len, size_t from)
{
	for (size_t i = from; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))
			return i + 1;
	}
	return 0;
}

static void request_read(struct metrics *m, struct mclient *c)
{
	size_t from, skip;
	ssize_t n;

	for (int i = 0; i < METRICS_BATCH; i++) {
		if (c->len == sizeof(c->req)) {
			reply(m, c, 431, NULL, 0, false);
			return;
		}
		n = recv(c->fd, c->req + c->len, sizeof(c->req) - c->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* Gone, or done sending before the request was whole. */
			drop(m, c);
			return;
		}
		from = c->len >= 2 ? c->len - 2 : 0;
		c->len += n;
		c->idle_at = mono_ms() + METRICS_IDLE_MS;
		/* Empty lines before the request line are allowed (RFC 9112, 2.2). */
		for (skip = 0; skip < c->len && (c->req[skip] == '\r' || c->req[skip] == '\n');)
			skip++;
		if (skip) {
			memmove(c->req, c->req + skip, c->len - skip);
			c->len -= skip;
			from = 0;
		}
		if (headers_end(c->req, c->len, from)) {
			answer(m, c);
			return;
		}
	}
}

/* All slots taken: the client that has waited longest for its request goes. */
static bool make_room(struct metrics *m)
{
	struct mclient *c, *oldest = NULL;

	for (c = m->clients; c; c = c->next)
		if (c->phase == MC_REQUEST)
			oldest = c;
	if (!oldest)
		return false;
	pr_debug("metrics: full, dropping the oldest unfinished request\n");
	drop(m, oldest);
	return true;
}

static void accept_clients(struct metrics *m)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct mclient *c;
	uint64_t now;
	int fd;

	for (int i = 0; i < METRICS_BATCH; i++) {
		fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			       errno == ENOMEM)) {
			/* Else the listener stays readable and the loop spins on it. */
			pr_warn("metrics: cannot accept: %s\n", strerror(errno));
			ev.events = 0;
			ev.data.ptr = &m->lfd;
			epoll_ctl(m->ep, EPOLL_CTL_MOD, m->lfd, &ev);
			m->paused = true;
			arm_timer(m);
		}
		if (fd < 0)
			return;
		if (m->n >= METRICS_MAX_CLIENTS && !make_room(m)) {
			if (send(fd, busy_reply, sizeof(busy_reply) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				pr_debug("metrics: busy reply: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (!c || epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev)) {
			free(c);
			close(fd);
			continue;
		}
		now = mono_ms();
		c->fd = fd;
		c->phase = MC_REQUEST;
		c->idle_at = now + METRICS_IDLE_MS;
		c->deadline = now + METRICS_REQUEST_MS;
		c->next = m->clients;
		if (m->clients)
			m->clients->prev = c;
		m->clients = c;
		if (m->n++ == 0)
			arm_timer(m);
	}
}

static void tick(struct metrics *m)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &m->lfd };
	struct mclient *c, *next;
	uint64_t ticks, now;

	if (read(m->tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	now = mono_ms();
	for (c = m->clients; c; c = next) {
		next = c->next;
		if (now >= c->idle_at || now >= c->deadline) {
			pr_debug("metrics: dropping a client past its deadline\n");
			drop(m, c);
		}
	}
	if (m->paused && !epoll_ctl(m->ep, EPOLL_CTL_MOD, m->lfd, &ev)) {
		m->paused = false;
		arm_timer(m);
	}
}

int metrics_dispatch(struct metrics *m)
{
	struct epoll_event ev[METRICS_BATCH];
	bool listener = false, timer = false;
	struct mclient *c;
	int n;

	n = epoll_wait(m->ep, ev, METRICS_BATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == &m->lfd) {
			listener = true;
			continue;
		}
		if (ev[i].data.ptr == &m->tfd) {
			timer = true;
			continue;
		}
		c = ev[i].data.ptr;
		if (c->phase == MC_REQUEST)
			request_read(m, c);
		else if (c->phase == MC_REPLY)
			reply_write(m, c);
		else
			linger_read(m, c);
	}
	/* Last: both may drop clients that still have events in ev[]. */
	if (listener)
		accept_clients(m);
	if (timer)
		tick(m);
	return 0;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	while (m->clients)
		drop(m, m->clients);
	close(m->tfd);
	close(m->ep);
	close(m->lfd);
	free(m);
}
