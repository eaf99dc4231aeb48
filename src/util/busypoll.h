/* SPDX-License-Identifier: MIT */
/*
 * busypoll: run a libuv loop that polls briefly before it sleeps.
 *
 * A relay's latency is mostly wake-ups: every hop puts a process to sleep in
 * epoll_wait and wakes it again, and waking a halted CPU (above all a virtual
 * one, where halting exits to the hypervisor) costs more than the relaying.
 * After activity we therefore keep polling for a short window, yielding the
 * CPU to anything runnable in between, so the reply to what we just forwarded
 * usually finds us awake.  The window adapts like KVM's halt polling: it grows
 * while sleeps would have been short and shrinks when polling finds nothing, so
 * an idle or trickling tunnel soon stops spending CPU on it.
 */
#ifndef POSTERN_BUSYPOLL_H
#define POSTERN_BUSYPOLL_H

#include <stdint.h>
#include <uv.h>

#define BUSYPOLL_DEFAULT_US 100
#define BUSYPOLL_MAX_US	    1000

struct busypoll {
	uint64_t max_ns;    /* 0: never poll; plain uv_run */
	uint64_t window_ns; /* current window, 0 .. max_ns */
	int stopped;
};

/* busypoll_init(bp, max_us): configure; max_us 0 disables polling. */
void busypoll_init(struct busypoll *bp, unsigned max_us);

/* busypoll_run(bp, loop): like uv_run(loop, UV_RUN_DEFAULT), until no handle is
 * left or busypoll_stop().  Sets loop->data. */
void busypoll_run(struct busypoll *bp, uv_loop_t *loop);

/* busypoll_stop(loop): like uv_stop() for a loop run by busypoll_run. */
void busypoll_stop(uv_loop_t *loop);

/* busypoll_adapt(bp, idle_ns): adapt the window to an idle spell of that length
 * (polling included) that ended in a sleep.  Exposed for tests. */
void busypoll_adapt(struct busypoll *bp, uint64_t idle_ns);

#endif
