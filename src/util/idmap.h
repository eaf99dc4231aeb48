/* SPDX-License-Identifier: MIT */
/*
 * idmap: uint32 -> pointer map for channel ids. Linear probing with
 * backward-shift deletion, so lookups stay short however channels churn.
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
};

/* idmap_get(m, key): the value, or NULL. */
void *idmap_get(const struct idmap *m, uint32_t key);

/* idmap_put(m, key, val): insert (key must be absent, val non-NULL). Returns 0 or -1. */
int idmap_put(struct idmap *m, uint32_t key, void *val);

/* idmap_del(m, key): remove if present. */
void idmap_del(struct idmap *m, uint32_t key);

/* idmap_free(m): release the table (not the values). */
void idmap_free(struct idmap *m);

/* idmap_each(m, fn, arg): call fn(val, arg) for each value; fn must not modify m. */
void idmap_each(struct idmap *m, void (*fn)(void *val, void *arg), void *arg);

#endif
