/* SPDX-License-Identifier: MIT */
/*
 * client: `postern client` (alias `connect`). Keeps one session to the
 * server: connect, handshake, open the -L entrances once the first session
 * is up (so a forward that cannot be bound is reported at once and the
 * client exits, like ssh's ExitOnForwardFailure), and reconnect with
 * exponential backoff whenever the session drops; until a first session
 * exists it gives up after connect_attempts failed rounds, so a wrong key
 * does not get its owner banned.
 */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/client.h"
#include "cmd/cmd.h"
#include "conf/client.h"
#include "conf/settings.h"
#include "guard/admit.h"
#include "tunnel/channel.h"
#include "tunnel/fwd_local.h"
#include "tunnel/handshake.h"
#include "tunnel/session.h"
#include "util/busypoll.h"
#include "util/config.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/tcpopt.h"

/* A -R forward as the client sees it. */
struct client_remote {
	struct net_forward fw;
	int bind_given; /* the spec named a bind address */
	uint16_t bound_port;
};

struct client {
	uv_loop_t *loop;
	struct busypoll poll;
	struct config_client cfg;
	uint8_t psk[CRYPTO_KEY_LEN];
	enum crypto_aead_alg alg;
	struct session *s;	 /* current session, or NULL */
	struct noise_hs *hs;	 /* handshake in progress */
	struct fwd_local **fwds; /* -L then -D entrances */
	size_t nfwds;
	struct addrinfo **binds;       /* their TCP bind addresses, resolved at start */
	char (*bind_err)[NET_ERR_MAX]; /* why a bind address did not resolve */
	int forwards_open;
	struct client_remote *remote; /* -R */
	size_t nremote;
	int remote_pending; /* first round of LISTEN answers still to come */
	uv_getaddrinfo_t gai;
	struct addrinfo *ai, *ai_next;
	uv_connect_t conn;
	uv_timer_t retry;
	uv_signal_t sigint, sigterm, sighup, sigusr1, sigusr2;
	unsigned backoff_s;
	unsigned attempts; /* failed rounds before any session was established */
	int established_once;
	int stopping;
	int exit_code;
	char server_name[NET_HOST_MAX + 16];
	struct admit_ctx *admit;	  /* who may use the entrances */
	const struct client_hooks *hooks; /* `postern exec`, or NULL */
};

static void try_connect(struct client *cl);
static void schedule_reconnect(struct client *cl, const char *why);

static enum crypto_aead_alg pick_cipher(int configured)
{
	if (configured >= 0)
		return (enum crypto_aead_alg)configured;
	return CRYPTO_CHACHAPOLY;
}

static const char *cipher_name(enum crypto_aead_alg alg)
{
	return alg == CRYPTO_AESGCM ? "aes-256-gcm" : "chacha20-poly1305";
}

static struct session *current_session(void *arg)
{
	struct client *cl = arg;
	return cl->s;
}

/* --- shutdown --- */

static void stop(struct client *cl, int code)
{
	if (cl->stopping)
		return;
	cl->stopping = 1;
	cl->exit_code = code;
	uv_timer_stop(&cl->retry);
	uv_close((uv_handle_t *)&cl->sigint, NULL);
	uv_close((uv_handle_t *)&cl->sigterm, NULL);
	uv_close((uv_handle_t *)&cl->sighup, NULL);
	uv_close((uv_handle_t *)&cl->sigusr1, NULL);
	uv_close((uv_handle_t *)&cl->sigusr2, NULL);
	uv_close((uv_handle_t *)&cl->retry, NULL);
	for (size_t i = 0; i < cl->nfwds; i++) {
		fwd_local_close(cl->fwds[i]);
		cl->fwds[i] = NULL;
	}
	admit_ctx_close(cl->admit);
	cl->admit = NULL;
	if (cl->hooks != NULL && cl->hooks->stopping != NULL)
		cl->hooks->stopping(cl->hooks->arg);
	if (cl->s != NULL)
		session_close(cl->s, "client shutting down", 1);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	log_info("signal %d: shutting down", signum);
	stop(sig->data, 0);
}

