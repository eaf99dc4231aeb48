/* SPDX-License-Identifier: MIT */
/*
 * verify: the first-message queue on a real libuv loop and thread pool:
 * results come back on the loop, the queue and each source's share are
 * bounded, a cancelled job never calls back, freeing with a job in flight
 * is safe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tunnel/verify.h"

static const uint8_t key_a[CRYPTO_KEY_LEN] = "verify test key a, 32 bytes....";
static const uint8_t key_b[CRYPTO_KEY_LEN] = "verify test key b, 32 bytes....";

struct result {
	int calls;
	int found;
	size_t which;
};

static void on_done(void *arg, int found, struct handshake_found *f)
{
	struct result *r = arg;
	r->calls++;
	r->found = found;
	r->which = found == 1 ? f->which : (size_t)-1;
}

static struct verify *make(uv_loop_t *loop)
{
	const uint8_t *psks[2] = {key_a, key_b};
	struct verify *v = verify_new(loop, handshake_keys_new(psks, 2));
	assert_non_null(v);
	return v;
}

static void test_results_on_loop(void **state)
{
	(void)state;
	uv_loop_t loop;
	uint8_t good[HANDSHAKE_MSG_LEN], junk[HANDSHAKE_MSG_LEN];
	struct result r1 = {0}, r2 = {0};
	assert_int_equal(uv_loop_init(&loop), 0);
	struct verify *v = make(&loop);
	noise_hs_free(handshake_client_begin(key_b, CRYPTO_AESGCM, 1, good));
	crypto_random(junk, sizeof(junk));
	assert_non_null(verify_submit(v, "\x0a\x00\x00\x01", 4, good, on_done, &r1));
	assert_non_null(verify_submit(v, "\x0a\x00\x00\x02", 4, junk, on_done, &r2));
	/* Never from inside verify_submit. */
	assert_int_equal(r1.calls + r2.calls, 0);
	assert_int_equal(verify_queued(v), 2);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.found, 1);
	assert_int_equal(r1.which, 1);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.found, 0);
	assert_int_equal(verify_queued(v), 0);
	verify_free(v);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A reload swaps the key set: jobs queued or already running are judged
 * against the new set, so their key index is an index into it. */
static void test_set_keys(void **state)
{
	(void)state;
	uv_loop_t loop;
	uint8_t msg_b[HANDSHAKE_MSG_LEN], msg_a[HANDSHAKE_MSG_LEN];
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	assert_int_equal(uv_loop_init(&loop), 0);
	struct verify *v = make(&loop); /* a = 0, b = 1 */
	noise_hs_free(handshake_client_begin(key_b, CRYPTO_CHACHAPOLY, 1, msg_b));
	noise_hs_free(handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, 1, msg_a));
	/* The first is on a worker at once; the second waits. */
	assert_non_null(verify_submit(v, "\x0a\x00\x00\x01", 4, msg_b, on_done, &r1));
	assert_non_null(verify_submit(v, "\x0a\x00\x00\x02", 4, msg_a, on_done, &r2));
	const uint8_t *only_b[1] = {key_b};
	assert_int_equal(verify_set_keys(v, handshake_keys_new(only_b, 1)), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.found, 1);
	assert_int_equal(r1.which, 0); /* b is key 0 of the new set */
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.found, 0); /* a was removed */
	/* With nothing running the swap is immediate. */
	const uint8_t *both[2] = {key_b, key_a};
	assert_int_equal(verify_set_keys(v, handshake_keys_new(both, 2)), 0);
	assert_non_null(verify_submit(v, "\x0a\x00\x00\x03", 4, msg_a, on_done, &r3));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r3.found, 1);
	assert_int_equal(r3.which, 1);
	assert_int_equal(verify_set_keys(v, NULL), -1);
	verify_free(v);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bounds_and_cancel(void **state)
{
	(void)state;
	uv_loop_t loop;
	uint8_t junk[HANDSHAKE_MSG_LEN] = {0};
	static struct result r[VERIFY_QUEUE_MAX + 8];
	struct verify_job *jobs[VERIFY_QUEUE_MAX + 8];
	memset(r, 0, sizeof(r));
	assert_int_equal(uv_loop_init(&loop), 0);
	struct verify *v = make(&loop);
	/* One source gets its share, then nothing more. */
	for (int i = 0; i < VERIFY_PER_SOURCE; i++)
		assert_non_null(verify_submit(v, "src0", 4, junk, on_done, &r[0]));
	assert_null(verify_submit(v, "src0", 4, junk, on_done, &r[0]));
	/* Other sources fill the queue up to its bound. */
	size_t n = VERIFY_PER_SOURCE;
	for (uint8_t s = 1; n < VERIFY_QUEUE_MAX + 1; s++, n++) {
		uint8_t src[4] = {10, 0, 1, s};
		jobs[n] = verify_submit(v, src, sizeof(src), junk, on_done, &r[n]);
		assert_non_null(jobs[n]);
	}
	uint8_t other[4] = {10, 0, 2, 1};
	assert_null(verify_submit(v, other, sizeof(other), junk, on_done, &r[n]));
	assert_null(
	    verify_submit(v, "a source key that is far too long", 33, junk, on_done, &r[n]));
	/* A cancelled job never calls back and frees its place. */
	verify_cancel(jobs[10]);
	verify_cancel(NULL);
	assert_int_equal(verify_queued(v), VERIFY_QUEUE_MAX);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r[0].calls, VERIFY_PER_SOURCE);
	for (size_t i = VERIFY_PER_SOURCE; i < VERIFY_QUEUE_MAX + 1; i++)
		assert_int_equal(r[i].calls, i == 10 ? 0 : 1);
	/* Once drained, the source may submit again. */
	assert_non_null(verify_submit(v, "src0", 4, junk, on_done, &r[0]));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r[0].calls, VERIFY_PER_SOURCE + 1);
	verify_free(v);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Freed while a job runs on a worker: no callback, and the loop still drains. */
static void test_free_in_flight(void **state)
{
	(void)state;
	uv_loop_t loop;
	uint8_t junk[HANDSHAKE_MSG_LEN] = {1};
	struct result r = {0};
	assert_int_equal(uv_loop_init(&loop), 0);
	struct verify *v = make(&loop);
	assert_non_null(verify_submit(v, "s", 1, junk, on_done, &r));
	assert_non_null(verify_submit(v, "t", 1, junk, on_done, &r));
	verify_free(v);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	verify_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_results_on_loop),
	    cmocka_unit_test(test_bounds_and_cancel),
	    cmocka_unit_test(test_set_keys),
	    cmocka_unit_test(test_free_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
