// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define OUT_INITIAL_CAP 256

struct out {
	char *buf;		/* always NUL-terminated */
	size_t len;
	size_t cap;
	int err;		/* sticky: -ENOMEM or -E2BIG */
	bool json;
	bool failed;		/* out_error() was called: drop everything else */
	int depth;		/* open containers; 0 is the top level */
	uint64_t is_array;	/* bit d: the container at depth d is an array */
	uint64_t has_items;	/* bit d: the container at depth d has an item: a comma is due */
};

_Static_assert(OUT_MAX_DEPTH < 64, "nesting state is a 64-bit mask per depth");

struct out *out_new(bool json)
{
	struct out *o;

	o = calloc(1, sizeof(*o));
	if (!o)
		goto err;
	o->buf = malloc(OUT_INITIAL_CAP);
	if (!o->buf)
		goto err_free;
	o->buf[0] = '\0';
	o->cap = OUT_INITIAL_CAP;
	o->json = json;
	return o;

err_free:
	free(o);
err:
	errno = ENOMEM;
	return NULL;
}

void out_free(struct out *o)
{
	if (!o)
		return;
	free(o->buf);
	free(o);
}

bool out_is_json(const struct out *o)
{
	return o->json;
}

int out_err(const struct out *o)
{
	return o->err;
}

static bool out_live(const struct out *o)
{
	return !o->err && !o->failed;
}

/* Room for n more bytes and the NUL. */
static int out_reserve(struct out *o, size_t n)
{
	size_t need = o->len + n + 1, cap = o->cap;
	char *buf;

	if (need <= o->cap)
		return 0;
	if (need < o->len) /* overflow */
		goto err;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	buf = realloc(o->buf, cap);
	if (!buf)
		goto err;
	o->buf = buf;
	o->cap = cap;
	return 0;

err:
	o->err = -ENOMEM;
	return -ENOMEM;
}

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->err || out_reserve(o, n))
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void out_vputf(struct out *o, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	if (o->err)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n >= o->cap - o->len) {
		if (out_reserve(o, n))
			return;
		vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	}
	o->len += n;
}

