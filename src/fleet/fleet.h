/* SPDX-License-Identifier: MIT */
/*
 * fleet: several gateways share replay, bans and grants through one Redis.
 * Everything runs on the server's loop through hiredis' async API; hiredis
 * 0.14 has no timeouts, so every connect and command has its deadline here
 * and a late answer counts as "Redis down": the gateway then judges from its
 * local state (or refuses, fail_closed) instead of waiting. Two connections:
 * one for commands, one subscribed to the events channel (bans and grants
 * published by the other gateways). Nothing secret goes to Redis: replay ids
 * are hashed (they are public values anyway), sources are addresses.
 */
#ifndef POSTERN_FLEET_H
#define POSTERN_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "spa/grant.h"
#include "util/config.h"

struct fleet;
struct fleet_op;

/* A claim's answer. */
enum fleet_verdict {
	FLEET_FIRST = 0, /* no gateway had seen it: go ahead */
	FLEET_SEEN,	 /* another gateway (or this one) accepted it before: a replay */
	FLEET_DOWN,	 /* Redis did not answer in time: judge locally */
	FLEET_PENDING,	 /* fleet_claim(): the answer comes through the callback */
};

enum fleet_event_kind { FLEET_EV_BAN = 1, FLEET_EV_GRANT };

enum { FLEET_SRC_MAX = 16 };

/* A message on the events channel, parsed (fleet_event_parse()). */
struct fleet_event {
	int kind;			  /* enum fleet_event_kind */
	char origin[CONFIG_NAME_MAX + 1]; /* the gateway that published it */
	uint64_t until_ms;		  /* wall clock: the ban's or grant's end */
	uint8_t src[FLEET_SRC_MAX];	  /* ban: abuse source bytes (4 or 8) */
	size_t srclen;
	struct spa_grant grant; /* grant: origin filled as above */
};

/* What the server does with the other gateways' events (on the loop). */
struct fleet_hooks {
	void (*ban)(void *arg, const uint8_t *src, size_t len, uint64_t until_ms,
		    const char *origin);
	void (*grant)(void *arg, const struct spa_grant *g);
	void *arg;
};

/* Counters for status and metrics; they only grow. */
struct fleet_stats {
	int up;		     /* both connections ready */
	uint64_t since_ms;   /* wall clock of the last change of ${up} */
	uint64_t claims;     /* replay claims asked */
	uint64_t seen;	     /* of which another gateway had accepted */
	uint64_t down;	     /* of which judged locally (Redis down or slow) */
	uint64_t timeouts;   /* commands that outlived timeout_ms */
	uint64_t bans_in;    /* bans applied from other gateways */
	uint64_t bans_out;   /* bans published */
	uint64_t grants_in;  /* grants applied from other gateways */
	uint64_t grants_out; /* grants published */
	uint64_t bad_events; /* events channel messages that did not parse */
	unsigned pending;    /* commands in flight now */
};

/*
 * fleet_new(loop, cfg, hooks, out, err): start connecting (never blocks;
 * the first connection may still be under way on return). The name, if
 * cfg->name is "", is the host name. Returns 0, or -1 with ${err}
 * (CONFIG_ERR_MAX bytes) on a bad URL or an unreadable password file.
 */
int fleet_new(uv_loop_t *loop, const struct config_fleet *cfg, const struct fleet_hooks *hooks,
	      struct fleet **out, char *err);

/* fleet_name(f): this gateway's name in the fleet. */
const char *fleet_name(const struct fleet *f);

/* fleet_fail_closed(f): 1 if a FLEET_DOWN verdict must refuse. */
int fleet_fail_closed(const struct fleet *f);

/*
 * fleet_claim(f, label, id, len, ttl_ms, cb, arg, op): record replay id
 * ${id} (${label}: "tunnel" or "knock", so the two kinds never collide) for
 * ${ttl_ms} unless some gateway did. Returns FLEET_DOWN at once when the
 * link is down or max_pending commands are in flight, else FLEET_PENDING:
 * ${cb} fires exactly once later (FIRST, SEEN or DOWN, after at most
 * timeout_ms) unless fleet_cancel(*op) is called first.
 */
typedef void (*fleet_claim_cb)(void *arg, enum fleet_verdict v);
enum fleet_verdict fleet_claim(struct fleet *f, const char *label, const uint8_t *id, size_t len,
			       uint64_t ttl_ms, fleet_claim_cb cb, void *arg, struct fleet_op **op);

/* fleet_cancel(op): the claim's callback will not fire. NULL is a no-op. */
void fleet_cancel(struct fleet_op *op);

/*
 * fleet_fail(f, src, len, threshold, window_ms, ban_until_ms): count a
 * failure of source ${src} fleet-wide (the count lives ${window_ms}); the
 * gateway whose failure makes it reach ${threshold} publishes a ban until
 * ${ban_until_ms} (wall clock) and calls hooks->ban itself. Fire and forget.
 */
void fleet_fail(struct fleet *f, const uint8_t *src, size_t len, unsigned threshold,
		uint64_t window_ms, uint64_t ban_until_ms);

/* fleet_publish_ban(f, src, len, until_ms): tell the fleet about a local ban. */
void fleet_publish_ban(struct fleet *f, const uint8_t *src, size_t len, uint64_t until_ms);

/* fleet_publish_grant(f, g): tell the fleet about a grant this gateway made. */
void fleet_publish_grant(struct fleet *f, const struct spa_grant *g);

/* fleet_get_stats(f, st): state and counters. */
void fleet_get_stats(const struct fleet *f, struct fleet_stats *st);

/*
 * fleet_event_parse(msg, len, ev): parse one events-channel message
 * (docs/PROTOCOL.md, "Fleet"). Untrusted: anyone who can write to the
 * Redis can publish. Returns 0, or -1 if it is not exactly one event.
 */
int fleet_event_parse(const char *msg, size_t len, struct fleet_event *ev);

/*
 * fleet_event_format(ev, buf, len): the message for ${ev}. Returns its
 * length, or -1 if it does not fit.
 */
int fleet_event_format(const struct fleet_event *ev, char *buf, size_t len);

/*
 * fleet_free(f): drop both connections (pending claims' callbacks are not
 * called) and free once libuv has closed the handles: the caller runs the
 * loop once more, as the shutdown does. NULL is a no-op.
 */
void fleet_free(struct fleet *f);

#endif
