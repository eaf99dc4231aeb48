/* SPDX-License-Identifier: MIT */
/*
 * noise: a HandshakeState that interprets token patterns (Noise revision 34,
 * sections 5 to 9) instead of hard-coding one handshake, so that every
 * pattern postern might pick is checked by the same published test vectors.
 */
#include "crypto/noise.h"

#include <stdlib.h>
#include <string.h>

enum token {
	T_END = 0,
	T_E,
	T_S,
	T_EE,
	T_ES,
	T_SE,
	T_SS,
	T_PSK,
};

struct pattern {
	const char *name;
	uint8_t pre_i; /* T_S when the initiator's static is a pre-message, else T_END */
	uint8_t pre_r;
	int nmsgs;
	uint8_t msgs[NOISE_MAX_PATTERN][NOISE_MAX_TOKENS];
};

/* Noise sections 7.4 and 7.5; psk modifiers are applied to a copy at parse time. */
static const struct pattern patterns[] = {
    {"N", T_END, T_S, 1, {{T_E, T_ES}}},
    {"NN", T_END, T_END, 2, {{T_E}, {T_E, T_EE}}},
    {"NK", T_END, T_S, 2, {{T_E, T_ES}, {T_E, T_EE}}},
    {"IK", T_END, T_S, 2, {{T_E, T_ES, T_S, T_SS}, {T_E, T_EE, T_SE}}},
    {"KK", T_S, T_S, 2, {{T_E, T_ES, T_SS}, {T_E, T_EE, T_SE}}},
    {"XX", T_END, T_END, 3, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}}},
};

struct keypair {
	uint8_t priv[CRYPTO_DH_LEN];
	uint8_t pub[CRYPTO_DH_LEN];
	int set;
};

struct noise_hs {
	enum crypto_hash_alg hash;
	size_t hashlen;
	struct noise_cipher cs; /* the SymmetricState's CipherState */
	/*
	 * The CipherState's key k, kept as bytes and loaded into cs.aead only
	 * when it is used: MixKey often replaces a key before it encrypts
	 * anything (psk then e in NNpsk0), and a snapshot can then be copied
	 * without copying a cipher context.
	 */
	uint8_t k[CRYPTO_KEY_LEN];
	int has_k;    /* k holds a key (InitializeKey has run) */
	int k_stale;  /* cs.aead is not yet keyed with k */
	int tok_done; /* tokens of message ${next} already processed (noise_hs_premix) */
	uint8_t ck[CRYPTO_HASH_MAX];
	/* ck's HMAC pads, while has_ck_key: noise_hs_premix leaves a ck that
	 * every restored copy mixes its own e into. */
	struct crypto_hkdf_key ck_key;
	int has_ck_key;
	uint8_t h[CRYPTO_HASH_MAX];
	struct keypair s, e;
	uint8_t rs[CRYPTO_DH_LEN], re[CRYPTO_DH_LEN];
	int has_rs, has_re;
	uint8_t psk[CRYPTO_KEY_LEN];
	uint8_t e_fixed[CRYPTO_DH_LEN];
	int has_e_fixed;
	uint8_t pre_i, pre_r;
	uint8_t msgs[NOISE_MAX_PATTERN][NOISE_MAX_TOKENS];
	int ntokens[NOISE_MAX_PATTERN];
	int nmsgs;
	int next; /* index of the next message to write or read */
	int initiator;
	int psk_mode; /* a psk modifier is present: "e" also calls MixKey (section 9.2) */
	int dead;     /* a read failed: nothing more may happen */
	int split;    /* Split() has run: ck is gone */
};

/* ---- name parsing ---- */

static int split_fields(char *s, char sep, char **fields, int max)
{
	int n = 0;

	fields[n++] = s;
	for (; *s != '\0'; s++) {
		if (*s != sep)
			continue;
		if (n == max)
			return -1;
		*s = '\0';
		fields[n++] = s + 1;
	}
	return n;
}

static int count_tokens(const uint8_t *msg)
{
	int n = 0;

	while (n < NOISE_MAX_TOKENS && msg[n] != T_END)
		n++;
	return n;
}

