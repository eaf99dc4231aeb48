/* SPDX-License-Identifier: MIT */
/* test_spa_packet: knocks of kind 0x01: roundtrip, every malformed payload
 * refused, wrong key, bit flips, lengths. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "spa/packet.h"
#include "util/wire.h"

static const uint64_t T0 = 1767225600000ull;

static struct spa_request sample(void)
{
	struct spa_request r = {0};
	r.naccess = 2;
	r.access[0] = (struct spa_access){.proto = SPA_PROTO_TCP, .port = 7000};
	r.access[1] = (struct spa_access){.proto = SPA_PROTO_UDP, .port = 53};
	r.timeout_s = 45;
	snprintf(r.label, sizeof(r.label), "laptop");
	return r;
}

static void keys3(uint8_t psk[3][32], struct spa_keys **k)
{
	const uint8_t *p[3];
	for (int i = 0; i < 3; i++) {
		memset(psk[i], 0x11 * (i + 1), 32);
		p[i] = psk[i];
	}
	*k = spa_keys_new(p, 3);
	assert_non_null(*k);
}

static void test_roundtrip(void **state)
{
	uint8_t psk[3][32], pkt[SPA_DATAGRAM_MAX];
	struct spa_keys *k;
	struct spa_request r = sample(), got;
	char why[SPA_WHY_MAX];
	(void)state;
	keys3(psk, &k);
	r.has_forward = 1;
	snprintf(r.forward_host, sizeof(r.forward_host), "192.168.10.23");
	r.forward_port = 22;
	r.allow.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::7", r.allow.addr);
	long n = spa_encode_psk(psk[2], &r, T0, pkt, sizeof(pkt));
	assert_true(n >= SPA_PSK_MIN && n <= SPA_PSK_MAX);
	assert_int_equal(pkt[0], SPA_KIND_PSK);
	assert_int_equal(spa_decode(k, pkt, (size_t)n, &got, why), 1);
	assert_int_equal(got.owner, 2);
	assert_int_equal(got.ts_ms, T0);
	assert_int_equal(got.naccess, 2);
	assert_int_equal(got.access[0].port, 7000);
	assert_int_equal(got.access[1].proto, SPA_PROTO_UDP);
	assert_int_equal(got.timeout_s, 45);
	assert_string_equal(got.label, "laptop");
	assert_true(got.has_forward);
	assert_string_equal(got.forward_host, "192.168.10.23");
	assert_int_equal(got.forward_port, 22);
	assert_int_equal(got.allow.family, AF_INET6);
	assert_memory_equal(got.allow.addr, r.allow.addr, 16);
	assert_memory_equal(got.id, pkt + 1, SPA_ID_LEN);
	/* Two knocks of one request differ (fresh e and nonce). */
	uint8_t pkt2[SPA_DATAGRAM_MAX];
	assert_int_equal(spa_encode_psk(psk[2], &r, T0, pkt2, sizeof(pkt2)), n);
	assert_memory_not_equal(pkt, pkt2, (size_t)n);
	spa_keys_free(k);
}

static void test_wrong_key_and_flips(void **state)
{
	uint8_t psk[3][32], other[32], pkt[SPA_DATAGRAM_MAX];
	struct spa_keys *k;
	struct spa_request r = sample(), got;
	char why[SPA_WHY_MAX];
	(void)state;
	keys3(psk, &k);
	memset(other, 0x99, sizeof(other));
	long n = spa_encode_psk(other, &r, T0, pkt, sizeof(pkt));
	assert_true(n > 0);
	assert_int_equal(spa_decode(k, pkt, (size_t)n, &got, why), 0);
	assert_string_equal(why, "no key matched");
	n = spa_encode_psk(psk[0], &r, T0, pkt, sizeof(pkt));
	for (long i = 0; i < n; i++) {
		for (int b = 0; b < 8; b++) {
			pkt[i] ^= (uint8_t)(1u << b);
			assert_int_equal(spa_decode(k, pkt, (size_t)n, &got, why), 0);
			pkt[i] ^= (uint8_t)(1u << b);
		}
	}
	/* Truncated or extended: never a knock. */
	for (long len = 0; len < n; len++)
		assert_int_equal(spa_decode(k, pkt, (size_t)len, &got, why), 0);
	pkt[n] = 0;
	assert_int_equal(spa_decode(k, pkt, (size_t)n + 1, &got, why), 0);
	assert_int_equal(spa_decode(k, pkt, (size_t)n, &got, why), 1);
	assert_int_equal(spa_decode(NULL, pkt, (size_t)n, &got, why), 0);
	spa_keys_free(k);
}

