/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pin paths on the BPF filesystem, from wherever the process runs. `ip netns
 * exec` starts its command in a mount namespace of its own with a new sysfs
 * on /sys, so there /sys/fs/bpf is an empty sysfs directory: the host's
 * pins are out of sight, and mounting a BPF filesystem there would make a
 * new, empty instance that shares nothing with the host's.
 */
#ifndef XLB_BPFFS_H
#define XLB_BPFFS_H

#include <stddef.h>

/*
 * A path by which this process reaches path on the BPF filesystem that its
 * caller means: path itself when it is on a BPF filesystem here, else the
 * same path in the mount namespace of the nearest parent process that has
 * one there (the shell that ran `ip netns exec`), as /proc/self/fd/N/...
 * The returned path stays valid for the life of the process, also after
 * that parent exits. 0, or -errno with a one-line message in err that names
 * the cause and the fix.
 */
int bpffs_path(const char *path, char *out, size_t len, char *err, size_t errlen);

#endif /* XLB_BPFFS_H */
