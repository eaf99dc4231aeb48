/* SPDX-License-Identifier: MIT */
/*
 * busypoll: the loop runner (busypoll_run) and its predictor. It owns the
 * moving average of idle spells, the on/off decision, and the poll-yield-run
 * cycle on libuv's backend fd; the policy and its reasons are in busypoll.h.
 */
#include "util/busypoll.h"

#include <poll.h>
#include <sched.h>

/* The average moves 1/8 of the way per short spell and 1/4 per long one.
 * Polling starts once seven in eight recent spells were short (17 short spells
 * in a row from cold) and stops when the average falls below 5/8 (two long
 * spells in a row).  The gap matters: with one mark, a single slow round trip
 * (a process scheduled late) turned polling off, the next round trips then
 * slept through their replies, were slow in turn and kept it off, which was
 * the p99 of a request/response exchange.  Long spells weigh double so that
 * traffic whose spells alternate short and long (a request at a fixed rate)
 * still turns it off within a few events: polling there costs CPU without
 * lowering latency (the figures: bench/results/NOTES.md). */
#define SCORE_ONE 256
#define SCORE_ON  (SCORE_ONE * 7 / 8)
#define SCORE_OFF (SCORE_ONE * 5 / 8)

void busypoll_init(struct busypoll *bp, unsigned max_us)
{
	bp->max_ns = (uint64_t)(max_us > BUSYPOLL_MAX_US ? BUSYPOLL_MAX_US : max_us) * 1000;
	bp->score = 0;
	bp->on = 0;
	bp->stopped = 0;
}

void busypoll_note(struct busypoll *bp, uint64_t idle_ns, uint64_t busy_ns)
{
	/* Work as long as half a window (sealing a 256 KiB record, say) means
	 * bulk data: a wake-up is then a small part of the cost of each event,
	 * and polling between them would burn CPU without moving more bytes. */
	int target = idle_ns <= bp->max_ns && busy_ns <= bp->max_ns / 2 ? SCORE_ONE : 0;
	bp->score += (target - bp->score) / (target ? 8 : 4);
	if (bp->on ? bp->score < SCORE_OFF : bp->score >= SCORE_ON)
		bp->on = !bp->on;
}

int busypoll_polling(const struct busypoll *bp)
{
	return bp->max_ns > 0 && bp->on;
}

/* Is there anything for uv_run to do right now?  The backend fd is readable
 * when epoll has events, which is how libuv expects to be embedded. */
static int ready(uv_loop_t *loop)
{
	if (uv_backend_timeout(loop) == 0)
		return 1;
	struct pollfd p = {.fd = uv_backend_fd(loop), .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

/* Poll while it pays and the window since the last activity lasts.  Returns
 * when the last activity ended, or 0 when the loop has ended. */
static uint64_t spin(struct busypoll *bp, uv_loop_t *loop, uint64_t idle_since)
{
	uint64_t now = idle_since;
	while (busypoll_polling(bp) && now - idle_since < bp->max_ns && !bp->stopped) {
		if (ready(loop)) {
			int alive = uv_run(loop, UV_RUN_NOWAIT);
			uint64_t done = uv_hrtime();
			busypoll_note(bp, now - idle_since, done - now);
			if (!alive)
				return 0;
			idle_since = done;
		} else {
			/* Anything runnable on this CPU (the process we are
			 * waiting for, perhaps) goes first. */
			sched_yield();
		}
		now = uv_hrtime();
	}
	return idle_since;
}

void busypoll_run(struct busypoll *bp, uv_loop_t *loop)
{
	loop->data = bp;
	bp->stopped = 0;
	if (bp->max_ns == 0) {
		uv_run(loop, UV_RUN_DEFAULT);
		return;
	}
	/* libuv times its own epoll_wait for us, so sleeping costs no extra
	 * system call: at moderate rates that would cost more than polling saves. */
	int timed = uv_loop_configure(loop, UV_METRICS_IDLE_TIME) == 0;
	uint64_t idle_since = uv_hrtime();
	while (!bp->stopped) {
		idle_since = spin(bp, loop, idle_since);
		if (idle_since == 0 || bp->stopped)
			return;
		uint64_t t0 = uv_hrtime(), slept0 = timed ? uv_metrics_idle_time(loop) : 0;
		int alive = uv_run(loop, UV_RUN_ONCE);
		uint64_t done = uv_hrtime();
		uint64_t slept = timed ? uv_metrics_idle_time(loop) - slept0 : done - t0;
		busypoll_note(bp, t0 - idle_since + slept, done - t0 - slept);
		if (!alive)
			return;
		idle_since = done;
	}
}

void busypoll_stop(uv_loop_t *loop)
{
	struct busypoll *bp = loop->data;
	bp->stopped = 1;
	/* Only uv_run(UV_RUN_DEFAULT) needs telling; a flag left set would make
	 * the caller's next uv_run return at once. */
	if (bp->max_ns == 0)
		uv_stop(loop);
}
