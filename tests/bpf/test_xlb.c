// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The balancer program through BPF_PROG_TEST_RUN: crafted frames in,
 * verdicts and output bytes checked against the frame the data plane must
 * emit (built independently by tests/lib/pkt.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xlb.skel.h"
#include "decap.skel.h"
#include "fixture.h"
#include "pkt.h"
#include "check.h"
#include "xlb_hash.h"

#define CLIENT4 "192.0.2.10"
#define CLIENT6 "2001:db8::10"
#define MAC_CLIENT "\x02\x00\x00\x00\x00\xc1"
#define MAC_XLB0 "\x02\x00\x00\x00\x00\xa0"
#define MAC_XLB2 "\x02\x00\x00\x00\x00\xa2"
#define BUF 4096

static struct fixture fx;

enum {
	V_TCP4 = 1, V_UDP4, V_TCP6, V_UDP6, V_ALLPORTS, V_L2_4, V_L2_6, V_SRC4, V_FRAG_UDP4,
	V_REDIRECT, V_NO_NEIGH, V_BLACKHOLE, V_EMPTY, V_DRAIN, V_HEALTH, V_FRAG_UDP6, V_L2_NO_NEIGH,
	V_COUNT,
};

#define B3_V4 { { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3
#define B3_V6 { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3

static struct fx_vip vips[V_COUNT] = {
	[V_TCP4] = { "10.10.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, V_TCP4, B3_V4 },
	[V_UDP4] = { "10.10.0.1", 53, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 0, V_UDP4, B3_V4 },
	[V_TCP6] = { "fd10::1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, V_TCP6, B3_V6 },
	[V_UDP6] = { "fd10::1", 53, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 0, V_UDP6, B3_V6 },
	[V_ALLPORTS] = { "10.10.0.5", 0, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, V_ALLPORTS, B3_V4 },
	[V_L2_4] = { "10.10.0.6", 80, IPPROTO_TCP, XLB_METHOD_L2, 0, 1021, V_L2_4, B3_V4 },
	[V_L2_6] = { "fd10::6", 80, IPPROTO_TCP, XLB_METHOD_L2, 0, 1021, V_L2_6, B3_V6 },
	[V_SRC4] = { "10.10.0.8", 443, IPPROTO_TCP, XLB_METHOD_IPIP, XLB_VIP_HASH_SRC, 0, V_SRC4,
		     B3_V4 },
	[V_FRAG_UDP4] = { "10.10.0.9", 4500, IPPROTO_UDP, XLB_METHOD_IPIP, XLB_VIP_HASH_SRC, 1021,
			  V_FRAG_UDP4, B3_V4 },
	[V_REDIRECT] = { "10.10.0.10", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, V_REDIRECT,
			 { { "10.1.0.2", 1 } }, 1 },
	[V_NO_NEIGH] = { "10.10.0.11", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, V_NO_NEIGH,
			 { { "10.0.0.9", 1 } }, 1 },
	[V_BLACKHOLE] = { "10.10.0.12", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, V_BLACKHOLE,
			  { { "10.9.0.1", 1 } }, 1 },
	[V_EMPTY] = { "10.10.0.13", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, V_EMPTY, { { 0 } },
		      0 },
	[V_DRAIN] = { "10.10.0.14", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, V_DRAIN, B3_V4 },
	[V_HEALTH] = { "10.10.0.15", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, V_HEALTH, B3_V4 },
	[V_FRAG_UDP6] = { "fd10::9", 4500, IPPROTO_UDP, XLB_METHOD_IPIP, XLB_VIP_HASH_SRC, 1021,
			  V_FRAG_UDP6, B3_V6 },
	[V_L2_NO_NEIGH] = { "10.10.0.16", 80, IPPROTO_TCP, XLB_METHOD_L2, 0, 1021, V_L2_NO_NEIGH,
			    { { "10.0.0.9", 1 } }, 1 },
};

/* ---- helpers ---------------------------------------------------------- */

static const char *backend_addr(const struct fx_vip *v, __u32 id)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->backends[i].id == id)
			return v->backends[i].addr;
	return NULL;
}

/* Neighbour MAC of a backend address, as the fixture's topology sets it. */
static const __u8 *backend_mac(const char *addr)
{
	static __u8 mac[6];

	if (!strcmp(addr, "10.1.0.2") || !strcmp(addr, "fd01::2"))
		return (const __u8 *)"\x02\x00\x00\x00\x01\x02";
	memcpy(mac, "\x02\x00\x00\x00\x00\x00", 6);
	mac[5] = addr[strlen(addr) - 1] - '0';
	return mac;
}

static struct pkt_spec flow_spec(const struct fx_vip *v, const char *client, __u16 sport)
{
	struct pkt_spec s = {
		.family = strchr(v->addr, ':') ? XLB_AF_INET6 : XLB_AF_INET,
		.src = client,
		.dst = v->addr,
		.proto = v->proto,
		.sport = sport,
		.dport = v->port ? v->port : 8080,
		.payload_len = 100,
	};

	memcpy(s.smac, MAC_CLIENT, 6);
	memcpy(s.dmac, MAC_XLB0, 6);
	return s;
}

/* Run and return the verdict; output in out/out_len. */
static __u32 run(const __u8 *in, size_t len, __u8 *out, __u32 *out_len)
{
	__u32 verdict = ~0U;

	*out_len = BUF;
	assert_int_equal(fx_run(&fx, in, len, out, out_len, &verdict), 0);
	return verdict;
}

/* Expected IPIP frame towards `backend` leaving through xlb0 (or xlb2). */
static size_t want_encap(__u8 *want, const __u8 *in, size_t len, const char *backend)
{
	int via2 = !strcmp(backend, "10.1.0.2") || !strcmp(backend, "fd01::2");
	struct pkt_encap_spec e = {
		.src = strchr(backend, ':') ? "fd00::1" : "10.0.0.1",
		.dst = backend,
	};
	size_t n;

	memcpy(e.smac, via2 ? MAC_XLB2 : MAC_XLB0, 6);
	memcpy(e.dmac, backend_mac(backend), 6);
	n = pkt_encap(want, BUF, in, len, &e);
	assert_true(n > 0);
	return n;
}

/* Send one flow packet to an IPIP VIP and check it went, encapsulated, to `expect_id`. */
static __u32 send_flow(const struct fx_vip *v, struct pkt_spec *s, __u32 expect_id)
{
	__u8 in[BUF], out[BUF], want[BUF];
	size_t len = pkt_build(in, sizeof(in), s);
	__u32 out_len, verdict, got_id = 0;
	const char *addr;

	assert_true(len > 0);
	verdict = run(in, len, out, &out_len);
	assert_int_equal(verdict, XDP_TX);
	/* Which backend did it go to? Match the output against each candidate. */
	for (size_t i = 0; i < v->n; i++) {
		size_t wlen = want_encap(want, in, len, v->backends[i].addr);

		if (wlen == out_len && !memcmp(out, want, wlen))
			got_id = v->backends[i].id;
	}
	addr = backend_addr(v, expect_id);
	assert_non_null(addr);
	if (got_id != expect_id) {
		size_t wlen = want_encap(want, in, len, addr);

		check_bytes(out, out_len, want, wlen, "flow to its backend");
	}
	return got_id;
}

/* ---- forwarding ------------------------------------------------------- */

static void check_ipip(int vip_id, const char *client, __u16 vlan, __u8 opts)
{
	const struct fx_vip *v = &vips[vip_id];
	__u8 in[BUF], out[BUF], want[BUF];
	struct pkt_spec s = flow_spec(v, client, 40000 + vip_id);
	struct xlb_flow f;
	__u32 out_len, owner;
	size_t len, wlen, l2;
	__u16 proto;

	s.vlan = vlan;
	s.ipv4_opt_len = opts;
	f = pkt_flow(&s);
	owner = fx_ring_owner(&fx, v, &f);
	assert_int_not_equal(owner, XLB_BACKEND_NONE);

	len = pkt_build(in, sizeof(in), &s);
	assert_int_equal(run(in, len, out, &out_len), XDP_TX);
	wlen = want_encap(want, in, len, backend_addr(v, owner));
	check_bytes(out, out_len, want, wlen, "encapsulated frame");

	/* Independent of the expected frame: outer checksum and inner L4 intact. */
	l2 = pkt_l2_len(out, out_len, &proto);
	if (s.family == XLB_AF_INET) {
		assert_true(pkt_ipv4_csum_ok(out + l2));
		assert_true(pkt_l4_csum_ok(out + l2 + 20, out_len - l2 - 20));
	} else {
		assert_true(pkt_l4_csum_ok(out + l2 + 40, out_len - l2 - 40));
	}
}

static void test_ipv4_tcp(void **state)
{
	check_ipip(V_TCP4, CLIENT4, 0, 0);
}

static void test_ipv4_udp(void **state)
{
	check_ipip(V_UDP4, CLIENT4, 0, 0);
}

static void test_ipv6_tcp(void **state)
{
	check_ipip(V_TCP6, CLIENT6, 0, 0);
}

static void test_ipv6_udp(void **state)
{
	check_ipip(V_UDP6, CLIENT6, 0, 0);
}

static void test_vlan_tagged(void **state)
{
	check_ipip(V_TCP4, "192.0.2.11", 42, 0);
	check_ipip(V_UDP6, "2001:db8::11", 42, 0);
}

static void test_ipv4_options(void **state)
{
	check_ipip(V_TCP4, "192.0.2.12", 0, 8);
	check_ipip(V_UDP4, "192.0.2.12", 7, 40);
}

static void test_all_ports_vip(void **state)
{
	struct pkt_spec s = flow_spec(&vips[V_ALLPORTS], CLIENT4, 1234);
	struct xlb_flow f;

	for (__u16 port = 1; port < 60000; port += 7919) {
		s.dport = port;
		f = pkt_flow(&s);
		send_flow(&vips[V_ALLPORTS], &s, fx_ring_owner(&fx, &vips[V_ALLPORTS], &f));
	}
}

static void test_redirect_other_interface(void **state)
{
	struct pkt_spec s = flow_spec(&vips[V_REDIRECT], CLIENT4, 999);
	__u8 in[BUF], out[BUF], want[BUF];
	size_t len = pkt_build(in, sizeof(in), &s), wlen;
	__u32 out_len;

	assert_int_equal(run(in, len, out, &out_len), XDP_REDIRECT);
	wlen = want_encap(want, in, len, "10.1.0.2");
	check_bytes(out, out_len, want, wlen, "redirected frame, xlb2's MAC as source");
}

static void test_l2_rewrite(void **state)
{
	for (int vid = V_L2_4; vid <= V_L2_6; vid++) {
		const struct fx_vip *v = &vips[vid];
		struct pkt_spec s = flow_spec(v, vid == V_L2_4 ? CLIENT4 : CLIENT6, 3333);
		__u8 in[BUF], out[BUF], want[BUF];
		size_t len = pkt_build(in, sizeof(in), &s);
		struct xlb_flow f = pkt_flow(&s);
		__u32 out_len, owner = fx_ring_owner(&fx, v, &f);

		assert_int_equal(run(in, len, out, &out_len), XDP_TX);
		memcpy(s.dmac, backend_mac(backend_addr(v, owner)), 6);
		memcpy(s.smac, MAC_XLB0, 6);
		assert_int_equal(pkt_build(want, sizeof(want), &s), len);
		check_bytes(out, out_len, want, len, "L2: only the MACs change");
	}
}

/* ---- passing what is not ours ----------------------------------------- */

static void test_non_vip_passed_unchanged(void **state)
{
	struct pkt_spec cases[] = {
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.0.0.1", .proto = IPPROTO_TCP,
		  .sport = 5000, .dport = 22, .payload_len = 40 },
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.10.0.1", .proto = IPPROTO_TCP,
		  .sport = 5000, .dport = 22 }, /* VIP address, port not served */
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "198.51.100.1", .proto = IPPROTO_UDP,
		  .sport = 5000, .dport = 53 },
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.0.0.1", .proto = IPPROTO_ICMP,
		  .icmp_type = 8 },
		{ .family = XLB_AF_INET6, .src = CLIENT6, .dst = "fd00::1", .proto = IPPROTO_TCP,
		  .sport = 5000, .dport = 22 },
		{ .family = XLB_AF_INET6, .src = CLIENT6, .dst = "fd00::1", .proto = IPPROTO_ICMPV6,
		  .icmp_type = 128 },
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.0.0.1", .proto = IPPROTO_UDP,
		  .sport = 1, .dport = 2, .frag = PKT_IP_MF }, /* fragment, not to a VIP */
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.10.0.1", .proto = 47 }, /* GRE */
	};
	__u8 in[BUF], out[BUF];
	__u8 arp[60] = "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\xc1\x08\x06";
	struct xlb_outcomes before, after;
	__u32 out_len;
	size_t len;

	assert_int_equal(dp_outcomes(&fx.dp, &before), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = pkt_build(in, sizeof(in), &cases[i]);
		assert_true(len > 0);
		assert_int_equal(run(in, len, out, &out_len), XDP_PASS);
		check_bytes(out, out_len, in, len, "non-VIP frame passed untouched");
	}
	assert_int_equal(run(arp, sizeof(arp), out, &out_len), XDP_PASS);
	check_bytes(out, out_len, arp, sizeof(arp), "ARP passed untouched");
	assert_int_equal(dp_outcomes(&fx.dp, &after), 0);
	assert_int_equal(after.pass_not_ip - before.pass_not_ip, 1);
	assert_int_equal(after.pass_not_vip - before.pass_not_vip, 7);
	assert_int_equal(after.pass_other - before.pass_other, 1);
}

