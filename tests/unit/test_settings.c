/* SPDX-License-Identifier: MIT */
/*
 * test_settings: walks the settings table of each role. Every entry is
 * complete (key, flag, help), its default text parses, lies in its range
 * and equals what config_*_defaults() sets; and a config file and a flag
 * accept and refuse the same values, with the same result.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/client.h"
#include "conf/server.h"
#include "conf/settings.h"
#include "util/config.h"

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

/* Entries that are no flag, by design: the positional SERVER:PORT and a key's
 * own gateway_ports (the flag --gateway-ports is [server]'s). */
static int flagless_ok(const struct setting *s)
{
	return (s->scope == SETTINGS_IN_PROFILE && strcmp(s->key, "server") == 0) ||
	       (s->scope == SETTINGS_IN_KEY && strcmp(s->key, "gateway_ports") == 0) ||
	       /* Secrets never go on a command line, where ps shows them. */
	       (s->scope == SETTINGS_IN_KEY && strncmp(s->key, "fwknop_", 7) == 0);
}

/* Values that are absent unless given: a public key has no default. */
static int no_default_ok(const struct setting *s)
{
	return (s->scope == SETTINGS_IN_FLEET && strcmp(s->key, "name") == 0) ||
	       strncmp(s->key, "public_key", 10) == 0 || strcmp(s->key, "server_key") == 0 ||
	       strcmp(s->key, "passphrase_env") == 0 || strncmp(s->key, "fwknop_", 7) == 0;
}

/* Where a flag is not the key with '-' for '_', the table says so here. */
static const char *const renamed[][2] = {
    {"key_file", "key"},
    {"local_forward", "local"},
    {"remote_forward", "remote"},
    {"dynamic_forward", "dynamic"},
};

static void expect_flag_name(const struct setting *s)
{
	char want[64];
	size_t i;

	snprintf(want, sizeof(want), "%s", s->key);
	for (i = 0; want[i]; i++)
		if (want[i] == '_')
			want[i] = '-';
	for (i = 0; i < NUM(renamed); i++)
		if (strcmp(s->key, renamed[i][0]) == 0)
			snprintf(want, sizeof(want), "%s", renamed[i][1]);
	/* [spa]'s listen and backend would clash with [server]'s flags. */
	if (s->scope == SETTINGS_IN_FLEET) {
		char fl[80];
		snprintf(fl, sizeof(fl), "fleet-%s", want);
		snprintf(want, sizeof(want), "%s", fl);
	}
	if (s->scope == SETTINGS_IN_SPA && strcmp(s->flag, want) != 0) {
		char spa[80];
		snprintf(spa, sizeof(spa), "spa-%s", want);
		snprintf(want, sizeof(want), "%s", spa);
	}
	if (strcmp(s->flag, want) != 0)
		fail_msg("%s: flag --%s, expected --%s", s->key, s->flag, want);
}

static void walk_entries(enum settings_role role)
{
	size_t n, i, j;
	const struct setting *t = settings_table(role, &n);

	assert_true(n > 10);
	for (i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		assert_non_null(s->key);
		/* Digits for fwknop_key_base64, named after fwknopd's KEY_BASE64. */
		assert_true(strspn(s->key, "abcdefghijklmnopqrstuvwxyz_0123456789") ==
			    strlen(s->key));
		assert_true(s->key[0] >= 'a' && s->key[0] <= 'z');
		if (!s->help || strlen(s->help) < 10)
			fail_msg("%s: no help", s->key);
		if (!s->flag && !flagless_ok(s))
			fail_msg("%s: no flag", s->key);
		if (s->flag)
			expect_flag_name(s);
		if (s->flag && !s->arg && s->type != SETTINGS_BOOL)
			fail_msg("%s: a flag that takes a value needs an argument name", s->key);
		if (s->type == SETTINGS_UINT) {
			assert_true(s->min <= s->max);
			assert_true(s->scale >= 1);
			if (!s->unit || !s->def)
				fail_msg("%s: a number needs a unit and a default", s->key);
		}
		if ((s->type == SETTINGS_WORDS || s->type == SETTINGS_BOOL) && !s->words)
			fail_msg("%s: no words for messages", s->key);
		if ((s->type == SETTINGS_VALUE || s->type == SETTINGS_LIST) && !s->apply)
			fail_msg("%s: no parser", s->key);
		if ((s->flags & SETTINGS_F_REPLACE) && !s->clear)
			fail_msg("%s: replaces but cannot clear", s->key);
		for (j = 0; j < i; j++) {
			if (t[j].scope == s->scope && strcmp(t[j].key, s->key) == 0)
				fail_msg("%s twice in one scope", s->key);
			if (t[j].flag && s->flag && strcmp(t[j].flag, s->flag) == 0)
				fail_msg("flag --%s twice", s->flag);
			if (t[j].short_flag && t[j].short_flag == s->short_flag)
				fail_msg("flag -%c twice", s->short_flag);
		}
		assert_ptr_equal(settings_find(role, s->scope, s->key), s);
	}
}

