// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "bpffs.h"
#include "daemon.h"
#include "decap.h"
#include "fileio.h"
#include "health.h"
#include "iface.h"
#include "inspect.h"
#include "natsweep.h"
#include "tracer.h"
#include "log.h"
#include "output.h"
#include "proto.h"
#include "rates.h"
#include "statelog.h"

#define ERRLEN 512

/* ---- state file ------------------------------------------------------- */

/* A new file beside path for its next text: path.tmp, its name in tmp. An fd or -errno. */
static int state_open_tmp(const char *path, char *tmp, size_t tmplen)
{
	int fd, err;

	if (snprintf(tmp, tmplen, "%s.tmp", path) >= (int)tmplen)
		return -ENAMETOOLONG;
	err = mkdir_parents(path, 0755);
	if (err)
		return err;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static int state_put(const char *path, const char *text, size_t len)
{
	char tmp[512];
	int fd = state_open_tmp(path, tmp, sizeof(tmp));

	return fd < 0 ? fd : file_commit(fd, tmp, path, text, len);
}

int state_write(const char *path, const char *text, size_t len)
{
	return state_put(path, text, len);
}

/*
 * The state file through the reader restore uses: text only, at most as large as a restore
 * request. Anything but a whole, readable regular file is an error that names it, so that xlbd
 * never starts with less than was saved and then saves that over the rest. A device or FIFO
 * cannot be the state file: every change replaces it by rename().
 */
static int state_read(const char *path, char **text, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), ret = 0;
	char msg[128] = "";
	struct stat st;

	*text = NULL;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st))
		ret = -errno;
	else if (S_ISDIR(st.st_mode))
		ret = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL, snprintf(msg, sizeof(msg), "not a regular file (xlbd saves every "
					"change by replacing it)");
	else
		ret = file_read_text(fd, PROTO_MAX_REQUEST, text, msg, sizeof(msg));
	if (fd >= 0)
		close(fd);
	if (ret)
		snprintf(err, errlen, "%s: %s", path, msg[0] ? msg : strerror(-ret));
	return ret;
}

/*
 * cfg_limits.local: the addresses of every interface in xlbd's network namespace, not only the
 * attached ones, since a packet to any of them may arrive through an attached one.
 */
static int host_has_addr(void *ctx, const struct xlb_addr *addr, __u8 family, char *ifname)
{
	struct ifaddrs *list, *ifa;
	int found = 0;

	if (getifaddrs(&list))
		return -errno;
	for (ifa = list; ifa && !found; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;

		if (!sa)
			continue;
		if (sa->sa_family == AF_INET && family == XLB_AF_INET)
			found = ((const struct sockaddr_in *)sa)->sin_addr.s_addr == addr->v4;
		else if (sa->sa_family == AF_INET6 && family == XLB_AF_INET6)
			found = !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, addr->b,
					sizeof(addr->b));
		if (found)
			snprintf(ifname, CMD_IFNAME_MAX + 1, "%s", ifa->ifa_name);
	}
	freeifaddrs(list);
	return found;
}

/* ---- change log --------------------------------------------------------- */

static void log_path(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s.log", d->opts.state);
}

/* text as the whole state file, then its directory fsync'd: 0 or -errno. */
static int rewrite_body(struct state_rewrite *w)
{
	/* The checkpoint before the rename: a log that lacks it would name no state file. */
	if (w->log_fd >= 0 && fdatasync(w->log_fd))
		return -errno;
	return state_put(w->path, w->text, w->len);
}

static void *rewrite_thread(void *arg)
{
	struct state_rewrite *w = arg;

	w->err = rewrite_body(w);
	atomic_store(&w->done, true);
	return NULL;
}

/*
 * A new log holding the checkpoint of the rewrite just done and the changes since: the old
 * one held them too, so a crash leaves either, and either names the state file. Renamed and
 * its directory fsync'd before the next change is appended to it.
 */
static int log_reset(struct daemon *d, size_t from)
{
	char path[560], tmp[576];
	size_t len = d->log_len - from;
	char *text = malloc(len + 1);
	ssize_t n = text ? pread(d->log_fd, text, len, from) : -1;
	int fd, err;

	if (n != (ssize_t)len) {
		free(text);
		return text ? -EIO : -ENOMEM;
	}
	log_path(d, path, sizeof(path));
	fd = state_open_tmp(path, tmp, sizeof(tmp));
	err = fd < 0 ? fd : file_commit(fd, tmp, path, text, len);
	free(text);
	if (err)
		return err;
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(d->log_fd);
	d->log_fd = fd;
	d->log_len = len;
	return 0;
}

/* The end of a rewrite: the log starts again at its checkpoint once the file is renamed. */
static int rewrite_end(struct daemon *d)
{
	struct state_rewrite *w = &d->rewrite;
	int err;

	if (w->thread_running)
		pthread_join(w->thread, NULL);
	w->thread_running = false;
	w->running = false;
	err = w->err;
	if (!err && d->log_fd >= 0)
		err = log_reset(d, w->ckpt_from);
	if (err) {
		pr_warn("state file %s: cannot rewrite it: %s (its log keeps the changes)\n",
			d->opts.state, strerror(-err));
		/* Tried again, later: the log applies to the file as it was. */
		d->log_changes += !d->log_changes;
	}
	if (w->owned)
		free(w->text);
	w->text = NULL;
	return err;
}

/* Appended to the log, not yet fsync'd; -errno and the log as it was after a failure. */
static int log_write(struct daemon *d, const char *line, size_t len)
{
	ssize_t n;

	if (d->log_fd < 0)
		return -EBADF;
	n = write(d->log_fd, line, len);
	if (n == (ssize_t)len) {
		d->log_len += len;
		return 0;
	}
	/* A torn line would end the log there: what comes after it must not be lost. */
	if (n > 0 && ftruncate(d->log_fd, d->log_len))
		pr_warn("state file %s: cannot cut a failed line off its log: %s\n",
			d->opts.state, strerror(errno));
	return n < 0 ? -errno : -ENOSPC;
}

/*
 * The whole state file rewritten with text (its checkpoint first in the log), by a thread
 * unless wait. text is the caller's while the rewrite runs, freed by it if owned.
 */
static int rewrite_begin(struct daemon *d, char *text, size_t len, bool owned, bool wait)
{
	struct state_rewrite *w = &d->rewrite;
	char line[64];
	int n = statelog_checkpoint(text, len, line, sizeof(line));

	w->text = text;
	w->len = len;
	w->owned = owned;
	w->path = d->opts.state;
	w->log_fd = d->log_fd;
	w->ckpt_from = d->log_len;
	w->err = n < 0 ? n : d->log_fd >= 0 ? log_write(d, line, n) : 0;
	w->running = true;
	atomic_store(&w->done, false);
	if (!w->err) {
		d->log_changes = 0;
		w->thread_running = !wait && !pthread_create(&w->thread, NULL, rewrite_thread, w);
		if (!w->thread_running)
			rewrite_thread(w);
	} else {
		atomic_store(&w->done, true);
	}
	return wait ? rewrite_end(d) : 0;
}

/*
 * The state file with every change (the log's checkpoint then names it): before `save`
 * prints, when xlbd stops, or with text (restore) now.
 */
static int state_flush(struct daemon *d, char *text, size_t len)
{
	if (d->rewrite.running)
		rewrite_end(d);
	if (!text && !d->log_changes)
		return 0;
	if (!text) {
		state_prime_end(&d->prime, &d->saved);
		text = d->saved.text;
		len = d->saved.len;
	}
	return rewrite_begin(d, text, len, false, true);
}

/*
 * A change, on disk once this returns 0: one line appended to the log and fdatasync'd
 * (~0.3 ms, where the whole file took 1-1.6 ms, 11-18 ms when the disk is busy).
 */
static int log_change(struct daemon *d, const struct cmd *cmd)
{
	char line[CMD_LINE_MAX], rec[STATELOG_LINE_MAX];
	int n = cmd_format(cmd, line, sizeof(line)), err;

	if (n >= 0)
		n = statelog_change(line, rec, sizeof(rec));
	if (n < 0)
		return n;
	err = log_write(d, rec, n);
	if (!err && fdatasync(d->log_fd)) {
		err = -errno;
		if (ftruncate(d->log_fd, d->log_len - n) == 0)
			d->log_len -= n;
	}
	if (err)
		return err;
	d->log_changes++;
	d->log_last_ms = health_now_ms();
	return 0;
}

/*
 * The whole file in the background once the log holds DAEMON_LOG_CHANGES changes, or once
 * commands paused for DAEMON_LOG_QUIET_MS: not while a burst of them waits on the disk.
 */
static void state_tick(struct daemon *d)
{
	__u64 now = health_now_ms();
	char *text;

	if (d->rewrite.running) {
		if (atomic_load(&d->rewrite.done))
			rewrite_end(d);
		return;
	}
	if (!d->log_changes ||
	    (d->log_changes < DAEMON_LOG_CHANGES && now - d->log_last_ms < DAEMON_LOG_QUIET_MS))
		return;
	state_prime_end(&d->prime, &d->saved);
	text = malloc(d->saved.len + 1);
	if (!text)
		return;
	memcpy(text, d->saved.text, d->saved.len + 1);
	rewrite_begin(d, text, d->saved.len, true, false);
}

