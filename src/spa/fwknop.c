/* SPDX-License-Identifier: MIT */
/*
 * spa/fwknop: fwknop 2.x packets (Rijndael + HMAC-SHA256), written from the
 * format as docs/PROTOCOL.md "fwknop compatibility" describes it. Order of
 * work: length, HMAC (constant time), then base64, key derivation, AES,
 * padding, the inner digest and the fields. Everything before the HMAC
 * check is arithmetic on the length, so a stranger's datagram costs one
 * HMAC per identity and nothing more.
 */
#include "spa/fwknop.h"
#include "util/base64.h"
#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

enum {
	PKT_MAX = 1500,	 /* fwknop's MAX_SPA_ENCODED_MSG_SIZE */
	MAC_B64 = 43,	 /* HMAC-SHA256, base64 without '=' */
	SALTED_B64 = 10, /* "U2FsdGVkX1": fwknop strips it from the wire */
	CT_B64_MIN = 43, /* with the prefix: "Salted__", salt and one block (32 bytes) */
	RAW_MAX = (PKT_MAX + SALTED_B64) / 4 * 3 + 3,
	RAND_LEN = 16,	    /* decimal digits */
	USER_MAX = 64,	    /* MAX_SPA_USERNAME_SIZE */
	TS_MAX = 12,	    /* MAX_SPA_TIMESTAMP_SIZE */
	VERSION_MAX = 8,    /* MAX_SPA_VERSION_SIZE */
	MSG_MAX = 256,	    /* MAX_SPA_MESSAGE_SIZE */
	FIELDS_MAX = 10,    /* nine fields and the digest */
	TIMEOUT_MAX = 65536 /* fwknop's client timeout bound (2 << 15) */
};

/* fwknop's message types; 0 is a command to run, which postern never does. */
enum {
	T_COMMAND = 0,
	T_ACCESS,
	T_NAT,
	T_TIMEOUT_ACCESS,
	T_TIMEOUT_NAT,
	T_LOCAL_NAT,
	T_TIMEOUT_LOCAL_NAT,
	T_COUNT
};

static const char salted_b64[SALTED_B64 + 1] = "U2FsdGVkX1";

int fwknop_key_from_base64(const char *b64, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(b64);
	long got;

	/* Padded, as fwknop -k prints it; '=' only at the end. */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	if (strlen(b64) - n > 2 || n == 0 || n > (FWKNOP_KEY_MAX / 3 + 1) * 4)
		return -1;
	got = base64_decode(b64, n, out, max);
	if (got <= 0) {
		crypto_wipe(out, max);
		return -1;
	}
	*len = (size_t)got;
	return 0;
}

/* ---- the outer layer: HMAC, salt, key derivation, AES ---- */

