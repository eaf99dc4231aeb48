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
#include "tunnel/proto.h"

enum session_role { SESSION_CLIENT = 0, SESSION_SERVER = 1 };

enum {
	SESSION_HS_LEN = PROTO_HS_MSG_LEN, /* both handshake messages are this long */
	SESSION_HS_MAX = PROTO_HS_IK_LEN,  /* ... except an IK message 1 */
	SESSION_RX_BUF = 1024 * 1024,	   /* record reassembly buffer */
	SESSION_TX_HIGH = 1024 * 1024,	   /* pause channels above this many queued bytes */
	SESSION_TX_LOW = 256 * 1024,	   /* resume them below this */
	/* Stop reading the socket above this much heap in queued records (replies
	 * included), resume below SESSION_RX_RESUME. Above the channels' mark so
	 * that our own bulk DATA pauses the channels first, not the read path. */
	SESSION_RX_PAUSE = 4 * 1024 * 1024,
	SESSION_RX_RESUME = 1024 * 1024,
	SESSION_REKEY_RECORDS = 1u << 20,  /* rekey a direction after this many records */
	SESSION_REKEY_MS = 10 * 60 * 1000, /* or after this long */
	SESSION_MAX_CHANNELS = 16384,	   /* default max_channels: open at once per session */
	SESSION_BUFFER_DEFAULT_MIB = 64,   /* default session_buffer */
	SESSION_SERVER_BUFFER_DEFAULT_MIB = 1024, /* default server_buffer */
	SESSION_TRIM_AT = 4 * 1024 * 1024, /* give the heap back after a session held this much */
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
	/*
	 * first_len(arg, s, head): server, optional: with the first
	 * SESSION_HS_LEN bytes of message 1 in ${head}, the length of the whole
	 * message (at most SESSION_HS_MAX); anything else means SESSION_HS_LEN.
	 * Must be cheap and pure: it runs on the loop for every connection.
	 * The handshake hook reads the length with session_first_len().
	 */
	size_t (*first_len)(void *arg, struct session *s, const uint8_t *head);
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
	 * (the reset follows at session_refuse_at()).
	 */
	void (*refused)(void *arg, struct session *s, const char *reason);
	/* closed(arg, s, reason): the socket is gone; ${s} is freed on return. */
	void (*closed)(void *arg, struct session *s, const char *reason);
};

struct session_params {
	enum session_role role;
	const struct session_hooks *hooks;
	void *arg;
	unsigned handshake_timeout_ms; /* client: reply timeout (the server uses the delay) */
	unsigned reject_delay_min_ms;  /* server: the delay, from accept, of every refusal */
	unsigned reject_delay_max_ms;
	unsigned keepalive_s;	/* 0 = no keepalives */
	unsigned rekey_records; /* rekey our sending key after this many records; 0 = 2^20 */
	unsigned max_channels;	/* channels the peer may have open at once; 0 = default */
	size_t buffer_budget;	/* bytes of channel data buffered for this session; 0 = default */
};

/*
 * session_set_server_buffer(bytes): the budget of buffered channel data for
 * the whole process (server_buffer); 0 = the default. Sessions over their
 * fair share of it stop being read while the process is over it.
 */
void session_set_server_buffer(size_t bytes);

/* session_buffered_total(): channel data buffered in the whole process, in bytes. */
size_t session_buffered_total(void);

/*
 * Buffered channel data (bytes a channel copied because its destination
 * would not take them at once). session_buffer_add(s, n): ${s} now holds ${n}
 * more. session_buffer_sub(s, n): ${n} of them were written or dropped; ${s}
 * is NULL for a channel that left its session. session_buffer_disown(s, n):
 * a channel leaves ${s} with ${n} bytes still queued: they stop counting
 * against ${s} but count for the process until session_buffer_sub(NULL, n).
 */
void session_buffer_add(struct session *s, size_t n);
void session_buffer_sub(struct session *s, size_t n);
void session_buffer_disown(struct session *s, size_t n);

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
 * session_start_server(s): the TCP handle was accepted; draw the refusal
 * deadline (accept + U[reject_delay_min_ms, reject_delay_max_ms]) and read
 * the first message until then; a peer that has not delivered it by the
 * deadline is refused at that moment.
 */
int session_start_server(struct session *s);

/*
 * session_start_client(s, msg1, len): the TCP handle is connected; send the
 * first message and wait for the reply under the handshake timeout.
 */
int session_start_client(struct session *s, const uint8_t *msg1, size_t len);

/* session_first_len(s): bytes of message 1 received so far (in the handshake hook: all of it). */
size_t session_first_len(const struct session *s);

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

/*
 * session_refuse(s, reason): server, pre-auth: stop reading now, call
 * hooks->refused, and reset (RST, no byte written) at session_refuse_at(s).
 * Callable right after session_start_server() to refuse without reading.
 */
void session_refuse(struct session *s, const char *reason);

/* session_refuse_at(s): server: the loop time (ms) at which a refusal resets. */
uint64_t session_refuse_at(const struct session *s);

/*
 * session_close(s, reason): end the session: channels are reset, a GOODBYE
 * is sent if ${graceful} and the session is established, the socket is
 * closed, then hooks->closed runs from the loop. Idempotent.
 */
void session_close(struct session *s, const char *reason, int graceful);

/*
 * session_each_channel(s, fn, arg): fn(arg, info) for every live channel of
 * ${s} (refused ids awaiting CLOSE are skipped), for status; ${fn} must not
 * open or close channels.
 */
struct channel_info;
void session_each_channel(struct session *s, void (*fn)(void *arg, const struct channel_info *ci),
			  void *arg);

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

/*
 * session_chan_refusal(s): why ${s} may not take one more channel now
 * ("too many channels", "buffer budget reached", "descriptor budget
 * reached"), or NULL. The session asks it for every OPEN; channel_accept()
 * asks it for connections accepted on a -R listener.
 */
const char *session_chan_refusal(const struct session *s);

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

/*
 * session_on_close(s, fn): ${fn}(s) runs once when the session starts to
 * close, after its channels are reset, so an owner (fwd_remote) releases
 * what it attached to the session without session.c knowing its type.
 */
void session_on_close(struct session *s, void (*fn)(struct session *s));

/* Counters for logs and status. */
struct session_stats {
	uint64_t bytes_in, bytes_out; /* payload bytes of DATA frames */
	uint64_t records_in, records_out;
	uint64_t rekeys; /* of our sending key */
	size_t channels;
	size_t tx_mem;	 /* heap held by records queued on the socket */
	size_t buffered; /* channel data buffered for slow destinations */
	int rx_paused;	 /* 1 while we do not read the socket */
};
void session_get_stats(const struct session *s, struct session_stats *st);

#endif
