/* SPDX-License-Identifier: MIT */
/*
 * control: the control socket of a running server or client (`postern
 * status`, `postern ctl`, `postern metrics`). A Unix stream socket, mode
 * 0600 (0660 with a group); each connection sends one request line and
 * reads one answer, then the server closes it. Protocol in
 * docs/PROTOCOL.md ("Control socket").
 */
#ifndef POSTERN_CONTROL_H
#define POSTERN_CONTROL_H

#include <stddef.h>
#include <uv.h>

enum {
	CTL_ARGS_MAX = 4,   /* words after the verb */
	CTL_WORD_MAX = 255, /* bytes in one word */
	CTL_LINE_MAX = 1024 /* the largest request_max */
};

enum ctl_verb {
	CTL_STATUS = 1, /* status [json] */
	CTL_METRICS,	/* metrics */
	CTL_BANS,	/* bans */
	CTL_UNBAN,	/* unban ADDR */
	CTL_FORWARD,	/* forward -L|-R|-D SPEC */
	CTL_CANCEL,	/* cancel -L|-R|-D SPEC */
	CTL_RELOAD,	/* reload (as SIGHUP) */
	CTL_GRANTS,	/* grants [json] [kernel]: live SPA grants (fw-list) */
};

struct ctl_request {
	enum ctl_verb verb;
	int json;   /* status json, grants json */
	int kernel; /* grants kernel: the firewall's own listing (nftables) */
	int nargs;
	char args[CTL_ARGS_MAX][CTL_WORD_MAX + 1];
};

/*
 * ctl_parse(line, len, req, err, errlen): one request line (without its
 * newline) of untrusted bytes: printable ASCII words separated by single
 * spaces, a known verb and its argument count. Pure. Returns 0, or -1 with
 * a message in ${err}.
 */
int ctl_parse(const char *line, size_t len, struct ctl_request *req, char *err, size_t errlen);

/* The answer being built: bounded by max_output; past it, text is dropped. */
struct ctl_out {
	char *buf;
	size_t len, max;
	int truncated;
};

/* ctl_printf(o, fmt, ...): append to the answer. Returns 0, or -1 once over max_output. */
int ctl_printf(struct ctl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * ctl_handler(arg, req, o): answer ${req} into ${o}. Returns 0 for "ok", or
 * -1 for "error" (the body then holds the message).
 */
typedef int (*ctl_handler)(void *arg, const struct ctl_request *req, struct ctl_out *o);

struct ctl_config {
	const char *path;     /* socket path; an existing socket file is replaced */
	long gid;	      /* -1: mode 0600; else group ${gid}, mode 0660 */
	unsigned max_clients; /* connections served at once; more are closed at once */
	size_t max_request;   /* bytes of a request line (<= CTL_LINE_MAX) */
	size_t max_output;    /* bytes of an answer */
	unsigned timeout_ms;  /* a connection that sends no full line in this time is closed */
};

struct ctl;

/*
 * ctl_open(loop, cfg, fn, arg, err, errlen): listen on cfg->path. Peers are
 * checked with SO_PEERCRED: root, the process's own uid, or (with a group)
 * a member of cfg->gid; anyone else is closed unanswered and logged.
 * Returns NULL with ${err} on failure.
 */
struct ctl *ctl_open(uv_loop_t *loop, const struct ctl_config *cfg, ctl_handler fn, void *arg,
		     char *err, size_t errlen);

/*
 * ctl_open_metrics(loop, sa, cfg, fn, arg, err, errlen): the optional
 * metrics_listen TCP listener on ${sa}: HTTP/1.0 `GET /metrics` answered by
 * ${fn} with a CTL_METRICS request, anything else 404; no peer check (bind
 * it to loopback or a monitoring network), the same bounds as ${cfg}
 * (path unused). Logs "metrics on http://ADDR:PORT/metrics".
 */
struct ctl *ctl_open_metrics(uv_loop_t *loop, const struct sockaddr *sa,
			     const struct ctl_config *cfg, ctl_handler fn, void *arg, char *err,
			     size_t errlen);

/* ctl_close(c): stop listening, close every connection, unlink the path. NULL is a no-op. */
void ctl_close(struct ctl *c);

/*
 * ctl_request(path, line, out, max, err, errlen): the client side (blocking):
 * send ${line}, read the answer (at most ${max} bytes) into ${out}, NUL
 * terminated. Returns 0 for "ok", 1 for "error", -1 if the socket could not
 * be used (${err}). ${out} holds the body only.
 */
int ctl_request(const char *path, const char *line, char *out, size_t max, char *err,
		size_t errlen);

#endif
