/* SPDX-License-Identifier: MIT */
/*
 * settings: the one table per role (server, client) and the value parsers
 * it names. It owns what a setting is called (file key and flag), what
 * values it takes and what it defaults to; it does not own sections (the
 * schemas in conf/server.c and conf/client.c) or what the values do. The
 * defaults live twice on purpose: as text here, for --help and the man page,
 * and as code in config_*_defaults(); test_settings.c proves they agree.
 */
#include "conf/settings.h"
#include "guard/admit.h"
#include "guard/permit.h"
#include "spa/fw_nft.h"
#include "util/busypoll.h"
#include "util/keys.h"
#include "util/log.h"

#include <getopt.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { QUOTE_MAX = 64, HELP_COL = 30, HELP_WIDTH = 79 };

#define NUM(a) (sizeof(a) / sizeof((a)[0]))
/* Where an entry's value goes: its scope and the field in that scope's struct. */
#define SRV(f)	 .scope = SETTINGS_IN_SERVER, .offset = offsetof(struct config_server, f)
#define KEY(f)	 .scope = SETTINGS_IN_KEY, .offset = offsetof(struct config_key, f)
#define CLI(f)	 .scope = SETTINGS_IN_PROFILE, .offset = offsetof(struct config_client, f)
#define SPA(f)	 .scope = SETTINGS_IN_SPA, .offset = offsetof(struct config_spa, f)
#define FLEET(f) .scope = SETTINGS_IN_FLEET, .offset = offsetof(struct config_fleet, f)

