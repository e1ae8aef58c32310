/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet builder: the bytes the BPF tests compare against must themselves be right, so check
 * checksums against known answers, header fields at their wire offsets, and the encap contract.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include <cmocka.h>
#include "check.h"

#include "pkt.h"

#define BUF		2048

static const __u8 mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
static const __u8 mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};
static const __u8 mac_c[6] = {0x02, 0, 0, 0, 0, 0x0c};
static const __u8 mac_d[6] = {0x02, 0, 0, 0, 0, 0x0d};

static __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __u32 rd32(const __u8 *p)
{
	return (__u32)rd16(p) << 16 | rd16(p + 2);
}

static struct pkt_spec spec(__u8 family, __u8 proto)
{
	struct pkt_spec s = {
		.family = family,
		.src = family == XLB_AF_INET ? "10.0.0.1" : "fd00::1",
		.dst = family == XLB_AF_INET ? "10.0.0.2" : "fd00::2",
		.proto = proto,
		.sport = 40000,
		.dport = 80,
		.payload_len = 33,	/* odd: exercises the checksum's padded tail */
	};

	memcpy(s.smac, mac_a, 6);
	memcpy(s.dmac, mac_b, 6);
	return s;
}

static void test_csum_known_answers(void **state)
{
	/* RFC 1071 section 3 example: sum ddf2, checksum its complement. */
	static const __u8 rfc1071[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static const __u8 odd[] = {0x01};
	__u8 with_sum[sizeof(rfc1071) + 2];

	assert_int_equal(pkt_csum(rfc1071, sizeof(rfc1071)), 0x220d);
	/* A trailing odd byte counts as the high byte of a zero-padded word. */
	assert_int_equal(pkt_csum(odd, 1), 0xfeff);
	assert_int_equal(pkt_csum(odd, 0), 0xffff);

	memcpy(with_sum, rfc1071, sizeof(rfc1071));
	with_sum[8] = 0x22;
	with_sum[9] = 0x0d;
	assert_int_equal(pkt_csum(with_sum, sizeof(with_sum)), 0);
}

/* The IPv4 header of the widely quoted example, c0a8:0001 -> c0a8:00c7, checksum b861. */
static void test_ipv4_header_known_answer(void **state)
{
	static const __u8 want[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				      0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_UDP);
	__u8 buf[BUF];

	s.src = "192.168.0.1";
	s.dst = "192.168.0.199";
	s.frag = PKT_IP_DF;
	s.payload_len = 0x73 - 20 - 8;
	assert_int_equal(pkt_build_l3(buf, sizeof(buf), &s), 0x73);
	assert_memory_equal(buf, want, sizeof(want));
	assert_true(pkt_ipv4_csum_ok(buf));
}

static void test_l4_checksums(void **state)
{
	static const struct {
		__u8 family, proto;
	} cases[] = {
		{XLB_AF_INET, IPPROTO_TCP},	{XLB_AF_INET, IPPROTO_UDP},
		{XLB_AF_INET, IPPROTO_ICMP},	{XLB_AF_INET6, IPPROTO_TCP},
		{XLB_AF_INET6, IPPROTO_UDP},	{XLB_AF_INET6, IPPROTO_ICMPV6},
	};
	__u8 buf[BUF];
	size_t i, len, l2;
	__u16 proto;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pkt_spec s = spec(cases[i].family, cases[i].proto);

		s.icmp_type = cases[i].family == XLB_AF_INET ? 8 : 128;
		len = pkt_build(buf, sizeof(buf), &s);
		l2 = pkt_l2_len(buf, len, &proto);
		assert_int_equal(l2, PKT_ETH_LEN);
		assert_int_equal(proto, cases[i].family == XLB_AF_INET ? 0x0800 : 0x86dd);
		if (cases[i].family == XLB_AF_INET)
			assert_true(pkt_ipv4_csum_ok(buf + l2));
		if (!pkt_l4_csum_ok(buf + l2, len - l2))
			fail_msg("case %zu: L4 checksum of a built packet does not verify", i);
		/* A checksum check that cannot fail checks nothing: flip a payload bit. */
		buf[len - 1] ^= 0x01;
		if (pkt_l4_csum_ok(buf + l2, len - l2))
			fail_msg("case %zu: L4 checksum verifies over corrupted payload", i);
	}
}

/*
 * Builder and verifier share their checksum code, so agreeing proves little: these values were
 * computed from the same bytes by an independent implementation (a Python script).
 */
