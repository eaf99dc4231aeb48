/* SPDX-License-Identifier: MIT */
/*
 * spa/packet: encode and judge knocks of kind 0x01 (NNpsk0).
 *
 *   -> psk, e, {payload}
 *
 * psk0 authenticates the payload under the identity's PSK from the first
 * and only message, so the server needs no DH to tell a knock from junk;
 * the sender's e makes every datagram unique and is its replay fingerprint.
 * The parser is strict (exact length, every field in range) because the
 * payload, though authenticated, is chosen by a key holder the policy may
 * not fully trust.
 */
#include "spa/packet.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "crypto/noise.h"
#include "tunnel/handshake_ik.h"
#include "util/wire.h"

static struct noise_hs *start(const uint8_t *psk, int initiator)
{
	struct noise_params p = {
	    .protocol_name = SPA_PSK_PROTOCOL,
	    .initiator = initiator,
	    .prologue = (const uint8_t *)SPA_PROLOGUE,
	    .prologue_len = sizeof(SPA_PROLOGUE) - 1,
	    .psk = psk,
	};
	return noise_hs_new(&p);
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : family == 0 ? 0 : -1;
}

static int wire_family(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
}

static int label_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

long spa_payload_encode(const struct spa_request *req, uint64_t ts_ms,
			const uint8_t nonce[SPA_NONCE_LEN], uint8_t *out, size_t cap)
{
	uint8_t fwd[16];
	int fwd_family = 0;
	size_t label = strnlen(req->label, sizeof(req->label));
	int alen = addr_len(req->allow.family);
	if (req->naccess < 1 || req->naccess > SPA_ACCESS_MAX || req->timeout_s > 65535 ||
	    alen < 0 || label > SPA_LABEL_MAX || !label_ok(req->label, label) ||
	    cap < SPA_PAYLOAD_MAX)
		return -1;
	if (req->has_forward) {
		if (inet_pton(AF_INET, req->forward_host, fwd) == 1)
			fwd_family = AF_INET;
		else if (inet_pton(AF_INET6, req->forward_host, fwd) == 1)
			fwd_family = AF_INET6;
		else
			return -1;
		if (req->forward_port == 0)
			return -1;
	}
	size_t n = 0;
	out[n++] = SPA_VERSION;
	out[n++] = req->has_forward ? SPA_TYPE_FORWARD : SPA_TYPE_ACCESS;
	store64_be(out + n, ts_ms);
	n += 8;
	memcpy(out + n, nonce, SPA_NONCE_LEN);
	n += SPA_NONCE_LEN;
	store16_be(out + n, (uint16_t)req->timeout_s);
	n += 2;
	out[n++] = (uint8_t)req->naccess;
	for (unsigned i = 0; i < req->naccess; i++) {
		const struct spa_access *a = &req->access[i];
		if ((a->proto != SPA_PROTO_TCP && a->proto != SPA_PROTO_UDP) || a->port == 0)
			return -1;
		out[n++] = a->proto;
		store16_be(out + n, a->port);
		n += 2;
	}
	out[n++] = (uint8_t)wire_family(req->allow.family);
	memcpy(out + n, req->allow.addr, (size_t)alen);
	n += (size_t)alen;
	if (req->has_forward) {
		size_t flen = (size_t)addr_len(fwd_family);
		out[n++] = (uint8_t)wire_family(fwd_family);
		memcpy(out + n, fwd, flen);
		n += flen;
		store16_be(out + n, req->forward_port);
		n += 2;
	}
	out[n++] = (uint8_t)label;
	memcpy(out + n, req->label, label);
	n += label;
	return (long)n;
}

/* A cursor over the payload: every take checks the bytes are there. */
struct rd {
	const uint8_t *p;
	size_t len, off;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->len - r->off < n)
		return NULL;
	r->off += n;
	return r->p + r->off - n;
}

static int fail(char *why, const char *msg)
{
	snprintf(why, SPA_WHY_MAX, "%s", msg);
	return -1;
}

