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

enum { V_TCP4 = 1, V_UDP4, V_TCP6, V_UDP6, V_ALL4, V_SMALL, V_TWOARM, V_RATE, V_COUNT };

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
	/* Two packets per source, then a second's wait. */
	[V_RATE] = { .addr = "10.30.0.5", .port = 80, .proto = IPPROTO_TCP,
		     .method = XLB_METHOD_NAT, .id = V_RATE, .ring_size = 1021,
		     .backends = { { "10.0.0.2", 1, 0, 8080 } }, .n = 1, .rate = 1, .burst = 2 },
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
	{ V_RATE, "10.0.0.1", XLB_NAT_PORT_LO, XLB_NAT_PORT_HI },
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
	struct pkt_spec s = pkt_flow_spec(proto, src, sport, dst, dport, smac, dmac);

	s.payload_len = 100;
	s.tos = 0x28;
	s.ip_id = 0x1234;
	s.frag = s.family == XLB_AF_INET ? PKT_IP_DF : 0;
	s.ttl = 61;
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

static void nat_del(const struct xlb_flow *key)
{
	assert_int_equal(bpf_map__delete_elem(fx.dp.skel->maps.nat, key, sizeof(*key), 0), 0);
}

static unsigned int nat_entries(void)
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
		      ntohs(fwd.dport) == c->bport && !(fwd.flags & XLB_NAT_TO_CLIENT) &&
		      fwd.seen == fx.dp.cfg.now && fwd.vip_id == (__u32)v->id &&
		      fwd.backend_id == v->backends[0].id,
	      "%s: to-backend entry (src %s, dport %u, flags %#x, seen %u, vip %u, backend %u)",
	      c->what, inet_ntoa((struct in_addr){ fwd.src.v4 }), ntohs(fwd.dport), fwd.flags,
	      fwd.seen, fwd.vip_id, fwd.backend_id);

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
		      (rev.flags & XLB_NAT_TO_CLIENT) && rev.ifindex == (__u32)fx.if0 &&
		      !memcmp(rev.dmac, MAC_CLIENT, 6) && !memcmp(rev.smac, MAC_XLB0, 6) &&
		      rev.backend_id == fwd.backend_id && rev.gen == fwd.gen,
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

/* ---- TCP flags and seen ----------------------------------------------- */

static void config_now(__u32 now)
{
	struct xlb_config cfg = fx.dp.cfg;

	cfg.now = now;
	assert_int_equal(dp_config_set(&fx.dp, &cfg), 0);
}

static struct xlb_nat entry_of(const struct pkt_spec *s)
{
	struct xlb_flow k = flow_of(s);
	struct xlb_nat v;

	assert_int_equal(nat_get(&k, &v), 0);
	return v;
}

/* The to-client entry of the flow whose to-backend entry is fwd (the partner rule). */
static struct xlb_nat partner_of(const struct xlb_nat *fwd, __u8 proto, __u8 family)
{
	struct xlb_flow k = { .src = fwd->dst, .dst = fwd->src, .sport = fwd->dport,
			      .dport = fwd->sport, .proto = proto, .family = family };
	struct xlb_nat v;

	assert_int_equal(nat_get(&k, &v), 0);
	return v;
}

