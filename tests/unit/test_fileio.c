// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The reader of state and restore files (ctl/fileio.c): a whole file or an error, never a
 * part of one taken for all of it: a NUL byte (with its line), a read that fails at the start
 * (a directory) or midway, and a file past the limit.
 */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "check.h"
#include "fileio.h"

#define LIMIT (1U << 20)

/* A pipe holding text, its write end closed unless keep_open: what a file would read as. */
static int pipe_of(const char *text, size_t len, bool keep_open, int *wfd)
{
	int fds[2];

	check(pipe2(fds, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	check(write(fds[1], text, len) == (ssize_t)len, "pipe holds the text");
	if (keep_open)
		*wfd = fds[1];
	else
		close(fds[1]);
	return fds[0];
}

/* A string literal and its length, NUL bytes inside included. */
#define T(s) s, sizeof(s) - 1

static void test_text(void **state)
{
	static const struct {
		const char *what;
		const char *text;
		size_t len;
		int want;
		const char *msg;
	} cases[] = {
		{ "empty", T(""), 0, NULL },
		{ "two lines", T("vip add 10.0.0.1:80/tcp\nsave\n"), 0, NULL },
		{ "no final newline", T("a\nb"), 0, NULL },
		{ "NUL on line 1", T("\0vip add"), -EILSEQ,
		  "line 1: not a text file (it holds a NUL byte)" },
		{ "NUL on line 2", T("vip add 10.88.0.1:80/tcp ring 1021\n\0vip add"), -EILSEQ,
		  "line 2: not a text file" },
		{ "NUL at the end of line 3", T("a\nb\nc\0"), -EILSEQ, "line 3: not a text" },
	};
	char *out, msg[128];
	int fd, ret;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		fd = pipe_of(cases[i].text, cases[i].len, false, NULL);
		msg[0] = '\0';
		out = (char *)1;
		ret = file_read_text(fd, LIMIT, &out, msg, sizeof(msg));
		close(fd);
		check(ret == cases[i].want, "%s: %d, got %d (%s)", cases[i].what, cases[i].want,
		      ret, msg);
		if (ret) {
			check(!out, "%s: no text on error", cases[i].what);
			check(strstr(msg, cases[i].msg),
			      "%s: the message says '%s': '%s'", cases[i].what, cases[i].msg, msg);
			continue;
		}
		check(strlen(out) == cases[i].len && !memcmp(out, cases[i].text, cases[i].len),
		      "%s: the whole text", cases[i].what);
		free(out);
	}
}

/* A read that fails: at once (a directory), or after a first part was read. */
static void test_read_fails(void **state)
{
	char *out = NULL, msg[128];
	size_t len;
	int fd, wfd, ret;

	fd = open("/", O_RDONLY | O_CLOEXEC);
	check(fd >= 0, "open /");
	ret = file_read_text(fd, LIMIT, &out, msg, sizeof(msg));
	close(fd);
	check(ret == -EISDIR && !out, "a directory: -EISDIR, got %d", ret);
	check(strstr(msg, "Is a directory"), "the message says why: '%s'", msg);

	/* A non-blocking pipe whose writer stays: the second read fails with EAGAIN. */
	fd = pipe_of("vip add 10.88.0.1:80/tcp\n", 25, true, &wfd);
	check(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "non-blocking");
	ret = file_read_all(fd, LIMIT, &out, &len);
	check(ret == -EAGAIN && !out, "a read failing midway is an error, got %d", ret);
	ret = file_read_text(fd, LIMIT, &out, msg, sizeof(msg));
	check(ret == -EAGAIN && strstr(msg, "cannot read it: "), "and says so: '%s'", msg);
	close(fd);
	close(wfd);
}

static void test_limit(void **state)
{
	static char text[3 * 65536 + 1];
	char *out = NULL, msg[128];
	size_t len;
	int fd, ret;

	memset(text, 'a', sizeof(text));
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ret = file_read_all(fd, 3 * 65536, &out, &len);
	close(fd);
	check(ret == -E2BIG && !out, "an endless file ends at the limit, got %d", ret);
	/* Exactly the limit fits, one byte more does not: past three whole 64 KiB reads. */
	for (size_t n = sizeof(text) - 1; n <= sizeof(text); n++) {
		int fds[2];

		check(pipe2(fds, O_CLOEXEC) == 0, "pipe");
		check(fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) > 0, "a pipe that holds the text");
		check(write(fds[1], text, n) == (ssize_t)n, "pipe holds %zu bytes", n);
		close(fds[1]);
		ret = file_read_text(fds[0], 3 * 65536, &out, msg, sizeof(msg));
		close(fds[0]);
		if (n == sizeof(text) - 1) {
			check(ret == 0 && strlen(out) == n, "%zu bytes: the limit fits", n);
			free(out);
		} else {
			check(ret == -E2BIG && !strncmp(msg, "too large", 9),
			      "%zu bytes: too large, got %d '%s'", n, ret, msg);
		}
	}
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ret = file_read_text(fd, 16U << 20, &out, msg, sizeof(msg));
	close(fd);
	check(ret == -E2BIG && !strcmp(msg, "too large (more than 16 MiB)"), "16 MiB: '%s'", msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_read_fails),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
