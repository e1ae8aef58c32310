// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "probe.skel.h"
#include "probe_path.h"
#include "xdp_link.h"

/* BPF_TCX_EGRESS of kernel 6.6+ (Debian 12's linux/bpf.h predates it). */
#define PROBE_TCX_EGRESS	47
#define LINK_PREFIX		"probe_link_"

/* ---- rtnetlink: one request, one acknowledgement ---------------------- */

struct nl_req {
	struct nlmsghdr h;
	char buf[256];
};

static void nl_start(struct nl_req *r, __u16 type, __u16 flags, const void *hdr, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->h.nlmsg_len = NLMSG_LENGTH(len);
	memcpy(NLMSG_DATA(&r->h), hdr, len);
}

static void nl_attr(struct nl_req *r, __u16 type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void nl_u32(struct nl_req *r, __u16 type, __u32 v)
{
	nl_attr(r, type, &v, sizeof(v));
}

static int nl_talk(struct nl_req *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[512];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int fd, err;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		err = -errno;
	else if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR)
		err = -EPROTO;
	else
		err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
out:
	close(fd);
	return err;
}

static int gw_of(int family, void *addr)
{
	return inet_pton(family, family == AF_INET ? PROBE_GW4 : PROBE_GW6, addr) == 1 ? 0
										     : -EINVAL;
}

static int rule(int family, bool add)
{
	struct fib_rule_hdr frh = { .family = family, .action = FR_ACT_TO_TBL };
	struct nl_req r;

	nl_start(&r, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0, &frh,
		 sizeof(frh));
	nl_u32(&r, FRA_PRIORITY, PROBE_RULE_PREF);
	nl_u32(&r, FRA_FWMARK, XLB_PROBE_MARK);
	nl_u32(&r, FRA_FWMASK, XLB_PROBE_MARK_MASK);
	nl_u32(&r, FRA_TABLE, PROBE_TABLE);
	return nl_talk(&r);
}

static int route(int family, __u32 ifindex, bool add)
{
	struct rtmsg rtm = {
		.rtm_family = family, .rtm_table = RT_TABLE_UNSPEC, .rtm_protocol = RTPROT_STATIC,
		.rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST, .rtm_flags = RTNH_F_ONLINK,
	};
	struct in6_addr gw;
	struct nl_req r;

	nl_start(&r, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_REPLACE : 0,
		 &rtm, sizeof(rtm));
	nl_u32(&r, RTA_TABLE, PROBE_TABLE);
	if (add) {
		gw_of(family, &gw);
		nl_u32(&r, RTA_OIF, ifindex);
		nl_attr(&r, RTA_GATEWAY, &gw, family == AF_INET ? 4 : 16);
	}
	return nl_talk(&r);
}

static int neigh(int family, __u32 ifindex, const unsigned char *mac, bool add)
{
	struct ndmsg ndm = { .ndm_family = family, .ndm_ifindex = ifindex,
			     .ndm_state = NUD_PERMANENT };
	struct in6_addr gw;
	struct nl_req r;

	gw_of(family, &gw);
	nl_start(&r, add ? RTM_NEWNEIGH : RTM_DELNEIGH, add ? NLM_F_CREATE | NLM_F_REPLACE : 0,
		 &ndm, sizeof(ndm));
	nl_attr(&r, NDA_DST, &gw, family == AF_INET ? 4 : 16);
	if (add)
		nl_attr(&r, NDA_LLADDR, mac, ETH_ALEN);
	return nl_talk(&r);
}

/* ---- the interface's side --------------------------------------------- */

static int iface_mac(const char *ifname, unsigned char *mac)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
	return err;
}

static void find_sources(struct probe_path *pp)
{
	struct ifaddrs *ifa, *list;

	pp->has_src4 = pp->has_src6 = false;
	if (getifaddrs(&list))
		return;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || strcmp(ifa->ifa_name, pp->ifname))
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET && !pp->has_src4) {
			pp->src4.v4 = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
			pp->has_src4 = true;
		} else if (ifa->ifa_addr->sa_family == AF_INET6 && !pp->has_src6) {
			struct in6_addr *a = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a))
				continue;
			memcpy(&pp->src6, a, sizeof(*a));
			pp->has_src6 = true;
		}
	}
	freeifaddrs(list);
}

static void link_path(const struct probe_path *pp, const char *ifname, char *path, size_t len)
{
	snprintf(path, len, "%s/" LINK_PREFIX "%s", pp->pin_dir, ifname);
}

/* As xdp_link_attach(): a pinned link (an earlier xlbd's) switches to our program. */
static int link_attach(struct probe_path *pp, const char *ifname, __u32 ifindex)
{
	int prog = bpf_program__fd(pp->skel->progs.probe_egress), fd, err;
	char path[512];

	link_path(pp, ifname, path, sizeof(path));
	fd = pp->pin_dir[0] ? bpf_obj_get(path) : -1;
	if (fd >= 0) {
		err = bpf_link_update(fd, prog, NULL) ? -errno : 0;
		close(fd);
		if (err != -ENOLINK)
			return err;
		unlink(path);
	}
	fd = bpf_link_create(prog, ifindex, PROBE_TCX_EGRESS, NULL);
	if (fd < 0)
		return -errno;
	if (!pp->pin_dir[0]) {
		/* Not pinning (tests): the link lives as long as we hold it. */
		pp->link_fd = fd;
		return 0;
	}
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);
	return err;
}

