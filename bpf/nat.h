/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Full NAT (XLB_METHOD_NAT): the client's packet to VIP:vport leaves from a
 * pool address and an allocated port to the backend's address and port; the
 * backend's reply to that address and port goes back from VIP:vport to the
 * client. Both directions are translated here, so backends need nothing.
 *
 * State: two entries of the `nat` map per flow (include/xlb_abi.h, struct
 * xlb_nat): to-backend keyed by the client's tuple, to-client keyed by the
 * reply's. The data plane creates them on a flow's first packet (a SYN
 * included: the SYN-ACK must find its way back) and never deletes a live
 * flow's; xlbd's sweeper ends them (FIN both ways or RST, idle timeouts).
 *
 * Cost of an established packet, either direction: this CPU's cached copy
 * of its entry (nat_cached(): an inlined array read), or else the one `nat`
 * hash lookup, then only inlined array reads (vip_by_id, backends, health,
 * nexthops, the counters) and an in-place rewrite with incremental
 * checksums: no head adjustment, no FIB lookup (the to-client entry carries
 * the reply's interface and MACs, the to-backend side uses the per-backend
 * next-hop cache), no clock read (xlb_config.now). The lookup happens only
 * when xlb_config has XLB_CONFIG_NAT, so setups without a nat VIP pay one
 * flag test. The order (lb_flow()): the DSR flow cache, then the NAT copy,
 * then the `nat` hash lookup: an established DSR packet pays nothing for
 * NAT, a NAT one the DSR cache's miss (make bench, "nat").
 *
 * The NAT paths are global functions (nat_established(), nat_new(),
 * nat_icmp4/6()): the verifier checks each once instead of once per path
 * into it (inlined or static, the program passed a million verified
 * instructions), and each has a stack frame of its own. The price is a
 * BPF-to-BPF call and the packet pointers found again from ctx.
 *
 * Rules:
 * - a client packet whose to-backend entry no longer validates (VIP gone,
 *   backend deleted or re-used (gen), or marked down) is a new flow: the
 *   stale pair is deleted and the flow gets a backend and a port afresh
 *   (its old backend would only reset it);
 * - a reply whose to-client entry does not validate (VIP gone, backend
 *   deleted), or that has no entry, is the host's own: XDP_PASS untouched
 *   (pass_not_vip), so the kernel answers it as it would without us;
 * - replies are counted in outcomes (nat_replies, and tx or redirect), not
 *   on the VIP or backend, whose packets/bytes stay the client's direction
 *   as for the DSR methods;
 * - TTL and hop limit are left as they are, as for l2;
 * - ICMP errors quoting a NATed packet (either way) are translated: outer
 *   addresses as the flow's packets, the quoted header the other way round,
 *   checksums (outer, quoted IP and L4, ICMP) by incremental update
 *   (icmp_nat, and tx or redirect);
 * - IP fragments to a nat VIP: dropped (drop_fragment), they carry no ports.
 */
#ifndef XLB_BPF_NAT_H
#define XLB_BPF_NAT_H

#include <linux/icmpv6.h>
#include "lb.h"
#include "forward.h"
#include "icmp.h"
#include "ratelimit.h"
#include "xlb_nat.h"

/*
 * Ports probed for a new flow: the whole range when it is at most this
 * long, else this many from a start derived from the flow hash. Each probe
 * is one failed BPF_NOEXIST insert (bucket lock, lookup); 64 bounds a new
 * flow's worst case at a few microseconds while a range that is not nearly
 * full (uniform starts) almost never needs more than a handful.
 */
#define XLB_NAT_PROBES	64

#define XLB_EEXIST	17	/* errno.h is glibc's: not for the BPF target */

#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12

static __always_inline int nat_on(const struct xlb_config *cfg)
{
	return cfg && (cfg->flags & XLB_CONFIG_NAT);
}

/*
 * Ones'-complement arithmetic on words as they lie in the packet: RFC 1071's
 * sum does not depend on byte order, so no swapping. A delta is ~old + new
 * summed into 64 bits; csum_apply() folds it into a checksum (RFC 1624
 * eqn. 3). 32-bit words sum like their two 16-bit halves once folded.
 */
static __always_inline __u64 csum_delta32(__u32 old, __u32 new)
{
	return (__u64)(__u32)~old + new;
}

static __always_inline __u64 csum_delta16(__u16 old, __u16 new)
{
	return (__u64)(__u16)~old + new;
}

