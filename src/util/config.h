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

/*
 * One permit_open or permit_listen entry. TCP: ${host} is "*" (any host), a
 * name, an IP literal or, with ${cidr}, a network address of ${prefix} bits
 * (as written: 0..32 for IPv4, 0..128 for IPv6); permit_listen entries may
 * leave ${host} "" ("port" alone: any bind address). ${port} 0 = '*'.
 * Unix (${is_unix}): ${path} is an absolute path, exact or an fnmatch(3) glob.
 */
struct config_permit {
	char host[NET_HOST_MAX + 1];
	uint16_t port;
	uint8_t cidr;
	uint8_t prefix;
	uint8_t is_unix;
	char path[NET_PATH_MAX + 1];
};

/* allow_forwarding: which directions a key may use; local covers -L and -D. */
enum config_forwarding {
	CONFIG_FWD_YES = 0, /* the default */
	CONFIG_FWD_NO,
	CONFIG_FWD_LOCAL,
	CONFIG_FWD_REMOTE,
};

/*
 * gateway_ports: what a -R listener binds. A key's CONFIG_GW_SERVER (0, the
 * default) defers to [server], whose default is CONFIG_GW_NO.
 */
enum config_gateway {
	CONFIG_GW_SERVER = 0,
	CONFIG_GW_NO,
	CONFIG_GW_YES,
	CONFIG_GW_CLIENT, /* clientspecified */
};

/*
 * One [key NAME] stanza: an identity and what it may do. A zeroed struct is
 * the safe default: forwarding allowed in both directions but to nothing
 * (no permit_open, no permit_listen), no Unix sockets.
 */
struct config_key {
	char name[CONFIG_NAME_MAX + 1];
	char key_file[CONFIG_PATH_MAX + 1];
	uint8_t psk[CRYPTO_KEY_LEN];  /* filled by config_load_keys() */
	int allow_forwarding;	      /* enum config_forwarding, default yes */
	int gateway_ports;	      /* enum config_gateway, default [server]'s */
	int allow_unix_forwarding;    /* default 0 */
	int permit_any;		      /* permit_open = any (TCP only, not Unix paths) */
	struct config_permit *permit; /* permit_open: TCP and Unix entries */
	size_t npermit;
	int permit_listen_any;		     /* permit_listen = any (TCP only) */
	struct config_permit *permit_listen; /* TCP and Unix entries */
	size_t npermit_listen;
	int line; /* where the stanza starts, for messages */
};

#define CONFIG_STATE_DIR_DEFAULT "/var/lib/postern"

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
	unsigned rekey_records;		/* rekey each direction after this many records (2^20) */
	unsigned busy_poll_us;		/* poll this long before sleeping (100); 0 = off */
	char state_dir[CONFIG_PATH_MAX + 1]; /* "/var/lib/postern"; "none" = not persisted */
	unsigned replay_cache;		     /* live first-message fingerprints (262144) */
	unsigned replay_quota;		     /* of which one identity may hold (16384) */
	int gateway_ports;		     /* enum config_gateway, default CONFIG_GW_NO */
	char file[CONFIG_PATH_MAX + 1];	     /* the config file, "" for flags only */
};

struct config_client {
	char profile[CONFIG_NAME_MAX + 1];
	struct net_endpoint server;
	char key_file[CONFIG_PATH_MAX + 1];
	struct net_forward *local; /* -L */
	size_t nlocal;
	struct net_forward *remote; /* -R; listen.host "" = no bind address given */
	size_t nremote;
	struct net_endpoint *dynamic; /* -D */
	size_t ndynamic;
	int exit_on_forward_failure; /* default 1, like ssh's ExitOnForwardFailure */
	int cipher;		     /* -1 = auto, else enum crypto_aead_alg */
	unsigned keepalive_s;	     /* default 25; 0 = off */
	unsigned rekey_records;	     /* rekey each direction after this many records (2^20) */
	unsigned busy_poll_us;	     /* poll this long before sleeping (100); 0 = off */
	unsigned reconnect_max_s;    /* backoff ceiling, default 30 */
	unsigned connect_timeout_ms; /* default 10000 */
};

/* config_server_defaults(c): zero ${c} and set every default. */
void config_server_defaults(struct config_server *c);

/* config_client_defaults(c): zero ${c} and set every default. */
void config_client_defaults(struct config_client *c);

