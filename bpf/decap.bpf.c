/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Decapsulation on backend hosts whose kernel has no ipip / ip6_tunnel
 * module: strip the outer header the balancer added and hand the client's
 * packet to the stack as if it had arrived unencapsulated.
 *
 * Rules. A frame is decapsulated when it is Ethernet with at most one 802.1Q
 * tag, then
 *   - IPv4 (options allowed) with protocol 4 carrying IPv4, or
 *   - IPv6 with, right after the fixed header, next header 41 carrying IPv6
 *     or next header 4 carrying IPv4, or
 *   - either of those outer headers with UDP to gue_port (GUE variant 1,
 *     "direct IP") whose payload starts with an IPv4 header, or with an IPv6
 *     header under an IPv6 outer header: what the balancer sends,
 * and the outer destination is in decap_addrs. The outer IP header (and UDP
 * header) goes, the MACs and the tag stay, the EtherType becomes the inner
 * packet's, and the inner packet is not touched: not
 * its TTL, not any Ethernet padding after it (the stack trims that by the
 * inner length), not its ECN field: a CE mark a router set on the outer
 * header is lost, where the kernel's ipip would copy it in (RFC 6040).
 * Everything else is passed untouched and counted under the first rule below
 * that applies, in this order:
 *   pass_malformed  frame cut before its EtherType or IP protocol is known;
 *   pass_not_encap  not IPv4/IPv6, or not 4-in-4 / 6-in-6 / 4-in-6 / UDP
 *                   (6-in-4, GRE, IPv6 extension headers other than
 *                   Fragment, ...);
 *   pass_malformed  outer header cut, bad version, ihl, length or IPv4
 *                   header checksum: the stack drops what it would drop;
 *   pass_not_encap  UDP to another port than gue_port (0: GUE off); UDP
 *                   whose header is cut goes on to the rules below;
 *   pass_not_local  outer destination not one of ours: maybe routed on;
 *   pass_fragment   outer IPv4 with MF or an offset, outer IPv6 with a
 *                   Fragment header (atomic fragments too): reassembly is the
 *                   stack's job, and then it is its packet;
 *   pass_malformed  UDP header cut;
 *   pass_not_encap  on gue_port, a payload that is neither IPv4 nor IPv6
 *                   (GUE variant 0, with its own header: the kernel's), or
 *                   IPv6 under an IPv4 outer header;
 *   pass_malformed  inner header cut, or IPv6 inside IPv4 protocol 4.
 * The UDP checksum is not verified, zero or not: the balancer sends 0 (RFC
 * 6935/6936 for IPv6), and the inner packet carries its own checksums.
 * A helper failure drops the frame (drop_internal): once adjust_head has
 * moved the start, the frame is no longer one the stack could parse.
 * The verdict is XDP_PASS or XDP_DROP, never XDP_ABORTED.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* GUE's UDP port, network order, set before load (decap attach); 0: no GUE. */
const volatile __be16 gue_port = bpf_htons(XLB_GUE_PORT_DEFAULT);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_DECAP_ADDRS);
	__type(key, struct xlb_vip_addr_key);
	__type(value, __u32);
} decap_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_decap_stats);
} decap_stats SEC(".maps");

/* What happened to a frame: one per struct xlb_decap_stats field. */
enum decap_outcome {
	DECAP_DONE,
	DECAP_NOT_ENCAP,
	DECAP_NOT_LOCAL,
	DECAP_FRAGMENT,
	DECAP_MALFORMED,
	DECAP_INTERNAL,
};

/* The largest Ethernet header we keep: 14 bytes plus one 802.1Q tag. */
#define DECAP_L2_MAX		(ETH_HLEN + sizeof(struct vlan_hdr))

static __always_inline bool decap_is_local(const struct xlb_vip_addr_key *key)
{
	return bpf_map_lookup_elem(&decap_addrs, key) != NULL;
}

/*
 * IPv4 header checksum over hlen bytes (20..60). The ones' complement sum of a
 * correct header, checksum included, is 0xffff in either byte order.
 */
