/* SPDX-License-Identifier: MIT */
/*
 * knockgen: many fresh PSK knocks, made by the same encoder as `postern
 * knock` (spa_encode_psk), for the sustained pattern of bench/spa.py: a
 * process per knock (postern knock --save) makes a few hundred a second,
 * far too few to keep a server busy for a CPU second.
 *
 *   knockgen KEY_FILE PORT N OUT
 *       N knocks asking for tcp/PORT, each with its own e and nonce, written
 *       to OUT as records of a 2-byte big-endian length and the datagram
 *       (udpblast pack sends them). Prints "made N".
 *
 * cc -std=c17 -D_GNU_SOURCE -O2 -Isrc -o knockgen bench/knockgen.c \
 *    build/libpostern.a $(pkg-config --libs libuv inih libcrypto libnftables hiredis)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "spa/packet.h"
#include "util/clock.h"
#include "util/keys.h"

static int usage(void)
{
	fprintf(stderr, "usage: knockgen KEY_FILE PORT N OUT\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint8_t key[CRYPTO_KEY_LEN], pkt[SPA_DATAGRAM_MAX + 2];
	enum keys_kind kind;
	char err[512];
	if (argc != 5)
		return usage();
	long port = strtol(argv[2], NULL, 10), n = strtol(argv[3], NULL, 10);
	if (port < 1 || port > 65535 || n < 1)
		return usage();
	if (keys_load_any(argv[1], &kind, key, err) != 0) {
		fprintf(stderr, "knockgen: %s\n", err);
		return 1;
	}
	if (kind != KEYS_PSK) {
		fprintf(stderr, "knockgen: %s: not a pre-shared key\n", argv[1]);
		crypto_wipe(key, sizeof(key));
		return 1;
	}
	struct spa_request req = {.naccess = 1};
	req.access[0].proto = SPA_PROTO_TCP;
	req.access[0].port = (uint16_t)port;
	snprintf(req.label, sizeof(req.label), "knockgen");
	FILE *out = fopen(argv[4], "wb");
	int rc = 1;
	if (out == NULL) {
		perror(argv[4]);
		goto done;
	}
	for (long i = 0; i < n; i++) {
		long len = spa_encode_psk(key, &req, clock_wall_ms(), pkt + 2, sizeof(pkt) - 2);
		if (len < 0) {
			fprintf(stderr, "knockgen: cannot encode a knock\n");
			goto done;
		}
		pkt[0] = (uint8_t)(len >> 8);
		pkt[1] = (uint8_t)len;
		if (fwrite(pkt, 1, (size_t)len + 2, out) != (size_t)len + 2) {
			perror(argv[4]);
			goto done;
		}
	}
	if (fclose(out) != 0) {
		out = NULL;
		perror(argv[4]);
		goto done;
	}
	out = NULL;
	printf("made %ld\n", n);
	rc = 0;
done:
	if (out != NULL)
		fclose(out);
	crypto_wipe(key, sizeof(key));
	return rc;
}
