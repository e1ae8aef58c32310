// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xdp_link.h"

int xdp_link_attach(const char *path, int prog_fd, __u32 ifindex, __u32 flags, __u32 *other_id)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = flags);
	int fd, err;

	*other_id = 0;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		err = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
		close(fd);
		if (err != -ENOLINK)
			return err;
		/* The interface the link was on is gone (its namespace died). */
		unlink(path);
	}
	if (!bpf_xdp_query_id(ifindex, 0, other_id) && *other_id)
		return -EBUSY;
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lopts);
	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);
	return err;
}

int xdp_link_detach(const char *path)
{
	int fd = bpf_obj_get(path), err = 0;

	if (fd < 0)
		return -ENOENT;
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (!err && unlink(path))
		err = -errno;
	return err;
}

int xdp_link_query(const char *path, struct xdp_link_pin *pin)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd, err = 0;

	memset(pin, 0, sizeof(*pin));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -EINVAL;	/* a map or a program */
	else if (info.type != BPF_LINK_TYPE_XDP)
		err = -EINVAL;
	close(fd);
	if (err)
		return err;
	pin->link_id = info.id;
	pin->prog_id = info.prog_id;
	pin->ifindex = info.xdp.ifindex;
	return 0;
}

int xdp_link_reclaim(const char *path, struct xdp_link_pin *pin)
{
	int err = xdp_link_query(path, pin);

	if (err == -EINVAL || err == -ENOENT)
		return 0;
	if (err || pin->ifindex)
		return err;
	return unlink(path) ? -errno : 1;
}
