// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The connection table under two CPUs at once (bpf/conns.h): flows that all
 * fall into one set of 8 ways, twice as many as it holds, sent from both
 * CPUs so that binds keep replacing ways while the other CPU reads them.
 * The ring never changes, so every packet of a flow belongs on the ring's
 * backend for it: an entry read half-written (one flow's key with another's
 * backend) would send it elsewhere, and the test counts every such packet.
 * Counters must add up exactly all the same.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <cmocka.h>
#include "fixture.h"
#include "pkt.h"
#include "xlb_hash.h"

#define FLOWS		(2 * XLB_CONN_WAYS)
#define ROUNDS		20000	/* per CPU, each a packet of every flow */
#define BUF		512

static struct fixture fx;
static struct fx_vip vip = {
	"10.40.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, 1,
	{ { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3,
};

struct flow {
	__u8 pkt[BUF];
	size_t len;
	__u32 owner;		/* the ring's backend id */
};

static struct flow flows[FLOWS];

static struct pkt_spec spec(const char *src, __u16 sport)
{
	struct pkt_spec s = {
		.family = XLB_AF_INET,
		.src = src,
		.dst = vip.addr,
		.proto = IPPROTO_TCP,
		.sport = sport,
		.dport = vip.port,
		.tcp_flags = PKT_TCP_ACK,
		.payload_len = 16,
	};

	memcpy(s.smac, "\x02\x00\x00\x00\x00\xc1", 6);
	memcpy(s.dmac, "\x02\x00\x00\x00\x00\xa0", 6);
	return s;
}

/* FLOWS flows whose entries all belong in one set. */
static int setup(void **state)
{
	__u32 set = 0, n = 0;
	char src[32];

	if (fx_setup_vips(&fx, &vip, 1))
		return -1;
	for (__u32 i = 0; i < 254 * 64512 && n < FLOWS; i++) {
		struct pkt_spec s;
		struct xlb_flow f;
		__u32 h;

		snprintf(src, sizeof(src), "192.0.2.%u", 1 + i / 64512);
		s = spec(src, 1024 + i % 64512);
		f = pkt_flow(&s);
		h = xlb_conn_set_of(xlb_conn_hash(&f), fx.dp.conn_sets);

		if (!n)
			set = h;
		if (h != set)
			continue;
		flows[n].len = pkt_build(flows[n].pkt, BUF, &s);
		flows[n].owner = fx_ring_owner(&fx, &vip, &f);
		n++;
	}
	return n == FLOWS ? 0 : -1;
}

static int teardown(void **state)
{
	fx_teardown(&fx);
	return 0;
}

struct racer {
	int cpu;
	pthread_barrier_t *start;
	unsigned long sent, wrong, failed;
};

/* BPF_PROG_TEST_RUN runs the program on the calling CPU. */
static void *race(void *arg)
{
	struct racer *r = arg;
	__u32 out_len, verdict;
	__u8 out[BUF];
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(r->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		r->failed = 1;
		return NULL;
	}
	pthread_barrier_wait(r->start);
	for (unsigned int i = 0; i < ROUNDS; i++) {
		/* The CPUs go through the flows in opposite orders. */
		struct flow *f = &flows[r->cpu ? FLOWS - 1 - i % FLOWS : i % FLOWS];

		out_len = BUF;
		if (fx_run(&fx, f->pkt, f->len, out, &out_len, &verdict) || verdict != XDP_TX) {
			r->failed++;
			continue;
		}
		r->sent++;
		r->wrong += fx_frame_backend(&vip, out, out_len) != f->owner;
	}
	return NULL;
}

static void test_no_torn_entry(void **state)
{
	struct xlb_vip_stats st;
	pthread_barrier_t start;
	struct racer r[2];
	pthread_t t[2];

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		print_message("one CPU online: nothing to race\n");
		skip();
	}
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ .cpu = i, .start = &start };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);

	assert_int_equal(r[0].failed + r[1].failed, 0);
	assert_int_equal(r[0].wrong + r[1].wrong, 0);
	/* Both paths ran: binds (new flows) and hits, and the counters add up. */
	assert_int_equal(dp_vip_stats(&fx.dp, vip.id, &st), 0);
	assert_int_equal(st.packets, r[0].sent + r[1].sent);
	print_message("%llu packets, %llu bound a flow\n", (unsigned long long)st.packets,
		      (unsigned long long)st.new_flows);
	assert_true(st.new_flows > FLOWS && st.new_flows < st.packets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_torn_entry),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
