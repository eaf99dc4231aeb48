/* SPDX-License-Identifier: MIT */
/*
 * handshake: postern's use of Noise_NNpsk0 (docs/PROTOCOL.md, 3). The client
 * proves the PSK in its very first message; the server tries each of its
 * keys (and both cipher suites) on that message and answers only when one
 * fits, the timestamp is fresh and the message has not been seen before.
 * Pure: the caller supplies the clock and does the I/O.
 */
#ifndef POSTERN_HANDSHAKE_H
#define POSTERN_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/noise.h"
#include "crypto/replay.h"
#include "tunnel/proto.h"

enum {
	HANDSHAKE_MSG_LEN = PROTO_HS_MSG_LEN,
	HANDSHAKE_PAYLOAD_LEN = 16,
	HANDSHAKE_VERSION = 1,
};

#define HANDSHAKE_PROLOGUE "postern/1"

enum handshake_verdict {
	HANDSHAKE_OK = 0,
	HANDSHAKE_NO_KEY, /* no key/suite authenticates the message */
	HANDSHAKE_VERSION_BAD,
	HANDSHAKE_STALE,  /* timestamp outside the window */
	HANDSHAKE_REPLAY, /* seen before */
	HANDSHAKE_BUSY,	  /* replay cache full */
	HANDSHAKE_ERROR,  /* local failure */
};

/* handshake_protocol_name(alg): the Noise protocol name for a suite. */
const char *handshake_protocol_name(enum crypto_aead_alg alg);

/*
 * handshake_client_begin(psk, alg, now_ms, msg1): start a handshake and
 * write message 1. Returns the state for handshake_client_finish(), or NULL.
 */
struct noise_hs *handshake_client_begin(const uint8_t psk[CRYPTO_KEY_LEN], enum crypto_aead_alg alg,
					uint64_t now_ms, uint8_t msg1[HANDSHAKE_MSG_LEN]);

/*
 * handshake_client_finish(hs, msg2, tx, rx): check the server's reply and
 * derive the transport ciphers. Frees ${hs}. Returns 0 or -1.
 */
int handshake_client_finish(struct noise_hs *hs, const uint8_t msg2[HANDSHAKE_MSG_LEN],
			    struct noise_cipher *tx, struct noise_cipher *rx);

/*
 * handshake_server(psks, npsk, rp, now_ms, msg1, msg2, tx, rx, which):
 * judge message 1 against every key in ${psks}; on HANDSHAKE_OK write the
 * reply to ${msg2}, fill the ciphers and set *which to the key's index.
 * Cost: up to 2 * npsk trial decryptions of 16 bytes (no DH) before the
 * one X25519 of the accepted key.
 */
enum handshake_verdict handshake_server(const uint8_t *const *psks, size_t npsk, struct replay *rp,
					uint64_t now_ms, const uint8_t msg1[HANDSHAKE_MSG_LEN],
					uint8_t msg2[HANDSHAKE_MSG_LEN], struct noise_cipher *tx,
					struct noise_cipher *rx, size_t *which);

/* handshake_verdict_text(v): the reason as the server logs it. */
const char *handshake_verdict_text(enum handshake_verdict v);

#endif
