/* SPDX-License-Identifier: MIT */
/*
 * conf/client: the client schema and command line. It owns [profile NAME]
 * stanzas (every one is parsed and checked; the chosen one fills the
 * caller's struct), the positionals (PROFILE after -c FILE, SERVER:PORT) and
 * the check that a server and a key were given; the values are
 * conf/settings.c's table, the file grammar conf/ini.c's.
 */
#include "conf/client.h"
#include "conf/ini.h"
#include "conf/settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ECHO_NAME_MAX = 32, QUOTE_MAX = 64 };

struct profile_name {
	char name[CONFIG_NAME_MAX + 1];
	int line;
};

struct schema {
	struct config_client *cli;
	struct config_client *cur; /* cli, or scratch for profiles not asked for */
	struct config_client scratch;
	const char *want;
	int found;
	struct profile_name *profiles;
	size_t nprofiles;
};

static int remember_profile(struct schema *p, struct ini *in, const char *name)
{
	size_t i;

	for (i = 0; i < p->nprofiles; i++) {
		if (strcmp(p->profiles[i].name, name) == 0) {
			ini_fail(in, "duplicate [profile %s] (first on line %d)", name,
				 p->profiles[i].line);
			return -1;
		}
	}
	if (config_grow((void **)&p->profiles, p->nprofiles, sizeof(*p->profiles)) < 0) {
		ini_fail(in, "too many [profile] stanzas (max %d) or out of memory",
			 CONFIG_LIST_MAX);
		return -1;
	}
	snprintf(p->profiles[p->nprofiles].name, sizeof(p->profiles[0].name), "%s", name);
	p->profiles[p->nprofiles].line = ini_line(in);
	p->nprofiles++;
	return 0;
}

/*
 * Every profile is parsed and checked, but only the one asked for (or the
 * first) lands in the caller's struct; the others go to a scratch struct.
 */
static int on_section(void *arg, struct ini *in, const char *type, const char *name)
{
	struct schema *p = arg;
	char why[CONFIG_ERR_MAX];
	int chosen;

	if (strcmp(type, "profile") != 0)
		return 1;
	if (config_valid_name(name, "profile", why) < 0) {
		ini_fail(in, "%s", why);
		return -1;
	}
	if (remember_profile(p, in, name) < 0)
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
	return 0;
}

static int on_setting(void *arg, struct ini *in, const char *key, const char *value)
{
	struct schema *p = arg;
	const struct setting *s = settings_find(SETTINGS_CLIENT, SETTINGS_IN_PROFILE, key);
	char why[CONFIG_ERR_MAX];
	size_t len = strlen(key);

	if (!s) {
		/* Repeat a bad name only if it looks like one: it might be a pasted key. */
		if (len == 0)
			ini_fail(in, "missing setting name before '=' in [profile %s]",
				 p->cur->profile);
		else if (len <= ECHO_NAME_MAX &&
			 strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") == len)
			ini_fail(in, "unknown setting '%s' in [profile %s]", key, p->cur->profile);
		else
			ini_fail(in, "unknown setting in [profile %s]", p->cur->profile);
		return -1;
	}
	if (s->type != SETTINGS_LIST && ini_once(in, s->key) < 0)
		return -1;
	if (settings_apply(s, p->cur, value, ini_dir(in), why) < 0) {
		ini_fail(in, "%s", why);
		return -1;
	}
	return 0;
}

static const struct ini_schema client_schema = {
    .sections = "[profile NAME]",
    .section = on_section,
    .setting = on_setting,
};

/* "a, b, c" for the message about a missing profile. */
static void list_profiles(const struct schema *p, char *out, size_t size)
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

int conf_client_load_string(const char *text, size_t len, const char *name, const char *profile,
			    struct config_client *c, char *err)
{
	struct schema p = {.cli = c, .want = profile};
	char q[QUOTE_MAX + 4], names[CONFIG_ERR_MAX / 2];
	int rc = -1;

	if (!c)
		return config_set_err(err, "config: nothing to parse");
	if (!name)
		name = "(config)";
	config_client_defaults(&p.scratch);
	if (ini_load_text(text, len, name, &client_schema, &p, err) < 0)
		goto out;
	if (p.nprofiles == 0) {
		config_set_err(err, "%s: no [profile NAME] stanza", name);
		goto out;
	}
	if (!p.found) {
		list_profiles(&p, names, sizeof(names));
		config_set_err(err, "%s: no profile '%s' (profiles: %s)", name,
			       config_quote(q, QUOTE_MAX, p.want), names);
		goto out;
	}
	rc = 0;
out:
	config_client_free(&p.scratch);
	free(p.profiles);
	return rc;
}

int conf_client_load(const char *path, const char *profile, struct config_client *c, char *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!path || !c)
		return config_set_err(err, "config: no file given");
	if (ini_read_file(path, &text, &len, err) < 0)
		return -1;
	rc = conf_client_load_string(text, len, path, profile, c, err);
	free(text);
	return rc;
}

