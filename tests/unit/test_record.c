/* SPDX-License-Identifier: MIT */
/*
 * record: sealing and opening transport records over the CipherStates that a
 * real postern handshake produces, for both suites. The point of the record
 * layer is that the receiver accepts exactly the sender's records, once and
 * in order, so most tests here tamper with a stream and check that nothing
 * but the genuine sequence ever yields RECORD_OK, and that a refused record
 * leaves the receiver's state as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/record.h"
#include "crypto/replay.h"
#include "tunnel/frame.h"
#include "tunnel/handshake.h"
#include "util/wire.h"

/* The largest DATA frame travels in one record; the two limits moved together once already. */
_Static_assert(FRAME_CHAN_HDR + FRAME_MAX_DATA <= RECORD_MAX_PLAIN, "DATA frame exceeds a record");

#define T0 1700000000000ull /* an arbitrary "now" in Unix ms */

/* Room for the largest record, so every test can use the same buffers. */
#define REC_CAP ((size_t)RECORD_MAX_PLAIN + RECORD_OVERHEAD)

static const uint8_t test_psk[CRYPTO_KEY_LEN] = "record test psk, 32 bytes long.";

/* Both ends of one session: c = client, s = server. */
struct pair {
	enum crypto_aead_alg alg;
	struct noise_cipher ctx, crx, stx, srx;
};

/* xorshift64*: deterministic, so a failure reproduces exactly. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
}

/* The ciphers come from a real handshake so that this test also covers the keys it derives. */
static int setup_pair(void **state)
{
	struct pair *pr = calloc(1, sizeof(*pr));
	assert_non_null(pr);
	pr->alg = (enum crypto_aead_alg)(uintptr_t)*state;

	struct replay *rp = replay_new(120, 16);
	assert_non_null(rp);
	uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
	struct noise_hs *hs = handshake_client_begin(test_psk, pr->alg, T0, msg1);
	assert_non_null(hs);
	const uint8_t *psks[] = {test_psk};
	size_t which = 99;
	assert_int_equal(handshake_server(psks, 1, rp, T0, msg1, msg2, &pr->stx, &pr->srx, &which),
			 HANDSHAKE_OK);
	assert_int_equal(which, 0);
	assert_int_equal(handshake_client_finish(hs, msg2, &pr->ctx, &pr->crx), 0);
	replay_free(rp);
	assert_int_equal(pr->ctx.alg, pr->alg);
	*state = pr;
	return 0;
}

static int teardown_pair(void **state)
{
	struct pair *pr = *state;
	noise_cipher_clear(&pr->ctx);
	noise_cipher_clear(&pr->crx);
	noise_cipher_clear(&pr->stx);
	noise_cipher_clear(&pr->srx);
	free(pr);
	return 0;
}

/* seal_copy: seal ${plen} bytes of ${plain} into ${rec}; the record's length. */
static size_t seal_copy(struct noise_cipher *c, const uint8_t *plain, size_t plen, uint8_t *rec)
{
	memcpy(rec + RECORD_HDR_LEN, plain, plen);
	ssize_t n = record_seal(c, rec, plen);
	assert_int_equal(n, (ssize_t)(plen + RECORD_OVERHEAD));
	return (size_t)n;
}

/* expect_open: ${rec} must open to exactly ${plain}, consuming ${reclen} bytes. */
static void expect_open(struct noise_cipher *c, uint8_t *rec, size_t len, size_t reclen,
			const uint8_t *plain, size_t plen)
{
	uint8_t *out = NULL;
	size_t olen = 0, used = 0;
	assert_int_equal(record_open(c, rec, len, &out, &olen, &used), RECORD_OK);
	/* In place: the plaintext sits where the ciphertext was, inside the caller's buffer. */
	assert_ptr_equal(out, rec + RECORD_HDR_LEN);
	assert_int_equal(olen, plen);
	assert_int_equal(used, reclen);
	assert_memory_equal(out, plain, plen);
}

static enum record_status try_open(struct noise_cipher *c, uint8_t *rec, size_t len)
{
	uint8_t *out = NULL;
	size_t olen = 0, used = 0;
	return record_open(c, rec, len, &out, &olen, &used);
}

