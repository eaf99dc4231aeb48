/* SPDX-License-Identifier: MIT */
/*
 * keys: pre-shared key files. A key file is one line,
 *   "postern-psk-v1 " followed by the base64 of 32 random bytes and "\n",
 * mode 0600 (refused if group or others have any permission). Errors name
 * the file and the fix, never the key.
 */
#ifndef POSTERN_KEYS_H
#define POSTERN_KEYS_H

#include <stdint.h>

#include "crypto/crypto.h"
#include "util/passphrase.h"

enum {
	KEYS_ERR_MAX = 512,
	KEYS_FILE_MAX = 1024,	/* longest key file read (an encrypted one included) */
	KEYS_PUB_LINE_MAX = 72, /* "postern-x25519-pub-v1 " + base64, with its NUL */
};

/* What a key file holds. */
enum keys_kind {
	KEYS_PSK = 1,	 /* "postern-psk-v1 B64": a pre-shared key */
	KEYS_X25519 = 2, /* "postern-x25519-v1 B64": an X25519 private key */
};

/*
 * keys_generate(path, err): create ${path} (O_EXCL, mode 0600) holding a new
 * PSK; refuses to overwrite. Returns 0, or -1 with a message in ${err}.
 */
int keys_generate(const char *path, char *err);

/*
 * keys_load(path, psk, err): read the PSK from ${path}, checking ownership
 * mode and format. Returns 0, or -1 with a message in ${err} that names the
 * file (e.g. "key file k.key: permissions 0644 are too open; run: chmod 600
 * k.key"). ${psk} is wiped on failure.
 */
int keys_load(const char *path, uint8_t psk[CRYPTO_KEY_LEN], char *err);

/*
 * keys_trust_owner(uid): files owned by ${uid} pass keys_load()'s owner
 * check too (besides the caller and root): the server's `user`, who must be
 * able to read the key files again on a reload after the privilege drop.
 * Process-wide; the last call wins.
 */
void keys_trust_owner(unsigned uid);

/*
 * keys_load_any(path, kind, key, err): read a secret key file of either kind
 * (the same ownership and 0600 rules as keys_load()); *kind says which.
 * Returns 0, or -1 with a message in ${err}; ${key} is wiped on failure.
 */
int keys_load_any(const char *path, enum keys_kind *kind, uint8_t key[CRYPTO_KEY_LEN], char *err);

/*
 * keys_generate_x25519(path, pub, err): create ${path} (0600, private key)
 * and ${path}.pub (0644, "postern-x25519-pub-v1 B64"), both O_EXCL. ${pub}
 * (may be NULL) gets the public key. Returns 0 or -1 with ${err}.
 */
int keys_generate_x25519(const char *path, uint8_t pub[CRYPTO_KEY_LEN], char *err);

/*
 * keys_parse_public(text, len, pub): a public key written as a .pub line
 * or as bare base64 (44 characters); a trailing newline is allowed. Pure.
 * Returns 0 or -1.
 */
int keys_parse_public(const char *text, size_t len, uint8_t pub[CRYPTO_KEY_LEN]);

/*
 * keys_load_public(spec, pub, err): ${spec} is a public key (as
 * keys_parse_public() reads it) or the path of a .pub file (any may read
 * it; only its owner may write it). Returns 0 or -1 with ${err}.
 */
int keys_load_public(const char *spec, uint8_t pub[CRYPTO_KEY_LEN], char *err);

/* keys_public_line(pub, out): "postern-x25519-pub-v1 B64" (no newline). */
void keys_public_line(const uint8_t pub[CRYPTO_KEY_LEN], char out[KEYS_PUB_LINE_MAX]);

/*
 * keys_generate_pass(path, pass, err), keys_generate_x25519_pass(path, pub,
 * pass, err): as keys_generate() and keys_generate_x25519(), the private
 * file sealed with ${pass} (scrypt + ChaCha20-Poly1305; NULL = plain).
 */
int keys_generate_pass(const char *path, const char *pass, char *err);
int keys_generate_x25519_pass(const char *path, uint8_t pub[CRYPTO_KEY_LEN], const char *pass,
			      char *err);

/*
 * keys_encrypt(path, src, err): seal the plain key file ${path} in place
 * (atomically) with a passphrase from ${src}, asked twice on a terminal.
 * keys_decrypt(path, src, err): the reverse. Encrypted files are read by
 * keys_load_any() and keys_load() with pass_default()'s passphrase; a wrong
 * one is "key file F: wrong passphrase". Return 0 or -1 with ${err}.
 */
int keys_encrypt(const char *path, const struct pass_source *src, char *err);
int keys_decrypt(const char *path, const struct pass_source *src, char *err);

/* keys_is_encrypted_text(text, len): 1 if ${text} is an encrypted key file's. */
int keys_is_encrypted_text(const char *text, size_t len);

/* keys_id(psk, out): a public identifier: 16 hex digits of SHA-256("postern key id" || psk). */
void keys_id(const uint8_t psk[CRYPTO_KEY_LEN], char out[17]);

#endif
