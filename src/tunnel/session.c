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
 * Records are sealed in the buffer they were read into and written with
 * uv_try_write(), so the common path copies nothing and allocates one
 * buffer per chunk of stream data. Only what the kernel refuses is queued.
 */
#include "tunnel/session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/record.h"
#include "tunnel/channel.h"
#include "tunnel/fwd_remote.h"
#include "util/idmap.h"
#include "util/log.h"
#include "util/net.h"

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
	char close_reason[96];

	uint8_t hs[SESSION_HS_LEN];
	size_t hs_len;
	int judging; /* server: the owner is judging message 1 (session_handshake_done) */

	struct noise_cipher tx, rx;
	uint64_t tx_since_rekey;
	uint64_t tx_rekey_at_ms;

	uint8_t *rxbuf; /* SESSION_RX_BUF bytes once OPEN */
	size_t rx_len;

	struct idmap chans;
	uint32_t next_chan;
	uint32_t *waiting; /* ids of channels paused by congestion */
	size_t nwaiting, waiting_cap;
	int congested;

	struct fwd_remote *remotes;

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

static unsigned long next_session_id = 1;

static void on_close_handle(uv_handle_t *h);
static void on_shutdown(uv_shutdown_t *req, int status);
static void process_records(struct session *s);
static void start_keepalive(struct session *s);
static int cork_flush(struct session *s);
static void cork_drop(struct session *s);

/* --- construction and accessors --- */

struct session *session_new(uv_loop_t *loop, const struct session_params *p)
{
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->p = *p;
	if (s->p.rekey_records == 0)
		s->p.rekey_records = SESSION_REKEY_RECORDS;
	s->state = ST_HANDSHAKE;
	s->id = next_session_id++;
	/* Client channel ids have the top bit clear, server ones set, so the
	 * two ends never pick the same id (docs/PROTOCOL.md, 5.1). */
	s->next_chan = p->role == SESSION_CLIENT ? 1 : 0x80000001u;
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

void session_get_stats(const struct session *s, struct session_stats *st)
{
	*st = s->st;
	st->channels = s->chans.count;
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

void session_close(struct session *s, const char *reason, int graceful)
{
	if (s->state == ST_CLOSED)
		return;
	int was_open = s->state == ST_OPEN;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
	if (was_open && graceful) {
		uint8_t f[1];
		session_send_frame(s, f, frame_bare(f, FRAME_GOODBYE));
		cork_flush(s);
	}
	cork_drop(s);
	s->state = ST_CLOSED;
	/* Channels see the session die as a reset, never as a clean end of
	 * stream: a truncated tunnel must not look like a finished transfer. */
	struct idmap chans = s->chans;
	memset(&s->chans, 0, sizeof(s->chans));
	idmap_each(&chans, reset_channel, NULL);
	idmap_free(&chans);
	/* A reconnecting client must be able to bind the same ports again. */
	fwd_remote_close_all(&s->remotes);
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
	free(s);
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
	/* A reset after a random pause: the prober learns neither that a
	 * service is here nor how fast we judged its bytes. */
	unsigned lo = s->p.reject_delay_min_ms, hi = s->p.reject_delay_max_ms;
	uint32_t r = 0;
	crypto_random(&r, sizeof(r));
	unsigned delay = hi > lo ? lo + r % (hi - lo + 1) : lo;
	uv_timer_start(&s->timer, on_reject_timer, delay, 0);
}

/* --- handshake --- */

static void on_hs_timeout(uv_timer_t *t)
{
	struct session *s = t->data;
	if (s->p.role == SESSION_SERVER)
		session_refuse(s, "pre-auth timeout");
	else
		session_close(s, "handshake timed out (wrong key, or server unreachable?)", 0);
}

static void hs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct session *s = h->data;
	(void)suggested;
	/* Never read past the first message: nothing after it is ours to see
	 * until it has been judged. */
	*buf = uv_buf_init((char *)s->hs + s->hs_len, (unsigned)(SESSION_HS_LEN - s->hs_len));
}

static void rx_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_rx(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static int become_open(struct session *s)
{
	s->rxbuf = malloc(SESSION_RX_BUF);
	if (s->rxbuf == NULL)
		return -1;
	s->state = ST_OPEN;
	s->last_rx_ms = s->last_tx_ms = uv_now(s->loop);
	s->tx_rekey_at_ms = uv_now(s->loop) + SESSION_REKEY_MS;
	uv_timer_stop(&s->timer);
	if (uv_read_start((uv_stream_t *)&s->tcp, rx_alloc, on_rx) != 0)
		return -1;
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
				      : "server closed the connection during the handshake "
					"(wrong key, clock skew, or banned?)";
		if (s->p.role == SESSION_SERVER)
			session_refuse(s, why);
		else
			session_close(s, why, 0);
		return;
	}
	s->hs_len += (size_t)n;
	if (s->hs_len == SESSION_HS_LEN)
		hs_judge(s);
}

int session_start_server(struct session *s)
{
	note_peer(s);
	uv_tcp_nodelay(&s->tcp, 1);
	uv_timer_start(&s->timer, on_hs_timeout, s->p.handshake_timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&s->tcp, hs_alloc, on_hs_read) != 0) {
		session_close(s, "read failed", 0);
		return -1;
	}
	return 0;
}

