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

static __always_inline int backend_down(__u32 id)
{
	__u32 *state = bpf_map_lookup_elem(&health, &id);

	return state && *state == XLB_HEALTH_DOWN;
}

/* Maglev: the flow's slot in the VIP's ring; XLB_BACKEND_NONE if empty. */
static __always_inline __u32 ring_pick(const struct xlb_vip *vip, const struct xlb_flow *f)
{
	__u32 slot, *id;
	void *ring;

	ring = bpf_map_lookup_elem(&rings, &vip->id);
	if (!ring || !vip->ring_size)
		return XLB_BACKEND_NONE;
	slot = xlb_flow_hash(f, vip->flags & XLB_VIP_HASH_SRC) % vip->ring_size;
	id = bpf_map_lookup_elem(ring, &slot);
	return id ? *id : XLB_BACKEND_NONE;
}

/*
 * The backend for a flow. An entry in the connection table wins as long as
 * its backend is still in the VIP (same generation) and not marked down:
 * that is what keeps established flows on their backend across ring
 * changes. Otherwise the ring decides, and, if `bind` is set, the choice is
 * remembered. *new_flow tells whether the ring was asked.
 */
static __always_inline struct xlb_backend *pick_backend(const struct xlb_vip *vip,
							const struct xlb_flow *f, int bind, __u64 now,
							__u32 *id_out, int *new_flow)
{
	struct xlb_backend *be;
	struct xlb_conn *conn;
	struct xlb_conn fresh;
	__u32 id;

	conn = bpf_map_lookup_elem(&conns, f);
	if (conn) {
		id = conn->backend_id;
		be = backend_of(id, vip->id);
		if (be && be->gen == conn->gen && !backend_down(id)) {
			/* One write a second at most: a store per packet would
			 * bounce the entry's cache line for nothing. */
			if (now - conn->last_seen_ns > XLB_CONN_TOUCH_NS)
				conn->last_seen_ns = now;
			*id_out = id;
			*new_flow = 0;
			return be;
		}
	}

	id = ring_pick(vip, f);
	be = backend_of(id, vip->id);
	if (!be)
		return NULL;
	if (bind) {
		fresh.backend_id = id;
		fresh.gen = be->gen;
		fresh.last_seen_ns = now;
		bpf_map_update_elem(&conns, f, &fresh, BPF_ANY);
	}
	*id_out = id;
	*new_flow = 1;
	return be;
}

#endif /* XLB_BPF_LB_H */
