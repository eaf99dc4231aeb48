/* SPDX-License-Identifier: MIT */
/*
 * idmap: long random sequences of put/del/get checked against a trivial
 * model, over key sets chosen to stress the hash: sequential ids as the
 * session hands them out, the server's half above 0x80000000, sparse random
 * ids, and ids built to share one home slot at the end of the table so that
 * clusters wrap around and backward-shift deletion has real work to do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/idmap.h"

enum {
	NKEYS = 4096, /* candidate keys per scenario */
	NOPS = 100000,
	CHECK_EVERY = 997, /* full consistency check interval, in operations */
};

/* The model: candidate i is live iff live[i]; its value is &tokens[i][gen[i]]. */
struct model {
	uint32_t keys[NKEYS];
	uint8_t live[NKEYS];
	uint8_t gen[NKEYS];
	int tokens[NKEYS][2];
	size_t count;
};

/* xorshift64*: deterministic, so a failing sequence replays exactly. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

/* The multiplier idmap hashes with, and its inverse mod 2^32, to build colliding keys. */
#define FIB 2654435769u

static uint32_t inverse_mod_2_32(uint32_t a)
{
	uint32_t x = a; /* Newton's iteration: correct bits double each step */
	for (int i = 0; i < 5; i++)
		x *= 2 - a * x;
	return x;
}

static void keys_sequential(uint32_t *k)
{
	for (uint32_t i = 0; i < NKEYS; i++)
		k[i] = i + 1;
}

static void keys_high(uint32_t *k)
{
	for (uint32_t i = 0; i < NKEYS; i++)
		k[i] = 0x80000000u + i;
	k[NKEYS - 1] = 0xffffffffu;
}

/* Distinct random keys, plus the edge values at the front. */
static void keys_sparse(uint32_t *k)
{
	static const uint32_t edges[] = {0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff};
	size_t n = 0;
	for (; n < sizeof(edges) / sizeof(edges[0]); n++)
		k[n] = edges[n];
	while (n < NKEYS) {
		uint32_t c = (uint32_t)rng();
		int dup = 0;
		for (size_t i = 0; i < n && !dup; i++)
			dup = k[i] == c;
		if (!dup)
			k[n++] = c;
	}
}

/*
 * Hash bits 7..18 of the colliding keys: the last four slots and the first
 * two of every table of 16 to 4096 slots. One long cluster then wraps around
 * the end, and mixing homes on both sides of the wrap is what makes deletion
 * meet entries that must stay put: a wrapped entry whose home is before the
 * hole, and one that sits at its own home just after the wrap.
 */
static const uint32_t colliding_homes[] = {0xfff, 0xffe, 0xffd, 0xffc, 0x000, 0x001};
#define NHOMES (sizeof(colliding_homes) / sizeof(colliding_homes[0]))

static void keys_colliding(uint32_t *k)
{
	uint32_t inv = inverse_mod_2_32(FIB);
	for (uint32_t i = 0; i < NKEYS; i++)
		k[i] = inv * ((i << 19) | (colliding_homes[i % NHOMES] << 7) | (i & 0x7f));
}

/* Half sequential low ids, half sequential high ids, as both sides opening channels would. */
static void keys_both_halves(uint32_t *k)
{
	for (uint32_t i = 0; i < NKEYS / 2; i++) {
		k[2 * i] = i + 1;
		k[2 * i + 1] = 0x80000001u + i;
	}
}

struct scenario {
	const char *name;
	void (*make_keys)(uint32_t *k);
	size_t limit; /* keys used; a smaller set means more collisions between ops */
};

static const struct scenario scenarios[] = {
    {"sequential", keys_sequential, NKEYS},   {"high half", keys_high, NKEYS},
    {"sparse", keys_sparse, NKEYS},	      {"colliding", keys_colliding, 600},
    {"both halves", keys_both_halves, NKEYS}, {"small set", keys_sparse, 40},
};

