/* SPDX-License-Identifier: MIT */
/*
 * noise: the Noise Protocol Framework (revision 34) handshake state machine,
 * for the patterns postern and its test vectors use (N, Npsk0, NNpsk0,
 * NKpsk0, IK, IKpsk2, KK, XX), built on crypto.h. Pure: no I/O, no clock,
 * no allocation beyond the cipher contexts it hands out at split.
 */
#ifndef POSTERN_NOISE_H
#define POSTERN_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

enum {
	NOISE_MAX_MSG = 65535,
	NOISE_MAX_PATTERN = 8, /* messages in a pattern */
	NOISE_MAX_TOKENS = 8,  /* tokens in one message */
};

/* One CipherState: a key (maybe absent) and the 64-bit counter n. */
struct noise_cipher {
	struct crypto_aead *aead; /* NULL until a key is set */
	enum crypto_aead_alg alg;
	uint64_t n;
};

struct noise_hs; /* opaque HandshakeState */

struct noise_params {
	const char *protocol_name; /* e.g. "Noise_NNpsk0_25519_ChaChaPoly_SHA256" */
	int initiator;		   /* 1 for the initiator, 0 for the responder */
	const uint8_t *prologue;
	size_t prologue_len;
	const uint8_t *s;   /* our static private key, or NULL */
	const uint8_t *rs;  /* the peer's static public key (pre-message), or NULL */
	const uint8_t *psk; /* 32 bytes, or NULL when the pattern has no psk */
	/* Fixed ephemeral private key, for test vectors only; NULL = generate. */
	const uint8_t *e_fixed;
};

/*
 * noise_hs_new(p): parse ${p->protocol_name} and initialise the handshake
 * (InitializeSymmetric, MixHash(prologue), pre-messages). Returns NULL on an
 * unknown name, missing keys, or allocation failure.
 */
struct noise_hs *noise_hs_new(const struct noise_params *p);

/* noise_hs_free(hs): wipe and free; NULL is a no-op. */
void noise_hs_free(struct noise_hs *hs);

/*
 * noise_hs_write(hs, payload, plen, out, outcap): WriteMessage. Writes the
 * message to ${out} and returns its length, or -1 (not our turn, no room,
 * failure).
 */
long noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
		    size_t outcap);

/*
 * noise_hs_read(hs, msg, mlen, payload, pcap): ReadMessage. Writes the
 * decrypted payload to ${payload} and returns its length, or -1 if the message
 * is malformed or fails authentication. After -1 the handshake is dead.
 */
long noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
		   size_t pcap);

/*
 * noise_hs_read_last(hs, msg, mlen, payload, pcap): noise_hs_read for a
 * message after which the handshake is abandoned (a knock: message 1 of
 * NNpsk0, never answered). The payload is authenticated exactly as by
 * noise_hs_read, but h is not advanced past it, as no later step reads it;
 * the state is dead afterwards (noise_hs_restore revives a scratch copy).
 */
long noise_hs_read_last(struct noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
			size_t pcap);

/*
 * noise_hs_prepare(hs): build the cipher context for the current key now
 * rather than at its first use (a state every knock is restored into, so
 * the first knock after a start costs what the others do). 0 or -1.
 */
int noise_hs_prepare(struct noise_hs *hs);

/*
 * noise_hs_premix(hs): process the tokens at the head of the next message
 * that depend on no message bytes (a leading psk, as in NNpsk0), so that a
 * state shared by many handshakes can be computed once per key. The next
 * noise_hs_read()/noise_hs_write() goes on from there. Returns 0 or -1.
 */
int noise_hs_premix(struct noise_hs *hs);

/*
 * noise_hs_clone(hs): an independent copy of ${hs} (before Split), or
 * NULL. The copy owns its own cipher context and is freed on its own.
 */
struct noise_hs *noise_hs_clone(const struct noise_hs *hs);

/*
 * noise_hs_restore(dst, src): make ${dst} a copy of ${src} again, reusing
 * ${dst}'s cipher context when the suites match, so a loop of trials
 * allocates nothing. ${src} is only read (many threads may restore from it
 * at once). Returns 0, or -1 if dst == src or either is NULL.
 */
int noise_hs_restore(struct noise_hs *dst, const struct noise_hs *src);

/* noise_hs_done(hs): 1 once every message of the pattern has been processed. */
int noise_hs_done(const struct noise_hs *hs);

/* noise_hs_hash(hs, len): the handshake hash h; *len gets HASHLEN. */
const uint8_t *noise_hs_hash(const struct noise_hs *hs, size_t *len);

/* noise_hs_remote_static(hs): the peer's static public key if known, else NULL. */
const uint8_t *noise_hs_remote_static(const struct noise_hs *hs);

/*
 * noise_hs_split(hs, send, recv): Split(). Fills our sending and receiving
 * CipherStates (initiator: send = c1, recv = c2; responder: the reverse).
 * Returns 0 or -1. Only valid once noise_hs_done().
 */
int noise_hs_split(struct noise_hs *hs, struct noise_cipher *send, struct noise_cipher *recv);

/* noise_cipher_encrypt(c, ad, adlen, buf, len): EncryptWithAd in place (tag appended). */
int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen, uint8_t *buf,
			 size_t len);

/* noise_cipher_decrypt(c, ad, adlen, buf, len): DecryptWithAd in place; len includes the tag. */
int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen, uint8_t *buf,
			 size_t len);

/* noise_cipher_rekey(c): Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros). */
int noise_cipher_rekey(struct noise_cipher *c);

/* noise_cipher_clear(c): free the key and zero the state. */
void noise_cipher_clear(struct noise_cipher *c);

#endif
