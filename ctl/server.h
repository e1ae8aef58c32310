/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's side of the control socket: accepts xlbctl connections, reads one request each (see
 * proto.h), runs the command through a handler and writes the reply back, without ever blocking.
 *
 * The server owns an epoll fd holding its listening socket, its clients and a timer; the daemon
 * adds that one fd (server_fd()) to its own epoll set and calls server_dispatch() whenever it is
 * readable. The engine is reqsrv.h's: one slow or stuck client never holds up the daemon, all
 * socket I/O is non-blocking, requests are bounded (PROTO_MAX_REQUEST) and must be whole within
 * SERVER_REQUEST_MS (xlbctl sends its request at once: only a stuck or hostile peer is slower),
 * and when all SERVER_MAX_CLIENTS slots are taken, the client that has been sending its request
 * longest is dropped to make room, so that an admin's command always gets through. Only when
 * every slot is busy with a reply is a newcomer told "xlbd is busy".
 *
 * Only root, or a member of group "xlb" when that group exists, may run commands; anyone else
 * is answered "permission denied" (status 1). The socket is mode 0600, or 0660 and owned by group
 * xlb when that group exists, so that its members can reach it at all.
 */
#ifndef XLB_SERVER_H
#define XLB_SERVER_H

#include "output.h"

struct reqsrv_client;

#define SERVER_IDLE_MS		2000	/* without progress, reading or writing */
#define SERVER_REQUEST_MS	3000	/* from connect to the whole request */
#define SERVER_REPLY_MS		30000	/* to take the whole reply */
#define SERVER_LINGER_MS	2000	/* after the reply, for xlbctl to close */
#define SERVER_MAX_CLIENTS	64

/* A handler's answer that it kept the call (server_hold()) to finish it later. */
#define SERVER_HELD		1000

/* One request being answered: the handler's handle to keep it for later. */
struct server_call {
	struct server *s;
	struct reqsrv_client *c;
	void (*gone)(void *arg);
	void *arg;
};

/*
 * Run one command: argv without the program name, as xlbctl was given it (restore: the file's
 * content is one more argument, the last). Fill o (text or JSON as o says) and return the exit
 * status for xlbctl: 0 ok, 1 error, 2 usage; or SERVER_HELD after server_hold(). The handler
 * runs inside server_dispatch().
 */
typedef int (*server_handler_fn)(void *ctx, struct server_call *call, int argc, char **argv,
				 struct out *o);

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

/*
 * Keep call for an answer that takes more than one turn of the loop (a walk of a big map, in
 * slices). Returns the kept call (NULL: no memory, answer now instead). gone(arg) is called if
 * xlbctl disconnects first; the call is freed then and must not be used after.
 */
struct server_call *server_hold(struct server_call *call, void (*gone)(void *arg), void *arg);
/* Answer a kept call with status and o (o stays the caller's); frees the call. */
void server_finish(struct server_call *call, int status, struct out *o);

/*
 * A kept call's reply as a stream (trace): the status line (always 0) now, then the body as it
 * comes. -ENOBUFS when the client does not keep up (the caller counts what it loses), -EPIPE
 * when it is gone. server_stream_end() sends the last bytes, closes and frees the call.
 */
int server_stream_begin(struct server_call *call);
int server_stream_send(struct server_call *call, const char *data, size_t len);
void server_stream_end(struct server_call *call, const char *tail, size_t len);

#endif /* XLB_SERVER_H */
