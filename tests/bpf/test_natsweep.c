// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbd's side of method nat against real maps: what the reconciler writes (the pool, its
 * default, the backend's port, the prefilter bits of pool addresses, XLB_CONFIG_NAT) and the
 * sweeper (ctl/natsweep.c) ending flows, as a table of NAT entry pairs planted in the `nat` map
 * with the flags and ages the data plane would leave: which flows it ends, and why.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "cmd.h"
#include "config.h"
#include "daemon.h"
#include "dataplane.h"
#include "natsweep.h"
#include "sync.h"
#include "xlb_hash.h"
#include "xlb_nat.h"
#include "xlb.skel.h"

#define NAT_VIP "10.0.0.10:80/tcp"
#define NAT_UDP "10.0.0.10:53/udp"

/* tcp-timeout 30s, fin-timeout 5s, udp-timeout 20s: ages below and above each. */
static const char base[] =
	"vip add " NAT_VIP " method nat snat 10.9.0.1,10.9.0.2 snat-ports 2000-2999 "
	"tcp-timeout 30s fin-timeout 5s\n"
	"backend add " NAT_VIP " 10.0.1.1:8080\n"
	"backend add " NAT_VIP " 10.0.1.2:8080\n"
	"backend add " NAT_VIP " 10.0.1.2:8081\n"
	"vip add " NAT_UDP " method nat udp-timeout 20s\n"
	"backend add " NAT_UDP " 10.0.1.3\n"
	"vip add 10.0.0.11:80/tcp\n"
	"backend add 10.0.0.11:80/tcp 10.0.1.4\n";

static struct daemon d;
static char err[256];

static void load(struct config *c, const char *text)
{
	int ret = config_apply_text(c, text, err, sizeof(err));

	check(ret == 0, "the text applies: %s", err);
}

static int setup(void **state)
{
	struct dp_opts o = { .max_vips = 8, .max_backends = 16, .conns = 1024,
			     .ratelimit_entries = 1024, .nat_entries = 1024 };
	struct xlb_config cfg = { 0 };
	int ret;

	memset(&d, 0, sizeof(d));
	ret = dp_load(&d.dp, &o);
	if (ret) {
		print_message("cannot load the data plane: %s\n", strerror(-ret));
		return -1;
	}
	/* The balancer's own address, as update_sources() finds it on the first interface. */
	cfg.src_v4.v4 = inet_addr("10.0.0.1");
	if (sync_init(&d.sync, &d.dp) || dp_config_set(&d.dp, &cfg) || natsweep_open(&d.natsweep))
		return -1;
	config_init(&d.cfg);
	load(&d.cfg, base);
	return sync_all(&d.sync, &d.cfg) ? -1 : 0;
}

static int teardown(void **state)
{
	natsweep_close(d.natsweep);
	config_free(&d.cfg);
	sync_free(&d.sync);
	dp_unload(&d.dp);
	return 0;
}

static struct cfg_vip *vip(const char *svc)
{
	struct xlb_vip_key key;

	check(service_parse(svc, &key, err, sizeof(err)) == 0, "%s parses", svc);
	return config_vip(&d.cfg, &key);
}

static bool filter_has(const char *addr)
{
	struct xlb_filter f;
	struct xlb_addr a = { .v4 = inet_addr(addr) };
	__u32 bit = xlb_filter_bit(&a), zero = 0;

	check(!bpf_map__lookup_elem(d.dp.skel->maps.filter, &zero, sizeof(zero), &f, sizeof(f), 0),
	      "the filter reads");
	return f.bits[bit / 64] & 1ULL << (bit % 64);
}

