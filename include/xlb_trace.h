/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `xlbctl trace`: what the balancer program tells the daemon about each
 * packet while a trace runs (bpf/trace.h writes, ctl/trace.c reads).
 *
 * Off, tracing costs the program a few loads of one global flag per packet.
 * On, a packet that passes the filter is snapshotted as received, and at the
 * end of the program one event with what was decided and the packet as sent
 * goes to the trace_events ring buffer, within a per-CPU budget of events
 * per second; what does not fit is counted, never waited for.
 */
#ifndef XLB_TRACE_H
#define XLB_TRACE_H

#include "xlb_abi.h"

#define XLB_TRACE_SNAP		128	/* bytes kept of each packet, as received and as sent */
#define XLB_TRACE_RING_BYTES	(512 * 1024)	/* trace_events ring buffer */

/* trace_filter: one entry, the daemon's settings, written before the switch goes on. */
struct xlb_trace_filter {
	struct xlb_addr src;	/* from ADDR/LEN: sources within it */
	struct xlb_addr dst;	/* SERVICE: its address */
	__u8 src_len;		/* 0: any source */
	__u8 family;		/* XLB_AF_*: 0 any */
	__u8 proto;		/* SERVICE: its protocol; 0 any */
	__u8 has_dst;		/* match dst (and dport when not 0) */
	__be16 dport;		/* SERVICE: its port (0: all ports) */
	__be16 port;		/* port N: source or destination; 0 any */
	__u32 budget;		/* events per second per CPU */
};

/* struct xlb_trace_event.flags */
#define XLB_TRACE_NEW_FLOW	(1U << 0)	/* the flow was bound here: counted in new_flows */
#define XLB_TRACE_RATELIMITED	(1U << 1)	/* over the source's rate limit */
#define XLB_TRACE_VIP		(1U << 2)	/* vip_id is set */
#define XLB_TRACE_BACKEND	(1U << 3)	/* backend_id is set */
#define XLB_TRACE_ICMP_ECHO	(1U << 4)	/* echo answered */
#define XLB_TRACE_ICMP_STEERED	(1U << 5)	/* too-big error steered to the flow's backend */
#define XLB_TRACE_RING		(1U << 6)	/* the ring chose, bound or not (a bare SYN is not) */

#define XLB_TRACE_NO_OUTCOME	0xffffffffU

struct xlb_trace_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns() at the program's start */
	__u32 ifindex;
	__u32 rx_queue;
	__u32 verdict;		/* XDP_* */
	__u32 outcome;		/* index of the __u64 field of struct xlb_outcomes */
	__u32 vip_id;
	__u32 backend_id;
	__u32 flags;		/* XLB_TRACE_* */
	__u16 rx_len;		/* whole packet as received */
	__u16 tx_len;		/* as it left (TX/REDIRECT), 0 otherwise */
	__u8 rx[XLB_TRACE_SNAP];	/* first bytes, min(rx_len, SNAP) valid */
	__u8 tx[XLB_TRACE_SNAP];
};
_Static_assert(sizeof(struct xlb_trace_event) == 8 + 6 * 4 + 4 + 4 + 2 * XLB_TRACE_SNAP,
	       "xlb_trace_event");

/* trace_state: per CPU, the packet being traced and the budget. */
struct xlb_trace_lost {
	__u64 budget;		/* events not sent: over the budget (cumulative) */
	__u64 full;		/* events not sent: ring buffer full (cumulative) */
};

struct xlb_trace_state {
	struct xlb_trace_lost lost;	/* first: summed over CPUs as plain counters */
	__u64 window_ns;	/* start of the current second */
	__u32 window_events;
	__u32 active;		/* this packet passed the filter */
	struct xlb_trace_event ev;
};

#endif /* XLB_TRACE_H */
