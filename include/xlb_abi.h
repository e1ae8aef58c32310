/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI between the XDP programs (bpf/) and the control plane (ctl/):
 * map keys, map values and the constants both sides must agree on.
 *
 * Rules: fixed-width types only, explicit padding, every struct's size pinned
 * with _Static_assert, all multi-byte protocol fields (addresses, ports) in
 * network byte order, everything else in host order.
 */
#ifndef XLB_ABI_H
#define XLB_ABI_H

#include <linux/types.h>

/* Address families, same values as the C library's AF_INET/AF_INET6. */
#define XLB_AF_INET	2
#define XLB_AF_INET6	10

/*
 * Default capacities; xlbd resizes maps before loading (-N, -B, -C, -L).
 * With these, a daemon serving one VIP locks under 16 MiB of kernel memory
 * on a 2-CPU machine (`make bench`, "kernel memory"); per-CPU maps (next
 * hops, counters) grow with the number of CPUs.
 */
#define XLB_MAX_VIPS		4096	/* vips, vip_by_id, rings (outer), vip_stats */
#define XLB_MAX_BACKENDS	16384	/* backends, health, backend_stats, nexthops */
#define XLB_MAX_VIP_ADDRS	4096	/* vip_addrs */
#define XLB_MAX_TX_PORTS	64	/* tx_ports (devmap) */
#define XLB_CONNS_DEFAULT	65536	/* conns: ways of all sets, shared by the CPUs */
/* Bounds of the options: the kernel caps a map near 2^31 entries anyway. */
#define XLB_MAX_VIPS_LIMIT	65536
#define XLB_MAX_BACKENDS_LIMIT	1048576
#define XLB_CONNS_MIN		1024
#define XLB_CONNS_MAX		(1U << 27)
/*
 * Kernel memory per connection-table entry (make bench, "kernel memory"):
 * one struct xlb_conn_way, a cache line, an eighth of its set's first
 * line, and an eighth of its set's word in conn_hints; two arrays.
 */
#define XLB_CONN_BYTES		73
/*
 * nat: translation entries, two per NAT flow (xlbd -T). Not preallocated,
 * so kernel memory follows the entries in use (XLB_NAT_BYTES each, as
 * XLB_CONN_BYTES); a port in use is never evicted, hence no LRU.
 */
#define XLB_NAT_DEFAULT		65536
#define XLB_NAT_MIN		1024
#define XLB_NAT_MAX		(1U << 26)
/*
 * Kernel memory per nat entry in use, as charged to the map (make bench,
 * "nat"): the element (hash node, 40-byte key, 72-byte value) from the
 * map's allocator. Besides, whatever is in use: 16 bytes per bucket, one
 * bucket per entry of max_entries rounded up to a power of two (1 MiB at
 * the default).
 */
#define XLB_NAT_BYTES		168

/* Maglev ring sizes: prime, at least XLB_RING_MIN, at most XLB_RING_MAX. */
#define XLB_RING_DEFAULT	65537
#define XLB_RING_MIN		1021
#define XLB_RING_MAX		1048573

/*
 * A ring is an ARRAY, whose elements the kernel lays out at their value
 * size rounded up to 8 bytes; so one element holds several slots, leaving
 * no gap, and the mapped memory reads as a plain array indexed by slot.
 * Two layouts, chosen by xlbd at start from its -B:
 * - 2-byte slots (struct xlb_ring16, 8 a 16-byte element) when every backend
 *   id fits in 16 bits (max backends <= XLB_RING16_MAX_BACKENDS, the
 *   default): half the memory, and half the cache lines a new flow's random
 *   slot read may miss on;
 * - 4-byte slots (struct xlb_ring32, 2 an 8-byte element) beyond that.
 * The value sizes differ, so the kernel itself refuses a ring of one layout
 * in an outer map made for the other, and xlbd tells an older build's pinned
 * rings (4-byte, the only layout before) from its own by the size.
 */
#define XLB_RING16_MAX_BACKENDS	65536
#define XLB_RING16_SLOTS	8
#define XLB_RING32_SLOTS	2

struct xlb_ring16 {
	__u16 id[XLB_RING16_SLOTS];
};
_Static_assert(sizeof(struct xlb_ring16) == 16, "xlb_ring16");

struct xlb_ring32 {
	__u32 id[XLB_RING32_SLOTS];
};
_Static_assert(sizeof(struct xlb_ring32) == 8, "xlb_ring32");

