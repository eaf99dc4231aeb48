/* SPDX-License-Identifier: MIT */
/*
 * busypoll: the window policy (grow on short idle spells, hold when the window
 * caught the event, shrink on long ones, never beyond the maximum), and the loop
 * runner: it ends when no handle is left, stops on busypoll_stop() with handles
 * still active, and still fires timers and socket events in both modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/busypoll.h"

#define US 1000u

static void test_grows_on_short_idle(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 100);
	assert_int_equal(bp.window_ns, 0);
	busypoll_adapt(&bp, 30 * US);
	assert_int_equal(bp.window_ns, 10 * US);
	busypoll_adapt(&bp, 30 * US);
	assert_int_equal(bp.window_ns, 20 * US);
	busypoll_adapt(&bp, 30 * US);
	assert_int_equal(bp.window_ns, 40 * US);
	/* Caught within the window: nothing to learn. */
	busypoll_adapt(&bp, 30 * US);
	assert_int_equal(bp.window_ns, 40 * US);
	busypoll_adapt(&bp, 90 * US);
	assert_int_equal(bp.window_ns, 80 * US);
	busypoll_adapt(&bp, 100 * US);
	assert_int_equal(bp.window_ns, 100 * US); /* capped */
	busypoll_adapt(&bp, 100 * US);
	assert_int_equal(bp.window_ns, 100 * US);
}

static void test_shrinks_on_long_idle(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 100);
	bp.window_ns = 100 * US;
	busypoll_adapt(&bp, 101 * US);
	assert_int_equal(bp.window_ns, 50 * US);
	busypoll_adapt(&bp, 5000 * US);
	assert_int_equal(bp.window_ns, 25 * US);
	busypoll_adapt(&bp, 5000 * US);
	assert_int_equal(bp.window_ns, 12500);
	/* Below the starting window polling stops altogether. */
	busypoll_adapt(&bp, 5000 * US);
	assert_int_equal(bp.window_ns, 0);
	busypoll_adapt(&bp, 5000 * US);
	assert_int_equal(bp.window_ns, 0);
}

static void test_disabled_and_clamped(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 0);
	busypoll_adapt(&bp, 0);
	busypoll_adapt(&bp, 1);
	assert_int_equal(bp.window_ns, 0);
	busypoll_init(&bp, 1000000);
	assert_int_equal(bp.max_ns, (uint64_t)BUSYPOLL_MAX_US * US);
}

/* --- the runner --- */

struct ticks {
	uv_timer_t t;
	int left;
	int fired;
	int stop_instead; /* call busypoll_stop and keep the timer */
};

static void on_tick(uv_timer_t *t)
{
	struct ticks *k = t->data;
	k->fired++;
	if (--k->left > 0)
		return;
	if (k->stop_instead)
		busypoll_stop(t->loop);
	else
		uv_close((uv_handle_t *)t, NULL);
}

/* A repeating 1 ms timer: short idle spells, so polling switches on. */
static void run_ticks(unsigned max_us, int stop_instead)
{
	uv_loop_t loop;
	struct busypoll bp;
	struct ticks k = {.left = 20, .stop_instead = stop_instead};
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &k.t);
	k.t.data = &k;
	uv_timer_start(&k.t, on_tick, 1, 1);
	busypoll_init(&bp, max_us);
	busypoll_run(&bp, &loop);
	assert_int_equal(k.fired, 20);
	if (stop_instead) {
		/* Stopped with the timer still active: a later uv_run must work. */
		assert_int_not_equal(uv_loop_alive(&loop), 0);
		uv_close((uv_handle_t *)&k.t, NULL);
		assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_runs_timers_until_done(void **state)
{
	(void)state;
	run_ticks(0, 0);
	run_ticks(100, 0);
	run_ticks(BUSYPOLL_MAX_US, 0);
}

static void test_stop(void **state)
{
	(void)state;
	run_ticks(0, 1);
	run_ticks(100, 1);
}

/* Bytes through a pipe reach their callback while the loop polls. */
struct pipe_ctx {
	uv_pipe_t rd;
	int wfd;
	int got;
	char buf[64];
};

static void pipe_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	struct pipe_ctx *p = h->data;
	(void)n;
	*b = uv_buf_init(p->buf, sizeof(p->buf));
}

static void pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct pipe_ctx *p = st->data;
	(void)b;
	if (n > 0) {
		p->got += (int)n;
		/* Answer each byte with another until 100 have gone round. */
		if (p->got < 100)
			assert_int_equal(write(p->wfd, "x", 1), 1);
		else
			uv_close((uv_handle_t *)st, NULL);
	}
}

static void test_io_while_polling(void **state)
{
	(void)state;
	int fds[2];
	uv_loop_t loop;
	struct busypoll bp;
	struct pipe_ctx p = {0};
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_pipe_init(&loop, &p.rd, 0);
	p.rd.data = &p;
	p.wfd = fds[1];
	assert_int_equal(uv_pipe_open(&p.rd, fds[0]), 0);
	uv_read_start((uv_stream_t *)&p.rd, pipe_alloc, pipe_read);
	assert_int_equal(write(fds[1], "x", 1), 1);
	busypoll_init(&bp, 100);
	busypoll_run(&bp, &loop);
	assert_int_equal(p.got, 100);
	/* Back-to-back events: the window opened and stayed open. */
	assert_true(bp.window_ns > 0);
	close(fds[1]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grows_on_short_idle),
	    cmocka_unit_test(test_shrinks_on_long_idle),
	    cmocka_unit_test(test_disabled_and_clamped),
	    cmocka_unit_test(test_runs_timers_until_done),
	    cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_io_while_polling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
