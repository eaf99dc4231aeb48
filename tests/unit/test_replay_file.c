/* SPDX-License-Identifier: MIT */
/*
 * replay_file: records round-trip and refuse damage; a log reopened restores
 * the live entries with their owners; compaction keeps the log near the live
 * set; the state directory is created with the right modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "state/replay_file.h"
#include "tmpdir.h"

#define T0    1700000000000ull
#define WIN_S 120

static void make_id(uint8_t id[REPLAY_ID_LEN], unsigned n)
{
	memset(id, 0, REPLAY_ID_LEN);
	memcpy(id, &n, sizeof(n));
	id[31] = 0x5a;
}

static void test_record_codec(void **state)
{
	(void)state;
	struct replay_record r = {.expiry_ms = T0, .tag = 0x0102030405060708ull}, back;
	uint8_t buf[REPLAY_FILE_REC_LEN];
	make_id(r.id, 7);
	replay_record_encode(&r, buf);
	assert_int_equal(replay_record_decode(buf, &back), 0);
	assert_memory_equal(back.id, r.id, REPLAY_ID_LEN);
	assert_true(back.expiry_ms == T0 && back.tag == r.tag);
	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] ^= 0x01;
		assert_int_equal(replay_record_decode(buf, &back), -1);
		buf[i] ^= 0x01;
	}
	assert_true(replay_file_tag("alice") != replay_file_tag("bob"));
	assert_true(replay_file_tag("alice") == replay_file_tag("alice"));
}

/* Append n entries accepted at now_ms for owner 0 (fresh ids from *next). */
static void accept_n(struct replay *rp, struct replay_file *f, unsigned n, uint64_t ts,
		     uint64_t now_ms, unsigned *next)
{
	uint8_t id[REPLAY_ID_LEN];
	for (unsigned i = 0; i < n; i++) {
		make_id(id, (*next)++);
		assert_int_equal(replay_check_as(rp, id, ts, now_ms, 0), REPLAY_OK);
		assert_int_equal(replay_file_append(f, id, ts + WIN_S * 1000, 0), 0);
	}
}

