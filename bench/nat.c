// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Full NAT (method nat, bpf/nat.h) per packet, next to ipip: the same
 * method as the per-packet section (BPF_PROG_TEST_RUN, repeat=1, kernel
 * durations, less the XDP_PASS floor of the same rounds), rounds
 * interleaved so that every figure sees the same machine:
 *
 *   ipip established, no nat VIP configured (XLB_CONFIG_NAT clear: what a
 *   DSR-only setup runs), the same with nat VIPs configured (the nat
 *   lookup's miss on a DSR packet), a NATed client packet of an established
 *   flow, the backend's reply, and a new NAT flow (port allocation, two
 *   inserts) on a near-empty map (its rounds' ports probed per flow are
 *   printed: ~1.00). Then new flows on a map 3/4 full, an operator's table
 *   near its peak (measure_full()). Issue 18's target: each direction
 *   within 20 ns of ipip. The differences to ipip are taken within each
 *   round, then their median: a neighbour that slows one round slows both
 *   sides of its difference.
 *
 * With another build (--old), every figure of it too, in the same rounds
 * (floor, this, old; which goes first alternates), on its own nat map and
 * pools: the new-flow figure's gain is measured, not guessed, as the
 * median of the rounds' paired differences.
 *
 * Then the kernel memory per `nat` entry: the map's memlock (its actual
 * usage: a BPF_F_NO_PREALLOC hash charges what it holds) with 20,000
 * entries made by 10,000 new flows, less the empty map's, per entry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "fixture.h"
#include "pkt.h"
#include "xlb_hash.h"
#include "xlb_nat.h"
#include "xlb.skel.h"

#define SEC_NAT		"nat (full NAT)"
#define NAT_ROUNDS	40
#define NAT_CALLS	5000	/* per round and figure */
#define NAT_NEW_CALLS	500	/* new flows per round: the map stays far from full */
#define NAT_MEM_FLOWS	10000
#define NAT_FULL_NUM	3	/* the loaded figure: the map this full (of 4) ... */
#define NAT_FULL_DEN	4	/* ... before each round's new flows */
#define NAT_TARGET_NS	20	/* issue 18: within this of ipip established */

static struct fx_vip nat_vips[] = {
	{ "10.20.0.20", 80, IPPROTO_TCP, XLB_METHOD_NAT, 0, 0, 20,
	  { { "10.0.0.2", 1, 0, 8080 }, { "10.0.0.3", 1, 0, 8080 }, { "10.0.0.4", 1, 0, 8080 } },
	  3 },
	{ "fd20::20", 80, IPPROTO_TCP, XLB_METHOD_NAT, 0, 0, 21,
	  { { "fd00::2", 1, 0, 8080 }, { "fd00::3", 1, 0, 8080 }, { "fd00::4", 1, 0, 8080 } },
	  3 },
};

static const char *const pool_addr[] = { "10.0.0.1", "fd00::1" };

/* The per-packet section's established ipip flow, and its VIPs (bench.c). */
static const char *const ipip_vip[] = { "10.20.0.1", "fd20::1" };
static const char *const client[] = { "192.0.2.1", "2001:db8::1" };

struct pkt {
	__u8 data[160];
	int len;
	struct xlb_flow key;	/* its nat map key, the client's direction */
};

static int build(struct pkt *p, const char *src, __u16 sport, const char *dst, __u16 dport,
		 const char *smac)
{
	struct pkt_spec s = pkt_flow_spec(IPPROTO_TCP, src, sport, dst, dport, smac,
					  "\x02\x00\x00\x00\x00\xa0");

	s.payload_len = 64;
	p->len = (int)pkt_build(p->data, sizeof(p->data), &s);
	p->key = pkt_flow(&s);
	return p->len > 0 ? 0 : -EINVAL;
}