static void test_entries_complete(void **state)
{
	(void)state;
	walk_entries(SETTINGS_SERVER);
	walk_entries(SETTINGS_CLIENT);
}

/* The bytes a setting owns in its struct. */
static size_t field_size(const struct setting *s)
{
	switch (s->type) {
	case SETTINGS_UINT:
		return sizeof(unsigned);
	case SETTINGS_RANGE:
		return 2 * sizeof(unsigned);
	case SETTINGS_PATH:
		return CONFIG_PATH_MAX + 1;
	default:
		return sizeof(int);
	}
}

/* Apply ${s->def} to a copy of the defaults: it must parse and change nothing. */
static void check_default(const struct setting *s, void *defaults, void *scratch, size_t size)
{
	char why[CONFIG_ERR_MAX];

	memcpy(scratch, defaults, size);
	if (settings_apply(s, scratch, s->def, "", why) != 0)
		fail_msg("%s: default '%s' does not parse: %s", s->key, s->def, why);
	if (memcmp((char *)scratch + s->offset, (char *)defaults + s->offset, field_size(s)) != 0)
		fail_msg("%s: default text '%s' differs from config_*_defaults()", s->key, s->def);
}

static void test_defaults_agree(void **state)
{
	struct config_server srv, srv2;
	struct config_client cli, cli2;
	struct config_key *key, key2;
	size_t n, i;
	const struct setting *t;

	(void)state;
	config_server_defaults(&srv);
	key = config_add_key(&srv, "k");
	assert_non_null(key);
	t = settings_table(SETTINGS_SERVER, &n);
	for (i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		if (s->type == SETTINGS_REMOVED)
			continue;
		if (!s->def) {
			/* No default text: the field starts empty (a list, a path, or
			 * a key's deferral to [server]). */
			if (s->type != SETTINGS_LIST && s->type != SETTINGS_PATH &&
			    !flagless_ok(s) && !no_default_ok(s))
				fail_msg("%s: no default", s->key);
			continue;
		}
		if (s->scope == SETTINGS_IN_KEY)
			check_default(s, key, &key2, sizeof(key2));
		else if (s->scope == SETTINGS_IN_SPA)
			check_default(s, &srv.spa, &srv2.spa, sizeof(srv2.spa));
		else if (s->scope == SETTINGS_IN_FLEET)
			check_default(s, &srv.fleet, &srv2.fleet, sizeof(srv2.fleet));
		else
			check_default(s, &srv, &srv2, sizeof(srv2));
	}
	config_server_free(&srv);

	config_client_defaults(&cli);
	t = settings_table(SETTINGS_CLIENT, &n);
	for (i = 0; i < n; i++) {
		if (!t[i].def) {
			if (t[i].type != SETTINGS_LIST && t[i].type != SETTINGS_PATH &&
			    !flagless_ok(&t[i]) && !no_default_ok(&t[i]))
				fail_msg("%s: no default", t[i].key);
			continue;
		}
		check_default(&t[i], &cli, &cli2, sizeof(cli2));
	}
}

