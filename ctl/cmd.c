/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Parser and printer of the command language (cmd.h).
 *
 * Command words are looked up level by level in {name, leaf or next level} tables with
 * unique-prefix matching. A leaf is described by ops[]: its positional arguments, in grammar
 * order, and a table of keywords with their bounds and defaults. The same tables drive parsing,
 * defaults and cmd_format(), so what is printed cannot drift from what is accepted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "maglev.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(CMD_WEIGHT_MAX == MAGLEV_WEIGHT_MAX, "weights must fit the Maglev builder");

/* ---- strict text helpers ---- */

/* The C library's isspace(), without its locale. */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * Decimal digits only, no sign, no leading zero: strtoul() would take " +1", "0x10" and, in
 * other tools, "010" as octal. -ERANGE past UINT32_MAX, *end at the first non-digit.
 */
static int parse_u32(const char *s, __u32 *val, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*val = v;
	*end = p;
	return 0;
}

static int parse_num(const char *s, __u32 *val)
{
	const char *end;
	int ret = parse_u32(s, val, &end);

	if (!ret && *end)
		ret = -EINVAL;
	return ret;
}

/* snprintf()'s result as this file returns lengths: -ENOSPC when it did not fit. */
static int fit(int n, size_t len)
{
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? n : -ENOSPC;
}

int duration_parse(const char *s, __u32 *ms)
{
	const char *end;
	__u32 v;
	int ret = parse_u32(s, &v, &end);

	if (ret)
		return ret;
	if (!strcmp(end, "ms")) {
		*ms = v;
		return 0;
	}
	if (strcmp(end, "s"))
		return -EINVAL;
	if (v > UINT32_MAX / 1000)
		return -ERANGE;
	*ms = v * 1000;
	return 0;
}

int duration_format(__u32 ms, char *buf, size_t len)
{
	if (ms && ms % 1000 == 0)
		return fit(snprintf(buf, len, "%us", ms / 1000), len);
	return fit(snprintf(buf, len, "%ums", ms), len);
}

/* "a", "a or b", "a, b or c" */
static void join(char *buf, size_t len, const char *const *names, size_t n)
{
	size_t i, pos = 0;

	buf[0] = '\0';
	for (i = 0; i < n && pos < len; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";

		pos += snprintf(buf + pos, len - pos, "%s%s", sep, names[i]);
	}
}

static size_t count_names(const char *const *names)
{
	size_t n = 0;

	while (names[n])
		n++;
	return n;
}

/* ---- addresses and services ---- */

static const char *family_name(__u8 family)
{
	return family == XLB_AF_INET6 ? "IPv6" : "IPv4";
}

/* Why s is not an address we take, or NULL. */
static const char *addr_check(const char *s, struct xlb_addr *a, __u8 *family)
{
	static const __u8 mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(a, 0, sizeof(*a));
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, a->b) != 1)
			return "not an IPv6 address";
		if (!memcmp(a->b, mapped, sizeof(mapped)))
			return "IPv4-mapped IPv6 address, write it as IPv4";
		*family = XLB_AF_INET6;
	} else {
		if (inet_pton(AF_INET, s, &a->v4) != 1)
			return "not an IPv4 address";
		*family = XLB_AF_INET;
	}
	return NULL;
}

/*
 * VIPs and backends are single hosts: a wildcard or group address cannot be either. Nor can a
 * loopback address: as a VIP it takes over the host's own services, as a backend it sends
 * clients' packets nowhere (no loopback packet ever leaves the host).
 */
static const char *unicast_check(const struct xlb_addr *a, __u8 family)
{
	static const struct xlb_addr any, loop6 = { .b[15] = 1 };

	if (!memcmp(a, &any, sizeof(*a)))
		return "unspecified address";
	if (family == XLB_AF_INET ? a->b[0] == 127 : !memcmp(a, &loop6, sizeof(*a)))
		return "loopback address";
	if (family == XLB_AF_INET ? (a->b[0] & 0xf0) == 0xe0 : a->b[0] == 0xff)
		return "multicast address";
	if (family == XLB_AF_INET && a->v4 == 0xffffffff)
		return "broadcast address";
	return NULL;
}

static const char *host_check(const char *s, struct xlb_addr *a, __u8 *family)
{
	const char *why = addr_check(s, a, family);

	return why ? why : unicast_check(a, *family);
}

int addr_parse(const char *s, struct xlb_addr *a, __u8 *family)
{
	return addr_check(s, a, family) ? -EINVAL : 0;
}

int addr_format(const struct xlb_addr *a, __u8 family, char *buf, size_t len)
{
	char text[ADDR_STRLEN];
	int af = family == XLB_AF_INET ? AF_INET : family == XLB_AF_INET6 ? AF_INET6 : 0;

	if (!af || !inet_ntop(af, a->b, text, sizeof(text)))
		return -EINVAL;
	return fit(snprintf(buf, len, "%s", text), len);
}

int backend_format(const struct xlb_addr *a, __u8 family, __u16 port, char *buf, size_t len)
{
	char text[ADDR_STRLEN];
	int ret = addr_format(a, family, text, sizeof(text));

	if (ret < 0 || !port)
		return ret < 0 ? ret : fit(snprintf(buf, len, "%s", text), len);
	return fit(snprintf(buf, len, family == XLB_AF_INET6 ? "[%s]:%u" : "%s:%u", text, port),
		   len);
}

/* A one-line message in err, when there is one; returns -EINVAL for the caller to pass on. */
static int set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int service_parse(const char *s, struct xlb_vip_key *key, char *err, size_t errlen)
{
	char text[SERVICE_STRLEN], *host, *port, *proto, *close;
	const char *why;
	bool bracketed;
	__u32 num;

	memset(key, 0, sizeof(*key));
	if (strlen(s) >= sizeof(text))
		return set_err(err, errlen, "bad service '%.*s...': too long", (int)sizeof(text),
			       s);
	strcpy(text, s);

	proto = strrchr(text, '/');
	if (!proto)
		goto bad_shape;
	*proto++ = '\0';
	if (!strcmp(proto, "tcp"))
		key->proto = IPPROTO_TCP;
	else if (!strcmp(proto, "udp"))
		key->proto = IPPROTO_UDP;
	else
		return set_err(err, errlen, "bad protocol '%s' in service '%s' (tcp or udp)",
			       proto, s);

	bracketed = text[0] == '[';
	if (bracketed) {
		host = text + 1;
		close = strchr(host, ']');
		if (!close || close[1] != ':')
			goto bad_shape;
		*close = '\0';
		port = close + 2;
	} else {
		host = text;
		port = strrchr(text, ':');
		if (!port)
			goto bad_shape;
		*port++ = '\0';
	}

	/* Without brackets the port's colon could be one of the address's own. */
	if (!bracketed && strchr(host, ':'))
		return set_err(err, errlen,
			       "missing brackets around the IPv6 address in service '%s', "
			       "as in [fd00::10]:443/tcp", s);
	why = host_check(host, &key->addr, &key->family);
	if (!why && bracketed && key->family != XLB_AF_INET6)
		why = "brackets are for IPv6 only";
	if (why)
		return set_err(err, errlen, "bad address '%s' in service '%s': %s", host, s,
			       why);

	if (parse_num(port, &num) || num > 65535)
		return set_err(err, errlen, "bad port '%s' in service '%s' (0-65535)", port, s);
	key->port = htons(num);
	return 0;

bad_shape:
	return set_err(err, errlen, "bad service '%s', expected ADDR:PORT/PROTO", s);
}