/*
 * Bytes a slot of a ring whose value is value_size bytes: 2 in a 16-byte
 * element, else 4 (8 bytes: two slots; 4 bytes, before issue 13: one).
 */
#define XLB_RING_SLOT_BYTES(value_size)	((value_size) == sizeof(struct xlb_ring16) ? 2 : 4)

/* Elements of the ARRAY holding a ring of `slots` slots, `per` to an element. */
#define XLB_RING_ENTRIES(slots, per)	(((slots) + (per) - 1) / (per))

/* Backend id 0 is never handed out: a ring slot holding 0 means "nobody". */
#define XLB_BACKEND_NONE	0

/* The VIP-address prefilter is a bitmap of this many bits (power of two). */
#define XLB_FILTER_BITS		32768

/*
 * IPv4 addresses live in v4 (== w[0]) with w[1..3] zero, so one key type
 * serves both families.
 */
struct xlb_addr {
	union {
		__be32 v4;
		__be32 w[4];
		__u8 b[16];
	};
};
_Static_assert(sizeof(struct xlb_addr) == 16, "xlb_addr");

/* vips: {addr, port, proto} -> struct xlb_vip. Port 0 = every port. */
struct xlb_vip_key {
	struct xlb_addr addr;
	__be16 port;
	__u8 proto;	/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;	/* XLB_AF_* */
};
_Static_assert(sizeof(struct xlb_vip_key) == 20, "xlb_vip_key");

enum xlb_method {
	XLB_METHOD_IPIP = 0,	/* IPv4-in-IPv4 / IPv6-in-IPv6 towards the backend */
	XLB_METHOD_L2 = 1,	/* rewrite the destination MAC, same L2 segment */
	XLB_METHOD_GUE = 2,	/* IP in UDP (GUE variant 1), source port from the flow hash */
	XLB_METHOD_NAT = 3,	/* full NAT: from a pool address:port to the backend's address:port */
};

/*
 * GUE: the UDP destination port the balancer sends to and decap listens on
 * unless told otherwise. 6080 is the port the GUE draft asks IANA for and the
 * one Katran and its decap use, so mixed fleets agree without configuration.
 * The source port is XLB_GUE_SPORT_MIN | the top 15 bits of xlb_encap_hash():
 * 32768..65535, the upper half, clear of well-known and registered services.
 */
#define XLB_GUE_PORT_DEFAULT	6080
#define XLB_GUE_SPORT_MIN	0x8000
#define XLB_GUE_SPORT_SHIFT	17	/* hash >> 17: 15 bits */

/* struct xlb_vip.flags */
#define XLB_VIP_HASH_SRC	(1U << 0)	/* Maglev on the source address only */
#define XLB_VIP_RATELIMIT	(1U << 1)	/* per-source rate limit: rl_* below */

struct xlb_vip {
	__u32 id;		/* index into rings, vip_stats; 0 .. XLB_MAX_VIPS-1 */
	__u32 ring_size;	/* entries of this VIP's inner ring map (prime) */
	__u32 flags;		/* XLB_VIP_* */
	__u8 method;		/* enum xlb_method */
	__u8 pad;
	__be16 encap_port;	/* XLB_METHOD_GUE: UDP destination port */
	/*
	 * Per-source limit (XLB_VIP_RATELIMIT), as GCRA parameters: one packet
	 * per rl_interval_ns, rl_tolerance_ns = (burst - 1) * interval of
	 * slack; see include/xlb_ratelimit.h.
	 */
	__u64 rl_interval_ns;
	__u64 rl_tolerance_ns;
};
_Static_assert(sizeof(struct xlb_vip) == 32, "xlb_vip");

/*
 * vip_cache: per CPU, the last answers of the VIP lookup (a hash lookup, a
 * helper call: ~80 ns here) for new flows and SYNs, direct-mapped by
 * xlb_vip_cache_slot(). An entry holds until the epoch changes: xlbd bumps
 * xlb_config.nh_epoch after every VIP change and once a second, and an
 * entry filled before a change carries the epoch read before its lookup.
 * The VIP itself is read from vip_by_id each time, so flags and limits are
 * never stale; only the key -> id mapping is cached.
 */
#define XLB_VIP_CACHE_SLOTS	256	/* power of two */

