/* SPDX-License-Identifier: MIT */
/*
 * server: `postern server`. Reads the configuration (file and/or flags),
 * binds its listeners, then runs the loop: every accepted connection is a
 * session that stays silent until its first message authenticates under one
 * of the keys; abuse accounting decides who may even try. Owns the accept
 * path (with a reserve descriptor), admission, and the pen where every
 * refused connection waits for its reset at the deadline drawn at accept.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cmd/cmd.h"
#include "conf/server.h"
#include "conf/settings.h"
#include "crypto/replay.h"
#include "guard/abuse.h"
#include "guard/dhrate.h"
#include "state/replay_file.h"
#include "guard/policy.h"
#include "tunnel/channel.h"
#include "tunnel/fwd_remote.h"
#include "tunnel/handshake.h"
#include "tunnel/session.h"
#include "tunnel/verify.h"
#include "util/busypoll.h"
#include "util/config.h"
#include "util/fdbudget.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/tcpopt.h"

enum {
	MAX_LISTENERS = 16,
	REFUSAL_LOGS_PER_S = 20,
	ACCEPT_BATCH = 256,    /* accepts per readiness event, so other work runs */
	ACCEPT_PAUSE_MS = 100, /* no descriptor at all: let the kernel queue wait */
};

struct server;

/*
 * A listening socket we accept from ourselves (a uv_poll_t on a dup of the
 * libuv listener's descriptor): libuv's own accept answers EMFILE by
 * accepting and closing every queued connection, a FIN to strangers.
 */
struct listener {
	struct server *srv;
	uv_tcp_t tcp; /* binds, sets the options, listens; closed right after */
	uv_poll_t poll;
	int fd;
};

/* One accepted connection, from accept to close. */
struct conn {
	struct server *srv;
	struct session *s;
	struct abuse_source src;
	int pending;	/* counted by abuse as unauthenticated */
	int held;	/* refused at admission: not a failed handshake */
	size_t pen_idx; /* position in srv->pen while in_pen */
	int in_pen;
	struct verify_job *job; /* message 1 on the verification queue */
	int ik_alg;		/* message 1 is IK (its mac1's suite), or -1: PSK */
	const struct config_key *key;
	struct conn *prev, *next; /* all connections, oldest first */
};

struct server {
	uv_loop_t *loop;
	struct busypoll poll;
	struct config_server cfg;
	const uint8_t **psks;
	uint32_t *psk_owner; /* PSK index -> index in cfg.keys */
	size_t npsk;
	struct dhrate *dh; /* per-source budget of IK messages (each costs a DH) */
	struct abuse *abuse;
	struct replay *replay;
	struct verify *verify;	/* judges first messages on the thread pool */
	struct replay_file *rf; /* NULL with state_dir = none */
	uint64_t *tags;		/* per key: its identity tag in the state directory */
	struct listener listeners[MAX_LISTENERS];
	size_t nlisteners;
	int spare_fd;		 /* reserve: closed to accept at the fd limit, then reopened */
	uv_timer_t accept_pause; /* accepting resumes when no descriptor was free */
	uv_signal_t sigint, sigterm, sighup, sigusr1, sigusr2;
	uv_timer_t stop_timer; /* bounds a graceful shutdown */
	struct conn *head, *tail;
	unsigned nconns;
	/* Refused connections waiting for their reset: a min-heap on the reset
	 * time, at most cfg.max_refusals, so a flood cannot hold every fd. */
	struct conn **pen;
	unsigned npen;
	int stopping;
	uint64_t log_second;
	unsigned log_count, log_suppressed;
};

static const struct session_hooks server_hooks;

static uint64_t now_ms(void)
{
	return cmd_now_ms();
}

/* Refusals are attacker-driven: cap how many log lines they can cause. */
static void log_refusal(struct server *srv, const char *peer, const char *reason)
{
	uint64_t sec = uv_now(srv->loop) / 1000;
	if (sec != srv->log_second) {
		if (srv->log_suppressed > 0)
			log_info("%u refusals not logged (rate limit)", srv->log_suppressed);
		srv->log_second = sec;
		srv->log_count = srv->log_suppressed = 0;
	}
	if (srv->log_count++ < REFUSAL_LOGS_PER_S)
		log_info("refused %s: %s", peer, reason);
	else
		srv->log_suppressed++;
}

static void conn_link(struct server *srv, struct conn *c)
{
	c->prev = srv->tail;
	if (srv->tail != NULL)
		srv->tail->next = c;
	else
		srv->head = c;
	srv->tail = c;
	srv->nconns++;
}

static void conn_unlink(struct server *srv, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		srv->tail = c->prev;
	srv->nconns--;
}

static void release_pending(struct conn *c)
{
	if (!c->pending)
		return;
	c->pending = 0;
	abuse_release(c->srv->abuse, &c->src);
}

/* --- the refusal pen --- */

