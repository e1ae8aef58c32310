// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `make bench`: figures, never pass/fail. Method (DESIGN.md "Performance
 * method"): BPF_PROG_TEST_RUN with repeat=1 per call, the kernel-reported
 * duration averaged over BENCH_CALLS calls, minus the same figure for a
 * two-instruction XDP_PASS program measured in the same run (the floor).
 *
 * Every section records its figures as it prints them (bench_record), and
 * the whole run ends up in one Markdown table: BENCHMARKS.md in the current
 * directory (the repository's top when `make bench` runs it), or the path in
 * XLB_BENCH_RESULTS. An interrupted run leaves the file as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "fixture.h"
#include "maglev.h"
#include "pkt.h"
#include "xlb_ratelimit.h"
#include "floor.skel.h"
#include "xlb_trace.h"
#include "xlb.skel.h"
#include "xlb_trace.skel.h"

#define BENCH_CALLS 200000
#define RESULTS_FILE "BENCHMARKS.md"

#define SEC_PACKET	"per packet"
#define SEC_RATELIMIT	"per-source rate limit"
#define SEC_MAGLEV	"Maglev build"

static struct fx_vip bench_vips[] = {
	{ "10.20.0.1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, 1,
	  { { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3 },
	{ "10.20.0.1", 53, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 0, 2,
	  { { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3 },
	{ "fd20::1", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, 3,
	  { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3 },
	{ "fd20::1", 53, IPPROTO_UDP, XLB_METHOD_IPIP, 0, 0, 4,
	  { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3 },
	/* The other encapsulations, next to ipip: same backends, same packets. */
	{ "10.20.0.2", 80, IPPROTO_TCP, XLB_METHOD_GUE, 0, 0, 5,
	  { { "10.0.0.2", 1 }, { "10.0.0.3", 1 }, { "10.0.0.4", 1 } }, 3, .encap_port = 6080 },
	{ "fd20::2", 80, IPPROTO_TCP, XLB_METHOD_GUE, 0, 0, 6,
	  { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3, .encap_port = 6080 },
	{ "10.20.0.3", 80, IPPROTO_TCP, XLB_METHOD_IPIP, 0, 0, 7,
	  { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3 },
	{ "10.20.0.4", 80, IPPROTO_TCP, XLB_METHOD_GUE, 0, 0, 8,
	  { { "fd00::2", 1 }, { "fd00::3", 1 }, { "fd00::4", 1 } }, 3, .encap_port = 6080 },
};

/*
 * VIPs for the new-flow classes spread over many VIPs: 10.21.0.1-100:80/tcp,
 * ids from 100, three backends each. With one VIP its ring stays in cache
 * whatever its slot width; 100 rings of 65,537 slots are 12.8 MiB with
 * 2-byte slots and 25.6 MiB with 4, against this machine's L3, so a new
 * flow's slot read shows what the width costs. Ids: the fixture gives
 * backends vip id * 100 + 1 + i, all below 2^16 here (2-byte slots).
 */
#define MANY_VIPS	100
#define MANY_VIP_ID	100
#define BENCH_MAX_VIPS	256
#define BENCH_MAX_BACKENDS 32768

static struct fx_vip many_vips[MANY_VIPS];
static char many_addrs[MANY_VIPS][20];

static void many_vip_addr(char *buf, size_t len, __u32 k)
{
	snprintf(buf, len, "10.21.%u.%u", ((k + 1) >> 8) & 0xff, (k + 1) & 0xff);
}

static int many_vips_add(struct fixture *fx)
{
	static const char *const addrs[] = { "10.0.0.2", "10.0.0.3", "10.0.0.4" };
	int err = 0;

	for (__u32 k = 0; !err && k < MANY_VIPS; k++) {
		struct fx_vip *v = &many_vips[k];

		many_vip_addr(many_addrs[k], sizeof(many_addrs[k]), k);
		v->addr = many_addrs[k];
		v->port = 80;
		v->proto = IPPROTO_TCP;
		v->method = XLB_METHOD_IPIP;
		v->id = MANY_VIP_ID + k;
		for (size_t i = 0; i < 3; i++)
			v->backends[i] = (struct fx_backend){ .addr = addrs[i], .weight = 1 };
		v->n = 3;
		err = fx_vip_add(fx, v);
	}
	return err;
}
_Static_assert((MANY_VIP_ID + MANY_VIPS) * 100 < BENCH_MAX_BACKENDS &&
	       BENCH_MAX_BACKENDS <= XLB_RING16_MAX_BACKENDS && MANY_VIP_ID + MANY_VIPS <= BENCH_MAX_VIPS,
	       "many_vips: ids fit, 2-byte slots");

/* Targets of issue 13, in ns above the floor. */
#define TARGET_ESTABLISHED	60
#define TARGET_NEW_FULL		300
#define TARGET_FLOOD		2	/* a bare SYN of a flood: times an established packet */
#define CLASS_V4_ESTABLISHED	0
#define CLASS_V6_ESTABLISHED	5
#define CLASS_V4_FLOOD		2

static const struct bench_class classes[] = {
	{ "ipv4 tcp established", "192.0.2.1", "10.20.0.1", IPPROTO_TCP, 80, 0,
	  TARGET_ESTABLISHED },
	{ "ipv4 tcp new flow, table full", NULL, "10.20.0.1", IPPROTO_TCP, 80, 0,
	  TARGET_NEW_FULL },
	{ "ipv4 tcp SYN flood (new sources)", NULL, "10.20.0.1", IPPROTO_TCP, 80, PKT_TCP_SYN },
	{ "ipv4 udp established", "192.0.2.1", "10.20.0.1", IPPROTO_UDP, 53, 0,
	  TARGET_ESTABLISHED },
	{ "ipv4 udp new flow, table full", NULL, "10.20.0.1", IPPROTO_UDP, 53, 0,
	  TARGET_NEW_FULL },
	{ "ipv6 tcp established", "2001:db8::1", "fd20::1", IPPROTO_TCP, 80, 0,
	  TARGET_ESTABLISHED },
	{ "ipv6 tcp new flow, table full", NULL, "fd20::1", IPPROTO_TCP, 80, 0, TARGET_NEW_FULL },
	{ "ipv6 tcp SYN flood (new sources)", NULL, "fd20::1", IPPROTO_TCP, 80, PKT_TCP_SYN },
	{ "ipv6 udp established", "2001:db8::1", "fd20::1", IPPROTO_UDP, 53, 0,
	  TARGET_ESTABLISHED },
	{ "ipv6 udp new flow, table full", NULL, "fd20::1", IPPROTO_UDP, 53, 0, TARGET_NEW_FULL },
	/* Issue 16: each within 10 ns of ipip's established packet of its family. */
	{ "ipv4 tcp established gue", "192.0.2.1", "10.20.0.2", IPPROTO_TCP, 80, 0,
	  TARGET_ESTABLISHED },
	{ "ipv6 tcp established gue", "2001:db8::1", "fd20::2", IPPROTO_TCP, 80, 0,
	  TARGET_ESTABLISHED },
	{ "ipv4 tcp established 4in6", "192.0.2.1", "10.20.0.3", IPPROTO_TCP, 80, 0,
	  TARGET_ESTABLISHED },
	{ "ipv4 tcp established gue 4in6", "192.0.2.1", "10.20.0.4", IPPROTO_TCP, 80, 0,
	  TARGET_ESTABLISHED },
	/* New flows whose rings are not all in cache (many_vips). */
	{ "ipv4 tcp new flow, 100 VIPs, table full", NULL, NULL, IPPROTO_TCP, 80, 0,
	  TARGET_NEW_FULL, .many = MANY_VIPS },
	{ "ipv4 tcp SYN flood, 100 VIPs", NULL, NULL, IPPROTO_TCP, 80, PKT_TCP_SYN,
	  .many = MANY_VIPS },
	{ "ipv4 not for a VIP (pass)", "192.0.2.1", "10.0.0.1", IPPROTO_TCP, 22, 0, 0, 0.15 },
	{ "ipv6 not for a VIP (pass)", "2001:db8::1", "fd00::1", IPPROTO_TCP, 22, 0, 0, 0.15 },
};
#define N_CLASSES (sizeof(classes) / sizeof(classes[0]))

const struct bench_class *bench_class_at(size_t i)
{
	return i < N_CLASSES ? &classes[i] : NULL;
}

/* --class: measure only the packet classes whose name holds this. */
static const char *class_filter;

static bool class_skipped(const struct bench_class *c)
{
	return class_filter && !strstr(c->name, class_filter);
}

/* Call i's packet of class c: new-flow classes get a source of their own per i. */
static int build_packet(const struct bench_class *c, __u32 i, __u8 *buf, size_t cap)
{
	int v6 = c->vip && strchr(c->vip, ':') != NULL;
	char src[64], dst[20];
	struct pkt_spec s = {
		.family = v6 ? XLB_AF_INET6 : XLB_AF_INET,
		.dst = c->vip,
		.proto = c->proto,
		.sport = 40000,
		.dport = c->port,
		.tcp_flags = c->tcp_flags,
		.payload_len = 64,
	};

	if (c->many) {
		/* Consecutive calls to VIPs far apart: a prime stride. */
		many_vip_addr(dst, sizeof(dst), (__u32)((__u64)i * 7919 % c->many));
		s.dst = dst;
	}
	if (c->client) {
		s.src = c->client;
	} else if (v6) {
		snprintf(src, sizeof(src), "2001:db8:%x::%x", i >> 16, i & 0xffff);
		s.src = src;
	} else {
		snprintf(src, sizeof(src), "198.18.%u.%u", (i >> 8) & 0xff, i & 0xff);
		s.src = src;
		s.sport = 1024 + (i >> 16);
	}
	memcpy(s.smac, "\x02\x00\x00\x00\x00\xc1", 6);
	memcpy(s.dmac, "\x02\x00\x00\x00\x00\xa0", 6);
	return (int)pkt_build(buf, cap, &s);
}

/* Prebuilt packets of one class: userspace work stays out of the figures. */
struct class_pkts {
	__u8 (*pkts)[160];
	int *lens;
	__u32 n;
};

static int class_pkts_build(struct class_pkts *p, const struct bench_class *c, __u32 n)
{
	p->pkts = malloc((size_t)n * sizeof(*p->pkts));
	p->lens = malloc((size_t)n * sizeof(*p->lens));
	p->n = n;
	if (!p->pkts || !p->lens)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++)
		p->lens[i] = build_packet(c, c->client ? 0 : i, p->pkts[i], sizeof(p->pkts[i]));
	return 0;
}

static void class_pkts_free(struct class_pkts *p)
{
	free(p->pkts);
	free(p->lens);
}

/* Mean kernel-reported ns per run of packets [first, first + calls). */
static double run_pkts(int prog_fd, int ifindex, const struct class_pkts *p, __u32 first,
		       __u32 calls, __u32 *verdict)
{
	__u8 out[512];
	double total = 0;

	for (__u32 k = 0; k < calls; k++) {
		__u32 i = (first + k) % p->n;
		struct xdp_md ctx = { .data_end = p->lens[i], .ingress_ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->pkts[i],
			    .data_size_in = p->lens[i], .data_out = out, .data_size_out = sizeof(out),
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "bench: test run failed: %s\n", strerror(errno));
			exit(1);
		}
		total += opts.duration;
		*verdict = opts.retval;
	}
	return total / calls;
}

/* Mean kernel-reported ns per run over BENCH_CALLS calls of class c. */
static double measure(int prog_fd, int ifindex, const struct bench_class *c, __u32 *verdict)
{
	struct class_pkts p;
	double ns;

	if (class_pkts_build(&p, c, BENCH_CALLS)) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	ns = run_pkts(prog_fd, ifindex, &p, 0, BENCH_CALLS, verdict);
	class_pkts_free(&p);
	return ns;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- the results file ---------------------------------------------------- */

struct record {
	char *section, *figure, *unit, *target;
	double value, ratio;
};

static struct record *records;
static size_t n_records, records_cap;

void bench_record(const char *section, const char *figure, double value, const char *unit,
		  double ratio, const char *target, ...)
{
	struct record r = { .value = value, .ratio = ratio };
	va_list ap;
	int len;

	if (n_records == records_cap) {
		size_t cap = records_cap ? 2 * records_cap : 64;
		struct record *grown = realloc(records, cap * sizeof(*grown));

		if (!grown)
			return;
		records = grown;
		records_cap = cap;
	}
	va_start(ap, target);
	len = vasprintf(&r.target, target, ap);
	va_end(ap);
	r.section = strdup(section);
	r.figure = strdup(figure);
	r.unit = strdup(unit);
	if (len < 0 || !r.section || !r.figure || !r.unit) {
		fprintf(stderr, "bench: out of memory: figure '%s' left out of the results\n", figure);
		if (len >= 0)
			free(r.target);
		free(r.section);
		free(r.figure);
		free(r.unit);
		return;
	}
	records[n_records++] = r;
}

const char *bench_meets(bool ok)
{
	return ok ? "meets" : "**misses**";
}

/* Three or four significant digits, none after the point for whole numbers. */
static void format_value(char *buf, size_t len, double v)
{
	double a = fabs(v);
	int decimals = a >= 1000 || (a >= 1 && v == floor(v)) ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;

	snprintf(buf, len, "%.*f", decimals, v);
}

/* Text into a table cell: '|' would end the cell. */
static void put_cell(FILE *f, const char *text)
{
	fputs("| ", f);
	for (; *text; text++) {
		if (*text == '|')
			fputc('\\', f);
		fputc(*text, f);
	}
	fputc(' ', f);
}

/* The value of the first line of `path` that starts with `key`, after its ':' or '='. */
static int read_key(const char *path, const char *key, char *val, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[4096], *v, *end;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)))
			continue;
		v = line + strcspn(line, ":=");
		if (!*v)
			continue;
		v += 1 + strspn(v + 1, " \t\"");
		end = v + strcspn(v, "\"\n");
		*end = '\0';
		snprintf(val, len, "%s", v);
		err = 0;
	}
	fclose(f);
	return err;
}

/* CPU model, CPUs online, memory, architecture; a VM says so in its CPU flags. */
static void machine_text(char *buf, size_t len)
{
	char model[128] = "unknown CPU", mem[64] = "", flags[4096] = "";
	struct utsname uts;
	int n;

	read_key("/proc/cpuinfo", "model name", model, sizeof(model));
	read_key("/proc/cpuinfo", "flags", flags, sizeof(flags));
	if (!read_key("/proc/meminfo", "MemTotal", mem, sizeof(mem)))
		snprintf(mem, sizeof(mem), ", %.1f GiB of memory", strtod(mem, NULL) / 1048576);
	uname(&uts);
	n = snprintf(buf, len, "%s, %ld CPUs online%s, %s", model, sysconf(_SC_NPROCESSORS_ONLN),
		     mem, uts.machine);
	if (n > 0 && (size_t)n < len && strstr(flags, " hypervisor"))
		snprintf(buf + n, len - n, ", virtual machine");
}

static void write_results(FILE *f, double seconds)
{
	char date[64], machine[256], os[128] = "unknown", value[32], ratio[32];
	struct utsname uts;
	time_t t = time(NULL);

	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	machine_text(machine, sizeof(machine));
	read_key("/etc/os-release", "PRETTY_NAME", os, sizeof(os));
	uname(&uts);
	fprintf(f, "# xlb benchmarks\n\n"
		   "Every figure of one `make bench` run, written by the bench itself "
		   "(bench/bench.c):\nrun `make bench` again to replace this file. How each "
		   "figure is measured: DESIGN.md\n\"Performance method\" and the comments "
		   "in bench/*.c; what they mean: README.md\n\"Performance\".\n\n");
	fprintf(f, "| run | |\n|---|---|\n| date | %s |\n| machine | %s |\n"
		   "| kernel | %s |\n| system | %s |\n| duration | %.0f s |\n\n",
		date, machine, uts.release, os, seconds);
	fprintf(f, "\"vs floor\": %s and %s: the net cost over the floor, (ns - floor) / "
		   "floor,\nthe floor being a two-instruction XDP_PASS program measured in the "
		   "same run;\nthroughput: Mpps / the Mpps of the XDP_TX floor (floor_tx) "
		   "behind the same feeder\n(bench/live.c).\n\n",
		SEC_PACKET, SEC_RATELIMIT);
	fprintf(f, "| section | figure | value | unit | vs floor | target |\n"
		   "|---|---|---:|---|---:|---|\n");
	for (size_t i = 0; i < n_records; i++) {
		const struct record *r = &records[i];

		if (isnan(r->value))
			snprintf(value, sizeof(value), "-");
		else
			format_value(value, sizeof(value), r->value);
		if (isnan(r->ratio))
			snprintf(ratio, sizeof(ratio), "-");
		else
			snprintf(ratio, sizeof(ratio), "%.2fx", r->ratio);
		put_cell(f, r->section);
		put_cell(f, r->figure);
		put_cell(f, value);
		put_cell(f, r->unit);
		put_cell(f, ratio);
		put_cell(f, r->target);
		fputs("|\n", f);
	}
}

/* Written beside, then renamed over: a failed write leaves the old file. */
static int bench_results_write(const char *path, double seconds)
{
	char tmp[PATH_MAX];
	FILE *f;
	int err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	write_results(f, seconds);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/*
 * A flood of new sources: one packet from each of `calls` IPv4 addresses
 * counted up from `first`, to the VIP of "ipv4 tcp established". Patched in
 * place, only the source address and the header checksum change per call.
 * Returns the mean ns per packet; *tx counts the packets sent on.
 */
double bench_flood(int prog_fd, int ifindex, __u32 first, __u32 calls, __u32 *tx)
{
	const struct bench_class c = { .client = "0.0.0.0", .vip = "10.20.0.1",
				       .proto = IPPROTO_TCP, .port = 80 };
	__u8 pkt[160], out[512], *iph = pkt + PKT_ETH_LEN;
	int len = build_packet(&c, 0, pkt, sizeof(pkt));
	struct xdp_md ctx = { .data_end = len, .ingress_ifindex = ifindex };
	double total = 0;
	__be32 src;
	__u16 sum;

	*tx = 0;
	for (__u32 i = 0; i < calls; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

		src = htonl(first + i);
		memcpy(iph + 12, &src, 4);
		memset(iph + 10, 0, 2);
		sum = htons(pkt_csum(iph, PKT_IPV4_LEN));
		memcpy(iph + 10, &sum, 2);
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "bench: test run failed: %s\n", strerror(errno));
			exit(1);
		}
		total += opts.duration;
		*tx += opts.retval == XDP_TX;
	}
	return total / calls;
}

#define FLOOD_SOURCES	(1U << 20)
#define RL_PAIRS	5	/* limit off then on, this many times */
#define RL_TARGET	15	/* ns: the stage's cost on a passed packet (issue 13) */

static void vip_limit(struct fixture *fx, struct fx_vip *v, __u32 rate, __u32 burst)
{
	v->rate = rate;
	v->burst = burst;
	/* What the daemon does on `ratelimit set/off`: VIP first, then forget the buckets. */
	if (fx_vip_add(fx, v) || dp_ratelimit_clear_vip(&fx->dp, v->id)) {
		fprintf(stderr, "bench: cannot set the rate limit\n");
		exit(1);
	}
}

/*
 * The rate limit stage, on the VIP of "ipv4 tcp established" with the limit
 * switched on and off. Passed packets, at a limit they never reach, measured
 * in pairs (off, on) and the median difference taken, so that the machine's
 * drift and neighbours cancel out; a source over its limit; a flood of a
 * million new sources, four times what the map holds.
 */
static void bench_ratelimit(struct fixture *fx, struct fx_vip *v, double floor_ns, int old_fd)
{
	int prog = dp_prog_fd(&fx->dp);
	double off = 0, on = 0, a, b, diff[RL_PAIRS], old_diff[RL_PAIRS], drop, flood_off, flood_on;
	double cost, old_cost;
	__u32 verdict_on, verdict, tx_off, tx_on;

	for (int i = 0; i < RL_PAIRS; i++) {
		vip_limit(fx, v, 0, 0);
		a = measure(prog, fx->if0, &classes[0], &verdict);
		vip_limit(fx, v, XLB_RL_RATE_MAX, XLB_RL_BURST_MAX);
		b = measure(prog, fx->if0, &classes[0], &verdict_on);
		off += a / RL_PAIRS;
		on += b / RL_PAIRS;
		diff[i] = b - a;
		if (old_fd < 0)
			continue;
		/* The other build in the same pair: its own buckets, never reached. */
		b = measure(old_fd, fx->if0, &classes[0], &verdict);
		vip_limit(fx, v, 0, 0);
		a = measure(old_fd, fx->if0, &classes[0], &verdict);
		old_diff[i] = b - a;
	}
	qsort(diff, RL_PAIRS, sizeof(diff[0]), cmp_double);
	if (old_fd >= 0) {
		qsort(old_diff, RL_PAIRS, sizeof(old_diff[0]), cmp_double);
		old_cost = old_diff[RL_PAIRS / 2];
		printf("\nPer-source limit's cost, median of %d pairs: this %+.1f ns, old %+.1f ns\n",
		       RL_PAIRS, diff[RL_PAIRS / 2], old_cost);
		bench_record(SEC_RATELIMIT, "the limit's cost, old build", old_cost, "ns/packet",
			     old_cost / floor_ns, "-");
	}
	vip_limit(fx, v, 1, 1);
	drop = measure(prog, fx->if0, &classes[0], &verdict);
	vip_limit(fx, v, 0, 0);
	flood_off = bench_flood(prog, fx->if0, 0x64400000, FLOOD_SOURCES, &tx_off);
	vip_limit(fx, v, 1000, 10);
	flood_on = bench_flood(prog, fx->if0, 0x64400000 + FLOOD_SOURCES, FLOOD_SOURCES, &tx_on);
	vip_limit(fx, v, 0, 0);

	cost = diff[RL_PAIRS / 2];
	printf("\nPer-source rate limit (%s:%u/tcp; the first two: means of %d, cost: median of "
	       "the %d differences)\n", v->addr, v->port, RL_PAIRS, RL_PAIRS);
	printf("%-44s %9s %9s %9s\n", "packet class", "ns/pkt", "net ns", "net/floor");
	printf("%-44s %9.1f %9.1f %8.2fx\n", "ipv4 tcp established, unlimited VIP", off,
	       off - floor_ns, (off - floor_ns) / floor_ns);
	printf("%-44s %9.1f %9.1f %8.2fx  (%s)\n", "ipv4 tcp established, rate-limited VIP", on,
	       on - floor_ns, (on - floor_ns) / floor_ns, verdict_on == XDP_TX ? "TX" : "not TX!");
	printf("%-44s %9s %+9.1f %+8.2fx  target <= +%d ns  %s\n", "  the limit's cost", "",
	       cost, cost / floor_ns, RL_TARGET, cost <= RL_TARGET ? "meets" : "MISSES");
	printf("%-44s %9.1f %9.1f %8.2fx  (%s)\n", "ipv4 tcp over its source's limit", drop,
	       drop - floor_ns, (drop - floor_ns) / floor_ns, verdict == XDP_DROP ? "DROP" : "?");
	printf("%-44s %9.1f %9.1f %8.2fx  (%u TX)\n", "flood: 1M new sources, unlimited VIP",
	       flood_off, flood_off - floor_ns, (flood_off - floor_ns) / floor_ns, tx_off);
	printf("%-44s %9.1f %9.1f %8.2fx  (%u TX, %+.1f ns over unlimited)\n",
	       "flood: 1M new sources, rate-limited VIP", flood_on, flood_on - floor_ns,
	       (flood_on - floor_ns) / floor_ns, tx_on, flood_on - flood_off);

	bench_record(SEC_RATELIMIT, "ipv4 tcp established, unlimited VIP", off, "ns/packet",
		     (off - floor_ns) / floor_ns, "-");
	bench_record(SEC_RATELIMIT, "ipv4 tcp established, rate-limited VIP", on, "ns/packet",
		     (on - floor_ns) / floor_ns, "%s", verdict_on == XDP_TX ? "TX" : "not TX!");
	bench_record(SEC_RATELIMIT, "the limit's cost (median of the differences)",
		     cost, "ns/packet", cost / floor_ns, "<= +%d ns: %s", RL_TARGET,
		     bench_meets(cost <= RL_TARGET));
	bench_record(SEC_RATELIMIT, "ipv4 tcp over its source's limit", drop, "ns/packet",
		     (drop - floor_ns) / floor_ns, "%s", verdict == XDP_DROP ? "DROP" : "not DROP!");
	bench_record(SEC_RATELIMIT, "flood: 1M new sources, unlimited VIP", flood_off, "ns/packet",
		     (flood_off - floor_ns) / floor_ns, "%u TX", tx_off);
	bench_record(SEC_RATELIMIT, "flood: 1M new sources, rate-limited VIP", flood_on,
		     "ns/packet", (flood_on - floor_ns) / floor_ns, "%u TX", tx_on);
}

#define SEC_TRACE	"xlbctl trace"
#define TRACE_ROUNDS	5

/* The trace filter as xlbd sets it: a source that matches nothing, or every packet. */
static void trace_filter_set(struct fixture *fx, bool match)
{
	struct xlb_trace_filter f = { .budget = 0xffffffffU };
	__u32 zero = 0;

	if (!match) {
		f.family = XLB_AF_INET;
		f.src_len = 32;
		inet_pton(AF_INET, "203.0.113.1", &f.src.v4);
	}
	bpf_map__update_elem(fx->dp.skel->maps.trace_filter, &zero, sizeof(zero), &f, sizeof(f), 0);
}

/*
 * "ipv4 tcp established" through the program that runs untraced, and
 * through the traced build (what dp_trace_begin() swaps in while a trace
 * runs) with a filter that matches nothing and with every packet traced,
 * in interleaved rounds; the cost is the median difference to the untraced
 * program in the same round. Nobody reads the ring buffer here, so past
 * its first ~1700 events "traced" pays a failed output.
 *
 * The cost with no trace running is not measured: the untraced program is
 * built with the hooks compiled out (bpf/trace.h), so it is the hook-free
 * build, and a measured difference would be noise.
 */
static void bench_trace(struct fixture *fx, double floor_ns)
{
	int plain = bpf_program__fd(fx->dp.prog->progs.xlb_lb), traced;
	double off[TRACE_ROUNDS], filt[TRACE_ROUNDS], all[TRACE_ROUNDS];
	double d_filt[TRACE_ROUNDS], d_all[TRACE_ROUNDS];
	double t0, load_ms;
	__u32 verdict;
	int err;

	trace_filter_set(fx, false);
	t0 = now_ms();
	err = dp_trace_begin(&fx->dp);
	load_ms = now_ms() - t0;
	if (err) {
		printf("\nTrace: cannot load the traced build: %s\n", strerror(-err));
		bench_record(SEC_TRACE, "traced build", NAN, "-", NAN, "cannot load: %s",
			     strerror(-err));
		return;
	}
	traced = dp_prog_fd(&fx->dp);
	for (int i = 0; i < TRACE_ROUNDS; i++) {
		off[i] = measure(plain, fx->if0, &classes[0], &verdict);
		trace_filter_set(fx, false);
		filt[i] = measure(traced, fx->if0, &classes[0], &verdict);
		trace_filter_set(fx, true);
		all[i] = measure(traced, fx->if0, &classes[0], &verdict);
		d_filt[i] = filt[i] - off[i];
		d_all[i] = all[i] - off[i];
	}
	dp_trace_end(&fx->dp);
	qsort(off, TRACE_ROUNDS, sizeof(off[0]), cmp_double);
	qsort(d_filt, TRACE_ROUNDS, sizeof(d_filt[0]), cmp_double);
	qsort(d_all, TRACE_ROUNDS, sizeof(d_all[0]), cmp_double);
	printf("\nTrace (ipv4 tcp established; medians of %d interleaved rounds)\n", TRACE_ROUNDS);
	printf("%-44s %9.1f ns/pkt\n", "untraced program (no trace running)", off[TRACE_ROUNDS / 2]);
	printf("%-44s %+9.1f ns/pkt\n", "  its cost vs a build with no hooks", 0.0);
	printf("%-44s %+9.1f ns/pkt\n", "traced build, filtered out (vs untraced)",
	       d_filt[TRACE_ROUNDS / 2]);
	printf("%-44s %+9.1f ns/pkt\n", "traced build, every packet (vs untraced)",
	       d_all[TRACE_ROUNDS / 2]);
	printf("%-44s %9.0f ms\n", "traced build: load and switch the links", load_ms);
	bench_record(SEC_TRACE, "ipv4 tcp established, no trace running", off[TRACE_ROUNDS / 2],
		     "ns/packet", (off[TRACE_ROUNDS / 2] - floor_ns) / floor_ns, "-");
	bench_record(SEC_TRACE, "no trace running: extra vs a build without hooks", 0.0,
		     "ns/packet", NAN, "<= 1 ns: met by construction (the running program is "
		     "that build; bpf/trace.h)");
	bench_record(SEC_TRACE, "trace running, packet filtered out: extra",
		     d_filt[TRACE_ROUNDS / 2], "ns/packet", NAN, "-");
	bench_record(SEC_TRACE, "trace running, packet traced: extra", d_all[TRACE_ROUNDS / 2],
		     "ns/packet", NAN, "ring buffer full after ~1700 events (nobody reads it)");
	bench_record(SEC_TRACE, "trace start: load the traced build", load_ms, "ms", NAN,
		     "verifier; the daemon's loop waits for it");
}

/* ---- per packet, this build and optionally another, rounds interleaved -- */

#define ROUNDS 10	/* BENCH_CALLS / ROUNDS calls per round and program */

/*
 * Maps the data plane only reads: another build loaded beside this one uses
 * the fixture's own when their layout matches, so both run on one
 * configuration. The maps a build writes (connections, next hops, counters)
 * stay its own, so the two never disturb each other's state.
 */
static const char *const shared_maps[] = {
	"vips", "vip_by_id", "vip_addrs", "filter", "backends", "health", "config",
};

static bool map_shared(const char *name)
{
	for (size_t i = 0; i < sizeof(shared_maps) / sizeof(shared_maps[0]); i++)
		if (!strcmp(name, shared_maps[i]))
			return true;
	return false;
}

static bool map_same_layout(const struct bpf_map *a, const struct bpf_map *b)
{
	return bpf_map__type(a) == bpf_map__type(b) && bpf_map__key_size(a) == bpf_map__key_size(b) &&
	       bpf_map__value_size(a) == bpf_map__value_size(b) &&
	       bpf_map__map_flags(a) == bpf_map__map_flags(b);
}

/*
 * The VIPs' rings in the layout the other build reads: its inner map's
 * value holds value_size / XLB_RING_SLOT_BYTES(value_size) slots (one 4-byte
 * slot before issue 13, two after, then eight 2-byte ones), and a batch
 * update takes the values packed, so slot s is the s-th slot of the buffer.
 */
static int old_rings_fill(struct fixture *fx, struct bpf_map *rings, __u32 vsz, __u32 flags)
{
	int outer = bpf_map__fd(rings), err = 0;
	__u32 width = XLB_RING_SLOT_BYTES(vsz), per = vsz / width;

	if (!per || vsz % width)
		return -EINVAL;
	for (__u32 id = 0; !err && id < fx->dp.max_vips; id++) {
		LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = flags);
		__u32 slots = dp_ring_size(&fx->dp, id), entries = (slots + per - 1) / per;
		__u32 *table, *keys;
		void *mem;
		int fd;

		if (!slots)
			continue;
		table = calloc(slots, sizeof(*table));
		mem = calloc(entries, vsz);
		keys = calloc(entries, sizeof(*keys));
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_old_ring", sizeof(__u32), vsz, entries,
				    &mopts);
		err = !table || !mem || !keys ? -ENOMEM : fd < 0 ? -errno :
		      dp_ring_read(&fx->dp, id, table, slots);
		for (__u32 s = 0; !err && s < slots; s++) {
			if (width == 2)
				((__u16 *)mem)[s] = table[s];
			else
				((__u32 *)mem)[s] = table[s];
		}
		for (__u32 i = 0; i < entries; i++)
			keys[i] = i;
		if (!err)
			err = bpf_map_update_batch(fd, keys, mem, &entries, NULL);
		if (!err && bpf_map_update_elem(outer, &id, &fd, BPF_ANY))
			err = -errno;
		if (fd >= 0)
			close(fd);
		free(table);
		free(mem);
		free(keys);
	}
	return err;
}

/*
 * Load another build of xlb.bpf.o (`make bench-compare`) on the fixture's
 * configuration: shared maps as above, its rings and interfaces filled in.
 * Returns its program's fd (the object stays loaded for the run), or -errno.
 */
int old_load(struct fixture *fx, const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_map *map, *ours, *inner;
	struct bpf_program *prog;
	__u32 ring_vsz = 0, ring_flags = 0;
	int err;

	if (!obj)
		return -errno;
	/* libbpf frees the inner map's template once the outer map exists. */
	map = bpf_object__find_map_by_name(obj, "rings");
	inner = map ? bpf_map__inner_map(map) : NULL;
	if (!inner)
		return -ENOENT;
	ring_vsz = bpf_map__value_size(inner);
	ring_flags = bpf_map__map_flags(inner);
	bpf_object__for_each_map(map, obj) {
		ours = bpf_object__find_map_by_name(fx->dp.skel->obj, bpf_map__name(map));
		if (!ours)
			continue;
		/* Same sizes as the fixture's: arrays indexed alike. */
		err = bpf_map__set_max_entries(map, bpf_map__max_entries(ours));
		if (!err && map_shared(bpf_map__name(map)) && map_same_layout(map, ours))
			err = bpf_map__reuse_fd(map, bpf_map__fd(ours));
		if (err)
			return err;
	}
	err = bpf_object__load(obj);
	if (err)
		return err;
	/*
	 * A config of another layout (a field added at its end since): the
	 * fields both know, so that the other build forwards at all.
	 */
	map = bpf_object__find_map_by_name(obj, "config");
	ours = fx->dp.skel->maps.config;
	if (map && !map_same_layout(map, ours) && bpf_map__value_size(map) < sizeof(fx->dp.cfg)) {
		__u8 cfg[sizeof(fx->dp.cfg)];
		__u32 zero = 0;

		memcpy(cfg, &fx->dp.cfg, sizeof(cfg));
		err = bpf_map__update_elem(map, &zero, sizeof(zero), cfg, bpf_map__value_size(map),
					   BPF_ANY);
		if (err)
			return err;
	}
	map = bpf_object__find_map_by_name(obj, "rings");
	err = old_rings_fill(fx, map, ring_vsz, ring_flags);
	map = bpf_object__find_map_by_name(obj, "tx_ports");
	if (!err && map)
		err = bpf_map__update_elem(map, &fx->if0, 4, &fx->if0, 4, BPF_ANY) ?:
		      bpf_map__update_elem(map, &fx->if2, 4, &fx->if2, 4, BPF_ANY);
	prog = bpf_object__find_program_by_name(obj, "xlb_lb");
	if (err || !prog)
		return err ? err : -ENOENT;
	return bpf_program__fd(prog);
}

double bench_median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const char *bench_verdict_name(__u32 v)
{
	static const char *const names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };

	return v < 5 ? names[v] : "?";
}

