/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP for VIP addresses.
 *
 * Echo requests are answered here (XDP_TX): the balancer owns the VIP as
 * far as the network can tell, and a VIP that does not answer ping looks
 * down to every operator.
 *
 * "Fragmentation needed" (ICMPv4 3/4) and "packet too big" (ICMPv6 2) come
 * back to the VIP from a router on the path between a backend and a client,
 * because the backend answers the client directly with the VIP as source.
 * They quote the backend's packet: reversing its tuple gives the client's
 * flow, which goes to the backend that owns it, so that path-MTU discovery
 * works through the balancer.
 */
#ifndef XLB_BPF_ICMP_H
#define XLB_BPF_ICMP_H

#include <linux/icmpv6.h>
#include "lb.h"
#include "forward.h"
#include "toobig.h"

#define XLB_ECHO_TTL 64

static __always_inline int echo_reply4(struct xdp_md *ctx, struct iphdr *iph, struct icmphdr *ic)
{
	__be32 addr = iph->saddr;
	__u16 old = *(__u16 *)ic;

	/* Options (record route, timestamps) would need answering too. */
	if (iph->ihl != 5)
		return done(XDP_PASS, pass_other);
	if (swap_macs(ctx))
		return done(XDP_DROP, drop_internal);
	iph->saddr = iph->daddr;
	iph->daddr = addr;
	iph->ttl = XLB_ECHO_TTL;
	ipv4_csum_set(iph);
	ic->type = ICMP_ECHOREPLY;
	ic->checksum = csum_replace2(ic->checksum, old, *(__u16 *)ic);
	count_note(icmp_echo);
	return done(XDP_TX, tx);
}

static __always_inline int echo_reply6(struct xdp_md *ctx, struct ipv6hdr *ip6,
				       struct icmp6hdr *ic)
{
	struct in6_addr addr = ip6->saddr;
	__u16 old = *(__u16 *)ic;

	if (swap_macs(ctx))
		return done(XDP_DROP, drop_internal);
	/* The pseudo-header sum does not change when the addresses swap. */
	ip6->saddr = ip6->daddr;
	ip6->daddr = addr;
	ip6->hop_limit = XLB_ECHO_TTL;
	ic->icmp6_type = ICMPV6_ECHO_REPLY;
	ic->icmp6_cksum = csum_replace2(ic->icmp6_cksum, old, *(__u16 *)ic);
	count_note(icmp_echo);
	return done(XDP_TX, tx);
}

/*
 * Steer a too-big error quoting `f` (already reversed into the client's
 * direction) to the backend that owns that flow. Nothing is bound: an error
 * must not create a connection.
 */
static __always_inline int steer_too_big(struct xdp_md *ctx, const struct meta *m,
					 const struct xlb_flow *f)
{
	struct xlb_config *cfg = config_get();
	struct xlb_backend *be;
	struct xlb_vip *vip;
	__u32 id;

	if (!cfg)
		return done(XDP_DROP, drop_internal);
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return done(XDP_PASS, pass_other);
	vip = vip_lookup(f, f->dport);
	/* A nat VIP's errors were translated by their entry (nat.h) if they had one. */
	if (!vip || vip->method == XLB_METHOD_NAT)
		return done(XDP_PASS, pass_other);
	be = pick_backend(vip, f, cfg, &id);
	if (be)
		count_note(icmp_too_big);
	/* Counted on the VIP too: its packets stay the sum of its backends'. */
	return deliver(ctx, cfg, m, vip, be, id, PICK_CONN);
}

/*
 * The quoted packet is trusted only as far as it is a well-formed header of
 * the error's own family that, with the 8 bytes after it that RFC 792 and
 * RFC 4443 promise (the ports), lies inside the error's IP packet (bytes
 * past its total length are Ethernet padding or garbage), and whose source
 * is the address the error came to, as a router addresses it: a quote that
 * is not what every router sends is not worth steering. Such an error is to
 * a VIP address and cannot be acted on: dropped as malformed, like any other
 * inconsistent packet to a VIP address. A well-formed quote of something
 * that is not a VIP flow (another protocol, a non-first fragment that has
 * no ports, a port no VIP serves) is the kernel's: passed.
 */
