/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hashes the data plane and the control plane must compute identically:
 * the flow hash that picks a Maglev slot (the tests and `vip show` predict
 * the data plane's choice with it) and the VIP-address prefilter bit.
 *
 * The mixing steps are Bob Jenkins' lookup3 mix/final (public domain), the
 * same arithmetic as the kernel's jhash; it is a handful of ALU operations
 * per 32-bit word and no memory access, which is what an XDP fast path wants.
 */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include "xlb_abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define XLB_HASH_SEED 0x9e3779b9U	/* 2^32 / golden ratio, lookup3's initval */

static __always_inline __u32 xlb_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

#define XLB_MIX(a, b, c)                                    \
	do {                                                \
		a -= c; a ^= xlb_rol32(c, 4);  c += b;      \
		b -= a; b ^= xlb_rol32(a, 6);  a += c;      \
		c -= b; c ^= xlb_rol32(b, 8);  b += a;      \
		a -= c; a ^= xlb_rol32(c, 16); c += b;      \
		b -= a; b ^= xlb_rol32(a, 19); a += c;      \
		c -= b; c ^= xlb_rol32(b, 4);  b += a;      \
	} while (0)

#define XLB_FINAL(a, b, c)                                  \
	do {                                                \
		c ^= b; c -= xlb_rol32(b, 14);              \
		a ^= c; a -= xlb_rol32(c, 11);              \
		b ^= a; b -= xlb_rol32(a, 25);              \
		c ^= b; c -= xlb_rol32(b, 16);              \
		a ^= c; a -= xlb_rol32(c, 4);               \
		b ^= a; b -= xlb_rol32(a, 14);              \
		c ^= b; c -= xlb_rol32(b, 24);              \
	} while (0)

/*
 * Hash of a flow for the Maglev lookup. src_only hashes the source address
 * alone (`hash src`: every flow of a client lands on the same backend).
 * Words are taken as stored (network order), identically on both sides.
 */
static __always_inline __u32 xlb_flow_hash(const struct xlb_flow *f, int src_only)
{
	__u32 a, b, c;

	a = b = c = XLB_HASH_SEED;
	if (f->family == XLB_AF_INET) {
		a += f->src.v4;
		if (!src_only) {
			b += f->dst.v4;
			c += ((__u32)f->sport << 16 | f->dport) ^ f->proto;
		}
		XLB_FINAL(a, b, c);
		return c;
	}
	a += f->src.w[0];
	b += f->src.w[1];
	c += f->src.w[2];
	XLB_MIX(a, b, c);
	a += f->src.w[3];
	if (!src_only) {
		b += f->dst.w[0];
		c += f->dst.w[1];
		XLB_MIX(a, b, c);
		a += f->dst.w[2];
		b += f->dst.w[3];
		c += ((__u32)f->sport << 16 | f->dport) ^ f->proto;
	}
	XLB_FINAL(a, b, c);
	return c;
}

/*
 * Hash of a flow for the connection table and NAT's per-CPU cache: what an
 * established packet computes. Each address folds to one word first, so an
 * IPv6 flow costs the one final round IPv4's does (measured: the Maglev
 * hash's two extra mixing rounds were 16-21 ns of an IPv6 established
 * packet). For IPv4 the folds are the address (w[1..3] are zero) and the
 * result is xlb_flow_hash(f, 0) bit for bit, so an IPv4 flow's set and ring
 * slot still come from one computation. The Maglev hash itself stays the
 * full one: a ring slot must not move between builds, or an IPv6 flow that
 * ECMP hands from an upgraded node to an older one would change backend.
 * Folding makes colliding IPv6 tuples easy to write; the seed is public
 * anyway, and a collision costs a set's ways, never a wrong match (the
 * whole key is compared).
 */
static __always_inline __u32 xlb_conn_hash(const struct xlb_flow *f)
{
	__u32 a, b, c;

	a = b = c = XLB_HASH_SEED;
	a += f->src.w[0] ^ f->src.w[1] ^ f->src.w[2] ^ f->src.w[3];
	b += f->dst.w[0] ^ f->dst.w[1] ^ f->dst.w[2] ^ f->dst.w[3];
	c += ((__u32)f->sport << 16 | f->dport) ^ f->proto;
	XLB_FINAL(a, b, c);
	return c;
}

/*
 * A flow's place in the connection table (struct xlb_conn_set): its set,
 * `sets` a power of two, and the tag that marks its way in the set's first
 * line, both from hash = xlb_conn_hash(). For IPv4 that is also the Maglev
 * hash, so a new flow's set and ring slot come from one computation (h mod
 * 2^k and h mod a prime, independent). A tag is never 0, which marks an
 * empty way.
 */
static __always_inline __u32 xlb_conn_set_of(__u32 hash, __u32 sets)
{
	return hash & (sets - 1);
}

static __always_inline __u32 xlb_conn_tag(__u32 hash)
{
	return hash | 0x80000000U;
}

/*
 * A set's word in conn_hints (bpf/conns.h, conn_may_hold()): bits 0-47 a
 * filter of the tags its ways hold (a bit per tag, from the tag's bits
 * 24-30, which the set's index does not use up to 2^24 sets), bit 48 set
 * once the word has been computed from the set (0, a fresh map's value:
 * nothing known, read the set), bits 56-63 a count of the word's updates,
 * so that a recomputation racing with a bind sees the word change.
 */
#define XLB_HINT_VALID		(1ULL << 48)
#define XLB_HINT_COUNT		(1ULL << 56)

static __always_inline __u64 xlb_conn_hint_bit(__u32 tag)
{
	/* 128 tag values onto 48 bits by a multiply and a shift: no divide. */
	return 1ULL << (((tag >> 24) & 0x7f) * 3 >> 3);
}

/* The vip_cache slot of a VIP key: a fold and a Fibonacci multiply. */
static __always_inline __u32 xlb_vip_cache_slot(const struct xlb_vip_key *k)
{
	__u32 h = k->addr.w[0] ^ k->addr.w[1] ^ k->addr.w[2] ^ k->addr.w[3] ^
		  ((__u32)k->port << 16 | (__u32)k->proto << 8 | k->family);

	return (h * 0x9e3779b1U) >> 24;
}
_Static_assert(XLB_VIP_CACHE_SLOTS == 1 << 8, "xlb_vip_cache_slot() shift");

/*
 * Bit of struct xlb_filter for a 32-bit fold of an address. Fibonacci
 * hashing: the top bits of h * 2^32/phi are well spread.
 */
static __always_inline __u32 xlb_filter_bit_word(__u32 h)
{
	return (h * 0x9e3779b1U) >> (32 - 15);
}

/* IPv4 folds to its one word (w[1..3] are zero). */
static __always_inline __u32 xlb_filter_bit(const struct xlb_addr *addr)
{
	return xlb_filter_bit_word(addr->w[0] ^ addr->w[1] ^ addr->w[2] ^ addr->w[3]);
}
_Static_assert(XLB_FILTER_BITS == 1 << 15, "xlb_filter_bit() shift");

/*
 * Hash of a flow for the outer header of an encapsulation: GUE's UDP source
 * port (the top 15 bits) and, for IPv4 inside IPv6, the flow label (top 20).
 * It only has to spread flows over receive queues and paths, and it runs for
 * every packet, so it is one fold and one multiply (Fibonacci hashing, as
 * above) rather than xlb_flow_hash()'s mixing rounds, which cost more than
 * the 10 ns this encapsulation may add. IPv4 needs no special case: w[1..3]
 * are zero.
 */
static __always_inline __u32 xlb_encap_hash(const struct xlb_flow *f)
{
	__u32 h = f->src.w[0] ^ f->src.w[1] ^ f->src.w[2] ^ f->src.w[3] ^ f->dst.w[0] ^
		  f->dst.w[1] ^ f->dst.w[2] ^ f->dst.w[3];

	/* The ports last, so that one client's connections differ in all bits. */
	return (h ^ ((__u32)f->sport << 16 | f->dport) ^ f->proto) * 0x9e3779b1U;
}

#endif /* XLB_HASH_H */
