// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Ring slots of 2 or 4 bytes (include/xlb_abi.h): the width dp_load() picks from the number
 * of backend ids, tables written and read back through it, the program reading the largest
 * id intact, and an upgrade over the last release's pinned 4-byte rings, whose VIPs keep
 * their ids, rings and backends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <linux/bpf.h>
#include <linux/in.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "config.h"
#include "dataplane.h"
#include "fixture.h"
#include "pkt.h"
#include "sync.h"
#include "xlb.skel.h"

#define RING	1021	/* 128 elements of eight slots hold 1017-1024: the size is the VIP's */
#define BUF	2048

static const struct width_case {
	__u32 max_backends, slot, value_size;
} widths[] = {
	{ 16, 2, sizeof(struct xlb_ring16) },
	{ XLB_RING16_MAX_BACKENDS, 2, sizeof(struct xlb_ring16) },
	{ XLB_RING16_MAX_BACKENDS + 1, 4, sizeof(struct xlb_ring32) },
	{ 2 * XLB_RING16_MAX_BACKENDS, 4, sizeof(struct xlb_ring32) },
};

/* The value size of ring fd. */
static __u32 value_size_of(int fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.value_size;
}

/* Every width: the ring installs (the outer map's template agrees) and ids round-trip. */
static void test_width_by_max_backends(void **state)
{
	__u32 table[RING], back[RING], old[RING];

	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		const struct width_case *w = &widths[i];
		struct dp_opts o = { .max_vips = 4, .max_backends = w->max_backends,
				     .conns = 1024, .ratelimit_entries = 1024 };
		struct dp dp;

		check(dp_load(&dp, &o) == 0, "max backends %u: loads", w->max_backends);
		check(dp.ring_slot == w->slot, "max backends %u: %u-byte slots, got %u",
		      w->max_backends, w->slot, dp.ring_slot);
		check(dp_ring_ensure(&dp, 1, RING) == 0, "max backends %u: a ring installs",
		      w->max_backends);
		check(value_size_of(dp.ring_fds[1]) == w->value_size,
		      "max backends %u: %u-byte elements", w->max_backends, w->value_size);
		/* The largest id first, then ids across the whole range. */
		for (__u32 s = 0; s < RING; s++)
			table[s] = s ? (s * 7919) % w->max_backends : w->max_backends - 1;
		check(dp_ring_write(&dp, 1, table, NULL, RING) == 0 &&
			      dp_ring_read(&dp, 1, back, RING) == 0 &&
			      !memcmp(table, back, sizeof(table)),
		      "max backends %u: the table reads back", w->max_backends);
		/* Only the slots that differ from old are written: the others stay. */
		memcpy(old, table, sizeof(old));
		for (__u32 s = 0; s < RING; s += 2)
			table[s] = w->max_backends - 1 - s % 7;
		check(dp_ring_write(&dp, 1, table, old, RING) == 0 &&
			      dp_ring_read(&dp, 1, back, RING) == 0 &&
			      !memcmp(table, back, sizeof(table)),
		      "max backends %u: a rewrite reads back", w->max_backends);
		dp_unload(&dp);
	}
}

/*
 * The program reads a slot of either width whole: every slot names the largest id, whose
 * backend (10.0.0.3) gets the packet; a 4-byte id cut to 2 bytes would name no backend.
 */
static void test_forward_largest_id(void **state)
{
	static const __u32 sizes[] = { XLB_RING16_MAX_BACKENDS, 2 * XLB_RING16_MAX_BACKENDS };
	__u8 in[BUF], out[BUF];
	__u32 table[RING];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct fx_vip v = { "10.10.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, RING, 1,
				    { { "10.0.0.2", 1 } }, 1 };
		struct xlb_backend be = { .family = XLB_AF_INET, .vip_id = 1, .gen = 1,
					  .flags = XLB_BACKEND_ACTIVE };
		struct pkt_spec s = pkt_flow_spec(IPPROTO_TCP, "192.0.2.10", 40000, "10.10.0.1",
						  80, "\x02\x00\x00\x00\x00\xc1",
						  "\x02\x00\x00\x00\x00\xa0");
		__u32 top = sizes[i] - 1, out_len = sizeof(out), verdict = 0;
		struct fixture fx;
		struct in_addr dst;
		size_t len;

		check(fx_setup_sized(&fx, sizes[i]) == 0 && fx_vip_add(&fx, &v) == 0,
		      "max backends %u: set up", sizes[i]);
		inet_pton(AF_INET, "10.0.0.3", &be.addr.v4);
		check(dp_health_set(&fx.dp, top, XLB_HEALTH_UP) == 0 &&
			      dp_backend_set(&fx.dp, top, &be) == 0,
		      "backend id %u", top);
		for (__u32 k = 0; k < RING; k++)
			table[k] = top;
		check(dp_ring_write(&fx.dp, 1, table, NULL, RING) == 0, "every slot id %u", top);
		s.payload_len = 64;
		len = pkt_build(in, sizeof(in), &s);
		check(len > 0, "frame built");
		check(fx_run(&fx, in, len, out, &out_len, &verdict) == 0 && verdict == XDP_TX,
		      "max backends %u: forwarded, verdict %u", sizes[i], verdict);
		memcpy(&dst, out + PKT_ETH_LEN + 16, sizeof(dst));
		check(out_len > PKT_ETH_LEN + PKT_IPV4_LEN && dst.s_addr == be.addr.v4,
		      "max backends %u: to backend id %u (10.0.0.3), got %s", sizes[i], top,
		      inet_ntoa(dst));
		fx_teardown(&fx);
	}
}

