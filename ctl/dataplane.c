// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "fileio.h"
#include "xdp_link.h"
#include "log.h"
#include "xlb_hash.h"
#include "xlb_ratelimit.h"
#include "xlb_trace.h"
#include "xlb.skel.h"
#include "xlb_trace.skel.h"

static int zero_percpu(struct bpf_map *map, __u32 key);

static int errno_or(int fallback)
{
	return errno ? -errno : fallback;
}

static int ring_map(struct dp *dp, __u32 vip_id, int fd, __u32 size);
static int ring_create(struct dp *dp, __u32 vip_id, __u32 size);

static __u64 monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * A pinned map of another size than this start asks for (xlbd -C, -L, -B,
 * -N), or of another layout. The connection and rate-limit tables hold
 * nothing that cannot be rebuilt: a new, empty one is created (also for a
 * table of an older build's layout, such as the LRU hash conns once was), and the established flows are bound
 * again on their next packet, by the ring (unchanged by a restart, so nearly
 * all stay where they were); buckets start full again. The old map lives on,
 * used by the running program, until the link switches to the new program.
 * The VIP and backend maps hold the configuration itself: their size is
 * refused (-EEXIST), saying so, rather than silently starting empty.
 * Called twice: first to refuse (apply false), then to replace, so that a
 * refused start changes nothing.
 */
static int pin_check_size(struct dp *dp, struct xlb *skel, struct bpf_map *map, const char *path,
			  bool apply)
{
	/*
	 * Also the daemon's config (rewritten at every start) and the outcome
	 * counters, whose structs grow with the program (NAT added to both):
	 * an upgrade starts them afresh, the counters from zero, rather than
	 * refuse to start over the older build's pins.
	 */
	bool rebuildable = map == skel->maps.conns || map == skel->maps.conn_hints ||
			   map == skel->maps.ratelimit ||
			   map == skel->maps.config || map == skel->maps.outcomes;
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = errno_or(-EINVAL);
	else if (info.type == bpf_map__type(map) && info.max_entries == bpf_map__max_entries(map) &&
		 (!rebuildable || (info.value_size == bpf_map__value_size(map) &&
				   info.map_flags == bpf_map__map_flags(map))))
		dp->conns_adopted |= map == skel->maps.conns;	/* the same */
	else if (!rebuildable && info.type != bpf_map__type(map))
		err = 0;	/* another layout: libbpf's check refuses it, saying so */
	else if (rebuildable && !apply)
		err = 0;
	else if (rebuildable && unlink(path))
		err = errno_or(-EIO);
	else if (rebuildable)
		pr_warn("%s: pinned with %u entries of %u bytes, now %u of %u: a new, empty one\n",
			bpf_map__name(map), info.max_entries, info.value_size,
			bpf_map__max_entries(map), bpf_map__value_size(map));
	else {
		pr_warn("%s: pinned with %u entries, this start asks for %u: start with the "
			"sizes of the last run, or stop the data plane and remove %s\n",
			bpf_map__name(map), info.max_entries, bpf_map__max_entries(map), dp->pin_dir);
		err = -EEXIST;
	}
	close(fd);
	return err;
}

/* A mapping's length: whole pages. */
static size_t page_round(size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);

	return (bytes + page - 1) / page * page;
}

/* A ring's value: the element of slots its layout packs (include/xlb_abi.h). */
static __u32 ring_value_size(const struct dp *dp)
{
	return dp->ring_slot == 2 ? sizeof(struct xlb_ring16) : sizeof(struct xlb_ring32);
}

/* Slots an element of this start's rings. */
static __u32 ring_per(const struct dp *dp)
{
	return ring_value_size(dp) / dp->ring_slot;
}

/* Inner map `inner_id`'s fd and info; -errno if it is gone. */
static int ring_info(__u32 inner_id, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	int fd = bpf_map_get_fd_by_id(inner_id), err;

	if (fd < 0)
		return errno_or(-ENOENT);
	memset(info, 0, sizeof(*info));
	if (!bpf_obj_get_info_by_fd(fd, info, &len))
		return fd;
	err = errno_or(-EINVAL);
	close(fd);
	return err;
}

/* The value size of the first ring in the outer map `outer`: 0 if it holds none. */
static int rings_value_size(int outer, __u32 n, __u32 *vsz)
{
	struct bpf_map_info info;
	__u32 inner_id;
	int fd;

	*vsz = 0;
	for (__u32 id = 0; id < n; id++) {
		if (bpf_map_lookup_elem(outer, &id, &inner_id))
			continue;
		fd = ring_info(inner_id, &info);
		if (fd < 0)
			return fd;
		close(fd);
		*vsz = info.value_size;
		return 0;
	}
	return 0;
}

/*
 * Rings pinned by a build of the other slot width (the last release's: 4-byte
 * slots): an outer map takes rings of its own layout only, so the pin makes
 * way for a new outer map, and rings_adopt() copies every ring into one of
 * this start's layout. The VIPs keep their ids and rings, so sync_adopt()
 * keeps their backend ids and established flows keep their backends. The
 * old map lives on, used by the running program, until the link switches.
 * An outer map holding no ring says nothing of its layout: a new one, with
 * nothing to copy.
 */
static int rings_pin_check(struct dp *dp, const char *path)
{
	int fd = bpf_obj_get(path), err;
	__u32 vsz;

	if (fd < 0)
		return 0;
	err = rings_value_size(fd, dp->max_vips, &vsz);
	if (!err && vsz != ring_value_size(dp) && unlink(path))
		err = errno_or(-EIO);
	if (err || vsz == ring_value_size(dp) || !vsz) {
		close(fd);
		return err;
	}
	pr_warn("rings: pinned with %u-byte elements, now %u (%u-byte slots): copied\n", vsz,
		ring_value_size(dp), dp->ring_slot);
	dp->rings_old_fd = fd;
	return 0;
}

/*
 * Pin every map by name under dir. libbpf reuses a pinned map whose type,
 * sizes and flags match (and refuses one that does not, rather than
 * silently starting empty), and pins the maps it creates.
 */
static int pin_setup(struct dp *dp, struct xlb *skel, const char *dir)
{
	struct bpf_map *map;
	char path[512];
	int err, fd;

	if (snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s", dir) >= (int)sizeof(dp->pin_dir))
		return -ENAMETOOLONG;
	err = mkdir_parents(dir, 0700);
	if (err)
		return err;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	bpf_object__for_each_map(map, skel->obj) {
		/* Global data (the trace switch) belongs to one load of the program. */
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		err = pin_check_size(dp, skel, map, path, false);
		if (err)
			return err;
	}
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		/*
		 * The next-hop, VIP and NAT-entry caches are caches: never
		 * pinned, so a new program never reads entries another build
		 * laid out differently, and they are rebuilt by traffic.
		 */
		if (map == skel->maps.nexthops || map == skel->maps.vip_cache ||
		    map == skel->maps.nat_cache) {
			unlink(path);
			continue;
		}
		err = pin_check_size(dp, skel, map, path, true);
		if (!err && map == skel->maps.rings)
			err = rings_pin_check(dp, path);
		if (err)
			return err;
		if (map != skel->maps.tx_ports) {
			err = bpf_map__set_pin_path(map, path);
			if (err)
				return err;
			continue;
		}
		/*
		 * The kernel adds BPF_F_RDONLY_PROG to every devmap but refuses
		 * it at creation, so libbpf's reuse check never matches a pinned
		 * devmap: reuse it by hand, and pin it after loading.
		 */
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		err = bpf_map__reuse_fd(map, fd);
		close(fd);
		if (err)
			return err;
	}
	return 0;
}

