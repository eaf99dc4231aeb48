/* SPDX-License-Identifier: MIT */
/*
 * policy: what an authenticated identity may do. Every decision depends only
 * on the key that authenticated and the request itself, never on the
 * listener, session or forwarding kind the request came through (seed 004:
 * the endpoint-multiplexing trap); -L and -D requests are both "local"
 * opens and go through the same function. Default deny. The access matrix
 * (`postern access`) is printed by this module from the same rules.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/config.h"

enum { POLICY_WHY_MAX = 300 };

/*
 * policy_may_open(key, host, port, why): may ${key} open a TCP channel to
 * ${host}:${port} (a -L or -D request)? 1 or 0; ${why} (POLICY_WHY_MAX)
 * names the deciding rule: "permit_open 10.0.0.0/8:443",
 * "allow_forwarding = remote", "not in permit_open".
 */
int policy_may_open(const struct config_key *key, const char *host, uint16_t port, char *why);

/* policy_may_open_unix(key, path, why): the same for a Unix socket target. */
int policy_may_open_unix(const struct config_key *key, const char *path, char *why);

/*
 * policy_may_listen(key, gw_default, host, port, bind_out, why): may ${key}
 * have the server listen on ${host}:${port} for a -R (port 0 = allocate)?
 * ${host} is what the client asked ("" = unspecified). On 1, ${bind_out}
 * (NET_HOST_MAX + 1) is the address to bind after gateway_ports (the key's
 * own setting, or ${gw_default} from [server]): "no" -> "127.0.0.1"
 * (loopback only), "yes" -> "*" (all addresses), "clientspecified" -> the
 * client's choice ("" or "*" -> all, "localhost" -> loopback).
 */
int policy_may_listen(const struct config_key *key, int gw_default, const char *host, uint16_t port,
		      char *bind_out, char *why);

/* policy_may_listen_unix(key, path, why): the same for a Unix socket path. */
int policy_may_listen_unix(const struct config_key *key, const char *path, char *why);

/*
 * policy_print_matrix(f, c): the access matrix of the whole configuration:
 * per identity, per forwarding kind (local -L/-D, remote -R, unix), what is
 * permitted, with defaults made explicit.
 */
void policy_print_matrix(FILE *f, const struct config_server *c);

/*
 * policy_print_matrix_notes(f, c, key_notes): policy_print_matrix() with a
 * "key id" row per key from ${key_notes}[i] (NULL array or entry: no row),
 * which is how `postern access` adds what it learnt from the key files.
 */
void policy_print_matrix_notes(FILE *f, const struct config_server *c,
			       const char *const *key_notes);

/*
 * policy_check(c, name, request, why): answer one question for `postern
 * access --check NAME REQUEST`. REQUEST is "host:port" (an open),
 * "listen:[host:]port" (a -R), "unix:/path" (a Unix open) or
 * "listen-unix:/path". Returns 1 allow, 0 deny, -1 bad arguments (${why} says why).
 */
int policy_check(const struct config_server *c, const char *name, const char *request, char *why);

/*
 * policy_permits_anything(key): 0 if every channel and remote forward ${key}
 * could ask for would be denied (no usable permit_open/permit_listen entry in
 * a direction allow_forwarding opens), so the server can warn at start.
 */
int policy_permits_anything(const struct config_key *key);

#endif