/* The reconciler's NAT writes: pools, the default pool, ports, prefilter bits, the flag. */
static void test_sync_writes(void **state)
{
	struct cfg_vip *tcp = vip(NAT_VIP), *udp = vip(NAT_UDP);
	struct xlb_nat_pool pool;
	struct xlb_backend be;
	struct config work;

	check(!bpf_map__lookup_elem(d.dp.skel->maps.nat_pools, &tcp->id, sizeof(tcp->id), &pool,
				    sizeof(pool), 0),
	      "the pool of " NAT_VIP " reads");
	check(pool.n_addrs == 2 && pool.addrs[0].v4 == inet_addr("10.9.0.1") &&
		      pool.addrs[1].v4 == inet_addr("10.9.0.2") && pool.port_lo == 2000 &&
		      pool.port_hi == 2999,
	      "snat and snat-ports are the pool: %u addresses, %u-%u", pool.n_addrs,
	      pool.port_lo, pool.port_hi);
	check(!bpf_map__lookup_elem(d.dp.skel->maps.nat_pools, &udp->id, sizeof(udp->id), &pool,
				    sizeof(pool), 0),
	      "the pool of " NAT_UDP " reads");
	check(pool.n_addrs == 1 && pool.addrs[0].v4 == inet_addr("10.0.0.1") &&
		      pool.port_lo == 1024 && pool.port_hi == 32767,
	      "no snat: the balancer's own address, the default ports");
	check(filter_has("10.9.0.1") && filter_has("10.9.0.2") && filter_has("10.0.0.1"),
	      "every pool address has its prefilter bit");
	check(d.dp.cfg.flags & XLB_CONFIG_NAT, "XLB_CONFIG_NAT while a VIP is nat");
	check(!dp_backend_get(&d.dp, tcp->backends[2].id, &be) && be.port == htons(8081) &&
		      be.addr.v4 == inet_addr("10.0.1.2"),
	      "the backend's port is in the map, network order");
	check(!dp_backend_get(&d.dp, udp->backends[0].id, &be) && be.port == 0,
	      "no port: 0, the packet's own");

	/* Without nat VIPs the flag goes, and the pool addresses leave the filter. */
	config_init(&work);
	load(&work, "vip add 10.0.0.11:80/tcp\nbackend add 10.0.0.11:80/tcp 10.0.1.4\n");
	sync_adopt(&d.sync, &work);
	check(sync_all(&d.sync, &work) == 0, "a configuration without nat");
	check(!(d.dp.cfg.flags & XLB_CONFIG_NAT), "no XLB_CONFIG_NAT without a nat VIP");
	check(!filter_has("10.9.0.1"), "a pool address of no VIP leaves the filter");
	config_free(&work);
	sync_adopt(&d.sync, &d.cfg);
	check(sync_all(&d.sync, &d.cfg) == 0, "the nat configuration back");
	check(d.dp.cfg.flags & XLB_CONFIG_NAT, "XLB_CONFIG_NAT back");
}

/* A flow's two entries as the data plane writes them. */
struct plant {
	const char *what;
	const char *svc;
	int backend;		/* index in the VIP's backends; -1: an id nobody holds */
	__u32 flags_out;	/* XLB_NAT_FIN/RST of the to-backend entry */
	__u32 flags_back;	/* of the to-client entry */
	__u32 age_out, age_back;	/* seconds since each was seen */
	bool orphan;		/* plant the to-backend entry only */
	bool kept;
	__u64 *reason;		/* the counter that must count it when it ends */
};

static struct natsweep_report rep;

static const struct plant plants[] = {
	{ "established, busy", NAT_VIP, 0, 0, 0, 0, 0, .kept = true },
	/* Kept ones stay 2s clear of their limit: a second may tick during the walk. */
	{ "established, idle 27s of 30", NAT_VIP, 1, 0, 0, 27, 27, .kept = true },
	{ "established, idle 31s", NAT_VIP, 1, 0, 0, 31, 31, .reason = &rep.ended.idle },
	{ "one way idle, the other busy", NAT_VIP, 2, 0, 0, 100, 0, .kept = true },
	{ "FIN from the client only", NAT_VIP, 0, XLB_NAT_FIN, 0, 60, 25, .kept = true },
	{ "FIN both ways, 3s of 5", NAT_VIP, 0, XLB_NAT_FIN, XLB_NAT_FIN, 3, 3, .kept = true },
	{ "FIN both ways, 6s", NAT_VIP, 0, XLB_NAT_FIN, XLB_NAT_FIN, 6, 6,
	  .reason = &rep.ended.closed },
	{ "RST from the backend, 6s", NAT_VIP, 1, 0, XLB_NAT_RST, 6, 6,
	  .reason = &rep.ended.closed },
	{ "RST, 1s", NAT_VIP, 1, XLB_NAT_RST, 0, 1, 1, .kept = true },
	{ "RST from the backend, 1s", NAT_VIP, 1, 0, XLB_NAT_RST, 1, 1, .kept = true },
	{ "backend id nobody holds", NAT_VIP, -1, 0, 0, 0, 0, .reason = &rep.ended.backend },
	{ "UDP idle 17s of 20", NAT_UDP, 0, 0, 0, 17, 25, .kept = true },
	{ "UDP idle 21s", NAT_UDP, 0, 0, 0, 21, 21, .reason = &rep.ended.idle },
	{ "to-backend entry without its partner", NAT_VIP, 0, XLB_NAT_FIN, 0, 2, 0,
	  .orphan = true, .reason = &rep.ended.orphan },
};

