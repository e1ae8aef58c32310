/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The command language: every command through parse -> format -> parse, command-word prefixes,
 * every class of bad input with the word its message must name, line splitting, and the
 * canonical text of addresses, services and durations.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "cmd.h"



/* Fail with the expression, a message saying what was being checked, and the caller's line. */
#define check(cond, ...) check_at(!!(cond), __FILE__, __LINE__, #cond ": " __VA_ARGS__)

static void check_at(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void check_at(bool ok, const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (ok)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s\n", msg);
	_fail(file, line);
}

#define SVC4 "10.0.0.10:80/tcp"
#define SVC6 "[fd00::10]:443/udp"
#define ALL4 "10.0.0.10:0/tcp"

/* Big enough to be kept off the stack. */
static struct cmd cmd_a, cmd_b;
static char err[256];

/* Split a line as xlbd does with a state file, then parse it. */
static int parse_line(const char *line, struct cmd *cmd)
{
	static char buf[CMD_LINE_MAX];
	char *argv[CMD_ARGS_MAX];
	int argc;

	check(strlen(line) < sizeof(buf), "test line too long");
	strcpy(buf, line);
	argc = cmd_split(buf, argv, CMD_ARGS_MAX);
	check(argc >= 0, "'%s' splits", line);
	memset(err, 0, sizeof(err));
	return cmd_parse(argc, argv, cmd, err, sizeof(err));
}

static void parse_ok(const char *line, struct cmd *cmd)
{
	int ret = parse_line(line, cmd);

	check(ret == 0, "'%s' parses, got %d: %s", line, ret, err);
	check(err[0] == '\0', "no message for good input '%s': %s", line, err);
}

/* The canonical text of line, which must reparse to the same struct and print the same again. */
static void check_canonical(const char *line, const char *want)
{
	static char text[CMD_LINE_MAX], again[CMD_LINE_MAX];
	int n;

	parse_ok(line, &cmd_a);
	n = cmd_format(&cmd_a, text, sizeof(text));
	check(n == (int)strlen(want) && !strcmp(text, want), "'%s' prints as '%s', got '%s' (%d)",
	      line, want, text, n);
	parse_ok(text, &cmd_b);
	check(!memcmp(&cmd_a, &cmd_b, sizeof(cmd_a)), "'%s' reparses to the same command", text);
	n = cmd_format(&cmd_b, again, sizeof(again));
	check(n >= 0 && !strcmp(text, again), "'%s' prints the same twice, got '%s'", text, again);
	check(!strncmp(text, cmd_name(cmd_a.op), strlen(cmd_name(cmd_a.op))),
	      "'%s' starts with its command's name '%s'", text, cmd_name(cmd_a.op));
}

/* Every command, as typed and as printed: each option, both families, all-ports services. */
static const struct {
	const char *in;
	const char *out;
} canonical[] = {
	{ "attach eth0", "attach eth0 mode native" },
	{ "attach veth-lb0 mode generic", "attach veth-lb0 mode generic" },
	{ "attach 0123456789abcde", "attach 0123456789abcde mode native" },
	{ "detach eth0", "detach eth0" },
	{ "vip add " SVC4, "vip add " SVC4 " method ipip hash 5tuple ring 65537 announce always" },
	/* Next to the loopback net (127/8, ::1), not in it. */
	{ "vip add 126.255.255.255:80/tcp",
	  "vip add 126.255.255.255:80/tcp method ipip hash 5tuple ring 65537 announce always" },
	{ "backend add 128.0.0.1:80/tcp 128.0.0.0",
	  "backend add 128.0.0.1:80/tcp 128.0.0.0 weight 1" },
	{ "backend add [::2]:80/tcp ::3", "backend add [::2]:80/tcp ::3 weight 1" },
	{ "vip add [FD00:0::10]:443/udp ring 1021 hash src method l2",
	  "vip add " SVC6 " method l2 hash src ring 1021 announce always" },
	{ "vip add 10.0.0.10:0/udp hash src",
	  "vip add 10.0.0.10:0/udp method ipip hash src ring 65537 announce always" },
	{ "vip add [2001:db8::1]:0/tcp ring 1048573",
	  "vip add [2001:db8::1]:0/tcp method ipip hash 5tuple ring 1048573 announce always" },
	{ "vip add 10.0.0.10:80/tcp announce healthy ring 1021",
	  "vip add 10.0.0.10:80/tcp method ipip hash 5tuple ring 1021 announce healthy" },
	{ "node drain", "node drain" },
	{ "no u", "node undrain" },
	{ "vip add 192.0.2.1:65535/udp method ipip",
	  "vip add 192.0.2.1:65535/udp method ipip hash 5tuple ring 65537 announce always" },
	{ "vip del " SVC4, "vip del " SVC4 },
	{ "vip del " SVC6, "vip del " SVC6 },
	{ "vip list", "vip list" },
	{ "vip show " ALL4, "vip show " ALL4 },
	{ "backend add " SVC4 " 10.0.0.2", "backend add " SVC4 " 10.0.0.2 weight 1" },
	{ "backend add " SVC4 " 10.0.0.3 weight 0", "backend add " SVC4 " 10.0.0.3 weight 0" },
	{ "backend add " SVC6 " FD00:0:0:0:0:0:0:2 weight 65535",
	  "backend add " SVC6 " fd00::2 weight 65535" },
	{ "backend set " SVC4 " 10.0.0.2 weight 5", "backend set " SVC4 " 10.0.0.2 weight 5" },
	{ "backend set " SVC6 " fd00::2 weight 0", "backend set " SVC6 " fd00::2 weight 0" },
	{ "backend del " SVC4 " 10.0.0.2", "backend del " SVC4 " 10.0.0.2" },
	{ "backend del " SVC6 " fd00::2", "backend del " SVC6 " fd00::2" },
	{ "backend list", "backend list" },
	{ "backend list " SVC6, "backend list " SVC6 },
	{ "health set " SVC4 " off", "health set " SVC4 " off" },
	{ "health set " SVC4 " tcp",
	  "health set " SVC4 " tcp port 0 interval 1s timeout 500ms rise 2 fall 3 via direct" },
	{ "health set " SVC6 " tcp fall 1 rise 100 timeout 10ms interval 100ms port 8443",
	  "health set " SVC6
	  " tcp port 8443 interval 100ms timeout 10ms rise 100 fall 1 via direct" },
	{ "health set " SVC4 " http",
	  "health set " SVC4
	  " http path / status 200 port 0 interval 1s timeout 500ms rise 2 fall 3 via direct" },
	{ "health set " SVC4 " http path /healthz?full=1 status 204 port 8080 interval 2000ms "
	  "timeout 1500ms rise 1 fall 100",
	  "health set " SVC4 " http path /healthz?full=1 status 204 port 8080 interval 2s "
	  "timeout 1500ms rise 1 fall 100 via direct" },
	{ "health set " ALL4 " tcp port 22", "health set " ALL4
	  " tcp port 22 interval 1s timeout 500ms rise 2 fall 3 via direct" },
	{ "health set [fd00::10]:0/udp http port 80 status 599 interval 3600s timeout 3600000ms",
	  "health set [fd00::10]:0/udp http path / status 599 port 80 interval 3600s "
	  "timeout 3600s rise 2 fall 3 via direct" },
	/* The default timeout follows an interval shorter than itself; an explicit one cannot. */
	{ "health set " SVC4 " tcp interval 200ms",
	  "health set " SVC4 " tcp port 0 interval 200ms timeout 200ms rise 2 fall 3 via direct" },
	{ "health set " SVC4 " tcp interval 300ms timeout 300ms",
	  "health set " SVC4 " tcp port 0 interval 300ms timeout 300ms rise 2 fall 3 via direct" },
		/* Saved lines of earlier versions have no via: they meant direct. */
	{ "health set " SVC4 " tcp via vip",
	  "health set " SVC4 " tcp port 0 interval 1s timeout 500ms rise 2 fall 3 via vip" },
	{ "health set " SVC6 " http via direct path /h",
	  "health set " SVC6 " http path /h status 200 port 0 interval 1s timeout 500ms rise 2 "
	  "fall 3 via direct" },
	{ "health show", "health show" },
	{ "health show " SVC4, "health show " SVC4 },
	{ "ratelimit set " SVC4 " rate 1000 burst 50",
	  "ratelimit set " SVC4 " rate 1000 burst 50" },
	{ "ratelimit set " SVC6 " burst 100000000 rate 100000000",
	  "ratelimit set " SVC6 " rate 100000000 burst 100000000" },
	{ "ratelimit set " ALL4 " rate 1 burst 1", "ratelimit set " ALL4 " rate 1 burst 1" },
	{ "ratelimit off " SVC4, "ratelimit off " SVC4 },
	{ "top", "top count 10" },
	{ "top count 1000", "top count 1000" },
	{ "top count 1", "top count 1" },
	{ "stats", "stats" },
	{ "stats " SVC6, "stats " SVC6 },
	{ "stats watch", "stats watch" },
	{ "stats " SVC4 " watch", "stats " SVC4 " watch" },
	{ "save", "save" },
	{ "restore", "restore" },
	{ "restore /etc/xlb/backup.conf", "restore /etc/xlb/backup.conf" },
	{ "status", "status" },
	{ "decap attach eth0", "decap attach eth0 gue-port 6080" },
	{ "decap attach eth0 gue-port 0", "decap attach eth0 gue-port 0" },
	{ "vip add " SVC4 " method gue", "vip add " SVC4 " method gue hash 5tuple ring 65537 "
					 "announce always encap-port 6080" },
	{ "vip add " SVC6 " encap-port 5555 method gue",
	  "vip add " SVC6 " method gue hash 5tuple ring 65537 announce always encap-port 5555" },
	{ "decap detach eth0", "decap detach eth0" },
	{ "decap prune", "decap prune" },
	/* method nat: a pool only when given (else xlbd's default), ports and timeouts always */
	{ "vip add " SVC4 " method nat", "vip add " SVC4 " method nat hash 5tuple ring 65537 "
					 "announce always snat-ports 1024-32767 tcp-timeout 900s "
					 "fin-timeout 10s udp-timeout 300s" },
	{ "vip add " SVC4 " udp-timeout 5s snat 10.9.0.1,10.9.0.2 method nat snat-ports 40000-40003 "
	  "tcp-timeout 3600000ms fin-timeout 1s",
	  "vip add " SVC4 " method nat hash 5tuple ring 65537 announce always snat "
	  "10.9.0.1,10.9.0.2 snat-ports 40000-40003 tcp-timeout 3600s fin-timeout 1s "
	  "udp-timeout 5s" },
	{ "vip add " SVC6 " method nat snat FD00::9 snat-ports 1-65535 hash src",
	  "vip add " SVC6 " method nat hash src ring 65537 announce always snat fd00::9 snat-ports "
	  "1-65535 tcp-timeout 900s fin-timeout 10s udp-timeout 300s" },
	{ "vip add " ALL4 " method nat snat-ports 7-7 tcp-timeout 604800s",
	  "vip add " ALL4 " method nat hash 5tuple ring 65537 announce always snat-ports 7-7 "
	  "tcp-timeout 604800s fin-timeout 10s udp-timeout 300s" },
	/* backend ports: IPv4 ADDR:PORT, IPv6 [ADDR]:PORT; 0 is no port */
	{ "backend add " SVC4 " 10.0.0.2:8080", "backend add " SVC4 " 10.0.0.2:8080 weight 1" },
	{ "backend add " SVC4 " 10.0.0.2:0 weight 2", "backend add " SVC4 " 10.0.0.2 weight 2" },
	{ "backend add " SVC6 " [FD00::2]:65535", "backend add " SVC6 " [fd00::2]:65535 weight 1" },
	{ "backend set " SVC6 " [fd00::2]:1 weight 0", "backend set " SVC6 " [fd00::2]:1 weight 0" },
	{ "backend del " SVC4 " 10.0.0.2:8081", "backend del " SVC4 " 10.0.0.2:8081" },
	{ "backend add [fd00::10]:80/tcp [fd00::2]:80",
	  "backend add [fd00::10]:80/tcp [fd00::2]:80 weight 1" },
	{ "lookup " SVC4 " 10.1.2.3:5000", "lookup " SVC4 " 10.1.2.3:5000" },
	{ "lookup " SVC4 " 10.1.2.3", "lookup " SVC4 " 10.1.2.3" },
	{ "lookup " SVC6 " [fd00::9]:65535", "lookup " SVC6 " [fd00::9]:65535" },
	{ "lookup " SVC6 " fd00::9", "lookup " SVC6 " fd00::9" },
	{ "lookup " SVC6 " [fd00::9]", "lookup " SVC6 " fd00::9" },
	{ "conns", "conns count 1000" },
	{ "conns " SVC4 " count 5", "conns " SVC4 " count 5" },
	{ "conns from 10.1.2.3", "conns from 10.1.2.3/32 count 1000" },
	{ "conns count 7 from 10.1.2.3/8", "conns from 10.0.0.0/8 count 7" },
	{ "conns from fd00::1:2/64", "conns from fd00::/64 count 1000" },
	{ "l " SVC4 " 10.1.2.3", "lookup " SVC4 " 10.1.2.3" },
	{ "co", "conns count 1000" },
	{ "help", "help" },
	{ "help vip", "help vip" },
	{ "vip help", "help vip" },
	{ "attach help", "help attach" },
	{ "decap help", "help decap" },
	{ "help help", "help help" },
	/* Command words take unique prefixes, at every level. */
	{ "v l", "vip list" },
	{ "vi a " SVC4, "vip add " SVC4 " method ipip hash 5tuple ring 65537 announce always" },
	{ "v sh " SVC4, "vip show " SVC4 },
	{ "b a " SVC4 " 10.0.0.2", "backend add " SVC4 " 10.0.0.2 weight 1" },
	{ "ba s " SVC4 " 10.0.0.2 weight 3", "backend set " SVC4 " 10.0.0.2 weight 3" },
	{ "b d " SVC4 " 10.0.0.2", "backend del " SVC4 " 10.0.0.2" },
	{ "b l", "backend list" },
	{ "hea se " SVC4 " off", "health set " SVC4 " off" },
	{ "hea sh", "health show" },
	{ "ra o " SVC4, "ratelimit off " SVC4 },
	{ "ra s " SVC4 " rate 5 burst 5", "ratelimit set " SVC4 " rate 5 burst 5" },
	{ "to", "top count 10" },
	{ "trace", "trace port 0 count 0 timeout 0ms" },
	{ "trace " SVC4 " from 10.0.0.0/8 port 40000 count 5 timeout 10s pcap /tmp/x.pcap",
	  "trace " SVC4 " from 10.0.0.0/8 port 40000 count 5 timeout 10s pcap /tmp/x.pcap" },
	{ "tr pcap p count 1", "trace port 0 count 1 timeout 0ms pcap p" },
	{ "sa", "save" },
	{ "stats", "stats" },
	{ "statu", "status" },
	{ "res", "restore" },
	{ "at eth0", "attach eth0 mode native" },
	{ "det eth0", "detach eth0" },
	{ "dec a eth0", "decap attach eth0 gue-port 6080" },
	{ "deca d eth0", "decap detach eth0" },
	{ "dec p", "decap prune" },
	{ "hel", "help" },
	{ "help v", "help vip" },
	{ "help ra", "help ratelimit" },
	{ "v help", "help vip" },
};

static void test_canonical(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(canonical); i++)
		check_canonical(canonical[i].in, canonical[i].out);
}

