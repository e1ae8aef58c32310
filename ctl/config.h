/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The daemon's configuration: what the operator asked for, as a model that
 * knows nothing of BPF. Commands are checked against it (a duplicate VIP, an
 * unknown backend) and applied to it; it is saved as the same command lines
 * the CLI takes. A command or a restore file is applied to a copy, and the
 * copy replaces the original only once everything in it succeeded.
 *
 * VIPs, backends and interfaces keep the order they were added in, so that
 * save -> restore -> save gives the same text.
 */
#ifndef XLB_CONFIG_H
#define XLB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "cmd.h"

#define CFG_ID_NONE 0xffffffffU

struct cfg_backend {
	struct xlb_addr addr;
	__u8 family;
	__u16 port;		/* host order; 0: the packet's own (method nat only) */
	__u32 weight;
	/* Data-plane identity, kept by the reconciler; not saved. */
	__u32 id;		/* backend id, XLB_BACKEND_NONE until placed */
	__u32 gen;
	/* Health checks say down (runtime, not saved). */
	bool down;
};

struct cfg_vip {
	struct xlb_vip_key key;
	struct cmd_vip opts;		/* method, hash, ring */
	struct cmd_health health;	/* type CMD_HEALTH_OFF when not set */
	struct cmd_ratelimit ratelimit;	/* rate 0 when off */
	__u32 id;			/* VIP id in the data plane, CFG_ID_NONE until placed */
	struct cfg_backend *backends;
	size_t n_backends;
};

struct cfg_iface {
	char name[CMD_IFNAME_MAX + 1];
	__u32 mode;			/* enum cmd_mode asked for */
};

/*
 * What the daemon refuses beyond the grammar, checked by config_apply() so that a restore file
 * is refused at the line that crosses a limit, before anything reaches the maps. Zero limits and
 * a NULL local() check nothing (the model alone, in tests and tools).
 */
struct cfg_limits {
	__u32 max_vips;
	__u32 max_backends;	/* of all VIPs together */
	/*
	 * Whether addr is an address of this host: 1 with its interface in ifname
	 * (CMD_IFNAME_MAX + 1 bytes), 0 when it is not, -errno when the host cannot tell.
	 */
	int (*local)(void *ctx, const struct xlb_addr *addr, __u8 family, char *ifname);
	void *ctx;
};

struct config {
	struct cfg_vip *vips;
	size_t n_vips;
	size_t n_backends;		/* of all VIPs together */
	struct cfg_iface *ifaces;
	size_t n_ifaces;
	bool drained;			/* node drain: this node's own, not a service's */
	const struct cfg_limits *limits;	/* NULL: none; kept by copies */
};

void config_init(struct config *c);
void config_free(struct config *c);
/* Deep copy into an initialised dst (its old content is freed). */
int config_copy(struct config *dst, const struct config *src);

/*
 * Apply one configuration command (cmd_is_config()). Returns 0, or -EEXIST,
 * -ENOENT, -EINVAL, -ENOSPC (past c->limits), -ENOMEM with a one-line
 * message in err; c is unchanged on error.
 *
 * Beyond the grammar it refuses what cannot work on one balancer: a backend
 * that is the address of a VIP (its packets come back here), more backends
 * on a VIP than its ring has slots (the rest would get no traffic), and an
 * all-ports VIP on an address of this host (it would take the host's own
 * TCP or UDP, ssh included), at vip add and again at attach. And what the
 * method cannot do: a backend port or health checks via vip on a DSR VIP
 * (ipip, gue and l2 deliver the client's packet unchanged), a backend of
 * another family on a nat or l2 VIP.
 */
int config_apply(struct config *c, const struct cmd *cmd, char *err, size_t errlen);

/*
 * Apply a whole file of command lines, all or nothing: on error c is
 * unchanged and err says "line N: ...". Blank lines and '#' comments are
 * skipped; any command that does not configure (status, save...) is an
 * error, so that a file is always what `save` printed or could have. So is
 * a node command (cmd_is_node()): config_load_state() takes those too.
 */
int config_apply_text(struct config *c, const char *text, char *err, size_t errlen);
int config_load_state(struct config *c, const char *text, char *err, size_t errlen);

/*
 * The services as command lines, one per line, as `save` prints them;
 * *text is malloc()ed. config_save_state() adds the node's own lines first:
 * the state file.
 */
int config_save(const struct config *c, char **text, size_t *len);
int config_save_state(const struct config *c, char **text, size_t *len);

struct cfg_vip *config_vip(const struct config *c, const struct xlb_vip_key *key);
/* A backend is its address and port: a nat VIP may have 10.0.0.2:8080 and 10.0.0.2:8081. */
struct cfg_backend *config_backend(const struct cfg_vip *v, const struct xlb_addr *addr,
				   __u8 family, __u16 port);
struct cfg_iface *config_iface(const struct config *c, const char *name);

/*
 * The all-ports VIPs of c that are addresses of this host (limits->local): 0 when there is none,
 * else -EINVAL and err names the first.
 */
int config_check_local(const struct config *c, char *err, size_t errlen);

#endif /* XLB_CONFIG_H */