/* The agreed names, units and defaults of the new settings (common brief). */
static void test_new_settings(void **state)
{
	static const struct {
		enum settings_role role;
		const char *key, *flag, *def;
		unsigned min, max;
	} want[] = {
	    {SETTINGS_SERVER, "replay_cache", "replay-cache", "262144", 1024, 16777216},
	    {SETTINGS_SERVER, "replay_quota", "replay-quota", "16384", 16, 16777216},
	    {SETTINGS_SERVER, "max_channels", "max-channels", "16384", 1, 65536},
	    {SETTINGS_SERVER, "session_buffer", "session-buffer", "64", 4, 65536},
	    {SETTINGS_SERVER, "server_buffer", "server-buffer", "1024", 4, 1048576},
	    {SETTINGS_SERVER, "max_fds", "max-fds", "0", 0, 16777216},
	    {SETTINGS_SERVER, "max_refusals", "max-refusals", "4096", 16, 1000000},
	    {SETTINGS_SERVER, "log_rate", "log-rate", "20", 1, 100000},
	    {SETTINGS_SERVER, "reject_delay", "reject-delay", "1-3", 0, 60},
	    {SETTINGS_SERVER, "max_sessions", "max-sessions", "1024", 1, 1000000},
	    {SETTINGS_SERVER, "max_unauth_per_source", "max-unauth-per-source", "8", 1, 1000000},
	    {SETTINGS_CLIENT, "connect_attempts", "connect-attempts", "3", 0, 1000},
	    {SETTINGS_CLIENT, "connect_timeout", "connect-timeout", "10", 1, 3600},
	};
	const struct setting *s;
	size_t i;

	(void)state;
	for (i = 0; i < NUM(want); i++) {
		s = settings_find(want[i].role,
				  want[i].role == SETTINGS_SERVER ? SETTINGS_IN_SERVER
								  : SETTINGS_IN_PROFILE,
				  want[i].key);
		if (!s)
			fail_msg("no setting %s", want[i].key);
		assert_string_equal(s->flag, want[i].flag);
		assert_string_equal(s->def, want[i].def);
		assert_int_equal(s->min, want[i].min);
		assert_int_equal(s->max, want[i].max);
	}
	s = settings_find(SETTINGS_SERVER, SETTINGS_IN_SERVER, "state_dir");
	assert_non_null(s);
	assert_string_equal(s->def, "auto");
	assert_non_null(settings_find(SETTINGS_SERVER, SETTINGS_IN_SERVER, "ban_exempt"));
	s = settings_find(SETTINGS_SERVER, SETTINGS_IN_SERVER, "preauth_timeout");
	assert_non_null(s);
	assert_int_equal(s->type, SETTINGS_REMOVED);
}

/* ---- the file and the flag agree ---- */

struct outcome {
	int rc;
	char field[CONFIG_PATH_MAX + 1]; /* the field's bytes after an accepted value */
};

/* ${value} through a config file: one line in the entry's section. */
static void by_file(const struct setting *s, const char *value, struct outcome *o)
{
	char text[512], err[CONFIG_ERR_MAX];

	memset(o, 0, sizeof(*o));
	if (s->scope == SETTINGS_IN_PROFILE) {
		struct config_client c;
		snprintf(text, sizeof(text), "[profile p]\n%s = %s\n", s->key, value);
		config_client_defaults(&c);
		o->rc = conf_client_load_string(text, strlen(text), "c.conf", NULL, &c, err);
		if (o->rc == 0)
			memcpy(o->field, (char *)&c + s->offset, field_size(s));
		config_client_free(&c);
		return;
	}
	struct config_server c;
	/* A key is a key_file or a public key, never both. */
	if (s->scope == SETTINGS_IN_KEY &&
	    (strcmp(s->key, "key_file") == 0 || strncmp(s->key, "public_key", 10) == 0))
		snprintf(text, sizeof(text), "[key a]\n%s = %s\n", s->key, value);
	else if (s->scope == SETTINGS_IN_KEY)
		snprintf(text, sizeof(text), "[key a]\nkey_file = /k\n%s = %s\n", s->key, value);
	else if (s->scope == SETTINGS_IN_SPA)
		snprintf(text, sizeof(text), "[spa]\nlisten = 127.0.0.1:1\n%s = %s\n", s->key,
			 value);
	else if (s->scope == SETTINGS_IN_FLEET)
		snprintf(text, sizeof(text), "[fleet]\n%s = %s\n", s->key, value);
	else
		snprintf(text, sizeof(text), "[server]\n%s = %s\n", s->key, value);
	config_server_defaults(&c);
	o->rc = conf_server_load_string(text, strlen(text), "s.conf", &c, err);
	if (o->rc == 0) {
		void *base = s->scope == SETTINGS_IN_KEY     ? (void *)&c.keys[0]
			     : s->scope == SETTINGS_IN_SPA   ? (void *)&c.spa
			     : s->scope == SETTINGS_IN_FLEET ? (void *)&c.fleet
							     : (void *)&c;
		memcpy(o->field, (char *)base + s->offset, field_size(s));
	}
	config_server_free(&c);
}

