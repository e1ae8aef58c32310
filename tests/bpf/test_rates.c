// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The rates sampler (ctl/rates.c) against real maps: what `stats` shows for a VIP and a backend
 * is their counters summed over every CPU, whether the sampler reads a few ids one lookup each
 * or many ids in one batch read of the array (series_read_all()).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "config.h"
#include "dataplane.h"
#include "fixture.h"
#include "rates.h"
#include "sync.h"
#include "xlb.skel.h"

#define MAX_VIPS	128
#define MAX_BACKENDS	256

static struct dp dp;
static struct sync s;
static int ncpus;
static char err[256];

static int group_setup(void **state)
{
	ncpus = libbpf_num_possible_cpus();
	return ncpus > 0 && !fx_sync_setup(&dp, &s, MAX_VIPS, MAX_BACKENDS) ? 0 : -1;
}

static int group_teardown(void **state)
{
	sync_free(&s);
	dp_unload(&dp);
	return 0;
}

/* n_vips VIPs (10.0.1.1:80/tcp, ...) of n backends each, placed in the maps. */
static void vips_with(struct config *c, int n_vips, int n)
{
	char line[128];
	int k = 0;

	config_init(c);
	for (int v = 1; v <= n_vips; v++) {
		snprintf(line, sizeof(line), "vip add 10.0.1.%d:80/tcp ring 1021\n", v);
		check(config_apply_text(c, line, err, sizeof(err)) == 0, "%s", err);
		for (int i = 1; i <= n; i++, k++) {
			snprintf(line, sizeof(line), "backend add 10.0.1.%d:80/tcp 10.1.%d.%d\n", v,
				 k / 250, k % 250 + 1);
			check(config_apply_text(c, line, err, sizeof(err)) == 0, "%s", err);
		}
	}
	check(sync_all(&s, c) == 0, "%d VIPs of %d backends placed", n_vips, n);
}

/* Per-CPU counters of id in map: CPU k holds base * (k + 1) packets and 100 times the bytes. */
static void counters_set(struct bpf_map *map, __u32 id, __u64 base, size_t words)
{
	size_t vsz = bpf_map__value_size(map);
	__u64 *vals = calloc(ncpus, vsz);

	check(vals != NULL, "memory");
	for (int k = 0; k < ncpus; k++) {
		vals[k * (vsz / 8)] = base * (k + 1);
		vals[k * (vsz / 8) + 1] = base * (k + 1) * 100;
		for (size_t w = 2; w < words; w++)
			vals[k * (vsz / 8) + w] = 7;
	}
	check(bpf_map_update_elem(bpf_map__fd(map), &id, vals, 0) == 0, "counters of id %u", id);
	free(vals);
}

/* What counters_set() wrote, summed over the CPUs. */
static __u64 packets_of(__u64 base)
{
	return base * ncpus * (ncpus + 1) / 2;
}

/* Wait (3 s at most) until the sampler has read every VIP of c and every backend once. */
static void sampled(struct rates *r, const struct config *c)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	bool all = false;

	for (int i = 0; i < 150 && !all; i++) {
		all = true;
		for (size_t v = 0; all && v < c->n_vips; v++) {
			all = rates_vip(r, c->vips[v].id).at_ms != 0;
			for (size_t j = 0; all && j < c->vips[v].n_backends; j++)
				all = rates_backend(r, c->vips[v].backends[j].id).at_ms != 0;
		}
		if (!all)
			nanosleep(&nap, NULL);
	}
	check(all, "the sampler read every VIP and backend within 3 s");
}

static void check_rate(struct rate got, __u64 base, const char *what, __u32 id)
{
	check(got.packets == packets_of(base) && got.bytes == 100 * packets_of(base),
	      "%s id %u: %llu packets, %llu bytes read, want %llu and %llu", what, id,
	      (unsigned long long)got.packets, (unsigned long long)got.bytes,
	      (unsigned long long)packets_of(base), (unsigned long long)(100 * packets_of(base)));
}

static void sums_shown(int n_vips, int n)
{
	struct rates *r = NULL;
	struct config c;

	vips_with(&c, n_vips, n);
	for (size_t v = 0; v < c.n_vips; v++) {
		counters_set(dp.skel->maps.vip_stats, c.vips[v].id, 5000 + c.vips[v].id,
			     sizeof(struct xlb_vip_stats) / 8);
		for (size_t j = 0; j < c.vips[v].n_backends; j++)
			counters_set(dp.skel->maps.backend_stats, c.vips[v].backends[j].id,
				     1000 + c.vips[v].backends[j].id,
				     sizeof(struct xlb_backend_stats) / 8);
	}
	check(rates_open(&r, &dp) == 0, "sampler started");
	rates_watch(r, &c);
	sampled(r, &c);
	for (size_t v = 0; v < c.n_vips; v++) {
		const struct cfg_vip *vip = &c.vips[v];

		check_rate(rates_vip(r, vip->id), 5000 + vip->id, "VIP", vip->id);
		for (size_t j = 0; j < vip->n_backends; j++)
			check_rate(rates_backend(r, vip->backends[j].id), 1000 + vip->backends[j].id,
				   "backend", vip->backends[j].id);
	}
	rates_close(r);
	/* The maps as they were found, for the next test. */
	config_free(&c);
	config_init(&c);
	check(sync_all(&s, &c) == 0, "VIPs removed");
	config_free(&c);
}

/* One VIP of three backends: a lookup each. */
static void test_few_ids(void **state)
{
	sums_shown(1, 3);
}

/* 70 VIPs of 2 backends, ids close together: each array read whole in one batch. */
static void test_many_ids(void **state)
{
	sums_shown(70, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_few_ids),
		cmocka_unit_test(test_many_ids),
	};

	return cmocka_run_group_tests_name("rates", tests, group_setup, group_teardown);
}
