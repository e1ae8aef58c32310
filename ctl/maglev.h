/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Weighted Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI 2016).
 *
 * Every load-balancer node must compute the same table from the same backend
 * set, so the table depends only on the set of (family, addr, port, weight): not on
 * the order of the array, the host's byte order, or anything random.
 */
#ifndef XLB_MAGLEV_H
#define XLB_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>

#include "xlb_abi.h"

/* Weights are 16-bit so that the per-backend credit never overflows a __u32. */
#define MAGLEV_WEIGHT_MAX 65535

struct maglev_backend {
	struct xlb_addr addr; /* identity: the permutation derives from (family, addr, port) */
	__u8 family;	      /* XLB_AF_INET or XLB_AF_INET6 */
	__u16 port;	      /* method nat: part of the identity when not 0 */
	__u32 id;	      /* value written into the slots this backend owns */
	__u32 weight;	      /* 0..MAGLEV_WEIGHT_MAX; 0 = owns no slot (draining) */
};

/* True if n is prime. */
bool maglev_is_prime(__u32 n);

/*
 * Fill table[0..size-1] with backend ids, each backend owning a share of the
 * slots proportional to its weight. An IPv4 backend is identified by its
 * first four address bytes only.
 *
 * Returns 0; -EINVAL if size is not prime, n exceeds XLB_MAX_BACKENDS, two
 * backends share (family, addr, port), or a backend has a bad family, a weight above
 * MAGLEV_WEIGHT_MAX or a non-zero weight with id XLB_BACKEND_NONE; -ENOMEM.
 * The table is untouched on error. When no backend has a weight, every slot
 * is XLB_BACKEND_NONE.
 */
int maglev_build(const struct maglev_backend *backends, size_t n, __u32 *table, __u32 size);

/*
 * counts[i] = number of slots of table holding backends[i].id. Entries that
 * share an id each get the full count.
 */
void maglev_count(const __u32 *table, __u32 size, const struct maglev_backend *backends, size_t n,
		  __u32 *counts);

#endif /* XLB_MAGLEV_H */
