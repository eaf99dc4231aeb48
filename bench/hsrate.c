/* SPDX-License-Identifier: MIT */
/*
 * hsrate: new authenticated postern sessions per second, or junk first
 * messages sent as fast as the server takes them, for bench/hsbench.py.
 * The handshake is the client's own code (tunnel/handshake*.c), so what is
 * measured is the server's accept-to-message-2 path plus one client.
 *
 *   hsrate psk KEYFILE HOST PORT CONC SECS
 *   hsrate ik KEYFILE SERVER_PUB HOST PORT CONC SECS
 *       CONC threads, each: connect, message 1, read and check message 2,
 *       close; for SECS seconds. Prints {"sessions":N,"secs":S,"rate":R,"errors":E}.
 *   hsrate hold KEYFILE SERVER_PUB|- HOST PORT N
 *       N sessions one after another, all kept open; prints {"held":N} and
 *       then waits for the end of stdin before closing them (for the
 *       server's memory per idle session).
 *   hsrate junk HOST PORT N [SERVER_PUB]
 *       N connections each sending 64 random bytes (or, with SERVER_PUB, a
 *       128-byte IK message from an unlisted key: a valid mac1, so the server
 *       does the DH) and closing at once. Prints {"sent":N,"secs":S}.
 *
 *   make && cc -O2 -Isrc -o build/hsrate bench/hsrate.c build/libpostern.a \
 *       -lcrypto -lpthread
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/handshake.h"
#include "tunnel/handshake_ik.h"
#include "util/keys.h"

static uint8_t key[CRYPTO_KEY_LEN], server_pub[CRYPTO_KEY_LEN];
static int ik;
static struct sockaddr_in addr;
static double stop_at;
static atomic_long done, errors;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct timeval tv = {.tv_sec = 10};
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int one_session_fd(int keep);

static int one_session(void)
{
	return one_session_fd(0);
}

/* keep: return the open descriptor instead of closing it (or -1). */
static int one_session_fd(int keep)
{
	uint8_t msg1[HANDSHAKE_IK_MSG_LEN], msg2[HANDSHAKE_MSG_LEN];
	struct noise_cipher tx = {0}, rx = {0};
	size_t len = ik ? HANDSHAKE_IK_MSG_LEN : HANDSHAKE_MSG_LEN, got = 0;
	int rc = -1, fd = dial();
	if (fd < 0)
		return -1;
	struct noise_hs *hs =
	    ik ? handshake_ik_client_begin(key, server_pub, CRYPTO_CHACHAPOLY, wall_ms(), msg1)
	       : handshake_client_begin(key, CRYPTO_CHACHAPOLY, wall_ms(), msg1);
	if (hs == NULL || write(fd, msg1, len) != (ssize_t)len)
		goto out;
	while (got < sizeof(msg2)) {
		ssize_t n = read(fd, msg2 + got, sizeof(msg2) - got);
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	rc = handshake_client_finish(hs, msg2, &tx, &rx);
	hs = NULL;
out:
	noise_hs_free(hs);
	noise_cipher_clear(&tx);
	noise_cipher_clear(&rx);
	if (keep && rc == 0)
		return fd;
	close(fd);
	return keep ? -1 : rc;
}

static int hold(int n)
{
	char buf[64];
	int *fds = calloc((size_t)n, sizeof(*fds)), held = 0;
	for (int i = 0; fds != NULL && i < n; i++) {
		fds[held] = one_session_fd(1);
		if (fds[held] >= 0)
			held++;
	}
	printf("{\"held\":%d}\n", held);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	for (int i = 0; i < held; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	while (now_s() < stop_at) {
		if (one_session() == 0)
			atomic_fetch_add(&done, 1);
		else
			atomic_fetch_add(&errors, 1);
	}
	return NULL;
}

static int set_addr(const char *host, const char *port)
{
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, host, &addr.sin_addr) == 1 ? 0 : -1;
}

static int load(const char *path, const char *pub)
{
	char err[KEYS_ERR_MAX];
	enum keys_kind kind;
	if (keys_load_any(path, &kind, key, err) != 0) {
		fprintf(stderr, "hsrate: %s\n", err);
		return -1;
	}
	ik = kind == KEYS_X25519;
	if (ik && (pub == NULL || keys_load_public(pub, server_pub, err) != 0)) {
		fprintf(stderr, "hsrate: server key: %s\n", pub ? err : "missing");
		return -1;
	}
	return 0;
}

static int junk(int n, const char *pub)
{
	uint8_t msg[HANDSHAKE_IK_MSG_LEN], stranger[CRYPTO_DH_LEN], spub[CRYPTO_DH_LEN];
	char err[KEYS_ERR_MAX];
	size_t len = HANDSHAKE_MSG_LEN;
	if (pub != NULL) {
		if (keys_load_public(pub, server_pub, err) != 0 || crypto_dh_keygen(stranger, spub))
			return 1;
		len = HANDSHAKE_IK_MSG_LEN;
	}
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		int fd = dial();
		if (fd < 0)
			continue;
		if (pub != NULL)
			noise_hs_free(handshake_ik_client_begin(stranger, server_pub,
								CRYPTO_CHACHAPOLY, wall_ms(), msg));
		else
			crypto_random(msg, sizeof(msg));
		if (write(fd, msg, len) != (ssize_t)len)
			atomic_fetch_add(&errors, 1);
		close(fd);
	}
	printf("{\"sent\":%d,\"secs\":%.3f,\"errors\":%ld}\n", n, now_s() - t0, (long)errors);
	return 0;
}

int main(int argc, char **argv)
{
	int conc, secs;
	if (argc >= 5 && strcmp(argv[1], "junk") == 0)
		return set_addr(argv[2], argv[3]) != 0
			   ? 2
			   : junk(atoi(argv[4]), argc > 5 ? argv[5] : NULL);
	if (argc == 7 && strcmp(argv[1], "hold") == 0) {
		struct rlimit rl = {.rlim_cur = 65536, .rlim_max = 65536};
		setrlimit(RLIMIT_NOFILE, &rl);
		if (load(argv[2], strcmp(argv[3], "-") == 0 ? NULL : argv[3]) != 0 ||
		    set_addr(argv[4], argv[5]) != 0)
			return 2;
		return hold(atoi(argv[6]));
	}
	if (argc == 7 && strcmp(argv[1], "psk") == 0) {
		if (load(argv[2], NULL) != 0 || set_addr(argv[3], argv[4]) != 0)
			return 2;
		conc = atoi(argv[5]);
		secs = atoi(argv[6]);
	} else if (argc == 8 && strcmp(argv[1], "ik") == 0) {
		if (load(argv[2], argv[3]) != 0 || set_addr(argv[4], argv[5]) != 0)
			return 2;
		conc = atoi(argv[6]);
		secs = atoi(argv[7]);
	} else {
		fprintf(stderr, "usage: hsrate psk KEY HOST PORT CONC SECS | ik KEY PUB HOST PORT "
				"CONC SECS | junk HOST PORT N [PUB]\n");
		return 2;
	}
	pthread_t t[64];
	conc = conc < 1 ? 1 : conc > 64 ? 64 : conc;
	double t0 = now_s();
	stop_at = t0 + secs;
	for (int i = 0; i < conc; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < conc; i++)
		pthread_join(t[i], NULL);
	double el = now_s() - t0;
	printf("{\"sessions\":%ld,\"secs\":%.3f,\"rate\":%.1f,\"errors\":%ld}\n", (long)done, el,
	       (double)done / el, (long)errors);
	crypto_wipe(key, sizeof(key));
	return 0;
}
