/* SPDX-License-Identifier: MIT */
/*
 * spa/grant: the live grants (who may reach which port until when) and the
 * interface every firewall backend implements. The table is pure (the
 * caller passes the clock); a backend applies grants to the kernel:
 *   listener  (spa/fw_listener.c): a classic-BPF filter on the server's own
 *             tunnel listeners, no privilege needed;
 *   nftables  (spa/fw_nft.c): a postern-owned nftables table through
 *             libnftables, with kernel-side timeouts, DNAT and masquerade.
 */
#ifndef POSTERN_SPA_GRANT_H
#define POSTERN_SPA_GRANT_H

#include <stddef.h>
#include <stdint.h>

#include "spa/request.h"

enum { SPA_GRANT_ERR_MAX = 256, SPA_NAME_MAX = 64 };

struct spa_grant {
	struct spa_addr src; /* the address the grant opens for */
	uint8_t proto;	     /* enum spa_proto */
	uint16_t port;	     /* the guarded port on this gateway */
	int has_forward;     /* DNAT: port -> forward_addr:forward_port */
	struct spa_addr forward_addr;
	uint16_t forward_port;
	int masquerade;	     /* SNAT forwarded packets to the gateway's address */
	uint64_t expires_ms; /* wall clock (ms since the epoch) */
	char identity[SPA_NAME_MAX + 1];
	char origin[SPA_NAME_MAX + 1]; /* "" = this gateway; a fleet peer's name otherwise */
};

/* What the server asks of a backend. Each call returns 0 or -1 with ${err}. */
struct spa_backend_ops {
	const char *name; /* "listener", "nftables" */
	/* Set up (idempotently): guard the given ports (nftables) or the
	 * listening sockets' descriptors (listener; fds, nfds). */
	int (*start)(void *ctx, char *err);
	/* A grant was added or its expiry extended. */
	int (*grant)(void *ctx, const struct spa_grant *g, char *err);
	/* A grant expired or was revoked (nftables: the kernel expires it too). */
	int (*revoke)(void *ctx, const struct spa_grant *g, char *err);
	/* Shut down: remove what start created when configured to. */
	void (*stop)(void *ctx);
};

#endif
