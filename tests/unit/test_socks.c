/* SPDX-License-Identifier: MIT */
/*
 * socks: a table of client byte streams (valid and malformed, every version)
 * run through a driver that behaves like the -D entrance: it buffers at most
 * SOCKS_MAX_REQUEST bytes, sends every reply, drops consumed bytes and stops
 * on -1 or done. Each stream is fed in one piece, byte by byte and split at
 * every point, and must give the same replies, consumption and request each
 * time. Every call sees a private copy the size of the bytes it may read, so
 * ASan or valgrind catch an over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel/socks.h"

enum { DONE = 1, FAIL = -1 };

/* B(s): a byte string literal as pointer and length (without the terminating NUL). */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1

/* Final replies as socks_reply() writes them. */
#define V4_OK	  "\x00\x5a\x00\x00\x00\x00\x00\x00"
#define V4_REJ	  "\x00\x5b\x00\x00\x00\x00\x00\x00"
#define V5(code)  "\x05" code "\x00\x01\x00\x00\x00\x00\x00\x00"
#define V5_NOAUTH "\x05\x00"
#define V5_NONE	  "\x05\xff"
#define GREET	  "\x05\x01\x00"

struct pcase {
	const char *name;
	const uint8_t *in;
	size_t len;
	int result;	      /* DONE or FAIL */
	const uint8_t *reply; /* every reply the parser asked for, concatenated */
	size_t replylen;
	size_t consumed;  /* bytes consumed in total (less than len if pipelined) */
	int version;	  /* socks_state.version at the end */
	const char *host; /* DONE only */
	uint16_t port;
};

/* What the driver saw. */
struct outcome {
	int result;
	uint8_t reply[4 * SOCKS_MAX_REPLY];
	size_t replylen;
	size_t steps[4]; /* consumed count of each phase */
	size_t nsteps;
	size_t consumed;
	int version;
	struct socks_request req;
};

/* parse_exact: socks_parse on a private copy exactly ${len} bytes long. */
static ssize_t parse_exact(struct socks_state *st, const uint8_t *buf, size_t len, uint8_t *reply,
			   size_t *replylen, struct socks_request *req)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, buf, len);
	ssize_t n = socks_parse(st, copy, len, reply, replylen, req);
	free(copy);
	return n;
}

/*
 * drive: feed ${in} as a caller would, arriving in a first chunk of ${first}
 * bytes and then chunks of ${step}. Asserts the caller-side contract on
 * every call: nothing consumed with 0, consumption within the buffer, replies
 * within SOCKS_MAX_REPLY, and never "need more" with a full buffer.
 */
static void drive(const uint8_t *in, size_t len, size_t first, size_t step, struct outcome *o)
{
	struct socks_state st = {0};
	uint8_t buf[SOCKS_MAX_REQUEST];
	size_t have = 0, pos = 0, chunk = first;

	memset(o, 0, sizeof(*o));
	for (;;) {
		uint8_t reply[SOCKS_MAX_REPLY];
		size_t rl = 99;
		ssize_t n = parse_exact(&st, buf, have, reply, &rl, &o->req);

		assert_true(rl <= SOCKS_MAX_REPLY);
		assert_true(o->replylen + rl <= sizeof(o->reply));
		memcpy(o->reply + o->replylen, reply, rl);
		o->replylen += rl;
		if (n < 0) {
			assert_int_equal(n, -1);
			o->result = FAIL;
			break;
		}
		assert_true((size_t)n <= have);
		if (n > 0) {
			assert_true(o->nsteps < 4);
			o->steps[o->nsteps++] = (size_t)n;
			o->consumed += (size_t)n;
			memmove(buf, buf + n, have - (size_t)n);
			have -= (size_t)n;
			if (socks_done(&st)) {
				o->result = DONE;
				break;
			}
			continue; /* the next phase may already be buffered */
		}
		assert_int_equal(rl, 0);
		assert_false(socks_done(&st));
		assert_true(have < SOCKS_MAX_REQUEST);
		if (pos == len) {
			o->result = 0; /* the stream ended mid-request */
			break;
		}
		size_t take = len - pos < chunk ? len - pos : chunk;
		if (take > SOCKS_MAX_REQUEST - have)
			take = SOCKS_MAX_REQUEST - have;
		memcpy(buf + have, in + pos, take);
		have += take;
		pos += take;
		chunk = step;
	}
	o->version = st.version;
	/* Decided for good: further calls are refused without a reply. */
	size_t rl = 99;
	uint8_t reply[SOCKS_MAX_REPLY];
	struct socks_request spare;
	assert_int_equal(socks_parse(&st, buf, have, reply, &rl, &spare), -1);
	assert_int_equal(rl, 0);
}