/* A valid payload, then mutate(p, &len) and expect the parser to refuse. */
static long base_payload(uint8_t *p, int forward)
{
	struct spa_request r = sample();
	uint8_t nonce[SPA_NONCE_LEN] = {0};
	if (forward) {
		r.has_forward = 1;
		snprintf(r.forward_host, sizeof(r.forward_host), "10.0.0.1");
		r.forward_port = 80;
	}
	long n = spa_payload_encode(&r, T0, nonce, p, SPA_PAYLOAD_MAX);
	assert_true(n > 0);
	return n;
}

static void refused(const uint8_t *p, size_t len)
{
	struct spa_request got;
	char why[SPA_WHY_MAX];
	assert_int_equal(spa_payload_parse(p, len, &got, why), -1);
}

static void test_malformed(void **state)
{
	uint8_t p[SPA_PAYLOAD_MAX + 8];
	struct spa_request got;
	char why[SPA_WHY_MAX];
	(void)state;
	/* Offsets: 0 version, 1 type, 2..9 ts, 10..25 nonce, 26..27 timeout,
	 * 28 naccess, 29.. access (3 each), then allow family, label. */
	long n = base_payload(p, 0);
	assert_int_equal(spa_payload_parse(p, (size_t)n, &got, why), 0);
	for (long len = 0; len < n; len++)
		refused(p, (size_t)len);
	p[n] = 0;
	refused(p, (size_t)n + 1); /* trailing byte */
	const struct {
		size_t off;
		uint8_t val;
	} bad[] = {
	    {0, 0},  {0, 2},  {1, 0},	  {1, 3},   {28, 0},   {28, 9}, /* version, type, count */
	    {29, 0}, {29, 1}, {29, 7},	  {30, 0},			/* proto 0/1/7, */
	    {35, 5}, {35, 1}, {36, 0x7f}, {36, 33}, {36, 200},		/* allow family, label */
	};
	/* port 0 needs two bytes */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = base_payload(p, 0);
		if (bad[i].off == 30) {
			p[30] = 0;
			p[31] = 0;
		} else {
			p[bad[i].off] = bad[i].val;
		}
		refused(p, (size_t)n);
	}
	/* A label byte that is not printable ASCII. */
	n = base_payload(p, 0);
	p[n - 1] = 0x07;
	refused(p, (size_t)n);
	/* An access count that claims more entries than there are. */
	n = base_payload(p, 0);
	p[28] = 3;
	refused(p, (size_t)n);
	/* Forward: type 2 needs family 4|6 and a nonzero port. */
	n = base_payload(p, 1);
	assert_int_equal(spa_payload_parse(p, (size_t)n, &got, why), 0);
	assert_string_equal(got.forward_host, "10.0.0.1");
	p[36] = 0; /* forward family after allow family 0 at 35 */
	refused(p, (size_t)n);
	n = base_payload(p, 1);
	p[41] = 0;
	p[42] = 0;
	refused(p, (size_t)n);
	/* Type 1 with forward bytes: trailing. */
	n = base_payload(p, 1);
	p[1] = SPA_TYPE_ACCESS;
	refused(p, (size_t)n);
}

static void test_encode_refuses(void **state)
{
	uint8_t out[SPA_PAYLOAD_MAX], nonce[SPA_NONCE_LEN] = {0};
	struct spa_request r = sample();
	(void)state;
	r.naccess = 0;
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, sizeof(out)), -1);
	r = sample();
	r.naccess = SPA_ACCESS_MAX + 1;
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, sizeof(out)), -1);
	r = sample();
	r.access[0].port = 0;
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, sizeof(out)), -1);
	r = sample();
	r.has_forward = 1;
	snprintf(r.forward_host, sizeof(r.forward_host), "host.example");
	r.forward_port = 1;
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, sizeof(out)), -1);
	r = sample();
	r.label[0] = '\n';
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, sizeof(out)), -1);
	r = sample();
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, 10), -1);
	/* The largest request fits the bound the decoder enforces. */
	r = sample();
	r.naccess = SPA_ACCESS_MAX;
	for (int i = 0; i < SPA_ACCESS_MAX; i++)
		r.access[i] =
		    (struct spa_access){.proto = SPA_PROTO_TCP, .port = (uint16_t)(i + 1)};
	r.allow.family = AF_INET6;
	r.has_forward = 1;
	snprintf(r.forward_host, sizeof(r.forward_host), "2001:db8::1");
	r.forward_port = 65535;
	memset(r.label, 'x', SPA_LABEL_MAX);
	r.label[SPA_LABEL_MAX] = 0;
	assert_int_equal(spa_payload_encode(&r, T0, nonce, out, sizeof(out)), SPA_PAYLOAD_MAX);
}