static __always_inline __u64 csum_delta_addr(const struct xlb_addr *old, const struct xlb_addr *new,
					     int v6)
{
	__u64 d = csum_delta32(old->w[0], new->w[0]);

	if (v6)
		d += csum_delta32(old->w[1], new->w[1]) + csum_delta32(old->w[2], new->w[2]) +
		     csum_delta32(old->w[3], new->w[3]);
	return d;
}

static __always_inline __u16 csum_apply(__u16 check, __u64 delta)
{
	__u64 s = (__u16)~check + delta;

	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* A UDP checksum that computes to 0 is sent as all ones (RFC 768); 0 means none. */
static __always_inline __u16 csum_udp(__u16 check)
{
	return check ? check : 0xffff;
}

/*
 * Rewrite the packet of flow m (headers at l3, l4) to n's addresses and
 * ports; IPv4 header and L4 checksums by incremental update (an IPv4 UDP
 * checksum of 0, none, stays 0). Returns the TCP flags byte (0 for UDP),
 * or -1 if the headers are not where the parser left them.
 */
static __always_inline int nat_rewrite(struct xdp_md *ctx, const struct meta *m, void *l3,
				       void *l4, const struct xlb_nat *n)
{
	void *end = (void *)(long)ctx->data_end;
	int v6 = m->flow.family == XLB_AF_INET6;
	__u64 da = csum_delta_addr(&m->flow.src, &n->src, v6) +
		   csum_delta_addr(&m->flow.dst, &n->dst, v6);
	__u64 dp = csum_delta16(m->flow.sport, n->sport) + csum_delta16(m->flow.dport, n->dport);
	struct ipv6hdr *ip6 = l3;
	struct iphdr *iph = l3;
	struct tcphdr *th = l4;
	struct udphdr *uh = l4;

	if (v6) {
		if ((void *)(ip6 + 1) > end)
			return -1;
		__builtin_memcpy(&ip6->saddr, &n->src, sizeof(ip6->saddr));
		__builtin_memcpy(&ip6->daddr, &n->dst, sizeof(ip6->daddr));
	} else {
		if ((void *)(iph + 1) > end)
			return -1;
		iph->saddr = n->src.v4;
		iph->daddr = n->dst.v4;
		iph->check = csum_apply(iph->check, da);
	}
	if (m->flow.proto == IPPROTO_TCP) {
		if ((void *)(th + 1) > end)
			return -1;
		th->source = n->sport;
		th->dest = n->dport;
		th->check = csum_apply(th->check, da + dp);
		return ((__u8 *)th)[13];
	}
	if ((void *)(uh + 1) > end)
		return -1;
	uh->source = n->sport;
	uh->dest = n->dport;
	if (uh->check || v6)
		uh->check = csum_udp(csum_apply(uh->check, da + dp));
	return 0;
}

/*
 * The IP and L4 headers of m, for the functions below that the verifier
 * checks on their own (global functions: they get the packet only through
 * ctx). The bounds make the offsets usable in pointer arithmetic; the
 * callers check each header against the frame's end.
 */
#define XLB_L4OFF_MAX	4096	/* past the deepest IPv6 extension chain we parse */

static __always_inline int nat_hdrs(struct xdp_md *ctx, const struct meta *m, void **l3,
				    void **l4)
{
	void *data = (void *)(long)ctx->data;
	__u32 l3off = m->l3off, l4off = m->l4off;

	if (l3off > XLB_L4OFF_MAX || l4off > XLB_L4OFF_MAX)
		return -1;
	*l3 = data + l3off;
	*l4 = data + l4off;
	return 0;
}

#define XLB_TCP_FIN	0x01
#define XLB_TCP_RST	0x04

/*
 * This CPU's copies of recently used `nat` entries, one per set, set =
 * xlb_conn_hash() % XLB_NAT_CACHE_SETS: an established packet that finds
 * its flow's copy here pays an inlined array read and a 40-byte compare
 * instead of the hash lookup (the lookup's jhash and call are most of what
 * NAT costs over ipip). A copy is good only in the second (xlb_config.now)
 * it was taken, when the entry's seen was now: the first packet of every
 * second takes the entry itself, writes seen, and copies it again, so the
 * sweeper's view stays exact, and an entry the sweeper ended (idle >= 1 s)
 * has no good copy. FIN and RST, rare, are written to the entry itself.
 * 512 sets of 112 bytes per CPU.
 */
#define XLB_NAT_CACHE_SETS	512	/* power of two */

struct nat_cache_set {
	struct xlb_flow key;
	struct xlb_nat nat;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_NAT_CACHE_SETS);
	__type(key, __u32);
	__type(value, struct nat_cache_set);
} nat_cache SEC(".maps");