/* Mean kernel ns over `calls` runs of p[i % n]; *verdict: the last one's. */
static double run(int fd, int ifindex, const struct pkt *p, __u32 n, __u32 calls, __u32 *verdict)
{
	double total = 0;
	__u8 out[512];

	for (__u32 k = 0; k < calls; k++) {
		const struct pkt *q = &p[k % n];
		struct xdp_md ctx = { .data_end = q->len, .ingress_ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = q->data, .data_size_in = q->len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

		if (bpf_prog_test_run_opts(fd, &opts))
			return NAN;
		total += opts.duration;
		*verdict = opts.retval;
	}
	return total / calls;
}

static int nat_flag(struct fixture *fx, bool on)
{
	struct xlb_config cfg = fx->dp.cfg;

	cfg.flags = on ? cfg.flags | XLB_CONFIG_NAT : cfg.flags & ~XLB_CONFIG_NAT;
	return dp_config_set(&fx->dp, &cfg);
}

/* A build of the program under measure: this one, or --old's beside it. */
struct nat_build {
	int prog, nat, pools;	/* fds */
	struct pkt reply;	/* the backend's reply of its established flow */
};

/*
 * Every entry of a nat map out (the sweeper's job, between rounds): keys
 * first, then deletes, each walk step from the previous key. Returns how
 * many there were.
 */
static __u32 nat_map_clear(int fd, __u32 cap)
{
	struct xlb_flow *keys = calloc(cap, sizeof(*keys));
	__u32 n = 0;

	while (keys && n < cap && !bpf_map_get_next_key(fd, n ? &keys[n - 1] : NULL, &keys[n]))
		n++;
	for (__u32 i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &keys[i]);
	free(keys);
	return n;
}

/*
 * Every build's nat map emptied, then the next second, as the sweeper's
 * tick writes it (the CPUs' copies of entries last for the second they
 * were taken in). Returns how many entries the first build's map held.
 */
static __u32 nat_clear(struct fixture *fx, const struct nat_build *b, int nb)
{
	struct xlb_config cfg = fx->dp.cfg;
	__u32 cap = bpf_map__max_entries(fx->dp.skel->maps.nat), n = 0;

	for (int i = nb - 1; i >= 0; i--)
		n = nat_map_clear(b[i].nat, cap);
	cfg.now++;
	dp_config_set(&fx->dp, &cfg);
	return n;
}

/* The other build's map called name, found from its program: an fd, or -errno. */
static int old_map_fd(int prog, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[64];
	int fd;

	if (bpf_obj_get_info_by_fd(prog, &info, &len))
		return -errno;
	if (info.nr_map_ids > 64)
		return -E2BIG;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 64;
	info.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog, &info, &len))
		return -errno;
	for (__u32 i = 0; i < info.nr_map_ids; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);

		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) && !strcmp(mi.name, name))
			return fd;
		close(fd);
	}
	return -ENOENT;
}

/* The pools, in every build's map. */
static int nat_configure_pools(const struct nat_build *b, int nb)
{
	int err = 0;

	for (size_t i = 0; !err && i < 2; i++) {
		struct xlb_nat_pool pool = { .port_lo = XLB_NAT_PORT_LO,
					     .port_hi = XLB_NAT_PORT_HI, .n_addrs = 1 };
		__u32 id = nat_vips[i].id;
		__u8 family;

		err = pkt_addr(&pool.addrs[0], &family, pool_addr[i]);
		for (int k = 0; !err && k < nb; k++)
			err = bpf_map_update_elem(b[k].pools, &id, &pool, 0);
	}
	return err;
}

/* The VIPs, their pools in b's map, prefilter bits for the pool addresses. */
static int nat_configure(struct fixture *fx, const struct nat_build *b)
{
	struct bpf_map *filter = fx->dp.skel->maps.filter;
	struct xlb_filter f;
	__u32 zero = 0, bit;
	__u8 family;
	int err = 0;

	for (size_t i = 0; !err && i < 2; i++)
		err = fx_vip_add(fx, &nat_vips[i]);
	if (!err)
		err = nat_configure_pools(b, 1);
	if (!err)
		err = bpf_map__lookup_elem(filter, &zero, sizeof(zero), &f, sizeof(f), 0);
	for (size_t i = 0; !err && i < 2; i++) {
		struct xlb_addr a;

		pkt_addr(&a, &family, pool_addr[i]);
		bit = xlb_filter_bit(&a);
		f.bits[bit / 64] |= 1ULL << (bit % 64);
	}
	if (!err)
		err = bpf_map__update_elem(filter, &zero, sizeof(zero), &f, sizeof(f), 0);
	return err;
}