/*
 * At the start, after the state file and its log's changes loaded (text, all of them): the
 * file holds them all and a new log names it. Only after a crash is there something to write
 * but the log.
 */
static int log_open(struct daemon *d, const char *text, size_t len, bool changes)
{
	char path[560], tmp[576], line[64];
	int fd, n, err = changes ? state_put(d->opts.state, text, len) : 0;

	n = err ? err : statelog_checkpoint(text, len, line, sizeof(line));
	if (n < 0)
		return n;
	log_path(d, path, sizeof(path));
	fd = state_open_tmp(path, tmp, sizeof(tmp));
	err = fd < 0 ? fd : file_commit(fd, tmp, path, line, n);
	if (err)
		return err;
	d->log_fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (d->log_fd < 0)
		return -errno;
	d->log_len = n;
	return 0;
}

/* What a configuration command may change in the state file's text. */
static enum state_change change_of(const struct cmd *cmd)
{
	switch (cmd->op) {
	case CMD_ATTACH:
	case CMD_DETACH:
	case CMD_NODE_DRAIN:
	case CMD_NODE_UNDRAIN:
		return STATE_CHANGED_NODE;
	default:
		return cmd_changes_vip(cmd) ? STATE_CHANGED_VIP : STATE_CHANGED_ALL;
	}
}

/* ---- interfaces ------------------------------------------------------- */

/* Where iface_prepare() records what it changed: beside the state file. */
static void sysctl_file(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s.sysctl", d->opts.state);
}

static void iface_undo(const struct daemon *d, const char *ifname)
{
	char saved[512];

	sysctl_file(d, saved, sizeof(saved));
	iface_restore(ifname, saved);
}

static bool iface_configured(const char *ifname, void *ctx)
{
	return config_iface(ctx, ifname);
}

/* Outer source addresses: the first attached interface that has one. */
static int update_sources(struct daemon *d)
{
	struct xlb_config cfg = d->dp.cfg;	/* the NAT flag and clock stay */
	struct ifaddrs *ifa, *list;
	int err;

	memset(&cfg.src_v4, 0, sizeof(cfg.src_v4));
	memset(&cfg.src_v6, 0, sizeof(cfg.src_v6));
	if (getifaddrs(&list))
		return -errno;
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		for (ifa = list; ifa; ifa = ifa->ifa_next) {
			if (!ifa->ifa_addr || strcmp(ifa->ifa_name, d->cfg.ifaces[i].name))
				continue;
			if (ifa->ifa_addr->sa_family == AF_INET && !cfg.src_v4.v4) {
				cfg.src_v4.v4 = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
			} else if (ifa->ifa_addr->sa_family == AF_INET6 && !cfg.src_v6.w[0]) {
				struct in6_addr *a = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;

				if (!IN6_IS_ADDR_LINKLOCAL(a))
					memcpy(&cfg.src_v6, a, sizeof(*a));
			}
		}
	}
	freeifaddrs(list);
	err = dp_config_set(&d->dp, &cfg);
	/* The default NAT pool is this address: the pools and their prefilter bits follow. */
	return err ? err : sync_pools(&d->sync, &d->cfg);
}

/*
 * Over an older build's pins, the connection entries it placed by another hash (IPv6 flows)
 * are moved where this build looks: first while the old program still runs on them, then,
 * clearing the old places, once the links run this build's (dp_conns_rehome()).
 */
static void conns_rehome(struct daemon *d, bool clear)
{
	__u32 moved;
	int err = dp_conns_rehome(&d->dp, clear, &moved);

	if (moved)
		pr_info("conns: %u entries of an older build moved to where this build looks\n",
			moved);
	if (err)
		pr_warn("conns: an entry was being written while it was moved: its flow is bound "
			"again by the ring\n");
}

static int attach_iface(struct daemon *d, const struct cfg_iface *ifc, char *err, size_t errlen)
{
	char note[256], saved[512];
	int ret;

	if (!if_nametoindex(ifc->name)) {
		snprintf(err, errlen, "no interface %s", ifc->name);
		return -ENODEV;
	}
	sysctl_file(d, saved, sizeof(saved));
	iface_prepare(ifc->name, saved);
	ret = dp_attach(&d->dp, ifc->name, ifc->mode == CMD_MODE_GENERIC ? DP_MODE_GENERIC :
									    DP_MODE_NATIVE,
			note, sizeof(note));
	if (ret == -EBUSY)
		snprintf(err, errlen, "%s already has an XDP program (%s) that is not xlb's: "
			 "detach it first", ifc->name, note);
	else if (ret)
		snprintf(err, errlen, "cannot attach to %s: %s", ifc->name, strerror(-ret));
	else if (note[0])
		pr_warn("%s\n", note);
	return ret;
}

/*
 * Make the kernel resolve each backend's neighbour entry, which the data
 * plane needs (bpf_fib_lookup() answers NO_NEIGH without one): a zero-length
 * datagram to the discard port (9) is the smallest thing that does it. The
 * IPv4 no-neighbour fallback (the kernel forwards the packet) works without
 * this; IPv6 would need forwarding switched on for the whole host.
 */
static void warm(int fd4, int fd6, const struct xlb_addr *addr, __u8 family)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };

	if (family == XLB_AF_INET && fd4 >= 0) {
		sin.sin_addr.s_addr = addr->v4;
		sendto(fd4, "", 0, 0, (struct sockaddr *)&sin, sizeof(sin));
	} else if (family == XLB_AF_INET6 && fd6 >= 0) {
		memcpy(&sin6.sin6_addr, addr, sizeof(sin6.sin6_addr));
		sendto(fd6, "", 0, 0, (struct sockaddr *)&sin6, sizeof(sin6));
	}
}

/*
 * Backends warmed per turn of the event loop: a datagram costs ~2 us, so 10,000 backends held it
 * ~22 ms every DAEMON_WARM_S, and a command that came meanwhile waited that long.
 */
#define WARM_SLICE		64

/* The sockets warm() sends from: fd[0] IPv4, fd[1] IPv6, -1 for one that cannot be had. */
static void warm_open(int fd[2])
{
	fd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	fd[1] = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static void warm_close(int fd[2])
{
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

/* Up to budget more backends' neighbours from d's cursor; whether some are left. */
static bool warm_more(struct daemon *d, size_t budget)
{
	int fd[2];

	warm_open(fd);
	/* A change between turns may shift the cursor: a backend is warmed twice, or next time. */
	while (budget && d->warm_vip < d->cfg.n_vips) {
		const struct cfg_vip *v = &d->cfg.vips[d->warm_vip];

		if (d->warm_backend >= v->n_backends) {
			d->warm_vip++;
			d->warm_backend = 0;
			continue;
		}
		warm(fd[0], fd[1], &v->backends[d->warm_backend].addr,
		     v->backends[d->warm_backend].family);
		d->warm_backend++;
		budget--;
	}
	warm_close(fd);
	return d->warm_vip < d->cfg.n_vips;
}

/* A new round over every backend, in slices from the event loop (daemon_busy()). */
static void warm_begin(struct daemon *d)
{
	d->warm_vip = d->warm_backend = 0;
	d->warming = warm_more(d, WARM_SLICE);
}

/* Only a backend just added. */
static void warm_backend(const struct cmd_backend *b)
{
	int fd[2];

	warm_open(fd);
	warm(fd[0], fd[1], &b->addr, b->family);
	warm_close(fd);
}

void daemon_warm_neighbours(struct daemon *d)
{
	d->warm_vip = d->warm_backend = 0;
	d->warming = warm_more(d, SIZE_MAX);
}

bool daemon_busy(const struct daemon *d)
{
	return d->warming;
}

/* ---- health ------------------------------------------------------------ */

static struct cfg_vip *vip_of_backend(struct config *c, __u32 id, struct cfg_backend **b)
{
	for (size_t i = 0; i < c->n_vips; i++)
		for (size_t j = 0; j < c->vips[i].n_backends; j++)
			if (c->vips[i].backends[j].id == id) {
				*b = &c->vips[i].backends[j];
				return &c->vips[i];
			}
	return NULL;
}

/* Down flags from the checker's states; a VIP without checks is never down. */
static void refresh_down(struct daemon *d, struct config *c)
{
	for (size_t i = 0; i < c->n_vips; i++) {
		struct cfg_vip *v = &c->vips[i];

		for (size_t j = 0; j < v->n_backends; j++) {
			const struct hc_state *st = NULL;

			if (v->health.type != CMD_HEALTH_OFF && v->backends[j].id != XLB_BACKEND_NONE)
				st = health_state(d->prober, v->backends[j].id);
			v->backends[j].down = st && !st->up;
		}
	}
}

/*
 * The probe path goes out of the first attached interface (the one whose
 * addresses are the outer sources too) while any check is via vip. Replies
 * come from the VIP, to which the balancer may have no route: rp_filter
 * would drop them.
 */
static const char *probe_iface(const struct config *c)
{
	for (size_t i = 0; c->n_ifaces && i < c->n_vips; i++)
		if (c->vips[i].health.type != CMD_HEALTH_OFF &&
		    c->vips[i].health.via == CMD_VIA_VIP)
			return c->ifaces[0].name;
	return NULL;
}

static void probe_target(struct daemon *d, const struct cfg_vip *v, const struct cfg_backend *b,
			 struct hc_target *t, struct probe_want *w, size_t *nw)
{
	t->vip = v->key.addr;
	t->mark = XLB_PROBE_MARK | b->id;
	t->has_src = probe_path_source(&d->probe_path, b->family, &t->src);
	w[*nw].id = b->id;
	w[*nw].t = (struct xlb_probe_target){
		.addr = b->addr, .family = b->family, .method = v->opts.method,
	};
	(*nw)++;
}

static int probe_path_sync(struct daemon *d, struct probe_want *w, size_t nw)
{
	const char *ifname = probe_iface(&d->cfg);
	char saved[512];
	int err;

	sysctl_file(d, saved, sizeof(saved));
	if (ifname)
		iface_set(ifname, saved, "ipv4/conf/%s/rp_filter", "0");
	err = probe_path_update(&d->probe_path, ifname, w, nw);
	if (err)
		pr_warn("health: cannot set up the probe path on %s: %s\n", ifname ? ifname : "-",
			strerror(-err));
	return err;
}

/* Every backend of every VIP with a check, for the checker. */
static int update_targets(struct daemon *d)
{
	struct probe_want *w;
	struct hc_target *t;
	size_t n = 0, nw = 0, cap = 0;
	int err;

	for (size_t i = 0; i < d->cfg.n_vips; i++)
		cap += d->cfg.vips[i].n_backends;
	t = calloc(cap ? cap : 1, sizeof(*t));
	w = calloc(cap ? cap : 1, sizeof(*w));
	if (!t || !w) {
		free(t);
		free(w);
		return -ENOMEM;
	}
	/* The path first: the targets take their source addresses from it. */
	probe_path_sync(d, NULL, 0);
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];

		if (v->health.type == CMD_HEALTH_OFF)
			continue;
		for (size_t j = 0; j < v->n_backends; j++) {
			const struct cfg_backend *b = &v->backends[j];

			if (b->id == XLB_BACKEND_NONE)
				continue;
			t[n].id = b->id;
			t[n].addr = b->addr;
			t[n].family = b->family;
			/* A nat backend's own port: checks go straight to it. */
			t[n].port = v->health.port ? v->health.port :
				    b->port	   ? b->port :
						     ntohs(v->key.port);
			t[n].check = v->health;
			/* After a restart: the state the maps remember, no flapping. */
			t[n].initially_up = sync_health(&d->sync, b->id) == XLB_HEALTH_UP;
			if (v->health.via == CMD_VIA_VIP)
				probe_target(d, v, b, &t[n], w, &nw);
			n++;
		}
	}
	probe_path_sync(d, w, nw);
	err = health_set_targets(d->prober, t, n);
	free(t);
	free(w);
	return err;
}

