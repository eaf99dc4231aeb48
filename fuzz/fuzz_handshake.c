/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the handshake reader: the first bytes a listening
 * postern parses come from anyone who can reach its port. Each input is tried
 * as message 1 to an NNpsk0 responder and, after a valid message 1, as
 * message 2 to an initiator, for both ciphers.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     fuzz/fuzz_handshake.c src/crypto/noise.c src/crypto/crypto.c -lcrypto
 * ./a.out -max_total_time=60 fuzz/corpus/handshake
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/noise.h"

static const char *const names[] = {
    "Noise_NNpsk0_25519_ChaChaPoly_SHA256",
    "Noise_NNpsk0_25519_AESGCM_SHA256",
};

/*
 * Fixed keys keep every run deterministic, which libFuzzer needs to minimise
 * crashes; it also lets the seed corpus hold a message 1 that really passes.
 */
static const uint8_t psk[CRYPTO_KEY_LEN] = "postern fuzz psk: 32 bytes long";
static const uint8_t e_ini[CRYPTO_DH_LEN] = "initiator ephemeral, fuzz only.";
static const uint8_t e_resp[CRYPTO_DH_LEN] = "responder ephemeral, fuzz only.";
static const uint8_t prologue[] = "postern fuzz";
static const uint8_t payload1[16] = "postern-fuzz-m1";

static uint8_t msg[NOISE_MAX_MSG];
static uint8_t plain[NOISE_MAX_MSG];

static struct noise_hs *endpoint(const char *name, int initiator)
{
	struct noise_params p = {
	    .protocol_name = name,
	    .initiator = initiator,
	    .prologue = prologue,
	    .prologue_len = sizeof(prologue),
	    .psk = psk,
	    .e_fixed = initiator ? e_ini : e_resp,
	};

	return noise_hs_new(&p);
}

/* A bug in the harness itself, not a finding: stop loudly. */
static void require(int cond)
{
	if (!cond)
		abort();
}

/* Both sides finished: their transport keys must pair up in both directions. */
static void check_transport(struct noise_hs *ini, struct noise_hs *resp)
{
	struct noise_cipher is, ir, rs, rr;
	uint8_t rec[32] = "transport record";

	require(noise_hs_split(ini, &is, &ir) == 0 && noise_hs_split(resp, &rs, &rr) == 0);
	require(noise_cipher_encrypt(&is, NULL, 0, rec, 16) == 0);
	require(noise_cipher_decrypt(&rr, NULL, 0, rec, 32) == 0);
	require(noise_cipher_encrypt(&rs, NULL, 0, rec, 16) == 0);
	require(noise_cipher_decrypt(&ir, NULL, 0, rec, 32) == 0);
	require(memcmp(rec, "transport record", 16) == 0);
	noise_cipher_clear(&is);
	noise_cipher_clear(&ir);
	noise_cipher_clear(&rs);
	noise_cipher_clear(&rr);
}

/*
 * Untrusted bytes as message 1. They pass only if they are exactly the fixed
 * initiator's message 1 (the seed corpus has it); then the handshake is
 * finished with that initiator so the rest of the state machine runs too.
 */
static void as_message1(const char *name, const uint8_t *data, size_t size)
{
	struct noise_hs *resp = endpoint(name, 0), *ini = NULL;
	long n;

	require(resp != NULL);
	if (noise_hs_read(resp, data, size, plain, sizeof(plain)) < 0)
		goto out;
	ini = endpoint(name, 1);
	require(ini != NULL);
	n = noise_hs_write(ini, payload1, sizeof(payload1), msg, sizeof(msg));
	require(n == (long)size && memcmp(msg, data, size) == 0);
	n = noise_hs_write(resp, plain, 0, msg, sizeof(msg));
	require(n > 0 && noise_hs_read(ini, msg, (size_t)n, plain, sizeof(plain)) == 0);
	check_transport(ini, resp);
out:
	noise_hs_free(resp);
	noise_hs_free(ini);
}

/*
 * Untrusted bytes as message 2, after a genuine message 1. Only the fixed
 * responder can produce bytes that pass, so an accepted message must be
 * exactly what that responder writes for the same payload.
 */
static void as_message2(const char *name, const uint8_t *data, size_t size)
{
	struct noise_hs *ini = endpoint(name, 1), *resp = NULL;
	uint8_t p1[sizeof(payload1)];
	long n, plen;

	require(ini != NULL);
	n = noise_hs_write(ini, payload1, sizeof(payload1), msg, sizeof(msg));
	require(n == 64);
	plen = noise_hs_read(ini, data, size, plain, sizeof(plain));
	if (plen < 0) {
		require(!noise_hs_done(ini));
		goto out;
	}
	resp = endpoint(name, 0);
	require(resp != NULL && noise_hs_read(resp, msg, (size_t)n, p1, sizeof(p1)) == 16);
	n = noise_hs_write(resp, plain, (size_t)plen, msg, sizeof(msg));
	require(n == (long)size && memcmp(msg, data, size) == 0);
	check_transport(ini, resp);
out:
	noise_hs_free(ini);
	noise_hs_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		as_message1(names[i], data, size);
		as_message2(names[i], data, size);
	}
	return 0;
}