/* Signals an operator sends by habit must never kill the client silently. */
static void on_info_signal(uv_signal_t *sig, int signum)
{
	struct client *cl = sig->data;
	if (signum == SIGHUP) {
		log_warn("SIGHUP: reload is not supported yet; configuration unchanged");
	} else if (signum == SIGUSR1) {
		struct session_stats st = {0};
		int up = cl->s != NULL && session_established(cl->s);
		if (up)
			session_get_stats(cl->s, &st);
		size_t open = 0;
		for (size_t i = 0; i < cl->nfwds; i++)
			open += cl->fwds[i] != NULL;
		log_info("status: session with %s %s, %zu channel(s), %zu of %zu local "
			 "forward(s) listening, %zu remote forward(s)",
			 cl->server_name, up ? "established" : "not established", st.channels, open,
			 cl->cfg.nlocal + cl->cfg.ndynamic, cl->nremote);
	} else {
		log_info("SIGUSR2: ignored (SIGUSR1 logs the status)");
	}
}

/* --- session hooks --- */

static int on_handshake(void *arg, struct session *s, const uint8_t *in, uint8_t *out,
			struct noise_cipher *tx, struct noise_cipher *rx, const char **reason)
{
	struct client *cl = arg;
	(void)s;
	(void)out;
	struct noise_hs *hs = cl->hs;
	cl->hs = NULL;
	if (hs == NULL || handshake_client_finish(hs, in, tx, rx) != 0) {
		*reason = "bad handshake reply (server does not hold this key?)";
		return -1;
	}
	return 0;
}

void client_stop(struct client *cl, int code)
{
	stop(cl, code);
}

uv_loop_t *client_loop(struct client *cl)
{
	return cl->loop;
}

size_t client_forward_count(const struct client *cl)
{
	return cl->nfwds;
}

uint16_t client_forward_port(const struct client *cl, size_t i)
{
	return i < cl->nfwds ? fwd_local_port(cl->fwds[i]) : 0;
}

int client_admit_root(struct client *cl, pid_t pid)
{
	return cl->admit == NULL ? -1 : admit_ctx_set_root(cl->admit, pid, 1);
}

/* Every entrance gets its policy (checked when the flag or line was read). */
static void set_admit(struct client *cl, size_t i, int socks)
{
	struct admit_policy p;
	char err[ADMIT_ERR_MAX];
	const char *text = config_forward_admit(&cl->cfg, socks, socks ? i - cl->cfg.nlocal : i);
	if (admit_parse(text, &p, err) != 0) {
		/* Not reached: the setting was parsed the same way. Refuse everyone. */
		log_error("%s", err);
		admit_parse("uid:4294967294", &p, err);
	}
	fwd_local_set_admit(cl->fwds[i], cl->admit, &p);
	if (!(p.terms & ADMIT_ANY))
		log_debug("forward %zu admits %s", i + 1, p.text);
}

static int open_forwards(struct client *cl)
{
	char err[NET_ERR_MAX];
	for (size_t i = 0; i < cl->cfg.nlocal + cl->cfg.ndynamic; i++) {
		int socks = i >= cl->cfg.nlocal;
		const struct net_endpoint *listen =
		    socks ? &cl->cfg.dynamic[i - cl->cfg.nlocal] : &cl->cfg.local[i].listen;
		if (!listen->is_unix && cl->binds[i] == NULL)
			snprintf(err, sizeof(err), "%s", cl->bind_err[i]);
		else
			cl->fwds[i] = fwd_local_open(cl->loop, listen, cl->binds[i],
						     socks ? NULL : &cl->cfg.local[i].target,
						     current_session, cl, err);
		cl->nfwds = i + 1;
		if (cl->fwds[i] != NULL)
			set_admit(cl, i, socks);
		if (cl->fwds[i] == NULL) {
			log_error("%s %zu: %s", socks ? "dynamic forward" : "local forward",
				  socks ? i - cl->cfg.nlocal + 1 : i + 1, err);
			if (cl->cfg.exit_on_forward_failure)
				return -1;
			log_warn("continuing without it (--no-exit-on-forward-failure)");
		}
	}
	cl->forwards_open = 1;
	return 0;
}

