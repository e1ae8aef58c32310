// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlbctl: checks the command locally, sends it to xlbd and prints the reply. Only help and
 * `decap attach|detach|prune` (backend hosts, which run no daemon) are done here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cmd.h"
#include "decap.h"
#include "fileio.h"
#include "output.h"
#include "proto.h"
#include "tracecli.h"
#include "version.h"

#define DEFAULT_SOCKET	"/run/xlb/xlbd.sock"
#define EXIT_USAGE	2

/*
 * One line about what went wrong here: "xlbctl: msg" on stderr, or {"error": "msg"} on stdout
 * in JSON mode, where scripts read it. Returns status, for `return fail(...)`.
 */
static int fail(bool json, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(bool json, int status, const char *fmt, ...)
{
	char msg[CMD_LINE_MAX], *esc;
	struct out *o = NULL;
	const char *data;
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json)
		o = out_new(true);
	if (!o) {
		/* A message may quote any word given or read: escaped, as xlbd's are. */
		esc = out_escape(msg, false);
		fprintf(stderr, "xlbctl: %s\n", esc ? esc : "out of memory");
		free(esc);
		return status;
	}
	out_error(o, "%s", msg);
	data = out_data(o, &len);
	fwrite(data, 1, len, stdout);
	out_free(o);
	return status;
}

/* Print o to f; its output error, if any, is the exit status's business. */
static int print_out(struct out *o, FILE *f)
{
	const char *data;
	size_t len;
	int err;

	err = out_err(o);
	if (err)
		return fail(out_is_json(o), 1, "%s", strerror(-err));
	data = out_data(o, &len);
	if (fwrite(data, 1, len, f) != len || fflush(f))
		return fail(out_is_json(o), 1, "cannot write the output: %s", strerror(errno));
	return 0;
}

static int print_help(bool json, const char *topic)
{
	const char *text = cmd_help(topic);
	struct out *o;
	int ret;

	if (!text)
		return fail(json, EXIT_USAGE, "no help on '%s', try 'xlbctl help'", topic);
	o = out_new(json);
	if (!o)
		return fail(json, 1, "%s", strerror(ENOMEM));
	/* Text as it is: out_str() would escape its newlines. */
	out_str(o, "help", NULL, text);
	out_text(o, "%s", text);
	ret = print_out(o, stdout);
	out_free(o);
	return ret;
}

/* Pins a decap command reclaimed: stderr for attach and detach, the report for prune. */
struct reclaim_report {
	struct out *o;		/* prune's report, NULL: one line on stderr each */
	unsigned int n;
};

static void on_reclaimed(const struct decap_reclaimed *r, void *ctx)
{
	struct reclaim_report *rep = ctx;

	rep->n++;
	if (!rep->o) {
		fprintf(stderr, "xlbctl: reclaimed %s: its interface is gone (XDP link %u, program "
			"%u)\n", r->pin, r->link_id, r->prog_id);
		return;
	}
	out_obj_open(rep->o, NULL);
	out_str(rep->o, "pin", "reclaimed %s", r->pin);
	out_u64(rep->o, "link_id", "  link %llu", r->link_id);
	out_u64(rep->o, "prog_id", "  program %llu\n", r->prog_id);
	out_obj_close(rep->o);
}

static int run_decap_prune(bool json)
{
	struct reclaim_report rep = { .o = out_new(json) };
	unsigned int live = 0;
	char err[256] = "";
	int ret;

	if (!rep.o)
		return fail(json, 1, "%s", strerror(ENOMEM));
	out_obj_open(rep.o, NULL);
	out_arr_open(rep.o, "reclaimed");
	ret = decap_prune(on_reclaimed, &rep, &live, err, sizeof(err));
	out_arr_close(rep.o);
	if (ret < 0) {
		out_free(rep.o);
		return fail(json, 1, "%s", err[0] ? err : strerror(-ret));
	}
	out_u64(rep.o, "reclaimed_count", "%llu stale pins reclaimed", rep.n);
	out_u64(rep.o, "attached_count", ", %llu decap links attached and left alone\n", live);
	out_obj_close(rep.o);
	ret = print_out(rep.o, stdout);
	out_free(rep.o);
	return ret;
}

