/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The command language shared by xlbctl, xlbd and the state file.
 *
 * xlbctl parses its argv so that usage errors are reported before anything is sent; xlbd parses
 * the same words again, and the state file holds the canonical lines of cmd_format() (like
 * ipvsadm -S), so one grammar serves all three. Parsing is pure: it knows nothing about what is
 * configured (whether a VIP exists, which method it uses), only what the words say.
 *
 * Command words take unique prefixes ("xlbctl v l" is "vip list"); keywords and their values do
 * not, because scripts and saved files depend on them. Every function returns 0 (or a length)
 * on success and a negative errno on failure.
 */
#ifndef XLB_CMD_H
#define XLB_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "xlb_abi.h"

enum cmd_op {
	CMD_ATTACH,
	CMD_DETACH,
	CMD_VIP_ADD,
	CMD_VIP_DEL,
	CMD_VIP_LIST,
	CMD_VIP_SHOW,
	CMD_BACKEND_ADD,
	CMD_BACKEND_SET,
	CMD_BACKEND_DEL,
	CMD_BACKEND_LIST,
	CMD_HEALTH_SET,
	CMD_HEALTH_SHOW,
	CMD_RATELIMIT_SET,
	CMD_RATELIMIT_OFF,
	CMD_TOP,
	CMD_STATS,
	CMD_SAVE,
	CMD_RESTORE,
	CMD_STATUS,
	CMD_DECAP_ATTACH,
	CMD_DECAP_DETACH,
	CMD_DECAP_PRUNE,
	CMD_NODE_DRAIN,
	CMD_NODE_UNDRAIN,
	CMD_LOOKUP,
	CMD_CONNS,
	CMD_TRACE,
	CMD_HELP,
	CMD_OP_COUNT,
};

enum cmd_mode {
	CMD_MODE_NATIVE = 0,	/* XDP in the driver */
	CMD_MODE_GENERIC = 1,	/* XDP in the stack (skb mode) */
};

enum cmd_hash {
	CMD_HASH_5TUPLE = 0,
	CMD_HASH_SRC = 1,	/* XLB_VIP_HASH_SRC */
};

/* When a VIP is announced to BGP peers (bird.h); the node must serve it either way. */
enum cmd_announce {
	CMD_ANNOUNCE_ALWAYS = 0,	/* also while all its backends are down (fail-open) */
	CMD_ANNOUNCE_HEALTHY = 1,	/* only while a backend is up */
};

enum cmd_health_type {
	CMD_HEALTH_OFF = 0,
	CMD_HEALTH_TCP = 1,
	CMD_HEALTH_HTTP = 2,
};

/* Where a check's connections go (health set ... via). */
enum cmd_health_via {
	CMD_VIA_DIRECT = 0,	/* the backend's own address */
	CMD_VIA_VIP = 1,	/* the VIP, delivered to the backend as clients' packets are */
};
/* A saved line without `via` was written before it existed: it meant direct. */
#define CMD_VIA_DEFAULT		CMD_VIA_DIRECT

/* Defaults of the optional keywords. */
#define CMD_MODE_DEFAULT	CMD_MODE_NATIVE
#define CMD_METHOD_DEFAULT	XLB_METHOD_IPIP
#define CMD_HASH_DEFAULT	CMD_HASH_5TUPLE
#define CMD_RING_DEFAULT	XLB_RING_DEFAULT
#define CMD_ANNOUNCE_DEFAULT	CMD_ANNOUNCE_ALWAYS
#define CMD_WEIGHT_DEFAULT	1
#define CMD_HTTP_PATH_DEFAULT	"/"
#define CMD_HTTP_STATUS_DEFAULT	200
#define CMD_INTERVAL_DEFAULT_MS	1000
#define CMD_TIMEOUT_DEFAULT_MS	500	/* lowered to the interval when that is shorter */
#define CMD_RISE_DEFAULT	2
#define CMD_FALL_DEFAULT	3
#define CMD_TOP_DEFAULT		10
#define CMD_CONNS_DEFAULT	1000
/*
 * method nat. The ports sit below the kernel's ephemeral range (ip_local_port_range 32768-60999)
 * so that the host's own connections, health checks included, never share a tuple with a NAT
 * flow. The timeouts are the sweeper's, like ipvsadm --set tcp tcpfin udp.
 */