/* Every op, whether it belongs in the state file, and whether it changes one VIP. */
static const struct {
	const char *line;
	enum cmd_op op;
	bool config;
	bool vip;
} ops[] = {
	{ "attach eth0", CMD_ATTACH, true, false },
	{ "detach eth0", CMD_DETACH, true, false },
	{ "vip add " SVC4, CMD_VIP_ADD, true, true },
	{ "vip del " SVC4, CMD_VIP_DEL, true, true },
	{ "vip list", CMD_VIP_LIST, false, false },
	{ "vip show " SVC4, CMD_VIP_SHOW, false, false },
	{ "backend add " SVC4 " 10.0.0.2", CMD_BACKEND_ADD, true, true },
	{ "backend set " SVC4 " 10.0.0.2 weight 2", CMD_BACKEND_SET, true, true },
	{ "backend del " SVC4 " 10.0.0.2", CMD_BACKEND_DEL, true, true },
	{ "backend list", CMD_BACKEND_LIST, false, false },
	{ "health set " SVC4 " off", CMD_HEALTH_SET, true, true },
	{ "health show", CMD_HEALTH_SHOW, false, false },
	{ "ratelimit set " SVC4 " rate 1 burst 1", CMD_RATELIMIT_SET, true, true },
	{ "ratelimit off " SVC4, CMD_RATELIMIT_OFF, true, true },
	{ "lookup " SVC4 " 10.1.2.3:9", CMD_LOOKUP, false, false },
	{ "conns", CMD_CONNS, false, false },
	{ "trace", CMD_TRACE, false, false },
	{ "top", CMD_TOP, false, false },
	{ "stats", CMD_STATS, false, false },
	{ "save", CMD_SAVE, false, false },
	{ "restore", CMD_RESTORE, false, false },
	{ "status", CMD_STATUS, false, false },
	{ "decap attach eth0", CMD_DECAP_ATTACH, false, false },
	{ "decap detach eth0", CMD_DECAP_DETACH, false, false },
	{ "decap prune", CMD_DECAP_PRUNE, false, false },
	{ "node drain", CMD_NODE_DRAIN, true, false },
	{ "node undrain", CMD_NODE_UNDRAIN, true, false },
	{ "help", CMD_HELP, false, false },
};

