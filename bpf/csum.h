/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internet checksum arithmetic for the XDP programs (RFC 1071, RFC 1624). */
#ifndef XLB_BPF_CSUM_H
#define XLB_BPF_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * Checksum of a 20-byte IPv4 header without options. Unrolled over ten
 * 16-bit words: the outer headers we build never carry options, and a fixed
 * loop costs the verifier nothing.
 */
static __always_inline void ipv4_csum_set(struct iphdr *iph)
{
	__u16 *w = (__u16 *)iph;
	__u32 sum = 0;

	iph->check = 0;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	iph->check = csum_fold(sum);
}

/*
 * Write a 20-byte IPv4 header (id 0, no options) and its checksum, all from
 * registers: a 16-bit store per pair of bytes, never a bitfield's
 * read-modify-write, and a sum of the values written rather than of the
 * header read back (ipv4_csum_set()). Every term is a 16-bit word as it
 * lies in memory, so the sum is right in either byte order (RFC 1071 2(B)).
 * frag_off, in host order, holds the flags (IP_DF).
 */
static __always_inline void ipv4_hdr_build(struct iphdr *iph, __u8 tos, __u16 tot_len,
					   __u16 frag_off, __u8 ttl, __u8 proto, __be32 saddr,
					   __be32 daddr)
{
	__be16 *w = (__be16 *)iph;
	__be16 w0 = bpf_htons(0x4500 | tos), w1 = bpf_htons(tot_len);
	__be16 w3 = bpf_htons(frag_off), w4 = bpf_htons((__u16)ttl << 8 | proto);
	__u32 sum = (__u32)w0 + w1 + w3 + w4 + (saddr & 0xffff) + (saddr >> 16) +
		    (daddr & 0xffff) + (daddr >> 16);

	w[0] = w0;
	w[1] = w1;
	w[2] = 0;
	w[3] = w3;
	w[4] = w4;
	w[5] = csum_fold(sum);
	iph->saddr = saddr;
	iph->daddr = daddr;
}

/*
 * Received IPv4 header (options included) sums to all ones. Summed in 32-bit
 * words into 64 bits: half the adds of 16-bit words, same result once folded
 * (RFC 1071 2(B)). The 20 fixed bytes are summed straight (the caller proved
 * them present); options, rare, word by word with a bound check each for the
 * verifier, at most 10 words since ihl <= 15. Measured (pktcost, 20-byte
 * header, against the same program without it): 3-9 ns a packet.
 */
static __always_inline int ipv4_csum_ok(const struct iphdr *iph, const void *end)
{
	const __u32 *w = (const void *)iph;
	__u32 words = iph->ihl;
	__u64 sum = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];

	if (words > 5) {
#pragma unroll
		for (int i = 5; i < 15; i++) {
			if (i < words) {
				if ((const void *)(w + i + 1) > end)
					return 0;
				sum += w[i];
			}
		}
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return csum_fold(sum) == 0;
}

/*
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word m changing
 * to m'. Works in either byte order as long as all three agree.
 */
static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	return csum_fold(sum);
}

#endif /* XLB_BPF_CSUM_H */