static void test_round_trip_sizes(void **state)
{
	struct pair *pr = *state;
	static const size_t sizes[] = {
	    1,
	    2,
	    15,
	    16,
	    17,
	    1000,
	    16384,
	    65535,
	    65536,
	    FRAME_CHAN_HDR + FRAME_MAX_DATA,
	    RECORD_MAX_PLAIN,
	};
	uint8_t *plain = malloc(REC_CAP), *rec = malloc(REC_CAP);
	assert_non_null(plain);
	assert_non_null(rec);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill_pattern(plain, sizes[i], (unsigned)i);
		/* Both directions: each has its own key and counter. */
		size_t n = seal_copy(&pr->ctx, plain, sizes[i], rec);
		assert_int_equal(load32_be(rec), sizes[i] + RECORD_TAG_LEN);
		expect_open(&pr->srx, rec, n, n, plain, sizes[i]);
		n = seal_copy(&pr->stx, plain, sizes[i], rec);
		expect_open(&pr->crx, rec, n, n, plain, sizes[i]);
	}
	assert_int_equal(pr->ctx.n, sizeof(sizes) / sizeof(sizes[0]));
	assert_int_equal(pr->srx.n, pr->ctx.n);
	free(plain);
	free(rec);
}

/* Sizes the sender must refuse, and refusing must not burn a nonce. */
static void test_seal_bounds(void **state)
{
	struct pair *pr = *state;
	uint8_t *rec = calloc(1, REC_CAP + 1);
	assert_non_null(rec);
	assert_int_equal(record_seal(&pr->ctx, rec, 0), -1);
	assert_int_equal(record_seal(&pr->ctx, rec, (size_t)RECORD_MAX_PLAIN + 1), -1);
	assert_int_equal(record_seal(&pr->ctx, rec, SIZE_MAX), -1);
	assert_int_equal(pr->ctx.n, 0);
	const uint8_t one = 'x';
	size_t n = seal_copy(&pr->ctx, &one, 1, rec);
	expect_open(&pr->srx, rec, n, n, &one, 1);
	free(rec);
}

/*
 * Many records back to back, delivered in arbitrary segments the way TCP
 * may cut them, and consumed with the session's loop: open, advance, stop
 * on NEED_MORE, keep the tail for the next read.
 */
static void test_stream_in_order(void **state)
{
	struct pair *pr = *state;
	enum { NREC = 300, MAXP = 3000 };
	size_t lens[NREC], total = 0;
	for (size_t i = 0; i < NREC; i++) {
		lens[i] = 1 + (size_t)(rng() % MAXP);
		total += lens[i] + RECORD_OVERHEAD;
	}
	uint8_t *wire = malloc(total), *rxbuf = malloc(total), plain[MAXP];
	assert_non_null(wire);
	assert_non_null(rxbuf);
	size_t off = 0;
	for (size_t i = 0; i < NREC; i++) {
		fill_pattern(plain, lens[i], (unsigned)i);
		off += seal_copy(&pr->ctx, plain, lens[i], wire + off);
	}
	assert_int_equal(off, total);

	size_t sent = 0, have = 0, next = 0;
	while (sent < total) {
		size_t seg = 1 + (size_t)(rng() % 5000);
		if (seg > total - sent)
			seg = total - sent;
		memcpy(rxbuf + have, wire + sent, seg);
		sent += seg;
		have += seg;
		size_t pos = 0;
		for (;;) {
			uint8_t *out;
			size_t olen, used;
			enum record_status r =
			    record_open(&pr->srx, rxbuf + pos, have - pos, &out, &olen, &used);
			if (r == RECORD_NEED_MORE)
				break;
			assert_int_equal(r, RECORD_OK);
			assert_true(next < NREC);
			fill_pattern(plain, lens[next], (unsigned)next);
			assert_int_equal(olen, lens[next]);
			assert_memory_equal(out, plain, olen);
			next++;
			pos += used;
		}
		memmove(rxbuf, rxbuf + pos, have - pos);
		have -= pos;
	}
	assert_int_equal(next, NREC);
	assert_int_equal(have, 0);
	free(wire);
	free(rxbuf);
}