#define CMD_SNAT_PORT_LO_DEFAULT	1024
#define CMD_SNAT_PORT_HI_DEFAULT	32767
#define CMD_TCP_TIMEOUT_DEFAULT_MS	900000	/* established TCP, idle */
#define CMD_FIN_TIMEOUT_DEFAULT_MS	10000	/* after FIN both ways, or a RST */
#define CMD_UDP_TIMEOUT_DEFAULT_MS	300000

/* Bounds, inclusive. */
#define CMD_IFNAME_MAX		15	/* IFNAMSIZ - 1 */
#define CMD_WEIGHT_MAX		65535	/* MAGLEV_WEIGHT_MAX */
#define CMD_HTTP_PATH_MAX	255
#define CMD_HTTP_STATUS_MIN	100
#define CMD_HTTP_STATUS_MAX	599
#define CMD_INTERVAL_MIN_MS	100
#define CMD_INTERVAL_MAX_MS	3600000	/* 1h */
#define CMD_TIMEOUT_MIN_MS	10	/* and at most the interval */
#define CMD_RISE_FALL_MAX	100
#define CMD_RATE_MAX		100000000	/* pps: above any one NIC's line rate */
#define CMD_BURST_MAX		100000000	/* packets */
#define CMD_TOP_MAX		1000
#define CMD_CONNS_MAX		10000000	/* entries listed: more than any table holds */
#define CMD_FILE_MAX		4096	/* PATH_MAX, NUL included */
/* NAT timeouts: whole seconds (the data plane's clock, xlb_config.now, ticks in seconds). */
#define CMD_NAT_TIMEOUT_MIN_MS	1000
#define CMD_NAT_TIMEOUT_MAX_MS	604800000	/* a week */

/* Text sizes, NUL included. */
#define ADDR_STRLEN		46	/* INET6_ADDRSTRLEN */
#define BACKEND_STRLEN		(ADDR_STRLEN + 8)	/* "[" ADDR "]:65535" */
#define SERVICE_STRLEN		64	/* "[" ADDR "]:65535/tcp" */
#define DURATION_STRLEN		16
#define CMD_LINE_MAX		(CMD_FILE_MAX + 1024)	/* any cmd_format() output */
#define CMD_ARGS_MAX		32	/* words of the longest command, with room */

/* struct cmd.has: optional positional arguments that were given. */
#define CMD_HAS_SERVICE		(1U << 0)	/* backend list, health show, stats */
#define CMD_HAS_FILE		(1U << 1)	/* restore */
#define CMD_HAS_FLAG		(1U << 2)	/* stats: watch */
#define CMD_HAS_PORT		(1U << 3)	/* lookup: CLIENT_ADDR:PORT */
#define CMD_HAS_FROM		(1U << 4)	/* conns, trace: from ADDR[/LEN] */

/* nat: the addresses NATed flows leave from, all of the VIP's family; none: xlbd's default. */
struct cmd_pool {
	__u32 n;		/* 0 .. XLB_NAT_POOL_MAX */
	struct xlb_addr addrs[XLB_NAT_POOL_MAX];
};

/* Fields a method does not use stay 0. */
struct cmd_vip {
	__u32 method;		/* enum xlb_method */
	__u32 hash;		/* enum cmd_hash */
	__u32 ring;		/* prime, XLB_RING_MIN..XLB_RING_MAX */
	__u32 announce;		/* enum cmd_announce */
	__u32 encap_port;	/* gue: UDP destination port, host order */
	/* nat */
	__u32 snat_port_lo;	/* host order, 1 <= lo <= hi <= 65535 */
	__u32 snat_port_hi;
	__u32 tcp_timeout_ms;	/* whole seconds, CMD_NAT_TIMEOUT_MIN_MS on */
	__u32 fin_timeout_ms;
	__u32 udp_timeout_ms;
	struct cmd_pool snat;
};