static void test_l4_known_answers(void **state)
{
	static const struct {
		__u8 family, proto, icmp_type;
		__u16 csum;
	} cases[] = {
		{XLB_AF_INET, IPPROTO_TCP, 0, 0x6a49},
		{XLB_AF_INET, IPPROTO_UDP, 0, 0xc0f0},
		{XLB_AF_INET, IPPROTO_ICMP, 8, 0x91ff},
		{XLB_AF_INET6, IPPROTO_TCP, 0, 0x11ba},
		{XLB_AF_INET6, IPPROTO_UDP, 0, 0x6861},
		{XLB_AF_INET6, IPPROTO_ICMPV6, 128, 0xed6c},
	};
	__u8 buf[BUF], *l4;
	size_t i, off;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		bool v4 = cases[i].family == XLB_AF_INET;
		struct pkt_spec s = {
			.family = cases[i].family,
			.src = v4 ? "10.1.2.3" : "2001:db8::5",
			.dst = v4 ? "192.168.7.9" : "fe80::1:2:3",
			.proto = cases[i].proto,
			.sport = 1234,
			.dport = 80,
			.icmp_type = cases[i].icmp_type,
			.payload_len = 11,
		};

		assert_true(pkt_build_l3(buf, sizeof(buf), &s) > 0);
		l4 = buf + (v4 ? PKT_IPV4_LEN : PKT_IPV6_LEN);
		off = cases[i].proto == IPPROTO_TCP ? 16 : cases[i].proto == IPPROTO_UDP ? 6 : 2;
		if (rd16(l4 + off) != cases[i].csum)
			fail_msg("case %zu: checksum %04x, want %04x", i, rd16(l4 + off),
				 cases[i].csum);
	}
}

static void test_ipv4_tcp_fields(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_TCP);
	__u8 buf[BUF], *ip = buf + PKT_ETH_LEN, *tcp = ip + PKT_IPV4_LEN;
	size_t len;

	s.tos = 0xb8;
	s.tcp_flags = PKT_TCP_SYN;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV4_LEN + PKT_TCP_LEN + 33);
	assert_memory_equal(buf, mac_b, 6);
	assert_memory_equal(buf + 6, mac_a, 6);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[1], 0xb8);
	assert_int_equal(rd16(ip + 2), len - PKT_ETH_LEN);
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], IPPROTO_TCP);
	assert_int_equal(rd32(ip + 12), 0x0a000001);
	assert_int_equal(rd32(ip + 16), 0x0a000002);
	assert_int_equal(rd16(tcp), 40000);
	assert_int_equal(rd16(tcp + 2), 80);
	assert_int_equal(tcp[12], 0x50);
	assert_int_equal(tcp[13], PKT_TCP_SYN);
	assert_int_equal(tcp[PKT_TCP_LEN], pkt_pattern(0));

	/* Flags 0 means a plain ACK. */
	s.tcp_flags = 0;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), len);
	assert_int_equal(tcp[13], PKT_TCP_ACK);
}

static void test_ipv6_udp_fields(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET6, IPPROTO_UDP);
	__u8 buf[BUF], *ip = buf + PKT_ETH_LEN, *udp = ip + PKT_IPV6_LEN;
	size_t len;

	s.tos = 0xa5;
	s.flow_label = 0xbcdef;
	s.ttl = 7;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV6_LEN + PKT_UDP_LEN + 33);
	assert_int_equal(rd32(ip), 0x6a5bcdef);
	assert_int_equal(rd16(ip + 4), PKT_UDP_LEN + 33);
	assert_int_equal(ip[6], IPPROTO_UDP);
	assert_int_equal(ip[7], 7);
	assert_int_equal(ip[8], 0xfd);
	assert_int_equal(ip[23], 0x01);
	assert_int_equal(ip[39], 0x02);
	assert_int_equal(rd16(udp + 4), PKT_UDP_LEN + 33);

	s.flow_label = 0x100000;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
}

static void test_vlan_tag(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET6, IPPROTO_TCP);
	__u8 buf[BUF];
	size_t len;
	__u16 proto;

	s.vlan = 0x123;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_VLAN_LEN + PKT_IPV6_LEN + PKT_TCP_LEN + 33);
	assert_int_equal(rd16(buf + 12), 0x8100);
	assert_int_equal(rd16(buf + 14), 0x123);
	assert_int_equal(rd16(buf + 16), 0x86dd);
	assert_int_equal(buf[18] >> 4, 6);
	assert_int_equal(pkt_l2_len(buf, len, &proto), 18);
	assert_int_equal(proto, 0x86dd);
	assert_true(pkt_l4_csum_ok(buf + 18, len - 18));

	s.vlan = 0x1000;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
}

