/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Files that a crash leaves either old or new, never torn. */
#ifndef XLB_FILEIO_H
#define XLB_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * fd is a new file at tmp, beside path (one file system): write text to it,
 * fsync it, close it, rename it over path and fsync path's directory, so the
 * data is on disk before the rename can make it visible and the rename is on
 * disk before the caller says it is saved. fd is always closed; tmp is
 * removed on failure. 0 or -errno.
 */
int file_commit(int fd, const char *tmp, const char *path, const char *text, size_t len);
/*
 * file_commit() up to the rename, without the directory's fsync: the file at
 * path is whole (old or new) after a crash of the process or of the machine,
 * and the new one is there after a crash of the process; a power loss before
 * file_sync_dir(path) may bring back the old one.
 */
int file_replace(int fd, const char *tmp, const char *path, const char *text, size_t len);
/* fsync path's directory: the last rename in it is on disk. 0 or -errno. */
int file_sync_dir(const char *path);

/*
 * mkdir -p of the directories leading to path (not path itself), each new
 * one with mode: the socket's, the state file's and the pin dir's parents.
 * 0 or -errno.
 */
int mkdir_parents(const char *path, mode_t mode);

/*
 * All of fd up to EOF, at most max bytes, in a new NUL-terminated buffer (*len without the NUL).
 * 0, -E2BIG beyond max (an endless file such as /dev/zero ends there), or the -errno of the
 * read that failed (-EISDIR for a directory): never a part of the file taken for all of it.
 */
int file_read_all(int fd, size_t max, char **out, size_t *len);

/*
 * A file of command lines (the state file, a restore file): file_read_all(), and text only.
 * On error msg says what is wrong in words that follow "FILE: ": "too large (more than
 * 16 MiB)", "line 3: not a text file (it holds a NUL byte)", or the read's error.
 */
int file_read_text(int fd, size_t max, char **out, char *msg, size_t msglen);

#endif /* XLB_FILEIO_H */
