/* SPDX-License-Identifier: MIT */
/*
 * channel_int: what channel.c (the stream: windows, half-close, CLOSE) and
 * channel_connect.c (resolve + connect) share. Not for other modules.
 */
#ifndef POSTERN_CHANNEL_INT_H
#define POSTERN_CHANNEL_INT_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tunnel/channel.h"
#include "tunnel/socks.h"
#include "util/net.h"

/*
 * CH_FAILED: we answered OPEN_FAIL; the id stays taken, swallowing the
 * opener's early DATA and EOF, until its CLOSE acknowledges the failure.
 */
enum chan_state { CH_SOCKS, CH_OPENING, CH_CONNECTING, CH_OPEN, CH_FAILED };

/* The SOCKS negotiation of a -D connection; freed once it is over. */
struct socks_ctx {
	struct socks_state st;
	struct socks_request req;
	size_t len;
	uint8_t buf[SOCKS_MAX_REQUEST];
};

struct channel {
	union {
		uv_handle_t h;
		uv_stream_t st;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} local;
	struct session *s; /* NULL once detached from the session */
	uint32_t id;
	enum chan_state state;
	unsigned local_init : 1; /* local handle initialised, not yet closed */
	unsigned local_closing : 1;
	unsigned is_tcp : 1;
	unsigned reading : 1;
	unsigned retrying : 1; /* local closed to try the next address */
	unsigned gai_pending : 1;
	unsigned eof_sent : 1, eof_rcvd : 1, shut_started : 1, shut_done : 1;
	unsigned close_sent : 1, close_rcvd : 1;

	uint32_t tx_window;   /* bytes we may still send */
	uint32_t rx_window;   /* bytes the peer may still send */
	uint32_t rx_consumed; /* written locally, not yet returned as credit */
	uint64_t bytes_rx;    /* DATA payload from the peer (status) */
	uint64_t bytes_tx;    /* DATA payload to the peer */
	size_t wq_pending;    /* bytes queued on the local socket */
	struct session_txbuf *rdbuf;
	struct socks_ctx *socks; /* -D, until the SOCKS reply is sent */
	uint8_t *early;		 /* -D: application bytes that came with the request */
	size_t early_len;
	uint8_t *held; /* connecting side: early DATA until the connect completes */
	size_t held_len;
	uint32_t early_sent;	  /* opener: DATA bytes sent before OPEN_OK */
	struct net_endpoint dest; /* server: where to connect */

	uv_getaddrinfo_t gai;
	uv_connect_t conn;
	uv_shutdown_t shut;
	struct addrinfo *ai, *ai_next;
	struct addrinfo *lit; /* our own one-entry list for an IP literal */
	int last_err;
	char target[NET_HOST_MAX + 16];
};

struct local_write {
	uv_write_t req;
	struct channel *c;
	size_t len;
	char data[];
};

/* chan_new(s): a zeroed channel on ${s} (may be NULL), counted as live. */
struct channel *chan_new(struct session *s);
/* chan_maybe_free(c): free ${c} once detached, its handle closed and no request pending. */
void chan_maybe_free(struct channel *c);
/* chan_drop_held(c): free the early DATA held for the connect, and its accounting. */
void chan_drop_held(struct channel *c);
/* chan_detach(c): forget the id; from now on no frame can reach ${c}. */
void chan_detach(struct channel *c);
/* chan_close_local(c, reset): close the local handle (with a TCP reset if ${reset}). */
void chan_close_local(struct channel *c, int reset);
/* chan_send_close(c, flags): send our CLOSE once. */
void chan_send_close(struct channel *c, uint8_t flags);
/* chan_on_data(c, f): a DATA frame for ${c}; -1 on a flow violation. */
int chan_on_data(struct channel *c, const struct frame *f);
/* chan_start_reading(c): read the local socket if window, state and session allow. */
void chan_start_reading(struct channel *c);
/* chan_maybe_shutdown(c): half-close the local socket once the peer's EOF and our queue allow. */
void chan_maybe_shutdown(struct channel *c);
/* chan_connect_next(c): try the next resolved address (channel_connect.c). */
void chan_connect_next(struct channel *c);

#endif
