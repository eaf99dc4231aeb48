/* SPDX-License-Identifier: MIT */
/*
 * keygen: `postern keygen [-t psk|x25519] [--passphrase] -o FILE` writes a
 * new key, never overwriting one; `postern pubkey FILE` prints the public
 * line of a private key again; `postern key encrypt|decrypt FILE` seals or
 * unseals a key file in place.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/keys.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: postern keygen [-t psk|x25519] [--passphrase] -o FILE\n"
		   "\n"
		   "-t psk (the default): write a new random 256-bit pre-shared key to FILE\n"
		   "(mode 0600). Copy it to the server and the client over a channel you trust.\n"
		   "-t x25519: write a new key pair, the private key to FILE (0600) and the\n"
		   "public key to FILE.pub (0644, one line). Only the public line goes to the\n"
		   "other side. Refuses to overwrite an existing file.\n"
		   "\n"
		   "--passphrase: encrypt the private file with a passphrase (scrypt and\n"
		   "ChaCha20-Poly1305), asked twice on the terminal unless a source is given.\n"
		   "\n"
		   "  -t, --type TYPE     psk or x25519\n"
		   "      --passphrase    encrypt the key at rest\n"
		   "      --passphrase-file FILE, --passphrase-env VAR, --askpass PROG\n"
		   "                      where the passphrase comes from (else the terminal;\n"
		   "                      POSTERN_ASKPASS names a default askpass program)\n"
		   "  -o, --output FILE   where to write the key\n"
		   "  -h, --help          this help\n");
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"type", required_argument, NULL, 't'},
	    {"passphrase", no_argument, NULL, 'P'},
	    {"passphrase-file", required_argument, NULL, 'F'},
	    {"passphrase-env", required_argument, NULL, 'E'},
	    {"askpass", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *type = "psk";
	struct pass_source src = {0};
	char err[KEYS_ERR_MAX], pass[PASS_MAX], why[PASS_ERR_MAX];
	int o, want_pass = 0, rc;
	while ((o = getopt_long(argc, argv, "o:t:h", opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return 0;
		}
		if (o == 'o')
			out = optarg;
		else if (o == 't')
			type = optarg;
		else if (o == 'P')
			want_pass = 1;
		else if (o == 'F')
			src.file = optarg;
		else if (o == 'E')
			src.env = optarg;
		else if (o == 'A')
			src.askpass = optarg;
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (out == NULL || optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(type, "x25519") != 0 && strcmp(type, "psk") != 0) {
		fprintf(stderr, "postern keygen: unknown key type '%.32s' (psk or x25519)\n", type);
		return EXIT_USAGE;
	}
	pass[0] = '\0';
	if (want_pass && pass_get(&src, "New passphrase: ", 1, pass, why) != 0) {
		fprintf(stderr, "postern keygen: %s\n", why);
		return EXIT_RUNTIME;
	}
	if (strcmp(type, "x25519") == 0) {
		uint8_t pub[CRYPTO_KEY_LEN];
		char line[KEYS_PUB_LINE_MAX];
		rc = keys_generate_x25519_pass(out, pub, want_pass ? pass : NULL, err);
		crypto_wipe(pass, sizeof(pass));
		if (rc != 0) {
			fprintf(stderr, "postern keygen: %s\n", err);
			return EXIT_RUNTIME;
		}
		keys_public_line(pub, line);
		fprintf(stderr, "wrote private key to %s and public key to %s.pub\n", out, out);
		printf("%s\n", line);
		return 0;
	}
	rc = keys_generate_pass(out, want_pass ? pass : NULL, err);
	crypto_wipe(pass, sizeof(pass));
	if (rc != 0) {
		fprintf(stderr, "postern keygen: %s\n", err);
		return EXIT_RUNTIME;
	}
	if (want_pass) {
		fprintf(stderr, "wrote encrypted key to %s\n", out);
		return 0;
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

int cmd_key(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"passphrase-file", required_argument, NULL, 'F'},
	    {"passphrase-env", required_argument, NULL, 'E'},
	    {"askpass", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct pass_source src = {0};
	char err[KEYS_ERR_MAX];
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'F')
			src.file = optarg;
		else if (o == 'E')
			src.env = optarg;
		else if (o == 'A')
			src.askpass = optarg;
		else {
			fprintf(o == 'h' ? stdout : stderr,
				"usage: postern key encrypt|decrypt [--passphrase-file FILE | "
				"--passphrase-env VAR | --askpass PROG] FILE\n\n"
				"Seal a key file with a passphrase (scrypt, ChaCha20-Poly1305), or "
				"store it plain again.\nThe file is replaced atomically and keeps "
				"mode 0600.\n");
			return o == 'h' ? 0 : EXIT_USAGE;
		}
	}
	if (argc - optind != 2 ||
	    (strcmp(argv[optind], "encrypt") != 0 && strcmp(argv[optind], "decrypt") != 0)) {
		fprintf(stderr, "usage: postern key encrypt|decrypt [options] FILE\n");
		return EXIT_USAGE;
	}
	int enc = strcmp(argv[optind], "encrypt") == 0;
	const char *path = argv[optind + 1];
	if ((enc ? keys_encrypt(path, &src, err) : keys_decrypt(path, &src, err)) != 0) {
		fprintf(stderr, "postern key: %s\n", err);
		return EXIT_RUNTIME;
	}
	fprintf(stderr, "%s %s\n", enc ? "encrypted" : "decrypted", path);
	return 0;
}
