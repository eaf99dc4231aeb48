/* SPDX-License-Identifier: MIT */
/*
 * aead_speed: how fast crypto.c seals one record size on one core. No tunnel
 * can move bulk data faster than this, so it is the crypto ceiling the
 * throughput benchmark is read against. Megabytes are 10^6 bytes.
 *
 * cc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/aead_speed.c src/crypto/crypto.c -lcrypto
 * ./a.out [seconds per case, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/crypto.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seals records of ${size} bytes in place, as the tunnel does, for about ${secs} seconds. */
static int measure(enum crypto_aead_alg alg, const char *name, size_t size, double secs)
{
	uint8_t key[CRYPTO_KEY_LEN];
	uint8_t *buf = calloc(1, size + CRYPTO_TAG_LEN);
	struct crypto_aead *a = NULL;
	uint64_t n = 0;
	double start, elapsed;
	int rc = -1;

	if (buf == NULL || crypto_random(key, sizeof(key)) != 0)
		goto out;
	a = crypto_aead_new(alg, key);
	if (a == NULL)
		goto out;
	start = now();
	do {
		/* Batches keep the clock out of the measurement. */
		for (int i = 0; i < 64; i++) {
			if (crypto_aead_seal(a, n++, NULL, 0, buf, size) != 0)
				goto out;
		}
		elapsed = now() - start;
	} while (elapsed < secs);
	printf("%s %zu B: %.0f MB/s\n", name, size, (double)n * (double)size / elapsed / 1e6);
	rc = 0;
out:
	crypto_aead_free(a);
	crypto_wipe(key, sizeof(key));
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	const size_t sizes[] = {16384, 65536};
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	int rc = 0;

	if (secs <= 0)
		secs = 1.0;
	for (size_t i = 0; i < 2; i++) {
		rc |= measure(CRYPTO_CHACHAPOLY, "chacha20-poly1305", sizes[i], secs);
		rc |= measure(CRYPTO_AESGCM, "aes-256-gcm", sizes[i], secs);
	}
	return rc == 0 ? 0 : 1;
}
