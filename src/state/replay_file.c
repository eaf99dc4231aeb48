/* SPDX-License-Identifier: MIT */
/*
 * replay_file: owns ${state_dir}/replay.log, its lock and its sync timer.
 * It does not judge anything: crypto/replay.c holds the live set in memory
 * and this file only mirrors it, so that a restart can rebuild it.
 *
 * Layout: a 16-byte header ("postern-replay", 0, version 1), then 64-byte
 * records: id (32), expiry ms (8, big-endian), identity tag (8), zero (8),
 * the first 8 bytes of SHA-256 of the 56 bytes before (so a torn tail or a
 * flipped bit is skipped, never believed). Records are appended with one
 * write(2) before message 2 leaves, fdatasync'd within a second; when dead
 * records make up more than half of a log of at least
 * REPLAY_FILE_COMPACT_MIN, the live set is written to a new file, fsync'd
 * and renamed over the old one (then the directory is fsync'd), so the log
 * stays within about twice the live entries and a crash mid-compaction
 * leaves either the old log or the new one whole.
 */
#define LOG_COMPONENT "replay"
#include "state/replay_file.h"
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/log.h"
#include "util/wire.h"

static const uint8_t header[REPLAY_FILE_HDR_LEN] = "postern-replay\0\1";

struct tag_index {
	uint64_t tag;
	uint32_t owner;
};

struct replay_file {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_fs_t sync_req;
	int syncing, dirty;
	int dirfd, fd, retired_fd;
	char path[4096 + 32], tmp[4096 + 32];
	struct replay *rp;
	const uint64_t *tags;
	size_t ntags;
	struct tag_index *index; /* tags sorted, to map a stored tag to its owner */
	size_t records;
};

/* ---- records (pure) ---- */

static void checksum(const uint8_t *buf, uint8_t out[8])
{
	uint8_t h[32];
	crypto_hash(CRYPTO_SHA256, h, buf, REPLAY_FILE_REC_LEN - 8, NULL, 0);
	memcpy(out, h, 8);
}

void replay_record_encode(const struct replay_record *rec, uint8_t out[REPLAY_FILE_REC_LEN])
{
	memset(out, 0, REPLAY_FILE_REC_LEN);
	memcpy(out, rec->id, REPLAY_ID_LEN);
	store64_be(out + 32, rec->expiry_ms);
	store64_be(out + 40, rec->tag);
	checksum(out, out + 56);
}

int replay_record_decode(const uint8_t in[REPLAY_FILE_REC_LEN], struct replay_record *rec)
{
	static const uint8_t zero[8];
	uint8_t sum[8];
	checksum(in, sum);
	if (memcmp(sum, in + 56, 8) != 0 || memcmp(in + 48, zero, 8) != 0)
		return -1;
	memcpy(rec->id, in, REPLAY_ID_LEN);
	rec->expiry_ms = load64_be(in + 32);
	rec->tag = load64_be(in + 40);
	return 0;
}

uint64_t replay_file_tag(const char *name)
{
	uint8_t h[32];
	crypto_hash(CRYPTO_SHA256, h, (const uint8_t *)name, strlen(name), NULL, 0);
	return load64_be(h);
}

/* ---- tags ---- */

