/* SPDX-License-Identifier: MIT */
/*
 * proto: every constant of the wire protocol (docs/PROTOCOL.md) in one
 * place, so the handshake, record and frame modules and the session derive
 * their bounds from one another instead of repeating numbers.
 */
#ifndef POSTERN_PROTO_H
#define POSTERN_PROTO_H

enum {
	PROTO_HS_MSG_LEN = 64, /* both handshake messages are this long (section 3) */
	PROTO_HS_IK_LEN = 128, /* ... except an IK message 1 (section 3.4) */
};

/*
 * Channel ids (section 5.1): the client opens ids with the top bit clear,
 * the server ids with it set, so the two ends never pick the same one; 0
 * is never a channel.
 */
#define PROTO_CHAN_SERVER_BIT 0x80000000u
#define PROTO_CHAN_ID_MASK    0x7fffffffu

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
	/* The largest frame: a DATA header and payload; the rest of the 64
	 * bytes is headroom every receiver has always accepted. */
	FRAME_MAX_LEN = FRAME_MAX_DATA + 64,
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

#endif
