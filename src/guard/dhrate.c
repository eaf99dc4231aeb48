/* SPDX-License-Identifier: MIT */
/*
 * dhrate: the per-source DH budget. Owns a table of DHRATE_TABLE buckets
 * indexed by SipHash (keyed per process, so a sender cannot aim its
 * sources at one bucket run) with a short probe; tokens are kept in
 * thousandths so any rate refills smoothly.
 */
#include "guard/dhrate.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

enum { PROBE = 8, MILLI = 1000 };

struct bucket {
	struct abuse_source src;
	uint64_t last_ms;
	uint64_t milli; /* tokens * 1000 */
	int used;
};

struct dhrate {
	uint64_t rate, burst; /* per second; tokens */
	uint8_t key[CRYPTO_SIPHASH_KEY_LEN];
	struct bucket b[DHRATE_TABLE];
};

struct dhrate *dhrate_new(unsigned rate, unsigned burst)
{
	struct dhrate *d = calloc(1, sizeof(*d));
	if (d == NULL || rate == 0 || burst == 0 || crypto_random(d->key, sizeof(d->key)) != 0) {
		free(d);
		return NULL;
	}
	d->rate = rate;
	d->burst = burst;
	return d;
}

void dhrate_free(struct dhrate *d)
{
	free(d);
}

static int same(const struct abuse_source *a, const struct abuse_source *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

int dhrate_take(struct dhrate *d, const struct abuse_source *src, uint64_t now_ms)
{
	if (d == NULL || src == NULL || src->len > sizeof(src->bytes))
		return 0;
	size_t h = (size_t)crypto_siphash(d->key, src->bytes, src->len) ^ src->len;
	struct bucket *hit = NULL, *victim = NULL;
	for (size_t i = 0; i < PROBE; i++) {
		struct bucket *b = &d->b[(h + i) % DHRATE_TABLE];
		if (b->used && same(&b->src, src)) {
			hit = b;
			break;
		}
		/* A free slot, else the least recently used of the probe. */
		if (victim == NULL || (victim->used && (!b->used || b->last_ms < victim->last_ms)))
			victim = b;
	}
	if (hit == NULL) {
		hit = victim;
		memset(hit, 0, sizeof(*hit));
		hit->src = *src;
		hit->used = 1;
		hit->last_ms = now_ms;
		hit->milli = d->burst * MILLI;
	}
	if (now_ms > hit->last_ms) {
		uint64_t add = (now_ms - hit->last_ms) * d->rate; /* ms * per-s = milli-tokens */
		hit->milli =
		    hit->milli + add > d->burst * MILLI ? d->burst * MILLI : hit->milli + add;
		hit->last_ms = now_ms;
	}
	if (hit->milli < MILLI)
		return 0;
	hit->milli -= MILLI;
	return 1;
}