static void plant_keys(size_t i, struct xlb_flow *out, struct xlb_flow *back, struct xlb_nat *eo,
		       struct xlb_nat *eb)
{
	const struct plant *p = &plants[i];
	struct cfg_vip *v = vip(p->svc);
	const struct cfg_backend *b = p->backend >= 0 ? &v->backends[p->backend] : NULL;
	__u32 now = dp_now(&d.dp);

	memset(out, 0, sizeof(*out));
	memset(eo, 0, sizeof(*eo));
	out->src.v4 = inet_addr("192.0.2.1");
	out->sport = htons(10000 + i);
	out->dst = v->key.addr;
	out->dport = v->key.port;
	out->proto = v->key.proto;
	out->family = XLB_AF_INET;
	eo->src.v4 = inet_addr("10.9.0.1");
	eo->sport = htons(2000 + i);
	eo->dst = b ? b->addr : (struct xlb_addr){ .v4 = inet_addr("10.0.1.9") };
	eo->dport = htons(b && b->port ? b->port : 80);
	eo->backend_id = b ? b->id : 15;
	eo->gen = b ? b->gen : 1;
	eo->vip_id = v->id;
	eo->seen = now - p->age_out;
	eo->flags = p->flags_out;
	xlb_nat_partner(back, eo, out);
	*eb = *eo;
	eb->src = out->dst;
	eb->sport = out->dport;
	eb->dst = out->src;
	eb->dport = out->sport;
	eb->seen = now - p->age_back;
	eb->flags = XLB_NAT_TO_CLIENT | p->flags_back;
}

static void sweep(void)
{
	natsweep_soon(&d);
	natsweep_tick(&d);
	for (int i = 0; i < 100 && natsweep_busy(&d); i++)
		natsweep_tick(&d);
	check(!natsweep_busy(&d), "the walk ends");
}

static void test_sweep(void **state)
{
	struct natsweep_ended before;
	struct xlb_flow out, back;
	struct xlb_nat eo, eb, got;
	size_t kept = 0;

	for (size_t i = 0; i < ARRAY_SIZE(plants); i++) {
		plant_keys(i, &out, &back, &eo, &eb);
		check(!bpf_map__update_elem(d.dp.skel->maps.nat, &out, sizeof(out), &eo, sizeof(eo),
					    BPF_NOEXIST),
		      "%s: the to-backend entry", plants[i].what);
		if (!plants[i].orphan)
			check(!bpf_map__update_elem(d.dp.skel->maps.nat, &back, sizeof(back), &eb,
						    sizeof(eb), BPF_NOEXIST),
			      "%s: the to-client entry", plants[i].what);
		kept += plants[i].kept ? 2 : 0;
	}
	natsweep_report(&d, &rep);
	before = rep.ended;
	sweep();
	natsweep_report(&d, &rep);
	for (size_t i = 0; i < ARRAY_SIZE(plants); i++) {
		plant_keys(i, &out, &back, &eo, &eb);
		check(!dp_nat_lookup(&d.dp, &out, &got) == plants[i].kept,
		      "%s: the to-backend entry is %s", plants[i].what,
		      plants[i].kept ? "kept" : "deleted");
		check(!dp_nat_lookup(&d.dp, &back, &got) == (plants[i].kept && !plants[i].orphan),
		      "%s: the to-client entry is %s", plants[i].what,
		      plants[i].kept ? "kept" : "deleted");
	}
	check(rep.ended.idle - before.idle == 2 && rep.ended.closed - before.closed == 2 &&
		      rep.ended.backend - before.backend == 1 &&
		      rep.ended.orphan - before.orphan == 1 && rep.ended.vip == before.vip,
	      "ended by reason: idle %llu closed %llu backend %llu orphan %llu vip %llu",
	      (unsigned long long)(rep.ended.idle - before.idle),
	      (unsigned long long)(rep.ended.closed - before.closed),
	      (unsigned long long)(rep.ended.backend - before.backend),
	      (unsigned long long)(rep.ended.orphan - before.orphan),
	      (unsigned long long)(rep.ended.vip - before.vip));
	/* A walk counts as it goes: the next one, with nothing to end, counts exactly. */
	sweep();
	natsweep_report(&d, &rep);
	check(rep.counted && rep.entries == kept, "%zu entries left, the report says %llu", kept,
	      (unsigned long long)rep.entries);
}

