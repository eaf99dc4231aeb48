/* SPDX-License-Identifier: MIT */
/*
 * postern: secure port forwarding into closed networks. main() only picks
 * the subcommand; each lives in src/cmd/.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/log.h"

/* The Makefile passes it from debian/changelog, the one place the version lives. */
#ifndef POSTERN_VERSION
#error "POSTERN_VERSION is not defined: build with make"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"server", cmd_server, "accept tunnels; silent to anyone without a key"},
    {"client", cmd_client, "keep a tunnel to a server and forward ports through it"},
    {"connect", cmd_client, "alias of client"},
    {"exec", cmd_exec, "run a command through a tunnel only it (and its children) may use"},
    {"keygen", cmd_keygen, "write a new key: pre-shared, or an x25519 key pair"},
    {"pubkey", cmd_pubkey, "print the public key of an x25519 private key file"},
    {"key", cmd_key, "encrypt or decrypt a key file with a passphrase"},
    {"access", cmd_access, "print what each key may reach (the access matrix)"},
    {"check", cmd_check, "validate a configuration without running it (like sshd -t)"},
    {"status", cmd_status,
     "sessions, channels, bytes, bans, grants and fleet state of a running server or client"},
    {"ctl", cmd_ctl, "control a running client (forward, cancel) or server (bans, unban)"},
    {"metrics", cmd_metrics, "Prometheus metrics of a running server or client"},
    {"knock", cmd_knock, "send one knock (single packet authorization) that opens a server's port"},
    {"fw-list", cmd_fwlist, "the live SPA grants of a running server, with time left"},
    {"settings", cmd_settings, "print every setting: key, flag, range, default"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: postern COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`postern COMMAND --help` for each; `postern --version`.\n");
}

int main(int argc, char **argv)
{
	log_init("postern", LOG_LVL_INFO, 0);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("postern %s\n", POSTERN_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "postern: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
