// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Whole arrays of the data plane in a few syscalls. Start-up read the
 * backend, health and VIP-counter entry of every id one lookup at a time:
 * 37,000 syscalls, ~55 ms of a start, with the default sizes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "xlb.skel.h"

/* Entries 0..n-1 of array map fd into vals, vsz bytes each (all CPUs' for a per-CPU map). */
static int array_read(int fd, void *vals, __u32 n, size_t vsz)
{
	__u32 *keys = calloc(n ? n : 1, sizeof(*keys)), done = 0, count, token;
	int err = 0;
	void *in = NULL;

	if (!keys)
		return -ENOMEM;
	while (done < n) {
		count = n - done;
		err = bpf_map_lookup_batch(fd, in, &token, keys + done, (char *)vals + done * vsz,
					   &count, NULL);
		done += count;
		if (err == -ENOENT)
			err = 0;	/* the end of the map: count still says what this call read */
		if (err || !count)
			break;
		in = &token;
	}
	free(keys);
	return err ? err : done == n ? 0 : -EIO;
}

int dp_backends_read(struct dp *dp, struct xlb_backend *be, __u32 *health)
{
	int err = array_read(bpf_map__fd(dp->skel->maps.backends), be, dp->max_backends,
			     sizeof(*be));

	return err ? err : array_read(bpf_map__fd(dp->skel->maps.health), health,
				      dp->max_backends, sizeof(*health));
}

void dp_percpu_fold(const __u64 *vals, __u32 n, int ncpus, size_t vsz, void *sums, size_t size)
{
	size_t words = size / sizeof(__u64), stride = vsz / sizeof(__u64);
	__u64 *out = sums;

	for (__u32 id = 0; id < n; id++)
		for (int cpu = 0; cpu < ncpus; cpu++)
			for (size_t i = 0; i < words; i++)
				out[id * words + i] += vals[((size_t)id * ncpus + cpu) * stride + i];
}

/* Entries 0..n-1 of per-CPU array map, each a struct of 8-byte counters (size bytes), summed. */
static int percpu_sums_read(struct bpf_map *map, __u32 n, void *sums, size_t size)
{
	int ncpus = libbpf_num_possible_cpus();
	size_t vsz = bpf_map__value_size(map);
	__u64 *vals;
	int err;

	if (ncpus < 0)
		return ncpus;
	if (n > bpf_map__max_entries(map))
		return -EINVAL;
	vals = calloc((size_t)(n ? n : 1) * ncpus, vsz);
	if (!vals)
		return -ENOMEM;
	err = array_read(bpf_map__fd(map), vals, n, vsz * ncpus);
	memset(sums, 0, n * size);
	if (!err)
		dp_percpu_fold(vals, n, ncpus, vsz, sums, size);
	free(vals);
	return err;
}

int dp_vip_stats_read(struct dp *dp, __u32 n, struct xlb_vip_stats *sums)
{
	return percpu_sums_read(dp->skel->maps.vip_stats, n, sums, sizeof(*sums));
}

int dp_backend_stats_read(struct dp *dp, __u32 n, struct xlb_backend_stats *sums)
{
	return percpu_sums_read(dp->skel->maps.backend_stats, n, sums, sizeof(*sums));
}

/* A backend entry without dp_backend_set()'s next-hop refresh: the caller does it once. */
static int map_put_backend(struct dp *dp, __u32 id, const struct xlb_backend *be)
{
	return bpf_map__update_elem(dp->skel->maps.backends, &id, sizeof(id), be, sizeof(*be),
				    BPF_ANY);
}

/* One batch update of n entries; -EOPNOTSUPP (or the kernel's refusal) sends the caller one by one. */
static int array_write(struct bpf_map *map, const __u32 *ids, const void *vals, size_t n)
{
	__u32 count = n;

	if (!n)
		return 0;
	return bpf_map_update_batch(bpf_map__fd(map), ids, vals, &count, NULL);
}

int dp_backends_write(struct dp *dp, const __u32 *ids, const struct xlb_backend *be, size_t n)
{
	__u32 *up = calloc(n ? n : 1, sizeof(*up));
	int err = up ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		if (ids[i] == XLB_BACKEND_NONE || ids[i] >= dp->max_backends)
			err = -EINVAL;
		up[i] = XLB_HEALTH_UP;
	}
	/* Health first, as dp_health_set() then dp_backend_set() would. */
	if (!err && (array_write(dp->skel->maps.health, ids, up, n) ||
		     array_write(dp->skel->maps.backends, ids, be, n))) {
		for (size_t i = 0; !err && i < n; i++) {
			err = dp_health_set(dp, ids[i], XLB_HEALTH_UP);
			if (!err)
				err = map_put_backend(dp, ids[i], &be[i]);
		}
	}
	free(up);
	/* The ids may have had other addresses: their next hops are looked up anew. */
	return err ? err : dp_nexthop_refresh(dp);
}

/*
 * A ring of any layout (value size vsz; an older build's, to be copied) by its fd: a batch
 * read packs the values without the kernel's 8-byte element stride, so the values read as a
 * plain array of slots of their width, as a mapped ring does.
 */
int dp_ring_fd_read(int fd, __u32 vsz, __u32 *table, __u32 size)
{
	__u32 width = XLB_RING_SLOT_BYTES(vsz), n = XLB_RING_ENTRIES(size, vsz / width);
	void *vals = calloc(n ? n : 1, vsz);
	int err = vals ? array_read(fd, vals, n, vsz) : -ENOMEM;

	if (!err)
		dp_ring_widen(vals, width, table, size);
	free(vals);
	return err;
}
