// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* vasprintf */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "output.h"

/* A one-process setting, like the verbosity flag of any CLI tool. */
static enum log_level max_level = LOG_WARN;

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char *msg, *esc;

	if (level > max_level)
		return;
	/*
	 * Messages quote state file lines, interface names, a reload command's output: escaped
	 * for the terminal of xlbd -f, lines kept (libbpf's verifier log has many).
	 */
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	esc = out_escape(msg, true);
	if (esc)
		fputs(esc, stderr);
	free(esc);
	free(msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	log_vmsg(level == LIBBPF_WARN ? LOG_INFO : LOG_DEBUG, fmt, ap);
	return 0;
}

void log_hook_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
