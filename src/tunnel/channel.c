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
 * late frame can never land on a new channel. What a channel copies for a
 * slow destination is counted against its session's and the process's
 * buffer budgets (session_buffer_*). The connecting side (resolve,
 * connect, OPEN_OK/OPEN_FAIL) is channel_connect.c.
 */
#include "tunnel/channel.h"

#include "tunnel/channel_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunnel/session.h"
#include "tunnel/socks.h"
#include "util/log.h"
#include "util/tcpopt.h"

static unsigned long live_channels;

static void on_local_closed(uv_handle_t *h);

void channel_info(const struct channel *c, struct channel_info *out)
{
	out->id = c->id;
	out->target = c->target;
	out->bytes_in = c->bytes_rx;
	out->bytes_out = c->bytes_tx;
	out->open = c->state == CH_OPEN;
	out->live = c->state != CH_FAILED;
}

uint32_t channel_id(const struct channel *c)
{
	return c->id;
}

unsigned long channel_count(void)
{
	return live_channels;
}

struct channel *chan_new(struct session *s)
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

void chan_maybe_free(struct channel *c)
{
	if (c->s != NULL || c->local_init || c->gai_pending)
		return;
	if (c->ai != NULL)
		uv_freeaddrinfo(c->ai);
	if (c->lit != NULL) {
		free(c->lit->ai_addr);
		free(c->lit);
	}
	free(c->socks);
	free(c->early);
	chan_drop_held(c);
	live_channels--;
	free(c);
}

void chan_drop_held(struct channel *c)
{
	if (c->held_len > 0)
		session_buffer_sub(c->s, c->held_len);
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
}

void chan_detach(struct channel *c)
{
	if (c->s == NULL)
		return;
	/* What is still queued counts for the process until it is written. */
	if (c->wq_pending + c->held_len > 0)
		session_buffer_disown(c->s, c->wq_pending + c->held_len);
	session_chan_del(c->s, c->id);
	c->s = NULL;
}

void chan_close_local(struct channel *c, int reset)
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
		chan_connect_next(c);
		return;
	}
	chan_maybe_free(c);
}

void chan_send_close(struct channel *c, uint8_t flags)
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
	/* Before its OPEN the peer does not know this channel: tell it nothing. */
	if (c->state == CH_SOCKS)
		chan_detach(c);
	chan_send_close(c, FRAME_CLOSE_RESET);
	chan_close_local(c, 1);
	if (c->close_rcvd)
		chan_detach(c);
	chan_maybe_free(c);
}

void channel_session_lost(struct channel *c)
{
	c->s = NULL;
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	c->retrying = 0;
	chan_close_local(c, 1);
	chan_maybe_free(c);
}

/* --- orderly end: EOF both ways, then CLOSE both ways --- */

static void check_done(struct channel *c)
{
	if (!(c->eof_sent && c->shut_done) || c->close_sent)
		return;
	chan_send_close(c, 0);
	chan_close_local(c, 0);
	if (c->close_rcvd)
		chan_detach(c);
	chan_maybe_free(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct channel *c = req->data;
	if (status == UV_ECANCELED)
		return;
	c->shut_done = 1;
	check_done(c);
}

void chan_maybe_shutdown(struct channel *c)
{
	/* While connecting, libuv would queue the shutdown ahead of the held
	 * data and then refuse to write it: on_connect() calls us again. */
	if (!c->eof_rcvd || c->wq_pending > 0 || c->shut_started || !c->local_init ||
	    c->local_closing || c->state == CH_CONNECTING)
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
	c->wq_pending -= len;
	session_buffer_sub(c->s, len);
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		log_debug("local write failed channel=%u error=%s", c->id,
			  log_q(uv_strerror(status)));
		channel_abort(c);
		return;
	}
	return_credit(c, len);
	chan_maybe_shutdown(c);
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
	session_buffer_add(c->s, len);
	return 0;
}

