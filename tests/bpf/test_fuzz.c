// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet fuzzing of the balancer program: random and mutated frames through
 * the real object (BPF_PROG_TEST_RUN) loaded with a configuration like a
 * production one, each checked against properties that hold for any input:
 *
 *   - never XDP_ABORTED;
 *   - exactly one outcome counter that names a verdict moves, by one, and it
 *     names the verdict returned (pass_* / tx / redirect / drop_*);
 *   - XDP_PASS leaves the frame byte for byte as it was (pass_no_neigh
 *     excepted: that is an encapsulated packet handed to the kernel);
 *   - whatever is sent on (TX, REDIRECT, pass_no_neigh) is what a reference
 *     parser written here independently calls a well-formed packet to a VIP
 *     address and port, a fragment for a hash-src VIP, an ICMP too-big error
 *     with a well-formed quote of a VIP flow, or an echo request to a VIP
 *     address; an ipip frame has a valid outer IPv4 checksum, outer lengths
 *     that match, an outer destination that is one of the VIP's backends,
 *     and the input's IP packet inside byte for byte; an l2 frame differs
 *     from the input in the MACs only; an echo reply is the request with
 *     addresses swapped, TTL 64 and the reply type;
 *   - what the reference parser calls well-formed is never dropped as
 *     malformed nor passed as not ours;
 *   - nat VIPs (method nat), both directions: a client's packet leaves from
 *     the pool address and a port of its range to one of the VIP's backends
 *     at the backend's port; a backend's reply (a second generator sends
 *     replies to the flows the first one opened, and things near them)
 *     whose tuple the `nat` map holds goes to the client from the VIP as
 *     that entry says; ICMP errors about either direction are translated.
 *     Such a frame differs from the input only in addresses, ports and
 *     checksums, its IPv4 header checksum is valid, and its L4 (or ICMP)
 *     checksum is valid whenever the input's was.
 *
 * Reproducible: XLB_FUZZ_SEED=N sets the seed (printed at start, taken from
 * the clock otherwise), XLB_FUZZ_CASES=N the number of cases (default
 * 300000, a few seconds); case i draws from its own generator seeded by (seed, i), and
 * XLB_FUZZ_CASE=i runs that case alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <cmocka.h>
#include "fixture.h"
#include "pkt.h"
#include "check.h"
#include "xlb_hash.h"
#include "xlb.skel.h"

#define BUF 4096
#define FUZZ_CASES_DEFAULT 300000

static struct fixture fx;

enum {
	F_TCP4 = 1, F_UDP4, F_TCP6, F_UDP6, F_ALL4, F_ALL6, F_SRC4, F_SRC6, F_L2_4, F_L2_6,
	F_RATE, F_REDIRECT, F_NO_NEIGH, F_EMPTY, F_GUE4, F_GUE6, F_MIX4, F_NAT4, F_NAT6,
	F_COUNT,
};

#define B_V4 { { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3
#define B_V6 { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3
#define HSRC XLB_VIP_HASH_SRC

