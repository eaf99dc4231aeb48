/* bench/connrate.c: load generator for the postern benchmark (talks to an echo server).
 *
 *   connrate rate HOST N CONC MAXSECS PORT...
 *       New connections: each one connects, sends 16 bytes, reads the 16-byte echo and
 *       closes; CONC of them in flight (one thread each).  The ports take turns of
 *       200 ms (500 ms if CONC > 1), so that every port sees the same background load;
 *       a port is done after N connections or MAXSECS seconds of turns.  A turn's time
 *       includes finishing the connections in flight at its end.  Reports conn/s and
 *       the time to first byte (connect start to first echo byte) per port.
 *   connrate ping HOST COUNT SIZE PORT...
 *       One connection per port; COUNT round trips of a SIZE-byte message on each, after
 *       200 warm-up round trips, in blocks of 100 taking turns across the ports; each
 *       block starts with 5 unmeasured round trips (the other ports' turns left the
 *       path cold: without them 1 in 100 samples, the p99, would measure that).
 *       Reports round-trip time percentiles per port.
 *   connrate hold HOST PORT N
 *       Opens N connections one after another, one 16-byte echo round trip on each,
 *       keeps them open and prints a JSON line.  Then reads commands on stdin: "check"
 *       does one more round trip on every held connection and prints a JSON line; end
 *       of input closes everything and exits.
 *   connrate pace HOST PORT RATE SECS
 *       One connection; after 20 warm-up round trips, RATE round trips per second of a
 *       64-byte message for SECS seconds on an absolute schedule (the k-th is sent at
 *       start + k/RATE, so a slow round trip does not shift the later ones; a late one
 *       is sent at once).  For the tunnel's CPU cost at a moderate, steady request rate,
 *       which the caller samples around this run.  Reports the achieved rate, how many
 *       round trips started late (past their slot) and RTT percentiles.
 *
 * Every result is a JSON object on one stdout line (one per port).  Times are in
 * microseconds.  A port that fails is reported with "error" and left out of the
 * remaining turns; the others carry on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10
#define SLOT_US_C1   200000.0 /* turn length at concurrency 1 */
#define SLOT_US_CN   500000.0 /* and above: longer, as each turn ramps up and drains */
#define PING_BLOCK   100
/* Unmeasured round trips at the start of each block: the other ports' turns
 * left this path cold, and a steady ping-pong is what is being measured. */
#define PING_BLOCK_WARMUP 5
#define PING_WARMUP	  200
#define PACE_WARMUP	  20
#define PACE_SIZE	  64
#define MAX_PORTS	  64

static struct in_addr host;

static double ts_us(struct timespec ts)
{
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_us(ts);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "connrate: out of memory\n");
		exit(1);
	}
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array (-1 if empty). */
static double pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return -1;
	size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*end || v < 1 || v > 65535) ? -1 : (int)v;
}

static int open_conn(int port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr = host;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S, .tv_usec = 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int send_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes; if first_us is non-NULL stores when the first byte arrived. */
static int recv_all(int fd, unsigned char *p, size_t n, double *first_us)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, p + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (got == 0 && first_us)
			*first_us = now_us();
		got += (size_t)r;
	}
	return 0;
}

/* One round trip of n bytes (n <= 65536) on fd; the echo must match. */
static int round_trip(int fd, unsigned seq, size_t n, double *first_us)
{
	static _Thread_local unsigned char msg[65536], back[65536];
	for (size_t i = 0; i < n; i++)
		msg[i] = (unsigned char)(seq * 31u + (unsigned)i * 7u);
	if (send_all(fd, msg, n) < 0)
		return -1;
	if (recv_all(fd, back, n, first_us) < 0)
		return -1;
	if (memcmp(msg, back, n) != 0) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Growable array of doubles. */
struct vec {
	double *v;
	size_t n, cap;
};

static void vec_push(struct vec *a, double x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		double *p = realloc(a->v, a->cap * sizeof *p);
		if (!p) {
			fprintf(stderr, "connrate: out of memory\n");
			exit(1);
		}
		a->v = p;
	}
	a->v[a->n++] = x;
}

