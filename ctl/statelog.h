/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state file's change log (FILE.log beside it). A command's change used to rewrite and
 * fsync the whole state file (592 KiB at 1000 VIPs x 10 backends: 1-1.6 ms median, 11-18 ms
 * when the disk is busy, the tail of `backend add`); it now appends one line of ~70 bytes and
 * fdatasyncs it, and the whole file is rewritten in the background now and then.
 *
 * Each line is "CRC BODY\n", CRC the crc32 of BODY in 8 hex digits:
 *   "+ LINE"       a change: LINE is the command's canonical line (cmd_format()), one that the
 *                  state file itself could hold, so that replaying is loading more lines;
 *   "= LEN FCRC"   a checkpoint: the state file with this content (length, crc32) holds every
 *                  change before this line. One is appended before each rewrite's rename.
 * The changes that apply are those after the last checkpoint naming the state file as it is;
 * a log with none names some other file (or one edited by hand) and applies to nothing. A line
 * without its newline or whose CRC does not match (a crash mid-append) ends the log there: a
 * change is applied whole or not at all.
 */
#ifndef XLB_STATELOG_H
#define XLB_STATELOG_H

#include <stdbool.h>
#include <stddef.h>
#include "cmd.h"

/* Longest line: a command line and the prefixes. */
#define STATELOG_LINE_MAX	(CMD_LINE_MAX + 16)

/* The log line of a change, line being a command's canonical line: its length or -ENOSPC. */
int statelog_change(const char *line, char *buf, size_t len);
/* The checkpoint line of a state file of this text: its length or -ENOSPC. */
int statelog_checkpoint(const char *text, size_t text_len, char *buf, size_t len);

/* What a log says about a state file (statelog_replay()). */
struct statelog_replay {
	char *lines;	/* the command lines to load after the state file's, NUL-terminated */
	size_t len;
	size_t changes;	/* how many */
	size_t valid;	/* bytes of the log up to its first torn or bad line */
	bool matched;	/* a checkpoint names the state file: the log applies to it */
	bool torn;	/* a line was cut short or its CRC did not match */
};

/* The changes of log (log_len bytes) that apply to the state file's text. 0 or -ENOMEM. */
int statelog_replay(const char *state, size_t state_len, const char *log, size_t log_len,
		    struct statelog_replay *r);
void statelog_replay_free(struct statelog_replay *r);

#endif /* XLB_STATELOG_H */