/* New clients of the nat VIP of family v6, one each. */
static struct pkt *new_flows(int v6, __u32 first, __u32 n)
{
	struct pkt *p = calloc(n, sizeof(*p));
	char src[64];

	for (__u32 i = 0; p && i < n; i++) {
		__u32 c = first + i;

		if (v6)
			snprintf(src, sizeof(src), "2001:db8:7:%x::%x", c >> 16, c & 0xffff);
		else
			snprintf(src, sizeof(src), "198.19.%u.%u", (c >> 8) & 0xff, c & 0xff);
		if (build(&p[i], src, 1024 + (c >> 16), nat_vips[v6].addr, 80,
			  "\x02\x00\x00\x00\x00\xc1")) {
			free(p);
			return NULL;
		}
	}
	return p;
}

/*
 * Ports probed per flow of p[0..n), from the ports their entries got
 * (bpf/nat.h: from hash % range on, one a probe): the mean, 0 if none.
 */
static double probes_mean(int fd, const struct pkt *p, __u32 n)
{
	__u32 range = XLB_NAT_PORT_HI - XLB_NAT_PORT_LO + 1, found = 0;
	struct xlb_nat e;
	double sum = 0;

	for (__u32 i = 0; i < n; i++) {
		__u32 start = xlb_flow_hash(&p[i].key, 0) % range;

		if (bpf_map_lookup_elem(fd, &p[i].key, &e))
			continue;
		sum += (ntohs(e.sport) - XLB_NAT_PORT_LO + range - start) % range + 1;
		found++;
	}
	return found ? sum / found : 0;
}

/* The flows of p[0..n) out of a nat map, both entries each, as the sweeper ends them. */
static void flows_drop(int fd, const struct pkt *p, __u32 n)
{
	struct xlb_flow k;
	struct xlb_nat e;

	for (__u32 i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &p[i].key, &e))
			continue;
		xlb_nat_partner(&k, &e, &p[i].key);
		bpf_map_delete_elem(fd, &k);
		bpf_map_delete_elem(fd, &p[i].key);
	}
}

enum { F_IPIP, F_IPIP_MIXED, F_TO_BACKEND, F_REPLY, F_NEW, F_COUNT };

static const char *const fig_name[F_COUNT] = {
	"tcp established, ipip, no nat VIP",
	"tcp established, ipip, nat VIPs configured",
	"tcp established, nat, client to backend",
	"tcp established, nat, backend reply to client",
	"tcp new flow, nat (port allocation, 2 entries)",
};

/*
 * Bind build b's established flow (key, of the packet fwd) and build its
 * backend's reply from the entry made. 0, or -errno after saying why.
 */
static int nat_bind(struct fixture *fx, struct nat_build *b, const struct pkt *fwd,
		    const struct xlb_flow *key, int v6)
{
	char be[64], pool[64];
	struct xlb_nat entry;
	__u32 v = ~0U;

	run(b->prog, fx->if0, fwd, 1, 1, &v);
	if (v != XDP_TX || bpf_map_lookup_elem(b->nat, key, &entry)) {
		fprintf(stderr, "bench: nat flow not established (verdict %u)\n", v);
		return -ENOENT;
	}
	inet_ntop(v6 ? AF_INET6 : AF_INET, &entry.dst, be, sizeof(be));
	inet_ntop(v6 ? AF_INET6 : AF_INET, &entry.src, pool, sizeof(pool));
	return build(&b->reply, be, ntohs(entry.dport), pool, ntohs(entry.sport),
		     "\x02\x00\x00\x00\x00\x02");
}

/*
 * New flows with each build's map NAT_FULL_NUM / NAT_FULL_DEN full (filled
 * once, two entries a flow): an operator's table near its peak, where
 * ports collide more often and buckets hold more than the near-empty map
 * of the rounds above. Each round's new flows are dropped after it, the
 * fill stays; the map is emptied at the end. empty_ns: the near-empty
 * figure, fl the floor, to compare with. 0, or -errno after saying why.
 */