static int load_base_pattern(struct noise_hs *hs, const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const struct pattern *p = &patterns[i];

		if (strlen(p->name) != len || strncmp(p->name, name, len) != 0)
			continue;
		hs->pre_i = p->pre_i;
		hs->pre_r = p->pre_r;
		hs->nmsgs = p->nmsgs;
		memcpy(hs->msgs, p->msgs, sizeof(hs->msgs));
		for (int m = 0; m < p->nmsgs; m++)
			hs->ntokens[m] = count_tokens(p->msgs[m]);
		return 0;
	}
	return -1;
}

/* Section 9.2: psk0 leads the first message, pskN (N > 0) ends message N. */
static int apply_psk(struct noise_hs *hs, int where)
{
	int m = where == 0 ? 0 : where - 1;

	if (where > hs->nmsgs || hs->ntokens[m] >= NOISE_MAX_TOKENS)
		return -1;
	if (where == 0) {
		memmove(&hs->msgs[0][1], &hs->msgs[0][0], (size_t)hs->ntokens[0]);
		hs->msgs[0][0] = T_PSK;
	} else {
		hs->msgs[m][hs->ntokens[m]] = T_PSK;
	}
	hs->ntokens[m]++;
	hs->psk_mode = 1;
	return 0;
}

/*
 * "NNpsk0" is a base name in capitals and at most one "pskN" modifier:
 * noise_params carries a single PSK, so "psk0+psk2" is refused.
 */
static int parse_pattern(struct noise_hs *hs, const char *field)
{
	size_t base = 0;
	const char *mod;

	while (field[base] >= 'A' && field[base] <= 'Z')
		base++;
	if (load_base_pattern(hs, field, base) != 0)
		return -1;
	mod = field + base;
	if (*mod == '\0')
		return 0;
	if (strncmp(mod, "psk", 3) != 0 || mod[3] < '0' || mod[3] > '9' || mod[4] != '\0')
		return -1;
	return apply_psk(hs, mod[3] - '0');
}

static int parse_name(struct noise_hs *hs, const char *name)
{
	size_t len = strlen(name);
	char buf[128];
	char *f[5];

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, name, len + 1);
	if (split_fields(buf, '_', f, 5) != 5)
		return -1;
	if (strcmp(f[0], "Noise") != 0 || strcmp(f[2], "25519") != 0)
		return -1;
	if (strcmp(f[3], "ChaChaPoly") == 0)
		hs->cs.alg = CRYPTO_CHACHAPOLY;
	else if (strcmp(f[3], "AESGCM") == 0)
		hs->cs.alg = CRYPTO_AESGCM;
	else
		return -1;
	if (strcmp(f[4], "SHA256") == 0)
		hs->hash = CRYPTO_SHA256;
	else if (strcmp(f[4], "BLAKE2b") == 0)
		hs->hash = CRYPTO_BLAKE2B;
	else
		return -1;
	hs->hashlen = crypto_hash_len(hs->hash);
	return parse_pattern(hs, f[1]);
}

/* ---- CipherState (section 5.1) ---- */

static int cipher_set_key(struct noise_cipher *c, const uint8_t key[CRYPTO_KEY_LEN])
{
	if (c->aead != NULL) {
		if (crypto_aead_rekey(c->aead, key) != 0)
			return -1;
	} else {
		c->aead = crypto_aead_new(c->alg, key);
		if (c->aead == NULL)
			return -1;
	}
	c->n = 0;
	return 0;
}

int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen, uint8_t *buf,
			 size_t len)
{
	/* 2^64-1 is reserved for Rekey(); a key that far along must be replaced, not reused. */
	if (c == NULL || c->aead == NULL || c->n == UINT64_MAX)
		return -1;
	if (crypto_aead_seal(c->aead, c->n, ad, adlen, buf, len) != 0)
		return -1;
	c->n++;
	return 0;
}

static int cipher_decrypt_to(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
			     const uint8_t *in, size_t len, uint8_t *out)
{
	if (c == NULL || c->aead == NULL || c->n == UINT64_MAX)
		return -1;
	/* n advances only on success (section 5.1), so a forged record cannot desynchronise us. */
	if (crypto_aead_open_to(c->aead, c->n, ad, adlen, in, len, out) != 0)
		return -1;
	c->n++;
	return 0;
}