static void test_tcp_flags_and_seen(void **state)
{
	const struct nat_case c = { "flags", V_TCP4, CLIENT4, 41001, 80, 8080,
				    "\x02\x00\x00\x00\x00\x02", MAC_XLB0, 0 };
	struct pkt_spec s;
	struct xlb_nat fwd, rev;
	__u16 port;

	/* A SYN creates the flow: the SYN-ACK must find its way back. */
	port = nat_forward(&c, PKT_TCP_SYN, &s);
	nat_reply(&c, port, PKT_TCP_SYN | PKT_TCP_ACK);

	/* seen follows xlb_config.now, each direction its own entry. */
	config_now(NOW + 7);
	nat_forward(&c, 0, NULL);
	fwd = entry_of(&s);
	rev = partner_of(&fwd, IPPROTO_TCP, XLB_AF_INET);
	check(fwd.seen == NOW + 7 && rev.seen == NOW, "seen %u / %u", fwd.seen, rev.seen);
	nat_reply(&c, port, 0);
	rev = partner_of(&fwd, IPPROTO_TCP, XLB_AF_INET);
	check(rev.seen == NOW + 7, "reply seen %u", rev.seen);
	config_now(NOW);

	/* FIN one way, then the other: each direction's entry records its own. */
	nat_forward(&c, PKT_TCP_FIN | PKT_TCP_ACK, NULL);
	fwd = entry_of(&s);
	rev = partner_of(&fwd, IPPROTO_TCP, XLB_AF_INET);
	check(fwd.flags == XLB_NAT_FIN && rev.flags == XLB_NAT_TO_CLIENT,
	      "client FIN: flags %#x / %#x", fwd.flags, rev.flags);
	nat_reply(&c, port, PKT_TCP_FIN | PKT_TCP_ACK);
	rev = partner_of(&fwd, IPPROTO_TCP, XLB_AF_INET);
	check(rev.flags == (XLB_NAT_TO_CLIENT | XLB_NAT_FIN), "backend FIN: flags %#x", rev.flags);

	/* A RST on another flow. */
	{
		const struct nat_case r = { "rst", V_TCP4, CLIENT4, 41002, 80, 8080,
					    "\x02\x00\x00\x00\x00\x02", MAC_XLB0, 0 };

		port = nat_forward(&r, 0, &s);
		nat_reply(&r, port, PKT_TCP_RST);
		fwd = entry_of(&s);
		rev = partner_of(&fwd, IPPROTO_TCP, XLB_AF_INET);
		check(fwd.flags == 0 && rev.flags == (XLB_NAT_TO_CLIENT | XLB_NAT_RST),
		      "backend RST: flags %#x / %#x", fwd.flags, rev.flags);
		nat_forward(&r, PKT_TCP_RST, NULL);
		fwd = entry_of(&s);
		check(fwd.flags == XLB_NAT_RST, "client RST: flags %#x", fwd.flags);
	}
}

/* ---- ports ------------------------------------------------------------ */

static void test_pool_exhaustion(void **state)
{
	const struct fx_vip *v = &vips[V_SMALL];
	struct nat_case c = { "small pool", V_SMALL, CLIENT4, 0, 80, 80,
			      "\x02\x00\x00\x00\x00\x02", MAC_XLB0, 0 };
	struct xlb_outcomes before, after;
	struct xlb_vip_stats vs0, vs1;
	struct pkt_spec s[4], extra;
	__u8 in[BUF], out[BUF];
	unsigned int taken = 0;
	struct xlb_nat fwd;
	struct xlb_flow k;
	__u32 out_len;
	size_t len;

	/* Four flows take the four ports, each once. */
	for (int i = 0; i < 4; i++) {
		__u16 port;

		c.cport = 42000 + i;
		port = nat_forward(&c, 0, &s[i]);
		check(!(taken & 1U << (port - 2000)), "port %u handed out twice", port);
		taken |= 1U << (port - 2000);
	}
	check(taken == 0xf, "ports 2000-2003 all taken: %#x", taken);

	/* The fifth is dropped and counted, nothing inserted. */
	extra = frame(IPPROTO_TCP, CLIENT4, 42100, v->addr, 80, MAC_CLIENT, MAC_XLB0);
	len = pkt_build(in, sizeof(in), &extra);
	outcomes(&before);
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &vs0), 0);
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_DROP);
	outcomes(&after);
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &vs1), 0);
	check(after.drop_nat_no_port - before.drop_nat_no_port == 1, "drop_nat_no_port counted");
	check(vs1.drops - vs0.drops == 1, "a drop of the VIP");
	k = flow_of(&extra);
	check(nat_get(&k, &fwd) != 0, "no entry for the refused flow");

	/* The established ones keep working, on their ports. */
	for (int i = 0; i < 4; i++) {
		c.cport = 42000 + i;
		fwd = entry_of(&s[i]);
		check(nat_forward(&c, 0, NULL) == ntohs(fwd.sport), "flow %d keeps its port", i);
	}

	/* The sweeper ends flow 2 (both entries): its port is the next flow's. */
	fwd = entry_of(&s[2]);
	k = (struct xlb_flow){ .src = fwd.dst, .dst = fwd.src, .sport = fwd.dport,
			       .dport = fwd.sport, .proto = IPPROTO_TCP, .family = XLB_AF_INET };
	nat_del(&k);
	k = flow_of(&s[2]);
	nat_del(&k);
	c.cport = 42100;
	check(nat_forward(&c, 0, NULL) == ntohs(fwd.sport), "freed port %u reused",
	      ntohs(fwd.sport));
}

