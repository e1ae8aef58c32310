/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * XDP programs attached through bpf_links pinned in bpffs: the attachment
 * outlives the process that made it (xlbd restarts, xlbctl decap exits).
 */
#ifndef XLB_XDP_LINK_H
#define XLB_XDP_LINK_H

#include <linux/types.h>

/*
 * Attach prog_fd to ifindex through the link pinned at path. A link already
 * pinned there is switched to prog_fd, atomically (no moment without a
 * program); a pin whose interface is gone is replaced. Another XDP program
 * on the interface is never replaced: -EBUSY and its id in *other_id.
 * flags: XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE or 0 (the kernel's choice).
 * 0 or -errno.
 */
int xdp_link_attach(const char *path, int prog_fd, __u32 ifindex, __u32 flags, __u32 *other_id);

/*
 * Detach the link pinned at path now, even if someone still holds it open,
 * and remove the pin. -ENOENT when nothing is pinned there.
 */
int xdp_link_detach(const char *path);

/* What a pinned XDP link is attached to; ifindex 0: its interface is gone. */
struct xdp_link_pin {
	__u32 link_id;
	__u32 prog_id;
	__u32 ifindex;
};

/*
 * Read the link pinned at path: 0, -ENOENT when nothing is pinned there,
 * -EINVAL when it is not an XDP link.
 */
int xdp_link_query(const char *path, struct xdp_link_pin *pin);

/*
 * A link whose interface is gone (its namespace was deleted, or the device)
 * is detached for good, yet the pin keeps it and its program in the kernel:
 * `bpftool link show` lists it as "xdp" without a device. Remove the pin
 * of such a link (info in *pin): 1; 0 when the link is live or path holds
 * no XDP link (never touched), -errno on failure.
 */
int xdp_link_reclaim(const char *path, struct xdp_link_pin *pin);

#endif /* XLB_XDP_LINK_H */
