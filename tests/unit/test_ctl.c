/* SPDX-License-Identifier: MIT */
/* The control socket's request parser and bounded answer buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/control.h"

static int parse(const char *s, struct ctl_request *r)
{
	char err[160];
	return ctl_parse(s, strlen(s), r, err, sizeof(err));
}

static void test_good_requests(void **state)
{
	struct ctl_request r;
	(void)state;
	assert_int_equal(parse("status", &r), 0);
	assert_int_equal(r.verb, CTL_STATUS);
	assert_int_equal(r.json, 0);
	assert_int_equal(parse("status json", &r), 0);
	assert_int_equal(r.json, 1);
	assert_int_equal(parse("forward -L 127.0.0.1:8080:intranet:80", &r), 0);
	assert_int_equal(r.verb, CTL_FORWARD);
	assert_int_equal(r.nargs, 2);
	assert_string_equal(r.args[0], "-L");
	assert_string_equal(r.args[1], "127.0.0.1:8080:intranet:80");
	assert_int_equal(parse("cancel -D 1080", &r), 0);
	assert_int_equal(parse("unban 2001:db8::1", &r), 0);
	assert_string_equal(r.args[0], "2001:db8::1");
	assert_int_equal(parse("bans", &r), 0);
	assert_int_equal(parse("metrics", &r), 0);
	assert_int_equal(parse("reload", &r), 0);
	assert_int_equal(parse("grants", &r), 0);
	assert_int_equal(r.verb, CTL_GRANTS);
	assert_int_equal(r.json + r.kernel, 0);
	assert_int_equal(parse("grants kernel", &r), 0);
	assert_int_equal(r.kernel, 1);
	assert_int_equal(r.json, 0);
	assert_int_equal(parse("grants json kernel", &r), 0);
	assert_int_equal(r.kernel + r.json, 2);
}

static void test_bad_requests(void **state)
{
	static const char *const bad[] = {
	    "",
	    "status ",
	    " status",
	    "status  json",
	    "status xml",
	    "stat",
	    "unban",
	    "unban a b",
	    "forward -L",
	    "forward -X a",
	    "forward -L a b",
	    "metrics now",
	    "bans\tnow",
	    "reload\r",
	    "grants xml",
	    "grants kernel kernel",
	    "grants json json",
	    "status kernel",
	    "grants json kernel x",
	};
	struct ctl_request r;
	char err[160];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(ctl_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)), -1);
		assert_true(err[0] != 0);
	}
	/* A NUL inside, a non-ASCII byte, an overlong word or line. */
	assert_int_equal(ctl_parse("status\0json", 11, &r, err, sizeof(err)), -1);
	assert_int_equal(parse("unban \xc3\xa9", &r), -1);
	char word[CTL_WORD_MAX + 16] = "unban ";
	memset(word + 6, 'a', CTL_WORD_MAX + 1);
	word[6 + CTL_WORD_MAX + 1] = 0;
	assert_int_equal(parse(word, &r), -1);
	static char line[CTL_LINE_MAX + 2];
	memset(line, 'a', sizeof(line) - 1);
	assert_int_equal(ctl_parse(line, sizeof(line) - 1, &r, err, sizeof(err)), -1);
}

static void test_output_bound(void **state)
{
	char buf[17];
	struct ctl_out o = {.buf = buf, .max = 16};
	(void)state;
	assert_int_equal(ctl_printf(&o, "%s", "0123456789"), 0);
	assert_int_equal(ctl_printf(&o, "%s", "abcdef"), 0);
	assert_int_equal(o.len, 16);
	assert_int_equal(ctl_printf(&o, "x"), -1);
	assert_true(o.truncated);
	assert_int_equal(o.len, 16);
	assert_int_equal(ctl_printf(&o, "%s", ""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_requests),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_output_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