static void test_ik(void **state)
{
	uint8_t host[32], host_pub[32], c[2][32], cpub[2][32], stranger[32], pkt[SPA_DATAGRAM_MAX];
	struct spa_request r = sample(), got;
	char why[SPA_WHY_MAX];
	(void)state;
	assert_int_equal(crypto_dh_keygen(host, host_pub), 0);
	assert_int_equal(crypto_dh_keygen(c[0], cpub[0]), 0);
	assert_int_equal(crypto_dh_keygen(c[1], cpub[1]), 0);
	assert_int_equal(crypto_dh_keygen(stranger, pkt), 0);
	const uint8_t *pubs[2] = {cpub[0], cpub[1]};
	const uint32_t owners[2] = {7, 9};
	struct spa_ik *k = spa_ik_new(host, pubs, owners, 2);
	assert_non_null(k);
	long n = spa_encode_ik(c[1], host_pub, &r, T0, pkt, sizeof(pkt));
	assert_true(n >= SPA_IK_MIN && n <= SPA_IK_MAX);
	assert_int_equal(pkt[0], SPA_KIND_IK);
	assert_int_equal(spa_ik_mac1(k, pkt, (size_t)n, why), 1);
	assert_int_equal(spa_ik_decode(k, pkt, (size_t)n, &got, why), 1);
	assert_int_equal(got.owner, 9);
	assert_int_equal(got.ts_ms, T0);
	assert_string_equal(got.label, "laptop");
	assert_memory_equal(got.id, pkt + 1, SPA_ID_LEN);
	/* The PSK decoder does not take it, nor the IK one a PSK knock. */
	assert_int_equal(spa_decode(NULL, pkt, (size_t)n, &got, why), 0);
	/* Any flipped bit: bad mac1 (bytes 1..48) or no authentication. */
	for (long i = 0; i < n; i++) {
		pkt[i] ^= 0x20;
		assert_false(spa_ik_mac1(k, pkt, (size_t)n, why) &&
			     spa_ik_decode(k, pkt, (size_t)n, &got, why) == 1);
		pkt[i] ^= 0x20;
	}
	/* Truncated: mac1 covers e only, the AEAD refuses it. */
	assert_int_equal(spa_ik_decode(k, pkt, (size_t)n - 1, &got, why), 0);
	assert_int_equal(spa_ik_mac1(k, pkt, SPA_IK_MIN - 1, why), 0);
	/* A key the server does not list: mac1 passes (it only needs the host's
	 * public key), the lookup does not. */
	n = spa_encode_ik(stranger, host_pub, &r, T0, pkt, sizeof(pkt));
	assert_int_equal(spa_ik_mac1(k, pkt, (size_t)n, why), 1);
	assert_int_equal(spa_ik_decode(k, pkt, (size_t)n, &got, why), 0);
	assert_string_equal(why, "public key not listed");
	/* Another host key: bad mac1, no DH spent. */
	uint8_t other[32], other_pub[32];
	assert_int_equal(crypto_dh_keygen(other, other_pub), 0);
	n = spa_encode_ik(c[0], other_pub, &r, T0, pkt, sizeof(pkt));
	assert_int_equal(spa_ik_mac1(k, pkt, (size_t)n, why), 0);
	assert_string_equal(why, "bad mac1");
	spa_ik_free(k);
	spa_ik_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_wrong_key_and_flips),
	    cmocka_unit_test(test_malformed), cmocka_unit_test(test_encode_refuses),
	    cmocka_unit_test(test_ik),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