static int pin_tx_ports(struct dp *dp)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, bpf_map__name(dp->skel->maps.tx_ports));
	if (!access(path, F_OK))
		return 0;
	return bpf_map__pin(dp->skel->maps.tx_ports, path);
}

/*
 * Slots of the ring of VIP id whose array has `entries` elements: its VIP's
 * ring size (an element packs several slots, so its size alone leaves the
 * last element's count open), or all it holds for a ring no VIP names (one
 * the sweep of sync_all() removes).
 */
static __u32 ring_slots_of(struct dp *dp, __u32 id, __u32 entries, __u32 per)
{
	struct xlb_vip vip;

	if (!bpf_map__lookup_elem(dp->skel->maps.vip_by_id, &id, sizeof(id), &vip, sizeof(vip), 0) &&
	    vip.ring_size && XLB_RING_ENTRIES(vip.ring_size, per) == entries)
		return vip.ring_size;
	return entries * per;
}

/*
 * An older build's ring into table. Mapped, its memory reads as a plain
 * array of slots when its elements leave no gap (the kernel's stride is the
 * value size rounded up to 8): ~0.1 ms a ring of 65537 slots, where a batch
 * lookup copies element by element (~10 ms; 12 s of CPU for 1000 VIPs).
 */
static int ring_old_read(int fd, const struct bpf_map_info *info, __u32 *table, __u32 size)
{
	size_t bytes = page_round((size_t)info->max_entries * info->value_size);
	void *mem = MAP_FAILED;

	if ((info->map_flags & BPF_F_MMAPABLE) && info->value_size % 8 == 0)
		mem = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return dp_ring_fd_read(fd, info->value_size, table, size);
	dp_ring_widen(mem, XLB_RING_SLOT_BYTES(info->value_size), table, size);
	munmap(mem, bytes);
	return 0;
}

/*
 * An older build's rings (rings_pin_check()) copied into new rings of this
 * start's layout, all put into the new outer map in one batch.
 */
static int rings_migrate(struct dp *dp)
{
	__u32 inner_id, slots, *table = NULL;
	struct bpf_map_info info;
	int fd, err = 0;

	dp_rings_defer(dp);
	for (__u32 id = 0; !err && id < dp->max_vips; id++) {
		if (bpf_map_lookup_elem(dp->rings_old_fd, &id, &inner_id))
			continue;
		fd = ring_info(inner_id, &info);
		if (fd < 0) {
			err = fd;
			break;
		}
		slots = ring_slots_of(dp, id, info.max_entries,
				      info.value_size / XLB_RING_SLOT_BYTES(info.value_size));
		if (!table)
			table = malloc(XLB_RING_MAX * sizeof(*table));
		err = !table ? -ENOMEM : slots > XLB_RING_MAX ? -E2BIG :
		      ring_old_read(fd, &info, table, slots);
		close(fd);
		if (!err)
			err = ring_create(dp, id, slots);
		if (!err)
			err = dp_ring_write(dp, id, table, NULL, slots);
	}
	free(table);
	fd = dp_rings_install(dp);
	close(dp->rings_old_fd);
	dp->rings_old_fd = -1;
	return err ? err : fd;
}

/* Find the rings a previous run installed in the (reused) outer map. */
static int rings_adopt(struct dp *dp)
{
	int outer = bpf_map__fd(dp->skel->maps.rings), fd, err;
	struct bpf_map_info info;
	__u32 inner_id;

	for (__u32 id = 0; id < dp->max_vips; id++) {
		if (bpf_map_lookup_elem(outer, &id, &inner_id))
			continue;
		fd = ring_info(inner_id, &info);
		if (fd < 0)
			return fd;
		err = ring_map(dp, id, fd, ring_slots_of(dp, id, info.max_entries, ring_per(dp)));
		if (err)
			return err;
	}
	return dp->rings_old_fd >= 0 ? rings_migrate(dp) : 0;
}

/* Sets of a table of `conns` entries: the next power of two, in ways. */
/* Sets of a set-associative table of `entries` ways (0: def), a power of two. */
static __u32 table_sets(__u32 entries, __u32 min, __u32 max, __u32 def, __u32 ways)
{
	__u32 n = min;

	while (n < entries && n < max)
		n <<= 1;
	return (entries ? n : def) / ways;
}

static __u32 conn_sets(__u32 conns)
{
	return table_sets(conns, XLB_CONNS_MIN, XLB_CONNS_MAX, XLB_CONNS_DEFAULT, XLB_CONN_WAYS);
}

/* A BPF_F_MMAPABLE map's memory, shared with the data plane; NULL and errno if not. */
static void *map_mmap(struct bpf_map *map, size_t bytes)
{
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);

	return mem == MAP_FAILED ? NULL : mem;
}

static size_t rl_bytes(const struct dp *dp)
{
	return page_round((size_t)dp->rl_sets * sizeof(struct xlb_rl_set));
}

static size_t conns_bytes(const struct dp *dp)
{
	return page_round((size_t)dp->conn_sets * sizeof(struct xlb_conn_set));
}

static size_t hints_bytes(const struct dp *dp)
{
	return page_round((size_t)dp->conn_sets * sizeof(__u64));
}

/*
 * The verifier's pass over the program: most of a load (~0.4 s of CPU), and needing nothing
 * that the maps hold. dp_load()'s thread runs it while the daemon fills the maps.
 */
static void *prog_load(void *arg)
{
	struct dp *dp = arg;

	dp->prog_err = xlb__load(dp->prog);
	if (dp->prog_err)
		pr_warn("loading the XDP program failed: %s\n", strerror(-dp->prog_err));
	return NULL;
}

/*
 * obj's maps made skel's (dups of its fds), all but obj's own .rodata/.bss (internal maps):
 * for another build of the program to run on the maps xlbd fills.
 */
static int maps_share(struct bpf_object *obj, const struct bpf_object *skel)
{
	struct bpf_map *map, *ours;
	int err;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		ours = bpf_object__find_map_by_name(skel, bpf_map__name(map));
		err = ours ? bpf_map__reuse_fd(map, bpf_map__fd(ours)) : -ENOENT;
		if (err)
			return err;
	}
	return 0;
}

/*
 * The load-time constants of the program, set alike in the plain and the traced build (whose
 * skeletons' rodata are different types with the same fields): the map sizes the maps were
 * made with and the ring slots' width.
 */
#define DP_RODATA_SET(dp, ro)						\
	do {								\
		(ro)->conn_sets = (dp)->conn_sets;			\
		(ro)->rl_sets = (dp)->rl_sets;				\
		(ro)->ring_wide = (dp)->ring_slot == 4;			\
	} while (0)

/*
 * skel creates (or adopts) and pins the maps, loading no program: a few ms, after which they
 * can be written while another object of the same program, dp->prog, has its program
 * verified on them. dp->prog holds fds of its own for the maps (bpf_map__reuse_fd() dups
 * them): a load that fails closes those alone, never an fd the daemon is writing through.
 */
