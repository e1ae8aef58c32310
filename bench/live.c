// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Live-frame throughput (DESIGN.md "Performance method"): frames the balancer
 * really transmits, per second, on one core, next to an XDP_TX floor.
 *
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs a program on frames
 * "received" on xlb0 and honours its verdict: XDP_TX sends the frame out of
 * xlb0 for real, to its veth peer xlb1 (a test run is no driver: its XDP_TX
 * is a redirect back out of the receiving interface, for the floor as for
 * the balancer). A veth hands XDP frames only to a
 * peer that runs XDP itself; xlb1 runs a two-instruction XDP_DROP program,
 * the cheapest receiver there is (an XDP_PASS one would build an skb per
 * frame and weigh on every figure alike). The bench is pinned to one CPU and
 * the peer's NAPI poll runs in softirq on the CPU that transmitted, so the
 * test run, the veth transmit and the peer's receive all share one core.
 *
 * The kernel fills a frame with our bytes once, the first time it takes a
 * page, and recycles the page afterwards without copying them again: the
 * program sees what it left in the frame last time. The balancer's IPIP
 * encapsulation puts the outer header where the Ethernet header was (the
 * inner packet is untouched); and a new flow needs a new 5-tuple in every
 * frame. So frames enter through a feeder, a program of a few instructions
 * built here: it writes the Ethernet header back, for new flows also a
 * source port and the low 16 bits of the source address from a counter
 * (no two frames alike, checksums not updated: nothing on this path checks
 * them), then tail-calls the program under test. The floor is floor_tx
 * behind the same feeder, measured next to each figure; floor_tx alone is
 * shown too, which tells what the feeder costs.
 *
 * With another build (xlb-bench --old), each class runs LIVE_ROUNDS rounds of
 * (floor, this build, floor, the other) over a share of the frames each, so
 * that a neighbour on the shared cores weighs on both builds alike; the
 * figure to trust is the median of the rounds' ratios, this / other, and its
 * difference in ns per frame.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "fixture.h"
#include "pkt.h"

#define LIVE_FRAMES	10000000U	/* per figure */
#define LIVE_FRAMES_NEW	4000000U	/* new flows: about 1 Mpps */
#define LIVE_WARMUP	1000000U
/* Of the floor's frames per second (issue 13): established, new flows with a full table. */
#define LIVE_TARGET	0.8
#define LIVE_TARGET_NEW	0.5
#define LIVE_SECTION	"throughput, live frames"
/* With another build: rounds of (floor, this, floor, other) per class. */
#define LIVE_ROUNDS	5

/* Slots of the feeders' program array: what they hand the frame to. */
enum { SLOT_XLB, SLOT_FLOOR, SLOT_OLD, N_SLOTS };

struct live_class {
	const char *name;
	const char *client, *vip;	/* the frame's addresses; the VIP's port is 80/tcp */
	bool new_flows;
};

/* The VIPs of bench.c's bench_vips: 10.20.0.1:80/tcp and [fd20::1]:80/tcp. */
static const struct live_class live_classes[] = {
	{ "ipv4 tcp established", "192.0.2.1", "10.20.0.1", false },
	{ "ipv4 tcp new flows", "198.18.0.0", "10.20.0.1", true },
	{ "ipv6 tcp established", "2001:db8::1", "fd20::1", false },
	{ "ipv6 tcp new flows", "2001:db8::", "fd20::1", true },
};
#define N_CLASSES (sizeof(live_classes) / sizeof(live_classes[0]))

struct live_frame {
	__u8 bytes[256];
	__u32 len;
	__u16 port_off, addr_off;	/* source port, low 16 bits of the source address */
	__u16 id_off;			/* IPv4 identification, 0 for IPv6 */
};

