/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Files that a crash leaves either old or new, never torn. */
#ifndef XLB_FILEIO_H
#define XLB_FILEIO_H

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
 * mkdir -p of the directories leading to path (not path itself), each new
 * one with mode: the socket's, the state file's and the pin dir's parents.
 * 0 or -errno.
 */
int mkdir_parents(const char *path, mode_t mode);

#endif /* XLB_FILEIO_H */