/*
 * One class, ROUNDS rounds of (floor, this build[, floor, the other]), each
 * over the next BENCH_CALLS / ROUNDS packets, so that the machine's drift and
 * neighbours weigh on both builds alike. New-flow classes give every call a
 * source of its own, so no round replays another's flows. old_round, when
 * not NULL, runs before each of the other's rounds, outside the timing.
 */
void bench_measure_class(int floor_fd, int prog_fd, int old_fd, int ifindex,
			 const struct bench_class *c, struct class_result *r,
			 void (*old_round)(void *arg), void *arg)
{
	double fl[ROUNDS], a[ROUNDS], net_a[ROUNDS], net_b[ROUNDS], ratio[ROUNDS];
	__u32 chunk = BENCH_CALLS / ROUNDS, v;
	struct class_pkts p;

	if (class_pkts_build(&p, c, BENCH_CALLS)) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < ROUNDS; i++) {
		double f1, f2 = 0, b = 0;

		f1 = run_pkts(floor_fd, ifindex, &p, i * chunk, chunk, &v);
		a[i] = run_pkts(prog_fd, ifindex, &p, i * chunk, chunk, &r->verdict);
		if (old_fd >= 0) {
			f2 = run_pkts(floor_fd, ifindex, &p, i * chunk, chunk, &v);
			if (old_round)
				old_round(arg);
			b = run_pkts(old_fd, ifindex, &p, i * chunk, chunk, &r->old_verdict);
		}
		fl[i] = old_fd >= 0 ? (f1 + f2) / 2 : f1;
		net_a[i] = a[i] - fl[i];
		net_b[i] = b - fl[i];
		ratio[i] = net_b[i] > 0 ? net_a[i] / net_b[i] : NAN;
	}
	r->ns = bench_median(a, ROUNDS);
	r->floor = bench_median(fl, ROUNDS);
	r->net = bench_median(net_a, ROUNDS);
	r->old_net = old_fd >= 0 ? bench_median(net_b, ROUNDS) : NAN;
	r->ratio = old_fd >= 0 ? bench_median(ratio, ROUNDS) : NAN;
	class_pkts_free(&p);
}