static int maps_create(struct dp *dp, struct xlb *skel, const char *pin_dir)
{
	struct xlb *prog;
	int err = 0;

	bpf_program__set_autoload(skel->progs.xlb_lb, false);
	if (pin_dir)
		err = pin_setup(dp, skel, pin_dir);
	if (!err)
		err = xlb__load(skel);
	if (err)
		return err;
	prog = xlb__open();
	if (!prog)
		return errno_or(-EINVAL);
	DP_RODATA_SET(dp, prog->rodata);
	err = maps_share(prog->obj, skel->obj);
	if (err) {
		xlb__destroy(prog);
		return err;
	}
	dp->prog = prog;
	return 0;
}

int dp_prog_wait(struct dp *dp)
{
	if (dp->prog_loading) {
		pthread_join(dp->prog_loader, NULL);
		dp->prog_loading = false;
	}
	return dp->prog_err;
}

int dp_load(struct dp *dp, const struct dp_opts *opts)
{
	struct dp_opts o = opts ? *opts : (struct dp_opts){ 0 };
	struct xlb *skel;
	int err;

	memset(dp, 0, sizeof(*dp));
	dp->rings_old_fd = -1;
	dp->max_vips = o.max_vips ? o.max_vips : XLB_MAX_VIPS;
	dp->max_backends = o.max_backends ? o.max_backends : XLB_MAX_BACKENDS;
	/* Ids run below max_backends: 2 bytes hold them up to 65536 (0 is "nobody"). */
	dp->ring_slot = dp->max_backends <= XLB_RING16_MAX_BACKENDS ? 2 : 4;

	skel = xlb__open();
	if (!skel)
		return errno_or(-EINVAL);
	/* The template the outer map checks every ring against (bpf/maps.h). */
	err = bpf_map__set_value_size(bpf_map__inner_map(skel->maps.rings), ring_value_size(dp));
	if (err)
		goto err_destroy;
	bpf_map__set_max_entries(skel->maps.vips, dp->max_vips);
	bpf_map__set_max_entries(skel->maps.vip_by_id, dp->max_vips);
	bpf_map__set_max_entries(skel->maps.rings, dp->max_vips);
	bpf_map__set_max_entries(skel->maps.vip_stats, dp->max_vips);
	bpf_map__set_max_entries(skel->maps.nat_pools, dp->max_vips);
	bpf_map__set_max_entries(skel->maps.backends, dp->max_backends);
	bpf_map__set_max_entries(skel->maps.health, dp->max_backends);
	bpf_map__set_max_entries(skel->maps.backend_stats, dp->max_backends);
	bpf_map__set_max_entries(skel->maps.nexthops, dp->max_backends);
	dp->conn_sets = conn_sets(o.conns);
	bpf_map__set_max_entries(skel->maps.conns, dp->conn_sets);
	bpf_map__set_max_entries(skel->maps.conn_hints, dp->conn_sets);
	dp->rl_sets = table_sets(o.ratelimit_entries, XLB_RATELIMIT_MIN, XLB_RATELIMIT_MAX,
				 XLB_RATELIMIT_DEFAULT, XLB_RL_WAYS);
	bpf_map__set_max_entries(skel->maps.ratelimit, dp->rl_sets);
	bpf_map__set_max_entries(skel->maps.nat, o.nat_entries ? o.nat_entries : XLB_NAT_DEFAULT);
	err = maps_create(dp, skel, o.pin_dir);
	if (err) {
		pr_warn("creating the maps failed: %s\n", strerror(-err));
		goto err_destroy;
	}

	dp->ring_fds = malloc(dp->max_vips * sizeof(*dp->ring_fds));
	dp->rings = calloc(dp->max_vips, sizeof(*dp->rings));
	dp->ring_sizes = calloc(dp->max_vips, sizeof(*dp->ring_sizes));
	dp->pending = calloc(dp->max_vips, sizeof(*dp->pending));
	if (!dp->ring_fds || !dp->rings || !dp->ring_sizes || !dp->pending) {
		err = -ENOMEM;
		goto err_free;
	}
	for (__u32 i = 0; i < dp->max_vips; i++)
		dp->ring_fds[i] = -1;
	dp->skel = skel;
	if (o.prog_async && !pthread_create(&dp->prog_loader, NULL, prog_load, dp))
		dp->prog_loading = true;
	else
		prog_load(dp);
	err = o.prog_async ? 0 : dp->prog_err;
	if (err)
		goto err_free;
	dp->conns = map_mmap(skel->maps.conns, conns_bytes(dp));
	dp->conn_hints = dp->conns ? map_mmap(skel->maps.conn_hints, hints_bytes(dp)) : NULL;
	dp->rl = dp->conn_hints ? map_mmap(skel->maps.ratelimit, rl_bytes(dp)) : NULL;
	if (!dp->conns || !dp->conn_hints || !dp->rl) {
		err = errno_or(-ENOMEM);
		dp_unload(dp);
		return err;
	}
	/*
	 * An adopted config's epoch and NAT clock go on (time without xlbd does not count); a
	 * fresh one starts at epoch 1 (0 is "empty").
	 */
	bpf_map__lookup_elem(skel->maps.config, &(__u32){ 0 }, sizeof(__u32), &dp->cfg,
			     sizeof(dp->cfg), 0);
	dp->now_base = dp->cfg.now;
	dp->now_started_s = monotonic_s();
	err = dp_nexthop_refresh(dp);
	if (err) {
		dp_unload(dp);
		return err;
	}
	if (dp->pin_dir[0]) {
		err = pin_tx_ports(dp);
		if (!err)
			err = rings_adopt(dp);
		if (err) {
			dp_unload(dp);
			return err;
		}
	}
	return 0;

err_free:
	free(dp->ring_fds);
	free(dp->rings);
	free(dp->ring_sizes);
	free(dp->pending);
err_destroy:
	if (dp->rings_old_fd >= 0)
		close(dp->rings_old_fd);
	xlb__destroy(dp->prog);
	xlb__destroy(skel);
	return err;
}

/*
 * Slots share an element of 8 or 16 bytes, which the kernel lays out without
 * a gap, so the mapped ring reads as a plain array of dp->ring_slot-byte ids
 * indexed by slot.
 */
static size_t ring_bytes(const struct dp *dp, __u32 size)
{
	return page_round((size_t)XLB_RING_ENTRIES(size, ring_per(dp)) * ring_value_size(dp));
}

static void ring_forget(struct dp *dp, __u32 vip_id)
{
	if (dp->rings[vip_id])
		munmap(dp->rings[vip_id], ring_bytes(dp, dp->ring_sizes[vip_id]));
	if (dp->ring_fds[vip_id] >= 0)
		close(dp->ring_fds[vip_id]);
	dp->rings[vip_id] = NULL;
	dp->ring_fds[vip_id] = -1;
	dp->ring_sizes[vip_id] = 0;
}

void dp_unload(struct dp *dp)
{
	if (!dp->skel)
		return;
	dp_prog_wait(dp);
	dp_trace_end(dp);
	if (dp->rings_old_fd >= 0)
		close(dp->rings_old_fd);
	if (dp->conns)
		munmap(dp->conns, conns_bytes(dp));
	if (dp->conn_hints)
		munmap(dp->conn_hints, hints_bytes(dp));
	if (dp->rl)
		munmap(dp->rl, rl_bytes(dp));
	for (__u32 i = 0; i < dp->max_vips; i++)
		ring_forget(dp, i);
	free(dp->ring_fds);
	free(dp->rings);
	free(dp->ring_sizes);
	free(dp->pending);
	free(dp->filter_extra);
	xlb__destroy(dp->prog);
	xlb__destroy(dp->skel);
	memset(dp, 0, sizeof(*dp));
}

