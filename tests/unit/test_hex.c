/* SPDX-License-Identifier: MIT */
/* util/hex.c: lowercase only, even lengths only, never past the caller's buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/hex.h"

static void test_encode(void **state)
{
	const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 1];
	(void)state;
	memset(out, 'x', sizeof(out));
	hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	hex_encode(in, 0, out);
	assert_string_equal(out, "");
}

static void test_roundtrip(void **state)
{
	uint8_t in[256], out[256];
	char text[2 * sizeof(in) + 1];
	size_t n = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	hex_encode(in, sizeof(in), text);
	assert_int_equal(hex_decode(text, strlen(text), out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
}

static void test_rejects(void **state)
{
	uint8_t out[4] = {0};
	size_t n = 99;
	(void)state;
	assert_int_equal(hex_decode("abc", 3, out, sizeof(out), &n), -1);	  /* odd */
	assert_int_equal(hex_decode("AB", 2, out, sizeof(out), &n), -1);	  /* upper case */
	assert_int_equal(hex_decode("0g", 2, out, sizeof(out), &n), -1);	  /* not a digit */
	assert_int_equal(hex_decode("0011223344", 10, out, sizeof(out), &n), -1); /* over cap */
	assert_int_equal(n, 99);
	assert_int_equal(hex_decode("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
