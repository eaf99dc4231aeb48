/* SPDX-License-Identifier: MIT */
/*
 * handshake_ik: postern's public-key identities (docs/PROTOCOL.md, 3.4).
 * The client knows the server's static key in advance and sends its own,
 * encrypted, in message 1 (Noise_IK); a mac1 keyed by the server's public
 * key lets the server throw away junk with one HMAC before any DH; the
 * client's static key finds its identity in a hash table, so the cost does
 * not grow with the number of identities. Message 2 is the 64 bytes of the
 * PSK handshake (handshake_client_finish() and handshake_accept() serve
 * both). Pure: the caller supplies the clock and does the I/O.
 */
#ifndef POSTERN_HANDSHAKE_IK_H
#define POSTERN_HANDSHAKE_IK_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/handshake.h"

enum {
	HANDSHAKE_MAC1_LEN = 16,
	HANDSHAKE_MAC1_OFF = 32,      /* mac1 sits right after e */
	HANDSHAKE_IK_NOISE_LEN = 112, /* e, {s}, {payload}: 32 + 48 + 32 */
	HANDSHAKE_IK_MSG_LEN = HANDSHAKE_IK_NOISE_LEN + HANDSHAKE_MAC1_LEN, /* 128 on the wire */
};

/* handshake_ik_protocol_name(alg): the Noise protocol name for a suite. */
const char *handshake_ik_protocol_name(enum crypto_aead_alg alg);

/*
 * handshake_ik_client_begin(s, server_pub, alg, now_ms, msg1): start an IK
 * handshake with our static private key ${s} towards ${server_pub} and
 * write the 128-byte message 1 (mac1 included). Finish with
 * handshake_client_finish(). Returns the state, or NULL.
 */
struct noise_hs *handshake_ik_client_begin(const uint8_t s[CRYPTO_DH_LEN],
					   const uint8_t server_pub[CRYPTO_DH_LEN],
					   enum crypto_aead_alg alg, uint64_t now_ms,
					   uint8_t msg1[HANDSHAKE_IK_MSG_LEN]);

/*
 * handshake_ik_wire(server_pub, alg, noise, msg1): the wire form of the
 * Noise message ${noise} (e, {s}, {payload}): e, mac1, the rest. Returns 0
 * or -1. (handshake_ik_client_begin() uses it; so do tests and the fuzzer.)
 */
int handshake_ik_wire(const uint8_t server_pub[CRYPTO_DH_LEN], int alg,
		      const uint8_t noise[HANDSHAKE_IK_NOISE_LEN],
		      uint8_t msg1[HANDSHAKE_IK_MSG_LEN]);

/*
 * handshake_ik_mac1_make(server_pub, alg, e, mac): the mac1 a first
 * message (or an IK knock, spa/packet.c) carries after ${e}. 0 or -1.
 */
int handshake_ik_mac1_make(const uint8_t server_pub[CRYPTO_DH_LEN], int alg,
			   const uint8_t e[CRYPTO_DH_LEN], uint8_t mac[HANDSHAKE_MAC1_LEN]);

/* The server's host key, its mac1 keys and the table of listed public keys. */
struct handshake_ik;

/*
 * handshake_ik_new(host, pubs, owners, n, dup): a table of ${n} public keys
 * (copied), ${pubs}[i] belonging to identity ${owners}[i], for the host
 * private key ${host}. Returns NULL on failure; when the failure is a key
 * listed twice, *dup (if not NULL) gets the index of the second listing,
 * else n.
 */
struct handshake_ik *handshake_ik_new(const uint8_t host[CRYPTO_DH_LEN], const uint8_t *const *pubs,
				      const uint32_t *owners, size_t n, size_t *dup);

/* handshake_ik_free(ik): wipe and free; NULL is a no-op. */
void handshake_ik_free(struct handshake_ik *ik);

/* handshake_ik_count(ik): the number of public keys. */
size_t handshake_ik_count(const struct handshake_ik *ik);

/*
 * handshake_ik_mac1(ik, head): the suite whose mac1 the first 64 bytes of
 * a first message carry, or -1 when none does (a PSK message, or junk).
 * Constant time in the bytes; one HMAC per suite, no DH. Pure.
 */
int handshake_ik_mac1(const struct handshake_ik *ik, const uint8_t head[HANDSHAKE_MSG_LEN]);

/*
 * handshake_ik_owner(ik, pub, owner): the identity of a listed public key:
 * 1 and *owner, or 0 when ${pub} is not listed. One probe.
 */
int handshake_ik_owner(const struct handshake_ik *ik, const uint8_t pub[CRYPTO_DH_LEN],
		       uint32_t *owner);

/*
 * handshake_ik_find(ik, msg1, alg, f): read the IK message ${msg1} (whose
 * mac1 has been checked for suite ${alg}) and look its static key up.
 * Returns 1 and fills ${f} (f->which = the owner) when the message
 * authenticates and the key is listed, 0 when not, -1 on a local failure.
 * Cost: two DH (es, ss), one table probe. Any
 * thread may call it on the same ${ik}. Release ${f} with
 * handshake_found_clear() whatever the result.
 */
int handshake_ik_find(const struct handshake_ik *ik, const uint8_t msg1[HANDSHAKE_IK_MSG_LEN],
		      int alg, struct handshake_found *f);

#endif
