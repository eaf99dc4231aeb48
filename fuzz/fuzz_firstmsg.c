/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the server's whole first-message path: abuse
 * admission, the key search over precomputed states (handshake_find), the
 * timestamp window, the replay cache with per-key quotas (handshake_accept)
 * and the replay log's record parser. The input is a script of commands, so
 * one input can replay a valid message, step the clock, fill a quota or
 * send garbage from a banned source:
 *
 *   0 <64 bytes>            raw message 1 from source s (next byte)
 *   1 k a e v t1 t0 s       a message built by the client side: key k % 4
 *                           (3 = a key the server lacks), suite a & 1, fixed
 *                           ephemeral number e, version v, timestamp offset
 *                           (int16 BE seconds) from the clock, source s
 *   2 d1 d0                 advance the clock by d * 100 ms
 *   3 <64 bytes>            a replay log record (replay_record_decode)
 *
 * Invariants checked: the cache never holds more than its capacity nor a
 * key more than its quota; a message accepted once is never accepted again
 * while its timestamp is in the window.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/replay.h"
#include "guard/abuse.h"
#include "state/replay_file.h"
#include "tunnel/handshake.h"
#include "util/wire.h"

enum { NKEYS = 3, CAPACITY = 48, QUOTA = 16, WINDOW_S = 30, NACCEPTED = 64 };

static const uint8_t psks[NKEYS + 1][CRYPTO_KEY_LEN] = {
    "fuzz key zero, 32 bytes long...",
    "fuzz key one, 32 bytes long....",
    "fuzz key two, 32 bytes long....",
    "a key the server does not hold",
};
static struct handshake_keys *keys;

static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const uint8_t *p[NKEYS] = {psks[0], psks[1], psks[2]};
	(void)argc;
	(void)argv;
	keys = handshake_keys_new(p, NKEYS);
	require(keys != NULL);
	return 0;
}

/* A deterministic message 1, as handshake_client_begin() writes it but with a fixed e. */
static int build(unsigned k, unsigned alg, unsigned e, uint8_t version, uint64_t ts_ms,
		 uint8_t out[HANDSHAKE_MSG_LEN])
{
	uint8_t e_fixed[CRYPTO_DH_LEN], payload[HANDSHAKE_PAYLOAD_LEN] = {0};
	memset(e_fixed, 0x40, sizeof(e_fixed));
	e_fixed[0] = (uint8_t)e;
	struct noise_params p = {
	    .protocol_name = handshake_protocol_name((enum crypto_aead_alg)alg),
	    .initiator = 1,
	    .prologue = (const uint8_t *)HANDSHAKE_PROLOGUE,
	    .prologue_len = sizeof(HANDSHAKE_PROLOGUE) - 1,
	    .psk = psks[k],
	    .e_fixed = e_fixed,
	};
	struct noise_hs *hs = noise_hs_new(&p);
	store64_be(payload, ts_ms);
	payload[8] = version;
	long n =
	    hs == NULL ? -1 : noise_hs_write(hs, payload, sizeof(payload), out, HANDSHAKE_MSG_LEN);
	noise_hs_free(hs);
	return n == HANDSHAKE_MSG_LEN ? 0 : -1;
}

struct world {
	struct replay *rp;
	struct abuse *ab;
	uint64_t now_ms;
	uint8_t accepted[NACCEPTED][REPLAY_ID_LEN];
	uint64_t accepted_ts[NACCEPTED];
	size_t naccepted;
};

