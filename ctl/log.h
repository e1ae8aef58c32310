/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Levelled logging to stderr; libbpf's own messages come one level down. */
#ifndef XLB_LOG_H
#define XLB_LOG_H

enum log_level {
	LOG_WARN = 0,
	LOG_INFO = 1,
	LOG_DEBUG = 2,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route libbpf's messages through log_msg(), warnings as info, rest as debug. */
void log_hook_libbpf(void);

#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* XLB_LOG_H */
