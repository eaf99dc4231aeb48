/* SPDX-License-Identifier: MIT */
/*
 * permit: the grammar of permit_open and permit_listen values, beside
 * guard/policy.c, which matches what this file produces. Everything here is
 * pure string work on values from a trusted config file or the command line;
 * messages quote values only as printable text, cut short.
 */
#include "guard/permit.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { QUOTE_MAX = 64 };

static const char *quote(char out[QUOTE_MAX + 4], const char *s)
{
	return config_quote(out, QUOTE_MAX, s);
}

#define PERMIT_USAGE "expected host:port, *:port, host:*, ADDR/BITS:port, /unix/path or any"
#define LISTEN_USAGE "expected [host:]port, [host:]*, /unix/path or any"

/* Which list a value is for: its name in messages and its grammar. */
struct permit_kind {
	const char *setting;
	const char *usage;
	int host_optional; /* permit_listen: "port" alone */
};

static const struct permit_kind open_kind = {"permit_open", PERMIT_USAGE, 0};
static const struct permit_kind listen_kind = {"permit_listen", LISTEN_USAGE, 1};

/* Split "host:port" or "[v6]:port" without copying; IPv6 only in brackets. */
static int split_permit(const struct permit_kind *kd, const char *s, char *host, const char **port,
			char *err)
{
	char q[QUOTE_MAX + 4];
	const char *colon;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return config_set_err(err, "%s '%s': unbalanced '['", kd->setting,
					      quote(q, s));
		if (close[1] != ':')
			return config_set_err(err, "%s '%s': %s", kd->setting, quote(q, s),
					      kd->usage);
		hlen = (size_t)(close - s - 1);
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon && kd->host_optional) {
			host[0] = '\0';
			*port = s;
			return 0;
		}
		if (!colon)
			return config_set_err(err, "%s '%s': missing port (%s)", kd->setting,
					      quote(q, s), kd->usage);
		if (strchr(colon + 1, ':'))
			return config_set_err(
			    err,
			    "%s '%s': too many ':' (IPv6 addresses go in brackets: "
			    "[::1]:22)",
			    kd->setting, quote(q, s));
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen > NET_HOST_MAX)
		return config_set_err(err, "%s '%s': %s host (%s)", kd->setting, quote(q, s),
				      hlen ? "too long a" : "missing", kd->usage);
	memcpy(host, s[0] == '[' ? s + 1 : s, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

/* A prefix length: plain decimal, no sign or leading zeros, at most ${max}. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (!*s || strlen(s) > 3 || (s[0] == '0' && s[1]))
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* 1 if any bit from ${bits} on is set in the ${len}-byte address ${a}. */
static int host_bits_set(const uint8_t *a, size_t len, unsigned bits)
{
	size_t i;

	for (i = bits / 8; i < len; i++) {
		uint8_t mask = i == bits / 8 ? (uint8_t)(0xff >> (bits % 8)) : 0xff;
		if (a[i] & mask)
			return 1;
	}
	return 0;
}

/*
 * "ADDR/BITS" in ${p->host}: IPv4 bare, IPv6 only in brackets (as for single
 * addresses). Leaves ${p->host} holding the address alone.
 */
static int parse_cidr(const char *s, struct config_permit *p, int bracketed, char *err)
{
	char q[QUOTE_MAX + 4];
	char *slash = strchr(p->host, '/');
	uint8_t a[16];
	unsigned bits, max;
	int v6 = bracketed;

	*slash = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, p->host, a) != 1)
		return config_set_err(err, "permit_open '%s': bad %s network address (%s)",
				      quote(q, s), v6 ? "IPv6" : "IPv4",
				      v6 ? "expected [V6ADDR/BITS]:port"
					 : "expected a.b.c.d/BITS:port");
	max = v6 ? 128 : 32;
	if (parse_prefix(slash + 1, max, &bits) < 0)
		return config_set_err(err, "permit_open '%s': bad prefix length (expected 0..%u)",
				      quote(q, s), max);
	if (host_bits_set(a, v6 ? 16 : 4, bits))
		return config_set_err(err, "permit_open '%s': address has bits set beyond /%u",
				      quote(q, s), bits);
	p->cidr = 1;
	p->prefix = (uint8_t)bits;
	return 0;
}

static int check_permit_host(const char *s, struct config_permit *p, int bracketed, char *err)
{
	char q[QUOTE_MAX + 4], why[NET_ERR_MAX];

	if (strchr(p->host, '/'))
		return parse_cidr(s, p, bracketed, err);
	if (bracketed) {
		if (strchr(p->host, ':') && net_is_ip_literal(p->host))
			return 0;
		return config_set_err(err, "permit_open '%s': bad IPv6 address in brackets",
				      quote(q, s));
	}
	if (strcmp(p->host, "*") == 0)
		return 0;
	if (net_check_host(p->host, why) < 0)
		return config_set_err(err, "permit_open '%s': %s", quote(q, s), why);
	return 0;
}

