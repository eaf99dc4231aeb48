/* SPDX-License-Identifier: MIT */
/*
 * spa/fwknop: the decoder for packets from standard fwknop 2.x clients in
 * Rijndael + HMAC-SHA256 mode, so fwknop users can switch servers without
 * touching their clients (docs/PROTOCOL.md, "fwknop compatibility"). The
 * HMAC is checked (constant time) before anything is decrypted or parsed.
 * Pure: no I/O, no clock.
 */
#ifndef POSTERN_SPA_FWKNOP_H
#define POSTERN_SPA_FWKNOP_H

#include <stddef.h>
#include <stdint.h>

#include "spa/request.h"

enum { FWKNOP_KEY_MAX = 128, FWKNOP_WHY_MAX = 128 };

/* One identity's fwknop keys, decoded from KEY_BASE64 / HMAC_KEY_BASE64. */
struct fwknop_key {
	uint8_t key[FWKNOP_KEY_MAX];
	size_t key_len;
	uint8_t hmac[FWKNOP_KEY_MAX];
	size_t hmac_len;
};

/*
 * fwknop_decode(pkt, len, k, req, why): authenticate and decode one UDP
 * payload for identity key ${k}. Returns 1 and fills ${req} (ts_ms, id =
 * SHA-256 of the packet's encrypted part as fwknopd's digest cache does,
 * access, allow, forward, label = the fwknop username, timeout_s), 0 when
 * the HMAC does not match (not this identity's packet), or -1 when it
 * matched but the contents are malformed (${why} says how, FWKNOP_WHY_MAX
 * bytes). On any result but 1, ${req} is left zeroed.
 */
int fwknop_decode(const uint8_t *pkt, size_t len, const struct fwknop_key *k,
		  struct spa_request *req, char *why);

/*
 * fwknop_key_from_base64(b64, out, max, len): decode a KEY_BASE64 or
 * HMAC_KEY_BASE64 value (padded base64, as `fwknop -k` prints it) into at
 * most ${max} bytes; ${len} gets the count. Constant time in the key's
 * characters. Returns 0, or -1 if it is not base64 or is empty or too long.
 */
int fwknop_key_from_base64(const char *b64, uint8_t *out, size_t max, size_t *len);

/*
 * fwknop_seal(plain, plen, k, salt, out, cap): the inverse of the outer
 * layer, as an fwknop client builds it: "Salted__" + salt + AES-256-CBC of
 * ${plain} (PKCS#7 padded), base64 without '=' and without the prefix, then
 * the base64 HMAC-SHA256. ${plain} is the already-encoded inner message with
 * its digest. For tests and fuzz harnesses that need packets with contents
 * the real client will not make. ${cap} >= 1501. Returns the packet's length
 * (NUL-terminated in ${out}) or -1.
 */
int fwknop_seal(const char *plain, size_t plen, const struct fwknop_key *k, const uint8_t salt[8],
		char *out, size_t cap);

#endif
