// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "decap.h"
#include "xdp_link.h"
#include "xlb_abi.h"
#include "decap.skel.h"

#define fail(code, ...)                                 \
	({                                              \
		snprintf(err, errlen, __VA_ARGS__);     \
		code;                                   \
	})

/* DECAP_PIN_ROOT/net<inode of this network namespace> */
static int pin_dir(char *dir, size_t len, char *err, size_t errlen)
{
	struct statfs fs;
	struct stat st;

	if (statfs("/sys/fs/bpf", &fs) || fs.f_type != BPF_FS_MAGIC)
		return fail(-ENOTSUP, "/sys/fs/bpf is not a BPF filesystem here (inside "
				      "'ip netns exec'? use nsenter --net=... instead)");
	if (stat("/proc/self/ns/net", &st))
		return fail(-errno, "cannot identify the network namespace: %s", strerror(errno));
	if (mkdir(DECAP_PIN_ROOT, 0700) && errno != EEXIST)
		return fail(-errno, "cannot create %s: %s", DECAP_PIN_ROOT, strerror(errno));
	snprintf(dir, len, "%s/net%lu", DECAP_PIN_ROOT, (unsigned long)st.st_ino);
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

int decap_attach(const char *ifname, char *err, size_t errlen)
{
	__u32 ifindex = if_nametoindex(ifname), prog_id = 0;
	char dir[256], path[320];
	struct decap *skel;
	int ret;

	if (!ifindex)
		return fail(-ENODEV, "no interface %s", ifname);
	ret = pin_dir(dir, sizeof(dir), err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/link_%s", dir, ifname);

	skel = decap__open_and_load();
	if (!skel)
		return fail(-errno, "cannot load the decap program: %s", strerror(errno));
	ret = fill_addrs(skel);
	if (ret <= 0) {
		ret = fail(ret ? ret : -EADDRNOTAVAIL, "%s: this host has no address to decapsulate "
						       "for", ifname);
		goto out;
	}

	/* Attached already: the link switches to this program, fresh address list and all. */
	ret = xdp_link_attach(path, bpf_program__fd(skel->progs.xlb_decap), ifindex, 0, &prog_id);
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

int decap_detach(const char *ifname, char *err, size_t errlen)
{
	char dir[256], path[320];
	int ret;

	ret = pin_dir(dir, sizeof(dir), err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/link_%s", dir, ifname);
	ret = xdp_link_detach(path);
	if (ret == -ENOENT)
		fail(ret, "decap is not attached to %s", ifname);
	else if (ret)
		fail(ret, "cannot detach from %s: %s", ifname, strerror(-ret));
	/* Folders go with their last link (ENOTEMPTY otherwise). */
	rmdir(dir);
	rmdir(DECAP_PIN_ROOT);
	return ret;
}
