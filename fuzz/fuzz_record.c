/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the receive path of an established session: the
 * bytes after the handshake, cut into records by record_open() and parsed by
 * frame_parse(), as process_records() in session.c does.
 *
 * Byte 0 selects the mode. Bit 1 picks the suite (0 ChaChaPoly, 1 AESGCM).
 *   even: the rest is the raw receive stream. Forging a record is hopeless,
 *         so this explores the length and authentication checks; the seed
 *         corpus holds records sealed under the harness's fixed key, which
 *         the fuzzer can then mutate.
 *   odd:  the rest is a list of chunks, each a length byte (0xff: a 2-byte
 *         big-endian length follows) and that many bytes. Every chunk is
 *         sealed as a record with the sending cipher, and the whole stream
 *         then opened with the receiving one: every record must open, in
 *         order, to exactly its chunk. This reaches frame_parse() with
 *         authentic, arbitrary plaintexts.
 * A REKEY frame rekeys the receiver (and, in seal mode, the sender after
 * sending it), as the session does, so rekeying is exercised too.
 *
 * make fuzz-build && build/fuzz/fuzz_record fuzz/corpus/record
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/noise.h"
#include "crypto/record.h"
#include "tunnel/frame.h"

/*
 * One fixed key for both ends of one direction. The ciphers are built
 * directly rather than by a handshake, whose ephemeral keys are random:
 * libFuzzer needs every run of an input to behave the same.
 */
static const uint8_t fuzz_key[CRYPTO_KEY_LEN] = "postern record fuzz key 32 byte";

static struct noise_cipher tx[2], rx[2]; /* per suite */

/* A bug in the harness or a broken invariant: stop loudly so libFuzzer reports it. */
static void require(int cond)
{
	if (!cond)
		abort();
}

/* reset: key ${c} with the fixed key and n = 0, reusing its context across inputs. */
static void reset(struct noise_cipher *c, enum crypto_aead_alg alg)
{
	if (c->aead == NULL) {
		c->aead = crypto_aead_new(alg, fuzz_key);
		require(c->aead != NULL);
	} else {
		require(crypto_aead_rekey(c->aead, fuzz_key) == 0);
	}
	c->alg = alg;
	c->n = 0;
}

static int is_rekey(const uint8_t *p, size_t len)
{
	struct frame f;
	return frame_parse(p, len, &f) == 0 && f.type == FRAME_REKEY;
}

/* What the session does with a record's plaintext, minus the I/O. */
static void deliver(struct noise_cipher *c, const uint8_t *p, size_t len)
{
	struct frame f;
	if (frame_parse(p, len, &f) != 0)
		return;
	/* Whatever was accepted lies inside the plaintext. */
	if (f.data != NULL)
		require(f.data >= p && f.data + f.len <= p + len);
	if (f.type == FRAME_REKEY)
		require(noise_cipher_rekey(c) == 0);
	if (f.type == FRAME_OPEN_FAIL)
		require(frame_fail_text(f.code) != NULL);
}

/*
 * open_stream: the session's loop over a receive buffer. Returns the number
 * of records opened; *rest gets the bytes left (a partial record, or the
 * point where an error ended the session).
 */
static size_t open_stream(struct noise_cipher *c, uint8_t *buf, size_t len,
			  const uint8_t *const *want, const size_t *want_len, size_t nwant,
			  enum record_status *last)
{
	size_t off = 0, nopened = 0;
	for (;;) {
		uint8_t *plain;
		size_t plen, used;
		uint64_t n_before = c->n;
		enum record_status r = record_open(c, buf + off, len - off, &plain, &plen, &used);
		*last = r;
		if (r != RECORD_OK) {
			/* A refused record must not advance the nonce (no desync by forgery). */
			require(c->n == n_before);
			require(r == RECORD_NEED_MORE || r == RECORD_BAD_LENGTH ||
				r == RECORD_BAD_AUTH);
			return nopened;
		}
		require(c->n == n_before + 1);
		require(used >= RECORD_OVERHEAD + 1 && used <= len - off);
		require(plain == buf + off + RECORD_HDR_LEN && plen == used - RECORD_OVERHEAD);
		if (want != NULL) {
			require(nopened < nwant && plen == want_len[nopened]);
			require(memcmp(plain, want[nopened], plen) == 0);
		}
		deliver(c, plain, plen);
		nopened++;
		off += used;
	}
}

static void raw_mode(enum crypto_aead_alg alg, const uint8_t *data, size_t size)
{
	/* record_open decrypts in place, so it needs its own writable copy. */
	uint8_t *buf = malloc(size ? size : 1);
	require(buf != NULL);
	if (size > 0)
		memcpy(buf, data, size);
	enum record_status last;
	open_stream(&rx[alg], buf, size, NULL, NULL, 0, &last);
	free(buf);
}

static void seal_mode(enum crypto_aead_alg alg, const uint8_t *data, size_t size)
{
	/* Each chunk costs at least 2 input bytes and adds RECORD_OVERHEAD. */
	size_t cap = size * (RECORD_OVERHEAD + 1) + RECORD_OVERHEAD;
	size_t maxrec = size / 2 + 1;
	uint8_t *wire = malloc(cap);
	const uint8_t **want = malloc(maxrec * sizeof(*want));
	size_t *want_len = malloc(maxrec * sizeof(*want_len));
	require(wire != NULL && want != NULL && want_len != NULL);

	size_t in = 0, out = 0, nrec = 0;
	while (in < size) {
		size_t len = data[in++];
		if (len == 0xff) {
			if (size - in < 2)
				break;
			len = ((size_t)data[in] << 8) | data[in + 1];
			in += 2;
		}
		if (len > size - in)
			len = size - in;
		if (len == 0) {
			/* An empty record is not allowed, and refusing it must not burn a nonce. */
			uint64_t n_before = tx[alg].n;
			require(record_seal(&tx[alg], wire + out, 0) == -1);
			require(tx[alg].n == n_before);
			continue;
		}
		memcpy(wire + out + RECORD_HDR_LEN, data + in, len);
		ssize_t n = record_seal(&tx[alg], wire + out, len);
		require(n == (ssize_t)(len + RECORD_OVERHEAD));
		require(nrec < maxrec);
		want[nrec] = data + in;
		want_len[nrec] = len;
		nrec++;
		/* The sender switches keys right after its REKEY record, as maybe_rekey() does. */
		if (is_rekey(data + in, len))
			require(noise_cipher_rekey(&tx[alg]) == 0);
		in += len;
		out += (size_t)n;
	}
	require(out <= cap);

	enum record_status last;
	size_t opened = open_stream(&rx[alg], wire, out, want, want_len, nrec, &last);
	/* Authentic records, in order, over an intact stream: all of them open. */
	require(opened == nrec && last == RECORD_NEED_MORE);
	require(rx[alg].n == tx[alg].n);
	free(wire);
	free(want);
	free(want_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum crypto_aead_alg alg = (data[0] & 2) ? CRYPTO_AESGCM : CRYPTO_CHACHAPOLY;
	reset(&tx[alg], alg);
	reset(&rx[alg], alg);
	if (data[0] & 1)
		seal_mode(alg, data + 1, size - 1);
	else
		raw_mode(alg, data + 1, size - 1);
	return 0;
}