int service_format(const struct xlb_vip_key *key, char *buf, size_t len)
{
	char addr[ADDR_STRLEN];
	const char *proto = key->proto == IPPROTO_TCP ? "tcp" : key->proto == IPPROTO_UDP ? "udp"
											    : NULL;
	int ret = addr_format(&key->addr, key->family, addr, sizeof(addr));

	if (ret < 0 || !proto)
		return -EINVAL;
	if (key->family == XLB_AF_INET6)
		return fit(snprintf(buf, len, "[%s]:%u/%s", addr, ntohs(key->port), proto), len);
	return fit(snprintf(buf, len, "%s:%u/%s", addr, ntohs(key->port), proto), len);
}

/* ---- the grammar as tables ---- */

enum kw_kind {
	KW_NUM,		/* decimal in [min, max] */
	KW_RING,	/* KW_NUM that must also be prime */
	KW_MS,		/* duration in [min, max] milliseconds */
	KW_WORD,	/* one of names[], stored as its index */
	KW_PATH,	/* http path, stored in health.path */
	KW_PREFIX,	/* ADDR[/LEN], stored in from, optional without a default */
	KW_FILE,	/* a file name, stored in file, optional without a default */
	KW_SECONDS,	/* KW_MS of whole seconds */
	KW_RANGE,	/* LO-HI, both in [min, max], LO <= HI: the __u32 at off and the next */
	KW_POOL,	/* ADDR[,ADDR...] of the service's family, stored in vip.snat */
};

struct kw {
	const char *name;
	enum kw_kind kind;
	size_t off;	/* offsetof(struct cmd, the __u32 it sets), unused for KW_PATH */
	__u32 min, max, def;
	const char *const *names;
	bool required;	/* no default: the command needs it */
	__u32 def_hi;	/* KW_RANGE: HI's default (def is LO's) */
	__u8 method;	/* vip add: only for this method (KW_FOR()), 0: for all */
};

/* struct kw.method of a keyword that only one method takes. */
#define KW_FOR(m) ((m) + 1)

static const char *const mode_names[] = {
	[CMD_MODE_NATIVE] = "native", [CMD_MODE_GENERIC] = "generic", NULL,
};
static const char *const method_names[] = {
	[XLB_METHOD_IPIP] = "ipip", [XLB_METHOD_L2] = "l2", [XLB_METHOD_GUE] = "gue",
	[XLB_METHOD_NAT] = "nat", NULL,
};
static const char *const hash_names[] = {
	[CMD_HASH_5TUPLE] = "5tuple", [CMD_HASH_SRC] = "src", NULL,
};
static const char *const announce_names[] = {
	[CMD_ANNOUNCE_ALWAYS] = "always", [CMD_ANNOUNCE_HEALTHY] = "healthy", NULL,
};
static const char *const health_type_names[] = {
	[CMD_HEALTH_OFF] = "off", [CMD_HEALTH_TCP] = "tcp", [CMD_HEALTH_HTTP] = "http", NULL,
};
static const char *const via_names[] = {
	[CMD_VIA_DIRECT] = "direct", [CMD_VIA_VIP] = "vip", NULL,
};

#define FIELD(f) offsetof(struct cmd, f)

static const struct kw attach_kws[] = {
	{ "mode", KW_WORD, FIELD(mode), .def = CMD_MODE_DEFAULT, .names = mode_names },
};

static const struct kw vip_kws[] = {
	{ "method", KW_WORD, FIELD(vip.method), .def = CMD_METHOD_DEFAULT, .names = method_names },
	{ "hash", KW_WORD, FIELD(vip.hash), .def = CMD_HASH_DEFAULT, .names = hash_names },
	{ "ring", KW_RING, FIELD(vip.ring), XLB_RING_MIN, XLB_RING_MAX, CMD_RING_DEFAULT },
	{ "announce", KW_WORD, FIELD(vip.announce), .def = CMD_ANNOUNCE_DEFAULT,
	  .names = announce_names },
	/* Last: only one method takes each of these (kw_applies()). */
	{ "encap-port", KW_NUM, FIELD(vip.encap_port), 1, 65535, XLB_GUE_PORT_DEFAULT,
	  .method = KW_FOR(XLB_METHOD_GUE) },
	{ "snat", KW_POOL, .method = KW_FOR(XLB_METHOD_NAT) },
	{ "snat-ports", KW_RANGE, FIELD(vip.snat_port_lo), 1, 65535, CMD_SNAT_PORT_LO_DEFAULT,
	  .def_hi = CMD_SNAT_PORT_HI_DEFAULT, .method = KW_FOR(XLB_METHOD_NAT) },
	{ "tcp-timeout", KW_SECONDS, FIELD(vip.tcp_timeout_ms), CMD_NAT_TIMEOUT_MIN_MS,
	  CMD_NAT_TIMEOUT_MAX_MS, CMD_TCP_TIMEOUT_DEFAULT_MS, .method = KW_FOR(XLB_METHOD_NAT) },
	{ "fin-timeout", KW_SECONDS, FIELD(vip.fin_timeout_ms), CMD_NAT_TIMEOUT_MIN_MS,
	  CMD_NAT_TIMEOUT_MAX_MS, CMD_FIN_TIMEOUT_DEFAULT_MS, .method = KW_FOR(XLB_METHOD_NAT) },
	{ "udp-timeout", KW_SECONDS, FIELD(vip.udp_timeout_ms), CMD_NAT_TIMEOUT_MIN_MS,
	  CMD_NAT_TIMEOUT_MAX_MS, CMD_UDP_TIMEOUT_DEFAULT_MS, .method = KW_FOR(XLB_METHOD_NAT) },
};

static const struct kw decap_attach_kws[] = {
	{ "gue-port", KW_NUM, FIELD(gue_port), 0, 65535, XLB_GUE_PORT_DEFAULT },
};

static const struct kw weight_kws[] = {
	{ "weight", KW_NUM, FIELD(backend.weight), 0, CMD_WEIGHT_MAX, CMD_WEIGHT_DEFAULT },
};

static const struct kw weight_required_kws[] = {
	{ "weight", KW_NUM, FIELD(backend.weight), 0, CMD_WEIGHT_MAX, .required = true },
};

/* http takes all of these; tcp the ones from HEALTH_TCP_FIRST on; off none. */
static const struct kw health_kws[] = {
	{ "path", KW_PATH },
	{ "status", KW_NUM, FIELD(health.status), CMD_HTTP_STATUS_MIN, CMD_HTTP_STATUS_MAX,
	  CMD_HTTP_STATUS_DEFAULT },
	{ "port", KW_NUM, FIELD(health.port), 0, 65535, 0 },
	{ "interval", KW_MS, FIELD(health.interval_ms), CMD_INTERVAL_MIN_MS, CMD_INTERVAL_MAX_MS,
	  CMD_INTERVAL_DEFAULT_MS },
	{ "timeout", KW_MS, FIELD(health.timeout_ms), CMD_TIMEOUT_MIN_MS, CMD_INTERVAL_MAX_MS,
	  CMD_TIMEOUT_DEFAULT_MS },
	{ "rise", KW_NUM, FIELD(health.rise), 1, CMD_RISE_FALL_MAX, CMD_RISE_DEFAULT },
	{ "fall", KW_NUM, FIELD(health.fall), 1, CMD_RISE_FALL_MAX, CMD_FALL_DEFAULT },
	{ "via", KW_WORD, FIELD(health.via), .def = CMD_VIA_DEFAULT, .names = via_names },
};
#define HEALTH_TCP_FIRST 2

static const struct kw ratelimit_kws[] = {
	{ "rate", KW_NUM, FIELD(ratelimit.rate), 1, CMD_RATE_MAX, .required = true },
	{ "burst", KW_NUM, FIELD(ratelimit.burst), 1, CMD_BURST_MAX, .required = true },
};

