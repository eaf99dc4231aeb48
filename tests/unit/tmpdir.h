/* SPDX-License-Identifier: MIT */
/*
 * tmpdir: a fresh directory per cmocka test (setup/teardown) and helpers to
 * write files into it with a given mode. Included by tests that touch files.
 */
#ifndef POSTERN_TEST_TMPDIR_H
#define POSTERN_TEST_TMPDIR_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct dir {
	char path[64];
};

static int tmpdir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/postern-test-XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int tmpdir_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tmpdir_teardown(void **state)
{
	struct dir *d = *state;
	int rc = nftw(d->path, tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(d);
	return rc == 0 ? 0 : -1;
}

static const char *in_dir(void **state, const char *name, char *buf, size_t size)
{
	const struct dir *d = *state;

	snprintf(buf, size, "%s/%s", d->path, name);
	return buf;
}

/* write_file(path, data, len, mode): replace ${path} with ${data}, then chmod ${mode}. */
static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

#endif