/* An address as the wire writes it: family byte (0|4|6), then 0/4/16 bytes. */
static int take_addr(struct rd *r, struct spa_addr *a, int allow_none)
{
	const uint8_t *f = take(r, 1), *b;
	memset(a, 0, sizeof(*a));
	if (f == NULL)
		return -1;
	if (*f == 0 && allow_none)
		return 0;
	if (*f != 4 && *f != 6)
		return -1;
	a->family = *f == 4 ? AF_INET : AF_INET6;
	if ((b = take(r, *f == 4 ? 4 : 16)) == NULL)
		return -1;
	memcpy(a->addr, b, *f == 4 ? 4 : 16);
	return 0;
}

static int parse_access(struct rd *r, struct spa_request *req, char *why)
{
	const uint8_t *b = take(r, 1);
	if (b == NULL || *b < 1 || *b > SPA_ACCESS_MAX)
		return fail(why, "bad access count");
	req->naccess = *b;
	for (unsigned i = 0; i < req->naccess; i++) {
		if ((b = take(r, 3)) == NULL)
			return fail(why, "truncated access list");
		if (b[0] != SPA_PROTO_TCP && b[0] != SPA_PROTO_UDP)
			return fail(why, "bad access protocol");
		req->access[i].proto = b[0];
		req->access[i].port = load16_be(b + 1);
		if (req->access[i].port == 0)
			return fail(why, "access port 0");
	}
	return 0;
}

static int parse_forward(struct rd *r, struct spa_request *req, char *why)
{
	struct spa_addr fa;
	const uint8_t *b;
	if (take_addr(r, &fa, 0) != 0)
		return fail(why, "bad forward address");
	if ((b = take(r, 2)) == NULL || load16_be(b) == 0)
		return fail(why, "bad forward port");
	req->has_forward = 1;
	req->forward_port = load16_be(b);
	inet_ntop(fa.family, fa.addr, req->forward_host, sizeof(req->forward_host));
	return 0;
}

int spa_payload_parse(const uint8_t *p, size_t len, struct spa_request *req, char *why)
{
	struct rd r = {.p = p, .len = len};
	const uint8_t *b;
	memset(req, 0, sizeof(*req));
	if ((b = take(&r, 2)) == NULL)
		return fail(why, "truncated payload");
	if (b[0] != SPA_VERSION)
		return fail(why, "unsupported knock version");
	if (b[1] != SPA_TYPE_ACCESS && b[1] != SPA_TYPE_FORWARD)
		return fail(why, "bad knock type");
	int type = b[1];
	if ((b = take(&r, 8 + SPA_NONCE_LEN + 2)) == NULL)
		return fail(why, "truncated payload");
	req->ts_ms = load64_be(b);
	req->timeout_s = load16_be(b + 8 + SPA_NONCE_LEN);
	if (parse_access(&r, req, why) != 0)
		return -1;
	if (take_addr(&r, &req->allow, 1) != 0)
		return fail(why, "bad allow address");
	if (type == SPA_TYPE_FORWARD && parse_forward(&r, req, why) != 0)
		return -1;
	if ((b = take(&r, 1)) == NULL || *b > SPA_LABEL_MAX)
		return fail(why, "bad label length");
	size_t n = *b;
	if ((b = take(&r, n)) == NULL || !label_ok((const char *)b, n))
		return fail(why, "bad label");
	memcpy(req->label, b, n);
	req->label[n] = 0;
	if (r.off != r.len)
		return fail(why, "trailing bytes");
	return 0;
}

long spa_encode_psk(const uint8_t psk[32], const struct spa_request *req, uint64_t ts_ms,
		    uint8_t *out, size_t cap)
{
	uint8_t payload[SPA_PAYLOAD_MAX], nonce[SPA_NONCE_LEN];
	long rc = -1;
	struct noise_hs *hs = NULL;
	if (cap < 1 + SPA_E_LEN + SPA_TAG_LEN || crypto_random(nonce, sizeof(nonce)) != 0)
		return -1;
	long plen = spa_payload_encode(req, ts_ms, nonce, payload, sizeof(payload));
	if (plen < 0 || (hs = start(psk, 1)) == NULL)
		goto out;
	out[0] = SPA_KIND_PSK;
	long m = noise_hs_write(hs, payload, (size_t)plen, out + 1, cap - 1);
	if (m == SPA_E_LEN + plen + SPA_TAG_LEN)
		rc = m + 1;
out:
	noise_hs_free(hs);
	crypto_wipe(payload, sizeof(payload));
	return rc;
}

