// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `xlb-bench --only katran --katran PATH`: the per-packet classes of the
 * packets section through xlb and through Katran's XDP balancer in the same
 * process, rounds interleaved (floor, xlb, floor, Katran), so that the
 * issue's "x times Katran" figures are measured on today's machine rather
 * than derived from absolute nanoseconds.
 *
 * Katran is never fetched or built by this repository: PATH is an object
 * built elsewhere from Katran's own sources with its own build options
 * (README "Performance"). This file configures it as Katran's userspace
 * would, from the map layouts its headers define; the struct layouts below
 * are checked against the object's maps before anything is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "fixture.h"
#include "maglev.h"
#include "pkt.h"

#define SEC_KATRAN	"vs Katran"
#define KAT_REALS	10		/* per family: the "10 reals" */
#define KAT_F_IPV6	1		/* real_definition.flags: an IPv6 real */
/* Katran's stats map: per-CPU counters after the per-VIP ones, MAX_VIPS + these. */
#define KAT_NEW_CONN_RATE	2	/* v1: new flows this second, v2: the second's start */
#define KAT_FALLBACK_LRU	3	/* packets that found no per-CPU LRU */
#define KAT_FILL_CHUNK		100000	/* new flows per limiter reset: below its 125,000 */

/* The keys and values Katran's maps hold (its balancer_structs.h). */
struct kat_vip {
	__be32 addr[4];			/* IPv4: addr[0] */
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct kat_vip_meta {
	__u32 flags;
	__u32 vip_num;			/* the VIP's ring: slots [vip_num * ring, +ring) */
};

struct kat_real {
	__be32 addr[4];
	__u8 flags;
	__u8 pad[3];
};

struct kat_flow {			/* the per-CPU LRU's key */
	__be32 src[4];
	__be32 dst[4];
	__u32 ports;
	__u8 proto;
	__u8 pad[3];
};

struct kat_lru_val {
	__u32 pos;
	__u64 atime;
};

struct kat_stats {
	__u64 v1, v2;
};

struct katran {
	struct bpf_object *obj;
	int prog_fd, stats_fd;
	__u32 max_vips, ring;		/* derived from the object's map sizes */
	int ncpus;
	int lru_fds[128];
	int n_lru;
	struct kat_stats *percpu;	/* ncpus values, for the stats map */
};

/* The bench's four IPIP VIPs (bench.c bench_vips[0..3]), in Katran's vip_num order. */
static const struct {
	const char *addr;
	__u16 port;
	__u8 proto;
} kat_vips[] = {
	{ "10.20.0.1", 80, IPPROTO_TCP },
	{ "10.20.0.1", 53, IPPROTO_UDP },
	{ "fd20::1", 80, IPPROTO_TCP },
	{ "fd20::1", 53, IPPROTO_UDP },
};

/* What each round of Katran's new flows sees of its new-connection limiter. */
enum kat_mode {
	KAT_INSERTING,		/* counter reset: every new flow inserts into the LRU */
	KAT_OVER_LIMIT,		/* above MAX_CONN_RATE this second: no insert */
};

struct kat_round {
	struct katran *k;
	enum kat_mode mode;
};

static int kat_map_fd(struct katran *k, const char *name, __u32 key_size, __u32 value_size)
{
	struct bpf_map *m = bpf_object__find_map_by_name(k->obj, name);

	if (!m) {
		fprintf(stderr, "bench: katran: no map %s in the object\n", name);
		return -ENOENT;
	}
	if (bpf_map__key_size(m) != key_size || (value_size && bpf_map__value_size(m) != value_size)) {
		fprintf(stderr, "bench: katran: map %s has key %u value %u bytes, expected %u %u: "
				"not the layout this bench knows\n", name, bpf_map__key_size(m),
			bpf_map__value_size(m), key_size, value_size);
		return -EPROTO;
	}
	return bpf_map__fd(m);
}

/* The address of a family of reals: 10.0.0.N or fd00::N, N from 2 (the fixture's neighbours). */
static void kat_real_addr(bool v6, int n, struct kat_real *r)
{
	char text[64];
	struct xlb_addr a;
	__u8 family;

	memset(r, 0, sizeof(*r));
	snprintf(text, sizeof(text), v6 ? "fd00::%x" : "10.0.0.%d", n + 2);
	pkt_addr(&a, &family, text);
	memcpy(r->addr, &a, v6 ? 16 : 4);
	r->flags = v6 ? KAT_F_IPV6 : 0;
}

/*
 * One VIP's ring: a Maglev table (xlb's own builder, Katran's kind of fill)
 * over the ten reals of its family, ids first_id.. as Katran's real indexes.
 */
static int kat_ring_fill(struct katran *k, int rings_fd, __u32 vip_num, bool v6, __u32 first_id)
{
	struct maglev_backend mb[KAT_REALS];
	__u32 *table = calloc(k->ring, sizeof(*table)), *keys = calloc(k->ring, sizeof(*keys));
	__u32 n = k->ring;
	int err = table && keys ? 0 : -ENOMEM;

	for (int i = 0; !err && i < KAT_REALS; i++) {
		struct kat_real r;

		kat_real_addr(v6, i, &r);
		memset(&mb[i], 0, sizeof(mb[i]));
		memcpy(&mb[i].addr, r.addr, 16);
		mb[i].family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
		mb[i].id = first_id + i;
		mb[i].weight = 1;
	}
	if (!err)
		err = maglev_build(mb, KAT_REALS, table, k->ring);
	for (__u32 s = 0; keys && s < k->ring; s++)
		keys[s] = vip_num * k->ring + s;
	/* One batch: 65537 single updates would be most of the setup time. */
	if (!err && bpf_map_update_batch(rings_fd, keys, table, &n, NULL))
		err = -errno;
	free(table);
	free(keys);
	return err;
}

/* Katran's new-connection limiter on every CPU, as mode asks. */
static int kat_limiter_set(struct katran *k, enum kat_mode mode)
{
	__u32 key = k->max_vips + KAT_NEW_CONN_RATE;
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: "now" makes this second the current one. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (int c = 0; c < k->ncpus; c++) {
		k->percpu[c].v1 = mode == KAT_OVER_LIMIT ? 1ULL << 40 : 0;
		k->percpu[c].v2 = mode == KAT_OVER_LIMIT ? ts.tv_sec * 1000000000ULL + ts.tv_nsec : 0;
	}
	return bpf_map_update_elem(k->stats_fd, &key, k->percpu, BPF_ANY) ? -errno : 0;
}

static void kat_round(void *arg)
{
	struct kat_round *r = arg;

	if (kat_limiter_set(r->k, r->mode))
		fprintf(stderr, "bench: katran: cannot set the new-connection counter\n");
}

static __u64 kat_counter(struct katran *k, __u32 which)
{
	__u32 key = k->max_vips + which;
	__u64 sum = 0;

	if (bpf_map_lookup_elem(k->stats_fd, &key, k->percpu))
		return 0;
	for (int c = 0; c < k->ncpus; c++)
		sum += k->percpu[c].v1;
	return sum;
}

/*
 * Open, load and configure Katran's object the way its userspace does for
 * the bench's four IPIP VIPs: reals, rings, VIPs, the gateway MAC in
 * ctl_array[0], and one LRU per CPU in lru_mapping of lru_size entries.
 */
static int kat_load(struct katran *k, const char *path, __u32 lru_size)
{
	struct bpf_program *prog;
	int fd, err, vips_fd, reals_fd, rings_fd, ctl_fd, lru_map_fd;
	struct bpf_map *m;

	k->obj = bpf_object__open_file(path, NULL);
	if (!k->obj)
		return -errno;
	err = bpf_object__load(k->obj);
	if (err)
		return err;
	prog = bpf_object__find_program_by_name(k->obj, "balancer_ingress");
	if (!prog)
		return -ENOENT;
	k->prog_fd = bpf_program__fd(prog);

	/* MAX_VIPS and RING_SIZE are compile-time options: read them off the map sizes. */
	m = bpf_object__find_map_by_name(k->obj, "stats");
	k->max_vips = m ? bpf_map__max_entries(m) / 2 : 0;
	m = bpf_object__find_map_by_name(k->obj, "ch_rings");
	k->ring = m && k->max_vips ? bpf_map__max_entries(m) / k->max_vips : 0;
	if (!k->max_vips || !k->ring || !maglev_is_prime(k->ring))
		return -EPROTO;

	vips_fd = kat_map_fd(k, "vip_map", sizeof(struct kat_vip), sizeof(struct kat_vip_meta));
	reals_fd = kat_map_fd(k, "reals", 4, sizeof(struct kat_real));
	rings_fd = kat_map_fd(k, "ch_rings", 4, 4);
	ctl_fd = kat_map_fd(k, "ctl_array", 4, 8);
	lru_map_fd = kat_map_fd(k, "lru_mapping", 4, 4);
	k->stats_fd = kat_map_fd(k, "stats", 4, sizeof(struct kat_stats));
	if (vips_fd < 0 || reals_fd < 0 || rings_fd < 0 || ctl_fd < 0 || lru_map_fd < 0 ||
	    k->stats_fd < 0)
		return -EPROTO;

	/* Real index 0 means "no real" to Katran: IPv4 reals 1..10, IPv6 11..20. */
	for (int fam = 0; fam < 2; fam++)
		for (__u32 i = 0; i < KAT_REALS; i++) {
			struct kat_real r;
			__u32 id = 1 + fam * KAT_REALS + i;

			kat_real_addr(fam, i, &r);
			if (bpf_map_update_elem(reals_fd, &id, &r, BPF_ANY))
				return -errno;
		}
	for (__u32 v = 0; v < sizeof(kat_vips) / sizeof(kat_vips[0]); v++) {
		bool v6 = strchr(kat_vips[v].addr, ':') != NULL;
		struct kat_vip key = { .port = htons(kat_vips[v].port), .proto = kat_vips[v].proto };
		struct kat_vip_meta meta = { .flags = 0, .vip_num = v };
		struct xlb_addr a;
		__u8 family;

		pkt_addr(&a, &family, kat_vips[v].addr);
		memcpy(key.addr, &a, v6 ? 16 : 4);
		err = kat_ring_fill(k, rings_fd, v, v6, v6 ? 1 + KAT_REALS : 1);
		if (err)
			return err;
		if (bpf_map_update_elem(vips_fd, &key, &meta, BPF_ANY))
			return -errno;
	}
	/* ctl_array[0]: the MAC every encapsulated packet is sent to (the default router). */
	{
		__u8 mac[8] = { 0x02, 0, 0, 0, 0, 0x02 };
		__u32 zero = 0;

		if (bpf_map_update_elem(ctl_fd, &zero, mac, BPF_ANY))
			return -errno;
	}
	/* Katran's forwarding cores each get an LRU of their own; here every CPU is one. */
	k->ncpus = libbpf_num_possible_cpus();
	if (k->ncpus <= 0)
		return -EINVAL;
	k->percpu = calloc(k->ncpus, sizeof(*k->percpu));
	if (!k->percpu)
		return -ENOMEM;
	for (int c = 0; c < k->ncpus && c < 128; c++) {
		__u32 key = c;

		fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "katran_lru", sizeof(struct kat_flow),
				    sizeof(struct kat_lru_val), lru_size, NULL);
		if (fd < 0)
			return -errno;
		k->lru_fds[k->n_lru++] = fd;
		if (bpf_map_update_elem(lru_map_fd, &key, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

static void kat_close(struct katran *k)
{
	for (int i = 0; i < k->n_lru; i++)
		close(k->lru_fds[i]);
	free(k->percpu);
	bpf_object__close(k->obj);
}

/*
 * The classes Katran can take: those to its four VIPs and those to no VIP at
 * all; the other encapsulations' VIPs, and the classes spread over many
 * VIPs (vip NULL), are xlb's alone.
 */
static bool kat_has_vip(const struct bench_class *c)
{
	if (strstr(c->name, "not for a VIP"))
		return true;
	if (!c->vip)
		return false;
	for (size_t v = 0; v < sizeof(kat_vips) / sizeof(kat_vips[0]); v++)
		if (!strcmp(c->vip, kat_vips[v].addr) && c->port == kat_vips[v].port &&
		    c->proto == kat_vips[v].proto)
			return true;
	return false;
}

static void kat_row(const char *name, const struct class_result *r)
{
	printf("%-56s %8.1f %8.1f %8.2fx  %s/%s\n", name, r->net, r->old_net, r->ratio,
	       bench_verdict_name(r->verdict), bench_verdict_name(r->old_verdict));
	bench_record(SEC_KATRAN, name, r->net, "ns above floor, xlb", r->net / r->floor, "(%s)",
		     bench_verdict_name(r->verdict));
	bench_record(SEC_KATRAN, name, r->old_net, "ns above floor, Katran", r->old_net / r->floor,
		     "xlb / Katran: %.2fx (Katran %s)", r->ratio, bench_verdict_name(r->old_verdict));
}

void bench_katran(struct fixture *fx, int floor_fd, const char *path)
{
	struct katran k = { 0 };
	struct kat_round round = { .k = &k };
	int prog_fd = dp_prog_fd(&fx->dp), err;
	__u32 lru = dp_conn_max(&fx->dp), tx;
	double floors[32];
	int n_floors = 0;

	err = kat_load(&k, path, lru);
	if (err) {
		fprintf(stderr, "bench: section katran skipped: cannot load and configure %s: %s\n",
			path, strerror(-err));
		bench_record(SEC_KATRAN, "not measured", NAN, "-", NAN, "%s", strerror(-err));
		kat_close(&k);
		return;
	}
	/*
	 * Warm up both, then fill both tables: new flows evict from their
	 * first packet. Katran's in chunks below its new-connection limit,
	 * each with the counter reset, or it would stop inserting.
	 */
	bench_flood(prog_fd, fx->if0, 0x64000000, lru, &tx);
	for (__u32 done = 0, n; done < lru; done += n) {
		n = lru - done < KAT_FILL_CHUNK ? lru - done : KAT_FILL_CHUNK;
		kat_limiter_set(&k, KAT_INSERTING);
		bench_flood(k.prog_fd, fx->if0, 0x64000000 + done, n, &tx);
	}

	printf("\nxlb vs Katran (%s): net ns above the floor, medians of the rounds "
	       "(floor, xlb, floor, Katran);\nKatran: %u-slot rings, %d reals per family, "
	       "an LRU of %u flows per CPU (xlb's table: %u flows)\n", path, k.ring, KAT_REALS, lru,
	       lru);
	printf("%-56s %8s %8s %9s  verdicts\n", "packet class", "xlb", "Katran", "xlb/Katran");
	for (size_t i = 0; bench_class_at(i); i++) {
		const struct bench_class *c = bench_class_at(i);
		struct class_result r;

		/* Two rows at most per class: the floors fit. */
		if (!kat_has_vip(c) || n_floors + 2 > (int)(sizeof(floors) / sizeof(floors[0])))
			continue;
		/*
		 * Katran stops inserting new flows past MAX_CONN_RATE (125,000)
		 * per second and CPU, a rate the bench's back-to-back runs pass:
		 * reset its counter before each round (under that rate per round),
		 * so that its new flows do the same work as xlb's.
		 */
		round.mode = KAT_INSERTING;
		bench_measure_class(floor_fd, prog_fd, k.prog_fd, fx->if0, c, &r, kat_round, &round);
		floors[n_floors++] = r.floor;
		kat_row(c->name, &r);
		if (c->tcp_flags != PKT_TCP_SYN)
			continue;
		/* The same flood above Katran's limit: what it does under a real flood. */
		round.mode = KAT_OVER_LIMIT;
		bench_measure_class(floor_fd, prog_fd, k.prog_fd, fx->if0, c, &r, kat_round, &round);
		floors[n_floors++] = r.floor;
		{
			char name[96];

			snprintf(name, sizeof(name), "%s, Katran over its limit", c->name);
			kat_row(name, &r);
		}
	}
	qsort(floors, n_floors, sizeof(floors[0]), cmp_double);
	printf("%-56s %8.1f\n", "floor (XDP_PASS, 2 insns), median", floors[n_floors / 2]);
	bench_record(SEC_KATRAN, "floor (XDP_PASS, 2 insns)", floors[n_floors / 2], "ns/packet",
		     NAN, "median over the classes' rounds");
	if (kat_counter(&k, KAT_FALLBACK_LRU))
		fprintf(stderr, "bench: katran: %llu packets used its fallback LRU, not the "
				"per-CPU one: its figures are off\n",
			(unsigned long long)kat_counter(&k, KAT_FALLBACK_LRU));
	kat_close(&k);
}