struct xlb_vip_cache_entry {
	struct xlb_vip_key key;
	__u32 vip_id;
	__u32 epoch;		/* xlb_config.nh_epoch read before the lookup; 0: empty */
	__u32 pad;
};
_Static_assert(sizeof(struct xlb_vip_cache_entry) == 32, "xlb_vip_cache_entry");

/*
 * vip_addrs: every address that at least one VIP uses -> what the data plane
 * does for traffic to that address that is not a TCP/UDP flow: answer echo
 * requests, and pick the VIP that takes IP fragments (fragments after the
 * first carry no ports, so they cannot find a port VIP by themselves).
 */
struct xlb_vip_addr_key {
	struct xlb_addr addr;
	__u8 family;
	__u8 pad[3];
};
_Static_assert(sizeof(struct xlb_vip_addr_key) == 20, "xlb_vip_addr_key");

#define XLB_ADDR_ECHO		(1U << 0)	/* answer ICMP/ICMPv6 echo requests */
#define XLB_ADDR_FRAG_TCP	(1U << 1)	/* TCP fragments go to {addr, frag_port_tcp} */
#define XLB_ADDR_FRAG_UDP	(1U << 2)	/* UDP fragments go to {addr, frag_port_udp} */

struct xlb_vip_addr {
	__u32 flags;		/* XLB_ADDR_* */
	__be16 frag_port_tcp;	/* port of the hash-src VIP taking TCP fragments */
	__be16 frag_port_udp;	/* same for UDP */
};
_Static_assert(sizeof(struct xlb_vip_addr) == 8, "xlb_vip_addr");

/*
 * filter: one bit per hash of a VIP address (xlb_filter_bit()). A clear bit
 * proves the packet is not for us, which is all non-VIP traffic pays for.
 */
struct xlb_filter {
	__u64 bits[XLB_FILTER_BITS / 64];
};

/*
 * backends: backend id -> where it is. An id belongs to one VIP; gen changes
 * every time the id is handed out again, so a connection-table entry left by
 * a removed backend can never follow the id to its next owner.
 */
#define XLB_BACKEND_ACTIVE	(1U << 0)	/* in the VIP (weight may be 0: draining) */

struct xlb_backend {
	struct xlb_addr addr;
	__u32 vip_id;
	__u32 gen;
	__u8 family;
	__u8 flags;		/* XLB_BACKEND_* */
	__be16 port;		/* XLB_METHOD_NAT: destination port; 0 = the packet's own */
	__u8 pad[4];
};
_Static_assert(sizeof(struct xlb_backend) == 32, "xlb_backend");

/*
 * health: backend id -> __u32. All-zero means up, so a fresh map is "all up".
 * DOWN_FAILOPEN is a down backend of a VIP whose backends are all down: the
 * VIP keeps forwarding over all of them (the data plane treats it as up) and
 * the daemon remembers it was down across a restart.
 */
#define XLB_HEALTH_UP		0
#define XLB_HEALTH_DOWN		1
#define XLB_HEALTH_DOWN_FAILOPEN	2

/*
 * conns: the connection table, the flow's 5-tuple as it arrived -> all an
 * established packet needs to be forwarded: its VIP (vip_by_id, an inlined
 * array read, replaces the VIP hash lookup) and its backend, valid while the
 * backend's gen and VIP still match.
 *
 * Set-associative, our own rather than the kernel's LRU hash: an ARRAY of
 * sets (struct xlb_conn_set), set = xlb_conn_set_of(flow), each of
 * XLB_CONN_WAYS ways. Looking a flow up is an inlined array read and a
 * few compares, with no helper call, lock or list; binding a new flow when
 * the set is full replaces its least recently used way (by xlb_config's
 * nh_epoch, about a second: struct xlb_conn_set.used) in place, where the
 * LRU hash's eviction cost 1.5-2 us a packet. One table for all CPUs: a flow
 * that arrives on another CPU (RSS changes, veth) finds its entry.
 *
 * No entry is ever read half-written (bpf/conns.h): a way's seq is odd
 * while one writer, who got it by compare-and-swap, writes the way; readers
 * take a way's key and conn only when seq was the same even number before
 * and after reading them. The table is pinned and mmap()ed by xlbd, which
 * reads (xlbctl conns, lookup) with the same protocol.
 */
struct xlb_flow {
	struct xlb_addr src;
	struct xlb_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct xlb_flow) == 40, "xlb_flow");

