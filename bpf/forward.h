/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Forwarding to the chosen backend by the VIP's method. The next hop and
 * both MAC addresses come from the kernel's FIB and neighbour tables
 * (bpf_fib_lookup), never from configuration.
 *
 * A FIB lookup costs more than everything else a packet does here put
 * together (measured: 100-300 ns against ~70 ns for an empty program), so
 * its answer is kept per backend and CPU until the daemon bumps the epoch
 * (struct xlb_nexthop: about once a second). The route
 * to a backend depends on the backend alone: lookups use the balancer's own
 * source address, so policy routing by client source is not honoured.
 */
#ifndef XLB_BPF_FORWARD_H
#define XLB_BPF_FORWARD_H

#include "encap.h"
#include "stats.h"
#include "toobig.h"

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

/*
 * Refill a cache entry from the FIB. The first lookup (length 0 passes any
 * MTU check) finds the next hop; the second, with an impossible length,
 * makes the kernel report the route's MTU. Returns BPF_FIB_LKUP_RET_*.
 *
 * Out of line: its 64-byte struct bpf_fib_lookup, inlined, sat in the
 * frame of every caller (the program, nat_established(), nat_new()) for a
 * path taken about once a second per backend and CPU. In a frame of its
 * own it is on the stack only during the refill: 32-56 bytes off each of
 * those frames (the NAT path's three were at the verifier's 512), and
 * 230k instructions to verify instead of 250k (traced build: 383k, 420k).
 * The call costs the refill a few ns next to its two FIB lookups; a packet
 * that finds its next hop cached does not make it.
 */
static __noinline int nexthop_refill(struct xdp_md *ctx, struct xlb_nexthop *nh,
				     const struct xlb_backend *be, const struct xlb_config *cfg)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.ifindex = ctx->ingress_ifindex;
	if (be->family == XLB_AF_INET) {
		fib.family = AF_INET;
		fib.ipv4_src = cfg->src_v4.v4;
		fib.ipv4_dst = be->addr.v4;
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &cfg->src_v6, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &be->addr, sizeof(fib.ipv6_dst));
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	nh->ifindex = fib.ifindex;
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);

	fib.ifindex = ctx->ingress_ifindex;
	fib.tot_len = 0xffff;
	nh->mtu = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_FRAG_NEEDED ?
			  fib.mtu_result : 0xffff;
	nh->epoch = cfg->nh_epoch;
	return BPF_FIB_LKUP_RET_SUCCESS;
}

/*
 * The next hop towards backend id: this CPU's cached one (an inlined array
 * read), refilled from the FIB when the daemon bumped the epoch (an integer
 * compare where a TTL needed a clock read). Returns BPF_FIB_LKUP_RET_*:
 * *nhp is usable for SUCCESS; -1 when there is no cache entry.
 */
static __always_inline int nexthop_get(struct xdp_md *ctx, const struct xlb_config *cfg,
				       const struct xlb_backend *be, __u32 id,
				       struct xlb_nexthop **nhp)
{
	struct xlb_nexthop *nh = bpf_map_lookup_elem(&nexthops, &id);

	if (!nh)
		return -1;
	*nhp = nh;
	if (nh->epoch != cfg->nh_epoch)
		return nexthop_refill(ctx, nh, be, cfg);
	return BPF_FIB_LKUP_RET_SUCCESS;
}

/*
 * Send the frame out of ifindex from smac to dmac: XDP_TX when that is the
 * interface it came in on, else redirect through tx_ports (the devmap
 * lookup proves the interface is one we may send on).
 */
static __always_inline int egress(struct xdp_md *ctx, __u32 vip_id, __u32 ifindex,
				  const __u8 *dmac, const __u8 *smac)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return vip_drop(vip_id, drop_internal);
	copy_mac(eth->h_dest, dmac);
	copy_mac(eth->h_source, smac);

	if (ifindex == ctx->ingress_ifindex)
		return done(XDP_TX, tx);
	if (!bpf_map_lookup_elem(&tx_ports, &ifindex))
		return vip_drop(vip_id, drop_no_tx_port);
	return done(bpf_redirect_map(&tx_ports, ifindex, 0), redirect);
}

static __always_inline int forward(struct xdp_md *ctx, const struct xlb_config *cfg,
				   const struct meta *m, const struct xlb_vip *vip,
				   const struct xlb_backend *be, __u32 id)
{
	bool gue = vip->method == XLB_METHOD_GUE;
	bool ipip = vip->method == XLB_METHOD_IPIP || gue;
	struct xlb_nexthop *nh = NULL;
	__u32 len = m->l3len;
	int rc, err;

	/* IPv4 may travel inside IPv6 (encapsulation only); never the reverse. nat: nat.h. */
	if (vip->method == XLB_METHOD_NAT ||
	    (be->family != m->flow.family && (!ipip || be->family != XLB_AF_INET6)))
		return vip_drop(vip->id, drop_internal);
	if (ipip && be->family == XLB_AF_INET && !cfg->src_v4.v4)
		return vip_drop(vip->id, drop_internal);
	rc = nexthop_get(ctx, cfg, be, id, &nh);
	if (rc < 0 || !nh)
		return vip_drop(vip->id, drop_internal);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return vip_drop(vip->id, drop_no_route);
	/*
	 * An l2 packet is still addressed to the VIP, which the kernel here
	 * cannot deliver: drop it. xlbd sees the counter move and has the
	 * neighbour resolved; the client's retransmission gets through.
	 */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH && !ipip)
		return vip_drop(vip->id, drop_no_neigh);

	if (ipip)
		len += encap_overhead(be, gue);
	/* The client hears what fits, as from a router (bpf/toobig.h). */
	if (rc == BPF_FIB_LKUP_RET_SUCCESS && len > nh->mtu)
		return too_big(ctx, m, vip->id, nh->mtu - (len - m->l3len));

	if (ipip) {
		/* Constant `gue` per call: one header size for the verifier each. */
		err = gue ? encap_to(ctx, m, cfg, be, true, vip->encap_port) :
			    encap_to(ctx, m, cfg, be, false, 0);
		if (err)
			return vip_drop(vip->id, drop_internal);
	}

	/*
	 * No neighbour entry for the next hop yet: hand the encapsulated packet
	 * to the kernel, which forwards it and resolves the neighbour on the
	 * way; a later refill finds the entry and traffic stays in XDP.
	 */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return done(XDP_PASS, pass_no_neigh);
	return egress(ctx, vip->id, nh->ifindex, nh->dmac, nh->smac);
}

/*
 * The end of every path that found a VIP: count the packet on the VIP and
 * the backend (be NULL: the VIP had nobody to give it to), then forward.
 * cfg is the packet's config read (config_get()), never NULL.
 */
static __always_inline int deliver(struct xdp_md *ctx, const struct xlb_config *cfg,
				   const struct meta *m, const struct xlb_vip *vip,
				   const struct xlb_backend *be, __u32 id, enum pick how)
{
	__u64 bytes = frame_len(ctx);

	if (!be)
		return vip_drop(vip->id, drop_no_backend);
	count_vip(vip->id, bytes, how);
	count_backend(id, bytes);
	return forward(ctx, cfg, m, vip, be, id);
}

#endif /* XLB_BPF_FORWARD_H */
