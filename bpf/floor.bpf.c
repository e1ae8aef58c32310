// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Floors for `make bench`: the cheapest possible XDP programs, measured in
 * the same run as the balancer so that the harness's own cost cancels out.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include "csum.h"

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

/*
 * The least an IPIP balancer does to an IPv4 packet it forwards: the
 * headers' bounds, bpf_xdp_adjust_head(), the Ethernet header rewritten
 * (a fixed next-hop MAC), a 20-byte outer header with fixed addresses, the
 * inner TOS and DF, and its checksum (ipv4_hdr_build(), as xlb writes it),
 * XDP_TX. No lookup, counter or check. make bench runs it on the
 * established IPv4 TCP packet: what xlb costs above it is what finding,
 * checking and counting the flow's backend costs, and its own figure is
 * what any IPIP forwarder spends on this machine before it looks anything
 * up.
 */
SEC("xdp")
int floor_ipip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *in = (void *)(eth + 1), *out;
	__u16 len, frag;
	__u8 smac[ETH_ALEN], tos;

	if ((void *)(in + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	len = bpf_ntohs(in->tot_len);
	tos = in->tos;
	frag = in->frag_off & bpf_htons(IP_DF) ? IP_DF : 0;
	copy_mac(smac, eth->h_dest);
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*out)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	out = (void *)(eth + 1);
	if ((void *)(out + 1) > end)
		return XDP_DROP;
	/* 02:00:00:00:00:02, from immediates: iproute2 loads this file too. */
	*(__u32 *)eth->h_dest = bpf_htonl(0x02000000);
	*(__u16 *)(eth->h_dest + 4) = bpf_htons(0x0002);
	copy_mac(eth->h_source, smac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	ipv4_hdr_build(out, tos, len + sizeof(*out), frag, 64, IPPROTO_IPIP,
		       bpf_htonl(0x0a000001), bpf_htonl(0x0a000002));
	return XDP_TX;
}
