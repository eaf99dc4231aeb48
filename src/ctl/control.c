/* SPDX-License-Identifier: MIT */
/*
 * control: owns the control socket's listener, its connections (at most
 * max_clients, each with a deadline and a request buffer of max_request
 * bytes), the peer credential check, the pure request parser and the
 * blocking client used by `postern status` and `postern ctl`. What a
 * request does is the owner's handler (server.c, client.c).
 */
#include "ctl/control.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "util/log.h"

/* --- the parser (pure) --- */

static const struct {
	const char *word;
	enum ctl_verb verb;
	int min, max; /* argument counts */
} verbs[] = {
    {"status", CTL_STATUS, 0, 1}, {"metrics", CTL_METRICS, 0, 0}, {"bans", CTL_BANS, 0, 0},
    {"unban", CTL_UNBAN, 1, 1},	  {"forward", CTL_FORWARD, 2, 2}, {"cancel", CTL_CANCEL, 2, 2},
    {"reload", CTL_RELOAD, 0, 0}, {"grants", CTL_GRANTS, 0, 2},
};

int ctl_parse(const char *line, size_t len, struct ctl_request *req, char *err, size_t errlen)
{
	char words[CTL_ARGS_MAX + 1][CTL_WORD_MAX + 1];
	int n = 0;
	size_t w = 0;

	memset(req, 0, sizeof(*req));
	if (len == 0 || len > CTL_LINE_MAX) {
		snprintf(err, errlen, "empty or overlong request");
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i == len || line[i] == ' ') {
			if (w == 0) {
				snprintf(err, errlen, "empty word (one space between words)");
				return -1;
			}
			words[n][w] = 0;
			n++;
			w = 0;
			if (i < len && n > CTL_ARGS_MAX) {
				snprintf(err, errlen, "too many words");
				return -1;
			}
			continue;
		}
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x21 || ch > 0x7e) {
			snprintf(err, errlen, "request holds a byte that is not printable ASCII");
			return -1;
		}
		if (w == CTL_WORD_MAX) {
			snprintf(err, errlen, "word too long");
			return -1;
		}
		words[n][w++] = (char)ch;
	}
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (strcmp(words[0], verbs[v].word) != 0)
			continue;
		if (n - 1 < verbs[v].min || n - 1 > verbs[v].max) {
			snprintf(err, errlen, "%s takes %d to %d argument(s)", verbs[v].word,
				 verbs[v].min, verbs[v].max);
			return -1;
		}
		req->verb = verbs[v].verb;
		req->nargs = n - 1;
		for (int i = 1; i < n; i++)
			memcpy(req->args[i - 1], words[i], sizeof(words[i]));
		if (req->verb == CTL_STATUS && n == 2) {
			if (strcmp(words[1], "json") != 0) {
				snprintf(err, errlen, "%s takes only 'json'", words[0]);
				return -1;
			}
			req->json = 1;
		}
		for (int i = 1; req->verb == CTL_GRANTS && i < n; i++) {
			int *flag = strcmp(words[i], "json") == 0     ? &req->json
				    : strcmp(words[i], "kernel") == 0 ? &req->kernel
								      : NULL;
			if (flag == NULL || *flag) {
				snprintf(err, errlen,
					 "grants takes 'json' and 'kernel', once each");
				return -1;
			}
			*flag = 1;
		}
		if ((req->verb == CTL_FORWARD || req->verb == CTL_CANCEL) &&
		    strcmp(words[1], "-L") != 0 && strcmp(words[1], "-R") != 0 &&
		    strcmp(words[1], "-D") != 0) {
			snprintf(err, errlen, "%s takes -L, -R or -D and a spec", words[0]);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen,
		 "unknown request (status, metrics, bans, unban, forward, cancel, "
		 "reload, grants)");
	return -1;
}

