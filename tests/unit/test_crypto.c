/* SPDX-License-Identifier: MIT */
/*
 * crypto.c against published known answers (RFC 8439, the GCM spec, RFC 7748,
 * RFC 4231, RFC 7693, RFC 7914) and against its own contract: in-place
 * seal/open, the Noise nonce layouts, and refusal of every tampered input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"

static const enum crypto_aead_alg aead_algs[] = {CRYPTO_CHACHAPOLY, CRYPTO_AESGCM};

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		unsigned int byte;

		assert_true(n < cap);
		assert_int_equal(sscanf(hex, "%2x", &byte), 1);
		out[n++] = (uint8_t)byte;
	}
	return n;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + 31 * i);
}

/* ---- AEAD ---- */

static void test_aead_roundtrip(void **state)
{
	static uint8_t buf[16384 + CRYPTO_TAG_LEN], orig[16384];
	const size_t sizes[] = {0, 1, 15, 16, 17, 1000, 16384};
	uint8_t key[CRYPTO_KEY_LEN], ad[13];

	(void)state;
	fill(key, sizeof(key), 1);
	fill(ad, sizeof(ad), 2);
	for (size_t a = 0; a < 2; a++) {
		struct crypto_aead *c = crypto_aead_new(aead_algs[a], key);

		assert_non_null(c);
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			size_t len = sizes[s];
			size_t adlen = s % 2 ? sizeof(ad) : 0;

			fill(orig, len, (uint8_t)s);
			memcpy(buf, orig, len);
			assert_int_equal(crypto_aead_seal(c, s, ad, adlen, buf, len), 0);
			if (len >= 16)
				assert_memory_not_equal(buf, orig, len);
			assert_int_equal(crypto_aead_open(c, s, ad, adlen, buf, len + 16), 0);
			assert_memory_equal(buf, orig, len);
		}
		crypto_aead_free(c);
	}
	crypto_aead_free(NULL);
}

/* Seals 64 bytes, applies one change, and expects open to refuse and wipe. */
static void expect_tamper_rejected(enum crypto_aead_alg alg, int what)
{
	uint8_t key[CRYPTO_KEY_LEN], ad[8] = "header!", buf[64 + 16], orig[64];
	uint64_t nonce = 7;
	size_t len = sizeof(buf);
	struct crypto_aead *c;

	fill(key, sizeof(key), 9);
	fill(orig, sizeof(orig), 3);
	memcpy(buf, orig, sizeof(orig));
	c = crypto_aead_new(alg, key);
	assert_non_null(c);
	assert_int_equal(crypto_aead_seal(c, nonce, ad, sizeof(ad), buf, 64), 0);
	switch (what) {
	case 0: /* ciphertext bit */
		buf[10] ^= 0x20;
		break;
	case 1: /* tag bit */
		buf[64 + 15] ^= 0x01;
		break;
	case 2: /* associated data */
		ad[0] ^= 0x80;
		break;
	case 3: /* nonce */
		nonce = 8;
		break;
	case 4: /* key */
		key[31] ^= 1;
		assert_int_equal(crypto_aead_rekey(c, key), 0);
		break;
	case 5: /* truncation */
		len -= 1;
		break;
	}
	assert_int_equal(crypto_aead_open(c, nonce, ad, sizeof(ad), buf, len), -1);
	/* Unauthenticated plaintext must not be left behind. */
	assert_memory_not_equal(buf, orig, 16);
	crypto_aead_free(c);
}

static void test_aead_tamper(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN] = {0}, small[15] = {0};
	struct crypto_aead *c;

	(void)state;
	for (size_t a = 0; a < 2; a++) {
		for (int what = 0; what < 6; what++)
			expect_tamper_rejected(aead_algs[a], what);
		/* Shorter than a tag: nothing to check, so nothing to accept. */
		c = crypto_aead_new(aead_algs[a], key);
		assert_int_equal(crypto_aead_open(c, 0, NULL, 0, small, sizeof(small)), -1);
		crypto_aead_free(c);
	}
	assert_null(crypto_aead_new((enum crypto_aead_alg)7, key));
}

