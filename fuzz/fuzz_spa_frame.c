/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the packet-ring frame parser (spa/ring.c): with
 * [spa] receive = ring every IP packet to the knock port reaches
 * spa_frame_parse() before the UDP layer has looked at it. The first input
 * byte picks the listen address (IPv4 or IPv6, wildcard or not) and how
 * many bytes of the packet were "captured"; the rest is the packet. A frame
 * it accepts must lie inside the captured bytes, come from the listen
 * port's packet, and carry a source of the listen family.
 *
 * make build/fuzz/fuzz_spa_frame && build/fuzz/fuzz_spa_frame fuzz/corpus/spa_frame
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spa/request.h"
#include "spa/ring.h"

static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	struct spa_frame f;
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const uint8_t *pkt = data + 1;
	size_t wirelen = size - 1, caplen = wirelen;
	/* Half the inputs lose their tail, as a ring truncates a jumbo packet. */
	if ((mode & 0x04) && wirelen > 0)
		caplen = wirelen - (size_t)(mode >> 3) % (wirelen + 1);
	memset(&ss, 0, sizeof(ss));
	if (mode & 0x01) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(62201);
		if (mode & 0x02)
			inet_pton(AF_INET6, "fd00::1", &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(62201);
		if (mode & 0x02)
			inet_pton(AF_INET, "10.0.0.1", &s4->sin_addr);
	}
	/* A copy of exactly the captured bytes, so ASan sees any read past them. */
	uint8_t *cap = malloc(caplen ? caplen : 1);
	require(cap != NULL);
	memcpy(cap, pkt, caplen);
	if (spa_frame_parse(cap, caplen, wirelen, (struct sockaddr *)&ss, &f)) {
		require(f.payload >= cap && f.payload + f.len <= cap + caplen);
		require(f.len <= SPA_DATAGRAM_MAX + 1);
		require(f.src.ss_family == ss.ss_family);
		require(f.srclen == (ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							     : sizeof(struct sockaddr_in6)));
		/* The destination port sits right before the UDP length. */
		require(f.payload[-6] == (62201 >> 8) && f.payload[-5] == (62201 & 0xff));
	}
	free(cap);
	return 0;
}