static void on_health_change(void *ctx, __u32 id, bool up)
{
	struct daemon *d = ctx;
	struct cfg_backend *b;
	struct cfg_vip *v = vip_of_backend(&d->cfg, id, &b);
	char svc[SERVICE_STRLEN];
	bool was_open;
	int err;

	if (!v)
		return;
	was_open = sync_vip_fails_open(v);
	b->down = !up;
	/* Its NAT flows cannot move to another backend: they end. */
	if (!up)
		natsweep_soon(d);
	err = sync_vip(&d->sync, &d->cfg, v);
	service_format(&v->key, svc, sizeof(svc));
	if (err)
		pr_warn("health: cannot update VIP %s: %s\n", svc, strerror(-err));
	if (!was_open && sync_vip_fails_open(v))
		pr_warn("health: VIP %s: ALL BACKENDS DOWN, failing open: forwarding over all "
			"of them\n", svc);
	else if (was_open && !sync_vip_fails_open(v))
		pr_warn("health: VIP %s: a backend is back, no longer failing open\n", svc);
	/* An `announce healthy` VIP comes and goes with its backends. */
	if (was_open != sync_vip_fails_open(v))
		bird_link_update(&d->bird, &d->cfg, false, health_now_ms());
}

int daemon_health_fd(const struct daemon *d)
{
	return health_fd(d->prober);
}

void daemon_health_dispatch(struct daemon *d)
{
	health_dispatch(d->prober);
}

/*
 * Called on every turn of the event loop: warm the neighbour entries every
 * DAEMON_WARM_S seconds, and at once (at most every DAEMON_NEIGH_POLL_MS)
 * when the data plane counts packets that found no neighbour.
 */
void daemon_tick(struct daemon *d)
{
	__u64 now = health_now_ms(), missed;
	struct xlb_outcomes oc;

	if (now - d->nexthops_ms >= DAEMON_NEXTHOP_MS && !dp_nexthop_refresh(&d->dp))
		d->nexthops_ms = now;
	if (d->warming)
		d->warming = warm_more(d, WARM_SLICE);
	bird_link_tick(&d->bird, &d->cfg, now);
	state_tick(d);
	inspect_tick(d);
	tracer_tick(d);
	natsweep_tick(d);

	if (now - d->neigh_polled_ms < DAEMON_NEIGH_POLL_MS)
		return;
	d->neigh_polled_ms = now;
	if (dp_outcomes(&d->dp, &oc))
		return;
	missed = oc.pass_no_neigh + oc.drop_no_neigh;
	if (missed == d->neigh_missed && now - d->neigh_warmed_ms < DAEMON_WARM_S * 1000)
		return;
	if (missed != d->neigh_missed)
		pr_debug("neighbours: %llu packets found none, resolving\n",
			 (unsigned long long)(missed - d->neigh_missed));
	d->neigh_missed = missed;
	d->neigh_warmed_ms = now;
	warm_begin(d);
}

/* ---- start and stop --------------------------------------------------- */

static void on_pin_removed(const char *name, const char *why, void *ctx)
{
	pr_warn("pins: removed %s/%s: %s\n", (const char *)ctx, name, why);
}

static void on_decap_reclaimed(const struct decap_reclaimed *r, void *ctx)
{
	pr_warn("reclaimed %s: its interface is gone (XDP link %u, program %u)\n", r->pin,
		r->link_id, r->prog_id);
}

/*
 * What earlier runs and deleted namespaces left: links without a device
 * (reported, then attached anew), objects this version does not use, decap
 * pins of namespaces that are gone, values of interfaces no longer attached.
 */
static void prune_at_start(struct daemon *d)
{
	char saved[512], err[ERRLEN];
	unsigned int live;

	dp_pins_prune(&d->dp, iface_configured, &d->cfg, on_pin_removed, (void *)d->opts.pin_dir);
	if (decap_prune(on_decap_reclaimed, NULL, &live, err, sizeof(err)) < 0)
		pr_debug("decap pins: %s\n", err);
	sysctl_file(d, saved, sizeof(saved));
	iface_restore_others(saved, iface_configured, &d->cfg);
}

/* What start-up removed from the maps because no VIP of the state file owned it. */
static void log_swept(const struct sync_swept *w, const char *state)
{
	if (!w->vips && !w->rings && !w->backends && !w->health && !w->counters)
		return;
	pr_warn("removed from the maps what %s does not hold: %u VIPs, %u rings of no VIP, "
		"%u backends of no VIP, %u down marks and %u counters of unused ids\n",
		state, w->vips, w->rings, w->backends, w->health, w->counters);
}

/*
 * The state file and the changes of its log read into a config: 0, or -errno with err set
 * (and said). The text loaded, the file's and the changes', is kept for log_open().
 */
struct state_load {
	const char *path;
	struct config *cfg;
	int ret;
	pthread_t thread;
	char *text;
	size_t len;
	struct statelog_replay replay;
};

/* A log larger than this is not one xlbd wrote: it rewrites the file every few changes. */
#define STATE_LOG_MAX	(64u << 20)