/* ---- rate ---- */

struct rate_port {
	int port;
	long ok, fail;
	double busy_us;
	int idle_slots; /* consecutive slots without a success */
	int last_errno;
	bool done, dead;
	struct vec ttfb;
};

struct rate_worker {
	pthread_t th;
	struct vec ttfb[MAX_PORTS]; /* per port, merged at the end */
};

static struct {
	pthread_barrier_t start, end;
	int port_idx; /* port of the current slot, -1 = quit */
	int port;
	double deadline;
	long cap; /* connections allowed in this slot */
	atomic_long started, ok, fail;
	atomic_int last_errno;
} slot;

static void *rate_worker(void *arg)
{
	struct rate_worker *w = arg;
	for (;;) {
		pthread_barrier_wait(&slot.start);
		if (slot.port_idx < 0)
			break;
		while (now_us() < slot.deadline && atomic_fetch_add(&slot.started, 1) < slot.cap) {
			double t0 = now_us(), first = 0;
			int fd = open_conn(slot.port);
			if (fd < 0 || round_trip(fd, (unsigned)t0, 16, &first) < 0) {
				atomic_store(&slot.last_errno, errno);
				atomic_fetch_add(&slot.fail, 1);
			} else {
				vec_push(&w->ttfb[slot.port_idx], first - t0);
				atomic_fetch_add(&slot.ok, 1);
			}
			if (fd >= 0)
				close(fd);
		}
		pthread_barrier_wait(&slot.end);
	}
	return NULL;
}

