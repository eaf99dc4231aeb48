/* SPDX-License-Identifier: MIT */
/*
 * crypto: every call into OpenSSL's libcrypto lives here, so that the rest of
 * postern never sees an EVP type and a change of library touches one file.
 */
/*
 * SHA-256's own functions (SHA256_Init and friends) are deprecated in
 * OpenSSL 3 in favour of EVP, but they are the same assembly with no
 * provider dispatch, no allocation and a state that is a plain struct: the
 * knock receiver and the handshake search hash a few blocks per packet, and
 * through EVP the dispatch cost more than the compression. Only SHA-256
 * takes this path; everything else stays on EVP.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* A passphrase file asking for more scrypt memory than this is refused, not obeyed. */
#define SCRYPT_MAX_MEM ((uint64_t)1 << 30)

struct crypto_aead {
	/* Kept for the life of the key: a new context costs an allocation and a key schedule. */
	EVP_CIPHER_CTX *ctx;
	enum crypto_aead_alg alg;
};

/*
 * Explicit fetches done once per process: an implicit fetch (EVP_sha256() and
 * friends) searches the provider store, under a lock, on every init.
 */
static struct {
	EVP_CIPHER *cipher[2];
	EVP_MD *md[2];
	EVP_MAC *siphash;
	int ok;
} algs;

static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static const char *const cipher_names[2] = {"ChaCha20-Poly1305", "AES-256-GCM"};

/* Not const: OSSL_PARAM_construct_utf8_string takes a char *. */
static char md_sha256[] = "SHA256";
static char md_blake2b[] = "BLAKE2B-512";
static char *const md_names[2] = {md_sha256, md_blake2b};

static void algs_fetch(void)
{
	int ok = 1;

	for (int i = 0; i < 2; i++) {
		algs.cipher[i] = EVP_CIPHER_fetch(NULL, cipher_names[i], NULL);
		algs.md[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
		ok = ok && algs.cipher[i] != NULL && algs.md[i] != NULL;
	}
	algs.siphash = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_SIPHASH, NULL);
	algs.ok = ok && algs.siphash != NULL;
}

static int algs_ready(void)
{
	return pthread_once(&algs_once, algs_fetch) == 0 && algs.ok;
}

static int aead_alg_ok(enum crypto_aead_alg alg)
{
	return alg == CRYPTO_CHACHAPOLY || alg == CRYPTO_AESGCM;
}

static int hash_alg_ok(enum crypto_hash_alg alg)
{
	return alg == CRYPTO_SHA256 || alg == CRYPTO_BLAKE2B;
}

struct crypto_aead *crypto_aead_new(enum crypto_aead_alg alg, const uint8_t key[CRYPTO_KEY_LEN])
{
	struct crypto_aead *a = NULL, *ret = NULL;

	if (!aead_alg_ok(alg) || key == NULL || !algs_ready())
		goto out;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto out;
	a->alg = alg;
	a->ctx = EVP_CIPHER_CTX_new();
	if (a->ctx == NULL || !EVP_CipherInit_ex2(a->ctx, algs.cipher[alg], key, NULL, 1, NULL))
		goto out;
	ret = a;
	a = NULL;
out:
	crypto_aead_free(a);
	return ret;
}

int crypto_aead_rekey(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN])
{
	if (a == NULL || key == NULL)
		return -1;
	/* -1 keeps the direction; the next seal or open sets it along with the IV. */
	return EVP_CipherInit_ex2(a->ctx, NULL, key, NULL, -1, NULL) ? 0 : -1;
}

void crypto_aead_free(struct crypto_aead *a)
{
	if (a == NULL)
		return;
	/* The provider context holds the expanded key; freeing it cleanses it. */
	EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

/* Noise section 12: 32 zero bits, then n little-endian (ChaChaPoly) or big-endian (AESGCM). */
static void iv_from_nonce(enum crypto_aead_alg alg, uint64_t n, uint8_t iv[CRYPTO_IV_LEN])
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++) {
		int shift = alg == CRYPTO_CHACHAPOLY ? 8 * i : 8 * (7 - i);

		iv[4 + i] = (uint8_t)(n >> shift);
	}
}

