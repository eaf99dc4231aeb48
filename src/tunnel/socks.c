/* SPDX-License-Identifier: MIT */
/*
 * socks: the server half of SOCKS4, SOCKS4a and SOCKS5 (RFC 1928), CONNECT
 * only. Every check looks only at bytes before the one that completes it and
 * runs in wire order, so the verdict is the same however the bytes are split
 * across calls: a prefix is either rejected by the first bad byte or asks for
 * more. Every field has a fixed bound, so no request, valid or not, needs more
 * than SOCKS_MAX_REQUEST bytes before the parser decides.
 */
#include "tunnel/socks.h"

#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "util/wire.h"

enum {
	PHASE_START = 0, /* nothing consumed yet: a v4 request or a v5 greeting */
	PHASE_V5_REQUEST,
	PHASE_DONE,
	PHASE_FAILED,
};

enum {
	CMD_CONNECT = 1,
	V4_HDR = 8,	    /* VN CD DSTPORT(2) DSTIP(4) */
	V4_FIELD_MAX = 255, /* userid or 4a host, without its NUL */
	V4_GRANTED = 0x5a,
	V4_REJECTED = 0x5b,
	V5_HDR = 4, /* VER CMD RSV ATYP */
	V5_ATYP_IPV4 = 1,
	V5_ATYP_DOMAIN = 3,
	V5_ATYP_IPV6 = 4,
	V5_METHOD_NONE = 0x00, /* "no authentication required" */
	V5_METHOD_REFUSED = 0xff,
};

/* RFC 1928 REP values in enum socks_result order; 0x06 (TTL expired) is unused. */
static const uint8_t v5_codes[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08};

size_t socks_reply(int version, enum socks_result result, uint8_t *out)
{
	size_t r = (size_t)result;

	if (version == 4) {
		/* VN is 0 in replies; DSTPORT and DSTIP are ignored by clients. */
		out[0] = 0;
		out[1] = result == SOCKS_OK ? V4_GRANTED : V4_REJECTED;
		memset(out + 2, 0, 6);
		return 8;
	}
	if (version == 5) {
		out[0] = 5;
		out[1] = r < sizeof(v5_codes) ? v5_codes[r] : v5_codes[SOCKS_GENERAL_FAILURE];
		out[2] = 0;
		out[3] = V5_ATYP_IPV4;
		memset(out + 4, 0, 6); /* BND.ADDR 0.0.0.0, BND.PORT 0 */
		return 10;
	}
	return 0;
}

int socks_done(const struct socks_state *st)
{
	return st->phase == PHASE_DONE;
}

/* fail: the request is refused for good; answer with ${result} if ${version} has a reply. */
static ssize_t fail(struct socks_state *st, int version, enum socks_result result, uint8_t *reply,
		    size_t *replylen)
{
	st->phase = PHASE_FAILED;
	*replylen = socks_reply(version, result, reply);
	return -1;
}

/* v5_method_reply: the two-byte METHOD selection message. */
static void v5_method_reply(uint8_t method, uint8_t *reply, size_t *replylen)
{
	reply[0] = 5;
	reply[1] = method;
	*replylen = 2;
}

/*
 * valid_name: a host name we pass on. A strict character set keeps NULs
 * (which would cut the name short of what policy saw), spaces, control bytes
 * and ':' (which would read as an IPv6 address or a port) out of logs, policy
 * checks and the resolver.
 */
static int valid_name(const uint8_t *p, size_t len)
{
	if (len == 0 || len > SOCKS_HOST_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
		if (!ok)
			return 0;
	}
	return 1;
}

/* finish_addr: fill ${req} with an address (AF_INET/AF_INET6 bytes) and mark the request parsed. */
static void finish_addr(struct socks_state *st, struct socks_request *req, int af,
			const uint8_t *addr, uint16_t port)
{
	memset(req, 0, sizeof(*req));
	req->version = st->version;
	req->port = port;
	/* Cannot fail: the family is valid and host is larger than any address text. */
	if (inet_ntop(af, addr, req->host, sizeof(req->host)) == NULL)
		req->host[0] = '\0';
	st->phase = PHASE_DONE;
}

/* finish_name: fill ${req} with a host name already checked by valid_name(). */
static void finish_name(struct socks_state *st, struct socks_request *req, const uint8_t *name,
			size_t len, uint16_t port)
{
	memset(req, 0, sizeof(*req));
	req->version = st->version;
	req->port = port;
	memcpy(req->host, name, len);
	req->host[len] = '\0';
	st->phase = PHASE_DONE;
}

/*
 * v4_field: find the NUL ending the field starting at ${off}. Returns the
 * field's length, -1 when more bytes are needed, -2 when V4_FIELD_MAX bytes
 * arrived without a NUL (the client is not speaking SOCKS4, or is abusive).
 */
static ssize_t v4_field(const uint8_t *in, size_t len, size_t off)
{
	size_t avail = len > off ? len - off : 0;
	size_t scan = avail < V4_FIELD_MAX + 1 ? avail : V4_FIELD_MAX + 1;
	const uint8_t *nul = scan > 0 ? memchr(in + off, 0, scan) : NULL;

	if (nul != NULL)
		return nul - (in + off);
	return avail > V4_FIELD_MAX ? -2 : -1;
}

