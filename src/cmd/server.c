/* SPDX-License-Identifier: MIT */
/*
 * server: `postern server`. Reads the configuration (file and/or flags),
 * binds its listeners, then runs the loop: every accepted connection is a
 * session that stays silent until its first message authenticates under one
 * of the keys; abuse accounting decides who may even try.
 */
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cmd/cmd.h"
#include "crypto/replay.h"
#include "guard/abuse.h"
#include "state/replay_file.h"
#include "guard/policy.h"
#include "tunnel/channel.h"
#include "tunnel/fwd_remote.h"
#include "tunnel/handshake.h"
#include "tunnel/session.h"
#include "tunnel/verify.h"
#include "util/busypoll.h"
#include "util/config.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/tcpopt.h"

enum { MAX_LISTENERS = 16, REFUSAL_LOGS_PER_S = 20 };

struct server;

/* One accepted connection, from accept to close. */
struct conn {
	struct server *srv;
	struct session *s;
	struct abuse_source src;
	int pending;		/* counted by abuse as unauthenticated */
	struct verify_job *job; /* message 1 on the verification queue */
	const struct config_key *key;
	struct conn *prev, *next; /* all connections, oldest first */
};

struct server {
	uv_loop_t *loop;
	struct busypoll poll;
	struct config_server cfg;
	const uint8_t **psks;
	struct abuse *abuse;
	struct replay *replay;
	struct verify *verify;	/* judges first messages on the thread pool */
	struct replay_file *rf; /* NULL with state_dir = none */
	uint64_t *tags;		/* per key: its identity tag in the state directory */
	uv_tcp_t listeners[MAX_LISTENERS];
	size_t nlisteners;
	uv_signal_t sigint, sigterm;
	uv_timer_t stop_timer; /* bounds a graceful shutdown */
	struct conn *head, *tail;
	unsigned nconns;
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
	(void)s;
	(void)out;
	(void)tx;
	(void)rx;
	c->job = verify_submit(c->srv->verify, c->src.bytes, c->src.len, in, on_verified, c);
	if (c->job == NULL) {
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
	if (abuse_fail(srv->abuse, &c->src, now_ms())) {
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
	log_warn("channel %u: denied %s for key '%s': %s", f->chan, target, c->key->name, why);
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
	conn_unlink(srv, c);
	free(c);
}

static const struct session_hooks server_hooks = {
    .handshake = on_handshake,
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
		log_refusal(srv, session_peer(c->s),
			    "evicted (too many unauthenticated connections)");
		session_close(c->s, "evicted by connection cap", 0);
		return;
	}
}

static int admit(struct server *srv, struct conn *c)
{
	struct abuse_source evict;
	if (srv->nconns > srv->cfg.max_sessions) {
		log_refusal(srv, session_peer(c->s), "too many sessions");
		return -1;
	}
	switch (abuse_admit(srv->abuse, &c->src, now_ms(), &evict)) {
	case ABUSE_ADMIT:
		c->pending = 1;
		return 0;
	case ABUSE_EVICT_OLDEST:
		c->pending = 1;
		evict_oldest(srv, &evict);
		return 0;
	case ABUSE_BANNED:
		log_refusal(srv, session_peer(c->s), "banned");
		return -1;
	case ABUSE_SOURCE_FULL:
	case ABUSE_FULL:
		log_refusal(srv, session_peer(c->s), "too many unauthenticated connections");
		return -1;
	}
	return -1;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct server *srv = listener->data;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	struct session_params p = {
	    .role = SESSION_SERVER,
	    .hooks = &server_hooks,
	    .arg = c,
	    .handshake_timeout_ms = srv->cfg.preauth_timeout_ms,
	    .reject_delay_min_ms = srv->cfg.reject_delay_min_ms,
	    .reject_delay_max_ms = srv->cfg.reject_delay_max_ms,
	    .keepalive_s = srv->cfg.keepalive_s,
	    .rekey_records = srv->cfg.rekey_records,
	};
	c->srv = srv;
	c->s = session_new(srv->loop, &p);
	if (c->s == NULL) {
		free(c);
		return;
	}
	conn_link(srv, c);
	if (uv_accept(listener, (uv_stream_t *)session_tcp(c->s)) != 0) {
		session_close(c->s, "accept failed", 0);
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(session_tcp(c->s), (struct sockaddr *)&ss, &len) != 0 ||
	    abuse_source_from((struct sockaddr *)&ss, &c->src) != 0) {
		session_close(c->s, "no peer address", 0);
		return;
	}
	session_start_server(c->s);
	if (srv->stopping || admit(srv, c) != 0) {
		/* Not even a delay: these peers already cost us too much. */
		session_close(c->s, "not admitted", 0);
	}
}

/* --- set-up --- */

static int listen_addr(struct server *srv, const struct sockaddr *sa, const char *spec)
{
	char name[NET_HOST_MAX + 16];
	if (srv->nlisteners == MAX_LISTENERS) {
		log_error("too many listen addresses (max %d)", MAX_LISTENERS);
		return -1;
	}
	uv_tcp_t *l = &srv->listeners[srv->nlisteners++];
	uv_tcp_init(srv->loop, l);
	l->data = srv;
	int rc = tcpopt_listen(l, sa, 1024, on_connection);
	if (rc != 0) {
		log_error("cannot listen on %s (%s): %s", spec,
			  net_format_sockaddr(sa, name, sizeof(name)), strerror(-rc));
		return -1;
	}
	struct sockaddr_storage ss;
	int slen = sizeof(ss);
	uv_tcp_getsockname(l, (struct sockaddr *)&ss, &slen);
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
	for (size_t i = 0; i < srv->nlisteners; i++)
		uv_close((uv_handle_t *)&srv->listeners[i], NULL);
	srv->nlisteners = 0;
	for (struct conn *c = srv->head; c != NULL; c = c->next)
		session_close(c->s, "server shutting down", 1);
	uv_close((uv_handle_t *)&srv->sigint, NULL);
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	/* Peers that do not read must not keep us alive. */
	uv_timer_init(srv->loop, &srv->stop_timer);
	uv_timer_start(&srv->stop_timer, on_stop_timer, 2000, 0);
	uv_unref((uv_handle_t *)&srv->stop_timer);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: postern server [-c FILE] [-l HOST:PORT]... [-k KEYFILE]\n"
	    "                      [--permit-open SPEC]... [--permit-listen SPEC]... [options]\n"
	    "\n"
	    "Accept tunnels from clients that hold a key; stay silent to everyone else.\n"
	    "\n"
	    "  -c, --config FILE         server configuration (INI; see postern(1))\n"
	    "  -l, --listen HOST:PORT    address to listen on (repeatable; [v6]:port)\n"
	    "  -k, --key FILE            key file of the single key 'default' (quick mode)\n"
	    "      --permit-open SPEC    what the quick-mode key may reach (-L/-D): HOST:PORT,\n"
	    "                            *:PORT, HOST:*, ADDR/BITS:PORT, [V6/BITS]:PORT, any,\n"
	    "                            or a Unix socket path or glob (repeatable;\n"
	    "                            default: nothing)\n"
	    "      --permit-listen SPEC  what it may listen on (-R): [HOST:]PORT, [HOST:]*, any,\n"
	    "                            or a Unix socket path (repeatable; default: nothing)\n"
	    "      --allow-forwarding yes|no|local|remote  directions it may use (default yes;\n"
	    "                            local covers -L and -D)\n"
	    "      --allow-unix-forwarding yes|no  Unix socket targets and listeners (default no)\n"
	    "      --gateway-ports no|yes|clientspecified  what -R listeners bind: 127.0.0.1,\n"
	    "                            all addresses, or the client's choice (default no;\n"
	    "                            overrides [server], not a [key]'s own setting)\n"
	    "      --preauth-timeout SEC close silent peers after SEC seconds (default 10)\n"
	    "      --reject-delay MIN-MAX  reset refused peers after a random delay (default 1-3 "
	    "s)\n"
	    "      --replay-window SEC   accepted clock skew of first messages (default 120)\n"
	    "      --state-dir DIR       where the replay cache persists across restarts\n"
	    "                            (default /var/lib/postern; none = not persisted)\n"
	    "      --replay-cache N      first messages remembered, all keys (default 262144)\n"
	    "      --replay-quota N      ... of which one key may hold (default 16384)\n"
	    "      --ban-threshold N     failures that ban a source (default 5)\n"
	    "      --ban-window SEC      ... within this many seconds (default 60)\n"
	    "      --ban-time SEC        ban length (default 600)\n"
	    "      --max-unauth N        concurrent unauthenticated connections (default 64)\n"
	    "      --keepalive SEC       ping idle sessions every SEC seconds (default 25; 0 off)\n"
	    "      --rekey-records N     rekey our sending key after N records (default 1048576;\n"
	    "                            also after 10 minutes)\n"
	    "      --busy-poll USEC      after activity, poll up to USEC microseconds before\n"
	    "                            sleeping (only while events come back to back;\n"
	    "                            default 100, max 1000; 0 off)\n"
	    "  -v, --verbose             debug logging\n"
	    "  -q, --quiet               warnings and errors only\n"
	    "  -h, --help                this help\n");
}