static void test_ipv4_options(void **state)
{
	static const __u8 bad_len[] = {2, 6, 44, 255};
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_UDP);
	__u8 buf[BUF], *ip = buf + PKT_ETH_LEN;
	__u8 opt;
	size_t i;

	for (opt = 0; opt <= 40; opt += 4) {
		s.ipv4_opt_len = opt;
		assert_int_equal(pkt_build(buf, sizeof(buf), &s),
				 PKT_ETH_LEN + PKT_IPV4_LEN + opt + PKT_UDP_LEN + 33);
		assert_int_equal(ip[0], 0x40 | (5 + opt / 4));
		for (i = 0; opt && i < opt - 1U; i++)
			assert_int_equal(ip[PKT_IPV4_LEN + i], 1);
		if (opt)
			assert_int_equal(ip[PKT_IPV4_LEN + opt - 1], 0);
		/* The UDP header follows the options. */
		assert_int_equal(rd16(ip + PKT_IPV4_LEN + opt), 40000);
		assert_true(pkt_ipv4_csum_ok(ip));
		assert_true(pkt_l4_csum_ok(ip, PKT_IPV4_LEN + opt + PKT_UDP_LEN + 33));
	}
	for (i = 0; i < ARRAY_SIZE(bad_len); i++) {
		s.ipv4_opt_len = bad_len[i];
		assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
	}
	s = spec(XLB_AF_INET6, IPPROTO_UDP);
	s.ipv4_opt_len = 4;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
}

static void test_ipv4_fragments(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_UDP);
	__u8 buf[BUF], *ip = buf + PKT_ETH_LEN;
	size_t len;

	s.frag = PKT_IP_MF;
	s.ip_id = 0x1234;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV4_LEN + PKT_UDP_LEN + 33);
	assert_int_equal(rd16(ip + 4), 0x1234);
	assert_int_equal(rd16(ip + 6), PKT_IP_MF);
	assert_true(pkt_l4_csum_ok(ip, len - PKT_ETH_LEN));

	/* A later fragment has no UDP header and no L4 checksum to verify. */
	s.frag = 185;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV4_LEN + 33);
	assert_int_equal(rd16(ip + 6), 185);
	assert_int_equal(ip[PKT_IPV4_LEN], pkt_pattern(0));
	assert_true(pkt_ipv4_csum_ok(ip));
	assert_false(pkt_l4_csum_ok(ip, len - PKT_ETH_LEN));
}

static void test_ipv6_fragment_header(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET6, IPPROTO_TCP);
	__u8 buf[BUF], *ip = buf + PKT_ETH_LEN, *fh = ip + PKT_IPV6_LEN;
	size_t len;

	s.frag = PKT_IP_MF;
	s.ip_id = 0xdeadbeef;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV6_LEN + PKT_IPV6_FRAG_LEN + PKT_TCP_LEN + 33);
	assert_int_equal(ip[6], IPPROTO_FRAGMENT);
	assert_int_equal(rd16(ip + 4), PKT_IPV6_FRAG_LEN + PKT_TCP_LEN + 33);
	assert_int_equal(fh[0], IPPROTO_TCP);
	assert_int_equal(fh[1], 0);
	assert_int_equal(rd16(fh + 2), 0x0001);
	assert_int_equal(rd32(fh + 4), 0xdeadbeef);
	assert_int_equal(rd16(fh + 8), 40000);
	assert_true(pkt_l4_csum_ok(ip, len - PKT_ETH_LEN));

	/* Offset 100 (800 bytes), last fragment: offset << 3, M clear, no TCP header. */
	s.frag = 100;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV6_LEN + PKT_IPV6_FRAG_LEN + 33);
	assert_int_equal(rd16(fh + 2), 100 << 3);
	assert_false(pkt_l4_csum_ok(ip, len - PKT_ETH_LEN));

	/* DF alone: an atomic fragment, offset 0 and M clear. */
	s.frag = PKT_IP_DF;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(rd16(fh + 2), 0);
	assert_true(pkt_l4_csum_ok(ip, len - PKT_ETH_LEN));
}

