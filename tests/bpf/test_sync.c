// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The reconciler (ctl/sync.c) against real maps, for what must never stay behind in them: a
 * VIP that failed to be placed (a restore past the backend ids) gives back its ring and its
 * backends, however often it fails, and start-up removes what no VIP entry names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "cmd.h"
#include "config.h"
#include "dataplane.h"
#include "fixture.h"
#include "sync.h"
#include "xlb.skel.h"

#define MAX_VIPS	4
#define MAX_BACKENDS	16	/* ids 1-15 */

static struct dp dp;
static struct sync s;
static struct config cfg;	/* VIP A with three backends, in the maps */
static char err[256];

static void load(struct config *c, const char *text)
{
	int ret = config_apply_text(c, text, err, sizeof(err));

	check(ret == 0, "the text applies: %s", err);
}

static __u32 rings_held(void)
{
	__u32 n = 0;

	for (__u32 id = 0; id < dp.max_vips; id++) {
		__u32 inner, fd = bpf_map__fd(dp.skel->maps.rings);

		n += !bpf_map_lookup_elem(fd, &id, &inner);
	}
	return n;
}

static __u32 backends_active(void)
{
	struct xlb_backend be;
	__u32 n = 0;

	for (__u32 id = 1; id < dp.max_backends; id++)
		n += !dp_backend_get(&dp, id, &be) && (be.flags & XLB_BACKEND_ACTIVE);
	return n;
}

static int group_setup(void **state)
{
	if (fx_sync_setup(&dp, &s, MAX_VIPS, MAX_BACKENDS))
		return -1;
	config_init(&cfg);
	load(&cfg, "vip add 10.0.0.10:80/tcp ring 1021\n"
		   "backend add 10.0.0.10:80/tcp 10.0.1.1\n"
		   "backend add 10.0.0.10:80/tcp 10.0.1.2\n"
		   "backend add 10.0.0.10:80/tcp 10.0.1.3\n");
	return sync_all(&s, &cfg) ? -1 : 0;
}

static int group_teardown(void **state)
{
	config_free(&cfg);
	sync_free(&s);
	dp_unload(&dp);
	return 0;
}

/*
 * A restore whose new VIP runs out of backend ids, reverted as xlbd does: its ring and the
 * backends placed before the failure are gone, every time.
 */
static void test_failed_vip_leaves_nothing(void **state)
{
	struct config work;
	char line[96];
	int ret;

	config_init(&work);
	check(config_copy(&work, &cfg) == 0, "copy");
	load(&work, "vip add 10.0.0.20:80/tcp ring 1021\n");
	for (int i = 1; i <= 20; i++) {
		snprintf(line, sizeof(line), "backend add 10.0.0.20:80/tcp 10.0.2.%d\n", i);
		load(&work, line);
	}
	for (int round = 1; round <= 3; round++) {
		ret = sync_all(&s, &work);
		check(ret == -ENOSPC, "round %d: 23 backends in 15 ids: -ENOSPC, got %d", round,
		      ret);
		check(sync_all(&s, &cfg) == 0, "round %d: the old configuration back", round);
		check(rings_held() == 1, "round %d: one ring, VIP A's, got %u", round,
		      rings_held());
		check(backends_active() == 3, "round %d: VIP A's 3 backends, got %u", round,
		      backends_active());
		for (__u32 id = 0; id < dp.max_vips; id++)
			check(s.vip_used[id] == (id == cfg.vips[0].id) &&
				      !dp_ring_size(&dp, id) == (id != cfg.vips[0].id),
			      "round %d: VIP id %u is %s", round, id,
			      id == cfg.vips[0].id ? "A's" : "free");
	}
	config_free(&work);
}

/* Leftovers of a crash or an older xlbd: gone at the next sync_init(), VIP A untouched. */
static void test_start_removes_leftovers(void **state)
{
	struct xlb_backend be = { .vip_id = 3, .gen = 1, .family = XLB_AF_INET,
				  .flags = XLB_BACKEND_ACTIVE };
	int ncpus = libbpf_num_possible_cpus();
	struct xlb_backend_stats *bs = calloc(ncpus, sizeof(*bs)), sum;
	__u32 id = 13, health;
	__u32 a = cfg.vips[0].id;

	assert_non_null(bs);
	check(a != 3, "VIP A is not id 3");
	check(dp_ring_ensure(&dp, 3, 1021) == 0, "a ring for VIP id 3, which no VIP has");
	be.addr.v4 = 0x63000a0a;
	check(dp_backend_set(&dp, 9, &be) == 0, "backend 9 of VIP id 3");
	check(dp_health_set(&dp, 12, XLB_HEALTH_DOWN) == 0, "id 12 marked down");
	/* Id 13 was handed out once (gen 1) and freed, but its counters were not zeroed. */
	check(dp_backend_set(&dp, 13, &(struct xlb_backend){ .gen = 1 }) == 0, "id 13, freed");
	bs[0].packets = 5;
	check(bpf_map__update_elem(dp.skel->maps.backend_stats, &id, sizeof(id), bs,
				   sizeof(*bs) * ncpus, BPF_ANY) == 0,
	      "counters on id 13");
	free(bs);
	check(rings_held() == 2 && backends_active() == 4, "the leftovers are in the maps");

	sync_free(&s);
	check(sync_init(&s, &dp) == 0, "sync_init");
	check(s.swept.rings == 1 && s.swept.backends == 1 && s.swept.health == 1 &&
		      s.swept.counters == 1 && s.swept.vips == 0,
	      "one of each removed, got rings %u backends %u health %u counters %u vips %u",
	      s.swept.rings, s.swept.backends, s.swept.health, s.swept.counters, s.swept.vips);
	check(rings_held() == 1 && dp_ring_size(&dp, a) == 1021 && !dp_ring_size(&dp, 3),
	      "only VIP A's ring is left");
	check(backends_active() == 3, "only VIP A's backends are left, got %u",
	      backends_active());
	check(!dp_health_get(&dp, 12, &health) && health == XLB_HEALTH_UP, "id 12 is up");
	check(!dp_backend_stats(&dp, 13, &sum) && sum.packets == 0, "id 13's counters are zero");

	/* VIP A is adopted as it was and syncs with nothing to remove. */
	sync_adopt(&s, &cfg);
	check(sync_all(&s, &cfg) == 0 && s.swept.vips == 0, "VIP A syncs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_vip_leaves_nothing),
		cmocka_unit_test(test_start_removes_leftovers),
	};

	return cmocka_run_group_tests_name("reconciler", tests, group_setup, group_teardown);
}