/*
 * One AEAD pass over the context's key. Only the IV is set per call, so the
 * hot path allocates nothing and never repeats the key schedule. ${tag} is
 * written when sealing and checked when opening.
 */
static int aead_run(struct crypto_aead *a, int enc, const uint8_t *key,
		    const uint8_t iv[CRYPTO_IV_LEN], const uint8_t *ad, size_t adlen,
		    const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[CRYPTO_TAG_LEN])
{
	/* Both ciphers are streams: Final emits nothing, but it needs somewhere to point. */
	uint8_t tail[CRYPTO_TAG_LEN];
	int outl;

	if (a == NULL || len > INT_MAX || adlen > INT_MAX)
		return -1;
	if (!EVP_CipherInit_ex2(a->ctx, NULL, key, iv, enc, NULL))
		return -1;
	if (adlen > 0 && !EVP_CipherUpdate(a->ctx, NULL, &outl, ad, (int)adlen))
		return -1;
	if (len > 0 && !EVP_CipherUpdate(a->ctx, out, &outl, in, (int)len))
		return -1;
	if (!enc && !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_TAG_LEN, tag))
		return -1;
	if (!EVP_CipherFinal_ex(a->ctx, tail, &outl))
		return -1;
	if (enc && !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_TAG_LEN, tag))
		return -1;
	return 0;
}

static int aead_seal_iv(struct crypto_aead *a, const uint8_t iv[CRYPTO_IV_LEN], const uint8_t *ad,
			size_t adlen, uint8_t *buf, size_t len)
{
	if (buf == NULL)
		return -1;
	return aead_run(a, 1, NULL, iv, ad, adlen, buf, len, buf, buf + len);
}

static int aead_open_iv(struct crypto_aead *a, const uint8_t *key, const uint8_t iv[CRYPTO_IV_LEN],
			const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
			uint8_t *out)
{
	uint8_t tag[CRYPTO_TAG_LEN];
	size_t clen;

	if (in == NULL || len < CRYPTO_TAG_LEN)
		return -1;
	clen = len - CRYPTO_TAG_LEN;
	if (clen > 0 && out == NULL)
		return -1;
	/* A copy: the ctrl call wants a writable pointer and ${in} is read-only. */
	memcpy(tag, in + clen, CRYPTO_TAG_LEN);
	if (aead_run(a, 0, key, iv, ad, adlen, in, clen, out, tag) == 0)
		return 0;
	/* Unauthenticated plaintext must not reach a caller who ignores the -1. */
	if (clen > 0)
		OPENSSL_cleanse(out, clen);
	return -1;
}

int crypto_aead_seal(struct crypto_aead *a, uint64_t nonce, const uint8_t *ad, size_t adlen,
		     uint8_t *buf, size_t len)
{
	uint8_t iv[CRYPTO_IV_LEN];

	if (a == NULL)
		return -1;
	iv_from_nonce(a->alg, nonce, iv);
	return aead_seal_iv(a, iv, ad, adlen, buf, len);
}

int crypto_aead_open(struct crypto_aead *a, uint64_t nonce, const uint8_t *ad, size_t adlen,
		     uint8_t *buf, size_t len)
{
	return crypto_aead_open_to(a, nonce, ad, adlen, buf, len, buf);
}

int crypto_aead_open_to(struct crypto_aead *a, uint64_t nonce, const uint8_t *ad, size_t adlen,
			const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t iv[CRYPTO_IV_LEN];

	if (a == NULL)
		return -1;
	iv_from_nonce(a->alg, nonce, iv);
	return aead_open_iv(a, NULL, iv, ad, adlen, in, len, out);
}