static void test_icmp(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_ICMP);
	__u8 inner[BUF], buf[BUF], *icmp;
	size_t inner_len, len;

	s.icmp_type = 8;
	s.icmp_id = 0x4242;
	s.icmp_seq = 7;
	len = pkt_build(buf, sizeof(buf), &s);
	icmp = buf + PKT_ETH_LEN + PKT_IPV4_LEN;
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV4_LEN + PKT_ICMP_LEN + 33);
	assert_int_equal(icmp[0], 8);
	assert_int_equal(rd16(icmp + 4), 0x4242);
	assert_int_equal(rd16(icmp + 6), 7);

	/* Frag needed, quoting the packet that was too big. */
	inner_len = pkt_build_l3(inner, sizeof(inner), &(struct pkt_spec){
		.family = XLB_AF_INET, .src = "10.0.0.2", .dst = "10.0.0.1",
		.proto = IPPROTO_TCP, .sport = 80, .dport = 40000});
	assert_int_equal(inner_len, PKT_IPV4_LEN + PKT_TCP_LEN);
	s = spec(XLB_AF_INET, IPPROTO_ICMP);
	s.icmp_type = 3;
	s.icmp_code = 4;
	s.icmp_mtu = 1400;
	s.inner = inner;
	s.inner_len = inner_len;
	s.payload_len = 0;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV4_LEN + PKT_ICMP_LEN + inner_len);
	assert_int_equal(rd16(icmp + 4), 0);
	assert_int_equal(rd16(icmp + 6), 1400);
	assert_memory_equal(icmp + PKT_ICMP_LEN, inner, inner_len);
	assert_true(pkt_l4_csum_ok(buf + PKT_ETH_LEN, len - PKT_ETH_LEN));

	/* ICMPv6 packet too big: a 32-bit MTU, checksum over the pseudo-header. */
	s = spec(XLB_AF_INET6, IPPROTO_ICMPV6);
	s.icmp_type = 2;
	s.icmp_mtu = 0x00012345;
	len = pkt_build(buf, sizeof(buf), &s);
	icmp = buf + PKT_ETH_LEN + PKT_IPV6_LEN;
	assert_int_equal(rd32(icmp + 4), 0x00012345);
	assert_true(pkt_l4_csum_ok(buf + PKT_ETH_LEN, len - PKT_ETH_LEN));

	/* ICMP (v4) in IPv6 is just payload: no header, nothing to verify. */
	s.proto = IPPROTO_ICMP;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), PKT_ETH_LEN + PKT_IPV6_LEN + 33);
}

static void test_other_proto_payload(void **state)
{
	static const __u8 blob[] = {0xde, 0xad, 0xbe, 0xef};
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_GRE);
	__u8 buf[BUF], *l4 = buf + PKT_ETH_LEN + PKT_IPV4_LEN;
	size_t len;

	s.inner = blob;
	s.inner_len = sizeof(blob);
	s.payload_len = 3;
	len = pkt_build(buf, sizeof(buf), &s);
	assert_int_equal(len, PKT_ETH_LEN + PKT_IPV4_LEN + sizeof(blob) + 3);
	assert_memory_equal(l4, blob, sizeof(blob));
	assert_int_equal(l4[4], pkt_pattern(0));
	assert_int_equal(l4[6], pkt_pattern(2));
	assert_false(pkt_l4_csum_ok(buf + PKT_ETH_LEN, len - PKT_ETH_LEN));
}

static void test_build_rejects(void **state)
{
	static __u8 big[0x20000];
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_TCP);
	__u8 buf[BUF];
	size_t len, cap;

	len = pkt_build(buf, sizeof(buf), &s);
	assert_true(len > 0);
	/* Every capacity short of the frame fails; the exact one fits. */
	for (cap = 0; cap < len; cap++)
		assert_int_equal(pkt_build(buf, cap, &s), 0);
	assert_int_equal(pkt_build(buf, len, &s), len);

	s.family = 0;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
	s = spec(XLB_AF_INET, IPPROTO_TCP);
	s.dst = "fd00::2";
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
	s.dst = NULL;
	assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
	/* One byte more than tot_len can say, with room to spare in the buffer. */
	s = spec(XLB_AF_INET, IPPROTO_UDP);
	s.payload_len = 0xffff - PKT_IPV4_LEN - PKT_UDP_LEN;
	assert_int_equal(pkt_build(big, sizeof(big), &s), PKT_ETH_LEN + 0xffff);
	s.payload_len++;
	assert_int_equal(pkt_build(big, sizeof(big), &s), 0);
}