int session_start_client(struct session *s, const uint8_t msg1[SESSION_HS_LEN])
{
	note_peer(s);
	uv_tcp_nodelay(&s->tcp, 1);
	uv_buf_t b = uv_buf_init((char *)msg1, SESSION_HS_LEN);
	if (uv_try_write((uv_stream_t *)&s->tcp, &b, 1) != SESSION_HS_LEN) {
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

/* --- sending --- */

/*
 * Large buffers (a channel's read of up to 256 KiB) come from a small free
 * list: a malloc/free pair of that size per read costs page faults and brk
 * calls on the hot path, and the list caps what an idle process keeps.
 */
enum { TXBUF_BIG = 4096, TXBUF_POOL_CAP = FRAME_CHAN_HDR + FRAME_MAX_DATA, TXBUF_POOL_MAX = 8 };
static struct session_txbuf *txbuf_pool[TXBUF_POOL_MAX];
static size_t txbuf_pooled;

struct session_txbuf *session_txbuf_new(size_t plain_cap)
{
	if (plain_cap > TXBUF_BIG && plain_cap <= TXBUF_POOL_CAP) {
		if (txbuf_pooled > 0)
			return txbuf_pool[--txbuf_pooled];
		plain_cap = TXBUF_POOL_CAP;
	}
	struct session_txbuf *b = malloc(sizeof(*b) + plain_cap + RECORD_OVERHEAD);
	if (b != NULL)
		b->cap = plain_cap;
	return b;
}

uint8_t *session_txbuf_plain(struct session_txbuf *b)
{
	return b->rec + RECORD_HDR_LEN;
}

void session_txbuf_pool_drain(void)
{
	while (txbuf_pooled > 0)
		free(txbuf_pool[--txbuf_pooled]);
}

size_t session_txbuf_cap(const struct session_txbuf *b)
{
	return b->cap;
}

void session_txbuf_free(struct session_txbuf *b)
{
	if (b != NULL && b->cap == TXBUF_POOL_CAP && txbuf_pooled < TXBUF_POOL_MAX) {
		txbuf_pool[txbuf_pooled++] = b;
		return;
	}
	free(b);
}

static void drain_waiting(struct session *s)
{
	/* Resuming a channel may congest us again; it then re-registers. */
	uint32_t *ids = s->waiting;
	size_t n = s->nwaiting;
	s->waiting = NULL;
	s->nwaiting = s->waiting_cap = 0;
	for (size_t i = 0; i < n && !s->congested && s->state == ST_OPEN; i++) {
		struct channel *c = idmap_get(&s->chans, ids[i]);
		if (c != NULL)
			channel_resume(c);
	}
	/* Whoever we did not reach keeps waiting. */
	for (size_t i = 0; i < n; i++) {
		struct channel *c = idmap_get(&s->chans, ids[i]);
		if (c != NULL && s->congested)
			session_wait_uncongested(s, c);
	}
	free(ids);
}

static void update_congestion(struct session *s)
{
	size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp);
	if (!s->congested && q > SESSION_TX_HIGH) {
		s->congested = 1;
	} else if (s->congested && q < SESSION_TX_LOW) {
		s->congested = 0;
		drain_waiting(s);
	}
}

static void on_written(uv_write_t *req, int status)
{
	struct session_txbuf *b = req->data;
	struct session *s = b->s;
	session_txbuf_free(b);
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		session_close(s, uv_strerror(status), 0);
		return;
	}
	update_congestion(s);
}

