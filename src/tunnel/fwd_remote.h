/* SPDX-License-Identifier: MIT */
/*
 * fwd_remote: the server's -R listeners. Each belongs to one session and
 * lives exactly as long as it: every accepted connection becomes a channel
 * the server opens towards the client, naming the listener by the id the
 * client chose, and session_close() closes the listeners at once so the
 * client can bind the same port again after reconnecting.
 */
#ifndef POSTERN_FWD_REMOTE_H
#define POSTERN_FWD_REMOTE_H

#include <stdint.h>

#include "util/net.h"

struct session;
struct fwd_remote;

enum { FWD_REMOTE_MAX = 256 /* listeners per session */ };

/*
 * fwd_remote_open(s, id, bind, bound_port, uv_err, err): listen on ${bind}
 * (host "*" = all addresses, an IP literal, "localhost", or a Unix path) for
 * session ${s}. On success *bound_port is the real port (for port 0) and 0
 * is returned; on failure -1, with the libuv error in *uv_err and a message
 * in ${err} (NET_ERR_MAX).
 */
int fwd_remote_open(struct session *s, uint32_t id, const struct net_endpoint *bind,
		    uint16_t *bound_port, int *uv_err, char *err);

/* fwd_remote_close_all(head): close every listener in the list. */
void fwd_remote_close_all(struct fwd_remote **head);

#endif
