/* SPDX-License-Identifier: MIT */
/*
 * crypto: the only module that touches OpenSSL's EVP API. Everything else asks
 * it to seal, open, agree, hash, derive, compare or wipe. No I/O, no state
 * beyond the small context objects below, safe to call from any loop.
 */
#ifndef POSTERN_CRYPTO_H
#define POSTERN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

enum {
	CRYPTO_KEY_LEN = 32,	/* AEAD keys, X25519 keys, PSKs */
	CRYPTO_TAG_LEN = 16,	/* AEAD tag */
	CRYPTO_IV_LEN = 12,	/* AEAD IV (96 bits for both algorithms) */
	CRYPTO_DH_LEN = 32,	/* X25519 public key / shared secret */
	CRYPTO_HASH_MAX = 64,	/* largest digest (BLAKE2b-512) */
	CRYPTO_BLOCK_MAX = 128, /* largest HMAC block (BLAKE2b) */
};

/* AEAD algorithms, as Noise names them. Values are internal, never on the wire. */
enum crypto_aead_alg {
	CRYPTO_CHACHAPOLY = 0,
	CRYPTO_AESGCM = 1,
};

/* Hash functions, as Noise names them. */
enum crypto_hash_alg {
	CRYPTO_SHA256 = 0,
	CRYPTO_BLAKE2B = 1,
};

/* Opaque AEAD context holding one expanded key. */
struct crypto_aead;

/*
 * crypto_aead_new(alg, key): a context for ${alg} keyed with the 32-byte ${key}.
 * Returns NULL on failure. The key is copied; the caller still wipes its own.
 */
struct crypto_aead *crypto_aead_new(enum crypto_aead_alg alg, const uint8_t key[CRYPTO_KEY_LEN]);

/* crypto_aead_rekey(a, key): replace the key of ${a}. Returns 0 or -1. */
int crypto_aead_rekey(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN]);

/* crypto_aead_free(a): wipe and free; NULL is a no-op. */
void crypto_aead_free(struct crypto_aead *a);

/*
 * crypto_aead_seal(a, nonce, ad, adlen, buf, len): encrypt ${len} bytes of
 * ${buf} in place and write the 16-byte tag at buf + len (the buffer must
 * have room for it). ${nonce} is the 64-bit Noise counter; the 96-bit IV is
 * built as Noise specifies for the algorithm (ChaChaPoly: 4 zero bytes then
 * little-endian n; AESGCM: 4 zero bytes then big-endian n). Returns 0 or -1.
 */
int crypto_aead_seal(struct crypto_aead *a, uint64_t nonce, const uint8_t *ad, size_t adlen,
		     uint8_t *buf, size_t len);

/*
 * crypto_aead_open(a, nonce, ad, adlen, buf, len): ${buf} holds ${len} bytes
 * of ciphertext followed by the tag (len >= 16). Decrypt in place; on success
 * the plaintext is the first len - 16 bytes and 0 is returned. On a bad tag
 * return -1 (the buffer contents are then unspecified).
 */
int crypto_aead_open(struct crypto_aead *a, uint64_t nonce, const uint8_t *ad, size_t adlen,
		     uint8_t *buf, size_t len);

/*
 * crypto_aead_open_to(a, nonce, ad, adlen, in, len, out): like crypto_aead_open
 * but leaves ${in} untouched and writes the len - 16 plaintext bytes to ${out}
 * (which may equal ${in}); for callers that hold the ciphertext read-only.
 * On a bad tag ${out} is wiped and -1 is returned.
 */
int crypto_aead_open_to(struct crypto_aead *a, uint64_t nonce, const uint8_t *ad, size_t adlen,
			const uint8_t *in, size_t len, uint8_t *out);

/*
 * crypto_aead_open_rekey(a, key, nonce, ad, adlen, in, len, out): rekey to
 * ${key}, then crypto_aead_open_to, in one cipher initialisation instead of
 * two (a knock opens one message under a key it has just derived). The new
 * key stays, whatever the tag.
 */
int crypto_aead_open_rekey(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN], uint64_t nonce,
			   const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
			   uint8_t *out);

/*
 * crypto_aead_seal_iv / crypto_aead_open_iv: as seal and open, but with the
 * raw 96-bit ${iv} instead of a Noise counter; for known-answer tests whose
 * IVs do not follow the Noise layout.
 */
int crypto_aead_seal_iv(struct crypto_aead *a, const uint8_t iv[CRYPTO_IV_LEN], const uint8_t *ad,
			size_t adlen, uint8_t *buf, size_t len);
int crypto_aead_open_iv(struct crypto_aead *a, const uint8_t iv[CRYPTO_IV_LEN], const uint8_t *ad,
			size_t adlen, uint8_t *buf, size_t len);

/* crypto_hash_len(alg): 32 for SHA-256, 64 for BLAKE2b-512. */
size_t crypto_hash_len(enum crypto_hash_alg alg);

/* crypto_hash(alg, out, a, alen, b, blen): out = HASH(a || b); b may be NULL. */
int crypto_hash(enum crypto_hash_alg alg, uint8_t *out, const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen);

/* crypto_hmac(alg, out, key, keylen, data, datalen): HMAC-HASH. Returns 0 or -1. */
int crypto_hmac(enum crypto_hash_alg alg, uint8_t *out, const uint8_t *key, size_t keylen,
		const uint8_t *data, size_t datalen);

/*
 * crypto_noise_hkdf(alg, ck, ikm, ikmlen, n, out1, out2, out3): the Noise
 * HKDF (HMAC-based, Noise spec section 4.3) producing ${n} (2 or 3) outputs
 * of HASHLEN bytes each; out3 may be NULL when n == 2.
 */
