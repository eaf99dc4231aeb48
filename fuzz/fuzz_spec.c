/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the spec parsers: -L forwards, host:port and
 * permit_open values. Whatever parses must format and parse back to the
 * same endpoint, and every message must stay one printable line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/client.h"
#include "conf/server.h"
#include "guard/permit.h"
#include "util/config.h"
#include "util/net.h"

static void check_message(const char *err, size_t max)
{
	size_t i, len = strnlen(err, max);

	if (len == max)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
			abort();
}

/* A TCP endpoint must survive net_format_endpoint() -> net_parse_hostport(). */
static void round_trip(const struct net_endpoint *ep)
{
	char buf[NET_HOST_MAX + 16], err[NET_ERR_MAX];
	struct net_endpoint again;

	if (ep->is_unix || strcmp(ep->host, "*") == 0)
		return;
	net_format_endpoint(ep, buf, sizeof(buf));
	if (net_parse_hostport(buf, &again, NULL, 1, err) != 0)
		abort();
	if (strcmp(again.host, ep->host) != 0 || again.port != ep->port)
		abort();
	if (!net_host_equal(again.host, ep->host))
		abort();
}

static void forward(const char *s)
{
	struct net_forward fw;
	char err[NET_ERR_MAX];

	memset(err, 0, sizeof(err));
	if (net_parse_forward(s, &fw, err) != 0) {
		check_message(err, sizeof(err));
		return;
	}
	/* A listen port of 0 asks for a free port; a target always names one. */
	if (!fw.target.is_unix && fw.target.port == 0)
		abort();
	round_trip(&fw.listen);
	round_trip(&fw.target);
}

static void hostport(const char *s, const char *default_host, int allow_zero)
{
	struct net_endpoint ep;
	char err[NET_ERR_MAX];

	memset(err, 0, sizeof(err));
	if (net_parse_hostport(s, &ep, default_host, allow_zero, err) != 0) {
		check_message(err, sizeof(err));
		return;
	}
	if (!allow_zero && ep.port == 0)
		abort();
	round_trip(&ep);
}

static void permit(const char *s)
{
	struct config_permit p;
	char err[CONFIG_ERR_MAX];
	int any;

	memset(err, 0, sizeof(err));
	if (permit_parse_open(s, &p, &any, err) != 0)
		check_message(err, sizeof(err));
	else if (!any && strcmp(p.host, "*") != 0 && net_check_host(p.host, err) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	forward(s);
	hostport(s, NULL, 0);
	hostport(s, "127.0.0.1", 1);
	permit(s);
	free(s);
	return 0;
}
