/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the public-key first message (tunnel/handshake_ik.c):
 * the mac1 check every stranger's bytes reach, then the IK read and the
 * identity table lookup that a valid mac1 unlocks. Input byte 0 picks:
 *
 *   even: the rest (padded to 128 bytes) is a raw message 1
 *   odd:  byte 1 picks a client key (3 = one the server does not list) and
 *         a suite, byte 2 an ephemeral key; a valid message is built with
 *         a fixed e and the remaining bytes are XORed over it, so the
 *         fuzzer reaches the DH and the lookup with near-valid messages
 *
 * Invariants: an unaltered valid message from a listed key is found with
 * the right owner; a found message always names a listed owner.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/handshake_ik.h"
#include "util/wire.h"

enum { NKEYS = 3 };

static const uint8_t host[CRYPTO_DH_LEN] = "fuzz host key, 32 bytes long...";
static const uint8_t clients[NKEYS + 1][CRYPTO_DH_LEN] = {
    "fuzz client zero, 32 bytes.....",
    "fuzz client one, 32 bytes......",
    "fuzz client two, 32 bytes......",
    "a client the server never lists",
};
static uint8_t host_pub[CRYPTO_DH_LEN];
static struct handshake_ik *ik;

static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t pubs[NKEYS][CRYPTO_DH_LEN];
	const uint8_t *pp[NKEYS];
	uint32_t owners[NKEYS] = {10, 20, 30};
	(void)argc;
	(void)argv;
	require(crypto_dh_pub(host, host_pub) == 0);
	for (int i = 0; i < NKEYS; i++) {
		require(crypto_dh_pub(clients[i], pubs[i]) == 0);
		pp[i] = pubs[i];
	}
	ik = handshake_ik_new(host, pp, owners, NKEYS, NULL);
	require(ik != NULL);
	return 0;
}

static int build(unsigned k, int alg, uint8_t e, uint8_t out[HANDSHAKE_IK_MSG_LEN])
{
	uint8_t e_fixed[CRYPTO_DH_LEN], payload[HANDSHAKE_PAYLOAD_LEN] = {0};
	uint8_t nm[HANDSHAKE_IK_NOISE_LEN];
	memset(e_fixed, 0x41, sizeof(e_fixed));
	e_fixed[0] = e;
	struct noise_params p = {
	    .protocol_name = handshake_ik_protocol_name((enum crypto_aead_alg)alg),
	    .initiator = 1,
	    .prologue = (const uint8_t *)HANDSHAKE_PROLOGUE,
	    .prologue_len = sizeof(HANDSHAKE_PROLOGUE) - 1,
	    .s = clients[k],
	    .rs = host_pub,
	    .e_fixed = e_fixed,
	};
	struct noise_hs *hs = noise_hs_new(&p);
	store64_be(payload, 1700000000000ull);
	payload[8] = HANDSHAKE_VERSION;
	long n = hs == NULL ? -1 : noise_hs_write(hs, payload, sizeof(payload), nm, sizeof(nm));
	noise_hs_free(hs);
	return n == (long)sizeof(nm) ? handshake_ik_wire(host_pub, alg, nm, out) : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t msg[HANDSHAKE_IK_MSG_LEN] = {0};
	struct handshake_found f;
	int expect_owner = -1;
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0 || size < 3) {
		memcpy(msg, data + 1, size - 1 < sizeof(msg) ? size - 1 : sizeof(msg));
	} else {
		unsigned k = data[1] % (NKEYS + 1);
		int alg = (data[1] >> 4) & 1;
		require(build(k, alg, data[2], msg) == 0);
		int altered = 0;
		for (size_t i = 3; i < size && i - 3 < sizeof(msg); i++) {
			msg[i - 3] ^= data[i];
			altered |= data[i];
		}
		if (!altered && k < NKEYS)
			expect_owner = (int)(k + 1) * 10;
		if (!altered)
			require(handshake_ik_mac1(ik, msg) == alg);
	}
	int alg = handshake_ik_mac1(ik, msg);
	if (alg < 0) {
		require(expect_owner < 0);
		return 0;
	}
	int found = handshake_ik_find(ik, msg, alg, &f);
	require(found >= 0);
	if (found == 1)
		require(f.which == 10 || f.which == 20 || f.which == 30);
	if (expect_owner >= 0)
		require(found == 1 && (int)f.which == expect_owner);
	handshake_found_clear(&f);
	return 0;
}
