/* SPDX-License-Identifier: MIT */
/*
 * permit: the permit_open / permit_listen grammar of a [key NAME] stanza (and
 * of the quick-mode --permit-open / --permit-listen flags), parsed into the
 * struct config_permit entries that guard/policy.c matches. Pure: no I/O.
 */
#ifndef POSTERN_PERMIT_H
#define POSTERN_PERMIT_H

#include "util/config.h"

/*
 * permit_parse_open(s, p, any, err): one TCP permit_open value: "host:port"
 * with '*' wildcards, "ADDR/BITS:port", "[V6ADDR/BITS]:port", or "any" (sets
 * ${any}). Host bits set beyond a CIDR prefix are an error (a typo, not a
 * network). Unix paths are permit_parse_path()'s. Returns 0 or -1 with ${err}
 * (CONFIG_ERR_MAX bytes).
 */
int permit_parse_open(const char *s, struct config_permit *p, int *any, char *err);

/*
 * permit_parse_listen(s, p, any, err): one TCP permit_listen value: "port",
 * "*", "host:port", "host:*", "[v6]:port" or "any" (also "*" and "*:*", which
 * set ${any}); host is "*", "localhost" or an IP address.
 */
int permit_parse_listen(const char *s, struct config_permit *p, int *any, char *err);

/*
 * permit_parse_path(setting, s, p, err): a Unix socket entry: an absolute path
 * (at most NET_PATH_MAX bytes, no "." or ".." components, no "//", not ending
 * in '/'), exact or a glob. ${setting} names it in ${err}.
 */
int permit_parse_path(const char *setting, const char *s, struct config_permit *p, char *err);

/*
 * permit_check_unix_path(s): NULL if ${s} is an absolute Unix socket path (or
 * glob) as permit_parse_path() wants it, else the reason.
 */
const char *permit_check_unix_path(const char *s);

/* permit_add_open(k, s, err): parse and append one permit_open value ('/' = a Unix path). */
int permit_add_open(struct config_key *k, const char *s, char *err);

/* permit_add_listen(k, s, err): parse and append one permit_listen value. */
int permit_add_listen(struct config_key *k, const char *s, char *err);

#endif
