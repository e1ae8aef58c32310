// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * GUE and IPv4-in-IPv6 through BPF_PROG_TEST_RUN: the balancer's output bytes
 * against frames built by tests/lib/pkt.c, the spread of GUE source ports
 * over flows, the MTU overhead, and the backend's decap program taking the
 * balancer's output back to the client's packet. Needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "decap.skel.h"
#include "fixture.h"
#include "pkt.h"
#include "check.h"
#include "xlb_hash.h"

#define CLIENT4 "192.0.2.10"
#define CLIENT6 "2001:db8::10"
#define MAC_CLIENT "\x02\x00\x00\x00\x00\xc1"
#define MAC_XLB0 "\x02\x00\x00\x00\x00\xa0"
#define BUF 4096
#define FLOWS 1000

static struct fixture fx;
/* The backends' decap programs: the default GUE port, and port 5555. */
static struct decap *decap_default, *decap_5555;

enum { V_GUE4 = 1, V_GUE6, V_4IN6, V_GUE_4IN6, V_MIXED, V_COUNT };

static struct fx_vip vips[V_COUNT] = {
	[V_GUE4] = { .addr = "10.20.0.1", .port = 80, .proto = IPPROTO_TCP,
		     .method = XLB_METHOD_GUE, .id = V_GUE4, .ring_size = 1021,
		     .backends = { { "10.0.0.2", 1 } }, .n = 1, .encap_port = 6080 },
	[V_GUE6] = { .addr = "fd20::1", .port = 53, .proto = IPPROTO_UDP,
		     .method = XLB_METHOD_GUE, .id = V_GUE6, .ring_size = 1021,
		     .backends = { { "fd00::3", 1 } }, .n = 1, .encap_port = 5555 },
	[V_4IN6] = { .addr = "10.20.0.2", .port = 80, .proto = IPPROTO_TCP,
		     .method = XLB_METHOD_IPIP, .id = V_4IN6, .ring_size = 1021,
		     .backends = { { "fd00::4", 1 } }, .n = 1 },
	[V_GUE_4IN6] = { .addr = "10.20.0.3", .port = 53, .proto = IPPROTO_UDP,
			 .method = XLB_METHOD_GUE, .id = V_GUE_4IN6, .ring_size = 1021,
			 .backends = { { "fd00::2", 1 } }, .n = 1, .encap_port = 6080 },
	/* One VIP, backends of both families, spread by weight like any others. */
	[V_MIXED] = { .addr = "10.20.0.4", .port = 80, .proto = IPPROTO_TCP,
		      .method = XLB_METHOD_IPIP, .id = V_MIXED, .ring_size = 1021,
		      .backends = { { "10.0.0.2", 1 }, { "fd00::2", 3 } }, .n = 2 },
};

/* ---- helpers ---------------------------------------------------------- */

static struct pkt_spec flow_spec(const struct fx_vip *v, const char *client, __u16 sport)
{
	struct pkt_spec s = {
		.family = strchr(v->addr, ':') ? XLB_AF_INET6 : XLB_AF_INET,
		.src = client,
		.dst = v->addr,
		.proto = v->proto,
		.sport = sport,
		.dport = v->port,
		.payload_len = 100,
		.tos = 0x28,
		.frag = PKT_IP_DF,
	};

	memcpy(s.smac, MAC_CLIENT, 6);
	memcpy(s.dmac, MAC_XLB0, 6);
	if (s.family == XLB_AF_INET6) {
		s.frag = 0;
		s.flow_label = 0xabcde;
	}
	return s;
}

static __u32 run(const __u8 *in, size_t len, __u8 *out, __u32 *out_len)
{
	__u32 verdict = ~0U;

	*out_len = BUF;
	assert_int_equal(fx_run(&fx, in, len, out, out_len, &verdict), 0);
	return verdict;
}

/*
 * The frame the balancer must send for `in` to backend `be` of v: the ports
 * and the flow label follow the rule of include/xlb_abi.h, applied to the
 * flow as the test knows it.
 */
