/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's HTTP endpoint for Prometheus: GET (or HEAD) /metrics is answered
 * with whatever a render callback returns (prom.c), as text format 0.0.4;
 * another path gets 404, another method 405, a malformed request 400, one
 * whose headers pass METRICS_REQUEST_MAX bytes 431. Every reply says
 * "Connection: close" and is followed by closing the connection.
 *
 * It lives in xlbd's event loop like the control socket (server.h): one
 * epoll fd nests in the daemon's, all sockets are non-blocking, each client
 * has its own bounded request buffer and its reply is written as the socket
 * takes it. A client that sends nothing, trickles its request or does not
 * read its reply costs one slot and is dropped by its deadlines; it never
 * holds up the loop. When all slots are taken, the client that has been
 * reading a request longest makes room for the newcomer, so idle connections
 * cannot lock a scraper out.
 */
#ifndef XLB_METRICS_H
#define XLB_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

#define METRICS_REQUEST_MAX	8192	/* request line and headers */
#define METRICS_MAX_CLIENTS	32
#define METRICS_IDLE_MS		5000	/* without any progress */
#define METRICS_REQUEST_MS	10000	/* to send the whole request */
#define METRICS_REPLY_MS	30000	/* to take the whole reply */
#define METRICS_LINGER_MS	2000	/* after the reply, for the client to close */

/*
 * Produce the body of /metrics: *body malloc()ed (the server frees it),
 * *len its length. 0 or -errno (the scrape then gets a 500).
 */
typedef int (*metrics_render_fn)(void *ctx, char **body, size_t *len);

struct metrics;

/*
 * "127.0.0.1:9100" or "[::1]:9100": a numeric address, never a name, and a
 * port from 1 to 65535. No address stands for "all of them": that takes
 * 0.0.0.0 or [::] spelt out. -EINVAL with a reason in err otherwise.
 */
int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		       size_t errlen);

/* Listen on addr (as metrics_parse_addr() takes it). 0 or -errno. */
int metrics_open(struct metrics **m, const char *addr, metrics_render_fn fn, void *ctx);

/* The fd to watch for EPOLLIN: an epoll fd, it nests in the caller's set. */
int metrics_fd(const struct metrics *m);

/* Do whatever is ready and drop clients past their deadlines; never blocks. */
int metrics_dispatch(struct metrics *m);

void metrics_close(struct metrics *m);

#endif /* XLB_METRICS_H */
