/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Files that a crash leaves either old or new, never torn. */
#ifndef XLB_FILEIO_H
#define XLB_FILEIO_H

#include <pthread.h>
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
/*
 * file_replace() in two halves, so that the fsync, most of its time, overlaps other work:
 * file_write_begin() writes text to fd (a new file at tmp, as above) and has a thread fsync it;
 * file_write_end() waits for that fsync, closes fd and renames tmp over path if keep, or
 * removes tmp. path is untouched until then; file_write_end() is due after every begin, even
 * one that failed. 0 or -errno.
 *
 * With kept, a file renamed over path stays open: fd goes to *kept (untouched otherwise). The
 * rename frees the blocks of the file it replaces unless that is open too, and on ext4 with
 * discard that took 0.35 ms (median; 1-4 ms in the tail), as long as the fsync before it:
 * whoever holds the replaced file open can close it later, off the critical path
 * (file_later_close()).
 */
struct file_write {
	int fd;
	int err;		/* the write's or the fsync's */
	pthread_t thread;
	bool running;
};

int file_write_begin(struct file_write *w, int fd, const char *text, size_t len);
int file_write_end(struct file_write *w, const char *tmp, const char *path, bool keep, int *kept);

/*
 * A thread for the file work nobody needs to wait for: closing files that rename() replaced
 * (the close frees their blocks) and fsyncing the directory of `path` (whose renames are then on
 * disk). Without a thread (file_later_start() failed), each job is done at once by its caller.
 */
#define FILE_LATER_FDS	64

struct file_later {
	const char *path;		/* whose directory is fsync'd; outlives the thread */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fds[FILE_LATER_FDS];	/* to close */
	size_t n_fds;
	unsigned long dir_want, dir_done;	/* tickets of directory fsyncs */
	int dir_err;			/* the last one's */
	bool running, stop;
};

int file_later_start(struct file_later *l, const char *path);
/* fd closed by the thread (at once if its queue is full); -1 is ignored. */
void file_later_close(struct file_later *l, int fd);
/*
 * An fsync of path's directory, begun after this call: its ticket, for file_later_synced(),
 * true once it is done (*err its result: 0 or -errno). Every rename in it before the call is
 * then on disk.
 */
unsigned long file_later_sync_dir(struct file_later *l);
bool file_later_synced(struct file_later *l, unsigned long ticket, int *err);
/* The jobs queued are done, then the thread ends. */
void file_later_stop(struct file_later *l);

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
