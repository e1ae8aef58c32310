/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ABI between bpf/probe.bpf.c and ctl/probe_path.c: health probes that
 * travel the data path. A probe socket carries SO_MARK = XLB_PROBE_MARK |
 * backend id; a TC egress program on the attached interface looks the id up
 * in `probe_targets` and sends the packet to that backend the way the XDP
 * program would send a client's: IPIP-encapsulated, or to the backend's MAC.
 * Kept apart from xlb_abi.h so the fast path's structs never change for it.
 */
#ifndef XLB_PROBE_H
#define XLB_PROBE_H

#include <linux/types.h>
#include "xlb_abi.h"

/*
 * The top byte marks a probe ('X'); the rest is the backend id, which is
 * below XLB_MAX_BACKENDS. A mark some other tool sets is left alone unless
 * its top byte happens to be this one.
 */
#define XLB_PROBE_MARK		0x58000000U
#define XLB_PROBE_MARK_MASK	0xff000000U
#define XLB_PROBE_ID_MASK	0x00ffffffU

/* Where the probe of one backend goes; probe_targets is indexed by backend id. */
struct xlb_probe_target {
	struct xlb_addr addr;	/* the backend's */
	__u8 family;		/* XLB_AF_*; 0: no probe for this id */
	__u8 method;		/* enum xlb_method of the VIP */
	__u8 pad[2];
};
_Static_assert(sizeof(struct xlb_probe_target) == 20, "xlb_probe_target");

/* Per-CPU, one slot: what the probe program did. */
struct xlb_probe_stats {
	__u64 sent;		/* probe packets sent on towards their backend */
	__u64 no_target;	/* marked, but no target for the id: dropped */
	__u64 failed;		/* a helper failed (encapsulation, redirect): dropped */
};

#endif /* XLB_PROBE_H */