/*
 * The map full: a new flow is dropped (drop_nat_full) and leaves nothing
 * behind, also when only its first entry found room.
 */
static void test_map_full(void **state)
{
	struct bpf_map *map = fx.dp.skel->maps.nat;
	const struct fx_vip *v = &vips[V_UDP4];
	struct xlb_outcomes before, after;
	struct xlb_nat dummy = { 0 };
	struct pkt_spec s;
	__u8 in[BUF], out[BUF];
	unsigned int filled = 0, n0;
	struct xlb_flow k = { .proto = IPPROTO_UDP, .family = XLB_AF_INET };
	__u32 out_len;
	size_t len;

	k.src.v4 = htonl(0x0a630000);	/* 10.99.x.x: no flow of ours */
	for (;;) {
		k.sport = htons(filled & 0xffff);
		k.dport = htons(filled >> 16);
		if (bpf_map__update_elem(map, &k, sizeof(k), &dummy, sizeof(dummy), BPF_NOEXIST))
			break;
		filled++;
	}
	check(errno == E2BIG && filled > 0, "filled %u entries, then %s", filled, strerror(errno));
	n0 = nat_entries();

	for (int room = 0; room < 2; room++) {
		/* room 1: one entry free, the to-client one fits, the to-backend one not. */
		if (room) {
			filled--;
			k.sport = htons(filled & 0xffff);
			k.dport = htons(filled >> 16);
			nat_del(&k);
			n0--;
		}
		s = frame(IPPROTO_UDP, CLIENT4, 43000 + room, v->addr, 53, MAC_CLIENT, MAC_XLB0);
		len = pkt_build(in, sizeof(in), &s);
		outcomes(&before);
		assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_DROP);
		outcomes(&after);
		check(after.drop_nat_full - before.drop_nat_full == 1, "room %d: drop_nat_full", room);
		check(nat_entries() == n0, "room %d: nothing left behind (%u entries, %u before)",
		      room, nat_entries(), n0);
	}

	while (filled--) {
		k.sport = htons(filled & 0xffff);
		k.dport = htons(filled >> 16);
		nat_del(&k);
	}
	/* Room again: the same flow goes through. */
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_TX);
}

/* ---- replies and validation ------------------------------------------- */

/* To a pool address, no entry: the host's own packet, passed untouched. */
static void test_reply_without_entry(void **state)
{
	struct pkt_spec r = frame(IPPROTO_TCP, "10.0.0.2", 8080, "10.0.0.1", 2999,
				  "\x02\x00\x00\x00\x00\x02", MAC_XLB0);
	struct xlb_outcomes before, after;
	__u8 in[BUF], out[BUF];
	__u32 out_len;
	size_t len = pkt_build(in, sizeof(in), &r);

	outcomes(&before);
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_PASS);
	outcomes(&after);
	check_bytes(out, out_len, in, len, "reply without an entry");
	check(after.pass_not_vip - before.pass_not_vip == 1, "pass_not_vip counted");
}

static void backend_gen(const struct fx_vip *v, __u32 gen)
{
	struct xlb_backend be = { 0 };
	__u8 family;

	assert_int_equal(pkt_addr(&be.addr, &be.family, v->backends[0].addr), 0);
	(void)family;
	be.vip_id = v->id;
	be.gen = gen;
	be.flags = XLB_BACKEND_ACTIVE;
	be.port = htons(v->backends[0].port);
	assert_int_equal(dp_backend_set(&fx.dp, v->backends[0].id, &be), 0);
}

/*
 * An entry whose backend was deleted (its id handed out again: another
 * gen) or is marked down: the client's next packet is a new flow, the
 * backend's reply to the stale entry is the host's.
 */
