/* SPDX-License-Identifier: MIT */
/*
 * replay: a fixed pool of fingerprints, found through a keyed hash and hung
 * on a timing wheel by expiry.
 *
 * Why a wheel and not a FIFO: an entry must be kept until ts + window, and ts
 * may be anywhere in now +- window, so expiry times are not monotonic in
 * arrival order; a FIFO would either forget too early or hold every entry for
 * 2 * window and halve the useful capacity. The wheel files each entry under
 * the tick its expiry falls in, and each call sweeps only the ticks that
 * passed since the previous call, so every entry is visited about once:
 * O(1) amortized, and no call does more than one turn of the wheel.
 * The wheel spans more than 2 * window, the widest spread of live expiries,
 * so while the clock moves forward a slot never holds two turns' entries.
 * Lookups compare the exact expiry, so a sweep that runs up to one tick late
 * only delays reclaiming memory, never changes a verdict.
 */
#include "crypto/replay.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define NIL UINT32_MAX

enum {
	/* Entries are indexed by uint32; this keeps the pool under ~1 GiB. */
	REPLAY_MAX_CAPACITY = 1 << 24,
	/* Wheel size scales with capacity between these, so a tick is a few ms. */
	WHEEL_MIN_SLOTS = 1 << 10,
	WHEEL_MAX_SLOTS = 1 << 16,
};

struct entry {
	uint8_t id[REPLAY_ID_LEN];
	uint64_t expiry_ms;    /* last instant at which a copy of this message is not stale */
	uint32_t hnext;	       /* next in the hash bucket, or in the free list */
	uint32_t wprev, wnext; /* neighbours in the wheel slot */
	uint32_t owner;	       /* identity charged for it, or REPLAY_NO_OWNER */
};

