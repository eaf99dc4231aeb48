/* SPDX-License-Identifier: MIT */
/*
 * access: `postern access`. Prints the access matrix of a server
 * configuration, or answers one request with --check, both through
 * guard/policy, the code the server enforces with. Key files are read only
 * to show each key's public id; one that does not load is reported, not
 * fatal, since the matrix is often wanted where the keys are not.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "conf/server.h"
#include "crypto/crypto.h"
#include "guard/policy.h"
#include "util/config.h"
#include "util/keys.h"

enum { NOTE_MAX = KEYS_ERR_MAX + 64 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: postern access -c FILE [--check KEY REQUEST]\n"
		"\n"
		"Print the access matrix of a server configuration: per key, what it may reach\n"
		"with -L/-D, listen on with -R, and which Unix sockets, defaults spelled out.\n"
		"\n"
		"  -c, --config FILE         server configuration (required)\n"
		"      --check KEY REQUEST   decide one request of key KEY instead: prints\n"
		"                            'allow: RULE' (exit 0) or 'deny: RULE' (exit 1).\n"
		"                            REQUEST is HOST:PORT (-L/-D), listen:[HOST:]PORT\n"
		"                            (-R; port 0 = allocate), unix:/PATH or\n"
		"                            listen-unix:/PATH\n"
		"  -h, --help                this help\n"
		"\n"
		"Exit status: 0 printed or allowed, 1 denied, 2 usage or configuration error.\n");
}

/* keys_load() names the file, which the matrix shows on its own row already. */
static const char *without_file(const char *why, const char *path)
{
	size_t n = strlen(path);

	if (strncmp(why, "key file ", 9) == 0 && strncmp(why + 9, path, n) == 0 &&
	    strncmp(why + 9 + n, ": ", 2) == 0)
		return why + 11 + n;
	return why;
}

/* Two stanzas sharing a key make the identity ambiguous; the server refuses that. */
static const char *same_key_as(const struct config_server *c, const int *loaded, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (loaded[j] && config_key_tunnel(&c->keys[j]) &&
		    crypto_memeq(c->keys[j].psk, c->keys[i].psk, CRYPTO_KEY_LEN))
			return c->keys[j].name;
	return NULL;
}

static void key_note(struct config_server *c, int *loaded, size_t i, char *note)
{
	struct config_key *k = &c->keys[i];
	char why[KEYS_ERR_MAX], id[17];
	const char *twin;

	if (!config_key_tunnel(k)) {
		snprintf(note, NOTE_MAX, "(fwknop knocks only, no tunnel)");
		return;
	}
	/* A public-key identity: its id is the start of its public key, as .pub files show it. */
	if (k->key_file_public && !k->has_public_key &&
	    keys_load_public(k->key_file, k->public_key, why) == 0)
		k->has_public_key = 1;
	if (k->key_file_public && !k->has_public_key) {
		snprintf(note, NOTE_MAX, "(public key file not loaded: %s)", why);
		return;
	}
	if (k->has_public_key) {
		char line[KEYS_PUB_LINE_MAX];
		keys_public_line(k->public_key, line);
		snprintf(note, NOTE_MAX, "x25519 %.16s", line + strlen("postern-x25519-pub-v1 "));
		return;
	}
	if (keys_load(k->key_file, k->psk, why) < 0) {
		snprintf(note, NOTE_MAX, "(key file not loaded: %s)",
			 without_file(why, k->key_file));
		return;
	}
	loaded[i] = 1;
	keys_id(k->psk, id);
	twin = same_key_as(c, loaded, i);
	if (twin)
		snprintf(note, NOTE_MAX, "%s (same key as [key %s]: the server refuses this)", id,
			 twin);
	else
		snprintf(note, NOTE_MAX, "%s", id);
}

static int print_matrix(struct config_server *c)
{
	char(*notes)[NOTE_MAX] = calloc(c->nkeys ? c->nkeys : 1, sizeof(*notes));
	const char **ptrs = calloc(c->nkeys ? c->nkeys : 1, sizeof(*ptrs));
	int *loaded = calloc(c->nkeys ? c->nkeys : 1, sizeof(*loaded));
	int rc = EXIT_RUNTIME;
	size_t i;

	if (notes && ptrs && loaded) {
		for (i = 0; i < c->nkeys; i++) {
			key_note(c, loaded, i, notes[i]);
			ptrs[i] = notes[i];
		}
		policy_print_matrix_notes(stdout, c, ptrs);
		rc = fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
	} else {
		fprintf(stderr, "postern access: out of memory\n");
	}
	free(notes);
	free(ptrs);
	free(loaded);
	return rc;
}

static int check(const struct config_server *c, const char *name, const char *request)
{
	char why[POLICY_WHY_MAX];
	int v = policy_check(c, name, request, why);

	if (v < 0) {
		fprintf(stderr, "postern access: --check %s %s: %s\n", name, request, why);
		return EXIT_USAGE;
	}
	printf("%s: %s\n", v ? "allow" : "deny", why);
	return v ? 0 : 1;
}

static const struct option access_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"check", required_argument, NULL, 'C'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct access_args {
	const char *config, *check_key, *request;
};

/* 0 to go on, 1 when --help was answered, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct access_args *a)
{
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", access_opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return 1;
		}
		if (o == 'c')
			a->config = optarg;
		else if (o == 'C')
			a->check_key = optarg;
		else
			return -1;
	}
	if (a->check_key && optind < argc)
		a->request = argv[optind++];
	if (a->check_key && !a->request) {
		fprintf(stderr, "postern access: --check needs KEY and REQUEST\n");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "postern access: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!a->config) {
		fprintf(stderr, "postern access: -c FILE is required\n");
		return -1;
	}
	return 0;
}

int cmd_access(int argc, char **argv)
{
	struct access_args a = {0};
	struct config_server c;
	char err[CONFIG_ERR_MAX];
	int rc = parse_args(argc, argv, &a);

	if (rc != 0) {
		if (rc < 0)
			usage(stderr);
		return rc > 0 ? 0 : EXIT_USAGE;
	}
	config_server_defaults(&c);
	if (conf_server_load(a.config, &c, err) != 0 || conf_server_load_identities(&c, err) != 0) {
		fprintf(stderr, "postern access: %s\n", err);
		config_server_free(&c);
		return EXIT_USAGE;
	}
	rc = a.check_key ? check(&c, a.check_key, a.request) : print_matrix(&c);
	config_server_free(&c);
	return rc;
}