static size_t want_frame(__u8 *want, const __u8 *in, size_t len, const struct fx_vip *v,
			 const struct pkt_spec *s, const char *be)
{
	struct xlb_flow f = pkt_flow(s);
	__u32 h = xlb_encap_hash(&f);
	struct pkt_encap_spec e = {
		.src = strchr(be, ':') ? "fd00::1" : "10.0.0.1",
		.dst = be,
		.flow_label = h >> 12,
	};
	size_t n;

	if (v->method == XLB_METHOD_GUE) {
		e.gue_sport = XLB_GUE_SPORT_MIN | h >> XLB_GUE_SPORT_SHIFT;
		e.gue_dport = v->encap_port;
	}
	memcpy(e.smac, MAC_XLB0, 6);
	memcpy(e.dmac, "\x02\x00\x00\x00\x00\x00", 6);
	e.dmac[5] = be[strlen(be) - 1] - '0';
	n = pkt_encap(want, BUF, in, len, &e);
	assert_true(n > 0);
	return n;
}

/* UDP source port of a GUE frame (untagged), host order. */
static __u16 outer_sport(const __u8 *out, __u32 len)
{
	size_t l3 = PKT_ETH_LEN, udp = l3 + (out[l3] >> 4 == 4 ? PKT_IPV4_LEN : PKT_IPV6_LEN);

	assert_true(len >= udp + PKT_UDP_LEN);
	return (__u16)(out[udp] << 8 | out[udp + 1]);
}

/* ---- encapsulation bytes ---------------------------------------------- */

static void check_encap_len(int vip_id, const char *client, __u16 sport, __u32 payload)
{
	const struct fx_vip *v = &vips[vip_id];
	struct pkt_spec s = flow_spec(v, client, sport);
	__u8 in[BUF], out[BUF], want[BUF];
	size_t len, wlen, l2 = PKT_ETH_LEN, hl;
	__u32 out_len;
	bool v4_outer;

	s.payload_len = payload;
	len = pkt_build(in, sizeof(in), &s);
	assert_true(len > 0);
	assert_int_equal(run(in, len, out, &out_len), XDP_TX);
	wlen = want_frame(want, in, len, v, &s, v->backends[0].addr);
	check_bytes(out, out_len, want, wlen, v->addr);

	/* Independent of the expected frame: the fields the receiver relies on. */
	v4_outer = out[l2] >> 4 == 4;
	hl = v4_outer ? PKT_IPV4_LEN : PKT_IPV6_LEN;
	if (v4_outer)
		assert_true(pkt_ipv4_csum_ok(out + l2));
	if (v->method == XLB_METHOD_GUE) {
		__u8 *udp = out + l2 + hl;

		assert_int_equal(v4_outer ? out[l2 + 9] : out[l2 + 6], IPPROTO_UDP);
		assert_int_equal(udp[2] << 8 | udp[3], v->encap_port);
		assert_int_equal(udp[4] << 8 | udp[5], len - PKT_ETH_LEN + PKT_UDP_LEN);
		assert_int_equal(udp[6] << 8 | udp[7], 0);
		assert_true((udp[0] << 8 | udp[1]) >= XLB_GUE_SPORT_MIN);
		/* GUE variant 1: the payload starts with the inner version nibble. */
		assert_int_equal(udp[PKT_UDP_LEN] >> 4, s.family == XLB_AF_INET ? 4 : 6);
		hl += PKT_UDP_LEN;
	} else {
		assert_int_equal(out[l2 + 6], s.family == XLB_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6);
	}
	assert_true(pkt_l4_csum_ok(out + l2 + hl, out_len - l2 - hl));
	assert_memory_equal(out + l2 + hl, in + PKT_ETH_LEN, len - PKT_ETH_LEN);
}

static void check_encap(int vip_id, const char *client, __u16 sport)
{
	check_encap_len(vip_id, client, sport, 100);
}

