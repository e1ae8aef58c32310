// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The state file's change log (ctl/statelog.c): which changes apply to a state file. Only those
 * after the last checkpoint naming it, across the checkpoint of a rewrite that was not renamed;
 * none when no checkpoint names it; a line cut short or with a bad CRC ends the log there, so
 * that a change is applied whole or not at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "statelog.h"

#define OLD	"vip add 10.0.0.1:80/tcp\n"
#define NEW	"vip add 10.0.0.1:80/tcp\nbackend add 10.0.0.1:80/tcp 10.1.0.1\n"

/* Log pieces: 'o' checkpoint of OLD, 'n' of NEW, 'a'/'b'/'c' changes, 't' a change cut short,
 * 'x' a change with a bad CRC. */
static size_t piece(char kind, char *buf, size_t len)
{
	int n = -1;

	switch (kind) {
	case 'o':
		n = statelog_checkpoint(OLD, strlen(OLD), buf, len);
		break;
	case 'n':
		n = statelog_checkpoint(NEW, strlen(NEW), buf, len);
		break;
	case 'a':
	case 'b':
	case 'c': {
		char line[64];

		snprintf(line, sizeof(line), "backend add 10.0.0.1:80/tcp 10.1.0.%d", kind - 'a' + 2);
		n = statelog_change(line, buf, len);
		break;
	}
	case 't':
		n = statelog_change("backend add 10.0.0.1:80/tcp 10.1.0.9", buf, len);
		n -= 5;	/* its end and newline never reached the disk */
		break;
	case 'x':
		n = statelog_change("backend add 10.0.0.1:80/tcp 10.1.0.8", buf, len);
		buf[0] = buf[0] == '0' ? '1' : '0';
		break;
	}
	check(n > 0, "piece %c", kind);
	return n;
}

static void test_replay(void **state)
{
	static const struct {
		const char *what;
		const char *state;	/* the state file: OLD or NEW */
		const char *log;	/* pieces */
		bool matched, torn;
		const char *lines;	/* what is loaded after the state file */
	} cases[] = {
		{ "an empty log", OLD, "", false, false, "" },
		{ "a clean stop", OLD, "o", true, false, "" },
		{ "changes", OLD, "oab", true, false,
		  "backend add 10.0.0.1:80/tcp 10.1.0.2\nbackend add 10.0.0.1:80/tcp 10.1.0.3\n" },
		{ "the last change cut short", OLD, "oat", true, true,
		  "backend add 10.0.0.1:80/tcp 10.1.0.2\n" },
		{ "a bad CRC ends the log", OLD, "oaxb", true, true,
		  "backend add 10.0.0.1:80/tcp 10.1.0.2\n" },
		{ "a rewrite not renamed: changes go on", OLD, "oanb", true, false,
		  "backend add 10.0.0.1:80/tcp 10.1.0.2\nbackend add 10.0.0.1:80/tcp 10.1.0.3\n" },
		{ "a rewrite renamed, its log not reset", NEW, "oanb", true, false,
		  "backend add 10.0.0.1:80/tcp 10.1.0.3\n" },
		{ "no checkpoint names the file", NEW, "oab", false, false, "" },
		{ "changes before any checkpoint", OLD, "aob", true, false,
		  "backend add 10.0.0.1:80/tcp 10.1.0.3\n" },
		{ "a torn checkpoint", NEW, "oat", false, true, "" },
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char log[4096];
		size_t len = 0;
		struct statelog_replay r;

		for (const char *p = cases[i].log; *p; p++)
			len += piece(*p, log + len, sizeof(log) - len);
		check(!statelog_replay(cases[i].state, strlen(cases[i].state), log, len, &r), "%s",
		      cases[i].what);
		check(r.matched == cases[i].matched, "%s: matched %d", cases[i].what, r.matched);
		check(r.torn == cases[i].torn, "%s: torn %d", cases[i].what, r.torn);
		check(r.len == strlen(cases[i].lines) &&
			      (!r.len || !strcmp(r.lines, cases[i].lines)),
		      "%s: lines '%.*s'", cases[i].what, (int)r.len, r.lines ? r.lines : "");
		statelog_replay_free(&r);
	}
}

/* A line with a newline inside would be two lines of the log: refused. */
static void test_change_one_line(void **state)
{
	char buf[256];

	(void)state;
	check(statelog_change("vip add 10.0.0.1:80/tcp\nvip del 10.0.0.1:80/tcp", buf,
			      sizeof(buf)) < 0, "a newline refused");
	check(statelog_change("vip add 10.0.0.1:80/tcp", buf, 10) < 0, "no room refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_change_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