int ctl_printf(struct ctl_out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->truncated)
		return -1;
	size_t room = o->max - o->len;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, room + 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > room) {
		o->truncated = 1;
		o->buf[o->len] = 0;
		return -1;
	}
	o->len += (size_t)n;
	return 0;
}

/* --- the socket --- */

struct ctl_conn {
	struct ctl *c;
	union {
		uv_handle_t h;
		uv_stream_t st;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} u;
	uv_timer_t timer;
	uv_write_t wr;
	char *req;
	size_t reqlen;
	char *answer;
	int answered, closing, handles;
	struct ctl_conn *next;
};

struct ctl {
	uv_loop_t *loop;
	union {
		uv_handle_t h;
		uv_stream_t st;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} lis;
	int http; /* the metrics_listen TCP listener: HTTP GET /metrics only */
	struct ctl_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler fn;
	void *arg;
	unsigned nconns;
	struct ctl_conn *conns;
	int closing, listener_closed;
};

static void conn_freed(uv_handle_t *h)
{
	struct ctl_conn *k = h->data;
	if (--k->handles > 0)
		return;
	struct ctl *c = k->c;
	for (struct ctl_conn **p = &c->conns; *p != NULL; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			break;
		}
	c->nconns--;
	free(k->req);
	free(k->answer);
	free(k);
	if (c->closing && c->nconns == 0 && c->listener_closed)
		free(c);
}

