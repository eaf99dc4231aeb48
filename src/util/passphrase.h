/* SPDX-License-Identifier: MIT */
/*
 * passphrase: where the passphrase of an encrypted key file comes from. In
 * order: a file named by an option (its first line), an environment
 * variable named by an option, an askpass program (an option, else
 * $POSTERN_ASKPASS; it gets the prompt as its argument and prints the
 * passphrase), else the terminal (/dev/tty, echo off).
 */
#ifndef POSTERN_PASSPHRASE_H
#define POSTERN_PASSPHRASE_H

#include <stddef.h>

enum {
	PASS_MAX = 1024, /* longest passphrase, with its NUL */
	PASS_ERR_MAX = 512,
};

struct pass_source {
	const char *file;    /* --passphrase-file, or NULL */
	const char *env;     /* --passphrase-env: a variable's name, or NULL */
	const char *askpass; /* --askpass PROG, or NULL ($POSTERN_ASKPASS then) */
};

/*
 * pass_get(src, prompt, confirm, out, err): the passphrase into ${out}
 * (PASS_MAX bytes, NUL-terminated, without its newline). ${confirm}: ask
 * the terminal twice and insist they agree (creating a file); other
 * sources are read once. Returns 0, or -1 with a message in ${err}
 * (PASS_ERR_MAX). Wipe ${out} after use.
 */
int pass_get(const struct pass_source *src, const char *prompt, int confirm, char out[PASS_MAX],
	     char *err);

/* pass_set_default(src): the source keys_load_any() uses for encrypted files (copied). */
void pass_set_default(const struct pass_source *src);

/* pass_default(): that source (all NULL unless set). */
const struct pass_source *pass_default(void);

#endif