/* open_to leaves the ciphertext as it was, and wipes the output on failure. */
static void test_aead_open_to(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN], ct[40], copy[40], out[24];
	struct crypto_aead *c;

	(void)state;
	fill(key, sizeof(key), 5);
	memcpy(ct, "twenty-four bytes long!!", 24);
	c = crypto_aead_new(CRYPTO_AESGCM, key);
	assert_int_equal(crypto_aead_seal(c, 3, NULL, 0, ct, 24), 0);
	memcpy(copy, ct, sizeof(ct));
	assert_int_equal(crypto_aead_open_to(c, 3, NULL, 0, ct, sizeof(ct), out), 0);
	assert_memory_equal(out, "twenty-four bytes long!!", 24);
	assert_memory_equal(ct, copy, sizeof(ct));
	ct[0] ^= 1;
	assert_int_equal(crypto_aead_open_to(c, 3, NULL, 0, ct, sizeof(ct), out), -1);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	crypto_aead_free(c);
}

/* RFC 8439 section 2.8.2. Its IV starts 07 00 00 00, so it goes through the raw-IV entry points. */
static void test_chacha20poly1305_rfc8439(void **state)
{
	static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				 "only one tip for the future, sunscreen would be it.";
	uint8_t key[32], iv[12], ad[12], want[114 + 16], buf[114 + 16];
	struct crypto_aead *c;

	(void)state;
	assert_int_equal(unhex("808182838485868788898a8b8c8d8e8f"
			       "909192939495969798999a9b9c9d9e9f",
			       key, sizeof(key)),
			 32);
	unhex("070000004041424344454647", iv, sizeof(iv));
	unhex("50515253c0c1c2c3c4c5c6c7", ad, sizeof(ad));
	assert_int_equal(unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
			       "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
			       "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
			       "3ff4def08e4b7a9de576d26586cec64b6116"
			       "1ae10b594f09e26a7e902ecbd0600691",
			       want, sizeof(want)),
			 114 + 16);
	assert_int_equal(strlen(pt), 114);
	c = crypto_aead_new(CRYPTO_CHACHAPOLY, key);
	assert_non_null(c);
	memcpy(buf, pt, 114);
	assert_int_equal(crypto_aead_seal_iv(c, iv, ad, sizeof(ad), buf, 114), 0);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(crypto_aead_open_iv(c, iv, ad, sizeof(ad), buf, sizeof(buf)), 0);
	assert_memory_equal(buf, pt, 114);
	crypto_aead_free(c);
}

/*
 * McGrew and Viega, "The Galois/Counter Mode of Operation", test cases 13,
 * 14 (all-zero key and IV: Noise nonce 0) and 16 (raw IV, with AD).
 */
static void test_aes256gcm_known_answers(void **state)
{
	uint8_t key[32] = {0}, iv[12], ad[20], pt[60], want[60 + 16], buf[64 + 16] = {0};
	struct crypto_aead *c = crypto_aead_new(CRYPTO_AESGCM, key);

	(void)state;
	assert_non_null(c);
	/* 13: empty plaintext, tag only. */
	unhex("530f8afbc74536b9a963b4f1c4cb738b", want, sizeof(want));
	assert_int_equal(crypto_aead_seal(c, 0, NULL, 0, buf, 0), 0);
	assert_memory_equal(buf, want, 16);
	/* 14: one zero block. */
	memset(buf, 0, sizeof(buf));
	unhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919", want,
	      sizeof(want));
	assert_int_equal(crypto_aead_seal(c, 0, NULL, 0, buf, 16), 0);
	assert_memory_equal(buf, want, 32);
	crypto_aead_free(c);

	/* 16 */
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, sizeof(key));
	unhex("cafebabefacedbaddecaf888", iv, sizeof(iv));
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", ad, sizeof(ad));
	assert_int_equal(unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
			       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
			       pt, sizeof(pt)),
			 60);
	assert_int_equal(unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
			       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
			       "76fc6ece0f4e1768cddf8853bb2d551b",
			       want, sizeof(want)),
			 76);
	c = crypto_aead_new(CRYPTO_AESGCM, key);
	memcpy(buf, pt, 60);
	assert_int_equal(crypto_aead_seal_iv(c, iv, ad, sizeof(ad), buf, 60), 0);
	assert_memory_equal(buf, want, 76);
	assert_int_equal(crypto_aead_open_iv(c, iv, ad, sizeof(ad), buf, 76), 0);
	assert_memory_equal(buf, pt, 60);
	crypto_aead_free(c);
}

