// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The configuration model (ctl/config.c): every configuration command applied and refused,
 * a refused command or file leaving the model exactly as it was, the saved text of a small
 * configuration to the byte, save -> restore -> save for a large one, and deep copies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cmd.h"
#include "config.h"
#include "check.h"


#define SVC4 "10.0.0.10:80/tcp"
#define SVC6 "[fd00::10]:443/tcp"

/* struct cmd holds a PATH_MAX file name: keep it off the stack. */
static struct cmd cmd;
static char err[256];

/* A line as xlbd reads it from xlbctl or the state file: split in place, then parsed. */
static int parse_line(const char *line, struct cmd *c)
{
	static char buf[CMD_LINE_MAX];
	char *argv[CMD_ARGS_MAX];
	int argc, ret;

	check(strlen(line) < sizeof(buf), "test line too long");
	strcpy(buf, line);
	argc = cmd_split(buf, argv, CMD_ARGS_MAX);
	check(argc > 0, "'%s' has words", line);
	ret = cmd_parse(argc, argv, c, err, sizeof(err));
	check(ret == 0, "'%s' parses, got %d: %s", line, ret, err);
	return ret;
}

/* Parse line (it must be good) and apply it; config_apply()'s result, err holds its message. */
static int apply(struct config *c, const char *line)
{
	parse_line(line, &cmd);
	memset(err, 0, sizeof(err));
	return config_apply(c, &cmd, err, sizeof(err));
}

static void apply_ok(struct config *c, const char *line)
{
	int ret = apply(c, line);

	check(ret == 0, "'%s' applies, got %d: %s", line, ret, err);
}

static void apply_fmt(struct config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void apply_fmt(struct config *c, const char *fmt, ...)
{
	char line[CMD_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	apply_ok(c, line);
}

/* config_save() text, which must be as long as it says; the caller frees it. */
static char *save(const struct config *c)
{
	size_t len = 12345;
	char *text = NULL;
	int ret = config_save(c, &text, &len);

	check(ret == 0 && text, "config_save succeeds, got %d", ret);
	check(len == strlen(text), "config_save's length %zu is the text's, %zu", len,
	      strlen(text));
	check(len == 0 || text[len - 1] == '\n', "the saved text ends a line");
	return text;
}

static struct cfg_vip *find_vip(const struct config *c, const char *service)
{
	struct xlb_vip_key key;
	int ret = service_parse(service, &key, err, sizeof(err));

	check(ret == 0, "'%s' is a service: %s", service, err);
	return config_vip(c, &key);
}

static struct cfg_backend *find_backend_port(const struct config *c, const char *service,
					     const char *addr, __u16 port)
{
	struct cfg_vip *v = find_vip(c, service);
	struct xlb_addr a;
	__u8 family;

	check(v, "VIP %s exists", service);
	check(addr_parse(addr, &a, &family) == 0, "'%s' is an address", addr);
	return config_backend(v, &a, family, port);
}

static struct cfg_backend *find_backend(const struct config *c, const char *service,
					const char *addr)
{
	return find_backend_port(c, service, addr, 0);
}

/* Field by field, so that a difference the saved text would not show (an id) is caught too. */
static void check_same(const struct config *a, const struct config *b, const char *what)
{
	check(a->n_vips == b->n_vips, "%s: %zu VIPs, got %zu", what, a->n_vips, b->n_vips);
	check(a->n_ifaces == b->n_ifaces, "%s: %zu interfaces, got %zu", what, a->n_ifaces,
	      b->n_ifaces);
	for (size_t i = 0; i < a->n_ifaces; i++) {
		check(!strcmp(a->ifaces[i].name, b->ifaces[i].name), "%s: interface %zu is %s",
		      what, i, a->ifaces[i].name);
		check(a->ifaces[i].mode == b->ifaces[i].mode, "%s: mode of %s", what,
		      a->ifaces[i].name);
	}
	for (size_t i = 0; i < a->n_vips; i++) {
		const struct cfg_vip *va = &a->vips[i], *vb = &b->vips[i];

		check(!memcmp(&va->key, &vb->key, sizeof(va->key)), "%s: key of VIP %zu", what, i);
		check(!memcmp(&va->opts, &vb->opts, sizeof(va->opts)), "%s: options of VIP %zu",
		      what, i);
		check(!memcmp(&va->health, &vb->health, sizeof(va->health)),
		      "%s: health of VIP %zu", what, i);
		check(!memcmp(&va->ratelimit, &vb->ratelimit, sizeof(va->ratelimit)),
		      "%s: rate limit of VIP %zu", what, i);
		check(va->id == vb->id, "%s: id of VIP %zu", what, i);
		check(va->n_backends == vb->n_backends, "%s: VIP %zu has %zu backends, got %zu",
		      what, i, va->n_backends, vb->n_backends);
		for (size_t j = 0; j < va->n_backends; j++) {
			const struct cfg_backend *ba = &va->backends[j], *bb = &vb->backends[j];

			check(ba->family == bb->family && ba->port == bb->port &&
				      !memcmp(&ba->addr, &bb->addr, sizeof(ba->addr)),
			      "%s: address of backend %zu of VIP %zu", what, j, i);
			check(ba->weight == bb->weight && ba->id == bb->id && ba->gen == bb->gen,
			      "%s: weight, id, gen of backend %zu of VIP %zu", what, j, i);
		}
	}
}

/*
 * line parses but the configuration refuses it with want; err must name needle, and c must be
 * exactly as it was, in its saved text and in every field.
 */
static void refused(struct config *c, const char *line, int want, const char *needle)
{
	struct config before;
	char *text_before, *text_after;
	int ret;

	config_init(&before);
	check(config_copy(&before, c) == 0, "snapshot before '%s'", line);
	text_before = save(c);
	ret = apply(c, line);
	check(ret == want, "'%s' is refused with %d, got %d (%s)", line, want, ret, err);
	check(strstr(err, needle), "the message for '%s' names '%s': '%s'", line, needle, err);
	check(!strchr(err, '\n'), "the message for '%s' is one line: '%s'", line, err);
	text_after = save(c);
	check(!strcmp(text_before, text_after),
	      "'%s' changes nothing, the text was\n%s\nand is\n%s", line, text_before, text_after);
	check_same(&before, c, line);
	free(text_before);
	free(text_after);
	config_free(&before);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* ---- VIPs ---- */

static void test_vip_add(void **state)
{
	struct config c;
	struct cfg_vip *v;

	config_init(&c);
	check(c.n_vips == 0 && c.n_ifaces == 0, "a new configuration is empty");
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "vip add " SVC6 " method l2 hash src ring 1021");
	/* Same address, another port or protocol: other services. */
	apply_ok(&c, "vip add 10.0.0.10:0/tcp");
	apply_ok(&c, "vip add 10.0.0.10:80/udp");
	check(c.n_vips == 4, "four VIPs, got %zu", c.n_vips);

	v = find_vip(&c, SVC4);
	check(v == &c.vips[0], "VIPs keep the order they were added in");
	check(v->opts.method == XLB_METHOD_IPIP && v->opts.hash == CMD_HASH_5TUPLE &&
		      v->opts.ring == XLB_RING_DEFAULT,
	      "defaults of vip add are stored: method %u hash %u ring %u", v->opts.method,
	      v->opts.hash, v->opts.ring);
	check(v->id == CFG_ID_NONE, "a new VIP has no data-plane id yet, got %u", v->id);
	check(v->n_backends == 0 && v->health.type == CMD_HEALTH_OFF && v->ratelimit.rate == 0,
	      "a new VIP has no backends, no health check and no rate limit");

	v = find_vip(&c, SVC6);
	check(v == &c.vips[1], "the IPv6 VIP is second");
	check(v->key.family == XLB_AF_INET6 && v->key.proto == IPPROTO_TCP &&
		      v->key.port == htons(443),
	      "the IPv6 VIP's key");
	check(v->opts.method == XLB_METHOD_L2 && v->opts.hash == CMD_HASH_SRC &&
		      v->opts.ring == 1021,
	      "options of vip add are stored: method %u hash %u ring %u", v->opts.method,
	      v->opts.hash, v->opts.ring);
	check(find_vip(&c, "10.0.0.10:0/tcp") == &c.vips[2], "the all-ports VIP is third");
	check(find_vip(&c, "10.0.0.10:80/udp") == &c.vips[3], "the UDP VIP is fourth");
	check(!find_vip(&c, "10.0.0.11:80/tcp"), "no VIP that was never added");
	config_free(&c);
	check(c.n_vips == 0 && !c.vips, "config_free leaves an empty configuration");
}

static void test_vip_add_duplicate(void **state)
{
	struct config c;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4 " ring 4099");
	apply_ok(&c, "backend add " SVC4 " 10.0.0.1 weight 4");
	apply_ok(&c, "vip add " SVC6);
	refused(&c, "vip add " SVC4, -EEXIST, SVC4);
	/* Other options do not make it another VIP, and do not replace the first one's. */
	refused(&c, "vip add " SVC4 " method l2 hash src ring 1021", -EEXIST, SVC4);
	refused(&c, "vip add [FD00:0::10]:443/tcp", -EEXIST, SVC6);
	check(find_vip(&c, SVC4)->opts.ring == 4099, "the first VIP keeps its ring");
	config_free(&c);
}

static void test_vip_del(void **state)
{
	struct config c;
	char *text;

	config_init(&c);
	refused(&c, "vip del " SVC4, -ENOENT, SVC4);
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "backend add " SVC4 " 10.0.0.1");
	apply_ok(&c, "backend add " SVC4 " 10.0.0.2 weight 2");
	apply_ok(&c, "backend add " SVC4 " 10.0.0.3 weight 3");
	apply_ok(&c, "health set " SVC4 " tcp");
	apply_ok(&c, "ratelimit set " SVC4 " rate 10 burst 20");
	apply_ok(&c, "vip add " SVC6);
	apply_ok(&c, "backend add " SVC6 " fd00::1 weight 9");
	refused(&c, "vip del 10.0.0.10:81/tcp", -ENOENT, "10.0.0.10:81/tcp");
	refused(&c, "vip del 10.0.0.10:80/udp", -ENOENT, "10.0.0.10:80/udp");

	apply_ok(&c, "vip del " SVC4);
	check(c.n_vips == 1 && !find_vip(&c, SVC4), "the VIP is gone");
	check(find_vip(&c, SVC6) == &c.vips[0] && c.vips[0].n_backends == 1 &&
		      c.vips[0].backends[0].weight == 9,
	      "the other VIP keeps its backend");
	refused(&c, "backend add " SVC4 " 10.0.0.4", -ENOENT, SVC4);
	refused(&c, "vip del " SVC4, -ENOENT, SVC4);

	/* Added again, it starts empty: its backends, check and limit went with it. */
	apply_ok(&c, "vip add " SVC4);
	text = save(&c);
	check(!strcmp(text, "vip add " SVC6 " method ipip hash 5tuple ring 65537 announce always\n"
			    "backend add " SVC6 " fd00::1 weight 9\n"
			    "vip add " SVC4 " method ipip hash 5tuple ring 65537 announce always\n"),
	      "a VIP deleted and added again has no backends, health or limit:\n%s", text);
	free(text);

	apply_ok(&c, "vip del " SVC6);
	apply_ok(&c, "vip del " SVC4);
	check(c.n_vips == 0, "no VIPs left");
	config_free(&c);
}