static __always_inline bool decap_ipv4_csum_ok(const struct iphdr *iph, __u32 hlen, void *end)
{
	const __u16 *w;
	__u32 sum = 0, i;

	for (i = 0; i < 60 / 2; i++) {
		if (i >= hlen / 2)
			break;
		/*
		 * Hide w's origin from clang: otherwise it folds the per-word
		 * checks into one trip count the verifier cannot follow, and
		 * every access needs its own check.
		 */
		w = (const __u16 *)iph + i;
		asm volatile("" : "+r"(w));
		if ((void *)(w + 1) > end)
			return false;
		sum += *w;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/*
 * After an outer header whose next protocol is `proto` and which says len
 * bytes follow it: the UDP header if GUE, then the inner packet's first
 * header, which must fit in len. *inner_family its family (XLB_AF_*),
 * *extra the UDP header's length (0 or 8).
 */
static __always_inline enum decap_outcome decap_inner(struct cursor *c, __u8 proto, __u32 len,
						      bool outer_v6, __u8 *inner_family,
						      __u32 *extra)
{
	struct udphdr *udp = NULL;
	struct iphdr *inner;
	__u32 need;

	if (proto == IPPROTO_UDP) {
		udp = cursor_pull(c, sizeof(*udp));
		if (!udp || len < sizeof(*udp))
			return DECAP_MALFORMED;
		len -= sizeof(*udp);
	}
	/* Both headers start with the version nibble; 20 bytes to read it. */
	inner = cursor_pull(c, sizeof(*inner));
	if (!inner)
		return DECAP_MALFORMED;
	if (udp) {
		if (inner->version == 4 || (inner->version == 6 && outer_v6))
			proto = inner->version == 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
		else
			return DECAP_NOT_ENCAP;
	}
	if (proto == IPPROTO_IPIP) {
		*inner_family = XLB_AF_INET;
		need = sizeof(struct iphdr);
	} else {
		*inner_family = XLB_AF_INET6;
		need = sizeof(struct ipv6hdr);
	}
	if (len < need || inner->version != (*inner_family == XLB_AF_INET ? 4 : 6) ||
	    !cursor_pull(c, need - sizeof(*inner)))
		return DECAP_MALFORMED;
	*extra = udp ? sizeof(*udp) : 0;
	return DECAP_DONE;
}

/* UDP to a port we do not decapsulate: none of our business. */
static __always_inline bool decap_other_udp(struct cursor c, __u8 proto)
{
	struct udphdr *udp;

	if (proto != IPPROTO_UDP)
		return false;
	udp = cursor_pull(&c, sizeof(*udp));
	return udp && (!gue_port || udp->dest != gue_port);
}

static __always_inline enum decap_outcome decap_parse_ipv4(struct cursor *c, __u32 *outer_len,
							   __u8 *inner_family)
{
	struct iphdr *iph = cursor_pull(c, sizeof(*iph));
	struct xlb_vip_addr_key key = {};
	__u32 hlen, tot_len, extra = 0;
	enum decap_outcome r;

	if (!iph)
		return DECAP_MALFORMED;
	if (iph->protocol != IPPROTO_IPIP && iph->protocol != IPPROTO_UDP)
		return DECAP_NOT_ENCAP;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || hlen < sizeof(*iph) || !cursor_pull(c, hlen - sizeof(*iph)) ||
	    tot_len < hlen || (void *)iph + tot_len > c->end ||
	    !decap_ipv4_csum_ok(iph, hlen, c->end))
		return DECAP_MALFORMED;
	/* A later fragment's first bytes are not a UDP header: no port to read. */
	if (!(iph->frag_off & bpf_htons(IP_OFFSET)) && decap_other_udp(*c, iph->protocol))
		return DECAP_NOT_ENCAP;

	key.family = XLB_AF_INET;
	key.addr.v4 = iph->daddr;
	if (!decap_is_local(&key))
		return DECAP_NOT_LOCAL;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return DECAP_FRAGMENT;

	/* tot_len bounds the inner packet; the pulls prove it to the verifier. */
	r = decap_inner(c, iph->protocol, tot_len - hlen, false, inner_family, &extra);
	*outer_len = hlen + extra;
	return r;
}

static __always_inline enum decap_outcome decap_parse_ipv6(struct cursor *c, __u32 *outer_len,
							   __u8 *inner_family)
{
	struct ipv6hdr *ip6h = cursor_pull(c, sizeof(*ip6h));
	struct xlb_vip_addr_key key = {};
	struct ipv6_frag_hdr *fh = NULL;
	enum decap_outcome r;
	__u32 plen, extra = 0;
	__u8 proto;

	if (!ip6h)
		return DECAP_MALFORMED;
	/* Every fragment's Fragment header names the original next header. */
	proto = ip6h->nexthdr;
	if (proto == IPPROTO_FRAGMENT) {
		fh = cursor_pull(c, sizeof(*fh));
		if (!fh)
			return DECAP_MALFORMED;
		proto = fh->nexthdr;
	}
	if (proto != IPPROTO_IPV6 && proto != IPPROTO_IPIP && proto != IPPROTO_UDP)
		return DECAP_NOT_ENCAP;
	plen = bpf_ntohs(ip6h->payload_len);
	if (ip6h->version != 6 || (fh && plen < sizeof(*fh)) || (void *)(ip6h + 1) + plen > c->end)
		return DECAP_MALFORMED;
	if ((!fh || !(fh->frag_off & bpf_htons(0xfff8))) && decap_other_udp(*c, proto))
		return DECAP_NOT_ENCAP;

	key.family = XLB_AF_INET6;
	__builtin_memcpy(&key.addr, &ip6h->daddr, sizeof(key.addr));
	if (!decap_is_local(&key))
		return DECAP_NOT_LOCAL;
	if (fh)
		return DECAP_FRAGMENT;

	r = decap_inner(c, proto, plen, true, inner_family, &extra);
	*outer_len = sizeof(*ip6h) + extra;
	return r;
}

/*
 * Move the Ethernet header over the outer IP header's last bytes and start
 * the frame there. outer_len >= 20 >= l2_len, so the header's old and new
 * places never overlap: a copy through the stack is enough, and it keeps
 * every packet access at a constant offset from the frame start.
 */
static __always_inline int decap_strip(struct xdp_md *ctx, __u32 l2_len, __u32 outer_len,
				       __u8 inner_family)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__be16 proto = bpf_htons(inner_family == XLB_AF_INET ? ETH_P_IP : ETH_P_IPV6);
	__u8 l2[DECAP_L2_MAX];

	/* The parser saw l2_len + outer_len + an inner header: 18 bytes exist. */
	if (data + sizeof(l2) > end)
		return -1;
	__builtin_memcpy(l2, data, sizeof(l2));
	/* 4-in-6 changes the EtherType; it sits right before the IP header. */
	if (l2_len == ETH_HLEN)
		*(__be16 *)&l2[ETH_HLEN - 2] = proto;
	else
		*(__be16 *)&l2[DECAP_L2_MAX - 2] = proto;
	if (bpf_xdp_adjust_head(ctx, outer_len))
		return -1;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + sizeof(l2) > end)
		return -1;
	if (l2_len == ETH_HLEN)
		__builtin_memcpy(data, l2, ETH_HLEN);
	else
		__builtin_memcpy(data, l2, sizeof(l2));
	return 0;
}

