// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fileio.h"
#include "log.h"
#include "proto.h"
#include "reqsrv.h"
#include "server.h"

#define SERVER_BACKLOG		64

static const char refused_msg[] = "permission denied: " PROTO_ACCESS_HINT;

struct server {
	struct reqsrv *rs;
	server_handler_fn fn;
	void *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;		/* of the socket file we bound, so we never unlink another's */
	ino_t ino;
};

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

static void on_accepted(void *ctx, struct reqsrv_client *c)
{
	c->allowed = peer_allowed(c->fd);
}

/* Encode the reply and hand it to the engine; an encoding failure drops the client. */
static void client_reply(struct server *s, struct reqsrv_client *c, int status, struct out *o)
{
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
	if (err) {
		pr_warn("cannot reply to xlbctl: %s\n", strerror(-err));
		reply = NULL;
		len = 0;
	}
	reqsrv_reply(s->rs, c, reply, len);
}

/*
 * Answer the request in c->buf: an error when one is given or the peer is not allowed, else
 * whatever the handler says. The reply is JSON when the request's header asked for it, even
 * when the rest of the request is refused.
 */
static void client_answer(struct server *s, struct reqsrv_client *c, const char *error)
{
	struct server_call call = {.s = s, .c = c};
	char **argv = NULL;
	int argc, status = 1, err;
	bool json = false;
	struct out *o;

	if (proto_request_header(c->buf, c->len, &json))
		json = false;
	o = out_new(json);
	if (!o) {
		pr_warn("cannot reply to xlbctl: %s\n", strerror(ENOMEM));
		reqsrv_reply(s->rs, c, NULL, 0);
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
		status = s->fn(s->ctx, &call, argc, argv, o);
		if (status == SERVER_HELD)
			goto out;
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
	client_reply(s, c, status, o);
out:
	free(argv);
	out_free(o);
}

/*
 * A request is complete when the client shuts down its side. One from a peer that may not run
 * commands is answered as soon as its header tells the form of the answer, and never buffered
 * beyond that.
 */
static void on_request(void *ctx, struct reqsrv_client *c, enum reqsrv_event ev)
{
	struct server *s = ctx;
	bool json;

	if (!c->allowed && (ev != REQSRV_DATA ||
			    proto_request_header(c->buf, c->len, &json) != -EAGAIN))
		client_answer(s, c, NULL);
	else if (ev == REQSRV_EOF)
		client_answer(s, c, NULL);
	else if (ev == REQSRV_FULL)
		client_answer(s, c, "request too large (more than 16 MiB)");
}

static void on_gone(void *ctx, struct reqsrv_client *c)
{
	struct server_call *call = c->owner;

	if (!call)
		return;
	if (call->gone)
		call->gone(call->arg);
	free(call);
}

static const struct reqsrv_ops server_ops = {
	.accepted = on_accepted,
	.request = on_request,
	.gone = on_gone,
	.busy = PROTO_VERSION " status=1\nxlbd is busy: too many clients, try again\n",
	.name = "xlbctl",
};

static const struct reqsrv_limits server_limits = {
	.max_clients = SERVER_MAX_CLIENTS,
	.request_max = PROTO_MAX_REQUEST,
	.idle_ms = SERVER_IDLE_MS,
	.request_ms = SERVER_REQUEST_MS,
	.reply_ms = SERVER_REPLY_MS,
	.linger_ms = SERVER_LINGER_MS,
};

int server_open(struct server **sp, const char *path, server_handler_fn fn, void *ctx)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct server *s;
	struct stat st;
	int lfd, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;
	strcpy(s->path, path);

	err = mkdir_parents(path, 0755);
	if (err)
		goto err_free;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		err = -errno;
		goto err_free;
	}
	err = bind_socket(lfd, &addr);
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
	if (listen(lfd, SERVER_BACKLOG)) {
		err = -errno;
		goto err_unlink;
	}
	err = reqsrv_open(&s->rs, lfd, &server_limits, &server_ops, s);
	if (err) {
		unlink(path);
		goto err_free;
	}
	*sp = s;
	return 0;

err_unlink:
	unlink(path);
err_close:
	close(lfd);
err_free:
	free(s);
	return err;
}

int server_fd(const struct server *s)
{
	return reqsrv_fd(s->rs);
}

int server_dispatch(struct server *s)
{
	return reqsrv_dispatch(s->rs);
}

void server_close(struct server *s)
{
	struct stat st;

	if (!s)
		return;
	reqsrv_close(s->rs);
	if (!lstat(s->path, &st) && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}

struct server_call *server_hold(struct server_call *call, void (*gone)(void *arg), void *arg)
{
	struct server_call *held = malloc(sizeof(*held));

	if (!held)
		return NULL;
	*held = *call;
	held->gone = gone;
	held->arg = arg;
	held->c->owner = held;
	reqsrv_hold(call->s->rs, call->c);
	return held;
}

void server_finish(struct server_call *call, int status, struct out *o)
{
	call->c->owner = NULL;
	client_reply(call->s, call->c, status, o);
	free(call);
}

int server_stream_begin(struct server_call *call)
{
	static const char header[] = PROTO_VERSION " status=0\n";

	return reqsrv_send(call->s->rs, call->c, header, sizeof(header) - 1);
}

int server_stream_send(struct server_call *call, const char *data, size_t len)
{
	return reqsrv_send(call->s->rs, call->c, data, len);
}

void server_stream_end(struct server_call *call, const char *tail, size_t len)
{
	char *buf = malloc(len ?: 1);

	call->c->owner = NULL;
	if (buf)
		memcpy(buf, tail, len);
	reqsrv_reply(call->s->rs, call->c, buf, buf ? len : 0);
	free(call);
}
