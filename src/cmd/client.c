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
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/client.h"
#include "cmd/cmd.h"
#include "conf/client.h"
#include "conf/settings.h"
#include "ctl/control.h"
#include "guard/admit.h"
#include "spa/knock.h"
#include "tunnel/channel.h"
#include "tunnel/fwd_local.h"
#include "tunnel/fwd_stdio.h"
#include "tunnel/handshake.h"
#include "tunnel/handshake_ik.h"
#include "tunnel/session.h"
#include "util/busypoll.h"
#include "util/config.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/tcpopt.h"

/* A -R forward as the client sees it. */
struct client_remote {
	struct net_forward fw;
	int bind_given; /* the spec named a bind address */
	uint16_t bound_port;
	int gone; /* removed by a reload: its listen id refuses channels from now on */
	/* After a handover the server may not yet have let go of the old
	 * session's listener on this port: refusals still retried, and whether
	 * a retry waits for the relisten timer. */
	unsigned retries;
	int retry_due;
};

enum { HANDOVER_LISTEN_RETRIES = 5, HANDOVER_LISTEN_RETRY_MS = 300 };

struct client {
	uv_loop_t *loop;
	struct busypoll poll;
	struct config_client cfg;
	uint8_t psk[CRYPTO_KEY_LEN]; /* or, with ik, our x25519 private key */
	int ik;			     /* Noise IK towards server_pub */
	uint8_t server_pub[CRYPTO_KEY_LEN];
	enum crypto_aead_alg alg;
	struct session *s;	 /* current session, or NULL */
	struct session *old;	 /* the session a reload is moving away from, still serving */
	unsigned gen;		 /* bumped when a reload changes the server or the key */
	unsigned attempt_gen;	 /* ${gen} when the current attempt began (try_connect) */
	unsigned s_gen;		 /* ${attempt_gen} of ${s} */
	int remote_after_old;	 /* ask for the -R listeners once ${old} has closed */
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
	uv_timer_t relisten;   /* re-asks for -R ports after a handover (client_remote.retries) */
	uv_timer_t knock_wait; /* knock sent; connect when it fires */
	const struct addrinfo *knocked; /* the address knocked on */
	uv_signal_t sigint, sigterm, sighup, sigusr1, sigusr2;
	unsigned backoff_s;
	unsigned attempts; /* failed rounds before any session was established */
	int established_once;
	int stopping;
	int exit_code;
	char server_name[NET_HOST_MAX + 16];
	struct fwd_stdio *stdio; /* -W, once its channel is open */
	struct ctl *ctl;	 /* the control socket, or NULL */
	unsigned reconnects;	 /* sessions lost after the first was established */
	int argc;		 /* the command line, read again on SIGHUP */
	char **argv;
	struct admit_ctx *admit;	  /* who may use the entrances */
	const struct client_hooks *hooks; /* `postern exec`, or NULL */
};

static void try_connect(struct client *cl);
static void schedule_reconnect(struct client *cl, const char *why);

/* Who the client is and which server it trusts, as a profile's key settings give them. */
struct client_identity {
	uint8_t key[CRYPTO_KEY_LEN]; /* the PSK, or with ik our x25519 private key */
	int ik;
	uint8_t server_pub[CRYPTO_KEY_LEN];
};

/*
 * load_identity(c, id, err): read ${c}'s key_file and server_key into ${id}.
 * Returns 0, or -1 with a message in ${err} (KEYS_ERR_MAX bytes). Start and
 * reload share it, so a reload accepts exactly what a start would.
 */
static int load_identity(const struct config_client *c, struct client_identity *id, char *err)
{
	enum keys_kind kind;
	char why[KEYS_ERR_MAX];

	memset(id, 0, sizeof(*id));
	if (keys_load_any(c->key_file, &kind, id->key, err) != 0)
		return -1;
	id->ik = kind == KEYS_X25519;
	if (id->ik && c->server_key[0] == '\0') {
		snprintf(err, KEYS_ERR_MAX,
			 "%s is an x25519 key: give the server's public key with --server-key "
			 "FILE|BASE64 (server_key in a profile)",
			 c->key_file);
		return -1;
	}
	if (!id->ik && c->server_key[0] != '\0') {
		snprintf(
		    err, KEYS_ERR_MAX,
		    "--server-key needs an x25519 key pair (postern keygen -t x25519); %s is a "
		    "pre-shared key",
		    c->key_file);
		return -1;
	}
	if (id->ik && keys_load_public(c->server_key, id->server_pub, why) != 0) {
		snprintf(err, KEYS_ERR_MAX, "server_key: %s", why);
		return -1;
	}
	return 0;
}

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

/* Until a reload's new session is up, new connections keep using the old one. */
static struct session *current_session(void *arg)
{
	struct client *cl = arg;
	if ((cl->s == NULL || !session_established(cl->s)) && cl->old != NULL)
		return cl->old;
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
	uv_timer_stop(&cl->relisten);
	uv_close((uv_handle_t *)&cl->relisten, NULL);
	uv_close((uv_handle_t *)&cl->knock_wait, NULL);
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
	fwd_stdio_close(cl->stdio);
	cl->stdio = NULL;
	ctl_close(cl->ctl);
	cl->ctl = NULL;
	admit_ctx_close(cl->admit);
	cl->admit = NULL;
	if (cl->hooks != NULL && cl->hooks->stopping != NULL)
		cl->hooks->stopping(cl->hooks->arg);
	if (cl->old != NULL)
		session_close(cl->old, "client shutting down", 1);
	if (cl->s != NULL)
		session_close(cl->s, "client shutting down", 1);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	log_info("shutting down signal=%d", signum);
	sdnotify_stopping();
	stop(sig->data, 0);
}

static int reload(struct client *cl);

