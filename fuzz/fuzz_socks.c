/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for socks_parse(): it reads the first bytes of every -D
 * connection, before anything about the peer is known, so any local program
 * can reach it. The input is one client byte stream, run through a loop that
 * behaves like the entrance (a buffer of SOCKS_MAX_REQUEST bytes, replies
 * sent, consumed bytes dropped, stop on -1 or done) three times: in one
 * piece, byte by byte, and in chunks whose sizes come from the input. Beyond
 * memory safety it checks the caller's contract on every call, that a parsed
 * request is sane, and that all three runs agree, since a socket may split
 * the bytes anywhere.
 *
 * make build/fuzz/fuzz_socks && build/fuzz/fuzz_socks fuzz/corpus/socks
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "tunnel/socks.h"

enum { MAX_REPLIES = 4 };

struct outcome {
	int result; /* 1 done, -1 refused, 0 the stream ended first */
	uint8_t reply[MAX_REPLIES * SOCKS_MAX_REPLY];
	size_t replylen;
	size_t consumed;
	int version;
	struct socks_request req;
};

/* A broken invariant: stop loudly so libFuzzer reports the input. */
static void require(int cond)
{
	if (!cond)
		abort();
}

/* host_char: what a parsed host may contain (a name, dotted IPv4 or IPv6 text). */
static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || c == ':';
}

static void check_request(const struct socks_request *req, int version)
{
	size_t len = strnlen(req->host, sizeof(req->host));
	uint8_t addr[16];

	require(req->version == version && (version == 4 || version == 5));
	require(req->port != 0);
	require(len > 0 && len < sizeof(req->host));
	for (size_t i = 0; i < len; i++)
		require(host_char(req->host[i]));
	/* A colon only ever comes from an IPv6 address, and must read back as one. */
	if (memchr(req->host, ':', len) != NULL)
		require(version == 5 && inet_pton(AF_INET6, req->host, addr) == 1);
}

/* check_reply: each reply is one the protocol of ${version} knows. */
static void check_reply(int version, const uint8_t *r, size_t rl)
{
	require(rl <= SOCKS_MAX_REPLY);
	if (rl == 0)
		return;
	if (version == 4) {
		require(rl == 8 && r[0] == 0 && r[1] == 0x5b);
		return;
	}
	require(version == 5 && r[0] == 5);
	require(rl == 2 ? (r[1] == 0x00 || r[1] == 0xff) : (rl == 10 && r[1] != 0x00));
}

/* call: socks_parse on a heap copy exactly ${have} bytes long, so ASan sees an over-read. */
static ssize_t call(struct socks_state *st, const uint8_t *buf, size_t have, uint8_t *reply,
		    size_t *replylen, struct socks_request *req)
{
	uint8_t *copy = malloc(have ? have : 1);
	require(copy != NULL);
	memcpy(copy, buf, have);
	ssize_t n = socks_parse(st, copy, have, reply, replylen, req);
	free(copy);
	return n;
}

/* chunk_size: the next arrival size; ${mode} 0 is everything, 1 one byte, 2 from the input. */
static size_t chunk_size(int mode, const uint8_t *in, size_t len, size_t pos)
{
	if (mode == 0)
		return len;
	if (mode == 1)
		return 1;
	return 1 + (size_t)((in[pos] * 7u + pos) % 23u);
}

static void run(const uint8_t *in, size_t len, int mode, struct outcome *o)
{
	struct socks_state st = {0};
	uint8_t buf[SOCKS_MAX_REQUEST];
	size_t have = 0, pos = 0, calls = 0;

	memset(o, 0, sizeof(*o));
	for (;;) {
		uint8_t reply[SOCKS_MAX_REPLY];
		size_t rl = SOCKS_MAX_REPLY + 1;
		ssize_t n = call(&st, buf, have, reply, &rl, &o->req);

		/* Bounded work: at most a greeting and a request per byte delivered, and then some.
		 */
		require(++calls <= 2 * SOCKS_MAX_REQUEST + 8);
		check_reply(st.version, reply, rl);
		require(o->replylen + rl <= sizeof(o->reply));
		memcpy(o->reply + o->replylen, reply, rl);
		o->replylen += rl;
		if (n < 0) {
			require(n == -1 && !socks_done(&st));
			o->result = -1;
			break;
		}
		require((size_t)n <= have);
		if (n > 0) {
			o->consumed += (size_t)n;
			memmove(buf, buf + n, have - (size_t)n);
			have -= (size_t)n;
			if (socks_done(&st)) {
				check_request(&o->req, st.version);
				o->result = 1;
				break;
			}
			continue;
		}
		/* Waiting with a full buffer would hang the connection for ever. */
		require(rl == 0 && have < SOCKS_MAX_REQUEST && !socks_done(&st));
		if (pos == len)
			break;
		size_t take = chunk_size(mode, in, len, pos);
		if (take > len - pos)
			take = len - pos;
		if (take > SOCKS_MAX_REQUEST - have)
			take = SOCKS_MAX_REQUEST - have;
		memcpy(buf + have, in + pos, take);
		have += take;
		pos += take;
	}
	o->version = st.version;
	if (o->result != 0) {
		size_t rl = SOCKS_MAX_REPLY + 1;
		uint8_t reply[SOCKS_MAX_REPLY];
		struct socks_request spare;
		require(call(&st, buf, have, reply, &rl, &spare) == -1 && rl == 0);
	}
}

static void same(const struct outcome *a, const struct outcome *b)
{
	require(a->result == b->result && a->replylen == b->replylen &&
		a->consumed == b->consumed && a->version == b->version);
	require(memcmp(a->reply, b->reply, a->replylen) == 0);
	if (a->result == 1)
		require(a->req.port == b->req.port && strcmp(a->req.host, b->req.host) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, bytes, chunks;

	/* Past this the buffer bound decides alone; longer inputs only slow the search. */
	if (size > 2 * SOCKS_MAX_REQUEST)
		return 0;
	run(data, size, 0, &whole);
	run(data, size, 1, &bytes);
	run(data, size, 2, &chunks);
	same(&whole, &bytes);
	same(&whole, &chunks);
	return 0;
}
