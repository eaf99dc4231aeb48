/* SPDX-License-Identifier: MIT */
/* test_spa_grant: the grant table (add, extend, bound, expiry) and the
 * listener backend's cBPF program built from it. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "spa/fw_listener.h"
#include "spa/grant.h"

static struct spa_grant grant(const char *src, uint16_t port, uint64_t exp)
{
	struct spa_grant g = {0};
	g.src.family = strchr(src, ':') != NULL ? AF_INET6 : AF_INET;
	inet_pton(g.src.family, src, g.src.addr);
	g.proto = SPA_PROTO_TCP;
	g.port = port;
	g.expires_ms = exp;
	snprintf(g.identity, sizeof(g.identity), "k");
	return g;
}

static void count(void *arg, const struct spa_grant *g)
{
	(void)g;
	(*(int *)arg)++;
}

static void test_table(void **state)
{
	struct spa_table *t = spa_table_new(3);
	struct spa_grant a = grant("10.0.0.1", 7000, 5000), b = grant("10.0.0.2", 7000, 3000);
	int n = 0;
	(void)state;
	assert_non_null(t);
	assert_int_equal(spa_table_next_expiry(t), 0);
	assert_int_equal(spa_table_add(t, &a, 1000), SPA_TABLE_ADDED);
	assert_int_equal(spa_table_add(t, &b, 1000), SPA_TABLE_ADDED);
	assert_int_equal(spa_table_next_expiry(t), 3000);
	/* The same tuple extends, never shortens. */
	a.expires_ms = 4000;
	assert_int_equal(spa_table_add(t, &a, 1000), SPA_TABLE_EXTENDED);
	assert_int_equal(spa_table_get(t, 0)->expires_ms, 5000);
	a.expires_ms = 9000;
	assert_int_equal(spa_table_add(t, &a, 1000), SPA_TABLE_EXTENDED);
	assert_int_equal(spa_table_get(t, 0)->expires_ms, 9000);
	assert_int_equal(spa_table_count(t), 2);
	/* Another port or a forward is another grant; the bound holds. */
	struct spa_grant c = grant("10.0.0.1", 22, 9000), d = grant("10.0.0.3", 22, 9000);
	assert_int_equal(spa_table_add(t, &c, 1000), SPA_TABLE_ADDED);
	assert_int_equal(spa_table_add(t, &d, 1000), SPA_TABLE_FULL);
	/* Expiry frees room: b goes at 3000. */
	assert_int_equal(spa_table_expire(t, 2999, count, &n), 0);
	assert_int_equal(spa_table_expire(t, 3000, count, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(spa_table_add(t, &d, 3000), SPA_TABLE_ADDED);
	/* A full table sweeps expired rows before it refuses. */
	struct spa_grant e = grant("10.0.0.4", 22, 20000);
	assert_int_equal(spa_table_add(t, &e, 9000), SPA_TABLE_ADDED);
	n = 0;
	spa_table_each(t, count, &n);
	assert_int_equal(n, 1);
	spa_table_remove(t, &e);
	assert_int_equal(spa_table_count(t), 0);
	spa_table_free(t);
	spa_table_free(NULL);
}

static void test_filter(void **state)
{
	struct spa_table *t = spa_table_new(2000);
	struct sock_filter prog[FW_LISTENER_INSNS];
	(void)state;
	/* No grant: the program drops everything (and is tiny). */
	assert_int_equal(fw_listener_build(t, 7000, prog, FW_LISTENER_INSNS), FW_LISTENER_FIXED);
	struct spa_grant a = grant("10.0.0.1", 7000, 5000), b = grant("2001:db8::1", 7000, 5000),
			 other = grant("10.0.0.9", 22, 5000);
	spa_table_add(t, &a, 0);
	spa_table_add(t, &b, 0);
	spa_table_add(t, &other, 0);
	/* Port 22's source is not in port 7000's program. */
	assert_int_equal(fw_listener_build(t, 7000, prog, FW_LISTENER_INSNS),
			 FW_LISTENER_FIXED + FW_LISTENER_V4_INSNS + FW_LISTENER_V6_INSNS);
	assert_int_equal(prog[8].k, 0x0a000001);
	/* One source with two ports of the listener is in once. */
	struct spa_grant a2 = a;
	a2.proto = SPA_PROTO_UDP;
	spa_table_add(t, &a2, 0);
	assert_int_equal(fw_listener_build(t, 7000, prog, FW_LISTENER_INSNS),
			 FW_LISTENER_FIXED + FW_LISTENER_V4_INSNS + FW_LISTENER_V6_INSNS);
	/* Too many sources for one program: refused, not truncated. */
	for (int i = 0; i < 1900; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.1.%d.%d", i / 250, i % 250 + 1);
		struct spa_grant g = grant(s, 7000, 5000);
		assert_int_not_equal(spa_table_add(t, &g, 0), SPA_TABLE_FULL);
	}
	assert_int_equal(fw_listener_build(t, 7000, prog, FW_LISTENER_INSNS), 3821);
	assert_int_equal(fw_listener_build(t, 7000, prog, 3820), -1);
	spa_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