static int measure_full(struct fixture *fx, int floor_fd, struct nat_build *b, int nb, int v6,
			double empty_ns, double fl)
{
	static double net[2][NAT_ROUNDS], vs_old[NAT_ROUNDS], probes[NAT_ROUNDS];
	__u32 cap = bpf_map__max_entries(fx->dp.skel->maps.nat), verdict[2] = { 0 }, v;
	__u32 fill = cap / 2 / NAT_FULL_DEN * NAT_FULL_NUM;
	struct pkt *filler = new_flows(v6, 1U << 21, fill), *fresh;
	double f, x[2];
	char name[96];
	int err = filler ? 0 : -ENOMEM;

	for (int k = 0; !err && k < nb; k++) {
		run(b[k].prog, fx->if0, filler, fill, fill, &v);
		if (bpf_map_lookup_elem(b[k].nat, &filler[fill - 1].key, &(struct xlb_nat){}))
			err = -ENOSPC;
	}
	free(filler);
	for (int r = 0; !err && r < NAT_ROUNDS; r++) {
		fresh = new_flows(v6, (1U << 22) + r * NAT_NEW_CALLS, NAT_NEW_CALLS);
		if (!fresh) {
			err = -ENOMEM;
			break;
		}
		f = run(floor_fd, fx->if0, fresh, NAT_NEW_CALLS, NAT_NEW_CALLS, &v);
		for (int j = 0; j < nb; j++) {
			int k = r % 2 ? nb - 1 - j : j;

			x[k] = run(b[k].prog, fx->if0, fresh, NAT_NEW_CALLS, NAT_NEW_CALLS,
				   &verdict[k]);
			net[k][r] = x[k] - f;
		}
		vs_old[r] = x[0] - x[nb - 1];
		probes[r] = probes_mean(b[0].nat, fresh, NAT_NEW_CALLS);
		for (int k = 0; k < nb; k++)
			flows_drop(b[k].nat, fresh, NAT_NEW_CALLS);
		free(fresh);
	}
	nat_clear(fx, b, nb);
	if (err) {
		fprintf(stderr, "bench: nat map not filled: %s\n", strerror(-err));
		return err;
	}
	snprintf(name, sizeof(name), "ipv%d tcp new flow, nat, map %d/%d full", v6 ? 6 : 4,
		 NAT_FULL_NUM, NAT_FULL_DEN);
	x[0] = bench_median(net[0], NAT_ROUNDS);
	f = bench_median(probes, NAT_ROUNDS);
	printf("  %-56s %7.1f net ns  %+.1f ns vs near-empty, %.3f probes a flow (%s)\n", name,
	       x[0], x[0] - empty_ns, f, bench_verdict_name(verdict[0]));
	bench_record(SEC_NAT, name, x[0], "ns above floor", x[0] / fl,
		     "%+.1f ns vs the near-empty map; %.3f ports probed a flow (%s)",
		     x[0] - empty_ns, f, bench_verdict_name(verdict[0]));
	if (nb < 2)
		return 0;
	x[1] = bench_median(net[1], NAT_ROUNDS);
	f = bench_median(vs_old, NAT_ROUNDS);
	printf("  %-56s %7.1f net ns  this - old: %+.1f ns (old %s)\n", "  old build", x[1], f,
	       bench_verdict_name(verdict[1]));
	bench_record(SEC_NAT, name, x[1], "ns above floor, old build", x[1] / fl,
		     "this - old: %+.1f ns (median of the rounds' differences)", f);
	return 0;
}

