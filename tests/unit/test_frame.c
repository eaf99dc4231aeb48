/* SPDX-License-Identifier: MIT */
/*
 * frame: every encoder against the parser, the wire layout against
 * docs/PROTOCOL.md section 5, and a table of malformed frames the parser must
 * refuse. Parsing is strict, so an accepted frame has exactly one encoding:
 * that is checked over many generated inputs too. Inputs are parsed from
 * buffers of exactly their length, so ASan or valgrind see any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel/frame.h"
#include "util/wire.h"

/*
 * The highest frame type. A new type must come with its own round trip,
 * layout and malformed cases here, so the unknown-type test fails until then.
 */
#define LAST_TYPE FRAME_LISTEN_FAIL

/* Large enough for any frame: a full DATA frame is the biggest. */
#define FRAME_CAP (FRAME_CHAN_HDR + FRAME_MAX_DATA + 1)

/* parse_exact: frame_parse on a private copy the size of the input. */
static int parse_exact(const uint8_t *p, size_t len, struct frame *f, uint8_t **copy)
{
	*copy = malloc(len ? len : 1);
	assert_non_null(*copy);
	if (len > 0)
		memcpy(*copy, p, len);
	return frame_parse(*copy, len, f);
}

/* What a round trip starts from: the arguments for the type's encoder. */
struct spec {
	const char *name;
	uint8_t type;
	uint32_t chan;
	uint32_t window;
	uint32_t listen_id; /* LISTEN*, and OPEN of kind FRAME_TARGET_FORWARD */
	uint32_t increment;
	uint8_t kind;
	uint16_t port;
	uint8_t code;
	uint8_t flags;
	uint64_t cookie;
	const char *text; /* OPEN and LISTEN host, *_FAIL message */
	size_t data_len;  /* DATA: a generated payload of this size */
};

static void fill_pattern(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 9));
}

/* encode: call the encoder that belongs to ${sp->type}. */
static size_t encode(const struct spec *sp, uint8_t *out)
{
	switch (sp->type) {
	case FRAME_OPEN:
		if (sp->kind == FRAME_TARGET_FORWARD)
			return frame_open_forward(out, sp->chan, sp->window, sp->listen_id);
		return frame_open(out, sp->chan, sp->window, sp->kind, sp->text, sp->port);
	case FRAME_OPEN_OK:
		return frame_open_ok(out, sp->chan, sp->window);
	case FRAME_OPEN_FAIL:
		return frame_open_fail(out, sp->chan, sp->code, sp->text);
	case FRAME_LISTEN:
		return frame_listen(out, sp->listen_id, sp->kind, sp->text, sp->port);
	case FRAME_LISTEN_OK:
		return frame_listen_ok(out, sp->listen_id, sp->port);
	case FRAME_LISTEN_FAIL:
		return frame_listen_fail(out, sp->listen_id, sp->code, sp->text);
	case FRAME_DATA:
		frame_data_hdr(out, sp->chan);
		fill_pattern(out + FRAME_CHAN_HDR, sp->data_len);
		return FRAME_CHAN_HDR + sp->data_len;
	case FRAME_WINDOW:
		return frame_window(out, sp->chan, sp->increment);
	case FRAME_EOF:
		return frame_chan_only(out, FRAME_EOF, sp->chan);
	case FRAME_CLOSE:
		return frame_close(out, sp->chan, sp->flags);
	case FRAME_PING:
	case FRAME_PONG:
		return frame_ping(out, sp->type, sp->cookie);
	case FRAME_REKEY:
	case FRAME_GOODBYE:
		return frame_bare(out, sp->type);
	}
	fail_msg("no encoder for type %u", sp->type);
	return 0;
}

static char long_host[FRAME_MAX_HOST + 1]; /* FRAME_MAX_HOST letters */
static char long_msg[FRAME_MAX_MSG + 1];   /* FRAME_MAX_MSG letters */

