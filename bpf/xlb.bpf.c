// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb: the balancer's XDP program.
 *
 * Stages, each cheap and bounded (DESIGN.md "Packet path"):
 *   parse -> [nat entry, when some VIP is nat] -> connection table -> VIP (by
 *         id, or hash lookup for a new flow) -> rate limit (if set) -> Maglev
 *         ring (new flow) -> forward (IPIP, GUE, L2; nat: rewrite, nat.h)
 *         -> count
 *
 * Rules for what is not a clean VIP flow, all counted in `outcomes`:
 * - not IPv4/IPv6, or not to a VIP address: XDP_PASS untouched;
 * - headers cut before the destination address is known: XDP_PASS (the
 *   kernel judges it, as it would without us);
 * - to a VIP address with inconsistent or cut headers, a bad IPv4 header
 *   checksum, TTL / hop limit 0, or Hop-by-Hop not first: XDP_DROP
 *   (drop_malformed): it cannot be forwarded faithfully and the kernel has
 *   no use for a packet to an address it does not own;
 * - to a VIP address but not a VIP's protocol/port, or an ICMP type we do
 *   not handle: XDP_PASS (pass_other / pass_not_vip);
 * - IP fragments to a VIP address: forwarded when the address names a
 *   `hash src` VIP for that protocol (fragments after the first carry no
 *   ports, so only a source hash sends all of a datagram's pieces to one
 *   backend, and never for a nat VIP, whose ports it rewrites); otherwise
 *   XDP_DROP (drop_fragment);
 * - nat (bpf/nat.h): a packet whose tuple has a `nat` entry is translated
 *   by it, either way (replies: nat_replies); a pool address's packet
 *   without one is the host's (pass_not_vip); a new flow that finds no free
 *   port or no room in the map is dropped (drop_nat_no_port, drop_nat_full);
 *   ICMP errors quoting a NATed packet are translated (icmp_nat).
 */
#include "parse.h"
#include "lb.h"
#include "forward.h"
#include "icmp.h"
#include "nat.h"
#include "ratelimit.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Only the prefilter runs for traffic that is not ours. */
static __always_inline int maybe_vip(__u32 fold)
{
	__u32 zero = 0, bit = xlb_filter_bit_word(fold);
	struct xlb_filter *f = bpf_map_lookup_elem(&filter, &zero);

	return f && (f->bits[bit / 64] & (1ULL << (bit % 64)));
}

/* Drop if the destination really is a VIP address, pass untouched if not. */
static __always_inline int malformed(const struct meta *m)
{
	if (vip_addr_lookup(&m->flow.dst, m->flow.family))
		return done(XDP_DROP, drop_malformed);
	return done(XDP_PASS, pass_not_vip);
}

static __always_inline int not_ours(const struct meta *m)
{
	if (vip_addr_lookup(&m->flow.dst, m->flow.family))
		return done(XDP_PASS, pass_other);
	return done(XDP_PASS, pass_not_vip);
}

/*
 * A TCP or UDP packet to a possible VIP address. An established flow is
 * found by its connection entry alone (inlined array reads and compares:
 * conn_backend()); anything else takes the VIP hash lookup and the
 * ring. Either way the per-source limit comes before forwarding, and before
 * any other per-flow work on a new flow, so that a flood costs little.
 */
static __always_inline int lb_flow(struct xdp_md *ctx, const struct meta *m, int syn)
{
	/* One flow hash for the connection table and NAT's cache, computed once. */
	__u32 hash = xlb_conn_hash(&m->flow), mhash;
	/* One config read: the way's epoch stamp, the next hop's, encapsulation. */
	struct xlb_config *cfg = config_get();
	struct xlb_backend *be;
	struct xlb_vip *vip;
	enum pick how;
	__u32 id;
	int rc;

	if (!cfg)
		return done(XDP_DROP, drop_internal);
	/*
	 * A bare SYN still follows an entry of its tuple (a port reused before
	 * the entry was evicted: its ACK will follow the entry, so must it),
	 * but asks the set's hint word first: in a flood of new sources the
	 * set's line is a cache miss, the hint a hit.
	 */
	be = syn && !conn_may_hold(hash) ? NULL : conn_backend(&m->flow, hash, cfg, &vip, &id);
	if (be) {
		if (!ratelimit_admit(vip, &m->flow))
			return ratelimit_drop(vip->id);
		return deliver(ctx, cfg, m, vip, be, id, PICK_CONN);
	}
	/*
	 * NAT flows, both directions, after the connection table: a DSR packet
	 * it holds runs the code it ran before NAT existed (measured: a NAT
	 * check ahead of the DSR lookup cost DSR-only setups 5-20% through code
	 * layout alone), and a NAT packet pays that table's miss, one line of
	 * tags. Then nat_flow(): this CPU's copy of the `nat` entry, or the hash
	 * lookup. Only when some VIP is nat (a flag of the config).
	 */
	rc = nat_flow(ctx, m, hash, syn);
	if (rc >= 0)
		return rc;

	vip = vip_lookup(&m->flow, m->flow.dport);
	if (!vip)
		return done(XDP_PASS, pass_not_vip);
	if (!ratelimit_admit(vip, &m->flow))
		return ratelimit_drop(vip->id);
	/*
	 * A new flow: the ring (and NAT's pool) needs the Maglev hash, for
	 * IPv6 not the connection hash. Its three rounds are what a new IPv6
	 * flow pays for the cheaper established packet (measured, medians:
	 * 1.13-1.24x a new flow, 1.15x a SYN; computing it up front for bare
	 * SYNs, or out of line, changed nothing). Here, not before the NAT
	 * table: an established NAT packet, a packet for no VIP and one over
	 * its limit do not need it.
	 */
	mhash = maglev_hash(&m->flow, hash);
	if (vip->method == XLB_METHOD_NAT)
		return nat_new(ctx, m, vip, mhash);
	id = ring_pick(vip, &m->flow, mhash);
	be = backend_of(id, vip->id);
	/*
	 * A flow is new when it is bound: a TCP connection counts once, at its
	 * handshake's ACK, and a SYN whose handshake never ends not at all.
	 */
	how = be && !syn && conn_bind(&m->flow, hash, vip, be, id) ? PICK_BOUND : PICK_RING;
	return deliver(ctx, cfg, m, vip, be, id, how);
}