int dp_prog_fd(const struct dp *dp)
{
	if (dp->traced)
		return bpf_program__fd(dp->traced->progs.xlb_lb_traced);
	return bpf_program__fd(dp->prog->progs.xlb_lb);
}

/*
 * Every XDP link that runs from_fd onto to_fd: found by program id rather
 * than by pin, so a link is switched only from the program this daemon put
 * there, and the kernel checks that (BPF_F_REPLACE) at the switch itself.
 * The first error, after trying all.
 */
static int links_switch(int from_fd, int to_fd)
{
	LIBBPF_OPTS(bpf_link_update_opts, uopts, .flags = BPF_F_REPLACE, .old_prog_fd = from_fd);
	struct bpf_prog_info pi;
	struct bpf_link_info li;
	__u32 id = 0, len;
	int fd, err = 0;

	memset(&pi, 0, sizeof(pi));
	len = sizeof(pi);
	if (bpf_obj_get_info_by_fd(from_fd, &pi, &len))
		return -errno;
	while (!bpf_link_get_next_id(id, &id)) {
		fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue;	/* gone since */
		memset(&li, 0, sizeof(li));
		len = sizeof(li);
		/* ENOLINK: its interface is gone; dp_pins_prune() deals with the pin. */
		if (!bpf_obj_get_info_by_fd(fd, &li, &len) && li.type == BPF_LINK_TYPE_XDP &&
		    li.prog_id == pi.id && bpf_link_update(fd, to_fd, &uopts) && errno != ENOLINK &&
		    !err)
			err = -errno;
		close(fd);
	}
	return err;
}

int dp_trace_begin(struct dp *dp)
{
	struct xlb_trace *t;
	int err;

	if (dp->traced)
		return -EBUSY;
	t = xlb_trace__open();
	if (!t)
		return errno_or(-ENOMEM);
	DP_RODATA_SET(dp, t->rodata);
	err = maps_share(t->obj, dp->skel->obj);
	if (!err)
		err = xlb_trace__load(t);
	if (err)
		goto err_destroy;
	dp->traced = t;
	err = links_switch(bpf_program__fd(dp->prog->progs.xlb_lb), dp_prog_fd(dp));
	if (err)
		dp_trace_end(dp);
	return err;

err_destroy:
	xlb_trace__destroy(t);
	return err;
}

void dp_trace_end(struct dp *dp)
{
	int err;

	if (!dp->traced)
		return;
	err = links_switch(dp_prog_fd(dp), bpf_program__fd(dp->prog->progs.xlb_lb));
	if (err)
		pr_warn("trace: a link stays on the traced program: %s\n", strerror(-err));
	xlb_trace__destroy(dp->traced);
	dp->traced = NULL;
}

static void link_path(const struct dp *dp, const char *ifname, char *path, size_t len)
{
	snprintf(path, len, "%s/link_%s", dp->pin_dir, ifname);
}

int dp_attach(struct dp *dp, const char *ifname, enum dp_mode mode, char *note, size_t notelen)
{
	__u32 ifindex = if_nametoindex(ifname), other;
	char path[512];
	int err;

	note[0] = '\0';
	if (!ifindex)
		return -ENODEV;
	if (!dp->pin_dir[0])
		return -EINVAL;
	link_path(dp, ifname, path, sizeof(path));
	err = xdp_link_attach(path, dp_prog_fd(dp), ifindex,
			      mode == DP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE,
			      &other);
	if (err && mode == DP_MODE_NATIVE && err != -EBUSY && err != -EEXIST) {
		snprintf(note, notelen, "the driver of %s has no native XDP (%s): attached in "
			 "generic mode", ifname, strerror(-err));
		err = xdp_link_attach(path, dp_prog_fd(dp), ifindex, XDP_FLAGS_SKB_MODE, &other);
	}
	if (err == -EBUSY)
		snprintf(note, notelen, "program id %u", other);
	return err ? err : dp_tx_port_add(dp, ifindex);
}

int dp_detach(struct dp *dp, const char *ifname)
{
	__u32 ifindex = if_nametoindex(ifname);
	char path[512];

	link_path(dp, ifname, path, sizeof(path));
	if (ifindex)
		dp_tx_port_del(dp, ifindex);
	return xdp_link_detach(path);
}

int dp_iface_info(struct dp *dp, const char *ifname, struct dp_iface_info *info)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_link_info li;
	__u32 len = sizeof(li);
	char path[512];
	int fd;

	memset(info, 0, sizeof(*info));
	info->ifindex = if_nametoindex(ifname);
	if (!info->ifindex)
		return -ENODEV;
	if (bpf_xdp_query(info->ifindex, 0, &q))
		return errno_or(-EINVAL);
	info->prog_id = q.prog_id;
	info->mode = q.attach_mode == XDP_ATTACHED_SKB ? DP_MODE_GENERIC : DP_MODE_NATIVE;
	link_path(dp, ifname, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		memset(&li, 0, sizeof(li));
		info->attached = !bpf_obj_get_info_by_fd(fd, &li, &len) &&
				 li.xdp.ifindex == info->ifindex && q.prog_id == li.prog_id;
		close(fd);
	}
	return 0;
}

static bool map_known(const struct dp *dp, const char *name)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, dp->skel->obj)
		if (!strcmp(bpf_map__name(map), name))
			return true;
	return false;
}

static bool is_map(const char *path)
{
	char fdpath[64], kind[32] = "";
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return false;
	/* The anon inode says what a bpf descriptor holds: map, program or link. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (readlink(fdpath, kind, sizeof(kind) - 1) < 0)
		kind[0] = '\0';
	close(fd);
	return !strcmp(kind, "anon_inode:bpf-map");
}

int dp_pins_prune(struct dp *dp, bool (*wanted)(const char *ifname, void *ctx), void *ctx,
		  dp_pin_fn fn, void *fnctx)
{
	struct xdp_link_pin pin;
	char path[600];
	struct dirent *e;
	const char *why;
	int n = 0;
	DIR *d;

	if (!dp->pin_dir[0])
		return 0;
	d = opendir(dp->pin_dir);
	if (!d)
		return errno_or(-EIO);
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, e->d_name);
		if (!strncmp(e->d_name, "link_", 5)) {
			if (xdp_link_query(path, &pin))
				continue;
			if (!pin.ifindex)
				why = "its interface is gone";
			else if (!wanted(e->d_name + 5, ctx))
				why = "the interface is not in the configuration";
			else
				continue;
		} else if (e->d_name[0] != '.' && !map_known(dp, e->d_name) && is_map(path)) {
			why = "a map this version does not use";
		} else {
			continue;
		}
		if (unlink(path))
			continue;
		fn(e->d_name, why, fnctx);
		n++;
	}
	closedir(d);
	return n;
}

static int map_put(struct bpf_map *map, const void *key, size_t ksz, const void *val, size_t vsz)
{
	return bpf_map__update_elem(map, key, ksz, val, vsz, BPF_ANY);
}

int dp_config_set(struct dp *dp, const struct xlb_config *cfg)
{
	struct xlb_config c = *cfg;
	__u32 zero = 0;
	int err;

	c.nh_epoch = dp->cfg.nh_epoch;
	c.conns_placed = dp->cfg.conns_placed;
	c.now = c.now ? c.now : dp_now(dp);
	err = map_put(dp->skel->maps.config, &zero, sizeof(zero), &c, sizeof(c));
	if (err)
		return err;
	dp->cfg = c;
	/* The clock goes on from the value written. */
	dp->now_base = c.now;
	dp->now_started_s = monotonic_s();
	return 0;
}

