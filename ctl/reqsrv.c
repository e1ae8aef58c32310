// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "log.h"
#include "reqsrv.h"

#define REQSRV_BATCH		16	/* events per epoll_wait, accepts and reads per round */
#define REQSRV_TICK_S		1	/* how late a deadline may be noticed */
#define REQSRV_BUF_INITIAL	4096

struct reqsrv {
	int ep;
	int lfd;
	int tfd;
	bool paused;		/* accept() ran out of fds or memory: listener off until a tick */
	struct reqsrv_limits lim;
	const struct reqsrv_ops *ops;
	void *ctx;
	struct reqsrv_client *clients;	/* newest first */
	unsigned int n;
	/*
	 * Dropped clients wait here until the end of a dispatch: an event for one of them may
	 * still be in the batch being handled, and must find memory that is still ours.
	 */
	struct reqsrv_client *dead;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int reqsrv_open(struct reqsrv **sp, int lfd, const struct reqsrv_limits *lim,
		const struct reqsrv_ops *ops, void *ctx)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct reqsrv *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s) {
		close(lfd);
		return -ENOMEM;
	}
	s->lfd = lfd;
	s->lim = *lim;
	s->ops = ops;
	s->ctx = ctx;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->ep < 0 || s->tfd < 0)
		goto err_errno;
	ev.data.ptr = &s->lfd;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev))
		goto err_errno;
	ev.data.ptr = &s->tfd;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->tfd, &ev))
		goto err_errno;
	*sp = s;
	return 0;

err_errno:
	err = -errno;
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->ep >= 0)
		close(s->ep);
	close(s->lfd);
	free(s);
	return err;
}

int reqsrv_fd(const struct reqsrv *s)
{
	return s->ep;
}

/* The timer runs only while a deadline or a paused listener needs it. */
static void arm_timer(struct reqsrv *s)
{
	struct itimerspec its = {};

	if (s->n || s->paused) {
		its.it_value.tv_sec = REQSRV_TICK_S;
		its.it_interval.tv_sec = REQSRV_TICK_S;
	}
	timerfd_settime(s->tfd, 0, &its, NULL);
}

static void free_dead(struct reqsrv *s)
{
	struct reqsrv_client *c;

	while ((c = s->dead)) {
		s->dead = c->next;
		free(c->buf);
		free(c->out);
		free(c);
	}
}

static void drop(struct reqsrv *s, struct reqsrv_client *c)
{
	bool held = c->phase == REQSRV_HELD;

	/*
	 * Out of the epoll set before close(): a child that xlbd just started (bird.c) holds
	 * copies of every fd until exec closes them, and while it does, close() alone would
	 * leave the registration, and an event pointing at freed memory.
	 */
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = s->dead;
	s->dead = c;
	if (--s->n == 0)
		arm_timer(s);
	if (held && s->ops->gone)
		s->ops->gone(s->ctx, c);
}

static bool watch(struct reqsrv *s, struct reqsrv_client *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	return !epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Wait for the client's close, draining what it sends meanwhile. */
static void linger_read(struct reqsrv *s, struct reqsrv_client *c)
{
	char sink[512];
	ssize_t n;

	for (int i = 0; i < REQSRV_BATCH; i++) {
		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
	}
	drop(s, c);
}

/*
 * Send what is queued. A client in REPLY whose queue is empty is done: our side is shut and
 * it lingers. A held one waits for more (only hangups and errors are watched meanwhile: its
 * side is shut, so EPOLLIN would never stop firing).
 */
static void flush(struct reqsrv *s, struct reqsrv_client *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!watch(s, c, EPOLLOUT))
				drop(s, c);
			return;
		}
		if (n < 0) {
			drop(s, c);
			return;
		}
		c->out_off += n;
		c->idle_at = now_ms() + s->lim.idle_ms;
	}
	c->out_off = c->out_len = 0;
	if (c->phase == REQSRV_HELD) {
		if (!watch(s, c, 0))
			drop(s, c);
		return;
	}
	if (shutdown(c->fd, SHUT_WR) || !watch(s, c, EPOLLIN)) {
		drop(s, c);
		return;
	}
	c->phase = REQSRV_LINGER;
	c->idle_at = c->deadline = now_ms() + s->lim.linger_ms;
	linger_read(s, c);
}

