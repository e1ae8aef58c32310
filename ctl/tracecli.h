/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbctl's side of `trace`: reads xlbd's stream (tracer.h) as it comes, prints the event lines,
 * writes the packet lines to a pcap file, and ends with the summary: on EOF, or on Ctrl-C
 * (SIGINT/SIGTERM), when closing the connection is what tells xlbd to stop tracing.
 */
#ifndef XLB_TRACECLI_H
#define XLB_TRACECLI_H

#include <stdbool.h>

/*
 * fd: connected, the request sent. pcap: a file to write, or NULL. Returns the exit status;
 * errors are printed.
 */
int tracecli_run(int fd, bool json, const char *pcap);

#endif /* XLB_TRACECLI_H */