int dp_config_flags(struct dp *dp, __u32 flags)
{
	struct xlb_config c = dp->cfg;
	__u32 zero = 0;
	int err;

	if (c.flags == flags)
		return 0;
	c.flags = flags;
	err = map_put(dp->skel->maps.config, &zero, sizeof(zero), &c, sizeof(c));
	if (!err)
		dp->cfg = c;
	return err;
}

__u32 dp_now(const struct dp *dp)
{
	__u32 now = dp->now_base + (__u32)(monotonic_s() - dp->now_started_s);

	return now ? now : 1;
}

/*
 * A new epoch: every CPU refills its cached next hops from the FIB on their
 * next packet. One map write, whatever the number of backends and CPUs.
 */
int dp_nexthop_refresh(struct dp *dp)
{
	struct xlb_config c = dp->cfg;
	__u32 zero = 0;
	int err;

	/* 0 marks an empty cache entry: never an epoch. */
	c.nh_epoch = c.nh_epoch + 1 ? c.nh_epoch + 1 : 1;
	c.now = dp_now(dp);
	err = map_put(dp->skel->maps.config, &zero, sizeof(zero), &c, sizeof(c));
	if (!err)
		dp->cfg = c;
	return err;
}

int dp_tx_port_add(struct dp *dp, __u32 ifindex)
{
	return map_put(dp->skel->maps.tx_ports, &ifindex, sizeof(ifindex), &ifindex,
		       sizeof(ifindex));
}

int dp_tx_port_del(struct dp *dp, __u32 ifindex)
{
	return bpf_map__delete_elem(dp->skel->maps.tx_ports, &ifindex, sizeof(ifindex), 0);
}

/* Take ownership of fd as vip_id's ring and map its slots. */
static int ring_map(struct dp *dp, __u32 vip_id, int fd, __u32 size)
{
	void *mem;

	dp->ring_fds[vip_id] = fd;
	dp->ring_sizes[vip_id] = size;
	mem = mmap(NULL, ring_bytes(dp, size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		int err = errno_or(-ENOMEM);

		ring_forget(dp, vip_id);
		return err;
	}
	dp->rings[vip_id] = mem;
	return 0;
}

static int ring_create(struct dp *dp, __u32 vip_id, __u32 size)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	int fd, err, outer = bpf_map__fd(dp->skel->maps.rings);
	char name[BPF_OBJ_NAME_LEN];

	snprintf(name, sizeof(name), "xlb_ring_%u", vip_id);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(__u32), ring_value_size(dp),
			    XLB_RING_ENTRIES(size, ring_per(dp)), &mopts);
	if (fd < 0)
		return errno_or(-EINVAL);
	err = ring_map(dp, vip_id, fd, size);
	if (err)
		return err;
	/* A fresh array reads all zero: XLB_BACKEND_NONE in every slot. */
	if (dp->rings_deferred) {
		dp->pending[dp->n_pending++] = vip_id;
		return 0;
	}
	if (bpf_map_update_elem(outer, &vip_id, &fd, BPF_ANY)) {
		err = errno_or(-EINVAL);
		ring_forget(dp, vip_id);
		return err;
	}
	return 0;
}

void dp_rings_defer(struct dp *dp)
{
	dp->rings_deferred = true;
}

int dp_rings_install(struct dp *dp)
{
	int outer = bpf_map__fd(dp->skel->maps.rings), err = 0;
	__u32 n = dp->n_pending, done = 0, count, *fds;

	dp->rings_deferred = false;
	fds = calloc(n ? n : 1, sizeof(*fds));
	if (!fds)
		err = -ENOMEM;
	for (__u32 i = 0; !err && i < n; i++)
		fds[i] = dp->ring_fds[dp->pending[i]];
	/*
	 * One batch, one grace period (kernels since 6.8; older ones wait per
	 * element inside the batch, no worse than one update per ring).
	 */
	if (!err && n) {
		count = n;
		err = bpf_map_update_batch(outer, dp->pending, fds, &count, NULL);
		done = err ? 0 : n;
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */)
			err = 0;
	}
	for (__u32 i = done; !err && i < n; i++)
		if (bpf_map_update_elem(outer, &dp->pending[i], &fds[i], BPF_ANY))
			err = errno_or(-EINVAL);
	/* On failure no VIP uses them yet: forget every ring not installed. */
	for (__u32 i = 0; err && i < n; i++)
		if (bpf_map_lookup_elem(outer, &dp->pending[i], &count))
			ring_forget(dp, dp->pending[i]);
	free(fds);
	dp->n_pending = 0;
	return err;
}

__u32 dp_ring_size(const struct dp *dp, __u32 vip_id)
{
	return vip_id < dp->max_vips ? dp->ring_sizes[vip_id] : 0;
}

int dp_vip_get(struct dp *dp, const struct xlb_vip_key *key, struct xlb_vip *vip)
{
	return bpf_map__lookup_elem(dp->skel->maps.vips, key, sizeof(*key), vip, sizeof(*vip), 0);
}

int dp_backend_get(struct dp *dp, __u32 id, struct xlb_backend *be)
{
	if (id >= dp->max_backends)
		return -EINVAL;
	return bpf_map__lookup_elem(dp->skel->maps.backends, &id, sizeof(id), be, sizeof(*be), 0);
}

int dp_vip_set(struct dp *dp, const struct xlb_vip_key *key, const struct xlb_vip *vip)
{
	int err = dp_ring_ensure(dp, vip->id, vip->ring_size);

	if (err)
		return err;
	/* By id first: established flows see the new flags with new flows. */
	err = map_put(dp->skel->maps.vip_by_id, &vip->id, sizeof(vip->id), vip, sizeof(*vip));
	if (!err)
		err = map_put(dp->skel->maps.vips, key, sizeof(*key), vip, sizeof(*vip));
	/* A new epoch: no CPU's vip_cache keeps an address's old VIP. */
	return err ? err : dp_nexthop_refresh(dp);
}

static int zero_percpu(struct bpf_map *map, __u32 key)
{
	size_t sz = bpf_map__value_size(map) * libbpf_num_possible_cpus();
	void *zeros = calloc(1, sz);
	int err;

	if (!zeros)
		return -ENOMEM;
	err = bpf_map__update_elem(map, &key, sizeof(key), zeros, sz, BPF_ANY);
	free(zeros);
	return err;
}

int dp_vip_del(struct dp *dp, const struct xlb_vip_key *key, __u32 vip_id)
{
	struct xlb_vip vip;
	bool limited;
	int err;

	if (vip_id >= dp->max_vips)
		return -EINVAL;
	/* Only a VIP with a limit has sources to forget (a walk of the map). */
	limited = !dp_vip_get(dp, key, &vip) && (vip.flags & XLB_VIP_RATELIMIT);
	err = bpf_map__delete_elem(dp->skel->maps.vips, key, sizeof(*key), 0);
	if (!err)
		err = dp_nexthop_refresh(dp);
	if (err)
		return err;
	/* Established flows of the VIP stop with it (ring_size 0: no VIP). */
	memset(&vip, 0, sizeof(vip));
	err = map_put(dp->skel->maps.vip_by_id, &vip_id, sizeof(vip_id), &vip, sizeof(vip));
	if (err)
		return err;
	dp_ring_remove(dp, vip_id);
	/* A nat VIP's pool: the map holds one per nat VIP (none for the others). */
	bpf_map__delete_elem(dp->skel->maps.nat_pools, &vip_id, sizeof(vip_id), 0);
	err = dp_vip_stats_clear(dp, vip_id);
	/* The id may be handed out again: its next owner starts with no sources. */
	if (!err && limited)
		err = dp_ratelimit_clear_vip(dp, vip_id);
	return err;
}

