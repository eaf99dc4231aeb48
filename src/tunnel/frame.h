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
};

enum {
	FRAME_CHAN_HDR = 5,	  /* type + channel id: the prefix of channel frames */
	FRAME_MAX_DATA = 262144,  /* bytes of stream data in one DATA frame */
	FRAME_MAX_HOST = 255,
	FRAME_MAX_MSG = 255,
	FRAME_TARGET_TCP = 1,	  /* OPEN target kinds */
	FRAME_TARGET_UNIX = 2,
	FRAME_CLOSE_RESET = 1,	  /* CLOSE flags */
};

/* OPEN_FAIL reason codes. */
enum frame_fail {
	FRAME_FAIL_PROHIBITED = 1, /* policy refused the destination */
	FRAME_FAIL_CONNECT = 2,	   /* connect() failed */
	FRAME_FAIL_RESOLVE = 3,	   /* name did not resolve */
	FRAME_FAIL_RESOURCE = 4,   /* a limit was reached */
	FRAME_FAIL_UNSUPPORTED = 5,
};

struct frame {
	uint8_t type;
	uint32_t chan;
	uint32_t window;      /* OPEN, OPEN_OK */
	uint32_t increment;   /* WINDOW */
	uint8_t kind;	      /* OPEN: FRAME_TARGET_* */
	uint16_t port;	      /* OPEN */
	uint8_t code;	      /* OPEN_FAIL */
	uint8_t flags;	      /* CLOSE */
	uint64_t cookie;      /* PING, PONG */
	const uint8_t *data;  /* DATA payload; OPEN host or path; OPEN_FAIL message */
	size_t len;
};

/* frame_parse(p, len, f): decode one frame. Returns 0, or -1 if malformed. */
int frame_parse(const uint8_t *p, size_t len, struct frame *f);

/*
 * Encoders write into ${out} (at least frame_max_len() bytes for the
 * frame) and return the encoded length, or 0 if an argument is out of range.
 */
size_t frame_open(uint8_t *out, uint32_t chan, uint32_t window, uint8_t kind, const char *host,
		  uint16_t port);
size_t frame_open_ok(uint8_t *out, uint32_t chan, uint32_t window);
size_t frame_open_fail(uint8_t *out, uint32_t chan, uint8_t code, const char *msg);
size_t frame_window(uint8_t *out, uint32_t chan, uint32_t increment);
size_t frame_chan_only(uint8_t *out, uint8_t type, uint32_t chan); /* EOF */
size_t frame_close(uint8_t *out, uint32_t chan, uint8_t flags);
size_t frame_ping(uint8_t *out, uint8_t type, uint64_t cookie); /* PING, PONG */
size_t frame_bare(uint8_t *out, uint8_t type);			 /* REKEY, GOODBYE */

/* frame_data_hdr(out, chan): the 5-byte prefix of a DATA frame. */
void frame_data_hdr(uint8_t *out, uint32_t chan);

/* frame_fail_text(code): "administratively prohibited", "connect failed", ... */
const char *frame_fail_text(uint8_t code);

#endif
