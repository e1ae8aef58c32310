// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Floors for `make bench`: the cheapest possible XDP programs, measured in
 * the same run as the balancer so that the harness's own cost cancels out.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Two instructions: r0 = XDP_PASS; exit. Also what scripts/topology.sh
 * puts on a veth peer so that it receives XDP_TX frames: it must stay the
 * first program of section "xdp" in this file.
 */
SEC("xdp")
int floor_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int floor_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}
