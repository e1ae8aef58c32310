// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control socket's server (server.c on the reqsrv.c engine), driven over a real Unix socket
 * in one process: clients that trickle or hold slots never lock an admin out, a client there is
 * no room for reads "xlbd is busy" rather than a reset, and a held call is answered later or
 * reported gone.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>
#include "check.h"

#include "output.h"
#include "proto.h"
#include "server.h"

struct harness {
	char dir[64];
	char path[108];
	struct server *s;
	bool hold;			/* the handler keeps every call */
	struct server_call *held[SERVER_MAX_CLIENTS + 1];
	int n_held;
	int gone;
};

static int handler(void *ctx, struct server_call *call, int argc, char **argv, struct out *o)
{
	struct harness *h = ctx;

	if (h->hold) {
		h->held[h->n_held] = server_hold(call, NULL, NULL);
		assert_non_null(h->held[h->n_held]);
		h->n_held++;
		return SERVER_HELD;
	}
	out_text(o, "ok %s\n", argc ? argv[0] : "");
	return 0;
}

static void count_gone(void *arg)
{
	((struct harness *)arg)->gone++;
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	strcpy(h->dir, "/tmp/xlb-test-server-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->path, sizeof(h->path), "%s/s.sock", h->dir);
	assert_int_equal(server_open(&h->s, h->path, handler, h), 0);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;

	server_close(h->s);
	rmdir(h->dir);
	free(h);
	return 0;
}

/* Let the server do what is ready, waiting up to ms for something to be. */
static void pump(struct harness *h, int ms)
{
	struct pollfd p = {.fd = server_fd(h->s), .events = POLLIN};

	poll(&p, 1, ms);
	assert_int_equal(server_dispatch(h->s), 0);
}

/* A connected client socket, pumping the server while its backlog is full. */
static int client(struct harness *h)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, i;

	strcpy(addr.sun_path, h->path);
	for (i = 0; i < 100; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fd >= 0);
		if (!connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			return fd;
		assert_int_equal(errno, EAGAIN);
		close(fd);
		pump(h, 10);
	}
	fail_msg("cannot connect: backlog stays full");
	return -1;
}

/* A whole request for argv[0..argc), the way xlbctl sends it. */
static int send_request(struct harness *h, int argc, char **argv)
{
	int fd = client(h);
	size_t len;
	char *req;

	assert_int_equal(proto_request_encode(argc, argv, false, &req, &len), 0);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	free(req);
	return fd;
}

/*
 * The reply up to EOF, pumping the server meanwhile (at most ~3 s). A reset is an error here:
 * it is what a client sees when the server closes with its request unread.
 */
static char *read_reply(struct harness *h, int fd, void (*between)(struct harness *))
{
	static char buf[4096];
	size_t len = 0;
	ssize_t n;

	for (int i = 0; i < 300; i++) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0) {
			len += n;
			continue;
		}
		if (errno != EAGAIN)
			fail_msg("reading the reply: %s", strerror(errno));
		if (between)
			between(h);
		pump(h, 10);
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static int tricklers[256];
static int n_tricklers;

/* One more byte from each trickler; those the server dropped reconnect. */
static void trickle(struct harness *h)
{
	for (int i = 0; i < n_tricklers; i++) {
		if (send(tricklers[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
			continue;
		close(tricklers[i]);
		tricklers[i] = client(h);
	}
}

/* Issue 14, row 7: 200 clients that never finish a request fill the table; status still works. */
static void test_tricklers_do_not_lock_out(void **state)
{
	struct harness *h = *state;
	char *argv[] = {"status"};
	char *reply;

	for (n_tricklers = 0; n_tricklers < 200; n_tricklers++) {
		tricklers[n_tricklers] = client(h);
		assert_int_equal(send(tricklers[n_tricklers], "x", 1, MSG_NOSIGNAL), 1);
		pump(h, 0);
	}
	for (int i = 0; i < 20; i++)
		pump(h, 1);
	reply = read_reply(h, send_request(h, 1, argv), trickle);
	assert_string_equal(reply, PROTO_VERSION " status=0\nok status\n");
	/* And again while they keep reconnecting. */
	trickle(h);
	reply = read_reply(h, send_request(h, 1, argv), trickle);
	assert_string_equal(reply, PROTO_VERSION " status=0\nok status\n");
	for (int i = 0; i < n_tricklers; i++)
		close(tricklers[i]);
}

/*
 * Issue 14, row 8: with every slot busy with a reply, a newcomer reads "xlbd is busy" (not a
 * reset); held calls are answered later, or reported gone when their client leaves.
 */
static void test_busy_and_held(void **state)
{
	struct harness *h = *state;
	int fds[SERVER_MAX_CLIENTS], i;
	char *argv[] = {"conns"};
	struct out *o;
	char *reply;

	h->hold = true;
	for (i = 0; i < SERVER_MAX_CLIENTS; i++) {
		fds[i] = send_request(h, 1, argv);
		while (h->n_held <= i)
			pump(h, 10);
	}
	reply = read_reply(h, send_request(h, 1, argv), NULL);
	assert_non_null(strstr(reply, " status=1\nxlbd is busy"));
	assert_int_equal(h->n_held, SERVER_MAX_CLIENTS);

	/* One held call answered late. */
	o = out_new(false);
	assert_non_null(o);
	out_text(o, "late\n");
	server_finish(h->held[0], 0, o);
	out_free(o);
	reply = read_reply(h, fds[0], NULL);
	assert_string_equal(reply, PROTO_VERSION " status=0\nlate\n");

	/* The others' clients leave: each held call hears of it once. */
	for (i = 1; i < SERVER_MAX_CLIENTS; i++) {
		h->held[i]->gone = count_gone;
		h->held[i]->arg = h;
		close(fds[i]);
	}
	for (i = 0; i < 50 && h->gone < SERVER_MAX_CLIENTS - 1; i++)
		pump(h, 10);
	assert_int_equal(h->gone, SERVER_MAX_CLIENTS - 1);

	/* Room again: a plain command is answered. */
	h->hold = false;
	reply = read_reply(h, send_request(h, 1, argv), NULL);
	assert_string_equal(reply, PROTO_VERSION " status=0\nok conns\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tricklers_do_not_lock_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_held, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