/* Early DATA (sent before our OPEN_OK) waits here until the connect completes. */
static int hold_data(struct channel *c, const struct frame *f)
{
	if (c->held_len + f->len > CHANNEL_EARLY_WINDOW)
		return -1;
	uint8_t *p = realloc(c->held, c->held_len + f->len);
	if (p == NULL)
		return -1;
	memcpy(p + c->held_len, f->data, f->len);
	c->held = p;
	c->held_len += f->len;
	session_buffer_add(c->s, f->len);
	return 0;
}

int chan_on_data(struct channel *c, const struct frame *f)
{
	/* Held data comes back through here once connected: counted then. */
	if (c->state == CH_CONNECTING && !c->eof_rcvd)
		return hold_data(c, f);
	if (c->state != CH_OPEN || c->eof_rcvd || f->len > c->rx_window)
		return -1;
	c->rx_window -= (uint32_t)f->len;
	c->bytes_rx += f->len;
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
	/* A buffer kept from an EAGAIN read may be smaller than the window now
	 * allows: never offer more than it holds. */
	if (c->rdbuf != NULL && n > session_txbuf_cap(c->rdbuf) - FRAME_CHAN_HDR)
		n = session_txbuf_cap(c->rdbuf) - FRAME_CHAN_HDR;
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
	if (n == 0) {
		/* EAGAIN: give the buffer back; an idle channel holds none. */
		session_txbuf_free(c->rdbuf);
		c->rdbuf = NULL;
		return;
	}
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
			log_debug("local read failed channel=%u error=%s", c->id,
				  log_q(uv_strerror((int)n)));
			channel_abort(c);
		}
		return;
	}
	struct session_txbuf *b = c->rdbuf;
	c->rdbuf = NULL;
	frame_data_hdr(session_txbuf_plain(b), c->id);
	c->tx_window -= (uint32_t)n;
	c->bytes_tx += (uint64_t)n;
	if (c->state == CH_OPENING)
		c->early_sent += (uint32_t)n;
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

void chan_start_reading(struct channel *c)
{
	if (c->reading || c->eof_sent || c->close_sent || c->tx_window == 0 || c->s == NULL ||
	    !c->local_init || c->local_closing ||
	    (c->state != CH_OPEN && !(c->state == CH_OPENING && c->socks == NULL)))
		return;
	if (session_congested(c->s)) {
		session_wait_uncongested(c->s, c);
		return;
	}
	if (uv_read_start(&c->local.st, on_alloc, on_read) == 0)
		c->reading = 1;
}

/* Clients that speak first (HTTP, TLS) have usually sent their first bytes by
 * the time the accept runs.  Reading them now lets them leave in the same write
 * as the OPEN, so the server wakes once for both instead of twice. */
static void read_first(struct channel *c)
{
	uv_os_fd_t fd;
	uv_buf_t b;
	if (!c->reading || uv_fileno(&c->local.h, &fd) != 0)
		return;
	on_alloc(&c->local.h, 0, &b);
	if (b.len == 0)
		return;
	ssize_t n = recv(fd, b.base, b.len, MSG_DONTWAIT);
	/* EOF and errors are left for libuv's own read to report. */
	on_read(&c->local.st, n > 0 ? n : 0, &b);
}

void channel_resume(struct channel *c)
{
	chan_start_reading(c);
}

/* --- frames from the peer --- */

/* socks_result_of(code): how a SOCKS client hears about an OPEN_FAIL. */
static enum socks_result socks_result_of(uint8_t code)
{
	switch (code) {
	case FRAME_FAIL_PROHIBITED:
		return SOCKS_NOT_ALLOWED;
	case FRAME_FAIL_REFUSED:
		return SOCKS_CONN_REFUSED;
	case FRAME_FAIL_NET_UNREACH:
		return SOCKS_NET_UNREACHABLE;
	case FRAME_FAIL_HOST_UNREACH:
	case FRAME_FAIL_RESOLVE:
	case FRAME_FAIL_TIMEDOUT:
		return SOCKS_HOST_UNREACHABLE;
	}
	return SOCKS_GENERAL_FAILURE;
}

/* A short reply to the local application; the socket buffer always takes it. */
static int write_small(struct channel *c, const uint8_t *p, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
	return uv_try_write(&c->local.st, &b, 1) == (int)len ? 0 : -1;
}