int crypto_aead_open_rekey(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN], uint64_t nonce,
			   const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
			   uint8_t *out)
{
	uint8_t iv[CRYPTO_IV_LEN];

	if (a == NULL || key == NULL)
		return -1;
	iv_from_nonce(a->alg, nonce, iv);
	return aead_open_iv(a, key, iv, ad, adlen, in, len, out);
}

int crypto_aead_seal_iv(struct crypto_aead *a, const uint8_t iv[CRYPTO_IV_LEN], const uint8_t *ad,
			size_t adlen, uint8_t *buf, size_t len)
{
	if (iv == NULL)
		return -1;
	return aead_seal_iv(a, iv, ad, adlen, buf, len);
}

int crypto_aead_open_iv(struct crypto_aead *a, const uint8_t iv[CRYPTO_IV_LEN], const uint8_t *ad,
			size_t adlen, uint8_t *buf, size_t len)
{
	if (iv == NULL)
		return -1;
	return aead_open_iv(a, NULL, iv, ad, adlen, buf, len, buf);
}

size_t crypto_hash_len(enum crypto_hash_alg alg)
{
	switch (alg) {
	case CRYPTO_SHA256:
		return 32;
	case CRYPTO_BLAKE2B:
		return 64;
	}
	return 0;
}

static void sha256_two(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b,
		       size_t blen)
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, a, alen);
	if (b != NULL)
		SHA256_Update(&c, b, blen);
	/* Written only once every input is absorbed: ${out} may alias ${a}, as MixHash needs. */
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

int crypto_hash(enum crypto_hash_alg alg, uint8_t *out, const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned int outl = 0;
	int rc = -1;

	if (!hash_alg_ok(alg) || out == NULL)
		return -1;
	if (alg == CRYPTO_SHA256) {
		sha256_two(out, a, alen, b, blen);
		return 0;
	}
	if (!algs_ready())
		goto out;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || !EVP_DigestInit_ex2(ctx, algs.md[alg], NULL))
		goto out;
	if (!EVP_DigestUpdate(ctx, a, alen))
		goto out;
	if (b != NULL && !EVP_DigestUpdate(ctx, b, blen))
		goto out;
	if (!EVP_DigestFinal_ex(ctx, out, &outl) || outl != crypto_hash_len(alg))
		goto out;
	rc = 0;
out:
	/* The digest state may have absorbed secrets; the provider cleanses it on free. */
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * HMAC-SHA256 with the key's two padded blocks absorbed once: a Noise HKDF
 * runs two or three HMACs under the same temporary key, and each saved pair
 * of compressions is a third of such an HMAC.
 */
struct hmac256 {
	SHA256_CTX in, out;
};

static void hmac256_key(struct hmac256 *m, const uint8_t *key, size_t keylen)
{
	uint8_t pad[SHA256_CBLOCK] = {0};

	if (keylen > sizeof(pad))
		sha256_two(pad, key, keylen, NULL, 0);
	else if (keylen > 0)
		memcpy(pad, key, keylen);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36;
	SHA256_Init(&m->in);
	SHA256_Update(&m->in, pad, sizeof(pad));
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	SHA256_Init(&m->out);
	SHA256_Update(&m->out, pad, sizeof(pad));
	OPENSSL_cleanse(pad, sizeof(pad));
}

/* ${out} may alias ${data}: the inner hash is finished before it is written. */
static void hmac256_run(const struct hmac256 *m, uint8_t out[32], const uint8_t *data, size_t len,
			const uint8_t *data2, size_t len2)
{
	SHA256_CTX c = m->in;
	uint8_t inner[SHA256_DIGEST_LENGTH];

	SHA256_Update(&c, data, len);
	if (data2 != NULL)
		SHA256_Update(&c, data2, len2);
	SHA256_Final(inner, &c);
	c = m->out;
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(inner, sizeof(inner));
}

static void hmac256(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *data,
		    size_t len)
{
	struct hmac256 m;

	hmac256_key(&m, key, keylen);
	hmac256_run(&m, out, data, len, NULL, 0);
	OPENSSL_cleanse(&m, sizeof(m));
}