/* ---- backends ---- */

static void test_backend_add_set_del(void **state)
{
	struct config c;
	struct cfg_vip *v;
	struct cfg_backend *b;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "vip add " SVC6);
	apply_ok(&c, "backend add " SVC4 " 10.0.0.1");
	apply_ok(&c, "backend add " SVC4 " 10.0.0.2 weight 5");
	apply_ok(&c, "backend add " SVC4 " 10.0.0.3 weight 0");
	apply_ok(&c, "backend add " SVC4 " 10.0.0.4 weight 65535");
	/* The same host behind two VIPs is two backends. */
	apply_ok(&c, "backend add " SVC6 " fd00::1 weight 2");
	apply_ok(&c, "backend add 10.0.0.10:80/tcp 10.0.0.11");

	v = find_vip(&c, SVC4);
	check(v->n_backends == 5, "five backends, got %zu", v->n_backends);
	check(v->backends[0].weight == CMD_WEIGHT_DEFAULT, "default weight %u, got %u",
	      CMD_WEIGHT_DEFAULT, v->backends[0].weight);
	check(v->backends[1].weight == 5 && v->backends[2].weight == 0 &&
		      v->backends[3].weight == 65535,
	      "weights are stored");
	check(v->backends[0].family == XLB_AF_INET &&
		      v->backends[0].addr.v4 == inet_addr("10.0.0.1"),
	      "the first backend's address");
	b = find_backend(&c, SVC4, "10.0.0.4");
	check(b == &v->backends[3], "backends keep the order they were added in");
	check(b->id == XLB_BACKEND_NONE, "a new backend has no data-plane id yet");
	b = find_backend(&c, SVC6, "fd00::1");
	check(b && b->weight == 2 && b->family == XLB_AF_INET6, "the IPv6 backend");
	check(!find_backend(&c, SVC6, "fd00::2"), "no backend that was never added");

	apply_ok(&c, "backend set " SVC4 " 10.0.0.2 weight 0");
	check(find_backend(&c, SVC4, "10.0.0.2")->weight == 0, "weight 0 is stored (drain)");
	apply_ok(&c, "backend set " SVC4 " 10.0.0.3 weight 300");
	check(find_backend(&c, SVC4, "10.0.0.3")->weight == 300, "a drained backend comes back");
	check(v->backends[1].weight == 0 && v->n_backends == 5, "set changes only its backend");

	apply_ok(&c, "backend del " SVC4 " 10.0.0.1");
	apply_ok(&c, "backend del " SVC4 " 10.0.0.4");
	check(v->n_backends == 3, "two deleted, three left, got %zu", v->n_backends);
	check(!find_backend(&c, SVC4, "10.0.0.1") && !find_backend(&c, SVC4, "10.0.0.4"),
	      "the deleted backends are gone");
	check(v->backends[0].addr.v4 == inet_addr("10.0.0.2") && v->backends[0].weight == 0 &&
		      v->backends[1].addr.v4 == inet_addr("10.0.0.3") &&
		      v->backends[1].weight == 300 &&
		      v->backends[2].addr.v4 == inet_addr("10.0.0.11"),
	      "the others keep their order and weights");
	check(find_vip(&c, SVC6)->n_backends == 1, "the other VIP's backends are untouched");

	/* Deleted, a backend can be added again: at the end, with its new weight. */
	apply_ok(&c, "backend add " SVC4 " 10.0.0.1 weight 8");
	check(v->n_backends == 4 && v->backends[3].weight == 8, "a backend added again");
	config_free(&c);
}

