/* SPDX-License-Identifier: MIT */
/*
 * handshake: postern's NNpsk0 exchange as the server judges it. The server
 * must answer only a fresh, unseen message 1 made with one of its keys, and
 * say which key; everything else gets a specific verdict and leaves no trace
 * in the replay cache. The client must accept only the reply of the server
 * session that answered its own message 1.
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
#include "tunnel/handshake.h"
#include "util/wire.h"

#define T0	 1700000000000ull /* an arbitrary "now" in Unix ms */
#define WINDOW_S 120
#define W	 (WINDOW_S * 1000ll)

static const uint8_t key_a[CRYPTO_KEY_LEN] = "handshake test key A, 32 bytes.";
static const uint8_t key_b[CRYPTO_KEY_LEN] = "handshake test key B, 32 bytes.";
static const uint8_t key_c[CRYPTO_KEY_LEN] = "handshake test key C, 32 bytes.";
static const uint8_t key_x[CRYPTO_KEY_LEN] = "a key the server does not hold.";

static const enum crypto_aead_alg suites[] = {CRYPTO_CHACHAPOLY, CRYPTO_AESGCM};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))

/* One server: its keys and its replay cache. */
struct server {
	const uint8_t *psks[3];
	size_t npsk;
	struct replay *rp;
};

static struct server server_new(size_t capacity)
{
	struct server sv = {.psks = {key_a, key_b, key_c}, .npsk = 3};
	sv.rp = replay_new(WINDOW_S, capacity);
	assert_non_null(sv.rp);
	return sv;
}

/* The transport of one finished handshake, both ends. */
struct session_keys {
	struct noise_cipher ctx, crx, stx, srx;
};

static void keys_clear(struct session_keys *k)
{
	noise_cipher_clear(&k->ctx);
	noise_cipher_clear(&k->crx);
	noise_cipher_clear(&k->stx);
	noise_cipher_clear(&k->srx);
}

static enum handshake_verdict serve(struct server *sv, uint64_t now,
				    const uint8_t msg1[HANDSHAKE_MSG_LEN],
				    uint8_t msg2[HANDSHAKE_MSG_LEN], struct session_keys *k,
				    size_t *which)
{
	return handshake_server(sv->psks, sv->npsk, sv->rp, now, msg1, msg2, &k->stx, &k->srx,
				which);
}

/* send_one: a record from ${tx} must arrive intact at ${rx}. */
static void send_one(struct noise_cipher *tx, struct noise_cipher *rx, const char *text)
{
	size_t plen = strlen(text);
	uint8_t rec[128], *plain;
	size_t olen, used;
	assert_true(plen + RECORD_OVERHEAD <= sizeof(rec));
	memcpy(rec + RECORD_HDR_LEN, text, plen);
	ssize_t n = record_seal(tx, rec, plen);
	assert_int_equal(n, (ssize_t)(plen + RECORD_OVERHEAD));
	assert_int_equal(record_open(rx, rec, (size_t)n, &plain, &olen, &used), RECORD_OK);
	assert_int_equal(olen, plen);
	assert_memory_equal(plain, text, plen);
}

/* Full handshake with every suite; both directions must work, repeatedly. */
static void test_suites_interoperate(void **state)
{
	(void)state;
	for (size_t s = 0; s < NSUITES; s++) {
		struct server sv = server_new(16);
		struct session_keys k = {0};
		uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		size_t which = 99;
		struct noise_hs *hs = handshake_client_begin(key_a, suites[s], T0, msg1);
		assert_non_null(hs);
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_OK);
		assert_int_equal(which, 0);
		assert_int_equal(handshake_client_finish(hs, msg2, &k.ctx, &k.crx), 0);
		/* The server found the suite by trial; all four ciphers must agree on it. */
		assert_int_equal(k.ctx.alg, suites[s]);
		assert_int_equal(k.crx.alg, suites[s]);
		assert_int_equal(k.stx.alg, suites[s]);
		assert_int_equal(k.srx.alg, suites[s]);
		for (int i = 0; i < 5; i++) {
			send_one(&k.ctx, &k.srx, "client to server");
			send_one(&k.stx, &k.crx, "server to client");
		}
		/* The directions are keyed apart: a record cannot be reflected. */
		uint8_t rec[64], *plain;
		size_t olen, used;
		memcpy(rec + RECORD_HDR_LEN, "reflect me", 10);
		ssize_t n = record_seal(&k.ctx, rec, 10);
		assert_true(n > 0);
		assert_int_equal(record_open(&k.crx, rec, (size_t)n, &plain, &olen, &used),
				 RECORD_BAD_AUTH);
		keys_clear(&k);
		replay_free(sv.rp);
	}
}

