// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/in.h>
#include "log.h"
#include "maglev.h"
#include "parallel.h"
#include "sync.h"
#include "xlb_ratelimit.h"

static bool nonzero(const void *p, size_t len)
{
	const char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return true;
	return false;
}

/*
 * The counts that let clear_backends() and place_backends() skip scanning every backend id
 * (16,384 of them, for each of 1000 VIPs at start) follow these two.
 */
static void be_use(struct sync *s, __u32 id, __u32 vip_id)
{
	s->be[id].used = true;
	s->be[id].vip_id = vip_id;
	if (vip_id < s->dp->max_vips)
		s->vip_backends[vip_id]++;
}

static void be_release(struct sync *s, __u32 id)
{
	struct sync_backend *b = &s->be[id];

	if (b->used && b->vip_id < s->dp->max_vips)
		s->vip_backends[b->vip_id]--;
	b->used = false;
	b->health = XLB_HEALTH_UP;
	if (id < s->be_free)
		s->be_free = id;
}

/*
 * Remove what no VIP entry names (s->vip_used, s->be as read): rings, active backends of
 * those VIP ids, down marks and counters of free ids. Such an id's next owner would start
 * with them.
 */
static int sweep(struct sync *s, const struct xlb_vip_stats *all)
{
	struct xlb_backend_stats bs;
	struct xlb_vip_stats vs;
	struct dp *dp = s->dp;
	int err = 0;

	for (__u32 id = 0; !err && id < dp->max_vips; id++) {
		if (s->vip_used[id])
			continue;
		if (dp_ring_size(dp, id)) {
			err = dp_ring_remove(dp, id);
			s->swept.rings++;
		}
		if (all)
			vs = all[id];
		if (!err && (all || !dp_vip_stats(dp, id, &vs)) && nonzero(&vs, sizeof(vs))) {
			err = dp_vip_stats_clear(dp, id);
			s->swept.counters++;
		}
	}
	for (__u32 id = 1; !err && id < dp->max_backends; id++) {
		struct sync_backend *b = &s->be[id];

		if (b->used && b->vip_id < dp->max_vips && s->vip_used[b->vip_id])
			continue;
		if (b->used)
			s->swept.backends++;
		else if (b->health != XLB_HEALTH_UP)
			s->swept.health++;
		/* Only an id handed out (gen 1 on) was ever in a ring, to be counted. */
		else if (b->gen && !dp_backend_stats(dp, id, &bs) && nonzero(&bs, sizeof(bs)))
			s->swept.counters++;
		else
			continue;
		/* Entry, health and counters; gen stays, for the id's next owner. */
		err = dp_backend_clear(dp, id);
		be_release(s, id);
	}
	return err;
}

