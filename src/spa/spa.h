/* SPDX-License-Identifier: MIT */
/*
 * spa/spa: the knock receiver. UDP sockets on [spa] listen (recvmmsg, or a
 * packet ring: spa/ring.h), each
 * datagram judged in the order docs/PROTOCOL.md ("Knocks") fixes: length
 * and kind, authenticator, payload, timestamp window, replay cache (kept
 * in state_dir/knock.log); then the identity's policy, then grants into
 * the table (spa/grant.c) and the backend. Nothing is ever sent back.
 * Every refusal is logged through the peer-line limiter (log_peer).
 */
#ifndef POSTERN_SPA_H
#define POSTERN_SPA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "spa/grant.h"
#include "util/config.h"

struct spa_params {
	uv_loop_t *loop;
	const struct config_server *cfg; /* read during spa_new() and spa_set_keys() only */
	const char *state_dir;		 /* NULL: the knock cache is not persisted */
	const uint64_t *tags;		 /* per cfg key: its replay_file_tag() */
	/* A source the server has banned (guard/abuse.c): its knocks are refused. */
	int (*banned)(void *arg, const struct sockaddr *sa, uint64_t now_ms);
	void *arg;
	/* The server's per-source DH budget (guard/dhrate.c): public-key knocks spend it. */
	struct dhrate *dh;
};

struct spa;

/*
 * spa_new(p, out, err): select the backend, open the knock cache, bind
 * every [spa] listen address and start receiving. Returns 0, or -1 with
 * ${err} (SPA_GRANT_ERR_MAX bytes) on any failure: a server asked for SPA
 * must not run without it. Even on failure *out may be set (it holds loop
 * handles): free it with spa_free() after the loop's walk, as on success.
 */
int spa_new(const struct spa_params *p, struct spa **out, char *err);

/*
 * spa_set_keys(s, cfg, tags): the identities and their policy after a
 * reload (copied). Returns 0, or -1 (unchanged).
 */
int spa_set_keys(struct spa *s, const struct config_server *cfg, const uint64_t *tags);

/*
 * spa_guard(s, fd, err): ${fd} is a tunnel listening socket: its port is a
 * default spa_access port, and the listener backend filters it. 0 or -1.
 */
int spa_guard(struct spa *s, int fd, char *err);

/* spa_unguard(s, fd): the listening socket ${fd} is closing. */
void spa_unguard(struct spa *s, int fd);

/* spa_accepted(s, fd): a connection accepted from a guarded listener. */
void spa_accepted(struct spa *s, int fd);

/*
 * spa_revoke_source(s, bytes, len): the server banned a source (an IPv4
 * address, len 4, or an IPv6 /64, len 8): revoke its grants now, so the
 * filter drops it as it drops strangers.
 */
void spa_revoke_source(struct spa *s, const uint8_t *bytes, size_t len);

/* spa_each_grant(s, fn, arg): the live grants (fw-list, status). */
void spa_each_grant(const struct spa *s, void (*fn)(void *arg, const struct spa_grant *g),
		    void *arg);

/*
 * spa_kernel_list(s, json, out, size, err): the firewall's own view of the
 * grants (`fw-list --kernel`): the nftables table as the kernel lists it,
 * each element with its time left (text, or JSON with ${json}). 0, or -1
 * with ${err} (SPA_GRANT_ERR_MAX bytes): SPA off, the listener backend (its
 * filters hold no more than the grant table), or a listing over ${size}.
 */
int spa_kernel_list(const struct spa *s, int json, char *out, size_t size, char *err);

/* Counters for metrics: they only grow. */
struct spa_stats {
	uint64_t knocks_accepted; /* authenticated, fresh, within policy: grants made */
	uint64_t knocks_refused;  /* every other datagram */
	uint64_t ring_drops;	  /* receive = ring: packets the kernel dropped, the ring full */
	size_t grants;		  /* live now */
};

/* spa_get_stats(s, st): the counters (all 0 when ${s} is NULL). */
void spa_get_stats(const struct spa *s, struct spa_stats *st);

/* spa_backend_name(s): "listener" or "nftables". */
const char *spa_backend_name(const struct spa *s);

/*
 * spa_free(s): stop the backend, close the knock cache and free. The
 * handles are the loop's: the owner closes them (a uv_walk) and runs the
 * loop before this. NULL is a no-op.
 */
struct fleet;

/*
 * spa_set_fleet(s, f): with ${f}, an accepted knock is claimed fleet-wide
 * (fleet_claim()) before it opens anything, and every grant made here is
 * published; NULL drops the knocks waiting for an answer (before
 * fleet_free()). NULL ${s} is a no-op.
 */
void spa_set_fleet(struct spa *s, struct fleet *f);

/*
 * spa_apply_grant(s, g): a grant another gateway made (g->origin names it):
 * through this gateway's backend with the same expiry. Returns 0, or -1
 * (expired, table full, backend failure; logged). NULL ${s}: -1.
 */
int spa_apply_grant(struct spa *s, const struct spa_grant *g);

void spa_free(struct spa *s);

#endif
