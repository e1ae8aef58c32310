// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel memory locked by the maps, as xlbd would lock it: a data plane
 * loaded with the default sizes (dp_load(), no options), VIPs placed by the
 * real reconciler from a configuration parsed like a state file. The figure
 * per map is the kernel's own, "memlock:" in the map's fdinfo (since 6.4 the
 * map's actual memory, map_mem_usage); the rings are the per-VIP inner maps
 * the data plane holds in dp->ring_fds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "config.h"
#include "dataplane.h"
#include "sync.h"
#include "xlb.skel.h"

#define MEM_BACKENDS	10	/* per VIP */
#define MEM_MAPS_MAX	64	/* maps of the skeleton, with room */
#define MIB		1048576.0
#define SEC_MEM		"kernel memory"
#define MEM_TARGET_1VIP	16	/* MiB, a daemon serving one VIP with default sizes (issue 13) */

long long bench_map_memlock(int fd)
{
	char path[64], line[256];
	long long bytes = -1;
	bool map = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	/* Programs and links have a memlock line too: only a map has a map_type. */
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "map_type:", 9))
			map = true;
		sscanf(line, "memlock: %lld", &bytes);
	}
	fclose(f);
	return map ? bytes : -1;
}

/* The inner maps an array of maps holds (from userspace a lookup gives their ids). */
static long long inner_memlock(int outer, __u32 max_entries)
{
	long long sum = 0, m;
	__u32 id;
	int fd;

	for (__u32 key = 0; key < max_entries; key++) {
		if (bpf_map_lookup_elem(outer, &key, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
		m = bench_map_memlock(fd);
		sum += m > 0 ? m : 0;
		close(fd);
	}
	return sum;
}

int bench_pins_memlock(const char *pin_dir, long long *maps, long long *rings)
{
	DIR *d = opendir(pin_dir);
	struct dirent *e;

	*maps = *rings = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		char path[PATH_MAX];
		long long m;
		int fd;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, e->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		m = bench_map_memlock(fd);
		if (m >= 0) {
			*maps += m;
			memset(&info, 0, sizeof(info));
			if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
			    info.type == BPF_MAP_TYPE_ARRAY_OF_MAPS)
				*rings += inner_memlock(fd, info.max_entries);
		}
		close(fd);
	}
	closedir(d);
	return 0;
}

struct map_use {
	char name[32];
	long long bytes;
};

static int cmp_use(const void *a, const void *b)
{
	long long x = ((const struct map_use *)a)->bytes, y = ((const struct map_use *)b)->bytes;

	return (x < y) - (x > y);
}

struct mem_figures {
	long long maps;		/* the skeleton's maps: sized at load */
	long long rings;	/* one inner map per VIP */
	struct map_use by_map[MEM_MAPS_MAX];
	size_t n_maps;
	double place_ms;	/* config_apply_text + sync_all */
	unsigned int ring_slot;	/* bytes a slot, as dp_load() chose for the default -B */
};

/* A fresh data plane with n_vips placed by the reconciler; what its maps lock. */
static int measure(size_t n_vips, struct mem_figures *f)
{
	char err[512] = "", *text = NULL;
	struct config cfg;
	struct sync sync;
	struct bpf_map *map;
	struct dp dp;
	size_t len;
	double t0;
	int ret;

	memset(f, 0, sizeof(*f));
	config_init(&cfg);
	text = bench_config_text(n_vips, MEM_BACKENDS, &len);
	if (!text)
		return -ENOMEM;
	ret = dp_load(&dp, NULL);
	if (ret) {
		fprintf(stderr, "bench: cannot load the data plane: %s\n", strerror(-ret));
		goto out_text;
	}
	ret = sync_init(&sync, &dp);
	if (ret)
		goto out_dp;
	t0 = now_ms();
	ret = config_apply_text(&cfg, text, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench: configuration of %zu VIPs: %s\n", n_vips, err);
		goto out_sync;
	}
	ret = sync_all(&sync, &cfg);
	f->place_ms = now_ms() - t0;
	if (ret) {
		fprintf(stderr, "bench: placing %zu VIPs: %s\n", n_vips, strerror(-ret));
		goto out_sync;
	}
	bpf_object__for_each_map(map, dp.skel->obj) {
		long long m = bench_map_memlock(bpf_map__fd(map));

		if (m < 0)
			continue;
		f->maps += m;
		if (f->n_maps < MEM_MAPS_MAX) {
			struct map_use *u = &f->by_map[f->n_maps++];

			snprintf(u->name, sizeof(u->name), "%s", bpf_map__name(map));
			u->bytes = m;
		}
	}
	for (__u32 id = 0; id < dp.max_vips; id++) {
		long long m = dp.ring_fds[id] >= 0 ? bench_map_memlock(dp.ring_fds[id]) : -1;

		f->rings += m > 0 ? m : 0;
	}
	f->ring_slot = dp.ring_slot;
	qsort(f->by_map, f->n_maps, sizeof(f->by_map[0]), cmp_use);
out_sync:
	sync_free(&sync);
out_dp:
	dp_unload(&dp);
out_text:
	config_free(&cfg);
	free(text);
	return ret;
}

