/* SPDX-License-Identifier: MIT */
/*
 * config: the defaults of every struct field the configuration fills, the
 * list appends and enum words every schema shares, and freeing. Parsing
 * files and flags lives in src/conf/ (conf/settings.c holds the table whose
 * default texts test_settings.c checks against config_*_defaults()).
 */
#include "util/config.h"
#include "util/busypoll.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

int config_set_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, CONFIG_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

const char *config_quote(char *out, size_t max, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
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

static int grow_to(void **arr, size_t n, size_t elem, size_t max)
{
	size_t cap;
	void *p;

	if (n >= max)
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

int config_grow(void **arr, size_t n, size_t elem)
{
	return grow_to(arr, n, elem, CONFIG_LIST_MAX);
}

int config_valid_name(const char *s, const char *what, char *err)
{
	size_t len = strlen(s), i;

	if (len == 0)
		return config_set_err(err, "[%s] needs a name: [%s NAME]", what, what);
	if (len > CONFIG_NAME_MAX)
		return config_set_err(err, "%s name longer than %d characters", what,
				      CONFIG_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-')
			continue;
		if (c >= 0x20 && c < 0x7f)
			return config_set_err(
			    err, "bad %s name: '%c' not allowed (use A-Z a-z 0-9 _ . -)", what, c);
		return config_set_err(
		    err, "bad %s name: byte 0x%02x not allowed (use A-Z a-z 0-9 _ . -)", what, c);
	}
	return 0;
}

void config_server_defaults(struct config_server *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", "auto");
	c->control_max = 8;
	c->control_request_max = 512;
	c->control_output_max = 1u << 20;
	c->replay_cache = 262144;
	c->replay_quota = 16384;
	c->dh_rate = 20;
	c->dh_burst = 40;
	c->max_channels = 16384;
	c->session_buffer_mib = 64;
	c->server_buffer_mib = 1024;
	c->max_fds = 0;
	c->max_refusals = 4096;
	c->log_rate = 20;
	c->reject_delay_min_ms = 1000;
	c->reject_delay_max_ms = 3000;
	c->replay_window_s = 120;
	c->ban_threshold = 5;
	c->ban_window_s = 60;
	c->ban_time_s = 600;
	c->max_unauth = 64;
	c->max_unauth_per_source = 8;
	c->max_sessions = 1024;
	c->keepalive_s = 10;
	c->gateway_ports = CONFIG_GW_NO;
	c->rekey_records = 1u << 20;
	c->busy_poll_us = BUSYPOLL_DEFAULT_US;
	c->spa.backend = CONFIG_SPA_LISTENER;
	c->spa.grant_timeout_s = 30;
	c->spa.max_grants = 1024;
	c->spa.knock_cache = 65536;
	c->spa.receive = CONFIG_SPA_SOCKET;
	c->spa.ring_kib = 4096;
	snprintf(c->fleet.prefix, sizeof(c->fleet.prefix), "postern:");
	c->fleet.timeout_ms = 200;
	c->fleet.max_pending = 1024;
	snprintf(c->spa.nft_table, sizeof(c->spa.nft_table), "postern");
	c->spa.nft_remove_on_exit = 1;
	c->spa.ip_forward = FW_NFT_IPFWD_CHECK;
}

void config_client_defaults(struct config_client *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->control_max = 8;
	c->control_request_max = 512;
	c->control_output_max = 1u << 20;
	c->cipher = -1;
	c->keepalive_s = 10;
	c->reconnect_max_s = 30;
	c->connect_timeout_ms = 10000;
	c->connect_attempts = 3;
	c->exit_on_forward_failure = 1;
	c->rekey_records = 1u << 20;
	c->busy_poll_us = BUSYPOLL_DEFAULT_US;
	c->ask_timeout_ms = 30000;
	c->admit_pending = 64;
	snprintf(c->admit_default, sizeof(c->admit_default), "same-user");
	c->knock_port = 62201;
	c->knock_wait_ms = 100;
}

void config_server_free(struct config_server *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nkeys; i++) {
		crypto_wipe(c->keys[i].psk, sizeof(c->keys[i].psk));
		crypto_wipe(&c->keys[i].fwknop, sizeof(c->keys[i].fwknop));
		free(c->keys[i].permit);
		free(c->keys[i].permit_listen);
		free(c->keys[i].spa_access);
		free(c->keys[i].spa_forward);
	}
	free(c->spa.listen);
	c->spa.listen = NULL;
	c->spa.nlisten = 0;
	free(c->keys);
	free(c->listen);
	free(c->ban_exempt);
	c->ban_exempt = NULL;
	c->nban_exempt = 0;
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
	free(c->remote);
	c->remote = NULL;
	c->nremote = 0;
	for (size_t i = 0; c->local_admit != NULL && i < c->nlocal; i++)
		free(c->local_admit[i]);
	free(c->local_admit);
	c->local_admit = NULL;
	c->nlocal = 0;
	for (size_t i = 0; c->dynamic_admit != NULL && i < c->ndynamic; i++)
		free(c->dynamic_admit[i]);
	free(c->dynamic_admit);
	c->dynamic_admit = NULL;
	free(c->dynamic);
	c->dynamic = NULL;
	c->ndynamic = 0;
	c->last_forward = 0;
}

/* The per-forward lists grow with the forwards: entry i exists once forward i does. */
static int admit_slot(char ***list, size_t n, const char *policy)
{
	char **grown = *list != NULL ? *list : calloc(n, sizeof(*grown));
	if (grown == NULL)
		return -1;
	*list = grown;
	char *copy = strdup(policy);
	if (copy == NULL)
		return -1;
	free(grown[n - 1]);
	grown[n - 1] = copy;
	return 0;
}

int config_set_admit(struct config_client *c, const char *policy)
{
	if (c == NULL || policy == NULL || strlen(policy) > CONFIG_ADMIT_MAX)
		return -1;
	if (c->last_forward == 'L' && c->nlocal > 0)
		return admit_slot(&c->local_admit, c->nlocal, policy);
	if (c->last_forward == 'D' && c->ndynamic > 0)
		return admit_slot(&c->dynamic_admit, c->ndynamic, policy);
	snprintf(c->admit_default, sizeof(c->admit_default), "%s", policy);
	return 0;
}

const char *config_forward_admit(const struct config_client *c, int socks, size_t i)
{
	char **list = socks ? c->dynamic_admit : c->local_admit;
	if (list != NULL && list[i] != NULL)
		return list[i];
	return c->admit_default[0] ? c->admit_default : "same-user";
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

int config_key_tunnel(const struct config_key *k)
{
	return k->has_public_key || k->key_file[0] != '\0';
}

int config_key_fwknop(const struct config_key *k)
{
	return k->has_fwknop_key && k->has_fwknop_hmac;
}

struct config_key *config_add_key(struct config_server *c, const char *name)
{
	size_t i;

	if (!c || !name || config_valid_name(name, "key", NULL) < 0)
		return NULL;
	for (i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return NULL;
	return config_add_key_unique(c, name);
}

struct config_key *config_add_key_unique(struct config_server *c, const char *name)
{
	struct config_key *k;

	if (!c || !name)
		return NULL;
	/* Public-key identities make fleets of thousands: keys get their own bound. */
	if (grow_to((void **)&c->keys, c->nkeys, sizeof(*c->keys), CONFIG_KEYS_MAX) < 0)
		return NULL;
	k = &c->keys[c->nkeys++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->allow_forwarding = CONFIG_FWD_YES;
	k->gateway_ports = CONFIG_GW_SERVER;
	k->spa_max_grant_s = 300;
	return k;
}

int config_add_listen(struct config_server *c, const struct net_endpoint *ep)
{
	if (!c || !ep || config_grow((void **)&c->listen, c->nlisten, sizeof(*c->listen)) < 0)
		return -1;
	c->listen[c->nlisten++] = *ep;
	return 0;
}

int config_add_remote(struct config_client *c, const struct net_forward *fw)
{
	if (!c || !fw || config_grow((void **)&c->remote, c->nremote, sizeof(*c->remote)) < 0)
		return -1;
	c->remote[c->nremote++] = *fw;
	return 0;
}

int config_add_dynamic(struct config_client *c, const struct net_endpoint *ep)
{
	if (!c || !ep || config_grow((void **)&c->dynamic, c->ndynamic, sizeof(*c->dynamic)) < 0)
		return -1;
	if (c->dynamic_admit != NULL) {
		char **g = realloc(c->dynamic_admit, (c->ndynamic + 1) * sizeof(*g));
		if (g == NULL)
			return -1;
		g[c->ndynamic] = NULL;
		c->dynamic_admit = g;
	}
	c->dynamic[c->ndynamic++] = *ep;
	c->last_forward = 'D';
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
	/* Port 0: the kernel picks one and the SOCKS listener logs it. */
	return net_parse_hostport(s, ep, "127.0.0.1", 1, err);
}

int config_add_forward(struct config_client *c, const struct net_forward *fw)
{
	if (!c || !fw || config_grow((void **)&c->local, c->nlocal, sizeof(*c->local)) < 0)
		return -1;
	if (c->local_admit != NULL) {
		char **g = realloc(c->local_admit, (c->nlocal + 1) * sizeof(*g));
		if (g == NULL)
			return -1;
		g[c->nlocal] = NULL;
		c->local_admit = g;
	}
	c->local[c->nlocal++] = *fw;
	c->last_forward = 'L';
	return 0;
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

int config_log_parse(const char *s)
{
	if (strcmp(s, "stderr") == 0)
		return CONFIG_LOG_STDERR;
	if (strcmp(s, "syslog") == 0)
		return CONFIG_LOG_SYSLOG;
	return -1;
}

int config_spa_backend_parse(const char *s)
{
	if (strcmp(s, "listener") == 0)
		return CONFIG_SPA_LISTENER;
	if (strcmp(s, "nftables") == 0)
		return CONFIG_SPA_NFTABLES;
	return -1;
}

int config_spa_receive_parse(const char *s)
{
	if (strcmp(s, "socket") == 0)
		return CONFIG_SPA_SOCKET;
	if (strcmp(s, "ring") == 0)
		return CONFIG_SPA_RING;
	return -1;
}

const char *config_spa_backend_name(int v)
{
	return v == CONFIG_SPA_NFTABLES ? "nftables" : "listener";
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

int config_add_ban_exempt(struct config_server *c, const struct config_cidr *e)
{
	if (!c || !e || config_grow((void **)&c->ban_exempt, c->nban_exempt, sizeof(*e)) < 0)
		return -1;
	c->ban_exempt[c->nban_exempt++] = *e;
	return 0;
}

int config_parse_cidr(const char *s, struct config_cidr *e, char *err)
{
	char host[64], q[64 + 4];
	const char *slash;
	size_t n, i;
	unsigned bits = 0, max;

	if (!s || !e)
		return config_set_err(err, "nothing to parse");
	memset(e, 0, sizeof(*e));
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, e->addr) == 1)
		e->family = AF_INET;
	else if (inet_pton(AF_INET6, host, e->addr) == 1)
		e->family = AF_INET6;
	else
		goto bad;
	max = e->family == AF_INET ? 32 : 128;
	bits = max;
	if (slash) {
		const char *b = slash + 1;
		if (!*b || strlen(b) > 3 || (b[0] == '0' && b[1]))
			goto bad;
		for (bits = 0; *b; b++) {
			if (*b < '0' || *b > '9')
				goto bad;
			bits = bits * 10 + (unsigned)(*b - '0');
		}
		if (bits > max)
			goto bad;
	}
	for (i = bits / 8; i < max / 8; i++) {
		uint8_t mask = i == bits / 8 ? (uint8_t)(0xff >> (bits % 8)) : 0xff;
		if (e->addr[i] & mask)
			return config_set_err(err, "'%s' has bits set beyond /%u",
					      config_quote(q, 64, s), bits);
	}
	e->bits = (uint8_t)bits;
	return 0;
bad:
	memset(e, 0, sizeof(*e));
	return config_set_err(err, "'%s' is not ADDR or ADDR/BITS", config_quote(q, 64, s));
}
