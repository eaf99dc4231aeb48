/* SPDX-License-Identifier: MIT */
/*
 * tcpopt: the only place postern creates a TCP listener or outgoing
 * connection, so every one gets the socket options decided in tcpopt.h
 * (a non-pacing congestion control between loopback ends, v6-only IPv6
 * listeners) before it listens or connects.
 */
#define LOG_COMPONENT "net"
#include "util/tcpopt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

int tcpopt_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

/* cubic is the usual default and reno is always built in; neither paces. */
static void no_pacing(int fd)
{
	static const char *const algs[] = {"cubic", "reno"};
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, algs[i], strlen(algs[i])) == 0)
			return;
	log_debug("cannot choose a congestion control for a loopback socket error=%s",
		  log_q(strerror(errno)));
}

int tcpopt_listen(uv_tcp_t *t, const struct sockaddr *sa, int backlog, uv_connection_cb cb)
{
	int rc = uv_tcp_bind(t, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (rc != 0)
		return rc;
	uv_os_fd_t fd;
	if (tcpopt_is_loopback(sa) && uv_fileno((uv_handle_t *)t, &fd) == 0)
		no_pacing(fd);
	return uv_listen((uv_stream_t *)t, backlog, cb);
}

int tcpopt_connect(uv_connect_t *req, uv_tcp_t *t, const struct sockaddr *peer, uv_connect_cb cb)
{
	/* libuv would create the socket inside uv_tcp_connect(); we need it first. */
	int fd = socket(peer->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (tcpopt_is_loopback(peer))
		no_pacing(fd);
	int rc = uv_tcp_open(t, fd);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	return uv_tcp_connect(req, t, peer, cb);
}