int dp_ring_remove(struct dp *dp, __u32 vip_id)
{
	int err;

	if (vip_id >= dp->max_vips || dp->ring_fds[vip_id] < 0)
		return 0;
	err = bpf_map__delete_elem(dp->skel->maps.rings, &vip_id, sizeof(vip_id), 0);
	ring_forget(dp, vip_id);
	return err == -ENOENT ? 0 : err;
}

int dp_vip_stats_clear(struct dp *dp, __u32 vip_id)
{
	return zero_percpu(dp->skel->maps.vip_stats, vip_id);
}

/*
 * Volatile: each slot one store the data plane may read at any time, none
 * merged with its neighbours or split.
 */
int dp_ring_write(struct dp *dp, __u32 vip_id, const __u32 *table, const __u32 *old, __u32 size)
{
	volatile __u16 *r16;
	volatile __u32 *r32;

	if (vip_id >= dp->max_vips || !dp->rings[vip_id])
		return -ENOENT;
	if (size != dp->ring_sizes[vip_id])
		return -EINVAL;
	r16 = dp->rings[vip_id];
	r32 = dp->rings[vip_id];
	for (__u32 slot = 0; slot < size; slot++) {
		if (old && old[slot] == table[slot])
			continue;
		if (dp->ring_slot == 2)
			r16[slot] = table[slot];
		else
			r32[slot] = table[slot];
	}
	return 0;
}

void dp_ring_widen(const void *mem, __u32 width, __u32 *table, __u32 size)
{
	const __u16 *r16 = mem;
	const __u32 *r32 = mem;

	for (__u32 slot = 0; slot < size; slot++)
		table[slot] = width == 2 ? r16[slot] : r32[slot];
}

int dp_ring_read(struct dp *dp, __u32 vip_id, __u32 *table, __u32 size)
{
	if (vip_id >= dp->max_vips || !dp->rings[vip_id])
		return -ENOENT;
	if (size != dp->ring_sizes[vip_id])
		return -EINVAL;
	dp_ring_widen(dp->rings[vip_id], dp->ring_slot, table, size);
	return 0;
}

int dp_backend_set(struct dp *dp, __u32 id, const struct xlb_backend *be)
{
	int err;

	if (id == XLB_BACKEND_NONE || id >= dp->max_backends)
		return -EINVAL;
	err = map_put(dp->skel->maps.backends, &id, sizeof(id), be, sizeof(*be));
	/* The id may have had another address: its next hop is looked up anew. */
	return err ? err : dp_nexthop_refresh(dp);
}

int dp_backend_clear(struct dp *dp, __u32 id)
{
	struct xlb_backend none = { 0 };
	int err;

	err = dp_backend_set(dp, id, &none);
	if (err)
		return err;
	err = dp_health_set(dp, id, XLB_HEALTH_UP);
	if (err)
		return err;
	return zero_percpu(dp->skel->maps.backend_stats, id);
}

int dp_health_get(struct dp *dp, __u32 id, __u32 *state)
{
	return bpf_map__lookup_elem(dp->skel->maps.health, &id, sizeof(id), state, sizeof(*state),
				    0);
}

int dp_health_set(struct dp *dp, __u32 id, __u32 state)
{
	if (id >= dp->max_backends)
		return -EINVAL;
	return map_put(dp->skel->maps.health, &id, sizeof(id), &state, sizeof(state));
}

/*
 * Rebuild the prefilter from every VIP address in the map. A bit set a
 * moment early or cleared a moment late only costs a hash lookup.
 */
int dp_filter_rebuild(struct dp *dp)
{
	struct xlb_vip_addr_key key, next, *prev = NULL;
	struct bpf_map *addrs = dp->skel->maps.vip_addrs;
	struct xlb_filter *f;
	__u32 zero = 0, bit;
	int err;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	while (!bpf_map__get_next_key(addrs, prev, &next, sizeof(next))) {
		bit = xlb_filter_bit(&next.addr);
		f->bits[bit / 64] |= 1ULL << (bit % 64);
		key = next;
		prev = &key;
	}
	for (__u32 i = 0; i < dp->n_filter_extra; i++) {
		bit = xlb_filter_bit(&dp->filter_extra[i]);
		f->bits[bit / 64] |= 1ULL << (bit % 64);
	}
	err = map_put(dp->skel->maps.filter, &zero, sizeof(zero), f, sizeof(*f));
	free(f);
	return err;
}

int dp_filter_extra_set(struct dp *dp, const struct xlb_addr *addrs, __u32 n)
{
	struct xlb_addr *copy = NULL;

	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, addrs, n * sizeof(*copy));
	}
	free(dp->filter_extra);
	dp->filter_extra = copy;
	dp->n_filter_extra = n;
	return dp_filter_rebuild(dp);
}

int dp_addr_set(struct dp *dp, const struct xlb_vip_addr_key *key, const struct xlb_vip_addr *val)
{
	return map_put(dp->skel->maps.vip_addrs, key, sizeof(*key), val, sizeof(*val));
}

int dp_addr_del(struct dp *dp, const struct xlb_vip_addr_key *key)
{
	return bpf_map__delete_elem(dp->skel->maps.vip_addrs, key, sizeof(*key), 0);
}

int dp_addr_next(struct dp *dp, const struct xlb_vip_addr_key *prev,
		 struct xlb_vip_addr_key *next)
{
	return bpf_map__get_next_key(dp->skel->maps.vip_addrs, prev, next, sizeof(*next));
}

int dp_vip_next(struct dp *dp, const struct xlb_vip_key *prev, struct xlb_vip_key *next)
{
	return bpf_map__get_next_key(dp->skel->maps.vips, prev, next, sizeof(*next));
}

int dp_ring_ensure(struct dp *dp, __u32 vip_id, __u32 size)
{
	if (vip_id >= dp->max_vips || size < 1)
		return -EINVAL;
	if (dp->ring_fds[vip_id] < 0)
		return ring_create(dp, vip_id, size);
	return dp->ring_sizes[vip_id] == size ? 0 : -EBUSY;
}

/* Sum a per-CPU value made only of __u64 counters. */
static int percpu_sum(struct bpf_map *map, __u32 key, void *sum, size_t size)
{
	int ncpus = libbpf_num_possible_cpus();
	size_t vsz = bpf_map__value_size(map);
	__u64 *vals;
	int err;

	if (ncpus < 0)
		return ncpus;
	vals = calloc(ncpus, vsz);
	if (!vals)
		return -ENOMEM;
	err = bpf_map__lookup_elem(map, &key, sizeof(key), vals, vsz * ncpus, 0);
	memset(sum, 0, size);
	if (!err)
		dp_percpu_fold(vals, 1, ncpus, vsz, sum, size);
	free(vals);
	return err;
}

int dp_outcomes(struct dp *dp, struct xlb_outcomes *sum)
{
	return percpu_sum(dp->skel->maps.outcomes, 0, sum, sizeof(*sum));
}

int dp_trace_lost(struct dp *dp, struct xlb_trace_lost *sum)
{
	return percpu_sum(dp->skel->maps.trace_state, 0, sum, sizeof(*sum));
}

