// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rates.h"

#define RATES_PERIOD_MS	1000

/* One kind of counter (VIPs or backends): the ids watched and the rates by id. */
struct series {
	__u32 *ids, n, max;
	struct rate *by_id;		/* max entries */
	__u32 *sample;			/* the sampler's copy of ids */
	struct xlb_backend_stats *read;	/* what it read for them: packets and bytes */
	void *all;			/* its batch read, by id (series_read_all()) */
};

struct rates {
	struct dp *dp;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* rates_close() */
	bool stop, running;
	struct series vip, be;		/* under lock but for sample and read */
};

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* A counter read at now; the rate over the time since its last reading, none for a first. */
static void rate_update(struct rate *r, __u64 packets, __u64 bytes, __u64 now)
{
	double dt = r->at_ms ? (now - r->at_ms) / 1000.0 : 0;

	/* Counters restart at zero when an id is reused: no rate for that second. */
	if (dt > 0 && packets >= r->packets && bytes >= r->bytes) {
		r->pps = (packets - r->packets) / dt;
		r->bps = (bytes - r->bytes) * 8 / dt;
	} else {
		r->pps = r->bps = 0;
	}
	r->packets = packets;
	r->bytes = bytes;
	r->at_ms = now;
}

/*
 * Every configured VIP and backend is watched: with 1000 VIPs x 10 backends, 11,000 ids a
 * second. Many ids, close together (ids are handed out from the lowest free one), are read
 * whole, 0 up to the largest, in a few batch syscalls: see series_read_all().
 */
#define RATES_BATCH_MIN		64	/* ids watched */
#define RATES_BATCH_SPREAD	16	/* entries read per id watched, at most */

/* s's counters from one batch read of ids 0..largest; false: a lookup each instead. */
static bool series_read_all(struct rates *r, struct series *s, __u32 n, bool vips)
{
	__u32 top = 0;
	int err;

	for (__u32 i = 0; i < n; i++)
		if (s->sample[i] > top)
			top = s->sample[i];
	if (n < RATES_BATCH_MIN || top >= (__u64)n * RATES_BATCH_SPREAD)
		return false;
	err = vips ? dp_vip_stats_read(r->dp, top + 1, s->all) :
		     dp_backend_stats_read(r->dp, top + 1, s->all);
	if (err)
		return false;	/* a kernel without batch lookups, say */
	for (__u32 i = 0; i < n; i++) {
		if (vips) {
			const struct xlb_vip_stats *vs = (struct xlb_vip_stats *)s->all + s->sample[i];

			s->read[i].packets = vs->packets;
			s->read[i].bytes = vs->bytes;
		} else {
			s->read[i] = ((struct xlb_backend_stats *)s->all)[s->sample[i]];
		}
	}
	return true;
}

/* The counters of s's ids into s->read, without the lock: the event loop goes on. */
static void series_read(struct rates *r, struct series *s, __u32 n, bool vips)
{
	if (series_read_all(r, s, n, vips))
		return;
	for (__u32 i = 0; i < n; i++) {
		struct xlb_vip_stats vs = { 0 };
		struct xlb_backend_stats bs = { 0 };

		if (vips) {
			dp_vip_stats(r->dp, s->sample[i], &vs);
			bs.packets = vs.packets;
			bs.bytes = vs.bytes;
		} else {
			dp_backend_stats(r->dp, s->sample[i], &bs);
		}
		s->read[i] = bs;
	}
}

static void *sampler(void *arg)
{
	struct rates *r = arg;
	struct timespec until;
	__u64 now;
	__u32 nv, nb;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		/* Copies of the ids: rates_watch() may change them while the counters are read. */
		nv = r->vip.n;
		nb = r->be.n;
		memcpy(r->vip.sample, r->vip.ids, nv * sizeof(*r->vip.ids));
		memcpy(r->be.sample, r->be.ids, nb * sizeof(*r->be.ids));
		pthread_mutex_unlock(&r->lock);
		now = now_ms();
		series_read(r, &r->vip, nv, true);
		series_read(r, &r->be, nb, false);
		pthread_mutex_lock(&r->lock);
		for (__u32 i = 0; i < nv; i++)
			rate_update(&r->vip.by_id[r->vip.sample[i]], r->vip.read[i].packets,
				    r->vip.read[i].bytes, now);
		for (__u32 i = 0; i < nb; i++)
			rate_update(&r->be.by_id[r->be.sample[i]], r->be.read[i].packets,
				    r->be.read[i].bytes, now);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += RATES_PERIOD_MS / 1000;
		while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* size: of one id's counters, struct xlb_vip_stats or struct xlb_backend_stats. */
static int series_init(struct series *s, __u32 max, size_t size)
{
	s->max = max;
	s->ids = calloc(max, sizeof(*s->ids));
	s->sample = calloc(max, sizeof(*s->sample));
	s->by_id = calloc(max, sizeof(*s->by_id));
	s->read = calloc(max, sizeof(*s->read));
	s->all = calloc(max, size);
	return s->ids && s->sample && s->by_id && s->read && s->all ? 0 : -ENOMEM;
}

static void series_free(struct series *s)
{
	free(s->ids);
	free(s->sample);
	free(s->by_id);
	free(s->read);
	free(s->all);
}

int rates_open(struct rates **out, struct dp *dp)
{
	struct rates *r = calloc(1, sizeof(*r));
	pthread_condattr_t attr;
	int err = -ENOMEM;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->dp = dp;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (!series_init(&r->vip, dp->max_vips, sizeof(struct xlb_vip_stats)) &&
	    !series_init(&r->be, dp->max_backends, sizeof(struct xlb_backend_stats)))
		err = -pthread_create(&r->thread, NULL, sampler, r);
	if (err) {
		rates_close(r);
		return err;
	}
	r->running = true;
	*out = r;
	return 0;
}

void rates_close(struct rates *r)
{
	if (!r)
		return;
	if (r->running) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	series_free(&r->vip);
	series_free(&r->be);
	free(r);
}

void rates_watch(struct rates *r, const struct config *c)
{
	pthread_mutex_lock(&r->lock);
	r->vip.n = r->be.n = 0;
	for (size_t i = 0; i < c->n_vips; i++) {
		const struct cfg_vip *v = &c->vips[i];

		if (v->id < r->vip.max)
			r->vip.ids[r->vip.n++] = v->id;
		for (size_t j = 0; j < v->n_backends; j++)
			if (v->backends[j].id != XLB_BACKEND_NONE && v->backends[j].id < r->be.max &&
			    r->be.n < r->be.max)
				r->be.ids[r->be.n++] = v->backends[j].id;
	}
	pthread_mutex_unlock(&r->lock);
}

static struct rate rate_of(struct rates *r, struct series *s, __u32 id)
{
	struct rate out = { 0 };

	pthread_mutex_lock(&r->lock);
	if (id < s->max)
		out = s->by_id[id];
	pthread_mutex_unlock(&r->lock);
	return out;
}

struct rate rates_vip(struct rates *r, __u32 id)
{
	return rate_of(r, &r->vip, id);
}

struct rate rates_backend(struct rates *r, __u32 id)
{
	return rate_of(r, &r->be, id);
}
