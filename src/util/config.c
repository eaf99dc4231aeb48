/* SPDX-License-Identifier: MIT */
/*
 * Parsing strategy. inih splits "name = value" lines, but as built by
 * default (and by Debian) it does not pass line numbers to the handler,
 * joins indented lines onto the previous value, never reports sections that
 * hold no settings, ignores text after a section's ']', and reads lines
 * longer than its buffer as several lines. So we feed inih through our
 * own line reader (ini_parse_stream), which:
 *   - counts lines, so the handler knows where it is (inih counts the same
 *     way, one reader call per line, so its error line numbers agree);
 *   - strips leading blanks (no continuation lines) and comments (';' or '#'
 *     at the start of a line or after a blank);
 *   - parses [section] lines itself, strictly, and hands inih a blank line;
 *   - refuses NUL bytes and lines too long for inih's buffer;
 *   - stops the parse at the first error, so only the first is reported.
 */
#include "util/config.h"
#include "util/busypoll.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/keys.h"

enum {
	CONFIG_FILE_MAX = 1 << 20, /* a config file is small; bigger is a mistake */
	CONFIG_LIST_MAX = 4096,	   /* entries per list (listen, keys, permits, forwards) */
	SEEN_MAX = 16,		   /* distinct single-valued settings in one section */
	QUOTE_MAX = 64,		   /* longest value quoted in a message */
	ECHO_NAME_MAX = 32,	   /* longest unknown setting name we repeat back */
};

enum kind { KIND_SERVER, KIND_CLIENT };
enum section { SEC_NONE, SEC_SERVER, SEC_KEY, SEC_PROFILE };

/* An unsigned setting: its name in the file, where it goes, and its range. */
struct uint_setting {
	const char *name;
	size_t offset;
	unsigned min, max;
	unsigned scale; /* 1000 when the file says seconds and the struct keeps ms */
	const char *unit;
};

static const struct uint_setting server_uints[] = {
    {"preauth_timeout", offsetof(struct config_server, preauth_timeout_ms), 1, 3600, 1000,
     " seconds"},
    {"replay_window", offsetof(struct config_server, replay_window_s), 1, 3600, 1, " seconds"},
    {"ban_threshold", offsetof(struct config_server, ban_threshold), 1, 1000000, 1, " failures"},
    {"ban_window", offsetof(struct config_server, ban_window_s), 1, 86400, 1, " seconds"},
    {"ban_time", offsetof(struct config_server, ban_time_s), 1, 86400, 1, " seconds"},
    {"max_unauth", offsetof(struct config_server, max_unauth), 1, 1000000, 1, ""},
    {"max_unauth_per_source", offsetof(struct config_server, max_unauth_per_source), 1, 1000000, 1,
     ""},
    {"max_sessions", offsetof(struct config_server, max_sessions), 1, 1000000, 1, ""},
    {"keepalive", offsetof(struct config_server, keepalive_s), 0, 3600, 1, " seconds"},
    {"rekey_records", offsetof(struct config_server, rekey_records), 1, 1u << 30, 1, " records"},
    {"busy_poll", offsetof(struct config_server, busy_poll_us), 0, BUSYPOLL_MAX_US, 1,
     " microseconds"},
    {"replay_cache", offsetof(struct config_server, replay_cache), 1024, 16777216, 1, " entries"},
    {"replay_quota", offsetof(struct config_server, replay_quota), 16, 16777216, 1, " entries"},
};

static const struct uint_setting client_uints[] = {
    {"keepalive", offsetof(struct config_client, keepalive_s), 0, 3600, 1, " seconds"},
    {"reconnect_max", offsetof(struct config_client, reconnect_max_s), 1, 3600, 1, " seconds"},
    {"connect_timeout", offsetof(struct config_client, connect_timeout_ms), 1, 3600, 1000,
     " seconds"},
    {"rekey_records", offsetof(struct config_client, rekey_records), 1, 1u << 30, 1, " records"},
    {"busy_poll", offsetof(struct config_client, busy_poll_us), 0, BUSYPOLL_MAX_US, 1,
     " microseconds"},
};

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

enum { REJECT_DELAY_MAX = 60 }; /* seconds; longer only ties up our own slots */

struct seen {
	const char *name; /* a string literal from this file */
	int line;
};

struct profile_name {
	char name[CONFIG_NAME_MAX + 1];
	int line;
};

struct parser {
	enum kind kind;
	const char *name; /* the file, for messages */
	char dir[CONFIG_PATH_MAX + 1];
	const char *text;
	size_t len, pos;
	int line;
	int err_line; /* first error's line, 0 if none or not tied to a line */
	int failed;
	char err[CONFIG_ERR_MAX];
	enum section sec;
	int server_line; /* where [server] was, to refuse a second one */
	struct seen seen[SEEN_MAX];
	size_t nseen;
	struct config_server *srv;
	size_t key; /* index of the current [key] in srv->keys */
	struct config_client *cli;
	struct config_client *cur; /* cli, or scratch for profiles not asked for */
	struct config_client scratch;
	const char *want;
	int found;
	struct profile_name *profiles;
	size_t nprofiles;
};

