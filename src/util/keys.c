/* SPDX-License-Identifier: MIT */
/*
 * keys: reading, checking and writing pre-shared key files. It owns the file
 * format (constant-time base64, so a key's bytes do not steer timing), the
 * permission check, creation with O_EXCL and mode 0600, the short key id
 * that keygen and access print in place of a key, and error messages that
 * name the file and the fix but never the key.
 */
#include "util/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CONFIG_PATH_MAX_KEYS = 4095 };

#define KEY_PREFIX   "postern-psk-v1 "
#define PRIV_PREFIX  "postern-x25519-v1 "
#define PUB_PREFIX   "postern-x25519-pub-v1 "
#define ENC_PREFIX   "postern-enc-v1 "
#define KEY_ID_LABEL "postern key id"
#define NOT_A_KEY_FMT                                                                              \
	"key file %s: not a postern key (expected 'postern-psk-v1 <base64>' or "                   \
	"'postern-x25519-v1 <base64>', 32 bytes)"

enum {
	PREFIX_LEN = sizeof(KEY_PREFIX) - 1,
	B64_LEN = 44,			     /* base64 of 32 bytes, one '=' of padding */
	LINE_LEN = PREFIX_LEN + B64_LEN + 1, /* with the trailing newline */
	SHOW_MAX = 200,			     /* longest path shown in a message */
};

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, KEYS_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* A path fit for a one-line message: control bytes become '?', long ones are cut. */
static const char *show(char out[SHOW_MAX + 1], const char *path)
{
	size_t i;

	for (i = 0; path && path[i] && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)path[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[i] = '\0';
	return out;
}

/* The chmod hint should paste into a shell, so quote paths with odd characters. */
static const char *shell_quote(char *out, size_t size, const char *path)
{
	size_t o = 0, i;

	if (strspn(path,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+,=@%") ==
	    strlen(path))
		return path;
	out[o++] = '\'';
	for (i = 0; path[i] && o + 6 < size; i++) {
		if (path[i] == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = path[i];
		}
	}
	out[o++] = '\'';
	out[o] = '\0';
	return out;
}

/*
 * Base64 without lookup tables or branches on the data: the key passes
 * through here, and table indexes or branches would leak it through timing.
 */
static uint32_t ct_in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	uint32_t outside = ((c - lo) | (hi - c)) >> 31;

	return 0u - (outside ^ 1u);
}

static char b64_char(uint32_t v)
{
	uint32_t c = v + 'A';

	c += ct_in_range(v, 26, 63) & 6u;
	c -= ct_in_range(v, 52, 63) & 75u;
	c -= ct_in_range(v, 62, 62) & 15u;
	c -= ct_in_range(v, 63, 63) & 12u;
	return (char)c;
}

static uint32_t b64_value(uint32_t c, uint32_t *bad)
{
	uint32_t up = ct_in_range(c, 'A', 'Z');
	uint32_t lo = ct_in_range(c, 'a', 'z');
	uint32_t dg = ct_in_range(c, '0', '9');
	uint32_t pl = ct_in_range(c, '+', '+');
	uint32_t sl = ct_in_range(c, '/', '/');

	*bad |= ~(up | lo | dg | pl | sl) & 1u;
	return (up & (c - 'A')) | (lo & (c - 'a' + 26)) | (dg & (c - '0' + 52)) | (pl & 62u) |
	       (sl & 63u);
}

/* 32 bytes -> 44 characters: ten full groups, then two bytes and one '='. */
static void encode_key(const uint8_t key[CRYPTO_KEY_LEN], char out[B64_LEN])
{
	uint32_t w;
	size_t i, o = 0;

	for (i = 0; i + 3 <= CRYPTO_KEY_LEN; i += 3) {
		w = ((uint32_t)key[i] << 16) | ((uint32_t)key[i + 1] << 8) | key[i + 2];
		out[o++] = b64_char((w >> 18) & 63);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = b64_char(w & 63);
	}
	w = ((uint32_t)key[i] << 16) | ((uint32_t)key[i + 1] << 8);
	out[o++] = b64_char((w >> 18) & 63);
	out[o++] = b64_char((w >> 12) & 63);
	out[o++] = b64_char((w >> 6) & 63);
	out[o] = '=';
}

/* Strict inverse of encode_key(): the only spelling of a key is the canonical one. */
static int decode_key(const char in[B64_LEN], uint8_t key[CRYPTO_KEY_LEN])
{
	uint32_t bad = 0, w;
	size_t i, o = 0;

	if (in[B64_LEN - 1] != '=')
		return -1;
	for (i = 0; i + 4 < B64_LEN; i += 4) {
		w = (b64_value((unsigned char)in[i], &bad) << 18) |
		    (b64_value((unsigned char)in[i + 1], &bad) << 12) |
		    (b64_value((unsigned char)in[i + 2], &bad) << 6) |
		    b64_value((unsigned char)in[i + 3], &bad);
		key[o++] = (uint8_t)(w >> 16);
		key[o++] = (uint8_t)(w >> 8);
		key[o++] = (uint8_t)w;
	}
	w = (b64_value((unsigned char)in[i], &bad) << 18) |
	    (b64_value((unsigned char)in[i + 1], &bad) << 12) |
	    (b64_value((unsigned char)in[i + 2], &bad) << 6);
	key[o++] = (uint8_t)(w >> 16);
	key[o++] = (uint8_t)(w >> 8);
	/* The two bits past the last byte must be zero, or the text is not canonical. */
	bad |= (w & 0xff) != 0;
	return bad ? -1 : 0;
}

static int parse_prefixed(const char *buf, size_t len, const char *prefix,
			  uint8_t key[CRYPTO_KEY_LEN])
{
	size_t plen = strlen(prefix);
	if (len != plen + B64_LEN + 1 && len != plen + B64_LEN)
		return -1;
	if (len == plen + B64_LEN + 1 && buf[len - 1] != '\n')
		return -1;
	if (memcmp(buf, prefix, plen) != 0)
		return -1;
	return decode_key(buf + plen, key);
}

static ssize_t read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Everything about the file except its contents: type, owner, mode, size. */
static int check_stat(int fd, const char *path, int secret, char *err)
{
	char shown[SHOW_MAX + 1], quoted[2 * SHOW_MAX];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return fail(err, "key file %s: %s", show(shown, path), strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, "key file %s: not a regular file", show(shown, path));
	/* As OpenSSH does: another user who owns the file could swap the key. */
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return fail(err, "key file %s: owned by uid %u, not by you (uid %u) or root",
			    show(shown, path), (unsigned)st.st_uid, (unsigned)geteuid());
	/* A public key may be read by anyone; it must still not be writable by others. */
	if (secret ? (st.st_mode & 077) : (st.st_mode & 022))
		return fail(err, "key file %s: permissions %04o are too open; run: chmod %s %s",
			    show(shown, path), (unsigned)(st.st_mode & 07777),
			    secret ? "600" : "644",
			    shell_quote(quoted, sizeof(quoted), show(shown, path)));
	if (st.st_size > KEYS_FILE_MAX)
		return fail(err, "key file %s: not a postern key (too long)", show(shown, path));
	return 0;
}

/* The file's text (at most KEYS_FILE_MAX bytes) into ${buf}; *len gets its length. */
static int read_key_text(const char *path, int secret, char buf[KEYS_FILE_MAX + 1], size_t *len,
			 char *err)
{
	char shown[SHOW_MAX + 1];
	ssize_t n;
	int fd, rc = -1;

	if (!path || !*path)
		return fail(err, "key file: no path given");
	/* O_NONBLOCK: a FIFO in place of the key must not hang us before fstat() says so. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(err, "key file %s: %s", show(shown, path), strerror(errno));
	if (check_stat(fd, path, secret, err) < 0)
		goto out;
	n = read_all(fd, buf, KEYS_FILE_MAX + 1);
	if (n < 0) {
		fail(err, "key file %s: %s", show(shown, path), strerror(errno));
		goto out;
	}
	if (n > KEYS_FILE_MAX) {
		fail(err, "key file %s: not a postern key (too long)", show(shown, path));
		goto out;
	}
	*len = (size_t)n;
	rc = 0;
out:
	close(fd);
	return rc;
}

int keys_load_any(const char *path, enum keys_kind *kind, uint8_t key[CRYPTO_KEY_LEN], char *err)
{
	char shown[SHOW_MAX + 1];
	char buf[KEYS_FILE_MAX + 1];
	size_t n = 0;
	int rc = -1;

	if (!key || !kind)
		return fail(err, "key file: nowhere to put the key");
	if (read_key_text(path, 1, buf, &n, err) < 0)
		goto out;
	if (parse_prefixed(buf, n, KEY_PREFIX, key) == 0) {
		*kind = KEYS_PSK;
		rc = 0;
	} else if (parse_prefixed(buf, n, PRIV_PREFIX, key) == 0) {
		*kind = KEYS_X25519;
		rc = 0;
	} else if (n >= sizeof(ENC_PREFIX) - 1 &&
		   memcmp(buf, ENC_PREFIX, sizeof(ENC_PREFIX) - 1) == 0) {
		fail(err, "key file %s: encrypted; no passphrase given", show(shown, path));
	} else {
		fail(err, NOT_A_KEY_FMT, show(shown, path));
	}
out:
	crypto_wipe(buf, sizeof(buf));
	if (rc < 0)
		crypto_wipe(key, CRYPTO_KEY_LEN);
	return rc;
}

int keys_load(const char *path, uint8_t psk[CRYPTO_KEY_LEN], char *err)
{
	char shown[SHOW_MAX + 1];
	enum keys_kind kind = KEYS_PSK;

	if (keys_load_any(path, &kind, psk, err) < 0)
		return -1;
	if (kind != KEYS_PSK) {
		crypto_wipe(psk, CRYPTO_KEY_LEN);
		return fail(err, NOT_A_KEY_FMT, show(shown, path));
	}
	return 0;
}

int keys_parse_public(const char *text, size_t len, uint8_t pub[CRYPTO_KEY_LEN])
{
	if (text == NULL || pub == NULL)
		return -1;
	/* A pasted line may end in a newline; the bare base64 is accepted too. */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == B64_LEN)
		return decode_key(text, pub);
	return parse_prefixed(text, len, PUB_PREFIX, pub);
}

