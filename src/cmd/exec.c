/* SPDX-License-Identifier: MIT */
/*
 * exec: `postern exec [client options] -- CMD ARGS`. It owns the command's
 * life: once the client's forwards are open (port 0 picks a free port) it
 * exports POSTERN_PORT (and POSTERN_PORT_1.. when there are several),
 * expands $POSTERN_PORT in CMD's arguments, runs CMD, admits only CMD's
 * process tree (we are a child subreaper, so a descendant that double-forks
 * stays below us), and exits with CMD's status, tearing the tunnel down.
 * The session itself is cmd/client.c's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <uv.h>

#include "cmd/client.h"
#include "cmd/cmd.h"
#include "util/log.h"

enum { EXEC_MAX_PORTS = 64, EXEC_ARG_MAX = 65536 };

struct exec_state {
	char **cmd; /* CMD ARGS, NULL-terminated */
	int ncmd;
	uv_process_t proc;
	int started, running, status;
	struct client *cl;
};

static void on_cmd_closed(uv_handle_t *h)
{
	(void)h;
}

static void on_cmd_exit(uv_process_t *p, int64_t status, int sig)
{
	struct exec_state *x = p->data;
	x->running = 0;
	/* Like a shell: a command killed by signal N exits 128 + N. */
	x->status = sig != 0 ? 128 + sig : (int)status;
	log_info("command exited command=%s status=%d", log_q(x->cmd[0]), x->status);
	uv_close((uv_handle_t *)p, on_cmd_closed);
	client_stop(x->cl, x->status);
}

/* ${arg} with $POSTERN_PORT, ${POSTERN_PORT}, $POSTERN_PORT_N replaced; NULL on overflow. */
static char *expand(const char *arg, const uint16_t *ports, size_t n)
{
	size_t cap = strlen(arg) + 1 + 16 * n + 64, used = 0;
	if (cap > EXEC_ARG_MAX)
		return NULL;
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	for (const char *c = arg; *c != 0;) {
		const char *name = NULL;
		int braced = 0;
		if (strncmp(c, "${POSTERN_PORT", 14) == 0) {
			name = c + 14;
			braced = 1;
		} else if (strncmp(c, "$POSTERN_PORT", 13) == 0) {
			name = c + 13;
		}
		if (name == NULL) {
			if (used + 1 >= cap)
				goto fail;
			out[used++] = *c++;
			continue;
		}
		size_t idx = 0;
		const char *e = name;
		if (*e == '_' && e[1] >= '1' && e[1] <= '9') {
			e++;
			while (*e >= '0' && *e <= '9' && idx < 100000)
				idx = idx * 10 + (size_t)(*e++ - '0');
		}
		if (braced && *e != '}') {
			out[used++] = *c++; /* not ours: copy the '$' and go on */
			continue;
		}
		unsigned port = idx == 0 ? (n > 0 ? ports[0] : 0) : (idx <= n ? ports[idx - 1] : 0);
		int w = snprintf(out + used, cap - used, "%u", port);
		if (w < 0 || (size_t)w >= cap - used)
			goto fail;
		used += (size_t)w;
		c = e + braced;
	}
	out[used] = 0;
	return out;
fail:
	free(out);
	return NULL;
}

static void ready(void *arg, struct client *cl)
{
	struct exec_state *x = arg;
	uint16_t ports[EXEC_MAX_PORTS];
	char name[32], val[16];
	size_t n = client_forward_count(cl);
	if (n > EXEC_MAX_PORTS)
		n = EXEC_MAX_PORTS;
	x->cl = cl;
	for (size_t i = 0; i < n; i++) {
		ports[i] = client_forward_port(cl, i);
		snprintf(val, sizeof(val), "%u", (unsigned)ports[i]);
		if (i == 0)
			setenv("POSTERN_PORT", val, 1);
		if (n > 1) {
			snprintf(name, sizeof(name), "POSTERN_PORT_%zu", i + 1);
			setenv(name, val, 1);
		}
	}
	char **args = calloc((size_t)x->ncmd + 1, sizeof(*args));
	int ok = args != NULL;
	for (int i = 0; ok && i < x->ncmd; i++)
		ok = (args[i] = expand(x->cmd[i], ports, n)) != NULL;
	int rc = UV_ENOMEM;
	if (ok) {
		uv_process_options_t o = {
		    .exit_cb = on_cmd_exit,
		    .file = args[0],
		    .args = args,
		    .stdio_count = 3,
		    .stdio = (uv_stdio_container_t[3]){{.flags = UV_INHERIT_FD, .data.fd = 0},
						       {.flags = UV_INHERIT_FD, .data.fd = 1},
						       {.flags = UV_INHERIT_FD, .data.fd = 2}},
		};
		x->proc.data = x;
		rc = uv_spawn(client_loop(cl), &x->proc, &o);
	}
	for (int i = 0; args != NULL && i < x->ncmd; i++)
		free(args[i]);
	free(args);
	if (rc != 0) {
		log_error("cannot run command=%s error=%s", log_q(x->cmd[0]),
			  log_q(uv_strerror(rc)));
		if (ok)
			uv_close((uv_handle_t *)&x->proc, on_cmd_closed);
		x->status = 127;
		x->started = 1;
		client_stop(cl, 127);
		return;
	}
	x->started = x->running = 1;
	if (client_admit_root(cl, x->proc.pid) != 0)
		log_debug("command exited before its start time was read command=%s",
			  log_q(x->cmd[0]));
}

static void stopping(void *arg)
{
	struct exec_state *x = arg;
	/* The tunnel is going away (a signal, a failure): so does the command. */
	if (x->running)
		uv_process_kill(&x->proc, SIGTERM);
}

static const char exec_usage[] =
    "usage: postern exec [-c FILE [PROFILE]] [-k KEYFILE] [-L SPEC]... [options]\n"
    "                    [SERVER:PORT] -- CMD [ARG]...\n"
    "\n"
    "Open the forwards (port 0 picks a free port), run CMD with POSTERN_PORT (and\n"
    "POSTERN_PORT_1.. for several forwards) in its environment and $POSTERN_PORT\n"
    "expanded in its arguments, admit only CMD and its descendants (unless --admit\n"
    "says otherwise), and exit with CMD's status.\n";

int cmd_exec(int argc, char **argv)
{
	struct exec_state x = {0};
	int split = -1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			split = i;
			break;
		}
	struct client_hooks h = {
	    .cmd = "exec",
	    .usage = exec_usage,
	    .default_admit = "same-process-tree",
	    .ready = ready,
	    .stopping = stopping,
	    .arg = &x,
	};
	if (split < 0 || split == argc - 1) {
		for (int i = 1; i < argc && split < 0; i++)
			if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
				return client_run(argc, argv, &h); /* prints the options, exits 0 */
		fputs(exec_usage, stderr);
		fprintf(stderr, "postern exec: no command: give -- CMD [ARG]...\n");
		return EXIT_USAGE;
	}
	x.cmd = argv + split + 1;
	x.ncmd = argc - split - 1;
	/* Orphans of CMD's tree are re-parented to us, so they stay in the tree. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		log_warn("PR_SET_CHILD_SUBREAPER failed: a double-forked descendant of the command "
			 "will be refused command=%s",
			 x.cmd[0]);
	int rc = client_run(split, argv, &h);
	return x.started ? x.status : rc;
}
