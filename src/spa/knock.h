/* SPDX-License-Identifier: MIT */
/*
 * spa/knock: the sending side: build one knock and send it in one UDP
 * datagram (blocking; `postern knock` and the client's --knock). Nothing
 * comes back, by design, so success means only "sent".
 */
#ifndef POSTERN_SPA_KNOCK_H
#define POSTERN_SPA_KNOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "spa/request.h"

enum { KNOCK_ERR_MAX = 256 };

/* Who knocks: a PSK (kind 0x01), or an x25519 key pair towards a pinned host key (0x02). */
struct knock_key {
	int ik; /* 0: key is the PSK; 1: key is our x25519 private key */
	uint8_t key[32];
	uint8_t server_pub[32]; /* ik only */
};

/*
 * knock_send_to(k, req, sa, salen, save, err): encode ${req} under ${k}
 * with the clock now, send it to ${sa}; with ${save} (a path, or NULL) also
 * write the datagram there (mode 0600), as fwknop's --save-packet. Returns
 * 0, or -1 with ${err} (KNOCK_ERR_MAX bytes).
 */
int knock_send_to(const struct knock_key *k, const struct spa_request *req,
		  const struct sockaddr *sa, socklen_t salen, const char *save, char *err);

/*
 * knock_send(k, req, host, port, save, err): knock_send_to() every
 * address ${host} resolves to (the first that sends ends it). 0 or -1.
 */
int knock_send(const struct knock_key *k, const struct spa_request *req, const char *host,
	       uint16_t port, const char *save, char *err);

#endif