int sync_init(struct sync *s, struct dp *dp)
{
	struct xlb_vip_key key, prev;
	struct xlb_backend be, *all_be;
	struct xlb_vip_stats *all_vs;
	struct xlb_vip vip;
	__u32 *all_health;
	bool batched;
	int err;

	memset(s, 0, sizeof(*s));
	s->dp = dp;
	s->vip_used = calloc(dp->max_vips, sizeof(*s->vip_used));
	s->ring_state = calloc(dp->max_vips, sizeof(*s->ring_state));
	s->be = calloc(dp->max_backends, sizeof(*s->be));
	s->vip_backends = calloc(dp->max_vips, sizeof(*s->vip_backends));
	s->be_free = 1;
	s->table = calloc(XLB_RING_MAX, sizeof(*s->table));
	s->old = calloc(XLB_RING_MAX, sizeof(*s->old));
	s->index = calloc(dp->max_backends, sizeof(*s->index));
	if (!s->vip_used || !s->ring_state || !s->be || !s->vip_backends || !s->table || !s->old ||
	    !s->index) {
		sync_free(s);
		return -ENOMEM;
	}
	for (int first = 1; !dp_vip_next(dp, first ? NULL : &prev, &key); first = 0) {
		prev = key;
		if (!dp_vip_get(dp, &key, &vip) && vip.id < dp->max_vips)
			s->vip_used[vip.id] = true;
	}
	/* Every id in a few syscalls (dp_batch.c); one at a time if that cannot be. */
	all_be = calloc(dp->max_backends, sizeof(*all_be));
	all_health = calloc(dp->max_backends, sizeof(*all_health));
	all_vs = calloc(dp->max_vips, sizeof(*all_vs));
	batched = all_be && all_health && !dp_backends_read(dp, all_be, all_health);
	for (__u32 id = 1; id < dp->max_backends; id++) {
		if (batched) {
			be = all_be[id];
			s->be[id].health = all_health[id];
		} else if (dp_backend_get(dp, id, &be)) {
			continue;
		} else {
			dp_health_get(dp, id, &s->be[id].health);
		}
		s->be[id].gen = be.gen;
		s->be[id].vip_id = be.vip_id;
		if (be.flags & XLB_BACKEND_ACTIVE)
			be_use(s, id, be.vip_id);
	}
	err = sweep(s, all_vs && !dp_vip_stats_read(dp, dp->max_vips, all_vs) ? all_vs : NULL);
	free(all_be);
	free(all_health);
	free(all_vs);
	return err;
}

void sync_free(struct sync *s)
{
	free(s->vip_used);
	free(s->ring_state);
	free(s->be);
	free(s->vip_backends);
	free(s->table);
	free(s->old);
	free(s->index);
	memset(s, 0, sizeof(*s));
}

void sync_adopt(struct sync *s, struct config *c)
{
	struct xlb_backend be;
	struct xlb_vip vip;

	for (size_t i = 0; i < c->n_vips; i++) {
		struct cfg_vip *v = &c->vips[i];

		if (dp_vip_get(s->dp, &v->key, &vip) || vip.ring_size != v->opts.ring ||
		    dp_ring_size(s->dp, vip.id) != v->opts.ring)
			continue;
		v->id = vip.id;
		for (__u32 id = 1; id < s->dp->max_backends; id++) {
			struct cfg_backend *b;

			if (!s->be[id].used || s->be[id].vip_id != v->id ||
			    dp_backend_get(s->dp, id, &be))
				continue;
			b = config_backend(v, &be.addr, be.family, ntohs(be.port));
			if (b && b->id == XLB_BACKEND_NONE) {
				b->id = id;
				b->gen = be.gen;
			}
		}
	}
}

/* Clear every backend id of vip_id that `keep` (may be NULL) does not use. */
static int clear_backends(struct sync *s, __u32 vip_id, const struct cfg_vip *keep)
{
	__u32 kept_ids = 0;
	int err;

	/* Every id the VIP uses is one keep holds: nothing to look for. */
	for (size_t j = 0; keep && j < keep->n_backends; j++) {
		__u32 id = keep->backends[j].id;

		kept_ids += id != XLB_BACKEND_NONE && id < s->dp->max_backends && s->be[id].used &&
			    s->be[id].vip_id == vip_id;
	}
	if (vip_id < s->dp->max_vips && s->vip_backends[vip_id] == kept_ids)
		return 0;
	for (__u32 id = 1; id < s->dp->max_backends; id++) {
		bool kept = false;

		if (!s->be[id].used || s->be[id].vip_id != vip_id)
			continue;
		for (size_t j = 0; keep && j < keep->n_backends; j++)
			kept |= keep->backends[j].id == id;
		if (kept)
			continue;
		err = dp_backend_clear(s->dp, id);
		if (err)
			return err;
		be_release(s, id);
	}
	return 0;
}

int sync_vip_remove(struct sync *s, const struct xlb_vip_key *key)
{
	struct xlb_vip vip;
	int err;

	if (dp_vip_get(s->dp, key, &vip))
		return 0;
	err = dp_vip_del(s->dp, key, vip.id);
	if (!err)
		err = clear_backends(s, vip.id, NULL);
	if (!err && vip.id < s->dp->max_vips)
		s->vip_used[vip.id] = false;
	return err;
}

