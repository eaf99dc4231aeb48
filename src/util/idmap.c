/* SPDX-License-Identifier: MIT */
/*
 * idmap: the open-addressing table behind every session's channel ids:
 * growth that keeps the load under half, linear probing, backward-shift
 * deletion (no tombstones), and a walk over every entry.
 */
#include "util/idmap.h"

#include <stdlib.h>

static size_t slot_of(const struct idmap *m, uint32_t key)
{
	/* Fibonacci hashing: ids are sequential, so spread them over the table. */
	return (size_t)((key * 2654435769u) >> 7) & (m->cap - 1);
}

void *idmap_get(const struct idmap *m, uint32_t key)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == NULL)
			return NULL;
		if (m->keys[i] == key)
			return m->vals[i];
	}
}

static int grow(struct idmap *m)
{
	struct idmap n = {0};
	n.cap = m->cap ? m->cap * 2 : 16;
	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (n.keys == NULL || n.vals == NULL) {
		free(n.keys);
		free(n.vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != NULL)
			idmap_put(&n, m->keys[i], m->vals[i]);
	idmap_free(m);
	*m = n;
	return 0;
}

int idmap_put(struct idmap *m, uint32_t key, void *val)
{
	/* Keep the load under 1/2 so probe sequences stay short. */
	if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
		return -1;
	size_t i = slot_of(m, key);
	while (m->vals[i] != NULL)
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = key;
	m->vals[i] = val;
	m->count++;
	return 0;
}

void idmap_del(struct idmap *m, uint32_t key)
{
	if (m->cap == 0)
		return;
	size_t mask = m->cap - 1, i = slot_of(m, key);
	while (m->vals[i] != NULL && m->keys[i] != key)
		i = (i + 1) & mask;
	if (m->vals[i] == NULL)
		return;
	m->vals[i] = NULL;
	m->count--;
	/* Shift back later members of the cluster that probed past the hole. */
	for (size_t j = (i + 1) & mask; m->vals[j] != NULL; j = (j + 1) & mask) {
		size_t home = slot_of(m, m->keys[j]);
		int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
		if (!movable)
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		m->vals[j] = NULL;
		i = j;
	}
}

void idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->count = 0;
}

void idmap_each(struct idmap *m, void (*fn)(void *val, void *arg), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != NULL)
			fn(m->vals[i], arg);
}