/* queue_rest: hand the unwritten tail of a record to libuv; it frees ${b} when done. */
static int queue_rest(struct session *s, struct session_txbuf *b, size_t off, size_t len)
{
	uv_buf_t ub = uv_buf_init((char *)b->rec + off, (unsigned)(len - off));
	b->s = s;
	b->req.data = b;
	return uv_write(&b->req, (uv_stream_t *)&s->tcp, &ub, 1, on_written);
}

static void cork_disarm(struct session *s)
{
	if (!s->cork_armed)
		return;
	s->cork_armed = 0;
	uv_prepare_stop(&s->prep);
	uv_check_stop(&s->check);
}

static void cork_drop(struct session *s)
{
	cork_disarm(s);
	for (size_t i = 0; i < s->ncork; i++)
		session_txbuf_free(s->cork[i]);
	s->ncork = s->cork_bytes = 0;
}

/*
 * cork_flush: write every corked record with one writev; whatever the
 * kernel does not take is queued in order, record by record, without a copy.
 */
static int cork_flush(struct session *s)
{
	uv_buf_t bufs[SESSION_CORK_MAX];
	size_t n = s->ncork, i;
	cork_disarm(s);
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		bufs[i] = uv_buf_init((char *)s->cork[i]->rec, (unsigned)s->cork_len[i]);
	int w = uv_try_write((uv_stream_t *)&s->tcp, bufs, (unsigned)n);
	if (w < 0 && w != UV_EAGAIN) {
		cork_drop(s);
		session_close(s, uv_strerror(w), 0);
		return -1;
	}
	size_t done = w > 0 ? (size_t)w : 0;
	int rc = 0;
	s->ncork = s->cork_bytes = 0;
	for (i = 0; i < n; i++) {
		struct session_txbuf *b = s->cork[i];
		size_t len = s->cork_len[i];
		if (done >= len) {
			done -= len;
			session_txbuf_free(b);
			continue;
		}
		if (rc == 0)
			rc = queue_rest(s, b, done, len);
		if (rc != 0)
			session_txbuf_free(b);
		done = 0;
	}
	if (rc != 0) {
		session_close(s, uv_strerror(rc), 0);
		return -1;
	}
	update_congestion(s);
	return 0;
}

static void on_prepare(uv_prepare_t *h)
{
	cork_flush(h->data);
}

static void on_check(uv_check_t *h)
{
	cork_flush(h->data);
}

/*
 * Small records wait for the end of the loop iteration so that frames made
 * together (OPEN and early DATA, EOF and CLOSE, many channels' WINDOWs) leave
 * in one system call; a large record flushes at once.
 */
static int seal_and_write(struct session *s, struct session_txbuf *b, size_t plen)
{
	ssize_t len = record_seal(&s->tx, b->rec, plen);
	if (len < 0) {
		session_txbuf_free(b);
		session_close(s, "cannot seal record", 0);
		return -1;
	}
	s->st.records_out++;
	s->tx_since_rekey++;
	s->last_tx_ms = uv_now(s->loop);
	s->cork[s->ncork] = b;
	s->cork_len[s->ncork++] = (size_t)len;
	s->cork_bytes += (size_t)len;
	if (s->ncork == SESSION_CORK_MAX || s->cork_bytes >= SESSION_CORK_BYTES)
		return cork_flush(s);
	if (!s->cork_armed) {
		s->cork_armed = 1;
		uv_prepare_start(&s->prep, on_prepare);
		uv_check_start(&s->check, on_check);
	}
	return 0;
}

static int maybe_rekey(struct session *s)
{
	if (s->tx_since_rekey < s->p.rekey_records && uv_now(s->loop) < s->tx_rekey_at_ms)
		return 0;
	struct session_txbuf *b = session_txbuf_new(1);
	if (b == NULL)
		return -1;
	frame_bare(session_txbuf_plain(b), FRAME_REKEY);
	if (seal_and_write(s, b, 1) != 0)
		return -1;
	/* The REKEY record went out under the old key; everything after it
	 * uses the new one (Noise Rekey(), docs/PROTOCOL.md, 4.3). */
	if (noise_cipher_rekey(&s->tx) != 0) {
		session_close(s, "rekey failed", 0);
		return -1;
	}
	s->tx_since_rekey = 0;
	s->tx_rekey_at_ms = uv_now(s->loop) + SESSION_REKEY_MS;
	s->st.rekeys++;
	log_debug("session %lu: rekeyed the sending key (%llu records sent)", s->id,
		  (unsigned long long)s->st.records_out);
	return 0;
}

