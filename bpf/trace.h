/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `xlbctl trace` in the data plane (include/xlb_trace.h has the contract).
 *
 * Hooks: trace_enter() at the program's start, trace_exit() around its
 * verdict, trace_outcome() where an outcome is counted (outcome_count(),
 * count_note()), trace_vip()/trace_backend() in the per-VIP and
 * per-backend counters (stats.h). Each tests XLB_TRACED, a
 * compile-time constant: xlb.bpf.c (the program that runs) is built with it
 * 0, so the hooks are not there at all; xlb_trace.bpf.c is the same source
 * with it 1, which xlbd loads on the running program's maps and swaps onto
 * every link only while a trace runs (ctl/dataplane.c dp_trace_begin()).
 *
 * Why not a runtime switch (a .bss flag, or a `const volatile` the loader
 * sets): the cost of the hooks was never the load and branch but the code
 * layout. With a .bss flag and the traced work in __noinline subprograms,
 * a packet still paid +1 to +12 ns established and +1.5 to +6.5 ns not for
 * a VIP against a build without the hooks (xlb-bench --only packets --old),
 * from how clang lays out and allocates registers for the untraced path
 * around the calls. A rodata constant is dead-code eliminated by the
 * verifier only after clang has laid the code out, so it would keep that
 * layout; only the preprocessor-level constant gives clang the hook-free
 * program.
 *
 * In the traced build the filter is written before the program is attached,
 * so no switch is needed: every packet the traced program sees is checked
 * against a complete filter. Only a packet that passed it pays more.
 */
#ifndef XLB_TRACED
#define XLB_TRACED 0
#endif

/* The program's name: the traced build's must differ, for bpftool and status. */
#if XLB_TRACED
#define XLB_LB_PROG xlb_lb_traced
#else
#define XLB_LB_PROG xlb_lb
#endif

#ifndef XLB_BPF_TRACE_H
#define XLB_BPF_TRACE_H

#include "maps.h"
#include "parse.h"
#include "xlb_trace.h"

/* Read only while a trace runs, so a map lookup is no cost when off. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_trace_filter);
} trace_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLB_TRACE_RING_BYTES);
} trace_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_trace_state);
} trace_state SEC(".maps");

static __always_inline struct xlb_trace_state *trace_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&trace_state, &zero);
}

static __always_inline struct xlb_trace_filter *trace_filter_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&trace_filter, &zero);
}

/*
 * The packet's first bytes into dst (XLB_TRACE_SNAP of room). The barrier
 * keeps the compiler from passing the unclamped copy of len to the helper,
 * which the verifier would refuse.
 */
static __always_inline int trace_copy(struct xdp_md *ctx, __u8 *dst, __u32 len)
{
	__u64 n = len;

	if (n > XLB_TRACE_SNAP)
		n = XLB_TRACE_SNAP;
	asm volatile("" : "+r"(n));
	if (n < 1 || n > XLB_TRACE_SNAP)
		return -1;
	return bpf_xdp_load_bytes(ctx, 0, dst, n);
}

/* Whether addr's first len bits equal the filter's (len < 128 as the filter says). */
static __always_inline int trace_prefix(const __u8 *a, const __u8 *p, __u32 len)
{
	__u32 i;

	for (i = 0; i < 16; i++) {
		if (len >= 8 * (i + 1)) {
			if (a[i] != p[i])
				return 0;
		} else if (len > 8 * i) {
			__u8 mask = 0xff << (8 - (len - 8 * i));

			return ((a[i] ^ p[i]) & mask) == 0;
		} else {
			return 1;
		}
	}
	return 1;
}

/*
 * The filter on the snapshot: Ethernet (one VLAN tag), the IP header's
 * addresses and protocol, and the ports when TCP/UDP follows the fixed
 * header directly (else a port filter does not match).
 */
static __always_inline int trace_match(const struct xlb_trace_filter *f, const __u8 *pkt,
				       __u32 len)
{
	__u32 off = ETH_HLEN, l4 = 0;
	struct xlb_addr src = {}, dst = {};
	__u16 proto, sport = 0, dport = 0;
	__u8 family, l4proto;

	if (len < ETH_HLEN + 4)
		return 0;
	proto = pkt[12] << 8 | pkt[13];
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		proto = pkt[16] << 8 | pkt[17];
		off += 4;
	}
	if (proto == ETH_P_IP && off + 20 <= len && off + 20 <= XLB_TRACE_SNAP) {
		family = XLB_AF_INET;
		l4proto = pkt[off + 9];
		__builtin_memcpy(&src.v4, pkt + off + 12, 4);
		__builtin_memcpy(&dst.v4, pkt + off + 16, 4);
		if (!(pkt[off + 6] & 0x3f) && !pkt[off + 7]) /* not a fragment */
			l4 = off + (pkt[off] & 0xf) * 4;
	} else if (proto == ETH_P_IPV6 && off + 40 <= len && off + 40 <= XLB_TRACE_SNAP) {
		family = XLB_AF_INET6;
		l4proto = pkt[off + 6];
		__builtin_memcpy(&src, pkt + off + 8, 16);
		__builtin_memcpy(&dst, pkt + off + 24, 16);
		l4 = off + 40;
	} else {
		return 0;
	}
	if (l4 && (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP) && l4 + 4 <= len &&
	    l4 + 4 <= XLB_TRACE_SNAP) {
		sport = pkt[l4] << 8 | pkt[l4 + 1];
		dport = pkt[l4 + 2] << 8 | pkt[l4 + 3];
	}
	if (f->family && f->family != family)
		return 0;
	if (f->src_len && !trace_prefix(src.b, f->src.b, f->src_len))
		return 0;
	if (f->has_dst) {
		if (dst.w[0] != f->dst.w[0] || dst.w[1] != f->dst.w[1] ||
		    dst.w[2] != f->dst.w[2] || dst.w[3] != f->dst.w[3] || l4proto != f->proto)
			return 0;
		if (f->dport && bpf_htons(dport) != f->dport)
			return 0;
	}
	if (f->port && bpf_htons(sport) != f->port && bpf_htons(dport) != f->port)
		return 0;
	return 1;
}