static __always_inline int lb_fragment(struct xdp_md *ctx, const struct meta *m)
{
	struct xlb_vip_addr *addr = vip_addr_lookup(&m->flow.dst, m->flow.family);
	struct xlb_config *cfg = config_get();
	struct xlb_vip *vip;
	__be16 port;
	__u32 id;

	if (!addr)
		return done(XDP_PASS, pass_not_vip);
	if (!cfg)
		return done(XDP_DROP, drop_internal);
	if (m->flow.proto == IPPROTO_TCP && (addr->flags & XLB_ADDR_FRAG_TCP))
		port = addr->frag_port_tcp;
	else if (m->flow.proto == IPPROTO_UDP && (addr->flags & XLB_ADDR_FRAG_UDP))
		port = addr->frag_port_udp;
	else
		return done(XDP_DROP, drop_fragment);

	vip = vip_lookup(&m->flow, port);
	/* NAT rewrites ports, which fragments after the first do not carry. */
	if (!vip || !(vip->flags & XLB_VIP_HASH_SRC) || vip->method == XLB_METHOD_NAT)
		return done(XDP_DROP, drop_fragment);
	/* A fragment is a packet from its source like any other. */
	if (!ratelimit_admit(vip, &m->flow))
		return ratelimit_drop(vip->id);
	/*
	 * Source hash only: the connection table (keyed by ports) has no say,
	 * and ring_pick() needs no 5-tuple hash.
	 */
	id = ring_pick(vip, &m->flow, 0);
	return deliver(ctx, cfg, m, vip, backend_of(id, vip->id), id, PICK_RING);
}

static __always_inline int lb_icmp4(struct xdp_md *ctx, const struct meta *m, struct iphdr *iph,
				    struct icmphdr *ic, void *end)
{
	struct xlb_config *cfg = config_get();
	struct xlb_vip_addr *addr;

	if ((void *)(ic + 1) > end || (void *)(ic + 1) > (void *)iph + m->l3len)
		return malformed(m);
	if (nat_on(cfg) && !nat_icmp4(ctx, m))
		return nat_icmp_send(ctx, cfg);
	addr = vip_addr_lookup(&m->flow.dst, XLB_AF_INET);
	if (!addr)
		return done(XDP_PASS, pass_not_vip);
	if (ic->type == ICMP_ECHO && (addr->flags & XLB_ADDR_ECHO))
		return echo_reply4(ctx, iph, ic);
	if (ic->type == ICMP_DEST_UNREACH && ic->code == ICMP_FRAG_NEEDED)
		return too_big4(ctx, m, ic, (void *)iph + m->l3len, end);
	return done(XDP_PASS, pass_other);
}

static __always_inline int lb_icmp6(struct xdp_md *ctx, const struct meta *m,
				    struct ipv6hdr *ip6, struct icmp6hdr *ic, void *end)
{
	struct xlb_config *cfg = config_get();
	struct xlb_vip_addr *addr;

	if ((void *)(ic + 1) > end || (void *)(ic + 1) > (void *)ip6 + m->l3len)
		return malformed(m);
	if (nat_on(cfg) && !nat_icmp6(ctx, m))
		return nat_icmp_send(ctx, cfg);
	addr = vip_addr_lookup(&m->flow.dst, XLB_AF_INET6);
	if (!addr)
		return done(XDP_PASS, pass_not_vip);
	if (ic->icmp6_type == ICMPV6_ECHO_REQUEST && (addr->flags & XLB_ADDR_ECHO))
		return echo_reply6(ctx, ip6, ic);
	if (ic->icmp6_type == ICMPV6_PKT_TOOBIG)
		return too_big6(ctx, m, ic, (void *)ip6 + m->l3len, end);
	return done(XDP_PASS, pass_other);
}

