// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbd: owns the balancer's maps, serves xlbctl. Stopping it leaves the
 * data plane running; `xlbctl detach` is how traffic stops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include "daemon.h"
#include "log.h"
#include "inspect.h"
#include "natsweep.h"
#include "tracer.h"
#include "metrics.h"
#include "prom.h"
#include "server.h"
#include "version.h"

/*
 * Kernel memory of the nat map (BPF_F_NO_PREALLOC) as the kernel charges it (the map's
 * memlock, measured on 6.18): 168 bytes per entry in use (element header, 40-byte key, 72-byte
 * value), allocated as flows come, and a 16-byte bucket per entry of -T from the start.
 */
#define NAT_ENTRY_BYTES		168
#define NAT_BUCKET_BYTES	16

static void usage(FILE *f)
{
	fprintf(f, "usage: xlbd [-s SOCKET] [-c STATE_FILE] [-p PIN_DIR] [-m METRICS_ADDR:PORT]\n"
		   "            [-b BIRD_FRAGMENT [-r RELOAD_COMMAND]] [-C CONNS] [-L SOURCES]\n"
		   "            [-T NAT_ENTRIES] [-N VIPS] [-B BACKENDS] [-f] [-v] [-V]\n"
		   "  -s SOCKET      control socket (default " XLBD_SOCKET_DEFAULT ")\n"
		   "  -c STATE_FILE  configuration, saved on every change (default "
		   XLBD_STATE_DEFAULT ")\n"
		   "  -p PIN_DIR     pinned maps and links (default " XLBD_PIN_DEFAULT ")\n"
		   "  -m ADDR:PORT   serve Prometheus metrics on http://ADDR:PORT/metrics\n"
		   "                 (127.0.0.1:9100, [::1]:9100; default: off)\n"
		   "  -b FILE        announce VIPs through BIRD: keep FILE, a bird.conf\n"
		   "                 fragment of static routes, up to date (default: off)\n"
		   "  -r COMMAND     make BIRD read it, run with /bin/sh -c after each change\n"
		   "                 (default '" BIRD_RELOAD_DEFAULT "')\n"
		   "  -C N           connection table entries (default %u, ~%u bytes each)\n"
		   "  -L N           rate-limited sources tracked (default %u, ~%u bytes each)\n"
		   "  -T N           NAT translation entries, two per flow (default %u, ~%u bytes\n"
		   "                 each as flows come, + %u per entry of N for the buckets)\n"
		   "  -N N           VIP ids (default %u)\n"
		   "  -B N           backend ids (default %u)\n"
		   "  -f             stay in the foreground\n"
		   "  -v             more logging (twice: debug, with libbpf's messages)\n"
		   "  -V             print the version and exit\n",
		XLB_CONNS_DEFAULT, XLB_CONN_BYTES, XLB_RATELIMIT_DEFAULT, XLB_RL_BYTES,
		XLB_NAT_DEFAULT, NAT_ENTRY_BYTES, NAT_BUCKET_BYTES, XLB_MAX_VIPS, XLB_MAX_BACKENDS);
}

/*
 * A table size option: a whole number in [min, max]. Maps are sized before
 * anything is loaded, so a bad size must stop the start here.
 */
static int parse_size(int opt, const char *arg, __u32 min, __u32 max, __u32 *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "xlbd: -%c %s: a number from %u to %u is needed\n", opt, arg, min,
			max);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Background mode: the parent returns only once the child serves the
 * socket (or failed), so `xlbd && xlbctl ...` never races the start.
 */
static int go_background(int *ready_fd)
{
	int pipefd[2];
	char c = 1;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pipefd[1]);
		exit(read(pipefd[0], &c, 1) == 1 && c == 0 ? 0 : 1);
	}
	close(pipefd[0]);
	setsid();
	*ready_fd = pipefd[1];
	return 0;
}

static void tell_parent(int *ready_fd, char status)
{
	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &status, 1) != 1)
		pr_warn("cannot report start-up to the parent\n");
	close(*ready_fd);
	*ready_fd = -1;
}

static int render_metrics(void *ctx, char **body, size_t *len)
{
	return prom_render(ctx, body, len);
}

/* The metrics endpoint and what it renders; both NULL without -m. */
struct exporter {
	struct metrics *http;
	struct prom *prom;
};

static int serve(struct daemon *d, struct server *srv, struct exporter *mx)
{
	struct epoll_event ev, events[8];
	struct signalfd_siginfo si;
	int ep, sfd, n, ret = 0;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		return -errno;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = sfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = server_fd(srv) };
	epoll_ctl(ep, EPOLL_CTL_ADD, server_fd(srv), &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = daemon_health_fd(d) };
	epoll_ctl(ep, EPOLL_CTL_ADD, daemon_health_fd(d), &ev);
	if (mx->http) {
		ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = metrics_fd(mx->http) };
		epoll_ctl(ep, EPOLL_CTL_ADD, metrics_fd(mx->http), &ev);
	}

	for (;;) {
		/* Conns walks and warm-ups go on in slices between events: no sleep meanwhile. */
		n = epoll_wait(ep, events, 8,
			       inspect_busy(d) || natsweep_busy(d) || daemon_busy(d) ? 0 :
			       tracer_running(d) ? TRACER_POLL_MS :
						   DAEMON_NEIGH_POLL_MS);
		daemon_tick(d);
		if (mx->prom)
			prom_tick(mx->prom);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.fd == server_fd(srv)) {
				server_dispatch(srv);
				continue;
			}
			if (events[i].data.fd == daemon_health_fd(d)) {
				daemon_health_dispatch(d);
				continue;
			}
			if (mx->http && events[i].data.fd == metrics_fd(mx->http)) {
				metrics_dispatch(mx->http);
				continue;
			}
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP)
				continue;
			pr_info("xlbd: signal %u, exiting; the data plane keeps running\n",
				si.ssi_signo);
			goto out;
		}
		/* Timeouts of idle clients are checked on every turn. */
		server_dispatch(srv);
	}
