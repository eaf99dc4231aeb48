/* SPDX-License-Identifier: MIT */
/*
 * fwd_stdio: the client's -W mode (ssh -W, for ProxyCommand): stdin and
 * stdout bridged to one end of a socketpair whose other end is a channel.
 */
#ifndef POSTERN_FWD_STDIO_H
#define POSTERN_FWD_STDIO_H

#include <uv.h>

struct fwd_stdio;

/*
 * fwd_stdio_start(loop, sock, done, arg): copy stdin to ${sock} (a
 * connected stream socket, owned from now on) and ${sock} to stdout, with
 * bounded buffering each way (FWD_STDIO_QUEUE). The end of stdin is a
 * half-close of ${sock}; the end of ${sock} (or an error on either side)
 * ends the bridge: once what was read is written, ${done}(arg, ok) runs,
 * ok = 1 for a clean end of stream. stdin and stdout must be pipes,
 * sockets or terminals. Returns NULL (${sock} not taken) on failure.
 */
struct fwd_stdio *fwd_stdio_start(uv_loop_t *loop, int sock, void (*done)(void *arg, int ok),
				  void *arg);

enum { FWD_STDIO_QUEUE = 1 << 20 }; /* bytes queued on a side before reading the other stops */

/* fwd_stdio_close(f): close all three handles; frees once libuv lets go. NULL is a no-op. */
void fwd_stdio_close(struct fwd_stdio *f);

#endif