/* Signals an operator sends by habit must never kill the client silently. */
static void on_info_signal(uv_signal_t *sig, int signum)
{
	struct client *cl = sig->data;
	if (signum == SIGHUP) {
		log_info("reloading from=SIGHUP");
		sdnotify_reloading();
		reload(cl);
		sdnotify_ready();
	} else if (signum == SIGUSR1) {
		struct session_stats st = {0};
		struct session *cur = current_session(cl);
		int up = cur != NULL && session_established(cur);
		if (up)
			session_get_stats(cur, &st);
		size_t open = 0;
		for (size_t i = 0; i < cl->nfwds; i++)
			open += cl->fwds[i] != NULL;
		log_info("status server=%s session=%s channels=%zu listening=%zu forwards=%zu "
			 "remote_forwards=%zu",
			 cl->server_name, up ? "established" : "none", st.channels, open,
			 cl->cfg.nlocal + cl->cfg.ndynamic, cl->nremote);
	} else {
		log_info("signal ignored (SIGUSR1 logs the status) signal=SIGUSR2");
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
		log_debug("forward admits forward=%zu admit=%s", i + 1, log_q(p.text));
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
			log_error("cannot open forward kind=%s forward=%zu error=%s",
				  socks ? "dynamic" : "local",
				  socks ? i - cl->cfg.nlocal + 1 : i + 1, log_q(err));
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
/* resolve_bind(cl, i): the bind addresses of TCP entrance ${i}, or why not. */
static void resolve_bind(struct client *cl, size_t i)
{
	int socks = i >= cl->cfg.nlocal;
	const struct net_endpoint *ep =
	    socks ? &cl->cfg.dynamic[i - cl->cfg.nlocal] : &cl->cfg.local[i].listen;
	char port[8];
	if (ep->is_unix)
		return;
	snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	int g =
	    getaddrinfo(strcmp(ep->host, "*") == 0 ? NULL : ep->host, port, &hints, &cl->binds[i]);
	if (g != 0) {
		cl->binds[i] = NULL;
		snprintf(cl->bind_err[i], NET_ERR_MAX, "cannot resolve bind address '%s': %s",
			 ep->host, gai_strerror(g));
	}
}

static void resolve_binds(struct client *cl)
{
	for (size_t i = 0; i < cl->cfg.nlocal + cl->cfg.ndynamic; i++)
		resolve_bind(cl, i);
}

/* Ask the server for every -R listener; it answers with LISTEN_OK/FAIL. */
/* request_one(cl, s, i): send remote forward ${i}'s LISTEN on ${s}. Returns 0 or -1. */
static int request_one(struct client *cl, struct session *s, size_t i)
{
	const struct net_endpoint *l = &cl->remote[i].fw.listen;
	uint8_t f[FRAME_CHAN_HDR + 4 + FRAME_MAX_HOST];
	size_t n =
	    frame_listen(f, (uint32_t)i + 1, l->is_unix ? FRAME_TARGET_UNIX : FRAME_TARGET_TCP,
			 l->is_unix ? l->path : (cl->remote[i].bind_given ? l->host : ""), l->port);
	return n == 0 || session_send_frame(s, f, n) != 0 ? -1 : 0;
}

static void request_remote(struct client *cl, struct session *s)
{
	for (size_t i = 0; i < cl->nremote; i++)
		if (!cl->remote[i].gone && request_one(cl, s, i) != 0)
			return;
}

static void on_relisten(uv_timer_t *t)
{
	struct client *cl = t->data;
	for (size_t i = 0; i < cl->nremote; i++) {
		if (!cl->remote[i].retry_due)
			continue;
		cl->remote[i].retry_due = 0;
		if (!cl->remote[i].gone && cl->s != NULL && session_established(cl->s))
			request_one(cl, cl->s, i);
	}
}

static void on_stdio_done(void *arg, int ok)
{
	struct client *cl = arg;
	log_debug("stdio channel ended ok=%s", ok ? "yes" : "no");
	stop(cl, ok ? 0 : EXIT_RUNTIME);
}

/*
 * open_stdio(cl, s): -W: a socketpair, one end a channel to the target, the
 * other bridged to stdin/stdout. Once only: a -W stream cannot survive a
 * reconnect (its bytes in flight are lost), so a lost session ends it.
 */
static int open_stdio(struct client *cl, struct session *s)
{
	int sv[2];
	char name[NET_HOST_MAX + 16];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error("stdio socketpair failed error=%s", log_q(strerror(errno)));
		return -1;
	}
	struct channel_entrance e = {
	    .kind = ENTRANCE_FIXED,
	    .target = &cl->cfg.stdio,
	    .name = net_format_endpoint(&cl->cfg.stdio, name, sizeof(name)),
	};
	cl->stdio = fwd_stdio_start(cl->loop, sv[1], on_stdio_done, cl);
	if (cl->stdio == NULL) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (channel_open_fd(s, cl->loop, sv[0], &e) != 0) {
		close(sv[0]);
		return -1;
	}
	return 0;
}

static void on_established(void *arg, struct session *s)
{
	struct client *cl = arg;
	log_info("session established id=%lu server=%s cipher=%s", session_id(s), cl->server_name,
		 cipher_name(cl->alg));
	cl->backoff_s = 0;
	cl->established_once = 1;
	if (cl->s_gen != cl->gen) {
		/* Begun before a reload changed the server or key: start over. */
		session_close(s, "superseded by reload", 1);
		return;
	}
	if (cl->old != NULL) {
		/* The handover: new connections already come here; the old
		 * session's -R listeners must be gone before we ask again, as
		 * the same server would refuse ports that are still bound. */
		log_info("handover old=%lu new=%lu", session_id(cl->old), session_id(s));
		session_close(cl->old, "replaced by reload", 1);
		cl->remote_after_old = 1;
		return;
	}
	if (cl->cfg.stdio.host[0] != 0) {
		if (cl->stdio == NULL && !cl->forwards_open && open_stdio(cl, s) != 0)
			stop(cl, EXIT_RUNTIME);
		cl->forwards_open = 1;
		return;
	}
	if (!cl->forwards_open) {
		if (open_forwards(cl) != 0) {
			log_error("exiting: a requested forward could not be set up");
			stop(cl, EXIT_RUNTIME);
			return;
		}
		cl->remote_pending = (int)cl->nremote;
		sdnotify_ready();
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
	if (f->listen_id == 0 || f->listen_id > cl->nremote)
		return;
	struct client_remote *r = &cl->remote[f->listen_id - 1];
	net_format_endpoint(&r->fw.target, target, sizeof(target));
	if (r->bind_given || r->fw.listen.is_unix)
		net_format_endpoint(&r->fw.listen, listen, sizeof(listen));
	else
		snprintf(listen, sizeof(listen), "port %u", (unsigned)r->fw.listen.port);
	if (f->type != FRAME_LISTEN_OK && r->retries > 0 && s == cl->s) {
		r->retries--;
		r->retry_due = 1;
		log_debug("remote forward refused after a handover, retrying listen=%s",
			  log_q(listen));
		if (!uv_is_active((uv_handle_t *)&cl->relisten))
			uv_timer_start(&cl->relisten, on_relisten, HANDOVER_LISTEN_RETRY_MS, 0);
		return;
	}
	r->retries = 0;
	if (f->type == FRAME_LISTEN_OK) {
		r->bound_port = f->port;
		if (!r->fw.listen.is_unix && r->fw.listen.port == 0)
			log_info(
			    "remote forward listening listen=%s port=%u target=%s allocated=yes",
			    log_q(listen), (unsigned)f->port, log_q(target));
		else
			log_info("remote forward listening listen=%s port=%u target=%s",
				 log_q(listen), (unsigned)f->port, log_q(target));
	} else {
		char msg[FRAME_MAX_MSG + 1];
		log_printable(msg, f->data, f->len);
		char e[FRAME_MAX_MSG + 64];
		snprintf(e, sizeof(e), "%s%s%s", frame_fail_text(f->code), msg[0] ? ": " : "", msg);
		log_error("remote forward failed listen=%s target=%s error=%s", log_q(listen),
			  log_q(target), log_q(e));
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
	if (f->kind != FRAME_TARGET_FORWARD || f->listen_id == 0 || f->listen_id > cl->nremote ||
	    cl->remote[f->listen_id - 1].gone) {
		channel_refuse(s, f->chan, FRAME_FAIL_PROHIBITED, "no such remote forward");
		return;
	}
	channel_connect(s, f->chan, f->window, &cl->remote[f->listen_id - 1].fw.target);
}

static void on_closed(void *arg, struct session *s, const char *reason)
{
	struct client *cl = arg;
	char plain[256];
	/* The server is silent to anyone it does not accept, so the client
	 * cannot know which of these it is; it says so rather than guess. */
	if (cl->ik && cl->hs != NULL && !cl->established_once) {
		snprintf(plain, sizeof(plain),
			 "no answer from %s: wrong server key, a key the server does not list, "
			 "or not a postern server (%s)",
			 cl->server_name, reason);
		reason = plain;
	}
	log_info("session closed id=%lu reason=%s", session_id(s), log_q(reason));
	if (cl->old == s) {
		/* A handover's old session: the current one (or its attempt) goes on. */
		cl->old = NULL;
		if (cl->remote_after_old && cl->s != NULL && session_established(cl->s)) {
			for (size_t i = 0; i < cl->nremote; i++)
				cl->remote[i].retries = HANDOVER_LISTEN_RETRIES;
			request_remote(cl, cl->s);
		}
		cl->remote_after_old = 0;
		return;
	}
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
	if (cl->cfg.stdio.host[0] != 0 && cl->established_once) {
		log_error("stdio session lost server=%s reason=%s", cl->server_name, log_q(why));
		stop(cl, EXIT_RUNTIME);
		return;
	}
	if (!cl->established_once && cl->cfg.connect_attempts != 0 &&
	    ++cl->attempts >= cl->cfg.connect_attempts) {
		log_error("cannot establish a session server=%s attempts=%u reason=%s",
			  cl->server_name, cl->attempts, log_q(why));
		stop(cl, EXIT_RUNTIME);
		return;
	}
	if (cl->established_once && cl->backoff_s == 0)
		cl->reconnects++;
	cl->backoff_s = cl->backoff_s == 0 ? 1 : cl->backoff_s * 2;
	if (cl->backoff_s > cl->cfg.reconnect_max_s)
		cl->backoff_s = cl->cfg.reconnect_max_s;
	/* Jitter (up to a quarter of the delay, either way) keeps a fleet of
	 * clients cut off together from reconnecting in lockstep. */
	uint32_t r = 0;
	crypto_random(&r, sizeof(r));
	uint64_t delay_ms = (uint64_t)cl->backoff_s * 1000, spread = delay_ms / 2;
	delay_ms = delay_ms - delay_ms / 4 + (spread > 0 ? r % (spread + 1) : 0);
	log_info("reconnecting delay=%.1fs", (double)delay_ms / 1000);
	uv_timer_start(&cl->retry, on_retry, delay_ms, 0);
}

static void connect_next(struct client *cl);

static void on_tcp_connected(uv_connect_t *req, int status)
{
	struct client *cl = req->data;
	struct session *s = cl->s;
	uint8_t msg1[HANDSHAKE_IK_MSG_LEN];
	if (status == UV_ECANCELED || s == NULL)
		return;
	if (status < 0) {
		char why[96];
		log_info("connect failed server=%s error=%s", cl->server_name,
			 log_q(strerror(-status)));
		snprintf(why, sizeof(why), "connect failed: %s", strerror(-status));
		/* Try the next address; the session object goes with this socket. */
		cl->s = NULL;
		session_close(s, why, 0);
		return;
	}
	cl->hs =
	    cl->ik ? handshake_ik_client_begin(cl->psk, cl->server_pub, cl->alg, cmd_now_ms(), msg1)
		   : handshake_client_begin(cl->psk, cl->alg, cmd_now_ms(), msg1);
	if (cl->hs == NULL) {
		session_close(s, "cannot start handshake", 0);
		return;
	}
	session_start_client(s, msg1, cl->ik ? HANDSHAKE_IK_MSG_LEN : HANDSHAKE_MSG_LEN);
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

static void connect_addr(struct client *cl, const struct addrinfo *a);

static void on_knock_wait(uv_timer_t *t)
{
	struct client *cl = t->data;
	if (!cl->stopping)
		connect_addr(cl, cl->knocked);
}

/*
 * send_knock(cl, a): knock (spa/knock.c) for tcp/<server port> on ${a}'s
 * knock_port, so a server with [spa] opens its tunnel port to us. Returns 0
 * when the datagram left.
 */
static int send_knock(struct client *cl, const struct addrinfo *a)
{
	struct spa_request req = {.naccess = 1};
	struct sockaddr_storage ss;
	struct knock_key k = {.ik = cl->ik};
	char err[KNOCK_ERR_MAX];
	memcpy(k.key, cl->psk, sizeof(k.key));
	memcpy(k.server_pub, cl->server_pub, sizeof(k.server_pub));
	req.access[0] = (struct spa_access){.proto = SPA_PROTO_TCP, .port = cl->cfg.server.port};
	memcpy(&ss, a->ai_addr, a->ai_addrlen);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)cl->cfg.knock_port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)cl->cfg.knock_port);
	int rc = knock_send_to(&k, &req, (struct sockaddr *)&ss, a->ai_addrlen, NULL, err);
	crypto_wipe(&k, sizeof(k));
	if (rc != 0) {
		log_warn("knock failed server=%s port=%u error=%s", cl->server_name,
			 cl->cfg.knock_port, log_q(err));
		return -1;
	}
	log_info("knocked server=%s port=%u access=tcp/%u", cl->server_name, cl->cfg.knock_port,
		 (unsigned)cl->cfg.server.port);
	return 0;
}

static void connect_next(struct client *cl)
{
	struct addrinfo *a = cl->ai_next;
	if (a == NULL) {
		schedule_reconnect(cl, "no address to connect to");
		return;
	}
	cl->ai_next = a->ai_next;
	/* The knock needs a moment to become a grant: the SYN must not overtake it. */
	if (cl->cfg.knock && send_knock(cl, a) == 0 && cl->cfg.knock_wait_ms > 0) {
		cl->knocked = a;
		uv_timer_start(&cl->knock_wait, on_knock_wait, cl->cfg.knock_wait_ms, 0);
		return;
	}
	connect_addr(cl, a);
}

static void connect_addr(struct client *cl, const struct addrinfo *a)
{
	struct session_params p = {
	    .role = SESSION_CLIENT,
	    .hooks = &attempt_hooks,
	    .arg = cl,
	    .handshake_timeout_ms = cl->cfg.connect_timeout_ms,
	    .keepalive_s = cl->cfg.keepalive_s,
	    .rekey_records = cl->cfg.rekey_records,
	};
	cl->s = session_new(cl->loop, &p);
	cl->s_gen = cl->attempt_gen;
	if (cl->s == NULL) {
		schedule_reconnect(cl, "out of memory");
		return;
	}
	cl->conn.data = cl;
	int rc = tcpopt_connect(&cl->conn, session_tcp(cl->s), a->ai_addr, on_tcp_connected);
	if (rc != 0) {
		struct session *s = cl->s;
		char why[96];
		log_info("connect failed server=%s error=%s", cl->server_name,
			 log_q(strerror(-rc)));
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
		log_warn("cannot resolve server host=%s error=%s", log_q(cl->cfg.server.host),
			 log_q(uv_strerror(status)));
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
	cl->attempt_gen = cl->gen;
	log_info("connecting server=%s", cl->server_name);
	snprintf(port, sizeof(port), "%u", (unsigned)cl->cfg.server.port);
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	cl->gai.data = cl;
	if (uv_getaddrinfo(cl->loop, &cl->gai, on_resolved, cl->cfg.server.host, port, &hints) != 0)
		schedule_reconnect(cl, "cannot start name resolution");
}

/* --- reload (SIGHUP) --- */

/* entrance_name(c, i, out, len): entrance ${i} of ${c} (-L then -D) as one comparable string. */
static const char *entrance_name(const struct config_client *c, size_t i, char *out, size_t len)
{
	char a[NET_PATH_MAX + 16], b[NET_PATH_MAX + 16];
	if (i >= c->nlocal) {
		net_format_endpoint(&c->dynamic[i - c->nlocal], a, sizeof(a));
		snprintf(out, len, "-D %s", a);
	} else {
		net_format_endpoint(&c->local[i].listen, a, sizeof(a));
		net_format_endpoint(&c->local[i].target, b, sizeof(b));
		snprintf(out, len, "-L %s:%s", a, b);
	}
	return out;
}

static const char *remote_name(const struct net_forward *fw, char *out, size_t len)
{
	char a[NET_PATH_MAX + 16], b[NET_PATH_MAX + 16];
	net_format_endpoint(&fw->listen, a, sizeof(a));
	net_format_endpoint(&fw->target, b, sizeof(b));
	snprintf(out, len, "-R %s:%s", a, b);
	return out;
}

enum { NAME_MAX_LEN = 2 * (NET_PATH_MAX + 16) + 8 };

/*
 * reload_remote(cl, nc): -R forwards no longer configured stop taking
 * channels (the protocol has no way to withdraw a server listener, so it
 * stays bound until the session ends); new ones are appended, so the
 * listen ids of kept ones never change, and requested now if a session is up.
 */
static int reload_remote(struct client *cl, const struct config_client *nc)
{
	char a[NAME_MAX_LEN], b[NAME_MAX_LEN];
	size_t added = 0;
	for (size_t j = 0; j < nc->nremote; j++) {
		int have = 0;
		for (size_t i = 0; i < cl->nremote && !have; i++)
			have = !cl->remote[i].gone &&
			       strcmp(remote_name(&cl->remote[i].fw, a, sizeof(a)),
				      remote_name(&nc->remote[j], b, sizeof(b))) == 0;
		added += !have;
	}
	struct client_remote *r = realloc(cl->remote, (cl->nremote + added + 1) * sizeof(*r));
	if (r == NULL)
		return -1;
	cl->remote = r;
	for (size_t i = 0; i < cl->nremote; i++) {
		int keep = 0;
		if (cl->remote[i].gone)
			continue;
		for (size_t j = 0; j < nc->nremote && !keep; j++)
			keep = strcmp(remote_name(&cl->remote[i].fw, a, sizeof(a)),
				      remote_name(&nc->remote[j], b, sizeof(b))) == 0;
		if (!keep) {
			cl->remote[i].gone = 1;
			log_info("reload removed forward=%s", log_q(a));
		}
	}
	size_t first = cl->nremote;
	for (size_t j = 0; j < nc->nremote; j++) {
		int have = 0;
		for (size_t i = 0; i < cl->nremote && !have; i++)
			have = !cl->remote[i].gone &&
			       strcmp(remote_name(&cl->remote[i].fw, a, sizeof(a)),
				      remote_name(&nc->remote[j], b, sizeof(b))) == 0;
		if (have)
			continue;
		struct client_remote *n = &cl->remote[cl->nremote++];
		memset(n, 0, sizeof(*n));
		n->fw = nc->remote[j];
		n->bind_given = nc->remote[j].listen.host[0] != 0;
		log_info("reload added forward=%s", log_q(b));
	}
	if (cl->s != NULL && session_established(cl->s))
		for (size_t i = first; i < cl->nremote; i++) {
			const struct net_endpoint *l = &cl->remote[i].fw.listen;
			uint8_t f[FRAME_CHAN_HDR + 4 + FRAME_MAX_HOST];
			size_t n = frame_listen(
			    f, (uint32_t)i + 1, l->is_unix ? FRAME_TARGET_UNIX : FRAME_TARGET_TCP,
			    l->is_unix ? l->path : (cl->remote[i].bind_given ? l->host : ""),
			    l->port);
			if (n == 0 || session_send_frame(cl->s, f, n) != 0)
				break;
		}
	return 0;
}

/*
 * reload(cl): read the command line and the profile again and apply its
 * forwards: an entrance still configured keeps its listener and its open
 * connections; a removed one stops listening (its open connections go on
 * until they end); a new one is opened now. A changed server, key_file,
 * server_key or cipher moves the client to a new session (handover()).
 * Session timers take effect with the next session. A profile with errors
 * (a key that does not load included) changes nothing. New bind names are
 * resolved here, blocking the loop for that long.
 */
static int apply_forwards(struct client *cl, struct config_client *nc_in);

/*
 * handover(cl): move to the server and key now in ${cl} (make before
 * break). An established session stays in use, for open and new
 * connections, while a new one is set up; once that is up, new connections
 * go to it, the old one is closed with GOODBYE (what still runs through it
 * is reset) and the -R forwards are asked for again. If it cannot be set
 * up, the old session goes on serving and the client keeps trying, as after
 * any lost session. Not up yet: the next attempt uses the new settings.
 */
static void handover(struct client *cl)
{
	cl->gen++;
	if (cl->s == NULL || !session_established(cl->s)) {
		/* An attempt under way is superseded when it comes up (s_gen). */
		if (uv_is_active((uv_handle_t *)&cl->retry)) {
			uv_timer_stop(&cl->retry);
			cl->backoff_s = 0;
			try_connect(cl);
		}
		return;
	}
	if (cl->old != NULL) {
		/* Between a handover's end and the old session's close: start over. */
		session_close(cl->s, "superseded by reload", 1);
		return;
	}
	cl->old = cl->s;
	cl->s = NULL;
	cl->backoff_s = 0;
	try_connect(cl);
}

/* The identity and server a reload read differ from the running ones. */
static int identity_changed(const struct client *cl, const struct client_identity *id,
			    const struct config_client *nc)
{
	return id->ik != cl->ik || !crypto_memeq(id->key, cl->psk, sizeof(cl->psk)) ||
	       (id->ik && !crypto_memeq(id->server_pub, cl->server_pub, sizeof(cl->server_pub))) ||
	       pick_cipher(nc->cipher) != cl->alg || nc->server.port != cl->cfg.server.port ||
	       strcmp(nc->server.host, cl->cfg.server.host) != 0;
}

static int reload(struct client *cl)
{
	struct config_client nc;
	struct client_identity id;
	char err[(size_t)CONFIG_ERR_MAX + KEYS_ERR_MAX];
	int log = 0, changed;

	config_client_defaults(&nc);
	/* `postern exec` admits only its command's tree, reload or not. */
	if (cl->hooks != NULL && cl->hooks->default_admit != NULL)
		config_set_admit(&nc, cl->hooks->default_admit);
	if (conf_client_args(cl->argc, cl->argv, &nc, &log, err) != 0 ||
	    load_identity(&nc, &id, err) != 0) {
		log_error("reload rejected, configuration unchanged error=%s", log_q(err));
		crypto_wipe(&id, sizeof(id));
		config_client_free(&nc);
		return -1;
	}
	/* -W is one stream to one server: it cannot move. */
	changed = cl->cfg.stdio.host[0] == 0 && identity_changed(cl, &id, &nc);
	if (!changed) {
		memcpy(nc.key_file, cl->cfg.key_file, sizeof(nc.key_file));
		memcpy(nc.server_key, cl->cfg.server_key, sizeof(nc.server_key));
		nc.server = cl->cfg.server;
	}
	if (apply_forwards(cl, &nc) != 0) {
		crypto_wipe(&id, sizeof(id));
		return -1;
	}
	if (changed) {
		memcpy(cl->psk, id.key, sizeof(cl->psk));
		memcpy(cl->server_pub, id.server_pub, sizeof(cl->server_pub));
		cl->ik = id.ik;
		cl->alg = pick_cipher(cl->cfg.cipher);
		net_format_endpoint(&cl->cfg.server, cl->server_name, sizeof(cl->server_name));
		log_info("reload: moving to a new session server=%s", cl->server_name);
		handover(cl);
	}
	crypto_wipe(&id, sizeof(id));
	return 0;
}

/*
 * apply_forwards(cl, nc): make the forwards of ${nc} (taken over, freed on
 * failure) the running ones, as reload() describes. Shared by SIGHUP and
 * the control socket's forward/cancel.
 */
static int apply_forwards(struct client *cl, struct config_client *nc_in)
{
	struct config_client nc = *nc_in;
	char err[CONFIG_ERR_MAX], a[NAME_MAX_LEN], b[NAME_MAX_LEN];
	size_t nold = cl->cfg.nlocal + cl->cfg.ndynamic, nnew;
	struct fwd_local **fwds = NULL;
	struct addrinfo **binds = NULL;
	char(*bind_err)[NET_ERR_MAX] = NULL;
	int *taken = NULL, rc = -1;

	nnew = nc.nlocal + nc.ndynamic;
	fwds = calloc(nnew + 1, sizeof(*fwds));
	binds = calloc(nnew + 1, sizeof(*binds));
	bind_err = calloc(nnew + 1, sizeof(*bind_err));
	taken = calloc(nold + 1, sizeof(*taken));
	if (fwds == NULL || binds == NULL || bind_err == NULL || taken == NULL ||
	    reload_remote(cl, &nc) != 0) {
		log_error("reload rejected, configuration unchanged error=\"out of memory\"");
		goto out;
	}
	for (size_t j = 0; j < nnew; j++) {
		entrance_name(&nc, j, b, sizeof(b));
		for (size_t i = 0; i < nold; i++) {
			if (taken[i] || strcmp(entrance_name(&cl->cfg, i, a, sizeof(a)), b) != 0)
				continue;
			taken[i] = 1;
			fwds[j] = cl->fwds[i];
			binds[j] = cl->binds[i];
			memcpy(bind_err[j], cl->bind_err[i], NET_ERR_MAX);
			cl->fwds[i] = NULL;
			cl->binds[i] = NULL;
			break;
		}
	}
	for (size_t i = 0; i < nold; i++) {
		if (taken[i])
			continue;
		log_info("reload removed forward=%s",
			 log_q(entrance_name(&cl->cfg, i, a, sizeof(a))));
		fwd_local_close(cl->fwds[i]);
		if (cl->binds[i] != NULL)
			freeaddrinfo(cl->binds[i]);
	}
	free(cl->fwds);
	free(cl->binds);
	free(cl->bind_err);
	/* The new configuration is in place before the new entrances open: they
	 * read their specs from it. */
	struct config_client old = cl->cfg;
	cl->cfg = nc;
	cl->fwds = fwds;
	cl->binds = binds;
	cl->bind_err = bind_err;
	fwds = NULL;
	binds = NULL;
	bind_err = NULL;
	for (size_t j = 0; j < nnew; j++)
		if (cl->fwds[j] == NULL && cl->binds[j] == NULL && cl->bind_err[j][0] == 0)
			resolve_bind(cl, j);
	cl->nfwds = nnew;
	if (cl->forwards_open)
		for (size_t j = 0; j < nnew; j++) {
			if (cl->fwds[j] != NULL)
				continue;
			int socks = j >= nc.nlocal;
			const struct net_endpoint *ep =
			    socks ? &cl->cfg.dynamic[j - nc.nlocal] : &cl->cfg.local[j].listen;
			if (!ep->is_unix && cl->binds[j] == NULL)
				snprintf(err, sizeof(err), "%s", cl->bind_err[j]);
			else
				cl->fwds[j] =
				    fwd_local_open(cl->loop, ep, cl->binds[j],
						   socks ? NULL : &cl->cfg.local[j].target,
						   current_session, cl, err);
			if (cl->fwds[j] == NULL)
				log_error("reload cannot add forward=%s error=%s",
					  log_q(entrance_name(&cl->cfg, j, a, sizeof(a))),
					  log_q(err));
			else
				log_info("reload added forward=%s",
					 log_q(entrance_name(&cl->cfg, j, a, sizeof(a))));
		}
	/* Every entrance, kept or new, admits by the policy it now has. */
	for (size_t j = 0; j < nnew; j++)
		if (cl->fwds[j] != NULL)
			set_admit(cl, j, j >= cl->cfg.nlocal);
	config_client_free(&old);
	log_info("reload applied local=%zu dynamic=%zu remote=%zu", cl->cfg.nlocal,
		 cl->cfg.ndynamic, cl->cfg.nremote);
	rc = 0;
out:
	if (rc != 0)
		config_client_free(&nc);
	free(fwds);
	free(binds);
	free(bind_err);
	free(taken);
	return rc;
}

/* --- the control socket --- */

/* copy_forwards(cl, nc): ${nc} = the running configuration, lists duplicated. */
static int copy_forwards(const struct client *cl, struct config_client *nc)
{
	*nc = cl->cfg;
	nc->local = NULL;
	nc->remote = NULL;
	nc->dynamic = NULL;
	nc->local_admit = nc->dynamic_admit = NULL;
	nc->nlocal = nc->nremote = nc->ndynamic = 0;
	/* Each entrance keeps its own admit policy: a copy without it would
	 * quietly fall back to the default. */
	for (size_t i = 0; i < cl->cfg.nlocal; i++) {
		if (config_add_forward(nc, &cl->cfg.local[i]) != 0)
			return -1;
		nc->last_forward = 'L';
		if (cl->cfg.local_admit != NULL && cl->cfg.local_admit[i] != NULL &&
		    config_set_admit(nc, cl->cfg.local_admit[i]) != 0)
			return -1;
	}
	for (size_t i = 0; i < cl->cfg.nremote; i++)
		if (config_add_remote(nc, &cl->cfg.remote[i]) != 0)
			return -1;
	for (size_t i = 0; i < cl->cfg.ndynamic; i++) {
		if (config_add_dynamic(nc, &cl->cfg.dynamic[i]) != 0)
			return -1;
		nc->last_forward = 'D';
		if (cl->cfg.dynamic_admit != NULL && cl->cfg.dynamic_admit[i] != NULL &&
		    config_set_admit(nc, cl->cfg.dynamic_admit[i]) != 0)
			return -1;
	}
	nc->last_forward = 0;
	return 0;
}

static const char *kind_key(const char *flag)
{
	return strcmp(flag, "-L") == 0	 ? "local_forward"
	       : strcmp(flag, "-R") == 0 ? "remote_forward"
					 : "dynamic_forward";
}

/* remove_match(nc, one): drop from ${nc} the forward ${one} holds (its only one). */
/* drop_admit(list, i, n): remove entry ${i} of an n-entry admit list (NULL: none kept). */
static void drop_admit(char **list, size_t i, size_t n)
{
	if (list == NULL)
		return;
	free(list[i]);
	memmove(&list[i], &list[i + 1], (n - i - 1) * sizeof(*list));
	list[n - 1] = NULL;
}

static int remove_match(struct config_client *nc, const struct config_client *one)
{
	char a[NAME_MAX_LEN], b[NAME_MAX_LEN];
	if (one->nremote == 1) {
		remote_name(&one->remote[0], b, sizeof(b));
		for (size_t i = 0; i < nc->nremote; i++)
			if (strcmp(remote_name(&nc->remote[i], a, sizeof(a)), b) == 0) {
				memmove(&nc->remote[i], &nc->remote[i + 1],
					(nc->nremote - i - 1) * sizeof(*nc->remote));
				nc->nremote--;
				return 0;
			}
		return -1;
	}
	entrance_name(one, 0, b, sizeof(b));
	for (size_t i = 0; i < nc->nlocal + nc->ndynamic; i++) {
		if (strcmp(entrance_name(nc, i, a, sizeof(a)), b) != 0)
			continue;
		if (i < nc->nlocal) {
			drop_admit(nc->local_admit, i, nc->nlocal);
			memmove(&nc->local[i], &nc->local[i + 1],
				(nc->nlocal - i - 1) * sizeof(*nc->local));
			nc->nlocal--;
		} else {
			size_t d = i - nc->nlocal;
			drop_admit(nc->dynamic_admit, d, nc->ndynamic);
			memmove(&nc->dynamic[d], &nc->dynamic[d + 1],
				(nc->ndynamic - d - 1) * sizeof(*nc->dynamic));
			nc->ndynamic--;
		}
		return 0;
	}
	return -1;
}

/*
 * ctl_forward(cl, req, o): `ctl forward|cancel -L|-R|-D SPEC`, parsed by the
 * settings table exactly as the flag is. Lasts until the next reload, which
 * goes back to the profile.
 */
static int ctl_forward(struct client *cl, const struct ctl_request *req, struct ctl_out *o)
{
	struct config_client nc, one;
	char why[CONFIG_ERR_MAX];
	const struct setting *st =
	    settings_find(SETTINGS_CLIENT, SETTINGS_IN_PROFILE, kind_key(req->args[0]));
	config_client_defaults(&one);
	if (cl->cfg.stdio.host[0] != 0) {
		ctl_printf(o, "a -W client has no forwards\n");
		return -1;
	}
	if (st == NULL || settings_apply(st, &one, req->args[1], "", why) != 0) {
		config_client_free(&one);
		ctl_printf(o, "%s %s\n", req->args[0], st == NULL ? "unknown" : why);
		return -1;
	}
	if (copy_forwards(cl, &nc) != 0) {
		config_client_free(&one);
		config_client_free(&nc);
		ctl_printf(o, "out of memory\n");
		return -1;
	}
	int rc = 0;
	char want[NAME_MAX_LEN] = "";
	if (one.nlocal + one.ndynamic == 1)
		entrance_name(&one, 0, want, sizeof(want));
	if (req->verb == CTL_CANCEL)
		rc = remove_match(&nc, &one);
	else if (one.nlocal == 1)
		rc = config_add_forward(&nc, &one.local[0]);
	else if (one.nremote == 1)
		rc = config_add_remote(&nc, &one.remote[0]);
	else if (one.ndynamic == 1)
		rc = config_add_dynamic(&nc, &one.dynamic[0]);
	config_client_free(&one);
	if (rc != 0) {
		config_client_free(&nc);
		ctl_printf(o, "%s\n",
			   req->verb == CTL_CANCEL ? "no such forward" : "too many forwards");
		return -1;
	}
	if (apply_forwards(cl, &nc) != 0) {
		ctl_printf(o, "failed (see the client's log)\n");
		return -1;
	}
	/* A new entrance that could not be bound is a failed request. */
	char a[NAME_MAX_LEN];
	for (size_t i = 0;
	     req->verb == CTL_FORWARD && want[0] != 0 && i < cl->cfg.nlocal + cl->cfg.ndynamic; i++)
		if (cl->forwards_open && cl->fwds[i] == NULL &&
		    strcmp(entrance_name(&cl->cfg, i, a, sizeof(a)), want) == 0) {
			ctl_printf(o, "%s %s: could not listen (see the client's log)\n",
				   req->args[0], req->args[1]);
			return -1;
		}
	ctl_printf(o, "%s %s %s\n", req->verb == CTL_CANCEL ? "cancelled" : "added", req->args[0],
		   req->args[1]);
	return 0;
}

static void ctl_client_status(struct client *cl, struct ctl_out *o, int json)
{
	struct session_stats st = {0};
	char a[NAME_MAX_LEN];
	/* During a reload's handover the old session is the one serving. */
	struct session *cur = current_session(cl);
	int up = cur != NULL && session_established(cur);
	if (up)
		session_get_stats(cur, &st);
	if (!json) {
		ctl_printf(o,
			   "server %s session %s channels %zu bytes out %llu in %llu reconnects %u "
			   "keepalive %u s\n",
			   cl->server_name, up ? "established" : "down", st.channels,
			   (unsigned long long)st.bytes_out, (unsigned long long)st.bytes_in,
			   cl->reconnects, cl->cfg.keepalive_s);
		for (size_t i = 0; i < cl->cfg.nlocal + cl->cfg.ndynamic; i++)
			ctl_printf(o, "forward %s %s\n", entrance_name(&cl->cfg, i, a, sizeof(a)),
				   i < cl->nfwds && cl->fwds[i] != NULL ? "listening" : "closed");
		for (size_t i = 0; i < cl->nremote; i++)
			if (!cl->remote[i].gone)
				ctl_printf(o, "forward %s port %u\n",
					   remote_name(&cl->remote[i].fw, a, sizeof(a)),
					   (unsigned)cl->remote[i].bound_port);
		return;
	}
	ctl_printf(o,
		   "{\"role\":\"client\",\"version\":1,\"server\":\"%s\",\"established\":%s,"
		   "\"channels\":%zu,\"bytes_out\":%llu,\"bytes_in\":%llu,\"reconnects\":%u,"
		   "\"keepalive\":%u,\"forwards\":[",
		   cl->server_name, up ? "true" : "false", st.channels,
		   (unsigned long long)st.bytes_out, (unsigned long long)st.bytes_in,
		   cl->reconnects, cl->cfg.keepalive_s);
	int n = 0;
	for (size_t i = 0; i < cl->cfg.nlocal + cl->cfg.ndynamic; i++)
		ctl_printf(o, "%s{\"spec\":\"%s\",\"listening\":%s}", n++ ? "," : "",
			   entrance_name(&cl->cfg, i, a, sizeof(a)),
			   i < cl->nfwds && cl->fwds[i] != NULL ? "true" : "false");
	for (size_t i = 0; i < cl->nremote; i++)
		if (!cl->remote[i].gone)
			ctl_printf(o, "%s{\"spec\":\"%s\",\"port\":%u}", n++ ? "," : "",
				   remote_name(&cl->remote[i].fw, a, sizeof(a)),
				   (unsigned)cl->remote[i].bound_port);
	ctl_printf(o, "]}\n");
}

static int on_ctl(void *arg, const struct ctl_request *req, struct ctl_out *o)
{
	struct client *cl = arg;
	struct session_stats st = {0};
	struct session *cur;
	switch (req->verb) {
	case CTL_STATUS:
		ctl_client_status(cl, o, req->json);
		return 0;
	case CTL_FORWARD:
	case CTL_CANCEL:
		return ctl_forward(cl, req, o);
	case CTL_RELOAD:
		if (reload(cl) == 0)
			return ctl_printf(o, "reloaded\n"), 0;
		ctl_printf(o, "reload failed; configuration unchanged\n");
		return -1;
	case CTL_METRICS:
		cur = current_session(cl);
		if (cur != NULL && session_established(cur))
			session_get_stats(cur, &st);
		ctl_printf(
		    o,
		    "# HELP postern_client_established 1 while the session is up.\n"
		    "# TYPE postern_client_established gauge\npostern_client_established %d\n"
		    "# HELP postern_channels Channels open now.\n"
		    "# TYPE postern_channels gauge\npostern_channels %zu\n"
		    "# HELP postern_client_reconnects_total Sessions lost and retried.\n"
		    "# TYPE postern_client_reconnects_total counter\n"
		    "postern_client_reconnects_total %u\n",
		    cur != NULL && session_established(cur), st.channels, cl->reconnects);
		return 0;
	case CTL_BANS:
	case CTL_UNBAN:
	case CTL_GRANTS:
		break;
	}
	ctl_printf(o, "bans and unban are for a server's control socket\n");
	return -1;
}

static int open_control(struct client *cl)
{
	char err[256];
	long gid = -1;
	if (cl->cfg.control[0] == 0)
		return 0;
	if (cl->cfg.control_group[0] != 0) {
		struct group *g = getgrnam(cl->cfg.control_group);
		if (g == NULL) {
			fprintf(stderr, "postern client: control_group %s: no such group\n",
				cl->cfg.control_group);
			return -1;
		}
		gid = (long)g->gr_gid;
	}
	struct ctl_config cc = {
	    .path = cl->cfg.control,
	    .gid = gid,
	    .max_clients = cl->cfg.control_max,
	    .max_request = cl->cfg.control_request_max,
	    .max_output = cl->cfg.control_output_max,
	    .timeout_ms = 5000,
	};
	cl->ctl = ctl_open(cl->loop, &cc, on_ctl, cl, err, sizeof(err));
	if (cl->ctl == NULL) {
		log_error("%s", err);
		return -1;
	}
	return 0;
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
	cl.argc = argc;
	cl.argv = argv;
	if (h != NULL && h->default_admit != NULL)
		config_set_admit(&cl.cfg, h->default_admit);
	if (configure(argc, argv, &cl.cfg, &lvl, h) != 0)
		goto out;
	/* -W shares the terminal with ssh: only problems, unless -v asks. */
	if (cl.cfg.stdio.host[0] != 0 && lvl == LOG_LVL_INFO)
		lvl = LOG_LVL_WARN;
	log_init("postern", lvl, cl.cfg.log_sink == CONFIG_LOG_SYSLOG);
	struct client_identity id;
	struct pass_source ps = {
	    .file = cl.cfg.passphrase_file[0] ? cl.cfg.passphrase_file : NULL,
	    .env = cl.cfg.passphrase_env[0] ? cl.cfg.passphrase_env : NULL,
	    .askpass = cl.cfg.askpass[0] ? cl.cfg.askpass : NULL,
	};
	pass_set_default(&ps);
	if (load_identity(&cl.cfg, &id, err) != 0) {
		fprintf(stderr, "postern client: %s\n", err);
		crypto_wipe(&id, sizeof(id));
		goto out;
	}
	memcpy(cl.psk, id.key, sizeof(cl.psk));
	memcpy(cl.server_pub, id.server_pub, sizeof(cl.server_pub));
	cl.ik = id.ik;
	crypto_wipe(&id, sizeof(id));
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
	uv_timer_init(cl.loop, &cl.relisten);
	cl.relisten.data = &cl;
	uv_timer_init(cl.loop, &cl.knock_wait);
	cl.knock_wait.data = &cl;
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
	if (open_control(&cl) != 0) {
		rc = EXIT_RUNTIME;
		stop(&cl, EXIT_RUNTIME);
	} else {
		try_connect(&cl);
	}
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