static const struct kw top_kws[] = {
	{ "count", KW_NUM, FIELD(count), 1, CMD_TOP_MAX, CMD_TOP_DEFAULT },
};

static const struct kw trace_kws[] = {
	{ "from", KW_PREFIX },
	{ "port", KW_NUM, FIELD(port), 0, 65535, 0 },
	{ "count", KW_NUM, FIELD(count), 0, CMD_CONNS_MAX, 0 },
	{ "timeout", KW_MS, FIELD(timeout_ms), 0, CMD_INTERVAL_MAX_MS, 0 },
	{ "pcap", KW_FILE },
};

static const struct kw conns_kws[] = {
	{ "from", KW_PREFIX },
	{ "count", KW_NUM, FIELD(count), 1, CMD_CONNS_MAX, CMD_CONNS_DEFAULT },
};

/* Positional arguments, taken in this order before the keywords. */
enum {
	ARG_IFNAME = 1U << 0,
	ARG_SERVICE = 1U << 1,
	ARG_ADDR = 1U << 2,		/* backend, same family as the service */
	ARG_HEALTH = 1U << 3,		/* off | tcp | http */
	ARG_OPT_SERVICE = 1U << 4,
	ARG_OPT_FILE = 1U << 5,
	ARG_OPT_TOPIC = 1U << 6,
	ARG_CLIENT = 1U << 7,		/* CLIENT_ADDR[:PORT], the service's family */
};

struct op_def {
	const char *name;	/* canonical command words */
	unsigned int args;	/* ARG_* */
	const struct kw *kws;
	size_t nkws;
	bool config;
	const char *flag;	/* a last word that takes no value: CMD_HAS_FLAG */
};

#define KWS(t) .kws = (t), .nkws = ARRAY_SIZE(t)

static const struct op_def ops[CMD_OP_COUNT] = {
	[CMD_ATTACH] = { "attach", ARG_IFNAME, KWS(attach_kws), .config = true },
	[CMD_DETACH] = { "detach", ARG_IFNAME, .config = true },
	[CMD_VIP_ADD] = { "vip add", ARG_SERVICE, KWS(vip_kws), .config = true },
	[CMD_VIP_DEL] = { "vip del", ARG_SERVICE, .config = true },
	[CMD_VIP_LIST] = { "vip list" },
	[CMD_VIP_SHOW] = { "vip show", ARG_SERVICE },
	[CMD_BACKEND_ADD] = { "backend add", ARG_SERVICE | ARG_ADDR, KWS(weight_kws),
			      .config = true },
	[CMD_BACKEND_SET] = { "backend set", ARG_SERVICE | ARG_ADDR, KWS(weight_required_kws),
			      .config = true },
	[CMD_BACKEND_DEL] = { "backend del", ARG_SERVICE | ARG_ADDR, .config = true },
	[CMD_BACKEND_LIST] = { "backend list", ARG_OPT_SERVICE },
	[CMD_HEALTH_SET] = { "health set", ARG_SERVICE | ARG_HEALTH, KWS(health_kws),
			     .config = true },
	[CMD_HEALTH_SHOW] = { "health show", ARG_OPT_SERVICE },
	[CMD_RATELIMIT_SET] = { "ratelimit set", ARG_SERVICE, KWS(ratelimit_kws), .config = true },
	[CMD_RATELIMIT_OFF] = { "ratelimit off", ARG_SERVICE, .config = true },
	[CMD_TOP] = { "top", 0, KWS(top_kws) },
	[CMD_STATS] = { "stats", ARG_OPT_SERVICE, .flag = "watch" },
	[CMD_SAVE] = { "save" },
	[CMD_RESTORE] = { "restore", ARG_OPT_FILE },
	[CMD_STATUS] = { "status" },
	[CMD_DECAP_ATTACH] = { "decap attach", ARG_IFNAME, KWS(decap_attach_kws) },
	[CMD_DECAP_DETACH] = { "decap detach", ARG_IFNAME },
	[CMD_DECAP_PRUNE] = { "decap prune" },
	[CMD_NODE_DRAIN] = { "node drain", .config = true },
	[CMD_NODE_UNDRAIN] = { "node undrain", .config = true },
	[CMD_LOOKUP] = { "lookup", ARG_SERVICE | ARG_CLIENT },
	[CMD_CONNS] = { "conns", ARG_OPT_SERVICE, KWS(conns_kws) },
	[CMD_TRACE] = { "trace", ARG_OPT_SERVICE, KWS(trace_kws) },
	[CMD_HELP] = { "help", ARG_OPT_TOPIC },
};

/* One level of command words: each leads to a leaf (sub == NULL) or to the next level. */
struct cmd_word {
	const char *name;
	enum cmd_op op;
	const struct cmd_word *sub;
};

static const struct cmd_word vip_words[] = {
	{ "add", CMD_VIP_ADD }, { "del", CMD_VIP_DEL }, { "list", CMD_VIP_LIST },
	{ "show", CMD_VIP_SHOW }, { NULL },
};

static const struct cmd_word backend_words[] = {
	{ "add", CMD_BACKEND_ADD }, { "set", CMD_BACKEND_SET }, { "del", CMD_BACKEND_DEL },
	{ "list", CMD_BACKEND_LIST }, { NULL },
};

static const struct cmd_word health_words[] = {
	{ "set", CMD_HEALTH_SET }, { "show", CMD_HEALTH_SHOW }, { NULL },
};

static const struct cmd_word ratelimit_words[] = {
	{ "set", CMD_RATELIMIT_SET }, { "off", CMD_RATELIMIT_OFF }, { NULL },
};

static const struct cmd_word decap_words[] = {
	{ "attach", CMD_DECAP_ATTACH }, { "detach", CMD_DECAP_DETACH }, { "prune", CMD_DECAP_PRUNE },
	{ NULL },
};

static const struct cmd_word node_words[] = {
	{ "drain", CMD_NODE_DRAIN }, { "undrain", CMD_NODE_UNDRAIN }, { NULL },
};

static const struct cmd_word top_words[] = {
	{ "attach", CMD_ATTACH },
	{ "detach", CMD_DETACH },
	{ "vip", .sub = vip_words },
	{ "backend", .sub = backend_words },
	{ "health", .sub = health_words },
	{ "ratelimit", .sub = ratelimit_words },
	{ "top", CMD_TOP },
	{ "stats", CMD_STATS },
	{ "save", CMD_SAVE },
	{ "restore", CMD_RESTORE },
	{ "status", CMD_STATUS },
	{ "decap", .sub = decap_words },
	{ "node", .sub = node_words },
	{ "lookup", CMD_LOOKUP },
	{ "conns", CMD_CONNS },
	{ "trace", CMD_TRACE },
	{ "help", CMD_HELP },
	{ NULL },
};

const char *cmd_name(enum cmd_op op)
{
	return (unsigned int)op < CMD_OP_COUNT ? ops[op].name : NULL;
}

bool cmd_is_config(const struct cmd *cmd)
{
	return (unsigned int)cmd->op < CMD_OP_COUNT && ops[cmd->op].config;
}

bool cmd_is_node(const struct cmd *cmd)
{
	return cmd->op == CMD_NODE_DRAIN || cmd->op == CMD_NODE_UNDRAIN;
}

bool cmd_changes_vip(const struct cmd *cmd)
{
	return cmd_is_config(cmd) && (ops[cmd->op].args & ARG_SERVICE);
}

/* Whether cmd's method takes kw (vip add: encap-port for gue, snat... for nat). */
static bool kw_applies(const struct cmd *cmd, const struct kw *kw)
{
	return !kw->method || kw->method == KW_FOR(cmd->vip.method);
}