/*
 * Whether floor_ipip made of class c's packet the frame an IPIP forwarder
 * must (the tests' encapsulation, tests/lib/pkt.c): a reference that
 * skipped some of its work would flatter the balancer's gap above it.
 */
static bool ipip_frame_right(int ipip_fd, int ifindex, const struct bench_class *c)
{
	struct pkt_encap_spec e = { .src = "10.0.0.1", .dst = "10.0.0.2",
				    .dmac = { 0x02, 0, 0, 0, 0, 0x02 } };
	__u8 in[160], out[256], want[256];
	int len = build_packet(c, 0, in, sizeof(in));
	struct xdp_md ctx = { .data_end = len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = 1);
	size_t wlen;

	if (len <= 0 || bpf_prog_test_run_opts(ipip_fd, &opts) || opts.retval != XDP_TX)
		return false;
	memcpy(e.smac, in, 6);	/* the frame's own destination: this host */
	wlen = pkt_encap(want, sizeof(want), in, len, &e);
	return wlen && opts.data_size_out == wlen && !memcmp(out, want, wlen);
}

/*
 * Every packet class, against the floor and, with old_fd >= 0, against
 * another build. The connection tables are filled first, so that the new
 * flow classes evict from their first packet: "table full". ipip_fd:
 * floor_ipip, the least an IPIP forwarder does, run on the established IPv4
 * TCP packet as a reference. Returns the floor, ns per packet.
 */