int session_send(struct session *s, struct session_txbuf *b, size_t plain_len)
{
	if (s->state != ST_OPEN || plain_len > b->cap) {
		session_txbuf_free(b);
		return -1;
	}
	if (maybe_rekey(s) != 0) {
		session_txbuf_free(b);
		return -1;
	}
	if (session_txbuf_plain(b)[0] == FRAME_DATA)
		s->st.bytes_out += plain_len - FRAME_CHAN_HDR;
	return seal_and_write(s, b, plain_len);
}

int session_send_frame(struct session *s, const uint8_t *frame, size_t len)
{
	struct session_txbuf *b = session_txbuf_new(len);
	if (b == NULL) {
		session_close(s, "out of memory", 0);
		return -1;
	}
	memcpy(session_txbuf_plain(b), frame, len);
	return session_send(s, b, len);
}

/* --- channel registry --- */

int session_chan_add(struct session *s, struct channel *c, uint32_t *id_out)
{
	uint32_t base = s->p.role == SESSION_CLIENT ? 0 : 0x80000000u;
	for (;;) {
		uint32_t id = s->next_chan;
		s->next_chan = base | ((s->next_chan + 1) & 0x7fffffffu);
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

void session_wait_uncongested(struct session *s, struct channel *c)
{
	if (s->nwaiting == s->waiting_cap) {
		size_t cap = s->waiting_cap ? s->waiting_cap * 2 : 16;
		uint32_t *w = realloc(s->waiting, cap * sizeof(*w));
		if (w == NULL) {
			session_close(s, "out of memory", 0);
			return;
		}
		s->waiting = w;
		s->waiting_cap = cap;
	}
	s->waiting[s->nwaiting++] = channel_id(c);
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
	log_warn("session %lu: protocol error: %s", s->id, what);
	session_close(s, what, 0);
}

static void handle_chan_frame(struct session *s, const struct frame *f)
{
	if (f->type == FRAME_OPEN) {
		/* The opener's id must be in its own half of the id space. */
		int from_client = (f->chan & 0x80000000u) == 0;
		if (from_client != (s->p.role == SESSION_SERVER) || f->chan == 0 ||
		    idmap_get(&s->chans, f->chan) != NULL) {
			protocol_error(s, "bad channel id in OPEN");
			return;
		}
		if (s->chans.count >= SESSION_MAX_CHANNELS) {
			log_warn("session %lu: channel %u refused: %d channels open", s->id,
				 f->chan, SESSION_MAX_CHANNELS);
			channel_refuse(s, f->chan, FRAME_FAIL_RESOURCE, "too many channels");
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
		log_debug("session %lu: rekeyed the receiving key", s->id);
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

static void process_records(struct session *s)
{
	size_t off = 0;
	while (s->state == ST_OPEN) {
		uint8_t *plain;
		size_t plen, used;
		enum record_status r =
		    record_open(&s->rx, s->rxbuf + off, s->rx_len - off, &plain, &plen, &used);
		if (r == RECORD_NEED_MORE)
			break;
		if (r == RECORD_BAD_LENGTH) {
			log_warn("session %lu: record with impossible length", s->id);
			session_close(s, "record with impossible length", 0);
			return;
		}
		if (r == RECORD_BAD_AUTH) {
			log_warn("session %lu: record authentication failed", s->id);
			session_close(s, "record authentication failed", 0);
			return;
		}
		s->st.records_in++;
		off += used;
		handle_frame(s, plain, plen);
	}
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

/* --- keepalive --- */

static void on_keepalive(uv_timer_t *t)
{
	struct session *s = t->data;
	uint64_t now = uv_now(s->loop), ka = (uint64_t)s->p.keepalive_s * 1000;
	if (s->state != ST_OPEN)
		return;
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