static uint64_t pen_key(const struct server *srv, unsigned i)
{
	return session_refuse_at(srv->pen[i]->s);
}

static void pen_set(struct server *srv, unsigned i, struct conn *c)
{
	srv->pen[i] = c;
	c->pen_idx = i;
}

static void pen_sift_up(struct server *srv, unsigned i)
{
	struct conn *c = srv->pen[i];
	uint64_t k = session_refuse_at(c->s);
	while (i > 0 && pen_key(srv, (i - 1) / 2) > k) {
		pen_set(srv, i, srv->pen[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	pen_set(srv, i, c);
}

static void pen_sift_down(struct server *srv, unsigned i)
{
	struct conn *c = srv->pen[i];
	uint64_t k = session_refuse_at(c->s);
	for (;;) {
		unsigned l = 2 * i + 1, m = i;
		uint64_t mk = k;
		if (l < srv->npen && pen_key(srv, l) < mk)
			m = l, mk = pen_key(srv, l);
		if (l + 1 < srv->npen && pen_key(srv, l + 1) < mk)
			m = l + 1;
		if (m == i)
			break;
		pen_set(srv, i, srv->pen[m]);
		i = m;
	}
	pen_set(srv, i, c);
}

static void pen_remove(struct server *srv, struct conn *c)
{
	if (!c->in_pen)
		return;
	c->in_pen = 0;
	unsigned i = (unsigned)c->pen_idx;
	struct conn *last = srv->pen[--srv->npen];
	if (last == c)
		return;
	pen_set(srv, i, last);
	pen_sift_up(srv, i);
	pen_sift_down(srv, last->pen_idx);
}

/*
 * pen_add(srv, c): hold a refused connection until its reset. A full pen
 * resets the one due first, early: only a flood of more than max_refusals
 * refusals per reject-delay window can show a prober a short delay.
 */
static void pen_add(struct server *srv, struct conn *c)
{
	if (srv->npen == srv->cfg.max_refusals) {
		struct conn *due = srv->pen[0];
		pen_remove(srv, due);
		log_refusal(srv, session_peer(due->s), "reset early (max_refusals held)");
		session_close(due->s, "refusal pen full", 0);
	}
	c->in_pen = 1;
	srv->npen++;
	pen_set(srv, srv->npen - 1, c);
	pen_sift_up(srv, srv->npen - 1);
}

/* --- session hooks --- */

static void log_key(const struct conn *c)
{
	log_info("session %lu from %s authenticated as key '%s'", session_id(c->s),
		 session_peer(c->s), c->key->name);
}

/* The reason a refused first message is logged with; ${buf} may hold the text. */
static const char *verdict_reason(const struct server *srv, enum handshake_verdict v,
				  const struct handshake_found *f, uint64_t ts, uint64_t now,
				  char *buf, size_t len)
{
	if (v == HANDSHAKE_STALE) {
		/* Say how far off the client's clock is: a skewed clock is the usual cause. */
		uint64_t d = ts > now ? ts - now : now - ts;
		snprintf(buf, len, "%s (client clock %llu s %s)", handshake_verdict_text(v),
			 (unsigned long long)((d + 500) / 1000), ts > now ? "ahead" : "behind");
		return buf;
	}
	if (v == HANDSHAKE_QUOTA) {
		snprintf(buf, len, "replay quota of key '%s' full", srv->cfg.keys[f->which].name);
		return buf;
	}
	return handshake_verdict_text(v);
}

/* The worker found (or did not find) the key; the rest is judged here, on the loop. */
static void on_verified(void *arg, int found, struct handshake_found *f)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	uint8_t reply[HANDSHAKE_MSG_LEN];
	struct noise_cipher tx = {0}, rx = {0};
	char why[128];
	const char *reason;
	uint64_t ts = 0, now = now_ms();
	c->job = NULL;
	/* Refused or closed while the worker ran: the cache must not learn of it. */
	if (!session_judging(c->s))
		return;
	if (found > 0 && c->ik_alg < 0)
		f->which = srv->psk_owner[f->which];
	if (found <= 0) {
		session_handshake_done(
		    c->s, NULL, NULL, NULL,
		    handshake_verdict_text(found == 0 ? HANDSHAKE_NO_KEY : HANDSHAKE_ERROR));
		return;
	}
	enum handshake_verdict v =
	    handshake_accept(f, srv->replay, (uint32_t)f->which, now, reply, &tx, &rx, &ts);
	if (v != HANDSHAKE_OK) {
		reason = verdict_reason(srv, v, f, ts, now, why, sizeof(why));
		session_handshake_done(c->s, NULL, NULL, NULL, reason);
		goto out;
	}
	/* On disk before the reply leaves: a crash after it cannot forget the message. */
	if (srv->rf != NULL &&
	    replay_file_append(srv->rf, f->id, ts + (uint64_t)srv->cfg.replay_window_s * 1000,
			       (uint32_t)f->which) != 0) {
		session_handshake_done(c->s, NULL, NULL, NULL,
				       "first message not recorded (state directory not writable)");
		goto out;
	}
	c->key = &srv->cfg.keys[f->which];
	session_set_ident(c->s, c->key);
	release_pending(c);
	log_key(c);
	session_handshake_done(c->s, reply, &tx, &rx, NULL);
out:
	noise_cipher_clear(&tx);
	noise_cipher_clear(&rx);
	crypto_wipe(reply, sizeof(reply));
}

static int on_handshake(void *arg, struct session *s, const uint8_t *in, uint8_t *out,
			struct noise_cipher *tx, struct noise_cipher *rx, const char **reason)
{
	struct conn *c = arg;
	(void)out;
	(void)tx;
	(void)rx;
	if (c->ik_alg >= 0 && session_first_len(s) == HANDSHAKE_IK_MSG_LEN) {
		/* Refused like any failure, so a source that keeps spending DH is banned. */
		if (!dhrate_take(c->srv->dh, &c->src, now_ms())) {
			*reason = "DH budget of this source spent (dh_rate)";
			return -1;
		}
		c->job = verify_submit_ik(c->srv->verify, c->src.bytes, c->src.len, in, c->ik_alg,
					  on_verified, c);
	} else {
		c->ik_alg = -1;
		c->job =
		    verify_submit(c->srv->verify, c->src.bytes, c->src.len, in, on_verified, c);
	}
	if (c->job == NULL) {
		/* The queue is full of other people's messages: not this source's failure. */
		c->held = 1;
		*reason = "verification queue full";
		return -1;
	}
	return 1;
}

static void on_refused(void *arg, struct session *s, const char *reason)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	log_refusal(srv, session_peer(s), reason);
	pen_add(srv, c);
	if (!c->held && abuse_fail(srv->abuse, &c->src, now_ms())) {
		char src[64];
		log_warn("banned %s for %u s after %u failures",
			 abuse_format_source(&c->src, src, sizeof(src)), srv->cfg.ban_time_s,
			 srv->cfg.ban_threshold);
	}
}

/* endpoint_of(f, ep): the target or bind address a frame names. */
static void endpoint_of(const struct frame *f, struct net_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->is_unix = f->kind == FRAME_TARGET_UNIX;
	if (ep->is_unix && f->len <= NET_PATH_MAX)
		memcpy(ep->path, f->data, f->len);
	else if (!ep->is_unix)
		memcpy(ep->host, f->data, f->len);
	ep->port = f->port;
}

static void on_open(void *arg, struct session *s, const struct frame *f)
{
	struct conn *c = arg;
	struct net_endpoint ep;
	char why[POLICY_WHY_MAX], target[NET_PATH_MAX + 16];
	int ok = 0;
	endpoint_of(f, &ep);
	/* The same question, whatever entrance or forwarding kind the client
	 * used: only the key and the destination decide (seed 004). */
	if (f->kind == FRAME_TARGET_TCP)
		ok = policy_may_open(c->key, ep.host, ep.port, why);
	else if (f->kind == FRAME_TARGET_UNIX && f->len <= NET_PATH_MAX)
		ok = policy_may_open_unix(c->key, ep.path, why);
	else
		snprintf(why, sizeof(why), "not a target the client may open");
	if (ok) {
		channel_connect(s, f->chan, f->window, &ep);
		return;
	}
	net_format_endpoint(&ep, target, sizeof(target));
	log_peer(LOG_LVL_WARN, "channel %u: denied %s for key '%s': %s", f->chan, target,
		 c->key->name, why);
	channel_refuse(s, f->chan, FRAME_FAIL_PROHIBITED, why);
}

static void listen_reply(struct session *s, uint32_t id, int ok, uint16_t port, uint8_t code,
			 const char *msg)
{
	uint8_t out[FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG];
	if (ok)
		session_send_frame(s, out, frame_listen_ok(out, id, port));
	else
		session_send_frame(s, out, frame_listen_fail(out, id, code, msg));
}

/* A -R request: policy picks the bind address (gateway_ports), then bind. */
static void on_listen(void *arg, struct session *s, const struct frame *f)
{
	struct conn *c = arg;
	struct net_endpoint ep, bind;
	char why[POLICY_WHY_MAX], name[NET_PATH_MAX + 16], err[NET_ERR_MAX];
	int ok, uv_err = 0;
	uint16_t port = 0;
	endpoint_of(f, &ep);
	bind = ep;
	if (ep.is_unix)
		ok = f->len <= NET_PATH_MAX && policy_may_listen_unix(c->key, ep.path, why);
	else
		ok = policy_may_listen(c->key, c->srv->cfg.gateway_ports, ep.host, ep.port,
				       bind.host, why);
	net_format_endpoint(&ep, name, sizeof(name));
	if (!ok) {
		log_warn("session %lu: remote forward on %s denied for key '%s': %s", session_id(s),
			 name, c->key->name, why);
		listen_reply(s, f->listen_id, 0, 0, FRAME_FAIL_PROHIBITED, why);
		return;
	}
	if (fwd_remote_open(s, f->listen_id, &bind, &port, &uv_err, err) != 0) {
		log_warn("session %lu: remote forward for key '%s': %s", session_id(s),
			 c->key->name, err);
		listen_reply(s, f->listen_id, 0, 0, channel_fail_code(uv_err), strerror(-uv_err));
		return;
	}
	bind.port = port;
	net_format_endpoint(&bind, name, sizeof(name));
	log_info("session %lu: remote forward listening on %s for key '%s' (%s)", session_id(s),
		 name, c->key->name, why);
	listen_reply(s, f->listen_id, 1, port, 0, NULL);
}

static void on_closed(void *arg, struct session *s, const char *reason)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	if (c->key != NULL) {
		struct session_stats st;
		session_get_stats(s, &st);
		log_info("session %lu closed: %s (%llu bytes in, %llu out)", session_id(s), reason,
			 (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out);
	}
	verify_cancel(c->job);
	c->job = NULL;
	release_pending(c);
	pen_remove(srv, c);
	conn_unlink(srv, c);
	free(c);
}

/* A first message whose first 64 bytes carry a valid mac1 is a 128-byte IK one. */
static size_t on_first_len(void *arg, struct session *s, const uint8_t *head)
{
	struct conn *c = arg;
	(void)s;
	c->ik_alg = handshake_ik_mac1(verify_ik(c->srv->verify), head);
	return c->ik_alg >= 0 ? HANDSHAKE_IK_MSG_LEN : SESSION_HS_LEN;
}

static const struct session_hooks server_hooks = {
    .handshake = on_handshake,
    .first_len = on_first_len,
    .open = on_open,
    .listen = on_listen,
    .refused = on_refused,
    .closed = on_closed,
};

/* --- accepting --- */

/* evict_oldest: drop the oldest unauthenticated connection of ${src}. */
static void evict_oldest(struct server *srv, const struct abuse_source *src)
{
	for (struct conn *c = srv->head; c != NULL; c = c->next) {
		if (!c->pending || c->src.len != src->len ||
		    memcmp(c->src.bytes, src->bytes, src->len) != 0)
			continue;
		release_pending(c);
		c->held = 1;
		session_refuse(c->s, "evicted (too many unauthenticated connections)");
		return;
	}
}

/* admit(srv, c): NULL if ${c} may try its handshake, else why not. */
static const char *admit(struct server *srv, struct conn *c)
{
	struct abuse_source evict;
	/* Held refusals are not sessions: a flood of them must not lock out keys. */
	if (srv->nconns - srv->npen > srv->cfg.max_sessions)
		return "too many sessions";
	switch (abuse_admit(srv->abuse, &c->src, now_ms(), &evict)) {
	case ABUSE_ADMIT:
		c->pending = 1;
		return NULL;
	case ABUSE_EVICT_OLDEST:
		c->pending = 1;
		evict_oldest(srv, &evict);
		return NULL;
	case ABUSE_BANNED:
		return "banned";
	case ABUSE_SOURCE_FULL:
	case ABUSE_FULL:
		break;
	}
	return "too many unauthenticated connections";
}

/*
 * take_connection(srv, fd, why): a session for the accepted ${fd}; with
 * ${why} (the server is out of descriptors) it is refused without being read.
 */
static void take_connection(struct server *srv, int fd, const char *why)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct session_params p = {
	    .role = SESSION_SERVER,
	    .hooks = &server_hooks,
	    .arg = c,
	    .reject_delay_min_ms = srv->cfg.reject_delay_min_ms,
	    .reject_delay_max_ms = srv->cfg.reject_delay_max_ms,
	    .keepalive_s = srv->cfg.keepalive_s,
	    .rekey_records = srv->cfg.rekey_records,
	    .max_channels = srv->cfg.max_channels,
	    .buffer_budget = (size_t)srv->cfg.session_buffer_mib << 20,
	};
	if (c != NULL) {
		c->srv = srv;
		c->ik_alg = -1;
		c->s = session_new(srv->loop, &p);
	}
	if (c == NULL || c->s == NULL || uv_tcp_open(session_tcp(c->s), fd) != 0) {
		/* Out of memory: nothing to hold it with, so a reset now (never a FIN). */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		if (c != NULL && c->s != NULL) {
			conn_link(srv, c);
			session_close(c->s, "cannot take the connection", 0);
		} else {
			free(c);
		}
		return;
	}
	conn_link(srv, c);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(session_tcp(c->s), (struct sockaddr *)&ss, &len) != 0 ||
	    abuse_source_from((struct sockaddr *)&ss, &c->src) != 0) {
		session_close(c->s, "no peer address", 0);
		return;
	}
	if (session_start_server(c->s) != 0)
		return;
	if (srv->stopping) {
		session_close(c->s, "server shutting down", 0);
		return;
	}
	if (why == NULL)
		why = admit(srv, c);
	if (why != NULL) {
		/* Not read at all, but reset no sooner than any other refusal:
		 * an instant reset would tell a prober it is banned or capped. */
		c->held = 1;
		session_refuse(c->s, why);
	}
}

