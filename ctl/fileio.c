// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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

int file_replace(int fd, const char *tmp, const char *path, const char *text, size_t len)
{
	int err = write_all(fd, text, len);

	if (!err && fsync(fd))
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	close(fd);
	return err;
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
