/* SPDX-License-Identifier: MIT */
/*
 * spa/grant: the grant table. A flat array: max_grants is small (a cBPF
 * program holds only a few hundred sources anyway) and every change is
 * followed by a backend rebuild that walks all grants, so a linear scan
 * here costs less than the rebuild it precedes.
 */
#include "spa/grant.h"

#include <stdlib.h>
#include <string.h>

struct spa_table {
	size_t max, n;
	struct spa_grant *g;
};

struct spa_table *spa_table_new(size_t max)
{
	struct spa_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->max = max;
	t->g = calloc(max + 1, sizeof(*t->g));
	if (t->g == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void spa_table_free(struct spa_table *t)
{
	if (t == NULL)
		return;
	free(t->g);
	free(t);
}

static int same_addr(const struct spa_addr *a, const struct spa_addr *b)
{
	size_t n = a->family == b->family ? (a->family == 0 ? 0 : 16) : 99;
	return n != 99 && memcmp(a->addr, b->addr, n) == 0;
}

static int same_tuple(const struct spa_grant *a, const struct spa_grant *b)
{
	if (!same_addr(&a->src, &b->src) || a->proto != b->proto || a->port != b->port ||
	    a->has_forward != b->has_forward)
		return 0;
	return !a->has_forward || (same_addr(&a->forward_addr, &b->forward_addr) &&
				   a->forward_port == b->forward_port);
}

enum spa_table_result spa_table_add(struct spa_table *t, const struct spa_grant *g, uint64_t now_ms)
{
	spa_table_expire(t, now_ms, NULL, NULL);
	for (size_t i = 0; i < t->n; i++) {
		if (!same_tuple(&t->g[i], g))
			continue;
		if (g->expires_ms > t->g[i].expires_ms)
			t->g[i].expires_ms = g->expires_ms;
		/* The latest knock names who holds it now. */
		memcpy(t->g[i].identity, g->identity, sizeof(g->identity));
		t->g[i].masquerade = g->masquerade;
		return SPA_TABLE_EXTENDED;
	}
	if (t->n >= t->max)
		return SPA_TABLE_FULL;
	t->g[t->n++] = *g;
	return SPA_TABLE_ADDED;
}

size_t spa_table_expire(struct spa_table *t, uint64_t now_ms,
			void (*fn)(void *arg, const struct spa_grant *g), void *arg)
{
	size_t kept = 0, removed = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->g[i].expires_ms <= now_ms) {
			if (fn != NULL)
				fn(arg, &t->g[i]);
			removed++;
			continue;
		}
		/* Kept in order, so `each` lists oldest first. */
		if (kept != i)
			t->g[kept] = t->g[i];
		kept++;
	}
	t->n = kept;
	return removed;
}

void spa_table_remove(struct spa_table *t, const struct spa_grant *g)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!same_tuple(&t->g[i], g))
			continue;
		memmove(&t->g[i], &t->g[i + 1], (t->n - i - 1) * sizeof(*t->g));
		t->n--;
		return;
	}
}

uint64_t spa_table_next_expiry(const struct spa_table *t)
{
	uint64_t next = 0;
	for (size_t i = 0; i < t->n; i++)
		if (next == 0 || t->g[i].expires_ms < next)
			next = t->g[i].expires_ms;
	return next;
}

void spa_table_each(const struct spa_table *t, void (*fn)(void *arg, const struct spa_grant *g),
		    void *arg)
{
	for (size_t i = 0; i < t->n; i++)
		fn(arg, &t->g[i]);
}

size_t spa_table_count(const struct spa_table *t)
{
	return t == NULL ? 0 : t->n;
}

const struct spa_grant *spa_table_get(const struct spa_table *t, size_t i)
{
	return i < t->n ? &t->g[i] : NULL;
}
