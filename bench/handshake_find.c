/* SPDX-License-Identifier: MIT */
/*
 * handshake_find: time the server's key search with many keys, for a junk
 * message (every trial fails) and for the first and the last key. The
 * precomputation and the trials are those of the server (tunnel/handshake.c).
 *
 *   make && cc -O2 -Isrc -o build/handshake_find bench/handshake_find.c \
 *       build/libpostern.a $(pkg-config --libs libcrypto) && build/handshake_find 4096
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tunnel/handshake.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double time_find(const struct handshake_keys *k, const uint8_t *msg1, int rounds)
{
	struct handshake_found f;
	double t0 = now_ms();
	for (int i = 0; i < rounds; i++) {
		handshake_find(k, msg1, &f);
		handshake_found_clear(&f);
	}
	return (now_ms() - t0) / rounds;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 4096;
	uint8_t(*psk)[CRYPTO_KEY_LEN] = calloc(n, CRYPTO_KEY_LEN);
	const uint8_t **p = calloc(n, sizeof(*p));
	uint8_t junk[HANDSHAKE_MSG_LEN], first[HANDSHAKE_MSG_LEN], last[HANDSHAKE_MSG_LEN];
	if (n == 0 || psk == NULL || p == NULL)
		return 1;
	for (size_t i = 0; i < n; i++) {
		crypto_random(psk[i], CRYPTO_KEY_LEN);
		p[i] = psk[i];
	}
	crypto_random(junk, sizeof(junk));
	double t0 = now_ms();
	struct handshake_keys *k = handshake_keys_new(p, n);
	double pre = now_ms() - t0;
	noise_hs_free(handshake_client_begin(p[0], CRYPTO_CHACHAPOLY, 0, first));
	noise_hs_free(handshake_client_begin(p[n - 1], CRYPTO_AESGCM, 0, last));
	printf("%zu keys: precompute %.1f ms; junk message %.2f ms; first key %.3f ms; last key "
	       "(second suite) %.2f ms\n",
	       n, pre, time_find(k, junk, 10), time_find(k, first, 100), time_find(k, last, 10));
	handshake_keys_free(k);
	free(p);
	free(psk);
	return 0;
}