/* Two handshakes with the same key still get unrelated transport keys. */
static void test_sessions_independent(void **state)
{
	(void)state;
	struct server sv = server_new(16);
	struct session_keys k1 = {0}, k2 = {0};
	uint8_t m1[HANDSHAKE_MSG_LEN], m2[HANDSHAKE_MSG_LEN];
	size_t which;
	struct noise_hs *hs = handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, T0, m1);
	assert_non_null(hs);
	assert_int_equal(serve(&sv, T0, m1, m2, &k1, &which), HANDSHAKE_OK);
	assert_int_equal(handshake_client_finish(hs, m2, &k1.ctx, &k1.crx), 0);
	hs = handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, T0, m1);
	assert_non_null(hs);
	assert_int_equal(serve(&sv, T0, m1, m2, &k2, &which), HANDSHAKE_OK);
	assert_int_equal(handshake_client_finish(hs, m2, &k2.ctx, &k2.crx), 0);

	uint8_t rec[64], *plain;
	size_t olen, used;
	memcpy(rec + RECORD_HDR_LEN, "session one", 11);
	ssize_t n = record_seal(&k1.ctx, rec, 11);
	assert_true(n > 0);
	assert_int_equal(record_open(&k2.srx, rec, (size_t)n, &plain, &olen, &used),
			 RECORD_BAD_AUTH);
	keys_clear(&k1);
	keys_clear(&k2);
	replay_free(sv.rp);
}

/* The server reports which of its keys the client used, for every key and suite. */
static void test_key_index(void **state)
{
	(void)state;
	static const uint8_t *const client_keys[] = {key_a, key_b, key_c};
	struct server sv = server_new(64);
	for (size_t s = 0; s < NSUITES; s++) {
		for (size_t i = 0; i < 3; i++) {
			struct session_keys k = {0};
			uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
			size_t which = 99;
			struct noise_hs *hs =
			    handshake_client_begin(client_keys[i], suites[s], T0, msg1);
			assert_non_null(hs);
			assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_OK);
			assert_int_equal(which, i);
			assert_int_equal(handshake_client_finish(hs, msg2, &k.ctx, &k.crx), 0);
			send_one(&k.ctx, &k.srx, "which key");
			send_one(&k.stx, &k.crx, "that key");
			keys_clear(&k);
		}
	}
	replay_free(sv.rp);
}

/*
 * Message 1 made with a key the server lacks: refused without a reply, and
 * without touching the cache (an unauthenticated peer must not fill it).
 */
static void test_wrong_key(void **state)
{
	(void)state;
	struct server sv = server_new(16);
	for (size_t s = 0; s < NSUITES; s++) {
		struct session_keys k = {0};
		uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN] = {0};
		size_t which;
		struct noise_hs *hs = handshake_client_begin(key_x, suites[s], T0, msg1);
		assert_non_null(hs);
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_NO_KEY);
		assert_null(k.stx.aead);
		assert_null(k.srx.aead);
		/* A server with no keys at all matches nothing either. */
		assert_int_equal(
		    handshake_server(sv.psks, 0, sv.rp, T0, msg1, msg2, &k.stx, &k.srx, &which),
		    HANDSHAKE_NO_KEY);
		assert_int_equal(replay_count(sv.rp), 0);
		noise_hs_free(hs);
	}
	replay_free(sv.rp);
}