static void out_putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_putf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vputf(o, fmt, ap);
	va_end(ap);
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), 0 if there is none. The NUL terminator fails every continuation test,
 * so a truncated sequence never reads past the string.
 */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		lo = s[0] == 0xe0 ? 0xa0 : lo;
		hi = s[0] == 0xed ? 0x9f : hi;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		lo = s[0] == 0xf0 ? 0x90 : lo;
		hi = s[0] == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A C1 control character (U+0080-U+009F), which some terminals obey like ESC [. */
static bool is_c1(const unsigned char *s)
{
	return s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

char *out_escape(const char *str, bool keep_lines)
{
	const unsigned char *s = (const unsigned char *)str;
	char *buf = malloc(strlen(str) * 4 + 1), *p = buf;
	size_t n;

	if (!buf)
		return NULL;
	while (*s) {
		if ((*s == '\n' || *s == '\t') && keep_lines) {
			*p++ = *s++;
		} else if (*s == '\\' || *s == '\n' || *s == '\t' || *s == '\r') {
			*p++ = '\\';
			*p++ = *s == '\n' ? 'n' : *s == '\t' ? 't' : *s == '\r' ? 'r' : '\\';
			s++;
		} else if (*s >= 0x20 && *s < 0x7f) {
			*p++ = *s++;
		} else if (*s >= 0x80 && !is_c1(s) && (n = utf8_seq_len(s))) {
			memcpy(p, s, n);
			p += n;
			s += n;
		} else {
			/* Byte by byte: a C1 character is two escapes, as UTF-8 holds it. */
			p += sprintf(p, "\\x%02x", *s++);
		}
	}
	*p = '\0';
	return buf;
}

/*
 * A JSON string. Names and messages can hold anything a user typed (an interface name, a file's
 * line), so bytes that are not UTF-8 become U+FFFD rather than making the document invalid.
 */
static void out_json_str(struct out *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run, n;

	out_put(o, "\"", 1);
	while (*s) {
		for (run = 0; s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\';
		     run++)
			;
		out_put(o, (const char *)s, run);
		s += run;
		if (!*s)
			break;
		if (*s == '"' || *s == '\\') {
			out_putf(o, "\\%c", *s);
			n = 1;
		} else if (*s == '\n') {
			out_puts(o, "\\n");
			n = 1;
		} else if (*s == '\t') {
			out_puts(o, "\\t");
			n = 1;
		} else if (*s < 0x20 || *s == 0x7f) {
			out_putf(o, "\\u%04x", *s);
			n = 1;
		} else if (is_c1(s)) {
			/* Valid JSON raw, but a terminal showing `xlbctl -j` may act on it. */
			out_putf(o, "\\u%04x", s[1]);
			n = 2;
		} else {
			n = utf8_seq_len(s);
			if (n)
				out_put(o, (const char *)s, n);
			else
				out_puts(o, "\\ufffd");
			n = n ?: 1;
		}
		s += n;
	}
	out_put(o, "\"", 1);
}

#define DEPTH_BIT(d) (1ULL << (d))

/* A finished top-level value is a line of its own. */
static void out_json_end(struct out *o)
{
	if (o->depth == 0)
		out_put(o, "\n", 1);
}

/*
 * Comma and key before a JSON value. A key at the top level opens the implicit object; inside
 * an array the key is meaningless and left out.
 */
static void out_json_begin(struct out *o, const char *key)
{
	if (o->depth == 0 && key) {
		out_put(o, "{", 1);
		o->depth = 1;
		o->is_array &= ~DEPTH_BIT(1);
		o->has_items &= ~DEPTH_BIT(1);
	}
	if (o->depth == 0)
		return;
	if (o->has_items & DEPTH_BIT(o->depth))
		out_put(o, ", ", 2);
	o->has_items |= DEPTH_BIT(o->depth);
	if (o->is_array & DEPTH_BIT(o->depth))
		return;
	out_json_str(o, key ?: "");
	out_put(o, ": ", 2);
}

static void out_open(struct out *o, const char *key, bool array)
{
	if (!o->json || !out_live(o))
		return;
	out_json_begin(o, key);
	if (o->depth + 1 > OUT_MAX_DEPTH) {
		o->err = -E2BIG;
		return;
	}
	out_put(o, array ? "[" : "{", 1);
	o->depth++;
	if (array)
		o->is_array |= DEPTH_BIT(o->depth);
	else
		o->is_array &= ~DEPTH_BIT(o->depth);
	o->has_items &= ~DEPTH_BIT(o->depth);
}

/* Close what is open, whatever the caller asked for: the document stays well-formed. */
static void out_close(struct out *o)
{
	if (!o->json || !out_live(o) || o->depth == 0)
		return;
	out_put(o, (o->is_array & DEPTH_BIT(o->depth)) ? "]" : "}", 1);
	o->depth--;
	out_json_end(o);
}

void out_obj_open(struct out *o, const char *key)
{
	out_open(o, key, false);
}

void out_obj_close(struct out *o)
{
	out_close(o);
}

void out_arr_open(struct out *o, const char *key)
{
	out_open(o, key, true);
}

void out_arr_close(struct out *o)
{
	out_close(o);
}

const char *out_data(struct out *o, size_t *len)
{
	while (o->json && out_live(o) && o->depth > 0)
		out_close(o);
	if (len)
		*len = o->len;
	return o->buf;
}

/* The text side of a value: the caller's format, when there is one. */
static void out_text_value(struct out *o, const char *text_fmt, ...)
{
	va_list ap;

	if (!text_fmt || !out_live(o))
		return;
	va_start(ap, text_fmt);
	out_vputf(o, text_fmt, ap);
	va_end(ap);
}

/* The JSON side of a value already in its JSON form. */
static void out_json_raw(struct out *o, const char *key, const char *raw)
{
	if (!out_live(o))
		return;
	out_json_begin(o, key);
	out_puts(o, raw);
	out_json_end(o);
}

void out_str(struct out *o, const char *key, const char *text_fmt, const char *val)
{
	char *esc;

	if (!o->json) {
		if (!text_fmt || !out_live(o))
			return;
		esc = out_escape(val ?: "-", false);
		if (!esc)
			o->err = -ENOMEM;
		else
			out_text_value(o, text_fmt, esc);
		free(esc);
		return;
	}
	if (!val) {
		out_json_raw(o, key, "null");
		return;
	}
	if (!out_live(o))
		return;
	out_json_begin(o, key);
	out_json_str(o, val);
	out_json_end(o);
}

void out_u64(struct out *o, const char *key, const char *text_fmt, unsigned long long val)
{
	char num[24];

	if (!o->json) {
		out_text_value(o, text_fmt, val);
		return;
	}
	snprintf(num, sizeof(num), "%llu", val);
	out_json_raw(o, key, num);
}

void out_s64(struct out *o, const char *key, const char *text_fmt, long long val)
{
	char num[24];

	if (!o->json) {
		out_text_value(o, text_fmt, val);
		return;
	}
	snprintf(num, sizeof(num), "%lld", val);
	out_json_raw(o, key, num);
}

void out_bool(struct out *o, const char *key, const char *text_fmt, bool val)
{
	const char *word = val ? "true" : "false";

	if (!o->json)
		out_text_value(o, text_fmt, word);
	else
		out_json_raw(o, key, word);
}

void out_double(struct out *o, const char *key, const char *text_fmt, double val)
{
	char num[32];

	if (!o->json) {
		out_text_value(o, text_fmt, val);
		return;
	}
	/* 15 significant digits print 0.1 as 0.1 and still tell any two shares apart. */
	if (isfinite(val))
		snprintf(num, sizeof(num), "%.15g", val);
	else
		strcpy(num, "null");
	out_json_raw(o, key, num);
}

void out_text(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json || !out_live(o))
		return;
	va_start(ap, fmt);
	out_vputf(o, fmt, ap);
	va_end(ap);
}

void out_error(struct out *o, const char *fmt, ...)
{
	char *msg = NULL, *esc;
	va_list ap;
	int n;

	/* Start over in the buffer we have: an error must get out even when memory ran short. */
	o->len = 0;
	o->buf[0] = '\0';
	o->depth = 0;
	o->err = 0;
	o->failed = false;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	if (n < 0) {
		msg = NULL;
		o->err = -ENOMEM;
		goto out;
	}
	if (!o->json) {
		/* Messages quote what was typed or read: a name, a word of a file. */
		esc = out_escape(msg, false);
		if (!esc) {
			o->err = -ENOMEM;
			goto out;
		}
		out_puts(o, esc);
		out_put(o, "\n", 1);
		free(esc);
		goto out;
	}
	out_json_begin(o, "error");
	out_json_str(o, msg);
	out_close(o);
out:
	va_end(ap);
	free(msg);
	o->failed = true;
}
