// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "statetext.h"

void state_text_free(struct state_text *st)
{
	free(st->text);
	free(st->keys);
	free(st->end);
	memset(st, 0, sizeof(*st));
}

static bool same_key(const struct xlb_vip_key *a, const struct xlb_vip_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* config_save() of a configuration holding v alone. */
static int format_vip(const struct config *c, const struct cfg_vip *v, char **text, size_t *len)
{
	struct config one;

	config_init(&one);
	one.vips = (struct cfg_vip *)v;
	one.n_vips = 1;
	one.n_backends = v->n_backends;
	one.limits = c->limits;
	return config_save(&one, text, len);
}

/* The node's own lines and the interfaces: config_save_state() without the VIPs. */
static int format_head(const struct config *c, char **text, size_t *len)
{
	struct config h = *c;

	h.vips = NULL;
	h.n_vips = 0;
	h.n_backends = 0;
	return config_save_state(&h, text, len);
}

int state_text_update(const struct state_text *old, const struct config *c,
		      enum state_change what, const struct xlb_vip_key *vip, struct state_text *next)
{
	size_t n = c->n_vips, j = 0, len, total;
	const char **src = calloc(n + 1, sizeof(*src));
	char **owned = calloc(n + 1, sizeof(*owned));
	size_t *lens = calloc(n + 1, sizeof(*lens));
	char *head = NULL;
	int err = -ENOMEM;

	memset(next, 0, sizeof(*next));
	if (what == STATE_CHANGED_VIP && !vip)
		return -EINVAL;
	if (!src || !owned || !lens)
		goto out;
	if (!old->text)
		what = STATE_CHANGED_ALL;
	err = format_head(c, &head, &len);
	if (err)
		goto out;
	total = len;
	for (size_t i = 0; i < n; i++) {
		const struct xlb_vip_key *key = &c->vips[i].key;
		bool reuse = what == STATE_CHANGED_NODE ||
			     (what == STATE_CHANGED_VIP && !same_key(key, vip));

		/*
		 * Every VIP but the changed one keeps its place: old's blocks are c's in
		 * order once the changed VIP's (gone, or moved) is passed over.
		 */
		while (reuse && j < old->n && what == STATE_CHANGED_VIP && same_key(&old->keys[j], vip))
			j++;
		if (reuse && j < old->n && same_key(&old->keys[j], key)) {
			size_t start = j ? old->end[j - 1] : old->head;

			src[i] = old->text + start;
			lens[i] = old->end[j] - start;
			j++;
		} else {
			err = format_vip(c, &c->vips[i], &owned[i], &lens[i]);
			if (err)
				goto out;
			src[i] = owned[i];
		}
		total += lens[i];
	}

	err = -ENOMEM;
	next->text = malloc(total + 1);
	next->keys = calloc(n + 1, sizeof(*next->keys));
	next->end = calloc(n + 1, sizeof(*next->end));
	if (!next->text || !next->keys || !next->end) {
		state_text_free(next);
		goto out;
	}
	memcpy(next->text, head, len);
	next->head = next->len = len;
	for (size_t i = 0; i < n; i++) {
		memcpy(next->text + next->len, src[i], lens[i]);
		next->len += lens[i];
		next->keys[i] = c->vips[i].key;
		next->end[i] = next->len;
	}
	next->text[next->len] = '\0';
	next->n = n;
	err = 0;
out:
	for (size_t i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	free(src);
	free(lens);
	free(head);
	return err;
}

static void *prime_thread(void *arg)
{
	struct state_prime *p = arg;
	struct state_text none = { 0 };

	p->err = state_text_update(&none, &p->cfg, STATE_CHANGED_ALL, NULL, &p->text);
	return NULL;
}

int state_prime_start(struct state_prime *p, const struct config *c)
{
	int err;

	memset(p, 0, sizeof(*p));
	config_init(&p->cfg);
	err = config_copy(&p->cfg, c);
	if (!err)
		err = -pthread_create(&p->thread, NULL, prime_thread, p);
	if (err)
		config_free(&p->cfg);
	p->running = !err;
	return err;
}

void state_prime_end(struct state_prime *p, struct state_text *out)
{
	if (!p->running)
		return;
	pthread_join(p->thread, NULL);
	p->running = false;
	config_free(&p->cfg);
	if (p->err)
		return;
	state_text_free(out);
	*out = p->text;
}
