// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Full NAT (method nat) through BPF_PROG_TEST_RUN: the output bytes of both
 * directions against frames built from scratch by tests/lib/pkt.c (whose
 * checksums are computed over the whole packet, not updated), the `nat`
 * entries the data plane writes, port allocation and exhaustion, a full
 * map, FIN/RST flags, ICMP error translation both ways, and the rules for
 * replies without an entry and for entries whose backend went away. Needs
 * root.
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include "fixture.h"
#include "pkt.h"
#include "check.h"
#include "xlb_hash.h"
#include "xlb.skel.h"

#define CLIENT4 "192.0.2.10"
#define CLIENT6 "2001:db8::10"
#define MAC_CLIENT "\x02\x00\x00\x00\x00\xc1"
#define MAC_XLB0 "\x02\x00\x00\x00\x00\xa0"
#define MAC_XLB2 "\x02\x00\x00\x00\x00\xa2"
#define BUF 4096
#define NOW 1000	/* xlb_config.now the tests run at */

static struct fixture fx;

enum { V_TCP4 = 1, V_UDP4, V_TCP6, V_UDP6, V_ALL4, V_SMALL, V_TWOARM, V_COUNT };

static struct fx_vip vips[V_COUNT] = {
	/* Port mapping: VIP :80 to the backend's :8080. */
	[V_TCP4] = { .addr = "10.30.0.1", .port = 80, .proto = IPPROTO_TCP,
		     .method = XLB_METHOD_NAT, .id = V_TCP4, .ring_size = 1021,
		     .backends = { { "10.0.0.2", 1, 0, 8080 } }, .n = 1 },
	/* No backend port: the packet's own. */
	[V_UDP4] = { .addr = "10.30.0.1", .port = 53, .proto = IPPROTO_UDP,
		     .method = XLB_METHOD_NAT, .id = V_UDP4, .ring_size = 1021,
		     .backends = { { "10.0.0.3", 1 } }, .n = 1 },
	[V_TCP6] = { .addr = "fd30::1", .port = 443, .proto = IPPROTO_TCP,
		     .method = XLB_METHOD_NAT, .id = V_TCP6, .ring_size = 1021,
		     .backends = { { "fd00::2", 1, 0, 8443 } }, .n = 1 },
	[V_UDP6] = { .addr = "fd30::1", .port = 53, .proto = IPPROTO_UDP,
		     .method = XLB_METHOD_NAT, .id = V_UDP6, .ring_size = 1021,
		     .backends = { { "fd00::3", 1 } }, .n = 1 },
	/* All ports, backend port 0: the client's destination port goes through. */
	[V_ALL4] = { .addr = "10.30.0.2", .port = 0, .proto = IPPROTO_UDP,
		     .method = XLB_METHOD_NAT, .id = V_ALL4, .ring_size = 1021,
		     .backends = { { "10.0.0.4", 1 } }, .n = 1 },
	/* Four ports in the pool: exhaustion. */
	[V_SMALL] = { .addr = "10.30.0.3", .port = 80, .proto = IPPROTO_TCP,
		      .method = XLB_METHOD_NAT, .id = V_SMALL, .ring_size = 1021,
		      .backends = { { "10.0.0.2", 1, 0, 80 } }, .n = 1 },
	/* Two-arm: backends behind xlb2, replies come in there and go out xlb0. */
	[V_TWOARM] = { .addr = "10.30.0.4", .port = 80, .proto = IPPROTO_TCP,
		       .method = XLB_METHOD_NAT, .id = V_TWOARM, .ring_size = 1021,
		       .backends = { { "10.1.0.2", 1, 0, 8080 } }, .n = 1 },
};

