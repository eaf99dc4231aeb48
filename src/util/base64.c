/* SPDX-License-Identifier: MIT */
#include "util/base64.h"

/* All ones if lo <= v <= hi, else zero, without a branch on v. */
static uint32_t ct_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	uint32_t below = (v - lo) >> 31, above = (hi - v) >> 31;

	return 0u - (1u ^ (below | above));
}

static char ct_char(uint32_t v)
{
	uint32_t c = v + 'A';

	c += ct_in(v, 26, 63) & 6u;
	c -= ct_in(v, 52, 63) & 75u;
	c -= ct_in(v, 62, 62) & 15u;
	c -= ct_in(v, 63, 63) & 12u;
	return (char)c;
}

static uint32_t ct_value(uint32_t c, uint32_t *bad)
{
	uint32_t up = ct_in(c, 'A', 'Z'), lo = ct_in(c, 'a', 'z'), dg = ct_in(c, '0', '9');
	uint32_t pl = ct_in(c, '+', '+'), sl = ct_in(c, '/', '/');

	*bad |= ~(up | lo | dg | pl | sl) & 1u;
	return (up & (c - 'A')) | (lo & (c - 'a' + 26)) | (dg & (c - '0' + 52)) | (pl & 62u) |
	       (sl & 63u);
}

size_t base64_encode(const uint8_t *in, size_t n, char *out, int pad)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = ct_char(w >> 18 & 63);
		out[o++] = ct_char(w >> 12 & 63);
		out[o++] = ct_char(w >> 6 & 63);
		out[o++] = ct_char(w & 63);
	}
	if (n - i > 0) {
		uint32_t w = (uint32_t)in[i] << 16 | (n - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = ct_char(w >> 18 & 63);
		out[o++] = ct_char(w >> 12 & 63);
		if (n - i == 2)
			out[o++] = ct_char(w >> 6 & 63);
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* Bytes that ${n} unpadded characters hold, or -1 for an impossible length. */
static long decoded_len(size_t n)
{
	if (n % 4 == 1)
		return -1;
	return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

long base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	uint32_t bad = 0, w = 0;
	size_t o = 0, bits = 0;
	long len = decoded_len(n);

	if (len < 0 || (size_t)len > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		w = (w << 6) | ct_value((unsigned char)in[i], &bad);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(w >> bits);
		}
	}
	/* The bits past the last byte must be zero: one spelling per value. */
	bad |= (w & ((1u << bits) - 1)) != 0;
	w = 0;
	return bad ? -1 : len;
}

/* Public bytes: branches are several times faster; 255 = not in the alphabet. */
static uint8_t table_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (uint8_t)(c - '0' + 52);
	return c == '+' ? 62 : c == '/' ? 63 : 255;
}

long base64_decode_public(const char *in, size_t n, uint8_t *out, size_t cap)
{
	uint32_t w = 0;
	size_t o = 0, bits = 0;
	long len = decoded_len(n);

	if (len < 0 || (size_t)len > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint8_t v = table_value((unsigned char)in[i]);
		if (v == 255)
			return -1;
		w = (w << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(w >> bits);
		}
	}
	return len;
}

int base64_canonical(const char *p, size_t chars, size_t bytes)
{
	unsigned spare;
	uint8_t last;

	if (chars == 0 || 6 * chars < 8 * bytes)
		return 0;
	spare = (unsigned)(6 * chars - 8 * bytes);
	last = table_value((unsigned char)p[chars - 1]);
	return spare < 6 && last != 255 && (last & ((1u << spare) - 1)) == 0;
}

int base64_is_alphabet(const uint8_t *p, size_t n)
{

	for (size_t i = 0; i < n; i++)
		if (table_value(p[i]) == 255)
			return 0;
	return 1;
}
