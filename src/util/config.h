/* SPDX-License-Identifier: MIT */
/*
 * config: INI files (via inih) into typed structs, and the defaults every
 * setting has. Errors name file:line. Command-line flags fill the same
 * structs, so a one-line server and a config file behave the same.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/net.h"

enum {
	CONFIG_ERR_MAX = 512,
	CONFIG_NAME_MAX = 63,
	CONFIG_PATH_MAX = 4095,
};

/* A permit_open entry: host ("*" = any host) and port (0 = any port). */
struct config_permit {
	char host[NET_HOST_MAX + 1];
	uint16_t port;
};

/* One [key NAME] stanza: an identity and what it may reach. */
struct config_key {
	char name[CONFIG_NAME_MAX + 1];
	char key_file[CONFIG_PATH_MAX + 1];
	uint8_t psk[CRYPTO_KEY_LEN]; /* filled by config_load_keys() */
	int permit_any;		     /* permit_open = any */
	struct config_permit *permit;
	size_t npermit;
	int line; /* where the stanza starts, for messages */
};

struct config_server {
	struct net_endpoint *listen; /* one or more */
	size_t nlisten;
	struct config_key *keys;
	size_t nkeys;
	unsigned preauth_timeout_ms;	/* default 10000 */
	unsigned reject_delay_min_ms;	/* default 1000 */
	unsigned reject_delay_max_ms;	/* default 3000 */
	unsigned replay_window_s;	/* default 120 */
	unsigned ban_threshold;		/* failures, default 5 */
	unsigned ban_window_s;		/* default 60 */
	unsigned ban_time_s;		/* default 600 */
	unsigned max_unauth;		/* concurrent unauthenticated, default 64 */
	unsigned max_unauth_per_source; /* default 8 */
	unsigned max_sessions;		/* default 1024 */
	unsigned keepalive_s;		/* default 25; 0 = off */
	char file[CONFIG_PATH_MAX + 1];	/* the config file, "" for flags only */
};

struct config_client {
	char profile[CONFIG_NAME_MAX + 1];
	struct net_endpoint server;
	char key_file[CONFIG_PATH_MAX + 1];
	struct net_forward *local; /* -L */
	size_t nlocal;
	int cipher; /* -1 = auto, else enum crypto_aead_alg */
	unsigned keepalive_s;	     /* default 25; 0 = off */
	unsigned reconnect_max_s;    /* backoff ceiling, default 30 */
	unsigned connect_timeout_ms; /* default 10000 */
};

/* config_server_defaults(c): zero ${c} and set every default. */
void config_server_defaults(struct config_server *c);

/* config_client_defaults(c): zero ${c} and set every default. */
void config_client_defaults(struct config_client *c);

/*
 * config_server_load(path, c, err): parse a server file into ${c} (which holds
 * defaults). Sections: [server] (listen = host:port, repeatable; timeouts and
 * limits by the names of struct config_server) and [key NAME] (key_file,
 * permit_open = host:port | *:port | host:* | any, repeatable). Unknown
 * sections or keys, bad values and duplicate key names are errors:
 * "server.conf:12: unknown setting 'permt_open' in [key alice]".
 * Returns 0 or -1 with ${err}.
 */
int config_server_load(const char *path, struct config_server *c, char *err);

/*
 * config_client_load(path, profile, c, err): parse [profile NAME] stanzas
 * (server, key_file, local_forward (repeatable, -L syntax), cipher, keepalive,
 * reconnect_max, connect_timeout) and fill ${c} from the stanza named
 * ${profile}, or from the only/first one when ${profile} is NULL.
 * Returns 0 or -1 with ${err}.
 */
int config_client_load(const char *path, const char *profile, struct config_client *c, char *err);

/*
 * config_server_load_string(text, len, name, c, err): config_server_load() on
 * ${len} bytes of ${text} (no NUL needed; a NUL byte is an error). ${name}
 * stands for the file in messages and is the base of relative key_file paths.
 */
int config_server_load_string(const char *text, size_t len, const char *name,
			      struct config_server *c, char *err);

/* config_client_load_string(text, len, name, profile, c, err): likewise. */
int config_client_load_string(const char *text, size_t len, const char *name, const char *profile,
			      struct config_client *c, char *err);

/*
 * config_server_check(c, err): after the file and the flags are applied,
 * require at least one listen address and one key stanza with a key_file.
 * Returns 0 or -1 with ${err}.
 */
int config_server_check(const struct config_server *c, char *err);

/* config_client_check(c, err): require a server address and a key_file. */
int config_client_check(const struct config_client *c, char *err);

/* config_parse_permit(s, p, any, err): "host:port" with '*' wildcards, or "any". */
int config_parse_permit(const char *s, struct config_permit *p, int *any, char *err);

/* config_add_permit(k, s, err): parse and append one permit_open value. */
int config_add_permit(struct config_key *k, const char *s, char *err);

/* config_add_key(c, name): append an empty key stanza and return it, or NULL. */
struct config_key *config_add_key(struct config_server *c, const char *name);

/* config_add_listen(c, ep): append a listen address. Returns 0 or -1. */
int config_add_listen(struct config_server *c, const struct net_endpoint *ep);

/* config_add_forward(c, fw): append a -L forward. Returns 0 or -1. */
int config_add_forward(struct config_client *c, const struct net_forward *fw);

/* config_load_keys(c, err): keys_load() every stanza's key file. */
int config_load_keys(struct config_server *c, char *err);

/* config_cipher_parse(s): "chacha20-poly1305", "aes-256-gcm", "auto" -> alg or -1/-2(bad). */
int config_cipher_parse(const char *s);

void config_server_free(struct config_server *c);
void config_client_free(struct config_client *c);

#endif
