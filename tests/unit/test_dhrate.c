/* SPDX-License-Identifier: MIT */
/*
 * dhrate: the per-source DH budget. A source gets its burst at once, then
 * dh_rate per second; another source has its own bucket; the table stays
 * bounded however many sources come.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard/dhrate.h"

static struct abuse_source v4(uint32_t a)
{
	struct abuse_source s = {.len = 4};
	memcpy(s.bytes, &a, 4);
	return s;
}

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct dhrate *d = dhrate_new(10, 3);
	struct abuse_source a = v4(1), b = v4(2);
	assert_non_null(d);
	for (int i = 0; i < 3; i++)
		assert_int_equal(dhrate_take(d, &a, 1000), 1);
	assert_int_equal(dhrate_take(d, &a, 1000), 0);
	/* Another source is not affected. */
	assert_int_equal(dhrate_take(d, &b, 1000), 1);
	/* 10 per second: one token per 100 ms, never more than the burst. */
	assert_int_equal(dhrate_take(d, &a, 1050), 0);
	assert_int_equal(dhrate_take(d, &a, 1100), 1);
	assert_int_equal(dhrate_take(d, &a, 1100), 0);
	int got = 0;
	for (int i = 0; i < 10; i++)
		got += dhrate_take(d, &a, 100000);
	assert_int_equal(got, 3);
	dhrate_free(d);
	dhrate_free(NULL);
}

static void test_many_sources_bounded(void **state)
{
	(void)state;
	struct dhrate *d = dhrate_new(1, 1);
	struct abuse_source a = v4(0xdeadbeef);
	assert_non_null(d);
	assert_int_equal(dhrate_take(d, &a, 5000), 1);
	/* A flood of other sources, each with its fresh bucket, in a fixed table. */
	for (uint32_t i = 0; i < 100000; i++) {
		struct abuse_source s = v4(i);
		assert_int_equal(dhrate_take(d, &s, 5000), 1);
	}
	assert_null(dhrate_new(0, 1));
	dhrate_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_rate),
	    cmocka_unit_test(test_many_sources_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
