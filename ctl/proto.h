/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The wire format between xlbctl and xlbd: one command per connection on a Unix stream socket.
 *
 * Request: "xlb1 json=0\n" or "xlb1 json=1\n", then each argument of the command (argv without
 * the program name) followed by a NUL byte; the client then shuts down its sending side, which is
 * how the server knows the request is complete. `restore` carries the file's content as one more
 * argument, so the daemon never opens a client's files.
 *
 * Reply: "xlb1 status=N\n" (N the exit status: 0 ok, 1 error, 2 usage, at most 255), then the body,
 * exactly what the client prints; the server then closes.
 *
 * The functions below work on memory only. Decoding is strict and bounded: anything but the
 * exact form above is -EINVAL.
 */
#ifndef XLB_PROTO_H
#define XLB_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define PROTO_VERSION		"xlb1"
#define PROTO_MAX_ARGS		4096
#define PROTO_MAX_REQUEST	(16U << 20)	/* bytes, header included: a restore file fits */
#define PROTO_MAX_REPLY		(64U << 20)	/* `stats -j` of thousands of VIPs, with room */
#define PROTO_HEADER_MAX	32		/* longest header line, newline included */

/* Who may run commands, in the words of xlbd (a refused peer) and xlbctl (a refused connect). */
#define PROTO_GROUP		"xlb"
#define PROTO_ACCESS_HINT	"xlbctl needs root (or membership of group " PROTO_GROUP ")"

/*
 * Build a request in a new buffer (*out, free() it). -EINVAL for argc out of 0..PROTO_MAX_ARGS,
 * -E2BIG when it would exceed PROTO_MAX_REQUEST, -ENOMEM.
 */
int proto_request_encode(int argc, char **argv, bool json, char **out, size_t *len);

/*
 * Parse a complete request in place: the arguments stay in data, *argv is a new NULL-terminated
 * array of pointers into it (free() it, not its strings); data itself is left as it is.
 */
int proto_request_decode(char *data, size_t len, int *argc, char ***argv, bool *json);

/*
 * Only the header line of a request, which may be incomplete: *json as asked, so that a server
 * can answer a request it refuses in the form the client expects. -EAGAIN when more bytes are
 * needed to tell, -EINVAL when they cannot make a header.
 */
int proto_request_header(const char *data, size_t len, bool *json);

/* Build a reply in a new buffer (*out, free() it). -EINVAL for a bad status, -E2BIG, -ENOMEM. */
int proto_reply_encode(int status, const char *body, size_t body_len, char **out, size_t *len);

/* Parse a complete reply: *body points into data, body_len bytes, not NUL-terminated. */
int proto_reply_decode(const char *data, size_t len, int *status, const char **body,
		       size_t *body_len);

#endif /* XLB_PROTO_H */
