/* SPDX-License-Identifier: MIT */
/*
 * config: the typed structs a configuration fills (server and client), their
 * defaults, and the small helpers every schema shares: list appends, the
 * words of enum settings, value quoting. Filling them from a file or from
 * flags is src/conf/'s job (conf/settings.c holds the one table per role);
 * the permit grammar is guard/permit.c's.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "spa/fw_nft.h"
#include "spa/fwknop.h"
#include "util/net.h"

enum {
	CONFIG_ERR_MAX = 512,
	CONFIG_NAME_MAX = 63,
	CONFIG_PATH_MAX = 4095,
	CONFIG_LIST_MAX = 4096,	 /* entries per list (listen, permits, forwards) */
	CONFIG_KEYS_MAX = 65536, /* identities ([key] stanzas) */
	CONFIG_ADMIT_MAX = 1023, /* an admit policy as written (ADMIT_TEXT_MAX) */
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

/* One ban_exempt entry: ${bits} leading bits of ${addr} (4 or 16 bytes by ${family}). */
struct config_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t bits;
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
/* A proto/port pair a knock may open (spa_access): tcp/N or udp/N. */
struct config_port {
	uint8_t proto; /* 6 tcp, 17 udp */
	uint16_t port;
};

enum config_spa_backend { CONFIG_SPA_LISTENER = 0, CONFIG_SPA_NFTABLES };
enum config_spa_receive { CONFIG_SPA_SOCKET = 0, CONFIG_SPA_RING };

/* [spa]: single packet authorization (spa/spa.c). Off while nlisten is 0. */
struct config_spa {
	struct net_endpoint *listen; /* UDP addresses knocks arrive on */
	size_t nlisten;
	int backend;		  /* enum config_spa_backend, default listener */
	unsigned grant_timeout_s; /* a knock's grant when it asks for none (30) */
	unsigned max_grants;	  /* live grants, all identities (1024) */
	unsigned knock_cache;	  /* accepted knocks remembered for replay (65536) */
	int receive;		  /* enum config_spa_receive, default socket */
	unsigned ring_kib;	  /* receive = ring: the packet ring's size (4096 KiB) */
	int section_line;	  /* where [spa] was, to refuse a second one */
	/* The nftables backend (spa/fw_nft.c); the listener backend ignores these. */
	struct spa_access guard[FW_NFT_GUARD_MAX]; /* default-drop until granted */
	unsigned nguard;
	char nft_table[FW_NFT_TABLE_MAX + 1]; /* the inet table it owns ("postern") */
	int nft_remove_on_exit;		      /* delete the table at shutdown (yes) */
	int ip_forward;			      /* enum fw_nft_ipfwd (check) */
};

/* [fleet]: replay, bans and grants shared through Redis (fleet/fleet.c). Off while redis is "". */
struct config_fleet {
	char redis[CONFIG_PATH_MAX + 1];	 /* redis://HOST:PORT/DB or unix:/path */
	char name[CONFIG_NAME_MAX + 1];		 /* this gateway; "" = the host name */
	char prefix[CONFIG_NAME_MAX + 1];	 /* of every key and channel ("postern:") */
	char password_file[CONFIG_PATH_MAX + 1]; /* AUTH password; "" = none */
	char key_file[CONFIG_PATH_MAX + 1];	 /* the fleet's shared key: keys fingerprints */
	unsigned timeout_ms;			 /* connect and each command (200) */
	int fail_closed;			 /* Redis down: refuse new sessions (no) */
	unsigned max_pending;			 /* commands in flight (1024) */
	int section_line;			 /* where [fleet] was, to refuse a second one */
};