static const struct {
	int vip;
	const char *addr;
	__u16 lo, hi;
} pools[] = {
	{ V_TCP4, "10.0.0.1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
	{ V_UDP4, "10.0.0.1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
	{ V_TCP6, "fd00::1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
	{ V_UDP6, "fd00::1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
	{ V_ALL4, "10.0.0.1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
	{ V_SMALL, "10.0.0.1", 2000, 2003 },
	{ V_TWOARM, "10.1.0.1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
};

/* ---- helpers ---------------------------------------------------------- */

static __u32 run_on(int ifindex, const __u8 *in, size_t len, __u8 *out, __u32 *out_len)
{
	__u32 verdict = ~0U;

	*out_len = BUF;
	assert_int_equal(fx_run_on(&fx, ifindex, in, len, out, out_len, &verdict), 0);
	return verdict;
}

static int family_of(const char *addr)
{
	return strchr(addr, ':') ? XLB_AF_INET6 : XLB_AF_INET;
}

/* A frame of the flow src:sport -> dst:dport, proto, from smac to dmac. */
static struct pkt_spec frame(__u8 proto, const char *src, __u16 sport, const char *dst,
			     __u16 dport, const char *smac, const char *dmac)
{
	struct pkt_spec s = {
		.family = family_of(src),
		.src = src,
		.dst = dst,
		.proto = proto,
		.sport = sport,
		.dport = dport,
		.payload_len = 100,
		.tos = 0x28,
		.ip_id = 0x1234,
		.frag = family_of(src) == XLB_AF_INET ? PKT_IP_DF : 0,
		.ttl = 61,
	};

	memcpy(s.smac, smac, 6);
	memcpy(s.dmac, dmac, 6);
	return s;
}

static struct xlb_flow flow_of(const struct pkt_spec *s)
{
	return pkt_flow(s);
}

static int nat_get(const struct xlb_flow *key, struct xlb_nat *v)
{
	return bpf_map__lookup_elem(fx.dp.skel->maps.nat, key, sizeof(*key), v, sizeof(*v), 0);
}

static __attribute__((unused)) void nat_del(const struct xlb_flow *key)
{
	assert_int_equal(bpf_map__delete_elem(fx.dp.skel->maps.nat, key, sizeof(*key), 0), 0);
}

static __attribute__((unused)) unsigned int nat_entries(void)
{
	struct xlb_flow k, next;
	unsigned int n = 0;
	void *prev = NULL;

	while (!bpf_map__get_next_key(fx.dp.skel->maps.nat, prev, &next, sizeof(next))) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

static void outcomes(struct xlb_outcomes *o)
{
	assert_int_equal(dp_outcomes(&fx.dp, o), 0);
}

static struct xlb_addr addr_of(const char *s)
{
	struct xlb_addr a;
	__u8 family;

	assert_int_equal(pkt_addr(&a, &family, s), 0);
	return a;
}

static __attribute__((unused)) __u16 port_at(const __u8 *frame, size_t l4, int which)
{
	return (__u16)(frame[l4 + 2 * which] << 8 | frame[l4 + 2 * which + 1]);
}

static size_t l4_off(const struct pkt_spec *s)
{
	return PKT_ETH_LEN + (s->family == XLB_AF_INET ? PKT_IPV4_LEN : PKT_IPV6_LEN);
}

/* The checksums as the receiver checks them, from scratch, independent of any expected frame. */
static void check_csums(const __u8 *out, __u32 len, int family, const char *what)
{
	if (family == XLB_AF_INET)
		check(pkt_ipv4_csum_ok(out + PKT_ETH_LEN), "%s: IPv4 header checksum", what);
	check(pkt_l4_csum_ok(out + PKT_ETH_LEN, len - PKT_ETH_LEN), "%s: L4 checksum", what);
}

/* ---- the round trip --------------------------------------------------- */

/*
 * One flow of a nat VIP both ways: what a client sends, what the backend
 * must receive, what the backend answers and what the client must receive.
 */
struct nat_case {
	const char *what;
	int vip;
	const char *client;
	__u16 cport;
	__u16 vport;		/* the client's destination port (an all-ports VIP's choice) */
	__u16 bport;		/* what the backend must see */
	const char *be_mac;	/* the backend's next hop */
	const char *egress_mac;	/* our interface towards it */
	int reply_if;		/* 0: xlb0, 2: xlb2 */
	bool udp_csum0;		/* IPv4 UDP without a checksum */
};

static const struct nat_case cases[] = {
	{ "ipv4 tcp, port mapped", V_TCP4, CLIENT4, 40001, 80, 8080,
	  "\x02\x00\x00\x00\x00\x02", MAC_XLB0, 0 },
	{ "ipv4 udp", V_UDP4, CLIENT4, 40002, 53, 53, "\x02\x00\x00\x00\x00\x03", MAC_XLB0, 0 },
	{ "ipv4 udp, no checksum", V_UDP4, CLIENT4, 40012, 53, 53, "\x02\x00\x00\x00\x00\x03",
	  MAC_XLB0, 0, true },
	{ "ipv6 tcp, port mapped", V_TCP6, CLIENT6, 40003, 443, 8443,
	  "\x02\x00\x00\x00\x00\x02", MAC_XLB0, 0 },
	{ "ipv6 udp", V_UDP6, CLIENT6, 40004, 53, 53, "\x02\x00\x00\x00\x00\x03", MAC_XLB0, 0 },
	{ "ipv4 udp, all-ports VIP, port 0 backend", V_ALL4, CLIENT4, 40005, 5353, 5353,
	  "\x02\x00\x00\x00\x00\x04", MAC_XLB0, 0 },
	{ "ipv4 tcp, two-arm", V_TWOARM, CLIENT4, 40006, 80, 8080,
	  "\x02\x00\x00\x00\x01\x02", MAC_XLB2, 2 },
};

static int pool_of(int vip)
{
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++)
		if (pools[i].vip == vip)
			return (int)i;
	fail_msg("no pool for VIP %d", vip);
	return -1;
}

static void zero_udp_csum(__u8 *f, const struct pkt_spec *s)
{
	size_t l4 = l4_off(s);

	f[l4 + 6] = 0;
	f[l4 + 7] = 0;
}

/*
 * Send the client's packet, check the frame to the backend and both
 * entries; returns the allocated port. flags: the TCP flags to send.
 */
static __u16 nat_forward(const struct nat_case *c, __u8 tcp_flags, struct pkt_spec *client_spec)
{
	const struct fx_vip *v = &vips[c->vip];
	int p = pool_of(c->vip);
	struct pkt_spec s = frame(v->proto, c->client, c->cport, v->addr, c->vport, MAC_CLIENT,
				  MAC_XLB0), w;
	__u8 in[BUF], out[BUF], want[BUF];
	struct xlb_addr pool, be;
	struct xlb_nat fwd, rev;
	struct xlb_flow key, rkey;
	size_t len, wlen;
	__u32 out_len, verdict;
	__u16 natport;

	s.tcp_flags = tcp_flags;
	len = pkt_build(in, sizeof(in), &s);
	assert_true(len > 0);
	if (c->udp_csum0)
		zero_udp_csum(in, &s);
	verdict = run_on(fx.if0, in, len, out, &out_len);
	check(verdict == (c->reply_if ? XDP_REDIRECT : XDP_TX), "%s: client packet verdict %u",
	      c->what, verdict);

	/* The to-backend entry says where it went. */
	key = flow_of(&s);
	assert_int_equal(nat_get(&key, &fwd), 0);
	natport = ntohs(fwd.sport);
	check(natport >= pools[p].lo && natport <= pools[p].hi, "%s: port %u outside %u-%u",
	      c->what, natport, pools[p].lo, pools[p].hi);
	pool = addr_of(pools[p].addr);
	be = addr_of(v->backends[0].addr);
	check(!memcmp(&fwd.src, &pool, 16) && !memcmp(&fwd.dst, &be, 16) &&
		      ntohs(fwd.dport) == c->bport && fwd.flags == 0 && fwd.seen == NOW &&
		      fwd.vip_id == (__u32)v->id && fwd.backend_id == v->backends[0].id,
	      "%s: to-backend entry", c->what);

	/* The frame the backend gets, built from scratch. */
	w = frame(v->proto, pools[p].addr, natport, v->backends[0].addr, c->bport, c->egress_mac,
		  c->be_mac);
	w.tcp_flags = tcp_flags;
	wlen = pkt_build(want, sizeof(want), &w);
	if (c->udp_csum0)
		zero_udp_csum(want, &w);
	check_bytes(out, out_len, want, wlen, c->what);
	check_csums(out, out_len, s.family, c->what);

	/* The to-client entry, keyed by the reply's tuple. */
	rkey = flow_of(&(struct pkt_spec){ .src = v->backends[0].addr, .dst = pools[p].addr,
					   .sport = c->bport, .dport = natport,
					   .proto = v->proto });
	assert_int_equal(nat_get(&rkey, &rev), 0);
	check(!memcmp(&rev.src, &key.dst, 16) && !memcmp(&rev.dst, &key.src, 16) &&
		      rev.sport == key.dport && rev.dport == key.sport &&
		      rev.flags == XLB_NAT_TO_CLIENT && rev.ifindex == (__u32)fx.if0 &&
		      !memcmp(rev.dmac, MAC_CLIENT, 6) && !memcmp(rev.smac, MAC_XLB0, 6) &&
		      rev.seen == NOW && rev.backend_id == fwd.backend_id,
	      "%s: to-client entry", c->what);
	if (client_spec)
		*client_spec = s;
	return natport;
}

/* The backend's answer to natport, and what the client must get. */
static void nat_reply(const struct nat_case *c, __u16 natport, __u8 tcp_flags)
{
	const struct fx_vip *v = &vips[c->vip];
	int p = pool_of(c->vip);
	struct pkt_spec r = frame(v->proto, v->backends[0].addr, c->bport, pools[p].addr, natport,
				  c->be_mac, c->egress_mac), w;
	__u8 in[BUF], out[BUF], want[BUF];
	struct xlb_outcomes before, after;
	__u32 out_len, verdict;
	size_t len, wlen;

	r.tcp_flags = tcp_flags;
	r.payload_len = 333;
	r.ttl = 63;
	len = pkt_build(in, sizeof(in), &r);
	if (c->udp_csum0)
		zero_udp_csum(in, &r);
	outcomes(&before);
	verdict = run_on(c->reply_if ? fx.if2 : fx.if0, in, len, out, &out_len);
	outcomes(&after);
	check(verdict == (c->reply_if ? XDP_REDIRECT : XDP_TX), "%s: reply verdict %u", c->what,
	      verdict);
	check(after.nat_replies - before.nat_replies == 1, "%s: nat_replies counted", c->what);

	w = frame(v->proto, v->addr, c->vport, c->client, c->cport, MAC_XLB0, MAC_CLIENT);
	w.tcp_flags = tcp_flags;
	w.payload_len = 333;
	w.ttl = 63;
	wlen = pkt_build(want, sizeof(want), &w);
	if (c->udp_csum0)
		zero_udp_csum(want, &w);
	check_bytes(out, out_len, want, wlen, c->what);
	check_csums(out, out_len, r.family, c->what);
}

static void test_round_trip(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		__u16 port = nat_forward(&cases[i], 0, NULL);

		nat_reply(&cases[i], port, 0);
		/* Established: the same port again, and the reply still goes back. */
		check(nat_forward(&cases[i], 0, NULL) == port, "%s: port kept", cases[i].what);
		nat_reply(&cases[i], port, 0);
	}
}

/* ---- setup ------------------------------------------------------------ */

/* Replies to pool addresses pass the prefilter (xlbd sets these bits, as for VIPs). */
static int filter_add_pools(void)
{
	struct bpf_map *map = fx.dp.skel->maps.filter;
	struct xlb_filter f;
	__u32 zero = 0, bit;

	if (bpf_map__lookup_elem(map, &zero, sizeof(zero), &f, sizeof(f), 0))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++) {
		struct xlb_addr a;
		__u8 family;

		if (pkt_addr(&a, &family, pools[i].addr))
			return -1;
		bit = xlb_filter_bit(&a);
		f.bits[bit / 64] |= 1ULL << (bit % 64);
	}
	return bpf_map__update_elem(map, &zero, sizeof(zero), &f, sizeof(f), 0);
}

static int group_setup(void **state)
{
	struct xlb_config cfg;
	__u32 zero = 0;

	if (fx_setup_vips(&fx, vips + 1, V_COUNT - 1))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++) {
		struct xlb_nat_pool pool = {
			.port_lo = pools[i].lo,
			.port_hi = pools[i].hi,
			.n_addrs = 1,
		};
		__u32 id = pools[i].vip;
		__u8 family;

		if (pkt_addr(&pool.addrs[0], &family, pools[i].addr) ||
		    bpf_map__update_elem(fx.dp.skel->maps.nat_pools, &id, sizeof(id), &pool,
					 sizeof(pool), 0)) {
			fprintf(stderr, "pool of VIP %u: %s\n", id, strerror(errno));
			return -1;
		}
	}
	if (filter_add_pools())
		return -1;
	cfg = fx.dp.cfg;
	cfg.flags |= XLB_CONFIG_NAT;
	cfg.now = NOW;
	/* Straight to the map: dp_config_set() keeps xlbd's own clock and flags. */
	if (bpf_map__update_elem(fx.dp.skel->maps.config, &zero, sizeof(zero), &cfg, sizeof(cfg), 0))
		return -1;
	fx.dp.cfg = cfg;
	return 0;
}

static int group_teardown(void **state)
{
	fx_teardown(&fx);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests_name("NAT", tests, group_setup, group_teardown);
}