struct spa_keys {
	size_t n;
	struct noise_hs **base;
	/* Every trial restores into this one: a fresh state per datagram cost an
	 * allocation and a new cipher context, more than the AEAD open itself.
	 * So one spa_keys serves one thread (the loop's). */
	struct noise_hs *scratch;
};

void spa_keys_free(struct spa_keys *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; k->base != NULL && i < k->n; i++)
		noise_hs_free(k->base[i]);
	free(k->base);
	noise_hs_free(k->scratch);
	free(k);
}

struct spa_keys *spa_keys_new(const uint8_t *const *psks, size_t n)
{
	struct spa_keys *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->n = n;
	k->base = calloc(n + 1, sizeof(*k->base));
	if (k->base == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		k->base[i] = start(psks[i], 0);
		if (k->base[i] == NULL || noise_hs_premix(k->base[i]) != 0)
			goto fail;
	}
	if (n > 0 && ((k->scratch = noise_hs_clone(k->base[0])) == NULL ||
		      noise_hs_prepare(k->scratch) != 0))
		goto fail;
	return k;
fail:
	spa_keys_free(k);
	return NULL;
}

int spa_decode(const struct spa_keys *k, const uint8_t *pkt, size_t len, struct spa_request *req,
	       char *why)
{
	uint8_t payload[SPA_PAYLOAD_MAX];
	long plen = -1;
	int rc = 0;
	memset(req, 0, sizeof(*req));
	if (len < 1 || pkt[0] != SPA_KIND_PSK) {
		memcpy(why, "not a PSK knock", sizeof("not a PSK knock"));
		return 0;
	}
	if (len < SPA_PSK_MIN || len > SPA_PSK_MAX) {
		snprintf(why, SPA_WHY_MAX, "bad length %zu", len);
		return 0;
	}
	memcpy(why, "no key matched", sizeof("no key matched"));
	for (size_t i = 0; k != NULL && k->scratch != NULL && i < k->n; i++) {
		if (noise_hs_restore(k->scratch, k->base[i]) != 0)
			break;
		plen = noise_hs_read_last(k->scratch, pkt + 1, len - 1, payload, sizeof(payload));
		if (plen < 0)
			continue;
		rc = spa_payload_parse(payload, (size_t)plen, req, why) == 0 ? 1 : -1;
		req->owner = (uint32_t)i;
		memcpy(req->id, pkt + 1, SPA_ID_LEN);
		break;
	}
	/* A failed open may have written up to len bytes of keystream-XORed input
	 * before its tag was checked; the scratch keys die at the next restore. */
	crypto_wipe(payload, len < sizeof(payload) ? len : sizeof(payload));
	return rc;
}

/* ---- kind 0x02: Noise IK (the one-way X pattern) to the host key ---- */

static struct noise_hs *start_ik(int initiator, const uint8_t *s, const uint8_t *rs)
{
	struct noise_params p = {
	    .protocol_name = SPA_IK_PROTOCOL,
	    .initiator = initiator,
	    .prologue = (const uint8_t *)SPA_PROLOGUE,
	    .prologue_len = sizeof(SPA_PROLOGUE) - 1,
	    .s = s,
	    .rs = rs,
	};
	return noise_hs_new(&p);
}

long spa_encode_ik(const uint8_t s[32], const uint8_t server_pub[32], const struct spa_request *req,
		   uint64_t ts_ms, uint8_t *out, size_t cap)
{
	uint8_t payload[SPA_PAYLOAD_MAX], nonce[SPA_NONCE_LEN], nm[SPA_IK_MAX];
	struct noise_hs *hs = NULL;
	long rc = -1;
	if (cap < SPA_IK_MAX || crypto_random(nonce, sizeof(nonce)) != 0)
		return -1;
	long plen = spa_payload_encode(req, ts_ms, nonce, payload, sizeof(payload));
	if (plen < 0 || (hs = start_ik(1, s, server_pub)) == NULL)
		goto out;
	long m = noise_hs_write(hs, payload, (size_t)plen, nm, sizeof(nm));
	if (m != SPA_E_LEN + SPA_S_LEN + plen + SPA_TAG_LEN)
		goto out;
	out[0] = SPA_KIND_IK;
	memcpy(out + 1, nm, SPA_E_LEN);
	if (handshake_ik_mac1_make(server_pub, CRYPTO_CHACHAPOLY, nm, out + 1 + SPA_E_LEN) != 0)
		goto out;
	memcpy(out + 1 + SPA_E_LEN + SPA_MAC1_LEN, nm + SPA_E_LEN, (size_t)m - SPA_E_LEN);
	rc = 1 + SPA_MAC1_LEN + m;
out:
	noise_hs_free(hs);
	crypto_wipe(payload, sizeof(payload));
	return rc;
}

