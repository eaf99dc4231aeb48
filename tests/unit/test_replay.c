/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/replay.h"

#define T0	  1700000000000ull /* an arbitrary "now" in Unix ms */
#define W	  120000	   /* the window used by most scenarios, in ms */
#define ANY_COUNT (-1)

struct step {
	uint8_t id;  /* fingerprint seed */
	int64_t ts;  /* ms relative to T0 */
	int64_t now; /* ms relative to T0 */
	int verdict; /* enum replay_verdict */
	int count;   /* replay_count() afterwards, or ANY_COUNT */
};

struct scenario {
	const char *name;
	unsigned window_s;
	size_t capacity;
	const struct step *steps;
	size_t nsteps;
};

#define SCENARIO(n, w, c, s)                                                                       \
	{                                                                                          \
		n, w, c, s, sizeof(s) / sizeof(s[0])                                               \
	}

static const struct step fresh_and_seen[] = {
    {1, 0, 0, REPLAY_OK, 1},  {1, 0, 0, REPLAY_SEEN, 1},   {1, 5, 10, REPLAY_SEEN, 1},
    {2, 0, 10, REPLAY_OK, 2}, {2, -3, 20, REPLAY_SEEN, 2},
};

static const struct step stale_past[] = {
    {1, -W - 1, 0, REPLAY_STALE, 0},
    {1, -W, 0, REPLAY_OK, 1},
    {2, -10 * W, 0, REPLAY_STALE, 1},
};

static const struct step stale_future[] = {
    {1, W + 1, 0, REPLAY_STALE, 0},
    {1, W, 0, REPLAY_OK, 1},
    {2, 10 * W, 0, REPLAY_STALE, 1},
};

/* After the window the capture is stale, and the id itself is free again. */
static const struct step expiry_frees_id[] = {
    {1, 0, 0, REPLAY_OK, 1},
    {1, 0, W, REPLAY_SEEN, 1},
    {1, 0, W + 1, REPLAY_STALE, ANY_COUNT},
    {1, W + 1, W + 1, REPLAY_OK, 1},
    {1, W + 1, W + 2, REPLAY_SEEN, 1},
};

/* A timestamp at the far edge keeps its entry for two windows: expiry is not arrival order. */
static const struct step future_ts_kept_longer[] = {
    {1, W, 0, REPLAY_OK, 1},
    {2, -W, 0, REPLAY_OK, 2},
    /* id 2 expired at 0 and is swept; id 1 stays until 2 * W. */
    {3, 0, W / 2, REPLAY_OK, 2},
    {1, W, 2 * W, REPLAY_SEEN, 1},
    {1, W, 2 * W + 1, REPLAY_STALE, ANY_COUNT},
    {1, 2 * W + 1, 2 * W + 1, REPLAY_OK, 1},
};

/* An entry that expired moments ago may not be swept yet; its id is free all the same. */
static const struct step expired_in_same_tick[] = {
    {1, -W, 0, REPLAY_OK, 1}, {2, -W, 0, REPLAY_OK, 2},	 {1, 1, 1, REPLAY_OK, ANY_COUNT},
    {2, 1, 1, REPLAY_OK, 2},  {1, 1, 2, REPLAY_SEEN, 2},
};

static const struct step full_then_space[] = {
    {1, 0, 0, REPLAY_OK, 1},
    {2, 0, 0, REPLAY_OK, 2},
    {3, 0, 0, REPLAY_OK, 3},
    {4, 0, 0, REPLAY_FULL, 3},
    {4, 0, 1000, REPLAY_FULL, 3},
    {1, 0, 1000, REPLAY_SEEN, 3},
    {4, W + 1000, W + 1000, REPLAY_OK, 1},
    {5, W + 1000, W + 1000, REPLAY_OK, 2},
};

static const struct step zero_window[] = {
    {1, 0, 0, REPLAY_OK, 1},	 {1, 0, 0, REPLAY_SEEN, 1}, {2, 1, 0, REPLAY_STALE, 1},
    {2, -1, 0, REPLAY_STALE, 1}, {1, 1, 1, REPLAY_OK, 1},
};

/* The clock stepping back must not lose entries that are still live. */
static const struct step clock_steps_back[] = {
    {1, 0, 0, REPLAY_OK, 1},	       {2, W / 2, W / 2, REPLAY_OK, 2},
    {3, 0, 1000, REPLAY_OK, 3},	       {2, W / 2, 0, REPLAY_SEEN, ANY_COUNT},
    {1, 0, 0, REPLAY_SEEN, ANY_COUNT},
};