/* ---- connection table ------------------------------------------------- */

/*
 * Take the backend that owns flow `s` out of the ring (weight 0, ring
 * rebuilt) after sending the flow once. Returns its index in v->backends.
 */
static size_t take_owner_out(struct fx_vip *v, struct pkt_spec *s, __u32 *owner)
{
	struct xlb_flow f = pkt_flow(s);
	size_t out = 0;

	*owner = fx_ring_owner(&fx, v, &f);
	send_flow(v, s, *owner);
	for (size_t i = 0; i < v->n; i++)
		if (v->backends[i].id == *owner)
			out = i;
	v->backends[out].weight = 0;
	assert_int_equal(fx_ring_rebuild(&fx, v), 0);
	assert_int_not_equal(fx_ring_owner(&fx, v, &f), *owner);
	return out;
}

static void put_back(struct fx_vip *v, size_t i)
{
	v->backends[i].weight = 1;
	assert_int_equal(fx_ring_rebuild(&fx, v), 0);
}

static void test_conn_survives_drain(void **state)
{
	struct fx_vip *v = &vips[V_DRAIN];
	struct pkt_spec s = flow_spec(v, CLIENT4, 20000);
	struct xlb_flow f = pkt_flow(&s);
	struct xlb_conn conn;
	__u32 owner;
	size_t drained = take_owner_out(v, &s, &owner);

	assert_int_equal(dp_conn_lookup(&fx.dp, &f, &conn), 0);
	assert_int_equal(conn.backend_id, owner);

	/* The established flow stays; a new flow from elsewhere never gets it. */
	send_flow(v, &s, owner);
	for (__u16 port = 30000; port < 30200; port++) {
		struct pkt_spec n = flow_spec(v, CLIENT4, port);
		struct xlb_flow nf = pkt_flow(&n);
		__u32 id = fx_ring_owner(&fx, v, &nf);

		assert_int_not_equal(id, owner);
		send_flow(v, &n, id);
	}
	put_back(v, drained);
}

