/* SPDX-License-Identifier: MIT */
/*
 * record: the transport's framing. A record is a 4-byte big-endian length L
 * followed by L bytes: the AEAD ciphertext of the plaintext and its 16-byte
 * tag, sealed with the header as associated data and the next implicit
 * nonce of the direction's Noise CipherState. A modified length, a dropped,
 * duplicated or reordered record all fail authentication. Pure: no I/O.
 */
#ifndef POSTERN_RECORD_H
#define POSTERN_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/noise.h"
#include "tunnel/proto.h"

enum {
	RECORD_HDR_LEN = 4,
	RECORD_TAG_LEN = 16,
	RECORD_MAX_PLAIN = FRAME_MAX_LEN, /* one frame per record */
	RECORD_MAX_BODY = RECORD_MAX_PLAIN + RECORD_TAG_LEN,
	RECORD_MIN_BODY = 1 + RECORD_TAG_LEN,
	RECORD_OVERHEAD = RECORD_HDR_LEN + RECORD_TAG_LEN,
};

/*
 * record_seal(c, rec, plen): ${rec} holds a 4-byte gap, ${plen} bytes of
 * plaintext and 16 spare bytes. Writes the header, seals in place and
 * returns the record's total length (plen + 20), or -1.
 */
ssize_t record_seal(struct noise_cipher *c, uint8_t *rec, size_t plen);

/* record_result: what record_open() found. */
enum record_status {
	RECORD_NEED_MORE = 0, /* not a whole record yet */
	RECORD_OK = 1,	      /* *plain, *plen: the plaintext, inside buf */
	RECORD_BAD_LENGTH = -1,
	RECORD_BAD_AUTH = -2,
};

/*
 * record_open(c, buf, len, plain, plen, used): look at the first record in
 * ${buf}[0..len). On RECORD_OK the record was decrypted in place and *used is
 * the number of bytes it occupied. Any failure is fatal for the session.
 */
enum record_status record_open(struct noise_cipher *c, uint8_t *buf, size_t len, uint8_t **plain,
			       size_t *plen, size_t *used);

#endif
