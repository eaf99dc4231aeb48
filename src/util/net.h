/* SPDX-License-Identifier: MIT */
/*
 * net: parsing of endpoints and forward specs (pure, no I/O), and a few
 * socket helpers. An endpoint is a host (name, IPv4, or IPv6 in brackets)
 * and a port, or a Unix socket path.
 */
#ifndef POSTERN_NET_H
#define POSTERN_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	NET_HOST_MAX = 255, /* longest host name we accept (DNS limit) */
	NET_PATH_MAX = 107, /* sun_path minus the terminating NUL */
	NET_ERR_MAX = 160,  /* room for a parse error message */
};

struct net_endpoint {
	int is_unix;		     /* 1: ${path} is a Unix socket path */
	char host[NET_HOST_MAX + 1]; /* without brackets; "" = unspecified */
	uint16_t port;
	char path[NET_PATH_MAX + 1];
};

/* A forward spec: -L [bind_address:]port:host:hostport (or Unix paths). */
struct net_forward {
	struct net_endpoint listen;
	struct net_endpoint target;
};

/*
 * net_parse_hostport(s, ep, default_host, err): parse "host:port",
 * "[v6]:port", or "port" alone (host = ${default_host}, may be NULL to
 * require a host). Ports must be 1..65535 (0 allowed only if ${allow_zero}).
 * Returns 0, or -1 with a human-readable reason in ${err} (NET_ERR_MAX bytes).
 */
int net_parse_hostport(const char *s, struct net_endpoint *ep, const char *default_host,
		       int allow_zero, char *err);

/*
 * net_parse_forward(s, fw, err): parse a -L spec (a listen port of 0 asks
 * the kernel for a free port, which the listener then logs):
 *   [bind_address:]port:host:hostport   bind defaults to "127.0.0.1"
 *   /path/to/listen.sock:host:hostport  (a leading '/' or "./" means a Unix path)
 *   [bind_address:]port:/path/target.sock
 *   /path/listen.sock:/path/target.sock
 * IPv6 addresses in brackets: [::1]:2222:[::1]:22. Returns 0 or -1 with ${err}.
 */
int net_parse_forward(const char *s, struct net_forward *fw, char *err);

/*
 * net_parse_forward_ex(s, fw, remote, err): as net_parse_forward(); with
 * ${remote} (a -R spec) the listen port 0 asks the server to allocate, and a missing
 * bind address leaves listen.host empty, for the server's policy to decide.
 */
int net_parse_forward_ex(const char *s, struct net_forward *fw, int remote, char *err);

/*
 * net_format_endpoint(ep, buf, len): "host:port", "[v6]:port", or the path.
 * Returns buf.
 */
char *net_format_endpoint(const struct net_endpoint *ep, char *buf, size_t len);

/*
 * net_format_sockaddr(sa, buf, len): "1.2.3.4:5" or "[::1]:5" or "unix".
 * Returns buf.
 */
char *net_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

/*
 * net_check_host(host, err): 0 if ${host} is an acceptable host name
 * ([A-Za-z0-9._-], no empty labels), a dotted-quad IPv4 address, or a bare
 * (unbracketed) IPv6 address; -1 with a reason in ${err} (NET_ERR_MAX bytes).
 * Names the resolver would read as an IPv4 address in another notation
 * ("127.1", "0x7f000001") are refused so every address has one spelling.
 */
int net_check_host(const char *host, char *err);

/*
 * net_parse_port(s, allow_zero, port, err): a decimal port, 1..65535 (0 too
 * if ${allow_zero}). Returns 0, or -1 with a reason in ${err}.
 */
int net_parse_port(const char *s, int allow_zero, uint16_t *port, char *err);

/* net_is_ip_literal(host): 1 if ${host} parses as an IPv4 or IPv6 address. */
int net_is_ip_literal(const char *host);

/*
 * net_host_equal(a, b): 1 if ${a} and ${b} name the same host: IP literals
 * compare by address (so "::1" equals "0:0::1"), names case-insensitively.
 */
int net_host_equal(const char *a, const char *b);

#endif
