/* SPDX-License-Identifier: MIT */
/*
 * conf/server: the server schema and command line. It owns the sections
 * ([server] once, [key NAME] per identity), quick mode (-k makes the key
 * 'default' and the key flags apply to it) and the checks after both are
 * applied; which keys exist and what values they take is conf/settings.c's
 * table, the file grammar conf/ini.c's.
 */
#include "conf/server.h"
#include "conf/ini.h"
#include "conf/settings.h"
#include "util/keys.h"

#include <pwd.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { ECHO_NAME_MAX = 32 };

struct schema {
	struct config_server *srv;
	int server_line;	/* where [server] was, to refuse a second one */
	struct config_key *key; /* the current [key], or NULL in [server] */
	int in_spa;		/* in [spa] */
	int in_fleet;		/* in [fleet] */
};

/* Repeat a bad setting name only if it looks like one: it might be a pasted key. */
static void unknown_setting(struct ini *in, const char *name, const char *where)
{
	size_t len = strlen(name);

	if (len == 0)
		ini_fail(in, "missing setting name before '=' in %s", where);
	else if (len <= ECHO_NAME_MAX &&
		 strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == len)
		ini_fail(in, "unknown setting '%s' in %s", name, where);
	else
		ini_fail(in, "unknown setting in %s", where);
}

static int on_section(void *arg, struct ini *in, const char *type, const char *name)
{
	struct schema *sc = arg;
	struct config_key *k;
	char why[CONFIG_ERR_MAX];

	if (strcmp(type, "server") == 0) {
		if (*name) {
			ini_fail(in, "[server] takes no name");
			return -1;
		}
		if (sc->server_line) {
			ini_fail(in, "second [server] section (first on line %d)", sc->server_line);
			return -1;
		}
		sc->server_line = ini_line(in);
		sc->key = NULL;
		sc->in_spa = 0;
		sc->in_fleet = 0;
		return 0;
	}
	if (strcmp(type, "spa") == 0) {
		if (*name) {
			ini_fail(in, "[spa] takes no name");
			return -1;
		}
		if (sc->srv->spa.section_line) {
			ini_fail(in, "second [spa] section (first on line %d)",
				 sc->srv->spa.section_line);
			return -1;
		}
		sc->srv->spa.section_line = ini_line(in);
		sc->key = NULL;
		sc->in_spa = 1;
		sc->in_fleet = 0;
		return 0;
	}
	sc->in_spa = 0;
	sc->in_fleet = 0;
	if (strcmp(type, "fleet") == 0) {
		if (*name) {
			ini_fail(in, "[fleet] takes no name");
			return -1;
		}
		if (sc->srv->fleet.section_line) {
			ini_fail(in, "second [fleet] section (first on line %d)",
				 sc->srv->fleet.section_line);
			return -1;
		}
		sc->srv->fleet.section_line = ini_line(in);
		sc->key = NULL;
		sc->in_fleet = 1;
		return 0;
	}
	if (strcmp(type, "key") != 0)
		return 1;
	if (config_valid_name(name, "key", why) < 0) {
		ini_fail(in, "%s", why);
		return -1;
	}
	for (size_t i = 0; i < sc->srv->nkeys; i++) {
		if (strcmp(sc->srv->keys[i].name, name) == 0) {
			ini_fail(in, "duplicate [key %s] (first on line %d)", name,
				 sc->srv->keys[i].line);
			return -1;
		}
	}
	k = config_add_key(sc->srv, name);
	if (!k) {
		ini_fail(in, "too many [key] stanzas (max %d) or out of memory", CONFIG_KEYS_MAX);
		return -1;
	}
	k->line = ini_line(in);
	sc->key = k;
	return 0;
}