/* ${value} through the command line: "--flag value", split and applied as
 * conf_*_args() does. */
static void by_flag(enum settings_role role, const struct setting *s, const char *value,
		    struct outcome *o)
{
	char opt[80], err[CONFIG_ERR_MAX];
	char *argv[] = {"cmd", opt, (char *)value, NULL};
	struct settings_argv a;
	struct config_server srv;
	struct config_client cli;
	struct config_key *k;
	void *base;

	memset(o, 0, sizeof(*o));
	snprintf(opt, sizeof(opt), "--%s", s->flag);
	config_server_defaults(&srv);
	config_client_defaults(&cli);
	k = config_add_key(&srv, "a");
	base = s->scope == SETTINGS_IN_PROFILE ? (void *)&cli
	       : s->scope == SETTINGS_IN_KEY   ? (void *)k
	       : s->scope == SETTINGS_IN_SPA   ? (void *)&srv.spa
	       : s->scope == SETTINGS_IN_FLEET ? (void *)&srv.fleet
					       : (void *)&srv;
	o->rc = settings_parse_argv(role, "cmd", 3, argv, &a, err);
	if (o->rc == 0) {
		assert_int_equal(a.nflags, 1);
		assert_int_equal(a.npositional, 0);
		o->rc = settings_apply_flag(&a.flags[0], base, err);
	}
	if (o->rc == 0)
		memcpy(o->field, (char *)base + s->offset, field_size(s));
	settings_argv_free(&a);
	config_server_free(&srv);
	config_client_free(&cli);
}

static void agree(enum settings_role role, const struct setting *s, const char *value)
{
	struct outcome f, g;

	by_file(s, value, &f);
	by_flag(role, s, value, &g);
	if (f.rc != g.rc)
		fail_msg("%s = '%s': the file %s it, --%s %s it", s->key, value,
			 f.rc ? "refuses" : "accepts", s->flag, g.rc ? "refuses" : "accepts");
	if (f.rc == 0 && memcmp(f.field, g.field, field_size(s)) != 0)
		fail_msg("%s = '%s': the file and the flag store different values", s->key, value);
}

static void agree_all(enum settings_role role)
{
	size_t n, i, j;
	const struct setting *t = settings_table(role, &n);
	char v[8][32];

	for (i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		size_t nv = 0;
		if (!s->flag || s->type == SETTINGS_LIST || s->type == SETTINGS_REMOVED ||
		    (s->type == SETTINGS_BOOL && !s->arg))
			continue;
		if (s->type == SETTINGS_UINT) {
			snprintf(v[nv++], sizeof(v[0]), "%u", s->min);
			snprintf(v[nv++], sizeof(v[0]), "%u", s->max);
			snprintf(v[nv++], sizeof(v[0]), "%llu", (unsigned long long)s->max + 1);
			if (s->min > 0)
				snprintf(v[nv++], sizeof(v[0]), "%u", s->min - 1);
			snprintf(v[nv++], sizeof(v[0]), "-1");
			snprintf(v[nv++], sizeof(v[0]), "%ux", s->min);
		} else {
			snprintf(v[nv++], sizeof(v[0]), "%s", s->def ? s->def : "x");
			snprintf(v[nv++], sizeof(v[0]), "yes");
			snprintf(v[nv++], sizeof(v[0]), "maybe");
			snprintf(v[nv++], sizeof(v[0]), "0-61");
		}
		for (j = 0; j < nv; j++)
			agree(role, s, v[j]);
	}
}

static void test_file_and_flag_agree(void **state)
{
	const struct setting *s;

	(void)state;
	agree_all(SETTINGS_SERVER);
	agree_all(SETTINGS_CLIENT);
	/* The values of the issue: once a flag took them and the file did not. */
	s = settings_find(SETTINGS_SERVER, SETTINGS_IN_SERVER, "replay_window");
	agree(SETTINGS_SERVER, s, "86400");
	s = settings_find(SETTINGS_SERVER, SETTINGS_IN_SERVER, "ban_time");
	agree(SETTINGS_SERVER, s, "31536000");
}

/*
 * Every single-valued setting of a section at once, then one of them again:
 * the duplicate check must remember them all (it once kept only 16).
 */
