/* SPDX-License-Identifier: MIT */
/*
 * cmd/util: what every subcommand shares: strict unsigned parsing of flag and
 * setting values (no sign, no trailing bytes, range checked, so "-1" or "10s"
 * is an error rather than a wrapped number) and the wall clock in Unix
 * milliseconds that the pure modules are handed instead of reading it.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cmd/cmd.h"
#include "util/clock.h"

int cmd_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != 0 || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

unsigned long long cmd_now_ms(void)
{
	return clock_wall_ms();
}
