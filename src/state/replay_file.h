/* SPDX-License-Identifier: MIT */
/*
 * replay_file: the replay cache on disk, so that a restarted server still
 * refuses every first message it accepted within the window (silence must
 * survive a restart). An append-only log of fixed-size records in the
 * state directory; format and crash guarantees in docs/ARCHITECTURE.md
 * ("State directory"). Runs on the loop thread; its writes are small
 * write(2) calls to the page cache, the fdatasync runs on the thread pool.
 */
#ifndef POSTERN_REPLAY_FILE_H
#define POSTERN_REPLAY_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/replay.h"

enum {
	REPLAY_FILE_HDR_LEN = 16,
	REPLAY_FILE_REC_LEN = 64,
	REPLAY_FILE_SYNC_MS = 1000,	/* fdatasync at most this long after a write */
	REPLAY_FILE_COMPACT_MIN = 4096, /* never compact a log shorter than this */
	REPLAY_FILE_ERR_MAX = 256,
};

#define REPLAY_FILE_NAME   "replay.log"
#define REPLAY_FILE_KNOCKS "knock.log" /* accepted knocks (spa/spa.c) */

/* One record as stored. */
struct replay_record {
	uint8_t id[REPLAY_ID_LEN];
	uint64_t expiry_ms;
	uint64_t tag; /* identity tag: replay_file_tag() of the key's name */
};

/* replay_record_encode(rec, out): the 64 bytes of ${rec}, checksum included. */
void replay_record_encode(const struct replay_record *rec, uint8_t out[REPLAY_FILE_REC_LEN]);

/*
 * replay_record_decode(in, rec): parse 64 untrusted bytes. Returns 0, or -1
 * when the checksum or the reserved bytes are wrong (a torn or foreign
 * record). Pure.
 */
int replay_record_decode(const uint8_t in[REPLAY_FILE_REC_LEN], struct replay_record *rec);

/* replay_file_tag(name): a stable 64-bit tag for an identity name. */
uint64_t replay_file_tag(const char *name);

struct replay_file;

/*
 * replay_file_open(loop, dir, rp, tags, ntags, now_ms, err): create ${dir}
 * (mode 0700) if it is missing and its parent exists, lock it against a
 * second server, read ${dir}/replay.log (mode 0600, created if missing)
 * into ${rp} (entries still live at ${now_ms}; owner = index of their tag in
 * ${tags}, else none), rewrite it compacted, and start the sync timer on
 * ${loop}. ${rp} and ${tags} must outlive the file. Returns NULL with a
 * message in ${err} (REPLAY_FILE_ERR_MAX bytes) on any failure: a server
 * must not run with a state directory it cannot use.
 */
struct replay_file *replay_file_open(uv_loop_t *loop, const char *dir, struct replay *rp,
				     const uint64_t *tags, size_t ntags, uint64_t now_ms,
				     char *err);

/*
 * replay_file_open_name(loop, dir, name, lock, rp, tags, ntags, now_ms, err):
 * replay_file_open() for the log ${name} in ${dir} (the tunnel's is
 * REPLAY_FILE_NAME, knocks' REPLAY_FILE_KNOCKS): a second cache of the same
 * server shares the directory, so only the first open passes ${lock} = 1.
 */
struct replay_file *replay_file_open_name(uv_loop_t *loop, const char *dir, const char *name,
					  int lock, struct replay *rp, const uint64_t *tags,
					  size_t ntags, uint64_t now_ms, char *err);

/*
 * replay_file_append(f, id, expiry_ms, owner): record an accepted first
 * message (owner: an index into the tags, or REPLAY_NO_OWNER) with one
 * write(2), so that it survives a crash of the process as soon as this
 * returns 0; durable across power loss within REPLAY_FILE_SYNC_MS. May
 * compact the log. Returns -1 if the record could not be written.
 */
int replay_file_append(struct replay_file *f, const uint8_t id[REPLAY_ID_LEN], uint64_t expiry_ms,
		       uint32_t owner);

/* One record of a batch for replay_file_append_n(). */
struct replay_file_entry {
	uint8_t id[REPLAY_ID_LEN];
	uint64_t expiry_ms;
	uint32_t owner;
};

enum { REPLAY_FILE_BATCH_MAX = 256 };

/*
 * replay_file_append_n(f, e, n): replay_file_append() for ${n} (at most
 * REPLAY_FILE_BATCH_MAX) records in one write(2): the knock receiver
 * records a whole batch of knocks before it opens anything. 0 or -1.
 */
int replay_file_append_n(struct replay_file *f, const struct replay_file_entry *e, size_t n);

/*
 * replay_file_set_tags(f, tags, ntags): a reload renumbered the identities:
 * owner i is ${tags[i]} from now on (${tags} must outlive the file or the
 * next call). Records already written keep their tags, so an identity that
 * returns in a later reload finds its entries. Returns 0 or -1 (unchanged).
 */
int replay_file_set_tags(struct replay_file *f, const uint64_t *tags, size_t ntags);

/* replay_file_records(f): records in the log now (for tests and status). */
size_t replay_file_records(const struct replay_file *f);

/*
 * replay_file_close(f): fdatasync, unlock and free. The timer is an
 * ordinary handle of the loop: the owner closes it with the others (a
 * uv_walk) and runs the loop before this. NULL is a no-op.
 */
void replay_file_close(struct replay_file *f);

#endif
