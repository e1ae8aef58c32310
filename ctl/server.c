// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* accept4, struct ucred */
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "fileio.h"
#include "log.h"
#include "proto.h"
#include "server.h"

#define SERVER_BACKLOG		64
#define SERVER_EVENTS		16	/* per epoll_wait, and accepts per dispatch */
#define SERVER_BUF_INITIAL	4096
#define SERVER_TICK_S		1	/* how late a timeout may be noticed */

static const char refused_msg[] = "permission denied: " PROTO_ACCESS_HINT;
/* Sent as is, without a look at the request: the server has no room for this client. */
static const char busy_reply[] = PROTO_VERSION " status=1\nxlbd is busy: too many clients\n";

enum client_state {
	CLIENT_READING,
	CLIENT_WRITING,
};

struct client {
	struct client *prev;
	struct client *next;
	int fd;
	enum client_state state;
	bool allowed;		/* the peer may run commands */
	char *buf;		/* the request while reading, the reply while writing */
	size_t len;
	size_t cap;
	size_t off;		/* reply bytes written */
	uint64_t idle_at;	/* CLOCK_MONOTONIC ms: dropped then unless it makes progress */
	uint64_t expire_at;	/* dropped then whatever it does */
};

struct server {
	int epfd;
	int lfd;
	int tfd;
	bool paused;		/* accept() ran out of fds or memory: listener off until a tick */
	server_handler_fn fn;
	void *ctx;
	struct client *clients;
	unsigned int nclients;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;		/* of the socket file we bound, so we never unlink another's */
	ino_t ino;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * The path is taken. Only a refused connection proves that the daemon behind a socket file is
 * gone; then the file is stale and removed. Anything else at the path is left alone.
 */
static int remove_stale(const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, err;

	if (lstat(addr->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) ? -errno : 0;
	close(fd);
	/* -EAGAIN: a full backlog, so somebody is listening. */
	if (!err || err == -EAGAIN)
		return -EADDRINUSE;
	if (err != -ECONNREFUSED)
		return err;
	pr_info("removing stale socket %s\n", addr->sun_path);
	if (unlink(addr->sun_path) && errno != ENOENT)
		return -errno;
	return 0;
}

static int bind_socket(int fd, const struct sockaddr_un *addr)
{
	int err;

	if (!bind(fd, (const struct sockaddr *)addr, sizeof(*addr)))
		return 0;
	if (errno != EADDRINUSE)
		return -errno;
	err = remove_stale(addr);
	if (err)
		return err;
	return bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) ? -errno : 0;
}

/*
 * Root only, unless group xlb exists: then its members need the group's access to connect at
 * all. This runs before listen(), so nobody can connect while the mode is still the umask's.
 */
static int set_socket_mode(const char *path)
{
	struct group *gr = getgrnam(PROTO_GROUP);

	if (gr && !chown(path, -1, gr->gr_gid))
		return chmod(path, 0660) ? -errno : 0;
	return chmod(path, 0600) ? -errno : 0;
}

int server_open(struct server **sp, const char *path, server_handler_fn fn, void *ctx)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN};
	struct server *s;
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->epfd = s->lfd = s->tfd = -1;
	s->fn = fn;
	s->ctx = ctx;
	strcpy(s->path, path);

	err = mkdir_parents(path, 0755);
	if (err)
		goto err_free;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		err = -errno;
		goto err_free;
	}
	err = bind_socket(s->lfd, &addr);
	if (err)
		goto err_close;
	if (lstat(path, &st)) {
		err = -errno;
		goto err_unlink;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	err = set_socket_mode(path);
	if (err)
		goto err_unlink;
	if (listen(s->lfd, SERVER_BACKLOG)) {
		err = -errno;
		goto err_unlink;
	}

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epfd < 0 || s->tfd < 0) {
		err = -errno;
		goto err_unlink;
	}
	ev.data.ptr = &s->lfd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev)) {
		err = -errno;
		goto err_unlink;
	}
	ev.data.ptr = &s->tfd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev)) {
		err = -errno;
		goto err_unlink;
	}
	*sp = s;
	return 0;

err_unlink:
	unlink(path);
err_close:
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->epfd >= 0)
		close(s->epfd);
	close(s->lfd);
err_free:
	free(s);
	return err;
}

int server_fd(const struct server *s)
{
	return s->epfd;
}

