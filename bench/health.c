// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Health checks as an operator meets them: the real build/xlbd probing
 * backends that are the bench's own sockets.
 *
 * Detection: a backend that answered stops answering, and the bench asks
 * `health show -j SERVICE` over the wire protocol (what `xlbctl -j health
 * show` sends) until it says down. Two ways to fail: the port closes (the
 * next probe is refused at once), or SYNs to it are dropped by nftables (the
 * probe times out). Failures are spread evenly over the check interval after
 * a passed probe, so the median is that of a failure at a random moment.
 *
 * CPU: xlbd checking 1,000 backends every second, its utime + stime from
 * /proc/PID/stat over a stretch of wall time, with tcp then http checks;
 * then the same through the VIP path (`via vip`): xlbd attached to one end
 * of a veth pair, each probe encapsulated by bpf/probe.bpf.c towards its
 * backend, decapsulated on the other end by bpf/decap.bpf.c (its address
 * table grown to the 1,000 backends) and answered from the VIP.
 *
 * The section runs in a network namespace of its own, entered by the bench
 * process for the section and inherited by xlbd: backends are addresses of
 * DIRECT_NET, a prefix on the namespace's lo (every address of it local,
 * like 127.0.0.0/8, which xlbd refuses as a backend), the nftables table is
 * the namespace's. The namespace goes away with its last socket and process,
 * whatever happened; xlbd, pins and files go as in control.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "decap.skel.h"
#include "xlb_abi.h"

/* Detection: one VIP, two backends that fail in turn, two that stay. */
#define DET_SERVICE		"10.99.0.1:8080/tcp"
#define DET_PORT		8080
#define DET_PORT_STR		"8080"
/* The direct backends' prefix, on lo: 10.200.0.0/16 (10.201/16 is the VIP path's). */
#define DIRECT_NET		"10.200.0.1/16"
#define DET_REFUSED		"10.200.0.2"	/* its port closes */
#define DET_SILENT		"10.200.0.3"	/* its SYNs are dropped */
#define DET_BACKENDS		4		/* 10.200.0.2 to .5 */
#define DET_INTERVAL_MS		100
#define DET_TIMEOUT_MS		50
#define DET_RISE		2
#define DET_FALL		3
#define DET_FAILURES		20
#define DET_LIMIT_MS		5000.0		/* a state change that takes longer is a fault */
#define POLL_MS			1		/* between two `health show` */

/* CPU: one VIP of 1,000 backends, one listener on the service port answers all. */
#define CPU_SERVICE		"10.99.0.2:80/tcp"
#define CPU_PORT		80
#define CPU_BACKENDS		1000		/* 10.200.1.0 onwards */
#define CPU_INTERVAL_MS		1000
#define CPU_TIMEOUT_MS		500
#define CPU_WARM_MS		2500.0		/* every backend probed twice before measuring */
#define CPU_MEASURE_MS		10000.0
#define CPU_OFF_WARM_MS		1000.0
#define CPU_OFF_MS		5000.0		/* the floor, checks off */
#define CPU_TARGET_PCT		5.0

/*
 * The VIP path's CPU run: xlbd on VP_LB (VP_LB_ADDR), the backends 10.201.0.1
 * onwards routed through VP_BE, where decap hands the probes to the VIP.
 */
#define VP_LB			"xlbhc0"
#define VP_BE			"xlbhc1"
#define VP_LB_ADDR		"10.98.250.1"
#define VP_BE_ADDR		"10.98.250.2"
#define VP_BACKEND_NET		"10.201.0.0/16"
#define VP_DET_FIRST		"10.201.10."	/* detection's backends: .2 to .5 */
#define VP_DET_FAILING		"10.201.10.3"	/* its decap address goes */

#define SEC_HEALTH		"health checks"
#define NFT_TABLE		"inet xlb_bench"
#define SHOW_MAX		(1U << 20)	/* `health show -j` of 1,000 backends, with room */
#define CONN_MAX		65536		/* connection fds the responder tracks */
#define LISTEN_BACKLOG		4096

static const char http_reply[] =
	"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

/* ---- the backends: listening sockets, and an HTTP responder ------------- */

enum { TAG_LISTENER = 1, TAG_CONN = 2 };

struct srv {
	int ep;
	int lfd[DET_BACKENDS];		/* -1 while closed */
	struct sockaddr_in laddr[DET_BACKENDS];
	size_t n_listeners;
	bool http;			/* answer GET, else accept and close */
	unsigned char *matched;		/* by connection fd: bytes of "\r\n\r\n" seen */
	unsigned long long accepted, answered;
};

static uint64_t tag(int kind, uint32_t v)
{
	return (uint64_t)kind << 32 | v;
}

static int srv_init(struct srv *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < DET_BACKENDS; i++)
		s->lfd[i] = -1;
	s->matched = calloc(CONN_MAX, 1);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!s->matched || s->ep < 0) {
		free(s->matched);
		if (s->ep >= 0)
			close(s->ep);
		return -ENOMEM;
	}
	return 0;
}

