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

#include "tunnel/proto.h"

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