static void same_outcome(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->result, b->result);
	assert_int_equal(a->replylen, b->replylen);
	assert_memory_equal(a->reply, b->reply, a->replylen);
	assert_int_equal(a->nsteps, b->nsteps);
	assert_memory_equal(a->steps, b->steps, a->nsteps * sizeof(a->steps[0]));
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->version, b->version);
	if (a->result == DONE) {
		assert_int_equal(a->req.version, b->req.version);
		assert_string_equal(a->req.host, b->req.host);
		assert_int_equal(a->req.port, b->req.port);
	}
}

static void check_wanted(const struct pcase *c, const struct outcome *o)
{
	print_message("  %s\n", c->name);
	assert_int_equal(o->result, c->result);
	assert_int_equal(o->replylen, c->replylen);
	assert_memory_equal(o->reply, c->reply, c->replylen);
	assert_int_equal(o->consumed, c->consumed);
	assert_int_equal(o->version, c->version);
	if (c->result == DONE) {
		assert_int_equal(o->req.version, c->version);
		assert_string_equal(o->req.host, c->host);
		assert_int_equal(o->req.port, c->port);
	}
}

/* check_case: whole, byte by byte, and split at every point: one answer. */
static void check_case(const struct pcase *c)
{
	struct outcome whole, other;

	drive(c->in, c->len, c->len, c->len, &whole);
	check_wanted(c, &whole);
	drive(c->in, c->len, 1, 1, &other);
	same_outcome(&whole, &other);
	for (size_t k = 1; k < c->len; k++) {
		drive(c->in, c->len, k, c->len, &other);
		same_outcome(&whole, &other);
	}
}

#define OK(n, in, consumed, ver, host, port)                                                       \
	{                                                                                          \
		n, B(in), DONE, NULL, 0, consumed, ver, host, port                                 \
	}
#define OK5(n, in, consumed, host, port)                                                           \
	{                                                                                          \
		n, B(in), DONE, B(V5_NOAUTH), consumed, 5, host, port                              \
	}
#define BAD(n, in, reply, ver)                                                                     \
	{                                                                                          \
		n, B(in), FAIL, B(reply), 0, ver, NULL, 0                                          \
	}