out:
	close(ep);
	close(sfd);
	return ret;
}

int main(int argc, char **argv)
{
	struct daemon_opts opts = {
		.socket = XLBD_SOCKET_DEFAULT,
		.state = XLBD_STATE_DEFAULT,
		.pin_dir = XLBD_PIN_DEFAULT,
	};
	int opt, verbose = 0, ready_fd = -1, ret;
	struct exporter mx = { 0 };
	const char *maddr = NULL;
	struct sockaddr_storage ss;
	bool foreground = false;
	struct server *srv;
	struct daemon d;
	socklen_t sslen;
	char err[128];

	while ((opt = getopt(argc, argv, "s:c:p:m:b:r:C:L:T:N:B:fvVh")) != -1) {
		switch (opt) {
		case 'C':
			if (parse_size(opt, optarg, XLB_CONNS_MIN, XLB_CONNS_MAX, &opts.conns))
				return 2;
			break;
		case 'L':
			if (parse_size(opt, optarg, XLB_RATELIMIT_MIN, XLB_RATELIMIT_MAX,
				       &opts.ratelimit_entries))
				return 2;
			break;
		case 'T':
			if (parse_size(opt, optarg, XLB_NAT_MIN, XLB_NAT_MAX, &opts.nat_entries))
				return 2;
			break;
		case 'N':
			if (parse_size(opt, optarg, 1, XLB_MAX_VIPS_LIMIT, &opts.max_vips))
				return 2;
			break;
		case 'B':
			/* Id 0 means "nobody": N ids are 1 .. N - 1. */
			if (parse_size(opt, optarg, 2, XLB_MAX_BACKENDS_LIMIT, &opts.max_backends))
				return 2;
			break;
		case 's':
			opts.socket = optarg;
			break;
		case 'c':
			opts.state = optarg;
			break;
		case 'p':
			opts.pin_dir = optarg;
			break;
		case 'm':
			/* Checked now: a typo must not cost a start of the whole daemon. */
			if (metrics_parse_addr(optarg, &ss, &sslen, err, sizeof(err))) {
				fprintf(stderr, "xlbd: -m %s: %s\n", optarg, err);
				return 2;
			}
			maddr = optarg;
			break;
		case 'b':
			if (!*optarg || optarg[strlen(optarg) - 1] == '/') {
				fprintf(stderr, "xlbd: -b %s: a file name is needed\n", optarg);
				return 2;
			}
			opts.bird_fragment = optarg;
			break;
		case 'r':
			if (!*optarg) {
				fprintf(stderr, "xlbd: -r: the reload command is empty\n");
				return 2;
			}
			opts.bird_reload = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("xlbd %s\n", XLB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (opts.bird_reload && !opts.bird_fragment) {
		fprintf(stderr, "xlbd: -r needs -b: there is nothing to reload without a fragment\n");
		usage(stderr);
		return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "xlbd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	log_set_level(verbose >= 2 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_WARN);
	log_hook_libbpf();
	signal(SIGPIPE, SIG_IGN);

	if (!foreground && go_background(&ready_fd)) {
		fprintf(stderr, "xlbd: cannot go to the background: %s\n", strerror(errno));
		return 1;
	}
	if (daemon_start(&d, &opts)) {
		tell_parent(&ready_fd, 1);
		return 1;
	}
	ret = server_open(&srv, opts.socket, daemon_handle, &d);
	if (ret) {
		pr_warn("xlbd: cannot serve %s: %s%s\n", opts.socket, strerror(-ret),
			ret == -EADDRINUSE ? " (another xlbd is running there)" : "");
		daemon_stop(&d);
		tell_parent(&ready_fd, 1);
		return 1;
	}
	if (maddr) {
		ret = prom_open(&mx.prom, &d);
		if (!ret)
			ret = metrics_open(&mx.http, maddr, render_metrics, mx.prom);
		if (ret) {
			pr_warn("xlbd: cannot serve metrics on %s: %s\n", maddr, strerror(-ret));
			prom_close(mx.prom);
			server_close(srv);
			daemon_stop(&d);
			tell_parent(&ready_fd, 1);
			return 1;
		}
		pr_info("xlbd: metrics on http://%s/metrics\n", maddr);
	}
	pr_info("xlbd: serving %s\n", opts.socket);
	tell_parent(&ready_fd, 0);
	ret = serve(&d, srv, &mx);
	metrics_close(mx.http);
	prom_close(mx.prom);
	server_close(srv);
	daemon_stop(&d);
	return ret ? 1 : 0;
}
