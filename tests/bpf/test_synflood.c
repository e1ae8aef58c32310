// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The SYN flood guarantee (issue 13): 10,000 established flows, then bare
 * SYNs from 1,048,576 spoofed sources while a backend joins the VIP (its
 * ring changes under the flood); afterwards every one of the 10,000 flows is
 * still on its original backend. Crafted frames through BPF_PROG_TEST_RUN.
 *
 * The connection table holds far fewer than a million entries, so a data
 * plane that inserted an entry per SYN would evict every established flow,
 * and the ring change would then move about a quarter of them: the test
 * checks that such flows exist.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <cmocka.h>
#include "fixture.h"
#include "pkt.h"

#define FLOWS		10000
#define FLOOD		(1U << 20)
#define CLIENTS		0xac100000U	/* 172.16.0.0: one source per established flow */
#define SPOOFED		0x0a800000U	/* 10.128.0.0: the flood's sources */
#define BUF		512

static struct fixture fx;
static struct fx_vip vip = {
	"10.30.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, 1,
	{ { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3,
};

static int setup(void **state)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		return -1;
	return fx_setup_vips(&fx, &vip, 1);
}

static int teardown(void **state)
{
	fx_teardown(&fx);
	return 0;
}

/* A frame from `src` (host order) to the VIP with TCP `flags`. */
static size_t frame(__u8 *buf, __u32 src, __u8 flags)
{
	struct in_addr a = { .s_addr = htonl(src) };
	char text[INET_ADDRSTRLEN];
	struct pkt_spec s = {
		.family = XLB_AF_INET,
		.src = inet_ntop(AF_INET, &a, text, sizeof(text)),
		.dst = vip.addr,
		.proto = IPPROTO_TCP,
		.sport = 40000,
		.dport = vip.port,
		.tcp_flags = flags,
		.payload_len = 16,
	};

	memcpy(s.smac, "\x02\x00\x00\x00\x00\xc1", 6);
	memcpy(s.dmac, "\x02\x00\x00\x00\x00\xa0", 6);
	return pkt_build(buf, BUF, &s);
}

static struct xlb_flow flow_of(__u32 src)
{
	struct xlb_flow f = { .family = XLB_AF_INET, .proto = IPPROTO_TCP };

	f.src.v4 = htonl(src);
	inet_pton(AF_INET, vip.addr, &f.dst.v4);
	f.sport = htons(40000);
	f.dport = htons(vip.port);
	return f;
}

static __u32 send_ack(__u32 src)
{
	__u8 in[BUF], out[BUF];
	size_t len = frame(in, src, PKT_TCP_ACK);
	__u32 out_len, verdict;

	assert_int_equal(fx_run(&fx, in, len, out, &out_len, &verdict), 0);
	assert_true(verdict == XDP_TX || verdict == XDP_REDIRECT);
	return fx_frame_backend(&vip, out, out_len);
}

static void test_syn_flood_keeps_flows(void **state)
{
	static __u32 owner[FLOWS];
	__u8 pkt[BUF], out[BUF], *iph = pkt + PKT_ETH_LEN;
	size_t len = frame(pkt, SPOOFED, PKT_TCP_SYN);
	__u32 out_len, verdict, forwarded = 0, moved = 0;
	struct xlb_conn conn;
	__u16 sum;

	/* A table this size cannot hold the flood: inserting SYNs would evict. */
	assert_true(dp_conn_max(&fx.dp) < FLOOD);

	for (__u32 i = 0; i < FLOWS; i++) {
		struct xlb_flow f = flow_of(CLIENTS + i);

		owner[i] = send_ack(CLIENTS + i);
		assert_int_not_equal(owner[i], 0);
		assert_int_equal(dp_conn_lookup(&fx.dp, &f, &conn), 0);
		assert_int_equal(conn.backend_id, owner[i]);
	}

	for (__u32 i = 0; i < FLOOD; i++) {
		__be32 src = htonl(SPOOFED + i);

		if (i == FLOOD / 2) {
			/* Halfway: a fourth backend (on xlb2) joins, the ring changes. */
			vip.backends[vip.n++] = (struct fx_backend){ "10.1.0.2", 1 };
			assert_int_equal(fx_vip_add(&fx, &vip), 0);
		}
		/* Only the source and the header checksum change. */
		memcpy(iph + 12, &src, 4);
		memset(iph + 10, 0, 2);
		sum = htons(pkt_csum(iph, PKT_IPV4_LEN));
		memcpy(iph + 10, &sum, 2);
		assert_int_equal(fx_run(&fx, pkt, len, out, &out_len, &verdict), 0);
		forwarded += verdict == XDP_TX || verdict == XDP_REDIRECT;
	}
	/* The SYNs themselves were forwarded, not dropped. */
	assert_int_equal(forwarded, FLOOD);

	for (__u32 i = 0; i < FLOWS; i++) {
		struct xlb_flow f = flow_of(CLIENTS + i);

		moved += fx_ring_owner(&fx, &vip, &f) != owner[i];
		if (send_ack(CLIENTS + i) != owner[i])
			fail_msg("flow %u left its backend %u after the flood", i, owner[i]);
	}
	/* The ring change would have moved these, had their entries gone. */
	printf("flows the new ring gives another backend: %u of %u\n", moved, FLOWS);
	assert_true(moved > FLOWS / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syn_flood_keeps_flows),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