struct cmd_backend {
	struct xlb_addr addr;
	__u8 family;		/* XLB_AF_*, always the service's */
	__u8 pad;
	__u16 port;		/* host order; 0: the packet's own (method nat only) */
	__u32 weight;		/* 0 drains: no new flows, old ones stay */
};

/* Fields a check type does not use (path and status for tcp, all for off) stay 0. */
struct cmd_health {
	__u32 type;		/* enum cmd_health_type */
	__u32 port;		/* host order; 0: the service's (not for a port-0 service) */
	__u32 status;		/* http: expected status code */
	__u32 interval_ms;
	__u32 timeout_ms;	/* <= interval_ms */
	__u32 rise;		/* consecutive successes that bring a backend up */
	__u32 fall;		/* consecutive failures that take it down */
	__u32 via;		/* enum cmd_health_via */
	char path[CMD_HTTP_PATH_MAX + 1];	/* http: "/...", printable ASCII, no spaces */
};

/* lookup's client: the source of a flow to the SERVICE. */
struct cmd_client {
	struct xlb_addr addr;
	__u8 family;		/* XLB_AF_*, always the service's */
	__u8 pad;
	__u16 port;		/* host order; with CMD_HAS_PORT */
};

/* from ADDR[/LEN]: sources within the prefix (bits past len are zero). */
struct cmd_prefix {
	struct xlb_addr addr;
	__u8 family;
	__u8 len;		/* 0-32 or 0-128 */
	__u8 pad[2];
};

struct cmd_ratelimit {
	__u32 rate;		/* packets per second per source */
	__u32 burst;		/* bucket size, packets */
};

/*
 * One parsed command. Optional keywords are always filled in, with their default when not
 * given, and cmd_format() prints every one of them: a saved line never depends on a default
 * that a later version might change. cmd_parse() clears the whole struct first and leaves the
 * fields a command does not take zero, so two parsed commands compare equal with memcmp()
 * exactly when they mean the same.
 */
struct cmd {
	enum cmd_op op;
	__u32 has;				/* CMD_HAS_* */
	char ifname[CMD_IFNAME_MAX + 1];	/* attach, detach, decap attach/detach */
	__u32 mode;				/* attach: enum cmd_mode */
	__u32 gue_port;				/* decap attach: 0 = no GUE */
	struct xlb_vip_key service;		/* vip, backend, health, ratelimit, stats */
	struct cmd_vip vip;			/* vip add */
	struct cmd_backend backend;		/* backend add, set, del */
	struct cmd_health health;		/* health set */
	struct cmd_ratelimit ratelimit;		/* ratelimit set */
	__u32 count;				/* top, conns, trace (0: no limit) */
	__u32 port;				/* trace: source or destination, 0 any */
	__u32 timeout_ms;			/* trace: 0 none */
	struct cmd_client client;		/* lookup */
	struct cmd_prefix from;			/* conns, with CMD_HAS_FROM */
	const char *topic;			/* help: top-level command word, NULL for all */
	char file[CMD_FILE_MAX];		/* restore, trace pcap: with CMD_HAS_FILE */
};

/*
 * Parse argv (without the program name) into *cmd. Returns 0, or -EINVAL with a one-line
 * message in err (when err is not NULL) naming the offending word. *cmd is unspecified then.
 */
int cmd_parse(int argc, char **argv, struct cmd *cmd, char *err, size_t errlen);

/*
 * Split line in place into at most max words separated by whitespace. Returns the number of
 * words: 0 for a blank line or one whose first word starts with '#' (a comment; '#' later in a
 * line is an ordinary character), -E2BIG when there are more than max words.
 */
int cmd_split(char *line, char **argv, int max);

/*
 * Canonical text of any command, the one cmd_parse() takes back to an identical struct: full
 * command words, every keyword of the command in grammar order, durations as "Ns" when a whole
 * number of seconds and "Nms" otherwise. Returns the length, -ENOSPC when buf is too small
 * (CMD_LINE_MAX always fits), -EINVAL for what no line can say (a bad op, family or enum value,
 * or a restore FILE with whitespace in it).
 */
