/* SPDX-License-Identifier: MIT */
/*
 * verify: the first-message queue. Owns the precomputed keys, the pending
 * jobs and the single uv_work_t on the thread pool; runs on the loop except
 * for work(), which only reads the keys and writes its own job.
 *
 * Why one job at a time: the pool has four threads by default and name
 * resolution for channels needs them; one verification bounds the CPU that
 * strangers' junk can take to one core, whatever the rate. Why a per-source
 * share: a queue served in arrival order lets one source fill it; with at
 * most VERIFY_PER_SOURCE entries each, a source gets a turn every
 * VERIFY_QUEUE_MAX / VERIFY_PER_SOURCE jobs at worst, however fast it sends.
 */
#include "tunnel/verify.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

struct verify_job {
	struct verify *v;
	struct verify_job *next;
	verify_cb cb;
	void *arg;
	int cancelled;
	int found;
	uint8_t src[VERIFY_SOURCE_MAX];
	size_t srclen;
	uint8_t msg1[HANDSHAKE_IK_MSG_LEN];
	int ik_alg; /* -1: a PSK message of HANDSHAKE_MSG_LEN bytes; else an IK one */
	struct handshake_found f;
};

struct verify {
	uv_loop_t *loop;
	struct handshake_keys *keys;
	struct handshake_keys *next_keys; /* a reload's set, waiting for the running job */
	struct handshake_ik *ik;	  /* NULL without a host key */
	struct handshake_ik *next_ik;	  /* a reload's IK table, waiting like next_keys */
	int has_next_ik;		  /* next_ik is set (NULL is a valid next table) */
	uv_work_t work;
	struct verify_job *running;
	struct verify_job *head, *tail; /* waiting, oldest first */
	size_t nqueued;			/* waiting + running */
	int freeing;
};

static void start_next(struct verify *v);

struct verify *verify_new(uv_loop_t *loop, struct handshake_keys *keys)
{
	struct verify *v = calloc(1, sizeof(*v));
	if (v == NULL || loop == NULL || keys == NULL) {
		free(v);
		return NULL;
	}
	v->loop = loop;
	v->keys = keys;
	v->work.data = v;
	return v;
}

static void job_free(struct verify_job *j)
{
	handshake_found_clear(&j->f);
	crypto_wipe(j, sizeof(*j));
	free(j);
}

static void destroy(struct verify *v)
{
	handshake_keys_free(v->next_keys);
	handshake_keys_free(v->keys);
	handshake_ik_free(v->next_ik);
	handshake_ik_free(v->ik);
	free(v);
}

/* On a pool thread: the only code here that runs off the loop. */
static void work(uv_work_t *w)
{
	struct verify *v = w->data;
	struct verify_job *j = v->running;
	if (j->ik_alg < 0)
		j->found = handshake_find(v->keys, j->msg1, &j->f);
	else
		j->found = v->ik == NULL ? 0 : handshake_ik_find(v->ik, j->msg1, j->ik_alg, &j->f);
}

static void after_work(uv_work_t *w, int status)
{
	struct verify *v = w->data;
	struct verify_job *j = v->running;
	v->running = NULL;
	if ((v->next_keys != NULL || v->has_next_ik) && !v->freeing) {
		/* Judged against the set a reload replaced: its key index means
		 * nothing now, so the job is judged again, first, with the new set. */
		if (v->next_keys != NULL) {
			handshake_keys_free(v->keys);
			v->keys = v->next_keys;
			v->next_keys = NULL;
		}
		if (v->has_next_ik) {
			handshake_ik_free(v->ik);
			v->ik = v->next_ik;
			v->next_ik = NULL;
			v->has_next_ik = 0;
		}
		/* Without a host key now, an IK message is judged: no key. */
		if (!j->cancelled && !(j->ik_alg >= 0 && v->ik == NULL)) {
			handshake_found_clear(&j->f);
			j->found = 0;
			j->next = v->head;
			v->head = j;
			if (v->tail == NULL)
				v->tail = j;
			start_next(v);
			return;
		}
		handshake_found_clear(&j->f);
		j->found = 0;
	}
	v->nqueued--;
	if (!j->cancelled && !v->freeing)
		j->cb(j->arg, status == 0 ? j->found : -1, &j->f);
	job_free(j);
	if (v->freeing) {
		destroy(v);
		return;
	}
	start_next(v);
}