struct xlb_conn {
	__u32 backend_id;
	__u32 gen;		/* struct xlb_backend.gen when the flow was bound */
	__u32 vip_id;		/* the VIP the flow was bound on */
	__u32 pad;
};
_Static_assert(sizeof(struct xlb_conn) == 16, "xlb_conn");

#define XLB_CONN_WAYS		8	/* ways per set: 512 bytes, 8 cache lines */

struct xlb_conn_way {
	__u64 seq;		/* odd while being written; 0 and an empty key: never used */
	struct xlb_flow key;	/* family 0: empty */
	struct xlb_conn conn;
};
_Static_assert(sizeof(struct xlb_conn_way) == 64, "xlb_conn_way");

/*
 * The first line of a set says which ways may hold a flow: a lookup that
 * misses (every new flow, every SYN) reads that one line, not eight.
 */
struct xlb_conn_set {
	__u32 tag[XLB_CONN_WAYS];	/* xlb_conn_tag() of the way's flow; 0: empty */
	/*
	 * xlb_config.nh_epoch of the way's last packet, for the choice of a
	 * way to replace; stamped by readers too, at most once an epoch (so
	 * an established flow's packets write nothing), outside the seq
	 * protocol: it never decides where a packet goes.
	 */
	__u32 used[XLB_CONN_WAYS];
	struct xlb_conn_way way[XLB_CONN_WAYS];
};
_Static_assert(sizeof(struct xlb_conn_set) == 9 * 64, "xlb_conn_set");

/*
 * nexthops: per-CPU cache of bpf_fib_lookup()'s answer for a backend id. The
 * kernel's tables stay the only source: an entry is good while its epoch
 * equals xlb_config.nh_epoch, and the daemon bumps that epoch (about once a
 * second, and whenever a backend changes) to have every entry refilled on
 * its next packet. No clock read per packet, and no entry is ever written
 * by anyone but its own CPU, so none is ever read half-written.
 */
struct xlb_nexthop {
	__u32 epoch;		/* xlb_config.nh_epoch when filled; 0 = empty */
	__u32 ifindex;		/* egress interface */
	__u16 mtu;		/* MTU of the route to the backend */
	__u8 dmac[6];		/* next hop */
	__u8 smac[6];		/* egress interface */
	__u8 pad[10];
};
_Static_assert(sizeof(struct xlb_nexthop) == 32, "xlb_nexthop");

/*
 * ratelimit: one entry per (VIP, client source): IPv4 sources by /32, IPv6
 * by /64 (one attacker usually holds a whole /64), so src.w[2..3] are zero
 * for IPv6. A set-associative table in an array, like conns: sets
 * (struct xlb_rl_set), set = xlb_rl_set_of(key), each of XLB_RL_WAYS ways,
 * so that finding a source is an inlined array read and a few compares
 * (the LRU hash's lookup was a helper call and most of the limit's cost).
 * Shared by all CPUs: a way's tat is updated with compare-and-swap so the
 * rate never multiplies by the number of CPUs (bpf/ratelimit.h).
 */
#define XLB_RATELIMIT_DEFAULT	32768	/* entries: ways of all sets */
#define XLB_RATELIMIT_MIN	1024	/* rounded up to a power of two */
#define XLB_RATELIMIT_MAX	(1U << 26)
#define XLB_RL_WAYS		4	/* ways per set: one cache line each */
#define XLB_RL_BYTES		64	/* kernel memory per entry: one struct xlb_rl_way */

struct xlb_rl_key {
	struct xlb_addr src;
	__u32 vip_id;
	__u8 family;		/* 0: an empty way (no source has family 0) */
	__u8 pad[3];
};
_Static_assert(sizeof(struct xlb_rl_key) == 24, "xlb_rl_key");

/* What the control plane reads of a source: one way without its key. */
struct xlb_rl_state {
	__u64 tat_ns;		/* GCRA theoretical arrival time (bpf_ktime_get_ns clock) */
	__u64 passed;		/* packets let through */
	__u64 dropped;		/* packets over the limit */
};
_Static_assert(sizeof(struct xlb_rl_state) == 24, "xlb_rl_state");

/*
 * tat_ns of a way being written (a new source replacing its occupant, or
 * xlbd clearing it): taken by compare-and-swap before the key is touched
 * and replaced by the real tat after it, so a reader that finds the tat
 * unchanged around its key compare read a whole key (bpf/ratelimit.h).
 * No real tat comes near it (xlb_ratelimit.h: tat < 2^63).
 */
