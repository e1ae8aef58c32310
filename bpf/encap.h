/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPIP encapsulation: IPv4-in-IPv4 (protocol 4) and IPv6-in-IPv6 (next
 * header 41). The frame grows at the front by one IP header: the Ethernet
 * header (and its VLAN tag) moves forward, the outer header goes between it
 * and the untouched inner packet. Ethernet padding after the inner packet is
 * trimmed first so that the outer length covers exactly what follows it.
 */
#ifndef XLB_BPF_ENCAP_H
#define XLB_BPF_ENCAP_H

#include "parse.h"
#include "csum.h"

#define XLB_DEFAULT_TTL 64

/* Drop what lies after the IP packet (minimum-size frame padding). */
static __always_inline int trim_padding(struct xdp_md *ctx, const struct meta *m)
{
	long pad = (long)(ctx->data_end - ctx->data) - m->l3off - m->l3len;

	if (pad <= 0)
		return 0;
	return bpf_xdp_adjust_tail(ctx, (int)-pad);
}

/*
 * Grow the head by `grow` bytes and move the L2 header (14 bytes, or 18 with
 * a VLAN tag) to the new start. Returns the new L3 start or NULL. The shift
 * is at least 20 bytes, more than the L2 header, so the copy never overlaps.
 */
static __always_inline void *push_l3(struct xdp_md *ctx, __u32 l3off, __u32 grow)
{
	void *data, *end;

	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return NULL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + grow + sizeof(struct ethhdr) + sizeof(struct vlan_hdr) > end)
		return NULL;
	__builtin_memcpy(data, data + grow, sizeof(struct ethhdr));
	if (l3off == sizeof(struct ethhdr) + sizeof(struct vlan_hdr)) {
		__builtin_memcpy(data + sizeof(struct ethhdr), data + grow + sizeof(struct ethhdr),
				 sizeof(struct vlan_hdr));
		return data + sizeof(struct ethhdr) + sizeof(struct vlan_hdr);
	}
	return data + sizeof(struct ethhdr);
}

static __always_inline int encap_ipv4(struct xdp_md *ctx, const struct meta *m,
				      __be32 saddr, __be32 daddr, __u8 ttl)
{
	void *end;
	struct iphdr *outer;

	if (trim_padding(ctx, m))
		return -1;
	outer = push_l3(ctx, m->l3off, sizeof(*outer));
	end = (void *)(long)ctx->data_end;
	if (!outer || (void *)(outer + 1) > end)
		return -1;
	outer->version = 4;
	outer->ihl = sizeof(*outer) / 4;
	outer->tos = m->tos;
	outer->tot_len = bpf_htons(m->l3len + sizeof(*outer));
	outer->id = 0;
	outer->frag_off = m->df ? bpf_htons(IP_DF) : 0;
	outer->ttl = ttl ? ttl : XLB_DEFAULT_TTL;
	outer->protocol = IPPROTO_IPIP;
	outer->saddr = saddr;
	outer->daddr = daddr;
	ipv4_csum_set(outer);
	return 0;
}

static __always_inline int encap_ipv6(struct xdp_md *ctx, const struct meta *m,
				      const struct xlb_addr *saddr, const struct xlb_addr *daddr,
				      __u8 ttl)
{
	void *end;
	struct ipv6hdr *outer, *inner;

	if (trim_padding(ctx, m))
		return -1;
	outer = push_l3(ctx, m->l3off, sizeof(*outer));
	end = (void *)(long)ctx->data_end;
	if (!outer)
		return -1;
	inner = outer + 1;
	if ((void *)(inner + 1) > end)
		return -1;
	/* Version, traffic class and flow label: the inner packet's, so that
	 * ECMP between us and the backend keeps a flow on one path. */
	__builtin_memcpy(outer, inner, 4);
	outer->payload_len = bpf_htons(m->l3len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = ttl ? ttl : XLB_DEFAULT_TTL;
	__builtin_memcpy(&outer->saddr, saddr, sizeof(outer->saddr));
	__builtin_memcpy(&outer->daddr, daddr, sizeof(outer->daddr));
	return 0;
}

#endif /* XLB_BPF_ENCAP_H */
