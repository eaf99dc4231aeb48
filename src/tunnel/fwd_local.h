/* SPDX-License-Identifier: MIT */
/*
 * fwd_local: the client's -L entrances. Each listens on its bind address
 * (all addresses a name resolves to) and hands every accepted connection
 * to the current session as a new channel.
 */
#ifndef POSTERN_FWD_LOCAL_H
#define POSTERN_FWD_LOCAL_H

#include <uv.h>

#include "util/net.h"

struct session;
struct fwd_local;

/* Where an entrance finds the session of the moment (NULL while reconnecting). */
typedef struct session *(*fwd_session_cb)(void *arg);

/*
 * fwd_local_open(loop, fw, get, arg, err): bind and listen for ${fw}.
 * Logs "listening on A for T" per address. Returns NULL with ${err}
 * (NET_ERR_MAX bytes) if any address cannot be bound.
 */
struct fwd_local *fwd_local_open(uv_loop_t *loop, const struct net_forward *fw, fwd_session_cb get,
				 void *arg, char *err);

/* fwd_local_close(f): stop listening and free (asynchronously); NULL is a no-op. */
void fwd_local_close(struct fwd_local *f);

#endif
