/* SPDX-License-Identifier: MIT */
/* base64: RFC 4648 section 10 vectors, both decoders, strictness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/base64.h"

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const padded[] = {"",	 "Zg==",     "Zm8=",	"Zm9v",
				     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char out[16];
		uint8_t back[16];
		size_t n = strlen(plain[i]), bare = strcspn(padded[i], "=");

		assert_int_equal(base64_encode((const uint8_t *)plain[i], n, out, 1),
				 strlen(padded[i]));
		assert_string_equal(out, padded[i]);
		assert_int_equal(BASE64_LEN(n, 1), strlen(padded[i]));
		assert_int_equal(base64_encode((const uint8_t *)plain[i], n, out, 0), bare);
		assert_int_equal(BASE64_LEN(n, 0), bare);
		assert_int_equal(base64_decode(out, bare, back, sizeof(back)), (long)n);
		assert_memory_equal(back, plain[i], n);
		assert_int_equal(base64_decode_public(out, bare, back, sizeof(back)), (long)n);
		assert_memory_equal(back, plain[i], n);
		if (n > 0)
			assert_true(base64_canonical(out, bare, n));
	}
}

static void test_strict(void **state)
{
	uint8_t b[8];

	(void)state;
	assert_int_equal(base64_decode("Zh", 2, b, sizeof(b)), -1); /* spare bits set */
	assert_false(base64_canonical("Zh", 2, 1));
	assert_int_equal(base64_decode_public("Zh", 2, b, sizeof(b)), 1);
	assert_int_equal(base64_decode("Zm9vY", 5, b, sizeof(b)), -1); /* 4k+1 */
	assert_int_equal(base64_decode("Zm9v", 4, b, 2), -1);	       /* no room */
	assert_int_equal(base64_decode("Zm-v", 4, b, sizeof(b)), -1);
	assert_int_equal(base64_decode_public("Zm=v", 4, b, sizeof(b)), -1);
	assert_true(base64_is_alphabet((const uint8_t *)"Az09+/", 6));
	assert_false(base64_is_alphabet((const uint8_t *)"Az=", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