/* One family's figures, of nb builds. 0, or -errno after saying why. */
static int measure_family(struct fixture *fx, int floor_fd, struct nat_build *b, int nb, int v6)
{
	static double net[2][F_COUNT][NAT_ROUNDS], diff[2][F_COUNT][NAT_ROUNDS];
	static double vs_old[F_COUNT][NAT_ROUNDS], probes[NAT_ROUNDS];
	double fl[NAT_ROUNDS], x[2][F_COUNT], d[2][F_COUNT], old[F_COUNT], dold[F_COUNT], f1, f2;
	struct pkt ipip, fwd, *fresh;
	__u32 verdict[2][F_COUNT] = { { 0 } }, v = ~0U;
	struct xlb_flow key;
	char target[128];
	int err = 0;

	/* The established flows: one packet each binds them. */
	if (nat_flag(fx, true) || build(&ipip, client[v6], 40000, ipip_vip[v6], 80,
					"\x02\x00\x00\x00\x00\xc1") ||
	    build(&fwd, client[v6], 40000, nat_vips[v6].addr, 80, "\x02\x00\x00\x00\x00\xc1"))
		return -EINVAL;
	key = pkt_flow(&(struct pkt_spec){ .src = client[v6], .dst = nat_vips[v6].addr,
					   .sport = 40000, .dport = 80, .proto = IPPROTO_TCP });
	for (int k = 0; !err && k < nb; k++) {
		run(b[k].prog, fx->if0, &ipip, 1, 2, &v);
		err = nat_bind(fx, &b[k], &fwd, &key, v6);
	}
	if (err)
		return err;

	for (int r = 0; r < NAT_ROUNDS; r++) {
		fresh = new_flows(v6, r * NAT_NEW_CALLS, NAT_NEW_CALLS);
		if (!fresh)
			return -ENOMEM;
		fl[r] = 0;
		/* Which build goes first alternates: neither always follows the clear. */
		for (int j = 0; j < nb; j++) {
			int k = r % 2 ? nb - 1 - j : j;
			__u32 *vd = verdict[k];

			nat_flag(fx, false);
			f1 = run(floor_fd, fx->if0, &ipip, 1, NAT_CALLS, &v);
			x[k][F_IPIP] = run(b[k].prog, fx->if0, &ipip, 1, NAT_CALLS, &vd[F_IPIP]);
			nat_flag(fx, true);
			f2 = run(floor_fd, fx->if0, &ipip, 1, NAT_CALLS, &v);
			x[k][F_IPIP_MIXED] = run(b[k].prog, fx->if0, &ipip, 1, NAT_CALLS,
						 &vd[F_IPIP_MIXED]);
			x[k][F_TO_BACKEND] = run(b[k].prog, fx->if0, &fwd, 1, NAT_CALLS,
						 &vd[F_TO_BACKEND]);
			x[k][F_REPLY] = run(b[k].prog, fx->if0, &b[k].reply, 1, NAT_CALLS,
					    &vd[F_REPLY]);
			x[k][F_NEW] = run(b[k].prog, fx->if0, fresh, NAT_NEW_CALLS, NAT_NEW_CALLS,
					  &vd[F_NEW]);
			fl[r] += (f1 + f2) / 2 / nb;
		}
		probes[r] = probes_mean(b[0].nat, fresh, NAT_NEW_CALLS);
		free(fresh);
		/* The sweeper's part: the new flows go, the established two stay. */
		nat_clear(fx, b, nb);
		for (int k = 0; !err && k < nb; k++)
			err = nat_bind(fx, &b[k], &fwd, &key, v6);
		if (err)
			return err;
		for (int i = 0; i < F_COUNT; i++) {
			for (int k = 0; k < nb; k++) {
				net[k][i][r] = x[k][i] - fl[r];
				diff[k][i][r] = x[k][i] - x[k][F_IPIP];
			}
			vs_old[i][r] = x[0][i] - x[nb - 1][i];
		}
	}
	for (int k = 0; k < nb; k++)
		for (int i = 0; i < F_COUNT; i++) {
			x[k][i] = bench_median(net[k][i], NAT_ROUNDS);
			d[k][i] = bench_median(diff[k][i], NAT_ROUNDS);
		}
	for (int i = 0; i < F_COUNT; i++)
		dold[i] = bench_median(vs_old[i], NAT_ROUNDS);
	f1 = bench_median(fl, NAT_ROUNDS);
	for (int i = 0; i < F_COUNT; i++) {
		char name[96];
		bool ok = d[0][i] <= NAT_TARGET_NS;
		const char *vn = bench_verdict_name(verdict[0][i]);

		snprintf(name, sizeof(name), "ipv%d %s", v6 ? 6 : 4, fig_name[i]);
		if (i == F_TO_BACKEND || i == F_REPLY)
			snprintf(target, sizeof(target), "<= ipip + %d ns (%+.1f): %s (%s)",
				 NAT_TARGET_NS, d[0][i], bench_meets(ok), vn);
		else if (i == F_NEW)
			snprintf(target, sizeof(target),
				 "%+.1f ns vs ipip, %.3f probes a flow (%s)", d[0][i],
				 bench_median(probes, NAT_ROUNDS), vn);
		else
			snprintf(target, sizeof(target), "%+.1f ns vs ipip (%s)", d[0][i], vn);
		printf("  %-56s %7.1f net ns  %s\n", name, x[0][i], target);
		bench_record(SEC_NAT, name, x[0][i], "ns above floor", x[0][i] / f1, "%s", target);
		if (nb < 2)
			continue;
		old[i] = x[1][i];
		printf("  %-56s %7.1f net ns  this - old: %+.1f ns (old %s)\n", "  old build",
		       old[i], dold[i], bench_verdict_name(verdict[1][i]));
		bench_record(SEC_NAT, name, old[i], "ns above floor, old build", old[i] / f1,
			     "this - old: %+.1f ns (median of the rounds' differences)", dold[i]);
	}
	return measure_full(fx, floor_fd, b, nb, v6, x[0][F_NEW], f1);
}

