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
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cmd/cmd.h"
#include "conf/server.h"
#include "conf/settings.h"
#include "crypto/replay.h"
#include "ctl/control.h"
#include "guard/abuse.h"
#include "guard/dhrate.h"
#include "spa/spa.h"
#include "fleet/fleet.h"
#include "state/replay_file.h"
#include "guard/policy.h"
#include "tunnel/channel.h"
#include "tunnel/fwd_remote.h"
#include "tunnel/handshake.h"
#include "tunnel/session.h"
#include "tunnel/verify.h"
#include "util/busypoll.h"
#include "util/caps.h"
#include "util/config.h"
#include "util/fdbudget.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/sdnotify.h"
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
	int state;		      /* enum listener_state */
	char spec[NET_HOST_MAX + 16]; /* the listen entry it came from, for reload */
};

/* A slot's handle cannot move while libuv holds it, so a reload frees slots
 * in place: a closing one is reused only after its close callback. */
enum listener_state { LISTENER_FREE = 0, LISTENER_ACTIVE, LISTENER_CLOSING };

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
	uint64_t started_ms; /* Unix ms of the authentication */
	/* Accepted here, waiting for the fleet's word before message 2 leaves. */
	struct fleet_op *fop;
	int fleet_held;
	size_t fleet_which;
	uint8_t fleet_reply[HANDSHAKE_MSG_LEN];
	struct noise_cipher fleet_tx, fleet_rx;
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
	struct spa *spa;	/* [spa]: knocks open the listeners; NULL = SPA off */
	struct fleet *fleet;	/* [fleet]: shared replay, bans, grants; NULL = alone */
	uint64_t *tags;		/* per key: its identity tag in the state directory */
	struct listener listeners[MAX_LISTENERS];
	size_t nlisteners;   /* slots in use (any state but free) */
	struct ctl *ctl;     /* the control socket, or NULL */
	struct ctl *metrics; /* metrics_listen, or NULL */
	int pid_written;     /* pid_file is ours to remove */
	/* Counters for metrics: they only grow. */
	uint64_t refusals[8]; /* by enum refusal_kind */
	uint64_t closed_bytes_in, closed_bytes_out, sessions_total;
	int argc; /* the command line, read again on SIGHUP */
	char **argv;
	unsigned reloads;
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

/* Refusal reasons as metrics count them (a stable, small label set). */
enum refusal_kind {
	REF_NO_KEY,
	REF_STALE,
	REF_REPLAY,
	REF_BANNED,
	REF_CAPACITY,
	REF_TIMEOUT,
	REF_OTHER,
	REF_KINDS
};
static const char *const refusal_label[REF_KINDS] = {"no_key",	 "stale",   "replay", "banned",
						     "capacity", "timeout", "other"};

static enum refusal_kind refusal_kind_of(const char *reason)
{
	if (strstr(reason, "no key") != NULL)
		return REF_NO_KEY;
	if (strstr(reason, "stale") != NULL || strstr(reason, "clock") != NULL)
		return REF_STALE;
	if (strstr(reason, "replay") != NULL || strstr(reason, "seen") != NULL)
		return REF_REPLAY;
	if (strstr(reason, "banned") != NULL)
		return REF_BANNED;
	if (strstr(reason, "too many") != NULL || strstr(reason, "full") != NULL ||
	    strstr(reason, "descriptors") != NULL || strstr(reason, "evicted") != NULL)
		return REF_CAPACITY;
	if (strstr(reason, "time") != NULL)
		return REF_TIMEOUT;
	return REF_OTHER;
}

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
			log_info("refusals not logged (rate limit) count=%u", srv->log_suppressed);
		srv->log_second = sec;
		srv->log_count = srv->log_suppressed = 0;
	}
	if (srv->log_count++ < REFUSAL_LOGS_PER_S)
		log_info("refused peer=%s reason=%s", peer, log_q(reason));
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
	log_info("session authenticated id=%lu peer=%s key=%s", session_id(c->s),
		 session_peer(c->s), log_q(c->key->name));
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

static void accept_session(struct conn *c, size_t which, const uint8_t *reply,
			   struct noise_cipher *tx, struct noise_cipher *rx)
{
	struct server *srv = c->srv;
	c->key = &srv->cfg.keys[which];
	c->started_ms = now_ms();
	srv->sessions_total++;
	session_set_ident(c->s, c->key);
	release_pending(c);
	log_key(c);
	session_handshake_done(c->s, reply, tx, rx, NULL);
}

static void fleet_unhold(struct conn *c)
{
	fleet_cancel(c->fop);
	c->fop = NULL;
	if (!c->fleet_held)
		return;
	c->fleet_held = 0;
	noise_cipher_clear(&c->fleet_tx);
	noise_cipher_clear(&c->fleet_rx);
	crypto_wipe(c->fleet_reply, sizeof(c->fleet_reply));
}

/* Another gateway may have accepted the same message: the fleet's verdict. */
static void fleet_judged(struct conn *c, size_t which, enum fleet_verdict v, const uint8_t *reply,
			 struct noise_cipher *tx, struct noise_cipher *rx)
{
	if (v == FLEET_SEEN)
		session_handshake_done(c->s, NULL, NULL, NULL,
				       "replayed (accepted by another gateway of the fleet)");
	else if (v == FLEET_DOWN && fleet_fail_closed(c->srv->fleet))
		session_handshake_done(c->s, NULL, NULL, NULL,
				       "fleet unreachable (fail_closed): replay not checked");
	else
		accept_session(c, which, reply, tx, rx);
}

static void on_fleet_claim(void *arg, enum fleet_verdict v)
{
	struct conn *c = arg;
	c->fop = NULL;
	/* The reject delay passed meanwhile: the session refused itself. */
	if (session_judging(c->s) && c->fleet_held)
		fleet_judged(c, c->fleet_which, v, c->fleet_reply, &c->fleet_tx, &c->fleet_rx);
	fleet_unhold(c);
}

/*
 * fleet_hold(c, f, ttl, reply, tx, rx): ask the fleet whether the message
 * is new there too. Returns 0 when the answer comes later (the reply and
 * ciphers moved into ${c}); otherwise the verdict was given here.
 */
