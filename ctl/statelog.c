// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "statelog.h"

static unsigned long crc_of(const char *p, size_t len)
{
	return crc32(0, (const unsigned char *)p, len);
}

/* "CRC BODY\n" into buf: its length or -ENOSPC. */
static int log_line(char *buf, size_t len, const char *body, size_t body_len)
{
	int n;

	if (body_len + 10 > len)
		return -ENOSPC;
	n = snprintf(buf, len, "%08lx ", crc_of(body, body_len));
	memmove(buf + n, body, body_len);
	buf[n + body_len] = '\n';
	buf[n + body_len + 1] = '\0';
	return n + body_len + 1;
}

int statelog_change(const char *line, char *buf, size_t len)
{
	char body[STATELOG_LINE_MAX];
	int n = snprintf(body, sizeof(body), "+ %s", line);

	if (n >= (int)sizeof(body) || strchr(line, '\n'))
		return -ENOSPC;
	return log_line(buf, len, body, n);
}

int statelog_checkpoint(const char *text, size_t text_len, char *buf, size_t len)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "= %zu %08lx", text_len, crc_of(text, text_len));

	return log_line(buf, len, body, n);
}

static int append(struct statelog_replay *r, size_t *cap, const char *line, size_t n)
{
	char *p;

	if (r->len + n + 2 > *cap) {
		*cap = (*cap + n + 2) * 2;
		p = realloc(r->lines, *cap);
		if (!p)
			return -ENOMEM;
		r->lines = p;
	}
	memcpy(r->lines + r->len, line, n);
	r->len += n;
	r->lines[r->len++] = '\n';
	r->lines[r->len] = '\0';
	return 0;
}

int statelog_replay(const char *state, size_t state_len, const char *log, size_t log_len,
		    struct statelog_replay *r)
{
	char mine[64], *end;
	const char *p = log, *nl, *body;
	size_t cap = 0, body_len;
	unsigned long crc;
	int n = statelog_checkpoint(state, state_len, mine, sizeof(mine));

	memset(r, 0, sizeof(*r));
	/* The checkpoint's body: past "CRC ", without the newline. */
	body = mine + 9;
	body_len = n - 10;
	for (; p < log + log_len; p = nl + 1) {
		nl = memchr(p, '\n', log + log_len - p);
		crc = strtoul(p, &end, 16);
		if (!nl || end != p + 8 || *end != ' ' || crc != crc_of(end + 1, nl - end - 1)) {
			r->torn = true;
			break;
		}
		r->valid = nl + 1 - log;
		if (nl - end - 1 == (long)body_len && !memcmp(end + 1, body, body_len)) {
			/* Everything before is in the state file. */
			r->matched = true;
			r->len = 0;
			if (r->lines)
				r->lines[0] = '\0';
			r->changes = 0;
			continue;
		}
		/* Another file's checkpoint (a rewrite that was not renamed): changes go on. */
		if (end[1] != '+' || end[2] != ' ' || !r->matched)
			continue;
		if (append(r, &cap, end + 3, nl - end - 3)) {
			statelog_replay_free(r);
			return -ENOMEM;
		}
		r->changes++;
	}
	return 0;
}

void statelog_replay_free(struct statelog_replay *r)
{
	free(r->lines);
	r->lines = NULL;
	r->len = 0;
	r->changes = 0;
}