static int frame_build(const struct live_class *c, struct live_frame *f)
{
	bool v6 = strchr(c->vip, ':') != NULL;
	struct pkt_spec s = {
		.family = v6 ? XLB_AF_INET6 : XLB_AF_INET,
		.src = c->client,
		.dst = c->vip,
		.proto = IPPROTO_TCP,
		.sport = 40000,
		.dport = 80,
		.payload_len = 64,
	};
	__u16 l4 = PKT_ETH_LEN + (v6 ? PKT_IPV6_LEN : PKT_IPV4_LEN);

	memcpy(s.smac, "\x02\x00\x00\x00\x00\xc1", 6);
	memcpy(s.dmac, "\x02\x00\x00\x00\x00\xa0", 6);
	f->len = pkt_build(f->bytes, sizeof(f->bytes), &s);
	f->port_off = l4;
	f->id_off = 0;
	/* The source address ends where the destination address (4 or 16 bytes) starts. */
	f->addr_off = l4 - (v6 ? 16 : 4) - 2;
	if (!f->len)
		return -EINVAL;
	if (!v6 && c->new_flows) {
		/*
		 * The balancer checks the IPv4 header checksum. With those 16
		 * bits of address 0 and the identification 0xffff, a feeder
		 * that writes X and ~X there keeps their one's complement sum,
		 * so the checksum stays right without being computed per frame.
		 */
		__u16 sum;

		f->id_off = PKT_ETH_LEN + 4;
		memset(f->bytes + f->addr_off, 0, 2);
		memset(f->bytes + f->id_off, 0xff, 2);
		memset(f->bytes + PKT_ETH_LEN + 10, 0, 2);
		sum = pkt_csum(f->bytes + PKT_ETH_LEN, PKT_IPV4_LEN);
		f->bytes[PKT_ETH_LEN + 10] = sum >> 8;	/* network order */
		f->bytes[PKT_ETH_LEN + 11] = sum & 0xff;
	}
	return 0;
}

/* ---- programs built from raw instructions ------------------------------ */

#define INSN(c, d, s, o, i)                                                                       \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV_REG(d, s)		INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i)		INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD_IMM(d, i)		INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define RSH_IMM(d, i)		INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
#define XOR_IMM(d, i)		INSN(BPF_ALU64 | BPF_XOR | BPF_K, d, 0, 0, i)
#define LDX(sz, d, s, o)	INSN(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define STX(sz, d, s, o)	INSN(BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define ST_IMM(sz, d, o, i)	INSN(BPF_ST | BPF_MEM | (sz), d, 0, o, i)
#define CALL(f)			INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* A map's address into register d: one instruction in two slots. */
static size_t ld_map(struct bpf_insn *p, int d, int fd)
{
	p[0] = INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd);
	p[1] = INSN(0, 0, 0, 0, 0);
	return 2;
}

static int prog_load(const char *name, const struct bpf_insn *insns, size_t n)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_XDP);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "Dual BSD/GPL", insns, n, &opts);

	return fd < 0 ? -errno : fd;
}

/*
 * r6 = ctx, r7 = data. Stores are host order: the immediate's bytes land in
 * the frame as they are in memory here.
 */
static int feeder_load(int progs, int counter, const struct live_frame *f, bool new_flows,
		       __u32 slot)
{
	struct bpf_insn p[48];
	__u32 w[3], reach = new_flows ? f->port_off + 2 : PKT_ETH_LEN;
	__u16 type;
	size_t n = 0, jumps[2], nj = 0;

	memcpy(w, f->bytes, sizeof(w));
	memcpy(&type, f->bytes + 12, sizeof(type));
	p[n++] = MOV_REG(6, 1);
	p[n++] = LDX(BPF_W, 7, 6, offsetof(struct xdp_md, data));
	p[n++] = LDX(BPF_W, 3, 6, offsetof(struct xdp_md, data_end));
	p[n++] = MOV_REG(2, 7);
	p[n++] = ADD_IMM(2, reach);
	jumps[nj++] = n;
	p[n++] = INSN(BPF_JMP | BPF_JGT | BPF_X, 2, 3, 0, 0);	/* too short: out */
	for (int i = 0; i < 3; i++)
		p[n++] = ST_IMM(BPF_W, 7, 4 * i, (__s32)w[i]);
	p[n++] = ST_IMM(BPF_H, 7, 12, type);
	if (new_flows) {
		p[n++] = ST_IMM(BPF_W, 10, -4, 0);
		n += ld_map(p + n, 1, counter);
		p[n++] = MOV_REG(2, 10);
		p[n++] = ADD_IMM(2, -4);
		p[n++] = CALL(BPF_FUNC_map_lookup_elem);
		jumps[nj++] = n;
		p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0);	/* no counter: out */
		p[n++] = LDX(BPF_DW, 8, 0, 0);
		p[n++] = MOV_REG(1, 8);
		p[n++] = ADD_IMM(1, 1);
		p[n++] = STX(BPF_DW, 0, 1, 0);
		p[n++] = STX(BPF_H, 7, 8, f->port_off);
		p[n++] = RSH_IMM(8, 16);
		p[n++] = STX(BPF_H, 7, 8, f->addr_off);
		if (f->id_off) {
			p[n++] = XOR_IMM(8, 0xffff);
			p[n++] = STX(BPF_H, 7, 8, f->id_off);
		}
	}
	p[n++] = MOV_REG(1, 6);
	n += ld_map(p + n, 2, progs);
	p[n++] = MOV_IMM(3, slot);
	p[n++] = CALL(BPF_FUNC_tail_call);
	for (size_t j = 0; j < nj; j++)
		p[jumps[j]].off = n - jumps[j] - 1;
	/* out: the tail call failed, or the frame is not ours */
	p[n++] = MOV_IMM(0, XDP_ABORTED);
	p[n++] = EXIT();
	return prog_load("xlb_feeder", p, n);
}