static int send_early(struct channel *c)
{
	if (c->early_len == 0)
		return 0;
	struct session_txbuf *b = session_txbuf_new(FRAME_CHAN_HDR + c->early_len);
	if (b == NULL)
		return -1;
	uint8_t *p = session_txbuf_plain(b);
	frame_data_hdr(p, c->id);
	memcpy(p + FRAME_CHAN_HDR, c->early, c->early_len);
	c->tx_window -= (uint32_t)c->early_len;
	c->bytes_tx += c->early_len;
	free(c->early);
	c->early = NULL;
	size_t n = c->early_len;
	c->early_len = 0;
	return session_send(c->s, b, FRAME_CHAN_HDR + n);
}

static int on_open_ok(struct channel *c, const struct frame *f)
{
	if (c->state != CH_OPENING)
		return -1;
	/* The window counts from the start, including what we sent early. */
	if (f->window < c->early_sent)
		return -1;
	c->state = CH_OPEN;
	c->tx_window = f->window - c->early_sent;
	log_debug("open channel=%u target=%s", c->id, log_q(c->target));
	if (c->socks != NULL) {
		uint8_t r[SOCKS_MAX_REPLY];
		size_t n = socks_reply(c->socks->req.version, SOCKS_OK, r);
		free(c->socks);
		c->socks = NULL;
		if (write_small(c, r, n) != 0 || c->early_len > c->tx_window) {
			channel_abort(c);
			return 0;
		}
		if (send_early(c) != 0 || c->s == NULL)
			return 0;
	}
	chan_start_reading(c);
	return 0;
}

static int on_open_fail(struct channel *c, const struct frame *f)
{
	if (c->state != CH_OPENING)
		return -1;
	/* The text comes from the server; keep it printable for the log. */
	char msg[FRAME_MAX_MSG + 1];
	log_printable(msg, f->data, f->len);
	char e[FRAME_MAX_MSG + 64];
	snprintf(e, sizeof(e), "%s%s%s", frame_fail_text(f->code), msg[0] ? ": " : "", msg);
	log_peer(LOG_LVL_WARN, "open failed channel=%u target=%s error=%s", c->id, log_q(c->target),
		 log_q(e));
	/* Acknowledge with CLOSE: it follows any early data we sent, so the
	 * peer can free the id knowing nothing more will arrive (PROTOCOL.md 5.2). */
	chan_send_close(c, 0);
	c->close_rcvd = 1;
	chan_detach(c);
	if (c->socks != NULL) {
		/* Tell the SOCKS client why, then end the stream normally so it
		 * reads the reply rather than a reset. */
		uint8_t r[SOCKS_MAX_REPLY];
		size_t n = socks_reply(c->socks->req.version, socks_result_of(f->code), r);
		chan_close_local(c, write_small(c, r, n) != 0);
	} else {
		chan_close_local(c, 1);
	}
	chan_maybe_free(c);
	return 0;
}

static int on_close(struct channel *c, const struct frame *f)
{
	if (c->close_rcvd)
		return -1;
	c->close_rcvd = 1;
	if (c->state == CH_FAILED) {
		chan_detach(c);
		chan_maybe_free(c);
		return 0;
	}
	int reset = (f->flags & FRAME_CLOSE_RESET) || !c->eof_rcvd || c->state != CH_OPEN;
	if (reset) {
		stop_reading(c);
		chan_send_close(c, FRAME_CLOSE_RESET);
		chan_close_local(c, 1);
	}
	if (c->close_sent)
		chan_detach(c);
	chan_maybe_free(c);
	return 0;
}

int channel_on_frame(struct channel *c, const struct frame *f)
{
	if (c->state == CH_FAILED && f->type != FRAME_CLOSE)
		return f->type == FRAME_DATA || f->type == FRAME_EOF ? 0 : -1;
	switch (f->type) {
	case FRAME_OPEN_OK:
		return on_open_ok(c, f);
	case FRAME_OPEN_FAIL:
		return on_open_fail(c, f);
	case FRAME_DATA:
		return chan_on_data(c, f);
	case FRAME_WINDOW:
		if (c->state != CH_OPEN || (uint64_t)c->tx_window + f->increment > UINT32_MAX)
			return -1;
		c->tx_window += f->increment;
		chan_start_reading(c);
		return 0;
	case FRAME_EOF:
		if ((c->state != CH_OPEN && c->state != CH_CONNECTING) || c->eof_rcvd)
			return -1;
		c->eof_rcvd = 1;
		chan_maybe_shutdown(c);
		return 0;
	case FRAME_CLOSE:
		return on_close(c, f);
	}
	return -1;
}