static void test_gue_ipv4(void **state)
{
	check_encap(V_GUE4, CLIENT4, 40001);
	check_encap(V_GUE4, "192.0.2.77", 1);
}

static void test_gue_ipv6(void **state)
{
	check_encap(V_GUE6, CLIENT6, 40002);
}

static void test_ipip_4in6(void **state)
{
	check_encap(V_4IN6, CLIENT4, 40003);
}

static void test_gue_4in6(void **state)
{
	check_encap(V_GUE_4IN6, CLIENT4, 40004);
	/* 28 bytes of IPv4 UDP (a minimum frame's padding trimmed): shorter than an IPv6 header. */
	check_encap_len(V_GUE_4IN6, CLIENT4, 40005, 0);
}

/* Both families behind one VIP: each flow goes where the ring says, in its backend's family. */
static void test_mixed_families(void **state)
{
	const struct fx_vip *v = &vips[V_MIXED];
	__u8 in[BUF], out[BUF], want[BUF];
	unsigned int to_v6 = 0;
	__u32 out_len, owner;

	for (__u16 sport = 1000; sport < 1200; sport++) {
		struct pkt_spec s = flow_spec(v, CLIENT4, sport);
		struct xlb_flow f = pkt_flow(&s);
		size_t len = pkt_build(in, sizeof(in), &s), wlen;
		const char *be;

		owner = fx_ring_owner(&fx, v, &f);
		be = owner == v->backends[0].id ? v->backends[0].addr : v->backends[1].addr;
		assert_int_equal(run(in, len, out, &out_len), XDP_TX);
		wlen = want_frame(want, in, len, v, &s, be);
		check_bytes(out, out_len, want, wlen, "mixed-family VIP");
		to_v6 += strchr(be, ':') != NULL;
	}
	/* Weights 1:3: about 150 of 200; a wide margin, the point is both families. */
	check(to_v6 > 100 && to_v6 < 190, "IPv6 backend (weight 3 of 4) took %u of 200 flows",
	      to_v6);
}

/* ---- source ports ----------------------------------------------------- */

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const __u16 *)a - (int)*(const __u16 *)b;
}

static void check_spread(int vip_id, const char *client_fmt)
{
	const struct fx_vip *v = &vips[vip_id];
	static __u16 ports[FLOWS];
	__u8 in[BUF], out[BUF];
	char client[64];
	size_t distinct = 1;
	__u32 out_len;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < FLOWS; i++) {
			struct pkt_spec s;
			size_t len;
			__u16 port;

			/* One client, many connections: only its source port changes. */
			snprintf(client, sizeof(client), client_fmt, 7);
			s = flow_spec(v, client, 20000 + i);
			len = pkt_build(in, sizeof(in), &s);
			assert_int_equal(run(in, len, out, &out_len), XDP_TX);
			port = outer_sport(out, out_len);
			check(port >= XLB_GUE_SPORT_MIN, "port %u below the range", port);
			if (pass == 0)
				ports[i] = port;
			else
				check(ports[i] == port, "flow %d: port %u, then %u", i, ports[i],
				      port);
		}
	}
	qsort(ports, FLOWS, sizeof(ports[0]), cmp_u16);
	for (int i = 1; i < FLOWS; i++)
		distinct += ports[i] != ports[i - 1];
	check(distinct >= 900, "%d flows of one client: %zu distinct source ports, want >= 900",
	      FLOWS, distinct);
}

static void test_sport_spread(void **state)
{
	check_spread(V_GUE4, "192.0.2.%d");
	check_spread(V_GUE6, "2001:db8::%d");
}

/* ---- MTU and too-big errors ------------------------------------------ */

/*
 * The error the balancer must answer a client's frame `in` with: from the
 * VIP to the client, back to the client's MAC, quoting the first 68 (IPv4)
 * or 128 (IPv6) bytes of its IP packet, the MTU that fits.
 */