static void test_backend_refused(void **state)
{
	struct config c;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "backend add " SVC4 " 10.0.0.1 weight 3");
	apply_ok(&c, "vip add " SVC6);
	apply_ok(&c, "backend add " SVC6 " fd00::1");

	refused(&c, "backend add " SVC4 " 10.0.0.1", -EEXIST, "10.0.0.1");
	refused(&c, "backend add " SVC4 " 10.0.0.1 weight 9", -EEXIST, SVC4);
	refused(&c, "backend add " SVC6 " fd00:0::1", -EEXIST, "fd00::1");
	check(find_backend(&c, SVC4, "10.0.0.1")->weight == 3, "a duplicate keeps the old weight");

	refused(&c, "backend set " SVC4 " 10.0.0.2 weight 1", -ENOENT, "10.0.0.2");
	refused(&c, "backend set " SVC4 " 10.0.0.2 weight 1", -ENOENT, SVC4);
	refused(&c, "backend del " SVC4 " 10.0.0.2", -ENOENT, "10.0.0.2");
	refused(&c, "backend del " SVC6 " fd00::2", -ENOENT, "fd00::2");
	/* A backend of one VIP is unknown to another. */
	refused(&c, "backend set 10.0.0.10:81/tcp 10.0.0.1 weight 1", -ENOENT, "10.0.0.10:81/tcp");

	refused(&c, "backend add 10.0.0.20:80/tcp 10.0.0.1", -ENOENT, "10.0.0.20:80/tcp");
	refused(&c, "backend set 10.0.0.20:80/tcp 10.0.0.1 weight 2", -ENOENT, "10.0.0.20:80/tcp");
	refused(&c, "backend del 10.0.0.20:80/tcp 10.0.0.1", -ENOENT, "10.0.0.20:80/tcp");
	refused(&c, "backend add [fd00::20]:443/tcp fd00::1", -ENOENT, "[fd00::20]:443/tcp");

	/* IPv4 inside IPv6: ipip and gue can, l2 cannot. */
	apply_ok(&c, "backend add " SVC4 " fd00::4");
	apply_ok(&c, "vip add 10.0.0.30:80/tcp method gue");
	apply_ok(&c, "backend add 10.0.0.30:80/tcp fd00::4");
	apply_ok(&c, "vip add 10.0.0.31:80/tcp method l2");
	refused(&c, "backend add 10.0.0.31:80/tcp fd00::4", -EINVAL, "method l2");
	check(find_backend(&c, SVC4, "fd00::4"), "an IPv6 backend of an IPv4 ipip VIP");
	/* Probes via the VIP carry the VIP's family only. */
	refused(&c, "health set " SVC4 " tcp via vip", -EINVAL, "via direct");
	apply_ok(&c, "health set " SVC4 " tcp via direct");
	apply_ok(&c, "vip add 10.0.0.32:80/tcp");
	apply_ok(&c, "health set 10.0.0.32:80/tcp tcp via vip");
	refused(&c, "backend add 10.0.0.32:80/tcp fd00::4", -EINVAL, "checked via vip");
	config_free(&c);
}

/* method nat: backend ports, identity by address and port, and what nat and DSR refuse. */
static void test_nat(void **state)
{
	static const struct {
		const char *line;
		int ret;
		const char *needle;
	} refusals[] = {
		{ "backend add " SVC4 " 10.0.0.1:8080", -EINVAL,
		  "backend 10.0.0.1:8080: backend port needs method nat: ipip, gue and l2 deliver "
		  "the client's packet unchanged" },
		{ "backend add 10.0.0.30:80/tcp 10.0.0.3:80", -EINVAL, "backend port needs method nat" },
		{ "backend add 10.0.0.31:80/tcp 10.0.0.3:80", -EINVAL, "backend port needs method nat" },
		{ "backend add " SVC6 " [fd00::3]:80", -EINVAL, "backend port needs method nat" },
		{ "backend add 10.0.0.40:80/tcp fd00::4", -EINVAL,
		  "backend fd00::4 is IPv6 but VIP 10.0.0.40:80/tcp is IPv4 of method nat" },
		{ "backend add 10.0.0.40:80/tcp [fd00::4]:8080", -EINVAL, "(no NAT46)" },
		{ "backend add 10.0.0.40:80/tcp 10.0.0.2:8080", -EEXIST,
		  "backend 10.0.0.2:8080 already in 10.0.0.40:80/tcp" },
		{ "backend add [fd00::40]:80/tcp [fd00::2]:8080", -EEXIST, "[fd00::2]:8080 already" },
		/* Identity is address and port: 10.0.0.2 alone is another backend. */
		{ "backend set 10.0.0.40:80/tcp 10.0.0.2 weight 3", -ENOENT,
		  "no backend 10.0.0.2 in 10.0.0.40:80/tcp (a backend is its address and port: "
		  "there is 10.0.0.2:8080)" },
		{ "backend del 10.0.0.40:80/tcp 10.0.0.2:9999", -ENOENT, "there is 10.0.0.2:8080" },
		{ "backend del [fd00::40]:80/tcp fd00::2", -ENOENT, "there is [fd00::2]:8080" },
		{ "backend del 10.0.0.40:80/tcp 10.0.0.9:8080", -ENOENT,
		  "no backend 10.0.0.9:8080 in 10.0.0.40:80/tcp" },
		{ "health set 10.0.0.40:80/tcp tcp via vip", -EINVAL,
		  "health checks via vip are for DSR VIPs: 10.0.0.40:80/tcp is method nat" },
		{ "backend add 10.0.0.40:80/tcp 10.0.0.40:8080", -EINVAL, "is the address of VIP" },
	};
	struct config c;
	struct cfg_vip *v;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "vip add " SVC6);
	apply_ok(&c, "vip add 10.0.0.30:80/tcp method gue");
	apply_ok(&c, "vip add 10.0.0.31:80/tcp method l2");
	apply_ok(&c, "vip add 10.0.0.40:80/tcp method nat snat 10.9.0.1 snat-ports 2000-2999 "
		     "fin-timeout 2s");
	apply_ok(&c, "vip add [fd00::40]:80/tcp method nat");
	apply_ok(&c, "backend add 10.0.0.40:80/tcp 10.0.0.2:8080");
	apply_ok(&c, "backend add 10.0.0.40:80/tcp 10.0.0.2:8081 weight 2");
	apply_ok(&c, "backend add 10.0.0.40:80/tcp 10.0.0.3");
	apply_ok(&c, "backend add [fd00::40]:80/tcp [fd00::2]:8080");
	apply_ok(&c, "health set 10.0.0.40:80/tcp http port 8080 via direct");
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++)
		refused(&c, refusals[i].line, refusals[i].ret, refusals[i].needle);

	v = find_vip(&c, "10.0.0.40:80/tcp");
	check(v->opts.method == XLB_METHOD_NAT && v->opts.snat.n == 1 &&
		      v->opts.snat_port_lo == 2000 && v->opts.snat_port_hi == 2999 &&
		      v->opts.fin_timeout_ms == 2000 && v->opts.tcp_timeout_ms == 900000,
	      "nat options are stored");
	check(v->n_backends == 3, "three backends, two at one address, got %zu", v->n_backends);
	check(find_backend_port(&c, "10.0.0.40:80/tcp", "10.0.0.2", 8081)->weight == 2 &&
		      find_backend_port(&c, "10.0.0.40:80/tcp", "10.0.0.2", 8080)->weight == 1,
	      "10.0.0.2:8080 and 10.0.0.2:8081 are two backends");
	apply_ok(&c, "backend set 10.0.0.40:80/tcp 10.0.0.2:8080 weight 0");
	check(find_backend_port(&c, "10.0.0.40:80/tcp", "10.0.0.2", 8080)->weight == 0 &&
		      find_backend_port(&c, "10.0.0.40:80/tcp", "10.0.0.2", 8081)->weight == 2,
	      "set changes the one of that port");
	apply_ok(&c, "backend del 10.0.0.40:80/tcp 10.0.0.2:8081");
	check(!find_backend_port(&c, "10.0.0.40:80/tcp", "10.0.0.2", 8081) &&
		      find_backend_port(&c, "10.0.0.40:80/tcp", "10.0.0.2", 8080),
	      "del removes the one of that port");
	/* A VIP address that is a backend's, whatever the port, loops. */
	refused(&c, "vip add 10.0.0.2:8080/tcp", -EINVAL, "VIP address 10.0.0.2 is a backend of "
							 "10.0.0.40:80/tcp");
	config_free(&c);
}

