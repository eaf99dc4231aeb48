/* SPDX-License-Identifier: MIT */
/*
 * handshake_ik: message 1 of postern's Noise_IK handshake, its mac1, and
 * the identity table.
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss, {timestamp, version}      (+ mac1 after e on the wire)
 *   <- e, ee, se, {version}
 *
 * Why a mac1: without it every stranger's 128 bytes would cost the server
 * a DH. mac1 = HMAC-SHA256(SHA-256("postern mac1 v1" || suite || server
 * public key), e), truncated to 16 bytes: only someone who knows the
 * server's public key can make one, and checking it costs one HMAC. It
 * covers e alone because it only gates the DH: anyone who can see a real
 * message can replay its e and mac1 with any tail, which costs the server
 * exactly what replaying the whole message costs; the per-source DH budget
 * bounds both.
 *
 * Why a table: the client's static key comes out of message 1 in clear
 * (to us), so one probe of a SipHash table keyed per process finds the
 * identity, whatever the number of identities.
 */
#include "tunnel/handshake_ik.h"

#include <stdlib.h>
#include <string.h>

#include "util/wire.h"

#define MAC1_LABEL "postern mac1 v1"

static const char *const ik_names[] = {
    [CRYPTO_CHACHAPOLY] = "Noise_IK_25519_ChaChaPoly_SHA256",
    [CRYPTO_AESGCM] = "Noise_IK_25519_AESGCM_SHA256",
};

enum { NSUITES = 2 };

const char *handshake_ik_protocol_name(enum crypto_aead_alg alg)
{
	return alg == CRYPTO_AESGCM ? ik_names[CRYPTO_AESGCM] : ik_names[CRYPTO_CHACHAPOLY];
}

static int mac1_key(const uint8_t server_pub[CRYPTO_DH_LEN], int alg, uint8_t key[32])
{
	uint8_t in[sizeof(MAC1_LABEL) - 1 + 1 + CRYPTO_DH_LEN];
	memcpy(in, MAC1_LABEL, sizeof(MAC1_LABEL) - 1);
	in[sizeof(MAC1_LABEL) - 1] = (uint8_t)alg;
	memcpy(in + sizeof(MAC1_LABEL), server_pub, CRYPTO_DH_LEN);
	return crypto_hash(CRYPTO_SHA256, key, in, sizeof(in), NULL, 0);
}

static int mac1_compute(const uint8_t key[32], const uint8_t e[CRYPTO_DH_LEN],
			uint8_t mac[HANDSHAKE_MAC1_LEN])
{
	uint8_t full[CRYPTO_HASH_MAX];
	if (crypto_hmac(CRYPTO_SHA256, full, key, 32, e, CRYPTO_DH_LEN) != 0)
		return -1;
	memcpy(mac, full, HANDSHAKE_MAC1_LEN);
	crypto_wipe(full, sizeof(full));
	return 0;
}

int handshake_ik_mac1_make(const uint8_t server_pub[CRYPTO_DH_LEN], int alg,
			   const uint8_t e[CRYPTO_DH_LEN], uint8_t mac[HANDSHAKE_MAC1_LEN])
{
	uint8_t key[32];
	int rc = mac1_key(server_pub, alg, key) == 0 && mac1_compute(key, e, mac) == 0 ? 0 : -1;
	crypto_wipe(key, sizeof(key));
	return rc;
}

static struct noise_hs *start(int alg, int initiator, const uint8_t *s, const uint8_t *rs)
{
	struct noise_params p = {
	    .protocol_name = handshake_ik_protocol_name((enum crypto_aead_alg)alg),
	    .initiator = initiator,
	    .prologue = (const uint8_t *)HANDSHAKE_PROLOGUE,
	    .prologue_len = sizeof(HANDSHAKE_PROLOGUE) - 1,
	    .s = s,
	    .rs = rs,
	};
	return noise_hs_new(&p);
}