/* crypto_noise_hkdf() for SHA-256 under ck's keyed pads: one keying of the temporary key. */
static void hkdf256_keyed(const struct hmac256 *ck, const uint8_t *ikm, size_t ikmlen, int n,
			  uint8_t *outs[3])
{
	struct hmac256 m;
	uint8_t temp[32], prev[32], idx;

	hmac256_run(ck, temp, ikm, ikmlen, NULL, 0);
	hmac256_key(&m, temp, sizeof(temp));
	for (int i = 0; i < n; i++) {
		idx = (uint8_t)(i + 1);
		/* out_i = HMAC(temp, out_{i-1} || i), out_0 empty. */
		hmac256_run(&m, prev, prev, i == 0 ? 0 : sizeof(prev), &idx, 1);
		memcpy(outs[i], prev, sizeof(prev));
	}
	OPENSSL_cleanse(&m, sizeof(m));
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(prev, sizeof(prev));
}

static void hkdf256(const uint8_t *ck, const uint8_t *ikm, size_t ikmlen, int n, uint8_t *outs[3])
{
	struct hmac256 k;

	hmac256_key(&k, ck, 32);
	hkdf256_keyed(&k, ikm, ikmlen, n, outs);
	OPENSSL_cleanse(&k, sizeof(k));
}

_Static_assert(sizeof(struct hmac256) <= sizeof(struct crypto_hkdf_key),
	       "crypto_hkdf_key holds an hmac256");

void crypto_hkdf_key_init(struct crypto_hkdf_key *k, const uint8_t ck[32])
{
	memset(k, 0, sizeof(*k));
	hmac256_key((struct hmac256 *)(void *)k->opaque, ck, 32);
}

int crypto_noise_hkdf_key(const struct crypto_hkdf_key *k, const uint8_t *ikm, size_t ikmlen, int n,
			  uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
	uint8_t *outs[3] = {out1, out2, out3};

	if (k == NULL || (n != 2 && n != 3) || out1 == NULL || out2 == NULL ||
	    (n == 3 && out3 == NULL))
		return -1;
	hkdf256_keyed((const struct hmac256 *)(const void *)k->opaque, ikm, ikmlen, n, outs);
	return 0;
}

/* One digest of a || b, for hmac_over(): crypto_hash or a legacy digest. */
typedef int (*digest_fn)(int alg, uint8_t *out, const uint8_t *a, size_t alen, const uint8_t *b,
			 size_t blen);