static int say(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int say(char *why, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL) {
		va_start(ap, fmt);
		vsnprintf(why, FWKNOP_WHY_MAX, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* fwknop's HMAC covers the base64 ciphertext with the "Salted__" prefix put back. */
static int mac_raw(const struct fwknop_key *k, const uint8_t *ct, size_t n, uint8_t mac[32])
{
	uint8_t buf[SALTED_B64 + PKT_MAX];

	memcpy(buf, salted_b64, SALTED_B64);
	memcpy(buf + SALTED_B64, ct, n);
	return crypto_legacy_hmac(CRYPTO_LEGACY_SHA256, mac, k->hmac, k->hmac_len, buf,
				  SALTED_B64 + n);
}

/*
 * The packet's MAC decoded (it is public) and compared to ours as bytes in
 * constant time: our MAC is never base64-encoded, so no table lookup is
 * indexed by it. The 43rd character carries 2 spare bits, which must be
 * zero, so exactly one spelling of a MAC is accepted, as fwknopd does.
 */
static int mac_ok(const struct fwknop_key *k, const uint8_t *pkt, size_t n)
{
	uint8_t want[32], got[33];
	int ok;

	if (!base64_canonical((const char *)pkt + n, MAC_B64, 32))
		return 0;
	if (base64_decode_public((const char *)pkt + n, MAC_B64, got, sizeof(got)) != 32 ||
	    mac_raw(k, pkt, n, want) != 0)
		return 0;
	ok = crypto_memeq(want, got, 32);
	crypto_wipe(want, sizeof(want));
	return ok;
}

/*
 * OpenSSL's EVP_BytesToKey with MD5 and one round, as fwknop (after Perl's
 * Crypt::CBC) does it: D1 = MD5(key || salt), Di = MD5(Di-1 || key || salt),
 * key = D1 || D2, iv = D3.
 */
static int derive(const struct fwknop_key *k, const uint8_t salt[8], uint8_t key[32],
		  uint8_t iv[16])
{
	uint8_t buf[16 + FWKNOP_KEY_MAX + 8], d[48];
	size_t kl = k->key_len;
	int rc = -1;

	memcpy(buf + 16, k->key, kl);
	memcpy(buf + 16 + kl, salt, 8);
	if (crypto_legacy_digest(CRYPTO_LEGACY_MD5, d, buf + 16, kl + 8, NULL, 0) != 0)
		goto out;
	for (int i = 1; i < 3; i++) {
		memcpy(buf, d + 16 * (i - 1), 16);
		if (crypto_legacy_digest(CRYPTO_LEGACY_MD5, d + 16 * i, buf, 16 + kl + 8, NULL,
					 0) != 0)
			goto out;
	}
	memcpy(key, d, 32);
	memcpy(iv, d + 32, 16);
	rc = 0;
out:
	crypto_wipe(buf, sizeof(buf));
	crypto_wipe(d, sizeof(d));
	return rc;
}

/* Decrypt into ${pt} (NUL-terminated); returns its length or -1 with ${why}. */
static long open_outer(const uint8_t *ct, size_t n, const struct fwknop_key *k, char *pt, char *why)
{
	uint8_t raw[RAW_MAX], key[32], iv[16];
	char b64[SALTED_B64 + PKT_MAX];
	long rl, len = -1;
	unsigned pad;

	memcpy(b64, salted_b64, SALTED_B64);
	memcpy(b64 + SALTED_B64, ct, n);
	rl = base64_decode_public(b64, SALTED_B64 + n, raw, sizeof(raw));
	if (rl < 0)
		return say(why, "not base64");
	if (rl < 32 || rl % 16 != 0 || memcmp(raw, "Salted__", 8) != 0)
		return say(why, "ciphertext of %ld bytes is not salted AES blocks", rl);
	if (derive(k, raw + 8, key, iv) != 0 ||
	    crypto_aes256_cbc_decrypt(key, iv, raw + 16, (size_t)rl - 16, (uint8_t *)pt) != 0) {
		say(why, "AES failed");
		goto out;
	}
	len = rl - 16;
	pad = (uint8_t)pt[len - 1];
	if (pad == 0 || pad > 16)
		goto bad_pad;
	for (unsigned i = 1; i <= pad; i++)
		if ((uint8_t)pt[len - i] != pad)
			goto bad_pad;
	len -= pad;
	pt[len] = '\0';
	goto out;
bad_pad:
	len = say(why, "bad padding");
out:
	/* raw is the ciphertext, public; only the derived key and IV are secret. */
	crypto_wipe(key, sizeof(key));
	crypto_wipe(iv, sizeof(iv));
	return len;
}

/* ---- the inner layer: fields ---- */

struct field {
	const char *p;
	size_t n;
};

static int all_digits(struct field f, size_t max)
{
	if (f.n == 0 || f.n > max)
		return 0;
	for (size_t i = 0; i < f.n; i++)
		if (f.p[i] < '0' || f.p[i] > '9')
			return 0;
	return 1;
}

static unsigned long long number(struct field f)
{
	unsigned long long v = 0;

	for (size_t i = 0; i < f.n; i++)
		v = v * 10 + (unsigned)(f.p[i] - '0');
	return v;
}

/* A base64 field into a printable, NUL-terminated string of at most ${max} bytes. */
static int text_field(struct field f, char *out, size_t max)
{
	uint8_t buf[MSG_MAX + 3];
	long n;

	if (f.n == 0 || f.n > (max + 2) / 3 * 4)
		return -1;
	n = base64_decode_public(f.p, f.n, buf, sizeof(buf) - 1);
	if (n <= 0 || (size_t)n > max)
		return -1;
	for (long i = 0; i < n; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return -1;
	memcpy(out, buf, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* The digest is chosen by the client; its length names it, as fwknopd reads it. */
static int check_digest(const char *pt, size_t body, struct field d, char *why)
{
	static const struct {
		size_t b64;
		enum crypto_legacy_md md, alt;
	} kinds[] = {
	    {22, CRYPTO_LEGACY_MD5, CRYPTO_LEGACY_MD5},
	    {27, CRYPTO_LEGACY_SHA1, CRYPTO_LEGACY_SHA1},
	    {43, CRYPTO_LEGACY_SHA256, CRYPTO_LEGACY_SHA3_256},
	    {64, CRYPTO_LEGACY_SHA384, CRYPTO_LEGACY_SHA384},
	    {86, CRYPTO_LEGACY_SHA512, CRYPTO_LEGACY_SHA3_512},
	};
	uint8_t md[64], got[66];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t len = crypto_legacy_len(kinds[i].md);
		if (kinds[i].b64 != d.n)
			continue;
		if (base64_decode_public(d.p, d.n, got, sizeof(got)) != (long)len ||
		    !base64_canonical(d.p, d.n, len))
			return say(why, "digest is not base64");
		/* Same length, two digests: SHA-256 or SHA3-256, SHA-512 or SHA3-512. */
		if (crypto_legacy_digest(kinds[i].md, md, pt, body, NULL, 0) == 0 &&
		    crypto_memeq(md, got, len))
			return 0;
		if (kinds[i].alt != kinds[i].md &&
		    crypto_legacy_digest(kinds[i].alt, md, pt, body, NULL, 0) == 0 &&
		    crypto_memeq(md, got, len))
			return 0;
		return say(why, "digest does not match");
	}
	return say(why, "digest of %zu characters is no known kind", d.n);
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	struct field f = {s, n};
	unsigned long long v;

	if (!all_digits(f, 5))
		return -1;
	v = number(f);
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "ip,proto/port[,proto/port]...": the address to open and what to open. */
static int parse_access(const char *m, struct spa_request *req, char *why)
{
	const char *comma = strchr(m, ','), *p;
	char ip[16];
	size_t iplen;

	if (comma == NULL || comma[1] == '\0')
		return say(why, "access message without proto/port");
	iplen = (size_t)(comma - m);
	if (iplen < 7 || iplen > 15)
		return say(why, "access message without an IPv4 address");
	memcpy(ip, m, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, req->allow.addr) != 1)
		return say(why, "access address '%s' is not IPv4", ip);
	/* 0.0.0.0 is fwknop -s: "the address the packet came from". */
	req->allow.family = strcmp(ip, "0.0.0.0") == 0 ? 0 : AF_INET;
	if (req->allow.family == 0)
		memset(req->allow.addr, 0, sizeof(req->allow.addr));
	for (p = comma + 1;;) {
		const char *end = strchr(p, ','), *slash = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		struct spa_access *a = &req->access[req->naccess];
		if (slash == NULL || slash >= p + n)
			return say(why, "access entry without '/'");
		if (req->naccess >= SPA_ACCESS_MAX)
			return say(why, "more than %d access entries", SPA_ACCESS_MAX);
		if (slash - p == 3 && memcmp(p, "tcp", 3) == 0)
			a->proto = SPA_PROTO_TCP;
		else if (slash - p == 3 && memcmp(p, "udp", 3) == 0)
			a->proto = SPA_PROTO_UDP;
		else
			return say(why, "access protocol '%.*s' is not tcp or udp",
				   (int)(slash - p > 8 ? 8 : slash - p), p);
		if (parse_port(slash + 1, n - (size_t)(slash + 1 - p), &a->port) != 0)
			return say(why, "bad access port");
		req->naccess++;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

/* "host,port": postern forwards to IP literals only, never resolves names. */
static int parse_nat(const char *m, struct spa_request *req, char *why)
{
	const char *comma = strchr(m, ',');
	uint8_t a[16];
	size_t hl;

	if (comma == NULL || strchr(comma + 1, ',') != NULL)
		return say(why, "nat access is not host,port");
	hl = (size_t)(comma - m);
	if (hl == 0 || hl > SPA_HOST_MAX)
		return say(why, "nat access host of %zu bytes", hl);
	memcpy(req->forward_host, m, hl);
	req->forward_host[hl] = '\0';
	if (inet_pton(AF_INET, req->forward_host, a) != 1 &&
	    inet_pton(AF_INET6, req->forward_host, a) != 1)
		return say(why, "nat access host is not an IP address");
	if (parse_port(comma + 1, strlen(comma + 1), &req->forward_port) != 0)
		return say(why, "bad nat access port");
	req->has_forward = 1;
	return 0;
}

static int has_nat(int type)
{
	return type == T_NAT || type == T_TIMEOUT_NAT || type == T_LOCAL_NAT ||
	       type == T_TIMEOUT_LOCAL_NAT;
}

static int has_timeout(int type)
{
	return type == T_TIMEOUT_ACCESS || type == T_TIMEOUT_NAT || type == T_TIMEOUT_LOCAL_NAT;
}

/*
 * random:user:timestamp:version:type:message[:nat][:timeout]:digest, all
 * printable; user, message and nat in unpadded base64.
 */
static int parse_inner(const char *pt, size_t len, struct spa_request *req, char *why)
{
	struct field f[FIELDS_MAX];
	size_t nf = 0, start = 0, want;
	char text[MSG_MAX + 1];
	int type;

	for (size_t i = 0; i < len; i++)
		if (pt[i] < 0x20 || pt[i] > 0x7e)
			return say(why, "plaintext is not printable");
	for (size_t i = 0; i <= len; i++) {
		if (i < len && pt[i] != ':')
			continue;
		if (nf == FIELDS_MAX)
			return say(why, "more than %d fields", FIELDS_MAX);
		f[nf].p = pt + start;
		f[nf++].n = i - start;
		start = i + 1;
	}
	if (nf < 7)
		return say(why, "%zu fields, fewer than 7", nf);
	if (check_digest(pt, (size_t)(f[nf - 1].p - pt) - 1, f[nf - 1], why) != 0)
		return -1;
	if (f[0].n != RAND_LEN || !all_digits(f[0], RAND_LEN))
		return say(why, "random field is not %d digits", RAND_LEN);
	if (text_field(f[1], text, USER_MAX) != 0)
		return say(why, "bad username");
	/* text is NUL-terminated and printable; the label keeps its first bytes. */
	memcpy(req->label, text, strnlen(text, SPA_LABEL_MAX));
	if (!all_digits(f[2], TS_MAX))
		return say(why, "bad timestamp");
	req->ts_ms = number(f[2]) * 1000ull;
	if (f[3].n == 0 || f[3].n > VERSION_MAX)
		return say(why, "bad version");
	if (!all_digits(f[4], 2) || number(f[4]) >= T_COUNT)
		return say(why, "unknown message type");
	type = (int)number(f[4]);
	if (type == T_COMMAND)
		return say(why, "command messages are refused");
	/* Exact counts: an extra field would be fwknop's server_auth, which postern
	 * does not implement, so such a packet is refused rather than half-read. */
	want = 7 + (size_t)has_nat(type) + (size_t)has_timeout(type);
	if (nf != want)
		return say(why, "%zu fields for message type %d (want %zu)", nf, type, want);
	if (text_field(f[5], text, MSG_MAX) != 0)
		return say(why, "bad access message");
	if (parse_access(text, req, why) != 0)
		return -1;
	if (has_nat(type)) {
		if (text_field(f[6], text, MSG_MAX) != 0)
			return say(why, "bad nat access");
		if (parse_nat(text, req, why) != 0)
			return -1;
	}
	if (has_timeout(type)) {
		struct field t = f[nf - 2];
		if (!all_digits(t, 5) || number(t) > TIMEOUT_MAX)
			return say(why, "bad client timeout");
		req->timeout_s = (unsigned)number(t);
	}
	return 0;
}

int fwknop_decode(const uint8_t *pkt, size_t len, const struct fwknop_key *k,
		  struct spa_request *req, char *why)
{
	char pt[RAW_MAX];
	size_t n;
	long ptlen;
	int rc = -1;

	if (why != NULL)
		why[0] = '\0';
	if (req != NULL)
		memset(req, 0, sizeof(*req));
	if (pkt == NULL || k == NULL || req == NULL || k->hmac_len == 0 || k->key_len == 0 ||
	    k->key_len > 32 || k->hmac_len > FWKNOP_KEY_MAX)
		return 0;
	/* A packet of the wrong size cannot be this key's; no HMAC is spent on it. */
	if (len < CT_B64_MIN - SALTED_B64 + MAC_B64 || len > PKT_MAX)
		return 0;
	/* fwknop sends base64 only: junk (or postern's own binary knocks) fails
	 * here at a few comparisons per byte instead of costing an HMAC. */
	if (!base64_is_alphabet(pkt, len))
		return 0;
	n = len - MAC_B64;
	if (!mac_ok(k, pkt, n))
		return 0;
	ptlen = open_outer(pkt, n, k, pt, why);
	if (ptlen < 0)
		goto out;
	if (parse_inner(pt, (size_t)ptlen, req, why) != 0)
		goto out;
	/* fwknopd's replay cache keys on a digest of what was on the wire. */
	if (crypto_hash(CRYPTO_SHA256, req->id, pkt, n, NULL, 0) != 0) {
		say(why, "hash failed");
		goto out;
	}
	rc = 1;
out:
	if (rc != 1) {
		memset(req, 0, sizeof(*req));
		if (why != NULL && why[0] == '\0')
			say(why, "malformed");
	}
	/* The plaintext is at most as long as the decoded packet. */
	crypto_wipe(pt, len + SALTED_B64 < sizeof(pt) ? len + SALTED_B64 : sizeof(pt));
	return rc;
}

int fwknop_seal(const char *plain, size_t plen, const struct fwknop_key *k, const uint8_t salt[8],
		char *out, size_t cap)
{
	uint8_t raw[RAW_MAX], key[32], iv[16], mac[32];
	size_t padded = (plen / 16 + 1) * 16, n;
	char b64[SALTED_B64 + PKT_MAX + 4];
	int rc = -1;

	if (plen > PKT_MAX / 2 || k->key_len == 0 || k->key_len > 32 || cap < PKT_MAX + 1)
		return -1;
	memcpy(raw, "Salted__", 8);
	memcpy(raw + 8, salt, 8);
	memcpy(raw + 16, plain, plen);
	memset(raw + 16 + plen, (int)(padded - plen), padded - plen);
	if (derive(k, salt, key, iv) != 0 ||
	    crypto_aes256_cbc_encrypt(key, iv, raw + 16, padded, raw + 16) != 0)
		goto out;
	n = base64_encode(raw, 16 + padded, b64, 0) - SALTED_B64;
	if (n + MAC_B64 > PKT_MAX)
		goto out;
	memcpy(out, b64 + SALTED_B64, n);
	if (mac_raw(k, (const uint8_t *)out, n, mac) != 0)
		goto out;
	base64_encode(mac, sizeof(mac), out + n, 0);
	rc = (int)(n + MAC_B64);
out:
	crypto_wipe(raw, sizeof(raw));
	crypto_wipe(key, sizeof(key));
	crypto_wipe(iv, sizeof(iv));
	return rc;
}