int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen, uint8_t *buf,
			 size_t len)
{
	return cipher_decrypt_to(c, ad, adlen, buf, len, buf);
}

int noise_cipher_rekey(struct noise_cipher *c)
{
	uint8_t k[CRYPTO_KEY_LEN + CRYPTO_TAG_LEN] = {0};
	int rc = -1;

	if (c == NULL || c->aead == NULL)
		goto out;
	/* Section 4.2: the tag is discarded, n is left as it was. */
	if (crypto_aead_seal(c->aead, UINT64_MAX, NULL, 0, k, CRYPTO_KEY_LEN) != 0)
		goto out;
	if (crypto_aead_rekey(c->aead, k) != 0)
		goto out;
	rc = 0;
out:
	crypto_wipe(k, sizeof(k));
	return rc;
}

void noise_cipher_clear(struct noise_cipher *c)
{
	if (c == NULL)
		return;
	crypto_aead_free(c->aead);
	memset(c, 0, sizeof(*c));
}

/* ---- SymmetricState (section 5.2) ---- */

static int mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	return crypto_hash(hs->hash, hs->h, hs->h, hs->hashlen, data, len);
}

/* InitializeKey(k): deferred until the key is used (see struct noise_hs). */
static void set_key(struct noise_hs *hs, const uint8_t *k)
{
	memcpy(hs->k, k, CRYPTO_KEY_LEN);
	hs->has_k = 1;
	hs->k_stale = 1;
	hs->cs.n = 0;
}

static int load_key(struct noise_hs *hs)
{
	if (!hs->k_stale)
		return 0;
	if (cipher_set_key(&hs->cs, hs->k) != 0)
		return -1;
	hs->k_stale = 0;
	return 0;
}

static int mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t k[CRYPTO_HASH_MAX];
	int rc = -1;

	if ((hs->has_ck_key
		 ? crypto_noise_hkdf_key(&hs->ck_key, ikm, len, 2, hs->ck, k, NULL)
		 : crypto_noise_hkdf(hs->hash, hs->ck, ikm, len, 2, hs->ck, k, NULL)) != 0)
		goto out;
	hs->has_ck_key = 0;
	/* With a 64-byte hash only the first 32 bytes key the cipher. */
	set_key(hs, k);
	rc = 0;
out:
	crypto_wipe(k, sizeof(k));
	return rc;
}

static int mix_key_and_hash(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t th[CRYPTO_HASH_MAX], k[CRYPTO_HASH_MAX];
	int rc = -1;

	hs->has_ck_key = 0;
	if (crypto_noise_hkdf(hs->hash, hs->ck, ikm, len, 3, hs->ck, th, k) != 0)
		goto out;
	if (mix_hash(hs, th, hs->hashlen) != 0)
		goto out;
	set_key(hs, k);
	rc = 0;
out:
	crypto_wipe(th, sizeof(th));
	crypto_wipe(k, sizeof(k));
	return rc;
}

/* In place: ${buf} has room for the tag. */
static int encrypt_and_hash(struct noise_hs *hs, uint8_t *buf, size_t len, size_t *outlen)
{
	if (hs->has_k) {
		if (load_key(hs) != 0 ||
		    noise_cipher_encrypt(&hs->cs, hs->h, hs->hashlen, buf, len) != 0)
			return -1;
		len += CRYPTO_TAG_LEN;
	}
	*outlen = len;
	return mix_hash(hs, buf, len);
}

/* DecryptWithAd under the current key; a key just mixed in is loaded in the same pass. */
static int open_current(struct noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	struct noise_cipher *c = &hs->cs;
	if (!hs->k_stale || c->aead == NULL)
		return load_key(hs) != 0 ? -1
					 : cipher_decrypt_to(c, hs->h, hs->hashlen, in, len, out);
	if (c->n == UINT64_MAX)
		return -1;
	/* Whatever the tag, the context now holds k. */
	int rc = crypto_aead_open_rekey(c->aead, hs->k, c->n, hs->h, hs->hashlen, in, len, out);
	hs->k_stale = 0;
	if (rc != 0)
		return -1;
	c->n++;
	return 0;
}