int crypto_noise_hkdf(enum crypto_hash_alg alg, const uint8_t *ck, const uint8_t *ikm,
		      size_t ikmlen, int n, uint8_t *out1, uint8_t *out2, uint8_t *out3);

/*
 * A SHA-256 chaining key with its HMAC pads already absorbed, for a ck that
 * many HKDFs start from (a knock identity's ck after its psk: every knock
 * mixes its e into the same one). Opaque; wipe it like a key.
 */
struct crypto_hkdf_key {
	uint64_t opaque[32];
};

/* crypto_hkdf_key_init(k, ck): precompute for a 32-byte SHA-256 ${ck}. */
void crypto_hkdf_key_init(struct crypto_hkdf_key *k, const uint8_t ck[32]);

/* crypto_noise_hkdf_key(k, ikm, ikmlen, n, out1, out2, out3): crypto_noise_hkdf
 * for SHA-256 under ${k}'s ck, the same outputs for two fewer compressions. */
int crypto_noise_hkdf_key(const struct crypto_hkdf_key *k, const uint8_t *ikm, size_t ikmlen, int n,
			  uint8_t *out1, uint8_t *out2, uint8_t *out3);

/* crypto_dh_keygen(priv, pub): a fresh X25519 key pair. Returns 0 or -1. */
int crypto_dh_keygen(uint8_t priv[CRYPTO_DH_LEN], uint8_t pub[CRYPTO_DH_LEN]);

/* crypto_dh_pub(priv, pub): the public key of ${priv}. Returns 0 or -1. */
int crypto_dh_pub(const uint8_t priv[CRYPTO_DH_LEN], uint8_t pub[CRYPTO_DH_LEN]);

/*
 * crypto_dh(out, priv, pub): X25519. Returns -1 on failure, including an
 * all-zero result (a low-order peer key, Noise spec section 12.1).
 */
int crypto_dh(uint8_t out[CRYPTO_DH_LEN], const uint8_t priv[CRYPTO_DH_LEN],
	      const uint8_t pub[CRYPTO_DH_LEN]);

enum { CRYPTO_SIPHASH_KEY_LEN = 16 };

/*
 * crypto_siphash(key, data, len): SipHash-2-4 of ${data} under ${key}, for
 * hash tables whose keys an attacker chooses (source addresses, handshake
 * fingerprints): with a secret key, bucket indices are unpredictable.
 */
uint64_t crypto_siphash(const uint8_t key[CRYPTO_SIPHASH_KEY_LEN], const void *data, size_t len);

/* crypto_random(buf, len): fill from the CSPRNG. Returns 0 or -1. */
int crypto_random(void *buf, size_t len);

/* crypto_memeq(a, b, len): 1 if equal, 0 if not; constant time in the contents. */
int crypto_memeq(const void *a, const void *b, size_t len);

/* crypto_wipe(p, len): OPENSSL_cleanse. */
void crypto_wipe(void *p, size_t len);

/*
 * crypto_scrypt(out, outlen, pass, passlen, salt, saltlen, N, r, p): the
 * scrypt KDF, for passphrase-protected key files. Returns 0 or -1.
 */
int crypto_scrypt(uint8_t *out, size_t outlen, const char *pass, size_t passlen,
		  const uint8_t *salt, size_t saltlen, uint64_t N, uint32_t r, uint32_t p);

/*
 * Legacy digests, for the fwknop decoder only (spa/fwknop.c): fwknop 2.x
 * derives its AES key with MD5 and lets clients pick the inner digest.
 * Never used for postern's own protocol.
 */
enum crypto_legacy_md {
	CRYPTO_LEGACY_MD5 = 0,
	CRYPTO_LEGACY_SHA1,
	CRYPTO_LEGACY_SHA256,
	CRYPTO_LEGACY_SHA384,
	CRYPTO_LEGACY_SHA512,
	CRYPTO_LEGACY_SHA3_256,
	CRYPTO_LEGACY_SHA3_512,
	CRYPTO_LEGACY_COUNT,
};

/* crypto_legacy_len(md): the digest's length in bytes (16..64), 0 if unknown. */
size_t crypto_legacy_len(enum crypto_legacy_md md);

/*
 * crypto_legacy_digest(md, out, a, alen, b, blen): out = MD(a || b); b may be
 * NULL. ${out} has room for crypto_legacy_len(md) bytes. Returns 0 or -1.
 */
int crypto_legacy_digest(enum crypto_legacy_md md, uint8_t *out, const void *a, size_t alen,
			 const void *b, size_t blen);

/*
 * crypto_legacy_hmac(md, out, key, keylen, data, datalen): HMAC with a
 * legacy digest (MD5, SHA-1, SHA-256/384/512; not SHA-3), for fwknop's
 * packet HMAC. Returns 0 or -1.
 */
int crypto_legacy_hmac(enum crypto_legacy_md md, uint8_t *out, const uint8_t *key, size_t keylen,
		       const void *data, size_t datalen);

enum { CRYPTO_AES_BLOCK = 16 };

/*
 * crypto_aes256_cbc_decrypt(key, iv, in, len, out): raw AES-256-CBC
 * decryption of ${len} bytes (a multiple of 16), no padding removed (the
 * caller checks it). ${out} may equal ${in}. Returns 0 or -1.
 */
int crypto_aes256_cbc_decrypt(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_AES_BLOCK],
			      const uint8_t *in, size_t len, uint8_t *out);

/*
 * crypto_aes256_cbc_encrypt(key, iv, in, len, out): the inverse, for tests and
 * fuzz harnesses that build fwknop packets. Returns 0 or -1.
 */
int crypto_aes256_cbc_encrypt(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_AES_BLOCK],
			      const uint8_t *in, size_t len, uint8_t *out);

#endif
