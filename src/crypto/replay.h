/* SPDX-License-Identifier: MIT */
/*
 * replay: refuses first handshake messages that are stale or already seen.
 * A first message carries the client's clock; the server accepts it only
 * within +-window seconds of its own clock, and remembers a fingerprint of
 * every accepted one until it falls out of the window, so a capture cannot
 * be replayed while its timestamp is still acceptable. Pure: time is passed in.
 */
#ifndef POSTERN_REPLAY_H
#define POSTERN_REPLAY_H

#include <stddef.h>
#include <stdint.h>

enum {
	REPLAY_ID_LEN = 32, /* fingerprint: the client's ephemeral public key */
};

enum replay_verdict {
	REPLAY_OK = 0,	  /* fresh: recorded now */
	REPLAY_STALE = 1, /* timestamp outside the window */
	REPLAY_SEEN = 2,  /* fingerprint already recorded */
	REPLAY_FULL = 3,  /* cache full of live entries: refuse rather than forget */
	REPLAY_QUOTA = 4, /* this identity holds its quota of live entries */
};

#define REPLAY_NO_OWNER UINT32_MAX

struct replay;

/* replay_new(window_s, capacity): a cache for at most ${capacity} live entries. */
struct replay *replay_new(unsigned window_s, size_t capacity);

void replay_free(struct replay *r);

/*
 * replay_check(r, id, ts_ms, now_ms): judge a first message whose timestamp
 * is ${ts_ms} (Unix ms) and fingerprint ${id}; on REPLAY_OK remember it
 * until ts_ms + window. Expired entries are dropped as a side effect.
 */
enum replay_verdict replay_check(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t ts_ms,
				 uint64_t now_ms);

/*
 * replay_set_quota(r, nowners, quota): identities 0..nowners-1 may each
 * hold at most ${quota} live entries, so one key holder fills only its own
 * share of the cache. Call before the first check. Returns 0 or -1.
 */
int replay_set_quota(struct replay *r, uint32_t nowners, size_t quota);

/*
 * replay_check_as(r, id, ts_ms, now_ms, owner): replay_check() charged to
 * identity ${owner}: REPLAY_QUOTA when it already holds its quota.
 * REPLAY_NO_OWNER (or an owner out of range) counts only in the total.
 * O(1) amortized, as replay_check().
 */
enum replay_verdict replay_check_as(struct replay *r, const uint8_t id[REPLAY_ID_LEN],
				    uint64_t ts_ms, uint64_t now_ms, uint32_t owner);

/*
 * A bucket found ahead of its check. A receiver that sees a message's
 * fingerprint before it authenticates the message (a knock's e is in the
 * clear) calls replay_hint() first: the keyed hash is computed once and the
 * bucket's cache line is fetched while the AEAD runs. The hint keeps the id
 * it was made for, so a hint for another id is ignored, never believed.
 */
struct replay_hint {
	uint8_t id[REPLAY_ID_LEN];
	uint32_t bucket;
};

void replay_hint(const struct replay *r, const uint8_t id[REPLAY_ID_LEN], struct replay_hint *h);

/* replay_check_hinted(r, h, id, ...): replay_check_as() with ${h} (NULL: none). */
enum replay_verdict replay_check_hinted(struct replay *r, const struct replay_hint *h,
					const uint8_t id[REPLAY_ID_LEN], uint64_t ts_ms,
					uint64_t now_ms, uint32_t owner);

/*
 * replay_insert(r, id, expiry_ms, owner, now_ms): remember ${id} until
 * ${expiry_ms} without judging it (restoring a persisted cache). Ignores
 * quotas; an entry already expired at ${now_ms} or already present is
 * skipped. Returns 0 (stored or skipped), or -1 when the cache is full.
 */
int replay_insert(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t expiry_ms,
		  uint32_t owner, uint64_t now_ms);

/*
 * replay_foreach(r, fn, arg): call fn(arg, id, expiry_ms, owner) for every
 * entry held (live or expired but not yet swept), in no particular order;
 * stops at and returns the first non-zero result of ${fn}.
 */
int replay_foreach(const struct replay *r,
		   int (*fn)(void *arg, const uint8_t *id, uint64_t expiry_ms, uint32_t owner),
		   void *arg);

/*
 * replay_reown(r, map, nmap, nowners, quota): a reload renumbered the
 * identities: every entry charged to old owner o < ${nmap} is charged to
 * ${map[o]} (REPLAY_NO_OWNER for a removed identity), the others to none;
 * identities 0..nowners-1 may each hold ${quota} from now on. Entries are
 * kept (a removed key's messages must stay refused). Returns 0 or -1
 * (nothing changed).
 */
int replay_reown(struct replay *r, const uint32_t *map, uint32_t nmap, uint32_t nowners,
		 size_t quota);

/* replay_owner_count(r, owner): live entries charged to ${owner}. */
size_t replay_owner_count(const struct replay *r, uint32_t owner);

/* replay_count(r): live entries (for status and tests). */
size_t replay_count(const struct replay *r);

#endif