/* RFC 2104 with ${digest}: block size ${block}, output ${hlen} (at most CRYPTO_HASH_MAX). */
static int hmac_over(digest_fn digest, int alg, size_t block, size_t hlen, uint8_t *out,
		     const uint8_t *key, size_t keylen, const uint8_t *data, size_t datalen)
{
	enum { BLOCK_MAX = 128 };
	uint8_t ipad[BLOCK_MAX], opad[BLOCK_MAX], inner[CRYPTO_HASH_MAX];
	int rc = -1;

	if (block > BLOCK_MAX || hlen > CRYPTO_HASH_MAX || out == NULL ||
	    (key == NULL && keylen > 0) || (data == NULL && datalen > 0))
		return -1;
	memset(ipad, 0, sizeof(ipad));
	/* Inputs are copied before ${out} is written: it may alias ${key} or ${data}. */
	if (keylen > block) {
		if (digest(alg, ipad, key, keylen, NULL, 0) != 0)
			goto out;
	} else if (keylen > 0) {
		memcpy(ipad, key, keylen);
	}
	for (size_t i = 0; i < block; i++) {
		opad[i] = ipad[i] ^ 0x5c;
		ipad[i] ^= 0x36;
	}
	if (digest(alg, inner, ipad, block, data, datalen) != 0 ||
	    digest(alg, out, opad, block, inner, hlen) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return rc;
}

static int digest_hash(int alg, uint8_t *out, const uint8_t *a, size_t alen, const uint8_t *b,
		       size_t blen)
{
	return crypto_hash((enum crypto_hash_alg)alg, out, a, alen, b, blen);
}

/*
 * RFC 2104 over crypto_hash(), not EVP_MAC: an HMAC context takes its digest
 * as a name parameter and looks it up on every init, which made HMAC ten
 * times the cost of the two hashes it is. The server's key search runs three
 * HMACs per trial (Noise HKDF), so this is most of its cost.
 */
int crypto_hmac(enum crypto_hash_alg alg, uint8_t *out, const uint8_t *key, size_t keylen,
		const uint8_t *data, size_t datalen)
{
	if (!hash_alg_ok(alg) || out == NULL || (key == NULL && keylen > 0) ||
	    (data == NULL && datalen > 0))
		return -1;
	if (alg == CRYPTO_SHA256) {
		hmac256(out, key, keylen, data, datalen);
		return 0;
	}
	return hmac_over(digest_hash, alg, alg == CRYPTO_BLAKE2B ? 128 : 64, crypto_hash_len(alg),
			 out, key, keylen, data, datalen);
}

/*
 * Contexts kept per thread and reused: a knock costs several small digests,
 * one decryption and a few SipHash lookups, and allocating a context for
 * each was a third of its time. Reinitialising resets them; a thread's set
 * is freed by its key destructor (the main thread's with the process).
 */
struct legacy_tls {
	EVP_MD_CTX *md;		/* fwknop's digests */
	EVP_CIPHER_CTX *cipher; /* fwknop's AES-CBC */
	/*
	 * crypto_siphash(): one context per key, keyed once. Re-initialising
	 * with a NULL key restores the keyed state instead of parsing the key
	 * and the size parameter again, which was most of a short hash. A
	 * process has a handful of SipHash keys (one per table), so a few
	 * slots, replaced round robin, hold them all.
	 */
	struct sip_slot {
		EVP_MAC_CTX *ctx;
		uint8_t key[CRYPTO_SIPHASH_KEY_LEN];
	} sip[8];
	unsigned sip_next;
};

static pthread_key_t legacy_tls_key;
static pthread_once_t legacy_tls_once = PTHREAD_ONCE_INIT;
static int legacy_tls_ok;

static void legacy_tls_free(void *p)
{
	struct legacy_tls *t = p;

	EVP_MD_CTX_free(t->md);
	EVP_CIPHER_CTX_free(t->cipher);
	for (size_t i = 0; i < sizeof(t->sip) / sizeof(t->sip[0]); i++)
		EVP_MAC_CTX_free(t->sip[i].ctx);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static void legacy_tls_init(void)
{
	legacy_tls_ok = pthread_key_create(&legacy_tls_key, legacy_tls_free) == 0;
}

static struct legacy_tls *legacy_tls(void)
{
	struct legacy_tls *t;

	if (pthread_once(&legacy_tls_once, legacy_tls_init) != 0 || !legacy_tls_ok)
		return NULL;
	t = pthread_getspecific(legacy_tls_key);
	if (t != NULL)
		return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->md = EVP_MD_CTX_new();
	t->cipher = EVP_CIPHER_CTX_new();
	if (t->md == NULL || t->cipher == NULL || pthread_setspecific(legacy_tls_key, t) != 0) {
		legacy_tls_free(t);
		return NULL;
	}
	return t;
}

static EVP_MD_CTX *legacy_ctx(void)
{
	struct legacy_tls *t = legacy_tls();
	return t ? t->md : NULL;
}

/* The context of ${key} in this thread, keyed; NULL when out of memory. */
static EVP_MAC_CTX *sip_ctx(const uint8_t key[CRYPTO_SIPHASH_KEY_LEN])
{
	enum { NSLOTS = sizeof(((struct legacy_tls *)0)->sip) / sizeof(struct sip_slot) };
	struct legacy_tls *t = legacy_tls();
	size_t size = 8;
	OSSL_PARAM params[2] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
				OSSL_PARAM_construct_end()};

	if (t == NULL || !algs_ready())
		return NULL;
	for (size_t i = 0; i < NSLOTS; i++) {
		struct sip_slot *sl = &t->sip[i];
		if (sl->ctx != NULL && CRYPTO_memcmp(sl->key, key, CRYPTO_SIPHASH_KEY_LEN) == 0)
			return EVP_MAC_init(sl->ctx, NULL, 0, NULL) ? sl->ctx : NULL;
	}
	struct sip_slot *sl = &t->sip[t->sip_next++ % NSLOTS];
	if (sl->ctx == NULL && (sl->ctx = EVP_MAC_CTX_new(algs.siphash)) == NULL)
		return NULL;
	if (!EVP_MAC_init(sl->ctx, key, CRYPTO_SIPHASH_KEY_LEN, params)) {
		/* Never matched again with a half-set state. */
		EVP_MAC_CTX_free(sl->ctx);
		sl->ctx = NULL;
		return NULL;
	}
	memcpy(sl->key, key, CRYPTO_SIPHASH_KEY_LEN);
	return sl->ctx;
}

uint64_t crypto_siphash(const uint8_t key[CRYPTO_SIPHASH_KEY_LEN], const void *data, size_t len)
{
	EVP_MAC_CTX *ctx = sip_ctx(key);
	uint8_t out[8] = {0};
	size_t outl = 0;
	uint64_t h = 0;

	if (ctx == NULL || !EVP_MAC_update(ctx, data, len) ||
	    !EVP_MAC_final(ctx, out, &outl, sizeof(out)) || outl != sizeof(out))
		return 0;
	for (int i = 7; i >= 0; i--)
		h = (h << 8) | out[i];
	return h;
}

/*
 * Noise section 4.3: temp = HMAC(ck, ikm); out_i = HMAC(temp, out_{i-1} || i).
 * ${out1} may alias ${ck}: ck is consumed before any output is written.
 */
int crypto_noise_hkdf(enum crypto_hash_alg alg, const uint8_t *ck, const uint8_t *ikm,
		      size_t ikmlen, int n, uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
	uint8_t temp[CRYPTO_HASH_MAX];
	uint8_t chain[CRYPTO_HASH_MAX + 1];
	uint8_t *outs[3] = {out1, out2, out3};
	size_t hlen = crypto_hash_len(alg);
	size_t chainlen = 0;
	int rc = -1;

	if (hlen == 0 || ck == NULL || (n != 2 && n != 3))
		goto out;
	for (int i = 0; i < n; i++) {
		if (outs[i] == NULL)
			goto out;
	}
	if (alg == CRYPTO_SHA256) {
		hkdf256(ck, ikm, ikmlen, n, outs);
		rc = 0;
		goto out;
	}
	if (crypto_hmac(alg, temp, ck, hlen, ikm, ikmlen) != 0)
		goto out;
	for (int i = 0; i < n; i++) {
		chain[chainlen] = (uint8_t)(i + 1);
		if (crypto_hmac(alg, outs[i], temp, hlen, chain, chainlen + 1) != 0)
			goto out;
		memcpy(chain, outs[i], hlen);
		chainlen = hlen;
	}
	rc = 0;
out:
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(chain, sizeof(chain));
	return rc;
}

static EVP_PKEY *x25519_private(const uint8_t priv[CRYPTO_DH_LEN])
{
	return EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, CRYPTO_DH_LEN);
}

