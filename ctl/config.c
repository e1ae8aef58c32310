// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "config.h"

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->n_vips; i++)
		free(c->vips[i].backends);
	free(c->vips);
	free(c->ifaces);
	config_init(c);
}

int config_copy(struct config *dst, const struct config *src)
{
	struct config c;

	config_init(&c);
	c.vips = calloc(src->n_vips ? src->n_vips : 1, sizeof(*c.vips));
	c.ifaces = calloc(src->n_ifaces ? src->n_ifaces : 1, sizeof(*c.ifaces));
	if (!c.vips || !c.ifaces)
		goto err;
	memcpy(c.ifaces, src->ifaces, src->n_ifaces * sizeof(*c.ifaces));
	c.n_ifaces = src->n_ifaces;
	c.n_backends = src->n_backends;
	c.drained = src->drained;
	c.limits = src->limits;
	for (size_t i = 0; i < src->n_vips; i++) {
		const struct cfg_vip *v = &src->vips[i];

		c.vips[i] = *v;
		c.vips[i].backends = NULL;
		c.n_vips = i + 1;
		if (!v->n_backends)
			continue;
		c.vips[i].backends = malloc(v->n_backends * sizeof(*v->backends));
		if (!c.vips[i].backends)
			goto err;
		memcpy(c.vips[i].backends, v->backends, v->n_backends * sizeof(*v->backends));
	}
	config_free(dst);
	*dst = c;
	return 0;
err:
	config_free(&c);
	return -ENOMEM;
}

struct cfg_vip *config_vip(const struct config *c, const struct xlb_vip_key *key)
{
	/* A state file names each VIP's backends right after it: 1000 VIPs, 10,000 scans. */
	if (c->n_vips && !memcmp(&c->vips[c->n_vips - 1].key, key, sizeof(*key)))
		return &c->vips[c->n_vips - 1];
	for (size_t i = 0; i < c->n_vips; i++)
		if (!memcmp(&c->vips[i].key, key, sizeof(*key)))
			return &c->vips[i];
	return NULL;
}

/* The first backend of v at addr, whatever its port; NULL if none. */
static struct cfg_backend *backend_at(const struct cfg_vip *v, const struct xlb_addr *addr,
				      __u8 family)
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (v->backends[i].family == family &&
		    !memcmp(&v->backends[i].addr, addr, sizeof(*addr)))
			return &v->backends[i];
	return NULL;
}

struct cfg_backend *config_backend(const struct cfg_vip *v, const struct xlb_addr *addr,
				   __u8 family, __u16 port)
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (v->backends[i].family == family && v->backends[i].port == port &&
		    !memcmp(&v->backends[i].addr, addr, sizeof(*addr)))
			return &v->backends[i];
	return NULL;
}

struct cfg_iface *config_iface(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_ifaces; i++)
		if (!strcmp(c->ifaces[i].name, name))
			return &c->ifaces[i];
	return NULL;
}

/* Append one zeroed element to an array of n elements of size sz. */
static void *grow(void *arr, size_t n, size_t sz)
{
	char *p = realloc(arr, (n + 1) * sz);

	if (p)
		memset(p + n * sz, 0, sz);
	return p;
}

static void remove_at(void *arr, size_t *n, size_t i, size_t sz)
{
	char *p = arr;

	memmove(p + i * sz, p + (i + 1) * sz, (*n - i - 1) * sz);
	(*n)--;
}

#define fail(err_code, ...)                                     \
	({                                                      \
		snprintf(err, errlen, __VA_ARGS__);             \
		err_code;                                       \
	})

/* The first VIP whose address is addr, NULL if none. */
static const struct cfg_vip *vip_at(const struct config *c, const struct xlb_addr *addr,
				    __u8 family)
{
	for (size_t i = 0; i < c->n_vips; i++)
		if (c->vips[i].key.family == family &&
		    !memcmp(&c->vips[i].key.addr, addr, sizeof(*addr)))
			return &c->vips[i];
	return NULL;
}