/* ---- interfaces ---- */

/* A backend at the address of any VIP of this balancer: its packets would come back here. */
static void test_backend_loop(void **state)
{
	struct config c;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "vip add 10.0.0.20:53/udp");
	apply_ok(&c, "backend add 10.0.0.20:53/udp 10.0.0.21");
	refused(&c, "backend add " SVC4 " 10.0.0.10", -EINVAL,
		"backend 10.0.0.10 is the address of VIP 10.0.0.10:80/tcp");
	refused(&c, "backend add " SVC4 " 10.0.0.20", -EINVAL, "address of VIP 10.0.0.20:53/udp");
	refused(&c, "vip add 10.0.0.21:80/tcp", -EINVAL,
		"VIP address 10.0.0.21 is a backend of 10.0.0.20:53/udp");
	apply_ok(&c, "vip add " SVC6);
	refused(&c, "backend add " SVC6 " fd00::10", -EINVAL, "[fd00::10]:443/tcp");
	/* The same bits in the other family are another host. */
	apply_ok(&c, "backend add " SVC4 " 10.0.0.22");
	config_free(&c);
}

/* Backends past a VIP's ring slots would get no traffic: refused, whatever the limits. */
static void test_backends_fill_ring(void **state)
{
	struct config c;
	char needle[64];

	config_init(&c);
	apply_ok(&c, "vip add " SVC4 " ring 1021");
	for (int i = 0; i < 1021; i++)
		apply_fmt(&c, "backend add " SVC4 " 10.1.%d.%d", i >> 8, i & 255);
	snprintf(needle, sizeof(needle), "the ring of %s has 1021 slots", SVC4);
	refused(&c, "backend add " SVC4 " 10.2.0.1", -ENOSPC, needle);
	/* A deleted backend frees its slot. */
	apply_ok(&c, "backend del " SVC4 " 10.1.0.0");
	apply_ok(&c, "backend add " SVC4 " 10.2.0.1");
	check(c.n_backends == 1021, "1021 backends counted, got %zu", c.n_backends);
	config_free(&c);
}

/* This host: the IPv4 address in ctx, and fd00::1; 10.0.0.250 cannot be told. */
static int fake_local(void *ctx, const struct xlb_addr *addr, __u8 family, char *ifname)
{
	const struct xlb_addr *host = ctx, v6 = { .b = { 0xfd, [15] = 1 } };

	if (family == XLB_AF_INET && addr->v4 == inet_addr("10.0.0.250"))
		return -EIO;
	if (memcmp(addr, family == XLB_AF_INET ? host : &v6, sizeof(*addr)))
		return 0;
	strcpy(ifname, "eth7");
	return 1;
}

/*
 * The data plane's capacity and the host's addresses: refused at the command (a restore file
 * at the line) that crosses them, the limits kept by copies and by a file's transaction.
 */
static void test_limits(void **state)
{
	struct xlb_addr host = { .v4 = inet_addr("10.0.0.1") };
	struct cfg_limits limits = { .max_vips = 3, .max_backends = 4, .local = fake_local,
				     .ctx = &host };
	struct config c, copy;
	char *file;
	int ret;

	config_init(&c);
	config_init(&copy);
	c.limits = &limits;
	apply_ok(&c, "vip add 10.0.0.1:22/tcp");
	refused(&c, "vip add 10.0.0.1:0/tcp", -EINVAL,
		"all-ports VIP 10.0.0.1:0/tcp is an address of this host (on eth7): it would take "
		"all of the host's own TCP traffic");
	refused(&c, "vip add 10.0.0.1:0/udp", -EINVAL, "own UDP traffic");
	refused(&c, "vip add 10.0.0.250:0/udp", -EIO, "cannot tell whether");
	refused(&c, "vip add [fd00::1]:0/tcp", -EINVAL,
		"all-ports VIP [fd00::1]:0/tcp is an address of this host (on eth7)");
	apply_ok(&c, "vip add 10.0.0.2:0/udp");
	apply_ok(&c, "vip add " SVC4);
	refused(&c, "vip add 10.0.0.3:80/tcp", -ENOSPC,
		"no room for VIP 10.0.0.3:80/tcp: the data plane holds at most 3 VIPs");
	for (int i = 1; i <= 4; i++)
		apply_fmt(&c, "backend add %s 10.1.0.%d", i & 1 ? SVC4 : "10.0.0.2:0/udp", i);
	refused(&c, "backend add " SVC4 " 10.1.0.9", -ENOSPC,
		"the data plane holds at most 4 backends, of all VIPs together");
	check(config_copy(&copy, &c) == 0 && copy.limits == &limits && copy.n_backends == 4,
	      "a copy keeps the limits and the count");
	refused(&copy, "backend add " SVC4 " 10.1.0.9", -ENOSPC, "at most 4 backends");
	apply_ok(&c, "vip del 10.0.0.2:0/udp");
	check(c.n_backends == 2, "vip del gives back its backends' room, %zu", c.n_backends);
	apply_ok(&c, "backend add " SVC4 " 10.1.0.9");

	/* An address that came to this host after vip add: attach looks again. */
	host.v4 = inet_addr("10.0.0.2");
	refused(&copy, "attach eth0", -EINVAL, "all-ports VIP 10.0.0.2:0/udp is an address of");
	check(config_check_local(&copy, err, sizeof(err)) == -EINVAL, "config_check_local sees it");
	host.v4 = inet_addr("10.0.0.3");
	check(config_check_local(&copy, err, sizeof(err)) == 0, "and nothing once it is gone");
	apply_ok(&copy, "attach eth0");

	/* A restore file over the limit: refused at the line that crosses it, c unchanged. */
	file = "vip add 10.0.0.5:80/tcp\n"
	       "backend add 10.0.0.5:80/tcp 10.2.0.1\n"
	       "backend add 10.0.0.5:80/tcp 10.2.0.2\n"
	       "# comment\n"
	       "backend add 10.0.0.5:80/tcp 10.2.0.3\n"
	       "backend add 10.0.0.5:80/tcp 10.2.0.4\n"
	       "backend add 10.0.0.5:80/tcp 10.2.0.5\n";
	config_free(&copy);
	config_init(&copy);
	copy.limits = &limits;
	ret = config_apply_text(&copy, file, err, sizeof(err));
	check(ret == -ENOSPC && !strncmp(err, "line 7: no room for backend 10.2.0.5", 36),
	      "the fifth backend's line is refused, got %d: %s", ret, err);
	check(copy.n_vips == 0 && copy.n_backends == 0 && copy.limits == &limits,
	      "a refused file leaves the configuration (and its limits) as it was");
	config_free(&copy);
	config_free(&c);
}