/*
 * The entrances' bind names are resolved once, before the loop runs (the
 * listeners open only after the first session, but a slow resolver must
 * never stall a running loop). A failure is reported when they open.
 */
static void resolve_binds(struct client *cl)
{
	for (size_t i = 0; i < cl->cfg.nlocal + cl->cfg.ndynamic; i++) {
		int socks = i >= cl->cfg.nlocal;
		const struct net_endpoint *ep =
		    socks ? &cl->cfg.dynamic[i - cl->cfg.nlocal] : &cl->cfg.local[i].listen;
		char port[8];
		if (ep->is_unix)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
		struct addrinfo hints = {.ai_family = AF_UNSPEC,
					 .ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
		int g = getaddrinfo(strcmp(ep->host, "*") == 0 ? NULL : ep->host, port, &hints,
				    &cl->binds[i]);
		if (g != 0) {
			cl->binds[i] = NULL;
			snprintf(cl->bind_err[i], NET_ERR_MAX,
				 "cannot resolve bind address '%s': %s", ep->host, gai_strerror(g));
		}
	}
}

/* Ask the server for every -R listener; it answers with LISTEN_OK/FAIL. */
static void request_remote(struct client *cl, struct session *s)
{
	for (size_t i = 0; i < cl->nremote; i++) {
		const struct net_endpoint *l = &cl->remote[i].fw.listen;
		uint8_t f[FRAME_CHAN_HDR + 4 + FRAME_MAX_HOST];
		size_t n = frame_listen(
		    f, (uint32_t)i + 1, l->is_unix ? FRAME_TARGET_UNIX : FRAME_TARGET_TCP,
		    l->is_unix ? l->path : (cl->remote[i].bind_given ? l->host : ""), l->port);
		if (n == 0 || session_send_frame(s, f, n) != 0)
			return;
	}
}

static void on_established(void *arg, struct session *s)
{
	struct client *cl = arg;
	log_info("session established with %s (%s)", cl->server_name, cipher_name(cl->alg));
	cl->backoff_s = 0;
	cl->established_once = 1;
	if (!cl->forwards_open) {
		if (open_forwards(cl) != 0) {
			log_error("exiting: a requested forward could not be set up");
			stop(cl, EXIT_RUNTIME);
			return;
		}
		cl->remote_pending = (int)cl->nremote;
		if (cl->hooks != NULL && cl->hooks->ready != NULL)
			cl->hooks->ready(cl->hooks->arg, cl);
		if (cl->stopping)
			return;
	}
	request_remote(cl, s);
}

static void on_listen_reply(void *arg, struct session *s, const struct frame *f)
{
	struct client *cl = arg;
	char target[NET_PATH_MAX + 16], listen[NET_PATH_MAX + 16];
	(void)s;
	if (f->listen_id == 0 || f->listen_id > cl->nremote)
		return;
	struct client_remote *r = &cl->remote[f->listen_id - 1];
	net_format_endpoint(&r->fw.target, target, sizeof(target));
	if (r->bind_given || r->fw.listen.is_unix)
		net_format_endpoint(&r->fw.listen, listen, sizeof(listen));
	else
		snprintf(listen, sizeof(listen), "port %u", (unsigned)r->fw.listen.port);
	if (f->type == FRAME_LISTEN_OK) {
		r->bound_port = f->port;
		if (!r->fw.listen.is_unix && r->fw.listen.port == 0)
			log_info("Allocated port %u for remote forward to %s", (unsigned)f->port,
				 target);
		else
			log_info("remote forward: server listening on %s for %s", listen, target);
	} else {
		char msg[FRAME_MAX_MSG + 1];
		log_printable(msg, f->data, f->len);
		log_error("remote forward %s -> %s failed: %s%s%s", listen, target,
			  frame_fail_text(f->code), msg[0] ? ": " : "", msg);
		if (cl->remote_pending > 0 && cl->cfg.exit_on_forward_failure) {
			log_error("exiting: a requested forward could not be set up");
			stop(cl, EXIT_RUNTIME);
			return;
		}
	}
	if (cl->remote_pending > 0)
		cl->remote_pending--;
}

static void on_open(void *arg, struct session *s, const struct frame *f)
{
	struct client *cl = arg;
	/* The server may only open channels for listeners we asked for, and
	 * only to the targets we configured for them. */
	if (f->kind != FRAME_TARGET_FORWARD || f->listen_id == 0 || f->listen_id > cl->nremote) {
		channel_refuse(s, f->chan, FRAME_FAIL_PROHIBITED, "no such remote forward");
		return;
	}
	channel_connect(s, f->chan, f->window, &cl->remote[f->listen_id - 1].fw.target);
}

static void on_closed(void *arg, struct session *s, const char *reason)
{
	struct client *cl = arg;
	log_info("session %lu closed: %s", session_id(s), reason);
	if (cl->s == s)
		cl->s = NULL;
	if (cl->hs != NULL) {
		noise_hs_free(cl->hs);
		cl->hs = NULL;
	}
	if (!cl->stopping)
		schedule_reconnect(cl, reason);
}

/* --- connecting --- */

static void on_retry(uv_timer_t *t)
{
	try_connect(t->data);
}

static void schedule_reconnect(struct client *cl, const char *why)
{
	if (cl->ai != NULL) {
		uv_freeaddrinfo(cl->ai);
		cl->ai = cl->ai_next = NULL;
	}
	/* Like ssh: a client that never got in stops, rather than retry a
	 * wrong key until the server bans its address (connect_attempts stays
	 * below the default ban_threshold). Once in, it reconnects for good. */
	if (!cl->established_once && cl->cfg.connect_attempts != 0 &&
	    ++cl->attempts >= cl->cfg.connect_attempts) {
		log_error("cannot establish a session with %s after %u attempt(s): %s",
			  cl->server_name, cl->attempts, why);
		stop(cl, EXIT_RUNTIME);
		return;
	}
	cl->backoff_s = cl->backoff_s == 0 ? 1 : cl->backoff_s * 2;
	if (cl->backoff_s > cl->cfg.reconnect_max_s)
		cl->backoff_s = cl->cfg.reconnect_max_s;
	log_info("reconnecting in %u s", cl->backoff_s);
	uv_timer_start(&cl->retry, on_retry, (uint64_t)cl->backoff_s * 1000, 0);
}

static void connect_next(struct client *cl);

static void on_tcp_connected(uv_connect_t *req, int status)
{
	struct client *cl = req->data;
	struct session *s = cl->s;
	uint8_t msg1[HANDSHAKE_MSG_LEN];
	if (status == UV_ECANCELED || s == NULL)
		return;
	if (status < 0) {
		char why[96];
		log_info("connect to %s failed: %s", cl->server_name, strerror(-status));
		snprintf(why, sizeof(why), "connect failed: %s", strerror(-status));
		/* Try the next address; the session object goes with this socket. */
		cl->s = NULL;
		session_close(s, why, 0);
		return;
	}
	cl->hs = handshake_client_begin(cl->psk, cl->alg, cmd_now_ms(), msg1);
	if (cl->hs == NULL) {
		session_close(s, "cannot start handshake", 0);
		return;
	}
	session_start_client(s, msg1);
	crypto_wipe(msg1, sizeof(msg1));
}

static void on_connect_attempt_closed(void *arg, struct session *s, const char *reason);

static const struct session_hooks attempt_hooks = {
    .handshake = on_handshake,
    .established = on_established,
    .open = on_open,
    .listen = on_listen_reply,
    .closed = on_connect_attempt_closed,
};

/* A socket whose connect() failed: go on with the next address, if any. */
static void on_connect_attempt_closed(void *arg, struct session *s, const char *reason)
{
	struct client *cl = arg;
	if (cl->s == s || cl->stopping || cl->ai_next == NULL) {
		on_closed(arg, s, reason);
		return;
	}
	connect_next(cl);
}

static void connect_next(struct client *cl)
{
	struct addrinfo *a = cl->ai_next;
	if (a == NULL) {
		schedule_reconnect(cl, "no address to connect to");
		return;
	}
	cl->ai_next = a->ai_next;
	struct session_params p = {
	    .role = SESSION_CLIENT,
	    .hooks = &attempt_hooks,
	    .arg = cl,
	    .handshake_timeout_ms = cl->cfg.connect_timeout_ms,
	    .keepalive_s = cl->cfg.keepalive_s,
	    .rekey_records = cl->cfg.rekey_records,
	};
	cl->s = session_new(cl->loop, &p);
	if (cl->s == NULL) {
		schedule_reconnect(cl, "out of memory");
		return;
	}
	cl->conn.data = cl;
	int rc = tcpopt_connect(&cl->conn, session_tcp(cl->s), a->ai_addr, on_tcp_connected);
	if (rc != 0) {
		struct session *s = cl->s;
		char why[96];
		log_info("connect to %s failed: %s", cl->server_name, strerror(-rc));
		snprintf(why, sizeof(why), "connect failed: %s", strerror(-rc));
		cl->s = NULL;
		session_close(s, why, 0);
	}
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct client *cl = req->data;
	if (cl->stopping) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		return;
	}
	if (status < 0) {
		char why[NET_HOST_MAX + 64];
		snprintf(why, sizeof(why), "cannot resolve %s: %s", cl->cfg.server.host,
			 uv_strerror(status));
		log_warn("%s", why);
		schedule_reconnect(cl, why);
		return;
	}
	cl->ai = cl->ai_next = res;
	connect_next(cl);
}

