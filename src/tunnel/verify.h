/* SPDX-License-Identifier: MIT */
/*
 * verify: judges first messages off the loop. Trying every key on a first
 * message costs up to 2 * keys trials, and an IK message two DH; on the loop that carries all
 * traffic that would let junk from strangers stall every tunnel. So message 1 goes to libuv's
 * thread pool, one verification at a time (the pool also serves name resolution), from a bounded
 * queue that holds at most a few messages per source. The result comes back on the loop, where the
 * caller consults the replay cache (which only the loop touches).
 */
#ifndef POSTERN_VERIFY_H
#define POSTERN_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tunnel/handshake.h"
#include "tunnel/handshake_ik.h"

enum {
	VERIFY_QUEUE_MAX = 64, /* first messages waiting for a verdict, all sources */
	VERIFY_PER_SOURCE = 8, /* of which one source may hold (queued or running); as
				max_unauth_per_source, so a NAT of clients is not refused */
	VERIFY_SOURCE_MAX = 16,
};

struct verify;
struct verify_job;

/*
 * verify_cb(arg, found, f): on the loop. ${found} is handshake_find()'s
 * result; ${f} is valid during the call only (the caller may take f->hs by
 * setting it to NULL).
 */
typedef void (*verify_cb)(void *arg, int found, struct handshake_found *f);

/* verify_new(loop, keys): a queue judging against ${keys}, which it owns from now on. */
struct verify *verify_new(uv_loop_t *loop, struct handshake_keys *keys);

/*
 * verify_submit(v, src, srclen, msg1, cb, arg): queue ${msg1} (copied) from
 * source ${src} (an opaque key of at most VERIFY_SOURCE_MAX bytes). Returns
 * the job, or NULL when the queue or the source's share is full (the caller
 * refuses the connection). ${cb} fires exactly once unless the job is
 * cancelled first, never from inside verify_submit.
 */
struct verify_job *verify_submit(struct verify *v, const void *src, size_t srclen,
				 const uint8_t msg1[HANDSHAKE_MSG_LEN], verify_cb cb, void *arg);

/*
 * verify_set_ik(v, ik): judge IK first messages against ${ik} too (owned
 * from now on; NULL removes it). As with verify_set_keys(), a table given
 * while a job runs takes over when that job is done, and the job is judged
 * again with it.
 */
void verify_set_ik(struct verify *v, struct handshake_ik *ik);

/* verify_ik(v): the IK table, for the loop's mac1 check; NULL if none. */
const struct handshake_ik *verify_ik(const struct verify *v);

/*
 * verify_submit_ik(v, src, srclen, msg1, alg, cb, arg): as verify_submit()
 * for a 128-byte IK message whose mac1 said suite ${alg}
 * (handshake_ik_mac1()); the worker runs handshake_ik_find().
 */
struct verify_job *verify_submit_ik(struct verify *v, const void *src, size_t srclen,
				    const uint8_t msg1[HANDSHAKE_IK_MSG_LEN], int alg, verify_cb cb,
				    void *arg);

/* verify_cancel(j): ${cb} will not fire; ${j} is invalid from now on. NULL is a no-op. */
void verify_cancel(struct verify_job *j);

/*
 * verify_set_keys(v, keys): judge against ${keys} (owned from now on) from
 * now on: a reload. Waiting jobs get the new set; a job already on a worker
 * is judged again with it when it comes back, so every verdict's key index
 * is one of ${keys}. Returns 0, or -1 (${keys} not taken) on a bad argument.
 */
int verify_set_keys(struct verify *v, struct handshake_keys *keys);

/* verify_queued(v): jobs waiting or running. */
size_t verify_queued(const struct verify *v);

/*
 * verify_free(v): cancel every job and free. A verification already on a
 * worker finishes first: the memory goes when its completion runs on the
 * loop, so the caller must run the loop once more (as the shutdown does).
 * NULL is a no-op.
 */
void verify_free(struct verify *v);

#endif