/* Noise section 12: ChaChaPoly puts n little-endian after 4 zero bytes, AESGCM big-endian. */
static void test_aead_nonce_layout(void **state)
{
	const uint64_t n = 0x0102030405060708u;
	uint8_t key[32], a[32 + 16], b[32 + 16];
	uint8_t le[12] = {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
	uint8_t be[12] = {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};

	(void)state;
	fill(key, sizeof(key), 11);
	for (size_t i = 0; i < 2; i++) {
		struct crypto_aead *c = crypto_aead_new(aead_algs[i], key);

		fill(a, 32, 0);
		fill(b, 32, 0);
		assert_int_equal(crypto_aead_seal(c, n, NULL, 0, a, 32), 0);
		assert_int_equal(crypto_aead_seal_iv(c, i == 0 ? le : be, NULL, 0, b, 32), 0);
		assert_memory_equal(a, b, sizeof(a));
		crypto_aead_free(c);
	}
}

/* ---- X25519 ---- */

static void test_x25519_rfc7748(void **state)
{
	uint8_t k[32], u[32], want[32], out[32];
	uint8_t apriv[32], apub[32], bpriv[32], bpub[32], s1[32], s2[32];

	(void)state;
	/* Section 5.2, first vector: X25519 on an arbitrary u-coordinate. */
	unhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", k, 32);
	unhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", u, 32);
	unhex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552", want, 32);
	assert_int_equal(crypto_dh(out, k, u), 0);
	assert_memory_equal(out, want, 32);

	/* Section 6.1: Alice and Bob. */
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", apriv, 32);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", bpriv, 32);
	assert_int_equal(crypto_dh_pub(apriv, apub), 0);
	assert_int_equal(crypto_dh_pub(bpriv, bpub), 0);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want, 32);
	assert_memory_equal(apub, want, 32);
	unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", want, 32);
	assert_memory_equal(bpub, want, 32);
	assert_int_equal(crypto_dh(s1, apriv, bpub), 0);
	assert_int_equal(crypto_dh(s2, bpriv, apub), 0);
	unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", want, 32);
	assert_memory_equal(s1, want, 32);
	assert_memory_equal(s2, want, 32);
}

/* Points of small order give an all-zero secret, which must be refused (Noise section 12.1). */
static void test_x25519_low_order(void **state)
{
	const char *points[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "0100000000000000000000000000000000000000000000000000000000000000",
	    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	};
	uint8_t priv[32], pub[32], u[32], out[32];

	(void)state;
	assert_int_equal(crypto_dh_keygen(priv, pub), 0);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		unhex(points[i], u, sizeof(u));
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(crypto_dh(out, priv, u), -1);
		for (size_t j = 0; j < sizeof(out); j++)
			assert_int_equal(out[j], 0);
	}
}

