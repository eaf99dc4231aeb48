/* SPDX-License-Identifier: MIT */
/*
 * session: one tunnel on one TCP connection (docs/PROTOCOL.md, 3-6).
 *
 * Life of a session:
 *   HANDSHAKE  read exactly 64 bytes, let the owner judge them, at once or
 *              later through session_handshake_done() (the server judges
 *              off the loop); server: silent until then, a failure goes
 *              to REJECTING
 *   REJECTING  server only: stop reading, wait a random delay, reset
 *   OPEN       records both ways; channels, keepalives, rekeys
 *   CLOSED     handles are closing; hooks->closed fires when both are gone
 *
 * This file owns the read path (records opened in place in the receive
 * buffer, frames dispatched), the channel registry, keepalives, the
 * receiving key's rekey, teardown, and the memory budgets that pause the
 * read path: a peer that does not read what we owe it, or whose channels
 * buffer too much for slow destinations, is not read until that drains
 * (docs/ARCHITECTURE.md, "Resource bounds"). The send path (sealing, cork,
 * queue) is session_tx.c.
 */
#include "tunnel/session.h"

#include "tunnel/session_int.h"

#include <malloc.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/record.h"
#include "tunnel/channel.h"
#include "util/fdbudget.h"
#include "util/idmap.h"
#include "util/log.h"
#include "util/net.h"

static unsigned long next_session_id = 1;

static void on_close_handle(uv_handle_t *h);
static void on_shutdown(uv_shutdown_t *req, int status);
static void process_records(struct session *s);
static void start_keepalive(struct session *s);

/* --- construction and accessors --- */

struct session *session_new(uv_loop_t *loop, const struct session_params *p)
{
	struct session *s = calloc(1, sizeof(*s));
	if (s != NULL)
		s->hs_want = SESSION_HS_LEN;
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->p = *p;
	if (s->p.rekey_records == 0)
		s->p.rekey_records = SESSION_REKEY_RECORDS;
	if (s->p.max_channels == 0)
		s->p.max_channels = SESSION_MAX_CHANNELS;
	if (s->p.buffer_budget == 0)
		s->p.buffer_budget = (size_t)SESSION_BUFFER_DEFAULT_MIB << 20;
	s->state = ST_HANDSHAKE;
	s->id = next_session_id++;
	/* Client channel ids have the top bit clear, server ones set, so the
	 * two ends never pick the same id (docs/PROTOCOL.md, 5.1). */
	s->next_chan = p->role == SESSION_CLIENT ? 1 : PROTO_CHAN_SERVER_BIT | 1;
	strcpy(s->peer, "?");
	uv_tcp_init(loop, &s->tcp);
	uv_timer_init(loop, &s->timer);
	uv_prepare_init(loop, &s->prep);
	uv_check_init(loop, &s->check);
	s->tcp.data = s;
	s->timer.data = s;
	s->prep.data = s;
	s->check.data = s;
	s->handles_open = 4;
	return s;
}

uv_tcp_t *session_tcp(struct session *s)
{
	return &s->tcp;
}

const char *session_peer(const struct session *s)
{
	return s->peer;
}

unsigned long session_id(const struct session *s)
{
	return s->id;
}

void session_set_ident(struct session *s, const void *ident)
{
	s->ident = ident;
}

const void *session_ident(const struct session *s)
{
	return s->ident;
}

uv_loop_t *session_loop(const struct session *s)
{
	return s->loop;
}

void *session_arg(const struct session *s)
{
	return s->p.arg;
}

int session_established(const struct session *s)
{
	return s->state == ST_OPEN;
}

int session_congested(const struct session *s)
{
	return s->congested;
}

struct fwd_remote **session_remotes(struct session *s)
{
	return &s->remotes;
}

void session_on_close(struct session *s, void (*fn)(struct session *s))
{
	s->on_close = fn;
}

void session_get_stats(const struct session *s, struct session_stats *st)
{
	*st = s->st;
	st->channels = s->chans.count;
	st->tx_mem = s->tx_mem;
	st->buffered = s->buffered;
	st->rx_paused = s->rx_paused;
}

