/* SPDX-License-Identifier: MIT */
/* wire: big-endian loads and stores; never cast structs onto wire bytes. */
#ifndef POSTERN_WIRE_H
#define POSTERN_WIRE_H

#include <stdint.h>

static inline uint16_t load16_be(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t load32_be(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t load64_be(const uint8_t *p)
{
	return ((uint64_t)load32_be(p) << 32) | load32_be(p + 4);
}

static inline void store16_be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void store32_be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void store64_be(uint8_t *p, uint64_t v)
{
	store32_be(p, (uint32_t)(v >> 32));
	store32_be(p + 4, (uint32_t)v);
}

#endif
