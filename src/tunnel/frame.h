/* SPDX-License-Identifier: MIT */
/*
 * frame: the multiplexing messages carried one per record (docs/PROTOCOL.md,
 * section 5). Pure parse and encode; the session and channel modules give
 * them meaning. Every length is checked against the record it came in.
 */
#ifndef POSTERN_FRAME_H
#define POSTERN_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum frame_type {
	FRAME_OPEN = 1,
	FRAME_OPEN_OK = 2,
	FRAME_OPEN_FAIL = 3,
	FRAME_DATA = 4,
	FRAME_WINDOW = 5,
	FRAME_EOF = 6,
	FRAME_CLOSE = 7,
	FRAME_PING = 8,
	FRAME_PONG = 9,
	FRAME_REKEY = 10,
	FRAME_GOODBYE = 11,
	FRAME_LISTEN = 12,
	FRAME_LISTEN_OK = 13,
	FRAME_LISTEN_FAIL = 14,
};

enum {
	FRAME_CHAN_HDR = 5,	 /* type + channel id: the prefix of channel frames */
	FRAME_MAX_DATA = 262144, /* bytes of stream data in one DATA frame */
	FRAME_MAX_HOST = 255,
	FRAME_MAX_MSG = 255,
	FRAME_TARGET_TCP = 1, /* OPEN target kinds */
	FRAME_TARGET_UNIX = 2,
	FRAME_TARGET_FORWARD = 3, /* server -> client: a -R connection; target = listen id */
	FRAME_CLOSE_RESET = 1,	  /* CLOSE flags */
};

/* OPEN_FAIL reason codes. */
enum frame_fail {
	FRAME_FAIL_PROHIBITED = 1, /* policy refused the destination */
	FRAME_FAIL_CONNECT = 2,	   /* connect() failed */
	FRAME_FAIL_RESOLVE = 3,	   /* name did not resolve */
	FRAME_FAIL_RESOURCE = 4,   /* a limit was reached */
	FRAME_FAIL_UNSUPPORTED = 5,
	FRAME_FAIL_REFUSED = 6, /* connect(): connection refused */
	FRAME_FAIL_NET_UNREACH = 7,
	FRAME_FAIL_HOST_UNREACH = 8,
	FRAME_FAIL_TIMEDOUT = 9,
	FRAME_FAIL_IN_USE = 10, /* LISTEN: address in use */
};

struct frame {
	uint8_t type;
	uint32_t chan;
	uint32_t window;     /* OPEN, OPEN_OK */
	uint32_t listen_id;  /* LISTEN*, OPEN of kind FRAME_TARGET_FORWARD */
	uint32_t increment;  /* WINDOW */
	uint8_t kind;	     /* OPEN: FRAME_TARGET_* */
	uint16_t port;	     /* OPEN, LISTEN, LISTEN_OK */
	uint8_t code;	     /* OPEN_FAIL, LISTEN_FAIL */
	uint8_t flags;	     /* CLOSE */
	uint64_t cookie;     /* PING, PONG */
	const uint8_t *data; /* DATA payload; OPEN/LISTEN host or path; *_FAIL message */
	size_t len;
};

/* frame_parse(p, len, f): decode one frame. Returns 0, or -1 if malformed. */
int frame_parse(const uint8_t *p, size_t len, struct frame *f);

/*
 * Encoders write into ${out} (room for the frame's largest form: a 5-byte
 * channel header plus its fields and text) and return the encoded length,
 * or 0 if a text argument is too long. Callers pass only values the parser
 * accepts (window increments >= 1, known kinds and flags).
 */
size_t frame_open(uint8_t *out, uint32_t chan, uint32_t window, uint8_t kind, const char *host,
		  uint16_t port);
size_t frame_open_forward(uint8_t *out, uint32_t chan, uint32_t window, uint32_t listen_id);
size_t frame_open_ok(uint8_t *out, uint32_t chan, uint32_t window);
size_t frame_listen(uint8_t *out, uint32_t id, uint8_t kind, const char *host, uint16_t port);
size_t frame_listen_ok(uint8_t *out, uint32_t id, uint16_t port);
size_t frame_listen_fail(uint8_t *out, uint32_t id, uint8_t code, const char *msg);
size_t frame_open_fail(uint8_t *out, uint32_t chan, uint8_t code, const char *msg);
size_t frame_window(uint8_t *out, uint32_t chan, uint32_t increment);
size_t frame_chan_only(uint8_t *out, uint8_t type, uint32_t chan); /* EOF */
size_t frame_close(uint8_t *out, uint32_t chan, uint8_t flags);
size_t frame_ping(uint8_t *out, uint8_t type, uint64_t cookie); /* PING, PONG */
size_t frame_bare(uint8_t *out, uint8_t type);			/* REKEY, GOODBYE */

/* frame_data_hdr(out, chan): the 5-byte prefix of a DATA frame. */
void frame_data_hdr(uint8_t *out, uint32_t chan);

/* frame_fail_text(code): "administratively prohibited", "connect failed", ... */
const char *frame_fail_text(uint8_t code);

#endif