static void test_x25519_keygen(void **state)
{
	uint8_t a[32], ap[32], b[32], bp[32], pub[32], s1[32], s2[32];

	(void)state;
	assert_int_equal(crypto_dh_keygen(a, ap), 0);
	assert_int_equal(crypto_dh_keygen(b, bp), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(crypto_dh_pub(a, pub), 0);
	assert_memory_equal(pub, ap, 32);
	assert_int_equal(crypto_dh(s1, a, bp), 0);
	assert_int_equal(crypto_dh(s2, b, ap), 0);
	assert_memory_equal(s1, s2, 32);
	crypto_wipe(a, sizeof(a));
	crypto_wipe(b, sizeof(b));
}

/* ---- hashes, HMAC, HKDF, scrypt ---- */

static void test_hashes(void **state)
{
	uint8_t out[64], split[64], want[64];

	(void)state;
	assert_int_equal(crypto_hash_len(CRYPTO_SHA256), 32);
	assert_int_equal(crypto_hash_len(CRYPTO_BLAKE2B), 64);
	/* FIPS 180-2 "abc". */
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
	assert_int_equal(crypto_hash(CRYPTO_SHA256, out, (const uint8_t *)"abc", 3, NULL, 0), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(
	    crypto_hash(CRYPTO_SHA256, split, (const uint8_t *)"a", 1, (const uint8_t *)"bc", 2),
	    0);
	assert_memory_equal(split, want, 32);
	/* RFC 7693 appendix A, BLAKE2b-512("abc"). */
	unhex("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
	      "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
	      want, 64);
	assert_int_equal(crypto_hash(CRYPTO_BLAKE2B, out, (const uint8_t *)"abc", 3, NULL, 0), 0);
	assert_memory_equal(out, want, 64);
}

/* RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe". */
static void test_hmac_rfc4231(void **state)
{
	static const char data[] = "what do ya want for nothing?";
	uint8_t out[64], want[32];

	(void)state;
	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
	assert_int_equal(crypto_hmac(CRYPTO_SHA256, out, (const uint8_t *)"Jefe", 4,
				     (const uint8_t *)data, strlen(data)),
			 0);
	assert_memory_equal(out, want, 32);
}

/* RFC 4231 test case 6: a 131-byte key, longer than the block, is hashed first. */
static void test_hmac_rfc4231_long_key(void **state)
{
	static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t key[131], out[32], want[32];

	(void)state;
	memset(key, 0xaa, sizeof(key));
	unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want, 32);
	assert_int_equal(
	    crypto_hmac(CRYPTO_SHA256, out, key, sizeof(key), (const uint8_t *)data, strlen(data)),
	    0);
	assert_memory_equal(out, want, 32);
}

/*
 * SipHash-2-4, the example of its paper (Aumasson and Bernstein, appendix A):
 * key 00..0f, message 00..0e. Then many keys in turn, more than the
 * per-thread cache of keyed contexts holds: each must keep its own answer.
 */
static void test_siphash(void **state)
{
	uint8_t key[20][CRYPTO_SIPHASH_KEY_LEN], msg[15];
	uint64_t first[20];

	(void)state;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (size_t k = 0; k < 20; k++)
		for (size_t i = 0; i < CRYPTO_SIPHASH_KEY_LEN; i++)
			key[k][i] = (uint8_t)(i + k);
	assert_true(crypto_siphash(key[0], msg, sizeof(msg)) == 0xa129ca6149be45e5ULL);
	for (size_t k = 0; k < 20; k++)
		first[k] = crypto_siphash(key[k], msg, sizeof(msg));
	for (int round = 0; round < 3; round++)
		for (size_t k = 0; k < 20; k++)
			assert_true(crypto_siphash(key[(k * 7) % 20], msg, sizeof(msg)) ==
				    first[(k * 7) % 20]);
	assert_true(first[0] != first[1]);
}

/* The Noise HKDF is the HMAC chain of section 4.3, for either hash, with out1 aliasing ck. */
static void test_noise_hkdf(void **state)
{
	const enum crypto_hash_alg hashes[] = {CRYPTO_SHA256, CRYPTO_BLAKE2B};
	uint8_t ck[64], ikm[32], t[64], m[65], w1[64], w2[64], w3[64], o1[64], o2[64], o3[64];

	(void)state;
	fill(ikm, sizeof(ikm), 77);
	for (size_t i = 0; i < 2; i++) {
		size_t hl = crypto_hash_len(hashes[i]);

		fill(ck, sizeof(ck), (uint8_t)i);
		assert_int_equal(crypto_hmac(hashes[i], t, ck, hl, ikm, sizeof(ikm)), 0);
		m[0] = 1;
		assert_int_equal(crypto_hmac(hashes[i], w1, t, hl, m, 1), 0);
		memcpy(m, w1, hl);
		m[hl] = 2;
		assert_int_equal(crypto_hmac(hashes[i], w2, t, hl, m, hl + 1), 0);
		memcpy(m, w2, hl);
		m[hl] = 3;
		assert_int_equal(crypto_hmac(hashes[i], w3, t, hl, m, hl + 1), 0);

		assert_int_equal(crypto_noise_hkdf(hashes[i], ck, ikm, 32, 3, o1, o2, o3), 0);
		assert_memory_equal(o1, w1, hl);
		assert_memory_equal(o2, w2, hl);
		assert_memory_equal(o3, w3, hl);
		assert_int_equal(crypto_noise_hkdf(hashes[i], ck, ikm, 32, 2, ck, o2, NULL), 0);
		assert_memory_equal(ck, w1, hl);
		assert_memory_equal(o2, w2, hl);
		assert_int_equal(crypto_noise_hkdf(hashes[i], ck, ikm, 32, 4, o1, o2, o3), -1);
		assert_int_equal(crypto_noise_hkdf(hashes[i], ck, ikm, 32, 3, o1, o2, NULL), -1);
	}
}

/* The precomputed-ck HKDF is the plain one: same outputs for 2 and 3, any ikm length. */
static void test_noise_hkdf_key(void **state)
{
	uint8_t ck[32], ikm[80], w1[32], w2[32], w3[32], o1[32], o2[32], o3[32];
	struct crypto_hkdf_key k;

	(void)state;
	for (size_t len = 0; len <= sizeof(ikm); len += 16) {
		fill(ck, sizeof(ck), (uint8_t)len);
		fill(ikm, sizeof(ikm), (uint8_t)(len + 9));
		crypto_hkdf_key_init(&k, ck);
		assert_int_equal(crypto_noise_hkdf(CRYPTO_SHA256, ck, ikm, len, 3, w1, w2, w3), 0);
		assert_int_equal(crypto_noise_hkdf_key(&k, ikm, len, 3, o1, o2, o3), 0);
		assert_memory_equal(o1, w1, 32);
		assert_memory_equal(o2, w2, 32);
		assert_memory_equal(o3, w3, 32);
		assert_int_equal(crypto_noise_hkdf_key(&k, ikm, len, 2, o1, o2, NULL), 0);
		assert_memory_equal(o1, w1, 32);
		assert_memory_equal(o2, w2, 32);
	}
	assert_int_equal(crypto_noise_hkdf_key(&k, ikm, 1, 3, o1, o2, NULL), -1);
	assert_int_equal(crypto_noise_hkdf_key(&k, ikm, 1, 1, o1, o2, o3), -1);
}

/* One initialisation with the new key opens what a rekey and an open would. */
static void test_aead_open_rekey(void **state)
{
	uint8_t k1[CRYPTO_KEY_LEN], k2[CRYPTO_KEY_LEN], ct[40], out[24];
	struct crypto_aead *a = NULL, *b = NULL;

	(void)state;
	fill(k1, sizeof(k1), 1);
	fill(k2, sizeof(k2), 2);
	for (int alg = CRYPTO_CHACHAPOLY; alg <= CRYPTO_AESGCM; alg++) {
		a = crypto_aead_new((enum crypto_aead_alg)alg, k2);
		b = crypto_aead_new((enum crypto_aead_alg)alg, k1);
		assert_non_null(a);
		assert_non_null(b);
		memcpy(ct, "twenty-four bytes long!!", 24);
		assert_int_equal(crypto_aead_seal(a, 7, (const uint8_t *)"ad", 2, ct, 24), 0);
		assert_int_equal(
		    crypto_aead_open_rekey(b, k2, 7, (const uint8_t *)"ad", 2, ct, 40, out), 0);
		assert_memory_equal(out, "twenty-four bytes long!!", 24);
		/* The key stays: a plain open works next. */
		assert_int_equal(crypto_aead_open_to(b, 7, (const uint8_t *)"ad", 2, ct, 40, out),
				 0);
		ct[3] ^= 1;
		assert_int_equal(
		    crypto_aead_open_rekey(b, k2, 7, (const uint8_t *)"ad", 2, ct, 40, out), -1);
		ct[3] ^= 1;
		assert_int_equal(
		    crypto_aead_open_rekey(b, k1, 7, (const uint8_t *)"ad", 2, ct, 40, out), -1);
		crypto_aead_free(a);
		crypto_aead_free(b);
	}
}

/* RFC 7914 section 12, second vector. */
static void test_scrypt_rfc7914(void **state)
{
	uint8_t out[64], want[64];

	(void)state;
	unhex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
	      "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
	      want, 64);
	assert_int_equal(
	    crypto_scrypt(out, 64, "password", 8, (const uint8_t *)"NaCl", 4, 1024, 8, 16), 0);
	assert_memory_equal(out, want, 64);
	/* N must be a power of two. */
	assert_int_equal(
	    crypto_scrypt(out, 64, "password", 8, (const uint8_t *)"NaCl", 4, 1000, 8, 16), -1);
}

