/* SPDX-License-Identifier: MIT */
/*
 * fwd_local: the client's entrances: -L (a fixed target) and -D (SOCKS, the
 * target comes with each connection). Each listens on its bind address (all
 * addresses a name resolves to) or on a Unix socket path, and hands every
 * accepted connection to the current session as a new channel.
 */
#ifndef POSTERN_FWD_LOCAL_H
#define POSTERN_FWD_LOCAL_H

#include <netdb.h>
#include <uv.h>

#include "util/net.h"

struct session;
struct fwd_local;

/* Where an entrance finds the session of the moment (NULL while reconnecting). */
typedef struct session *(*fwd_session_cb)(void *arg);

/*
 * fwd_local_open(loop, listen, addrs, target, get, arg, err): bind and listen
 * on ${listen}: a Unix path, or for TCP each of ${addrs} (${listen} resolved
 * by the caller; it resolves no name, so it never blocks a running loop).
 * Connections go to ${target}, or, when ${target} is NULL, to
 * where their SOCKS request says. Logs "listening on A for T" per address.
 * A Unix socket path is created with mode 0600; a stale socket file left by
 * a dead process is replaced, anything else at the path is an error.
 * Returns NULL with ${err} (NET_ERR_MAX bytes) if any address cannot be bound.
 */
struct fwd_local *fwd_local_open(uv_loop_t *loop, const struct net_endpoint *listen,
				 const struct addrinfo *addrs, const struct net_endpoint *target,
				 fwd_session_cb get, void *arg, char *err);

struct admit_ctx;
struct admit_policy;

/*
 * fwd_local_set_admit(f, ctx, p): from now on every connection must pass
 * ${p} (copied; exe: paths resolved) before its channel opens; refused ones
 * get a reset. Without it (or with `any`) everyone is admitted.
 */
void fwd_local_set_admit(struct fwd_local *f, struct admit_ctx *ctx, const struct admit_policy *p);

/* fwd_local_port(f): the TCP port the first listener got (port 0 picks one), or 0. */
uint16_t fwd_local_port(const struct fwd_local *f);

/* fwd_local_close(f): stop listening (unlinking a Unix path) and free; NULL is a no-op. */
void fwd_local_close(struct fwd_local *f);

#endif