/*
 * config_server_load(path, c, err): parse a server file into ${c} (which holds
 * defaults). Sections:
 *   [server]  listen = host:port (repeatable); gateway_ports = no | yes |
 *             clientspecified; timeouts and limits by the names of struct
 *             config_server.
 *   [key NAME] key_file = PATH (relative to the config file);
 *             allow_forwarding = yes | no | local | remote;
 *             permit_open = host:port | *:port | host:* | any | ADDR/BITS:port
 *                 | [V6ADDR/BITS]:port | /unix/path (glob allowed), repeatable;
 *             permit_listen = [host:]port | [host:]* | any | /unix/path,
 *                 host = * | localhost | an IP address, repeatable;
 *             gateway_ports = no | yes | clientspecified;
 *             allow_unix_forwarding = yes | no.
 * Unknown sections or keys, bad values and duplicate key names are errors:
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

/*
 * config_parse_permit(s, p, any, err): one TCP permit_open value: "host:port"
 * with '*' wildcards, "ADDR/BITS:port", "[V6ADDR/BITS]:port", or "any" (sets
 * ${any}). Host bits set beyond a CIDR prefix are an error (a typo, not a
 * network). Unix paths are config_parse_permit_path()'s.
 */
int config_parse_permit(const char *s, struct config_permit *p, int *any, char *err);

/*
 * config_parse_permit_listen(s, p, any, err): one TCP permit_listen value:
 * "port", "*", "host:port", "host:*", "[v6]:port" or "any" (also "*" and
 * "*:*", which set ${any}); host is "*", "localhost" or an IP address.
 */
int config_parse_permit_listen(const char *s, struct config_permit *p, int *any, char *err);

/*
 * config_parse_permit_path(setting, s, p, err): a Unix socket entry: an
 * absolute path (at most NET_PATH_MAX bytes, no "." or ".." components, no
 * "//", not ending in '/'), exact or a glob. ${setting} names it in ${err}.
 */
int config_parse_permit_path(const char *setting, const char *s, struct config_permit *p,
			     char *err);

/*
 * config_check_unix_path(s): NULL if ${s} is an absolute Unix socket path
 * (or glob) as config_parse_permit_path() wants it, else the reason.
 */
const char *config_check_unix_path(const char *s);

/* config_add_permit(k, s, err): parse and append one permit_open value ('/' = a Unix path). */
int config_add_permit(struct config_key *k, const char *s, char *err);

/* config_add_permit_listen(k, s, err): parse and append one permit_listen value. */
int config_add_permit_listen(struct config_key *k, const char *s, char *err);

/* config_forwarding_parse(s): "yes", "no", "local", "remote" -> enum config_forwarding, or -1. */
int config_forwarding_parse(const char *s);

/* config_gateway_parse(s): "no", "yes", "clientspecified" -> enum config_gateway, or -1. */
int config_gateway_parse(const char *s);

/* config_yesno_parse(s): "yes" -> 1, "no" -> 0, else -1. */
int config_yesno_parse(const char *s);

/* config_forwarding_name(v), config_gateway_name(v): the words the file uses ("?" if bad). */
const char *config_forwarding_name(int v);
const char *config_gateway_name(int v);

/* config_add_key(c, name): append a key stanza with defaults and return it, or NULL. */
struct config_key *config_add_key(struct config_server *c, const char *name);

/* config_add_listen(c, ep): append a listen address. Returns 0 or -1. */
int config_add_listen(struct config_server *c, const struct net_endpoint *ep);

/* config_add_forward(c, fw): append a -L forward. Returns 0 or -1. */
int config_add_forward(struct config_client *c, const struct net_forward *fw);

/* config_parse_remote(s, fw, err): a -R spec (net_parse_forward_ex, remote). */
int config_parse_remote(const char *s, struct net_forward *fw, char *err);

/* config_parse_dynamic(s, ep, err): a -D spec: [bind_address:]port or a Unix path. */
int config_parse_dynamic(const char *s, struct net_endpoint *ep, char *err);

/* config_add_remote(c, fw), config_add_dynamic(c, ep): append. Return 0 or -1. */
int config_add_remote(struct config_client *c, const struct net_forward *fw);
int config_add_dynamic(struct config_client *c, const struct net_endpoint *ep);

/* config_load_keys(c, err): keys_load() every stanza's key file. */
int config_load_keys(struct config_server *c, char *err);

/* config_cipher_parse(s): "chacha20-poly1305", "aes-256-gcm", "auto" -> alg or -1/-2(bad). */
int config_cipher_parse(const char *s);

void config_server_free(struct config_server *c);
void config_client_free(struct config_client *c);

#endif
