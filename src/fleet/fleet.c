/* SPDX-License-Identifier: MIT */
#include "fleet/fleet.h"
#include "spa/packet.h"
#include "util/clock.h"
#include "util/hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/passphrase.h"

enum {
	BACKOFF_MIN_MS = 100,
	BACKOFF_MAX_MS = 2000,
	KEY_MAX = CONFIG_NAME_MAX + 80,
	EVENT_MAX = 512,
	RESYNC_MAX = 4096, /* bans, and grants, taken from Redis at a (re)connect */
};

/* What a reply is for. */
enum op_kind { OP_FIRE = 0, OP_CLAIM, OP_INCR, OP_HELLO, OP_AUTH, OP_RESYNC };

struct fleet_op {
	struct fleet *f;
	int kind;
	fleet_claim_cb cb; /* OP_CLAIM: NULL once fired or cancelled */
	void *arg;
	uint64_t deadline; /* loop ms */
	struct fleet_op *prev, *next;
	unsigned threshold; /* OP_INCR */
	uint64_t ban_until;
	uint8_t src[FLEET_SRC_MAX];
	size_t srclen;
};

/* One Redis connection: commands, or the subscription to the events channel. */
struct link {
	struct fleet *f;
	redisAsyncContext *ac; /* NULL while disconnected */
	int sub;
	int ready;	     /* answered (PING or SUBSCRIBE): usable */
	unsigned backoff_ms; /* the next reconnect's delay */
	uv_timer_t timer;    /* connect deadline, or the reconnect */
};

struct fleet {
	uv_loop_t *loop;
	struct config_fleet cfg;
	char name[CONFIG_NAME_MAX + 1];
	char password[PASS_MAX];
	uint8_t key[CRYPTO_KEY_LEN]; /* key_file: fingerprints are HMACs under it */
	char host[64];
	int port, db, is_unix;
	char channel[KEY_MAX];
	struct fleet_hooks hooks;
	struct link cmd, sub;
	uv_timer_t op_timer;	      /* the oldest command's deadline */
	struct fleet_op *head, *tail; /* commands in flight, oldest first */
	unsigned pending;
	int up, was_up, logged_down, freeing, closing;
	struct fleet_stats st;
};

static void link_connect(struct link *l);
static void link_drop(struct link *l, const char *why);

/* The fleet is up when both links answer; say so once per change. */
static void update_state(struct fleet *f, const char *why)
{
	int up = f->cmd.ready && f->sub.ready;
	if (up != f->up) {
		f->up = up;
		f->st.since_ms = clock_wall_ms();
		if (up) {
			log_info("fleet up redis=%s name=%s", log_q(f->cfg.redis), log_q(f->name));
			f->logged_down = 0;
			return;
		}
	}
	/* Also when it never came up: a gateway started while Redis is away says so. */
	if (!up && why[0] && !f->logged_down && !f->freeing) {
		log_warn("fleet degraded: serving from local state reason=%s fail_closed=%s",
			 log_q(why), f->cfg.fail_closed ? "yes" : "no");
		f->logged_down = 1;
	}
}

/* --- commands in flight and their deadlines --- */

static void on_op_timer(uv_timer_t *t);

static void ops_unlink(struct fleet *f, struct fleet_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		f->head = op->next;
	if (op->next)
		op->next->prev = op->prev;
	else
		f->tail = op->prev;
	op->prev = op->next = NULL;
}

static void arm_op_timer(struct fleet *f)
{
	if (f->head == NULL || f->closing) {
		uv_timer_stop(&f->op_timer);
		return;
	}
	uint64_t now = uv_now(f->loop);
	uv_timer_start(&f->op_timer, on_op_timer,
		       f->head->deadline > now ? f->head->deadline - now : 0, 0);
}

/* A command outlived timeout_ms: the link is not trusted any more. Dropping
 * it answers every command in flight with "down" (hiredis calls them all). */
static void on_op_timer(uv_timer_t *t)
{
	struct fleet *f = t->data;
	if (f->head != NULL && f->head->deadline <= uv_now(f->loop)) {
		f->st.timeouts++;
		link_drop(&f->cmd, "Redis did not answer within timeout");
		return;
	}
	arm_op_timer(f);
}