struct spa_ik {
	struct noise_hs *base;	 /* responder state after the pre-message s */
	struct handshake_ik *ik; /* the tunnel's mac1 keys and key table, reused */
};

void spa_ik_free(struct spa_ik *k)
{
	if (k == NULL)
		return;
	noise_hs_free(k->base);
	handshake_ik_free(k->ik);
	free(k);
}

struct spa_ik *spa_ik_new(const uint8_t host[32], const uint8_t *const *pubs,
			  const uint32_t *owners, size_t n)
{
	struct spa_ik *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->base = start_ik(0, host, NULL);
	k->ik = handshake_ik_new(host, pubs, owners, n, NULL);
	if (k->base == NULL || k->ik == NULL) {
		spa_ik_free(k);
		return NULL;
	}
	return k;
}

int spa_ik_mac1(const struct spa_ik *k, const uint8_t *pkt, size_t len, char *why)
{
	if (len < 1 || pkt[0] != SPA_KIND_IK) {
		snprintf(why, SPA_WHY_MAX, "not a public-key knock");
		return 0;
	}
	if (len < SPA_IK_MIN || len > SPA_IK_MAX) {
		snprintf(why, SPA_WHY_MAX, "bad length %zu", len);
		return 0;
	}
	/* Bytes 1..64 are laid out as a tunnel first message's head: e, then mac1. */
	if (k == NULL || handshake_ik_mac1(k->ik, pkt + 1) != CRYPTO_CHACHAPOLY) {
		snprintf(why, SPA_WHY_MAX, "bad mac1");
		return 0;
	}
	return 1;
}

int spa_ik_decode(const struct spa_ik *k, const uint8_t *pkt, size_t len, struct spa_request *req,
		  char *why)
{
	uint8_t nm[SPA_IK_MAX], payload[SPA_PAYLOAD_MAX];
	struct noise_hs *h = NULL;
	int rc = 0;
	memset(req, 0, sizeof(*req));
	snprintf(why, SPA_WHY_MAX, "public-key knock does not authenticate");
	if (k == NULL || len < SPA_IK_MIN || len > SPA_IK_MAX || pkt[0] != SPA_KIND_IK)
		return 0;
	size_t mlen = len - 1 - SPA_MAC1_LEN;
	memcpy(nm, pkt + 1, SPA_E_LEN);
	memcpy(nm + SPA_E_LEN, pkt + 1 + SPA_E_LEN + SPA_MAC1_LEN, mlen - SPA_E_LEN);
	if ((h = noise_hs_clone(k->base)) == NULL)
		goto out;
	long plen = noise_hs_read(h, nm, mlen, payload, sizeof(payload));
	const uint8_t *rs = plen < 0 ? NULL : noise_hs_remote_static(h);
	uint32_t owner;
	if (rs == NULL)
		goto out;
	if (!handshake_ik_owner(k->ik, rs, &owner)) {
		snprintf(why, SPA_WHY_MAX, "public key not listed");
		goto out;
	}
	rc = spa_payload_parse(payload, (size_t)plen, req, why) == 0 ? 1 : -1;
	req->owner = owner;
	memcpy(req->id, pkt + 1, SPA_ID_LEN);
out:
	noise_hs_free(h);
	crypto_wipe(payload, sizeof(payload));
	return rc;
}

int spa_addr_parse(const char *s, struct spa_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->addr) == 1)
		a->family = AF_INET6;
	else
		return -1;
	return 0;
}