static const struct pcase valid[] = {
    OK("v4 ipv4 with userid",
       "\x04\x01\x00\x50\xc0\x00\x02\x01"
       "alice\0",
       14, 4, "192.0.2.1", 80),
    OK("v4 empty userid", "\x04\x01\x01\xbb\x0a\x00\x00\x01\0", 9, 4, "10.0.0.1", 443),
    OK("v4 userid of any bytes", "\x04\x01\xff\xff\x7f\x00\x00\x01 \xff\x01:\0", 13, 4, "127.0.0.1",
       65535),
    OK("v4a name",
       "\x04\x01\x00\x50\x00\x00\x00\x01"
       "bob\0example.com\0",
       24, 4, "example.com", 80),
    OK("v4a empty userid, every name character",
       "\x04\x01\x1f\x90\x00\x00\x00\xff\0"
       "My-host_1.Example-Z09\0",
       31, 4, "My-host_1.Example-Z09", 8080),
    OK("v4a one-letter name", "\x04\x01\x00\x16\x00\x00\x00\x07u\0h\0", 12, 4, "h", 22),
    OK5("v5 ipv4", GREET "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50", 13, "192.0.2.1", 80),
    OK5("v5 methods include 00 last",
	"\x05\x03\x02\x01\x00"
	"\x05\x01\x00\x01\x0a\x01\x02\x03\x01\xbb",
	15, "10.1.2.3", 443),
    OK5("v5 domain",
	GREET "\x05\x01\x00\x03\x0b"
	      "example.com\x01\xbb",
	3 + 18, "example.com", 443),
    OK5("v5 one-letter domain", GREET "\x05\x01\x00\x03\x01x\xff\xff", 3 + 8, "x", 65535),
    OK5("v5 dotted quad as domain",
	GREET "\x05\x01\x00\x03\x07"
	      "1.2.3.4\x00\x01",
	3 + 14, "1.2.3.4", 1),
    OK5("v5 ipv6",
	GREET "\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	      "\x1f\x90",
	3 + 22, "2001:db8::1", 8080),
    OK5("v5 ipv6 mapped ipv4",
	GREET "\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x01"
	      "\x00\x50",
	3 + 22, "::ffff:192.0.2.1", 80),
    OK5("v5 ipv6 loopback",
	GREET "\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	      "\x00\x16",
	3 + 22, "::1", 22),
    /* Pipelined: the client did not wait for our replies; the rest is the application's. */
    OK("v4 then application bytes", "\x04\x01\x00\x50\xc0\x00\x02\x01\0GET / HTTP/1.0\r\n", 9, 4,
       "192.0.2.1", 80),
    OK("v4a then application bytes", "\x04\x01\x00\x50\x00\x00\x00\x01\0a.b\0\x04\x01\x00", 13, 4,
       "a.b", 80),
    OK5("v5 then application bytes",
	GREET "\x05\x01\x00\x03\x03"
	      "a.b\x00\x50"
	      "\x05\x01\x00\x16\x03\x00GET /\0",
	3 + 10, "a.b", 80),
};

