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
	/* A grant was added. */
	int (*grant)(void *ctx, const struct spa_grant *g, char *err);
	/* A live grant's expiry moved later. NULL when the backend holds no
	 * expiry (listener: its filters list sources and ports, and the table's
	 * timer revokes), so a key holder's repeated knocks rebuild nothing. */
	int (*extend)(void *ctx, const struct spa_grant *g, char *err);
	/* A grant expired or was revoked (nftables: the kernel expires it too). */
	int (*revoke)(void *ctx, const struct spa_grant *g, char *err);
	/* Shut down: remove what start created when configured to. */
	void (*stop)(void *ctx);
};

/*
 * The grant table (spa/grant.c): bounded, pure; the caller passes the
 * clock. A grant is one (source, proto, port, forward) tuple; a knock for a
 * tuple already granted extends its expiry instead of adding a row.
 */
struct spa_table;

/* spa_table_new(max): a table for at most ${max} grants, or NULL. */
struct spa_table *spa_table_new(size_t max);

/* spa_table_free(t): NULL is a no-op. */
void spa_table_free(struct spa_table *t);

enum spa_table_result { SPA_TABLE_ADDED = 0, SPA_TABLE_EXTENDED, SPA_TABLE_FULL };

/*
 * spa_table_add(t, g, now_ms): add ${g}, or extend the live grant with the
 * same tuple to the later of the two expiries (never shorten it). Expired
 * rows are swept first. SPA_TABLE_FULL when max grants are live.
 */
enum spa_table_result spa_table_add(struct spa_table *t, const struct spa_grant *g,
				    uint64_t now_ms);

/*
 * spa_table_expire(t, now_ms, fn, arg): remove every grant whose expiry is
 * <= ${now_ms}, calling fn(arg, g) (may be NULL) for each before it goes.
 * Returns how many were removed.
 */
size_t spa_table_expire(struct spa_table *t, uint64_t now_ms,
			void (*fn)(void *arg, const struct spa_grant *g), void *arg);

/* spa_table_next_expiry(t): the earliest expiry held, or 0 when empty. */
uint64_t spa_table_next_expiry(const struct spa_table *t);

/* spa_table_each(t, fn, arg): every grant held, oldest first. */
void spa_table_each(const struct spa_table *t, void (*fn)(void *arg, const struct spa_grant *g),
		    void *arg);

/* spa_table_remove(t, g): drop the grant with ${g}'s tuple (a backend refused it). */
void spa_table_remove(struct spa_table *t, const struct spa_grant *g);

/* spa_table_count(t): grants held. */
size_t spa_table_count(const struct spa_table *t);

/* spa_table_get(t, i): the i-th grant (0 <= i < count), for backends that rebuild. */
const struct spa_grant *spa_table_get(const struct spa_table *t, size_t i);

#endif