/* --- memory budgets: what pauses the read path --- */

static size_t srv_budget = (size_t)SESSION_SERVER_BUFFER_DEFAULT_MIB << 20;
static size_t srv_buffered;
static struct session *open_head; /* established sessions */
static size_t n_open;

void session_set_server_buffer(size_t bytes)
{
	srv_budget = bytes ? bytes : (size_t)SESSION_SERVER_BUFFER_DEFAULT_MIB << 20;
}

size_t session_buffered_total(void)
{
	return srv_buffered;
}

/*
 * A session is over budget when its channels hold more than its own
 * budget, or when the process is over its budget and this session holds
 * more than an equal share of it: a session under its share is never
 * paused because of what others buffer.
 */
static int over_budget(const struct session *s)
{
	if (s->buffered > s->p.buffer_budget)
		return 1;
	return srv_buffered > srv_budget && n_open > 0 && s->buffered > srv_budget / n_open;
}

static int rx_should_pause(const struct session *s)
{
	return s->tx_mem > SESSION_RX_PAUSE || over_budget(s);
}

static int rx_may_resume(const struct session *s)
{
	return s->tx_mem < SESSION_RX_RESUME && !over_budget(s);
}

static void note_peak(struct session *s)
{
	size_t m = s->tx_mem + s->buffered;
	if (m > s->mem_peak)
		s->mem_peak = m;
}

static void open_list_add(struct session *s)
{
	s->next_open = open_head;
	if (open_head != NULL)
		open_head->prev_open = s;
	open_head = s;
	n_open++;
}

/* kick_all: the process came back under its budget, or a share grew (deferred: the
 * callers are in other sessions' and channels' callbacks). */
static void kick_all(void)
{
	for (struct session *x = open_head, *next; x != NULL; x = next) {
		next = x->next_open;
		session_rx_kick_later(x);
	}
}

static void open_list_del(struct session *s)
{
	if (s->prev_open == NULL && open_head != s)
		return;
	if (s->prev_open != NULL)
		s->prev_open->next_open = s->next_open;
	else
		open_head = s->next_open;
	if (s->next_open != NULL)
		s->next_open->prev_open = s->prev_open;
	s->next_open = s->prev_open = NULL;
	n_open--;
	if (srv_buffered > srv_budget)
		kick_all();
}

void session_buffer_add(struct session *s, size_t n)
{
	srv_buffered += n;
	if (s != NULL) {
		s->buffered += n;
		note_peak(s);
	}
}

void session_buffer_sub(struct session *s, size_t n)
{
	int was_over = srv_buffered > srv_budget;
	srv_buffered -= n;
	if (s != NULL) {
		s->buffered -= n;
		session_rx_kick_later(s);
	}
	if (was_over && srv_buffered <= srv_budget)
		kick_all();
}

void session_buffer_disown(struct session *s, size_t n)
{
	s->buffered -= n;
	session_rx_kick_later(s);
}

static void note_peer(struct session *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) == 0)
		net_format_sockaddr((struct sockaddr *)&ss, s->peer, sizeof(s->peer));
}

/* --- teardown --- */

static void reset_channel(void *val, void *arg)
{
	(void)arg;
	channel_session_lost(val);
}

struct each_ctx {
	void (*fn)(void *arg, const struct channel_info *ci);
	void *arg;
};

static void each_channel(void *val, void *arg)
{
	struct each_ctx *e = arg;
	struct channel_info ci;
	channel_info(val, &ci);
	if (ci.live)
		e->fn(e->arg, &ci);
}

void session_each_channel(struct session *s, void (*fn)(void *arg, const struct channel_info *ci),
			  void *arg)
{
	struct each_ctx e = {fn, arg};
	idmap_each(&s->chans, each_channel, &e);
}

