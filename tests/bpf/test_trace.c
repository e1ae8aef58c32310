// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* sched_setaffinity */
/*
 * The data plane's side of `xlbctl trace` (bpf/trace.h), through the real program: an event
 * per traced packet with its outcome, VIP, backend and both copies of the packet, from the
 * traced build that dp_trace_begin() loads; nothing while no trace runs or the filter says no;
 * the per-CPU budget counts what it holds back; and the program that runs untraced has no trace
 * hook at all.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xlb_trace.h"
#include "xlb.skel.h"
#include "xlb_trace.skel.h"
#include "fixture.h"
#include "pkt.h"
#include "check.h"

#define CLIENT4 "192.0.2.10"
#define BUF 4096

static struct fixture fx;
static struct ring_buffer *rb;
static struct xlb_trace_event got[8];
static int n_got;

static struct fx_vip vips[] = {
	{ "10.10.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, 1,
	  { { "10.0.0.2", 1 }, { "10.0.0.3", 1 } }, 2 },
};

static int on_event(void *ctx, void *data, size_t size)
{
	assert_int_equal(size, sizeof(got[0]));
	if (n_got < (int)(sizeof(got) / sizeof(got[0])))
		memcpy(&got[n_got++], data, size);
	return 0;
}

static void trace_set(__u32 on, const char *from, __u32 budget)
{
	struct xlb_trace_filter f = { .budget = budget };
	__u32 zero = 0;

	if (from) {
		f.family = XLB_AF_INET;
		f.src_len = 32;
		inet_pton(AF_INET, from, &f.src.v4);
	}
	assert_int_equal(bpf_map__update_elem(fx.dp.skel->maps.trace_filter, &zero, sizeof(zero), &f,
					      sizeof(f), 0), 0);
	/* As xlbd does: the filter first, then the traced build in place of the program. */
	if (on && !fx.dp.traced)
		assert_int_equal(dp_trace_begin(&fx.dp), 0);
	else if (!on)
		dp_trace_end(&fx.dp);
	assert_int_equal(dp_prog_fd(&fx.dp), bpf_program__fd(on ? fx.dp.traced->progs.xlb_lb_traced :
							       fx.dp.prog->progs.xlb_lb));
}

/* One packet of the flow from sport; its verdict, the input and output in in/out. */
static __u32 send_one(__u16 sport, __u8 *in, size_t *in_len, __u8 *out, __u32 *out_len)
{
	struct pkt_spec s = {
		.family = XLB_AF_INET, .src = CLIENT4, .dst = "10.10.0.1", .proto = IPPROTO_TCP,
		.sport = sport, .dport = 80, .payload_len = 200,
	};
	__u32 verdict = ~0U;

	memcpy(s.smac, "\x02\x00\x00\x00\x00\xc1", 6);
	memcpy(s.dmac, fx.mac0, 6);
	*in_len = pkt_build(in, BUF, &s);
	*out_len = BUF;
	assert_int_equal(fx_run(&fx, in, *in_len, out, out_len, &verdict), 0);
	return verdict;
}

static void drain(void)
{
	n_got = 0;
	assert_true(ring_buffer__consume(rb) >= 0);
}

static void test_event_fields(void **state)
{
	__u8 in[BUF], out[BUF];
	size_t in_len;
	__u32 out_len;

	trace_set(1, NULL, 1000);
	drain();
	assert_int_equal(send_one(41000, in, &in_len, out, &out_len), XDP_TX);
	assert_int_equal(send_one(41000, in, &in_len, out, &out_len), XDP_TX);
	trace_set(0, NULL, 0);
	drain();
	assert_int_equal(n_got, 2);
	for (int i = 0; i < 2; i++) {
		struct xlb_trace_event *e = &got[i];

		check(e->verdict == XDP_TX, "event %d: verdict TX, got %u", i, e->verdict);
		check(e->outcome == offsetof(struct xlb_outcomes, tx) / 8,
		      "event %d: outcome tx, got %u", i, e->outcome);
		check(e->vip_id == 1 && e->flags & XLB_TRACE_VIP, "event %d: VIP 1", i);
		check(e->flags & XLB_TRACE_BACKEND && (e->backend_id == 101 || e->backend_id == 102),
		      "event %d: a backend of the VIP, got %u", i, e->backend_id);
		check(e->rx_len == in_len && !memcmp(e->rx, in, XLB_TRACE_SNAP),
		      "event %d: the packet as received", i);
		check(e->tx_len == out_len && !memcmp(e->tx, out, XLB_TRACE_SNAP),
		      "event %d: the packet as sent", i);
		check(e->ifindex == (__u32)fx.if0, "event %d: ifindex", i);
	}
	check((got[0].flags & (XLB_TRACE_NEW_FLOW | XLB_TRACE_RING)) ==
	      (XLB_TRACE_NEW_FLOW | XLB_TRACE_RING), "the first packet is a new flow, by the ring");
	check(!(got[1].flags & (XLB_TRACE_NEW_FLOW | XLB_TRACE_RING)),
	      "the second is a connection-table hit");
	check(got[0].backend_id == got[1].backend_id, "both to one backend");
}