static void judge(struct world *w, const uint8_t msg1[HANDSHAKE_MSG_LEN], uint8_t source)
{
	struct abuse_source src = {.bytes = {10, 0, 0, source}, .len = 4}, evict;
	enum abuse_admit a = abuse_admit(w->ab, &src, w->now_ms, &evict);
	if (a != ABUSE_ADMIT && a != ABUSE_EVICT_OLDEST)
		return;
	if (a == ABUSE_EVICT_OLDEST)
		abuse_release(w->ab, &evict);
	struct handshake_found f;
	uint8_t msg2[HANDSHAKE_MSG_LEN];
	struct noise_cipher tx = {0}, rx = {0};
	uint64_t ts = 0;
	enum handshake_verdict v = HANDSHAKE_NO_KEY;
	int found = handshake_find(keys, msg1, &f);
	require(found >= 0);
	if (found == 1) {
		require(f.which < NKEYS);
		v = handshake_accept(&f, w->rp, (uint32_t)f.which, w->now_ms, msg2, &tx, &rx, &ts);
	}
	if (v == HANDSHAKE_OK) {
		/* Never twice within the window. */
		for (size_t i = 0; i < w->naccepted; i++)
			require(memcmp(w->accepted[i], f.id, REPLAY_ID_LEN) != 0 ||
				w->now_ms > w->accepted_ts[i] + WINDOW_S * 1000);
		if (w->naccepted < NACCEPTED) {
			memcpy(w->accepted[w->naccepted], f.id, REPLAY_ID_LEN);
			w->accepted_ts[w->naccepted++] = ts;
		}
		require(tx.aead != NULL && rx.aead != NULL);
	} else {
		abuse_fail(w->ab, &src, w->now_ms);
	}
	abuse_release(w->ab, &src);
	handshake_found_clear(&f);
	noise_cipher_clear(&tx);
	noise_cipher_clear(&rx);
	require(replay_count(w->rp) <= CAPACITY);
	for (uint32_t k = 0; k < NKEYS; k++)
		require(replay_owner_count(w->rp, k) <= QUOTA);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct abuse_config ac = {.ban_threshold = 4,
				  .ban_window_s = 60,
				  .ban_time_s = 120,
				  .max_unauth = 8,
				  .max_unauth_per_source = 2,
				  .table_size = 64};
	struct world w = {.now_ms = 1700000000000ull};
	w.rp = replay_new(WINDOW_S, CAPACITY);
	w.ab = abuse_new(&ac);
	require(w.rp != NULL && w.ab != NULL && replay_set_quota(w.rp, NKEYS, QUOTA) == 0);
	size_t i = 0;
	while (i < size) {
		uint8_t cmd = data[i++] % 4;
		if (cmd == 0 && size - i >= HANDSHAKE_MSG_LEN + 1) {
			judge(&w, data + i, data[i + HANDSHAKE_MSG_LEN]);
			i += HANDSHAKE_MSG_LEN + 1;
		} else if (cmd == 1 && size - i >= 7) {
			const uint8_t *a = data + i;
			int16_t off = (int16_t)(((unsigned)a[4] << 8) | a[5]);
			uint8_t msg1[HANDSHAKE_MSG_LEN];
			uint64_t ts = w.now_ms + (uint64_t)((int64_t)off * 1000);
			if (build(a[0] % 4, a[1] & 1, a[2], a[3], ts, msg1) == 0)
				judge(&w, msg1, a[6]);
			i += 7;
		} else if (cmd == 2 && size - i >= 2) {
			w.now_ms += (uint64_t)(((unsigned)data[i] << 8) | data[i + 1]) * 100;
			i += 2;
		} else if (cmd == 3 && size - i >= REPLAY_FILE_REC_LEN) {
			struct replay_record rec, again;
			uint8_t out[REPLAY_FILE_REC_LEN];
			if (replay_record_decode(data + i, &rec) == 0) {
				/* What decodes re-encodes to the same bytes. */
				replay_record_encode(&rec, out);
				require(memcmp(out, data + i, sizeof(out)) == 0);
				require(replay_record_decode(out, &again) == 0);
			}
			i += REPLAY_FILE_REC_LEN;
		} else {
			break;
		}
	}
	replay_free(w.rp);
	abuse_free(w.ab);
	return 0;
}