#define XLB_QUOTE_L4 8

/* Word by word: clang emits a call to memcmp(), which BPF has not, for 16 bytes. */
static __always_inline int addr6_eq(const struct in6_addr *a, const struct xlb_addr *b)
{
	return !((a->s6_addr32[0] ^ b->w[0]) | (a->s6_addr32[1] ^ b->w[1]) |
		 (a->s6_addr32[2] ^ b->w[2]) | (a->s6_addr32[3] ^ b->w[3]));
}

/*
 * The flow of a quoted packet (header at in, of the error's own family)
 * turned around, into f, which the caller zeroed: the key of the direction
 * the error is about, for the too-big steering below and for NAT's entries
 * (nat.h). Checked as said above, to = the error's destination. Returns
 * the quoted ports (XLB_QUOTE_L4 bytes, inside the quote), or NULL for a
 * malformed quote. A fragment after the first quotes no ports: f->proto
 * stays 0, a flow of no VIP and no NAT entry.
 */
static __always_inline struct udphdr *quote_flow4(struct iphdr *in, void *l3end, void *end,
						  const struct xlb_addr *to, struct xlb_flow *f)
{
	struct udphdr *ports;

	if ((void *)(in + 1) > end || (void *)(in + 1) > l3end || in->version != 4 ||
	    in->ihl < 5 || in->saddr != to->v4)
		return NULL;
	ports = (void *)in + in->ihl * 4;
	if ((void *)ports + XLB_QUOTE_L4 > end || (void *)ports + XLB_QUOTE_L4 > l3end)
		return NULL;
	f->family = XLB_AF_INET;
	f->src.v4 = in->daddr;
	f->dst.v4 = in->saddr;
	if (in->frag_off & bpf_htons(IP_OFFSET))
		return ports;
	f->proto = in->protocol;
	f->sport = ports->dest;
	f->dport = ports->source;
	return ports;
}

/* As quote_flow4(); extension headers in the quote are not parsed (f->proto is theirs). */
static __always_inline struct udphdr *quote_flow6(struct ipv6hdr *in, void *l3end, void *end,
						  const struct xlb_addr *to, struct xlb_flow *f)
{
	struct udphdr *ports = (void *)(in + 1);

	if ((void *)ports + XLB_QUOTE_L4 > end || (void *)ports + XLB_QUOTE_L4 > l3end ||
	    in->version != 6 || !addr6_eq(&in->saddr, to))
		return NULL;
	f->family = XLB_AF_INET6;
	f->proto = in->nexthdr;
	__builtin_memcpy(&f->src, &in->daddr, sizeof(f->src));
	__builtin_memcpy(&f->dst, &in->saddr, sizeof(f->dst));
	f->sport = ports->dest;
	f->dport = ports->source;
	return ports;
}

static __always_inline int too_big4(struct xdp_md *ctx, const struct meta *m,
				    struct icmphdr *ic, void *l3end, void *end)
{
	struct xlb_flow f = {};

	if (!quote_flow4((void *)(ic + 1), l3end, end, &m->flow.dst, &f))
		return done(XDP_DROP, drop_malformed);
	return steer_too_big(ctx, m, &f);
}

static __always_inline int too_big6(struct xdp_md *ctx, const struct meta *m,
				    struct icmp6hdr *ic, void *l3end, void *end)
{
	struct xlb_flow f = {};

	if (!quote_flow6((void *)(ic + 1), l3end, end, &m->flow.dst, &f))
		return done(XDP_DROP, drop_malformed);
	return steer_too_big(ctx, m, &f);
}

#endif /* XLB_BPF_ICMP_H */
