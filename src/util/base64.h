/* SPDX-License-Identifier: MIT */
/*
 * base64: the standard alphabet (RFC 4648), in two speeds. Keys pass through
 * the constant-time pair (no table lookups or branches on the data, which
 * would leak key bytes through timing); public bytes, such as a knock on the
 * wire, through the table-driven decoder. Pure.
 */
#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* base64_len(n, pad): characters for ${n} bytes, with or without '=' padding. */
#define BASE64_LEN(n, pad) ((pad) ? ((n) + 2) / 3 * 4 : ((n)*4 + 2) / 3)

/*
 * base64_encode(in, n, out, pad): ${n} bytes as base64 into ${out}, which has
 * room for BASE64_LEN(n, pad) characters and a NUL; '=' padding if ${pad}.
 * Constant time. Returns the characters written (NUL not counted).
 */
size_t base64_encode(const uint8_t *in, size_t n, char *out, int pad);

/*
 * base64_decode(in, n, out, cap): decode ${n} characters without padding
 * (strip '=' first). Constant time in the data. Strict: a character outside
 * the alphabet, a length of 4k+1 or spare bits that are not zero (a
 * non-canonical spelling) fail. Returns the bytes written, or -1 (${out} may
 * then hold garbage: the caller wipes it if it matters).
 */
long base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* base64_decode_public(in, n, out, cap): as base64_decode() but table-driven (not
 * constant time) and without the canonical check: for public bytes only. */
long base64_decode_public(const char *in, size_t n, uint8_t *out, size_t cap);

/* base64_canonical(p, chars, bytes): 1 if ${chars} characters are the canonical
 * spelling of ${bytes} bytes (the last character's spare bits are zero). */
int base64_canonical(const char *p, size_t chars, size_t bytes);

/* base64_is_alphabet(p, n): 1 if every byte is in the alphabet ('=' is not). */
int base64_is_alphabet(const uint8_t *p, size_t n);

#endif
