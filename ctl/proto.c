// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define PROTO_STATUS_MAX 255	/* what an exit status can carry */

/*
 * "xlb1 NAME=N\n" with N decimal, no sign and no leading zero, at most max. Returns the length of
 * the line, -EAGAIN when data ends before a newline could have come, -EINVAL otherwise.
 */
static int proto_header_parse(const char *data, size_t len, const char *name, unsigned int max,
			      unsigned int *val)
{
	char prefix[PROTO_HEADER_MAX];
	const char *nl, *p;
	unsigned int v = 0;
	int plen;

	nl = memchr(data, '\n', len < PROTO_HEADER_MAX ? len : PROTO_HEADER_MAX);
	if (!nl)
		return len < PROTO_HEADER_MAX ? -EAGAIN : -EINVAL;
	plen = snprintf(prefix, sizeof(prefix), PROTO_VERSION " %s=", name);
	if (nl - data <= plen || memcmp(data, prefix, plen))
		return -EINVAL;
	p = data + plen;
	if (*p == '0' && p + 1 != nl)
		return -EINVAL;
	for (; p < nl; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*val = v;
	return nl + 1 - data;
}

static int proto_header_write(char *buf, const char *name, unsigned int val)
{
	return snprintf(buf, PROTO_HEADER_MAX, PROTO_VERSION " %s=%u\n", name, val);
}

int proto_request_encode(int argc, char **argv, bool json, char **out, size_t *len)
{
	char header[PROTO_HEADER_MAX];
	size_t total, n;
	int hlen, i;
	char *buf, *p;

	if (argc < 0 || argc > PROTO_MAX_ARGS)
		return -EINVAL;
	hlen = proto_header_write(header, "json", json);
	/* Each term is at most PROTO_MAX_REQUEST + 1 when checked, so the sum cannot wrap. */
	total = hlen;
	for (i = 0; i < argc; i++) {
		total += strnlen(argv[i], PROTO_MAX_REQUEST) + 1;
		if (total > PROTO_MAX_REQUEST)
			return -E2BIG;
	}
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, header, hlen);
	p = buf + hlen;
	for (i = 0; i < argc; i++) {
		n = strlen(argv[i]) + 1;
		memcpy(p, argv[i], n);
		p += n;
	}
	*out = buf;
	*len = total;
	return 0;
}

int proto_request_header(const char *data, size_t len, bool *json)
{
	unsigned int v;
	int hlen;

	hlen = proto_header_parse(data, len, "json", 1, &v);
	if (hlen < 0)
		return hlen;
	*json = v;
	return 0;
}

int proto_request_decode(char *data, size_t len, int *argc, char ***argv, bool *json)
{
	char *p, *end = data + len, *nul;
	unsigned int v;
	char **args;
	int hlen, n = 0;

	if (len > PROTO_MAX_REQUEST)
		return -EINVAL;
	hlen = proto_header_parse(data, len, "json", 1, &v);
	if (hlen < 0)
		return -EINVAL;
	/* Every argument ends with its NUL: a request cut short never passes for a whole one. */
	if ((size_t)hlen < len && end[-1] != '\0')
		return -EINVAL;
	for (p = data + hlen; p < end; p = nul + 1) {
		nul = memchr(p, '\0', end - p);
		if (++n > PROTO_MAX_ARGS)
			return -EINVAL;
	}
	args = calloc(n + 1, sizeof(*args));
	if (!args)
		return -ENOMEM;
	n = 0;
	for (p = data + hlen; p < end; p += strlen(p) + 1)
		args[n++] = p;
	*argc = n;
	*argv = args;
	*json = v;
	return 0;
}

int proto_reply_encode(int status, const char *body, size_t body_len, char **out, size_t *len)
{
	char header[PROTO_HEADER_MAX];
	char *buf;
	int hlen;

	if (status < 0 || status > PROTO_STATUS_MAX)
		return -EINVAL;
	hlen = proto_header_write(header, "status", status);
	if (body_len > PROTO_MAX_REPLY - hlen)
		return -E2BIG;
	buf = malloc(hlen + body_len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, header, hlen);
	if (body_len)
		memcpy(buf + hlen, body, body_len);
	*out = buf;
	*len = hlen + body_len;
	return 0;
}

int proto_reply_decode(const char *data, size_t len, int *status, const char **body,
		       size_t *body_len)
{
	unsigned int v;
	int hlen;

	if (len > PROTO_MAX_REPLY)
		return -EINVAL;
	hlen = proto_header_parse(data, len, "status", PROTO_STATUS_MAX, &v);
	if (hlen < 0)
		return -EINVAL;
	*status = v;
	*body = data + hlen;
	*body_len = len - hlen;
	return 0;
}
