/* SPDX-License-Identifier: MIT */
/*
 * socks: the server half of SOCKS4, SOCKS4a and SOCKS5 (RFC 1928, CONNECT
 * only, no authentication) as spoken at a -D entrance. Pure: the caller
 * feeds the bytes received so far and sends what the parser asks it to.
 * Bounded: no request is longer than SOCKS_MAX_REQUEST bytes.
 */
#ifndef POSTERN_SOCKS_H
#define POSTERN_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	SOCKS_MAX_REQUEST = 520, /* 4a: 8 + 255 userid + NUL + 255 host + NUL */
	SOCKS_MAX_REPLY = 32,
	SOCKS_HOST_MAX = 255,
};

/* Final reply codes, mapped by socks_reply() to each version's wire value. */
enum socks_result {
	SOCKS_OK = 0,
	SOCKS_GENERAL_FAILURE,
	SOCKS_NOT_ALLOWED, /* policy refused the destination */
	SOCKS_NET_UNREACHABLE,
	SOCKS_HOST_UNREACHABLE, /* includes name resolution failure */
	SOCKS_CONN_REFUSED,
	SOCKS_CMD_UNSUPPORTED,
	SOCKS_ATYP_UNSUPPORTED,
};

/* Zero it before the first socks_parse() of a connection. */
struct socks_state {
	int version; /* 0 until known, then 4 or 5 */
	int phase;   /* internal */
};

struct socks_request {
	int version;		       /* 4 or 5 */
	char host[SOCKS_HOST_MAX + 1]; /* name, dotted IPv4, or IPv6 text without brackets */
	uint16_t port;
};

/*
 * socks_parse(st, in, len, reply, replylen, req): look at the ${len} bytes
 * received and not yet consumed. Returns the number of bytes consumed (> 0),
 * 0 if more bytes are needed (nothing consumed), or -1 if the input is
 * malformed or asks for something unsupported. After any return, if
 * *${replylen} > 0 the caller sends those bytes from ${reply}
 * (SOCKS_MAX_REPLY bytes) — e.g. the SOCKS5 method selection, or an error
 * reply before closing on -1. When the request is complete, ${req} is filled
 * and socks_done(st) is 1; the caller then opens the channel and answers with
 * socks_reply(). Bytes after the request belong to the application.
 * After consuming a SOCKS5 greeting, call again at once with the rest: the
 * request may already be there. Once done or after -1, it returns -1.
 */
ssize_t socks_parse(struct socks_state *st, const uint8_t *in, size_t len, uint8_t *reply,
		    size_t *replylen, struct socks_request *req);

/* socks_done(st): 1 once a complete CONNECT request was parsed. */
int socks_done(const struct socks_state *st);

/*
 * socks_reply(version, result, out): the final reply for ${version} (4 or 5)
 * with bound address 0.0.0.0:0. Returns its length (<= SOCKS_MAX_REPLY).
 */
size_t socks_reply(int version, enum socks_result result, uint8_t *out);

#endif
