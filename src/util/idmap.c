/* SPDX-License-Identifier: MIT */
/*
 * idmap: the channel map (and any other table keyed by a peer's uint32s):
 * open addressing with linear probing, slots from keyed SipHash.
 */
#include "util/idmap.h"

#include <stdlib.h>

#include "crypto/crypto.h"
#include "util/wire.h"

static size_t slot_of(const struct idmap *m, uint32_t key);

size_t idmap_home(const struct idmap *m, uint32_t key)
{
	return slot_of(m, key);
}

/* One key for every map: drawn before the first table exists, never shown. */
static uint8_t hash_key[CRYPTO_SIPHASH_KEY_LEN];
static int hash_keyed;

static size_t slot_of(const struct idmap *m, uint32_t key)
{
	uint8_t b[4];
	store32_be(b, key);
	return (size_t)crypto_siphash(hash_key, b, sizeof(b)) & (m->cap - 1);
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
	if (!hash_keyed) {
		if (crypto_random(hash_key, sizeof(hash_key)) != 0)
			return -1;
		hash_keyed = 1;
	}
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
	size_t i = slot_of(m, key), probe = 0;
	while (m->vals[i] != NULL) {
		i = (i + 1) & (m->cap - 1);
		probe++;
	}
	if (probe > m->max_probe)
		m->max_probe = probe;
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
	m->cap = m->count = m->max_probe = 0;
}

void idmap_each(struct idmap *m, void (*fn)(void *val, void *arg), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != NULL)
			fn(m->vals[i], arg);
}