/* Close the listeners; connections still open go with their fds. */
static void srv_close_listeners(struct srv *s)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
		s->lfd[i] = -1;
	}
	s->n_listeners = 0;
}

static void srv_free(struct srv *s)
{
	srv_close_listeners(s);
	/* The responder's connections: every fd the epoll set may still hold. */
	for (int fd = 0; fd < CONN_MAX; fd++)
		if (s->matched[fd])
			close(fd);
	close(s->ep);
	free(s->matched);
}

/* (Re)open listener i on its address; CLOEXEC, so that closing it here closes it. */
static int srv_listen(struct srv *s, size_t i)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(TAG_LISTENER, i) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, err;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s->laddr[i], sizeof(s->laddr[i])) ||
	    listen(fd, LISTEN_BACKLOG) || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
		err = -errno;
		close(fd);
		return err;
	}
	s->lfd[i] = fd;
	return 0;
}

/* One more listener on addr:port (addr NULL: every address). */
static int srv_add(struct srv *s, const char *addr, uint16_t port)
{
	size_t i = s->n_listeners;
	int err;

	if (i == DET_BACKENDS)
		return -ENOSPC;
	s->laddr[i] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	if (addr && inet_pton(AF_INET, addr, &s->laddr[i].sin_addr) != 1)
		return -EINVAL;
	err = srv_listen(s, i);
	if (!err)
		s->n_listeners++;
	else
		fprintf(stderr, "bench: cannot listen on %s:%u: %s\n", addr ? addr : "*", port,
			strerror(-err));
	return err;
}

static void conn_close(struct srv *s, int fd)
{
	s->matched[fd] = 0;
	close(fd);		/* also leaves the epoll set */
}

static void srv_accept(struct srv *s, int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		s->accepted++;
		if (!s->http || fd >= CONN_MAX) {
			close(fd);
			continue;
		}
		/* 1 + bytes matched, so that 0 means "not a connection of ours". */
		s->matched[fd] = 1;
		ev.data.u64 = tag(TAG_CONN, fd);
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev))
			conn_close(s, fd);
	}
}

/* Read the request up to its blank line, then answer 200 and close. */
static void srv_read(struct srv *s, int fd)
{
	static const char end[] = "\r\n\r\n";
	char buf[512];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(s, fd);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			unsigned char m = s->matched[fd] - 1;

			m = buf[i] == end[m] ? m + 1 : buf[i] == '\r';
			s->matched[fd] = m + 1;
			if (m == 4) {
				if (send(fd, http_reply, sizeof(http_reply) - 1,
					 MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
					s->answered++;
				conn_close(s, fd);
				return;
			}
		}
	}
}

/* One round of the backends' work, waiting at most timeout_ms for some. */
static void srv_serve(struct srv *s, int timeout_ms)
{
	struct epoll_event ev[64];
	int n = epoll_wait(s->ep, ev, 64, timeout_ms);

	for (int i = 0; i < n; i++) {
		uint32_t v = (uint32_t)ev[i].data.u64;

		if (ev[i].data.u64 >> 32 == TAG_LISTENER) {
			if (v < s->n_listeners && s->lfd[v] >= 0)
				srv_accept(s, s->lfd[v]);
		} else if (s->matched[v]) {
			srv_read(s, v);
		}
	}
}

/* Serve until `until` (now_ms() time), or a signal. */
static void srv_serve_until(struct srv *s, double until)
{
	double left;

	while (!bench_interrupted() && (left = until - now_ms()) > 0)
		srv_serve(s, left < 100 ? (int)left + 1 : 100);
}

/* ---- what xlbd says --------------------------------------------------- */

/*
 * The value of "key" in JSON text at or after p and before limit (NULL: no
 * limit), copied without quotes. A pointer past it, or NULL if none. Enough
 * for xlbd's output: keys are unique words, values have no escapes.
 */
static const char *json_value(const char *p, const char *limit, const char *key, char *val,
			      size_t len)
{
	char pat[64];
	const char *q, *end;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	q = strstr(p, pat);
	if (!q || (limit && q >= limit))
		return NULL;
	q += strlen(pat);
	q += strspn(q, " \n");
	if (*q++ != ':')
		return NULL;
	q += strspn(q, " \n");
	if (*q == '"')
		end = strchr(++q, '"');
	else
		end = q + strcspn(q, ",}] \n");
	if (!end)
		return NULL;
	snprintf(val, len, "%.*s", (int)(end - q), q);
	return end + (*end == '"');
}

struct show_counts {
	unsigned int backends, up, down, failing;	/* failing: last probe failed */
};

/*
 * Ask `health show -j service`: counts of all its backends in c, and for
 * addr its state (1 up, 0 down; -ENOENT if it has none) and passed probes in
 * a row. 0 when addr is NULL, -errno when xlbd did not answer.
 */