static int place_vip_id(struct sync *s, struct cfg_vip *v)
{
	struct xlb_vip vip;
	int err;

	/* The maps may hold this key under another id or ring size: start over. */
	if (v->id == CFG_ID_NONE || dp_ring_size(s->dp, v->id) != v->opts.ring) {
		if (!dp_vip_get(s->dp, &v->key, &vip) && vip.id != v->id) {
			err = sync_vip_remove(s, &v->key);
			if (err)
				return err;
		}
		if (v->id != CFG_ID_NONE && dp_ring_size(s->dp, v->id)) {
			err = sync_vip_remove(s, &v->key);
			if (err)
				return err;
		}
		v->id = CFG_ID_NONE;
		for (__u32 id = 0; id < s->dp->max_vips; id++) {
			if (!s->vip_used[id] && !dp_ring_size(s->dp, id)) {
				v->id = id;
				break;
			}
		}
		if (v->id == CFG_ID_NONE)
			return -ENOSPC;
		s->vip_used[v->id] = true;
	}
	if (!dp_ring_size(s->dp, v->id))
		s->ring_state[v->id] = SYNC_RING_NEW;
	return dp_ring_ensure(s->dp, v->id, v->opts.ring);
}

/* Backend entries collected to be written in one batch (rings_prebuild()). */
struct be_batch {
	__u32 *ids;
	struct xlb_backend *be;
	size_t n;
};

/* With batch, the entries are only collected: the caller writes them before any ring. */
static int place_backends(struct sync *s, struct cfg_vip *v, struct be_batch *batch)
{
	__u32 next = s->be_free;
	int err = 0;

	for (size_t i = 0; i < v->n_backends; i++) {
		struct cfg_backend *b = &v->backends[i];
		struct xlb_backend be = {
			.addr = b->addr,
			.family = b->family,
			.port = htons(b->port),
			.flags = XLB_BACKEND_ACTIVE,
			.vip_id = v->id,
		};

		if (b->id != XLB_BACKEND_NONE && s->be[b->id].used && s->be[b->id].vip_id == v->id)
			continue;
		while (next < s->dp->max_backends && s->be[next].used)
			next++;
		if (next >= s->dp->max_backends)
			return -ENOSPC;
		be.gen = s->be[next].gen + 1;
		if (batch) {
			batch->ids[batch->n] = next;
			batch->be[batch->n++] = be;
		} else {
			err = dp_health_set(s->dp, next, XLB_HEALTH_UP);
			if (!err)
				err = dp_backend_set(s->dp, next, &be);
		}
		s->be[next].health = XLB_HEALTH_UP;
		if (err)
			return err;
		b->id = next;
		b->gen = be.gen;
		s->be[next].gen = be.gen;
		be_use(s, next, v->id);
		s->be_free = next + 1;
	}
	return 0;
}

bool sync_vip_fails_open(const struct cfg_vip *v)
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (!v->backends[i].down)
			return false;
	return v->n_backends > 0;
}

/* Build v's table in `table` and write what differs from the ring (read into `old`; NULL: all). */
static int ring_fill(struct sync *s, const struct cfg_vip *v, __u32 *table, __u32 *old)
{
	bool fail_open = sync_vip_fails_open(v);
	struct maglev_backend *mb = calloc(v->n_backends ? v->n_backends : 1, sizeof(*mb));
	int err;

	if (!mb)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_backends; i++) {
		mb[i].addr = v->backends[i].addr;
		mb[i].family = v->backends[i].family;
		mb[i].port = v->backends[i].port;
		mb[i].id = v->backends[i].id;
		mb[i].weight = v->backends[i].down && !fail_open ? 0 : v->backends[i].weight;
	}
	err = maglev_build(mb, v->n_backends, table, v->opts.ring);
	free(mb);
	if (!err && old)
		err = dp_ring_read(s->dp, v->id, old, v->opts.ring);
	if (!err)
		err = dp_ring_write(s->dp, v->id, table, old, v->opts.ring);
	return err;
}