void session_close(struct session *s, const char *reason, int graceful)
{
	if (s->state == ST_CLOSED)
		return;
	int was_open = s->state == ST_OPEN;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
	if (was_open && graceful) {
		uint8_t f[1];
		session_send_frame(s, f, frame_bare(f, FRAME_GOODBYE));
		session_cork_flush(s);
	}
	session_cork_drop(s);
	s->state = ST_CLOSED;
	open_list_del(s);
	/* Channels see the session die as a reset, never as a clean end of
	 * stream: a truncated tunnel must not look like a finished transfer. */
	struct idmap chans = s->chans;
	memset(&s->chans, 0, sizeof(s->chans));
	idmap_each(&chans, reset_channel, NULL);
	idmap_free(&chans);
	/* The owner's per-session extras (-R listeners): a reconnecting client
	 * must be able to bind the same ports again. */
	if (s->on_close != NULL)
		s->on_close(s);
	uv_read_stop((uv_stream_t *)&s->tcp);
	uv_timer_stop(&s->timer);
	if (was_open && graceful &&
	    uv_shutdown(&s->shutdown, (uv_stream_t *)&s->tcp, on_shutdown) == 0)
		; /* on_shutdown closes the socket once queued records are out */
	else if (uv_tcp_close_reset(&s->tcp, on_close_handle) != 0)
		uv_close((uv_handle_t *)&s->tcp, on_close_handle);
	uv_close((uv_handle_t *)&s->timer, on_close_handle);
	uv_close((uv_handle_t *)&s->prep, on_close_handle);
	uv_close((uv_handle_t *)&s->check, on_close_handle);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	uv_close((uv_handle_t *)req->handle, on_close_handle);
}

static void on_close_handle(uv_handle_t *h)
{
	struct session *s = h->data;
	if (--s->handles_open > 0)
		return;
	if (s->p.hooks->closed != NULL)
		s->p.hooks->closed(s->p.arg, s, s->close_reason);
	noise_cipher_clear(&s->tx);
	noise_cipher_clear(&s->rx);
	crypto_wipe(s->hs, sizeof(s->hs));
	if (s->rxbuf != NULL) {
		crypto_wipe(s->rxbuf, s->rx_len);
		free(s->rxbuf);
	}
	free(s->waiting);
	int trim = s->mem_peak >= SESSION_TRIM_AT;
	free(s);
	/* Thousands of small queued records leave the heap fragmented, and
	 * glibc keeps it: give a big session's memory back to the system. */
	if (trim)
		malloc_trim(0);
}

/* --- the server's silent rejection --- */

static void on_reject_timer(uv_timer_t *t)
{
	session_close(t->data, "refused", 0);
}

void session_refuse(struct session *s, const char *reason)
{
	if (s->state != ST_HANDSHAKE)
		return;
	s->state = ST_REJECTING;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
	uv_read_stop((uv_stream_t *)&s->tcp);
	if (s->p.hooks->refused != NULL)
		s->p.hooks->refused(s->p.arg, s, reason);
	/* The reset comes at the deadline drawn at accept, whatever the class
	 * of refusal and however fast we judged it: a prober learns neither
	 * that a service is here nor what it looks at (docs/PROTOCOL.md). */
	uint64_t now = uv_now(s->loop);
	uv_timer_start(&s->timer, on_reject_timer, s->refuse_at > now ? s->refuse_at - now : 0, 0);
}

uint64_t session_refuse_at(const struct session *s)
{
	return s->refuse_at;
}

/* --- handshake --- */

static void hs_judge(struct session *s);

/*
 * With the first 64 bytes in, the owner may say the message is longer (an
 * IK message, told apart by its mac1): then read on, still never past it.
 * Returns 1 when the wanted length grew.
 */
static int hs_grow(struct session *s)
{
	if (s->p.role != SESSION_SERVER || s->hs_want != SESSION_HS_LEN ||
	    s->hs_len != SESSION_HS_LEN || s->p.hooks->first_len == NULL)
		return 0;
	size_t want = s->p.hooks->first_len(s->p.arg, s, s->hs);
	if (want <= SESSION_HS_LEN || want > SESSION_HS_MAX)
		return 0;
	s->hs_want = want;
	return 1;
}

/*
 * Bytes the kernel holds at the deadline were delivered in time, even if
 * the loop has not read them yet (with a reject delay near 0 the timer can
 * run before the read callback). Never more than the first message.
 */