static void on_accept_resume(uv_timer_t *t);

/* Nothing to accept with: leave the queue to the kernel for a moment. */
static void pause_accepting(struct server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++)
		uv_poll_stop(&srv->listeners[i].poll);
	uv_timer_start(&srv->accept_pause, on_accept_resume, ACCEPT_PAUSE_MS, 0);
	log_refusal(srv, "new connections", "out of descriptors; they wait in the listen queue");
}

static void on_readable(uv_poll_t *h, int status, int events);

static void on_accept_resume(uv_timer_t *t)
{
	struct server *srv = t->data;
	for (size_t i = 0; i < srv->nlisteners; i++)
		uv_poll_start(&srv->listeners[i].poll, UV_READABLE, on_readable);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;
	struct server *srv = l->srv;
	(void)events;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	if (srv->spare_fd < 0)
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int n = 0; n < ACCEPT_BATCH; n++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			/* Accepted with the reserve: the server is at its limit. */
			take_connection(srv, fd,
					srv->spare_fd < 0 ? "server out of descriptors" : NULL);
			if (srv->spare_fd < 0)
				srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
			close(srv->spare_fd);
			srv->spare_fd = -1;
			continue;
		}
		if (errno == EMFILE || errno == ENFILE) {
			pause_accepting(srv);
			return;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_warn("accept failed: %s", strerror(errno));
		return;
	}
}

