/* SPDX-License-Identifier: MIT */
/*
 * The small limit helpers: fdbudget (the descriptor limit raised at start,
 * and the rule that shares the channel budget between sessions) and
 * log_limit (peer-caused lines per second, the rest counted). The server's
 * use of both is checked end to end in tests/e2e/test_resources.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>
#include <sys/resource.h>

#include "util/fdbudget.h"
#include "util/log.h"

/* Before fdbudget_init nothing is limited: the client never calls it. */
static void test_unlimited_before_init(void **state)
{
	(void)state;
	assert_int_equal(fdbudget_channels(), 0);
	assert_true(fdbudget_may_open(0, 0));
	assert_true(fdbudget_may_open(1000000, 1000000));
}

/* A session grows only while others keep min(its own count, budget / 4). */
static void test_share_rule(void **state)
{
	(void)state;
	char err[256];
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1100)
		skip();
	assert_int_equal(fdbudget_init(1100, 64, err, sizeof(err)), 0);
	assert_int_equal(fdbudget_limit(), 1100);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 1100);
	assert_false(fdbudget_reserve_shrunk());
	size_t budget = fdbudget_channels();
	assert_true(budget > 900 && budget <= 1100 - 64);

	/* One session alone: it stops when a quarter of the budget is left. */
	size_t a = 0;
	while (fdbudget_may_open(a, a))
		a++;
	assert_int_equal(a, budget - budget / 4);
	/* A newcomer still finds room, and also stops while some stays free. */
	size_t b = 0;
	while (fdbudget_may_open(b, a + b))
		b++;
	assert_true(b > 0);
	assert_true(a + b < budget);
	/* The budget itself is a hard stop whoever asks. */
	assert_false(fdbudget_may_open(0, budget));
}

/* A reserve larger than the limit shrinks to half of what is free. */
static void test_small_limit_shrinks_reserve(void **state)
{
	(void)state;
	char err[256];
	struct rlimit orig;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &orig), 0);
	assert_int_equal(fdbudget_init(300, 5000, err, sizeof(err)), 0);
	assert_int_equal(fdbudget_limit(), 300);
	assert_true(fdbudget_reserve_shrunk());
	assert_true(fdbudget_channels() > 100 && fdbudget_channels() < 150);
	/* A limit below what is already open is an error, not a silent zero. */
	assert_int_equal(fdbudget_init(3, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too low"));
	/* Give the descriptors back: the leak checker needs some at exit. */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &orig), 0);
}

static void test_log_limit(void **state)
{
	(void)state;
	struct log_limit l = {.rate = 3};
	int allowed = 0;
	for (int i = 0; i < 10; i++)
		allowed += log_limit_allow(&l, 100);
	assert_int_equal(allowed, 3);
	assert_int_equal(l.suppressed, 7);
	/* The next second: the count is reported once and lines flow again. */
	assert_true(log_limit_allow(&l, 101));
	assert_int_equal(l.suppressed, 0);
	struct log_limit d = {0}; /* rate 0 = the default */
	allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += log_limit_allow(&d, 7);
	assert_int_equal(allowed, LOG_PEER_RATE_DEFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unlimited_before_init),
	    cmocka_unit_test(test_share_rule),
	    cmocka_unit_test(test_small_limit_shrinks_reserve),
	    cmocka_unit_test(test_log_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