static int say(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int say(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, CONFIG_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned *uint_at(void *base, const struct setting *s)
{
	return (unsigned *)(void *)((char *)base + s->offset);
}

static int *int_at(void *base, const struct setting *s)
{
	return (int *)(void *)((char *)base + s->offset);
}

/* ---- value parsers for VALUE and LIST entries ---- */

static int apply_listen(const struct setting *s, void *base, const char *value, const char *dir,
			char *why)
{
	struct config_server *c = base;
	struct net_endpoint ep;
	char err[NET_ERR_MAX], shown[NET_HOST_MAX + 16];

	(void)dir;
	/* Port 0 binds a free port and logs it (how tests avoid racing for one). */
	if (net_parse_hostport(value, &ep, NULL, 1, err) < 0)
		return say(why, "%s: %s", s->key, err);
	for (size_t i = 0; i < c->nlisten; i++) {
		const struct net_endpoint *o = &c->listen[i];
		if (ep.port != 0 && o->port == ep.port && net_host_equal(o->host, ep.host))
			return say(why, "%s: %s given twice", s->key,
				   net_format_endpoint(&ep, shown, sizeof(shown)));
	}
	if (config_add_listen(c, &ep) < 0)
		return say(why, "%s: too many addresses (max %d)", s->key, CONFIG_LIST_MAX);
	return 0;
}

static void clear_listen(void *base)
{
	((struct config_server *)base)->nlisten = 0;
}

static int apply_ban_exempt(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	struct config_cidr e;
	char err[CONFIG_ERR_MAX];

	(void)dir;
	if (config_parse_cidr(value, &e, err) < 0)
		return say(why, "%s: %s", s->key, err);
	if (config_add_ban_exempt(base, &e) < 0)
		return say(why, "%s: too many entries (max %d)", s->key, CONFIG_LIST_MAX);
	return 0;
}

static void clear_ban_exempt(void *base)
{
	((struct config_server *)base)->nban_exempt = 0;
}

/* The permit grammar's messages already start with the setting's name. */
static int apply_permit_open(const struct setting *s, void *base, const char *value,
			     const char *dir, char *why)
{
	(void)s;
	(void)dir;
	return permit_add_open(base, value, why);
}

static int apply_permit_listen(const struct setting *s, void *base, const char *value,
			       const char *dir, char *why)
{
	(void)s;
	(void)dir;
	return permit_add_listen(base, value, why);
}

static int apply_server(const struct setting *s, void *base, const char *value, const char *dir,
			char *why)
{
	struct config_client *c = base;
	char err[NET_ERR_MAX];

	(void)dir;
	if (net_parse_hostport(value, &c->server, NULL, 0, err) == 0)
		return 0;
	return say(why, "%s: %s", s->key, err);
}

static int same_listen(const struct net_endpoint *a, const struct net_endpoint *b)
{
	if (a->is_unix || b->is_unix)
		return a->is_unix == b->is_unix && strcmp(a->path, b->path) == 0;
	/* Port 0 is a fresh port each time, so two of them never clash. */
	return a->port != 0 && a->port == b->port && net_host_equal(a->host, b->host);
}

/*
 * "::1:2222:host:22" is ambiguous; say how to write it rather than what
 * failed, but only when the part before port:host:hostport (or before
 * port:/path) really is an IPv6 address, so plain typos get the grammar.
 */
static int ipv6_hint(const struct setting *s, const char *value, char *why)
{
	char q[QUOTE_MAX + 4], head[NET_HOST_MAX + 1];
	unsigned char addr[16];
	const char *cut[3] = {NULL, NULL, NULL};
	const char *p;

	if (value[0] == '/' || strchr(value, '['))
		return 0;
	/* The third colon from the end (or the second, before a Unix path). */
	for (p = value; *p && *p != '/'; p++)
		if (*p == ':') {
			cut[2] = cut[1];
			cut[1] = cut[0];
			cut[0] = p;
		}
	const char *end = *p == '/' ? cut[1] : cut[2];
	if (end == NULL || end == value || (size_t)(end - value) > NET_HOST_MAX)
		return 0;
	memcpy(head, value, (size_t)(end - value));
	head[end - value] = 0;
	if (inet_pton(AF_INET6, head, addr) != 1)
		return 0;
	say(why, "%s '%s': IPv6 addresses go in brackets: [%s]:...", s->key,
	    config_quote(q, QUOTE_MAX, value), head);
	return -1;
}

static int apply_local(const struct setting *s, void *base, const char *value, const char *dir,
		       char *why)
{
	struct config_client *c = base;
	struct net_forward fw;
	char err[NET_ERR_MAX], shown[NET_PATH_MAX + 16], raw[NET_PATH_MAX + 16];

	(void)dir;
	if (net_parse_forward(value, &fw, err) < 0) {
		if (ipv6_hint(s, value, why) < 0)
			return -1;
		return say(why, "%s: %s", s->key, err);
	}
	for (size_t i = 0; i < c->nlocal; i++) {
		if (same_listen(&c->local[i].listen, &fw.listen)) {
			/* Unix paths may hold any byte; messages stay printable. */
			net_format_endpoint(&fw.listen, raw, sizeof(raw));
			return say(why, "%s: %s is already forwarded", s->key,
				   log_printable(shown, (const uint8_t *)raw, strlen(raw)));
		}
	}
	if (config_add_forward(c, &fw) < 0)
		return say(why, "%s: too many forwards (max %d)", s->key, CONFIG_LIST_MAX);
	return 0;
}

static int apply_remote(const struct setting *s, void *base, const char *value, const char *dir,
			char *why)
{
	struct net_forward fw;
	char err[NET_ERR_MAX];

	(void)dir;
	if (config_parse_remote(value, &fw, err) < 0) {
		if (ipv6_hint(s, value, why) < 0)
			return -1;
		return say(why, "%s: %s", s->key, err);
	}
	if (config_add_remote(base, &fw) < 0)
		return say(why, "%s: too many forwards (max %d)", s->key, CONFIG_LIST_MAX);
	return 0;
}

static int apply_dynamic(const struct setting *s, void *base, const char *value, const char *dir,
			 char *why)
{
	struct net_endpoint ep;
	char err[NET_ERR_MAX];

	(void)dir;
	if (config_parse_dynamic(value, &ep, err) < 0)
		return say(why, "%s: %s", s->key, err);
	if (config_add_dynamic(base, &ep) < 0)
		return say(why, "%s: too many forwards (max %d)", s->key, CONFIG_LIST_MAX);
	return 0;
}

static int apply_admit(const struct setting *s, void *base, const char *value, const char *dir,
		       char *why)
{
	struct admit_policy p;
	char err[ADMIT_ERR_MAX];

	(void)dir;
	if (admit_parse(value, &p, err) < 0)
		return say(why, "%s%s", s->key, err + strlen("admit"));
	if (config_set_admit(base, p.text) < 0)
		return say(why, "%s: out of memory", s->key);
	return 0;
}

static int apply_cipher(const struct setting *s, void *base, const char *value, const char *dir,
			char *why)
{
	char q[QUOTE_MAX + 4];
	int alg = config_cipher_parse(value);

	(void)dir;
	if (alg == -2)
		return say(why, "%s: bad value '%s' (expected %s)", s->key,
			   config_quote(q, QUOTE_MAX, value), s->words);
	((struct config_client *)base)->cipher = alg;
	return 0;
}

/* A user name as getpwnam(3) takes it: the portable set, so no file can smuggle in a path. */
static int apply_user(const struct setting *s, void *base, const char *value, const char *dir,
		      char *why)
{
	char q[QUOTE_MAX + 4];
	size_t n = strlen(value);

	(void)dir;
	if (n > CONFIG_NAME_MAX ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ||
	    value[0] == '-')
		return say(why, "%s: '%s' is not a user name", s->key,
			   config_quote(q, QUOTE_MAX, value));
	memcpy(((struct config_server *)base)->user, value, n + 1);
	return 0;
}

/* -W HOST:PORT, as ssh's: "" turns it off (a flag over a profile that sets it). */
static int apply_stdio(const struct setting *s, void *base, const char *value, const char *dir,
		       char *why)
{
	struct config_client *c = base;
	char err[NET_ERR_MAX];

	(void)dir;
	if (value[0] == '\0') {
		memset(&c->stdio, 0, sizeof(c->stdio));
		return 0;
	}
	if (net_parse_hostport(value, &c->stdio, NULL, 0, err) == 0)
		return 0;
	return say(why, "%s: %s", s->key, err);
}

/* A group name for control_group: the same character set as user names. */
static int apply_group_name(const struct setting *s, char *dst, const char *value, char *why)
{
	char q[QUOTE_MAX + 4];
	size_t n = strlen(value);
	if (n > CONFIG_NAME_MAX ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ||
	    value[0] == '-')
		return say(why, "%s: '%s' is not a group name", s->key,
			   config_quote(q, QUOTE_MAX, value));
	memcpy(dst, value, n + 1);
	return 0;
}

static int apply_srv_group(const struct setting *s, void *base, const char *value, const char *dir,
			   char *why)
{
	(void)dir;
	return apply_group_name(s, ((struct config_server *)base)->control_group, value, why);
}

static int apply_cli_group(const struct setting *s, void *base, const char *value, const char *dir,
			   char *why)
{
	(void)dir;
	return apply_group_name(s, ((struct config_client *)base)->control_group, value, why);
}

/* metrics_listen: a numeric address and a port ("" = none); no name, so no resolver. */
static int apply_metrics_listen(const struct setting *s, void *base, const char *value,
				const char *dir, char *why)
{
	struct config_server *c = base;
	char err[NET_ERR_MAX], q[QUOTE_MAX + 4];
	unsigned char a[16];

	(void)dir;
	if (value[0] == '\0') {
		memset(&c->metrics_listen, 0, sizeof(c->metrics_listen));
		return 0;
	}
	if (net_parse_hostport(value, &c->metrics_listen, NULL, 0, err) != 0)
		return say(why, "%s: %s", s->key, err);
	if (inet_pton(AF_INET, c->metrics_listen.host, a) != 1 &&
	    inet_pton(AF_INET6, c->metrics_listen.host, a) != 1)
		return say(why, "%s: '%s' is not an IP address (e.g. 127.0.0.1:9477)", s->key,
			   config_quote(q, QUOTE_MAX, value));
	return 0;
}

static int apply_path(const struct setting *s, void *base, const char *value, const char *dir,
		      char *why);

/* public_key = BASE64 or a .pub line: checked here, so a typo is a file:line error. */
static int apply_public_key(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	struct config_key *k = base;

	(void)dir;
	if (keys_parse_public(value, strlen(value), k->public_key) != 0)
		return say(why,
			   "%s: not a public key (expected the line of a .pub file from 'postern "
			   "keygen -t x25519', or its base64)",
			   s->key);
	k->has_public_key = 1;
	return 0;
}

/* public_key_file shares key_file's room: a key is one or the other. */
static int apply_public_key_file(const struct setting *s, void *base, const char *value,
				 const char *dir, char *why)
{
	struct config_key *k = base;

	if (k->key_file[0] != '\0' && !k->key_file_public)
		return say(why,
			   "%s: this key has a key_file already; an identity is one or the other",
			   s->key);
	if (apply_path(s, base, value, dir, why) != 0)
		return -1;
	k->key_file_public = 1;
	return 0;
}

/* fwknop_key_base64 and fwknop_hmac_key_base64: decoded here, so a typo is a file:line
 * error; never echoed, as the value is a secret. */
static int apply_fwknop(const struct setting *s, struct config_key *k, const char *value, int hmac,
			char *why)
{
	uint8_t *out = hmac ? k->fwknop.hmac : k->fwknop.key;
	size_t *len = hmac ? &k->fwknop.hmac_len : &k->fwknop.key_len;
	/* fwknop's Rijndael key is at most 32 bytes; its HMAC key at most 128. */
	size_t max = hmac ? FWKNOP_KEY_MAX : 32;

	if (fwknop_key_from_base64(value, out, max, len) != 0)
		return say(why, "%s: not base64 of 1 to %zu bytes (as 'fwknop -k' prints it)",
			   s->key, max);
	if (hmac)
		k->has_fwknop_hmac = 1;
	else
		k->has_fwknop_key = 1;
	return 0;
}

static int apply_fwknop_key(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	(void)dir;
	return apply_fwknop(s, base, value, 0, why);
}

static int apply_fwknop_hmac(const struct setting *s, void *base, const char *value,
			     const char *dir, char *why)
{
	(void)dir;
	return apply_fwknop(s, base, value, 1, why);
}

/* passphrase_env: a variable's name, as a shell would accept it. */
static int apply_env_name(const struct setting *s, void *base, const char *value, const char *dir,
			  char *why)
{
	char q[QUOTE_MAX + 4];
	size_t n = strlen(value);

	(void)dir;
	if (n == 0 || n > CONFIG_NAME_MAX || (value[0] >= '0' && value[0] <= '9') ||
	    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return say(why, "%s: '%s' is not a variable name", s->key,
			   config_quote(q, QUOTE_MAX, value));
	snprintf((char *)base + s->offset, CONFIG_NAME_MAX + 1, "%s", value);
	return 0;
}

/* server_key: a public key as written, else a path (relative to the profile's file). */
static int apply_server_key(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	uint8_t pub[CRYPTO_KEY_LEN];

	if (keys_parse_public(value, strlen(value), pub) == 0) {
		snprintf(((struct config_client *)base)->server_key, CONFIG_PATH_MAX + 1, "%s",
			 value);
		return 0;
	}
	return apply_path(s, base, value, dir, why);
}

/* [spa] listen: UDP addresses for knocks; port 0 binds a free one (tests). */
static int apply_spa_listen(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	struct config_spa *c = base;
	struct net_endpoint ep;
	char err[NET_ERR_MAX];

	(void)dir;
	if (net_parse_hostport(value, &ep, NULL, 1, err) < 0)
		return say(why, "%s: %s", s->key, err);
	if (config_grow((void **)&c->listen, c->nlisten, sizeof(*c->listen)) < 0)
		return say(why, "%s: too many addresses (max %d)", s->key, CONFIG_LIST_MAX);
	c->listen[c->nlisten++] = ep;
	return 0;
}

static void clear_spa_listen(void *base)
{
	((struct config_spa *)base)->nlisten = 0;
}

/* [fleet] redis: redis://HOST:PORT[/DB] with HOST an IP literal (no blocking name
 * lookup on the loop), unix:/absolute/path, or none. */
static int apply_fleet_redis(const struct setting *s, void *base, const char *value,
			     const char *dir, char *why)
{
	struct config_fleet *c = base;
	char q[QUOTE_MAX + 4], qh[QUOTE_MAX + 4];
	(void)dir;
	if (strcmp(value, "none") == 0) {
		c->redis[0] = '\0';
		return 0;
	}
	if (strlen(value) > CONFIG_PATH_MAX)
		return say(why, "%s: too long", s->key);
	if (strncmp(value, "unix:/", 6) != 0 && strncmp(value, "redis://", 8) != 0)
		return say(why, "%s '%s': expected redis://HOST:PORT/DB or unix:/path", s->key,
			   config_quote(q, QUOTE_MAX, value));
	if (strncmp(value, "redis://", 8) == 0) {
		/* A name would be looked up by a blocking call on the loop: IP addresses only. */
		const char *h = value + 8;
		int br = *h == '[';
		size_t n = br ? strcspn(h + 1, "]") : strcspn(h, ":/");
		char host[64];
		uint8_t tmp[16];
		if (n == 0 || n >= sizeof(host))
			return say(why, "%s '%s': no host", s->key,
				   config_quote(q, QUOTE_MAX, value));
		memcpy(host, h + br, n);
		host[n] = '\0';
		if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, tmp) != 1 &&
		    inet_pton(AF_INET6, host, tmp) != 1)
			return say(why,
				   "%s '%s': '%s' is not an IP address (names are not looked up)",
				   s->key, config_quote(q, QUOTE_MAX, value),
				   config_quote(qh, QUOTE_MAX, host));
	}
	snprintf(c->redis, sizeof(c->redis), "%s", value);
	return 0;
}

/* [fleet] name and prefix: printable words, no space (they go into keys and messages). */
static int apply_fleet_word(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	char *dst = (char *)base + s->offset;
	(void)dir;
	if (strlen(value) > CONFIG_NAME_MAX)
		return say(why, "%s: longer than %d bytes", s->key, CONFIG_NAME_MAX);
	for (const char *p = value; *p; p++)
		if (*p <= ' ' || *p >= 127)
			return say(why, "%s: no spaces or control bytes", s->key);
	if (strcmp(s->key, "prefix") != 0 && value[0] == '\0')
		return say(why, "%s: empty", s->key);
	snprintf(dst, CONFIG_NAME_MAX + 1, "%s", value);
	return 0;
}

/* [spa] guard: tcp/N or udp/N, each pair once, at most FW_NFT_GUARD_MAX. */
static int apply_spa_guard(const struct setting *s, void *base, const char *value, const char *dir,
			   char *why)
{
	struct config_spa *c = base;
	struct spa_access a;
	char err[SPA_GRANT_ERR_MAX], q[QUOTE_MAX + 4];

	(void)dir;
	config_quote(q, QUOTE_MAX, value);
	/* fw_nft's messages start with "guard '...'", as ours start with the key. Its
	 * message comes from the quoted text, which is as wrong as the value (a '?'
	 * or "..." is never a port) but fit for a log line. */
	if (fw_nft_parse_guard(value, &a, err) != 0) {
		(void)fw_nft_parse_guard(q, &a, err);
		return say(why, "%s", err);
	}
	for (unsigned i = 0; i < c->nguard; i++)
		if (c->guard[i].proto == a.proto && c->guard[i].port == a.port)
			return say(why, "%s: %s given twice", s->key, q);
	if (c->nguard >= FW_NFT_GUARD_MAX)
		return say(why, "%s: too many entries (max %d)", s->key, FW_NFT_GUARD_MAX);
	c->guard[c->nguard++] = a;
	return 0;
}

static void clear_spa_guard(void *base)
{
	((struct config_spa *)base)->nguard = 0;
}

/* [spa] nft_table: a plain word, since it is pasted into nftables command text. */
static int apply_nft_table(const struct setting *s, void *base, const char *value, const char *dir,
			   char *why)
{
	char err[SPA_GRANT_ERR_MAX], q[QUOTE_MAX + 4];

	(void)s;
	(void)dir;
	/* As for guard: the message names the quoted text, which fails the same way. */
	if (fw_nft_check_table(value, err) != 0) {
		(void)fw_nft_check_table(config_quote(q, QUOTE_MAX, value), err);
		return say(why, "%s", err);
	}
	snprintf(((struct config_spa *)base)->nft_table, FW_NFT_TABLE_MAX + 1, "%s", value);
	return 0;
}

/* spa_access: tcp/N or udp/N, N in 1..65535. */
static int apply_spa_access(const struct setting *s, void *base, const char *value, const char *dir,
			    char *why)
{
	struct config_key *k = base;
	char q[QUOTE_MAX + 4], *end = NULL;
	uint8_t proto = strncmp(value, "tcp/", 4) == 0	 ? 6
			: strncmp(value, "udp/", 4) == 0 ? 17
							 : 0;

	(void)dir;
	unsigned long port = proto ? strtoul(value + 4, &end, 10) : 0;
	if (proto == 0 || value[4] < '0' || value[4] > '9' || *end != 0 || port < 1 || port > 65535)
		return say(why, "%s: '%s' is not tcp/PORT or udp/PORT", s->key,
			   config_quote(q, QUOTE_MAX, value));
	if (config_grow((void **)&k->spa_access, k->nspa_access, sizeof(*k->spa_access)) < 0)
		return say(why, "%s: too many entries (max %d)", s->key, CONFIG_LIST_MAX);
	k->spa_access[k->nspa_access++] =
	    (struct config_port){.proto = proto, .port = (uint16_t)port};
	return 0;
}

/* spa_forward: an IP literal and a port (DNAT targets need no name lookup). */
static int apply_spa_forward(const struct setting *s, void *base, const char *value,
			     const char *dir, char *why)
{
	struct config_key *k = base;
	struct net_endpoint ep;
	char err[NET_ERR_MAX], q[QUOTE_MAX + 4];
	uint8_t tmp[16];

	(void)dir;
	if (net_parse_hostport(value, &ep, NULL, 0, err) < 0)
		return say(why, "%s: %s", s->key, err);
	if (inet_pton(AF_INET, ep.host, tmp) != 1 && inet_pton(AF_INET6, ep.host, tmp) != 1)
		return say(why, "%s: '%s': the host must be an IP address", s->key,
			   config_quote(q, QUOTE_MAX, value));
	if (config_grow((void **)&k->spa_forward, k->nspa_forward, sizeof(*k->spa_forward)) < 0)
		return say(why, "%s: too many entries (max %d)", s->key, CONFIG_LIST_MAX);
	k->spa_forward[k->nspa_forward++] = ep;
	return 0;
}

/* ---- the tables ---- */

#define GATEWAY_WORDS "no, yes or clientspecified"

static const struct setting server_table[] = {
    {.key = "listen",
     .flag = "listen",
     .short_flag = 'l',
     .arg = "HOST:PORT",
     .type = SETTINGS_LIST,
     SRV(listen),
     .help = "address to listen on; [V6ADDR]:PORT for IPv6; repeatable (-l replaces the "
	     "file's list)",
     .apply = apply_listen,
     .clear = clear_listen,
     .flags = SETTINGS_F_REPLACE},
    {.key = "key_file",
     .flag = "key",
     .short_flag = 'k',
     .arg = "FILE",
     .type = SETTINGS_PATH,
     KEY(key_file),
     .help = "key file (postern keygen); on the command line: the single key 'default' "
	     "(quick mode)"},
    {.key = "public_key",
     .flag = "public-key",
     .arg = "BASE64",
     .type = SETTINGS_VALUE,
     KEY(public_key),
     .help = "a public-key identity (Noise IK) in place of key_file: the line of the "
	     "client's .pub file (postern keygen -t x25519), or its base64; needs host_key",
     .apply = apply_public_key},
    {.key = "public_key_file",
     .flag = "public-key-file",
     .arg = "FILE",
     .type = SETTINGS_VALUE,
     KEY(key_file),
     .help = "as public_key, read from the client's .pub file (in place of key_file)",
     .apply = apply_public_key_file},
    /* fwknop compatibility */
    {.key = "fwknop_key_base64",
     .type = SETTINGS_VALUE,
     KEY(fwknop),
     .help = "fwknop clients' Rijndael key (fwknopd's KEY_BASE64, as 'fwknop -k' prints "
	     "it); with fwknop_hmac_key_base64 the identity accepts fwknop 2.x knocks; the "
	     "file must then be mode 0600",
     .apply = apply_fwknop_key},
    {.key = "fwknop_hmac_key_base64",
     .type = SETTINGS_VALUE,
     KEY(fwknop),
     .help = "fwknop clients' HMAC-SHA256 key (fwknopd's HMAC_KEY_BASE64); without "
	     "key_file or public_key the identity may only knock",
     .apply = apply_fwknop_hmac},
    {.key = "identity_dir",
     .flag = "identity-dir",
     .arg = "DIR",
     .type = SETTINGS_PATH,
     SRV(identity_dir),
     .help = "a directory of identity files, one per identity named by its file name, each "
	     "holding the settings of a [key] stanza (public_key, permit_open, ...)"},
    {.key = "host_key",
     .flag = "host-key",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     SRV(host_key),
     .help = "the server's x25519 private key (postern keygen -t x25519); needed by "
	     "public-key identities, whose clients pin its .pub"},
    {.key = "passphrase_file",
     .flag = "passphrase-file",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     SRV(passphrase_file),
     .help = "encrypted key files' passphrase (host_key, key_file): the first line of FILE"},
    {.key = "passphrase_env",
     .flag = "passphrase-env",
     .arg = "VAR",
     .type = SETTINGS_VALUE,
     SRV(passphrase_env),
     .help = "encrypted key files' passphrase: the environment variable VAR",
     .apply = apply_env_name},
    {.key = "askpass",
     .flag = "askpass",
     .arg = "PROG",
     .type = SETTINGS_PATH,
     SRV(askpass),
     .help = "encrypted key files' passphrase: what PROG prints (default $POSTERN_ASKPASS, "
	     "else the terminal asks)"},
    {.key = "dh_rate",
     .flag = "dh-rate",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(dh_rate),
     .min = 1,
     .max = 100000,
     .scale = 1,
     .unit = "per second",
     .def = "20",
     .help = "first messages with a valid mac1 (each costs the server a DH) one source "
	     "(/64 for IPv6) may send per second; beyond it they are refused unread"},
    {.key = "dh_burst",
     .flag = "dh-burst",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(dh_burst),
     .min = 1,
     .max = 100000,
     .scale = 1,
     .unit = "messages",
     .def = "40",
     .help = "how many such messages a source may send at once before dh_rate applies"},
    {.key = "permit_open",
     .flag = "permit-open",
     .arg = "SPEC",
     .type = SETTINGS_LIST,
     KEY(permit),
     .help = "what the key may reach (-L/-D): HOST:PORT, *:PORT, HOST:*, ADDR/BITS:PORT, "
	     "[V6/BITS]:PORT, any, or a Unix socket path or glob; repeatable (default: "
	     "nothing)",
     .apply = apply_permit_open},
    {.key = "permit_listen",
     .flag = "permit-listen",
     .arg = "SPEC",
     .type = SETTINGS_LIST,
     KEY(permit_listen),
     .help = "what the key may listen on (-R): [HOST:]PORT, [HOST:]*, any, or a Unix "
	     "socket path; repeatable (default: nothing)",
     .apply = apply_permit_listen},
    {.key = "allow_forwarding",
     .flag = "allow-forwarding",
     .arg = "yes|no|local|remote",
     .type = SETTINGS_WORDS,
     KEY(allow_forwarding),
     .def = "yes",
     .help = "directions the key may use (local covers -L and -D)",
     .words = "yes, no, local or remote",
     .word = config_forwarding_parse},
    {.key = "allow_unix_forwarding",
     .flag = "allow-unix-forwarding",
     .arg = "yes|no",
     .type = SETTINGS_BOOL,
     KEY(allow_unix_forwarding),
     .def = "no",
     .help = "whether the key may use Unix socket targets and listeners",
     .words = "yes or no"},
    {.key = "gateway_ports",
     .type = SETTINGS_WORDS,
     KEY(gateway_ports),
     .help = "a key's own gateway_ports (default: [server]'s)",
     .words = GATEWAY_WORDS,
     .word = config_gateway_parse},
    {.key = "gateway_ports",
     .flag = "gateway-ports",
     .arg = "no|yes|clientspecified",
     .type = SETTINGS_WORDS,
     SRV(gateway_ports),
     .def = "no",
     .help = "what -R listeners bind: 127.0.0.1, all addresses, or the client's choice "
	     "(a [key]'s own setting wins)",
     .words = GATEWAY_WORDS,
     .word = config_gateway_parse},
    {.key = "reject_delay",
     .flag = "reject-delay",
     .arg = "MIN-MAX",
     .type = SETTINGS_RANGE,
     SRV(reject_delay_min_ms),
     .min = 0,
     .max = 60,
     .unit = "seconds",
     .def = "1-3",
     .help = "reset every refused peer after a random delay, counted from accept"},
    {.key = "preauth_timeout",
     .flag = "preauth-timeout",
     .arg = "SEC",
     .type = SETTINGS_REMOVED,
     .scope = SETTINGS_IN_SERVER,
     .help = "was folded into reject_delay: a peer that has not sent its whole first "
	     "message by its reject delay is refused then"},
    {.key = "replay_window",
     .flag = "replay-window",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     SRV(replay_window_s),
     .min = 1,
     .max = 3600,
     .scale = 1,
     .unit = "seconds",
     .def = "120",
     .help = "accepted clock skew of first messages"},
    {.key = "replay_cache",
     .flag = "replay-cache",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(replay_cache),
     .min = 1024,
     .max = 16777216,
     .scale = 1,
     .unit = "fingerprints",
     .def = "262144",
     .help = "first-message fingerprints remembered, all keys together"},
    {.key = "replay_quota",
     .flag = "replay-quota",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(replay_quota),
     .min = 16,
     .max = 16777216,
     .scale = 1,
     .unit = "fingerprints",
     .def = "16384",
     .help = "fingerprints one key may hold in the replay cache"},
    {.key = "state_dir",
     .flag = "state-dir",
     .arg = "DIR",
     .type = SETTINGS_PATH,
     SRV(state_dir),
     .def = "auto",
     .help = "where the replay cache persists across restarts; 'auto': /var/lib/postern for root, "
	     "else $XDG_STATE_HOME/postern (~/.local/state/postern); 'none': nowhere (a warning)"},
    {.key = "ban_threshold",
     .flag = "ban-threshold",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(ban_threshold),
     .min = 1,
     .max = 1000000,
     .scale = 1,
     .unit = "failures",
     .def = "5",
     .help = "failures that ban a source"},
    {.key = "ban_window",
     .flag = "ban-window",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     SRV(ban_window_s),
     .min = 1,
     .max = 86400,
     .scale = 1,
     .unit = "seconds",
     .def = "60",
     .help = "... within this many seconds"},
    {.key = "ban_time",
     .flag = "ban-time",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     SRV(ban_time_s),
     .min = 1,
     .max = 31536000,
     .scale = 1,
     .unit = "seconds",
     .def = "600",
     .help = "how long a ban lasts"},
    {.key = "ban_exempt",
     .flag = "ban-exempt",
     .arg = "ADDR[/BITS]",
     .type = SETTINGS_LIST,
     SRV(ban_exempt),
     .help = "a source never banned; repeatable (a flag replaces the file's list)",
     .apply = apply_ban_exempt,
     .clear = clear_ban_exempt,
     .flags = SETTINGS_F_REPLACE},
    {.key = "max_unauth",
     .flag = "max-unauth",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(max_unauth),
     .min = 1,
     .max = 1000000,
     .scale = 1,
     .unit = "connections",
     .def = "64",
     .help = "unauthenticated connections at once"},
    {.key = "max_unauth_per_source",
     .flag = "max-unauth-per-source",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(max_unauth_per_source),
     .min = 1,
     .max = 1000000,
     .scale = 1,
     .unit = "connections",
     .def = "8",
     .help = "... from one source address (IPv6: one /64)"},
    {.key = "max_refusals",
     .flag = "max-refusals",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(max_refusals),
     .min = 16,
     .max = 1000000,
     .scale = 1,
     .unit = "connections",
     .def = "4096",
     .help = "refused connections held until their delayed reset"},
    {.key = "max_sessions",
     .flag = "max-sessions",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(max_sessions),
     .min = 1,
     .max = 1000000,
     .scale = 1,
     .unit = "sessions",
     .def = "1024",
     .help = "sessions at once"},
    {.key = "max_channels",
     .flag = "max-channels",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(max_channels),
     .min = 1,
     .max = 65536,
     .scale = 1,
     .unit = "channels",
     .def = "16384",
     .help = "channels open at once in one session"},
    {.key = "session_buffer",
     .flag = "session-buffer",
     .arg = "MIB",
     .type = SETTINGS_UINT,
     SRV(session_buffer_mib),
     .min = 4,
     .max = 65536,
     .scale = 1,
     .unit = "MiB",
     .def = "64",
     .help = "channel data buffered for one session"},
    {.key = "server_buffer",
     .flag = "server-buffer",
     .arg = "MIB",
     .type = SETTINGS_UINT,
     SRV(server_buffer_mib),
     .min = 4,
     .max = 1048576,
     .scale = 1,
     .unit = "MiB",
     .def = "1024",
     .help = "channel data buffered by the whole server"},
    {.key = "max_fds",
     .flag = "max-fds",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(max_fds),
     .min = 0,
     .max = 16777216,
     .scale = 1,
     .unit = "descriptors",
     .def = "0",
     .help = "descriptor budget (0: the RLIMIT_NOFILE hard limit, raised at start)"},
    {.key = "control",
     .flag = "control",
     .arg = "PATH",
     .type = SETTINGS_PATH,
     SRV(control),
     .help = "control socket for postern status, ctl and metrics (mode 0600; none if unset)"},
    {.key = "control_group",
     .flag = "control-group",
     .arg = "GROUP",
     .type = SETTINGS_VALUE,
     SRV(control_group),
     .def = "",
     .help = "members of this group may use the control socket too (mode 0660)",
     .apply = apply_srv_group},
    {.key = "control_max",
     .flag = "control-max",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(control_max),
     .min = 1,
     .max = 1024,
     .scale = 1,
     .unit = "connections",
     .def = "8",
     .help = "control socket connections served at once (more are closed at once)"},
    {.key = "control_request_max",
     .flag = "control-request-max",
     .arg = "BYTES",
     .type = SETTINGS_UINT,
     SRV(control_request_max),
     .min = 64,
     .max = 1024,
     .scale = 1,
     .unit = "bytes",
     .def = "512",
     .help = "longest control request line"},
    {.key = "control_output_max",
     .flag = "control-output-max",
     .arg = "BYTES",
     .type = SETTINGS_UINT,
     SRV(control_output_max),
     .min = 4096,
     .max = 67108864,
     .scale = 1,
     .unit = "bytes",
     .def = "1048576",
     .help = "largest control answer (status of many sessions is cut there, marked truncated)"},
    {.key = "metrics_listen",
     .flag = "metrics-listen",
     .arg = "ADDR:PORT",
     .type = SETTINGS_VALUE,
     SRV(metrics_listen),
     .def = "",
     .help = "also serve GET /metrics (Prometheus) over HTTP here, e.g. 127.0.0.1:9477; no "
	     "authentication: loopback or a monitoring network only",
     .apply = apply_metrics_listen},
    {.key = "pid_file",
     .flag = "pid-file",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     SRV(pid_file),
     .help = "write the process id here at start (before the privilege drop) and remove it "
	     "at exit; none if unset"},
    {.key = "user",
     .flag = "user",
     .arg = "NAME",
     .type = SETTINGS_VALUE,
     SRV(user),
     .def = "",
     .help = "after binding and opening the state directory, run as this user (its group and "
	     "supplementary groups); '' keeps the starting user",
     .apply = apply_user},
    {.key = "log",
     .flag = "log",
     .arg = "stderr|syslog",
     .type = SETTINGS_WORDS,
     SRV(log_sink),
     .def = "stderr",
     .help = "where log lines go: stderr, or syslog (facility daemon; the journal takes either)",
     .words = "stderr or syslog",
     .word = config_log_parse,
     .alias = "syslog",
     .alias_value = "syslog"},
    {.key = "log_rate",
     .flag = "log-rate",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(log_rate),
     .min = 1,
     .max = 100000,
     .scale = 1,
     .unit = "lines per second",
     .def = "20",
     .help = "log lines peers may cause per second, per kind: refusals, knock refusals, knock "
	     "grants (the rest are counted)"},
    {.key = "keepalive",
     .flag = "keepalive",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     SRV(keepalive_s),
     .min = 0,
     .max = 3600,
     .scale = 1,
     .unit = "seconds",
     .def = "10",
     .help = "ping idle sessions every SEC seconds; a peer silent for 3 x SEC is dead (0: "
	     "off)"},
    {.key = "rekey_records",
     .flag = "rekey-records",
     .arg = "N",
     .type = SETTINGS_UINT,
     SRV(rekey_records),
     .min = 1,
     .max = 1u << 30,
     .scale = 1,
     .unit = "records",
     .def = "1048576",
     .help = "rekey our sending key after N records (and after 10 minutes)"},
    {.key = "busy_poll",
     .flag = "busy-poll",
     .arg = "USEC",
     .type = SETTINGS_UINT,
     SRV(busy_poll_us),
     .min = 0,
     .max = BUSYPOLL_MAX_US,
     .scale = 1,
     .unit = "microseconds",
     .def = "100",
     .help = "after activity, poll this long before sleeping, while events come back to "
	     "back (0: off)"},
    {.key = "listen",
     .flag = "spa-listen",
     .arg = "HOST:PORT",
     .type = SETTINGS_LIST,
     SPA(listen),
     .help = "[spa]: UDP address for knocks (single packet authorization), e.g. "
	     "0.0.0.0:62201 or [::]:62201; repeatable; none: SPA off, the tunnel ports "
	     "stay open to all",
     .apply = apply_spa_listen,
     .clear = clear_spa_listen,
     .flags = SETTINGS_F_REPLACE},
    {.key = "backend",
     .flag = "spa-backend",
     .arg = "listener|nftables",
     .type = SETTINGS_WORDS,
     SPA(backend),
     .def = "listener",
     .help = "[spa]: what a grant opens: listener (a cBPF filter on the tunnel listeners, "
	     "no privilege) or nftables (a postern table, CAP_NET_ADMIN)",
     .words = "listener or nftables",
     .word = config_spa_backend_parse},
    {.key = "grant_timeout",
     .flag = "grant-timeout",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     SPA(grant_timeout_s),
     .min = 1,
     .max = 86400,
     .scale = 1,
     .unit = "seconds",
     .def = "30",
     .help = "[spa]: how long a knock's grant lasts when it asks for no time"},
    {.key = "max_grants",
     .flag = "max-grants",
     .arg = "N",
     .type = SETTINGS_UINT,
     SPA(max_grants),
     .min = 1,
     .max = 65536,
     .scale = 1,
     .unit = "grants",
     .def = "1024",
     .help = "[spa]: live grants, all identities together (the listener backend also "
	     "caps the sources one cBPF program holds)"},
    {.key = "knock_cache",
     .flag = "knock-cache",
     .arg = "N",
     .type = SETTINGS_UINT,
     SPA(knock_cache),
     .min = 1024,
     .max = 16777216,
     .scale = 1,
     .unit = "fingerprints",
     .def = "65536",
     .help = "[spa]: accepted knocks remembered (and persisted in knock.log) to refuse "
	     "replays"},
    {.key = "receive",
     .flag = "spa-receive",
     .arg = "socket|ring",
     .type = SETTINGS_WORDS,
     SPA(receive),
     .def = "socket",
     .help = "[spa]: how knocks are read: socket (recvmmsg, no privilege) or ring (a "
	     "packet ring, CAP_NET_RAW: a wake-up per block of packets, no system call per "
	     "packet; it also sees knocks the host routes to others)",
     .words = "socket or ring",
     .word = config_spa_receive_parse},
    {.key = "ring_size",
     .flag = "spa-ring-size",
     .arg = "KIB",
     .type = SETTINGS_UINT,
     SPA(ring_kib),
     .min = 128,
     .max = 65536,
     .scale = 1,
     .unit = "KiB",
     .def = "4096",
     .help = "[spa]: receive = ring: memory of each listen address's ring (64 KiB blocks); "
	     "a flood that fills it is dropped in the kernel and counted"},
    /* [spa] nftables backend */
    {.key = "guard",
     .flag = "spa-guard",
     .arg = "tcp/N|udp/N",
     .type = SETTINGS_LIST,
     SPA(guard),
     .help = "[spa]: a port the nftables backend default-drops until a knock opens it; "
	     "repeatable; list the ports forward grants use too (default: none)",
     .apply = apply_spa_guard,
     .clear = clear_spa_guard,
     .flags = SETTINGS_F_REPLACE},
    {.key = "nft_table",
     .flag = "nft-table",
     .arg = "NAME",
     .type = SETTINGS_VALUE,
     SPA(nft_table),
     .def = "postern",
     .help = "[spa]: the inet table the nftables backend owns (letters, digits, '_'); "
	     "no other table is touched",
     .apply = apply_nft_table},
    {.key = "nft_remove_on_exit",
     .flag = "nft-remove-on-exit",
     .arg = "yes|no",
     .type = SETTINGS_BOOL,
     SPA(nft_remove_on_exit),
     .def = "yes",
     .help = "[spa]: yes: delete the table at shutdown; no: keep it, so guarded ports stay "
	     "closed and live grants run out in the kernel",
     .words = "yes or no"},
    {.key = "ip_forward",
     .flag = "ip-forward",
     .arg = "check|set|ignore",
     .type = SETTINGS_WORDS,
     SPA(ip_forward),
     .def = "check",
     .help = "[spa]: forward grants need the kernel's forwarding on: check = refuse them "
	     "while it is off, set = turn it on, ignore = grant anyway",
     .words = "check, set or ignore",
     .word = fw_nft_parse_ip_forward},
    {.key = "redis",
     .flag = "fleet-redis",
     .arg = "URL",
     .type = SETTINGS_VALUE,
     FLEET(redis),
     .def = "none",
     .help = "[fleet]: the Redis the gateways share replay, bans and grants through: "
	     "redis://IP:PORT/DB or unix:/path; none: no fleet",
     .apply = apply_fleet_redis},
    {.key = "name",
     .flag = "fleet-name",
     .arg = "NAME",
     .type = SETTINGS_VALUE,
     FLEET(name),
     .help = "[fleet]: this gateway's name in logs, status and grants' origin (default: "
	     "the host name)",
     .apply = apply_fleet_word},
    {.key = "prefix",
     .flag = "fleet-prefix",
     .arg = "TEXT",
     .type = SETTINGS_VALUE,
     FLEET(prefix),
     .def = "postern:",
     .help = "[fleet]: prefix of every Redis key and channel, so several fleets share one "
	     "Redis",
     .apply = apply_fleet_word},
    {.key = "password_file",
     .flag = "fleet-password-file",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     FLEET(password_file),
     .help = "[fleet]: file holding the Redis password (sent in AUTH); unset: no AUTH"},
    {.key = "key_file",
     .flag = "fleet-key",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     FLEET(key_file),
     .help = "[fleet]: a key shared by every gateway of the fleet (postern keygen); replay "
	     "fingerprints in Redis are HMACs under it, so Redis never sees a value it could "
	     "match to traffic; required with redis"},
    {.key = "timeout",
     .flag = "fleet-timeout",
     .arg = "MS",
     .type = SETTINGS_UINT,
     FLEET(timeout_ms),
     .min = 10,
     .max = 10000,
     .scale = 1,
     .unit = "milliseconds",
     .def = "200",
     .help = "[fleet]: longest wait for a Redis connect or answer; then the gateway "
	     "serves from its local state (or refuses, with fail_closed)"},
    {.key = "fail_closed",
     .flag = "fleet-fail-closed",
     .arg = "yes|no",
     .type = SETTINGS_BOOL,
     FLEET(fail_closed),
     .def = "no",
     .help = "[fleet]: while Redis is down or slow, refuse new sessions and knocks "
	     "instead of risking a replay across gateways",
     .words = "yes or no"},
    {.key = "max_pending",
     .flag = "fleet-max-pending",
     .arg = "N",
     .type = SETTINGS_UINT,
     FLEET(max_pending),
     .min = 16,
     .max = 65536,
     .scale = 1,
     .unit = "commands",
     .def = "1024",
     .help = "[fleet]: Redis commands in flight; beyond it a session is judged as with "
	     "Redis down"},
    {.key = "spa_access",
     .flag = "spa-access",
     .arg = "tcp/N|udp/N",
     .type = SETTINGS_LIST,
     KEY(spa_access),
     .help = "what a knock under the key may open; repeatable (default: the tunnel's "
	     "listen ports over tcp)",
     .apply = apply_spa_access},
    {.key = "spa_max_grant",
     .flag = "spa-max-grant",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     KEY(spa_max_grant_s),
     .min = 1,
     .max = 86400,
     .scale = 1,
     .unit = "seconds",
     .def = "300",
     .help = "the longest grant a knock under the key may ask for"},
    {.key = "spa_forward",
     .flag = "spa-forward",
     .arg = "ADDR:PORT",
     .type = SETTINGS_LIST,
     KEY(spa_forward),
     .help = "a forward (DNAT) target a knock under the key may ask for; repeatable "
	     "(default: none)",
     .apply = apply_spa_forward},
    {.key = "spa_masquerade",
     .flag = "spa-masquerade",
     .arg = "yes|no",
     .type = SETTINGS_BOOL,
     KEY(spa_masquerade),
     .def = "no",
     .help = "masquerade the key's forwarded grants (SNAT to the gateway's address)",
     .words = "yes or no"},
    {.key = "spa_trust_address",
     .flag = "spa-trust-address",
     .arg = "yes|no",
     .type = SETTINGS_BOOL,
     KEY(spa_trust_address),
     .def = "no",
     .help = "open the address a knock names instead of its source (else such a knock is "
	     "refused)",
     .words = "yes or no"},
};

static const struct setting client_table[] = {
    {.key = "server",
     .type = SETTINGS_VALUE,
     CLI(server),
     .help = "the server, HOST:PORT ([V6ADDR]:PORT); on the command line the positional "
	     "SERVER:PORT",
     .apply = apply_server},
    {.key = "key_file",
     .flag = "key",
     .short_flag = 'k',
     .arg = "FILE",
     .type = SETTINGS_PATH,
     CLI(key_file),
     .help = "key file (postern keygen): a pre-shared key, or an x25519 private key "
	     "(then server_key is needed)"},
    {.key = "server_key",
     .flag = "server-key",
     .arg = "FILE|BASE64",
     .type = SETTINGS_VALUE,
     CLI(server_key),
     .help = "the server's public key (its host_key's .pub file, or the line or base64): "
	     "pins the server; with an x25519 key_file the handshake is Noise IK",
     .apply = apply_server_key},
    {.key = "passphrase_file",
     .flag = "passphrase-file",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     CLI(passphrase_file),
     .help = "an encrypted key_file's passphrase: the first line of FILE"},
    {.key = "passphrase_env",
     .flag = "passphrase-env",
     .arg = "VAR",
     .type = SETTINGS_VALUE,
     CLI(passphrase_env),
     .help = "an encrypted key_file's passphrase: the environment variable VAR",
     .apply = apply_env_name},
    {.key = "askpass",
     .flag = "askpass",
     .arg = "PROG",
     .type = SETTINGS_PATH,
     CLI(askpass),
     .help = "an encrypted key_file's passphrase: what PROG prints (default "
	     "$POSTERN_ASKPASS, else the terminal asks)"},
    {.key = "local_forward",
     .flag = "local",
     .short_flag = 'L',
     .arg = "[BIND:]PORT:HOST:HOSTPORT",
     .type = SETTINGS_LIST,
     CLI(local),
     .help = "local forward (bind defaults to 127.0.0.1; IPv6 in brackets; either side may "
	     "be a Unix socket path); repeatable",
     .apply = apply_local},
    {.key = "remote_forward",
     .flag = "remote",
     .short_flag = 'R',
     .arg = "[BIND:]PORT:HOST:HOSTPORT",
     .type = SETTINGS_LIST,
     CLI(remote),
     .help = "remote forward: the server listens (port 0: allocated and reported); "
	     "repeatable",
     .apply = apply_remote},
    {.key = "dynamic_forward",
     .flag = "dynamic",
     .short_flag = 'D',
     .arg = "[BIND:]PORT",
     .type = SETTINGS_LIST,
     CLI(dynamic),
     .help = "SOCKS 4/4a/5 entrance (or a Unix socket path); repeatable",
     .apply = apply_dynamic},
    {.key = "control",
     .flag = "control",
     .arg = "PATH",
     .type = SETTINGS_PATH,
     CLI(control),
     .help = "control socket for postern status, ctl and metrics (mode 0600; none if unset)"},
    {.key = "control_group",
     .flag = "control-group",
     .arg = "GROUP",
     .type = SETTINGS_VALUE,
     CLI(control_group),
     .def = "",
     .help = "members of this group may use the control socket too (mode 0660)",
     .apply = apply_cli_group},
    {.key = "control_max",
     .flag = "control-max",
     .arg = "N",
     .type = SETTINGS_UINT,
     CLI(control_max),
     .min = 1,
     .max = 1024,
     .scale = 1,
     .unit = "connections",
     .def = "8",
     .help = "control socket connections served at once (more are closed at once)"},
    {.key = "control_request_max",
     .flag = "control-request-max",
     .arg = "BYTES",
     .type = SETTINGS_UINT,
     CLI(control_request_max),
     .min = 64,
     .max = 1024,
     .scale = 1,
     .unit = "bytes",
     .def = "512",
     .help = "longest control request line"},
    {.key = "control_output_max",
     .flag = "control-output-max",
     .arg = "BYTES",
     .type = SETTINGS_UINT,
     CLI(control_output_max),
     .min = 4096,
     .max = 67108864,
     .scale = 1,
     .unit = "bytes",
     .def = "1048576",
     .help = "largest control answer (status of many sessions is cut there, marked truncated)"},
    {.key = "log",
     .flag = "log",
     .arg = "stderr|syslog",
     .type = SETTINGS_WORDS,
     CLI(log_sink),
     .def = "stderr",
     .help = "where log lines go: stderr, or syslog (facility daemon; the journal takes either)",
     .words = "stderr or syslog",
     .word = config_log_parse,
     .alias = "syslog",
     .alias_value = "syslog"},
    {.key = "stdio",
     .flag = "stdio",
     .short_flag = 'W',
     .arg = "HOST:PORT",
     .type = SETTINGS_VALUE,
     CLI(stdio),
     .def = "",
     .help = "stdio mode (ssh -W): one channel to HOST:PORT on stdin and stdout, no local "
	     "port; exits when either side closes (for ProxyCommand)",
     .apply = apply_stdio},
    {.key = "exit_on_forward_failure",
     .flag = "exit-on-forward-failure",
     .type = SETTINGS_BOOL,
     CLI(exit_on_forward_failure),
     .def = "yes",
     .help = "exit when a forward cannot be set up",
     .words = "yes or no"},
    {.key = "admit",
     .flag = "admit",
     .arg = "POLICY",
     .type = SETTINGS_LIST,
     CLI(admit_default),
     .def = "same-user",
     .help = "who may use the -L/-D given just before it (before any: every forward "
	     "without its own): any, loopback, same-user, uid:N,..., exe:/PATH,..., "
	     "same-process-tree, ask; several terms (quoted, space-separated) must all hold",
     .apply = apply_admit},
    {.key = "ask_program",
     .flag = "ask-program",
     .arg = "FILE",
     .type = SETTINGS_PATH,
     CLI(ask_program),
     .help = "approval program for admit ask (env POSTERN_PID, _EXE, _UID, _DEST; exit 0 "
	     "allows, 3 allows that executable, 4 refuses it, else refuses); none: ask on "
	     "the terminal when in the foreground"},
    {.key = "ask_timeout",
     .flag = "ask-timeout",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     CLI(ask_timeout_ms),
     .min = 1,
     .max = 3600,
     .scale = 1000,
     .unit = "seconds",
     .def = "30",
     .help = "refuse a connection whose approval program has not answered by then"},
    {.key = "admit_pending",
     .flag = "admit-pending",
     .arg = "N",
     .type = SETTINGS_UINT,
     CLI(admit_pending),
     .min = 1,
     .max = 65536,
     .scale = 1,
     .unit = "connections",
     .def = "64",
     .help = "connections awaiting an admission verdict at once (the rest are reset)"},
    {.key = "cipher",
     .flag = "cipher",
     .arg = "NAME",
     .type = SETTINGS_VALUE,
     CLI(cipher),
     .def = "auto",
     .help = "chacha20-poly1305, aes-256-gcm or auto",
     .words = "chacha20-poly1305, aes-256-gcm or auto",
     .apply = apply_cipher},
    {.key = "keepalive",
     .flag = "keepalive",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     CLI(keepalive_s),
     .min = 0,
     .max = 3600,
     .scale = 1,
     .unit = "seconds",
     .def = "10",
     .help = "ping an idle session every SEC seconds; a server silent for 3 x SEC is dead, "
	     "so the default notices within 30 s (0: off)"},
    {.key = "rekey_records",
     .flag = "rekey-records",
     .arg = "N",
     .type = SETTINGS_UINT,
     CLI(rekey_records),
     .min = 1,
     .max = 1u << 30,
     .scale = 1,
     .unit = "records",
     .def = "1048576",
     .help = "rekey our sending key after N records (and after 10 minutes)"},
    {.key = "busy_poll",
     .flag = "busy-poll",
     .arg = "USEC",
     .type = SETTINGS_UINT,
     CLI(busy_poll_us),
     .min = 0,
     .max = BUSYPOLL_MAX_US,
     .scale = 1,
     .unit = "microseconds",
     .def = "100",
     .help = "after activity, poll this long before sleeping, while events come back to "
	     "back (0: off)"},
    {.key = "reconnect_max",
     .flag = "reconnect-max",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     CLI(reconnect_max_s),
     .min = 1,
     .max = 3600,
     .scale = 1,
     .unit = "seconds",
     .def = "30",
     .help = "ceiling of the reconnect backoff"},
    {.key = "connect_timeout",
     .flag = "connect-timeout",
     .arg = "SEC",
     .type = SETTINGS_UINT,
     CLI(connect_timeout_ms),
     .min = 1,
     .max = 3600,
     .scale = 1000,
     .unit = "seconds",
     .def = "10",
     .help = "give up on a connect and handshake after SEC"},
    {.key = "connect_attempts",
     .flag = "connect-attempts",
     .arg = "N",
     .type = SETTINGS_UINT,
     CLI(connect_attempts),
     .min = 0,
     .max = 1000,
     .scale = 1,
     .unit = "attempts",
     .def = "3",
     .help = "connect attempts before giving up (0: keep trying forever)"},
    {.key = "knock",
     .flag = "knock",
     .type = SETTINGS_BOOL,
     CLI(knock),
     .def = "no",
     .help = "send a knock (single packet authorization) for the server's port before "
	     "every connect attempt",
     .words = "yes or no"},
    {.key = "knock_port",
     .flag = "knock-port",
     .arg = "PORT",
     .type = SETTINGS_UINT,
     CLI(knock_port),
     .min = 1,
     .max = 65535,
     .scale = 1,
     .unit = "port",
     .def = "62201",
     .help = "the server's UDP knock port"},
    {.key = "knock_wait",
     .flag = "knock-wait",
     .arg = "MSEC",
     .type = SETTINGS_UINT,
     CLI(knock_wait_ms),
     .min = 0,
     .max = 10000,
     .scale = 1,
     .unit = "milliseconds",
     .def = "100",
     .help = "pause between a knock and the connect, for the server to open the port"},
};

const struct setting *settings_table(enum settings_role role, size_t *n)
{
	if (role == SETTINGS_SERVER) {
		*n = NUM(server_table);
		return server_table;
	}
	*n = NUM(client_table);
	return client_table;
}

const struct setting *settings_find(enum settings_role role, enum settings_scope scope,
				    const char *key)
{
	size_t n, i;
	const struct setting *t = settings_table(role, &n);

	for (i = 0; key && i < n; i++)
		if (t[i].scope == scope && strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

/* ---- applying a value ---- */

/* Strict decimal: no sign, blanks or suffix. 1 = digits but too big for 32 bits. */
static int parse_decimal(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (!*s)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v <= 0xffffffffull)
			v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int apply_uint(const struct setting *s, void *base, const char *value, char *why)
{
	char q[QUOTE_MAX + 4];
	unsigned long long v;

	if (parse_decimal(value, &v) < 0)
		return say(why, "%s: bad value '%s' (expected %u..%u %s)", s->key,
			   config_quote(q, QUOTE_MAX, value), s->min, s->max, s->unit);
	if (v < s->min || v > s->max)
		return say(why, "%s: '%s' is out of range %u..%u", s->key,
			   config_quote(q, QUOTE_MAX, value), s->min, s->max);
	*uint_at(base, s) = (unsigned)v * s->scale;
	return 0;
}

/* "MIN-MAX" or a single "N" (a fixed delay); the max field follows the min field. */
static int apply_range(const struct setting *s, void *base, const char *value, char *why)
{
	char q[QUOTE_MAX + 4], lo[16];
	const char *dash = strchr(value, '-');
	const char *hi = value;
	unsigned long long min, max;
	size_t n = strlen(value);
	unsigned *f = uint_at(base, s);

	if (dash) {
		n = (size_t)(dash - value);
		hi = dash + 1;
	}
	if (n >= sizeof(lo))
		goto bad;
	memcpy(lo, value, n);
	lo[n] = '\0';
	if (parse_decimal(lo, &min) < 0 || parse_decimal(hi, &max) < 0 || min > s->max ||
	    max > s->max || min > max)
		goto bad;
	f[0] = (unsigned)min * 1000;
	f[1] = (unsigned)max * 1000;
	return 0;
bad:
	return say(why, "%s: bad value '%s' (expected MIN-MAX %s, %u..%u, MIN <= MAX)", s->key,
		   config_quote(q, QUOTE_MAX, value), s->unit, s->min, s->max);
}

/* Relative paths are relative to the config file, so a config moves with its keys. */
static int apply_path(const struct setting *s, void *base, const char *value, const char *dir,
		      char *why)
{
	char *out = (char *)base + s->offset;
	int n;

	if (value[0] == '\0')
		return say(why, "%s: empty path", s->key);
	if (value[0] == '/' || dir == NULL || dir[0] == '\0' || strcmp(value, "none") == 0)
		n = snprintf(out, CONFIG_PATH_MAX + 1, "%s", value);
	else if (strcmp(dir, "/") == 0)
		n = snprintf(out, CONFIG_PATH_MAX + 1, "/%s", value);
	else
		n = snprintf(out, CONFIG_PATH_MAX + 1, "%s/%s", dir, value);
	if (n < 0 || n > CONFIG_PATH_MAX) {
		out[0] = '\0';
		return say(why, "%s: path too long (max %d bytes)", s->key, CONFIG_PATH_MAX);
	}
	return 0;
}

int settings_apply(const struct setting *s, void *base, const char *value, const char *dir,
		   char *why)
{
	char q[QUOTE_MAX + 4];
	int v;

	if (!s || !base || !value)
		return say(why, "%s: nothing to parse", s ? s->key : "setting");
	/* A pasted key must never come back out in a message (the INI reader
	 * refuses such lines before they get here; flags do not pass it). */
	if (strstr(value, "postern-psk"))
		return say(why, "%s: this looks like a key; keys belong in a key file", s->key);
	switch (s->type) {
	case SETTINGS_UINT:
		return apply_uint(s, base, value, why);
	case SETTINGS_BOOL:
		v = config_yesno_parse(value);
		if (v < 0)
			break;
		*int_at(base, s) = v;
		return 0;
	case SETTINGS_WORDS:
		v = s->word(value);
		if (v < 0)
			break;
		*int_at(base, s) = v;
		return 0;
	case SETTINGS_PATH:
		return apply_path(s, base, value, dir, why);
	case SETTINGS_RANGE:
		return apply_range(s, base, value, why);
	case SETTINGS_VALUE:
	case SETTINGS_LIST:
		return s->apply(s, base, value, dir, why);
	case SETTINGS_REMOVED:
		return say(why, "%s: no longer a setting: it %s", s->key, s->help);
	}
	return say(why, "%s: bad value '%s' (expected %s)", s->key,
		   config_quote(q, QUOTE_MAX, value), s->words ? s->words : "?");
}

const char *settings_flag_name(const struct setting *s, char *out, size_t size)
{
	if (s->short_flag)
		snprintf(out, size, "-%c", s->short_flag);
	else
		snprintf(out, size, "--%s", s->flag ? s->flag : s->key);
	return out;
}

void settings_flag_error(const struct setting *s, const char *why, char *out)
{
	char name[64];
	size_t n = strlen(s->key);

	settings_flag_name(s, name, sizeof(name));
	if (strncmp(why, s->key, n) == 0 && (why[n] == ':' || why[n] == ' '))
		snprintf(out, CONFIG_ERR_MAX, "%s%s", name, why + n);
	else
		snprintf(out, CONFIG_ERR_MAX, "%s: %s", name, why);
}

/* ---- --help ---- */

/* Print ${text} from column ${col} on, wrapped before HELP_WIDTH. */
static void wrap(FILE *f, int col, const char *text)
{
	int at = col;

	while (*text) {
		size_t w = strcspn(text, " ");
		if (at > col && at + 1 + (int)w > HELP_WIDTH) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", (int)w, text);
		at += (int)w;
		text += w;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

static void usage_line(FILE *f, const char *opt, const char *help)
{
	int n = fprintf(f, "  %s", opt);

	if (n + 1 >= HELP_COL) {
		fprintf(f, "\n%*s", HELP_COL, "");
	} else {
		fprintf(f, "%*s", HELP_COL - n, "");
	}
	wrap(f, HELP_COL, help);
}

void settings_usage(enum settings_role role, FILE *f)
{
	size_t n, i;
	const struct setting *t = settings_table(role, &n);
	char opt[128], help[512];

	for (i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		if (!s->flag || s->type == SETTINGS_REMOVED)
			continue;
		if (s->type == SETTINGS_BOOL && !s->arg)
			snprintf(opt, sizeof(opt), "    --[no-]%s", s->flag);
		else if (s->short_flag)
			snprintf(opt, sizeof(opt), "-%c, --%s %s", s->short_flag, s->flag, s->arg);
		else
			snprintf(opt, sizeof(opt), "    --%s %s", s->flag, s->arg);
		if (s->def && s->type == SETTINGS_UINT)
			snprintf(help, sizeof(help), "%s (default %s, %u..%u)", s->help, s->def,
				 s->min, s->max);
		else if (s->def)
			snprintf(help, sizeof(help), "%s (default %s)", s->help, s->def);
		else
			snprintf(help, sizeof(help), "%s", s->help);
		usage_line(f, opt, help);
		if (s->alias) {
			char same[128];
			snprintf(opt, sizeof(opt), "    --%s", s->alias);
			snprintf(same, sizeof(same), "the same as --%s %s", s->flag,
				 s->alias_value);
			usage_line(f, opt, same);
		}
	}
	usage_line(f, "-v, --verbose", "debug logging");
	usage_line(f, "-q, --quiet", "warnings and errors only");
	usage_line(f, "-h, --help", "this help");
}

static const char *type_name(enum settings_type t)
{
	switch (t) {
	case SETTINGS_UINT:
		return "uint";
	case SETTINGS_BOOL:
		return "bool";
	case SETTINGS_WORDS:
		return "enum";
	case SETTINGS_PATH:
		return "path";
	case SETTINGS_RANGE:
		return "range";
	case SETTINGS_VALUE:
		return "value";
	case SETTINGS_LIST:
		return "list";
	case SETTINGS_REMOVED:
		return "removed";
	}
	return "?";
}

const char *settings_scope_name(enum settings_scope s)
{
	return s == SETTINGS_IN_SERVER	? "[server]"
	       : s == SETTINGS_IN_KEY	? "[key]"
	       : s == SETTINGS_IN_SPA	? "[spa]"
	       : s == SETTINGS_IN_FLEET ? "[fleet]"
					: "[profile]";
}

void settings_print(enum settings_role role, FILE *f)
{
	size_t n, i;
	const struct setting *t = settings_table(role, &n);
	char flag[64];

	for (i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		if (s->flag && s->short_flag)
			snprintf(flag, sizeof(flag), "-%c, --%s", s->short_flag, s->flag);
		else if (s->flag && s->alias)
			snprintf(flag, sizeof(flag), "--%s, --%s", s->flag, s->alias);
		else if (s->flag)
			snprintf(flag, sizeof(flag), "--%s", s->flag);
		else
			snprintf(flag, sizeof(flag), "-");
		fprintf(f, "%s\t%s\t%s\t%s\t", settings_scope_name(s->scope), s->key, flag,
			type_name(s->type));
		if (s->type == SETTINGS_UINT || s->type == SETTINGS_RANGE)
			fprintf(f, "%u..%u %s", s->min, s->max, s->unit);
		else if (s->words)
			fprintf(f, "%s", s->words);
		else
			fprintf(f, "-");
		fprintf(f, "\t%s\t%s\n", s->def ? s->def : "-", s->help);
	}
}

/* ---- the command line ---- */

/* getopt values: entry index, + OPT_NO for --no-F, + OPT_ALIAS for an entry's alias flag. */
enum { OPT_BASE = 256, OPT_NO = 0x4000, OPT_ALIAS = 0x2000 };

void settings_argv_free(struct settings_argv *a)
{
	if (!a)
		return;
	free(a->flags);
	a->flags = NULL;
	a->nflags = 0;
}

static int build_options(const struct setting *t, size_t n, struct option *o, char *shorts)
{
	/* "no-" names: static, as getopt keeps pointers; one option array at a time. */
	static char no[32][64];
	size_t i, k = 0, j = 0, nno = 0;

	shorts[j++] = ':'; /* ':' for a missing argument, '?' for an unknown option */
	for (i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		int has_arg = s->arg || s->type == SETTINGS_REMOVED;
		if (!s->flag)
			continue;
		o[k++] = (struct option){s->flag, has_arg ? required_argument : no_argument, NULL,
					 OPT_BASE + (int)i};
		if (s->type == SETTINGS_BOOL && !s->arg) {
			if (nno == 32)
				return -1;
			snprintf(no[nno], sizeof(no[0]), "no-%s", s->flag);
			o[k++] = (struct option){no[nno++], no_argument, NULL,
						 OPT_BASE + OPT_NO + (int)i};
		}
		if (s->alias)
			o[k++] = (struct option){s->alias, no_argument, NULL,
						 OPT_BASE + OPT_ALIAS + (int)i};
		if (s->short_flag) {
			shorts[j++] = s->short_flag;
			if (has_arg)
				shorts[j++] = ':';
		}
	}
	memcpy(shorts + j, "c:vqh", 6);
	o[k++] = (struct option){"config", required_argument, NULL, 'c'};
	o[k++] = (struct option){"verbose", no_argument, NULL, 'v'};
	o[k++] = (struct option){"quiet", no_argument, NULL, 'q'};
	o[k++] = (struct option){"help", no_argument, NULL, 'h'};
	o[k] = (struct option){NULL, 0, NULL, 0};
	return 0;
}

static const struct setting *by_short(const struct setting *t, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].flag && t[i].short_flag == c)
			return &t[i];
	return NULL;
}

/* The option as the user wrote it, without any "=value", for messages. */
static void written(const char *arg, char *out, size_t size)
{
	char q[QUOTE_MAX + 4];
	size_t n = strcspn(arg, "=");

	snprintf(out, size, "%.*s", (int)n, config_quote(q, QUOTE_MAX, arg));
}

int settings_parse_argv(enum settings_role role, const char *cmd, int argc, char **argv,
			struct settings_argv *a, char *err)
{
	size_t n;
	const struct setting *t = settings_table(role, &n);
	struct option *o = calloc(3 * n + 8, sizeof(*o));
	char shorts[2 * 128 + 16], what[QUOTE_MAX + 8];
	int c, rc = -1;

	memset(a, 0, sizeof(*a));
	a->flags = calloc((size_t)argc + 1, sizeof(*a->flags));
	if (!o || !a->flags || n > 128 || build_options(t, n, o, shorts) < 0) {
		snprintf(err, CONFIG_ERR_MAX, "out of memory");
		goto out;
	}
	optind = 0; /* a full reset: GNU getopt keeps state across calls */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, o, NULL)) != -1) {
		const struct setting *s = NULL;
		if (c == '?' || c == ':') {
			if (optopt > 0 && optopt < OPT_BASE)
				snprintf(what, sizeof(what), "-%c", optopt);
			else
				written(argv[optind - 1], what, sizeof(what));
			if (c == '?' && optopt >= OPT_BASE)
				snprintf(err, CONFIG_ERR_MAX,
					 "%s takes no argument (see 'postern %s --help')", what,
					 cmd);
			else if (c == ':')
				snprintf(err, CONFIG_ERR_MAX,
					 "%s needs an argument (see 'postern %s --help')", what,
					 cmd);
			else
				snprintf(err, CONFIG_ERR_MAX,
					 "unknown option '%s' (see 'postern %s --help')", what,
					 cmd);
			goto out;
		}
		switch (c) {
		case 'c':
			a->config = optarg;
			continue;
		case 'v':
			a->log = 1;
			continue;
		case 'q':
			a->log = -1;
			continue;
		case 'h':
			a->help = 1;
			continue;
		}
		if (c >= OPT_BASE + OPT_NO) {
			a->flags[a->nflags++] =
			    (struct settings_flag){&t[c - OPT_BASE - OPT_NO], "no"};
			continue;
		}
		if (c >= OPT_BASE + OPT_ALIAS) {
			s = &t[c - OPT_BASE - OPT_ALIAS];
			a->flags[a->nflags++] = (struct settings_flag){s, s->alias_value};
			continue;
		}
		s = c >= OPT_BASE ? &t[c - OPT_BASE] : by_short(t, n, c);
		if (!s) {
			snprintf(err, CONFIG_ERR_MAX, "unknown option (see 'postern %s --help')",
				 cmd);
			goto out;
		}
		a->flags[a->nflags++] =
		    (struct settings_flag){s, s->type == SETTINGS_BOOL && !s->arg ? "yes" : optarg};
	}
	a->positional = argv + optind;
	a->npositional = argc - optind;
	rc = 0;
out:
	free(o);
	return rc;
}

int settings_apply_flag(const struct settings_flag *fl, void *base, char *err)
{
	char why[CONFIG_ERR_MAX];

	if (settings_apply(fl->s, base, fl->value, "", why) == 0)
		return 0;
	settings_flag_error(fl->s, why, err);
	return -1;
}