/* --- set-up --- */

/* libuv never accepts for us (see struct listener); kept for its signature. */
static void on_unused_connection(uv_stream_t *listener, int status)
{
	(void)listener;
	(void)status;
}

static int listen_addr(struct server *srv, const struct sockaddr *sa, const char *spec)
{
	char name[NET_HOST_MAX + 16];
	if (srv->nlisteners == MAX_LISTENERS) {
		log_error("too many listen addresses (max %d)", MAX_LISTENERS);
		return -1;
	}
	struct listener *l = &srv->listeners[srv->nlisteners];
	uv_os_fd_t fd = -1;
	l->srv = srv;
	l->fd = -1;
	uv_tcp_init(srv->loop, &l->tcp);
	int rc = tcpopt_listen(&l->tcp, sa, 1024, on_unused_connection);
	if (rc == 0 && uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0)
		l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	struct sockaddr_storage ss;
	int slen = sizeof(ss);
	uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &slen);
	/* The duplicate keeps the socket listening; libuv lets go of its own. */
	uv_close((uv_handle_t *)&l->tcp, NULL);
	if (rc == 0 && (l->fd < 0 || uv_poll_init_socket(srv->loop, &l->poll, l->fd) != 0))
		rc = UV_EMFILE;
	if (rc != 0) {
		if (l->fd >= 0)
			close(l->fd);
		log_error("cannot listen on %s (%s): %s", spec,
			  net_format_sockaddr(sa, name, sizeof(name)), strerror(-rc));
		return -1;
	}
	l->poll.data = l;
	uv_poll_start(&l->poll, UV_READABLE, on_readable);
	srv->nlisteners++;
	log_info("listening on %s",
		 net_format_sockaddr((struct sockaddr *)&ss, name, sizeof(name)));
	return 0;
}