static int on_setting(void *arg, struct ini *in, const char *key, const char *value)
{
	struct schema *sc = arg;
	enum settings_scope scope = sc->in_fleet ? SETTINGS_IN_FLEET
				    : sc->in_spa ? SETTINGS_IN_SPA
				    : sc->key	 ? SETTINGS_IN_KEY
						 : SETTINGS_IN_SERVER;
	const struct setting *s = settings_find(SETTINGS_SERVER, scope, key);
	char why[CONFIG_ERR_MAX], where[CONFIG_NAME_MAX + 8];

	if (!s) {
		if (sc->in_fleet)
			snprintf(where, sizeof(where), "[fleet]");
		else if (sc->in_spa)
			snprintf(where, sizeof(where), "[spa]");
		else if (sc->key)
			snprintf(where, sizeof(where), "[key %s]", sc->key->name);
		else
			snprintf(where, sizeof(where), "[server]");
		unknown_setting(in, key, where);
		return -1;
	}
	if (s->type != SETTINGS_LIST && ini_once(in, s->key) < 0)
		return -1;
	void *base = sc->in_fleet ? (void *)&sc->srv->fleet
		     : sc->in_spa ? (void *)&sc->srv->spa
		     : sc->key	  ? (void *)sc->key
				  : (void *)sc->srv;
	if (settings_apply(s, base, value, ini_dir(in), why) < 0) {
		ini_fail(in, "%s", why);
		return -1;
	}
	return 0;
}

static const struct ini_schema server_schema = {
    .sections = "[server], [spa], [fleet] or [key NAME]",
    .section = on_section,
    .setting = on_setting,
};

/* fwknop packets without an HMAC are not accepted, so one fwknop key alone is a mistake. */
#define FWKNOP_BOTH                                                                                \
	"has only one of fwknop_key_base64 and fwknop_hmac_key_base64; fwknop knocks need "        \
	"both (Rijndael + HMAC-SHA256)"

static int fwknop_half(const struct config_key *k)
{
	return k->has_fwknop_key != k->has_fwknop_hmac;
}

/* As for key files (util/keys.c): a file holding a secret is for its owner's eyes only. */
static int fwknop_mode(const char *path, const struct stat *st, const char *where, char *err)
{
	if ((st->st_mode & 077) == 0)
		return 0;
	return config_set_err(err,
			      "%s holds fwknop keys, so %s must not be readable by others "
			      "(permissions %04o); run: chmod 600 %s",
			      where, path, (unsigned)(st->st_mode & 07777), path);
}

int conf_server_load_string(const char *text, size_t len, const char *name, struct config_server *c,
			    char *err)
{
	struct schema sc = {.srv = c};

	if (!c)
		return config_set_err(err, "config: nothing to parse");
	if (!name)
		name = "(config)";
	snprintf(c->file, sizeof(c->file), "%s", name);
	if (ini_load_text(text, len, name, &server_schema, &sc, err) < 0)
		return -1;
	/* A file with no [key] is fine here: -k may add one; conf_server_check()
	 * insists on at least one after flags are applied. */
	for (size_t i = 0; i < c->nkeys; i++) {
		const struct config_key *k = &c->keys[i];
		if (fwknop_half(k))
			return config_set_err(err, "%s:%d: [key %s] %s", name, k->line, k->name,
					      FWKNOP_BOTH);
		if (!config_key_tunnel(k) && !config_key_fwknop(k))
			return config_set_err(err, "%s:%d: [key %s] has no key_file or public_key",
					      name, k->line, k->name);
		if (k->has_public_key && k->key_file_public)
			return config_set_err(
			    err,
			    "%s:%d: [key %s] has both public_key and public_key_file; give "
			    "one",
			    name, k->line, k->name);
		if (k->key_file[0] != '\0' && !k->key_file_public && k->has_public_key)
			return config_set_err(
			    err,
			    "%s:%d: [key %s] has both key_file and a public key; an "
			    "identity is one or the other",
			    name, k->line, k->name);
	}
	return 0;
}

int conf_server_load(const char *path, struct config_server *c, char *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!path || !c)
		return config_set_err(err, "config: no file given");
	if (ini_read_file(path, &text, &len, err) < 0)
		return -1;
	rc = conf_server_load_string(text, len, path, c, err);
	crypto_wipe(text, len);
	free(text);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < c->nkeys; i++) {
		struct stat st;
		char where[CONFIG_ERR_MAX];
		if (!config_key_fwknop(&c->keys[i]))
			continue;
		if (stat(path, &st) != 0)
			return config_set_err(err, "%s: %s", path, strerror(errno));
		snprintf(where, sizeof(where), "%s:%d: [key %s]", path, c->keys[i].line,
			 c->keys[i].name);
		return fwknop_mode(path, &st, where, err);
	}
	return 0;
}

