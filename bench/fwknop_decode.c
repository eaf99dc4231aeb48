/* SPDX-License-Identifier: MIT */
/*
 * fwknop_decode: the in-process cost of spa/fwknop.c, without any socket:
 * a valid fwknop packet, the same with a wrong HMAC (a stranger's packet or
 * another identity's), and binary junk. The ceiling for what a receiver
 * built on it can verify per CPU second; bench/spa.py prints it.
 *
 *   cc -std=c17 -D_GNU_SOURCE -O2 -Isrc -o fwknop_decode bench/fwknop_decode.c \
 *      src/spa/fwknop.c src/crypto/crypto.c -lcrypto -lpthread
 *   fwknop_decode PACKET_FILE KEY_BASE64 HMAC_KEY_BASE64
 * Prints "valid US", "bad_hmac US" and "junk US": microseconds per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spa/fwknop.h"

enum { ROUNDS = 100000 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double per_call(const uint8_t *pkt, size_t n, const struct fwknop_key *k, int want)
{
	struct spa_request r;
	char why[FWKNOP_WHY_MAX];
	double t0 = now();

	for (int i = 0; i < ROUNDS; i++)
		if (fwknop_decode(pkt, n, k, &r, why) != want) {
			fprintf(stderr, "fwknop_decode: not %d: %s\n", want, why);
			exit(1);
		}
	return (now() - t0) / ROUNDS * 1e6;
}

int main(int argc, char **argv)
{
	struct fwknop_key k;
	uint8_t pkt[2048];
	size_t n;
	FILE *f;

	if (argc != 4 || fwknop_key_from_base64(argv[2], k.key, 32, &k.key_len) != 0 ||
	    fwknop_key_from_base64(argv[3], k.hmac, sizeof(k.hmac), &k.hmac_len) != 0 ||
	    (f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: fwknop_decode PACKET_FILE KEY_BASE64 HMAC_KEY_BASE64\n");
		return 2;
	}
	n = fread(pkt, 1, sizeof(pkt), f);
	fclose(f);
	while (n > 0 && (pkt[n - 1] == '\n' || pkt[n - 1] == '\r'))
		n--;
	printf("valid %.2f\n", per_call(pkt, n, &k, 1));
	pkt[n / 2] = pkt[n / 2] == 'A' ? 'B' : 'A';
	printf("bad_hmac %.2f\n", per_call(pkt, n, &k, 0));
	pkt[n / 2] = 0x80;
	printf("junk %.3f\n", per_call(pkt, n, &k, 0));
	return 0;
}