/* ---- running and counting ----------------------------------------------- */

/* Frames the interface took in (a veth counts those its XDP program saw). */
static int rx_packets(const char *ifname, __u32 *n)
{
	struct ifaddrs *ifa, *i;
	int err = -ENODEV;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET && i->ifa_data &&
		    !strcmp(i->ifa_name, ifname)) {
			*n = ((const struct rtnl_link_stats *)i->ifa_data)->rx_packets;
			err = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	return err;
}

struct live_result {
	double mpps;
	double delivered;	/* share of the frames xlb1 received */
	__u64 tx;		/* the balancer's XDP_TX count over the run */
};

static int live_run(struct fixture *fx, int prog_fd, const struct live_frame *f, __u32 frames,
		    struct live_result *r)
{
	struct xdp_md ctx = { .data_end = f->len, .ingress_ifindex = fx->if0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->bytes, .data_size_in = f->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = frames,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	struct xlb_outcomes o0, o1;
	__u32 rx0, rx1;
	double t0, ms;
	int err;

	err = rx_packets("xlb1", &rx0);
	if (!err)
		err = dp_outcomes(&fx->dp, &o0);
	if (err)
		return err;
	t0 = now_ms();
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	ms = now_ms() - t0;
	usleep(20000);		/* a NAPI poll left to ksoftirqd */
	err = rx_packets("xlb1", &rx1);
	if (!err)
		err = dp_outcomes(&fx->dp, &o1);
	if (err)
		return err;
	r->mpps = frames / (ms * 1e3);
	r->delivered = (double)(__u32)(rx1 - rx0) / frames;
	r->tx = o1.tx - o0.tx;
	return 0;
}

/* ---- the section --------------------------------------------------------- */

struct live_env {
	int peer_fd, progs, counter, if1;
	bool old;		/* another build in SLOT_OLD */
	cpu_set_t old_cpus;
};

static int env_open(struct live_env *e, struct fixture *fx, int floor_tx_fd, int old_fd)
{
	static const struct bpf_insn drop[] = { MOV_IMM(0, XDP_DROP), EXIT() };
	int xlb_fd = dp_prog_fd(&fx->dp);
	cpu_set_t one;
	int err;

	memset(e, 0, sizeof(*e));
	e->peer_fd = e->progs = e->counter = -1;
	sched_getaffinity(0, sizeof(e->old_cpus), &e->old_cpus);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		return -errno;

	e->if1 = if_nametoindex("xlb1");
	if (!e->if1)
		return -ENODEV;
	e->peer_fd = prog_load("xlb_peer_drop", drop, 2);
	if (e->peer_fd < 0)
		return e->peer_fd;
	err = bpf_xdp_attach(e->if1, e->peer_fd, XDP_FLAGS_DRV_MODE, NULL);
	if (err)
		return err;
	e->progs = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "xlb_feed_to", 4, 4, N_SLOTS, NULL);
	e->counter = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_feed_ctr", 4, 8, 1, NULL);
	if (e->progs < 0 || e->counter < 0)
		return -errno;
	if (bpf_map_update_elem(e->progs, &(__u32){ SLOT_XLB }, &xlb_fd, BPF_ANY) ||
	    bpf_map_update_elem(e->progs, &(__u32){ SLOT_FLOOR }, &floor_tx_fd, BPF_ANY))
		return -errno;
	e->old = old_fd >= 0;
	if (e->old && bpf_map_update_elem(e->progs, &(__u32){ SLOT_OLD }, &old_fd, BPF_ANY))
		return -errno;
	return 0;
}

static void env_close(struct live_env *e)
{
	if (e->if1)
		bpf_xdp_detach(e->if1, XDP_FLAGS_DRV_MODE, NULL);
	if (e->peer_fd >= 0)
		close(e->peer_fd);
	if (e->progs >= 0)
		close(e->progs);
	if (e->counter >= 0)
		close(e->counter);
	sched_setaffinity(0, sizeof(e->old_cpus), &e->old_cpus);
}

