/* SPDX-License-Identifier: MIT */
/*
 * dhrate: a token bucket per source (abuse's source key: an IPv4 address or
 * an IPv6 /64) for first messages that cost the server a Diffie-Hellman:
 * IK messages whose mac1 is right. Anyone who knows the server's public key
 * can make a valid mac1, so without a budget such a sender could keep a
 * core busy with DH. Bounded: a fixed table; when it is full the least
 * recently used of a few candidate slots is reused. Pure: time is passed in.
 */
#ifndef POSTERN_DHRATE_H
#define POSTERN_DHRATE_H

#include <stddef.h>
#include <stdint.h>

#include "guard/abuse.h"

enum { DHRATE_TABLE = 4096 /* sources tracked at once */ };

struct dhrate;

/* dhrate_new(rate, burst): ${rate} tokens per second, at most ${burst} held. NULL on failure. */
struct dhrate *dhrate_new(unsigned rate, unsigned burst);

/* dhrate_free(d): NULL is a no-op. */
void dhrate_free(struct dhrate *d);

/* dhrate_take(d, src, now_ms): 1 and one token spent if ${src} has one, else 0. */
int dhrate_take(struct dhrate *d, const struct abuse_source *src, uint64_t now_ms);

#endif
