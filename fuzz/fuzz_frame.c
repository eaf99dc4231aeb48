/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for frame_parse(): every record plaintext from an
 * authenticated peer goes through it, so a parser bug is reachable by anyone
 * holding a key. Beyond memory safety it checks the parser against the
 * encoders: a frame the parser accepts must re-encode, with the matching
 * encoder, to the very bytes it came from (parsing is strict, so each frame
 * has one encoding), and parsing that encoding must give the same fields.
 *
 * make fuzz-build && build/fuzz/fuzz_frame fuzz/corpus/frame
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/frame.h"

static uint8_t out[FRAME_CHAN_HDR + FRAME_MAX_DATA + 16];

/* A broken invariant: stop loudly so libFuzzer reports the input. */
static void require(int cond)
{
	if (!cond)
		abort();
}

/*
 * encode: the frame back to bytes with the public encoders. *exact is
 * cleared when the encoder cannot reproduce the input byte for byte: it takes
 * a C string, so an OPEN_FAIL or LISTEN_FAIL message with a NUL in it is cut
 * at the NUL. Hosts and paths cannot hold a NUL: the parser refuses them.
 */
static size_t encode(const struct frame *f, int *exact)
{
	char text[FRAME_MAX_MSG + 1];
	*exact = 1;
	if (f->data != NULL && f->type != FRAME_DATA) {
		require(f->len <= FRAME_MAX_MSG && FRAME_MAX_MSG == FRAME_MAX_HOST);
		memcpy(text, f->data, f->len);
		text[f->len] = '\0';
	}
	switch (f->type) {
	case FRAME_OPEN:
		if (f->kind == FRAME_TARGET_FORWARD)
			return frame_open_forward(out, f->chan, f->window, f->listen_id);
		return frame_open(out, f->chan, f->window, f->kind, text, f->port);
	case FRAME_OPEN_FAIL:
		*exact = strlen(text) == f->len;
		return frame_open_fail(out, f->chan, f->code, text);
	case FRAME_LISTEN:
		return frame_listen(out, f->listen_id, f->kind, text, f->port);
	case FRAME_LISTEN_OK:
		return frame_listen_ok(out, f->listen_id, f->port);
	case FRAME_LISTEN_FAIL:
		*exact = strlen(text) == f->len;
		return frame_listen_fail(out, f->listen_id, f->code, text);
	case FRAME_OPEN_OK:
		return frame_open_ok(out, f->chan, f->window);
	case FRAME_DATA:
		require(f->len >= 1 && f->len <= FRAME_MAX_DATA);
		frame_data_hdr(out, f->chan);
		memcpy(out + FRAME_CHAN_HDR, f->data, f->len);
		return FRAME_CHAN_HDR + f->len;
	case FRAME_WINDOW:
		return frame_window(out, f->chan, f->increment);
	case FRAME_EOF:
		return frame_chan_only(out, FRAME_EOF, f->chan);
	case FRAME_CLOSE:
		return frame_close(out, f->chan, f->flags);
	case FRAME_PING:
	case FRAME_PONG:
		return frame_ping(out, f->type, f->cookie);
	case FRAME_REKEY:
	case FRAME_GOODBYE:
		return frame_bare(out, f->type);
	}
	/* The parser accepted a type no encoder knows. */
	abort();
}

/* same_fields: ${a} and ${b} describe the same frame (payloads compared by content). */
static int same_fields(const struct frame *a, const struct frame *b)
{
	if (a->type != b->type || a->chan != b->chan || a->window != b->window ||
	    a->listen_id != b->listen_id || a->increment != b->increment || a->kind != b->kind ||
	    a->port != b->port || a->code != b->code || a->flags != b->flags ||
	    a->cookie != b->cookie || a->len != b->len)
		return 0;
	if ((a->data == NULL) != (b->data == NULL))
		return 0;
	return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f, g;
	if (frame_parse(data, size, &f) != 0)
		return 0;
	require(f.type >= FRAME_OPEN && f.type <= FRAME_LISTEN_FAIL);
	/* The payload is a view into the input, never beyond it. */
	if (f.data != NULL)
		require(f.data >= data && f.data + f.len == data + size);

	int exact;
	size_t n = encode(&f, &exact);
	require(n > 0 && n <= sizeof(out));
	if (exact) {
		require(n == size && memcmp(out, data, size) == 0);
		require(frame_parse(out, n, &g) == 0 && same_fields(&f, &g));
	} else {
		/* The message lost its tail at the NUL; every other field must survive. */
		const uint8_t *nul = memchr(f.data, 0, f.len);
		require(nul != NULL);
		require(frame_parse(out, n, &g) == 0);
		f.len = (size_t)(nul - f.data);
		require(same_fields(&f, &g));
	}
	return 0;
}
