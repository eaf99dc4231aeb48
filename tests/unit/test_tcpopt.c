/* SPDX-License-Identifier: MIT */
/*
 * tcpopt: which peers count as this host (and get a non-pacing congestion
 * control); the socket options themselves are checked end to end in
 * tests/e2e/test_sockopts.py, inside a namespace whose default is BBR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <string.h>
#include <sys/un.h>

#include "util/tcpopt.h"

static int loopback(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
	}
	return tcpopt_is_loopback((struct sockaddr *)&ss);
}

static void test_loopback_addresses(void **state)
{
	(void)state;
	assert_true(loopback("127.0.0.1"));
	assert_true(loopback("127.255.3.9"));
	assert_true(loopback("::1"));
	assert_true(loopback("::ffff:127.0.0.1"));
}

static void test_other_addresses(void **state)
{
	(void)state;
	assert_false(loopback("128.0.0.1"));
	assert_false(loopback("10.0.0.1"));
	assert_false(loopback("0.0.0.0"));
	assert_false(loopback("::"));
	assert_false(loopback("::2"));
	assert_false(loopback("::ffff:10.0.0.1"));
	assert_false(loopback("fe80::1"));
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	assert_false(tcpopt_is_loopback((struct sockaddr *)&un));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loopback_addresses),
	    cmocka_unit_test(test_other_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
