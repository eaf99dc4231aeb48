/* SPDX-License-Identifier: MIT */
/*
 * net: the grammar of addresses on the command line and in config files:
 * host:port, [v6]:port, -L/-R/-D specs with TCP or Unix ends, host name
 * checks, and formatting back to the same text. Pure: no resolution, no
 * sockets, so the parsers can be fuzzed (fuzz/fuzz_spec.c).
 */
#include "util/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

enum {
	NET_FIELDS_MAX = 4, /* bind:port:host:hostport */
	QUOTE_PART = 40,    /* longest quoted fragment in a message */
	QUOTE_WHOLE = 64,   /* longest quoted whole spec in a message */
};

#define FORWARD_USAGE "expected [bind_address:]port:host:hostport"

/* One ':'-separated part of a spec; brackets already stripped. */
struct field {
	const char *p;
	size_t len;
	int bracketed;
	int is_path;
};

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, NET_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Specs come from command lines and config files; quote them shortened and
 * with control bytes replaced so a message stays one readable line.
 */
static const char *quote(char *buf, size_t size, const char *s, size_t len)
{
	size_t keep = len < size ? len : size - 1;
	size_t i;

	if (len >= size && size > 4)
		keep = size - 4;
	for (i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (keep < len && size > 4) {
		memcpy(buf + keep, "...", 3);
		keep += 3;
	}
	buf[keep] = '\0';
	return buf;
}

static int starts_path(const char *p)
{
	return p[0] == '/' || (p[0] == '.' && p[1] == '/');
}

/* Scan one field at *pp, leaving *pp on the ':' or NUL that ends it. */
static int scan_field(const char **pp, struct field *f, const char *whole, char *err)
{
	const char *p = *pp;
	char qw[QUOTE_WHOLE];

	memset(f, 0, sizeof(*f));
	f->p = p;
	if (starts_path(p)) {
		/* Paths may contain brackets; only ':' ends them. */
		f->is_path = 1;
		f->len = strcspn(p, ":");
		*pp = p + f->len;
		return 0;
	}
	if (*p == '[') {
		const char *end = p + 1 + strcspn(p + 1, "[]");
		if (*end != ']')
			return fail(err, "unbalanced '[' in '%s'",
				    quote(qw, sizeof(qw), whole, strlen(whole)));
		f->p = p + 1;
		f->len = (size_t)(end - f->p);
		f->bracketed = 1;
		if (end[1] != ':' && end[1] != '\0')
			return fail(err, "expected ':' after ']' in '%s'",
				    quote(qw, sizeof(qw), whole, strlen(whole)));
		*pp = end + 1;
		return 0;
	}
	f->len = strcspn(p, ":[]");
	if (p[f->len] == '[')
		return fail(err, "unexpected '[' in '%s'",
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	if (p[f->len] == ']')
		return fail(err, "unbalanced ']' in '%s'",
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	*pp = p + f->len;
	return 0;
}

/*
 * Split ${s} on ':' outside brackets. Returns the number of fields, at most
 * max + 1 (meaning "too many"; the caller knows the expected shape), or -1.
 */
static int split_fields(const char *s, struct field *f, int max, char *err)
{
	const char *p = s;
	int n = 0;

	for (;;) {
		if (n == max)
			return max + 1;
		if (scan_field(&p, &f[n], s, err) < 0)
			return -1;
		n++;
		if (*p == '\0')
			return n;
		p++;
	}
}

static int port_value(const char *s, size_t len, int allow_zero, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535 || (v == 0 && !allow_zero))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_port_field(const struct field *f, int allow_zero, uint16_t *port,
			    const char *whole, char *err)
{
	char qp[QUOTE_PART], qw[QUOTE_WHOLE];
	const char *range = allow_zero ? "0..65535" : "1..65535";

	if (f->len == 0 && !f->bracketed)
		return fail(err, "missing port in '%s'",
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	if (f->bracketed || port_value(f->p, f->len, allow_zero, port) < 0)
		return fail(err, "bad port '%s%s%s' in '%s' (expected %s)", f->bracketed ? "[" : "",
			    quote(qp, sizeof(qp), f->p, f->len), f->bracketed ? "]" : "",
			    quote(qw, sizeof(qw), whole, strlen(whole)), range);
	return 0;
}

int net_parse_port(const char *s, int allow_zero, uint16_t *port, char *err)
{
	char qp[QUOTE_PART];
	uint16_t v;

	if (!s || !port)
		return fail(err, "missing port");
	if (port_value(s, strlen(s), allow_zero, &v) < 0)
		return fail(err, "bad port '%s' (expected %s)", quote(qp, sizeof(qp), s, strlen(s)),
			    allow_zero ? "0..65535" : "1..65535");
	*port = v;
	return 0;
}

static int is_name_char(unsigned char c)
{
	return c < 0x80 && (isalnum(c) || c == '-' || c == '.' || c == '_');
}

static int check_name(const char *host, char *err)
{
	char qh[QUOTE_PART];
	const char *p;

	if (host[0] == '-' || host[0] == '.')
		return fail(err, "bad host name '%s' (starts with '%c')",
			    quote(qh, sizeof(qh), host, strlen(host)), host[0]);
	if (strstr(host, ".."))
		return fail(err, "bad host name '%s' (empty label)",
			    quote(qh, sizeof(qh), host, strlen(host)));
	for (p = host; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (is_name_char(c))
			continue;
		if (c >= 0x20 && c < 0x7f)
			return fail(err, "bad character '%c' in host '%s'", c,
				    quote(qh, sizeof(qh), host, strlen(host)));
		return fail(err, "bad character 0x%02x in host '%s'", c,
			    quote(qh, sizeof(qh), host, strlen(host)));
	}
	return 0;
}

int net_check_host(const char *host, char *err)
{
	char qh[QUOTE_PART];
	struct in_addr a4;
	struct in6_addr a6;
	size_t len;

	if (!host || !*host)
		return fail(err, "empty host");
	len = strlen(host);
	if (len > NET_HOST_MAX)
		return fail(err, "host name too long (max %d)", NET_HOST_MAX);
	if (strchr(host, ':')) {
		if (inet_pton(AF_INET6, host, &a6) == 1)
			return 0;
		return fail(err, "bad IPv6 address '%s'", quote(qh, sizeof(qh), host, len));
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return 0;
	/* The resolver would quietly read these as an address; make them spell it out. */
	if (inet_aton(host, &a4) != 0 || strspn(host, "0123456789.") == len)
		return fail(err, "bad IPv4 address '%s' (expected a.b.c.d)",
			    quote(qh, sizeof(qh), host, len));
	return check_name(host, err);
}

/* Copy a host field into ${out} and validate it; "*" only where ${allow_star}. */
static int parse_host_field(const struct field *f, char *out, int allow_star, const char *whole,
			    char *err)
{
	char qw[QUOTE_WHOLE], qp[QUOTE_PART], why[NET_ERR_MAX];
	struct in6_addr a6;

	if (f->len == 0 && !f->bracketed)
		return fail(err, "missing host in '%s'",
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	if (f->len > NET_HOST_MAX)
		return fail(err, "host too long (max %d) in '%s'", NET_HOST_MAX,
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	memcpy(out, f->p, f->len);
	out[f->len] = '\0';
	if (f->bracketed) {
		if (inet_pton(AF_INET6, out, &a6) == 1)
			return 0;
		return fail(err, "bad IPv6 address '[%s]' in '%s'",
			    quote(qp, sizeof(qp), f->p, f->len),
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	}
	if (allow_star && strcmp(out, "*") == 0)
		return 0;
	if (net_check_host(out, why) < 0)
		return fail(err, "%s in '%s'", why, quote(qw, sizeof(qw), whole, strlen(whole)));
	return 0;
}

static int parse_path_field(const struct field *f, char *out, const char *whole, char *err)
{
	char qw[QUOTE_WHOLE];
	size_t i;

	if (f->len > NET_PATH_MAX)
		return fail(err, "unix socket path too long (max %d bytes) in '%s'", NET_PATH_MAX,
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	if (f->p[f->len - 1] == '/')
		return fail(err, "unix socket path is a directory in '%s'",
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	for (i = 0; i < f->len; i++) {
		unsigned char c = (unsigned char)f->p[i];
		if (c < 0x20 || c == 0x7f)
			return fail(err, "control character in unix socket path in '%s'",
				    quote(qw, sizeof(qw), whole, strlen(whole)));
	}
	memcpy(out, f->p, f->len);
	out[f->len] = '\0';
	return 0;
}

static int parse_tcp_port(const struct field *host, const struct field *port,
			  struct net_endpoint *ep, int allow_star, int allow_zero, int allow_nohost,
			  const char *whole, char *err)
{
	if (host->len == 0 && allow_nohost) {
		/* A -R spec without a bind address: the server's policy picks one. */
		ep->host[0] = 0;
	} else if (parse_host_field(host, ep->host, allow_star, whole, err) < 0) {
		return -1;
	}
	return parse_port_field(port, allow_zero, &ep->port, whole, err);
}

static int parse_tcp(const struct field *host, const struct field *port, struct net_endpoint *ep,
		     int allow_star, const char *whole, char *err)
{
	return parse_tcp_port(host, port, ep, allow_star, 0, 0, whole, err);
}

static int parse_unix(const struct field *f, struct net_endpoint *ep, const char *whole, char *err)
{
	ep->is_unix = 1;
	return parse_path_field(f, ep->path, whole, err);
}

static int too_many_colons(const char *s, char *err)
{
	char qw[QUOTE_WHOLE];

	return fail(err, "too many ':' in '%s' (IPv6 addresses go in brackets: [::1]:22)",
		    quote(qw, sizeof(qw), s, strlen(s)));
}

static int parse_hostport(const char *s, struct net_endpoint *ep, const char *default_host,
			  int allow_zero, char *err)
{
	struct field f[2 + 1];
	char qw[QUOTE_WHOLE];
	int n;

	if (!s || !*s)
		return fail(err, "empty address (expected host:port)");
	n = split_fields(s, f, 2, err);
	if (n < 0)
		return -1;
	if (n > 2)
		return too_many_colons(s, err);
	if (n == 2) {
		if (parse_host_field(&f[0], ep->host, 0, s, err) < 0)
			return -1;
		return parse_port_field(&f[1], allow_zero, &ep->port, s, err);
	}
	if (strspn(s, "0123456789") != strlen(s))
		return fail(err, "missing port in '%s' (expected host:port)",
			    quote(qw, sizeof(qw), s, strlen(s)));
	if (!default_host)
		return fail(err, "missing host in '%s' (expected host:port)",
			    quote(qw, sizeof(qw), s, strlen(s)));
	if (strlen(default_host) > NET_HOST_MAX)
		return fail(err, "default host too long");
	snprintf(ep->host, sizeof(ep->host), "%s", default_host);
	return parse_port_field(&f[0], allow_zero, &ep->port, s, err);
}

int net_parse_hostport(const char *s, struct net_endpoint *ep, const char *default_host,
		       int allow_zero, char *err)
{
	if (!ep)
		return fail(err, "no endpoint to fill");
	memset(ep, 0, sizeof(*ep));
	if (parse_hostport(s, ep, default_host, allow_zero, err) == 0)
		return 0;
	memset(ep, 0, sizeof(*ep));
	return -1;
}

/* The listen side: a path, "port", or "bind:port"; returns how many fields it used. */
static int parse_listen(const struct field *f, int n, struct net_endpoint *ep, const char *whole,
			int remote, char *err)
{
	struct field bind = {"127.0.0.1", 9, 0, 0};
	if (remote)
		bind.len = 0;

	char qw[QUOTE_WHOLE];

	if (f[0].is_path)
		return parse_unix(&f[0], ep, whole, err) < 0 ? -1 : 1;
	/* "2222:host:22:extra" is one part too many, not a bad bind address. */
	if (n == 4 && !f[0].bracketed && f[0].len > 0 && strspn(f[0].p, "0123456789") >= f[0].len)
		return fail(err, FORWARD_USAGE " in '%s'",
			    quote(qw, sizeof(qw), whole, strlen(whole)));
	/* Listen port 0 lets the kernel pick; the listener logs the port it got. */
	if (n == 4 || (n == 3 && f[2].is_path))
		return parse_tcp_port(&f[0], &f[1], ep, 1, 1, remote, whole, err) < 0 ? -1 : 2;
	return parse_tcp_port(&bind, &f[0], ep, 0, 1, remote, whole, err) < 0 ? -1 : 1;
}

int net_parse_forward(const char *s, struct net_forward *fw, char *err)
{
	return net_parse_forward_ex(s, fw, 0, err);
}

int net_parse_forward_ex(const char *s, struct net_forward *fw, int remote, char *err)
{
	struct field f[NET_FIELDS_MAX + 1];
	char qw[QUOTE_WHOLE];
	int n, used;

	if (!fw)
		return fail(err, "no forward to fill");
	memset(fw, 0, sizeof(*fw));
	if (!s || !*s)
		return fail(err, "empty forward spec (" FORWARD_USAGE ")");
	n = split_fields(s, f, NET_FIELDS_MAX, err);
	if (n < 0)
		return -1;
	if (n < 2 || n > NET_FIELDS_MAX)
		return fail(err, FORWARD_USAGE " in '%s'", quote(qw, sizeof(qw), s, strlen(s)));
	used = parse_listen(f, n, &fw->listen, s, remote, err);
	if (used < 0)
		goto fail;
	if (n - used == 1 && f[used].is_path) {
		if (parse_unix(&f[used], &fw->target, s, err) < 0)
			goto fail;
		return 0;
	}
	if (n - used != 2 || f[used].is_path) {
		fail(err, FORWARD_USAGE " in '%s'", quote(qw, sizeof(qw), s, strlen(s)));
		goto fail;
	}
	if (parse_tcp(&f[used], &f[used + 1], &fw->target, 0, s, err) < 0)
		goto fail;
	return 0;
fail:
	memset(fw, 0, sizeof(*fw));
	return -1;
}

char *net_format_endpoint(const struct net_endpoint *ep, char *buf, size_t len)
{
	if (!buf || len == 0)
		return buf;
	if (!ep)
		snprintf(buf, len, "(none)");
	else if (ep->is_unix)
		snprintf(buf, len, "%s", ep->path);
	else if (strchr(ep->host, ':'))
		snprintf(buf, len, "[%s]:%u", ep->host, (unsigned)ep->port);
	else
		snprintf(buf, len, "%s:%u", ep->host, (unsigned)ep->port);
	return buf;
}

char *net_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return buf;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		snprintf(buf, len, "%s:%u", addr, (unsigned)ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		snprintf(buf, len, "[%s]:%u", addr, (unsigned)ntohs(in6->sin6_port));
	} else if (sa && sa->sa_family == AF_UNIX) {
		snprintf(buf, len, "unix");
	} else {
		snprintf(buf, len, "unknown");
	}
	return buf;
}

/* IPv4 is compared as its v4-mapped IPv6 form: both reach the same host. */
static int ip_bytes(const char *host, uint8_t out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET6, host, out) == 1)
		return 0;
	if (inet_pton(AF_INET, host, &a4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, &a4, 4);
	return 0;
}

int net_is_ip_literal(const char *host)
{
	uint8_t b[16];

	return host && ip_bytes(host, b) == 0;
}

/* Length without one trailing dot: "example.com." is the same name as "example.com". */
static size_t name_len(const char *s)
{
	size_t n = strlen(s);

	return (n > 1 && s[n - 1] == '.') ? n - 1 : n;
}

int net_host_equal(const char *a, const char *b)
{
	uint8_t ba[16], bb[16];
	size_t la, lb;

	if (!a || !b)
		return 0;
	if (ip_bytes(a, ba) == 0 && ip_bytes(b, bb) == 0)
		return memcmp(ba, bb, sizeof(ba)) == 0;
	la = name_len(a);
	lb = name_len(b);
	return la == lb && strncasecmp(a, b, la) == 0;
}