static int build_ring(struct sync *s, const struct cfg_vip *v)
{
	enum sync_ring_state state = s->ring_state[v->id];

	s->ring_state[v->id] = SYNC_RING_AS_READ;
	/* sync_all() wrote it a moment ago, from the same backends. */
	if (state == SYNC_RING_FRESH)
		return 0;
	return ring_fill(s, v, s->table, state == SYNC_RING_NEW ? NULL : s->old);
}

int sync_ring_read(struct sync *s, const struct cfg_vip *v, __u32 *counts, __u64 *digest)
{
	__u64 h = 0xcbf29ce484222325ULL;	/* FNV-1a 64 offset basis */
	__u32 size = v->opts.ring, max = s->dp->max_backends;
	int err;

	if (v->id == CFG_ID_NONE)
		return -ENOENT;
	err = dp_ring_read(s->dp, v->id, s->table, size);
	if (err)
		return err;
	if (counts)
		memset(counts, 0, v->n_backends * sizeof(*counts));
	for (size_t j = 0; j < v->n_backends; j++)
		if (v->backends[j].id < max)
			s->index[v->backends[j].id] = j + 1;
	for (__u32 slot = 0; slot < size; slot++) {
		__u32 id = s->table[slot], j = id < max ? s->index[id] : 0;
		const struct cfg_backend *b = j ? &v->backends[j - 1] : NULL;

		if (b && counts)
			counts[j - 1]++;
		for (int k = 0; digest && k < 16; k++) {
			h ^= b ? b->addr.b[k] : 0;
			h *= 0x100000001b3ULL;	/* FNV 64 prime */
		}
		/* A port only where there is one: digests of port-less backends stay as they were. */
		for (int k = 0; digest && b && b->port && k < 2; k++) {
			h ^= (__u8)(b->port >> (8 * k));
			h *= 0x100000001b3ULL;
		}
	}
	for (size_t j = 0; j < v->n_backends; j++)
		if (v->backends[j].id < max)
			s->index[v->backends[j].id] = 0;
	if (digest)
		*digest = h;
	return 0;
}

/* After the ring: a backend leaves the ring before its connections re-hash. */
static int write_health(struct sync *s, const struct cfg_vip *v)
{
	bool fail_open = sync_vip_fails_open(v);
	int err;

	for (size_t i = 0; i < v->n_backends; i++) {
		const struct cfg_backend *b = &v->backends[i];
		__u32 want = !b->down ? XLB_HEALTH_UP :
			     fail_open ? XLB_HEALTH_DOWN_FAILOPEN : XLB_HEALTH_DOWN;

		if (s->be[b->id].health == want)
			continue;
		err = dp_health_set(s->dp, b->id, want);
		if (err)
			return err;
		s->be[b->id].health = want;
	}
	return 0;
}

__u32 sync_health(const struct sync *s, __u32 id)
{
	return id < s->dp->max_backends ? s->be[id].health : XLB_HEALTH_UP;
}

/*
 * After a failed sync_vip(): a VIP that no entry names yet is seen by no packet, so give back
 * its ring and backend ids. Kept, every failed restore left a ring and backends behind.
 */
static void discard_unseen(struct sync *s, struct cfg_vip *v)
{
	struct xlb_vip vip;

	if (v->id >= s->dp->max_vips ||
	    (!dp_vip_get(s->dp, &v->key, &vip) && vip.id == v->id))
		return;
	clear_backends(s, v->id, NULL);
	dp_ring_remove(s->dp, v->id);
	s->vip_used[v->id] = false;
	v->id = CFG_ID_NONE;
	for (size_t i = 0; i < v->n_backends; i++)
		v->backends[i].id = XLB_BACKEND_NONE;
}