static const struct spec specs[] = {
    {.name = "open tcp",
     .type = FRAME_OPEN,
     .chan = 1,
     .window = 4u << 20,
     .kind = FRAME_TARGET_TCP,
     .port = 443,
     .text = "example.com"},
    {.name = "open ipv6",
     .type = FRAME_OPEN,
     .chan = 0x7fffffff,
     .window = 1,
     .kind = FRAME_TARGET_TCP,
     .port = 65535,
     .text = "2001:db8::1"},
    {.name = "open unix",
     .type = FRAME_OPEN,
     .chan = 0x80000001,
     .window = 0xffffffff,
     .kind = FRAME_TARGET_UNIX,
     .port = 0,
     .text = "/run/postern/app.sock"},
    {.name = "open 1-byte host",
     .type = FRAME_OPEN,
     .chan = 0xffffffff,
     .window = 0,
     .kind = FRAME_TARGET_TCP,
     .port = 1,
     .text = "h"},
    {.name = "open longest host",
     .type = FRAME_OPEN,
     .chan = 2,
     .window = 65536,
     .kind = FRAME_TARGET_TCP,
     .port = 8080,
     .text = long_host},
    {.name = "open forward",
     .type = FRAME_OPEN,
     .chan = 0x80000002,
     .window = 4u << 20,
     .kind = FRAME_TARGET_FORWARD,
     .listen_id = 0x01000203},
    {.name = "open forward id 0",
     .type = FRAME_OPEN,
     .chan = 0x80000003,
     .window = 1,
     .kind = FRAME_TARGET_FORWARD,
     .listen_id = 0},
    {.name = "open_ok", .type = FRAME_OPEN_OK, .chan = 3, .window = 4u << 20},
    {.name = "open_ok extremes", .type = FRAME_OPEN_OK, .chan = 0xffffffff, .window = 0xffffffff},
    {.name = "open_fail",
     .type = FRAME_OPEN_FAIL,
     .chan = 4,
     .code = FRAME_FAIL_CONNECT,
     .text = "Connection refused"},
    {.name = "open_fail empty message",
     .type = FRAME_OPEN_FAIL,
     .chan = 5,
     .code = FRAME_FAIL_PROHIBITED,
     .text = ""},
    {.name = "open_fail longest message",
     .type = FRAME_OPEN_FAIL,
     .chan = 6,
     .code = 255,
     .text = long_msg},
    {.name = "data 1", .type = FRAME_DATA, .chan = 7, .data_len = 1},
    {.name = "data 1000", .type = FRAME_DATA, .chan = 0x80000000, .data_len = 1000},
    {.name = "data max", .type = FRAME_DATA, .chan = 8, .data_len = FRAME_MAX_DATA},
    {.name = "window 1", .type = FRAME_WINDOW, .chan = 9, .increment = 1},
    {.name = "window max", .type = FRAME_WINDOW, .chan = 10, .increment = 0xffffffff},
    {.name = "eof", .type = FRAME_EOF, .chan = 11},
    {.name = "close", .type = FRAME_CLOSE, .chan = 12, .flags = 0},
    {.name = "close reset", .type = FRAME_CLOSE, .chan = 13, .flags = FRAME_CLOSE_RESET},
    {.name = "ping", .type = FRAME_PING, .cookie = 0x0102030405060708u},
    {.name = "ping zero", .type = FRAME_PING, .cookie = 0},
    {.name = "pong", .type = FRAME_PONG, .cookie = UINT64_MAX},
    {.name = "rekey", .type = FRAME_REKEY},
    {.name = "goodbye", .type = FRAME_GOODBYE},
    {.name = "listen tcp",
     .type = FRAME_LISTEN,
     .listen_id = 1,
     .kind = FRAME_TARGET_TCP,
     .port = 8080,
     .text = "127.0.0.1"},
    {.name = "listen tcp unspecified",
     .type = FRAME_LISTEN,
     .listen_id = 0xffffffff,
     .kind = FRAME_TARGET_TCP,
     .port = 0,
     .text = ""},
    {.name = "listen unix",
     .type = FRAME_LISTEN,
     .listen_id = 2,
     .kind = FRAME_TARGET_UNIX,
     .port = 0,
     .text = "/tmp/fwd.sock"},
    {.name = "listen longest host",
     .type = FRAME_LISTEN,
     .listen_id = 3,
     .kind = FRAME_TARGET_TCP,
     .port = 65535,
     .text = long_host},
    {.name = "listen_ok", .type = FRAME_LISTEN_OK, .listen_id = 4, .port = 40000},
    {.name = "listen_fail",
     .type = FRAME_LISTEN_FAIL,
     .listen_id = 5,
     .code = FRAME_FAIL_IN_USE,
     .text = "Address already in use"},
    {.name = "listen_fail empty", .type = FRAME_LISTEN_FAIL, .listen_id = 6, .code = 0, .text = ""},
    {.name = "listen_fail longest",
     .type = FRAME_LISTEN_FAIL,
     .listen_id = 7,
     .code = 1,
     .text = long_msg},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static int setup_strings(void **state)
{
	(void)state;
	memset(long_host, 'h', FRAME_MAX_HOST);
	memset(long_msg, 'm', FRAME_MAX_MSG);
	return 0;
}

/* check_parsed: ${f}, parsed from ${enc}, holds what ${sp} asked for and nothing else. */
static void check_parsed(const struct spec *sp, const struct frame *f, const uint8_t *enc,
			 size_t len)
{
	struct frame want = {.type = sp->type, .chan = sp->chan};
	const uint8_t *payload = NULL;
	uint8_t id_bytes[4];
	switch (sp->type) {
	case FRAME_OPEN:
		if (sp->kind == FRAME_TARGET_FORWARD) {
			/* The target is the listen id itself, as 4 big-endian bytes. */
			want.window = sp->window;
			want.kind = sp->kind;
			want.listen_id = sp->listen_id;
			want.len = 4;
			payload = enc + FRAME_CHAN_HDR + 8;
			store32_be(id_bytes, sp->listen_id);
			break;
		}
		want.window = sp->window;
		want.kind = sp->kind;
		want.port = sp->port;
		want.len = strlen(sp->text);
		payload = enc + FRAME_CHAN_HDR + 8;
		break;
	case FRAME_OPEN_OK:
		want.window = sp->window;
		break;
	case FRAME_OPEN_FAIL:
		want.code = sp->code;
		want.len = strlen(sp->text);
		payload = enc + FRAME_CHAN_HDR + 2;
		break;
	case FRAME_DATA:
		want.len = sp->data_len;
		payload = enc + FRAME_CHAN_HDR;
		break;
	case FRAME_WINDOW:
		want.increment = sp->increment;
		break;
	case FRAME_CLOSE:
		want.flags = sp->flags;
		break;
	case FRAME_PING:
	case FRAME_PONG:
		want.chan = 0;
		want.cookie = sp->cookie;
		break;
	case FRAME_REKEY:
	case FRAME_GOODBYE:
		want.chan = 0;
		break;
	case FRAME_LISTEN:
		/* Listen frames carry a listener id where channel frames have a channel. */
		want.chan = 0;
		want.listen_id = sp->listen_id;
		want.kind = sp->kind;
		want.port = sp->port;
		want.len = strlen(sp->text);
		payload = enc + FRAME_CHAN_HDR + 4;
		break;
	case FRAME_LISTEN_OK:
		want.chan = 0;
		want.listen_id = sp->listen_id;
		want.port = sp->port;
		break;
	case FRAME_LISTEN_FAIL:
		want.chan = 0;
		want.listen_id = sp->listen_id;
		want.code = sp->code;
		want.len = strlen(sp->text);
		payload = enc + FRAME_CHAN_HDR + 2;
		break;
	}
	assert_int_equal(f->type, want.type);
	assert_int_equal(f->chan, want.chan);
	assert_int_equal(f->window, want.window);
	assert_int_equal(f->listen_id, want.listen_id);
	assert_int_equal(f->increment, want.increment);
	assert_int_equal(f->kind, want.kind);
	assert_int_equal(f->port, want.port);
	assert_int_equal(f->code, want.code);
	assert_int_equal(f->flags, want.flags);
	assert_int_equal(f->cookie, want.cookie);
	assert_int_equal(f->len, want.len);
	if (payload == NULL) {
		assert_null(f->data);
		return;
	}
	/* An empty host or message still points at where it would be: the frame's end. */
	/* The payload is referenced in place, and ends exactly where the frame does. */
	assert_ptr_equal(f->data, payload);
	assert_ptr_equal(f->data + f->len, enc + len);
	if (sp->type == FRAME_DATA) {
		uint8_t *expect = malloc(sp->data_len);
		assert_non_null(expect);
		fill_pattern(expect, sp->data_len);
		assert_memory_equal(f->data, expect, sp->data_len);
		free(expect);
	} else if (sp->type == FRAME_OPEN && sp->kind == FRAME_TARGET_FORWARD) {
		assert_memory_equal(f->data, id_bytes, 4);
	} else {
		assert_memory_equal(f->data, sp->text, f->len);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	uint8_t *out = malloc(FRAME_CAP);
	assert_non_null(out);
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *sp = &specs[i];
		size_t len = encode(sp, out);
		if (len == 0)
			fail_msg("%s: encoder refused", sp->name);
		struct frame f;
		uint8_t *copy;
		if (parse_exact(out, len, &f, &copy) != 0)
			fail_msg("%s: parse refused its own encoding", sp->name);
		check_parsed(sp, &f, copy, len);
		free(copy);
	}
	free(out);
}

/* The layout of section 5, byte by byte, so that an encoder and parser cannot drift together. */
struct golden {
	const char *name;
	const struct spec *sp;
	const uint8_t *bytes;
	size_t len;
};

#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

static const struct spec g_open = {.type = FRAME_OPEN,
				   .chan = 0x01020304,
				   .window = 0x00400000,
				   .kind = FRAME_TARGET_TCP,
				   .port = 443,
				   .text = "ab"};
static const struct spec g_open_ok = {.type = FRAME_OPEN_OK, .chan = 0x80000001, .window = 7};
static const struct spec g_fail = {.type = FRAME_OPEN_FAIL, .chan = 9, .code = 2, .text = "no"};
static const struct spec g_data = {.type = FRAME_DATA, .chan = 0x0a0b0c0d, .data_len = 2};
static const struct spec g_window = {.type = FRAME_WINDOW, .chan = 1, .increment = 0x00100000};
static const struct spec g_eof = {.type = FRAME_EOF, .chan = 0xfffffffe};
static const struct spec g_close = {.type = FRAME_CLOSE, .chan = 5, .flags = 1};
static const struct spec g_ping = {.type = FRAME_PING, .cookie = 0x1122334455667788u};
static const struct spec g_pong = {.type = FRAME_PONG, .cookie = 1};
static const struct spec g_rekey = {.type = FRAME_REKEY};
static const struct spec g_goodbye = {.type = FRAME_GOODBYE};
static const struct spec g_forward = {.type = FRAME_OPEN,
				      .chan = 0x80000001,
				      .window = 2,
				      .kind = FRAME_TARGET_FORWARD,
				      .listen_id = 0x00c0ffee};
static const struct spec g_listen = {
    .type = FRAME_LISTEN, .listen_id = 3, .kind = FRAME_TARGET_TCP, .port = 2222, .text = "::1"};
static const struct spec g_listen_ok = {.type = FRAME_LISTEN_OK, .listen_id = 3, .port = 2222};
static const struct spec g_listen_fail = {
    .type = FRAME_LISTEN_FAIL, .listen_id = 3, .code = FRAME_FAIL_IN_USE, .text = "busy"};

static const struct golden goldens[] = {
    {"open", &g_open,
     BYTES("\x01\x01\x02\x03\x04\x00\x40\x00\x00\x01\x01\xbb\x02"
	   "ab")},
    {"open_ok", &g_open_ok, BYTES("\x02\x80\x00\x00\x01\x00\x00\x00\x07")},
    {"open_fail", &g_fail,
     BYTES("\x03\x00\x00\x00\x09\x02\x02"
	   "no")},
    {"data", &g_data, BYTES("\x04\x0a\x0b\x0c\x0d\x00\x83")},
    {"window", &g_window, BYTES("\x05\x00\x00\x00\x01\x00\x10\x00\x00")},
    {"eof", &g_eof, BYTES("\x06\xff\xff\xff\xfe")},
    {"close", &g_close, BYTES("\x07\x00\x00\x00\x05\x01")},
    {"ping", &g_ping, BYTES("\x08\x11\x22\x33\x44\x55\x66\x77\x88")},
    {"pong", &g_pong, BYTES("\x09\x00\x00\x00\x00\x00\x00\x00\x01")},
    {"rekey", &g_rekey, BYTES("\x0a")},
    {"goodbye", &g_goodbye, BYTES("\x0b")},
    /* Remote forwarding: OPEN kind 3 (section 5.2) and the LISTEN frames (section 5.6). */
    {"open forward", &g_forward,
     BYTES("\x01\x80\x00\x00\x01\x00\x00\x00\x02\x03\x00\x00\x04\x00\xc0\xff\xee")},
    {"listen", &g_listen,
     BYTES("\x0c\x00\x00\x00\x03\x01\x08\xae\x03"
	   "::1")},
    {"listen_ok", &g_listen_ok, BYTES("\x0d\x00\x00\x00\x03\x08\xae")},
    {"listen_fail", &g_listen_fail,
     BYTES("\x0e\x00\x00\x00\x03\x0a\x04"
	   "busy")},
};

static void test_wire_layout(void **state)
{
	(void)state;
	uint8_t out[64];
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		size_t len = encode(g->sp, out);
		if (len != g->len || memcmp(out, g->bytes, len) != 0)
			fail_msg("%s: encoding differs from docs/PROTOCOL.md", g->name);
		struct frame f;
		uint8_t *copy;
		assert_int_equal(parse_exact(g->bytes, g->len, &f, &copy), 0);
		check_parsed(g->sp, &f, copy, g->len);
		free(copy);
	}
}

