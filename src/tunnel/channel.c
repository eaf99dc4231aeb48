/* SPDX-License-Identifier: MIT */
/*
 * channel: one tunneled stream (docs/PROTOCOL.md, 5).
 *
 * Each direction has a credit window. We read from the local socket only
 * while the peer has granted credit and the session is not congested, so a
 * slow consumer stalls its own channel and nobody else's. Bytes from the
 * peer are written straight from the session's receive buffer; only what
 * the local socket will not take at once is copied, and that is bounded by
 * the window we granted. Credit goes back as the local socket drains.
 *
 * A channel id is free for reuse only when both ends have sent CLOSE, so a
 * late frame can never land on a new channel.
 */
#include "tunnel/channel.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/session.h"
#include "util/log.h"

enum chan_state { CH_OPENING, CH_CONNECTING, CH_OPEN };

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
	unsigned local_init : 1;    /* local handle initialised, not yet closed */
	unsigned local_closing : 1;
	unsigned is_tcp : 1;
	unsigned reading : 1;
	unsigned retrying : 1;	    /* local closed to try the next address */
	unsigned gai_pending : 1;
	unsigned eof_sent : 1, eof_rcvd : 1, shut_started : 1, shut_done : 1;
	unsigned close_sent : 1, close_rcvd : 1;

	uint32_t tx_window;  /* bytes we may still send */
	uint32_t rx_window;  /* bytes the peer may still send */
	uint32_t rx_consumed; /* written locally, not yet returned as credit */
	size_t wq_pending;   /* bytes queued on the local socket */
	struct session_txbuf *rdbuf;

	uv_getaddrinfo_t gai;
	uv_connect_t conn;
	uv_shutdown_t shut;
	struct addrinfo *ai, *ai_next;
	int last_err;
	char target[NET_HOST_MAX + 16];
};

struct local_write {
	uv_write_t req;
	struct channel *c;
	size_t len;
	char data[];
};

static unsigned long live_channels;

static void on_local_closed(uv_handle_t *h);
static void start_reading(struct channel *c);
static void connect_next(struct channel *c);

uint32_t channel_id(const struct channel *c)
{
	return c->id;
}

unsigned long channel_count(void)
{
	return live_channels;
}

static struct channel *channel_new(struct session *s)
{
	struct channel *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->s = s;
	c->rx_window = CHANNEL_WINDOW;
	c->local.h.data = c;
	live_channels++;
	return c;
}

static void maybe_free(struct channel *c)
{
	if (c->s != NULL || c->local_init || c->gai_pending)
		return;
	if (c->ai != NULL)
		uv_freeaddrinfo(c->ai);
	live_channels--;
	free(c);
}

/* detach: forget the id; from now on no frame can reach this channel. */
static void detach(struct channel *c)
{
	if (c->s == NULL)
		return;
	session_chan_del(c->s, c->id);
	c->s = NULL;
}

static void close_local(struct channel *c, int reset)
{
	if (!c->local_init || c->local_closing)
		return;
	c->local_closing = 1;
	if (c->rdbuf != NULL) {
		session_txbuf_free(c->rdbuf);
		c->rdbuf = NULL;
	}
	/* A reset tells the application the stream did not end normally. */
	if (reset && c->is_tcp && uv_tcp_close_reset(&c->local.tcp, on_local_closed) == 0)
		return;
	uv_close(&c->local.h, on_local_closed);
}

static void on_local_closed(uv_handle_t *h)
{
	struct channel *c = h->data;
	c->local_init = 0;
	c->local_closing = 0;
	if (c->retrying && c->s != NULL) {
		c->retrying = 0;
		connect_next(c);
		return;
	}
	maybe_free(c);
}

static void send_close(struct channel *c, uint8_t flags)
{
	if (c->close_sent || c->s == NULL)
		return;
	c->close_sent = 1;
	uint8_t f[6];
	session_send_frame(c->s, f, frame_close(f, c->id, flags));
}

/* abort: something broke on our side; reset both ends of the stream. */
static void channel_abort(struct channel *c)
{
	send_close(c, FRAME_CLOSE_RESET);
	close_local(c, 1);
	if (c->close_rcvd)
		detach(c);
	maybe_free(c);
}

void channel_session_lost(struct channel *c)
{
	c->s = NULL;
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	c->retrying = 0;
	close_local(c, 1);
	maybe_free(c);
}

/* --- orderly end: EOF both ways, then CLOSE both ways --- */