static int hs_drain(struct session *s)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&s->tcp, &fd) != 0)
		return -1;
	do {
		while (s->hs_len < s->hs_want) {
			ssize_t n =
			    recv(fd, s->hs + s->hs_len, s->hs_want - s->hs_len, MSG_DONTWAIT);
			if (n <= 0)
				return -1;
			s->hs_len += (size_t)n;
		}
	} while (hs_grow(s));
	return 0;
}

static void on_hs_timeout(uv_timer_t *t)
{
	struct session *s = t->data;
	if (s->p.role == SESSION_SERVER && s->judging)
		/* The verdict is late (a queue of junk ahead of it): the deadline
		 * still holds, and session_refuse() makes the verdict moot. */
		session_refuse(s, "first message not judged by the reject delay");
	else if (s->p.role == SESSION_SERVER && hs_drain(s) == 0)
		hs_judge(s);
	else if (s->p.role == SESSION_SERVER)
		session_refuse(s, "no complete first message by the reject delay");
	else
		session_close(
		    s,
		    "no handshake reply within connect_timeout: wrong key, clocks more "
		    "than replay_window apart, this address banned, or not a postern server",
		    0);
}

static void hs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct session *s = h->data;
	(void)suggested;
	/* Never read past the first message: nothing after it is ours to see
	 * until it has been judged. */
	*buf = uv_buf_init((char *)s->hs + s->hs_len, (unsigned)(s->hs_want - s->hs_len));
}

static void rx_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_rx(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/*
 * Every open session holds a SESSION_RX_BUF (1 MiB) reassembly buffer.
 * glibc's defaults move its mmap threshold to the first such buffer freed
 * and then trim the heap whenever a freed one leaves its top above twice
 * that: under a stream of short sessions, one brk down and one up, and the
 * page faults to zero the memory again, per session (strace: 1218 brk for
 * 1347 sessions). So the buffers always come from the heap and the heap
 * keeps up to 64 MiB of free top; a session that grew big still gives its
 * memory back with malloc_trim() when it closes.
 */
static void heap_tune(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	(void)mallopt(M_MMAP_THRESHOLD, 4 * SESSION_RX_BUF);
	(void)mallopt(M_TRIM_THRESHOLD, 64 * SESSION_RX_BUF);
}

static int become_open(struct session *s)
{
	heap_tune();
	s->rxbuf = malloc(SESSION_RX_BUF);
	if (s->rxbuf == NULL)
		return -1;
	s->state = ST_OPEN;
	s->last_rx_ms = s->last_tx_ms = uv_now(s->loop);
	s->tx_rekey_at_ms = uv_now(s->loop) + SESSION_REKEY_MS;
	uv_timer_stop(&s->timer);
	if (uv_read_start((uv_stream_t *)&s->tcp, rx_alloc, on_rx) != 0)
		return -1;
	open_list_add(s);
	start_keepalive(s);
	return 0;
}

/* hs_finish: the handshake was accepted with ${reply} (server) or nothing to send (client). */
static void hs_finish(struct session *s, const uint8_t *reply)
{
	if (s->p.role == SESSION_SERVER) {
		uv_buf_t b = uv_buf_init((char *)reply, SESSION_HS_LEN);
		/* A fresh socket's send buffer always takes 64 bytes. */
		if (uv_try_write((uv_stream_t *)&s->tcp, &b, 1) != SESSION_HS_LEN) {
			session_close(s, "cannot send handshake reply", 0);
			return;
		}
	}
	if (become_open(s) != 0) {
		session_close(s, "out of memory", 0);
		return;
	}
	if (s->p.hooks->established != NULL)
		s->p.hooks->established(s->p.arg, s);
}

static void hs_judge(struct session *s)
{
	uint8_t reply[SESSION_HS_LEN];
	const char *reason = "handshake failed";
	uv_read_stop((uv_stream_t *)&s->tcp);
	int rc = s->p.hooks->handshake(s->p.arg, s, s->hs, reply, &s->tx, &s->rx, &reason);
	crypto_wipe(s->hs, sizeof(s->hs));
	if (rc == 1 && s->p.role == SESSION_SERVER) {
		/* The owner judges elsewhere and calls session_handshake_done(). */
		s->judging = 1;
	} else if (rc != 0) {
		if (s->p.role == SESSION_SERVER)
			session_refuse(s, reason);
		else
			session_close(s, reason, 0);
	} else {
		hs_finish(s, reply);
	}
	crypto_wipe(reply, sizeof(reply));
}

size_t session_first_len(const struct session *s)
{
	return s == NULL ? 0 : s->hs_len;
}

int session_judging(const struct session *s)
{
	return s != NULL && s->state == ST_HANDSHAKE && s->judging;
}

int session_handshake_done(struct session *s, const uint8_t *reply, struct noise_cipher *tx,
			   struct noise_cipher *rx, const char *reason)
{
	if (!session_judging(s))
		return -1;
	s->judging = 0;
	if (reply == NULL || tx == NULL || rx == NULL) {
		session_refuse(s, reason != NULL ? reason : "handshake failed");
		return 0;
	}
	/* The ciphers move into the session: the caller's copies must not be freed. */
	s->tx = *tx;
	s->rx = *rx;
	memset(tx, 0, sizeof(*tx));
	memset(rx, 0, sizeof(*rx));
	hs_finish(s, reply);
	return 0;
}

static void on_hs_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct session *s = st->data;
	(void)buf;
	if (s->state != ST_HANDSHAKE || n == 0)
		return;
	if (n < 0) {
		const char *why = s->p.role == SESSION_SERVER
				      ? "incomplete first message"
				      : "the server refused the handshake: wrong key, clocks more "
					"than replay_window apart, or this address is banned";
		if (s->p.role == SESSION_SERVER)
			session_refuse(s, why);
		else
			session_close(s, why, 0);
		return;
	}
	s->hs_len += (size_t)n;
	if (s->hs_len == s->hs_want && !hs_grow(s))
		hs_judge(s);
}

