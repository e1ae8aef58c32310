// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpffs.h"
#include "decap.h"
#include "xdp_link.h"
#include "xlb_abi.h"
#include "decap.skel.h"

#define fail(code, ...)                                 \
	({                                              \
		snprintf(err, errlen, __VA_ARGS__);     \
		code;                                   \
	})

/* DECAP_PIN_ROOT/net<inode of this network namespace>, and the root as reached from here. */
static int pin_dir(char *root, size_t rootlen, char *dir, size_t len, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	ret = bpffs_path(DECAP_PIN_ROOT, root, rootlen, err, errlen);
	if (ret)
		return ret;
	if (stat("/proc/self/ns/net", &st))
		return fail(-errno, "cannot identify the network namespace: %s", strerror(errno));
	if (mkdir(root, 0700) && errno != EEXIST)
		return fail(-errno, "cannot create %s: %s", DECAP_PIN_ROOT, strerror(errno));
	snprintf(dir, len, "%s/net%lu", root, (unsigned long)st.st_ino);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(-errno, "cannot create %s: %s", dir, strerror(errno));
	return 0;
}

/* Every address of the namespace: the outer destination is one of them. */
static int fill_addrs(struct decap *skel)
{
	struct ifaddrs *list, *ifa;
	struct xlb_vip_addr_key key;
	__u32 one = 1;
	int n = 0;

	if (getifaddrs(&list))
		return -errno;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr)
			continue;
		memset(&key, 0, sizeof(key));
		if (ifa->ifa_addr->sa_family == AF_INET) {
			key.family = XLB_AF_INET;
			key.addr.v4 = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
		} else if (ifa->ifa_addr->sa_family == AF_INET6) {
			key.family = XLB_AF_INET6;
			memcpy(&key.addr, &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		if (!bpf_map__update_elem(skel->maps.decap_addrs, &key, sizeof(key), &one,
					  sizeof(one), BPF_ANY))
			n++;
	}
	freeifaddrs(list);
	return n;
}

/* Each decap link pinned under root/DIR whose interface is gone. */
static int prune_dir(const char *root, const char *name, decap_reclaim_fn fn, void *ctx,
		     unsigned int *live)
{
	struct decap_reclaimed r;
	struct xdp_link_pin pin;
	char dir[320], path[600];
	struct dirent *e;
	int n = 0, ret;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "link_", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ret = xdp_link_reclaim(path, &pin);
		if (ret < 0)
			continue;	/* not ours to judge: left as it is */
		if (!ret) {
			*live += pin.link_id != 0;
			continue;
		}
		snprintf(r.pin, sizeof(r.pin), "%s/%s/%s", DECAP_PIN_ROOT, name, e->d_name);
		r.link_id = pin.link_id;
		r.prog_id = pin.prog_id;
		if (fn)
			fn(&r, ctx);
		n++;
	}
	closedir(d);
	/* Folders go with their last link (ENOTEMPTY otherwise). */
	rmdir(dir);
	return n;
}

static int prune(const char *root, decap_reclaim_fn fn, void *ctx, unsigned int *live)
{
	struct dirent *e;
	int n = 0, ret;
	DIR *d;

	*live = 0;
	d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "net", 3))
			continue;
		ret = prune_dir(root, e->d_name, fn, ctx, live);
		if (ret > 0)
			n += ret;
	}
	closedir(d);
	rmdir(root);
	return n;
}

int decap_prune(decap_reclaim_fn fn, void *ctx, unsigned int *live, char *err, size_t errlen)
{
	char root[256];
	int ret;

	*live = 0;
	ret = bpffs_path(DECAP_PIN_ROOT, root, sizeof(root), err, errlen);
	if (ret)
		return ret;
	ret = prune(root, fn, ctx, live);
	if (ret < 0)
		fail(ret, "cannot read %s: %s", DECAP_PIN_ROOT, strerror(-ret));
	return ret;
}

/*
 * A prune elsewhere (another namespace's attach) may remove our folder
 * between its mkdir and the pin: the pin then fails with ENOENT, the new
 * link goes with its last descriptor, and a second try succeeds.
 */
#define DECAP_PIN_TRIES 3

int decap_attach(const char *ifname, __u16 gue_port, decap_reclaim_fn fn, void *ctx, char *err,
		 size_t errlen)
{
	__u32 ifindex = if_nametoindex(ifname), prog_id = 0;
	char root[256], dir[320], path[400];
	unsigned int live;
	struct decap *skel;
	int ret;

	if (!ifindex)
		return fail(-ENODEV, "no interface %s", ifname);
	ret = pin_dir(root, sizeof(root), dir, sizeof(dir), err, errlen);
	if (ret)
		return ret;
	/* Before our own pin: a stale one of this name (namespace inodes are reused) goes too. */
	prune(root, fn, ctx, &live);

	skel = decap__open();
	if (!skel)
		return fail(-errno, "cannot open the decap program: %s", strerror(errno));
	/* A constant of the program: no lookup per packet, a new attach to change it. */
	skel->rodata->gue_port = htons(gue_port);
	ret = decap__load(skel);
	if (ret) {
		fail(ret, "cannot load the decap program: %s", strerror(-ret));
		goto out;
	}
	ret = fill_addrs(skel);
	if (ret <= 0) {
		ret = fail(ret ? ret : -EADDRNOTAVAIL, "%s: this host has no address to decapsulate "
						       "for", ifname);
		goto out;
	}

	/* Attached already: the link switches to this program, fresh address list and all. */
	for (int i = 0; i < DECAP_PIN_TRIES; i++) {
		ret = pin_dir(root, sizeof(root), dir, sizeof(dir), err, errlen);
		if (ret)
			goto out;
		snprintf(path, sizeof(path), "%s/link_%s", dir, ifname);
		ret = xdp_link_attach(path, bpf_program__fd(skel->progs.xlb_decap), ifindex, 0,
				      &prog_id);
		if (ret != -ENOENT)
			break;
	}
	if (ret == -EBUSY)
		fail(ret, "%s already has an XDP program (program id %u): detach it first", ifname,
		     prog_id);
	else if (ret)
		fail(ret, "cannot attach to %s: %s", ifname, strerror(-ret));
out:
	/* The pinned link keeps the program and its maps alive. */
	decap__destroy(skel);
	return ret;
}

int decap_detach(const char *ifname, decap_reclaim_fn fn, void *ctx, char *err, size_t errlen)
{
	char root[256], dir[320], path[400];
	unsigned int live;
	int ret;

	ret = pin_dir(root, sizeof(root), dir, sizeof(dir), err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/link_%s", dir, ifname);
	ret = xdp_link_detach(path);
	if (ret == -ENOENT)
		fail(ret, "decap is not attached to %s", ifname);
	else if (ret)
		fail(ret, "cannot detach from %s: %s", ifname, strerror(-ret));
	prune(root, fn, ctx, &live);
	return ret;
}