/* A bind address: '*', localhost or an IP literal; names would need the resolver. */
static int check_listen_host(const char *s, struct config_permit *p, int bracketed, char *err)
{
	char q[QUOTE_MAX + 4];

	if (bracketed) {
		if (strchr(p->host, ':') && net_is_ip_literal(p->host))
			return 0;
		return config_set_err(err, "permit_listen '%s': bad IPv6 address in brackets",
				      quote(q, s));
	}
	if (p->host[0] == '\0' || strcmp(p->host, "*") == 0 || strcmp(p->host, "localhost") == 0)
		return 0;
	if (net_is_ip_literal(p->host))
		return 0;
	return config_set_err(
	    err, "permit_listen '%s': bind address must be *, localhost or an IP address",
	    quote(q, s));
}

static int parse_permit_port(const struct permit_kind *kd, const char *s, const char *port,
			     struct config_permit *p, char *err)
{
	char q[QUOTE_MAX + 4];

	if (strcmp(port, "*") == 0)
		return 0;
	if (net_parse_port(port, 0, &p->port, NULL) == 0)
		return 0;
	return config_set_err(err, "%s '%s': bad port (expected 1..65535 or *)", kd->setting,
			      quote(q, s));
}

int permit_parse_open(const char *s, struct config_permit *p, int *any, char *err)
{
	const char *port = NULL;

	if (!s || !p || !any)
		return config_set_err(err, "permit_open: nothing to parse");
	memset(p, 0, sizeof(*p));
	*any = 0;
	if (strcmp(s, "any") == 0 || strcmp(s, "*:*") == 0) {
		*any = 1;
		p->host[0] = '*';
		return 0;
	}
	if (split_permit(&open_kind, s, p->host, &port, err) < 0 ||
	    check_permit_host(s, p, s[0] == '[', err) < 0 ||
	    parse_permit_port(&open_kind, s, port, p, err) < 0) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

int permit_parse_listen(const char *s, struct config_permit *p, int *any, char *err)
{
	const char *port = NULL;

	if (!s || !p || !any)
		return config_set_err(err, "permit_listen: nothing to parse");
	memset(p, 0, sizeof(*p));
	*any = 0;
	if (strcmp(s, "any") == 0 || strcmp(s, "*") == 0 || strcmp(s, "*:*") == 0) {
		*any = 1;
		p->host[0] = '*';
		return 0;
	}
	if (split_permit(&listen_kind, s, p->host, &port, err) < 0 ||
	    check_listen_host(s, p, s[0] == '[', err) < 0 ||
	    parse_permit_port(&listen_kind, s, port, p, err) < 0) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

/* "." and ".." components would let a glob's '*' climb out of its directory. */
const char *permit_check_unix_path(const char *s)
{
	size_t len, i;

	if (!s || s[0] != '/')
		return "not an absolute path";
	len = strlen(s);
	if (len > NET_PATH_MAX)
		return "path too long (max 107 bytes)";
	if (s[len - 1] == '/')
		return "path ends in '/'";
	/* Paths reach logs and the peer in refusals: printable ASCII only. */
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return "control or non-ASCII byte in path";
	for (i = 0; i < len; i++) {
		const char *c = s + i + 1;
		size_t n;
		if (s[i] != '/')
			continue;
		n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "'//', '.' and '..' are not allowed in paths";
	}
	return NULL;
}

int permit_parse_path(const char *setting, const char *s, struct config_permit *p, char *err)
{
	char q[QUOTE_MAX + 4];
	const char *why;

	if (!setting)
		setting = "permit_open";
	if (!s || !p)
		return config_set_err(err, "%s: nothing to parse", setting);
	memset(p, 0, sizeof(*p));
	why = permit_check_unix_path(s);
	if (why)
		return config_set_err(err, "%s '%s': %s", setting, quote(q, s), why);
	p->is_unix = 1;
	snprintf(p->path, sizeof(p->path), "%s", s);
	return 0;
}

static int append_permit(struct config_permit **arr, size_t *n, const struct config_permit *p,
			 const char *setting, char *err)
{
	if (config_grow((void **)arr, *n, sizeof(**arr)) < 0)
		return config_set_err(err, "%s: too many entries (max %d)", setting,
				      CONFIG_LIST_MAX);
	(*arr)[(*n)++] = *p;
	return 0;
}

int permit_add_open(struct config_key *k, const char *s, char *err)
{
	struct config_permit p;
	int any = 0;

	if (!k)
		return config_set_err(err, "permit_open: no key stanza");
	if (s && s[0] == '/') {
		if (permit_parse_path("permit_open", s, &p, err) < 0)
			return -1;
	} else if (permit_parse_open(s, &p, &any, err) < 0) {
		return -1;
	}
	if (any) {
		k->permit_any = 1;
		return 0;
	}
	return append_permit(&k->permit, &k->npermit, &p, "permit_open", err);
}

int permit_add_listen(struct config_key *k, const char *s, char *err)
{
	struct config_permit p;
	int any = 0;

	if (!k)
		return config_set_err(err, "permit_listen: no key stanza");
	if (s && s[0] == '/') {
		if (permit_parse_path("permit_listen", s, &p, err) < 0)
			return -1;
	} else if (permit_parse_listen(s, &p, &any, err) < 0) {
		return -1;
	}
	if (any) {
		k->permit_listen_any = 1;
		return 0;
	}
	return append_permit(&k->permit_listen, &k->npermit_listen, &p, "permit_listen", err);
}