static void try_connect(struct client *cl)
{
	char port[8];
	if (cl->stopping)
		return;
	if (cl->ai != NULL) {
		uv_freeaddrinfo(cl->ai);
		cl->ai = cl->ai_next = NULL;
	}
	log_info("connecting to %s", cl->server_name);
	snprintf(port, sizeof(port), "%u", (unsigned)cl->cfg.server.port);
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	cl->gai.data = cl;
	if (uv_getaddrinfo(cl->loop, &cl->gai, on_resolved, cl->cfg.server.host, port, &hints) != 0)
		schedule_reconnect(cl, "cannot start name resolution");
}

/* --- command line --- */

static void usage(FILE *f, const struct client_hooks *h)
{
	if (h != NULL && h->usage != NULL)
		fputs(h->usage, f);
	else
		fprintf(f, "usage: postern client [-c FILE [PROFILE]] [-k KEYFILE] [-L SPEC]... "
			   "[options]\n"
			   "                      [SERVER:PORT]\n");
	fprintf(f, ""
		   "\n"
		   "Keep an encrypted session to a postern server and forward ports through it.\n"
		   "Every option is also a setting of a [profile NAME] (see postern(1)).\n"
		   "\n");
	fprintf(f,
		"  -c, --config FILE           client profiles (INI); PROFILE picks one (default:\n"
		"                              the first); flags override it\n");
	settings_usage(SETTINGS_CLIENT, f);
}