/* Why an all-ports VIP cannot be key: an address of this host. 0, or -errno with err set. */
static int check_local(const struct config *c, const struct xlb_vip_key *key, char *err,
		       size_t errlen)
{
	const struct cfg_limits *l = c->limits;
	char ifname[CMD_IFNAME_MAX + 1] = "", svc[SERVICE_STRLEN];
	int ret;

	if (key->port || !l || !l->local)
		return 0;
	service_format(key, svc, sizeof(svc));
	ret = l->local(l->ctx, &key->addr, key->family, ifname);
	if (ret < 0)
		return fail(ret, "cannot tell whether all-ports VIP %s is an address of this "
			    "host: %s", svc, strerror(-ret));
	if (ret)
		return fail(-EINVAL, "all-ports VIP %s is an address of this host (on %s): it "
			    "would take all of the host's own %s traffic, ssh included; give it "
			    "a port", svc, ifname, key->proto == IPPROTO_UDP ? "UDP" : "TCP");
	return 0;
}

int config_check_local(const struct config *c, char *err, size_t errlen)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < c->n_vips; i++)
		ret = check_local(c, &c->vips[i].key, err, errlen);
	return ret;
}

static int apply_iface(struct config *c, const struct cmd *cmd, char *err, size_t errlen)
{
	struct cfg_iface *ifc = config_iface(c, cmd->ifname), *arr;
	int ret;

	if (cmd->op == CMD_DETACH) {
		if (!ifc)
			return fail(-ENOENT, "%s is not attached", cmd->ifname);
		remove_at(c->ifaces, &c->n_ifaces, ifc - c->ifaces, sizeof(*ifc));
		return 0;
	}
	if (ifc)
		return fail(-EEXIST, "%s is already attached", cmd->ifname);
	/* Addresses come and go after vip add: look again before traffic reaches the VIPs. */
	ret = config_check_local(c, err, errlen);
	if (ret)
		return ret;
	arr = grow(c->ifaces, c->n_ifaces, sizeof(*arr));
	if (!arr)
		return fail(-ENOMEM, "out of memory");
	c->ifaces = arr;
	snprintf(arr[c->n_ifaces].name, sizeof(arr->name), "%s", cmd->ifname);
	arr[c->n_ifaces].mode = cmd->mode;
	c->n_ifaces++;
	return 0;
}

/* v has a backend of another family than its own (IPv4 inside IPv6). */
static bool vip_mixed(const struct cfg_vip *v)
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (v->backends[i].family != v->key.family)
			return true;
	return false;
}

/* Why backend b cannot join VIP v of c, or 0. */
static int check_backend(const struct config *c, const struct cfg_vip *v,
			 const struct cmd_backend *b, const char *addr, const char *svc, char *err,
			 size_t errlen)
{
	const struct cfg_vip *loop = vip_at(c, &b->addr, b->family);
	__u32 max = c->limits ? c->limits->max_backends : 0;
	char other[SERVICE_STRLEN];

	/* l2 rewrites MACs only: the backend must take the packet as it is. */
	if (b->family != v->key.family && v->opts.method == XLB_METHOD_L2)
		return fail(-EINVAL, "backend %s is IPv6 but VIP %s is IPv4 of method l2, which "
			    "cannot change the packet's family: use method ipip or gue", addr, svc);
	if (b->family != v->key.family && v->opts.method == XLB_METHOD_NAT)
		return fail(-EINVAL, "backend %s is IPv6 but VIP %s is IPv4 of method nat, which "
			    "translates addresses within a family (no NAT46): give it an IPv4 "
			    "backend", addr, svc);
	if (b->port && v->opts.method != XLB_METHOD_NAT)
		return fail(-EINVAL, "backend %s: backend port needs method nat: ipip, gue and l2 "
			    "deliver the client's packet unchanged", addr);
	if (b->family != v->key.family && v->health.type != CMD_HEALTH_OFF &&
	    v->health.via == CMD_VIA_VIP)
		return fail(-EINVAL, "backend %s is IPv6 but VIP %s is IPv4 and checked via vip, "
			    "whose probe path carries the VIP's own family only: use via direct",
			    addr, svc);
	if (loop) {
		service_format(&loop->key, other, sizeof(other));
		return fail(-EINVAL, "backend %s is the address of VIP %s: its packets would come "
			    "back to this balancer", addr, other);
	}
	/* Maglev gives each slot to one backend: past the ring's size, backends get nothing. */
	if (v->n_backends >= v->opts.ring)
		return fail(-ENOSPC, "no ring slot left for backend %s: the ring of %s has %u "
			    "slots, at most one backend each (vip del, then vip add with a larger "
			    "ring)", addr, svc, v->opts.ring);
	if (max && c->n_backends >= max)
		return fail(-ENOSPC, "no room for backend %s in %s: the data plane holds at most "
			    "%u backends, of all VIPs together", addr, svc, max);
	return 0;
}

