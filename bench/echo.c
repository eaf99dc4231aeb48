/* bench/echo.c: a small single-threaded epoll TCP echo server for the benchmark.
 *
 *   echo HOST PORT
 *
 * Every byte received is sent back on the same connection.  Connections cost
 * one fd and no heap until a write would block; then the unsent bytes are kept
 * and reading pauses until they are flushed.  Prints "ready" on stdout once
 * listening.  SIGTERM/SIGINT end it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 65536

struct pending {
	size_t len, off;
	unsigned char data[];
};

static struct pending **pend; /* indexed by fd */
static size_t npend;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void close_conn(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	if ((size_t)fd < npend && pend[fd]) {
		free(pend[fd]);
		pend[fd] = NULL;
	}
	close(fd);
}

static int grow_pend(int fd)
{
	if ((size_t)fd < npend)
		return 0;
	size_t n = npend ? npend : 1024;
	while (n <= (size_t)fd)
		n *= 2;
	struct pending **p = realloc(pend, n * sizeof *p);
	if (!p)
		return -1;
	memset(p + npend, 0, (n - npend) * sizeof *p);
	pend = p;
	npend = n;
	return 0;
}

/* Try to flush pending bytes; returns -1 on error, 0 if still pending, 1 if done. */
static int flush_pending(int fd)
{
	struct pending *p = pend[fd];
	while (p->off < p->len) {
		ssize_t w = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		p->off += (size_t)w;
	}
	free(p);
	pend[fd] = NULL;
	return 1;
}

static void handle_readable(int ep, int fd, unsigned char *buf)
{
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t r = recv(fd, buf, BUFSZ, 0);
		if (r == 0) {
			close_conn(ep, fd);
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			close_conn(ep, fd);
			return;
		}
		size_t off = 0;
		while (off < (size_t)r) {
			ssize_t w = send(fd, buf + off, (size_t)r - off, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK) {
					close_conn(ep, fd);
					return;
				}
				/* Keep the rest, stop reading until it is flushed. */
				size_t rest = (size_t)r - off;
				struct pending *p = malloc(sizeof *p + rest);
				if (!p || grow_pend(fd) < 0) {
					free(p);
					close_conn(ep, fd);
					return;
				}
				p->len = rest;
				p->off = 0;
				memcpy(p->data, buf + off, rest);
				pend[fd] = p;
				struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
				if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
					close_conn(ep, fd);
				return;
			}
			off += (size_t)w;
		}
		if ((size_t)r < BUFSZ)
			return;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ls < 0)
		die("socket");
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("bind");
	if (listen(ls, 4096) < 0)
		die("listen");

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0)
		die("epoll_ctl");

	static unsigned char buf[BUFSZ];
	struct epoll_event evs[256];
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 500);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				for (;;) {
					int c =
					    accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (c < 0) {
						if (errno == EINTR || errno == ECONNABORTED)
							continue;
						if (errno != EAGAIN && errno != EWOULDBLOCK)
							perror("accept4");
						break;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
						close(c);
				}
				continue;
			}
			if ((size_t)fd < npend && pend[fd]) {
				if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
					close_conn(ep, fd);
					continue;
				}
				int r = flush_pending(fd);
				if (r < 0) {
					close_conn(ep, fd);
				} else if (r > 0) {
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
					if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev) < 0)
						close_conn(ep, fd);
				}
				continue;
			}
			handle_readable(ep, fd, buf);
		}
	}
	return 0;
}
