/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The NAT partner key, one copy for the data plane (which deletes a stale
 * flow's pair) and xlbd (the sweeper and `xlbctl lookup` read both entries
 * of a flow): both must find the same partner, or a flow's entries part.
 */
#ifndef XLB_NAT_H
#define XLB_NAT_H

#include "xlb_abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * The key of the other entry of key's flow, n being key's entry: n's
 * rewrite turned around, with the protocol and family of key (struct
 * xlb_nat). The padding is zeroed: it is part of the hash map's key.
 */
static __always_inline void xlb_nat_partner(struct xlb_flow *k, const struct xlb_nat *n,
					    const struct xlb_flow *key)
{
	k->src = n->dst;
	k->dst = n->src;
	k->sport = n->dport;
	k->dport = n->sport;
	k->proto = key->proto;
	k->family = key->family;
	k->pad[0] = 0;
	k->pad[1] = 0;
}

#endif /* XLB_NAT_H */
