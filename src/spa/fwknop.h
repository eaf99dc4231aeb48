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
 * bytes).
 */
int fwknop_decode(const uint8_t *pkt, size_t len, const struct fwknop_key *k,
		  struct spa_request *req, char *why);

#endif