struct class_figures {
	struct live_result floor, xlb;
	__u32 frames, len;
	double old_mpps;	/* the other build: median of its rounds */
	double ratio;		/* median of the rounds' this / other */
	double ns;		/* median of the rounds' ns per frame, this less other */
};

/*
 * The other build against this one: LIVE_ROUNDS rounds of (floor, this,
 * floor, other), out->floor and out->xlb the medians of theirs.
 */
static int live_rounds(struct fixture *fx, const int *fd, const struct live_frame *f,
		       struct class_figures *out)
{
	double fl[LIVE_ROUNDS], a[LIVE_ROUNDS], b[LIVE_ROUNDS], ratio[LIVE_ROUNDS],
		ns[LIVE_ROUNDS];
	__u32 n = out->frames / LIVE_ROUNDS;
	struct live_result r[4];
	int err = 0;

	out->xlb.tx = 0;
	out->xlb.delivered = out->floor.delivered = 1;
	for (int i = 0; !err && i < LIVE_ROUNDS; i++) {
		err = live_run(fx, fd[SLOT_FLOOR], f, n, &r[0]);
		if (!err)
			err = live_run(fx, fd[SLOT_XLB], f, n, &r[1]);
		if (!err)
			err = live_run(fx, fd[SLOT_FLOOR], f, n, &r[2]);
		if (!err)
			err = live_run(fx, fd[SLOT_OLD], f, n, &r[3]);
		fl[i] = (r[0].mpps + r[2].mpps) / 2;
		a[i] = r[1].mpps;
		b[i] = r[3].mpps;
		ratio[i] = a[i] / b[i];
		ns[i] = 1e3 / a[i] - 1e3 / b[i];
		out->xlb.tx += r[1].tx;
		for (int k = 0; k < 4; k++) {
			struct live_result *t = k % 2 ? &out->xlb : &out->floor;

			if (r[k].delivered < t->delivered)
				t->delivered = r[k].delivered;
		}
	}
	out->frames = n * LIVE_ROUNDS;
	out->floor.mpps = bench_median(fl, LIVE_ROUNDS);
	out->xlb.mpps = bench_median(a, LIVE_ROUNDS);
	out->old_mpps = bench_median(b, LIVE_ROUNDS);
	out->ratio = bench_median(ratio, LIVE_ROUNDS);
	out->ns = bench_median(ns, LIVE_ROUNDS);
	return err;
}

/*
 * The floor behind this class's feeder, then the balancer behind it; with
 * another build, rounds of both (live_rounds()).
 */
static int live_class(struct fixture *fx, struct live_env *e, const struct live_class *c,
		      struct class_figures *out)
{
	struct live_frame f;
	int fd[N_SLOTS] = { -1, -1, -1 }, err;
	int slots = e->old ? N_SLOTS : SLOT_OLD;
	struct live_result warm;

	err = frame_build(c, &f);
	out->len = f.len;
	out->frames = c->new_flows ? LIVE_FRAMES_NEW : LIVE_FRAMES;
	out->old_mpps = out->ratio = out->ns = NAN;
	for (int s = 0; !err && s < slots; s++) {
		fd[s] = feeder_load(e->progs, e->counter, &f, c->new_flows, s);
		err = fd[s] < 0 ? fd[s] : 0;
	}
	if (!err)
		err = live_run(fx, fd[SLOT_XLB], &f, LIVE_WARMUP, &warm);
	if (!err && e->old)
		err = live_run(fx, fd[SLOT_OLD], &f, LIVE_WARMUP, &warm);
	if (!err && e->old) {
		err = live_rounds(fx, fd, &f, out);
	} else if (!err) {
		err = live_run(fx, fd[SLOT_FLOOR], &f, out->frames, &out->floor);
		if (!err)
			err = live_run(fx, fd[SLOT_XLB], &f, out->frames, &out->xlb);
	}
	for (int s = 0; s < N_SLOTS; s++)
		if (fd[s] >= 0)
			close(fd[s]);
	return err;
}

static void print_row(const char *name, const struct live_result *r, double floor_mpps,
		      double target)
{
	printf("  %-44s %8.2f", name, r->mpps);
	if (floor_mpps > 0)
		printf(" %8.2fx", r->mpps / floor_mpps);
	else
		printf(" %9s", "-");
	printf(" %9.1f%%", 100 * r->delivered);
	if (floor_mpps > 0)
		printf("  (target >= %.1fx) %s", target,
		       r->mpps >= target * floor_mpps ? "meets" : "MISSES");
	printf("\n");
}

