// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The balancer's program with the `xlbctl trace` hooks compiled in
 * (bpf/trace.h says why at compile time). xlbd loads it on the running
 * program's maps and attaches it only while a trace runs.
 */
#define XLB_TRACED 1
#include "xlb.bpf.c"