/* Every kind of VIP a configuration has: each port kind, method, hash, limit, next hop. */
static struct fx_vip vips[F_COUNT] = {
	[F_TCP4] = { "10.30.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_TCP4, B_V4 },
	[F_UDP4] = { "10.30.0.1", 53, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 1021, F_UDP4, B_V4 },
	[F_TCP6] = { "fd30::1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_TCP6, B_V6 },
	[F_UDP6] = { "fd30::1", 53, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 1021, F_UDP6, B_V6 },
	[F_ALL4] = { "10.30.0.2", 0, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_ALL4, B_V4 },
	[F_ALL6] = { "fd30::2", 0, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 1021, F_ALL6, B_V6 },
	[F_SRC4] = { "10.30.0.3", 4500, IPPROTO_UDP, XLB_METHOD_IPIP, HSRC, 1021, F_SRC4, B_V4 },
	[F_SRC6] = { "fd30::3", 443, IPPROTO_TCP, XLB_METHOD_IPIP, HSRC, 1021, F_SRC6, B_V6 },
	[F_L2_4] = { "10.30.0.4", 80, IPPROTO_TCP, XLB_METHOD_L2, 0, 1021, F_L2_4, B_V4 },
	[F_L2_6] = { "fd30::4", 53, IPPROTO_UDP, XLB_METHOD_L2, HSRC, 1021, F_L2_6, B_V6 },
	[F_RATE] = { "10.30.0.5", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_RATE, B_V4,
		     1000, 20 },
	[F_REDIRECT] = { "10.30.0.6", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_REDIRECT,
			 { { "10.1.0.2", 1 } }, 1 },
	[F_NO_NEIGH] = { "10.30.0.7", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_NO_NEIGH,
			 { { "10.0.0.9", 1 } }, 1 },
	[F_EMPTY] = { "fd30::8", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 1021, F_EMPTY, { { 0 } },
		      0 },
	[F_GUE4] = { "10.30.0.10", 0, IPPROTO_UDP, XLB_METHOD_GUE, HSRC, 1021, F_GUE4, B_V4,
		     .encap_port = 6080 },
	[F_GUE6] = { "fd30::a", 80, IPPROTO_TCP, XLB_METHOD_GUE, 0, 1021, F_GUE6, B_V6,
		     .encap_port = 5555 },
	/* IPv4 inside IPv4 and inside IPv6, by the backend the ring picks. */
	[F_MIX4] = { "10.30.0.11", 80, IPPROTO_TCP, XLB_METHOD_GUE, 0, 1021, F_MIX4,
		     { { "10.0.0.2", 1 }, { "fd00::3", 1 } }, 2, .encap_port = 6080 },
	/* Full NAT: mapped ports, and all ports with the packet's own. */
	[F_NAT4] = { "10.30.0.12", 80, IPPROTO_TCP, XLB_METHOD_NAT, 0, 1021, F_NAT4,
		     { { "10.0.0.2", 1, 0, 8080 }, { "10.0.0.3", 1, 0, 8081 } }, 2 },
	[F_NAT6] = { "fd30::c", 0, IPPROTO_UDP, XLB_METHOD_NAT, 0, 1021, F_NAT6,
		     { { "fd00::2", 1 }, { "fd00::3", 1 } }, 2 },
};

/* nat VIPs leave from the balancer's own addresses, the default range. */
#define NAT_POOL4 "10.0.0.1"
#define NAT_POOL6 "fd00::1"

/* The VIP table again, parsed, for the reference parser. */
static struct xlb_addr vip_addr[F_COUNT];
static __u8 vip_family[F_COUNT];

static const char *const clients4[] = {"192.0.2.1", "192.0.2.2", "198.51.100.7", "10.0.0.2"};
static const char *const clients6[] = {"2001:db8::1", "2001:db8::2", "2001:db8:1::7", "fd00::2"};
static const char *const others4[] = {"10.0.0.1", "10.30.0.9", "203.0.113.5", "10.30.0.1"};
static const char *const others6[] = {"fd00::1", "fd30::9", "2001:db8:ff::5", "fd30::1"};

/* ---- generator -------------------------------------------------------- */

struct rng {
	__u64 s;
};

/* splitmix64: one state word, good enough spread for test inputs. */
static __u64 rnd(struct rng *r)
{
	__u64 z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u32 below(struct rng *r, __u32 n)
{
	return (__u32)(rnd(r) % n);
}

static int chance(struct rng *r, __u32 percent)
{
	return below(r, 100) < percent;
}

static const char *client(struct rng *r, int v6)
{
	return v6 ? clients6[below(r, ARRAY_SIZE(clients6))] :
		    clients4[below(r, ARRAY_SIZE(clients4))];
}

/* Not the VIP at hand: the balancer's own address, a neighbour, another VIP. */
static const char *other(struct rng *r, int v6)
{
	return v6 ? others6[below(r, ARRAY_SIZE(others6))] :
		    others4[below(r, ARRAY_SIZE(others4))];
}

/* A port: the VIP's own most of the time, else anything. */
static __u16 some_port(struct rng *r, const struct fx_vip *v)
{
	if (v->port && chance(r, 80))
		return v->port;
	return chance(r, 50) ? below(r, 65536) : 1 + below(r, 1024);
}

static void random_ext(struct rng *r, struct pkt_spec *s)
{
	static const __u8 types[] = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS};

	s->n_ext = chance(r, 70) ? 0 : below(r, PKT_IPV6_EXT_MAX + 1);
	for (__u8 i = 0; i < s->n_ext; i++)
		s->ext[i] = i == 0 && chance(r, 50) ? IPPROTO_HOPOPTS : types[below(r, 3)];
}

/* A flow packet to one of the VIPs (or next to it), with the variations a network sends. */
static void random_flow(struct rng *r, struct pkt_spec *s, const struct fx_vip *v)
{
	int v6 = strchr(v->addr, ':') != NULL;

	s->family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
	s->src = client(r, v6);
	s->dst = v->addr;
	s->proto = chance(r, 90) ? v->proto : (v->proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP);
	s->sport = below(r, 65536);
	s->dport = some_port(r, v);
	s->tcp_flags = below(r, 0x20);
	s->payload_len = chance(r, 50) ? below(r, 64) : below(r, 1500);
	s->ttl = chance(r, 90) ? 0 : below(r, 3);
	s->tos = chance(r, 80) ? 0 : below(r, 256);
	s->flow_label = chance(r, 80) ? 0 : below(r, 0x100000);
	s->ip_id = below(r, 65536);
	if (chance(r, 10))
		s->frag = chance(r, 50) ? PKT_IP_MF : 1 + below(r, 200);
	else if (chance(r, 30))
		s->frag = PKT_IP_DF;
	if (v6 && s->frag == PKT_IP_DF)
		s->frag = 0;
	if (!v6 && chance(r, 15))
		s->ipv4_opt_len = 4 * below(r, 11);
	if (v6)
		random_ext(r, s);
}

/* An ICMP too-big error about the backend's reply in a flow of v; the quote may be garbage. */
static void random_too_big(struct rng *r, struct pkt_spec *s, const struct fx_vip *v, __u8 *quote)
{
	struct pkt_spec q = {0};
	int v6;
	size_t qlen;

	random_flow(r, &q, v);
	q.frag = 0;
	q.n_ext = 0;
	/* The reply: from the VIP to the client. */
	q.src = v->addr;
	v6 = q.family == XLB_AF_INET6;
	q.dst = client(r, v6);
	q.sport = some_port(r, v);
	q.dport = below(r, 65536);
	qlen = pkt_build_l3(quote, BUF, &q);
	s->family = q.family;
	s->src = v6 ? "2001:db8:ffff::1" : "203.0.113.1";
	s->dst = v->addr;
	if (chance(r, 10)) /* to another address, VIP or not, than the quote's source */
		s->dst = other(r, v6);
	s->proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	s->icmp_type = v6 ? 2 : 3;
	s->icmp_code = v6 ? 0 : 4;
	s->icmp_mtu = 1280;
	s->inner = quote;
	s->inner_len = chance(r, 60) ? qlen : below(r, qlen + 1);
	if (s->inner_len > 1200)
		s->inner_len = 1200;
	if (chance(r, 20)) /* garbage */
		for (size_t i = 0; i < s->inner_len; i++)
			quote[i] = rnd(r);
	else if (chance(r, 20) && s->inner_len)
		quote[below(r, s->inner_len < 48 ? s->inner_len : 48)] = rnd(r);
}

/*
 * Replies the backends of nat VIPs would send: the tuples of to-client
 * entries the program made (recorded from its output), newest over oldest.
 */
#define NAT_SEEN 64

static struct {
	struct pkt_spec s[NAT_SEEN];
	char src[NAT_SEEN][64], dst[NAT_SEEN][64];
	unsigned int n;
} nat_seen;

static void nat_seen_add(__u8 family, __u8 proto, const __u8 *src, const __u8 *dst,
			 __u16 sport, __u16 dport)
{
	unsigned int i = nat_seen.n++ % NAT_SEEN;
	int af = family == XLB_AF_INET ? AF_INET : AF_INET6;
	struct pkt_spec *s = &nat_seen.s[i];

	memset(s, 0, sizeof(*s));
	s->family = family;
	s->proto = proto;
	inet_ntop(af, src, nat_seen.src[i], sizeof(nat_seen.src[i]));
	inet_ntop(af, dst, nat_seen.dst[i], sizeof(nat_seen.dst[i]));
	s->src = nat_seen.src[i];
	s->dst = nat_seen.dst[i];
	s->sport = sport;
	s->dport = dport;
}

/*
 * The reverse direction of nat flows: a backend's reply to a pool address
 * (an open flow's, or near one), or an ICMP error to the pool address about
 * the packet the balancer sent to the backend.
 */
static void random_reply(struct rng *r, struct pkt_spec *s, __u8 *quote)
{
	struct pkt_spec t = nat_seen.s[below(r, nat_seen.n < NAT_SEEN ? nat_seen.n : NAT_SEEN)], q;
	size_t qlen;

	t.tcp_flags = below(r, 0x20);
	t.payload_len = chance(r, 50) ? below(r, 64) : below(r, 1500);
	t.ip_id = below(r, 65536);
	t.tos = chance(r, 80) ? 0 : below(r, 256);
	if (chance(r, 10))
		t.dport = below(r, 65536);
	if (chance(r, 5))
		t.sport = below(r, 65536);
	if (chance(r, 5))
		t.proto = t.proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP;
	if (chance(r, 5))
		t.frag = PKT_IP_MF;
	if (t.family == XLB_AF_INET && chance(r, 10))
		t.ipv4_opt_len = 4 * below(r, 11);
	if (chance(r, 75)) {
		memcpy(t.smac, s->smac, 6);
		memcpy(t.dmac, s->dmac, 6);
		*s = t;
		return;
	}
	/* The error quotes what we sent the backend: the reply's tuple turned around. */
	q = t;
	q.src = t.dst;
	q.dst = t.src;
	q.sport = t.dport;
	q.dport = t.sport;
	q.frag = 0;
	q.ipv4_opt_len = 0;
	qlen = pkt_build_l3(quote, BUF, &q);
	s->family = t.family;
	s->src = t.family == XLB_AF_INET6 ? "fd00::9" : "10.0.0.9";
	s->dst = t.dst;
	s->proto = t.family == XLB_AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	s->icmp_type = t.family == XLB_AF_INET6 ? 1 + below(r, 4) : chance(r, 50) ? 3 : 11;
	s->icmp_code = t.family == XLB_AF_INET6 ? 0 : 4;
	s->icmp_mtu = 1280;
	s->inner = quote;
	s->inner_len = chance(r, 60) ? qlen : below(r, qlen + 1);
	if (s->inner_len > 1200)
		s->inner_len = 1200;
	if (chance(r, 10) && s->inner_len)
		quote[below(r, s->inner_len < 48 ? s->inner_len : 48)] = rnd(r);
}

/* Flip, set and rewrite fields of a built frame. */
static size_t mutate(struct rng *r, __u8 *f, size_t len)
{
	static const __u8 interesting[] = {0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08,
					   0x0f, 0x11, 0x2b, 0x2c, 0x3a, 0x3c, 0x40,
					   0x45, 0x46, 0x4f, 0x60, 0x7f, 0x80, 0xff};
	size_t hdr = len < 160 ? len : 160;
	int n = below(r, 4);
	__u16 v;

	for (int i = 0; i < n && len > 14; i++) {
		size_t at = 12 + below(r, hdr - 12);

		switch (below(r, 6)) {
		case 0: /* flip a bit */
			f[at] ^= 1 << below(r, 8);
			break;
		case 1: /* an interesting byte */
			f[at] = interesting[below(r, ARRAY_SIZE(interesting))];
			break;
		case 2: /* a 16-bit field near its value or anywhere */
			if (at + 1 >= len)
				break;
			v = (__u16)(f[at] << 8 | f[at + 1]);
			v = chance(r, 50) ? (__u16)(v + below(r, 129) - 64) : (__u16)rnd(r);
			f[at] = v >> 8;
			f[at + 1] = v & 0xff;
			break;
		case 3: /* cut */
			len = 14 + below(r, len - 14);
			hdr = len < 160 ? len : 160;
			break;
		case 4: /* Ethernet padding (or trailing garbage) */
			for (__u32 k = below(r, 64); k > 0 && len < 2000; k--)
				f[len++] = chance(r, 50) ? 0 : rnd(r);
			break;
		case 5: /* random bytes */
			f[at] = rnd(r);
			break;
		}
	}
	return len;
}

/* Make an IPv4 header's checksum right again, so that mutations reach past it. */
static void fix_ipv4_csum(__u8 *f, size_t len)
{
	__u16 proto;
	size_t l2 = pkt_l2_len(f, len, &proto);

	if (!l2 || proto != ETH_P_IP || len < l2 + PKT_IPV4_LEN || f[l2] >> 4 != 4 ||
	    (f[l2] & 0xf) < 5 || len < l2 + (f[l2] & 0xf) * 4u)
		return;
	pkt_ipv4_csum_set(f + l2);
}

/* One test case into f; returns its length (at least 14). */
static size_t generate(struct rng *r, __u8 *f, __u8 *quote)
{
	struct pkt_spec s = {0};
	const struct fx_vip *v = &vips[1 + below(r, F_COUNT - 1)];
	int v6 = strchr(v->addr, ':') != NULL;
	size_t len;

	memcpy(s.smac, "\x02\x00\x00\x00\x00\xc1", 6);
	memcpy(s.dmac, "\x02\x00\x00\x00\x00\xa0", 6);
	switch (below(r, 12)) {
	case 0: /* anything at all, behind a plausible EtherType */
		len = 14 + below(r, 200);
		for (size_t i = 0; i < len; i++)
			f[i] = rnd(r);
		f[12] = chance(r, 50) ? 0x08 : chance(r, 50) ? 0x86 : 0x81;
		f[13] = f[12] == 0x08 ? 0x00 : f[12] == 0x86 ? 0xdd : 0x00;
		return len;
	case 1: /* echo request, to a VIP or not */
		s.family = v6 ? XLB_AF_INET6 : XLB_AF_INET;
		s.src = client(r, v6);
		s.dst = chance(r, 70) ? v->addr : other(r, v6);
		s.proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		s.icmp_type = chance(r, 80) ? (v6 ? 128 : 8) : below(r, 256);
		s.icmp_id = below(r, 65536);
		s.payload_len = below(r, 100);
		if (!v6 && chance(r, 10))
			s.ipv4_opt_len = 4;
		if (v6)
			random_ext(r, &s);
		break;
	case 2:
	case 3: /* too-big error */
		random_too_big(r, &s, v, quote);
		break;
	case 4: /* not for a VIP */
		random_flow(r, &s, v);
		s.dst = other(r, v6);
		break;
	case 10:
	case 11: /* the reverse direction of nat flows */
		if (nat_seen.n) {
			random_reply(r, &s, quote);
			break;
		}
		random_flow(r, &s, &vips[F_NAT4]);
		break;
	default:
		random_flow(r, &s, v);
		break;
	}
	if (chance(r, 15))
		s.vlan = 1 + below(r, 4094);
	len = pkt_build(f, BUF, &s);
	if (!len) /* too big for the frame: a small one */
		return 14;
	if (chance(r, 3)) /* TTL or hop limit 0, which the builder does not make */
		f[(s.vlan ? PKT_ETH_LEN + PKT_VLAN_LEN : PKT_ETH_LEN) +
		  (s.family == XLB_AF_INET ? 8 : 7)] = 0;
	if (s.vlan && chance(r, 10)) {
		/* A second tag (QinQ as 802.1Q twice): not IP as far as we know. */
		memmove(f + 16, f + 12, len - 12);
		f[12] = 0x81;
		f[13] = 0x00;
		f[14] = 0x00;
		f[15] = 0x07;
		len += 4;
	}
	if (chance(r, 60))
		len = mutate(r, f, len);
	if (chance(r, 85))
		fix_ipv4_csum(f, len);
	return len;
}

/* ---- reference parser ----------------------------------------------------- */

enum ref_kind { REF_NONE, REF_FLOW, REF_ECHO, REF_TOO_BIG, REF_NAT_REPLY, REF_NAT_ICMP };

struct ref {
	enum ref_kind kind;
	const struct fx_vip *vip; /* REF_FLOW, REF_TOO_BIG */
	size_t l2, l3len;	  /* Ethernet header and IP packet length */
	size_t l4off;		  /* L4 header from the IP header's start */
	__u8 proto;		  /* TCP or UDP of a flow */
	struct xlb_nat nat;	  /* REF_NAT_*: the entry the packet finds */
};

static __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static int vip_address(const __u8 *addr, __u8 family)
{
	for (int i = 1; i < F_COUNT; i++)
		if (vip_family[i] == family &&
		    !memcmp(&vip_addr[i], addr, family == XLB_AF_INET ? 4 : 16))
			return 1;
	return 0;
}

/* The VIP for {addr, port, proto}: exact port first, then all ports. */
static const struct fx_vip *vip_find(const __u8 *addr, __u8 family, __u16 port, __u8 proto)
{
	const struct fx_vip *all = NULL;

	for (int i = 1; i < F_COUNT; i++) {
		if (vip_family[i] != family || vips[i].proto != proto ||
		    memcmp(&vip_addr[i], addr, family == XLB_AF_INET ? 4 : 16))
			continue;
		if (vips[i].port == port)
			return &vips[i];
		if (!vips[i].port)
			all = &vips[i];
	}
	return all;
}

/* A fragment goes to the hash-src VIP of its address and protocol. */
static const struct fx_vip *vip_frag(const __u8 *addr, __u8 family, __u8 proto)
{
	for (int i = 1; i < F_COUNT; i++)
		if (vip_family[i] == family && vips[i].proto == proto &&
		    (vips[i].flags & XLB_VIP_HASH_SRC) &&
		    !memcmp(&vip_addr[i], addr, family == XLB_AF_INET ? 4 : 16))
			return &vips[i];
	return NULL;
}

static __u8 l4_min(__u8 proto)
{
	return proto == IPPROTO_TCP ? PKT_TCP_LEN : PKT_UDP_LEN;
}

/*
 * A quote at q (up to end) of a TCP/UDP packet from dst, the address the
 * error came to, with its ports: 1 and its header length and protocol.
 */
static int quote_ok(const __u8 *q, const __u8 *end, __u8 family, const __u8 *dst, size_t *hl,
		    __u8 *proto)
{
	size_t alen = family == XLB_AF_INET ? 4 : 16;

	if (family == XLB_AF_INET) {
		if (end - q < PKT_IPV4_LEN || q[0] >> 4 != 4 || (q[0] & 0xf) < 5)
			return 0;
		*hl = (q[0] & 0xf) * 4u;
		if ((size_t)(end - q) < *hl + 8 || rd16(q + 6) & PKT_IP_OFFSET)
			return 0;
		*proto = q[9];
	} else {
		*hl = PKT_IPV6_LEN;
		if ((size_t)(end - q) < *hl + 8 || q[0] >> 4 != 6)
			return 0;
		*proto = q[6];
	}
	return (*proto == IPPROTO_TCP || *proto == IPPROTO_UDP) &&
	       !memcmp(q + (family == XLB_AF_INET ? 12 : 8), dst, alen);
}

/* A too-big quote at q (up to end) from dst naming a VIP flow: that VIP, or NULL. */
static const struct fx_vip *ref_quote(const __u8 *q, const __u8 *end, __u8 family,
				      const __u8 *dst)
{
	const struct fx_vip *v;
	size_t hl;
	__u8 proto;

	/* The quote is the VIP's reply: the VIP is its source, and the error came to it. */
	if (!quote_ok(q, end, family, dst, &hl, &proto))
		return NULL;
	v = vip_find(dst, family, rd16(q + hl), proto);
	/* A nat VIP's errors are translated by their flow's entry, or not at all. */
	return v && v->method != XLB_METHOD_NAT ? v : NULL;
}

/* The `nat` entry of a tuple (ports host order): 1 and *v, or 0. */
static int nat_entry(__u8 family, __u8 proto, const __u8 *src, const __u8 *dst, __u16 sport,
		     __u16 dport, struct xlb_nat *v)
{
	size_t alen = family == XLB_AF_INET ? 4 : 16;
	struct xlb_flow k = {0};

	memcpy(&k.src, src, alen);
	memcpy(&k.dst, dst, alen);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	k.family = family;
	return !bpf_map__lookup_elem(fx.dp.skel->maps.nat, &k, sizeof(k), v, sizeof(*v), 0);
}

/* ICMP errors that may quote a nat flow's packet. */
static int nat_error_type(__u8 family, __u8 type)
{
	return family == XLB_AF_INET ? type == 3 || type == 11 || type == 12 :
				       type >= 1 && type <= 4;
}

/* An error to dst quoting a packet of a nat flow: the other direction's entry. */
static int ref_nat_quote(const __u8 *q, const __u8 *end, __u8 family, const __u8 *dst,
			 struct xlb_nat *v)
{
	size_t alen = family == XLB_AF_INET ? 4 : 16, src = family == XLB_AF_INET ? 12 : 8;
	size_t hl;
	__u8 proto;

	return quote_ok(q, end, family, dst, &hl, &proto) &&
	       nat_entry(family, proto, q + src + alen, q + src, rd16(q + hl + 2), rd16(q + hl),
			 v);
}

/* What an input frame is, judged without the program's code. */
static struct ref reference(const __u8 *f, size_t len)
{
	struct ref r = {REF_NONE, NULL, 0, 0};
	const __u8 *ip, *end, *l4, *dst;
	__u8 family, proto;
	__u16 ethertype;
	size_t off;
	int ext;

	r.l2 = pkt_l2_len(f, len, &ethertype);
	if (!r.l2)
		return r;
	ip = f + r.l2;
	if (ethertype == ETH_P_IP) {
		family = XLB_AF_INET;
		if (len - r.l2 < PKT_IPV4_LEN || ip[0] >> 4 != 4 || (ip[0] & 0xf) < 5)
			return r;
		off = (ip[0] & 0xf) * 4u;
		r.l3len = rd16(ip + 2);
		if (r.l3len < off || r.l3len > len - r.l2 || !ip[8] || !pkt_ipv4_csum_ok(ip))
			return r;
		proto = ip[9];
		dst = ip + 16;
		if (rd16(ip + 6) & (PKT_IP_MF | PKT_IP_OFFSET)) {
			r.vip = vip_frag(dst, family, proto);
			r.kind = r.vip ? REF_FLOW : REF_NONE;
			return r;
		}
	} else if (ethertype == ETH_P_IPV6) {
		family = XLB_AF_INET6;
		if (len - r.l2 < PKT_IPV6_LEN || ip[0] >> 4 != 6 || !ip[7])
			return r;
		r.l3len = PKT_IPV6_LEN + rd16(ip + 4);
		if (r.l3len > len - r.l2)
			return r;
		dst = ip + 24;
		proto = ip[6];
		off = PKT_IPV6_LEN;
		/* RFC 8200 4.1: Hop-by-Hop first only; the program walks three at most. */
		for (ext = 0; proto == IPPROTO_HOPOPTS || proto == IPPROTO_ROUTING ||
			      proto == IPPROTO_DSTOPTS;
		     ext++) {
			if (ext == 3 || (proto == IPPROTO_HOPOPTS && ext) || off + 2 > r.l3len)
				return r;
			proto = ip[off];
			off += (ip[off + 1] + 1) * 8u;
		}
		if (off > r.l3len)
			return r;
		if (proto == IPPROTO_FRAGMENT) {
			if (off + PKT_IPV6_FRAG_LEN > r.l3len)
				return r;
			r.vip = vip_frag(dst, family, ip[off]);
			r.kind = r.vip ? REF_FLOW : REF_NONE;
			return r;
		}
	} else {
		return r;
	}
	l4 = ip + off;
	end = ip + r.l3len;
	r.l4off = off;
	r.proto = proto;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if ((size_t)(end - l4) < l4_min(proto))
			return r;
		r.vip = vip_find(dst, family, rd16(l4 + 2), proto);
		r.kind = r.vip ? REF_FLOW : REF_NONE;
		/* Not a VIP's: a reply of a nat flow if the map has its tuple. */
		if (!r.vip && nat_entry(family, proto, dst - (family == XLB_AF_INET ? 4 : 16), dst,
					rd16(l4), rd16(l4 + 2), &r.nat) &&
		    (r.nat.flags & XLB_NAT_TO_CLIENT))
			r.kind = REF_NAT_REPLY;
		return r;
	}
	if (proto != (family == XLB_AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6) ||
	    end - l4 < PKT_ICMP_LEN)
		return r;
	if (nat_error_type(family, l4[0]) &&
	    ref_nat_quote(l4 + PKT_ICMP_LEN, end, family, dst, &r.nat)) {
		r.kind = REF_NAT_ICMP;
		return r;
	}
	if (!vip_address(dst, family))
		return r;
	if (family == XLB_AF_INET ? l4[0] == 8 && off == PKT_IPV4_LEN : l4[0] == 128) {
		r.kind = REF_ECHO;
	} else if (family == XLB_AF_INET ? l4[0] == 3 && l4[1] == 4 : l4[0] == 2) {
		r.vip = ref_quote(l4 + PKT_ICMP_LEN, end, family, dst);
		r.kind = r.vip ? REF_TOO_BIG : REF_NONE;
	}
	return r;
}

/* ---- checks --------------------------------------------------------------- */

struct tally {
	__u64 cases, pass, drop, tx, redirect, no_neigh, echo, too_big, flows, too_big_sent;
	__u64 nat_flows, nat_replies, nat_icmp;
};

#define FAIL(fmt, ...)                                    \
	do {                                              \
		report(seed, idx, in, len, out, out_len); \
		fail_msg(fmt, ##__VA_ARGS__);             \
	} while (0)

static void hexdump(const char *what, const __u8 *p, size_t len)
{
	fprintf(stderr, "%s (%zu bytes):", what, len);
	for (size_t i = 0; i < len && i < 256; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
	fputc('\n', stderr);
}

static void report(__u64 seed, __u64 idx, const __u8 *in, size_t len, const __u8 *out,
		   __u32 out_len)
{
	fprintf(stderr,
		"fuzz: seed %llu case %llu (rerun: XLB_FUZZ_SEED=%llu XLB_FUZZ_CASE=%llu)\n",
		(unsigned long long)seed, (unsigned long long)idx, (unsigned long long)seed,
		(unsigned long long)idx);
	hexdump("input", in, len);
	hexdump("output", out, out_len);
}

/* Which verdict-naming counter moved: its offset, or -1 unless exactly one moved by one. */
static long moved(const struct xlb_outcomes *a, const struct xlb_outcomes *b)
{
	static const size_t verdicts[] = {
	    offsetof(struct xlb_outcomes, pass_not_ip),
	    offsetof(struct xlb_outcomes, pass_not_vip),
	    offsetof(struct xlb_outcomes, pass_truncated),
	    offsetof(struct xlb_outcomes, pass_no_neigh),
	    offsetof(struct xlb_outcomes, pass_other),
	    offsetof(struct xlb_outcomes, tx),
	    offsetof(struct xlb_outcomes, redirect),
	    offsetof(struct xlb_outcomes, drop_malformed),
	    offsetof(struct xlb_outcomes, drop_no_backend),
	    offsetof(struct xlb_outcomes, drop_fragment),
	    offsetof(struct xlb_outcomes, drop_no_route),
	    offsetof(struct xlb_outcomes, drop_too_big),
	    offsetof(struct xlb_outcomes, drop_no_tx_port),
	    offsetof(struct xlb_outcomes, drop_ratelimit),
	    offsetof(struct xlb_outcomes, drop_internal),
	    offsetof(struct xlb_outcomes, drop_no_neigh),
	    offsetof(struct xlb_outcomes, drop_nat_no_port),
	    offsetof(struct xlb_outcomes, drop_nat_full),
	};
	long which = -1;

	for (size_t i = 0; i < ARRAY_SIZE(verdicts); i++) {
		__u64 d = *(const __u64 *)((const char *)b + verdicts[i]) -
			  *(const __u64 *)((const char *)a + verdicts[i]);

		if (d > 1 || (d == 1 && which >= 0))
			return -1;
		if (d == 1)
			which = verdicts[i];
	}
	return which;
}

static __u32 verdict_of(long counter)
{
	if (counter == offsetof(struct xlb_outcomes, tx))
		return XDP_TX;
	if (counter == offsetof(struct xlb_outcomes, redirect))
		return XDP_REDIRECT;
	if (counter >= (long)offsetof(struct xlb_outcomes, drop_malformed))
		return XDP_DROP;
	return XDP_PASS;
}

static int is_backend(const struct fx_vip *v, const __u8 *addr, __u8 family)
{
	struct xlb_addr a;
	__u8 fam;

	for (size_t i = 0; i < v->n; i++)
		if (!pkt_addr(&a, &fam, v->backends[i].addr) && fam == family &&
		    !memcmp(&a, addr, family == XLB_AF_INET ? 4 : 16))
			return 1;
	return 0;
}

/* RFC 1624: a checksum after one 16-bit word changed (host order in and out). */
static __u16 csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The echo reply the program must make of request `in`; 0 if out differs from it. */
static int echo_ok(const __u8 *in, size_t len, const __u8 *out, __u32 out_len, const struct ref *r)
{
	__u8 want[BUF], *ip = want + r->l2, *ic;
	int v4 = in[r->l2] >> 4 == 4;
	size_t alen = v4 ? 4 : 16, aoff = v4 ? 12 : 8, l4 = v4 ? PKT_IPV4_LEN : 0;
	__u16 old, new;

	memcpy(want, in, len);
	memcpy(want, in + 6, 6);
	memcpy(want + 6, in, 6);
	memcpy(ip + aoff, in + r->l2 + aoff + alen, alen);
	memcpy(ip + aoff + alen, in + r->l2 + aoff, alen);
	if (v4) {
		ip[8] = 64;
		pkt_ipv4_csum_set(ip);
	} else {
		ip[7] = 64;
		/* The ICMPv6 header is where the reference walk ended: find it again. */
		l4 = PKT_IPV6_LEN;
		for (__u8 p = ip[6]; p != IPPROTO_ICMPV6; p = ip[l4], l4 += (ip[l4 + 1] + 1) * 8u)
			;
	}
	ic = ip + l4;
	old = rd16(ic);
	ic[0] = v4 ? 0 : 129;
	new = rd16(ic);
	new = csum_replace(rd16(ic + 2), old, new);
	ic[2] = new >> 8;
	ic[3] = new & 0xff;
	return out_len == len && !memcmp(out, want, len);
}

/*
 * An ipip or gue frame from the input's IP packet to one of vip's backends:
 * an outer header of the backend's family (IPv4 may be inside IPv6), with gue
 * a UDP header to the VIP's port from a port in the upper half, checksum 0.
 */
static const char *encap_error(const __u8 *in, const __u8 *out, __u32 out_len, const struct ref *r)
{
	const __u8 *ip = out + r->l2;
	int gue = r->vip->method == XLB_METHOD_GUE, v4in = in[r->l2] >> 4 == 4;
	size_t udp = gue ? PKT_UDP_LEN : 0;
	__u8 next = gue ? IPPROTO_UDP : v4in ? IPPROTO_IPIP : IPPROTO_IPV6;
	__u16 proto;

	if (pkt_l2_len(out, out_len, &proto) != r->l2 || memcmp(out + 12, in + 12, r->l2 - 14))
		return "outer Ethernet header";
	if (proto == ETH_P_IP) {
		if (out_len != r->l2 + PKT_IPV4_LEN + udp + r->l3len || ip[0] != 0x45 ||
		    rd16(ip + 2) != PKT_IPV4_LEN + udp + r->l3len || ip[9] != next || !v4in)
			return "outer IPv4 header or lengths";
		if (!pkt_ipv4_csum_ok(ip))
			return "outer IPv4 header checksum";
		if (!is_backend(r->vip, ip + 16, XLB_AF_INET))
			return "outer destination is not one of the VIP's backends";
		ip += PKT_IPV4_LEN;
	} else if (proto == ETH_P_IPV6) {
		if (out_len != r->l2 + PKT_IPV6_LEN + udp + r->l3len || ip[0] >> 4 != 6 ||
		    rd16(ip + 4) != udp + r->l3len || ip[6] != next)
			return "outer IPv6 header or lengths";
		if (!is_backend(r->vip, ip + 24, XLB_AF_INET6))
			return "outer destination is not one of the VIP's backends";
		ip += PKT_IPV6_LEN;
	} else {
		return "outer EtherType";
	}
	if (gue && (rd16(ip) < 0x8000 || rd16(ip + 2) != r->vip->encap_port ||
		    rd16(ip + 4) != udp + r->l3len || rd16(ip + 6) != 0))
		return "GUE UDP header";
	ip += udp;
	if (memcmp(ip, in + r->l2, r->l3len))
		return "inner packet differs from the input's IP packet";
	return NULL;
}

/*
 * The balancer's "fragmentation needed" / "packet too big" for a client's
 * packet that does not fit once encapsulated (bpf/toobig.h): turned around,
 * from the VIP to the client, a valid ICMP checksum, the input's IP packet
 * quoted from its start.
 */
static const char *too_big_sent_error(const __u8 *in, const __u8 *out, __u32 out_len,
				      const struct ref *r)
{
	const __u8 *ip = out + r->l2, *l3 = in + r->l2;
	int v4 = l3[0] >> 4 == 4;
	size_t hl = v4 ? 20 : 40, quote = v4 ? 68 : 128, alen = v4 ? 4 : 16;
	size_t src = v4 ? 12 : 8;

	if (r->kind != REF_FLOW)
		return "sent for something that is not a client's flow";
	if (out_len != r->l2 + hl + 8 + quote)
		return "length is not the headers and the quote";
	if (memcmp(out, in + 6, 6) || memcmp(out + 6, in, 6) || memcmp(out + 12, in + 12, r->l2 - 12))
		return "Ethernet header not turned around";
	if (ip[0] >> 4 != l3[0] >> 4 || memcmp(ip + src, l3 + src + alen, alen) ||
	    memcmp(ip + src + alen, l3 + src, alen))
		return "addresses not from the VIP to the client";
	if (v4 && (!pkt_ipv4_csum_ok(ip) || ip[hl] != 3 || ip[hl + 1] != 4))
		return "not an IPv4 fragmentation-needed";
	if (!v4 && (ip[hl] != 2 || ip[hl + 1] != 0))
		return "not an ICMPv6 packet-too-big";
	if (!pkt_l4_csum_ok(ip, out_len - r->l2))
		return "bad ICMP checksum";
	if (memcmp(ip + hl + 8, l3, quote))
		return "quote is not the start of the client's packet";
	return NULL;
}

/*
 * A nat rewrite of in: nothing but the MACs, addresses (src, dst), ports
 * and checksums changed, the IPv4 header checksum valid, the L4 checksum
 * valid if the input's was (an IPv4 UDP checksum 0 stays 0). sport < 0:
 * any port of the default pool range.
 */
static const char *rewrite_error(const __u8 *in, size_t len, const __u8 *out, __u32 out_len,
				 const struct ref *r, const void *src, const void *dst, int sport,
				 int dport)
{
	const __u8 *ip = out + r->l2, *iin = in + r->l2;
	int v4 = iin[0] >> 4 == 4;
	size_t alen = v4 ? 4 : 16, aoff = v4 ? 12 : 8, l4 = r->l2 + r->l4off;
	size_t csum = l4 + (r->proto == IPPROTO_TCP ? 16 : 6);
	__u8 a[BUF + 64];
	__u16 p;

	if (out_len != len || memcmp(out + 12, in + 12, r->l2 - 12))
		return "length or Ethernet type";
	if (memcmp(ip + aoff, src, alen) || (dst && memcmp(ip + aoff + alen, dst, alen)))
		return "addresses";
	if (v4 && !pkt_ipv4_csum_ok(ip))
		return "IPv4 header checksum";
	memcpy(a, out, len);
	memcpy(a, in, 12);
	memcpy(a + r->l2 + aoff, iin + aoff, 2 * alen);
	if (v4)
		memcpy(a + r->l2 + 10, iin + 10, 2);
	memcpy(a + l4, in + l4, 4);
	memcpy(a + csum, in + csum, 2);
	if (v4 && r->proto == IPPROTO_UDP && !rd16(in + csum) && rd16(out + csum))
		return "IPv4 UDP checksum 0 (none) was set";
	if (memcmp(a, in, len))
		return "more than addresses, ports and checksums changed";
	p = rd16(out + l4);
	if (sport >= 0 ? p != sport : p < XLB_NAT_PORT_LO || p > XLB_NAT_PORT_HI)
		return "source port";
	if (rd16(out + l4 + 2) != dport)
		return "destination port";
	if (pkt_l4_csum_ok(iin, r->l3len) && !pkt_l4_csum_ok(ip, r->l3len))
		return "L4 checksum";
	return NULL;
}

/* The nat paths' frames (struct ref says which); NULL if right. */
static const char *nat_error(const __u8 *in, size_t len, const __u8 *out, __u32 out_len,
			     const struct ref *r, const struct xlb_outcomes *a,
			     const struct xlb_outcomes *b)
{
	const __u8 *ip = out + r->l2, *iin = in + r->l2, *q;
	int v4 = iin[0] >> 4 == 4;
	size_t alen = v4 ? 4 : 16, aoff = v4 ? 12 : 8;
	struct xlb_addr pool;
	__u8 family;
	const char *err;

	if (r->kind == REF_NAT_REPLY) {
		if (b->nat_replies != a->nat_replies + 1)
			return "reply not counted in nat_replies";
		if (memcmp(out, r->nat.dmac, 6) || memcmp(out + 6, r->nat.smac, 6))
			return "reply MACs are not the entry's";
		return rewrite_error(in, len, out, out_len, r, &r->nat.src, &r->nat.dst,
				     ntohs(r->nat.sport), ntohs(r->nat.dport));
	}
	if (r->kind == REF_NAT_ICMP) {
		if (b->icmp_nat != a->icmp_nat + 1)
			return "error not counted in icmp_nat";
		if (out_len != len || memcmp(ip + aoff, &r->nat.src, alen) ||
		    memcmp(ip + aoff + alen, &r->nat.dst, alen))
			return "error's length or outer addresses";
		if (v4 && !pkt_ipv4_csum_ok(ip))
			return "error's IPv4 header checksum";
		if (pkt_l4_csum_ok(iin, r->l3len) && !pkt_l4_csum_ok(ip, r->l3len))
			return "ICMP checksum";
		q = ip + r->l4off + PKT_ICMP_LEN;
		if (memcmp(q + aoff, &r->nat.dst, alen) || memcmp(q + aoff + alen, &r->nat.src, alen))
			return "quoted addresses";
		return NULL;
	}
	/* A client's packet: from the pool to one of the VIP's backends, at its port. */
	pkt_addr(&pool, &family, v4 ? NAT_POOL4 : NAT_POOL6);
	for (size_t i = 0; i < r->vip->n; i++) {
		struct xlb_addr be;
		__u16 port = r->vip->backends[i].port;

		pkt_addr(&be, &family, r->vip->backends[i].addr);
		if (memcmp(ip + aoff + alen, &be, alen))
			continue;
		err = rewrite_error(in, len, out, out_len, r, &pool, &be, -1,
				    port ? port : rd16(iin + r->l4off + 2));
		if (!err)
			nat_seen_add(family, r->proto, ip + aoff + alen, ip + aoff,
				     rd16(ip + r->l4off + 2), rd16(ip + r->l4off));
		return err;
	}
	return "destination is not one of the VIP's backends";
}

/* Check one case; fails the test with a reproduction on any broken property. */
static void check_case(__u64 seed, __u64 idx, const __u8 *in, size_t len, struct tally *t)
{
	struct xlb_outcomes a, b;
	__u8 out[BUF];
	__u32 out_len = sizeof(out), verdict = ~0U;
	struct ref r = reference(in, len);
	const char *err;
	long counter;

	assert_int_equal(dp_outcomes(&fx.dp, &a), 0);
	assert_int_equal(fx_run(&fx, in, len, out, &out_len, &verdict), 0);
	assert_int_equal(dp_outcomes(&fx.dp, &b), 0);
	t->cases++;
	if (verdict == XDP_ABORTED)
		FAIL("XDP_ABORTED");
	counter = moved(&a, &b);
	if (counter < 0 || verdict_of(counter) != verdict)
		FAIL("verdict %u not counted once under one reason naming it", verdict);
	if (r.kind != REF_NONE && (counter == offsetof(struct xlb_outcomes, drop_malformed) ||
				   counter == offsetof(struct xlb_outcomes, pass_not_vip) ||
				   counter == offsetof(struct xlb_outcomes, pass_other)))
		FAIL("well-formed packet for a VIP (reference kind %d) not handled", r.kind);

	if (verdict == XDP_DROP) {
		t->drop++;
		return;
	}
	if (verdict == XDP_PASS && counter != offsetof(struct xlb_outcomes, pass_no_neigh)) {
		t->pass++;
		if (out_len != len || memcmp(out, in, len))
			FAIL("XDP_PASS changed the frame");
		return;
	}
	if (b.icmp_too_big_sent != a.icmp_too_big_sent) {
		t->too_big_sent++;
		err = too_big_sent_error(in, out, out_len, &r);
		if (verdict != XDP_TX || err)
			FAIL("too-big error to the client: %s", err ? err : "not XDP_TX");
		return;
	}
	/* Sent on: to the network, or encapsulated to the kernel. */
	if (verdict == XDP_TX)
		t->tx++;
	else if (verdict == XDP_REDIRECT)
		t->redirect++;
	else
		t->no_neigh++;
	if (r.kind == REF_NONE)
		FAIL("sent on, but not a well-formed packet for a VIP");
	if (r.kind == REF_NAT_REPLY || r.kind == REF_NAT_ICMP ||
	    (r.kind == REF_FLOW && r.vip->method == XLB_METHOD_NAT)) {
		t->nat_flows += r.kind == REF_FLOW;
		t->nat_replies += r.kind == REF_NAT_REPLY;
		t->nat_icmp += r.kind == REF_NAT_ICMP;
		err = nat_error(in, len, out, out_len, &r, &a, &b);
		if (err)
			FAIL("nat: %s", err);
		return;
	}
	if (r.kind == REF_ECHO) {
		t->echo++;
		if (b.icmp_echo != a.icmp_echo + 1 || verdict != XDP_TX ||
		    !echo_ok(in, len, out, out_len, &r))
			FAIL("echo reply is not the request answered");
		return;
	}
	if (r.kind == REF_TOO_BIG) {
		t->too_big++;
		if (b.icmp_too_big != a.icmp_too_big + 1)
			FAIL("too-big error forwarded but not counted as icmp_too_big");
	} else {
		t->flows++;
	}
	if (r.vip->method == XLB_METHOD_L2 &&
	    counter != offsetof(struct xlb_outcomes, pass_no_neigh)) {
		if (out_len != len || memcmp(out + 12, in + 12, len - 12))
			FAIL("l2 forward changed more than the MACs");
		return;
	}
	err = encap_error(in, out, out_len, &r);
	if (err)
		FAIL("encapsulated frame: %s", err);
}

static __u64 env_u64(const char *name, __u64 dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void test_fuzz(void **state)
{
	__u64 seed = env_u64("XLB_FUZZ_SEED", (__u64)time(NULL));
	__u64 cases = env_u64("XLB_FUZZ_CASES", FUZZ_CASES_DEFAULT);
	__u64 only = env_u64("XLB_FUZZ_CASE", ~0ULL);
	__u8 in[BUF + 64], quote[BUF];
	struct timespec t0, t1;
	struct tally t = {0};
	double secs;

	fprintf(stderr, "fuzz: seed %llu (XLB_FUZZ_SEED to repeat), %llu cases\n",
		(unsigned long long)seed, (unsigned long long)cases);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (__u64 i = 0; i < cases; i++) {
		struct rng r = {seed ^ (i * 0xd1342543de82ef95ULL)};
		size_t len;

		if (only != ~0ULL && i != only)
			continue;
		rnd(&r);
		len = generate(&r, in, quote);
		check_case(seed, i, in, len, &t);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr,
		"fuzz: %llu cases in %.1f s: %llu passed unchanged, %llu dropped, %llu tx, "
		"%llu redirected, %llu to the kernel encapsulated; of those sent on: %llu flows, "
		"%llu too-big errors, %llu echo replies; %llu too-big errors sent to clients; "
		"nat: %llu client packets, %llu replies, %llu errors translated\n",
		(unsigned long long)t.cases, secs, (unsigned long long)t.pass,
		(unsigned long long)t.drop, (unsigned long long)t.tx,
		(unsigned long long)t.redirect, (unsigned long long)t.no_neigh,
		(unsigned long long)t.flows, (unsigned long long)t.too_big,
		(unsigned long long)t.echo, (unsigned long long)t.too_big_sent,
		(unsigned long long)t.nat_flows, (unsigned long long)t.nat_replies,
		(unsigned long long)t.nat_icmp);
	/* A generator that never reaches the forwarding paths tests nothing. */
	if (only == ~0ULL && cases >= 10000)
		check(t.flows > cases / 20 && t.too_big > cases / 200 && t.echo > cases / 200 &&
			  t.redirect && t.no_neigh && t.drop > cases / 20 && t.pass > cases / 20 &&
			  t.too_big_sent && t.nat_flows > cases / 100 && t.nat_replies > cases / 200 &&
			  t.nat_icmp > cases / 2000,
		      "every kind of outcome reached");
}

/* The nat VIPs' pools, the config flag, and the pool addresses in the prefilter. */
static int nat_setup(void)
{
	static const int nat_vips[] = { F_NAT4, F_NAT6 };
	struct bpf_map *filter = fx.dp.skel->maps.filter;
	struct xlb_config cfg = fx.dp.cfg;
	struct xlb_filter f;
	__u32 zero = 0, bit;
	__u8 family;

	if (bpf_map__lookup_elem(filter, &zero, sizeof(zero), &f, sizeof(f), 0))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(nat_vips); i++) {
		struct xlb_nat_pool pool = {
			.port_lo = XLB_NAT_PORT_LO, .port_hi = XLB_NAT_PORT_HI, .n_addrs = 1,
		};
		__u32 id = nat_vips[i];

		if (pkt_addr(&pool.addrs[0], &family, i ? NAT_POOL6 : NAT_POOL4) ||
		    bpf_map__update_elem(fx.dp.skel->maps.nat_pools, &id, sizeof(id), &pool,
					 sizeof(pool), 0))
			return -1;
		bit = xlb_filter_bit(&pool.addrs[0]);
		f.bits[bit / 64] |= 1ULL << (bit % 64);
	}
	cfg.flags |= XLB_CONFIG_NAT;
	cfg.now = 1;
	if (bpf_map__update_elem(filter, &zero, sizeof(zero), &f, sizeof(f), 0))
		return -1;
	return dp_config_set(&fx.dp, &cfg);
}

static int group_setup(void **state)
{
	for (int i = 1; i < F_COUNT; i++)
		if (pkt_addr(&vip_addr[i], &vip_family[i], vips[i].addr))
			return -1;
	if (fx_setup_vips(&fx, vips + 1, F_COUNT - 1) || nat_setup())
		return -1;
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
	    cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests_name("xlb packet fuzz", tests, group_setup, group_teardown);
}