/* The encoders refuse what cannot be put on the wire, and cut messages to fit. */
static void test_encoder_limits(void **state)
{
	(void)state;
	uint8_t out[FRAME_CHAN_HDR + 8 + FRAME_MAX_HOST + 64];
	char host[FRAME_MAX_HOST + 2];
	memset(host, 'x', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	assert_int_equal(frame_open(out, 1, 1, FRAME_TARGET_TCP, "", 1), 0);
	assert_int_equal(frame_open(out, 1, 1, FRAME_TARGET_TCP, host, 1), 0);
	host[FRAME_MAX_HOST] = '\0';
	assert_int_equal(frame_open(out, 1, 1, FRAME_TARGET_TCP, host, 1),
			 FRAME_CHAN_HDR + 8 + FRAME_MAX_HOST);

	/* A message longer than the length byte allows is truncated, not refused. */
	char msg[FRAME_MAX_MSG + 50];
	memset(msg, 'y', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	size_t len = frame_open_fail(out, 77, FRAME_FAIL_RESOURCE, msg);
	assert_int_equal(len, FRAME_CHAN_HDR + 2 + FRAME_MAX_MSG);
	struct frame f;
	assert_int_equal(frame_parse(out, len, &f), 0);
	assert_int_equal(f.len, FRAME_MAX_MSG);
	assert_memory_equal(f.data, msg, FRAME_MAX_MSG);
}

/*
 * Malformed frames. Each is refused whole: strict lengths leave no room for
 * smuggled bytes, and refusing is what ends the session.
 */
struct bad {
	const char *name;
	const uint8_t *bytes;
	size_t len;
};

static const struct bad bads[] = {
    {"empty", BYTES("")},
    {"type 0 alone", BYTES("\x00")},
    {"type 0 with chan", BYTES("\x00\x00\x00\x00\x01")},
    {"type 0 as window", BYTES("\x00\x00\x00\x00\x01\x00\x00\x00\x01")},
    {"chan frame, no chan", BYTES("\x06")},
    {"chan frame, short chan", BYTES("\x06\x00\x00\x01")},
    {"open hlen 0", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x00")},
    {"open hlen 0 + byte", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x00x")},
    {"open no hlen", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb")},
    {"open hlen beyond", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x05"
			       "abcd")},
    {"open hlen short", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x03"
			      "abcd")},
    {"open hlen 255, 1 byte", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\xff"
				    "a")},
    {"open NUL inside", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x03"
			      "a\0b")},
    {"open NUL first", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x02"
			     "\0b")},
    {"open NUL last", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x02"
			    "a\0")},
    {"open only NUL", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x01\x01\xbb\x01"
			    "\0")},
    {"open kind 0", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x01\xbb\x01"
			  "a")},
    {"open kind 4", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x04\x01\xbb\x01"
			  "a")},
    /* Kind 3 (forward) has a fixed target: a 4-byte listen id, and port 0. */
    {"open forward hlen 1", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x03\x00\x00\x01"
				  "a")},
    {"open forward hlen 3", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x03\x00\x00\x03"
				  "abc")},
    {"open forward hlen 5", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x03\x00\x00\x05"
				  "abcde")},
    {"open forward port 1", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x03\x00\x01\x04"
				  "abcd")},
    {"open forward port 0x100", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\x03\x01\x00\x04"
				      "abcd")},
    {"open kind 255", BYTES("\x01\x00\x00\x00\x01\x00\x01\x00\x00\xff\x01\xbb\x01"
			    "a")},
    {"open_ok short", BYTES("\x02\x00\x00\x00\x01\x00\x00\x01")},
    {"open_fail no len", BYTES("\x03\x00\x00\x00\x01\x02")},
    {"open_fail len 1, 0 bytes", BYTES("\x03\x00\x00\x00\x01\x02\x01")},
    {"open_fail len 3, 4 bytes", BYTES("\x03\x00\x00\x00\x01\x02\x03"
				       "abcd")},
    {"open_fail len 5, 4 bytes", BYTES("\x03\x00\x00\x00\x01\x02\x05"
				       "abcd")},
    {"open_fail len 255, 1 byte", BYTES("\x03\x00\x00\x00\x01\x02\xff"
					"a")},
    {"data 0 bytes", BYTES("\x04\x00\x00\x00\x01")},
    {"window 0", BYTES("\x05\x00\x00\x00\x01\x00\x00\x00\x00")},
    {"close flags 2", BYTES("\x07\x00\x00\x00\x01\x02")},
    {"close flags 3", BYTES("\x07\x00\x00\x00\x01\x03")},
    {"close flags 0x80", BYTES("\x07\x00\x00\x00\x01\x80")},
    {"close flags 0xff", BYTES("\x07\x00\x00\x00\x01\xff")},
    {"close no flags", BYTES("\x07\x00\x00\x00\x01")},
    {"ping 7", BYTES("\x08\x01\x02\x03\x04\x05\x06\x07")},
    {"ping 9", BYTES("\x08\x01\x02\x03\x04\x05\x06\x07\x08\x09")},
    {"pong 0", BYTES("\x09")},
    {"rekey + byte", BYTES("\x0a\x00")},
    {"goodbye + byte", BYTES("\x0b\x00")},
    {"listen no id", BYTES("\x0c\x00\x00\x01")},
    {"listen no hlen", BYTES("\x0c\x00\x00\x00\x01\x01\x00\x50")},
    {"listen hlen beyond", BYTES("\x0c\x00\x00\x00\x01\x01\x00\x50\x03"
				 "ab")},
    {"listen hlen short", BYTES("\x0c\x00\x00\x00\x01\x01\x00\x50\x01"
				"ab")},
    {"listen kind 0", BYTES("\x0c\x00\x00\x00\x01\x00\x00\x50\x01"
			    "a")},
    {"listen kind 3", BYTES("\x0c\x00\x00\x00\x01\x03\x00\x50\x01"
			    "a")},
    {"listen kind 255", BYTES("\x0c\x00\x00\x00\x01\xff\x00\x50\x01"
			      "a")},
    {"listen NUL in host", BYTES("\x0c\x00\x00\x00\x01\x01\x00\x50\x03"
				 "a\0b")},
    {"listen unix empty path", BYTES("\x0c\x00\x00\x00\x01\x02\x00\x00\x00")},
    {"listen unix with port", BYTES("\x0c\x00\x00\x00\x01\x02\x00\x50\x02"
				    "/s")},
    {"listen unix NUL in path", BYTES("\x0c\x00\x00\x00\x01\x02\x00\x00\x03"
				      "/\0s")},
    {"listen_ok short", BYTES("\x0d\x00\x00\x00\x01\x50")},
    {"listen_ok long", BYTES("\x0d\x00\x00\x00\x01\x00\x50\x00")},
    {"listen_fail no len", BYTES("\x0e\x00\x00\x00\x01\x0a")},
    {"listen_fail len 3, 2 bytes", BYTES("\x0e\x00\x00\x00\x01\x0a\x03"
					 "ab")},
    {"listen_fail len 1, 2 bytes", BYTES("\x0e\x00\x00\x00\x01\x0a\x01"
					 "ab")},
};

