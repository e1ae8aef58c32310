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
 *   inserts). Issue 18's target: each direction within 20 ns of ipip. The
 *   differences to ipip are taken within each round, then their median: a
 *   neighbour that slows one round slows both sides of its difference.
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
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "fixture.h"
#include "pkt.h"
#include "xlb_hash.h"
#include "xlb.skel.h"

#define SEC_NAT		"nat (full NAT)"
#define NAT_ROUNDS	40
#define NAT_CALLS	5000	/* per round and figure */
#define NAT_NEW_CALLS	500	/* new flows per round: the map stays far from full */
#define NAT_MEM_FLOWS	10000
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
};

static int build(struct pkt *p, const char *src, __u16 sport, const char *dst, __u16 dport,
		 const char *smac)
{
	struct pkt_spec s = pkt_flow_spec(IPPROTO_TCP, src, sport, dst, dport, smac,
					  "\x02\x00\x00\x00\x00\xa0");

	s.payload_len = 64;
	p->len = (int)pkt_build(p->data, sizeof(p->data), &s);
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

/*
 * Every entry of the nat map out (the sweeper's job, between rounds): keys
 * first, then deletes, each walk step from the previous key; then the next
 * second, as the sweeper's tick writes it (the CPUs' copies of entries
 * last for the second they were taken in). Returns how many there were.
 */
static __u32 nat_clear(struct fixture *fx)
{
	struct xlb_config cfg = fx->dp.cfg;
	int fd = bpf_map__fd(fx->dp.skel->maps.nat);
	__u32 n = 0, cap = bpf_map__max_entries(fx->dp.skel->maps.nat);
	struct xlb_flow *keys = calloc(cap, sizeof(*keys));

	while (keys && n < cap && !bpf_map_get_next_key(fd, n ? &keys[n - 1] : NULL, &keys[n]))
		n++;
	for (__u32 i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &keys[i]);
	free(keys);
	cfg.now++;
	dp_config_set(&fx->dp, &cfg);
	return n;
}

/* Pools, prefilter bits for the pool addresses, the VIPs. */
static int nat_configure(struct fixture *fx)
{
	struct bpf_map *filter = fx->dp.skel->maps.filter;
	struct xlb_filter f;
	__u32 zero = 0, bit;
	__u8 family;
	int err = 0;

	for (size_t i = 0; !err && i < 2; i++) {
		struct xlb_nat_pool pool = { .port_lo = XLB_NAT_PORT_LO,
					     .port_hi = XLB_NAT_PORT_HI, .n_addrs = 1 };
		__u32 id = nat_vips[i].id;

		err = fx_vip_add(fx, &nat_vips[i]) ?: pkt_addr(&pool.addrs[0], &family, pool_addr[i]);
		if (!err)
			err = bpf_map__update_elem(fx->dp.skel->maps.nat_pools, &id, sizeof(id), &pool,
						   sizeof(pool), 0);
	}
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

enum { F_IPIP, F_IPIP_MIXED, F_TO_BACKEND, F_REPLY, F_NEW, F_COUNT };

static const char *const fig_name[F_COUNT] = {
	"tcp established, ipip, no nat VIP",
	"tcp established, ipip, nat VIPs configured",
	"tcp established, nat, client to backend",
	"tcp established, nat, backend reply to client",
	"tcp new flow, nat (port allocation, 2 entries)",
};

static const char *const verdict_names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT", "?" };

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One family's figures. 0, or -errno after saying why. */
static int measure_family(struct fixture *fx, int floor_fd, int v6)
{
	int prog = dp_prog_fd(&fx->dp), fd = bpf_map__fd(fx->dp.skel->maps.nat);
	double net[F_COUNT][NAT_ROUNDS], diff[F_COUNT][NAT_ROUNDS], fl[NAT_ROUNDS], x[F_COUNT];
	double d[F_COUNT], f1, f2;
	struct pkt ipip, fwd, reply, *fresh;
	__u32 verdict[F_COUNT] = { 0 }, v = ~0U;
	struct xlb_flow key;
	struct xlb_nat entry;
	char be[64], pool[64], target[128];

	/* The established flows: one packet each binds them. */
	if (nat_flag(fx, true) || build(&ipip, client[v6], 40000, ipip_vip[v6], 80,
					"\x02\x00\x00\x00\x00\xc1") ||
	    build(&fwd, client[v6], 40000, nat_vips[v6].addr, 80, "\x02\x00\x00\x00\x00\xc1"))
		return -EINVAL;
	run(prog, fx->if0, &ipip, 1, 2, &v);
	run(prog, fx->if0, &fwd, 1, 1, &v);
	key = pkt_flow(&(struct pkt_spec){ .src = client[v6], .dst = nat_vips[v6].addr,
					   .sport = 40000, .dport = 80, .proto = IPPROTO_TCP });
	if (v != XDP_TX || bpf_map_lookup_elem(fd, &key, &entry)) {
		fprintf(stderr, "bench: nat flow not established (verdict %u)\n", v);
		return -ENOENT;
	}
	inet_ntop(v6 ? AF_INET6 : AF_INET, &entry.dst, be, sizeof(be));
	inet_ntop(v6 ? AF_INET6 : AF_INET, &entry.src, pool, sizeof(pool));
	if (build(&reply, be, ntohs(entry.dport), pool, ntohs(entry.sport),
		  "\x02\x00\x00\x00\x00\x02"))
		return -EINVAL;

	for (int r = 0; r < NAT_ROUNDS; r++) {
		fresh = new_flows(v6, r * NAT_NEW_CALLS, NAT_NEW_CALLS);
		if (!fresh || nat_flag(fx, false))
			return -ENOMEM;
		f1 = run(floor_fd, fx->if0, &ipip, 1, NAT_CALLS, &v);
		x[F_IPIP] = run(prog, fx->if0, &ipip, 1, NAT_CALLS, &verdict[F_IPIP]);
		nat_flag(fx, true);
		f2 = run(floor_fd, fx->if0, &ipip, 1, NAT_CALLS, &v);
		x[F_IPIP_MIXED] = run(prog, fx->if0, &ipip, 1, NAT_CALLS, &verdict[F_IPIP_MIXED]);
		x[F_TO_BACKEND] = run(prog, fx->if0, &fwd, 1, NAT_CALLS, &verdict[F_TO_BACKEND]);
		x[F_REPLY] = run(prog, fx->if0, &reply, 1, NAT_CALLS, &verdict[F_REPLY]);
		x[F_NEW] = run(prog, fx->if0, fresh, NAT_NEW_CALLS, NAT_NEW_CALLS, &verdict[F_NEW]);
		free(fresh);
		/* The sweeper's part: the new flows go, the established two stay. */
		nat_clear(fx);
		run(prog, fx->if0, &fwd, 1, 1, &v);
		if (bpf_map_lookup_elem(fd, &key, &entry) || build(&reply, be, ntohs(entry.dport),
								   pool, ntohs(entry.sport),
								   "\x02\x00\x00\x00\x00\x02"))
			return -ENOENT;
		fl[r] = (f1 + f2) / 2;
		for (int i = 0; i < F_COUNT; i++) {
			net[i][r] = x[i] - fl[r];
			diff[i][r] = x[i] - x[F_IPIP];
		}
	}
	for (int i = 0; i < F_COUNT; i++) {
		x[i] = median(net[i], NAT_ROUNDS);
		d[i] = median(diff[i], NAT_ROUNDS);
	}
	f1 = median(fl, NAT_ROUNDS);
	for (int i = 0; i < F_COUNT; i++) {
		char name[96];
		bool ok = d[i] <= NAT_TARGET_NS;

		snprintf(name, sizeof(name), "ipv%d %s", v6 ? 6 : 4, fig_name[i]);
		if (i == F_TO_BACKEND || i == F_REPLY)
			snprintf(target, sizeof(target), "<= ipip + %d ns (%+.1f): %s (%s)",
				 NAT_TARGET_NS, d[i], bench_meets(ok),
				 verdict_names[verdict[i] < 5 ? verdict[i] : 5]);
		else
			snprintf(target, sizeof(target), "%+.1f ns vs ipip (%s)", d[i],
				 verdict_names[verdict[i] < 5 ? verdict[i] : 5]);
		printf("  %-56s %7.1f net ns  %s\n", name, x[i], target);
		bench_record(SEC_NAT, name, x[i], "ns above floor", x[i] / f1, "%s", target);
	}
	return 0;
}

/* Kernel memory per entry: the map's memlock with NAT_MEM_FLOWS flows, less empty. */
static void measure_memory(struct fixture *fx)
{
	int prog = dp_prog_fd(&fx->dp), fd = bpf_map__fd(fx->dp.skel->maps.nat);
	long long empty, full;
	struct pkt *p;
	__u32 v = 0, entries;
	double per;

	nat_clear(fx);
	empty = bench_map_memlock(fd);
	(void)prog;
	p = new_flows(0, 1U << 20, NAT_MEM_FLOWS);
	if (!p || empty < 0)
		goto out;
	run(prog, fx->if0, p, NAT_MEM_FLOWS, NAT_MEM_FLOWS, &v);
	full = bench_map_memlock(fd);
	entries = nat_clear(fx);
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

void bench_nat(struct fixture *fx, int floor_fd)
{
	int err = nat_configure(fx);

	printf("\nFull NAT per packet: net ns above the floor, medians of %d rounds, interleaved\n",
	       NAT_ROUNDS);
	for (int v6 = 0; !err && v6 < 2; v6++)
		err = measure_family(fx, floor_fd, v6);
	if (!err)
		measure_memory(fx);
	nat_clear(fx);
	nat_flag(fx, false);
	if (err) {
		fprintf(stderr, "bench: nat figures not measured: %s\n", strerror(-err));
		bench_record(SEC_NAT, "not measured", NAN, "-", NAN, "%s", strerror(-err));
	}
}
