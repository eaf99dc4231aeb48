/* SPDX-License-Identifier: MIT */
/* keygen: `postern keygen -o FILE`: a new pre-shared key, never overwriting one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "util/keys.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: postern keygen -o FILE\n"
		   "\n"
		   "Write a new random 256-bit pre-shared key to FILE (mode 0600).\n"
		   "Refuses to overwrite an existing file. Copy the file to the server and\n"
		   "the client over a channel you trust.\n"
		   "\n"
		   "  -o, --output FILE   where to write the key\n"
		   "  -h, --help          this help\n");
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	char err[KEYS_ERR_MAX];
	int o;
	while ((o = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return 0;
		}
		if (o != 'o') {
			usage(stderr);
			return EXIT_USAGE;
		}
		out = optarg;
	}
	if (out == NULL || optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (keys_generate(out, err) != 0) {
		fprintf(stderr, "postern keygen: %s\n", err);
		return EXIT_RUNTIME;
	}
	char id[17];
	uint8_t psk[CRYPTO_KEY_LEN];
	if (keys_load(out, psk, err) == 0) {
		keys_id(psk, id);
		crypto_wipe(psk, sizeof(psk));
		fprintf(stderr, "wrote key %s to %s\n", id, out);
	}
	return 0;
}
