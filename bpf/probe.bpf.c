/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health probes along the data path (TC egress on the attached interface).
 *
 * xlbd's probe socket connects to the VIP itself with SO_MARK = XLB_PROBE_MARK
 * | backend id; a policy route sends marked packets out of the attached
 * interface. Here they get what the XDP program gives a client's packet:
 * an outer IPv4/IPv6 header towards the backend (ipip), or the backend's MAC
 * (l2). The backend answers the VIP's connection directly, as it answers
 * clients, so a backend that would drop clients' packets fails the probe.
 *
 * Rules. Packets whose mark is not a probe's go on untouched (TCX_NEXT): the
 * host's own traffic pays one load and one compare. A probe whose id has no
 * target is dropped (no_target): it must never leave with the VIP as its
 * destination and no backend. The mark is cleared before the packet is
 * redirected, so that the kernel's route lookup for the backend (ipip) does
 * not take the probe route again, and this program passes it the second time.
 * The neighbour (next hop's MAC) comes from the kernel: bpf_redirect_neigh().
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xlb_probe.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* TCX verdicts (linux/bpf.h of kernel 6.6+; Debian 12's headers predate them). */
#define PROBE_TCX_NEXT	(-1)
#define PROBE_TCX_DROP	2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_probe_target);
} probe_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_probe_stats);
} probe_stats SEC(".maps");

static __always_inline struct xlb_probe_stats *stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&probe_stats, &zero);
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* IPv4 in IPv4: the outer header copies the inner's addresses' roles. */
static __always_inline int encap_v4(struct __sk_buff *skb, const struct xlb_probe_target *t)
{
	struct iphdr inner, outer = { .version = 4, .ihl = 5, .ttl = 64,
				      .protocol = IPPROTO_IPIP };
	const __u16 *w = (const __u16 *)&outer;
	__u32 sum = 0;

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &inner, sizeof(inner)))
		return -1;
	if (bpf_skb_adjust_room(skb, sizeof(outer), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return -1;
	/* As the XDP program's outer header: tos and DF copied, id 0. */
	outer.tos = inner.tos;
	outer.frag_off = inner.frag_off & bpf_htons(0x4000);
	outer.tot_len = bpf_htons(bpf_ntohs(inner.tot_len) + sizeof(outer));
	outer.saddr = inner.saddr;
	outer.daddr = t->addr.v4;
	/* The backend's decap checks the header checksum, as the stack would. */
	for (int i = 0; i < (int)sizeof(outer) / 2; i++)
		sum += w[i];
	outer.check = csum_fold(sum);
	return bpf_skb_store_bytes(skb, ETH_HLEN, &outer, sizeof(outer), 0);
}

static __always_inline int encap_v6(struct __sk_buff *skb, const struct xlb_probe_target *t)
{
	struct ipv6hdr inner, outer = { .version = 6, .nexthdr = IPPROTO_IPV6, .hop_limit = 64 };

	if (skb->protocol != bpf_htons(ETH_P_IPV6) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &inner, sizeof(inner)))
		return -1;
	if (bpf_skb_adjust_room(skb, sizeof(outer), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV6))
		return -1;
	/* Traffic class and flow label copied, as the XDP program does. */
	outer.priority = inner.priority;
	__builtin_memcpy(outer.flow_lbl, inner.flow_lbl, sizeof(outer.flow_lbl));
	outer.payload_len = bpf_htons(bpf_ntohs(inner.payload_len) + sizeof(inner));
	outer.saddr = inner.saddr;
	__builtin_memcpy(&outer.daddr, &t->addr, sizeof(outer.daddr));
	return bpf_skb_store_bytes(skb, ETH_HLEN, &outer, sizeof(outer), 0);
}

SEC("tc")
int probe_egress(struct __sk_buff *skb)
{
	struct bpf_redir_neigh nh = { 0 };
	struct xlb_probe_target *t;
	struct xlb_probe_stats *s;
	__u32 id;
	int err;

	if ((skb->mark & XLB_PROBE_MARK_MASK) != XLB_PROBE_MARK)
		return PROBE_TCX_NEXT;
	s = stats();
	id = skb->mark & XLB_PROBE_ID_MASK;
	t = bpf_map_lookup_elem(&probe_targets, &id);
	if (!t || !t->family) {
		if (s)
			s->no_target++;
		return PROBE_TCX_DROP;
	}
	skb->mark = 0;
	if (t->method == XLB_METHOD_L2) {
		/* The packet stays as it is; only its next hop is the backend. */
		if (t->family == XLB_AF_INET) {
			nh.nh_family = 2; /* AF_INET */
			nh.ipv4_nh = t->addr.v4;
		} else {
			nh.nh_family = 10; /* AF_INET6 */
			__builtin_memcpy(nh.ipv6_nh, &t->addr, sizeof(nh.ipv6_nh));
		}
		if (s)
			s->sent++;
		return bpf_redirect_neigh(skb->ifindex, &nh, sizeof(nh), 0);
	}
	err = t->family == XLB_AF_INET ? encap_v4(skb, t) : encap_v6(skb, t);
	if (err) {
		if (s)
			s->failed++;
		return PROBE_TCX_DROP;
	}
	if (s)
		s->sent++;
	/* The kernel routes the outer destination (the backend) and resolves its MAC. */
	return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
}
