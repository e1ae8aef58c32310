// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbctl <-> xlbd wire format: requests and replies survive a round trip byte for byte, and
 * every malformed input is -EINVAL, never a crash or a read past the buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include "check.h"

#include "proto.h"


/*
 * Decode a copy of exactly len bytes in a buffer of its own, so that ASan sees any read past
 * the end, and return what the decoder said.
 */
static int decode_request(const char *data, size_t len, int *argc, char ***argv, bool *json,
			  char **copy)
{
	*copy = malloc(len ?: 1);
	assert_non_null(*copy);
	memcpy(*copy, data, len);
	return proto_request_decode(*copy, len, argc, argv, json);
}

static void expect_request_einval(const char *data, size_t len, const char *what)
{
	char **argv = NULL, *copy;
	bool json = false;
	int argc = -1, err;

	err = decode_request(data, len, &argc, &argv, &json, &copy);
	if (err != -EINVAL)
		fail_msg("request %s: decode returned %d, want -EINVAL", what, err);
	assert_null(argv);
	assert_int_equal(argc, -1);
	free(copy);
}

static void round_trip(int argc, char **argv, bool json)
{
	char *buf, *copy, **got;
	bool got_json;
	int got_argc, i;
	size_t len;

	assert_int_equal(proto_request_encode(argc, argv, json, &buf, &len), 0);
	assert_int_equal(decode_request(buf, len, &got_argc, &got, &got_json, &copy), 0);
	assert_int_equal(got_argc, argc);
	assert_int_equal(got_json, json);
	for (i = 0; i < argc; i++)
		assert_string_equal(got[i], argv[i]);
	assert_null(got[argc]);
	free(got);
	free(copy);
	free(buf);
}

static void test_request_round_trip(void **state)
{
	char *backend[] = {"backend", "add", "[fd00::10]:443/tcp", "fd00::1", "weight", "5"};
	/* Arguments may be empty or hold anything but NUL: an empty restore file, its lines. */
	char *restore[] = {"restore", "-", "", "vip add 10.0.0.10:80/tcp\n\xff\x01 tail\n"};

	round_trip(ARRAY_SIZE(backend), backend, false);
	round_trip(ARRAY_SIZE(backend), backend, true);
	round_trip(ARRAY_SIZE(restore), restore, true);
	round_trip(0, NULL, false);
}

