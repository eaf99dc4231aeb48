/* SPDX-License-Identifier: MIT */
/*
 * handshake_ik: the public-key first message as the server judges it. A
 * message made for this server by a listed key is found in the table and
 * finishes with working ciphers; a message for another server fails mac1
 * (no DH is spent), an unlisted key or a flipped byte is not found, a PSK
 * message never passes mac1, and a key listed twice is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/replay.h"
#include "tunnel/handshake_ik.h"

#define T0 1700000000000ull

struct pair {
	uint8_t priv[CRYPTO_DH_LEN], pub[CRYPTO_DH_LEN];
};

static struct pair pair_new(void)
{
	struct pair p;
	assert_int_equal(crypto_dh_keygen(p.priv, p.pub), 0);
	return p;
}

enum { NCLIENTS = 1000 };

struct fixture {
	struct pair host, other_host, clients[NCLIENTS], stranger;
	struct handshake_ik *ik;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const uint8_t *pubs[NCLIENTS];
	uint32_t owners[NCLIENTS];
	fx->host = pair_new();
	fx->other_host = pair_new();
	fx->stranger = pair_new();
	for (size_t i = 0; i < NCLIENTS; i++) {
		fx->clients[i] = pair_new();
		pubs[i] = fx->clients[i].pub;
		owners[i] = (uint32_t)(i + 7);
	}
	fx->ik = handshake_ik_new(fx->host.priv, pubs, owners, NCLIENTS, NULL);
	assert_non_null(fx->ik);
	assert_int_equal(handshake_ik_count(fx->ik), NCLIENTS);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	handshake_ik_free(fx->ik);
	free(fx);
	return 0;
}

static void test_listed_key_connects(void **state)
{
	struct fixture *fx = *state;
	for (int alg = 0; alg < 2; alg++) {
		uint8_t msg1[HANDSHAKE_IK_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
		struct noise_cipher ctx = {0}, crx = {0}, stx = {0}, srx = {0};
		struct handshake_found f;
		struct replay *rp = replay_new(120, 64);
		struct noise_hs *c =
		    handshake_ik_client_begin(fx->clients[NCLIENTS - 1].priv, fx->host.pub,
					      (enum crypto_aead_alg)alg, T0, msg1);
		assert_non_null(c);
		assert_int_equal(handshake_ik_mac1(fx->ik, msg1), alg);
		assert_int_equal(handshake_ik_find(fx->ik, msg1, alg, &f), 1);
		assert_int_equal(f.which, NCLIENTS - 1 + 7);
		assert_int_equal(
		    handshake_accept(&f, rp, (uint32_t)f.which, T0, msg2, &stx, &srx, NULL),
		    HANDSHAKE_OK);
		assert_int_equal(handshake_client_finish(c, msg2, &ctx, &crx), 0);
		uint8_t buf[5 + 16] = "hello";
		assert_int_equal(noise_cipher_encrypt(&ctx, NULL, 0, buf, 5), 0);
		assert_int_equal(noise_cipher_decrypt(&srx, NULL, 0, buf, sizeof(buf)), 0);
		assert_memory_equal(buf, "hello", 5);
		/* The same message again is a replay. */
		handshake_found_clear(&f);
		assert_int_equal(handshake_ik_find(fx->ik, msg1, alg, &f), 1);
		assert_int_equal(
		    handshake_accept(&f, rp, (uint32_t)f.which, T0, msg2, &stx, &srx, NULL),
		    HANDSHAKE_REPLAY);
		handshake_found_clear(&f);
		noise_cipher_clear(&ctx);
		noise_cipher_clear(&crx);
		noise_cipher_clear(&stx);
		noise_cipher_clear(&srx);
		replay_free(rp);
	}
}

static void test_refusals(void **state)
{
	struct fixture *fx = *state;
	uint8_t msg1[HANDSHAKE_IK_MSG_LEN];
	struct handshake_found f;
	/* Made for another server: mac1 fails, so no DH is done at all. */
	struct noise_hs *c = handshake_ik_client_begin(fx->clients[0].priv, fx->other_host.pub,
						       CRYPTO_CHACHAPOLY, T0, msg1);
	assert_non_null(c);
	noise_hs_free(c);
	assert_int_equal(handshake_ik_mac1(fx->ik, msg1), -1);
	/* A key the server does not list: mac1 passes, the table says no. */
	c = handshake_ik_client_begin(fx->stranger.priv, fx->host.pub, CRYPTO_CHACHAPOLY, T0, msg1);
	noise_hs_free(c);
	assert_int_equal(handshake_ik_mac1(fx->ik, msg1), CRYPTO_CHACHAPOLY);
	assert_int_equal(handshake_ik_find(fx->ik, msg1, CRYPTO_CHACHAPOLY, &f), 0);
	handshake_found_clear(&f);
	/* A listed key, one byte of the encrypted part flipped. */
	c = handshake_ik_client_begin(fx->clients[3].priv, fx->host.pub, CRYPTO_CHACHAPOLY, T0,
				      msg1);
	noise_hs_free(c);
	msg1[HANDSHAKE_IK_MSG_LEN - 20] ^= 1;
	assert_int_equal(handshake_ik_find(fx->ik, msg1, CRYPTO_CHACHAPOLY, &f), 0);
	handshake_found_clear(&f);
	/* A PSK message never passes mac1. */
	uint8_t psk[CRYPTO_KEY_LEN] = "a pre-shared key of 32 bytes...";
	uint8_t pmsg[HANDSHAKE_MSG_LEN];
	c = handshake_client_begin(psk, CRYPTO_CHACHAPOLY, T0, pmsg);
	noise_hs_free(c);
	assert_int_equal(handshake_ik_mac1(fx->ik, pmsg), -1);
	/* Junk. */
	memset(msg1, 0xa5, sizeof(msg1));
	assert_int_equal(handshake_ik_mac1(fx->ik, msg1), -1);
	assert_int_equal(handshake_ik_find(fx->ik, msg1, CRYPTO_AESGCM, &f), 0);
	handshake_found_clear(&f);
}

static void test_duplicate_refused(void **state)
{
	struct fixture *fx = *state;
	const uint8_t *pubs[3] = {fx->clients[0].pub, fx->clients[1].pub, fx->clients[0].pub};
	uint32_t owners[3] = {0, 1, 2};
	size_t dup = 0;
	assert_null(handshake_ik_new(fx->host.priv, pubs, owners, 3, &dup));
	assert_int_equal(dup, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_listed_key_connects),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_duplicate_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