int crypto_dh_pub(const uint8_t priv[CRYPTO_DH_LEN], uint8_t pub[CRYPTO_DH_LEN])
{
	EVP_PKEY *key = NULL;
	size_t len = CRYPTO_DH_LEN;
	int rc = -1;

	if (priv == NULL || pub == NULL)
		goto out;
	key = x25519_private(priv);
	if (key == NULL || !EVP_PKEY_get_raw_public_key(key, pub, &len) || len != CRYPTO_DH_LEN)
		goto out;
	rc = 0;
out:
	/* EVP_PKEY_free cleanses the private key copy held inside. */
	EVP_PKEY_free(key);
	return rc;
}

int crypto_dh_keygen(uint8_t priv[CRYPTO_DH_LEN], uint8_t pub[CRYPTO_DH_LEN])
{
	int rc = -1;

	if (priv == NULL || pub == NULL)
		return -1;
	/* X25519 clamps any 32 bytes, so a uniform string is already a valid private key. */
	if (RAND_priv_bytes(priv, CRYPTO_DH_LEN) != 1 || crypto_dh_pub(priv, pub) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		OPENSSL_cleanse(priv, CRYPTO_DH_LEN);
	return rc;
}

int crypto_dh(uint8_t out[CRYPTO_DH_LEN], const uint8_t priv[CRYPTO_DH_LEN],
	      const uint8_t pub[CRYPTO_DH_LEN])
{
	static const uint8_t zero[CRYPTO_DH_LEN];
	EVP_PKEY *self = NULL, *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = CRYPTO_DH_LEN;
	int rc = -1;

	if (out == NULL || priv == NULL || pub == NULL)
		return -1;
	self = x25519_private(priv);
	peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, pub, CRYPTO_DH_LEN);
	if (self == NULL || peer == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0)
		goto out;
	/* Any 32 bytes are a u-coordinate; the one bad peer shows as a zero result below. */
	if (EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) <= 0)
		goto out;
	if (EVP_PKEY_derive(ctx, out, &len) <= 0 || len != CRYPTO_DH_LEN)
		goto out;
	/*
	 * OpenSSL refuses an all-zero result today; checking here too keeps the
	 * Noise section 12.1 guarantee from resting on a library detail.
	 */
	if (CRYPTO_memcmp(out, zero, CRYPTO_DH_LEN) == 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		OPENSSL_cleanse(out, CRYPTO_DH_LEN);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(self);
	return rc;
}