void bench_memory(void)
{
	static const size_t counts[] = { 0, 1, 100, 1000 };
	static struct mem_figures f[sizeof(counts) / sizeof(counts[0])];
	const size_t n = sizeof(counts) / sizeof(counts[0]);
	double per_vip_min = 0, per_vip_max = 0, fixed, other = 0, slot;
	size_t shown = 0;

	for (size_t k = 0; k < n; k++)
		if (measure(counts[k], &f[k]))
			return;
	fixed = (f[0].maps + f[0].rings) / MIB;

	printf("\nKernel memory locked by the maps, MiB (dp_load defaults: %u VIPs, %u backends,\n"
	       "%u connections; VIPs placed by sync_all, %d backends each, ring %u slots)\n",
	       XLB_MAX_VIPS, XLB_MAX_BACKENDS, XLB_CONNS_DEFAULT, MEM_BACKENDS, XLB_RING_DEFAULT);
	printf("  %5s %10s %10s %10s %10s %12s %10s\n", "VIPs", "maps", "rings", "total",
	       "per VIP", "per VIP", "apply+sync");
	printf("  %5s %10s %10s %10s %10s %12s %10s\n", "", "", "", "", "(total/n)",
	       "(above 0)", "ms");
	for (size_t k = 0; k < n; k++) {
		double total = (f[k].maps + f[k].rings) / MIB;
		char name[64];

		printf("  %5zu %10.2f %10.2f %10.2f", counts[k], f[k].maps / MIB, f[k].rings / MIB,
		       total);
		snprintf(name, sizeof(name), "maps and rings, %zu VIP%s", counts[k],
			 counts[k] == 1 ? "" : "s");
		if (counts[k] == 1)
			bench_record(SEC_MEM, name, total, "MiB", NAN, "<= %d MiB: %s (rings %.2f MiB)",
				     MEM_TARGET_1VIP, bench_meets(total <= MEM_TARGET_1VIP),
				     f[k].rings / MIB);
		else
			bench_record(SEC_MEM, name, total, "MiB", NAN, "rings %.2f MiB",
				     f[k].rings / MIB);
		snprintf(name, sizeof(name), "apply and sync %zu VIP%s", counts[k],
			 counts[k] == 1 ? "" : "s");
		bench_record(SEC_MEM, name, f[k].place_ms, "ms", NAN, "%d backends each",
			     MEM_BACKENDS);
		if (counts[k]) {
			double marginal = (total - fixed) / counts[k];

			snprintf(name, sizeof(name), "per VIP above 0 VIPs, at %zu VIP%s", counts[k],
				 counts[k] == 1 ? "" : "s");
			bench_record(SEC_MEM, name, marginal, "MiB", NAN, "-");
			printf(" %10.3f %12.3f", total / counts[k], marginal);
			if (!per_vip_min || marginal < per_vip_min)
				per_vip_min = marginal;
			if (marginal > per_vip_max)
				per_vip_max = marginal;
		} else {
			printf(" %10s %12s", "-", "-");
		}
		printf(" %10.1f\n", f[k].place_ms);
	}
	printf("  fixed part (0 VIPs), largest maps:");
	for (size_t i = 0; i < f[0].n_maps; i++) {
		if (shown < 6 && f[0].by_map[i].bytes >= MIB / 10) {
			printf("%s %s %.2f", shown ? "," : "", f[0].by_map[i].name,
			       f[0].by_map[i].bytes / MIB);
			shown++;
		} else {
			other += f[0].by_map[i].bytes / MIB;
		}
	}
	printf(", %zu others %.2f\n", f[0].n_maps - shown, other);
	printf("  growth with VIPs: %.3f-%.3f MiB per VIP above the fixed %.2f MiB: %s\n",
	       per_vip_min, per_vip_max, fixed,
	       per_vip_max - per_vip_min <= per_vip_max / 100 ?
		       "linear in VIPs (a fixed part plus one ring each)" :
		       "NOT linear in VIPs");
	/* The slot itself, and what a ring costs per slot with its map's header and pages. */
	slot = f[n - 1].rings / ((double)counts[n - 1] * XLB_RING_DEFAULT);
	printf("  ring slot: %u bytes (target <= 4; 4 with -B above %u); with each ring's header "
	       "and page rounding: %.2f bytes\n", f[n - 1].ring_slot, XLB_RING16_MAX_BACKENDS, slot);
	bench_record(SEC_MEM, "ring slot", f[n - 1].ring_slot, "bytes", NAN,
		     "<= 4 bytes: %s; %.2f with each ring's header and pages; 4 with -B above %u",
		     bench_meets(f[n - 1].ring_slot <= 4), slot, XLB_RING16_MAX_BACKENDS);
	bench_record(SEC_MEM, "growth per VIP, largest of the above", per_vip_max, "MiB", NAN,
		     "linear in VIPs (within 1%%): %s",
		     bench_meets(per_vip_max - per_vip_min <= per_vip_max / 100));
}