static __always_inline struct nat_cache_set *nat_cache_set_of(__u32 hash)
{
	__u32 set = hash & (XLB_NAT_CACHE_SETS - 1);

	return bpf_map_lookup_elem(&nat_cache, &set);
}

static __always_inline struct nat_cache_set *nat_cache_set(const struct xlb_flow *f)
{
	return nat_cache_set_of(xlb_conn_hash(f));
}

/* This second's copy of f's entry (hash: xlb_conn_hash(f)), or NULL. */
static __always_inline struct xlb_nat *nat_cached(const struct xlb_flow *f, __u32 hash,
						  const struct xlb_config *cfg)
{
	struct nat_cache_set *s = nat_cache_set_of(hash);

	if (s && s->nat.seen == cfg->now && flow_eq(&s->key, f))
		return &s->nat;
	return NULL;
}

/* Copy an entry just touched (seen == now); copy NULL: drop f's copy. */
static __always_inline void nat_cache_put(const struct xlb_flow *f, const struct xlb_nat *n)
{
	struct nat_cache_set *s = nat_cache_set(f);

	if (!s)
		return;
	if (n) {
		s->key = *f;
		s->nat = *n;
	} else if (flow_eq(&s->key, f)) {
		s->nat.seen = 0;
	}
}

/*
 * What the sweeper reads: seen, written only when the second changed (an
 * established flow dirties its entry's line at most once a second, not per
 * packet), and FIN/RST once each. A plain store: clang's BPF target (v1)
 * has no 32-bit atomic or, and one direction of a flow stays on one CPU
 * (RSS); a bit lost to a race would only leave the flow to the idle
 * timeout instead of the FIN one.
 */
static __always_inline void nat_touch(struct xlb_nat *n, const struct xlb_config *cfg,
				      int tcp_flags)
{
	__u32 f = 0;

	if (n->seen != cfg->now)
		n->seen = cfg->now;
	if (tcp_flags & XLB_TCP_FIN)
		f |= XLB_NAT_FIN;
	if (tcp_flags & XLB_TCP_RST)
		f |= XLB_NAT_RST;
	if (f & ~n->flags)
		n->flags |= f;
}

/*
 * After a packet of flow key was translated by n: the entry itself (cached
 * 0) is touched and copied to the cache; for a copy (cached 1) only FIN or
 * RST need the entry, found by a lookup then.
 */
static __always_inline void nat_note(struct xlb_nat *n, const struct xlb_config *cfg,
				     int tcp_flags, const struct xlb_flow *key, int cached)
{
	if (cached) {
		if (!(tcp_flags & (XLB_TCP_FIN | XLB_TCP_RST)))
			return;
		n = bpf_map_lookup_elem(&nat, key);
		if (!n)
			return;
	}
	nat_touch(n, cfg, tcp_flags);
	if (!cached)
		nat_cache_put(key, n);
}

/*
 * The entry's VIP and backend if it is still valid: the VIP exists, the
 * backend is the same incarnation (gen) in it and, for the client's
 * direction, not marked down. Inlined array reads only.
 */
static __always_inline struct xlb_backend *nat_backend(const struct xlb_nat *n, int to_backend,
							struct xlb_vip **vip)
{
	struct xlb_backend *be;
	struct xlb_vip *v;

	v = bpf_map_lookup_elem(&vip_by_id, &n->vip_id);
	if (!v || !v->ring_size)
		return NULL;
	be = backend_of(n->backend_id, n->vip_id);
	if (!be || be->gen != n->gen || (to_backend && backend_down(n->backend_id)))
		return NULL;
	*vip = v;
	return be;
}

/*
 * A stale to-backend entry: delete it and its partner (if the partner still
 * points back at it), so that the flow is created afresh with BPF_NOEXIST.
 * Rare (a backend went away under a live flow): two hash operations.
 */
static __noinline void nat_forget(const struct xlb_nat *n, const struct xlb_flow *key)
{
	struct xlb_flow pk, back;
	struct xlb_nat *p;

	xlb_nat_partner(&pk, n, key);
	p = bpf_map_lookup_elem(&nat, &pk);
	if (p) {
		xlb_nat_partner(&back, p, &pk);
		if (flow_eq(&back, key))
			bpf_map_delete_elem(&nat, &pk);
	}
	bpf_map_delete_elem(&nat, key);
}

