/* SPDX-License-Identifier: MIT */
/*
 * conf/server: the server's configuration: the file schema ([server],
 * [key NAME]) and the command line (flags override the file; -k with
 * --permit-open etc. is quick mode: one key named 'default'), both by the
 * table in conf/settings.c.
 */
#ifndef POSTERN_CONF_SERVER_H
#define POSTERN_CONF_SERVER_H

#include <stddef.h>

#include "util/config.h"

/*
 * conf_server_load(path, c, err): parse a server file into ${c} (which holds
 * defaults). [server] takes the SETTINGS_IN_SERVER entries of the table,
 * [key NAME] the SETTINGS_IN_KEY ones. Unknown sections or keys, bad values,
 * a single-valued setting given twice in a section and duplicate key names
 * are errors: "server.conf:12: unknown setting 'permt_open' in [key alice]".
 * Returns 0 or -1 with ${err} (CONFIG_ERR_MAX bytes).
 */
int conf_server_load(const char *path, struct config_server *c, char *err);

/*
 * conf_server_load_string(text, len, name, c, err): conf_server_load() on
 * ${len} bytes of ${text} (no NUL needed; a NUL byte is an error). ${name}
 * stands for the file in messages and is the base of relative paths.
 */
int conf_server_load_string(const char *text, size_t len, const char *name, struct config_server *c,
			    char *err);

/*
 * conf_server_check(c, err): after the file and the flags are applied,
 * require at least one listen address and one key stanza with a key_file.
 * Returns 0 or -1 with ${err}.
 */
int conf_server_check(const struct config_server *c, char *err);

/*
 * conf_server_load_identities(c, err): add one key per file of
 * ${c->identity_dir} (none: a no-op; once only), its name the file name,
 * its body a [key] stanza's settings; errors read "DIR/FILE:LINE: ...".
 * Dotfiles and names ending in '~' are skipped. Returns 0 or -1.
 */
int conf_server_load_identities(struct config_server *c, char *err);

/*
 * conf_server_identity_text(c, name, text, len, path, err): one identity
 * file's ${len} bytes as identity ${name} (a valid, unused name), ${path}
 * naming it in messages. Pure (no I/O). Returns 0 or -1 with ${err}.
 */
int conf_server_identity_text(struct config_server *c, const char *name, const char *text,
			      size_t len, const char *path, char *err);

/* conf_server_load_keys(c, err): keys_load() every stanza's key file; distinct keys. */
int conf_server_load_keys(struct config_server *c, char *err);

/*
 * conf_server_args(argc, argv, c, log, err): `postern server` arguments
 * (argv[0] = "server") into ${c} (which holds defaults): -c FILE first, then
 * every flag over it, then conf_server_check() and conf_server_load_keys().
 * ${log} gets 0, 1 (-v) or -1 (-q). Returns 0, 1 when -h was given (nothing
 * else done), or -1 with ${err} in flag language (no "postern server: ").
 */
int conf_server_args(int argc, char **argv, struct config_server *c, int *log, char *err);

#endif