struct config_key {
	char name[CONFIG_NAME_MAX + 1];
	char key_file[CONFIG_PATH_MAX + 1];
	uint8_t psk[CRYPTO_KEY_LEN]; /* filled by conf_server_load_keys() */
	/* A public-key identity instead (Noise IK): public_key, or public_key_file
	 * (kept in key_file, 4 KiB a key being enough) read by conf_server_load_keys(). */
	uint8_t public_key[CRYPTO_KEY_LEN];
	int has_public_key;
	int key_file_public;	      /* key_file names a .pub file (public_key_file) */
	int allow_forwarding;	      /* enum config_forwarding, default yes */
	int gateway_ports;	      /* enum config_gateway, default [server]'s */
	int allow_unix_forwarding;    /* default 0 */
	int permit_any;		      /* permit_open = any (TCP only, not Unix paths) */
	struct config_permit *permit; /* permit_open: TCP and Unix entries */
	size_t npermit;
	int permit_listen_any;		     /* permit_listen = any (TCP only) */
	struct config_permit *permit_listen; /* TCP and Unix entries */
	size_t npermit_listen;
	/* SPA policy: what a knock under this key may open. */
	struct config_port *spa_access; /* default: the tunnel's listen ports over tcp */
	size_t nspa_access;
	unsigned spa_max_grant_s;	  /* longest grant a knock may ask for (300) */
	struct net_endpoint *spa_forward; /* allowed forward targets; default none */
	size_t nspa_forward;
	int spa_masquerade;    /* forwarded grants masquerade (no) */
	int spa_trust_address; /* the payload's allow address is honoured (no) */
	int line;	       /* where the stanza starts, for messages */
	/* fwknop compatibility: KEY_BASE64 / HMAC_KEY_BASE64, decoded by conf/settings.c.
	 * A stanza with only these (no key_file or public key) is a knock-only
	 * identity: it can open the firewall but never complete a handshake. */
	struct fwknop_key fwknop;
	int has_fwknop_key;  /* fwknop_key_base64 given */
	int has_fwknop_hmac; /* fwknop_hmac_key_base64 given */
};

/* config_key_tunnel(k): 1 if ${k} can authenticate a tunnel (a PSK or a public key). */
int config_key_tunnel(const struct config_key *k);

/* config_key_fwknop(k): 1 if ${k} has fwknop keys (both of them). */
int config_key_fwknop(const struct config_key *k);

struct config_server {
	struct net_endpoint *listen; /* one or more */
	size_t nlisten;
	struct config_key *keys;
	size_t nkeys;
	/* Not a setting any more (folded into reject_delay); kept at 10 s until
	 * the session code stops reading it. */
	unsigned reject_delay_min_ms;	/* default 1000 */
	unsigned reject_delay_max_ms;	/* default 3000 */
	unsigned replay_window_s;	/* default 120 */
	unsigned ban_threshold;		/* failures, default 5 */
	unsigned ban_window_s;		/* default 60 */
	unsigned ban_time_s;		/* default 600 */
	unsigned max_unauth;		/* concurrent unauthenticated, default 64 */
	unsigned max_unauth_per_source; /* default 8 */
	unsigned max_sessions;		/* default 1024 */
	unsigned keepalive_s;		/* default 10; 0 = off */
	unsigned rekey_records;		/* rekey each direction after this many records (2^20) */
	unsigned busy_poll_us;		/* poll this long before sleeping (100); 0 = off */
	int gateway_ports;		/* enum config_gateway, default CONFIG_GW_NO */
	char state_dir[CONFIG_PATH_MAX + 1];	/* "auto" (see server.c); "none" = do not persist */
	char identity_dir[CONFIG_PATH_MAX + 1]; /* one identity file per [key]; "" = none */
	int identities_loaded;		    /* identity_dir read (conf_server_load_identities) */
	char host_key[CONFIG_PATH_MAX + 1]; /* x25519 private key; "" = no public-key identities */
	uint8_t host_priv[CRYPTO_KEY_LEN];  /* filled by conf_server_load_keys() */
	/* Where encrypted key files' passphrase comes from ("" = not that way). */
	char passphrase_file[CONFIG_PATH_MAX + 1];
	char passphrase_env[CONFIG_NAME_MAX + 1];
	char askpass[CONFIG_PATH_MAX + 1];
	unsigned dh_rate;		/* DH-costing first messages per second per source (20) */
	unsigned dh_burst;		/* ... and the bucket's depth (40) */
	unsigned replay_cache;		/* live first-message fingerprints (262144) */
	unsigned replay_quota;		/* ... one identity may hold (16384) */
	unsigned max_channels;		/* channels open at once per session (16384) */
	unsigned session_buffer_mib;	/* channel data buffered per session (64) */
	unsigned server_buffer_mib;	/* ... whole server (1024) */
	unsigned max_fds;		/* descriptor budget; 0 = RLIMIT_NOFILE hard limit */
	unsigned max_refusals;		/* refused connections awaiting their reset (4096) */
	struct config_cidr *ban_exempt; /* sources never banned */
	size_t nban_exempt;
	unsigned log_rate;			 /* peer-caused log lines per second (20) */
	char user[CONFIG_NAME_MAX + 1];		 /* run as this user after binding; "" = stay */
	int log_sink;				 /* enum config_log_sink, default stderr */
	char control[CONFIG_PATH_MAX + 1];	 /* control socket; "" = none */
	char control_group[CONFIG_NAME_MAX + 1]; /* "" = mode 0600, else this group, 0660 */
	unsigned control_max;			 /* control connections at once (8) */
	unsigned control_request_max;		 /* bytes of a request line (512) */
	unsigned control_output_max;		 /* bytes of an answer (1 MiB) */
	struct net_endpoint metrics_listen;	 /* HTTP /metrics; host "" = none */
	char pid_file[CONFIG_PATH_MAX + 1];	 /* write the pid here; "" = none */
	char file[CONFIG_PATH_MAX + 1];		 /* the config file, "" for flags only */
	struct config_spa spa;			 /* [spa] */
	struct config_fleet fleet;		 /* [fleet] */
};