/*
 * A backend marked down, then deleted, then the VIP: the flows go with each, a drained
 * backend's stay. Runs after test_sweep, on what it kept.
 */
static void test_sweep_config(void **state)
{
	struct cfg_vip *v = vip(NAT_VIP);
	struct xlb_flow out, back;
	struct xlb_nat eo, eb, got;
	struct xlb_nat_pool pool;
	__u64 vip_before;

	/* "established, busy" is on backend 0, "one way idle" on backend 2. */
	v->backends[0].weight = 0;
	check(sync_vip(&d.sync, &d.cfg, v) == 0, "backend 0 drained");
	sweep();
	plant_keys(0, &out, &back, &eo, &eb);
	check(!dp_nat_lookup(&d.dp, &out, &got), "a drained backend keeps its NAT flows");

	v->backends[0].down = true;
	check(sync_vip(&d.sync, &d.cfg, v) == 0, "backend 0 down");
	sweep();
	check(dp_nat_lookup(&d.dp, &out, &got) && dp_nat_lookup(&d.dp, &back, &got),
	      "a backend down ends its NAT flows");

	plant_keys(3, &out, &back, &eo, &eb);
	check(!dp_nat_lookup(&d.dp, &out, &got), "backend 2's flow is still there");
	natsweep_report(&d, &rep);
	vip_before = rep.ended.vip;
	check(sync_vip_remove(&d.sync, &v->key) == 0, "vip del");
	check(bpf_map__lookup_elem(d.dp.skel->maps.nat_pools, &v->id, sizeof(v->id), &pool,
				   sizeof(pool), 0) == -ENOENT,
	      "a deleted VIP's pool goes with it");
	load(&d.cfg, "vip del " NAT_VIP "\n");
	sweep();
	natsweep_report(&d, &rep);
	check(dp_nat_lookup(&d.dp, &out, &got) && dp_nat_lookup(&d.dp, &back, &got),
	      "a VIP deleted ends its NAT flows");
	check(rep.ended.vip == vip_before + 4, "the VIP's 4 flows left counted as vip_deleted, got "
	      "%llu", (unsigned long long)(rep.ended.vip - vip_before));
}

/*
 * Without a nat VIP, a table found empty is walked no more (no entry can come, and a walk of an
 * empty table still reads every bucket), until natsweep_soon(): a VIP deleted. Runs after
 * test_sweep_config, whose flows of NAT_UDP are still there.
 */
static void test_sweep_skips(void **state)
{
	struct xlb_flow out, back;
	struct xlb_nat eo, eb, got;
	struct natsweep_ended before;

	/* Keys of NAT_UDP while it is there: an entry that only a walk would end (VIP gone). */
	plant_keys(11, &out, &back, &eo, &eb);
	check(sync_vip_remove(&d.sync, &vip(NAT_UDP)->key) == 0, "vip del " NAT_UDP);
	load(&d.cfg, "vip del " NAT_UDP "\n");
	sweep();
	natsweep_report(&d, &rep);
	check(rep.counted && rep.entries == 0,
	      "no nat VIP: the table is empty, the report says %llu",
	      (unsigned long long)rep.entries);

	check(!bpf_map__update_elem(d.dp.skel->maps.nat, &out, sizeof(out), &eo, sizeof(eo),
				    BPF_NOEXIST), "an entry planted after that walk");
	before = rep.ended;
	usleep((NATSWEEP_EVERY_MS + 200) * 1000);
	natsweep_tick(&d);
	check(!natsweep_busy(&d) && !dp_nat_lookup(&d.dp, &out, &got),
	      "a second later, no walk: the entry is still there");
	sweep();
	natsweep_report(&d, &rep);
	check(dp_nat_lookup(&d.dp, &out, &got) && rep.ended.vip + rep.ended.orphan >
	      before.vip + before.orphan, "natsweep_soon(): a walk, which ends it");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_writes),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_sweep_config),
		cmocka_unit_test(test_sweep_skips),
	};

	return cmocka_run_group_tests_name("nat sweeper", tests, setup, teardown);
}