static void test_ops(void **state)
{
	bool seen[CMD_OP_COUNT] = { false };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		parse_ok(ops[i].line, &cmd_a);
		check(cmd_a.op == ops[i].op, "'%s' is op %d, got %d", ops[i].line, ops[i].op,
		      cmd_a.op);
		check(cmd_is_config(&cmd_a) == ops[i].config, "'%s' is %sa config command",
		      ops[i].line, ops[i].config ? "" : "not ");
		check(cmd_changes_vip(&cmd_a) == ops[i].vip, "'%s' %s one VIP", ops[i].line,
		      ops[i].vip ? "changes" : "does not change");
		seen[cmd_a.op] = true;
	}
	for (i = 0; i < CMD_OP_COUNT; i++)
		check(seen[i] && cmd_name(i), "op %zu has a test line and a name", i);
	check(!cmd_name(CMD_OP_COUNT), "no name past the last op");
}

/* What the fields hold, not only that the text survives. */
static void test_fields(void **state)
{
	static const __u8 fd00_10[16] = { 0xfd, 0x00, [15] = 0x10 };

	parse_ok("vip add [fd00::10]:443/udp method l2 hash src ring 1021", &cmd_a);
	check(cmd_a.service.family == XLB_AF_INET6 && cmd_a.service.proto == IPPROTO_UDP &&
		      cmd_a.service.port == htons(443) &&
		      !memcmp(cmd_a.service.addr.b, fd00_10, 16),
	      "IPv6 service key");
	check(cmd_a.vip.method == XLB_METHOD_L2 && cmd_a.vip.hash == CMD_HASH_SRC &&
		      cmd_a.vip.ring == 1021,
	      "vip options");

	parse_ok("vip add 10.0.0.10:0/tcp", &cmd_a);
	check(cmd_a.service.family == XLB_AF_INET && cmd_a.service.proto == IPPROTO_TCP &&
		      cmd_a.service.port == 0 && cmd_a.service.addr.v4 == inet_addr("10.0.0.10") &&
		      !cmd_a.service.addr.w[1] && !cmd_a.service.addr.w[2] &&
		      !cmd_a.service.addr.w[3],
	      "IPv4 all-ports service key");
	check(cmd_a.vip.method == CMD_METHOD_DEFAULT && cmd_a.vip.hash == CMD_HASH_DEFAULT &&
		      cmd_a.vip.ring == CMD_RING_DEFAULT,
	      "vip defaults");

	parse_ok("backend add " SVC4 " 10.0.0.2", &cmd_a);
	check(cmd_a.backend.family == XLB_AF_INET &&
		      cmd_a.backend.addr.v4 == inet_addr("10.0.0.2") &&
		      cmd_a.backend.weight == CMD_WEIGHT_DEFAULT,
	      "backend address and default weight");

	parse_ok("backend add " SVC6 " [fd00::2]:8080 weight 3", &cmd_a);
	check(cmd_a.backend.family == XLB_AF_INET6 && cmd_a.backend.port == 8080 &&
		      cmd_a.backend.addr.b[0] == 0xfd && cmd_a.backend.addr.b[15] == 2 &&
		      cmd_a.backend.weight == 3,
	      "IPv6 backend with a port, host order");
	parse_ok("backend add " SVC4 " 10.0.0.2", &cmd_a);
	check(cmd_a.backend.port == 0, "no port: 0");

	parse_ok("vip add " SVC4 " method nat snat 10.9.0.1,10.9.0.2", &cmd_a);
	check(cmd_a.vip.method == XLB_METHOD_NAT && cmd_a.vip.snat.n == 2 &&
		      cmd_a.vip.snat.addrs[0].v4 == inet_addr("10.9.0.1") &&
		      cmd_a.vip.snat.addrs[1].v4 == inet_addr("10.9.0.2") &&
		      cmd_a.vip.snat_port_lo == 1024 && cmd_a.vip.snat_port_hi == 32767 &&
		      cmd_a.vip.tcp_timeout_ms == 900000 && cmd_a.vip.fin_timeout_ms == 10000 &&
		      cmd_a.vip.udp_timeout_ms == 300000 && cmd_a.vip.encap_port == 0,
	      "nat pool, ports and timeout defaults");
	parse_ok("vip add " SVC4 " method gue", &cmd_a);
	check(!cmd_a.vip.snat.n && !cmd_a.vip.snat_port_lo && !cmd_a.vip.snat_port_hi &&
		      !cmd_a.vip.tcp_timeout_ms && !cmd_a.vip.fin_timeout_ms &&
		      !cmd_a.vip.udp_timeout_ms,
	      "other methods leave the nat fields zero");

	parse_ok("health set " ALL4 " http port 8080", &cmd_a);
	check(cmd_a.health.type == CMD_HEALTH_HTTP && !strcmp(cmd_a.health.path, "/") &&
		      cmd_a.health.status == 200 && cmd_a.health.port == 8080 &&
		      cmd_a.health.interval_ms == 1000 && cmd_a.health.timeout_ms == 500 &&
		      cmd_a.health.rise == 2 && cmd_a.health.fall == 3,
	      "http check defaults, port in host order");
	parse_ok("health set " SVC4 " tcp", &cmd_a);
	check(cmd_a.health.type == CMD_HEALTH_TCP && !cmd_a.health.path[0] && !cmd_a.health.status,
	      "tcp checks leave path and status zero");

	parse_ok("ratelimit set " SVC4 " rate 2000 burst 300", &cmd_a);
	check(cmd_a.ratelimit.rate == 2000 && cmd_a.ratelimit.burst == 300, "rate limit values");

	parse_ok("attach eth1", &cmd_a);
	check(!strcmp(cmd_a.ifname, "eth1") && cmd_a.mode == CMD_MODE_NATIVE, "attach defaults");
	parse_ok("top", &cmd_a);
	check(cmd_a.count == CMD_TOP_DEFAULT, "top default count");

	parse_ok("stats", &cmd_a);
	check(!(cmd_a.has & CMD_HAS_SERVICE), "stats without a service");
	parse_ok("stats " SVC4, &cmd_a);
	check(cmd_a.has & CMD_HAS_SERVICE && cmd_a.service.port == htons(80), "stats of a service");
	check(!(cmd_a.has & CMD_HAS_FLAG), "stats without watch");
	parse_ok("stats watch", &cmd_a);
	check(cmd_a.has & CMD_HAS_FLAG && !(cmd_a.has & CMD_HAS_SERVICE), "stats watch: no service");
	parse_ok("restore", &cmd_a);
	check(!(cmd_a.has & CMD_HAS_FILE), "restore from stdin");
	parse_ok("restore saved.conf", &cmd_a);
	check(cmd_a.has & CMD_HAS_FILE && !strcmp(cmd_a.file, "saved.conf"), "restore a file");

	parse_ok("help", &cmd_a);
	check(cmd_a.op == CMD_HELP && !cmd_a.topic, "help for everything");
	parse_ok("backend help", &cmd_a);
	check(cmd_a.op == CMD_HELP && cmd_a.topic && !strcmp(cmd_a.topic, "backend"),
	      "help for one command");
}