static struct fleet_op *op_new(struct fleet *f, int kind)
{
	struct fleet_op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NULL;
	op->f = f;
	op->kind = kind;
	op->deadline = uv_now(f->loop) + f->cfg.timeout_ms;
	op->prev = f->tail;
	if (f->tail)
		f->tail->next = op;
	else
		f->head = op;
	f->tail = op;
	f->pending++;
	if (f->head == op)
		arm_op_timer(f);
	return op;
}

static void on_event_msg(struct fleet *f, const char *msg, size_t len, int resync);

static void op_answer_claim(struct fleet *f, struct fleet_op *op, const redisReply *r)
{
	enum fleet_verdict v = FLEET_DOWN;
	if (r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		v = FLEET_FIRST;
	else if (r != NULL && r->type == REDIS_REPLY_NIL)
		v = FLEET_SEEN;
	if (v == FLEET_SEEN)
		f->st.seen++;
	else if (v == FLEET_DOWN)
		f->st.down++;
	fleet_claim_cb cb = op->cb;
	op->cb = NULL;
	if (cb != NULL && !f->freeing)
		cb(op->arg, v);
}

static void op_answer_incr(struct fleet *f, struct fleet_op *op, const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || op->threshold == 0 ||
	    r->integer != (long long)op->threshold)
		return;
	/* Exactly one failure makes the count equal the threshold: its gateway bans. */
	fleet_publish_ban(f, op->src, op->srclen, op->ban_until);
	if (f->hooks.ban)
		f->hooks.ban(f->hooks.arg, op->src, op->srclen, op->ban_until, f->name);
}

static void op_answer_resync(struct fleet *f, const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		if (e != NULL && e->type == REDIS_REPLY_STRING)
			on_event_msg(f, e->str, e->len, 1);
	}
}

static void resync(struct fleet *f);

/* While degraded (say a wrong password, every reconnect) one line said it already. */
static void redis_error(const struct fleet *f, const char *msg)
{
	if (f->up)
		log_warn("Redis error error=%s", log_q(msg));
	else
		log_debug("Redis error error=%s", log_q(msg));
}

/* Every command's reply, or NULL when the link went down first. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct fleet_op *op = privdata;
	struct fleet *f = op->f;
	const redisReply *r = reply;
	(void)ac;
	ops_unlink(f, op);
	f->pending--;
	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		redis_error(f, r->str);
	switch (op->kind) {
	case OP_CLAIM:
		op_answer_claim(f, op, r);
		break;
	case OP_INCR:
		if (!f->freeing)
			op_answer_incr(f, op, r);
		break;
	case OP_AUTH:
		if (r != NULL && r->type == REDIS_REPLY_ERROR && !f->freeing)
			link_drop(&f->cmd, "AUTH refused");
		break;
	case OP_HELLO:
		if (r != NULL && r->type == REDIS_REPLY_STATUS && !f->freeing && f->cmd.ac) {
			f->cmd.ready = 1;
			f->cmd.backoff_ms = BACKOFF_MIN_MS;
			uv_timer_stop(&f->cmd.timer);
			update_state(f, "");
			resync(f);
		}
		break;
	case OP_RESYNC:
		if (!f->freeing)
			op_answer_resync(f, r);
		break;
	default:
		break;
	}
	free(op);
	if (!f->freeing)
		arm_op_timer(f);
}

/* Send a command; 0, or -1 (not sent: the caller judges as down). */
static int command(struct fleet *f, struct fleet_op *op, const char *fmt, ...)
{
	if (op == NULL)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAsyncCommand(f->cmd.ac, on_reply, op, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		ops_unlink(f, op);
		f->pending--;
		free(op);
		return -1;
	}
	return 0;
}

static int usable(const struct fleet *f)
{
	return f != NULL && f->cmd.ready && f->cmd.ac != NULL && f->pending < f->cfg.max_pending;
}