/* ---- upgrade over the last release's pins ----------------------------- */

static char dir[64];

static int pins_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/xlb-test-rings-%d", getpid());
	if (access("/sys/fs/bpf", W_OK)) {
		print_message("no writable bpffs: cannot pin\n");
		return -1;
	}
	return 0;
}

static int pins_teardown(void **state)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void pinned_load(struct dp *dp)
{
	struct dp_opts o = { .max_vips = 4, .max_backends = 16, .conns = 1024,
			     .ratelimit_entries = 1024, .pin_dir = dir };

	check(dp_load(dp, &o) == 0, "the data plane loads over %s", dir);
}

/*
 * An outer map of 4-byte slots, vsz bytes an element (8: the last release's; 4, one slot, an
 * earlier one's), rings made with flags. With table, VIP id `id` gets a ring of `size` slots
 * holding it.
 */
static int old_rings(__u32 id, const __u32 *table, __u32 size, __u32 vsz, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, ro, .map_flags = flags);
	LIBBPF_OPTS(bpf_map_create_opts, oo);
	__u32 n = XLB_RING_ENTRIES(size, vsz / 4), *vals, *keys;
	int tmpl, outer, ring;

	tmpl = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_ring_t", 4, vsz, n, &ro);
	assert_true(tmpl >= 0);
	oo.inner_map_fd = tmpl;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "rings", 4, 4, 4, &oo);
	assert_true(outer >= 0);
	close(tmpl);
	if (!table)
		return outer;
	ring = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_ring_old", 4, vsz, n, &ro);
	/* A batch takes the values packed: a plain array of slots. */
	vals = calloc(n, vsz);
	keys = calloc(n, sizeof(*keys));
	assert_true(ring >= 0 && vals && keys);
	memcpy(vals, table, size * sizeof(*table));
	for (__u32 k = 0; k < n; k++)
		keys[k] = k;
	assert_int_equal(bpf_map_update_batch(ring, keys, vals, &n, NULL), 0);
	assert_int_equal(bpf_map_update_elem(outer, &id, &ring, BPF_ANY), 0);
	close(ring);
	free(vals);
	free(keys);
	return outer;
}

/* Replace dir's rings pin with map fd. */
static void pin_rings(int fd)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/rings", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
}

/* The value size of the first ring in the outer map pinned in dir. */
static __u32 pinned_value_size(void)
{
	__u32 inner, vsz = 0;
	char path[128];
	int outer, fd;

	snprintf(path, sizeof(path), "%s/rings", dir);
	outer = bpf_obj_get(path);
	assert_true(outer >= 0);
	for (__u32 id = 0; !vsz && id < 4; id++) {
		if (bpf_map_lookup_elem(outer, &id, &inner))
			continue;
		fd = bpf_map_get_fd_by_id(inner);
		vsz = fd >= 0 ? value_size_of(fd) : 0;
		close(fd);
	}
	close(outer);
	return vsz;
}

/* Pins in dir with VIP A (ring 1021, three backends) placed; its id, its table in table. */
static __u32 place_vip_a(struct config *cfg, __u32 *table)
{
	struct sync s;
	struct dp dp;
	char err[128];
	__u32 a;

	assert_int_equal(mkdir(dir, 0700), 0);
	pinned_load(&dp);
	check(sync_init(&s, &dp) == 0, "sync_init");
	config_init(cfg);
	check(config_apply_text(cfg, "vip add 10.0.0.10:80/tcp ring 1021\n"
				     "backend add 10.0.0.10:80/tcp 10.0.1.1\n"
				     "backend add 10.0.0.10:80/tcp 10.0.1.2\n"
				     "backend add 10.0.0.10:80/tcp 10.0.1.3\n",
				err, sizeof(err)) == 0,
	      "config: %s", err);
	check(sync_all(&s, cfg) == 0, "VIP A placed");
	a = cfg->vips[0].id;
	check(dp_ring_read(&dp, a, table, RING) == 0, "VIP A's table");
	sync_free(&s);
	dp_unload(&dp);
	return a;
}

/*
 * The last release's 4-byte rings pinned, its program (here: an fd) still on them: xlbd
 * starts with 2-byte rings of the same contents, the VIP keeps its id and backend ids, the
 * old rings stay as they were for the program still attached; a restart adopts the new ones.
 */
