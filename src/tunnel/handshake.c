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

#include <stdlib.h>
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

/*
 * One responder state per key and suite, advanced past the psk token: the
 * protocol name hash, the prologue and the psk's MixKeyAndHash depend on
 * the key but on no message, so a trial only has to mix e and open 32 bytes.
 */
struct handshake_keys {
	size_t npsk;
	struct noise_hs **base; /* [suite * npsk + key] */
};

enum { NSUITES = 2 };

void handshake_keys_free(struct handshake_keys *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; k->base != NULL && i < NSUITES * k->npsk; i++)
		noise_hs_free(k->base[i]);
	free(k->base);
	free(k);
}

struct handshake_keys *handshake_keys_new(const uint8_t *const *psks, size_t npsk)
{
	struct handshake_keys *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->npsk = npsk;
	k->base = calloc(NSUITES * npsk + 1, sizeof(*k->base));
	if (k->base == NULL)
		goto fail;
	for (int alg = 0; alg < NSUITES; alg++) {
		for (size_t i = 0; i < npsk; i++) {
			struct noise_hs *h = start(psks[i], (enum crypto_aead_alg)alg, 0);
			k->base[(size_t)alg * npsk + i] = h;
			if (h == NULL || noise_hs_premix(h) != 0)
				goto fail;
		}
	}
	return k;
fail:
	handshake_keys_free(k);
	return NULL;
}

size_t handshake_keys_count(const struct handshake_keys *k)
{
	return k == NULL ? 0 : k->npsk;
}

void handshake_found_clear(struct handshake_found *f)
{
	if (f == NULL)
		return;
	noise_hs_free(f->hs);
	crypto_wipe(f, sizeof(*f));
}

int handshake_find(const struct handshake_keys *k, const uint8_t msg1[HANDSHAKE_MSG_LEN],
		   struct handshake_found *f)
{
	struct noise_hs *h = NULL;
	int rc = -1;
	memset(f, 0, sizeof(*f));
	if (k == NULL || msg1 == NULL)
		return -1;
	/* A hit ends the search: the time that takes tells only a sender who
	 * already holds a key where that key sits in the list. */
	for (int alg = 0; alg < NSUITES; alg++) {
		for (size_t i = 0; i < k->npsk; i++) {
			const struct noise_hs *base = k->base[(size_t)alg * k->npsk + i];
			if (h == NULL)
				h = noise_hs_clone(base);
			else if (noise_hs_restore(h, base) != 0)
				goto out;
			if (h == NULL)
				goto out;
			if (noise_hs_read(h, msg1, HANDSHAKE_MSG_LEN, f->payload,
					  HANDSHAKE_PAYLOAD_LEN) == HANDSHAKE_PAYLOAD_LEN) {
				f->hs = h;
				h = NULL;
				f->which = i;
				f->alg = (enum crypto_aead_alg)alg;
				/* The fingerprint is e, the first 32 bytes (public). */
				memcpy(f->id, msg1, REPLAY_ID_LEN);
				rc = 1;
				goto out;
			}
		}
	}
	rc = 0;
out:
	noise_hs_free(h);
	if (rc != 1)
		crypto_wipe(f->payload, sizeof(f->payload));
	return rc;
}

enum handshake_verdict handshake_accept(struct handshake_found *f, struct replay *rp,
					uint32_t owner, uint64_t now_ms,
					uint8_t msg2[HANDSHAKE_MSG_LEN], struct noise_cipher *tx,
					struct noise_cipher *rx, uint64_t *ts_ms)
{
	uint8_t reply[HANDSHAKE_PAYLOAD_LEN] = {HANDSHAKE_VERSION};
	enum handshake_verdict v = HANDSHAKE_ERROR;
	if (f == NULL || f->hs == NULL)
		goto out;
	if (ts_ms != NULL)
		*ts_ms = load64_be(f->payload);
	if (f->payload[8] != HANDSHAKE_VERSION) {
		v = HANDSHAKE_VERSION_BAD;
		goto out;
	}
	/* Only now, with the message authenticated, may it touch the cache:
	 * forged messages cannot fill it. */
	switch (replay_check_as(rp, f->id, load64_be(f->payload), now_ms, owner)) {
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
	case REPLAY_QUOTA:
		v = HANDSHAKE_QUOTA;
		goto out;
	}
	if (noise_hs_write(f->hs, reply, sizeof(reply), msg2, HANDSHAKE_MSG_LEN) !=
		HANDSHAKE_MSG_LEN ||
	    !noise_hs_done(f->hs) || noise_hs_split(f->hs, tx, rx) != 0)
		goto out;
	v = HANDSHAKE_OK;
out:
	return v;
}

enum handshake_verdict handshake_server(const uint8_t *const *psks, size_t npsk, struct replay *rp,
					uint64_t now_ms, const uint8_t msg1[HANDSHAKE_MSG_LEN],
					uint8_t msg2[HANDSHAKE_MSG_LEN], struct noise_cipher *tx,
					struct noise_cipher *rx, size_t *which)
{
	struct handshake_found f;
	enum handshake_verdict v = HANDSHAKE_ERROR;
	struct handshake_keys *k = handshake_keys_new(psks, npsk);
	int found = handshake_find(k, msg1, &f);
	if (found <= 0) {
		v = found == 0 ? HANDSHAKE_NO_KEY : HANDSHAKE_ERROR;
		goto out;
	}
	*which = f.which;
	v = handshake_accept(&f, rp, (uint32_t)f.which, now_ms, msg2, tx, rx, NULL);
out:
	handshake_found_clear(&f);
	handshake_keys_free(k);
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
	case HANDSHAKE_QUOTA:
		return "replay quota of its key full";
	case HANDSHAKE_ERROR:
		break;
	}
	return "internal error";
}
