/* SPDX-License-Identifier: MIT */
/*
 * session: one encrypted tunnel over one TCP connection, on the libuv loop.
 * Owns the socket, drives the handshake bytes (the owner judges them through
 * hooks), seals and opens records, dispatches frames to channels, keeps the
 * link alive, rekeys, applies backpressure, and tears everything down on
 * the first error. A session never writes a byte before the handshake hook
 * has accepted the peer.
 */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/noise.h"
#include "tunnel/frame.h"

enum session_role { SESSION_CLIENT = 0, SESSION_SERVER = 1 };

enum {
	SESSION_HS_LEN = 64,		   /* both handshake messages are this long */
	SESSION_RX_BUF = 1024 * 1024,	   /* record reassembly buffer */
	SESSION_TX_HIGH = 1024 * 1024,	   /* pause channels above this many queued bytes */
	SESSION_TX_LOW = 256 * 1024,	   /* resume them below this */
	SESSION_REKEY_RECORDS = 1u << 20,  /* rekey a direction after this many records */
	SESSION_REKEY_MS = 10 * 60 * 1000, /* or after this long */
	SESSION_MAX_CHANNELS = 65536,	   /* channels the peer may have open at once */
	SESSION_CORK_MAX = 32,		   /* small records gathered into one write */
	SESSION_CORK_BYTES = 16384,	   /* flush at once past this many corked bytes */
};

struct session;
struct channel;

struct session_hooks {
	/*
	 * handshake(arg, s, in, out, tx, rx, reason): ${in} is the peer's
	 * 64-byte handshake message. The server fills ${out} with its reply;
	 * the client leaves it alone. On success fill ${tx}/${rx} and return 0;
	 * else set *reason (a constant string) and return -1. The server may
	 * instead return 1: the verdict comes later through
	 * session_handshake_done() (${in} must be copied, it is wiped on return).
	 */
	int (*handshake)(void *arg, struct session *s, const uint8_t *in, uint8_t *out,
			 struct noise_cipher *tx, struct noise_cipher *rx, const char **reason);
	/* established(arg, s): records may flow. */
	void (*established)(void *arg, struct session *s);
	/* open(arg, s, f): the peer asks for a channel (FRAME_OPEN). */
	void (*open)(void *arg, struct session *s, const struct frame *f);
	/*
	 * listen(arg, s, f): server: the client asks for a -R listener
	 * (FRAME_LISTEN); client: the answer (FRAME_LISTEN_OK/FAIL).
	 */
	void (*listen)(void *arg, struct session *s, const struct frame *f);
	/*
	 * refused(arg, s, reason): server only, a pre-authentication failure
	 * (the reset follows after the reject delay).
	 */
	void (*refused)(void *arg, struct session *s, const char *reason);
	/* closed(arg, s, reason): the socket is gone; ${s} is freed on return. */
	void (*closed)(void *arg, struct session *s, const char *reason);
};

struct session_params {
	enum session_role role;
	const struct session_hooks *hooks;
	void *arg;
	unsigned handshake_timeout_ms; /* server: pre-auth timeout; client: reply timeout */
	unsigned reject_delay_min_ms;  /* server: randomised delay before the reset */
	unsigned reject_delay_max_ms;
	unsigned keepalive_s;	/* 0 = no keepalives */
	unsigned rekey_records; /* rekey our sending key after this many records; 0 = 2^20 */
};

/* session_new(loop, p): a session with an initialised, unconnected TCP handle. */
struct session *session_new(uv_loop_t *loop, const struct session_params *p);

/* session_tcp(s): the handle, for the owner to uv_accept() or uv_tcp_connect() into. */
uv_tcp_t *session_tcp(struct session *s);

/* session_peer(s): the peer address as text ("1.2.3.4:5"), set at start. */
const char *session_peer(const struct session *s);

/* session_id(s): a small number for logs. */
unsigned long session_id(const struct session *s);

/* session_{set_,}ident(s, ...): the owner's opaque identity (the server's key). */
void session_set_ident(struct session *s, const void *ident);
const void *session_ident(const struct session *s);

