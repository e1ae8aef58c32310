/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Choosing a backend: VIP lookup, connection table, Maglev ring.
 */
#ifndef XLB_BPF_LB_H
#define XLB_BPF_LB_H

#include "conns.h"
#include "maps.h"
#include "parse.h"
#include "xlb_hash.h"

static __always_inline int vip_key_eq(const struct xlb_vip_key *a, const struct xlb_vip_key *b)
{
	const __u32 *x = (const void *)a, *y = (const void *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}
_Static_assert(sizeof(struct xlb_vip_key) == 5 * sizeof(__u32), "vip_key_eq");

/*
 * {addr, port, proto}, then the all-ports VIP {addr, 0, proto}: first in
 * this CPU's vip_cache (an inlined array read and a compare), else by the
 * hash lookups, whose answer is cached under the epoch read before them.
 */
static __always_inline struct xlb_vip *vip_lookup(const struct xlb_flow *f, __be16 port)
{
	struct xlb_vip_key key = {
		.addr = f->dst,
		.port = port,
		.proto = f->proto,
		.family = f->family,
	};
	__u32 slot = xlb_vip_cache_slot(&key), epoch = conn_epoch();
	struct xlb_vip_cache_entry *c = bpf_map_lookup_elem(&vip_cache, &slot);
	struct xlb_vip *vip;

	if (c && c->epoch == epoch && vip_key_eq(&c->key, &key)) {
		vip = bpf_map_lookup_elem(&vip_by_id, &c->vip_id);
		return vip && vip->ring_size ? vip : NULL;
	}
	vip = bpf_map_lookup_elem(&vips, &key);
	if (!vip && port) {
		key.port = 0;
		vip = bpf_map_lookup_elem(&vips, &key);
		key.port = port;
	}
	if (vip && c) {
		c->key = key;
		c->vip_id = vip->id;
		c->epoch = epoch;
	}
	return vip;
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

/*
 * 4-byte ring slots (struct xlb_ring32) instead of 2 (struct xlb_ring16):
 * set by xlbd at load when backend ids need more than 16 bits. Read-only
 * data, so the verifier keeps only the path of the layout loaded.
 */
const volatile __u32 ring_wide = 0;

/*
 * A flow's Maglev hash, xlb_flow_hash(f, 0), from its xlb_conn_hash(), which
 * the caller has computed for the connection table: for IPv4 the same
 * (measured: computing it again cost a new flow 10-30 ns); for IPv6 its
 * three mixing rounds, paid by new flows only.
 */
static __always_inline __u32 maglev_hash(const struct xlb_flow *f, __u32 conn_hash)
{
	return f->family == XLB_AF_INET ? conn_hash : xlb_flow_hash(f, 0);
}

/*
 * Maglev: the flow's slot in the VIP's ring; XLB_BACKEND_NONE if empty.
 * hash is maglev_hash(); a `hash src` VIP hashes the source alone.
 * The slot's read is a new flow's likeliest cache miss: 2-byte slots make a
 * ring half the lines, so more of the rings stay in cache.
 */
static __always_inline __u32 ring_pick(const struct xlb_vip *vip, const struct xlb_flow *f,
				       __u32 hash)
{
	struct xlb_ring16 *e16;
	struct xlb_ring32 *e32;
	__u32 slot, key;
	void *ring;

	ring = bpf_map_lookup_elem(&rings, &vip->id);
	if (!ring || !vip->ring_size)
		return XLB_BACKEND_NONE;
	if (vip->flags & XLB_VIP_HASH_SRC)
		hash = xlb_flow_hash(f, 1);
	slot = hash % vip->ring_size;
	if (ring_wide) {
		key = slot / XLB_RING32_SLOTS;
		e32 = bpf_map_lookup_elem(ring, &key);
		return e32 ? e32->id[slot % XLB_RING32_SLOTS] : XLB_BACKEND_NONE;
	}
	key = slot / XLB_RING16_SLOTS;
	e16 = bpf_map_lookup_elem(ring, &key);
	return e16 ? e16->id[slot % XLB_RING16_SLOTS] : XLB_BACKEND_NONE;
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

/*
 * An established flow: its entry in the connection table, if the VIP it
 * names still exists and the backend is still that VIP's (same generation)
 * and not marked down. An inlined array read finds the set, a few compares
 * the way, and three more inlined array reads (vip_by_id, backends, health)
 * validate it. hash is xlb_conn_hash(f), which the caller computes once
 * for this table and NAT's cache; cfg is the packet's one config read.
 * *vip and *id are set on success.
 */
static __always_inline struct xlb_backend *conn_backend(const struct xlb_flow *f, __u32 hash,
							 const struct xlb_config *cfg,
							 struct xlb_vip **vip, __u32 *id)
{
	struct xlb_conn_set *s = conn_set_at(hash);
	struct xlb_backend *be;
	struct xlb_conn conn;
	struct xlb_vip *v;
	int way;

	if (!s)
		return NULL;
	way = conn_find(s, f, hash, &conn);
	if (way < 0)
		return NULL;
	v = bpf_map_lookup_elem(&vip_by_id, &conn.vip_id);
	if (!v || !v->ring_size)
		return NULL;
	be = backend_of(conn.backend_id, conn.vip_id);
	if (!be || be->gen != conn.gen || backend_down(conn.backend_id))
		return NULL;
	conn_touch(s, way, cfg->nh_epoch);
	*vip = v;
	*id = conn.backend_id;
	return be;
}

/*
 * The backend a packet of flow f to vip belongs to, binding nothing: its
 * connection's if it has a valid one on this VIP, else the ring's choice.
 */
static __always_inline struct xlb_backend *pick_backend(const struct xlb_vip *vip,
							const struct xlb_flow *f,
							const struct xlb_config *cfg, __u32 *id)
{
	__u32 hash = xlb_conn_hash(f);
	struct xlb_backend *be;
	struct xlb_vip *bound;

	be = conn_backend(f, hash, cfg, &bound, id);
	if (be && bound->id == vip->id)
		return be;
	*id = ring_pick(vip, f, maglev_hash(f, hash));
	return backend_of(*id, vip->id);
}

/*
 * Remember the ring's choice for the flow: later packets follow it. 1 if
 * bound, 0 if not (its way was being written by another CPU right then:
 * the flow's next packet binds it). hash: xlb_conn_hash(f), as for
 * ring_pick().
 */
static __always_inline int conn_bind(const struct xlb_flow *f, __u32 hash,
				     const struct xlb_vip *vip, const struct xlb_backend *be,
				     __u32 id)
{
	struct xlb_conn fresh = {
		.backend_id = id,
		.gen = be->gen,
		.vip_id = vip->id,
	};
	struct xlb_conn_set *s = conn_set_at(hash);

	return s ? conn_write(s, f, hash, &fresh) : 0;
}

#endif /* XLB_BPF_LB_H */