static int log_read(struct state_load *l)
{
	char path[560], *log = NULL;
	size_t len = 0;
	int fd, err;

	snprintf(path, sizeof(path), "%s.log", l->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = file_read_all(fd, STATE_LOG_MAX, &log, &len);
	close(fd);
	if (!err)
		err = statelog_replay(l->text ? l->text : "", l->len, log, len, &l->replay);
	if (err) {
		pr_warn("state file %s: cannot read its log %s: %s\n", l->path, path,
			strerror(-err));
	} else if (len && !l->replay.matched) {
		pr_warn("state file %s: its log %s names another file (edited, or replaced by "
			"hand): its changes are not applied\n", l->path, path);
	} else if (l->replay.torn) {
		pr_warn("state file %s: its log %s ends in a line cut short (a crash while it was "
			"written): that change was not saved, and is not applied\n", l->path, path);
	}
	if (l->replay.changes)
		pr_info("state file %s: %zu changes from its log %s\n", l->path,
			l->replay.changes, path);
	free(log);
	return err;
}

static void *state_load(void *arg)
{
	struct state_load *l = arg;
	char err[ERRLEN], *text;

	l->ret = state_read(l->path, &l->text, err, sizeof(err));
	if (l->ret) {
		pr_warn("state file %s\n", err);
		return NULL;
	}
	l->len = l->text ? strlen(l->text) : 0;
	l->ret = log_read(l);
	if (l->ret)
		return NULL;
	if (l->replay.changes) {
		/* A file written by hand may lack its last newline: the next line is a line. */
		bool nl = l->len && l->text[l->len - 1] != '\n';

		text = malloc(l->len + nl + l->replay.len + 1);
		if (!text) {
			l->ret = -ENOMEM;
			return NULL;
		}
		if (l->len)
			memcpy(text, l->text, l->len);
		text[l->len] = '\n';
		memcpy(text + l->len + nl, l->replay.lines, l->replay.len + 1);
		free(l->text);
		l->text = text;
		l->len += nl + l->replay.len;
	}
	if (l->text && config_load_state(l->cfg, l->text, err, sizeof(err))) {
		/* Never start with less than was saved: the file stays as it is. */
		pr_warn("state file %s%s: %s\n", l->path, l->replay.changes ? " and its log" : "",
			err);
		l->ret = -EINVAL;
	}
	return NULL;
}

static void state_load_free(struct state_load *l)
{
	free(l->text);
	statelog_replay_free(&l->replay);
}

/* 1: dir is there and holds nothing; 2: it is not there, its parent is; 0: anything else. */
static int pins_none(const char *dir)
{
	struct dirent *e;
	DIR *p = opendir(dir);
	int none = 1;

	if (!p) {
		char parent[PATH_MAX], *slash;
		struct stat st;

		if (errno != ENOENT)
			return 0;
		/* Not "dir/..": a path through a directory that is not there resolves nowhere. */
		snprintf(parent, sizeof(parent), "%s", dir);
		while ((slash = strrchr(parent, '/')) && slash > parent && !slash[1])
			*slash = '\0';
		slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, sizeof(parent), ".");
		else
			slash[slash == parent] = '\0';
		return !stat(parent, &st) && S_ISDIR(st.st_mode) ? 2 : 0;
	}
	while (none && (e = readdir(p)))
		none = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(p);
	return none;
}

/* Take back what dp_load() pinned in a dir that held nothing (pins_none()). */
static void pins_unmake(const char *dir, int none)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *p = opendir(dir);

	while (p && (e = readdir(p)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			unlink(path);
	if (p)
		closedir(p);
	if (none == 2)
		rmdir(dir);
}

int daemon_start(struct daemon *d, const struct daemon_opts *opts)
{
	struct dp_opts dopts = {
		.max_vips = opts->max_vips,
		.max_backends = opts->max_backends,
		.conns = opts->conns,
		.ratelimit_entries = opts->ratelimit_entries,
		.nat_entries = opts->nat_entries,
		.pin_dir = opts->pin_dir,
		/* The verifier runs while the maps are filled: see dp_prog_wait() below. */
		.prog_async = true,
	};
	struct state_load load = { .path = opts->state, .cfg = &d->cfg };
	char err[ERRLEN], pins[sizeof(d->dp.pin_dir)];
	bool loading = false;
	int ret, fresh;

	memset(d, 0, sizeof(*d));
	d->opts = *opts;
	d->log_fd = -1;		/* err_cfg: nothing held yet */
	config_init(&d->cfg);
	/* dp_load()'s sizes, known before it runs: a state file over them loads nothing. */
	d->limits.max_vips = opts->max_vips ? opts->max_vips : XLB_MAX_VIPS;
	d->limits.max_backends = (opts->max_backends ? opts->max_backends : XLB_MAX_BACKENDS) -
				 1;	/* id XLB_BACKEND_NONE is nobody's */
	d->cfg.limits = &d->limits;
	clock_gettime(CLOCK_MONOTONIC, &d->started);

	ret = bpffs_path(opts->pin_dir, pins, sizeof(pins), err, sizeof(err));
	if (ret) {
		pr_warn("pin dir: %s\n", err);
		goto err_cfg;
	}
	if (strcmp(pins, opts->pin_dir))
		pr_info("pins in %s reached as %s (the mount namespace of a parent process)\n",
			opts->pin_dir, pins);
	/*
	 * A state file that does not load leaves the pins as they were. Where there are none,
	 * it is read while dp_load() makes them (1000 VIPs x 10 backends: ~40 ms on a core the
	 * start leaves idle otherwise), and what dp_load() pinned goes again if it fails.
	 * Pins there may be adopted, and a changed layout's maps made anew: the file first.
	 */
	fresh = pins_none(pins);
	if (fresh)
		loading = !pthread_create(&load.thread, NULL, state_load, &load);
	if (!loading) {
		state_load(&load);
		if (load.ret) {
			ret = load.ret;
			goto err_cfg;
		}
	}
	dopts.pin_dir = pins;
	ret = dp_load(&d->dp, &dopts);
	if (loading) {
		pthread_join(load.thread, NULL);
		if (load.ret) {
			if (!ret)
				dp_unload(&d->dp);
			pins_unmake(pins, fresh);
			ret = load.ret;
			goto err_cfg;
		}
	}
	if (ret) {
		pr_warn("cannot load the data plane (pins in %s): %s\n", opts->pin_dir,
			strerror(-ret));
		goto err_cfg;
	}
	ret = log_open(d, load.text ? load.text : "", load.len, load.replay.changes);
	if (ret) {
		pr_warn("state file %s: cannot write it or its log: %s\n", opts->state,
			strerror(-ret));
		goto err_dp;
	}
	/*
	 * The host's addresses are checked from now on. One that came after its all-ports VIP
	 * was added only gets a warning here: the data plane serves that VIP whether xlbd starts
	 * or not.
	 */
	d->limits.local = host_has_addr;
	if (config_check_local(&d->cfg, err, sizeof(err)))
		pr_warn("state file %s: %s\n", opts->state, err);
	ret = rates_open(&d->rates, &d->dp);
	if (!ret)
		ret = natsweep_open(&d->natsweep);
	if (!ret)
		ret = sync_init(&d->sync, &d->dp);
	if (ret)
		goto err_dp;
	ret = health_open(&d->prober, d->dp.max_backends, on_health_change, d);
	if (ret)
		goto err_sync;
	ret = probe_path_open(&d->probe_path, d->dp.pin_dir, d->dp.max_backends);
	if (ret) {
		pr_warn("cannot load the health probe program: %s\n", strerror(-ret));
		goto err_health;
	}
	sync_adopt(&d->sync, &d->cfg);
	/* Backends the maps remember as down stay down until checks say otherwise. */
	for (size_t i = 0; i < d->cfg.n_vips; i++)
		for (size_t j = 0; j < d->cfg.vips[i].n_backends; j++) {
			struct cfg_backend *b = &d->cfg.vips[i].backends[j];

			b->down = d->cfg.vips[i].health.type != CMD_HEALTH_OFF &&
				  b->id != XLB_BACKEND_NONE &&
				  sync_health(&d->sync, b->id) != XLB_HEALTH_UP;
		}
	ret = sync_all(&d->sync, &d->cfg);
	if (ret) {
		pr_warn("cannot write the configuration to the maps: %s\n", strerror(-ret));
		goto err_probe;
	}
	log_swept(&d->sync.swept, opts->state);
	rates_watch(d->rates, &d->cfg);
	/* Links are attached (or switched) to the program: it must be loaded by now. */
	ret = dp_prog_wait(&d->dp);
	if (ret)
		goto err_probe;
	prune_at_start(d);
	conns_rehome(d, false);
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		if (attach_iface(d, &d->cfg.ifaces[i], err, sizeof(err)))
			pr_warn("%s\n", err);
		else
			pr_info("attached to %s\n", d->cfg.ifaces[i].name);
	}
	conns_rehome(d, true);
	update_sources(d);
	update_targets(d);
	/*
	 * In slices from the event loop, which does not sleep until they are done: 10,000
	 * backends' datagrams kept `status` from answering ~20 ms longer. Links are attached
	 * already either way, so a first packet could always beat its backend's neighbour.
	 */
	warm_begin(d);
	/*
	 * BIRD may hold an older fragment (xlbd stopped between a write and
	 * its reload): reload once whatever the file says.
	 */
	bird_link_init(&d->bird, opts->bird_fragment, opts->bird_reload);
	ret = bird_link_update(&d->bird, &d->cfg, true, health_now_ms());
	if (ret) {
		pr_warn("cannot write the BIRD fragment %s: %s\n", opts->bird_fragment,
			strerror(-ret));
		goto err_bird;
	}
	pr_info("xlbd: %zu VIPs, %zu interfaces from %s%s\n", d->cfg.n_vips, d->cfg.n_ifaces,
		opts->state, d->cfg.drained ? "; node drained" : "");
	/* Without it, the first change formats the whole file itself (do_config()). */
	state_prime_start(&d->prime, &d->cfg);
	state_load_free(&load);
	return 0;

err_bird:
	bird_link_free(&d->bird);
err_probe:
	probe_path_close(&d->probe_path);
err_health:
	health_close(d->prober);
err_sync:
	sync_free(&d->sync);
err_dp:
	natsweep_close(d->natsweep);
	rates_close(d->rates);
	dp_unload(&d->dp);
err_cfg:
	if (d->log_fd >= 0)
		close(d->log_fd);
	state_load_free(&load);
	config_free(&d->cfg);
	return ret;
}

void daemon_stop(struct daemon *d)
{
	if (state_flush(d, NULL, 0))
		pr_warn("state file %s: its log keeps the last changes\n", d->opts.state);
	if (d->log_fd >= 0)
		close(d->log_fd);
	inspect_free(d);
	tracer_stop(d);
	natsweep_close(d->natsweep);
	bird_link_free(&d->bird);
	rates_close(d->rates);
	health_close(d->prober);
	probe_path_close(&d->probe_path);
	sync_free(&d->sync);
	dp_unload(&d->dp);
	config_free(&d->cfg);
	state_prime_end(&d->prime, &d->saved);
	state_text_free(&d->saved);
}