static int cmd_rate(long n, int conc, double maxsecs, int nports, const int *ports)
{
	struct rate_port *p = calloc((size_t)nports, sizeof *p);
	struct rate_worker *w = calloc((size_t)conc, sizeof *w);
	if (!p || !w) {
		fprintf(stderr, "connrate: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nports; i++)
		p[i].port = ports[i];
	pthread_barrier_init(&slot.start, NULL, (unsigned)conc + 1);
	pthread_barrier_init(&slot.end, NULL, (unsigned)conc + 1);
	for (int i = 0; i < conc; i++) {
		if (pthread_create(&w[i].th, NULL, rate_worker, &w[i]) != 0) {
			fprintf(stderr, "connrate: pthread_create failed\n");
			return 1;
		}
	}
	for (bool any = true; any;) {
		any = false;
		for (int i = 0; i < nports; i++) {
			struct rate_port *rp = &p[i];
			if (rp->done || rp->dead)
				continue;
			any = true;
			double t0 = now_us();
			slot.port_idx = i;
			slot.port = rp->port;
			slot.deadline = t0 + (conc > 1 ? SLOT_US_CN : SLOT_US_C1);
			slot.cap = n - rp->ok - rp->fail;
			atomic_store(&slot.started, 0);
			atomic_store(&slot.ok, 0);
			atomic_store(&slot.fail, 0);
			pthread_barrier_wait(&slot.start);
			pthread_barrier_wait(&slot.end);
			rp->busy_us += now_us() - t0;
			long ok = atomic_load(&slot.ok), fail = atomic_load(&slot.fail);
			rp->ok += ok;
			rp->fail += fail;
			if (fail)
				rp->last_errno = atomic_load(&slot.last_errno);
			rp->idle_slots = ok ? 0 : rp->idle_slots + 1;
			if (rp->idle_slots >= 3)
				rp->dead = true;
			if (rp->ok + rp->fail >= n || rp->busy_us >= maxsecs * 1e6)
				rp->done = true;
		}
	}
	slot.port_idx = -1;
	pthread_barrier_wait(&slot.start);
	for (int i = 0; i < conc; i++)
		pthread_join(w[i].th, NULL);

	int rc = 0;
	for (int i = 0; i < nports; i++) {
		struct rate_port *rp = &p[i];
		for (int k = 0; k < conc; k++) {
			for (size_t j = 0; j < w[k].ttfb[i].n; j++)
				vec_push(&rp->ttfb, w[k].ttfb[i].v[j]);
			free(w[k].ttfb[i].v);
		}
		qsort(rp->ttfb.v, rp->ttfb.n, sizeof(double), cmp_double);
		double secs = rp->busy_us / 1e6;
		printf("{\"mode\":\"rate\",\"port\":%d,\"conc\":%d,\"ok\":%ld,\"fail\":%ld,"
		       "\"secs\":%.4f,"
		       "\"conn_per_s\":%.1f,\"ttfb_p50_us\":%.1f,\"ttfb_p99_us\":%.1f,"
		       "\"last_error\":\"%s\"%s}\n",
		       rp->port, conc, rp->ok, rp->fail, secs,
		       secs > 0 ? (double)rp->ok / secs : 0.0, pct(rp->ttfb.v, rp->ttfb.n, 50),
		       pct(rp->ttfb.v, rp->ttfb.n, 99), rp->fail ? strerror(rp->last_errno) : "",
		       rp->dead ? ",\"error\":\"no connection succeeded in 3 turns\"" : "");
		if (rp->dead)
			rc = 1;
		free(rp->ttfb.v);
	}
	free(p);
	free(w);
	return rc;
}

/* ---- ping ---- */

struct ping_port {
	int port, fd;
	long done;
	double *rtt;
	char error[96];
};

static int cmd_ping(long count, size_t size, int nports, const int *ports)
{
	struct ping_port *p = calloc((size_t)nports, sizeof *p);
	if (!p) {
		fprintf(stderr, "connrate: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nports; i++) {
		p[i].port = ports[i];
		p[i].rtt = xmalloc((size_t)count * sizeof(double));
		p[i].fd = open_conn(ports[i]);
		if (p[i].fd < 0) {
			snprintf(p[i].error, sizeof p[i].error, "connect: %s", strerror(errno));
			continue;
		}
		for (int k = 0; k < PING_WARMUP; k++) {
			if (round_trip(p[i].fd, (unsigned)k, size, NULL) < 0) {
				snprintf(p[i].error, sizeof p[i].error, "warm-up: %s",
					 strerror(errno));
				close(p[i].fd);
				p[i].fd = -1;
				break;
			}
		}
	}
	for (long base = 0; base < count; base += PING_BLOCK) {
		long end = base + PING_BLOCK < count ? base + PING_BLOCK : count;
		for (int i = 0; i < nports; i++) {
			struct ping_port *pp = &p[i];
			for (int w = 0; w < PING_BLOCK_WARMUP && pp->fd >= 0; w++) {
				if (round_trip(pp->fd, (unsigned)w, size, NULL) < 0) {
					snprintf(pp->error, sizeof pp->error, "warm-up: %s",
						 strerror(errno));
					close(pp->fd);
					pp->fd = -1;
				}
			}
			for (long k = base; k < end && pp->fd >= 0; k++) {
				double t0 = now_us();
				if (round_trip(pp->fd, (unsigned)k, size, NULL) < 0) {
					snprintf(pp->error, sizeof pp->error,
						 "after %ld round trips: %s", pp->done,
						 strerror(errno));
					close(pp->fd);
					pp->fd = -1;
					break;
				}
				pp->rtt[pp->done++] = now_us() - t0;
			}
		}
	}
	int rc = 0;
	for (int i = 0; i < nports; i++) {
		struct ping_port *pp = &p[i];
		if (pp->fd >= 0)
			close(pp->fd);
		if (pp->error[0]) {
			printf("{\"mode\":\"ping\",\"port\":%d,\"ok\":%ld,\"error\":\"%s\"}\n",
			       pp->port, pp->done, pp->error);
			rc = 1;
		} else {
			double sum = 0;
			for (long k = 0; k < pp->done; k++)
				sum += pp->rtt[k];
			size_t n = (size_t)pp->done;
			qsort(pp->rtt, n, sizeof(double), cmp_double);
			printf("{\"mode\":\"ping\",\"port\":%d,\"ok\":%ld,\"size\":%zu,\"p50_us\":%"
			       ".1f,"
			       "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"min_us\":%.1f,"
			       "\"max_us\":%.1f,\"mean_us\":%.1f}\n",
			       pp->port, pp->done, size, pct(pp->rtt, n, 50), pct(pp->rtt, n, 90),
			       pct(pp->rtt, n, 99), pct(pp->rtt, n, 99.9), pp->rtt[0],
			       pp->rtt[n - 1], sum / (double)n);
		}
		free(pp->rtt);
	}
	free(p);
	return rc;
}

/* ---- hold ---- */

static int cmd_hold(int port, long n)
{
	int *fds = xmalloc((size_t)n * sizeof *fds);
	long opened = 0, echo_ok = 0;
	int err = 0;
	double t0 = now_us();
	for (long i = 0; i < n; i++) {
		int fd = open_conn(port);
		if (fd < 0) {
			err = errno;
			break;
		}
		fds[opened++] = fd;
		if (round_trip(fd, (unsigned)i, 16, NULL) == 0)
			echo_ok++;
		else
			err = errno;
	}
	printf("{\"mode\":\"hold\",\"port\":%d,\"wanted\":%ld,\"opened\":%ld,\"echo_ok\":%ld,"
	       "\"secs\":%.3f,\"last_error\":\"%s\"}\n",
	       port, n, opened, echo_ok, (now_us() - t0) / 1e6, err ? strerror(err) : "");
	fflush(stdout);

	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (strncmp(line, "check", 5) != 0)
			continue;
		long ok = 0;
		err = 0;
		t0 = now_us();
		for (long i = 0; i < opened; i++) {
			if (round_trip(fds[i], (unsigned)i + 1u, 16, NULL) == 0)
				ok++;
			else
				err = errno;
		}
		printf("{\"mode\":\"check\",\"held\":%ld,\"echo_ok\":%ld,\"secs\":%.3f,"
		       "\"last_error\":\"%s\"}\n",
		       opened, ok, (now_us() - t0) / 1e6, err ? strerror(err) : "");
		fflush(stdout);
	}
	for (long i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

/* ---- pace ---- */

static struct timespec ts_add_ns(struct timespec t, long long ns)
{
	long long sum = (long long)t.tv_nsec + ns;
	t.tv_sec += (time_t)(sum / 1000000000LL);
	t.tv_nsec = (long)(sum % 1000000000LL);
	return t;
}

/* Sleeps until the absolute CLOCK_MONOTONIC time t (at once if it has passed). */
static void sleep_until(const struct timespec *t)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

static void pace_report(int port, long wanted, long ok, long late, double secs, double *rtt,
			const char *error)
{
	qsort(rtt, (size_t)ok, sizeof(double), cmp_double);
	printf("{\"mode\":\"pace\",\"port\":%d,\"wanted\":%ld,\"ok\":%ld,\"late\":%ld,"
	       "\"secs\":%.4f,\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f",
	       port, wanted, ok, late, secs, secs > 0 ? (double)ok / secs : 0.0,
	       pct(rtt, (size_t)ok, 50), pct(rtt, (size_t)ok, 99));
	if (error[0])
		printf(",\"error\":\"%s\"", error);
	printf("}\n");
}

/* Connects and warms the path up (handshakes, caches); -1 with error set on failure. */
static int pace_open(int port, char *error, size_t errlen)
{
	int fd = open_conn(port);
	if (fd < 0) {
		snprintf(error, errlen, "connect: %s", strerror(errno));
		return -1;
	}
	for (int k = 0; k < PACE_WARMUP; k++) {
		if (round_trip(fd, (unsigned)k, PACE_SIZE, NULL) < 0) {
			snprintf(error, errlen, "warm-up: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int cmd_pace(int port, double rate, double secs)
{
	long wanted = (long)(rate * secs + 0.5);
	long long step_ns = (long long)(1e9 / rate + 0.5);
	double *rtt = xmalloc((size_t)wanted * sizeof(double));
	long ok = 0, late = 0;
	char error[96] = "";
	/* The default 50 us timer slack would blur a 200 us schedule. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	int fd = pace_open(port, error, sizeof error);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	double start_us = ts_us(start), step_us = (double)step_ns / 1e3;
	for (long k = 0; !error[0] && k < wanted; k++) {
		struct timespec slot = ts_add_ns(start, (long long)k * step_ns);
		sleep_until(&slot);
		double t0 = now_us();
		/* Started after its successor's slot: the previous round trip overran. */
		if (t0 > start_us + (double)(k + 1) * step_us)
			late++;
		if (round_trip(fd, (unsigned)k, PACE_SIZE, NULL) < 0) {
			snprintf(error, sizeof error, "after %ld round trips: %s", ok,
				 strerror(errno));
			break;
		}
		rtt[ok++] = now_us() - t0;
	}
	/* The paced period: all the slots, longer only if the last round trips overran. */
	double elapsed_us = now_us() - start_us;
	if (elapsed_us < (double)wanted * step_us)
		elapsed_us = (double)wanted * step_us;
	if (fd >= 0)
		close(fd);
	pace_report(port, wanted, ok, late, elapsed_us / 1e6, rtt, error);
	free(rtt);
	return error[0] ? 1 : 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s rate HOST N CONC MAXSECS PORT...\n"
		"       %s ping HOST COUNT SIZE PORT...\n"
		"       %s hold HOST PORT N\n"
		"       %s pace HOST PORT RATE SECS\n",
		argv0, argv0, argv0, argv0);
	exit(2);
}

/* Parses argv[first..argc-1] as ports into ports[]; returns how many. */
static int parse_ports(int argc, char **argv, int first, int *ports, const char *argv0)
{
	int n = 0;
	for (int i = first; i < argc; i++) {
		if (n == MAX_PORTS || (ports[n] = parse_port(argv[i])) < 0)
			usage(argv0);
		n++;
	}
	if (n == 0)
		usage(argv0);
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (inet_pton(AF_INET, argv[2], &host) != 1) {
		fprintf(stderr, "connrate: bad IPv4 address %s\n", argv[2]);
		return 2;
	}
	int ports[MAX_PORTS];
	if (strcmp(argv[1], "rate") == 0 && argc >= 7) {
		long n = atol(argv[3]);
		int conc = atoi(argv[4]);
		double maxsecs = atof(argv[5]);
		if (n < 1 || conc < 1 || conc > 1024 || maxsecs <= 0)
			usage(argv[0]);
		int np = parse_ports(argc, argv, 6, ports, argv[0]);
		return cmd_rate(n, conc, maxsecs, np, ports);
	}
	if (strcmp(argv[1], "ping") == 0 && argc >= 6) {
		long count = atol(argv[3]);
		long size = atol(argv[4]);
		if (count < 1 || size < 1 || size > 65536)
			usage(argv[0]);
		int np = parse_ports(argc, argv, 5, ports, argv[0]);
		return cmd_ping(count, (size_t)size, np, ports);
	}
	if (strcmp(argv[1], "hold") == 0 && argc == 5) {
		int port = parse_port(argv[3]);
		long n = atol(argv[4]);
		if (port < 0 || n < 1)
			usage(argv[0]);
		return cmd_hold(port, n);
	}
	if (strcmp(argv[1], "pace") == 0 && argc == 6) {
		int port = parse_port(argv[3]);
		double rate = atof(argv[4]), secs = atof(argv[5]);
		if (port < 0 || rate < 1 || rate > 1e6 || secs <= 0 || rate * secs > 1e7)
			usage(argv[0]);
		return cmd_pace(port, rate, secs);
	}
	usage(argv[0]);
	return 2;
}