/* Kernel memory per entry: the map's memlock with NAT_MEM_FLOWS flows, less empty. */
static void measure_memory(struct fixture *fx, const struct nat_build *b)
{
	int prog = dp_prog_fd(&fx->dp), fd = bpf_map__fd(fx->dp.skel->maps.nat);
	long long empty, full;
	struct pkt *p;
	__u32 v = 0, entries;
	double per;

	nat_clear(fx, b, 1);
	empty = bench_map_memlock(fd);
	(void)prog;
	p = new_flows(0, 1U << 20, NAT_MEM_FLOWS);
	if (!p || empty < 0)
		goto out;
	run(prog, fx->if0, p, NAT_MEM_FLOWS, NAT_MEM_FLOWS, &v);
	full = bench_map_memlock(fd);
	entries = nat_clear(fx, b, 1);
	if (!entries)
		goto out;
	per = (double)(full - empty) / entries;
	printf("  %-56s %7.0f bytes (%u entries: %.1f MiB; empty map %lld bytes)\n",
	       "memory per nat entry", per, entries, (full - empty) / 1048576.0, empty);
	bench_record(SEC_NAT, "kernel memory per nat entry (two per flow)", per, "bytes", NAN,
		     "memlock of %u entries less the empty map's (%lld bytes); -T 65536: %.1f MiB",
		     entries, empty, per * XLB_NAT_DEFAULT / 1048576.0);
out:
	free(p);
}

void bench_nat(struct fixture *fx, int floor_fd, const char *old_path)
{
	struct nat_build b[2] = {
		{ .prog = dp_prog_fd(&fx->dp), .nat = bpf_map__fd(fx->dp.skel->maps.nat),
		  .pools = bpf_map__fd(fx->dp.skel->maps.nat_pools) },
		{ .prog = -1, .nat = -1, .pools = -1 },
	};
	int nb = 1, err;

	/* The other build loaded once the nat VIPs exist: it copies their rings. */
	err = nat_configure(fx, b);
	if (!err && old_path) {
		b[1].prog = old_load(fx, old_path);
		err = b[1].prog < 0 ? b[1].prog : 0;
		b[1].nat = err ? err : old_map_fd(b[1].prog, "nat");
		b[1].pools = err ? err : old_map_fd(b[1].prog, "nat_pools");
		err = b[1].nat < 0 ? b[1].nat : b[1].pools < 0 ? b[1].pools : 0;
		nb = 2;
	}
	if (!err && nb > 1)
		err = nat_configure_pools(&b[1], 1);
	printf("\nFull NAT per packet: net ns above the floor, medians of %d rounds, interleaved\n",
	       NAT_ROUNDS);
	for (int v6 = 0; !err && v6 < 2; v6++)
		err = measure_family(fx, floor_fd, b, nb, v6);
	if (!err)
		measure_memory(fx, b);
	nat_clear(fx, b, nb);
	nat_flag(fx, false);
	for (int k = 1; k < nb; k++) {
		if (b[k].nat >= 0)
			close(b[k].nat);
		if (b[k].pools >= 0)
			close(b[k].pools);
	}
	if (err) {
		fprintf(stderr, "bench: nat figures not measured: %s\n", strerror(-err));
		bench_record(SEC_NAT, "not measured", NAN, "-", NAN, "%s", strerror(-err));
	}
}
