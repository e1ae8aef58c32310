/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Encapsulation towards a backend: IPIP (IPv4-in-IPv4, protocol 4;
 * IPv6-in-IPv6, next header 41; IPv4-in-IPv6, next header 4) and GUE (the
 * same inside UDP). The frame grows at the front by one IP header: the Ethernet
 * header (and its VLAN tag) moves forward, the outer header goes between it
 * and the untouched inner packet. Ethernet padding after the inner packet is
 * trimmed first so that the outer length covers exactly what follows it.
 */
#ifndef XLB_BPF_ENCAP_H
#define XLB_BPF_ENCAP_H

#include <stdbool.h>

#include "parse.h"
#include "csum.h"
#include "xlb_hash.h"

#define XLB_DEFAULT_TTL 64

/* Drop what lies after the IP packet (minimum-size frame padding). */
static __always_inline int trim_padding(struct xdp_md *ctx, const struct meta *m)
{
	long pad = (long)frame_len(ctx) - m->l3off - m->l3len;

	if (pad <= 0)
		return 0;
	return bpf_xdp_adjust_tail(ctx, (int)-pad);
}

/*
 * Grow the head by `grow` bytes and move the L2 header (14 bytes, or 18 with
 * a VLAN tag) to the new start. Returns the new L3 start or NULL. The shift
 * is at least 20 bytes, more than the L2 header, so the copy never overlaps.
 */
static __always_inline void *push_l3(struct xdp_md *ctx, __u32 l3off, __u32 grow, void **endp)
{
	void *data, *end;

	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return NULL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	*endp = end;
	if (data + grow + sizeof(struct ethhdr) + sizeof(struct vlan_hdr) > end)
		return NULL;
	copy_eth(data, data + grow);
	if (l3off == sizeof(struct ethhdr) + sizeof(struct vlan_hdr)) {
		*(__u32 *)(data + sizeof(struct ethhdr)) =
			*(__u32 *)(data + grow + sizeof(struct ethhdr));
		return data + sizeof(struct ethhdr) + sizeof(struct vlan_hdr);
	}
	return data + sizeof(struct ethhdr);
}

/*
 * The outer UDP source port of a GUE packet: the flow's 5-tuple hash folded
 * into XLB_GUE_SPORT_MIN..65535, so that a backend's RSS and the routers'
 * ECMP spread flows while each flow keeps one port (and one queue, one path).
 * IP fragments carry no ports: all of a datagram's pieces share one port.
 */
static __always_inline __be16 gue_sport(const struct meta *m)
{
	return bpf_htons(XLB_GUE_SPORT_MIN | xlb_encap_hash(&m->flow) >> XLB_GUE_SPORT_SHIFT);
}

/*
 * GUE variant 1 ("direct IP"): the UDP payload is the inner IP packet itself,
 * which the receiver tells apart by its version nibble. The checksum is 0:
 * optional for IPv4 (RFC 768); for IPv6, RFC 6935/6936 allow 0 for tunnel
 * protocols whose payload carries its own checksums, and the kernel's fou
 * sockets accept it (created without udp6 receive checksums). Computing it
 * would read the whole packet, many times the cost of everything else here.
 */
static __always_inline void gue_fill(struct udphdr *udp, __be16 sport, __be16 dport, __u32 len)
{
	udp->source = sport;
	udp->dest = dport;
	udp->len = bpf_htons(len + sizeof(*udp));
	udp->check = 0;
}

/*
 * IPv4 outer header: IPIP (protocol 4) or, with `gue`, UDP to gue_port.
 * The inner packet is IPv4 (xlb never carries IPv6 in IPv4). `gue` must be a
 * constant at every call so that the header size is one to the verifier.
 */
