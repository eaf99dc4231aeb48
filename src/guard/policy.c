/* SPDX-License-Identifier: MIT */
#include "guard/policy.h"

#include <stdio.h>
#include <string.h>

#include "util/net.h"

static int permit_matches(const struct config_permit *p, const char *host, uint16_t port)
{
	if (p->port != 0 && p->port != port)
		return 0;
	/* Names are compared as names: permitting "db.internal" does not
	 * permit whatever else resolves to the same address, and vice versa. */
	return strcmp(p->host, "*") == 0 || net_host_equal(p->host, host);
}

int policy_may_open(const struct config_key *key, const char *host, uint16_t port, char *why,
		    size_t whylen)
{
	if (key->permit_any) {
		snprintf(why, whylen, "permit_open any");
		return 1;
	}
	for (size_t i = 0; i < key->npermit; i++) {
		const struct config_permit *p = &key->permit[i];
		if (!permit_matches(p, host, port))
			continue;
		char ps[8];
		snprintf(ps, sizeof(ps), "%u", (unsigned)p->port);
		snprintf(why, whylen, strchr(p->host, ':') ? "permit_open [%s]:%s" : "permit_open %s:%s",
			 p->host, p->port ? ps : "*");
		return 1;
	}
	snprintf(why, whylen, "not in permit_open");
	return 0;
}
