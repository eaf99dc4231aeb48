/* SPDX-License-Identifier: MIT */
/*
 * clock: the wall clock in Unix milliseconds, the one time base of every
 * timestamp that crosses a process (first messages, knocks, grant expiries,
 * the replay logs, the fleet's Redis expiries). Loop timers use uv_now().
 */
#ifndef POSTERN_CLOCK_H
#define POSTERN_CLOCK_H

#include <stdint.h>

/* clock_wall_ms(): CLOCK_REALTIME in milliseconds since the epoch. */
uint64_t clock_wall_ms(void);

#endif
