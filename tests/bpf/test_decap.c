/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backend decap program through BPF_PROG_TEST_RUN: a table of frames with the verdict, the
 * exact output bytes and the one counter each must move, then every truncation of encapsulated
 * frames, then the counters against the number of runs. Needs root.
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

#include "decap.skel.h"
#include "pkt.h"

#define BUF		2048

/* The backend's own addresses, what the balancer encapsulates towards. */
#define LOCAL4		"192.0.2.100"
#define LOCAL6		"2001:db8::100"

static struct decap *skel;
static __u64 runs;	/* test runs so far: the counters must add up to this */

struct io {
	__u8 in[BUF], want[BUF];
	size_t in_len, want_len;
};

static const __u8 client_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const __u8 router_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

static const struct pkt_encap_spec to_local4 = {
	.smac = {0x02, 0, 0, 0, 0, 0xb1},	/* balancer */
	.dmac = {0x02, 0, 0, 0, 0, 0xbe},	/* this backend */
	.src = "192.0.2.1",
	.dst = LOCAL4,
};

static const struct pkt_encap_spec to_local6 = {
	.smac = {0x02, 0, 0, 0, 0, 0xb1},
	.dmac = {0x02, 0, 0, 0, 0, 0xbe},
	.src = "2001:db8::1",
	.dst = LOCAL6,
	.ttl = 3,
};

/* A client's flow to a VIP as the balancer received it. */
static struct pkt_spec client(__u8 family, __u8 proto)
{
	struct pkt_spec s = {
		.family = family,
		.src = family == XLB_AF_INET ? "198.51.100.7" : "2001:db8:c::7",
		.dst = family == XLB_AF_INET ? "203.0.113.10" : "2001:db8:f::10",
		.proto = proto,
		.sport = 51515,
		.dport = 443,
		.tcp_flags = PKT_TCP_SYN,
		.tos = 0x10,
		.flow_label = 0x12345,
		.payload_len = 21,
	};

	memcpy(s.smac, client_mac, 6);
	memcpy(s.dmac, router_mac, 6);
	if (family == XLB_AF_INET6)
		s.tos = 0;	/* keep tos and flow_label apart: only IPv6 takes a label */
	else
		s.flow_label = 0;
	return s;
}

/*
 * in: the frame the balancer emits for the client's frame; want: that client frame with the
 * encapsulated frame's MACs (and tag), which is all the decap may leave different.
 */
static void make_encap(struct io *io, const struct pkt_spec *inner, const struct pkt_encap_spec *e)
{
	io->want_len = pkt_build(io->want, sizeof(io->want), inner);
	assert_true(io->want_len > 0);
	io->in_len = pkt_encap(io->in, sizeof(io->in), io->want, io->want_len, e);
	assert_true(io->in_len > 0);
	memcpy(io->want, e->dmac, 6);
	memcpy(io->want + 6, e->smac, 6);
}

/*
 * An outer header pkt_encap does not make (options, fragments, odd combinations): outer is
 * built with the inner packet as its payload, the Ethernet header from outer too.
 */
static void make_outer(struct io *io, const struct pkt_spec *inner, struct pkt_spec outer)
{
	__u8 l3[BUF];
	struct pkt_spec expect = *inner;

	outer.inner = l3;
	outer.inner_len = pkt_build_l3(l3, sizeof(l3), inner);
	assert_true(outer.inner_len > 0);
	io->in_len = pkt_build(io->in, sizeof(io->in), &outer);
	assert_true(io->in_len > 0);
	memcpy(expect.smac, outer.smac, 6);
	memcpy(expect.dmac, outer.dmac, 6);
	expect.vlan = outer.vlan;
	io->want_len = pkt_build(io->want, sizeof(io->want), &expect);
	assert_true(io->want_len > 0);
}

static struct pkt_spec outer_spec(__u8 family, __u8 proto, const char *dst)
{
	const struct pkt_encap_spec *e = family == XLB_AF_INET ? &to_local4 : &to_local6;
	struct pkt_spec s = {.family = family, .src = e->src, .dst = dst, .proto = proto};

	memcpy(s.smac, e->smac, 6);
	memcpy(s.dmac, e->dmac, 6);
	return s;
}

