/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Choosing a backend: VIP lookup, connection table, Maglev ring.
 */
#ifndef XLB_BPF_LB_H
#define XLB_BPF_LB_H

#include "maps.h"
#include "parse.h"
#include "xlb_hash.h"

/* {addr, port, proto}, then the all-ports VIP {addr, 0, proto}. */
static __always_inline struct xlb_vip *vip_lookup(const struct xlb_flow *f, __be16 port)
{
	struct xlb_vip_key key = {
		.addr = f->dst,
		.port = port,
		.proto = f->proto,
		.family = f->family,
	};
	struct xlb_vip *vip;

	vip = bpf_map_lookup_elem(&vips, &key);
	if (vip || !port)
		return vip;
	key.port = 0;
	return bpf_map_lookup_elem(&vips, &key);
}

static __always_inline struct xlb_vip_addr *vip_addr_lookup(const struct xlb_addr *addr,
							    __u8 family)
{
	struct xlb_vip_addr_key key = {
		.addr = *addr,
		.family = family,
	};

	return bpf_map_lookup_elem(&vip_addrs, &key);
}

/* Backend `id` as long as it is still a member of the VIP. */
static __always_inline struct xlb_backend *backend_of(__u32 id, __u32 vip_id)
{
	struct xlb_backend *be = bpf_map_lookup_elem(&backends, &id);

	if (!be || !(be->flags & XLB_BACKEND_ACTIVE) || be->vip_id != vip_id)
		return NULL;
	return be;
}

/* Needed per packet: a flow whose backend is marked down re-hashes at once. */
static __always_inline int backend_down(__u32 id)
{
	__u32 *state = bpf_map_lookup_elem(&health, &id);

	return state && *state == XLB_HEALTH_DOWN;
}

/* Maglev: the flow's slot in the VIP's ring; XLB_BACKEND_NONE if empty. */
static __always_inline __u32 ring_pick(const struct xlb_vip *vip, const struct xlb_flow *f)
{
	struct xlb_ring_entry *e;
	__u32 slot, key;
	void *ring;

	ring = bpf_map_lookup_elem(&rings, &vip->id);
	if (!ring || !vip->ring_size)
		return XLB_BACKEND_NONE;
	slot = xlb_flow_hash(f, vip->flags & XLB_VIP_HASH_SRC) % vip->ring_size;
	key = slot / XLB_RING_SLOTS_PER_ENTRY;
	e = bpf_map_lookup_elem(ring, &key);
	return e ? e->id[slot % XLB_RING_SLOTS_PER_ENTRY] : XLB_BACKEND_NONE;
}

/*
 * A bare SYN opens a flow but does not bind it: its backend is the ring's
 * choice, and the flow is bound by its first packet that is not a bare SYN
 * (the handshake's ACK). So a flood of spoofed SYNs, which never answer,
 * inserts nothing into the connection table and evicts no established flow.
 * The price: a ring change between a SYN and its ACK moves that one
 * handshake, as it would have moved the flow with no table at all.
 */
static __always_inline int bare_syn(const struct meta *m, void *l4, void *end)
{
	struct tcphdr *th = l4;

	if (m->flow.proto != IPPROTO_TCP || (void *)(th + 1) > end)
		return 0;
	return th->syn && !th->ack;
}

static __always_inline int flow_eq(const struct xlb_flow *a, const struct xlb_flow *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}
_Static_assert(sizeof(struct xlb_flow) == 5 * sizeof(__u64), "flow_eq");

/* The set of this CPU's flow cache for a flow of hash xlb_flow_hash(f, 0). */
static __always_inline struct xlb_flow_cache_set *cache_set_of(__u32 hash)
{
	__u32 set = hash & (XLB_FLOW_CACHE_SETS - 1);

	return bpf_map_lookup_elem(&flow_cache, &set);
}

