/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Forwarding to the chosen backend by the VIP's method. The next hop and
 * both MAC addresses come from the kernel's FIB and neighbour tables
 * (bpf_fib_lookup), never from configuration.
 */
#ifndef XLB_BPF_FORWARD_H
#define XLB_BPF_FORWARD_H

#include "encap.h"
#include "stats.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Count a drop both globally and on the VIP. */
#define vip_drop(vip_id, field)                      \
	({                                           \
		count_vip_drop(vip_id);              \
		done(XDP_DROP, field);               \
	})

static __always_inline int forward(struct xdp_md *ctx, const struct meta *m,
				   const struct xlb_vip *vip, const struct xlb_backend *be)
{
	struct bpf_fib_lookup fib = {};
	int ipip = vip->method == XLB_METHOD_IPIP;
	struct xlb_config *cfg;
	struct ethhdr *eth;
	__u32 zero = 0;
	int rc;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || be->family != m->flow.family)
		return vip_drop(vip->id, drop_internal);

	fib.ifindex = ctx->ingress_ifindex;
	fib.tot_len = m->l3len;
	fib.l4_protocol = m->flow.proto;
	if (m->flow.family == XLB_AF_INET) {
		fib.family = AF_INET;
		fib.tos = m->tos;
		fib.ipv4_src = m->flow.src.v4;
		fib.ipv4_dst = be->addr.v4;
		if (ipip) {
			if (!cfg->src_v4.v4)
				return vip_drop(vip->id, drop_internal);
			fib.ipv4_src = cfg->src_v4.v4;
			fib.l4_protocol = IPPROTO_IPIP;
			fib.tot_len += sizeof(struct iphdr);
		}
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &m->flow.src, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &be->addr, sizeof(fib.ipv6_dst));
		if (ipip) {
			__builtin_memcpy(fib.ipv6_src, &cfg->src_v6, sizeof(fib.ipv6_src));
			fib.l4_protocol = IPPROTO_IPV6;
			fib.tot_len += sizeof(struct ipv6hdr);
		}
	}

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return vip_drop(vip->id, drop_too_big);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return vip_drop(vip->id, drop_no_route);

	if (ipip) {
		int err = m->flow.family == XLB_AF_INET ?
				  encap_ipv4(ctx, m, cfg->src_v4.v4, be->addr.v4, cfg->encap_ttl) :
				  encap_ipv6(ctx, m, &cfg->src_v6, &be->addr, cfg->encap_ttl);

		if (err)
			return vip_drop(vip->id, drop_internal);
	}

	/*
	 * No neighbour entry for the next hop yet: hand the (encapsulated)
	 * packet to the kernel, which forwards it and resolves the neighbour
	 * on the way; the next packets find the entry and stay in XDP.
	 */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return done(XDP_PASS, pass_no_neigh);

	eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return vip_drop(vip->id, drop_internal);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);

	if (fib.ifindex == ctx->ingress_ifindex)
		return done(XDP_TX, tx);
	if (!bpf_map_lookup_elem(&tx_ports, &fib.ifindex))
		return vip_drop(vip->id, drop_no_tx_port);
	return done(bpf_redirect_map(&tx_ports, fib.ifindex, 0), redirect);
}

#endif /* XLB_BPF_FORWARD_H */