static void test_attach_detach(void **state)
{
	struct config c;
	struct cfg_iface *ifc;

	config_init(&c);
	refused(&c, "detach eth0", -ENOENT, "eth0");
	apply_ok(&c, "attach eth0");
	apply_ok(&c, "attach veth-lb1 mode generic");
	apply_ok(&c, "attach eth1 mode native");
	check(c.n_ifaces == 3, "three interfaces, got %zu", c.n_ifaces);
	ifc = config_iface(&c, "eth0");
	check(ifc == &c.ifaces[0] && ifc->mode == CMD_MODE_DEFAULT,
	      "eth0 first, in the default mode");
	ifc = config_iface(&c, "veth-lb1");
	check(ifc == &c.ifaces[1] && ifc->mode == CMD_MODE_GENERIC, "veth-lb1 in generic mode");
	check(!config_iface(&c, "eth"), "interfaces are found by their whole name");

	refused(&c, "attach eth0", -EEXIST, "eth0");
	refused(&c, "attach eth0 mode generic", -EEXIST, "eth0");
	refused(&c, "detach eth2", -ENOENT, "eth2");

	apply_ok(&c, "detach eth0");
	check(c.n_ifaces == 2 && !config_iface(&c, "eth0"), "eth0 is detached");
	check(!strcmp(c.ifaces[0].name, "veth-lb1") && !strcmp(c.ifaces[1].name, "eth1"),
	      "the others keep their order");
	refused(&c, "detach eth0", -ENOENT, "eth0");
	apply_ok(&c, "attach eth0 mode generic");
	check(config_iface(&c, "eth0") == &c.ifaces[2] && c.ifaces[2].mode == CMD_MODE_GENERIC,
	      "attached again, last, in its new mode");
	config_free(&c);
}

/* ---- health checks and rate limits ---- */

static void test_health_ratelimit(void **state)
{
	struct config c;
	struct cfg_vip *v;
	char *text;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "vip add 10.0.0.10:0/udp");
	v = find_vip(&c, SVC4);

	apply_ok(&c, "health set " SVC4 " tcp interval 2s rise 4");
	check(v->health.type == CMD_HEALTH_TCP && v->health.interval_ms == 2000 &&
		      v->health.timeout_ms == CMD_TIMEOUT_DEFAULT_MS && v->health.rise == 4 &&
		      v->health.fall == CMD_FALL_DEFAULT && v->health.port == 0,
	      "a tcp check is stored with its defaults");
	apply_ok(&c, "health set " SVC4 " http path /ready status 204 port 8080 timeout 100ms");
	check(v->health.type == CMD_HEALTH_HTTP && !strcmp(v->health.path, "/ready") &&
		      v->health.status == 204 && v->health.port == 8080 &&
		      v->health.timeout_ms == 100 &&
		      v->health.interval_ms == CMD_INTERVAL_DEFAULT_MS &&
		      v->health.rise == CMD_RISE_DEFAULT,
	      "an http check replaces the tcp one, nothing of it left over");
	apply_ok(&c, "health set 10.0.0.10:0/udp tcp port 53");
	check(c.vips[1].health.port == 53, "an all-ports VIP's check port");

	apply_ok(&c, "ratelimit set " SVC4 " rate 1000 burst 50");
	check(v->ratelimit.rate == 1000 && v->ratelimit.burst == 50, "the rate limit is stored");
	apply_ok(&c, "ratelimit set " SVC4 " burst 7 rate 100000000");
	check(v->ratelimit.rate == 100000000 && v->ratelimit.burst == 7, "and replaced");
	check(c.vips[1].ratelimit.rate == 0, "the other VIP has no limit");

	text = save(&c);
	check(strstr(text, "\nhealth set " SVC4 " http path /ready status 204 port 8080 "
			   "interval 1s timeout 100ms rise 2 fall 3 via direct\n") &&
		      strstr(text, "\nratelimit set " SVC4 " rate 100000000 burst 7\n"),
	      "the check and the limit are saved:\n%s", text);
	free(text);

	apply_ok(&c, "ratelimit off " SVC4);
	check(v->ratelimit.rate == 0 && v->ratelimit.burst == 0, "the rate limit is off");
	apply_ok(&c, "health set " SVC4 " off");
	check(v->health.type == CMD_HEALTH_OFF && v->health.port == 0 && v->health.path[0] == '\0',
	      "the check is off and cleared");
	text = save(&c);
	check(!strstr(text, "health set " SVC4) && !strstr(text, "ratelimit"),
	      "what is off is not saved:\n%s", text);
	check(strstr(text, "health set 10.0.0.10:0/udp tcp port 53 "), "the other check stays");
	free(text);

	refused(&c, "health set 10.0.0.20:80/tcp tcp", -ENOENT, "10.0.0.20:80/tcp");
	refused(&c, "health set 10.0.0.20:80/tcp off", -ENOENT, "10.0.0.20:80/tcp");
	refused(&c, "ratelimit set 10.0.0.20:80/tcp rate 1 burst 1", -ENOENT, "10.0.0.20:80/tcp");
	refused(&c, "ratelimit off [fd00::20]:80/udp", -ENOENT, "[fd00::20]:80/udp");
	config_free(&c);
}

/* Commands that only read, or that a daemon does not keep, are not the model's. */
static void test_not_config(void **state)
{
	static const char *const lines[] = {
		"vip list", "vip show " SVC4, "backend list", "health show", "top", "stats",
		"save", "restore", "status", "decap attach eth0", "help",
	};
	struct config c;

	config_init(&c);
	apply_ok(&c, "vip add " SVC4);
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		char name[32];

		parse_line(lines[i], &cmd);
		snprintf(name, sizeof(name), "%s", cmd_name(cmd.op));
		refused(&c, lines[i], -EINVAL, name);
	}
	config_free(&c);
}

/* ---- saved text ---- */

static const char small_expected[] =
	"attach eth0 mode generic\n"
	"attach eth1 mode native\n"
	"vip add 10.0.0.10:80/tcp method ipip hash 5tuple ring 65537 announce always\n"
	"backend add 10.0.0.10:80/tcp 10.0.0.1 weight 3\n"
	"backend add 10.0.0.10:80/tcp 10.0.0.2 weight 7\n"
	"health set 10.0.0.10:80/tcp tcp port 0 interval 2s timeout 500ms rise 2 fall 5 via direct\n"
	"ratelimit set 10.0.0.10:80/tcp rate 1000 burst 200\n"
	"vip add [fd00::10]:443/tcp method l2 hash src ring 1021 announce always\n"
	"backend add [fd00::10]:443/tcp fd00::2 weight 0\n"
	"health set [fd00::10]:443/tcp http path /healthz status 204 port 8443 interval 250ms "
	"timeout 250ms rise 2 fall 3 via direct\n"
	"vip add 10.0.0.20:0/udp method l2 hash 5tuple ring 65537 announce always\n"
	"backend add 10.0.0.20:0/udp 10.0.0.21 weight 65535\n"
	"vip add 10.0.0.50:80/tcp method nat hash 5tuple ring 65537 announce always snat "
	"10.9.0.1,10.9.0.2 snat-ports 2000-2999 tcp-timeout 900s fin-timeout 10s udp-timeout 30s\n"
	"backend add 10.0.0.50:80/tcp 10.0.0.51:8080 weight 1\n"
	"backend add 10.0.0.50:80/tcp 10.0.0.51:8081 weight 1\n"
	"backend add 10.0.0.50:80/tcp 10.0.0.52 weight 1\n"
	"vip add [fd00::50]:53/udp method nat hash src ring 65537 announce always snat-ports "
	"1024-32767 tcp-timeout 900s fin-timeout 10s udp-timeout 300s\n"
	"backend add [fd00::50]:53/udp [fd00::51]:5353 weight 4\n";