/*
 * A flipped bit in the clear length. Depending on the new value it is out of
 * range, claims more than has arrived, or frames the wrong bytes and fails
 * the tag; which one is fully determined, and RECORD_OK is never right.
 * ${extra} bytes of trailing stream let a longer claimed length be satisfied.
 */
static void header_flips(struct pair *pr, size_t extra)
{
	enum { PLEN = 1000 };
	uint8_t plain[PLEN];
	fill_pattern(plain, PLEN, 3);
	uint8_t *good = calloc(1, REC_CAP + extra), *buf = malloc(REC_CAP + extra);
	assert_non_null(good);
	assert_non_null(buf);
	size_t n = seal_copy(&pr->ctx, plain, PLEN, good);
	for (size_t k = 0; k < extra; k++)
		good[n + k] = (uint8_t)rng();
	size_t len = n + extra;

	for (unsigned bit = 0; bit < 32; bit++) {
		memcpy(buf, good, len);
		buf[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
		uint32_t body = load32_be(buf);
		enum record_status want;
		if (body < RECORD_MIN_BODY || body > RECORD_MAX_BODY)
			want = RECORD_BAD_LENGTH;
		else if (body > len - RECORD_HDR_LEN)
			want = RECORD_NEED_MORE;
		else
			want = RECORD_BAD_AUTH;
		enum record_status got = try_open(&pr->srx, buf, len);
		assert_int_not_equal(got, RECORD_OK);
		assert_int_equal(got, want);
	}
	/* None of that advanced the receiver: the genuine record still opens. */
	assert_int_equal(pr->srx.n, 0);
	memcpy(buf, good, len);
	expect_open(&pr->srx, buf, len, n, plain, PLEN);
	free(good);
	free(buf);
}

static void test_header_bit_flip_alone(void **state)
{
	header_flips(*state, 0);
}

static void test_header_bit_flip_in_stream(void **state)
{
	/* Enough trailing bytes that every in-range length is satisfiable. */
	header_flips(*state, RECORD_MAX_BODY);
}

/* Every bit of ciphertext and tag is covered by the tag. */
static void test_body_bit_flip(void **state)
{
	struct pair *pr = *state;
	static const size_t sizes[] = {1, 64, 1000};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint8_t plain[1000], good[1000 + RECORD_OVERHEAD], buf[sizeof(good)];
		size_t plen = sizes[s];
		fill_pattern(plain, plen, (unsigned)s);
		size_t n = seal_copy(&pr->ctx, plain, plen, good);
		for (size_t bit = RECORD_HDR_LEN * 8; bit < n * 8; bit++) {
			memcpy(buf, good, n);
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(try_open(&pr->srx, buf, n), RECORD_BAD_AUTH);
		}
		memcpy(buf, good, n);
		expect_open(&pr->srx, buf, n, n, plain, plen);
	}
}

/* Three records, and the order in which the receiver is offered them. */
struct order_case {
	const char *name;
	int seq[6]; /* record index, -1 ends */
	int ok[6];  /* 1: must open; 0: must fail authentication */
};

static const struct order_case order_cases[] = {
    {"in order", {0, 1, 2, -1}, {1, 1, 1}},
    {"dropped", {0, 2, 1, 2, -1}, {1, 0, 1, 1}},
    {"two dropped", {2, 0, 1, 2, -1}, {0, 1, 1, 1}},
    {"duplicated", {0, 0, 1, 1, 2, -1}, {1, 0, 1, 0, 1}},
    {"older replayed", {0, 1, 0, 2, -1}, {1, 1, 0, 1}},
    {"swapped", {1, 0, 1, 2, -1}, {0, 1, 1, 1}},
    {"swapped later", {0, 2, 1, 2, -1}, {1, 0, 1, 1}},
};

/*
 * The implicit nonce is what stops reordering; since a refused record leaves
 * the counter alone, offering the right record afterwards still works, which
 * shows a forgery cannot desynchronise the receiver.
 */