static void conn_close(struct ctl_conn *k)
{
	if (k->closing)
		return;
	k->closing = 1;
	uv_close((uv_handle_t *)&k->timer, conn_freed);
	uv_close(&k->u.h, conn_freed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

/*
 * answer_http(k, head, len): metrics_listen speaks just enough HTTP/1.0 for
 * a Prometheus scraper: GET /metrics gets the metrics, anything else 404.
 */
static void answer_http(struct ctl_conn *k, const char *head, size_t len)
{
	static const char get[] = "GET /metrics ";
	struct ctl *c = k->c;
	struct ctl_request req = {.verb = CTL_METRICS};
	struct ctl_out o = {.max = c->cfg.max_output};
	int ok = len >= sizeof(get) - 1 && memcmp(head, get, sizeof(get) - 1) == 0;
	k->answer = malloc(c->cfg.max_output + 128);
	if (k->answer == NULL) {
		conn_close(k);
		return;
	}
	o.buf = k->answer + 128;
	o.buf[0] = 0;
	if (ok && c->fn(c->arg, &req, &o) != 0)
		ok = 0;
	if (!ok)
		o.len = 0;
	char hdr[128];
	int hl = snprintf(hdr, sizeof(hdr),
			  "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			  ok ? "200 OK" : "404 Not Found", o.len);
	char *start = o.buf - hl;
	memcpy(start, hdr, (size_t)hl);
	uv_buf_t b = uv_buf_init(start, (unsigned)(o.len + (size_t)hl));
	k->wr.data = k;
	if (uv_write(&k->wr, &k->u.st, &b, 1, on_written) != 0)
		conn_close(k);
}

static void answer(struct ctl_conn *k, const char *line, size_t len)
{
	struct ctl *c = k->c;
	struct ctl_request req;
	char err[160];
	struct ctl_out o = {.max = c->cfg.max_output};
	int ok;

	k->answered = 1;
	uv_read_stop(&k->u.st);
	if (c->http) {
		answer_http(k, line, len);
		return;
	}
	k->answer = malloc(c->cfg.max_output + 64);
	if (k->answer == NULL) {
		conn_close(k);
		return;
	}
	/* The status line first, then the body. */
	o.buf = k->answer + 64;
	o.buf[0] = 0;
	if (ctl_parse(line, len, &req, err, sizeof(err)) != 0) {
		ok = -1;
		ctl_printf(&o, "%s\n", err);
	} else {
		ok = c->fn(c->arg, &req, &o);
	}
	char head[64];
	int hl = snprintf(head, sizeof(head), "%s%s\n", ok == 0 ? "ok" : "error",
			  o.truncated ? " truncated" : "");
	char *start = o.buf - hl;
	memcpy(start, head, (size_t)hl);
	uv_buf_t b = uv_buf_init(start, (unsigned)(o.len + (size_t)hl));
	k->wr.data = k;
	if (uv_write(&k->wr, &k->u.st, &b, 1, on_written) != 0)
		conn_close(k);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct ctl_conn *k = h->data;
	(void)hint;
	size_t room = k->c->cfg.max_request + 1 - k->reqlen;
	*buf = uv_buf_init(k->req + k->reqlen, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_conn *k = st->data;
	(void)buf;
	if (k->answered || k->closing)
		return;
	if (n < 0) {
		conn_close(k);
		return;
	}
	k->reqlen += (size_t)n;
	char *nl = memchr(k->req, '\n', k->reqlen);
	if (k->c->http) {
		/* The request line is enough; headers are not read. */
		if (nl != NULL || k->reqlen > k->c->cfg.max_request)
			answer(k, k->req, k->reqlen);
		return;
	}
	if (nl != NULL) {
		answer(k, k->req, (size_t)(nl - k->req));
		return;
	}
	if (k->reqlen > k->c->cfg.max_request)
		answer(k, k->req, k->reqlen); /* overlong: the parser says so */
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

/* peer_allowed(c, fd): root, our own uid, or a member of the group. */
static int peer_allowed(const struct ctl *c, int fd, char *who, size_t len)
{
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) != 0)
		return 0;
	snprintf(who, len, "uid %u pid %d", (unsigned)cr.uid, (int)cr.pid);
	if (cr.uid == 0 || cr.uid == geteuid())
		return 1;
	if (c->cfg.gid < 0)
		return 0;
	if ((long)cr.gid == c->cfg.gid)
		return 1;
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ctl *c = server->data;
	char who[64] = "?";
	if (status < 0)
		return;
	struct ctl_conn *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return;
	k->c = c;
	k->req = malloc(c->cfg.max_request + 1);
	if (c->http)
		uv_tcp_init(c->loop, &k->u.tcp);
	else
		uv_pipe_init(c->loop, &k->u.pipe, 0);
	uv_timer_init(c->loop, &k->timer);
	k->u.h.data = k->timer.data = k;
	k->handles = 2;
	k->next = c->conns;
	c->conns = k;
	c->nconns++;
	uv_os_fd_t fd = -1;
	if (k->req == NULL || uv_accept(server, &k->u.st) != 0 || uv_fileno(&k->u.h, &fd) != 0) {
		conn_close(k);
		return;
	}
	if (!c->http && !peer_allowed(c, fd, who, sizeof(who))) {
		log_peer(LOG_LVL_WARN, "connection refused peer=%s reason=%s", log_q(who),
			 log_q(c->cfg.gid >= 0 ? "not root, not our uid, not in the group"
					       : "not root, not our uid"));
		conn_close(k);
		return;
	}
	if (c->nconns > c->cfg.max_clients) {
		log_peer(LOG_LVL_WARN,
			 "connection refused peer=%s reason=control_max control_max=%u", log_q(who),
			 c->cfg.max_clients);
		conn_close(k);
		return;
	}
	uv_timer_start(&k->timer, on_timeout, c->cfg.timeout_ms, 0);
	uv_read_start(&k->u.st, on_alloc, on_read);
}

/* The last of the listener and the connections to go frees ${c}. */
static void listener_freed(uv_handle_t *h)
{
	struct ctl *c = h->data;
	c->listener_closed = 1;
	if (c->nconns == 0)
		free(c);
}

struct ctl *ctl_open(uv_loop_t *loop, const struct ctl_config *cfg, ctl_handler fn, void *arg,
		     char *err, size_t errlen)
{
	struct stat st;
	struct ctl *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->cfg = *cfg;
	c->fn = fn;
	c->arg = arg;
	if (c->cfg.max_request > CTL_LINE_MAX)
		c->cfg.max_request = CTL_LINE_MAX;
	if (strlen(cfg->path) >= sizeof(c->path)) {
		snprintf(err, errlen, "control %s: path too long", cfg->path);
		free(c);
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", cfg->path);
	/* A socket left by a dead process is replaced; anything else is not ours. */
	if (lstat(c->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control %s: exists and is not a socket", c->path);
			free(c);
			return NULL;
		}
		unlink(c->path);
	}
	uv_pipe_init(loop, &c->lis.pipe, 0);
	c->lis.h.data = c;
	/* The umask makes the socket 0600 from its first instant, not after a chmod. */
	mode_t old = umask(0177);
	int rc = uv_pipe_bind(&c->lis.pipe, c->path);
	umask(old);
	if (rc == 0 && cfg->gid >= 0 &&
	    (chown(c->path, (uid_t)-1, (gid_t)cfg->gid) != 0 || chmod(c->path, 0660) != 0))
		rc = uv_translate_sys_error(errno);
	if (rc == 0)
		rc = uv_listen(&c->lis.st, 16, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "control %s: %s", c->path, uv_strerror(rc));
		c->closing = 1;
		uv_close(&c->lis.h, listener_freed);
		return NULL;
	}
	log_info("control socket path=%s", log_q(c->path));
	return c;
}

struct ctl *ctl_open_metrics(uv_loop_t *loop, const struct sockaddr *sa,
			     const struct ctl_config *cfg, ctl_handler fn, void *arg, char *err,
			     size_t errlen)
{
	struct ctl *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->cfg = *cfg;
	c->fn = fn;
	c->arg = arg;
	c->http = 1;
	if (c->cfg.max_request > CTL_LINE_MAX)
		c->cfg.max_request = CTL_LINE_MAX;
	uv_tcp_init(loop, &c->lis.tcp);
	c->lis.h.data = c;
	int rc = uv_tcp_bind(&c->lis.tcp, sa, 0);
	if (rc == 0)
		rc = uv_listen(&c->lis.st, 16, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "metrics_listen: %s", uv_strerror(rc));
		c->closing = 1;
		uv_close(&c->lis.h, listener_freed);
		return NULL;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char host[64] = "?";
	uv_tcp_getsockname(&c->lis.tcp, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
	else
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
	log_info("metrics url=http://%s%s%s:%u/metrics", ss.ss_family == AF_INET6 ? "[" : "", host,
		 ss.ss_family == AF_INET6 ? "]" : "",
		 (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
	return c;
}

void ctl_close(struct ctl *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	if (!c->http)
		unlink(c->path);
	for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
		conn_close(k);
	uv_close(&c->lis.h, listener_freed);
}

/* --- the client side --- */

int ctl_request(const char *path, const char *line, char *out, size_t max, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = -1, rc = -1;
	size_t got = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	size_t ll = strlen(line);
	/* A refused peer is closed at once: EPIPE, never a SIGPIPE that kills the tool. */
	if (send(fd, line, ll, MSG_NOSIGNAL) != (ssize_t)ll ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		if (errno == EPIPE || errno == ECONNRESET) {
			snprintf(err, errlen, "%s: closed without an answer (refused?)", path);
			goto out;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (got + 1 >= max) {
			snprintf(err, errlen, "%s: answer larger than %zu bytes", path, max);
			goto out;
		}
		ssize_t n = read(fd, out + got, max - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET && got == 0) {
			snprintf(err, errlen, "%s: closed without an answer (refused?)", path);
			goto out;
		}
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	out[got] = 0;
	char *nl = strchr(out, '\n');
	if (nl == NULL) {
		snprintf(err, errlen, "%s: closed without an answer (refused?)", path);
		goto out;
	}
	rc = strncmp(out, "ok", 2) == 0 ? 0 : 1;
	memmove(out, nl + 1, strlen(nl + 1) + 1);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