static int configure(int argc, char **argv, struct config_client *c, enum log_level *lvl,
		     const struct client_hooks *h)
{
	char err[CONFIG_ERR_MAX];
	int log = 0, rc = conf_client_args(argc, argv, c, &log, err);
	if (rc == 1) {
		usage(stdout, h);
		exit(0);
	}
	if (rc != 0) {
		fprintf(stderr, "postern %s: %s\n", h != NULL ? h->cmd : "client", err);
		return -1;
	}
	if (log != 0)
		*lvl = log > 0 ? LOG_LVL_DEBUG : LOG_LVL_WARN;
	return 0;
}

int cmd_client(int argc, char **argv)
{
	return client_run(argc, argv, NULL);
}

int client_run(int argc, char **argv, const struct client_hooks *h)
{
	struct client cl = {.hooks = h};
	enum log_level lvl = LOG_LVL_INFO;
	char err[KEYS_ERR_MAX];
	int rc = EXIT_USAGE;
	config_client_defaults(&cl.cfg);
	if (h != NULL && h->default_admit != NULL)
		config_set_admit(&cl.cfg, h->default_admit);
	if (configure(argc, argv, &cl.cfg, &lvl, h) != 0)
		goto out;
	log_set_level(lvl);
	if (keys_load(cl.cfg.key_file, cl.psk, err) != 0) {
		fprintf(stderr, "postern client: %s\n", err);
		goto out;
	}
	cl.fwds = calloc(cl.cfg.nlocal + cl.cfg.ndynamic + 1, sizeof(*cl.fwds));
	cl.binds = calloc(cl.cfg.nlocal + cl.cfg.ndynamic + 1, sizeof(*cl.binds));
	cl.bind_err = calloc(cl.cfg.nlocal + cl.cfg.ndynamic + 1, sizeof(*cl.bind_err));
	cl.remote = calloc(cl.cfg.nremote + 1, sizeof(*cl.remote));
	if (cl.fwds == NULL || cl.binds == NULL || cl.bind_err == NULL || cl.remote == NULL)
		goto out;
	resolve_binds(&cl);
	for (size_t i = 0; i < cl.cfg.nremote; i++) {
		cl.remote[i].fw = cl.cfg.remote[i];
		cl.remote[i].bind_given = cl.cfg.remote[i].listen.host[0] != 0;
	}
	cl.nremote = cl.cfg.nremote;
	signal(SIGPIPE, SIG_IGN);
	cl.alg = pick_cipher(cl.cfg.cipher);
	net_format_endpoint(&cl.cfg.server, cl.server_name, sizeof(cl.server_name));
	cl.loop = uv_default_loop();
	struct admit_options ao = {.ask_program = cl.cfg.ask_program,
				   .ask_timeout_ms = cl.cfg.ask_timeout_ms,
				   .max_pending = cl.cfg.admit_pending};
	cl.admit = admit_ctx_new(cl.loop, &ao);
	if (cl.admit == NULL) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	uv_timer_init(cl.loop, &cl.retry);
	cl.retry.data = &cl;
	uv_signal_init(cl.loop, &cl.sigint);
	uv_signal_init(cl.loop, &cl.sigterm);
	cl.sigint.data = cl.sigterm.data = &cl;
	uv_signal_start(&cl.sigint, on_signal, SIGINT);
	uv_signal_start(&cl.sigterm, on_signal, SIGTERM);
	uv_signal_t *info[] = {&cl.sighup, &cl.sigusr1, &cl.sigusr2};
	int infonum[] = {SIGHUP, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < 3; i++) {
		uv_signal_init(cl.loop, info[i]);
		info[i]->data = &cl;
		uv_signal_start(info[i], on_info_signal, infonum[i]);
	}
	try_connect(&cl);
	busypoll_init(&cl.poll, cl.cfg.busy_poll_us);
	busypoll_run(&cl.poll, cl.loop);
	rc = cl.exit_code;
	uv_loop_close(cl.loop);
out:
	if (cl.ai != NULL)
		uv_freeaddrinfo(cl.ai);
	crypto_wipe(cl.psk, sizeof(cl.psk));
	free(cl.fwds);
	for (size_t i = 0; cl.binds != NULL && i < cl.cfg.nlocal + cl.cfg.ndynamic; i++)
		if (cl.binds[i] != NULL)
			freeaddrinfo(cl.binds[i]);
	free(cl.binds);
	free(cl.bind_err);
	free(cl.remote);
	config_client_free(&cl.cfg);
	session_txbuf_pool_drain();
	return rc;
}