static __always_inline enum decap_outcome decap(struct xdp_md *ctx)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	__be16 proto = parse_eth(&c);
	__u32 l2_len = c.pos - (void *)(long)ctx->data, outer_len = 0;
	__u8 inner_family = 0;
	enum decap_outcome r;

	if (!proto)
		return DECAP_MALFORMED;
	if (proto == bpf_htons(ETH_P_IP))
		r = decap_parse_ipv4(&c, &outer_len, &inner_family);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = decap_parse_ipv6(&c, &outer_len, &inner_family);
	else
		return DECAP_NOT_ENCAP;

	if (r == DECAP_DONE && decap_strip(ctx, l2_len, outer_len, inner_family))
		r = DECAP_INTERNAL;
	return r;
}

static __always_inline void decap_count(enum decap_outcome r)
{
	struct xlb_decap_stats *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&decap_stats, &zero);
	if (!st)
		return;
	switch (r) {
	case DECAP_DONE:
		st->decapped++;
		break;
	case DECAP_NOT_ENCAP:
		st->pass_not_encap++;
		break;
	case DECAP_NOT_LOCAL:
		st->pass_not_local++;
		break;
	case DECAP_FRAGMENT:
		st->pass_fragment++;
		break;
	case DECAP_MALFORMED:
		st->pass_malformed++;
		break;
	case DECAP_INTERNAL:
		st->drop_internal++;
		break;
	}
}

SEC("xdp")
int xlb_decap(struct xdp_md *ctx)
{
	enum decap_outcome r = decap(ctx);

	decap_count(r);
	return r == DECAP_INTERNAL ? XDP_DROP : XDP_PASS;
}
