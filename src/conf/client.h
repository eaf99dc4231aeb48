/* SPDX-License-Identifier: MIT */
/*
 * conf/client: the client's configuration: the file schema ([profile NAME])
 * and the command line (flags over the chosen profile), both by the table
 * in conf/settings.c.
 */
#ifndef POSTERN_CONF_CLIENT_H
#define POSTERN_CONF_CLIENT_H

#include <stddef.h>

#include "util/config.h"

/*
 * conf_client_load(path, profile, c, err): parse every [profile NAME] stanza
 * (each is checked) and fill ${c} from the one named ${profile}, or from the
 * first when ${profile} is NULL. Returns 0 or -1 with ${err}.
 */
int conf_client_load(const char *path, const char *profile, struct config_client *c, char *err);

/* conf_client_load_string(text, len, name, profile, c, err): likewise, from memory. */
int conf_client_load_string(const char *text, size_t len, const char *name, const char *profile,
			    struct config_client *c, char *err);

/* conf_client_check(c, err): require a server address and a key file. */
int conf_client_check(const struct config_client *c, char *err);

/*
 * conf_client_args(argc, argv, c, log, err): `postern client` arguments
 * (argv[0] = "client"): [-c FILE [PROFILE]] flags [SERVER:PORT]; the profile
 * first, then the flags and SERVER:PORT over it, then conf_client_check().
 * Returns 0, 1 for -h, or -1 with ${err} in flag language.
 */
int conf_client_args(int argc, char **argv, struct config_client *c, int *log, char *err);

#endif