static int queue(struct reqsrv_client *c, const char *data, size_t len)
{
	size_t need = c->out_len + len;
	char *out;

	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	need = c->out_len + len;
	if (need > REQSRV_STREAM_MAX && c->out_len)
		return -ENOBUFS;
	out = realloc(c->out, need ? need : 1);
	if (!out)
		return -ENOMEM;
	memcpy(out + c->out_len, data, len);
	c->out = out;
	c->out_len = need;
	return 0;
}

int reqsrv_send(struct reqsrv *s, struct reqsrv_client *c, const char *data, size_t len)
{
	int err;

	if (c->fd < 0 || c->phase != REQSRV_HELD)
		return -EPIPE;
	err = queue(c, data, len);
	if (!err && c->out_len - c->out_off == len)
		flush(s, c);
	return err;
}

void reqsrv_hold(struct reqsrv *s, struct reqsrv_client *c)
{
	c->phase = REQSRV_HELD;
	if (!watch(s, c, 0))
		drop(s, c);
}

void reqsrv_reply(struct reqsrv *s, struct reqsrv_client *c, char *buf, size_t len)
{
	uint64_t now = now_ms();
	int err = 0;

	if (c->fd < 0) {
		free(buf);
		return;
	}
	if (!c->out_len) {
		free(c->out);
		c->out = buf;
		c->out_len = len;
		c->out_off = 0;
	} else {
		err = queue(c, buf, len);
		free(buf);
	}
	if (err) {
		pr_warn("%s: cannot reply: %s\n", s->ops->name, strerror(-err));
		drop(s, c);
		return;
	}
	/* Producing the reply took our time, not the client's. */
	c->phase = REQSRV_REPLY;
	c->idle_at = now + s->lim.idle_ms;
	c->deadline = now + s->lim.reply_ms;
	flush(s, c);
}

/* Room for more of the request; -E2BIG at the limit. */
static int grow(struct reqsrv *s, struct reqsrv_client *c)
{
	size_t cap = c->cap ? c->cap * 2 : REQSRV_BUF_INITIAL;
	char *buf;

	if (c->cap >= s->lim.request_max)
		return -E2BIG;
	cap = cap < s->lim.request_max ? cap : s->lim.request_max;
	buf = realloc(c->buf, cap);
	if (!buf)
		return -ENOMEM;
	c->buf = buf;
	c->cap = cap;
	return 0;
}