static int health_show(const struct ctl_bench *b, char *service, char *body, size_t len,
		       const char *addr, unsigned long *ok_run, struct show_counts *c)
{
	char health[] = "health", show[] = "show", val[64], state[32];
	const char *p = body, *next;
	int status, ret;

	ret = bench_request(b, true, 3, (char *[]){ health, show, service }, &status, body, len);
	if (ret || status) {
		fprintf(stderr, "bench: health show %s: %s\n", service,
			ret ? strerror(-ret) : body);
		return ret ? ret : -EPROTO;
	}
	ret = addr ? -ENOENT : 0;
	memset(c, 0, sizeof(*c));
	while ((p = json_value(p, NULL, "address", val, sizeof(val)))) {
		bool match = addr && !strcmp(val, addr);

		next = strstr(p, "\"address\"");
		c->backends++;
		if (!json_value(p, next, "state", state, sizeof(state)))
			continue;
		if (!strcmp(state, "up"))
			c->up++;
		else if (!strcmp(state, "down"))
			c->down++;
		if (json_value(p, next, "last_result", val, sizeof(val)) && !strcmp(val, "fail"))
			c->failing++;
		if (!match)
			continue;
		ret = !strcmp(state, "up");
		if (ok_run && json_value(p, next, "ok_in_a_row", val, sizeof(val)))
			*ok_run = strtoul(val, NULL, 10);
	}
	return ret;
}

/* ---- detection latency ------------------------------------------------ */

enum failure { FAIL_REFUSED, FAIL_SILENT, FAIL_NO_DECAP };

struct det {
	struct ctl_bench *b;
	struct srv *srv;
	int decap_addrs;	/* FAIL_NO_DECAP: the map its backend leaves */
	char body[16384];
	char service[sizeof(DET_SERVICE)];
};

