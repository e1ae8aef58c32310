/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's side of `xlbctl trace`: sets the data plane's filter, swaps the
 * build with the trace hooks onto the interfaces (dp_trace_begin(); the
 * program that runs otherwise has none, bpf/trace.h), reads its ring buffer
 * on every turn of the loop and streams one line per event to the xlbctl
 * that asked, until count, timeout, or the client leaves; then swaps the
 * untraced program back and ends with a summary. Starting loads a second
 * program: the loop waits for the verifier (xlbd's log says how long).
 *
 * The stream: text or JSON lines as the request asked, and lines that start
 * with TRACER_MARK for xlbctl itself, never printed: "\x01S EVENTS LOST_BUDGET
 * LOST_FULL LOST_CLIENT" (a summary, every second and at the end) and, with
 * pcap, "\x01P rx|tx EPOCH_NS ORIG_LEN HEX" per packet.
 *
 * One trace at a time: a second is refused, naming the reason.
 */
#ifndef XLB_TRACER_H
#define XLB_TRACER_H

#include <stdbool.h>

#define TRACER_MARK		'\x01'
#define TRACER_BUDGET		1000	/* events per second per CPU */
#define TRACER_POLL_MS		50	/* loop wake-up while a trace runs */

struct cmd;
struct daemon;
struct out;
struct server_call;

/* Start a trace; SERVER_HELD, or an exit status when refused. */
int tracer_start(struct daemon *d, struct server_call *call, const struct cmd *cmd,
		 struct out *o);
/* Read events, end the trace at its count or timeout; every turn of the loop. */
void tracer_tick(struct daemon *d);
bool tracer_running(const struct daemon *d);
/* End the trace under way, if any (xlbd exiting). */
void tracer_stop(struct daemon *d);

#endif /* XLB_TRACER_H */
