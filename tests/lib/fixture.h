/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A loaded balancer in a private network namespace, for BPF_PROG_TEST_RUN
 * tests and benchmarks. The process unshares its network namespace, so the
 * interfaces, routes and neighbours below vanish with it and never touch the
 * host's.
 *
 *   xlb0 (02:00:00:00:00:a0) 10.0.0.1/24 fd00::1/64   <- packets "arrive" here
 *     neighbours 10.0.0.2-4, fd00::2-4 -> 02:00:00:00:00:02-04 (permanent)
 *     10.0.0.9, fd00::9: no neighbour entry
 *   xlb2 (02:00:00:00:00:a2) 10.1.0.1/24 fd01::1/64   <- another egress
 *     neighbours 10.1.0.2, fd01::2 -> 02:00:00:00:01:02
 *   blackhole routes 10.9.0.0/16, fd09::/32
 *
 * The program's outer source addresses are 10.0.0.1 and fd00::1.
 */
#ifndef XLB_TESTS_FIXTURE_H
#define XLB_TESTS_FIXTURE_H

#include "dataplane.h"
#include "maglev.h"
#include "sync.h"

#define FX_MAX_BACKENDS 16

struct fixture {
	struct dp dp;
	int if0, if2;		/* ifindex of xlb0 and xlb2 */
	__u8 mac0[6], mac2[6];
};

struct fx_backend {
	const char *addr;
	__u32 weight;
	__u32 id;		/* backend id the fixture hands out (output) */
	__u16 port;		/* XLB_METHOD_NAT: backend port, host order; 0 = the packet's */
};

struct fx_vip {
	const char *addr;
	__u16 port;		/* host order, 0 = all ports */
	__u8 proto;
	__u8 method;		/* XLB_METHOD_* */
	__u32 flags;		/* XLB_VIP_* */
	__u32 ring_size;	/* 0 = XLB_RING_DEFAULT */
	__u32 id;
	struct fx_backend backends[FX_MAX_BACKENDS];
	size_t n;
	__u32 rate, burst;	/* per-source limit (pps, packets); rate 0 = none */
	__u16 encap_port;	/* XLB_METHOD_GUE: UDP destination port, host order */
};

/* Namespace, interfaces, program loaded, config written. 0 or -errno. */
int fx_setup(struct fixture *fx);
/* The same with room for max_backends backend ids (fx_setup(): 4096). */
int fx_setup_sized(struct fixture *fx, __u32 max_backends);
/* The same with room for max_vips VIP ids too (the others: 64). */
int fx_setup_room(struct fixture *fx, __u32 max_vips, __u32 max_backends);
/* fx_setup() and then every VIP of v[0..n-1]; a cmocka group setup: 0 or -1, saying why. */
int fx_setup_vips(struct fixture *fx, struct fx_vip *v, int n);
/*
 * A small data plane in the current namespace (no packets are run) and the reconciler on it,
 * for suites that drive ctl/ against real maps. 0, or -1 with the reason on stderr.
 */
int fx_sync_setup(struct dp *dp, struct sync *s, __u32 max_vips, __u32 max_backends);
void fx_teardown(struct fixture *fx);

/*
 * Configure a VIP and its backends the way the daemon does: backends, then
 * the Maglev table, then the VIP and its address entry (echo on; fragments
 * to it if it hashes by source). Backend ids are vip->id * 100 + 1 + index.
 * A rate sets XLB_VIP_RATELIMIT with the GCRA parameters of rate and burst.
 */
int fx_vip_add(struct fixture *fx, struct fx_vip *vip);
/* Rebuild the ring from vip->backends (after weights change or removal). */
int fx_ring_rebuild(struct fixture *fx, struct fx_vip *vip);

/* One run of the balancer program on `in`, received on xlb0. */
int fx_run(struct fixture *fx, const void *in, __u32 len, void *out, __u32 *out_len,
	   __u32 *verdict);
/* The same, received on interface ifindex (xlb0 or xlb2). */
int fx_run_on(struct fixture *fx, int ifindex, const void *in, __u32 len, void *out,
	      __u32 *out_len, __u32 *verdict);

/* Which backend id the ring gives this flow (the data plane's own hash). */
__u32 fx_ring_owner(struct fixture *fx, const struct fx_vip *vip, const struct xlb_flow *flow);

/* The backend id of v whose address is the outer destination of an IPv4 IPIP frame; 0: none. */
__u32 fx_frame_backend(const struct fx_vip *v, const __u8 *out, __u32 len);

/* Run a shell command in the fixture's namespace; 0 if it exited 0. */
int fx_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* XLB_TESTS_FIXTURE_H */