/* Run on CPU `cpu` alone; 0, or -1 if there is no such CPU. */
static int run_on(int cpu)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	return sched_setaffinity(0, sizeof(cpus), &cpus);
}

/*
 * One connection table for all CPUs: a flow bound on one CPU keeps its
 * backend when its packets reach another (RSS changes, veth), even once
 * the ring sends its new flows elsewhere.
 */
static void test_conn_seen_from_other_cpu(void **state)
{
	struct fx_vip *v = &vips[V_DRAIN];
	struct pkt_spec s = flow_spec(v, CLIENT4, 20100);
	cpu_set_t all;
	size_t drained;
	__u32 owner;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	if (run_on(1)) {
		print_message("no second CPU\n");
		skip();
	}
	assert_int_equal(run_on(0), 0);
	drained = take_owner_out(v, &s, &owner);
	assert_int_equal(run_on(1), 0);
	send_flow(v, &s, owner);
	put_back(v, drained);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
}

static void test_rehash_when_down(void **state)
{
	struct fx_vip *v = &vips[V_HEALTH];
	struct pkt_spec s = flow_spec(v, CLIENT4, 21000);
	struct xlb_flow f = pkt_flow(&s);
	__u32 owner, new_owner;
	struct xlb_conn conn;
	size_t down;

	/* The daemon marks it down and rebuilds the ring without it. */
	down = take_owner_out(v, &s, &owner);
	assert_int_equal(dp_health_set(&fx.dp, owner, XLB_HEALTH_DOWN), 0);
	new_owner = fx_ring_owner(&fx, v, &f);

	send_flow(v, &s, new_owner);
	assert_int_equal(dp_conn_lookup(&fx.dp, &f, &conn), 0);
	assert_int_equal(conn.backend_id, new_owner);

	assert_int_equal(dp_health_set(&fx.dp, owner, XLB_HEALTH_UP), 0);
	put_back(v, down);
}

static void test_removed_backend_id_not_followed(void **state)
{
	/* A connection bound to an id whose generation changed is re-hashed. */
	struct fx_vip *v = &vips[V_HEALTH];
	struct pkt_spec s = flow_spec(v, CLIENT4, 22000);
	struct xlb_flow f = pkt_flow(&s);
	__u32 owner = fx_ring_owner(&fx, v, &f);
	struct xlb_conn conn = { .backend_id = 0, .gen = 1 };

	/* Plant an entry pointing at a backend of another VIP. */
	conn.backend_id = vips[V_DRAIN].backends[0].id;
	assert_int_equal(dp_conn_bind(&fx.dp, &f, &conn), 0);
	send_flow(v, &s, owner);
	/* And one with a stale generation of this VIP's own backend. */
	conn.backend_id = v->backends[0].id == owner ? v->backends[1].id : v->backends[0].id;
	conn.gen = 7;
	assert_int_equal(dp_conn_bind(&fx.dp, &f, &conn), 0);
	send_flow(v, &s, owner);
}

static void test_same_tuple_same_backend(void **state)
{
	const struct fx_vip *v = &vips[V_TCP4];

	for (__u16 port = 1000; port < 1100; port++) {
		struct pkt_spec s = flow_spec(v, "192.0.2.77", port);
		struct xlb_flow f = pkt_flow(&s);
		__u32 owner = fx_ring_owner(&fx, v, &f);

		send_flow(v, &s, owner);
		send_flow(v, &s, owner);
	}
}

static void test_syn_does_not_bind(void **state)
{
	const struct fx_vip *v = &vips[V_TCP4];
	struct pkt_spec s = flow_spec(v, "192.0.2.78", 1200);
	struct xlb_flow f = pkt_flow(&s);
	__u32 owner = fx_ring_owner(&fx, v, &f);
	struct xlb_vip_stats before, after;
	struct xlb_conn conn;

	/* A bare SYN goes to the ring's choice and leaves no entry... */
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &before), 0);
	s.tcp_flags = PKT_TCP_SYN;
	send_flow(v, &s, owner);
	assert_int_equal(dp_conn_lookup(&fx.dp, &f, &conn), -ENOENT);
	/* ...the first packet that is not a bare SYN, the handshake's ACK, binds it. */
	s.tcp_flags = PKT_TCP_ACK;
	send_flow(v, &s, owner);
	assert_int_equal(dp_conn_lookup(&fx.dp, &f, &conn), 0);
	assert_int_equal(conn.backend_id, owner);
	assert_int_equal(conn.vip_id, v->id);
	/* One connection, one new flow: counted when bound. */
	send_flow(v, &s, owner);
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &after), 0);
	assert_int_equal(after.new_flows - before.new_flows, 1);
	assert_int_equal(after.packets - before.packets, 3);
}

/*
 * A bare SYN of a tuple that has an entry follows the entry, not the ring
 * (its ACK will), both for an entry the data plane bound and for one xlbd
 * wrote: the SYN path's hint words (bpf/conns.h, conn_may_hold()) must name
 * every bound flow. The owner is drained, so the ring would send these
 * SYNs elsewhere; many ports, so that many sets and their words are tried.
 */
/* Whether f's set's hint word has f's bit (and is valid, if computed). */
static bool hint_names(const struct xlb_flow *f, bool computed)
{
	__u32 hash = xlb_conn_hash(f);
	__u64 w = fx.dp.conn_hints[xlb_conn_set_of(hash, fx.dp.conn_sets)];

	return (w & xlb_conn_hint_bit(xlb_conn_tag(hash))) && (!computed || (w & XLB_HINT_VALID));
}

