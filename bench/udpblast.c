/* SPDX-License-Identifier: MIT */
/*
 * udpblast: the UDP load generator and the bare receiver of bench/spa.py.
 *
 *   udpblast drain HOST PORT SECONDS
 *       bind HOST:PORT and receive with recvmmsg (64 at a time) for SECONDS,
 *       doing nothing with the bytes: the ceiling any SPA receiver is held
 *       to. Prints "ready" once bound, then "received N".
 *   udpblast ring HOST PORT SECONDS
 *       the same through a TPACKET_V3 ring shaped like postern's receive =
 *       ring (64 KiB blocks, a block handed over 2 ms after its first
 *       packet), touching nothing but each packet's header: the cost of
 *       being woken for knocks at all, at a given pace. Needs CAP_NET_RAW.
 *   udpblast junk HOST PORT SECONDS MINLEN MAXLEN
 *       send random datagrams of MINLEN..MAXLEN bytes with sendmmsg as fast
 *       as the kernel takes them for SECONDS. Prints "sent N".
 *   udpblast lines HOST PORT FILE BATCH PAUSE_US
 *       send each line of FILE (without its newline) as one datagram, BATCH
 *       at a time with PAUSE_US between batches. Prints "sent N".
 *   udpblast files HOST PORT BATCH PAUSE_US FILE...
 *       the same with each FILE's whole contents as one datagram.
 *   udpblast pack HOST PORT BATCH PAUSE_US FILE
 *       the same with the records of FILE (a 2-byte big-endian length, then
 *       the datagram: bench/knockgen.c writes them).
 *
 * cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o udpblast bench/udpblast.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { VLEN = 64, DGRAM_MAX = 2048, PKTS_MAX = 200000 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int addr_of(const char *host, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int drain(const struct sockaddr_in *sa, double secs)
{
	static char bufs[VLEN][DGRAM_MAX];
	struct mmsghdr msgs[VLEN];
	struct iovec iov[VLEN];
	struct timeval tv = {0, 100000};
	unsigned long long n = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rcvbuf = 4 << 20;
	double end;

	if (fd < 0 || bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		perror("udpblast drain: bind");
		return 1;
	}
	/* The same buffer postern's receiver asks for would be fairer, but the
	 * kernel caps both at rmem_max: ask, and let the cap decide for both. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < VLEN; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = DGRAM_MAX;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	printf("ready\n");
	fflush(stdout);
	end = now() + secs;
	while (now() < end) {
		int got = recvmmsg(fd, msgs, VLEN, 0, NULL);
		if (got > 0)
			n += (unsigned)got;
		else if (got < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	printf("received %llu\n", n);
	return 0;
}

enum { RING_BLOCK = 1 << 16, RING_BLOCKS = 64, RING_TOV_MS = 2 };

/* UDP to ${port}: what postern's ring filter passes (it checks more, in C, per packet). */
static int ring_filter(int fd, uint16_t port)
{
	struct sock_filter f[] = {{BPF_LD | BPF_B | BPF_ABS, 0, 0, 9},
				  {BPF_JMP | BPF_JEQ | BPF_K, 0, 4, 17},
				  {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0},
				  {BPF_LD | BPF_H | BPF_IND, 0, 0, 2},
				  {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, port},
				  {BPF_RET | BPF_K, 0, 0, 0xffff},
				  {BPF_RET | BPF_K, 0, 0, 0}};
	struct sock_fprog fp = {sizeof(f) / sizeof(f[0]), f};

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
}

static int ring(const struct sockaddr_in *sa, double secs)
{
	struct tpacket_req3 req = {.tp_block_size = RING_BLOCK,
				   .tp_block_nr = RING_BLOCKS,
				   .tp_frame_size = 2048,
				   .tp_frame_nr = RING_BLOCK / 2048 * RING_BLOCKS,
				   .tp_retire_blk_tov = RING_TOV_MS};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP)};
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP)), v = TPACKET_V3, one = 1;
	unsigned long long n = 0;
	unsigned cur = 0;
	uint8_t *map;
	double end;

	struct sock_filter none[] = {{BPF_RET | BPF_K, 0, 0, 0}};
	struct sock_fprog drop = {1, none};
	int udp = socket(AF_INET, SOCK_DGRAM, 0);

	/* The port held, as postern holds it, dropping all: no ICMP back to the sender. */
	if (udp < 0 || setsockopt(udp, SOL_SOCKET, SO_ATTACH_FILTER, &drop, sizeof(drop)) != 0 ||
	    bind(udp, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		perror("udpblast ring: bind");
		return 1;
	}
	if (fd < 0 || ring_filter(fd, ntohs(sa->sin_port)) != 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0) {
		perror("udpblast ring");
		return 1;
	}
	map =
	    mmap(NULL, (size_t)RING_BLOCK * RING_BLOCKS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) != 0) {
		perror("udpblast ring: mmap/bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	end = now() + secs;
	while (now() < end) {
		struct tpacket_block_desc *bd = (void *)(map + (size_t)cur * RING_BLOCK);
		struct pollfd p = {fd, POLLIN | POLLERR, 0};

		if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		     TP_STATUS_USER) == 0) {
			poll(&p, 1, 100);
			continue;
		}
		n += bd->hdr.bh1.num_pkts;
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		cur = (cur + 1) % RING_BLOCKS;
	}
	printf("received %llu\n", n);
	return 0;
}