static void test_order(void **state)
{
	struct pair *pr = *state;
	for (size_t c = 0; c < sizeof(order_cases) / sizeof(order_cases[0]); c++) {
		const struct order_case *oc = &order_cases[c];
		uint8_t plain[3][40], rec[3][40 + RECORD_OVERHEAD], buf[sizeof(rec[0])];
		size_t n[3];
		uint64_t base = pr->srx.n;
		for (int i = 0; i < 3; i++) {
			fill_pattern(plain[i], sizeof(plain[i]), (unsigned)(c * 3 + (size_t)i));
			n[i] = seal_copy(&pr->ctx, plain[i], sizeof(plain[i]), rec[i]);
		}
		for (int k = 0; oc->seq[k] >= 0; k++) {
			int i = oc->seq[k];
			memcpy(buf, rec[i], n[i]);
			if (oc->ok[k]) {
				expect_open(&pr->srx, buf, n[i], n[i], plain[i], sizeof(plain[i]));
			} else {
				assert_int_equal(try_open(&pr->srx, buf, n[i]), RECORD_BAD_AUTH);
			}
		}
		/* Every case ends with all three accepted, so the sides are in step again. */
		assert_int_equal(pr->srx.n, base + 3);
	}
}

/* A record sent back to its sender: the directions have different keys. */
static void test_reflection(void **state)
{
	struct pair *pr = *state;
	uint8_t plain[32], rec[32 + RECORD_OVERHEAD], buf[sizeof(rec)];
	fill_pattern(plain, sizeof(plain), 9);
	size_t n = seal_copy(&pr->ctx, plain, sizeof(plain), rec);
	memcpy(buf, rec, n);
	assert_int_equal(try_open(&pr->crx, buf, n), RECORD_BAD_AUTH);
	memcpy(buf, rec, n);
	expect_open(&pr->srx, buf, n, n, plain, sizeof(plain));
}

/*
 * Every proper prefix of a record is NEED_MORE and leaves the bytes alone,
 * since the rest is still to be appended behind them. Each prefix sits in a
 * buffer of exactly its size, so ASan or valgrind catch any read past it.
 */
static void test_need_more_prefixes(void **state)
{
	struct pair *pr = *state;
	static const size_t sizes[] = {1, 100, 4096};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t plen = sizes[s];
		uint8_t *plain = malloc(plen), *rec = malloc(plen + RECORD_OVERHEAD);
		assert_non_null(plain);
		assert_non_null(rec);
		fill_pattern(plain, plen, (unsigned)s);
		size_t n = seal_copy(&pr->ctx, plain, plen, rec);
		for (size_t len = 0; len < n; len++) {
			uint8_t *part = malloc(len ? len : 1);
			assert_non_null(part);
			memcpy(part, rec, len);
			assert_int_equal(try_open(&pr->srx, part, len), RECORD_NEED_MORE);
			assert_memory_equal(part, rec, len);
			free(part);
		}
		assert_int_equal(pr->srx.n, s);

		/* The same, growing one buffer byte by byte as a slow peer would fill it. */
		uint8_t *grow = malloc(n);
		assert_non_null(grow);
		for (size_t len = 0; len < n; len++) {
			assert_int_equal(try_open(&pr->srx, grow, len), RECORD_NEED_MORE);
			assert_memory_equal(grow, rec, len);
			grow[len] = rec[len];
		}
		expect_open(&pr->srx, grow, n, n, plain, plen);
		free(grow);
		free(plain);
		free(rec);
	}
}

struct length_case {
	uint32_t body;
	size_t avail; /* bytes offered, header included */
	enum record_status want;
};

/*
 * Lengths are judged from the header alone: an impossible one is refused at
 * once, before any body arrives, so a forged huge length buffers nothing.
 */