static void test_replay(void **state)
{
	(void)state;
	struct server sv = server_new(16);
	for (size_t s = 0; s < NSUITES; s++) {
		struct session_keys k = {0}, k2 = {0};
		uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		size_t which;
		struct noise_hs *hs = handshake_client_begin(key_b, suites[s], T0, msg1);
		assert_non_null(hs);
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_OK);
		size_t cached = replay_count(sv.rp);
		/* At once, and later while the timestamp is still acceptable. */
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k2, &which), HANDSHAKE_REPLAY);
		assert_int_equal(serve(&sv, T0 + W, msg1, msg2, &k2, &which), HANDSHAKE_REPLAY);
		assert_null(k2.stx.aead);
		assert_int_equal(replay_count(sv.rp), cached);
		/* Once the window has passed the copy is stale instead. */
		assert_int_equal(serve(&sv, T0 + W + 1, msg1, msg2, &k2, &which), HANDSHAKE_STALE);
		noise_hs_free(hs);
		keys_clear(&k);
	}
	replay_free(sv.rp);
}

struct clock_case {
	int64_t client_off; /* client clock relative to the server's */
	enum handshake_verdict want;
};

/* +-120 s is the window; its edges are inside it. */
static const struct clock_case clock_cases[] = {
    {0, HANDSHAKE_OK},	       {-W, HANDSHAKE_OK},
    {W, HANDSHAKE_OK},	       {-W - 1, HANDSHAKE_STALE},
    {W + 1, HANDSHAKE_STALE},  {-10 * W, HANDSHAKE_STALE},
    {10 * W, HANDSHAKE_STALE}, {-(int64_t)T0, HANDSHAKE_STALE}, /* a client clock at the epoch */
};

static void test_clock_window(void **state)
{
	(void)state;
	for (size_t s = 0; s < NSUITES; s++) {
		for (size_t i = 0; i < sizeof(clock_cases) / sizeof(clock_cases[0]); i++) {
			const struct clock_case *cc = &clock_cases[i];
			struct server sv = server_new(16);
			struct session_keys k = {0};
			uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
			size_t which;
			struct noise_hs *hs = handshake_client_begin(
			    key_c, suites[s], (uint64_t)((int64_t)T0 + cc->client_off), msg1);
			assert_non_null(hs);
			enum handshake_verdict v = serve(&sv, T0, msg1, msg2, &k, &which);
			if (v != cc->want)
				fail_msg("suite %zu offset %lld: got %s", s,
					 (long long)cc->client_off, handshake_verdict_text(v));
			if (v == HANDSHAKE_OK) {
				assert_int_equal(handshake_client_finish(hs, msg2, &k.ctx, &k.crx),
						 0);
				send_one(&k.ctx, &k.srx, "in time");
			} else {
				/* Stale messages are not remembered... */
				assert_int_equal(replay_count(sv.rp), 0);
				noise_hs_free(hs);
			}
			keys_clear(&k);
			replay_free(sv.rp);
		}
	}
}

/* ...so one from slightly ahead is refused now and accepted once the server's clock catches up. */
static void test_stale_not_cached(void **state)
{
	(void)state;
	struct server sv = server_new(16);
	struct session_keys k = {0};
	uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
	size_t which;
	struct noise_hs *hs = handshake_client_begin(key_a, CRYPTO_AESGCM, T0 + W + 1000, msg1);
	assert_non_null(hs);
	assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_STALE);
	assert_int_equal(serve(&sv, T0 + 1000, msg1, msg2, &k, &which), HANDSHAKE_OK);
	assert_int_equal(handshake_client_finish(hs, msg2, &k.ctx, &k.crx), 0);
	keys_clear(&k);
	replay_free(sv.rp);
}

/* A full cache refuses rather than forgets; with no cache at all nothing is accepted. */
static void test_busy(void **state)
{
	(void)state;
	struct server sv = server_new(2);
	for (int i = 0; i < 3; i++) {
		struct session_keys k = {0};
		uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		size_t which;
		struct noise_hs *hs = handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, T0, msg1);
		assert_non_null(hs);
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which),
				 i < 2 ? HANDSHAKE_OK : HANDSHAKE_BUSY);
		noise_hs_free(hs);
		keys_clear(&k);
	}
	/* A fresh message, no cache: refused. */
	struct session_keys k = {0};
	uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
	size_t which;
	struct noise_hs *hs = handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, T0, msg1);
	assert_non_null(hs);
	assert_int_equal(
	    handshake_server(sv.psks, sv.npsk, NULL, T0, msg1, msg2, &k.stx, &k.srx, &which),
	    HANDSHAKE_BUSY);
	noise_hs_free(hs);
	replay_free(sv.rp);
}