/*
 * Client to backend, the entry n decided: next hop from the per-backend
 * cache, too-big to the client over the route's MTU (the packet keeps its
 * size: nothing is added), rewrite, send.
 */
static __always_inline int nat_forward(struct xdp_md *ctx, const struct meta *m, void *l3,
				       void *l4, const struct xlb_config *cfg, __u32 vip_id,
				       const struct xlb_backend *be, __u32 id, struct xlb_nat *n,
				       int cached)
{
	struct xlb_nexthop *nh = NULL;
	int rc, flags;

	rc = nexthop_get(ctx, cfg, be, id, &nh);
	if (rc < 0 || !nh)
		return vip_drop(vip_id, drop_internal);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return vip_drop(vip_id, drop_no_route);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS && m->l3len > nh->mtu)
		return too_big(ctx, m, vip_id, nh->mtu);
	flags = nat_rewrite(ctx, m, l3, l4, n);
	if (flags < 0)
		return vip_drop(vip_id, drop_internal);
	nat_note(n, cfg, flags, &m->flow, cached);
	/* Addressed to the backend now: the kernel can forward it and resolve the neighbour. */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return done(XDP_PASS, pass_no_neigh);
	return egress(ctx, vip_id, nh->ifindex, nh->dmac, nh->smac);
}

/* nat_established(): a stale to-backend entry, for the caller to forget. */
#define NAT_STALE (-2)

/*
 * A packet with a `nat` entry (cached: n is this CPU's copy of it). Returns
 * the verdict, -1 if the entry is stale, NAT_STALE if it is a stale
 * to-backend one: nat_flow() deletes it with nat_forget() and goes on as
 * for a packet without one. Deleting here would put nat_forget()'s frame on
 * top of this one's and the program's: past the verifier's 512 bytes.
 */
__noinline int nat_established(struct xdp_md *ctx, const struct meta *m, struct xlb_nat *n,
			       int cached)
{
	struct xlb_config *cfg = config_get();
	void *l3, *l4;
	int to_client;
	__u64 bytes = frame_len(ctx);
	struct xlb_backend *be;
	struct xlb_vip *vip;
	int flags;

	if (!cfg || !m || !n || nat_hdrs(ctx, m, &l3, &l4))
		return -1;
	to_client = n->flags & XLB_NAT_TO_CLIENT;
	be = nat_backend(n, !to_client, &vip);
	if (!be)
		return to_client ? -1 : NAT_STALE;
	if (to_client) {
		flags = nat_rewrite(ctx, m, l3, l4, n);
		if (flags < 0)
			return vip_drop(n->vip_id, drop_internal);
		nat_note(n, cfg, flags, &m->flow, cached);
		count_note(nat_replies);
		return egress(ctx, n->vip_id, n->ifindex, n->dmac, n->smac);
	}
	if (!ratelimit_admit(vip, &m->flow))
		return ratelimit_drop(vip->id);
	count_vip(vip->id, bytes, PICK_CONN);
	count_backend(n->backend_id, bytes);
	return nat_forward(ctx, m, l3, l4, cfg, vip->id, be, n->backend_id, n, cached);
}

/*
 * Where a translated error goes: filled by nat_icmp4/6() (functions of
 * their own, so their frames do not add to the program's), sent by
 * nat_icmp_send() inlined in the caller, passed in the scratch map: on
 * neither stack, so that the two frames together stay under the verifier's
 * 512 bytes.
 */
struct nat_icmp_out {
	__u32 backend_id;
	__u32 vip_id;
	__u32 ifindex;		/* to the client: the entry's */
	__u8 dmac[6];
	__u8 smac[6];
	__u32 to_client;
};

/*
 * A new flow's two entries being built, bpf_loop()'s state for the port
 * probe, and a translated ICMP error's destination. In a per-CPU scratch map, not on the
 * stack: nat_new()'s frame on top of the program's would pass the 512 bytes
 * the verifier allows all frames together.
 */
struct nat_probe {
	struct xlb_flow rkey;	/* the to-client key: dport is the port tried */
	struct xlb_nat rev;	/* the to-client entry */
	struct xlb_nat fwd;	/* the to-backend entry */
	__u32 start, range;	/* offsets into the range, from port_lo */
	__u16 port_lo;
	__u16 pad[3];
	long err;		/* of the last insert */
	struct nat_icmp_out icmp;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_probe);
} nat_scratch SEC(".maps");