/* Binding happens before the loop runs, so blocking name resolution is fine here. */
static int bind_listeners(struct server *srv)
{
	for (size_t i = 0; i < srv->cfg.nlisten; i++) {
		const struct net_endpoint *ep = &srv->cfg.listen[i];
		char spec[NET_HOST_MAX + 16], port[8];
		net_format_endpoint(ep, spec, sizeof(spec));
		snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
		const char *host = strcmp(ep->host, "*") == 0 ? NULL : ep->host;
		struct addrinfo hints = {.ai_family = AF_UNSPEC,
					 .ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
				*res = NULL;
		int g = getaddrinfo(host, port, &hints, &res);
		if (g != 0) {
			log_error("listen address %s: %s", spec, gai_strerror(g));
			return -1;
		}
		int rc = 0;
		for (struct addrinfo *a = res; a != NULL && rc == 0; a = a->ai_next)
			rc = listen_addr(srv, a->ai_addr, spec);
		freeaddrinfo(res);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
	busypoll_stop(t->loop);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct server *srv = sig->data;
	log_info("signal %d: shutting down", signum);
	srv->stopping = 1;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		uv_close((uv_handle_t *)&srv->listeners[i].poll, NULL);
		close(srv->listeners[i].fd);
	}
	srv->nlisteners = 0;
	uv_close((uv_handle_t *)&srv->accept_pause, NULL);
	for (struct conn *c = srv->head; c != NULL; c = c->next)
		session_close(c->s, "server shutting down", 1);
	uv_close((uv_handle_t *)&srv->sigint, NULL);
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	uv_close((uv_handle_t *)&srv->sighup, NULL);
	uv_close((uv_handle_t *)&srv->sigusr1, NULL);
	uv_close((uv_handle_t *)&srv->sigusr2, NULL);
	/* Peers that do not read must not keep us alive. */
	uv_timer_init(srv->loop, &srv->stop_timer);
	uv_timer_start(&srv->stop_timer, on_stop_timer, 2000, 0);
	uv_unref((uv_handle_t *)&srv->stop_timer);
}

static void log_ban(void *arg, const struct abuse_source *src, uint64_t left_s)
{
	char name[64];
	(void)arg;
	log_info("status: %s banned, %llu s left", abuse_format_source(src, name, sizeof(name)),
		 (unsigned long long)left_s);
}

static void log_status(struct server *srv)
{
	unsigned sessions = 0;
	size_t channels = 0;
	for (struct conn *c = srv->head; c != NULL; c = c->next) {
		if (c->key == NULL)
			continue;
		struct session_stats st;
		session_get_stats(c->s, &st);
		sessions++;
		channels += st.channels;
	}
	log_info("status: %u session(s), %zu channel(s), %u unauthenticated, %u refusal(s) "
		 "held",
		 sessions, channels, abuse_pending(srv->abuse), srv->npen);
	size_t bans = abuse_each_ban(srv->abuse, now_ms(), log_ban, NULL);
	log_info("status: %zu source(s) banned (a ban lifts after ban_time, or on restart)", bans);
}

/* Signals an operator sends by habit must never kill the gateway silently. */
static void on_info_signal(uv_signal_t *sig, int signum)
{
	struct server *srv = sig->data;
	if (signum == SIGHUP)
		log_warn("SIGHUP: reload is not supported yet; configuration unchanged");
	else if (signum == SIGUSR1)
		log_status(srv);
	else
		log_info("SIGUSR2: ignored (SIGUSR1 logs the status)");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: postern server [-c FILE] [-l HOST:PORT]... [-k KEYFILE]\n"
		   "                      [--permit-open SPEC]... [--permit-listen SPEC]... "
		   "[options]\n"
		   "\n"
		   "Accept tunnels from clients that hold a key; stay silent to everyone else.\n"
		   "Every option is also a setting of the configuration file (see postern(1)).\n"
		   "\n");
	fprintf(f, "  -c, --config FILE           server configuration (INI); flags override it\n");
	settings_usage(SETTINGS_SERVER, f);
}

