// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "fileio.h"

static int write_all(int fd, const char *text, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += n;
	}
	return 0;
}

/*
 * Rename tmp over path unless err (or !keep): then tmp goes. fd is closed, or kept open in
 * *kept once renamed.
 */
static int file_end(int fd, int err, const char *tmp, const char *path, bool keep, int *kept)
{
	if (!err && keep && rename(tmp, path))
		err = -errno;
	if (err || !keep)
		unlink(tmp);
	if (!err && keep && kept)
		*kept = fd;
	else
		close(fd);
	return err;
}

int file_replace(int fd, const char *tmp, const char *path, const char *text, size_t len)
{
	int err = write_all(fd, text, len);

	if (!err && fsync(fd))
		err = -errno;
	return file_end(fd, err, tmp, path, true, NULL);
}

static void *fsync_thread(void *arg)
{
	struct file_write *w = arg;

	if (fsync(w->fd))
		w->err = -errno;
	return NULL;
}

int file_write_begin(struct file_write *w, int fd, const char *text, size_t len)
{
	w->fd = fd;
	w->err = write_all(fd, text, len);
	w->running = !w->err && !pthread_create(&w->thread, NULL, fsync_thread, w);
	/* No thread: the caller waits for the fsync here instead. */
	if (!w->err && !w->running)
		fsync_thread(w);
	return w->err;
}

int file_write_end(struct file_write *w, const char *tmp, const char *path, bool keep, int *kept)
{
	if (w->running)
		pthread_join(w->thread, NULL);
	w->running = false;
	return file_end(w->fd, w->err, tmp, path, keep, kept);
}

static void *later_thread(void *arg)
{
	struct file_later *l = arg;
	unsigned long want;
	int fd, err;

	pthread_mutex_lock(&l->lock);
	for (;;) {
		if (l->n_fds) {
			fd = l->fds[--l->n_fds];
			pthread_mutex_unlock(&l->lock);
			close(fd);
			pthread_mutex_lock(&l->lock);
		} else if (l->dir_want != l->dir_done) {
			want = l->dir_want;
			pthread_mutex_unlock(&l->lock);
			err = file_sync_dir(l->path);
			pthread_mutex_lock(&l->lock);
			l->dir_done = want;
			l->dir_err = err;
		} else if (l->stop) {
			break;
		} else {
			pthread_cond_wait(&l->cond, &l->lock);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

int file_later_start(struct file_later *l, const char *path)
{
	int err;

	memset(l, 0, sizeof(*l));
	l->path = path;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	err = -pthread_create(&l->thread, NULL, later_thread, l);
	l->running = !err;
	return err;
}

void file_later_close(struct file_later *l, int fd)
{
	bool queued = false;

	if (fd < 0)
		return;
	pthread_mutex_lock(&l->lock);
	if (l->running && l->n_fds < FILE_LATER_FDS) {
		l->fds[l->n_fds++] = fd;
		queued = true;
		pthread_cond_signal(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
	/* No thread, or it is that far behind: the caller waits instead. */
	if (!queued)
		close(fd);
}

unsigned long file_later_sync_dir(struct file_later *l)
{
	unsigned long ticket;
	int err;

	pthread_mutex_lock(&l->lock);
	ticket = ++l->dir_want;
	if (l->running) {
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->lock);
		return ticket;
	}
	pthread_mutex_unlock(&l->lock);
	err = file_sync_dir(l->path);
	pthread_mutex_lock(&l->lock);
	l->dir_done = ticket;
	l->dir_err = err;
	pthread_mutex_unlock(&l->lock);
	return ticket;
}

bool file_later_synced(struct file_later *l, unsigned long ticket, int *err)
{
	bool done;

	pthread_mutex_lock(&l->lock);
	done = l->dir_done >= ticket;
	*err = done ? l->dir_err : 0;
	pthread_mutex_unlock(&l->lock);
	return done;
}

void file_later_stop(struct file_later *l)
{
	if (l->running) {
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
	}
	for (size_t i = 0; i < l->n_fds; i++)
		close(l->fds[i]);
	l->n_fds = 0;
	l->running = false;
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
}

int file_sync_dir(const char *path)
{
	char dir[512];
	int dfd, err = 0;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd))
		err = -errno;
	close(dfd);
	return err;
}

int file_commit(int fd, const char *tmp, const char *path, const char *text, size_t len)
{
	int err = file_replace(fd, tmp, path, text, len);

	return err ? err : file_sync_dir(path);
}

int mkdir_parents(const char *path, mode_t mode)
{
	char buf[512], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Reads this large: a restore file of thousands of lines in a few calls. */
#define READ_CHUNK 65536

int file_read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t n = 0, cap = 0;
	char *buf = NULL, *tmp;
	ssize_t r;
	int err;

	for (;;) {
		if (cap - n < READ_CHUNK + 1) {
			cap = cap ? cap * 2 : READ_CHUNK * 2;
			tmp = realloc(buf, cap);
			if (!tmp) {
				err = -ENOMEM;
				goto err_free;
			}
			buf = tmp;
		}
		r = read(fd, buf + n, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		/*
		 * A socket's peer that closes with our data unread resets the connection after
		 * what it wrote (xlbd: "xlbd is busy"): that much is its whole answer.
		 */
		if (r < 0 && errno == ECONNRESET && n)
			break;
		if (r < 0) {
			err = -errno;
			goto err_free;
		}
		if (r == 0)
			break;
		n += r;
		if (n > max) {
			err = -E2BIG;
			goto err_free;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;

err_free:
	free(buf);
	return err;
}

int file_read_text(int fd, size_t max, char **out, char *msg, size_t msglen)
{
	const char *nul, *c;
	unsigned int line = 1;
	size_t len;
	int err;

	err = file_read_all(fd, max, out, &len);
	if (err == -E2BIG)
		snprintf(msg, msglen, "too large (more than %zu MiB)", max >> 20);
	else if (err)
		snprintf(msg, msglen, "cannot read it: %s", strerror(-err));
	if (err)
		return err;
	nul = memchr(*out, '\0', len);
	if (!nul)
		return 0;
	/* Lines are cut at the NUL otherwise: only what comes before it would be read. */
	for (c = *out; c < nul; c++)
		line += *c == '\n';
	snprintf(msg, msglen, "line %u: not a text file (it holds a NUL byte)", line);
	free(*out);
	*out = NULL;
	return -EILSEQ;
}
