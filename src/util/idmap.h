/* SPDX-License-Identifier: MIT */
/*
 * idmap: uint32 -> pointer map for channel ids. Linear probing with
 * backward-shift deletion, so lookups stay short however channels churn.
 * The peer chooses the ids it opens, so slots come from SipHash under a
 * secret per-process key: no set of ids can be built to collide, and each
 * operation costs O(1) expected whatever the peer sends.
 */
#ifndef POSTERN_IDMAP_H
#define POSTERN_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
	uint32_t *keys;
	void **vals; /* NULL = empty slot */
	size_t cap;  /* power of two, or 0 */
	size_t count;
	size_t max_probe; /* longest probe of any put since the table was last built */
};

/* idmap_home(m, key): the slot ${key} hashes to (m->cap > 0); for tests of the layout. */
size_t idmap_home(const struct idmap *m, uint32_t key);

/* idmap_get(m, key): the value, or NULL. */
void *idmap_get(const struct idmap *m, uint32_t key);

/*
 * idmap_put(m, key, val): insert (key must be absent, val non-NULL). Returns
 * 0, or -1 (out of memory, or no random key for the hash).
 */
int idmap_put(struct idmap *m, uint32_t key, void *val);

/* idmap_del(m, key): remove if present. */
void idmap_del(struct idmap *m, uint32_t key);

/* idmap_free(m): release the table (not the values). */
void idmap_free(struct idmap *m);

/* idmap_each(m, fn, arg): call fn(val, arg) for each value; fn must not modify m. */
void idmap_each(struct idmap *m, void (*fn)(void *val, void *arg), void *arg);

#endif