/*
 * h must become HASH(h || ciphertext) while the old h is still the AD, and
 * ${out} may be ${in} itself: so the new h is computed first and kept aside
 * until the tag has been checked. Without ${need_h} (the last message of a
 * handshake abandoned after it: noise_hs_read_last) that h is never read,
 * so it is not computed.
 */
static int decrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out,
			    size_t *outlen, int need_h)
{
	uint8_t next_h[CRYPTO_HASH_MAX];
	int rc = -1;

	if (need_h && crypto_hash(hs->hash, next_h, hs->h, hs->hashlen, in, len) != 0)
		goto out;
	if (hs->has_k) {
		if (len < CRYPTO_TAG_LEN || open_current(hs, in, len, out) != 0)
			goto out;
		len -= CRYPTO_TAG_LEN;
	} else if (len > 0) {
		memmove(out, in, len);
	}
	if (need_h)
		memcpy(hs->h, next_h, hs->hashlen);
	*outlen = len;
	rc = 0;
out:
	crypto_wipe(next_h, sizeof(next_h));
	return rc;
}

/* ---- HandshakeState (section 5.3) ---- */

static int our_pre(const struct noise_hs *hs)
{
	return hs->initiator ? hs->pre_i : hs->pre_r;
}

static int their_pre(const struct noise_hs *hs)
{
	return hs->initiator ? hs->pre_r : hs->pre_i;
}

/* Messages alternate and the initiator sends first. */
static int sent_by_us(const struct noise_hs *hs, int msg)
{
	return (msg % 2 == 0) == (hs->initiator != 0);
}

static int we_send_static(const struct noise_hs *hs)
{
	if (our_pre(hs) == T_S)
		return 1;
	for (int m = 0; m < hs->nmsgs; m++) {
		if (!sent_by_us(hs, m))
			continue;
		if (memchr(hs->msgs[m], T_S, (size_t)hs->ntokens[m]) != NULL)
			return 1;
	}
	return 0;
}

static int load_keys(struct noise_hs *hs, const struct noise_params *p)
{
	if (p->s != NULL) {
		memcpy(hs->s.priv, p->s, CRYPTO_DH_LEN);
		if (crypto_dh_pub(hs->s.priv, hs->s.pub) != 0)
			return -1;
		hs->s.set = 1;
	}
	if (we_send_static(hs) && !hs->s.set)
		return -1;
	/* A peer key the pattern does not announce in advance is learned, never assumed. */
	if (their_pre(hs) == T_S) {
		if (p->rs == NULL)
			return -1;
		memcpy(hs->rs, p->rs, CRYPTO_DH_LEN);
		hs->has_rs = 1;
	}
	if (hs->psk_mode) {
		if (p->psk == NULL)
			return -1;
		memcpy(hs->psk, p->psk, CRYPTO_KEY_LEN);
	}
	if (p->e_fixed != NULL) {
		memcpy(hs->e_fixed, p->e_fixed, CRYPTO_DH_LEN);
		hs->has_e_fixed = 1;
	}
	return 0;
}

static int initialize_symmetric(struct noise_hs *hs, const char *name)
{
	size_t len = strlen(name);

	if (len <= hs->hashlen)
		memcpy(hs->h, name, len);
	else if (crypto_hash(hs->hash, hs->h, (const uint8_t *)name, len, NULL, 0) != 0)
		return -1;
	memcpy(hs->ck, hs->h, hs->hashlen);
	return 0;
}

/* Initiator's pre-message first, then the responder's, whichever side we are. */
static int mix_premessages(struct noise_hs *hs)
{
	const uint8_t *ini = hs->initiator ? hs->s.pub : hs->rs;
	const uint8_t *resp = hs->initiator ? hs->rs : hs->s.pub;

	if (hs->pre_i == T_S && mix_hash(hs, ini, CRYPTO_DH_LEN) != 0)
		return -1;
	if (hs->pre_r == T_S && mix_hash(hs, resp, CRYPTO_DH_LEN) != 0)
		return -1;
	return 0;
}

void noise_hs_free(struct noise_hs *hs)
{
	if (hs == NULL)
		return;
	noise_cipher_clear(&hs->cs);
	crypto_wipe(hs, sizeof(*hs));
	free(hs);
}

