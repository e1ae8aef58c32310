/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet builder for tests and benchmarks; see pkt.h for the contract.
 *
 * Headers are composed in local structs and copied into the buffer, so no
 * field is ever accessed through a misaligned pointer (the IP header sits at
 * offset 14 or 18 of a frame).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "pkt.h"

/* Not in the uapi headers: the kernel keeps these in its private ones. */
struct pkt_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct pkt_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M */
	__be32 identification;
};

int pkt_addr(struct xlb_addr *a, __u8 *family, const char *str)
{
	memset(a, 0, sizeof(*a));
	if (!str)
		return -EINVAL;
	if (inet_pton(AF_INET, str, &a->v4) == 1) {
		*family = XLB_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, str, a->b) == 1) {
		*family = XLB_AF_INET6;
		return 0;
	}
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

static size_t addr_len(__u8 family)
{
	return family == XLB_AF_INET ? 4 : 16;
}

/* Both addresses parse and are of the given family. */
static bool addr_pair(struct xlb_addr *src, struct xlb_addr *dst, __u8 family, const char *s,
		      const char *d)
{
	__u8 sf, df;

	return !pkt_addr(src, &sf, s) && !pkt_addr(dst, &df, d) && sf == family && df == family;
}

/* Ones' complement sum of big-endian 16-bit words; an odd tail is padded with zero. */
static __u64 csum_add(__u64 sum, const void *data, size_t len)
{
	const __u8 *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	return sum;
}

