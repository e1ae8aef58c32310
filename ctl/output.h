/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Command output, text or JSON from one code path (iproute2's print_*(PRINT_ANY, ...) idea),
 * written into a growable memory buffer that xlbd sends back to xlbctl.
 *
 * Every value carries a JSON key and a text format: in text mode the format is printed with the
 * value (nothing when it is NULL, for JSON-only fields) and the key is ignored; in JSON mode the
 * key is written with the value and the format ignored. Keys are snake_case and carry units
 * ("interval_ms"); they are NULL inside arrays and for the top-level container.
 *
 * JSON is compact, ", " and ": " separated, one document per line: {"a": 1, "b": [true]}\n.
 * A keyed value or container at the top level opens an implicit object, so a command that prints
 * a few fields need not open one. out_data() closes whatever is still open.
 *
 * No function fails visibly: running out of memory (or nesting deeper than OUT_MAX_DEPTH) sets
 * a sticky error that out_err() reports, and later output is dropped.
 */
#ifndef XLB_OUTPUT_H
#define XLB_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#define OUT_MAX_DEPTH 32

struct out;

/* NULL with errno set when out of memory. */
struct out *out_new(bool json);
void out_free(struct out *o);
bool out_is_json(const struct out *o);
/* 0, or -ENOMEM / -E2BIG (too deep) when output was lost. */
int out_err(const struct out *o);

/*
 * The output so far, NUL-terminated (*len excludes the NUL). In JSON mode the open containers are
 * closed first and the document ends with a newline; no JSON is written at all when nothing was
 * output. Never NULL. After out_err() reports an error the text may be cut anywhere.
 */
const char *out_data(struct out *o, size_t *len);

void out_obj_open(struct out *o, const char *key);
void out_obj_close(struct out *o);
void out_arr_open(struct out *o, const char *key);
void out_arr_close(struct out *o);

/*
 * A NULL val is JSON null and "-" in text. Text gets val through out_escape(), JSON as a JSON
 * string (control characters as \u escapes): both are safe for a terminal whatever val holds.
 */
void out_str(struct out *o, const char *key, const char *text_fmt, const char *val);
void out_u64(struct out *o, const char *key, const char *text_fmt, unsigned long long val);
void out_s64(struct out *o, const char *key, const char *text_fmt, long long val);
/* text_fmt gets the string "true" or "false". */
void out_bool(struct out *o, const char *key, const char *text_fmt, bool val);
/* NaN and infinities have no JSON form: null. */
void out_double(struct out *o, const char *key, const char *text_fmt, double val);

/* Text mode only: headers, separators, newlines. */
void out_text(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Replace everything output so far with one error: "msg\n" in text (msg through out_escape()),
 * {"error": "msg"}\n in JSON.
 * Later output other than another out_error() is dropped, so a handler cannot append to it.
 */
void out_error(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * str as it may reach a terminal: control characters (C0, DEL, C1) and bytes that are not UTF-8
 * as \xNN, newline, tab and CR as \n, \t and \r (or as themselves with keep_lines, for logs),
 * a backslash as \\; valid printable UTF-8 stays. So no name, file line or backend's answer
 * quoted in a message can move the cursor, recolour or retitle the reader's terminal. A new
 * string to free(), NULL when out of memory.
 */
char *out_escape(const char *str, bool keep_lines);

#endif /* XLB_OUTPUT_H */