/* Read what has come; a client that ends or overflows its request unanswered is dropped. */
static void request_read(struct reqsrv *s, struct reqsrv_client *c)
{
	ssize_t n;
	int err;

	for (int i = 0; i < REQSRV_BATCH; i++) {
		if (c->fd < 0 || c->phase != REQSRV_REQUEST)
			return; /* answered */
		if (c->len == c->cap) {
			err = grow(s, c);
			if (err == -E2BIG)
				s->ops->request(s->ctx, c, REQSRV_FULL);
			if (err)
				goto out_drop;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			goto out_drop;
		if (n == 0) {
			/* Nothing at all: another xlbd checking for a live socket. */
			if (c->len)
				s->ops->request(s->ctx, c, REQSRV_EOF);
			goto out_drop;
		}
		c->len += n;
		c->idle_at = now_ms() + s->lim.idle_ms;
		s->ops->request(s->ctx, c, REQSRV_DATA);
	}
	return; /* the rest next round: the socket is level-triggered */

out_drop:
	if (c->fd >= 0 && c->phase == REQSRV_REQUEST)
		drop(s, c);
}

/* All slots taken: the client that has been sending its request longest goes. */
static bool make_room(struct reqsrv *s)
{
	struct reqsrv_client *c, *oldest = NULL;

	for (c = s->clients; c; c = c->next)
		if (c->phase == REQSRV_REQUEST)
			oldest = c;
	if (!oldest)
		return false;
	pr_debug("%s: full, dropping the oldest unfinished request\n", s->ops->name);
	drop(s, oldest);
	return true;
}

/*
 * No room: say so. What the client has sent already is read first, since closing with unread
 * data resets the connection and the client would lose the answer before reading it.
 */
static void refuse(struct reqsrv *s, int fd)
{
	char sink[4096];

	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	if (send(fd, s->ops->busy, strlen(s->ops->busy), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("%s: busy reply: %s\n", s->ops->name, strerror(errno));
	shutdown(fd, SHUT_WR);
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

/* Whether accept() failed for want of a resource, which only time can bring back. */
static bool accept_starved(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void accept_clients(struct reqsrv *s)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct reqsrv_client *c;
	uint64_t now;
	int fd;

	/* A few at a time: the listener is level-triggered and reports the rest next round. */
	for (int i = 0; i < REQSRV_BATCH; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && accept_starved(errno)) {
			/* Else the listener stays readable and the loop spins on it. */
			pr_warn("%s: cannot accept: %s\n", s->ops->name, strerror(errno));
			ev.events = 0;
			ev.data.ptr = &s->lfd;
			epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lfd, &ev);
			s->paused = true;
			arm_timer(s);
		}
		if (fd < 0)
			return;
		if (s->n >= s->lim.max_clients && !make_room(s)) {
			refuse(s, fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
			free(c);
			close(fd);
			continue;
		}
		now = now_ms();
		c->fd = fd;
		c->phase = REQSRV_REQUEST;
		c->idle_at = now + s->lim.idle_ms;
		c->deadline = now + s->lim.request_ms;
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
		if (s->n++ == 0)
			arm_timer(s);
		if (s->ops->accepted)
			s->ops->accepted(s->ctx, c);
	}
}

static void tick(struct reqsrv *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
	struct reqsrv_client *c, *next;
	uint64_t ticks, now;

	if (read(s->tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	now = now_ms();
	for (c = s->clients; c; c = next) {
		next = c->next;
		if (c->phase != REQSRV_HELD && (now >= c->idle_at || now >= c->deadline)) {
			pr_debug("%s: dropping a client past its deadline\n", s->ops->name);
			drop(s, c);
		}
	}
	if (s->paused && !epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lfd, &ev)) {
		s->paused = false;
		arm_timer(s);
	}
}

static void client_event(struct reqsrv *s, struct reqsrv_client *c, uint32_t events)
{
	if (c->fd < 0)
		return; /* dropped earlier in this batch */
	switch (c->phase) {
	case REQSRV_REQUEST:
		request_read(s, c);
		break;
	case REQSRV_HELD:
		if (events & (EPOLLHUP | EPOLLERR))
			drop(s, c);
		else
			flush(s, c);
		break;
	case REQSRV_REPLY:
		flush(s, c);
		break;
	case REQSRV_LINGER:
		linger_read(s, c);
		break;
	}
}

int reqsrv_dispatch(struct reqsrv *s)
{
	struct epoll_event ev[REQSRV_BATCH];
	bool listener = false, timer = false;
	int n;

	free_dead(s);
	n = epoll_wait(s->ep, ev, REQSRV_BATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == &s->lfd)
			listener = true;
		else if (ev[i].data.ptr == &s->tfd)
			timer = true;
		else
			client_event(s, ev[i].data.ptr, ev[i].events);
	}
	if (listener)
		accept_clients(s);
	if (timer)
		tick(s);
	free_dead(s);
	return 0;
}

void reqsrv_close(struct reqsrv *s)
{
	if (!s)
		return;
	while (s->clients)
		drop(s, s->clients);
	free_dead(s);
	close(s->tfd);
	close(s->ep);
	close(s->lfd);
	free(s);
}