static void test_every_setting_once(void **state)
{
	char text[8192], err[CONFIG_ERR_MAX], want[128];
	const char *last = NULL;
	size_t n, i, used;
	const struct setting *t = settings_table(SETTINGS_SERVER, &n);
	struct config_server c;

	(void)state;
	used = (size_t)snprintf(text, sizeof(text), "[server]\n");
	for (i = 0; i < n; i++) {
		if (t[i].scope != SETTINGS_IN_SERVER || !t[i].def)
			continue;
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s = %s\n", t[i].key,
					 t[i].def);
		last = t[i].key;
	}
	assert_non_null(last);
	config_server_defaults(&c);
	if (conf_server_load_string(text, used, "s.conf", &c, err) != 0)
		fail_msg("%s", err);
	config_server_free(&c);
	snprintf(text + used, sizeof(text) - used, "%s = 1\n", t[0].key == last ? "x" : last);
	config_server_defaults(&c);
	assert_int_equal(conf_server_load_string(text, strlen(text), "s.conf", &c, err), -1);
	snprintf(want, sizeof(want), "%s set twice", last);
	assert_non_null(strstr(err, want));
	config_server_free(&c);
}

/* ---- flag language ---- */

static void expect_argv_error(enum settings_role role, const char *cmd, int argc, char **argv,
			      const char *want)
{
	struct settings_argv a;
	char err[CONFIG_ERR_MAX];

	assert_int_equal(settings_parse_argv(role, cmd, argc, argv, &a, err), -1);
	assert_string_equal(err, want);
	settings_argv_free(&a);
}

/* --syslog is --log syslog for both roles, and a later --log still wins. */
static void test_syslog_alias(void **state)
{
	char *srv[] = {"server", "--syslog", NULL};
	char *cli[] = {"client", "--syslog", "--log", "stderr", "h:1", NULL};
	struct settings_argv a;
	struct config_server s;
	struct config_client c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_server_defaults(&s);
	assert_int_equal(settings_parse_argv(SETTINGS_SERVER, "server", 2, srv, &a, err), 0);
	assert_int_equal(a.nflags, 1);
	assert_int_equal(settings_apply_flag(&a.flags[0], &s, err), 0);
	assert_int_equal(s.log_sink, CONFIG_LOG_SYSLOG);
	settings_argv_free(&a);
	config_server_free(&s);

	config_client_defaults(&c);
	assert_int_equal(settings_parse_argv(SETTINGS_CLIENT, "client", 5, cli, &a, err), 0);
	assert_int_equal(a.nflags, 2);
	for (size_t i = 0; i < a.nflags; i++)
		assert_int_equal(settings_apply_flag(&a.flags[i], &c, err), 0);
	assert_int_equal(c.log_sink, CONFIG_LOG_STDERR);
	settings_argv_free(&a);
	config_client_free(&c);
}

static void test_flag_messages(void **state)
{
	char *unknown[] = {"server", "--permt-open", "x", NULL};
	char *unknown_eq[] = {"server", "--permt-open=x", NULL};
	char *missing[] = {"client", "--keepalive", NULL};
	char *noarg[] = {"client", "--exit-on-forward-failure=no", NULL};
	char *keep[] = {"client", "--keepalive", "99999", NULL};
	char *both[] = {"client", "--no-exit-on-forward-failure", "-L", "1:h:2", "h:1", NULL};
	struct settings_argv a;
	struct config_client c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	expect_argv_error(SETTINGS_SERVER, "server", 3, unknown,
			  "unknown option '--permt-open' (see 'postern server --help')");
	expect_argv_error(SETTINGS_SERVER, "server", 2, unknown_eq,
			  "unknown option '--permt-open' (see 'postern server --help')");
	expect_argv_error(SETTINGS_CLIENT, "client", 2, missing,
			  "--keepalive needs an argument (see 'postern client --help')");
	expect_argv_error(SETTINGS_CLIENT, "client", 2, noarg,
			  "--exit-on-forward-failure takes no argument (see 'postern client "
			  "--help')");

	config_client_defaults(&c);
	assert_int_equal(settings_parse_argv(SETTINGS_CLIENT, "client", 3, keep, &a, err), 0);
	assert_int_equal(settings_apply_flag(&a.flags[0], &c, err), -1);
	assert_string_equal(err, "--keepalive: '99999' is out of range 0..3600");
	settings_argv_free(&a);

	assert_int_equal(settings_parse_argv(SETTINGS_CLIENT, "client", 5, both, &a, err), 0);
	assert_int_equal(a.nflags, 2);
	assert_int_equal(a.npositional, 1);
	assert_string_equal(a.positional[0], "h:1");
	assert_int_equal(settings_apply_flag(&a.flags[0], &c, err), 0);
	assert_int_equal(c.exit_on_forward_failure, 0);
	assert_int_equal(settings_apply_flag(&a.flags[1], &c, err), 0);
	assert_int_equal(c.nlocal, 1);
	settings_argv_free(&a);
	config_client_free(&c);

	/* A key pasted as a value is refused without being repeated. */
	{
		char *pasted[] = {
		    "client", "--cipher",
		    "postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", NULL};
		config_client_defaults(&c);
		assert_int_equal(settings_parse_argv(SETTINGS_CLIENT, "client", 3, pasted, &a, err),
				 0);
		assert_int_equal(settings_apply_flag(&a.flags[0], &c, err), -1);
		assert_string_equal(err,
				    "--cipher: this looks like a key; keys belong in a key file");
		settings_argv_free(&a);
		config_client_free(&c);
	}
}

