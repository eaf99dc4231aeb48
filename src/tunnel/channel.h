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
	CHANNEL_CHUNK = FRAME_MAX_DATA,	  /* largest read from a local socket */
	CHANNEL_EARLY_WINDOW = 65536,	  /* DATA an opener may send before OPEN_OK */
};

struct session;
struct channel;

/* How an accepted connection finds its target. */
enum channel_entrance_kind {
	ENTRANCE_FIXED,	 /* -L: the forward's target */
	ENTRANCE_SOCKS,	 /* -D: the target comes from a SOCKS request */
	ENTRANCE_REMOTE, /* server side of -R: the client knows the target by listen id */
};

struct channel_entrance {
	enum channel_entrance_kind kind;
	const struct net_endpoint *target; /* ENTRANCE_FIXED */
	uint32_t listen_id;		   /* ENTRANCE_REMOTE */
	const char *name;		   /* for logs: "127.0.0.1:2222" */
	/* Admission, between accept and anything sent: 1 go on; 0 the callee
	 * has taken (dup'ed) or refused the connection: close our handle quietly. */
	int (*admit)(void *arg, int fd);
	void *admit_arg;
};

/*
 * channel_accept(s, listener, e): accept the pending connection on
 * ${listener} (TCP or Unix) and open a channel for it through ${s}. If ${s}
 * is NULL or not established the connection is accepted and reset at once.
 * Returns 0, or -1 if even the accept failed.
 */
int channel_accept(struct session *s, uv_stream_t *listener, const struct channel_entrance *e);

/*
 * channel_open_fd(s, loop, fd, e): as channel_accept() for a connected
 * stream socket ${fd} (one end of a socketpair: -W), which the channel owns
 * from now on (closed on failure too, unless -1 is returned). Only
 * ENTRANCE_FIXED. Returns 0, or -1 (${fd} not taken).
 */
int channel_open_fd(struct session *s, uv_loop_t *loop, int fd, const struct channel_entrance *e);

/*
 * channel_accept_fd(s, loop, fd, is_unix, e): channel_accept() for a
 * connection already accepted (and admitted) as ${fd}, which the channel
 * now owns (closed on every error). Returns 0 or -1.
 */
int channel_accept_fd(struct session *s, uv_loop_t *loop, int fd, int is_unix,
		      const struct channel_entrance *e);

/*
 * channel_connect(s, chan, window, target): the peer's OPEN was allowed:
 * resolve without blocking, connect to ${target} (TCP or Unix), then answer
 * OPEN_OK or OPEN_FAIL on channel ${chan}.
 */
void channel_connect(struct session *s, uint32_t chan, uint32_t window,
		     const struct net_endpoint *target);

/*
 * channel_refuse(s, chan, code, msg): answer the peer's OPEN on ${chan} with
 * OPEN_FAIL, keeping the id until the peer's CLOSE so its early data is
 * discarded rather than taken for a protocol error.
 */
void channel_refuse(struct session *s, uint32_t chan, uint8_t code, const char *msg);

/* channel_fail_code(uv_err): the OPEN_FAIL/LISTEN_FAIL code for a libuv error. */
uint8_t channel_fail_code(int uv_err);

/*
 * channel_on_frame(c, f): a frame for this channel arrived. Returns 0, or -1
 * if the peer broke the protocol (the caller closes the session).
 */
int channel_on_frame(struct channel *c, const struct frame *f);

/* channel_session_lost(c): the session died: reset the local side and free. */
void channel_session_lost(struct channel *c);

/* channel_resume(c): the session drained; read again if the window allows. */
void channel_resume(struct channel *c);

/* What status shows of a channel; ${target} is valid while the channel is. */
struct channel_info {
	uint32_t id;
	const char *target; /* "host:port", a Unix path, or the entrance for -D before SOCKS */
	uint64_t bytes_in;  /* DATA payload from the peer */
	uint64_t bytes_out; /* ... to the peer */
	int open;	    /* both ends connected */
	int live;	    /* not a refused id kept until the peer's CLOSE */
};

/* channel_info(c, out): ${c} for status. */
void channel_info(const struct channel *c, struct channel_info *out);

/* channel_id(c) */
uint32_t channel_id(const struct channel *c);

/* channel_count(): channels alive in this process (for status and limits). */
unsigned long channel_count(void);

#endif