static double bench_packets(struct fixture *fx, int floor_fd, int ipip_fd, int old_fd,
			    const char *old_name)
{
	int prog_fd = dp_prog_fd(&fx->dp);
	struct class_result r[N_CLASSES];
	double floors[N_CLASSES], flood_limit[2];
	char target[96];
	int measured = 0;
	__u32 tx;

	/* Warm up caches, the JIT image and the CPU's clock, then fill the tables. */
	measure(floor_fd, fx->if0, &classes[0], &tx);
	measure(prog_fd, fx->if0, &classes[0], &tx);
	bench_flood(prog_fd, fx->if0, 0x64000000, dp_conn_max(&fx->dp), &tx);
	if (old_fd >= 0)
		bench_flood(old_fd, fx->if0, 0x64000000, dp_conn_max(&fx->dp), &tx);

	printf("\nPer packet: kernel ns per BPF_PROG_TEST_RUN (repeat=1), medians of %d rounds of "
	       "%d calls,\nnet = above the floor (XDP_PASS, 2 insns) measured in the same rounds",
	       ROUNDS, BENCH_CALLS / ROUNDS);
	if (old_fd >= 0)
		printf(";\nold = %s, rounds interleaved (floor, this, floor, old)", old_name);
	printf("\n%-34s %8s %8s %8s", "packet class", "ns/pkt", "net ns", "net/fl");
	if (old_fd >= 0)
		printf(" %8s %9s", "old net", "this/old");
	printf("  target\n");
	for (size_t i = 0; i < N_CLASSES; i++) {
		if (class_skipped(&classes[i])) {
			r[i].net = NAN;
			continue;
		}
		bench_measure_class(floor_fd, prog_fd, old_fd, fx->if0, &classes[i], &r[i], NULL,
				    NULL);
		floors[measured++] = r[i].floor;
	}
	/* A flood of SYNs against an established TCP packet of its own family. */
	flood_limit[0] = TARGET_FLOOD * r[CLASS_V4_ESTABLISHED].net;
	flood_limit[1] = TARGET_FLOOD * r[CLASS_V6_ESTABLISHED].net;
	for (size_t i = 0; i < N_CLASSES; i++) {
		const struct bench_class *c = &classes[i];
		double fl = r[i].floor;
		bool ok = true;

		if (class_skipped(c))
			continue;
		if (c->target_ns) {
			ok = r[i].net <= c->target_ns;
			snprintf(target, sizeof(target), "<= %.0f ns: %s", c->target_ns,
				 bench_meets(ok));
		} else if (c->target_ratio) {
			ok = r[i].net <= c->target_ratio * fl;
			snprintf(target, sizeof(target), "<= %.2fx: %s", c->target_ratio,
				 bench_meets(ok));
		} else if (c->tcp_flags == PKT_TCP_SYN) {
			double limit = flood_limit[c->vip && strchr(c->vip, ':')];

			ok = r[i].net <= limit;
			snprintf(target, sizeof(target), "<= %dx established (%.0f ns): %s",
				 TARGET_FLOOD, limit, bench_meets(ok));
		} else {
			snprintf(target, sizeof(target), "-");
		}
		printf("%-34s %8.1f %8.1f %7.2fx", c->name, r[i].ns, r[i].net, r[i].net / fl);
		if (old_fd >= 0)
			printf(" %8.1f %8.2fx", r[i].old_net, r[i].ratio);
		printf("  %s (%s)\n", target, bench_verdict_name(r[i].verdict));
		bench_record(SEC_PACKET, c->name, r[i].net, "ns above floor", r[i].net / fl, "%s (%s)",
			     target, bench_verdict_name(r[i].verdict));
		if (old_fd >= 0)
			bench_record(SEC_PACKET, c->name, r[i].old_net, "ns above floor, old build",
				     r[i].old_net / fl, "this / old: %.2fx (old %s)", r[i].ratio,
				     bench_verdict_name(r[i].old_verdict));
	}
	double fl = measured ? bench_median(floors, measured) : NAN;

	if (!class_skipped(&classes[CLASS_V4_ESTABLISHED])) {
		const struct bench_class *c = &classes[CLASS_V4_ESTABLISHED];
		struct class_result least;

		bench_measure_class(floor_fd, ipip_fd, -1, fx->if0, c, &least, NULL, NULL);
		printf("%-34s %8.1f %8.1f %7.2fx  the least IPIP forwarding: no lookup, counter "
		       "or check\n%34s %17s  (floor_ipip, %s, %s); xlb %+.1f ns above it\n",
		       "ipv4 tcp established, least IPIP", least.ns, least.net, least.net / fl, "",
		       "", bench_verdict_name(least.verdict),
		       ipip_frame_right(ipip_fd, fx->if0, c) ? "its frame checked" : "ITS FRAME IS WRONG",
		       r[CLASS_V4_ESTABLISHED].net - least.net);
		bench_record(SEC_PACKET, "ipv4 tcp established, least IPIP forwarding (floor_ipip)",
			     least.net, "ns above floor", least.net / fl,
			     "no lookup, counter or check (%s); xlb %+.1f ns above it",
			     bench_verdict_name(least.verdict),
			     r[CLASS_V4_ESTABLISHED].net - least.net);
	}
	printf("%-34s %8.1f\n", "floor (XDP_PASS, 2 insns)", fl);
	bench_record(SEC_PACKET, "floor (XDP_PASS, 2 insns)", fl, "ns/packet", NAN,
		     "median over the classes' rounds");
	return fl;
}