static void test_syn_follows_its_entry(void **state)
{
	struct fx_vip *v = &vips[V_DRAIN];
	struct pkt_spec s = flow_spec(v, CLIENT4, 24000);
	struct xlb_flow f = pkt_flow(&s);
	struct xlb_conn conn, planted;
	__u32 owner;
	size_t drained = take_owner_out(v, &s, &owner);

	assert_int_equal(dp_conn_lookup(&fx.dp, &f, &planted), 0);
	for (__u16 port = 24001; port < 24065; port++) {
		struct pkt_spec b = flow_spec(v, CLIENT4, port), w = flow_spec(v, "192.0.2.79", port);
		struct xlb_flow bf = pkt_flow(&b), wf = pkt_flow(&w);

		/* Bound by the data plane while the owner was still in the ring. */
		put_back(v, drained);
		if (fx_ring_owner(&fx, v, &bf) == owner) {
			send_flow(v, &b, owner);
			/* The data plane's bind computed its set's word: valid, its bit set. */
			assert_true(hint_names(&bf, true));
			drained = take_owner_out(v, &s, &owner);
			b.tcp_flags = PKT_TCP_SYN;
			send_flow(v, &b, owner);
		} else {
			drained = take_owner_out(v, &s, &owner);
		}
		/* Written by xlbd (as a sync would): the same. */
		assert_int_equal(dp_conn_bind(&fx.dp, &wf, &planted), 0);
		assert_true(hint_names(&wf, false));
		w.tcp_flags = PKT_TCP_SYN;
		send_flow(v, &w, owner);
		assert_int_equal(dp_conn_lookup(&fx.dp, &wf, &conn), 0);
		assert_int_equal(conn.backend_id, owner);
	}
	put_back(v, drained);
}

/*
 * Flow f's entry c where a build before xlb_conn_hash() put it: set and tag
 * by the Maglev hash. In an empty way of that set (the last if none); the
 * set's index and the way returned.
 */
static __u32 plant_old(const struct xlb_flow *f, const struct xlb_conn *c, int *way)
{
	__u32 h = xlb_flow_hash(f, 0), set = xlb_conn_set_of(h, fx.dp.conn_sets);
	struct xlb_conn_set *s = &fx.dp.conns[set];
	int i = 0;

	while (i < XLB_CONN_WAYS - 1 && s->tag[i])
		i++;
	assert_int_equal(s->way[i].seq & 1, 0);
	s->tag[i] = xlb_conn_tag(h);
	s->used[i] = fx.dp.cfg.nh_epoch;
	memcpy(&s->way[i].key, f, sizeof(*f));
	memcpy(&s->way[i].conn, c, sizeof(*c));
	*way = i;
	return set;
}

/*
 * An upgrade over pins of a build that placed IPv6 entries by the Maglev
 * hash: this build looks elsewhere (xlb_conn_hash()), so xlbd moves them
 * (dp_conns_rehome()) before its program runs. Each planted entry names a
 * backend the ring would not pick: a flow follows it only if it was moved.
 * A flow the new program bound meanwhile keeps its newer entry; the second
 * pass, after the links switch, empties the old places and marks the pinned
 * config, so that later starts do not walk the table again.
 */
#define REHOMED 64

static void test_older_builds_entries_moved(void **state)
{
	struct fx_vip *v = &vips[V_TCP6];
	__u32 owner[REHOMED], other[REHOMED], set[REHOMED], moved, n = 0;
	struct pkt_spec s[REHOMED];
	int way[REHOMED];

	for (int i = 0; i < REHOMED; i++) {
		struct xlb_flow f;
		struct xlb_backend be;
		struct xlb_conn c = { .vip_id = v->id };
		__u32 oh, nh;

		s[i] = flow_spec(v, CLIENT6, 26000 + i);
		f = pkt_flow(&s[i]);
		owner[i] = fx_ring_owner(&fx, v, &f);
		other[i] = v->backends[0].id == owner[i] ? v->backends[1].id : v->backends[0].id;
		assert_int_equal(dp_backend_get(&fx.dp, other[i], &be), 0);
		c.backend_id = other[i];
		c.gen = be.gen;
		oh = xlb_flow_hash(&f, 0);
		nh = xlb_conn_hash(&f);
		/* IPv6: the two hashes place a flow apart. */
		assert_true(xlb_conn_set_of(oh, fx.dp.conn_sets) !=
				    xlb_conn_set_of(nh, fx.dp.conn_sets) ||
			    xlb_conn_tag(oh) != xlb_conn_tag(nh));
		set[i] = plant_old(&f, &c, &way[i]);
		/* Odd ones: the new program does not see the old place, binds the ring's. */
		if (i & 1)
			send_flow(v, &s[i], owner[i]);
		else
			n++;
	}
	/* As over pins: the fixture's table is its own, which a start would not walk. */
	fx.dp.conns_adopted = true;
	assert_int_equal(dp_conns_rehome(&fx.dp, false, &moved), 0);
	assert_int_equal(moved, n);
	for (int i = 0; i < REHOMED; i++) {
		/* Kept for the old program until the links switch. */
		assert_int_not_equal(fx.dp.conns[set[i]].tag[way[i]], 0);
		send_flow(v, &s[i], i & 1 ? owner[i] : other[i]);
	}
	assert_int_equal(dp_conns_rehome(&fx.dp, true, &moved), 0);
	assert_int_equal(moved, 0);
	for (int i = 0; i < REHOMED; i++) {
		struct xlb_flow f = pkt_flow(&s[i]);

		assert_int_equal(fx.dp.conns[set[i]].tag[way[i]], 0);
		assert_int_not_equal(memcmp((void *)&fx.dp.conns[set[i]].way[way[i]].key, &f,
					    sizeof(f)), 0);
		send_flow(v, &s[i], i & 1 ? owner[i] : other[i]);
	}
	/* Marked in the map itself, where the next start reads it. */
	{
		struct xlb_config cfg;
		struct xlb_flow f;
		struct xlb_conn c = { .vip_id = v->id, .backend_id = other[0] };
		int w;
		__u32 at;

		assert_int_equal(bpf_map__lookup_elem(fx.dp.skel->maps.config, &(__u32){ 0 },
						      sizeof(__u32), &cfg, sizeof(cfg), 0), 0);
		assert_int_equal(cfg.conns_placed, XLB_CONNS_PLACED);
		s[0].sport = 27000;
		f = pkt_flow(&s[0]);
		at = plant_old(&f, &c, &w);
		assert_int_equal(dp_conns_rehome(&fx.dp, true, &moved), 0);
		assert_int_equal(moved, 0);
		assert_int_not_equal(fx.dp.conns[at].tag[w], 0);
		fx.dp.conns[at].tag[w] = 0;
		memset((void *)&fx.dp.conns[at].way[w].key, 0, sizeof(f));
	}
}

/* For IPv4 the connection hash is the Maglev hash: its entries never move. */
static void test_ipv4_conn_hash_is_maglev(void **state)
{
	struct fx_vip *v = &vips[V_UDP4];

	srandom(13);
	for (int i = 0; i < 100000; i++) {
		char client[32];
		struct pkt_spec s;
		struct xlb_flow f;

		snprintf(client, sizeof(client), "%ld.%ld.%ld.%ld", random() % 223 + 1,
			 random() % 256, random() % 256, random() % 256);
		s = flow_spec(v, client, random() % 65536);
		s.proto = i & 1 ? IPPROTO_TCP : IPPROTO_UDP;
		f = pkt_flow(&s);
		assert_int_equal(xlb_conn_hash(&f), xlb_flow_hash(&f, 0));
	}
}