/* Each bad input is refused with a one-line message that names what is wrong. */
static const struct {
	const char *line;
	const char *names;
} bad[] = {
	/* unknown and ambiguous commands */
	{ "frob", "unknown command 'frob', try 'xlbctl help'" },
	{ "vip frob", "unknown command 'vip frob', try 'xlbctl help'" },
	{ "backend show", "unknown command 'backend show'" },
	{ "help frob", "unknown command 'help frob', try 'xlbctl help'" },
	{ "s", "ambiguous command 's', could be stats, save or status" },
	{ "st", "ambiguous command 'st', could be stats or status" },
	{ "d eth0", "ambiguous command 'd', could be detach or decap" },
	{ "h", "ambiguous command 'h', could be health or help" },
	{ "r", "ambiguous command 'r', could be ratelimit or restore" },
	{ "health s " SVC4, "ambiguous command 'health s', could be set or show" },
	{ "", "missing command, try 'xlbctl help'" },
	{ "vip", "missing command after 'vip'" },
	{ "# just a comment", "missing command" },
	/* keywords and their values are never abbreviated */
	{ "vip add " SVC4 " meth l2", "unexpected 'meth'" },
	{ "vip add " SVC4 " method IPIP", "bad method 'IPIP' (ipip, l2, gue or nat)" },
	{ "vip add " SVC4 " method ipip encap-port 6080", "encap-port is for method gue, not ipip" },
	{ "vip add " SVC4 " encap-port 6080", "encap-port is for method gue, not ipip" },
	{ "vip add " SVC4 " method gue encap-port 0", "encap-port 0 out of range 1-65535" },
	{ "decap attach eth0 gue-port 65536", "gue-port 65536 out of range 0-65535" },
	{ "vip add " SVC4 " method ip", "bad method 'ip'" },
	{ "vip add " SVC4 " hash 5-tuple", "bad hash '5-tuple' (5tuple or src)" },
	{ "vip add " SVC4 " announce up", "bad announce 'up' (always or healthy)" },
	{ "vip add " SVC4 " announce", "announce" },
	{ "node", "node" },
	{ "node drain now", "unexpected 'now'" },
	{ "node stop", "stop" },
	{ "attach eth0 mode nat", "bad mode 'nat' (native or generic)" },
	{ "attach eth0 mode xdp", "bad mode 'xdp'" },
	/* bad addresses */
	{ "vip add 10.0.0.300:80/tcp", "bad address '10.0.0.300' in service '10.0.0.300:80/tcp'" },
	{ "vip add 10.0.0:80/tcp", "bad address '10.0.0'" },
	{ "vip add 010.0.0.1:80/tcp", "bad address '010.0.0.1'" },
	{ "vip add :80/tcp", "bad address ''" },
	{ "vip add 0.0.0.0:80/tcp",
	  "bad address '0.0.0.0' in service '0.0.0.0:80/tcp': unspecified" },
	{ "vip add [::]:80/tcp", "bad address '::'" },
	{ "vip add 224.0.0.1:80/tcp",
	  "bad address '224.0.0.1' in service '224.0.0.1:80/tcp': multicast" },
	{ "vip add [ff02::1]:80/tcp", "bad address 'ff02::1'" },
	{ "vip add 255.255.255.255:53/udp", "bad address '255.255.255.255'" },
	{ "vip add [::ffff:10.0.0.1]:80/tcp", "bad address '::ffff:10.0.0.1'" },
	{ "vip add [10.0.0.1]:80/tcp", "bad address '10.0.0.1' in service '[10.0.0.1]:80/tcp'" },
	{ "vip add [fd00::1%eth0]:80/tcp", "bad address 'fd00::1%eth0'" },
	{ "vip add [fd00::zz]:80/tcp", "bad address 'fd00::zz'" },
	{ "vip add example.com:80/tcp", "bad address 'example.com'" },
	{ "backend add " SVC4 " 10.0.0", "bad backend address '10.0.0'" },
	{ "backend add " SVC4 " 0.0.0.0", "bad backend address '0.0.0.0': unspecified" },
	{ "backend add " SVC6 " [fd00::2]", "bad backend address '[fd00::2]': brackets go with a "
					 "port, as in [fd00::2]:8080" },
	{ "backend add " SVC6 " ::ffff:10.0.0.2", "bad backend address '::ffff:10.0.0.2'" },
	{ "backend del " SVC6 " ff02::1", "bad backend address 'ff02::1': multicast" },
	/* loopback: the host's own services as a VIP, nowhere as a backend */
	{ "vip add 127.0.0.1:80/tcp",
	  "bad address '127.0.0.1' in service '127.0.0.1:80/tcp': loopback address" },
	{ "vip add 127.255.0.9:0/udp", "'127.255.0.9:0/udp': loopback address" },
	{ "vip add [::1]:443/tcp", "bad address '::1' in service '[::1]:443/tcp': loopback" },
	{ "backend add " SVC4 " 127.0.0.1", "bad backend address '127.0.0.1': loopback address" },
	{ "backend add " SVC6 " ::1", "bad backend address '::1': loopback address" },
	/* bad ports */
	{ "vip add 10.0.0.1:65536/tcp", "bad port '65536' in service '10.0.0.1:65536/tcp'" },
	{ "vip add 10.0.0.1:-1/tcp", "bad port '-1'" },
	{ "vip add 10.0.0.1:+80/tcp", "bad port '+80'" },
	{ "vip add 10.0.0.1:80x/tcp", "bad port '80x'" },
	{ "vip add 10.0.0.1:0x50/tcp", "bad port '0x50'" },
	{ "vip add 10.0.0.1:080/tcp", "bad port '080'" },
	{ "vip add 10.0.0.1:/tcp", "bad port ''" },
	{ "vip add 10.0.0.1:99999999999/tcp", "bad port '99999999999'" },
	{ "vip add [fd00::1]:http/tcp", "bad port 'http'" },
	/* bad protocols and shapes */
	{ "vip add 10.0.0.1:80/sctp", "bad protocol 'sctp' in service '10.0.0.1:80/sctp'" },
	{ "vip add 10.0.0.1:80/TCP", "bad protocol 'TCP'" },
	{ "vip add 10.0.0.1:80/", "bad protocol ''" },
	{ "vip add 10.0.0.1:80", "bad service '10.0.0.1:80', expected ADDR:PORT/PROTO" },
	{ "vip add 10.0.0.1/tcp", "bad service '10.0.0.1/tcp'" },
	{ "vip add [fd00::1]/tcp", "bad service '[fd00::1]/tcp'" },
	{ "vip add [fd00::1:80/tcp", "bad service '[fd00::1:80/tcp'" },
	{ "vip add [fd00::1]80/tcp", "bad service '[fd00::1]80/tcp'" },
	/* IPv6 without brackets */
	{ "vip add fd00::1:80/tcp", "missing brackets around the IPv6 address in service "
				    "'fd00::1:80/tcp'" },
	{ "vip del ::1:80/tcp",
	  "missing brackets around the IPv6 address in service '::1:80/tcp'" },
	{ "stats fd00::10/udp", "service 'fd00::10/udp'" },
	/* mixed families: IPv4 fits inside IPv6 (config.c decides by method), not the reverse */
	{ "backend add " SVC6 " 10.0.0.2", "backend 10.0.0.2 is IPv4 but VIP " SVC6
					   " is IPv6: no method carries IPv6" },
	{ "backend set " SVC6 " 10.0.0.2 weight 3", "backend 10.0.0.2 is IPv4 but VIP " SVC6
						    " is IPv6" },
	/* weights */
	{ "backend add " SVC4 " 10.0.0.2 weight 70000", "weight 70000 out of range 0-65535" },
	{ "backend set " SVC4 " 10.0.0.2 weight 65536", "weight 65536 out of range 0-65535" },
	{ "backend add " SVC4 " 10.0.0.2 weight -1", "bad weight '-1'" },
	{ "backend add " SVC4 " 10.0.0.2 weight 1x", "bad weight '1x'" },
	{ "backend add " SVC4 " 10.0.0.2 weight 0x10", "bad weight '0x10'" },
	{ "backend add " SVC4 " 10.0.0.2 weight 010", "bad weight '010'" },
	{ "backend add " SVC4 " 10.0.0.2 weight +5", "bad weight '+5'" },
	{ "backend add " SVC4 " 10.0.0.2 weight 99999999999", "weight 99999999999 out of range" },
	/* rings */
	{ "vip add " SVC4 " ring 65536", "ring 65536 is not prime" },
	{ "vip add " SVC4 " ring 1023", "ring 1023 is not prime" },
	{ "vip add " SVC4 " ring 100", "ring 100 too small (minimum 1021)" },
	{ "vip add " SVC4 " ring 1019", "ring 1019 too small (minimum 1021)" },
	{ "vip add " SVC4 " ring 0", "ring 0 too small" },
	{ "vip add " SVC4 " ring 1048583", "ring 1048583 too large (maximum 1048573)" },
	{ "vip add " SVC4 " ring 99999999999", "ring 99999999999 too large" },
	{ "vip add " SVC4 " ring big", "bad ring 'big'" },
	/* durations */
	{ "health set " SVC4 " tcp interval 5", "bad interval '5': durations take ms or s" },
	{ "health set " SVC4 " tcp interval 1m", "bad interval '1m'" },
	{ "health set " SVC4 " tcp interval 1.5s", "bad interval '1.5s'" },
	{ "health set " SVC4 " tcp interval -1s", "bad interval '-1s'" },
	{ "health set " SVC4 " tcp interval 1S", "bad interval '1S'" },
	{ "health set " SVC4 " tcp interval ms", "bad interval 'ms'" },
	{ "health set " SVC4 " tcp timeout 0100ms", "bad timeout '0100ms'" },
	{ "health set " SVC4 " tcp interval 50ms", "interval 50ms out of range 100ms-3600s" },
	{ "health set " SVC4 " tcp interval 3601s", "interval 3601s out of range" },
	{ "health set " SVC4 " tcp interval 99999999999s", "interval 99999999999s out of range" },
	{ "health set " SVC4 " tcp timeout 9ms", "timeout 9ms out of range 10ms-3600s" },
	{ "health set " SVC4 " tcp timeout 2s", "timeout 2s longer than interval 1s" },
	{ "health set " SVC4 " http interval 200ms timeout 201ms",
	  "timeout 201ms longer than interval 200ms" },
	/* other health options */
	{ "health set " SVC4 " ping", "bad health check 'ping' (off, tcp or http)" },
	{ "health set " SVC4 " tcp via tunnel", "bad via 'tunnel' (direct or vip)" },
	{ "health set " SVC4 " http status 99", "status 99 out of range 100-599" },
	{ "health set " SVC4 " http status 600", "status 600 out of range" },
	{ "health set " SVC4 " tcp rise 0", "rise 0 out of range 1-100" },
	{ "health set " SVC4 " tcp fall 101", "fall 101 out of range 1-100" },
	{ "health set " SVC4 " tcp port 65536", "port 65536 out of range 0-65535" },
	/* http paths */
	{ "health set " SVC4 " http path healthz", "bad http path 'healthz': must start with '/'" },
	{ "health set " SVC4 " http path /caf\xc3\xa9", "bad http path '/caf\xc3\xa9'" },
	{ "health set " SVC4 " http path /a\x01", "bad http path '/a\x01'" },
	/* health port of an all-ports service */
	{ "health set " ALL4 " tcp", "missing 'port' for all-ports service '" ALL4 "'" },
	{ "health set [fd00::10]:0/udp http path /x", "missing 'port' for all-ports service "
						      "'[fd00::10]:0/udp'" },
	{ "health set " ALL4 " tcp port 0", "missing 'port' for all-ports service" },
	/* rate limits and top */
	{ "ratelimit set " SVC4 " rate 0 burst 1", "rate 0 out of range 1-100000000" },
	{ "ratelimit set " SVC4 " rate 100000001 burst 1", "rate 100000001 out of range" },
	{ "ratelimit set " SVC4 " rate 1 burst 0", "burst 0 out of range 1-100000000" },
	{ "ratelimit set " SVC4 " rate 1 burst 100000001", "burst 100000001 out of range" },
	{ "top count 0", "count 0 out of range 1-1000" },
	{ "top count 1001", "count 1001 out of range 1-1000" },
	/* missing arguments */
	{ "vip add", "missing SERVICE after 'vip add'" },
	{ "v a", "missing SERVICE after 'vip add'" },
	{ "vip del", "missing SERVICE after 'vip del'" },
	{ "vip show", "missing SERVICE after 'vip show'" },
	{ "backend add " SVC4, "missing ADDR after 'backend add " SVC4 "'" },
	{ "backend add", "missing SERVICE after 'backend add'" },
	{ "backend set " SVC4 " 10.0.0.2",
	  "missing 'weight' after 'backend set " SVC4 " 10.0.0.2'" },
	{ "backend del " SVC4, "missing ADDR" },
	{ "health set " SVC4, "missing off|tcp|http after 'health set " SVC4 "'" },
	{ "ratelimit set " SVC4, "missing 'rate' after 'ratelimit set " SVC4 "'" },
	{ "ratelimit set " SVC4 " rate 10", "missing 'burst'" },
	{ "ratelimit off", "missing SERVICE after 'ratelimit off'" },
	{ "attach", "missing IFNAME after 'attach'" },
	{ "detach", "missing IFNAME after 'detach'" },
	{ "decap attach", "missing IFNAME after 'decap attach'" },
	{ "vip add " SVC4 " ring", "missing value after 'ring'" },
	{ "backend add " SVC4 " 10.0.0.2 weight", "missing value after 'weight'" },
	{ "attach eth0 mode", "missing value after 'mode'" },
	{ "top count", "missing value after 'count'" },
	/* extra arguments */
	{ "vip list foo", "unexpected 'foo' after 'vip list'" },
	{ "vip del " SVC4 " extra", "unexpected 'extra' after 'vip del " SVC4 "'" },
	{ "vip add " SVC4 " weight 3", "unexpected 'weight' after 'vip add " SVC4
				       "', expected method, hash, ring, announce, encap-port, snat, snat-ports, "
	  "tcp-timeout, fin-timeout or udp-timeout" },
	{ "backend add " SVC4 " 10.0.0.2 weight 1 2", "unexpected '2'" },
	{ "backend list " SVC4 " " SVC4, "unexpected '" SVC4 "' after 'backend list " SVC4 "'" },
	{ "detach eth0 mode native", "unexpected 'mode' after 'detach eth0'" },
	{ "health set " SVC4 " off port 80", "unexpected 'port' after 'health set " SVC4 " off'" },
	{ "health set " SVC4 " tcp path /x", "unexpected 'path'" },
	{ "health set " SVC4 " tcp status 200", "unexpected 'status'" },
	{ "ratelimit off " SVC4 " rate 1", "unexpected 'rate'" },
	{ "top 5", "unexpected '5' after 'top', expected count" },
	{ "stats " SVC4 " watch watch", "unexpected 'watch' after 'stats " SVC4 " watch'" },
	{ "stats watch " SVC4, "unexpected '" SVC4 "' after 'stats watch'" },
	{ "save now", "unexpected 'now' after 'save'" },
	{ "status all", "unexpected 'all' after 'status'" },
	{ "restore a.conf b.conf", "unexpected 'b.conf' after 'restore a.conf'" },
	{ "decap attach eth0 eth1", "unexpected 'eth1'" },
	{ "decap prune eth0", "unexpected 'eth0' after 'decap prune'" },
	{ "vip help me", "unexpected 'me' after 'vip help'" },
	{ "help vip add", "unexpected 'add' after 'help vip'" },
	/* duplicate keywords */
	{ "backend add " SVC4 " 10.0.0.2 weight 1 weight 2", "duplicate 'weight'" },
	{ "vip add " SVC4 " ring 1021 ring 1021", "duplicate 'ring'" },
	{ "vip add " SVC4 " method l2 hash src method l2", "duplicate 'method'" },
	{ "health set " SVC4 " http path /a path /b", "duplicate 'path'" },
	{ "ratelimit set " SVC4 " rate 1 rate 2 burst 1", "duplicate 'rate'" },
	{ "attach eth0 mode native mode generic", "duplicate 'mode'" },
	/* interface names (the kernel's dev_valid_name()) */
	{ "attach a/b", "bad interface name 'a/b'" },
	{ "attach eth0:1", "bad interface name 'eth0:1'" },
	{ "attach .", "bad interface name '.'" },
	{ "attach ..", "bad interface name '..'" },
	{ "attach eth\x1b[0m", "bad interface name 'eth\x1b[0m': control characters are not" },
	{ "decap attach a\x7f", "bad interface name 'a\x7f': control characters" },
	{ "attach 0123456789abcdef", "bad interface name '0123456789abcdef': longer than 15" },
	{ "detach x/y", "bad interface name 'x/y'" },
	{ "decap attach eth0:0", "bad interface name 'eth0:0'" },
	{ "decap detach ..", "bad interface name '..'" },
	{ "lookup " SVC4, "missing CLIENT_ADDR[:PORT] after 'lookup " SVC4 "'" },
	{ "lookup " SVC4 " fd00::1", "client fd00::1 is IPv6 but VIP " SVC4 " is IPv4" },
	{ "lookup " SVC4 " 10.1.2.3:0", "bad client port '0' (1-65535)" },
	{ "lookup " SVC4 " 10.1.2.3:x", "bad client port 'x'" },
	{ "lookup " SVC4 " 0.0.0.0", "bad client address '0.0.0.0'" },
	{ "lookup " SVC6 " [fd00::1", "bad client '[fd00::1'" },
	{ "conns from 10.0.0.1/33", "bad prefix length '33' in '10.0.0.1/33' (0-32)" },
	{ "conns from fd00::/129", "bad prefix length '129'" },
	{ "conns from x", "bad address 'x' in prefix 'x'" },
	{ "conns count 0", "count 0 out of range 1-10000000" },
	{ "t", "ambiguous command 't', could be top or trace" },
	{ "trace port 65536", "port 65536 out of range 0-65535" },
	{ "trace pcap", "missing value after 'pcap'" },
	/* method nat: its keywords, and only its */
	{ "vip add " SVC4 " snat 10.9.0.1", "snat is for method nat, not ipip" },
	{ "vip add " SVC4 " method gue snat-ports 1-2", "snat-ports is for method nat, not gue" },
	{ "vip add " SVC4 " method l2 tcp-timeout 5s", "tcp-timeout is for method nat, not l2" },
	{ "vip add " SVC4 " fin-timeout 5s", "fin-timeout is for method nat, not ipip" },
	{ "vip add " SVC4 " udp-timeout 5s", "udp-timeout is for method nat, not ipip" },
	{ "vip add " SVC4 " method nat encap-port 6080", "encap-port is for method gue, not nat" },
	{ "vip add " SVC4 " method nat snat fd00::1",
	  "snat address fd00::1 is IPv6 but VIP " SVC4 " is IPv4: nat does not change a packet's "
	  "family" },
	{ "vip add " SVC6 " method nat snat fd00::1,10.9.0.1", "snat address 10.9.0.1 is IPv4" },
	{ "vip add " SVC4 " method nat snat 10.9.0.1,,10.9.0.2", "bad snat address ''" },
	{ "vip add " SVC4 " method nat snat 10.9.0.1,", "bad snat address ''" },
	{ "vip add " SVC4 " method nat snat 224.0.0.1", "bad snat address '224.0.0.1': multicast" },
	{ "vip add " SVC4 " method nat snat 127.0.0.1", "bad snat address '127.0.0.1': loopback" },
	{ "vip add " SVC4 " method nat snat 10.9.0.1,10.9.0.1", "snat address 10.9.0.1 given twice" },
	{ "vip add " SVC4 " method nat snat 10.9.0.1,10.9.0.2,10.9.0.3,10.9.0.4,10.9.0.5,10.9.0.6,"
	  "10.9.0.7,10.9.0.8,10.9.0.9,10.9.0.10,10.9.0.11,10.9.0.12,10.9.0.13,10.9.0.14,10.9.0.15,"
	  "10.9.0.16,10.9.0.17", "too many snat addresses" },
	{ "vip add " SVC4 " method nat snat-ports 2000-1000", "snat-ports 2000-1000: LO above HI" },
	{ "vip add " SVC4 " method nat snat-ports 0-1000", "snat-ports 0-1000 out of range 1-65535" },
	{ "vip add " SVC4 " method nat snat-ports 1-65536", "snat-ports 1-65536 out of range" },
	{ "vip add " SVC4 " method nat snat-ports 1000", "bad snat-ports '1000': LO-HI, as in "
							"1024-32767" },
	{ "vip add " SVC4 " method nat snat-ports 1000-", "bad snat-ports '1000-'" },
	{ "vip add " SVC4 " method nat snat-ports -1000", "bad snat-ports '-1000'" },
	{ "vip add " SVC4 " method nat snat-ports 01-10", "bad snat-ports '01-10'" },
	{ "vip add " SVC4 " method nat snat-ports 1-2-3", "bad snat-ports '1-2-3'" },
	{ "vip add " SVC4 " method nat tcp-timeout 0s", "tcp-timeout 0s out of range 1s-604800s" },
	{ "vip add " SVC4 " method nat fin-timeout 999ms", "fin-timeout 999ms out of range" },
	{ "vip add " SVC4 " method nat udp-timeout 604801s", "udp-timeout 604801s out of range" },
	{ "vip add " SVC4 " method nat udp-timeout 1500ms",
	  "udp-timeout 1500ms: whole seconds only" },
	{ "vip add " SVC4 " method nat tcp-timeout 5", "bad tcp-timeout '5': durations take ms or s" },
	{ "vip add " SVC4 " method nat snat", "missing value after 'snat'" },
	/* backend ports */
	{ "backend add " SVC4 " 10.0.0.2:65536", "bad backend port '65536' in '10.0.0.2:65536'" },
	{ "backend add " SVC4 " 10.0.0.2:x", "bad backend port 'x'" },
	{ "backend add " SVC4 " 10.0.0.2:", "bad backend port ''" },
	{ "backend add " SVC4 " 10.0.0.2:080", "bad backend port '080'" },
	{ "backend set " SVC4 " 10.0.0.2:-1 weight 1", "bad backend port '-1'" },
	{ "backend add " SVC6 " [fd00::2]:", "bad backend port ''" },
	{ "backend add " SVC6 " [fd00::2]8080", "bad backend address '[fd00::2]8080': brackets" },
	{ "backend add " SVC6 " [fd00::2", "bad backend address '[fd00::2'" },
	{ "backend add " SVC4 " [10.0.0.2]:80", "bad backend address '10.0.0.2': brackets are for "
						"IPv6 only" },
	{ "backend del " SVC6 " 10.0.0.2:80", "backend 10.0.0.2 is IPv4 but VIP " SVC6 " is IPv6" },
};