/* "server.conf:7: [key alice]" or "[key alice]" when the key came from flags. */
static void key_where(const struct config_server *c, const struct config_key *k, char *out,
		      size_t size)
{
	if (k->line < 0)
		snprintf(out, size, "%s/%s", c->identity_dir, k->name);
	else if (c->file[0] && k->line > 0)
		snprintf(out, size, "%s:%d: [key %s]", c->file, k->line, k->name);
	else
		snprintf(out, size, "[key %s]", k->name);
}

/* Two stanzas with one key would make the client's identity ambiguous. */
static int check_distinct(const struct config_server *c, size_t i, char *err)
{
	char where[CONFIG_ERR_MAX];
	size_t j;

	/* One HMAC key in two stanzas: a knock would open whichever comes first. */
	for (j = 0; j < i && config_key_fwknop(&c->keys[i]); j++) {
		const struct fwknop_key *a = &c->keys[j].fwknop, *b = &c->keys[i].fwknop;
		if (config_key_fwknop(&c->keys[j]) && a->hmac_len == b->hmac_len &&
		    crypto_memeq(a->hmac, b->hmac, a->hmac_len)) {
			key_where(c, &c->keys[i], where, sizeof(where));
			return config_set_err(err,
					      "%s: same fwknop_hmac_key_base64 as [key %s]; each "
					      "stanza needs its own key",
					      where, c->keys[j].name);
		}
	}
	/* Public keys are checked all at once, sorted (check_public_distinct). */
	if (c->keys[i].has_public_key || !config_key_tunnel(&c->keys[i]))
		return 0;
	for (j = 0; j < i; j++) {
		if (c->keys[j].has_public_key || !config_key_tunnel(&c->keys[j]))
			continue;
		if (crypto_memeq(c->keys[j].psk, c->keys[i].psk, CRYPTO_KEY_LEN)) {
			key_where(c, &c->keys[i], where, sizeof(where));
			return config_set_err(
			    err, "%s: same key as [key %s]; each stanza needs its own key", where,
			    c->keys[j].name);
		}
	}
	return 0;
}

static const struct config_key *sort_base;

