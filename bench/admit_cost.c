/* SPDX-License-Identifier: MIT */
/*
 * bench/admit_cost.c: the admission check alone, in-process, on one real
 * loopback connection: admit_check() for same-user (decided on the spot: one
 * sock_diag round trip) and for exe: (a /proc owner scan on the thread pool,
 * timed from the call to the verdict). Prints one JSON line, times in µs.
 *
 *   admit_cost [N]      (default 20000 same-user checks, N/40 exe: checks)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guard/admit.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int verdict;

static void on_verdict(void *arg, int allowed)
{
	(void)arg;
	verdict = allowed;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	if (n <= 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) != 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return 1;
	int a = accept(l, NULL, NULL);
	uv_loop_t *loop = uv_default_loop();
	struct admit_options o = {.max_pending = 4};
	struct admit_ctx *ctx = admit_ctx_new(loop, &o);
	struct admit_policy same, exe;
	char err[ADMIT_ERR_MAX], self[600], text[700];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (a < 0 || ctx == NULL || k <= 0)
		return 1;
	self[k] = 0;
	snprintf(text, sizeof(text), "exe:%s", self);
	if (admit_parse("same-user", &same, err) != 0 || admit_parse(text, &exe, err) != 0)
		return 1;
	double t0 = now_us();
	for (int i = 0; i < n; i++)
		if (admit_check(ctx, &same, a, 0, "bench", "bench", on_verdict, NULL) != 1)
			return 2;
	double same_us = (now_us() - t0) / n;
	int m = n / 40 > 0 ? n / 40 : 1;
	t0 = now_us();
	for (int i = 0; i < m; i++) {
		verdict = -1;
		if (admit_check(ctx, &exe, a, 0, "bench", "bench", on_verdict, NULL) != 0)
			return 3;
		uv_run(loop, UV_RUN_DEFAULT);
		if (verdict != 1)
			return 4;
	}
	double exe_us = (now_us() - t0) / m;
	printf(
	    "{\"same_user_us\":%.2f,\"exe_us\":%.1f,\"same_user_checks\":%d,\"exe_checks\":%d}\n",
	    same_us, exe_us, n, m);
	admit_ctx_close(ctx);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