/*
 * Probe i: port start + i of the range, wrapping; the to-client entry put
 * there with BPF_NOEXIST. Returns 1 when the search is over (the port was
 * taken by us, or the map said no for another reason than the port).
 */
static __always_inline long nat_probe(struct nat_probe *p, __u32 i)
{
	__u32 port = p->start + i;

	if (port >= p->range)
		port -= p->range;
	p->rkey.dport = bpf_htons(p->port_lo + port);
	p->err = bpf_map_update_elem(&nat, &p->rkey, &p->rev, BPF_NOEXIST);
	return p->err != -XLB_EEXIST;
}

/*
 * bpf_loop()'s step, probes 1 on. It passes only a stack pointer: the state
 * is found again in the scratch map (an inlined array read per probe).
 */
static long nat_probe_port(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct nat_probe *p;

	p = bpf_map_lookup_elem(&nat_scratch, &zero);
	if (!p)
		return 1;
	return nat_probe(p, i + 1);	/* 1 stops the loop */
}

/*
 * A TCP/UDP packet that may belong to a NAT flow (the connection table had
 * it not): translated by this CPU's copy of its entry (an inlined array
 * read; not for a bare SYN, nearly always a new flow), else by the entry
 * (the one hash lookup). Returns the verdict, or -1: not a NAT flow's
 * packet, or its entry is stale; the caller goes on without.
 */
static __always_inline int nat_flow(struct xdp_md *ctx, const struct meta *m, __u32 hash,
				    int syn)
{
	struct xlb_config *cfg = config_get();
	struct xlb_nat *n;
	int rc;

	if (!nat_on(cfg))
		return -1;
	n = syn ? NULL : nat_cached(&m->flow, hash, cfg);
	if (n) {
		rc = nat_established(ctx, m, n, 1);
		if (rc >= 0)
			return rc;
	}
	n = bpf_map_lookup_elem(&nat, &m->flow);
	if (!n)
		return -1;
	rc = nat_established(ctx, m, n, 0);
	if (rc == NAT_STALE) {
		nat_forget(n, &m->flow);
		nat_cache_put(&m->flow, NULL);
		return -1;
	}
	return rc;
}

/*
 * A new flow to a nat VIP (rate limit already passed): the ring's backend,
 * a pool address by the flow hash, a port from the flow hash on, probed
 * linearly. The to-client entry goes in first with BPF_NOEXIST, which is
 * what makes a port taken atomically (two CPUs can never both get one;
 * bpf_loop(), because an open-coded loop of inserts, verified once per path
 * into nat_new(), exceeds the verifier's budget);
 * then the to-backend entry, also BPF_NOEXIST: if another CPU created this
 * flow meanwhile, ours is withdrawn and the packet follows theirs.
 *
 * Where a new flow's time goes (make bench, "nat", ablation builds with
 * --old): about two thirds are the two inserts, and of each about half is
 * the map's allocator (BPF_F_NO_PREALLOC: elements come from a per-CPU
 * cache that irq_work refills with kmalloc a few dozen at a time);
 * a preallocated map saved 0.83-0.97 us a flow but would lock ~10 MiB at
 * the default -T whether or not a nat VIP exists. The rest is cold
 * memory: the ring slot, the map's bucket and the new elements' lines.
 *
 * A function of its own (a BPF-to-BPF call, a few ns on a path that costs
 * hundreds): inlined, its 184 bytes of entries on top of the established
 * path's would pass the 512-byte stack. Five arguments at most; hash is
 * maglev_hash(), the caller's, not computed again.
 */