static void test_upgrade_from_4byte_rings(void **state)
{
	static __u32 table[RING], back[RING], ids[3];
	struct config cfg, again;
	__u32 a, inner, old_slots[2];
	struct sync s;
	struct dp dp;
	int outer, ring;

	a = place_vip_a(&cfg, table);
	for (int i = 0; i < 3; i++)
		ids[i] = cfg.vips[0].backends[i].id;

	/* The last release's rings, the same table in its layout, in place of ours. */
	outer = old_rings(a, table, RING, 8, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	pin_rings(outer);
	pinned_load(&dp);
	check(dp_ring_size(&dp, a) == RING, "VIP A's ring: %u slots, got %u", RING,
	      dp_ring_size(&dp, a));
	check(dp_ring_read(&dp, a, back, RING) == 0 && !memcmp(table, back, sizeof(table)),
	      "VIP A's table copied slot for slot");
	check(pinned_value_size() == sizeof(struct xlb_ring16), "the pin holds 2-byte rings now");
	/* The running program's rings: untouched. */
	check(!bpf_map_lookup_elem(outer, &a, &inner), "the old outer map keeps VIP A's ring");
	ring = bpf_map_get_fd_by_id(inner);
	check(ring >= 0 && !bpf_map_lookup_elem(ring, &(__u32){ 0 }, old_slots) &&
		      old_slots[0] == table[0] && old_slots[1] == table[1],
	      "the old ring still holds its slots");
	close(ring);
	close(outer);

	/* xlbd adopts the VIP as it was: same id, same backend ids, nothing swept. */
	check(sync_init(&s, &dp) == 0 && s.swept.rings == 0 && s.swept.backends == 0,
	      "nothing swept");
	config_init(&again);
	check(config_copy(&again, &cfg) == 0, "copy");
	for (int i = 0; i < 3; i++)
		again.vips[0].backends[i].id = XLB_BACKEND_NONE;
	again.vips[0].id = CFG_ID_NONE;
	sync_adopt(&s, &again);
	check(again.vips[0].id == a, "VIP A adopted with id %u, got %u", a, again.vips[0].id);
	for (int i = 0; i < 3; i++)
		check(again.vips[0].backends[i].id == ids[i], "backend %d keeps id %u, got %u", i,
		      ids[i], again.vips[0].backends[i].id);
	check(sync_all(&s, &again) == 0 && s.swept.vips == 0, "VIP A syncs, not re-placed");
	check(dp_ring_read(&dp, a, back, RING) == 0 && !memcmp(table, back, sizeof(table)),
	      "VIP A's table unchanged by the sync");
	sync_free(&s);
	config_free(&again);
	dp_unload(&dp);

	/* A restart adopts the 2-byte rings, with the VIP's own ring size. */
	pinned_load(&dp);
	check(dp.rings_old_fd < 0 && dp_ring_size(&dp, a) == RING,
	      "restart: VIP A's ring of %u slots adopted, got %u", RING, dp_ring_size(&dp, a));
	check(dp_ring_read(&dp, a, back, RING) == 0 && !memcmp(table, back, sizeof(table)),
	      "restart: VIP A's table as it was");
	dp_unload(&dp);
	config_free(&cfg);
}

/* Rings that cannot be mapped, one 4-byte slot an element: copied by a batch read. */
static void test_upgrade_from_unmapped_rings(void **state)
{
	static __u32 table[RING], back[RING];
	struct config cfg;
	struct dp dp;
	int outer;
	__u32 a;

	a = place_vip_a(&cfg, table);
	outer = old_rings(a, table, RING, 4, BPF_F_INNER_MAP);
	pin_rings(outer);
	close(outer);
	pinned_load(&dp);
	check(dp_ring_size(&dp, a) == RING && dp_ring_read(&dp, a, back, RING) == 0 &&
		      !memcmp(table, back, sizeof(table)),
	      "VIP A's table copied slot for slot");
	check(pinned_value_size() == sizeof(struct xlb_ring16), "the pin holds 2-byte rings now");
	dp_unload(&dp);
	config_free(&cfg);
}

/* The last release's outer map with no ring says nothing of its layout: a new one takes ours. */
static void test_upgrade_over_empty_rings(void **state)
{
	struct dp dp;
	int outer;

	assert_int_equal(mkdir(dir, 0700), 0);
	pinned_load(&dp);
	dp_unload(&dp);
	outer = old_rings(0, NULL, RING, 8, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	pin_rings(outer);
	close(outer);
	pinned_load(&dp);
	check(dp_ring_ensure(&dp, 1, RING) == 0, "a 2-byte ring installs");
	check(pinned_value_size() == sizeof(struct xlb_ring16), "the pin holds it");
	dp_unload(&dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_width_by_max_backends),
		cmocka_unit_test(test_forward_largest_id),
		cmocka_unit_test_setup_teardown(test_upgrade_from_4byte_rings, pins_setup,
						pins_teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_unmapped_rings, pins_setup,
						pins_teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_over_empty_rings, pins_setup,
						pins_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