int dp_vip_stats(struct dp *dp, __u32 vip_id, struct xlb_vip_stats *sum)
{
	return percpu_sum(dp->skel->maps.vip_stats, vip_id, sum, sizeof(*sum));
}

int dp_backend_stats(struct dp *dp, __u32 id, struct xlb_backend_stats *sum)
{
	return percpu_sum(dp->skel->maps.backend_stats, id, sum, sizeof(*sum));
}

/*
 * Way w read whole, by the data plane's protocol (bpf/conns.h): 1 with
 * *key and *conn, 0 if empty or being written. Acquire loads of seq keep
 * the copies between them on any CPU.
 */
static int way_read_seq(const struct xlb_conn_way *w, struct xlb_flow *key, struct xlb_conn *conn,
			__u64 *seqp)
{
	__u64 seq = __atomic_load_n(&w->seq, __ATOMIC_ACQUIRE);

	*seqp = seq;
	if (seq & 1)
		return 0;
	memcpy(key, (const void *)&w->key, sizeof(*key));
	memcpy(conn, (const void *)&w->conn, sizeof(*conn));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return key->family && __atomic_load_n(&w->seq, __ATOMIC_RELAXED) == seq;
}

static int way_read(const struct xlb_conn_way *w, struct xlb_flow *key, struct xlb_conn *conn)
{
	__u64 seq;

	return way_read_seq(w, key, conn, &seq);
}

/* The token is the next set; a batch holds whole sets. */
int dp_conn_batch(struct dp *dp, bool resume, __u32 *token, struct xlb_flow *keys,
		  struct xlb_conn *vals, __u32 *count)
{
	__u32 set = resume ? *token : 0, n = 0;

	if (*count < XLB_CONN_WAYS)
		return -EINVAL;
	for (; set < dp->conn_sets && n + XLB_CONN_WAYS <= *count; set++)
		for (int i = 0; i < XLB_CONN_WAYS; i++)
			n += way_read(&dp->conns[set].way[i], &keys[n], &vals[n]);
	*token = set;
	*count = n;
	return set < dp->conn_sets ? 0 : -ENOENT;
}

__u32 dp_conn_max(const struct dp *dp)
{
	return dp->conn_sets * XLB_CONN_WAYS;
}

static int flow_same(const struct xlb_flow *a, const struct xlb_flow *b)
{
	return !memcmp(a, b, sizeof(*a));
}

int dp_conn_lookup(struct dp *dp, const struct xlb_flow *flow, struct xlb_conn *conn)
{
	struct xlb_conn_set *s = &dp->conns[xlb_conn_set_of(xlb_conn_hash(flow), dp->conn_sets)];
	struct xlb_flow key;

	for (int i = 0; i < XLB_CONN_WAYS; i++)
		if (way_read(&s->way[i], &key, conn) && flow_same(&key, flow))
			return 0;
	return -ENOENT;
}

/*
 * Write flow's entry into its set, as the data plane's bind does (bpf/conns.h): in its own
 * way if the set holds it, else an empty one, else the one unused for the most epochs.
 * used: the entry's epoch stamp. -EBUSY if that way was being written.
 */
