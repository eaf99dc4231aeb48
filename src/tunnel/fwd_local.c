/* SPDX-License-Identifier: MIT */
/*
 * fwd_local: -L listeners. Binding happens before the loop serves traffic,
 * so name resolution here may block; accepted connections never do.
 */
#include "tunnel/fwd_local.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/channel.h"
#include "util/log.h"

enum { FWD_MAX_ADDRS = 8 };

struct fwd_listener {
	uv_tcp_t tcp;
	struct fwd_local *owner;
	char name[80];
};

struct fwd_local {
	struct net_forward fw;
	fwd_session_cb get;
	void *arg;
	struct fwd_listener *ls[FWD_MAX_ADDRS];
	int n;
	int closing;
};

static void on_listener_closed(uv_handle_t *h)
{
	struct fwd_listener *l = h->data;
	struct fwd_local *f = l->owner;
	free(l);
	if (--f->n == 0 && f->closing)
		free(f);
}

void fwd_local_close(struct fwd_local *f)
{
	if (f == NULL)
		return;
	f->closing = 1;
	if (f->n == 0) {
		free(f);
		return;
	}
	for (int i = 0; i < FWD_MAX_ADDRS; i++)
		if (f->ls[i] != NULL)
			uv_close((uv_handle_t *)&f->ls[i]->tcp, on_listener_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct fwd_listener *l = server->data;
	struct fwd_local *f = l->owner;
	if (status < 0) {
		log_warn("accept on %s failed: %s", l->name, uv_strerror(status));
		return;
	}
	if (channel_accept_local(f->get(f->arg), server, &f->fw.target, l->name) != 0)
		log_warn("accept on %s failed", l->name);
}

static int listen_one(uv_loop_t *loop, struct fwd_local *f, const struct sockaddr *sa, char *err)
{
	struct fwd_listener *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, NET_ERR_MAX, "out of memory");
		return -1;
	}
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	l->owner = f;
	f->ls[f->n++] = l;
	net_format_sockaddr(sa, l->name, sizeof(l->name));
	/* v6-only, so "*" can hold 0.0.0.0 and :: on the same port. */
	int rc = uv_tcp_bind(&l->tcp, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
	if (rc != 0) {
		snprintf(err, NET_ERR_MAX, "cannot listen on %s: %s", l->name, strerror(-rc));
		return -1;
	}
	/* Report the real port (the spec may have asked for port 0). */
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
		net_format_sockaddr((struct sockaddr *)&ss, l->name, sizeof(l->name));
	char t[NET_HOST_MAX + 16];
	log_info("listening on %s for %s", l->name,
		 net_format_endpoint(&f->fw.target, t, sizeof(t)));
	return 0;
}

struct fwd_local *fwd_local_open(uv_loop_t *loop, const struct net_forward *fw, fwd_session_cb get,
				 void *arg, char *err)
{
	if (fw->listen.is_unix || fw->target.is_unix) {
		snprintf(err, NET_ERR_MAX, "Unix socket forwards are not supported in this version");
		return NULL;
	}
	struct fwd_local *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		snprintf(err, NET_ERR_MAX, "out of memory");
		return NULL;
	}
	f->fw = *fw;
	f->get = get;
	f->arg = arg;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)fw->listen.port);
	const char *host = strcmp(fw->listen.host, "*") == 0 ? NULL : fw->listen.host;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g != 0) {
		snprintf(err, NET_ERR_MAX, "cannot resolve bind address '%s': %s", fw->listen.host,
			 gai_strerror(g));
		free(f);
		return NULL;
	}
	int rc = 0;
	for (struct addrinfo *a = res; a != NULL && f->n < FWD_MAX_ADDRS && rc == 0; a = a->ai_next)
		rc = listen_one(loop, f, a->ai_addr, err);
	freeaddrinfo(res);
	if (rc != 0) {
		fwd_local_close(f);
		return NULL;
	}
	return f;
}
