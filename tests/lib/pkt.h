/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet builder for BPF_PROG_TEST_RUN tests and benchmarks: Ethernet frames
 * (optionally 802.1Q-tagged) carrying IPv4 or IPv6 with TCP, UDP, ICMP or
 * ICMPv6, every field in network byte order and every checksum valid, plus
 * the exact IPIP / IP6IP6 frame the balancer must emit for a given input.
 *
 * Builders write into a caller's buffer and return the length written, or 0
 * when the spec is inconsistent or the result does not fit: a test can assert
 * on the length alone.
 */
#ifndef XLB_TESTS_PKT_H
#define XLB_TESTS_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "xlb_abi.h"

#define PKT_ETH_LEN		14
#define PKT_VLAN_LEN		4
#define PKT_IPV4_LEN		20	/* without options */
#define PKT_IPV6_LEN		40
#define PKT_IPV6_FRAG_LEN	8
#define PKT_IPV6_EXT_LEN	8	/* each extension header pkt_build() writes */
#define PKT_IPV6_EXT_MAX	6
#define PKT_TCP_LEN		20	/* without options */
#define PKT_UDP_LEN		8
#define PKT_ICMP_LEN		8	/* type, code, checksum, 4 bytes rest-of-header */

/* IPv4 frag_off bits (host order), also the encoding of pkt_spec.frag for IPv6. */
#define PKT_IP_DF		0x4000
#define PKT_IP_MF		0x2000
#define PKT_IP_OFFSET		0x1fff	/* in 8-byte units */

#define PKT_TCP_FIN		0x01
#define PKT_TCP_SYN		0x02
#define PKT_TCP_RST		0x04
#define PKT_TCP_PSH		0x08
#define PKT_TCP_ACK		0x10

/* "10.0.0.1" or "fd00::1" -> 0 and *family = XLB_AF_INET / XLB_AF_INET6, else -EINVAL. */
int pkt_addr(struct xlb_addr *a, __u8 *family, const char *str);

struct pkt_spec {
	__u8 family;		/* XLB_AF_INET or XLB_AF_INET6 */
	__u16 vlan;		/* 802.1Q VID (1..4094), 0 = untagged */
	__u8 smac[6], dmac[6];
	const char *src, *dst;	/* addresses as text, of the spec's family */
	/*
	 * IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP (IPv4 only) or IPPROTO_ICMPV6
	 * (IPv6 only); any other value (ICMP in the wrong family included)
	 * gets no L4 header, just inner then payload after the IP header.
	 */
	__u8 proto;
	__u16 sport, dport;	/* host order */
	__u8 tcp_flags;		/* PKT_TCP_*; 0 means ACK */
	__u8 ipv4_opt_len;	/* multiple of 4, <= 40: NOPs then one EOL */
	/*
	 * IPv4: the frag_off field in host order (PKT_IP_MF | offset, PKT_IP_DF).
	 * IPv6: non-zero inserts a Fragment header carrying the same offset and
	 * MF bit (PKT_IP_DF alone gives an atomic fragment: offset 0, M 0).
	 * A fragment with a non-zero offset has no L4 header: only payload.
	 */
	__u16 frag;
	__u32 ip_id;		/* IPv4 identification (low 16 bits), IPv6 fragment id */
	__u8 icmp_type, icmp_code;
	__u16 icmp_id, icmp_seq;	/* echo request / reply */
	/* IPv4 type 3 code 4: 16-bit next-hop MTU; ICMPv6 type 2: 32-bit MTU. */
	__u32 icmp_mtu;
	/*
	 * Bytes placed verbatim after the L4 header: the quoted packet of an
	 * ICMP error, or (other protocols) the whole payload, e.g. an inner IP
	 * packet for IPPROTO_IPIP / IPPROTO_IPV6. Checksummed like payload.
	 */
	const void *inner;
	__u32 inner_len;
	__u32 payload_len;	/* pattern bytes after inner, see pkt_pattern() */
	__u8 ttl, tos;		/* 0 = 64 / 0; tos is the IPv6 traffic class too */
	__u32 flow_label;	/* IPv6, 20 bits */
	/*
	 * IPv6 extension headers between the IPv6 header and the Fragment
	 * header (if any) or L4, in this order: IPPROTO_HOPOPTS or
	 * IPPROTO_DSTOPTS (8 bytes of PadN), IPPROTO_ROUTING (8 bytes, an
	 * experimental type with no segments left, which every node ignores).
	 */
	__u8 ext[PKT_IPV6_EXT_MAX];
	__u8 n_ext;
};

