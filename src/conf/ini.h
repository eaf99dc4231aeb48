/* SPDX-License-Identifier: MIT */
/*
 * ini: a strict INI reader over inih. It owns the file-level grammar
 * (sections, "name = value" lines, comments, line numbers, duplicates of a
 * single-valued setting) and leaves what the names mean to a schema
 * (conf/server.c, conf/client.c). Errors read "FILE:LINE: message"; only the
 * first is reported.
 */
#ifndef POSTERN_INI_H
#define POSTERN_INI_H

#include <stddef.h>

struct ini;

/*
 * A schema: ${section} is called for every "[type name]" line (${name} "" when
 * absent) and returns 0 (entered), -1 (it called ini_fail()) or 1 (no such
 * section type: the reader reports it, listing ${sections}). ${setting} is
 * called for every "name = value" inside a section and returns 0 or -1 after
 * ini_fail(). ${sections} reads like "[server] or [key NAME]".
 */
struct ini_schema {
	const char *sections;
	int sectionless; /* settings may come before any section (an identity file) */
	int (*section)(void *arg, struct ini *in, const char *type, const char *name);
	int (*setting)(void *arg, struct ini *in, const char *key, const char *value);
};

/*
 * ini_load_text(text, len, name, schema, arg, err): read ${len} bytes of ${text}
 * (no NUL needed; a NUL byte is an error). ${name} stands for the file in
 * messages. Returns 0, or -1 with the first error in ${err} (CONFIG_ERR_MAX).
 */
int ini_load_text(const char *text, size_t len, const char *name, const struct ini_schema *schema,
		  void *arg, char *err);

/*
 * ini_read_file(path, text, len, err): the whole file (at most 1 MiB) in a
 * malloc'd ${*text} of ${*len} bytes, or -1 with "PATH: reason" in ${err}.
 */
int ini_read_file(const char *path, char **text, size_t *len, char *err);

/* ini_fail(in, fmt, ...): record "FILE:LINE: message" (the first one wins) and stop. */
void ini_fail(struct ini *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * ini_once(in, key): for a single-valued setting: 0 the first time ${key} is
 * set in the current section, else -1 after ini_fail("KEY set twice (first on
 * line N)"). The key is copied, so any buffer may hold it.
 */
int ini_once(struct ini *in, const char *key);

/* ini_line(in): the line being read (1-based). */
int ini_line(const struct ini *in);

/* ini_dir(in): the directory of the file ("" if none): base of relative paths. */
const char *ini_dir(const struct ini *in);

#endif
