/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for fwknop_decode(): every datagram on the SPA port
 * reaches it, from anyone. A random packet almost never passes the HMAC, so
 * the first input byte picks what the rest is:
 *   0: a raw datagram, decoded as it arrived (seeds: real fwknop packets);
 *   1: an inner message without its digest: the harness appends a valid
 *      SHA-256 digest and seals it with the test key, so the field parser
 *      sees mutations of authentic plaintexts;
 *   2: an inner message as is (digest and all), sealed.
 * Beyond memory safety it checks the decoder's contract: 1 only with a sane
 * request, anything else leaves the request zeroed.
 *
 * make build/fuzz/fuzz_fwknop && build/fuzz/fuzz_fwknop fuzz/corpus/fwknop
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "crypto/crypto.h"
#include "spa/fwknop.h"

/* tests/vectors/fwknop/keys, so the real packets in the corpus authenticate. */
static const char key_b64[] = "WCoza+ULfRsMf6lA2clzSnOLVcacynSSexmZo8HTdN0=";
static const char hmac_b64[] =
    "eDWQmQkJPWOKeirhcMowaeDbdfQxwVcR3v+Jkx7WnG6vWT3AJ7TkURB9foaZHILTHeK9zJFS9JQlG5VAYi/l7Q==";

static void require(int cond)
{
	if (!cond)
		abort();
}

static void b64(const uint8_t *in, size_t n, char *out)
{
	static const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = t[w >> 18 & 63];
		out[o++] = t[w >> 12 & 63];
		if (i + 1 < n)
			out[o++] = t[w >> 6 & 63];
		if (i + 2 < n)
			out[o++] = t[w & 63];
	}
	out[o] = '\0';
}

static void check(int rc, const struct spa_request *r)
{
	static const struct spa_request zero;

	require(rc >= -1 && rc <= 1);
	if (rc != 1) {
		require(memcmp(r, &zero, sizeof(zero)) == 0);
		return;
	}
	require(r->naccess >= 1 && r->naccess <= SPA_ACCESS_MAX);
	for (unsigned i = 0; i < r->naccess; i++) {
		require(r->access[i].port != 0);
		require(r->access[i].proto == SPA_PROTO_TCP || r->access[i].proto == SPA_PROTO_UDP);
	}
	require(memchr(r->label, '\0', sizeof(r->label)) != NULL);
	for (const char *p = r->label; *p; p++)
		require(*p >= 0x20 && *p <= 0x7e);
	require(r->allow.family == 0 || r->allow.family == AF_INET);
	require(r->timeout_s <= 65536);
	if (r->has_forward) {
		uint8_t a[16];
		require(r->forward_port != 0);
		require(memchr(r->forward_host, '\0', sizeof(r->forward_host)) != NULL);
		require(inet_pton(AF_INET, r->forward_host, a) == 1 ||
			inet_pton(AF_INET6, r->forward_host, a) == 1);
	} else {
		require(r->forward_host[0] == '\0' && r->forward_port == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fwknop_key k;
	static int ready;
	static const uint8_t salt[8] = {'f', 'u', 'z', 'z', 's', 'a', 'l', 't'};
	struct spa_request r;
	char why[FWKNOP_WHY_MAX], plain[1024], pkt[1600];
	uint8_t md[32];
	int rc, len;

	if (!ready) {
		require(fwknop_key_from_base64(key_b64, k.key, 32, &k.key_len) == 0);
		require(fwknop_key_from_base64(hmac_b64, k.hmac, sizeof(k.hmac), &k.hmac_len) == 0);
		ready = 1;
	}
	if (size < 1)
		return 0;
	memset(&r, 0x5a, sizeof(r));
	if (data[0] % 3 == 0) {
		rc = fwknop_decode(data + 1, size - 1, &k, &r, why);
		check(rc, &r);
		return 0;
	}
	if (size - 1 > 600)
		return 0;
	memcpy(plain, data + 1, size - 1);
	len = (int)size - 1;
	if (data[0] % 3 == 1) {
		require(crypto_hash(CRYPTO_SHA256, md, data + 1, size - 1, NULL, 0) == 0);
		plain[len++] = ':';
		b64(md, sizeof(md), plain + len);
		len += 43;
	}
	len = fwknop_seal(plain, (size_t)len, &k, salt, pkt, sizeof(pkt));
	require(len > 0);
	rc = fwknop_decode((const uint8_t *)pkt, (size_t)len, &k, &r, why);
	/* The sealed packet is authentic: never "not this key". */
	require(rc != 0);
	check(rc, &r);
	return 0;
}