/* --- Frames; each fills in and want (want is ignored when the frame must pass unchanged). --- */

static void ipip4_tcp(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_TCP);

	make_encap(io, &in, &to_local4);
}

static void ipip6_udp(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET6, IPPROTO_UDP);

	make_encap(io, &in, &to_local6);
}

static void ipip4_vlan(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_UDP);

	in.vlan = 100;
	make_encap(io, &in, &to_local4);
}

static void ipip6_vlan(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET6, IPPROTO_TCP);

	in.vlan = 4094;
	make_encap(io, &in, &to_local6);
}

/* Inner IPv4 options and an inner ICMP error: the inner packet is opaque, kept as it is. */
static void ipip4_inner_options_icmp(struct io *io)
{
	struct pkt_spec quoted = client(XLB_AF_INET, IPPROTO_TCP), in;
	__u8 l3[BUF];

	quoted.payload_len = 0;
	in = client(XLB_AF_INET, IPPROTO_ICMP);
	in.ipv4_opt_len = 12;
	in.icmp_type = 3;
	in.icmp_code = 4;
	in.icmp_mtu = 1400;
	in.inner = l3;
	in.inner_len = pkt_build_l3(l3, sizeof(l3), &quoted);
	make_encap(io, &in, &to_local4);
}

static void ipip4_outer_options(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_TCP);
	struct pkt_spec outer = outer_spec(XLB_AF_INET, IPPROTO_IPIP, LOCAL4);

	outer.ipv4_opt_len = 40;
	outer.vlan = 7;
	make_outer(io, &in, outer);
}

/* Ethernet padding after the outer packet stays after the inner one; the stack trims it. */
static void ipip4_padding(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_UDP);

	in.payload_len = 0;
	make_encap(io, &in, &to_local4);
	memset(io->in + io->in_len, 0, 6);
	memset(io->want + io->want_len, 0, 6);
	io->in_len += 6;
	io->want_len += 6;
}

static void ipip4_not_local(struct io *io)
{
	struct pkt_encap_spec e = to_local4;
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_TCP);

	e.dst = "192.0.2.101";
	make_encap(io, &in, &e);
}

static void ipip6_not_local(struct io *io)
{
	struct pkt_encap_spec e = to_local6;
	struct pkt_spec in = client(XLB_AF_INET6, IPPROTO_TCP);

	e.dst = "2001:db8::101";
	make_encap(io, &in, &e);
}

/* GUE (direct IP in UDP) as the balancer sends it, to the decap's default port. */
static void gue_to(struct io *io, struct pkt_spec in, struct pkt_encap_spec e, __u16 dport)
{
	e.gue_sport = 40000 + in.sport % 1000;
	e.gue_dport = dport;
	make_encap(io, &in, &e);
}

static void gue4_tcp(struct io *io)
{
	gue_to(io, client(XLB_AF_INET, IPPROTO_TCP), to_local4, XLB_GUE_PORT_DEFAULT);
}

static void gue6_udp(struct io *io)
{
	gue_to(io, client(XLB_AF_INET6, IPPROTO_UDP), to_local6, XLB_GUE_PORT_DEFAULT);
}

/* IPv4 inside IPv6 UDP, tagged: the EtherType becomes IPv4's, the tag stays. */
static void gue_4in6_vlan(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_TCP);

	in.vlan = 12;
	gue_to(io, in, to_local6, XLB_GUE_PORT_DEFAULT);
}

static void ipip_4in6(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_UDP);

	make_encap(io, &in, &to_local6);
}

static void gue4_other_port(struct io *io)
{
	gue_to(io, client(XLB_AF_INET, IPPROTO_TCP), to_local4, XLB_GUE_PORT_DEFAULT + 1);
}

static void gue6_not_local(struct io *io)
{
	struct pkt_encap_spec e = to_local6;

	e.dst = "2001:db8::101";
	gue_to(io, client(XLB_AF_INET6, IPPROTO_TCP), e, XLB_GUE_PORT_DEFAULT);
}

