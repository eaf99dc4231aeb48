/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the fleet's events-channel parser: anyone who can
 * write to the Redis can publish there. A message that parses must format
 * again, and that text must parse to the same event (a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fleet_event ev, again;
	char buf[1024];
	/* Not NUL-terminated on purpose: the parser must stay within ${size}. */
	char *msg = malloc(size ? size : 1);
	if (msg == NULL)
		return 0;
	memcpy(msg, data, size);
	if (fleet_event_parse(msg, size, &ev) == 0) {
		if (ev.kind != FLEET_EV_BAN && ev.kind != FLEET_EV_GRANT)
			abort();
		if (ev.kind == FLEET_EV_BAN && ev.srclen != 4 && ev.srclen != 8)
			abort();
		int n = fleet_event_format(&ev, buf, sizeof(buf));
		if (n < 0 || fleet_event_parse(buf, (size_t)n, &again) != 0)
			abort();
		if (again.kind != ev.kind || again.until_ms != ev.until_ms ||
		    strcmp(again.origin, ev.origin) != 0 || again.srclen != ev.srclen ||
		    memcmp(again.src, ev.src, ev.srclen) != 0)
			abort();
		if (ev.kind == FLEET_EV_GRANT &&
		    (again.grant.port != ev.grant.port || again.grant.proto != ev.grant.proto ||
		     again.grant.has_forward != ev.grant.has_forward ||
		     memcmp(&again.grant.src, &ev.grant.src, sizeof(ev.grant.src)) != 0 ||
		     strcmp(again.grant.identity, ev.grant.identity) != 0))
			abort();
	}
	free(msg);
	return 0;
}