static void check_done(struct channel *c)
{
	if (!(c->eof_sent && c->shut_done) || c->close_sent)
		return;
	send_close(c, 0);
	close_local(c, 0);
	if (c->close_rcvd)
		detach(c);
	maybe_free(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct channel *c = req->data;
	if (status == UV_ECANCELED)
		return;
	c->shut_done = 1;
	check_done(c);
}

static void maybe_shutdown(struct channel *c)
{
	if (!c->eof_rcvd || c->wq_pending > 0 || c->shut_started || !c->local_init ||
	    c->local_closing)
		return;
	c->shut_started = 1;
	c->shut.data = c;
	if (uv_shutdown(&c->shut, &c->local.st, on_shutdown) != 0) {
		c->shut_done = 1;
		check_done(c);
	}
}

/* --- peer -> local --- */

static void return_credit(struct channel *c, size_t n)
{
	c->rx_consumed += (uint32_t)n;
	/* Batch credit so a bulk transfer sends one WINDOW per quarter window,
	 * while the sender always keeps at least three quarters in hand. */
	if (c->rx_consumed < CHANNEL_WINDOW / 4 || c->s == NULL || c->close_sent)
		return;
	uint8_t f[9];
	uint32_t inc = c->rx_consumed;
	c->rx_consumed = 0;
	c->rx_window += inc;
	session_send_frame(c->s, f, frame_window(f, c->id, inc));
}

static void on_local_written(uv_write_t *req, int status)
{
	struct local_write *w = req->data;
	struct channel *c = w->c;
	size_t len = w->len;
	free(w);
	if (status == UV_ECANCELED)
		return;
	c->wq_pending -= len;
	if (status < 0) {
		log_debug("channel %u: local write failed: %s", c->id, uv_strerror(status));
		channel_abort(c);
		return;
	}
	return_credit(c, len);
	maybe_shutdown(c);
}

static int queue_local(struct channel *c, const uint8_t *p, size_t len)
{
	struct local_write *w = malloc(sizeof(*w) + len);
	if (w == NULL)
		return -1;
	memcpy(w->data, p, len);
	w->c = c;
	w->len = len;
	w->req.data = w;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, &c->local.st, &b, 1, on_local_written) != 0) {
		free(w);
		return -1;
	}
	c->wq_pending += len;
	return 0;
}

static int on_data(struct channel *c, const struct frame *f)
{
	if (c->state != CH_OPEN || c->eof_rcvd || f->len > c->rx_window)
		return -1;
	c->rx_window -= (uint32_t)f->len;
	/* After our CLOSE the peer may still have data in flight: drop it. */
	if (c->close_sent || !c->local_init || c->local_closing)
		return 0;
	size_t done = 0;
	if (c->wq_pending == 0) {
		uv_buf_t b = uv_buf_init((char *)f->data, (unsigned)f->len);
		int w = uv_try_write(&c->local.st, &b, 1);
		if (w < 0 && w != UV_EAGAIN) {
			channel_abort(c);
			return 0;
		}
		done = w > 0 ? (size_t)w : 0;
	}
	if (done < f->len && queue_local(c, f->data + done, f->len - done) != 0) {
		channel_abort(c);
		return 0;
	}
	if (done > 0)
		return_credit(c, done);
	return 0;
}

/* --- local -> peer --- */

static void stop_reading(struct channel *c)
{
	if (!c->reading)
		return;
	c->reading = 0;
	uv_read_stop(&c->local.st);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct channel *c = h->data;
	(void)suggested;
	size_t n = c->tx_window < CHANNEL_CHUNK ? c->tx_window : CHANNEL_CHUNK;
	if (c->rdbuf == NULL && n > 0)
		c->rdbuf = session_txbuf_new(FRAME_CHAN_HDR + n);
	if (c->rdbuf == NULL) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)session_txbuf_plain(c->rdbuf) + FRAME_CHAN_HDR, (unsigned)n);
}

static void send_eof(struct channel *c)
{
	c->eof_sent = 1;
	uint8_t f[5];
	session_send_frame(c->s, f, frame_chan_only(f, FRAME_EOF, c->id));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct channel *c = st->data;
	(void)buf;
	if (n == 0)
		return; /* EAGAIN; keep rdbuf for the next read */
	if (n < 0 || c->s == NULL) {
		if (c->rdbuf != NULL) {
			session_txbuf_free(c->rdbuf);
			c->rdbuf = NULL;
		}
		stop_reading(c);
		if (c->s == NULL)
			return;
		if (n == UV_EOF) {
			send_eof(c);
			check_done(c);
		} else {
			log_debug("channel %u: local read failed: %s", c->id, uv_strerror((int)n));
			channel_abort(c);
		}
		return;
	}
	struct session_txbuf *b = c->rdbuf;
	c->rdbuf = NULL;
	frame_data_hdr(session_txbuf_plain(b), c->id);
	c->tx_window -= (uint32_t)n;
	struct session *s = c->s;
	if (session_send(s, b, FRAME_CHAN_HDR + (size_t)n) != 0 || c->s == NULL)
		return;
	if (c->tx_window == 0) {
		stop_reading(c);
	} else if (session_congested(s)) {
		stop_reading(c);
		session_wait_uncongested(s, c);
	}
}