/* IPv6 inside IPv4 UDP to the GUE port: never sent by the balancer, left alone. */
static void gue_6in4(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET6, IPPROTO_TCP);
	struct pkt_spec outer = outer_spec(XLB_AF_INET, IPPROTO_UDP, LOCAL4);

	outer.sport = 40000;
	outer.dport = XLB_GUE_PORT_DEFAULT;
	make_outer(io, &in, outer);
}

/* The client's own packet addressed to the host: ordinary traffic. */
static void plain4_tcp(struct io *io)
{
	struct pkt_spec s = client(XLB_AF_INET, IPPROTO_TCP);

	s.dst = LOCAL4;
	io->in_len = pkt_build(io->in, sizeof(io->in), &s);
}

static void plain6_udp_vlan(struct io *io)
{
	struct pkt_spec s = client(XLB_AF_INET6, IPPROTO_UDP);

	s.dst = LOCAL6;
	s.vlan = 5;
	io->in_len = pkt_build(io->in, sizeof(io->in), &s);
}

static void plain6_fragment(struct io *io)
{
	struct pkt_spec s = client(XLB_AF_INET6, IPPROTO_UDP);

	s.dst = LOCAL6;
	s.frag = PKT_IP_MF;
	io->in_len = pkt_build(io->in, sizeof(io->in), &s);
}

static void arp(struct io *io)
{
	static const __u8 frame[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01,
				       0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};

	memcpy(io->in, frame, sizeof(frame));
	io->in_len = sizeof(frame);
}

/* Only one tag is ours to keep: a second one hides what follows. */
static void qinq(struct io *io)
{
	ipip4_vlan(io);
	memmove(io->in + 16, io->in + 12, io->in_len - 12);
	io->in[12] = 0x81;
	io->in[13] = 0x00;
	io->in[14] = 0x00;
	io->in[15] = 0x0a;
	io->in_len += 4;
}

static void six_in_four(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET6, IPPROTO_TCP);

	make_outer(io, &in, outer_spec(XLB_AF_INET, IPPROTO_IPV6, LOCAL4));
}

static void four_in_six(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_TCP);

	make_outer(io, &in, outer_spec(XLB_AF_INET6, IPPROTO_IPIP, LOCAL6));
}

/* The first fragment of an encapsulated packet to us: MF set, offset 0. */
static void first_fragment(struct io *io, __u8 family)
{
	bool v4 = family == XLB_AF_INET;
	struct pkt_spec in = client(family, IPPROTO_UDP);
	struct pkt_spec outer = outer_spec(family, v4 ? IPPROTO_IPIP : IPPROTO_IPV6,
					   v4 ? LOCAL4 : LOCAL6);

	outer.frag = PKT_IP_MF;
	make_outer(io, &in, outer);
}

static void ipip4_first_fragment(struct io *io)
{
	first_fragment(io, XLB_AF_INET);
}

/* A later fragment may carry fewer bytes than an inner header: still a fragment. */
static void ipip4_later_fragment(struct io *io)
{
	struct pkt_spec outer = outer_spec(XLB_AF_INET, IPPROTO_IPIP, LOCAL4);

	outer.frag = 64;
	outer.payload_len = 8;
	io->in_len = pkt_build(io->in, sizeof(io->in), &outer);
}

static void ipip6_fragment(struct io *io)
{
	first_fragment(io, XLB_AF_INET6);
}

static void ipip6_fragment_short_payload_len(struct io *io)
{
	ipip6_fragment(io);
	io->in[PKT_ETH_LEN + 4] = 0;
	io->in[PKT_ETH_LEN + 5] = PKT_IPV6_FRAG_LEN - 1;
}

static void ipip4_bad_csum(struct io *io)
{
	ipip4_tcp(io);
	io->in[PKT_ETH_LEN + 10] ^= 0x40;
}

/* After editing an IPv4 header, so that the edit is the only thing wrong with it. */
static void fix_ipv4_csum(__u8 *ip)
{
	__u16 csum;

	ip[10] = ip[11] = 0;
	csum = pkt_csum(ip, (ip[0] & 0xf) * 4);
	ip[10] = csum >> 8;
	ip[11] = csum & 0xff;
}