/*
 * The keywords cmd takes; health set's depend on the check type. vip add's are all of them,
 * those of another method left out by kw_applies().
 */
static const struct kw *op_keywords(const struct cmd *cmd, size_t *n)
{
	const struct op_def *d = &ops[cmd->op];

	if (cmd->op == CMD_HEALTH_SET && cmd->health.type != CMD_HEALTH_HTTP) {
		*n = cmd->health.type == CMD_HEALTH_TCP ? d->nkws - HEALTH_TCP_FIRST : 0;
		return d->kws + HEALTH_TCP_FIRST;
	}
	*n = d->nkws;
	return d->kws;
}

static __u32 *kw_field(struct cmd *cmd, const struct kw *kw)
{
	return (__u32 *)((char *)cmd + kw->off);
}

static __u32 kw_value(const struct cmd *cmd, const struct kw *kw)
{
	return *(const __u32 *)((const char *)cmd + kw->off);
}

/* KW_RANGE: HI, the __u32 after LO. */
static __u32 kw_value_hi(const struct cmd *cmd, const struct kw *kw)
{
	return *(const __u32 *)((const char *)cmd + kw->off + sizeof(__u32));
}

/* ---- parsing ---- */

struct parser {
	int argc;
	char **argv;
	int i;			/* next word */
	struct cmd *cmd;
	char *err;
	size_t errlen;
	char ctx[160];		/* command words and positional arguments so far, for messages */
	const char *service;	/* the SERVICE word, for messages */
};

#define fail(p, ...) set_err((p)->err, (p)->errlen, __VA_ARGS__)

static void ctx_add(struct parser *p, const char *word)
{
	size_t pos = strlen(p->ctx);

	snprintf(p->ctx + pos, sizeof(p->ctx) - pos, "%s%s", pos ? " " : "", word);
}

/* Exact name first, else the one name word is a prefix of. */
static int word_lookup(struct parser *p, const struct cmd_word *words, const char *word,
		       const struct cmd_word **out)
{
	const char *hits[ARRAY_SIZE(top_words)];
	const struct cmd_word *w, *hit = NULL;
	size_t len = strlen(word), n = 0;
	char list[128];

	for (w = words; w->name; w++) {
		if (!strcmp(w->name, word)) {
			*out = w;
			return 0;
		}
		if (len && !strncmp(w->name, word, len)) {
			hit = w;
			hits[n++] = w->name;
		}
	}
	if (n == 1) {
		*out = hit;
		return 0;
	}
	if (!n)
		return fail(p, "unknown command '%s%s%s', try 'xlbctl help'", p->ctx,
			    *p->ctx ? " " : "", word);
	join(list, sizeof(list), hits, n);
	return fail(p, "ambiguous command '%s%s%s', could be %s", p->ctx, *p->ctx ? " " : "", word,
		    list);
}