/* A tool from PATH or /usr/sbin, its stdout dropped: 0, or -errno / -EIO (it said why). */
static int run(char **argv)
{
	char sbin[64];
	posix_spawn_file_actions_t fa;
	int err, status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	snprintf(sbin, sizeof(sbin), "/usr/sbin/%s", argv[0]);
	if (err == ENOENT)
		err = posix_spawn(&pid, sbin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* nft with one command line. */
static int nft(const char *line)
{
	return run((char *[]){ "nft", (char *)line, NULL });
}

static const char *failing_addr(enum failure how)
{
	return how == FAIL_SILENT ? DET_SILENT : how == FAIL_REFUSED ? DET_REFUSED : VP_DET_FAILING;
}

/* The backend's address in or out of decap's table: decapsulated, or dropped. */
static int decap_addr(struct det *d, bool in)
{
	struct xlb_vip_addr_key key = { .family = XLB_AF_INET };
	__u32 one = 1;

	inet_pton(AF_INET, VP_DET_FAILING, &key.addr.v4);
	if (in)
		return bpf_map_update_elem(d->decap_addrs, &key, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(d->decap_addrs, &key) ? -errno : 0;
}

static int fail_backend(struct det *d, enum failure how)
{
	if (how == FAIL_NO_DECAP)
		return decap_addr(d, false);
	if (how == FAIL_SILENT)
		return nft("add element " NFT_TABLE " dead { " DET_SILENT " }");
	/* Listener 0 is DET_REFUSED's. */
	close(d->srv->lfd[0]);
	d->srv->lfd[0] = -1;
	return 0;
}

static int restore_backend(struct det *d, enum failure how)
{
	if (how == FAIL_NO_DECAP)
		return decap_addr(d, true);
	if (how == FAIL_SILENT)
		return nft("delete element " NFT_TABLE " dead { " DET_SILENT " }");
	return srv_listen(d->srv, 0);
}

/*
 * Until addr is up just after a probe passed (it came up, or its run of
 * passed probes grew): when the reply that said so came, or -1.
 */
static double wait_fresh_up(struct det *d, const char *addr)
{
	double t0 = now_ms(), t;
	unsigned long run = 0, first_run = 0;
	bool seen_down = false, seen_up = false;
	struct show_counts c;
	int st;

	while (!bench_interrupted()) {
		st = health_show(d->b, d->service, d->body, sizeof(d->body), addr, &run, &c);
		t = now_ms();
		if (st < 0)
			return -1;
		if (st == 0) {
			seen_down = true;
		} else if (seen_down || (seen_up && run != first_run)) {
			return t;
		} else if (!seen_up) {
			seen_up = true;
			first_run = run;
		}
		if (t - t0 > DET_LIMIT_MS) {
			fprintf(stderr, "bench: %s not up after %.0f ms\n", addr, DET_LIMIT_MS);
			return -1;
		}
		srv_serve(d->srv, POLL_MS);
	}
	return -1;
}

/* Until addr is down: when the reply that said so came, or -1. */
static double wait_down(struct det *d, const char *addr)
{
	double t0 = now_ms(), t;
	struct show_counts c;
	int st;

	while (!bench_interrupted()) {
		st = health_show(d->b, d->service, d->body, sizeof(d->body), addr, NULL, &c);
		t = now_ms();
		if (st < 0)
			return -1;
		if (st == 0)
			return t;
		if (t - t0 > DET_LIMIT_MS) {
			fprintf(stderr, "bench: %s not down %.0f ms after it failed\n", addr,
				DET_LIMIT_MS);
			return -1;
		}
		srv_serve(d->srv, POLL_MS);
	}
	return -1;
}

/* DET_FAILURES failures of one kind: ms from each to `health show` saying down. */
static int detect(struct det *d, enum failure how, double *ms, double *act_ms)
{
	const char *addr = failing_addr(how);
	double up, failed, down;
	int err;

	for (int i = 0; i < DET_FAILURES; i++) {
		up = wait_fresh_up(d, addr);
		if (up < 0)
			return -EIO;
		/* The i-th of DET_FAILURES even steps through the interval after a probe. */
		srv_serve_until(d->srv, up + (i + 0.5) * DET_INTERVAL_MS / DET_FAILURES);
		if (bench_interrupted())
			return -EINTR;
		act_ms[i] = now_ms();
		err = fail_backend(d, how);
		/* nft applies its change before it exits: the failure is no later than this. */
		failed = now_ms();
		act_ms[i] = failed - act_ms[i];
		if (err) {
			fprintf(stderr, "bench: cannot make %s fail: %s\n", addr, strerror(-err));
			return err;
		}
		down = wait_down(d, addr);
		err = restore_backend(d, how);
		if (down < 0)
			return -EIO;
		if (err) {
			fprintf(stderr, "bench: cannot bring %s back: %s\n", addr, strerror(-err));
			return err;
		}
		ms[i] = down - failed;
	}
	return 0;
}

struct det_figures {
	bool ok[2];
	double median[2], p90[2], max[2];
	double act_median[2];		/* the failing itself: close(), or nft's run */
};

static void summarize(double *ms, size_t n, double *median, double *p90, double *max)
{
	qsort(ms, n, sizeof(*ms), cmp_double);
	*median = ms[n / 2];
	*p90 = ms[(n * 90 + 99) / 100 - 1];	/* the smallest that 90% do not exceed */
	*max = ms[n - 1];
}

static int bench_detection(struct ctl_bench *b, struct srv *srv, struct det_figures *f)
{
	struct det *d = calloc(1, sizeof(*d));
	double ms[DET_FAILURES], act[DET_FAILURES], unused;
	char state[128], text[1024];
	size_t len = 0;
	int err = -ENOMEM;

	if (!d)
		return err;
	d->b = b;
	d->srv = srv;
	memcpy(d->service, DET_SERVICE, sizeof(d->service));
	len += snprintf(text + len, sizeof(text) - len, "vip add %s\n", DET_SERVICE);
	for (int i = 0; i < DET_BACKENDS; i++) {
		char addr[16];

		snprintf(addr, sizeof(addr), "10.200.0.%d", i + 2);
		len += snprintf(text + len, sizeof(text) - len, "backend add %s %s weight 1\n",
				DET_SERVICE, addr);
		err = srv_add(srv, addr, DET_PORT);
		if (err)
			goto out;
	}
	len += snprintf(text + len, sizeof(text) - len,
			"health set %s tcp port 0 interval %dms timeout %dms rise %d fall %d\n",
			DET_SERVICE, DET_INTERVAL_MS, DET_TIMEOUT_MS, DET_RISE, DET_FALL);
	snprintf(state, sizeof(state), "%s/health-detect.conf", b->tmp);
	err = bench_write_text(state, text, len);
	if (err) {
		fprintf(stderr, "bench: cannot write %s: %s\n", state, strerror(-err));
		goto out;
	}
	err = -EIO;
	if (bench_xlbd_run(b, state) < 0)
		goto out;

	err = detect(d, FAIL_REFUSED, ms, act);
	if (err)
		goto out;
	summarize(ms, DET_FAILURES, &f->median[0], &f->p90[0], &f->max[0]);
	summarize(act, DET_FAILURES, &f->act_median[0], &unused, &unused);
	f->ok[0] = true;

	/* A table of the namespace's own: it goes with it. */
	err = nft("add table " NFT_TABLE "; "
		  "add set " NFT_TABLE " dead { type ipv4_addr; }; "
		  "add chain " NFT_TABLE " out { type filter hook output priority 0; }; "
		  "add rule " NFT_TABLE " out ip daddr @dead tcp dport " DET_PORT_STR " drop");
	if (err) {
		fprintf(stderr, "bench: nft cannot drop SYNs here (%s): no black-hole figure\n",
			strerror(-err));
		err = 0;	/* the other figures stand */
		goto out;
	}
	err = detect(d, FAIL_SILENT, ms, act);
	if (err)
		goto out;
	summarize(ms, DET_FAILURES, &f->median[1], &f->p90[1], &f->max[1]);
	summarize(act, DET_FAILURES, &f->act_median[1], &unused, &unused);
	f->ok[1] = true;
out:
	bench_xlbd_end(b, err);
	srv_close_listeners(srv);
	free(d);
	return err;
}

/* ---- CPU of 1,000 checks a second ------------------------------------- */

enum cpu_run { CPU_TCP, CPU_HTTP, CPU_OFF, CPU_RUNS };

struct cpu_figures {
	bool ok;
	double user, sys;		/* % of one core */
	double seconds;
	double accepted_s, answered_s;	/* connections the backends took, HTTP answers */
	struct show_counts end;		/* states after the stretch */
};

/* utime and stime of a process, in clock ticks. */
static int cpu_ticks(pid_t pid, unsigned long long *user, unsigned long long *sys)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* After "pid (comm)": state is field 3, utime and stime fields 14 and 15. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", user,
			 sys) != 2)
		return -EIO;
	return 0;
}