struct config_client {
	char profile[CONFIG_NAME_MAX + 1];
	struct net_endpoint server;
	char key_file[CONFIG_PATH_MAX + 1];
	char server_key[CONFIG_PATH_MAX + 1]; /* public key or .pub path: pins the server (IK) */
	/* Where an encrypted key file's passphrase comes from ("" = not that way). */
	char passphrase_file[CONFIG_PATH_MAX + 1];
	char passphrase_env[CONFIG_NAME_MAX + 1];
	char askpass[CONFIG_PATH_MAX + 1];
	struct net_forward *local; /* -L */
	size_t nlocal;
	struct net_forward *remote; /* -R; listen.host "" = no bind address given */
	size_t nremote;
	struct net_endpoint *dynamic; /* -D */
	size_t ndynamic;
	int exit_on_forward_failure; /* default 1, like ssh's ExitOnForwardFailure */
	int cipher;		     /* -1 = auto, else enum crypto_aead_alg */
	unsigned keepalive_s;	     /* default 10; 0 = off */
	unsigned rekey_records;	     /* rekey each direction after this many records (2^20) */
	unsigned busy_poll_us;	     /* poll this long before sleeping (100); 0 = off */
	unsigned reconnect_max_s;    /* backoff ceiling, default 30 */
	unsigned connect_timeout_ms; /* default 10000 */
	unsigned connect_attempts;   /* per server address round, default 3; 0 = forever */
	struct net_endpoint stdio;   /* -W: one channel to here on stdin/stdout; host "" = off */
	int log_sink;		     /* enum config_log_sink, default stderr */
	char control[CONFIG_PATH_MAX + 1];	 /* control socket; "" = none */
	char control_group[CONFIG_NAME_MAX + 1]; /* "" = mode 0600, else this group, 0660 */
	unsigned control_max;			 /* control connections at once (8) */
	unsigned control_request_max;		 /* bytes of a request line (512) */
	unsigned control_output_max;		 /* bytes of an answer (1 MiB) */
	/* Admission (guard/admit.c). An admit value applies to the forward
	 * given just before it (last_forward says which list); one given before
	 * any forward is the default of every forward without its own. */
	char admit_default[CONFIG_ADMIT_MAX + 1]; /* default "same-user" */
	char **local_admit;			  /* per -L, NULL = the default */
	char **dynamic_admit;			  /* per -D */
	int last_forward;			  /* 'L', 'D' or 0 */
	char ask_program[CONFIG_PATH_MAX + 1];	  /* "" = none: ask denies */
	unsigned ask_timeout_ms;		  /* default 30 s */
	unsigned admit_pending;			  /* admissions in progress at once (64) */
	int knock;		/* knock (spa) before every connect attempt (no) */
	unsigned knock_port;	/* the server's knock port (62201) */
	unsigned knock_wait_ms; /* pause between the knock and the connect (100) */
};

/*
 * config_set_err(err, fmt, ...): format a message into ${err}
 * (CONFIG_ERR_MAX bytes; NULL is allowed) and return -1, so a parser can
 * `return config_set_err(err, ...)` at the point of failure.
 */
int config_set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* config_server_defaults(c): zero ${c} and set every default. */
void config_server_defaults(struct config_server *c);

/* config_client_defaults(c): zero ${c} and set every default. */
void config_client_defaults(struct config_client *c);

/* config_add_key(c, name): append a key stanza with defaults and return it, or NULL
 * (a bad name, a name already used, too many or out of memory). */
