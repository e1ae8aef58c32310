// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control plane as an operator meets it: the real build/xlbd with its
 * own socket, state file and pin dir, driven over its Unix socket (the
 * daemon's round trip alone, what xlbctl's connect-to-exit costs minus the
 * process) and through build/xlbctl itself (a process start per command,
 * what a script pays).
 *
 * Everything lives in a temporary directory and /sys/fs/bpf/xlb-bench-PID,
 * both removed at the end whatever happened; xlbd gets SIGTERM when the
 * bench dies (PR_SET_PDEATHSIG), and SIGINT/SIGTERM to the bench stop the
 * section and clean up before the signal takes its course.
 *
 * The bench runs in the fixture's private network namespace. Backend
 * addresses (172.16.0.0/12) have no route there, so the daemon's neighbour
 * warm-up, one datagram per configured backend after every `backend add`,
 * fails at once instead of queueing ARP: its cost here is a lower bound.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include "bench.h"
#include "daemon.h"
#include "proto.h"

#define RT_CALLS		1000	/* backend add round trips per figure */
#define RT_BIG_CALLS		200	/* the same into the large configuration */
#define VIP_CALLS		20	/* vip add round trips (each waits for the kernel) */
#define BIG_START_TARGET_MS	1000	/* fresh pins, issue 13 */
#define BIG_VIPS		1000
#define BIG_BACKENDS		10
#define WRITE_CALLS		50	/* state_write() of one file */
#define READY_TIMEOUT_MS	120000.0
#define READY_POLL_US		1000	/* how late "ready" may be noticed */
#define REQUEST_TIMEOUT_S	120
#define STOP_TIMEOUT_MS		10000

/* Services of the round-trip daemon: one grows by the wire, one through xlbctl. */
#define RT_VIP_WIRE		"10.63.0.1:80/tcp"
#define RT_VIP_XLBCTL		"10.63.0.2:80/tcp"
/* First VIP of bench_config_text(), and a backend it does not have. */
#define BIG_VIP			"10.64.0.1:80/tcp"
#define BIG_EXTRA_BACKEND	"172.26.0.1"

/* Sections of the results file (bench_record). */
#define SEC_RT			"control plane"
#define SEC_BIG			"control plane, 1000 VIPs x 10 backends"

/* The signal that stopped the section, 0 while none has. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

char *bench_config_text(size_t n_vips, size_t n_backends, size_t *len)
{
	/* The longest line, "backend add 10.64.255.255:80/tcp 172.31.255.255 weight 1", fits. */
	size_t cap = (n_vips * (n_backends + 1) + 1) * 96, off = 0, k = 0;
	char *text = malloc(cap);

	if (!text)
		return NULL;
	text[0] = '\0';
	for (size_t i = 1; i <= n_vips; i++) {
		unsigned int a = 64 + (i >> 16), b = (i >> 8) & 255, c = i & 255;

		off += snprintf(text + off, cap - off,
				"vip add 10.%u.%u.%u:80/tcp method ipip hash 5tuple ring %u\n", a, b, c,
				XLB_RING_DEFAULT);
		for (size_t j = 0; j < n_backends; j++) {
			k++;
			off += snprintf(text + off, cap - off,
					"backend add 10.%u.%u.%u:80/tcp 172.%u.%u.%u weight 1\n", a, b,
					c, (unsigned int)(16 + (k >> 16)), (unsigned int)(k >> 8) & 255,
					(unsigned int)k & 255);
		}
	}
	*len = off;
	return text;
}

static void tmp_path(const struct ctl_bench *b, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", b->tmp, name);
}

static int write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

static char *read_text(const char *path, size_t *len)
{
	struct stat st;
	char *text = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (!fstat(fd, &st) && (text = malloc(st.st_size + 1))) {
		if (read(fd, text, st.st_size) == st.st_size) {
			text[st.st_size] = '\0';
			*len = st.st_size;
		} else {
			free(text);
			text = NULL;
		}
	}
	close(fd);
	return text;
}