/* Serve warm_ms, then measure xlbd over measure_ms of serving. */
static int cpu_measure(struct ctl_bench *b, struct srv *srv, char *service, char *body,
		       double warm_ms, double measure_ms, struct cpu_figures *f)
{
	unsigned long long accepted, answered, u0, s0, u1, s1;
	double t0, t1, tck = sysconf(_SC_CLK_TCK);
	int err;

	srv_serve_until(srv, now_ms() + warm_ms);
	accepted = srv->accepted;
	answered = srv->answered;
	t0 = now_ms();
	err = cpu_ticks(b->pid, &u0, &s0);
	srv_serve_until(srv, t0 + measure_ms);
	if (!err)
		err = cpu_ticks(b->pid, &u1, &s1);
	t1 = now_ms();
	if (bench_interrupted())
		return -EINTR;
	if (err) {
		fprintf(stderr, "bench: cannot read /proc/%d/stat: %s\n", (int)b->pid,
			strerror(-err));
		return err;
	}
	err = health_show(b, service, body, SHOW_MAX, NULL, NULL, &f->end);
	if (err)
		return err;
	f->seconds = (t1 - t0) / 1000;
	f->user = 100.0 * (u1 - u0) / tck / f->seconds;
	f->sys = 100.0 * (s1 - s0) / tck / f->seconds;
	f->accepted_s = (srv->accepted - accepted) / f->seconds;
	f->answered_s = (srv->answered - answered) / f->seconds;
	f->ok = true;
	return 0;
}

/* health set CPU_SERVICE with the CPU run's timing and `how` (a few words). */
static int cpu_health_set(struct ctl_bench *b, int argc, char **how)
{
	char *argv[24] = { "health", "set", CPU_SERVICE };
	char interval[16], timeout[16], rise[8], fall[8];
	int n = 3;

	for (int i = 0; i < argc; i++)
		argv[n++] = how[i];
	if (argc == 1 && !strcmp(how[0], "off"))
		return bench_request_ok(b, n, argv);
	snprintf(interval, sizeof(interval), "%dms", CPU_INTERVAL_MS);
	snprintf(timeout, sizeof(timeout), "%dms", CPU_TIMEOUT_MS);
	snprintf(rise, sizeof(rise), "%d", DET_RISE);
	snprintf(fall, sizeof(fall), "%d", DET_FALL);
	argv[n++] = "interval";
	argv[n++] = interval;
	argv[n++] = "timeout";
	argv[n++] = timeout;
	argv[n++] = "rise";
	argv[n++] = rise;
	argv[n++] = "fall";
	argv[n++] = fall;
	return bench_request_ok(b, n, argv);
}

static void backend_addr(unsigned int i, bool via_vip, char *buf, size_t len);

/* Direct: the backends are 10.200.1.0 onwards, on lo; via vip, behind the veth pair. */
static int bench_cpu(struct ctl_bench *b, struct srv *srv, struct cpu_figures *f, bool via_vip)
{
	char service[] = CPU_SERVICE, state[128], addr[16];
	const char *via = via_vip ? "vip" : "direct";
	size_t cap = (CPU_BACKENDS + 3) * 96, len = 0;
	char *text = malloc(cap), *body = malloc(SHOW_MAX);
	int err = -ENOMEM;

	if (!text || !body)
		goto out;
	len += snprintf(text + len, cap - len, "%svip add %s\n",
			via_vip ? "attach " VP_LB "\n" : "", CPU_SERVICE);
	for (unsigned int i = 1; i <= CPU_BACKENDS; i++) {
		backend_addr(i, via_vip, addr, sizeof(addr));
		len += snprintf(text + len, cap - len, "backend add %s %s weight 1\n", CPU_SERVICE,
				addr);
	}
	len += snprintf(text + len, cap - len,
			"health set %s tcp port 0 interval %dms timeout %dms rise %d fall %d "
			"via %s\n",
			CPU_SERVICE, CPU_INTERVAL_MS, CPU_TIMEOUT_MS, DET_RISE, DET_FALL, via);
	snprintf(state, sizeof(state), "%s/health-cpu-%s.conf", b->tmp, via);
	err = bench_write_text(state, text, len);
	if (err) {
		fprintf(stderr, "bench: cannot write %s: %s\n", state, strerror(-err));
		goto out;
	}
	/* One socket on every address answers for all the backends. */
	srv->http = false;
	err = srv_add(srv, NULL, CPU_PORT);
	if (err)
		goto out;
	err = -EIO;
	if (bench_xlbd_run(b, state) < 0)
		goto out;
	err = cpu_measure(b, srv, service, body, CPU_WARM_MS, CPU_MEASURE_MS, &f[CPU_TCP]);
	if (err)
		goto out;

	/* The same backends asked GET / instead: their states and schedule stay. */
	err = cpu_health_set(b, 7, (char *[]){ "http", "path", "/", "status", "200", "via",
					       (char *)via });
	if (err)
		goto out;
	srv->http = true;
	err = cpu_measure(b, srv, service, body, CPU_WARM_MS, CPU_MEASURE_MS, &f[CPU_HTTP]);
	if (err)
		goto out;

	/* What the daemon costs with the same configuration and no checks. */
	if (!via_vip)
		err = cpu_health_set(b, 1, (char *[]){ "off" });
	if (!err && !via_vip)
		err = cpu_measure(b, srv, service, body, CPU_OFF_WARM_MS, CPU_OFF_MS, &f[CPU_OFF]);
out:
	bench_xlbd_end(b, err);
	srv_close_listeners(srv);
	free(text);
	free(body);
	return err;
}