static int fleet_hold(struct conn *c, const struct handshake_found *f, uint64_t ttl,
		      const uint8_t *reply, struct noise_cipher *tx, struct noise_cipher *rx)
{
	enum fleet_verdict v = fleet_claim(c->srv->fleet, "tunnel", f->id, sizeof(f->id), ttl,
					   on_fleet_claim, c, &c->fop);
	if (v != FLEET_PENDING) {
		fleet_judged(c, f->which, v, reply, tx, rx);
		return 1;
	}
	c->fleet_held = 1;
	c->fleet_which = f->which;
	memcpy(c->fleet_reply, reply, sizeof(c->fleet_reply));
	c->fleet_tx = *tx;
	c->fleet_rx = *rx;
	memset(tx, 0, sizeof(*tx));
	memset(rx, 0, sizeof(*rx));
	return 0;
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
	uint64_t end = ts + (uint64_t)srv->cfg.replay_window_s * 1000;
	if (srv->fleet != NULL)
		fleet_hold(c, f, end > now ? end - now : 1, reply, &tx, &rx);
	else
		accept_session(c, f->which, reply, &tx, &rx);
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
	srv->refusals[refusal_kind_of(reason)]++;
	log_refusal(srv, session_peer(s), reason);
	pen_add(srv, c);
	if (c->held)
		return;
	uint64_t now = now_ms(), until = now + (uint64_t)srv->cfg.ban_time_s * 1000;
	if (abuse_fail(srv->abuse, &c->src, now)) {
		char src[64];
		log_warn("banned source=%s seconds=%u failures=%u",
			 abuse_format_source(&c->src, src, sizeof(src)), srv->cfg.ban_time_s,
			 srv->cfg.ban_threshold);
		/* A banned source is filtered again, grant or not. */
		spa_revoke_source(srv->spa, c->src.bytes, c->src.len);
		fleet_publish_ban(srv->fleet, c->src.bytes, c->src.len, until);
		return;
	}
	if (srv->fleet != NULL && !abuse_is_banned(srv->abuse, &c->src, now) &&
	    !abuse_exempt(srv->abuse, &c->src))
		fleet_fail(srv->fleet, c->src.bytes, c->src.len, srv->cfg.ban_threshold,
			   (uint64_t)srv->cfg.ban_window_s * 1000, until);
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
	log_peer(LOG_LVL_WARN, "channel denied session=%lu channel=%u target=%s key=%s reason=%s",
		 session_id(s), f->chan, log_q(target), log_q(c->key->name), log_q(why));
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
		log_warn("remote forward denied session=%lu listen=%s key=%s reason=%s",
			 session_id(s), log_q(name), log_q(c->key->name), log_q(why));
		listen_reply(s, f->listen_id, 0, 0, FRAME_FAIL_PROHIBITED, why);
		return;
	}
	if (fwd_remote_open(s, f->listen_id, &bind, &port, &uv_err, err) != 0) {
		log_warn("remote forward failed session=%lu key=%s error=%s", session_id(s),
			 log_q(c->key->name), log_q(err));
		listen_reply(s, f->listen_id, 0, 0, channel_fail_code(uv_err), strerror(-uv_err));
		return;
	}
	bind.port = port;
	net_format_endpoint(&bind, name, sizeof(name));
	log_info("remote forward listening session=%lu listen=%s key=%s policy=%s", session_id(s),
		 log_q(name), log_q(c->key->name), log_q(why));
	listen_reply(s, f->listen_id, 1, port, 0, NULL);
}

static void on_closed(void *arg, struct session *s, const char *reason)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	if (c->key != NULL) {
		struct session_stats st;
		session_get_stats(s, &st);
		srv->closed_bytes_in += st.bytes_in;
		srv->closed_bytes_out += st.bytes_out;
		log_info("session closed id=%lu reason=%s bytes_in=%llu bytes_out=%llu",
			 session_id(s), log_q(reason), (unsigned long long)st.bytes_in,
			 (unsigned long long)st.bytes_out);
	}
	verify_cancel(c->job);
	c->job = NULL;
	fleet_unhold(c);
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
	/* The listener's filter guards the door, not the session behind it. */
	spa_accepted(srv->spa, fd);
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
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		if (srv->listeners[i].state == LISTENER_ACTIVE)
			uv_poll_stop(&srv->listeners[i].poll);
	uv_timer_start(&srv->accept_pause, on_accept_resume, ACCEPT_PAUSE_MS, 0);
	log_refusal(srv, "new connections", "out of descriptors; they wait in the listen queue");
}

static void on_readable(uv_poll_t *h, int status, int events);

static void on_accept_resume(uv_timer_t *t)
{
	struct server *srv = t->data;
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		if (srv->listeners[i].state == LISTENER_ACTIVE)
			uv_poll_start(&srv->listeners[i].poll, UV_READABLE, on_readable);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;
	struct server *srv = l->srv;
	(void)events;
	if (status < 0) {
		log_warn("accept failed error=%s", log_q(uv_strerror(status)));
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
			log_warn("accept failed error=%s", log_q(strerror(errno)));
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
	struct listener *l = NULL;
	for (size_t i = 0; i < MAX_LISTENERS && l == NULL; i++)
		if (srv->listeners[i].state == LISTENER_FREE)
			l = &srv->listeners[i];
	if (l == NULL) {
		log_error("too many listen addresses max=%d", MAX_LISTENERS);
		return -1;
	}
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
		log_error("cannot listen listen=%s addr=%s error=%s", log_q(spec),
			  net_format_sockaddr(sa, name, sizeof(name)), log_q(strerror(-rc)));
		return -1;
	}
	char err[SPA_GRANT_ERR_MAX];
	if (srv->spa != NULL && spa_guard(srv->spa, l->fd, err) != 0) {
		log_error("%s", err);
		uv_close((uv_handle_t *)&l->poll, NULL);
		close(l->fd);
		return -1;
	}
	l->poll.data = l;
	l->state = LISTENER_ACTIVE;
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	uv_poll_start(&l->poll, UV_READABLE, on_readable);
	srv->nlisteners++;
	log_info("listening addr=%s",
		 net_format_sockaddr((struct sockaddr *)&ss, name, sizeof(name)));
	return 0;
}

/*
 * bind_endpoint(srv, ep): listen on every address ${ep} resolves to. At
 * start and on reload, when blocking name resolution is acceptable (a
 * reload's lookup of a name in `listen` stalls the loop for that long).
 */
