/* SPDX-License-Identifier: MIT */
#include "util/busypoll.h"

#include <poll.h>
#include <sched.h>

/* The first window after a short sleep; doubling from here reaches the default
 * maximum in three steps. */
#define START_NS 10000u

void busypoll_init(struct busypoll *bp, unsigned max_us)
{
	bp->max_ns = (uint64_t)(max_us > BUSYPOLL_MAX_US ? BUSYPOLL_MAX_US : max_us) * 1000;
	bp->window_ns = 0;
	bp->stopped = 0;
}

/*
 * KVM's rule: an idle spell no longer than the maximum means a longer window
 * would have caught the next event without sleeping, so grow; a longer one means
 * polling was wasted, so shrink.  A window that catches its event is left alone.
 */
void busypoll_adapt(struct busypoll *bp, uint64_t idle_ns)
{
	if (idle_ns > bp->max_ns) {
		bp->window_ns /= 2;
		if (bp->window_ns < START_NS)
			bp->window_ns = 0;
		return;
	}
	if (idle_ns <= bp->window_ns)
		return;
	bp->window_ns = bp->window_ns == 0 ? START_NS : bp->window_ns * 2;
	if (bp->window_ns > bp->max_ns)
		bp->window_ns = bp->max_ns;
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

/* Poll until the window passes with nothing to do.  Returns 0 when the loop
 * has ended, else the time the last activity finished. */
static uint64_t spin(struct busypoll *bp, uv_loop_t *loop, uint64_t idle_since)
{
	uint64_t now = idle_since;
	while (bp->window_ns > 0 && now - idle_since < bp->window_ns && !bp->stopped) {
		if (ready(loop)) {
			if (!uv_run(loop, UV_RUN_NOWAIT))
				return 0;
			idle_since = uv_hrtime();
		} else {
			/* Anything runnable here (the peer we are waiting for,
			 * perhaps) goes first. */
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
	uint64_t idle_since = uv_hrtime();
	while (!bp->stopped) {
		idle_since = spin(bp, loop, idle_since);
		if (idle_since == 0 || bp->stopped)
			return;
		struct pollfd p = {.fd = uv_backend_fd(loop), .events = POLLIN};
		int timeout = uv_backend_timeout(loop);
		if (timeout != 0)
			poll(&p, 1, timeout);
		busypoll_adapt(bp, uv_hrtime() - idle_since);
		if (!uv_run(loop, UV_RUN_NOWAIT))
			return;
		idle_since = uv_hrtime();
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
