/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard/admit.h"

static void test_parse_terms(void **state)
{
	struct admit_policy p;
	char err[ADMIT_ERR_MAX];
	(void)state;
	assert_int_equal(admit_parse("same-user", &p, err), 0);
	assert_int_equal(p.terms, ADMIT_SAME_USER);
	assert_int_equal(admit_needs_process(&p), 0);
	assert_int_equal(admit_parse("  ask\texe:/usr/bin/psql,/bin/sh uid:1000,1001 ", &p, err),
			 0);
	assert_int_equal(p.terms, ADMIT_ASK | ADMIT_EXE | ADMIT_UID);
	assert_int_equal(p.nuids, 2);
	assert_int_equal(p.uids[1], 1001);
	assert_string_equal(p.exes[1], "/bin/sh");
	assert_string_equal(p.text, "uid:1000,1001 exe:/usr/bin/psql,/bin/sh ask");
	assert_int_equal(admit_needs_process(&p), 1);
	assert_int_equal(admit_parse("any", &p, err), 0);
	assert_int_equal(p.terms, ADMIT_ANY);
}

static void test_parse_errors(void **state)
{
	static const char *const bad[][2] = {
	    {"", "empty policy"},
	    {"any loopback", "cannot be combined"},
	    {"uid:1,,2", "bad uid list"},
	    {"uid:99999999999", "out of range"},
	    {"exe:bin/sh", "not an absolute path"},
	    {"same-user same-user", "given twice"},
	    {"Same-User", "unknown term"},
	    {"exe:/a\x01", "control byte"},
	};
	struct admit_policy p;
	char err[ADMIT_ERR_MAX];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(admit_parse(bad[i][0], &p, err), -1);
		if (strstr(err, bad[i][1]) == NULL)
			fail_msg("'%s': got '%s', want '%s'", bad[i][0], err, bad[i][1]);
	}
}

static void test_proc_stat(void **state)
{
	pid_t ppid = 0;
	unsigned long long start = 0;
	(void)state;
	/* comm may hold ") (": fields count from the last ')'. */
	const char *line = "42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 "
			   "987654 1000 10";
	assert_int_equal(admit_proc_stat(line, &ppid, &start), 0);
	assert_int_equal(ppid, 7);
	assert_int_equal(start, 987654ull);
	assert_int_equal(admit_proc_stat("42 (x) S 7 42", &ppid, &start), -1);
	assert_int_equal(admit_proc_stat("no paren", &ppid, &start), -1);
	assert_int_equal(
	    admit_proc_stat("1 (x) S -3 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5", &ppid, &start), -1);
}

static int verdict = -1;

static void on_verdict(void *arg, int allowed)
{
	(void)arg;
	verdict = allowed;
}

/* A real loopback connection: our own uid passes same-user at once; a uid
 * list without us is refused after the process lookup. */
static void test_live_loopback(void **state)
{
	(void)state;
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct admit_options o = {.max_pending = 4};
	struct admit_ctx *ctx = admit_ctx_new(&loop, &o);
	struct admit_policy p;
	char err[ADMIT_ERR_MAX], other[32];
	assert_int_equal(admit_parse("same-user loopback", &p, err), 0);
	assert_int_equal(admit_check(ctx, &p, a, 0, "test", "dest", on_verdict, NULL), 1);
	snprintf(other, sizeof(other), "uid:%u", (unsigned)geteuid() + 1);
	assert_int_equal(admit_parse(other, &p, err), 0);
	assert_int_equal(admit_check(ctx, &p, a, 0, "test", "dest", on_verdict, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(verdict, 0);
	/* exe: names this very test binary: the lookup finds us holding the socket. */
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = 0;
	char exe[600];
	snprintf(exe, sizeof(exe), "exe:%s", self);
	assert_int_equal(admit_parse(exe, &p, err), 0);
	verdict = -1;
	assert_int_equal(admit_check(ctx, &p, a, 0, "test", "dest", on_verdict, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(verdict, 1);
	admit_ctx_close(ctx);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	close(a);
	close(c);
	close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_terms),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_proc_stat),
	    cmocka_unit_test(test_live_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