int session_start_server(struct session *s)
{
	note_peer(s);
	uv_tcp_nodelay(&s->tcp, 1);
	/* One draw per connection, at accept: it is both the time a peer has
	 * to deliver its first message and the moment any refusal resets. */
	unsigned lo = s->p.reject_delay_min_ms, hi = s->p.reject_delay_max_ms;
	uint32_t r = 0;
	crypto_random(&r, sizeof(r));
	uint64_t delay = hi > lo ? lo + r % (hi - lo + 1) : lo;
	/* The loop's clock dates from the start of this iteration, which may
	 * have accepted many: without the update a deadline could come early. */
	uv_update_time(s->loop);
	s->refuse_at = uv_now(s->loop) + delay;
	uv_timer_start(&s->timer, on_hs_timeout, delay, 0);
	if (uv_read_start((uv_stream_t *)&s->tcp, hs_alloc, on_hs_read) != 0) {
		session_close(s, "read failed", 0);
		return -1;
	}
	return 0;
}

int session_start_client(struct session *s, const uint8_t *msg1, size_t len)
{
	note_peer(s);
	uv_tcp_nodelay(&s->tcp, 1);
	uv_buf_t b = uv_buf_init((char *)msg1, (unsigned)len);
	if (len > SESSION_HS_MAX || uv_try_write((uv_stream_t *)&s->tcp, &b, 1) != (int)len) {
		session_close(s, "cannot send first message", 0);
		return -1;
	}
	uv_timer_start(&s->timer, on_hs_timeout, s->p.handshake_timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&s->tcp, hs_alloc, on_hs_read) != 0) {
		session_close(s, "read failed", 0);
		return -1;
	}
	return 0;
}

/* --- channel registry --- */

int session_chan_add(struct session *s, struct channel *c, uint32_t *id_out)
{
	uint32_t base = s->p.role == SESSION_CLIENT ? 0 : PROTO_CHAN_SERVER_BIT;
	for (;;) {
		uint32_t id = s->next_chan;
		s->next_chan = base | ((s->next_chan + 1) & PROTO_CHAN_ID_MASK);
		if (s->next_chan == base)
			s->next_chan = base | 1;
		if (idmap_get(&s->chans, id) != NULL)
			continue;
		if (idmap_put(&s->chans, id, c) != 0)
			return -1;
		*id_out = id;
		return 0;
	}
}