static void check_bad(int ret, const char *what, const char *names)
{
	size_t i;

	check(ret == -EINVAL, "'%s' is refused with -EINVAL, got %d", what, ret);
	check(strstr(err, names), "message for '%s' says \"%s\", got \"%s\"", what, names, err);
	check(islower((unsigned char)err[0]), "message for '%s' starts lowercase: %s", what, err);
	for (i = 0; err[i]; i++)
		check(err[i] != '\n', "message for '%s' is one line: %s", what, err);
}

static void test_bad(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		check_bad(parse_line(bad[i].line, &cmd_a), bad[i].line, bad[i].names);
}

/* Words cmd_split() cannot produce: empty ones and ones with spaces, straight from a shell. */
static void test_bad_argv(void **state)
{
	static struct {
		char *argv[8];
		const char *names;
	} cases[] = {
		{ { "attach", "" }, "bad interface name ''" },
		{ { "attach", "eth 0" }, "bad interface name 'eth 0'" },
		{ { "attach", "eth\t0" }, "bad interface name" },
		{ { "backend", "add", SVC4, "10.0.0.2", "weight", "" }, "bad weight ''" },
		{ { "backend", "add", SVC4, "" }, "bad backend address ''" },
		{ { "backend", "add", SVC4, " 10.0.0.2" }, "bad backend address ' 10.0.0.2'" },
		{ { "vip", "add", "" }, "bad service ''" },
		{ { "vip", "add", " 10.0.0.1:80/tcp" }, "bad address ' 10.0.0.1'" },
		{ { "vip", "add", "10.0.0.1:80/tcp " }, "bad protocol 'tcp '" },
		{ { "vip", "add", "10.0.0.1: 80/tcp" }, "bad port ' 80'" },
		{ { "vip", "" }, "unknown command 'vip '" },
		{ { "" }, "unknown command ''" },
		{ { "health", "set", SVC4, "http", "path", "/a b" }, "bad http path '/a b'" },
		{ { "health", "set", SVC4, "http", "path", "" }, "bad http path ''" },
		{ { "restore", "" }, "bad file name ''" },
		{ { "top", "count", " 5" }, "bad count ' 5'" },
	};
	size_t i;
	int argc;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		for (argc = 0; cases[i].argv[argc]; argc++)
			;
		check_bad(cmd_parse(argc, cases[i].argv, &cmd_a, err, sizeof(err)),
			  cases[i].argv[argc - 1], cases[i].names);
	}
}

