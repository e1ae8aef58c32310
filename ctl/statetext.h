/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state file's text, kept between changes so that a change formats only
 * what it changed: the node's own lines, then each VIP's lines as one block.
 * Formatting all 11,000 lines of 1000 VIPs x 10 backends took ~12 ms per
 * command; one VIP's block and the node's lines take microseconds.
 *
 * The text is config_save_state()'s, to the byte: the node's lines are what
 * it prints for the configuration without its VIPs, each block what
 * config_save() prints for a configuration of that VIP alone (the unit test
 * holds the three together).
 */
#ifndef XLB_STATETEXT_H
#define XLB_STATETEXT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "config.h"

struct state_text {
	char *text;		/* the whole file, NUL-terminated; NULL: nothing kept */
	size_t len;
	size_t head;		/* bytes of the node's lines, before the first VIP's */
	struct xlb_vip_key *keys;	/* VIP i of the text */
	size_t *end;		/* VIP i's block ends at end[i], starts at end[i - 1] or head */
	size_t n;
};

/* What a change may have touched, for state_text_update(). */
enum state_change {
	STATE_CHANGED_ALL,	/* anything: format every VIP anew (restore, start) */
	STATE_CHANGED_NODE,	/* the node's lines only (attach, detach, drain) */
	STATE_CHANGED_VIP,	/* the node's lines and one VIP, added, changed or gone */
};

/*
 * The text of c into *next (overwritten, not freed), reusing old's blocks of
 * every VIP the change did not touch (`vip` names the one it did, for
 * STATE_CHANGED_VIP). old may be empty: all is formatted. old is left as it
 * was, so that a change that is not saved after all costs nothing to drop.
 * 0 or -ENOMEM, -EINVAL.
 */
int state_text_update(const struct state_text *old, const struct config *c,
		      enum state_change what, const struct xlb_vip_key *vip, struct state_text *next);
void state_text_free(struct state_text *st);

/*
 * The whole text of a configuration, formatted by a thread: 11,000 lines took 12-15 ms, which
 * the first change after xlbd's start paid, having no text yet. state_prime_start() takes a copy
 * of c; state_prime_end() waits for the thread and hands its text to *out (freed first) or,
 * after a failure, leaves *out as it was. Either is due after every start that returned 0.
 */
struct state_prime {
	struct config cfg;
	struct state_text text;
	pthread_t thread;
	int err;
	bool running;
};

int state_prime_start(struct state_prime *p, const struct config *c);
void state_prime_end(struct state_prime *p, struct state_text *out);

#endif /* XLB_STATETEXT_H */