static void test_hash_src(void **state)
{
	const struct fx_vip *v = &vips[V_SRC4];
	unsigned int seen[3] = { 0 };

	for (int c = 0; c < 30; c++) {
		char client[32];
		__u32 first = 0;

		snprintf(client, sizeof(client), "198.51.100.%d", c + 1);
		for (__u16 port = 2000; port < 2020; port++) {
			struct pkt_spec s = flow_spec(v, client, port);
			struct xlb_flow f = pkt_flow(&s);
			__u32 id = send_flow(v, &s, fx_ring_owner(&fx, v, &f));

			if (!first)
				first = id;
			assert_int_equal(id, first);
		}
		seen[first - v->backends[0].id]++;
	}
	/* And the clients do spread: every backend got some. */
	for (int i = 0; i < 3; i++)
		assert_true(seen[i] > 0);
}

/* ---- failures on the way out ------------------------------------------ */

static void test_no_neighbour_goes_to_kernel(void **state)
{
	struct pkt_spec s = flow_spec(&vips[V_NO_NEIGH], CLIENT4, 777);
	__u8 in[BUF], out[BUF], want[BUF];
	size_t len = pkt_build(in, sizeof(in), &s), wlen;
	struct xlb_outcomes before, after;
	struct pkt_encap_spec e = { .src = "10.0.0.1", .dst = "10.0.0.9" };
	__u32 out_len;

	/* Encapsulated, MACs as received: the kernel forwards it and resolves. */
	memcpy(e.smac, MAC_CLIENT, 6);
	memcpy(e.dmac, MAC_XLB0, 6);
	wlen = pkt_encap(want, sizeof(want), in, len, &e);
	assert_int_equal(dp_outcomes(&fx.dp, &before), 0);
	assert_int_equal(run(in, len, out, &out_len), XDP_PASS);
	check_bytes(out, out_len, want, wlen, "encapsulated, handed to the kernel");
	assert_int_equal(dp_outcomes(&fx.dp, &after), 0);
	assert_int_equal(after.pass_no_neigh - before.pass_no_neigh, 1);
}

/*
 * Run `in`, expect `verdict` counted under the outcome at field_off; a pass
 * must leave the frame as it was. The output is left in out (BUF bytes).
 */
static void expect_outcome(const __u8 *in, size_t len, __u32 verdict, size_t field_off,
			   const char *what, __u8 *out, __u32 *out_len)
{
	struct xlb_outcomes before, after;
	__u32 got;

	assert_true(len > 0);
	assert_int_equal(dp_outcomes(&fx.dp, &before), 0);
	got = run(in, len, out, out_len);
	if (got != verdict)
		fail_msg("%s: verdict %u, want %u", what, got, verdict);
	assert_int_equal(dp_outcomes(&fx.dp, &after), 0);
	if (*(__u64 *)((char *)&after + field_off) != *(__u64 *)((char *)&before + field_off) + 1)
		fail_msg("%s: not counted under the expected reason", what);
	if (verdict == XDP_PASS)
		check_bytes(out, *out_len, in, len, what);
}

static void expect_drop(const __u8 *in, size_t len, size_t field_off, const char *what)
{
	__u8 out[BUF];
	__u32 out_len;

	expect_outcome(in, len, XDP_DROP, field_off, what, out, &out_len);
}

static void test_drops_counted(void **state)
{
	__u8 in[BUF];
	struct pkt_spec s = flow_spec(&vips[V_BLACKHOLE], CLIENT4, 1);
	struct xlb_vip_stats vs;

	expect_drop(in, pkt_build(in, sizeof(in), &s), offsetof(struct xlb_outcomes, drop_no_route),
		    "blackholed backend");
	/* l2 without a neighbour: the kernel cannot deliver a VIP packet either. */
	s = flow_spec(&vips[V_L2_NO_NEIGH], CLIENT4, 1);
	expect_drop(in, pkt_build(in, sizeof(in), &s),
		    offsetof(struct xlb_outcomes, drop_no_neigh), "l2 backend without neighbour");
	s = flow_spec(&vips[V_EMPTY], CLIENT4, 1);
	expect_drop(in, pkt_build(in, sizeof(in), &s),
		    offsetof(struct xlb_outcomes, drop_no_backend), "VIP without backends");
	assert_int_equal(dp_vip_stats(&fx.dp, V_EMPTY, &vs), 0);
	assert_int_equal(vs.drops, 1);
	/* 1500-byte frame + 20 bytes of IPIP > the 1500 MTU of xlb0; DF clear: no error to send. */
	s = flow_spec(&vips[V_TCP4], CLIENT4, 1);
	s.payload_len = 1500 - 20 - 20;
	expect_drop(in, pkt_build(in, sizeof(in), &s), offsetof(struct xlb_outcomes, drop_too_big),
		    "too big once encapsulated");
}

/* ---- ICMP ------------------------------------------------------------- */

static void test_icmp_echo(void **state)
{
	struct pkt_spec req[] = {
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.10.0.1", .proto = IPPROTO_ICMP,
		  .icmp_type = 8, .icmp_id = 77, .icmp_seq = 3, .payload_len = 56, .ttl = 9 },
		{ .family = XLB_AF_INET6, .src = CLIENT6, .dst = "fd10::1",
		  .proto = IPPROTO_ICMPV6, .icmp_type = 128, .icmp_id = 77, .icmp_seq = 3,
		  .payload_len = 56, .ttl = 9 },
	};

	for (int i = 0; i < 2; i++) {
		struct pkt_spec rep = req[i];
		__u8 in[BUF], out[BUF], want[BUF];
		size_t len, wlen;
		__u32 out_len;

		memcpy(req[i].smac, MAC_CLIENT, 6);
		memcpy(req[i].dmac, MAC_XLB0, 6);
		len = pkt_build(in, sizeof(in), &req[i]);
		rep.src = req[i].dst;
		rep.dst = req[i].src;
		memcpy(rep.smac, MAC_XLB0, 6);
		memcpy(rep.dmac, MAC_CLIENT, 6);
		rep.icmp_type = i == 0 ? 0 : 129;
		rep.ttl = 64;
		wlen = pkt_build(want, sizeof(want), &rep);
		assert_int_equal(run(in, len, out, &out_len), XDP_TX);
		check_bytes(out, out_len, want, wlen, "echo reply");
		assert_true(pkt_l4_csum_ok(out + 14, out_len - 14));
	}
}

/*
 * A too-big error from `router` about the backend's reply in VIP flow `s`
 * (a router on the way to the client saw the reply), quoting quote_len
 * bytes of it (0: as much as RFC 1812 / RFC 4443 say). Returns its length.
 */