static __u16 csum_fold(__u64 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

__u16 pkt_csum(const void *data, size_t len)
{
	return csum_fold(csum_add(0, data, len));
}

/* RFC 793 / RFC 8200 8.1 pseudo-header; the two forms sum the same way. */
static __u64 pseudo_sum(const void *src, const void *dst, size_t alen, __u8 proto, __u32 len)
{
	__u64 sum = csum_add(0, src, alen);

	sum = csum_add(sum, dst, alen);
	return sum + proto + (len >> 16) + (len & 0xffff);
}

static __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static void wr16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

struct xlb_flow pkt_flow(const struct pkt_spec *s)
{
	struct xlb_flow f = { 0 };
	__u8 family;

	pkt_addr(&f.src, &family, s->src);
	pkt_addr(&f.dst, &f.family, s->dst);
	f.sport = htons(s->sport);
	f.dport = htons(s->dport);
	f.proto = s->proto;
	return f;
}

struct pkt_spec pkt_flow_spec(__u8 proto, const char *src, __u16 sport, const char *dst,
			      __u16 dport, const void *smac, const void *dmac)
{
	struct pkt_spec s = {
		.family = strchr(src, ':') ? XLB_AF_INET6 : XLB_AF_INET,
		.src = src,
		.dst = dst,
		.proto = proto,
		.sport = sport,
		.dport = dport,
	};

	memcpy(s.smac, smac, sizeof(s.smac));
	memcpy(s.dmac, dmac, sizeof(s.dmac));
	return s;
}

__u8 pkt_pattern(size_t i)
{
	return 'a' + i % 26;
}

size_t pkt_l2_len(const __u8 *frame, size_t len, __u16 *proto)
{
	size_t l2 = PKT_ETH_LEN;

	if (len < l2)
		return 0;
	*proto = rd16(frame + offsetof(struct ethhdr, h_proto));
	if (*proto == ETH_P_8021Q) {
		l2 += PKT_VLAN_LEN;
		if (len < l2)
			return 0;
		*proto = rd16(frame + l2 - 2);
	}
	return l2;
}

static void put_ipv4(__u8 *p, __u8 tos, __u16 tot_len, __u16 id, __u16 frag, __u8 ttl,
		     __u8 proto, const struct xlb_addr *src, const struct xlb_addr *dst,
		     __u8 opt_len)
{
	struct iphdr iph = {
		.version = 4,
		.ihl = (PKT_IPV4_LEN + opt_len) / 4,
		.tos = tos,
		.tot_len = htons(tot_len),
		.id = htons(id),
		.frag_off = htons(frag),
		.ttl = ttl ? ttl : 64,
		.protocol = proto,
		.saddr = src->v4,
		.daddr = dst->v4,
	};

	memcpy(p, &iph, sizeof(iph));
	if (opt_len) {
		memset(p + PKT_IPV4_LEN, IPOPT_NOOP, opt_len - 1);
		p[PKT_IPV4_LEN + opt_len - 1] = IPOPT_END;
	}
	iph.check = htons(pkt_csum(p, PKT_IPV4_LEN + opt_len));
	memcpy(p + offsetof(struct iphdr, check), &iph.check, sizeof(iph.check));
}

static void put_ipv6(__u8 *p, __u8 tclass, __u32 flow_label, __u16 payload_len, __u8 nexthdr,
		     __u8 hop_limit, const struct xlb_addr *src, const struct xlb_addr *dst)
{
	__be32 first = htonl(6U << 28 | (__u32)tclass << 20 | flow_label);
	struct ipv6hdr ip6h = {
		.payload_len = htons(payload_len),
		.nexthdr = nexthdr,
		.hop_limit = hop_limit ? hop_limit : 64,
	};

	memcpy(&ip6h.saddr, src->b, 16);
	memcpy(&ip6h.daddr, dst->b, 16);
	memcpy(&ip6h, &first, sizeof(first));
	memcpy(p, &ip6h, sizeof(ip6h));
}

static bool is_icmp(const struct pkt_spec *s)
{
	return (s->family == XLB_AF_INET && s->proto == IPPROTO_ICMP) ||
	       (s->family == XLB_AF_INET6 && s->proto == IPPROTO_ICMPV6);
}

static size_t l4_hdr_len(const struct pkt_spec *s)
{
	if (s->frag & PKT_IP_OFFSET)
		return 0;	/* only the first fragment carries the L4 header */
	if (s->proto == IPPROTO_TCP)
		return PKT_TCP_LEN;
	if (s->proto == IPPROTO_UDP)
		return PKT_UDP_LEN;
	return is_icmp(s) ? PKT_ICMP_LEN : 0;
}

/* ICMP's 4 rest-of-header bytes: echo id/seq, the too-big MTU, else zero. */
static void icmp_rest(const struct pkt_spec *s, __u8 rest[4])
{
	bool v4 = s->family == XLB_AF_INET;
	__be16 w[2] = {0, 0};

	if ((v4 && (s->icmp_type == ICMP_ECHO || s->icmp_type == ICMP_ECHOREPLY)) ||
	    (!v4 && (s->icmp_type == ICMPV6_ECHO_REQUEST || s->icmp_type == ICMPV6_ECHO_REPLY))) {
		w[0] = htons(s->icmp_id);
		w[1] = htons(s->icmp_seq);
	} else if (v4 && s->icmp_type == ICMP_DEST_UNREACH && s->icmp_code == ICMP_FRAG_NEEDED) {
		w[1] = htons((__u16)s->icmp_mtu);
	} else if (!v4 && s->icmp_type == ICMPV6_PKT_TOOBIG) {
		w[0] = htons(s->icmp_mtu >> 16);
		w[1] = htons(s->icmp_mtu & 0xffff);
	}
	memcpy(rest, w, 4);
}

/* L4 header at p (l4_hdr_len(s) bytes, then len - that of body), checksum filled in. */
static void put_l4(__u8 *p, size_t len, const struct pkt_spec *s, const struct xlb_addr *src,
		   const struct xlb_addr *dst)
{
	size_t hlen = l4_hdr_len(s), csum_off;
	__u64 sum = 0;
	__u16 csum;

	if (!hlen)
		return;
	if (s->proto == IPPROTO_TCP) {
		__u8 flags = s->tcp_flags ? s->tcp_flags : PKT_TCP_ACK;
		struct tcphdr th = {
			.source = htons(s->sport),
			.dest = htons(s->dport),
			.seq = htonl(1000),
			.ack_seq = htonl(flags & PKT_TCP_ACK ? 2000 : 0),
			.doff = PKT_TCP_LEN / 4,
			.window = htons(64240),
		};

		memcpy(p, &th, sizeof(th));
		p[13] = flags;	/* the flags byte, whatever the bitfield layout */
		csum_off = offsetof(struct tcphdr, check);
	} else if (s->proto == IPPROTO_UDP) {
		struct udphdr uh = {
			.source = htons(s->sport),
			.dest = htons(s->dport),
			.len = htons(len),
		};

		memcpy(p, &uh, sizeof(uh));
		csum_off = offsetof(struct udphdr, check);
	} else {
		p[0] = s->icmp_type;
		p[1] = s->icmp_code;
		p[2] = p[3] = 0;
		icmp_rest(s, p + 4);
		csum_off = 2;
	}
	/* ICMP for IPv4 is the one protocol here without a pseudo-header. */
	if (s->proto != IPPROTO_ICMP)
		sum = pseudo_sum(src, dst, addr_len(s->family), s->proto, len);
	csum = csum_fold(csum_add(sum, p, len));
	if (s->proto == IPPROTO_UDP && !csum)
		csum = 0xffff;	/* 0 would mean "no checksum" */
	p[csum_off] = csum >> 8;
	p[csum_off + 1] = csum & 0xff;
}

static bool spec_ok(const struct pkt_spec *s)
{
	if (s->family != XLB_AF_INET && s->family != XLB_AF_INET6)
		return false;
	if (s->vlan > 0xfff || (s->inner_len && !s->inner))
		return false;
	if (s->n_ext > PKT_IPV6_EXT_MAX)
		return false;
	for (size_t i = 0; i < s->n_ext; i++)
		if (s->ext[i] != IPPROTO_HOPOPTS && s->ext[i] != IPPROTO_DSTOPTS &&
		    s->ext[i] != IPPROTO_ROUTING)
			return false;
	if (s->family == XLB_AF_INET)
		return s->ipv4_opt_len % 4 == 0 && s->ipv4_opt_len <= 40 && !s->n_ext;
	return !s->ipv4_opt_len && s->flow_label <= 0xfffff;
}

/*
 * The extension headers and Fragment header of s at p; returns the IPv6
 * header's next header (the first of them, or s->proto).
 */
static __u8 put_ipv6_ext(__u8 *p, const struct pkt_spec *s)
{
	__u8 next = s->frag ? IPPROTO_FRAGMENT : s->proto;

	/* Back to front, so that each header names the one after it. */
	p += s->n_ext * PKT_IPV6_EXT_LEN;
	if (s->frag) {
		struct pkt_frag_hdr fh = {
			.nexthdr = s->proto,
			.frag_off = htons((s->frag & PKT_IP_OFFSET) << 3 | !!(s->frag & PKT_IP_MF)),
			.identification = htonl(s->ip_id),
		};

		memcpy(p, &fh, sizeof(fh));
	}
	for (size_t i = s->n_ext; i-- > 0;) {
		p -= PKT_IPV6_EXT_LEN;
		memset(p, 0, PKT_IPV6_EXT_LEN);
		p[0] = next;
		if (s->ext[i] == IPPROTO_ROUTING) {
			p[2] = 253;	/* RFC 4727 experimental type; segments left 0 */
		} else {
			p[2] = 1;	/* PadN over the 4 bytes left */
			p[3] = 4;
		}
		next = s->ext[i];
	}
	return next;
}

size_t pkt_build_l3(__u8 *buf, size_t cap, const struct pkt_spec *s)
{
	size_t l3_hlen, l4_len, total;
	struct xlb_addr src, dst;
	__u8 *l4;
	size_t i;

	if (!spec_ok(s) || !addr_pair(&src, &dst, s->family, s->src, s->dst))
		return 0;
	if (s->family == XLB_AF_INET)
		l3_hlen = PKT_IPV4_LEN + s->ipv4_opt_len;
	else
		l3_hlen = PKT_IPV6_LEN + s->n_ext * PKT_IPV6_EXT_LEN +
			  (s->frag ? PKT_IPV6_FRAG_LEN : 0);
	l4_len = l4_hdr_len(s) + (size_t)s->inner_len + s->payload_len;
	total = l3_hlen + l4_len;
	if (total > cap || total - (s->family == XLB_AF_INET ? 0 : PKT_IPV6_LEN) > 0xffff)
		return 0;

	l4 = buf + l3_hlen;
	if (s->inner_len)
		memcpy(l4 + l4_hdr_len(s), s->inner, s->inner_len);
	for (i = 0; i < s->payload_len; i++)
		l4[l4_hdr_len(s) + s->inner_len + i] = pkt_pattern(i);
	put_l4(l4, l4_len, s, &src, &dst);

	if (s->family == XLB_AF_INET) {
		put_ipv4(buf, s->tos, total, s->ip_id, s->frag, s->ttl, s->proto, &src, &dst,
			 s->ipv4_opt_len);
		return total;
	}
	put_ipv6(buf, s->tos, s->flow_label, total - PKT_IPV6_LEN,
		 put_ipv6_ext(buf + PKT_IPV6_LEN, s), s->ttl, &src, &dst);
	return total;
}

/* Ethernet (+ 802.1Q) header for EtherType proto; returns its length. */
static size_t put_eth(__u8 *p, const __u8 dmac[6], const __u8 smac[6], __u16 vlan, __u16 proto)
{
	struct ethhdr eth;
	struct pkt_vlan_hdr vh = {.tci = htons(vlan), .encap_proto = htons(proto)};

	memcpy(eth.h_dest, dmac, ETH_ALEN);
	memcpy(eth.h_source, smac, ETH_ALEN);
	eth.h_proto = htons(vlan ? ETH_P_8021Q : proto);
	memcpy(p, &eth, sizeof(eth));
	if (!vlan)
		return PKT_ETH_LEN;
	memcpy(p + PKT_ETH_LEN, &vh, sizeof(vh));
	return PKT_ETH_LEN + PKT_VLAN_LEN;
}

size_t pkt_build(__u8 *buf, size_t cap, const struct pkt_spec *s)
{
	size_t l2 = s->vlan ? PKT_ETH_LEN + PKT_VLAN_LEN : PKT_ETH_LEN, l3;

	if (cap < l2)
		return 0;
	l3 = pkt_build_l3(buf + l2, cap - l2, s);
	if (!l3)
		return 0;
	put_eth(buf, s->dmac, s->smac, s->vlan, s->family == XLB_AF_INET ? ETH_P_IP : ETH_P_IPV6);
	return l2 + l3;
}

bool pkt_ipv4_csum_ok(const void *iph)
{
	return pkt_csum(iph, (((const __u8 *)iph)[0] & 0xf) * 4) == 0;
}

void pkt_ipv4_csum_set(void *iph)
{
	__u8 *p = iph;
	__u16 csum;

	p[10] = p[11] = 0;
	csum = pkt_csum(p, (p[0] & 0xf) * 4);
	p[10] = csum >> 8;
	p[11] = csum & 0xff;
}

/* Length of a whole IPv4/IPv6 packet at l3 that len holds, from its header; 0 if none. */
static size_t l3_len(const __u8 *l3, size_t len)
{
	size_t n;

	if (len >= PKT_IPV4_LEN && l3[0] >> 4 == 4) {
		n = rd16(l3 + offsetof(struct iphdr, tot_len));
		return n >= (l3[0] & 0xfu) * 4 && (l3[0] & 0xf) >= 5 && n <= len ? n : 0;
	}
	if (len >= PKT_IPV6_LEN && l3[0] >> 4 == 6) {
		n = PKT_IPV6_LEN + rd16(l3 + offsetof(struct ipv6hdr, payload_len));
		return n <= len ? n : 0;
	}
	return 0;
}

bool pkt_l4_csum_ok(const __u8 *l3, size_t len)
{
	size_t total = l3_len(l3, len), off, alen, ext_len;
	const __u8 *src, *dst;
	__u64 sum = 0;
	__u8 proto;

	if (!total)
		return false;
	if (l3[0] >> 4 == 4) {
		if (rd16(l3 + offsetof(struct iphdr, frag_off)) & PKT_IP_OFFSET)
			return false;
		off = (l3[0] & 0xf) * 4;
		proto = l3[offsetof(struct iphdr, protocol)];
		src = l3 + offsetof(struct iphdr, saddr);
		dst = l3 + offsetof(struct iphdr, daddr);
		alen = 4;
	} else {
		off = PKT_IPV6_LEN;
		proto = l3[offsetof(struct ipv6hdr, nexthdr)];
		/* Every extension header is at least 8 bytes, so this ends. */
		while (proto == IPPROTO_HOPOPTS || proto == IPPROTO_ROUTING ||
		       proto == IPPROTO_DSTOPTS || proto == IPPROTO_FRAGMENT) {
			if (off + 8 > total)
				return false;
			if (proto == IPPROTO_FRAGMENT && rd16(l3 + off + 2) & 0xfff8)
				return false;
			ext_len = proto == IPPROTO_FRAGMENT ? 8 : (l3[off + 1] + 1) * 8u;
			proto = l3[off];
			off += ext_len;
		}
		src = l3 + offsetof(struct ipv6hdr, saddr);
		dst = l3 + offsetof(struct ipv6hdr, daddr);
		alen = 16;
	}
	if (off > total)
		return false;

	switch (proto) {
	case IPPROTO_TCP:
		if (total - off < PKT_TCP_LEN)
			return false;
		break;
	case IPPROTO_UDP:
		if (total - off < PKT_UDP_LEN)
			return false;
		if (alen == 4 && !rd16(l3 + off + offsetof(struct udphdr, check)))
			return true;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (total - off < PKT_ICMP_LEN || (proto == IPPROTO_ICMP) != (alen == 4))
			return false;
		break;
	default:
		return false;
	}
	if (proto != IPPROTO_ICMP)
		sum = pseudo_sum(src, dst, alen, proto, total - off);
	return csum_fold(csum_add(sum, l3 + off, total - off)) == 0;
}

size_t pkt_encap(__u8 *out, size_t cap, const __u8 *in, size_t in_len,
		 const struct pkt_encap_spec *e)
{
	size_t l2, inner_len, outer_len, udp_len, total;
	__u8 family, outer_family, sf, df, nexthdr;
	struct xlb_addr src, dst;
	const __u8 *l3;
	__u16 proto;

	l2 = pkt_l2_len(in, in_len, &proto);
	if (!l2)
		return 0;
	l3 = in + l2;
	inner_len = l3_len(l3, in_len - l2);
	if (!inner_len)
		return 0;
	if (proto == ETH_P_IP && l3[0] >> 4 == 4)
		family = XLB_AF_INET;
	else if (proto == ETH_P_IPV6 && l3[0] >> 4 == 6)
		family = XLB_AF_INET6;
	else
		return 0;
	/* The outer family is the addresses'; IPv4 may go inside IPv6, not the reverse. */
	if (pkt_addr(&src, &sf, e->src) || pkt_addr(&dst, &df, e->dst) || sf != df ||
	    (sf != family && family != XLB_AF_INET))
		return 0;
	outer_family = sf;
	outer_len = outer_family == XLB_AF_INET ? PKT_IPV4_LEN : PKT_IPV6_LEN;
	udp_len = e->gue_dport ? PKT_UDP_LEN : 0;
	/* IPv4's tot_len counts the outer header, IPv6's payload_len does not. */
	total = l2 + outer_len + udp_len + inner_len;
	if (total > cap ||
	    inner_len + udp_len + (outer_family == XLB_AF_INET ? outer_len : 0) > 0xffff)
		return 0;

	memcpy(out, in, l2);
	memcpy(out, e->dmac, ETH_ALEN);
	memcpy(out + ETH_ALEN, e->smac, ETH_ALEN);
	/* The EtherType (after any tag) is the outer header's. */
	wr16(out + l2 - 2, outer_family == XLB_AF_INET ? ETH_P_IP : ETH_P_IPV6);
	nexthdr = udp_len ? IPPROTO_UDP : family == XLB_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6;
	if (outer_family == XLB_AF_INET) {
		__u16 df_bit = rd16(l3 + offsetof(struct iphdr, frag_off)) & PKT_IP_DF;

		put_ipv4(out + l2, l3[offsetof(struct iphdr, tos)],
			 outer_len + udp_len + inner_len, 0, df_bit, e->ttl, nexthdr, &src, &dst,
			 0);
	} else if (family == XLB_AF_INET) {
		put_ipv6(out + l2, l3[offsetof(struct iphdr, tos)], e->flow_label,
			 udp_len + inner_len, nexthdr, e->ttl, &src, &dst);
	} else {
		__u32 first = (__u32)rd16(l3) << 16 | rd16(l3 + 2);

		put_ipv6(out + l2, first >> 20 & 0xff, first & 0xfffff, udp_len + inner_len,
			 nexthdr, e->ttl, &src, &dst);
	}
	if (udp_len) {
		__u8 *udp = out + l2 + outer_len;

		wr16(udp, e->gue_sport);
		wr16(udp + 2, e->gue_dport);
		wr16(udp + 4, udp_len + inner_len);
		wr16(udp + 6, 0);	/* none: the balancer's rule for both families */
	}
	memcpy(out + l2 + outer_len + udp_len, l3, inner_len);
	return total;
}

#define DIFF_MAX 16

/* "xx", or "--" past the end. */
static const char *hex_byte(const __u8 *p, size_t len, size_t i, char buf[3])
{
	if (i >= len)
		return "--";
	snprintf(buf, 3, "%02x", p[i]);
	return buf;
}

static void dump_row(const char *name, const __u8 *p, size_t len, size_t row)
{
	size_t i;

	fprintf(stderr, "  %-4s %04zx:", name, row);
	for (i = row; i < row + 16 && i < len; i++)
		fprintf(stderr, " %02x", p[i]);
	fputc('\n', stderr);
}

void pkt_hexdump_diff(const __u8 *got, size_t got_len, const __u8 *want, size_t want_len)
{
	size_t max = got_len > want_len ? got_len : want_len;
	size_t i, first = max, shown = 0, more = 0, row;
	char g[3], w[3];

	fprintf(stderr, "packet: got %zu bytes, want %zu\n", got_len, want_len);
	for (i = 0; i < max; i++) {
		if (i < got_len && i < want_len && got[i] == want[i])
			continue;
		if (first == max)
			first = i;
		if (shown++ >= DIFF_MAX) {
			more++;
			continue;
		}
		fprintf(stderr, "  offset %4zu (0x%04zx): got %s want %s\n", i, i,
			hex_byte(got, got_len, i, g), hex_byte(want, want_len, i, w));
	}
	if (first == max) {
		fprintf(stderr, "  identical\n");
		return;
	}
	if (more)
		fprintf(stderr, "  (+%zu more differing bytes)\n", more);
	/* The rows around the first difference, side by side. */
	for (row = first / 16 * 16 - (first >= 16 ? 16 : 0); row < max && row <= first + 32;
	     row += 16) {
		dump_row("got", got, got_len, row);
		dump_row("want", want, want_len, row);
	}
}