static size_t want_too_big(__u8 *want, const __u8 *in, size_t len, const struct pkt_spec *c,
			   __u32 mtu)
{
	int v4 = c->family == XLB_AF_INET;
	struct pkt_spec e = {
		.family = c->family,
		.src = c->dst,
		.dst = c->src,
		.proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
		.icmp_type = v4 ? 3 : 2,
		.icmp_code = v4 ? 4 : 0,
		.icmp_mtu = mtu,
		.inner = in + PKT_ETH_LEN,
		.inner_len = v4 ? 68 : 128,
		.tos = v4 ? 0xc0 : 0,
	};
	size_t n;

	assert_true(len > PKT_ETH_LEN + e.inner_len);
	memcpy(e.smac, c->dmac, 6);
	memcpy(e.dmac, c->smac, 6);
	n = pkt_build(want, BUF, &e);
	assert_true(n > 0);
	return n;
}

/* xlb0's MTU is 1500: GUE adds 28 bytes over IPv4 and 48 over IPv6, IPIP 20 / 40. */
static const struct {
	int vip;
	const char *client;
	unsigned int fits;	/* largest inner L3 length that fits */
} mtu_cases[] = {
	{ V_GUE4, CLIENT4, 1500 - 28 },
	{ V_GUE6, CLIENT6, 1500 - 48 },
	{ V_4IN6, CLIENT4, 1500 - 40 },
	{ V_GUE_4IN6, CLIENT4, 1500 - 48 },
};

static struct pkt_spec sized(size_t i, unsigned int l3len)
{
	const struct fx_vip *v = &vips[mtu_cases[i].vip];
	struct pkt_spec s = flow_spec(v, mtu_cases[i].client, 7000 + i);
	unsigned int hdrs = (s.family == XLB_AF_INET ? PKT_IPV4_LEN : PKT_IPV6_LEN) +
			    (s.proto == IPPROTO_TCP ? PKT_TCP_LEN : PKT_UDP_LEN);

	s.payload_len = l3len - hdrs;
	return s;
}

static void test_too_big_answered(void **state)
{
	__u8 in[BUF], out[BUF], want[BUF];
	struct xlb_outcomes before, after;
	__u32 out_len;

	for (size_t i = 0; i < ARRAY_SIZE(mtu_cases); i++) {
		const struct fx_vip *v = &vips[mtu_cases[i].vip];
		struct pkt_spec s = sized(i, mtu_cases[i].fits);
		size_t len = pkt_build(in, sizeof(in), &s), wlen;

		check(run(in, len, out, &out_len) == XDP_TX && out_len == len + 1500 - mtu_cases[i].fits,
		      "%s: %u bytes fit and go out encapsulated", v->addr, mtu_cases[i].fits);
		s = sized(i, mtu_cases[i].fits + 1);
		len = pkt_build(in, sizeof(in), &s);
		assert_int_equal(dp_outcomes(&fx.dp, &before), 0);
		check(run(in, len, out, &out_len) == XDP_TX, "%s: %u bytes are answered", v->addr,
		      mtu_cases[i].fits + 1);
		assert_int_equal(dp_outcomes(&fx.dp, &after), 0);
		assert_int_equal(after.icmp_too_big_sent - before.icmp_too_big_sent, 1);
		assert_int_equal(after.tx - before.tx, 1);
		wlen = want_too_big(want, in, len, &s, mtu_cases[i].fits);
		check_bytes(out, out_len, want, wlen, "too-big error to the client");
		/* Independent of the expected frame: checksums as the client checks them. */
		if (s.family == XLB_AF_INET)
			assert_true(pkt_ipv4_csum_ok(out + PKT_ETH_LEN));
		assert_true(pkt_l4_csum_ok(out + PKT_ETH_LEN, out_len - PKT_ETH_LEN));
	}
}