static void expect_refused(const char *name, const uint8_t *p, size_t len)
{
	struct frame f;
	uint8_t *copy;
	if (parse_exact(p, len, &f, &copy) != -1)
		fail_msg("%s: malformed frame accepted (type %u)", name, f.type);
	free(copy);
}

static void test_malformed_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		expect_refused(bads[i].name, bads[i].bytes, bads[i].len);
}

/* Type 0 and those after LAST_TYPE are unknown whatever follows them, at every plausible length. */
static void test_unknown_types(void **state)
{
	(void)state;
	uint8_t buf[300];
	memset(buf, 0x01, sizeof(buf));
	for (unsigned t = 0; t < 256; t++) {
		if (t >= FRAME_OPEN && t <= LAST_TYPE)
			continue;
		buf[0] = (uint8_t)t;
		for (size_t len = 1; len <= sizeof(buf); len++)
			expect_refused("unknown type", buf, len);
	}
}

/*
 * Every valid encoding with one byte less or one byte more is refused. DATA is
 * the exception by design, its length being implicit: only below 1 and above
 * FRAME_MAX_DATA bytes does it become malformed.
 */
static void test_truncated_extended(void **state)
{
	(void)state;
	uint8_t *out = malloc(FRAME_CAP + 1);
	assert_non_null(out);
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *sp = &specs[i];
		size_t len = encode(sp, out);
		out[len] = 0x00; /* the most innocent extra byte */
		int data = sp->type == FRAME_DATA;
		struct frame f;
		uint8_t *copy;

		int r = parse_exact(out, len - 1, &f, &copy);
		free(copy);
		if (r != (data && sp->data_len > 1 ? 0 : -1))
			fail_msg("%s truncated: %d", sp->name, r);
		r = parse_exact(out, len + 1, &f, &copy);
		free(copy);
		if (r != (data && sp->data_len < FRAME_MAX_DATA ? 0 : -1))
			fail_msg("%s extended: %d", sp->name, r);
	}
	free(out);
}