static const struct length_case length_cases[] = {
    {0, 4, RECORD_BAD_LENGTH},
    {1, 4, RECORD_BAD_LENGTH},
    {RECORD_TAG_LEN, 4, RECORD_BAD_LENGTH},
    {RECORD_MIN_BODY - 1, 4, RECORD_BAD_LENGTH},
    {RECORD_MIN_BODY - 1, 4 + RECORD_MIN_BODY - 1, RECORD_BAD_LENGTH},
    {RECORD_MAX_BODY + 1, 4, RECORD_BAD_LENGTH},
    {RECORD_MAX_BODY + 1, 20, RECORD_BAD_LENGTH},
    {0x00100000, 4, RECORD_BAD_LENGTH},
    {0x7fffffff, 4, RECORD_BAD_LENGTH},
    {0x80000000, 4, RECORD_BAD_LENGTH},
    {0xffffffff, 4, RECORD_BAD_LENGTH},
    /* The extremes that are allowed wait for their body... */
    {RECORD_MIN_BODY, 4, RECORD_NEED_MORE},
    {RECORD_MAX_BODY, 4, RECORD_NEED_MORE},
    {RECORD_MIN_BODY, 4 + RECORD_MIN_BODY - 1, RECORD_NEED_MORE},
    /* ...and once it is there, random bytes fail the tag. */
    {RECORD_MIN_BODY, 4 + RECORD_MIN_BODY, RECORD_BAD_AUTH},
    {RECORD_MAX_BODY, 4 + RECORD_MAX_BODY, RECORD_BAD_AUTH},
    /* Too short even to hold the header: nothing to judge yet. */
    {0xffffffff, 3, RECORD_NEED_MORE},
    {0, 0, RECORD_NEED_MORE},
};

static void test_lengths(void **state)
{
	struct pair *pr = *state;
	for (size_t i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++) {
		const struct length_case *lc = &length_cases[i];
		/* Exactly the bytes offered, so a read beyond them is caught. */
		uint8_t *buf = malloc(lc->avail < 4 ? 4 : lc->avail);
		assert_non_null(buf);
		store32_be(buf, lc->body);
		for (size_t k = 4; k < lc->avail; k++)
			buf[k] = (uint8_t)rng();
		enum record_status got = try_open(&pr->srx, buf, lc->avail);
		if (got != lc->want)
			fail_msg("case %zu: body %u avail %zu: got %d want %d", i, lc->body,
				 lc->avail, got, lc->want);
		free(buf);
	}
	assert_int_equal(pr->srx.n, 0);
}

/* Rekey applied to both sides, to one side only, or to the other side as well afterwards. */
static void test_rekey(void **state)
{
	struct pair *pr = *state;
	uint8_t plain[200], rec[200 + RECORD_OVERHEAD], buf[sizeof(rec)];
	size_t n;

	for (int round = 0; round < 3; round++) {
		fill_pattern(plain, sizeof(plain), (unsigned)round);
		n = seal_copy(&pr->ctx, plain, sizeof(plain), rec);
		expect_open(&pr->srx, rec, n, n, plain, sizeof(plain));
		/* Section 4.2: Rekey changes k but not n. */
		uint64_t before = pr->ctx.n;
		assert_int_equal(noise_cipher_rekey(&pr->ctx), 0);
		assert_int_equal(noise_cipher_rekey(&pr->srx), 0);
		assert_int_equal(pr->ctx.n, before);
		assert_int_equal(pr->srx.n, before);
	}
	fill_pattern(plain, sizeof(plain), 7);
	n = seal_copy(&pr->ctx, plain, sizeof(plain), rec);
	expect_open(&pr->srx, rec, n, n, plain, sizeof(plain));

	/* Sender rekeys, receiver does not: refused, and the receiver stays intact... */
	assert_int_equal(noise_cipher_rekey(&pr->ctx), 0);
	n = seal_copy(&pr->ctx, plain, sizeof(plain), rec);
	memcpy(buf, rec, n);
	assert_int_equal(try_open(&pr->srx, buf, n), RECORD_BAD_AUTH);
	/* ...so catching up with the same rekey makes the very same record open. */
	assert_int_equal(noise_cipher_rekey(&pr->srx), 0);
	memcpy(buf, rec, n);
	expect_open(&pr->srx, buf, n, n, plain, sizeof(plain));

	/* Receiver rekeys alone: the sender's next record under the old key is refused. */
	assert_int_equal(noise_cipher_rekey(&pr->srx), 0);
	n = seal_copy(&pr->ctx, plain, sizeof(plain), rec);
	memcpy(buf, rec, n);
	assert_int_equal(try_open(&pr->srx, buf, n), RECORD_BAD_AUTH);

	/* The other direction is independent of all this. */
	n = seal_copy(&pr->stx, plain, sizeof(plain), rec);
	expect_open(&pr->crx, rec, n, n, plain, sizeof(plain));
}