/* Other gateways' bans and grants that were published while this one was away. */
static void resync(struct fleet *f)
{
	if (!usable(f))
		return;
	char key[KEY_MAX];
	unsigned long long now = (unsigned long long)clock_wall_ms();
	const char *sets[] = {"bans", "grants"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(key, sizeof(key), "%s%s", f->cfg.prefix, sets[i]);
		command(f, op_new(f, OP_FIRE), "ZREMRANGEBYSCORE %s -inf %llu", key, now);
		/* Bounded: whoever writes to the Redis must not make us allocate at will. */
		command(f, op_new(f, OP_RESYNC), "ZRANGEBYSCORE %s %llu +inf LIMIT 0 %d", key, now,
			RESYNC_MAX);
	}
}

/* --- the events channel --- */

static void on_event_msg(struct fleet *f, const char *msg, size_t len, int resync_)
{
	struct fleet_event ev;
	if (fleet_event_parse(msg, len, &ev) != 0) {
		f->st.bad_events++;
		return;
	}
	/* Our own events come back too; a stale one (resync race) means nothing. */
	if (strcmp(ev.origin, f->name) == 0 || ev.until_ms <= clock_wall_ms())
		return;
	(void)resync_;
	if (ev.kind == FLEET_EV_BAN && f->hooks.ban) {
		f->st.bans_in++;
		f->hooks.ban(f->hooks.arg, ev.src, ev.srclen, ev.until_ms, ev.origin);
	} else if (ev.kind == FLEET_EV_GRANT && f->hooks.grant) {
		f->st.grants_in++;
		f->hooks.grant(f->hooks.arg, &ev.grant);
	}
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct fleet *f = privdata;
	const redisReply *r = reply;
	(void)ac;
	if (r == NULL || f->freeing)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		redis_error(f, r->str);
		link_drop(&f->sub, "SUBSCRIBE refused");
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	const char *what = r->element[0]->str;
	if (strcmp(what, "subscribe") == 0) {
		f->sub.ready = 1;
		f->sub.backoff_ms = BACKOFF_MIN_MS;
		uv_timer_stop(&f->sub.timer);
		update_state(f, "");
		resync(f);
	} else if (strcmp(what, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
		on_event_msg(f, r->element[2]->str, r->element[2]->len, 0);
	}
}

/* --- connections --- */

static void on_link_timer(uv_timer_t *t)
{
	struct link *l = t->data;
	if (l->ac != NULL && !l->ready)
		link_drop(l, "Redis connect timed out");
	else if (l->ac == NULL)
		link_connect(l);
}

static void schedule_reconnect(struct link *l)
{
	struct fleet *f = l->f;
	if (f->freeing)
		return;
	uv_timer_start(&l->timer, on_link_timer, l->backoff_ms, 0);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* The context is going (hiredis frees it): forget it, try again later. */
static void link_lost(struct link *l, const redisAsyncContext *ac, const char *why)
{
	if (l->ac != ac)
		return;
	l->ac = NULL;
	l->ready = 0;
	update_state(l->f, why);
	schedule_reconnect(l);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct link *l = ac->data;
	if (status != REDIS_OK)
		link_lost(l, ac, ac->errstr[0] ? ac->errstr : "Redis connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct link *l = ac->data;
	(void)status;
	link_lost(l, ac, ac->errstr[0] ? ac->errstr : "Redis closed the connection");
}

static void link_drop(struct link *l, const char *why)
{
	redisAsyncContext *ac = l->ac;
	if (ac == NULL)
		return;
	l->ac = NULL;
	l->ready = 0;
	update_state(l->f, why);
	schedule_reconnect(l);
	/* hiredis answers every command in flight with NULL, from inside this call
	 * (or right after the callback it is called from). */
	redisAsyncFree(ac);
}

static void link_connect(struct link *l)
{
	struct fleet *f = l->f;
	redisAsyncContext *ac =
	    f->is_unix ? redisAsyncConnectUnix(f->host) : redisAsyncConnect(f->host, f->port);
	if (ac == NULL || ac->err) {
		if (ac)
			redisAsyncFree(ac);
		update_state(f, "Redis connect failed");
		schedule_reconnect(l);
		return;
	}
	ac->data = l;
	if (redisLibuvAttach(ac, f->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		schedule_reconnect(l);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	l->ac = ac;
	l->ready = 0;
	uv_timer_start(&l->timer, on_link_timer, f->cfg.timeout_ms * 2u + 100u, 0);
	if (l->sub) {
		if (f->password[0])
			redisAsyncCommand(ac, NULL, NULL, "AUTH %s", f->password);
		redisAsyncCommand(ac, on_sub_reply, f, "SUBSCRIBE %s", f->channel);
		return;
	}
	if (f->password[0])
		command(f, op_new(f, OP_AUTH), "AUTH %s", f->password);
	if (f->db != 0)
		command(f, op_new(f, OP_FIRE), "SELECT %d", f->db);
	command(f, op_new(f, OP_HELLO), "PING");
}

/* --- setup --- */

static int parse_url(struct fleet *f, const char *url, char *err)
{
	char q[64 + 4];

	if (strncmp(url, "unix:", 5) == 0) {
		if (strlen(url + 5) >= sizeof(f->host))
			return snprintf(err, CONFIG_ERR_MAX, "[fleet] redis: path too long"), -1;
		snprintf(f->host, sizeof(f->host), "%s", url + 5);
		f->is_unix = 1;
		return 0;
	}
	const char *p = url + 8, *end;
	char host[64];
	unsigned port = 6379, db = 0;
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL)
			goto bad;
		p++;
	} else {
		end = p + strcspn(p, ":/");
	}
	if ((size_t)(end - p) >= sizeof(host) || end == p)
		goto bad;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	p = *end == ']' ? end + 1 : end;
	if (*p == ':') {
		char *e;
		unsigned long v = strtoul(p + 1, &e, 10);
		if (e == p + 1 || v == 0 || v > 65535)
			goto bad;
		port = (unsigned)v;
		p = e;
	}
	if (*p == '/' && p[1] != '\0') {
		char *e;
		unsigned long v = strtoul(p + 1, &e, 10);
		if (*e != '\0' || v > 1000)
			goto bad;
		db = (unsigned)v;
	} else if (*p != '\0' && strcmp(p, "/") != 0) {
		goto bad;
	}
	uint8_t tmp[16];
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	/* A name would be resolved by a blocking call on the loop. */
	if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
		return snprintf(
			   err, CONFIG_ERR_MAX,
			   "[fleet] redis: '%s' is not an IP address (names are not looked up)",
			   host),
		       -1;
	snprintf(f->host, sizeof(f->host), "%s", host);
	f->port = (int)port;
	f->db = (int)db;
	return 0;
bad:
	snprintf(err, CONFIG_ERR_MAX, "[fleet] redis '%s': expected redis://IP:PORT/DB",
		 config_quote(q, 64, url));
	return -1;
}

static int read_password(struct fleet *f, char *err)
{
	char why[PASS_ERR_MAX];
	struct pass_source src = {.file = f->cfg.password_file};

	if (f->cfg.password_file[0] == '\0')
		return 0;
	/* The first line, as for a key's passphrase file. */
	if (pass_get(&src, NULL, 0, f->password, why) != 0)
		return snprintf(err, CONFIG_ERR_MAX, "[fleet] password_file: %s", why), -1;
	return 0;
}

static int read_key(struct fleet *f, char *err)
{
	char why[CONFIG_ERR_MAX];

	if (f->cfg.key_file[0] == '\0')
		return snprintf(err, CONFIG_ERR_MAX, "[fleet] key_file: required with redis"), -1;
	if (keys_load(f->cfg.key_file, f->key, why) != 0)
		return snprintf(err, CONFIG_ERR_MAX, "[fleet] key_file: %s", why), -1;
	return 0;
}

int fleet_new(uv_loop_t *loop, const struct config_fleet *cfg, const struct fleet_hooks *hooks,
	      struct fleet **out, char *err)
{
	struct fleet *f = calloc(1, sizeof(*f));
	*out = NULL;
	if (f == NULL)
		return snprintf(err, CONFIG_ERR_MAX, "out of memory"), -1;
	f->loop = loop;
	f->cfg = *cfg;
	f->hooks = *hooks;
	if (parse_url(f, cfg->redis, err) != 0 || read_password(f, err) != 0 ||
	    read_key(f, err) != 0) {
		crypto_wipe(f->password, sizeof(f->password));
		crypto_wipe(f->key, sizeof(f->key));
		free(f);
		return -1;
	}
	if (cfg->name[0])
		snprintf(f->name, sizeof(f->name), "%s", cfg->name);
	else if (gethostname(f->name, sizeof(f->name) - 1) != 0 || f->name[0] == '\0')
		snprintf(f->name, sizeof(f->name), "postern");
	f->name[strcspn(f->name, " \t\r\n")] = '\0';
	snprintf(f->channel, sizeof(f->channel), "%sevents", cfg->prefix);
	f->st.since_ms = clock_wall_ms();
	uv_timer_init(loop, &f->op_timer);
	f->op_timer.data = f;
	struct link *links[2] = {&f->cmd, &f->sub};
	for (int i = 0; i < 2; i++) {
		links[i]->f = f;
		links[i]->sub = i;
		links[i]->backoff_ms = BACKOFF_MIN_MS;
		uv_timer_init(loop, &links[i]->timer);
		links[i]->timer.data = links[i];
	}
	link_connect(&f->cmd);
	link_connect(&f->sub);
	*out = f;
	return 0;
}

const char *fleet_name(const struct fleet *f)
{
	return f ? f->name : "";
}

int fleet_fail_closed(const struct fleet *f)
{
	return f != NULL && f->cfg.fail_closed;
}

enum fleet_verdict fleet_claim(struct fleet *f, const char *label, const uint8_t *id, size_t len,
			       uint64_t ttl_ms, fleet_claim_cb cb, void *arg, struct fleet_op **op)
{
	uint8_t h[32];
	char hx[65], key[KEY_MAX];
	*op = NULL;
	f->st.claims++;
	if (!usable(f)) {
		f->st.down++;
		return FLEET_DOWN;
	}
	/* Keyed: without the fleet key, Redis holds nothing it could match to traffic. */
	uint8_t msg[16 + 64];
	size_t ll = strlen(label);
	if (ll > 16 || len > 64)
		return FLEET_DOWN;
	memcpy(msg, label, ll);
	memcpy(msg + ll, id, len);
	crypto_hmac(CRYPTO_SHA256, h, f->key, sizeof(f->key), msg, ll + len);
	hex_encode(h, sizeof(h), hx);
	snprintf(key, sizeof(key), "%sr:%s", f->cfg.prefix, hx);
	struct fleet_op *o = op_new(f, OP_CLAIM);
	if (o == NULL) {
		f->st.down++;
		return FLEET_DOWN;
	}
	o->cb = cb;
	o->arg = arg;
	if (command(f, o, "SET %s 1 NX PX %llu", key, (unsigned long long)(ttl_ms ? ttl_ms : 1)) !=
	    0) {
		f->st.down++;
		return FLEET_DOWN;
	}
	*op = o;
	return FLEET_PENDING;
}

void fleet_cancel(struct fleet_op *op)
{
	if (op != NULL)
		op->cb = NULL;
}

void fleet_fail(struct fleet *f, const uint8_t *src, size_t len, unsigned threshold,
		uint64_t window_ms, uint64_t ban_until_ms)
{
	char hx[2 * FLEET_SRC_MAX + 1], key[KEY_MAX];
	if (!usable(f) || len > FLEET_SRC_MAX || threshold == 0)
		return;
	hex_encode(src, len, hx);
	snprintf(key, sizeof(key), "%sf:%s", f->cfg.prefix, hx);
	/* The count's window starts at the first failure, as abuse.c's does. */
	command(f, op_new(f, OP_FIRE), "SET %s 0 NX PX %llu", key,
		(unsigned long long)(window_ms ? window_ms : 1));
	struct fleet_op *op = op_new(f, OP_INCR);
	if (op == NULL)
		return;
	op->threshold = threshold;
	op->ban_until = ban_until_ms;
	memcpy(op->src, src, len);
	op->srclen = len;
	command(f, op, "INCR %s", key);
}

/* PUBLISH the event and keep it in a sorted set (score: its end) for resync. */
static void publish(struct fleet *f, const struct fleet_event *ev, const char *set)
{
	char msg[EVENT_MAX], key[KEY_MAX];
	int n = fleet_event_format(ev, msg, sizeof(msg));
	if (n < 0 || !usable(f))
		return;
	snprintf(key, sizeof(key), "%s%s", f->cfg.prefix, set);
	command(f, op_new(f, OP_FIRE), "PUBLISH %s %b", f->channel, msg, (size_t)n);
	command(f, op_new(f, OP_FIRE), "ZADD %s %llu %b", key, (unsigned long long)ev->until_ms,
		msg, (size_t)n);
	command(f, op_new(f, OP_FIRE), "ZREMRANGEBYSCORE %s -inf %llu", key,
		(unsigned long long)clock_wall_ms());
}

void fleet_publish_ban(struct fleet *f, const uint8_t *src, size_t len, uint64_t until_ms)
{
	struct fleet_event ev = {.kind = FLEET_EV_BAN, .until_ms = until_ms, .srclen = len};
	if (f == NULL || (len != 4 && len != 8))
		return;
	snprintf(ev.origin, sizeof(ev.origin), "%s", f->name);
	memcpy(ev.src, src, len);
	f->st.bans_out++;
	publish(f, &ev, "bans");
}

void fleet_publish_grant(struct fleet *f, const struct spa_grant *g)
{
	/* Every grant comes through here, fleet or not: return before filling an event. */
	if (f == NULL)
		return;
	struct fleet_event ev = {.kind = FLEET_EV_GRANT, .until_ms = g->expires_ms};
	snprintf(ev.origin, sizeof(ev.origin), "%s", f->name);
	ev.grant = *g;
	f->st.grants_out++;
	publish(f, &ev, "grants");
}

void fleet_get_stats(const struct fleet *f, struct fleet_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (f == NULL)
		return;
	*st = f->st;
	st->up = f->up;
	st->pending = f->pending;
}

/* --- events: "ban ORIGIN UNTIL SRCHEX", "grant ORIGIN UNTIL IDENTITY PROTO PORT SRC [FWD FWDPORT
 * MASQ]" --- */

enum { TOK_MAX = 11 };

static int split(const char *msg, size_t len, char tok[TOK_MAX][CONFIG_NAME_MAX + 2], size_t *n)
{
	size_t i = 0, k = 0, t = 0;
	*n = 0;
	if (len == 0 || len >= EVENT_MAX)
		return -1;
	for (i = 0; i <= len; i++) {
		char c = i < len ? msg[i] : ' ';
		if (c == ' ') {
			if (k == 0 || t >= TOK_MAX)
				return -1;
			tok[t][k] = '\0';
			t++;
			k = 0;
			continue;
		}
		if (c <= ' ' || c >= 127 || k > CONFIG_NAME_MAX)
			return -1;
		if (t >= TOK_MAX)
			return -1;
		tok[t][k++] = c;
	}
	*n = t;
	return 0;
}

static int num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0' || strlen(s) > 20)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* An abuse source in an event: 4 or 8 bytes. */
static int unhex(const char *s, uint8_t *out, size_t *len)
{
	size_t n = strlen(s);
	return (n == 8 || n == 16) ? hex_decode(s, n, out, FLEET_SRC_MAX, len) : -1;
}

static int parse_grant(char tok[TOK_MAX][CONFIG_NAME_MAX + 2], size_t n, struct fleet_event *ev)
{
	struct spa_grant *g = &ev->grant;
	uint64_t v;
	if (n != 7 && n != 10)
		return -1;
	if (strlen(tok[3]) > SPA_NAME_MAX)
		return -1;
	snprintf(g->identity, sizeof(g->identity), "%s", tok[3]);
	if (strcmp(tok[4], "tcp") == 0)
		g->proto = SPA_PROTO_TCP;
	else if (strcmp(tok[4], "udp") == 0)
		g->proto = SPA_PROTO_UDP;
	else
		return -1;
	if (num(tok[5], 65535, &v) != 0 || v == 0)
		return -1;
	g->port = (uint16_t)v;
	if (spa_addr_parse(tok[6], &g->src) != 0)
		return -1;
	if (n == 10) {
		g->has_forward = 1;
		if (spa_addr_parse(tok[7], &g->forward_addr) != 0 || num(tok[8], 65535, &v) != 0 ||
		    v == 0)
			return -1;
		g->forward_port = (uint16_t)v;
		if (strcmp(tok[9], "0") != 0 && strcmp(tok[9], "1") != 0)
			return -1;
		g->masquerade = tok[9][0] == '1';
	}
	g->expires_ms = ev->until_ms;
	snprintf(g->origin, sizeof(g->origin), "%s", ev->origin);
	return 0;
}

int fleet_event_parse(const char *msg, size_t len, struct fleet_event *ev)
{
	char tok[TOK_MAX][CONFIG_NAME_MAX + 2];
	size_t n;
	memset(ev, 0, sizeof(*ev));
	if (msg == NULL || split(msg, len, tok, &n) != 0 || n < 4)
		return -1;
	if (strlen(tok[1]) > CONFIG_NAME_MAX || num(tok[2], UINT64_MAX / 2, &ev->until_ms) != 0)
		return -1;
	snprintf(ev->origin, sizeof(ev->origin), "%s", tok[1]);
	if (strcmp(tok[0], "ban") == 0) {
		ev->kind = FLEET_EV_BAN;
		return n == 4 ? unhex(tok[3], ev->src, &ev->srclen) : -1;
	}
	if (strcmp(tok[0], "grant") == 0) {
		ev->kind = FLEET_EV_GRANT;
		return parse_grant(tok, n, ev);
	}
	return -1;
}

int fleet_event_format(const struct fleet_event *ev, char *buf, size_t len)
{
	int n;
	if (ev->kind == FLEET_EV_BAN) {
		char hx[2 * FLEET_SRC_MAX + 1];
		if (ev->srclen != 4 && ev->srclen != 8)
			return -1;
		hex_encode(ev->src, ev->srclen, hx);
		n = snprintf(buf, len, "ban %s %llu %s", ev->origin,
			     (unsigned long long)ev->until_ms, hx);
	} else if (ev->kind == FLEET_EV_GRANT) {
		const struct spa_grant *g = &ev->grant;
		char src[INET6_ADDRSTRLEN], fwd[INET6_ADDRSTRLEN + 16] = "";
		if (inet_ntop(g->src.family, g->src.addr, src, sizeof(src)) == NULL)
			return -1;
		if (g->has_forward) {
			char fa[INET6_ADDRSTRLEN];
			if (inet_ntop(g->forward_addr.family, g->forward_addr.addr, fa,
				      sizeof(fa)) == NULL)
				return -1;
			snprintf(fwd, sizeof(fwd), " %s %u %d", fa, g->forward_port,
				 g->masquerade ? 1 : 0);
		}
		if (g->identity[0] == '\0' || strchr(g->identity, ' ') != NULL)
			return -1;
		n = snprintf(buf, len, "grant %s %llu %s %s %u %s%s", ev->origin,
			     (unsigned long long)ev->until_ms, g->identity,
			     g->proto == SPA_PROTO_UDP ? "udp" : "tcp", g->port, src, fwd);
	} else {
		return -1;
	}
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* --- teardown --- */

static void on_closed(uv_handle_t *h)
{
	struct fleet *f = h->data;
	if (--f->closing == 0) {
		crypto_wipe(f->key, sizeof(f->key));
		crypto_wipe(f->password, sizeof(f->password));
		free(f);
	}
}

void fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	f->freeing = 1;
	struct link *links[2] = {&f->cmd, &f->sub};
	for (int i = 0; i < 2; i++) {
		redisAsyncContext *ac = links[i]->ac;
		links[i]->ac = NULL;
		links[i]->ready = 0;
		if (ac)
			redisAsyncFree(ac);
	}
	f->closing = 3;
	f->op_timer.data = f;
	f->cmd.timer.data = f;
	f->sub.timer.data = f;
	uv_close((uv_handle_t *)&f->op_timer, on_closed);
	uv_close((uv_handle_t *)&f->cmd.timer, on_closed);
	uv_close((uv_handle_t *)&f->sub.timer, on_closed);
}