__noinline int nat_new(struct xdp_md *ctx, const struct meta *m, const struct xlb_vip *vip,
		       __u32 hash)
{
	void *l3, *l4;
	struct xlb_config *cfg = config_get();
	struct ethhdr *eth = (void *)(long)ctx->data;
	__u64 bytes = frame_len(ctx);
	struct xlb_nat_pool *pool;
	struct xlb_backend *be;
	__u32 id, idx, zero = 0;
	struct nat_probe *p;
	struct xlb_nat *won;
	long err;

	if (!m || !vip)
		return done(XDP_DROP, drop_internal);
	if (!nat_on(cfg) || nat_hdrs(ctx, m, &l3, &l4))
		return vip_drop(vip->id, drop_internal);
	id = ring_pick(vip, &m->flow, hash);
	be = backend_of(id, vip->id);
	if (!be)
		return vip_drop(vip->id, drop_no_backend);
	/* A hash lookup, on a new flow only: nat_pools follows the nat VIPs. */
	pool = bpf_map_lookup_elem(&nat_pools, &vip->id);
	if (!pool || !pool->n_addrs || pool->n_addrs > XLB_NAT_POOL_MAX || !pool->port_lo ||
	    pool->port_lo > pool->port_hi || be->family != m->flow.family ||
	    (void *)(eth + 1) > (void *)(long)ctx->data_end)
		return vip_drop(vip->id, drop_internal);
	p = bpf_map_lookup_elem(&nat_scratch, &zero);
	if (!p)
		return vip_drop(vip->id, drop_internal);
	__builtin_memset(p, 0, sizeof(*p));
	p->err = -XLB_EEXIST;

	/*
	 * The verifier tracks no modulo: the mask bounds the index for it,
	 * behind a barrier because clang knows it changes nothing.
	 */
	idx = (hash >> 24) % pool->n_addrs;
	asm volatile("" : "+r"(idx));
	p->fwd.src = pool->addrs[idx & (XLB_NAT_POOL_MAX - 1)];
	p->fwd.dst = be->addr;
	p->fwd.dport = be->port ? be->port : m->flow.dport;
	p->fwd.backend_id = id;
	p->fwd.gen = be->gen;
	p->fwd.vip_id = vip->id;
	p->fwd.seen = cfg->now;

	p->rev.src = m->flow.dst;
	p->rev.dst = m->flow.src;
	p->rev.sport = m->flow.dport;
	p->rev.dport = m->flow.sport;
	p->rev.backend_id = id;
	p->rev.gen = be->gen;
	p->rev.vip_id = vip->id;
	p->rev.seen = cfg->now;
	p->rev.flags = XLB_NAT_TO_CLIENT;
	p->rev.ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(p->rev.dmac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(p->rev.smac, eth->h_dest, ETH_ALEN);

	p->rkey.src = p->fwd.dst;
	p->rkey.dst = p->fwd.src;
	p->rkey.sport = p->fwd.dport;
	p->rkey.proto = m->flow.proto;
	p->rkey.family = m->flow.family;

	p->port_lo = pool->port_lo;
	p->range = (__u32)pool->port_hi - pool->port_lo + 1;
	p->start = hash % p->range;
	/*
	 * The first probe inline: a range far from full takes the first port
	 * nearly always (make bench, "nat": ~1.005 probes a flow), and the
	 * loop's call, callback and scratch lookups are then saved.
	 */
	if (!nat_probe(p, 0))
		bpf_loop((p->range < XLB_NAT_PROBES ? p->range : XLB_NAT_PROBES) - 1,
			 nat_probe_port, &zero, 0);
	if (p->err == -XLB_EEXIST)
		return vip_drop(vip->id, drop_nat_no_port);
	if (p->err)
		return vip_drop(vip->id, drop_nat_full);

	p->fwd.sport = p->rkey.dport;
	err = bpf_map_update_elem(&nat, &m->flow, &p->fwd, BPF_NOEXIST);
	if (err) {
		bpf_map_delete_elem(&nat, &p->rkey);
		if (err != -XLB_EEXIST)
			return vip_drop(vip->id, drop_nat_full);
		/* Lost the race: follow the winner's entry, if it is to this backend. */
		won = bpf_map_lookup_elem(&nat, &m->flow);
		if (!won || won->backend_id != id)
			return vip_drop(vip->id, drop_internal);
		count_vip(vip->id, bytes, PICK_CONN);
		count_backend(id, bytes);
		return nat_forward(ctx, m, l3, l4, cfg, vip->id, be, id, won, 0);
	}
	count_vip(vip->id, bytes, PICK_BOUND);
	count_backend(id, bytes);
	/*
	 * The scratch copy, like a cached one (seen is already now): the entry
	 * is looked up only for a FIN or RST, and cached from the second packet.
	 */
	return nat_forward(ctx, m, l3, l4, cfg, vip->id, be, id, &p->fwd, 1);
}

/*
 * An ICMP error quoting a NATed packet. The quote is the packet as it left
 * us; reversed, its tuple is the key of the entry for the other direction,
 * whose rewrite is what the error's outer header gets (it travels the way
 * that direction's packets do), while the quote gets it turned around. So:
 * - an error to a pool address quoting pool:natport -> backend:bport finds
 *   the to-client entry: it goes to the client from the VIP, quoting
 *   client:cport -> VIP:vport, by the entry's interface and MACs;
 * - an error to the VIP quoting VIP:vport -> client:cport finds the
 *   to-backend entry: it goes to the backend from the pool address,
 *   quoting backend:bport -> pool:natport, by the backend's next hop.
 * Quotes are checked as in icmp.h (well-formed, inside the packet, quoted
 * source = the error's destination). The checksums of the quoted L4 header
 * are fixed when the quote holds them (UDP always, TCP when 18 bytes are
 * quoted), the ICMP checksum by the sum of every word changed under it.
 */
static __always_inline void nat_icmp_out_set(struct nat_icmp_out *o, const struct xlb_nat *n)
{
	o->backend_id = n->backend_id;
	o->vip_id = n->vip_id;
	o->ifindex = n->ifindex;
	__builtin_memcpy(o->dmac, n->dmac, ETH_ALEN);
	__builtin_memcpy(o->smac, n->smac, ETH_ALEN);
	o->to_client = n->flags & XLB_NAT_TO_CLIENT;
}

static __always_inline struct nat_icmp_out *nat_icmp_out_get(void)
{
	__u32 zero = 0;
	struct nat_probe *p = bpf_map_lookup_elem(&nat_scratch, &zero);

	return p ? &p->icmp : NULL;
}

static __always_inline int nat_icmp_send(struct xdp_md *ctx, const struct xlb_config *cfg)
{
	struct nat_icmp_out *o = nat_icmp_out_get();
	struct xlb_nexthop *nh = NULL;
	struct xlb_backend *be;
	int rc;

	if (!o)
		return done(XDP_DROP, drop_internal);
	count_note(icmp_nat);
	if (o->to_client)
		return egress(ctx, o->vip_id, o->ifindex, o->dmac, o->smac);
	be = backend_of(o->backend_id, o->vip_id);
	if (!be)
		return vip_drop(o->vip_id, drop_internal);
	rc = nexthop_get(ctx, cfg, be, o->backend_id, &nh);
	if (rc < 0 || !nh)
		return vip_drop(o->vip_id, drop_internal);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return done(XDP_PASS, pass_no_neigh);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return vip_drop(o->vip_id, drop_no_route);
	return egress(ctx, o->vip_id, nh->ifindex, nh->dmac, nh->smac);
}

/* The entry for the other direction of a quoted packet (key: its tuple reversed), if valid. */
static __always_inline struct xlb_nat *nat_quoted(const struct xlb_flow *key)
{
	/* The one hash lookup an ICMP error pays; validation is array reads. */
	struct xlb_nat *n = bpf_map_lookup_elem(&nat, key);
	struct xlb_vip *vip;

	return n && nat_backend(n, 0, &vip) ? n : NULL;
}

/*
 * Quoted L4 ports and checksum (ports at q, which the caller proved 8
 * bytes long; the quote ends at l3end or the frame's end) turned to n's
 * rewrite reversed; da is the quoted addresses' delta. Returns the delta of
 * every word changed, for the ICMP checksum.
 */
static __always_inline __u64 nat_quote_l4(struct udphdr *q, void *l3end, void *end, __u8 proto,
					  __u64 da, const struct xlb_nat *n)
{
	__u64 dp = csum_delta16(q->source, n->dport) + csum_delta16(q->dest, n->sport);
	__u16 *check, old;

	q->source = n->dport;
	q->dest = n->sport;
	check = proto == IPPROTO_UDP ? &q->check : (void *)q + 16;
	if ((void *)(check + 1) <= l3end && (void *)(check + 1) <= end && *check) {
		old = *check;
		*check = csum_apply(old, da + dp);
		if (proto == IPPROTO_UDP)
			*check = csum_udp(*check);
		dp += csum_delta16(old, *check);
	}
	return dp;
}

/*
 * Translate in place and fill the scratch map's nat_icmp_out: 0, or -1 if
 * the error is not about a NAT flow (nothing changed then).
 */
__noinline int nat_icmp4(struct xdp_md *ctx, const struct meta *m)
{
	struct nat_icmp_out *o = nat_icmp_out_get();
	void *end = (void *)(long)ctx->data_end;
	struct xlb_flow key = {};
	struct icmphdr *ic;
	struct iphdr *iph;
	struct udphdr *q;
	struct xlb_nat *n;
	struct iphdr *in;
	void *l3end;
	__u64 da, dq;
	__u16 old;

	if (!m || m->l3len > 0xffff || nat_hdrs(ctx, m, (void **)&iph, (void **)&ic))
		return -1;
	l3end = (void *)iph + m->l3len;
	in = (void *)(ic + 1);
	if ((void *)(iph + 1) > end || (void *)(ic + 1) > end)
		return -1;
	if (ic->type != ICMP_DEST_UNREACH && ic->type != ICMP_TIME_EXCEEDED &&
	    ic->type != ICMP_PARAMETERPROB)
		return -1;
	q = quote_flow4(in, l3end, end, &m->flow.dst, &key);
	if (!q || (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP))
		return -1;
	n = nat_quoted(&key);
	if (!n || !o)
		return -1;

	da = csum_delta32(iph->saddr, n->src.v4) + csum_delta32(iph->daddr, n->dst.v4);
	iph->saddr = n->src.v4;
	iph->daddr = n->dst.v4;
	iph->check = csum_apply(iph->check, da);

	da = csum_delta32(in->saddr, n->dst.v4) + csum_delta32(in->daddr, n->src.v4);
	in->saddr = n->dst.v4;
	in->daddr = n->src.v4;
	old = in->check;
	in->check = csum_apply(old, da);
	dq = da + csum_delta16(old, in->check);
	dq += nat_quote_l4(q, l3end, end, key.proto, da, n);
	ic->checksum = csum_apply(ic->checksum, dq);
	nat_icmp_out_set(o, n);
	return 0;
}

__noinline int nat_icmp6(struct xdp_md *ctx, const struct meta *m)
{
	struct nat_icmp_out *o = nat_icmp_out_get();
	void *end = (void *)(long)ctx->data_end;
	struct icmp6hdr *ic;
	struct ipv6hdr *ip6;
	struct ipv6hdr *in;
	void *l3end;
	struct xlb_flow key = {};
	struct udphdr *q;
	struct xlb_nat *n;
	__u64 da, dq;
	__s64 ds;

	if (!m || m->l3len > 0xffff || nat_hdrs(ctx, m, (void **)&ip6, (void **)&ic))
		return -1;
	l3end = (void *)ip6 + m->l3len;
	in = (void *)(ic + 1);
	if ((void *)(ip6 + 1) > end || (void *)(ic + 1) > end)
		return -1;
	if (ic->icmp6_type != ICMPV6_DEST_UNREACH && ic->icmp6_type != ICMPV6_PKT_TOOBIG &&
	    ic->icmp6_type != ICMPV6_TIME_EXCEED && ic->icmp6_type != ICMPV6_PARAMPROB)
		return -1;
	q = quote_flow6(in, l3end, end, &m->flow.dst, &key);
	if (!q || (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP))
		return -1;
	n = nat_quoted(&key);
	if (!n || !o)
		return -1;

	/*
	 * The ICMPv6 checksum covers the outer addresses (pseudo-header) too.
	 * Deltas of 16-byte addresses by bpf_csum_diff(): summed inline, their
	 * 32 words overflow the registers into more stack than this frame may
	 * have on top of the program's; an error can afford the helper calls.
	 * src and dst lie next to each other in both structs.
	 */
	ds = bpf_csum_diff((void *)&ip6->saddr, 32, (void *)&n->src, 32, 0);
	if (ds < 0)
		return -1;
	dq = (__u32)ds;
	ds = bpf_csum_diff((void *)&in->saddr, 16, (void *)&n->dst, 16, 0);
	if (ds < 0)
		return -1;
	da = (__u32)ds;
	ds = bpf_csum_diff((void *)&in->daddr, 16, (void *)&n->src, 16, 0);
	if (ds < 0)
		return -1;
	da += (__u32)ds;
	__builtin_memcpy(&ip6->saddr, &n->src, sizeof(ip6->saddr));
	__builtin_memcpy(&ip6->daddr, &n->dst, sizeof(ip6->daddr));
	__builtin_memcpy(&in->saddr, &n->dst, sizeof(in->saddr));
	__builtin_memcpy(&in->daddr, &n->src, sizeof(in->daddr));
	dq += da + nat_quote_l4(q, l3end, end, key.proto, da, n);
	ic->icmp6_cksum = csum_apply(ic->icmp6_cksum, dq);
	nat_icmp_out_set(o, n);
	return 0;
}

#endif /* XLB_BPF_NAT_H */