/* Without an attached interface that has an address, none: new flows are dropped. */
void sync_nat_pool(const struct sync *s, const struct cfg_vip *v, struct xlb_nat_pool *pool)
{
	const struct xlb_addr *own = v->key.family == XLB_AF_INET ? &s->dp->cfg.src_v4 :
								     &s->dp->cfg.src_v6;
	static const struct xlb_addr none;

	memset(pool, 0, sizeof(*pool));
	pool->port_lo = v->opts.snat_port_lo;
	pool->port_hi = v->opts.snat_port_hi;
	pool->n_addrs = v->opts.snat.n;
	memcpy(pool->addrs, v->opts.snat.addrs, sizeof(pool->addrs));
	if (!pool->n_addrs && memcmp(own, &none, sizeof(none)))
		pool->addrs[pool->n_addrs++] = *own;
}

static int write_pool(struct sync *s, const struct cfg_vip *v)
{
	struct xlb_nat_pool pool;
	int err;

	sync_nat_pool(s, v, &pool);
	err = dp_nat_pool_set(s->dp, v->id, &pool);
	/* Before the VIP is visible: its first flow's reply must be looked up. */
	return err ? err : dp_config_flags(s->dp, s->dp->cfg.flags | XLB_CONFIG_NAT);
}

int sync_vip(struct sync *s, struct config *c, struct cfg_vip *v)
{
	struct xlb_vip vip = { 0 };
	int err;

	err = place_vip_id(s, v);
	if (!err)
		err = place_backends(s, v, NULL);
	if (!err)
		err = build_ring(s, v);
	if (!err)
		err = write_health(s, v);
	if (!err)
		err = clear_backends(s, v->id, v);
	if (err) {
		discard_unseen(s, v);
		return err;
	}
	vip.id = v->id;
	vip.ring_size = v->opts.ring;
	vip.method = v->opts.method;
	vip.encap_port = htons(v->opts.encap_port);
	vip.flags = v->opts.hash == CMD_HASH_SRC ? XLB_VIP_HASH_SRC : 0;
	if (v->ratelimit.rate) {
		err = xlb_rl_params(v->ratelimit.rate, v->ratelimit.burst, &vip.rl_interval_ns,
				    &vip.rl_tolerance_ns);
		if (err)
			return err;
		vip.flags |= XLB_VIP_RATELIMIT;
	}
	if (v->opts.method == XLB_METHOD_NAT) {
		err = write_pool(s, v);
		if (err)
			return err;
	}
	return dp_vip_set(s->dp, &v->key, &vip);
}

/*
 * Append a key of sz bytes to *arr (n entries). Keys to delete are collected
 * first because deleting while walking a hash map restarts the walk.
 * -ENOMEM leaves *arr as it was, for the caller to free.
 */
static int push_key(void **arr, size_t *n, const void *key, size_t sz)
{
	char *p = realloc(*arr, (*n + 1) * sz);

	if (!p)
		return -ENOMEM;
	memcpy(p + *n * sz, key, sz);
	*arr = p;
	(*n)++;
	return 0;
}

struct rings_job {
	struct sync *s;
	struct config *c;
	__u32 **scratch;	/* per worker: a table and the old ring, ring slots each */
	__u32 slots;
};

static int ring_job(size_t i, unsigned int worker, void *ctx)
{
	struct rings_job *job = ctx;
	struct cfg_vip *v = &job->c->vips[i];
	__u8 *state = &job->s->ring_state[v->id];
	/* A ring made by this start holds nothing worth 256 KiB of reads to compare with. */
	__u32 *old = *state == SYNC_RING_NEW ? NULL : job->scratch[worker] + job->slots;
	int err = ring_fill(job->s, v, job->scratch[worker], old);

	if (!err)
		*state = SYNC_RING_FRESH;
	return err;
}