static const struct pcase malformed[] = {
    /* Not SOCKS at all: no reply format to answer in. */
    BAD("version 0", "\x00\x01\x00\x50", "", 0),
    BAD("version 6", "\x06\x01\x00", "", 0),
    BAD("HTTP", "GET / HTTP/1.1\r\n", "", 0),
    BAD("TLS", "\x16\x03\x01\x02\x00", "", 0),
    /* SOCKS4 */
    BAD("v4 bind", "\x04\x02\x00\x50\xc0\x00\x02\x01\0", V4_REJ, 4),
    BAD("v4 command 0", "\x04\x00\x00\x50\xc0\x00\x02\x01\0", V4_REJ, 4),
    BAD("v4 port 0", "\x04\x01\x00\x00\xc0\x00\x02\x01\0", V4_REJ, 4),
    BAD("v4 address 0.0.0.0", "\x04\x01\x00\x50\x00\x00\x00\x00\0", V4_REJ, 4),
    BAD("v4a port 0", "\x04\x01\x00\x00\x00\x00\x00\x01\0a.b\0", V4_REJ, 4),
    BAD("v4a empty host", "\x04\x01\x00\x50\x00\x00\x00\x01u\0\0", V4_REJ, 4),
    BAD("v4a host with space", "\x04\x01\x00\x50\x00\x00\x00\x01\0a b\0", V4_REJ, 4),
    BAD("v4a host with colon", "\x04\x01\x00\x50\x00\x00\x00\x01\0::1\0", V4_REJ, 4),
    BAD("v4a host with slash", "\x04\x01\x00\x50\x00\x00\x00\x01\0a/b\0", V4_REJ, 4),
    BAD("v4a host non-ASCII", "\x04\x01\x00\x50\x00\x00\x00\x01\0caf\xc3\xa9\0", V4_REJ, 4),
    BAD("v4a host with control", "\x04\x01\x00\x50\x00\x00\x00\x01\0a\r\nb\0", V4_REJ, 4),
    /* SOCKS5 greeting */
    BAD("v5 no methods", "\x05\x00", V5_NONE, 5),
    BAD("v5 no methods then more", "\x05\x00\x00\x05\x01\x00", V5_NONE, 5),
    BAD("v5 only auth methods", "\x05\x02\x01\x02", V5_NONE, 5),
    BAD("v5 all methods but 00", "\x05\x03\xff\x80\x03", V5_NONE, 5),
    /* SOCKS5 request (after a good greeting) */
    BAD("v5 request version 4", GREET "\x04\x01\x00\x01\xc0\x00\x02\x01\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 bind", GREET "\x05\x02\x00\x01\xc0\x00\x02\x01\x00\x50", V5_NOAUTH V5("\x07"), 5),
    BAD("v5 udp associate", GREET "\x05\x03\x00\x01\xc0\x00\x02\x01\x00\x50", V5_NOAUTH V5("\x07"),
	5),
    BAD("v5 command 0", GREET "\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x50", V5_NOAUTH V5("\x07"), 5),
    BAD("v5 command ff", GREET "\x05\xff\x00\x01", V5_NOAUTH V5("\x07"), 5),
    BAD("v5 rsv 1", GREET "\x05\x01\x01\x01\xc0\x00\x02\x01\x00\x50", V5_NOAUTH V5("\x01"), 5),
    BAD("v5 rsv ff", GREET "\x05\x01\xff\x01", V5_NOAUTH V5("\x01"), 5),
    BAD("v5 atyp 0", GREET "\x05\x01\x00\x00\xc0\x00\x02\x01\x00\x50", V5_NOAUTH V5("\x08"), 5),
    BAD("v5 atyp 2", GREET "\x05\x01\x00\x02\xc0\x00\x02\x01\x00\x50", V5_NOAUTH V5("\x08"), 5),
    BAD("v5 atyp 5", GREET "\x05\x01\x00\x05", V5_NOAUTH V5("\x08"), 5),
    BAD("v5 empty domain", GREET "\x05\x01\x00\x03\x00\x00\x50", V5_NOAUTH V5("\x01"), 5),
    /* Refused at once: no port will make an empty name valid. */
    BAD("v5 empty domain, no port yet", GREET "\x05\x01\x00\x03\x00", V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain with NUL",
	GREET "\x05\x01\x00\x03\x03"
	      "a\0b\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain only NUL", GREET "\x05\x01\x00\x03\x01\0\x00\x50", V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain with space",
	GREET "\x05\x01\x00\x03\x03"
	      "a b\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain non-ASCII",
	GREET "\x05\x01\x00\x03\x05"
	      "caf\xc3\xa9\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain with DEL",
	GREET "\x05\x01\x00\x03\x02"
	      "a\x7f\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain with colon",
	GREET "\x05\x01\x00\x03\x03"
	      "::1\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 domain with percent",
	GREET "\x05\x01\x00\x03\x03"
	      "a%b\x00\x50",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 ipv4 port 0", GREET "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x00", V5_NOAUTH V5("\x01"),
	5),
    BAD("v5 domain port 0",
	GREET "\x05\x01\x00\x03\x03"
	      "a.b\x00\x00",
	V5_NOAUTH V5("\x01"), 5),
    BAD("v5 ipv6 port 0",
	GREET "\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	      "\x00\x00",
	V5_NOAUTH V5("\x01"), 5),
    /* A second greeting is read as a request: 05 01 00 then address type 05. */
    BAD("v5 greeting twice", GREET GREET "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50",
	V5_NOAUTH V5("\x08"), 5),
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		check_case(&valid[i]);
}

static void test_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct pcase c = malformed[i];
		/* A v5 request failure comes after the greeting was consumed. */
		if (c.replylen > 2 && c.reply[0] == 5)
			c.consumed = c.in[1] + 2u;
		check_case(&c);
	}
}

/* Each phase is consumed whole, exactly when its last byte arrives. */
static void test_phases(void **state)
{
	static const uint8_t v5[] = GREET "\x05\x01\x00\x03\x03"
					  "a.b\x00\x50";
	struct outcome o;

	(void)state;
	drive(v5, sizeof(v5) - 1, 1, 1, &o);
	assert_int_equal(o.nsteps, 2);
	assert_int_equal(o.steps[0], 3);
	assert_int_equal(o.steps[1], 10);
	drive(v5, sizeof(v5) - 1, sizeof(v5) - 1, 1, &o);
	assert_int_equal(o.nsteps, 2);
}

