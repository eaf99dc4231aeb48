/* SPDX-License-Identifier: MIT */
/*
 * keygen: `postern keygen [-t psk|x25519] -o FILE` writes a new key, never
 * overwriting one; `postern pubkey FILE` prints the public line of a
 * private key again.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/keys.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: postern keygen [-t psk|x25519] -o FILE\n"
		   "\n"
		   "-t psk (the default): write a new random 256-bit pre-shared key to FILE\n"
		   "(mode 0600). Copy it to the server and the client over a channel you trust.\n"
		   "-t x25519: write a new key pair, the private key to FILE (0600) and the\n"
		   "public key to FILE.pub (0644, one line). Only the public line goes to the\n"
		   "other side. Refuses to overwrite an existing file.\n"
		   "\n"
		   "  -t, --type TYPE     psk or x25519\n"
		   "  -o, --output FILE   where to write the key\n"
		   "  -h, --help          this help\n");
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"type", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *type = "psk";
	char err[KEYS_ERR_MAX];
	int o;
	while ((o = getopt_long(argc, argv, "o:t:h", opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return 0;
		}
		if (o == 'o')
			out = optarg;
		else if (o == 't')
			type = optarg;
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (out == NULL || optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(type, "x25519") == 0) {
		uint8_t pub[CRYPTO_KEY_LEN];
		char line[KEYS_PUB_LINE_MAX];
		if (keys_generate_x25519(out, pub, err) != 0) {
			fprintf(stderr, "postern keygen: %s\n", err);
			return EXIT_RUNTIME;
		}
		keys_public_line(pub, line);
		fprintf(stderr, "wrote private key to %s and public key to %s.pub\n", out, out);
		printf("%s\n", line);
		return 0;
	}
	if (strcmp(type, "psk") != 0) {
		fprintf(stderr, "postern keygen: unknown key type '%.32s' (psk or x25519)\n", type);
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

int cmd_pubkey(int argc, char **argv)
{
	uint8_t key[CRYPTO_KEY_LEN], pub[CRYPTO_KEY_LEN];
	char err[KEYS_ERR_MAX], line[KEYS_PUB_LINE_MAX];
	enum keys_kind kind;
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 && strcmp(argv[1], "-h") == 0 ? stdout : stderr,
			"usage: postern pubkey FILE\n\nPrint the public key line of the X25519 "
			"private key in FILE.\n");
		return argc == 2 && strcmp(argv[1], "-h") == 0 ? 0 : EXIT_USAGE;
	}
	if (keys_load_any(argv[1], &kind, key, err) != 0) {
		fprintf(stderr, "postern pubkey: %s\n", err);
		return EXIT_RUNTIME;
	}
	int rc = kind == KEYS_X25519 ? crypto_dh_pub(key, pub) : -1;
	crypto_wipe(key, sizeof(key));
	if (rc != 0) {
		fprintf(stderr,
			"postern pubkey: %s is a pre-shared key, which has no public half\n",
			argv[1]);
		return EXIT_RUNTIME;
	}
	keys_public_line(pub, line);
	printf("%s\n", line);
	return 0;
}