/*
 * The Maglev tables of all of c's VIPs, built on every CPU and written to their rings (placed
 * already), ahead of sync_vip(), which then finds them fresh: the tables are most of the time
 * of a start (1000 VIPs x 65537 slots: ~1.2 s on one CPU), and independent of each other. The
 * backends are placed first, as sync_vip() would: before any ring slot names them.
 */
static int rings_prebuild(struct sync *s, struct config *c)
{
	struct rings_job job = { .s = s, .c = c };
	unsigned int workers = parallel_workers(c->n_vips, 16);
	struct be_batch batch = { 0 };
	size_t total = 1;
	bool batched;
	int err = 0;

	for (size_t i = 0; i < c->n_vips; i++)
		total += c->vips[i].n_backends;
	batch.ids = calloc(total, sizeof(*batch.ids));
	batch.be = calloc(total, sizeof(*batch.be));
	batched = batch.ids && batch.be;

	/* New backends in one batch (dp_batch.c), not three syscalls each. */
	for (size_t i = 0; !err && i < c->n_vips; i++) {
		err = place_backends(s, &c->vips[i], batched ? &batch : NULL);
		if (c->vips[i].opts.ring > job.slots)
			job.slots = c->vips[i].opts.ring;
	}
	if (!err && batched)
		err = dp_backends_write(s->dp, batch.ids, batch.be, batch.n);
	free(batch.ids);
	free(batch.be);
	if (err || workers < 2)
		return err;
	job.scratch = calloc(workers, sizeof(*job.scratch));
	for (unsigned int k = 0; job.scratch && k < workers; k++) {
		job.scratch[k] = malloc(2 * (size_t)job.slots * sizeof(**job.scratch));
		if (!job.scratch[k])
			workers = k;
	}
	if (workers >= 2)
		err = parallel_for(c->n_vips, workers, ring_job, &job);
	for (unsigned int k = 0; job.scratch && k < workers; k++)
		free(job.scratch[k]);
	free(job.scratch);
	return err;
}

int sync_all(struct sync *s, struct config *c)
{
	struct xlb_vip_key key, prev, *stale = NULL;
	size_t n_stale = 0;
	struct cfg_vip *v;
	struct xlb_vip vip;
	int err = 0, ierr;

	for (int first = 1; !err && !dp_vip_next(s->dp, first ? NULL : &prev, &key); first = 0) {
		prev = key;
		v = config_vip(c, &key);
		if (!v || dp_vip_get(s->dp, &key, &vip) || vip.id != v->id)
			err = push_key((void **)&stale, &n_stale, &key, sizeof(key));
	}
	for (size_t i = 0; !err && i < n_stale; i++)
		err = sync_vip_remove(s, &stale[i]);
	s->swept.vips += n_stale;
	free(stale);
	/*
	 * Every VIP's id and ring first, the rings installed in one batch (one
	 * RCU grace period for all, not ~13 ms each), then the VIPs as usual:
	 * each still finds its ring in place before it is written.
	 */
	if (!err) {
		dp_rings_defer(s->dp);
		for (size_t i = 0; !err && i < c->n_vips; i++)
			err = place_vip_id(s, &c->vips[i]);
		ierr = dp_rings_install(s->dp);
		err = err ? err : ierr;
	}
	if (!err)
		err = rings_prebuild(s, c);
	for (size_t i = 0; !err && i < c->n_vips; i++)
		err = sync_vip(s, c, &c->vips[i]);
	/* A ring built ahead stays fresh only until its VIP is written. */
	memset(s->ring_state, SYNC_RING_AS_READ, s->dp->max_vips * sizeof(*s->ring_state));
	/* The rings placed ahead for VIPs never written go back too. */
	for (size_t i = 0; err && i < c->n_vips; i++)
		discard_unseen(s, &c->vips[i]);
	return err ? err : sync_addrs(s, c);
}