struct noise_hs *noise_hs_new(const struct noise_params *p)
{
	struct noise_hs *hs = NULL, *ret = NULL;

	if (p == NULL || p->protocol_name == NULL)
		goto out;
	if (p->prologue == NULL && p->prologue_len > 0)
		goto out;
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL)
		goto out;
	hs->initiator = p->initiator != 0;
	if (parse_name(hs, p->protocol_name) != 0 || load_keys(hs, p) != 0)
		goto out;
	if (initialize_symmetric(hs, p->protocol_name) != 0)
		goto out;
	if (mix_hash(hs, p->prologue, p->prologue_len) != 0 || mix_premessages(hs) != 0)
		goto out;
	ret = hs;
	hs = NULL;
out:
	noise_hs_free(hs);
	return ret;
}

static int turn_is_ours(const struct noise_hs *hs, int writing)
{
	if (hs == NULL || hs->dead || hs->next >= hs->nmsgs)
		return 0;
	return sent_by_us(hs, hs->next) == writing;
}

/*
 * Length of the next message with ${plen} payload bytes. Computed before any
 * state changes so that a short buffer costs the caller nothing.
 */
static size_t message_len(const struct noise_hs *hs, size_t plen)
{
	const uint8_t *tok = hs->msgs[hs->next];
	int keyed = hs->has_k;
	size_t len = 0;

	for (int i = hs->tok_done; i < hs->ntokens[hs->next]; i++) {
		switch (tok[i]) {
		case T_E:
			len += CRYPTO_DH_LEN;
			keyed = keyed || hs->psk_mode;
			break;
		case T_S:
			len += CRYPTO_DH_LEN + (keyed ? CRYPTO_TAG_LEN : 0);
			break;
		default:
			/* Every DH token and psk ends in MixKey. */
			keyed = 1;
			break;
		}
	}
	return len + plen + (keyed ? CRYPTO_TAG_LEN : 0);
}

static int make_ephemeral(struct noise_hs *hs)
{
	if (!hs->has_e_fixed)
		return crypto_dh_keygen(hs->e.priv, hs->e.pub);
	/* A fixed ephemeral serves one message only, as a real one would. */
	memcpy(hs->e.priv, hs->e_fixed, CRYPTO_DH_LEN);
	crypto_wipe(hs->e_fixed, sizeof(hs->e_fixed));
	hs->has_e_fixed = 0;
	return crypto_dh_pub(hs->e.priv, hs->e.pub);
}

static int mix_dh(struct noise_hs *hs, int token)
{
	const struct keypair *local = NULL;
	const uint8_t *remote = NULL;
	int remote_set = 0;
	uint8_t dh[CRYPTO_DH_LEN];
	int rc = -1;

	switch (token) {
	case T_EE: /* ee */
		local = &hs->e;
		remote = hs->re;
		remote_set = hs->has_re;
		break;
	case T_ES: /* es: the initiator's e with the responder's s */
		local = hs->initiator ? &hs->e : &hs->s;
		remote = hs->initiator ? hs->rs : hs->re;
		remote_set = hs->initiator ? hs->has_rs : hs->has_re;
		break;
	case T_SE: /* se: the initiator's s with the responder's e */
		local = hs->initiator ? &hs->s : &hs->e;
		remote = hs->initiator ? hs->re : hs->rs;
		remote_set = hs->initiator ? hs->has_re : hs->has_rs;
		break;
	case T_SS: /* ss */
		local = &hs->s;
		remote = hs->rs;
		remote_set = hs->has_rs;
		break;
	default:
		goto out;
	}
	if (!local->set || !remote_set)
		goto out;
	if (crypto_dh(dh, local->priv, remote) != 0 || mix_key(hs, dh, sizeof(dh)) != 0)
		goto out;
	rc = 0;
out:
	crypto_wipe(dh, sizeof(dh));
	return rc;
}

