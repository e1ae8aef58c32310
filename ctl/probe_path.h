/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The way health probes take through the data path (`health set ... via
 * vip`): a TC egress program (bpf/probe.bpf.c) on the first attached
 * interface, linked with a TCX link pinned in the pin dir (adopted across
 * restarts like the XDP link), and a policy route that sends marked packets
 * out of that interface whatever the main table says about the VIP:
 *
 *   ip rule  fwmark XLB_PROBE_MARK/0xff000000 lookup 22604 pref 22604
 *   ip route default via PROBE_GW dev IFNAME onlink table 22604
 *   ip neigh PROBE_GW lladdr IFNAME's MAC nud permanent
 *
 * The gateway is never reached: the program rewrites every marked packet
 * before it leaves, and one that escaped would go to our own MAC, which the
 * switch does not send back. All of it lives in the network namespace.
 */
#ifndef XLB_PROBE_PATH_H
#define XLB_PROBE_PATH_H

#include <net/if.h>
#include <stdbool.h>
#include "xlb_probe.h"

#define PROBE_TABLE	22604		/* 'X' 'L' */
#define PROBE_RULE_PREF	22604
#define PROBE_GW4	"169.254.88.76"
#define PROBE_GW6	"fe80::584c"

struct probe;

struct probe_path {
	struct probe *skel;
	char pin_dir[256];
	char ifname[IF_NAMESIZE];	/* "" while no probe path is set up */
	__u32 ifindex;
	struct xlb_addr src4, src6;	/* the interface's addresses: probes' sources */
	bool has_src4, has_src6;
	__u32 max;
	bool *used;			/* by backend id: a target is written */
	int link_fd;			/* without a pin dir: the link, held */
};

/* One backend probed through the VIP path. */
struct probe_want {
	__u32 id;
	struct xlb_probe_target t;
};

int probe_path_open(struct probe_path *pp, const char *pin_dir, __u32 max_backends);
/* Kernel state (link, routes, targets) stays: the next xlbd adopts it. */
void probe_path_close(struct probe_path *pp);

/*
 * Probe through ifname (NULL: nowhere, remove everything, pins of earlier
 * runs included) and exactly the targets in w (w NULL: leave them). 0 or
 * -errno.
 */
int probe_path_update(struct probe_path *pp, const char *ifname, const struct probe_want *w,
		      size_t n);

/* The source for probes of a family; false when the interface has none. */
bool probe_path_source(const struct probe_path *pp, __u8 family, struct xlb_addr *src);

#endif /* XLB_PROBE_PATH_H */
