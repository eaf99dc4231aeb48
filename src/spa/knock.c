/* SPDX-License-Identifier: MIT */
/*
 * spa/knock: one knock, built and sent.
 */
#include "spa/knock.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "spa/packet.h"

static int save_packet(const char *path, const uint8_t *pkt, size_t len, char *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, pkt, len) != (ssize_t)len) {
		snprintf(err, KNOCK_ERR_MAX, "--save %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

int knock_send_to(const struct knock_key *k, const struct spa_request *req,
		  const struct sockaddr *sa, socklen_t salen, const char *save, char *err)
{
	uint8_t pkt[SPA_DATAGRAM_MAX];
	long n = k->ik
		     ? spa_encode_ik(k->key, k->server_pub, req, clock_wall_ms(), pkt, sizeof(pkt))
		     : spa_encode_psk(k->key, req, clock_wall_ms(), pkt, sizeof(pkt));
	if (n < 0) {
		snprintf(err, KNOCK_ERR_MAX, "cannot encode the knock");
		return -1;
	}
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, KNOCK_ERR_MAX, "socket: %s", strerror(errno));
		return -1;
	}
	ssize_t w = sendto(fd, pkt, (size_t)n, 0, sa, salen);
	int e = errno;
	close(fd);
	if (w != n) {
		snprintf(err, KNOCK_ERR_MAX, "sendto: %s", strerror(e));
		return -1;
	}
	return save != NULL ? save_packet(save, pkt, (size_t)n, err) : 0;
}

int knock_send(const struct knock_key *k, const struct spa_request *req, const char *host,
	       uint16_t port, const char *save, char *err)
{
	char svc[8];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
	snprintf(svc, sizeof(svc), "%u", (unsigned)port);
	int g = getaddrinfo(host, svc, &hints, &res);
	if (g != 0) {
		snprintf(err, KNOCK_ERR_MAX, "%s: %s", host, gai_strerror(g));
		return -1;
	}
	int rc = -1;
	for (struct addrinfo *a = res; a != NULL && rc != 0; a = a->ai_next)
		rc = knock_send_to(k, req, a->ai_addr, a->ai_addrlen, save, err);
	freeaddrinfo(res);
	return rc;
}