static const struct scenario scenarios[] = {
    SCENARIO("fresh and seen", 120, 16, fresh_and_seen),
    SCENARIO("stale in the past", 120, 16, stale_past),
    SCENARIO("stale in the future", 120, 16, stale_future),
    SCENARIO("expiry frees the id", 120, 16, expiry_frees_id),
    SCENARIO("future timestamp kept longer", 120, 16, future_ts_kept_longer),
    SCENARIO("expired in the same tick", 120, 16, expired_in_same_tick),
    SCENARIO("full, then space after expiry", 120, 3, full_then_space),
    SCENARIO("zero window", 0, 16, zero_window),
    SCENARIO("clock steps back", 120, 16, clock_steps_back),
};

static void make_id(uint8_t id[REPLAY_ID_LEN], unsigned seed)
{
	memset(id, 0, REPLAY_ID_LEN);
	id[0] = (uint8_t)seed;
	id[REPLAY_ID_LEN - 1] = (uint8_t)(seed >> 8);
}

static void run_scenario(const struct scenario *sc)
{
	struct replay *r = replay_new(sc->window_s, sc->capacity);
	assert_non_null(r);
	for (size_t i = 0; i < sc->nsteps; i++) {
		const struct step *st = &sc->steps[i];
		uint8_t id[REPLAY_ID_LEN];
		make_id(id, st->id);
		int v = replay_check(r, id, T0 + st->ts, T0 + st->now);
		if (v != st->verdict)
			fail_msg("%s, step %zu: verdict %d, want %d", sc->name, i, v, st->verdict);
		if (st->count != ANY_COUNT && replay_count(r) != (size_t)st->count)
			fail_msg("%s, step %zu: count %zu, want %d", sc->name, i, replay_count(r),
				 st->count);
	}
	replay_free(r);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	uint8_t id[REPLAY_ID_LEN] = {0};
	assert_null(replay_new(120, 0));
	assert_null(replay_new(120, (size_t)1 << 40));
	replay_free(NULL);
	assert_int_equal(replay_check(NULL, id, T0, T0), REPLAY_FULL);
	assert_int_equal(replay_count(NULL), 0);
	struct replay *r = replay_new(120, 4);
	assert_non_null(r);
	assert_int_equal(replay_check(r, NULL, T0, T0), REPLAY_FULL);
	replay_free(r);
	/* A large cache caps its wheel and still works. */
	r = replay_new(120, 100000);
	assert_non_null(r);
	assert_int_equal(replay_check(r, id, T0, T0), REPLAY_OK);
	assert_int_equal(replay_check(r, id, T0, T0 + 1), REPLAY_SEEN);
	replay_free(r);
}

static void test_extreme_times(void **state)
{
	(void)state;
	uint8_t id[REPLAY_ID_LEN] = {7};
	struct replay *r = replay_new(UINT32_MAX, 4);
	assert_non_null(r);
	assert_int_equal(replay_check(r, id, UINT64_MAX, UINT64_MAX), REPLAY_OK);
	assert_int_equal(replay_check(r, id, UINT64_MAX, UINT64_MAX), REPLAY_SEEN);
	assert_int_equal(replay_check(r, id, 0, UINT64_MAX), REPLAY_STALE);
	id[1] = 1;
	assert_int_equal(replay_check(r, id, 0, 0), REPLAY_OK);
	replay_free(r);
}

/* A hint is only a shortcut: made for the id, it files the entry where the
 * plain check finds it; made for another id, it is ignored. */
