/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Small assertion helpers shared by the cmocka suites (include after cmocka.h). */
#ifndef XLB_TESTS_CHECK_H
#define XLB_TESTS_CHECK_H

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fail with a message saying what was being checked, not only the expression. */
#define check(cond, msg, ...)                                       \
	do {                                                        \
		if (!(cond))                                        \
			fail_msg("%s: " msg, #cond, ##__VA_ARGS__); \
	} while (0)

/* Fail unless got holds exactly want, showing where they differ (needs pkt.h). */
#define check_bytes(got, got_len, want, want_len, what)                                  \
	do {                                                                             \
		if ((got_len) != (want_len) || memcmp((got), (want), (want_len))) {      \
			pkt_hexdump_diff((got), (got_len), (want), (want_len));          \
			fail_msg("%s: output bytes differ from the expected frame", what); \
		}                                                                        \
	} while (0)

#endif /* XLB_TESTS_CHECK_H */
