/* SPDX-License-Identifier: MIT */
/*
 * session_tx: the send path of a session. Owns sealing, the cork that
 * gathers small records into one writev, the bounded queue of what the
 * kernel would not take, the large-buffer pool, rekeying of the sending
 * key, and congestion (pausing channels while the queue is long).
 */
#define LOG_COMPONENT "session"
#include "tunnel/session.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/record.h"
#include "tunnel/channel.h"
#include "tunnel/session_int.h"
#include "util/idmap.h"
#include "util/log.h"

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

/* What a queued record costs the heap: small replies cost mostly the request. */
static size_t txbuf_mem(const struct session_txbuf *b)
{
	return sizeof(*b) + b->cap + RECORD_OVERHEAD;
}

static void on_written(uv_write_t *req, int status)
{
	struct session_txbuf *b = req->data;
	struct session *s = b->s;
	s->tx_mem -= txbuf_mem(b);
	session_txbuf_free(b);
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		session_close(s, uv_strerror(status), 0);
		return;
	}
	/* The read path first: records already received (the peer's WINDOWs
	 * among them) go before our channels refill the queue. */
	session_rx_kick(s);
	if (s->state == ST_OPEN)
		update_congestion(s);
}

/* queue_rest: hand the unwritten tail of a record to libuv; it frees ${b} when done. */
static int queue_rest(struct session *s, struct session_txbuf *b, size_t off, size_t len)
{
	uv_buf_t ub = uv_buf_init((char *)b->rec + off, (unsigned)(len - off));
	b->s = s;
	b->req.data = b;
	int rc = uv_write(&b->req, (uv_stream_t *)&s->tcp, &ub, 1, on_written);
	if (rc == 0) {
		s->tx_mem += txbuf_mem(b);
		if (s->tx_mem > s->mem_peak)
			s->mem_peak = s->tx_mem;
	}
	return rc;
}

static void cork_disarm(struct session *s)
{
	if (!s->cork_armed)
		return;
	s->cork_armed = 0;
	if (s->kick_pending)
		return; /* the handles stay on for the kick */
	uv_prepare_stop(&s->prep);
	uv_check_stop(&s->check);
}

void session_cork_drop(struct session *s)
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
int session_cork_flush(struct session *s)
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
		session_cork_drop(s);
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

/* run_kick: the deferred session_rx_kick(), from whichever phase comes first. */
static void run_kick(struct session *s)
{
	if (!s->kick_pending || s->state == ST_CLOSED)
		return;
	s->kick_pending = 0;
	if (!s->cork_armed) {
		uv_prepare_stop(&s->prep);
		uv_check_stop(&s->check);
	}
	session_rx_kick(s);
}

static void on_prepare(uv_prepare_t *h)
{
	session_cork_flush(h->data);
	run_kick(h->data);
}

static void on_check(uv_check_t *h)
{
	session_cork_flush(h->data);
	run_kick(h->data);
}

void session_rx_kick_later(struct session *s)
{
	if (s->kick_pending || !s->rx_paused || s->state != ST_OPEN)
		return;
	s->kick_pending = 1;
	/* The check phase follows I/O callbacks; the prepare phase catches a
	 * kick made in a timer callback before the loop blocks. */
	uv_prepare_start(&s->prep, on_prepare);
	uv_check_start(&s->check, on_check);
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
		return session_cork_flush(s);
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
	log_debug("rekeyed the sending key session=%lu records=%llu", s->id,
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