/*
 * Every single-bit corruption of message 1 must fail authentication: psk0
 * mixes the key into e, so the ephemeral is covered as well as the payload.
 * Anything but NO_KEY would mean an unauthenticated message reached the
 * clock or the cache.
 */
static void test_msg1_bit_flips(void **state)
{
	(void)state;
	for (size_t s = 0; s < NSUITES; s++) {
		struct server sv = server_new(16);
		struct session_keys k = {0};
		uint8_t msg1[HANDSHAKE_MSG_LEN], bad[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		size_t which;
		struct noise_hs *hs = handshake_client_begin(key_b, suites[s], T0, msg1);
		assert_non_null(hs);
		for (size_t bit = 0; bit < 8 * HANDSHAKE_MSG_LEN; bit++) {
			memcpy(bad, msg1, sizeof(bad));
			bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			enum handshake_verdict v = serve(&sv, T0, bad, msg2, &k, &which);
			assert_int_not_equal(v, HANDSHAKE_OK);
			if (v != HANDSHAKE_NO_KEY)
				fail_msg("bit %zu: %s", bit, handshake_verdict_text(v));
		}
		assert_int_equal(replay_count(sv.rp), 0);
		assert_null(k.stx.aead);
		/* The untouched original is still fresh. */
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_OK);
		assert_int_equal(which, 1);
		assert_int_equal(handshake_client_finish(hs, msg2, &k.ctx, &k.crx), 0);
		keys_clear(&k);
		replay_free(sv.rp);
	}
}

/*
 * The client accepts no corrupted reply. Each attempt needs its own client,
 * since client_finish consumes the state, so each gets a fresh handshake.
 */
static void test_msg2_bit_flips(void **state)
{
	(void)state;
	struct server sv = server_new(4096);
	for (size_t s = 0; s < NSUITES; s++) {
		for (size_t bit = 0; bit < 8 * HANDSHAKE_MSG_LEN; bit++) {
			struct session_keys k = {0};
			uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
			size_t which;
			struct noise_hs *hs = handshake_client_begin(key_a, suites[s], T0, msg1);
			assert_non_null(hs);
			assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_OK);
			msg2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (handshake_client_finish(hs, msg2, &k.ctx, &k.crx) != -1)
				fail_msg("suite %zu: msg2 with bit %zu flipped accepted", s, bit);
			/* A refused reply hands out no keys. */
			assert_null(k.ctx.aead);
			assert_null(k.crx.aead);
			keys_clear(&k);
		}
	}
	replay_free(sv.rp);
}

/* A genuine reply, but to someone else's message 1, or under the other suite. */
static void test_msg2_foreign(void **state)
{
	(void)state;
	struct server sv = server_new(16);
	struct session_keys ka = {0}, kb = {0}, kc = {0};
	uint8_t m1a[HANDSHAKE_MSG_LEN], m2a[HANDSHAKE_MSG_LEN];
	uint8_t m1b[HANDSHAKE_MSG_LEN], m2b[HANDSHAKE_MSG_LEN];
	uint8_t m1c[HANDSHAKE_MSG_LEN], m2c[HANDSHAKE_MSG_LEN];
	size_t which;
	struct noise_hs *a = handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, T0, m1a);
	struct noise_hs *b = handshake_client_begin(key_a, CRYPTO_CHACHAPOLY, T0, m1b);
	struct noise_hs *c = handshake_client_begin(key_a, CRYPTO_AESGCM, T0, m1c);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(serve(&sv, T0, m1a, m2a, &ka, &which), HANDSHAKE_OK);
	assert_int_equal(serve(&sv, T0, m1b, m2b, &kb, &which), HANDSHAKE_OK);
	assert_int_equal(serve(&sv, T0, m1c, m2c, &kc, &which), HANDSHAKE_OK);
	/* a gets b's reply, b gets c's (other suite), c gets a's. */
	assert_int_equal(handshake_client_finish(a, m2b, &ka.ctx, &ka.crx), -1);
	assert_int_equal(handshake_client_finish(b, m2c, &kb.ctx, &kb.crx), -1);
	assert_int_equal(handshake_client_finish(c, m2a, &kc.ctx, &kc.crx), -1);
	assert_null(ka.ctx.aead);
	assert_null(kb.ctx.aead);
	assert_null(kc.ctx.aead);
	keys_clear(&ka);
	keys_clear(&kb);
	keys_clear(&kc);
	replay_free(sv.rp);
}

