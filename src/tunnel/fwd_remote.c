/* SPDX-License-Identifier: MIT */
/*
 * fwd_remote: -R listeners on the server. Bind addresses reach us already
 * decided by policy (gateway_ports), so they are "*", IP literals or
 * "localhost": nothing here resolves names, and nothing blocks the loop.
 */
#define LOG_COMPONENT "forward"
#include "tunnel/fwd_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "tunnel/channel.h"
#include "tunnel/session.h"
#include "util/fdbudget.h"
#include "util/log.h"
#include "util/tcpopt.h"

struct fwd_remote {
	struct fwd_remote *next;
	struct session *s;
	uint32_t id;
	int is_unix;
	int nh, open_handles;
	int charged; /* nh descriptors taken from fdbudget */
	char name[NET_PATH_MAX + 16];
	char path[NET_PATH_MAX + 1];
	union {
		uv_handle_t h;
		uv_stream_t st;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h[2];
};

static void on_handle_closed(uv_handle_t *h)
{
	struct fwd_remote *r = h->data;
	if (--r->open_handles == 0)
		free(r);
}

static void close_one(struct fwd_remote *r)
{
	if (r->charged)
		fdbudget_charge(-(long)r->nh);
	r->charged = 0;
	if (r->is_unix && r->path[0] != 0)
		unlink(r->path);
	if (r->open_handles == 0) {
		free(r);
		return;
	}
	for (int i = 0; i < r->nh; i++)
		uv_close(&r->h[i].h, on_handle_closed);
}

void fwd_remote_close_all(struct fwd_remote **head)
{
	struct fwd_remote *r = *head;
	*head = NULL;
	while (r != NULL) {
		struct fwd_remote *next = r->next;
		log_info("remote forward closed session=%lu listen=%s", session_id(r->s),
			 log_q(r->name));
		close_one(r);
		r = next;
	}
}

static void close_session_remotes(struct session *s)
{
	fwd_remote_close_all(session_remotes(s));
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct fwd_remote *r = listener->data;
	if (status < 0) {
		log_warn("accept failed listen=%s error=%s", log_q(r->name),
			 log_q(uv_strerror(status)));
		return;
	}
	struct channel_entrance e = {.kind = ENTRANCE_REMOTE, .listen_id = r->id, .name = r->name};
	channel_accept(r->s, listener, &e);
}

static int bind_tcp(struct fwd_remote *r, uv_loop_t *loop, const struct sockaddr *sa)
{
	uv_tcp_t *t = &r->h[r->nh].tcp;
	uv_tcp_init(loop, t);
	t->data = r;
	r->nh++;
	r->open_handles++;
	return tcpopt_listen(t, sa, 511, on_connection);
}

static uint16_t bound_port_of(uv_tcp_t *t)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int open_tcp(struct fwd_remote *r, uv_loop_t *loop, const struct net_endpoint *b,
		    uint16_t *bound)
{
	struct sockaddr_storage a4, a6;
	const char *host = b->host;
	int rc, all = host[0] == 0 || strcmp(host, "*") == 0;
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (all) {
		/* IPv4 first; IPv6 then takes the same port, allocated or not. */
		uv_ip4_addr("0.0.0.0", b->port, (struct sockaddr_in *)&a4);
		if ((rc = bind_tcp(r, loop, (struct sockaddr *)&a4)) != 0)
			return rc;
		*bound = bound_port_of(&r->h[0].tcp);
		uv_ip6_addr("::", *bound, (struct sockaddr_in6 *)&a6);
		if (bind_tcp(r, loop, (struct sockaddr *)&a6) != 0)
			log_debug("no IPv6 listener listen=%s", log_q(r->name));
		return 0;
	}
	if (uv_ip4_addr(host, b->port, (struct sockaddr_in *)&a4) == 0)
		rc = bind_tcp(r, loop, (struct sockaddr *)&a4);
	else if (uv_ip6_addr(host, b->port, (struct sockaddr_in6 *)&a6) == 0)
		rc = bind_tcp(r, loop, (struct sockaddr *)&a6);
	else
		return UV_EINVAL;
	if (rc == 0)
		*bound = bound_port_of(&r->h[0].tcp);
	return rc;
}

static int open_unix(struct fwd_remote *r, uv_loop_t *loop, const struct net_endpoint *b)
{
	uv_pipe_t *p = &r->h[0].pipe;
	uv_pipe_init(loop, p, 0);
	p->data = r;
	r->nh = r->open_handles = 1;
	int rc = uv_pipe_bind(p, b->path);
	if (rc != 0)
		return rc;
	snprintf(r->path, sizeof(r->path), "%s", b->path);
	/* Like ssh's StreamLocalBindMask 0177: only the server's user may connect. */
	chmod(b->path, 0600);
	return uv_listen((uv_stream_t *)p, 511, on_connection);
}

int fwd_remote_open(struct session *s, uint32_t id, const struct net_endpoint *bind,
		    uint16_t *bound_port, int *uv_err, char *err)
{
	struct fwd_remote **head = session_remotes(s), *r;
	int n = 0;
	for (r = *head; r != NULL; r = r->next, n++) {
		if (r->id == id) {
			*uv_err = UV_EEXIST;
			snprintf(err, NET_ERR_MAX, "listen id %u already in use", (unsigned)id);
			return -1;
		}
	}
	if (n >= FWD_REMOTE_MAX) {
		*uv_err = UV_ENOBUFS;
		snprintf(err, NET_ERR_MAX, "too many remote forwards (max %d)", FWD_REMOTE_MAX);
		return -1;
	}
	/* A listener is a descriptor like a channel's: it comes out of the same
	 * budget, under the same share rule, so -R cannot exhaust the process. */
	struct session_stats st;
	session_get_stats(s, &st);
	if (!fdbudget_may_open(st.channels + (size_t)n * 2, channel_count())) {
		*uv_err = UV_EMFILE;
		snprintf(err, NET_ERR_MAX, "descriptor budget reached");
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*uv_err = UV_ENOMEM;
		snprintf(err, NET_ERR_MAX, "out of memory");
		return -1;
	}
	r->s = s;
	r->id = id;
	r->is_unix = bind->is_unix;
	net_format_endpoint(bind, r->name, sizeof(r->name));
	*bound_port = 0;
	int rc = r->is_unix ? open_unix(r, session_loop(s), bind)
			    : open_tcp(r, session_loop(s), bind, bound_port);
	if (rc != 0) {
		*uv_err = rc;
		snprintf(err, NET_ERR_MAX, "cannot listen on %s: %s", r->name, strerror(-rc));
		r->path[0] = 0; /* never unlink what we did not create */
		close_one(r);
		return -1;
	}
	if (!r->is_unix && bind->port == 0) {
		struct net_endpoint shown = *bind;
		shown.port = *bound_port;
		net_format_endpoint(&shown, r->name, sizeof(r->name));
	}
	fdbudget_charge(r->nh);
	r->charged = 1;
	r->next = *head;
	*head = r;
	session_on_close(s, close_session_remotes);
	return 0;
}
