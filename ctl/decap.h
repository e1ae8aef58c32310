/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `xlbctl decap attach|detach IFNAME`: the backend side, no daemon. The
 * decap program strips IPIP/IP6IP6 headers addressed to this host. Its link
 * and maps are pinned under a directory named after the network namespace,
 * so that eth0 in one namespace never meets eth0 in another.
 */
#ifndef XLB_DECAP_H
#define XLB_DECAP_H

#include <stddef.h>

#define DECAP_PIN_ROOT "/sys/fs/bpf/xlb-decap"

/*
 * Attach (or re-attach, refreshing the host's address list) to IFNAME.
 * Returns 0 or -errno with a one-line message in err.
 */
int decap_attach(const char *ifname, char *err, size_t errlen);
int decap_detach(const char *ifname, char *err, size_t errlen);

#endif /* XLB_DECAP_H */