/* A hand-made NNpsk0 endpoint, to produce messages handshake_client_begin never would. */
static struct noise_hs *raw_endpoint(const uint8_t *psk, enum crypto_aead_alg alg, int initiator)
{
	struct noise_params p = {
	    .protocol_name = handshake_protocol_name(alg),
	    .initiator = initiator,
	    .prologue = (const uint8_t *)HANDSHAKE_PROLOGUE,
	    .prologue_len = sizeof(HANDSHAKE_PROLOGUE) - 1,
	    .psk = psk,
	};
	struct noise_hs *hs = noise_hs_new(&p);
	assert_non_null(hs);
	return hs;
}

/* An authentic message 1 that speaks another protocol version. */
static void test_version(void **state)
{
	(void)state;
	static const uint8_t versions[] = {0, 2, 255};
	struct server sv = server_new(16);
	for (size_t i = 0; i < sizeof(versions); i++) {
		struct session_keys k = {0};
		uint8_t payload[HANDSHAKE_PAYLOAD_LEN] = {0};
		uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		size_t which;
		store64_be(payload, T0);
		payload[8] = versions[i];
		struct noise_hs *hs = raw_endpoint(key_a, CRYPTO_CHACHAPOLY, 1);
		assert_int_equal(noise_hs_write(hs, payload, sizeof(payload), msg1, sizeof(msg1)),
				 HANDSHAKE_MSG_LEN);
		assert_int_equal(serve(&sv, T0, msg1, msg2, &k, &which), HANDSHAKE_VERSION_BAD);
		assert_null(k.stx.aead);
		noise_hs_free(hs);
	}
	assert_int_equal(replay_count(sv.rp), 0);
	replay_free(sv.rp);
}

/* The client checks the version in the server's reply, too. */
static void test_reply_version(void **state)
{
	(void)state;
	static const uint8_t versions[] = {0, 2, 255, HANDSHAKE_VERSION};
	for (size_t i = 0; i < sizeof(versions); i++) {
		struct session_keys k = {0};
		uint8_t payload[HANDSHAKE_PAYLOAD_LEN];
		uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		struct noise_hs *cl = handshake_client_begin(key_a, CRYPTO_AESGCM, T0, msg1);
		assert_non_null(cl);
		struct noise_hs *sv = raw_endpoint(key_a, CRYPTO_AESGCM, 0);
		assert_int_equal(noise_hs_read(sv, msg1, sizeof(msg1), payload, sizeof(payload)),
				 HANDSHAKE_PAYLOAD_LEN);
		memset(payload, 0, sizeof(payload));
		payload[0] = versions[i];
		assert_int_equal(noise_hs_write(sv, payload, sizeof(payload), msg2, sizeof(msg2)),
				 HANDSHAKE_MSG_LEN);
		int want = versions[i] == HANDSHAKE_VERSION ? 0 : -1;
		assert_int_equal(handshake_client_finish(cl, msg2, &k.ctx, &k.crx), want);
		if (want == 0) {
			assert_int_equal(noise_hs_split(sv, &k.stx, &k.srx), 0);
			send_one(&k.ctx, &k.srx, "hand-made server");
		}
		noise_hs_free(sv);
		keys_clear(&k);
	}
}

struct text_case {
	enum handshake_verdict v;
	const char *text;
};

/* Operators grep logs for these, so they are part of the interface. */
static const struct text_case text_cases[] = {
    {HANDSHAKE_OK, "ok"},
    {HANDSHAKE_NO_KEY, "no key matched"},
    {HANDSHAKE_VERSION_BAD, "unsupported protocol version"},
    {HANDSHAKE_STALE, "timestamp outside window"},
    {HANDSHAKE_REPLAY, "replayed first message"},
    {HANDSHAKE_BUSY, "replay cache full"},
    {HANDSHAKE_QUOTA, "replay quota of its key full"},
    {HANDSHAKE_ERROR, "internal error"},
    {(enum handshake_verdict)99, "internal error"},
};