static int junk(const struct sockaddr_in *sa, double secs, int minlen, int maxlen)
{
	static char bufs[VLEN][DGRAM_MAX];
	struct mmsghdr msgs[VLEN];
	struct iovec iov[VLEN];
	unsigned long long n = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	double end;

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 || minlen < 1 ||
	    maxlen > DGRAM_MAX || minlen > maxlen) {
		perror("udpblast junk");
		return 1;
	}
	if (getrandom(bufs, sizeof(bufs), 0) != (ssize_t)sizeof(bufs))
		return 1;
	for (int i = 0; i < VLEN; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len =
		    (size_t)(minlen + (unsigned char)bufs[i][0] % (maxlen - minlen + 1));
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = now() + secs;
	while (now() < end) {
		/* A few bytes change per round so no two datagrams are the same. */
		for (int i = 0; i < VLEN; i++)
			memcpy(bufs[i] + 1, &n, sizeof(n) < (size_t)minlen ? sizeof(n) : 0);
		int sent = sendmmsg(fd, msgs, VLEN, 0);
		if (sent > 0)
			n += (unsigned)sent;
		else if (sent < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
			break;
	}
	printf("sent %llu\n", n);
	return 0;
}

static int send_all(const struct sockaddr_in *sa, char **pkts, size_t *lens, size_t npkts,
		    int batch, int pause_us)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	size_t n = 0;

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		perror("udpblast send");
		return 1;
	}
	for (size_t i = 0; i < npkts; i++) {
		if (send(fd, pkts[i], lens[i], 0) == (ssize_t)lens[i])
			n++;
		if (batch > 0 && (i + 1) % (size_t)batch == 0 && pause_us > 0)
			usleep((useconds_t)pause_us);
	}
	printf("sent %zu\n", n);
	return 0;
}

/* A whole file, NUL-terminated; exits on failure (a benchmark input must be there). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	if (f == NULL || buf == NULL) {
		perror(path);
		exit(1);
	}
	for (;;) {
		n += fread(buf + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		if (buf == NULL)
			exit(1);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	static char *pkts[PKTS_MAX];
	static size_t lens[PKTS_MAX];
	struct sockaddr_in sa;
	size_t n = 0;

	if (argc < 5 || addr_of(argv[2], argv[3], &sa) != 0) {
		fprintf(stderr, "usage: see the header of bench/udpblast.c\n");
		return 2;
	}
	if (strcmp(argv[1], "drain") == 0)
		return drain(&sa, atof(argv[4]));
	if (strcmp(argv[1], "ring") == 0)
		return ring(&sa, atof(argv[4]));
	if (strcmp(argv[1], "junk") == 0 && argc == 7)
		return junk(&sa, atof(argv[4]), atoi(argv[5]), atoi(argv[6]));
	if (strcmp(argv[1], "lines") == 0 && argc == 7) {
		size_t len;
		char *p = slurp(argv[4], &len);
		while (*p && n < PKTS_MAX) {
			char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			if (l > 0) {
				pkts[n] = p;
				lens[n++] = l;
			}
			if (!nl)
				break;
			p = nl + 1;
		}
		return send_all(&sa, pkts, lens, n, atoi(argv[5]), atoi(argv[6]));
	}
	if (strcmp(argv[1], "files") == 0 && argc >= 7) {
		for (int i = 6; i < argc && n < PKTS_MAX; i++, n++)
			pkts[n] = slurp(argv[i], &lens[n]);
		return send_all(&sa, pkts, lens, n, atoi(argv[4]), atoi(argv[5]));
	}
	if (strcmp(argv[1], "pack") == 0 && argc == 7) {
		size_t len, off = 0;
		char *p = slurp(argv[6], &len);
		while (len - off >= 2 && n < PKTS_MAX) {
			size_t l = (size_t)(uint8_t)p[off] << 8 | (uint8_t)p[off + 1];
			if (l == 0 || l > len - off - 2) {
				fprintf(stderr, "udpblast: %s: bad record at byte %zu\n", argv[6],
					off);
				return 1;
			}
			pkts[n] = p + off + 2;
			lens[n++] = l;
			off += 2 + l;
		}
		return send_all(&sa, pkts, lens, n, atoi(argv[4]), atoi(argv[5]));
	}
	fprintf(stderr, "usage: see the header of bench/udpblast.c\n");
	return 2;
}
