/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP "fragmentation needed" / "packet too big" sent to a client whose packet
 * no longer fits towards its backend once encapsulated, as a router would:
 * from the VIP's address (the client's packet went to it), with the MTU that
 * fits (the route's MTU less the encapsulation), quoting the start of the
 * client's packet. Without it a client sending full-size packets stalls until
 * every backend lowers its MSS by hand.
 *
 * Rules:
 * - IPv4 with DF and IPv6: answered, at most XLB_TOO_BIG_PER_SEC a second on
 *   each CPU (icmp_too_big_sent, and tx); past that, or when the MTU that
 *   fits is below the protocol's minimum (68 / 1280), dropped (drop_too_big).
 * - IPv4 without DF: dropped (drop_too_big). A router would fragment it; XDP
 *   cannot split a frame, and a client that clears DF has no path-MTU
 *   discovery to tell anyway. The kernel of such clients learns nothing:
 *   lower the backends' MSS, or raise the balancer-to-backend MTU.
 * Either way the client's packet counts as a drop of its VIP.
 *
 * The quote is a fixed length, so the checksum is one bpf_csum_diff() over a
 * size the verifier knows: IPv4 68 bytes (the longest header and the 8 bytes
 * RFC 792 asks for), IPv6 128 (the header and room for extension headers
 * before the ports; RFC 4443's "as much as fits in 1280" is a maximum). A
 * packet too big to fit is always longer than that.
 */
#ifndef XLB_BPF_TOOBIG_H
#define XLB_BPF_TOOBIG_H

#include <linux/icmpv6.h>
#include "encap.h"
#include "stats.h"

/*
 * ICMPv4 by hand: <linux/icmp.h> includes <linux/if.h>, which includes
 * glibc's <sys/socket.h> outside the kernel, and glibc compiled for the BPF
 * target asks for the i386 stubs (libc6-dev-i386). A BPF object reads no
 * glibc header; the four bytes we look at are RFC 792's.
 */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* echo: id and sequence; frag needed: unused and next-hop MTU */
};

#define ICMP_ECHOREPLY		0
#define ICMP_DEST_UNREACH	3
#define ICMP_ECHO		8
#define ICMP_FRAG_NEEDED	4 /* code of ICMP_DEST_UNREACH */

static __always_inline int swap_macs(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	__u8 tmp[ETH_ALEN];

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return 0;
}

#define ICMPV6_PKT_TOOBIG_CODE	0

#define XLB_TOO_BIG_PER_SEC	1000	/* per CPU: what Linux allows a host (icmp_msgs_per_sec) */
#define XLB_TOO_BIG_TTL		64
#define XLB_QUOTE4		68
#define XLB_QUOTE6		128
#define XLB_IPV4_MIN_MTU	68	/* RFC 791 */
#define XLB_IPV6_MIN_MTU	1280	/* RFC 8200 */

/* Per CPU: the current one-second window and what it has sent. */
struct too_big_budget {
	__u64 window_ns;
	__u64 sent;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct too_big_budget);
} too_big_budget SEC(".maps");

/* Take one error from this CPU's budget: 1 if there was one left. */
static __always_inline int too_big_admit(void)
{
	/* The clock only here: the forwarding path reads none. */
	__u64 now = bpf_ktime_get_coarse_ns();
	struct too_big_budget *b;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&too_big_budget, &zero);
	if (!b)
		return 0;
	if (now - b->window_ns >= 1000000000ULL) {
		b->window_ns = now;
		b->sent = 0;
	}
	if (b->sent >= XLB_TOO_BIG_PER_SEC)
		return 0;
	b->sent++;
	return 1;
}

/*
 * Cut the frame to the quote, grow it by the new headers (push_l3 moves the
 * Ethernet header and any tag) and turn it around. Returns the new L3 start
 * and in *endp the frame's end, or NULL.
 */
static __always_inline void *too_big_frame(struct xdp_md *ctx, const struct meta *m,
					   __u32 quote, __u32 hdrs, void **endp)
{
	long cut = (long)frame_len(ctx) - m->l3off - quote;
	void *l3;

	if (cut < 0 || (cut && bpf_xdp_adjust_tail(ctx, (int)-cut)))
		return NULL;
	l3 = push_l3(ctx, m->l3off, hdrs, endp);
	if (!l3 || swap_macs(ctx))
		return NULL;
	return l3;
}