static int conn_place(struct dp *dp, const struct xlb_flow *flow, const struct xlb_conn *conn,
		      __u32 used)
{
	__u32 hash = xlb_conn_hash(flow), set = xlb_conn_set_of(hash, dp->conn_sets), way = 0;
	__u32 age, oldest = 0, epoch = dp->cfg.nh_epoch;
	struct xlb_conn_set *s = &dp->conns[set];
	struct xlb_conn_way *w;
	__u64 seq, *hint;

	for (int i = XLB_CONN_WAYS - 1; i >= 0; i--) {
		age = s->tag[i] ? epoch - s->used[i] : 0xffffffffU;
		if (age >= oldest) {
			oldest = age;
			way = i;
		}
	}
	for (int i = 0; i < XLB_CONN_WAYS; i++)
		if (flow_same((const void *)&s->way[i].key, flow))
			way = i;
	w = &s->way[way];
	seq = __atomic_load_n(&w->seq, __ATOMIC_RELAXED);
	if ((seq & 1) || !__atomic_compare_exchange_n(&w->seq, &seq, seq + 1, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return -EBUSY;
	s->tag[way] = xlb_conn_tag(hash);
	s->used[way] = used;
	memcpy((void *)&w->key, flow, sizeof(*flow));
	memcpy((void *)&w->conn, conn, sizeof(*conn));
	/* Its bit in the set's hint, after a count, as the data plane's bind does (bpf/conns.h). */
	hint = &dp->conn_hints[set];
	__atomic_fetch_add(hint, XLB_HINT_COUNT, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(hint, xlb_conn_hint_bit(xlb_conn_tag(hash)), __ATOMIC_SEQ_CST);
	__atomic_store_n(&w->seq, seq + 2, __ATOMIC_RELEASE);
	return 0;
}

int dp_conn_bind(struct dp *dp, const struct xlb_flow *flow, const struct xlb_conn *conn)
{
	return conn_place(dp, flow, conn, dp->cfg.nh_epoch);
}

/* Way i of s emptied if its seq is still seq (nothing written it since it was read). */
static void way_clear(struct xlb_conn_set *s, int i, __u64 seq)
{
	struct xlb_conn_way *w = &s->way[i];

	if (!__atomic_compare_exchange_n(&w->seq, &seq, seq + 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return;
	s->tag[i] = 0;
	memset((void *)&w->key, 0, sizeof(w->key));
	__atomic_store_n(&w->seq, seq + 2, __ATOMIC_RELEASE);
}

int dp_conns_rehome(struct dp *dp, bool clear, __u32 *moved)
{
	struct xlb_flow key;
	struct xlb_conn conn, held;
	__u64 seq;
	__u32 hash;
	int err = 0;

	*moved = 0;
	if (dp->cfg.conns_placed == XLB_CONNS_PLACED)
		return 0;
	/* A table this start created holds nothing to move. */
	for (__u32 set = 0; dp->conns_adopted && set < dp->conn_sets; set++) {
		struct xlb_conn_set *s = &dp->conns[set];

		for (int i = 0; i < XLB_CONN_WAYS; i++) {
			if (!s->tag[i] || !way_read_seq(&s->way[i], &key, &conn, &seq))
				continue;
			hash = xlb_conn_hash(&key);
			if (xlb_conn_set_of(hash, dp->conn_sets) == set &&
			    xlb_conn_tag(hash) == s->tag[i])
				continue;	/* where this build looks */
			/* A newer entry of the flow where it belongs stands. */
			if (dp_conn_lookup(dp, &key, &held)) {
				if (conn_place(dp, &key, &conn, s->used[i]))
					err = -EBUSY;
				else
					++*moved;
			}
			if (clear)
				way_clear(s, i, seq);
		}
	}
	/* Done for good: the next start skips the walk (-C 2^27 is 9 GiB of sets). */
	if (clear) {
		struct xlb_config c = dp->cfg;

		c.conns_placed = XLB_CONNS_PLACED;
		if (!map_put(dp->skel->maps.config, &(__u32){ 0 }, sizeof(__u32), &c, sizeof(c)))
			dp->cfg = c;
	}
	return err;
}

int dp_nat_pool_set(struct dp *dp, __u32 vip_id, const struct xlb_nat_pool *pool)
{
	if (vip_id >= dp->max_vips)
		return -EINVAL;
	return map_put(dp->skel->maps.nat_pools, &vip_id, sizeof(vip_id), pool, sizeof(*pool));
}

int dp_nat_batch(struct dp *dp, bool resume, __u32 *token, struct xlb_flow *keys,
		 struct xlb_nat *vals, __u32 *count)
{
	return bpf_map_lookup_batch(bpf_map__fd(dp->skel->maps.nat), resume ? token : NULL, token,
				    keys, vals, count, NULL);
}

int dp_nat_lookup(struct dp *dp, const struct xlb_flow *key, struct xlb_nat *val)
{
	return bpf_map__lookup_elem(dp->skel->maps.nat, key, sizeof(*key), val, sizeof(*val), 0);
}

int dp_nat_delete(struct dp *dp, const struct xlb_flow *key)
{
	return bpf_map__delete_elem(dp->skel->maps.nat, key, sizeof(*key), 0);
}

__u32 dp_nat_max(const struct dp *dp)
{
	return bpf_map__max_entries(dp->skel->maps.nat);
}

/*
 * Way w read whole into *key and *st, with the data plane's protocol
 * (bpf/ratelimit.h): its tat the same before and after, and not being
 * written. 0, or -ENOENT for an empty way or one still being written.
 */
static int rl_way_read(const struct xlb_rl_way *w, struct xlb_rl_key *key, struct xlb_rl_state *st)
{
	/*
	 * A pass holds its way for a few stores (bpf/ratelimit.h): wait
	 * that out, bounded, so a busy source is neither missed by `top`
	 * nor left behind by a clear.
	 */
	for (int i = 0; i < 100000; i++) {
		__u64 tat = __atomic_load_n(&w->tat_ns, __ATOMIC_ACQUIRE);

		if (tat == XLB_RL_BUSY)
			continue;
		*key = w->key;
		st->tat_ns = tat;
		st->passed = __atomic_load_n(&w->passed, __ATOMIC_RELAXED);
		st->dropped = __atomic_load_n(&w->dropped, __ATOMIC_RELAXED);
		if (__atomic_load_n(&w->tat_ns, __ATOMIC_ACQUIRE) == tat)
			return key->family ? 0 : -ENOENT;
	}
	return -ENOENT;
}

/* The way of set s holding key, or -ENOENT. */
static int rl_way_of(const struct xlb_rl_set *s, const struct xlb_rl_key *key)
{
	struct xlb_rl_state st;
	struct xlb_rl_key k;

	for (int i = 0; i < XLB_RL_WAYS; i++)
		if (!rl_way_read(&s->way[i], &k, &st) && xlb_rl_key_eq(&k, key))
			return i;
	return -ENOENT;
}

int dp_ratelimit_lookup(struct dp *dp, const struct xlb_rl_key *key, struct xlb_rl_state *st)
{
	const struct xlb_rl_set *s = &dp->rl[xlb_rl_set_of(key, dp->rl_sets)];
	struct xlb_rl_key k;
	int i = rl_way_of(s, key);

	return i < 0 ? i : rl_way_read(&s->way[i], &k, st);
}

/*
 * Write way w as the data plane does: take its tat (XLB_RL_BUSY) from what
 * it was, write the key and counters, then the tat. -EBUSY if the data
 * plane wrote it in between (the caller looks again).
 */
static int rl_way_write(struct xlb_rl_way *w, const struct xlb_rl_key *key,
			const struct xlb_rl_state *st)
{
	__u64 tat = __atomic_load_n(&w->tat_ns, __ATOMIC_ACQUIRE);

	if (tat == XLB_RL_BUSY || !__atomic_compare_exchange_n(&w->tat_ns, &tat, XLB_RL_BUSY, false,
							       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EBUSY;
	w->key = *key;
	__atomic_store_n(&w->passed, st->passed, __ATOMIC_RELAXED);
	__atomic_store_n(&w->dropped, st->dropped, __ATOMIC_RELAXED);
	__atomic_store_n(&w->tat_ns, st->tat_ns, __ATOMIC_RELEASE);
	return 0;
}

int dp_ratelimit_put(struct dp *dp, const struct xlb_rl_key *key, const struct xlb_rl_state *st)
{
	struct xlb_rl_set *s = &dp->rl[xlb_rl_set_of(key, dp->rl_sets)];
	__u64 tat[XLB_RL_WAYS];
	int i = rl_way_of(s, key);

	if (!key->family || st->tat_ns == XLB_RL_BUSY)
		return -EINVAL;
	if (i < 0) {
		for (int j = 0; j < XLB_RL_WAYS; j++)
			tat[j] = __atomic_load_n(&s->way[j].tat_ns, __ATOMIC_RELAXED);
		i = xlb_rl_victim(tat);
	}
	return rl_way_write(&s->way[i], key, st);
}

__u32 dp_ratelimit_max(const struct dp *dp)
{
	return dp->rl_sets * XLB_RL_WAYS;
}

/*
 * The entry after way pos (set * XLB_RL_WAYS + way) of the table, from pos
 * on: its position, or -ENOENT at the end.
 */
static long rl_scan(struct dp *dp, size_t pos, struct xlb_rl_key *key, struct xlb_rl_state *st)
{
	for (; pos < (size_t)dp->rl_sets * XLB_RL_WAYS; pos++)
		if (!rl_way_read(&dp->rl[pos / XLB_RL_WAYS].way[pos % XLB_RL_WAYS], key, st))
			return pos;
	return -ENOENT;
}

int dp_ratelimit_next(struct dp *dp, const struct xlb_rl_key *prev, struct xlb_rl_key *next,
		      struct xlb_rl_state *st)
{
	size_t pos = 0;
	long found;
	__u32 set;
	int way;

	/* After prev's way; prev replaced since: from its set on. */
	if (prev) {
		set = xlb_rl_set_of(prev, dp->rl_sets);
		way = rl_way_of(&dp->rl[set], prev);
		pos = (size_t)set * XLB_RL_WAYS + (way < 0 ? 0 : way + 1);
	}
	found = rl_scan(dp, pos, next, st);
	return found < 0 ? found : 0;
}

int dp_ratelimit_walk(struct dp *dp, dp_ratelimit_fn fn, void *ctx)
{
	struct xlb_rl_state st;
	struct xlb_rl_key key;
	long pos = 0;
	int err = 0;

	/* Reads of the mapped table: no syscall, a few ns a way. */
	while (!err && (pos = rl_scan(dp, pos, &key, &st)) >= 0) {
		err = fn(&key, &st, ctx);
		pos++;
	}
	return err;
}

int dp_ratelimit_clear_vip(struct dp *dp, __u32 vip_id)
{
	const struct xlb_rl_key empty = { 0 };
	const struct xlb_rl_state none = { 0 };
	struct xlb_rl_state st;
	struct xlb_rl_key key;
	int tries = 0;
	long pos = 0;

	while ((pos = rl_scan(dp, pos, &key, &st)) >= 0) {
		struct xlb_rl_way *w = &dp->rl[pos / XLB_RL_WAYS].way[pos % XLB_RL_WAYS];

		/*
		 * -EBUSY: the data plane wrote the way since the scan (a pass
		 * moves tat): read it again. A source at millions of packets a
		 * second leaves a window every microsecond or so.
		 */
		if (key.vip_id == vip_id && rl_way_write(w, &empty, &none) == -EBUSY) {
			if (++tries < 1000000)
				continue;
			return -EBUSY;
		}
		tries = 0;
		pos++;
	}
	return 0;
}