/* small_expected, said the way a person types it: prefixes, defaults left out, any order. */
static void build_small(struct config *c)
{
	apply_ok(c, "at eth0 mode generic");
	apply_ok(c, "v a 10.0.0.10:80/tcp");
	apply_ok(c, "b a 10.0.0.10:80/tcp 10.0.0.1");
	apply_ok(c, "backend add 10.0.0.10:80/tcp 10.0.0.2 weight 7");
	apply_ok(c, "backend set 10.0.0.10:80/tcp 10.0.0.1 weight 3");
	apply_ok(c, "health set 10.0.0.10:80/tcp tcp fall 5 interval 2s");
	apply_ok(c, "ra s 10.0.0.10:80/tcp burst 200 rate 1000");
	apply_ok(c, "vip add [fd00::10]:443/tcp ring 1021 hash src method l2");
	apply_ok(c, "backend add [fd00::10]:443/tcp FD00:0:0::2 weight 0");
	/* timeout left out: the default 500ms is lowered to the 250ms interval. */
	apply_ok(c, "health set [fd00::10]:443/tcp http port 8443 status 204 interval 250ms "
		    "path /healthz");
	apply_ok(c, "vip add 10.0.0.20:0/udp method l2");
	apply_ok(c, "backend add 10.0.0.20:0/udp 10.0.0.21 weight 65535");
	apply_ok(c, "vip add 10.0.0.50:80/tcp udp-timeout 30000ms snat-ports 2000-2999 method nat "
		    "snat 10.9.0.1,10.9.0.2");
	apply_ok(c, "backend add 10.0.0.50:80/tcp 10.0.0.51:8080");
	apply_ok(c, "backend add 10.0.0.50:80/tcp 10.0.0.51:8081");
	apply_ok(c, "backend add 10.0.0.50:80/tcp 10.0.0.52:0");
	apply_ok(c, "vip add [fd00::50]:53/udp method nat hash src");
	apply_ok(c, "backend add [fd00::50]:53/udp [FD00::51]:5353 weight 4");
	apply_ok(c, "attach eth1");
}

static void test_save_exact(void **state)
{
	static char line[CMD_LINE_MAX], canon[CMD_LINE_MAX];
	struct config c;
	const char *p, *nl;
	char *text;
	int n;

	config_init(&c);
	text = save(&c);
	check(text[0] == '\0', "an empty configuration saves as no lines, got '%s'", text);
	free(text);

	build_small(&c);
	text = save(&c);
	check(!strcmp(text, small_expected), "the saved text is\n%s\nexpected\n%s", text,
	      small_expected);
	free(text);

	/* Each expected line is cmd_format()'s own canonical text of itself. */
	for (p = small_expected; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		parse_line(line, &cmd);
		n = cmd_format(&cmd, canon, sizeof(canon));
		check(n == (int)strlen(line) && !strcmp(canon, line),
		      "'%s' is canonical, cmd_format() gives '%s'", line, canon);
		check(cmd_is_config(&cmd), "'%s' is a configuration command", line);
	}
	config_free(&c);
}

/* A configuration with a bit of everything, n VIPs of it. */
static size_t build_large(struct config *c, size_t n)
{
	static const unsigned int rings[] = { 65537, 1021, 4099, 1048573, 8191 };
	size_t lines = 0;

	apply_ok(c, "attach veth0");
	apply_ok(c, "attach veth1 mode generic");
	lines += 2;
	for (size_t i = 0; i < n; i++) {
		bool v6 = i % 3 == 2;
		const char *proto = i % 2 ? "udp" : "tcp";
		unsigned int port = i % 5 == 0 ? 0 : 1000 + i;
		char svc[SERVICE_STRLEN];

		if (v6)
			snprintf(svc, sizeof(svc), "[fd00:1::%zx]:%u/%s", i + 1, port, proto);
		else
			snprintf(svc, sizeof(svc), "10.1.%zu.%zu:%u/%s", i / 200, i % 200 + 1, port,
				 proto);
		bool nat = i % 8 == 2 || i % 8 == 6;

		apply_fmt(c, "vip add %s method %s hash %s ring %u", svc,
			  nat ? (i % 16 == 2 ? "nat snat-ports 5000-5999 tcp-timeout 60s" :
				 v6 ? "nat snat fd00:9::1,fd00:9::2" : "nat snat 10.9.0.1") :
			  i % 4 == 3 ? "l2" : i % 4 == 1 ? "gue encap-port 7000" : "ipip",
			  i % 3 == 1 ? "src" : "5tuple", rings[i % ARRAY_SIZE(rings)]);
		lines++;
		for (size_t j = 0; j < i % 7; j++) {
			unsigned int weight = (i * 131 + j * 977) % (CMD_WEIGHT_MAX + 1);

			/* nat backends have a port now and then, one address two ports. */
			if (nat && v6)
				apply_fmt(c, "backend add %s [fd00:2::%zx:%zx]:%zu weight %u", svc,
					  i, j / 2 + 1, 8000 + j % 2, weight);
			else if (nat)
				apply_fmt(c, "backend add %s 10.2.%zu.%zu:%zu weight %u", svc, i,
					  j / 2 + 1, j % 3 ? 8000 + j : 0, weight);
			/* IPv4 VIPs of ipip or gue take an IPv6 backend now and then. */
			else if (v6 || (i % 4 != 3 && j == 5))
				apply_fmt(c, "backend add %s fd00:2::%zx:%zx weight %u", svc, i,
					  j + 1, weight);
			else
				apply_fmt(c, "backend add %s 10.2.%zu.%zu weight %u", svc, i, j + 1,
					  weight);
			lines++;
		}
		switch (i % 4) {
		case 0:
			apply_fmt(c, "health set %s tcp port %zu", svc, 9000 + i);
			lines++;
			break;
		case 1:
			apply_fmt(c, "health set %s http path /h%zu status 204 port 8080 "
				     "interval 1500ms timeout 250ms", svc, i);
			lines++;
			break;
		case 3:
			apply_fmt(c, "health set %s tcp port 22 interval 100ms rise 5 fall 1", svc);
			lines++;
			break;
		}
		if (i % 3 == 0) {
			apply_fmt(c, "ratelimit set %s rate %zu burst %zu", svc, 1000 + i, 10 + i);
			lines++;
		}
	}
	return lines;
}

static void test_round_trip(void **state)
{
	struct config c, fresh;
	char *text, *again;
	size_t lines;
	int ret;

	config_init(&c);
	config_init(&fresh);
	lines = build_large(&c, 50);
	check(c.n_vips == 50 && c.n_ifaces == 2, "50 VIPs and 2 interfaces, got %zu and %zu",
	      c.n_vips, c.n_ifaces);
	text = save(&c);
	check(count_lines(text) == lines, "one saved line per command: %zu, got %zu", lines,
	      count_lines(text));

	ret = config_apply_text(&fresh, text, err, sizeof(err));
	check(ret == 0, "the saved text restores, got %d: %s", ret, err);
	again = save(&fresh);
	check(!strcmp(text, again), "save -> restore -> save gives the same text");
	check_same(&c, &fresh, "restored configuration");
	free(again);

	/* And once more from the restored copy: a fixed point. */
	config_free(&fresh);
	ret = config_apply_text(&fresh, text, err, sizeof(err));
	check(ret == 0, "restores again, got %d: %s", ret, err);
	again = save(&fresh);
	check(!strcmp(text, again), "twice the same text");
	free(again);
	free(text);
	config_free(&fresh);
	config_free(&c);
}

