/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the same bytes as a server file and as a client file,
 * through the string loaders (no files, no key loading). Besides memory
 * errors it checks that messages stay one printable line and never echo
 * anything that looks like key material.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/config.h"

static void check_message(const char *err)
{
	size_t i, len = strnlen(err, CONFIG_ERR_MAX);

	if (len == CONFIG_ERR_MAX)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
			abort();
	if (strstr(err, "postern-psk"))
		abort();
}

static void check_server(const struct config_server *c)
{
	size_t i;

	if (c->max_refusals < 16 || c->max_refusals > 1000000 ||
	    c->reject_delay_min_ms > c->reject_delay_max_ms ||
	    c->nban_exempt > CONFIG_BAN_EXEMPT_MAX)
		abort();
	for (i = 0; i < c->nban_exempt; i++)
		if (memchr(c->ban_exempt[i], '\0', CONFIG_CIDR_MAX + 1) == NULL)
			abort();
	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i].key_file[0] == '\0' || c->keys[i].name[0] == '\0')
			abort();
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].port == 0 || c->listen[i].host[0] == '\0')
			abort();
}

static void server(const uint8_t *data, size_t size)
{
	struct config_server c;
	char err[CONFIG_ERR_MAX];

	config_server_defaults(&c);
	memset(err, 0, sizeof(err));
	if (config_server_load_string((const char *)data, size, "/etc/postern/server.conf", &c,
				      err) == 0) {
		check_server(&c);
		if (config_server_check(&c, err) < 0)
			check_message(err);
	} else {
		check_message(err);
	}
	config_server_free(&c);
}

static void client(const uint8_t *data, size_t size, const char *profile)
{
	struct config_client c;
	char err[CONFIG_ERR_MAX];

	config_client_defaults(&c);
	memset(err, 0, sizeof(err));
	if (config_client_load_string((const char *)data, size, "client.conf", profile, &c, err) ==
	    0) {
		if (c.profile[0] == '\0' || (profile && strcmp(c.profile, profile) != 0))
			abort();
		if (config_client_check(&c, err) < 0)
			check_message(err);
	} else {
		check_message(err);
	}
	config_client_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	server(data, size);
	client(data, size, NULL);
	client(data, size, "b");
	return 0;
}
