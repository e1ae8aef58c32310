// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * How a process inside `ip netns exec` reaches the host's BPF filesystem.
 *
 * /proc/PID/root is a magic link to PID's root directory in PID's mount
 * namespace: a path walked on from there crosses that namespace's mounts,
 * whatever namespace the walker is in. The shell that ran `ip netns exec`
 * is in the mount namespace the command was copied from, with bpffs still
 * on /sys/fs/bpf, so its /proc/PID/root/sys/fs/bpf is the very instance
 * that processes entered with `nsenter --net` see. An O_PATH descriptor of
 * that root keeps the way open after the shell exits (xlbd daemonizes, a
 * test script ends), and /proc/self/fd/N/... names it for the bpf(2) pin
 * and get calls and for libbpf, which check and walk plain paths.
 *
 * Why the nearest parent and not pid 1 (/proc/1/root, or setns() into
 * /proc/1/ns/mnt):
 * - pid 1 may be unreadable even to root: an init that is not dumpable
 *   (firecracker's, on the machines this is tested on) makes both links
 *   EACCES. setns() into a mount namespace also needs a single-threaded
 *   process and moves its root and working directory.
 * - In a chroot, pid 1's root is the host's root, outside the chroot: the
 *   same path may be another BPF filesystem there, or none. A parent that
 *   ran inside the chroot has the chroot's root, so the path means what it
 *   means to every other process of the chroot (.ci/run binds the host's
 *   /sys, bpffs included, so both are one instance there anyway).
 * - A test harness that mounted a BPF filesystem of its own in a private
 *   mount namespace is a nearer parent than pid 1: its instance is found.
 * pid 1 is still tried, as the last parent, where nothing nearer has one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "bpffs.h"

/* Parents looked at, nearest first: deeper process trees are not a shell's. */
#define BPFFS_MAX_PARENTS 32

/*
 * The root of the parent whose mount namespace has the BPF filesystem, or
 * -1. Process-wide like the mount namespace it stands for (a daemon's whole
 * life, a one-shot xlbctl), so one descriptor, found once, serves every path.
 */
static int parent_root = -1;

/* f_type of the file system of path's deepest existing directory. */
static int fs_type(const char *path, long *type)
{
	char buf[PATH_MAX], *p;
	struct statfs fs;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	while (statfs(buf, &fs)) {
		p = strrchr(buf, '/');
		if (errno != ENOENT || !p || p == buf)
			return -errno;
		*p = '\0';
	}
	*type = fs.f_type;
	return 0;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* "pid (comm) state ppid ...": comm may hold ')' and spaces. */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* The root of the nearest parent that sees a BPF filesystem at path, or -1. */
static int find_parent_root(const char *path)
{
	char root[64], there[PATH_MAX];
	pid_t pid = getppid();
	long type;
	int fd;

	for (int i = 0; pid > 0 && i < BPFFS_MAX_PARENTS; i++, pid = parent_of(pid)) {
		snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
		fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;	/* gone, or not ours to read (EACCES) */
		snprintf(there, sizeof(there), "/proc/self/fd/%d%s", fd, path);
		if (!fs_type(there, &type) && type == BPF_FS_MAGIC)
			return fd;
		close(fd);
	}
	return -1;
}

int bpffs_path(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	long type = 0;
	int ret;

	if (parent_root < 0) {
		ret = fs_type(path, &type);
		if (ret) {
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
			return ret;
		}
		if (type == BPF_FS_MAGIC || path[0] != '/')
			goto here;
		parent_root = find_parent_root(path);
	}
	if (parent_root >= 0) {
		ret = snprintf(out, len, "/proc/self/fd/%d%s", parent_root, path);
		return ret < (int)len ? 0 : -ENAMETOOLONG;
	}
	if (type == SYSFS_MAGIC) {
		snprintf(err, errlen, "%s is on sysfs here, not on a BPF filesystem, and no parent "
			 "process sees one there: 'ip netns exec' mounts a new /sys; mount the BPF "
			 "filesystem on the host (mount -t bpf bpf /sys/fs/bpf) and start from a "
			 "shell that sees it, or enter with 'nsenter --net=/run/netns/NAME'", path);
	} else {
		snprintf(err, errlen, "%s is not on a BPF filesystem (mount one: mount -t bpf bpf "
			 "/sys/fs/bpf)", path);
	}
	return -ENOTSUP;
here:
	ret = snprintf(out, len, "%s", path);
	return ret < (int)len ? 0 : -ENAMETOOLONG;
}