static __always_inline int encap_ipv4(struct xdp_md *ctx, const struct meta *m,
				      __be32 saddr, __be32 daddr, __u8 ttl, bool gue,
				      __be16 gue_port)
{
	__u32 hlen = sizeof(struct iphdr) + (gue ? sizeof(struct udphdr) : 0);
	struct iphdr *outer;
	void *end;

	if (trim_padding(ctx, m))
		return -1;
	/* The end as push_l3 read it: a second read of ctx may be compiled
	 * into a spilled ctx + 4 pointer, which the verifier refuses. */
	outer = push_l3(ctx, m->l3off, hlen, &end);
	if (!outer || (void *)outer + hlen > end)
		return -1;
	ipv4_hdr_build(outer, m->tos, m->l3len + hlen, m->df ? IP_DF : 0,
		       ttl ? ttl : XLB_DEFAULT_TTL, gue ? IPPROTO_UDP : IPPROTO_IPIP, saddr, daddr);
	if (gue)
		gue_fill((void *)(outer + 1), gue_sport(m), gue_port, m->l3len);
	return 0;
}

/*
 * IPv6 outer header: IP6IP6 (next header 41), IPv4-in-IPv6 (next header 4)
 * or, with `gue`, UDP to gue_port carrying either.
 */
static __always_inline int encap_ipv6(struct xdp_md *ctx, const struct meta *m,
				      const struct xlb_addr *saddr, const struct xlb_addr *daddr,
				      __u8 ttl, bool gue, __be16 gue_port)
{
	__u32 hlen = sizeof(struct ipv6hdr) + (gue ? sizeof(struct udphdr) : 0);
	int v4 = m->flow.family == XLB_AF_INET;
	struct ipv6hdr *outer;
	__u32 label;
	void *end;

	if (trim_padding(ctx, m))
		return -1;
	/* Either inner family has at least an IPv4 header's 20 bytes. */
	outer = push_l3(ctx, m->l3off, hlen, &end);
	if (!outer || (void *)outer + hlen + sizeof(struct iphdr) > end)
		return -1;
	if (v4) {
		/*
		 * Traffic class from the IPv4 TOS; the flow label from the
		 * flow hash (RFC 6438), so that ECMP keeps the flow on one
		 * path and still spreads a balancer's flows.
		 */
		label = xlb_encap_hash(&m->flow) >> 12;
		*(__be32 *)outer = bpf_htonl(6U << 28 | (__u32)m->tos << 20 | label);
		/* The EtherType (after any tag) right before: now the outer's. */
		*((__be16 *)outer - 1) = bpf_htons(ETH_P_IPV6);
	} else {
		/* Version, traffic class and flow label: the inner packet's, so
		 * that ECMP between us and the backend keeps a flow on one path. */
		__builtin_memcpy(outer, (void *)outer + hlen, 4);
	}
	outer->payload_len = bpf_htons(m->l3len + hlen - sizeof(*outer));
	outer->nexthdr = gue ? IPPROTO_UDP : v4 ? IPPROTO_IPIP : IPPROTO_IPV6;
	outer->hop_limit = ttl ? ttl : XLB_DEFAULT_TTL;
	__builtin_memcpy(&outer->saddr, saddr, sizeof(outer->saddr));
	__builtin_memcpy(&outer->daddr, daddr, sizeof(outer->daddr));
	if (gue)
		gue_fill((void *)(outer + 1), gue_sport(m), gue_port, m->l3len);
	return 0;
}

/* Bytes an encapsulation adds in front of the packet towards be. */
static __always_inline __u32 encap_overhead(const struct xlb_backend *be, bool gue)
{
	return (be->family == XLB_AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) +
	       (gue ? sizeof(struct udphdr) : 0);
}

/* Encapsulate towards be, its family deciding the outer header's. */
static __always_inline int encap_to(struct xdp_md *ctx, const struct meta *m,
				    const struct xlb_config *cfg, const struct xlb_backend *be,
				    bool gue, __be16 gue_port)
{
	if (be->family == XLB_AF_INET)
		return encap_ipv4(ctx, m, cfg->src_v4.v4, be->addr.v4, cfg->encap_ttl, gue,
				  gue_port);
	return encap_ipv6(ctx, m, &cfg->src_v6, &be->addr, cfg->encap_ttl, gue, gue_port);
}

#endif /* XLB_BPF_ENCAP_H */