/* Every proper prefix of a request asks for more, consumes nothing and sends nothing. */
static void test_prefixes(void **state)
{
	static const uint8_t v4a[] = "\x04\x01\x00\x50\x00\x00\x00\x01"
				     "id\0host\0";
	static const uint8_t req[] = "\x05\x01\x00\x03\x03"
				     "a.b\x00\x50";
	struct socks_request r;
	uint8_t reply[SOCKS_MAX_REPLY];
	size_t rl;

	(void)state;
	for (size_t k = 0; k < sizeof(v4a) - 1; k++) {
		struct socks_state st = {0};
		rl = 99;
		assert_int_equal(parse_exact(&st, v4a, k, reply, &rl, &r), 0);
		assert_int_equal(rl, 0);
		assert_false(socks_done(&st));
		/* The state must not remember the prefix: the whole request still parses. */
		assert_int_equal(parse_exact(&st, v4a, sizeof(v4a) - 1, reply, &rl, &r),
				 sizeof(v4a) - 1);
		assert_true(socks_done(&st));
	}
	for (size_t k = 0; k < sizeof(req) - 1; k++) {
		struct socks_state st = {0};
		assert_int_equal(parse_exact(&st, (const uint8_t *)GREET, 3, reply, &rl, &r), 3);
		rl = 99;
		assert_int_equal(parse_exact(&st, req, k, reply, &rl, &r), 0);
		assert_int_equal(rl, 0);
		assert_int_equal(parse_exact(&st, req, sizeof(req) - 1, reply, &rl, &r),
				 sizeof(req) - 1);
		assert_true(socks_done(&st));
		assert_string_equal(r.host, "a.b");
	}
}

/* v4_stream: a SOCKS4a request with a userid of ${ulen} and a host of ${hlen} ('h' bytes). */
static size_t v4_stream(uint8_t *out, size_t ulen, int uterm, size_t hlen, int hterm)
{
	static const uint8_t hdr[] = {4, 1, 0x01, 0xbb, 0, 0, 0, 1};
	size_t n = sizeof(hdr);

	memcpy(out, hdr, n);
	memset(out + n, 'u', ulen);
	n += ulen;
	if (!uterm)
		return n;
	out[n++] = 0;
	memset(out + n, 'h', hlen);
	n += hlen;
	if (hterm)
		out[n++] = 0;
	return n;
}

/*
 * The NUL-terminated SOCKS4 fields are bounded: 255 bytes each is the most
 * that parses, so the largest request fills SOCKS_MAX_REQUEST exactly, and a
 * missing NUL is refused by then instead of waiting for ever.
 */
static void test_v4_bounds(void **state)
{
	static uint8_t in[2 * SOCKS_MAX_REQUEST];
	static char host[SOCKS_HOST_MAX + 1];
	struct pcase c = {.version = 4, .port = 443};

	(void)state;
	memset(host, 'h', SOCKS_HOST_MAX);

	c.name = "v4a longest fields";
	c.len = v4_stream(in, 255, 1, 255, 1);
	assert_int_equal(c.len, SOCKS_MAX_REQUEST);
	c.in = in;
	c.result = DONE;
	c.consumed = c.len;
	c.host = host;
	check_case(&c);

	c.name = "v4 userid of 255 bytes";
	c.len = v4_stream(in, 255, 1, 0, 0);
	in[4] = 10; /* plain SOCKS4 to 10.0.0.1, so no host follows */
	c.consumed = c.len;
	c.host = "10.0.0.1";
	check_case(&c);

	c.name = "v4a userid without NUL, 400 bytes";
	c.len = v4_stream(in, 400, 0, 0, 0);
	c.result = FAIL;
	c.reply = (const uint8_t *)V4_REJ;
	c.replylen = 8;
	c.consumed = 0;
	c.host = NULL;
	check_case(&c);

	c.name = "v4a userid of 256 bytes";
	c.len = v4_stream(in, 256, 1, 1, 1);
	check_case(&c);

	c.name = "v4a userid without NUL, buffer full";
	c.len = v4_stream(in, SOCKS_MAX_REQUEST, 0, 0, 0);
	check_case(&c);

	c.name = "v4a host without NUL";
	c.len = v4_stream(in, 255, 1, 400, 0);
	check_case(&c);

	c.name = "v4a host of 256 bytes";
	c.len = v4_stream(in, 0, 1, 256, 1);
	check_case(&c);
}