static int run_decap(const struct cmd *cmd, bool json)
{
	struct reclaim_report rep = { 0 };
	char err[256] = "";
	int ret;

	if (cmd->op == CMD_DECAP_PRUNE)
		return run_decap_prune(json);
	if (cmd->op == CMD_DECAP_ATTACH)
		ret = decap_attach(cmd->ifname, cmd->gue_port, on_reclaimed, &rep, err, sizeof(err));
	else
		ret = decap_detach(cmd->ifname, on_reclaimed, &rep, err, sizeof(err));
	if (ret)
		return fail(json, 1, "%s", err[0] ? err : strerror(-ret));
	/* Like xlbd's answer to a change: nothing in text, an empty object in JSON. */
	if (json)
		fputs("{}\n", stdout);
	return 0;
}

/*
 * restore sends the file's content as one more argument: xlbd runs as another user, maybe in
 * another mount namespace, and must never open files on a client's behalf.
 */
static int read_restore_file(const struct cmd *cmd, bool json, char **content)
{
	const char *name = cmd->has & CMD_HAS_FILE ? cmd->file : "standard input";
	int fd = STDIN_FILENO, ret;
	char msg[128];

	if (cmd->has & CMD_HAS_FILE) {
		fd = open(cmd->file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(json, 1, "cannot open %s: %s", name, strerror(errno));
	}
	ret = file_read_text(fd, PROTO_MAX_REQUEST, content, msg, sizeof(msg));
	if (fd != STDIN_FILENO)
		close(fd);
	if (ret)
		return fail(json, 1, "%s: %s", name, msg);
	return 0;
}

/* Returns the socket, or -1 once the error is printed (*status says how to exit). */
static int connect_daemon(const char *path, bool json, int *status)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		*status = fail(json, EXIT_USAGE, "socket path too long: %s", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*status = fail(json, 1, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	if (!connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		return fd;
	err = errno;
	close(fd);
	if (err == ENOENT || err == ECONNREFUSED)
		*status = fail(json, 1, "cannot reach xlbd at %s: is it running?", path);
	else if (err == EACCES || err == EPERM)
		*status = fail(json, 1, "permission denied on %s: " PROTO_ACCESS_HINT, path);
	else
		*status = fail(json, 1, "cannot connect to xlbd at %s: %s", path, strerror(err));
	return -1;
}

/*
 * Send the whole request. xlbd may answer early and stop reading (a refused peer, a request too
 * large), and then the reply waiting on the socket says why: a broken pipe is not an error here.
 */
static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EPIPE || errno == ECONNRESET ? 0 : -errno;
		buf += n;
		len -= n;
	}
	return shutdown(fd, SHUT_WR) && errno != ENOTCONN ? -errno : 0;
}

/*
 * Encode the command, connect and send it: the connected socket, or -1 with
 * *status set after saying why.
 */
static int send_request(const char *path, bool json, int argc, char **argv, int *status)
{
	size_t req_len;
	char *req;
	int fd, ret;

	ret = proto_request_encode(argc, argv, json, &req, &req_len);
	if (ret == -E2BIG) {
		*status = fail(json, 1, "request too large (more than %u MiB)",
			       PROTO_MAX_REQUEST >> 20);
		return -1;
	}
	if (ret) {
		*status = fail(json, 1, "cannot encode the request: %s", strerror(-ret));
		return -1;
	}
	fd = connect_daemon(path, json, status);
	if (fd >= 0) {
		ret = send_all(fd, req, req_len);
		if (ret) {
			*status = fail(json, 1, "lost the connection to xlbd at %s: %s", path,
				       strerror(-ret));
			close(fd);
			fd = -1;
		}
	}
	free(req);
	return fd;
}

static int run_remote(const char *path, bool json, int argc, char **argv)
{
	size_t reply_len, body_len;
	char *reply = NULL;
	int fd, ret, status;
	const char *body;

	fd = send_request(path, json, argc, argv, &status);
	if (fd < 0)
		return status;
	ret = file_read_all(fd, PROTO_MAX_REPLY, &reply, &reply_len);
	close(fd);
	if (ret) {
		status = fail(json, 1, "lost the connection to xlbd at %s: %s", path,
			      strerror(-ret));
		goto out_free;
	}
	if (!reply_len) {
		status = fail(json, 1, "xlbd at %s closed the connection without a reply", path);
		goto out_free;
	}
	if (proto_reply_decode(reply, reply_len, &status, &body, &body_len)) {
		status = fail(json, 1, "malformed reply from xlbd at %s: is it the same version?",
			      path);
		goto out_free;
	}
	/* Scripts parse JSON from stdout whatever happened; a person wants errors on stderr. */
	fwrite(body, 1, body_len, json || status == 0 ? stdout : stderr);
	if (fflush(stdout))
		status = status ?: 1;
out_free:
	free(reply);
	return status;
}

/* restore: the same arguments and the file's content after them. */
static int run_restore(const char *path, bool json, const struct cmd *cmd, int argc, char **argv)
{
	char *content, **args;
	int status;

	status = read_restore_file(cmd, json, &content);
	if (status)
		return status;
	args = calloc(argc + 2, sizeof(*args));
	if (!args) {
		free(content);
		return fail(json, 1, "%s", strerror(ENOMEM));
	}
	memcpy(args, argv, argc * sizeof(*args));
	args[argc] = content;
	status = run_remote(path, json, argc + 1, args);
	free(args);
	free(content);
	return status;
}

/*
 * stats ... watch: the daemon's rates are per second, so ask once a second
 * until interrupted, redrawing in place on a terminal (JSON: one document
 * per line, for a pipe).
 */
static int run_watch(const char *path, bool json, int argc, char **argv)
{
	bool tty = !json && isatty(STDOUT_FILENO);
	int ret;

	for (;;) {
		if (tty)
			fputs("\033[H\033[2J", stdout);
		ret = run_remote(path, json, argc, argv);
		fflush(stdout);
		if (ret)
			return ret;
		sleep(1);
	}
}

/* trace: the reply is a stream, read and printed as it comes (tracecli.c). */
static int run_trace(const char *path, bool json, const struct cmd *cmd, int argc, char **argv)
{
	int fd, status;

	fd = send_request(path, json, argc, argv, &status);
	if (fd < 0)
		return status;
	status = tracecli_run(fd, json, cmd->has & CMD_HAS_FILE ? cmd->file : NULL);
	close(fd);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{},
	};
	const char *path = DEFAULT_SOCKET;
	char err[CMD_LINE_MAX];
	bool json = false;
	struct cmd cmd;
	int opt;

	/* Options end at the command, so that its words are never taken for ours. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:jhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			return print_help(json, NULL);
		case 'V':
			printf("xlbctl %s\n", XLB_VERSION);
			return 0;
		case ':':
			return fail(json, EXIT_USAGE, "option '%s' needs an argument",
				    argv[optind - 1]);
		default:
			if (optopt)
				return fail(json, EXIT_USAGE,
					    "unknown option '-%c', try 'xlbctl help'", optopt);
			return fail(json, EXIT_USAGE, "unknown option '%s', try 'xlbctl help'",
				    argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (!argc)
		return fail(json, EXIT_USAGE, "missing command, try 'xlbctl help'");
	if (cmd_parse(argc, argv, &cmd, err, sizeof(err)))
		return fail(json, EXIT_USAGE, "%s", err);

	switch (cmd.op) {
	case CMD_HELP:
		return print_help(json, cmd.topic);
	case CMD_DECAP_ATTACH:
	case CMD_DECAP_DETACH:
	case CMD_DECAP_PRUNE:
		return run_decap(&cmd, json);
	case CMD_RESTORE:
		return run_restore(path, json, &cmd, argc, argv);
	case CMD_TRACE:
		return run_trace(path, json, &cmd, argc, argv);
	case CMD_STATS:
		if (cmd.has & CMD_HAS_FLAG)
			return run_watch(path, json, argc, argv);
		return run_remote(path, json, argc, argv);
	default:
		return run_remote(path, json, argc, argv);
	}
}
