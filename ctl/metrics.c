// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "log.h"
#include "metrics.h"
#include "reqsrv.h"

#define METRICS_BACKLOG		64

/* The exposition format Prometheus asks for first and every version reads. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"


struct metrics {
	struct reqsrv *rs;
	metrics_render_fn fn;
	void *ctx;
};

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

static void on_request(void *ctx, struct reqsrv_client *c, enum reqsrv_event ev);

static const struct reqsrv_ops metrics_ops = {
	.request = on_request,
	.busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	.name = "metrics",
};

static const struct reqsrv_limits metrics_limits = {
	.max_clients = METRICS_MAX_CLIENTS,
	.request_max = METRICS_REQUEST_MAX,
	.idle_ms = METRICS_IDLE_MS,
	.request_ms = METRICS_REQUEST_MS,
	.reply_ms = METRICS_REPLY_MS,
	.linger_ms = METRICS_LINGER_MS,
};

int metrics_open(struct metrics **mp, const char *addr, metrics_render_fn fn, void *ctx)
{
	struct sockaddr_storage ss;
	struct metrics *m;
	socklen_t len;
	int lfd, one = 1, err;

	err = metrics_parse_addr(addr, &ss, &len, NULL, 0);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->ctx = ctx;
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		err = -errno;
		goto err_free;
	}
	/*
	 * We close first, so the TIME_WAITs are ours: without this a restarted
	 * xlbd could not bind for a minute. A live listener still refuses it.
	 */
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&ss, len) || listen(lfd, METRICS_BACKLOG)) {
		err = -errno;
		close(lfd);
		goto err_free;
	}
	err = reqsrv_open(&m->rs, lfd, &metrics_limits, &metrics_ops, m);
	if (err)
		goto err_free;
	*mp = m;
	return 0;

err_free:
	free(m);
	return err;
}

int metrics_fd(const struct metrics *m)
{
	return reqsrv_fd(m->rs);
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
 * Send status with body (not for HEAD). A body of NULL is the status's own one-line text. The
 * client is dropped when there is no memory.
 */
static void reply(struct metrics *m, struct reqsrv_client *c, int status, const char *body,
		  size_t blen, bool head)
{
	char hdr[256], text[64];
	size_t len;
	char *buf;
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
	len = hlen + (head ? 0 : blen);
	buf = malloc(len);
	if (buf) {
		memcpy(buf, hdr, hlen);
		if (!head)
			memcpy(buf + hlen, body, blen);
	} else {
		len = 0;
	}
	reqsrv_reply(m->rs, c, buf, len);
}

/* The request line is "METHOD TARGET VERSION", single spaces, nothing empty. */
static void answer(struct metrics *m, struct reqsrv_client *c)
{
	char *line = c->buf, *eol = memchr(c->buf, '\n', c->len);
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

/*
 * Whole when the empty line after the headers has come. Empty lines before the request line
 * are allowed (RFC 9112, 2.2).
 */
static void on_request(void *ctx, struct reqsrv_client *c, enum reqsrv_event ev)
{
	struct metrics *m = ctx;
	size_t skip;

	if (ev == REQSRV_FULL) {
		reply(m, c, 431, NULL, 0, false);
		return;
	}
	if (ev == REQSRV_EOF)
		return; /* done sending before the request was whole */
	for (skip = 0; skip < c->len && (c->buf[skip] == '\r' || c->buf[skip] == '\n');)
		skip++;
	if (skip) {
		memmove(c->buf, c->buf + skip, c->len - skip);
		c->len -= skip;
		c->mark = 0;
	}
	if (headers_end(c->buf, c->len, c->mark)) {
		answer(m, c);
		return;
	}
	c->mark = c->len >= 2 ? c->len - 2 : 0;
}

int metrics_dispatch(struct metrics *m)
{
	return reqsrv_dispatch(m->rs);
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	reqsrv_close(m->rs);
	free(m);
}
