/* SPDX-License-Identifier: MIT */
/* The fleet's events messages (docs/PROTOCOL.md, "Fleet data in Redis") and abuse_ban(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fleet/fleet.h"
#include "guard/abuse.h"

static int parse(const char *msg, struct fleet_event *ev)
{
	return fleet_event_parse(msg, strlen(msg), ev);
}

static void test_ban_round_trip(void **state)
{
	struct fleet_event ev;
	char buf[512];
	(void)state;
	assert_int_equal(parse("ban gw-a 1796194087000 7f000002", &ev), 0);
	assert_int_equal(ev.kind, FLEET_EV_BAN);
	assert_string_equal(ev.origin, "gw-a");
	assert_int_equal(ev.until_ms, 1796194087000ull);
	assert_int_equal(ev.srclen, 4);
	assert_memory_equal(ev.src, "\x7f\x00\x00\x02", 4);
	int n = fleet_event_format(&ev, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen("ban gw-a 1796194087000 7f000002"));
	assert_string_equal(buf, "ban gw-a 1796194087000 7f000002");
	assert_int_equal(parse("ban gw-b 5 20010db800000001", &ev), 0);
	assert_int_equal(ev.srclen, 8);
}

static void test_grant_round_trip(void **state)
{
	struct fleet_event ev;
	char buf[512];
	const char *m = "grant gw-a 1796194087000 ops udp 53 fd77:1::2 192.0.2.10 5353 1";
	(void)state;
	assert_int_equal(parse(m, &ev), 0);
	assert_int_equal(ev.kind, FLEET_EV_GRANT);
	assert_string_equal(ev.grant.identity, "ops");
	assert_string_equal(ev.grant.origin, "gw-a");
	assert_int_equal(ev.grant.proto, SPA_PROTO_UDP);
	assert_int_equal(ev.grant.port, 53);
	assert_int_equal(ev.grant.src.family, AF_INET6);
	assert_true(ev.grant.has_forward);
	assert_int_equal(ev.grant.forward_port, 5353);
	assert_true(ev.grant.masquerade);
	assert_int_equal(ev.grant.expires_ms, 1796194087000ull);
	assert_true(fleet_event_format(&ev, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, m);
	assert_int_equal(parse("grant gw-a 9 a tcp 7000 10.77.1.2", &ev), 0);
	assert_false(ev.grant.has_forward);
}

static void test_garbage_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "ban",
	    "ban gw-a 1 7f00000",	 /* odd hex */
	    "ban gw-a 1 7f0000020",	 /* 9 digits */
	    "ban gw-a 1 7F000002",	 /* upper case */
	    "ban gw-a x 7f000002",	 /* not a number */
	    "ban gw-a 1 7f000002 extra", /* one field too many */
	    "ban  gw-a 1 7f000002",	 /* two spaces */
	    "ban gw-a 1 7f000002 ",	 /* trailing space */
	    "ban gw-a 99999999999999999999999 7f000002",
	    "grant gw-a 1 a tcp 0 10.0.0.1", /* port 0 */
	    "grant gw-a 1 a sctp 1 10.0.0.1",
	    "grant gw-a 1 a tcp 70000 10.0.0.1",
	    "grant gw-a 1 a tcp 1 host.example",
	    "grant gw-a 1 a tcp 1 10.0.0.1 10.0.0.2 1", /* forward without masq */
	    "grant gw-a 1 a tcp 1 10.0.0.1 10.0.0.2 1 2",
	    "hello gw-a 1 7f000002",
	    "ban gw-a 1 7f00\n0002",
	};
	struct fleet_event ev;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &ev) == 0)
			fail_msg("accepted: '%s'", bad[i]);
	/* Not NUL-terminated: the length is what counts. */
	assert_int_equal(
	    fleet_event_parse("ban gw-a 1 7f000002XYZ", strlen("ban gw-a 1 7f000002"), &ev), 0);
}

static void test_abuse_ban(void **state)
{
	struct abuse_config c = {.ban_threshold = 5,
				 .ban_window_s = 60,
				 .ban_time_s = 60,
				 .max_unauth = 64,
				 .max_unauth_per_source = 8,
				 .table_size = 64};
	struct abuse_source src = {.bytes = {10, 0, 0, 1}, .len = 4};
	(void)state;
	assert_int_equal(abuse_cidr_parse("10.9.0.0/16", &c.exempt[0]), 0);
	c.nexempt = 1;
	struct abuse *a = abuse_new(&c);
	assert_non_null(a);
	assert_int_equal(abuse_ban(a, &src, 1000, 5000), 1);
	assert_true(abuse_is_banned(a, &src, 4999));
	assert_false(abuse_is_banned(a, &src, 5000));
	/* A shorter ban does not cut a longer one; a longer one extends it. */
	assert_int_equal(abuse_ban(a, &src, 2000, 3000), 0);
	assert_true(abuse_is_banned(a, &src, 4000));
	assert_int_equal(abuse_ban(a, &src, 2000, 9000), 0);
	assert_true(abuse_is_banned(a, &src, 8000));
	/* Already over, or exempt: nothing. */
	assert_int_equal(abuse_ban(a, &src, 10000, 10000), 0);
	struct abuse_source ex = {.bytes = {10, 9, 1, 1}, .len = 4};
	assert_int_equal(abuse_ban(a, &ex, 1000, 5000), 0);
	assert_false(abuse_is_banned(a, &ex, 2000));
	abuse_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ban_round_trip),
	    cmocka_unit_test(test_grant_round_trip),
	    cmocka_unit_test(test_garbage_refused),
	    cmocka_unit_test(test_abuse_ban),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
