/* SPDX-License-Identifier: MIT */
/*
 * settings: THE table of every setting, one per role. Each entry names the
 * config-file key, the command-line flag, the value's type, range, unit and
 * default, and a line of help; the INI schemas (conf/server.c,
 * conf/client.c), the getopt options, `--help` and test_settings.c all read
 * it, so a file and a flag accept exactly the same values.
 */
#ifndef POSTERN_SETTINGS_H
#define POSTERN_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

#include "util/config.h"

enum settings_role { SETTINGS_SERVER, SETTINGS_CLIENT };

/* Which struct an entry fills: struct config_server, config_key, config_client or config_spa. */
/* SETTINGS_IN_SPA: struct config_spa, the [spa] section (config_server.spa). */
enum settings_scope {
	SETTINGS_IN_SERVER = 1,
	SETTINGS_IN_KEY,
	SETTINGS_IN_PROFILE,
	SETTINGS_IN_SPA,
	SETTINGS_IN_FLEET /* struct config_fleet, the [fleet] section (config_server.fleet) */
};

enum settings_type {
	SETTINGS_UINT,	  /* decimal min..max in ${unit}, times ${scale} into an unsigned */
	SETTINGS_BOOL,	  /* yes | no into an int; flag --F / --no-F (or --F yes|no) */
	SETTINGS_WORDS,	  /* one of a few words into an int, by ${word} */
	SETTINGS_PATH,	  /* a path relative to the config file into char[CONFIG_PATH_MAX+1] */
	SETTINGS_RANGE,	  /* "MIN-MAX" or "N" seconds, min..max: reject_delay */
	SETTINGS_VALUE,	  /* one value parsed by ${apply} (host:port, cipher) */
	SETTINGS_LIST,	  /* repeatable; each value appended by ${apply} */
	SETTINGS_REMOVED, /* no longer a setting: ${help} says what replaced it */
};

/* For SETTINGS_LIST: a flag empties the file's list instead of adding to it. */
enum { SETTINGS_F_REPLACE = 1 };

struct setting;

/*
 * A value parser for VALUE and LIST entries: fill ${base} (the scope's
 * struct) from ${value}; ${dir} is the base of relative paths ("" for
 * flags). On error write a message to ${why} (CONFIG_ERR_MAX bytes) that
 * starts with the entry's key ("listen: ..." or "permit_open 'x': ...").
 */
typedef int (*settings_apply_fn)(const struct setting *s, void *base, const char *value,
				 const char *dir, char *why);

struct setting {
	const char *key;  /* in the file */
	const char *flag; /* long flag without "--"; NULL: none (see test_settings.c) */
	char short_flag;  /* 0: none */
	const char *arg;  /* the argument's name in --help ("SEC"); NULL: a flag without one */
	enum settings_type type;
	enum settings_scope scope;
	size_t offset; /* the field in the scope's struct */
	unsigned min, max;
	unsigned scale;		    /* UINT: field = value * scale (seconds kept in ms) */
	const char *unit;	    /* UINT/RANGE: "seconds" */
	const char *def;	    /* the default as the file writes it; NULL: empty or none */
	const char *help;	    /* one sentence for --help and the man page */
	const char *words;	    /* WORDS/BOOL: "no, yes or clientspecified" for messages */
	int (*word)(const char *s); /* WORDS: the value, or < 0 if not a word */
	settings_apply_fn apply;    /* VALUE, LIST */
	void (*clear)(void *base);  /* LIST with SETTINGS_F_REPLACE */
	unsigned flags;
	/* A second flag without an argument that means "--${flag} ${alias_value}"
	 * (--syslog for --log syslog); NULL: none. */
	const char *alias;
	const char *alias_value;
};

/* settings_table(role, n): the role's entries, in --help order, and their count. */
const struct setting *settings_table(enum settings_role role, size_t *n);

/* settings_find(role, scope, key): the entry for a file key in a scope, or NULL. */
const struct setting *settings_find(enum settings_role role, enum settings_scope scope,
				    const char *key);

/*
 * settings_apply(s, base, value, dir, why): parse ${value} as ${s} says and
 * store it in ${base}, the scope's struct. Returns 0, or -1 with a message
 * in ${why} (CONFIG_ERR_MAX bytes) that starts with ${s->key}, e.g.
 * "keepalive: '99999' is out of range 0..3600". Files and flags both call
 * this, so they accept the same values.
 */
int settings_apply(const struct setting *s, void *base, const char *value, const char *dir,
		   char *why);

/*
 * settings_flag_name(s, out, size): how a message names ${s}'s flag: "-L",
 * "--keepalive". Returns ${out}.
 */
const char *settings_flag_name(const struct setting *s, char *out, size_t size);

/*
 * settings_flag_error(s, why, out): ${why} from settings_apply() reworded for
 * the command line: its leading key becomes the flag ("--keepalive: ...").
 */
void settings_flag_error(const struct setting *s, const char *why, char *out);

/* One flag as given: its entry, its argument (NULL for a bool), and --no-. */
struct settings_flag {
	const struct setting *s;
	const char *value;
};

/* A command line, split: flags in order, -c, -v/-q, -h and the positionals. */
struct settings_argv {
	struct settings_flag *flags;
	size_t nflags;
	const char *config; /* -c FILE, or NULL */
	int help;	    /* -h given */
	int log;	    /* 0, or the last of -v (1) and -q (-1) */
	char **positional;
	int npositional;
};

/*
 * settings_parse_argv(role, cmd, argc, argv, a, err): split ${argv} (argv[0]
 * is the subcommand) by the role's table. Values are checked later, by
 * settings_apply(). Unknown options and missing arguments are errors:
 * "unknown option '--permt-open' (see 'postern server --help')", with ${cmd}
 * ("server") in the hint. Returns 0 or -1 with ${err}; free ${a} either way
 * with settings_argv_free().
 */
int settings_parse_argv(enum settings_role role, const char *cmd, int argc, char **argv,
			struct settings_argv *a, char *err);

/* settings_argv_free(a): release what settings_parse_argv() allocated. */
void settings_argv_free(struct settings_argv *a);

/*
 * settings_apply_flag(fl, base, err): settings_apply() for one flag, with the
 * message in flag language ("--keepalive: '99999' is out of range 0..3600").
 */
int settings_apply_flag(const struct settings_flag *fl, void *base, char *err);

/* settings_usage(role, f): the option lines of `--help`, from the table. */
void settings_usage(enum settings_role role, FILE *f);

/* settings_scope_name(scope): the section an entry belongs in: "[server]", "[key]", ... */
const char *settings_scope_name(enum settings_scope scope);

/* settings_print(role, f): the whole table, one entry per line (`postern settings`). */
void settings_print(enum settings_role role, FILE *f);

#endif