enum {
	OPT_PERMIT = 256,
	OPT_PREAUTH,
	OPT_REJECT,
	OPT_REPLAY,
	OPT_BAN_THRESHOLD,
	OPT_BAN_WINDOW,
	OPT_BAN_TIME,
	OPT_MAX_UNAUTH,
	OPT_KEEPALIVE,
	OPT_REKEY_RECORDS,
	OPT_PERMIT_LISTEN,
	OPT_ALLOW_FORWARDING,
	OPT_ALLOW_UNIX,
	OPT_GATEWAY_PORTS,
	OPT_BUSY_POLL,
	OPT_STATE_DIR,
	OPT_REPLAY_CACHE,
	OPT_REPLAY_QUOTA,
};

static const struct option server_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"key", required_argument, NULL, 'k'},
    {"permit-open", required_argument, NULL, OPT_PERMIT},
    {"preauth-timeout", required_argument, NULL, OPT_PREAUTH},
    {"reject-delay", required_argument, NULL, OPT_REJECT},
    {"replay-window", required_argument, NULL, OPT_REPLAY},
    {"ban-threshold", required_argument, NULL, OPT_BAN_THRESHOLD},
    {"ban-window", required_argument, NULL, OPT_BAN_WINDOW},
    {"ban-time", required_argument, NULL, OPT_BAN_TIME},
    {"max-unauth", required_argument, NULL, OPT_MAX_UNAUTH},
    {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
    {"rekey-records", required_argument, NULL, OPT_REKEY_RECORDS},
    {"permit-listen", required_argument, NULL, OPT_PERMIT_LISTEN},
    {"allow-forwarding", required_argument, NULL, OPT_ALLOW_FORWARDING},
    {"allow-unix-forwarding", required_argument, NULL, OPT_ALLOW_UNIX},
    {"gateway-ports", required_argument, NULL, OPT_GATEWAY_PORTS},
    {"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"replay-cache", required_argument, NULL, OPT_REPLAY_CACHE},
    {"replay-quota", required_argument, NULL, OPT_REPLAY_QUOTA},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_delay(const char *s, struct config_server *c)
{
	unsigned lo, hi;
	char a[16], b[16];
	const char *dash = strchr(s, '-');
	if (dash == NULL || dash - s >= (long)sizeof(a) || strlen(dash + 1) >= sizeof(b))
		return -1;
	memcpy(a, s, (size_t)(dash - s));
	a[dash - s] = 0;
	strcpy(b, dash + 1);
	if (cmd_parse_uint(a, 0, 60, &lo) != 0 || cmd_parse_uint(b, 0, 60, &hi) != 0 || lo > hi)
		return -1;
	c->reject_delay_min_ms = lo * 1000;
	c->reject_delay_max_ms = hi * 1000;
	return 0;
}

enum { MAX_PERMIT_LISTEN = 64 };

/* Flags are applied after the file, so they override it. */
struct server_flags {
	const char *config, *key;
	char **permits;
	size_t npermit;
	const char *permit_listen[MAX_PERMIT_LISTEN];
	size_t npermit_listen;
	const char *allow_forwarding, *allow_unix; /* checked when parsed; NULL: not given */
	struct net_endpoint listen[MAX_LISTENERS];
	size_t nlisten;
};

static int bad_value(const char *opt, const char *val)
{
	fprintf(stderr, "postern server: bad value '%s' for %s\n", val, opt);
	return -1;
}

static int parse_flag(int o, const char *arg, struct server_flags *fl, struct config_server *c,
		      enum log_level *lvl)
{
	char err[NET_ERR_MAX];
	switch (o) {
	case 'c':
		fl->config = arg;
		return 0;
	case 'k':
		fl->key = arg;
		return 0;
	case 'l':
		if (fl->nlisten == MAX_LISTENERS)
			return bad_value("--listen (too many)", arg);
		if (net_parse_hostport(arg, &fl->listen[fl->nlisten], NULL, 0, err) != 0) {
			fprintf(stderr, "postern server: --listen %s: %s\n", arg, err);
			return -1;
		}
		fl->nlisten++;
		return 0;
	case OPT_PERMIT:
		fl->permits[fl->npermit++] = (char *)arg;
		return 0;
	case OPT_PERMIT_LISTEN:
		if (fl->npermit_listen == MAX_PERMIT_LISTEN)
			return bad_value("--permit-listen (too many)", arg);
		fl->permit_listen[fl->npermit_listen++] = arg;
		return 0;
	case OPT_ALLOW_FORWARDING:
		fl->allow_forwarding = arg;
		return config_forwarding_parse(arg) >= 0
			   ? 0
			   : bad_value("--allow-forwarding (yes, no, local or remote)", arg);
	case OPT_ALLOW_UNIX:
		fl->allow_unix = arg;
		return config_yesno_parse(arg) >= 0
			   ? 0
			   : bad_value("--allow-unix-forwarding (yes or no)", arg);
	case OPT_GATEWAY_PORTS:
		if (config_gateway_parse(arg) < 0)
			return bad_value("--gateway-ports (no, yes or clientspecified)", arg);
		c->gateway_ports = config_gateway_parse(arg);
		return 0;
	case OPT_PREAUTH:
		if (cmd_parse_uint(arg, 1, 3600, &c->preauth_timeout_ms) != 0)
			return bad_value("--preauth-timeout", arg);
		c->preauth_timeout_ms *= 1000;
		return 0;
	case OPT_REJECT:
		return parse_delay(arg, c) == 0 ? 0 : bad_value("--reject-delay (MIN-MAX)", arg);
	case OPT_REPLAY:
		return cmd_parse_uint(arg, 1, 86400, &c->replay_window_s) == 0
			   ? 0
			   : bad_value("--replay-window", arg);
	case OPT_BAN_THRESHOLD:
		return cmd_parse_uint(arg, 1, 1000000, &c->ban_threshold) == 0
			   ? 0
			   : bad_value("--ban-threshold", arg);
	case OPT_BAN_WINDOW:
		return cmd_parse_uint(arg, 1, 86400, &c->ban_window_s) == 0
			   ? 0
			   : bad_value("--ban-window", arg);
	case OPT_BAN_TIME:
		return cmd_parse_uint(arg, 1, 31536000, &c->ban_time_s) == 0
			   ? 0
			   : bad_value("--ban-time", arg);
	case OPT_MAX_UNAUTH:
		return cmd_parse_uint(arg, 1, 1000000, &c->max_unauth) == 0
			   ? 0
			   : bad_value("--max-unauth", arg);
	case OPT_REKEY_RECORDS:
		return cmd_parse_uint(arg, 1, 1u << 30, &c->rekey_records) == 0
			   ? 0
			   : bad_value("--rekey-records", arg);
	case OPT_BUSY_POLL:
		return cmd_parse_uint(arg, 0, BUSYPOLL_MAX_US, &c->busy_poll_us) == 0
			   ? 0
			   : bad_value("--busy-poll", arg);
	case OPT_STATE_DIR:
		if (arg[0] == '\0' || strlen(arg) > CONFIG_PATH_MAX)
			return bad_value("--state-dir", arg);
		snprintf(c->state_dir, sizeof(c->state_dir), "%s", arg);
		return 0;
	case OPT_REPLAY_CACHE:
		return cmd_parse_uint(arg, 1024, 16777216, &c->replay_cache) == 0
			   ? 0
			   : bad_value("--replay-cache (1024..16777216)", arg);
	case OPT_REPLAY_QUOTA:
		return cmd_parse_uint(arg, 16, 16777216, &c->replay_quota) == 0
			   ? 0
			   : bad_value("--replay-quota (16..16777216)", arg);
	case OPT_KEEPALIVE:
		return cmd_parse_uint(arg, 0, 3600, &c->keepalive_s) == 0
			   ? 0
			   : bad_value("--keepalive", arg);
	case 'v':
		*lvl = LOG_LVL_DEBUG;
		return 0;
	case 'q':
		*lvl = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

/* The name of the first quick-mode key setting given, or NULL if none. */
static const char *quick_key_flag(const struct server_flags *fl)
{
	if (fl->npermit > 0)
		return "--permit-open";
	if (fl->npermit_listen > 0)
		return "--permit-listen";
	if (fl->allow_forwarding != NULL)
		return "--allow-forwarding";
	if (fl->allow_unix != NULL)
		return "--allow-unix-forwarding";
	return NULL;
}

static int add_quick_permits(const struct server_flags *fl, struct config_key *k)
{
	char err[CONFIG_ERR_MAX];
	for (size_t i = 0; i < fl->npermit; i++) {
		if (config_add_permit(k, fl->permits[i], err) != 0) {
			fprintf(stderr, "postern server: --permit-open %s: %s\n", fl->permits[i],
				err);
			return -1;
		}
	}
	for (size_t i = 0; i < fl->npermit_listen; i++) {
		if (config_add_permit_listen(k, fl->permit_listen[i], err) != 0) {
			fprintf(stderr, "postern server: --permit-listen %s: %s\n",
				fl->permit_listen[i], err);
			return -1;
		}
	}
	return 0;
}

static int apply_quick_key(struct server_flags *fl, struct config_server *c)
{
	if (fl->key == NULL) {
		if (quick_key_flag(fl) != NULL) {
			fprintf(stderr, "postern server: %s needs --key\n", quick_key_flag(fl));
			return -1;
		}
		return 0;
	}
	struct config_key *k = config_add_key(c, "default");
	if (k == NULL) {
		fprintf(stderr, "postern server: a key named 'default' is already configured\n");
		return -1;
	}
	snprintf(k->key_file, sizeof(k->key_file), "%s", fl->key);
	if (fl->allow_forwarding != NULL)
		k->allow_forwarding = config_forwarding_parse(fl->allow_forwarding);
	if (fl->allow_unix != NULL)
		k->allow_unix_forwarding = config_yesno_parse(fl->allow_unix);
	return add_quick_permits(fl, k);
}

static int configure(int argc, char **argv, struct config_server *c, enum log_level *lvl)
{
	struct server_flags fl = {0};
	char err[CONFIG_ERR_MAX];
	int o, rc = -1;
	fl.permits = calloc((size_t)argc + 1, sizeof(char *));
	if (fl.permits == NULL)
		return -1;
	/* Parse twice: the file's values first, then flags override them. */
	while ((o = getopt_long(argc, argv, "c:l:k:vqh", server_opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			free(fl.permits);
			exit(0);
		}
		if (o == 'c')
			fl.config = optarg;
		if (o == '?')
			goto out;
	}
	if (optind < argc) {
		fprintf(stderr, "postern server: unexpected argument '%s'\n", argv[optind]);
		goto out;
	}
	if (fl.config != NULL && config_server_load(fl.config, c, err) != 0) {
		fprintf(stderr, "postern server: %s\n", err);
		goto out;
	}
	optind = 1;
	while ((o = getopt_long(argc, argv, "c:l:k:vqh", server_opts, NULL)) != -1)
		if (parse_flag(o, optarg, &fl, c, lvl) != 0)
			goto out;
	/* -l replaces the file's listen addresses, as every flag overrides the file. */
	if (fl.nlisten > 0)
		c->nlisten = 0;
	for (size_t i = 0; i < fl.nlisten; i++)
		if (config_add_listen(c, &fl.listen[i]) != 0)
			goto out;
	if (apply_quick_key(&fl, c) != 0)
		goto out;
	if (config_server_check(c, err) != 0 || config_load_keys(c, err) != 0) {
		fprintf(stderr, "postern server: %s\n", err);
		goto out;
	}
	rc = 0;
out:
	free(fl.permits);
	return rc;
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
	srv->psks = calloc(srv->cfg.nkeys, sizeof(*srv->psks));
	srv->tags = calloc(srv->cfg.nkeys + 1, sizeof(*srv->tags));
	srv->abuse = abuse_new(&ac);
	srv->replay = replay_new(srv->cfg.replay_window_s, srv->cfg.replay_cache);
	if (srv->psks == NULL || srv->tags == NULL || srv->abuse == NULL || srv->replay == NULL ||
	    replay_set_quota(srv->replay, (uint32_t)srv->cfg.nkeys, srv->cfg.replay_quota) != 0) {
		log_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < srv->cfg.nkeys; i++) {
		srv->psks[i] = srv->cfg.keys[i].psk;
		srv->tags[i] = replay_file_tag(srv->cfg.keys[i].name);
	}
	struct handshake_keys *keys = handshake_keys_new(srv->psks, srv->cfg.nkeys);
	srv->verify = verify_new(srv->loop, keys);
	if (srv->verify == NULL) {
		handshake_keys_free(keys);
		log_error("out of memory");
		return -1;
	}
	uv_signal_init(srv->loop, &srv->sigint);
	uv_signal_init(srv->loop, &srv->sigterm);
	srv->sigint.data = srv->sigterm.data = srv;
	uv_signal_start(&srv->sigint, on_signal, SIGINT);
	uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
	if (bind_listeners(srv) != 0)
		return -1;
	/* Before the loop runs, so no first message is judged without the restored cache. */
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
	config_server_defaults(&srv.cfg);
	if (configure(argc, argv, &srv.cfg, &lvl) != 0)
		goto out;
	log_set_level(lvl);
	signal(SIGPIPE, SIG_IGN);
	srv.loop = uv_default_loop();
	rc = EXIT_RUNTIME;
	if (setup(&srv) != 0)
		goto out;
	log_info("server ready: %zu key(s), %zu listener(s)", srv.cfg.nkeys, srv.nlisteners);
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
	free(srv.tags);
	abuse_free(srv.abuse);
	replay_free(srv.replay);
	config_server_free(&srv.cfg);
	session_txbuf_pool_drain();
	return rc;
}