/* The longest values each bound allows, and one past them. */
static void test_lengths(void **state)
{
	static char line[CMD_LINE_MAX], text[CMD_LINE_MAX], path[CMD_HTTP_PATH_MAX + 2];
	static char file[CMD_FILE_MAX + 1];
	char *argv[] = { "restore", file };

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[CMD_HTTP_PATH_MAX] = '\0';
	snprintf(line, sizeof(line),
		 "health set [2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535/udp http path %s "
		 "status 599 port 65535 interval 3599999ms timeout 3599999ms rise 100 fall 100 "
		 "via direct",
		 path);
	check_canonical(line, line);

	path[CMD_HTTP_PATH_MAX] = 'a';
	snprintf(line, sizeof(line), "health set " SVC4 " http path %s", path);
	check_bad(parse_line(line, &cmd_a), "a path of 256 characters", "longer than 255");

	memset(file, 'f', CMD_FILE_MAX - 1);
	check(cmd_parse(2, argv, &cmd_a, err, sizeof(err)) == 0, "a file name of %d characters",
	      CMD_FILE_MAX - 1);
	check(cmd_format(&cmd_a, text, sizeof(text)) == (int)strlen("restore ") + CMD_FILE_MAX - 1,
	      "CMD_LINE_MAX holds the longest restore");
	file[CMD_FILE_MAX - 1] = 'f';
	check_bad(cmd_parse(2, argv, &cmd_a, err, sizeof(err)), "a file name too long",
		  "bad file name 'fff");
}