/* --- an accepted connection: -L and -D on the client, -R on the server --- */

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

static int send_open(struct channel *c, uint8_t kind, const char *target, uint16_t port,
		     uint32_t listen_id)
{
	uint8_t f[FRAME_CHAN_HDR + 8 + FRAME_MAX_HOST];
	size_t flen = kind == FRAME_TARGET_FORWARD
			  ? frame_open_forward(f, c->id, CHANNEL_WINDOW, listen_id)
			  : frame_open(f, c->id, CHANNEL_WINDOW, kind, target, port);
	c->state = CH_OPENING;
	if (flen == 0 || session_send_frame(c->s, f, flen) != 0) {
		chan_detach(c);
		chan_close_local(c, 1);
		return -1;
	}
	/* Like TCP Fast Open: data the application already sent goes out now,
	 * within the early window, instead of one tunnel round trip later. */
	c->tx_window = CHANNEL_EARLY_WINDOW;
	chan_start_reading(c);
	read_first(c);
	return 0;
}

/* --- -D: the SOCKS negotiation before the channel opens --- */

static void socks_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct channel *c = h->data;
	(void)suggested;
	struct socks_ctx *x = c->socks;
	*buf = uv_buf_init((char *)x->buf + x->len, (unsigned)(sizeof(x->buf) - x->len));
}

static void socks_failed(struct channel *c, const char *why)
{
	log_info("SOCKS request refused channel=%u entrance=%s reason=%s", c->id, log_q(c->target),
		 log_q(why));
	chan_detach(c);
	chan_close_local(c, 0);
	chan_maybe_free(c);
}

static void socks_requested(struct channel *c)
{
	struct socks_ctx *x = c->socks;
	struct net_endpoint ep = {0};
	snprintf(ep.host, sizeof(ep.host), "%s", x->req.host);
	ep.port = x->req.port;
	net_format_endpoint(&ep, c->target, sizeof(c->target));
	/* Whatever followed the request is the application's first data. */
	if (x->len > 0) {
		c->early = malloc(x->len);
		if (c->early == NULL) {
			channel_abort(c);
			return;
		}
		memcpy(c->early, x->buf, x->len);
		c->early_len = x->len;
		x->len = 0;
	}
	send_open(c, FRAME_TARGET_TCP, x->req.host, x->req.port, 0);
}

static void on_socks_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct channel *c = st->data;
	struct socks_ctx *x = c->socks;
	(void)buf;
	if (n == 0)
		return;
	if (n < 0 || c->s == NULL) {
		stop_reading(c);
		socks_failed(c, n == UV_EOF ? "closed before the request" : "read error");
		return;
	}
	x->len += (size_t)n;
	for (;;) {
		uint8_t reply[SOCKS_MAX_REPLY];
		size_t rlen = 0;
		ssize_t used = socks_parse(&x->st, x->buf, x->len, reply, &rlen, &x->req);
		if (rlen > 0 && write_small(c, reply, rlen) != 0)
			used = -1;
		if (used < 0) {
			stop_reading(c);
			socks_failed(c, "malformed or unsupported request");
			return;
		}
		if (used == 0) {
			if (x->len == sizeof(x->buf)) {
				stop_reading(c);
				socks_failed(c, "request too long");
			}
			return;
		}
		memmove(x->buf, x->buf + used, x->len - (size_t)used);
		x->len -= (size_t)used;
		if (socks_done(&x->st)) {
			stop_reading(c);
			socks_requested(c);
			return;
		}
	}
}

static int start_entrance(struct session *s, struct channel *c, const struct channel_entrance *e);