/* Undo everything on ifname (which may be gone: then its neighbours went with it). */
static void teardown(struct probe_path *pp, const char *ifname)
{
	__u32 ifindex = if_nametoindex(ifname);
	char path[512];

	for (int i = 0; i < 2; i++) {
		int family = i ? AF_INET6 : AF_INET;

		/* A rule added twice (two xlbd runs racing) goes with a second delete. */
		for (int k = 0; k < 4 && !rule(family, false); k++)
			;
		route(family, 0, false);
		if (ifindex)
			neigh(family, ifindex, NULL, false);
	}
	link_path(pp, ifname, path, sizeof(path));
	if (pp->pin_dir[0])
		xdp_link_detach(path);
	if (pp->link_fd >= 0)
		close(pp->link_fd);
	pp->link_fd = -1;
	pr_info("health: probe path on %s removed\n", ifname);
}

/* Pins of earlier runs on interfaces other than keep. */
static void teardown_stale(struct probe_path *pp, const char *keep)
{
	DIR *dir = pp->pin_dir[0] ? opendir(pp->pin_dir) : NULL;
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		const char *name = de->d_name + strlen(LINK_PREFIX);

		if (strncmp(de->d_name, LINK_PREFIX, strlen(LINK_PREFIX)) ||
		    (keep && !strcmp(name, keep)))
			continue;
		teardown(pp, name);
	}
	closedir(dir);
}

static int setup(struct probe_path *pp, const char *ifname)
{
	unsigned char mac[ETH_ALEN];
	__u32 ifindex = if_nametoindex(ifname);
	int err;

	if (!ifindex)
		return -ENODEV;
	err = iface_mac(ifname, mac);
	/* The program first: a marked packet must never leave as it is. */
	if (!err)
		err = link_attach(pp, ifname, ifindex);
	for (int i = 0; !err && i < 2; i++) {
		int family = i ? AF_INET6 : AF_INET;

		err = neigh(family, ifindex, mac, true);
		if (!err)
			err = route(family, ifindex, true);
		if (!err) {
			err = rule(family, true);
			if (err == -EEXIST)
				err = 0;
		}
	}
	if (err) {
		teardown(pp, ifname);
		return err;
	}
	snprintf(pp->ifname, sizeof(pp->ifname), "%s", ifname);
	pp->ifindex = ifindex;
	pr_info("health: probe path on %s\n", ifname);
	return 0;
}

int probe_path_update(struct probe_path *pp, const char *ifname, const struct probe_want *w,
		      size_t n)
{
	struct xlb_probe_target none = { 0 };
	int map = bpf_map__fd(pp->skel->maps.probe_targets), err = 0;
	bool *want = calloc(pp->max, sizeof(*want));

	if (!want)
		return -ENOMEM;
	if (!ifname || strcmp(ifname, pp->ifname) || if_nametoindex(ifname) != pp->ifindex) {
		teardown_stale(pp, ifname);
		pp->ifname[0] = '\0';
		pp->ifindex = 0;
		if (ifname)
			err = setup(pp, ifname);
	}
	if (pp->ifname[0])
		find_sources(pp);
	if (!w)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (w[i].id >= pp->max)
			continue;
		want[w[i].id] = true;
		if (bpf_map_update_elem(map, &w[i].id, &w[i].t, BPF_ANY) && !err)
			err = -errno;
		pp->used[w[i].id] = true;
	}
	for (__u32 id = 0; id < pp->max; id++) {
		if (!pp->used[id] || want[id])
			continue;
		bpf_map_update_elem(map, &id, &none, BPF_ANY);
		pp->used[id] = false;
	}
out:
	free(want);
	return err;
}

bool probe_path_source(const struct probe_path *pp, __u8 family, struct xlb_addr *src)
{
	if (!pp->ifname[0])
		return false;
	if (family == XLB_AF_INET && pp->has_src4)
		*src = pp->src4;
	else if (family == XLB_AF_INET6 && pp->has_src6)
		*src = pp->src6;
	else
		return false;
	return true;
}

int probe_path_open(struct probe_path *pp, const char *pin_dir, __u32 max_backends)
{
	int err;

	memset(pp, 0, sizeof(*pp));
	pp->link_fd = -1;
	snprintf(pp->pin_dir, sizeof(pp->pin_dir), "%s", pin_dir ? pin_dir : "");
	pp->max = max_backends < XLB_MAX_BACKENDS ? max_backends : XLB_MAX_BACKENDS;
	pp->used = calloc(pp->max, sizeof(*pp->used));
	pp->skel = probe__open();
	if (!pp->used || !pp->skel) {
		err = -ENOMEM;
		goto err;
	}
	bpf_map__set_max_entries(pp->skel->maps.probe_targets, pp->max);
	err = probe__load(pp->skel);
	if (err)
		goto err;
	return 0;
err:
	probe_path_close(pp);
	return err;
}

void probe_path_close(struct probe_path *pp)
{
	if (pp->link_fd >= 0 && pp->ifname[0])
		teardown(pp, pp->ifname);
	probe__destroy(pp->skel);
	free(pp->used);
	pp->skel = NULL;
	pp->used = NULL;
}
