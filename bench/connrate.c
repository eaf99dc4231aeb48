/* bench/connrate.c: load generator for the postern benchmark (talks to an echo server).
 *
 *   connrate rate HOST PORT N CONC MAXSECS
 *       N connections, CONC at a time (one thread each); each connection:
 *       connect, send 16 bytes, read the 16-byte echo, close.  Stops early after
 *       MAXSECS seconds.  Reports conn/s and time to first byte (connect start to
 *       first echo byte).
 *   connrate ping HOST PORT COUNT SIZE
 *       One connection, COUNT round trips of a SIZE-byte message (after 200
 *       warm-up rounds).  Reports round-trip time percentiles.
 *   connrate hold HOST PORT N
 *       Opens N connections one after another, one 16-byte echo round trip on
 *       each, keeps them open and prints a JSON line.  Then reads commands on
 *       stdin: "check" does one more round trip on every held connection and
 *       prints a JSON line; end of input closes everything and exits.
 *
 * Every result is one JSON object on one stdout line.  Times are microseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10

static struct sockaddr_in target;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
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

static int open_conn(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) {
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

/* Reads exactly n bytes; if first_us is non-NULL stores the time the first byte arrived. */
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

/* One 16-byte round trip on fd; the echo must match. */
static int round_trip16(int fd, unsigned seq, double *first_us)
{
    unsigned char msg[16], back[16];
    for (int i = 0; i < 16; i++)
        msg[i] = (unsigned char)(seq * 31u + (unsigned)i * 7u);
    if (send_all(fd, msg, sizeof msg) < 0)
        return -1;
    if (recv_all(fd, back, sizeof back, first_us) < 0)
        return -1;
    if (memcmp(msg, back, sizeof msg) != 0) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/* ---- rate ---- */

static long rate_n;
static double rate_deadline;
static atomic_long rate_next;
static atomic_long rate_fail;
static atomic_int rate_last_errno;
static double *rate_ttfb; /* per connection index, -1 = failed or not run */

static void *rate_worker(void *arg)
{
    (void)arg;
    for (;;) {
        long i = atomic_fetch_add(&rate_next, 1);
        if (i >= rate_n)
            break;
        double t0 = now_us();
        if (t0 > rate_deadline)
            break;
        double first = 0;
        int fd = open_conn();
        if (fd < 0 || round_trip16(fd, (unsigned)i, &first) < 0) {
            atomic_store(&rate_last_errno, errno);
            atomic_fetch_add(&rate_fail, 1);
            if (fd >= 0)
                close(fd);
            continue;
        }
        close(fd);
        rate_ttfb[i] = first - t0;
    }
    return NULL;
}

static int cmd_rate(long n, int conc, double maxsecs)
{
    rate_n = n;
    rate_ttfb = malloc((size_t)n * sizeof *rate_ttfb);
    pthread_t *th = malloc((size_t)conc * sizeof *th);
    if (!rate_ttfb || !th) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (long i = 0; i < n; i++)
        rate_ttfb[i] = -1;
    double t0 = now_us();
    rate_deadline = t0 + maxsecs * 1e6;
    for (int i = 0; i < conc; i++) {
        if (pthread_create(&th[i], NULL, rate_worker, NULL) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double secs = (now_us() - t0) / 1e6;
    size_t ok = 0;
    for (long i = 0; i < n; i++)
        if (rate_ttfb[i] >= 0)
            rate_ttfb[ok++] = rate_ttfb[i];
    qsort(rate_ttfb, ok, sizeof *rate_ttfb, cmp_double);
    long fail = atomic_load(&rate_fail);
    int err = atomic_load(&rate_last_errno);
    printf("{\"mode\":\"rate\",\"conc\":%d,\"ok\":%zu,\"fail\":%ld,\"secs\":%.4f,"
           "\"conn_per_s\":%.1f,\"ttfb_p50_us\":%.1f,\"ttfb_p99_us\":%.1f,"
           "\"last_error\":\"%s\"}\n",
           conc, ok, fail, secs, (double)ok / secs, pct(rate_ttfb, ok, 50),
           pct(rate_ttfb, ok, 99), fail ? strerror(err) : "");
    free(th);
    free(rate_ttfb);
    return ok > 0 ? 0 : 1;
}

/* ---- ping ---- */

static int cmd_ping(long count, size_t size)
{
    int fd = open_conn();
    if (fd < 0) {
        printf("{\"mode\":\"ping\",\"ok\":0,\"error\":\"connect: %s\"}\n", strerror(errno));
        return 1;
    }
    unsigned char *msg = malloc(size), *back = malloc(size);
    double *rtt = malloc((size_t)count * sizeof *rtt);
    if (!msg || !back || !rtt) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < size; i++)
        msg[i] = (unsigned char)(i * 13u + 5u);
    const long warmup = 200;
    long done = 0;
    for (long i = -warmup; i < count; i++) {
        msg[0] = (unsigned char)i;
        double t0 = now_us();
        if (send_all(fd, msg, size) < 0 || recv_all(fd, back, size, NULL) < 0) {
            printf("{\"mode\":\"ping\",\"ok\":%ld,\"error\":\"%s\"}\n", done, strerror(errno));
            return 1;
        }
        double dt = now_us() - t0;
        if (memcmp(msg, back, size) != 0) {
            printf("{\"mode\":\"ping\",\"ok\":%ld,\"error\":\"echo mismatch\"}\n", done);
            return 1;
        }
        if (i >= 0)
            rtt[done++] = dt;
    }
    close(fd);
    double sum = 0;
    for (long i = 0; i < done; i++)
        sum += rtt[i];
    qsort(rtt, (size_t)done, sizeof *rtt, cmp_double);
    printf("{\"mode\":\"ping\",\"ok\":%ld,\"size\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,"
           "\"p99_us\":%.1f,\"p999_us\":%.1f,\"min_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}\n",
           done, size, pct(rtt, (size_t)done, 50), pct(rtt, (size_t)done, 90),
           pct(rtt, (size_t)done, 99), pct(rtt, (size_t)done, 99.9), rtt[0], rtt[done - 1],
           sum / (double)done);
    free(msg);
    free(back);
    free(rtt);
    return 0;
}

/* ---- hold ---- */

static int cmd_hold(long n)
{
    int *fds = malloc((size_t)n * sizeof *fds);
    if (!fds) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    long opened = 0, echo_ok = 0;
    int err = 0;
    double t0 = now_us();
    for (long i = 0; i < n; i++) {
        int fd = open_conn();
        if (fd < 0) {
            err = errno;
            break;
        }
        fds[opened++] = fd;
        if (round_trip16(fd, (unsigned)i, NULL) == 0)
            echo_ok++;
        else
            err = errno;
    }
    printf("{\"mode\":\"hold\",\"wanted\":%ld,\"opened\":%ld,\"echo_ok\":%ld,\"secs\":%.3f,"
           "\"last_error\":\"%s\"}\n",
           n, opened, echo_ok, (now_us() - t0) / 1e6, err ? strerror(err) : "");
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "check", 5) != 0)
            continue;
        long ok = 0;
        err = 0;
        t0 = now_us();
        for (long i = 0; i < opened; i++) {
            if (round_trip16(fds[i], (unsigned)i + 1u, NULL) == 0)
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

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s rate HOST PORT N CONC MAXSECS\n"
            "       %s ping HOST PORT COUNT SIZE\n"
            "       %s hold HOST PORT N\n",
            argv0, argv0, argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "rate") == 0 && argc == 7) {
        long n = atol(argv[4]);
        int conc = atoi(argv[5]);
        double maxsecs = atof(argv[6]);
        if (n < 1 || conc < 1 || maxsecs <= 0)
            usage(argv[0]);
        return cmd_rate(n, conc, maxsecs);
    }
    if (strcmp(argv[1], "ping") == 0 && argc == 6) {
        long count = atol(argv[4]);
        long size = atol(argv[5]);
        if (count < 1 || size < 1 || size > 1 << 20)
            usage(argv[0]);
        return cmd_ping(count, (size_t)size);
    }
    if (strcmp(argv[1], "hold") == 0 && argc == 5) {
        long n = atol(argv[4]);
        if (n < 1)
            usage(argv[0]);
        return cmd_hold(n);
    }
    usage(argv[0]);
    return 2;
}