static void count_visit(void *val, void *arg)
{
	struct model *m = arg;
	int *tok = val;
	/* Values point into m->tokens; which row says which key it belongs to. */
	size_t idx = (size_t)(tok - &m->tokens[0][0]) / 2;
	assert_true(idx < NKEYS);
	assert_true(m->live[idx]);
	/* Bit 1 of gen marks "visited" for the duration of one idmap_each. */
	assert_false(m->gen[idx] & 2);
	assert_ptr_equal(tok, &m->tokens[idx][m->gen[idx] & 1]);
	m->gen[idx] |= 2;
}

/* Structural invariants of linear probing, and agreement with the model. */
static void check_full(const struct idmap *map, struct model *m, size_t limit)
{
	size_t used = 0;
	assert_true(map->cap == 0 || (map->cap & (map->cap - 1)) == 0);
	assert_true(map->count * 2 <= map->cap || map->cap == 0);
	for (size_t j = 0; j < map->cap; j++) {
		if (map->vals[j] == NULL)
			continue;
		used++;
		/* Every slot between a key's home and its position is occupied, or get() would stop
		 * short. */
		size_t home = idmap_home(map, map->keys[j]);
		for (size_t i = home; i != j; i = (i + 1) & (map->cap - 1))
			assert_non_null(map->vals[i]);
	}
	assert_int_equal(used, map->count);
	assert_int_equal(map->count, m->count);
	for (size_t i = 0; i < limit; i++) {
		void *want = m->live[i] ? &m->tokens[i][m->gen[i]] : NULL;
		assert_ptr_equal(idmap_get(map, m->keys[i]), want);
	}
	idmap_each((struct idmap *)map, count_visit, m);
	for (size_t i = 0; i < limit; i++) {
		/* Visited exactly once if live, never if not. */
		assert_int_equal(m->gen[i] >> 1, m->live[i]);
		m->gen[i] &= 1;
	}
}

static void run_scenario(const struct scenario *sc, uint64_t seed)
{
	struct model *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	rng_state = seed;
	sc->make_keys(m->keys);
	struct idmap map = {0};

	/* Phases alternate between filling and draining, so the table grows and empties repeatedly.
	 */
	for (int op = 0; op < NOPS; op++) {
		int filling = (op / 10000) % 2 == 0;
		size_t i = (size_t)(rng() % sc->limit);
		unsigned r = (unsigned)(rng() % 10);
		uint32_t key = m->keys[i];
		if (r < (filling ? 6u : 2u)) {
			if (m->live[i]) {
				assert_ptr_equal(idmap_get(&map, key), &m->tokens[i][m->gen[i]]);
				continue;
			}
			m->gen[i] ^= 1; /* a reinserted key gets a different value */
			assert_int_equal(idmap_put(&map, key, &m->tokens[i][m->gen[i]]), 0);
			m->live[i] = 1;
			m->count++;
		} else if (r < 8) {
			/* Absent keys included: deleting them must change nothing. */
			idmap_del(&map, key);
			if (m->live[i]) {
				m->live[i] = 0;
				m->count--;
			}
			assert_null(idmap_get(&map, key));
		} else {
			void *want = m->live[i] ? &m->tokens[i][m->gen[i]] : NULL;
			assert_ptr_equal(idmap_get(&map, key), want);
		}
		assert_int_equal(map.count, m->count);
		if (op % CHECK_EVERY == 0)
			check_full(&map, m, sc->limit);
	}
	check_full(&map, m, sc->limit);

	/* Drain completely; the table must end empty but stay usable. */
	for (size_t i = 0; i < sc->limit; i++)
		idmap_del(&map, m->keys[i]);
	assert_int_equal(map.count, 0);
	for (size_t i = 0; i < map.cap; i++)
		assert_null(map.vals[i]);
	assert_int_equal(idmap_put(&map, m->keys[0], &m->tokens[0][0]), 0);
	assert_ptr_equal(idmap_get(&map, m->keys[0]), &m->tokens[0][0]);
	idmap_free(&map);
	free(m);
}

static void test_random_against_model(void **state)
{
	(void)state;
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		print_message("scenario: %s\n", scenarios[s].name);
		run_scenario(&scenarios[s], 0x9e3779b97f4a7c15u + s);
	}
}

