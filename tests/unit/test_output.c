// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Output writer: the exact JSON text of nested containers, string escaping, text mode from the
 * same calls, errors that replace everything, and what happens when memory runs out.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include "check.h"

#include "output.h"


#ifndef __SANITIZE_ADDRESS__
/*
 * realloc() that fails on demand: the writer grows its buffer only through realloc, so this
 * is how a test runs it out of memory. ASan has its own allocator, so the test is left out there.
 */
void *__libc_realloc(void *ptr, size_t size);
static bool realloc_fails;

void *realloc(void *ptr, size_t size)
{
	if (realloc_fails)
		return NULL;
	return __libc_realloc(ptr, size);
}
#endif

static struct out *new_out(bool json)
{
	struct out *o = out_new(json);

	assert_non_null(o);
	return o;
}

/* Compare the whole output, and check out_data()'s length agrees with the text. */
static void expect(struct out *o, const char *want)
{
	size_t len;
	const char *got = out_data(o, &len);

	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	assert_int_equal(out_err(o), 0);
}

/* The shape of `vip show`: an object holding scalars, an array of objects and an object. */
static void emit_vip(struct out *o)
{
	static const char *const addrs[] = {"10.0.0.1", "10.0.0.2"};
	size_t i;

	out_obj_open(o, NULL);
	out_str(o, "service", "vip %s", "10.0.0.10:80/tcp");
	out_str(o, "method", " method %s\n", "ipip");
	out_arr_open(o, "backends");
	for (i = 0; i < ARRAY_SIZE(addrs); i++) {
		out_obj_open(o, NULL);
		out_str(o, "addr", "  %-15s", addrs[i]);
		out_u64(o, "weight", " weight %llu", i + 1);
		out_bool(o, "up", " up %s", i == 0);
		out_double(o, "ring_share", " share %.1f%%\n", i ? 66.5 : 33.5);
		out_obj_close(o);
	}
	out_arr_close(o);
	out_obj_open(o, "health");
	out_str(o, "type", NULL, "tcp");
	out_u64(o, "interval_ms", NULL, 1000);
	out_obj_close(o);
	out_obj_close(o);
}

static void test_json_nested(void **state)
{
	struct out *o = new_out(true);

	emit_vip(o);
	expect(o, "{\"service\": \"10.0.0.10:80/tcp\", \"method\": \"ipip\", \"backends\": ["
		  "{\"addr\": \"10.0.0.1\", \"weight\": 1, \"up\": true, \"ring_share\": 33.5}, "
		  "{\"addr\": \"10.0.0.2\", \"weight\": 2, \"up\": false, \"ring_share\": 66.5}], "
		  "\"health\": {\"type\": \"tcp\", \"interval_ms\": 1000}}\n");
	out_free(o);
}

static void test_text_same_calls(void **state)
{
	struct out *o = new_out(false);

	emit_vip(o);
	out_text(o, "%d backends\n", 2);
	expect(o, "vip 10.0.0.10:80/tcp method ipip\n"
		  "  10.0.0.1        weight 1 up true share 33.5%\n"
		  "  10.0.0.2        weight 2 up false share 66.5%\n"
		  "2 backends\n");
	out_free(o);
}

static void test_json_empty_and_arrays(void **state)
{
	struct out *o = new_out(true);

	expect(o, "");
	out_arr_open(o, NULL);
	out_u64(o, NULL, NULL, 1);
	out_arr_open(o, NULL);
	out_arr_close(o);
	out_obj_open(o, NULL);
	out_obj_close(o);
	out_s64(o, "ignored_in_arrays", NULL, -2);
	out_str(o, NULL, NULL, NULL);
	out_arr_close(o);
	expect(o, "[1, [], {}, -2, null]\n");
	out_free(o);
}

static void test_json_implicit_object(void **state)
{
	struct out *o = new_out(true);

	out_u64(o, "uptime_s", "up %llus\n", 42);
	out_arr_open(o, "interfaces");
	out_str(o, NULL, NULL, "eth0");
	/* out_data() closes the array and the object nobody opened explicitly. */
	expect(o, "{\"uptime_s\": 42, \"interfaces\": [\"eth0\"]}\n");
	out_free(o);
}