/* Tick while there is something to time out or a paused listener to resume; sleep otherwise. */
static void timer_update(struct server *s)
{
	struct itimerspec its = {};

	if (s->nclients || s->paused) {
		its.it_value.tv_sec = SERVER_TICK_S;
		its.it_interval.tv_sec = SERVER_TICK_S;
	}
	timerfd_settime(s->tfd, 0, &its, NULL);
}

static void client_drop(struct server *s, struct client *c)
{
	/*
	 * Out of the epoll set before close(): a child that xlbd just started
	 * (bird.c) holds copies of every fd until exec closes them, and while
	 * it does, close() alone would leave the registration, and an event
	 * pointing at freed memory.
	 */
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->buf);
	free(c);
	if (--s->nclients == 0)
		timer_update(s);
}

/* Supplementary groups as they were at connect(): no race with the peer's pid being reused. */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t few[32], *groups = few;
	socklen_t len = sizeof(few);
	bool found = false;
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
		if (errno != ERANGE)
			return false;
		groups = malloc(len);
		if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
			goto out;
	}
	for (i = 0; i < len / sizeof(*groups); i++)
		found |= groups[i] == gid;
out:
	if (groups != few)
		free(groups);
	return found;
}

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct group *gr;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	if (cred.uid == 0)
		return true;
	gr = getgrnam(PROTO_GROUP);
	if (!gr)
		return false;
	return cred.gid == gr->gr_gid || peer_in_group(fd, gr->gr_gid);
}