struct config_key *config_add_key(struct config_server *c, const char *name);

/*
 * config_add_key_unique(c, name): config_add_key() for a name the caller
 * knows to be valid and unused (an identity_dir file name), without the
 * scan of every name, so loading many identities stays linear.
 */
struct config_key *config_add_key_unique(struct config_server *c, const char *name);

/* config_add_listen(c, ep): append a listen address. Returns 0 or -1. */
int config_add_listen(struct config_server *c, const struct net_endpoint *ep);

/* config_add_ban_exempt(c, e): append a ban_exempt entry. Returns 0 or -1. */
int config_add_ban_exempt(struct config_server *c, const struct config_cidr *e);

/* config_parse_cidr(s, e, err): "ADDR" or "ADDR/BITS" (IPv6 bare or in brackets);
 * host bits beyond the prefix are an error. Returns 0 or -1 with ${err}. */
int config_parse_cidr(const char *s, struct config_cidr *e, char *err);

/* config_add_forward(c, fw): append a -L forward. Returns 0 or -1. */
int config_add_forward(struct config_client *c, const struct net_forward *fw);

/*
 * config_set_admit(c, policy): store an admit value (already checked) for
 * the forward last added, or as the default when none was. Returns 0 or -1.
 */
int config_set_admit(struct config_client *c, const char *policy);

/* config_forward_admit(c, socks, i): the policy text of -L (or -D) ${i}. */
const char *config_forward_admit(const struct config_client *c, int socks, size_t i);

/* config_parse_remote(s, fw, err): a -R spec (net_parse_forward_ex, remote). */
int config_parse_remote(const char *s, struct net_forward *fw, char *err);

/* config_parse_dynamic(s, ep, err): a -D spec: [bind_address:]port or a Unix path. */
int config_parse_dynamic(const char *s, struct net_endpoint *ep, char *err);

/* config_add_remote(c, fw), config_add_dynamic(c, ep): append. Return 0 or -1. */
int config_add_remote(struct config_client *c, const struct net_forward *fw);
int config_add_dynamic(struct config_client *c, const struct net_endpoint *ep);

/* config_cipher_parse(s): "chacha20-poly1305", "aes-256-gcm", "auto" -> alg or -1/-2(bad). */
int config_cipher_parse(const char *s);

/* config_forwarding_parse(s): "yes", "no", "local", "remote" -> enum config_forwarding, or -1. */
int config_forwarding_parse(const char *s);

/* config_gateway_parse(s): "no", "yes", "clientspecified" -> enum config_gateway, or -1. */
int config_gateway_parse(const char *s);

/* log: where log lines go. */
enum config_log_sink { CONFIG_LOG_STDERR = 0, CONFIG_LOG_SYSLOG };

/* config_log_parse(s): "stderr", "syslog" -> enum config_log_sink, or -1. */
int config_log_parse(const char *s);

/* config_spa_backend_parse(s): listener | nftables, or -1. */
int config_spa_backend_parse(const char *s);
const char *config_spa_backend_name(int v);
/* config_spa_receive_parse(s): socket | ring, or -1. */
int config_spa_receive_parse(const char *s);

/* config_yesno_parse(s): "yes" -> 1, "no" -> 0, else -1. */
int config_yesno_parse(const char *s);

/* config_forwarding_name(v), config_gateway_name(v): the words the file uses ("?" if bad). */
const char *config_forwarding_name(int v);
const char *config_gateway_name(int v);

/*
 * config_valid_name(s, what, err): 0 if ${s} is a fit stanza name (1..63 of
 * A-Z a-z 0-9 _ . -), else -1 with ${err} (may be NULL) naming ${what}.
 */
int config_valid_name(const char *s, const char *what, char *err);

/*
 * config_quote(out, max, s): ${s} fit for a one-line message in ${out} (at
 * least ${max} + 4 bytes): control and non-ASCII bytes become '?', text past
 * ${max} bytes becomes "...". Returns ${out}.
 */
const char *config_quote(char *out, size_t max, const char *s);

/*
 * config_grow(arr, n, elem): make room in ${*arr} (${n} entries of ${elem}
 * bytes) for one more. Arrays grow to the next power of two, so the count
 * alone tells when to reallocate. -1 past CONFIG_LIST_MAX or out of memory.
 */
int config_grow(void **arr, size_t n, size_t elem);

void config_server_free(struct config_server *c);
void config_client_free(struct config_client *c);

#endif
