/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sections of `make bench` beyond the per-packet figures, and the few
 * helpers they share. Every section prints figures and returns; a section
 * that cannot run says why on stderr and leaves nothing behind.
 */
#ifndef XLB_BENCH_H
#define XLB_BENCH_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

/*
 * Every figure a section prints is also recorded, and main() writes them all
 * as one Markdown table when the bench ends. section and figure name it;
 * value is in unit (NAN: not measured); ratio is to the section's floor
 * (BENCHMARKS.md says what that is per section), NAN when it has none;
 * target (printf format): the target and whether the figure meets it, or a
 * short note; "-" for none. The strings are copied.
 */
void bench_record(const char *section, const char *figure, double value, const char *unit,
		  double ratio, const char *target, ...) __attribute__((format(printf, 6, 7)));
/* "meets" or "**misses**", for target texts. */
const char *bench_meets(bool ok);

/* CLOCK_MONOTONIC in milliseconds. */
double now_ms(void);
/* qsort() comparator for doubles, ascending. */
int cmp_double(const void *a, const void *b);
/* The median of v[0..n-1], which it sorts. */
double bench_median(double *v, int n);

/*
 * A configuration of n_vips IPv4 TCP VIPs with n_backends each, as the
 * canonical lines `save` prints. Addresses are unique across the whole file
 * and unrouted in the bench's namespace. malloc()ed, NULL on failure.
 */
char *bench_config_text(size_t n_vips, size_t n_backends, size_t *len);

/*
 * Kernel memory charged to a map ("memlock:" in its fdinfo), -1 if fd is
 * not a map.
 */
long long bench_map_memlock(int fd);
/*
 * Every map pinned in pin_dir, and the rings its outer `rings` map holds:
 * memory charged to all of them. 0 or -errno.
 */
int bench_pins_memlock(const char *pin_dir, long long *maps, long long *rings);

/*
 * A session of the real build/xlbd (control.c): its own socket, state files
 * and log in a temporary directory, its own pin dir.
 */
struct ctl_bench {
	char xlbd[PATH_MAX];
	char xlbctl[PATH_MAX];
	char tmp[64];		/* socket, state files, xlbd's log */
	char pins[64];
	char sock[96];
	char log[96];
	pid_t pid;		/* the running xlbd, 0 when none */
	struct sigaction old_int, old_term;
};

/*
 * Find xlbd and xlbctl next to the bench, create the directory, catch
 * SIGINT/SIGTERM (bench_interrupted() says when one came; blocking calls
 * return EINTR) and give the bench every CPU. 0, or -errno after saying on
 * stderr why `section` is skipped.
 */
int bench_session_open(struct ctl_bench *b, const char *section);
/* Stop xlbd, remove the pins and the directory; re-raise a caught signal. */
void bench_session_close(struct ctl_bench *b);
bool bench_interrupted(void);
/* Start xlbd on the state file `state` on fresh or kept pins: ms until it answered, or -1. */
double bench_xlbd_run(struct ctl_bench *b, const char *state);
/* Stop xlbd and remove its pins; its log on stderr first when err. */
void bench_xlbd_end(struct ctl_bench *b, int err);
/*
 * One command over the wire protocol (as `xlbctl -j` when json): 0 with
 * *status and as much of the reply as fits in msg, or -errno for no reply.
 */
int bench_request(const struct ctl_bench *b, bool json, int argc, char **argv, int *status,
		  char *msg, size_t msglen);
/* A command that must succeed: 0, or says why on stderr. */
int bench_request_ok(const struct ctl_bench *b, int argc, char **argv);
/* Create or replace a file with text: 0 or -errno. */
int bench_write_text(const char *path, const char *text, size_t len);

/*
 * Live-frame throughput (live.c): the balancer of fx and floor_tx, the XDP_TX
 * floor, on the veth pair xlb0/xlb1, frames really transmitted; old_fd >= 0:
 * another build too, rounds interleaved. 0 when it printed its figures,
 * -errno when it could not (and said why on stderr).
 */
struct fixture;
int bench_live(struct fixture *fx, int floor_tx_fd, int old_fd);
/* xlbctl and xlbd round trips, start-up and restore (control.c). */
void bench_control(void);
/*
 * Full NAT (nat.c): per-packet figures of nat flows both ways next to ipip,
 * on fx (nat VIPs added), floor_fd the XDP_PASS floor; memory per entry.
 * With old_path, that build's figures too, rounds interleaved.
 */
void bench_nat(struct fixture *fx, int floor_fd, const char *old_path);
/*
 * Another build of xlb.bpf.o loaded beside fx's on its configuration (the
 * read-only maps shared, its rings filled from fx's VIPs as they are now):
 * its program's fd, or -errno (bench.c).
 */
int old_load(struct fixture *fx, const char *path);
/* Kernel memory locked by the maps for 1, 100, 1000 VIPs (memory.c). */
void bench_memory(void);
/*
 * Health checks (health.c): detection latency after a backend fails, and
 * xlbd's CPU while it checks 1,000 backends. 0 when it printed its figures,
 * -errno when it could not (and said why on stderr).
 */
int bench_health(void);

/* A per-packet class of the packets section (bench.c). */
struct bench_class {
	const char *name;
	const char *client;	/* NULL: a new source address per call */
	const char *vip;
	__u8 proto;
	__u16 port;
	__u8 tcp_flags;		/* PKT_TCP_*, 0: ACK */
	double target_ns;	/* net ns above the floor, 0 = none */
	double target_ratio;	/* or net / floor, 0 = none */
	__u32 many;		/* vip NULL: spread over this many VIPs (many_vips) */
};

struct class_result {
	double ns, net, floor;		/* this build: median of the rounds */
	double old_net, ratio;		/* the other build; median of this / other per round */
	__u32 verdict, old_verdict;
};

/* Class i of the packets section, NULL past the last. */
const struct bench_class *bench_class_at(size_t i);
/*
 * Class c through prog_fd and, with old_fd >= 0, another program, rounds
 * interleaved with the floor's (floor_fd); old_round(arg), when given, runs
 * before each of the other program's rounds, outside the timing.
 */
void bench_measure_class(int floor_fd, int prog_fd, int old_fd, int ifindex,
			 const struct bench_class *c, struct class_result *r,
			 void (*old_round)(void *arg), void *arg);
/*
 * calls IPv4 TCP packets from new sources (first, first + 1, ...) to the VIP
 * of "ipv4 tcp established": mean ns per packet, *tx the packets sent on.
 */
double bench_flood(int prog_fd, int ifindex, __u32 first, __u32 calls, __u32 *tx);
const char *bench_verdict_name(__u32 v);
/*
 * Katran's XDP balancer (katran.c), an object built elsewhere, configured
 * like xlb's bench VIPs and measured class by class against fx's program.
 */
void bench_katran(struct fixture *fx, int floor_fd, const char *path);

#endif /* XLB_BENCH_H */