/* ---- configuration commands ------------------------------------------- */

/* Bring the maps back to `c` for one VIP after a failed change. */
static void revert_vip(struct daemon *d, const struct xlb_vip_key *key)
{
	struct cfg_vip *v = config_vip(&d->cfg, key);

	if (v)
		sync_vip(&d->sync, &d->cfg, v);
	else
		sync_vip_remove(&d->sync, key);
	sync_addrs(&d->sync, &d->cfg);
}

static int apply_to_maps(struct daemon *d, struct config *work, const struct cmd *cmd, char *err,
			 size_t errlen)
{
	struct cfg_vip *v;
	int ret = 0;

	switch (cmd->op) {
	case CMD_ATTACH:
		ret = attach_iface(d, config_iface(work, cmd->ifname), err, errlen);
		if (ret)
			iface_undo(d, cmd->ifname);
		return ret;
	case CMD_DETACH:
		ret = dp_detach(&d->dp, cmd->ifname);
		if (ret && ret != -ENOENT) {
			snprintf(err, errlen, "cannot detach from %s: %s", cmd->ifname,
				 strerror(-ret));
			return ret;
		}
		return 0;
	case CMD_VIP_DEL:
		ret = sync_vip_remove(&d->sync, &cmd->service);
		if (!ret)
			ret = sync_addrs(&d->sync, work);
		break;
	default:
		if (!cmd_changes_vip(cmd))
			return 0;
		v = config_vip(work, &cmd->service);
		ret = sync_vip(&d->sync, work, v);
		if (!ret && cmd->op == CMD_VIP_ADD)
			ret = sync_addrs(&d->sync, work);
		/* Old buckets mean nothing under new parameters, or none. */
		if (!ret && (cmd->op == CMD_RATELIMIT_SET || cmd->op == CMD_RATELIMIT_OFF))
			ret = dp_ratelimit_clear_vip(&d->dp, v->id);
		break;
	}
	if (ret) {
		snprintf(err, errlen, "cannot update the data plane: %s%s", strerror(-ret),
			 ret == -ENOSPC ? " (no free VIP or backend id: raise the limits)" : "");
		revert_vip(d, &cmd->service);
	}
	return ret;
}

static void undo_maps(struct daemon *d, const struct cmd *cmd)
{
	struct cfg_iface *ifc;

	if (cmd->op == CMD_ATTACH) {
		dp_detach(&d->dp, cmd->ifname);
		iface_undo(d, cmd->ifname);
	} else if (cmd->op == CMD_DETACH) {
		char err[ERRLEN];

		ifc = config_iface(&d->cfg, cmd->ifname);
		if (ifc)
			attach_iface(d, ifc, err, sizeof(err));
	} else {
		revert_vip(d, &cmd->service);
	}
}

/*
 * Whether the VIP a command names has health checks in c. A VIP command changes the checker's
 * targets only if the VIP has checks before or after it; update_targets() walks every backend
 * of every VIP (3.4 MiB of targets at 10,000 backends), for nothing otherwise.
 */
static bool vip_checked(const struct config *c, const struct cmd *cmd)
{
	const struct cfg_vip *v = config_vip(c, &cmd->service);

	return v && v->health.type != CMD_HEALTH_OFF;
}

static int do_config(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	char err[ERRLEN] = "";
	struct state_text next;
	struct config work;
	int ret;
	bool checked;

	config_init(&work);
	ret = config_copy(&work, &d->cfg);
	if (!ret)
		ret = config_apply(&work, cmd, err, sizeof(err));
	if (ret)
		goto err;
	refresh_down(d, &work);
	/* The text the next rewrite needs, before the change is saved: it cannot fail then. */
	state_prime_end(&d->prime, &d->saved);
	ret = state_text_update(&d->saved, &work, change_of(cmd), &cmd->service, &next);
	if (ret) {
		snprintf(err, sizeof(err), "cannot format the state file: %s (nothing changed)",
			 strerror(-ret));
		goto err;
	}
	ret = apply_to_maps(d, &work, cmd, err, sizeof(err));
	if (ret) {
		state_text_free(&next);
		goto err;
	}
	ret = log_change(d, cmd);
	if (ret) {
		undo_maps(d, cmd);
		state_text_free(&next);
		snprintf(err, sizeof(err), "cannot write state file %s: %s (nothing changed)",
			 d->opts.state, strerror(-ret));
		goto err;
	}
	state_text_free(&d->saved);
	d->saved = next;
	checked = change_of(cmd) != STATE_CHANGED_VIP || vip_checked(&d->cfg, cmd) ||
		  vip_checked(&work, cmd);
	config_free(&d->cfg);
	d->cfg = work;
	rates_watch(d->rates, &d->cfg);
	if (cmd->op == CMD_DETACH)
		iface_undo(d, cmd->ifname);
	if (cmd->op == CMD_ATTACH || cmd->op == CMD_DETACH)
		update_sources(d);
	if (cmd->op == CMD_BACKEND_ADD)
		warm_backend(&cmd->backend);
	/* A VIP or backend gone ends its NAT flows now, not at the next walk. */
	if (cmd->op == CMD_VIP_DEL || cmd->op == CMD_BACKEND_DEL)
		natsweep_soon(d);
	if (checked)
		update_targets(d);
	bird_link_update(&d->bird, &d->cfg, false, health_now_ms());
	out_obj_open(o, NULL);
	out_obj_close(o);
	return 0;

err:
	config_free(&work);
	out_error(o, "%s", err[0] ? err : strerror(-ret));
	return 1;
}

/* restore: the file replaces the configuration, all or nothing. */
static int do_restore(struct daemon *d, const char *text, struct out *o)
{
	char err[ERRLEN] = "";
	struct state_text next;
	struct config work;
	size_t attached = 0;
	int ret;

	config_init(&work);
	work.limits = &d->limits;
	ret = config_apply_text(&work, text, err, sizeof(err));
	if (ret)
		goto err;
	/* A drain is this node's own: a file from another node leaves it as it is. */
	work.drained = d->cfg.drained;
	/* New interfaces first: the likeliest to fail, and the easiest to undo. */
	for (size_t i = 0; i < work.n_ifaces; i++) {
		if (config_iface(&d->cfg, work.ifaces[i].name))
			continue;
		ret = attach_iface(d, &work.ifaces[i], err, sizeof(err));
		if (ret)
			goto err_detach;
		attached = i + 1;
	}
	/* Same VIPs and backends keep their ids: their connections live on. */
	sync_adopt(&d->sync, &work);
	refresh_down(d, &work);
	ret = sync_all(&d->sync, &work);
	/* Its text would replace this one's otherwise. */
	state_prime_end(&d->prime, &d->saved);
	if (!ret)
		ret = state_text_update(&d->saved, &work, STATE_CHANGED_ALL, NULL, &next);
	if (!ret) {
		ret = state_flush(d, next.text, next.len);
		if (ret)
			state_text_free(&next);
	}
	if (ret) {
		snprintf(err, sizeof(err), "cannot apply the file: %s (nothing changed)",
			 strerror(-ret));
		sync_all(&d->sync, &d->cfg);
		goto err_detach;
	}
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		if (config_iface(&work, d->cfg.ifaces[i].name))
			continue;
		dp_detach(&d->dp, d->cfg.ifaces[i].name);
		iface_undo(d, d->cfg.ifaces[i].name);
	}
	state_text_free(&d->saved);
	d->saved = next;
	config_free(&d->cfg);
	d->cfg = work;
	rates_watch(d->rates, &d->cfg);
	update_sources(d);
	update_targets(d);
	daemon_warm_neighbours(d);
	natsweep_soon(d);
	bird_link_update(&d->bird, &d->cfg, false, health_now_ms());
	out_obj_open(o, NULL);
	out_obj_close(o);
	return 0;

err_detach:
	for (size_t i = 0; i < attached; i++) {
		if (config_iface(&d->cfg, work.ifaces[i].name))
			continue;
		dp_detach(&d->dp, work.ifaces[i].name);
		iface_undo(d, work.ifaces[i].name);
	}
err:
	config_free(&work);
	out_error(o, "%s", err);
	return 1;
}

/* ---- reports ---------------------------------------------------------- */

static const char *method_name(__u32 m)
{
	return m == XLB_METHOD_L2 ? "l2" : m == XLB_METHOD_GUE ? "gue" : m == XLB_METHOD_NAT ? "nat" :
											      "ipip";
}

/* "  tcp-timeout 900s" as the grammar writes it; JSON "tcp_timeout_ms". */
static void print_timeout(struct out *o, const char *which, __u32 ms)
{
	char key[32], text[DURATION_STRLEN];

	snprintf(key, sizeof(key), "%s_timeout_ms", which);
	duration_format(ms, text, sizeof(text));
	out_u64(o, key, NULL, ms);
	out_text(o, "  %s-timeout %s", which, text);
}