static void test_data_limits(void **state)
{
	(void)state;
	static const struct {
		size_t len;
		int want;
	} cases[] = {
	    {0, -1}, {1, 0}, {FRAME_MAX_DATA - 1, 0}, {FRAME_MAX_DATA, 0}, {FRAME_MAX_DATA + 1, -1},
	};
	uint8_t *buf = malloc(FRAME_CHAN_HDR + FRAME_MAX_DATA + 1);
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		frame_data_hdr(buf, 42);
		memset(buf + FRAME_CHAN_HDR, 0, cases[i].len);
		struct frame f;
		uint8_t *copy;
		int r = parse_exact(buf, FRAME_CHAN_HDR + cases[i].len, &f, &copy);
		if (r != cases[i].want)
			fail_msg("DATA with %zu bytes: %d", cases[i].len, r);
		if (r == 0) {
			assert_int_equal(f.chan, 42);
			assert_int_equal(f.len, cases[i].len);
		}
		free(copy);
	}
	free(buf);
}

/* xorshift64*: deterministic inputs, so a failure reproduces. */
static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

/* reencode: the encoding of a parsed frame, via the public encoders. */
static size_t reencode(const struct frame *f, uint8_t *out)
{
	char text[256];
	/* The encoders take C strings; a parsed host has no NUL in it, a message might. */
	if (f->data != NULL && f->type != FRAME_DATA) {
		memcpy(text, f->data, f->len);
		text[f->len] = '\0';
	}
	switch (f->type) {
	case FRAME_OPEN:
		if (f->kind == FRAME_TARGET_FORWARD)
			return frame_open_forward(out, f->chan, f->window, f->listen_id);
		return frame_open(out, f->chan, f->window, f->kind, text, f->port);
	case FRAME_OPEN_FAIL:
		return frame_open_fail(out, f->chan, f->code, text);
	case FRAME_LISTEN:
		return frame_listen(out, f->listen_id, f->kind, text, f->port);
	case FRAME_LISTEN_OK:
		return frame_listen_ok(out, f->listen_id, f->port);
	case FRAME_LISTEN_FAIL:
		return frame_listen_fail(out, f->listen_id, f->code, text);
	case FRAME_OPEN_OK:
		return frame_open_ok(out, f->chan, f->window);
	case FRAME_DATA:
		frame_data_hdr(out, f->chan);
		memcpy(out + FRAME_CHAN_HDR, f->data, f->len);
		return FRAME_CHAN_HDR + f->len;
	case FRAME_WINDOW:
		return frame_window(out, f->chan, f->increment);
	case FRAME_EOF:
		return frame_chan_only(out, f->type, f->chan);
	case FRAME_CLOSE:
		return frame_close(out, f->chan, f->flags);
	case FRAME_PING:
	case FRAME_PONG:
		return frame_ping(out, f->type, f->cookie);
	default:
		return frame_bare(out, f->type);
	}
}