int handshake_ik_wire(const uint8_t server_pub[CRYPTO_DH_LEN], int alg,
		      const uint8_t noise[HANDSHAKE_IK_NOISE_LEN],
		      uint8_t msg1[HANDSHAKE_IK_MSG_LEN])
{
	uint8_t key[32];
	int rc = -1;
	if (mac1_key(server_pub, alg, key) != 0 ||
	    mac1_compute(key, noise, msg1 + HANDSHAKE_MAC1_OFF) != 0)
		goto out;
	memcpy(msg1, noise, HANDSHAKE_MAC1_OFF);
	memcpy(msg1 + HANDSHAKE_MAC1_OFF + HANDSHAKE_MAC1_LEN, noise + HANDSHAKE_MAC1_OFF,
	       HANDSHAKE_IK_NOISE_LEN - HANDSHAKE_MAC1_OFF);
	rc = 0;
out:
	crypto_wipe(key, sizeof(key));
	return rc;
}

struct noise_hs *handshake_ik_client_begin(const uint8_t s[CRYPTO_DH_LEN],
					   const uint8_t server_pub[CRYPTO_DH_LEN],
					   enum crypto_aead_alg alg, uint64_t now_ms,
					   uint8_t msg1[HANDSHAKE_IK_MSG_LEN])
{
	uint8_t payload[HANDSHAKE_PAYLOAD_LEN] = {0};
	uint8_t nm[HANDSHAKE_IK_NOISE_LEN];
	struct noise_hs *hs = start(alg, 1, s, server_pub);
	if (hs == NULL)
		return NULL;
	store64_be(payload, now_ms);
	payload[8] = HANDSHAKE_VERSION;
	if (noise_hs_write(hs, payload, sizeof(payload), nm, sizeof(nm)) != (long)sizeof(nm) ||
	    handshake_ik_wire(server_pub, alg, nm, msg1) != 0) {
		noise_hs_free(hs);
		hs = NULL;
	}
	return hs;
}

struct ik_slot {
	uint8_t pub[CRYPTO_DH_LEN];
	uint32_t owner;
	int used;
};

struct handshake_ik {
	struct noise_hs *base[NSUITES]; /* responder state after the pre-message */
	uint8_t mac1_key[NSUITES][32];
	uint8_t sip[CRYPTO_SIPHASH_KEY_LEN];
	struct ik_slot *slots;
	size_t mask; /* slots - 1, a power of two minus one */
	size_t n;
};

void handshake_ik_free(struct handshake_ik *ik)
{
	if (ik == NULL)
		return;
	for (int i = 0; i < NSUITES; i++)
		noise_hs_free(ik->base[i]);
	free(ik->slots);
	crypto_wipe(ik, sizeof(*ik));
	free(ik);
}

/* Linear probing; the table is at most half full, so a probe ends quickly. */
static struct ik_slot *probe(const struct handshake_ik *ik, const uint8_t pub[CRYPTO_DH_LEN])
{
	size_t i = (size_t)crypto_siphash(ik->sip, pub, CRYPTO_DH_LEN) & ik->mask;
	while (ik->slots[i].used && memcmp(ik->slots[i].pub, pub, CRYPTO_DH_LEN) != 0)
		i = (i + 1) & ik->mask;
	return &ik->slots[i];
}