int cmd_format(const struct cmd *cmd, char *buf, size_t len);

/* Canonical words of op, such as "vip add"; NULL for an unknown op. */
const char *cmd_name(enum cmd_op op);

/*
 * Whether the command changes the daemon's configuration, so that the state file is rewritten
 * after it: attach, detach, vip add/del, backend add/set/del, health set, ratelimit set/off,
 * node drain/undrain. These are also the only commands a restore file may hold (node drain
 * only in the state file: see cmd_is_node()); restore itself is a transaction of them, and
 * decap runs on backend hosts without a daemon.
 */
bool cmd_is_config(const struct cmd *cmd);

/*
 * Whether the command is about this node rather than the services it shares with the others
 * (node drain/undrain): kept in the node's state file, but neither printed by `save` nor taken
 * by `restore`, so that `xlbctl save | ssh other xlbctl restore` copies services, not a drain.
 */
bool cmd_is_node(const struct cmd *cmd);

/*
 * Whether the command changes one VIP's configuration, the one its service names (vip add/del,
 * backend add/set/del, health set, ratelimit set/off): xlbd syncs that VIP's maps and rewrites
 * its part of the state file. The configuration commands that name a service.
 */
bool cmd_changes_vip(const struct cmd *cmd);

/*
 * The grammar: all of it for NULL or "", else the part of one top-level command word ("vip",
 * as in struct cmd.topic). NULL for an unknown topic. The text ends with a newline.
 */
const char *cmd_help(const char *topic);

/*
 * SERVICE: ADDR:PORT/PROTO, "10.0.0.10:80/tcp", "[fd00::10]:443/udp", "10.0.0.10:0/udp" (all
 * ports). IPv6 in brackets, port decimal 0-65535, proto tcp or udp; the address must be unicast
 * and not unspecified. key->port is in network order.
 */
int service_parse(const char *s, struct xlb_vip_key *key, char *err, size_t errlen);
/* Returns the length, -ENOSPC, or -EINVAL for a bad family or protocol. */
int service_format(const struct xlb_vip_key *key, char *buf, size_t len);

/*
 * A backend: "10.0.0.2", "10.0.0.2:8080", "fd00::2", "[fd00::2]:8080", as the grammar writes it;
 * port 0 prints without one. Length, -ENOSPC or -EINVAL.
 */
int backend_format(const struct xlb_addr *a, __u8 family, __u16 port, char *buf, size_t len);

/*
 * IPv4 dotted quad or IPv6 text (no zone, no brackets). IPv4-mapped IPv6 is refused: it would be
 * the same host under two keys. IPv4 fills v4 with w[1..3] zero.
 */
int addr_parse(const char *s, struct xlb_addr *a, __u8 *family);
/* inet_ntop() text: IPv6 lowercase, longest zero run compressed. Length, -ENOSPC or -EINVAL. */
int addr_format(const struct xlb_addr *a, __u8 family, char *buf, size_t len);

/*
 * "500ms", "2s": decimal digits (no sign, no leading zero) and a ms or s suffix; a bare number
 * is refused. -EINVAL for bad text, -ERANGE when the milliseconds do not fit a __u32.
 */
int duration_parse(const char *s, __u32 *ms);
/* The canonical text of a duration: "2s", "1500ms", "0ms". Length or -ENOSPC. */
int duration_format(__u32 ms, char *buf, size_t len);

/*
 * "ADDR" or "ADDR/LEN" (IPv6 without brackets): *p with the bits past LEN cleared; LEN is the
 * address's full length when not given. -EINVAL with a message in err.
 */
int prefix_parse(const char *s, struct cmd_prefix *p, char *err, size_t errlen);
/* Whether a is within p (of the same family). */
bool prefix_has(const struct cmd_prefix *p, const struct xlb_addr *a, __u8 family);

#endif /* XLB_CMD_H */
