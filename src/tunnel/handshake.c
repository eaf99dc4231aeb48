/* SPDX-License-Identifier: MIT */
/*
 * handshake: message 1 and 2 of postern's Noise_NNpsk0 handshake.
 *
 *   -> psk, e, {timestamp, version}
 *   <- e, ee, {version}
 *
 * psk0 makes the first payload authenticated under the PSK, so the server
 * can judge a connection from its first 64 bytes without any DH, and stay
 * silent towards everyone else. ee gives forward secrecy. Replays of
 * message 1 are stopped by the timestamp window plus the replay cache,
 * keyed by the client's ephemeral key.
 */
#include "tunnel/handshake.h"

#include <string.h>

#include "util/wire.h"

static const char *const suite_names[] = {
    [CRYPTO_CHACHAPOLY] = "Noise_NNpsk0_25519_ChaChaPoly_SHA256",
    [CRYPTO_AESGCM] = "Noise_NNpsk0_25519_AESGCM_SHA256",
};

const char *handshake_protocol_name(enum crypto_aead_alg alg)
{
	return alg == CRYPTO_AESGCM ? suite_names[CRYPTO_AESGCM] : suite_names[CRYPTO_CHACHAPOLY];
}

static struct noise_hs *start(const uint8_t *psk, enum crypto_aead_alg alg, int initiator)
{
	struct noise_params p = {
	    .protocol_name = handshake_protocol_name(alg),
	    .initiator = initiator,
	    .prologue = (const uint8_t *)HANDSHAKE_PROLOGUE,
	    .prologue_len = sizeof(HANDSHAKE_PROLOGUE) - 1,
	    .psk = psk,
	};
	return noise_hs_new(&p);
}

struct noise_hs *handshake_client_begin(const uint8_t psk[CRYPTO_KEY_LEN], enum crypto_aead_alg alg,
					uint64_t now_ms, uint8_t msg1[HANDSHAKE_MSG_LEN])
{
	uint8_t payload[HANDSHAKE_PAYLOAD_LEN] = {0};
	struct noise_hs *hs = start(psk, alg, 1);
	if (hs == NULL)
		return NULL;
	store64_be(payload, now_ms);
	payload[8] = HANDSHAKE_VERSION;
	if (noise_hs_write(hs, payload, sizeof(payload), msg1, HANDSHAKE_MSG_LEN) !=
	    HANDSHAKE_MSG_LEN) {
		noise_hs_free(hs);
		return NULL;
	}
	return hs;
}

int handshake_client_finish(struct noise_hs *hs, const uint8_t msg2[HANDSHAKE_MSG_LEN],
			    struct noise_cipher *tx, struct noise_cipher *rx)
{
	uint8_t payload[HANDSHAKE_PAYLOAD_LEN];
	int rc = -1;
	if (noise_hs_read(hs, msg2, HANDSHAKE_MSG_LEN, payload, sizeof(payload)) !=
	    HANDSHAKE_PAYLOAD_LEN)
		goto out;
	if (payload[0] != HANDSHAKE_VERSION || !noise_hs_done(hs))
		goto out;
	rc = noise_hs_split(hs, tx, rx);
out:
	noise_hs_free(hs);
	return rc;
}

/* try_keys: find the (key, suite) that authenticates msg1; leaves *hs live on success. */
static int try_keys(const uint8_t *const *psks, size_t npsk, const uint8_t *msg1,
		    uint8_t payload[HANDSHAKE_PAYLOAD_LEN], struct noise_hs **hs, size_t *which)
{
	for (size_t i = 0; i < npsk; i++) {
		for (int alg = CRYPTO_CHACHAPOLY; alg <= CRYPTO_AESGCM; alg++) {
			struct noise_hs *h = start(psks[i], (enum crypto_aead_alg)alg, 0);
			if (h == NULL)
				return -1;
			if (noise_hs_read(h, msg1, HANDSHAKE_MSG_LEN, payload,
					  HANDSHAKE_PAYLOAD_LEN) == HANDSHAKE_PAYLOAD_LEN) {
				*hs = h;
				*which = i;
				return 1;
			}
			noise_hs_free(h);
		}
	}
	return 0;
}

enum handshake_verdict handshake_server(const uint8_t *const *psks, size_t npsk, struct replay *rp,
					uint64_t now_ms, const uint8_t msg1[HANDSHAKE_MSG_LEN],
					uint8_t msg2[HANDSHAKE_MSG_LEN], struct noise_cipher *tx,
					struct noise_cipher *rx, size_t *which)
{
	uint8_t payload[HANDSHAKE_PAYLOAD_LEN];
	uint8_t reply[HANDSHAKE_PAYLOAD_LEN] = {HANDSHAKE_VERSION};
	struct noise_hs *hs = NULL;
	enum handshake_verdict v = HANDSHAKE_ERROR;
	int found = try_keys(psks, npsk, msg1, payload, &hs, which);
	if (found <= 0) {
		v = found == 0 ? HANDSHAKE_NO_KEY : HANDSHAKE_ERROR;
		goto out;
	}
	if (payload[8] != HANDSHAKE_VERSION) {
		v = HANDSHAKE_VERSION_BAD;
		goto out;
	}
	/* Only now, with the message authenticated, may it touch the cache:
	 * forged messages cannot fill it. */
	switch (replay_check(rp, msg1, load64_be(payload), now_ms)) {
	case REPLAY_OK:
		break;
	case REPLAY_STALE:
		v = HANDSHAKE_STALE;
		goto out;
	case REPLAY_SEEN:
		v = HANDSHAKE_REPLAY;
		goto out;
	case REPLAY_FULL:
		v = HANDSHAKE_BUSY;
		goto out;
	}
	if (noise_hs_write(hs, reply, sizeof(reply), msg2, HANDSHAKE_MSG_LEN) !=
		HANDSHAKE_MSG_LEN ||
	    !noise_hs_done(hs) || noise_hs_split(hs, tx, rx) != 0)
		goto out;
	v = HANDSHAKE_OK;
out:
	noise_hs_free(hs);
	crypto_wipe(payload, sizeof(payload));
	return v;
}

const char *handshake_verdict_text(enum handshake_verdict v)
{
	switch (v) {
	case HANDSHAKE_OK:
		return "ok";
	case HANDSHAKE_NO_KEY:
		return "no key matched";
	case HANDSHAKE_VERSION_BAD:
		return "unsupported protocol version";
	case HANDSHAKE_STALE:
		return "timestamp outside window";
	case HANDSHAKE_REPLAY:
		return "replayed first message";
	case HANDSHAKE_BUSY:
		return "replay cache full";
	case HANDSHAKE_ERROR:
		break;
	}
	return "internal error";
}
