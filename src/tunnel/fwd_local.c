/* SPDX-License-Identifier: MIT */
/*
 * fwd_local: -L and -D entrances. Binding happens before the loop serves
 * traffic, so name resolution here may block; accepted connections never do.
 */
#define LOG_COMPONENT "forward"
#include "tunnel/fwd_local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "guard/admit.h"
#include "tunnel/channel.h"
#include "util/log.h"
#include "util/tcpopt.h"

enum { FWD_MAX_ADDRS = 8 };

struct fwd_listener {
	union {
		uv_handle_t h;
		uv_stream_t st;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} u;
	struct fwd_local *owner;
	char name[NET_PATH_MAX + 16];
};

struct fwd_local {
	struct net_endpoint listen;
	struct net_endpoint target;
	int socks;
	fwd_session_cb get;
	void *arg;
	struct fwd_listener *ls[FWD_MAX_ADDRS];
	int n;
	int closing;
	char path[NET_PATH_MAX + 1]; /* a Unix socket we created, to unlink */
	struct admit_ctx *admit;     /* NULL: everyone is admitted */
	struct admit_policy policy;
	unsigned waiting; /* connections whose verdict is pending */
	uv_loop_t *loop;
};

/* A connection waiting for its verdict; it holds its own descriptor. */
struct fwd_wait {
	struct fwd_local *f;
	int fd, is_unix;
	char name[NET_PATH_MAX + 16];
};

static void on_listener_closed(uv_handle_t *h)
{
	struct fwd_listener *l = h->data;
	struct fwd_local *f = l->owner;
	free(l);
	if (--f->n == 0 && f->closing && f->waiting == 0)
		free(f);
}

void fwd_local_close(struct fwd_local *f)
{
	if (f == NULL)
		return;
	f->closing = 1;
	if (f->path[0] != 0)
		unlink(f->path);
	if (f->n == 0) {
		if (f->waiting == 0)
			free(f);
		return;
	}
	for (int i = 0; i < FWD_MAX_ADDRS; i++)
		if (f->ls[i] != NULL)
			uv_close(&f->ls[i]->u.h, on_listener_closed);
}

static void fill_entrance(struct fwd_local *f, const char *name, struct channel_entrance *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = f->socks ? ENTRANCE_SOCKS : ENTRANCE_FIXED;
	e->target = f->socks ? NULL : &f->target;
	e->name = name;
}

/* A refused connection gets a reset (SO_LINGER 0), like any refusal of ours. */
static void reset_fd(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void admitted(struct fwd_local *f, int fd, int is_unix, const char *name)
{
	struct channel_entrance e;
	fill_entrance(f, name, &e);
	if (channel_accept_fd(f->get(f->arg), f->loop, fd, is_unix, &e) != 0)
		log_warn("accept failed entrance=%s", log_q(name));
}

static void on_verdict(void *arg, int allowed)
{
	struct fwd_wait *w = arg;
	struct fwd_local *f = w->f;
	if (w->fd < 0) { /* could not keep the connection: nothing to admit */
		free(w);
		return;
	}
	f->waiting--;
	if (allowed && !f->closing)
		admitted(f, w->fd, w->is_unix, w->name);
	else
		reset_fd(w->fd);
	if (f->closing && f->n == 0 && f->waiting == 0)
		free(f);
	free(w);
}

/*
 * Called by channel_accept() between accept and the first byte relayed.
 * A verdict that takes longer (a /proc lookup, an approval program) keeps
 * its own duplicate of the descriptor, so the channel's handle can close
 * quietly; a refusal sets SO_LINGER 0 first, so that close is a reset.
 */
static int admit_now(void *arg, int fd)
{
	struct fwd_listener *l = arg;
	struct fwd_local *f = l->owner;
	int is_unix = l->u.h.type == UV_NAMED_PIPE;
	char target[NET_PATH_MAX + 16];
	const char *dest =
	    f->socks ? "socks" : net_format_endpoint(&f->target, target, sizeof(target));
	struct fwd_wait *w = calloc(1, sizeof(*w));
	if (w == NULL)
		goto refuse;
	w->f = f;
	w->is_unix = is_unix;
	snprintf(w->name, sizeof(w->name), "%s", l->name);
	int rc = admit_check(f->admit, &f->policy, fd, is_unix, l->name, dest, on_verdict, w);
	if (rc == 1) {
		free(w);
		return 1;
	}
	if (rc == 0) {
		w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (w->fd < 0) {
			/* The verdict will come; with no descriptor it resets nothing. */
			log_warn("connection failed entrance=%s error=%s", log_q(l->name),
				 log_q(strerror(errno)));
			w->fd = -1;
			goto refuse;
		}
		f->waiting++;
		return 0;
	}
	free(w);
refuse:;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct fwd_listener *l = server->data;
	struct fwd_local *f = l->owner;
	if (status < 0) {
		log_warn("accept failed entrance=%s error=%s", log_q(l->name),
			 log_q(uv_strerror(status)));
		return;
	}
	struct channel_entrance e;
	fill_entrance(f, l->name, &e);
	if (f->admit != NULL && !(f->policy.terms & ADMIT_ANY)) {
		e.admit = admit_now;
		e.admit_arg = l;
	}
	if (channel_accept(f->get(f->arg), server, &e) != 0)
		log_warn("accept failed entrance=%s", log_q(l->name));
}

static void log_listening(struct fwd_local *f, const char *name)
{
	char t[NET_PATH_MAX + 16];
	if (f->socks)
		log_info("listening addr=%s socks=4,4a,5", log_q(name));
	else
		log_info("listening addr=%s target=%s", log_q(name),
			 log_q(net_format_endpoint(&f->target, t, sizeof(t))));
}

static struct fwd_listener *new_listener(struct fwd_local *f)
{
	struct fwd_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->owner = f;
	f->ls[f->n++] = l;
	return l;
}

static int listen_tcp(uv_loop_t *loop, struct fwd_local *f, const struct sockaddr *sa, char *err)
{
	struct fwd_listener *l = new_listener(f);
	if (l == NULL) {
		snprintf(err, NET_ERR_MAX, "out of memory");
		return -1;
	}
	uv_tcp_init(loop, &l->u.tcp);
	l->u.h.data = l;
	net_format_sockaddr(sa, l->name, sizeof(l->name));
	int rc = tcpopt_listen(&l->u.tcp, sa, 511, on_connection);
	if (rc != 0) {
		snprintf(err, NET_ERR_MAX, "cannot listen on %s: %s", l->name, strerror(-rc));
		return -1;
	}
	/* Report the real port (the spec may have asked for port 0). */
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss, &len) == 0)
		net_format_sockaddr((struct sockaddr *)&ss, l->name, sizeof(l->name));
	log_listening(f, l->name);
	return 0;
}