static void ipip4_bad_version(struct io *io)
{
	ipip4_tcp(io);
	io->in[PKT_ETH_LEN] = 0x55;
	fix_ipv4_csum(io->in + PKT_ETH_LEN);
}

/* Malformed outranks fragment: a tot_len that ends inside the header is no fragment. */
static void ipip4_tot_len_in_header(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET, IPPROTO_TCP);
	struct pkt_spec outer = outer_spec(XLB_AF_INET, IPPROTO_IPIP, LOCAL4);
	__u8 *ip = io->in + PKT_ETH_LEN;

	outer.ipv4_opt_len = 8;
	outer.frag = PKT_IP_MF;
	make_outer(io, &in, outer);
	ip[2] = 0;
	ip[3] = PKT_IPV4_LEN + 4;
	fix_ipv4_csum(ip);
}

/* Protocol 4 whose payload is IPv6: not what the balancer sends. */
static void ipip4_inner_is_ipv6(struct io *io)
{
	struct pkt_spec in = client(XLB_AF_INET6, IPPROTO_TCP);

	make_outer(io, &in, outer_spec(XLB_AF_INET, IPPROTO_IPIP, LOCAL4));
}

/* tot_len leaves room for less than an inner header although the frame has more. */
static void ipip4_short_inner(struct io *io)
{
	struct pkt_spec outer = outer_spec(XLB_AF_INET, IPPROTO_IPIP, LOCAL4);

	outer.payload_len = 19;
	io->in_len = pkt_build(io->in, sizeof(io->in), &outer);
	memset(io->in + io->in_len, 0x45, 20);
	io->in_len += 20;
}

static void ipip6_short_payload_len(struct io *io)
{
	ipip6_udp(io);
	io->in[PKT_ETH_LEN + 4] = 0;
	io->in[PKT_ETH_LEN + 5] = 39;
}

static void eth_only(struct io *io)
{
	memcpy(io->in, router_mac, 6);
	memcpy(io->in + 6, client_mac, 6);
	io->in[12] = 0x08;
	io->in[13] = 0x00;
	io->in_len = PKT_ETH_LEN;
}

#define STAT(f)	offsetof(struct xlb_decap_stats, f), #f

static const struct tcase {
	const char *name;
	void (*make)(struct io *io);
	size_t stat;		/* the one counter the frame moves */
	const char *stat_name;
} cases[] = {
	{"IPv4-in-IPv4 TCP", ipip4_tcp, STAT(decapped)},
	{"IPv6-in-IPv6 UDP", ipip6_udp, STAT(decapped)},
	{"IPv4-in-IPv4, 802.1Q tag", ipip4_vlan, STAT(decapped)},
	{"IPv6-in-IPv6, 802.1Q tag", ipip6_vlan, STAT(decapped)},
	{"IPv4-in-IPv4, inner options and ICMP error", ipip4_inner_options_icmp, STAT(decapped)},
	{"IPv4-in-IPv4, 40 bytes of outer options and a tag", ipip4_outer_options, STAT(decapped)},
	{"IPv4-in-IPv4, Ethernet padding", ipip4_padding, STAT(decapped)},
	{"GUE IPv4 TCP", gue4_tcp, STAT(decapped)},
	{"GUE IPv6 UDP", gue6_udp, STAT(decapped)},
	{"GUE IPv4-in-IPv6, 802.1Q tag", gue_4in6_vlan, STAT(decapped)},
	{"IPv4-in-IPv6 UDP", ipip_4in6, STAT(decapped)},
	{"GUE to another port", gue4_other_port, STAT(pass_not_encap)},
	{"GUE IPv6-in-IPv4", gue_6in4, STAT(pass_not_encap)},
	{"GUE IPv6 to another host", gue6_not_local, STAT(pass_not_local)},
	{"IPv4-in-IPv4 to another host", ipip4_not_local, STAT(pass_not_local)},
	{"IPv6-in-IPv6 to another host", ipip6_not_local, STAT(pass_not_local)},
	{"IPv4 TCP to the host", plain4_tcp, STAT(pass_not_encap)},
	{"IPv6 UDP to the host, tagged", plain6_udp_vlan, STAT(pass_not_encap)},
	{"IPv6 UDP fragment to the host", plain6_fragment, STAT(pass_not_encap)},
	{"ARP", arp, STAT(pass_not_encap)},
	{"two VLAN tags", qinq, STAT(pass_not_encap)},
	{"IPv6-in-IPv4", six_in_four, STAT(pass_not_encap)},
	{"IPv4-in-IPv6", four_in_six, STAT(decapped)},
	{"IPv4-in-IPv4, outer first fragment", ipip4_first_fragment, STAT(pass_fragment)},
	{"IPv4-in-IPv4, outer later fragment", ipip4_later_fragment, STAT(pass_fragment)},
	{"IPv6-in-IPv6, outer Fragment header", ipip6_fragment, STAT(pass_fragment)},
	{"IPv4-in-IPv4, bad outer checksum", ipip4_bad_csum, STAT(pass_malformed)},
	{"IPv4-in-IPv4, outer version 5", ipip4_bad_version, STAT(pass_malformed)},
	{"IPv4-in-IPv4 fragment, tot_len inside the header", ipip4_tot_len_in_header,
	 STAT(pass_malformed)},
	{"protocol 4 carrying IPv6", ipip4_inner_is_ipv6, STAT(pass_malformed)},
	{"IPv4-in-IPv4, tot_len short of an inner header", ipip4_short_inner, STAT(pass_malformed)},
	{"IPv6-in-IPv6, payload_len short of an inner header", ipip6_short_payload_len,
	 STAT(pass_malformed)},
	{"IPv6-in-IPv6 fragment, payload_len inside the Fragment header",
	 ipip6_fragment_short_payload_len, STAT(pass_malformed)},
	{"Ethernet header only", eth_only, STAT(pass_malformed)},
};

