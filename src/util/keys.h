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

enum { KEYS_ERR_MAX = 512 };

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

/* keys_id(psk, out): a public identifier: 16 hex digits of SHA-256("postern key id" || psk). */
void keys_id(const uint8_t psk[CRYPTO_KEY_LEN], char out[17]);

#endif
