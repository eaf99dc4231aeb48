/* SPDX-License-Identifier: MIT */
/*
 * record: seal and open transport records in place (docs/PROTOCOL.md, 4).
 * The length travels in clear, as in TLS 1.3, because the receiver needs it
 * before it can authenticate anything; it is bound to the record as
 * associated data, so tampering with it fails the tag.
 */
#include "crypto/record.h"

#include "util/wire.h"

ssize_t record_seal(struct noise_cipher *c, uint8_t *rec, size_t plen)
{
	if (plen == 0 || plen > RECORD_MAX_PLAIN)
		return -1;
	store32_be(rec, (uint32_t)(plen + RECORD_TAG_LEN));
	if (noise_cipher_encrypt(c, rec, RECORD_HDR_LEN, rec + RECORD_HDR_LEN, plen) != 0)
		return -1;
	return (ssize_t)(plen + RECORD_OVERHEAD);
}

enum record_status record_open(struct noise_cipher *c, uint8_t *buf, size_t len, uint8_t **plain,
			       size_t *plen, size_t *used)
{
	if (len < RECORD_HDR_LEN)
		return RECORD_NEED_MORE;
	uint32_t body = load32_be(buf);
	/* Judge the length before waiting for the body: a forged huge length
	 * must not make us buffer anything. */
	if (body < RECORD_MIN_BODY || body > RECORD_MAX_BODY)
		return RECORD_BAD_LENGTH;
	if (len - RECORD_HDR_LEN < body)
		return RECORD_NEED_MORE;
	if (noise_cipher_decrypt(c, buf, RECORD_HDR_LEN, buf + RECORD_HDR_LEN, body) != 0)
		return RECORD_BAD_AUTH;
	*plain = buf + RECORD_HDR_LEN;
	*plen = body - RECORD_TAG_LEN;
	*used = RECORD_HDR_LEN + body;
	return RECORD_OK;
}
