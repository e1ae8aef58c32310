/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What xlbd -V, xlbctl -V and the xlb_info metric report. */
#ifndef XLB_VERSION_H
#define XLB_VERSION_H

/* The build may say better (-DXLB_VERSION=...): the Makefile gives the commit. */
#ifndef XLB_VERSION
#define XLB_VERSION "0.1.0"
#endif

#endif /* XLB_VERSION_H */