static __always_inline int lb_ipv4(struct xdp_md *ctx, struct cursor *c, __u32 l3off)
{
	struct iphdr *iph = c->pos;
	struct meta m = {};
	void *l4, *l3end;
	__u32 ihl;

	if ((void *)(iph + 1) > c->end)
		return done(XDP_PASS, pass_truncated);
	if (!maybe_vip(iph->daddr))
		return done(XDP_PASS, pass_not_vip);

	m.l3off = l3off;
	m.flow.family = XLB_AF_INET;
	m.flow.proto = iph->protocol;
	m.flow.src.v4 = iph->saddr;
	m.flow.dst.v4 = iph->daddr;
	m.tos = iph->tos;
	m.df = !!(iph->frag_off & bpf_htons(IP_DF));
	m.l3len = bpf_ntohs(iph->tot_len);
	ihl = iph->ihl * 4;
	if (iph->version != 4 || ihl < sizeof(*iph) || m.l3len < ihl ||
	    (void *)iph + m.l3len > c->end)
		return malformed(&m);
	/*
	 * The kernel (ip_rcv) drops a bad header checksum before anything
	 * else, and no node may send or forward TTL 0 (RFC 1122 3.2.1.7,
	 * RFC 1812 4.2.2.9); forwarding such a packet only moves the drop to
	 * the backend, after the header's addresses chose it.
	 */
	if (!iph->ttl || !ipv4_csum_ok(iph, c->end))
		return malformed(&m);
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return lb_fragment(ctx, &m);

	l4 = (void *)iph + ihl;
	l3end = (void *)iph + m.l3len;
	m.l4off = l3off + ihl;
	switch (iph->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (parse_ports(&m, l4, l3end, c->end))
			return malformed(&m);
		return lb_flow(ctx, &m, bare_syn(&m, l4, c->end));
	case IPPROTO_ICMP:
		return lb_icmp4(ctx, &m, iph, l4, c->end);
	}
	return not_ours(&m);
}

static __always_inline int lb_ipv6(struct xdp_md *ctx, struct cursor *c, __u32 l3off)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_frag_hdr *fh;
	struct meta m = {};
	void *l3end;
	int nexthdr;

	if ((void *)(ip6 + 1) > c->end)
		return done(XDP_PASS, pass_truncated);
	if (!maybe_vip(ip6->daddr.s6_addr32[0] ^ ip6->daddr.s6_addr32[1] ^
		       ip6->daddr.s6_addr32[2] ^ ip6->daddr.s6_addr32[3]))
		return done(XDP_PASS, pass_not_vip);

	m.l3off = l3off;
	m.flow.family = XLB_AF_INET6;
	__builtin_memcpy(&m.flow.src, &ip6->saddr, sizeof(m.flow.src));
	__builtin_memcpy(&m.flow.dst, &ip6->daddr, sizeof(m.flow.dst));
	m.l3len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	l3end = (void *)ip6 + m.l3len;
	/* A node that forwards discards hop limit 0 (RFC 8200 3), as for TTL. */
	if (ip6->version != 6 || !ip6->hop_limit || l3end > c->end)
		return malformed(&m);

	c->pos = ip6 + 1;
	nexthdr = ipv6_skip_ext(c, ip6->nexthdr);
	if (nexthdr < 0 || c->pos > l3end)
		return malformed(&m);
	if (nexthdr == IPPROTO_FRAGMENT) {
		fh = cursor_pull(c, sizeof(*fh));
		if (!fh || c->pos > l3end)
			return malformed(&m);
		m.flow.proto = fh->nexthdr;
		return lb_fragment(ctx, &m);
	}

	m.flow.proto = nexthdr;
	m.l4off = c->pos - (void *)(long)ctx->data;
	switch (nexthdr) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (parse_ports(&m, c->pos, l3end, c->end))
			return malformed(&m);
		return lb_flow(ctx, &m, bare_syn(&m, c->pos, c->end));
	case IPPROTO_ICMPV6:
		return lb_icmp6(ctx, &m, ip6, c->pos, c->end);
	}
	return not_ours(&m);
}

static __always_inline int lb_packet(struct xdp_md *ctx)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	__be16 proto = parse_eth(&c);
	__u32 l3off = c.pos - (void *)(long)ctx->data;

	if (proto == bpf_htons(ETH_P_IP))
		return lb_ipv4(ctx, &c, l3off);
	if (proto == bpf_htons(ETH_P_IPV6))
		return lb_ipv6(ctx, &c, l3off);
	if (!proto)
		return done(XDP_PASS, pass_truncated);
	return done(XDP_PASS, pass_not_ip);
}

/* xlb_lb, or xlb_lb_traced in the build with the trace hooks (trace.h). */
SEC("xdp")
int XLB_LB_PROG(struct xdp_md *ctx)
{
	int traced = trace_enter(ctx);

	return trace_exit(ctx, traced, outcome_count(lb_packet(ctx)));
}
