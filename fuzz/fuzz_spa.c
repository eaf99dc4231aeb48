/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the knock decoder (spa/packet.c): every datagram
 * to a [spa] port reaches spa_decode() before anything is known of its
 * sender. The first input byte picks the mode:
 *   even: the rest is a datagram, judged against two fixed PSKs; whatever
 *         it returns, a decoded request must be sane;
 *   odd:  the rest is a plaintext payload, sealed here under the first key
 *         as a client would, so the fuzzer reaches the parser through the
 *         whole path; the verdict must equal spa_payload_parse()'s, and an
 *         accepted payload must re-encode to exactly its bytes (one
 *         encoding per request: nothing unparsed can hide in a knock).
 *
 * make build/fuzz/fuzz_spa && build/fuzz/fuzz_spa fuzz/corpus/spa
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/noise.h"
#include "spa/packet.h"
#include "tunnel/handshake_ik.h"
#include "util/wire.h"

static void require(int cond)
{
	if (!cond)
		abort();
}

static uint8_t psk[2][32], host[32], host_pub[32], cli[32], cli_pub[32];
static struct spa_keys *keys;
static struct spa_ik *ik;

static void init(void)
{
	if (keys != NULL)
		return;
	memset(host, 0x17, 32);
	memset(cli, 0x29, 32);
	require(crypto_dh_pub(host, host_pub) == 0 && crypto_dh_pub(cli, cli_pub) == 0);
	const uint8_t *pubs[1] = {cli_pub};
	const uint32_t owners[1] = {1};
	ik = spa_ik_new(host, pubs, owners, 1);
	require(ik != NULL);
	memset(psk[0], 0x42, 32);
	memset(psk[1], 0x24, 32);
	const uint8_t *p[2] = {psk[0], psk[1]};
	keys = spa_keys_new(p, 2);
	require(keys != NULL);
}

static void sane(const struct spa_request *r)
{
	require(r->naccess >= 1 && r->naccess <= SPA_ACCESS_MAX);
	for (unsigned i = 0; i < r->naccess; i++)
		require((r->access[i].proto == 6 || r->access[i].proto == 17) && r->access[i].port);
	require(strlen(r->label) <= SPA_LABEL_MAX);
	require(r->timeout_s <= 65535 && r->owner < 2);
	require(!r->has_forward || r->forward_port != 0);
}

/* seal(payload, len, out): 0x01 || NNpsk0 message 1 under psk[0]; its length or -1. */
static long seal(const uint8_t *payload, size_t len, uint8_t *out, size_t cap)
{
	struct noise_params np = {
	    .protocol_name = SPA_PSK_PROTOCOL,
	    .initiator = 1,
	    .prologue = (const uint8_t *)SPA_PROLOGUE,
	    .prologue_len = sizeof(SPA_PROLOGUE) - 1,
	    .psk = psk[0],
	};
	struct noise_hs *hs = noise_hs_new(&np);
	require(hs != NULL);
	out[0] = SPA_KIND_PSK;
	long n = noise_hs_write(hs, payload, len, out + 1, cap - 1);
	noise_hs_free(hs);
	return n < 0 ? -1 : n + 1;
}

static void sealed(const uint8_t *p, size_t len)
{
	uint8_t pkt[SPA_DATAGRAM_MAX + 64], again[SPA_PAYLOAD_MAX];
	struct spa_request a, b;
	char why[SPA_WHY_MAX];
	if (len > SPA_DATAGRAM_MAX - 1 - SPA_E_LEN - SPA_TAG_LEN)
		return;
	long n = seal(p, len, pkt, sizeof(pkt));
	require(n > 0);
	int parsed = spa_payload_parse(p, len, &a, why);
	int r = spa_decode(keys, pkt, (size_t)n, &b, why);
	if (len < SPA_PAYLOAD_MIN || len > SPA_PAYLOAD_MAX) {
		/* Outside the bounds the decoder refuses on length, before any key. */
		require(r == 0);
		return;
	}
	require(r == (parsed == 0 ? 1 : -1));
	if (r != 1)
		return;
	sane(&b);
	require(b.owner == 0 && b.ts_ms == a.ts_ms && b.naccess == a.naccess);
	long m = spa_payload_encode(&b, b.ts_ms, p + 10, again, sizeof(again));
	require(m == (long)len && memcmp(again, p, len) == 0);
}

static void ik_raw(const uint8_t *p, size_t len)
{
	uint8_t pkt[SPA_DATAGRAM_MAX];
	struct spa_request req;
	char why[SPA_WHY_MAX];
	if (len > sizeof(pkt))
		return;
	memcpy(pkt, p, len);
	if (len >= 1 + SPA_E_LEN + SPA_MAC1_LEN) {
		pkt[0] = SPA_KIND_IK;
		require(handshake_ik_mac1_make(host_pub, 0, pkt + 1, pkt + 1 + SPA_E_LEN) == 0);
	}
	if (!spa_ik_mac1(ik, pkt, len, why))
		return;
	if (spa_ik_decode(ik, pkt, len, &req, why) == 1)
		sane(&req);
}

static void ik_sealed(const uint8_t *p, size_t len)
{
	uint8_t nm[SPA_DATAGRAM_MAX], pkt[SPA_DATAGRAM_MAX];
	struct spa_request a, b;
	char why[SPA_WHY_MAX];
	if (len > SPA_PAYLOAD_MAX + 8)
		return;
	struct noise_params np = {
	    .protocol_name = SPA_IK_PROTOCOL,
	    .initiator = 1,
	    .prologue = (const uint8_t *)SPA_PROLOGUE,
	    .prologue_len = sizeof(SPA_PROLOGUE) - 1,
	    .s = cli,
	    .rs = host_pub,
	};
	struct noise_hs *hs = noise_hs_new(&np);
	require(hs != NULL);
	long m = noise_hs_write(hs, p, len, nm, sizeof(nm));
	noise_hs_free(hs);
	require(m > SPA_E_LEN);
	pkt[0] = SPA_KIND_IK;
	memcpy(pkt + 1, nm, SPA_E_LEN);
	require(handshake_ik_mac1_make(host_pub, 0, nm, pkt + 1 + SPA_E_LEN) == 0);
	memcpy(pkt + 1 + SPA_E_LEN + SPA_MAC1_LEN, nm + SPA_E_LEN, (size_t)m - SPA_E_LEN);
	size_t n = 1 + SPA_MAC1_LEN + (size_t)m;
	int parsed = spa_payload_parse(p, len, &a, why);
	if (!spa_ik_mac1(ik, pkt, n, why)) {
		require(len < SPA_PAYLOAD_MIN || len > SPA_PAYLOAD_MAX);
		return;
	}
	int r = spa_ik_decode(ik, pkt, n, &b, why);
	require(r == (parsed == 0 ? 1 : -1));
	if (r == 1)
		require(b.owner == 1 && b.ts_ms == a.ts_ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spa_request req;
	char why[SPA_WHY_MAX];
	init();
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 1:
		sealed(data + 1, size - 1);
		return 0;
	case 2:
		ik_raw(data + 1, size - 1);
		return 0;
	case 3:
		ik_sealed(data + 1, size - 1);
		return 0;
	}
	if (spa_decode(keys, data + 1, size - 1, &req, why) == 1)
		sane(&req);
	return 0;
}
