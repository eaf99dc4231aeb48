/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the same bytes as a server file and as a client file,
 * through the string loaders (no files, no key loading), and the first line
 * as the value of every entry of the settings table, as a flag gives it.
 * Besides memory errors it checks that messages stay one printable line and
 * never echo anything that looks like key material.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/client.h"
#include "guard/admit.h"
#include "conf/server.h"
#include "conf/settings.h"
#include "guard/permit.h"
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

	/* Whatever the file said, every value stays inside the table's range. */
	if (c->reject_delay_min_ms > c->reject_delay_max_ms || c->reject_delay_max_ms > 60000 ||
	    c->replay_window_s < 1 || c->replay_window_s > 3600 || c->replay_cache < 1024 ||
	    c->replay_quota < 16 || c->max_channels < 1 || c->max_channels > 65536 ||
	    c->session_buffer_mib < 4 || c->server_buffer_mib < 4 || c->log_rate < 1 ||
	    c->max_refusals < 16 || c->state_dir[0] == '\0')
		abort();
	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i].key_file[0] == '\0' || c->keys[i].name[0] == '\0')
			abort();
	/* listen port 0 is valid: the server binds a free port and logs it. */
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].host[0] == '\0')
			abort();
}

static void server(const uint8_t *data, size_t size)
{
	struct config_server c;
	char err[CONFIG_ERR_MAX];

	config_server_defaults(&c);
	memset(err, 0, sizeof(err));
	if (conf_server_load_string((const char *)data, size, "/etc/postern/server.conf", &c,
				    err) == 0) {
		check_server(&c);
		if (conf_server_check(&c, err) < 0)
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
	if (conf_client_load_string((const char *)data, size, "client.conf", profile, &c, err) ==
	    0) {
		if (c.profile[0] == '\0' || (profile && strcmp(c.profile, profile) != 0))
			abort();
		if (conf_client_check(&c, err) < 0)
			check_message(err);
		/* Every forward's admit policy was checked when read: it must parse again. */
		struct admit_policy p;
		char why[ADMIT_ERR_MAX];
		for (size_t i = 0; i < c.nlocal + c.ndynamic; i++)
			if (admit_parse(config_forward_admit(&c, i >= c.nlocal,
							     i >= c.nlocal ? i - c.nlocal : i),
					&p, why) != 0)
				abort();
	} else {
		check_message(err);
	}
	config_client_free(&c);
}

/* One value through every entry, into fresh defaults, as a flag would apply it. */
static void values(const uint8_t *data, size_t size)
{
	char value[512], err[CONFIG_ERR_MAX];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size, n, i;
	enum settings_role role;

	if (len >= sizeof(value) || memchr(data, '\0', len))
		return;
	memcpy(value, data, len);
	value[len] = '\0';
	for (role = SETTINGS_SERVER; role <= SETTINGS_CLIENT; role++) {
		const struct setting *t = settings_table(role, &n);
		for (i = 0; i < n; i++) {
			struct config_server srv;
			struct config_client cli;
			struct config_key *k;
			struct settings_flag fl = {&t[i], value};
			void *base;

			config_server_defaults(&srv);
			config_client_defaults(&cli);
			k = config_add_key(&srv, "a");
			if (k)
				snprintf(k->key_file, sizeof(k->key_file), "/k");
			base = t[i].scope == SETTINGS_IN_PROFILE ? (void *)&cli
			       : t[i].scope == SETTINGS_IN_KEY	 ? (void *)k
			       : t[i].scope == SETTINGS_IN_SPA	 ? (void *)&srv.spa
			       : t[i].scope == SETTINGS_IN_FLEET ? (void *)&srv.fleet
								 : (void *)&srv;
			if (k && settings_apply_flag(&fl, base, err) < 0)
				check_message(err);
			else if (k && t[i].scope == SETTINGS_IN_SERVER)
				check_server(&srv);
			config_server_free(&srv);
			config_client_free(&cli);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	server(data, size);
	client(data, size, NULL);
	client(data, size, "b");
	values(data, size);
	return 0;
}