static void test_stale_entries(void **state)
{
	const struct fx_vip *v = &vips[V_UDP6];
	const struct nat_case c = { "stale", V_UDP6, CLIENT6, 44001, 53, 53,
				    "\x02\x00\x00\x00\x00\x03", MAC_XLB0, 0 };
	struct pkt_spec s, r;
	struct xlb_vip_stats a, b;
	struct xlb_nat fwd, old;
	__u8 in[BUF], out[BUF];
	__u32 out_len;
	size_t len;
	__u16 port;

	port = nat_forward(&c, 0, &s);
	old = entry_of(&s);

	/* A reply to the stale entry: passed, untouched. */
	backend_gen(v, 2);
	r = frame(IPPROTO_UDP, v->backends[0].addr, 53, "fd00::1", port,
		  "\x02\x00\x00\x00\x00\x03", MAC_XLB0);
	len = pkt_build(in, sizeof(in), &r);
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_PASS);
	check_bytes(out, out_len, in, len, "reply to a stale entry");

	/* The client's next packet: a new flow on the backend as it is now. */
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &a), 0);
	nat_forward(&c, 0, NULL);
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &b), 0);
	fwd = entry_of(&s);
	check(fwd.gen == 2 && old.gen == 1 && b.new_flows - a.new_flows == 1,
	      "re-created: gen %u (was %u), new flows +%llu", fwd.gen, old.gen,
	      (unsigned long long)(b.new_flows - a.new_flows));
	check(partner_of(&fwd, IPPROTO_UDP, XLB_AF_INET6).gen == 2, "to-client entry re-created");

	/* Marked down: a new flow again (the ring here still names it). */
	assert_int_equal(dp_health_set(&fx.dp, v->backends[0].id, XLB_HEALTH_DOWN), 0);
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &a), 0);
	nat_forward(&c, 0, NULL);
	assert_int_equal(dp_vip_stats(&fx.dp, v->id, &b), 0);
	check(b.new_flows - a.new_flows == 1, "down backend: a new flow");
	assert_int_equal(dp_health_set(&fx.dp, v->backends[0].id, XLB_HEALTH_UP), 0);
	backend_gen(v, 1);
}

/* The per-source limit holds for a nat VIP's clients, new flow and established; replies pass. */
static void test_rate_limit(void **state)
{
	const struct nat_case c = { "rate", V_RATE, CLIENT4, 46001, 80, 8080,
				    "\x02\x00\x00\x00\x00\x02", MAC_XLB0, 0 };
	const struct fx_vip *v = &vips[V_RATE];
	struct pkt_spec s = frame(IPPROTO_TCP, CLIENT4, 46001, v->addr, 80, MAC_CLIENT, MAC_XLB0);
	struct xlb_outcomes before, after;
	__u8 in[BUF], out[BUF];
	__u32 out_len;
	size_t len = pkt_build(in, sizeof(in), &s);
	__u16 port;

	port = nat_forward(&c, 0, NULL);
	nat_forward(&c, 0, NULL);
	outcomes(&before);
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_DROP);
	outcomes(&after);
	check(after.drop_ratelimit - before.drop_ratelimit == 1, "third packet over the limit");
	nat_reply(&c, port, 0);
	nat_reply(&c, port, 0);
	nat_reply(&c, port, 0);
}

/* ---- ICMP errors ------------------------------------------------------ */

/* An ICMP error from src to dst quoting the first qlen bytes of the L3 packet q. */
static size_t icmp_error(__u8 *buf, const char *src, const char *dst, const __u8 *q, size_t qlen,
			 const char *smac, const char *dmac)
{
	int v6 = family_of(src) == XLB_AF_INET6;
	struct pkt_spec e = pkt_flow_spec(v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, src, 0, dst, 0, smac,
					  dmac);

	e.icmp_type = v6 ? 2 : 3;
	e.icmp_code = v6 ? 0 : 4;
	e.icmp_mtu = 1400;
	e.inner = q;
	e.inner_len = qlen;
	e.ttl = 60;
	return pkt_build(buf, BUF, &e);
}

/*
 * Too-big errors about a NATed flow, both ways, quoting 8 bytes of L4 or
 * the whole packet: the client gets one from the VIP quoting its own
 * packet; the backend one from the pool address quoting its reply as it
 * sent it. Frames and checksums built from scratch.
 */