/* ---- xlbd ------------------------------------------------------------- */

/* Fork and exec xlbd in the foreground on `state`, its output to the log. */
static int xlbd_start(struct ctl_bench *b, const char *state)
{
	pid_t parent = getpid(), pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(b->xlbd, "xlbd", "-f", "-s", b->sock, "-c", state, "-p", b->pins,
		      (char *)NULL);
		_exit(127);
	}
	b->pid = pid;
	return 0;
}

static bool xlbd_alive(struct ctl_bench *b)
{
	int status;

	if (!b->pid)
		return false;
	if (waitpid(b->pid, &status, WNOHANG) == 0)
		return true;
	b->pid = 0;
	return false;
}

/* SIGTERM, as systemd stops it; SIGKILL if it does not go. Returns ms to exit. */
static double xlbd_stop(struct ctl_bench *b)
{
	double t0 = now_ms();
	int status;
	pid_t r;

	if (!b->pid)
		return 0;
	kill(b->pid, SIGTERM);
	do {
		r = waitpid(b->pid, &status, WNOHANG);
		if (r == 0)
			usleep(READY_POLL_US);
	} while (r == 0 && now_ms() - t0 < STOP_TIMEOUT_MS);
	if (r == 0) {
		fprintf(stderr, "bench: xlbd %d ignored SIGTERM, killing it\n", (int)b->pid);
		kill(b->pid, SIGKILL);
		while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	b->pid = 0;
	return now_ms() - t0;
}

/* Unpin everything xlbd pinned: its maps go once nothing holds them. */
static void pins_remove(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/*
 * Pin dirs of benches that were killed outright: their pinned maps (over
 * 500 MiB with the large configuration) stay in the kernel until unpinned.
 */
static void stale_pins_remove(void)
{
	DIR *d = opendir("/sys/fs/bpf");
	char path[PATH_MAX];
	struct dirent *e;
	int pid, end;

	if (!d)
		return;
	while ((e = readdir(d))) {
		end = 0;
		if (sscanf(e->d_name, "xlb-bench-%d%n", &pid, &end) != 1 || pid <= 0 ||
		    e->d_name[end] || !kill(pid, 0) || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", e->d_name);
		pins_remove(path);
	}
	closedir(d);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void show_log(const struct ctl_bench *b)
{
	size_t len;
	char *text = read_text(b->log, &len);

	if (text && len)
		fprintf(stderr, "bench: xlbd's log:\n%s", text);
	free(text);
}

/*
 * One command over the wire protocol, as xlbctl sends it (as `xlbctl -j` when
 * json). 0 with *status set (and as much of the reply's text as fits in
 * msg), or -errno when no reply came.
 */
static int request_as(const char *sock, bool json, int argc, char **argv, int *status,
		      char *msg, size_t msglen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = REQUEST_TIMEOUT_S };
	size_t req_len, len = 0, cap = 0, off = 0, body_len;
	char *req = NULL, *reply = NULL, *tmp;
	const char *body;
	int fd, err;
	ssize_t n;

	err = proto_request_encode(argc, argv, json, &req, &req_len);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out_free;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
	/* A daemon that hangs must not hang the bench. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		goto out_close;
	}
	while (off < req_len) {
		n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
		if (n < 0) {
			err = -errno;
			goto out_close;
		}
		off += n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			tmp = realloc(reply, cap);
			if (!tmp) {
				err = -ENOMEM;
				goto out_close;
			}
			reply = tmp;
		}
		n = read(fd, reply + len, cap - len);
		if (n < 0) {
			err = -errno;
			goto out_close;
		}
		if (n == 0)
			break;
		len += n;
	}
	err = proto_reply_decode(reply, len, status, &body, &body_len);
	if (!err && msg && msglen) {
		size_t m = body_len < msglen - 1 ? body_len : msglen - 1;

		memcpy(msg, body, m);
		msg[m] = '\0';
	}
out_close:
	close(fd);
out_free:
	free(reply);
	free(req);
	return err;
}

static int request(const char *sock, int argc, char **argv, int *status, char *msg,
		   size_t msglen)
{
	return request_as(sock, false, argc, argv, status, msg, msglen);
}

/* A request that must succeed; says why on stderr when it does not. */
static int request_ok(const struct ctl_bench *b, int argc, char **argv)
{
	char msg[256] = "";
	int ret, status;

	ret = request(b->sock, argc, argv, &status, msg, sizeof(msg));
	if (ret) {
		fprintf(stderr, "bench: %s %s: no reply from xlbd: %s\n", argv[0],
			argc > 1 ? argv[1] : "", strerror(-ret));
		return ret;
	}
	if (status) {
		fprintf(stderr, "bench: %s %s: xlbd says (%d): %.*s\n", argv[0],
			argc > 1 ? argv[1] : "", status, (int)strcspn(msg, "\n"), msg);
		return -EPROTO;
	}
	return 0;
}

/* xlbctl -s SOCK args...: its exit status, or -errno if it could not run. */
static int xlbctl(const struct ctl_bench *b, int argc, char **args)
{
	char *argv[16] = { "xlbctl", "-s", (char *)b->sock };
	posix_spawn_file_actions_t fa;
	int err, status;
	pid_t pid;

	if (argc > 12)
		return -E2BIG;
	memcpy(argv + 3, args, argc * sizeof(*args));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	/* posix_spawn() is vfork-like: the bench's large memory is not copied. */
	err = posix_spawn(&pid, b->xlbctl, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Until xlbd answers `status`: ms since t0, or -1 if it died or never did. */
static double xlbd_wait_ready(struct ctl_bench *b, double t0)
{
	char *argv[] = { "status" };
	int status;

	while (!interrupted && now_ms() - t0 < READY_TIMEOUT_MS) {
		if (!request(b->sock, 1, argv, &status, NULL, 0) && status == 0)
			return now_ms() - t0;
		if (!xlbd_alive(b)) {
			fprintf(stderr, "bench: xlbd exited before it served %s\n", b->sock);
			show_log(b);
			return -1;
		}
		usleep(READY_POLL_US);
	}
	fprintf(stderr, "bench: xlbd did not answer on %s%s\n", b->sock,
		interrupted ? " (interrupted)" : " in time");
	return -1;
}

/* What xlbd says it holds: a figure of a start that loaded less would be a lie. */
static int xlbd_check_holds(const struct ctl_bench *b, size_t vips, size_t backends)
{
	char *argv[] = { "status" }, body[4096] = "";
	unsigned long long v = 0, n = 0;
	const char *p;
	int status;

	if (request(b->sock, 1, argv, &status, body, sizeof(body)) || status)
		return -EIO;
	p = strstr(body, "\nvips ");
	if (!p || sscanf(p, "\nvips %llu backends %llu", &v, &n) != 2 || v != vips ||
	    n != backends) {
		fprintf(stderr, "bench: xlbd holds %llu VIPs and %llu backends, not %zu and %zu\n",
			v, n, vips, backends);
		return -EPROTO;
	}
	return 0;
}

/* Start xlbd on `state` with the pins as they are; ms from fork to ready, or -1. */
static double xlbd_run(struct ctl_bench *b, const char *state)
{
	double t0 = now_ms();
	int err = xlbd_start(b, state);

	if (err) {
		fprintf(stderr, "bench: cannot start %s: %s\n", b->xlbd, strerror(-err));
		return -1;
	}
	return xlbd_wait_ready(b, t0);
}

/* ---- figures ------------------------------------------------------------ */

struct spread {
	double median, p99, max;
};

/* Sorts ms. p99: the smallest value that 99% of the calls do not exceed. */
static struct spread spread_of(double *ms, size_t n)
{
	qsort(ms, n, sizeof(*ms), cmp_double);
	return (struct spread){
		.median = ms[n / 2],
		.p99 = ms[(n * 99 + 99) / 100 - 1],
		.max = ms[n - 1],
	};
}

static double median_of(const double *ms, size_t n)
{
	double *copy = malloc(n * sizeof(*copy)), m;

	if (!copy)
		return 0;
	memcpy(copy, ms, n * sizeof(*copy));
	m = spread_of(copy, n).median;
	free(copy);
	return m;
}

/* Median, p99 and max into the results: three figures. */
static void record_spread(const char *section, const char *label, const struct spread *s,
			  bool target, const char *note)
{
	char name[128];

	snprintf(name, sizeof(name), "%s, median", label);
	bench_record(section, name, s->median, "ms", NAN, "%s", note ? note : "-");
	snprintf(name, sizeof(name), "%s, p99", label);
	if (target)
		bench_record(section, name, s->p99, "ms", NAN, "p99 <= 5 ms: %s",
			     bench_meets(s->p99 <= 5.0));
	else
		bench_record(section, name, s->p99, "ms", NAN, "-");
	snprintf(name, sizeof(name), "%s, max", label);
	bench_record(section, name, s->max, "ms", NAN, "-");
}

/* One line of figures; recorded in section under the name `name`. */
static void print_spread(const char *label, const struct spread *s, bool target,
			 const char *section, const char *name)
{
	printf("  %-44s %8.3f %8.3f %8.3f", label, s->median, s->p99, s->max);
	if (target)
		printf("  (target p99 <= 5 ms) %s", s->p99 <= 5.0 ? "meets" : "MISSES");
	printf("\n");
	record_spread(section, name, s, target, NULL);
}

static const char *fs_name(const char *path)
{
	struct statfs sfs;

	if (statfs(path, &sfs))
		return "?";
	switch (sfs.f_type) {
	case 0xef53:
		return "ext4";
	case 0x01021994:
		return "tmpfs";
	case 0x58465342:
		return "xfs";
	case 0x9123683e:
		return "btrfs";
	case 0x794c7630:
		return "overlayfs";
	default:
		return "other";
	}
}

/*
 * What the background rewrite of the whole state file costs (state_write() of its text, n
 * times): a command no longer waits for it, only for its log line (ctl/statelog.h).
 */
static int time_state_write(const struct ctl_bench *b, const char *state, struct spread *s,
			    size_t *bytes)
{
	double ms[WRITE_CALLS];
	char probe[128];
	size_t len;
	char *text = read_text(state, &len);
	int err = 0;

	if (!text)
		return -errno;
	tmp_path(b, "probe.conf", probe, sizeof(probe));
	for (int i = 0; i < WRITE_CALLS && !err; i++) {
		double t0 = now_ms();

		err = state_write(probe, text, len);
		ms[i] = now_ms() - t0;
	}
	free(text);
	unlink(probe);
	if (err)
		return err;
	*s = spread_of(ms, WRITE_CALLS);
	*bytes = len;
	return 0;
}

/* ---- backend add round trips ------------------------------------------ */

/*
 * Two VIPs grow from 0 to RT_CALLS backends each, one add at a time, the
 * wire and xlbctl taking turns: both see the same configuration size.
 */

/* Every section's way out: the daemon's log on failure, then nothing left behind. */
static void session_end(struct ctl_bench *b, int err)
{
	if (err && !interrupted)
		show_log(b);
	xlbd_stop(b);
	pins_remove(b->pins);
}

static int bench_round_trips(struct ctl_bench *b)
{
	double *wire = calloc(RT_CALLS, sizeof(*wire));
	double *spawned = calloc(RT_CALLS, sizeof(*spawned));
	char state[128], addr[32], vip_cmd[] = "vip", add[] = "add", backend[] = "backend";
	char wire_vip[] = RT_VIP_WIRE, xlbctl_vip[] = RT_VIP_XLBCTL;
	double early_wire, late_wire, early_spawn, late_spawn, vips[VIP_CALLS];
	struct spread s_wire, s_spawn, s_write, s_vip;
	char note[64];
	size_t bytes;
	int err = -ENOMEM, i;

	tmp_path(b, "rt.conf", state, sizeof(state));
	if (!wire || !spawned)
		goto out;
	err = -EIO;
	if (xlbd_run(b, state) < 0)
		goto out;
	if (request_ok(b, 3, (char *[]){ vip_cmd, add, wire_vip }) ||
	    request_ok(b, 3, (char *[]){ vip_cmd, add, xlbctl_vip }))
		goto out;
	for (i = 0; i < RT_CALLS && !interrupted; i++) {
		double t0;
		int ret;

		snprintf(addr, sizeof(addr), "172.24.%d.%d", (i + 1) >> 8, (i + 1) & 255);
		t0 = now_ms();
		ret = request_ok(b, 4, (char *[]){ backend, add, wire_vip, addr });
		wire[i] = now_ms() - t0;
		if (ret)
			goto out;

		snprintf(addr, sizeof(addr), "172.25.%d.%d", (i + 1) >> 8, (i + 1) & 255);
		t0 = now_ms();
		ret = xlbctl(b, 4, (char *[]){ backend, add, xlbctl_vip, addr });
		spawned[i] = now_ms() - t0;
		if (ret) {
			fprintf(stderr, "bench: xlbctl backend add %s %s: %s %d\n", xlbctl_vip,
				addr, ret < 0 ? "cannot run it, error" : "exit status",
				ret < 0 ? -ret : ret);
			goto out;
		}
	}
	/* A new VIP installs its ring in the outer array of maps. */
	for (i = 0; i < VIP_CALLS && !interrupted; i++) {
		double t0;

		snprintf(addr, sizeof(addr), "10.63.1.%d:80/tcp", i + 1);
		t0 = now_ms();
		if (request_ok(b, 3, (char *[]){ vip_cmd, add, addr }))
			goto out;
		vips[i] = now_ms() - t0;
	}
	if (interrupted)
		goto out;
	s_vip = spread_of(vips, VIP_CALLS);
	err = time_state_write(b, state, &s_write, &bytes);
	if (err) {
		fprintf(stderr, "bench: cannot time the state file write: %s\n", strerror(-err));
		goto out;
	}
	early_wire = median_of(wire, 100);
	late_wire = median_of(wire + RT_CALLS - 100, 100);
	early_spawn = median_of(spawned, 100);
	late_spawn = median_of(spawned + RT_CALLS - 100, 100);
	s_wire = spread_of(wire, RT_CALLS);
	s_spawn = spread_of(spawned, RT_CALLS);

	printf("\nxlbctl backend add round trip, ms (%d calls; two VIPs grow from 0 to %d backends;\n"
	       "state file on %s; each change appended to its log and fdatasync'd)\n",
	       RT_CALLS, RT_CALLS, fs_name(b->tmp));
	printf("  %-44s %8s %8s %8s\n", "", "median", "p99", "max");
	print_spread("daemon round trip (wire protocol)", &s_wire, true, SEC_RT,
		     "backend add, daemon round trip (wire protocol)");
	print_spread("xlbctl command (posix_spawn to exit)", &s_spawn, true, SEC_RT,
		     "backend add, xlbctl command (posix_spawn to exit)");
	printf("  %-44s %8.3f %8.3f  (median of the first / last 100 calls)\n",
	       "  daemon round trip, 0-100 / 900-1000 backends", early_wire, late_wire);
	printf("  %-44s %8.3f %8.3f\n", "  xlbctl command, 0-100 / 900-1000 backends", early_spawn,
	       late_spawn);
	printf("  %-44s %8.3f %8.3f %8.3f  (%zu KiB, %d writes)\n",
	       "whole state file rewrite (background), at the end", s_write.median, s_write.p99,
	       s_write.max, bytes >> 10, WRITE_CALLS);
	printf("  %-44s %8.3f %8.3f %8.3f  (%d calls: p99 = max)\n",
	       "vip add, daemon round trip (wire)", s_vip.median, s_vip.p99, s_vip.max, VIP_CALLS);
	bench_record(SEC_RT, "backend add, daemon round trip, 0-100 backends, median", early_wire,
		     "ms", NAN, "of the first 100 calls");
	bench_record(SEC_RT, "backend add, daemon round trip, 900-1000 backends, median",
		     late_wire, "ms", NAN, "of the last 100 calls");
	bench_record(SEC_RT, "backend add, xlbctl command, 0-100 backends, median", early_spawn,
		     "ms", NAN, "of the first 100 calls");
	bench_record(SEC_RT, "backend add, xlbctl command, 900-1000 backends, median",
		     late_spawn, "ms", NAN, "of the last 100 calls");
	snprintf(note, sizeof(note), "%zu KiB, %d writes", bytes >> 10, WRITE_CALLS);
	record_spread(SEC_RT, "whole state file rewrite (background), at the end", &s_write, false,
		      note);
	snprintf(note, sizeof(note), "%d calls", VIP_CALLS);
	record_spread(SEC_RT, "vip add, daemon round trip (wire)", &s_vip, false, note);
	err = 0;
out:
	session_end(b, err);
	free(wire);
	free(spawned);
	return err;
}

/* ---- a large state file ----------------------------------------------- */

struct big_figures {
	double start_ms, restart_ms, stop_ms, restore_ms;
	struct spread add, del, write;
	size_t bytes;
	long long maps, rings;
};

/* backend add and del of one more backend into the large configuration, in turn. */
static int big_round_trips(struct ctl_bench *b, struct big_figures *f)
{
	char backend[] = "backend", add[] = "add", del[] = "del", vip[] = BIG_VIP;
	char extra[] = BIG_EXTRA_BACKEND;
	double adds[RT_BIG_CALLS], dels[RT_BIG_CALLS];

	for (int i = 0; i < RT_BIG_CALLS && !interrupted; i++) {
		double t0 = now_ms();

		if (request_ok(b, 4, (char *[]){ backend, add, vip, extra }))
			return -EIO;
		adds[i] = now_ms() - t0;
		t0 = now_ms();
		if (request_ok(b, 4, (char *[]){ backend, del, vip, extra }))
			return -EIO;
		dels[i] = now_ms() - t0;
	}
	if (interrupted)
		return -EINTR;
	f->add = spread_of(adds, RT_BIG_CALLS);
	f->del = spread_of(dels, RT_BIG_CALLS);
	return 0;
}

static int bench_state_file(struct ctl_bench *b)
{
	char input[128], state[128], empty[128], restore[] = "restore", note[64];
	struct big_figures f = { 0 };
	size_t len, lines = BIG_VIPS * (BIG_BACKENDS + 1);
	char *text = bench_config_text(BIG_VIPS, BIG_BACKENDS, &len);
	int err = -ENOMEM, ret;

	if (!text)
		goto out;
	/* The daemon rewrites its state file; restore reads an untouched copy. */
	tmp_path(b, "big-input.conf", input, sizeof(input));
	tmp_path(b, "big.conf", state, sizeof(state));
	tmp_path(b, "empty.conf", empty, sizeof(empty));
	err = write_text(input, text, len);
	if (!err)
		err = write_text(state, text, len);
	if (err) {
		fprintf(stderr, "bench: cannot write %s: %s\n", state, strerror(-err));
		goto out;
	}
	err = -EIO;

	/* Fresh pins: everything is created and written. */
	f.start_ms = xlbd_run(b, state);
	if (f.start_ms < 0 || xlbd_check_holds(b, BIG_VIPS, BIG_VIPS * BIG_BACKENDS))
		goto out;
	if (big_round_trips(b, &f))
		goto out;
	ret = time_state_write(b, state, &f.write, &f.bytes);
	if (!ret)
		ret = bench_pins_memlock(b->pins, &f.maps, &f.rings);
	if (ret) {
		fprintf(stderr, "bench: %s\n", strerror(-ret));
		goto out;
	}
	/* Same file, pins kept: the maps are adopted, as after an upgrade. */
	f.stop_ms = xlbd_stop(b);
	f.restart_ms = xlbd_run(b, state);
	if (f.restart_ms < 0 || xlbd_check_holds(b, BIG_VIPS, BIG_VIPS * BIG_BACKENDS))
		goto out;
	xlbd_stop(b);
	pins_remove(b->pins);

	/* An empty daemon on fresh pins, then the whole file in one transaction. */
	if (xlbd_run(b, empty) < 0)
		goto out;
	f.restore_ms = now_ms();
	ret = xlbctl(b, 2, (char *[]){ restore, input });
	f.restore_ms = now_ms() - f.restore_ms;
	if (ret) {
		fprintf(stderr, "bench: xlbctl restore %s: %s %d\n", input,
			ret < 0 ? "cannot run it, error" : "exit status", ret < 0 ? -ret : ret);
		goto out;
	}
	if (xlbd_check_holds(b, BIG_VIPS, BIG_VIPS * BIG_BACKENDS))
		goto out;

	printf("\nState file of %d VIPs x %d backends (%zu lines, %zu KiB, ring %u slots)\n",
	       BIG_VIPS, BIG_BACKENDS, lines, len >> 10, XLB_RING_DEFAULT);
	printf("  %-44s %8.1f ms  (fork/exec to `status` answered; target <= %d ms) %s\n",
	       "xlbd start, fresh pins", f.start_ms, BIG_START_TARGET_MS,
	       f.start_ms <= BIG_START_TARGET_MS ? "meets" : "MISSES");
	printf("  %-44s %8.1f ms  (SIGTERM to exit: %.1f ms)\n",
	       "xlbd restart, pins adopted", f.restart_ms, f.stop_ms);
	printf("  %-44s %8.1f ms  (posix_spawn to exit)\n",
	       "xlbctl restore FILE into an empty daemon", f.restore_ms);
	printf("  %-44s %8s %8s %8s\n", "into this configuration, ms", "median", "p99", "max");
	print_spread("daemon round trip, backend add (wire)", &f.add, true, SEC_BIG,
		     "backend add, daemon round trip (wire)");
	print_spread("daemon round trip, backend del (wire)", &f.del, false, SEC_BIG,
		     "backend del, daemon round trip (wire)");
	printf("  %-44s %8.3f %8.3f %8.3f  (%zu KiB, %d writes)\n",
	       "whole state file rewrite (background)", f.write.median, f.write.p99, f.write.max,
	       f.bytes >> 10, WRITE_CALLS);
	printf("  %-44s %8.1f MiB  (rings %.1f MiB; read from its pins)\n",
	       "memory locked by that xlbd's maps", (f.maps + f.rings) / 1048576.0,
	       f.rings / 1048576.0);
	bench_record(SEC_BIG, "xlbd start, fresh pins", f.start_ms, "ms", NAN,
		     "fork/exec to `status` answered; <= %d ms: %s", BIG_START_TARGET_MS,
		     bench_meets(f.start_ms <= BIG_START_TARGET_MS));
	bench_record(SEC_BIG, "xlbd restart, pins adopted", f.restart_ms, "ms", NAN,
		     "stop before it: %.1f ms", f.stop_ms);
	bench_record(SEC_BIG, "xlbctl restore FILE into an empty daemon", f.restore_ms, "ms", NAN,
		     "%zu lines, %zu KiB", lines, len >> 10);
	snprintf(note, sizeof(note), "%zu KiB, %d writes", f.bytes >> 10, WRITE_CALLS);
	record_spread(SEC_BIG, "whole state file rewrite (background)", &f.write, false, note);
	bench_record(SEC_BIG, "memory locked by that xlbd's maps", (f.maps + f.rings) / 1048576.0,
		     "MiB", NAN, "rings %.1f MiB", f.rings / 1048576.0);
	err = 0;
out:
	session_end(b, err);
	free(text);
	return err;
}

/* ---- setup ------------------------------------------------------------ */

/* xlbd and xlbctl are built next to the bench. */
static int find_binaries(struct ctl_bench *b)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if (snprintf(b->xlbd, sizeof(b->xlbd), "%s/xlbd", self) >= (int)sizeof(b->xlbd) ||
	    snprintf(b->xlbctl, sizeof(b->xlbctl), "%s/xlbctl", self) >= (int)sizeof(b->xlbctl))
		return -ENAMETOOLONG;
	if (access(b->xlbd, X_OK) || access(b->xlbctl, X_OK))
		return -errno;
	return 0;
}

/* ---- a session: what every section that runs xlbd needs (bench.h) ------ */

int bench_session_open(struct ctl_bench *b, const char *section)
{
	struct sigaction sa = { .sa_handler = on_signal };
	cpu_set_t cpus;
	int err;

	memset(b, 0, sizeof(*b));
	err = find_binaries(b);
	if (err) {
		fprintf(stderr, "bench: no xlbd/xlbctl next to the bench (%s): %s figures skipped\n",
			strerror(-err), section);
		return err;
	}
	snprintf(b->tmp, sizeof(b->tmp), "/tmp/xlb-bench.XXXXXX");
	if (!mkdtemp(b->tmp)) {
		err = -errno;
		fprintf(stderr, "bench: cannot create a temporary directory: %s\n", strerror(-err));
		return err;
	}
	snprintf(b->pins, sizeof(b->pins), "/sys/fs/bpf/xlb-bench-%d", (int)getpid());
	tmp_path(b, "xlbd.sock", b->sock, sizeof(b->sock));
	tmp_path(b, "xlbd.log", b->log, sizeof(b->log));
	stale_pins_remove();

	/* No SA_RESTART: a blocked read returns, the loops see the flag and clean up. */
	interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &b->old_int);
	sigaction(SIGTERM, &sa, &b->old_term);

	/* The packet figures ran on CPU 0 alone; xlbd and xlbctl get every CPU, as in use. */
	CPU_ZERO(&cpus);
	for (long i = 0; i < sysconf(_SC_NPROCESSORS_CONF) && i < CPU_SETSIZE; i++)
		CPU_SET(i, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	return 0;
}

void bench_session_close(struct ctl_bench *b)
{
	xlbd_stop(b);
	pins_remove(b->pins);
	nftw(b->tmp, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	sigaction(SIGINT, &b->old_int, NULL);
	sigaction(SIGTERM, &b->old_term, NULL);
	if (interrupted)
		raise(interrupted);
}

bool bench_interrupted(void)
{
	return interrupted;
}

double bench_xlbd_run(struct ctl_bench *b, const char *state)
{
	return xlbd_run(b, state);
}

void bench_xlbd_end(struct ctl_bench *b, int err)
{
	session_end(b, err);
}

int bench_request(const struct ctl_bench *b, bool json, int argc, char **argv, int *status,
		  char *msg, size_t msglen)
{
	return request_as(b->sock, json, argc, argv, status, msg, msglen);
}

int bench_request_ok(const struct ctl_bench *b, int argc, char **argv)
{
	return request_ok(b, argc, argv);
}

int bench_write_text(const char *path, const char *text, size_t len)
{
	return write_text(path, text, len);
}

void bench_control(void)
{
	struct ctl_bench b;

	if (bench_session_open(&b, "control plane"))
		return;
	bench_round_trips(&b);
	if (!interrupted)
		bench_state_file(&b);
	bench_session_close(&b);
}