/* SOCKS5 domains: 255 bytes is the most the length byte can say, and it parses. */
static void test_v5_long_domain(void **state)
{
	static uint8_t in[3 + 5 + 255 + 2];
	static char host[SOCKS_HOST_MAX + 1];
	struct pcase c = {.name = "v5 255-byte domain", .in = in, .len = sizeof(in)};

	(void)state;
	memcpy(in, "\x05\x01\x00\x05\x01\x00\x03\xff", 8);
	memset(in + 8, 'd', 255);
	memset(host, 'd', 255);
	in[8 + 255] = 0x12;
	in[8 + 256] = 0x34;
	c.result = DONE;
	c.reply = (const uint8_t *)V5_NOAUTH;
	c.replylen = 2;
	c.consumed = sizeof(in);
	c.version = 5;
	c.host = host;
	c.port = 0x1234;
	check_case(&c);

	in[8 + 100] = ' ';
	c.name = "v5 255-byte domain with a space";
	c.result = FAIL;
	c.reply = (const uint8_t *)(V5_NOAUTH V5("\x01"));
	c.replylen = 12;
	c.consumed = 3;
	check_case(&c);
}

static void test_replies(void **state)
{
	static const struct {
		enum socks_result r;
		uint8_t v4, v5;
	} map[] = {
	    {SOCKS_OK, 0x5a, 0x00},
	    {SOCKS_GENERAL_FAILURE, 0x5b, 0x01},
	    {SOCKS_NOT_ALLOWED, 0x5b, 0x02},
	    {SOCKS_NET_UNREACHABLE, 0x5b, 0x03},
	    {SOCKS_HOST_UNREACHABLE, 0x5b, 0x04},
	    {SOCKS_CONN_REFUSED, 0x5b, 0x05},
	    {SOCKS_CMD_UNSUPPORTED, 0x5b, 0x07},
	    {SOCKS_ATYP_UNSUPPORTED, 0x5b, 0x08},
	    {(enum socks_result)99, 0x5b, 0x01}, /* unknown codes fail safe */
	};
	uint8_t out[SOCKS_MAX_REPLY];

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		uint8_t want4[8] = {0, map[i].v4, 0, 0, 0, 0, 0, 0};
		uint8_t want5[10] = {5, map[i].v5, 0, 1, 0, 0, 0, 0, 0, 0};

		memset(out, 0xaa, sizeof(out));
		assert_int_equal(socks_reply(4, map[i].r, out), 8);
		assert_memory_equal(out, want4, 8);
		assert_int_equal(out[8], 0xaa);
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(socks_reply(5, map[i].r, out), 10);
		assert_memory_equal(out, want5, 10);
		assert_int_equal(out[10], 0xaa);
	}
	socks_reply(4, SOCKS_OK, out);
	assert_memory_equal(out, V4_OK, 8);
	/* No version, no reply: the connection is simply closed. */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(socks_reply(0, SOCKS_GENERAL_FAILURE, out), 0);
	assert_int_equal(socks_reply(6, SOCKS_OK, out), 0);
	assert_int_equal(out[0], 0xaa);
}

/* Nothing received yet: not even the version is known. */
static void test_empty(void **state)
{
	struct socks_state st = {0};
	struct socks_request r;
	uint8_t reply[SOCKS_MAX_REPLY];
	size_t rl = 99;

	(void)state;
	assert_int_equal(socks_parse(&st, NULL, 0, reply, &rl, &r), 0);
	assert_int_equal(rl, 0);
	assert_int_equal(st.version, 0);
	assert_false(socks_done(&st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),     cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_phases),    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_v4_bounds), cmocka_unit_test(test_v5_long_domain),
	    cmocka_unit_test(test_replies),   cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