/* ---- the same through the VIP path ------------------------------------ */

/* `ip` with its words, spaces between them: 0, or says why on stderr. */
static int ip(const char *words)
{
	char buf[256], *argv[16] = { "ip" }, *save = NULL;
	int n = 1, err;

	snprintf(buf, sizeof(buf), "%s", words);
	for (char *w = strtok_r(buf, " ", &save); w && n < 15; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	err = run(argv);
	if (err)
		fprintf(stderr, "bench: ip %s: %s\n", words, strerror(-err));
	return err;
}

static int write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * The veth pair and the routes. The VIP is local here (the backends' side
 * answers for it), so the local table moves after xlbd's probe rule: a
 * balancer that has the VIP of its own would deliver probes to itself.
 */
static int vip_path_net(void)
{
	static const char *const steps[] = {
		"link add " VP_LB " type veth peer name " VP_BE,
		"addr add " VP_LB_ADDR "/24 dev " VP_LB,
		"addr add " VP_BE_ADDR "/24 dev " VP_BE,
		"link set " VP_LB " up",
		"link set " VP_BE " up",
		"route add " VP_BACKEND_NET " via " VP_BE_ADDR " dev " VP_LB,
		"route add local 10.99.0.0/24 dev lo",
		"rule add pref 32000 lookup local",
		"rule del pref 0",
	};
	int err = 0;

	for (size_t i = 0; !err && i < sizeof(steps) / sizeof(steps[0]); i++)
		err = ip(steps[i]);
	/* The probes' source is an address of this namespace: local, not martian. */
	if (!err)
		err = write_sysctl("/proc/sys/net/ipv4/conf/" VP_BE "/accept_local", "1");
	return err;
}

static void backend_addr(unsigned int i, bool via_vip, char *buf, size_t len)
{
	snprintf(buf, len, via_vip ? "10.201.%u.%u" : "10.200.%u.%u", (i >> 8) + !via_vip,
		 i & 255);
}

/* decap on the backends' end, its address table holding every backend. */
static int vip_path_decap(struct decap **skel)
{
	struct xlb_vip_addr_key key = { .family = XLB_AF_INET };
	__u32 one = 1, ifindex = if_nametoindex(VP_BE);
	char addr[16];
	int err;

	*skel = decap__open();
	if (!*skel)
		return -errno;
	bpf_map__set_max_entries((*skel)->maps.decap_addrs, CPU_BACKENDS + DET_BACKENDS);
	err = decap__load(*skel);
	for (unsigned int i = 1; !err && i <= CPU_BACKENDS + DET_BACKENDS; i++) {
		if (i <= CPU_BACKENDS)
			backend_addr(i, true, addr, sizeof(addr));
		else
			snprintf(addr, sizeof(addr), VP_DET_FIRST "%u", i - CPU_BACKENDS + 1);
		inet_pton(AF_INET, addr, &key.addr.v4);
		err = bpf_map__update_elem((*skel)->maps.decap_addrs, &key, sizeof(key), &one,
					   sizeof(one), BPF_ANY);
	}
	if (!err)
		err = bpf_xdp_attach(ifindex, bpf_program__fd((*skel)->progs.xlb_decap),
				     XDP_FLAGS_DRV_MODE, NULL);
	if (err)
		fprintf(stderr, "bench: cannot set up decap on %s: %s\n", VP_BE, strerror(-err));
	return err;
}

/* Detection through the VIP path: a backend whose decap stops taking its packets. */
static int detection_vip(struct ctl_bench *b, struct srv *srv, int decap_addrs,
			 struct det_figures *f)
{
	struct det *d = calloc(1, sizeof(*d));
	double ms[DET_FAILURES], act[DET_FAILURES], unused;
	char state[128], text[1024];
	size_t len = 0;
	int err = -ENOMEM;

	if (!d)
		return err;
	d->b = b;
	d->srv = srv;
	d->decap_addrs = decap_addrs;
	memcpy(d->service, DET_SERVICE, sizeof(d->service));
	len += snprintf(text + len, sizeof(text) - len, "attach " VP_LB "\nvip add %s\n",
			DET_SERVICE);
	for (int i = 0; i < DET_BACKENDS; i++)
		len += snprintf(text + len, sizeof(text) - len,
				"backend add %s " VP_DET_FIRST "%d weight 1\n", DET_SERVICE, i + 2);
	len += snprintf(text + len, sizeof(text) - len,
			"health set %s tcp port 0 interval %dms timeout %dms rise %d fall %d "
			"via vip\n",
			DET_SERVICE, DET_INTERVAL_MS, DET_TIMEOUT_MS, DET_RISE, DET_FALL);
	snprintf(state, sizeof(state), "%s/health-detect-vip.conf", b->tmp);
	err = bench_write_text(state, text, len);
	if (!err)
		err = srv_add(srv, NULL, DET_PORT);
	if (err)
		goto out;
	err = -EIO;
	if (bench_xlbd_run(b, state) < 0)
		goto out;
	err = detect(d, FAIL_NO_DECAP, ms, act);
	if (err)
		goto out;
	summarize(ms, DET_FAILURES, &f->median[0], &f->p90[0], &f->max[0]);
	summarize(act, DET_FAILURES, &f->act_median[0], &unused, &unused);
	f->ok[0] = true;
out:
	bench_xlbd_end(b, err);
	srv_close_listeners(srv);
	free(d);
	return err;
}

/* The veth pair, the routes and decap go with the section's namespace. */
static int bench_vip_path(struct ctl_bench *b, struct srv *srv, struct det_figures *det,
			  struct cpu_figures *f)
{
	struct decap *decap = NULL;
	int err = vip_path_net();

	if (!err)
		err = vip_path_decap(&decap);
	if (!err)
		err = detection_vip(b, srv, bpf_map__fd(decap->maps.decap_addrs), det);
	if (!err && !bench_interrupted())
		err = bench_cpu(b, srv, f, true);
	decap__destroy(decap);
	return err;
}

/* ---- the section ------------------------------------------------------ */

/* A network namespace of the section's own, lo up: the fd of the one to go back to. */
static int netns_enter(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int old = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, err = 0;

	if (old < 0)
		return -errno;
	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		close(old);
		return err;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		err = -errno;
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	}
	if (fd >= 0)
		close(fd);
	if (err) {
		setns(old, CLONE_NEWNET);
		close(old);
		return err;
	}
	return old;
}