static void test_json_numbers(void **state)
{
	struct out *o = new_out(true);

	out_u64(o, "max", NULL, UINT64_MAX);
	out_s64(o, "min", NULL, INT64_MIN);
	out_double(o, "tenth", NULL, 0.1);
	out_double(o, "big", NULL, 1e300);
	out_double(o, "nan", NULL, NAN);
	out_double(o, "inf", NULL, -INFINITY);
	expect(o, "{\"max\": 18446744073709551615, \"min\": -9223372036854775808, "
		  "\"tenth\": 0.1, \"big\": 1e+300, \"nan\": null, \"inf\": null}\n");
	out_free(o);
}

struct escape_case {
	const char *in;
	const char *want;	/* the JSON string, quotes included */
};

static void test_json_escaping(void **state)
{
	static const struct escape_case cases[] = {
		{"plain", "\"plain\""},
		{"say \"hi\"", "\"say \\\"hi\\\"\""},
		{"C:\\dir\\", "\"C:\\\\dir\\\\\""},
		{"line 1\nline 2\tend", "\"line 1\\nline 2\\tend\""},
		{"\x01\x1f\r\x7f", "\"\\u0001\\u001f\\u000d\\u007f\""},
		{"\x1b[31mRED\x1b[0m", "\"\\u001b[31mRED\\u001b[0m\""},
		/* C1 controls (CSI is U+009B) are escaped, the next character is not. */
		{"\xc2\x9b" "2J \xc2\x80\xc2\x9f\xc2\xa0", "\"\\u009b2J \\u0080\\u009f\xc2\xa0\""},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
		{"bad \xff byte", "\"bad \\ufffd byte\""},
		{"cut \xc3", "\"cut \\ufffd\""},
		{"cut \xe2\x82", "\"cut \\ufffd\\ufffd\""},
		{"overlong \xc0\xaf", "\"overlong \\ufffd\\ufffd\""},
		{"overlong \xe0\x80\xaf", "\"overlong \\ufffd\\ufffd\\ufffd\""},
		{"surrogate \xed\xa0\x80", "\"surrogate \\ufffd\\ufffd\\ufffd\""},
		{"too big \xf4\x90\x80\x80", "\"too big \\ufffd\\ufffd\\ufffd\\ufffd\""},
		{"", "\"\""},
	};
	char want[256];
	struct out *o;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		o = new_out(true);
		out_str(o, NULL, NULL, cases[i].in);
		snprintf(want, sizeof(want), "%s\n", cases[i].want);
		expect(o, want);
		out_free(o);
	}

	/* Keys go through the same escaping. */
	o = new_out(true);
	out_bool(o, "odd\"key", NULL, true);
	expect(o, "{\"odd\\\"key\": true}\n");
	out_free(o);
}

static void test_text_mode(void **state)
{
	struct out *o = new_out(false);

	out_obj_open(o, "ignored");
	out_str(o, "name", "name %s", "vip");
	out_str(o, "json_only", NULL, "hidden");
	out_str(o, "missing", " missing %s", NULL);
	out_u64(o, "n", " n %llu", 7);
	out_s64(o, "d", " d %lld", -7);
	out_bool(o, "b", " b %s", false);
	out_double(o, "x", " x %.2f", 2.5);
	out_text(o, "\n%s\n", "--");
	out_obj_close(o);
	expect(o, "name vip missing - n 7 d -7 b false x 2.50\n--\n");
	assert_false(out_is_json(o));
	out_free(o);
}

static void test_text_grows(void **state)
{
	struct out *o = new_out(false);
	const char *data;
	size_t len, i;

	for (i = 0; i < 10000; i++)
		out_u64(o, NULL, "%06llu\n", i);
	data = out_data(o, &len);
	assert_int_equal(len, 10000 * 7);
	assert_memory_equal(data, "000000\n000001\n", 14);
	assert_memory_equal(data + len - 7, "009999\n", 7);
	out_free(o);
}