static void bench_maglev(void)
{
	static const size_t counts[] = { 10, 100, 1000 };
	static __u32 table[XLB_RING_DEFAULT];
	struct maglev_backend *b = calloc(1000, sizeof(*b));
	double runs[21];
	char name[64];

	printf("\nMaglev table build, %u slots (median of 21)\n", XLB_RING_DEFAULT);
	for (size_t k = 0; b && k < sizeof(counts) / sizeof(counts[0]); k++) {
		for (size_t i = 0; i < counts[k]; i++) {
			b[i].family = XLB_AF_INET;
			b[i].addr.v4 = htonl(0x0a000000 + i + 1);
			b[i].id = i + 1;
			b[i].weight = 1;
		}
		for (int r = 0; r < 21; r++) {
			double t0 = now_ms();

			maglev_build(b, counts[k], table, XLB_RING_DEFAULT);
			runs[r] = now_ms() - t0;
		}
		qsort(runs, 21, sizeof(runs[0]), cmp_double);
		printf("  %4zu backends  %7.3f ms%s\n", counts[k], runs[10],
		       counts[k] == 100 ? "   (target <= 2 ms)" : "");
		snprintf(name, sizeof(name), "%u slots, %zu backends (median of 21)",
			 XLB_RING_DEFAULT, counts[k]);
		if (counts[k] == 100)
			bench_record(SEC_MAGLEV, name, runs[10], "ms", NAN, "<= 2 ms: %s",
				     bench_meets(runs[10] <= 2));
		else
			bench_record(SEC_MAGLEV, name, runs[10], "ms", NAN, "-");
	}
	free(b);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xlb-bench [--old XLB.BPF.O] [--katran BALANCER.BPF.O] [--class TEXT]\n"
		   "                 [--only packets|nat|trace|ratelimit|live|control|memory|health|katran]\n"
		   "  --old PATH   also measure another build of the balancer object (packets, nat,\n"
		   "               live),\n"
		   "               rounds interleaved with this build's (make bench-compare)\n"
		   "  --katran PATH  Katran's XDP balancer, built elsewhere: per-packet classes\n"
		   "               against it, rounds interleaved (README \"Performance\")\n"
		   "  --only NAME  that section alone; BENCHMARKS.md is left alone (trace,\n"
		   "               ratelimit: after packets, whose floor they need; ratelimit\n"
		   "               with --old: the other build's limit cost too)\n"
		   "  --class TEXT the packet classes whose name holds TEXT alone (with --only\n"
		   "               packets: a quick comparison of two builds on those)\n");
}