static int bind_endpoint(struct server *srv, const struct net_endpoint *ep)
{
	{
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
			log_error("cannot resolve listen=%s error=%s", log_q(spec),
				  log_q(gai_strerror(g)));
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

static int bind_listeners(struct server *srv)
{
	for (size_t i = 0; i < srv->cfg.nlisten; i++)
		if (bind_endpoint(srv, &srv->cfg.listen[i]) != 0)
			return -1;
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	l->state = LISTENER_FREE;
	l->srv->nlisteners--;
}

/* listener_close(l): stop accepting on ${l}; its slot frees once libuv lets go. */
static void listener_close(struct listener *l)
{
	l->state = LISTENER_CLOSING;
	spa_unguard(l->srv->spa, l->fd);
	uv_close((uv_handle_t *)&l->poll, on_listener_closed);
	close(l->fd);
	l->fd = -1;
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

/* Its connections and timers would keep the loop alive; claims in flight are dropped. */
static void stop_fleet(struct server *srv)
{
	for (struct conn *c = srv->head; c != NULL; c = c->next)
		fleet_unhold(c);
	spa_set_fleet(srv->spa, NULL);
	fleet_free(srv->fleet);
	srv->fleet = NULL;
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct server *srv = sig->data;
	log_info("shutting down signal=%d", signum);
	sdnotify_stopping();
	srv->stopping = 1;
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		if (srv->listeners[i].state == LISTENER_ACTIVE)
			listener_close(&srv->listeners[i]);
	uv_close((uv_handle_t *)&srv->accept_pause, NULL);
	ctl_close(srv->ctl);
	srv->ctl = NULL;
	ctl_close(srv->metrics);
	srv->metrics = NULL;
	for (struct conn *c = srv->head; c != NULL; c = c->next)
		session_close(c->s, "server shutting down", 1);
	stop_fleet(srv);
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
	log_info("status ban source=%s seconds_left=%llu",
		 abuse_format_source(src, name, sizeof(name)), (unsigned long long)left_s);
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
	log_info("status sessions=%u channels=%zu unauthenticated=%u refusals_held=%u", sessions,
		 channels, abuse_pending(srv->abuse), srv->npen);
	size_t bans = abuse_each_ban(srv->abuse, now_ms(), log_ban, NULL);
	log_info("status bans=%zu", bans);
}

/*
 * The two kinds of identity side by side: PSK ones go to trial decryption
 * (handshake_keys), public-key ones into the IK table under the host key.
 * Built whole before anything uses it, at start and on reload alike.
 */
struct ident_set {
	const uint8_t **psks;
	uint32_t *psk_owner; /* PSK index -> index in cfg.keys */
	size_t npsk;
	struct handshake_keys *keys;
	struct handshake_ik *ik; /* NULL without a host key */
};

static void ident_free(struct ident_set *set)
{
	free((void *)set->psks);
	free(set->psk_owner);
	handshake_keys_free(set->keys);
	handshake_ik_free(set->ik);
	memset(set, 0, sizeof(*set));
}

static int ident_build(const struct config_server *cfg, struct ident_set *set)
{
	const uint8_t **pubs = calloc(cfg->nkeys + 1, sizeof(*pubs));
	uint32_t *owners = calloc(cfg->nkeys + 1, sizeof(*owners));
	size_t npub = 0;
	int rc = -1;
	memset(set, 0, sizeof(*set));
	set->psks = calloc(cfg->nkeys + 1, sizeof(*set->psks));
	set->psk_owner = calloc(cfg->nkeys + 1, sizeof(*set->psk_owner));
	if (pubs == NULL || owners == NULL || set->psks == NULL || set->psk_owner == NULL)
		goto out;
	for (size_t i = 0; i < cfg->nkeys; i++) {
		const struct config_key *k = &cfg->keys[i];
		/* A knock-only (fwknop) identity has no PSK: its zero bytes must never
		 * become a key the handshake accepts. */
		if (!config_key_tunnel(k))
			continue;
		if (k->has_public_key) {
			pubs[npub] = k->public_key;
			owners[npub++] = (uint32_t)i;
		} else {
			set->psks[set->npsk] = k->psk;
			set->psk_owner[set->npsk++] = (uint32_t)i;
		}
	}
	set->keys = handshake_keys_new(set->psks, set->npsk);
	if (set->keys == NULL)
		goto out;
	if (cfg->host_key[0] != '\0') {
		set->ik = handshake_ik_new(cfg->host_priv, pubs, owners, npub, NULL);
		if (set->ik == NULL)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		ident_free(set);
	free(pubs);
	free(owners);
	return rc;
}

/* ident_install(srv, set): the queue judges with ${set} from now on (it takes the tables). */
static void ident_install(struct server *srv, struct ident_set *set)
{
	verify_set_keys(srv->verify, set->keys);
	verify_set_ik(srv->verify, set->ik);
	set->keys = NULL;
	set->ik = NULL;
	free((void *)srv->psks);
	free(srv->psk_owner);
	srv->psks = set->psks;
	srv->psk_owner = set->psk_owner;
	srv->npsk = set->npsk;
	set->psks = NULL;
	set->psk_owner = NULL;
}

/* --- reload (SIGHUP) --- */

/* What a closed-by-reload session points at until its close completes: the
 * old stanza is freed with the old configuration, and a zeroed key permits
 * nothing (struct config_key). */
static const struct config_key revoked_key = {.name = "(removed by reload)"};

/*
 * keep_fixed(srv, nc): settings sized or used once at start (the replay
 * cache, the pen, the descriptor budget, abuse accounting, the state
 * directory, the user, the log sink) keep their running value; a change is
 * logged so the operator knows a restart is needed.
 */
static void keep_fixed(const struct server *srv, struct config_server *nc)
{
	const struct config_server *o = &srv->cfg;
#define KEEP(field, name)                                                                          \
	do {                                                                                       \
		if (memcmp(&nc->field, &o->field, sizeof(o->field)) != 0)                          \
			log_warn("reload: takes effect on restart setting=%s", name);              \
		memcpy(&nc->field, &o->field, sizeof(o->field));                                   \
	} while (0)
	KEEP(replay_window_s, "replay_window");
	KEEP(replay_cache, "replay_cache");
	KEEP(max_refusals, "max_refusals");
	KEEP(max_fds, "max_fds");
	KEEP(max_unauth, "max_unauth");
	KEEP(max_unauth_per_source, "max_unauth_per_source");
	KEEP(ban_threshold, "ban_threshold");
	KEEP(ban_window_s, "ban_window");
	KEEP(ban_time_s, "ban_time");
	KEEP(busy_poll_us, "busy_poll");
	KEEP(server_buffer_mib, "server_buffer");
	KEEP(dh_rate, "dh_rate");
	KEEP(dh_burst, "dh_burst");
	KEEP(user, "user");
	KEEP(log_sink, "log");
	KEEP(control, "control");
	KEEP(pid_file, "pid_file");
	KEEP(metrics_listen, "metrics_listen");
	KEEP(control_group, "control_group");
	KEEP(control_max, "control_max");
	KEEP(control_request_max, "control_request_max");
	KEEP(control_output_max, "control_output_max");
	/* The Redis links are opened once; where [fleet] sits in the file does not matter. */
	nc->fleet.section_line = o->fleet.section_line;
	KEEP(fleet, "[fleet]");
#undef KEEP
	if (nc->nban_exempt != o->nban_exempt ||
	    (o->nban_exempt > 0 &&
	     memcmp(nc->ban_exempt, o->ban_exempt, o->nban_exempt * sizeof(*o->ban_exempt)) != 0))
		log_warn("reload: takes effect on restart setting=ban_exempt");
	/* state_dir was resolved at start ("auto" became a path): compare as written. */
	if (strcmp(nc->state_dir, "auto") != 0 && strcmp(nc->state_dir, o->state_dir) != 0)
		log_warn("reload: takes effect on restart setting=state_dir");
	memcpy(nc->state_dir, o->state_dir, sizeof(o->state_dir));
}

static int listen_wanted(const struct config_server *c, const char *spec)
{
	char name[NET_HOST_MAX + 16];
	for (size_t i = 0; i < c->nlisten; i++)
		if (strcmp(net_format_endpoint(&c->listen[i], name, sizeof(name)), spec) == 0)
			return 1;
	return 0;
}

static int listening_on(const struct server *srv, const char *spec)
{
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		if (srv->listeners[i].state == LISTENER_ACTIVE &&
		    strcmp(srv->listeners[i].spec, spec) == 0)
			return 1;
	return 0;
}

/*
 * reload_bind(srv, nc, added): bind the listen entries of ${nc} not bound
 * yet, marking their slots in ${added}. On failure the ones bound here are
 * closed again and -1 returned, so the reload can be refused whole.
 */
static int reload_bind(struct server *srv, const struct config_server *nc, int *added)
{
	int before[MAX_LISTENERS];
	char spec[NET_HOST_MAX + 16];
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		before[i] = srv->listeners[i].state != LISTENER_FREE;
	for (size_t i = 0; i < nc->nlisten; i++) {
		net_format_endpoint(&nc->listen[i], spec, sizeof(spec));
		if (listening_on(srv, spec))
			continue;
		if (bind_endpoint(srv, &nc->listen[i]) != 0)
			goto fail;
	}
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		added[i] = !before[i] && srv->listeners[i].state == LISTENER_ACTIVE;
	return 0;
fail:
	for (size_t i = 0; i < MAX_LISTENERS; i++)
		if (!before[i] && srv->listeners[i].state == LISTENER_ACTIVE)
			listener_close(&srv->listeners[i]);
	return -1;
}

/*
 * key_map(old, nc, map): map[o] is the index in ${nc} of old key o when a
 * stanza of that name holds the same key, else REPLAY_NO_OWNER: a key file
 * that now holds another key is a revocation of the old one.
 */
/* The same secret (PSK) or the same public key (IK): who the peer proved to be. */
static int same_identity(const struct config_key *a, const struct config_key *b)
{
	if (a->has_public_key != b->has_public_key)
		return 0;
	if (!config_key_tunnel(a) || !config_key_tunnel(b))
		return !config_key_tunnel(a) && !config_key_tunnel(b) &&
		       a->fwknop.hmac_len == b->fwknop.hmac_len &&
		       crypto_memeq(a->fwknop.hmac, b->fwknop.hmac, a->fwknop.hmac_len);
	if (a->has_public_key)
		return crypto_memeq(a->public_key, b->public_key, CRYPTO_KEY_LEN);
	return crypto_memeq(a->psk, b->psk, CRYPTO_KEY_LEN);
}

static void key_map(const struct config_server *old, const struct config_server *nc, uint32_t *map)
{
	for (size_t o = 0; o < old->nkeys; o++) {
		map[o] = REPLAY_NO_OWNER;
		for (size_t i = 0; i < nc->nkeys; i++)
			if (strcmp(old->keys[o].name, nc->keys[i].name) == 0 &&
			    same_identity(&old->keys[o], &nc->keys[i]))
				map[o] = (uint32_t)i;
	}
}

/*
 * reload_sessions(srv, nc, map): sessions of kept keys now answer to the new
 * stanza (its policy decides their next channels); sessions of removed keys
 * are closed with a GOODBYE and logged.
 */
static unsigned reload_sessions(struct server *srv, struct config_server *nc, const uint32_t *map)
{
	unsigned closed = 0;
	for (struct conn *c = srv->head; c != NULL; c = c->next) {
		if (c->key == NULL || c->key == &revoked_key)
			continue;
		uint32_t j = map[c->key - srv->cfg.keys];
		if (j != REPLAY_NO_OWNER) {
			c->key = &nc->keys[j];
			session_set_ident(c->s, c->key);
			continue;
		}
		log_warn("session revoked by reload id=%lu peer=%s key=%s", session_id(c->s),
			 session_peer(c->s), log_q(c->key->name));
		c->key = &revoked_key;
		session_set_ident(c->s, c->key);
		session_close(c->s, "key revoked by reload", 1);
		closed++;
	}
	return closed;
}

/*
 * reload(srv): read the command line and the file again. Everything that
 * can fail (parsing, keys, memory, binding new listeners) happens before
 * anything changes, so a bad configuration leaves the old one serving.
 */
static int reload(struct server *srv)
{
	struct config_server nc;
	char err[CONFIG_ERR_MAX];
	int log = 0, added[MAX_LISTENERS] = {0};
	uint64_t *tags = NULL;
	uint32_t *map = NULL;
	struct ident_set set = {0};
	int rc = -1;

	config_server_defaults(&nc);
	if (conf_server_args(srv->argc, srv->argv, &nc, &log, err) != 0) {
		log_error("reload rejected, configuration unchanged error=%s", log_q(err));
		goto out;
	}
	keep_fixed(srv, &nc);
	tags = calloc(nc.nkeys + 1, sizeof(*tags));
	map = calloc(srv->cfg.nkeys + 1, sizeof(*map));
	if (tags == NULL || map == NULL)
		goto oom;
	for (size_t i = 0; i < nc.nkeys; i++)
		tags[i] = replay_file_tag(nc.keys[i].name);
	key_map(&srv->cfg, &nc, map);
	if (ident_build(&nc, &set) != 0)
		goto oom;
	if (srv->rf != NULL && replay_file_set_tags(srv->rf, tags, nc.nkeys) != 0)
		goto oom;
	if (replay_reown(srv->replay, map, (uint32_t)srv->cfg.nkeys, (uint32_t)nc.nkeys,
			 nc.replay_quota) != 0) {
		replay_file_set_tags(srv->rf, srv->tags, srv->cfg.nkeys);
		goto oom;
	}
	if (reload_bind(srv, &nc, added) != 0) {
		replay_file_set_tags(srv->rf, srv->tags, srv->cfg.nkeys);
		replay_reown(srv->replay, NULL, 0, (uint32_t)srv->cfg.nkeys, srv->cfg.replay_quota);
		log_error("reload rejected, configuration unchanged error=%s",
			  log_q("a new listen address cannot be bound"));
		goto out;
	}
	if ((srv->spa != NULL) != (nc.spa.nlisten > 0))
		log_warn("reload: [spa] turned %s takes effect at the next start",
			 srv->spa != NULL ? "off" : "on");
	else if (srv->spa != NULL)
		log_info("reload: the SPA identities are reloaded; other [spa] settings take "
			 "effect at the next start");
	if (srv->spa != NULL && spa_set_keys(srv->spa, &nc, tags) != 0) {
		log_error("reload: out of memory for the SPA identities; their old policy stays");
	}
	/* Nothing fails from here on. */
	ident_install(srv, &set);
	unsigned closed = reload_sessions(srv, &nc, map);
	for (size_t i = 0; i < MAX_LISTENERS; i++) {
		struct listener *l = &srv->listeners[i];
		if (l->state == LISTENER_ACTIVE && !added[i] && !listen_wanted(&nc, l->spec)) {
			log_info("reload: no longer listening listen=%s", log_q(l->spec));
			listener_close(l);
		}
	}
	struct config_server old = srv->cfg;
	srv->cfg = nc;
	config_server_free(&old);
	free(srv->tags);
	srv->tags = tags;
	tags = NULL;
	log_set_peer_rate(srv->cfg.log_rate);
	srv->reloads++;
	log_info("reload applied keys=%zu sessions_closed=%u listeners=%zu", srv->cfg.nkeys, closed,
		 srv->nlisteners);
	rc = 0;
	goto out;
oom:
	log_error("reload rejected, configuration unchanged error=\"out of memory\"");
out:
	if (rc != 0)
		config_server_free(&nc);
	ident_free(&set);
	free(tags);
	free(map);
	return rc;
}

/* Signals an operator sends by habit must never kill the gateway silently. */
static void on_info_signal(uv_signal_t *sig, int signum)
{
	struct server *srv = sig->data;
	if (signum == SIGHUP) {
		log_info("reloading from=SIGHUP");
		sdnotify_reloading();
		reload(srv);
		sdnotify_ready();
	} else if (signum == SIGUSR1)
		log_status(srv);
	else
		log_info("signal ignored (SIGUSR1 logs the status) signal=SIGUSR2");
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
 * session's socket. Channels and -R listeners share the rest (fdbudget).
 */
static int setup_identities(struct server *srv)
{
	struct ident_set set;
	if (ident_build(&srv->cfg, &set) != 0)
		goto oom;
	srv->verify = verify_new(srv->loop, set.keys);
	set.keys = NULL;
	/* Always there, so a reload that adds a host key finds it. */
	srv->dh = dhrate_new(srv->cfg.dh_rate, srv->cfg.dh_burst);
	if (srv->verify == NULL || srv->dh == NULL)
		goto oom;
	ident_install(srv, &set);
	return 0;
oom:
	ident_free(&set);
	log_error("out of memory");
	return -1;
}

static int setup_limits(struct server *srv)
{
	char err[256];
	unsigned long reserve = 64 + srv->cfg.nlisten + (unsigned long)srv->cfg.max_unauth +
				srv->cfg.max_refusals + 1 + srv->cfg.max_sessions;
	if (reserve > 16777216)
		reserve = 16777216;
	log_set_peer_rate(srv->cfg.log_rate);
	session_set_server_buffer((size_t)srv->cfg.server_buffer_mib << 20);
	if (fdbudget_init(srv->cfg.max_fds, (unsigned)reserve, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (fdbudget_reserve_shrunk())
		log_warn(
		    "descriptor limit is low (raise max_fds or the hard RLIMIT_NOFILE) limit=%u "
		    "max_unauth=%u max_sessions=%u reserved=%u channels=%u",
		    fdbudget_limit(), srv->cfg.max_unauth, srv->cfg.max_sessions,
		    fdbudget_reserve(), fdbudget_channels());
	else
		log_info("descriptor budget limit=%u channels=%u", fdbudget_limit(),
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

static int spa_banned(void *arg, const struct sockaddr *sa, uint64_t now)
{
	struct server *srv = arg;
	struct abuse_source src;
	return abuse_source_from(sa, &src) == 0 && abuse_is_banned(srv->abuse, &src, now);
}

/* setup_spa(srv): with [spa], filter every listener from now on and take knocks. */
static int setup_spa(struct server *srv)
{
	char err[SPA_GRANT_ERR_MAX];
	if (srv->cfg.spa.nlisten == 0)
		return 0;
	struct spa_params p = {
	    .loop = srv->loop,
	    .cfg = &srv->cfg,
	    .state_dir = srv->rf != NULL ? srv->cfg.state_dir : NULL,
	    .tags = srv->tags,
	    .banned = spa_banned,
	    .arg = srv,
	    .dh = srv->dh,
	};
	if (p.state_dir == NULL)
		log_warn("state_dir none: accepted knocks are not persisted, so a knock captured "
			 "before a restart can be replayed after it (within replay_window)");
	if (spa_new(&p, &srv->spa, err) != 0) {
		log_error("%s", err);
		return -1;
	}
	for (size_t i = 0; i < MAX_LISTENERS; i++) {
		if (srv->listeners[i].state != LISTENER_ACTIVE)
			continue;
		if (spa_guard(srv->spa, srv->listeners[i].fd, err) != 0) {
			log_error("%s", err);
			return -1;
		}
	}
	return 0;
}

/* A ban another gateway reached: in force here too, at once. */
static void on_fleet_ban(void *arg, const uint8_t *bytes, size_t len, uint64_t until_ms,
			 const char *origin)
{
	struct server *srv = arg;
	struct abuse_source src = {.len = (uint8_t)len};
	uint64_t now = now_ms();
	if (len != 4 && len != 8)
		return;
	memcpy(src.bytes, bytes, len);
	if (!abuse_ban(srv->abuse, &src, now, until_ms))
		return;
	char name[64];
	log_warn("banned source=%s seconds=%llu origin=%s",
		 abuse_format_source(&src, name, sizeof(name)),
		 (unsigned long long)((until_ms - now + 999) / 1000), log_q(origin));
	spa_revoke_source(srv->spa, src.bytes, src.len);
}

static void on_fleet_grant(void *arg, const struct spa_grant *g)
{
	struct server *srv = arg;
	spa_apply_grant(srv->spa, g);
}

static int setup_fleet(struct server *srv)
{
	char err[CONFIG_ERR_MAX];
	struct fleet_hooks h = {.ban = on_fleet_ban, .grant = on_fleet_grant, .arg = srv};
	if (srv->cfg.fleet.redis[0] == '\0')
		return 0;
	if (fleet_new(srv->loop, &srv->cfg.fleet, &h, &srv->fleet, err) != 0) {
		log_error("%s", err);
		return -1;
	}
	log_info("fleet on redis=%s name=%s fail_closed=%s", log_q(srv->cfg.fleet.redis),
		 log_q(fleet_name(srv->fleet)), srv->cfg.fleet.fail_closed ? "yes" : "no");
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
	srv->tags = calloc(srv->cfg.nkeys + 1, sizeof(*srv->tags));
	srv->abuse = abuse_new(&ac);
	srv->replay = replay_new(srv->cfg.replay_window_s, srv->cfg.replay_cache);
	srv->pen = calloc(srv->cfg.max_refusals, sizeof(*srv->pen));
	if (srv->tags == NULL || srv->abuse == NULL || srv->replay == NULL || srv->pen == NULL ||
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
		log_error("cannot open /dev/null for the descriptor reserve error=%s",
			  log_q(strerror(errno)));
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
	if (setup_fleet(srv) != 0 || setup_spa(srv) != 0)
		return -1;
	spa_set_fleet(srv->spa, srv->fleet);
	return 0;
}

/* --- the control socket --- */

struct ban_out {
	struct ctl_out *o;
	int json, n;
};

static void ban_line(void *arg, const struct abuse_source *src, uint64_t left_s)
{
	struct ban_out *b = arg;
	char name[64];
	abuse_format_source(src, name, sizeof(name));
	if (b->json)
		ctl_printf(b->o, "%s{\"source\":\"%s\",\"seconds_left\":%llu}", b->n++ ? "," : "",
			   name, (unsigned long long)left_s);
	else
		ctl_printf(b->o, "ban %s %llu s left\n", name, (unsigned long long)left_s);
}

/* ctl_json_str(o, s): ${s} (peer-chosen: a channel's target) as a JSON string. */
static void ctl_json_str(struct ctl_out *o, const char *str)
{
	ctl_printf(o, "\"");
	for (const unsigned char *p = (const unsigned char *)str; *p != 0; p++) {
		if (*p == '"' || *p == '\\')
			ctl_printf(o, "\\%c", *p);
		else if (*p < 0x20 || *p > 0x7e)
			ctl_printf(o, "\\u%04x", *p);
		else
			ctl_printf(o, "%c", *p);
	}
	ctl_printf(o, "\"");
}

struct chan_out {
	struct ctl_out *o;
	int json, n;
};

static void chan_line(void *arg, const struct channel_info *ci)
{
	struct chan_out *c = arg;
	if (c->json) {
		ctl_printf(c->o, "%s{\"id\":%u,\"target\":", c->n++ ? "," : "", ci->id);
		ctl_json_str(c->o, ci->target);
		ctl_printf(c->o, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"open\":%s}",
			   (unsigned long long)ci->bytes_in, (unsigned long long)ci->bytes_out,
			   ci->open ? "true" : "false");
		return;
	}
	char t[NET_HOST_MAX + 16];
	log_printable(t, (const uint8_t *)ci->target, strnlen(ci->target, sizeof(t) - 1));
	ctl_printf(c->o, "  channel %u %s bytes in %llu out %llu%s\n", ci->id, t,
		   (unsigned long long)ci->bytes_in, (unsigned long long)ci->bytes_out,
		   ci->open ? "" : " (opening)");
}

struct grant_out {
	struct ctl_out *o;
	int json, n;
	uint64_t now;
};

/* One live grant: fw-list's line, or an object of status's "grants". */
static void grant_line(void *arg, const struct spa_grant *g)
{
	struct grant_out *go = arg;
	char src[INET6_ADDRSTRLEN] = "?", fwd[INET6_ADDRSTRLEN + 8] = "";
	uint64_t left = g->expires_ms > go->now ? (g->expires_ms - go->now + 999) / 1000 : 0;
	const char *proto = g->proto == 6 ? "tcp" : "udp";
	inet_ntop(g->src.family, g->src.addr, src, sizeof(src));
	if (g->has_forward) {
		char a[INET6_ADDRSTRLEN] = "?";
		inet_ntop(g->forward_addr.family, g->forward_addr.addr, a, sizeof(a));
		snprintf(fwd, sizeof(fwd), g->forward_addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 a, g->forward_port);
	}
	if (go->json) {
		ctl_printf(go->o,
			   "%s{\"source\":\"%s\",\"proto\":\"%s\",\"port\":%u,\"forward\":%s%s%s,"
			   "\"masquerade\":%s,\"identity\":",
			   go->n++ ? "," : "", src, proto, g->port, fwd[0] ? "\"" : "",
			   fwd[0] ? fwd : "null", fwd[0] ? "\"" : "",
			   g->masquerade ? "true" : "false");
		ctl_json_str(go->o, g->identity);
		ctl_printf(go->o, ",\"origin\":");
		ctl_json_str(go->o, g->origin[0] ? g->origin : "local");
		ctl_printf(go->o, ",\"seconds_left\":%llu}", (unsigned long long)left);
		return;
	}
	ctl_printf(go->o, "grant %s %s/%u forward %s identity %s origin %s %llu s left\n", src,
		   proto, g->port, fwd[0] ? fwd : "-", g->identity,
		   g->origin[0] ? g->origin : "local", (unsigned long long)left);
}

/* `grants kernel`: the backend's own listing, bounded by control_output_max. */
static int ctl_kernel_grants(struct server *srv, struct ctl_out *o, int json)
{
	char err[SPA_GRANT_ERR_MAX];
	size_t size = srv->cfg.control_output_max;
	char *buf = malloc(size);
	if (buf == NULL) {
		ctl_printf(o, "out of memory\n");
		return -1;
	}
	int rc = spa_kernel_list(srv->spa, json, buf, size, err);
	if (rc == 0)
		ctl_printf(o, "%s", buf);
	else
		ctl_printf(o, "%s\n", err);
	free(buf);
	return rc;
}

static void ctl_grants(struct server *srv, struct ctl_out *o, int json)
{
	struct grant_out go = {.o = o, .json = json, .now = now_ms()};
	if (json)
		ctl_printf(o, "{\"backend\":\"%s\",\"grants\":[", spa_backend_name(srv->spa));
	spa_each_grant(srv->spa, grant_line, &go);
	if (json)
		ctl_printf(o, "]}\n");
	else if (go.n == 0 && srv->spa == NULL)
		ctl_printf(o, "SPA is off (no [spa] section)\n");
}

/* ctl_status(srv, o, json): the schema is documented in docs/PROTOCOL.md (Control socket). */
/* The fleet's state: "off", "up" or "degraded" (serving from local state), and since when. */
static void fleet_status(struct server *srv, struct ctl_out *o, int json)
{
	struct fleet_stats st;
	fleet_get_stats(srv->fleet, &st);
	const char *state = srv->fleet == NULL ? "off" : st.up ? "up" : "degraded";
	if (json && srv->fleet == NULL) {
		ctl_printf(o, ",\"fleet\":{\"state\":\"off\"}");
		return;
	}
	if (json) {
		ctl_printf(o, ",\"fleet\":{\"state\":\"%s\",\"name\":", state);
		ctl_json_str(o, fleet_name(srv->fleet));
		ctl_printf(o,
			   ",\"since\":%llu,\"fail_closed\":%s,\"claims\":%llu,\"replays\":%llu,"
			   "\"local\":%llu,\"timeouts\":%llu,\"bans_in\":%llu,\"bans_out\":%llu,"
			   "\"grants_in\":%llu,\"grants_out\":%llu,\"pending\":%u}",
			   (unsigned long long)(st.since_ms / 1000),
			   fleet_fail_closed(srv->fleet) ? "true" : "false",
			   (unsigned long long)st.claims, (unsigned long long)st.seen,
			   (unsigned long long)st.down, (unsigned long long)st.timeouts,
			   (unsigned long long)st.bans_in, (unsigned long long)st.bans_out,
			   (unsigned long long)st.grants_in, (unsigned long long)st.grants_out,
			   st.pending);
		return;
	}
	if (srv->fleet == NULL)
		return;
	ctl_printf(o,
		   "fleet %s name %s since %llu s claims %llu replays %llu local %llu timeouts "
		   "%llu bans in %llu out %llu grants in %llu out %llu\n",
		   state, fleet_name(srv->fleet),
		   (unsigned long long)((now_ms() - st.since_ms) / 1000),
		   (unsigned long long)st.claims, (unsigned long long)st.seen,
		   (unsigned long long)st.down, (unsigned long long)st.timeouts,
		   (unsigned long long)st.bans_in, (unsigned long long)st.bans_out,
		   (unsigned long long)st.grants_in, (unsigned long long)st.grants_out);
}

static void ctl_status(struct server *srv, struct ctl_out *o, int json)
{
	uint64_t now = now_ms();
	int n = 0;
	if (json)
		ctl_printf(o, "{\"role\":\"server\",\"version\":1,\"now\":%llu,\"sessions\":[",
			   (unsigned long long)(now / 1000));
	for (struct conn *c = srv->head; c != NULL; c = c->next) {
		if (c->key == NULL || c->key == &revoked_key)
			continue;
		struct session_stats st;
		session_get_stats(c->s, &st);
		if (json)
			ctl_printf(
			    o,
			    "%s{\"id\":%lu,\"identity\":\"%s\",\"peer\":\"%s\",\"started\":%llu,"
			    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"channels\":%zu,\"channel_"
			    "list\":[",
			    n++ ? "," : "", session_id(c->s), c->key->name, session_peer(c->s),
			    (unsigned long long)(c->started_ms / 1000),
			    (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
			    st.channels);
		else
			ctl_printf(
			    o,
			    "session %lu identity %s peer %s up %llu s bytes in %llu out %llu "
			    "channels %zu\n",
			    session_id(c->s), c->key->name, session_peer(c->s),
			    (unsigned long long)((now - c->started_ms) / 1000),
			    (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
			    st.channels);
		struct chan_out co = {.o = o, .json = json};
		session_each_channel(c->s, chan_line, &co);
		if (json)
			ctl_printf(o, "]}");
	}
	struct ban_out b = {.o = o, .json = json};
	struct grant_out go = {.o = o, .json = json, .now = now};
	if (json)
		ctl_printf(o, "],\"grants\":[");
	spa_each_grant(srv->spa, grant_line, &go);
	if (json)
		ctl_printf(o, "],\"bans\":[");
	abuse_each_ban(srv->abuse, now, ban_line, &b);
	if (json)
		ctl_printf(o, "]");
	fleet_status(srv, o, json);
	if (json)
		ctl_printf(o,
			   ",\"unauthenticated\":%u,\"refusals_held\":%u,\"reloads\":%u,"
			   "\"listeners\":%zu}\n",
			   abuse_pending(srv->abuse), srv->npen, srv->reloads, srv->nlisteners);
	else
		ctl_printf(o, "unauthenticated %u refusals_held %u reloads %u listeners %zu\n",
			   abuse_pending(srv->abuse), srv->npen, srv->reloads, srv->nlisteners);
}

static void count_ban(void *arg, const struct abuse_source *src, uint64_t left_s)
{
	(void)src;
	(void)left_s;
	(*(unsigned *)arg)++;
}

/* ctl_metrics(srv, o): Prometheus text exposition format 0.0.4. */
static void ctl_metrics(struct server *srv, struct ctl_out *o)
{
	unsigned sessions = 0, bans = 0;
	uint64_t in = srv->closed_bytes_in, out = srv->closed_bytes_out;
	size_t channels = 0;
	for (struct conn *c = srv->head; c != NULL; c = c->next) {
		if (c->key == NULL || c->key == &revoked_key)
			continue;
		struct session_stats st;
		session_get_stats(c->s, &st);
		sessions++;
		channels += st.channels;
		in += st.bytes_in;
		out += st.bytes_out;
	}
	abuse_each_ban(srv->abuse, now_ms(), count_ban, &bans);
	if (srv->fleet != NULL) {
		struct fleet_stats st;
		fleet_get_stats(srv->fleet, &st);
		ctl_printf(
		    o,
		    "# HELP postern_fleet_up 1 while Redis answers, 0 while degraded.\n"
		    "# TYPE postern_fleet_up gauge\npostern_fleet_up %d\n"
		    "# HELP postern_fleet_claims_total Replay claims, by result.\n"
		    "# TYPE postern_fleet_claims_total counter\n"
		    "postern_fleet_claims_total{result=\"replay\"} %llu\n"
		    "postern_fleet_claims_total{result=\"local\"} %llu\n"
		    "postern_fleet_claims_total{result=\"first\"} %llu\n"
		    "# HELP postern_fleet_timeouts_total Redis commands that outlived timeout.\n"
		    "# TYPE postern_fleet_timeouts_total counter\npostern_fleet_timeouts_total "
		    "%llu\n",
		    st.up, (unsigned long long)st.seen, (unsigned long long)st.down,
		    (unsigned long long)(st.claims - st.seen - st.down),
		    (unsigned long long)st.timeouts);
	}
	ctl_printf(o,
		   "# HELP postern_sessions Authenticated sessions open now.\n"
		   "# TYPE postern_sessions gauge\npostern_sessions %u\n",
		   sessions);
	ctl_printf(
	    o,
	    "# HELP postern_sessions_authenticated_total Sessions authenticated since start.\n"
	    "# TYPE postern_sessions_authenticated_total "
	    "counter\npostern_sessions_authenticated_total %llu\n",
	    (unsigned long long)srv->sessions_total);
	ctl_printf(o,
		   "# HELP postern_channels Channels open now.\n"
		   "# TYPE postern_channels gauge\npostern_channels %zu\n",
		   channels);
	ctl_printf(o,
		   "# HELP postern_bytes_total Channel payload bytes, by direction (in: from "
		   "clients).\n# TYPE postern_bytes_total counter\n"
		   "postern_bytes_total{direction=\"in\"} %llu\n"
		   "postern_bytes_total{direction=\"out\"} %llu\n",
		   (unsigned long long)in, (unsigned long long)out);
	ctl_printf(o, "# HELP postern_refusals_total Connections refused, by reason.\n"
		      "# TYPE postern_refusals_total counter\n");
	for (int k = 0; k < REF_KINDS; k++)
		ctl_printf(o, "postern_refusals_total{reason=\"%s\"} %llu\n", refusal_label[k],
			   (unsigned long long)srv->refusals[k]);
	ctl_printf(o,
		   "# HELP postern_unauthenticated Connections still to prove a key.\n"
		   "# TYPE postern_unauthenticated gauge\npostern_unauthenticated %u\n",
		   abuse_pending(srv->abuse));
	ctl_printf(o,
		   "# HELP postern_bans Sources banned now.\n"
		   "# TYPE postern_bans gauge\npostern_bans %u\n",
		   bans);
	ctl_printf(o,
		   "# HELP postern_reloads_total Configuration reloads applied.\n"
		   "# TYPE postern_reloads_total counter\npostern_reloads_total %u\n",
		   srv->reloads);
	struct spa_stats ss;
	spa_get_stats(srv->spa, &ss);
	ctl_printf(o,
		   "# HELP postern_spa_grants SPA grants live now.\n"
		   "# TYPE postern_spa_grants gauge\npostern_spa_grants %zu\n"
		   "# HELP postern_knocks_total Knock datagrams, by result.\n"
		   "# TYPE postern_knocks_total counter\n"
		   "postern_knocks_total{result=\"accepted\"} %llu\n"
		   "postern_knocks_total{result=\"refused\"} %llu\n"
		   "# HELP postern_knock_ring_drops_total Knocks the kernel dropped, the packet "
		   "ring full (receive = ring).\n"
		   "# TYPE postern_knock_ring_drops_total counter\n"
		   "postern_knock_ring_drops_total %llu\n",
		   ss.grants, (unsigned long long)ss.knocks_accepted,
		   (unsigned long long)ss.knocks_refused, (unsigned long long)ss.ring_drops);
}

static int ctl_unban(struct server *srv, const char *addr, struct ctl_out *o)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	struct abuse_source src;
	char buf[64];
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	if (ss.ss_family == 0 || abuse_source_from((struct sockaddr *)&ss, &src) != 0) {
		ctl_printf(o, "unban: '%s' is not an IP address\n", addr);
		return -1;
	}
	abuse_format_source(&src, buf, sizeof(buf));
	if (!abuse_unban(srv->abuse, &src, now_ms())) {
		ctl_printf(o, "unban: %s is not banned\n", buf);
		return -1;
	}
	log_warn("ban lifted by control source=%s", buf);
	ctl_printf(o, "unbanned %s\n", buf);
	return 0;
}

static int reload(struct server *srv);

static int on_ctl(void *arg, const struct ctl_request *req, struct ctl_out *o)
{
	struct server *srv = arg;
	struct ban_out b = {.o = o};
	switch (req->verb) {
	case CTL_STATUS:
		ctl_status(srv, o, req->json);
		return 0;
	case CTL_METRICS:
		ctl_metrics(srv, o);
		return 0;
	case CTL_BANS:
		abuse_each_ban(srv->abuse, now_ms(), ban_line, &b);
		return 0;
	case CTL_GRANTS:
		if (req->kernel)
			return ctl_kernel_grants(srv, o, req->json);
		ctl_grants(srv, o, req->json);
		return 0;
	case CTL_UNBAN:
		return ctl_unban(srv, req->args[0], o);
	case CTL_RELOAD:
		log_info("reloading from=control");
		if (reload(srv) == 0)
			return ctl_printf(o, "reloaded\n"), 0;
		ctl_printf(o, "reload failed; configuration unchanged (see the server's log)\n");
		return -1;
	case CTL_FORWARD:
	case CTL_CANCEL:
		break;
	}
	ctl_printf(o, "forward and cancel are for a client's control socket\n");
	return -1;
}

/* open_control(srv): before the privilege drop, so the socket can live in /run. */
static int open_control(struct server *srv)
{
	char err[256];
	long gid = -1;
	if (srv->cfg.control[0] == 0)
		return 0;
	if (srv->cfg.control_group[0] != 0) {
		struct group *g = getgrnam(srv->cfg.control_group);
		if (g == NULL) {
			log_error("no such group control_group=%s", log_q(srv->cfg.control_group));
			return -1;
		}
		gid = (long)g->gr_gid;
	}
	struct ctl_config cc = {
	    .path = srv->cfg.control,
	    .gid = gid,
	    .max_clients = srv->cfg.control_max,
	    .max_request = srv->cfg.control_request_max,
	    .max_output = srv->cfg.control_output_max,
	    .timeout_ms = 5000,
	};
	srv->ctl = ctl_open(srv->loop, &cc, on_ctl, srv, err, sizeof(err));
	if (srv->ctl == NULL) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* open_metrics(srv): metrics_listen, with the control socket's bounds. */
static int open_metrics(struct server *srv)
{
	char err[256];
	struct sockaddr_storage ss;
	const struct net_endpoint *ep = &srv->cfg.metrics_listen;
	if (ep->host[0] == 0)
		return 0;
	if (uv_ip4_addr(ep->host, ep->port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(ep->host, ep->port, (struct sockaddr_in6 *)&ss) != 0) {
		log_error("metrics_listen is not an IP address host=%s", log_q(ep->host));
		return -1;
	}
	struct ctl_config cc = {
	    .max_clients = srv->cfg.control_max,
	    .max_request = srv->cfg.control_request_max,
	    .max_output = srv->cfg.control_output_max,
	    .timeout_ms = 5000,
	};
	srv->metrics =
	    ctl_open_metrics(srv->loop, (struct sockaddr *)&ss, &cc, on_ctl, srv, err, sizeof(err));
	if (srv->metrics == NULL) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/*
 * drop_privileges(srv): become cfg.user once everything that needs the
 * starting user is open: the listeners, the key files, the state directory
 * (handed to the user, so the replay log can still be compacted). A reload
 * then reads the config and key files as that user, and binds new listen
 * addresses as that user (no port below 1024). With the nftables backend
 * CAP_NET_ADMIN alone is kept (util/caps.h): grants are table changes.
 */
static int drop_privileges(struct server *srv)
{
	const char *name = srv->cfg.user;
	if (name[0] == 0)
		return 0;
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		log_error("unknown user user=%s error=%s", log_q(name),
			  log_q(errno != 0 ? strerror(errno) : "no such user"));
		return -1;
	}
	if (geteuid() != 0 && geteuid() != pw->pw_uid) {
		log_error("only root can change to another user user=%s", log_q(name));
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (srv->rf != NULL) {
		char log_path[CONFIG_PATH_MAX + 32];
		snprintf(log_path, sizeof(log_path), "%s/%s", srv->cfg.state_dir, REPLAY_FILE_NAME);
		if (chown(srv->cfg.state_dir, uid, gid) != 0 || chown(log_path, uid, gid) != 0) {
			log_error("cannot hand state_dir to user user=%s state_dir=%s error=%s",
				  log_q(name), log_q(srv->cfg.state_dir), log_q(strerror(errno)));
			return -1;
		}
	}
	/* The nftables backend changes its table on every grant, long after the drop. */
	int keep_net_admin = geteuid() == 0 && uid != 0 && srv->spa != NULL &&
			     strcmp(spa_backend_name(srv->spa), "nftables") == 0;
	char cerr[CAPS_ERR_MAX];
	if (keep_net_admin && caps_keep_begin(cerr) != 0) {
		log_error("cannot keep CAP_NET_ADMIN for the nftables backend user=%s error=%s",
			  log_q(name), log_q(cerr));
		return -1;
	}
	if (geteuid() == 0 &&
	    (initgroups(name, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
		log_error("cannot change user user=%s error=%s", log_q(name),
			  log_q(strerror(errno)));
		return -1;
	}
	if (keep_net_admin && caps_keep_net_admin(cerr) != 0) {
		log_error("cannot keep CAP_NET_ADMIN for the nftables backend user=%s error=%s",
			  log_q(name), log_q(cerr));
		return -1;
	}
	if (keep_net_admin)
		log_info("kept for the nftables backend capability=CAP_NET_ADMIN user=%s",
			 log_q(name));
	/* A process that could regain root has not dropped anything. */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_error("root could be regained; refusing to run user=%s", log_q(name));
		return -1;
	}
	log_info("running as user=%s uid=%u gid=%u", log_q(name), (unsigned)uid, (unsigned)gid);
	return 0;
}

/* write_pid_file(srv): only when asked (pid_file); a daemon under systemd needs none. */
static int write_pid_file(struct server *srv)
{
	const char *path = srv->cfg.pid_file;
	if (path[0] == 0)
		return 0;
	FILE *f = fopen(path, "we");
	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
		log_error("cannot write pid_file path=%s error=%s", log_q(path),
			  log_q(strerror(errno)));
		return -1;
	}
	srv->pid_written = 1;
	return 0;
}

int cmd_server(int argc, char **argv)
{
	struct server srv = {0};
	enum log_level lvl = LOG_LVL_INFO;
	int rc = EXIT_USAGE;
	srv.spare_fd = -1;
	config_server_defaults(&srv.cfg);
	srv.argc = argc;
	srv.argv = argv;
	if (configure(argc, argv, &srv.cfg, &lvl) != 0)
		goto out;
	log_init("postern", lvl, srv.cfg.log_sink == CONFIG_LOG_SYSLOG);
	signal(SIGPIPE, SIG_IGN);
	srv.loop = uv_default_loop();
	rc = EXIT_RUNTIME;
	if (setup(&srv) != 0 || open_control(&srv) != 0 || open_metrics(&srv) != 0 ||
	    write_pid_file(&srv) != 0 || drop_privileges(&srv) != 0)
		goto out;
	if (srv.cfg.reject_delay_min_ms < 1000)
		log_warn(
		    "reject_delay starts below 1 s: a client has only that long after connecting "
		    "to deliver its first message, so real clients may be refused");
	for (size_t i = 0; i < srv.cfg.nkeys; i++)
		if (!policy_permits_anything(&srv.cfg.keys[i]))
			log_warn("key permits nothing: every forward it asks for will be denied "
				 "(give it permit_open or permit_listen; on the command line "
				 "--permit-open or --permit-listen) key=%s",
				 srv.cfg.keys[i].name);
	log_info("server ready keys=%zu listeners=%zu", srv.cfg.nkeys, srv.nlisteners);
	sdnotify_ready();
	if (srv.cfg.host_key[0] != '\0') {
		/* The public half is what clients pin: printing it saves a trip to the .pub file.
		 */
		uint8_t pub[CRYPTO_KEY_LEN];
		char line[KEYS_PUB_LINE_MAX];
		if (crypto_dh_pub(srv.cfg.host_priv, pub) == 0) {
			keys_public_line(pub, line);
			log_info(
			    "host key public_key=%s public_key_identities=%zu psk_identities=%zu",
			    log_q(line), srv.cfg.nkeys - srv.npsk, srv.npsk);
		}
	}
	busypoll_init(&srv.poll, srv.cfg.busy_poll_us);
	busypoll_run(&srv.poll, srv.loop);
	rc = 0;
out:
	/* A start that failed after opening them: close (and unlink) before the walk does. */
	ctl_close(srv.ctl);
	ctl_close(srv.metrics);
	stop_fleet(&srv);
	if (srv.loop != NULL) {
		uv_walk(srv.loop, close_walk, NULL);
		/* Also lets a verification still on a worker finish. */
		uv_run(srv.loop, UV_RUN_DEFAULT);
		verify_free(srv.verify);
		uv_loop_close(srv.loop);
	}
	if (srv.pid_written)
		unlink(srv.cfg.pid_file);
	spa_free(srv.spa);
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