/* The flow a spec describes, as the data plane keys it (ports in network order). */
struct xlb_flow pkt_flow(const struct pkt_spec *s);

/*
 * The spec of a frame of the flow src:sport -> dst:dport (host order), proto, from smac to
 * dmac (6 bytes each), of src's family (IPv6 if it holds a ':'); every other field zero, for
 * the caller to set.
 */
struct pkt_spec pkt_flow_spec(__u8 proto, const char *src, __u16 sport, const char *dst,
			      __u16 dport, const void *smac, const void *dmac);

/* Frame length, or 0 if it does not fit in cap or the spec is inconsistent. */
size_t pkt_build(__u8 *buf, size_t cap, const struct pkt_spec *s);
/* The same without the Ethernet header: an L3 packet (ICMP errors' inner). */
size_t pkt_build_l3(__u8 *buf, size_t cap, const struct pkt_spec *s);

/* Byte i of the payload pattern: distinct neighbours, deterministic. */
__u8 pkt_pattern(size_t i);

/*
 * Internet checksum (RFC 1071) of len bytes, in host order: store it with
 * htons(). Over data that holds a correct checksum field, the result is 0.
 */
__u16 pkt_csum(const void *data, size_t len);
/* IPv4 header checksum valid (length from ihl). */
bool pkt_ipv4_csum_ok(const void *iph);
/* Recompute an IPv4 header's checksum (length from ihl), e.g. after a test changed a field. */
void pkt_ipv4_csum_set(void *iph);
/*
 * TCP/UDP/ICMP/ICMPv6 checksum of an L3 packet valid. IPv6 extension headers
 * are skipped; false for other protocols, non-first fragments, and lengths
 * the headers claim that len does not hold. A UDP/IPv4 checksum of 0 (none)
 * is valid.
 */
bool pkt_l4_csum_ok(const __u8 *l3, size_t len);

/*
 * Ethernet header length of a frame (14, or 18 with one 802.1Q tag), and its
 * EtherType after the tag in *proto (host order); 0 if the frame is shorter.
 */
size_t pkt_l2_len(const __u8 *frame, size_t len, __u16 *proto);

/* The exact frame the balancer must emit when it IPIP-encapsulates an input frame: */
struct pkt_encap_spec {
	__u8 smac[6];		/* new Ethernet source: the egress interface */
	__u8 dmac[6];		/* new Ethernet destination: the next hop */
	/* Outer source (balancer) and destination (backend): their family is the outer header's. */
	const char *src, *dst;
	__u8 ttl;		/* outer TTL / hop limit, 0 = 64 */
	__u16 gue_sport;	/* GUE: UDP source port, host order */
	__u16 gue_dport;	/* GUE: UDP destination port, host order; 0 = plain IPIP */
	__u32 flow_label;	/* IPv4 inside IPv6: the outer flow label (20 bits) */
};

/*
 * in's Ethernet header (802.1Q tag kept) with e's MACs and the outer
 * EtherType, a new outer IPv4 or IPv6 header of e's addresses' family, with
 * gue_dport a UDP header (checksum 0), then the inner L3 packet up to its own
 * length (Ethernet padding dropped). Outer IPv4: tos copied, id 0, DF copied,
 * protocol 4 (or 17). Outer IPv6 over IPv6: traffic class and flow label
 * copied, next header 41 (or 17). Outer IPv6 over IPv4: traffic class from
 * the tos, e's flow label, next header 4 (or 17). Returns the frame length, 0
 * if in is not a whole IPv4/IPv6 frame, e's addresses differ in family or are
 * IPv4 around IPv6, or out is too small.
 */
size_t pkt_encap(__u8 *out, size_t cap, const __u8 *in, size_t in_len,
		 const struct pkt_encap_spec *e);

/* Lengths and the first differing offsets, to stderr, for test failures. */
void pkt_hexdump_diff(const __u8 *got, size_t got_len, const __u8 *want, size_t want_len);

#endif /* XLB_TESTS_PKT_H */