static void test_restore_and_compact(void **state)
{
	struct dir *d = *state;
	char dir[128];
	uint64_t tags[2] = {replay_file_tag("a"), replay_file_tag("b")};
	uv_loop_t loop;
	unsigned next = 0;
	uint8_t id[REPLAY_ID_LEN];
	char err[REPLAY_FILE_ERR_MAX];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/state", d->path);
	assert_int_equal(uv_loop_init(&loop), 0);

	struct replay *rp = replay_new(WIN_S, 16384);
	assert_int_equal(replay_set_quota(rp, 2, 16384), 0);
	struct replay_file *f = replay_file_open(&loop, dir, rp, tags, 2, T0, err);
	assert_non_null(f);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* 3000 that expire one second after T0, then fresh ones at T0 + 2 s. */
	accept_n(rp, f, 3000, T0 - (WIN_S - 1) * 1000ull, T0, &next);
	assert_int_equal(replay_file_records(f), 3000);
	accept_n(rp, f, 1200, T0 + 2000, T0 + 2000, &next);
	/* 4200 records, 1200 live: compacted down to the live ones. */
	assert_true(replay_file_records(f) < 4096);
	assert_true(replay_file_records(f) >= 1096);
	uv_walk(&loop, (uv_walk_cb)uv_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	replay_file_close(f);
	replay_free(rp);

	/* Reopened: the live 1200 come back, charged to their key; the expired do not. */
	char path[192];
	snprintf(path, sizeof(path), "%s/replay.log", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	rp = replay_new(WIN_S, 16384);
	assert_int_equal(replay_set_quota(rp, 2, 16384), 0);
	f = replay_file_open(&loop, dir, rp, tags, 2, T0 + 3000, err);
	assert_non_null(f);
	assert_int_equal(replay_count(rp), 1200);
	assert_int_equal(replay_owner_count(rp, 0), 1200);
	assert_int_equal(replay_file_records(f), 1200);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, REPLAY_FILE_HDR_LEN + 1200 * REPLAY_FILE_REC_LEN);
	make_id(id, 3000);
	assert_int_equal(replay_check_as(rp, id, T0 + 3000, T0 + 3000, 1), REPLAY_SEEN);
	make_id(id, 0);
	assert_int_equal(replay_check_as(rp, id, T0 + 3000, T0 + 3000, 1), REPLAY_OK);

	/* A second server on the same directory is refused. */
	struct replay *rp2 = replay_new(WIN_S, 1024);
	assert_null(replay_file_open(&loop, dir, rp2, tags, 2, T0, err));
	assert_non_null(strstr(err, "in use by another postern server"));
	replay_free(rp2);

	uv_walk(&loop, (uv_walk_cb)uv_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	replay_file_close(f);
	replay_free(rp);
	assert_int_equal(uv_loop_close(&loop), 0);
	replay_file_close(NULL);
}

static void test_bad_dirs(void **state)
{
	char dir[160], err[REPLAY_FILE_ERR_MAX];
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct replay *rp = replay_new(WIN_S, 1024);
	in_dir(state, "missing/parent", dir, sizeof(dir));
	assert_null(replay_file_open(&loop, dir, rp, NULL, 0, T0, err));
	assert_non_null(strstr(err, "cannot create"));
	in_dir(state, "foreign", dir, sizeof(dir));
	assert_int_equal(mkdir(dir, 0700), 0);
	char path[192];
	snprintf(path, sizeof(path), "%s/replay.log", dir);
	write_file(path, "not a replay log at all\n", 24, 0600);
	assert_null(replay_file_open(&loop, dir, rp, NULL, 0, T0, err));
	assert_non_null(strstr(err, "is not a postern replay log"));
	replay_free(rp);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Two logs in one state directory (replay.log and knock.log): separate
 * records, one lock, and a second server still shut out. */
static void test_second_log(void **state)
{
	struct dir *d = *state;
	char dir[128], err[REPLAY_FILE_ERR_MAX];
	uint64_t tags[1] = {replay_file_tag("a")};
	uint8_t id[REPLAY_ID_LEN] = {7};
	uv_loop_t loop;
	snprintf(dir, sizeof(dir), "%s/state", d->path);
	assert_int_equal(uv_loop_init(&loop), 0);
	struct replay *r1 = replay_new(WIN_S, 1024), *r2 = replay_new(WIN_S, 1024);
	struct replay_file *f1 = replay_file_open(&loop, dir, r1, tags, 1, T0, err);
	assert_non_null(f1);
	struct replay_file *f2 =
	    replay_file_open_name(&loop, dir, REPLAY_FILE_KNOCKS, 0, r2, tags, 1, T0, err);
	assert_non_null(f2);
	assert_null(replay_file_open_name(&loop, dir, "../x", 0, r2, tags, 1, T0, err));
	assert_int_equal(replay_check_as(r2, id, T0, T0, 0), REPLAY_OK);
	assert_int_equal(replay_file_append(f2, id, T0 + WIN_S * 1000ull, 0), 0);
	assert_int_equal(replay_file_records(f1), 0);
	assert_int_equal(replay_file_records(f2), 1);
	uv_walk(&loop, (uv_walk_cb)uv_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	replay_file_close(f2);
	replay_file_close(f1);
	replay_free(r1);
	replay_free(r2);
	/* Reopened: the knock is in knock.log only. */
	r1 = replay_new(WIN_S, 1024);
	r2 = replay_new(WIN_S, 1024);
	f1 = replay_file_open(&loop, dir, r1, tags, 1, T0 + 1000, err);
	f2 = replay_file_open_name(&loop, dir, REPLAY_FILE_KNOCKS, 0, r2, tags, 1, T0 + 1000, err);
	assert_non_null(f1);
	assert_non_null(f2);
	assert_int_equal(replay_count(r1), 0);
	assert_int_equal(replay_count(r2), 1);
	assert_int_equal(replay_check_as(r2, id, T0, T0 + 1000, 0), REPLAY_SEEN);
	/* The directory is locked by the first log: another server cannot start. */
	struct replay *r3 = replay_new(WIN_S, 1024);
	assert_null(replay_file_open(&loop, dir, r3, tags, 1, T0, err));
	assert_non_null(strstr(err, "in use by another postern server"));
	replay_free(r3);
	uv_walk(&loop, (uv_walk_cb)uv_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	replay_file_close(f2);
	replay_file_close(f1);
	replay_free(r1);
	replay_free(r2);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_codec),
	    cmocka_unit_test_setup_teardown(test_restore_and_compact, tmpdir_setup,
					    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_dirs, tmpdir_setup, tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_second_log, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