#define XLB_RL_BUSY		(~0ULL)

struct xlb_rl_way {
	__u64 tat_ns;		/* XLB_RL_BUSY while being written; 0: empty or idle */
	struct xlb_rl_key key;
	__u64 passed;
	__u64 dropped;
	__u8 pad[16];		/* one way per cache line: a hit reads and writes one line */
};
_Static_assert(sizeof(struct xlb_rl_way) == 64, "xlb_rl_way");

struct xlb_rl_set {
	struct xlb_rl_way way[XLB_RL_WAYS];
};
_Static_assert(sizeof(struct xlb_rl_set) == XLB_RL_WAYS * 64, "xlb_rl_set");

/*
 * nat_pools: VIP id -> where a XLB_METHOD_NAT VIP's flows leave from (a
 * hash, not preallocated: one entry per nat VIP). Read only when a NAT flow
 * is created: the pool address by the flow hash among
 * addrs[0 .. n_addrs-1] (of the VIP's family), the port allocated in
 * [port_lo, port_hi] (host order, 1 <= port_lo <= port_hi).
 */
#define XLB_NAT_POOL_MAX	16
#define XLB_NAT_PORT_LO		1024	/* below ip_local_port_range (32768-60999) */
#define XLB_NAT_PORT_HI		32767

struct xlb_nat_pool {
	__u16 port_lo;
	__u16 port_hi;
	__u32 n_addrs;
	struct xlb_addr addrs[XLB_NAT_POOL_MAX];
};
_Static_assert(sizeof(struct xlb_nat_pool) == 8 + 16 * XLB_NAT_POOL_MAX, "xlb_nat_pool");

/*
 * nat: struct xlb_flow as the packet arrives -> the rewrite it gets. Two
 * entries per flow, inserted by the data plane, deleted by xlbd's sweeper:
 * - to-backend, keyed by the client's tuple (client:cport -> VIP:vport):
 *   src/sport = pool address and allocated port, dst/dport = backend;
 * - to-client (XLB_NAT_TO_CLIENT), keyed by the reply's tuple
 *   (backend:bport -> pool:natport): src/sport = VIP:vport, dst/dport =
 *   client:cport, and where the reply goes: ifindex and the MACs of the
 *   client's first packet turned around (dmac = its source MAC).
 * The partner's key is always this entry's rewrite with src and dst (and
 * ports) swapped, proto and family from the key. The to-client key holds
 * the backend's address and port, so a port is taken per backend: two flows
 * to different backends may share a pool address and port.
 *
 * seen: xlb_config.now when the direction last carried a packet, written
 * only when it changed. flags: XLB_NAT_FIN when this direction sent a FIN,
 * XLB_NAT_RST when it carried a RST (the sweeper reads both entries).
 * backend_id, gen and vip_id validate the entry like struct xlb_conn.
 */
#define XLB_NAT_TO_CLIENT	(1U << 0)
#define XLB_NAT_FIN		(1U << 1)
#define XLB_NAT_RST		(1U << 2)

struct xlb_nat {
	struct xlb_addr src;	/* new source address */
	struct xlb_addr dst;	/* new destination address */
	__be16 sport;		/* new source port */
	__be16 dport;		/* new destination port */
	__u32 backend_id;
	__u32 gen;		/* struct xlb_backend.gen when the flow was created */
	__u32 vip_id;
	__u32 seen;		/* xlb_config.now of the last packet this way */
	__u32 flags;		/* XLB_NAT_* */
	__u32 ifindex;		/* to-client: interface the client's packets came in on */
	__u8 dmac[6];		/* to-client: the client's side next hop */
	__u8 smac[6];		/* to-client: our MAC on that interface */
};
_Static_assert(sizeof(struct xlb_nat) == 72, "xlb_nat");

/* struct xlb_config.flags */
#define XLB_CONFIG_NAT		(1U << 0)	/* some VIP is XLB_METHOD_NAT: look up `nat` */

/* config: one entry, written by the daemon. */
struct xlb_config {
	struct xlb_addr src_v4;	/* outer source of IPv4-in-IPv4 (a local address) */
	struct xlb_addr src_v6;	/* outer source of IPv6-in-IPv6 */
	__u8 encap_ttl;		/* outer TTL / hop limit; 0 means 64 */
	__u8 conns_placed;	/* xlbd's alone: XLB_CONNS_PLACED, or 0 (dp_conns_rehome()) */
	__u8 pad[2];
	__u32 nh_epoch;		/* nexthops entries of another epoch are refilled; never 0 */
	__u32 now;		/* seconds, any origin, written with each epoch bump (nat seen) */
	__u32 flags;		/* XLB_CONFIG_* */
};
_Static_assert(sizeof(struct xlb_config) == 48, "xlb_config");