/* cmd_format() refuses what no line can carry, and what does not fit. */
static void test_format_errors(void **state)
{
	char small[16];
	int n;

	parse_ok("vip add " SVC4, &cmd_a);
	n = cmd_format(&cmd_a, NULL, 0);
	check(n == -ENOSPC, "no buffer: -ENOSPC, got %d", n);
	n = cmd_format(&cmd_a, small, sizeof(small));
	check(n == -ENOSPC && strlen(small) == sizeof(small) - 1, "truncated, terminated: %d '%s'",
	      n, small);

	parse_ok("vip list", &cmd_a);
	n = cmd_format(&cmd_a, small, strlen("vip list") + 1);
	check(n == (int)strlen("vip list") && !strcmp(small, "vip list"), "an exact fit: %d", n);
	n = cmd_format(&cmd_a, small, strlen("vip list"));
	check(n == -ENOSPC, "one byte short: -ENOSPC, got %d", n);

	parse_ok("restore x", &cmd_a);
	strcpy(cmd_a.file, "my state.conf");
	n = cmd_format(&cmd_a, small, sizeof(small));
	check(n == -EINVAL, "a file name with a space cannot be a line: %d", n);

	parse_ok("vip add " SVC4, &cmd_a);
	cmd_a.vip.method = 7;
	check(cmd_format(&cmd_a, small, sizeof(small)) == -EINVAL, "an unknown method");
	parse_ok("vip add " SVC4, &cmd_a);
	cmd_a.service.family = 0;
	check(cmd_format(&cmd_a, small, sizeof(small)) == -EINVAL, "an unknown family");
	cmd_a.op = CMD_OP_COUNT;
	check(cmd_format(&cmd_a, small, sizeof(small)) == -EINVAL, "an unknown op");
	check(!cmd_is_config(&cmd_a), "an unknown op is not config");
	check(!cmd_changes_vip(&cmd_a), "an unknown op changes no VIP");
}

/* Messages never overrun err, and err may be absent. */
static void test_err_buffer(void **state)
{
	char *argv[] = { "vip", "frob" };
	char tiny[8];

	memset(tiny, 'x', sizeof(tiny));
	check(cmd_parse(2, argv, &cmd_a, tiny, sizeof(tiny)) == -EINVAL, "refused");
	check(!strcmp(tiny, "unknown"), "truncated to the buffer: '%s'", tiny);
	check(cmd_parse(2, argv, &cmd_a, NULL, 0) == -EINVAL, "refused without a buffer");
	check(cmd_parse(0, NULL, &cmd_a, NULL, 0) == -EINVAL, "nothing to parse");
}

static void test_split(void **state)
{
	static const struct {
		const char *line;
		int argc;
		const char *words[6];
	} cases[] = {
		{ "vip add 10.0.0.10:80/tcp", 3, { "vip", "add", "10.0.0.10:80/tcp" } },
		{ "  vip\t\tadd  10.0.0.10:80/tcp \r\n", 3, { "vip", "add", "10.0.0.10:80/tcp" } },
		{ "save", 1, { "save" } },
		{ "", 0 },
		{ "\n", 0 },
		{ " \t \r\n", 0 },
		{ "# xlb state, written by xlbd", 0 },
		{ "   # indented comment", 0 },
		{ "#vip add 10.0.0.10:80/tcp", 0 },
		/* '#' after the first word is data: interface names may hold it. */
		{ "attach #1 mode native", 4, { "attach", "#1", "mode", "native" } },
		{ "a b c d e f", 6, { "a", "b", "c", "d", "e", "f" } },
	};
	char line[64], *argv[6];
	size_t i;
	int argc, w;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		strcpy(line, cases[i].line);
		argc = cmd_split(line, argv, ARRAY_SIZE(argv));
		check(argc == cases[i].argc, "'%s' has %d words, got %d", cases[i].line,
		      cases[i].argc, argc);
		for (w = 0; w < argc; w++)
			check(!strcmp(argv[w], cases[i].words[w]), "'%s' word %d is '%s', got '%s'",
			      cases[i].line, w, cases[i].words[w], argv[w]);
	}
	strcpy(line, "a b c d e f g");
	check(cmd_split(line, argv, ARRAY_SIZE(argv)) == -E2BIG, "seven words do not fit six");
}

static void test_addr(void **state)
{
	static const struct {
		const char *in;
		const char *out;
		__u8 family;
	} good[] = {
		{ "10.0.0.1", "10.0.0.1", XLB_AF_INET },
		{ "255.255.255.254", "255.255.255.254", XLB_AF_INET },
		{ "FD00:0:0:0::1", "fd00::1", XLB_AF_INET6 },
		{ "0:0:0:0:0:0:0:1", "::1", XLB_AF_INET6 },
		{ "2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1", XLB_AF_INET6 },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", XLB_AF_INET6 },
		{ "fe80:0000:0000:0000:abcd:0000:0000:0001", "fe80::abcd:0:0:1", XLB_AF_INET6 },
	};
	static const char *const refused[] = {
		"", "10.0.0.256", "10.0.0", "010.0.0.1", " 10.0.0.1", "10.0.0.1 ", "0x0a.0.0.1",
		"::ffff:10.0.0.1", "::FFFF:a00:1", "fd00::1%eth0", "[fd00::1]", "fd00:::1",
		"fd00::g",
		"1:2:3:4:5:6:7:8:9", "localhost",
	};
	char text[ADDR_STRLEN];
	struct xlb_addr a;
	__u8 family;
	size_t i;
	int n;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		memset(&a, 0xa5, sizeof(a));
		family = 0;
		check(addr_parse(good[i].in, &a, &family) == 0 && family == good[i].family,
		      "'%s' is an address of family %u", good[i].in, good[i].family);
		if (family == XLB_AF_INET)
			check(!a.w[1] && !a.w[2] && !a.w[3], "'%s' leaves w[1..3] zero",
			      good[i].in);
		n = addr_format(&a, family, text, sizeof(text));
		check(n == (int)strlen(good[i].out) && !strcmp(text, good[i].out),
		      "'%s' prints as '%s', got '%s'", good[i].in, good[i].out, text);
		check(addr_format(&a, family, text, strlen(good[i].out)) == -ENOSPC,
		      "'%s' needs room for its NUL", good[i].out);
	}
	for (i = 0; i < ARRAY_SIZE(refused); i++)
		check(addr_parse(refused[i], &a, &family) == -EINVAL, "'%s' is refused",
		      refused[i]);
	check(addr_format(&a, 0, text, sizeof(text)) == -EINVAL, "family 0 cannot print");
}