static void test_error_text(void **state)
{
	struct out *o = new_out(false);

	out_text(o, "partial output\n");
	out_error(o, "no such VIP %s", "10.0.0.10:80/tcp");
	out_text(o, "dropped\n");
	out_u64(o, "dropped", "%llu", 1);
	expect(o, "no such VIP 10.0.0.10:80/tcp\n");
	out_error(o, "second %s", "error");
	expect(o, "second error\n");
	out_free(o);
}

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		const char *want;		/* all escaped */
		const char *want_lines;		/* keep_lines */
	} cases[] = {
		{ "plain 10.0.0.1:80/tcp", "plain 10.0.0.1:80/tcp", "plain 10.0.0.1:80/tcp" },
		{ "\x1b[31mRED\x1b[0m", "\\x1b[31mRED\\x1b[0m", "\\x1b[31mRED\\x1b[0m" },
		{ "a\nb\tc\rd", "a\\nb\\tc\\rd", "a\nb\tc\\rd" },
		{ "back\\slash", "back\\\\slash", "back\\\\slash" },
		{ "\x01\x07\x08\x7f", "\\x01\\x07\\x08\\x7f", "\\x01\\x07\\x08\\x7f" },
		/* UTF-8 stays, but not its C1 controls (CSI) or bytes that are not UTF-8. */
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac",
		  "caf\xc3\xa9 \xe2\x82\xac" },
		{ "\xc2\x9b" "2J", "\\xc2\\x9b2J", "\\xc2\\x9b2J" },
		{ "bad \xff \xc3", "bad \\xff \\xc3", "bad \\xff \\xc3" },
		{ "", "", "" },
	};
	char *got;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		got = out_escape(cases[i].in, false);
		assert_non_null(got);
		assert_string_equal(got, cases[i].want);
		free(got);
		got = out_escape(cases[i].in, true);
		assert_non_null(got);
		assert_string_equal(got, cases[i].want_lines);
		free(got);
	}
}

/* Text output never carries a control character from a value or a message's argument. */
static void test_text_escaped(void **state)
{
	struct out *o = new_out(false);

	out_str(o, "service", "vip %s\n", "\x1b]0;title\x07");
	out_str(o, "error", "  last error: %s\n", "HTTP 500 \x1b[2J\r\n");
	expect(o, "vip \\x1b]0;title\\x07\n  last error: HTTP 500 \\x1b[2J\\r\\n\n");
	out_error(o, "unknown command '%s'", "\x1b[31mRED\x1b[0m\n");
	expect(o, "unknown command '\\x1b[31mRED\\x1b[0m\\n'\n");
	out_free(o);
}

static void test_error_json(void **state)
{
	struct out *o = new_out(true);

	/* Deep inside containers: the error is a whole document of its own. */
	out_obj_open(o, NULL);
	out_arr_open(o, "vips");
	out_obj_open(o, NULL);
	out_error(o, "bad \"%s\"", "line\n");
	out_u64(o, "dropped", NULL, 1);
	out_obj_close(o);
	out_arr_close(o);
	expect(o, "{\"error\": \"bad \\\"line\\n\\\"\"}\n");
	assert_true(out_is_json(o));
	out_free(o);
}

static void test_mismatched_close(void **state)
{
	struct out *o = new_out(true);

	out_obj_close(o);
	out_obj_open(o, NULL);
	out_arr_close(o);
	out_arr_close(o);
	expect(o, "{}\n");
	out_free(o);
}

static void test_too_deep(void **state)
{
	struct out *o = new_out(true);
	int i;

	for (i = 0; i < OUT_MAX_DEPTH; i++)
		out_arr_open(o, NULL);
	assert_int_equal(out_err(o), 0);
	out_arr_open(o, NULL);
	assert_int_equal(out_err(o), -E2BIG);
	out_error(o, "too deep");
	expect(o, "{\"error\": \"too deep\"}\n");
	out_free(o);
}

static void test_out_of_memory(void **state)
{
#ifdef __SANITIZE_ADDRESS__
	skip();
#else
	struct out *o = new_out(true);
	const char *data;
	size_t len, i;

	out_arr_open(o, "items");
	realloc_fails = true;
	for (i = 0; i < 1000; i++)
		out_str(o, NULL, NULL, "a string that soon fills the first buffer");
	realloc_fails = false;
	assert_int_equal(out_err(o), -ENOMEM);
	/* Sticky: output after the failure is dropped, even though memory is back. */
	out_u64(o, NULL, NULL, 1);
	data = out_data(o, &len);
	assert_int_equal(len, strlen(data));
	assert_int_equal(out_err(o), -ENOMEM);

	/* An error still gets out of the buffer already there, with realloc failing. */
	realloc_fails = true;
	out_error(o, "out of memory");
	realloc_fails = false;
	expect(o, "{\"error\": \"out of memory\"}\n");
	out_free(o);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_nested),
		cmocka_unit_test(test_text_same_calls),
		cmocka_unit_test(test_json_empty_and_arrays),
		cmocka_unit_test(test_json_implicit_object),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_text_mode),
		cmocka_unit_test(test_text_grows),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_text_escaped),
		cmocka_unit_test(test_mismatched_close),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_out_of_memory),
	};

	return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
