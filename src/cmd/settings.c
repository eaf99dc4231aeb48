/* SPDX-License-Identifier: MIT */
/*
 * settings: `postern settings [server|client]` prints the settings table
 * (scope, file key, flag, type, range, default, help; tab-separated), the
 * source later man pages and `postern check` are generated from.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "conf/settings.h"

int cmd_settings(int argc, char **argv)
{
	int server = 1, client = 1;

	if (argc > 2 ||
	    (argc == 2 && strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
		fprintf(stderr, "usage: postern settings [server|client]\n");
		return EXIT_USAGE;
	}
	if (argc == 2) {
		server = strcmp(argv[1], "server") == 0;
		client = !server;
	}
	if (server)
		settings_print(SETTINGS_SERVER, stdout);
	if (client)
		settings_print(SETTINGS_CLIENT, stdout);
	return 0;
}
