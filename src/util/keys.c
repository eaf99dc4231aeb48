/* SPDX-License-Identifier: MIT */
/*
 * keys: reading, checking and writing pre-shared key files. It owns the file
 * format (constant-time base64, so a key's bytes do not steer timing), the
 * permission check, creation with O_EXCL and mode 0600, the short key id
 * that keygen and access print in place of a key, and error messages that
 * name the file and the fix but never the key.
 */
#include "util/keys.h"
#include "util/fileio.h"
#include "util/base64.h"
#include "util/hex.h"

#include "util/passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CONFIG_PATH_MAX_KEYS = 4095 };

/* The passphrase new key files are sealed with (keys_generate*_pass), or NULL. */
static const char *gen_pass;

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

/* 32 bytes -> 44 characters (one '='); constant time: the key passes through. */
static void encode_key(const uint8_t key[CRYPTO_KEY_LEN], char out[B64_LEN + 1])
{
	base64_encode(key, CRYPTO_KEY_LEN, out, 1);
}

/* Strict inverse of encode_key(): the only spelling of a key is the canonical one. */
static int decode_key(const char in[B64_LEN], uint8_t key[CRYPTO_KEY_LEN])
{
	if (in[B64_LEN - 1] != '=')
		return -1;
	return base64_decode(in, B64_LEN - 1, key, CRYPTO_KEY_LEN) == CRYPTO_KEY_LEN ? 0 : -1;
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

/* The server's `user` (keys_trust_owner); -1 = none. */
static long trusted_owner = -1;

void keys_trust_owner(unsigned uid)
{
	trusted_owner = (long)uid;
}

/*
 * Keys at rest: "postern-enc-v1 scrypt N r p SALT CT", SALT (16 bytes) and
 * CT in hex; CT = ChaCha20-Poly1305 under scrypt(passphrase, SALT, N, r, p)
 * of the plain key line, nonce 0 (each file has a fresh salt, so a fresh
 * key), the text before CT as associated data so the parameters cannot be
 * swapped. The parameters are bounded when read: a planted file must not
 * make us allocate gigabytes.
 */
enum {
	ENC_SALT_LEN = 16,
	ENC_N = 32768,
	ENC_R = 8,
	ENC_P = 1,
	ENC_N_MAX = 1 << 20,
	ENC_R_MAX = 32,
	ENC_P_MAX = 16,
	ENC_PLAIN_MAX = 128,
};

static int enc_key(const char *pass, const uint8_t *salt, uint64_t N, uint32_t r, uint32_t p,
		   uint8_t key[CRYPTO_KEY_LEN])
{
	return crypto_scrypt(key, CRYPTO_KEY_LEN, pass, strlen(pass), salt, ENC_SALT_LEN, N, r, p);
}

/* ${plain} (a key line without newline) sealed into ${out} (KEYS_FILE_MAX + 1), with newline. */
static int seal_line(const char *plain, size_t plen, const char *pass, char *out, size_t *olen)
{
	uint8_t salt[ENC_SALT_LEN], key[CRYPTO_KEY_LEN], buf[ENC_PLAIN_MAX + 16];
	char salthex[2 * ENC_SALT_LEN + 1];
	struct crypto_aead *a = NULL;
	int rc = -1, hl;

	if (plen > ENC_PLAIN_MAX || crypto_random(salt, sizeof(salt)) != 0 ||
	    enc_key(pass, salt, ENC_N, ENC_R, ENC_P, key) != 0)
		goto out;
	hex_encode(salt, sizeof(salt), salthex);
	hl = snprintf(out, KEYS_FILE_MAX + 1, ENC_PREFIX "scrypt %u %u %u %s ", ENC_N, ENC_R, ENC_P,
		      salthex);
	if (hl < 0 || (size_t)hl + 2 * (plen + 16) + 2 > KEYS_FILE_MAX)
		goto out;
	memcpy(buf, plain, plen);
	a = crypto_aead_new(CRYPTO_CHACHAPOLY, key);
	if (a == NULL || crypto_aead_seal(a, 0, (const uint8_t *)out, (size_t)hl, buf, plen) != 0)
		goto out;
	hex_encode(buf, plen + 16, out + hl);
	*olen = (size_t)hl + 2 * (plen + 16);
	out[(*olen)++] = '\n';
	out[*olen] = '\0';
	rc = 0;
out:
	crypto_aead_free(a);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(buf, sizeof(buf));
	return rc;
}

/*
 * The plain key line of an encrypted file's text into ${plain}
 * (ENC_PLAIN_MAX + 16 bytes). Returns its length, -1 when the text is
 * malformed, -2 when the passphrase is wrong (or the file was altered).
 */
static long open_line(const char *text, size_t len, const char *pass, uint8_t *plain)
{
	unsigned N, r, p;
	char salthex[2 * ENC_SALT_LEN + 2];
	int hl = 0;
	uint8_t salt[ENC_SALT_LEN], key[CRYPTO_KEY_LEN];
	size_t saltn = 0, ctn = 0;
	struct crypto_aead *a = NULL;
	long rc = -1;
	char copy[KEYS_FILE_MAX + 1];

	if (len > KEYS_FILE_MAX)
		return -1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
		copy[--len] = '\0';
	if (sscanf(copy, ENC_PREFIX "scrypt %u %u %u %33s %n", &N, &r, &p, salthex, &hl) != 4 ||
	    hl <= 0 || N < 2 || N > ENC_N_MAX || (N & (N - 1)) != 0 || r < 1 || r > ENC_R_MAX ||
	    p < 1 || p > ENC_P_MAX ||
	    hex_decode(salthex, strlen(salthex), salt, sizeof(salt), &saltn) != 0 ||
	    saltn != ENC_SALT_LEN ||
	    hex_decode(copy + hl, len - (size_t)hl, plain, ENC_PLAIN_MAX + 16, &ctn) != 0 ||
	    ctn < 16)
		goto out;
	rc = -2;
	if (enc_key(pass, salt, N, r, p, key) != 0)
		goto out;
	a = crypto_aead_new(CRYPTO_CHACHAPOLY, key);
	if (a == NULL || crypto_aead_open(a, 0, (const uint8_t *)copy, (size_t)hl, plain, ctn) != 0)
		goto out;
	rc = (long)(ctn - 16);
out:
	crypto_aead_free(a);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(copy, sizeof(copy));
	return rc;
}

int keys_is_encrypted_text(const char *text, size_t len)
{
	return len >= sizeof(ENC_PREFIX) - 1 &&
	       memcmp(text, ENC_PREFIX, sizeof(ENC_PREFIX) - 1) == 0;
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
	if (st.st_uid != geteuid() && st.st_uid != 0 && (long)st.st_uid != trusted_owner)
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

/* An encrypted file's text in ${buf} replaced by its plain key line. */
static int decrypt_in_place(const char *path, char *buf, size_t *n, const struct pass_source *src,
			    char *err)
{
	char shown[SHOW_MAX + 1], prompt[SHOW_MAX + 40], pass[PASS_MAX], why[PASS_ERR_MAX];
	uint8_t plain[ENC_PLAIN_MAX + 16];
	int rc = -1;

	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", show(shown, path));
	if (pass_get(src, prompt, 0, pass, why) != 0)
		return fail(err, "key file %s is encrypted: %s", show(shown, path), why);
	long len = open_line(buf, *n, pass, plain);
	if (len == -2) {
		fail(err, "key file %s: wrong passphrase", show(shown, path));
		goto out;
	}
	if (len < 0) {
		fail(err, "key file %s: not a postern encrypted key (damaged?)", show(shown, path));
		goto out;
	}
	memcpy(buf, plain, (size_t)len);
	*n = (size_t)len;
	rc = 0;
out:
	crypto_wipe(pass, sizeof(pass));
	crypto_wipe(plain, sizeof(plain));
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
	if (keys_is_encrypted_text(buf, n)) {
		if (decrypt_in_place(path, buf, &n, pass_default(), err) != 0)
			goto out;
	}
	if (parse_prefixed(buf, n, KEY_PREFIX, key) == 0) {
		*kind = KEYS_PSK;
		rc = 0;
	} else if (parse_prefixed(buf, n, PRIV_PREFIX, key) == 0) {
		*kind = KEYS_X25519;
		rc = 0;
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
	char sealed[KEYS_FILE_MAX + 1];
	size_t slen = 0;
	int fd;

	/* With a passphrase only the sealed line ever reaches the disk. */
	if (gen_pass != NULL) {
		if (seal_line(line, len > 0 && line[len - 1] == '\n' ? len - 1 : len, gen_pass,
			      sealed, &slen) != 0)
			return fail(err, "key file %s: cannot encrypt the key", show(shown, path));
		line = sealed;
		len = slen;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == EEXIST)
		return fail(err, "key file %s already exists; refusing to overwrite",
			    show(shown, path));
	if (fd < 0)
		return fail(err, "key file %s: %s", show(shown, path), strerror(errno));
	/* The umask may have taken bits away; the format promises exactly 0600. */
	if (fchmod(fd, 0600) < 0 || fileio_write_all(fd, line, len) < 0 || fsync(fd) < 0) {
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
	if (fileio_write_all(fd, publine, strlen(publine)) < 0 || close(fd) < 0) {
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

int keys_generate_pass(const char *path, const char *pass, char *err)
{
	gen_pass = pass;
	int rc = keys_generate(path, err);
	gen_pass = NULL;
	return rc;
}

int keys_generate_x25519_pass(const char *path, uint8_t pub[CRYPTO_KEY_LEN], const char *pass,
			      char *err)
{
	gen_pass = pass;
	int rc = keys_generate_x25519(path, pub, err);
	gen_pass = NULL;
	return rc;
}

/* Replace ${path} by ${line} atomically: a new file beside it, renamed over it. */
static int rewrite(const char *path, const char *line, size_t len, char *err)
{
	char shown[SHOW_MAX + 1], tmp[CONFIG_PATH_MAX_KEYS + 16];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-postern", path) >= (int)sizeof(tmp))
		return fail(err, "key file %s: path too long", show(shown, path));
	unlink(tmp);
	if (create_key_file(tmp, line, len, err) != 0)
		return -1;
	if (rename(tmp, path) != 0) {
		fail(err, "key file %s: %s", show(shown, path), strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int keys_encrypt(const char *path, const struct pass_source *src, char *err)
{
	char shown[SHOW_MAX + 1], buf[KEYS_FILE_MAX + 1], pass[PASS_MAX], why[PASS_ERR_MAX];
	char prompt[SHOW_MAX + 48];
	size_t n = 0;
	int rc = -1;

	if (read_key_text(path, 1, buf, &n, err) < 0)
		goto out;
	if (keys_is_encrypted_text(buf, n)) {
		fail(err, "key file %s is encrypted already", show(shown, path));
		goto out;
	}
	uint8_t k[CRYPTO_KEY_LEN];
	int ok = parse_prefixed(buf, n, KEY_PREFIX, k) == 0 ||
		 parse_prefixed(buf, n, PRIV_PREFIX, k) == 0;
	crypto_wipe(k, sizeof(k));
	if (!ok) {
		fail(err, NOT_A_KEY_FMT, show(shown, path));
		goto out;
	}
	snprintf(prompt, sizeof(prompt), "New passphrase for %s: ", show(shown, path));
	if (pass_get(src, prompt, 1, pass, why) != 0) {
		fail(err, "%s", why);
		goto out;
	}
	gen_pass = pass;
	rc = rewrite(path, buf, n, err);
	gen_pass = NULL;
out:
	crypto_wipe(pass, sizeof(pass));
	crypto_wipe(buf, sizeof(buf));
	return rc;
}

int keys_decrypt(const char *path, const struct pass_source *src, char *err)
{
	char shown[SHOW_MAX + 1], buf[KEYS_FILE_MAX + 1];
	size_t n = 0;
	int rc = -1;

	if (read_key_text(path, 1, buf, &n, err) < 0)
		goto out;
	if (!keys_is_encrypted_text(buf, n)) {
		fail(err, "key file %s is not encrypted", show(shown, path));
		goto out;
	}
	if (decrypt_in_place(path, buf, &n, src, err) != 0)
		goto out;
	buf[n++] = '\n';
	rc = rewrite(path, buf, n, err);
out:
	crypto_wipe(buf, sizeof(buf));
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
