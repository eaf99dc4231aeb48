/* SPDX-License-Identifier: MIT */
/*
 * hex: lowercase hexadecimal for bytes that are not secret (an encrypted key
 * file's salt and ciphertext, a fleet event's source, a fleet key's keyed
 * hash). Table lookups on the data, so never for keys. Pure.
 */
#ifndef POSTERN_HEX_H
#define POSTERN_HEX_H

#include <stddef.h>
#include <stdint.h>

/* hex_encode(in, n, out): ${n} bytes as 2n lowercase digits and a NUL into ${out}. */
void hex_encode(const uint8_t *in, size_t n, char *out);

/*
 * hex_decode(in, len, out, cap, n): ${len} lowercase digits (an even number,
 * at most 2 * ${cap}) into ${out}, their count in ${n}. 0, or -1 for any
 * other character or length.
 */
int hex_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *n);

#endif