int main(int argc, char **argv)
{
	struct utsname uts;
	struct fixture fx;
	struct floor *fl;
	double floor_ns;
	cpu_set_t cpus;
	time_t t = time(NULL);
	double t0 = now_ms();
	const char *results_path = getenv("XLB_BENCH_RESULTS"), *old_path = NULL;
	const char *katran_path = NULL;
	const char *only = NULL;
	int err, old_fd = -1;
	char date[32];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--old") && i + 1 < argc) {
			old_path = argv[++i];
		} else if (!strcmp(argv[i], "--katran") && i + 1 < argc) {
			katran_path = argv[++i];
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--class") && i + 1 < argc) {
			class_filter = argv[++i];
		} else {
			usage(strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? stderr : stdout);
			return 2;
		}
	}

	if (class_filter && (!only || strcmp(only, "packets"))) {
		fprintf(stderr, "bench: --class goes with --only packets\n");
		return 2;
	}
	if (only && !strcmp(only, "control")) {
		bench_control();
		return 0;
	}
	if (only && !strcmp(only, "memory")) {
		bench_memory();
		return 0;
	}
	if (only && !strcmp(only, "health"))
		return bench_health() ? 1 : 0;
	/* Katran is never fetched or built here: without an object, no section. */
	if (only && !strcmp(only, "katran") && !katran_path) {
		fprintf(stderr, "bench: section katran skipped: no Katran object given "
				"(--katran PATH; README \"Performance\" says how to build one)\n");
		return 0;
	}
	if (only && strcmp(only, "packets") && strcmp(only, "trace") && strcmp(only, "live") &&
	    strcmp(only, "ratelimit") && strcmp(only, "nat") && strcmp(only, "katran")) {
		usage(stderr);
		return 2;
	}
	/* One CPU: every figure on the same caches and clock. */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	if (fx_setup_room(&fx, BENCH_MAX_VIPS, BENCH_MAX_BACKENDS)) {
		fprintf(stderr, "bench: cannot set up the namespace and program (root?)\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(bench_vips) / sizeof(bench_vips[0]); i++)
		if (fx_vip_add(&fx, &bench_vips[i])) {
			fprintf(stderr, "bench: VIP setup failed\n");
			return 1;
		}
	if (many_vips_add(&fx)) {
		fprintf(stderr, "bench: VIP setup failed (%u VIPs)\n", MANY_VIPS);
		return 1;
	}
	fl = floor__open_and_load();
	if (!fl) {
		fprintf(stderr, "bench: cannot load the floor program\n");
		return 1;
	}
	if (old_path) {
		old_fd = old_load(&fx, old_path);
		if (old_fd < 0) {
			fprintf(stderr, "bench: cannot load %s beside this build: %s\n", old_path,
				strerror(-old_fd));
			return 1;
		}
	}

	uname(&uts);
	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&t));
	printf("xlb bench: %s %s, %ld CPUs, %s; %d calls per figure, repeat=1\n", uts.release,
	       uts.machine, sysconf(_SC_NPROCESSORS_ONLN), date, BENCH_CALLS);

	if (only && !strcmp(only, "live")) {
		err = bench_live(&fx, bpf_program__fd(fl->progs.floor_tx), old_fd);
		floor__destroy(fl);
		fx_teardown(&fx);
		return err ? 1 : 0;
	}
	if (only && !strcmp(only, "nat")) {
		bench_nat(&fx, bpf_program__fd(fl->progs.floor_pass), old_path);
		floor__destroy(fl);
		fx_teardown(&fx);
		return 0;
	}
	if (only && !strcmp(only, "katran")) {
		bench_katran(&fx, bpf_program__fd(fl->progs.floor_pass), katran_path);
		floor__destroy(fl);
		fx_teardown(&fx);
		return 0;
	}
	floor_ns = bench_packets(&fx, bpf_program__fd(fl->progs.floor_pass),
				 bpf_program__fd(fl->progs.floor_ipip), old_fd, old_path);
	if (only && !strcmp(only, "trace"))
		bench_trace(&fx, floor_ns);
	if (only && !strcmp(only, "ratelimit"))
		bench_ratelimit(&fx, &bench_vips[0], floor_ns, old_fd);
	if (only) {
		floor__destroy(fl);
		fx_teardown(&fx);
		return 0;
	}
	bench_nat(&fx, bpf_program__fd(fl->progs.floor_pass), old_path);
	bench_ratelimit(&fx, &bench_vips[0], floor_ns, old_fd);
	bench_trace(&fx, floor_ns);
	if (katran_path)
		bench_katran(&fx, bpf_program__fd(fl->progs.floor_pass), katran_path);
	err = bench_live(&fx, bpf_program__fd(fl->progs.floor_tx), old_fd);
	if (err)
		bench_record("throughput, live frames", "not measured", NAN, "-", NAN, "%s",
			     strerror(-err));
	bench_maglev();
	bench_control();
	bench_memory();
	err = bench_health();
	if (err)
		bench_record("health checks", "not measured", NAN, "-", NAN, "%s", strerror(-err));
	floor__destroy(fl);
	fx_teardown(&fx);

	if (!results_path || !*results_path)
		results_path = RESULTS_FILE;
	err = bench_results_write(results_path, (now_ms() - t0) / 1e3);
	if (err) {
		fprintf(stderr, "bench: cannot write %s: %s\n", results_path, strerror(-err));
		return 1;
	}
	printf("\nAll figures: %s\n", results_path);
	return 0;
}