static __noinline int trace_begin(struct xdp_md *ctx)
{
	struct xlb_trace_filter *f;
	struct xlb_trace_state *st;
	__u32 len;

	st = trace_get();
	f = trace_filter_get();
	if (!st || !f)
		return 0;
	st->active = 0;
	len = frame_len(ctx);
	if (len < ETH_HLEN || trace_copy(ctx, st->ev.rx, len))
		return 0;
	if (!trace_match(f, st->ev.rx, len))
		return 0;
	st->active = 1;
	st->ev.ts_ns = bpf_ktime_get_ns();
	st->ev.ifindex = ctx->ingress_ifindex;
	st->ev.rx_queue = ctx->rx_queue_index;
	st->ev.rx_len = frame_len(ctx);
	st->ev.outcome = XLB_TRACE_NO_OUTCOME;
	st->ev.flags = 0;
	st->ev.vip_id = 0;
	st->ev.backend_id = 0;
	return 1;
}

/* At the program's start: 1 when this packet is traced. */
static __always_inline int trace_enter(struct xdp_md *ctx)
{
	if (!XLB_TRACED)
		return 0;
	return trace_begin(ctx);
}

/* The state of the packet being traced, NULL when it is not (or no trace runs). */
static __always_inline struct xlb_trace_state *trace_active(void)
{
	struct xlb_trace_state *st;

	st = trace_get();
	return st && st->active ? st : NULL;
}

/* The outcome counter's index (stats.h); the icmp_* ones are notes beside it. */
static __noinline void trace_note_outcome(__u32 idx)
{
	struct xlb_trace_state *st = trace_active();

	if (!st)
		return;
	if (idx == __builtin_offsetof(struct xlb_outcomes, icmp_echo) / 8)
		st->ev.flags |= XLB_TRACE_ICMP_ECHO;
	else if (idx == __builtin_offsetof(struct xlb_outcomes, icmp_too_big) / 8)
		st->ev.flags |= XLB_TRACE_ICMP_STEERED;
	else
		st->ev.outcome = idx;
}

static __always_inline void trace_outcome(__u32 idx)
{
	if (XLB_TRACED)
		trace_note_outcome(idx);
}

static __noinline void trace_note_vip(__u32 vip_id, __u32 flags)
{
	struct xlb_trace_state *st = trace_active();

	if (!st)
		return;
	st->ev.vip_id = vip_id;
	st->ev.flags |= XLB_TRACE_VIP | flags;
}

static __always_inline void trace_vip(__u32 vip_id, __u32 flags)
{
	if (XLB_TRACED)
		trace_note_vip(vip_id, flags);
}

static __noinline void trace_note_backend(__u32 id)
{
	struct xlb_trace_state *st = trace_active();

	if (!st)
		return;
	st->ev.backend_id = id;
	st->ev.flags |= XLB_TRACE_BACKEND;
}

static __always_inline void trace_backend(__u32 id)
{
	if (XLB_TRACED)
		trace_note_backend(id);
}

/* At the end: send the event (within the budget) and pass the verdict on. */
static __noinline int trace_end(struct xdp_md *ctx, int verdict)
{
	struct xlb_trace_filter *f;
	struct xlb_trace_state *st;
	__u64 now;
	__u32 len;

	st = trace_get();
	f = trace_filter_get();
	if (!st || !f || !st->active)
		return verdict;
	st->active = 0;
	now = bpf_ktime_get_ns();
	if (now - st->window_ns >= 1000000000ULL) {
		st->window_ns = now;
		st->window_events = 0;
	}
	if (st->window_events >= f->budget) {
		st->lost.budget++;
		return verdict;
	}
	st->window_events++;
	st->ev.verdict = verdict;
	st->ev.tx_len = 0;
	if (verdict == XDP_TX || verdict == XDP_REDIRECT) {
		len = frame_len(ctx);
		st->ev.tx_len = len;
		if (trace_copy(ctx, st->ev.tx, len))
			st->ev.tx_len = 0;
	}
	if (bpf_ringbuf_output(&trace_events, &st->ev, sizeof(st->ev), 0))
		st->lost.full++;
	return verdict;
}

static __always_inline int trace_exit(struct xdp_md *ctx, int traced, int verdict)
{
	return traced ? trace_end(ctx, verdict) : verdict;
}

#endif /* XLB_BPF_TRACE_H */
