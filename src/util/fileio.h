/* SPDX-License-Identifier: MIT */
/*
 * fileio: small blocking file helpers shared by the modules that write state
 * and key files (state/replay_file.c, util/keys.c).
 */
#ifndef POSTERN_FILEIO_H
#define POSTERN_FILEIO_H

#include <stddef.h>

/*
 * fileio_write_all(fd, buf, len): write all ${len} bytes, retrying short
 * writes and EINTR. Returns 0, or -1 with errno set (a write that returns 0
 * counts as failure, errno unchanged).
 */
int fileio_write_all(int fd, const void *buf, size_t len);

#endif