/* ---- small helpers ---- */

static void test_memeq_random_wipe(void **state)
{
	uint8_t a[33], b[33], z[33] = {0};

	(void)state;
	fill(a, sizeof(a), 4);
	memcpy(b, a, sizeof(a));
	assert_int_equal(crypto_memeq(a, b, sizeof(a)), 1);
	b[32] ^= 1;
	assert_int_equal(crypto_memeq(a, b, sizeof(a)), 0);
	assert_int_equal(crypto_memeq(a, b, 32), 1);
	b[0] ^= 0x80;
	assert_int_equal(crypto_memeq(a, b, sizeof(a)), 0);
	assert_int_equal(crypto_memeq(a, b, 0), 1);

	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_int_equal(crypto_memeq(a, b, sizeof(a)), 0);
	assert_int_equal(crypto_random(NULL, 0), 0);

	crypto_wipe(a, sizeof(a));
	assert_memory_equal(a, z, sizeof(a));
	crypto_wipe(NULL, 4);
}

/* ---- legacy primitives (fwknop compatibility) ---- */

/* RFC 1321 and FIPS 180 "abc", RFC 4231 case 2, SP 800-38A F.2.5/F.2.6 (AES-256-CBC). */
static void test_legacy_known_answers(void **state)
{
	static const struct {
		enum crypto_legacy_md md;
		const char *hex;
	} abc[] = {
	    {CRYPTO_LEGACY_MD5, "900150983cd24fb0d6963f7d28e17f72"},
	    {CRYPTO_LEGACY_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
	    {CRYPTO_LEGACY_SHA256,
	     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {CRYPTO_LEGACY_SHA3_256,
	     "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
	};
	uint8_t out[64], want[64], key[32], iv[16], pt[64], ct[64], buf[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(abc) / sizeof(abc[0]); i++) {
		n = unhex(abc[i].hex, want, sizeof(want));
		assert_int_equal(crypto_legacy_len(abc[i].md), n);
		assert_int_equal(crypto_legacy_digest(abc[i].md, out, "a", 1, "bc", 2), 0);
		assert_memory_equal(out, want, n);
	}
	assert_int_equal(crypto_legacy_len(CRYPTO_LEGACY_COUNT), 0);
	assert_int_equal(crypto_legacy_digest(CRYPTO_LEGACY_COUNT, out, "a", 1, NULL, 0), -1);

	n = unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want,
		  sizeof(want));
	assert_int_equal(crypto_legacy_hmac(CRYPTO_LEGACY_SHA256, out, (const uint8_t *)"Jefe", 4,
					    "what do ya want for nothing?", 28),
			 0);
	assert_memory_equal(out, want, n);
	assert_int_equal(
	    crypto_legacy_hmac(CRYPTO_LEGACY_SHA3_256, out, (const uint8_t *)"k", 1, "x", 1), -1);

	unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", key, sizeof(key));
	unhex("000102030405060708090a0b0c0d0e0f", iv, sizeof(iv));
	unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
	      pt, sizeof(pt));
	unhex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
	      "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
	      ct, sizeof(ct));
	assert_int_equal(crypto_aes256_cbc_encrypt(key, iv, pt, 64, buf), 0);
	assert_memory_equal(buf, ct, 64);
	assert_int_equal(crypto_aes256_cbc_decrypt(key, iv, buf, 64, buf), 0);
	assert_memory_equal(buf, pt, 64);
	assert_int_equal(crypto_aes256_cbc_decrypt(key, iv, ct, 63, buf), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_legacy_known_answers),
	    cmocka_unit_test(test_aead_roundtrip),
	    cmocka_unit_test(test_aead_tamper),
	    cmocka_unit_test(test_aead_open_to),
	    cmocka_unit_test(test_chacha20poly1305_rfc8439),
	    cmocka_unit_test(test_aes256gcm_known_answers),
	    cmocka_unit_test(test_aead_nonce_layout),
	    cmocka_unit_test(test_x25519_rfc7748),
	    cmocka_unit_test(test_x25519_low_order),
	    cmocka_unit_test(test_x25519_keygen),
	    cmocka_unit_test(test_hashes),
	    cmocka_unit_test(test_hmac_rfc4231),
	    cmocka_unit_test(test_hmac_rfc4231_long_key),
	    cmocka_unit_test(test_siphash),
	    cmocka_unit_test(test_noise_hkdf),
	    cmocka_unit_test(test_noise_hkdf_key),
	    cmocka_unit_test(test_aead_open_rekey),
	    cmocka_unit_test(test_scrypt_rfc7914),
	    cmocka_unit_test(test_memeq_random_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
