/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What `attach` changes on an interface besides the XDP program, and how
 * `detach` puts it back. The balancer needs, per interface:
 *   net.ipv4.conf.IF.forwarding = 1       bpf_fib_lookup() answers only there
 *   net.ipv4.conf.IF.accept_local = 1     the kernel forwards our encapsulated
 *                                         packets while a neighbour resolves
 *   net.ipv6.conf.IF.forwarding = 1
 *   net.ipv6.conf.IF.force_forwarding = 1 (Linux 6.17+, where it exists)
 * Each value changed is recorded with the one before in a file beside the
 * state file (STATE_FILE.sysctl), so that a detach after a restart of xlbd
 * still restores it.
 */
#ifndef XLB_IFACE_H
#define XLB_IFACE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Set the values above on ifname, recording in the file `saved` the old
 * value of each one changed (a value recorded already keeps its first old
 * value). Failures are logged: the program still works in part. 0 or the
 * -errno of writing the record.
 */
int iface_prepare(const char *ifname, const char *saved);

/*
 * One more value to set and record the same way, for a feature that needs
 * it on an attached interface (fmt: "ipv4/conf/%s/rp_filter"); detach
 * restores it with the others. 0 or -errno of writing the record.
 */
int iface_set(const char *ifname, const char *saved, const char *fmt, const char *val);

/* Put back every value recorded for ifname and drop its records. 0 or -errno. */
int iface_restore(const char *ifname, const char *saved);

/*
 * Restore the interfaces recorded in `saved` that attached() says are not
 * attached (xlbd stopped between a detach and its restore).
 */
void iface_restore_others(const char *saved, bool (*attached)(const char *ifname, void *ctx),
			  void *ctx);

#endif /* XLB_IFACE_H */
