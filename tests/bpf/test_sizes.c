// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Table sizes chosen by the operator (xlbd -C, -L, -N, -B) against maps
 * pinned by an earlier run of other sizes: the connection table is
 * recreated empty at its new size, a VIP or backend map of another size is
 * refused, and a refused start changes no pinned map.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "xlb.skel.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/xlb-test-sizes-%d", getpid());
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void test_resize_conns_refuse_backends(void **state)
{
	struct dp_opts o = { .max_vips = 4, .max_backends = 16, .conns = 1024, .pin_dir = dir };
	struct xlb_flow f = { .family = XLB_AF_INET, .proto = 6, .sport = 1 };
	struct xlb_conn c = { .backend_id = 3, .gen = 1, .vip_id = 1 };
	struct dp dp;

	if (access("/sys/fs/bpf", W_OK)) {
		print_message("no writable bpffs: cannot pin\n");
		skip();
	}
	assert_int_equal(dp_load(&dp, &o), 0);
	assert_int_equal(dp_conn_bind(&dp, &f, &c), 0);
	dp_unload(&dp);

	/* Another backend count: refused, and the connections stay pinned. */
	o.max_backends = 32;
	o.conns = 2048;
	assert_int_equal(dp_load(&dp, &o), -EEXIST);
	o.max_backends = 16;
	o.conns = 1024;
	assert_int_equal(dp_load(&dp, &o), 0);
	assert_int_equal(dp_conn_lookup(&dp, &f, &c), 0);
	assert_int_equal(c.backend_id, 3);
	dp_unload(&dp);

	/* Another connection table size: a new, empty table of that size. */
	o.conns = 2048;
	assert_int_equal(dp_load(&dp, &o), 0);
	assert_int_equal(dp_conn_max(&dp), 2048);
	assert_int_equal(dp_conn_lookup(&dp, &f, &c), -ENOENT);
	dp_unload(&dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resize_conns_refuse_backends),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
