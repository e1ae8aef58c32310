/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the balancer: a cursor over the frame and one small
 * helper per header, each checking its bounds once.
 *
 * What the parser promises the later stages (struct meta): the frame holds
 * the whole L3 packet as its header claims (l3off + l3len <= frame length),
 * and the L4 header the flow came from was inside it.
 */
#ifndef XLB_BPF_PARSE_H
#define XLB_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb_abi.h"

#define IP_MF		0x2000
#define IP_DF		0x4000
#define IP_OFFSET	0x1FFF

/* IPv6 extension headers we step over on the way to L4 (RFC 8200 4.1). */
#define XLB_IPV6_EXT_MAX 3

struct cursor {
	void *pos;
	void *end;
};

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};
_Static_assert(sizeof(struct vlan_hdr) == 4, "push_l3() copies a tag as one word");

struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M */
	__be32 identification;
};

/* Everything the stages after parsing need to know about one packet. */
struct meta {
	struct xlb_flow flow;	/* as it arrived: src/dst/ports/proto/family */
	__u32 l3off;		/* Ethernet (+ VLAN) header length: 14 or 18 */
	__u32 l3len;		/* IP packet length from its header */
	__u8 tos;		/* IPv4 TOS (copied to the outer header) */
	__u8 df;		/* IPv4 DF set (copied to the outer header) */
	__u16 l4off;		/* TCP/UDP/ICMP header offset (set for those only) */
};

/*
 * The frame's length. Written as ctx->data_end - ctx->data, two __u32
 * fields, clang's 32-bit ALU mode (-mcpu=v3) may hold a packet pointer in a
 * 32-bit register and spill it with a 4-byte store, which the verifier
 * refuses; the empty asm makes each a 64-bit value (a pointer) at once.
 */
static __always_inline __u32 frame_len(const struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	asm volatile("" : "+r"(data), "+r"(end));
	return end - data;
}

/*
 * Copies of the few header sizes moved per packet, in the widest loads and
 * stores: __builtin_memcpy between byte pointers (packet data, MAC arrays)
 * compiles to one load and one store per byte. Unaligned access is fine:
 * the verifier checks alignment only on machines without efficient
 * unaligned access (never on the stack, which these are not used on).
 */
static __always_inline void copy_mac(void *dst, const void *src)
{
	*(__u32 *)dst = *(const __u32 *)src;
	*(__u16 *)(dst + 4) = *(const __u16 *)(src + 4);
}

static __always_inline void copy_eth(void *dst, const void *src)
{
	*(__u64 *)dst = *(const __u64 *)src;
	*(__u32 *)(dst + 8) = *(const __u32 *)(src + 8);
	*(__u16 *)(dst + 12) = *(const __u16 *)(src + 12);
}
_Static_assert(sizeof(struct ethhdr) == 14 && ETH_ALEN == 6, "copy_eth, copy_mac");

static __always_inline void *cursor_pull(struct cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return NULL;
	c->pos = p + len;
	return p;
}

/*
 * Ethernet with at most one 802.1Q tag (DESIGN.md); a second tag or 802.1ad
 * is just an ethertype we do not handle. Returns the ethertype, 0 if cut.
 */
static __always_inline __be16 parse_eth(struct cursor *c)
{
	struct ethhdr *eth = cursor_pull(c, sizeof(*eth));
	struct vlan_hdr *vh;
	__be16 proto;

	if (!eth)
		return 0;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		vh = cursor_pull(c, sizeof(*vh));
		if (!vh)
			return 0;
		proto = vh->encap_proto;
	}
	return proto;
}

/* TCP or UDP ports at l4, which must lie inside the packet [.., l3end). */
static __always_inline int parse_ports(struct meta *m, void *l4, void *l3end, void *end)
{
	__u32 need = m->flow.proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
	struct udphdr *uh = l4;	/* ports sit at the same place in both */

	if (l4 + need > end || l4 + need > l3end)
		return -1;
	m->flow.sport = uh->source;
	m->flow.dport = uh->dest;
	return 0;
}

/*
 * Step over IPv6 extension headers (hop-by-hop, routing, destination
 * options) up to a fixed count, so the verifier sees a bounded loop. Returns
 * the next header after them, or -1 if they are cut, too many, or a
 * Hop-by-Hop header comes anywhere but first (RFC 8200 4.3: only right after
 * the IPv6 header; every router on the path would have had to read it).
 */
static __always_inline int ipv6_skip_ext(struct cursor *c, __u8 nexthdr)
{
	struct ipv6_opt_hdr *oh;

#pragma unroll
	for (int i = 0; i < XLB_IPV6_EXT_MAX; i++) {
		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
		    nexthdr != IPPROTO_DSTOPTS)
			return nexthdr;
		if (nexthdr == IPPROTO_HOPOPTS && i > 0)
			return -1;
		oh = c->pos;
		if ((void *)(oh + 1) > c->end)
			return -1;
		nexthdr = oh->nexthdr;
		if (!cursor_pull(c, (oh->hdrlen + 1) * 8))
			return -1;
	}
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING || nexthdr == IPPROTO_DSTOPTS)
		return -1;
	return nexthdr;
}

#endif /* XLB_BPF_PARSE_H */