static void test_request_exact_bytes(void **state)
{
	static const char want[] = "xlb1 json=1\nvip\0list\0";
	char *argv[] = {"vip", "list"};
	size_t len;
	char *buf;

	assert_int_equal(proto_request_encode(2, argv, true, &buf, &len), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(buf, want, len);
	free(buf);
}

static void test_request_max_args(void **state)
{
	static char *argv[PROTO_MAX_ARGS + 1];
	char *buf, *copy, **got;
	size_t len, i;
	bool json;
	int argc;

	for (i = 0; i < ARRAY_SIZE(argv); i++)
		argv[i] = "x";
	round_trip(PROTO_MAX_ARGS, argv, false);
	assert_int_equal(proto_request_encode(PROTO_MAX_ARGS + 1, argv, false, &buf, &len),
			 -EINVAL);
	assert_int_equal(proto_request_encode(-1, argv, false, &buf, &len), -EINVAL);

	/* One argument too many, built by hand since the encoder refuses it. */
	len = strlen("xlb1 json=0\n") + 2 * (PROTO_MAX_ARGS + 1);
	buf = malloc(len);
	assert_non_null(buf);
	strcpy(buf, "xlb1 json=0\n");
	for (i = strlen(buf); i < len; i += 2)
		memcpy(buf + i, "x", 2);
	expect_request_einval(buf, len, "with PROTO_MAX_ARGS + 1 arguments");
	/* The same bytes less the last argument pass. */
	assert_int_equal(decode_request(buf, len - 2, &argc, &got, &json, &copy), 0);
	assert_int_equal(argc, PROTO_MAX_ARGS);
	free(got);
	free(copy);
	free(buf);
}

static void test_request_max_size(void **state)
{
	size_t hlen = strlen("xlb1 json=0\n"), len;
	char *big, *argv[1], *buf;

	/* One argument that fills the request to the byte: its NUL is the last byte allowed. */
	big = malloc(PROTO_MAX_REQUEST);
	assert_non_null(big);
	memset(big, 'a', PROTO_MAX_REQUEST);
	big[PROTO_MAX_REQUEST - hlen - 1] = '\0';
	argv[0] = big;
	round_trip(1, argv, false);

	big[PROTO_MAX_REQUEST - hlen - 1] = 'a';
	big[PROTO_MAX_REQUEST - hlen] = '\0';
	assert_int_equal(proto_request_encode(1, argv, false, &buf, &len), -E2BIG);
	free(big);

	/* A decoder given more than the limit refuses before it looks at anything. */
	big = calloc(1, PROTO_MAX_REQUEST + 2);
	assert_non_null(big);
	memcpy(big, "xlb1 json=0\n", hlen);
	expect_request_einval(big, PROTO_MAX_REQUEST + 1, "over PROTO_MAX_REQUEST");
	free(big);
}

struct bad_case {
	const char *data;
	size_t len;
	const char *what;
};

#define BAD(s, what) {s, sizeof(s) - 1, what}

static void test_request_malformed(void **state)
{
	static const struct bad_case cases[] = {
		BAD("", "empty"),
		BAD("status\0", "without a header"),
		BAD("vip\0list\0", "without a header, arguments only"),
		BAD("xlb1 json=0", "header without its newline"),
		BAD("xlb1 json=0vip\0", "header run into the arguments"),
		BAD("xlb2 json=0\nstatus\0", "of another version"),
		BAD("XLB1 json=0\nstatus\0", "with the version in capitals"),
		BAD("xlb1 json=2\nstatus\0", "with json=2"),
		BAD("xlb1 json=01\nstatus\0", "with a leading zero"),
		BAD("xlb1 json=\nstatus\0", "with an empty json value"),
		BAD("xlb1 json=-0\nstatus\0", "with a signed json value"),
		BAD("xlb1 json=1 \nstatus\0", "with a space after the header value"),
		BAD("xlb1  json=1\nstatus\0", "with two spaces in the header"),
		BAD("xlb1 json=1\r\nstatus\0", "with a CRLF header"),
		BAD("xlb1 json=1 extra=3\nstatus\0", "with garbage in the header"),
		BAD("xlb1 status=0\nstatus\0", "with a reply header"),
		BAD("xlb1 json=1\nstatus", "without the final NUL"),
		BAD("xlb1 json=1\nvip\0list", "whose last argument has no NUL"),
		BAD("xlb1 json=1\nvip\0list\0garbage", "with trailing garbage"),
		BAD("xlb1 json\0=1\nstatus\0", "with a NUL in the header"),
		BAD("\nxlb1 json=1\nstatus\0", "starting with a blank line"),
		BAD("xlb1 json=99999999999999999999\nstatus\0", "with a huge json value"),
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		expect_request_einval(cases[i].data, cases[i].len, cases[i].what);
}

static void test_request_header(void **state)
{
	bool json = false;

	assert_int_equal(proto_request_header("xlb1 json=1\nstatus", 18, &json), 0);
	assert_true(json);
	assert_int_equal(proto_request_header("xlb1 json=0\n", 12, &json), 0);
	assert_false(json);
	/* A header still on its way is not refused yet... */
	assert_int_equal(proto_request_header("xlb1 js", 7, &json), -EAGAIN);
	assert_int_equal(proto_request_header("", 0, &json), -EAGAIN);
	/* ...but one that cannot end in time is. */
	assert_int_equal(proto_request_header("xlb1 json=000000000000000000000000000000000", 43,
					      &json),
			 -EINVAL);
	assert_int_equal(proto_request_header("GET / HTTP/1.0\r\n", 16, &json), -EINVAL);
}

static void test_reply_round_trip(void **state)
{
	static const char body[] = "{\"error\": \"no such VIP\"}\n\0binary\xff";
	const char *got;
	size_t len, got_len;
	int status, s;
	char *buf;

	for (s = 0; s <= 255; s += 51) {
		assert_int_equal(proto_reply_encode(s, body, sizeof(body), &buf, &len), 0);
		assert_int_equal(proto_reply_decode(buf, len, &status, &got, &got_len), 0);
		assert_int_equal(status, s);
		assert_int_equal(got_len, sizeof(body));
		assert_memory_equal(got, body, sizeof(body));
		free(buf);
	}

	assert_int_equal(proto_reply_encode(2, NULL, 0, &buf, &len), 0);
	assert_int_equal(len, strlen("xlb1 status=2\n"));
	assert_memory_equal(buf, "xlb1 status=2\n", len);
	assert_int_equal(proto_reply_decode(buf, len, &status, &got, &got_len), 0);
	assert_int_equal(status, 2);
	assert_int_equal(got_len, 0);
	free(buf);

	assert_int_equal(proto_reply_encode(-1, NULL, 0, &buf, &len), -EINVAL);
	assert_int_equal(proto_reply_encode(256, NULL, 0, &buf, &len), -EINVAL);
	assert_int_equal(proto_reply_encode(0, body, PROTO_MAX_REPLY, &buf, &len), -E2BIG);
}

static void test_reply_malformed(void **state)
{
	static const struct bad_case cases[] = {
		BAD("", "empty"),
		BAD("ok\n", "without a header"),
		BAD("xlb1 status=0", "header without its newline"),
		BAD("xlb0 status=0\nok\n", "of another version"),
		BAD("xlb1 status=256\n", "with a status over 255"),
		BAD("xlb1 status=-1\n", "with a negative status"),
		BAD("xlb1 status=00\n", "with a leading zero"),
		BAD("xlb1 status=\n", "without a status"),
		BAD("xlb1 status=1x\n", "with garbage after the status"),
		BAD("xlb1 json=1\n", "with a request header"),
	};
	const char *body;
	size_t i, body_len;
	int status, err;
	char *copy;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		copy = malloc(cases[i].len ?: 1);
		assert_non_null(copy);
		memcpy(copy, cases[i].data, cases[i].len);
		err = proto_reply_decode(copy, cases[i].len, &status, &body, &body_len);
		if (err != -EINVAL)
			fail_msg("reply %s: decode returned %d, want -EINVAL", cases[i].what, err);
		free(copy);
	}
	assert_int_equal(proto_reply_decode("xlb1 status=0\n", PROTO_MAX_REPLY + 1, &status, &body,
					    &body_len),
			 -EINVAL);
}

/* Random bytes behind a valid header and random headers: whatever the verdict, no crash. */
static void test_fuzz(void **state)
{
	static const char *const heads[] = {"xlb1 json=1\n", "xlb1 json=0\n", "xlb1 status=1\n"};
	char buf[64], *copy, **argv;
	const char *body;
	size_t len, hlen, i, j, body_len;
	int argc, status, err;
	bool json;

	srand(1);
	for (i = 0; i < 100000; i++) {
		len = rand() % sizeof(buf);
		hlen = 0;
		if (rand() % 4) {
			hlen = strlen(heads[i % ARRAY_SIZE(heads)]);
			hlen = hlen < len ? hlen : len;
			memcpy(buf, heads[i % ARRAY_SIZE(heads)], hlen);
		}
		/* Mostly NULs and letters, so some arguments come out whole. */
		for (j = hlen; j < len; j++)
			buf[j] = rand() % 3 ? "\0a\n"[rand() % 3] : rand();
		argv = NULL;
		err = decode_request(buf, len, &argc, &argv, &json, &copy);
		if (err == 0) {
			assert_true(argc >= 0 && argc <= PROTO_MAX_ARGS);
			for (j = 0; j < (size_t)argc; j++)
				assert_true(argv[j] >= copy && argv[j] < copy + len);
			assert_null(argv[argc]);
		} else {
			assert_int_equal(err, -EINVAL);
		}
		free(argv);
		free(copy);
		err = proto_reply_decode(buf, len, &status, &body, &body_len);
		assert_true(err == 0 || err == -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_exact_bytes),
		cmocka_unit_test(test_request_max_args),
		cmocka_unit_test(test_request_max_size),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_request_header),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
