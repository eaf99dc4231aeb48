/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the input is a server configuration followed by one
 * request on its last line. Every key is asked about the request in every
 * form (policy_check, and the four decisions directly under each
 * gateway_ports value), and the access matrix is printed. Besides memory
 * errors it checks that answers are 1 or 0 with a printable deciding rule,
 * that the gates hold whatever the lists say, and that bind addresses
 * follow gateway_ports.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/policy.h"
#include "conf/client.h"
#include "conf/server.h"
#include "guard/permit.h"
#include "util/config.h"

enum { KEYS_ASKED = 8 };

static FILE *sink;

static void check_text(const char *s, size_t max)
{
	size_t i, len = strnlen(s, max);

	if (len == 0 || len == max)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			abort();
}

static void check_verdict(int v, const char *why)
{
	if (v != 0 && v != 1)
		abort();
	check_text(why, POLICY_WHY_MAX);
}

static void check_bind(const struct config_key *k, int gw, const char *bind)
{
	int eff = k->gateway_ports ? k->gateway_ports : gw;

	if (eff == CONFIG_GW_YES && strcmp(bind, "*") != 0)
		abort();
	if ((eff == CONFIG_GW_NO || eff < CONFIG_GW_NO || eff > CONFIG_GW_CLIENT) &&
	    strcmp(bind, "127.0.0.1") != 0)
		abort();
	if (strcmp(bind, "*") != 0 && !net_is_ip_literal(bind))
		abort();
}

/* The gates hold whatever the lists say. */
static void check_gates(const struct config_key *k, int open, int listen, int uopen, int ulisten)
{
	int fwd = k->allow_forwarding;

	if ((fwd == CONFIG_FWD_NO || fwd == CONFIG_FWD_REMOTE) && (open || uopen))
		abort();
	if ((fwd == CONFIG_FWD_NO || fwd == CONFIG_FWD_LOCAL) && (listen || ulisten))
		abort();
	if (!k->allow_unix_forwarding && (uopen || ulisten))
		abort();
}

static void ask_key(const struct config_server *c, const struct config_key *k, const char *req,
		    uint16_t port)
{
	char why[POLICY_WHY_MAX], bind[NET_HOST_MAX + 1];
	int v, gw, open, listen = 0, uopen, ulisten;

	v = policy_check(c, k->name, req, why);
	if (v < -1 || v > 1)
		abort();
	check_text(why, POLICY_WHY_MAX);
	open = policy_may_open(k, req, port, why);
	check_verdict(open, why);
	uopen = policy_may_open_unix(k, req, why);
	check_verdict(uopen, why);
	ulisten = policy_may_listen_unix(k, req, why);
	check_verdict(ulisten, why);
	for (gw = CONFIG_GW_SERVER; gw <= CONFIG_GW_CLIENT + 1; gw++) {
		int l = policy_may_listen(k, gw, req, port, bind, why);
		check_verdict(l, why);
		if (l)
			check_bind(k, gw, bind);
		else if (bind[0] != '\0')
			abort();
		listen |= l;
	}
	check_gates(k, open, listen, uopen, ulisten);
}

static void ask(const struct config_server *c, const char *req, uint16_t port)
{
	char why[POLICY_WHY_MAX];
	size_t i;

	for (i = 0; i < c->nkeys && i < KEYS_ASKED; i++)
		ask_key(c, &c->keys[i], req, port);
	if (policy_check(c, "no such key!", req, why) != -1)
		abort();
	check_text(why, POLICY_WHY_MAX);
}

static void print(const struct config_server *c, const char *req)
{
	const char *notes[KEYS_ASKED];
	size_t i;

	if (!sink)
		sink = fopen("/dev/null", "w");
	if (!sink)
		abort();
	policy_print_matrix(sink, c);
	if (c->nkeys > KEYS_ASKED)
		return;
	for (i = 0; i < c->nkeys; i++)
		notes[i] = i % 2 ? req : NULL;
	policy_print_matrix_notes(sink, c, notes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = size ? memrchr(data, '\n', size) : NULL;
	size_t conf_len = nl ? (size_t)(nl - data) + 1 : 0;
	struct config_server c;
	char err[CONFIG_ERR_MAX], *req;
	uint16_t port;

	req = calloc(1, size - conf_len + 1);
	if (!req)
		return 0;
	memcpy(req, data + conf_len, size - conf_len);
	/* A port from the request's length keeps 0 (allocate) and high ports reachable. */
	port = (uint16_t)(size - conf_len < 3 ? 0 : (size - conf_len) * 1021u);
	config_server_defaults(&c);
	if (conf_server_load_string((const char *)data, conf_len, "server.conf", &c, err) == 0) {
		ask(&c, req, port);
		print(&c, req);
	}
	config_server_free(&c);
	free(req);
	return 0;
}