/*
 * Near-valid inputs: a known type, a plausible length, random contents biased
 * towards the values the parser tests. Whatever is accepted must re-encode to
 * the very same bytes (an OPEN_FAIL message with a NUL is the one case the
 * C-string encoder cannot reproduce, and is skipped).
 */
static void test_canonical(void **state)
{
	(void)state;
	uint8_t in[32], out[300];
	size_t accepted[LAST_TYPE + 1] = {0};
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = 1 + (size_t)(rng() % sizeof(in));
		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng();
			in[i] = (r & 3) == 0 ? (uint8_t)(r >> 8) : (uint8_t)((r >> 8) % 4);
		}
		in[0] = (uint8_t)(rng() % (LAST_TYPE + 2));
		if (in[0] == FRAME_OPEN && len > 12) {
			in[12] = (uint8_t)(len - 13); /* usually make hlen fit */
			for (size_t i = 13; i < len; i++)
				in[i] = in[i] ? in[i] : 'a';
		}
		if ((in[0] == FRAME_OPEN_FAIL || in[0] == FRAME_LISTEN_FAIL) && len > 6)
			in[6] = (uint8_t)(len - 7);
		if (in[0] == FRAME_LISTEN && len > 8) {
			in[8] = (uint8_t)(len - 9);
			for (size_t i = 9; i < len; i++)
				in[i] = in[i] ? in[i] : 'a';
		}
		struct frame f;
		uint8_t *copy;
		if (parse_exact(in, len, &f, &copy) == 0) {
			assert_in_range(f.type, FRAME_OPEN, LAST_TYPE);
			accepted[f.type]++;
			int is_msg = f.type == FRAME_OPEN_FAIL || f.type == FRAME_LISTEN_FAIL;
			if (!(is_msg && memchr(f.data, 0, f.len) != NULL)) {
				size_t n = reencode(&f, out);
				if (n != len || memcmp(out, in, len) != 0)
					fail_msg("iteration %d: type %u does not re-encode", iter,
						 f.type);
			}
		}
		free(copy);
	}
	/* Make sure the generator reaches every type's success path, not just the refusals. */
	for (int t = FRAME_OPEN; t <= LAST_TYPE; t++)
		if (accepted[t] < 100)
			fail_msg("type %d accepted only %zu times", t, accepted[t]);
}