/* IPv4 without DF: nothing to tell the client, XDP cannot fragment: dropped. */
static void test_too_big_df_clear(void **state)
{
	struct pkt_spec s = sized(0, mtu_cases[0].fits + 1);
	struct xlb_outcomes before, after;
	__u8 in[BUF], out[BUF];
	__u32 out_len;
	size_t len;

	s.frag = 0;
	len = pkt_build(in, sizeof(in), &s);
	assert_int_equal(dp_outcomes(&fx.dp, &before), 0);
	assert_int_equal(run(in, len, out, &out_len), XDP_DROP);
	assert_int_equal(dp_outcomes(&fx.dp, &after), 0);
	assert_int_equal(after.drop_too_big - before.drop_too_big, 1);
	assert_int_equal(after.icmp_too_big_sent, before.icmp_too_big_sent);
}

/*
 * At most 1000 errors a second per CPU, the rest dropped: 2500 in a few
 * milliseconds on one CPU span at most two one-second windows.
 */
static void test_too_big_budget(void **state)
{
	struct pkt_spec s = sized(1, mtu_cases[1].fits + 1);
	struct xlb_outcomes before, after;
	__u8 in[BUF], out[BUF];
	__u64 sent, dropped;
	cpu_set_t cpus, old;
	__u32 out_len;
	size_t len = pkt_build(in, sizeof(in), &s);

	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	assert_int_equal(sched_setaffinity(0, sizeof(cpus), &cpus), 0);
	assert_int_equal(dp_outcomes(&fx.dp, &before), 0);
	for (int i = 0; i < 2500; i++)
		run(in, len, out, &out_len);
	assert_int_equal(dp_outcomes(&fx.dp, &after), 0);
	sched_setaffinity(0, sizeof(old), &old);
	sent = after.icmp_too_big_sent - before.icmp_too_big_sent;
	dropped = after.drop_too_big - before.drop_too_big;
	check(sent + dropped == 2500, "every packet answered or dropped: %llu + %llu",
	      (unsigned long long)sent, (unsigned long long)dropped);
	check(sent >= 1 && sent <= 2000 && dropped >= 500,
	      "2500 too-big packets: %llu errors sent, %llu dropped", (unsigned long long)sent,
	      (unsigned long long)dropped);
}

/* ---- decap on the backend --------------------------------------------- */

static void decap_sum(struct decap *d, struct xlb_decap_stats *sum)
{
	int n = libbpf_num_possible_cpus();
	struct xlb_decap_stats *v = calloc(n, sizeof(*v));
	__u32 key = 0;

	assert_non_null(v);
	assert_int_equal(bpf_map__lookup_elem(d->maps.decap_stats, &key, sizeof(key), v,
					      n * sizeof(*v), 0), 0);
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < n; i++) {
		sum->decapped += v[i].decapped;
		sum->pass_not_encap += v[i].pass_not_encap;
	}
	free(v);
}

/* Run the decap program d; the verdict must be XDP_PASS. */
static void decap_run(struct decap *d, const __u8 *in, size_t len, __u8 *out, __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = BUF, .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(d->progs.xlb_decap), &opts), 0);
	assert_int_equal(opts.retval, XDP_PASS);
	*out_len = opts.data_size_out;
}

/*
 * The balancer's frame through the backend's decap: the client's packet
 * again, with the balancer's MACs. Through a decap on another port: untouched.
 */
static void check_round_trip(int vip_id, const char *client, struct decap *d, bool strips)
{
	const struct fx_vip *v = &vips[vip_id];
	struct pkt_spec s = flow_spec(v, client, 5151);
	__u8 in[BUF], mid[BUF], out[BUF], want[BUF];
	struct xlb_decap_stats before, after;
	size_t len = pkt_build(in, sizeof(in), &s), wlen;
	__u32 mid_len, out_len;

	assert_int_equal(run(in, len, mid, &mid_len), XDP_TX);
	decap_sum(d, &before);
	decap_run(d, mid, mid_len, out, &out_len);
	decap_sum(d, &after);
	if (strips) {
		memcpy(s.dmac, mid, 6);
		memcpy(s.smac, mid + 6, 6);
		wlen = pkt_build(want, sizeof(want), &s);
		check_bytes(out, out_len, want, wlen, "decapsulated");
		assert_int_equal(after.decapped - before.decapped, 1);
	} else {
		check_bytes(out, out_len, mid, mid_len, "another port: untouched");
		assert_int_equal(after.pass_not_encap - before.pass_not_encap, 1);
	}
}