/* backend set/del of a backend v does not have; the one at its address when the port differs. */
static int no_backend(const struct cfg_vip *v, const struct cmd_backend *b, const char *addr,
		      const char *svc, char *err, size_t errlen)
{
	const struct cfg_backend *other = backend_at(v, &b->addr, b->family);
	char text[BACKEND_STRLEN];

	if (!other)
		return fail(-ENOENT, "no backend %s in %s", addr, svc);
	backend_format(&other->addr, other->family, other->port, text, sizeof(text));
	return fail(-ENOENT, "no backend %s in %s (a backend is its address and port: there is "
		    "%s)", addr, svc, text);
}

static int apply_backend(struct config *c, struct cfg_vip *v, const struct cmd *cmd,
			 const char *svc, char *err, size_t errlen)
{
	const struct cmd_backend *b = &cmd->backend;
	struct cfg_backend *be = config_backend(v, &b->addr, b->family, b->port), *arr;
	char addr[BACKEND_STRLEN];
	int ret;

	backend_format(&b->addr, b->family, b->port, addr, sizeof(addr));
	switch (cmd->op) {
	case CMD_BACKEND_ADD:
		if (be)
			return fail(-EEXIST, "backend %s already in %s", addr, svc);
		ret = check_backend(c, v, b, addr, svc, err, errlen);
		if (ret)
			return ret;
		arr = grow(v->backends, v->n_backends, sizeof(*arr));
		if (!arr)
			return fail(-ENOMEM, "out of memory");
		v->backends = arr;
		arr[v->n_backends].addr = b->addr;
		arr[v->n_backends].family = b->family;
		arr[v->n_backends].port = b->port;
		arr[v->n_backends].weight = b->weight;
		v->n_backends++;
		c->n_backends++;
		return 0;
	case CMD_BACKEND_SET:
		if (!be)
			return no_backend(v, b, addr, svc, err, errlen);
		be->weight = b->weight;
		return 0;
	default:
		if (!be)
			return no_backend(v, b, addr, svc, err, errlen);
		remove_at(v->backends, &v->n_backends, be - v->backends, sizeof(*be));
		c->n_backends--;
		return 0;
	}
}

/* Why VIP key cannot be added to c, or 0. */
static int check_vip(const struct config *c, const struct xlb_vip_key *key, const char *svc,
		     char *err, size_t errlen)
{
	__u32 max = c->limits ? c->limits->max_vips : 0;
	char addr[ADDR_STRLEN], other[SERVICE_STRLEN];

	for (size_t i = 0; i < c->n_vips; i++) {
		const struct cfg_vip *v = &c->vips[i];

		if (!backend_at(v, &key->addr, key->family))
			continue;
		addr_format(&key->addr, key->family, addr, sizeof(addr));
		service_format(&v->key, other, sizeof(other));
		return fail(-EINVAL, "VIP address %s is a backend of %s: its packets would come "
			    "back to this balancer", addr, other);
	}
	if (max && c->n_vips >= max)
		return fail(-ENOSPC, "no room for VIP %s: the data plane holds at most %u VIPs",
			    svc, max);
	return check_local(c, key, err, errlen);
}

