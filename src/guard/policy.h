/* SPDX-License-Identifier: MIT */
/*
 * policy: what an authenticated identity may reach. The decision depends
 * only on the key that authenticated and the request itself, never on the
 * listener, session or forwarding kind the request came through
 * (seed 004: the endpoint-multiplexing trap). Default deny.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "util/config.h"

/*
 * policy_may_open(key, host, port, why, whylen): 1 if ${key} may open a
 * channel to ${host}:${port}, else 0. ${why} gets the deciding rule, e.g.
 * "permit_open 127.0.0.1:22" or "not in permit_open".
 */
int policy_may_open(const struct config_key *key, const char *host, uint16_t port, char *why,
		    size_t whylen);

#endif
