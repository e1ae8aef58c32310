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
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	__u32 ifindex = if_nametoindex(ifname), prog_id = 0;
	char dir[256], path[320];
	struct decap *skel;
	int fd, ret;

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

	/* Already ours: switch the link to the new program (fresh address list). */
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		ret = bpf_link_update(fd, bpf_program__fd(skel->progs.xlb_decap), NULL) ? -errno : 0;
		close(fd);
		if (ret != -ENOLINK) {
			if (ret)
				fail(ret, "cannot update the decap program on %s: %s", ifname,
				     strerror(-ret));
			goto out;
		}
		/* A pin left by an interface that is gone (its namespace died). */
		unlink(path);
	}
	if (!bpf_xdp_query_id(ifindex, 0, &prog_id) && prog_id) {
		ret = fail(-EBUSY, "%s already has an XDP program (program id %u): detach it first",
			   ifname, prog_id);
		goto out;
	}
	fd = bpf_link_create(bpf_program__fd(skel->progs.xlb_decap), ifindex, BPF_XDP, &lopts);
	if (fd < 0) {
		ret = fail(-errno, "cannot attach to %s: %s", ifname, strerror(errno));
		goto out;
	}
	ret = bpf_obj_pin(fd, path) ? fail(-errno, "cannot pin %s: %s", path, strerror(errno)) : 0;
	close(fd);
out:
	/* The pinned link keeps the program and its maps alive. */
	decap__destroy(skel);
	return ret;
}

int decap_detach(const char *ifname, char *err, size_t errlen)
{
	char dir[256], path[320];
	int fd, ret;

	ret = pin_dir(dir, sizeof(dir), err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/link_%s", dir, ifname);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		/* pin_dir() may just have made them. */
		rmdir(dir);
		rmdir(DECAP_PIN_ROOT);
		return fail(-ENOENT, "decap is not attached to %s", ifname);
	}
	if (bpf_link_detach(fd) && errno != ENOLINK)
		ret = fail(-errno, "cannot detach from %s: %s", ifname, strerror(errno));
	close(fd);
	if (!ret && unlink(path))
		ret = fail(-errno, "cannot remove %s: %s", path, strerror(errno));
	/* Folders go with their last link (ENOTEMPTY otherwise). */
	rmdir(dir);
	rmdir(DECAP_PIN_ROOT);
	return ret;
}
