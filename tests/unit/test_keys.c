/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/keys.h"

/* The bytes 0x00..0x1f, and their one valid spelling. */
#define SEQ_B64	 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define ZERO_B64 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

#include "tmpdir.h"

static size_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	n = read(fd, buf, size);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static int all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

static void test_round_trip(void **state)
{
	char path[128], err[KEYS_ERR_MAX], text[128], id1[17], id2[17];
	uint8_t a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN], decoded[48];
	struct stat st;
	size_t n;

	in_dir(state, "k.key", path, sizeof(path));
	assert_int_equal(keys_generate(path, err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	n = read_file(path, text, sizeof(text));
	assert_int_equal(n, 60);
	assert_memory_equal(text, "postern-psk-v1 ", 15);
	assert_int_equal(text[58], '=');
	assert_int_equal(text[59], '\n');

	assert_int_equal(keys_load(path, a, err), 0);
	assert_int_equal(keys_load(path, b, err), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_false(all_zero(a, sizeof(a)));

	/* Cross-check our encoder against OpenSSL's decoder. */
	assert_int_equal(EVP_DecodeBlock(decoded, (const unsigned char *)text + 15, 44), 33);
	assert_memory_equal(decoded, a, sizeof(a));

	keys_id(a, id1);
	keys_id(b, id2);
	assert_int_equal(strlen(id1), 16);
	assert_int_equal(strspn(id1, "0123456789abcdef"), 16);
	assert_string_equal(id1, id2);
}

/* Many random keys exercise every base64 character; OpenSSL must read each back. */
static void test_encoder_matches_openssl(void **state)
{
	char path[128], err[KEYS_ERR_MAX], text[128];
	uint8_t psk[CRYPTO_KEY_LEN], decoded[48];
	int i;

	in_dir(state, "many.key", path, sizeof(path));
	for (i = 0; i < 64; i++) {
		unlink(path);
		assert_int_equal(keys_generate(path, err), 0);
		assert_int_equal(read_file(path, text, sizeof(text)), 60);
		assert_int_equal(keys_load(path, psk, err), 0);
		assert_int_equal(EVP_DecodeBlock(decoded, (const unsigned char *)text + 15, 44),
				 33);
		assert_memory_equal(decoded, psk, sizeof(psk));
	}
}

static void test_two_keys_differ(void **state)
{
	char p1[128], p2[128], err[KEYS_ERR_MAX];
	uint8_t a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];

	in_dir(state, "a.key", p1, sizeof(p1));
	in_dir(state, "b.key", p2, sizeof(p2));
	assert_int_equal(keys_generate(p1, err), 0);
	assert_int_equal(keys_generate(p2, err), 0);
	assert_int_equal(keys_load(p1, a, err), 0);
	assert_int_equal(keys_load(p2, b, err), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_refuse_overwrite(void **state)
{
	char path[128], err[KEYS_ERR_MAX], expect[256], before[128], after[128];
	size_t n1, n2;

	in_dir(state, "k.key", path, sizeof(path));
	assert_int_equal(keys_generate(path, err), 0);
	n1 = read_file(path, before, sizeof(before));
	assert_int_equal(keys_generate(path, err), -1);
	snprintf(expect, sizeof(expect), "key file %s already exists; refusing to overwrite", path);
	assert_string_equal(err, expect);
	n2 = read_file(path, after, sizeof(after));
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);

	/* Not even through a dangling symlink. */
	in_dir(state, "link.key", path, sizeof(path));
	assert_int_equal(symlink("/nonexistent/postern-target", path), 0);
	assert_int_equal(keys_generate(path, err), -1);
	assert_non_null(strstr(err, "refusing to overwrite"));
}

static void test_known_vectors(void **state)
{
	static const char seq[] = "postern-psk-v1 " SEQ_B64 "\n";
	static const char zero_no_newline[] = "postern-psk-v1 " ZERO_B64;
	char path[128], err[KEYS_ERR_MAX], id[17], want_id[17];
	uint8_t psk[CRYPTO_KEY_LEN], expect[CRYPTO_KEY_LEN], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	size_t i;

	for (i = 0; i < sizeof(expect); i++)
		expect[i] = (uint8_t)i;
	in_dir(state, "seq.key", path, sizeof(path));
	write_file(path, seq, strlen(seq), 0600);
	assert_int_equal(keys_load(path, psk, err), 0);
	assert_memory_equal(psk, expect, sizeof(psk));

	/* keys_id is SHA-256("postern key id" || psk), first 8 bytes in hex. */
	ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, "postern key id", 14), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, psk, sizeof(psk)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 8; i++)
		snprintf(want_id + 2 * i, 3, "%02x", md[i]);
	keys_id(psk, id);
	assert_string_equal(id, want_id);

	/* A missing final newline is tolerated. */
	in_dir(state, "zero.key", path, sizeof(path));
	write_file(path, zero_no_newline, strlen(zero_no_newline), 0400);
	memset(psk, 0xaa, sizeof(psk));
	assert_int_equal(keys_load(path, psk, err), 0);
	assert_true(all_zero(psk, sizeof(psk)));
}