struct handshake_ik *handshake_ik_new(const uint8_t host[CRYPTO_DH_LEN], const uint8_t *const *pubs,
				      const uint32_t *owners, size_t n, size_t *dup)
{
	uint8_t host_pub[CRYPTO_DH_LEN];
	struct handshake_ik *ik = calloc(1, sizeof(*ik));
	size_t cap = 16;
	if (dup != NULL)
		*dup = n;
	if (ik == NULL || host == NULL || (n > 0 && (pubs == NULL || owners == NULL)))
		goto fail;
	while (cap < 2 * n + 2)
		cap *= 2;
	ik->slots = calloc(cap, sizeof(*ik->slots));
	ik->mask = cap - 1;
	if (ik->slots == NULL || crypto_random(ik->sip, sizeof(ik->sip)) != 0 ||
	    crypto_dh_pub(host, host_pub) != 0)
		goto fail;
	for (int alg = 0; alg < NSUITES; alg++) {
		ik->base[alg] = start(alg, 0, host, NULL);
		if (ik->base[alg] == NULL || mac1_key(host_pub, alg, ik->mac1_key[alg]) != 0)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		struct ik_slot *sl = probe(ik, pubs[i]);
		if (sl->used) {
			if (dup != NULL)
				*dup = i;
			goto fail;
		}
		memcpy(sl->pub, pubs[i], CRYPTO_DH_LEN);
		sl->owner = owners[i];
		sl->used = 1;
	}
	ik->n = n;
	return ik;
fail:
	handshake_ik_free(ik);
	return NULL;
}

size_t handshake_ik_count(const struct handshake_ik *ik)
{
	return ik == NULL ? 0 : ik->n;
}

int handshake_ik_mac1(const struct handshake_ik *ik, const uint8_t head[HANDSHAKE_MSG_LEN])
{
	uint8_t mac[HANDSHAKE_MAC1_LEN];
	int hit = -1;
	if (ik == NULL || head == NULL)
		return -1;
	/* Both suites are always computed and compared: the time says nothing. */
	for (int alg = 0; alg < NSUITES; alg++) {
		if (mac1_compute(ik->mac1_key[alg], head, mac) != 0)
			return -1;
		int eq = crypto_memeq(mac, head + HANDSHAKE_MAC1_OFF, HANDSHAKE_MAC1_LEN);
		hit = eq ? alg : hit;
	}
	return hit;
}

int handshake_ik_owner(const struct handshake_ik *ik, const uint8_t pub[CRYPTO_DH_LEN],
		       uint32_t *owner)
{
	if (ik == NULL || pub == NULL)
		return 0;
	const struct ik_slot *sl = probe(ik, pub);
	if (!sl->used)
		return 0;
	*owner = sl->owner;
	return 1;
}

int handshake_ik_find(const struct handshake_ik *ik, const uint8_t msg1[HANDSHAKE_IK_MSG_LEN],
		      int alg, struct handshake_found *f)
{
	uint8_t nm[HANDSHAKE_IK_NOISE_LEN];
	struct noise_hs *h = NULL;
	int rc = -1;
	memset(f, 0, sizeof(*f));
	if (ik == NULL || msg1 == NULL || alg < 0 || alg >= NSUITES)
		return -1;
	memcpy(nm, msg1, HANDSHAKE_MAC1_OFF);
	memcpy(nm + HANDSHAKE_MAC1_OFF, msg1 + HANDSHAKE_MAC1_OFF + HANDSHAKE_MAC1_LEN,
	       sizeof(nm) - HANDSHAKE_MAC1_OFF);
	h = noise_hs_clone(ik->base[alg]);
	if (h == NULL)
		goto out;
	rc = 0;
	if (noise_hs_read(h, nm, sizeof(nm), f->payload, HANDSHAKE_PAYLOAD_LEN) !=
	    HANDSHAKE_PAYLOAD_LEN)
		goto out;
	const uint8_t *rs = noise_hs_remote_static(h);
	if (rs == NULL)
		goto out;
	const struct ik_slot *sl = probe(ik, rs);
	if (!sl->used)
		goto out;
	f->hs = h;
	h = NULL;
	f->which = sl->owner;
	f->alg = (enum crypto_aead_alg)alg;
	memcpy(f->id, msg1, REPLAY_ID_LEN);
	rc = 1;
out:
	noise_hs_free(h);
	if (rc != 1)
		crypto_wipe(f->payload, sizeof(f->payload));
	return rc;
}