static void test_addr(void **state)
{
	static const char *const bad[] = {"", "10.0.0", "10.0.0.256", "10.0.0.1/24", " 10.0.0.1",
					  "fd00::1::2", "fd00::g", "[fd00::1]", "localhost"};
	struct xlb_addr a;
	__u8 family = 0;
	size_t i;

	assert_int_equal(pkt_addr(&a, &family, "10.1.2.3"), 0);
	assert_int_equal(family, XLB_AF_INET);
	assert_int_equal(rd32(a.b), 0x0a010203);
	assert_int_equal(a.w[1] | a.w[2] | a.w[3], 0);

	assert_int_equal(pkt_addr(&a, &family, "fd00::1:2"), 0);
	assert_int_equal(family, XLB_AF_INET6);
	assert_int_equal(a.b[0], 0xfd);
	assert_int_equal(rd32(a.b + 12), 0x00010002);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (pkt_addr(&a, &family, bad[i]) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	assert_int_equal(pkt_addr(&a, &family, NULL), -EINVAL);
}

/* pkt_flow_spec(): the family from the source's text, the flow and the MACs, nothing else. */
static void test_flow_spec(void **state)
{
	static const __u8 protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	__u8 got[BUF], want[BUF];
	size_t i, glen, wlen;

	for (i = 0; i < 2 * ARRAY_SIZE(protos); i++) {
		__u8 family = i % 2 ? XLB_AF_INET6 : XLB_AF_INET;
		struct pkt_spec w = spec(family, protos[i / 2]), s;

		s = pkt_flow_spec(w.proto, w.src, w.sport, w.dst, w.dport, mac_a, mac_b);
		s.payload_len = w.payload_len;
		glen = pkt_build(got, sizeof(got), &s);
		wlen = pkt_build(want, sizeof(want), &w);
		check(glen && glen == wlen && !memcmp(got, want, glen),
		      "%s proto %u: the frame of the spec written out", w.src, w.proto);
	}
}

static const struct pkt_encap_spec encap4 = {
	.smac = {0x02, 0, 0, 0, 0, 0x0c},
	.dmac = {0x02, 0, 0, 0, 0, 0x0d},
	.src = "192.0.2.1",
	.dst = "192.0.2.100",
};

static const struct pkt_encap_spec encap6 = {
	.smac = {0x02, 0, 0, 0, 0, 0x0c},
	.dmac = {0x02, 0, 0, 0, 0, 0x0d},
	.src = "2001:db8::1",
	.dst = "2001:db8::100",
	.ttl = 9,
};

static void test_encap_ipv4(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_TCP);
	__u8 in[BUF], out[BUF], *outer = out + PKT_ETH_LEN, *inner = outer + PKT_IPV4_LEN;
	size_t in_len, out_len, inner_len;

	s.tos = 0x2e;
	s.frag = PKT_IP_DF;
	in_len = pkt_build(in, sizeof(in), &s);
	inner_len = in_len - PKT_ETH_LEN;
	out_len = pkt_encap(out, sizeof(out), in, in_len, &encap4);
	assert_int_equal(out_len, in_len + PKT_IPV4_LEN);

	assert_memory_equal(out, mac_d, 6);
	assert_memory_equal(out + 6, mac_c, 6);
	assert_int_equal(rd16(out + 12), 0x0800);
	assert_int_equal(outer[0], 0x45);
	assert_int_equal(outer[1], 0x2e);
	assert_int_equal(rd16(outer + 2), inner_len + PKT_IPV4_LEN);
	assert_int_equal(rd16(outer + 4), 0);
	assert_int_equal(rd16(outer + 6), PKT_IP_DF);
	assert_int_equal(outer[8], 64);
	assert_int_equal(outer[9], IPPROTO_IPIP);
	assert_int_equal(rd32(outer + 12), 0xc0000201);
	assert_int_equal(rd32(outer + 16), 0xc0000264);
	assert_true(pkt_ipv4_csum_ok(outer));
	assert_memory_equal(inner, in + PKT_ETH_LEN, inner_len);

	/* No DF on the inner packet, none on the outer. */
	s.frag = 0;
	in_len = pkt_build(in, sizeof(in), &s);
	assert_int_equal(pkt_encap(out, sizeof(out), in, in_len, &encap4), out_len);
	assert_int_equal(rd16(outer + 6), 0);
	assert_true(pkt_ipv4_csum_ok(outer));
}