int keys_load_public(const char *spec, uint8_t pub[CRYPTO_KEY_LEN], char *err)
{
	char shown[SHOW_MAX + 1];
	char buf[KEYS_FILE_MAX + 1];
	size_t n = 0;
	int rc = -1;

	if (spec == NULL || pub == NULL)
		return fail(err, "public key: none given");
	if (keys_parse_public(spec, strlen(spec), pub) == 0)
		return 0;
	if (read_key_text(spec, 0, buf, &n, err) < 0)
		goto out;
	if (keys_parse_public(buf, n, pub) != 0) {
		fail(err,
		     "public key %s: not a postern public key (expected '" PUB_PREFIX
		     "<base64>', 32 bytes)",
		     show(shown, spec));
		goto out;
	}
	rc = 0;
out:
	crypto_wipe(buf, sizeof(buf));
	return rc;
}

void keys_public_line(const uint8_t pub[CRYPTO_KEY_LEN], char out[KEYS_PUB_LINE_MAX])
{
	size_t plen = sizeof(PUB_PREFIX) - 1;
	memcpy(out, PUB_PREFIX, plen);
	encode_key(pub, out + plen);
	out[plen + B64_LEN] = '\0';
}

/* Write ${line} to a new file at ${path}; the file is removed again on failure. */
static int create_key_file(const char *path, const char *line, size_t len, char *err)
{
	char shown[SHOW_MAX + 1];
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == EEXIST)
		return fail(err, "key file %s already exists; refusing to overwrite",
			    show(shown, path));
	if (fd < 0)
		return fail(err, "key file %s: %s", show(shown, path), strerror(errno));
	/* The umask may have taken bits away; the format promises exactly 0600. */
	if (fchmod(fd, 0600) < 0 || write_all(fd, line, len) < 0 || fsync(fd) < 0) {
		fail(err, "key file %s: %s", show(shown, path), strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		fail(err, "key file %s: %s", show(shown, path), strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int keys_generate_x25519(const char *path, uint8_t pub_out[CRYPTO_KEY_LEN], char *err)
{
	char shown[SHOW_MAX + 1];
	uint8_t priv[CRYPTO_KEY_LEN], pub[CRYPTO_KEY_LEN];
	char line[sizeof(PRIV_PREFIX) - 1 + B64_LEN + 1];
	char publine[KEYS_PUB_LINE_MAX + 1];
	char pubpath[CONFIG_PATH_MAX_KEYS + 8];
	int fd = -1, rc = -1;

	if (!path || !*path)
		return fail(err, "key file: no path given");
	if (snprintf(pubpath, sizeof(pubpath), "%s.pub", path) >= (int)sizeof(pubpath))
		return fail(err, "key file %s: path too long", show(shown, path));
	if (crypto_dh_keygen(priv, pub) < 0) {
		fail(err, "key file %s: cannot make a key pair", show(shown, path));
		goto out;
	}
	memcpy(line, PRIV_PREFIX, sizeof(PRIV_PREFIX) - 1);
	encode_key(priv, line + sizeof(PRIV_PREFIX) - 1);
	line[sizeof(line) - 1] = '\n';
	keys_public_line(pub, publine);
	strcat(publine, "\n");
	/* The public half first: if it cannot be written, no orphan private key is left. */
	fd = open(pubpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0) {
		fail(err, "public key file %s: %s", show(shown, pubpath),
		     errno == EEXIST ? "already exists; refusing to overwrite" : strerror(errno));
		goto out;
	}
	if (write_all(fd, publine, strlen(publine)) < 0 || close(fd) < 0) {
		fail(err, "public key file %s: %s", show(shown, pubpath), strerror(errno));
		unlink(pubpath);
		goto out;
	}
	if (create_key_file(path, line, sizeof(line), err) < 0) {
		unlink(pubpath);
		goto out;
	}
	if (pub_out != NULL)
		memcpy(pub_out, pub, CRYPTO_KEY_LEN);
	rc = 0;
out:
	crypto_wipe(priv, sizeof(priv));
	crypto_wipe(line, sizeof(line));
	return rc;
}

int keys_generate(const char *path, char *err)
{
	char shown[SHOW_MAX + 1];
	uint8_t key[CRYPTO_KEY_LEN];
	char line[LINE_LEN];
	int rc = -1;

	if (!path || !*path)
		return fail(err, "key file: no path given");
	if (crypto_random(key, sizeof(key)) < 0) {
		fail(err, "key file %s: cannot get random bytes", show(shown, path));
		goto out;
	}
	memcpy(line, KEY_PREFIX, PREFIX_LEN);
	encode_key(key, line + PREFIX_LEN);
	line[LINE_LEN - 1] = '\n';
	rc = create_key_file(path, line, sizeof(line), err);
out:
	crypto_wipe(key, sizeof(key));
	crypto_wipe(line, sizeof(line));
	return rc;
}

void keys_id(const uint8_t psk[CRYPTO_KEY_LEN], char out[17])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[CRYPTO_HASH_MAX];
	size_t i;

	if (!out)
		return;
	out[0] = '\0';
	if (!psk || crypto_hash(CRYPTO_SHA256, digest, (const uint8_t *)KEY_ID_LABEL,
				sizeof(KEY_ID_LABEL) - 1, psk, CRYPTO_KEY_LEN) < 0)
		return;
	for (i = 0; i < 8; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[16] = '\0';
	crypto_wipe(digest, sizeof(digest));
}
