/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's side of the control socket: accepts xlbctl connections, reads one request each (see
 * proto.h), runs the command through a handler and writes the reply back, without ever blocking.
 *
 * The server owns an epoll fd holding its listening socket, its clients and a timer; the daemon
 * adds that one fd (server_fd()) to its own epoll set and calls server_dispatch() whenever it is
 * readable. One slow or stuck client never holds up the daemon: all socket I/O is non-blocking,
 * requests are bounded (PROTO_MAX_REQUEST), a client is dropped when idle for SERVER_IDLE_MS or
 * when sending its request (or taking its reply) lasts SERVER_LIFETIME_MS, and at most
 * SERVER_MAX_CLIENTS are served at once.
 *
 * Only root, or a member of group "xlb" when that group exists, may run commands; anyone else
 * is answered "permission denied" (status 1). The socket is mode 0600, or 0660 and owned by group
 * xlb when that group exists, so that its members can reach it at all.
 */
#ifndef XLB_SERVER_H
#define XLB_SERVER_H

#include "output.h"

#define SERVER_IDLE_MS		5000
#define SERVER_LIFETIME_MS	30000
#define SERVER_MAX_CLIENTS	64

/*
 * Run one command: argv without the program name, as xlbctl was given it (restore: the file's
 * content is one more argument, the last). Fill o (text or JSON as o says) and return the exit
 * status for xlbctl: 0 ok, 1 error, 2 usage. The handler runs inside server_dispatch().
 */
typedef int (*server_handler_fn)(void *ctx, int argc, char **argv, struct out *o);

struct server;

/*
 * Listen on path. Missing parent directories are created (0755). A socket file left by a daemon
 * that is gone (nobody accepts on it) is replaced; one a live daemon answers on is not
 * (-EADDRINUSE), nor anything at path that is not a socket (-EEXIST). -ENAMETOOLONG when path
 * does not fit a sockaddr_un. Returns 0 or -errno.
 */
int server_open(struct server **s, const char *path, server_handler_fn fn, void *ctx);

/* The fd to watch for EPOLLIN (it is an epoll fd: it nests in the caller's epoll set). */
int server_fd(const struct server *s);

/*
 * Do whatever is ready: accept, read, run complete requests, write replies, drop clients that
 * timed out. Never blocks. Returns 0, or -errno when the server's own epoll fails.
 */
int server_dispatch(struct server *s);

/* Drop every client and remove the socket file, unless another daemon has replaced it since. */
void server_close(struct server *s);

#endif /* XLB_SERVER_H */