/* stale_socket(path): 1 if ${path} is a socket nobody listens on any more. */
static int stale_socket(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return 0;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int stale = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int listen_unix(uv_loop_t *loop, struct fwd_local *f, char *err)
{
	const char *path = f->listen.path;
	struct fwd_listener *l = new_listener(f);
	if (l == NULL) {
		snprintf(err, NET_ERR_MAX, "out of memory");
		return -1;
	}
	uv_pipe_init(loop, &l->u.pipe, 0);
	l->u.h.data = l;
	snprintf(l->name, sizeof(l->name), "%s", path);
	if (stale_socket(path))
		unlink(path);
	int rc = uv_pipe_bind(&l->u.pipe, path);
	if (rc != 0) {
		snprintf(err, NET_ERR_MAX, "cannot listen on %s: %s", path,
			 rc == UV_EADDRINUSE ? "the path exists" : strerror(-rc));
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s", path);
	/* Only our own user may connect, like ssh's StreamLocalBindMask 0177. */
	if (chmod(path, 0600) != 0 || (rc = uv_listen(&l->u.st, 511, on_connection)) != 0) {
		snprintf(err, NET_ERR_MAX, "cannot listen on %s: %s", path,
			 rc ? strerror(-rc) : strerror(errno));
		return -1;
	}
	log_listening(f, path);
	return 0;
}

static int listen_all_tcp(uv_loop_t *loop, struct fwd_local *f, const struct addrinfo *addrs,
			  char *err)
{
	int rc = 0;
	if (addrs == NULL) {
		snprintf(err, NET_ERR_MAX, "no address to bind for '%s'", f->listen.host);
		return -1;
	}
	for (const struct addrinfo *a = addrs; a != NULL && f->n < FWD_MAX_ADDRS && rc == 0;
	     a = a->ai_next)
		rc = listen_tcp(loop, f, a->ai_addr, err);
	return rc;
}

struct fwd_local *fwd_local_open(uv_loop_t *loop, const struct net_endpoint *listen,
				 const struct addrinfo *addrs, const struct net_endpoint *target,
				 fwd_session_cb get, void *arg, char *err)
{
	struct fwd_local *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		snprintf(err, NET_ERR_MAX, "out of memory");
		return NULL;
	}
	f->listen = *listen;
	f->socks = target == NULL;
	if (target != NULL)
		f->target = *target;
	f->get = get;
	f->arg = arg;
	f->loop = loop;
	int rc = listen->is_unix ? listen_unix(loop, f, err) : listen_all_tcp(loop, f, addrs, err);
	if (rc != 0) {
		fwd_local_close(f);
		return NULL;
	}
	return f;
}

void fwd_local_set_admit(struct fwd_local *f, struct admit_ctx *ctx, const struct admit_policy *p)
{
	f->admit = ctx;
	f->policy = *p;
	admit_policy_resolve(&f->policy);
}

uint16_t fwd_local_port(const struct fwd_local *f)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (f == NULL || f->n == 0 || f->listen.is_unix ||
	    uv_tcp_getsockname(&f->ls[0]->u.tcp, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
