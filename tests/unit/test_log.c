/* SPDX-License-Identifier: MIT */
/*
 * log: the line format ("TIME LEVEL component: message"), the component
 * taken from a path or a LOG_COMPONENT name, and log_q()'s quoting of
 * values (spaces, quotes, backslashes, '=', empty, control bytes).
 */
#define LOG_COMPONENT "unit"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "util/log.h"

static void test_q(void **state)
{
	(void)state;
	assert_string_equal(log_q("127.0.0.1:22"), "127.0.0.1:22");
	assert_string_equal(log_q("no key matched"), "\"no key matched\"");
	assert_string_equal(log_q(""), "\"\"");
	assert_string_equal(log_q(NULL), "\"\"");
	assert_string_equal(log_q("a=b"), "\"a=b\"");
	assert_string_equal(log_q("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
	assert_string_equal(log_q("tab\there"), "tab?here");
	assert_string_equal(log_q("new\nline x"), "\"new?line x\"");
	/* Several in one call's arguments stay distinct. */
	const char *a = log_q("one"), *b = log_q("two words");
	assert_string_equal(a, "one");
	assert_string_equal(b, "\"two words\"");
	char big[LOG_Q_MAX * 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_true(strlen(log_q(big)) < LOG_Q_MAX);
}

static void test_component(void **state)
{
	char out[32];
	(void)state;
	assert_string_equal(log_component("src/cmd/server.c", out, sizeof(out)), "server");
	assert_string_equal(log_component("session_tx.c", out, sizeof(out)), "session_tx");
	assert_string_equal(log_component("forward", out, sizeof(out)), "forward");
	assert_string_equal(log_component(NULL, out, sizeof(out)), "postern");
}

static void test_line(void **state)
{
	int fds[2], saved = dup(STDERR_FILENO);
	char buf[512];
	(void)state;
	assert_int_equal(pipe(fds), 0);
	dup2(fds[1], STDERR_FILENO);
	log_init("postern", LOG_LVL_INFO, 0);
	log_warn("refused peer=%s reason=%s", "192.0.2.1:5", log_q("no key matched"));
	log_debug("not shown");
	dup2(saved, STDERR_FILENO);
	close(fds[1]);
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	close(saved);
	assert_true(n > 24);
	buf[n] = 0;
	/* 2026-12-02T06:00:00.000Z: the stamp is 24 bytes, then one space. */
	assert_int_equal(buf[10], 'T');
	assert_int_equal(buf[23], 'Z');
	assert_string_equal(buf + 25,
			    "WARN unit: refused peer=192.0.2.1:5 reason=\"no key matched\"\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_q),
	    cmocka_unit_test(test_component),
	    cmocka_unit_test(test_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
