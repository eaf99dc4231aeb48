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
};

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

/* replay_count(r): live entries (for status and tests). */
size_t replay_count(const struct replay *r);

#endif