static void test_service(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} good[] = {
		{ "10.0.0.10:80/tcp", "10.0.0.10:80/tcp" },
		{ "10.0.0.10:0/udp", "10.0.0.10:0/udp" },
		{ "[FD00:0::10]:443/udp", "[fd00::10]:443/udp" },
		{ "[2001:db8:0:0:0:0:0:1]:65535/tcp", "[2001:db8::1]:65535/tcp" },
		{ "[::2]:53/udp", "[::2]:53/udp" },
	};
	struct xlb_vip_key key;
	char text[SERVICE_STRLEN];
	size_t i;
	int n;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		check(service_parse(good[i].in, &key, err, sizeof(err)) == 0, "'%s' parses: %s",
		      good[i].in, err);
		n = service_format(&key, text, sizeof(text));
		check(n == (int)strlen(good[i].out) && !strcmp(text, good[i].out),
		      "'%s' prints as '%s', got '%s'", good[i].in, good[i].out, text);
	}
	check(service_format(&key, text, 8) == -ENOSPC, "a short buffer");
	key.proto = 1;
	check(service_format(&key, text, sizeof(text)) == -EINVAL, "only tcp and udp print");
	check(service_parse("nonsense", &key, NULL, 0) == -EINVAL, "refused without a buffer");
}

static void test_duration(void **state)
{
	static const struct {
		const char *in;
		int ret;
		__u32 ms;
	} cases[] = {
		{ "500ms", 0, 500 },
		{ "1s", 0, 1000 },
		{ "2s", 0, 2000 },
		{ "0ms", 0, 0 },
		{ "0s", 0, 0 },
		{ "4294967295ms", 0, UINT32_MAX },
		{ "4294967s", 0, 4294967000U },
		{ "4294968s", -ERANGE },
		{ "4294967296ms", -ERANGE },
		{ "", -EINVAL },
		{ "1", -EINVAL },
		{ "500", -EINVAL },
		{ "ms", -EINVAL },
		{ "s", -EINVAL },
		{ "1 s", -EINVAL },
		{ " 1s", -EINVAL },
		{ "1S", -EINVAL },
		{ "1MS", -EINVAL },
		{ "1.5s", -EINVAL },
		{ "-1s", -EINVAL },
		{ "+1s", -EINVAL },
		{ "01s", -EINVAL },
		{ "1sec", -EINVAL },
		{ "1m", -EINVAL },
		{ "1h", -EINVAL },
		{ "1us", -EINVAL },
		{ "1mss", -EINVAL },
	};
	static const struct {
		__u32 ms;
		const char *out;
	} printed[] = {
		{ 0, "0ms" },
		{ 10, "10ms" },
		{ 1000, "1s" },
		{ 1500, "1500ms" },
		{ 3600000, "3600s" },
		{ UINT32_MAX, "4294967295ms" },
	};
	char text[DURATION_STRLEN];
	size_t i;
	__u32 ms;
	int ret;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		ms = 12345;
		ret = duration_parse(cases[i].in, &ms);
		check(ret == cases[i].ret, "'%s' returns %d, got %d", cases[i].in, cases[i].ret,
		      ret);
		check(ret || ms == cases[i].ms, "'%s' is %u ms, got %u", cases[i].in, cases[i].ms,
		      ms);
	}
	for (i = 0; i < ARRAY_SIZE(printed); i++) {
		ret = duration_format(printed[i].ms, text, sizeof(text));
		check(ret == (int)strlen(printed[i].out) && !strcmp(text, printed[i].out),
		      "%u ms prints as '%s', got '%s'", printed[i].ms, printed[i].out, text);
		check(duration_parse(text, &ms) == 0 && ms == printed[i].ms, "'%s' reads back",
		      text);
	}
}

static void test_prefix(void **state)
{
	static const struct {
		const char *prefix, *addr;
		bool in;
	} cases[] = {
		{ "10.0.0.0/8", "10.200.3.4", true },
		{ "10.0.0.0/8", "11.0.0.1", false },
		{ "10.1.2.3", "10.1.2.3", true },
		{ "10.1.2.3", "10.1.2.4", false },
		{ "10.1.2.0/23", "10.1.3.255", true },
		{ "10.1.2.0/23", "10.1.4.0", false },
		{ "0.0.0.0/0", "192.0.2.1", true },
		{ "fd00::/64", "fd00::1234", true },
		{ "fd00::/64", "fd00:0:0:1::1", false },
		{ "fd00::/63", "fd00:0:0:1::1", true },
		{ "fd00::/8", "10.0.0.1", false },
	};
	struct cmd_prefix p;
	struct xlb_addr a;
	__u8 family;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		check(!prefix_parse(cases[i].prefix, &p, err, sizeof(err)), "%s parses: %s",
		      cases[i].prefix, err);
		check(!addr_parse(cases[i].addr, &a, &family), "%s parses", cases[i].addr);
		check(prefix_has(&p, &a, family) == cases[i].in, "%s %s %s", cases[i].addr,
		      cases[i].in ? "is in" : "is not in", cases[i].prefix);
	}
}

static void test_help(void **state)
{
	/* The grammar of DESIGN.md's CLI contract, line by line. */
	static const char *const grammar[] = {
		"attach IFNAME [mode native|generic]\n",
		"detach IFNAME\n",
		"vip add SERVICE [method ipip|l2|gue [encap-port N]] [hash 5tuple|src]\n",
		"vip del SERVICE\n",
		"vip list\n",
		"vip show SERVICE",
		"backend add SERVICE ADDR[:PORT] [weight N]\n",
		"backend set SERVICE ADDR[:PORT] weight N",
		"backend del SERVICE ADDR[:PORT]\n",
		"vip add SERVICE method nat [snat ADDR[,ADDR...]] [snat-ports LO-HI]\n",
		"[tcp-timeout D] [fin-timeout D] [udp-timeout D]",
		"backend list [SERVICE]\n",
		"health set SERVICE off | tcp | http [path P] [status CODE]\n",
		"[port N] [interval D] [timeout D] [rise N] [fall N]\n",
		"health show [SERVICE]\n",
		"ratelimit set SERVICE rate PPS burst N\n",
		"ratelimit off SERVICE\n",
		"top [count N]",
		"stats [SERVICE] [watch]",
		"save\n",
		"restore [FILE]",
		"status\n",
		"decap attach IFNAME [gue-port N] | decap detach IFNAME",
		"decap prune",
	};
	const char *all = cmd_help(NULL), *text;
	size_t i;
	char line[32];

	check(all && all == cmd_help(""), "NULL and \"\" both give the whole grammar");
	for (i = 0; i < ARRAY_SIZE(grammar); i++)
		check(strstr(all, grammar[i]), "the grammar holds '%s'", grammar[i]);
	/* Every top-level word has its own page, reached through "WORD help". */
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		snprintf(line, sizeof(line), "%.*s help", (int)strcspn(ops[i].line, " "),
			 ops[i].line);
		parse_ok(line, &cmd_a);
		text = cmd_help(cmd_a.topic);
		check(cmd_a.op == CMD_HELP && text && text != all, "'%s' has a page", line);
		check(strstr(text, cmd_a.topic) && text[strlen(text) - 1] == '\n',
		      "the page of '%s' names it and ends a line", line);
	}
	check(!cmd_help("frob"), "no page for an unknown topic");
	check(!cmd_help("v"), "pages are looked up by full word");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_bad_argv),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_format_errors),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