static void start_next(struct verify *v)
{
	while (v->running == NULL && v->head != NULL) {
		struct verify_job *j = v->head;
		v->head = j->next;
		if (v->head == NULL)
			v->tail = NULL;
		v->running = j;
		if (uv_queue_work(v->loop, &v->work, work, after_work) == 0)
			return;
		/* Cannot happen with a valid loop; refuse rather than stall the queue. */
		v->running = NULL;
		v->nqueued--;
		if (!j->cancelled)
			j->cb(j->arg, -1, &j->f);
		job_free(j);
	}
}

static size_t source_count(const struct verify *v, const void *src, size_t srclen)
{
	size_t n = 0;
	const struct verify_job *r = v->running;
	if (r != NULL && !r->cancelled && r->srclen == srclen && memcmp(r->src, src, srclen) == 0)
		n++;
	for (const struct verify_job *j = v->head; j != NULL; j = j->next)
		if (j->srclen == srclen && memcmp(j->src, src, srclen) == 0)
			n++;
	return n;
}

void verify_set_ik(struct verify *v, struct handshake_ik *ik)
{
	if (v == NULL) {
		handshake_ik_free(ik);
		return;
	}
	/* The worker may be reading the table: swap only once it is done. */
	if (v->running != NULL) {
		handshake_ik_free(v->next_ik);
		v->next_ik = ik;
		v->has_next_ik = 1;
		return;
	}
	handshake_ik_free(v->ik);
	v->ik = ik;
}

const struct handshake_ik *verify_ik(const struct verify *v)
{
	return v == NULL ? NULL : v->ik;
}

static struct verify_job *submit(struct verify *v, const void *src, size_t srclen,
				 const uint8_t *msg1, int ik_alg, verify_cb cb, void *arg)
{
	if (v == NULL || v->freeing || cb == NULL || msg1 == NULL || srclen > VERIFY_SOURCE_MAX ||
	    (src == NULL && srclen > 0) || (ik_alg >= 0 && v->ik == NULL))
		return NULL;
	/* The scan is over at most VERIFY_QUEUE_MAX + 1 jobs. */
	if (v->nqueued >= VERIFY_QUEUE_MAX + 1 || source_count(v, src, srclen) >= VERIFY_PER_SOURCE)
		return NULL;
	struct verify_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	j->v = v;
	j->cb = cb;
	j->arg = arg;
	if (srclen > 0)
		memcpy(j->src, src, srclen);
	j->srclen = srclen;
	j->ik_alg = ik_alg;
	memcpy(j->msg1, msg1, ik_alg < 0 ? HANDSHAKE_MSG_LEN : HANDSHAKE_IK_MSG_LEN);
	if (v->tail != NULL)
		v->tail->next = j;
	else
		v->head = j;
	v->tail = j;
	v->nqueued++;
	start_next(v);
	return j;
}

struct verify_job *verify_submit(struct verify *v, const void *src, size_t srclen,
				 const uint8_t msg1[HANDSHAKE_MSG_LEN], verify_cb cb, void *arg)
{
	return submit(v, src, srclen, msg1, -1, cb, arg);
}

struct verify_job *verify_submit_ik(struct verify *v, const void *src, size_t srclen,
				    const uint8_t msg1[HANDSHAKE_IK_MSG_LEN], int alg, verify_cb cb,
				    void *arg)
{
	if (alg < 0)
		return NULL;
	return submit(v, src, srclen, msg1, alg, cb, arg);
}

void verify_cancel(struct verify_job *j)
{
	if (j == NULL)
		return;
	struct verify *v = j->v;
	if (v->running == j) {
		/* On a worker now: its completion frees it. */
		j->cancelled = 1;
		return;
	}
	struct verify_job **link = &v->head, *prev = NULL;
	while (*link != NULL && *link != j) {
		prev = *link;
		link = &(*link)->next;
	}
	if (*link == NULL)
		return;
	*link = j->next;
	if (v->tail == j)
		v->tail = prev;
	v->nqueued--;
	job_free(j);
}

int verify_set_keys(struct verify *v, struct handshake_keys *keys)
{
	if (v == NULL || keys == NULL || v->freeing)
		return -1;
	if (v->running != NULL) {
		handshake_keys_free(v->next_keys);
		v->next_keys = keys;
		return 0;
	}
	handshake_keys_free(v->keys);
	v->keys = keys;
	return 0;
}

size_t verify_queued(const struct verify *v)
{
	return v == NULL ? 0 : v->nqueued;
}

void verify_free(struct verify *v)
{
	if (v == NULL)
		return;
	while (v->head != NULL) {
		struct verify_job *j = v->head;
		v->head = j->next;
		job_free(j);
	}
	v->tail = NULL;
	if (v->running != NULL) {
		v->freeing = 1;
		return;
	}
	destroy(v);
}
