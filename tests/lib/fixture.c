// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include "fixture.h"
#include "pkt.h"
#include "xlb_hash.h"
#include "xlb_ratelimit.h"

int fx_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	return system(cmd) == 0 ? 0 : -1;
}

static int write_file(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -errno;
	err = fputs(val, f) < 0 ? -EIO : 0;
	if (fclose(f))
		err = -errno;
	return err;
}

static const char *const topology[] = {
	"ip link set lo up",
	"ip link add xlb0 address 02:00:00:00:00:a0 type veth peer name xlb1",
	"ip link add xlb2 address 02:00:00:00:00:a2 type veth peer name xlb3",
	"ip link set xlb0 up", "ip link set xlb1 up", "ip link set xlb2 up", "ip link set xlb3 up",
	"ip addr add 10.0.0.1/24 dev xlb0", "ip -6 addr add fd00::1/64 dev xlb0 nodad",
	"ip addr add 10.1.0.1/24 dev xlb2", "ip -6 addr add fd01::1/64 dev xlb2 nodad",
	"ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:02 dev xlb0 nud permanent",
	"ip neigh add 10.0.0.3 lladdr 02:00:00:00:00:03 dev xlb0 nud permanent",
	"ip neigh add 10.0.0.4 lladdr 02:00:00:00:00:04 dev xlb0 nud permanent",
	"ip neigh add fd00::2 lladdr 02:00:00:00:00:02 dev xlb0 nud permanent",
	"ip neigh add fd00::3 lladdr 02:00:00:00:00:03 dev xlb0 nud permanent",
	"ip neigh add fd00::4 lladdr 02:00:00:00:00:04 dev xlb0 nud permanent",
	"ip neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev xlb2 nud permanent",
	"ip neigh add fd01::2 lladdr 02:00:00:00:01:02 dev xlb2 nud permanent",
	"ip route add blackhole 10.9.0.0/16", "ip -6 route add blackhole fd09::/32",
};

static int netns_setup(void)
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	/* bpf_fib_lookup() answers only on interfaces that forward. */
	if (write_file("/proc/sys/net/ipv4/ip_forward", "1") ||
	    write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1"))
		return -EIO;
	for (size_t i = 0; i < sizeof(topology) / sizeof(topology[0]); i++) {
		if (fx_sh("%s", topology[i])) {
			fprintf(stderr, "fixture: '%s' failed\n", topology[i]);
			return -EIO;
		}
	}
	return 0;
}

int fx_setup(struct fixture *fx)
{
	return fx_setup_sized(fx, 4096);
}

int fx_setup_sized(struct fixture *fx, __u32 max_backends)
{
	return fx_setup_room(fx, 64, max_backends);
}

int fx_setup_room(struct fixture *fx, __u32 max_vips, __u32 max_backends)
{
	struct xlb_config cfg = { 0 };
	__u8 family;
	int err;

	memset(fx, 0, sizeof(*fx));
	err = netns_setup();
	if (err)
		return err;
	fx->if0 = if_nametoindex("xlb0");
	fx->if2 = if_nametoindex("xlb2");
	if (!fx->if0 || !fx->if2)
		return -ENODEV;
	memcpy(fx->mac0, "\x02\x00\x00\x00\x00\xa0", 6);
	memcpy(fx->mac2, "\x02\x00\x00\x00\x00\xa2", 6);

	err = dp_load(&fx->dp, &(struct dp_opts){ .max_vips = max_vips,
						    .max_backends = max_backends });
	if (err)
		return err;
	pkt_addr(&cfg.src_v4, &family, "10.0.0.1");
	pkt_addr(&cfg.src_v6, &family, "fd00::1");
	err = dp_config_set(&fx->dp, &cfg);
	if (!err)
		err = dp_tx_port_add(&fx->dp, fx->if0);
	if (!err)
		err = dp_tx_port_add(&fx->dp, fx->if2);
	return err;
}

int fx_setup_vips(struct fixture *fx, struct fx_vip *v, int n)
{
	int err = fx_setup(fx);

	if (err) {
		fprintf(stderr, "fixture setup failed: %s\n", strerror(-err));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		err = fx_vip_add(fx, &v[i]);
		if (err) {
			fprintf(stderr, "VIP %d (%s): %s\n", v[i].id, v[i].addr, strerror(-err));
			return -1;
		}
	}
	return 0;
}

int fx_sync_setup(struct dp *dp, struct sync *s, __u32 max_vips, __u32 max_backends)
{
	struct dp_opts o = { .max_vips = max_vips, .max_backends = max_backends, .conns = 1024,
			     .ratelimit_entries = 1024 };
	int err = dp_load(dp, &o);

	if (err) {
		fprintf(stderr, "cannot load the data plane: %s\n", strerror(-err));
		return -1;
	}
	err = sync_init(s, dp);
	if (err) {
		fprintf(stderr, "cannot start the reconciler: %s\n", strerror(-err));
		dp_unload(dp);
		return -1;
	}
	return 0;
}

void fx_teardown(struct fixture *fx)
{
	dp_unload(&fx->dp);
}