static void test_encap_ipv6_vlan_padding(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET6, IPPROTO_UDP);
	__u8 in[BUF], out[BUF];
	__u8 *outer = out + PKT_ETH_LEN + PKT_VLAN_LEN, *inner = outer + PKT_IPV6_LEN;
	size_t in_len, out_len, inner_len;

	s.vlan = 42;
	s.tos = 0x81;
	s.flow_label = 0x54321;
	in_len = pkt_build(in, sizeof(in), &s);
	inner_len = in_len - PKT_ETH_LEN - PKT_VLAN_LEN;
	/* Ethernet padding after the packet is not part of it and must not be carried. */
	memset(in + in_len, 0xee, 10);
	out_len = pkt_encap(out, sizeof(out), in, in_len + 10, &encap6);
	assert_int_equal(out_len, in_len + PKT_IPV6_LEN);

	assert_memory_equal(out, mac_d, 6);
	assert_memory_equal(out + 6, mac_c, 6);
	assert_memory_equal(out + 12, in + 12, 6);	/* tag and EtherType untouched */
	assert_int_equal(rd32(outer), 0x68154321);
	assert_int_equal(rd16(outer + 4), inner_len);
	assert_int_equal(outer[6], IPPROTO_IPV6);
	assert_int_equal(outer[7], 9);
	assert_int_equal(rd32(outer + 8), 0x20010db8);
	assert_int_equal(outer[39], 0x00);
	assert_int_equal(outer[38], 0x01);
	assert_memory_equal(inner, in + PKT_ETH_LEN + PKT_VLAN_LEN, inner_len);
}

static void test_encap_rejects(void **state)
{
	struct pkt_spec s = spec(XLB_AF_INET, IPPROTO_TCP);
	__u8 in[BUF], out[BUF];
	size_t in_len, out_len, cut;

	in_len = pkt_build(in, sizeof(in), &s);
	out_len = pkt_encap(out, sizeof(out), in, in_len, &encap4);
	assert_int_equal(pkt_encap(out, out_len - 1, in, in_len, &encap4), 0);
	assert_int_equal(pkt_encap(out, out_len, in, in_len, &encap4), out_len);
	/* IPv4 may go inside IPv6, 20 bytes more; IPv6 never inside IPv4 (below). */
	assert_int_equal(pkt_encap(out, sizeof(out), in, in_len, &encap6), out_len + 20);
	/* A cut packet is not a packet. */
	for (cut = 0; cut < in_len; cut++)
		assert_int_equal(pkt_encap(out, sizeof(out), in, cut, &encap4), 0);
	/* Nor is IPv6 behind an IPv4 EtherType. */
	s = spec(XLB_AF_INET6, IPPROTO_TCP);
	in_len = pkt_build(in, sizeof(in), &s);
	assert_int_equal(pkt_encap(out, sizeof(out), in, in_len, &encap4), 0);
	in[12] = 0x08;
	in[13] = 0x00;
	assert_int_equal(pkt_encap(out, sizeof(out), in, in_len, &encap6), 0);
}

/* The diff names the first differing offset and both lengths. */
static void test_hexdump_diff(void **state)
{
	__u8 a[40] = {0}, b[41] = {0};
	char text[4096];
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	b[17] = 0xab;
	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	pkt_hexdump_diff(a, sizeof(a), b, sizeof(b));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	assert_non_null(strstr(text, "got 40 bytes, want 41"));
	assert_non_null(strstr(text, "offset   17 (0x0011): got 00 want ab"));
	assert_non_null(strstr(text, "offset   40 (0x0028): got -- want 00"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_known_answers),
		cmocka_unit_test(test_ipv4_header_known_answer),
		cmocka_unit_test(test_l4_checksums),
		cmocka_unit_test(test_l4_known_answers),
		cmocka_unit_test(test_ipv4_tcp_fields),
		cmocka_unit_test(test_ipv6_udp_fields),
		cmocka_unit_test(test_vlan_tag),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv6_fragment_header),
		cmocka_unit_test(test_icmp),
		cmocka_unit_test(test_other_proto_payload),
		cmocka_unit_test(test_build_rejects),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_flow_spec),
		cmocka_unit_test(test_encap_ipv4),
		cmocka_unit_test(test_encap_ipv6_vlan_padding),
		cmocka_unit_test(test_encap_rejects),
		cmocka_unit_test(test_hexdump_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