/* A nat VIP's pool as the data plane has it, its ports and the sweeper's timeouts. */
static void print_nat(struct daemon *d, const struct cfg_vip *v, struct out *o)
{
	char addr[ADDR_STRLEN], ports[16];
	struct xlb_nat_pool pool;

	sync_nat_pool(&d->sync, v, &pool);
	out_text(o, "  snat");
	out_arr_open(o, "snat");
	for (__u32 i = 0; i < pool.n_addrs; i++) {
		addr_format(&pool.addrs[i], v->key.family, addr, sizeof(addr));
		out_str(o, NULL, i ? ",%s" : " %s", addr);
	}
	out_arr_close(o);
	out_bool(o, "snat_default", NULL, !v->opts.snat.n);
	if (!v->opts.snat.n)
		out_text(o, " (default: this balancer's)");
	if (!pool.n_addrs)
		out_text(o, " none (no address on an attached interface: new flows are dropped)");
	snprintf(ports, sizeof(ports), "%u-%u", v->opts.snat_port_lo, v->opts.snat_port_hi);
	out_str(o, "snat_ports", "  snat-ports %s", ports);
	print_timeout(o, "tcp", v->opts.tcp_timeout_ms);
	print_timeout(o, "fin", v->opts.fin_timeout_ms);
	print_timeout(o, "udp", v->opts.udp_timeout_ms);
}

static void print_vip_head(struct daemon *d, const struct cfg_vip *v, struct out *o)
{
	struct bird_node n = bird_node_of(&d->cfg);
	char svc[SERVICE_STRLEN];

	service_format(&v->key, svc, sizeof(svc));
	out_str(o, "service", "%s", svc);
	out_str(o, "method", "  method %s", method_name(v->opts.method));
	if (v->opts.method == XLB_METHOD_GUE)
		out_u64(o, "encap_port", "  encap-port %llu", v->opts.encap_port);
	if (v->opts.method == XLB_METHOD_NAT)
		print_nat(d, v, o);
	out_str(o, "hash", "  hash %s", v->opts.hash == CMD_HASH_SRC ? "src" : "5tuple");
	out_u64(o, "ring_slots", "  ring %llu", v->opts.ring);
	out_str(o, "announce", "  announce %s",
		v->opts.announce == CMD_ANNOUNCE_HEALTHY ? "healthy" : "always");
	/* Only with -b: without BIRD, nothing is announced, and saying "no" would alarm. */
	if (d->bird.path)
		out_bool(o, "announced", "  announced %s", bird_vip_announced(&n, v));
}

static int do_vip_list(struct daemon *d, struct out *o)
{
	struct xlb_vip_stats st;

	out_arr_open(o, "vips");
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];

		memset(&st, 0, sizeof(st));
		dp_vip_stats(&d->dp, v->id, &st);
		out_obj_open(o, NULL);
		print_vip_head(d, v, o);
		out_u64(o, "backends", "  backends %llu", v->n_backends);
		out_bool(o, "fail_open", sync_vip_fails_open(v) ? "  FAIL-OPEN" : NULL,
			 sync_vip_fails_open(v));
		out_u64(o, "packets", "  packets %llu", st.packets);
		out_u64(o, "bytes", "  bytes %llu", st.bytes);
		out_text(o, "\n");
		out_obj_close(o);
	}
	out_arr_close(o);
	return 0;
}

/* "12.3 kpps" style, for people; JSON gets the plain numbers. */
static void human(char *buf, size_t len, double v, const char *unit)
{
	static const char *const prefix[] = { "", "k", "M", "G", "T" };
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s%s" : "%.0f %s%s", v, prefix[i], unit);
}

static void print_rate(struct rate r, struct out *o)
{
	char pps[32], bps[32];

	human(pps, sizeof(pps), r.pps, "pps");
	human(bps, sizeof(bps), r.bps, "bit/s");
	out_double(o, "packets_per_second", NULL, r.pps);
	out_double(o, "bits_per_second", NULL, r.bps);
	/* Text only: in JSON the numbers above say it, and a key-less value would be "". */
	out_text(o, "  %10s %13s", pps, bps);
}

/* "  10.0.0.2:8080": JSON has the address and the port apart, port 0 the packet's own. */
static void print_backend_name(const struct cfg_backend *b, struct out *o)
{
	char addr[ADDR_STRLEN], text[BACKEND_STRLEN];

	addr_format(&b->addr, b->family, addr, sizeof(addr));
	backend_format(&b->addr, b->family, b->port, text, sizeof(text));
	out_str(o, "address", NULL, addr);
	out_u64(o, "port", NULL, b->port);
	out_text(o, "  %-39s", text);
}

static void print_backends(struct daemon *d, const struct cfg_vip *v, struct out *o, bool shares,
			   bool rates)
{
	__u32 *counts = calloc(v->n_backends ? v->n_backends : 1, sizeof(*counts));
	__u32 size = v->opts.ring;
	bool have_ring = shares && counts && !sync_ring_read(&d->sync, v, counts, NULL);

	out_arr_open(o, "backends");
	for (size_t i = 0; i < v->n_backends; i++) {
		const struct cfg_backend *b = &v->backends[i];
		struct xlb_backend_stats st = { 0 };
		__u32 state = XLB_HEALTH_UP;

		dp_backend_stats(&d->dp, b->id, &st);
		dp_health_get(&d->dp, b->id, &state);
		out_obj_open(o, NULL);
		print_backend_name(b, o);
		out_u64(o, "weight", "  weight %-5llu", b->weight);
		out_str(o, "health", "  %-4s", state == XLB_HEALTH_UP ? "up" : "down");
		if (rates && b->id < d->dp.max_backends)
			print_rate(rates_backend(d->rates, b->id), o);
		if (have_ring) {
			out_u64(o, "ring_slots", "  slots %-6llu", counts[i]);
			out_double(o, "ring_share_percent", "  share %5.1f%%",
				   100.0 * counts[i] / size);
		}
		out_u64(o, "packets", "  packets %llu", st.packets);
		out_u64(o, "bytes", "  bytes %llu", st.bytes);
		out_text(o, "\n");
		out_obj_close(o);
	}
	out_arr_close(o);
	free(counts);
}

static int do_vip_show(struct daemon *d, const struct xlb_vip_key *key, struct out *o)
{
	const struct cfg_vip *v = config_vip(&d->cfg, key);
	struct xlb_vip_stats st = { 0 };
	char svc[SERVICE_STRLEN], digest[20];
	__u64 h;

	service_format(key, svc, sizeof(svc));
	if (!v) {
		out_error(o, "no VIP %s", svc);
		return 1;
	}
	dp_vip_stats(&d->dp, v->id, &st);
	out_obj_open(o, NULL);
	print_vip_head(d, v, o);
	out_u64(o, "packets", "  packets %llu", st.packets);
	out_u64(o, "bytes", "  bytes %llu", st.bytes);
	out_u64(o, "new_flows", "  new_flows %llu", st.new_flows);
	out_u64(o, "drops", "  drops %llu", st.drops);
	out_u64(o, "ratelimited_packets", "  ratelimited %llu\n", st.ratelimited);
	out_bool(o, "fail_open",
		 sync_vip_fails_open(v) ? "FAIL-OPEN: every backend is down, forwarding over all\n" :
					  NULL,
		 sync_vip_fails_open(v));
	print_backends(d, v, o, true, false);
	if (!sync_ring_read(&d->sync, v, NULL, &h)) {
		snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)h);
		out_str(o, "ring_digest", "ring digest %s\n", digest);
	}
	out_obj_close(o);
	return 0;
}

/* Reports that take an optional SERVICE: refuse an unknown one. */
static bool service_known(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	char svc[SERVICE_STRLEN];

	if (!(cmd->has & CMD_HAS_SERVICE) || config_vip(&d->cfg, &cmd->service))
		return true;
	service_format(&cmd->service, svc, sizeof(svc));
	out_error(o, "no VIP %s", svc);
	return false;
}

/* Whether a report with an optional SERVICE covers v. */
static bool selected(const struct cmd *cmd, const struct cfg_vip *v)
{
	return !(cmd->has & CMD_HAS_SERVICE) || !memcmp(&v->key, &cmd->service, sizeof(v->key));
}

static int do_backend_list(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	char svc[SERVICE_STRLEN];

	if (!service_known(d, cmd, o))
		return 1;
	out_arr_open(o, "vips");
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];

		if (!selected(cmd, v))
			continue;
		service_format(&v->key, svc, sizeof(svc));
		out_obj_open(o, NULL);
		out_str(o, "service", "%s\n", svc);
		print_backends(d, v, o, false, false);
		out_obj_close(o);
	}
	out_arr_close(o);
	return 0;
}

#define OUTCOME(o, s, field) out_u64(o, #field, "  " #field " %llu\n", (s)->field)

static bool any_nat(const struct config *c)
{
	for (size_t i = 0; i < c->n_vips; i++)
		if (c->vips[i].opts.method == XLB_METHOD_NAT)
			return true;
	return false;
}

/*
 * Entries in use of the NAT table's size, in the open object: the sweeper's last count, as
 * the xlb_nat_entries metric has it (none before its first walk).
 */
static void print_nat_use(struct daemon *d, const struct natsweep_report *r, struct out *o)
{
	out_text(o, "nat table:");
	if (r->counted)
		out_u64(o, "entries", " %llu entries", r->entries);
	else
		out_text(o, " (not counted yet)");
	out_u64(o, "max_entries", " of %llu (xlbd -T), two per flow\n", dp_nat_max(&d->dp));
}

