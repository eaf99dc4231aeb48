/* SPDX-License-Identifier: MIT */
/*
 * busypoll: run a libuv loop that polls briefly before it sleeps, when that pays.
 *
 * A relay's latency is mostly wake-ups: every hop puts a process to sleep in
 * epoll_wait and wakes it again, and waking a halted CPU (above all a virtual
 * one, where halting exits to the hypervisor) costs more than the relaying.
 * When events have been coming back to back we therefore keep polling for up
 * to max_ns after each one, yielding the CPU to anything runnable in between,
 * so the reply to what we just forwarded usually finds us awake.
 *
 * Polling only pays when it catches the next event, so the loop predicts: it
 * keeps a moving average of how many recent idle spells were short enough to
 * catch (<= max_ns), starts polling when seven in eight were and stops when
 * fewer than five in eight were (long spells weigh double).  Back-to-back
 * traffic (a request/response exchange, connection churn) turns it on within
 * twenty events; a stray slow spell or a pause between bursts leaves it on, two
 * long spells in a row, or every other one for a few rounds, turn it off.  A
 * trickle, a periodic request, an idle session or a bulk transfer (events that
 * each take half a window or more to handle) leave it off, so they cost what a
 * plain loop costs.
 */
#ifndef POSTERN_BUSYPOLL_H
#define POSTERN_BUSYPOLL_H

#include <stdint.h>
#include <uv.h>

#define BUSYPOLL_DEFAULT_US 100
#define BUSYPOLL_MAX_US	    1000

struct busypoll {
	uint64_t max_ns; /* 0: never poll; plain uv_run */
	int score;	 /* moving average of "spell was short", 0 .. 256 */
	int on;		 /* polling now; flips at two thresholds of score */
	int stopped;
};

/* busypoll_init(bp, max_us): configure; max_us 0 disables polling. */
void busypoll_init(struct busypoll *bp, unsigned max_us);

/* busypoll_run(bp, loop): like uv_run(loop, UV_RUN_DEFAULT), until no handle is
 * left or busypoll_stop().  Sets loop->data. */
void busypoll_run(struct busypoll *bp, uv_loop_t *loop);

/* busypoll_stop(loop): like uv_stop() for a loop run by busypoll_run. */
void busypoll_stop(uv_loop_t *loop);

/* busypoll_note(bp, idle_ns, busy_ns): learn from an idle spell that ended with
 * an event, and from the time the event took to handle.
 * busypoll_polling(bp): whether the loop polls after the next event.
 * Exposed for tests: the policy without the clock. */
void busypoll_note(struct busypoll *bp, uint64_t idle_ns, uint64_t busy_ns);
int busypoll_polling(const struct busypoll *bp);

#endif