static void netns_leave(int old)
{
	if (setns(old, CLONE_NEWNET))
		fprintf(stderr, "bench: cannot go back to the bench's network namespace: %s\n",
			strerror(errno));
	close(old);
}

static void print_cpu(const char *label, const struct cpu_figures *f, bool target)
{
	double pct = f->user + f->sys;
	char name[128];

	printf("  %-44s %8.2f %8.2f %8.2f", label, pct, f->user, f->sys);
	if (target)
		printf("  (target <= %.0f%%) %s", CPU_TARGET_PCT,
		       pct <= CPU_TARGET_PCT ? "meets" : "MISSES");
	printf("\n");
	snprintf(name, sizeof(name), "xlbd CPU, %d backends: %s", CPU_BACKENDS, label);
	if (target)
		bench_record(SEC_HEALTH, name, pct, "% of a core", NAN, "<= %.0f%%: %s",
			     CPU_TARGET_PCT, bench_meets(pct <= CPU_TARGET_PCT));
	else
		bench_record(SEC_HEALTH, name, pct, "% of a core", NAN, "-");
}

static void print_after(const struct cpu_figures *f, bool http)
{
	printf("      %.0f connections/s accepted", f->accepted_s);
	if (http)
		printf(", %.0f answered 200", f->answered_s);
	printf("; then %u of %u up, %u down, %u whose last probe failed\n", f->end.up,
	       f->end.backends, f->end.down, f->end.failing);
}

static void record_detection(const char *label, const struct det_figures *d, int k, int lo)
{
	char name[128];

	snprintf(name, sizeof(name), "detection, %s: median", label);
	bench_record(SEC_HEALTH, name, d->median[k], "ms", NAN,
		     "expected %d-%d + the checker's tick", lo, lo + DET_INTERVAL_MS);
	snprintf(name, sizeof(name), "detection, %s: p90", label);
	bench_record(SEC_HEALTH, name, d->p90[k], "ms", NAN, "%d failures", DET_FAILURES);
	snprintf(name, sizeof(name), "detection, %s: max", label);
	bench_record(SEC_HEALTH, name, d->max[k], "ms", NAN, "-");
}