/* Whether accept() failed for want of a resource, which only time can bring back. */
static bool accept_starved(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void server_accept(struct server *s)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct client *c;
	uint64_t now;
	int fd, i;

	/* A few at a time: the listener is level-triggered and reports the rest next round. */
	for (i = 0; i < SERVER_EVENTS; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && accept_starved(errno)) {
			/* Else the listener stays readable and the daemon spins on it. */
			pr_warn("cannot accept xlbctl connections: %s\n", strerror(errno));
			ev.events = 0;
			ev.data.ptr = &s->lfd;
			epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev);
			s->paused = true;
			timer_update(s);
		}
		if (fd < 0)
			return;
		if (s->nclients >= SERVER_MAX_CLIENTS) {
			if (send(fd, busy_reply, sizeof(busy_reply) - 1,
				 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				pr_debug("busy reply: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		ev.data.ptr = c;
		if (!c || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			free(c);
			close(fd);
			continue;
		}
		now = now_ms();
		c->fd = fd;
		c->allowed = peer_allowed(fd);
		c->idle_at = now + SERVER_IDLE_MS;
		c->expire_at = now + SERVER_LIFETIME_MS;
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
		if (s->nclients++ == 0)
			timer_update(s);
	}
}

static void client_write(struct server *s, struct client *c)
{
	ssize_t n;

	while (c->off < c->len) {
		n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return; /* EPOLLOUT brings us back */
		if (n < 0)
			break; /* the client is gone: nothing left to do for it */
		c->off += n;
		c->idle_at = now_ms() + SERVER_IDLE_MS;
	}
	client_drop(s, c);
}

/* Encode the reply in place of the request and start sending it. */
static void client_reply(struct server *s, struct client *c, int status, struct out *o)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	const char *body;
	size_t len, body_len;
	char *reply;
	int err;

	body = out_data(o, &body_len);
	err = proto_reply_encode(status, body, body_len, &reply, &len);
	if (err == -E2BIG) {
		out_error(o, "reply too large (more than %u MiB)", PROTO_MAX_REPLY >> 20);
		body = out_data(o, &body_len);
		err = proto_reply_encode(1, body, body_len, &reply, &len);
	}
	if (!err && epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		err = -errno;
		free(reply);
	}
	if (err) {
		pr_warn("cannot reply to xlbctl: %s\n", strerror(-err));
		client_drop(s, c);
		return;
	}
	free(c->buf);
	c->buf = reply;
	c->len = len;
	c->off = 0;
	c->state = CLIENT_WRITING;
	/* The command may have taken a while: that was not the client's doing. */
	c->idle_at = now_ms() + SERVER_IDLE_MS;
	c->expire_at = now_ms() + SERVER_LIFETIME_MS;
	client_write(s, c);
}

/*
 * Answer the request in c->buf: an error when one is given or the peer is not allowed, else
 * whatever the handler says. The reply is JSON when the request's header asked for it, even
 * when the rest of the request is refused.
 */
static void client_answer(struct server *s, struct client *c, const char *error)
{
	char **argv = NULL;
	int argc, status = 1, err;
	bool json = false;
	struct out *o;

	if (proto_request_header(c->buf, c->len, &json))
		json = false;
	o = out_new(json);
	if (!o) {
		pr_warn("cannot reply to xlbctl: %s\n", strerror(ENOMEM));
		client_drop(s, c);
		return;
	}
	if (!error && !c->allowed)
		error = refused_msg;
	if (!error) {
		err = proto_request_decode(c->buf, c->len, &argc, &argv, &json);
		if (err == -ENOMEM)
			error = "xlbd is out of memory";
		else if (err)
			error = "malformed request: are xlbctl and xlbd the same version?";
	}
	if (!error) {
		status = s->fn(s->ctx, argc, argv, o);
		if (status < 0 || status > 255) {
			pr_warn("command handler returned %d\n", status);
			status = 1;
		}
		err = out_err(o);
		if (err) {
			out_error(o, "cannot write the reply: %s", strerror(-err));
			status = 1;
		}
	} else {
		out_error(o, "%s", error);
	}
	free(argv);
	client_reply(s, c, status, o);
	out_free(o);
}

/* Room for more of the request; -E2BIG at limit. */
static int client_grow(struct client *c, size_t limit)
{
	size_t cap = c->cap ? c->cap * 2 : SERVER_BUF_INITIAL;
	char *buf;

	if (c->cap >= limit)
		return -E2BIG;
	cap = cap < limit ? cap : limit;
	buf = realloc(c->buf, cap);
	if (!buf)
		return -ENOMEM;
	c->buf = buf;
	c->cap = cap;
	return 0;
}

/*
 * Read what has come. A request is complete when the client shuts down its side. One from a peer
 * that may not run commands is answered as soon as its header tells the form of the answer, and
 * never buffered beyond that.
 */
static void client_read(struct server *s, struct client *c)
{
	size_t limit = c->allowed ? PROTO_MAX_REQUEST : PROTO_HEADER_MAX;
	bool json;
	ssize_t n;
	int err;

	for (;;) {
		/* A refused peer's header is all it takes to answer it in its form. */
		if (!c->allowed && c->len &&
		    proto_request_header(c->buf, c->len, &json) != -EAGAIN) {
			client_answer(s, c, NULL);
			return;
		}
		if (c->len == c->cap) {
			err = client_grow(c, limit);
			if (err == -E2BIG) {
				client_answer(s, c, "request too large (more than 16 MiB)");
				return;
			}
			if (err)
				break;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			break;
		if (n == 0 && c->len == 0)
			break; /* gone without a word: another xlbd checking for a live socket */
		if (n == 0) {
			client_answer(s, c, NULL);
			return;
		}
		c->len += n;
		c->idle_at = now_ms() + SERVER_IDLE_MS;
	}
	client_drop(s, c);
}

static void client_event(struct server *s, struct client *c)
{
	if (c->state == CLIENT_READING)
		client_read(s, c);
	else
		client_write(s, c);
}

static void server_tick(struct server *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
	struct client *c, *next;
	uint64_t ticks, now;

	if (read(s->tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	now = now_ms();
	for (c = s->clients; c; c = next) {
		next = c->next;
		if (now >= c->idle_at || now >= c->expire_at) {
			pr_debug("dropping an xlbctl connection that timed out\n");
			client_drop(s, c);
		}
	}
	if (s->paused && !epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev)) {
		s->paused = false;
		timer_update(s);
	}
}

int server_dispatch(struct server *s)
{
	struct epoll_event ev[SERVER_EVENTS];
	bool tick = false;
	int n, i;

	n = epoll_wait(s->epfd, ev, SERVER_EVENTS, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (ev[i].data.ptr == &s->lfd)
			server_accept(s);
		else if (ev[i].data.ptr == &s->tfd)
			tick = true;
		else
			client_event(s, ev[i].data.ptr);
	}
	/* Last: a tick frees clients that may still have events in ev[]. */
	if (tick)
		server_tick(s);
	return 0;
}

void server_close(struct server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->clients)
		client_drop(s, s->clients);
	close(s->tfd);
	close(s->epfd);
	close(s->lfd);
	if (!lstat(s->path, &st) && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}