static int cmp_tag(const void *a, const void *b)
{
	const struct tag_index *x = a, *y = b;
	return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static uint32_t owner_of(const struct replay_file *f, uint64_t tag)
{
	struct tag_index key = {.tag = tag};
	const struct tag_index *hit = bsearch(&key, f->index, f->ntags, sizeof(*f->index), cmp_tag);
	return hit == NULL ? REPLAY_NO_OWNER : hit->owner;
}

static struct tag_index *index_new(const uint64_t *tags, size_t ntags)
{
	struct tag_index *index = calloc(ntags + 1, sizeof(*index));
	if (index == NULL)
		return NULL;
	for (size_t i = 0; i < ntags; i++)
		index[i] = (struct tag_index){tags[i], (uint32_t)i};
	qsort(index, ntags, sizeof(*index), cmp_tag);
	return index;
}

int replay_file_set_tags(struct replay_file *f, const uint64_t *tags, size_t ntags)
{
	if (f == NULL || (tags == NULL && ntags > 0))
		return -1;
	struct tag_index *index = index_new(tags, ntags);
	if (index == NULL)
		return -1;
	free(f->index);
	f->index = index;
	f->tags = tags;
	f->ntags = ntags;
	return 0;
}

static uint64_t tag_of(const struct replay_file *f, uint32_t owner)
{
	return owner < f->ntags ? f->tags[owner] : 0;
}

/* ---- file I/O ---- */

struct writer {
	struct replay_file *f;
	int fd;
	uint8_t buf[REPLAY_FILE_REC_LEN * 1024];
	size_t len;
	size_t records;
};

static int flush_writer(struct writer *w)
{
	int rc = fileio_write_all(w->fd, w->buf, w->len);
	w->len = 0;
	return rc;
}

static int write_entry(void *arg, const uint8_t *id, uint64_t expiry_ms, uint32_t owner)
{
	struct writer *w = arg;
	struct replay_record rec;
	memcpy(rec.id, id, REPLAY_ID_LEN);
	rec.expiry_ms = expiry_ms;
	rec.tag = tag_of(w->f, owner);
	if (w->len == sizeof(w->buf) && flush_writer(w) != 0)
		return -1;
	replay_record_encode(&rec, w->buf + w->len);
	w->len += REPLAY_FILE_REC_LEN;
	w->records++;
	return 0;
}

/*
 * Write the live set to a new file and rename it over the log. On failure
 * the old log stays in use, untouched.
 */
static int compact(struct replay_file *f)
{
	struct writer *w = malloc(sizeof(*w));
	int fd = -1, rc = -1;
	if (w == NULL)
		goto out;
	fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	w->f = f;
	w->fd = fd;
	w->len = 0;
	w->records = 0;
	if (fileio_write_all(fd, header, sizeof(header)) != 0 ||
	    replay_foreach(f->rp, write_entry, w) != 0 || flush_writer(w) != 0 || fsync(fd) != 0)
		goto out;
	if (rename(f->tmp, f->path) != 0)
		goto out;
	/* The rename itself is durable only once the directory is. */
	if (fsync(f->dirfd) != 0)
		log_warn("state directory fsync failed error=%s", log_q(strerror(errno)));
	/* An fdatasync may still run on the old descriptor: close it after. */
	if (f->syncing)
		f->retired_fd = f->fd;
	else if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	fd = -1;
	f->records = w->records;
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(f->tmp);
	}
	free(w);
	return rc;
}

/* Read the log into the cache; a torn tail or bad records are skipped with one warning. */
static int load(struct replay_file *f, uint64_t now_ms, char *err)
{
	uint8_t hdr[REPLAY_FILE_HDR_LEN], rec[REPLAY_FILE_REC_LEN];
	size_t bad = 0, live = 0, full = 0;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, REPLAY_FILE_ERR_MAX, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	FILE *in = fdopen(fd, "rb");
	if (in == NULL) {
		close(fd);
		snprintf(err, REPLAY_FILE_ERR_MAX, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	size_t n = fread(hdr, 1, sizeof(hdr), in);
	/* An empty file is a log that was created but never written. */
	if (n != 0 && (n != sizeof(hdr) || memcmp(hdr, header, sizeof(hdr)) != 0)) {
		fclose(in);
		snprintf(err, REPLAY_FILE_ERR_MAX,
			 "%s is not a postern replay log (move it away or choose another "
			 "state_dir)",
			 f->path);
		return -1;
	}
	while ((n = fread(rec, 1, sizeof(rec), in)) == sizeof(rec)) {
		struct replay_record r;
		if (replay_record_decode(rec, &r) != 0) {
			bad++;
			continue;
		}
		if (r.expiry_ms < now_ms)
			continue;
		if (replay_insert(f->rp, r.id, r.expiry_ms, owner_of(f, r.tag), now_ms) != 0)
			full++;
		else
			live++;
	}
	int rerr = ferror(in);
	fclose(in);
	if (rerr) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "%s: read error", f->path);
		return -1;
	}
	if (bad > 0 || n > 0)
		log_warn("skipped damaged records path=%s records=%zu torn_tail=%s", log_q(f->path),
			 bad, n > 0 ? "yes" : "no");
	if (full > 0)
		log_warn("live records did not fit in replay_cache path=%s records=%zu",
			 log_q(f->path), full);
	log_info("replay cache restored fingerprints=%zu path=%s", live, log_q(f->path));
	return 0;
}

static void on_synced(uv_fs_t *req)
{
	struct replay_file *f = req->data;
	if (req->result < 0)
		log_warn("fdatasync failed path=%s error=%s", log_q(f->path),
			 log_q(uv_strerror((int)req->result)));
	uv_fs_req_cleanup(req);
	f->syncing = 0;
	if (f->retired_fd >= 0) {
		close(f->retired_fd);
		f->retired_fd = -1;
	}
}

static void on_sync_timer(uv_timer_t *t)
{
	struct replay_file *f = t->data;
	if (!f->dirty || f->syncing)
		return;
	f->dirty = 0;
	f->sync_req.data = f;
	if (uv_fs_fdatasync(f->loop, &f->sync_req, f->fd, on_synced) == 0)
		f->syncing = 1;
}

