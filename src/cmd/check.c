/* SPDX-License-Identifier: MIT */
/*
 * check: `postern check [server|client] ARGS` validates a configuration the
 * way `sshd -t` does: the same arguments the role takes, read through the
 * same code (conf/, the settings table) as a start or a SIGHUP reload, key
 * files included, and nothing bound or connected. Exit 0 when it would
 * start, 1 with the file:line message when it would not, 2 on bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "conf/client.h"
#include "conf/server.h"
#include "util/config.h"
#include "util/keys.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: postern check [server] -c FILE [server options]\n"
		   "       postern check client -c FILE [PROFILE] [client options]\n"
		   "\n"
		   "Read the configuration (and the key files it names) as `postern server`\n"
		   "or `postern client` would, report the first error with file:line, and\n"
		   "exit 0 if it would start, 1 if not. Nothing is bound or connected.\n");
}

static int check_server(int argc, char **argv)
{
	struct config_server c;
	char err[CONFIG_ERR_MAX];
	int log = 0, rc;

	config_server_defaults(&c);
	rc = conf_server_args(argc, argv, &c, &log, err);
	if (rc == 0)
		printf("%s: ok: %zu key(s), %zu listen address(es)\n",
		       c.file[0] != 0 ? c.file : "(flags)", c.nkeys, c.nlisten);
	else if (rc < 0)
		fprintf(stderr, "postern check: %s\n", err);
	config_server_free(&c);
	return rc == 1 ? (usage(stdout), 0) : rc == 0 ? 0 : EXIT_RUNTIME;
}

static int check_client(int argc, char **argv)
{
	struct config_client c;
	char err[CONFIG_ERR_MAX];
	int log = 0, rc;

	config_client_defaults(&c);
	rc = conf_client_args(argc, argv, &c, &log, err);
	if (rc == 0) {
		/* The client reads its key after the arguments; so does the check.
		 * Either kind: an x25519 key_file is a Noise IK profile. */
		uint8_t psk[CRYPTO_KEY_LEN];
		char why[KEYS_ERR_MAX];
		enum keys_kind kind;
		if (keys_load_any(c.key_file, &kind, psk, why) != 0) {
			snprintf(err, sizeof(err), "%s", why);
			rc = -1;
		}
		crypto_wipe(psk, sizeof(psk));
	}
	if (rc == 0)
		printf("%s: ok: %zu local, %zu remote, %zu dynamic forward(s)\n",
		       c.profile[0] != 0 ? c.profile : "(flags)", c.nlocal, c.nremote, c.ndynamic);
	else if (rc < 0)
		fprintf(stderr, "postern check: %s\n", err);
	config_client_free(&c);
	return rc == 1 ? (usage(stdout), 0) : rc == 0 ? 0 : EXIT_RUNTIME;
}

int cmd_check(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	/* argv[0] becomes the role, as the role's own parser expects. */
	if (strcmp(argv[1], "client") == 0)
		return check_client(argc - 1, argv + 1);
	if (strcmp(argv[1], "server") == 0)
		return check_server(argc - 1, argv + 1);
	argv[0] = "server";
	return check_server(argc, argv);
}
