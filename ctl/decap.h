/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `xlbctl decap attach|detach IFNAME`: the backend side, no daemon. The
 * decap program strips IPIP/IP6IP6 headers addressed to this host. Its link
 * and maps are pinned under a directory named after the network namespace,
 * so that eth0 in one namespace never meets eth0 in another. A namespace
 * deleted without a detach leaves its pin behind, holding a link without a
 * device and its program: every attach, detach and prune reclaims those.
 */
#ifndef XLB_DECAP_H
#define XLB_DECAP_H

#include <stddef.h>

#define DECAP_PIN_ROOT "/sys/fs/bpf/xlb-decap"

#include <linux/types.h>

/* A pin reclaimed: a decap link whose interface (or whole namespace) is gone. */
struct decap_reclaimed {
	char pin[320];		/* as DECAP_PIN_ROOT/net<inode>/link_<ifname> */
	__u32 link_id;
	__u32 prog_id;
};
typedef void (*decap_reclaim_fn)(const struct decap_reclaimed *r, void *ctx);

/*
 * Attach (or re-attach, refreshing the host's address list) to IFNAME, or
 * detach from it. Both reclaim, on the way, the pins of every namespace
 * whose link has no device any more, and call fn (when not NULL) for each.
 * Returns 0 or -errno with a one-line message in err.
 */
int decap_attach(const char *ifname, __u16 gue_port, decap_reclaim_fn fn, void *ctx, char *err,
		 size_t errlen);
int decap_detach(const char *ifname, decap_reclaim_fn fn, void *ctx, char *err, size_t errlen);

/*
 * Only the reclaiming (`xlbctl decap prune`, CI teardown, xlbd at start):
 * the number of pins reclaimed, or -errno with a message in err. *live:
 * decap links still attached somewhere, left alone.
 */
int decap_prune(decap_reclaim_fn fn, void *ctx, unsigned int *live, char *err, size_t errlen);

#endif /* XLB_DECAP_H */
