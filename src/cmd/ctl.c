/* SPDX-License-Identifier: MIT */
/*
 * ctl: `postern status`, `postern ctl` and `postern metrics`: one request to
 * the control socket of a running server or client, its answer on stdout.
 * The socket is --control PATH, or the `control` setting of -c FILE (a
 * server file, else a client file's PROFILE or first profile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "conf/client.h"
#include "conf/server.h"
#include "ctl/control.h"
#include "util/config.h"

enum { ANSWER_MAX = 64 << 20 };

static void usage(FILE *f)
{
	fprintf(f, "usage: postern status [--control PATH | -c FILE [PROFILE]] [--json]\n"
		   "       postern fw-list [--control PATH | -c FILE] [--json] [--kernel]\n"
		   "       postern metrics [--control PATH | -c FILE [PROFILE]]\n"
		   "       postern ctl [--control PATH | -c FILE [PROFILE]] REQUEST...\n"
		   "\n"
		   "REQUEST: forward -L|-R|-D SPEC, cancel -L|-R|-D SPEC (a client);\n"
		   "         bans, unban ADDR, grants [json] [kernel] (a server); reload;\n"
		   "         status [json]; metrics.\n"
		   "Exit 0 when the request succeeded, 1 when it failed, 2 on bad usage.\n");
}

/* control_of(file, profile, out): the control path a configuration file names. */
static int control_of(const char *file, const char *profile, char *out, size_t len)
{
	char err[CONFIG_ERR_MAX], err2[CONFIG_ERR_MAX];
	struct config_server s;
	struct config_client c;
	int rc = -1;

	config_server_defaults(&s);
	if (profile == NULL && conf_server_load(file, &s, err) == 0) {
		snprintf(out, len, "%s", s.control);
		rc = 0;
	}
	config_server_free(&s);
	if (rc == 0)
		goto found;
	config_client_defaults(&c);
	if (conf_client_load(file, profile, &c, err2) == 0) {
		snprintf(out, len, "%s", c.control);
		rc = 0;
	}
	config_client_free(&c);
	if (rc != 0) {
		fprintf(stderr, "postern: %s\n", profile != NULL ? err2 : err);
		return -1;
	}
found:
	if (out[0] == 0) {
		fprintf(stderr, "postern: %s sets no control socket (control = PATH)\n", file);
		return -1;
	}
	return 0;
}

/* run(argc, argv, verb): parse the shared options, then send ${verb} + the rest. */
static int run(int argc, char **argv, const char *verb)
{
	char path[CONFIG_PATH_MAX + 1] = "", line[CTL_LINE_MAX + 1] = "", err[512];
	const char *file = NULL, *profile = NULL;
	int json = 0, kernel = 0, i = 1;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
			snprintf(path, sizeof(path), "%s", argv[++i]);
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			file = argv[++i];
			if (i + 1 < argc && argv[i + 1][0] != '-' && verb != NULL &&
			    strcmp(verb, "ctl") != 0)
				profile = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0 && verb != NULL &&
			   (strcmp(verb, "status") == 0 || strcmp(verb, "grants") == 0)) {
			json = 1;
		} else if (strcmp(argv[i], "--kernel") == 0 && verb != NULL &&
			   strcmp(verb, "grants") == 0) {
			kernel = 1;
		} else {
			break;
		}
	}
	if (strcmp(verb, "ctl") == 0 ? i >= argc : i < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (path[0] == 0) {
		if (file == NULL) {
			fprintf(stderr, "postern %s: give --control PATH or -c FILE\n", verb);
			return EXIT_USAGE;
		}
		if (control_of(file, profile, path, sizeof(path)) != 0)
			return EXIT_RUNTIME;
	}
	if (strcmp(verb, "ctl") == 0) {
		size_t n = 0;
		for (; i < argc; i++) {
			int w = snprintf(line + n, sizeof(line) - n, "%s%s", n ? " " : "", argv[i]);
			if (w < 0 || (size_t)w >= sizeof(line) - n) {
				fprintf(stderr, "postern ctl: request too long\n");
				return EXIT_USAGE;
			}
			n += (size_t)w;
		}
	} else {
		snprintf(line, sizeof(line), "%s%s%s", verb, json ? " json" : "",
			 kernel ? " kernel" : "");
	}
	char *out = malloc(ANSWER_MAX);
	if (out == NULL) {
		fprintf(stderr, "postern: out of memory\n");
		return EXIT_RUNTIME;
	}
	int rc = ctl_request(path, line, out, ANSWER_MAX, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "postern %s: control socket %s\n", verb, err);
	else
		fputs(out, rc == 0 ? stdout : stderr);
	free(out);
	return rc == 0 ? 0 : EXIT_RUNTIME;
}

int cmd_status(int argc, char **argv)
{
	return run(argc, argv, "status");
}

/* fw-list: the server's live SPA grants, with time left (the `grants` request). */
int cmd_fwlist(int argc, char **argv)
{
	return run(argc, argv, "grants");
}

int cmd_metrics(int argc, char **argv)
{
	return run(argc, argv, "metrics");
}

int cmd_ctl(int argc, char **argv)
{
	return run(argc, argv, "ctl");
}