int config_apply(struct config *c, const struct cmd *cmd, char *err, size_t errlen)
{
	struct cfg_vip *v, *arr;
	char svc[SERVICE_STRLEN];
	int ret;

	if (cmd->op == CMD_ATTACH || cmd->op == CMD_DETACH)
		return apply_iface(c, cmd, err, errlen);
	if (cmd_is_node(cmd)) {
		/* Idempotent, like `ip link set up`: draining a drained node is no error. */
		c->drained = cmd->op == CMD_NODE_DRAIN;
		return 0;
	}
	if (!cmd_is_config(cmd))
		return fail(-EINVAL, "'%s' does not change the configuration", cmd_name(cmd->op));

	service_format(&cmd->service, svc, sizeof(svc));
	v = config_vip(c, &cmd->service);
	if (cmd->op == CMD_VIP_ADD) {
		if (v)
			return fail(-EEXIST, "VIP %s already exists", svc);
		ret = check_vip(c, &cmd->service, svc, err, errlen);
		if (ret)
			return ret;
		arr = grow(c->vips, c->n_vips, sizeof(*arr));
		if (!arr)
			return fail(-ENOMEM, "out of memory");
		c->vips = arr;
		arr[c->n_vips].key = cmd->service;
		arr[c->n_vips].opts = cmd->vip;
		arr[c->n_vips].id = CFG_ID_NONE;
		c->n_vips++;
		return 0;
	}
	if (!v)
		return fail(-ENOENT, "no VIP %s", svc);

	switch (cmd->op) {
	case CMD_VIP_DEL:
		c->n_backends -= v->n_backends;
		free(v->backends);
		remove_at(c->vips, &c->n_vips, v - c->vips, sizeof(*v));
		return 0;
	case CMD_BACKEND_ADD:
	case CMD_BACKEND_SET:
	case CMD_BACKEND_DEL:
		return apply_backend(c, v, cmd, svc, err, errlen);
	case CMD_HEALTH_SET:
		if (cmd->health.type != CMD_HEALTH_OFF && cmd->health.via == CMD_VIA_VIP &&
		    v->opts.method == XLB_METHOD_NAT)
			return fail(-EINVAL, "health checks via vip are for DSR VIPs: %s is method "
				    "nat, whose backends answer at their own address and port (use "
				    "via direct)", svc);
		if (cmd->health.type != CMD_HEALTH_OFF && cmd->health.via == CMD_VIA_VIP &&
		    vip_mixed(v))
			return fail(-EINVAL, "health checks via vip cannot probe the IPv6 backends of "
				    "IPv4 VIP %s (the probe path carries a VIP's own family only): "
				    "use via direct", svc);
		v->health = cmd->health;
		return 0;
	case CMD_RATELIMIT_SET:
		v->ratelimit = cmd->ratelimit;
		return 0;
	case CMD_RATELIMIT_OFF:
		memset(&v->ratelimit, 0, sizeof(v->ratelimit));
		return 0;
	default:
		return fail(-EINVAL, "'%s' does not change the configuration", cmd_name(cmd->op));
	}
}