static void read_stats(struct xlb_decap_stats *sum)
{
	int n = libbpf_num_possible_cpus(), i;
	struct xlb_decap_stats *v;
	__u32 key = 0;

	assert_true(n > 0);
	v = calloc(n, sizeof(*v));
	assert_non_null(v);
	assert_int_equal(bpf_map__lookup_elem(skel->maps.decap_stats, &key, sizeof(key), v,
					      n * sizeof(*v), 0), 0);
	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < n; i++) {
		sum->decapped += v[i].decapped;
		sum->pass_not_encap += v[i].pass_not_encap;
		sum->pass_not_local += v[i].pass_not_local;
		sum->pass_fragment += v[i].pass_fragment;
		sum->pass_malformed += v[i].pass_malformed;
		sum->drop_internal += v[i].drop_internal;
	}
	free(v);
}

static __u64 stat_at(const struct xlb_decap_stats *st, size_t off)
{
	return *(const __u64 *)((const char *)st + off);
}

/* struct xlb_decap_stats' fields in order, for failure messages. */
static const char *const stat_names[] = {
	"decapped",	  "pass_not_encap", "pass_not_local",
	"pass_fragment", "pass_malformed", "drop_internal",
};
_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) * sizeof(__u64) ==
		       sizeof(struct xlb_decap_stats),
	       "a name for every counter");

/*
 * Run one frame; fail unless the verdict is XDP_PASS, the output is want, and the counter at
 * offset stat went up by one with every other counter unchanged.
 */
static void expect(const char *name, const __u8 *in, size_t in_len, const __u8 *want,
		   size_t want_len, size_t stat, const char *stat_name)
{
	struct xlb_decap_stats before, after;
	__u8 out[BUF + 256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	size_t off;
	int err;

	read_stats(&before);
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xlb_decap), &opts);
	runs++;
	if (err)
		fail_msg("%s: test run failed: %s", name, strerror(-err));
	if (opts.retval != XDP_PASS)
		fail_msg("%s: verdict %u, want XDP_PASS (%u)", name, opts.retval, XDP_PASS);
	if (opts.data_size_out != want_len || memcmp(out, want, want_len)) {
		pkt_hexdump_diff(out, opts.data_size_out, want, want_len);
		fail_msg("%s: output differs from the expected frame", name);
	}
	read_stats(&after);
	for (off = 0; off < sizeof(after); off += sizeof(__u64)) {
		__u64 delta = stat_at(&after, off) - stat_at(&before, off);

		if (delta != (off == stat))
			fail_msg("%s: %s moved by %llu, want only %s +1", name,
				 stat_names[off / sizeof(__u64)], (unsigned long long)delta,
				 stat_name);
	}
}