static void test_decap_round_trip(void **state)
{
	check_round_trip(V_GUE4, CLIENT4, decap_default, true);
	check_round_trip(V_GUE6, CLIENT6, decap_5555, true);
	check_round_trip(V_4IN6, CLIENT4, decap_default, true);
	check_round_trip(V_GUE_4IN6, CLIENT4, decap_default, true);
	/* Ports that are not the decap's: ordinary UDP to the host. */
	check_round_trip(V_GUE6, CLIENT6, decap_default, false);
	check_round_trip(V_GUE4, CLIENT4, decap_5555, false);
}

/* UDP to the GUE port whose payload is not an IP header (GUE variant 0): left to the kernel. */
static void test_decap_gue_variant0(void **state)
{
	struct pkt_spec s = {
		.family = XLB_AF_INET, .src = "10.0.0.1", .dst = "10.0.0.2", .proto = IPPROTO_UDP,
		.sport = 40000, .dport = 6080, .payload_len = 64,
	};
	static const __u8 gue_hdr[4] = { 0x00, 0x04, 0x00, 0x00 };	/* variant 0, proto 4 */
	struct xlb_decap_stats before, after;
	__u8 in[BUF], out[BUF];
	__u32 out_len;
	size_t len;

	s.inner = gue_hdr;
	s.inner_len = sizeof(gue_hdr);
	len = pkt_build(in, sizeof(in), &s);
	decap_sum(decap_default, &before);
	decap_run(decap_default, in, len, out, &out_len);
	decap_sum(decap_default, &after);
	check_bytes(out, out_len, in, len, "GUE variant 0: untouched");
	assert_int_equal(after.pass_not_encap - before.pass_not_encap, 1);
}

/* ---- setup ------------------------------------------------------------ */

static struct decap *decap_load(__u16 port)
{
	static const char *const local[] = { "10.0.0.2", "fd00::2", "fd00::3", "fd00::4" };
	struct decap *d = decap__open();
	__u32 one = 1;

	if (!d)
		return NULL;
	d->rodata->gue_port = htons(port);
	if (decap__load(d))
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(local); i++) {
		struct xlb_vip_addr_key key = { 0 };

		if (pkt_addr(&key.addr, &key.family, local[i]) ||
		    bpf_map__update_elem(d->maps.decap_addrs, &key, sizeof(key), &one, sizeof(one),
					 BPF_NOEXIST))
			goto fail;
	}
	return d;
fail:
	decap__destroy(d);
	return NULL;
}

static int group_setup(void **state)
{
	if (fx_setup_vips(&fx, vips + 1, V_COUNT - 1))
		return -1;
	decap_default = decap_load(XLB_GUE_PORT_DEFAULT);
	decap_5555 = decap_load(5555);
	if (!decap_default || !decap_5555) {
		fprintf(stderr, "loading the decap program failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	decap__destroy(decap_default);
	decap__destroy(decap_5555);
	fx_teardown(&fx);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gue_ipv4),
		cmocka_unit_test(test_gue_ipv6),
		cmocka_unit_test(test_ipip_4in6),
		cmocka_unit_test(test_gue_4in6),
		cmocka_unit_test(test_mixed_families),
		cmocka_unit_test(test_sport_spread),
		cmocka_unit_test(test_too_big_answered),
		cmocka_unit_test(test_too_big_df_clear),
		cmocka_unit_test(test_too_big_budget),
		cmocka_unit_test(test_decap_round_trip),
		cmocka_unit_test(test_decap_gue_variant0),
	};

	return cmocka_run_group_tests_name("GUE and IPv4-in-IPv6", tests, group_setup,
					   group_teardown);
}
