/* SPDX-License-Identifier: MIT */
/*
 * settings: `postern settings [server|client]` prints the settings table
 * (scope, file key, flag, type, range, default, help; tab-separated), the
 * source later man pages and `postern check` are generated from.
 * `--scdoc` prints the same table as the scdoc text of postern.conf(5),
 * `--scdoc-flags` as the option list of postern(1): the man pages include
 * it at build time, so a new setting needs no edit of theirs.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "conf/settings.h"

enum output { OUT_TABLE, OUT_SCDOC, OUT_SCDOC_FLAGS };

/* ${text} with scdoc's markup characters taken literally. */
static void scd_text(FILE *f, const char *text)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '*' || *p == '_' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
}

/*
 * Entry ${i}'s help at the start of a line, where scdoc reads '[' or '|' as
 * a table and '-' as a list, and mangles a leading '.': the "... from one
 * source" of an entry continuing the one before it names that one instead.
 */
static void scd_help(FILE *f, const struct setting *t, size_t i)
{
	const char *help = t[i].help;

	if (help[0] == '.' && i > 0) {
		fputs("(with *", f);
		scd_text(f, t[i - 1].key);
		fputs("*) ", f);
	} else if (help[0] != '\0' && strchr("[]|-", help[0]) != NULL)
		fputc('\\', f);
	scd_text(f, help);
}

/* "*-l*, *--listen* _HOST:PORT_", or "*--[no-]F*" for a bool without argument. */
static void scd_flag(FILE *f, const struct setting *s)
{
	if (s->short_flag)
		fprintf(f, "*-%c*, ", s->short_flag);
	fputc('*', f);
	if (s->type == SETTINGS_BOOL && !s->arg)
		fputs("--", f), scd_text(f, s->flag), fputs("*, *--no-", f);
	else
		fputs("--", f);
	scd_text(f, s->flag);
	fputc('*', f);
	if (s->arg) {
		fputs(" _", f);
		scd_text(f, s->arg);
		fputc('_', f);
	}
}

/* The entry's range, words and default, as one sentence (nothing if none apply). */
static void scd_values(FILE *f, const struct setting *s)
{
	if (s->type == SETTINGS_UINT || s->type == SETTINGS_RANGE)
		fprintf(f, " Range: %u..%u %s.", s->min, s->max, s->unit ? s->unit : "");
	else if (s->words) {
		fputs(" Values: ", f);
		scd_text(f, s->words);
		fputc('.', f);
	}
	if (s->def && s->def[0] != '\0') {
		fputs(" Default: ", f);
		scd_text(f, s->def);
		fputc('.', f);
	}
}

/* One postern.conf(5) entry: "*key* = _ARG_", then the help indented. */
static void scd_setting(FILE *f, const struct setting *t, size_t i)
{
	const struct setting *s = &t[i];

	fputc('*', f);
	scd_text(f, s->key);
	fputc('*', f);
	if (s->type == SETTINGS_REMOVED) {
		fputs(" (removed)\n\t", f);
		scd_help(f, t, i);
		if (s->flag) {
			fputs(". Its flag went with it: ", f);
			scd_flag(f, s);
		}
		fputs(".\n\n", f);
		return;
	}
	fputs(" = _", f);
	scd_text(f, s->arg ? s->arg : s->type == SETTINGS_BOOL ? "yes|no" : "VALUE");
	fputs("_\n\t", f);
	scd_help(f, t, i);
	fputc('.', f);
	scd_values(f, s);
	if (s->flag) {
		fputs(" Flag: ", f);
		scd_flag(f, s);
		fputs(".\n\n", f);
	} else
		fputs(" No flag.\n\n", f);
}

/* postern.conf(5)'s entries, one "## [section]" per scope in table order. */
static void print_scdoc(enum settings_role role, FILE *f)
{
	size_t n;
	const struct setting *t = settings_table(role, &n);
	unsigned done = 0; /* scopes already printed, as bits */

	for (size_t i = 0; i < n; i++) {
		enum settings_scope scope = t[i].scope;
		if (done & (1u << scope))
			continue;
		done |= 1u << scope;
		fputs("## ", f);
		scd_text(f, settings_scope_name(scope));
		fputs("\n\n", f);
		for (size_t j = i; j < n; j++)
			if (t[j].scope == scope)
				scd_setting(f, t, j);
	}
}

/* postern(1)'s option list of a role: every flag, the key it sets and its help. */
static void print_scdoc_flags(enum settings_role role, FILE *f)
{
	size_t n;
	const struct setting *t = settings_table(role, &n);

	for (size_t i = 0; i < n; i++) {
		const struct setting *s = &t[i];
		if (!s->flag)
			continue;
		scd_flag(f, s);
		fputs("\n\t", f);
		scd_help(f, t, i);
		fputs(s->type == SETTINGS_REMOVED ? ". " : ". Setting *", f);
		if (s->type != SETTINGS_REMOVED) {
			scd_text(f, s->key);
			fputs("* in ", f);
			scd_text(f, settings_scope_name(s->scope));
			fputc('.', f);
		}
		scd_values(f, s);
		fputs("\n\n", f);
	}
}

static void print(enum output out, enum settings_role role)
{
	if (out == OUT_SCDOC)
		print_scdoc(role, stdout);
	else if (out == OUT_SCDOC_FLAGS)
		print_scdoc_flags(role, stdout);
	else
		settings_print(role, stdout);
}

int cmd_settings(int argc, char **argv)
{
	enum output out = OUT_TABLE;
	int server = 1, client = 1;

	if (argc > 1 && strcmp(argv[1], "--scdoc") == 0)
		out = OUT_SCDOC, argc--, argv++;
	else if (argc > 1 && strcmp(argv[1], "--scdoc-flags") == 0)
		out = OUT_SCDOC_FLAGS, argc--, argv++;
	if (argc > 2 ||
	    (argc == 2 && strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
		fprintf(stderr,
			"usage: postern settings [--scdoc|--scdoc-flags] [server|client]\n");
		return EXIT_USAGE;
	}
	if (argc == 2) {
		server = strcmp(argv[1], "server") == 0;
		client = !server;
	}
	if (server)
		print(out, SETTINGS_SERVER);
	if (client)
		print(out, SETTINGS_CLIENT);
	return 0;
}