static size_t build_too_big(__u8 *in, const struct pkt_spec *s, const char *router,
			    size_t quote_len)
{
	struct pkt_spec reply = *s, err = { 0 };
	int v6 = s->family == XLB_AF_INET6;
	__u8 inner[BUF];
	size_t ilen;

	reply.src = s->dst;
	reply.dst = s->src;
	reply.sport = s->dport;
	reply.dport = s->sport;
	reply.payload_len = 1400;
	ilen = pkt_build_l3(inner, sizeof(inner), &reply);
	err.family = s->family;
	err.src = router;
	err.dst = s->dst;
	err.proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	err.icmp_type = v6 ? 2 : 3;
	err.icmp_code = v6 ? 0 : 4;
	err.icmp_mtu = 1280;
	err.inner = inner;
	err.inner_len = quote_len ? quote_len : v6 ? 1280 - 48 : 576 - 28;
	if (err.inner_len > ilen)
		err.inner_len = ilen;
	memcpy(err.smac, MAC_CLIENT, 6);
	memcpy(err.dmac, MAC_XLB0, 6);
	return pkt_build(in, BUF, &err);
}

static void check_too_big(int vip_id, const char *client, const char *router)
{
	const struct fx_vip *v = &vips[vip_id];
	struct pkt_spec s = flow_spec(v, client, 45678);
	struct xlb_flow f = pkt_flow(&s);
	__u32 owner = fx_ring_owner(&fx, v, &f), out_len;
	__u8 in[BUF], out[BUF], want[BUF];
	size_t len, wlen;

	send_flow(v, &s, owner); /* the flow exists */
	len = build_too_big(in, &s, router, 0);
	assert_true(len > 0);
	assert_int_equal(run(in, len, out, &out_len), XDP_TX);
	wlen = want_encap(want, in, len, backend_addr(v, owner));
	check_bytes(out, out_len, want, wlen, "too-big error steered to the flow's backend");
}

static void test_icmp_too_big(void **state)
{
	check_too_big(V_TCP4, "192.0.2.99", "203.0.113.1");
	check_too_big(V_TCP6, "2001:db8::99", "2001:db8:ffff::1");
}

/* ---- fragments -------------------------------------------------------- */

static void test_fragments(void **state)
{
	for (int vid = V_FRAG_UDP4; vid <= V_FRAG_UDP6; vid += V_FRAG_UDP6 - V_FRAG_UDP4) {
		const struct fx_vip *v = &vips[vid];
		const char *client = vid == V_FRAG_UDP4 ? "198.51.100.200" : "2001:db8::200";
		struct pkt_spec first = flow_spec(v, client, 500);
		struct pkt_spec later = first;
		struct xlb_flow f = pkt_flow(&first);
		__u32 owner = fx_ring_owner(&fx, v, &f);

		first.frag = PKT_IP_MF;
		later.frag = 185; /* offset 1480 bytes, last piece */
		send_flow(v, &first, owner);
		send_flow(v, &later, owner);
	}
	/* A port-hashed VIP cannot take fragments: dropped and counted. */
	{
		struct pkt_spec s = flow_spec(&vips[V_UDP4], CLIENT4, 500);
		__u8 in[BUF];

		s.frag = PKT_IP_MF;
		expect_drop(in, pkt_build(in, sizeof(in), &s),
			    offsetof(struct xlb_outcomes, drop_fragment), "fragment to a 5-tuple VIP");
		s = flow_spec(&vips[V_UDP6], CLIENT6, 500);
		s.frag = 100;
		expect_drop(in, pkt_build(in, sizeof(in), &s),
			    offsetof(struct xlb_outcomes, drop_fragment), "IPv6 fragment");
	}
}

/* ---- truncation -------------------------------------------------------- */

/*
 * Every template cut at every byte up to the end of its headers (and a bit
 * beyond): the program must pass the cut frame untouched or drop it; never
 * abort, never send it anywhere.
 */
static void test_truncated(void **state)
{
	struct pkt_spec t[] = {
		flow_spec(&vips[V_TCP4], CLIENT4, 1),
		flow_spec(&vips[V_UDP4], CLIENT4, 1),
		flow_spec(&vips[V_TCP6], CLIENT6, 1),
		flow_spec(&vips[V_UDP6], CLIENT6, 1),
		flow_spec(&vips[V_FRAG_UDP4], CLIENT4, 1),
		flow_spec(&vips[V_FRAG_UDP6], CLIENT6, 1),
		{ .family = XLB_AF_INET, .src = CLIENT4, .dst = "10.10.0.1", .proto = IPPROTO_ICMP,
		  .icmp_type = 8, .payload_len = 8 },
		{ .family = XLB_AF_INET6, .src = CLIENT6, .dst = "fd10::1",
		  .proto = IPPROTO_ICMPV6, .icmp_type = 128, .payload_len = 8 },
	};
	size_t n = sizeof(t) / sizeof(t[0]);
	int checked = 0;

	t[0].vlan = 5;
	t[1].ipv4_opt_len = 12;
	t[4].frag = PKT_IP_MF;
	t[5].frag = PKT_IP_MF;
	for (size_t i = 0; i < n; i++) {
		__u8 in[BUF], out[BUF];
		size_t len;

		t[i].payload_len = 8;
		len = pkt_build(in, sizeof(in), &t[i]);
		assert_true(len > 0);
		for (size_t cut = 14; cut < len; cut++) {
			__u32 out_len, verdict = run(in, cut, out, &out_len);

			if (verdict != XDP_PASS && verdict != XDP_DROP)
				fail_msg("template %zu cut at %zu: verdict %u", i, cut, verdict);
			if (verdict == XDP_PASS)
				check_bytes(out, out_len, in, cut, "cut frame passed untouched");
			checked++;
		}
	}
	assert_true(checked > 400);
}

/* ---- malformed packets to a VIP (issue 14 rows 9-11) ------------------ */

#define OUTCOME(field) offsetof(struct xlb_outcomes, field)

/* End the frame's IP packet cut bytes early (its header says so); the rest becomes padding. */
static void shorten_ip(__u8 *in, size_t cut)
{
	size_t l2;
	__u16 proto, n;

	l2 = pkt_l2_len(in, BUF, &proto);
	memcpy(&n, in + l2 + (proto == ETH_P_IP ? 2 : 4), 2);
	n = htons(ntohs(n) - cut);
	memcpy(in + l2 + (proto == ETH_P_IP ? 2 : 4), &n, 2);
	if (proto == ETH_P_IP)
		pkt_ipv4_csum_set(in + l2);
}

enum quote_fault {
	Q_OTHER_FAMILY,	/* the quote is an IP header of the other family */
	Q_SHORT,	/* header and 4 bytes: RFC 792 promises 8 */
	Q_PADDING,	/* the quote's L4 bytes are past the IP packet, in padding */
	Q_HEADER_PADDING, /* the whole quote is past the IP packet */
	Q_IHL,		/* quoted IPv4 ihl < 5 */
	Q_VERSION,	/* quoted header of the wrong version */
	Q_LATER_FRAG,	/* well-formed quote of a non-first fragment: no ports */
	Q_OTHER_DST,	/* the error went to another VIP address than the quote's source */
};