/* Create the directory if only it is missing: a missing parent is a typo, not a first start. */
static int open_dir(struct replay_file *f, const char *dir, int lock, char *err)
{
	if (mkdir(dir, 0700) == 0)
		log_info("state directory created path=%s", log_q(dir));
	else if (errno != EEXIST) {
		snprintf(err, REPLAY_FILE_ERR_MAX,
			 "state_dir %s: cannot create: %s (create it, give --state-dir DIR, or "
			 "--state-dir none to keep the replay cache in memory only)",
			 dir, strerror(errno));
		return -1;
	}
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "state_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	/* flock is per open file: a second log of this server must not lock again. */
	if (lock && flock(f->dirfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "state_dir %s: %s", dir,
			 errno == EWOULDBLOCK ? "in use by another postern server"
					      : strerror(errno));
		return -1;
	}
	return 0;
}

struct replay_file *replay_file_open(uv_loop_t *loop, const char *dir, struct replay *rp,
				     const uint64_t *tags, size_t ntags, uint64_t now_ms, char *err)
{
	return replay_file_open_name(loop, dir, REPLAY_FILE_NAME, 1, rp, tags, ntags, now_ms, err);
}

struct replay_file *replay_file_open_name(uv_loop_t *loop, const char *dir, const char *name,
					  int lock, struct replay *rp, const uint64_t *tags,
					  size_t ntags, uint64_t now_ms, char *err)
{
	struct replay_file *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "out of memory");
		return NULL;
	}
	f->dirfd = f->fd = f->retired_fd = -1;
	f->loop = loop;
	f->rp = rp;
	f->tags = tags;
	f->ntags = ntags;
	if (strlen(dir) > 4096) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "state_dir: path too long");
		goto fail;
	}
	if (strlen(name) > 30 || strchr(name, '/') != NULL) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "state_dir: bad log name");
		goto fail;
	}
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	snprintf(f->tmp, sizeof(f->tmp), "%s/%s.tmp", dir, name);
	f->index = index_new(tags, ntags);
	if (f->index == NULL) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "out of memory");
		goto fail;
	}
	if (open_dir(f, dir, lock, err) != 0 || load(f, now_ms, err) != 0)
		goto fail;
	/* Start from a compacted log: it also proves the directory writable. */
	if (compact(f) != 0) {
		snprintf(err, REPLAY_FILE_ERR_MAX, "state_dir %s: cannot write %s: %s", dir,
			 f->path, strerror(errno));
		goto fail;
	}
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	uv_timer_start(&f->timer, on_sync_timer, REPLAY_FILE_SYNC_MS, REPLAY_FILE_SYNC_MS);
	/* The timer must not keep a stopping server alive. */
	uv_unref((uv_handle_t *)&f->timer);
	/* One sync now starts libuv's thread pool at start-up, not under the
	 * first knocks or handshakes (its threads cost a few hundred us). */
	f->dirty = 1;
	on_sync_timer(&f->timer);
	return f;
fail:
	if (f->dirfd >= 0)
		close(f->dirfd);
	if (f->fd >= 0)
		close(f->fd);
	free(f->index);
	free(f);
	return NULL;
}

int replay_file_append_n(struct replay_file *f, const struct replay_file_entry *e, size_t n)
{
	uint8_t buf[REPLAY_FILE_REC_LEN * REPLAY_FILE_BATCH_MAX];
	if (f == NULL || f->fd < 0 || n > REPLAY_FILE_BATCH_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct replay_record rec;
		memcpy(rec.id, e[i].id, REPLAY_ID_LEN);
		rec.expiry_ms = e[i].expiry_ms;
		rec.tag = tag_of(f, e[i].owner);
		replay_record_encode(&rec, buf + i * REPLAY_FILE_REC_LEN);
	}
	/* O_APPEND and one write: a crash leaves each record whole or torn, never misplaced. */
	if (fileio_write_all(f->fd, buf, n * REPLAY_FILE_REC_LEN) != 0) {
		log_warn("write failed path=%s error=%s", log_q(f->path), log_q(strerror(errno)));
		return -1;
	}
	f->records += n;
	f->dirty = 1;
	size_t live = replay_count(f->rp);
	if (f->records >= REPLAY_FILE_COMPACT_MIN && f->records > 2 * live) {
		if (compact(f) != 0)
			log_warn("compaction failed (the log keeps growing) path=%s error=%s",
				 log_q(f->path), log_q(strerror(errno)));
	}
	return 0;
}

int replay_file_append(struct replay_file *f, const uint8_t id[REPLAY_ID_LEN], uint64_t expiry_ms,
		       uint32_t owner)
{
	struct replay_file_entry e = {.expiry_ms = expiry_ms, .owner = owner};
	memcpy(e.id, id, REPLAY_ID_LEN);
	return replay_file_append_n(f, &e, 1);
}

size_t replay_file_records(const struct replay_file *f)
{
	return f == NULL ? 0 : f->records;
}

void replay_file_close(struct replay_file *f)
{
	if (f == NULL)
		return;
	if (f->fd >= 0) {
		fdatasync(f->fd);
		close(f->fd);
	}
	if (f->retired_fd >= 0)
		close(f->retired_fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->index);
	free(f);
}