static bool all_sent(const struct live_result *r, __u64 tx)
{
	return r->delivered >= 0.999 && r->delivered <= 1.001 && (tx == (__u64)-1 || r->tx == tx);
}

int bench_live(struct fixture *fx, int floor_tx_fd, int old_fd)
{
	struct class_figures figs[N_CLASSES];
	struct live_result alone[2];
	struct live_env e;
	struct live_frame f0;
	char label[96];
	int err;

	err = env_open(&e, fx, floor_tx_fd, old_fd);
	if (err) {
		fprintf(stderr, "bench: cannot set up the live-frame run: %s: throughput skipped\n",
			strerror(-err));
		env_close(&e);
		return err;
	}
	err = frame_build(&live_classes[0], &f0);
	if (!err)
		err = live_run(fx, floor_tx_fd, &f0, LIVE_WARMUP, &alone[0]);
	if (!err)
		err = live_run(fx, floor_tx_fd, &f0, LIVE_FRAMES, &alone[0]);
	for (size_t i = 0; !err && i < N_CLASSES; i++)
		err = live_class(fx, &e, &live_classes[i], &figs[i]);
	if (!err)
		err = live_run(fx, floor_tx_fd, &f0, LIVE_FRAMES, &alone[1]);
	env_close(&e);
	if (err) {
		fprintf(stderr, "bench: live-frame run failed: %s: throughput skipped\n",
			strerror(-err));
		return err;
	}

	printf("\nThroughput, live frames (BPF_F_TEST_XDP_LIVE_FRAMES on xlb0, XDP_TX out to xlb1, "
	       "which runs\nXDP_DROP; one CPU for all of it; TCP frames of %u bytes (IPv4) and %u "
	       "(IPv6), %u per\nfigure, %u for new flows; each figure's floor: floor_tx behind "
	       "the same feeder, just before)\n",
	       figs[0].len, figs[2].len, LIVE_FRAMES, LIVE_FRAMES_NEW);
	printf("  %-44s %8s %9s %10s\n", "", "Mpps", "vs floor", "delivered");
	print_row("floor_tx alone (XDP_TX), before", &alone[0], 0, 0);
	print_row("floor_tx alone (XDP_TX), after", &alone[1], 0, 0);
	bench_record(LIVE_SECTION, "floor_tx alone (XDP_TX), before", alone[0].mpps, "Mpps", NAN,
		     "-");
	bench_record(LIVE_SECTION, "floor_tx alone (XDP_TX), after", alone[1].mpps, "Mpps", NAN,
		     "-");
	for (size_t i = 0; i < N_CLASSES; i++) {
		const struct class_figures *g = &figs[i];
		double ratio = g->xlb.mpps / g->floor.mpps;
		bool ok = all_sent(&g->floor, (__u64)-1) && all_sent(&g->xlb, g->frames);
		double target = live_classes[i].new_flows ? LIVE_TARGET_NEW : LIVE_TARGET;

		snprintf(label, sizeof(label), "floor: feeder (%s) + floor_tx",
			 live_classes[i].new_flows ? "new flows" : "established");
		print_row(label, &g->floor, 0, 0);
		print_row(live_classes[i].name, &g->xlb, g->floor.mpps, target);
		if (e.old)
			printf("  %-44s %8.2f   this / other %.3fx (median of %d rounds), "
			       "%+.1f ns a frame\n", "  the other build", g->old_mpps, g->ratio,
			       LIVE_ROUNDS, g->ns);
		if (!ok)
			printf("      not every frame went out: balancer XDP_TX %llu of %u\n",
			       (unsigned long long)g->xlb.tx, g->frames);
		snprintf(label, sizeof(label), "%s: its floor, feeder + floor_tx",
			 live_classes[i].name);
		bench_record(LIVE_SECTION, label, g->floor.mpps, "Mpps", NAN, "-");
		snprintf(label, sizeof(label), "%s%s", live_classes[i].name,
			 live_classes[i].new_flows ? " (table full, evicting)" : "");
		bench_record(LIVE_SECTION, label, g->xlb.mpps, "Mpps", ratio, ">= %.1fx: %s%s",
			     target, bench_meets(ratio >= target),
			     ok ? "" : " (frames lost!)");
		if (e.old)
			bench_record(LIVE_SECTION, label, g->old_mpps, "Mpps, old build",
				     g->old_mpps / g->floor.mpps,
				     "this / old: %.3fx, %+.1f ns a frame", g->ratio, g->ns);
	}
	return 0;
}