static void test_fail_text(void **state)
{
	(void)state;
	static const struct {
		uint8_t code;
		const char *text;
	} cases[] = {
	    {FRAME_FAIL_PROHIBITED, "administratively prohibited"},
	    {FRAME_FAIL_CONNECT, "connect failed"},
	    {FRAME_FAIL_RESOLVE, "name resolution failed"},
	    {FRAME_FAIL_RESOURCE, "resource shortage"},
	    {FRAME_FAIL_UNSUPPORTED, "unsupported target"},
	    {FRAME_FAIL_REFUSED, "connect failed"},
	    {FRAME_FAIL_NET_UNREACH, "connect failed"},
	    {FRAME_FAIL_HOST_UNREACH, "connect failed"},
	    {FRAME_FAIL_TIMEDOUT, "connect failed"},
	    {FRAME_FAIL_IN_USE, "address in use"},
	    {0, "unknown failure"},
	    {11, "unknown failure"},
	    {255, "unknown failure"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(frame_fail_text(cases[i].code), cases[i].text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	   cmocka_unit_test(test_wire_layout),
	    cmocka_unit_test(test_encoder_limits), cmocka_unit_test(test_malformed_table),
	    cmocka_unit_test(test_unknown_types),  cmocka_unit_test(test_truncated_extended),
	    cmocka_unit_test(test_data_limits),	   cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_fail_text),
	};
	return cmocka_run_group_tests(tests, setup_strings, NULL);
}