static int write_token(struct noise_hs *hs, int token, uint8_t *msg, size_t *off)
{
	size_t n;

	switch (token) {
	case T_E: /* e */
		if (make_ephemeral(hs) != 0)
			return -1;
		hs->e.set = 1;
		memcpy(msg + *off, hs->e.pub, CRYPTO_DH_LEN);
		*off += CRYPTO_DH_LEN;
		if (mix_hash(hs, hs->e.pub, CRYPTO_DH_LEN) != 0)
			return -1;
		return hs->psk_mode ? mix_key(hs, hs->e.pub, CRYPTO_DH_LEN) : 0;
	case T_S: /* s */
		memcpy(msg + *off, hs->s.pub, CRYPTO_DH_LEN);
		if (encrypt_and_hash(hs, msg + *off, CRYPTO_DH_LEN, &n) != 0)
			return -1;
		*off += n;
		return 0;
	case T_PSK: /* psk */
		return mix_key_and_hash(hs, hs->psk, CRYPTO_KEY_LEN);
	default:
		return mix_dh(hs, token);
	}
}

static int read_token(struct noise_hs *hs, int token, const uint8_t *msg, size_t mlen, size_t *off)
{
	size_t n, got;

	switch (token) {
	case T_E: /* e */
		if (mlen - *off < CRYPTO_DH_LEN)
			return -1;
		memcpy(hs->re, msg + *off, CRYPTO_DH_LEN);
		hs->has_re = 1;
		*off += CRYPTO_DH_LEN;
		if (mix_hash(hs, hs->re, CRYPTO_DH_LEN) != 0)
			return -1;
		return hs->psk_mode ? mix_key(hs, hs->re, CRYPTO_DH_LEN) : 0;
	case T_S: /* s */
		n = CRYPTO_DH_LEN + (hs->has_k ? CRYPTO_TAG_LEN : 0);
		if (mlen - *off < n)
			return -1;
		if (decrypt_and_hash(hs, msg + *off, n, hs->rs, &got, 1) != 0)
			return -1;
		hs->has_rs = 1;
		*off += n;
		return 0;
	case T_PSK: /* psk */
		return mix_key_and_hash(hs, hs->psk, CRYPTO_KEY_LEN);
	default:
		return mix_dh(hs, token);
	}
}

long noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *msg,
		    size_t outcap)
{
	size_t need, off = 0, n;
	long rc = -1;

	if (!turn_is_ours(hs, 1) || msg == NULL || (payload == NULL && plen > 0))
		return -1;
	if (plen > NOISE_MAX_MSG)
		return -1;
	need = message_len(hs, plen);
	if (need > outcap || need > NOISE_MAX_MSG)
		return -1;
	for (int i = hs->tok_done; i < hs->ntokens[hs->next]; i++) {
		if (write_token(hs, hs->msgs[hs->next][i], msg, &off) != 0)
			goto out;
	}
	if (plen > 0)
		memmove(msg + off, payload, plen);
	if (encrypt_and_hash(hs, msg + off, plen, &n) != 0)
		goto out;
	hs->next++;
	hs->tok_done = 0;
	rc = (long)(off + n);
out:
	/* Past the length checks a failure leaves h and ck half-mixed: no retry is possible. */
	if (rc < 0)
		hs->dead = 1;
	return rc;
}

static long read_message(struct noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
			 size_t pcap, int last)
{
	size_t fixed, off = 0, plen;
	long rc = -1;

	if (!turn_is_ours(hs, 0))
		goto out;
	fixed = message_len(hs, 0);
	if (msg == NULL || mlen < fixed || mlen > NOISE_MAX_MSG || mlen - fixed > pcap)
		goto out;
	if (mlen - fixed > 0 && payload == NULL)
		goto out;
	for (int i = hs->tok_done; i < hs->ntokens[hs->next]; i++) {
		if (read_token(hs, hs->msgs[hs->next][i], msg, mlen, &off) != 0)
			goto out;
	}
	if (decrypt_and_hash(hs, msg + off, mlen - off, payload, &plen, !last) != 0)
		goto out;
	hs->next++;
	hs->tok_done = 0;
	rc = (long)plen;
out:
	/* After the last message h is stale: nothing may go on from this state. */
	if ((rc < 0 || last) && hs != NULL)
		hs->dead = 1;
	return rc;
}

long noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
		   size_t pcap)
{
	return read_message(hs, msg, mlen, payload, pcap, 0);
}