static void start_reading(struct channel *c)
{
	if (c->reading || c->eof_sent || c->close_sent || c->tx_window == 0 || c->s == NULL ||
	    !c->local_init || c->local_closing || c->state != CH_OPEN)
		return;
	if (session_congested(c->s)) {
		session_wait_uncongested(c->s, c);
		return;
	}
	if (uv_read_start(&c->local.st, on_alloc, on_read) == 0)
		c->reading = 1;
}

void channel_resume(struct channel *c)
{
	start_reading(c);
}

/* --- frames from the peer --- */

static int on_open_ok(struct channel *c, const struct frame *f)
{
	if (c->state != CH_OPENING)
		return -1;
	c->state = CH_OPEN;
	c->tx_window = f->window;
	log_debug("channel %u: open to %s", c->id, c->target);
	start_reading(c);
	return 0;
}

static int on_open_fail(struct channel *c, const struct frame *f)
{
	if (c->state != CH_OPENING)
		return -1;
	/* The text comes from the server; keep it printable for the log. */
	char msg[FRAME_MAX_MSG + 1];
	size_t i;
	for (i = 0; i < f->len; i++)
		msg[i] = (f->data[i] >= 0x20 && f->data[i] < 0x7f) ? (char)f->data[i] : '?';
	msg[i] = 0;
	log_warn("channel %u: open failed: %s%s%s", c->id, frame_fail_text(f->code),
		 msg[0] ? ": " : "", msg);
	/* OPEN_FAIL ends the channel on both sides at once (PROTOCOL.md 5.3). */
	c->close_sent = c->close_rcvd = 1;
	detach(c);
	close_local(c, 1);
	maybe_free(c);
	return 0;
}

static int on_close(struct channel *c, const struct frame *f)
{
	if (c->close_rcvd)
		return -1;
	c->close_rcvd = 1;
	int reset = (f->flags & FRAME_CLOSE_RESET) || !c->eof_rcvd || c->state != CH_OPEN;
	if (reset) {
		stop_reading(c);
		send_close(c, FRAME_CLOSE_RESET);
		close_local(c, 1);
	}
	if (c->close_sent)
		detach(c);
	maybe_free(c);
	return 0;
}

int channel_on_frame(struct channel *c, const struct frame *f)
{
	switch (f->type) {
	case FRAME_OPEN_OK:
		return on_open_ok(c, f);
	case FRAME_OPEN_FAIL:
		return on_open_fail(c, f);
	case FRAME_DATA:
		return on_data(c, f);
	case FRAME_WINDOW:
		if (c->state != CH_OPEN || (uint64_t)c->tx_window + f->increment > UINT32_MAX)
			return -1;
		c->tx_window += f->increment;
		start_reading(c);
		return 0;
	case FRAME_EOF:
		if (c->state != CH_OPEN || c->eof_rcvd)
			return -1;
		c->eof_rcvd = 1;
		maybe_shutdown(c);
		return 0;
	case FRAME_CLOSE:
		return on_close(c, f);
	}
	return -1;
}

/* --- client: a connection at a local entrance --- */

static int init_local_like(struct channel *c, uv_stream_t *listener)
{
	uv_loop_t *loop = listener->loop;
	int rc;
	if (listener->type == UV_NAMED_PIPE) {
		rc = uv_pipe_init(loop, &c->local.pipe, 0);
	} else {
		rc = uv_tcp_init(loop, &c->local.tcp);
		c->is_tcp = 1;
	}
	if (rc != 0)
		return -1;
	c->local.h.data = c;
	c->local_init = 1;
	return 0;
}

int channel_accept_local(struct session *s, uv_stream_t *listener,
			 const struct net_endpoint *target, const char *entrance)
{
	struct channel *c = channel_new(NULL);
	if (c == NULL)
		return -1;
	if (init_local_like(c, listener) != 0) {
		maybe_free(c);
		return -1;
	}
	if (uv_accept(listener, &c->local.st) != 0) {
		close_local(c, 0);
		return -1;
	}
	if (c->is_tcp)
		uv_tcp_nodelay(&c->local.tcp, 1);
	net_format_endpoint(target, c->target, sizeof(c->target));
	if (s == NULL || !session_established(s)) {
		log_warn("connection on %s refused: no session to the server", entrance);
		close_local(c, 1);
		return 0;
	}
	uint8_t f[FRAME_CHAN_HDR + 8 + FRAME_MAX_HOST];
	size_t flen;
	if (session_chan_add(s, c, &c->id) != 0) {
		close_local(c, 1);
		return 0;
	}
	c->s = s;
	c->state = CH_OPENING;
	uint8_t kind = target->is_unix ? FRAME_TARGET_UNIX : FRAME_TARGET_TCP;
	flen = frame_open(f, c->id, CHANNEL_WINDOW, kind, target->is_unix ? target->path : target->host,
			  target->port);
	if (flen == 0 || session_send_frame(s, f, flen) != 0) {
		if (c->s != NULL)
			detach(c);
		close_local(c, 1);
		return 0;
	}
	log_debug("channel %u: %s -> %s requested", c->id, entrance, c->target);
	return 0;
}

