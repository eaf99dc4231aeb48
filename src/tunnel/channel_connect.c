/* SPDX-License-Identifier: MIT */
/*
 * channel_connect: the connecting side of a channel (the server for -L/-D,
 * the client for -R). Owns resolving without blocking the loop, trying each
 * address in turn, and answering the peer's OPEN with OPEN_OK or OPEN_FAIL;
 * from OPEN_OK on, the stream is channel.c's.
 */
#define LOG_COMPONENT "channel"
#include "tunnel/channel.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/channel_int.h"
#include "tunnel/session.h"
#include "util/log.h"
#include "util/tcpopt.h"

uint8_t channel_fail_code(int uv_err)
{
	switch (uv_err) {
	case UV_ECONNREFUSED:
		return FRAME_FAIL_REFUSED;
	case UV_ENETUNREACH:
		return FRAME_FAIL_NET_UNREACH;
	case UV_EHOSTUNREACH:
		return FRAME_FAIL_HOST_UNREACH;
	case UV_ETIMEDOUT:
		return FRAME_FAIL_TIMEDOUT;
	case UV_EADDRINUSE:
		return FRAME_FAIL_IN_USE;
	}
	return FRAME_FAIL_CONNECT;
}

static void open_fail(struct channel *c, uint8_t code, const char *msg)
{
	char e[FRAME_MAX_MSG + 64];
	snprintf(e, sizeof(e), "%s: %s", frame_fail_text(code), msg);
	log_peer(LOG_LVL_INFO, "open failed channel=%u target=%s error=%s", c->id, log_q(c->target),
		 log_q(e));
	c->state = CH_FAILED;
	c->close_sent = 1;
	if (c->s != NULL) {
		uint8_t f[FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG];
		session_send_frame(c->s, f, frame_open_fail(f, c->id, code, msg));
	}
	chan_drop_held(c);
	chan_close_local(c, 1);
	chan_maybe_free(c);
}

void channel_refuse(struct session *s, uint32_t chan, uint8_t code, const char *msg)
{
	uint8_t f[FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG];
	struct channel *c = chan_new(s);
	if (c != NULL) {
		c->id = chan;
		c->state = CH_FAILED;
		c->close_sent = 1;
		if (session_chan_add_peer(s, c, chan) != 0) {
			c->s = NULL;
			chan_maybe_free(c);
		}
	}
	session_send_frame(s, f, frame_open_fail(f, chan, code, msg));
}

static void on_connect(uv_connect_t *req, int status)
{
	struct channel *c = req->data;
	if (status == UV_ECANCELED || c->s == NULL) {
		chan_close_local(c, 1);
		return;
	}
	if (status < 0) {
		c->last_err = status;
		c->retrying = c->ai_next != NULL;
		if (c->retrying) {
			chan_close_local(c, 0);
			return;
		}
		/* libuv errors are negated errno values: say it as the C library does. */
		open_fail(c, channel_fail_code(status), strerror(-status));
		return;
	}
	if (c->close_rcvd) {
		/* The opener gave up while we were connecting. */
		chan_send_close(c, FRAME_CLOSE_RESET);
		chan_detach(c);
		chan_close_local(c, 1);
		return;
	}
	if (c->is_tcp)
		uv_tcp_nodelay(&c->local.tcp, 1);
	c->state = CH_OPEN;
	uint8_t f[FRAME_CHAN_HDR + 4];
	if (session_send_frame(c->s, f, frame_open_ok(f, c->id, CHANNEL_WINDOW)) != 0)
		return;
	log_debug("connected channel=%u target=%s", c->id, log_q(c->target));
	if (c->held_len > 0) {
		struct frame d = {
		    .type = FRAME_DATA, .chan = c->id, .data = c->held, .len = c->held_len};
		int eof = c->eof_rcvd;
		c->eof_rcvd = 0; /* on_data refuses data after EOF */
		chan_on_data(c, &d);
		c->eof_rcvd = eof;
		chan_drop_held(c);
		if (c->s == NULL)
			return;
	}
	chan_maybe_shutdown(c);
	chan_start_reading(c);
}

