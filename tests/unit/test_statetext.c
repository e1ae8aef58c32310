// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kept state-file text (ctl/statetext.c): after every kind of change, the
 * text that reuses the untouched VIPs' blocks is config_save_state()'s to the
 * byte, and a wrong hint (a change the caller did not name) is what it is
 * not, so that the comparison can fail. The whole text formatted by a thread after a start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd.h"
#include "config.h"
#include "statetext.h"
#include "check.h"

static struct cmd cmd;
static char err[256];

static void apply_ok(struct config *c, const char *line)
{
	static char buf[CMD_LINE_MAX];
	char *argv[CMD_ARGS_MAX];
	int argc, ret;

	snprintf(buf, sizeof(buf), "%s", line);
	argc = cmd_split(buf, argv, CMD_ARGS_MAX);
	ret = cmd_parse(argc, argv, &cmd, err, sizeof(err));
	check(ret == 0, "'%s' parses: %s", line, err);
	ret = config_apply(c, &cmd, err, sizeof(err));
	check(ret == 0, "'%s' applies: %s", line, err);
}

/* The kept text must be config_save_state()'s. */
static void check_same(const struct state_text *st, const struct config *c, const char *after)
{
	size_t len;
	char *want;
	int ret = config_save_state(c, &want, &len);

	check(ret == 0, "config_save_state succeeds");
	check(st->len == len && !memcmp(st->text, want, len),
	      "after %s the kept text is the saved one:\n--- kept\n%s--- saved\n%s", after,
	      st->text, want);
	check(st->n == c->n_vips, "after %s it has a block per VIP", after);
	free(want);
}

/* Apply line to c, then update st as daemon.c does for it. */
static void change(struct state_text *st, struct config *c, const char *line,
		   enum state_change what, const char *vip)
{
	struct xlb_vip_key key;
	struct state_text next;
	int ret;

	apply_ok(c, line);
	if (vip)
		check(service_parse(vip, &key, err, sizeof(err)) == 0, "'%s' parses", vip);
	ret = state_text_update(st, c, what, vip ? &key : NULL, &next);
	check(ret == 0, "state_text_update after '%s' succeeds, got %d", line, ret);
	state_text_free(st);
	*st = next;
	check_same(st, c, line);
}

static const struct {
	const char *line;
	enum state_change what;
	const char *vip;	/* the one VIP it changes */
} steps[] = {
	{ "vip add 10.0.0.4:80/tcp", STATE_CHANGED_VIP, "10.0.0.4:80/tcp" },
	{ "backend add 10.0.0.2:80/tcp 192.168.1.9 weight 3", STATE_CHANGED_VIP,
	  "10.0.0.2:80/tcp" },
	{ "backend set 10.0.0.1:80/tcp 192.168.1.1 weight 0", STATE_CHANGED_VIP,
	  "10.0.0.1:80/tcp" },
	{ "health set 10.0.0.3:53/udp tcp port 53", STATE_CHANGED_VIP, "10.0.0.3:53/udp" },
	{ "ratelimit set 10.0.0.2:80/tcp rate 100 burst 10", STATE_CHANGED_VIP,
	  "10.0.0.2:80/tcp" },
	{ "vip del 10.0.0.1:80/tcp", STATE_CHANGED_VIP, "10.0.0.1:80/tcp" },
	{ "backend del 10.0.0.2:80/tcp 192.168.1.2", STATE_CHANGED_VIP, "10.0.0.2:80/tcp" },
	{ "node drain", STATE_CHANGED_NODE, NULL },
	{ "attach eth9", STATE_CHANGED_NODE, NULL },
	{ "vip del 10.0.0.4:80/tcp", STATE_CHANGED_VIP, "10.0.0.4:80/tcp" },
	{ "vip add 10.0.0.1:80/tcp method gue", STATE_CHANGED_VIP, "10.0.0.1:80/tcp" },
	{ "ratelimit off 10.0.0.2:80/tcp", STATE_CHANGED_VIP, "10.0.0.2:80/tcp" },
	{ "detach eth9", STATE_CHANGED_NODE, NULL },
	{ "node undrain", STATE_CHANGED_NODE, NULL },
	{ "backend add 10.0.0.3:53/udp 192.168.3.3", STATE_CHANGED_ALL, NULL },
};

static void build(struct config *c, struct state_text *st)
{
	static const char *const lines[] = {
		"vip add 10.0.0.1:80/tcp", "backend add 10.0.0.1:80/tcp 192.168.1.1",
		"backend add 10.0.0.1:80/tcp 192.168.1.2 weight 2",
		"vip add 10.0.0.2:80/tcp hash src", "backend add 10.0.0.2:80/tcp 192.168.1.2",
		"vip add 10.0.0.3:53/udp", "backend add 10.0.0.3:53/udp 192.168.1.3",
	};
	struct state_text empty = { 0 };

	config_init(c);
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
		apply_ok(c, lines[i]);
	/* Nothing kept yet: every block is formatted, whatever the hint. */
	check(state_text_update(&empty, c, STATE_CHANGED_VIP, &c->vips[0].key, st) == 0,
	      "a first text from nothing");
	check_same(st, c, "the first text");
}

static void test_every_change(void **state)
{
	struct state_text st;
	struct config c;

	build(&c, &st);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		change(&st, &c, steps[i].line, steps[i].what, steps[i].vip);
	state_text_free(&st);
	config_free(&c);
}

/* A change the caller did not name keeps the old block: the comparison above can fail. */
static void test_wrong_hint_shows(void **state)
{
	struct xlb_vip_key other;
	struct state_text st, next;
	struct config c;
	size_t len;
	char *want;

	build(&c, &st);
	apply_ok(&c, "backend add 10.0.0.2:80/tcp 192.168.7.7");
	check(service_parse("10.0.0.3:53/udp", &other, err, sizeof(err)) == 0, "parses");
	check(state_text_update(&st, &c, STATE_CHANGED_VIP, &other, &next) == 0, "updates");
	check(config_save_state(&c, &want, &len) == 0, "saves");
	check(next.len != len && !strstr(next.text, "192.168.7.7"),
	      "the untouched VIP's old block is kept");
	free(want);
	state_text_free(&next);
	state_text_free(&st);
	config_free(&c);
}

/*
 * The primed text is the whole configuration's, and what the first change then reuses; the
 * configuration changed after the start does not reach the thread's copy.
 */
static void test_prime(void **state)
{
	struct state_text st = { 0 }, unused;
	struct state_prime p;
	struct config c;

	build(&c, &unused);
	state_text_free(&unused);
	check(state_prime_start(&p, &c) == 0, "the thread starts");
	apply_ok(&c, "vip del 10.0.0.3:53/udp");
	state_prime_end(&p, &st);
	check(st.text && strstr(st.text, "10.0.0.3:53/udp") && st.n == 3,
	      "the text of the configuration as it was at the start, 3 VIPs: %zu", st.n);
	apply_ok(&c, "vip add 10.0.0.3:53/udp");
	apply_ok(&c, "backend add 10.0.0.3:53/udp 192.168.1.3");
	check_same(&st, &c, "the start");
	change(&st, &c, "backend add 10.0.0.2:80/tcp 192.168.1.9", STATE_CHANGED_VIP,
	       "10.0.0.2:80/tcp");
	/* Due once more: a second end does nothing. */
	state_prime_end(&p, &st);
	check_same(&st, &c, "a second end");
	state_text_free(&st);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_change),
		cmocka_unit_test(test_wrong_hint_shows),
		cmocka_unit_test(test_prime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