static int arg_ifname(struct parser *p, const char *s)
{
	const char *why = NULL, *c;

	/* The kernel's dev_valid_name() rules. */
	if (!*s)
		why = "empty";
	else if (strlen(s) > CMD_IFNAME_MAX)
		why = "longer than 15 characters";
	else if (!strcmp(s, ".") || !strcmp(s, ".."))
		why = "'.' and '..' are reserved";
	for (c = s; !why && *c; c++)
		if (*c == '/' || *c == ':' || is_space(*c))
			why = "'/', ':' and whitespace are not allowed";
	/* The kernel takes them; a saved `attach` line would carry them to every terminal. */
	for (c = s; !why && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			why = "control characters are not allowed";
	if (why)
		return fail(p, "bad interface name '%s': %s", s, why);
	strcpy(p->cmd->ifname, s);
	return 0;
}

static int arg_service(struct parser *p, const char *s)
{
	p->service = s;
	return service_parse(s, &p->cmd->service, p->err, p->errlen);
}

static int arg_opt_service(struct parser *p, const char *s)
{
	p->cmd->has |= CMD_HAS_SERVICE;
	return arg_service(p, s);
}

/* ADDR[:PORT]: "10.0.0.2", "10.0.0.2:8080", "fd00::2", "[fd00::2]:8080". */
static int arg_addr(struct parser *p, const char *s)
{
	struct cmd_backend *b = &p->cmd->backend;
	char text[BACKEND_STRLEN], *host = text, *port = NULL, *close;
	__u8 vip_family = p->cmd->service.family;
	const char *why;
	__u32 num;

	if (strlen(s) >= sizeof(text))
		return fail(p, "bad backend address '%.64s...': too long", s);
	strcpy(text, s);
	if (text[0] == '[') {
		close = strchr(text, ']');
		if (!close || close[1] != ':')
			return fail(p, "bad backend address '%s': brackets go with a port, as in "
				    "[fd00::2]:8080", s);
		*close = '\0';
		host = text + 1;
		port = close + 2;
	} else if (strchr(text, ':') && strchr(text, ':') == strrchr(text, ':')) {
		/* One colon: IPv4 and a port. IPv6 has at least two. */
		port = strchr(text, ':');
		*port++ = '\0';
	}
	why = host_check(host, &b->addr, &b->family);
	if (!why && s[0] == '[' && b->family != XLB_AF_INET6)
		why = "brackets are for IPv6 only";
	if (why)
		return fail(p, "bad backend address '%s': %s", host, why);
	if (port && (parse_num(port, &num) || num > 65535))
		return fail(p, "bad backend port '%s' in '%s' (0-65535)", port, s);
	b->port = port ? num : 0;
	/*
	 * An IPv4 packet fits inside IPv6 (ipip, gue; the VIP's method decides, config.c),
	 * an IPv6 packet cannot travel to an IPv4-only backend.
	 */
	if (b->family == XLB_AF_INET && vip_family == XLB_AF_INET6)
		return fail(p, "backend %s is IPv4 but VIP %s is IPv6: no method carries IPv6 "
			    "packets to an IPv4 backend", host, p->service);
	return 0;
}

static int arg_health(struct parser *p, const char *s)
{
	char list[32];
	size_t i;

	for (i = 0; health_type_names[i]; i++) {
		if (!strcmp(health_type_names[i], s)) {
			p->cmd->health.type = i;
			return 0;
		}
	}
	join(list, sizeof(list), health_type_names, i);
	return fail(p, "bad health check '%s' (%s)", s, list);
}

static int arg_opt_file(struct parser *p, const char *s)
{
	if (!*s || strlen(s) >= CMD_FILE_MAX)
		return fail(p, "bad file name '%.64s'", s);
	strcpy(p->cmd->file, s);
	p->cmd->has |= CMD_HAS_FILE;
	return 0;
}

static int arg_opt_topic(struct parser *p, const char *s)
{
	const struct cmd_word *w;
	int ret = word_lookup(p, top_words, s, &w);

	if (!ret)
		p->cmd->topic = w->name;
	return ret;
}

/* "10.0.0.1", "10.0.0.1:5000", "fd00::1", "[fd00::1]:5000". */
static int arg_client(struct parser *p, const char *s)
{
	struct cmd_client *c = &p->cmd->client;
	char text[ADDR_STRLEN + 8], *host = text, *port = NULL, *close;
	const char *why = NULL;
	__u32 num;

	if (strlen(s) >= sizeof(text))
		return fail(p, "bad client '%.64s': too long", s);
	strcpy(text, s);
	if (text[0] == '[') {
		host = text + 1;
		close = strchr(host, ']');
		if (!close || (close[1] && close[1] != ':'))
			return fail(p, "bad client '%s', expected ADDR, ADDR:PORT or [IPV6]:PORT", s);
		*close = '\0';
		port = close[1] ? close + 2 : NULL;
	} else if (strchr(text, ':') == strrchr(text, ':') && strchr(text, ':')) {
		port = strchr(text, ':');
		*port++ = '\0';
	}
	why = host_check(host, &c->addr, &c->family);
	if (why)
		return fail(p, "bad client address '%s': %s", host, why);
	if (c->family != p->cmd->service.family)
		return fail(p, "client %s is %s but VIP %s is %s", host, family_name(c->family),
			    p->service, family_name(p->cmd->service.family));
	if (port) {
		if (parse_num(port, &num) || num < 1 || num > 65535)
			return fail(p, "bad client port '%s' (1-65535)", port);
		c->port = num;
		p->cmd->has |= CMD_HAS_PORT;
	}
	return 0;
}

int prefix_parse(const char *s, struct cmd_prefix *p, char *err, size_t errlen)
{
	char text[ADDR_STRLEN + 4], *slash;
	unsigned int bits, i;
	const char *why;
	__u32 len;

	memset(p, 0, sizeof(*p));
	if (strlen(s) >= sizeof(text))
		return set_err(err, errlen, "bad prefix '%.64s': too long", s);
	strcpy(text, s);
	slash = strchr(text, '/');
	if (slash)
		*slash++ = '\0';
	why = addr_check(text, &p->addr, &p->family);
	if (why)
		return set_err(err, errlen, "bad address '%s' in prefix '%s': %s", text, s, why);
	bits = p->family == XLB_AF_INET ? 32 : 128;
	len = bits;
	if (slash && (parse_num(slash, &len) || len > bits))
		return set_err(err, errlen, "bad prefix length '%s' in '%s' (0-%u)", slash, s,
			       bits);
	p->len = len;
	for (i = len; i < bits; i++)
		p->addr.b[i / 8] &= ~(0x80 >> (i % 8));
	return 0;
}

bool prefix_has(const struct cmd_prefix *p, const struct xlb_addr *a, __u8 family)
{
	unsigned int i;

	if (family != p->family)
		return false;
	for (i = 0; i < p->len / 8; i++)
		if (a->b[i] != p->addr.b[i])
			return false;
	return p->len % 8 == 0 ||
	       !((a->b[i] ^ p->addr.b[i]) & (0xff00 >> (p->len % 8) & 0xff));
}

static const struct {
	unsigned int arg;
	const char *what;	/* for "missing WHAT"; NULL when optional */
	int (*parse)(struct parser *p, const char *s);
} positionals[] = {
	{ ARG_IFNAME, "IFNAME", arg_ifname },
	{ ARG_SERVICE, "SERVICE", arg_service },
	{ ARG_ADDR, "ADDR", arg_addr },
	{ ARG_HEALTH, "off|tcp|http", arg_health },
	{ ARG_OPT_SERVICE, NULL, arg_opt_service },
	{ ARG_OPT_FILE, NULL, arg_opt_file },
	{ ARG_OPT_TOPIC, NULL, arg_opt_topic },
	{ ARG_CLIENT, "CLIENT_ADDR[:PORT]", arg_client },
};

/* Why s is not an http path we can put in a request line, or NULL. */
static const char *path_check(const char *s)
{
	const unsigned char *c;

	if (s[0] != '/')
		return "must start with '/'";
	if (strlen(s) > CMD_HTTP_PATH_MAX)
		return "longer than 255 characters";
	for (c = (const unsigned char *)s; *c; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return "only printable ASCII, no spaces";
	return NULL;
}

/* v is out of kw's bounds: below its minimum, or above its maximum. */
static int kw_range_fail(struct parser *p, const struct kw *kw, const char *s, bool below)
{
	char lo[DURATION_STRLEN], hi[DURATION_STRLEN];

	if (kw->kind == KW_RING && below)
		return fail(p, "%s %s too small (minimum %u)", kw->name, s, kw->min);
	if (kw->kind == KW_RING)
		return fail(p, "%s %s too large (maximum %u)", kw->name, s, kw->max);
	if (kw->kind != KW_MS && kw->kind != KW_SECONDS)
		return fail(p, "%s %s out of range %u-%u", kw->name, s, kw->min, kw->max);
	duration_format(kw->min, lo, sizeof(lo));
	duration_format(kw->max, hi, sizeof(hi));
	return fail(p, "%s %s out of range %s-%s", kw->name, s, lo, hi);
}

/* snat ADDR[,ADDR...]: distinct host addresses of the service's family. */
static int kw_pool(struct parser *p, const struct kw *kw, const char *s)
{
	struct cmd_pool *pool = &p->cmd->vip.snat;
	char text[XLB_NAT_POOL_MAX * ADDR_STRLEN], *a, *next;
	struct xlb_addr addr;
	const char *why;
	__u8 family;

	if (strlen(s) >= sizeof(text))
		return fail(p, "bad %s '%.64s...': at most %u addresses", kw->name, s,
			    XLB_NAT_POOL_MAX);
	strcpy(text, s);
	pool->n = 0;
	for (a = text; a; a = next) {
		next = strchr(a, ',');
		if (next)
			*next++ = '\0';
		why = host_check(a, &addr, &family);
		if (why)
			return fail(p, "bad %s address '%s': %s", kw->name, a, why);
		if (family != p->cmd->service.family)
			return fail(p, "%s address %s is %s but VIP %s is %s: nat does not change "
				    "a packet's family", kw->name, a, family_name(family), p->service,
				    family_name(p->cmd->service.family));
		for (__u32 i = 0; i < pool->n; i++)
			if (!memcmp(&pool->addrs[i], &addr, sizeof(addr)))
				return fail(p, "%s address %s given twice", kw->name, a);
		if (pool->n == XLB_NAT_POOL_MAX)
			return fail(p, "too many %s addresses in '%.64s...': at most %u", kw->name, s,
				    XLB_NAT_POOL_MAX);
		pool->addrs[pool->n++] = addr;
	}
	return 0;
}

/* LO-HI within [min, max], LO <= HI. */
static int kw_range(struct parser *p, const struct kw *kw, const char *s)
{
	const char *end;
	__u32 lo, hi;

	if (parse_u32(s, &lo, &end) || *end != '-' || parse_num(end + 1, &hi))
		return fail(p, "bad %s '%s': LO-HI, as in %u-%u", kw->name, s, kw->def, kw->def_hi);
	if (lo < kw->min || hi > kw->max)
		return fail(p, "%s %s out of range %u-%u", kw->name, s, kw->min, kw->max);
	if (lo > hi)
		return fail(p, "%s %s: LO above HI", kw->name, s);
	*kw_field(p->cmd, kw) = lo;
	kw_field(p->cmd, kw)[1] = hi;
	return 0;
}

static int kw_parse(struct parser *p, const struct kw *kw, const char *s)
{
	const char *why;
	char list[64];
	__u32 v;
	int ret;

	switch (kw->kind) {
	case KW_WORD:
		for (v = 0; kw->names[v]; v++) {
			if (!strcmp(kw->names[v], s)) {
				*kw_field(p->cmd, kw) = v;
				return 0;
			}
		}
		join(list, sizeof(list), kw->names, v);
		return fail(p, "bad %s '%s' (%s)", kw->name, s, list);
	case KW_PATH:
		why = path_check(s);
		if (why)
			return fail(p, "bad http path '%.64s': %s", s, why);
		strcpy(p->cmd->health.path, s);
		return 0;
	case KW_PREFIX:
		p->cmd->has |= CMD_HAS_FROM;
		return prefix_parse(s, &p->cmd->from, p->err, p->errlen);
	case KW_FILE:
		return arg_opt_file(p, s);
	case KW_POOL:
		return kw_pool(p, kw, s);
	case KW_RANGE:
		return kw_range(p, kw, s);
	case KW_MS:
	case KW_SECONDS:
		ret = duration_parse(s, &v);
		if (ret == -EINVAL)
			return fail(p, "bad %s '%s': durations take ms or s, as in 500ms or 2s",
				    kw->name, s);
		break;
	default:
		ret = parse_num(s, &v);
		if (ret == -EINVAL)
			return fail(p, "bad %s '%s': not a decimal number", kw->name, s);
		break;
	}
	if (ret == -ERANGE || v > kw->max)
		return kw_range_fail(p, kw, s, false);
	if (v < kw->min)
		return kw_range_fail(p, kw, s, true);
	if (kw->kind == KW_RING && !maglev_is_prime(v))
		return fail(p, "%s %s is not prime", kw->name, s);
	if (kw->kind == KW_SECONDS && v % 1000)
		return fail(p, "%s %s: whole seconds only (the NAT table's clock ticks once a "
			    "second)", kw->name, s);
	*kw_field(p->cmd, kw) = v;
	return 0;
}

static void kw_defaults(struct cmd *cmd, const struct kw *kws, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (kws[k].kind == KW_PATH)
			strcpy(cmd->health.path, CMD_HTTP_PATH_DEFAULT);
		else if (kws[k].kind == KW_PREFIX || kws[k].kind == KW_FILE ||
			 kws[k].kind == KW_POOL)
			continue;
		else
			*kw_field(cmd, &kws[k]) = kws[k].def;
		if (kws[k].kind == KW_RANGE)
			kw_field(cmd, &kws[k])[1] = kws[k].def_hi;
	}
}

static size_t kw_find(const struct kw *kws, size_t n, const char *name)
{
	size_t k;

	for (k = 0; k < n && strcmp(kws[k].name, name); k++)
		;
	return k;
}

static int unexpected(struct parser *p, const char *word, const struct kw *kws, size_t n)
{
	const char *names[ARRAY_SIZE(vip_kws) > ARRAY_SIZE(health_kws) ? ARRAY_SIZE(vip_kws) :
									  ARRAY_SIZE(health_kws)];
	char list[160];
	size_t k;

	if (!n)
		return fail(p, "unexpected '%s' after '%s'", word, p->ctx);
	for (k = 0; k < n; k++)
		names[k] = kws[k].name;
	join(list, sizeof(list), names, n);
	return fail(p, "unexpected '%s' after '%s', expected %s", word, p->ctx, list);
}

/* Keywords in any order, each at most once. *seen gets bit k for kws[k]. */
static int parse_keywords(struct parser *p, const struct kw *kws, size_t n, unsigned int *seen)
{
	const char *word;
	size_t k;
	int ret;

	*seen = 0;
	kw_defaults(p->cmd, kws, n);
	while (p->i < p->argc) {
		word = p->argv[p->i++];
		k = kw_find(kws, n, word);
		if (k == n)
			return unexpected(p, word, kws, n);
		if (*seen & 1U << k)
			return fail(p, "duplicate '%s'", word);
		if (p->i == p->argc)
			return fail(p, "missing value after '%s'", word);
		ret = kw_parse(p, &kws[k], p->argv[p->i++]);
		if (ret)
			return ret;
		*seen |= 1U << k;
	}
	for (k = 0; k < n; k++)
		if (kws[k].required && !(*seen & 1U << k))
			return fail(p, "missing '%s' after '%s'", kws[k].name, p->ctx);
	return 0;
}

static int check_health(struct parser *p, const struct kw *kws, size_t n, unsigned int seen)
{
	struct cmd_health *h = &p->cmd->health;
	char timeout[DURATION_STRLEN], interval[DURATION_STRLEN];

	if (h->type == CMD_HEALTH_OFF)
		return 0;
	if (h->timeout_ms > h->interval_ms) {
		/* A check must end before the next one starts; lower only the default. */
		if (!(seen & 1U << kw_find(kws, n, "timeout"))) {
			h->timeout_ms = h->interval_ms;
		} else {
			duration_format(h->timeout_ms, timeout, sizeof(timeout));
			duration_format(h->interval_ms, interval, sizeof(interval));
			return fail(p, "timeout %s longer than interval %s", timeout, interval);
		}
	}
	if (!h->port && !p->cmd->service.port)
		return fail(p, "missing 'port' for all-ports service '%s': %s checks need a port",
			    p->service, health_type_names[h->type]);
	return 0;
}

static int check_vip(struct parser *p, const struct kw *kws, size_t n, unsigned int seen)
{
	struct cmd *cmd = p->cmd;

	for (size_t k = 0; k < n; k++) {
		if (kw_applies(cmd, &kws[k]))
			continue;
		if (seen & 1U << k)
			return fail(p, "%s is for method %s, not %s", kws[k].name,
				    method_names[kws[k].method - 1], method_names[cmd->vip.method]);
		/* Cleared so that commands meaning the same compare equal. */
		if (kws[k].kind == KW_RANGE)
			kw_field(cmd, &kws[k])[1] = 0;
		if (kws[k].kind != KW_POOL)
			*kw_field(cmd, &kws[k]) = 0;
	}
	return 0;
}

static int parse_leaf(struct parser *p, enum cmd_op op)
{
	const struct op_def *d = &ops[op];
	const struct kw *kws;
	unsigned int seen;
	const char *word;
	size_t k, n;
	int ret;

	p->cmd->op = op;
	for (k = 0; k < ARRAY_SIZE(positionals); k++) {
		if (!(d->args & positionals[k].arg))
			continue;
		/* An optional one is absent when the flag or a keyword comes instead. */
		if (p->i == p->argc ||
		    (!positionals[k].what &&
		     ((d->flag && !strcmp(p->argv[p->i], d->flag)) ||
		      kw_find(d->kws, d->nkws, p->argv[p->i]) < d->nkws))) {
			if (!positionals[k].what)
				continue;
			return fail(p, "missing %s after '%s'", positionals[k].what, p->ctx);
		}
		word = p->argv[p->i++];
		ret = positionals[k].parse(p, word);
		if (ret)
			return ret;
		ctx_add(p, word);
	}
	if (d->flag && p->i < p->argc && !strcmp(p->argv[p->i], d->flag)) {
		p->cmd->has |= CMD_HAS_FLAG;
		ctx_add(p, p->argv[p->i++]);
	}
	/* vip add: all keywords, since `method` may come after `encap-port`. */
	kws = op == CMD_VIP_ADD ? d->kws : op_keywords(p->cmd, &n);
	if (op == CMD_VIP_ADD)
		n = d->nkws;
	ret = parse_keywords(p, kws, n, &seen);
	if (!ret && op == CMD_HEALTH_SET)
		ret = check_health(p, kws, n, seen);
	if (!ret && op == CMD_VIP_ADD)
		ret = check_vip(p, kws, n, seen);
	return ret;
}

int cmd_parse(int argc, char **argv, struct cmd *cmd, char *err, size_t errlen)
{
	struct parser p = {
		.argc = argc, .argv = argv, .cmd = cmd, .err = err, .errlen = errlen,
	};
	const struct cmd_word *words = top_words, *w;
	unsigned int seen;
	int ret;

	memset(cmd, 0, sizeof(*cmd));
	if (err && errlen)
		err[0] = '\0';
	do {
		if (p.i == argc) {
			if (words == top_words)
				return fail(&p, "missing command, try 'xlbctl help'");
			return fail(&p, "missing command after '%s', try 'xlbctl help'", p.ctx);
		}
		ret = word_lookup(&p, words, argv[p.i++], &w);
		if (ret)
			return ret;
		ctx_add(&p, w->name);
		/* "xlbctl vip help", "xlbctl attach help": bpftool's per-command help. */
		if (words == top_words && p.i < argc && !strcmp(argv[p.i], "help")) {
			ctx_add(&p, argv[p.i++]);
			cmd->op = CMD_HELP;
			cmd->topic = w->name;
			return parse_keywords(&p, NULL, 0, &seen);
		}
		words = w->sub;
	} while (words);
	return parse_leaf(&p, w->op);
}

int cmd_split(char *line, char **argv, int max)
{
	int argc = 0;
	char *s = line;

	for (;;) {
		while (is_space(*s))
			s++;
		if (!*s || (!argc && *s == '#'))
			break;
		if (argc == max)
			return -E2BIG;
		argv[argc++] = s;
		while (*s && !is_space(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
	return argc;
}

/* ---- printing ---- */

struct out {
	char *buf;
	size_t len;
	size_t n;	/* length of the whole text, as snprintf() counts it */
	int err;
};

static void out_add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_add(struct out *o, const char *fmt, ...)
{
	bool room = o->n < o->len;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsnprintf(room ? o->buf + o->n : NULL, room ? o->len - o->n : 0, fmt, ap);
	va_end(ap);
	if (ret < 0)
		o->err = -EINVAL;
	else
		o->n += ret;
}

static void out_service(struct out *o, const struct xlb_vip_key *key)
{
	char text[SERVICE_STRLEN];

	if (service_format(key, text, sizeof(text)) < 0)
		o->err = -EINVAL;
	else
		out_add(o, " %s", text);
}

static void out_keyword(struct out *o, const struct cmd *cmd, const struct kw *kw)
{
	char text[DURATION_STRLEN], addr[ADDR_STRLEN];
	__u32 v = kw->kind == KW_PATH || kw->kind == KW_PREFIX || kw->kind == KW_FILE ||
			  kw->kind == KW_POOL ? 0 : kw_value(cmd, kw);
	const struct cmd_pool *pool = &cmd->vip.snat;

	switch (kw->kind) {
	case KW_POOL:
		/* None given: xlbd's default, the balancer's own address, is not saved. */
		if (pool->n > XLB_NAT_POOL_MAX)
			o->err = -EINVAL;
		for (__u32 i = 0; !o->err && i < pool->n; i++) {
			if (addr_format(&pool->addrs[i], cmd->service.family, addr, sizeof(addr)) < 0)
				o->err = -EINVAL;
			else if (i)
				out_add(o, ",%s", addr);
			else
				out_add(o, " %s %s", kw->name, addr);
		}
		break;
	case KW_RANGE:
		out_add(o, " %s %u-%u", kw->name, v, kw_value_hi(cmd, kw));
		break;
	case KW_WORD:
		if (v >= count_names(kw->names))
			o->err = -EINVAL;
		else
			out_add(o, " %s %s", kw->name, kw->names[v]);
		break;
	case KW_PATH:
		if (path_check(cmd->health.path))
			o->err = -EINVAL;
		else
			out_add(o, " %s %s", kw->name, cmd->health.path);
		break;
	case KW_PREFIX:
		if (!(cmd->has & CMD_HAS_FROM))
			break;
		if (addr_format(&cmd->from.addr, cmd->from.family, addr, sizeof(addr)) < 0)
			o->err = -EINVAL;
		else
			out_add(o, " %s %s/%u", kw->name, addr, cmd->from.len);
		break;
	case KW_FILE:
		if (cmd->has & CMD_HAS_FILE)
			out_add(o, " %s %s", kw->name, cmd->file);
		break;
	case KW_MS:
	case KW_SECONDS:
		duration_format(v, text, sizeof(text));
		out_add(o, " %s %s", kw->name, text);
		break;
	default:
		out_add(o, " %s %u", kw->name, v);
		break;
	}
}

int cmd_format(const struct cmd *cmd, char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len };
	char addr[ADDR_STRLEN], backend[BACKEND_STRLEN];
	const struct op_def *d;
	const struct kw *kws;
	const char *c;
	size_t k, n;

	if ((unsigned int)cmd->op >= CMD_OP_COUNT || cmd->health.type > CMD_HEALTH_HTTP)
		return -EINVAL;
	d = &ops[cmd->op];
	out_add(&o, "%s", d->name);
	if (d->args & ARG_IFNAME)
		out_add(&o, " %s", cmd->ifname);
	if (d->args & ARG_SERVICE || (d->args & ARG_OPT_SERVICE && cmd->has & CMD_HAS_SERVICE))
		out_service(&o, &cmd->service);
	if (d->args & ARG_ADDR) {
		if (backend_format(&cmd->backend.addr, cmd->backend.family, cmd->backend.port,
				   backend, sizeof(backend)) < 0)
			o.err = -EINVAL;
		else
			out_add(&o, " %s", backend);
	}
	if (d->args & ARG_HEALTH)
		out_add(&o, " %s", health_type_names[cmd->health.type]);
	if (d->args & ARG_OPT_FILE && cmd->has & CMD_HAS_FILE) {
		/* cmd_split() would cut it in two. */
		for (c = cmd->file; *c; c++)
			if (is_space(*c))
				o.err = -EINVAL;
		out_add(&o, " %s", cmd->file);
	}
	if (d->args & ARG_CLIENT) {
		if (addr_format(&cmd->client.addr, cmd->client.family, addr, sizeof(addr)) < 0)
			o.err = -EINVAL;
		else if (!(cmd->has & CMD_HAS_PORT))
			out_add(&o, " %s", addr);
		else if (cmd->client.family == XLB_AF_INET6)
			out_add(&o, " [%s]:%u", addr, cmd->client.port);
		else
			out_add(&o, " %s:%u", addr, cmd->client.port);
	}
	if (d->args & ARG_OPT_TOPIC && cmd->topic)
		out_add(&o, " %s", cmd->topic);
	if (d->flag && cmd->has & CMD_HAS_FLAG)
		out_add(&o, " %s", d->flag);
	kws = op_keywords(cmd, &n);
	for (k = 0; k < n; k++)
		if (kw_applies(cmd, &kws[k]))
			out_keyword(&o, cmd, &kws[k]);
	if (o.err)
		return o.err;
	return o.n < len ? (int)o.n : -ENOSPC;
}

/* ---- help ---- */

#define HELP_ATTACH "  attach IFNAME [mode native|generic]\n"
#define HELP_DETACH "  detach IFNAME\n"
#define HELP_VIP                                                                         \
	"  vip add SERVICE [method ipip|l2|gue [encap-port N]] [hash 5tuple|src]\n"      \
	"          [ring PRIME] [announce always|healthy]\n"                              \
	"  vip add SERVICE method nat [snat ADDR[,ADDR...]] [snat-ports LO-HI]\n"        \
	"          [tcp-timeout D] [fin-timeout D] [udp-timeout D] [hash ...] [ring ...]\n" \
	"  vip del SERVICE\n"                                                            \
	"  vip list\n"                                                                   \
	"  vip show SERVICE                  backends with weight, health, ring share\n"
#define HELP_BACKEND                                                                          \
	"  backend add SERVICE ADDR[:PORT] [weight N]\n"                                      \
	"  backend set SERVICE ADDR[:PORT] weight N  weight 0 drains: no new flows, old stay\n" \
	"  backend del SERVICE ADDR[:PORT]\n"                                                 \
	"  backend list [SERVICE]\n"
#define HELP_HEALTH                                                          \
	"  health set SERVICE off | tcp | http [path P] [status CODE]\n"     \
	"             [port N] [interval D] [timeout D] [rise N] [fall N]\n" \
	"             [via direct|vip]\n"                                   \
	"  health show [SERVICE]\n"
#define HELP_RATELIMIT                               \
	"  ratelimit set SERVICE rate PPS burst N\n" \
	"  ratelimit off SERVICE\n"
#define HELP_TOP "  top [count N]                     sources the rate limiter dropped most\n"
#define HELP_STATS "  stats [SERVICE] [watch]             rates from two samples; watch: refresh\n"
#define HELP_SAVE "  save\n"
#define HELP_RESTORE "  restore [FILE]                    FILE or stdin, applied all or nothing\n"
#define HELP_STATUS "  status\n"
#define HELP_DECAP                                                                    \
	"  decap attach IFNAME [gue-port N] | decap detach IFNAME   (backend hosts)\n"  \
	"  decap prune                       reclaim pins of namespaces that are gone\n"
#define NOTE_DECAP                                                                           \
	"decap strips IPIP, and GUE to gue-port (default 6080, 0: none); no daemon needed.\n" \
	"attach, detach and prune remove the pins of decap links whose interface is gone\n" \
	"(a namespace deleted without a detach) and say so; prune lists what it found.\n"
#define HELP_NODE                                                                             \
	"  node drain | node undrain             withdraw this node's VIPs from BGP, or not\n"
#define HELP_LOOKUP \
	"  lookup SERVICE CLIENT_ADDR[:PORT]  the backend this client's flow goes to, and why\n"
#define HELP_CONNS \
	"  conns [SERVICE] [from ADDR[/LEN]] [count N]   what the connection table holds\n"
#define HELP_TRACE                                                                     \
	"  trace [SERVICE] [from ADDR[/LEN]] [port N] [count N] [timeout D] [pcap FILE]\n" \
	"                                    each matching packet as the data plane sees it\n"
#define HELP_HELP "  help [COMMAND] | COMMAND help\n"

#define NOTE_SERVICE \
	"SERVICE is ADDR:PORT/PROTO: 10.0.0.10:80/tcp, [fd00::10]:443/tcp; port 0: all ports.\n"
#define NOTE_VIP                                                                             \
	"Defaults: method ipip, hash 5tuple, ring 65537 (prime, 1021-1048573), announce always:\n" \
	"gue: IP in UDP to encap-port (default 6080), source port from the flow hash.\n"       \
	"nat: full NAT, backends need nothing and see a pool address as the client: snat\n"    \
	"(up to 16 addresses of the VIP's family; default the balancer's own), snat-ports\n" \
	"1024-32767, tcp-timeout 900s, fin-timeout 10s (after FIN both ways or RST),\n"       \
	"udp-timeout 300s (whole seconds, at least 1s).\n"                                     \
	"With xlbd -b, the VIP is announced to BGP while this node serves it; healthy: only\n"     \
	"while one of its backends is up, rather than failing open everywhere.\n"
#define NOTE_BACKEND                                                                 \
	"Weight 0-65535, default 1. ADDR has the SERVICE's family, or is IPv6 for an IPv4\n" \
	"SERVICE of method ipip or gue (IPv4 inside IPv6). PORT (method nat only; IPv6 as\n"  \
	"[ADDR]:PORT): the backend's port, default the packet's own destination port.\n"     \
	"A backend is its address and port: 10.0.0.2:8080 and 10.0.0.2:8081 are two.\n"
#define NOTE_HEALTH                                                                            \
	"Durations take ms or s: 500ms, 2s. Defaults: interval 1s (100ms-1h), timeout 500ms\n" \
	"(at least 10ms, at most the interval), rise 2, fall 3 (1-100), path /, status 200;\n" \
	"port 0 is the SERVICE's port and must be given for an all-ports SERVICE.\n"             \
	"via direct (default) connects to the backend's own address; via vip connects to the\n" \
	"VIP, delivered to the backend as a client's packets are (ipip or l2, through the\n"    \
	"first attached interface), so a backend that would drop clients fails the check.\n"
#define NOTE_RATELIMIT "Per source (IPv4 /32, IPv6 /64); rate and burst 1-100000000.\n"
#define NOTE_TOP "Count 1-1000, default 10.\n"
#define NOTE_NODE                                                                    \
	"Only with xlbd -b (BIRD): a drained node keeps forwarding what reaches it, and\n" \
	"stays drained across restarts; save and restore leave it out.\n"
#define NOTE_ATTACH "Default mode native.\n"
#define NOTE_LOOKUP                                                                           \
	"The connection table's entry when the flow has one that still holds, else the ring's\n" \
	"slot, computed as the data plane does. The port may be left out for a hash src VIP.\n"
#define NOTE_TRACE                                                                              \
	"One line per packet: time, interface, flow, outcome (the counters' names), VIP, backend\n" \
	"and how it was chosen. port: source or destination. count 0 and timeout 0s: until\n"      \
	"Ctrl-C. pcap FILE: the packets as received and as sent. One trace at a time.\n"
#define NOTE_CONNS "Count 1-10000000, default 1000. The table is read in slices: xlbd never stalls.\n"

#define USAGE "Usage: xlbctl [-s SOCKET] [-j] [-V] COMMAND\n"
#define PAGE(lines) USAGE "\n" lines

static const char help_all[] =
	USAGE "\n" HELP_ATTACH HELP_DETACH HELP_VIP HELP_BACKEND HELP_HEALTH HELP_RATELIMIT
	HELP_TOP HELP_STATS HELP_SAVE HELP_RESTORE HELP_STATUS HELP_DECAP HELP_NODE HELP_LOOKUP HELP_CONNS HELP_TRACE HELP_HELP "\n"
	NOTE_SERVICE "Durations take ms or s suffixes: 500ms, 2s.\n"
	"Command words may be shortened to a unique prefix: 'xlbctl v l' is 'xlbctl vip list'.\n";

static const struct {
	const char *topic;
	const char *text;
} help_topics[] = {
	{ "attach", PAGE(HELP_ATTACH) "\n" NOTE_ATTACH },
	{ "detach", PAGE(HELP_DETACH) },
	{ "vip", PAGE(HELP_VIP) "\n" NOTE_SERVICE NOTE_VIP },
	{ "backend", PAGE(HELP_BACKEND) "\n" NOTE_SERVICE NOTE_BACKEND },
	{ "health", PAGE(HELP_HEALTH) "\n" NOTE_SERVICE NOTE_HEALTH },
	{ "ratelimit", PAGE(HELP_RATELIMIT) "\n" NOTE_SERVICE NOTE_RATELIMIT },
	{ "top", PAGE(HELP_TOP) "\n" NOTE_TOP },
	{ "stats", PAGE(HELP_STATS) "\n" NOTE_SERVICE },
	{ "save", PAGE(HELP_SAVE) },
	{ "restore", PAGE(HELP_RESTORE) },
	{ "status", PAGE(HELP_STATUS) },
	{ "decap", PAGE(HELP_DECAP) "\n" NOTE_DECAP },
	{ "node", PAGE(HELP_NODE) "\n" NOTE_NODE },
	{ "lookup", PAGE(HELP_LOOKUP) "\n" NOTE_SERVICE NOTE_LOOKUP },
	{ "conns", PAGE(HELP_CONNS) "\n" NOTE_CONNS },
	{ "trace", PAGE(HELP_TRACE) "\n" NOTE_SERVICE NOTE_TRACE },
	{ "help", PAGE(HELP_HELP) },
};

const char *cmd_help(const char *topic)
{
	size_t i;

	if (!topic || !*topic)
		return help_all;
	for (i = 0; i < ARRAY_SIZE(help_topics); i++)
		if (!strcmp(help_topics[i].topic, topic))
			return help_topics[i].text;
	return NULL;
}