struct replay {
	uint64_t window_ms;
	uint64_t tick_ms;   /* time covered by one wheel slot */
	uint64_t next_tick; /* first tick not yet swept */
	int started;	    /* next_tick is set on the first call, when time is known */
	size_t count;
	uint32_t free_head;
	uint32_t bucket_mask;
	uint32_t slot_mask;
	uint32_t *buckets;
	uint32_t *slots;
	struct entry *pool;
	size_t capacity;
	/* Live entries per identity: a counter each keeps the quota O(1). */
	uint32_t nowners;
	size_t quota;
	size_t *owned;
	uint64_t key[2];
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

/*
 * In NNpsk0 the client's e is sent before any DH, so a holder of a valid PSK
 * can choose the fingerprint freely: SipHash under a secret per-process key
 * keeps bucket indices unpredictable, so it cannot grind fingerprints into
 * one chain.
 */
static uint32_t bucket_of(const struct replay *r, const uint8_t id[REPLAY_ID_LEN])
{
	return (uint32_t)crypto_siphash((const uint8_t *)r->key, id, REPLAY_ID_LEN) &
	       r->bucket_mask;
}

static uint32_t slot_of(const struct replay *r, uint64_t expiry_ms)
{
	return (uint32_t)(expiry_ms / r->tick_ms) & r->slot_mask;
}

/*
 * A wheel of at least slots - 2 ticks covers 2 * window plus a partial tick
 * at each end, the widest spread of expiries that can be live at once.
 */
static void size_wheel(struct replay *r, size_t capacity)
{
	size_t slots = pow2_at_least(capacity);
	if (slots < WHEEL_MIN_SLOTS)
		slots = WHEEL_MIN_SLOTS;
	if (slots > WHEEL_MAX_SLOTS)
		slots = WHEEL_MAX_SLOTS;
	r->slot_mask = (uint32_t)(slots - 1);
	uint64_t span = 2 * r->window_ms;
	r->tick_ms = (span + slots - 3) / (slots - 2);
	if (r->tick_ms == 0)
		r->tick_ms = 1;
}

static int alloc_tables(struct replay *r, size_t capacity)
{
	size_t nbuckets = pow2_at_least(2 * capacity);
	size_t nslots = (size_t)r->slot_mask + 1;
	r->bucket_mask = (uint32_t)(nbuckets - 1);
	r->pool = calloc(capacity, sizeof(*r->pool));
	r->buckets = malloc(nbuckets * sizeof(*r->buckets));
	r->slots = malloc(nslots * sizeof(*r->slots));
	if (r->pool == NULL || r->buckets == NULL || r->slots == NULL)
		return -1;
	/* All-ones bytes make every uint32 NIL. */
	memset(r->buckets, 0xff, nbuckets * sizeof(*r->buckets));
	memset(r->slots, 0xff, nslots * sizeof(*r->slots));
	for (size_t i = 0; i < capacity; i++)
		r->pool[i].hnext = (i + 1 < capacity) ? (uint32_t)(i + 1) : NIL;
	r->free_head = 0;
	return 0;
}

struct replay *replay_new(unsigned window_s, size_t capacity)
{
	if (capacity == 0 || capacity > REPLAY_MAX_CAPACITY)
		return NULL;
	struct replay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->window_ms = (uint64_t)window_s * 1000;
	r->capacity = capacity;
	size_wheel(r, capacity);
	if (alloc_tables(r, capacity) != 0 || crypto_random(r->key, sizeof(r->key)) != 0) {
		replay_free(r);
		return NULL;
	}
	return r;
}

void replay_free(struct replay *r)
{
	if (r == NULL)
		return;
	free(r->pool);
	free(r->buckets);
	free(r->slots);
	free(r->owned);
	crypto_wipe(r->key, sizeof(r->key));
	free(r);
}

size_t replay_count(const struct replay *r)
{
	return r == NULL ? 0 : r->count;
}

static void wheel_link(struct replay *r, uint32_t i)
{
	struct entry *e = &r->pool[i];
	uint32_t *head = &r->slots[slot_of(r, e->expiry_ms)];
	e->wprev = NIL;
	e->wnext = *head;
	if (*head != NIL)
		r->pool[*head].wprev = i;
	*head = i;
}

static void wheel_unlink(struct replay *r, uint32_t i)
{
	struct entry *e = &r->pool[i];
	if (e->wprev != NIL)
		r->pool[e->wprev].wnext = e->wnext;
	else
		r->slots[slot_of(r, e->expiry_ms)] = e->wnext;
	if (e->wnext != NIL)
		r->pool[e->wnext].wprev = e->wprev;
}

static void hash_unlink(struct replay *r, uint32_t i)
{
	uint32_t *link = &r->buckets[bucket_of(r, r->pool[i].id)];
	while (*link != NIL && *link != i)
		link = &r->pool[*link].hnext;
	if (*link == i)
		*link = r->pool[i].hnext;
}

static int owned_here(const struct replay *r, uint32_t owner)
{
	return r->owned != NULL && owner < r->nowners;
}

static void drop(struct replay *r, uint32_t i)
{
	if (owned_here(r, r->pool[i].owner))
		r->owned[r->pool[i].owner]--;
	hash_unlink(r, i);
	wheel_unlink(r, i);
	r->pool[i].hnext = r->free_head;
	r->free_head = i;
	r->count--;
}

static void sweep_slot(struct replay *r, uint32_t slot, uint64_t now_ms)
{
	uint32_t i = r->slots[slot];
	while (i != NIL) {
		uint32_t next = r->pool[i].wnext;
		/* Entries of another turn (only after the clock stepped back) stay. */
		if (r->pool[i].expiry_ms < now_ms)
			drop(r, i);
		i = next;
	}
}

/* Drop entries in every tick that ended before now_ms and was not yet swept. */
static void sweep(struct replay *r, uint64_t now_ms)
{
	uint64_t tick = now_ms / r->tick_ms;
	if (!r->started) {
		r->started = 1;
		r->next_tick = tick;
		return;
	}
	/* A clock that stepped back sweeps nothing until it catches up. */
	if (tick <= r->next_tick)
		return;
	uint64_t steps = tick - r->next_tick;
	if (steps > (uint64_t)r->slot_mask + 1)
		steps = (uint64_t)r->slot_mask + 1;
	for (uint64_t k = 0; k < steps; k++)
		sweep_slot(r, (uint32_t)(r->next_tick + k) & r->slot_mask, now_ms);
	r->next_tick = tick;
}

/* ${b} is bucket_of(r, id): a check and the insert after it hash once. */
static uint32_t lookup(const struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint32_t b)
{
	uint32_t i = r->buckets[b];
	while (i != NIL && !crypto_memeq(r->pool[i].id, id, REPLAY_ID_LEN))
		i = r->pool[i].hnext;
	return i;
}

static void insert(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint32_t b,
		   uint64_t expiry_ms, uint32_t owner)
{
	uint32_t i = r->free_head;
	struct entry *e = &r->pool[i];
	r->free_head = e->hnext;
	memcpy(e->id, id, REPLAY_ID_LEN);
	e->expiry_ms = expiry_ms;
	e->owner = owned_here(r, owner) ? owner : REPLAY_NO_OWNER;
	if (e->owner != REPLAY_NO_OWNER)
		r->owned[owner]++;
	uint32_t *head = &r->buckets[b];
	e->hnext = *head;
	*head = i;
	wheel_link(r, i);
	r->count++;
}

static int is_stale(uint64_t ts_ms, uint64_t now_ms, uint64_t window_ms)
{
	if (ts_ms > now_ms)
		return ts_ms - now_ms > window_ms;
	return now_ms - ts_ms > window_ms;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int replay_set_quota(struct replay *r, uint32_t nowners, size_t quota)
{
	if (r == NULL || r->count > 0 || nowners == REPLAY_NO_OWNER)
		return -1;
	size_t *owned = calloc((size_t)nowners + 1, sizeof(*owned));
	if (owned == NULL)
		return -1;
	free(r->owned);
	r->owned = owned;
	r->nowners = nowners;
	r->quota = quota;
	return 0;
}

int replay_reown(struct replay *r, const uint32_t *map, uint32_t nmap, uint32_t nowners,
		 size_t quota)
{
	if (r == NULL || nowners == REPLAY_NO_OWNER || (map == NULL && nmap > 0))
		return -1;
	size_t *owned = calloc((size_t)nowners + 1, sizeof(*owned));
	if (owned == NULL)
		return -1;
	for (uint32_t b = 0; b <= r->bucket_mask; b++) {
		for (uint32_t i = r->buckets[b]; i != NIL; i = r->pool[i].hnext) {
			struct entry *e = &r->pool[i];
			uint32_t o = e->owner < nmap ? map[e->owner] : REPLAY_NO_OWNER;
			e->owner = o < nowners ? o : REPLAY_NO_OWNER;
			if (e->owner != REPLAY_NO_OWNER)
				owned[e->owner]++;
		}
	}
	free(r->owned);
	r->owned = owned;
	r->nowners = nowners;
	r->quota = quota;
	return 0;
}

size_t replay_owner_count(const struct replay *r, uint32_t owner)
{
	return r != NULL && owned_here(r, owner) ? r->owned[owner] : 0;
}

enum replay_verdict replay_check(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t ts_ms,
				 uint64_t now_ms)
{
	return replay_check_as(r, id, ts_ms, now_ms, REPLAY_NO_OWNER);
}

int replay_insert(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t expiry_ms,
		  uint32_t owner, uint64_t now_ms)
{
	if (r == NULL || id == NULL)
		return -1;
	sweep(r, now_ms);
	if (expiry_ms < now_ms)
		return 0;
	/* A wheel spans 2 * window: an expiry further out (a file written
	 * with a wider window) is clamped, keeping it at least that long. */
	if (expiry_ms > add_sat(now_ms, 2 * r->window_ms))
		expiry_ms = add_sat(now_ms, 2 * r->window_ms);
	uint32_t b = bucket_of(r, id), i = lookup(r, id, b);
	if (i != NIL) {
		if (r->pool[i].expiry_ms >= now_ms)
			return 0;
		drop(r, i);
	}
	if (r->free_head == NIL)
		return -1;
	insert(r, id, b, expiry_ms, owner);
	return 0;
}

int replay_foreach(const struct replay *r,
		   int (*fn)(void *arg, const uint8_t *id, uint64_t expiry_ms, uint32_t owner),
		   void *arg)
{
	if (r == NULL)
		return 0;
	for (uint32_t b = 0; b <= r->bucket_mask; b++) {
		for (uint32_t i = r->buckets[b]; i != NIL; i = r->pool[i].hnext) {
			int rc = fn(arg, r->pool[i].id, r->pool[i].expiry_ms, r->pool[i].owner);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

void replay_hint(const struct replay *r, const uint8_t id[REPLAY_ID_LEN], struct replay_hint *h)
{
	memcpy(h->id, id, REPLAY_ID_LEN);
	h->bucket = r == NULL ? 0 : bucket_of(r, id);
	if (r != NULL)
		__builtin_prefetch(&r->buckets[h->bucket]);
}

enum replay_verdict replay_check_as(struct replay *r, const uint8_t id[REPLAY_ID_LEN],
				    uint64_t ts_ms, uint64_t now_ms, uint32_t owner)
{
	return replay_check_hinted(r, NULL, id, ts_ms, now_ms, owner);
}

enum replay_verdict replay_check_hinted(struct replay *r, const struct replay_hint *h,
					const uint8_t id[REPLAY_ID_LEN], uint64_t ts_ms,
					uint64_t now_ms, uint32_t owner)
{
	/* Without a cache there is no way to tell a replay: refuse. */
	if (r == NULL || id == NULL)
		return REPLAY_FULL;
	sweep(r, now_ms);
	if (is_stale(ts_ms, now_ms, r->window_ms))
		return REPLAY_STALE;
	/* The id is public (it travels in the clear): a plain compare will do. */
	uint32_t b =
	    h != NULL && memcmp(h->id, id, REPLAY_ID_LEN) == 0 ? h->bucket : bucket_of(r, id);
	uint32_t i = lookup(r, id, b);
	if (i != NIL) {
		if (r->pool[i].expiry_ms >= now_ms)
			return REPLAY_SEEN;
		/* Expired within the current tick, not yet swept: make way. */
		drop(r, i);
	}
	if (owned_here(r, owner) && r->owned[owner] >= r->quota)
		return REPLAY_QUOTA;
	if (r->free_head == NIL)
		return REPLAY_FULL;
	insert(r, id, b, add_sat(ts_ms, r->window_ms), owner);
	return REPLAY_OK;
}