/* The NAT table as the sweeper last counted it, and the flows it ended. */
static void print_nat_table(struct daemon *d, struct out *o)
{
	struct natsweep_report r;

	natsweep_report(d, &r);
	out_obj_open(o, "nat");
	print_nat_use(d, &r, o);
	out_obj_open(o, "flows_ended");
	out_text(o, "  flows ended:");
	out_u64(o, "closed", " closed %llu", r.ended.closed);
	out_u64(o, "idle", "  idle %llu", r.ended.idle);
	out_u64(o, "vip_deleted", "  vip deleted %llu", r.ended.vip);
	out_u64(o, "backend_gone", "  backend gone or down %llu", r.ended.backend);
	out_u64(o, "orphan", "  orphan entries %llu\n", r.ended.orphan);
	out_obj_close(o);
	out_obj_close(o);
}

static int do_stats(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	struct xlb_outcomes oc = { 0 };
	char svc[SERVICE_STRLEN];

	if (!service_known(d, cmd, o))
		return 1;
	if (!(cmd->has & CMD_HAS_SERVICE)) {
		dp_outcomes(&d->dp, &oc);
		out_obj_open(o, "outcomes");
		out_text(o, "packets by outcome (all interfaces):\n");
		OUTCOME(o, &oc, tx);
		OUTCOME(o, &oc, redirect);
		OUTCOME(o, &oc, pass_not_ip);
		OUTCOME(o, &oc, pass_not_vip);
		OUTCOME(o, &oc, pass_truncated);
		OUTCOME(o, &oc, pass_no_neigh);
		OUTCOME(o, &oc, pass_other);
		OUTCOME(o, &oc, drop_malformed);
		OUTCOME(o, &oc, drop_no_backend);
		OUTCOME(o, &oc, drop_fragment);
		OUTCOME(o, &oc, drop_no_route);
		OUTCOME(o, &oc, drop_too_big);
		OUTCOME(o, &oc, drop_no_tx_port);
		OUTCOME(o, &oc, drop_ratelimit);
		OUTCOME(o, &oc, drop_no_neigh);
		OUTCOME(o, &oc, drop_nat_no_port);
		OUTCOME(o, &oc, drop_nat_full);
		OUTCOME(o, &oc, drop_internal);
		OUTCOME(o, &oc, icmp_echo);
		OUTCOME(o, &oc, icmp_too_big);
		OUTCOME(o, &oc, icmp_too_big_sent);
		OUTCOME(o, &oc, nat_replies);
		OUTCOME(o, &oc, icmp_nat);
		out_obj_close(o);
		if (any_nat(&d->cfg) || out_is_json(o))
			print_nat_table(d, o);
	}
	out_arr_open(o, "vips");
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];
		struct xlb_vip_stats st = { 0 };

		if (!selected(cmd, v))
			continue;
		dp_vip_stats(&d->dp, v->id, &st);
		service_format(&v->key, svc, sizeof(svc));
		out_obj_open(o, NULL);
		out_str(o, "service", "%-30s", svc);
		if (v->id < d->dp.max_vips)
			print_rate(rates_vip(d->rates, v->id), o);
		out_u64(o, "packets", "  packets %llu", st.packets);
		out_u64(o, "bytes", "  bytes %llu", st.bytes);
		out_u64(o, "new_flows", "  new_flows %llu", st.new_flows);
		out_u64(o, "drops", "  drops %llu", st.drops);
		out_u64(o, "ratelimited_packets", "  ratelimited %llu\n", st.ratelimited);
		print_backends(d, v, o, false, true);
		out_obj_close(o);
	}
	out_arr_close(o);
	return 0;
}

static const char *const check_names[] = { "off", "tcp", "http" };

/* by_backend: without a port of the check's own, a backend with a port is checked there. */
static void print_check(const struct cmd_health *h, __u16 svc_port, bool by_backend,
			struct out *o)
{
	out_str(o, "check", "  check %s", check_names[h->type % 3]);
	if (h->type == CMD_HEALTH_OFF)
		return;
	out_u64(o, "port", "  port %llu", h->port ? h->port : svc_port);
	out_bool(o, "port_of_backend", !h->port && by_backend ? " (or the backend's own)" : NULL,
		 !h->port && by_backend);
	if (h->type == CMD_HEALTH_HTTP) {
		out_str(o, "path", "  path %s", h->path);
		out_u64(o, "status", "  status %llu", h->status);
	}
	out_u64(o, "interval_ms", "  interval %llums", h->interval_ms);
	out_u64(o, "timeout_ms", "  timeout %llums", h->timeout_ms);
	out_u64(o, "rise", "  rise %llu", h->rise);
	out_u64(o, "fall", "  fall %llu", h->fall);
	out_str(o, "via", "  via %s", h->via == CMD_VIA_VIP ? "vip" : "direct");
}

/* Whether a backend of v has a port of its own (method nat): checks go to it. */
static bool ported(const struct cfg_vip *v)
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (v->backends[i].port)
			return true;
	return false;
}

/* A VIP-path check that fails where the backend's own address answers. */
static const char *diagnosis(const struct cmd_health *h, const struct hc_state *st)
{
	if (h->via != CMD_VIA_VIP || !st->probed || st->last_ok)
		return NULL;
	if (st->direct == HC_DIRECT_OK)
		return "VIP path fails, backend answers directly: VIP on lo? decap? rp_filter?";
	if (st->direct == HC_DIRECT_FAILS)
		return "backend does not answer directly either";
	return NULL;
}

static int do_health_show(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	__u64 now = health_now_ms();
	char svc[SERVICE_STRLEN];

	if (!service_known(d, cmd, o))
		return 1;
	out_arr_open(o, "vips");
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		const struct cfg_vip *v = &d->cfg.vips[i];

		if (!selected(cmd, v))
			continue;
		service_format(&v->key, svc, sizeof(svc));
		out_obj_open(o, NULL);
		out_str(o, "service", "%s", svc);
		print_check(&v->health, ntohs(v->key.port), ported(v), o);
		out_bool(o, "fail_open", sync_vip_fails_open(v) ?
					 "\n  FAIL-OPEN: every backend is down, forwarding over all" :
					 NULL,
			 sync_vip_fails_open(v));
		out_text(o, "\n");
		out_arr_open(o, "backends");
		for (size_t j = 0; j < v->n_backends; j++) {
			const struct cfg_backend *b = &v->backends[j];
			const struct hc_state *st = health_state(d->prober, b->id);

			out_obj_open(o, NULL);
			print_backend_name(b, o);
			out_u64(o, "weight", "  weight %-5llu", b->weight);
			if (!st) {
				out_str(o, "state", "  %s\n", "up (not checked)");
				out_obj_close(o);
				continue;
			}
			out_str(o, "state", "  %-4s", st->up ? "up" : "down");
			out_str(o, "last_result", "  last %-4s",
				!st->probed ? "none" : st->last_ok ? "ok" : "fail");
			out_u64(o, "since_seconds", "  for %llus", (now - st->changed_ms) / 1000);
			out_u64(o, "ok_in_a_row", "  ok %llu", st->ok_run);
			out_u64(o, "failed_in_a_row", "  failed %llu", st->fail_run);
			out_str(o, "last_error", "  last error: %s",
				st->last_error[0] ? st->last_error : "-");
			if (diagnosis(&v->health, st))
				out_str(o, "diagnosis", "\n    %s", diagnosis(&v->health, st));
			out_text(o, "\n");
			out_obj_close(o);
		}
		out_arr_close(o);
		out_obj_close(o);
	}
	out_arr_close(o);
	return 0;
}

struct top_entry {
	struct xlb_rl_key key;
	struct xlb_rl_state st;
};

struct top_walk {
	struct top_entry *e;
	size_t n, cap;
};