static void fail_line(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error, prefixed "FILE:LINE: ", and stop reading. */
static void fail_line(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	n = snprintf(p->err, sizeof(p->err), "%s:%d: ", p->name, p->line);
	if (n >= 0 && (size_t)n < sizeof(p->err)) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	p->err_line = p->line;
	p->failed = 1;
}

static int set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, CONFIG_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* A value fit for a one-line message: control bytes become '?', long ones are cut. */
static const char *quote(char out[QUOTE_MAX + 4], const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/*
 * Arrays grow to the next power of two, so the count alone tells when to
 * reallocate and the structs need no capacity field.
 */
static int grow(void **arr, size_t n, size_t elem)
{
	size_t cap;
	void *p;

	if (n >= CONFIG_LIST_MAX)
		return -1;
	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	cap = n ? 2 * n : 1;
	p = realloc(*arr, cap * elem);
	if (!p)
		return -1;
	*arr = p;
	return 0;
}

static int valid_name(const char *s, const char *what, char *err)
{
	size_t len = strlen(s), i;

	if (len == 0)
		return set_err(err, "[%s] needs a name: [%s NAME]", what, what);
	if (len > CONFIG_NAME_MAX)
		return set_err(err, "%s name longer than %d characters", what, CONFIG_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-')
			continue;
		if (c >= 0x20 && c < 0x7f)
			return set_err(err, "bad %s name: '%c' not allowed (use A-Z a-z 0-9 _ . -)",
				       what, c);
		return set_err(err, "bad %s name: byte 0x%02x not allowed (use A-Z a-z 0-9 _ . -)",
			       what, c);
	}
	return 0;
}

void config_server_defaults(struct config_server *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->preauth_timeout_ms = 10000;
	c->reject_delay_min_ms = 1000;
	c->reject_delay_max_ms = 3000;
	c->replay_window_s = 120;
	c->ban_threshold = 5;
	c->ban_window_s = 60;
	c->ban_time_s = 600;
	c->max_unauth = 64;
	c->max_unauth_per_source = 8;
	c->max_sessions = 1024;
	c->keepalive_s = 25;
	c->gateway_ports = CONFIG_GW_NO;
	c->rekey_records = 1u << 20;
	c->busy_poll_us = BUSYPOLL_DEFAULT_US;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", CONFIG_STATE_DIR_DEFAULT);
	c->replay_cache = 262144;
	c->replay_quota = 16384;
}

void config_client_defaults(struct config_client *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->cipher = -1;
	c->keepalive_s = 25;
	c->reconnect_max_s = 30;
	c->connect_timeout_ms = 10000;
	c->exit_on_forward_failure = 1;
	c->rekey_records = 1u << 20;
	c->busy_poll_us = BUSYPOLL_DEFAULT_US;
}

void config_server_free(struct config_server *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nkeys; i++) {
		crypto_wipe(c->keys[i].psk, sizeof(c->keys[i].psk));
		free(c->keys[i].permit);
		free(c->keys[i].permit_listen);
	}
	free(c->keys);
	free(c->listen);
	c->keys = NULL;
	c->nkeys = 0;
	c->listen = NULL;
	c->nlisten = 0;
}

void config_client_free(struct config_client *c)
{
	if (!c)
		return;
	free(c->local);
	c->local = NULL;
	c->nlocal = 0;
	free(c->remote);
	c->remote = NULL;
	c->nremote = 0;
	free(c->dynamic);
	c->dynamic = NULL;
	c->ndynamic = 0;
}

int config_cipher_parse(const char *s)
{
	if (!s)
		return -2;
	if (strcasecmp(s, "auto") == 0)
		return -1;
	if (strcasecmp(s, "chacha20-poly1305") == 0)
		return CRYPTO_CHACHAPOLY;
	if (strcasecmp(s, "aes-256-gcm") == 0)
		return CRYPTO_AESGCM;
	return -2;
}

struct config_key *config_add_key(struct config_server *c, const char *name)
{
	struct config_key *k;
	size_t i;

	if (!c || !name || valid_name(name, "key", NULL) < 0)
		return NULL;
	for (i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return NULL;
	if (grow((void **)&c->keys, c->nkeys, sizeof(*c->keys)) < 0)
		return NULL;
	k = &c->keys[c->nkeys++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->allow_forwarding = CONFIG_FWD_YES;
	k->gateway_ports = CONFIG_GW_SERVER;
	return k;
}

int config_add_listen(struct config_server *c, const struct net_endpoint *ep)
{
	if (!c || !ep || grow((void **)&c->listen, c->nlisten, sizeof(*c->listen)) < 0)
		return -1;
	c->listen[c->nlisten++] = *ep;
	return 0;
}

int config_add_remote(struct config_client *c, const struct net_forward *fw)
{
	if (!c || !fw || grow((void **)&c->remote, c->nremote, sizeof(*c->remote)) < 0)
		return -1;
	c->remote[c->nremote++] = *fw;
	return 0;
}

int config_add_dynamic(struct config_client *c, const struct net_endpoint *ep)
{
	if (!c || !ep || grow((void **)&c->dynamic, c->ndynamic, sizeof(*c->dynamic)) < 0)
		return -1;
	c->dynamic[c->ndynamic++] = *ep;
	return 0;
}

int config_parse_remote(const char *s, struct net_forward *fw, char *err)
{
	return net_parse_forward_ex(s, fw, 1, err);
}

int config_parse_dynamic(const char *s, struct net_endpoint *ep, char *err)
{
	if (s != NULL && (s[0] == '/' || strncmp(s, "./", 2) == 0)) {
		memset(ep, 0, sizeof(*ep));
		ep->is_unix = 1;
		if (strlen(s) > NET_PATH_MAX) {
			snprintf(err, NET_ERR_MAX, "Unix socket path longer than %d bytes",
				 NET_PATH_MAX);
			return -1;
		}
		snprintf(ep->path, sizeof(ep->path), "%s", s);
		return 0;
	}
	return net_parse_hostport(s, ep, "127.0.0.1", 0, err);
}

int config_add_forward(struct config_client *c, const struct net_forward *fw)
{
	if (!c || !fw || grow((void **)&c->local, c->nlocal, sizeof(*c->local)) < 0)
		return -1;
	c->local[c->nlocal++] = *fw;
	return 0;
}

#define PERMIT_USAGE "expected host:port, *:port, host:*, ADDR/BITS:port, /unix/path or any"
#define LISTEN_USAGE "expected [host:]port, [host:]*, /unix/path or any"

/* Which list a value is for: its name in messages and its grammar. */
struct permit_kind {
	const char *setting;
	const char *usage;
	int host_optional; /* permit_listen: "port" alone */
};

static const struct permit_kind open_kind = {"permit_open", PERMIT_USAGE, 0};
static const struct permit_kind listen_kind = {"permit_listen", LISTEN_USAGE, 1};

/* Split "host:port" or "[v6]:port" without copying; IPv6 only in brackets. */
static int split_permit(const struct permit_kind *kd, const char *s, char *host, const char **port,
			char *err)
{
	char q[QUOTE_MAX + 4];
	const char *colon;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return set_err(err, "%s '%s': unbalanced '['", kd->setting, quote(q, s));
		if (close[1] != ':')
			return set_err(err, "%s '%s': %s", kd->setting, quote(q, s), kd->usage);
		hlen = (size_t)(close - s - 1);
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon && kd->host_optional) {
			host[0] = '\0';
			*port = s;
			return 0;
		}
		if (!colon)
			return set_err(err, "%s '%s': missing port (%s)", kd->setting, quote(q, s),
				       kd->usage);
		if (strchr(colon + 1, ':'))
			return set_err(err,
				       "%s '%s': too many ':' (IPv6 addresses go in brackets: "
				       "[::1]:22)",
				       kd->setting, quote(q, s));
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen > NET_HOST_MAX)
		return set_err(err, "%s '%s': %s host (%s)", kd->setting, quote(q, s),
			       hlen ? "too long a" : "missing", kd->usage);
	memcpy(host, s[0] == '[' ? s + 1 : s, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

/* A prefix length: plain decimal, no sign or leading zeros, at most ${max}. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (!*s || strlen(s) > 3 || (s[0] == '0' && s[1]))
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* 1 if any bit from ${bits} on is set in the ${len}-byte address ${a}. */
static int host_bits_set(const uint8_t *a, size_t len, unsigned bits)
{
	size_t i;

	for (i = bits / 8; i < len; i++) {
		uint8_t mask = i == bits / 8 ? (uint8_t)(0xff >> (bits % 8)) : 0xff;
		if (a[i] & mask)
			return 1;
	}
	return 0;
}

/*
 * "ADDR/BITS" in ${p->host}: IPv4 bare, IPv6 only in brackets (as for single
 * addresses). Leaves ${p->host} holding the address alone.
 */
static int parse_cidr(const char *s, struct config_permit *p, int bracketed, char *err)
{
	char q[QUOTE_MAX + 4];
	char *slash = strchr(p->host, '/');
	uint8_t a[16];
	unsigned bits, max;
	int v6 = bracketed;

	*slash = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, p->host, a) != 1)
		return set_err(err, "permit_open '%s': bad %s network address (%s)", quote(q, s),
			       v6 ? "IPv6" : "IPv4",
			       v6 ? "expected [V6ADDR/BITS]:port" : "expected a.b.c.d/BITS:port");
	max = v6 ? 128 : 32;
	if (parse_prefix(slash + 1, max, &bits) < 0)
		return set_err(err, "permit_open '%s': bad prefix length (expected 0..%u)",
			       quote(q, s), max);
	if (host_bits_set(a, v6 ? 16 : 4, bits))
		return set_err(err, "permit_open '%s': address has bits set beyond /%u",
			       quote(q, s), bits);
	p->cidr = 1;
	p->prefix = (uint8_t)bits;
	return 0;
}

static int check_permit_host(const char *s, struct config_permit *p, int bracketed, char *err)
{
	char q[QUOTE_MAX + 4], why[NET_ERR_MAX];

	if (strchr(p->host, '/'))
		return parse_cidr(s, p, bracketed, err);
	if (bracketed) {
		if (strchr(p->host, ':') && net_is_ip_literal(p->host))
			return 0;
		return set_err(err, "permit_open '%s': bad IPv6 address in brackets", quote(q, s));
	}
	if (strcmp(p->host, "*") == 0)
		return 0;
	if (net_check_host(p->host, why) < 0)
		return set_err(err, "permit_open '%s': %s", quote(q, s), why);
	return 0;
}

/* A bind address: '*', localhost or an IP literal; names would need the resolver. */
static int check_listen_host(const char *s, struct config_permit *p, int bracketed, char *err)
{
	char q[QUOTE_MAX + 4];

	if (bracketed) {
		if (strchr(p->host, ':') && net_is_ip_literal(p->host))
			return 0;
		return set_err(err, "permit_listen '%s': bad IPv6 address in brackets",
			       quote(q, s));
	}
	if (p->host[0] == '\0' || strcmp(p->host, "*") == 0 || strcmp(p->host, "localhost") == 0)
		return 0;
	if (net_is_ip_literal(p->host))
		return 0;
	return set_err(err,
		       "permit_listen '%s': bind address must be *, localhost or an IP address",
		       quote(q, s));
}

static int parse_permit_port(const struct permit_kind *kd, const char *s, const char *port,
			     struct config_permit *p, char *err)
{
	char q[QUOTE_MAX + 4];

	if (strcmp(port, "*") == 0)
		return 0;
	if (net_parse_port(port, 0, &p->port, NULL) == 0)
		return 0;
	return set_err(err, "%s '%s': bad port (expected 1..65535 or *)", kd->setting, quote(q, s));
}

int config_parse_permit(const char *s, struct config_permit *p, int *any, char *err)
{
	const char *port = NULL;

	if (!s || !p || !any)
		return set_err(err, "permit_open: nothing to parse");
	memset(p, 0, sizeof(*p));
	*any = 0;
	if (strcmp(s, "any") == 0 || strcmp(s, "*:*") == 0) {
		*any = 1;
		p->host[0] = '*';
		return 0;
	}
	if (split_permit(&open_kind, s, p->host, &port, err) < 0 ||
	    check_permit_host(s, p, s[0] == '[', err) < 0 ||
	    parse_permit_port(&open_kind, s, port, p, err) < 0) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

int config_parse_permit_listen(const char *s, struct config_permit *p, int *any, char *err)
{
	const char *port = NULL;

	if (!s || !p || !any)
		return set_err(err, "permit_listen: nothing to parse");
	memset(p, 0, sizeof(*p));
	*any = 0;
	if (strcmp(s, "any") == 0 || strcmp(s, "*") == 0 || strcmp(s, "*:*") == 0) {
		*any = 1;
		p->host[0] = '*';
		return 0;
	}
	if (split_permit(&listen_kind, s, p->host, &port, err) < 0 ||
	    check_listen_host(s, p, s[0] == '[', err) < 0 ||
	    parse_permit_port(&listen_kind, s, port, p, err) < 0) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

/* "." and ".." components would let a glob's '*' climb out of its directory. */
const char *config_check_unix_path(const char *s)
{
	size_t len, i;

	if (!s || s[0] != '/')
		return "not an absolute path";
	len = strlen(s);
	if (len > NET_PATH_MAX)
		return "path too long (max 107 bytes)";
	if (s[len - 1] == '/')
		return "path ends in '/'";
	/* Paths reach logs and the peer in refusals: printable ASCII only. */
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return "control or non-ASCII byte in path";
	for (i = 0; i < len; i++) {
		const char *c = s + i + 1;
		size_t n;
		if (s[i] != '/')
			continue;
		n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "'//', '.' and '..' are not allowed in paths";
	}
	return NULL;
}

int config_parse_permit_path(const char *setting, const char *s, struct config_permit *p, char *err)
{
	char q[QUOTE_MAX + 4];
	const char *why;

	if (!setting)
		setting = "permit_open";
	if (!s || !p)
		return set_err(err, "%s: nothing to parse", setting);
	memset(p, 0, sizeof(*p));
	why = config_check_unix_path(s);
	if (why)
		return set_err(err, "%s '%s': %s", setting, quote(q, s), why);
	p->is_unix = 1;
	snprintf(p->path, sizeof(p->path), "%s", s);
	return 0;
}

static int append_permit(struct config_permit **arr, size_t *n, const struct config_permit *p,
			 const char *setting, char *err)
{
	if (grow((void **)arr, *n, sizeof(**arr)) < 0)
		return set_err(err, "%s: too many entries (max %d)", setting, CONFIG_LIST_MAX);
	(*arr)[(*n)++] = *p;
	return 0;
}

int config_add_permit(struct config_key *k, const char *s, char *err)
{
	struct config_permit p;
	int any = 0;

	if (!k)
		return set_err(err, "permit_open: no key stanza");
	if (s && s[0] == '/') {
		if (config_parse_permit_path("permit_open", s, &p, err) < 0)
			return -1;
	} else if (config_parse_permit(s, &p, &any, err) < 0) {
		return -1;
	}
	if (any) {
		k->permit_any = 1;
		return 0;
	}
	return append_permit(&k->permit, &k->npermit, &p, "permit_open", err);
}

int config_add_permit_listen(struct config_key *k, const char *s, char *err)
{
	struct config_permit p;
	int any = 0;

	if (!k)
		return set_err(err, "permit_listen: no key stanza");
	if (s && s[0] == '/') {
		if (config_parse_permit_path("permit_listen", s, &p, err) < 0)
			return -1;
	} else if (config_parse_permit_listen(s, &p, &any, err) < 0) {
		return -1;
	}
	if (any) {
		k->permit_listen_any = 1;
		return 0;
	}
	return append_permit(&k->permit_listen, &k->npermit_listen, &p, "permit_listen", err);
}

/* ---- words ---- */

static const char *const forwarding_names[] = {"yes", "no", "local", "remote"};
static const char *const gateway_names[] = {"server", "no", "yes", "clientspecified"};

static int word_index(const char *const *names, size_t n, size_t first, const char *s)
{
	size_t i;

	for (i = first; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

int config_forwarding_parse(const char *s)
{
	return word_index(forwarding_names, NUM(forwarding_names), 0, s);
}

/* "server" is how a key defers to [server]; it is not something to write. */
int config_gateway_parse(const char *s)
{
	return word_index(gateway_names, NUM(gateway_names), CONFIG_GW_NO, s);
}

int config_yesno_parse(const char *s)
{
	if (s && strcmp(s, "yes") == 0)
		return 1;
	if (s && strcmp(s, "no") == 0)
		return 0;
	return -1;
}

const char *config_forwarding_name(int v)
{
	return v >= 0 && (size_t)v < NUM(forwarding_names) ? forwarding_names[v] : "?";
}

const char *config_gateway_name(int v)
{
	return v >= 0 && (size_t)v < NUM(gateway_names) ? gateway_names[v] : "?";
}

/* ---- values ---- */

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long v = 0;
	size_t i;

	if (!*s || strlen(s) > 10)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int set_uint(struct parser *p, const struct uint_setting *u, void *base, const char *value)
{
	char q[QUOTE_MAX + 4];
	unsigned v;

	if (parse_uint(value, u->min, u->max, &v) < 0) {
		fail_line(p, "%s: bad value '%s' (expected %u..%u%s)", u->name, quote(q, value),
			  u->min, u->max, u->unit);
		return -1;
	}
	*(unsigned *)(void *)((char *)base + u->offset) = v * u->scale;
	return 0;
}

/* "MIN-MAX" or a single "N" (a fixed delay), in seconds. */
static int set_reject_delay(struct parser *p, const char *value)
{
	char q[QUOTE_MAX + 4], lo[16];
	const char *dash = strchr(value, '-');
	const char *hi = value;
	unsigned min, max;
	size_t n = strlen(value);

	if (dash) {
		n = (size_t)(dash - value);
		hi = dash + 1;
	}
	if (n >= sizeof(lo))
		goto bad;
	memcpy(lo, value, n);
	lo[n] = '\0';
	if (parse_uint(lo, 0, REJECT_DELAY_MAX, &min) < 0 ||
	    parse_uint(hi, 0, REJECT_DELAY_MAX, &max) < 0 || min > max)
		goto bad;
	p->srv->reject_delay_min_ms = min * 1000;
	p->srv->reject_delay_max_ms = max * 1000;
	return 0;
bad:
	fail_line(p, "reject_delay: bad value '%s' (expected MIN-MAX seconds, 0..%d, MIN <= MAX)",
		  quote(q, value), REJECT_DELAY_MAX);
	return -1;
}

/* key_file paths are relative to the config file, so a config moves with its keys. */
static int set_path(struct parser *p, const char *setting, const char *value, char *out)
{
	int n;

	if (value[0] == '/' || p->dir[0] == '\0')
		n = snprintf(out, CONFIG_PATH_MAX + 1, "%s", value);
	else if (strcmp(p->dir, "/") == 0)
		n = snprintf(out, CONFIG_PATH_MAX + 1, "/%s", value);
	else
		n = snprintf(out, CONFIG_PATH_MAX + 1, "%s/%s", p->dir, value);
	if (n < 0 || n > CONFIG_PATH_MAX) {
		out[0] = '\0';
		fail_line(p, "%s: path too long (max %d bytes)", setting, CONFIG_PATH_MAX);
		return -1;
	}
	return 0;
}

/* Single-valued settings may appear once per section; a second one is a typo. */
static int once(struct parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nseen; i++) {
		if (strcmp(p->seen[i].name, name) == 0) {
			fail_line(p, "%s set twice (first on line %d)", name, p->seen[i].line);
			return -1;
		}
	}
	if (p->nseen < SEEN_MAX) {
		p->seen[p->nseen].name = name;
		p->seen[p->nseen].line = p->line;
		p->nseen++;
	}
	return 0;
}

static const struct uint_setting *find_uint(const struct uint_setting *t, size_t n,
					    const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

/* Repeat a bad setting name only if it looks like one: it might be a pasted key. */
static void unknown_setting(struct parser *p, const char *name, const char *where)
{
	size_t len = strlen(name);

	if (len == 0)
		fail_line(p, "missing setting name before '=' in %s", where);
	else if (len <= ECHO_NAME_MAX &&
		 strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == len)
		fail_line(p, "unknown setting '%s' in %s", name, where);
	else
		fail_line(p, "unknown setting in %s", where);
}

/* ---- [server] ---- */

static int set_listen(struct parser *p, const char *value)
{
	struct net_endpoint ep;
	char why[NET_ERR_MAX], shown[NET_HOST_MAX + 16];
	size_t i;

	if (net_parse_hostport(value, &ep, NULL, 0, why) < 0) {
		fail_line(p, "listen: %s", why);
		return -1;
	}
	for (i = 0; i < p->srv->nlisten; i++) {
		const struct net_endpoint *o = &p->srv->listen[i];
		if (o->port == ep.port && net_host_equal(o->host, ep.host)) {
			fail_line(p, "listen: %s given twice",
				  net_format_endpoint(&ep, shown, sizeof(shown)));
			return -1;
		}
	}
	if (config_add_listen(p->srv, &ep) < 0) {
		fail_line(p, "listen: too many addresses or out of memory");
		return -1;
	}
	return 0;
}

/* A setting spelled as one of a few words; ${v} is what its parser made of ${value}. */
static int set_word(struct parser *p, const char *name, int v, const char *value,
		    const char *expected, int *out)
{
	char q[QUOTE_MAX + 4];

	if (once(p, name) < 0)
		return -1;
	if (v < 0) {
		fail_line(p, "%s: bad value '%s' (expected %s)", name, quote(q, value), expected);
		return -1;
	}
	*out = v;
	return 0;
}

#define GATEWAY_WORDS "no, yes or clientspecified"

static int server_setting(struct parser *p, const char *name, const char *value)
{
	const struct uint_setting *u;

	if (strcmp(name, "listen") == 0)
		return set_listen(p, value);
	if (strcmp(name, "gateway_ports") == 0)
		return set_word(p, "gateway_ports", config_gateway_parse(value), value,
				GATEWAY_WORDS, &p->srv->gateway_ports);
	if (strcmp(name, "reject_delay") == 0)
		return once(p, "reject_delay") < 0 ? -1 : set_reject_delay(p, value);
	if (strcmp(name, "state_dir") == 0)
		return once(p, "state_dir") < 0 ? -1
		       : strcmp(value, "none") == 0
			   ? (snprintf(p->srv->state_dir, sizeof(p->srv->state_dir), "none"), 0)
			   : set_path(p, "state_dir", value, p->srv->state_dir);
	u = find_uint(server_uints, NUM(server_uints), name);
	if (u)
		return once(p, u->name) < 0 ? -1 : set_uint(p, u, p->srv, value);
	unknown_setting(p, name, "[server]");
	return -1;
}

/* ---- [key NAME] ---- */

/* Pass on a helper's verdict, tying its message to the current line. */
static int line_result(struct parser *p, int rc, const char *why)
{
	if (rc == 0)
		return 0;
	fail_line(p, "%s", why);
	return -1;
}

static int key_setting(struct parser *p, const char *name, const char *value)
{
	struct config_key *k = &p->srv->keys[p->key];
	char where[CONFIG_NAME_MAX + 8], why[CONFIG_ERR_MAX];

	if (strcmp(name, "key_file") == 0)
		return once(p, "key_file") < 0 ? -1 : set_path(p, "key_file", value, k->key_file);
	if (strcmp(name, "permit_open") == 0)
		return line_result(p, config_add_permit(k, value, why), why);
	if (strcmp(name, "permit_listen") == 0)
		return line_result(p, config_add_permit_listen(k, value, why), why);
	if (strcmp(name, "allow_forwarding") == 0)
		return set_word(p, "allow_forwarding", config_forwarding_parse(value), value,
				"yes, no, local or remote", &k->allow_forwarding);
	if (strcmp(name, "gateway_ports") == 0)
		return set_word(p, "gateway_ports", config_gateway_parse(value), value,
				GATEWAY_WORDS, &k->gateway_ports);
	if (strcmp(name, "allow_unix_forwarding") == 0)
		return set_word(p, "allow_unix_forwarding", config_yesno_parse(value), value,
				"yes or no", &k->allow_unix_forwarding);
	snprintf(where, sizeof(where), "[key %s]", k->name);
	unknown_setting(p, name, where);
	return -1;
}

/* ---- [profile NAME] ---- */

static int set_server_addr(struct parser *p, const char *value)
{
	char why[NET_ERR_MAX];

	if (net_parse_hostport(value, &p->cur->server, NULL, 0, why) == 0)
		return 0;
	fail_line(p, "server: %s", why);
	return -1;
}

static int same_listen(const struct net_endpoint *a, const struct net_endpoint *b)
{
	if (a->is_unix || b->is_unix)
		return a->is_unix == b->is_unix && strcmp(a->path, b->path) == 0;
	return a->port == b->port && net_host_equal(a->host, b->host);
}

static int add_local_forward(struct parser *p, const char *value)
{
	struct net_forward fw;
	char why[NET_ERR_MAX], shown[NET_HOST_MAX + 16];
	size_t i;

	if (net_parse_forward(value, &fw, why) < 0) {
		fail_line(p, "local_forward: %s", why);
		return -1;
	}
	for (i = 0; i < p->cur->nlocal; i++) {
		if (same_listen(&p->cur->local[i].listen, &fw.listen)) {
			char raw[sizeof(shown)];
			/* Unix paths may hold any byte; messages stay printable. */
			net_format_endpoint(&fw.listen, raw, sizeof(raw));
			fail_line(p, "local_forward: %s is already forwarded",
				  log_printable(shown, (const uint8_t *)raw, strlen(raw)));
			return -1;
		}
	}
	if (config_add_forward(p->cur, &fw) < 0) {
		fail_line(p, "local_forward: too many forwards or out of memory");
		return -1;
	}
	return 0;
}

static int set_cipher(struct parser *p, const char *value)
{
	char q[QUOTE_MAX + 4];
	int alg = config_cipher_parse(value);

	if (alg == -2) {
		fail_line(
		    p, "cipher: bad value '%s' (expected chacha20-poly1305, aes-256-gcm or auto)",
		    quote(q, value));
		return -1;
	}
	p->cur->cipher = alg;
	return 0;
}

static int add_remote_forward(struct parser *p, const char *value)
{
	struct net_forward fw;
	char why[NET_ERR_MAX];

	if (config_parse_remote(value, &fw, why) < 0) {
		fail_line(p, "remote_forward: %s", why);
		return -1;
	}
	if (config_add_remote(p->cur, &fw) < 0) {
		fail_line(p, "remote_forward: too many forwards or out of memory");
		return -1;
	}
	return 0;
}

static int add_dynamic_forward(struct parser *p, const char *value)
{
	struct net_endpoint ep;
	char why[NET_ERR_MAX];

	if (config_parse_dynamic(value, &ep, why) < 0) {
		fail_line(p, "dynamic_forward: %s", why);
		return -1;
	}
	if (config_add_dynamic(p->cur, &ep) < 0) {
		fail_line(p, "dynamic_forward: too many forwards or out of memory");
		return -1;
	}
	return 0;
}

static int set_exit_on_failure(struct parser *p, const char *value)
{
	if (strcmp(value, "yes") == 0) {
		p->cur->exit_on_forward_failure = 1;
	} else if (strcmp(value, "no") == 0) {
		p->cur->exit_on_forward_failure = 0;
	} else {
		fail_line(p, "exit_on_forward_failure: expected yes or no");
		return -1;
	}
	return 0;
}

static int profile_setting(struct parser *p, const char *name, const char *value)
{
	const struct uint_setting *u;
	char where[CONFIG_NAME_MAX + 16];

	if (strcmp(name, "local_forward") == 0)
		return add_local_forward(p, value);
	if (strcmp(name, "remote_forward") == 0)
		return add_remote_forward(p, value);
	if (strcmp(name, "dynamic_forward") == 0)
		return add_dynamic_forward(p, value);
	if (strcmp(name, "exit_on_forward_failure") == 0)
		return once(p, name) < 0 ? -1 : set_exit_on_failure(p, value);
	if (strcmp(name, "server") == 0)
		return once(p, "server") < 0 ? -1 : set_server_addr(p, value);
	if (strcmp(name, "key_file") == 0)
		return once(p, "key_file") < 0 ? -1
					       : set_path(p, "key_file", value, p->cur->key_file);
	if (strcmp(name, "cipher") == 0)
		return once(p, "cipher") < 0 ? -1 : set_cipher(p, value);
	u = find_uint(client_uints, NUM(client_uints), name);
	if (u)
		return once(p, u->name) < 0 ? -1 : set_uint(p, u, p->cur, value);
	snprintf(where, sizeof(where), "[profile %s]", p->cur->profile);
	unknown_setting(p, name, where);
	return -1;
}

/* ---- sections ---- */

static int enter_server(struct parser *p)
{
	if (p->server_line) {
		fail_line(p, "second [server] section (first on line %d)", p->server_line);
		return -1;
	}
	p->server_line = p->line;
	p->sec = SEC_SERVER;
	return 0;
}

static int enter_key(struct parser *p, const char *name)
{
	struct config_key *k;
	char why[CONFIG_ERR_MAX];
	size_t i;

	if (valid_name(name, "key", why) < 0) {
		fail_line(p, "%s", why);
		return -1;
	}
	for (i = 0; i < p->srv->nkeys; i++) {
		if (strcmp(p->srv->keys[i].name, name) == 0) {
			fail_line(p, "duplicate [key %s] (first on line %d)", name,
				  p->srv->keys[i].line);
			return -1;
		}
	}
	k = config_add_key(p->srv, name);
	if (!k) {
		fail_line(p, "too many [key] stanzas (max %d) or out of memory", CONFIG_LIST_MAX);
		return -1;
	}
	k->line = p->line;
	p->key = p->srv->nkeys - 1;
	p->sec = SEC_KEY;
	return 0;
}

static int remember_profile(struct parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nprofiles; i++) {
		if (strcmp(p->profiles[i].name, name) == 0) {
			fail_line(p, "duplicate [profile %s] (first on line %d)", name,
				  p->profiles[i].line);
			return -1;
		}
	}
	if (grow((void **)&p->profiles, p->nprofiles, sizeof(*p->profiles)) < 0) {
		fail_line(p, "too many [profile] stanzas (max %d) or out of memory",
			  CONFIG_LIST_MAX);
		return -1;
	}
	snprintf(p->profiles[p->nprofiles].name, sizeof(p->profiles[0].name), "%s", name);
	p->profiles[p->nprofiles].line = p->line;
	p->nprofiles++;
	return 0;
}

/*
 * Every profile is parsed and checked, but only the one asked for (or the
 * first) lands in the caller's struct; the others go to a scratch struct.
 */
static int enter_profile(struct parser *p, const char *name)
{
	char why[CONFIG_ERR_MAX];
	int chosen;

	if (valid_name(name, "profile", why) < 0) {
		fail_line(p, "%s", why);
		return -1;
	}
	if (remember_profile(p, name) < 0)
		return -1;
	chosen = p->want ? strcmp(p->want, name) == 0 : !p->found;
	if (chosen) {
		p->cur = p->cli;
		p->found = 1;
	} else {
		config_client_free(&p->scratch);
		config_client_defaults(&p->scratch);
		p->cur = &p->scratch;
	}
	snprintf(p->cur->profile, sizeof(p->cur->profile), "%s", name);
	p->sec = SEC_PROFILE;
	return 0;
}

static int enter_section(struct parser *p, const char *type, const char *name)
{
	p->nseen = 0;
	p->sec = SEC_NONE;
	if (p->kind == KIND_SERVER && strcmp(type, "server") == 0) {
		if (*name) {
			fail_line(p, "[server] takes no name");
			return -1;
		}
		return enter_server(p);
	}
	if (p->kind == KIND_SERVER && strcmp(type, "key") == 0)
		return enter_key(p, name);
	if (p->kind == KIND_CLIENT && strcmp(type, "profile") == 0)
		return enter_profile(p, name);
	if (strlen(type) <= ECHO_NAME_MAX &&
	    strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(type))
		fail_line(p, "unknown section [%s] (expected %s)", type,
			  p->kind == KIND_SERVER ? "[server] or [key NAME]" : "[profile NAME]");
	else
		fail_line(p, "unknown section (expected %s)",
			  p->kind == KIND_SERVER ? "[server] or [key NAME]" : "[profile NAME]");
	return -1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Value safety: a pasted key line must never come back out in a message. */
static int looks_like_key(const char *value)
{
	return strstr(value, "postern-psk") != NULL;
}

/* "[type]" or "[type name]", blanks allowed around both words. */
static int section_line(struct parser *p, const char *line, size_t len)
{
	char inner[CONFIG_NAME_MAX + 64];
	const char *close = memchr(line, ']', len);
	char *type, *name, *end;
	size_t n;

	if (!close) {
		fail_line(p, "syntax error (missing ']')");
		return -1;
	}
	/* Blank-led comments are gone already; "[server]# note" is one too. */
	if ((size_t)(close - line) + 1 != len && close[1] != ';' && close[1] != '#') {
		fail_line(p, "unexpected text after ']'");
		return -1;
	}
	n = (size_t)(close - line) - 1;
	if (n >= sizeof(inner)) {
		fail_line(p, "section header too long");
		return -1;
	}
	memcpy(inner, line + 1, n);
	inner[n] = '\0';
	if (looks_like_key(inner)) {
		fail_line(p, "this line holds what looks like a key; keys belong in a key file");
		return -1;
	}
	for (type = inner; is_blank(*type); type++)
		;
	name = type + strcspn(type, " \t\r\f\v");
	if (*name)
		*name++ = '\0';
	while (is_blank(*name))
		name++;
	end = name + strlen(name);
	while (end > name && is_blank(end[-1]))
		*--end = '\0';
	return enter_section(p, type, name);
}

/* Where a comment starts: ';' or '#' first on the line or after a blank. */
static size_t strip_comment(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((s[i] == ';' || s[i] == '#') && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t'))
			return i;
	return len;
}

/* The ini_reader: hands inih one cleaned line per call (see the top of this file). */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *line, *nl;
	size_t len;

	if (p->failed || p->pos >= p->len)
		return NULL;
	if (num < 3) {
		fail_line(p, "line buffer too small");
		return NULL;
	}
	line = p->text + p->pos;
	nl = memchr(line, '\n', p->len - p->pos);
	len = nl ? (size_t)(nl - line) : p->len - p->pos;
	p->pos += len + (nl ? 1 : 0);
	p->line++;
	if (memchr(line, '\0', len)) {
		fail_line(p, "NUL byte in line");
		return NULL;
	}
	if (p->line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	while (len > 0 && is_blank(*line)) {
		line++;
		len--;
	}
	len = strip_comment(line, len);
	while (len > 0 && is_blank(line[len - 1]))
		len--;
	if (len > 0 && line[0] == '[') {
		if (section_line(p, line, len) < 0)
			return NULL;
		len = 0;
	}
	if (len + 2 > (size_t)num) {
		fail_line(p, "line too long (max %d characters)", num - 2);
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int on_setting(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	int rc = -1;

	(void)section; /* tracked by read_line(), which sees empty sections too */
	if (p->failed)
		return 0;
	if (looks_like_key(name) || looks_like_key(value)) {
		fail_line(p, "this line holds what looks like a key; keys belong in a key file");
		return 0;
	}
	switch (p->sec) {
	case SEC_NONE:
		fail_line(p, "setting outside a section (start with %s)",
			  p->kind == KIND_SERVER ? "[server] or [key NAME]" : "[profile NAME]");
		break;
	case SEC_SERVER:
		rc = server_setting(p, name, value);
		break;
	case SEC_KEY:
		rc = key_setting(p, name, value);
		break;
	case SEC_PROFILE:
		rc = profile_setting(p, name, value);
		break;
	}
	return rc == 0;
}

/* ---- driving a parse ---- */

static void set_dir(struct parser *p, const char *name)
{
	const char *slash = strrchr(name, '/');
	size_t n;

	p->dir[0] = '\0';
	if (!slash)
		return;
	n = slash == name ? 1 : (size_t)(slash - name);
	if (n > CONFIG_PATH_MAX)
		n = CONFIG_PATH_MAX;
	memcpy(p->dir, name, n);
	p->dir[n] = '\0';
}

static struct parser *parser_new(enum kind kind, const char *text, size_t len, const char *name)
{
	struct parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = kind;
	p->name = name;
	p->text = text;
	p->len = len;
	set_dir(p, name);
	config_client_defaults(&p->scratch);
	return p;
}

static void parser_free(struct parser *p)
{
	if (!p)
		return;
	config_client_free(&p->scratch);
	free(p->profiles);
	free(p);
}

/* Run inih and merge its verdict (the first bad line) with ours. */
static int run(struct parser *p)
{
	int ret = ini_parse_stream(read_line, p, on_setting, p);

	if (ret > 0 && (!p->failed || ret < p->err_line)) {
		snprintf(p->err, sizeof(p->err),
			 "%s:%d: syntax error (expected '[section]' or 'name = value')", p->name,
			 ret);
		p->failed = 1;
	} else if (ret < 0 && !p->failed) {
		snprintf(p->err, sizeof(p->err), "%s: cannot parse (out of memory)", p->name);
		p->failed = 1;
	}
	return p->failed ? -1 : 0;
}

static int server_finish(struct parser *p)
{
	size_t i;

	/* A file with no [key] is fine here: --key may add one; config_server_check()
	 * insists on at least one after flags are applied. */
	for (i = 0; i < p->srv->nkeys; i++) {
		if (p->srv->keys[i].key_file[0] == '\0') {
			snprintf(p->err, sizeof(p->err), "%s:%d: [key %s] has no key_file", p->name,
				 p->srv->keys[i].line, p->srv->keys[i].name);
			return -1;
		}
	}
	return 0;
}

int config_server_load_string(const char *text, size_t len, const char *name,
			      struct config_server *c, char *err)
{
	struct parser *p;
	int rc = -1;

	if (!c || (!text && len))
		return set_err(err, "config: nothing to parse");
	if (!name)
		name = "(config)";
	p = parser_new(KIND_SERVER, text, len, name);
	if (!p)
		return set_err(err, "%s: out of memory", name);
	p->srv = c;
	snprintf(c->file, sizeof(c->file), "%s", name);
	if (run(p) == 0 && server_finish(p) == 0)
		rc = 0;
	if (rc < 0)
		set_err(err, "%s", p->err);
	parser_free(p);
	return rc;
}

/* "a, b, c" for the message about a missing profile. */
static void list_profiles(const struct parser *p, char *out, size_t size)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < p->nprofiles && used + 1 < size; i++) {
		int n =
		    snprintf(out + used, size - used, "%s%s", i ? ", " : "", p->profiles[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int client_finish(struct parser *p)
{
	char q[QUOTE_MAX + 4], names[CONFIG_ERR_MAX / 2];

	if (p->nprofiles == 0) {
		snprintf(p->err, sizeof(p->err), "%s: no [profile NAME] stanza", p->name);
		return -1;
	}
	if (!p->found) {
		list_profiles(p, names, sizeof(names));
		snprintf(p->err, sizeof(p->err), "%s: no profile '%s' (profiles: %s)", p->name,
			 quote(q, p->want), names);
		return -1;
	}
	return 0;
}

int config_client_load_string(const char *text, size_t len, const char *name, const char *profile,
			      struct config_client *c, char *err)
{
	struct parser *p;
	int rc = -1;

	if (!c || (!text && len))
		return set_err(err, "config: nothing to parse");
	if (!name)
		name = "(config)";
	p = parser_new(KIND_CLIENT, text, len, name);
	if (!p)
		return set_err(err, "%s: out of memory", name);
	p->cli = c;
	p->want = profile;
	if (run(p) == 0 && client_finish(p) == 0)
		rc = 0;
	if (rc < 0)
		set_err(err, "%s", p->err);
	parser_free(p);
	return rc;
}

/* ---- files ---- */

static int read_file(const char *path, char **out, size_t *outlen, char *err)
{
	char q[QUOTE_MAX + 4];
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return set_err(err, "%s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n;
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if (cap > CONFIG_FILE_MAX + 1)
				cap = CONFIG_FILE_MAX + 1;
			if (len == cap) {
				set_err(err, "%s: too large (max %d bytes)", path, CONFIG_FILE_MAX);
				goto out;
			}
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				set_err(err, "%s: out of memory", path);
				goto out;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_err(err, "%s: %s", quote(q, path), strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int config_server_load(const char *path, struct config_server *c, char *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!path || !c)
		return set_err(err, "config: no file given");
	if (read_file(path, &text, &len, err) < 0)
		return -1;
	rc = config_server_load_string(text, len, path, c, err);
	free(text);
	return rc;
}

int config_client_load(const char *path, const char *profile, struct config_client *c, char *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!path || !c)
		return set_err(err, "config: no file given");
	if (read_file(path, &text, &len, err) < 0)
		return -1;
	rc = config_client_load_string(text, len, path, profile, c, err);
	free(text);
	return rc;
}

/* ---- after loading ---- */

/* "server.conf:7: [key alice]" or "[key alice]" when the key came from flags. */
static void key_where(const struct config_server *c, const struct config_key *k, char *out,
		      size_t size)
{
	if (c->file[0] && k->line > 0)
		snprintf(out, size, "%s:%d: [key %s]", c->file, k->line, k->name);
	else
		snprintf(out, size, "[key %s]", k->name);
}

/* Two stanzas with one key would make the client's identity ambiguous. */
static int check_distinct(const struct config_server *c, size_t i, char *err)
{
	char where[CONFIG_ERR_MAX];
	size_t j;

	for (j = 0; j < i; j++) {
		if (crypto_memeq(c->keys[j].psk, c->keys[i].psk, CRYPTO_KEY_LEN)) {
			key_where(c, &c->keys[i], where, sizeof(where));
			return set_err(err,
				       "%s: same key as [key %s]; each stanza needs its own key",
				       where, c->keys[j].name);
		}
	}
	return 0;
}

int config_load_keys(struct config_server *c, char *err)
{
	char where[CONFIG_ERR_MAX], why[KEYS_ERR_MAX];
	size_t i;

	if (!c)
		return set_err(err, "config: nothing to load");
	for (i = 0; i < c->nkeys; i++) {
		struct config_key *k = &c->keys[i];
		key_where(c, k, where, sizeof(where));
		if (k->key_file[0] == '\0')
			return set_err(err, "%s has no key_file", where);
		if (keys_load(k->key_file, k->psk, why) < 0)
			return set_err(err, "%s: %s", where, why);
		if (check_distinct(c, i, err) < 0)
			return -1;
	}
	return 0;
}

int config_server_check(const struct config_server *c, char *err)
{
	const char *file;
	char where[CONFIG_ERR_MAX];
	size_t i;

	if (!c)
		return set_err(err, "config: nothing to check");
	file = c->file[0] ? c->file : "server";
	if (c->nlisten == 0)
		return set_err(err, "%s: no listen address (add 'listen = host:port' to [server])",
			       file);
	if (c->nkeys == 0)
		return set_err(err, "%s: no [key NAME] stanza (each client needs one)", file);
	for (i = 0; i < c->nkeys; i++) {
		if (c->keys[i].key_file[0] == '\0') {
			key_where(c, &c->keys[i], where, sizeof(where));
			return set_err(err, "%s has no key_file", where);
		}
	}
	return 0;
}

int config_client_check(const struct config_client *c, char *err)
{
	char where[CONFIG_NAME_MAX + 16] = "client";

	if (!c)
		return set_err(err, "config: nothing to check");
	if (c->profile[0])
		snprintf(where, sizeof(where), "profile '%s'", c->profile);
	if (c->server.host[0] == '\0' || c->server.port == 0)
		return set_err(err, "%s: no server address (set 'server = host:port')", where);
	if (c->key_file[0] == '\0')
		return set_err(err, "%s: no key_file", where);
	return 0;
}
