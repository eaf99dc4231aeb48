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
	HANDSHAKE_QUOTA,  /* the key's share of the replay cache is full */
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
 * handshake_find() and handshake_accept() in one call, precomputing the
 * keys each time: for tests and tools, not for a server with many keys.
 */
enum handshake_verdict handshake_server(const uint8_t *const *psks, size_t npsk, struct replay *rp,
					uint64_t now_ms, const uint8_t msg1[HANDSHAKE_MSG_LEN],
					uint8_t msg2[HANDSHAKE_MSG_LEN], struct noise_cipher *tx,
					struct noise_cipher *rx, size_t *which);

/*
 * The server's judgement in two halves, so that the costly one can run off
 * the loop: handshake_find() tries the keys (pure, no shared mutable state:
 * any thread may call it on the same ${k}), handshake_accept() consults
 * the replay cache and writes the reply (the loop's thread, which owns the
 * cache).
 */
struct handshake_keys;

/*
 * handshake_keys_new(psks, npsk): precompute, per key and suite, the
 * responder state after the message-independent tokens (name, prologue,
 * psk). The PSK bytes are copied. Returns NULL on failure.
 */
struct handshake_keys *handshake_keys_new(const uint8_t *const *psks, size_t npsk);

/* handshake_keys_free(k): wipe and free; NULL is a no-op. */
void handshake_keys_free(struct handshake_keys *k);

/* handshake_keys_count(k): the number of keys. */
size_t handshake_keys_count(const struct handshake_keys *k);

/* What handshake_find() learned from a message 1 that authenticated. */
struct handshake_found {
	struct noise_hs *hs; /* responder state after message 1; owned */
	size_t which;	     /* index of the key */
	enum crypto_aead_alg alg;
	uint8_t payload[HANDSHAKE_PAYLOAD_LEN];
	uint8_t id[REPLAY_ID_LEN]; /* replay fingerprint: the client's e */
};

/*
 * handshake_find(k, msg1, f): try every key and suite on ${msg1}. Returns 1
 * and fills ${f} when one authenticates it, 0 when none does, -1 on a
 * local failure. Cost: at most 2 * npsk trials, each one MixHash, one
 * MixKey and one 16-byte AEAD open; no DH, no allocation per trial.
 * Release ${f} with handshake_found_clear() whatever the result.
 */
int handshake_find(const struct handshake_keys *k, const uint8_t msg1[HANDSHAKE_MSG_LEN],
		   struct handshake_found *f);

/* handshake_found_clear(f): free and wipe what ${f} holds. */
void handshake_found_clear(struct handshake_found *f);

/*
 * handshake_accept(f, rp, owner, now_ms, msg2, tx, rx, ts_ms): judge the
 * authenticated message of ${f}: version, timestamp window, replay cache
 * (charged to identity ${owner}, see replay_check_as()). On HANDSHAKE_OK
 * write the reply to ${msg2} and fill the ciphers. *ts_ms (if not NULL)
 * gets the client's timestamp whenever ${f} holds one, for the log.
 */
enum handshake_verdict handshake_accept(struct handshake_found *f, struct replay *rp,
					uint32_t owner, uint64_t now_ms,
					uint8_t msg2[HANDSHAKE_MSG_LEN], struct noise_cipher *tx,
					struct noise_cipher *rx, uint64_t *ts_ms);

/* handshake_verdict_text(v): the reason as the server logs it. */
const char *handshake_verdict_text(enum handshake_verdict v);

#endif
