/* SPDX-License-Identifier: MIT */
/*
 * channel: one tunneled stream, bridging a local socket (the accepted
 * connection at a client entrance, or the server's connection to the
 * destination) and its session. Owns per-channel flow control (a credit
 * window in each direction), half-close, and the CLOSE handshake that lets
 * both ends reuse the id safely.
 */
#ifndef POSTERN_CHANNEL_H
#define POSTERN_CHANNEL_H

#include <stdint.h>
#include <uv.h>

#include "tunnel/frame.h"
#include "util/net.h"

enum {
	CHANNEL_WINDOW = 4 * 1024 * 1024, /* credit each side grants */
	CHANNEL_CHUNK = FRAME_MAX_DATA,	   /* largest read from a local socket */
};

struct session;
struct channel;

/*
 * channel_accept_local(s, listener, target): accept the pending connection
 * on ${listener} (TCP or Unix) and ask the server, through ${s}, to connect
 * it to ${target}. If ${s} is NULL or not established the connection is
 * accepted and reset at once. Returns 0, or -1 if even the accept failed.
 */
int channel_accept_local(struct session *s, uv_stream_t *listener,
			 const struct net_endpoint *target, const char *entrance);

/*
 * channel_connect(s, open): server side of an OPEN the policy allowed:
 * resolve without blocking, connect, then answer OPEN_OK or OPEN_FAIL.
 */
void channel_connect(struct session *s, const struct frame *open);

/*
 * channel_on_frame(c, f): a frame for this channel arrived. Returns 0, or -1
 * if the peer broke the protocol (the caller closes the session).
 */
int channel_on_frame(struct channel *c, const struct frame *f);

/* channel_session_lost(c): the session died: reset the local side and free. */
void channel_session_lost(struct channel *c);

/* channel_resume(c): the session drained; read again if the window allows. */
void channel_resume(struct channel *c);

/* channel_id(c) */
uint32_t channel_id(const struct channel *c);

/* channel_count(): channels alive in this process (for status and limits). */
unsigned long channel_count(void);

#endif
