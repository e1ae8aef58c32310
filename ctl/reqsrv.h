/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The engine under xlbd's two listeners (the control socket, server.c, and the metrics endpoint,
 * metrics.c): a non-blocking server of one request per connection that lives in xlbd's event
 * loop. It owns an epoll fd (nested in the daemon's), the listening socket, a timer and a table
 * of clients; its owner says, through callbacks, when a request is whole and what to answer.
 *
 * A client's life: REQUEST (reading, within request_ms and idle_ms) -> REPLY (writing, within
 * reply_ms and idle_ms) -> LINGER (our side shut, its data drained until it closes, linger_ms)
 * -> closed. Lingering matters: closing a socket with unread data resets it, and the peer then
 * loses the reply it had not read yet. An owner may also HOLD a client after its request (a
 * reply that takes several turns of the loop, or a stream of lines): held clients have no
 * deadline, get what reqsrv_send() queues as the socket takes it, and go to REPLY with
 * reqsrv_reply(); ops->gone tells when one disconnects first.
 *
 * When every slot is taken, the client that has been sending its request longest makes room
 * for the newcomer, so clients that trickle or send nothing never lock anyone out; only when all
 * slots hold replies or streams is the newcomer sent ops->busy and closed.
 */
#ifndef XLB_REQSRV_H
#define XLB_REQSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQSRV_STREAM_MAX	(1U << 20)	/* bytes queued for a held client, at most */

enum reqsrv_phase {
	REQSRV_REQUEST,
	REQSRV_HELD,
	REQSRV_REPLY,
	REQSRV_LINGER,
};

/* What ops->request is told about the bytes in c->buf. */
enum reqsrv_event {
	REQSRV_DATA,	/* more came */
	REQSRV_EOF,	/* the client shut its side: nothing more will come */
	REQSRV_FULL,	/* request_max bytes and nothing more is read */
};

struct reqsrv_client {
	int fd;
	enum reqsrv_phase phase;
	char *buf;		/* the request so far */
	size_t len;
	size_t mark;		/* the owner's: how far it has looked into buf */
	bool allowed;		/* the owner's: set by ops->accepted */
	void *owner;		/* the owner's: what a held client belongs to */
	/* The engine's. */
	size_t cap;
	char *out;		/* queued reply bytes */
	size_t out_len, out_off;
	uint64_t idle_at;	/* CLOCK_MONOTONIC ms: dropped then unless it makes progress */
	uint64_t deadline;	/* dropped then whatever it does */
	struct reqsrv_client *prev, *next;
};

struct reqsrv_limits {
	unsigned int max_clients;
	size_t request_max;	/* bytes of one request */
	unsigned int idle_ms;	/* without progress, reading or writing */
	unsigned int request_ms;	/* from accept to the whole request */
	unsigned int reply_ms;	/* to take the whole reply */
	unsigned int linger_ms;	/* after the reply, for the client to close */
};

struct reqsrv_ops {
	/* A new client (optional): set c->allowed from its credentials. */
	void (*accepted)(void *ctx, struct reqsrv_client *c);
	/*
	 * The request so far is c->buf, c->len bytes (the owner may edit it). Answer with
	 * reqsrv_reply() or reqsrv_hold(), or return to wait for more; at REQSRV_EOF or
	 * REQSRV_FULL a client left unanswered is dropped.
	 */
	void (*request)(void *ctx, struct reqsrv_client *c, enum reqsrv_event ev);
	/* A held client disconnected; it is freed after this returns. */
	void (*gone)(void *ctx, struct reqsrv_client *c);
	const char *busy;	/* written as is to a client there is no room for */
	const char *name;	/* for log lines: "xlbctl", "metrics" */
};

struct reqsrv;

/*
 * Serve the listening socket lfd (non-blocking; the engine owns it from here, also on error).
 * 0 or -errno.
 */
int reqsrv_open(struct reqsrv **s, int lfd, const struct reqsrv_limits *lim,
		const struct reqsrv_ops *ops, void *ctx);
/* The fd to watch for EPOLLIN: an epoll fd, it nests in the caller's set. */
int reqsrv_fd(const struct reqsrv *s);
/* Do whatever is ready and drop clients past their deadlines; never blocks. 0 or -errno. */
int reqsrv_dispatch(struct reqsrv *s);
/* Close every client (held ones through ops->gone) and the listener. */
void reqsrv_close(struct reqsrv *s);

/*
 * The last bytes for c: buf (malloc()ed, the engine frees it, also on error), after whatever is
 * still queued; then c is closed as described above. c must not be used after this.
 */
void reqsrv_reply(struct reqsrv *s, struct reqsrv_client *c, char *buf, size_t len);
/* Keep c after its request, without deadlines, until reqsrv_reply(). */
void reqsrv_hold(struct reqsrv *s, struct reqsrv_client *c);
/*
 * Queue bytes for a held client. -ENOBUFS when REQSRV_STREAM_MAX bytes are already waiting (the
 * client does not read: the owner decides what to lose), -ENOMEM.
 */
int reqsrv_send(struct reqsrv *s, struct reqsrv_client *c, const char *data, size_t len);

#endif /* XLB_REQSRV_H */