static int by_public_key(const void *a, const void *b)
{
	int d = memcmp(sort_base[*(const size_t *)a].public_key,
		       sort_base[*(const size_t *)b].public_key, CRYPTO_KEY_LEN);
	if (d != 0)
		return d;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Fleets have thousands of public keys: sort them rather than compare each pair. */
static int check_public_distinct(const struct config_server *c, size_t npub, char *err)
{
	char where[CONFIG_ERR_MAX];
	size_t *idx = calloc(npub + 1, sizeof(*idx)), n = 0;
	int rc = 0;

	if (idx == NULL)
		return config_set_err(err, "out of memory");
	for (size_t i = 0; i < c->nkeys; i++)
		if (c->keys[i].has_public_key)
			idx[n++] = i;
	sort_base = c->keys;
	qsort(idx, n, sizeof(*idx), by_public_key);
	for (size_t i = 1; i < n && rc == 0; i++) {
		const struct config_key *a = &c->keys[idx[i - 1]], *b = &c->keys[idx[i]];
		if (memcmp(a->public_key, b->public_key, CRYPTO_KEY_LEN) == 0) {
			key_where(c, b, where, sizeof(where));
			rc = config_set_err(
			    err, "%s: same public key as [key %s]; each stanza needs its own key",
			    where, a->name);
		}
	}
	free(idx);
	return rc;
}

/* One identity file: the body of a [key NAME] stanza, without the section line. */
static int on_identity_section(void *arg, struct ini *in, const char *type, const char *name)
{
	(void)arg;
	(void)type;
	(void)name;
	ini_fail(in, "an identity file holds one identity: no [section] lines");
	return -1;
}

static const struct ini_schema identity_schema = {
    .sections = "a [key] stanza's settings",
    .sectionless = 1,
    .section = on_identity_section,
    .setting = on_setting,
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Why a file in the directory is no identity: editors' backups and dotfiles. */
static int skipped(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n > 0 && name[n - 1] == '~');
}

static int load_identity(struct config_server *c, size_t nfile, const char *dir, const char *fname,
			 char *err)
{
	char path[CONFIG_PATH_MAX + 1], why[CONFIG_ERR_MAX];
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int rc = -1;

	if (snprintf(path, sizeof(path), "%s/%s", dir, fname) >= (int)sizeof(path))
		return config_set_err(err, "identity_dir %s: path too long", dir);
	if (stat(path, &st) != 0)
		return config_set_err(err, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return 0;
	/* Whoever may write an identity file may let anyone in. */
	if (st.st_mode & 022)
		return config_set_err(
		    err, "%s: writable by others (permissions %04o); run: chmod go-w %s", path,
		    (unsigned)(st.st_mode & 07777), path);
	if (config_valid_name(fname, "key", why) < 0)
		return config_set_err(err, "%s: the file name is the identity's name: %s", path,
				      why);
	/* File names are unique already; only the config's own stanzas can clash. */
	for (size_t i = 0; i < nfile; i++)
		if (strcmp(c->keys[i].name, fname) == 0)
			return config_set_err(
			    err, "%s: identity '%s' is also a [key] stanza in the config", path,
			    fname);
	if (ini_read_file(path, &text, &len, err) < 0)
		return -1;
	rc = conf_server_identity_text(c, fname, text, len, path, err);
	crypto_wipe(text, len);
	free(text);
	if (rc == 0 && config_key_fwknop(&c->keys[c->nkeys - 1]))
		rc = fwknop_mode(path, &st, path, err);
	return rc;
}

int conf_server_identity_text(struct config_server *c, const char *name, const char *text,
			      size_t len, const char *path, char *err)
{
	struct config_key *k = config_add_key_unique(c, name);
	if (k == NULL)
		return config_set_err(err, "%s: too many identities (max %d) or out of memory",
				      path, CONFIG_KEYS_MAX);
	k->line = -1; /* from a file of its own: messages name the file */
	struct schema sc = {.srv = c, .key = k};
	if (ini_load_text(text, len, path, &identity_schema, &sc, err) < 0)
		return -1;
	if (fwknop_half(k))
		return config_set_err(err, "%s: %s", path, FWKNOP_BOTH);
	if (!config_key_tunnel(k) && !config_key_fwknop(k))
		return config_set_err(err, "%s: no public_key (or key_file)", path);
	return 0;
}

int conf_server_load_identities(struct config_server *c, char *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = -1;

	if (c == NULL || c->identity_dir[0] == '\0' || c->identities_loaded)
		return 0;
	d = opendir(c->identity_dir);
	if (d == NULL)
		return config_set_err(err, "identity_dir %s: %s", c->identity_dir, strerror(errno));
	/* Sorted, so the order (and the first error) does not depend on the file system. */
	while ((de = readdir(d)) != NULL) {
		if (skipped(de->d_name))
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap ? 2 * cap : 256) * sizeof(*names));
			if (p == NULL)
				goto out;
			names = p;
			cap = cap ? 2 * cap : 256;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto out;
		n++;
		if (n > CONFIG_KEYS_MAX) {
			config_set_err(err, "identity_dir %s: more than %d files", c->identity_dir,
				       CONFIG_KEYS_MAX);
			goto out;
		}
	}
	qsort(names, n, sizeof(*names), by_name);
	size_t nfile = c->nkeys;
	for (size_t i = 0; i < n; i++)
		if (load_identity(c, nfile, c->identity_dir, names[i], err) < 0)
			goto out;
	c->identities_loaded = 1;
	rc = 0;
out:
	if (rc != 0 && err != NULL && err[0] == '\0')
		config_set_err(err, "identity_dir %s: out of memory", c->identity_dir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int conf_server_load_keys(struct config_server *c, char *err)
{
	char where[CONFIG_ERR_MAX], why[KEYS_ERR_MAX];
	size_t i, npub = 0;

	if (!c)
		return config_set_err(err, "config: nothing to load");
	/* Key files owned by `user` are as trusted as root's: the server reads
	 * them as that user on every reload. An unknown user fails at the drop. */
	if (c->user[0] != '\0') {
		struct passwd *pw = getpwnam(c->user);
		if (pw != NULL)
			keys_trust_owner((unsigned)pw->pw_uid);
	}
	if (conf_server_load_identities(c, err) != 0)
		return -1;
	struct pass_source ps = {
	    .file = c->passphrase_file[0] ? c->passphrase_file : NULL,
	    .env = c->passphrase_env[0] ? c->passphrase_env : NULL,
	    .askpass = c->askpass[0] ? c->askpass : NULL,
	};
	pass_set_default(&ps);
	if (c->nkeys == 0)
		return config_set_err(err, "identity_dir %s holds no identity", c->identity_dir);
	for (i = 0; i < c->nkeys; i++) {
		struct config_key *k = &c->keys[i];
		key_where(c, k, where, sizeof(where));
		if (k->key_file_public && !k->has_public_key) {
			if (keys_load_public(k->key_file, k->public_key, why) < 0)
				return config_set_err(err, "%s: %s", where, why);
			k->has_public_key = 1;
		}
		if (k->has_public_key) {
			npub++;
		} else if (k->key_file[0] == '\0' && config_key_fwknop(k)) {
			/* Knock-only: no PSK to load. */
		} else if (k->key_file[0] == '\0') {
			return config_set_err(err, "%s has no key_file or public_key", where);
		} else if (keys_load(k->key_file, k->psk, why) < 0) {
			return config_set_err(err, "%s: %s", where, why);
		}
		if (check_distinct(c, i, err) < 0)
			return -1;
	}
	if (npub > 1 && check_public_distinct(c, npub, err) != 0)
		return -1;
	if (npub > 0 && c->host_key[0] == '\0')
		return config_set_err(
		    err, "public-key identities need the server's own key pair: set host_key "
			 "= FILE in [server] (postern keygen -t x25519 -o FILE)");
	if (c->host_key[0] != '\0') {
		enum keys_kind kind;
		if (keys_load_any(c->host_key, &kind, c->host_priv, why) < 0)
			return config_set_err(err, "host_key: %s", why);
		if (kind != KEYS_X25519) {
			crypto_wipe(c->host_priv, sizeof(c->host_priv));
			return config_set_err(
			    err,
			    "host_key: %s is a pre-shared key; the host key is an x25519 "
			    "private key (postern keygen -t x25519)",
			    c->host_key);
		}
	}
	return 0;
}

static int guarded(const struct config_spa *spa, const struct config_port *p)
{
	for (unsigned i = 0; i < spa->nguard; i++)
		if (spa->guard[i].proto == p->proto && spa->guard[i].port == p->port)
			return 1;
	return 0;
}

/*
 * check_forward_guarded(c, k, err): under the nftables backend a key that may
 * forward names the gateway ports its forwards arrive on (spa_access), and
 * each is in [spa] guard. Else the DNAT port is open to all on the gateway
 * itself while the admin believes it opens by knock only.
 */
static int check_forward_guarded(const struct config_server *c, const struct config_key *k,
				 char *err)
{
	char where[CONFIG_ERR_MAX];

	if (c->spa.nlisten == 0 || c->spa.backend != CONFIG_SPA_NFTABLES || k->nspa_forward == 0)
		return 0;
	key_where(c, k, where, sizeof(where));
	if (k->nspa_access == 0)
		return config_set_err(err,
				      "%s: spa_forward needs spa_access = tcp/PORT naming the "
				      "gateway port forwards use, and that port in [spa] guard",
				      where);
	for (size_t i = 0; i < k->nspa_access; i++) {
		const struct config_port *p = &k->spa_access[i];
		if (!guarded(&c->spa, p))
			return config_set_err(
			    err,
			    "%s: spa_access %s/%u is not in [spa] guard (the nftables backend "
			    "closes only guarded ports; add 'guard = %s/%u')",
			    where, p->proto == 6 ? "tcp" : "udp", p->port,
			    p->proto == 6 ? "tcp" : "udp", p->port);
	}
	return 0;
}

int conf_server_check(const struct config_server *c, char *err)
{
	const char *file;
	char where[CONFIG_ERR_MAX];
	size_t i;

	if (!c)
		return config_set_err(err, "config: nothing to check");
	/* Without a file the user speaks flags, so the hint does too. */
	file = c->file[0] ? c->file : NULL;
	if (c->nlisten == 0 && !file)
		return config_set_err(err, "no listen address: give -l HOST:PORT");
	if (c->nlisten == 0)
		return config_set_err(
		    err,
		    "%s: no listen address (add 'listen = host:port' to [server], or "
		    "give -l HOST:PORT)",
		    file);
	if (c->nkeys == 0 && c->identity_dir[0] == '\0' && !file)
		return config_set_err(err, "no key: give -k FILE");
	if (c->nkeys == 0 && c->identity_dir[0] == '\0')
		return config_set_err(
		    err, "%s: no [key NAME] stanza (each client needs one; or give -k FILE)", file);
	if (c->fleet.redis[0] != '\0' && c->fleet.key_file[0] == '\0')
		return config_set_err(
		    err,
		    "%s:%d: [fleet] has no key_file (a key every gateway of the "
		    "fleet shares: 'postern keygen -o fleet.key', then 'key_file = "
		    "fleet.key')",
		    file ? file : "(config)", c->fleet.section_line);
	if (c->spa.section_line && c->spa.nlisten == 0)
		return config_set_err(err,
				      "%s:%d: [spa] has no listen address (add 'listen = "
				      "0.0.0.0:62201', or remove the section to turn SPA off)",
				      file ? file : "(config)", c->spa.section_line);
	for (i = 0; i < c->nkeys; i++) {
		const struct config_key *k = &c->keys[i];
		if (!config_key_tunnel(k) && !config_key_fwknop(k)) {
			key_where(c, k, where, sizeof(where));
			return config_set_err(err, "%s has no key_file or public_key", where);
		}
		if (check_forward_guarded(c, k, err) != 0)
			return -1;
	}
	return 0;
}

/* ---- the command line ---- */

/* Flags are applied after the file, so they override it. */
static int apply_flags(const struct settings_argv *a, struct config_server *c, char *err)
{
	struct config_key *k = NULL;
	const struct settings_flag *key_flag = NULL, *quick = NULL;
	int replaced[256] = {0};
	size_t i, n;
	const struct setting *t = settings_table(SETTINGS_SERVER, &n);

	for (i = 0; i < a->nflags; i++) {
		const struct settings_flag *fl = &a->flags[i];
		size_t idx = (size_t)(fl->s - t);
		if (fl->s->scope == SETTINGS_IN_KEY) {
			if (strcmp(fl->s->key, "key_file") == 0 ||
			    strcmp(fl->s->key, "public_key") == 0 ||
			    strcmp(fl->s->key, "public_key_file") == 0)
				key_flag = fl;
			else if (!quick)
				quick = fl;
			continue;
		}
		/* -l replaces the file's list, as every flag overrides the file. */
		void *base = fl->s->scope == SETTINGS_IN_SPA	 ? (void *)&c->spa
			     : fl->s->scope == SETTINGS_IN_FLEET ? (void *)&c->fleet
								 : (void *)c;
		if ((fl->s->flags & SETTINGS_F_REPLACE) && idx < 256 && !replaced[idx]) {
			fl->s->clear(base);
			replaced[idx] = 1;
		}
		if (settings_apply_flag(fl, base, err) < 0)
			return -1;
	}
	if (!key_flag) {
		if (quick) {
			char name[64];
			return config_set_err(err, "%s needs a key: give -k FILE",
					      settings_flag_name(quick->s, name, sizeof(name)));
		}
		return 0;
	}
	k = config_add_key(c, "default");
	if (!k)
		return config_set_err(err, "-k: a key named 'default' is already configured");
	for (i = 0; i < a->nflags; i++)
		if (a->flags[i].s->scope == SETTINGS_IN_KEY &&
		    settings_apply_flag(&a->flags[i], k, err) < 0)
			return -1;
	return 0;
}

int conf_server_args(int argc, char **argv, struct config_server *c, int *log, char *err)
{
	struct settings_argv a;
	char why[CONFIG_ERR_MAX], q[64 + 4];
	int rc = -1;

	if (settings_parse_argv(SETTINGS_SERVER, "server", argc, argv, &a, err) < 0)
		goto out;
	if (a.help) {
		rc = 1;
		goto out;
	}
	*log = a.log;
	if (a.npositional > 0) {
		config_set_err(err, "unexpected argument '%s' (see 'postern server --help')",
			       config_quote(q, 64, a.positional[0]));
		goto out;
	}
	if (a.config != NULL && conf_server_load(a.config, c, err) != 0)
		goto out;
	if (apply_flags(&a, c, err) < 0)
		goto out;
	if (conf_server_check(c, why) != 0 || conf_server_load_keys(c, why) != 0) {
		config_set_err(err, "%s", why);
		goto out;
	}
	rc = 0;
out:
	settings_argv_free(&a);
	return rc;
}