long noise_hs_read_last(struct noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
			size_t pcap)
{
	return read_message(hs, msg, mlen, payload, pcap, 1);
}

int noise_hs_premix(struct noise_hs *hs)
{
	if (hs == NULL || hs->dead || hs->next >= hs->nmsgs)
		return -1;
	/* Only psk needs nothing from the message or the peer's keys. */
	while (hs->tok_done < hs->ntokens[hs->next] && hs->msgs[hs->next][hs->tok_done] == T_PSK) {
		if (mix_key_and_hash(hs, hs->psk, CRYPTO_KEY_LEN) != 0) {
			hs->dead = 1;
			return -1;
		}
		hs->tok_done++;
	}
	if (hs->hash == CRYPTO_SHA256) {
		crypto_hkdf_key_init(&hs->ck_key, hs->ck);
		hs->has_ck_key = 1;
	}
	return 0;
}

int noise_hs_prepare(struct noise_hs *hs)
{
	if (hs == NULL || hs->dead)
		return -1;
	/* No key yet (no psk before the first message): nothing to build. */
	return hs->has_k ? load_key(hs) : 0;
}

int noise_hs_restore(struct noise_hs *dst, const struct noise_hs *src)
{
	struct crypto_aead *aead;

	if (dst == NULL || src == NULL || dst == src)
		return -1;
	aead = dst->cs.aead;
	/* A context keyed for the other cipher cannot be rekeyed into this one. */
	if (aead != NULL && dst->cs.alg != src->cs.alg) {
		crypto_aead_free(aead);
		aead = NULL;
	}
	memcpy(dst, src, sizeof(*dst));
	dst->cs.aead = aead;
	dst->k_stale = dst->has_k;
	return 0;
}

struct noise_hs *noise_hs_clone(const struct noise_hs *src)
{
	struct noise_hs *hs;

	if (src == NULL || src->split)
		return NULL;
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL)
		return NULL;
	hs->cs.alg = src->cs.alg;
	noise_hs_restore(hs, src);
	return hs;
}

int noise_hs_done(const struct noise_hs *hs)
{
	return hs != NULL && !hs->dead && hs->next == hs->nmsgs;
}

const uint8_t *noise_hs_hash(const struct noise_hs *hs, size_t *len)
{
	if (hs == NULL)
		return NULL;
	if (len != NULL)
		*len = hs->hashlen;
	return hs->h;
}

const uint8_t *noise_hs_remote_static(const struct noise_hs *hs)
{
	return hs != NULL && hs->has_rs ? hs->rs : NULL;
}

int noise_hs_split(struct noise_hs *hs, struct noise_cipher *send, struct noise_cipher *recv)
{
	uint8_t k1[CRYPTO_HASH_MAX], k2[CRYPTO_HASH_MAX];
	struct noise_cipher c1 = {0}, c2 = {0};
	int rc = -1;

	/* A second Split would hand out the same keys twice, and so reuse nonces. */
	if (!noise_hs_done(hs) || hs->split || send == NULL || recv == NULL)
		goto out;
	if (crypto_noise_hkdf(hs->hash, hs->ck, NULL, 0, 2, k1, k2, NULL) != 0)
		goto out;
	c1.alg = c2.alg = hs->cs.alg;
	c1.aead = crypto_aead_new(c1.alg, k1);
	c2.aead = crypto_aead_new(c2.alg, k2);
	if (c1.aead == NULL || c2.aead == NULL)
		goto out;
	*send = hs->initiator ? c1 : c2;
	*recv = hs->initiator ? c2 : c1;
	c1.aead = c2.aead = NULL;
	/* Only h outlives the handshake (section 5.3); the chaining key and ephemeral go now. */
	crypto_wipe(hs->ck, sizeof(hs->ck));
	crypto_wipe(&hs->ck_key, sizeof(hs->ck_key));
	hs->has_ck_key = 0;
	crypto_wipe(&hs->e, sizeof(hs->e));
	hs->split = 1;
	rc = 0;
out:
	crypto_aead_free(c1.aead);
	crypto_aead_free(c2.aead);
	crypto_wipe(k1, sizeof(k1));
	crypto_wipe(k2, sizeof(k2));
	return rc;
}