int session_chan_add_peer(struct session *s, struct channel *c, uint32_t id)
{
	return idmap_put(&s->chans, id, c);
}

void session_chan_del(struct session *s, uint32_t id)
{
	idmap_del(&s->chans, id);
}

int session_chan_exists(const struct session *s, uint32_t id)
{
	return idmap_get(&s->chans, id) != NULL;
}

/* --- receiving --- */

static void rx_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct session *s = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)s->rxbuf + s->rx_len, (unsigned)(SESSION_RX_BUF - s->rx_len));
}

/* A frame the peer must not send: the session cannot be trusted any more. */
static void protocol_error(struct session *s, const char *what)
{
	log_warn("protocol error session=%lu error=%s", s->id, log_q(what));
	session_close(s, what, 0);
}

const char *session_chan_refusal(const struct session *s)
{
	if (s->chans.count >= s->p.max_channels)
		return "too many channels";
	if (s->buffered >= s->p.buffer_budget || srv_buffered >= srv_budget)
		return "buffer budget reached";
	if (!fdbudget_may_open(s->chans.count, channel_count()))
		return "descriptor budget reached";
	return NULL;
}

static void handle_chan_frame(struct session *s, const struct frame *f)
{
	if (f->type == FRAME_OPEN) {
		/* The opener's id must be in its own half of the id space. */
		int from_client = (f->chan & PROTO_CHAN_SERVER_BIT) == 0;
		if (from_client != (s->p.role == SESSION_SERVER) || f->chan == 0 ||
		    idmap_get(&s->chans, f->chan) != NULL) {
			protocol_error(s, "bad channel id in OPEN");
			return;
		}
		const char *why = session_chan_refusal(s);
		if (why != NULL) {
			log_peer(LOG_LVL_WARN, "channel refused session=%lu channel=%u reason=%s",
				 s->id, f->chan, log_q(why));
			channel_refuse(s, f->chan, FRAME_FAIL_RESOURCE, why);
			return;
		}
		s->p.hooks->open(s->p.arg, s, f);
		return;
	}
	struct channel *c = idmap_get(&s->chans, f->chan);
	if (c == NULL) {
		/* A CLOSE can cross an OPEN_FAIL that already freed the id. */
		if (f->type != FRAME_CLOSE)
			protocol_error(s, "frame for unknown channel");
		return;
	}
	if (f->type == FRAME_DATA)
		s->st.bytes_in += f->len;
	if (channel_on_frame(c, f) != 0)
		protocol_error(s, "channel flow violation");
}

static void handle_frame(struct session *s, const uint8_t *p, size_t len)
{
	struct frame f;
	if (frame_parse(p, len, &f) != 0) {
		protocol_error(s, "malformed frame");
		return;
	}
	switch (f.type) {
	case FRAME_PING: {
		uint8_t out[9];
		session_send_frame(s, out, frame_ping(out, FRAME_PONG, f.cookie));
		return;
	}
	case FRAME_PONG:
		return;
	case FRAME_REKEY:
		if (noise_cipher_rekey(&s->rx) != 0) {
			session_close(s, "rekey failed", 0);
			return;
		}
		log_debug("rekeyed the receiving key session=%lu", s->id);
		return;
	case FRAME_GOODBYE:
		session_close(s, "peer closed the session", 0);
		return;
	case FRAME_LISTEN:
	case FRAME_LISTEN_OK:
	case FRAME_LISTEN_FAIL:
		/* Only the client asks for listeners; only the server answers. */
		if ((f.type == FRAME_LISTEN) != (s->p.role == SESSION_SERVER) ||
		    s->p.hooks->listen == NULL) {
			protocol_error(s, "unexpected LISTEN frame");
			return;
		}
		s->p.hooks->listen(s->p.arg, s, &f);
		return;
	default:
		handle_chan_frame(s, &f);
	}
}