static int configure(int argc, char **argv, struct config_server *c, enum log_level *lvl)
{
	char err[CONFIG_ERR_MAX];
	int log = 0, rc = conf_server_args(argc, argv, c, &log, err);
	if (rc == 1) {
		usage(stdout);
		exit(0);
	}
	if (rc != 0) {
		fprintf(stderr, "postern server: %s\n", err);
		return -1;
	}
	if (log != 0)
		*lvl = log > 0 ? LOG_LVL_DEBUG : LOG_LVL_WARN;
	return 0;
}

/*
 * The descriptor reserve: listeners and libuv's own, every unauthenticated
 * connection, every held refusal and the accept path's spare, and every
 * session (one socket each) with its -R listeners counted at two per
 * session. Channels get the rest.
 */
/*
 * The two kinds of identity side by side: PSK ones go to trial decryption
 * (handshake_keys), public-key ones into the IK table under the host key.
 */
static int setup_identities(struct server *srv)
{
	const uint8_t **pubs = calloc(srv->cfg.nkeys + 1, sizeof(*pubs));
	uint32_t *owners = calloc(srv->cfg.nkeys + 1, sizeof(*owners));
	struct handshake_ik *ik = NULL;
	size_t npub = 0;
	int rc = -1;
	srv->psk_owner = calloc(srv->cfg.nkeys + 1, sizeof(*srv->psk_owner));
	if (pubs == NULL || owners == NULL || srv->psk_owner == NULL)
		goto out;
	for (size_t i = 0; i < srv->cfg.nkeys; i++) {
		const struct config_key *k = &srv->cfg.keys[i];
		if (k->has_public_key) {
			pubs[npub] = k->public_key;
			owners[npub++] = (uint32_t)i;
		} else {
			srv->psks[srv->npsk] = k->psk;
			srv->psk_owner[srv->npsk++] = (uint32_t)i;
		}
	}
	struct handshake_keys *keys = handshake_keys_new(srv->psks, srv->npsk);
	srv->verify = verify_new(srv->loop, keys);
	if (srv->verify == NULL) {
		handshake_keys_free(keys);
		goto out;
	}
	if (srv->cfg.host_key[0] != '\0') {
		ik = handshake_ik_new(srv->cfg.host_priv, pubs, owners, npub, NULL);
		srv->dh = dhrate_new(srv->cfg.dh_rate, srv->cfg.dh_burst);
		if (ik == NULL || srv->dh == NULL)
			goto out;
		verify_set_ik(srv->verify, ik);
		ik = NULL;
	}
	rc = 0;
out:
	if (rc != 0)
		log_error("out of memory");
	handshake_ik_free(ik);
	free(pubs);
	free(owners);
	return rc;
}