static void test_off_and_filtered(void **state)
{
	__u8 in[BUF], out[BUF];
	size_t in_len;
	__u32 out_len;

	drain();
	trace_set(0, NULL, 1000);
	send_one(41001, in, &in_len, out, &out_len);
	drain();
	check(n_got == 0, "off: no event, got %d", n_got);
	trace_set(1, "198.51.100.1", 1000);
	send_one(41002, in, &in_len, out, &out_len);
	drain();
	check(n_got == 0, "another source: no event, got %d", n_got);
	trace_set(1, CLIENT4, 1000);
	send_one(41003, in, &in_len, out, &out_len);
	trace_set(0, NULL, 0);
	drain();
	check(n_got == 1, "the filter's source: one event, got %d", n_got);
}

static void test_budget(void **state)
{
	struct xlb_trace_lost before, after;
	cpu_set_t cpus;
	__u8 in[BUF], out[BUF];
	size_t in_len;
	__u32 out_len;

	assert_int_equal(dp_trace_lost(&fx.dp, &before), 0);
	drain();
	/* The budget is per CPU: stay on one. The earlier tests' events count in its window. */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	assert_int_equal(sched_setaffinity(0, sizeof(cpus), &cpus), 0);
	usleep(1100000);
	trace_set(1, NULL, 1);
	for (int i = 0; i < 3; i++)
		send_one(41010, in, &in_len, out, &out_len);
	trace_set(0, NULL, 0);
	drain();
	assert_int_equal(dp_trace_lost(&fx.dp, &after), 0);
	/* All three within a second (a new window may start between them: 1 or 2 sent). */
	check(n_got >= 1 && n_got <= 2, "budget 1: %d events", n_got);
	check(after.budget - before.budget == 3 - (__u64)n_got, "held back: %llu, sent %d",
	      (unsigned long long)(after.budget - before.budget), n_got);
}

/* Whether the program prog_fd uses the map map_fd. */
static bool prog_uses_map(int prog_fd, int map_fd)
{
	struct bpf_prog_info info = {};
	struct bpf_map_info mi = {};
	__u32 ids[64], len = sizeof(info), mlen = sizeof(mi);

	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	assert_int_equal(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0);
	assert_true(info.nr_map_ids <= sizeof(ids) / sizeof(ids[0]));
	assert_int_equal(bpf_obj_get_info_by_fd(map_fd, &mi, &mlen), 0);
	for (__u32 i = 0; i < info.nr_map_ids; i++)
		if (ids[i] == mi.id)
			return true;
	return false;
}

/*
 * The untraced program has no hook: it touches none of the trace maps (the
 * traced build, loaded on the same maps, does), and a packet it handles
 * while the filter takes everything gives no event.
 */
static void test_untraced_has_no_hook(void **state)
{
	struct bpf_map *maps[] = {
		fx.dp.skel->maps.trace_filter, fx.dp.skel->maps.trace_state,
		fx.dp.skel->maps.trace_events,
	};
	int plain = bpf_program__fd(fx.dp.prog->progs.xlb_lb);
	__u8 in[BUF], out[BUF];
	size_t in_len;
	__u32 out_len;

	trace_set(1, NULL, 1000);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		check(!prog_uses_map(plain, bpf_map__fd(maps[i])), "xlb_lb uses %s",
		      bpf_map__name(maps[i]));
		check(prog_uses_map(dp_prog_fd(&fx.dp), bpf_map__fd(maps[i])),
		      "xlb_lb_traced does not use %s", bpf_map__name(maps[i]));
	}
	drain();
	send_one(41020, in, &in_len, out, &out_len);
	drain();
	check(n_got == 1, "the traced build: one event, got %d", n_got);
	/* The same packet through the untraced program, the traced one still loaded. */
	struct xdp_md ctx = { .data_end = in_len, .ingress_ifindex = fx.if0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len,
		    .data_out = out, .data_size_out = BUF, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(plain, &opts), 0);
	check(opts.retval == XDP_TX, "untraced: TX, got %u", opts.retval);
	trace_set(0, NULL, 0);
	drain();
	check(n_got == 0, "the untraced program: no event, got %d", n_got);
}

static int group_setup(void **state)
{
	if (fx_setup_vips(&fx, vips, 1))
		return -1;
	rb = ring_buffer__new(bpf_map__fd(fx.dp.skel->maps.trace_events), on_event, NULL, NULL);
	return rb ? 0 : -1;
}

static int group_teardown(void **state)
{
	ring_buffer__free(rb);
	fx_teardown(&fx);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_fields),
		cmocka_unit_test(test_off_and_filtered),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_untraced_has_no_hook),
	};

	return cmocka_run_group_tests_name("xlb trace", tests, group_setup, group_teardown);
}