static int vip_key(const struct fx_vip *v, struct xlb_vip_key *key)
{
	memset(key, 0, sizeof(*key));
	key->port = htons(v->port);
	key->proto = v->proto;
	return pkt_addr(&key->addr, &key->family, v->addr);
}

int fx_ring_rebuild(struct fixture *fx, struct fx_vip *v)
{
	struct maglev_backend mb[FX_MAX_BACKENDS];
	__u32 size = v->ring_size ? v->ring_size : XLB_RING_DEFAULT;
	__u32 *table, *old;
	int err;

	table = calloc(size, sizeof(*table));
	old = calloc(size, sizeof(*old));
	err = table && old ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < v->n; i++) {
		memset(&mb[i], 0, sizeof(mb[i]));
		err = pkt_addr(&mb[i].addr, &mb[i].family, v->backends[i].addr);
		mb[i].id = v->backends[i].id;
		mb[i].weight = v->backends[i].weight;
	}
	if (!err)
		err = maglev_build(mb, v->n, table, size);
	if (!err)
		err = dp_ring_read(&fx->dp, v->id, old, size);
	if (!err)
		err = dp_ring_write(&fx->dp, v->id, table, old, size);
	free(table);
	free(old);
	return err;
}

int fx_vip_add(struct fixture *fx, struct fx_vip *v)
{
	struct xlb_vip vip = {
		.id = v->id,
		.ring_size = v->ring_size ? v->ring_size : XLB_RING_DEFAULT,
		.flags = v->flags,
		.method = v->method,
		.encap_port = htons(v->encap_port),
	};
	struct xlb_vip_addr_key akey = { 0 };
	struct xlb_vip_addr aval = { .flags = XLB_ADDR_ECHO };
	struct xlb_backend be;
	struct xlb_vip_key key;
	int err;

	err = vip_key(v, &key);
	if (!err && v->rate) {
		vip.flags |= XLB_VIP_RATELIMIT;
		err = xlb_rl_params(v->rate, v->burst, &vip.rl_interval_ns, &vip.rl_tolerance_ns);
	}
	if (err)
		return err;
	for (size_t i = 0; i < v->n; i++) {
		memset(&be, 0, sizeof(be));
		err = pkt_addr(&be.addr, &be.family, v->backends[i].addr);
		if (err)
			return err;
		v->backends[i].id = v->id * 100 + 1 + i;
		be.vip_id = v->id;
		be.gen = 1;
		be.flags = XLB_BACKEND_ACTIVE;
		be.port = htons(v->backends[i].port);
		err = dp_backend_set(&fx->dp, v->backends[i].id, &be);
		if (err)
			return err;
	}
	/* The ring exists (all "nobody") once the VIP id is known to dp. */
	err = dp_vip_set(&fx->dp, &key, &vip);
	if (!err)
		err = fx_ring_rebuild(fx, v);
	if (err)
		return err;

	akey.addr = key.addr;
	akey.family = key.family;
	if (v->flags & XLB_VIP_HASH_SRC) {
		if (v->proto == IPPROTO_TCP) {
			aval.flags |= XLB_ADDR_FRAG_TCP;
			aval.frag_port_tcp = key.port;
		} else {
			aval.flags |= XLB_ADDR_FRAG_UDP;
			aval.frag_port_udp = key.port;
		}
	}
	err = dp_addr_set(&fx->dp, &akey, &aval);
	return err ? err : dp_filter_rebuild(&fx->dp);
}

int fx_run(struct fixture *fx, const void *in, __u32 len, void *out, __u32 *out_len,
	   __u32 *verdict)
{
	return fx_run_on(fx, fx->if0, in, len, out, out_len, verdict);
}

int fx_run_on(struct fixture *fx, int ifindex, const void *in, __u32 len, void *out,
	      __u32 *out_len, __u32 *verdict)
{
	/* ctx.data_end is the linear part: all of it, no fragments. */
	struct xdp_md ctx_in = { .data_end = len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = out_len ? *out_len : 0, .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in), .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(dp_prog_fd(&fx->dp), &opts);
	if (err)
		return -errno;
	if (out_len)
		*out_len = opts.data_size_out;
	*verdict = opts.retval;
	return 0;
}

__u32 fx_ring_owner(struct fixture *fx, const struct fx_vip *v, const struct xlb_flow *flow)
{
	__u32 size = v->ring_size ? v->ring_size : XLB_RING_DEFAULT;
	__u32 *table = calloc(size, sizeof(*table));
	__u32 owner = XLB_BACKEND_NONE;

	if (table && !dp_ring_read(&fx->dp, v->id, table, size))
		owner = table[xlb_flow_hash(flow, v->flags & XLB_VIP_HASH_SRC) % size];
	free(table);
	return owner;
}

__u32 fx_frame_backend(const struct fx_vip *v, const __u8 *out, __u32 len)
{
	struct in_addr dst, want;

	if (len < PKT_ETH_LEN + PKT_IPV4_LEN)
		return 0;
	memcpy(&dst, out + PKT_ETH_LEN + 16, 4);
	for (size_t i = 0; i < v->n; i++)
		if (inet_pton(AF_INET, v->backends[i].addr, &want) == 1 &&
		    want.s_addr == dst.s_addr)
			return v->backends[i].id;
	return 0;
}