static void test_mode_refused(void **state)
{
	static const char key[] = "postern-psk-v1 " SEQ_B64 "\n";
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0606, 0601, 0610, 0666, 0777, 0620};
	char path[128], err[KEYS_ERR_MAX], want[64], chmod_hint[192];
	uint8_t psk[CRYPTO_KEY_LEN];
	size_t i;

	in_dir(state, "open.key", path, sizeof(path));
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(path, key, strlen(key), modes[i]);
		memset(psk, 0xaa, sizeof(psk));
		assert_int_equal(keys_load(path, psk, err), -1);
		snprintf(want, sizeof(want), "permissions %04o are too open", (unsigned)modes[i]);
		snprintf(chmod_hint, sizeof(chmod_hint), "; run: chmod 600 %s", path);
		if (!strstr(err, want) || !strstr(err, chmod_hint) || !strstr(err, path))
			fail_msg("mode %04o: unexpected message '%s'", (unsigned)modes[i], err);
		assert_null(strstr(err, SEQ_B64));
		assert_true(all_zero(psk, sizeof(psk)));
	}
	/* Owner-only modes are fine. */
	write_file(path, key, strlen(key), 0400);
	assert_int_equal(keys_load(path, psk, err), 0);
	write_file(path, key, strlen(key), 0700);
	assert_int_equal(keys_load(path, psk, err), 0);
}

static void test_mode_hint_quotes_path(void **state)
{
	static const char key[] = "postern-psk-v1 " SEQ_B64 "\n";
	char path[128], err[KEYS_ERR_MAX], want[256];
	uint8_t psk[CRYPTO_KEY_LEN];

	in_dir(state, "my key's.key", path, sizeof(path));
	write_file(path, key, strlen(key), 0644);
	assert_int_equal(keys_load(path, psk, err), -1);
	snprintf(want, sizeof(want), "key file %s: permissions 0644 are too open; run: chmod 600 '",
		 path);
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "my key'\\''s.key'"));
}

struct bad_content {
	const char *text;
	size_t len; /* 0: strlen */
};

