/* SPDX-License-Identifier: MIT */
/*
 * spa/packet: postern's own knock (docs/PROTOCOL.md, "Knocks"): one UDP
 * datagram, a kind byte, then the first message of a one-way Noise
 * handshake whose payload is the request. Kind 0x01 is NNpsk0 under an
 * identity's PSK; the server trials it against per-key precomputed
 * responder states, as tunnel/handshake.c does with first messages, so a
 * knock costs it no DH. Pure: no I/O, no clock (the caller passes time in).
 */
#ifndef POSTERN_SPA_PACKET_H
#define POSTERN_SPA_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "spa/request.h"

enum {
	SPA_KIND_PSK = 0x01,
	SPA_KIND_IK = 0x02,
	SPA_VERSION = 1,
	SPA_TYPE_ACCESS = 1,
	SPA_TYPE_FORWARD = 2,
	SPA_NONCE_LEN = 16,
	SPA_E_LEN = 32,
	SPA_TAG_LEN = 16,
	/* version, type, ts, nonce, timeout, naccess, one access, allow family, label length */
	SPA_PAYLOAD_MIN = 1 + 1 + 8 + SPA_NONCE_LEN + 2 + 1 + 3 + 1 + 1,
	SPA_PAYLOAD_MAX =
	    SPA_PAYLOAD_MIN + 3 * (SPA_ACCESS_MAX - 1) + 16 + 1 + 16 + 2 + SPA_LABEL_MAX,
	SPA_PSK_MIN = 1 + SPA_E_LEN + SPA_PAYLOAD_MIN + SPA_TAG_LEN,
	SPA_PSK_MAX = 1 + SPA_E_LEN + SPA_PAYLOAD_MAX + SPA_TAG_LEN,
	SPA_MAC1_LEN = 16,
	SPA_S_LEN = 32 + 16, /* EncryptAndHash(s) */
	SPA_IK_MIN = 1 + SPA_E_LEN + SPA_MAC1_LEN + SPA_S_LEN + SPA_PAYLOAD_MIN + SPA_TAG_LEN,
	SPA_IK_MAX = 1 + SPA_E_LEN + SPA_MAC1_LEN + SPA_S_LEN + SPA_PAYLOAD_MAX + SPA_TAG_LEN,
	SPA_WHY_MAX = 128,
	SPA_DEFAULT_PORT = 62201,
};

#define SPA_PROLOGUE	 "postern-knock/1"
#define SPA_PSK_PROTOCOL "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
#define SPA_IK_PROTOCOL	 "Noise_IK_25519_ChaChaPoly_SHA256"

/*
 * spa_payload_encode(req, ts_ms, nonce, out, cap): the plaintext payload for
 * ${req} (type forward when req->has_forward; forward_host must be an IP
 * literal). Returns its length, or -1 when ${req} cannot be encoded
 * (counts, ports, label, addresses) or ${cap} is too small.
 */
long spa_payload_encode(const struct spa_request *req, uint64_t ts_ms,
			const uint8_t nonce[SPA_NONCE_LEN], uint8_t *out, size_t cap);

/*
 * spa_payload_parse(p, len, req, why): parse a decrypted payload. Any bad
 * value, length or trailing byte is malformed: returns -1 with ${why}
 * (SPA_WHY_MAX bytes). Returns 0 and fills ${req} (all but id and owner).
 */
int spa_payload_parse(const uint8_t *p, size_t len, struct spa_request *req, char *why);

/* spa_addr_parse(s, a): an IPv4 or IPv6 literal into ${a}. Returns 0, or -1 (${a} zeroed). */
int spa_addr_parse(const char *s, struct spa_addr *a);

/*
 * spa_encode_psk(psk, req, ts_ms, out, cap): a whole kind-0x01 datagram for
 * ${req} under ${psk}, with a fresh ephemeral key and nonce. Returns its
 * length or -1.
 */
long spa_encode_psk(const uint8_t psk[32], const struct spa_request *req, uint64_t ts_ms,
		    uint8_t *out, size_t cap);

/* The server's precomputed responder states, one per PSK identity. */
struct spa_keys;

/*
 * spa_keys_new(psks, n): precompute, per key, the responder state after the
 * name, prologue and psk tokens. The keys are copied. NULL on failure.
 */
struct spa_keys *spa_keys_new(const uint8_t *const *psks, size_t n);

/* spa_keys_free(k): wipe and free; NULL is a no-op. */
void spa_keys_free(struct spa_keys *k);

/*
 * spa_decode(k, pkt, len, req, why): judge one datagram. Returns 1 when a
 * key authenticates it and the payload parses (req->owner = the key's
 * index, req->id = the sender's e), 0 when it is not a knock any key
 * opens (length, kind, or no key: ${why} says which), -1 when it
 * authenticated but is malformed (${why}). Cost: one AEAD open per key.
 * Not for two threads at once on the same ${k}: it decodes in k's scratch state.
 */
int spa_decode(const struct spa_keys *k, const uint8_t *pkt, size_t len, struct spa_request *req,
	       char *why);

/*
 * spa_encode_ik(s, server_pub, req, ts_ms, out, cap): a whole kind-0x02
 * datagram: Noise IK message 1 from our static key ${s} to ${server_pub}
 * (the one-way pattern X), with the tunnel's mac1 after e. Length or -1.
 */
long spa_encode_ik(const uint8_t s[32], const uint8_t server_pub[32], const struct spa_request *req,
		   uint64_t ts_ms, uint8_t *out, size_t cap);

/* The server's public-key side: its host key and the listed public keys. */
struct spa_ik;

/*
 * spa_ik_new(host, pubs, owners, n): for host private key ${host}, public
 * key ${pubs}[i] belonging to identity ${owners}[i] (copied). NULL on
 * failure (or a key listed twice).
 */
struct spa_ik *spa_ik_new(const uint8_t host[32], const uint8_t *const *pubs,
			  const uint32_t *owners, size_t n);

/* spa_ik_free(k): wipe and free; NULL is a no-op. */
void spa_ik_free(struct spa_ik *k);

/*
 * spa_ik_mac1(k, pkt, len, why): 1 when ${pkt} is a kind-0x02 knock of a
 * valid length whose mac1 (suite ChaChaPoly) is the host key's; else 0
 * with ${why}. One HMAC per suite, constant time, no DH: call it before
 * spending the sender's DH budget.
 */
int spa_ik_mac1(const struct spa_ik *k, const uint8_t *pkt, size_t len, char *why);

/*
 * spa_ik_decode(k, pkt, len, req, why): read a knock that passed
 * spa_ik_mac1() (two DH: es, ss) and look its static key up. As
 * spa_decode(): 1 (req->owner = the key's owner, req->id = e), 0 (does not
 * authenticate, or an unlisted key), -1 (authenticated, malformed).
 */
int spa_ik_decode(const struct spa_ik *k, const uint8_t *pkt, size_t len, struct spa_request *req,
		  char *why);

#endif