int channel_accept(struct session *s, uv_stream_t *listener, const struct channel_entrance *e)
{
	struct channel *c = chan_new(NULL);
	if (c == NULL)
		return -1;
	if (init_local_like(c, listener) != 0) {
		chan_maybe_free(c);
		return -1;
	}
	if (uv_accept(listener, &c->local.st) != 0) {
		chan_close_local(c, 0);
		return -1;
	}
	uv_os_fd_t fd;
	if (e->admit != NULL &&
	    (uv_fileno(&c->local.h, &fd) != 0 || e->admit(e->admit_arg, fd) != 1)) {
		chan_close_local(c, 0);
		return 0;
	}
	return start_entrance(s, c, e);
}

int channel_accept_fd(struct session *s, uv_loop_t *loop, int fd, int is_unix,
		      const struct channel_entrance *e)
{
	struct channel *c = chan_new(NULL);
	if (c == NULL) {
		close(fd);
		return -1;
	}
	int rc = is_unix ? uv_pipe_init(loop, &c->local.pipe, 0) : uv_tcp_init(loop, &c->local.tcp);
	if (rc != 0) {
		close(fd);
		chan_maybe_free(c);
		return -1;
	}
	c->is_tcp = !is_unix;
	c->local.h.data = c;
	c->local_init = 1;
	rc = is_unix ? uv_pipe_open(&c->local.pipe, fd) : uv_tcp_open(&c->local.tcp, fd);
	if (rc != 0) {
		close(fd);
		chan_close_local(c, 0);
		return -1;
	}
	return start_entrance(s, c, e);
}

int channel_open_fd(struct session *s, uv_loop_t *loop, int fd, const struct channel_entrance *e)
{
	struct channel *c = chan_new(NULL);
	if (c == NULL)
		return -1;
	if (e->kind != ENTRANCE_FIXED || uv_pipe_init(loop, &c->local.pipe, 0) != 0) {
		chan_maybe_free(c);
		return -1;
	}
	c->local.h.data = c;
	c->local_init = 1;
	if (uv_pipe_open(&c->local.pipe, fd) != 0) {
		chan_close_local(c, 0);
		return -1;
	}
	return start_entrance(s, c, e);
}

/* An accepted local connection: open its channel (or reset it at once). */
static int start_entrance(struct session *s, struct channel *c, const struct channel_entrance *e)
{
	if (c->is_tcp)
		uv_tcp_nodelay(&c->local.tcp, 1);
	if (e->target != NULL)
		net_format_endpoint(e->target, c->target, sizeof(c->target));
	else
		snprintf(c->target, sizeof(c->target), "%s", e->name);
	if (s == NULL || !session_established(s)) {
		log_warn("connection refused entrance=%s reason=%s", log_q(e->name),
			 log_q("no session to the server"));
		chan_close_local(c, 1);
		return 0;
	}
	const char *why = session_chan_refusal(s);
	if (why != NULL) {
		log_peer(LOG_LVL_WARN, "connection refused entrance=%s reason=%s", log_q(e->name),
			 log_q(why));
		chan_close_local(c, 1);
		return 0;
	}
	if (session_chan_add(s, c, &c->id) != 0) {
		chan_close_local(c, 1);
		return 0;
	}
	c->s = s;
	log_debug("connection channel=%u entrance=%s", c->id, log_q(e->name));
	switch (e->kind) {
	case ENTRANCE_FIXED:
		send_open(c, e->target->is_unix ? FRAME_TARGET_UNIX : FRAME_TARGET_TCP,
			  e->target->is_unix ? e->target->path : e->target->host, e->target->port,
			  0);
		return 0;
	case ENTRANCE_REMOTE:
		send_open(c, FRAME_TARGET_FORWARD, NULL, 0, e->listen_id);
		return 0;
	case ENTRANCE_SOCKS:
		break;
	}
	c->state = CH_SOCKS;
	c->socks = calloc(1, sizeof(*c->socks));
	if (c->socks == NULL || uv_read_start(&c->local.st, socks_alloc, on_socks_read) != 0) {
		channel_abort(c);
		return 0;
	}
	c->reading = 1;
	return 0;
}