/* session_loop(s): the loop the session runs on. */
uv_loop_t *session_loop(const struct session *s);

/* session_arg(s): the hooks' argument. */
void *session_arg(const struct session *s);

/*
 * session_start_server(s): the TCP handle was accepted; read the first
 * message under the pre-auth timeout.
 */
int session_start_server(struct session *s);

/*
 * session_start_client(s, msg1): the TCP handle is connected; send the
 * first message and wait for the reply under the handshake timeout.
 */
int session_start_client(struct session *s, const uint8_t msg1[SESSION_HS_LEN]);

/*
 * session_judging(s): 1 while the server's handshake hook returned 1 and no
 * verdict has come yet (nor has the session been refused or closed since).
 */
int session_judging(const struct session *s);

/*
 * session_handshake_done(s, reply, tx, rx, reason): the asynchronous verdict
 * on message 1. With ${reply} (64 bytes) the session takes the ciphers
 * (*tx and *rx are zeroed), sends the reply and opens; with reply NULL it is
 * refused for ${reason} as if the hook had returned -1. Returns -1, and does
 * nothing, when the session no longer waits for a verdict.
 */
int session_handshake_done(struct session *s, const uint8_t *reply, struct noise_cipher *tx,
			   struct noise_cipher *rx, const char *reason);

/* session_refuse(s, reason): server, pre-auth: refuse now (delayed reset). */
void session_refuse(struct session *s, const char *reason);

/*
 * session_close(s, reason): end the session: channels are reset, a GOODBYE
 * is sent if ${graceful} and the session is established, the socket is
 * closed, then hooks->closed runs from the loop. Idempotent.
 */
void session_close(struct session *s, const char *reason, int graceful);

/* session_established(s): 1 once records flow and until closing. */
int session_established(const struct session *s);

/* session_congested(s): 1 while the socket's send queue is above the high mark. */
int session_congested(const struct session *s);

/*
 * Sending. A tx buffer holds a record under construction; the frame goes
 * at session_txbuf_plain(). session_send() seals it, queues it, and takes
 * ownership whatever the result. Returns 0 or -1 (the session is closing).
 */
struct session_txbuf;
struct session_txbuf *session_txbuf_new(size_t plain_cap);
uint8_t *session_txbuf_plain(struct session_txbuf *b);
size_t session_txbuf_cap(const struct session_txbuf *b); /* plaintext capacity */
void session_txbuf_free(struct session_txbuf *b);
/* session_txbuf_pool_drain(): free the cached large buffers (at exit, for leak checkers). */
void session_txbuf_pool_drain(void);
int session_send(struct session *s, struct session_txbuf *b, size_t plain_len);

/* session_send_frame(s, frame, len): copy a small frame into a record and send it. */
int session_send_frame(struct session *s, const uint8_t *frame, size_t len);

/* Channel registry: the session finds channels by id for incoming frames. */
int session_chan_add(struct session *s, struct channel *c, uint32_t *id_out);
int session_chan_add_peer(struct session *s, struct channel *c, uint32_t id);
void session_chan_del(struct session *s, uint32_t id);
int session_chan_exists(const struct session *s, uint32_t id);

/*
 * session_wait_uncongested(s, c): ${c} stopped reading because the session
 * is congested; call channel_resume(c) once it drains. A channel registers
 * at most once; session_chan_del() forgets it.
 */
void session_wait_uncongested(struct session *s, struct channel *c);

/*
 * session_remotes(s): the head of the session's -R listeners (server side);
 * fwd_remote links them here and session_close() closes them all at once.
 */
struct fwd_remote **session_remotes(struct session *s);

/* Counters for logs and status. */
struct session_stats {
	uint64_t bytes_in, bytes_out; /* payload bytes of DATA frames */
	uint64_t records_in, records_out;
	uint64_t rekeys; /* of our sending key */
	size_t channels;
};
void session_get_stats(const struct session *s, struct session_stats *st);

#endif