/* ---- files ---- */

static void test_text_all_or_nothing(void **state)
{
	static const struct {
		const char *line7;
		int ret;
		const char *needle;
	} cases[] = {
		/* Refused by the model, against what the file itself added. */
		{ "backend add 10.0.0.30:53/udp 10.0.0.31 weight 2", -EEXIST, "10.0.0.31" },
		{ "vip add 10.0.0.30:53/udp method l2", -EEXIST, "10.0.0.30:53/udp" },
		{ "attach eth2", -EEXIST, "eth2" },
		/* ... against what was there before the file. */
		{ "vip add " SVC4, -EEXIST, SVC4 },
		{ "attach eth0", -EEXIST, "eth0" },
		{ "backend del " SVC4 " 10.0.0.2", -ENOENT, "10.0.0.2" },
		/* ... against what the file deleted. */
		{ "backend set " SVC4 " 10.0.0.9 weight 1", -ENOENT, "10.0.0.9" },
		{ "ratelimit off 10.0.0.99:80/tcp", -ENOENT, "10.0.0.99:80/tcp" },
		/* Refused by the parser. */
		{ "vip add 10.0.0.300:80/tcp", -EINVAL, "10.0.0.300" },
		{ "backend add [fd00::30]:53/udp 10.0.0.1", -EINVAL, "10.0.0.1" },
		{ "backend add 10.0.0.30:53/udp 10.0.0.33 weight 65536", -EINVAL, "65536" },
		{ "vip add 10.0.0.50:80/tcp ring 1024", -EINVAL, "1024" },
		{ "frobnicate 10.0.0.1", -EINVAL, "frobnicate" },
		{ "vip add 10.0.0.50:80/tcp # a note", -EINVAL, "#" },
		/* Not configuration. */
		{ "status", -EINVAL, "status" },
	};
	static char file[4096];
	struct config c, before;
	char *text_before, *text_after;
	int ret;

	config_init(&c);
	config_init(&before);
	apply_ok(&c, "attach eth0");
	apply_ok(&c, "vip add " SVC4);
	apply_ok(&c, "backend add " SVC4 " 10.0.0.9 weight 4");
	apply_ok(&c, "health set " SVC4 " tcp");
	apply_ok(&c, "ratelimit set " SVC4 " rate 5 burst 5");
	c.vips[0].id = 3;	/* placed in the data plane, as the daemon would have */
	c.vips[0].backends[0].id = 12;
	c.vips[0].backends[0].gen = 2;
	check(config_copy(&before, &c) == 0, "snapshot");
	text_before = save(&c);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(file, sizeof(file),
			 "# xlb configuration\n"				/* 1 */
			 "attach eth2 mode generic\n"				/* 2 */
			 "vip add 10.0.0.30:53/udp\n"				/* 3 */
			 "backend add 10.0.0.30:53/udp 10.0.0.31\n"		/* 4 */
			 "\n"							/* 5 */
			 "backend del " SVC4 " 10.0.0.9\n"			/* 6 */
			 "%s\n"							/* 7 */
			 "vip add 10.0.0.40:80/tcp\n",				/* 8 */
			 cases[i].line7);
		memset(err, 0, sizeof(err));
		ret = config_apply_text(&c, file, err, sizeof(err));
		check(ret == cases[i].ret, "line 7 '%s': %d, got %d (%s)", cases[i].line7,
		      cases[i].ret, ret, err);
		check(!strncmp(err, "line 7: ", 8),
		      "the message for '%s' starts with 'line 7: ': '%s'", cases[i].line7, err);
		check(strstr(err, cases[i].needle), "the message for '%s' names '%s': '%s'",
		      cases[i].line7, cases[i].needle, err);
		text_after = save(&c);
		check(!strcmp(text_before, text_after), "a bad line 7 '%s' changes nothing:\n%s",
		      cases[i].line7, text_after);
		free(text_after);
		check_same(&before, &c, cases[i].line7);
	}

	/* The same file with a good line 7 applies, on top of what was there. */
	snprintf(file, sizeof(file),
		 "# xlb configuration\nattach eth2 mode generic\nvip add 10.0.0.30:53/udp\n"
		 "backend add 10.0.0.30:53/udp 10.0.0.31\n\nbackend del " SVC4 " 10.0.0.9\n"
		 "backend add 10.0.0.30:53/udp 10.0.0.32 weight 2\nvip add 10.0.0.40:80/tcp\n");
	ret = config_apply_text(&c, file, err, sizeof(err));
	check(ret == 0, "the good file applies, got %d: %s", ret, err);
	check(c.n_ifaces == 2 && c.n_vips == 3 && find_vip(&c, SVC4)->n_backends == 0 &&
		      find_vip(&c, "10.0.0.30:53/udp")->n_backends == 2,
	      "all of the good file is applied");
	check(find_vip(&c, SVC4)->id == 3, "a VIP the file did not touch keeps its id");
	free(text_before);
	config_free(&before);
	config_free(&c);
}

static void test_text_comments(void **state)
{
	static const char file[] =
		"# Written by hand.\n"
		"\n"
		"   \t \n"
		"    # indented comment\n"
		"#vip add 10.0.0.99:80/tcp\n"
		"attach eth0 mode generic\r\n"
		"\tvip add 10.0.0.10:80/tcp  method ipip\n"
		"backend   add 10.0.0.10:80/tcp\t10.0.0.1 weight 3   \n"
		"\n"
		"# the last line has no newline\n"
		"backend add 10.0.0.10:80/tcp 10.0.0.2 weight 7";
	static const char expected[] =
		"attach eth0 mode generic\n"
		"vip add 10.0.0.10:80/tcp method ipip hash 5tuple ring 65537 announce always\n"
		"backend add 10.0.0.10:80/tcp 10.0.0.1 weight 3\n"
		"backend add 10.0.0.10:80/tcp 10.0.0.2 weight 7\n";
	static const char *const nothing[] = { "", "\n\n\n", "# only a comment", "  # x\n\t\n" };
	struct config c;
	char *text;
	int ret;

	config_init(&c);
	ret = config_apply_text(&c, file, err, sizeof(err));
	check(ret == 0, "comments and blank lines are skipped, got %d: %s", ret, err);
	text = save(&c);
	check(!strcmp(text, expected), "the file gives\n%s\nexpected\n%s", text, expected);
	free(text);

	for (size_t i = 0; i < ARRAY_SIZE(nothing); i++) {
		ret = config_apply_text(&c, nothing[i], err, sizeof(err));
		check(ret == 0, "file %zu without commands applies, got %d: %s", i, ret, err);
		text = save(&c);
		check(!strcmp(text, expected), "file %zu without commands changes nothing", i);
		free(text);
	}

	/* Skipped lines still count: the error names the line of the file. */
	config_free(&c);
	ret = config_apply_text(&c, "# one\n\n# three\nvip add 10.0.0.10:80/tcp\n\nvip del x\n",
				err, sizeof(err));
	check(ret == -EINVAL && !strncmp(err, "line 6: ", 8),
	      "a bad line 6 after comments: %d '%s'", ret, err);
	check(c.n_vips == 0, "and nothing is applied");
	config_free(&c);
}

