/* SPDX-License-Identifier: MIT */
/*
 * client: the session code of `postern client`, shared with `postern exec`
 * (cmd/exec.c), which runs a command once the forwards are open.
 */
#ifndef POSTERN_CMD_CLIENT_H
#define POSTERN_CMD_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct client;

struct client_hooks {
	const char *cmd;	   /* "exec": the subcommand, for messages */
	const char *usage;	   /* the usage line(s) of --help */
	const char *default_admit; /* the entrances' policy unless a profile or flag says */
	/* ready(arg, cl): the forwards are open, once, after the first session. */
	void (*ready)(void *arg, struct client *cl);
	/* stopping(arg): the client is shutting down (signal, failure, client_stop()). */
	void (*stopping)(void *arg);
	void *arg;
};

/*
 * client_run(argc, argv, h): `postern client` with ${h} (NULL: plain
 * client): parse the client options, keep the session, and return the
 * exit status once client_stop() or a signal ends it.
 */
int client_run(int argc, char **argv, const struct client_hooks *h);

/* client_stop(cl, code): close everything; client_run() returns ${code}. */
void client_stop(struct client *cl, int code);

/* client_loop(cl): the loop the client runs on. */
uv_loop_t *client_loop(struct client *cl);

/* client_forward_count(cl), client_forward_port(cl, i): -L then -D, in order; port 0 if
 * entrance ${i} is a Unix socket or not open. */
size_t client_forward_count(const struct client *cl);
uint16_t client_forward_port(const struct client *cl, size_t i);

/*
 * client_admit_root(cl, pid): same-process-tree now means ${pid} (at its
 * current start time), its descendants and our orphaned ones (the caller
 * made us a child subreaper). Returns 0 or -1.
 */
int client_admit_root(struct client *cl, pid_t pid);

#endif