static int top_collect(const struct xlb_rl_key *key, const struct xlb_rl_state *st, void *ctx)
{
	struct top_walk *w = ctx;
	struct top_entry *p;

	if (!st->dropped)
		return 0;
	if (w->n == w->cap) {
		p = realloc(w->e, (w->cap ? w->cap * 2 : 256) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->e = p;
		w->cap = w->cap ? w->cap * 2 : 256;
	}
	w->e[w->n].key = *key;
	w->e[w->n].st = *st;
	w->n++;
	return 0;
}

static int by_dropped(const void *a, const void *b)
{
	const struct top_entry *x = a, *y = b;

	if (x->st.dropped != y->st.dropped)
		return x->st.dropped < y->st.dropped ? 1 : -1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* The rate limiter's leaderboard: sources with the most dropped packets. */
static int do_top(struct daemon *d, const struct cmd *cmd, struct out *o)
{
	char src[ADDR_STRLEN + 4], svc[SERVICE_STRLEN];
	struct top_walk w = { 0 };
	int ret = dp_ratelimit_walk(&d->dp, top_collect, &w);

	if (ret) {
		free(w.e);
		out_error(o, "cannot read the rate limiter's sources: %s", strerror(-ret));
		return 1;
	}
	qsort(w.e, w.n, sizeof(*w.e), by_dropped);
	out_text(o, "%-44s %-26s %12s %12s\n", "source", "vip", "dropped", "passed");
	out_arr_open(o, "sources");
	for (size_t i = 0; i < w.n && i < cmd->count; i++) {
		const struct cfg_vip *v = NULL;

		for (size_t j = 0; j < d->cfg.n_vips && !v; j++)
			if (d->cfg.vips[j].id == w.e[i].key.vip_id)
				v = &d->cfg.vips[j];
		addr_format(&w.e[i].key.src, w.e[i].key.family, src, sizeof(src));
		if (w.e[i].key.family == XLB_AF_INET6)
			strcat(src, "/64");
		if (v)
			service_format(&v->key, svc, sizeof(svc));
		else
			snprintf(svc, sizeof(svc), "(vip id %u)", w.e[i].key.vip_id);
		out_obj_open(o, NULL);
		out_str(o, "source", "%-44s", src);
		out_str(o, "vip", " %-26s", svc);
		out_u64(o, "dropped_packets", " %12llu", w.e[i].st.dropped);
		out_u64(o, "passed_packets", " %12llu\n", w.e[i].st.passed);
		out_obj_close(o);
	}
	out_arr_close(o);
	free(w.e);
	return 0;
}

static int print_prefix(void *ctx, const char *prefix)
{
	out_str(ctx, NULL, " %s", prefix);
	return 0;
}

static const char *const reload_states[] = {
	[BIRD_RELOAD_NEVER] = "never", [BIRD_RELOAD_RUNNING] = "running",
	[BIRD_RELOAD_OK] = "ok", [BIRD_RELOAD_FAILED] = "failed",
};

/* Whether this node is drained and, with -b, what it announces through BIRD. */
static void print_node(struct daemon *d, struct out *o)
{
	const struct bird_link *b = &d->bird;
	struct bird_node n = bird_node_of(&d->cfg);

	out_obj_open(o, "node");
	out_bool(o, "drained", NULL, d->cfg.drained);
	out_text(o, "node %s", d->cfg.drained ? "DRAINED (node undrain)" : "serving");
	out_obj_close(o);
	if (!b->path) {
		out_text(o, "  (no BIRD fragment: xlbd -b)\n");
		return;
	}
	out_text(o, "\n");
	out_obj_open(o, "bird");
	out_str(o, "fragment", "bird fragment %s", b->path);
	out_str(o, "reload_command", "  reload '%s'", b->reload);
	out_str(o, "reload", ": %s", reload_states[b->state]);
	if (b->state == BIRD_RELOAD_OK || b->state == BIRD_RELOAD_FAILED) {
		out_u64(o, "reload_exit", " (exit %llu,", b->status);
		out_u64(o, "reload_ago_ms", " %llu ms ago)", health_now_ms() - b->ended_ms);
	}
	out_bool(o, "fragment_written", b->written ? NULL : "  FRAGMENT NOT WRITTEN", b->written);
	out_text(o, "\n  announced");
	out_arr_open(o, "announced");
	bird_each_prefix(&d->cfg, &n, print_prefix, o);
	out_arr_close(o);
	out_text(o, "%s\n", n.drained ? " nothing: drained" : !n.attached ? " nothing: detached" : "");
	out_obj_close(o);
}

static int do_status(struct daemon *d, struct out *o)
{
	struct timespec now;
	struct xlb_outcomes oc = { 0 };
	size_t n_backends = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < d->cfg.n_vips; i++)
		n_backends += d->cfg.vips[i].n_backends;
	dp_outcomes(&d->dp, &oc);
	out_obj_open(o, NULL);
	out_u64(o, "pid", "xlbd pid %llu", (unsigned long long)getpid());
	out_u64(o, "uptime_seconds", "  up %llus\n", (unsigned long long)(now.tv_sec - d->started.tv_sec));
	out_str(o, "socket", "  socket %s\n", d->opts.socket);
	out_str(o, "state_file", "  state %s\n", d->opts.state);
	out_str(o, "pin_dir", "  pins %s\n", d->opts.pin_dir);
	out_arr_open(o, "interfaces");
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		struct dp_iface_info info;
		int ret = dp_iface_info(&d->dp, d->cfg.ifaces[i].name, &info);

		out_obj_open(o, NULL);
		out_str(o, "name", "interface %s", d->cfg.ifaces[i].name);
		if (ret) {
			out_str(o, "state", "  %s\n", "missing");
		} else {
			out_u64(o, "ifindex", "  ifindex %llu", info.ifindex);
			out_str(o, "mode", "  xdp %s", info.mode == DP_MODE_GENERIC ? "generic" :
										    "native");
			out_u64(o, "prog_id", "  program id %llu", info.prog_id);
			out_str(o, "state", "  %s\n", info.attached ? "attached" : "NOT ATTACHED");
		}
		out_obj_close(o);
	}
	out_arr_close(o);
	out_u64(o, "vips", "vips %llu", d->cfg.n_vips);
	out_u64(o, "backends", "  backends %llu\n", n_backends);
	if (any_nat(&d->cfg)) {
		struct natsweep_report r;

		natsweep_report(d, &r);
		out_obj_open(o, "nat");
		print_nat_use(d, &r, o);
		out_obj_close(o);
	}
	out_arr_open(o, "vips_failing_open");
	for (size_t i = 0; i < d->cfg.n_vips; i++) {
		char svc[SERVICE_STRLEN];

		if (!sync_vip_fails_open(&d->cfg.vips[i]))
			continue;
		service_format(&d->cfg.vips[i].key, svc, sizeof(svc));
		out_str(o, NULL, "FAIL-OPEN: every backend of %s is down, forwarding over all\n",
			svc);
	}
	out_arr_close(o);
	print_node(d, o);
	out_obj_open(o, "packets");
	out_u64(o, "tx", "packets: tx %llu", oc.tx);
	out_u64(o, "redirect", "  redirect %llu", oc.redirect);
	out_u64(o, "pass", "  pass %llu",
		oc.pass_not_ip + oc.pass_not_vip + oc.pass_truncated + oc.pass_no_neigh +
			oc.pass_other);
	out_u64(o, "drop", "  drop %llu\n",
		oc.drop_malformed + oc.drop_no_backend + oc.drop_fragment + oc.drop_no_route +
			oc.drop_too_big + oc.drop_no_tx_port + oc.drop_ratelimit + oc.drop_no_neigh +
			oc.drop_nat_no_port + oc.drop_nat_full + oc.drop_internal);
	out_obj_close(o);
	out_obj_close(o);
	return 0;
}

static int do_save(struct daemon *d, struct out *o)
{
	size_t len;
	char *text;
	int ret;

	/* A copy of the state file is then all a backup or an older xlbd needs. */
	if (state_flush(d, NULL, 0))
		pr_warn("state file %s: its log keeps the last changes\n", d->opts.state);
	ret = config_save(&d->cfg, &text, &len);

	if (ret) {
		out_error(o, "cannot format the configuration: %s", strerror(-ret));
		return 1;
	}
	if (out_is_json(o)) {
		out_str(o, "config", NULL, text);
	} else {
		out_text(o, "%s", text);
	}
	free(text);
	return 0;
}

int daemon_handle(void *ctx, struct server_call *call, int argc, char **argv, struct out *o)
{
	struct daemon *d = ctx;
	char err[ERRLEN];
	struct cmd *cmd;
	int ret;

	cmd = calloc(1, sizeof(*cmd));
	if (!cmd) {
		out_error(o, "out of memory");
		return 1;
	}
	/* restore carries the file as one more argument after the grammar's. */
	if (argc < 2 || cmd_parse(argc - 1, argv, cmd, NULL, 0) || cmd->op != CMD_RESTORE)
		ret = cmd_parse(argc, argv, cmd, err, sizeof(err));
	else
		ret = 0;
	if (ret) {
		out_error(o, "%s", err);
		ret = 2;
		goto out;
	}
	pr_debug("command: %s\n", cmd_name(cmd->op));
	if (cmd_is_config(cmd)) {
		ret = do_config(d, cmd, o);
		goto out;
	}
	switch (cmd->op) {
	case CMD_RESTORE:
		ret = argc < 2 ? (out_error(o, "restore: no file content received"), 1) :
				 do_restore(d, argv[argc - 1], o);
		break;
	case CMD_SAVE:
		ret = do_save(d, o);
		break;
	case CMD_STATUS:
		ret = do_status(d, o);
		break;
	case CMD_VIP_LIST:
		ret = do_vip_list(d, o);
		break;
	case CMD_VIP_SHOW:
		ret = do_vip_show(d, &cmd->service, o);
		break;
	case CMD_BACKEND_LIST:
		ret = do_backend_list(d, cmd, o);
		break;
	case CMD_STATS:
		ret = do_stats(d, cmd, o);
		break;
	case CMD_HEALTH_SHOW:
		ret = do_health_show(d, cmd, o);
		break;
	case CMD_TOP:
		ret = do_top(d, cmd, o);
		break;
	case CMD_LOOKUP:
		ret = inspect_lookup(d, cmd, o);
		break;
	case CMD_CONNS:
		ret = inspect_conns(d, call, cmd, o);
		break;
	case CMD_TRACE:
		ret = tracer_start(d, call, cmd, o);
		break;
	default:
		out_error(o, "'%s' is not a daemon command", cmd_name(cmd->op));
		ret = 2;
		break;
	}
out:
	free(cmd);
	return ret;
}