/* The flow's set of this CPU's flow cache (struct xlb_flow_cache_set). */
static __always_inline struct xlb_flow_cache_set *cache_set(const struct xlb_flow *f)
{
	return cache_set_of(xlb_flow_hash(f, 0));
}

/* The flow's entry becomes way 0 of its set, the former way 0 way 1. */
static __always_inline void cache_fill(struct xlb_flow_cache_set *set, const struct xlb_flow *f,
				       const struct xlb_conn *c)
{
	if (!flow_eq(&set->key[0], f)) {
		set->key[1] = set->key[0];
		set->conn[1] = set->conn[0];
		set->key[0] = *f;
	}
	set->conn[0] = *c;
}

/* The flow's entry in its cache set (set NULL: none), or NULL. */
static __always_inline struct xlb_conn *cache_find(struct xlb_flow_cache_set *set,
						   const struct xlb_flow *f)
{
	if (set && flow_eq(&set->key[0], f))
		return &set->conn[0];
	if (set && flow_eq(&set->key[1], f))
		return &set->conn[1];
	return NULL;
}

/*
 * An established flow: its connection entry, from this CPU's flow cache
 * (conn, as cache_find() found it in set; NULL on a miss) or else the
 * connection table, if the VIP it names still exists and the backend is
 * still that VIP's (same generation) and not marked down. Three inlined
 * array reads (vip_by_id, backends, health) validate it; the hash lookup in
 * conns is only paid on a cache miss, and the entry found there is cached.
 * *vip and *id are set on success.
 */
static __always_inline struct xlb_backend *conn_valid(const struct xlb_flow *f,
						      struct xlb_flow_cache_set *set,
						      struct xlb_conn *conn, struct xlb_vip **vip,
						      __u32 *id)
{
	struct xlb_backend *be;
	struct xlb_vip *v;
	int missed = 0;

	if (!conn) {
		conn = bpf_map_lookup_elem(&conns, f);
		if (!conn)
			return NULL;
		missed = 1;
	}
	v = bpf_map_lookup_elem(&vip_by_id, &conn->vip_id);
	if (!v || !v->ring_size)
		return NULL;
	be = backend_of(conn->backend_id, conn->vip_id);
	if (!be || be->gen != conn->gen || backend_down(conn->backend_id))
		return NULL;
	if (missed && set)
		cache_fill(set, f, conn);
	*vip = v;
	*id = conn->backend_id;
	return be;
}

static __always_inline struct xlb_backend *conn_backend(const struct xlb_flow *f, int syn,
							 struct xlb_vip **vip, __u32 *id)
{
	/* A bare SYN is nearly always a new flow: no set lookup to miss. */
	struct xlb_flow_cache_set *set = syn ? NULL : cache_set(f);

	return conn_valid(f, set, cache_find(set, f), vip, id);
}

/*
 * The backend a packet of flow f to vip belongs to, binding nothing: its
 * connection's if it has a valid one on this VIP, else the ring's choice.
 */
static __always_inline struct xlb_backend *pick_backend(const struct xlb_vip *vip,
							const struct xlb_flow *f, __u32 *id)
{
	struct xlb_backend *be;
	struct xlb_vip *bound;

	be = conn_backend(f, 0, &bound, id);
	if (be && bound->id == vip->id)
		return be;
	*id = ring_pick(vip, f);
	return backend_of(*id, vip->id);
}

/* Remember the ring's choice for the flow: later packets follow it. */
static __always_inline void conn_bind(const struct xlb_flow *f, const struct xlb_vip *vip,
				      const struct xlb_backend *be, __u32 id)
{
	struct xlb_conn fresh = {
		.backend_id = id,
		.gen = be->gen,
		.vip_id = vip->id,
	};

	/*
	 * Not into the flow cache: the flow's second packet puts it there, so
	 * that a flood of one packet per spoofed source (which binds) evicts
	 * no cached flow, and pays no write to a random set.
	 */
	bpf_map_update_elem(&conns, f, &fresh, BPF_ANY);
}

#endif /* XLB_BPF_LB_H */