int crypto_random(void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (buf == NULL || len > INT_MAX)
		return -1;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

int crypto_memeq(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void crypto_wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

int crypto_scrypt(uint8_t *out, size_t outlen, const char *pass, size_t passlen,
		  const uint8_t *salt, size_t saltlen, uint64_t N, uint32_t r, uint32_t p)
{
	if (out == NULL || outlen == 0)
		return -1;
	if (EVP_PBE_scrypt(pass, passlen, salt, saltlen, N, r, p, SCRYPT_MAX_MEM, out, outlen) == 1)
		return 0;
	OPENSSL_cleanse(out, outlen);
	return -1;
}

/* ---- legacy primitives for fwknop compatibility ---- */

static struct {
	EVP_MD *md[CRYPTO_LEGACY_COUNT];
	EVP_CIPHER *cbc;
	int ok;
} legacy;

static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;

static const char *const legacy_names[CRYPTO_LEGACY_COUNT] = {
    "MD5", "SHA1", "SHA256", "SHA384", "SHA512", "SHA3-256", "SHA3-512"};
static const size_t legacy_lens[CRYPTO_LEGACY_COUNT] = {16, 20, 32, 48, 64, 32, 64};

/* Fetched once, apart from algs: a FIPS-only provider may lack MD5, and that must
 * disable fwknop compatibility only, never the tunnel. */
static void legacy_fetch(void)
{
	int ok = 1;

	for (int i = 0; i < CRYPTO_LEGACY_COUNT; i++) {
		legacy.md[i] = EVP_MD_fetch(NULL, legacy_names[i], NULL);
		ok = ok && legacy.md[i] != NULL;
	}
	legacy.cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	legacy.ok = ok && legacy.cbc != NULL;
}

static int legacy_ready(void)
{
	return pthread_once(&legacy_once, legacy_fetch) == 0 && legacy.ok;
}

size_t crypto_legacy_len(enum crypto_legacy_md md)
{
	return (unsigned)md < CRYPTO_LEGACY_COUNT ? legacy_lens[md] : 0;
}

int crypto_legacy_digest(enum crypto_legacy_md md, uint8_t *out, const void *a, size_t alen,
			 const void *b, size_t blen)
{
	EVP_MD_CTX *ctx;
	unsigned int outl = 0;

	if ((unsigned)md >= CRYPTO_LEGACY_COUNT || out == NULL || !legacy_ready())
		return -1;
	/* fwknop's usual digest takes the one SHA-256 path of this file. */
	if (md == CRYPTO_LEGACY_SHA256) {
		sha256_two(out, a, alen, b, blen);
		return 0;
	}
	ctx = legacy_ctx();
	if (ctx == NULL || !EVP_DigestInit_ex2(ctx, legacy.md[md], NULL) ||
	    !EVP_DigestUpdate(ctx, a, alen))
		return -1;
	if (b != NULL && !EVP_DigestUpdate(ctx, b, blen))
		return -1;
	/* After Final the context holds no input, only the state that is this digest's
	 * output; the next init resets it. */
	if (!EVP_DigestFinal_ex(ctx, out, &outl) || outl != legacy_lens[md])
		return -1;
	return 0;
}

static int digest_legacy(int md, uint8_t *out, const uint8_t *a, size_t alen, const uint8_t *b,
			 size_t blen)
{
	return crypto_legacy_digest((enum crypto_legacy_md)md, out, a, alen, b, blen);
}

int crypto_legacy_hmac(enum crypto_legacy_md md, uint8_t *out, const uint8_t *key, size_t keylen,
		       const void *data, size_t datalen)
{
	size_t block = md == CRYPTO_LEGACY_SHA384 || md == CRYPTO_LEGACY_SHA512 ? 128 : 64;
	size_t hlen = crypto_legacy_len(md);

	/* SHA-3 has no HMAC block in this sense; fwknop's HMAC is SHA-2 or older. */
	if (md >= CRYPTO_LEGACY_SHA3_256 || hlen == 0)
		return -1;
	if (md == CRYPTO_LEGACY_SHA256) {
		if (out == NULL || (key == NULL && keylen > 0) || (data == NULL && datalen > 0) ||
		    !legacy_ready())
			return -1;
		hmac256(out, key, keylen, data, datalen);
		return 0;
	}
	return hmac_over(digest_legacy, md, block, hlen, out, key, keylen, data, datalen);
}

static int aes256_cbc(int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *in, size_t len,
		      uint8_t *out)
{
	struct legacy_tls *t;
	EVP_CIPHER_CTX *ctx;
	int outl = 0, rc = -1;

	if (key == NULL || iv == NULL || in == NULL || out == NULL || len % CRYPTO_AES_BLOCK != 0 ||
	    len > INT_MAX || !legacy_ready())
		return -1;
	t = legacy_tls();
	ctx = t ? t->cipher : NULL;
	if (ctx == NULL || !EVP_CipherInit_ex2(ctx, legacy.cbc, key, iv, enc, NULL) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, 0))
		goto out;
	if (len > 0 && (!EVP_CipherUpdate(ctx, out, &outl, in, (int)len) || (size_t)outl != len))
		goto out;
	rc = 0;
out:
	/* Reset cleanses the expanded key but keeps the allocation. */
	if (ctx != NULL)
		EVP_CIPHER_CTX_reset(ctx);
	return rc;
}

int crypto_aes256_cbc_decrypt(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_AES_BLOCK],
			      const uint8_t *in, size_t len, uint8_t *out)
{
	return aes256_cbc(0, key, iv, in, len, out);
}

int crypto_aes256_cbc_encrypt(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_AES_BLOCK],
			      const uint8_t *in, size_t len, uint8_t *out)
{
	return aes256_cbc(1, key, iv, in, len, out);
}