static void test_text_not_config(void **state)
{
	static const char *const lines[] = {
		"status", "save", "restore", "restore /tmp/x.conf", "vip list", "vip show " SVC4,
		"stats", "top count 5", "decap attach eth0", "decap detach eth0", "help",
		"vip help",
	};
	static char file[512];
	struct config c;
	int ret;

	config_init(&c);
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		parse_line(lines[i], &cmd);
		snprintf(file, sizeof(file), "vip add " SVC4 "\n\n%s\nattach eth0\n", lines[i]);
		ret = config_apply_text(&c, file, err, sizeof(err));
		check(ret == -EINVAL, "'%s' in a file is refused, got %d (%s)", lines[i], ret, err);
		check(!strncmp(err, "line 3: ", 8) && strstr(err, cmd_name(cmd.op)),
		      "the message names line 3 and '%s': '%s'", cmd_name(cmd.op), err);
		check(c.n_vips == 0 && c.n_ifaces == 0, "'%s' in a file: nothing applied",
		      lines[i]);
	}
	config_free(&c);
}

static void test_text_too_many_words(void **state)
{
	static char file[1024];
	struct config c;
	size_t pos;
	int ret;

	config_init(&c);
	pos = snprintf(file, sizeof(file), "vip add " SVC4 "\nbackend add " SVC4 " 10.0.0.1");
	for (int i = 0; i < CMD_ARGS_MAX; i++)
		pos += snprintf(file + pos, sizeof(file) - pos, " weight 1");
	ret = config_apply_text(&c, file, err, sizeof(err));
	check(ret == -EINVAL && !strncmp(err, "line 2: ", 8),
	      "a line of too many words is refused by number: %d '%s'", ret, err);
	check(c.n_vips == 0, "and nothing is applied");
	config_free(&c);
}

/* ---- copies ---- */

static void test_copy(void **state)
{
	struct config orig, copy;
	char *text_orig, *text_copy, *text;

	config_init(&orig);
	config_init(&copy);
	check(config_copy(&copy, &orig) == 0 && copy.n_vips == 0 && copy.n_ifaces == 0,
	      "an empty configuration copies");

	build_small(&orig);
	orig.vips[1].id = 5;
	orig.vips[1].backends[0].id = 40;
	orig.vips[1].backends[0].gen = 6;
	/* Copying over a configuration replaces it, whatever it held. */
	apply_ok(&copy, "vip add 10.9.9.9:9/udp");
	apply_ok(&copy, "backend add 10.9.9.9:9/udp 10.9.9.1");
	check(config_copy(&copy, &orig) == 0, "config_copy succeeds");
	check_same(&orig, &copy, "copy");
	check(copy.vips != orig.vips && copy.ifaces != orig.ifaces &&
		      copy.vips[0].backends != orig.vips[0].backends &&
		      copy.vips[1].backends != orig.vips[1].backends,
	      "the copy shares no array with the original");
	check(!find_vip(&copy, "10.9.9.9:9/udp"), "the copy's old content is gone");
	text_orig = save(&orig);
	check(!strcmp(text_orig, small_expected), "the original saves as before");

	/* Change everything in the copy... */
	apply_ok(&copy, "backend set 10.0.0.10:80/tcp 10.0.0.1 weight 99");
	apply_ok(&copy, "backend del 10.0.0.10:80/tcp 10.0.0.2");
	apply_ok(&copy, "backend add [fd00::10]:443/tcp fd00::3");
	apply_ok(&copy, "health set 10.0.0.10:80/tcp off");
	apply_ok(&copy, "ratelimit off 10.0.0.10:80/tcp");
	apply_ok(&copy, "vip del 10.0.0.20:0/udp");
	apply_ok(&copy, "vip add 10.0.0.30:80/tcp");
	apply_ok(&copy, "detach eth0");
	apply_ok(&copy, "attach eth3");
	copy.vips[1].id = 6;
	copy.vips[1].backends[0].gen = 7;
	text_copy = save(&copy);
	check(strcmp(text_copy, small_expected), "the copy changed");

	/* ... and the original is as it was. */
	text = save(&orig);
	check(!strcmp(text, small_expected), "the original is unchanged:\n%s", text);
	free(text);
	check(orig.vips[1].id == 5 && orig.vips[1].backends[0].id == 40 &&
		      orig.vips[1].backends[0].gen == 6 && orig.vips[1].n_backends == 1,
	      "the original's ids are unchanged");
	check(find_backend(&orig, SVC4, "10.0.0.1")->weight == 3, "the original's weight");

	/* The other way round: freeing the original leaves the copy whole. */
	config_free(&orig);
	text = save(&copy);
	check(!strcmp(text, text_copy), "the copy outlives the original");
	free(text);
	free(text_copy);
	free(text_orig);
	config_free(&copy);
}

/*
 * node drain is the node's own: the state file keeps it (first), save and
 * restore files leave it out, and it survives copies and service changes.
 */
static void test_node_drain_state(void **state)
{
	struct config c, copy;
	char *text, *st;
	size_t len;
	int ret;

	config_init(&c);
	config_init(&copy);
	apply_ok(&c, "vip add 10.0.0.10:80/tcp announce healthy");
	apply_ok(&c, "node drain");
	apply_ok(&c, "node drain");
	check(c.drained, "node drain drains, and again is no error");
	text = save(&c);
	check(!strstr(text, "node"), "save leaves the drain out:\n%s", text);
	ret = config_save_state(&c, &st, &len);
	check(ret == 0 && len == strlen(st), "config_save_state succeeds, got %d", ret);
	check(!strncmp(st, "node drain\n", 11) && !strcmp(st + 11, text),
	      "the state file is node drain, then what save prints:\n%s", st);

	check(config_copy(&copy, &c) == 0 && copy.drained, "a copy is drained too");
	ret = config_load_state(&copy, "vip del 10.0.0.10:80/tcp\n", err, sizeof(err));
	check(ret == 0 && copy.drained && !copy.n_vips, "a service change keeps the drain");
	config_free(&copy);

	config_init(&copy);
	ret = config_load_state(&copy, st, err, sizeof(err));
	check(ret == 0 && copy.drained, "the state file loads drained, got %d: %s", ret, err);
	check(copy.n_vips == 1 && copy.vips[0].opts.announce == CMD_ANNOUNCE_HEALTHY,
	      "with its VIP and announce healthy");
	config_free(&copy);

	config_init(&copy);
	ret = config_apply_text(&copy, st, err, sizeof(err));
	check(ret == -EINVAL && strstr(err, "line 1: 'node drain' is this node's own state"),
	      "a restore file with node drain is refused: %d, %s", ret, err);
	check(!copy.n_vips && !copy.drained, "and applies nothing");
	config_free(&copy);

	apply_ok(&c, "node undrain");
	check(!c.drained, "node undrain undrains");
	free(st);
	ret = config_save_state(&c, &st, &len);
	check(ret == 0 && !strcmp(st, text), "an undrained state file is what save prints");
	free(st);
	free(text);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vip_add),
		cmocka_unit_test(test_vip_add_duplicate),
		cmocka_unit_test(test_vip_del),
		cmocka_unit_test(test_backend_add_set_del),
		cmocka_unit_test(test_backend_refused),
		cmocka_unit_test(test_backend_loop),
		cmocka_unit_test(test_nat),
		cmocka_unit_test(test_backends_fill_ring),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_attach_detach),
		cmocka_unit_test(test_health_ratelimit),
		cmocka_unit_test(test_not_config),
		cmocka_unit_test(test_save_exact),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_text_all_or_nothing),
		cmocka_unit_test(test_text_comments),
		cmocka_unit_test(test_text_not_config),
		cmocka_unit_test(test_text_too_many_words),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_node_drain_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