static void check_icmp(const struct nat_case *c, const char *router, size_t quote_l4)
{
	const struct fx_vip *v = &vips[c->vip];
	int p = pool_of(c->vip), v6 = family_of(c->client) == XLB_AF_INET6;
	size_t l3h = v6 ? PKT_IPV6_LEN : PKT_IPV4_LEN, ql;
	struct pkt_spec cs, natted, reply, back;
	__u8 q[BUF], q2[BUF], in[BUF], out[BUF], want[BUF];
	struct xlb_outcomes before, after;
	size_t len, wlen;
	__u32 out_len;
	__u16 port;

	port = nat_forward(c, 0, &cs);
	natted = frame(v->proto, pools[p].addr, port, v->backends[0].addr, c->bport, MAC_XLB0,
		       c->be_mac);
	/* From the backend's side: a router says the NATed packet was too big. */
	ql = l3h + quote_l4;
	assert_true(pkt_build_l3(q, sizeof(q), &natted) >= ql);
	len = icmp_error(in, router, pools[p].addr, q, ql, c->be_mac, MAC_XLB0);
	outcomes(&before);
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_TX);
	outcomes(&after);
	check(after.icmp_nat - before.icmp_nat == 1, "icmp_nat counted");
	assert_true(pkt_build_l3(q2, sizeof(q2), &cs) >= ql);
	wlen = icmp_error(want, v->addr, c->client, q2, ql, MAC_XLB0, MAC_CLIENT);
	check_bytes(out, out_len, want, wlen, "error to the client");
	check_csums(out, out_len, natted.family, "error to the client");

	/* From the client's side: its router says our reply was too big. */
	reply = frame(v->proto, v->addr, c->vport, c->client, c->cport, MAC_XLB0, MAC_CLIENT);
	assert_true(pkt_build_l3(q, sizeof(q), &reply) >= ql);
	len = icmp_error(in, v6 ? "2001:db8::1" : "192.0.2.1", v->addr, q, ql, MAC_CLIENT,
			 MAC_XLB0);
	assert_int_equal(run_on(fx.if0, in, len, out, &out_len), XDP_TX);
	back = frame(v->proto, v->backends[0].addr, c->bport, pools[p].addr, port, c->be_mac,
		     MAC_XLB0);
	assert_true(pkt_build_l3(q2, sizeof(q2), &back) >= ql);
	wlen = icmp_error(want, pools[p].addr, v->backends[0].addr, q2, ql, MAC_XLB0, c->be_mac);
	check_bytes(out, out_len, want, wlen, "error to the backend");
	check_csums(out, out_len, natted.family, "error to the backend");
}

static void test_icmp_errors(void **state)
{
	static const struct nat_case icmp_cases[] = {
		{ "icmp tcp4", V_TCP4, CLIENT4, 45001, 80, 8080, "\x02\x00\x00\x00\x00\x02",
		  MAC_XLB0, 0 },
		{ "icmp udp4", V_UDP4, CLIENT4, 45002, 53, 53, "\x02\x00\x00\x00\x00\x03",
		  MAC_XLB0, 0 },
		{ "icmp tcp6", V_TCP6, CLIENT6, 45003, 443, 8443, "\x02\x00\x00\x00\x00\x02",
		  MAC_XLB0, 0 },
		{ "icmp udp6", V_UDP6, CLIENT6, 45004, 53, 53, "\x02\x00\x00\x00\x00\x03",
		  MAC_XLB0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(icmp_cases); i++) {
		const char *router = family_of(icmp_cases[i].client) == XLB_AF_INET6 ? "fd00::9" :
											"10.0.0.9";

		/* 8 bytes of L4 (no TCP checksum quoted), then the whole packet. */
		check_icmp(&icmp_cases[i], router, 8);
		check_icmp(&icmp_cases[i], router,
			   (icmp_cases[i].vip == V_TCP4 || icmp_cases[i].vip == V_TCP6 ?
				    PKT_TCP_LEN : PKT_UDP_LEN) + 100);
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
	return dp_config_set(&fx.dp, &cfg) ? -1 : 0;
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
		cmocka_unit_test(test_tcp_flags_and_seen),
		cmocka_unit_test(test_pool_exhaustion),
		cmocka_unit_test(test_map_full),
		cmocka_unit_test(test_reply_without_entry),
		cmocka_unit_test(test_stale_entries),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_icmp_errors),
	};

	return cmocka_run_group_tests_name("NAT", tests, group_setup, group_teardown);
}