static int apply_text(struct config *c, const char *text, bool node, char *err, size_t errlen)
{
	char *copy = strdup(text), *line, *next, *argv[CMD_ARGS_MAX];
	char msg[256];
	struct config work;
	struct cmd cmd;
	int lineno = 0, argc, ret = 0;

	config_init(&work);
	if (!copy || config_copy(&work, c)) {
		ret = fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (line = copy; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		argc = cmd_split(line, argv, CMD_ARGS_MAX);
		if (argc == 0)
			continue;
		if (argc < 0) {
			ret = fail(-EINVAL, "line %d: too many words", lineno);
			goto out;
		}
		ret = cmd_parse(argc, argv, &cmd, msg, sizeof(msg));
		if (!ret && !cmd_is_config(&cmd))
			ret = -EINVAL, snprintf(msg, sizeof(msg), "'%s' is not a configuration command",
						cmd_name(cmd.op));
		if (!ret && !node && cmd_is_node(&cmd))
			ret = -EINVAL, snprintf(msg, sizeof(msg),
						"'%s' is this node's own state, not part of a service "
						"configuration: run it as a command", cmd_name(cmd.op));
		if (!ret)
			ret = config_apply(&work, &cmd, msg, sizeof(msg));
		if (ret) {
			snprintf(err, errlen, "line %d: %s", lineno, msg);
			goto out;
		}
	}
	config_free(c);
	*c = work;
	config_init(&work);
out:
	config_free(&work);
	free(copy);
	return ret;
}

int config_apply_text(struct config *c, const char *text, char *err, size_t errlen)
{
	return apply_text(c, text, false, err, errlen);
}

int config_load_state(struct config *c, const char *text, char *err, size_t errlen)
{
	return apply_text(c, text, true, err, errlen);
}

/* Append cmd's canonical line to a growing text buffer. */
static int emit(char **text, size_t *len, size_t *cap, const struct cmd *cmd)
{
	char line[CMD_LINE_MAX];
	int n = cmd_format(cmd, line, sizeof(line));
	char *p;

	if (n < 0)
		return n;
	if (*len + n + 2 > *cap) {
		size_t ncap = (*cap + n + 2) * 2;

		p = realloc(*text, ncap);
		if (!p)
			return -ENOMEM;
		*text = p;
		*cap = ncap;
	}
	memcpy(*text + *len, line, n);
	*len += n;
	(*text)[(*len)++] = '\n';
	(*text)[*len] = '\0';
	return 0;
}

/*
 * cmd_format() reads only the fields of the command's op, so one zeroed
 * struct cmd (4.5 KiB: it holds a file name) serves every line: clearing it
 * per line dominated saving 11,000 lines.
 */
static int save(const struct config *c, bool node, char **text, size_t *len)
{
	struct cmd *cmd = calloc(1, sizeof(*cmd));
	size_t cap = 0;
	int err = cmd ? 0 : -ENOMEM;

	*text = NULL;
	*len = 0;
	if (!err && node && c->drained) {
		cmd->op = CMD_NODE_DRAIN;
		err = emit(text, len, &cap, cmd);
	}
	for (size_t i = 0; !err && i < c->n_ifaces; i++) {
		cmd->op = CMD_ATTACH;
		memcpy(cmd->ifname, c->ifaces[i].name, sizeof(cmd->ifname));
		cmd->mode = c->ifaces[i].mode;
		err = emit(text, len, &cap, cmd);
	}
	for (size_t i = 0; !err && i < c->n_vips; i++) {
		const struct cfg_vip *v = &c->vips[i];

		cmd->service = v->key;
		cmd->op = CMD_VIP_ADD;
		cmd->vip = v->opts;
		err = emit(text, len, &cap, cmd);
		cmd->op = CMD_BACKEND_ADD;
		for (size_t j = 0; !err && j < v->n_backends; j++) {
			cmd->backend.addr = v->backends[j].addr;
			cmd->backend.family = v->backends[j].family;
			cmd->backend.port = v->backends[j].port;
			cmd->backend.weight = v->backends[j].weight;
			err = emit(text, len, &cap, cmd);
		}
		if (!err && v->health.type != CMD_HEALTH_OFF) {
			cmd->op = CMD_HEALTH_SET;
			cmd->health = v->health;
			err = emit(text, len, &cap, cmd);
		}
		if (!err && v->ratelimit.rate) {
			cmd->op = CMD_RATELIMIT_SET;
			cmd->ratelimit = v->ratelimit;
			err = emit(text, len, &cap, cmd);
		}
	}
	free(cmd);
	if (!err && !*text) {
		*text = strdup("");
		err = *text ? 0 : -ENOMEM;
	}
	if (err) {
		free(*text);
		*text = NULL;
		*len = 0;
	}
	return err;
}

int config_save(const struct config *c, char **text, size_t *len)
{
	return save(c, false, text, len);
}

int config_save_state(const struct config *c, char **text, size_t *len)
{
	return save(c, true, text, len);
}