/* VN(4) CD DSTPORT(2) DSTIP(4) USERID NUL, and for 4a (DSTIP 0.0.0.x, x != 0) HOST NUL. */
static ssize_t parse_v4(struct socks_state *st, const uint8_t *in, size_t len, uint8_t *reply,
			size_t *replylen, struct socks_request *req)
{
	if (len >= 2 && in[1] != CMD_CONNECT)
		return fail(st, 4, SOCKS_CMD_UNSUPPORTED, reply, replylen);
	if (len < V4_HDR)
		return 0;
	uint16_t port = load16_be(in + 2);
	const uint8_t *ip = in + 4;
	int is4a = ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
	/* 0.0.0.0 is neither a destination nor the 4a marker; on Linux it would mean localhost. */
	if (port == 0 || load32_be(ip) == 0)
		return fail(st, 4, SOCKS_GENERAL_FAILURE, reply, replylen);

	/* The userid is not used: there is no identd to check it against. */
	ssize_t ulen = v4_field(in, len, V4_HDR);
	if (ulen == -2)
		return fail(st, 4, SOCKS_GENERAL_FAILURE, reply, replylen);
	if (ulen < 0)
		return 0;
	size_t end = V4_HDR + (size_t)ulen + 1;
	if (!is4a) {
		finish_addr(st, req, AF_INET, ip, port);
		return (ssize_t)end;
	}

	ssize_t hlen = v4_field(in, len, end);
	if (hlen == -1)
		return 0;
	if (hlen < 0 || !valid_name(in + end, (size_t)hlen))
		return fail(st, 4, SOCKS_GENERAL_FAILURE, reply, replylen);
	finish_name(st, req, in + end, (size_t)hlen, port);
	return (ssize_t)(end + (size_t)hlen + 1);
}

/* VER(5) NMETHODS METHODS: we offer only "no authentication". */
static ssize_t parse_v5_greeting(struct socks_state *st, const uint8_t *in, size_t len,
				 uint8_t *reply, size_t *replylen)
{
	if (len < 2)
		return 0;
	size_t n = in[1];
	if (len < 2 + n)
		return 0;
	/* An empty list offers nothing we take. */
	if (n == 0 || memchr(in + 2, V5_METHOD_NONE, n) == NULL) {
		st->phase = PHASE_FAILED;
		v5_method_reply(V5_METHOD_REFUSED, reply, replylen);
		return -1;
	}
	st->phase = PHASE_V5_REQUEST;
	v5_method_reply(V5_METHOD_NONE, reply, replylen);
	return (ssize_t)(2 + n);
}

/*
 * v5_addr_len: the length of DST.ADDR as far as the bytes so far tell
 * (including the domain's length byte). Returns 0 when more bytes are
 * needed, or -1 with ${*why} set when the address type or length is refused.
 */
static ssize_t v5_addr_len(const uint8_t *in, size_t len, enum socks_result *why)
{
	switch (in[3]) {
	case V5_ATYP_IPV4:
		return 4;
	case V5_ATYP_IPV6:
		return 16;
	case V5_ATYP_DOMAIN:
		if (len < V5_HDR + 1)
			return 0;
		if (in[4] == 0) {
			*why = SOCKS_GENERAL_FAILURE;
			return -1;
		}
		return 1 + (ssize_t)in[4];
	}
	*why = SOCKS_ATYP_UNSUPPORTED;
	return -1;
}

/* VER(5) CMD RSV(0) ATYP DST.ADDR DST.PORT(2) */
static ssize_t parse_v5_request(struct socks_state *st, const uint8_t *in, size_t len,
				uint8_t *reply, size_t *replylen, struct socks_request *req)
{
	if (in[0] != 5)
		return fail(st, 5, SOCKS_GENERAL_FAILURE, reply, replylen);
	if (len >= 2 && in[1] != CMD_CONNECT)
		return fail(st, 5, SOCKS_CMD_UNSUPPORTED, reply, replylen);
	if (len >= 3 && in[2] != 0)
		return fail(st, 5, SOCKS_GENERAL_FAILURE, reply, replylen);
	if (len < V5_HDR)
		return 0;

	enum socks_result why = SOCKS_GENERAL_FAILURE;
	ssize_t alen = v5_addr_len(in, len, &why);
	if (alen < 0)
		return fail(st, 5, why, reply, replylen);
	size_t total = V5_HDR + (size_t)alen + 2;
	if (alen == 0 || len < total)
		return 0;

	const uint8_t *addr = in + V5_HDR;
	uint16_t port = load16_be(in + total - 2);
	int is_name = in[3] == V5_ATYP_DOMAIN;
	if (is_name && !valid_name(addr + 1, (size_t)alen - 1))
		return fail(st, 5, SOCKS_GENERAL_FAILURE, reply, replylen);
	if (port == 0)
		return fail(st, 5, SOCKS_GENERAL_FAILURE, reply, replylen);

	if (is_name)
		finish_name(st, req, addr + 1, (size_t)alen - 1, port);
	else
		finish_addr(st, req, in[3] == V5_ATYP_IPV4 ? AF_INET : AF_INET6, addr, port);
	return (ssize_t)total;
}

ssize_t socks_parse(struct socks_state *st, const uint8_t *in, size_t len, uint8_t *reply,
		    size_t *replylen, struct socks_request *req)
{
	*replylen = 0;
	/* Once decided, a connection is past SOCKS: anything more is the caller's mistake. */
	if (st->phase == PHASE_DONE || st->phase == PHASE_FAILED)
		return -1;
	if (len == 0)
		return 0;

	if (st->phase == PHASE_V5_REQUEST)
		return parse_v5_request(st, in, len, reply, replylen, req);
	if (st->phase != PHASE_START)
		return fail(st, 0, SOCKS_GENERAL_FAILURE, reply, replylen);
	if (in[0] == 4) {
		st->version = 4;
		return parse_v4(st, in, len, reply, replylen, req);
	}
	if (in[0] == 5) {
		st->version = 5;
		return parse_v5_greeting(st, in, len, reply, replylen);
	}
	/* Not SOCKS (perhaps HTTP or TLS): there is no reply format to answer in. */
	return fail(st, 0, SOCKS_GENERAL_FAILURE, reply, replylen);
}