static void test_icmp_too_big_bad_quote(void **state)
{
	struct {
		const char *what;
		int vid;
		enum quote_fault fault;
		__u32 verdict;
		size_t counter;
	} cases[] = {
		{ "v4 error quoting an IPv6 header", V_TCP4, Q_OTHER_FAMILY,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 error quoting an IPv4 header", V_TCP6, Q_OTHER_FAMILY,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 quote with 4 bytes of L4", V_TCP4, Q_SHORT,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 quote with 4 bytes of L4", V_TCP6, Q_SHORT,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 quote's ports in Ethernet padding", V_TCP4, Q_PADDING,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 quote's ports in Ethernet padding", V_UDP6, Q_PADDING,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 quote all in Ethernet padding", V_UDP4, Q_HEADER_PADDING,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 quote all in Ethernet padding", V_TCP6, Q_HEADER_PADDING,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 quote with ihl 4", V_TCP4, Q_IHL, XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 quote with version 6, ihl 5", V_TCP4, Q_VERSION,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 quote with version 0", V_TCP6, Q_VERSION, XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 error to another VIP address", V_TCP4, Q_OTHER_DST,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 error to another VIP address", V_UDP6, Q_OTHER_DST,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 quote of a later fragment", V_UDP4, Q_LATER_FRAG,
		  XDP_PASS, OUTCOME(pass_other) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct fx_vip *v = &vips[cases[i].vid];
		int v6 = strchr(v->addr, ':') != NULL;
		struct pkt_spec s = flow_spec(v, v6 ? CLIENT6 : CLIENT4, 46000 + i);
		size_t l2 = PKT_ETH_LEN, ip = v6 ? PKT_IPV6_LEN : PKT_IPV4_LEN;
		size_t quote = l2 + ip + PKT_ICMP_LEN, len;
		__u8 in[BUF], out[BUF], other[BUF];
		const struct fx_vip *ov = &vips[v6 ? V_TCP4 : V_TCP6];
		struct pkt_spec o = flow_spec(ov, v6 ? CLIENT4 : CLIENT6, 1);
		__u32 out_len;

		len = build_too_big(in, &s, v6 ? "2001:db8:ffff::1" : "203.0.113.1", 0);
		switch (cases[i].fault) {
		case Q_OTHER_FAMILY:
			/* A quote of the other family's header that would name a VIP flow. */
			pkt_build_l3(other, sizeof(other), &o);
			memcpy(in + quote, other, len - quote < 48 ? len - quote : 48);
			break;
		case Q_SHORT:
			len = build_too_big(in, &s, v6 ? "2001:db8:ffff::1" : "203.0.113.1",
					    (v6 ? PKT_IPV6_LEN : PKT_IPV4_LEN) + 4);
			break;
		case Q_PADDING:
			shorten_ip(in, len - quote - (v6 ? PKT_IPV6_LEN : PKT_IPV4_LEN) - 4);
			break;
		case Q_HEADER_PADDING:
			shorten_ip(in, len - quote);
			break;
		case Q_IHL:
			in[quote] = 0x44;
			break;
		case Q_VERSION:
			/* v4: version 6 with a sane ihl (steered before issue 14); v6: 0. */
			in[quote] = v6 ? in[quote] & 0x0f : 0x65;
			break;
		case Q_LATER_FRAG:
			in[quote + 7] = 185; /* fragment offset 1480 bytes */
			break;
		case Q_OTHER_DST: {
			struct xlb_addr a;
			__u8 fam;

			pkt_addr(&a, &fam, vips[v6 ? V_L2_6 : V_ALLPORTS].addr);
			memcpy(in + l2 + (v6 ? 24 : 16), &a, v6 ? 16 : 4);
			if (!v6)
				pkt_ipv4_csum_set(in + l2);
			break;
		}
		}
		/*
		 * The ICMP checksum is now wrong: the data plane does not verify
		 * it (the backend's kernel does), so the verdict is the quote's.
		 */
		expect_outcome(in, len, cases[i].verdict, cases[i].counter, cases[i].what, out,
			       &out_len);
	}
}

/*
 * Extension-header chains in front of TCP to an IPv6 VIP: forwarded whole
 * when RFC 8200 allows the chain, dropped as malformed when Hop-by-Hop is
 * not first or the chain is longer than the data plane walks.
 */
static void test_ipv6_extension_chains(void **state)
{
	struct {
		const char *what;
		__u8 ext[PKT_IPV6_EXT_MAX];
		__u8 n;
		__u32 verdict;
	} cases[] = {
		{ "hop-by-hop", { IPPROTO_HOPOPTS }, 1, XDP_TX },
		{ "hop-by-hop, dst opts", { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS }, 2, XDP_TX },
		{ "hop-by-hop, routing, dst opts",
		  { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS }, 3, XDP_TX },
		{ "routing, dst opts", { IPPROTO_ROUTING, IPPROTO_DSTOPTS }, 2, XDP_TX },
		{ "dst opts, hop-by-hop", { IPPROTO_DSTOPTS, IPPROTO_HOPOPTS }, 2, XDP_DROP },
		{ "hop-by-hop twice", { IPPROTO_HOPOPTS, IPPROTO_HOPOPTS }, 2, XDP_DROP },
		{ "routing, dst opts, hop-by-hop",
		  { IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS }, 3, XDP_DROP },
		{ "four headers", { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING,
				    IPPROTO_DSTOPTS }, 4, XDP_DROP },
	};
	const struct fx_vip *v = &vips[V_TCP6];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pkt_spec s = flow_spec(v, CLIENT6, 47000 + i);
		struct xlb_flow f = pkt_flow(&s);
		__u8 in[BUF], out[BUF], want[BUF];
		size_t len, wlen;
		__u32 out_len;

		memcpy(s.ext, cases[i].ext, sizeof(s.ext));
		s.n_ext = cases[i].n;
		len = pkt_build(in, sizeof(in), &s);
		assert_true(pkt_l4_csum_ok(in + PKT_ETH_LEN, len - PKT_ETH_LEN));
		expect_outcome(in, len, cases[i].verdict,
			       cases[i].verdict == XDP_TX ? OUTCOME(tx) : OUTCOME(drop_malformed),
			       cases[i].what, out, &out_len);
		if (cases[i].verdict != XDP_TX)
			continue;
		wlen = want_encap(want, in, len, backend_addr(v, fx_ring_owner(&fx, v, &f)));
		check_bytes(out, out_len, want, wlen, cases[i].what);
	}
}

enum l3_fault { L3_NONE, L3_CSUM, L3_OPT_CSUM, L3_TTL0, L3_TTL1 };

/*
 * A bad IPv4 header checksum or TTL / hop limit 0 to a VIP address: dropped
 * and counted as malformed (README "What the data plane does"); the same to
 * another address is not ours to judge: passed untouched.
 */