/* The colliding key set really does collide; otherwise that scenario proves nothing. */
static void test_colliding_keys_collide(void **state)
{
	(void)state;
	uint32_t k[NKEYS];
	keys_colliding(k);
	for (size_t i = 0; i < NKEYS; i++) {
		assert_int_equal(((k[i] * FIB) >> 7) & 4095u, colliding_homes[i % NHOMES]);
		for (size_t j = 0; j < i && j < 64; j++)
			assert_int_not_equal(k[i], k[j]);
	}
}

/*
 * Issue 9, finding 7: ids that all share one home slot under the old
 * unkeyed hash (product bits 7..23 zero: slot 0 of every table up to 2^17
 * slots) made each insert walk the whole cluster. Under the keyed hash the
 * longest probe stays that of random keys at load 1/2 (a few tens at this
 * size); the old hash reaches 32,767.
 */
static void test_chosen_ids_bounded_probes(void **state)
{
	(void)state;
	enum { N = 32768 };
	static int tok[N];
	uint32_t inv = inverse_mod_2_32(FIB);
	struct idmap map = {0};
	for (uint32_t i = 0; i < N; i++) {
		uint32_t key = inv * (((i >> 7) << 24) | (i & 0x7f));
		assert_int_equal(idmap_put(&map, key, &tok[i]), 0);
	}
	assert_int_equal(map.count, N);
	assert_true(map.max_probe < 256);
	for (uint32_t i = 0; i < N; i++)
		assert_ptr_equal(idmap_get(&map, inv * (((i >> 7) << 24) | (i & 0x7f))), &tok[i]);
	idmap_free(&map);
	assert_int_equal(map.max_probe, 0);
}

/* Growth from nothing to 100000 sequential ids: every one stays reachable, load stays <= 1/2. */
static void test_growth(void **state)
{
	(void)state;
	enum { N = 100000 };
	static int tok[N];
	struct idmap map = {0};
	size_t last_cap = 0, grows = 0;
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(idmap_put(&map, i, &tok[i]), 0);
		if (map.cap != last_cap) {
			assert_true(map.cap == 16 || map.cap == last_cap * 2);
			last_cap = map.cap;
			grows++;
			/* Rehashing must carry every earlier entry over. */
			for (uint32_t j = 0; j <= i; j++)
				assert_ptr_equal(idmap_get(&map, j), &tok[j]);
		}
		assert_true(map.count * 2 <= map.cap);
	}
	assert_int_equal(map.count, N);
	assert_true(grows >= 14);
	assert_null(idmap_get(&map, N));
	assert_null(idmap_get(&map, 0xffffffffu));
	/* Delete every other id, then check both halves. */
	for (uint32_t i = 0; i < N; i += 2)
		idmap_del(&map, i);
	assert_int_equal(map.count, N / 2);
	for (uint32_t i = 0; i < N; i++)
		assert_ptr_equal(idmap_get(&map, i), (i % 2) ? &tok[i] : NULL);
	idmap_free(&map);
	assert_int_equal(map.cap, 0);
	assert_null(map.keys);
}

/* An empty map, never allocated or freed again, answers everything harmlessly. */
static void test_empty(void **state)
{
	(void)state;
	struct idmap map = {0};
	int v;
	assert_null(idmap_get(&map, 0));
	assert_null(idmap_get(&map, 0xffffffffu));
	idmap_del(&map, 0);
	idmap_del(&map, 12345);
	assert_int_equal(map.count, 0);
	idmap_each(&map, count_visit, NULL);
	idmap_free(&map);
	idmap_free(&map);
	/* Key 0 is an ordinary key: emptiness is marked by the value, not the key. */
	assert_int_equal(idmap_put(&map, 0, &v), 0);
	assert_ptr_equal(idmap_get(&map, 0), &v);
	idmap_del(&map, 1);
	assert_ptr_equal(idmap_get(&map, 0), &v);
	idmap_del(&map, 0);
	assert_null(idmap_get(&map, 0));
	assert_int_equal(map.count, 0);
	idmap_free(&map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_colliding_keys_collide),
	    cmocka_unit_test(test_chosen_ids_bounded_probes),
	    cmocka_unit_test(test_random_against_model),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