static int setup_limits(struct server *srv)
{
	char err[256];
	unsigned long reserve = 64 + srv->cfg.nlisten + (unsigned long)srv->cfg.max_unauth +
				srv->cfg.max_refusals + 1 + 3ul * srv->cfg.max_sessions;
	if (reserve > 16777216)
		reserve = 16777216;
	log_set_peer_rate(srv->cfg.log_rate);
	session_set_server_buffer((size_t)srv->cfg.server_buffer_mib << 20);
	if (fdbudget_init(srv->cfg.max_fds, (unsigned)reserve, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (fdbudget_reserve_shrunk())
		log_warn("descriptor limit %u is low for max_unauth %u and max_sessions %u: "
			 "%u kept for them, %u for channels (raise max_fds or the hard "
			 "RLIMIT_NOFILE)",
			 fdbudget_limit(), srv->cfg.max_unauth, srv->cfg.max_sessions,
			 fdbudget_reserve(), fdbudget_channels());
	else
		log_info("descriptor limit %u: %u for channels", fdbudget_limit(),
			 fdbudget_channels());
	return 0;
}

/*
 * state_dir = auto: root keeps its state where a system daemon does; anyone
 * else in their own XDG state directory (created, 0700, like ~/.ssh), so a
 * first `postern server` as a normal user needs no flag.
 */
static int resolve_state_dir(char *dir, size_t len)
{
	if (strcmp(dir, "auto") != 0)
		return 0;
	if (geteuid() == 0) {
		snprintf(dir, len, "/var/lib/postern");
		return 0;
	}
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char base[CONFIG_PATH_MAX + 1];
	if (xdg != NULL && xdg[0] == '/')
		snprintf(base, sizeof(base), "%s", xdg);
	else if (home != NULL && home[0] == '/')
		snprintf(base, sizeof(base), "%s/.local/state", home);
	else {
		log_error("state_dir auto: neither XDG_STATE_HOME nor HOME is set; give "
			  "--state-dir DIR (or --state-dir none)");
		return -1;
	}
	/* Create the parents (~/.local, ~/.local/state) as XDG expects; the state
	 * directory itself is created and locked by replay_file_open(). */
	for (char *p = base + 1; *p != 0; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(base, 0700);
		*p = '/';
	}
	mkdir(base, 0700);
	if ((size_t)snprintf(dir, len, "%s/postern", base) >= len) {
		log_error("state_dir auto: %s/postern is too long", base);
		return -1;
	}
	return 0;
}

static int setup(struct server *srv)
{
	struct abuse_config ac = {
	    .ban_threshold = srv->cfg.ban_threshold,
	    .ban_window_s = srv->cfg.ban_window_s,
	    .ban_time_s = srv->cfg.ban_time_s,
	    .max_unauth = srv->cfg.max_unauth,
	    .max_unauth_per_source = srv->cfg.max_unauth_per_source,
	};
	char err[REPLAY_FILE_ERR_MAX];
	if (srv->cfg.nban_exempt > ABUSE_EXEMPT_MAX) {
		log_error("ban_exempt: %zu entries, at most %d", srv->cfg.nban_exempt,
			  ABUSE_EXEMPT_MAX);
		return -1;
	}
	for (size_t i = 0; i < srv->cfg.nban_exempt; i++) {
		const struct config_cidr *e = &srv->cfg.ban_exempt[i];
		struct abuse_cidr *x = &ac.exempt[ac.nexempt++];
		x->len = e->family == AF_INET ? 4 : 16;
		memcpy(x->bytes, e->addr, x->len);
		x->bits = e->bits;
	}
	srv->psks = calloc(srv->cfg.nkeys + 1, sizeof(*srv->psks));
	srv->tags = calloc(srv->cfg.nkeys + 1, sizeof(*srv->tags));
	srv->abuse = abuse_new(&ac);
	srv->replay = replay_new(srv->cfg.replay_window_s, srv->cfg.replay_cache);
	srv->pen = calloc(srv->cfg.max_refusals, sizeof(*srv->pen));
	if (srv->psks == NULL || srv->tags == NULL || srv->abuse == NULL || srv->replay == NULL ||
	    srv->pen == NULL ||
	    replay_set_quota(srv->replay, (uint32_t)srv->cfg.nkeys, srv->cfg.replay_quota) != 0) {
		log_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < srv->cfg.nkeys; i++)
		srv->tags[i] = replay_file_tag(srv->cfg.keys[i].name);
	if (setup_identities(srv) != 0)
		return -1;
	if (setup_limits(srv) != 0)
		return -1;
	uv_signal_init(srv->loop, &srv->sigint);
	uv_signal_init(srv->loop, &srv->sigterm);
	srv->sigint.data = srv->sigterm.data = srv;
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->spare_fd < 0) {
		log_error("cannot open /dev/null for the descriptor reserve: %s", strerror(errno));
		return -1;
	}
	uv_timer_init(srv->loop, &srv->accept_pause);
	srv->accept_pause.data = srv;
	uv_signal_start(&srv->sigint, on_signal, SIGINT);
	uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
	uv_signal_t *info[] = {&srv->sighup, &srv->sigusr1, &srv->sigusr2};
	int infonum[] = {SIGHUP, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < 3; i++) {
		uv_signal_init(srv->loop, info[i]);
		info[i]->data = srv;
		uv_signal_start(info[i], on_info_signal, infonum[i]);
	}
	if (bind_listeners(srv) != 0)
		return -1;
	/* Before the loop runs, so no first message is judged without the restored cache. */
	if (resolve_state_dir(srv->cfg.state_dir, sizeof(srv->cfg.state_dir)) != 0)
		return -1;
	if (strcmp(srv->cfg.state_dir, "none") == 0) {
		log_warn("state_dir none: the replay cache is not persisted, so a first message "
			 "captured before a restart can be replayed after it (within "
			 "replay_window)");
	} else {
		srv->rf = replay_file_open(srv->loop, srv->cfg.state_dir, srv->replay, srv->tags,
					   srv->cfg.nkeys, now_ms(), err);
		if (srv->rf == NULL) {
			log_error("%s", err);
			return -1;
		}
	}
	return 0;
}

int cmd_server(int argc, char **argv)
{
	struct server srv = {0};
	enum log_level lvl = LOG_LVL_INFO;
	int rc = EXIT_USAGE;
	srv.spare_fd = -1;
	config_server_defaults(&srv.cfg);
	if (configure(argc, argv, &srv.cfg, &lvl) != 0)
		goto out;
	log_set_level(lvl);
	signal(SIGPIPE, SIG_IGN);
	srv.loop = uv_default_loop();
	rc = EXIT_RUNTIME;
	if (setup(&srv) != 0)
		goto out;
	if (srv.cfg.reject_delay_min_ms < 1000)
		log_warn(
		    "reject_delay starts below 1 s: a client has only that long after connecting "
		    "to deliver its first message, so real clients may be refused");
	for (size_t i = 0; i < srv.cfg.nkeys; i++)
		if (!policy_permits_anything(&srv.cfg.keys[i]))
			log_warn(
			    "key '%s' permits nothing: every forward it asks for will be denied "
			    "(give it permit_open or permit_listen; on the command line "
			    "--permit-open or --permit-listen)",
			    srv.cfg.keys[i].name);
	log_info("server ready: %zu key(s), %zu listener(s)", srv.cfg.nkeys, srv.nlisteners);
	if (srv.cfg.host_key[0] != '\0') {
		/* The public half is what clients pin: printing it saves a trip to the .pub file.
		 */
		uint8_t pub[CRYPTO_KEY_LEN];
		char line[KEYS_PUB_LINE_MAX];
		if (crypto_dh_pub(srv.cfg.host_priv, pub) == 0) {
			keys_public_line(pub, line);
			log_info("host key %s; %zu public-key and %zu pre-shared identities", line,
				 srv.cfg.nkeys - srv.npsk, srv.npsk);
		}
	}
	busypoll_init(&srv.poll, srv.cfg.busy_poll_us);
	busypoll_run(&srv.poll, srv.loop);
	rc = 0;
out:
	if (srv.loop != NULL) {
		uv_walk(srv.loop, close_walk, NULL);
		/* Also lets a verification still on a worker finish. */
		uv_run(srv.loop, UV_RUN_DEFAULT);
		verify_free(srv.verify);
		uv_loop_close(srv.loop);
	}
	replay_file_close(srv.rf);
	free(srv.psks);
	free(srv.psk_owner);
	dhrate_free(srv.dh);
	crypto_wipe(srv.cfg.host_priv, sizeof(srv.cfg.host_priv));
	free(srv.pen);
	if (srv.spare_fd >= 0)
		close(srv.spare_fd);
	free(srv.tags);
	abuse_free(srv.abuse);
	replay_free(srv.replay);
	config_server_free(&srv.cfg);
	session_txbuf_pool_drain();
	return rc;
}
