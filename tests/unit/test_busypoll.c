/* SPDX-License-Identifier: MIT */
/*
 * busypoll: the policy (start polling when nearly every recent idle spell was
 * short enough to catch, stop only after a run of long ones; off for
 * alternating or sparse traffic), and the loop
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

static int shorts_until_on(struct busypoll *bp, uint64_t spell)
{
	for (int i = 1; i <= 100; i++) {
		busypoll_note(bp, spell, 5 * US);
		if (busypoll_polling(bp))
			return i;
	}
	return -1;
}

static void test_back_to_back_turns_polling_on(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 100);
	assert_false(busypoll_polling(&bp));
	int n = shorts_until_on(&bp, 30 * US);
	assert_in_range(n, 10, 20);
	/* A spell of exactly the maximum would still have been caught. */
	busypoll_init(&bp, 100);
	assert_int_equal(shorts_until_on(&bp, 100 * US), n);
}

static void settle_on(struct busypoll *bp)
{
	shorts_until_on(bp, 10 * US);
	for (int i = 0; i < 50; i++)
		busypoll_note(bp, 10 * US, 5 * US); /* settle at the top */
	assert_true(busypoll_polling(bp));
}

/* A pause between bursts, or one round trip delayed by the scheduler, must not
 * turn polling off: the round trips after it would sleep through their replies,
 * be slow in turn and keep it off.  A run of long spells does turn it off. */
static void test_stray_long_spell_keeps_it_on(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 100);
	settle_on(&bp);
	busypoll_note(&bp, 50000 * US, 5 * US);
	assert_true(busypoll_polling(&bp));
	assert_int_equal(shorts_until_on(&bp, 10 * US), 1);
	settle_on(&bp);
	busypoll_note(&bp, 101 * US, 5 * US);
	assert_true(busypoll_polling(&bp));
	busypoll_note(&bp, 101 * US, 5 * US);
	assert_false(busypoll_polling(&bp));
	assert_in_range(shorts_until_on(&bp, 10 * US), 5, 15);
}

/* Request/reply at a fixed rate: every other spell is long.  Polling would
 * miss half the time, so it stays off. */
static void test_alternating_stays_off(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 100);
	for (int i = 0; i < 1000; i++) {
		busypoll_note(&bp, 60 * US, 5 * US);
		assert_false(busypoll_polling(&bp));
		busypoll_note(&bp, 140 * US, 5 * US);
		assert_false(busypoll_polling(&bp));
	}
	/* Three short spells in four are not enough either. */
	for (int i = 0; i < 1000; i++) {
		busypoll_note(&bp, i % 4 == 3 ? 1000 * US : 10 * US, 5 * US);
		assert_false(busypoll_polling(&bp));
	}
	/* Nor does a burst that turned it on keep it on at such a rate. */
	settle_on(&bp);
	int i = 0;
	while (busypoll_polling(&bp) && i < 100)
		busypoll_note(&bp, i++ % 2 ? 140 * US : 60 * US, 5 * US);
	assert_in_range(i, 4, 12);
	for (i = 0; i < 1000; i++) {
		busypoll_note(&bp, i % 2 ? 140 * US : 60 * US, 5 * US);
		assert_false(busypoll_polling(&bp));
	}
}

/* Bulk data: events come back to back but each takes long to handle. */
static void test_long_work_stays_off(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 100);
	for (int i = 0; i < 1000; i++) {
		busypoll_note(&bp, 5 * US, 60 * US);
		assert_false(busypoll_polling(&bp));
	}
	/* Half a window of work still counts as short; bulk starting on a
	 * polling loop turns it off after two records. */
	busypoll_init(&bp, 100);
	for (int i = 0; i < 50; i++)
		busypoll_note(&bp, 5 * US, 50 * US);
	assert_true(busypoll_polling(&bp));
	busypoll_note(&bp, 5 * US, 51 * US);
	assert_true(busypoll_polling(&bp));
	busypoll_note(&bp, 5 * US, 51 * US);
	assert_false(busypoll_polling(&bp));
}

static void test_disabled_and_clamped(void **state)
{
	(void)state;
	struct busypoll bp;
	busypoll_init(&bp, 0);
	assert_int_equal(shorts_until_on(&bp, 0), -1);
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
	/* Whether polling switches on here depends on how fast this machine handles
	 * each event (under valgrind it rightly counts as bulk work): the policy has
	 * its own tests above; this one is about delivery and the end of the loop. */
	busypoll_init(&bp, BUSYPOLL_MAX_US);
	busypoll_run(&bp, &loop);
	assert_int_equal(p.got, 100);
	close(fds[1]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_back_to_back_turns_polling_on),
	    cmocka_unit_test(test_stray_long_spell_keeps_it_on),
	    cmocka_unit_test(test_alternating_stays_off),
	    cmocka_unit_test(test_long_work_stays_off),
	    cmocka_unit_test(test_disabled_and_clamped),
	    cmocka_unit_test(test_runs_timers_until_done),
	    cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_io_while_polling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