static void test_hint(void **state)
{
	(void)state;
	uint8_t a[REPLAY_ID_LEN], b[REPLAY_ID_LEN];
	struct replay_hint h;
	make_id(a, 1);
	make_id(b, 2);
	struct replay *r = replay_new(120, 1024);
	assert_non_null(r);
	replay_hint(r, a, &h);
	assert_int_equal(replay_check_hinted(r, &h, a, T0, T0, 0), REPLAY_OK);
	assert_int_equal(replay_check(r, a, T0, T0 + 1), REPLAY_SEEN);
	/* b checked with a's hint: still filed under b's own bucket. */
	assert_int_equal(replay_check_hinted(r, &h, b, T0, T0 + 2, 0), REPLAY_OK);
	assert_int_equal(replay_check(r, b, T0, T0 + 3), REPLAY_SEEN);
	replay_hint(r, b, &h);
	assert_int_equal(replay_check_hinted(r, &h, b, T0, T0 + 4, 0), REPLAY_SEEN);
	assert_int_equal(replay_check_hinted(r, NULL, a, T0, T0 + 5, 0), REPLAY_SEEN);
	assert_int_equal(replay_count(r), 2);
	replay_free(r);
	replay_hint(NULL, a, &h);
	assert_int_equal(replay_check_hinted(NULL, &h, a, T0, T0, 0), REPLAY_FULL);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Compare verdicts against a brute-force model while time moves forward. */
static void test_against_model(void **state)
{
	(void)state;
	enum { IDS = 64, STEPS = 200000, WIN_MS = 2000 };
	uint64_t expiry[IDS] = {0};
	int known[IDS] = {0};
	struct replay *r = replay_new(WIN_MS / 1000, 4096);
	assert_non_null(r);
	uint64_t now = T0;
	for (int i = 0; i < STEPS; i++) {
		now += rng() % 50;
		if (rng() % 1000 == 0)
			now += 10 * WIN_MS;
		unsigned n = (unsigned)(rng() % IDS);
		uint64_t ts = now - WIN_MS - 5 + rng() % (2 * WIN_MS + 11);
		int want;
		if ((ts > now ? ts - now : now - ts) > WIN_MS)
			want = REPLAY_STALE;
		else if (known[n] && expiry[n] >= now)
			want = REPLAY_SEEN;
		else
			want = REPLAY_OK;
		uint8_t id[REPLAY_ID_LEN];
		make_id(id, n);
		int got = replay_check(r, id, ts, now);
		if (got != want)
			fail_msg("step %d: verdict %d, want %d", i, got, want);
		if (want == REPLAY_OK) {
			known[n] = 1;
			expiry[n] = ts + WIN_MS;
		}
		size_t live = 0;
		for (unsigned k = 0; k < IDS; k++)
			live += known[k] && expiry[k] >= now;
		assert_true(replay_count(r) >= live);
		assert_true(replay_count(r) <= IDS);
	}
	replay_free(r);
}

/* Wild clocks and a small table: any verdict is fine, memory must stay sound. */
static void test_chaos(void **state)
{
	(void)state;
	struct replay *r = replay_new(30, 8);
	assert_non_null(r);
	uint64_t now = T0;
	for (int i = 0; i < 100000; i++) {
		switch (rng() % 4) {
		case 0:
			now -= rng() % 60000;
			break;
		case 1:
			now += rng() % 60000;
			break;
		default:
			now += rng() % 100;
		}
		uint8_t id[REPLAY_ID_LEN];
		make_id(id, (unsigned)(rng() % 16));
		uint64_t ts = now - 30000 + rng() % 60001;
		int v = replay_check(r, id, ts, now);
		assert_true(v >= REPLAY_OK && v <= REPLAY_FULL);
		assert_true(replay_count(r) <= 8);
	}
	replay_free(r);
}

/* One identity filling its quota is refused alone; others and the ownerless still get in. */
static void test_quota(void **state)
{
	(void)state;
	struct replay *r = replay_new(120, 64);
	uint8_t id[REPLAY_ID_LEN];
	assert_non_null(r);
	assert_int_equal(replay_set_quota(r, 3, 16), 0);
	for (unsigned i = 0; i < 16; i++) {
		make_id(id, i);
		assert_int_equal(replay_check_as(r, id, T0, T0, 0), REPLAY_OK);
	}
	make_id(id, 100);
	assert_int_equal(replay_check_as(r, id, T0, T0, 0), REPLAY_QUOTA);
	assert_int_equal(replay_owner_count(r, 0), 16);
	/* A replay is still told as a replay, not as a full quota. */
	make_id(id, 3);
	assert_int_equal(replay_check_as(r, id, T0, T0, 0), REPLAY_SEEN);
	make_id(id, 101);
	assert_int_equal(replay_check_as(r, id, T0, T0, 1), REPLAY_OK);
	make_id(id, 102);
	assert_int_equal(replay_check_as(r, id, T0, T0, REPLAY_NO_OWNER), REPLAY_OK);
	assert_int_equal(replay_count(r), 18);
	/* Once its entries expire the identity gets its share back. */
	make_id(id, 100);
	assert_int_equal(replay_check_as(r, id, T0 + 121000, T0 + 121000, 0), REPLAY_OK);
	assert_int_equal(replay_owner_count(r, 0), 1);
	assert_int_equal(replay_owner_count(r, 1), 0);
	/* Quotas are set before use only. */
	assert_int_equal(replay_set_quota(r, 3, 16), -1);
	replay_free(r);
}

/* The total still binds when quotas add up to more than the capacity. */
static void test_quota_within_total(void **state)
{
	(void)state;
	struct replay *r = replay_new(120, 20);
	uint8_t id[REPLAY_ID_LEN];
	assert_int_equal(replay_set_quota(r, 2, 16), 0);
	for (unsigned i = 0; i < 16; i++) {
		make_id(id, i);
		assert_int_equal(replay_check_as(r, id, T0, T0, 0), REPLAY_OK);
	}
	for (unsigned i = 0; i < 4; i++) {
		make_id(id, 50 + i);
		assert_int_equal(replay_check_as(r, id, T0, T0, 1), REPLAY_OK);
	}
	make_id(id, 60);
	assert_int_equal(replay_check_as(r, id, T0, T0, 1), REPLAY_FULL);
	replay_free(r);
}

static int collect(void *arg, const uint8_t *id, uint64_t expiry_ms, uint32_t owner)
{
	unsigned *n = arg;
	(void)id;
	assert_true(expiry_ms >= T0);
	assert_true(owner == 1 || owner == REPLAY_NO_OWNER);
	(*n)++;
	return 0;
}

/* Restored entries are seen as replays and visited by replay_foreach. */
static void test_insert_and_foreach(void **state)
{
	(void)state;
	struct replay *r = replay_new(120, 8);
	uint8_t id[REPLAY_ID_LEN];
	unsigned n = 0;
	assert_int_equal(replay_set_quota(r, 2, 16), 0);
	make_id(id, 1);
	assert_int_equal(replay_insert(r, id, T0 + 5000, 1, T0), 0);
	make_id(id, 2);
	assert_int_equal(replay_insert(r, id, T0 - 1, 1, T0), 0); /* expired: skipped */
	make_id(id, 3);
	assert_int_equal(replay_insert(r, id, T0 + 9000, 7, T0), 0); /* unknown owner */
	assert_int_equal(replay_count(r), 2);
	assert_int_equal(replay_owner_count(r, 1), 1);
	make_id(id, 1);
	assert_int_equal(replay_check_as(r, id, T0, T0 + 1, 0), REPLAY_SEEN);
	assert_int_equal(replay_foreach(r, collect, &n), 0);
	assert_int_equal(n, 2);
	replay_free(r);
}

/* A reload renumbers identities: counts follow the names, a removed one's
 * entries stay (still refused as replays) but count for nobody. */
static void test_reown(void **state)
{
	(void)state;
	struct replay *r = replay_new(120, 64);
	uint8_t id[REPLAY_ID_LEN];
	assert_int_equal(replay_set_quota(r, 3, 4), 0);
	for (unsigned o = 0; o < 3; o++)
		for (unsigned i = 0; i < o + 1; i++) {
			make_id(id, 10 * o + i);
			assert_int_equal(replay_check_as(r, id, T0, T0, o), REPLAY_OK);
		}
	/* Old 0 is removed, old 1 becomes 0, old 2 becomes 1; a new identity 2. */
	const uint32_t map[3] = {REPLAY_NO_OWNER, 0, 1};
	assert_int_equal(replay_reown(r, map, 3, 3, 3), 0);
	assert_int_equal(replay_owner_count(r, 0), 2);
	assert_int_equal(replay_owner_count(r, 1), 3);
	assert_int_equal(replay_owner_count(r, 2), 0);
	assert_int_equal(replay_count(r), 6);
	make_id(id, 0);
	assert_int_equal(replay_check_as(r, id, T0, T0, 2), REPLAY_SEEN);
	/* The new quota (3) applies: identity 1 holds 3 already. */
	make_id(id, 99);
	assert_int_equal(replay_check_as(r, id, T0, T0, 1), REPLAY_QUOTA);
	assert_int_equal(replay_check_as(r, id, T0, T0, 0), REPLAY_OK);
	assert_int_equal(replay_reown(NULL, map, 3, 3, 3), -1);
	assert_int_equal(replay_reown(r, NULL, 3, 3, 3), -1);
	replay_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scenarios),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_extreme_times),
	    cmocka_unit_test(test_hint),
	    cmocka_unit_test(test_against_model),
	    cmocka_unit_test(test_chaos),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_quota_within_total),
	    cmocka_unit_test(test_insert_and_foreach),
	    cmocka_unit_test(test_reown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