static const struct bad_content bad_contents[] = {
    {"", 0},
    {"\n", 0},
    {"postern-psk-v1 \n", 0},
    {"postern-psk-v2 " SEQ_B64 "\n", 0},
    {"Postern-psk-v1 " SEQ_B64 "\n", 0},
    {"postern-psk-v1  " SEQ_B64 "\n", 0},
    {"postern-psk-v1\t" SEQ_B64 "\n", 0},
    {" postern-psk-v1 " SEQ_B64 "\n", 0},
    {"postern-psk-v1 " SEQ_B64 " \n", 0},
    {"postern-psk-v1 " SEQ_B64 "\r\n", 0},
    {"postern-psk-v1 " SEQ_B64 "\n\n", 0},
    {"postern-psk-v1 " SEQ_B64 "\nextra\n", 0},
    {"postern-psk-v1 " SEQ_B64 "x", 0},
    /* 31 and 33 bytes */
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n", 0},
    /* no padding, wrong padding, bad characters */
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH*8=\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd_h8=\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFR YXGBkaGxwdh8=\n", 0},
    /* non-canonical: the last character carries bits past the 32nd byte */
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh/=\n", 0},
    {"postern-psk-v1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\0", 61},
    {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
     60},
    {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", 0},
};

static void test_bad_content(void **state)
{
	char path[128], err[KEYS_ERR_MAX], want[256];
	uint8_t psk[CRYPTO_KEY_LEN];
	size_t i;

	in_dir(state, "bad.key", path, sizeof(path));
	snprintf(want, sizeof(want),
		 "key file %s: not a postern key (expected 'postern-psk-v1 <base64>' or "
		 "'postern-x25519-v1 <base64>', 32 bytes)",
		 path);
	for (i = 0; i < sizeof(bad_contents) / sizeof(bad_contents[0]); i++) {
		const struct bad_content *t = &bad_contents[i];
		size_t len = t->len ? t->len : strlen(t->text);
		write_file(path, t->text, len, 0600);
		memset(psk, 0xaa, sizeof(psk));
		err[0] = '\0';
		if (keys_load(path, psk, err) != -1)
			fail_msg("case %zu accepted", i);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu: message '%s'", i, err);
		assert_true(all_zero(psk, sizeof(psk)));
	}
}

static void test_missing_and_odd_files(void **state)
{
	char path[128], err[KEYS_ERR_MAX], want[256];
	uint8_t psk[CRYPTO_KEY_LEN];

	in_dir(state, "missing.key", path, sizeof(path));
	assert_int_equal(keys_load(path, psk, err), -1);
	snprintf(want, sizeof(want), "key file %s: No such file or directory", path);
	assert_string_equal(err, want);

	in_dir(state, "subdir", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(keys_load(path, psk, err), -1);
	assert_non_null(strstr(err, "not a regular file"));

	/* A FIFO must be refused, not waited on. */
	in_dir(state, "fifo", path, sizeof(path));
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(keys_load(path, psk, err), -1);
	assert_non_null(strstr(err, "not a regular file"));

	assert_int_equal(keys_load("", psk, err), -1);
	assert_int_equal(keys_load(NULL, psk, err), -1);
	assert_int_equal(keys_load(path, NULL, err), -1);
	assert_int_equal(keys_generate("", err), -1);
	assert_int_equal(keys_generate(NULL, err), -1);

	in_dir(state, "nodir/k.key", path, sizeof(path));
	assert_int_equal(keys_generate(path, err), -1);
	assert_non_null(strstr(err, "No such file or directory"));
}

static void test_symlink_followed(void **state)
{
	char target[128], link[128], err[KEYS_ERR_MAX];
	uint8_t a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];

	in_dir(state, "real.key", target, sizeof(target));
	in_dir(state, "link.key", link, sizeof(link));
	assert_int_equal(keys_generate(target, err), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(keys_load(link, a, err), 0);
	assert_int_equal(keys_load(target, b, err), 0);
	assert_memory_equal(a, b, sizeof(a));
	/* The mode checked is the target's, not the link's. */
	assert_int_equal(chmod(target, 0644), 0);
	assert_int_equal(keys_load(link, a, err), -1);
	assert_non_null(strstr(err, "chmod 600"));
}

/* A key pair: private 0600, public 0644 with the same key; each read by its own rules. */
static void test_x25519_pair(void **state)
{
	char path[128], pubpath[160], err[KEYS_ERR_MAX], text[128];
	uint8_t priv[CRYPTO_KEY_LEN], pub[CRYPTO_KEY_LEN], pub2[CRYPTO_KEY_LEN],
	    derived[CRYPTO_KEY_LEN];
	enum keys_kind kind = KEYS_PSK;
	struct stat st;

	in_dir(state, "x.key", path, sizeof(path));
	snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
	assert_int_equal(keys_generate_x25519(path, pub, err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(pubpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(keys_load_any(path, &kind, priv, err), 0);
	assert_int_equal(kind, KEYS_X25519);
	assert_int_equal(crypto_dh_pub(priv, derived), 0);
	assert_memory_equal(derived, pub, sizeof(pub));
	/* The .pub file, its line and its bare base64 all name the same key. */
	assert_int_equal(keys_load_public(pubpath, pub2, err), 0);
	assert_memory_equal(pub2, pub, sizeof(pub));
	size_t n = read_file(pubpath, text, sizeof(text) - 1);
	text[n] = '\0';
	assert_int_equal(strncmp(text, "postern-x25519-pub-v1 ", 22), 0);
	assert_int_equal(keys_parse_public(text, n, pub2), 0);
	assert_memory_equal(pub2, pub, sizeof(pub));
	assert_int_equal(keys_parse_public(text + 22, 44, pub2), 0);
	assert_memory_equal(pub2, pub, sizeof(pub));
	/* A PSK loader refuses a private key, and the pair refuses to be overwritten. */
	assert_int_equal(keys_load(path, priv, err), -1);
	assert_int_equal(keys_generate_x25519(path, NULL, err), -1);
	/* Public: others may read it, not write it; private: nobody else at all. */
	assert_int_equal(chmod(pubpath, 0666), 0);
	assert_int_equal(keys_load_public(pubpath, pub2, err), -1);
	assert_non_null(strstr(err, "too open"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(keys_load_any(path, &kind, priv, err), -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_true(all_zero(priv, sizeof(priv)));
	/* Junk is not a public key. */
	assert_int_equal(keys_parse_public("postern-x25519-pub-v1 nope", 26, pub2), -1);
}

/*
 * Encrypted at rest: the right passphrase gives the key back, a wrong one is
 * "wrong passphrase", and the parameters are bound to the ciphertext (the
 * associated data), so editing them is refused too.
 */
static void test_encrypted_key(void **state)
{
	char path[128], err[KEYS_ERR_MAX], text[512];
	uint8_t pub[CRYPTO_KEY_LEN], priv[CRYPTO_KEY_LEN], derived[CRYPTO_KEY_LEN];
	enum keys_kind kind;
	struct pass_source env = {.env = "POSTERN_TEST_PASS"};

	in_dir(state, "e.key", path, sizeof(path));
	assert_int_equal(keys_generate_x25519_pass(path, pub, "correct horse", err), 0);
	size_t n = read_file(path, text, sizeof(text) - 1);
	text[n] = '\0';
	assert_int_equal(strncmp(text, "postern-enc-v1 scrypt 32768 8 1 ", 32), 0);
	assert_int_equal(keys_is_encrypted_text(text, n), 1);
	pass_set_default(&env);
	setenv("POSTERN_TEST_PASS", "correct horse", 1);
	assert_int_equal(keys_load_any(path, &kind, priv, err), 0);
	assert_int_equal(kind, KEYS_X25519);
	assert_int_equal(crypto_dh_pub(priv, derived), 0);
	assert_memory_equal(derived, pub, sizeof(pub));
	setenv("POSTERN_TEST_PASS", "wrong horse", 1);
	assert_int_equal(keys_load_any(path, &kind, priv, err), -1);
	assert_non_null(strstr(err, "wrong passphrase"));
	assert_true(all_zero(priv, sizeof(priv)));
	/* N = 16384 instead of 32768: the right passphrase no longer opens it. */
	setenv("POSTERN_TEST_PASS", "correct horse", 1);
	char *p = strstr(text, "32768");
	assert_non_null(p);
	memcpy(p, "16384", 5);
	write_file(path, text, n, 0600);
	assert_int_equal(keys_load_any(path, &kind, priv, err), -1);
	assert_non_null(strstr(err, "wrong passphrase"));
	/* Absurd parameters are refused before any work. */
	memcpy(p, "99999", 5);
	write_file(path, text, n, 0600);
	assert_int_equal(keys_load_any(path, &kind, priv, err), -1);
	assert_non_null(strstr(err, "not a postern encrypted key"));
	unsetenv("POSTERN_TEST_PASS");
	assert_int_equal(keys_load_any(path, &kind, priv, err), -1);
	assert_non_null(strstr(err, "POSTERN_TEST_PASS is not set"));
	struct pass_source none = {0};
	pass_set_default(&none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_encoder_matches_openssl, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_two_keys_differ, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_overwrite, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_known_vectors, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_mode_refused, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_mode_hint_quotes_path, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_content, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_and_odd_files, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_followed, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_x25519_pair, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_encrypted_key, tmpdir_setup, tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