/*
 * xlb_config.conns_placed: every entry of conns sits where xlb_conn_hash()
 * puts it. Builds before that hash wrote 0 there (a pad byte), and placed
 * IPv6 entries by the Maglev hash.
 */
#define XLB_CONNS_PLACED	1

/* Per-CPU counters. Each map holds one struct per key; sum over CPUs. */
struct xlb_vip_stats {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
	__u64 drops;		/* packets to this VIP dropped for any reason */
	__u64 ratelimited;	/* of which over a source's rate limit */
};
_Static_assert(sizeof(struct xlb_vip_stats) == 40, "xlb_vip_stats");

struct xlb_backend_stats {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct xlb_backend_stats) == 16, "xlb_backend_stats");

/*
 * outcomes: what happened to every packet the program saw, one field per
 * reason. The pass_* fields plus tx, redirect and drop_* add up to the number
 * of packets seen.
 */
struct xlb_outcomes {
	__u64 pass_not_ip;	/* not IPv4/IPv6 (ARP, LLDP, ...) */
	__u64 pass_not_vip;	/* IP traffic for an address that is not a VIP */
	__u64 pass_truncated;	/* headers cut before the destination is known */
	__u64 pass_no_neigh;	/* ipip: next hop unresolved, encapsulated packet handed to the kernel */
	__u64 pass_other;	/* to a VIP address but nothing for us (other protocol, ICMP type) */
	__u64 tx;		/* sent back out the receiving interface */
	__u64 redirect;		/* sent out another interface */
	__u64 drop_malformed;	/* to a VIP address, headers inconsistent or cut */
	__u64 drop_no_backend;	/* VIP has no backend to give the flow */
	__u64 drop_fragment;	/* IP fragment for a VIP that cannot take fragments */
	__u64 drop_no_route;	/* FIB: unreachable, blackhole, prohibited, ... */
	__u64 drop_too_big;	/* encapsulated packet exceeds the egress MTU, no error sent */
	__u64 drop_no_tx_port;	/* egress interface not in tx_ports */
	__u64 drop_ratelimit;	/* over the per-source rate limit (bpf/ratelimit.h) */
	__u64 drop_internal;	/* helper failure (adjust_head, bad config) */
	__u64 icmp_echo;	/* echo requests answered (also counted in tx) */
	__u64 icmp_too_big;	/* too-big errors steered to a backend (also tx/redirect) */
	__u64 drop_no_neigh;	/* l2: next hop unresolved (the kernel could not deliver it either) */
	__u64 icmp_too_big_sent;	/* too-big errors sent to clients instead of their packet (also tx) */
	__u64 drop_nat_no_port;	/* nat: new flow, every port of the pool's range probed is taken */
	__u64 drop_nat_full;	/* nat: new flow, the nat map is full */
	__u64 nat_replies;	/* nat: backend replies translated to the client (also tx/redirect) */
	__u64 icmp_nat;		/* nat: ICMP errors about a NAT flow translated (also tx/redirect) */
};
_Static_assert(sizeof(struct xlb_outcomes) == 23 * 8, "xlb_outcomes");

/*
 * decap program (backend hosts): decap_addrs holds the host's own addresses
 * (key struct xlb_vip_addr_key, value __u32 unused = 1); decap_stats one
 * per-CPU struct xlb_decap_stats.
 */
#define XLB_MAX_DECAP_ADDRS	256

struct xlb_decap_stats {
	__u64 decapped;		/* outer header stripped, inner packet passed up */
	__u64 pass_not_encap;	/* not IPIP/IP6IP6: passed untouched */
	__u64 pass_not_local;	/* IPIP/IP6IP6 whose outer destination is not ours */
	__u64 pass_fragment;	/* outer header is a fragment: left to the kernel */
	__u64 pass_malformed;	/* cut or inconsistent headers: left to the kernel */
	__u64 drop_internal;	/* helper failure */
};
_Static_assert(sizeof(struct xlb_decap_stats) == 6 * 8, "xlb_decap_stats");

#endif /* XLB_ABI_H */