static void test_table(void **state)
{
	static struct io io;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tcase *t = &cases[i];
		bool decap = t->stat == offsetof(struct xlb_decap_stats, decapped);

		memset(&io, 0, sizeof(io));
		t->make(&io);
		assert_true(io.in_len >= PKT_ETH_LEN);
		if (decap)
			expect(t->name, io.in, io.in_len, io.want, io.want_len, t->stat,
			       t->stat_name);
		else
			expect(t->name, io.in, io.in_len, io.in, io.in_len, t->stat, t->stat_name);
	}
}

/* End of the inner L4 header: the frame's layout, found the way the program must find it. */
static size_t inner_l4_end(const __u8 *f, size_t len)
{
	__u16 proto;
	size_t off = pkt_l2_len(f, len, &proto), inner, outer;

	outer = off;
	off += proto == 0x0800 ? (f[off] & 0xf) * 4u : PKT_IPV6_LEN;
	/* GUE: a UDP header between the outer and the inner packet. */
	if (f[outer + (proto == 0x0800 ? 9 : 6)] == IPPROTO_UDP)
		off += PKT_UDP_LEN;
	inner = off;
	if (f[inner] >> 4 == 4) {
		off += (f[inner] & 0xf) * 4u;
		proto = f[inner + 9];
	} else {
		off += PKT_IPV6_LEN;
		proto = f[inner + 6];
	}
	return off + (proto == IPPROTO_TCP ? PKT_TCP_LEN : PKT_UDP_LEN);
}

/* Every cut of a good encapsulated frame, from an Ethernet header up to a whole inner L4 header. */
static void test_truncations(void **state)
{
	static void (*const frames[])(struct io *) = {
		ipip4_tcp, ipip6_udp, ipip4_vlan, ipip6_vlan, ipip4_outer_options,
		gue4_tcp, gue6_udp, gue_4in6_vlan, ipip_4in6,
	};
	static struct io io;
	char name[64];
	size_t i, cut, end;

	for (i = 0; i < ARRAY_SIZE(frames); i++) {
		memset(&io, 0, sizeof(io));
		frames[i](&io);
		end = inner_l4_end(io.in, io.in_len);
		assert_true(end < io.in_len);	/* payload follows: every cut is short */
		for (cut = PKT_ETH_LEN; cut <= end; cut++) {
			snprintf(name, sizeof(name), "frame %zu cut at %zu of %zu", i, cut,
				 io.in_len);
			expect(name, io.in, cut, io.in, cut, STAT(pass_malformed));
		}
	}
}

static void test_counters_add_up(void **state)
{
	struct xlb_decap_stats st;

	read_stats(&st);
	assert_true(runs > ARRAY_SIZE(cases));
	assert_int_equal(st.decapped + st.pass_not_encap + st.pass_not_local + st.pass_fragment +
				 st.pass_malformed + st.drop_internal,
			 runs);
	assert_int_equal(st.drop_internal, 0);
}

static int add_local(const char *text)
{
	struct xlb_vip_addr_key key = {};
	__u32 one = 1;

	if (pkt_addr(&key.addr, &key.family, text))
		return -EINVAL;
	return bpf_map__update_elem(skel->maps.decap_addrs, &key, sizeof(key), &one, sizeof(one),
				    BPF_NOEXIST);
}

static int setup(void **state)
{
	int err;

	skel = decap__open_and_load();
	if (!skel) {
		fprintf(stderr, "decap__open_and_load: %s\n", strerror(errno));
		return -1;
	}
	err = add_local(LOCAL4);
	if (!err)
		err = add_local(LOCAL6);
	if (err) {
		fprintf(stderr, "decap_addrs: %s\n", strerror(-err));
		decap__destroy(skel);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	decap__destroy(skel);
	return 0;
}

int main(void)
{
	/* Order matters: the last test checks the counters of all runs before it. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_counters_add_up),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
