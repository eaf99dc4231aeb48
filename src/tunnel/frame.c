/* SPDX-License-Identifier: MIT */
/*
 * frame: encode and decode multiplexing messages. Parsing is strict: a frame
 * must be exactly as long as its type says, so there is no slack for a peer
 * to smuggle bytes into, and a parser bug cannot read past the record.
 */
#include "tunnel/frame.h"

#include <string.h>

#include "util/wire.h"

static int parse_open(const uint8_t *p, size_t len, struct frame *f)
{
	/* chan(4) window(4) kind(1) port(2) hlen(1) host */
	if (len < 12)
		return -1;
	f->window = load32_be(p + 4);
	f->kind = p[8];
	f->port = load16_be(p + 9);
	f->len = p[11];
	f->data = p + 12;
	if (f->len == 0 || len != 12 + f->len)
		return -1;
	if (f->kind == FRAME_TARGET_FORWARD) {
		/* The target is the 4-byte id the server gave the -R listener. */
		if (f->len != 4 || f->port != 0)
			return -1;
		f->listen_id = load32_be(f->data);
		return 0;
	}
	if (f->kind != FRAME_TARGET_TCP && f->kind != FRAME_TARGET_UNIX)
		return -1;
	/* A NUL inside the name would let "a\0b" pass a policy check on "a". */
	if (memchr(f->data, 0, f->len) != NULL)
		return -1;
	return 0;
}

static int parse_chan_frame(const uint8_t *p, size_t len, struct frame *f)
{
	if (len < 4)
		return -1;
	f->chan = load32_be(p);
	switch (f->type) {
	case FRAME_OPEN:
		return parse_open(p, len, f);
	case FRAME_OPEN_OK:
		if (len != 8)
			return -1;
		f->window = load32_be(p + 4);
		return 0;
	case FRAME_OPEN_FAIL:
		if (len < 6 || len != 6 + (size_t)p[5])
			return -1;
		f->code = p[4];
		f->len = p[5];
		f->data = p + 6;
		return 0;
	case FRAME_DATA:
		f->data = p + 4;
		f->len = len - 4;
		return (f->len == 0 || f->len > FRAME_MAX_DATA) ? -1 : 0;
	case FRAME_WINDOW:
		if (len != 8)
			return -1;
		f->increment = load32_be(p + 4);
		return f->increment == 0 ? -1 : 0;
	case FRAME_EOF:
		return len == 4 ? 0 : -1;
	case FRAME_CLOSE:
		if (len != 5 || (p[4] & ~FRAME_CLOSE_RESET) != 0)
			return -1;
		f->flags = p[4];
		return 0;
	}
	return -1;
}

static int parse_listen(const uint8_t *p, size_t len, struct frame *f)
{
	if (len < 4)
		return -1;
	f->listen_id = load32_be(p);
	switch (f->type) {
	case FRAME_LISTEN:
		/* id(4) kind(1) port(2) len(1) host: an empty host means "unspecified" */
		if (len < 8 || len != 8 + (size_t)p[7])
			return -1;
		f->kind = p[4];
		f->port = load16_be(p + 5);
		f->len = p[7];
		f->data = p + 8;
		if (f->kind != FRAME_TARGET_TCP && f->kind != FRAME_TARGET_UNIX)
			return -1;
		if (f->kind == FRAME_TARGET_UNIX && (f->len == 0 || f->port != 0))
			return -1;
		return memchr(f->data, 0, f->len) == NULL ? 0 : -1;
	case FRAME_LISTEN_OK:
		if (len != 6)
			return -1;
		f->port = load16_be(p + 4);
		return 0;
	default: /* FRAME_LISTEN_FAIL */
		if (len < 6 || len != 6 + (size_t)p[5])
			return -1;
		f->code = p[4];
		f->len = p[5];
		f->data = p + 6;
		return 0;
	}
}

int frame_parse(const uint8_t *p, size_t len, struct frame *f)
{
	memset(f, 0, sizeof(*f));
	if (len < 1)
		return -1;
	f->type = p[0];
	p++;
	len--;
	switch (f->type) {
	case FRAME_PING:
	case FRAME_PONG:
		if (len != 8)
			return -1;
		f->cookie = load64_be(p);
		return 0;
	case FRAME_REKEY:
	case FRAME_GOODBYE:
		return len == 0 ? 0 : -1;
	case FRAME_LISTEN:
	case FRAME_LISTEN_OK:
	case FRAME_LISTEN_FAIL:
		return parse_listen(p, len, f);
	default:
		return parse_chan_frame(p, len, f);
	}
}

