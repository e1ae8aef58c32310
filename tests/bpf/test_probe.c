/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The health probe program (bpf/probe.bpf.c) through BPF_PROG_TEST_RUN: a
 * table of probe packets with their mark, the verdict and the exact output
 * bytes, then the counters against the runs. Needs root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cmocka.h>
#include "check.h"

#include "probe.skel.h"
#include "pkt.h"
#include "xlb_probe.h"

#define BUF		2048
#define TCX_NEXT	0xffffffffU	/* -1: the next program, or the stack */
#define TCX_DROP	2
#define TC_REDIRECT	7

/* The balancer's source, the VIP, and the backends the targets name. */
#define LB4		"192.0.2.1"
#define LB6		"2001:db8::1"
#define VIP4		"203.0.113.10"
#define VIP6		"2001:db8:f::10"
#define BE4		"198.51.100.20"
#define BE6		"2001:db8:b::20"

enum { ID_IPIP4 = 5, ID_IPIP6, ID_L2_4, ID_L2_6, ID_NONE, ID_MAX = XLB_PROBE_ID_MASK };

static struct probe *skel;

static struct pkt_spec probe_syn(__u8 family)
{
	struct pkt_spec s = {
		.family = family,
		.src = family == XLB_AF_INET ? LB4 : LB6,
		.dst = family == XLB_AF_INET ? VIP4 : VIP6,
		.proto = IPPROTO_TCP,
		.sport = 40000,
		.dport = 80,
		.tcp_flags = PKT_TCP_SYN,
		.tos = 0x10,
		.flow_label = family == XLB_AF_INET6 ? 0x54321 : 0,
		.frag = family == XLB_AF_INET ? PKT_IP_DF : 0,
		.smac = {0x02, 0, 0, 0, 0, 0xb1},
		.dmac = {0x02, 0, 0, 0, 0, 0x9e},	/* the probe route's gateway: ourselves */
	};

	return s;
}

struct probe_case {
	const char *desc;
	__u8 family;
	__u32 mark;
	__u32 verdict;
	const char *encap_to;	/* the backend the output is encapsulated towards; NULL: unchanged */
	__u64 sent, no_target, failed;	/* what the run adds to each counter */
};

static const struct probe_case cases[] = {
	{ "an unmarked packet goes on untouched", XLB_AF_INET, 0, TCX_NEXT },
	{ "another tool's mark goes on untouched", XLB_AF_INET6, 0x1234, TCX_NEXT },
	{ "a mark with the probe bits elsewhere goes on", XLB_AF_INET, 0x00580005, TCX_NEXT },
	{ "ipip, IPv4: outer header towards the backend", XLB_AF_INET,
	  XLB_PROBE_MARK | ID_IPIP4, TC_REDIRECT, BE4, .sent = 1 },
	{ "ipip, IPv6: outer header towards the backend", XLB_AF_INET6,
	  XLB_PROBE_MARK | ID_IPIP6, TC_REDIRECT, BE6, .sent = 1 },
	{ "l2, IPv4: the packet as it is, the backend its next hop", XLB_AF_INET,
	  XLB_PROBE_MARK | ID_L2_4, TC_REDIRECT, NULL, .sent = 1 },
	{ "l2, IPv6", XLB_AF_INET6, XLB_PROBE_MARK | ID_L2_6, TC_REDIRECT, NULL, .sent = 1 },
	{ "a probe of an id without a target is dropped", XLB_AF_INET,
	  XLB_PROBE_MARK | ID_NONE, TCX_DROP, .no_target = 1 },
	{ "an id past the table is dropped", XLB_AF_INET, XLB_PROBE_MARK | ID_MAX, TCX_DROP,
	  .no_target = 1 },
	{ "an IPv6 packet for an IPv4 target is dropped", XLB_AF_INET6,
	  XLB_PROBE_MARK | ID_IPIP4, TCX_DROP, .failed = 1 },
};

static void stats_sum(struct xlb_probe_stats *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xlb_probe_stats *per = calloc(ncpu, sizeof(*per));
	__u32 zero = 0;

	assert_non_null(per);
	assert_int_equal(bpf_map__lookup_elem(skel->maps.probe_stats, &zero, sizeof(zero), per,
					      ncpu * sizeof(*per), 0), 0);
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < ncpu; i++) {
		sum->sent += per[i].sent;
		sum->no_target += per[i].no_target;
		sum->failed += per[i].failed;
	}
	free(per);
}

static void target(__u32 id, const char *addr, __u8 method)
{
	struct xlb_probe_target t = { .method = method };

	assert_int_equal(pkt_addr(&t.addr, &t.family, addr), 0);
	assert_int_equal(bpf_map__update_elem(skel->maps.probe_targets, &id, sizeof(id), &t,
					      sizeof(t), 0), 0);
}

static int setup(void **state)
{
	skel = probe__open_and_load();
	if (!skel)
		return -1;
	target(ID_IPIP4, BE4, XLB_METHOD_IPIP);
	target(ID_IPIP6, BE6, XLB_METHOD_IPIP);
	target(ID_L2_4, BE4, XLB_METHOD_L2);
	target(ID_L2_6, BE6, XLB_METHOD_L2);
	return 0;
}

static int teardown(void **state)
{
	probe__destroy(skel);
	return 0;
}

static void test_table(void **state)
{
	static __u8 in[BUF], out[BUF], want[BUF];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct probe_case *c = &cases[i];
		struct pkt_spec s = probe_syn(c->family);
		struct __sk_buff ctx = { .mark = c->mark }, ctx_out = { 0 };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_out = out,
			    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
			    .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out), .repeat = 1);
		struct xlb_probe_stats before, after;
		size_t in_len = pkt_build(in, sizeof(in), &s), want_len = in_len;

		assert_true(in_len > 0);
		opts.data_size_in = in_len;
		memcpy(want, in, in_len);
		if (c->encap_to) {
			struct pkt_encap_spec e = { .src = s.src, .dst = c->encap_to };

			memcpy(e.smac, s.smac, 6);
			memcpy(e.dmac, s.dmac, 6);
			want_len = pkt_encap(want, sizeof(want), in, in_len, &e);
			assert_true(want_len > 0);
		}
		stats_sum(&before);
		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.probe_egress),
							&opts), 0);
		stats_sum(&after);
		check(opts.retval == c->verdict, "%s: verdict %d, want %d", c->desc,
		      (int)opts.retval, (int)c->verdict);
		/* Cleared, or the kernel's route lookup for the backend would take the probe route. */
		check(ctx_out.mark == (c->sent || c->failed ? 0 : c->mark),
		      "%s: mark 0x%x after the run", c->desc, ctx_out.mark);
		if (c->verdict != TCX_DROP) {
			if (opts.data_size_out != want_len || memcmp(out, want, want_len))
				pkt_hexdump_diff(out, opts.data_size_out, want, want_len);
			check(opts.data_size_out == want_len && !memcmp(out, want, want_len),
			      "%s: output bytes", c->desc);
		}
		check(after.sent - before.sent == c->sent &&
			      after.no_target - before.no_target == c->no_target &&
			      after.failed - before.failed == c->failed,
		      "%s: counters moved by %llu/%llu/%llu", c->desc,
		      (unsigned long long)(after.sent - before.sent),
		      (unsigned long long)(after.no_target - before.no_target),
		      (unsigned long long)(after.failed - before.failed));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
