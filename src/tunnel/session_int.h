/* SPDX-License-Identifier: MIT */
/*
 * session_int: what session.c (read path, dispatch, keepalive, rekey of
 * the receiving key, teardown) and session_tx.c (the send path) share.
 * Not for other modules: they use tunnel/session.h.
 */
#ifndef POSTERN_SESSION_INT_H
#define POSTERN_SESSION_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/noise.h"
#include "tunnel/session.h"
#include "util/idmap.h"

enum session_state { ST_HANDSHAKE, ST_REJECTING, ST_OPEN, ST_CLOSED };

struct session {
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake timeout, reject delay, then keepalive */
	uv_shutdown_t shutdown;
	uv_prepare_t prep; /* flush corked records before the loop blocks ... */
	uv_check_t check;  /* ... and after each round of I/O callbacks */
	uv_loop_t *loop;
	struct session_params p;
	enum session_state state;
	unsigned long id;
	char peer[64];
	const void *ident;
	int handles_open;
	char close_reason[192]; /* room for the client's longest hint */

	uint8_t hs[SESSION_HS_MAX];
	size_t hs_len;
	size_t hs_want;	    /* bytes of the first message to read: 64, or more after first_len */
	uint64_t refuse_at; /* server: loop ms of accept + the drawn reject delay */
	int judging;	    /* server: the owner is judging message 1 (session_handshake_done) */

	struct noise_cipher tx, rx;
	uint64_t tx_since_rekey;
	uint64_t tx_rekey_at_ms;

	uint8_t *rxbuf; /* SESSION_RX_BUF bytes once OPEN */
	size_t rx_len;

	/* Reading stops while the replies we owe pile up (tx_mem) or the data
	 * our channels hold for slow destinations (buffered) is over budget. */
	int rx_paused;
	int in_rx;	  /* process_records() is running */
	int kick_pending; /* session_rx_kick_later() armed the check handle */
	size_t tx_mem;	  /* heap held by records queued on the socket */
	size_t buffered;  /* channel data copied for destinations that would not take it */
	size_t mem_peak;  /* the most of the two at once, to trim the heap after a big one */
	struct session *next_open, *prev_open; /* established sessions, for fair shares */

	struct idmap chans;
	uint32_t next_chan;
	uint32_t *waiting; /* ids of channels paused by congestion */
	size_t nwaiting, waiting_cap;
	int congested;

	struct fwd_remote *remotes;
	void (*on_close)(struct session *s); /* owner hook, see session_on_close() */

	/* Records sealed in this loop iteration, written together (one writev). */
	struct session_txbuf *cork[SESSION_CORK_MAX];
	size_t cork_len[SESSION_CORK_MAX];
	size_t ncork, cork_bytes;
	int cork_armed;

	uint64_t last_rx_ms, last_tx_ms;
	uint64_t ping_cookie;
	struct session_stats st;
};

struct session_txbuf {
	uv_write_t req;
	struct session *s;
	size_t cap;    /* plaintext capacity */
	uint8_t rec[]; /* header, plaintext, tag */
};

/*
 * session_rx_kick(s): something the read path waits for drained (the
 * socket's queue, buffered channel data); resume reading if nothing else
 * still holds it.
 */
void session_rx_kick(struct session *s);

/*
 * session_rx_kick_later(s): the same, from the loop's check phase: for
 * callers inside a channel's own callbacks, which must not see frames
 * dispatched under them.
 */
void session_rx_kick_later(struct session *s);

/* session_cork_flush(s): write the corked records now. 0, or -1 (the session closed). */
int session_cork_flush(struct session *s);

/* session_cork_drop(s): free the corked records unsent (the session is closing). */
void session_cork_drop(struct session *s);

#endif