static size_t chan_hdr(uint8_t *out, uint8_t type, uint32_t chan)
{
	out[0] = type;
	store32_be(out + 1, chan);
	return FRAME_CHAN_HDR;
}

size_t frame_open(uint8_t *out, uint32_t chan, uint32_t window, uint8_t kind, const char *host,
		  uint16_t port)
{
	size_t hlen = strlen(host);
	if (hlen == 0 || hlen > FRAME_MAX_HOST)
		return 0;
	size_t n = chan_hdr(out, FRAME_OPEN, chan);
	store32_be(out + n, window);
	out[n + 4] = kind;
	store16_be(out + n + 5, port);
	out[n + 7] = (uint8_t)hlen;
	memcpy(out + n + 8, host, hlen);
	return n + 8 + hlen;
}

size_t frame_open_forward(uint8_t *out, uint32_t chan, uint32_t window, uint32_t listen_id)
{
	size_t n = chan_hdr(out, FRAME_OPEN, chan);
	store32_be(out + n, window);
	out[n + 4] = FRAME_TARGET_FORWARD;
	store16_be(out + n + 5, 0);
	out[n + 7] = 4;
	store32_be(out + n + 8, listen_id);
	return n + 12;
}

size_t frame_listen(uint8_t *out, uint32_t id, uint8_t kind, const char *host, uint16_t port)
{
	size_t hlen = strlen(host);
	if (hlen > FRAME_MAX_HOST)
		return 0;
	size_t n = chan_hdr(out, FRAME_LISTEN, id);
	out[n] = kind;
	store16_be(out + n + 1, port);
	out[n + 3] = (uint8_t)hlen;
	memcpy(out + n + 4, host, hlen);
	return n + 4 + hlen;
}

size_t frame_listen_ok(uint8_t *out, uint32_t id, uint16_t port)
{
	size_t n = chan_hdr(out, FRAME_LISTEN_OK, id);
	store16_be(out + n, port);
	return n + 2;
}

size_t frame_listen_fail(uint8_t *out, uint32_t id, uint8_t code, const char *msg)
{
	size_t n = frame_open_fail(out, id, code, msg);
	out[0] = FRAME_LISTEN_FAIL;
	return n;
}

size_t frame_open_ok(uint8_t *out, uint32_t chan, uint32_t window)
{
	size_t n = chan_hdr(out, FRAME_OPEN_OK, chan);
	store32_be(out + n, window);
	return n + 4;
}

size_t frame_open_fail(uint8_t *out, uint32_t chan, uint8_t code, const char *msg)
{
	size_t mlen = strlen(msg);
	if (mlen > FRAME_MAX_MSG)
		mlen = FRAME_MAX_MSG;
	size_t n = chan_hdr(out, FRAME_OPEN_FAIL, chan);
	out[n] = code;
	out[n + 1] = (uint8_t)mlen;
	memcpy(out + n + 2, msg, mlen);
	return n + 2 + mlen;
}

size_t frame_window(uint8_t *out, uint32_t chan, uint32_t increment)
{
	size_t n = chan_hdr(out, FRAME_WINDOW, chan);
	store32_be(out + n, increment);
	return n + 4;
}

size_t frame_chan_only(uint8_t *out, uint8_t type, uint32_t chan)
{
	return chan_hdr(out, type, chan);
}

size_t frame_close(uint8_t *out, uint32_t chan, uint8_t flags)
{
	size_t n = chan_hdr(out, FRAME_CLOSE, chan);
	out[n] = flags;
	return n + 1;
}

size_t frame_ping(uint8_t *out, uint8_t type, uint64_t cookie)
{
	out[0] = type;
	store64_be(out + 1, cookie);
	return 9;
}

size_t frame_bare(uint8_t *out, uint8_t type)
{
	out[0] = type;
	return 1;
}

void frame_data_hdr(uint8_t *out, uint32_t chan)
{
	chan_hdr(out, FRAME_DATA, chan);
}

const char *frame_fail_text(uint8_t code)
{
	switch (code) {
	case FRAME_FAIL_PROHIBITED:
		return "administratively prohibited";
	case FRAME_FAIL_CONNECT:
		return "connect failed";
	case FRAME_FAIL_RESOLVE:
		return "name resolution failed";
	case FRAME_FAIL_RESOURCE:
		return "resource shortage";
	case FRAME_FAIL_UNSUPPORTED:
		return "unsupported target";
	case FRAME_FAIL_REFUSED:
	case FRAME_FAIL_NET_UNREACH:
	case FRAME_FAIL_HOST_UNREACH:
	case FRAME_FAIL_TIMEDOUT:
		return "connect failed";
	case FRAME_FAIL_IN_USE:
		return "address in use";
	}
	return "unknown failure";
}