static void test_verdict_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++)
		assert_string_equal(handshake_verdict_text(text_cases[i].v), text_cases[i].text);
}

static void test_protocol_name(void **state)
{
	(void)state;
	assert_string_equal(handshake_protocol_name(CRYPTO_CHACHAPOLY),
			    "Noise_NNpsk0_25519_ChaChaPoly_SHA256");
	assert_string_equal(handshake_protocol_name(CRYPTO_AESGCM),
			    "Noise_NNpsk0_25519_AESGCM_SHA256");
	/* An unknown value falls back to the default suite rather than indexing out of range. */
	assert_string_equal(handshake_protocol_name((enum crypto_aead_alg)7),
			    "Noise_NNpsk0_25519_ChaChaPoly_SHA256");
}

/*
 * One precomputed key set serves many messages: the shared states are not
 * changed by a trial, whichever key and suite authenticate.
 */
static void test_keys_shared(void **state)
{
	(void)state;
	const uint8_t *psks[3] = {key_a, key_b, key_c};
	struct handshake_keys *ks = handshake_keys_new(psks, 3);
	uint8_t msg1[HANDSHAKE_MSG_LEN];
	struct handshake_found f;
	assert_non_null(ks);
	assert_int_equal(handshake_keys_count(ks), 3);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < 3; i++) {
			for (size_t su = 0; su < NSUITES; su++) {
				struct noise_hs *c =
				    handshake_client_begin(psks[i], suites[su], T0, msg1);
				assert_non_null(c);
				assert_int_equal(handshake_find(ks, msg1, &f), 1);
				assert_int_equal(f.which, i);
				assert_int_equal(f.alg, suites[su]);
				assert_memory_equal(f.id, msg1, REPLAY_ID_LEN);
				handshake_found_clear(&f);
				noise_hs_free(c);
			}
		}
	}
	struct noise_hs *c = handshake_client_begin(key_x, CRYPTO_AESGCM, T0, msg1);
	assert_int_equal(handshake_find(ks, msg1, &f), 0);
	assert_null(f.hs);
	handshake_found_clear(&f);
	noise_hs_free(c);
	handshake_keys_free(ks);
	handshake_keys_free(NULL);
}

/* The quota of one key, through the server's two halves. */
static void test_accept_quota(void **state)
{
	(void)state;
	const uint8_t *psks[2] = {key_a, key_b};
	struct handshake_keys *ks = handshake_keys_new(psks, 2);
	struct replay *rp = replay_new(WINDOW_S, 64);
	uint8_t msg1[HANDSHAKE_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
	assert_int_equal(replay_set_quota(rp, 2, 16), 0);
	for (int n = 0; n < 18; n++) {
		const uint8_t *psk = n == 17 ? key_b : key_a;
		struct noise_hs *c = handshake_client_begin(psk, CRYPTO_CHACHAPOLY, T0, msg1);
		struct handshake_found f;
		struct noise_cipher tx = {0}, rx = {0};
		uint64_t ts = 0;
		assert_int_equal(handshake_find(ks, msg1, &f), 1);
		enum handshake_verdict v =
		    handshake_accept(&f, rp, (uint32_t)f.which, T0, msg2, &tx, &rx, &ts);
		assert_int_equal(ts, T0);
		assert_int_equal(v, n < 16 || n == 17 ? HANDSHAKE_OK : HANDSHAKE_QUOTA);
		handshake_found_clear(&f);
		noise_cipher_clear(&tx);
		noise_cipher_clear(&rx);
		noise_hs_free(c);
	}
	replay_free(rp);
	handshake_keys_free(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_suites_interoperate),
	    cmocka_unit_test(test_sessions_independent),
	    cmocka_unit_test(test_key_index),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_clock_window),
	    cmocka_unit_test(test_stale_not_cached),
	    cmocka_unit_test(test_busy),
	    cmocka_unit_test(test_msg1_bit_flips),
	    cmocka_unit_test(test_msg2_bit_flips),
	    cmocka_unit_test(test_msg2_foreign),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_reply_version),
	    cmocka_unit_test(test_verdict_text),
	    cmocka_unit_test(test_protocol_name),
	    cmocka_unit_test(test_keys_shared),
	    cmocka_unit_test(test_accept_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