/* The entry an address should have: echo, and which hash-src VIP takes fragments. */
static void addr_entry(const struct config *c, const struct xlb_vip_addr_key *k,
		       struct xlb_vip_addr *val)
{
	memset(val, 0, sizeof(*val));
	val->flags = XLB_ADDR_ECHO;
	for (size_t i = 0; i < c->n_vips; i++) {
		const struct cfg_vip *v = &c->vips[i];

		if (v->key.family != k->family || memcmp(&v->key.addr, &k->addr, sizeof(k->addr)) ||
		    v->opts.hash != CMD_HASH_SRC)
			continue;
		/* The first hash-src VIP of a protocol on the address takes its fragments. */
		if (v->key.proto == IPPROTO_TCP && !(val->flags & XLB_ADDR_FRAG_TCP)) {
			val->flags |= XLB_ADDR_FRAG_TCP;
			val->frag_port_tcp = v->key.port;
		} else if (v->key.proto == IPPROTO_UDP && !(val->flags & XLB_ADDR_FRAG_UDP)) {
			val->flags |= XLB_ADDR_FRAG_UDP;
			val->frag_port_udp = v->key.port;
		}
	}
}

static bool addr_wanted(const struct config *c, const struct xlb_vip_addr_key *k)
{
	for (size_t i = 0; i < c->n_vips; i++)
		if (c->vips[i].key.family == k->family &&
		    !memcmp(&c->vips[i].key.addr, &k->addr, sizeof(k->addr)))
			return true;
	return false;
}

int sync_pools(struct sync *s, const struct config *c)
{
	int err = 0;

	for (size_t i = 0; !err && i < c->n_vips; i++)
		if (c->vips[i].opts.method == XLB_METHOD_NAT && c->vips[i].id != CFG_ID_NONE)
			err = write_pool(s, &c->vips[i]);
	return err ? err : sync_addrs(s, c);
}

/*
 * The prefilter bits of every pool address, so that replies reach the NAT table, and
 * XLB_CONFIG_NAT while a VIP is nat (DSR-only setups never look NAT entries up).
 */
static int sync_nat_addrs(struct sync *s, const struct config *c)
{
	struct xlb_addr *addrs = NULL;
	struct xlb_nat_pool pool;
	__u32 flags = s->dp->cfg.flags & ~XLB_CONFIG_NAT;
	size_t n = 0;
	int err = 0;

	for (size_t i = 0; !err && i < c->n_vips; i++) {
		if (c->vips[i].opts.method != XLB_METHOD_NAT)
			continue;
		flags |= XLB_CONFIG_NAT;
		sync_nat_pool(s, &c->vips[i], &pool);
		for (__u32 j = 0; !err && j < pool.n_addrs; j++)
			err = push_key((void **)&addrs, &n, &pool.addrs[j], sizeof(pool.addrs[j]));
	}
	if (!err)
		err = dp_filter_extra_set(s->dp, addrs, n);
	free(addrs);
	return err ? err : dp_config_flags(s->dp, flags);
}

int sync_addrs(struct sync *s, const struct config *c)
{
	struct xlb_vip_addr_key key, prev, *stale = NULL;
	struct xlb_vip_addr val;
	size_t n_stale = 0;
	int err = 0;

	for (size_t i = 0; !err && i < c->n_vips; i++) {
		memset(&key, 0, sizeof(key));
		key.addr = c->vips[i].key.addr;
		key.family = c->vips[i].key.family;
		addr_entry(c, &key, &val);
		err = dp_addr_set(s->dp, &key, &val);
	}
	for (int first = 1; !err && !dp_addr_next(s->dp, first ? NULL : &prev, &key); first = 0) {
		prev = key;
		if (!addr_wanted(c, &key))
			err = push_key((void **)&stale, &n_stale, &key, sizeof(key));
	}
	for (size_t i = 0; !err && i < n_stale; i++)
		err = dp_addr_del(s->dp, &stale[i]);
	free(stale);
	return err ? err : sync_nat_addrs(s, c);
}