/* At n = 2^64 - 1 the key is spent: neither side may use it (Noise section 5.1). */
static void test_nonce_exhaustion(void **state)
{
	struct pair *pr = *state;
	uint8_t plain[8] = "last one", rec[8 + RECORD_OVERHEAD];
	pr->ctx.n = UINT64_MAX - 1;
	pr->srx.n = UINT64_MAX - 1;
	size_t n = seal_copy(&pr->ctx, plain, sizeof(plain), rec);
	expect_open(&pr->srx, rec, n, n, plain, sizeof(plain));
	memcpy(rec + RECORD_HDR_LEN, plain, sizeof(plain));
	assert_int_equal(record_seal(&pr->ctx, rec, sizeof(plain)), -1);

	/* A record the receiver might get for nonce 2^64 - 1 is refused, never decrypted. */
	struct noise_cipher forged = {.alg = pr->alg, .aead = pr->ctx.aead, .n = UINT64_MAX - 1};
	n = seal_copy(&forged, plain, sizeof(plain), rec);
	assert_int_equal(try_open(&pr->srx, rec, n), RECORD_BAD_AUTH);
}

#define SUITE_TESTS(alg)                                                                           \
	cmocka_unit_test_prestate_setup_teardown(test_round_trip_sizes, setup_pair, teardown_pair, \
						 (void *)(uintptr_t)(alg)),                        \
	    cmocka_unit_test_prestate_setup_teardown(test_seal_bounds, setup_pair, teardown_pair,  \
						     (void *)(uintptr_t)(alg)),                    \
	    cmocka_unit_test_prestate_setup_teardown(test_stream_in_order, setup_pair,             \
						     teardown_pair, (void *)(uintptr_t)(alg)),     \
	    cmocka_unit_test_prestate_setup_teardown(test_header_bit_flip_alone, setup_pair,       \
						     teardown_pair, (void *)(uintptr_t)(alg)),     \
	    cmocka_unit_test_prestate_setup_teardown(test_header_bit_flip_in_stream, setup_pair,   \
						     teardown_pair, (void *)(uintptr_t)(alg)),     \
	    cmocka_unit_test_prestate_setup_teardown(test_body_bit_flip, setup_pair,               \
						     teardown_pair, (void *)(uintptr_t)(alg)),     \
	    cmocka_unit_test_prestate_setup_teardown(test_order, setup_pair, teardown_pair,        \
						     (void *)(uintptr_t)(alg)),                    \
	    cmocka_unit_test_prestate_setup_teardown(test_reflection, setup_pair, teardown_pair,   \
						     (void *)(uintptr_t)(alg)),                    \
	    cmocka_unit_test_prestate_setup_teardown(test_need_more_prefixes, setup_pair,          \
						     teardown_pair, (void *)(uintptr_t)(alg)),     \
	    cmocka_unit_test_prestate_setup_teardown(test_lengths, setup_pair, teardown_pair,      \
						     (void *)(uintptr_t)(alg)),                    \
	    cmocka_unit_test_prestate_setup_teardown(test_rekey, setup_pair, teardown_pair,        \
						     (void *)(uintptr_t)(alg)),                    \
	    cmocka_unit_test_prestate_setup_teardown(test_nonce_exhaustion, setup_pair,            \
						     teardown_pair, (void *)(uintptr_t)(alg))

int main(void)
{
	const struct CMUnitTest chachapoly[] = {SUITE_TESTS(CRYPTO_CHACHAPOLY)};
	const struct CMUnitTest aesgcm[] = {SUITE_TESTS(CRYPTO_AESGCM)};
	int failed = cmocka_run_group_tests_name("record/ChaChaPoly", chachapoly, NULL, NULL);
	failed += cmocka_run_group_tests_name("record/AESGCM", aesgcm, NULL, NULL);
	return failed;
}
