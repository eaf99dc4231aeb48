/* SPDX-License-Identifier: MIT */
/*
 * spa/request: what one authenticated knock asks for, whichever format it
 * came in (postern's own packet, spa/packet.c, or a fwknop 2.x packet,
 * spa/fwknop.c). The receiver (spa/spa.c) judges a request against the
 * identity's policy and turns it into grants (spa/grant.h). Plain data.
 */
#ifndef POSTERN_SPA_REQUEST_H
#define POSTERN_SPA_REQUEST_H

#include <stdint.h>

enum {
	SPA_ACCESS_MAX = 8, /* proto/port pairs in one knock */
	SPA_LABEL_MAX = 32, /* client label bytes (printable ASCII only) */
	SPA_HOST_MAX = 255, /* forward target host */
	SPA_ID_LEN = 32,    /* replay fingerprint */
	SPA_DATAGRAM_MAX = 1200,
};

enum spa_proto { SPA_PROTO_TCP = 6, SPA_PROTO_UDP = 17 };

struct spa_access {
	uint8_t proto; /* enum spa_proto */
	uint16_t port; /* 1..65535 */
};

/* An address in network byte order; family 0 = none. */
struct spa_addr {
	int family; /* AF_INET, AF_INET6 or 0 */
	uint8_t addr[16];
};

struct spa_request {
	uint64_t ts_ms;		/* the sender's clock (fwknop: seconds * 1000) */
	uint8_t id[SPA_ID_LEN]; /* replay fingerprint, unique per packet */
	struct spa_access access[SPA_ACCESS_MAX];
	unsigned naccess;
	int has_forward;		     /* forward access (DNAT) asked for */
	char forward_host[SPA_HOST_MAX + 1]; /* an IP literal (names are refused) */
	uint16_t forward_port;
	struct spa_addr allow;	       /* address to open; family 0 = the packet's source */
	char label[SPA_LABEL_MAX + 1]; /* for logs only; never trusted */
	unsigned timeout_s;	       /* asked grant time; 0 = the server's default */
	uint32_t owner;		       /* index of the identity that authenticated it */
};

#endif