static void rx_pause(struct session *s)
{
	s->rx_paused = 1;
	uv_read_stop((uv_stream_t *)&s->tcp);
	log_debug("not reading session=%lu queued=%zu buffered=%zu", s->id, s->tx_mem, s->buffered);
}

/*
 * process_records: open and dispatch whole records from the receive buffer
 * until it runs dry or the session is paused; a pause keeps the rest of the
 * buffer for session_rx_kick().
 */
static void process_records(struct session *s)
{
	size_t off = 0;
	s->in_rx = 1;
	while (s->state == ST_OPEN && !s->rx_paused) {
		uint8_t *plain;
		size_t plen, used;
		enum record_status r =
		    record_open(&s->rx, s->rxbuf + off, s->rx_len - off, &plain, &plen, &used);
		if (r == RECORD_NEED_MORE)
			break;
		if (r == RECORD_BAD_LENGTH) {
			log_warn("record with impossible length session=%lu", s->id);
			session_close(s, "record with impossible length", 0);
			return;
		}
		if (r == RECORD_BAD_AUTH) {
			log_warn("record authentication failed session=%lu", s->id);
			session_close(s, "record authentication failed", 0);
			return;
		}
		s->st.records_in++;
		off += used;
		handle_frame(s, plain, plen);
		/* Every reply (PONG, WINDOW, OPEN_FAIL) is queued for the peer:
		 * one that does not read must not make us queue without end. */
		if (s->state == ST_OPEN && rx_should_pause(s))
			rx_pause(s);
	}
	s->in_rx = 0;
	if (s->state != ST_OPEN)
		return;
	s->rx_len -= off;
	if (s->rx_len > 0 && off > 0)
		memmove(s->rxbuf, s->rxbuf + off, s->rx_len);
}

static void on_rx(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct session *s = st->data;
	(void)buf;
	if (s->state != ST_OPEN || n == 0)
		return;
	if (n == UV_EOF) {
		/* Only a GOODBYE ends a session cleanly; a bare FIN may be an
		 * attacker truncating the stream. */
		session_close(s, "connection closed without goodbye (truncated)", 0);
		return;
	}
	if (n < 0) {
		session_close(s, uv_strerror((int)n), 0);
		return;
	}
	s->rx_len += (size_t)n;
	s->last_rx_ms = uv_now(s->loop);
	process_records(s);
}

void session_rx_kick(struct session *s)
{
	note_peak(s);
	if (!s->rx_paused || s->in_rx || s->state != ST_OPEN || !rx_may_resume(s))
		return;
	s->rx_paused = 0;
	log_debug("reading again session=%lu", s->id);
	process_records(s);
	if (s->state == ST_OPEN && !s->rx_paused &&
	    uv_read_start((uv_stream_t *)&s->tcp, rx_alloc, on_rx) != 0)
		session_close(s, "read failed", 0);
}

/* --- keepalive --- */

static void on_keepalive(uv_timer_t *t)
{
	struct session *s = t->data;
	uint64_t now = uv_now(s->loop), ka = (uint64_t)s->p.keepalive_s * 1000;
	if (s->state != ST_OPEN)
		return;
	/* We chose not to read: silence then is ours, not the peer's. */
	if (s->rx_paused)
		s->last_rx_ms = now;
	if (now - s->last_rx_ms >= 3 * ka) {
		session_close(s, "peer timed out (no keepalive)", 0);
		return;
	}
	/* A ping also rekeys an idle direction whose key is due (maybe_rekey). */
	if (now - s->last_tx_ms >= ka || now >= s->tx_rekey_at_ms) {
		uint8_t f[9];
		session_send_frame(s, f, frame_ping(f, FRAME_PING, ++s->ping_cookie));
	}
}

static void start_keepalive(struct session *s)
{
	if (s->p.keepalive_s == 0)
		return;
	uint64_t ka = (uint64_t)s->p.keepalive_s * 1000;
	/* Tick a few times per interval so a dead peer is noticed promptly. */
	uv_timer_start(&s->timer, on_keepalive, ka / 4 + 1, ka / 4 + 1);
}