static void print_figures(const struct det_figures *d, const struct cpu_figures *f)
{
	static const char *const labels[] = { "port closed: connection refused",
					      "SYNs dropped (nftables): probe times out" };
	int lo[2] = { (DET_FALL - 1) * DET_INTERVAL_MS,
		      (DET_FALL - 1) * DET_INTERVAL_MS + DET_TIMEOUT_MS };

	printf("\nHealth checks (xlbd in a network namespace of the section's own; the backends "
	       "are the bench's\nsockets on 10.200.0.0/16, on lo)\n");
	if (d->ok[0]) {
		printf("  detection, ms: tcp check, interval %dms timeout %dms rise %d fall %d; "
		       "%d failures each,\n  spread over the interval, from the failure to "
		       "`health show -j` saying down\n",
		       DET_INTERVAL_MS, DET_TIMEOUT_MS, DET_RISE, DET_FALL, DET_FAILURES);
		printf("  %-44s %8s %8s %8s\n", "", "median", "p90", "max");
		for (int k = 0; k < 2; k++) {
			if (!d->ok[k]) {
				printf("  %-44s %8s\n", labels[k], "-");
				continue;
			}
			printf("  %-44s %8.1f %8.1f %8.1f  (expected %d-%d + the checker's tick)\n",
			       labels[k], d->median[k], d->p90[k], d->max[k], lo[k],
			       lo[k] + DET_INTERVAL_MS);
			record_detection(labels[k], d, k, lo[k]);
		}
		printf("  %-44s %8d           (interval x fall + timeout)\n",
		       "detection window", DET_INTERVAL_MS * DET_FALL + DET_TIMEOUT_MS);
		bench_record(SEC_HEALTH, "detection window", DET_INTERVAL_MS * DET_FALL + DET_TIMEOUT_MS,
			     "ms", NAN, "interval x fall + timeout");
		if (d->ok[1]) {
			printf("  %-44s %8.1f           (median; failures count from its exit)\n",
			       "  nft add element took", d->act_median[1]);
			bench_record(SEC_HEALTH, "detection, SYNs dropped: nft add element took",
				     d->act_median[1], "ms", NAN,
				     "median; failures count from its exit");
		}
	}
	if (!f[CPU_TCP].ok)
		return;
	printf("  xlbd CPU, %% of one core: %d backends, interval %dms timeout %dms, over %.0f s;\n"
	       "  on loopback both ends' TCP work counts as xlbd's system time\n",
	       CPU_BACKENDS, CPU_INTERVAL_MS, CPU_TIMEOUT_MS, f[CPU_TCP].seconds);
	printf("  %-44s %8s %8s %8s\n", "", "total", "user", "system");
	print_cpu("tcp checks (connect)", &f[CPU_TCP], true);
	print_after(&f[CPU_TCP], false);
	if (f[CPU_HTTP].ok) {
		print_cpu("http checks (GET /, expect 200)", &f[CPU_HTTP], true);
		print_after(&f[CPU_HTTP], true);
	}
	if (f[CPU_OFF].ok) {
		char label[64];

		snprintf(label, sizeof(label), "checks off (the daemon's floor, %.0f s)",
			 f[CPU_OFF].seconds);
		print_cpu(label, &f[CPU_OFF], false);
	}
}

static void print_vip_figures(const struct det_figures *d, const struct cpu_figures *f)
{
	static const char label[] = "via vip, decap gone: probe times out";
	int lo = (DET_FALL - 1) * DET_INTERVAL_MS + DET_TIMEOUT_MS;

	if (d->ok[0] || f[CPU_TCP].ok)
		printf("  via vip (probe program, veth, decap; both ends' work counts as xlbd's "
		       "system time):\n");
	if (d->ok[0]) {
		printf("  %-44s %8.1f %8.1f %8.1f  (expected %d-%d + the checker's tick)\n", label,
		       d->median[0], d->p90[0], d->max[0], lo, lo + DET_INTERVAL_MS);
		record_detection(label, d, 0, lo);
	}
	if (!f[CPU_TCP].ok)
		return;
	print_cpu("tcp checks via vip", &f[CPU_TCP], true);
	print_after(&f[CPU_TCP], false);
	if (f[CPU_HTTP].ok) {
		print_cpu("http checks via vip", &f[CPU_HTTP], true);
		print_after(&f[CPU_HTTP], true);
	}
}

int bench_health(void)
{
	struct det_figures det = { 0 };
	struct cpu_figures cpu[CPU_RUNS] = { 0 }, vip[CPU_RUNS] = { 0 };
	struct det_figures det_vip = { 0 };
	struct ctl_bench b;
	struct srv srv;
	int err, old_ns;

	err = bench_session_open(&b, "health check");
	if (err)
		return err;
	err = srv_init(&srv);
	if (err) {
		bench_session_close(&b);
		return err;
	}
	old_ns = netns_enter();
	if (old_ns < 0) {
		err = old_ns;
		fprintf(stderr, "bench: cannot create a network namespace: %s: health check "
				"figures skipped\n",
			strerror(-err));
		goto out;
	}
	err = ip("addr add " DIRECT_NET " dev lo");
	if (!err)
		err = bench_detection(&b, &srv, &det);
	if (!bench_interrupted()) {
		int ret = bench_cpu(&b, &srv, cpu, false);

		err = err ? err : ret;
	}
	if (!bench_interrupted() && bench_vip_path(&b, &srv, &det_vip, vip))
		fprintf(stderr, "bench: not every figure for checks via vip\n");
	if (det.ok[0] || cpu[CPU_TCP].ok)
		print_figures(&det, cpu);
	print_vip_figures(&det_vip, vip);
	netns_leave(old_ns);
out:
	srv_free(&srv);
	fflush(stdout);
	bench_session_close(&b);	/* re-raises a signal that came */
	if (det.ok[0] || cpu[CPU_TCP].ok)
		return 0;
	return err ? err : -EIO;
}