/* --- server: connect to the destination --- */

static void open_fail(struct channel *c, uint8_t code, const char *msg)
{
	log_info("channel %u: open %s failed: %s: %s", c->id, c->target, frame_fail_text(code),
		 msg);
	if (c->s != NULL) {
		uint8_t f[FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG];
		session_send_frame(c->s, f, frame_open_fail(f, c->id, code, msg));
	}
	c->close_sent = c->close_rcvd = 1;
	detach(c);
	close_local(c, 1);
	maybe_free(c);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct channel *c = req->data;
	if (status == UV_ECANCELED || c->s == NULL) {
		close_local(c, 1);
		return;
	}
	if (status < 0) {
		c->last_err = status;
		c->retrying = 1;
		close_local(c, 0);
		return;
	}
	if (c->close_rcvd) {
		/* The client gave up while we were connecting. */
		send_close(c, FRAME_CLOSE_RESET);
		detach(c);
		close_local(c, 1);
		return;
	}
	uv_tcp_nodelay(&c->local.tcp, 1);
	c->state = CH_OPEN;
	uint8_t f[FRAME_CHAN_HDR + 4];
	if (session_send_frame(c->s, f, frame_open_ok(f, c->id, CHANNEL_WINDOW)) != 0)
		return;
	log_debug("channel %u: connected to %s", c->id, c->target);
	start_reading(c);
}

static void connect_next(struct channel *c)
{
	while (c->ai_next != NULL) {
		struct addrinfo *a = c->ai_next;
		c->ai_next = a->ai_next;
		if (uv_tcp_init(session_loop(c->s), &c->local.tcp) != 0)
			break;
		c->local.h.data = c;
		c->local_init = 1;
		c->is_tcp = 1;
		c->conn.data = c;
		int rc = uv_tcp_connect(&c->conn, &c->local.tcp, a->ai_addr, on_connect);
		if (rc == 0)
			return;
		c->last_err = rc;
		c->retrying = 1;
		close_local(c, 0);
		return;
	}
	char msg[128];
	/* libuv errors are negated errno values on Unix: say it as the C library does. */
	snprintf(msg, sizeof(msg), "%s", c->last_err ? strerror(-c->last_err) : "no address");
	open_fail(c, FRAME_FAIL_CONNECT, msg);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct channel *c = req->data;
	c->gai_pending = 0;
	c->ai = res;
	c->ai_next = res;
	if (c->s == NULL) {
		maybe_free(c);
		return;
	}
	if (c->close_rcvd) {
		send_close(c, FRAME_CLOSE_RESET);
		detach(c);
		maybe_free(c);
		return;
	}
	if (status < 0) {
		open_fail(c, FRAME_FAIL_RESOLVE, uv_strerror(status));
		return;
	}
	connect_next(c);
}

void channel_connect(struct session *s, const struct frame *open)
{
	struct channel *c = channel_new(s);
	char host[FRAME_MAX_HOST + 1], port[8];
	if (c == NULL) {
		uint8_t f[FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG];
		session_send_frame(s, f,
				   frame_open_fail(f, open->chan, FRAME_FAIL_RESOURCE, "out of memory"));
		return;
	}
	c->id = open->chan;
	c->state = CH_CONNECTING;
	c->tx_window = open->window;
	memcpy(host, open->data, open->len);
	host[open->len] = 0;
	snprintf(c->target, sizeof(c->target), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 (unsigned)open->port);
	if (session_chan_add_peer(s, c, c->id) != 0) {
		c->s = NULL;
		maybe_free(c);
		return;
	}
	if (open->kind != FRAME_TARGET_TCP) {
		open_fail(c, FRAME_FAIL_UNSUPPORTED, "Unix socket targets are not enabled");
		return;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)open->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	c->gai.data = c;
	if (uv_getaddrinfo(session_loop(s), &c->gai, on_resolved, host, port, &hints) != 0) {
		open_fail(c, FRAME_FAIL_RESOLVE, "resolver unavailable");
		return;
	}
	c->gai_pending = 1;
}