static void test_bad_checksum_and_ttl(void **state)
{
	struct {
		const char *what;
		int vid;
		const char *dst;	/* NULL: the VIP's address */
		__u8 opts;
		enum l3_fault fault;
		__u32 verdict;
		size_t counter;
	} cases[] = {
		{ "v4 bad header checksum", V_TCP4, NULL, 0, L3_CSUM,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 bad checksum over options", V_UDP4, NULL, 8, L3_OPT_CSUM,
		  XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 options, checksum good", V_UDP4, NULL, 40, L3_NONE, XDP_TX, OUTCOME(tx) },
		{ "v4 TTL 0", V_TCP4, NULL, 0, L3_TTL0, XDP_DROP, OUTCOME(drop_malformed) },
		{ "v4 TTL 1", V_TCP4, NULL, 0, L3_TTL1, XDP_TX, OUTCOME(tx) },
		{ "v6 hop limit 0", V_TCP6, NULL, 0, L3_TTL0, XDP_DROP, OUTCOME(drop_malformed) },
		{ "v6 hop limit 1", V_UDP6, NULL, 0, L3_TTL1, XDP_TX, OUTCOME(tx) },
		{ "v4 bad checksum, not a VIP", V_TCP4, "10.0.0.1", 0, L3_CSUM,
		  XDP_PASS, OUTCOME(pass_not_vip) },
		{ "v4 TTL 0 fragment to a VIP", V_FRAG_UDP4, NULL, 0, L3_TTL0,
		  XDP_DROP, OUTCOME(drop_malformed) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct fx_vip *v = &vips[cases[i].vid];
		int v6 = strchr(v->addr, ':') != NULL;
		struct pkt_spec s = flow_spec(v, v6 ? CLIENT6 : CLIENT4, 48000 + i);
		__u8 in[BUF], out[BUF], want[BUF], *ip = in + PKT_ETH_LEN;
		struct xlb_flow f;
		size_t len;
		__u32 out_len;

		if (cases[i].dst)
			s.dst = cases[i].dst;
		s.ipv4_opt_len = cases[i].opts;
		s.ttl = cases[i].fault == L3_TTL1 ? 1 : 0;
		if (cases[i].vid == V_FRAG_UDP4)
			s.frag = PKT_IP_MF;
		f = pkt_flow(&s);
		len = pkt_build(in, sizeof(in), &s);
		switch (cases[i].fault) {
		case L3_CSUM:
			ip[10] ^= 0x40;
			break;
		case L3_OPT_CSUM:
			ip[PKT_IPV4_LEN + 1] ^= 0x02; /* a NOP becomes another option byte */
			break;
		case L3_TTL0:
			ip[v6 ? 7 : 8] = 0;
			if (!v6)
				pkt_ipv4_csum_set(ip);
			break;
		default:
			break;
		}
		expect_outcome(in, len, cases[i].verdict, cases[i].counter, cases[i].what, out,
			       &out_len);
		if (cases[i].verdict != XDP_TX)
			continue;
		check_bytes(out, out_len, want,
			     want_encap(want, in, len, backend_addr(v, fx_ring_owner(&fx, v, &f))),
			     cases[i].what);
	}
}

/* ---- decap round trip -------------------------------------------------- */

/*
 * What the balancer sends, fed to the backend's decap program, gives back
 * the client's packet byte for byte (MACs are those of the last hop).
 */
static void test_decap_round_trip(void **state)
{
	struct decap *dc = decap__open_and_load();
	struct {
		int vid;
		const char *client;
		__u16 vlan;
	} cases[] = {
		{ V_TCP4, "192.0.2.31", 0 }, { V_UDP4, "192.0.2.32", 9 },
		{ V_TCP6, "2001:db8::31", 0 }, { V_UDP6, "2001:db8::32", 9 },
	};
	__u32 one = 1;

	assert_non_null(dc);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fx_vip *v = &vips[cases[i].vid];
		struct pkt_spec s = flow_spec(v, cases[i].client, 6000 + i);
		__u8 in[BUF], mid[BUF], out[BUF];
		struct xlb_flow f;
		struct xlb_vip_addr_key key = { 0 };
		__u32 mid_len, out_len;
		size_t len;

		s.vlan = cases[i].vlan;
		f = pkt_flow(&s);
		len = pkt_build(in, sizeof(in), &s);
		assert_int_equal(run(in, len, mid, &mid_len), XDP_TX);

		/* The backend host owns the outer destination. */
		assert_int_equal(pkt_addr(&key.addr, &key.family,
					  backend_addr(v, fx_ring_owner(&fx, v, &f))), 0);
		assert_int_equal(bpf_map__update_elem(dc->maps.decap_addrs, &key, sizeof(key), &one,
						      sizeof(one), BPF_ANY), 0);
		{
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = mid, .data_size_in = mid_len,
				    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

			assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(dc->progs.xlb_decap),
								&opts), 0);
			assert_int_equal(opts.retval, XDP_PASS);
			out_len = opts.data_size_out;
		}
		memcpy(in, mid, 12); /* MACs of the balancer -> backend hop */
		check_bytes(out, out_len, in, len, "decapsulated frame is the client's frame");
	}
	decap__destroy(dc);
}

/* ---- counters --------------------------------------------------------- */

static void test_counters(void **state)
{
	const struct fx_vip *v = &vips[V_UDP4];
	struct xlb_vip_stats vb, va;
	struct xlb_backend_stats bb[3], ba[3];
	__u64 bytes = 0, total = 0;

	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &vb), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(dp_backend_stats(&fx.dp, v->backends[i].id, &bb[i]), 0);
	for (__u16 port = 7000; port < 7010; port++) {
		struct pkt_spec s = flow_spec(v, "192.0.2.55", port);
		struct xlb_flow f = pkt_flow(&s);
		__u8 in[BUF];

		bytes += 2 * pkt_build(in, sizeof(in), &s);
		send_flow(v, &s, fx_ring_owner(&fx, v, &f));
		send_flow(v, &s, fx_ring_owner(&fx, v, &f));
	}
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &va), 0);
	assert_int_equal(va.packets - vb.packets, 20);
	assert_int_equal(va.new_flows - vb.new_flows, 10);
	assert_int_equal(va.bytes - vb.bytes, bytes);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dp_backend_stats(&fx.dp, v->backends[i].id, &ba[i]), 0);
		total += ba[i].packets - bb[i].packets;
	}
	assert_int_equal(total, 20);
}

static int group_setup(void **state)
{
	return fx_setup_vips(&fx, vips + 1, V_COUNT - 1);
}

static int group_teardown(void **state)
{
	fx_teardown(&fx);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_tcp),
		cmocka_unit_test(test_ipv4_udp),
		cmocka_unit_test(test_ipv6_tcp),
		cmocka_unit_test(test_ipv6_udp),
		cmocka_unit_test(test_vlan_tagged),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_all_ports_vip),
		cmocka_unit_test(test_redirect_other_interface),
		cmocka_unit_test(test_l2_rewrite),
		cmocka_unit_test(test_non_vip_passed_unchanged),
		cmocka_unit_test(test_conn_survives_drain),
		cmocka_unit_test(test_conn_seen_from_other_cpu),
		cmocka_unit_test(test_rehash_when_down),
		cmocka_unit_test(test_removed_backend_id_not_followed),
		cmocka_unit_test(test_same_tuple_same_backend),
		cmocka_unit_test(test_syn_does_not_bind),
		cmocka_unit_test(test_syn_follows_its_entry),
		cmocka_unit_test(test_older_builds_entries_moved),
		cmocka_unit_test(test_ipv4_conn_hash_is_maglev),
		cmocka_unit_test(test_hash_src),
		cmocka_unit_test(test_no_neighbour_goes_to_kernel),
		cmocka_unit_test(test_drops_counted),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_icmp_too_big),
		cmocka_unit_test(test_icmp_too_big_bad_quote),
		cmocka_unit_test(test_ipv6_extension_chains),
		cmocka_unit_test(test_bad_checksum_and_ttl),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_decap_round_trip),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests_name("xlb data plane", tests, group_setup, group_teardown);
}