int conf_client_check(const struct config_client *c, char *err)
{
	char where[CONFIG_NAME_MAX + 32] = "";

	if (!c)
		return config_set_err(err, "config: nothing to check");
	if (c->profile[0])
		snprintf(where, sizeof(where), " (or server in profile '%s')", c->profile);
	if (c->server.host[0] == '\0' || c->server.port == 0)
		return config_set_err(err, "no server: give SERVER:PORT%s", where);
	if (c->profile[0])
		snprintf(where, sizeof(where), " (or key_file in profile '%s')", c->profile);
	else
		snprintf(where, sizeof(where), " (or key_file in a profile)");
	if (c->key_file[0] == '\0')
		return config_set_err(err, "no key: give -k FILE%s", where);
	if (c->stdio.host[0] != '\0' && c->nlocal + c->nremote + c->ndynamic > 0)
		return config_set_err(
		    err, "-W takes stdin and stdout for its one channel: no -L, -R or -D "
			 "with it");
	return 0;
}

int conf_client_args(int argc, char **argv, struct config_client *c, int *log, char *err)
{
	struct settings_argv a;
	const char *profile = NULL, *server = NULL;
	char why[CONFIG_ERR_MAX], q[QUOTE_MAX + 4];
	int rc = -1, i = 0;

	if (settings_parse_argv(SETTINGS_CLIENT, "client", argc, argv, &a, err) < 0)
		goto out;
	if (a.help) {
		rc = 1;
		goto out;
	}
	*log = a.log;
	/* With -c the first positional names a profile; without, the server. */
	if (i < a.npositional && a.config != NULL)
		profile = a.positional[i++];
	if (i < a.npositional)
		server = a.positional[i++];
	if (i < a.npositional) {
		config_set_err(err, "unexpected argument '%s' (see 'postern client --help')",
			       config_quote(q, QUOTE_MAX, a.positional[i]));
		goto out;
	}
	if (a.config != NULL && conf_client_load(a.config, profile, c, err) != 0)
		goto out;
	/* An --admit before any -L/-D on the command line is the default, not
	 * the policy of the profile's last forward. */
	c->last_forward = 0;
	for (size_t k = 0; k < a.nflags; k++)
		if (settings_apply_flag(&a.flags[k], c, err) < 0)
			goto out;
	if (server != NULL) {
		const struct setting *s =
		    settings_find(SETTINGS_CLIENT, SETTINGS_IN_PROFILE, "server");
		if (settings_apply(s, c, server, "", why) < 0) {
			/* "server: ..." from the table; on the command line it is SERVER:PORT. */
			config_set_err(err, "SERVER:PORT%s", why + strlen("server"));
			goto out;
		}
	}
	if (conf_client_check(c, err) != 0)
		goto out;
	rc = 0;
out:
	settings_argv_free(&a);
	return rc;
}