static void test_client_args_messages(void **state)
{
	char *none[] = {"client", NULL};
	char *nokey[] = {"client", "127.0.0.1:1", NULL};
	char *v6[] = {"client", "-k", "k", "-L", "::1:2222:127.0.0.1:22", "h:1", NULL};
	char *badsrv[] = {"client", "-k", "k", "h", NULL};
	char *ok[] = {"client", "-k",  "k", "--connect-attempts", "0", "--connect-timeout",
		      "5",	"h:1", NULL};
	struct config_client c;
	char err[CONFIG_ERR_MAX];
	int log = 0;

	(void)state;
	config_client_defaults(&c);
	assert_int_equal(conf_client_args(1, none, &c, &log, err), -1);
	assert_string_equal(err, "no server: give SERVER:PORT");
	config_client_free(&c);
	config_client_defaults(&c);
	assert_int_equal(conf_client_args(2, nokey, &c, &log, err), -1);
	assert_string_equal(err, "no key: give -k FILE (or key_file in a profile)");
	config_client_free(&c);
	config_client_defaults(&c);
	assert_int_equal(conf_client_args(6, v6, &c, &log, err), -1);
	assert_non_null(strstr(err, "-L '::1:2222:127.0.0.1:22': IPv6 addresses go in brackets"));
	config_client_free(&c);
	config_client_defaults(&c);
	assert_int_equal(conf_client_args(4, badsrv, &c, &log, err), -1);
	assert_non_null(strstr(err, "SERVER:PORT: missing port"));
	config_client_free(&c);
	config_client_defaults(&c);
	if (conf_client_args(8, ok, &c, &log, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.connect_attempts, 0);
	assert_int_equal(c.connect_timeout_ms, 5000);
	config_client_free(&c);
}

static void test_server_args_messages(void **state)
{
	char *quick[] = {"server", "-l", "127.0.0.1:1", "--permit-open", "any", NULL};
	char *removed[] = {"server", "--preauth-timeout", "5", NULL};
	char *stray[] = {"server", "extra", NULL};
	struct config_server c;
	char err[CONFIG_ERR_MAX];
	int log = 0;

	(void)state;
	config_server_defaults(&c);
	assert_int_equal(conf_server_args(5, quick, &c, &log, err), -1);
	assert_string_equal(err, "--permit-open needs a key: give -k FILE");
	config_server_free(&c);
	config_server_defaults(&c);
	assert_int_equal(conf_server_args(3, removed, &c, &log, err), -1);
	assert_non_null(strstr(err, "--preauth-timeout: no longer a setting"));
	assert_non_null(strstr(err, "reject_delay"));
	config_server_free(&c);
	config_server_defaults(&c);
	assert_int_equal(conf_server_args(2, stray, &c, &log, err), -1);
	assert_string_equal(err, "unexpected argument 'extra' (see 'postern server --help')");
	config_server_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entries_complete),
	    cmocka_unit_test(test_defaults_agree),
	    cmocka_unit_test(test_new_settings),
	    cmocka_unit_test(test_file_and_flag_agree),
	    cmocka_unit_test(test_every_setting_once),
	    cmocka_unit_test(test_flag_messages),
	    cmocka_unit_test(test_syslog_alias),
	    cmocka_unit_test(test_client_args_messages),
	    cmocka_unit_test(test_server_args_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