static __always_inline int too_big_reply4(struct xdp_md *ctx, const struct meta *m, __u32 mtu)
{
	struct icmphdr *ic;
	struct iphdr *ip;
	void *end;

	if (mtu < XLB_IPV4_MIN_MTU || m->l3len < XLB_QUOTE4)
		return -1;
	ip = too_big_frame(ctx, m, XLB_QUOTE4, sizeof(*ip) + sizeof(*ic), &end);
	if (!ip)
		return -1;
	ic = (void *)(ip + 1);
	if ((void *)(ic + 1) + XLB_QUOTE4 > end)
		return -1;
	ip->version = 4;
	ip->ihl = sizeof(*ip) / 4;
	ip->tos = 0xc0;	/* precedence "internetwork control", as routers send errors */
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*ic) + XLB_QUOTE4);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = XLB_TOO_BIG_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = m->flow.dst.v4;
	ip->daddr = m->flow.src.v4;
	ipv4_csum_set(ip);
	ic->type = ICMP_DEST_UNREACH;
	ic->code = ICMP_FRAG_NEEDED;
	ic->checksum = 0;
	ic->rest = bpf_htonl(mtu);	/* 16 bits unused, then the next-hop MTU */
	ic->checksum = csum_fold(bpf_csum_diff(NULL, 0, (void *)ic, sizeof(*ic) + XLB_QUOTE4, 0));
	return 0;
}

static __always_inline int too_big_reply6(struct xdp_md *ctx, const struct meta *m, __u32 mtu)
{
	__be32 pseudo[2] = { bpf_htonl(sizeof(struct icmp6hdr) + XLB_QUOTE6),
			     bpf_htonl(IPPROTO_ICMPV6) };
	struct icmp6hdr *ic;
	struct ipv6hdr *ip6;
	__s64 sum;
	void *end;

	if (mtu < XLB_IPV6_MIN_MTU || m->l3len < XLB_QUOTE6)
		return -1;
	ip6 = too_big_frame(ctx, m, XLB_QUOTE6, sizeof(*ip6) + sizeof(*ic), &end);
	if (!ip6)
		return -1;
	ic = (void *)(ip6 + 1);
	if ((void *)(ic + 1) + XLB_QUOTE6 > end)
		return -1;
	*(__be32 *)ip6 = bpf_htonl(6U << 28);
	ip6->payload_len = bpf_htons(sizeof(*ic) + XLB_QUOTE6);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = XLB_TOO_BIG_TTL;
	__builtin_memcpy(&ip6->saddr, &m->flow.dst, sizeof(ip6->saddr));
	__builtin_memcpy(&ip6->daddr, &m->flow.src, sizeof(ip6->daddr));
	ic->icmp6_type = ICMPV6_PKT_TOOBIG;
	ic->icmp6_code = ICMPV6_PKT_TOOBIG_CODE;
	ic->icmp6_cksum = 0;
	ic->icmp6_mtu = bpf_htonl(mtu);
	/* Pseudo-header (addresses, length, next header), then the message. */
	sum = bpf_csum_diff(NULL, 0, (void *)&ip6->saddr, 2 * sizeof(ip6->saddr), 0);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, pseudo, sizeof(pseudo), sum);
	if (sum >= 0)
		sum = bpf_csum_diff(NULL, 0, (void *)ic, sizeof(*ic) + XLB_QUOTE6, sum);
	if (sum < 0)
		return -1;
	ic->icmp6_cksum = csum_fold(sum);
	return 0;
}

/*
 * The client's packet of m does not fit towards its backend: mtu is what
 * would. Answer with the error (XDP_TX) or drop, by the rules above.
 *
 * A global function: forward() ends in it at each of its inlined copies,
 * for packets that are rare by nature (a path MTU is learned once), and
 * the verifier checks a global function once instead of on every path
 * into it. Inlined, it was 15% of the loaded program and 8% of the
 * instructions verified (measured); the call is paid by too-big packets
 * only. m is never NULL: the verifier asks.
 */
__noinline int too_big(struct xdp_md *ctx, const struct meta *m, __u32 vip_id, __u32 mtu)
{
	int v6;

	if (!m)
		return done(XDP_DROP, drop_internal);
	v6 = m->flow.family == XLB_AF_INET6;

	count_vip_drop(vip_id);
	if ((!v6 && !m->df) || !too_big_admit())
		return done(XDP_DROP, drop_too_big);
	if (v6 ? too_big_reply6(ctx, m, mtu) : too_big_reply4(ctx, m, mtu))
		return done(XDP_DROP, drop_too_big);
	count_note(icmp_too_big_sent);
	return done(XDP_TX, tx);
}

#endif /* XLB_BPF_TOOBIG_H */