void chan_connect_next(struct channel *c)
{
	struct addrinfo *a = c->ai_next;
	if (a == NULL || uv_tcp_init(session_loop(c->s), &c->local.tcp) != 0) {
		open_fail(c, FRAME_FAIL_CONNECT, "no usable address");
		return;
	}
	c->ai_next = a->ai_next;
	c->local.h.data = c;
	c->local_init = 1;
	c->is_tcp = 1;
	c->conn.data = c;
	int rc = tcpopt_connect(&c->conn, &c->local.tcp, a->ai_addr, on_connect);
	if (rc != 0) {
		c->last_err = rc;
		c->retrying = c->ai_next != NULL;
		if (!c->retrying) {
			chan_close_local(c, 0);
			open_fail(c, channel_fail_code(rc), strerror(-rc));
			return;
		}
		chan_close_local(c, 0);
	}
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct channel *c = req->data;
	c->gai_pending = 0;
	c->ai = res;
	c->ai_next = res;
	if (c->s == NULL) {
		chan_maybe_free(c);
		return;
	}
	if (c->close_rcvd) {
		chan_send_close(c, FRAME_CLOSE_RESET);
		chan_detach(c);
		chan_maybe_free(c);
		return;
	}
	if (status < 0) {
		open_fail(c, FRAME_FAIL_RESOLVE, uv_strerror(status));
		return;
	}
	chan_connect_next(c);
}

static void connect_unix(struct channel *c)
{
	if (uv_pipe_init(session_loop(c->s), &c->local.pipe, 0) != 0) {
		open_fail(c, FRAME_FAIL_RESOURCE, "cannot create socket");
		return;
	}
	c->local.h.data = c;
	c->local_init = 1;
	c->conn.data = c;
	uv_pipe_connect(&c->conn, &c->local.pipe, c->dest.path, on_connect);
}

/*
 * An IP literal needs no resolver: skip the thread-pool round trip that
 * uv_getaddrinfo() costs, which dominates the time to open a channel.
 */
static int connect_literal(struct channel *c)
{
	struct sockaddr_storage *ss = calloc(1, sizeof(*ss));
	struct addrinfo *ai = calloc(1, sizeof(*ai));
	if (ss == NULL || ai == NULL)
		goto fail;
	if (uv_ip4_addr(c->dest.host, c->dest.port, (struct sockaddr_in *)ss) == 0)
		ai->ai_addrlen = sizeof(struct sockaddr_in);
	else if (uv_ip6_addr(c->dest.host, c->dest.port, (struct sockaddr_in6 *)ss) == 0)
		ai->ai_addrlen = sizeof(struct sockaddr_in6);
	else
		goto fail;
	ai->ai_addr = (struct sockaddr *)ss;
	ai->ai_family = ss->ss_family;
	c->lit = ai;
	c->ai_next = ai;
	chan_connect_next(c);
	return 0;
fail:
	free(ss);
	free(ai);
	return -1;
}

void channel_connect(struct session *s, uint32_t chan, uint32_t window,
		     const struct net_endpoint *target)
{
	struct channel *c = chan_new(s);
	char port[8];
	if (c == NULL) {
		uint8_t f[FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG];
		session_send_frame(s, f,
				   frame_open_fail(f, chan, FRAME_FAIL_RESOURCE, "out of memory"));
		return;
	}
	c->id = chan;
	c->state = CH_CONNECTING;
	c->tx_window = window;
	c->dest = *target;
	net_format_endpoint(target, c->target, sizeof(c->target));
	if (session_chan_add_peer(s, c, c->id) != 0) {
		c->s = NULL;
		chan_maybe_free(c);
		return;
	}
	if (target->is_unix) {
		connect_unix(c);
		return;
	}
	if (connect_literal(c) == 0)
		return;
	snprintf(port, sizeof(port), "%u", (unsigned)target->port);
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	c->gai.data = c;
	if (uv_getaddrinfo(session_loop(s), &c->gai, on_resolved, c->dest.host, port, &hints) !=
	    0) {
		open_fail(c, FRAME_FAIL_RESOLVE, "resolver unavailable");
		return;
	}
	c->gai_pending = 1;
}
